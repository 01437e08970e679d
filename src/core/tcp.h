/* tcp: a host TCP socket (or a UNIX socket) as a stream_t.
 *
 * Reads go straight into default-size sbuf chunks that are handed to the
 * owner; writes try the socket at once and queue only what the kernel did
 * not take.  TCP_NODELAY is set on every socket: a relay must not add
 * Nagle's delay on top of the application's.
 */
#ifndef SLUICE_TCP_H
#define SLUICE_TCP_H

#include <uv.h>

#include "core/stream.h"

typedef void (*tcp_connect_cb)(stream_t *s, int status, void *ud);

stream_t *tcp_stream_new(uv_loop_t *loop, uint64_t id);
uv_tcp_t *tcp_stream_handle(stream_t *s);
/* Accept one pending connection of `server` into a new stream. */
int tcp_stream_accept(uv_stream_t *server, uint64_t id, stream_t **out);
/* Connect; cb is not called if the stream is closed first.  UV_EMFILE
 * (said in the log) when the socket would take one of the last
 * descriptors, which stay free for accepting. */
int tcp_stream_connect(stream_t *s, const struct sockaddr *sa, tcp_connect_cb cb, void *ud);
/* The same over a UNIX socket (uv_pipe_t). */
stream_t *unix_stream_new(uv_loop_t *loop, uint64_t id);
int unix_stream_accept(uv_stream_t *server, uint64_t id, stream_t **out);
int unix_stream_connect(stream_t *s, const char *path, tcp_connect_cb cb, void *ud);
/* An already connected UNIX socket; takes fd, even on error. */
int unix_stream_open(uv_loop_t *loop, int fd, uint64_t id, stream_t **out);

#endif
