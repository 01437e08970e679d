/* ws_rx: a WebSocket connection's receive path (see ws.c for the rest of
 * the connection, ws_priv.h for the structure they share).
 *
 * Chunks read from the inner stream queue on rq and ws_rx_parse takes them
 * apart while the owner reads.  A header split between chunks is gathered
 * in hdr (14 bytes).  A data frame's payload is unmasked while it is copied
 * into the message's sbuf (ws_mask_copy: the one copy of the receive path),
 * which is sized from the frame header, so a message in one frame is
 * allocated once and never grows.  Control frames (at most 125 bytes) go
 * into ctl; pings are answered, a close ends reading.  The reassembled size
 * is capped; text is checked as UTF-8 as it arrives.  A protocol error
 * queues our close with its code and moves the connection to FLUSHING.
 */
#include <string.h>

#include "core/bytes.h"
#include "tunnel/ws/ws_priv.h"

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

		ws_queue_close(w, code, NULL, 0);
		w->code = code;
		ws_set_reason(w->reason, why, strlen(why));
		ws_set_state(w, WS_FLUSHING);
		ws_start_close_timer(w);
	} else if (w->state == WS_CLOSING) {
		ws_set_state(w, WS_FLUSHING);
	}
}

int ws_valid_close_code(uint16_t code)
{
	return (code >= 1000 && code <= 1011 && code != 1004 && code != 1005 && code != 1006) ||
	       (code >= 3000 && code <= 4999);
}

/* The peer's close frame (its payload in ctl): answered with the same code
 * and reason, unless ours went first or the owner said none is needed. */
static void rx_close(ws_t *w, size_t n)
{
	uint16_t code = 0;
	uint32_t u8 = WS_UTF8_OK;

	if (n == 1 || (n >= 2 && !ws_valid_close_code(code = get_be16(w->ctl)))) {
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
		if (w->no_answer)
			w->close_sent = 1; /* nothing more goes out */
		else
			ws_queue_close(w, code, (const char *)w->ctl + 2, n > 2 ? n - 2 : 0);
		w->code = code ? code : WS_CODE_NO_STATUS;
		ws_set_reason(w->reason, w->ctl + 2, n > 2 ? n - 2 : 0);
		ws_set_state(w, WS_FLUSHING);
		ws_start_close_timer(w);
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
		ws_queue_pong(w, w->ctl, (size_t)f->len);
		ws_kick(w);
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
void ws_rx_parse(ws_t *w)
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
