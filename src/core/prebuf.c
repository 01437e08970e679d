/* prebuf: see prebuf.h.  The wrapper mirrors the inner stream's wq_bytes
 * after every write and drain so a relay sees the real queue. */
#include "core/prebuf.h"

#include <stdlib.h>

typedef struct prebuf {
	stream_t s;
	stream_t *inner;
	sbuf_t *first;
	uv_timer_t timer;
	unsigned want_read : 1;
} prebuf_t;

static void in_read(stream_t *in, sbuf_t *b)
{
	prebuf_t *p = in->data;

	p->s.cbs->on_read(&p->s, b);
}

static void in_drain(stream_t *in)
{
	prebuf_t *p = in->data;

	p->s.wq_bytes = in->wq_bytes;
	if (p->s.cbs->on_drain)
		p->s.cbs->on_drain(&p->s);
}

static void in_error(stream_t *in, int err)
{
	prebuf_t *p = in->data;

	p->s.cbs->on_error(&p->s, err);
}

static const stream_cbs_t inner_cbs = {in_read, in_drain, in_error};

static void deliver(uv_timer_t *t)
{
	prebuf_t *p = t->data;
	sbuf_t *b = p->first;

	p->first = NULL;
	if (b)
		p->s.cbs->on_read(&p->s, b);
	/* the reader may have paused or closed from its callback */
	if (!p->s.closed && p->want_read)
		stream_read_start(p->inner);
}

static int pb_write(stream_t *s, sbuf_t *b)
{
	prebuf_t *p = (prebuf_t *)s;
	int r = stream_write(p->inner, b);

	s->wq_bytes = p->inner->wq_bytes;
	return r;
}

static int pb_shutdown(stream_t *s)
{
	return stream_shutdown(((prebuf_t *)s)->inner);
}

static void pb_read_start(stream_t *s)
{
	prebuf_t *p = (prebuf_t *)s;

	p->want_read = 1;
	if (p->first)
		uv_timer_start(&p->timer, deliver, 0, 0);
	else
		stream_read_start(p->inner);
}

static void pb_read_stop(stream_t *s)
{
	prebuf_t *p = (prebuf_t *)s;

	p->want_read = 0;
	uv_timer_stop(&p->timer);
	stream_read_stop(p->inner);
}

static void on_timer_close(uv_handle_t *h)
{
	prebuf_t *p = h->data;

	sbuf_free(p->first);
	free(p);
}

static void pb_close(stream_t *s)
{
	prebuf_t *p = (prebuf_t *)s;

	stream_close(p->inner);
	uv_close((uv_handle_t *)&p->timer, on_timer_close);
}

static const stream_ops_t prebuf_ops = {
    .name = "prebuf",
    .write = pb_write,
    .shutdown = pb_shutdown,
    .read_start = pb_read_start,
    .read_stop = pb_read_stop,
    .close = pb_close,
};

stream_t *prebuf_wrap(uv_loop_t *loop, stream_t *inner, sbuf_t *first)
{
	prebuf_t *p;

	if (!first || !first->len) {
		sbuf_free(first);
		return inner;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->s.ops = &prebuf_ops;
	p->s.id = inner->id;
	p->inner = inner;
	p->first = first;
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	stream_set_cbs(inner, &inner_cbs, p);
	return &p->s;
}
