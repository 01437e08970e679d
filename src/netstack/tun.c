/* tun: see tun.h.  The device fd is non-blocking and watched with a
 * uv_poll_t; configuration uses the classic SIOCSIF* ioctls on a datagram
 * socket, so no netlink code and no `ip` binary are needed. */
#include "netstack/tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

#define TUN_BUF 65536

struct tun {
	uv_poll_t poll;
	int fd;
	char name[IFNAMSIZ];
	tun_input_fn in;
	void *ud;
	uint8_t *buf;
	uint64_t dropped;
	int closed;
};

static void on_poll(uv_poll_t *p, int status, int events)
{
	tun_t *t = p->data;

	if (status < 0)
		return;
	for (int i = 0; i < TUN_BATCH; i++) {
		ssize_t n = read(t->fd, t->buf, TUN_BUF);
		if (n <= 0)
			break;
		t->in(t->ud, t->buf, (size_t)n);
		if (t->closed) /* closed from the callback */
			break;
	}
}

int tun_open(uv_loop_t *loop, const char *name, tun_input_fn in, void *ud, tun_t **out)
{
	struct ifreq ifr;
	tun_t *t;
	int fd, r;

	if (!name[0] || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->buf = malloc(TUN_BUF);
	if (!t->buf)
		abort();
	t->fd = fd;
	t->in = in;
	t->ud = ud;
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	uv_poll_init(loop, &t->poll, fd);
	t->poll.data = t;
	uv_poll_start(&t->poll, UV_READABLE, on_poll);
	*out = t;
	return 0;
}

int tun_set_addr(tun_t *t, struct in_addr addr, int prefix, unsigned mtu)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	sin->sin_family = AF_INET;
	sin->sin_addr = addr;
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		goto fail;
	sin->sin_addr.s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0;
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		goto fail;
	memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
		goto fail;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	close(s);
	return 0;
fail:
	r = -errno;
	close(s);
	return r;
}

/* struct in6_ifreq of <linux/ipv6.h>, which clashes with <netinet/in.h> */
struct tun_in6_ifreq {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

int tun_set_addr6(tun_t *t, const struct in6_addr *addr, int prefix)
{
	struct tun_in6_ifreq r6;
	struct ifreq ifr;
	char path[128];
	int s, fd, r = 0;

	/* no duplicate address detection: the address is ours by assignment,
	 * and DAD would keep it unusable (tentative) for a second */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad", t->name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0) {
		if (write(fd, "0", 1) < 0)
			log_debug(0, "tun %s: accept_dad: %s", t->name, strerror(errno));
		close(fd);
	}
	if ((s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
		goto fail;
	memset(&r6, 0, sizeof(r6));
	r6.addr = *addr;
	r6.prefixlen = (uint32_t)prefix;
	r6.ifindex = ifr.ifr_ifindex;
	if (ioctl(s, SIOCSIFADDR, &r6) < 0 && errno != EEXIST)
		goto fail;
	close(s);
	return 0;
fail:
	r = -errno;
	close(s);
	return r;
}

int tun_write(tun_t *t, const uint8_t *pkt, size_t len)
{
	if (t->closed)
		return -EPIPE;
	if (write(t->fd, pkt, len) < 0) {
		t->dropped++;
		return -errno;
	}
	return 0;
}

const char *tun_name(const tun_t *t)
{
	return t->name;
}

static void free_on_close(uv_handle_t *h)
{
	tun_t *t = h->data;

	close(t->fd); /* only now: libuv no longer watches it */
	free(t->buf);
	free(t);
}

void tun_close(tun_t *t)
{
	if (!t)
		return;
	uv_poll_stop(&t->poll);
	t->closed = 1;
	uv_close((uv_handle_t *)&t->poll, free_on_close);
}
