/* sctp_kern: see sctp_kern.h. */
#include "tunnel/sctp/sctp_kern.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sctp.h>

#define READ_BURST 256 /* messages per poll callback: the loop keeps turning */

struct sctp_kern {
	uv_poll_t poll;
	int fd, server, events, closed;
	const sctp_kern_ops_t *ops;
	void *ud;
};

int sctp_kern_available(void)
{
	static int known = -1;

	if (known < 0) {
		int fd = socket(AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP);
		known = fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	return known;
}

static void set(int fd, int opt, const void *v, socklen_t len)
{
	/* tuning only: an older kernel's refusal leaves its default */
	(void)setsockopt(fd, IPPROTO_SCTP, opt, v, len);
}

static int setup(int fd, const sctp_kern_params_t *p)
{
	struct sctp_initmsg im = {.sinit_num_ostreams = p->streams,
	                          .sinit_max_instreams = p->streams,
	                          .sinit_max_attempts = 4,
	                          .sinit_max_init_timeo = 1000};
	struct sctp_event ev = {
	    .se_assoc_id = SCTP_FUTURE_ASSOC, .se_type = SCTP_ASSOC_CHANGE, .se_on = 1};
	struct sctp_paddrparams pp;
	struct sctp_assocparams ap;
	struct sctp_rtoinfo ri = {.srto_initial = 500, .srto_min = 100, .srto_max = 1000};
	int one = 1, buf = (int)p->sndbuf;

	if (setsockopt(fd, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof(im)) < 0 ||
	    setsockopt(fd, IPPROTO_SCTP, SCTP_RECVRCVINFO, &one, sizeof(one)) < 0)
		return -errno;
	if (setsockopt(fd, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev)) < 0) {
		/* before Linux 5.0: the older, whole-set option */
		struct sctp_event_subscribe es = {.sctp_association_event = 1};
		if (setsockopt(fd, IPPROTO_SCTP, SCTP_EVENTS, &es, sizeof(es)) < 0)
			return -errno;
	}
	set(fd, SCTP_NODELAY, &one, sizeof(one));
	{
		/* PR-SCTP (RFC 3758) for datagrams: a kernel without it sends
		 * them reliably, which is slower but still correct */
		struct sctp_assoc_value pr = {.assoc_id = SCTP_FUTURE_ASSOC, .assoc_value = 1};
		set(fd, SCTP_PR_SUPPORTED, &pr, sizeof(pr));
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	/* a dead peer found in seconds, as with usrsctp (sctp_assoc.c) */
	memset(&pp, 0, sizeof(pp));
	pp.spp_assoc_id = SCTP_FUTURE_ASSOC;
	pp.spp_hbinterval = p->hb_ms;
	pp.spp_pathmaxrxt = p->max_rtx;
	pp.spp_flags = SPP_HB_ENABLE;
	if (p->mtu) {
		pp.spp_pathmtu = p->mtu;
		pp.spp_flags |= SPP_PMTUD_DISABLE;
	}
	set(fd, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp));
	memset(&ap, 0, sizeof(ap));
	ap.sasoc_assoc_id = SCTP_FUTURE_ASSOC;
	ap.sasoc_asocmaxrxt = p->max_rtx;
	set(fd, SCTP_ASSOCINFO, &ap, sizeof(ap));
	ri.srto_assoc_id = SCTP_FUTURE_ASSOC;
	set(fd, SCTP_RTOINFO, &ri, sizeof(ri));
	return 0;
}

static void on_close(uv_handle_t *h)
{
	sctp_kern_t *k = h->data;

	if (k->fd >= 0)
		close(k->fd);
	free(k);
}

static void on_notification(sctp_kern_t *k, const uint8_t *buf, size_t len)
{
	const union sctp_notification *n = (const void *)buf;
	const struct sctp_assoc_change *c = &n->sn_assoc_change;
	int what;

	if (len < sizeof(n->sn_header) || n->sn_header.sn_type != SCTP_ASSOC_CHANGE ||
	    len < sizeof(*c))
		return;
	switch (c->sac_state) {
	case SCTP_COMM_UP:
		what = SCTPK_UP;
		break;
	case SCTP_COMM_LOST:
		what = SCTPK_LOST;
		break;
	case SCTP_RESTART:
		what = SCTPK_RESTART;
		break;
	case SCTP_SHUTDOWN_COMP:
		what = SCTPK_SHUTDOWN;
		break;
	case SCTP_CANT_STR_ASSOC:
		what = SCTPK_CANT_START;
		break;
	default:
		return;
	}
	k->ops->change(k->ud, (uint32_t)c->sac_assoc_id, what, c->sac_outbound_streams,
	               c->sac_inbound_streams);
}

/* 0: nothing more now; 1: one message handled; -errno: the socket ended */
static int read_one(sctp_kern_t *k)
{
	static uint8_t buf[64 * 1024];
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(struct sctp_rcvinfo))];
	} cm;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof(cm.b)};
	struct sctp_rcvinfo ri = {0};
	ssize_t n = recvmsg(k->fd, &m, MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	if (n == 0 && !(m.msg_flags & MSG_NOTIFICATION))
		return -EPIPE; /* end of stream: only one-to-one sockets */
	if (m.msg_flags & MSG_NOTIFICATION) {
		on_notification(k, buf, (size_t)n);
		return 1;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == IPPROTO_SCTP && c->cmsg_type == SCTP_RCVINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(ri)))
			memcpy(&ri, CMSG_DATA(c), sizeof(ri));
	k->ops->msg(k->ud, (uint32_t)ri.rcv_assoc_id, ri.rcv_sid, ntohl(ri.rcv_ppid),
	            !!(m.msg_flags & MSG_EOR), buf, (size_t)n);
	return 1;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	sctp_kern_t *k = h->data;

	if (k->closed)
		return;
	if (status < 0 || (events & UV_DISCONNECT)) {
		/* an error or a hang-up: read what is left, then it shows */
		events |= UV_READABLE;
	}
	if (events & UV_WRITABLE) {
		k->events &= ~UV_WRITABLE;
		uv_poll_start(&k->poll, k->events, on_poll);
		k->ops->writable(k->ud);
	}
	for (int i = 0; !k->closed && (events & UV_READABLE) && i < READ_BURST; i++) {
		int r = read_one(k);
		if (r == 0)
			break;
		if (r < 0) {
			if (!k->server) {
				uv_poll_stop(&k->poll); /* until the owner closes it */
				k->ops->eof(k->ud, r == -EPIPE ? 0 : r);
			}
			break;
		}
	}
	if (!k->closed)
		k->ops->done(k->ud);
}

static int open_sock(uv_loop_t *loop, int family, int server, const sctp_kern_params_t *p,
                     const sctp_kern_ops_t *ops, void *ud, sctp_kern_t **out)
{
	sctp_kern_t *k;
	int fd = socket(family,
	                (server ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
	                IPPROTO_SCTP),
	    r;

	if (fd < 0)
		return -errno;
	if ((r = setup(fd, p)) < 0) {
		close(fd);
		return r;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		abort();
	k->fd = fd;
	k->server = server;
	k->ops = ops;
	k->ud = ud;
	if ((r = uv_poll_init(loop, &k->poll, fd)) < 0) {
		close(fd);
		free(k);
		return r;
	}
	k->poll.data = k;
	*out = k;
	return 0;
}

static socklen_t sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int sctp_kern_listen(uv_loop_t *loop, const struct sockaddr *bind_to, const sctp_kern_params_t *p,
                     const sctp_kern_ops_t *ops, void *ud, sctp_kern_t **out)
{
	sctp_kern_t *k;
	int one = 1, r;

	if ((r = open_sock(loop, bind_to->sa_family, 1, p, ops, ud, &k)) < 0)
		return r;
	(void)setsockopt(k->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(k->fd, bind_to, sa_len(bind_to)) < 0 || listen(k->fd, 128) < 0) {
		r = -errno;
		sctp_kern_close(k, 0);
		return r;
	}
	k->events = UV_READABLE;
	uv_poll_start(&k->poll, k->events, on_poll);
	*out = k;
	return 0;
}

int sctp_kern_connect(uv_loop_t *loop, const struct sockaddr *to, const sctp_kern_params_t *p,
                      const sctp_kern_ops_t *ops, void *ud, sctp_kern_t **out)
{
	sctp_kern_t *k;
	int r;

	if ((r = open_sock(loop, to->sa_family, 0, p, ops, ud, &k)) < 0)
		return r;
	if (connect(k->fd, to, sa_len(to)) < 0 && errno != EINPROGRESS) {
		r = -errno;
		sctp_kern_close(k, 0);
		return r;
	}
	k->events = UV_READABLE | UV_DISCONNECT;
	uv_poll_start(&k->poll, k->events, on_poll);
	*out = k;
	return 0;
}

/* pr: PR-SCTP information to send along, or NULL. */
static ssize_t send_info(sctp_kern_t *k, const struct sctp_sndinfo *si,
                         const struct sctp_prinfo *pr, const void *p, size_t len)
{
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(struct sctp_sndinfo)) +
		          CMSG_SPACE(sizeof(struct sctp_prinfo))];
	} cm;
	struct iovec iov = {(void *)p, len};
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = cm.b,
	                   .msg_controllen =
	                       CMSG_SPACE(sizeof(*si)) + (pr ? CMSG_SPACE(sizeof(*pr)) : 0)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	memset(cm.b, 0, sizeof(cm.b));
	c->cmsg_level = IPPROTO_SCTP;
	c->cmsg_type = SCTP_SNDINFO;
	c->cmsg_len = CMSG_LEN(sizeof(*si));
	memcpy(CMSG_DATA(c), si, sizeof(*si));
	if (pr) {
		c = CMSG_NXTHDR(&m, c);
		c->cmsg_level = IPPROTO_SCTP;
		c->cmsg_type = SCTP_PRINFO;
		c->cmsg_len = CMSG_LEN(sizeof(*pr));
		memcpy(CMSG_DATA(c), pr, sizeof(*pr));
	}
	return sendmsg(k->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int sctp_kern_send(sctp_kern_t *k, uint32_t aid, uint16_t sid, uint32_t ppid, const void *p,
                   size_t len)
{
	struct sctp_sndinfo si = {.snd_sid = sid, .snd_ppid = htonl(ppid)};

	si.snd_assoc_id = (sctp_assoc_t)aid;
	if (send_info(k, &si, NULL, p, len) >= 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		if (!(k->events & UV_WRITABLE)) {
			k->events |= UV_WRITABLE;
			uv_poll_start(&k->poll, k->events, on_poll);
		}
		return -EAGAIN;
	}
	return -errno;
}

int sctp_kern_send_dgram(sctp_kern_t *k, uint32_t aid, uint16_t sid, uint32_t ppid, const void *p,
                         size_t len)
{
	struct sctp_sndinfo si = {
	    .snd_sid = sid, .snd_flags = SCTP_UNORDERED, .snd_ppid = htonl(ppid)};
	struct sctp_prinfo pr = {.pr_policy = SCTP_PR_SCTP_RTX, .pr_value = 0};

	si.snd_assoc_id = (sctp_assoc_t)aid;
	if (send_info(k, &si, &pr, p, len) >= 0)
		return 0;
	return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

void sctp_kern_abort(sctp_kern_t *k, uint32_t aid)
{
	struct sctp_sndinfo si = {.snd_flags = SCTP_ABORT};

	si.snd_assoc_id = (sctp_assoc_t)aid;
	(void)send_info(k, &si, NULL, NULL, 0);
}

int sctp_kern_peer(sctp_kern_t *k, uint32_t aid, struct sockaddr_storage *out)
{
	struct sctp_prim pr;
	socklen_t len = sizeof(pr);

	memset(&pr, 0, sizeof(pr));
	pr.ssp_assoc_id = (sctp_assoc_t)aid;
	if (getsockopt(k->fd, IPPROTO_SCTP, SCTP_PRIMARY_ADDR, &pr, &len) < 0)
		return -errno;
	memcpy(out, &pr.ssp_addr, sizeof(*out));
	return 0;
}

void sctp_kern_close(sctp_kern_t *k, int hard)
{
	if (!k || k->closed)
		return;
	k->closed = 1;
	if (hard) {
		struct linger lg = {1, 0};
		(void)setsockopt(k->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	uv_poll_stop(&k->poll);
	/* the descriptor is closed after the handle (on_close) */
	uv_close((uv_handle_t *)&k->poll, on_close);
}
