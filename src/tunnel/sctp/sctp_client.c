/* sctp_client: one association per hop, shared by every connection.
 *
 * The association is brought up on the first dial (usrsctp starts then, so
 * a listener in the same process picks its UDP port first), authenticated,
 * and kept: when it is lost it is re-established with backoff (100 ms
 * doubling to 5 s), as long as a dial waits or one came within keep= (60 s);
 * a hop nobody uses stops redialing until its next dial (sluice pt keeps a
 * hop per bridge tor ever named).  A dial takes a free stream id and sends OPEN; it
 * waits in a queue while the association is down or every id is in use,
 * within the caller's connect timeout (dial_start cancels it).  Streams in
 * flight when the association dies fail with a reset; opens that had no
 * answer yet go back to the queue.  A datagram flow (core/dgram.h) is a
 * stream opened with UDP_OPEN the same way; its datagrams then travel
 * unordered and are never retransmitted (PR-SCTP, see sctp_assoc.h), and
 * one the association has no room for is dropped and counted.
 */
#include "tunnel/sctp/sctp_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/dgram.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/queue.h"
#include "core/reverse.h"
#include "tunnel/sctp/sctp_assoc.h"

#define BACKOFF_MIN 100
#define BACKOFF_MAX 5000

typedef struct creq creq_t;

typedef struct sccli {
	dialer_t d;
	int stack;
	char name[300];
	sctp_proto_keys_t keys;
	sctp_assoc_cfg_t cfg;
	sctp_association_t *a;
	uv_getaddrinfo_t *gai;
	uv_timer_t timer;
	uint64_t backoff_ms, last_dial, keep_ms;
	queue_t waiting; /* creq_t.link: waiting for the association or an id */
	queue_t flight;  /* creq_t.link: OPEN sent, no answer yet */
	uint64_t opens, fails, assocs, up_since;
	uint64_t bytes_in, bytes_out; /* the ended associations' */
	char why[160];                /* why the last association ended, or "" */
	unsigned started : 1, closing : 1;
} sccli_t;

struct creq {
	queue_t link; /* in cl->waiting or cl->flight */
	sccli_t *cl;
	target_t t;
	uint64_t id;
	dial_cb cb;
	dgram_cb fcb; /* a datagram flow's open, instead of cb */
	void *ud;
	stream_t *st;        /* in flight */
	stream_fail_t *fail; /* the dial's, or NULL */
	rev_claim_t *claim;  /* a reverse listener's LISTEN, instead of an OPEN */
	int waiting;
};

static void flow_opened(creq_t *q, stream_t *s, int err);
static sctp_listen_res_t *rev_res(rev_claim_t *c);
static int rev_udp(rev_claim_t *c);

static void connect_now(sccli_t *cl);
static void issue_waiting(sccli_t *cl);

/* ---- request lists ---- */

static void list_del(sccli_t *cl, creq_t *q)
{
	queue_remove(&q->link);
}

static void wait_push(sccli_t *cl, creq_t *q, int front)
{
	q->waiting = 1;
	if (front)
		queue_insert_head(&cl->waiting, &q->link);
	else
		queue_insert_tail(&cl->waiting, &q->link);
}

static void flight_push(sccli_t *cl, creq_t *q)
{
	q->waiting = 0;
	queue_insert_head(&cl->flight, &q->link);
}

static creq_t *first_of(queue_t *h)
{
	queue_t *q = queue_first(h);

	return q ? queue_data(q, creq_t, link) : NULL;
}

/* ---- opens ---- */

static void on_open(void *ud, stream_t *s, int err)
{
	creq_t *q = ud;
	sccli_t *cl = q->cl;

	list_del(cl, q);
	q->st = NULL;
	if (err == UV_ECONNABORTED && !cl->closing) {
		/* the association died before the server answered: try again */
		wait_push(cl, q, 1);
		connect_now(cl);
		return;
	}
	if (err < 0 && q->fail) /* the server's OPEN_FAIL */
		*q->fail = (stream_fail_t){cl->name, 0};
	if (err < 0)
		cl->fails++;
	else
		cl->opens++;
	if (q->fcb)
		flow_opened(q, s, err);
	else
		q->cb(q->ud, s, err);
	free(q);
}

static int issue(sccli_t *cl, creq_t *q)
{
	int r = q->fcb     ? sctp_assoc_open_dgram(cl->a, q->id, on_open, q, &q->st)
	        : q->claim ? sctp_assoc_listen(cl->a, &q->t, rev_udp(q->claim), q->id,
	                                       rev_res(q->claim), on_open, q, &q->st)
	                   : sctp_assoc_open(cl->a, &q->t, q->id, on_open, q, &q->st);

	if (r < 0)
		return r;
	flight_push(cl, q);
	return 0;
}

static void issue_waiting(sccli_t *cl)
{
	while (!queue_empty(&cl->waiting) && sctp_assoc_is_up(cl->a)) {
		creq_t *q = first_of(&cl->waiting);
		list_del(cl, q);
		if (issue(cl, q) < 0) {
			wait_push(cl, q, 1);
			return;
		}
	}
}

/* ---- the association ---- */

static void cli_up(sctp_association_t *a, void *ud)
{
	sccli_t *cl = ud;

	cl->backoff_ms = 0;
	cl->assocs++;
	cl->up_since = uv_now(cl->d.loop);
	cl->why[0] = 0;
	issue_waiting(cl);
}

static void cli_avail(sctp_association_t *a, void *ud)
{
	issue_waiting(ud);
}

/* Worth redialing: a dial waits, or one came lately. */
static int wanted(sccli_t *cl)
{
	return !queue_empty(&cl->waiting) || uv_now(cl->d.loop) - cl->last_dial < cl->keep_ms;
}

static void on_backoff(uv_timer_t *t)
{
	sccli_t *cl = t->data;

	if (wanted(cl))
		connect_now(cl);
	else
		log_debug(0, "%s: idle, not redialing until the next connection", cl->name);
}

static void retry_later(sccli_t *cl)
{
	cl->backoff_ms = cl->backoff_ms ? cl->backoff_ms * 2 : BACKOFF_MIN;
	if (cl->backoff_ms > BACKOFF_MAX)
		cl->backoff_ms = BACKOFF_MAX;
	uv_timer_start(&cl->timer, on_backoff, cl->backoff_ms, 0);
}

static void cli_down(sctp_association_t *a, void *ud, int err, const char *why)
{
	sccli_t *cl = ud;
	uint64_t in, out;

	sctp_assoc_bytes(a, &in, &out);
	cl->bytes_in += in;
	cl->bytes_out += out;
	if (cl->a == a)
		cl->a = NULL;
	snprintf(cl->why, sizeof(cl->why), "%s", why ? why : uv_strerror(err));
	if (!cl->closing)
		retry_later(cl);
}

static const sctp_assoc_ops_t cli_ops = {.up = cli_up, .down = cli_down, .avail = cli_avail};

static void connect_addr(sccli_t *cl, const struct sockaddr *sa)
{
	int r = sctp_assoc_connect(sa, cl->stack, &cl->cfg, &cli_ops, cl, &cl->a);

	if (r < 0) {
		log_warn(0, "%s: cannot start an association: %s", cl->name, strerror(-r));
		cl->a = NULL;
		retry_later(cl);
		return;
	}
	log_debug(0, "%s: associating (%s)", cl->name, sctp_stack_names[cl->stack]);
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
	sccli_t *cl = g->data;

	free(g);
	cl->gai = NULL;
	if (cl->closing) {
		if (res)
			uv_freeaddrinfo(res);
		return;
	}
	if (status < 0 || !res) {
		log_warn(0, "%s: cannot resolve %s: %s", cl->name, cl->d.server.host,
		         uv_strerror(status));
		retry_later(cl);
		return;
	}
	connect_addr(cl, res->ai_addr);
	uv_freeaddrinfo(res);
}

static void connect_now(sccli_t *cl)
{
	struct sockaddr_storage ss;
	char err[200], port[8];
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};

	if (cl->a || cl->gai || cl->closing || uv_is_active((uv_handle_t *)&cl->timer))
		return;
	if (!cl->started) {
		if (sctp_rt_init(cl->d.loop, cl->stack, 0, err, sizeof(err)) < 0) {
			log_err(0, "%s: %s", cl->name, err);
			return;
		}
		cl->started = 1;
	}
	if (target_is_ip(&cl->d.server, &ss)) {
		connect_addr(cl, (struct sockaddr *)&ss);
		return;
	}
	cl->gai = malloc(sizeof(*cl->gai));
	if (!cl->gai)
		abort();
	cl->gai->data = cl;
	snprintf(port, sizeof(port), "%u", cl->d.server.port);
	if (uv_getaddrinfo(cl->d.loop, cl->gai, on_resolved, cl->d.server.host, port, &hints) < 0) {
		free(cl->gai);
		cl->gai = NULL;
		retry_later(cl);
	}
}

/* ---- dialer ops ---- */

/* A request (t NULL: a datagram flow's): issued now, or queued for the
 * association or a free stream id. */
static void submit_req(sccli_t *cl, creq_t *q, const target_t *t, const dial_opts_t *o, dial_cb cb,
                       dgram_cb fcb, void *ud)
{
	cl->last_dial = uv_now(cl->d.loop);
	q->cl = cl;
	if (t)
		q->t = *t;
	q->id = o->id;
	q->fail = o->fail;
	q->cb = cb;
	q->fcb = fcb;
	q->ud = ud;
	if (!sctp_assoc_is_up(cl->a) || !queue_empty(&cl->waiting) || issue(cl, q) < 0) {
		wait_push(cl, q, 0);
		connect_now(cl);
	}
}

static dial_t *submit(sccli_t *cl, const target_t *t, const dial_opts_t *o, dial_cb cb,
                      dgram_cb fcb, void *ud)
{
	creq_t *q = calloc(1, sizeof(*q));

	if (!q)
		abort();
	submit_req(cl, q, t, o, cb, fcb, ud);
	return (dial_t *)q;
}

static dial_t *sc_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud)
{
	return submit((sccli_t *)d, t, o, cb, NULL, ud);
}

static void sc_cancel(dialer_t *d, dial_t *req)
{
	sccli_t *cl = (sccli_t *)d;
	creq_t *q = (creq_t *)req;

	list_del(cl, q);
	if (q->st)
		sctp_open_cancel(q->st);
	free(q);
}

/* ---- datagram flows ---- */

typedef struct scflow {
	dgram_t f;
	stream_t *s; /* the association's stream */
} scflow_t;

static void scf_dgram(void *ud, const target_t *src, sbuf_t *b)
{
	scflow_t *sf = ud;
	struct sockaddr_storage ss;

	if (!target_is_ip(src, &ss)) {
		dgram_drop(&sf->f, DGRAM_DROP_BAD, b);
		return;
	}
	dgram_deliver(&sf->f, (struct sockaddr *)&ss, b);
}

static void scf_read(stream_t *s, sbuf_t *b)
{
	scflow_t *sf = s->data;

	sbuf_free(b);
	dgram_fail(&sf->f, UV_EPROTO); /* no stream bytes on a datagram association */
}

static void scf_error(stream_t *s, int err)
{
	dgram_fail(&((scflow_t *)s->data)->f, err);
}

static const stream_cbs_t scf_cbs = {scf_read, NULL, scf_error};

static int scf_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	scflow_t *sf = (scflow_t *)f;
	int r = sctp_dgram_send(sf->s, dst, b);

	if (r < 0) {
		dgram_drop(f, dgram_drop_why(r), NULL);
		return r == UV_EMSGSIZE ? r : 0;
	}
	f->sent++;
	return 0;
}

static void scf_close(dgram_t *f)
{
	scflow_t *sf = (scflow_t *)f;

	stream_close(sf->s);
	free(sf);
}

static const dgram_ops_t scf_ops = {"sctp-udp", scf_send, scf_close};

static void flow_opened(creq_t *q, stream_t *s, int err)
{
	scflow_t *sf;

	if (err < 0) {
		q->fcb(q->ud, NULL, err);
		return;
	}
	sf = calloc(1, sizeof(*sf));
	if (!sf)
		abort();
	dgram_init(&sf->f, &scf_ops, q->id);
	sf->s = s;
	stream_set_cbs(s, &scf_cbs, sf);
	sctp_dgram_set(s, scf_dgram, sf);
	stream_read_start(s);
	q->fcb(q->ud, &sf->f, 0);
}

static dial_t *sc_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	return submit((sccli_t *)d, NULL, o, NULL, cb, ud);
}

/* ---- reverse forwards (core/reverse.h) ----
 *
 * A claim is a stream whose first record is LISTEN, queued and reissued
 * after a lost association as an open is; the server's ACCEPTs are its
 * reads, our REFUSEs its writes, and its end (the server's CLOSE, the
 * association lost) ends the claim.  A connection taken is a stream whose
 * first record is JOIN, written at once.  A UDP claim's first record is
 * LISTEN_UDP, and its stream carries the public peers' datagrams both
 * ways (unordered, never retransmitted), the peer's address in front. */

struct rev_claim {
	sccli_t *cl;
	creq_t *q;   /* the LISTEN in the queue or in flight, or */
	stream_t *s; /* the listener's stream, once the server listens */
	const rev_cbs_t *cbs;
	void *ud;
	sctp_listen_res_t res;
	int udp;
};

static sctp_listen_res_t *rev_res(rev_claim_t *c)
{
	return &c->res;
}

static int rev_udp(rev_claim_t *c)
{
	return c->udp;
}

/* A datagram from a UDP claim's public peer. */
static void claim_dgram(void *ud, const target_t *peer, sbuf_t *b)
{
	rev_claim_t *c = ud;

	c->cbs->dgram(c->ud, peer, b);
}

static void claim_end(rev_claim_t *c, int err, const char *why)
{
	c->cbs->ended(c->ud, err, why);
	if (c->s)
		stream_close(c->s);
	free(c);
}

static void claim_read(stream_t *s, sbuf_t *b)
{
	rev_claim_t *c = s->data;
	char peer[SCTP_PROTO_PEER_MAX + 1];
	uint64_t conn;

	if (!b) {
		claim_end(c, UV_ECONNRESET, "the server closed the listener");
		return;
	}
	if (sctp_proto_conn_parse(sbuf_ptr(b), b->len, &conn, peer, sizeof(peer)) < 0) {
		sbuf_free(b);
		log_info(0, "%s: a bad ACCEPT on a reverse listener", c->cl->name);
		claim_end(c, UV_EPROTO, "the server sent a bad ACCEPT");
		return;
	}
	sbuf_free(b);
	c->cbs->accept(c->ud, conn, peer);
}

static void claim_error(stream_t *s, int err)
{
	claim_end(s->data, err, "the association to the server was lost");
}

static const stream_cbs_t claim_cbs = {claim_read, NULL, claim_error};

static void claim_opened(void *ud, stream_t *s, int err)
{
	rev_claim_t *c = ud;
	char why[200];

	c->q = NULL; /* on_open frees it */
	if (err < 0) {
		snprintf(why, sizeof(why), "%s", c->res.why[0] ? c->res.why : dial_error_text(err));
		claim_end(c, err, why);
		return;
	}
	c->s = s;
	stream_set_cbs(s, &claim_cbs, c);
	if (c->udp)
		sctp_dgram_set(s, claim_dgram, c);
	stream_read_start(s);
	c->cbs->claimed(c->ud, &c->res.bound);
}

static rev_claim_t *claim_start(dialer_t *d, int udp, const target_t *bind, const rev_cbs_t *cbs,
                                void *ud)
{
	sccli_t *cl = (sccli_t *)d;
	rev_claim_t *c = calloc(1, sizeof(*c));
	dial_opts_t o = {0};

	if (!c)
		abort();
	c->cl = cl;
	c->cbs = cbs;
	c->ud = ud;
	c->udp = udp;
	c->q = calloc(1, sizeof(*c->q));
	if (!c->q)
		abort();
	c->q->claim = c;
	submit_req(cl, c->q, bind, &o, claim_opened, NULL, c);
	return c;
}

static rev_claim_t *sc_rlisten(dialer_t *d, const target_t *bind, const rev_cbs_t *cbs, void *ud)
{
	return claim_start(d, 0, bind, cbs, ud);
}

static rev_claim_t *sc_rlisten_udp(dialer_t *d, const target_t *bind, const rev_cbs_t *cbs,
                                   void *ud)
{
	return claim_start(d, 1, bind, cbs, ud);
}

/* An answer to a UDP claim's public peer: a datagram on the claim's
 * stream (dropped, and counted, when the association has no room). */
static int sc_rsend(dialer_t *d, rev_claim_t *c, const target_t *peer, sbuf_t *b)
{
	int r;

	if (!c->s) {
		sbuf_free(b);
		return UV_ENOTCONN;
	}
	if ((r = sctp_dgram_send(c->s, peer, b)) < 0)
		dgram_drops[dgram_drop_why(r)]++;
	return r;
}

static void sc_rrelease(dialer_t *d, rev_claim_t *c)
{
	if (c->q)
		sc_cancel(d, (dial_t *)c->q);
	if (c->s)
		stream_close(c->s);
	free(c);
}

static stream_t *sc_rjoin(dialer_t *d, rev_claim_t *c, uint64_t conn, uint64_t id)
{
	sccli_t *cl = (sccli_t *)d;
	stream_t *s;

	if (!sctp_assoc_is_up(cl->a) || sctp_assoc_join(cl->a, conn, id, &s) < 0)
		return NULL;
	return s;
}

static void sc_rrefuse(dialer_t *d, rev_claim_t *c, uint64_t conn)
{
	uint8_t body[SCTP_PROTO_CONN_ID];

	if (c->s)
		stream_write(
		    c->s, sbuf_from(body, sctp_proto_conn_encode(conn, NULL, body, sizeof(body))));
}

static const rev_hop_ops_t sc_rev_ops = {.listen = sc_rlisten,
                                         .release = sc_rrelease,
                                         .join = sc_rjoin,
                                         .refuse = sc_rrefuse,
                                         .listen_udp = sc_rlisten_udp,
                                         .send = sc_rsend};

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

static const metric_t hop_metrics[] = {
    METRIC(sccli_t, assocs, "sluice_sctp_client_associations_total", "counter",
           "Associations to the server brought up."),
    METRIC(sccli_t, opens, "sluice_sctp_client_opens_total", "counter", "Streams opened."),
    METRIC(sccli_t, fails, "sluice_sctp_client_open_failures_total", "counter",
           "Stream opens the server refused or that failed."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	sccli_t *cl = ud;
	char lab[640];

	metrics_label(lab, sizeof(lab), "hop", cl->name);
	metrics_sample(b, "sluice_sctp_client_up", "gauge",
	               "1 while the association to the server is up.", lab,
	               (uint64_t)sctp_assoc_is_up(cl->a));
	metrics_sample(b, "sluice_sctp_client_streams", "gauge", "Streams open now.", lab,
	               cl->a ? sctp_assoc_nstreams(cl->a) : 0);
	METRICS_TABLE(b, hop_metrics, cl, lab);
	metrics_sample(b, "sluice_sctp_client_buffered_bytes", "gauge",
	               "Bytes received on the association, not yet taken by their readers.", lab,
	               cl->a ? sctp_assoc_stats(cl->a)->buffered : 0);
}

static void sc_free(dialer_t *d)
{
	sccli_t *cl = (sccli_t *)d;

	metrics_unregister(metrics_fn, cl);
	cl->closing = 1;
	while (!queue_empty(&cl->waiting)) {
		creq_t *q = first_of(&cl->waiting);
		list_del(cl, q);
		free(q);
	}
	while (!queue_empty(&cl->flight)) {
		creq_t *q = first_of(&cl->flight);
		list_del(cl, q);
		if (q->st)
			sctp_open_cancel(q->st);
		free(q);
	}
	if (cl->a)
		sctp_assoc_close(cl->a, "hop closed");
	cl->a = NULL;
	if (cl->gai)
		uv_cancel((uv_req_t *)cl->gai);
	uv_close((uv_handle_t *)&cl->timer, free_on_close);
}

/* The association comes up on the first dial: idle until one is wanted. */
static void sc_session(const dialer_t *d, hop_session_t *s)
{
	const sccli_t *cl = (const sccli_t *)d;
	int up = sctp_assoc_is_up(cl->a);
	uint64_t in, out;

	s->kind = "sctp";
	s->ok = up || !wanted((sccli_t *)cl);
	s->state = up ? "up" : !s->ok ? (cl->why[0] ? "down" : "starting") : "idle";
	if (!up)
		snprintf(s->why, sizeof(s->why), "%s", cl->why);
	else
		s->since = cl->up_since;
	sctp_assoc_bytes(cl->a, &in, &out);
	s->bytes_in = cl->bytes_in + in;
	s->bytes_out = cl->bytes_out + out;
}

static const dialer_ops_t sctp_ops = {.scheme = "sctp",
                                      .dial = sc_dial,
                                      .cancel = sc_cancel,
                                      .free = sc_free,
                                      .dgram = sc_dgram,
                                      .dgram_cancel = sc_cancel,
                                      .session = sc_session,
                                      .reverse = &sc_rev_ops};

typedef struct sccli_opts {
	sctp_assoc_opts_t assoc;
	sctp_stack_opts_t stack;
	uint64_t keep_ms;
} sccli_opts_t;

static const opt_include_t udp_inc[] = {
    OPT_INCLUDE(sccli_opts_t, assoc, &sctp_assoc_opts),
    {NULL, 0},
};

static const opt_t cli_table[] = {
    OPT_DURATION(sccli_opts_t, keep_ms, "keep", "60s",
                 "how long after its last connection the hop still redials a lost association"),
};

const opt_schema_t sctp_udp_hop_opts = OPT_SCHEMA_WITH(udp_inc, cli_table);

static const opt_include_t raw_inc[] = {
    OPT_INCLUDE(sccli_opts_t, stack, &sctp_stack_opts),
    {NULL, 0},
};

const opt_schema_t sctp_hop_opts = {.base = &sctp_udp_hop_opts, .also = raw_inc};

static int hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                   size_t errlen, int udp)
{
	sccli_t *cl;
	sctp_assoc_cfg_t cfg = {0};
	sctp_proto_keys_t keys;
	sccli_opts_t o = {.keep_ms = 0}; /* and every other field 0 */
	int r, stack;

	*out = NULL;
	if (next && !(dialer_caps(next) & HOP_HOST)) {
		snprintf(err, errlen,
		         "%s:// must be the first hop (SCTP does not run through %s://)", u->scheme,
		         dialer_scheme(next));
		return -EINVAL;
	}
	if (u->port <= 0 || !u->host[0]) {
		snprintf(err, errlen, "a server address is required (%s://HOST:PORT?key=KEY)",
		         u->scheme);
		return -EINVAL;
	}
	if ((r = opts_parse(udp ? &sctp_udp_hop_opts : &sctp_hop_opts, u, &o, err, errlen)) < 0 ||
	    (r = sctp_stack_pick(o.stack.stack, udp, &stack, err, errlen)) < 0 ||
	    (r = sctp_assoc_cfg_load(&o.assoc, 0, &cfg, &keys, err, errlen)) < 0)
		return r;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		abort();
	queue_init(&cl->waiting);
	queue_init(&cl->flight);
	cl->keys = keys;
	cl->cfg = cfg;
	cl->cfg.keys = &cl->keys;
	OPENSSL_cleanse(&keys, sizeof(keys));
	cl->d.ops = &sctp_ops;
	cl->d.scheme = udp ? "sctp+udp" : "sctp";
	cl->d.next = next;
	cl->d.loop = loop;
	cl->stack = stack;
	cl->keep_ms = o.keep_ms;
	target_set(&cl->d.server, u->host, (uint16_t)u->port);
	snprintf(cl->name, sizeof(cl->name), "%s://%s%s%s:%d", u->scheme,
	         strchr(u->host, ':') ? "[" : "", u->host, strchr(u->host, ':') ? "]" : "",
	         u->port);
	url_name_escape(cl->name, sizeof(cl->name));
	cl->cfg.name = cl->name;
	uv_timer_init(loop, &cl->timer);
	cl->timer.data = cl;
	metrics_register(metrics_fn, cl);
	*out = &cl->d;
	return 0;
}

int sctp_udp_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                     size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, 1);
}

int sctp_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                 size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, 0);
}
