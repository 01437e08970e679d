/* relay: joins two streams, a and b, until both directions are done.
 *
 * Each direction's bounded buffer is the destination stream's write queue:
 * when it holds more than `high` bytes the source is paused, and it resumes
 * from the destination's drain callback once the queue is at `low` or less.
 * End of data on one side becomes a shutdown (half-close) on the other; the
 * relay ends when both directions have ended and their queues are empty, on
 * the first error, on idle timeout, or on relay_close().  The relay owns both
 * streams from relay_start() on and closes them when it ends.
 */
#ifndef SLUICE_RELAY_H
#define SLUICE_RELAY_H

#include <uv.h>

#include "core/stream.h"

typedef struct relay relay_t;

typedef struct relay_opts {
	uint64_t idle_ms;          /* 0: no idle timeout */
	size_t high, low;          /* 0: STREAM_HIGH_WATER / STREAM_LOW_WATER */
	uint64_t *ctr_ab, *ctr_ba; /* optional byte counters to add to */
} relay_opts_t;

/* reason is a static string; bytes a->b and b->a. */
typedef void (*relay_done_cb)(void *ud, const char *reason, uint64_t ab, uint64_t ba);

relay_t *relay_start(uv_loop_t *loop, stream_t *a, stream_t *b, const relay_opts_t *o,
                     relay_done_cb cb, void *ud);
void relay_close(relay_t *r, const char *reason);
/* In the done callback: the error b's stream (the target side) ended the
 * relay with, and its fail (core/stream.h) in *f; 0 if it did not. */
int relay_b_error(const relay_t *r, stream_fail_t *f);

#endif
