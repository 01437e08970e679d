/* msgstream: see msgstream.h.
 *
 * Every reader callback runs from msgstream_deliver(), which re-checks
 * s.closed after each one: a reader may close the stream from inside its
 * callback, and nothing may touch the reader after that.
 */
#include "core/msgstream.h"

#include <stdlib.h>
#include <string.h>

static void on_timer(uv_timer_t *h)
{
	msgstream_t *m = h->data;

	if (m->hooks && m->hooks->deliver)
		m->hooks->deliver(m);
	else
		msgstream_deliver(m);
}

void msgstream_init(msgstream_t *m, const stream_ops_t *ops, uint64_t id, uv_loop_t *loop,
                    const msgstream_hooks_t *hooks)
{
	memset(m, 0, sizeof(*m));
	m->s.ops = ops;
	m->s.id = id;
	m->hooks = hooks;
	if (!hooks || !hooks->kick) {
		uv_timer_init(loop, &m->timer);
		m->timer.data = m;
		m->timer_on = 1;
	}
}

void msgstream_set_marks(msgstream_t *m, size_t high, size_t low)
{
	m->high = high;
	m->low = low;
}

void msgstream_set_dgram(msgstream_t *m, size_t max_bytes, size_t max_msgs)
{
	m->dgram = 1;
	m->high = max_bytes;
	m->max_msgs = max_msgs;
}

static void set_paused(msgstream_t *m, int on)
{
	m->paused = (unsigned)on;
	if (m->hooks && m->hooks->pause)
		m->hooks->pause(m, on);
}

/* Stream mode with marks: the producer runs while the reader reads and rq
 * holds less than `high` bytes.  A reader that stops (the relay, its own
 * queue full) already holds its bound: a second full queue here would
 * double what a stalled connection costs. */
static void pause_if_full(msgstream_t *m)
{
	if (!m->dgram && m->high && !m->paused && m->rq.bytes &&
	    (m->rq.bytes >= m->high || !m->reading))
		set_paused(m, 1);
}

int msgstream_push(msgstream_t *m, sbuf_t *b)
{
	if (m->s.closed || m->err || m->eof) {
		sbuf_free(b);
		return UV_ENOBUFS;
	}
	if (!b) {
		m->eof = 1;
		return 0;
	}
	if (m->dgram) {
		if ((m->high && m->rq.bytes + b->len > m->high) ||
		    (m->max_msgs && m->nrq >= m->max_msgs)) {
			m->dropped++;
			sbuf_free(b);
			return UV_ENOBUFS;
		}
	} else if (!b->len) {
		sbuf_free(b);
		return 0;
	}
	sbufq_push(&m->rq, b);
	m->nrq++;
	pause_if_full(m);
	return 0;
}

uint8_t *msgstream_room(msgstream_t *m, size_t n, size_t min)
{
	sbuf_t *b = m->rq.tail;

	if (m->s.closed || m->err || m->eof || m->dgram)
		return NULL;
	if (!b || b->cap - b->off - b->len < n) {
		b = sbuf_new(n > min ? n : min);
		sbufq_push(&m->rq, b);
		m->nrq++;
	}
	return sbuf_ptr(b) + b->len;
}

void msgstream_grow(msgstream_t *m, size_t n)
{
	m->rq.tail->len += (uint32_t)n;
	m->rq.bytes += n;
	pause_if_full(m);
}

void msgstream_fail(msgstream_t *m, int err)
{
	if (!m->err)
		m->err = err;
}

int msgstream_pending(const msgstream_t *m)
{
	return m->rq.head || (m->eof && !m->eof_done) || (m->err && !m->err_done) || m->drain_due;
}

static void maybe_resume(msgstream_t *m)
{
	if (m->paused && m->reading && m->rq.bytes < m->low)
		set_paused(m, 0);
}

void msgstream_deliver(msgstream_t *m)
{
	stream_t *s = &m->s;

	if (s->closed || !s->cbs)
		return;
	while (m->reading && !m->err_done && m->rq.head) {
		sbuf_t *b = sbufq_pop(&m->rq);

		m->nrq--;
		if (m->hooks && m->hooks->consumed)
			m->hooks->consumed(m, b->len);
		s->cbs->on_read(s, b);
		if (s->closed)
			return;
	}
	if (m->reading && !m->err_done && m->eof && !m->eof_done && !m->rq.head) {
		m->eof_done = 1;
		s->cbs->on_read(s, NULL);
		if (s->closed)
			return;
	}
	if (m->err && !m->err_done) {
		m->err_done = 1;
		m->drain_due = 0;
		sbufq_clear(&m->rq);
		m->nrq = 0;
		if (s->cbs->on_error)
			s->cbs->on_error(s, m->err);
		return;
	}
	if (m->drain_due && !m->err) {
		m->drain_due = 0;
		if (s->wq_bytes <= STREAM_LOW_WATER && s->cbs->on_drain) {
			s->cbs->on_drain(s);
			if (s->closed)
				return;
		}
	}
	maybe_resume(m);
}

void msgstream_kick(msgstream_t *m)
{
	if (m->s.closed)
		return;
	if (m->hooks && m->hooks->kick)
		m->hooks->kick(m);
	else if (!uv_is_active((uv_handle_t *)&m->timer))
		uv_timer_start(&m->timer, on_timer, 0, 0);
}

void msgstream_update_wq(msgstream_t *m)
{
	m->s.wq_bytes = m->wq.bytes + (m->hooks && m->hooks->pending ? m->hooks->pending(m) : 0);
}

void msgstream_drained(msgstream_t *m)
{
	stream_t *s = &m->s;

	msgstream_update_wq(m);
	if (s->closed || m->err || !s->cbs || !s->cbs->on_drain || s->wq_bytes > STREAM_LOW_WATER)
		return;
	m->drain_due = 0;
	s->cbs->on_drain(s);
}

void msgstream_drain_later(msgstream_t *m)
{
	m->drain_due = 1;
	msgstream_kick(m);
}

void msgstream_read_start(msgstream_t *m)
{
	m->reading = 1;
	if (msgstream_pending(m))
		msgstream_kick(m);
	else
		maybe_resume(m);
}

void msgstream_read_stop(msgstream_t *m)
{
	m->reading = 0;
	if (!m->dgram && m->high && !m->paused)
		set_paused(m, 1);
}

void msgstream_hold(msgstream_t *m, sbuf_t *b)
{
	sbufq_push(&m->wq, b);
	msgstream_update_wq(m);
}

size_t msgstream_take(msgstream_t *m, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (m->wq.head && n < max) {
		sbuf_t *b = m->wq.head;
		size_t k = b->len < max - n ? b->len : max - n;

		memcpy(out + n, sbuf_ptr(b), k);
		n += k;
		if (k == b->len) {
			sbuf_free(sbufq_pop(&m->wq));
		} else {
			sbuf_consume(b, k);
			m->wq.bytes -= k;
		}
	}
	msgstream_update_wq(m);
	return n;
}

sbuf_t *msgstream_pop_held(msgstream_t *m)
{
	sbuf_t *b = sbufq_pop(&m->wq);

	msgstream_update_wq(m);
	return b;
}

static void on_timer_closed(uv_handle_t *h)
{
	msgstream_t *m = h->data;

	if (m->done)
		m->done(m);
	else
		free(m);
}

void msgstream_release(msgstream_t *m, void (*done)(msgstream_t *m))
{
	sbufq_clear(&m->rq);
	sbufq_clear(&m->wq);
	m->nrq = 0;
	m->s.wq_bytes = 0;
	m->done = done;
	if (m->timer_on) {
		m->timer_on = 0;
		uv_timer_stop(&m->timer);
		uv_close((uv_handle_t *)&m->timer, on_timer_closed);
	} else if (done) {
		done(m);
	} else {
		free(m);
	}
}
