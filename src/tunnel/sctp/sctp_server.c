/* sctp_server: accepts SCTP associations, authenticates them, and turns
 * every stream a client opens into a conn that dials its target.
 *
 * Per association (sctp_assoc): AUTH within handshake-timeout, else abort;
 * the client ACL and max-assocs (default 1024) are checked when the
 * association comes up.  Per stream:
 * OPEN -> admission (max-conns, rate per client IP) -> conn_dial with the
 * listener's connect-timeout and target ACL -> OPEN_OK and the relay (with
 * idle-timeout), or OPEN_FAIL with the SOCKS5 code of the error.  A
 * UDP_OPEN instead: the same admission, then a datagram flow through the
 * listener's chain (conn_dgram: target ACL on every datagram, idle
 * timeout), OPEN_OK once it is up; OPEN_FAIL 7 when a hop of the chain
 * cannot carry datagrams, naming it in the log.  A LISTEN (a reverse
 * forward, core/reverse.h): reverse= and reverse-claims decide, the claim
 * lives as long as its stream; a JOIN carries a connection accepted there.
 * A LISTEN_UDP: the same decision on a UDP port, whose public peers' flows
 * (core/reverse.h) ride its stream as datagrams.
 */
#include "tunnel/sctp/sctp_server.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/reverse.h"
#include "core/transport.h"
#include "tunnel/sctp/sctp_assoc.h"
#include "tunnel/sctp/sctp_client.h"

typedef struct scsrv {
	listener_t *l;
	int stack;
	sctp_proto_keys_t keys;
	sctp_assoc_cfg_t cfg;
	replay_store_t *replay;
	sctp_sock_t *sock;
	/* what its replay store was asked for (the store is the key's) */
	uint64_t replay_cache, replay_timeout_ms;
	char *replay_url;
	uint64_t assocs, refused, udp_assocs, udp_refused;
	rev_allow_t allow; /* reverse=: what the key's holders may claim */
	uint64_t rev_claims, rev_refused, rev_udp_idle_ms, rev_udp_flows;
	queue_t revs; /* screv_t.link: the claims */
} scsrv_t;

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void tmp_read(stream_t *s, sbuf_t *b)
{
	sbuf_free(b);
}
static void tmp_error(stream_t *s, int err)
{
	conn_close(s->data, "client stream reset");
}
static const stream_cbs_t dialing_cbs = {tmp_read, NULL, tmp_error};

static void on_dialed(conn_t *c, int err)
{
	if (err < 0) {
		sctp_stream_answer(c->client, err);
		conn_close(c, "open failed");
		return;
	}
	sctp_stream_answer(c->client, 0);
	conn_relay(c);
}

/* Admission of a stream: a conn for it, or NULL (refused, answered, closed). */
static conn_t *srv_admit(scsrv_t *srv, sctp_association_t *a, stream_t *s)
{
	listener_t *l = srv->l;
	const struct sockaddr *peer = sctp_assoc_peer_addr(a);
	const char *why = NULL;

	s->id = conn_next_id();
	if (l->stopping)
		why = "listener stopping";
	else if (l->m->active >= l->max_conns)
		why = "too many connections";
	else if (l->rl && !ratelimit_allow(l->rl, peer, uv_now(l->loop)))
		why = "connection rate exceeded";
	if (why) {
		log_info(s->id, "%s: refused a stream from %s: %s", l->name, sctp_assoc_peer(a),
		         why);
		l->m->rejected++;
		srv->refused++;
		sctp_stream_answer(s, UV_EBUSY);
		stream_close(s);
		return NULL;
	}
	return conn_new(l, s, peer);
}

static void srv_open(sctp_association_t *a, void *ud, stream_t *s, const target_t *t)
{
	conn_t *c = srv_admit(ud, a, s);

	if (!c)
		return;
	stream_set_cbs(s, &dialing_cbs, c);
	conn_dial(c, t, on_dialed);
}

/* ---- datagram associations ---- */

/* A datagram from the client, to dst. */
static void tunnel_dgram(void *ud, const target_t *dst, sbuf_t *b)
{
	conn_t *c = ud;

	conn_dgram_touch(c);
	dgram_send(c->flow, dst, b);
}

/* A reply, to the client. */
static void flow_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	conn_t *c = f->data;
	char ip[64];
	target_t t;
	int r;

	sockaddr_ip(src, ip, sizeof(ip));
	target_set(&t, ip, sockaddr_port(src));
	if ((r = sctp_dgram_send(c->client, &t, b)) < 0) {
		dgram_drop(f, dgram_drop_why(r), NULL);
		return;
	}
	conn_dgram_touch(c);
}

static void flow_error(dgram_t *f, int err)
{
	conn_t *c = f->data;

	log_info(c->id, "sctp: the datagram flow failed: %s", uv_strerror(err));
	conn_close(c, "datagram flow failed");
}

static void flow_ready(dgram_t *f)
{
	conn_t *c = f->data;

	sctp_stream_answer(c->client, 0);
}

static const dgram_cbs_t flow_cbs = {flow_recv, flow_error, flow_ready};

static void udp_read(stream_t *s, sbuf_t *b)
{
	sbuf_free(b);
	conn_close(s->data, b ? "stream data on a datagram association" : "client closed");
}

static const stream_cbs_t udp_cbs = {udp_read, NULL, tmp_error};

static void srv_open_dgram(sctp_association_t *a, void *ud, stream_t *s)
{
	scsrv_t *srv = ud;
	conn_t *c = srv_admit(srv, a, s);

	if (!c)
		return;
	stream_set_cbs(s, &udp_cbs, c);
	if (conn_dgram_refused(c, "sctp")) {
		srv->udp_refused++;
		sctp_stream_answer(s, UV_ENOTSUP);
		conn_close(c, "UDP refused");
		return;
	}
	srv->udp_assocs++;
	sctp_dgram_set(s, tunnel_dgram, c);
	stream_read_start(s);
	conn_dgram(c, &flow_cbs, c);
}

/* ---- reverse forwards: LISTEN, ACCEPT, JOIN, REFUSE ---- */

typedef struct screv {
	queue_t link; /* in srv->revs */
	revsrv_t *rs;
	stream_t *s; /* the LISTEN's */
} screv_t;

static void screv_free(screv_t *r)
{
	queue_remove(&r->link);
	revsrv_close(r->rs);
	stream_close(r->s);
	free(r);
}

/* The client's REFUSEs; its end (released, or the association lost) is
 * the claim's. */
static void rev_read(stream_t *s, sbuf_t *b)
{
	screv_t *r = s->data;
	uint64_t conn;
	int bad;

	if (!b) {
		screv_free(r);
		return;
	}
	bad = sctp_proto_conn_parse(sbuf_ptr(b), b->len, &conn, NULL, 0) < 0;
	sbuf_free(b);
	if (bad) {
		log_info(s->id, "sctp: a bad REFUSE; the reverse listener is closed");
		screv_free(r);
		return;
	}
	revsrv_refuse(r->rs, conn);
}

static void rev_error(stream_t *s, int err)
{
	screv_free(s->data);
}

static const stream_cbs_t rev_stream_cbs = {rev_read, NULL, rev_error};

static void rev_announce(void *ud, uint64_t conn, const char *peer)
{
	screv_t *r = ud;
	uint8_t body[SCTP_PROTO_CONN_ID + SCTP_PROTO_PEER_MAX];

	stream_write(r->s, sbuf_from(body, sctp_proto_conn_encode(conn, peer, body, sizeof(body))));
}

/* A datagram from a UDP claim's public peer: to the client, unordered and
 * never retransmitted, on the LISTEN_UDP's stream. */
static void rev_dgram(void *ud, const target_t *peer, sbuf_t *b)
{
	screv_t *r = ud;
	int rc = sctp_dgram_send(r->s, peer, b);

	if (rc < 0)
		dgram_drops[dgram_drop_why(rc)]++;
}

/* The client's answer to a public peer, which only a peer with a live
 * flow gets (revsrv_send drops and counts any other). */
static void rev_answer(void *ud, const target_t *peer, sbuf_t *b)
{
	screv_t *r = ud;

	revsrv_send(r->rs, peer, sbuf_ptr(b), b->len);
	sbuf_free(b);
}

static const revsrv_cbs_t rev_cbs = {.announce = rev_announce, .dgram = rev_dgram};

static void srv_listen(sctp_association_t *a, void *ud, stream_t *s, const target_t *bind, int udp)
{
	scsrv_t *srv = ud;
	screv_t *r = calloc(1, sizeof(*r));
	char who[120], why[200];
	target_t b;
	int rc;

	if (!r)
		abort();
	s->id = conn_next_id();
	r->s = s;
	snprintf(who, sizeof(who), "%s, conn %llu", sctp_assoc_peer(a), (unsigned long long)s->id);
	rc = udp ? revsrv_claim_udp(srv->l, srv->replay, &srv->allow, srv->rev_claims, bind, who,
	                            srv->rev_udp_idle_ms, srv->rev_udp_flows, &rev_cbs, r, &r->rs,
	                            why, sizeof(why))
	         : revsrv_claim(srv->l, srv->replay, &srv->allow, srv->rev_claims, bind, who,
	                        &rev_cbs, r, &r->rs, why, sizeof(why));
	if (rc < 0) {
		if (rc != UV_ESHUTDOWN) {
			srv->rev_refused++;
			log_warn(s->id, "%s: reverse listener refused to %s: %s", srv->l->name,
			         sctp_assoc_peer(a), why);
		}
		sctp_stream_answer_listen(s, NULL, rc, why);
		stream_close(s);
		free(r);
		return;
	}
	revsrv_bound(r->rs, &b);
	sctp_stream_answer_listen(s, &b, 0, NULL);
	queue_insert_tail(&srv->revs, &r->link);
	stream_set_cbs(s, &rev_stream_cbs, r);
	if (udp)
		sctp_dgram_set(s, rev_answer, r);
	stream_read_start(s);
}

static void srv_join(sctp_association_t *a, void *ud, stream_t *s, uint64_t conn)
{
	scsrv_t *srv = ud;
	revsrv_t *rs = revsrv_find(srv->replay, conn);

	s->id = conn_next_id();
	if (!rs) {
		log_info(s->id, "%s: JOIN from %s for no waiting connection", srv->l->name,
		         sctp_assoc_peer(a));
		sctp_stream_answer(s, UV_ECONNREFUSED);
		stream_close(s);
		return;
	}
	sctp_stream_answer(s, 0);
	revsrv_join(rs, conn, s, srv->l->idle_timeout_ms);
}

static void srv_up(sctp_association_t *a, void *ud)
{
	((scsrv_t *)ud)->assocs++;
}

static void srv_down(sctp_association_t *a, void *ud, int err, const char *why) {}

static const sctp_assoc_ops_t srv_ops = {.up = srv_up,
                                         .down = srv_down,
                                         .open = srv_open,
                                         .open_dgram = srv_open_dgram,
                                         .listen = srv_listen,
                                         .join = srv_join};

static const metric_t srv_metrics[] = {
    METRIC(scsrv_t, assocs, "sluice_sctp_associations_total", "counter",
           "Client associations authenticated."),
    METRIC(scsrv_t, refused, "sluice_sctp_streams_refused_total", "counter",
           "Stream opens refused (cap, rate, ACL, target)."),
    METRIC(scsrv_t, udp_assocs, "sluice_sctp_udp_associations_total", "counter",
           "Datagram associations carried."),
    METRIC(scsrv_t, udp_refused, "sluice_sctp_udp_refused_total", "counter",
           "Datagram associations refused (the chain cannot carry UDP)."),
    METRIC(scsrv_t, rev_refused, "sluice_sctp_reverse_refused_total", "counter",
           "Reverse listeners refused (not in reverse=, over reverse-claims, or the bind "
           "failed)."),
};

static const metric_t sock_metrics[] = {
    METRIC(sctp_sock_stats_t, buffered, "sluice_sctp_buffered_bytes", "gauge",
           "Bytes received on the listener's associations, not yet taken by their readers."),
    METRIC(sctp_sock_stats_t, buffer_resets, "sluice_sctp_buffer_resets_total", "counter",
           "Streams reset because the association's receive buffer was full."),
    METRIC(sctp_sock_stats_t, early, "sluice_sctp_early_data_total", "counter",
           "Streams reset for DATA or EOF before their OPEN_OK."),
    METRIC(sctp_sock_stats_t, dgram_drops, "sluice_sctp_datagrams_dropped_total", "counter",
           "Datagrams dropped on arrival (replayed, not authentic, no association)."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	scsrv_t *s = ud;
	char lab[300];

	metrics_label(lab, sizeof(lab), "listener", s->l->name);
	METRICS_TABLE(b, srv_metrics, s, lab);
	metrics_sample(b, "sluice_sctp_replay_cache_entries", "gauge",
	               "Authentication nonces remembered against replay.", lab,
	               replay_store_size(s->replay));
	if (s->sock)
		METRICS_TABLE(b, sock_metrics, sctp_sock_stats(s->sock), lab);
}

typedef struct scsrv_opts {
	sctp_assoc_opts_t assoc;
	sctp_stack_opts_t stack;
	rev_server_opts_t rev;
	uint64_t skew_ms, replay_cache, max_assocs, replay_timeout_ms;
	const char *replay;
} scsrv_opts_t;

static const opt_include_t udp_inc[] = {
    OPT_INCLUDE(scsrv_opts_t, assoc, &sctp_assoc_opts),
    OPT_INCLUDE(scsrv_opts_t, rev, &rev_server_opts),
    {NULL, 0},
};

static const opt_t srv_table[] = {
    OPT_DURATION(scsrv_opts_t, skew_ms, "skew", "2m", "how far a client's clock may be from ours"),
    OPT_UINT(scsrv_opts_t, replay_cache, "replay-cache", 10000000, "65536", "nonces remembered"),
    REPLAY_SHARED_OPTS(scsrv_opts_t, replay, replay_timeout_ms),
    OPT_UINT(scsrv_opts_t, max_assocs, "max-assocs", 1000000, "1024",
             "clients at once (0: no limit)"),
};

/* -L sctp+udp:// */
static const opt_schema_t udp_srv_opts = OPT_SCHEMA_WITH(udp_inc, srv_table);

static const opt_include_t raw_inc[] = {
    OPT_INCLUDE(scsrv_opts_t, stack, &sctp_stack_opts),
    {NULL, 0},
};

/* -L sctp://: the same, and stack= */
static const opt_schema_t raw_srv_opts = {.base = &udp_srv_opts, .also = raw_inc};

static int init_common(listener_t *l, int udp, char *err, size_t errlen)
{
	scsrv_t *s = calloc(1, sizeof(*s));
	url_t *u = l->url;
	scsrv_opts_t o = {.skew_ms = 0}; /* and every other field 0 */
	replay_conf_t conf;
	uint64_t max_assocs;
	struct sockaddr_storage ss;
	int r;

	if (!s)
		abort();
	l->front = s;
	s->l = l;
	queue_init(&s->revs);
	if ((r = opts_parse(udp ? &udp_srv_opts : &raw_srv_opts, u, &o, err, errlen)) < 0 ||
	    (r = sctp_stack_pick(o.stack.stack, udp, &s->stack, err, errlen)) < 0 ||
	    (r = listener_bind_addr(u, &ss, err, errlen)) < 0)
		return r;
	memcpy(&l->bind, &ss, sizeof(ss));
	if ((r = sctp_assoc_cfg_load(&o.assoc, 1, &s->cfg, &s->keys, err, errlen)) < 0)
		return r;
	s->cfg.skew_ms = o.skew_ms;
	max_assocs = o.max_assocs;
	/* round_trip 0: SCTP has no round trip to fall back on, so the floor
	 * is the start (and the restart window is judged with the clock) */
	conf = (replay_conf_t){.capacity = o.replay_cache,
	                       .skew_ms = o.skew_ms,
	                       .shared = o.replay,
	                       .shared_timeout_ms = o.replay_timeout_ms,
	                       .loop = l->loop};
	if ((r = replay_store_get("sctp", s->keys.auth, &conf, &s->replay, err, errlen)) < 0)
		return r;
	s->replay_cache = o.replay_cache;
	s->replay_timeout_ms = o.replay_timeout_ms;
	if (o.replay && !(s->replay_url = strdup(o.replay)))
		abort();
	s->cfg.max_assocs = (uint32_t)max_assocs;
	s->allow = o.rev.allow;
	s->rev_claims = o.rev.claims;
	s->rev_udp_idle_ms = o.rev.udp_idle_ms ? o.rev.udp_idle_ms : REV_UDP_IDLE_MS;
	s->rev_udp_flows = o.rev.udp_flows;
	s->cfg.name = l->name;
	s->cfg.replay = s->replay;
	s->cfg.start_ms = wall_ms();
	s->cfg.auth_timeout_ms = l->handshake_timeout_ms;
	s->cfg.clients = &l->clients;
	metrics_register(metrics_fn, s);
	return 0;
}

static int udp_init(listener_t *l, char *err, size_t errlen)
{
	return init_common(l, 1, err, errlen);
}
static int raw_init(listener_t *l, char *err, size_t errlen)
{
	return init_common(l, 0, err, errlen);
}

static int srv_start(listener_t *l)
{
	scsrv_t *s = l->front;
	char err[200];
	int r;

	r = sctp_rt_init(l->loop, s->stack, s->stack == SCTP_STACK_UDP ? (uint16_t)l->url->port : 0,
	                 err, sizeof(err));
	if (r < 0) {
		log_err(0, "%s: %s", l->name, err);
		return r;
	}
	r = sctp_sock_listen((struct sockaddr *)&l->bind, s->stack, &s->cfg, &srv_ops, s, &s->sock);
	if (r < 0)
		return r;
	if (s->stack == SCTP_STACK_UDP)
		log_info(0, "listening on %s (SCTP over UDP port %u)", l->name, sctp_rt_udp_port());
	else
		log_info(0, "listening on %s (%s)", l->name, sctp_stack_names[s->stack]);
	return 0;
}

/* A reload: what the associations read as they come up changes in place
 * (max-assocs, and the shared allow= and handshake-timeout); what the
 * socket, a running association or the key's replay store holds cannot. */
static int srv_adopt_check(listener_t *l, listener_t *nl, char *err, size_t errlen)
{
	const scsrv_t *s = l->front, *n = nl->front;
	const char *what = NULL;

	if (s->stack != n->stack)
		what = "stack";
	else if (s->keys.mlen != n->keys.mlen ||
	         CRYPTO_memcmp(s->keys.master, n->keys.master, s->keys.mlen))
		what = "key";
	else if (s->cfg.window != n->cfg.window)
		what = "window";
	else if (s->cfg.max_buffer != n->cfg.max_buffer)
		what = "assoc-buffer";
	else if (s->cfg.hb_ms != n->cfg.hb_ms)
		what = "hb";
	else if (s->cfg.max_rtx != n->cfg.max_rtx)
		what = "max-rtx";
	else if (s->cfg.sndbuf != n->cfg.sndbuf)
		what = "sndbuf";
	else if (s->cfg.mtu != n->cfg.mtu)
		what = "mtu";
	else if (s->replay_cache != n->replay_cache)
		what = "replay-cache";
	else if (!s->replay_url != !n->replay_url ||
	         (s->replay_url && strcmp(s->replay_url, n->replay_url)))
		what = "replay";
	else if (s->replay_timeout_ms != n->replay_timeout_ms)
		what = "replay-timeout";
	else if (s->cfg.skew_ms != n->cfg.skew_ms)
		what = "skew"; /* the replay store's window too */
	if (!what)
		return 0;
	snprintf(err, errlen,
	         "%s=: changed, and it cannot change while the SCTP server runs (its socket and "
	         "associations hold it)",
	         what);
	return UV_EINVAL;
}

static void srv_adopt(listener_t *l, listener_t *nl)
{
	scsrv_t *s = l->front;
	const scsrv_t *n = nl->front;

	s->cfg.max_assocs = n->cfg.max_assocs;
	s->allow = n->allow; /* claims made already stay */
	s->rev_claims = n->rev_claims;
	s->rev_udp_idle_ms = n->rev_udp_idle_ms;
	s->rev_udp_flows = n->rev_udp_flows;
	s->cfg.auth_timeout_ms = l->handshake_timeout_ms; /* l's new one */
	log_info(0, "%s: reloaded in place: max-assocs=%u skew=%llums, associations kept", l->name,
	         (unsigned)s->cfg.max_assocs, (unsigned long long)s->cfg.skew_ms);
}

/* Stop accepting: the reverse listeners stop too, so their clients claim
 * again from whoever listens next. */
static void srv_stop(listener_t *l)
{
	scsrv_t *s = l->front;

	while (s && !queue_empty(&s->revs))
		screv_free(queue_data(queue_first(&s->revs), screv_t, link));
}

static void srv_free(listener_t *l)
{
	scsrv_t *s = l->front;

	if (!s)
		return;
	metrics_unregister(metrics_fn, s);
	srv_stop(l);
	sctp_sock_close(s->sock);
	replay_store_put(s->replay);
	free(s->replay_url);
	free(s);
}

const front_ops_t sctp_udp_front_ops = {
    .scheme = "sctp+udp",
    .init = udp_init,
    .start = srv_start,
    .stop = srv_stop,
    .free = srv_free,
    .adopt_check = srv_adopt_check,
    .adopt = srv_adopt,
    .reach = REACH_REMOTE,
    .gateway = 1,
};

const front_ops_t sctp_front_ops = {
    .scheme = "sctp",
    .init = raw_init,
    .start = srv_start,
    .stop = srv_stop,
    .free = srv_free,
    .adopt_check = srv_adopt_check,
    .adopt = srv_adopt,
    .reach = REACH_REMOTE,
    .gateway = 1,
};

static const transport_scheme_t sctp_schemes[] = {
    {.scheme = "sctp+udp",
     .listen = &sctp_udp_front_ops,
     .hop = sctp_udp_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_REMOTE_DNS | HOP_FIRST_ONLY | HOP_SESSION,
     .listen_doc = {.usage = "sctp+udp://IP:PORT[?key=KEY]",
                    .about = "SCTP tunnel server over UDP (RFC 6951)",
                    .opts = &udp_srv_opts},
     .hop_doc = {.usage = "sctp+udp://HOST:PORT[?key=KEY]",
                 .about = "through an SCTP tunnel server, over UDP",
                 .opts = &sctp_udp_hop_opts}},
    {.scheme = "sctp",
     .listen = &sctp_front_ops,
     .hop = sctp_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_REMOTE_DNS | HOP_FIRST_ONLY | HOP_SESSION,
     .listen_doc = {.usage = "sctp://IP:PORT[?key=KEY]",
                    .about = "SCTP tunnel server on native SCTP",
                    .opts = &raw_srv_opts},
     .hop_doc = {.usage = "sctp://HOST:PORT[?key=KEY]",
                 .about = "through an SCTP tunnel server, native SCTP",
                 .opts = &sctp_hop_opts}},
};

const transport_t sctp_transport = {
    .name = "sctp",
    .summary = "SCTP tunnel, one SCTP stream per connection (docs/sctp-protocol.md)",
    TRANSPORT_SCHEMES(sctp_schemes),
    .stop = sctp_rt_stop,
};
