/* wstun_client: the client end of the WebSocket tunnel, as a hop.
 *
 * Three pieces:
 *   opener   brings one WebSocket up: dial the server through the rest of
 *            the chain, [TLS], the upgrade request with the open token, the
 *            101 with the server's answer token, then attaches the socket to
 *            a tunnel stream (wstun).  A fresh dial puts its target and the
 *            bytes the application has already written into the token
 *            (0-RTT); a pool fill carries no target.
 *   pool     `pool=N` keeps N authenticated, idle WebSockets ready; a dial
 *            takes one and sends an OPEN record at once.  Entries older than
 *            `pool-idle` are replaced; failures back off up to 30 s.
 *   request  one dial.  With fast-open (the default) the caller gets the
 *            tunnel stream at once, so the application's first bytes flow
 *            while the WebSocket is still opening; an open the server
 *            refuses then shows as a reset.  With fast-open=0 the caller
 *            waits for OPEN_OK and gets the server's exact error.
 */
#include "tunnel/wstun_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/tls.h"
#include "front/socks_proto.h"
#include "tunnel/wstun.h"

#define RESP_MAX (16 * 1024)
#define BACKOFF_MIN 500
#define BACKOFF_MAX 30000

typedef struct pent {
	struct pent *next;
	wstun_t *t;
	uint64_t born;
} pent_t;

typedef struct wcli {
	dialer_t d;
	wstun_keys_t keys;
	tls_ctx_t *tls;
	char host_hdr[300], sni[256], path[512], name[128];
	int enc, fast_open;
	ws_opts_t wo;
	size_t pool_size, npool, nfilling;
	uint64_t pool_idle_ms, backoff_ms, retry_at;
	pent_t *pool;
	uv_timer_t pool_timer;
	uint64_t opens, fails;
	unsigned closing : 1;
} wcli_t;

typedef struct opener {
	wcli_t *cl;
	wstun_t *t;
	uint64_t id;
	target_t target;
	int has_target;
	dial_t *dial;
	stream_t *raw;
	char key[WS_KEY_LEN + 1];
	uint8_t nonce[WSTUN_NONCE];
	char resp[RESP_MAX + 1];
	size_t rlen;
	void (*done)(struct opener *op, int err); /* err < 0: failed; t still exists */
	void *ud;
} opener_t;

typedef struct wreq {
	wcli_t *cl;
	wstun_t *t;
	struct opener *op; /* while a fresh WebSocket is opening for us */
	dial_cb cb;
	void *ud;
	uv_timer_t timer;
	int err;
	unsigned answered : 1, canceled : 1;
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
	stream_close(op->raw);
	free(op);
}

static void opener_fail(opener_t *op, int err, const char *why)
{
	log_info(op->id, "%s: %s", op->cl->name, why);
	if (op->t)
		wstun_set_canceler(op->t, NULL, NULL);
	op->done(op, err);
	opener_free(op);
}

/* The stream was closed by its owner while opening. */
static void opener_cancel(void *arg)
{
	opener_t *op = arg;

	if (op->dial)
		dial_next_cancel(&op->cl->d, op->dial);
	op->dial = NULL;
	op->t = NULL;
	opener_free(op);
}

static void on_resp_read(stream_t *s, sbuf_t *b)
{
	opener_t *op = s->data;
	wcli_t *cl = op->cl;
	char err[200], cookie[256], *sid, *end;
	uint8_t ans[WSTUN_ANSWER + 8], sn[WSTUN_NONCE];
	wstun_sess_t sess = {.enc = cl->enc, .tx_first = 1};
	size_t n, hl;
	int al;

	if (!b) {
		opener_fail(op, UV_ECONNRESET, "server closed the connection during the upgrade");
		return;
	}
	n = b->len < RESP_MAX - op->rlen ? b->len : RESP_MAX - op->rlen;
	memcpy(op->resp + op->rlen, sbuf_ptr(b), n);
	op->rlen += n;
	op->resp[op->rlen] = 0;
	end = strstr(op->resp, "\r\n\r\n");
	if (!end) {
		sbuf_free(b);
		if (op->rlen >= RESP_MAX)
			opener_fail(op, UV_EPROTO, "upgrade response too long");
		return;
	}
	hl = (size_t)(end + 4 - op->resp);
	/* bytes of b after the head belong to the WebSocket */
	sbuf_consume(b, b->len - (op->rlen - hl));
	stream_read_stop(s);
	if (ws_client_check_response(op->resp, hl, op->key, "Set-Cookie", cookie, sizeof(cookie), err,
				     sizeof(err)) < 0) {
		char why[300];
		sbuf_free(b);
		snprintf(why, sizeof(why), "server refused the tunnel (%s): wrong key, path or clock?",
			 err);
		opener_fail(op, UV_EACCES, why);
		return;
	}
	sid = strstr(cookie, "sid=");
	if (!sid || (al = b64_decode(sid + 4, strcspn(sid + 4, "; "), ans, sizeof(ans))) < 0 ||
	    wstun_answer_check(&cl->keys, op->nonce, ans, (size_t)al, sn) < 0) {
		sbuf_free(b);
		opener_fail(op, UV_EACCES, "server's answer is not authentic (another key?)");
		return;
	}
	if (sess.enc) {
		wstun_dir_key(&cl->keys, op->nonce, NULL, sess.tx_key);
		wstun_dir_key(&cl->keys, op->nonce, sn, sess.rx_key);
	}
	if (!b->len) {
		sbuf_free(b);
		b = NULL;
	}
	wstun_set_canceler(op->t, NULL, NULL);
	s = op->raw;
	op->raw = NULL;
	if (wstun_attach(op->t, cl->d.loop, s, b, 1, &cl->wo, &sess) < 0) {
		opener_fail(op, UV_EPROTO, "could not attach the websocket");
		return;
	}
	op->done(op, 0);
	opener_free(op);
}

static void on_resp_error(stream_t *s, int e)
{
	opener_t *op = s->data;

	opener_fail(op, e, "connection lost during the upgrade");
}

static const stream_cbs_t resp_cbs = {on_resp_read, NULL, on_resp_error};

static void send_upgrade(opener_t *op)
{
	wcli_t *cl = op->cl;
	uint8_t open[WSTUN_OPEN_MAX], first[WSTUN_FIRST_MAX], tok[WSTUN_TOKEN_MAX];
	char tok64[(WSTUN_TOKEN_MAX * 4) / 3 + 8], *extra, *req;
	size_t fl = 0, cap;
	int ol = 0, tl, n;

	random_bytes(op->nonce, sizeof(op->nonce));
	ws_make_key(op->key);
	if (op->has_target) {
		fl = wstun_take_queued(op->t, first, sizeof(first));
		ol = wstun_open_encode(&op->target, first, fl, open, sizeof(open));
	}
	tl = wstun_token_build(&cl->keys, cl->enc ? WSTUN_F_ENC : 0, wall_ms(), op->nonce,
			       op->has_target && ol > 0 ? open : NULL, ol > 0 ? (size_t)ol : 0, tok,
			       sizeof(tok));
	if (tl < 0) {
		opener_fail(op, UV_EINVAL, "could not build the open token");
		return;
	}
	b64url_encode(tok, (size_t)tl, tok64);
	cap = strlen(tok64) + 64;
	extra = malloc(cap);
	req = malloc(cap + 1024);
	if (!extra || !req)
		abort();
	snprintf(extra, cap, "Cookie: sid=%s\r\n", tok64);
	n = ws_client_request(req, cap + 1024, cl->host_hdr, cl->path, op->key, extra);
	free(extra);
	if (n < 0) {
		free(req);
		opener_fail(op, UV_EINVAL, "upgrade request too long");
		return;
	}
	log_debug(op->id, "%s: upgrade with %s, %zu first bytes", cl->name,
		  op->has_target ? "open" : "no target (pool)", fl);
	stream_write(op->raw, sbuf_from(req, (size_t)n));
	free(req);
	stream_set_cbs(op->raw, &resp_cbs, op);
	stream_read_start(op->raw);
}

static void on_tls(void *ud, stream_t *s, int err)
{
	opener_t *op = ud;

	if (err < 0) {
		opener_fail(op, err, "TLS handshake failed");
		return;
	}
	send_upgrade(op);
}

static void on_dialed(void *ud, stream_t *s, int err)
{
	opener_t *op = ud;
	char why[400];

	op->dial = NULL;
	if (err < 0) {
		snprintf(why, sizeof(why), "cannot reach %s:%u: %s", op->cl->d.server.host,
			 op->cl->d.server.port, uv_strerror(err));
		opener_fail(op, err, why);
		return;
	}
	op->raw = s;
	s->id = op->id;
	if (op->cl->tls) {
		op->raw = tls_client_new(op->cl->d.loop, op->cl->tls, s, op->cl->sni[0] ? op->cl->sni : NULL);
		tls_handshake(op->raw, on_tls, op);
		return;
	}
	send_upgrade(op);
}

static opener_t *opener_start(wcli_t *cl, wstun_t *t, uint64_t id, const target_t *target,
			      void (*done)(opener_t *, int), void *ud)
{
	opener_t *op = calloc(1, sizeof(*op));
	dial_opts_t o = {.id = id};

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
	op->dial = dial_next(&cl->d, &o, on_dialed, op);
	if (!op->dial) { /* could not even start */
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

	if (type != 0)
		return; /* nothing is expected on an idle connection */
	for (pent_t **pp = &cl->pool; *pp; pp = &(*pp)->next) {
		if ((*pp)->t == t) {
			pent_t *e = *pp;
			*pp = e->next;
			cl->npool--;
			stream_close(wstun_stream(e->t));
			free(e);
			log_debug(0, "%s: pooled websocket closed by the server", cl->name);
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
		cl->retry_at = uv_now(cl->d.loop) + cl->backoff_ms;
		return;
	}
	cl->backoff_ms = 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	e->t = op->t;
	e->born = uv_now(cl->d.loop);
	wstun_set_owner(e->t, pool_ctl, cl);
	e->next = cl->pool;
	cl->pool = e;
	cl->npool++;
}

static void pool_fill(wcli_t *cl)
{
	if (cl->closing || uv_now(cl->d.loop) < cl->retry_at)
		return;
	while (cl->npool + cl->nfilling < cl->pool_size) {
		wstun_t *t = wstun_new(cl->d.loop, 0, pool_ctl, cl);
		if (!opener_start(cl, t, 0, NULL, pool_opened, NULL)) {
			stream_close(wstun_stream(t));
			cl->retry_at = uv_now(cl->d.loop) + BACKOFF_MAX;
			return;
		}
		cl->nfilling++;
	}
}

static void on_pool_timer(uv_timer_t *h)
{
	wcli_t *cl = h->data;
	uint64_t now = uv_now(cl->d.loop);

	for (pent_t **pp = &cl->pool; *pp;) {
		pent_t *e = *pp;
		if (now - e->born >= cl->pool_idle_ms) {
			*pp = e->next;
			cl->npool--;
			stream_close(wstun_stream(e->t));
			free(e);
		} else {
			pp = &e->next;
		}
	}
	pool_fill(cl);
}

static wstun_t *pool_take(wcli_t *cl)
{
	pent_t *e = cl->pool;
	wstun_t *t;

	if (!e)
		return NULL;
	cl->pool = e->next;
	cl->npool--;
	t = e->t;
	free(e);
	pool_fill(cl);
	return t;
}

/* ---- requests ---- */

static void req_closed(uv_handle_t *h) { free(h->data); }

static void req_finish(wreq_t *q)
{
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, req_closed);
}

/* After the caller has its stream: only failures matter. */
static void late_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	if (type == WSTUN_REC_OPEN_FAIL && len >= 1) {
		log_info(wstun_stream(t)->id, "ws tunnel: the server could not connect: %s",
			 socks5_rep_str(body[0]));
		wstun_fail(t, socks5_err_from_rep(body[0]));
	}
}

static void answer(wreq_t *q, int err)
{
	stream_t *s = wstun_stream(q->t);

	if (q->answered)
		return;
	q->answered = 1;
	if (q->op) /* the opener outlives us: it must not call back */
		q->op->ud = NULL;
	q->op = NULL;
	wstun_set_owner(q->t, late_ctl, q->cl);
	if (err < 0) {
		q->cl->fails++;
		stream_close(s);
		q->cb(q->ud, NULL, err);
	} else {
		q->cl->opens++;
		q->cb(q->ud, s, 0);
	}
	req_finish(q);
}

static void on_answer_timer(uv_timer_t *h)
{
	wreq_t *q = h->data;

	answer(q, q->err);
}

/* Control records while the caller waits (fast-open=0). */
static void req_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	wreq_t *q = wstun_owner(t);

	if (type == WSTUN_REC_OPEN_OK)
		answer(q, 0);
	else if (type == WSTUN_REC_OPEN_FAIL)
		answer(q, len >= 1 ? socks5_err_from_rep(body[0]) : UV_EPROTO);
	else if (type == 0)
		answer(q, UV_ECONNRESET);
}

static void fresh_opened(opener_t *op, int err)
{
	wreq_t *q = op->ud;

	if (q)
		q->op = NULL;
	if (q && !q->answered) {
		if (err < 0)
			answer(q, err); /* closes the stream */
		return;          /* else wait for OPEN_OK */
	}
	if (err < 0) /* the caller already has the stream */
		wstun_fail(op->t, err);
}

static dial_t *ws_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud)
{
	wcli_t *cl = (wcli_t *)d;
	wreq_t *q = calloc(1, sizeof(*q));
	uint8_t open[WSTUN_OPEN_MAX];
	int n;

	if (!q)
		abort();
	q->cl = cl;
	q->cb = cb;
	q->ud = ud;
	uv_timer_init(d->loop, &q->timer);
	q->timer.data = q;
	q->t = pool_take(cl);
	if (q->t) {
		wstun_stream(q->t)->id = o->id;
		wstun_set_owner(q->t, req_ctl, q);
		n = wstun_open_encode(t, NULL, 0, open, sizeof(open));
		if (n < 0 || wstun_send_ctl(q->t, WSTUN_REC_OPEN, open, (size_t)n) < 0) {
			q->err = UV_ECONNRESET;
			uv_timer_start(&q->timer, on_answer_timer, 0, 0);
			return (dial_t *)q;
		}
		log_debug(o->id, "%s: open through a pooled websocket", cl->name);
	} else {
		q->t = wstun_new(d->loop, o->id, req_ctl, q);
		if (!(q->op = opener_start(cl, q->t, o->id, t, fresh_opened, q))) {
			q->err = UV_ENOMEM;
			uv_timer_start(&q->timer, on_answer_timer, 0, 0);
			return (dial_t *)q;
		}
	}
	if (cl->fast_open)
		uv_timer_start(&q->timer, on_answer_timer, 0, 0);
	return (dial_t *)q;
}

static void ws_cancel(dialer_t *d, dial_t *req)
{
	wreq_t *q = (wreq_t *)req;

	if (q->answered)
		return;
	q->answered = 1;
	stream_close(wstun_stream(q->t));
	req_finish(q);
}

static void free_on_close(uv_handle_t *h) { free(h->data); }

static void ws_free_hop(dialer_t *d)
{
	wcli_t *cl = (wcli_t *)d;

	cl->closing = 1;
	while (cl->pool) {
		pent_t *e = cl->pool;
		cl->pool = e->next;
		stream_close(wstun_stream(e->t));
		free(e);
	}
	tls_ctx_free(cl->tls);
	uv_close((uv_handle_t *)&cl->pool_timer, free_on_close);
}

static const dialer_ops_t ws_ops = {"ws", ws_dial, ws_cancel, ws_free_hop};
static const dialer_ops_t wss_ops = {"wss", ws_dial, ws_cancel, ws_free_hop};

static void metrics_fn(mbuf_t *b, void *ud)
{
	wcli_t *cl = ud;

	mbuf_printf(b, "sluice_ws_pool_size{hop=\"%s\"} %zu\n", cl->name, cl->npool);
	mbuf_printf(b, "sluice_ws_client_opens_total{hop=\"%s\"} %llu\n", cl->name,
		    (unsigned long long)cl->opens);
	mbuf_printf(b, "sluice_ws_client_open_failures_total{hop=\"%s\"} %llu\n", cl->name,
		    (unsigned long long)cl->fails);
}

static int hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
		   size_t errlen, int tls)
{
	wcli_t *cl = calloc(1, sizeof(*cl));
	const char *key = NULL, *enc = NULL, *host = NULL, *sni = NULL, *ca = NULL;
	uint8_t k[KEY_MAX];
	size_t klen;
	uint64_t pool = 0, ping = 30000, dead = 90000;
	int insecure = 0, port, r;

	if (!cl)
		abort();
	*out = NULL;
	cl->d.ops = tls ? &wss_ops : &ws_ops;
	cl->d.next = next;
	cl->d.loop = loop;
	cl->enc = 1;
	cl->fast_open = 1;
	cl->pool_idle_ms = 60000;
	uv_timer_init(loop, &cl->pool_timer);
	cl->pool_timer.data = cl;
	port = u->port > 0 ? u->port : tls ? 443 : 80;
	if (!u->host[0] || target_set(&cl->d.server, u->host, (uint16_t)port) < 0) {
		snprintf(err, errlen, "a server address is required (%s://HOST:PORT?key=KEY)", u->scheme);
		goto fail;
	}
	snprintf(cl->name, sizeof(cl->name), "%s://%s%s%s:%d%s", u->scheme, strchr(u->host, ':') ? "[" : "",
		 u->host, strchr(u->host, ':') ? "]" : "", port, u->path);
	if (url_opt_str(u, "key", &key) <= 0) {
		snprintf(err, errlen, "option 'key' is required (the server's key)");
		goto fail;
	}
	if (key_parse(key, k, &klen) < 0) {
		snprintf(err, errlen, "option 'key': not base64 of 16 to 64 bytes (use `sluice keygen`)");
		goto fail;
	}
	wstun_keys_init(&cl->keys, k, klen);
	if ((r = url_opt_uint(u, "pool", 64, &pool, err, errlen)) < 0 ||
	    (r = url_opt_duration(u, "pool-idle", &cl->pool_idle_ms, err, errlen)) < 0 ||
	    (r = url_opt_bool(u, "fast-open", &cl->fast_open, err, errlen)) < 0 ||
	    (r = url_opt_duration(u, "ping", &ping, err, errlen)) < 0 ||
	    (r = url_opt_duration(u, "dead", &dead, err, errlen)) < 0 ||
	    (r = url_opt_bool(u, "insecure", &insecure, err, errlen)) < 0)
		goto fail;
	cl->pool_size = pool;
	cl->wo = (ws_opts_t){.max_message = 1 << 20, .ping_ms = ping, .dead_ms = dead};
	if (url_opt_str(u, "enc", &enc) > 0) {
		if (!strcmp(enc, "none"))
			cl->enc = 0;
		else if (strcmp(enc, "chacha20-poly1305")) {
			snprintf(err, errlen, "option 'enc': use chacha20-poly1305 (default) or none");
			goto fail;
		}
		if (!cl->enc && !tls) {
			snprintf(err, errlen, "option 'enc=none' needs wss:// (TLS would be the only protection)");
			goto fail;
		}
	}
	url_opt_str(u, "host", &host);
	url_opt_str(u, "sni", &sni);
	url_opt_str(u, "ca", &ca);
	if (host)
		snprintf(cl->host_hdr, sizeof(cl->host_hdr), "%s", host);
	else if (u->port < 0 || u->port == (tls ? 443 : 80))
		snprintf(cl->host_hdr, sizeof(cl->host_hdr), "%s%s%s", strchr(u->host, ':') ? "[" : "",
			 u->host, strchr(u->host, ':') ? "]" : "");
	else
		snprintf(cl->host_hdr, sizeof(cl->host_hdr), "%s%s%s:%d", strchr(u->host, ':') ? "[" : "",
			 u->host, strchr(u->host, ':') ? "]" : "", u->port);
	snprintf(cl->path, sizeof(cl->path), "%s", u->path[0] ? u->path : "/");
	if (tls) {
		tls_opts_t o = {.ca_file = ca, .insecure = insecure, .alpn = "http/1.1"};
		snprintf(cl->sni, sizeof(cl->sni), "%s", sni ? sni : u->host);
		if ((r = tls_ctx_new_client(&o, &cl->tls, err, errlen)) < 0)
			goto fail;
	} else if (ca || insecure || sni) {
		snprintf(err, errlen, "options 'ca', 'insecure' and 'sni' are for wss://");
		goto fail;
	}
	metrics_register(metrics_fn, cl);
	if (cl->pool_size) {
		uv_timer_start(&cl->pool_timer, on_pool_timer, 0, 1000);
		uv_unref((uv_handle_t *)&cl->pool_timer);
	}
	*out = &cl->d;
	return 0;
fail:
	tls_ctx_free(cl->tls);
	uv_close((uv_handle_t *)&cl->pool_timer, free_on_close);
	return -EINVAL;
}

int ws_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err, size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, 0);
}

int wss_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
		size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, 1);
}
