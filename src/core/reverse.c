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
 * freed, in their close callbacks.
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
#include "core/tcp.h"
#include "core/udphost.h"

#define BACKOFF_MIN 500
#define BACKOFF_MAX 30000
#define LOCAL_IDLE_MS (5 * 60 * 1000)

/* ---- the shared view: /metrics and /health ---- */

typedef struct rev_stat {
	queue_t link;
	const char *side;  /* "client" or "server" */
	const char *state; /* claiming claimed waiting refused */
	char name[600];    /* bind/target (client), bind (server) */
	char why[160];     /* the last refusal or loss */
	uint64_t claims, conns, active, refused, bytes_in, bytes_out;
} rev_stat_t;

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

static void stat_add(rev_stat_t *st)
{
	if (!writers) {
		metrics_register(rev_metrics, NULL);
		metrics_health_register(rev_health, NULL);
		writers = 1;
	}
	queue_insert_tail(&stats, &st->link);
}

static void stat_remove(rev_stat_t *st)
{
	queue_remove(&st->link);
}

/* ---- one connection, on either side ---- */

typedef struct rconn {
	queue_t link;
	uint64_t conn, id, since;
	stream_t *pub;  /* server: the public connection, until the relay */
	dial_t *dial;   /* client: the local dial */
	relay_t *relay; /* then the relay */
	rev_stat_t *st; /* its owner's */
	void *owner;    /* revfwd_t or revsrv_t */
	uint64_t gen;   /* client: the claim it came through */
	char peer[64];
} rconn_t;

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
static void rconn_relay(rconn_t *rc, uv_loop_t *loop, stream_t *a, stream_t *b, uint64_t idle_ms)
{
	relay_opts_t o = {
	    .idle_ms = idle_ms, .ctr_ab = &rc->st->bytes_in, .ctr_ba = &rc->st->bytes_out};

	rc->st->active++;
	rc->relay = relay_start(loop, a, b, &o, rconn_relayed, rc);
}

/* Close every connection of q: relays end (and free theirs), the rest
 * are closed here. */
static void rconns_close(queue_t *q)
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
		snprintf(err, errlen,
		         "-R %s: the last hop (-F) must be one whose server can listen on UDP for "
		         "us (ws, wss) or listen itself (sstp, vpn, ppp); %s:// cannot",
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
	stat_add(&f->st);
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
		stat_remove(&f->st);
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

/* ---- the server ---- */

struct revsrv {
	rev_stat_t st;
	queue_t link; /* all claims */
	const void *owner;
	listener_t *l;
	target_t bound;
	union {
		uv_tcp_t tcp;
		uv_udp_t udp;
	};
	int is_udp;
	rev_flows_t flows; /* UDP */
	uint64_t idle_ms, max_flows;
	uv_timer_t timer;
	revsrv_cbs_t cbs;
	void *ud;
	queue_t pend, live;
	rev_gone_t gone;
	size_t npend;
	int open_handles;
	unsigned once : 1;   /* a BIND's: one connection, then no more listening */
	unsigned closed : 1; /* the listening socket is closed */
};

static queue_t claims = {&claims, &claims};

static void srv_handle_closed(uv_handle_t *h)
{
	revsrv_t *s = h->data;

	if (--s->open_handles == 0)
		free(s);
}

static void refuse_pub(revsrv_t *s, stream_t *pub, uint64_t id, const char *peer, const char *why)
{
	log_info(id, "reverse %s: refused %s: %s", s->st.name, peer, why);
	s->st.refused++;
	s->l->m->rejected++;
	stream_reset(pub);
}

static void on_pub(uv_stream_t *srv, int status)
{
	revsrv_t *s = srv->data;
	listener_t *l = s->l;
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	char pstr[64], who[620];
	stream_t *pub;
	rconn_t *rc;
	uint64_t id;

	if (status < 0)
		return;
	id = conn_next_id();
	if (tcp_stream_accept(srv, id, &pub) < 0)
		return;
	if (uv_tcp_getpeername(tcp_stream_handle(pub), (struct sockaddr *)&peer, &plen) < 0) {
		stream_close(pub);
		return;
	}
	sockaddr_str((struct sockaddr *)&peer, pstr, sizeof(pstr));
	if (s->npend >= REV_PENDING_MAX)
		return refuse_pub(s, pub, id, pstr, "too many connections waiting for the client");
	snprintf(who, sizeof(who), "reverse %s", s->st.name);
	if (!listener_admit(l, who, pub, (struct sockaddr *)&peer, s->st.active + s->npend, id)) {
		s->st.refused++;
		return;
	}
	if (!(rc = calloc(1, sizeof(*rc))))
		abort();
	random_bytes(&rc->conn, sizeof(rc->conn));
	rc->id = id;
	rc->pub = pub;
	rc->st = &s->st;
	rc->owner = s;
	rc->since = uv_now(l->loop);
	snprintf(rc->peer, sizeof(rc->peer), "%s", pstr);
	queue_insert_tail(&s->pend, &rc->link);
	s->npend++;
	s->st.conns++;
	log_info(id, "reverse %s: connection from %s, waiting for the client", s->st.name, pstr);
	s->cbs.announce(s->ud, rc->conn, pstr);
}

static rconn_t *pend_find(revsrv_t *s, uint64_t conn)
{
	queue_t *q;

	queue_foreach (q, &s->pend) {
		rconn_t *rc = queue_data(q, rconn_t, link);
		if (rc->conn == conn)
			return rc;
	}
	return NULL;
}

/* A connection nobody will serve is closed with a FIN, not a reset
 * (rev_gone_t), until the client closes too, or REV_JOIN_MS. */
static void pend_drop(revsrv_t *s, rconn_t *rc, const char *why)
{
	log_info(rc->id, "reverse %s: %s: %s", s->st.name, rc->peer, why);
	queue_remove(&rc->link);
	s->npend--;
	rev_gone_add(&s->gone, rc->pub, uv_now(s->l->loop));
	free(rc);
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
static rev_flow_t *sflow_new(revsrv_t *s, const struct sockaddr *sa)
{
	uint64_t id = conn_next_id();
	char who[620];

	if (s->flows.n >= s->max_flows) {
		s->st.refused++;
		s->l->m->rejected++;
		log_debug(id, "reverse %s: a new peer dropped: %zu flows already", s->st.name,
		          s->flows.n);
		return NULL;
	}
	snprintf(who, sizeof(who), "reverse %s", s->st.name);
	if (!listener_admit(s->l, who, NULL, sa, s->flows.n, id)) {
		s->st.refused++;
		return NULL;
	}
	s->st.conns++;
	s->st.active++;
	sockaddr_str(sa, who, sizeof(who));
	log_debug(id, "reverse %s: flow from %s", s->st.name, who);
	return rev_flows_add(&s->flows, sa, sizeof(rev_flow_t), id, uv_now(s->l->loop));
}

static void on_pub_dgram(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                         unsigned flags)
{
	revsrv_t *s = h->data;
	rev_flow_t *sf;
	char ip[64];
	target_t peer;

	if (n < 0 || !addr || (flags & UV_UDP_PARTIAL))
		return;
	if (!(sf = rev_flows_find(&s->flows, addr)) && !(sf = sflow_new(s, addr)))
		return;
	rev_flows_touch(&s->flows, sf, uv_now(s->l->loop));
	s->st.bytes_in += (uint64_t)n;
	sockaddr_ip(addr, ip, sizeof(ip));
	target_set(&peer, ip, sockaddr_port(addr));
	s->cbs.dgram(s->ud, &peer, dgram_buf(buf->base, (size_t)n));
}

int revsrv_send(revsrv_t *s, const target_t *peer, const uint8_t *p, size_t n)
{
	struct sockaddr_storage ss;
	rev_flow_t *sf;
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int r;

	if (!s->is_udp)
		return UV_EINVAL;
	if (!target_is_ip(peer, &ss) || !(sf = rev_flows_find(&s->flows, (struct sockaddr *)&ss))) {
		dgram_drops[DGRAM_DROP_STRANGER]++;
		return UV_ENOENT;
	}
	if ((r = uv_udp_try_send(&s->udp, &b, 1, (struct sockaddr *)&ss)) < 0) {
		dgram_drops[dgram_drop_why(r)]++;
		return r;
	}
	rev_flows_touch(&s->flows, sf, uv_now(s->l->loop));
	s->st.bytes_out += n;
	return 0;
}

static void on_sweep(uv_timer_t *t)
{
	revsrv_t *s = t->data;
	uint64_t now = uv_now(t->loop);

	while (!queue_empty(&s->pend)) {
		rconn_t *rc = queue_data(queue_first(&s->pend), rconn_t, link);
		if (now - rc->since < REV_JOIN_MS)
			break;
		s->st.refused++;
		pend_drop(s, rc, "the client did not take it in time");
	}
	rev_gone_sweep(&s->gone, now);
	if (s->is_udp) {
		rev_flows_sweep(&s->flows, now, s->idle_ms, s->st.name);
		s->st.active = s->flows.n;
	}
}

static revsrv_t *srv_new(listener_t *l, const void *owner, const revsrv_cbs_t *cbs, void *ud)
{
	revsrv_t *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->l = l;
	s->owner = owner;
	s->cbs = *cbs;
	s->ud = ud;
	queue_init(&s->pend);
	queue_init(&s->live);
	rev_gone_init(&s->gone);
	rev_flows_init(&s->flows, NULL, NULL);
	s->open_handles = 1;
	return s;
}

/* s's socket is bound at ss: the rest of a claim. */
static void srv_claimed(revsrv_t *s, struct sockaddr_storage *ss, const char *who)
{
	listener_t *l = s->l;
	char b[300];

	sockaddr_ip((struct sockaddr *)ss, b, sizeof(b));
	target_set(&s->bound, b, sockaddr_port((struct sockaddr *)ss));
	uv_timer_init(l->loop, &s->timer);
	s->timer.data = s;
	s->open_handles++;
	uv_timer_start(&s->timer, on_sweep, 1000, 1000);
	s->st.side = "server";
	s->st.state = "claimed";
	s->st.claims = 1;
	target_str(&s->bound, b, sizeof(b));
	snprintf(s->st.name, sizeof(s->st.name), "%s%s", s->is_udp ? "udp://" : "", b);
	stat_add(&s->st);
	queue_insert_tail(&claims, &s->link);
	log_info(0, "reverse %s: listening for %s (%s)", s->st.name, who, l->name);
}

int revsrv_listen(listener_t *l, const void *owner, const target_t *bind, const char *who,
                  const revsrv_cbs_t *cbs, void *ud, revsrv_t **out)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), r;
	revsrv_t *s;

	*out = NULL;
	if (!target_is_ip(bind, &ss))
		return UV_EINVAL;
	s = srv_new(l, owner, cbs, ud);
	uv_tcp_init(l->loop, &s->tcp);
	s->tcp.data = s;
	if ((r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&s->tcp, 128, on_pub)) < 0 ||
	    (r = uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len)) < 0) {
		uv_close((uv_handle_t *)&s->tcp, srv_handle_closed);
		return r;
	}
	srv_claimed(s, &ss, who);
	*out = s;
	return 0;
}

int revsrv_listen_udp(listener_t *l, const void *owner, const target_t *bind, const char *who,
                      uint64_t idle_ms, uint64_t max_flows, const revsrv_cbs_t *cbs, void *ud,
                      revsrv_t **out)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), r;
	revsrv_t *s;

	*out = NULL;
	if (!target_is_ip(bind, &ss))
		return UV_EINVAL;
	s = srv_new(l, owner, cbs, ud);
	s->is_udp = 1;
	s->idle_ms = idle_ms;
	s->max_flows = max_flows;
	uv_udp_init(l->loop, &s->udp);
	s->udp.data = s;
	if ((r = uv_udp_bind(&s->udp, (struct sockaddr *)&ss, 0)) < 0 ||
	    (r = udp_socket_buffers(&s->udp)) < 0 ||
	    (r = uv_udp_recv_start(&s->udp, udp_alloc, on_pub_dgram)) < 0 ||
	    (r = uv_udp_getsockname(&s->udp, (struct sockaddr *)&ss, &len)) < 0) {
		uv_close((uv_handle_t *)&s->udp, srv_handle_closed);
		return r;
	}
	srv_claimed(s, &ss, who);
	*out = s;
	return 0;
}

void revsrv_bound(const revsrv_t *s, target_t *out)
{
	*out = s->bound;
}

revsrv_t *revsrv_find(const void *owner, uint64_t conn)
{
	queue_t *q;

	queue_foreach (q, &claims) {
		revsrv_t *s = queue_data(q, revsrv_t, link);
		if (s->owner == owner && pend_find(s, conn))
			return s;
	}
	return NULL;
}

int revsrv_join(revsrv_t *s, uint64_t conn, stream_t *tunnel, uint64_t idle_ms)
{
	rconn_t *rc = pend_find(s, conn);
	stream_t *pub;

	if (!rc) {
		stream_close(tunnel);
		return -ENOENT;
	}
	queue_remove(&rc->link);
	s->npend--;
	queue_insert_tail(&s->live, &rc->link);
	pub = rc->pub;
	rc->pub = NULL;
	log_debug(rc->id, "reverse %s: %s joined", s->st.name, rc->peer);
	rconn_relay(rc, s->l->loop, pub, tunnel, idle_ms);
	if (s->once && !s->closed) { /* a BIND's one connection: the port is free again */
		s->closed = 1;
		uv_close((uv_handle_t *)&s->tcp, srv_handle_closed);
		while (!queue_empty(&s->pend))
			pend_drop(s, queue_data(queue_first(&s->pend), rconn_t, link),
			          "the BIND took its one connection");
		log_info(rc->id, "reverse %s: %s took the BIND; no longer listening", s->st.name,
		         rc->peer);
	}
	return 0;
}

void revsrv_refuse(revsrv_t *s, uint64_t conn)
{
	rconn_t *rc = pend_find(s, conn);

	if (!rc)
		return;
	s->st.refused++;
	pend_drop(s, rc, "the client could not reach its target");
}

size_t revsrv_count(const void *owner)
{
	queue_t *q;
	size_t n = 0;

	queue_foreach (q, &claims)
		n += queue_data(q, revsrv_t, link)->owner == owner;
	return n;
}

void revsrv_close(revsrv_t *s)
{
	if (!s)
		return;
	log_info(0, "reverse %s: released", s->st.name);
	queue_remove(&s->link);
	stat_remove(&s->st);
	rconns_close(&s->pend);
	rconns_close(&s->live);
	rev_gone_close(&s->gone);
	rev_flows_clear(&s->flows, s->st.name);
	if (!s->closed)
		uv_close((uv_handle_t *)&s->tcp, srv_handle_closed);
	uv_close((uv_handle_t *)&s->timer, srv_handle_closed);
}

/* A BIND's claim (port 0): a port of the allowance, at random within each
 * entry (up to 32 tries each), on the entry's address or else the one
 * asked for; it takes one connection (once). */
static int claim_any(listener_t *l, const void *owner, const rev_allow_t *a, const target_t *bind,
                     const char *who, const revsrv_cbs_t *cbs, void *ud, revsrv_t **out, char *why,
                     size_t len)
{
	struct sockaddr_storage want;
	int r = UV_EADDRINUSE, wild;

	if (!a->n) {
		snprintf(why, len, "this server allows no reverse forwards (its reverse= option)");
		return UV_EACCES;
	}
	if (!target_is_ip(bind, &want)) {
		snprintf(why, len, "%s: the address must be an IP", bind->host);
		return UV_EACCES;
	}
	wild = sockaddr_is_any((struct sockaddr *)&want);
	for (size_t i = 0; i < a->n; i++) {
		const rev_allow_ent_t *e = &a->v[i];
		uint32_t span = (uint32_t)e->hi - e->lo + 1, start;
		char host[256];
		target_t t;

		if (e->addr.ss_family &&
		    (e->addr.ss_family != want.ss_family ||
		     (!wild && !sockaddr_same_ip((const struct sockaddr *)&e->addr,
		                                 (struct sockaddr *)&want))))
			continue;
		if (e->addr.ss_family)
			sockaddr_ip((const struct sockaddr *)&e->addr, host, sizeof(host));
		else
			snprintf(host, sizeof(host), "%s", bind->host);
		random_bytes(&start, sizeof(start));
		for (uint32_t k = 0; k < span && k < 32; k++) {
			target_set(&t, host, (uint16_t)(e->lo + (start + k) % span));
			r = revsrv_listen(l, owner, &t, who, cbs, ud, out);
			if (r == 0) {
				(*out)->once = 1;
				return 0;
			}
			if (r != UV_EADDRINUSE && r != UV_EACCES)
				break;
		}
	}
	snprintf(why, len, "no port this server lets clients claim is free for %s: %s", bind->host,
	         uv_strerror(r));
	return r == UV_EACCES ? UV_EADDRINUSE : r;
}

/* What every claim passes: the server is not draining, reverse= allows
 * bind (port 0, a BIND's, is checked by claim_any), the key is under
 * reverse-claims.  0, or UV_ESHUTDOWN / UV_EACCES and why. */
static int claim_check(listener_t *l, const void *owner, const rev_allow_t *a, uint64_t max_claims,
                       const target_t *bind, char *why, size_t len)
{
	if (l->stopping) { /* draining: the client claims from the next server */
		snprintf(why, len, "the server is shutting down");
		return UV_ESHUTDOWN;
	}
	if (bind->port && rev_allow_check(a, bind, why, len) < 0)
		return UV_EACCES;
	if (revsrv_count(owner) >= max_claims) {
		snprintf(
		    why, len,
		    "this key holds %llu reverse listeners already (the server's reverse-claims)",
		    (unsigned long long)max_claims);
		return UV_EACCES;
	}
	return 0;
}

int revsrv_claim_udp(listener_t *l, const void *owner, const rev_allow_t *a, uint64_t max_claims,
                     const target_t *bind, const char *who, uint64_t idle_ms, uint64_t max_flows,
                     const revsrv_cbs_t *cbs, void *ud, revsrv_t **out, char *why, size_t len)
{
	int r;

	*out = NULL;
	if (!bind->port) {
		snprintf(why, len, "a UDP reverse forward needs a port");
		return UV_EACCES;
	}
	if ((r = claim_check(l, owner, a, max_claims, bind, why, len)) < 0)
		return r;
	if ((r = revsrv_listen_udp(l, owner, bind, who, idle_ms, max_flows, cbs, ud, out)) < 0)
		snprintf(why, len, "cannot listen there: %s", uv_strerror(r));
	return r;
}

int revsrv_claim(listener_t *l, const void *owner, const rev_allow_t *a, uint64_t max_claims,
                 const target_t *bind, const char *who, const revsrv_cbs_t *cbs, void *ud,
                 revsrv_t **out, char *why, size_t len)
{
	int r;

	*out = NULL;
	if ((r = claim_check(l, owner, a, max_claims, bind, why, len)) < 0)
		return r;
	if (!bind->port)
		return claim_any(l, owner, a, bind, who, cbs, ud, out, why, len);
	if ((r = revsrv_listen(l, owner, bind, who, cbs, ud, out)) < 0)
		snprintf(why, len, "cannot listen there: %s", uv_strerror(r));
	return r;
}

/* ---- reverse= ---- */

static int allow_one(rev_allow_t *a, const char *e, size_t n, char *err, size_t errlen)
{
	char buf[128], *ports = buf, *dash;
	rev_allow_ent_t *ent;
	unsigned long lo, hi;
	char *end;

	if (!n || n >= sizeof(buf) || a->n >= REV_ALLOW_MAX)
		goto bad;
	memcpy(buf, e, n);
	buf[n] = 0;
	ent = &a->v[a->n];
	memset(ent, 0, sizeof(*ent));
	/* IP:PORTS, [v6]:PORTS or PORTS */
	char *colon = buf[0] == '[' ? strstr(buf, "]:") : strrchr(buf, ':');
	if (colon) {
		target_t t;
		char *host = buf;
		if (buf[0] == '[') {
			host = buf + 1;
			*colon = 0;
			ports = colon + 2;
		} else {
			*colon = 0;
			ports = colon + 1;
		}
		if (strcmp(host, "*") &&
		    (target_set(&t, host, 1) < 0 || !target_is_ip(&t, &ent->addr)))
			goto bad;
	}
	lo = strtoul(ports, &end, 10);
	hi = lo;
	if ((dash = end) && *dash == '-')
		hi = strtoul(dash + 1, &end, 10);
	if (end == ports || *end || !lo || hi < lo || hi > 65535 || ports[0] == '-' ||
	    ports[0] == '+' || (dash[0] == '-' && (dash[1] < '0' || dash[1] > '9')))
		goto bad;
	ent->lo = (uint16_t)lo;
	ent->hi = (uint16_t)hi;
	a->n++;
	return 0;
bad:
	if (a->n >= REV_ALLOW_MAX)
		snprintf(err, errlen, "option 'reverse': at most %d entries", REV_ALLOW_MAX);
	else
		snprintf(err, errlen,
		         "option 'reverse': '%.*s': write PORT, PORT-PORT, IP:PORT-PORT or "
		         "[IPv6]:PORT (ports 1-65535)",
		         (int)(n > 100 ? 100 : n), e);
	return -EINVAL;
}

int rev_allow_parse(rev_allow_t *a, const char *s, char *err, size_t errlen)
{
	while (*s) {
		size_t n = strcspn(s, ",");
		int r = allow_one(a, s, n, err, errlen);
		if (r < 0)
			return r;
		s += n;
		if (*s == ',')
			s++;
	}
	return 0;
}

int rev_allow_check(const rev_allow_t *a, const target_t *bind, char *why, size_t len)
{
	struct sockaddr_storage ss;
	char b[300];

	target_str(bind, b, sizeof(b));
	if (!a->n) {
		snprintf(why, len, "this server allows no reverse forwards (its reverse= option)");
		return -EACCES;
	}
	if (!target_is_ip(bind, &ss)) {
		snprintf(why, len, "%s: the address must be an IP", b);
		return -EACCES;
	}
	for (size_t i = 0; i < a->n; i++) {
		const rev_allow_ent_t *e = &a->v[i];
		if (bind->port < e->lo || bind->port > e->hi)
			continue;
		if (e->addr.ss_family && !sockaddr_same_ip((const struct sockaddr *)&e->addr,
		                                           (const struct sockaddr *)&ss))
			continue;
		return 0;
	}
	snprintf(why, len, "%s is not among the addresses this server lets clients claim", b);
	return -EACCES;
}

static int parse_reverse(void *obj, const char *v, char *err, size_t errlen)
{
	return rev_allow_parse(&((rev_server_opts_t *)obj)->allow, v, err, errlen);
}

static const opt_t rev_opts_table[] = {
    OPT_FUNC_DOC("reverse", parse_reverse, "none (refused)", "[IP:]PORT[-PORT],...",
                 "where key holders may have this server listen for them (reverse forwards, "
                 "-R): ports, ranges, each optionally bound to one address; the listener's "
                 "allow=, deny=, rate= and max-conns apply to whoever connects there"),
    OPT_UINT(rev_server_opts_t, claims, "reverse-claims", 1024, "8",
             "reverse listeners the key may hold at once, on all this server's listeners "
             "together"),
};

const opt_schema_t rev_server_opts = OPT_SCHEMA(NULL, rev_opts_table);
