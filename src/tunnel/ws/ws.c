/* ws: see ws.h.
 *
 * The connection frames its own messages (tunnel/ws/ws_frame.h), driven from
 * our loop.  Every byte of a tunnel passes through here, so the data path
 * is built for it: one pass over a payload each way, no per-frame
 * allocation beyond the message buffer, writes batched.
 *
 * This file owns the connection: its states, the send path, the timer, the
 * inner stream's callbacks and the API.  The receive path (frames from the
 * inner stream's chunks to whole messages) is ws_rx.c; the structure they
 * share is ws_priv.h.
 *
 *   receive  inner on_read chunks queue on rq and are parsed at once while
 *            the owner reads (ws_rx_parse, ws_rx.c).
 *   send     ws_send frames the message in place when it has WS_HEADROOM in
 *            front of its data (else copies it once), masks it in place on
 *            the client side (ws_mask) and queues it on out; out goes to the
 *            inner stream from an idle callback, once per loop iteration,
 *            in one stream_writev (one writev(2) for TCP), so many messages
 *            cost one system call.  ws_pending() is out + the inner write
 *            queue; on_drain reports it shrinking at or under the low
 *            mark, down to empty, as a stream's does.
 *   head     ws_head puts the server's 101 on out ahead of every frame;
 *            held, it stays there (flush skips it) until a frame joins it
 *            or the idle handle has run twice, so an open's answer that is
 *            ready within one loop turn shares its write(2).
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
 *   OPEN --ws_close(_await)--> CLOSING --peer's close--> FLUSHING --> CLOSED
 *     |                         |                        ^            ^
 *     +--peer's close, protocol error, too big, ws_close_now          |
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

#include "core/bytes.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/metrics.h"
#include "tunnel/ws/ws_priv.h"

#define WS_DEFAULT_MAX (1u << 20)
#define WS_MAX_MAX (1u << 30)
#define WS_CLOSE_MS 2000

static const opt_t keepalive_opts[] = {
    OPT_DURATION(ws_opts_t, ping_ms, "ping", "30s", "WebSocket ping after this much silence"),
    OPT_DURATION(ws_opts_t, dead_ms, "dead", "90s", "close a WebSocket silent this long"),
};

const opt_schema_t ws_keepalive_opts = OPT_SCHEMA(NULL, keepalive_opts);

static const char *const state_names[] = {"OPEN", "CLOSING", "FLUSHING", "CLOSED"};

void ws_set_state(ws_t *w, ws_state_t to)
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

void ws_set_reason(char *dst, const void *p, size_t n)
{
	if (n > WS_REASON_MAX)
		n = WS_REASON_MAX;
	memcpy(dst, p, n);
	dst[n] = 0;
}

static void pump(ws_t *w);
static void on_timer(uv_timer_t *t);

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

/* Frame msg (ownership moves) and queue it: in place when it has room in
 * front, else in a new buffer, with the payload masked on the way. */
static void queue_frame(ws_t *w, int opcode, sbuf_t *msg)
{
	uint8_t key[4], *k = NULL;
	size_t hl = ws_frame_header_len(msg->len, w->client);
	sbuf_t *f;

	if (w->client) {
		random_bytes(key, 4);
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
void ws_queue_close(ws_t *w, uint16_t code, const char *reason, size_t rlen)
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
void ws_queue_pong(ws_t *w, const uint8_t *p, size_t n)
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
	if (w->hold && w->out.head == w->out.tail && w->state == WS_OPEN)
		return; /* ws_head's answer alone: it waits for company */
	w->hold = 0;
	if (stream_writev(w->inner, &w->out) < 0)
		w->werr = 1;
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
	ws_rx_parse(w);
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
	ws_t *w = h->data;

	if (w->hold)
		w->hold--;
	if (!w->hold)
		uv_idle_stop(h);
	pump(w);
}

void ws_kick(ws_t *w)
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
			ws_kick(w);
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

void ws_start_close_timer(ws_t *w)
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
		ws_kick(w);
	log_debug(w->id, "ws %s open (max message %zu)", client ? "client" : "server",
	          w->max_message);
	return w;
}

void ws_head(ws_t *w, sbuf_t *b, int wait)
{
	if (!w->inner || w->out.head) {
		sbuf_free(b);
		return;
	}
	w->tx_total += b->len;
	sbufq_push(&w->out, b);
	w->hold = wait ? 2 : 0;
	ws_kick(w);
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
	ws_kick(w);
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
	ws_kick(w); /* what rq holds is parsed from the idle callback */
}

int ws_close(ws_t *w, uint16_t code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;

	if (!ws_valid_close_code(code) || rlen > WS_REASON_MAX)
		return UV_EINVAL;
	if (w->freed || w->state != WS_OPEN || !w->inner || w->close_sent)
		return UV_EALREADY;
	/* data queued before the close leaves first: out is in order */
	ws_queue_close(w, code, reason, rlen);
	w->code = code;
	ws_set_reason(w->reason, reason ? reason : "", rlen);
	ws_set_state(w, WS_CLOSING);
	ws_start_close_timer(w);
	ws_kick(w);
	return 0;
}

int ws_close_now(ws_t *w, uint16_t code)
{
	if (!ws_valid_close_code(code))
		return UV_EINVAL;
	if (w->freed || w->state != WS_OPEN || !w->inner || w->close_sent)
		return UV_EALREADY;
	ws_queue_close(w, code, NULL, 0);
	w->code = code;
	w->reason[0] = 0;
	ws_set_state(w, WS_FLUSHING); /* reading is over: set_reading stops it */
	ws_start_close_timer(w);
	ws_kick(w);
	return 0;
}

void ws_close_unanswered(ws_t *w)
{
	w->no_answer = 1;
}

int ws_close_await(ws_t *w, uint16_t code)
{
	if (!ws_valid_close_code(code))
		return UV_EINVAL;
	if (w->freed || w->state != WS_OPEN || !w->inner || w->close_sent)
		return UV_EALREADY;
	w->close_sent = 1; /* nothing more goes out; what is queued still does */
	w->no_answer = 1;
	w->code = code;
	w->reason[0] = 0;
	ws_set_state(w, WS_CLOSING);
	ws_start_close_timer(w);
	ws_kick(w);
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
