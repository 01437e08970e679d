/* prebuf: see prebuf.h.  A message stream (core/msgstream.h) whose first
 * message is the saved bytes: the inner stream starts reading only once
 * they are delivered, and what it reads then passes through the same
 * queue, so the order holds and the reader is never called from inside an
 * op.  The wrapper mirrors the inner stream's wq_bytes after every write
 * and drain so a relay sees the real queue. */
#include "core/prebuf.h"

#include <stdlib.h>

#include "core/msgstream.h"

typedef struct prebuf {
	msgstream_t m;
	stream_t *inner;
} prebuf_t;

static void in_read(stream_t *in, sbuf_t *b)
{
	prebuf_t *p = in->data;

	msgstream_push(&p->m, b);
	msgstream_deliver(&p->m);
}

static void in_drain(stream_t *in)
{
	prebuf_t *p = in->data;

	p->m.s.wq_bytes = in->wq_bytes;
	if (p->m.s.cbs->on_drain)
		p->m.s.cbs->on_drain(&p->m.s);
}

static void in_error(stream_t *in, int err)
{
	prebuf_t *p = in->data;

	msgstream_fail(&p->m, err);
	msgstream_deliver(&p->m);
}

static const stream_cbs_t inner_cbs = {in_read, in_drain, in_error};

/* The saved bytes are out: from now on the inner stream feeds the reader. */
static void deliver(msgstream_t *m)
{
	prebuf_t *p = (prebuf_t *)m;

	msgstream_deliver(m);
	if (!m->s.closed && m->reading && !m->rq.head)
		stream_read_start(p->inner);
}

static const msgstream_hooks_t hooks = {.deliver = deliver};

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

	msgstream_read_start(&p->m);
	if (!msgstream_pending(&p->m))
		stream_read_start(p->inner);
}

static void pb_read_stop(stream_t *s)
{
	prebuf_t *p = (prebuf_t *)s;

	msgstream_read_stop(&p->m);
	stream_read_stop(p->inner);
}

static void pb_close(stream_t *s)
{
	prebuf_t *p = (prebuf_t *)s;

	stream_close(p->inner);
	msgstream_release(&p->m, NULL);
}

static void pb_reset(stream_t *s)
{
	prebuf_t *p = (prebuf_t *)s;

	stream_reset(p->inner);
	msgstream_release(&p->m, NULL);
}

static int pb_addr(stream_t *s, int peer, struct sockaddr_storage *ss)
{
	return stream_addr(((prebuf_t *)s)->inner, peer, ss);
}

static const stream_ops_t prebuf_ops = {
    .name = "prebuf",
    .write = pb_write,
    .shutdown = pb_shutdown,
    .read_start = pb_read_start,
    .read_stop = pb_read_stop,
    .close = pb_close,
    .reset = pb_reset,
    .addr = pb_addr,
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
	msgstream_init(&p->m, &prebuf_ops, inner->id, loop, &hooks);
	p->inner = inner;
	msgstream_push(&p->m, first);
	stream_set_cbs(inner, &inner_cbs, p);
	return &p->m.s;
}
