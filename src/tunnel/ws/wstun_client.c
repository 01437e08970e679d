/* wstun_client: the client end of the WebSocket tunnel, as a hop.
 *
 * Three pieces:
 *   opener   brings one WebSocket up: dial the server through the rest of
 *            the chain, [TLS], the upgrade request with the open token, the
 *            101 with the server's answer token (ws_open_t does the
 *            WebSocket part), then attaches the socket to a tunnel stream
 *            (wstun).  A fresh dial puts its target and the bytes the
 *            application has already written into the token (0-RTT); a
 *            pool fill carries no target.
 *   pool     `pool=N` keeps N authenticated, idle WebSockets ready; a dial
 *            takes one and sends an OPEN record at once.  Entries older than
 *            `pool-idle` are replaced; failures back off up to 30 s.
 *   request  one dial (a ws_req_t).  With fast-open (the default) the
 *            caller gets the tunnel stream at once, so the application's
 *            first bytes flow while the WebSocket is still opening; an open
 *            the server refuses then shows as a reset.  With fast-open=0 the caller
 *            waits for OPEN_OK and gets the server's exact error.
 *   flow     one datagram association (core/dgram.h) on one WebSocket, a
 *            pooled one or a fresh one whose token carries no open: a
 *            UDP_OPEN record, then DGRAM records both ways.  The flow is
 *            ready once UDP_OPEN is sent; the server holds what comes
 *            before its own flow is up, and a refusal (OPEN_FAIL) ends the
 *            flow.  A datagram that finds more than DGRAM_QUEUE_MAX bytes
 *            waiting on the WebSocket is dropped, never queued.
 * The reverse forwards' client side (-R) is wstun_client_rev.c.
 */
#include "tunnel/ws/wstun_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/aead.h"
#include "core/dgram.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tls.h"
#include "core/tunkey.h"
#include "tunnel/ws/ws_hop.h"
#include "tunnel/ws/wstun.h"
#include "tunnel/ws/wstun_client_priv.h"
#include "wire/socks_proto.h"

#define BACKOFF_MIN 500
#define BACKOFF_MAX 30000

typedef struct pent {
	ws_pooled_t p; /* in the hop's pool */
	wstun_t *t;
} pent_t;

typedef struct wreq {
	ws_req_t r; /* first: the request's memory goes with it */
	wcli_t *cl;
	wstun_t *t;
	struct opener *op;   /* while a fresh WebSocket is opening for us */
	stream_fail_t *fail; /* the dial's, or NULL */
} wreq_t;

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- opener ---- */

static void opener_free(opener_t *op)
{
	ws_open_close(&op->o);
	free(op);
}

static void opener_fail(opener_t *op, int err, const char *why)
{
	log_info(op->id, "%s: %s", op->cl->h.name, why);
	if (op->t)
		wstun_set_canceler(op->t, NULL, NULL);
	op->done(op, err);
	opener_free(op);
}

/* The stream was closed by its owner while opening. */
static void opener_cancel(void *arg)
{
	opener_t *op = arg;

	op->t = NULL;
	opener_free(op); /* and the dial under way, if any */
}

static void on_open_fail(ws_open_t *o, int err, const char *why)
{
	opener_fail(o->data, err, why);
}

/* The 101 is right: check the server's answer token, attach.  A server
 * that did not take the open in the token (it could not rule out a
 * replay) gets it again as the first record, under the session keys. */
static void on_open_up(ws_open_t *o, sbuf_t *b)
{
	opener_t *op = o->data;
	wcli_t *cl = op->cl;
	uint8_t ans[WSTUN_ANSWER + 8], sn[WSTUN_NONCE], status = 0;
	wstun_sess_t sess = {.enc = cl->enc};
	char *sid = strstr(o->hdr_val, "sid=");
	int al;

	if (!sid || (al = b64_decode(sid + 4, strcspn(sid + 4, "; "), ans, sizeof(ans))) < 0 ||
	    wstun_answer_check(&cl->keys, op->nonce, ans, (size_t)al, sn, &status) < 0) {
		sbuf_free(b);
		opener_fail(op, UV_EACCES, "server's answer is not authentic (another key?)");
		return;
	}
	if ((status & WSTUN_A_AES) && !(cl->enc && cl->aes)) {
		sbuf_free(b);
		opener_fail(op, UV_EPROTO,
		            "server chose AES-128-GCM records, which were not offered");
		return;
	}
	sess.aes = !!(status & WSTUN_A_AES);
	if (sess.enc) {
		wstun_dir_key(&cl->keys, WSTUN_K_C2S, op->nonce, sn, sess.tx_key);
		wstun_dir_key(&cl->keys, WSTUN_K_S2C, op->nonce, sn, sess.rx_key);
	}
	if (op->open_len && !(status & WSTUN_A_EARLY)) {
		log_debug(op->id, "%s: the server did not take the 0-RTT open; sending it again",
		          cl->h.name);
		sess.open = op->open;
		sess.open_len = op->open_len;
		sess.open_type = op->rec_type;
	}
	wstun_set_canceler(op->t, NULL, NULL);
	if (wstun_attach(op->t, cl->h.d.loop, ws_open_take(o), b, 1, &cl->h.wo, &sess) < 0) {
		opener_fail(op, UV_EPROTO, "could not attach the websocket");
		return;
	}
	op->done(op, 0);
	opener_free(op);
}

static void send_upgrade(ws_open_t *o)
{
	opener_t *op = o->data;
	wcli_t *cl = op->cl;
	uint8_t first[WSTUN_FIRST_MAX], tok[WSTUN_TOKEN_MAX];
	char tok64[(WSTUN_TOKEN_MAX * 4) / 3 + 8], *extra;
	wstun_bind_t bind = {cl->h.host_hdr, strlen(cl->h.host_hdr), cl->path, strlen(cl->path)};
	size_t fl = 0, cap;
	int ol = 0, tl, n;

	random_bytes(op->nonce, sizeof(op->nonce));
	ws_make_key(o->key);
	if (op->has_target) {
		fl = wstun_take_queued(op->t, first, sizeof(first));
		ol = wstun_open_encode(&op->target, first, fl, op->open, sizeof(op->open));
		op->open_len = ol > 0 ? (size_t)ol : 0;
	}
	tl = wstun_token_build(
	    &cl->keys, &bind, cl->enc ? WSTUN_F_ENC | (cl->aes ? WSTUN_F_AES : 0) : 0, wall_ms(),
	    op->nonce, op->open_len ? op->open : NULL, op->open_len, tok, sizeof(tok));
	if (tl < 0) {
		opener_fail(op, UV_EINVAL, "could not build the open token");
		return;
	}
	b64url_encode(tok, (size_t)tl, tok64);
	cap = strlen(tok64) + 64;
	extra = malloc(cap);
	if (!extra)
		abort();
	snprintf(extra, cap, "Cookie: sid=%s\r\n", tok64);
	n = ws_open_send(o, cap + 1024, cl->h.host_hdr, cl->path, extra);
	free(extra);
	if (n < 0) {
		opener_fail(op, UV_EINVAL, "upgrade request too long");
		return;
	}
	log_debug(op->id, "%s: upgrade with %s, %zu first bytes", cl->h.name,
	          op->has_target ? "open" : "no target (pool)", fl);
}

static const ws_open_ops_t open_ops = {send_upgrade,
                                       on_open_up,
                                       on_open_fail,
                                       "Set-Cookie",
                                       "server closed the connection during the upgrade",
                                       "server refused the tunnel (%s): wrong key, path or clock?"};

opener_t *wcli_opener_start(wcli_t *cl, wstun_t *t, uint64_t id, const target_t *target,
                            void (*done)(opener_t *, int), void *ud)
{
	opener_t *op = calloc(1, sizeof(*op));

	if (!op)
		abort();
	op->cl = cl;
	op->t = t;
	op->id = id;
	op->done = done;
	op->ud = ud;
	if (target) {
		op->target = *target;
		op->has_target = 1;
	}
	wstun_set_canceler(t, opener_cancel, op);
	if (ws_open_start(&op->o, &cl->h.d, cl->h.tls, &cl->h.names, id, &open_ops, op) < 0) {
		/* could not even start */
		wstun_set_canceler(t, NULL, NULL);
		free(op);
		return NULL;
	}
	return op;
}

/* ---- pool ---- */

static void pool_fill(wcli_t *cl);

static void pool_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	wcli_t *cl = wstun_owner(t);
	queue_t *q;

	if (type != 0)
		return; /* nothing is expected on an idle connection */
	queue_foreach (q, &cl->h.pool) {
		pent_t *e = queue_data(q, pent_t, p);
		if (e->t == t) {
			ws_hop_pool_remove(&cl->h, &e->p);
			stream_close(wstun_stream(e->t));
			free(e);
			log_debug(0, "%s: pooled websocket closed by the server", cl->h.name);
			break;
		}
	}
	pool_fill(cl);
}

static void pool_opened(opener_t *op, int err)
{
	wcli_t *cl = op->cl;
	pent_t *e;

	cl->nfilling--;
	if (err < 0) {
		stream_close(wstun_stream(op->t));
		cl->backoff_ms = cl->backoff_ms ? cl->backoff_ms * 2 : BACKOFF_MIN;
		if (cl->backoff_ms > BACKOFF_MAX)
			cl->backoff_ms = BACKOFF_MAX;
		cl->retry_at = uv_now(cl->h.d.loop) + cl->backoff_ms;
		return;
	}
	cl->backoff_ms = 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	e->t = op->t;
	wstun_set_owner(e->t, pool_ctl, cl);
	ws_hop_pool_put(&cl->h, &e->p);
}

static void pool_fill(wcli_t *cl)
{
	if (cl->h.closing || uv_now(cl->h.d.loop) < cl->retry_at)
		return;
	while (cl->h.npool + cl->nfilling < cl->pool_size) {
		wstun_t *t = wstun_new(cl->h.d.loop, 0, pool_ctl, cl);
		if (!wcli_opener_start(cl, t, 0, NULL, pool_opened, NULL)) {
			stream_close(wstun_stream(t));
			cl->retry_at = uv_now(cl->h.d.loop) + BACKOFF_MAX;
			return;
		}
		cl->nfilling++;
	}
}

static void pent_free(ws_hop_t *h, ws_pooled_t *p)
{
	pent_t *e = queue_data(p, pent_t, p);

	stream_close(wstun_stream(e->t));
	free(e);
}

static void on_pool_timer(uv_timer_t *h)
{
	wcli_t *cl = h->data;

	ws_hop_pool_expire(&cl->h, pent_free);
	pool_fill(cl);
}

wstun_t *wcli_pool_take(wcli_t *cl)
{
	ws_pooled_t *p = ws_hop_pool_take(&cl->h);
	pent_t *e = p ? queue_data(p, pent_t, p) : NULL;
	wstun_t *t;

	if (!e)
		return NULL;
	t = e->t;
	free(e);
	pool_fill(cl);
	return t;
}

/* ---- requests ---- */

/* After the caller has its stream: only failures matter. */
static void late_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	wcli_t *cl = wstun_owner(t);

	if (type == WSTUN_REC_OPEN_FAIL && len >= 1) {
		int err = tun_fail_err(body, len);

		log_info(wstun_stream(t)->id, "%s: the server could not connect: %s", cl->h.name,
		         dial_error_text(err));
		wstun_stream(t)->fail = (stream_fail_t){cl->h.name, 0};
		wstun_fail(t, err);
	}
}

static void on_answer(ws_req_t *r, int err)
{
	wreq_t *q = (wreq_t *)r;

	if (q->op) /* the opener outlives us: it must not call back */
		q->op->ud = NULL;
	q->op = NULL;
	wstun_set_owner(q->t, late_ctl, q->cl);
	ws_hop_count(&q->cl->h, err);
}

/* Control records while the caller waits (fast-open=0). */
static void req_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	wreq_t *q = wstun_owner(t);

	if (type == WSTUN_REC_OPEN_OK)
		ws_req_answer(&q->r, 0);
	else if (type == WSTUN_REC_OPEN_FAIL) {
		if (q->fail)
			*q->fail = (stream_fail_t){q->cl->h.name, 0};
		ws_req_answer(&q->r, tun_fail_err(body, len));
	} else if (type == 0)
		ws_req_answer(&q->r, UV_ECONNRESET);
}

static void fresh_opened(opener_t *op, int err)
{
	wreq_t *q = op->ud;

	if (q)
		q->op = NULL;
	if (q && !q->r.answered) {
		if (err < 0 && q->fail) /* the hop's own server */
			*q->fail = (stream_fail_t){op->cl->h.name, 1};
		if (err < 0)
			ws_req_answer(&q->r, err); /* closes the stream */
		return;                            /* else wait for OPEN_OK */
	}
	if (err < 0) { /* the caller already has the stream */
		wstun_stream(op->t)->fail = (stream_fail_t){op->cl->h.name, 1};
		wstun_fail(op->t, err);
	}
}

static dial_t *ws_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud)
{
	wcli_t *cl = (wcli_t *)d;
	wreq_t *q = calloc(1, sizeof(*q));
	uint8_t open[WSTUN_OPEN_MAX];
	int n;

	if (!q)
		abort();
	ws_req_init(&q->r, d->loop, cb, ud, on_answer);
	q->cl = cl;
	q->fail = o->fail;
	q->t = wcli_pool_take(cl);
	if (q->t) {
		q->r.s = wstun_stream(q->t);
		q->r.s->id = o->id;
		wstun_set_owner(q->t, req_ctl, q);
		n = wstun_open_encode(t, NULL, 0, open, sizeof(open));
		if (n < 0 || wstun_send_ctl(q->t, WSTUN_REC_OPEN, open, (size_t)n) < 0) {
			ws_req_answer_soon(&q->r, UV_ECONNRESET);
			return (dial_t *)q;
		}
		log_debug(o->id, "%s: open through a pooled websocket", cl->h.name);
	} else {
		q->t = wstun_new(d->loop, o->id, req_ctl, q);
		q->r.s = wstun_stream(q->t);
		if (!(q->op = wcli_opener_start(cl, q->t, o->id, t, fresh_opened, q))) {
			ws_req_answer_soon(&q->r, UV_ENOMEM);
			return (dial_t *)q;
		}
	}
	if (cl->fast_open)
		ws_req_answer_soon(&q->r, 0);
	return (dial_t *)q;
}

static void ws_cancel(dialer_t *d, dial_t *req)
{
	ws_req_cancel(&((wreq_t *)req)->r);
}

static const metric_t hop_metrics[] = {
    METRIC(ws_hop_t, npool, "sluice_ws_pool_size", "gauge",
           "Authenticated WebSockets waiting in the pool."),
    METRIC(ws_hop_t, opens, "sluice_ws_client_opens_total", "counter",
           "WebSockets opened by the hop."),
    METRIC(ws_hop_t, fails, "sluice_ws_client_open_failures_total", "counter",
           "WebSockets the hop could not open."),
};

static void ws_free_hop(dialer_t *d)
{
	wcli_t *cl = (wcli_t *)d;
	ws_pooled_t *p;

	ws_hop_stop(&cl->h);
	while ((p = ws_hop_pool_take(&cl->h)))
		pent_free(&cl->h, p);
	ws_hop_release(&cl->h);
}

/* ---- datagram flows ---- */

typedef struct wflow {
	dgram_t f;
	wcli_t *cl;
	wstun_t *t;
	opener_t *op;  /* while a fresh WebSocket opens */
	uv_timer_t tm; /* a pooled WebSocket: the open's answer on the next turn */
	dgram_cb cb;   /* until the flow is handed over */
	void *ud;
} wflow_t;

static void wflow_freed(uv_handle_t *h)
{
	free(h->data);
}

static void wflow_release(wflow_t *wf)
{
	if (wf->t)
		stream_close(wstun_stream(wf->t)); /* stops an opener too */
	wf->t = NULL;
	uv_close((uv_handle_t *)&wf->tm, wflow_freed);
}

static void wflow_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	wflow_t *wf = wstun_owner(t);
	struct sockaddr_storage ss;
	const uint8_t *data;
	size_t dlen;
	target_t src;

	switch (type) {
	case WSTUN_REC_DGRAM:
		if (wstun_dgram_parse(body, len, &src, &data, &dlen) < 0 ||
		    !target_is_ip(&src, &ss)) {
			dgram_drop(&wf->f, DGRAM_DROP_BAD, NULL);
			return;
		}
		dgram_deliver(&wf->f, (struct sockaddr *)&ss, dgram_buf(data, dlen));
		return;
	case WSTUN_REC_OPEN_OK:
		log_debug(wf->f.id, "%s: the server carries the datagrams", wf->cl->h.name);
		return;
	case WSTUN_REC_OPEN_FAIL:
		log_info(wf->f.id, "%s: the server refused the datagrams: %s (%.*s)",
		         wf->cl->h.name, len ? socks5_rep_str(body[0]) : "?",
		         len > 1 ? (int)(len - 1) : 0, len > 1 ? (const char *)body + 1 : "");
		dgram_fail(&wf->f, len ? socks5_err_from_rep(body[0]) : UV_EPROTO);
		return;
	case 0:
		dgram_fail(&wf->f, UV_ECONNRESET);
		return;
	default:
		log_info(wf->f.id, "%s: unexpected record %u on a datagram association",
		         wf->cl->h.name, type);
		dgram_fail(&wf->f, UV_EPROTO);
	}
}

/* Stream bytes have no place on a datagram association. */
static void wflow_read(stream_t *s, sbuf_t *b)
{
	wflow_t *wf = s->data;

	sbuf_free(b);
	dgram_fail(&wf->f, UV_EPROTO);
}

static void wflow_error(stream_t *s, int err)
{
	dgram_fail(&((wflow_t *)s->data)->f, err);
}

static const stream_cbs_t wflow_stream_cbs = {wflow_read, NULL, wflow_error};

static int wflow_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	wflow_t *wf = (wflow_t *)f;
	int r;

	if (!wf->t) {
		dgram_drop(f, DGRAM_DROP_QUEUE, b);
		return 0;
	}
	r = wstun_send_dgram(wf->t, dst, b);
	if (r == 0)
		f->sent++;
	else
		dgram_drop(f, dgram_drop_why(r), NULL);
	return r == UV_EMSGSIZE ? r : 0;
}

static void wflow_close(dgram_t *f)
{
	wflow_release((wflow_t *)f);
}

static const dgram_ops_t wflow_ops = {"ws-udp", wflow_send, wflow_close};

/* The WebSocket is up: say what it carries, hand the flow over. */
static void wflow_up(wflow_t *wf)
{
	dgram_cb cb = wf->cb;
	void *ud = wf->ud;
	int r;

	wf->cb = NULL;
	wstun_set_owner(wf->t, wflow_ctl, wf);
	stream_set_cbs(wstun_stream(wf->t), &wflow_stream_cbs, wf);
	stream_read_start(wstun_stream(wf->t));
	if ((r = wstun_send_ctl(wf->t, WSTUN_REC_UDP_OPEN, NULL, 0)) < 0) {
		wflow_release(wf);
		cb(ud, NULL, r);
		return;
	}
	wf->cl->h.opens++;
	cb(ud, &wf->f, 0);
}

static void wflow_opened(opener_t *op, int err)
{
	wflow_t *wf = op->ud;

	wf->op = NULL;
	if (err < 0) {
		dgram_cb cb = wf->cb;
		void *ud = wf->ud;
		wf->cl->h.fails++;
		wflow_release(wf);
		cb(ud, NULL, err);
		return;
	}
	wflow_up(wf);
}

static void wflow_pooled(uv_timer_t *h)
{
	wflow_up(h->data);
}

static dial_t *ws_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	wcli_t *cl = (wcli_t *)d;
	wflow_t *wf = calloc(1, sizeof(*wf));

	if (!wf)
		abort();
	dgram_init(&wf->f, &wflow_ops, o->id);
	wf->cl = cl;
	wf->cb = cb;
	wf->ud = ud;
	uv_timer_init(d->loop, &wf->tm);
	wf->tm.data = wf;
	if ((wf->t = wcli_pool_take(cl))) {
		wstun_stream(wf->t)->id = o->id;
		wstun_set_owner(wf->t, wflow_ctl, wf);
		uv_timer_start(&wf->tm, wflow_pooled, 0, 0);
		log_debug(o->id, "%s: datagrams through a pooled websocket", cl->h.name);
		return (dial_t *)wf;
	}
	wf->t = wstun_new(d->loop, o->id, wflow_ctl, wf);
	if (!(wf->op = wcli_opener_start(cl, wf->t, o->id, NULL, wflow_opened, wf))) {
		wflow_release(wf);
		return NULL;
	}
	return (dial_t *)wf;
}

static void ws_dgram_cancel(dialer_t *d, dial_t *req)
{
	wflow_release((wflow_t *)req);
}

/* ---- probes: a WebSocket opened with the key and no target, then closed ---- */

typedef struct wprobe {
	wstun_t *t;
	dial_cb cb;
	void *ud;
} wprobe_t;

static void probe_opened(opener_t *op, int err)
{
	wprobe_t *p = op->ud;
	dial_cb cb = p->cb;
	void *ud = p->ud;

	stream_close(wstun_stream(op->t));
	free(p);
	cb(ud, NULL, err);
}

static void probe_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len) {}

static dial_t *ws_probe(dialer_t *d, const dial_opts_t *o, dial_cb cb, void *ud)
{
	wcli_t *cl = (wcli_t *)d;
	wprobe_t *p = calloc(1, sizeof(*p));

	if (!p)
		abort();
	p->cb = cb;
	p->ud = ud;
	p->t = wstun_new(d->loop, o->id, probe_ctl, cl);
	if (!wcli_opener_start(cl, p->t, o->id, NULL, probe_opened, p)) {
		stream_close(wstun_stream(p->t));
		free(p);
		return NULL;
	}
	return (dial_t *)p;
}

/* Closing the stream while it opens ends the opener (opener_cancel). */
static void ws_probe_cancel(dialer_t *d, dial_t *req)
{
	wprobe_t *p = (wprobe_t *)req;

	stream_close(wstun_stream(p->t));
	free(p);
}

static const dialer_ops_t ws_ops = {.scheme = "ws",
                                    .dial = ws_dial,
                                    .cancel = ws_cancel,
                                    .free = ws_free_hop,
                                    .dgram = ws_dgram,
                                    .dgram_cancel = ws_dgram_cancel,
                                    .probe = ws_probe,
                                    .probe_cancel = ws_probe_cancel,
                                    .session = ws_hop_session,
                                    .reverse = &wcli_rev_ops};

typedef struct wcli_opts {
	tunkey_opts_t key;
	ws_opts_t wo;
	ws_tls_opts_t tls;
	uint64_t pool, pool_idle_ms;
	int fast_open, enc; /* enc: ENC_* */
	const char *host;
} wcli_opts_t;

enum { ENC_AUTO, ENC_CHACHA, ENC_AES, ENC_NONE };

static int parse_enc(void *obj, const char *v, char *err, size_t errlen)
{
	static const char *const names[] = {[ENC_AUTO] = "auto",
	                                    [ENC_CHACHA] = "chacha20-poly1305",
	                                    [ENC_AES] = "aes-128-gcm",
	                                    [ENC_NONE] = "none"};

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (!strcmp(v, names[i])) {
			((wcli_opts_t *)obj)->enc = i;
			return 0;
		}
	snprintf(err, errlen,
	         "option 'enc': use auto (default), chacha20-poly1305, aes-128-gcm or none");
	return -EINVAL;
}

static const opt_include_t ws_hop_inc[] = {
    OPT_INCLUDE(wcli_opts_t, key, &tunkey_opts),
    OPT_INCLUDE(wcli_opts_t, wo, &ws_keepalive_opts),
    {NULL, 0},
};

static const opt_t ws_hop_table[] = {
    OPT_UINT(wcli_opts_t, pool, "pool", 64, "0",
             "keep this many authenticated WebSockets open, ready for new connections"),
    OPT_DURATION(wcli_opts_t, pool_idle_ms, "pool-idle", "60s",
                 "replace a pooled WebSocket after this long unused"),
    OPT_BOOL(wcli_opts_t, fast_open, "fast-open", "1",
             "answer the application at once; 0 waits for the server's answer and reports its "
             "exact error"),
    OPT_FUNC_DOC("enc", parse_enc, "auto", "auto|chacha20-poly1305|aes-128-gcm|none",
                 "the records' cipher: auto offers AES-128-GCM where this CPU has AES "
                 "instructions (the server takes it where it has them too), else "
                 "ChaCha20-Poly1305; none turns the tunnel's own encryption off (wss:// only: TLS "
                 "then protects the data)"),
    OPT_STR(wcli_opts_t, host, "host", "the server's host[:port]", "NAME",
            "the HTTP Host header (for a CDN or reverse proxy); over wss:// the server's "
            "certificate is checked against this name (without its port), whatever sni sends"),
};

const opt_schema_t ws_hop_opts = OPT_SCHEMA_WITH(ws_hop_inc, ws_hop_table);

/* ca, insecure and sni exist for wss:// only: for ws:// they are unknown
 * options, as everywhere else they do not apply */
static const opt_include_t wss_hop_inc[] = {
    OPT_INCLUDE(wcli_opts_t, tls, &ws_tls_opts),
    {NULL, 0},
};

const opt_schema_t wss_hop_opts = {.base = &ws_hop_opts, .also = wss_hop_inc};

static int hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                   size_t errlen, int tls)
{
	wcli_t *cl = calloc(1, sizeof(*cl));
	wcli_opts_t o = {0};
	uint8_t k[KEY_MAX];
	size_t klen;
	int r;

	if (!cl)
		abort();
	*out = NULL;
	ws_hop_init(&cl->h, loop, next, &ws_ops, hop_metrics,
	            sizeof(hop_metrics) / sizeof(hop_metrics[0]));
	cl->h.d.scheme = tls ? "wss" : "ws";
	if ((r = ws_hop_server(&cl->h, u, tls, err, errlen)) < 0 ||
	    (r = opts_parse(tls ? &wss_hop_opts : &ws_hop_opts, u, &o, err, errlen)) < 0 ||
	    (r = tunkey_load(&o.key, 0, k, &klen, err, errlen)) < 0)
		goto fail;
	wstun_keys_init(&cl->keys, k, klen);
	cl->pool_size = o.pool;
	cl->h.pool_idle_ms = o.pool_idle_ms;
	cl->fast_open = o.fast_open;
	cl->h.wo =
	    (ws_opts_t){.max_message = 1 << 20, .ping_ms = o.wo.ping_ms, .dead_ms = o.wo.dead_ms};
	cl->enc = o.enc != ENC_NONE;
	cl->aes = o.enc == ENC_AES || (o.enc == ENC_AUTO && aead_hw_aes());
	if (!cl->enc && !tls) {
		snprintf(err, errlen,
		         "option 'enc=none' needs wss:// (TLS would be the only protection)");
		goto fail;
	}
	if ((r = ws_hop_host(&cl->h, u, o.host, tls, 0, err, errlen)) < 0)
		goto fail;
	snprintf(cl->path, sizeof(cl->path), "%s", u->path[0] ? u->path : "/");
	if (tls && (r = ws_hop_tls_load(&o.tls, u->host, o.host, tls, "wss://", &cl->h.tls,
	                                &cl->h.names, err, errlen)) < 0)
		goto fail;
	ws_hop_start(&cl->h, cl->pool_size ? on_pool_timer : NULL, 0, 1000);
	*out = &cl->h.d;
	return 0;
fail:
	ws_hop_release(&cl->h);
	return -EINVAL;
}

int ws_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err, size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, 0);
}

int wss_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err, size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, 1);
}
