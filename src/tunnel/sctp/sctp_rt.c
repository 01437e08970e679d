/* sctp_rt: the SCTP runtime: usrsctp's threads bridged to our loop, the
 * loop's turn that drives every association and stream, and the sockets
 * (usrsctp's or the kernel's) the associations live on.  The association is
 * sctp_assoc.c, its streams sctp_stream.c; the structures all three share
 * are sctp_priv.h.
 *
 * Loop side, in one place (rt_run, the uv_async callback):
 *   1. take the events the usrsctp threads queued and dispatch them:
 *      association changes, messages (stream 0: AUTH/AUTH_OK; others:
 *      sealed records), "send space again";
 *   2. pump every association marked dirty: round robin over its streams
 *      that have something to send, one record each turn, until usrsctp
 *      says EWOULDBLOCK (then wait for send space, or a short retry timer);
 *   3. deliver what is pending to the streams' owners (reads, end of data,
 *      drain, errors) -- the only place owner callbacks run, so stream ops
 *      never call back into their caller;
 *   4. free what is done: streams whose id is released (both CLOSEs) or
 *      whose association is gone, and dead associations.
 * Stream ops only change flags and queues and wake rt_run.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <usrsctp.h>

#include "core/queue.h"
#include "tunnel/sctp/sctp_kern.h"
#include "tunnel/sctp/sctp_priv.h"

/* ---- events from usrsctp's threads ---- */

enum { EV_MSG, EV_EOF };

typedef struct ev {
	struct ev *next;
	uint64_t sock;
	int kind, flags;
	void *data; /* malloc'd by usrsctp; ours to free */
	size_t len;
	uint16_t sid;
	uint32_t ppid; /* host order */
	sctp_assoc_t aid;
} ev_t;

struct sctp_rt sctp_rt = {.mu = PTHREAD_MUTEX_INITIALIZER, .pend = {&sctp_rt.pend, &sctp_rt.pend}};

void sctp_rt_wake(void)
{
	uv_async_send(&sctp_rt.async);
}

static int on_recv_cb(struct socket *so, union sctp_sockstore addr, void *data, size_t len,
                      struct sctp_rcvinfo rcv, int flags, void *ulp)
{
	ev_t *e = calloc(1, sizeof(*e));

	if (!e)
		abort();
	e->sock = (uint64_t)(uintptr_t)ulp;
	e->kind = data ? EV_MSG : EV_EOF;
	e->data = data;
	e->len = len;
	e->flags = flags;
	e->sid = rcv.rcv_sid;
	e->ppid = ntohl(rcv.rcv_ppid);
	e->aid = rcv.rcv_assoc_id;
	pthread_mutex_lock(&sctp_rt.mu);
	if (sctp_rt.stopped) {
		pthread_mutex_unlock(&sctp_rt.mu);
		free(data);
		free(e);
		return 1;
	}
	if (sctp_rt.tail)
		sctp_rt.tail->next = e;
	else
		sctp_rt.head = e;
	sctp_rt.tail = e;
	uv_async_send(&sctp_rt.async); /* under mu: never after sctp_rt_stop() closed it */
	pthread_mutex_unlock(&sctp_rt.mu);
	return 1;
}

static int on_send_cb(struct socket *so, uint32_t sb_free, void *ulp)
{
	int wake;

	pthread_mutex_lock(&sctp_rt.mu);
	wake = !sctp_rt.send_space && !sctp_rt.stopped;
	sctp_rt.send_space = 1;
	if (wake)
		uv_async_send(&sctp_rt.async);
	pthread_mutex_unlock(&sctp_rt.mu);
	return 0;
}

static sctp_sock_t *sock_find(uint64_t id)
{
	for (sctp_sock_t *s = sctp_rt.socks; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void dispatch(ev_t *e)
{
	sctp_sock_t *so = sock_find(e->sock);
	sctp_association_t *a;

	if (!so)
		return;
	if (e->kind == EV_EOF) {
		sctp_sock_eof(so, 0);
		return;
	}
	if (e->flags & MSG_NOTIFICATION) {
		const union sctp_notification *n = e->data;
		if (e->len >= sizeof(n->sn_header) && n->sn_header.sn_type == SCTP_ASSOC_CHANGE &&
		    e->len >= sizeof(struct sctp_assoc_change))
			sctp_assoc_on_usrsctp_change(so, &n->sn_assoc_change);
		return;
	}
	a = sctp_assoc_find(so, e->aid);
	if (!a || a->state == A_DEAD)
		return;
	sctp_assoc_on_msg(a, e->sid, e->ppid, e->flags, e->data, e->len);
}

/* The socket takes data again: its associations may send. */
static void sock_unblock(sctp_sock_t *s)
{
	for (sctp_association_t *a = s->assocs; a; a = a->next)
		if (a->blocked) {
			a->blocked = 0;
			sctp_rt.nblocked--;
			sctp_assoc_dirty(a);
		}
}

static void rt_run(uv_async_t *h)
{
	ev_t *e;
	int space, rounds = 0;

	pthread_mutex_lock(&sctp_rt.mu);
	e = sctp_rt.head;
	sctp_rt.head = sctp_rt.tail = NULL;
	space = sctp_rt.send_space;
	sctp_rt.send_space = 0;
	pthread_mutex_unlock(&sctp_rt.mu);
	while (e) {
		ev_t *next = e->next;
		dispatch(e);
		free(e->data);
		free(e);
		e = next;
	}
	if (space && sctp_rt.nblocked)
		for (sctp_sock_t *s = sctp_rt.socks; s; s = s->next)
			sock_unblock(s);
	while ((sctp_rt.dirty || !queue_empty(&sctp_rt.pend)) && rounds++ < 64) {
		sctp_association_t *list = sctp_rt.dirty;
		sctp_rt.dirty = NULL;
		while (list) {
			sctp_association_t *a = list;
			list = a->dirty_next;
			a->dirty = 0;
			sctp_assoc_pump(a);
		}
		while (!queue_empty(&sctp_rt.pend)) {
			scstream_t *st =
			    queue_data(queue_first(&sctp_rt.pend), scstream_t, pend_link);
			sctp_stream_pend_del(st);
			sctp_stream_deliver(st);
		}
	}
	if (sctp_rt.dirty || !queue_empty(&sctp_rt.pend))
		sctp_rt_wake();
	while (sctp_rt.grave) {
		scstream_t *st = sctp_rt.grave;
		sctp_rt.grave = st->grave_next;
		sctp_stream_pend_del(st);
		if (st->a) { /* its CLOSE still has to go out */
			st->in_grave = 0;
			continue;
		}
		sctp_stream_free(st);
	}
	while (sctp_rt.dead) {
		sctp_association_t *a = sctp_rt.dead;
		sctp_rt.dead = a->next;
		if (a->dirty) { /* unlink from the dirty list */
			for (sctp_association_t **pp = &sctp_rt.dirty; *pp; pp = &(*pp)->dirty_next)
				if (*pp == a) {
					*pp = a->dirty_next;
					break;
				}
		}
		sctp_assoc_free(a);
	}
}

void sctp_rt_retry(uv_timer_t *t)
{
	if (!sctp_rt.nblocked)
		return;
	for (sctp_sock_t *s = sctp_rt.socks; s; s = s->next)
		sock_unblock(s);
}

/* ---- the kernel's sockets: their callbacks run on the loop ---- */

static void k_msg(void *ud, uint32_t aid, uint16_t sid, uint32_t ppid, int eor, uint8_t *data,
                  size_t len)
{
	sctp_sock_t *so = ud;
	sctp_association_t *a = sctp_assoc_find(so, (sctp_assoc_t)aid);

	if (a && a->state != A_DEAD)
		sctp_assoc_on_msg(a, sid, ppid, eor ? MSG_EOR : 0, data, len);
}

static void k_change(void *ud, uint32_t aid, int what, uint16_t out, uint16_t in)
{
	sctp_assoc_on_change(ud, (sctp_assoc_t)aid, what, out, in);
}

static void k_eof(void *ud, int err)
{
	sctp_sock_eof(ud, err < 0 ? uv_translate_sys_error(-err) : 0);
}

static void k_writable(void *ud)
{
	sock_unblock(ud);
}

static void k_done(void *ud)
{
	(void)ud;
	rt_run(&sctp_rt.async); /* pump, deliver and free now, not a loop turn later */
}

static const sctp_kern_ops_t kern_ops = {k_msg, k_change, k_eof, k_writable, k_done};

/* ---- set-up ---- */

/* usrsctp_init(0) opens no UDP socket at all: a client takes a port the
 * kernel picks for a moment (free in IPv4 and IPv6, as usrsctp binds both). */
static int ephemeral_udp_port(void)
{
	for (int tries = 0; tries < 20; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, SOCK_DGRAM, 0), fd6, ok;
		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
			close(fd);
			return -errno;
		}
		fd6 = socket(AF_INET6, SOCK_DGRAM, 0);
		a6.sin6_port = a.sin_port;
		if (fd6 >= 0)
			setsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int));
		ok = fd6 < 0 || bind(fd6, (struct sockaddr *)&a6, sizeof(a6)) == 0;
		if (fd6 >= 0)
			close(fd6);
		close(fd);
		if (ok)
			return ntohs(a.sin_port);
	}
	return -EADDRINUSE;
}

int sctp_rt_init(uv_loop_t *loop, int stack, uint16_t udp_port, char *err, size_t errlen)
{
	int p;

	if (sctp_rt.loop && loop != sctp_rt.loop) {
		snprintf(err, errlen, "SCTP runs on one loop per process");
		return -EINVAL;
	}
	if (!sctp_rt.loop) {
		sctp_rt.loop = loop;
		uv_async_init(loop, &sctp_rt.async, rt_run);
		uv_unref((uv_handle_t *)&sctp_rt.async);
		uv_timer_init(loop, &sctp_rt.retry);
		uv_unref((uv_handle_t *)&sctp_rt.retry);
		sctp_rt.retry.data = NULL;
	}
	if (stack == SCTP_STACK_KERNEL)
		return 0;
	if (sctp_rt.inited) {
		if (udp_port && udp_port != sctp_rt.port) {
			snprintf(err, errlen,
			         "usrsctp already runs on UDP port %u in this process (one "
			         "sctp+udp port per process)",
			         sctp_rt.port);
			return -EADDRINUSE;
		}
		return 0;
	}
	if (!udp_port) {
		if ((p = ephemeral_udp_port()) < 0) {
			snprintf(err, errlen, "no free UDP port for SCTP over UDP: %s",
			         strerror(-p));
			return p;
		}
		udp_port = (uint16_t)p;
	}
	sctp_rt.inited = 1;
	sctp_rt.port = udp_port;
	usrsctp_init(udp_port, NULL, NULL);
	usrsctp_sysctl_set_sctp_blackhole(2); /* other processes' raw SCTP is not ours to abort */
	usrsctp_sysctl_set_sctp_ecn_enable(0);
	usrsctp_sysctl_set_sctp_pr_enable(1); /* PR-SCTP for datagrams (RFC 3758) */
	usrsctp_sysctl_set_sctp_rto_initial_default(500);
	usrsctp_sysctl_set_sctp_rto_min_default(100);
	usrsctp_sysctl_set_sctp_rto_max_default(1000);
	usrsctp_sysctl_set_sctp_init_rto_max_default(1000);
	usrsctp_sysctl_set_sctp_heartbeat_interval_default(1000);
	usrsctp_sysctl_set_sctp_init_rtx_max_default(4);
	usrsctp_sysctl_set_sctp_assoc_rtx_max_default(4);
	usrsctp_sysctl_set_sctp_path_rtx_max_default(4);
	return 0;
}

void sctp_rt_stop(void)
{
	ev_t *e;

	if (!sctp_rt.loop)
		return;
	pthread_mutex_lock(&sctp_rt.mu);
	sctp_rt.stopped = 1;
	e = sctp_rt.head;
	sctp_rt.head = sctp_rt.tail = NULL;
	pthread_mutex_unlock(&sctp_rt.mu);
	while (e) {
		ev_t *next = e->next;
		free(e->data);
		free(e);
		e = next;
	}
	if (!uv_is_closing((uv_handle_t *)&sctp_rt.async))
		uv_close((uv_handle_t *)&sctp_rt.async, NULL);
	if (!uv_is_closing((uv_handle_t *)&sctp_rt.retry))
		uv_close((uv_handle_t *)&sctp_rt.retry, NULL);
}

uint16_t sctp_rt_udp_port(void)
{
	return sctp_rt.port;
}

static int sock_setup(sctp_sock_t *s, const struct sockaddr *peer)
{
	struct socket *so = s->so;
	const sctp_assoc_cfg_t *cfg = s->cfg;
	struct sctp_initmsg im = {.sinit_num_ostreams = SCTP_ASSOC_STREAMS,
	                          .sinit_max_instreams = SCTP_ASSOC_STREAMS,
	                          .sinit_max_attempts = 4,
	                          .sinit_max_init_timeo = 1000};
	struct sctp_paddrparams pp = {0};
	struct sctp_assocparams ap = {0};
	struct sctp_rtoinfo ri = {.srto_initial = 500, .srto_min = 100, .srto_max = 1000};
	uint16_t types[] = {SCTP_ASSOC_CHANGE};
	int one = 1, buf = (int)cfg->sndbuf;

	usrsctp_set_non_blocking(so, 1);
	if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof(im)) < 0)
		return -errno;
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_NODELAY, &one, sizeof(one));
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &one, sizeof(one));
	usrsctp_setsockopt(so, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	usrsctp_setsockopt(so, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct sctp_event ev = {
		    .se_assoc_id = SCTP_FUTURE_ASSOC, .se_type = types[i], .se_on = 1};
		if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev)) < 0)
			return -errno;
	}
	/* dead peer found in seconds: heartbeats every hb_ms, a few retries,
	 * retransmission timeouts capped at 1 s */
	pp.spp_assoc_id = SCTP_FUTURE_ASSOC;
	pp.spp_hbinterval = cfg->hb_ms;
	pp.spp_pathmaxrxt = cfg->max_rtx;
	pp.spp_flags = SPP_HB_ENABLE;
	if (cfg->mtu) {
		pp.spp_pathmtu = cfg->mtu;
		pp.spp_flags |= SPP_PMTUD_DISABLE;
	}
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp));
	ap.sasoc_assoc_id = SCTP_FUTURE_ASSOC;
	ap.sasoc_asocmaxrxt = cfg->max_rtx;
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_ASSOCINFO, &ap, sizeof(ap));
	ri.srto_assoc_id = SCTP_FUTURE_ASSOC;
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_RTOINFO, &ri, sizeof(ri));
	if (s->stack == SCTP_STACK_UDP && peer) {
		struct sctp_udpencaps ue = {0};
		ue.sue_port = htons(peer->sa_family == AF_INET6
		                        ? ntohs(((const struct sockaddr_in6 *)peer)->sin6_port)
		                        : ntohs(((const struct sockaddr_in *)peer)->sin_port));
		if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_REMOTE_UDP_ENCAPS_PORT, &ue,
		                       sizeof(ue)) < 0)
			return -errno;
	}
	return 0;
}

void sctp_sock_unlink(sctp_sock_t *s)
{
	for (sctp_sock_t **pp = &sctp_rt.socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
}

/* usrsctp's socket for s: bound and listening, or connecting to addr. */
static int usr_open(sctp_sock_t *s, const struct sockaddr *addr)
{
	socklen_t len =
	    addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int r;

	s->so =
	    usrsctp_socket(addr->sa_family, s->server ? SOCK_SEQPACKET : SOCK_STREAM, IPPROTO_SCTP,
	                   on_recv_cb, on_send_cb, s->cfg->sndbuf / 4, (void *)(uintptr_t)s->id);
	if (!s->so)
		return errno ? -errno : -ENOMEM;
	if ((r = sock_setup(s, s->server ? NULL : addr)) < 0)
		goto fail;
	if (s->server ? usrsctp_bind(s->so, (struct sockaddr *)addr, len) < 0 ||
	                    usrsctp_listen(s->so, 1) < 0
	              : usrsctp_connect(s->so, (struct sockaddr *)addr, len) < 0 &&
	                    errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	usrsctp_close(s->so);
	s->so = NULL;
	return r;
}

/* A socket of the chosen stack, listening on addr (server) or connecting
 * to it (client). */
int sctp_sock_open(int server, const struct sockaddr *addr, int stack, const sctp_assoc_cfg_t *cfg,
                   const sctp_assoc_ops_t *ops, void *ud, sctp_sock_t **out)
{
	sctp_sock_t *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		abort();
	s->id = ++sctp_rt.next_sock;
	s->server = server;
	s->stack = stack;
	s->cfg = cfg;
	s->ops = ops;
	s->ud = ud;
	if (stack == SCTP_STACK_KERNEL) {
		sctp_kern_params_t kp = {SCTP_ASSOC_STREAMS, cfg->hb_ms, cfg->max_rtx, cfg->sndbuf,
		                         cfg->mtu};
		r = server ? sctp_kern_listen(sctp_rt.loop, addr, &kp, &kern_ops, s, &s->k)
		           : sctp_kern_connect(sctp_rt.loop, addr, &kp, &kern_ops, s, &s->k);
	} else {
		r = usr_open(s, addr);
	}
	if (r < 0) {
		free(s);
		return r;
	}
	s->next = sctp_rt.socks;
	sctp_rt.socks = s;
	*out = s;
	return 0;
}

int sctp_sock_listen(const struct sockaddr *bind, int stack, const sctp_assoc_cfg_t *cfg,
                     const sctp_assoc_ops_t *ops, void *ud, sctp_sock_t **out)
{
	return sctp_sock_open(1, bind, stack, cfg, ops, ud, out);
}

void sctp_sock_close(sctp_sock_t *s)
{
	if (!s)
		return;
	/* no callbacks: the owner is going away */
	static const sctp_assoc_ops_t none = {0};
	s->ops = &none;
	while (s->assocs)
		sctp_assoc_fail(s->assocs, UV_ECONNRESET, "closed");
	sctp_sock_unlink(s);
	if (s->k)
		sctp_kern_close(s->k, 0);
	else
		usrsctp_close(s->so);
	free(s);
}
