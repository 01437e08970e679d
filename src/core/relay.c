/* relay: see relay.h.
 *
 * States per side: reading (or paused by backpressure), eof (its peer has
 * been shut down).  The relay is freed in the timer's close callback, after
 * both streams were closed and done_cb ran exactly once.
 */
#include "core/relay.h"

#include <stdlib.h>

#include "core/log.h"

typedef struct side {
	struct relay *r;
	stream_t *s;
	struct side *peer;
	uint64_t bytes; /* read from s, written to peer */
	uint64_t *ctr;
	unsigned eof : 1, paused : 1;
} side_t;

struct relay {
	side_t a, b;
	uv_timer_t timer;
	uint64_t idle_ms, last;
	size_t high, low;
	relay_done_cb cb;
	void *ud;
	int b_err;            /* the error b's stream ended the relay with */
	stream_fail_t b_fail; /* and where it was */
	unsigned done : 1;
};

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void finish(relay_t *r, const char *reason, int reset)
{
	if (r->done)
		return;
	r->done = 1;
	if (reset) {
		stream_reset(r->a.s);
		stream_reset(r->b.s);
	} else {
		stream_close(r->a.s);
		stream_close(r->b.s);
	}
	if (r->cb)
		r->cb(r->ud, reason, r->a.bytes, r->b.bytes);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

void relay_close(relay_t *r, const char *reason)
{
	finish(r, reason, 0);
}

int relay_b_error(const relay_t *r, stream_fail_t *f)
{
	*f = r->b_fail;
	return r->b_err;
}

static void check_done(relay_t *r)
{
	if (r->a.eof && r->b.eof && !r->a.s->wq_bytes && !r->b.s->wq_bytes)
		finish(r, "done", 0);
}

static void on_read(stream_t *s, sbuf_t *b)
{
	side_t *sd = s->data;
	relay_t *r = sd->r;
	stream_t *dst = sd->peer->s;
	int e;

	r->last = uv_now(r->timer.loop);
	if (!b) {
		sd->eof = 1;
		stream_shutdown(dst);
		check_done(r);
		return;
	}
	sd->bytes += b->len;
	if (sd->ctr)
		*sd->ctr += b->len;
	e = stream_write(dst, b);
	if (e < 0) {
		log_debug(s->id, "relay write: %s", uv_strerror(e));
		finish(r, "write error", 1);
		return;
	}
	if (dst->wq_bytes > r->high && !sd->paused) {
		sd->paused = 1;
		stream_read_stop(s);
	}
}

static void on_drain(stream_t *s)
{
	side_t *sd = s->data; /* s drained: its peer is the source to resume */
	side_t *src = sd->peer;
	relay_t *r = sd->r;

	if (src->paused && s->wq_bytes <= r->low) {
		src->paused = 0;
		stream_read_start(src->s);
	}
	check_done(r);
}

static void on_error(stream_t *s, int err)
{
	side_t *sd = s->data;

	log_debug(s->id, "relay: %s side error: %s", sd == &sd->r->a ? "client" : "target",
	          uv_strerror(err));
	if (sd == &sd->r->b && !sd->r->done) {
		sd->r->b_err = err;
		sd->r->b_fail = s->fail;
	}
	finish(sd->r, err == UV_ECONNRESET ? "reset" : "error", 1);
}

static const stream_cbs_t relay_cbs = {on_read, on_drain, on_error};

static void on_timer(uv_timer_t *t)
{
	relay_t *r = t->data;
	uint64_t idle = uv_now(t->loop) - r->last;

	if (idle >= r->idle_ms) {
		log_debug(r->a.s->id, "relay idle for %llu ms", (unsigned long long)idle);
		finish(r, "idle timeout", 0);
		return;
	}
	uv_timer_start(t, on_timer, r->idle_ms - idle, 0);
}

relay_t *relay_start(uv_loop_t *loop, stream_t *a, stream_t *b, const relay_opts_t *o,
                     relay_done_cb cb, void *ud)
{
	relay_t *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->a = (side_t){.r = r, .s = a, .peer = &r->b, .ctr = o ? o->ctr_ab : NULL};
	r->b = (side_t){.r = r, .s = b, .peer = &r->a, .ctr = o ? o->ctr_ba : NULL};
	r->high = o && o->high ? o->high : STREAM_HIGH_WATER;
	r->low = o && o->low ? o->low : STREAM_LOW_WATER;
	r->idle_ms = o ? o->idle_ms : 0;
	r->cb = cb;
	r->ud = ud;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->last = uv_now(loop);
	if (r->idle_ms)
		uv_timer_start(&r->timer, on_timer, r->idle_ms, 0);
	stream_set_cbs(a, &relay_cbs, &r->a);
	stream_set_cbs(b, &relay_cbs, &r->b);
	stream_read_start(a);
	stream_read_start(b);
	return r;
}
