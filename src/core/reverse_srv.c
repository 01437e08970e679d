/* reverse_srv: the server's side of reverse forwards (see reverse.h):
 * a claim (revsrv) listens for the public (TCP, or UDP as one flow
 * per peer, rev_flows_t), holds what it accepts until the client joins
 * it, and the operator's reverse= decides what may be claimed.  The
 * shared view, the lists of connections and flows and the client's side
 * are reverse.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/crypto.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/opts.h"
#include "core/reverse.h"
#include "core/reverse_priv.h"
#include "core/tcp.h"
#include "core/udphost.h"

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

/* ---- the server's UDP: a flow per public peer ---- */

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
	rev_stat_add(&s->st);
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
	rev_stat_remove(&s->st);
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
    OPT_DURATION(rev_server_opts_t, udp_idle_ms, "reverse-udp-idle", "60s",
                 "a UDP reverse forward's flow (one public peer) ends after this without a "
                 "datagram"),
    OPT_UINT(rev_server_opts_t, udp_flows, "reverse-udp-flows", REV_UDP_FLOWS_MAX, "256",
             "flows (public peers) one UDP reverse forward serves at once; a new peer beyond "
             "them is dropped"),
};

const opt_schema_t rev_server_opts = OPT_SCHEMA(NULL, rev_opts_table);
