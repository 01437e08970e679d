/* wstan_tun: see wstan_tun.h. */
#include "tunnel/ws/wstan_tun.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "wire/socks_proto.h"

static const char *const tun_state_names[] = {"idle", "using", "resetting", "closed"};

void wstan_tun_set_state(wstan_tun_t *t, tun_state_t to)
{
	static const unsigned legal[] = {
	    [TUN_IDLE] = 1u << TUN_USING | 1u << TUN_CLOSED,
	    [TUN_USING] = 1u << TUN_IDLE | 1u << TUN_RESETTING | 1u << TUN_CLOSED,
	    [TUN_RESETTING] = 1u << TUN_IDLE | 1u << TUN_CLOSED,
	    [TUN_CLOSED] = 0,
	};

	if (!(legal[t->state] & 1u << to)) {
		log_err(t->id, "wstan: illegal tunnel state change %s -> %s",
		        tun_state_names[t->state], tun_state_names[to]);
		assert(0);
	}
	log_trace(t->id, "wstan tunnel: %s -> %s", tun_state_names[t->state], tun_state_names[to]);
	t->state = to;
}

/* What is bound instead of a stream lets go. */
static void tun_unbind(wstan_tun_t *t, int err)
{
	if (t->cbs->on_unbind)
		t->cbs->on_unbind(t, err);
}

/* ---- the stream ---- */

/* The tunnel's WebSocket reads while the bound stream's queue is below the
 * watermarks. */
static void wstream_pause(msgstream_t *m, int on)
{
	wstan_tun_t *t = ((wstan_stream_t *)m)->t;

	if (!t || !t->ws || t->paused == (unsigned)on)
		return;
	t->paused = (unsigned)on;
	if (on)
		ws_pause(t->ws);
	else
		ws_resume(t->ws);
}

static size_t wstream_pending(msgstream_t *m)
{
	wstan_tun_t *t = ((wstan_stream_t *)m)->t;

	return t && t->ws ? ws_pending(t->ws) : 0;
}

static const msgstream_hooks_t wstream_hooks = {.pause = wstream_pause, .pending = wstream_pending};

/* Bytes from the peer (b == NULL: its end of data), from tunnel callbacks. */
void wstan_stream_push(wstan_stream_t *st, sbuf_t *b)
{
	msgstream_push(&st->m, b);
	msgstream_deliver(&st->m);
}

/* The tunnel lets go of the stream; err (if any) reaches the owner later. */
void wstan_stream_detach(wstan_stream_t *st, int err)
{
	wstan_tun_t *t = st->t;

	if (t) {
		if (t->cur == st)
			t->cur = NULL;
		wstream_pause(&st->m, 0);
	}
	st->m.paused = 0;
	st->t = NULL;
	sbufq_clear(&st->m.wq);
	st->m.s.wq_bytes = 0;
	if (err && !st->m.err) {
		msgstream_fail(&st->m, err);
		msgstream_kick(&st->m);
	}
}

static int wst_write(stream_t *s, sbuf_t *b)
{
	wstan_stream_t *st = (wstan_stream_t *)s;
	wstan_tun_t *t = st->t;
	int r;

	if (st->shut || st->m.err) {
		sbuf_free(b);
		return st->m.err ? st->m.err : UV_EPIPE;
	}
	if (!t || t->state != TUN_USING) { /* the peer ended this connection */
		sbuf_free(b);
		return 0;
	}
	if (!t->ws) {
		msgstream_hold(&st->m, b);
		t->cbs->on_early(t); /* may end the tunnel: t is not touched again */
		return 0;
	}
	r = wstan_tun_send_dat(t, sbuf_ptr(b), b->len);
	sbuf_free(b);
	msgstream_update_wq(&st->m);
	return r;
}

static int wst_shutdown(stream_t *s)
{
	wstan_stream_t *st = (wstan_stream_t *)s;
	wstan_tun_t *t = st->t;

	if (st->shut)
		return 0;
	st->shut = 1;
	if (!t)
		return 0;
	if (!t->ws) {
		t->cbs->on_early(t); /* the RST follows the upgrade */
		return 0;
	}
	return t->state == TUN_USING ? wstan_tun_reset(t, "", "") : 0;
}

static void wst_read_start(stream_t *s)
{
	msgstream_read_start(&((wstan_stream_t *)s)->m);
}

static void wst_read_stop(stream_t *s)
{
	msgstream_read_stop(&((wstan_stream_t *)s)->m);
}

static void wst_close(stream_t *s)
{
	wstan_stream_t *st = (wstan_stream_t *)s;
	wstan_tun_t *t = st->t;

	if (t && !t->ws && t->op)
		t->cbs->on_cancel(t); /* detaches st, frees the tunnel */
	else if (t && t->state == TUN_USING)
		wstan_tun_reset(t, "", "");
	if (st->t)
		wstan_stream_detach(st, 0);
	msgstream_release(&st->m, NULL);
}

static const stream_ops_t wstream_ops = {
    .name = "wstan",
    .write = wst_write,
    .shutdown = wst_shutdown,
    .read_start = wst_read_start,
    .read_stop = wst_read_stop,
    .close = wst_close,
};

wstan_stream_t *wstan_stream_new(uv_loop_t *loop, uint64_t id)
{
	wstan_stream_t *st = calloc(1, sizeof(*st));

	if (!st)
		abort();
	msgstream_init(&st->m, &wstream_ops, id, loop, &wstream_hooks);
	msgstream_set_marks(&st->m, STREAM_HIGH_WATER, STREAM_LOW_WATER);
	return st;
}

/* ---- the tunnel ---- */

wstan_tun_t *wstan_tun_new(uv_loop_t *loop, uint64_t id, const wstan_key_t *k, int client,
                           const wstan_tun_cbs_t *cbs, void *owner)
{
	wstan_tun_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->loop = loop;
	t->id = id;
	t->key = k;
	t->client = client;
	t->cbs = cbs;
	t->owner = owner;
	return t;
}

static void tun_unbusy(wstan_tun_t *t)
{
	if (--t->busy == 0 && t->freed)
		free(t);
}

void wstan_tun_free(wstan_tun_t *t)
{
	if (!t || t->freed)
		return;
	t->freed = 1;
	if (t->state != TUN_CLOSED)
		wstan_tun_set_state(t, TUN_CLOSED);
	if (t->cur)
		wstan_stream_detach(t->cur, UV_ECONNRESET);
	tun_unbind(t, UV_ECONNRESET);
	if (t->ws)
		ws_free(t->ws);
	t->ws = NULL;
	wstan_ctr_free(&t->tx);
	wstan_ctr_free(&t->rx);
	if (!t->busy)
		free(t);
}

void wstan_tun_bind(wstan_tun_t *t, wstan_stream_t *st)
{
	wstan_tun_set_state(t, TUN_USING);
	t->cur = st;
	st->t = t;
}

int wstan_tun_send_dat(wstan_tun_t *t, const uint8_t *p, size_t n)
{
	int r = 0;

	for (size_t off = 0; off < n && r == 0;) {
		size_t k = n - off > DAT_MAX ? DAT_MAX : n - off;
		sbuf_t *m = sbuf_new(k + 1);

		m->data[0] = WSTAN_DAT;
		memcpy(m->data + 1, p + off, k);
		m->len = (uint32_t)(k + 1);
		wstan_ctr_apply(&t->tx, m->data, k + 1);
		r = ws_send(t->ws, WS_OP_BINARY, m);
		off += k;
	}
	return r;
}

int wstan_tun_send_rst(wstan_tun_t *t, const char *reason, const char *err)
{
	char r1[TEXT_MAX + 1], e1[TEXT_MAX + 1];
	uint8_t buf[RST_MAX];
	uint16_t rnd;
	int n;

	snprintf(r1, sizeof(r1), "%s", reason);
	snprintf(e1, sizeof(e1), "%s", err);
	random_bytes(&rnd, sizeof(rnd));
	n = wstan_rst_build(&t->tx, t->key, r1, e1,
	                    WSTAN_RST_PAD_MIN + rnd % (WSTAN_RST_PAD_MAX - WSTAN_RST_PAD_MIN + 1),
	                    buf, sizeof(buf));
	if (n < 0 || !t->ws)
		return UV_EINVAL;
	return ws_send(t->ws, WS_OP_BINARY, sbuf_from(buf, (size_t)n));
}

/* USING -> RESETTING: this side is done with the connection. */
int wstan_tun_reset(wstan_tun_t *t, const char *reason, const char *err)
{
	wstan_tun_set_state(t, TUN_RESETTING);
	return wstan_tun_send_rst(t, reason, err);
}

/* Close the WebSocket; what still arrives is not read (after an error the
 * keystream is lost anyway). */
void wstan_tun_abort(wstan_tun_t *t, uint16_t code)
{
	t->closing = 1;
	if (t->ws)
		ws_close(t->ws, code, "");
}

static void tun_on_rst(wstan_tun_t *t, const wstan_msg_t *m)
{
	wstan_stream_t *st = t->cur;

	if (t->state == TUN_USING) {
		wstan_tun_send_rst(t, "", "");
		wstan_tun_set_state(t, TUN_IDLE);
	} else if (t->state == TUN_RESETTING) {
		wstan_tun_set_state(t, TUN_IDLE);
	} else {
		log_info(t->id, "wstan: a reset on an idle tunnel, closing");
		wstan_tun_abort(t, 3001);
		return;
	}
	if (m->reason[0])
		log_info(t->id, "wstan: the peer reset the connection: %s%s%s", m->reason,
		         m->err[0] ? ": " : "", m->err);
	if (st) {
		if (m->reason[0]) { /* a failure (could not connect, ...): a reset */
			int err = tun_err_from_text(m->err);

			if (t->client && t->hop)
				st->m.s.fail = (stream_fail_t){t->hop, 0};
			wstan_stream_detach(st, err ? err : UV_ECONNRESET);
		} else {
			wstan_stream_detach(st, 0);
			wstan_stream_push(st, NULL);
		}
	}
	tun_unbind(t, m->reason[0] ? UV_ECONNREFUSED : UV_ECONNRESET);
	if (!t->freed)
		t->cbs->on_idle(t);
}

static void tun_on_message(ws_t *w, int opcode, sbuf_t *msg)
{
	wstan_tun_t *t = ws_data(w);
	wstan_msg_t m;
	int r;

	if (t->freed || t->closing || t->state == TUN_CLOSED) {
		sbuf_free(msg);
		return;
	}
	t->busy++;
	if (opcode != WS_OP_BINARY) {
		log_info(t->id, "wstan: a text message, closing");
		wstan_tun_abort(t, 3000);
	} else if ((r = wstan_msg_open(&t->rx, t->key, sbuf_ptr(msg), msg->len, 0, &m)) < 0) {
		log_info(t->id, "wstan: %s message, closing",
		         r == -EBADMSG ? "an unauthentic (wrong key?)" : "a malformed");
		wstan_tun_abort(t, 3000);
	} else if (m.cmd == WSTAN_DAT) {
		if (t->state == TUN_USING && t->cur && m.dlen) {
			sbuf_consume(msg, 1);
			wstan_stream_push(t->cur, msg);
			msg = NULL;
		} /* else: after a reset, wstan drops it too */
	} else if (m.cmd == WSTAN_RST) {
		tun_on_rst(t, &m);
	} else if (t->client) {
		if (m.cmd == WSTAN_REQ) {
			log_info(t->id, "wstan: a request from the server, closing");
			wstan_tun_abort(t, 3000);
		} else if (t->flow && t->state == TUN_USING) {
			t->cbs->on_msg(t, &m); /* DGM: a reply of our UDP association */
		}
	} else if (m.cmd == WSTAN_REQ && t->state != TUN_IDLE) {
		log_info(t->id, "wstan: a request on a busy tunnel, closing");
		wstan_tun_abort(t, 3000);
	} else {
		t->cbs->on_msg(t, &m);
	}
	sbuf_free(msg);
	tun_unbusy(t);
}

static void tun_on_drain(ws_t *w)
{
	wstan_tun_t *t = ws_data(w);
	wstan_stream_t *st = t->cur;

	if (t->freed || !st)
		return;
	msgstream_drained(&st->m);
}

static void tun_on_close(ws_t *w, int code, const char *reason)
{
	wstan_tun_t *t = ws_data(w);
	wstan_stream_t *st = t->cur;

	if (t->freed)
		return;
	t->busy++;
	log_debug(t->id, "wstan: websocket closed (%d%s%s)", code, reason && *reason ? " " : "",
	          reason ? reason : "");
	if (st) {
		/* after our RST, its answer was all the stream still waited for */
		if (t->state == TUN_RESETTING) {
			wstan_stream_detach(st, 0);
			wstan_stream_push(st, NULL);
		} else {
			wstan_stream_detach(st, UV_ECONNRESET);
		}
	}
	tun_unbind(t, UV_ECONNRESET);
	if (t->state != TUN_CLOSED)
		wstan_tun_set_state(t, TUN_CLOSED);
	t->cbs->on_close(t);
	tun_unbusy(t);
}

static const ws_cbs_t tun_ws_cbs = {tun_on_message, tun_on_drain, tun_on_close};

void wstan_tun_start(wstan_tun_t *t, stream_t *s, sbuf_t *first, const ws_opts_t *wo)
{
	t->ws = ws_new(t->loop, s, first, t->client, wo, &tun_ws_cbs, t);
}
