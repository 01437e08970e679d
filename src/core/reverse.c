/* reverse: see reverse.h.
 *
 * Every revfwd and revsrv carries a rev_stat_t in one list, which one
 * metrics writer and one /health writer walk.  A revfwd's states:
 *
 *   claiming -> claimed -> (lost | refused) -> waiting -> claiming ...
 *
 * A revsrv has one: claimed, from revsrv_listen to revsrv_close.  Both
 * own their connections (rconn_t): a revfwd's from the announce (the
 * local dial) to the relay's end; a revsrv's from the accept (waiting for
 * the join) to the relay's end.  uv handles are closed, and the object
 * freed, in their close callbacks.  The server's side (revsrv, and the
 * reverse= permission) is reverse_srv.c.
 */
#include "core/reverse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/crypto.h"
#include "core/dgram.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/opts.h"
#include "core/relay.h"
#include "core/reverse_priv.h"
#include "core/tcp.h"
#include "core/udphost.h"

#define BACKOFF_MIN 500
#define BACKOFF_MAX 30000
#define LOCAL_IDLE_MS (5 * 60 * 1000)

/* ---- the shared view: /metrics and /health ---- */

static queue_t stats = {&stats, &stats};
static int writers;

static void rev_metrics(mbuf_t *b, void *ud)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} rows[] = {
	    {"sluice_reverse_claimed", "gauge",
	     "1 while the reverse listener is claimed (listening on the server).", (size_t)-1},
	    {"sluice_reverse_claims_total", "counter", "Times the listener was claimed.",
	     offsetof(rev_stat_t, claims)},
	    {"sluice_reverse_connections_total", "counter", "Connections accepted by it.",
	     offsetof(rev_stat_t, conns)},
	    {"sluice_reverse_connections_active", "gauge", "Its connections open now.",
	     offsetof(rev_stat_t, active)},
	    {"sluice_reverse_refused_total", "counter",
	     "Its connections refused (guard rails, caps, a target that refused).",
	     offsetof(rev_stat_t, refused)},
	    {"sluice_reverse_bytes_in_total", "counter",
	     "Bytes from the public side towards the target.", offsetof(rev_stat_t, bytes_in)},
	    {"sluice_reverse_bytes_out_total", "counter",
	     "Bytes from the target to the public side.", offsetof(rev_stat_t, bytes_out)},
	};
	queue_t *q;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		metrics_family(b, rows[i].name, rows[i].type, rows[i].help);
		queue_foreach (q, &stats) {
			rev_stat_t *st = queue_data(q, rev_stat_t, link);
			char lab[800], esc[640];
			uint64_t v = rows[i].off == (size_t)-1
			                 ? !strcmp(st->state, "claimed")
			                 : *(const uint64_t *)((const char *)st + rows[i].off);
			json_escape(esc, sizeof(esc), st->name);
			snprintf(lab, sizeof(lab), "side=\"%s\",reverse=\"%s\"", st->side, esc);
			mbuf_printf(b, "%s{%s} %llu\n", rows[i].name, lab, (unsigned long long)v);
		}
	}
}

/* A client's forward that is not claimed makes /health "degraded". */
static void rev_health(mbuf_t *b, int *degraded, void *ud)
{
	queue_t *q;
	int first = 1;

	if (queue_empty(&stats))
		return;
	mbuf_printf(b, ",\"reverse\":[");
	queue_foreach (q, &stats) {
		rev_stat_t *st = queue_data(q, rev_stat_t, link);
		char name[1200], why[340];
		json_escape(name, sizeof(name), st->name);
		json_escape(why, sizeof(why), st->why);
		mbuf_printf(
		    b,
		    "%s{\"side\":\"%s\",\"listen\":\"%s\",\"state\":\"%s\",\"claims\":%llu,"
		    "\"connections\":%llu,\"active\":%llu,\"refused\":%llu,\"bytes_in\":%llu,"
		    "\"bytes_out\":%llu%s%s%s}",
		    first ? "" : ",", st->side, name, st->state, (unsigned long long)st->claims,
		    (unsigned long long)st->conns, (unsigned long long)st->active,
		    (unsigned long long)st->refused, (unsigned long long)st->bytes_in,
		    (unsigned long long)st->bytes_out, st->why[0] ? ",\"why\":\"" : "", why,
		    st->why[0] ? "\"" : "");
		first = 0;
		if (strcmp(st->state, "claimed") && !strcmp(st->side, "client"))
			*degraded = 1;
	}
	mbuf_printf(b, "]");
}

void rev_stat_add(rev_stat_t *st)
{
	if (!writers) {
		metrics_register(rev_metrics, NULL);
		metrics_health_register(rev_health, NULL);
		writers = 1;
	}
	queue_insert_tail(&stats, &st->link);
}

void rev_stat_remove(rev_stat_t *st)
{
	queue_remove(&st->link);
}

/* ---- one connection, on either side ---- */

static void rconn_relayed(void *ud, const char *reason, uint64_t ab, uint64_t ba)
{
	rconn_t *rc = ud;

	log_info(rc->id, "reverse %s: closed (%s): %llu bytes in, %llu out", rc->st->name, reason,
	         (unsigned long long)ab, (unsigned long long)ba);
	rc->st->active--;
	queue_remove(&rc->link);
	free(rc);
}

/* a: the side towards the public client, b: towards the target */
void rconn_relay(rconn_t *rc, uv_loop_t *loop, stream_t *a, stream_t *b, uint64_t idle_ms)
{
	relay_opts_t o = {
	    .idle_ms = idle_ms, .ctr_ab = &rc->st->bytes_in, .ctr_ba = &rc->st->bytes_out};

	rc->st->active++;
	rc->relay = relay_start(loop, a, b, &o, rconn_relayed, rc);
}

/* Close every connection of q: relays end (and free theirs), the rest
 * are closed here. */
void rconns_close(queue_t *q)
{
	while (!queue_empty(q)) {
		rconn_t *rc = queue_data(queue_first(q), rconn_t, link);
		if (rc->relay) {
			relay_close(rc->relay, "reverse listener closed");
			continue; /* rconn_relayed took it off */
		}
		if (rc->dial)
			dial_cancel(rc->dial);
		if (rc->pub)
			stream_close(rc->pub);
		queue_remove(&rc->link);
		free(rc);
	}
}

/* ---- the client ---- */

struct revfwd {
	rev_stat_t st;
	target_t bind, target;
	uv_loop_t *loop;
	dialer_t *hop, *direct;
	const rev_hop_ops_t *ops;
	rev_claim_t *claim;
	uint64_t gen, backoff_ms, connect_ms;
	uv_timer_t *timer, *sweep; /* sweep: udp:// only, the flows' idle clock */
	queue_t conns;
	rev_flows_t flows; /* udp://: cflow_t */
	int udp;
	char hopname[300];
};

/* ---- the client's UDP flows: one per public peer ---- */

typedef struct cflow {
	rev_flow_t rf; /* first: an entry of the forward's flows */
	target_t peer; /* as the hop names it: an IP literal and a port */
	dgram_t *flow; /* to the target, from a socket of its own */
	revfwd_t *f;
} cflow_t;

static void cflow_gone(rev_flow_t *rf, void *ud)
{
	revfwd_t *f = ud;

	f->st.active--;
	dgram_close(((cflow_t *)rf)->flow);
}

/* The target's answer: back through the claim to the flow's peer. */
static void cflow_recv(dgram_t *d, const struct sockaddr *src, sbuf_t *b)
{
	cflow_t *cf = d->data;
	revfwd_t *f = cf->f;

	if (!f->claim) {
		sbuf_free(b);
		return;
	}
	rev_flows_touch(&f->flows, &cf->rf, uv_now(f->loop));
	f->st.bytes_out += b->len;
	f->ops->send(f->hop, f->claim, &cf->peer, b);
}

static void cflow_error(dgram_t *d, int err)
{
	cflow_t *cf = d->data;

	rev_flows_end(&cf->f->flows, &cf->rf, cf->f->st.name, uv_strerror(err));
}

static const dgram_cbs_t cflow_cbs = {cflow_recv, cflow_error, NULL};

/* A datagram from a public peer: to the target on that peer's flow (a new
 * one for a new peer; at REV_UDP_FLOWS, the least recently used goes). */
static void f_dgram(void *ud, const target_t *peer, sbuf_t *b)
{
	revfwd_t *f = ud;
	struct sockaddr_storage ss;
	cflow_t *cf;

	if (!target_is_ip(peer, &ss)) { /* the hop names peers by address */
		dgram_drops[DGRAM_DROP_BAD]++;
		sbuf_free(b);
		return;
	}
	if (!(cf = (cflow_t *)rev_flows_find(&f->flows, (struct sockaddr *)&ss))) {
		dial_opts_t o = {.id = conn_next_id()};
		if (f->flows.n >= REV_UDP_FLOWS)
			rev_flows_end(&f->flows,
			              queue_data(queue_first(&f->flows.q), rev_flow_t, link),
			              f->st.name, "the least recently used, for a new peer");
		cf = (cflow_t *)rev_flows_add(&f->flows, (struct sockaddr *)&ss, sizeof(*cf), o.id,
		                              uv_now(f->loop));
		cf->f = f;
		cf->peer = *peer;
		f->st.conns++;
		f->st.active++;
		log_info(o.id, "reverse %s: flow from %s:%u", f->st.name, peer->host, peer->port);
		cf->flow = dgram_open(f->direct, &o, f->connect_ms, &cflow_cbs, cf);
	}
	rev_flows_touch(&f->flows, &cf->rf, uv_now(f->loop));
	f->st.bytes_in += b->len;
	dgram_send(cf->flow, &f->target, b);
}

static void on_fsweep(uv_timer_t *t)
{
	revfwd_t *f = t->data;

	rev_flows_sweep(&f->flows, uv_now(f->loop), REV_UDP_IDLE_MS, f->st.name);
}

int revfwd_parse(const char *spec, revfwd_t **out, char *err, size_t errlen)
{
	static const char usage[] =
	    "-R: write tcp://BIND:PORT/HOST:PORT or udp://BIND:PORT/HOST:PORT "
	    "(the server listens on BIND:PORT, this host reaches HOST:PORT)";
	char host[256];
	uint16_t port;
	url_t *u = NULL;
	revfwd_t *f;
	char msg[URL_ERRLEN];

	*out = NULL;
	if (url_parse(spec, &u, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "-R: %s", msg);
		return -EINVAL;
	}
	if ((strcmp(u->scheme, "tcp") && strcmp(u->scheme, "udp")) || u->port < 1 || !u->path[0] ||
	    u->nopts || u->user) {
		snprintf(err, errlen, "%s", usage);
		url_free(u);
		return -EINVAL;
	}
	if (hostport_parse(u->path + 1, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "-R: '%s': the target must be HOST:PORT", u->path + 1);
		url_free(u);
		return -EINVAL;
	}
	if (!(f = calloc(1, sizeof(*f))))
		abort();
	if (target_set(&f->bind, u->host[0] ? u->host : "0.0.0.0", (uint16_t)u->port) < 0 ||
	    target_set(&f->target, host, port) < 0) {
		snprintf(err, errlen, "%s", usage);
		url_free(u);
		free(f);
		return -EINVAL;
	}
	struct sockaddr_storage ss;
	if (!target_is_ip(&f->bind, &ss)) {
		snprintf(err, errlen,
		         "-R: '%s': the address the server listens on must be an IP (0.0.0.0, "
		         "127.0.0.1, [::])",
		         u->host);
		url_free(u);
		free(f);
		return -EINVAL;
	}
	f->udp = !strcmp(u->scheme, "udp");
	url_free(u);
	queue_init(&f->conns);
	rev_flows_init(&f->flows, cflow_gone, f);
	f->st.side = "client";
	f->st.state = "idle";
	target_str(&f->bind, host, sizeof(host));
	target_str(&f->target, msg, sizeof(msg));
	snprintf(f->st.name, sizeof(f->st.name), "%s%s/%s", f->udp ? "udp://" : "", host, msg);
	*out = f;
	return 0;
}

static void claim(revfwd_t *f);

static void on_retry(uv_timer_t *t)
{
	claim(t->data);
}

static void f_claimed(void *ud, const target_t *bound)
{
	revfwd_t *f = ud;
	char b[300];

	target_str(bound, b, sizeof(b));
	f->st.state = "claimed";
	f->st.why[0] = 0;
	f->st.claims++;
	f->backoff_ms = 0;
	log_info(0, "reverse %s: the server listens on %s (%s)", f->st.name, b, f->hopname);
}

static void f_ended(void *ud, int err, const char *why)
{
	revfwd_t *f = ud;
	int refused = err == UV_EACCES;

	f->claim = NULL;
	f->gen++;
	rev_flows_clear(&f->flows, f->st.name);
	f->st.state = refused ? "refused" : "waiting";
	snprintf(f->st.why, sizeof(f->st.why), "%s", why ? why : uv_strerror(err));
	if (refused)
		f->backoff_ms = BACKOFF_MAX;
	else
		f->backoff_ms = !f->backoff_ms                    ? BACKOFF_MIN
		                : f->backoff_ms * 2 > BACKOFF_MAX ? BACKOFF_MAX
		                                                  : f->backoff_ms * 2;
	if (refused)
		log_err(0, "reverse %s: refused by the server: %s (again in %llu s)", f->st.name,
		        f->st.why, (unsigned long long)f->backoff_ms / 1000);
	else
		log_warn(0, "reverse %s: %s; claiming again in %.1f s", f->st.name, f->st.why,
		         (double)f->backoff_ms / 1000.0);
	uv_timer_start(f->timer, on_retry, f->backoff_ms, 0);
}

static void on_local(void *ud, stream_t *s, int err)
{
	rconn_t *rc = ud;
	revfwd_t *f = rc->owner;
	stream_t *tun;

	rc->dial = NULL;
	if (err < 0 || rc->gen != f->gen || !f->claim) {
		if (err < 0) {
			log_info(rc->id, "reverse %s: %s: %s (the public side is closed)",
			         f->st.name, rc->peer, uv_strerror(err));
			f->st.refused++;
			if (rc->gen == f->gen && f->claim)
				f->ops->refuse(f->hop, f->claim, rc->conn);
		}
		if (s)
			stream_close(s);
		queue_remove(&rc->link);
		free(rc);
		return;
	}
	if (!(tun = f->ops->join(f->hop, f->claim, rc->conn, rc->id))) {
		stream_close(s);
		f->st.refused++;
		queue_remove(&rc->link);
		free(rc);
		return;
	}
	rconn_relay(rc, f->loop, tun, s, LOCAL_IDLE_MS);
}

static void f_accept(void *ud, uint64_t conn, const char *peer)
{
	revfwd_t *f = ud;
	rconn_t *rc = calloc(1, sizeof(*rc));
	dial_opts_t o = {0};

	if (!rc)
		abort();
	rc->conn = conn;
	rc->id = conn_next_id();
	rc->st = &f->st;
	rc->owner = f;
	rc->gen = f->gen;
	snprintf(rc->peer, sizeof(rc->peer), "%s", peer);
	f->st.conns++;
	queue_insert_tail(&f->conns, &rc->link);
	log_info(rc->id, "reverse %s: connection from %s", f->st.name, peer);
	o.id = rc->id;
	rc->dial = dial_start(f->direct, &f->target, &o, f->connect_ms, on_local, rc);
}

static const rev_cbs_t fwd_cbs = {f_claimed, f_accept, f_ended, f_dgram};

static void claim(revfwd_t *f)
{
	f->st.state = "claiming";
	f->claim = f->udp ? f->ops->listen_udp(f->hop, &f->bind, &fwd_cbs, f)
	                  : f->ops->listen(f->hop, &f->bind, &fwd_cbs, f);
	if (!f->claim)
		f_ended(f, UV_ECONNREFUSED, "the tunnel could not start");
}

int revfwd_check(const revfwd_t *f, const dialer_t *chain, char *err, size_t errlen)
{
	if (!chain || !chain->next || !chain->ops->reverse) {
		if (!chain || !chain->next)
			snprintf(err, errlen,
			         "-R %s: needs a hop whose server listens for us: -F ws://..., "
			         "-F wss://... or -F sctp+udp://...",
			         f->st.name);
		else
			snprintf(
			    err, errlen,
			    "-R %s: the last hop (-F) must be one whose server can listen for "
			    "us (ws, wss, sctp, sctp+udp) or listen itself (sstp, vpn, ppp); %s:// "
			    "cannot",
			    f->st.name, dialer_scheme(chain));
		return -ENOTSUP;
	}
	if (f->udp && !chain->ops->reverse->listen_udp) {
		snprintf(
		    err, errlen,
		    "-R %s: the last hop (-F) must be one whose server can listen on UDP for "
		    "us (ws, wss, sctp, sctp+udp) or listen itself (sstp, vpn, ppp); %s:// cannot",
		    f->st.name, dialer_scheme(chain));
		return -ENOTSUP;
	}
	return 0;
}

int revfwd_start(revfwd_t *f, uv_loop_t *loop, dialer_t *chain, uint64_t connect_timeout_ms,
                 char *err, size_t errlen)
{
	int r;

	if ((r = revfwd_check(f, chain, err, errlen)) < 0)
		return r;
	f->loop = loop;
	f->hop = chain;
	f->ops = chain->ops->reverse;
	f->connect_ms = connect_timeout_ms;
	f->direct = direct_dialer_new(loop);
	target_str(&chain->server, f->hopname, sizeof(f->hopname));
	if (!(f->timer = malloc(sizeof(*f->timer))))
		abort();
	uv_timer_init(loop, f->timer);
	f->timer->data = f;
	if (f->udp) {
		if (!(f->sweep = malloc(sizeof(*f->sweep))))
			abort();
		uv_timer_init(loop, f->sweep);
		f->sweep->data = f;
		uv_timer_start(f->sweep, on_fsweep, REV_UDP_IDLE_MS / 8, REV_UDP_IDLE_MS / 8);
	}
	rev_stat_add(&f->st);
	claim(f);
	return 0;
}

static void timer_freed(uv_handle_t *h)
{
	free(h);
}

void revfwd_free(revfwd_t *f)
{
	if (!f)
		return;
	if (f->claim)
		f->ops->release(f->hop, f->claim);
	f->claim = NULL;
	rconns_close(&f->conns);
	rev_flows_clear(&f->flows, f->st.name);
	if (f->sweep)
		uv_close((uv_handle_t *)f->sweep, timer_freed);
	if (f->timer) {
		rev_stat_remove(&f->st);
		uv_close((uv_handle_t *)f->timer, timer_freed);
	}
	if (f->direct)
		f->direct->ops->free(f->direct);
	free(f);
}

/* ---- connections nobody will serve ---- */

typedef struct gone {
	queue_t link;
	stream_t *s;
	uint64_t since;
} gone_t;

static void gone_free(gone_t *g)
{
	queue_remove(&g->link);
	stream_close(g->s);
	free(g);
}

static void gone_read(stream_t *s, sbuf_t *b)
{
	if (!b)
		gone_free(s->data);
	else
		sbuf_free(b);
}

static void gone_error(stream_t *s, int err)
{
	gone_free(s->data);
}

static void gone_drain(stream_t *s) {}

static const stream_cbs_t gone_cbs = {gone_read, gone_drain, gone_error};

void rev_gone_init(rev_gone_t *g)
{
	queue_init(&g->q);
}

void rev_gone_add(rev_gone_t *g, stream_t *s, uint64_t now)
{
	gone_t *x = calloc(1, sizeof(*x));

	if (!x)
		abort();
	x->s = s;
	x->since = now;
	queue_insert_tail(&g->q, &x->link);
	stream_set_cbs(s, &gone_cbs, x);
	stream_read_start(s);
	if (stream_shutdown(s) < 0)
		gone_free(x);
}

void rev_gone_sweep(rev_gone_t *g, uint64_t now)
{
	while (!queue_empty(&g->q)) {
		gone_t *x = queue_data(queue_first(&g->q), gone_t, link);
		if (now - x->since < REV_JOIN_MS)
			break;
		gone_free(x);
	}
}

void rev_gone_close(rev_gone_t *g)
{
	while (!queue_empty(&g->q))
		gone_free(queue_data(queue_first(&g->q), gone_t, link));
}

/* ---- the client: one SOCKS5 BIND ---- */

struct revbind {
	dialer_t *hop;
	const rev_hop_ops_t *ops;
	rev_claim_t *claim;
	struct sockaddr_storage from; /* ss_family 0: anyone */
	uint64_t id;
	void (*bound)(void *ud, const target_t *addr);
	dial_cb cb;
	void *ud;
	int done; /* the connection came */
};

static void b_claimed(void *ud, const target_t *bound)
{
	revbind_t *b = ud;
	struct sockaddr_storage ss;
	target_t t = *bound;

	/* a wildcard is no address to give a peer: the server's is */
	if (target_is_ip(&t, &ss) && sockaddr_is_any((struct sockaddr *)&ss))
		target_set(&t, b->hop->server.host, bound->port);
	b->bound(b->ud, &t);
}

static void b_accept(void *ud, uint64_t conn, const char *peer)
{
	revbind_t *b = ud;
	struct sockaddr_storage ss;
	char host[256];
	uint16_t port;
	target_t t;
	stream_t *s;

	if (b->done || hostport_parse(peer, host, sizeof(host), &port) < 0 ||
	    target_set(&t, host, port) < 0 || !target_is_ip(&t, &ss) ||
	    (b->from.ss_family &&
	     !sockaddr_same_ip((struct sockaddr *)&ss, (struct sockaddr *)&b->from))) {
		log_info(b->id, "socks5 BIND: %s is not the peer it was for; refused", peer);
		b->ops->refuse(b->hop, b->claim, conn);
		return;
	}
	if (!(s = b->ops->join(b->hop, b->claim, conn, b->id))) {
		b->ops->refuse(b->hop, b->claim, conn);
		return;
	}
	b->done = 1;
	b->bound(b->ud, &t);
	b->cb(b->ud, s, 0);
}

static void b_ended(void *ud, int err, const char *why)
{
	revbind_t *b = ud;
	dial_cb cb = b->cb;
	void *cud = b->ud;

	b->claim = NULL;
	if (b->done)
		return; /* its connection goes on, or ends, on its own */
	log_info(b->id, "socks5 BIND: the hop's server %s: %s",
	         err == UV_EACCES ? "refused" : "ended it", why ? why : uv_strerror(err));
	free(b);
	cb(cud, NULL, err);
}

static const rev_cbs_t bind_cbs = {.claimed = b_claimed, .accept = b_accept, .ended = b_ended};

revbind_t *revbind_start(dialer_t *hop, const target_t *from, uint64_t id,
                         void (*bound)(void *ud, const target_t *addr), dial_cb cb, void *ud)
{
	revbind_t *b = calloc(1, sizeof(*b));
	target_t any;

	if (!b)
		abort();
	b->hop = hop;
	b->ops = hop->ops->reverse;
	b->id = id;
	b->bound = bound;
	b->cb = cb;
	b->ud = ud;
	if (!target_is_ip(from, &b->from) || sockaddr_is_any((struct sockaddr *)&b->from))
		b->from.ss_family = 0; /* a name or 0.0.0.0: whoever comes */
	target_set(&any, b->from.ss_family == AF_INET6 ? "::" : "0.0.0.0", 0);
	if (!(b->claim = b->ops->listen(hop, &any, &bind_cbs, b))) {
		free(b);
		return NULL;
	}
	return b;
}

void revbind_free(revbind_t *b)
{
	if (!b)
		return;
	if (b->claim)
		b->ops->release(b->hop, b->claim);
	free(b);
}

/* ---- UDP flows: one per public peer (rev_flows_t) ---- */

void rev_flows_init(rev_flows_t *fl, rev_flow_gone_fn gone, void *ud)
{
	queue_init(&fl->q);
	fl->n = 0;
	fl->gone = gone;
	fl->ud = ud;
}

rev_flow_t *rev_flows_find(rev_flows_t *fl, const struct sockaddr *sa)
{
	queue_t *q;

	queue_foreach (q, &fl->q) {
		rev_flow_t *f = queue_data(q, rev_flow_t, link);
		if (sockaddr_equal((struct sockaddr *)&f->peer, sa))
			return f;
	}
	return NULL;
}

rev_flow_t *rev_flows_add(rev_flows_t *fl, const struct sockaddr *sa, size_t size, uint64_t id,
                          uint64_t now)
{
	rev_flow_t *f = calloc(1, size < sizeof(*f) ? sizeof(*f) : size);

	if (!f)
		abort();
	memcpy(&f->peer, sa, sockaddr_len(sa));
	f->id = id;
	f->last = now;
	queue_insert_tail(&fl->q, &f->link);
	fl->n++;
	return f;
}

void rev_flows_touch(rev_flows_t *fl, rev_flow_t *f, uint64_t now)
{
	f->last = now;
	queue_remove(&f->link);
	queue_insert_tail(&fl->q, &f->link);
}

void rev_flows_end(rev_flows_t *fl, rev_flow_t *f, const char *name, const char *why)
{
	char p[64];

	sockaddr_str((struct sockaddr *)&f->peer, p, sizeof(p));
	log_debug(f->id, "reverse %s: flow of %s closed (%s)", name, p, why);
	queue_remove(&f->link);
	fl->n--;
	if (fl->gone)
		fl->gone(f, fl->ud);
	free(f);
}

void rev_flows_sweep(rev_flows_t *fl, uint64_t now, uint64_t idle_ms, const char *name)
{
	while (!queue_empty(&fl->q)) {
		rev_flow_t *f = queue_data(queue_first(&fl->q), rev_flow_t, link);
		if (now - f->last < idle_ms)
			break;
		rev_flows_end(fl, f, name, "idle");
	}
}

void rev_flows_clear(rev_flows_t *fl, const char *name)
{
	while (!queue_empty(&fl->q))
		rev_flows_end(fl, queue_data(queue_first(&fl->q), rev_flow_t, link), name,
		              "released");
}

/* A new public peer: the cap on flows, then the listener's guard rails. */
