/* udplisten: see udplisten.h. */
#include "core/udplisten.h"

#include <stddef.h>
#include <unistd.h>

#include "core/udphost.h"

int udplisten_start(udplisten_t *u, uv_loop_t *loop, const struct sockaddr *bind, int fd,
                    void *owner, uv_udp_recv_cb recv, uv_timer_cb tick, uint64_t period_ms)
{
	int r;

	u->owner = owner;
	uv_udp_init(loop, &u->sock);
	uv_timer_init(loop, &u->tick);
	u->sock.data = u->tick.data = owner;
	u->open = 2;
	if (fd >= 0 && (r = uv_udp_open(&u->sock, fd)) < 0)
		close(fd);
	if ((fd >= 0 ? r : (r = uv_udp_bind(&u->sock, bind, 0))) < 0 ||
	    (r = udp_socket_buffers(&u->sock)) < 0 ||
	    (r = uv_udp_recv_start(&u->sock, udp_alloc, recv)) < 0)
		return r;
	if (period_ms)
		uv_timer_start(&u->tick, tick, period_ms, period_ms);
	return 0;
}

int udplisten_fd(udplisten_t *u)
{
	uv_os_fd_t fd;

	return u->open && uv_fileno((uv_handle_t *)&u->sock, &fd) == 0 ? fd : -1;
}

void udplisten_stop(udplisten_t *u)
{
	if (u->open)
		uv_udp_recv_stop(&u->sock);
}

static void on_closed(uv_handle_t *h)
{
	udplisten_t *u = h->type == UV_UDP
	                     ? (udplisten_t *)((char *)h - offsetof(udplisten_t, sock))
	                     : (udplisten_t *)((char *)h - offsetof(udplisten_t, tick));

	if (--u->open == 0)
		u->done(u->owner);
}

void udplisten_close(udplisten_t *u, void *owner, void (*done)(void *owner))
{
	if (!u->open) {
		done(owner);
		return;
	}
	u->owner = owner;
	u->done = done;
	uv_close((uv_handle_t *)&u->sock, on_closed);
	uv_close((uv_handle_t *)&u->tick, on_closed);
}
