/* wbatch: small writes to a stream gathered for the rest of the loop turn.
 *
 * A producer that writes one small message per packet (a PPP link's
 * frames) would make a system call, and wake the reader, for each.  It
 * appends them here instead; they go to the stream as one chunk on the
 * next turn (a zero timer: the loop does not block first), or at once
 * when the chunk is full.  A message larger than a chunk goes alone, after
 * what waited.  The owner keeps the wbatch_t; wbatch_close() before
 * freeing it.
 */
#ifndef SLUICE_WBATCH_H
#define SLUICE_WBATCH_H

#include <stddef.h>
#include <uv.h>

#include "core/stream.h"

typedef struct wbatch {
	uv_timer_t *t; /* its own memory: closed with the timer */
	stream_t *s;
	sbuf_t *b;
} wbatch_t;

void wbatch_init(wbatch_t *w, uv_loop_t *loop);
/* Appends len bytes for s (one stream per batch until it is flushed). */
void wbatch_write(wbatch_t *w, stream_t *s, const void *p, size_t len);
/* Writes what waits now. */
void wbatch_flush(wbatch_t *w);
/* Discards what waits (the stream is going). */
void wbatch_drop(wbatch_t *w);
/* wbatch_drop(), and the timer goes; w may be freed after. */
void wbatch_close(wbatch_t *w);

#endif
