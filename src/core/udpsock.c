/* udpsock: see udpsock.h.  One thread: every socket reads into the same
 * static buffers, each datagram is handed out (and done with) before the
 * next read. */
#include "core/udpsock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define RBATCH 8             /* reads per recvmmsg */
#define RSLOT (65536 + 4096) /* a GRO read is at most 64 KiB */
#define RTURNS 8             /* recvmmsg calls per wakeup */
#define GSO_SEGS 64          /* UDP_MAX_SEGMENTS */
#define GSO_BYTES 65000      /* a run's bytes per sendmsg (an IP datagram's limit) */
#define MMSG 64

#define QBUF (2 * UDPSOCK_DGRAM_MAX) /* one run, and room for the datagram after it */

struct udpsock {
	uv_poll_t poll;
	uv_check_t check; /* flushes the queue at the end of the loop turn */
	uv_idle_t idle;   /* ... and keeps the loop from blocking before that */
	int fd;
	unsigned want, have;
	int closed, closing;
	udpsock_recv_fn cb;
	void *ud;
	/* the queued run: qn datagrams, each qstride bytes but the last (qlast) */
	uint8_t *q;
	size_t qn, qstride, qlast, qbytes;
	int qclosed, qsched;
	struct sockaddr_storage qto;
	void (*tfn)(void *ud); /* the owner's end of the turn, before the queue goes */
	void *tud;
};

static uint8_t rbuf[RBATCH][RSLOT];

unsigned udpsock_offloads(const udpsock_t *u)
{
	return u->have;
}

int udpsock_fd(const udpsock_t *u)
{
	return u->fd;
}

static size_t sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void deliver(udpsock_t *u, uint8_t *d, size_t n, size_t seg, const struct sockaddr *from)
{
	if (!seg || seg >= n) {
		u->cb(u->ud, d, n, from);
		return;
	}
	for (size_t off = 0; off < n && !u->closed; off += seg)
		u->cb(u->ud, d + off, n - off < seg ? n - off : seg, from);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	udpsock_t *u = p->data;
	struct mmsghdr m[RBATCH];
	struct iovec iov[RBATCH];
	struct sockaddr_storage from[RBATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl[RBATCH];
	(void)events;

	if (status < 0)
		return;
	for (int turn = 0; turn < RTURNS && !u->closed; turn++) {
		int got;
		memset(m, 0, sizeof(m));
		for (int i = 0; i < RBATCH; i++) {
			iov[i].iov_base = rbuf[i];
			iov[i].iov_len = RSLOT;
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = &from[i];
			m[i].msg_hdr.msg_namelen = sizeof(from[i]);
			m[i].msg_hdr.msg_control = ctl[i].buf;
			m[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
		}
		got = recvmmsg(u->fd, m, RBATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		for (int i = 0; i < got && !u->closed; i++) {
			size_t seg = 0;
			if (m[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c;
			     c = CMSG_NXTHDR(&m[i].msg_hdr, c))
				if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
					int v;
					memcpy(&v, CMSG_DATA(c), sizeof(v));
					seg = v > 0 ? (size_t)v : 0;
				}
			deliver(u, rbuf[i], m[i].msg_len, seg, (struct sockaddr *)&from[i]);
		}
		if (got < RBATCH)
			return;
	}
}

int udpsock_open(uv_loop_t *loop, const struct sockaddr *addr, unsigned flags, udpsock_recv_fn cb,
                 void *ud, udpsock_t **out)
{
	int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, r;
	udpsock_t *u;

	if (fd < 0)
		return -errno;
	if (bind(fd, addr, (socklen_t)sa_len(addr)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	u->fd = fd;
	u->cb = cb;
	u->ud = ud;
	u->want = flags;
	if ((flags & UDPSOCK_GRO) && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0)
		u->have |= UDPSOCK_GRO;
	if (flags & UDPSOCK_GSO) { /* probed: the first run that fails turns it off */
		int seg = 0;
		socklen_t sl = sizeof(seg);
		if (getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &sl) == 0)
			u->have |= UDPSOCK_GSO;
	}
	{
		int sz = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	if (!(u->q = malloc(QBUF)))
		abort();
	uv_poll_init(loop, &u->poll, fd);
	u->poll.data = u;
	uv_poll_start(&u->poll, UV_READABLE, on_poll);
	uv_check_init(loop, &u->check);
	u->check.data = u;
	uv_idle_init(loop, &u->idle);
	u->idle.data = u;
	*out = u;
	return 0;
}

static void free_on_close(uv_handle_t *h)
{
	udpsock_t *u = h->data;

	if (--u->closing) /* three handles, in no promised order */
		return;
	close(u->fd); /* only now: libuv no longer watches it */
	free(u->q);
	free(u);
}

void udpsock_close(udpsock_t *u)
{
	if (!u || u->closed)
		return;
	udpsock_flush(u);
	u->closed = 1;
	u->closing = 3;
	uv_poll_stop(&u->poll);
	uv_close((uv_handle_t *)&u->poll, free_on_close);
	uv_close((uv_handle_t *)&u->check, free_on_close);
	uv_close((uv_handle_t *)&u->idle, free_on_close);
}

void udpsock_recv_stop(udpsock_t *u)
{
	if (!u->closed)
		uv_poll_stop(&u->poll);
}

int udpsock_send(udpsock_t *u, const struct sockaddr *to, const uint8_t *d, size_t n)
{
	if (u->closed)
		return -EPIPE;
	if (u->qn)
		udpsock_flush(u);
	if (sendto(u->fd, d, n, MSG_DONTWAIT, to, (socklen_t)sa_len(to)) < 0)
		return -errno;
	return 0;
}

/* count datagrams of stride bytes (the last: last) with one sendmsg */
static int send_gso(udpsock_t *u, const struct sockaddr *to, const uint8_t *buf, size_t stride,
                    size_t count, size_t last)
{
	struct iovec iov = {(void *)buf, (count - 1) * stride + last};
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = {.msg_name = (void *)to,
	                    .msg_namelen = (socklen_t)sa_len(to),
	                    .msg_iov = &iov,
	                    .msg_iovlen = 1};
	uint16_t seg = (uint16_t)stride;
	struct cmsghdr *c;

	if (count > 1) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	}
	return sendmsg(u->fd, &mh, MSG_DONTWAIT) < 0 ? -errno : 0;
}

static int send_mmsg(udpsock_t *u, const struct sockaddr *to, const uint8_t *buf, size_t stride,
                     size_t n, size_t last)
{
	struct mmsghdr m[MMSG];
	struct iovec iov[MMSG];

	for (size_t done = 0; done < n;) {
		size_t k = n - done < MMSG ? n - done : MMSG;
		int r;
		memset(m, 0, k * sizeof(m[0]));
		for (size_t i = 0; i < k; i++) {
			iov[i].iov_base = (void *)(buf + (done + i) * stride);
			iov[i].iov_len = done + i + 1 == n ? last : stride;
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = (void *)to;
			m[i].msg_hdr.msg_namelen = (socklen_t)sa_len(to);
		}
		r = sendmmsg(u->fd, m, (unsigned)k, MSG_DONTWAIT);
		if (r <= 0)
			return r < 0 ? -errno : -EAGAIN;
		done += (size_t)r;
	}
	return 0;
}

int udpsock_send_run(udpsock_t *u, const struct sockaddr *to, const uint8_t *buf, size_t stride,
                     size_t n, size_t last)
{
	size_t per;

	if (u->closed)
		return -EPIPE;
	if (!n)
		return 0;
	if (u->qn)
		udpsock_flush(u);
	if (n == 1)
		return udpsock_send(u, to, buf, last);
	if (!(u->have & UDPSOCK_GSO) || stride > GSO_BYTES)
		return send_mmsg(u, to, buf, stride, n, last);
	per = GSO_BYTES / stride;
	if (per > GSO_SEGS)
		per = GSO_SEGS;
	for (size_t done = 0; done < n;) {
		size_t k = n - done < per ? n - done : per;
		int r =
		    send_gso(u, to, buf + done * stride, stride, k, done + k == n ? last : stride);
		if (r == -EIO || r == -EINVAL || r == -EOPNOTSUPP || r == -ENOPROTOOPT) {
			/* the route's device cannot checksum for us, or an old kernel */
			u->have &= ~UDPSOCK_GSO;
			log_info(
			    0,
			    "udp: no UDP GSO on this route (%s): one datagram per send (sendmmsg)",
			    strerror(-r));
			return send_mmsg(u, to, buf + done * stride, stride, n - done, last);
		}
		if (r < 0)
			return r;
		done += k;
	}
	return 0;
}

static int same_to(const udpsock_t *u, const struct sockaddr *to)
{
	return !memcmp(&u->qto, to, sa_len(to));
}

static void turn_end(udpsock_t *u)
{
	if (u->tfn && !u->closed)
		u->tfn(u->tud); /* may queue more */
	if (u->qsched) {
		uv_check_stop(&u->check);
		uv_idle_stop(&u->idle);
		u->qsched = 0;
	}
	udpsock_flush(u);
}

static void on_turn_end(uv_check_t *c)
{
	turn_end(c->data);
}

static void on_idle(uv_idle_t *i)
{
	turn_end(i->data);
}

void udpsock_on_turn_end(udpsock_t *u, void (*fn)(void *ud), void *ud)
{
	u->tfn = fn;
	u->tud = ud;
}

void udpsock_arm(udpsock_t *u)
{
	if (!u->qsched && !u->closed) {
		uv_check_start(&u->check, on_turn_end);
		uv_idle_start(&u->idle, on_idle);
		u->qsched = 1;
	}
}

void udpsock_flush(udpsock_t *u)
{
	size_t n = u->qn;

	if (!n || u->closed)
		return;
	u->qn = 0; /* first: udpsock_send_run() flushes too */
	u->qbytes = 0;
	u->qclosed = 0;
	udpsock_send_run(u, (struct sockaddr *)&u->qto, u->q, u->qstride, n, u->qlast);
}

uint8_t *udpsock_slot(udpsock_t *u, const struct sockaddr *to, size_t max)
{
	if (u->qn && (u->qclosed || !same_to(u, to) || u->qn >= GSO_SEGS ||
	              u->qbytes + u->qstride > GSO_BYTES || u->qbytes + max > QBUF))
		udpsock_flush(u);
	if (!u->qn)
		memcpy(&u->qto, to, sa_len(to));
	return u->q + u->qbytes;
}

void udpsock_commit(udpsock_t *u, size_t len)
{
	if (u->closed)
		return;
	if (!u->qn) {
		u->qstride = len;
	} else if (len > u->qstride) { /* cannot join the run: it goes first */
		size_t n = u->qn, at = u->qbytes;
		u->qn = 0;
		u->qbytes = 0;
		u->qclosed = 0;
		udpsock_send_run(u, (struct sockaddr *)&u->qto, u->q, u->qstride, n, u->qlast);
		memmove(u->q, u->q + at, len);
		u->qstride = len;
	} else if (len < u->qstride) {
		u->qclosed = 1; /* a shorter one ends the run */
	}
	u->qn++;
	u->qbytes += len;
	u->qlast = len;
	udpsock_arm(u);
}
