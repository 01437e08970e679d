/* ws: see ws.h.
 *
 * Connection: libwslay's event API does the framing, driven from our loop.
 *
 *   receive  inner on_read chunks queue on rq; wslay pulls them through
 *            recv_cb (which copies into wslay's 4 KiB frame buffer) and
 *            hands us frame starts, payload chunks and message ends.  Data
 *            frames are not buffered by wslay (no_buffering): each payload
 *            chunk goes straight into the message's sbuf, sized from the
 *            frame header, so a message costs one copy past wslay's.  The
 *            reassembled size is capped here (wslay only checks one frame).
 *            Control frames stay with wslay, which answers pings and closes.
 *   send     ws_send queues the message with wslay (one copy) and runs
 *            wslay_event_send at once; send_cb appends frames to 64 KiB
 *            chunks (out), so the bytes of many messages share one chunk.
 *            The chunks are written to the inner stream from a uv_prepare
 *            callback, once per loop iteration: writes are few and large.
 *            ws_pending() is wslay's queue + out + the inner write queue;
 *            on_drain reports it shrinking at or under the low mark, down
 *            to empty, as a stream's does.
 *   pause    ws_pause stops reading the inner stream and holds messages
 *            wslay still completes from its buffer (held); ws_resume
 *            delivers them from the prepare callback.  While reading, rq is
 *            always emptied, so the receive side never holds more than a
 *            read chunk, wslay's frame buffer and one message.
 *   timer    one uv_timer: in OPEN the keepalive (ping after ping_ms of
 *            receive silence, give up after dead_ms without any byte); in
 *            CLOSING / FLUSHING the 2 s bound on the close handshake.
 *
 * States (ws_set_state checks every transition):
 *
 *   OPEN -----ws_close-----> CLOSING --peer's close--> FLUSHING --> CLOSED
 *     |                         |                        ^            ^
 *     +--peer's close, protocol error, too big ----------+            |
 *     +--transport EOF/error, keepalive ---------------(1006)---------+
 *
 *   FLUSHING means reading is over and our close frame is on its way; once
 *   the inner stream has written everything (or the close timer expires)
 *   the transport is closed, and when the owner has taken every received
 *   message, on_close fires and the state is CLOSED.
 *
 * No owner callback runs inside a ws_* function: those only queue work and
 * start the prepare handle.  ws_free closes the inner stream at once and
 * the handles; the memory (and wslay's context) goes in the last handle's
 * close callback, so ws_free is safe from inside any of our callbacks.
 */
#include "tunnel/ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <wslay/wslay.h>

#include "core/log.h"
#include "core/metrics.h"

#define WS_DEFAULT_MAX (1u << 20)
#define WS_MAX_MAX (1u << 30)
#define WS_CLOSE_MS 2000
#define WS_REASON_MAX 123 /* a control frame's 125 bytes minus the code */

static const opt_t keepalive_opts[] = {
    OPT_DURATION(ws_opts_t, ping_ms, "ping", "30s", "WebSocket ping after this much silence"),
    OPT_DURATION(ws_opts_t, dead_ms, "dead", "90s", "close a WebSocket silent this long"),
};

const opt_schema_t ws_keepalive_opts = OPT_SCHEMA(NULL, keepalive_opts);

typedef enum ws_state { WS_OPEN, WS_CLOSING, WS_FLUSHING, WS_CLOSED } ws_state_t;

static const char *const state_names[] = {"OPEN", "CLOSING", "FLUSHING", "CLOSED"};

/* A message completed while the owner had us paused. */
typedef struct held {
	struct held *next;
	int opcode;
	sbuf_t *msg;
} held_t;

struct ws {
	uv_loop_t *loop;
	stream_t *inner; /* NULL once closed */
	wslay_event_context_ptr ctx;
	const ws_cbs_t *cbs;
	void *ud;
	uint64_t id;
	ws_state_t state;
	int client;
	size_t max_message;
	uint64_t ping_ms, dead_ms;
	uint64_t last_rx, last_ping, close_at;

	sbuf_queue_t rq;  /* read from inner, not yet given to wslay */
	sbuf_queue_t out; /* full frame chunks, not yet written */
	sbuf_t *otail;    /* chunk being filled */
	size_t hint;      /* bytes of the frame being queued, to size chunks */
	held_t *held, **held_tail;

	sbuf_t *rx_msg; /* message being reassembled */
	int rx_op;

	uint16_t code; /* for on_close */
	char reason[WS_REASON_MAX + 1];
	uint16_t peer_code;
	char peer_reason[WS_REASON_MAX + 1];

	uv_timer_t timer;
	uv_prepare_t prep;
	int handles; /* still open, for ws_free */

	size_t drained_at; /* ws_pending() when on_drain last fired */
	uint64_t tx_total; /* bytes appended to out, ever */
	uint64_t tx_left;  /* payload bytes of the frame being sent */
	uint64_t pong_end; /* tx_total at the end of the last pong queued */
	unsigned paused : 1, reading : 1, eof : 1, above : 1, freed : 1;
	unsigned rx_ctrl : 1, rx_drop : 1, rx_err : 1, werr : 1, tx_drop : 1;
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

/* -- wslay callbacks -- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
	ws_t *w = ud;
	size_t got = 0;

	while (got < len && w->rq.head && !w->paused && !w->freed) {
		sbuf_t *b = w->rq.head;
		size_t n = b->len < len - got ? b->len : len - got;

		memcpy(buf + got, sbuf_ptr(b), n);
		got += n;
		sbuf_consume(b, n);
		w->rq.bytes -= n;
		if (!b->len)
			sbuf_free(sbufq_pop(&w->rq));
	}
	if (!got) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return (ssize_t)got;
}

static void out_append(ws_t *w, const uint8_t *p, size_t len)
{
	while (len) {
		sbuf_t *t = w->otail;
		size_t room, n;

		if (!t)
			t = w->otail = sbuf_new(w->hint > SBUF_DEFAULT ? w->hint : SBUF_DEFAULT);
		room = t->cap - t->off - t->len;
		n = len < room ? len : room;
		memcpy(sbuf_ptr(t) + t->len, p, n);
		t->len += (uint32_t)n;
		w->hint -= n < w->hint ? n : w->hint;
		p += n;
		len -= n;
		if (t->off + t->len == t->cap) {
			sbufq_push(&w->out, t);
			w->otail = NULL;
		}
	}
}

static uint64_t pongs_dropped; /* process-wide, for the metric */
static int metrics_on;

static void pong_metrics(mbuf_t *b, void *ud)
{
	metrics_family(b, "sluice_ws_pongs_dropped_total", "counter",
	               "WebSocket pongs not queued because one was still waiting to be written.");
	mbuf_printf(b, "sluice_ws_pongs_dropped_total %llu\n", (unsigned long long)pongs_dropped);
}

/* Bytes handed to the transport that it has not written yet. */
static size_t out_pending(const ws_t *w)
{
	return w->out.bytes + (w->otail ? w->otail->len : 0) + (w->inner ? w->inner->wq_bytes : 0);
}

/* wslay answers every ping with a pong on its own; a peer that pings and
 * never reads would pile them up here.  At most one pong waits to be
 * written: while it does, later ones are dropped and counted (RFC 6455
 * 5.5.3 lets an endpoint answer only some of a run of pings).  wslay's
 * frame layer hands each frame's header to send_cb in one call (we take
 * every byte), then its payload: tx_left follows where a frame ends. */
static int drop_frame(ws_t *w, const uint8_t *h, size_t len)
{
	uint64_t pl;
	size_t need = 2;

	if (len < 2)
		return 0;
	pl = h[1] & 0x7f;
	need = pl == 126 ? 4 : pl == 127 ? 10 : 2;
	if (len < need)
		return 0;
	if (pl == 126)
		pl = (uint64_t)h[2] << 8 | h[3];
	else if (pl == 127)
		for (size_t i = 2; i < 10; i++)
			pl = (i == 2 ? 0 : pl << 8) | h[i];
	w->tx_left = pl;
	if ((h[0] & 0x0f) != WSLAY_PONG)
		return 0;
	if (w->pong_end > w->tx_total - out_pending(w)) {
		pongs_dropped++;
		return 1;
	}
	w->pong_end = w->tx_total + len + pl;
	return 0;
}

/* Takes everything: backpressure is the owner's, through ws_pending(). */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
	ws_t *w = ud;

	if (!w->tx_left)
		w->tx_drop = drop_frame(w, data, len);
	else
		w->tx_left -= len < w->tx_left ? len : w->tx_left;
	if (w->inner && !w->tx_drop) {
		out_append(w, data, len);
		w->tx_total += len;
	}
	return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
	static _Thread_local uint8_t pool[512];
	static _Thread_local size_t used = sizeof(pool);

	if (len > sizeof(pool))
		return -1;
	if (used + len > sizeof(pool)) {
		if (RAND_bytes(pool, sizeof(pool)) != 1)
			abort();
		used = 0;
	}
	memcpy(buf, pool + used, len);
	used += len;
	return 0;
}

/* Size for a message buffer: exact for small ones (a relay may queue many),
 * a pooled default-size chunk when it would be at least half used. */
static size_t msg_cap(size_t need)
{
	if (need > SBUF_DEFAULT / 2 && need <= SBUF_DEFAULT)
		return SBUF_DEFAULT;
	return need;
}

static void too_big(ws_t *w)
{
	wslay_event_queue_close(w->ctx, WSLAY_CODE_MESSAGE_TOO_BIG, NULL, 0);
	wslay_event_shutdown_read(w->ctx);
	w->rx_drop = 1;
	sbuf_free(w->rx_msg);
	w->rx_msg = NULL;
}

static void frame_start_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *a, void *ud)
{
	ws_t *w = ud;
	size_t have, need;

	w->rx_ctrl = wslay_is_ctrl_frame(a->opcode);
	if (w->rx_ctrl || w->rx_drop)
		return;
	if (a->opcode != WSLAY_CONTINUATION_FRAME) {
		sbuf_free(w->rx_msg);
		w->rx_msg = NULL;
		w->rx_op = a->opcode;
	}
	have = w->rx_msg ? w->rx_msg->len : 0;
	if (a->payload_length > w->max_message - have) {
		too_big(w);
		return;
	}
	need = have + (size_t)a->payload_length;
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
}

static void frame_chunk_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *a, void *ud)
{
	ws_t *w = ud;
	sbuf_t *m = w->rx_msg;

	if (w->rx_ctrl || w->rx_drop || !m || !a->data_length)
		return;
	/* frame_start_cb made room for the whole frame */
	memcpy(sbuf_ptr(m) + m->len, a->data, a->data_length);
	m->len += (uint32_t)a->data_length;
}

static void deliver(ws_t *w, int opcode, sbuf_t *m)
{
	held_t *h;

	if (w->freed || w->state == WS_CLOSED) {
		sbuf_free(m);
		return;
	}
	if (!w->cbs->on_message) {
		sbuf_free(m);
		return;
	}
	if (!w->paused && !w->held) {
		w->cbs->on_message(w, opcode, m);
		return;
	}
	h = malloc(sizeof(*h));
	if (!h)
		abort();
	h->next = NULL;
	h->opcode = opcode;
	h->msg = m;
	*w->held_tail = h;
	w->held_tail = &h->next;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *ud)
{
	ws_t *w = ud;
	sbuf_t *m;

	switch (a->opcode) {
	case WSLAY_TEXT_FRAME:
	case WSLAY_BINARY_FRAME:
		if (w->rx_drop)
			return;
		m = w->rx_msg ? w->rx_msg : sbuf_new(0);
		w->rx_msg = NULL;
		deliver(w, a->opcode, m);
		break;
	case WSLAY_CONNECTION_CLOSE:
		w->peer_code = a->status_code ? a->status_code : WSLAY_CODE_NO_STATUS_RCVD;
		if (a->msg_length > 2)
			set_reason(w->peer_reason, a->msg + 2, a->msg_length - 2);
		break;
	default:
		break; /* ping (wslay answers) and pong: liveness is any byte */
	}
}

static const struct wslay_event_callbacks wslay_cbs = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .genmask_callback = genmask_cb,
    .on_frame_recv_start_callback = frame_start_cb,
    .on_frame_recv_chunk_callback = frame_chunk_cb,
    .on_msg_recv_callback = msg_cb,
};

/* A close frame with our own code, through wslay's frame layer, for the
 * errors after which the event layer would send one without a code. */
static ssize_t frame_send_cb(const uint8_t *data, size_t len, int flags, void *ud)
{
	return send_cb(NULL, data, len, flags, ud);
}

static int frame_genmask_cb(uint8_t *buf, size_t len, void *ud)
{
	return genmask_cb(NULL, buf, len, ud);
}

static void send_close_frame(ws_t *w, uint16_t code)
{
	static const struct wslay_frame_callbacks fcbs = {
	    .send_callback = frame_send_cb,
	    .genmask_callback = frame_genmask_cb,
	};
	uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
	struct wslay_frame_iocb io = {
	    .fin = 1,
	    .opcode = WSLAY_CONNECTION_CLOSE,
	    .mask = (uint8_t)w->client,
	    .payload_length = sizeof(payload),
	    .data = payload,
	    .data_length = sizeof(payload),
	};
	wslay_frame_context_ptr f;

	if (wslay_frame_context_init(&f, &fcbs, w) != 0)
		return;
	wslay_frame_send(f, &io);
	wslay_frame_context_free(f);
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
	sbuf_free(w->otail);
	w->otail = NULL;
}

static void clear_held(ws_t *w)
{
	while (w->held) {
		held_t *h = w->held;

		w->held = h->next;
		sbuf_free(h->msg);
		free(h);
	}
	w->held_tail = &w->held;
}

/* The end: everything is released but the struct, then on_close. */
static void finish(ws_t *w, int code, const char *reason)
{
	if (w->state == WS_CLOSED)
		return;
	ws_set_state(w, WS_CLOSED);
	uv_timer_stop(&w->timer);
	drop_transport(w);
	clear_held(w);
	sbuf_free(w->rx_msg);
	w->rx_msg = NULL;
	log_debug(w->id, "ws closed: %d %s", code, reason);
	if (!w->freed && w->cbs->on_close)
		w->cbs->on_close(w, code, reason);
}

static void set_reading(ws_t *w)
{
	int want = w->inner && !w->paused && !w->eof &&
	           (w->state == WS_OPEN || w->state == WS_CLOSING) &&
	           wslay_event_get_read_enabled(w->ctx);

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
	else if (!b->len)
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
		finish(w, WSLAY_CODE_ABNORMAL_CLOSURE, "transport error");
	}
}

static const stream_cbs_t inner_cbs = {
    .on_read = on_inner_read,
    .on_drain = on_inner_drain,
    .on_error = on_inner_error,
};

/* -- the engine -- */

static const char *code_reason(uint16_t code)
{
	switch (code) {
	case WSLAY_CODE_MESSAGE_TOO_BIG:
		return "message too big";
	case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
		return "invalid payload data";
	case WSLAY_CODE_INTERNAL_SERVER_ERROR:
		return "internal error";
	default:
		return "protocol error";
	}
}

static void start_close_timer(ws_t *w);

/* Reading has ended inside wslay: the peer's close, or an error after
 * which wslay queued a close of its own (1002, 1007, 1009). */
static void read_outcome(ws_t *w)
{
	ws_state_t from = w->state;

	if (from != WS_OPEN && from != WS_CLOSING)
		return;
	if (w->rx_err) {
		/* wslay queued a close without a code; send ours instead */
		wslay_event_shutdown_write(w->ctx);
		if (from == WS_OPEN) {
			send_close_frame(w, WSLAY_CODE_PROTOCOL_ERROR);
			w->code = WSLAY_CODE_PROTOCOL_ERROR;
			set_reason(w->reason, "protocol error", 14);
		}
	} else if (wslay_event_get_read_enabled(w->ctx)) {
		return;
	} else if (from == WS_OPEN && wslay_event_get_close_received(w->ctx)) {
		w->code = w->peer_code;
		memcpy(w->reason, w->peer_reason, sizeof(w->reason));
	} else if (from == WS_OPEN) {
		uint16_t code;

		wslay_event_send(w->ctx);
		code = wslay_event_get_status_code_sent(w->ctx);
		if (code == WSLAY_CODE_NO_STATUS_RCVD || code == WSLAY_CODE_ABNORMAL_CLOSURE)
			code = WSLAY_CODE_PROTOCOL_ERROR;
		w->code = code;
		set_reason(w->reason, code_reason(code), strlen(code_reason(code)));
	}
	ws_set_state(w, WS_FLUSHING);
	if (from == WS_OPEN)
		start_close_timer(w);
}

/* Moves wslay's frames to out and out to the inner stream. */
static void flush(ws_t *w)
{
	sbuf_t *b;

	if (wslay_event_want_write(w->ctx))
		wslay_event_send(w->ctx);
	if (!w->inner)
		return;
	if (w->otail) {
		b = w->otail;
		w->otail = NULL;
		sbufq_push(&w->out, sbuf_fit(b)); /* a short tail may wait in a queue */
	}
	while ((b = sbufq_pop(&w->out))) {
		if (stream_write(w->inner, b) < 0) {
			w->werr = 1;
			sbufq_clear(&w->out);
			break;
		}
	}
}

static void pump(ws_t *w)
{
	if (w->freed || w->state == WS_CLOSED)
		return;
	/* receive: first what the owner missed while paused */
	while (w->held && !w->paused) {
		held_t *h = w->held;

		w->held = h->next;
		if (!w->held)
			w->held_tail = &w->held;
		w->cbs->on_message(w, h->opcode, h->msg);
		free(h);
		if (w->freed || w->state == WS_CLOSED)
			return;
	}
	if (!w->paused && !w->held && w->rq.bytes && w->inner &&
	    (w->state == WS_OPEN || w->state == WS_CLOSING) &&
	    wslay_event_get_read_enabled(w->ctx)) {
		if (wslay_event_recv(w->ctx) != 0)
			w->rx_err = 1;
		if (w->freed || w->state == WS_CLOSED)
			return;
	}
	read_outcome(w);

	/* send */
	flush(w);
	if (w->werr) {
		w->werr = 0;
		if (w->state != WS_FLUSHING) {
			finish(w, WSLAY_CODE_ABNORMAL_CLOSURE, "transport error");
			return;
		}
		drop_transport(w);
	}

	/* ends */
	if (w->state == WS_FLUSHING) {
		if (w->inner && !w->out.head && !w->otail && !wslay_event_want_write(w->ctx) &&
		    !w->inner->wq_bytes)
			drop_transport(w); /* our close frame is out */
		if (!w->inner && !w->held) {
			finish(w, w->code, w->reason);
			return;
		}
	} else if (w->eof && !w->rq.bytes && !w->held) {
		finish(w, WSLAY_CODE_ABNORMAL_CLOSURE, "transport closed");
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

static void on_prepare(uv_prepare_t *h)
{
	uv_prepare_stop(h);
	pump(h->data);
}

static void kick(ws_t *w)
{
	if (!w->freed && !uv_is_active((uv_handle_t *)&w->prep))
		uv_prepare_start(&w->prep, on_prepare);
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
		finish(w, WSLAY_CODE_ABNORMAL_CLOSURE, "keepalive timeout");
		return;
	}
	if (w->ping_ms) {
		uint64_t base = w->last_rx > w->last_ping ? w->last_rx : w->last_ping;

		if (now >= base + w->ping_ms) {
			struct wslay_event_msg m = {.opcode = WSLAY_PING};

			if (wslay_event_queue_msg(w->ctx, &m) == 0)
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
	int r;

	if (!w)
		abort();
	r = client ? wslay_event_context_client_init(&w->ctx, &wslay_cbs, w)
	           : wslay_event_context_server_init(&w->ctx, &wslay_cbs, w);
	if (r != 0)
		abort(); /* out of memory, its only failure */
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
	w->held_tail = &w->held;
	if (!metrics_on) {
		metrics_register(pong_metrics, NULL);
		metrics_on = 1;
	}
	wslay_event_config_set_no_buffering(w->ctx, 1);
	/* a safety net: frame_start_cb enforces the cap on whole messages */
	wslay_event_config_set_max_recv_msg_length(w->ctx,
	                                           w->max_message < 125 ? 125 : w->max_message);

	uv_timer_init(loop, &w->timer);
	uv_prepare_init(loop, &w->prep);
	w->timer.data = w->prep.data = w;
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
	return wslay_event_get_queued_msg_length(w->ctx) + out_pending(w);
}

uint64_t ws_pongs_dropped(void)
{
	return pongs_dropped;
}

int ws_send(ws_t *w, int opcode, sbuf_t *msg)
{
	struct wslay_event_msg m;
	int r;

	if (!msg)
		return UV_EINVAL;
	if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY) {
		sbuf_free(msg);
		return UV_EINVAL;
	}
	if (w->freed || w->state != WS_OPEN || !w->inner) {
		sbuf_free(msg);
		return UV_EPIPE;
	}
	m.opcode = (uint8_t)opcode;
	m.msg = sbuf_ptr(msg);
	m.msg_length = msg->len;
	r = wslay_event_queue_msg(w->ctx, &m);
	sbuf_free(msg);
	if (r == WSLAY_ERR_NO_MORE_MSG)
		return UV_EPIPE; /* a close is already queued */
	if (r != 0)
		return UV_ENOMEM;
	w->hint = m.msg_length + 14; /* the largest header */
	wslay_event_send(w->ctx);
	w->hint = 0;
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
	kick(w); /* held messages and rq go out from the prepare callback */
}

static int valid_close_code(uint16_t code)
{
	return (code >= 1000 && code <= 1011 && code != 1004 && code != 1005 && code != 1006) ||
	       (code >= 3000 && code <= 4999);
}

int ws_close(ws_t *w, uint16_t code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;
	int r;

	if (!valid_close_code(code) || rlen > WS_REASON_MAX)
		return UV_EINVAL;
	if (w->freed || w->state != WS_OPEN || !w->inner)
		return UV_EALREADY;
	/* data queued before the close must leave first: wslay sends control
	 * frames ahead of queued messages */
	wslay_event_send(w->ctx);
	r = wslay_event_queue_close(w->ctx, code, (const uint8_t *)reason, rlen);
	if (r == WSLAY_ERR_NO_MORE_MSG)
		return UV_EALREADY; /* wslay is closing on its own (an error) */
	if (r != 0)
		return UV_ENOMEM;
	wslay_event_send(w->ctx);
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
	clear_held(w);
	sbuf_free(w->rx_msg);
	wslay_event_context_free(w->ctx);
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
	uv_close((uv_handle_t *)&w->prep, on_handle_closed);
}
