/* wstan_client: wstan's hop.
 *
 * Idle tunnels wait in a pool and a dial takes one (REQ as a message);
 * otherwise an opener connects [TLS] (ws_open_t), answers the dial
 * (ws_req_t), waits up to first-wait for the application's first bytes
 * and sends the upgrade with REQ in the URI.  A datagram flow takes a
 * tunnel of its own (DGM messages).
 */
#include "tunnel/ws/wstan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/dgram.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tls.h"
#include "tunnel/ws/ws_hop.h"
#include "tunnel/ws/wstan_tun.h"

#define REQ_MAX (1 + WSTAN_TS + WSTAN_ADDR_MAX + WSTAN_FIRST_MAX + WSTAN_MAC)
#define NO_CACHE "Pragma: no-cache\r\nCache-Control: no-cache\r\n" /* as wstan sends */

typedef struct wcli {
	ws_hop_t h; /* first */
	wstan_key_t key;
	char base[512], cookie[64];
	int enc, compat;
	uint64_t first_wait_ms;
	size_t pool_max;
	queue_t tuns; /* wstan_tun_t.link: every tunnel */
} wcli_t;

typedef struct wreq wreq_t;

struct opener {
	ws_open_t o; /* the dial, [TLS], the upgrade */
	wcli_t *cl;
	wstan_tun_t *t;
	wreq_t *q;        /* the dial, until it is answered (NULL for a flow) */
	uv_timer_t *wait; /* first-wait */
	target_t target;
	sbuf_t *dgm;      /* a flow's first datagram, for the URI */
	unsigned udp : 1; /* a flow's: the URI has its DGM, or else an idle opener */
	uint8_t nonce[WSTAN_NONCE];
	unsigned connected : 1, waited : 1, sent : 1;
};

struct wreq {
	ws_req_t r; /* first: the request's memory goes with it */
	wcli_t *cl;
	wstan_stream_t *s;
	opener_t *op;
	stream_fail_t *fail; /* the dial's, or NULL */
};

/* ---- tunnels of the hop ---- */

static void cli_list_add(wcli_t *cl, wstan_tun_t *t)
{
	queue_insert_head(&cl->tuns, &t->link);
}

static void cli_pool_remove(wcli_t *cl, wstan_tun_t *t)
{
	ws_hop_pool_remove(&cl->h, &t->pooled);
}

/* Unlink and free a tunnel. */
static void cli_tun_drop(wcli_t *cl, wstan_tun_t *t)
{
	cli_pool_remove(cl, t);
	queue_remove(&t->link);
	wstan_tun_free(t);
}

static void uflow_recv(wstan_tun_t *t, const wstan_msg_t *m);
static void uflow_flush(uflow_t *uf);
static void tun_unflow(wstan_tun_t *t, int err);
static void opener_poke(opener_t *op);
static void opener_cancel(opener_t *op);

/* A DGM: a reply of our UDP association. */
static void cli_on_msg(wstan_tun_t *t, wstan_msg_t *m)
{
	uflow_recv(t, m);
}

static void cli_on_early(wstan_tun_t *t)
{
	opener_poke(t->op);
}

static void cli_on_cancel(wstan_tun_t *t)
{
	opener_cancel(t->op);
}

static void cli_on_idle(wstan_tun_t *t)
{
	wcli_t *cl = t->owner;

	if (cl->h.closing || cl->h.npool >= cl->pool_max) {
		wstan_tun_abort(t, 1000);
		return;
	}
	ws_hop_pool_put(&cl->h, &t->pooled);
	log_debug(t->id, "%s: tunnel back in the pool (%zu idle)", cl->h.name, cl->h.npool);
}

static void cli_on_close(wstan_tun_t *t)
{
	cli_tun_drop(t->owner, t);
}

static const wstan_tun_cbs_t cli_tun_cbs = {
    .on_msg = cli_on_msg,
    .on_idle = cli_on_idle,
    .on_close = cli_on_close,
    .on_early = cli_on_early,
    .on_cancel = cli_on_cancel,
    .on_unbind = tun_unflow,
};

static void cli_pool_expired(ws_hop_t *h, ws_pooled_t *e)
{
	wstan_tun_abort(queue_data(e, wstan_tun_t, pooled), 1000);
}

static void cli_on_pool_timer(uv_timer_t *h)
{
	ws_hop_pool_expire(h->data, cli_pool_expired);
}

/* ---- requests ---- */

static void on_answer(ws_req_t *r, int err)
{
	wreq_t *q = (wreq_t *)r;

	if (q->op)
		q->op->q = NULL;
	q->op = NULL;
	ws_hop_count(&q->cl->h, err);
}

/* ---- the opener ---- */

static void opener_free(opener_t *op)
{
	sbuf_free(op->dgm);
	ws_open_close(&op->o);
	uv_close((uv_handle_t *)op->wait, (uv_close_cb)free);
	free(op);
}

static void opener_fail(opener_t *op, int err, const char *why)
{
	wcli_t *cl = op->cl;
	wstan_tun_t *t = op->t;
	wreq_t *q = op->q;

	log_info(t->id, "%s: %s", cl->h.name, why);
	t->op = NULL;
	if (t->cur && !q) /* the caller has it: it gets err, from the hop */
		t->cur->m.s.fail = (stream_fail_t){cl->h.name, 1};
	if (q && q->fail)
		*q->fail = (stream_fail_t){cl->h.name, 1};
	if (t->cur)
		wstan_stream_detach(t->cur, q ? 0 : err);
	tun_unflow(t, err);
	if (!q)
		cl->h.fails++;
	opener_free(op);
	cli_tun_drop(cl, t);
	if (q) {
		q->op = NULL;
		ws_req_answer(&q->r, err);
	}
}

/* The stream was closed, or the dial canceled, while opening. */
static void opener_cancel(opener_t *op)
{
	wcli_t *cl = op->cl;
	wstan_tun_t *t = op->t;

	t->op = NULL;
	if (t->cur)
		wstan_stream_detach(t->cur, 0);
	if (op->q)
		op->q->op = NULL;
	opener_free(op);
	cli_tun_drop(cl, t);
}

static void on_open_fail(ws_open_t *o, int err, const char *why)
{
	opener_fail(o->data, err, why);
}

/* The 101 is right: the server's keystream, then the tunnel. */
static void on_open_up(ws_open_t *o, sbuf_t *b)
{
	opener_t *op = o->data;
	wcli_t *cl = op->cl;
	wstan_tun_t *t = op->t;
	wstan_stream_t *st = t->cur;
	uint8_t sn[WSTAN_NONCE];
	stream_t *s;

	if (cl->enc) {
		if (cl->compat)
			wstan_nonce_compat(op->nonce, sn);
		else
			wstan_nonce_default(o->key, sn);
		if (wstan_ctr_init(&t->rx, &cl->key, sn) < 0) {
			sbuf_free(b);
			opener_fail(op, UV_ENOMEM, "no cipher");
			return;
		}
	}
	s = ws_open_take(o);
	t->op = NULL;
	opener_free(op);
	wstan_tun_start(t, s, b, &cl->h.wo);
	log_debug(t->id, "%s: tunnel up", cl->h.name);
	if (t->flow) { /* the datagrams that came during the upgrade */
		cl->h.opens++;
		uflow_flush(t->flow);
		return;
	}
	/* what the application wrote meanwhile, and its end if it came */
	if (st) {
		sbuf_t *c;

		while ((c = msgstream_pop_held(&st->m))) {
			if (t->state == TUN_USING)
				wstan_tun_send_dat(t, sbuf_ptr(c), c->len);
			sbuf_free(c);
		}
	}
	if (st && st->shut && t->state == TUN_USING)
		wstan_tun_reset(t, "", "");
	if (st)
		msgstream_update_wq(&st->m);
}

static void send_upgrade(opener_t *op)
{
	wcli_t *cl = op->cl;
	wstan_tun_t *t = op->t;
	wstan_stream_t *st = t->cur;
	uint8_t first[WSTAN_FIRST_MAX], req[REQ_MAX];
	char nb64[32], extra[160], *path;
	size_t fl, plen, cap;
	int n, tries = 0;

	op->sent = 1;
	uv_timer_stop(op->wait);
	/* wstan's server takes the cookie's value with lstrip("NAME="), which
	 * eats leading characters of that set: such a nonce is drawn again */
	for (;;) {
		random_bytes(op->nonce, sizeof(op->nonce));
		b64_encode(op->nonce, sizeof(op->nonce), nb64);
		if (!cl->compat || !strchr(cl->cookie, nb64[0]) || ++tries >= 1000)
			break;
	}
	if (cl->compat)
		ws_make_key(op->o.key);
	else
		memcpy(op->o.key, nb64, WS_KEY_LEN + 1);
	if (cl->enc && wstan_ctr_init(&t->tx, &cl->key, op->nonce) < 0) {
		opener_fail(op, UV_ENOMEM, "no cipher");
		return;
	}
	fl = st ? msgstream_take(&st->m, first, sizeof(first)) : 0;
	if (op->udp && op->dgm) /* the first DGM */
		n = wstan_req_build(&t->tx, &cl->key, 1, wstan_wall_s(), &op->target,
		                    sbuf_ptr(op->dgm), op->dgm->len, req, sizeof(req));
	else if (op->udp) /* it was too big for a URI: an idle opener, it follows */
		n = wstan_req_build(&t->tx, &cl->key, 1, wstan_wall_s(), NULL, NULL, 0, req,
		                    sizeof(req));
	else
		n = wstan_req_build(&t->tx, &cl->key, 0, wstan_wall_s(), &op->target, first, fl,
		                    req, sizeof(req));
	if (n < 0) {
		opener_fail(op, UV_EINVAL, "cannot encode the request");
		return;
	}
	plen = strlen(cl->base) + ((size_t)n + 2) / 3 * 4 + 1;
	path = malloc(plen);
	cap = plen + 512;
	if (!path)
		abort();
	strcpy(path, cl->base);
	wstan_b64url_pad(req, (size_t)n, path + strlen(cl->base));
	if (cl->compat)
		snprintf(extra, sizeof(extra), "%sCookie: %s=%s\r\n", NO_CACHE, cl->cookie, nb64);
	else
		snprintf(extra, sizeof(extra), "%s", NO_CACHE);
	n = ws_open_send(&op->o, cap, cl->h.host_hdr, path, extra);
	free(path);
	if (n < 0) {
		opener_fail(op, UV_EINVAL, "upgrade request too long");
		return;
	}
	log_debug(t->id, "%s: upgrade with the request and %zu first bytes", cl->h.name, fl);
}

/* Send the upgrade once connected and the first bytes are in (or the wait
 * is over, or the application is done). */
static void opener_poke(opener_t *op)
{
	wstan_stream_t *st;

	if (!op || !op->connected || op->sent)
		return;
	st = op->t->cur;
	if (op->waited || !st || st->m.wq.bytes || st->shut)
		send_upgrade(op);
}

static void on_first_wait(uv_timer_t *h)
{
	opener_t *op = h->data;

	op->waited = 1;
	opener_poke(op);
}

static void opener_connected(ws_open_t *o)
{
	opener_t *op = o->data;

	op->connected = 1;
	if (op->q) /* the caller gets its stream now, from the timer */
		ws_req_answer_soon(&op->q->r, 0);
	if (op->cl->first_wait_ms)
		uv_timer_start(op->wait, on_first_wait, op->cl->first_wait_ms, 0);
	else
		op->waited = 1;
	opener_poke(op);
}

static const ws_open_ops_t open_ops = {
    opener_connected,
    on_open_up,
    on_open_fail,
    NULL,
    "the server closed the connection during the upgrade",
    "the server refused the tunnel (%s): wrong key, path, or clock?"};

static opener_t *opener_start(wcli_t *cl, wstan_tun_t *t, wreq_t *q, const target_t *target)
{
	opener_t *op = calloc(1, sizeof(*op));

	if (!op)
		abort();
	op->cl = cl;
	op->t = t;
	op->q = q;
	op->target = *target;
	op->wait = malloc(sizeof(*op->wait));
	if (!op->wait)
		abort();
	uv_timer_init(cl->h.d.loop, op->wait);
	op->wait->data = op;
	t->op = op;
	if (q)
		q->op = op;
	if (ws_open_start(&op->o, &cl->h.d, cl->h.tls, &cl->h.names, t->id, &open_ops, op) < 0) {
		t->op = NULL;
		if (q)
			q->op = NULL;
		uv_close((uv_handle_t *)op->wait, (uv_close_cb)free);
		free(op);
		return NULL;
	}
	return op;
}

/* ---- the hop ---- */

static wstan_tun_t *pool_take(wcli_t *cl)
{
	ws_pooled_t *e = ws_hop_pool_take(&cl->h);

	return e ? queue_data(e, wstan_tun_t, pooled) : NULL;
}

static dial_t *cli_dial(dialer_t *d, const target_t *tg, const dial_opts_t *o, dial_cb cb, void *ud)
{
	wcli_t *cl = (wcli_t *)d;
	wreq_t *q = calloc(1, sizeof(*q));
	uint8_t req[REQ_MAX];
	wstan_tun_t *t;
	int n, err = 0;

	if (!q)
		abort();
	ws_req_init(&q->r, d->loop, cb, ud, on_answer);
	q->cl = cl;
	q->fail = o->fail;
	q->s = wstan_stream_new(d->loop, o->id);
	q->r.s = &q->s->m.s;
	if ((t = pool_take(cl))) {
		t->id = o->id;
		n = wstan_req_build(&t->tx, &cl->key, 0, wstan_wall_s(), tg, NULL, 0, req,
		                    sizeof(req));
		if (n < 0) {
			cli_on_idle(t); /* nothing was sent: back it goes */
			err = UV_EINVAL;
		} else {
			wstan_tun_bind(t, q->s);
			if (ws_send(t->ws, WS_OP_BINARY, sbuf_from(req, (size_t)n)) < 0)
				err = UV_ECONNRESET; /* its close is on its way */
			else
				cl->h.reused++;
			log_debug(o->id, "%s: request through a pooled tunnel", cl->h.name);
		}
		ws_req_answer_soon(&q->r, err);
		return (dial_t *)q;
	}
	t = wstan_tun_new(d->loop, o->id, &cl->key, 1, &cli_tun_cbs, cl);
	t->hop = cl->h.name;
	cli_list_add(cl, t);
	wstan_tun_bind(t, q->s);
	if (!opener_start(cl, t, q, tg)) {
		wstan_stream_detach(q->s, 0);
		cli_tun_drop(cl, t);
		ws_req_answer_soon(&q->r, UV_ENOMEM);
	}
	return (dial_t *)q;
}

static void cli_cancel(dialer_t *d, dial_t *req)
{
	ws_req_cancel(&((wreq_t *)req)->r); /* an opener under way goes with it */
}

/* ---- datagram flows ----
 *
 * A UDP association (core/dgram.h) is a tunnel in USING with a flow bound
 * instead of a stream: DGM messages both ways, the client's RST its end
 * (the tunnel then goes back to the pool).  A pooled tunnel takes the
 * first datagram as a message; a fresh one carries it in the upgrade's URI
 * (with a timestamp and a MAC, as wstan does; a datagram too big for a URI
 * follows an idle opener instead), and the datagrams sent during the
 * upgrade wait, bounded, until it is up.  The flow is ready at once: the
 * first datagram is what opens the tunnel.
 */
struct uflow {
	dgram_t f;
	wcli_t *cl;
	wstan_tun_t *t; /* bound, from the first datagram on */
	dgram_hq_t held;
};

/* The tunnel lets go of its flow; err (if any) reaches the flow's owner. */
static void tun_unflow(wstan_tun_t *t, int err)
{
	uflow_t *uf = t->flow;

	if (!uf)
		return;
	t->flow = NULL;
	uf->t = NULL;
	dgram_hq_clear(&uf->held);
	if (err)
		dgram_fail(&uf->f, err);
}

static void uflow_recv(wstan_tun_t *t, const wstan_msg_t *m)
{
	uflow_t *uf = t->flow;
	struct sockaddr_storage ss;

	if (!m->has_target || !target_is_ip(&m->target, &ss)) {
		dgram_drop(&uf->f, DGRAM_DROP_BAD, NULL);
		return;
	}
	dgram_deliver(&uf->f, (struct sockaddr *)&ss, dgram_buf(m->data, m->dlen));
}

static void uflow_send_now(uflow_t *uf, const target_t *dst, sbuf_t *b)
{
	wstan_tun_t *t = uf->t;
	sbuf_t *m;
	int n;

	if (t->state != TUN_USING || ws_pending(t->ws) > DGRAM_QUEUE_MAX) {
		dgram_drop(&uf->f, DGRAM_DROP_QUEUE, b);
		return;
	}
	m = sbuf_new(1 + WSTAN_ADDR_MAX + b->len);
	n = wstan_dgm_build(&t->tx, dst, sbuf_ptr(b), b->len, m->data, 1 + WSTAN_ADDR_MAX + b->len);
	sbuf_free(b);
	if (n < 0) {
		sbuf_free(m);
		dgram_drop(&uf->f, DGRAM_DROP_BAD, NULL);
		return;
	}
	m->len = (uint32_t)n;
	if (ws_send(t->ws, WS_OP_BINARY, m) < 0)
		dgram_drop(&uf->f, DGRAM_DROP_SEND, NULL);
	else
		uf->f.sent++;
}

static void uflow_flush(uflow_t *uf)
{
	target_t dst;
	sbuf_t *b;

	while (uf->t && dgram_hq_pop(&uf->held, &dst, &b))
		uflow_send_now(uf, &dst, b);
}

/* The first datagram: a pooled tunnel, or a fresh one with it in the URI. */
static int uflow_bind(uflow_t *uf, const target_t *dst, sbuf_t *b)
{
	wcli_t *cl = uf->cl;
	wstan_tun_t *t = pool_take(cl);
	opener_t *op;

	if (t) {
		t->id = uf->f.id;
		wstan_tun_set_state(t, TUN_USING);
		t->flow = uf;
		uf->t = t;
		cl->h.reused++;
		log_debug(uf->f.id, "%s: datagrams through a pooled tunnel", cl->h.name);
		uflow_send_now(uf, dst, b);
		return 0;
	}
	t = wstan_tun_new(cl->h.d.loop, uf->f.id, &cl->key, 1, &cli_tun_cbs, cl);
	t->hop = cl->h.name;
	cli_list_add(cl, t);
	wstan_tun_set_state(t, TUN_USING);
	t->flow = uf;
	uf->t = t;
	if (!(op = opener_start(cl, t, NULL, dst))) {
		tun_unflow(t, 0);
		cli_tun_drop(cl, t);
		sbuf_free(b);
		return UV_ENOMEM;
	}
	op->udp = 1;
	if (b->len <= WSTAN_FIRST_MAX)
		op->dgm = b;
	else if (dgram_hq_push(&uf->held, dst, b) < 0)
		dgram_drop(&uf->f, DGRAM_DROP_QUEUE, NULL);
	return 0;
}

static int uflow_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	uflow_t *uf = (uflow_t *)f;

	if (b->len > DGRAM_MAX) {
		dgram_drop(f, DGRAM_DROP_SIZE, b);
		return UV_EMSGSIZE;
	}
	if (!uf->t) {
		if (uf->cl->h.closing) {
			dgram_drop(f, DGRAM_DROP_SEND, b);
			return 0;
		}
		return uflow_bind(uf, dst, b) < 0 ? (dgram_drop(f, DGRAM_DROP_SEND, NULL), 0) : 0;
	}
	if (!uf->t->ws) { /* the upgrade is under way */
		if (dgram_hq_push(&uf->held, dst, b) < 0)
			dgram_drop(f, DGRAM_DROP_QUEUE, NULL);
		return 0;
	}
	uflow_send_now(uf, dst, b);
	return 0;
}

static void uflow_close(dgram_t *f)
{
	uflow_t *uf = (uflow_t *)f;
	wstan_tun_t *t = uf->t;

	if (t) {
		t->flow = NULL;
		uf->t = NULL;
		if (t->op)
			opener_cancel(t->op); /* frees the tunnel */
		else if (t->state == TUN_USING)
			wstan_tun_reset(t, "", ""); /* the server's RST puts it back in the pool */
	}
	dgram_hq_clear(&uf->held);
	free(uf);
}

static const dgram_ops_t uflow_ops = {"wstan-udp", uflow_send, uflow_close};

static dial_t *cli_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	uflow_t *uf = calloc(1, sizeof(*uf));

	if (!uf)
		abort();
	dgram_init(&uf->f, &uflow_ops, o->id);
	uf->cl = (wcli_t *)d;
	return dgram_ready_soon(d->loop, &uf->f, cb, ud);
}

static void cli_dgram_cancel(dialer_t *d, dial_t *req)
{
	dgram_ready_cancel(req);
}

static const metric_t cli_metric_rows[] = {
    METRIC(ws_hop_t, npool, "sluice_wstan_pool_size", "gauge", "Idle tunnels waiting in the pool."),
    METRIC(ws_hop_t, opens, "sluice_wstan_client_opens_total", "counter",
           "WebSockets opened by the hop."),
    METRIC(ws_hop_t, reused, "sluice_wstan_client_reused_total", "counter",
           "Connections carried by a pooled tunnel."),
    METRIC(ws_hop_t, fails, "sluice_wstan_client_failures_total", "counter",
           "WebSockets the hop could not open."),
};

static void cli_free(dialer_t *d)
{
	wcli_t *cl = (wcli_t *)d;

	if (ws_hop_stop(&cl->h)) {
		/* the process is exiting and every handle was closed under us:
		 * nothing can be released properly any more */
		return;
	}
	while (!queue_empty(&cl->tuns)) {
		wstan_tun_t *t = queue_data(queue_first(&cl->tuns), wstan_tun_t, link);

		if (t->op) {
			if (t->op->q)
				t->op->q->op = NULL;
			opener_free(t->op);
			t->op = NULL;
		}
		cli_tun_drop(cl, t);
	}
	OPENSSL_cleanse(&cl->key, sizeof(cl->key));
	ws_hop_release(&cl->h);
}

static const dialer_ops_t cli_ops = {.scheme = "wstan",
                                     .dial = cli_dial,
                                     .cancel = cli_cancel,
                                     .free = cli_free,
                                     .dgram = cli_dgram,
                                     .dgram_cancel = cli_dgram_cancel,
                                     .session = ws_hop_session};

typedef struct wstan_cli_opts {
	ws_opts_t wo;
	ws_tls_opts_t tls_o;
	const char *key, *cookie, *host;
	int tls, compat;
	uint64_t pool, pool_idle_ms, first_wait_ms;
} wstan_cli_opts_t;

static const opt_include_t cli_inc[] = {
    OPT_INCLUDE(wstan_cli_opts_t, wo, &ws_keepalive_opts),
    OPT_INCLUDE(wstan_cli_opts_t, tls_o, &ws_tls_opts), /* with tls=1 only */
    {NULL, 0},
};

static const opt_t cli_table[] = {
    OPT_STR(wstan_cli_opts_t, key, "key", "required", "KEY", "the server's key, or a password"),
    OPT_BOOL(wstan_cli_opts_t, tls, "tls", "0", "TLS to the server (the wss:// of wstan)"),
    OPT_BOOL(wstan_cli_opts_t, compat, "compat", "0",
             "the nonce travels in a cookie, as with wstan -z (for WebSocket proxies that "
             "rewrite headers)"),
    OPT_STR(wstan_cli_opts_t, cookie, "cookie", "from the key", "NAME",
            "the cookie name (implies compat=1)"),
    OPT_UINT(wstan_cli_opts_t, pool, "pool", 1024, "16", "finished tunnels kept for reuse"),
    OPT_DURATION(wstan_cli_opts_t, pool_idle_ms, "pool-idle", "5m",
                 "how long one waits in the pool"),
    OPT_DURATION(wstan_cli_opts_t, first_wait_ms, "first-wait", "30ms",
                 "how long a new tunnel waits for the application's first bytes, to send them "
                 "with the upgrade"),
    OPT_STR(wstan_cli_opts_t, host, "host", "host:port", "NAME", "the HTTP Host header"),
};

const opt_schema_t wstan_hop_opts = OPT_SCHEMA_WITH(cli_inc, cli_table);

int wstan_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                  size_t errlen)
{
	wcli_t *cl = calloc(1, sizeof(*cl));
	wstan_cli_opts_t o = {.key = NULL}; /* and every other field 0 */
	int r;

	if (!cl)
		abort();
	*out = NULL;
	queue_init(&cl->tuns);
	ws_hop_init(&cl->h, loop, next, &cli_ops, cli_metric_rows,
	            sizeof(cli_metric_rows) / sizeof(cli_metric_rows[0]));
	if ((r = opts_parse(&wstan_hop_opts, u, &o, err, errlen)) < 0 ||
	    (r = ws_hop_server(&cl->h, u, o.tls, err, errlen)) < 0)
		goto fail;
	if (!o.key || wstan_key_init(&cl->key, o.key) < 0) {
		snprintf(err, errlen, "option 'key' is required (wstan's key, or a password)");
		goto fail;
	}
	cl->compat = o.compat;
	cl->pool_max = o.pool;
	cl->h.pool_idle_ms = o.pool_idle_ms;
	cl->first_wait_ms = o.first_wait_ms; /* wstan waits 30 ms for the first bytes */
	cl->enc = !o.tls;
	cl->h.wo =
	    (ws_opts_t){.max_message = 1 << 20, .ping_ms = o.wo.ping_ms, .dead_ms = o.wo.dead_ms};
	if (o.cookie && (!*o.cookie || strlen(o.cookie) >= 32 || strpbrk(o.cookie, "=; \t\r\n"))) {
		snprintf(err, errlen, "option 'cookie': a cookie name (default: from the key)");
		goto fail;
	}
	snprintf(cl->cookie, sizeof(cl->cookie), "%s", o.cookie ? o.cookie : cl->key.cookie);
	if (o.cookie)
		cl->compat = 1;
	/* wstan always sends host:port */
	if ((r = ws_hop_host(&cl->h, u, o.host, o.tls, 1, err, errlen)) < 0)
		goto fail;
	if (strlen(u->path) + 2 > sizeof(cl->base) || strpbrk(u->path, " \r\n")) {
		snprintf(err, errlen, "the path is too long or has spaces");
		goto fail;
	}
	snprintf(cl->base, sizeof(cl->base), "%s%s", u->path[0] ? u->path : "/",
	         u->path[0] && u->path[strlen(u->path) - 1] != '/' ? "/" : "");
	r = ws_hop_tls_load(&o.tls_o, u->host, o.host, o.tls, "tls=1", &cl->h.tls, &cl->h.names,
	                    err, errlen);
	if (r < 0)
		goto fail;
	ws_hop_start(&cl->h, cli_on_pool_timer, 5000, 5000);
	*out = &cl->h.d;
	return 0;
fail:
	ws_hop_release(&cl->h);
	return -EINVAL;
}
