/* udplisten: the UDP socket of a listener that serves datagrams itself
 * (udp://, dns://): bound on the listener's address with big buffers
 * (udp_socket_buffers), read with udp_alloc, a periodic timer for its
 * sweeps, and a close that frees the owner once both handles are closed.
 * Both handles' data is the owner, for its callbacks.
 */
#ifndef SLUICE_UDPLISTEN_H
#define SLUICE_UDPLISTEN_H

#include <uv.h>

typedef struct udplisten {
	uv_udp_t sock;
	uv_timer_t tick;
	void *owner;
	void (*done)(void *owner);
	unsigned open; /* handles not yet closed */
} udplisten_t;

/* Bind (or serve on fd, a socket bound already, which u owns now: a
 * listener's predecessor's, listener_taken_fd; -1: bind), read into recv,
 * tick every period_ms (0: never).  On failure the handles are open
 * still: close as usual. */
int udplisten_start(udplisten_t *u, uv_loop_t *loop, const struct sockaddr *bind, int fd,
                    void *owner, uv_udp_recv_cb recv, uv_timer_cb tick, uint64_t period_ms);
/* The socket's descriptor, or -1 (front_ops.dgram_fd). */
int udplisten_fd(udplisten_t *u);
void udplisten_stop(udplisten_t *u); /* stop reading */
/* Close both handles; done(owner) runs once they are closed (now when
 * nothing was started). */
void udplisten_close(udplisten_t *u, void *owner, void (*done)(void *owner));

#endif
