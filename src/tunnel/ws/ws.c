/* ws: see ws.h.
 *
 * The connection frames its own messages (tunnel/ws/ws_frame.h), driven from
 * our loop.  Every byte of a tunnel passes through here, so the data path
 * is built for it: one pass over a payload each way, no per-frame
 * allocation beyond the message buffer, writes batched.
 *
 *   receive  inner on_read chunks queue on rq and are parsed at once while
 *            the owner reads.  A header split between chunks is gathered in
 *            hdr (14 bytes).  A data frame's payload is unmasked while it
 *            is copied into the message's sbuf (ws_mask_copy: the one copy
 *            of the receive path), which is sized from the frame header, so
 *            a message in one frame is allocated once and never grows.
 *            Control frames (at most 125 bytes) go into ctl; pings are
 *            answered, a close ends reading.  The reassembled size is
 *            capped; text is checked as UTF-8 as it arrives.
 *   send     ws_send frames the message in place when it has WS_HEADROOM in
 *            front of its data (else copies it once), masks it in place on
 *            the client side (ws_mask) and queues it on out; out goes to the
 *            inner stream from an idle callback, once per loop iteration,
 *            in one stream_writev (one writev(2) for TCP), so many messages
 *            cost one system call.  ws_pending() is out + the inner write
 *            queue; on_drain reports it shrinking at or under the low
 *            mark, down to empty, as a stream's does.
 *   pause    ws_pause stops reading the inner stream and parsing: what is
 *            left of the current chunk waits on rq, so the receive side
 *            never holds more than a read chunk, a frame header and one
 *            message.  ws_resume parses on from the idle callback.
 *   timer    one uv_timer: in OPEN the keepalive (ping after ping_ms of
 *            receive silence, give up after dead_ms without any byte); in
 *            CLOSING / FLUSHING the 2 s bound on the close handshake.
 *
 * The idle handle (not a prepare handle) is what defers work: one started
 * from inside another connection's deferred work still runs before the
 * loop next sleeps, since an active idle handle keeps the poll from
 * blocking.
 *
 * States (ws_set_state checks every transition):
 *
 *   OPEN -----ws_close-----> CLOSING --peer's close--> FLUSHING --> CLOSED
 *     |                         |                        ^            ^
 *     +--peer's close, protocol error, too big ----------+            |
 *     +--transport EOF/error, keepalive ---------------(1006)---------+
 *
 *   FLUSHING means reading is over and our close frame is on its way (the
 *   echo of the peer's, or ours with the error's code); once the inner
 *   stream has written everything (or the close timer expires) the
 *   transport is closed and on_close fires: the state is CLOSED.  Nothing
 *   is sent after a close frame.
 *
 * No owner callback runs inside a ws_* function: those only queue work and
 * start the idle handle.  ws_free closes the inner stream at once and the
 * handles; the memory goes in the last handle's close callback, so ws_free
 * is safe from inside any of our callbacks.
 */
#include "tunnel/ws/ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/bytes.h"
#include "core/log.h"
#include "core/metrics.h"

#define WS_DEFAULT_MAX (1u << 20)
#define WS_MAX_MAX (1u << 30)
#define WS_CLOSE_MS 2000
#define WS_REASON_MAX 123 /* a control frame's 125 bytes minus the code */

enum {
	WS_CODE_NORMAL = 1000,
	WS_CODE_PROTOCOL = 1002,
	WS_CODE_NO_STATUS = 1005,
	WS_CODE_ABNORMAL = 1006,
	WS_CODE_BAD_DATA = 1007,
	WS_CODE_TOO_BIG = 1009,
};

static const opt_t keepalive_opts[] = {
    OPT_DURATION(ws_opts_t, ping_ms, "ping", "30s", "WebSocket ping after this much silence"),
    OPT_DURATION(ws_opts_t, dead_ms, "dead", "90s", "close a WebSocket silent this long"),
};

const opt_schema_t ws_keepalive_opts = OPT_SCHEMA(NULL, keepalive_opts);

typedef enum ws_state { WS_OPEN, WS_CLOSING, WS_FLUSHING, WS_CLOSED } ws_state_t;

static const char *const state_names[] = {"OPEN", "CLOSING", "FLUSHING", "CLOSED"};

struct ws {
	uv_loop_t *loop;
	stream_t *inner; /* NULL once closed */
	const ws_cbs_t *cbs;
	void *ud;
	uint64_t id;
	ws_state_t state;
	int client;
	size_t max_message;
	uint64_t ping_ms, dead_ms;
	uint64_t last_rx, last_ping, close_at;

	/* receive */
	sbuf_queue_t rq;         /* read from inner, not yet parsed */
	uint8_t hdr[WS_HDR_MAX]; /* a frame header split between chunks */
	uint8_t hlen;
	ws_frame_t f;   /* the frame being received (in_frame) */
	uint64_t f_off; /* its payload bytes received so far */
	sbuf_t *rx_msg; /* the data message being reassembled */
	int rx_op;      /* its opcode; 0: none under way */
	uint32_t rx_utf8;
	uint8_t ctl[WS_CTRL_MAX];

	/* send */
	sbuf_queue_t out;  /* frames not yet handed to inner */
	uint64_t tx_total; /* bytes put on out, ever */
	uint64_t pong_end; /* tx_total at the end of the last pong queued */

	uint16_t code; /* for on_close */
	char reason[WS_REASON_MAX + 1];

	uv_timer_t timer;
	uv_idle_t idle;
	int handles; /* still open, for ws_free */

	size_t drained_at; /* ws_pending() when on_drain last fired */
	unsigned paused : 1, reading : 1, eof : 1, above : 1, freed : 1;
	unsigned in_frame : 1, rx_done : 1, close_sent : 1, werr : 1;
};

static void ws_set_state(ws_t *w, ws_state_t to)
{
	static const unsigned legal[] = {
	    [WS_OPEN] = 1u << WS_CLOSING | 1u << WS_FLUSHING | 1u << WS_CLOSED,
	    [WS_CLOSING] = 1u << WS_FLUSHING | 1u << WS_CLOSED,
	    [WS_FLUSHING] = 1u << WS_CLOSED,
	    [WS_CLOSED] = 0,
	};

	if (!(legal[w->state] & (1u << to))) {
		log_err(w->id, "ws: illegal state change %s -> %s", state_names[w->state],
		        state_names[to]);
		abort();
	}
	log_debug(w->id, "ws %s -> %s", state_names[w->state], state_names[to]);
	w->state = to;
}

static void set_reason(char *dst, const void *p, size_t n)
{
	if (n > WS_REASON_MAX)
		n = WS_REASON_MAX;
	memcpy(dst, p, n);
	dst[n] = 0;
}

static void kick(ws_t *w);
static void pump(ws_t *w);
static void on_timer(uv_timer_t *t);
static void start_close_timer(ws_t *w);

/* -- metrics -- */

static uint64_t pongs_dropped; /* process-wide, for the metric */
static int metrics_on;

static void pong_metrics(mbuf_t *b, void *ud)
{
	metrics_sample(b, "sluice_ws_pongs_dropped_total", "counter",
	               "WebSocket pongs not queued because one was still waiting to be written.",
	               "", pongs_dropped);
}

/* -- send -- */

/* Bytes handed to the transport that it has not written yet. */
static size_t out_pending(const ws_t *w)
{
	return w->out.bytes + (w->inner ? w->inner->wq_bytes : 0);
}

static void genmask(uint8_t key[4])
{
	static _Thread_local uint8_t pool[512];
	static _Thread_local size_t used = sizeof(pool);

	if (used + 4 > sizeof(pool)) {
		if (RAND_bytes(pool, sizeof(pool)) != 1)
			abort(); /* no randomness: nothing safe to do */
		used = 0;
	}
	memcpy(key, pool + used, 4);
	used += 4;
}

/* Frame msg (ownership moves) and queue it: in place when it has room in
 * front, else in a new buffer, with the payload masked on the way. */
static void queue_frame(ws_t *w, int opcode, sbuf_t *msg)
{
	uint8_t key[4], *k = NULL;
	size_t hl = ws_frame_header_len(msg->len, w->client);
	sbuf_t *f;

	if (w->client) {
		genmask(key);
		k = key;
	}
	if (msg->off >= hl) {
		size_t plen = msg->len;

		f = msg;
		if (k)
			ws_mask(sbuf_ptr(f), plen, k, 0);
		f->off -= (uint32_t)hl;
		f->len += (uint32_t)hl;
		ws_frame_header(sbuf_ptr(f), opcode, plen, k);
	} else {
		f = sbuf_new(hl + msg->len);
		ws_frame_header(f->data, opcode, msg->len, k);
		if (k)
			ws_mask_copy(f->data + hl, sbuf_ptr(msg), msg->len, k, 0);
		else
			memcpy(f->data + hl, sbuf_ptr(msg), msg->len);
		f->len = (uint32_t)(hl + msg->len);
		sbuf_free(msg);
	}
	w->tx_total += f->len;
	sbufq_push(&w->out, f);
}

static void queue_control(ws_t *w, int opcode, const uint8_t *p, size_t n)
{
	sbuf_t *m = sbuf_new(WS_HEADROOM + n);

	m->off = WS_HEADROOM;
	if (n)
		memcpy(sbuf_ptr(m), p, n);
	m->len = (uint32_t)n;
	queue_frame(w, opcode, m);
}

/* Our close frame: code (none if 0) and reason.  Nothing follows it. */
static void queue_close(ws_t *w, uint16_t code, const char *reason, size_t rlen)
{
	uint8_t p[WS_CTRL_MAX];
	size_t n = 0;

	if (w->close_sent || !w->inner)
		return;
	if (code) {
		put_be16(p, code);
		if (rlen > WS_REASON_MAX)
			rlen = WS_REASON_MAX;
		if (rlen)
			memcpy(p + 2, reason, rlen);
		n = 2 + rlen;
	}
	queue_control(w, WS_OP_CLOSE, p, n);
	w->close_sent = 1;
}

/* A pong for a ping.  A peer that pings and never reads would pile them up
 * here: at most one pong waits to be written; while it does, later ones
 * are dropped and counted (RFC 6455 5.5.3 lets an endpoint answer only some
 * of a run of pings). */
static void queue_pong(ws_t *w, const uint8_t *p, size_t n)
{
	if (w->close_sent || !w->inner)
		return;
	if (w->pong_end > w->tx_total - out_pending(w)) {
		pongs_dropped++;
		return;
	}
	queue_control(w, WS_OP_PONG, p, n);
	w->pong_end = w->tx_total;
}

/* out to the inner stream, in one batch. */
static void flush(ws_t *w)
{
	if (!w->inner || !w->out.head)
		return;
	if (stream_writev(w->inner, &w->out) < 0)
		w->werr = 1;
}

/* -- receive -- */

/* Size for a message buffer: exact for small ones (a relay may queue many),
 * a pooled default-size chunk when it would be at least half used. */
static size_t msg_cap(size_t need)
{
	if (need > SBUF_DEFAULT / 2 && need <= SBUF_DEFAULT)
		return SBUF_DEFAULT;
	return need;
}

static const char *code_reason(uint16_t code)
{
	switch (code) {
	case WS_CODE_TOO_BIG:
		return "message too big";
	case WS_CODE_BAD_DATA:
		return "invalid payload data";
	default:
		return "protocol error";
	}
}

/* Reading is over: drop what is left of it. */
static void rx_stop(ws_t *w)
{
	w->rx_done = 1;
	w->in_frame = 0;
	w->hlen = 0;
	sbufq_clear(&w->rq);
	sbuf_free(w->rx_msg);
	w->rx_msg = NULL;
	w->rx_op = 0;
}

/* A protocol error: our close with its code, then FLUSHING. */
static void rx_fail(ws_t *w, uint16_t code)
{
	rx_stop(w);
	if (w->state == WS_OPEN) {
		const char *why = code_reason(code);

		queue_close(w, code, NULL, 0);
		w->code = code;
		set_reason(w->reason, why, strlen(why));
		ws_set_state(w, WS_FLUSHING);
		start_close_timer(w);
	} else if (w->state == WS_CLOSING) {
		ws_set_state(w, WS_FLUSHING);
	}
}

static int valid_close_code(uint16_t code)
{
	return (code >= 1000 && code <= 1011 && code != 1004 && code != 1005 && code != 1006) ||
	       (code >= 3000 && code <= 4999);
}

/* The peer's close frame (its payload in ctl): answered with the same code
 * and reason, unless ours went first. */
static void rx_close(ws_t *w, size_t n)
{
	uint16_t code = 0;
	uint32_t u8 = WS_UTF8_OK;

	if (n == 1 || (n >= 2 && !valid_close_code(code = get_be16(w->ctl)))) {
		rx_fail(w, WS_CODE_PROTOCOL);
		return;
	}
	if (n > 2) {
		ws_utf8(&u8, w->ctl + 2, n - 2);
		if (u8 != WS_UTF8_OK) {
			rx_fail(w, WS_CODE_BAD_DATA);
			return;
		}
	}
	rx_stop(w);
	if (w->state == WS_OPEN) {
		queue_close(w, code, (const char *)w->ctl + 2, n > 2 ? n - 2 : 0);
		w->code = code ? code : WS_CODE_NO_STATUS;
		set_reason(w->reason, w->ctl + 2, n > 2 ? n - 2 : 0);
		ws_set_state(w, WS_FLUSHING);
		start_close_timer(w);
	} else if (w->state == WS_CLOSING) {
		ws_set_state(w, WS_FLUSHING);
	}
}

/* A frame header arrived: check it, make room for a data frame. */
static int rx_frame_start(ws_t *w)
{
	ws_frame_t *f = &w->f;
	size_t have, need;

	if (ws_frame_check(f, !w->client, w->rx_op != 0) < 0) {
		rx_fail(w, WS_CODE_PROTOCOL);
		return -1;
	}
	w->in_frame = 1;
	w->f_off = 0;
	if (ws_is_control(f->opcode))
		return 0;
	if (f->opcode != WS_OP_CONT) {
		w->rx_op = f->opcode;
		w->rx_utf8 = WS_UTF8_OK;
	}
	have = w->rx_msg ? w->rx_msg->len : 0;
	if (f->len > w->max_message - have) {
		rx_fail(w, WS_CODE_TOO_BIG);
		return -1;
	}
	need = have + (size_t)f->len;
	if (!w->rx_msg) {
		w->rx_msg = sbuf_new(msg_cap(need));
	} else if (w->rx_msg->cap < need) {
		size_t cap = 2 * (size_t)w->rx_msg->cap;
		sbuf_t *b;

		if (cap < need)
			cap = need;
		if (cap > w->max_message)
			cap = w->max_message;
		b = sbuf_new(cap);
		memcpy(b->data, sbuf_ptr(w->rx_msg), have);
		b->len = (uint32_t)have;
		sbuf_free(w->rx_msg);
		w->rx_msg = b;
	}
	return 0;
}

/* The frame's payload is all here. */
static void rx_frame_end(ws_t *w)
{
	ws_frame_t *f = &w->f;
	sbuf_t *m;

	w->in_frame = 0;
	switch (f->opcode) {
	case WS_OP_PING:
		queue_pong(w, w->ctl, (size_t)f->len);
		kick(w);
		return;
	case WS_OP_PONG:
		return; /* liveness is any byte */
	case WS_OP_CLOSE:
		rx_close(w, (size_t)f->len);
		return;
	default:
		break;
	}
	if (!f->fin)
		return;
	if (w->rx_op == WS_OP_TEXT && w->rx_utf8 != WS_UTF8_OK) {
		rx_fail(w, WS_CODE_BAD_DATA);
		return;
	}
	m = w->rx_msg;
	w->rx_msg = NULL;
	f->opcode = (uint8_t)w->rx_op;
	w->rx_op = 0;
	if (w->cbs->on_message)
		w->cbs->on_message(w, f->opcode, m);
	else
		sbuf_free(m);
}

/* Payload bytes of the current frame from the front of rq. */
static void rx_payload(ws_t *w, sbuf_t *b)
{
	ws_frame_t *f = &w->f;
	size_t n = b->len;
	uint8_t *dst;

	if (n > f->len - w->f_off)
		n = (size_t)(f->len - w->f_off);
	if (ws_is_control(f->opcode)) {
		dst = w->ctl + w->f_off;
	} else {
		dst = sbuf_ptr(w->rx_msg) + w->rx_msg->len;
		w->rx_msg->len += (uint32_t)n;
	}
	if (f->masked)
		ws_mask_copy(dst, sbuf_ptr(b), n, f->key, w->f_off);
	else
		memcpy(dst, sbuf_ptr(b), n);
	sbuf_consume(b, n);
	w->rq.bytes -= n;
	w->f_off += n;
	if (w->rx_op == WS_OP_TEXT && !ws_is_control(f->opcode)) {
		ws_utf8(&w->rx_utf8, dst, n);
		if (w->rx_utf8 == WS_UTF8_BAD)
			rx_fail(w, WS_CODE_BAD_DATA);
	}
}

/* A header from the front of rq: 1 when f holds one, 0 for more bytes,
 * -1 after an error. */
static int rx_header(ws_t *w)
{
	sbuf_t *b = w->rq.head;
	size_t n;
	int r;

	if (!w->hlen) {
		r = ws_frame_parse(sbuf_ptr(b), b->len, &w->f);
		if (r > 0) {
			sbuf_consume(b, (size_t)r);
			w->rq.bytes -= (size_t)r;
			return 1;
		}
	} else {
		n = WS_HDR_MAX - w->hlen < (size_t)b->len ? WS_HDR_MAX - w->hlen : b->len;
		memcpy(w->hdr + w->hlen, sbuf_ptr(b), n);
		r = ws_frame_parse(w->hdr, w->hlen + n, &w->f);
		if (r > 0) {
			n = (size_t)r - w->hlen;
			sbuf_consume(b, n);
			w->rq.bytes -= n;
			w->hlen = 0;
			return 1;
		}
	}
	if (r < 0) {
		rx_fail(w, WS_CODE_PROTOCOL);
		return -1;
	}
	/* the header goes on in the next chunk: keep what this one has */
	n = b->len;
	memcpy(w->hdr + w->hlen, sbuf_ptr(b), n);
	w->hlen = (uint8_t)(w->hlen + n);
	sbuf_consume(b, n);
	w->rq.bytes -= n;
	return 0;
}

/* Parse rq while the owner reads; stops when paused, when reading ends,
 * or when the owner frees or closes us from a callback. */
static void rx_parse(ws_t *w)
{
	while (w->rq.head && !w->paused && !w->freed && !w->rx_done &&
	       (w->state == WS_OPEN || w->state == WS_CLOSING)) {
		sbuf_t *b = w->rq.head;

		if (!b->len) {
			sbuf_free(sbufq_pop(&w->rq));
			continue;
		}
		if (!w->in_frame) {
			if (rx_header(w) <= 0 || rx_frame_start(w) < 0)
				continue;
		} else {
			rx_payload(w, b);
		}
		if (w->in_frame && w->f_off == w->f.len)
			rx_frame_end(w);
	}
}

/* -- inner stream -- */

static void drop_transport(ws_t *w)
{
	if (w->inner) {
		stream_close(w->inner);
		w->inner = NULL;
	}
	w->reading = 0;
	sbufq_clear(&w->rq);
	sbufq_clear(&w->out);
}

/* The end: everything is released but the struct, then on_close. */
static void finish(ws_t *w, int code, const char *reason)
{
	if (w->state == WS_CLOSED)
		return;
	ws_set_state(w, WS_CLOSED);
	uv_timer_stop(&w->timer);
	drop_transport(w);
	sbuf_free(w->rx_msg);
	w->rx_msg = NULL;
	log_debug(w->id, "ws closed: %d %s", code, reason);
	if (!w->freed && w->cbs->on_close)
		w->cbs->on_close(w, code, reason);
}

static void set_reading(ws_t *w)
{
	int want = w->inner && !w->paused && !w->eof && !w->rx_done &&
	           (w->state == WS_OPEN || w->state == WS_CLOSING);

	if (want == (int)w->reading)
		return;
	w->reading = (unsigned)want;
	if (want)
		stream_read_start(w->inner);
	else
		stream_read_stop(w->inner);
}

static void on_inner_read(stream_t *s, sbuf_t *b)
{
	ws_t *w = s->data;

	w->last_rx = uv_now(w->loop);
	if (!b)
		w->eof = 1;
	else if (!b->len || w->rx_done)
		sbuf_free(b);
	else
		sbufq_push(&w->rq, b);
	pump(w);
}

static void on_inner_drain(stream_t *s)
{
	pump(s->data);
}

static void on_inner_error(stream_t *s, int err)
{
	ws_t *w = s->data;

	log_debug(w->id, "ws transport: %s", uv_strerror(err));
	if (w->state == WS_FLUSHING) {
		drop_transport(w);
		pump(w);
	} else {
		finish(w, WS_CODE_ABNORMAL, "transport error");
	}
}

static const stream_cbs_t inner_cbs = {
    .on_read = on_inner_read,
    .on_drain = on_inner_drain,
    .on_error = on_inner_error,
};

/* -- the engine -- */

static void pump(ws_t *w)
{
	if (w->freed || w->state == WS_CLOSED)
		return;
	rx_parse(w);
	if (w->freed || w->state == WS_CLOSED)
		return;

	flush(w);
	if (w->werr) {
		w->werr = 0;
		if (w->state != WS_FLUSHING) {
			finish(w, WS_CODE_ABNORMAL, "transport error");
			return;
		}
		drop_transport(w);
	}

	/* ends */
	if (w->state == WS_FLUSHING) {
		if (w->inner && !w->out.head && !w->inner->wq_bytes)
			drop_transport(w); /* our close frame is out */
		if (!w->inner) {
			finish(w, w->code, w->reason);
			return;
		}
	} else if (w->eof && !w->rq.bytes) {
		finish(w, WS_CODE_ABNORMAL, "transport closed");
		return;
	}
	/* like a stream: report progress whenever the queue is at or under
	 * the low mark and smaller than last reported, down to empty (a relay
	 * ends only once its queues are empty) */
	if (w->above && w->state == WS_OPEN && ws_pending(w) <= STREAM_LOW_WATER &&
	    ws_pending(w) < w->drained_at) {
		w->drained_at = ws_pending(w);
		w->above = w->drained_at != 0;
		if (w->cbs->on_drain) {
			w->cbs->on_drain(w);
			if (w->freed || w->state == WS_CLOSED)
				return;
		}
	}
	set_reading(w);
}

static void on_idle(uv_idle_t *h)
{
	uv_idle_stop(h);
	pump(h->data);
}

static void kick(ws_t *w)
{
	if (!w->freed && !uv_is_active((uv_handle_t *)&w->idle))
		uv_idle_start(&w->idle, on_idle);
}

/* -- timer: keepalive, then the close bound -- */

static void rearm(ws_t *w, uint64_t at)
{
	uint64_t now = uv_now(w->loop);

	uv_timer_start(&w->timer, on_timer, at > now ? at - now : 0, 0);
}

static void keepalive(ws_t *w)
{
	uint64_t now = uv_now(w->loop), next = UINT64_MAX;

	if (!w->ping_ms && !w->dead_ms)
		return;
	if (w->paused)
		w->last_rx = now; /* not reading: the peer cannot be judged */
	if (w->dead_ms && now - w->last_rx >= w->dead_ms) {
		finish(w, WS_CODE_ABNORMAL, "keepalive timeout");
		return;
	}
	if (w->ping_ms) {
		uint64_t base = w->last_rx > w->last_ping ? w->last_rx : w->last_ping;

		if (now >= base + w->ping_ms) {
			queue_control(w, WS_OP_PING, NULL, 0);
			kick(w);
			w->last_ping = base = now;
		}
		next = base + w->ping_ms;
	}
	if (w->dead_ms && w->last_rx + w->dead_ms < next)
		next = w->last_rx + w->dead_ms;
	rearm(w, next);
}

static void on_timer(uv_timer_t *t)
{
	ws_t *w = t->data;

	switch (w->state) {
	case WS_OPEN:
		keepalive(w);
		break;
	case WS_CLOSING:
	case WS_FLUSHING:
		if (uv_now(w->loop) < w->close_at) {
			rearm(w, w->close_at);
			break;
		}
		log_debug(w->id, "ws: close handshake timed out");
		if (w->state == WS_CLOSING)
			ws_set_state(w, WS_FLUSHING);
		drop_transport(w);
		pump(w);
		break;
	case WS_CLOSED:
		break;
	}
}

static void start_close_timer(ws_t *w)
{
	w->close_at = uv_now(w->loop) + WS_CLOSE_MS;
	rearm(w, w->close_at);
}

/* -- the API -- */

ws_t *ws_new(uv_loop_t *loop, stream_t *inner, sbuf_t *first, int client, const ws_opts_t *o,
             const ws_cbs_t *cbs, void *ud)
{
	ws_t *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->loop = loop;
	w->inner = inner;
	w->cbs = cbs;
	w->ud = ud;
	w->id = inner->id;
	w->client = !!client;
	w->max_message = o && o->max_message ? o->max_message : WS_DEFAULT_MAX;
	if (w->max_message > WS_MAX_MAX)
		w->max_message = WS_MAX_MAX;
	w->ping_ms = o ? o->ping_ms : 0;
	w->dead_ms = o ? o->dead_ms : 0;
	if (!metrics_on) {
		metrics_register(pong_metrics, NULL);
		metrics_on = 1;
	}

	uv_timer_init(loop, &w->timer);
	uv_idle_init(loop, &w->idle);
	w->timer.data = w->idle.data = w;
	w->handles = 2;
	w->last_rx = uv_now(loop);
	if (w->ping_ms || w->dead_ms)
		uv_timer_start(&w->timer, on_timer,
		               w->ping_ms && (!w->dead_ms || w->ping_ms < w->dead_ms) ? w->ping_ms
		                                                                      : w->dead_ms,
		               0);

	stream_set_cbs(inner, &inner_cbs, w);
	if (first && first->len)
		sbufq_push(&w->rq, first);
	else
		sbuf_free(first);
	set_reading(w);
	if (w->rq.bytes)
		kick(w);
	log_debug(w->id, "ws %s open (max message %zu)", client ? "client" : "server",
	          w->max_message);
	return w;
}

void *ws_data(ws_t *w)
{
	return w->ud;
}

uint64_t ws_id(ws_t *w)
{
	return w->id;
}

size_t ws_pending(ws_t *w)
{
	return out_pending(w);
}

uint64_t ws_pongs_dropped(void)
{
	return pongs_dropped;
}

int ws_send(ws_t *w, int opcode, sbuf_t *msg)
{
	if (!msg)
		return UV_EINVAL;
	if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY) {
		sbuf_free(msg);
		return UV_EINVAL;
	}
	if (w->freed || w->state != WS_OPEN || !w->inner || w->close_sent) {
		sbuf_free(msg);
		return UV_EPIPE;
	}
	queue_frame(w, opcode, msg);
	if (ws_pending(w)) {
		w->above = 1;
		w->drained_at = SIZE_MAX;
	}
	kick(w);
	return 0;
}

void ws_pause(ws_t *w)
{
	if (w->freed)
		return;
	w->paused = 1;
	set_reading(w);
}

void ws_resume(ws_t *w)
{
	if (w->freed || !w->paused)
		return;
	w->paused = 0;
	w->last_rx = uv_now(w->loop);
	kick(w); /* what rq holds is parsed from the idle callback */
}

int ws_close(ws_t *w, uint16_t code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;

	if (!valid_close_code(code) || rlen > WS_REASON_MAX)
		return UV_EINVAL;
	if (w->freed || w->state != WS_OPEN || !w->inner || w->close_sent)
		return UV_EALREADY;
	/* data queued before the close leaves first: out is in order */
	queue_close(w, code, reason, rlen);
	w->code = code;
	set_reason(w->reason, reason ? reason : "", rlen);
	ws_set_state(w, WS_CLOSING);
	start_close_timer(w);
	kick(w);
	return 0;
}

static void destroy(ws_t *w)
{
	drop_transport(w);
	sbuf_free(w->rx_msg);
	free(w);
}

static void on_handle_closed(uv_handle_t *h)
{
	ws_t *w = h->data;

	if (--w->handles == 0)
		destroy(w);
}

void ws_free(ws_t *w)
{
	if (!w || w->freed)
		return;
	w->freed = 1;
	if (w->inner) {
		stream_close(w->inner);
		w->inner = NULL;
	}
	uv_close((uv_handle_t *)&w->timer, on_handle_closed);
	uv_close((uv_handle_t *)&w->idle, on_handle_closed);
}
