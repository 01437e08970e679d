/* stream: the one interface every byte path implements.
 *
 * Host TCP, TLS, a WebSocket connection, an SCTP stream, an lwIP pcb: each is
 * a stream_t with an ops table.  The owner installs callbacks and reads
 * events; the implementation never calls a callback from inside one of its
 * own ops (errors of an op are its return value), so callers need no
 * re-entrancy guards.
 *
 *   read:      cbs->on_read(s, chunk) hands over a chunk (ownership moves);
 *              chunk == NULL is the peer's end of data (half-close).
 *   write:     stream_write(s, chunk) takes ownership, even on error.
 *              s->wq_bytes counts bytes accepted and not yet written; when a
 *              write completes and wq_bytes drops to STREAM_LOW_WATER or
 *              below, cbs->on_drain(s) fires (the "write completion").
 *   writev:    stream_writev(s, queue) writes every chunk of a queue, in
 *              order, as one batch where the stream can (TCP: one writev(2);
 *              TLS: the records of all of them in one write below), else
 *              one write each; it takes every chunk and leaves the queue
 *              empty, even on error.
 *   pause:     stream_read_stop / stream_read_start (backpressure).
 *   shutdown:  send end of data once the queued bytes are out.
 *   error:     cbs->on_error(s, -errno) once; the owner must close.
 *   close:     idempotent; no callback fires afterwards; memory is released
 *              later by the implementation (libuv close callback).
 *   reset:     an abortive close (TCP sends RST, not FIN), for a relay torn
 *              down by an error; a stream without one closes as usual.
 *   addr:      the local or the peer address of the socket under the
 *              stream, where there is one on this host; UV_ENOTSUP else.
 *
 * Callers ask a stream through these ops; they never compare its ops table
 * or its name to find out what it is.
 */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/sbuf.h"

#define STREAM_HIGH_WATER (256 * 1024)
#define STREAM_LOW_WATER (64 * 1024)

typedef struct stream stream_t;

/* Where a connection through a tunnel failed, so that the front end can say
 * which hop it was: hop is the name of the hop that knows (a string that
 * lives as long as the chain), NULL for this host's own dial; at_hop is 1
 * when that hop could not reach its own server, 0 when its server could
 * not reach the target.  A stream that fails late (a tunnel's fast-open:
 * the caller had the stream before the server's answer) sets its `fail`
 * before on_error; a dialer fills dial_opts_t.fail before a failing cb. */
typedef struct stream_fail {
	const char *hop;
	unsigned at_hop;
} stream_fail_t;

typedef struct stream_cbs {
	void (*on_read)(stream_t *s, sbuf_t *b);
	void (*on_drain)(stream_t *s);
	void (*on_error)(stream_t *s, int err);
} stream_cbs_t;

typedef struct stream_ops {
	const char *name;
	int (*write)(stream_t *s, sbuf_t *b);
	int (*writev)(stream_t *s, sbuf_queue_t *q); /* optional: a batch */
	int (*shutdown)(stream_t *s);
	void (*read_start)(stream_t *s);
	void (*read_stop)(stream_t *s);
	void (*close)(stream_t *s);
	void (*reset)(stream_t *s); /* optional: abortive close */
	/* optional: 0 and *ss filled, or a negative UV_E* code */
	int (*addr)(stream_t *s, int peer, struct sockaddr_storage *ss);
} stream_ops_t;

struct stream {
	const stream_ops_t *ops;
	const stream_cbs_t *cbs;
	void *data;         /* the owner's */
	uint64_t id;        /* connection id for logs */
	size_t wq_bytes;    /* accepted by write, not yet on the wire */
	stream_fail_t fail; /* set before an on_error that is a late open failure */
	unsigned closed : 1;
};

static inline void stream_set_cbs(stream_t *s, const stream_cbs_t *cbs, void *data)
{
	s->cbs = cbs;
	s->data = data;
}
static inline int stream_write(stream_t *s, sbuf_t *b)
{
	return s->ops->write(s, b);
}
static inline int stream_shutdown(stream_t *s)
{
	return s->ops->shutdown(s);
}
static inline void stream_read_start(stream_t *s)
{
	s->ops->read_start(s);
}
static inline void stream_read_stop(stream_t *s)
{
	s->ops->read_stop(s);
}
static inline void stream_close(stream_t *s)
{
	if (s && !s->closed) {
		s->closed = 1;
		s->ops->close(s);
	}
}
/* Close with an abort where the stream has one (RST instead of FIN).
 * NULL and an already closed stream are fine, as for stream_close. */
static inline void stream_reset(stream_t *s)
{
	if (s && !s->closed) {
		s->closed = 1;
		if (s->ops->reset)
			s->ops->reset(s);
		else
			s->ops->close(s);
	}
}
static inline int stream_addr(stream_t *s, int peer, struct sockaddr_storage *ss)
{
	return s->ops->addr ? s->ops->addr(s, peer, ss) : UV_ENOTSUP;
}
int stream_writev(stream_t *s, sbuf_queue_t *q);
int stream_write_copy(stream_t *s, const void *p, size_t len);
int stream_write_str(stream_t *s, const char *str);

#endif
