/* wstun: see wstun.h.
 *
 * Life cycle: new -> (writes queue) -> attach(ws) -> records flow ->
 * stream_close: an EOF-less close sends a WebSocket close (1000) and the
 * object is freed when the close handshake ends (or ws gives up).  Reads
 * are delivered from ws callbacks or, after a pause, from a zero timer.
 */
#include "tunnel/wstun.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct wstun {
	stream_t s;
	uv_loop_t *loop;
	ws_t *ws;
	seal_t tx, rx;
	int enc;
	wstun_ctl_fn ctl;
	void *owner;
	void (*cancel)(void *arg);
	void *cancel_arg;
	sbuf_queue_t wq;  /* writes before attach */
	sbuf_queue_t rq;  /* records read while paused */
	uv_timer_t timer; /* deferred delivery */
	unsigned reading : 1, rx_eof : 1, rx_eof_queued : 1, shut_pending : 1, shut_sent : 1,
	    ws_dead : 1, error_sent : 1, high : 1;
};

static const stream_ops_t wstun_ops;

stream_t *wstun_stream(wstun_t *t)
{
	return &t->s;
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

static void update_wq(wstun_t *t)
{
	t->s.wq_bytes = t->ws ? ws_pending(t->ws) + t->wq.bytes : t->wq.bytes;
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

static void free_all(wstun_t *t)
{
	sbufq_clear(&t->wq);
	sbufq_clear(&t->rq);
	if (t->ws)
		ws_free(t->ws);
	t->ws = NULL;
	if (t->enc) {
		seal_free(&t->tx);
		seal_free(&t->rx);
	}
	uv_close((uv_handle_t *)&t->timer, free_on_close);
}

static void deliver_error(wstun_t *t, int err)
{
	if (t->s.closed || t->error_sent)
		return;
	t->error_sent = 1;
	if (t->s.cbs && t->s.cbs->on_error)
		t->s.cbs->on_error(&t->s, err);
}

/* Hand queued reads to the reader while it is reading. */
static void flush_reads(wstun_t *t)
{
	while (!t->s.closed && t->reading && t->rq.head) {
		sbuf_t *b = sbufq_pop(&t->rq);
		if (!b->len) { /* the EOF marker */
			sbuf_free(b);
			t->s.cbs->on_read(&t->s, NULL);
			continue;
		}
		t->s.cbs->on_read(&t->s, b);
	}
	if (!t->s.closed && t->ws && t->rq.bytes < STREAM_HIGH_WATER && t->reading)
		ws_resume(t->ws);
}

static void on_timer(uv_timer_t *h)
{
	wstun_t *t = h->data;

	flush_reads(t);
}

static void on_message(ws_t *w, int opcode, sbuf_t *msg)
{
	wstun_t *t = ws_data(w);
	uint8_t type;

	if (opcode != WS_OP_BINARY || wstun_rec_open(t->enc ? &t->rx : NULL, msg, &type) < 0) {
		log_info(t->s.id, "ws tunnel: bad record (%s), closing",
		         opcode != WS_OP_BINARY ? "not binary" : "not authentic");
		sbuf_free(msg);
		ws_close(w, 1008, "");
		deliver_error(t, UV_EPROTO);
		return;
	}
	if (type == WSTUN_REC_DATA || type == WSTUN_REC_EOF) {
		if (t->rx_eof) {
			sbuf_free(msg);
			return;
		}
		if (type == WSTUN_REC_EOF) {
			t->rx_eof = 1;
			msg->len = 0; /* marker */
		} else if (!msg->len) {
			sbuf_free(msg);
			return;
		}
		if (t->s.closed) {
			sbuf_free(msg);
			return;
		}
		if (t->reading && !t->rq.head && t->s.cbs) {
			if (type == WSTUN_REC_EOF) {
				sbuf_free(msg);
				t->s.cbs->on_read(&t->s, NULL);
			} else {
				t->s.cbs->on_read(&t->s, msg);
			}
			return;
		}
		sbufq_push(&t->rq, msg);
		if (t->rq.bytes >= STREAM_HIGH_WATER)
			ws_pause(w);
		return;
	}
	if (t->ctl)
		t->ctl(t, type, sbuf_ptr(msg), msg->len);
	sbuf_free(msg);
}

static void on_drain(ws_t *w)
{
	wstun_t *t = ws_data(w);

	update_wq(t);
	if (!t->s.closed && t->s.cbs && t->s.cbs->on_drain && t->s.wq_bytes <= STREAM_LOW_WATER)
		t->s.cbs->on_drain(&t->s);
}

static void on_close(ws_t *w, int code, const char *reason)
{
	wstun_t *t = ws_data(w);

	t->ws_dead = 1;
	if (t->s.closed) { /* we asked for this close: done */
		free_all(t);
		return;
	}
	log_debug(t->s.id, "ws tunnel: websocket closed (%d%s%s)", code,
	          reason && *reason ? " " : "", reason ? reason : "");
	if (t->ctl)
		t->ctl(t, 0, NULL, 0);
	if (!t->s.closed)
		deliver_error(t, UV_ECONNRESET);
}

static const ws_cbs_t ws_cbs = {on_message, on_drain, on_close};

static int send_rec(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	sbuf_t *m = wstun_rec_build(t->enc ? &t->tx : NULL, type, body, len);

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

	if (s->closed || t->shut_pending || t->ws_dead) {
		sbuf_free(b);
		return UV_EPIPE;
	}
	if (!t->ws) {
		sbufq_push(&t->wq, b);
		update_wq(t);
		return 0;
	}
	r = send_data(t, b);
	update_wq(t);
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
		return send_rec(t, WSTUN_REC_EOF, NULL, 0);
	}
	return 0;
}

static void ws_read_start(stream_t *s)
{
	wstun_t *t = (wstun_t *)s;

	t->reading = 1;
	if (t->rq.head)
		uv_timer_start(&t->timer, on_timer, 0, 0);
	else if (t->ws)
		ws_resume(t->ws);
}

static void ws_read_stop(stream_t *s)
{
	wstun_t *t = (wstun_t *)s;

	t->reading = 0;
	uv_timer_stop(&t->timer); /* the WebSocket pauses once rq is full */
}

static void ws_sclose(stream_t *s)
{
	wstun_t *t = (wstun_t *)s;

	uv_timer_stop(&t->timer);
	if (!t->ws && t->cancel)
		t->cancel(t->cancel_arg);
	t->cancel = NULL;
	if (t->ws && !t->ws_dead && ws_close(t->ws, 1000, "") == 0)
		return; /* freed from on_close */
	free_all(t);
}

static const stream_ops_t wstun_ops = {
    .name = "ws",
    .write = ws_write,
    .shutdown = ws_shutdown,
    .read_start = ws_read_start,
    .read_stop = ws_read_stop,
    .close = ws_sclose,
};

wstun_t *wstun_new(uv_loop_t *loop, uint64_t id, wstun_ctl_fn ctl, void *owner)
{
	wstun_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->s.ops = &wstun_ops;
	t->s.id = id;
	t->loop = loop;
	t->ctl = ctl;
	t->owner = owner;
	uv_timer_init(loop, &t->timer);
	t->timer.data = t;
	return t;
}

int wstun_attach(wstun_t *t, uv_loop_t *loop, stream_t *inner, sbuf_t *first, int client,
                 const ws_opts_t *wo, const wstun_sess_t *sess)
{
	int r;

	t->cancel = NULL;
	t->enc = sess->enc;
	if (t->enc) {
		if ((r = seal_init(&t->tx, sess->tx_key, 1, sess->tx_first)) < 0)
			return r;
		if ((r = seal_init(&t->rx, sess->rx_key, 0, sess->rx_first)) < 0) {
			seal_free(&t->tx);
			return r;
		}
	}
	inner->id = t->s.id;
	/* always read: control records and pings must get through while the
	 * owner is not reading data; data then waits in rq (bounded) */
	t->ws = ws_new(loop, inner, first, client, wo, &ws_cbs, t);
	if (sess->open && (r = wstun_send_ctl(t, WSTUN_REC_OPEN, sess->open, sess->open_len)) < 0)
		return r;
	while (t->wq.head) {
		sbuf_t *b = sbufq_pop(&t->wq);
		if ((r = send_data(t, b)) < 0)
			return r;
	}
	if (t->shut_pending && !t->shut_sent) {
		t->shut_sent = 1;
		send_rec(t, WSTUN_REC_EOF, NULL, 0);
	}
	update_wq(t);
	return 0;
}

size_t wstun_take_queued(wstun_t *t, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (t->wq.head && n < max) {
		sbuf_t *b = t->wq.head;
		size_t k = b->len < max - n ? b->len : max - n;
		memcpy(out + n, sbuf_ptr(b), k);
		n += k;
		if (k == b->len) {
			sbuf_free(sbufq_pop(&t->wq));
		} else {
			sbuf_consume(b, k);
			t->wq.bytes -= k;
		}
	}
	update_wq(t);
	return n;
}

void wstun_set_canceler(wstun_t *t, void (*cancel)(void *arg), void *arg)
{
	t->cancel = cancel;
	t->cancel_arg = arg;
}

void wstun_fail(wstun_t *t, int err)
{
	t->cancel = NULL;
	sbufq_clear(&t->wq);
	update_wq(t);
	if (t->ws && !t->ws_dead)
		ws_close(t->ws, 1000, "");
	deliver_error(t, err);
}

void wstun_close_ws(wstun_t *t, uint16_t code, const char *reason)
{
	if (t->ws && !t->ws_dead)
		ws_close(t->ws, code, reason);
}
