/* wstun: see wstun.h.
 *
 * Life cycle: new -> (writes queue) -> attach(ws) -> records flow ->
 * stream_close: like close(2) on a socket, an end of data (an EOF record,
 * unless one went) and a WebSocket close (1000); stream_reset: the close
 * alone, an abort.  The object is freed when the close handshake ends (or
 * ws gives up).  A peer's close after its EOF is its clean end: nothing is
 * reported; what this side still writes goes nowhere, as to a socket the
 * peer closed.  Reads
 * are delivered from ws callbacks or, after a pause, on a later turn
 * (core/msgstream.h holds the queues, the marks and the error latch).
 */
#include "tunnel/ws/wstun.h"

#include <stdlib.h>
#include <string.h>

#include "core/dgram.h"
#include "core/log.h"
#include "core/msgstream.h"

struct wstun {
	msgstream_t m; /* first: reads, writes before attach, the error latch */
	uv_loop_t *loop;
	ws_t *ws;
	seal_t tx, rx;
	int enc;
	wstun_ctl_fn ctl;
	void *owner;
	void (*cancel)(void *arg);
	void *cancel_arg;
	unsigned shut_pending : 1, shut_sent : 1, ws_dead : 1, peer_done : 1;
	/* client: the client's end; last_eof_ours: the EOF that completed
	 * the pair was ours (sclose says why) */
	unsigned client : 1, last_eof_ours : 1;
};

static const stream_ops_t wstun_ops;

stream_t *wstun_stream(wstun_t *t)
{
	return &t->m.s;
}
void *wstun_owner(wstun_t *t)
{
	return t->owner;
}
int wstun_attached(wstun_t *t)
{
	return t->ws != NULL;
}

void wstun_set_owner(wstun_t *t, wstun_ctl_fn ctl, void *owner)
{
	t->ctl = ctl;
	t->owner = owner;
}

/* The WebSocket reads while the reader's queue is below the watermarks. */
static void ms_pause(msgstream_t *m, int on)
{
	wstun_t *t = (wstun_t *)m;

	if (!t->ws)
		return;
	if (on)
		ws_pause(t->ws);
	else
		ws_resume(t->ws);
}

static size_t ms_pending(msgstream_t *m)
{
	wstun_t *t = (wstun_t *)m;

	return t->ws ? ws_pending(t->ws) : 0;
}

static const msgstream_hooks_t ms_hooks = {.pause = ms_pause, .pending = ms_pending};

static void free_all(wstun_t *t)
{
	if (t->ws)
		ws_free(t->ws);
	t->ws = NULL;
	if (t->enc) {
		seal_free(&t->tx);
		seal_free(&t->rx);
	}
	msgstream_release(&t->m, NULL);
}

/* Both EOFs, ours and the peer's: the peer's close, which a newer peer
 * sends without waiting for an answer (sclose), needs none. */
static void both_ends(wstun_t *t)
{
	if (t->ws && !t->ws_dead && t->shut_sent && t->m.eof)
		ws_close_unanswered(t->ws);
}

static void deliver_error(wstun_t *t, int err)
{
	msgstream_fail(&t->m, err);
	msgstream_deliver(&t->m);
}

static void on_message(ws_t *w, int opcode, sbuf_t *msg)
{
	wstun_t *t = ws_data(w);
	uint8_t type;

	if (opcode != WS_OP_BINARY || wstun_rec_open(t->enc ? &t->rx : NULL, msg, &type) < 0) {
		log_info(t->m.s.id, "ws tunnel: bad record (%s), closing",
		         opcode != WS_OP_BINARY ? "not binary" : "not authentic");
		sbuf_free(msg);
		ws_close(w, 1008, "");
		deliver_error(t, UV_EPROTO);
		return;
	}
	if (type == WSTUN_REC_DATA || type == WSTUN_REC_EOF) {
		if (type == WSTUN_REC_EOF) {
			sbuf_free(msg);
			msg = NULL;
		}
		msgstream_push(&t->m, msg); /* dropped after the end or an error */
		if (!msg) {
			t->last_eof_ours = 0;
			both_ends(t);
		}
		msgstream_deliver(&t->m);
		return;
	}
	if (t->ctl)
		t->ctl(t, type, sbuf_ptr(msg), msg->len);
	sbuf_free(msg);
}

static void on_drain(ws_t *w)
{
	msgstream_drained(&((wstun_t *)ws_data(w))->m);
}

static void on_close(ws_t *w, int code, const char *reason)
{
	wstun_t *t = ws_data(w);

	t->ws_dead = 1;
	if (t->m.s.closed) { /* we asked for this close: done */
		free_all(t);
		return;
	}
	log_debug(t->m.s.id, "ws tunnel: websocket closed (%d%s%s)", code,
	          reason && *reason ? " " : "", reason ? reason : "");
	if (t->ctl)
		t->ctl(t, 0, NULL, 0);
	if (!t->m.s.closed && t->m.eof && code == 1000) {
		t->peer_done = 1; /* its EOF, then its close: a clean end */
		msgstream_drain_later(&t->m);
		return;
	}
	if (!t->m.s.closed)
		deliver_error(t, UV_ECONNRESET);
}

static const ws_cbs_t ws_cbs = {on_message, on_drain, on_close};

static int send_rec(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	sbuf_t *m = wstun_rec_build(t->enc ? &t->tx : NULL, WS_HEADROOM, type, body, len);

	if (!m)
		return UV_EPROTO;
	return ws_send(t->ws, WS_OP_BINARY, m);
}

static int send_data(wstun_t *t, sbuf_t *b)
{
	int r = 0;

	for (size_t off = 0; off < b->len && r == 0;) {
		size_t n = b->len - off > WSTUN_REC_MAX ? WSTUN_REC_MAX : b->len - off;
		r = send_rec(t, WSTUN_REC_DATA, sbuf_ptr(b) + off, n);
		off += n;
	}
	sbuf_free(b);
	return r;
}

int wstun_send_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	if (!t->ws || t->ws_dead)
		return UV_ENOTCONN;
	return send_rec(t, type, body, len);
}

static int ws_write(stream_t *s, sbuf_t *b)
{
	wstun_t *t = (wstun_t *)s;
	int r;

	if (t->peer_done && !s->closed && !t->shut_pending) {
		sbuf_free(b); /* the peer closed after its EOF: nobody reads it */
		return 0;
	}
	if (s->closed || t->shut_pending || t->ws_dead) {
		sbuf_free(b);
		return UV_EPIPE;
	}
	if (!t->ws) {
		msgstream_hold(&t->m, b);
		return 0;
	}
	r = send_data(t, b);
	msgstream_update_wq(&t->m);
	return r;
}

static int ws_shutdown(stream_t *s)
{
	wstun_t *t = (wstun_t *)s;

	if (t->shut_pending)
		return 0;
	t->shut_pending = 1;
	if (t->ws && !t->ws_dead) {
		t->shut_sent = 1;
		t->last_eof_ours = 1;
		both_ends(t);
		return send_rec(t, WSTUN_REC_EOF, NULL, 0);
	}
	return 0;
}

static void ws_read_start(stream_t *s)
{
	msgstream_read_start(&((wstun_t *)s)->m);
}

static void ws_read_stop(stream_t *s)
{
	msgstream_read_stop(&((wstun_t *)s)->m); /* the WebSocket pauses once rq is full */
}

static void sclose(stream_t *s, int eof)
{
	wstun_t *t = (wstun_t *)s;

	if (eof && t->ws && !t->ws_dead && !t->shut_sent) {
		t->shut_pending = t->shut_sent = t->last_eof_ours = 1;
		send_rec(t, WSTUN_REC_EOF, NULL, 0);
	}
	if (!t->ws && t->cancel)
		t->cancel(t->cancel_arg);
	t->cancel = NULL;
	/* After both EOFs nothing can come that matters.  The side whose EOF
	 * completed the pair closes: its close goes out and the transport
	 * closes with it, the answer not awaited (a loop turn, a read and a
	 * wake for each new connection's end).  A server whose EOF went first
	 * sends nothing and waits for the client's close, which any sluice
	 * client sends after both EOFs (a write less; a client never waits,
	 * so EOFs that cross cannot leave both waiting). */
	if (t->ws && !t->ws_dead &&
	    (!(eof && t->m.eof)                ? ws_close(t->ws, 1000, "")
	     : !t->client && !t->last_eof_ours ? ws_close_await(t->ws, 1000)
	                                       : ws_close_now(t->ws, 1000)) == 0)
		return; /* freed from on_close */
	free_all(t);
}

static void ws_sclose(stream_t *s)
{
	sclose(s, 1);
}

static void ws_sreset(stream_t *s)
{
	sclose(s, 0);
}

static const stream_ops_t wstun_ops = {
    .name = "ws",
    .write = ws_write,
    .shutdown = ws_shutdown,
    .read_start = ws_read_start,
    .read_stop = ws_read_stop,
    .close = ws_sclose,
    .reset = ws_sreset,
};

wstun_t *wstun_new(uv_loop_t *loop, uint64_t id, wstun_ctl_fn ctl, void *owner)
{
	wstun_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	msgstream_init(&t->m, &wstun_ops, id, loop, &ms_hooks);
	msgstream_set_marks(&t->m, STREAM_HIGH_WATER, STREAM_LOW_WATER);
	t->loop = loop;
	t->ctl = ctl;
	t->owner = owner;
	return t;
}

int wstun_attach(wstun_t *t, uv_loop_t *loop, stream_t *inner, sbuf_t *first, int client,
                 const ws_opts_t *wo, const wstun_sess_t *sess)
{
	sbuf_t *b;
	int r;

	t->cancel = NULL;
	t->client = client != 0;
	t->enc = sess->enc;
	if (t->enc) {
		aead_alg_t alg = sess->aes ? AEAD_AES_128_GCM : AEAD_CHACHA20_POLY1305;

		if ((r = seal_init_alg(&t->tx, alg, sess->tx_key, 1, sess->tx_first)) < 0)
			return r;
		if ((r = seal_init_alg(&t->rx, alg, sess->rx_key, 0, sess->rx_first)) < 0) {
			seal_free(&t->tx);
			return r;
		}
	}
	inner->id = t->m.s.id;
	/* always read: control records and pings must get through while the
	 * owner is not reading data; data then waits in rq (bounded) */
	t->ws = ws_new(loop, inner, first, client, wo, &ws_cbs, t);
	if (sess->open && (r = wstun_send_ctl(t, sess->open_type ? sess->open_type : WSTUN_REC_OPEN,
	                                      sess->open, sess->open_len)) < 0)
		return r;
	while ((b = msgstream_pop_held(&t->m)))
		if ((r = send_data(t, b)) < 0)
			return r;
	if (t->shut_pending && !t->shut_sent) {
		t->shut_sent = 1;
		send_rec(t, WSTUN_REC_EOF, NULL, 0);
	}
	msgstream_update_wq(&t->m);
	return 0;
}

void wstun_head(wstun_t *t, sbuf_t *b, int wait)
{
	if (t->ws)
		ws_head(t->ws, b, wait);
	else
		sbuf_free(b);
}

int wstun_send_dgram(wstun_t *t, const target_t *addr, sbuf_t *b)
{
	uint8_t hdr[3 + 255];
	int hl, r;

	if (!t->ws || t->ws_dead) {
		sbuf_free(b);
		return UV_ENOTCONN;
	}
	if (ws_pending(t->ws) > DGRAM_QUEUE_MAX) {
		sbuf_free(b);
		return UV_ENOBUFS;
	}
	if ((hl = wstun_dgram_hdr(addr, hdr, sizeof(hdr))) < 0 || b->len > DGRAM_MAX) {
		sbuf_free(b);
		return UV_EMSGSIZE;
	}
	if (b->off < (uint32_t)hl) { /* no headroom: a chunk with some */
		sbuf_t *nb = dgram_buf(sbuf_ptr(b), b->len);
		sbuf_free(b);
		b = nb;
	}
	b->off -= (uint32_t)hl;
	b->len += (uint32_t)hl;
	memcpy(sbuf_ptr(b), hdr, (size_t)hl);
	r = send_rec(t, WSTUN_REC_DGRAM, sbuf_ptr(b), b->len);
	sbuf_free(b);
	return r;
}

size_t wstun_queued(wstun_t *t)
{
	return t->ws && !t->ws_dead ? ws_pending(t->ws) : 0;
}

size_t wstun_take_queued(wstun_t *t, uint8_t *out, size_t max)
{
	return msgstream_take(&t->m, out, max);
}

void wstun_set_canceler(wstun_t *t, void (*cancel)(void *arg), void *arg)
{
	t->cancel = cancel;
	t->cancel_arg = arg;
}

void wstun_fail(wstun_t *t, int err)
{
	t->cancel = NULL;
	sbufq_clear(&t->m.wq);
	msgstream_update_wq(&t->m);
	if (t->ws && !t->ws_dead)
		ws_close(t->ws, 1000, "");
	deliver_error(t, err);
}

void wstun_close_ws(wstun_t *t, uint16_t code, const char *reason)
{
	if (t->ws && !t->ws_dead)
		ws_close(t->ws, code, reason);
}
