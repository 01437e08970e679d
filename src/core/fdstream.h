/* fdstream: a stream_t over raw file descriptors (a serial device, a pty,
 * stdin/stdout), for links libuv has no stream type for.
 *
 * One descriptor for reading and one for writing (they may be the same);
 * both are switched to non-blocking mode and watched with uv_poll.  Reads
 * go into default-size sbufs; writes are tried at once and the rest queued
 * (wq_bytes), with on_drain at STREAM_LOW_WATER or below.  Read returning 0
 * is end of data; EIO on a tty whose other side went away is reported as
 * UV_EOF too.  close does not close the descriptors unless own_fds.
 */
#ifndef SLUICE_FDSTREAM_H
#define SLUICE_FDSTREAM_H

#include <uv.h>

#include "core/stream.h"

stream_t *fdstream_new(uv_loop_t *loop, int rfd, int wfd, int own_fds, uint64_t id);

#endif
