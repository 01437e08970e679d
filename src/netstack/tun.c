/* tun: see tun.h.  The device fd is non-blocking and watched with a
 * uv_poll_t; configuration uses the classic SIOCSIF* ioctls on a datagram
 * socket, so no netlink code and no `ip` binary are needed.  With
 * offloads, every read and write carries a 10-byte virtio-net header
 * (TUNSETVNETHDRSZ); the write side's coalescer (vnet_gro_t) is flushed by
 * a uv_check, after the loop turn's I/O callbacks. */
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
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"

#define TUN_BUF (VNET_HDR_LEN + 65536)
#ifndef TUN_F_USO4 /* Linux 6.2 */
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

struct tun {
	uv_poll_t poll;
	uv_check_t check;
	int fd;
	int vnet;          /* every read and write has a virtio-net header */
	unsigned offloads; /* TUN_F_* granted */
	char name[IFNAMSIZ];
	char offl_str[32];
	tun_input_fn in;
	void *ud;
	uint8_t *buf;
	vnet_gro_t *gro;
	uint64_t dropped;
	int closed, closing;
};

static void on_poll(uv_poll_t *p, int status, int events)
{
	tun_t *t = p->data;
	vnet_hdr_t h;

	if (status < 0)
		return;
	for (int i = 0; i < TUN_BATCH; i++) {
		ssize_t n = read(t->fd, t->buf, TUN_BUF);
		if (n <= 0)
			break;
		if (!t->vnet) {
			t->in(t->ud, t->buf, (size_t)n, NULL);
		} else if (n > VNET_HDR_LEN) {
			vnet_hdr_parse(t->buf, &h);
			t->in(t->ud, t->buf + VNET_HDR_LEN, (size_t)n - VNET_HDR_LEN, &h);
		}
		if (t->closed) /* closed from the callback */
			break;
	}
}

static void on_check(uv_check_t *c)
{
	tun_flush(c->data);
}

/* IFF_VNET_HDR and as many offloads as the kernel grants, from the most */
static void want_offloads(tun_t *t)
{
	static const unsigned tries[] = {
	    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
	    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN, TUN_F_CSUM};
	int sz = VNET_HDR_LEN;

	if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0)
		return;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) {
			t->offloads = tries[i];
			break;
		}
	snprintf(t->offl_str, sizeof(t->offl_str), "%s%s%s",
	         t->offloads & TUN_F_TSO4 ? "TSO4 TSO6 " : "",
	         t->offloads & TUN_F_USO4 ? "USO " : "",
	         t->offloads & TUN_F_CSUM ? "CSUM" : "none");
}

int tun_open(uv_loop_t *loop, const char *name, unsigned flags, tun_input_fn in, void *ud,
             tun_t **out)
{
	struct ifreq ifr;
	tun_t *t;
	int fd, r, vnet = (flags & TUN_OFFLOAD) != 0;

	if (!name[0] || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
again:
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		close(fd);
		if (vnet && r == -EINVAL) { /* no virtio-net headers here */
			vnet = 0;
			goto again;
		}
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
	t->vnet = vnet;
	snprintf(t->offl_str, sizeof(t->offl_str), "none");
	if (vnet) {
		want_offloads(t);
		if (!(t->gro = calloc(1, sizeof(*t->gro))))
			abort();
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	uv_poll_init(loop, &t->poll, fd);
	t->poll.data = t;
	uv_poll_start(&t->poll, UV_READABLE, on_poll);
	uv_check_init(loop, &t->check);
	t->check.data = t;
	uv_check_start(&t->check, on_check);
	uv_unref((uv_handle_t *)&t->check);
	*out = t;
	return 0;
}

const char *tun_offloads(const tun_t *t)
{
	return t->offl_str;
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

/* one packet with a header that asks for nothing */
static int write_plain(tun_t *t, const uint8_t *pkt, size_t len)
{
	static const uint8_t none[VNET_HDR_LEN];
	struct iovec iov[2] = {{(void *)none, VNET_HDR_LEN}, {(void *)pkt, len}};
	ssize_t r = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, pkt, len);

	if (r < 0) {
		t->dropped++;
		return -errno;
	}
	return 0;
}

/* The kernel refused a super-packet: cut it here, and gather no more. */
static void write_cut(tun_t *t, const uint8_t *p, size_t n)
{
	vnet_hdr_t h;
	uint16_t lens[VNET_MAX / 64 + 1];
	uint8_t *out;
	int stride, k;

	vnet_hdr_parse(p, &h);
	if ((stride = vnet_seg_len(&h, p + VNET_HDR_LEN, n - VNET_HDR_LEN)) <= 0)
		return;
	if (!(out = malloc((size_t)stride * (sizeof(lens) / sizeof(lens[0])))))
		abort();
	k = vnet_segment(&h, p + VNET_HDR_LEN, n - VNET_HDR_LEN, out, (size_t)stride,
	                 sizeof(lens) / sizeof(lens[0]), lens);
	for (int i = 0; i < k; i++)
		write_plain(t, out + (size_t)i * (size_t)stride, lens[i]);
	free(out);
}

void tun_flush(tun_t *t)
{
	const uint8_t *p;
	size_t n;

	if (!t->gro || !(n = vnet_gro_finish(t->gro, &p)))
		return;
	if (write(t->fd, p, n) >= 0)
		return;
	if (errno == EINVAL && p[1] != VNET_GSO_NONE) {
		log_warn(0, "tun %s: the kernel refuses coalesced writes: one packet per write",
		         t->name);
		t->offloads &= ~(unsigned)TUN_F_TSO4;
		write_cut(t, p, n);
		return;
	}
	t->dropped++;
}

int tun_write(tun_t *t, const uint8_t *pkt, size_t len)
{
	if (t->closed)
		return -EPIPE;
	if (!t->gro || !(t->offloads & TUN_F_TSO4))
		return write_plain(t, pkt, len);
	if (vnet_gro_add(t->gro, pkt, len))
		return 0;
	tun_flush(t);
	if (vnet_gro_add(t->gro, pkt, len))
		return 0;
	return write_plain(t, pkt, len);
}

const char *tun_name(const tun_t *t)
{
	return t->name;
}

static void free_on_close(uv_handle_t *h)
{
	tun_t *t = h->data;

	if (--t->closing) /* the poll and the check, in no promised order */
		return;
	close(t->fd); /* only now: libuv no longer watches it */
	free(t->buf);
	free(t->gro);
	free(t);
}

void tun_close(tun_t *t)
{
	if (!t)
		return;
	tun_flush(t);
	uv_poll_stop(&t->poll);
	t->closed = 1;
	t->closing = 2;
	uv_close((uv_handle_t *)&t->check, free_on_close);
	uv_close((uv_handle_t *)&t->poll, free_on_close);
}
