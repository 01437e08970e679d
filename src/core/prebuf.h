/* prebuf: a stream that first delivers bytes already read from it.
 *
 * A hop that parses its server's reply (SOCKS, HTTP CONNECT, ...) may read
 * bytes past the reply that belong to the application; server-first
 * protocols (SSH, SMTP) make that common.  prebuf_wrap() returns a stream
 * that hands those bytes to its reader on the first read_start (from a timer
 * callback, never from inside the op), then passes everything through to the
 * inner stream.  With no saved bytes it returns the inner stream itself.
 */
#ifndef SLUICE_PREBUF_H
#define SLUICE_PREBUF_H

#include <uv.h>

#include "core/stream.h"

/* Takes ownership of inner and of first (which may be NULL or empty). */
stream_t *prebuf_wrap(uv_loop_t *loop, stream_t *inner, sbuf_t *first);

#endif
