/* msgstream: the base of every stream that a producer fills with messages.
 *
 * A WebSocket tunnel stream, an SCTP stream, an lwIP pcb and wstan's stream
 * all get whole messages (or segments) from something that runs on its own
 * schedule, and all must hand them to a reader that may pause, without ever
 * calling the reader from inside one of their own stream ops.  The
 * machinery they share lives here; each implementation embeds a
 * msgstream_t first in its struct and keeps only its own transport.
 *
 *   rq     messages received and not yet delivered, in order.  One sbuf is
 *          one message and is delivered as it came, so a datagram flow keeps
 *          its boundaries.  With watermarks, hooks->pause stops the
 *          producer once rq holds `high` bytes, or holds anything while
 *          the reader is not reading (a reader that stops keeps its own
 *          bounded queue), and restarts it below `low` once it reads.
 *   eof    the producer's end of data: delivered after the last message,
 *          while reading.
 *   err    an error latch: the first error wins, reaches the reader once
 *          (reading or not) and nothing follows it; a push after it is
 *          dropped.
 *   drain  a write completion owed to the writer (on_drain once wq_bytes is
 *          at STREAM_LOW_WATER or below).
 *   wq     writes held before the transport is attached: msgstream_take()
 *          copies the first bytes out for an open request (they ride with
 *          it), msgstream_pop_held() hands the rest over once it is up.
 *
 * Delivery order: messages while reading, then end of data, then the error,
 * then a write completion owed.  msgstream_deliver() runs the reader's
 * callbacks now: call it from the producer's own callbacks, never from a
 * stream op.  msgstream_kick() runs hooks->deliver (msgstream_deliver by
 * default) on a later loop turn, from a zero timer, or from the
 * implementation's own turn where it has one (hooks->kick); stream ops use
 * it.
 *
 * Datagram mode (msgstream_set_dgram): no pausing; a message that would put
 * rq over its byte or message cap is dropped and counted, as a UDP socket
 * drops what its buffer cannot hold, and an empty message is a message.
 *
 * Memory: msgstream_release() empties both queues and ends the timer; the
 * implementation's memory goes in the done callback (the timer's close
 * callback), never before.
 */
#ifndef SLUICE_MSGSTREAM_H
#define SLUICE_MSGSTREAM_H

#include <uv.h>

#include "core/stream.h"

typedef struct msgstream msgstream_t;

/* Every hook is optional. */
typedef struct msgstream_hooks {
	/* Arrange hooks->deliver on a later turn (instead of the zero timer). */
	void (*kick)(msgstream_t *m);
	/* What a kick runs (default msgstream_deliver): the implementation may
	 * wrap it, e.g. to enter its library first. */
	void (*deliver)(msgstream_t *m);
	/* Stop (on = 1) or restart (on = 0) the producer: rq crossed a mark. */
	void (*pause)(msgstream_t *m, int on);
	/* A message of n bytes went to the reader (a window may open). */
	void (*consumed)(msgstream_t *m, size_t n);
	/* Bytes accepted below the stream and not yet sent (the wire's queue);
	 * wq_bytes is the held bytes plus these. */
	size_t (*pending)(msgstream_t *m);
} msgstream_hooks_t;

struct msgstream {
	stream_t s; /* first: a msgstream_t is a stream_t */
	const msgstream_hooks_t *hooks;
	sbuf_queue_t rq, wq;
	size_t high, low;     /* rq watermarks (0: none); datagram mode: the byte cap */
	size_t nrq, max_msgs; /* datagram mode: messages queued, and their cap */
	uint64_t dropped;     /* datagram mode: messages dropped at the cap */
	int err;
	uv_timer_t timer; /* the default kick; unused with hooks->kick */
	void (*done)(msgstream_t *m);
	unsigned reading : 1, eof : 1, eof_done : 1, err_done : 1, drain_due : 1, paused : 1,
	    dgram : 1, timer_on : 1;
};

/* loop may be NULL when hooks->kick is given. */
void msgstream_init(msgstream_t *m, const stream_ops_t *ops, uint64_t id, uv_loop_t *loop,
                    const msgstream_hooks_t *hooks);
void msgstream_set_marks(msgstream_t *m, size_t high, size_t low);
void msgstream_set_dgram(msgstream_t *m, size_t max_bytes, size_t max_msgs);

/* ---- the producer's side ---- */

/* A message arrived (b == NULL: end of data).  Returns 0, or UV_ENOBUFS if
 * it was dropped (datagram mode at the cap, after an error, after the end,
 * after close).  Nothing is delivered yet: deliver or kick next. */
int msgstream_push(msgstream_t *m, sbuf_t *b);
/* Stream mode: room for n more bytes at the end of what waits, so that a
 * burst of segments reaches the reader as one chunk: the last queued chunk
 * if it has that room, else a new one of at least min bytes queued empty.
 * Write at most n bytes there, then msgstream_grow() by what was written.
 * NULL if nothing more is taken (closed, failed, at its end). */
uint8_t *msgstream_room(msgstream_t *m, size_t n, size_t min);
void msgstream_grow(msgstream_t *m, size_t n);
/* Latch an error (the first one wins); deliver or kick next. */
void msgstream_fail(msgstream_t *m, int err);
void msgstream_deliver(msgstream_t *m);
void msgstream_kick(msgstream_t *m);
/* The wire took bytes: recount wq_bytes and fire on_drain now if due. */
void msgstream_drained(msgstream_t *m);
/* A write completion the reader gets on the next turn. */
void msgstream_drain_later(msgstream_t *m);
/* Something for the reader is waiting. */
int msgstream_pending(const msgstream_t *m);

/* ---- the ops' side ---- */

void msgstream_read_start(msgstream_t *m);
void msgstream_read_stop(msgstream_t *m);
/* Hold a write (ownership moves) until the transport is up. */
void msgstream_hold(msgstream_t *m, sbuf_t *b);
/* Copy up to max held bytes into out, consuming them; returns the count. */
size_t msgstream_take(msgstream_t *m, uint8_t *out, size_t max);
/* The next held write, whole (NULL: none); the caller owns it. */
sbuf_t *msgstream_pop_held(msgstream_t *m);
void msgstream_update_wq(msgstream_t *m);
/* Drop both queues and end the timer; done(m) runs once nothing refers to
 * m any more (NULL: free(m)).  Without a timer done runs now. */
void msgstream_release(msgstream_t *m, void (*done)(msgstream_t *m));

#endif
