/* slirpgw: see slirpgw.h.  How it works:
 *
 * Shim.  libslirp speaks Ethernet; the peer speaks IP.  Packets from the
 * peer are parsed (bounds-checked, netstack/ippkt.h), judged by the policy
 * (policy4/policy6: spoofed source, host alias, DNS alias, virtual network,
 * loopback, target ACL, socket cap, restricted mode) and wrapped in a frame
 * from a fixed fake MAC.  Frames from libslirp are unwrapped: IPv4 and IPv6
 * go to the output callback, ARP requests and IPv6 Neighbour Solicitations
 * are answered as a point-to-point link would (every address is the peer),
 * anything else is dropped.  Answers are injected back into libslirp only
 * after it returns: libslirp is never re-entered.  Every call into it goes
 * through gw_enter()/gw_leave(); what arrives meanwhile (those answers,
 * input from inside the output callback) waits in a bounded queue and runs
 * in gw_leave(), and so does a slirpgw_free() made from the output callback.
 *
 * Loop.  libslirp owns no loop; SlirpCb gives us its sockets and timers.
 *   - register_poll_fd / unregister_poll_fd create and close one uv_poll_t
 *     per host socket (an fd-indexed table: fds are unique in the process).
 *     Sockets are closed by libslirp right after unregister, so a handle
 *     never outlives its fd.
 *   - Which events each socket wants changes with libslirp's state, and only
 *     changes when we call into it; each call marks the instance dirty,
 *     which starts a uv_prepare.  The prepare runs slirp_pollfds_fill, starts
 *     or stops each uv_poll to match, and arms one uv_timer with the timeout
 *     libslirp asks for (<= 1 s; never postponed by later fills).
 *   - uv_poll callbacks only record revents by fill index and start a
 *     uv_check; the check runs slirp_pollfds_poll once for all of them.
 *     The timer runs it with no events (TCP timers, UDP expiry).
 *   - timer_new_opaque etc. (IPv6 router advertisements): a uv_timer each.
 *   Nothing spins: a socket is polled only for what libslirp will consume.
 *
 * Services (the restricted mode's, full mode may have them too) are
 * slirpgw_svc.c's: their flows, listening sockets and relays.
 *
 * Ownership: the caller owns the instance and the services; an instance
 * owns its flows, polls, timers and listening sockets; a relay owns both
 * streams of a RELAY flow.  Memory goes in libuv close callbacks.
 */
#include "netstack/slirpgw_priv.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "core/bytes.h"
#include "core/log.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86dd
#define ARP_LEN 28

#define QUEUE_MAX 64         /* frames waiting for libslirp to return */
#define POLLS_MAX (1u << 20) /* fd table bound */

/* locally administered, "SL" */
static const uint8_t peer_mac[6] = {0x02, 0x53, 0x4c, 0x00, 0x00, 0x01};

/* ------------------------------------------------------------------ */
/* state                                                                */

#define FLOWKEY 37   /* version, source, destination, ports */
#define FLOWTAB 1024 /* buckets of the corkable sockets' table */

typedef struct gw_poll {
	uv_poll_t h;
	struct slirpgw *gw;
	int fd, idx;   /* idx: into gw->pfd by the last fill, -1: not in it */
	int want, cur; /* UV_* events: wanted by the last fill / started */
	unsigned gen;
	queue_t link; /* in gw->polls */
	/* a TCP socket libslirp opened for the peer's SYN: found by that
	 * flow (in gw->flowtab), corked while the turn's segments go in */
	struct gw_poll *fnext;
	queue_t clink; /* in gw->corked while corked */
	uint32_t fhash;
	uint8_t key[FLOWKEY];
	unsigned keyed : 1, corked : 1;
} gw_poll_t;

typedef struct gw_timer {
	uv_timer_t t;
	struct slirpgw *gw;
	SlirpTimerId id;
	void *cb_opaque;
} gw_timer_t;

static const char *const drop_names[DR_N] = {"malformed",  "spoofed",  "policy",
                                             "socket_cap", "flow_cap", "queue"};

static gw_poll_t **byfd;
static size_t nbyfd;
static queue_t all_gws = {&all_gws, &all_gws}; /* slirpgw_t.mlink */

static void gw_dirty(slirpgw_t *gw);
static void gw_enter(slirpgw_t *gw);
static void gw_leave(slirpgw_t *gw);

/* ------------------------------------------------------------------ */
/* output to the peer                                                   */

static void gw_output(slirpgw_t *gw, const uint8_t *pkt, size_t len)
{
	if (gw->closing || gw->free_pending)
		return;
	gw->st.pkts_out++;
	gw->st.bytes_out += len;
	pcapw_packet(gw->cfg.pcap, gw->cfg.id, PCAPW_OUT, pkt, len);
	gw->out(gw->ud, pkt, len);
}

/* Answer a TCP segment as a closed port does (RFC 9293 3.10.7.1). */
void slirpgw_send_rst(slirpgw_t *gw, const ippkt_t *p)
{
	uint8_t b[60];
	size_t ih = p->v == 4 ? 20 : 40;
	uint8_t *t = b + ih;
	uint32_t seq = 0, ack = 0;
	uint8_t flags = IPPKT_RST;

	if (p->proto != IPPKT_TCP || !p->l4 || (p->flags & IPPKT_RST))
		return;
	if (p->flags & IPPKT_ACK) {
		seq = p->ack;
	} else {
		ack = p->seq + (uint32_t)p->payload + !!(p->flags & IPPKT_SYN) +
		      !!(p->flags & IPPKT_FIN);
		flags |= IPPKT_ACK;
	}
	memset(b, 0, sizeof(b));
	if (p->v == 4) {
		b[0] = 0x45;
		put_be16(b + 2, 40);
		b[6] = 0x40; /* DF */
		b[8] = 64;
		b[9] = IPPKT_TCP;
		memcpy(b + 12, p->dst, 4);
		memcpy(b + 16, p->src, 4);
		put_be16(b + 10, ippkt_csum(b, 20));
	} else {
		b[0] = 0x60;
		put_be16(b + 4, 20);
		b[6] = IPPKT_TCP;
		b[7] = 64;
		memcpy(b + 8, p->dst, 16);
		memcpy(b + 24, p->src, 16);
	}
	put_be16(t, p->dport);
	put_be16(t + 2, p->sport);
	put_be32(t + 4, seq);
	put_be32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put_be16(t + 16, ippkt_csum_l4(b, p->v, IPPKT_TCP, t, 20));
	gw->st.resets++;
	gw_output(gw, b, ih + 20);
}

/* ------------------------------------------------------------------ */
/* input to libslirp                                                    */

static void queue_push(slirpgw_t *gw, qframe_t *q)
{
	q->next = NULL;
	if (gw->qtail)
		gw->qtail->next = q;
	else
		gw->qhead = q;
	gw->qtail = q;
	gw->qlen++;
}

/* Wrap an IP packet in a frame and give it to libslirp, now or, from
 * inside libslirp, once it has returned.  si >= 0: the packet is for that
 * service; accept the connection it may complete before anything else. */
int slirpgw_to_slirp(slirpgw_t *gw, const uint8_t *pkt, size_t len, int si, uint16_t sport)
{
	uint8_t *f = gw->frame;
	qframe_t *q = NULL;

	if (gw->depth) {
		if (gw->qlen >= QUEUE_MAX) {
			gw->drops[DR_QUEUE]++;
			gw->st.dropped++;
			return -ENOBUFS;
		}
		q = malloc(sizeof(*q) + ETH_HLEN + len);
		if (!q)
			abort();
		f = q->data;
	}
	memcpy(f, gw->slirp_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put_be16(f + 12, ippkt_version(pkt, len) == 6 ? ETH_P_IPV6 : ETH_P_IP);
	memcpy(f + ETH_HLEN, pkt, len);
	if (q) {
		q->len = ETH_HLEN + len;
		q->si = si;
		q->sport = sport;
		queue_push(gw, q);
		return 0;
	}
	gw_enter(gw);
	slirp_input(gw->slirp, f, (int)(ETH_HLEN + len));
	if (si >= 0)
		slirpgw_svc_drain(gw, (unsigned)si, sport);
	gw_leave(gw);
	return 0;
}

/* A frame we built (ARP or NDP answer) for libslirp: always queued, since
 * these are made while libslirp is sending. */
static void gw_queue_frame(slirpgw_t *gw, const uint8_t *f, size_t len)
{
	qframe_t *q;

	if (gw->qlen >= QUEUE_MAX)
		return;
	q = malloc(sizeof(*q) + len);
	if (!q)
		abort();
	memcpy(q->data, f, len);
	q->len = len;
	q->si = -1;
	queue_push(gw, q);
	gw->kick = 1;
}

static int get_revents(int idx, void *opaque)
{
	slirpgw_t *gw = opaque;

	return idx >= 0 && (size_t)idx < gw->npfd ? gw->pfd[idx].revents : 0;
}

static void gw_poll_slirp(slirpgw_t *gw)
{
	slirp_pollfds_poll(gw->slirp, 0, get_revents, gw);
	for (size_t i = 0; i < gw->npfd; i++)
		gw->pfd[i].revents = 0;
}

static void on_check(uv_check_t *c);

static void gw_enter(slirpgw_t *gw)
{
	gw->depth++;
}

/* Back from libslirp: run what waited, then let the prepare refill. */
static void gw_leave(slirpgw_t *gw)
{
	if (gw->depth > 1) {
		gw->depth--;
		return;
	}
	for (int round = 0; round < 16 && !gw->closing && !gw->free_pending; round++) {
		while (gw->qhead && !gw->closing && !gw->free_pending) {
			qframe_t *q = gw->qhead;

			gw->qhead = q->next;
			if (!gw->qhead)
				gw->qtail = NULL;
			gw->qlen--;
			slirp_input(gw->slirp, q->data, (int)q->len);
			if (q->si >= 0)
				slirpgw_svc_drain(gw, (unsigned)q->si, q->sport);
			free(q);
		}
		if (!gw->kick || gw->closing)
			break;
		/* an answered ARP/NDP query: send what waited for it */
		gw->kick = 0;
		gw_poll_slirp(gw);
	}
	gw->depth--;
	gw_dirty(gw);
	if (gw->free_pending) {
		gw->free_pending = 0;
		slirpgw_free(gw);
	}
}

/* ------------------------------------------------------------------ */
/* from libslirp: frames for the peer                                   */

static void answer_arp(slirpgw_t *gw, const uint8_t *f, size_t len)
{
	const uint8_t *a = f + ETH_HLEN;
	uint8_t r[ETH_HLEN + ARP_LEN];

	if (len < ETH_HLEN + ARP_LEN || get_be16(a) != 1 || get_be16(a + 2) != ETH_P_IP ||
	    a[4] != 6 || a[5] != 4 || get_be16(a + 6) != 1 || !memcmp(a + 14, a + 24, 4))
		return;
	memcpy(r, a + 8, 6); /* to the asker */
	memcpy(r + 6, peer_mac, 6);
	put_be16(r + 12, ETH_P_ARP);
	put_be16(r + 14, 1);
	put_be16(r + 16, ETH_P_IP);
	r[18] = 6;
	r[19] = 4;
	put_be16(r + 20, 2);         /* reply */
	memcpy(r + 22, peer_mac, 6); /* sender: "us", whatever was asked */
	memcpy(r + 28, a + 24, 4);
	memcpy(r + 32, a + 8, 6); /* target: the asker */
	memcpy(r + 38, a + 14, 4);
	gw->st.arp_replies++;
	gw_queue_frame(gw, r, sizeof(r));
}

/* A Neighbour Solicitation from libslirp, answered with an Advertisement
 * (RFC 4861 4.4: solicited, override, target link-layer option). */
static int answer_ns(slirpgw_t *gw, const uint8_t *ip, size_t len)
{
	uint8_t r[ETH_HLEN + 40 + 32], *r6 = r + ETH_HLEN, *ic = r6 + 40;

	if (len < 40 + 24 || ip[6] != IPPKT_ICMP6 || ip[40] != 135 || ip[41] != 0 ||
	    40 + (size_t)get_be16(ip + 4) > len)
		return 0;
	memcpy(r, gw->slirp_mac, 6);
	memcpy(r + 6, peer_mac, 6);
	put_be16(r + 12, ETH_P_IPV6);
	memset(r6, 0, 40 + 32);
	r6[0] = 0x60;
	put_be16(r6 + 4, 32);
	r6[6] = IPPKT_ICMP6;
	r6[7] = 255;
	memcpy(r6 + 8, ip + 48, 16); /* from the target */
	memcpy(r6 + 24, ip + 8, 16); /* to the solicitor */
	ic[0] = 136;
	ic[4] = 0x60; /* S, O */
	memcpy(ic + 8, ip + 48, 16);
	ic[24] = 2; /* target link-layer address */
	ic[25] = 1;
	memcpy(ic + 26, peer_mac, 6);
	put_be16(ic + 2, ippkt_csum_l4(r6, 6, IPPKT_ICMP6, ic, 32));
	gw->st.ndp_replies++;
	gw_queue_frame(gw, r, sizeof(r));
	return 1;
}

static ssize_t cb_send(const void *buf, size_t len, void *opaque)
{
	slirpgw_t *gw = opaque;
	const uint8_t *f = buf;

	if (len < ETH_HLEN || gw->closing)
		return (ssize_t)len;
	switch (get_be16(f + 12)) {
	case ETH_P_IP:
		memcpy(gw->slirp_mac, f + 6, 6);
		if (len >= ETH_HLEN + 20)
			gw_output(gw, f + ETH_HLEN, len - ETH_HLEN);
		break;
	case ETH_P_IPV6:
		if (len >= ETH_HLEN + 40 && !answer_ns(gw, f + ETH_HLEN, len - ETH_HLEN))
			gw_output(gw, f + ETH_HLEN, len - ETH_HLEN);
		break;
	case ETH_P_ARP:
		answer_arp(gw, f, len);
		break;
	default:
		break;
	}
	return (ssize_t)len;
}

/* ------------------------------------------------------------------ */
/* libuv glue: sockets, timers                                          */

static void on_poll_closed(uv_handle_t *h)
{
	free(h->data);
}

/* ---- corking: the peer's segments of one loop turn, one write out ----
 *
 * libslirp writes each TCP segment of the peer to the host socket as it
 * comes (send() per segment): on loopback each one runs the receiver's
 * whole input path and wakes it.  The socket a SYN made is keyed by the
 * peer's flow; a segment with data corks it (TCP_CORK) before libslirp
 * writes, and the next prepare (after every callback of the turn, before
 * the loop polls) uncorks it: what the turn wrote leaves together, and
 * nothing waits past the turn. */

static uint32_t flow_key(const ippkt_t *p, uint8_t k[FLOWKEY])
{
	size_t al = p->v == 4 ? 4 : 16;
	uint32_t h = 0;

	memset(k, 0, FLOWKEY);
	k[0] = (uint8_t)p->v;
	memcpy(k + 1, p->src, al);
	memcpy(k + 17, p->dst, al);
	put_be16(k + 33, p->sport);
	put_be16(k + 35, p->dport);
	for (size_t i = 1; i < 33; i += 4) { /* the addresses' words, then the ports */
		uint32_t w;

		memcpy(&w, k + i, 4);
		h = (h ^ w) * 0x9e3779b1u;
	}
	h = (h ^ get_be32(k + 33) ^ k[0]) * 0x85ebca6bu;
	return h ^ h >> 15;
}

static void flow_add(slirpgw_t *gw, gw_poll_t *p, const ippkt_t *syn)
{
	gw_poll_t **b;

	if (!gw->flowtab && !(gw->flowtab = calloc(FLOWTAB, sizeof(*gw->flowtab))))
		abort();
	p->fhash = flow_key(syn, p->key);
	b = &gw->flowtab[p->fhash % FLOWTAB];
	p->fnext = *b;
	*b = p;
	p->keyed = 1;
}

static void flow_del(slirpgw_t *gw, gw_poll_t *p)
{
	if (p->corked) {
		queue_remove(&p->clink);
		p->corked = 0;
	}
	if (!p->keyed)
		return;
	for (gw_poll_t **b = &gw->flowtab[p->fhash % FLOWTAB]; *b; b = &(*b)->fnext)
		if (*b == p) {
			*b = p->fnext;
			break;
		}
	p->keyed = 0;
}

/* A segment with data of the peer's flow f is about to go in. */
static void flow_cork(slirpgw_t *gw, const ippkt_t *f)
{
	uint8_t k[FLOWKEY];
	uint32_t h;
	gw_poll_t *p;
	int one = 1;

	if (!gw->flowtab)
		return;
	h = flow_key(f, k);
	for (p = gw->flowtab[h % FLOWTAB]; p; p = p->fnext)
		if (p->fhash == h && !memcmp(p->key, k, FLOWKEY))
			break;
	if (!p || p->corked || setsockopt(p->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) < 0)
		return;
	p->corked = 1;
	queue_insert_tail(&gw->corked, &p->clink);
	gw->st.corks++;
}

static void flows_uncork(slirpgw_t *gw)
{
	int zero = 0;

	while (!queue_empty(&gw->corked)) {
		gw_poll_t *p = queue_data(queue_first(&gw->corked), gw_poll_t, clink);

		queue_remove(&p->clink);
		p->corked = 0;
		setsockopt(p->fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
	}
}

static void poll_drop(gw_poll_t *p)
{
	slirpgw_t *gw = p->gw;

	flow_del(gw, p);
	if ((size_t)p->fd < nbyfd && byfd[p->fd] == p)
		byfd[p->fd] = NULL;
	queue_remove(&p->link);
	gw->st.sockets--;
	uv_close((uv_handle_t *)&p->h, on_poll_closed);
}

static void cb_register(int fd, void *opaque)
{
	slirpgw_t *gw = opaque;
	gw_poll_t *p;
	int r;

	if (fd < 0 || (size_t)fd >= POLLS_MAX)
		return;
	if ((size_t)fd >= nbyfd) {
		size_t n = nbyfd ? nbyfd : 64;

		while (n <= (size_t)fd)
			n *= 2;
		byfd = realloc(byfd, n * sizeof(*byfd));
		if (!byfd)
			abort();
		memset(byfd + nbyfd, 0, (n - nbyfd) * sizeof(*byfd));
		nbyfd = n;
	}
	if (byfd[fd]) /* closed without unregister and reused: forget the old one */
		poll_drop(byfd[fd]);
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	r = uv_poll_init_socket(gw->loop, &p->h, fd);
	if (r < 0) {
		log_err(gw->cfg.id, "slirpgw: cannot watch fd %d: %s", fd, uv_strerror(r));
		free(p);
		return;
	}
	p->h.data = p;
	p->gw = gw;
	p->fd = fd;
	p->idx = -1;
	queue_init(&p->clink);
	queue_insert_head(&gw->polls, &p->link);
	if (gw->opening) { /* the host socket of the SYN going in */
		flow_add(gw, p, gw->opening);
		gw->opening = NULL;
	}
	byfd[fd] = p;
	gw->st.sockets++;
}

static void cb_unregister(int fd, void *opaque)
{
	slirpgw_t *gw = opaque;

	if (fd >= 0 && (size_t)fd < nbyfd && byfd[fd] && byfd[fd]->gw == gw)
		poll_drop(byfd[fd]);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	gw_poll_t *p = h->data;
	slirpgw_t *gw = p->gw;
	int r = 0;

	if (status < 0) {
		r = SLIRP_POLL_ERR | SLIRP_POLL_HUP;
		p->cur = 0; /* libuv stopped the handle */
	}
	if (events & UV_READABLE)
		r |= SLIRP_POLL_IN;
	if (events & UV_WRITABLE)
		r |= SLIRP_POLL_OUT;
	if (events & UV_PRIORITIZED)
		r |= SLIRP_POLL_PRI;
	if (events & UV_DISCONNECT)
		r |= SLIRP_POLL_HUP;
	if (p->idx < 0 || (size_t)p->idx >= gw->npfd || gw->closing)
		return;
	gw->pfd[p->idx].revents |= r;
	if (!gw->pending) {
		gw->pending = 1;
		uv_check_start(&gw->check, on_check);
	}
}

static int add_poll(int fd, int events, void *opaque)
{
	slirpgw_t *gw = opaque;
	gw_poll_t *p = fd >= 0 && (size_t)fd < nbyfd ? byfd[fd] : NULL;
	int want = 0;

	if (!p || p->gw != gw)
		return -1;
	if (gw->npfd == gw->pfdcap) {
		gw->pfdcap = gw->pfdcap ? gw->pfdcap * 2 : 16;
		gw->pfd = realloc(gw->pfd, gw->pfdcap * sizeof(*gw->pfd));
		if (!gw->pfd)
			abort();
	}
	if (events & SLIRP_POLL_IN)
		want |= UV_READABLE;
	if (events & SLIRP_POLL_OUT)
		want |= UV_WRITABLE;
	if (events & SLIRP_POLL_PRI)
		want |= UV_PRIORITIZED;
	if (!want) /* errors and hangups are always reported */
		want = UV_DISCONNECT;
	gw->pfd[gw->npfd].fd = fd;
	gw->pfd[gw->npfd].revents = 0;
	p->idx = (int)gw->npfd;
	p->want = want;
	p->gen = gw->gen;
	return (int)gw->npfd++;
}

static void on_tick(uv_timer_t *t);

/* Ask libslirp which sockets want what, and make the uv_polls match. */
static void on_prepare(uv_prepare_t *h)
{
	slirpgw_t *gw = h->data;
	uint32_t timeout = UINT32_MAX;
	queue_t *q;

	uv_prepare_stop(h);
	gw->dirty = 0;
	flows_uncork(gw);
	if (gw->closing)
		return;
	gw->npfd = 0;
	gw->gen++;
	gw->depth++; /* fill may close expired sockets, never sends */
	slirp_pollfds_fill(gw->slirp, &timeout, add_poll, gw);
	gw->depth--;
	queue_foreach (q, &gw->polls) {
		gw_poll_t *p = queue_data(q, gw_poll_t, link);
		int want = p->gen == gw->gen ? p->want : 0;

		if (!want)
			p->idx = -1;
		if (want == p->cur)
			continue;
		if (!want) {
			uv_poll_stop(&p->h);
			p->cur = 0;
		} else if (uv_poll_start(&p->h, want, on_poll) == 0) {
			p->cur = want;
		}
	}
	/* an earlier deadline stands: a busy peer must not postpone TCP timers */
	if (!uv_is_active((uv_handle_t *)&gw->tick) || uv_timer_get_due_in(&gw->tick) > timeout)
		uv_timer_start(&gw->tick, on_tick, timeout, 0);
}

static void gw_dirty(slirpgw_t *gw)
{
	if (gw->dirty || gw->closing)
		return;
	gw->dirty = 1;
	uv_prepare_start(&gw->prepare, on_prepare);
}

static void on_check(uv_check_t *c)
{
	slirpgw_t *gw = c->data;

	uv_check_stop(c);
	if (!gw->pending || gw->closing)
		return;
	gw->pending = 0;
	gw_enter(gw);
	gw_poll_slirp(gw);
	gw_leave(gw);
}

static void on_tick(uv_timer_t *t)
{
	slirpgw_t *gw = t->data;

	if (gw->closing)
		return;
	slirpgw_flows_expire(gw);
	gw_enter(gw);
	gw_poll_slirp(gw);
	gw_leave(gw);
}

static void on_slirp_timer(uv_timer_t *h)
{
	gw_timer_t *t = h->data;
	slirpgw_t *gw = t->gw;

	if (gw->closing)
		return;
	gw_enter(gw);
	slirp_handle_timer(gw->slirp, t->id, t->cb_opaque);
	gw_leave(gw);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	slirpgw_t *gw = opaque;
	gw_timer_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	uv_timer_init(gw->loop, &t->t);
	t->t.data = t;
	t->gw = gw;
	t->id = id;
	t->cb_opaque = cb_opaque;
	return t;
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void cb_timer_free(void *timer, void *opaque)
{
	gw_timer_t *t = timer;

	uv_close((uv_handle_t *)&t->t, on_timer_closed);
}

/* expire_ms is on the cb_clock clock, in milliseconds */
static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	gw_timer_t *t = timer;
	int64_t delay = expire_ms - (int64_t)(uv_hrtime() / 1000000);

	uv_timer_start(&t->t, on_slirp_timer, delay > 0 ? (uint64_t)delay : 0, 0);
}

static int64_t cb_clock(void *opaque)
{
	return (int64_t)uv_hrtime();
}

static void cb_guest_error(const char *msg, void *opaque)
{
	slirpgw_t *gw = opaque;

	log_debug(gw->cfg.id, "slirpgw: peer: %s", msg);
}

static void cb_notify(void *opaque)
{
	gw_dirty(opaque);
}

static const SlirpCb slirp_cbs = {
    .send_packet = cb_send,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register,
    .unregister_poll_fd = cb_unregister,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

int slirpgw_pass(slirpgw_t *gw, const uint8_t *pkt, size_t len, int si, uint16_t sport)
{
	gw->st.pkts_in++;
	gw->st.bytes_in += len;
	return slirpgw_to_slirp(gw, pkt, len, si, sport);
}

/* ------------------------------------------------------------------ */
/* policy                                                               */

enum verdict { V_PASS, V_DROP, V_REFUSE, V_SVC };

static int opens_socket(const ippkt_t *p)
{
	switch (p->proto) {
	case IPPKT_TCP:
		return p->l4 && (p->flags & (IPPKT_SYN | IPPKT_ACK)) == IPPKT_SYN;
	case IPPKT_UDP:
		return 1;
	case IPPKT_ICMP:
		return p->l4 && p->type == 8;
	case IPPKT_ICMP6:
		return p->l4 && p->type == 128;
	default:
		return 0;
	}
}

static int policy4(slirpgw_t *gw, const ippkt_t *p, unsigned *si, int *why)
{
	const slirpgw_config_t *c = &gw->cfg;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint32_t dst, mask = c->prefix ? htonl(~0u << (32 - c->prefix)) : 0;
	uint32_t h;

	*why = DR_POLICY;
	memcpy(&dst, p->dst, 4);
	h = ntohl(dst);
	if (memcmp(p->src, &c->peer, 4)) {
		*why = DR_SPOOFED;
		return V_DROP;
	}
	if (p->proto == IPPKT_TCP && p->l4)
		for (unsigned i = 0; i < c->nservices; i++)
			if (dst == c->services[i]->addr.s_addr &&
			    p->dport == c->services[i]->port) {
				*si = i;
				return V_SVC;
			}
	if ((dst == c->host.s_addr || dst == c->dns.s_addr) && p->proto == IPPKT_ICMP && p->l4 &&
	    p->type == 8)
		return V_PASS; /* ping the gateway: libslirp answers itself */
	if (c->restricted)
		return V_REFUSE;
	if (dst == c->dns.s_addr)
		return c->dns_forward ? V_PASS : V_REFUSE;
	if (dst == c->host.s_addr) {
		if (!c->host_loopback)
			return V_REFUSE;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		if ((dst & mask) == c->net.s_addr || h >> 28 >= 14 /* multicast, class E */ ||
		    h >> 24 == 127 || h >> 24 == 0)
			return V_REFUSE;
		sa.sin_addr.s_addr = dst;
	}
	if (c->targets && !acl_permits(c->targets, (struct sockaddr *)&sa))
		return V_REFUSE;
	if (gw->st.sockets >= c->max_sockets && opens_socket(p)) {
		*why = DR_SOCKETS;
		return V_REFUSE;
	}
	return V_PASS;
}

static int in6_prefix(const uint8_t *a, const struct in6_addr *net, int bits)
{
	int i;

	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a[i] != net->s6_addr[i])
			return 0;
	return !bits || !((a[i] ^ net->s6_addr[i]) & (0xff << (8 - bits)));
}

static int policy6(slirpgw_t *gw, const ippkt_t *p, int *why)
{
	const slirpgw_config_t *c = &gw->cfg;
	static const uint8_t zero[16], v4mapped[12] = {[10] = 0xff, [11] = 0xff};
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	int ndp = p->proto == IPPKT_ICMP6 && p->l4 && p->type >= 133 && p->type <= 137;
	int echo = p->proto == IPPKT_ICMP6 && p->l4 && p->type == 128;

	*why = DR_POLICY;
	if (c->restricted || !c->ipv6)
		return V_DROP;
	if (!in6_prefix(p->src, &c->net6, c->prefix6) &&
	    !(p->src[0] == 0xfe && (p->src[1] & 0xc0) == 0x80) &&
	    !(ndp && !memcmp(p->src, zero, 16))) {
		*why = DR_SPOOFED;
		return V_DROP;
	}
	if (ndp)
		return V_PASS; /* router and neighbour discovery with libslirp */
	if (!memcmp(p->dst, &c->dns6, 16))
		return c->dns_forward || echo ? V_PASS : V_REFUSE;
	if (!memcmp(p->dst, &c->host6, 16)) {
		if (echo)
			return V_PASS;
		if (!c->host_loopback)
			return V_REFUSE;
		sa.sin6_addr = in6addr_loopback;
	} else {
		if (p->dst[0] == 0xff || (p->dst[0] == 0xfe && (p->dst[1] & 0xc0) == 0x80) ||
		    in6_prefix(p->dst, &c->net6, c->prefix6) || !memcmp(p->dst, zero, 15) ||
		    !memcmp(p->dst, v4mapped, 12))
			return V_REFUSE;
		memcpy(&sa.sin6_addr, p->dst, 16);
	}
	if (c->targets && !acl_permits(c->targets, (struct sockaddr *)&sa))
		return V_REFUSE;
	if (gw->st.sockets >= c->max_sockets && opens_socket(p)) {
		*why = DR_SOCKETS;
		return V_REFUSE;
	}
	return V_PASS;
}

int slirpgw_input(slirpgw_t *gw, const uint8_t *pkt, size_t len)
{
	unsigned si = 0;
	int why, v;
	ippkt_t p;

	if (gw->closing || gw->free_pending)
		return -EPIPE;
	if (len > gw->cfg.mtu || ippkt_parse(pkt, len, &p) < 0) {
		gw->drops[DR_MALFORMED]++;
		gw->st.dropped++;
		return -EINVAL;
	}
	len = p.len;
	pcapw_packet(gw->cfg.pcap, gw->cfg.id, PCAPW_IN, pkt, len);
	v = p.v == 4 ? policy4(gw, &p, &si, &why) : policy6(gw, &p, &why);
	switch (v) {
	case V_SVC:
		return slirpgw_svc_input(gw, si, &p, pkt, len);
	case V_PASS:
		if (p.proto != IPPKT_TCP || !p.l4)
			return slirpgw_pass(gw, pkt, len, -1, 0);
		if ((p.flags & (IPPKT_SYN | IPPKT_ACK)) == IPPKT_SYN && !gw->depth)
			gw->opening = &p;
		else if (p.payload)
			flow_cork(gw, &p);
		v = slirpgw_pass(gw, pkt, len, -1, 0);
		gw->opening = NULL;
		return v;
	default:
		gw->drops[why]++;
		gw->st.dropped++;
		if (v == V_REFUSE)
			slirpgw_send_rst(gw, &p);
		return why == DR_SOCKETS ? -ENOBUFS : -EACCES;
	}
}

/* ------------------------------------------------------------------ */
/* instances                                                            */

void slirpgw_config_default(slirpgw_config_t *c)
{
	memset(c, 0, sizeof(*c));
	inet_pton(AF_INET, "10.0.2.15", &c->peer);
	inet_pton(AF_INET, "10.0.2.0", &c->net);
	c->prefix = 24;
	inet_pton(AF_INET, "10.0.2.2", &c->host);
	inet_pton(AF_INET, "10.0.2.3", &c->dns);
	c->host_loopback = 1;
	c->dns_forward = 1;
	inet_pton(AF_INET6, "fd00::", &c->net6);
	c->prefix6 = 64;
	inet_pton(AF_INET6, "fd00::2", &c->host6);
	inet_pton(AF_INET6, "fd00::3", &c->dns6);
	c->mtu = 1500;
	c->max_sockets = 1024;
	c->max_flows = 256;
}

static int config_check(slirpgw_config_t *c)
{
	uint32_t mask, net;
	uint32_t a[3] = {c->peer.s_addr, c->host.s_addr, c->dns.s_addr};

	if (c->prefix < 8 || c->prefix > 30 || c->mtu < 576 || c->mtu > 65521 ||
	    (c->ipv6 && (c->mtu < 1280 || c->prefix6 < 8 || c->prefix6 > 126)))
		return -EINVAL;
	mask = htonl(~0u << (32 - c->prefix));
	net = c->net.s_addr & mask;
	c->net.s_addr = net;
	for (int i = 0; i < 3; i++) {
		if ((a[i] & mask) != net || (a[i] & ~mask) == 0 || (a[i] & ~mask) == ~mask)
			return -EINVAL;
		for (int j = 0; j < i; j++)
			if (a[i] == a[j])
				return -EINVAL;
	}
	if (!c->max_sockets)
		c->max_sockets = 1024;
	if (!c->max_flows)
		c->max_flows = 256;
	if (c->restricted)
		c->ipv6 = 0; /* libslirp forwards services over IPv4 only */
	return 0;
}

static void metrics_link(slirpgw_t *gw)
{
	slirpgw_metrics_init();
	queue_insert_head(&all_gws, &gw->mlink);
}

int slirpgw_new(uv_loop_t *loop, const slirpgw_config_t *c, slirpgw_output_fn out, void *ud,
                slirpgw_t **gwp)
{
	slirpgw_t *gw = calloc(1, sizeof(*gw));
	SlirpConfig sc;
	int r;

	if (!gw)
		abort();
	queue_init(&gw->polls);
	queue_init(&gw->corked);
	queue_init(&gw->flows);
	gw->cfg = *c;
	if ((r = config_check(&gw->cfg)) < 0) {
		free(gw);
		return r;
	}
	gw->cfg.name = NULL;
	snprintf(gw->name, sizeof(gw->name), "%s#%llu", c->name ? c->name : "slirpgw",
	         (unsigned long long)c->id);
	gw->loop = loop;
	gw->out = out;
	gw->ud = ud;
	gw->frame = malloc(ETH_HLEN + gw->cfg.mtu);
	if (!gw->frame)
		abort();
	gw->slirp_mac[0] = 0x52; /* libslirp's own: 52:55 and the host alias */
	gw->slirp_mac[1] = 0x55;
	memcpy(gw->slirp_mac + 2, &gw->cfg.host, 4);
	uv_prepare_init(loop, &gw->prepare);
	uv_check_init(loop, &gw->check);
	uv_timer_init(loop, &gw->tick);
	gw->prepare.data = gw->check.data = gw->tick.data = gw;
	gw->handles = 3;
	metrics_link(gw);

	memset(&sc, 0, sizeof(sc));
	sc.version = 4;
	sc.restricted = gw->cfg.restricted;
	sc.in_enabled = true;
	sc.vnetwork = gw->cfg.net;
	sc.vnetmask.s_addr = htonl(~0u << (32 - gw->cfg.prefix));
	sc.vhost = gw->cfg.host;
	sc.vdhcp_start = gw->cfg.peer;
	sc.vnameserver = gw->cfg.dns;
	sc.in6_enabled = gw->cfg.ipv6;
	sc.vprefix_addr6 = gw->cfg.net6;
	sc.vprefix_len = (uint8_t)gw->cfg.prefix6;
	sc.vhost6 = gw->cfg.host6;
	sc.vnameserver6 = gw->cfg.dns6;
	sc.if_mtu = sc.if_mru = gw->cfg.mtu;
	sc.disable_host_loopback = !gw->cfg.host_loopback;
	sc.disable_dns = !gw->cfg.dns_forward;
	sc.disable_dhcp = true;
	gw->slirp = slirp_new(&sc, &slirp_cbs, gw);
	if (!gw->slirp) {
		r = -EINVAL;
		goto fail;
	}
	if (gw->cfg.nservices && (r = slirpgw_slots_open(gw)) < 0) {
		log_err(gw->cfg.id, "%s: service sockets: %s", gw->name, strerror(-r));
		goto fail;
	}
	log_debug(gw->cfg.id, "%s: up, %s mode, %zu services", gw->name,
	          gw->cfg.restricted ? "restricted" : "full", gw->cfg.nservices);
	gw_dirty(gw);
	*gwp = gw;
	return 0;
fail:
	slirpgw_free(gw);
	return r;
}

static void on_gw_closed(uv_handle_t *h)
{
	slirpgw_t *gw = h->data;

	if (--gw->handles == 0) {
		free(gw->flowtab);
		free(gw);
	}
}

void slirpgw_free(slirpgw_t *gw)
{
	if (!gw || gw->closing)
		return;
	if (gw->depth) { /* from inside libslirp (the output callback) */
		gw->free_pending = 1;
		return;
	}
	gw->closing = 1;
	queue_remove(&gw->mlink);
	slirpgw_flows_close(gw);
	while (gw->qhead) {
		qframe_t *q = gw->qhead;

		gw->qhead = q->next;
		free(q);
	}
	if (gw->slirp) {
		gw->depth++;
		slirp_cleanup(gw->slirp); /* unregisters its sockets, frees its timers */
		gw->depth--;
	}
	while (!queue_empty(&gw->polls))
		poll_drop(queue_data(queue_first(&gw->polls), gw_poll_t, link));
	slirpgw_slots_close(gw);
	free(gw->pfd);
	free(gw->frame);
	uv_close((uv_handle_t *)&gw->prepare, on_gw_closed);
	uv_close((uv_handle_t *)&gw->check, on_gw_closed);
	uv_close((uv_handle_t *)&gw->tick, on_gw_closed);
}

void slirpgw_get_stats(const slirpgw_t *gw, slirpgw_stats_t *st)
{
	*st = gw->st;
}

/* ------------------------------------------------------------------ */
/* metrics                                                              */

static const metric_t gw_rows[] = {
    METRIC_X(slirpgw_stats_t, pkts_in, "sluice_slirpgw_packets_total", "counter",
             "IP packets between a gateway and its peer.", "dir=\"in\""),
    METRIC_X(slirpgw_stats_t, pkts_out, "sluice_slirpgw_packets_total", "counter",
             "IP packets between a gateway and its peer.", "dir=\"out\""),
    METRIC_X(slirpgw_stats_t, bytes_in, "sluice_slirpgw_bytes_total", "counter",
             "IP bytes between a gateway and its peer.", "dir=\"in\""),
    METRIC_X(slirpgw_stats_t, bytes_out, "sluice_slirpgw_bytes_total", "counter",
             "IP bytes between a gateway and its peer.", "dir=\"out\""),
    METRIC(slirpgw_stats_t, resets, "sluice_slirpgw_resets_total", "counter",
           "TCP resets the gateway sent for refused connections."),
    METRIC(slirpgw_stats_t, sockets, "sluice_slirpgw_sockets", "gauge",
           "Host sockets open for the peer."),
};

static void metrics_write(mbuf_t *b, void *ud)
{
	char lab[200], l2[300];
	queue_t *q;

	if (queue_empty(&all_gws) && !slirpgw_svc_metrics_wanted())
		return;
	METRICS_FAMILIES(b, gw_rows);
	slirpgw_svc_metrics(b, 1);
	metrics_family(b, "sluice_slirpgw_dropped_total", "counter",
	               "Packets from the peer dropped, by reason.");
	queue_foreach (q, &all_gws) {
		slirpgw_t *g = queue_data(q, slirpgw_t, mlink);

		metrics_label(lab, sizeof(lab), "gw", g->name);
		METRICS_TABLE(b, gw_rows, &g->st, lab);
		for (int i = 0; i < DR_N; i++) {
			snprintf(l2, sizeof(l2), "%s,reason=\"%s\"", lab, drop_names[i]);
			metrics_sample(b, "sluice_slirpgw_dropped_total", "counter",
			               "Packets from the peer dropped, by reason.", l2,
			               g->drops[i]);
		}
		slirpgw_slot_metrics(b, g, lab);
	}
	slirpgw_svc_metrics(b, 0);
}

void slirpgw_metrics_init(void)
{
	static int done;

	if (!done) {
		done = 1;
		metrics_register(metrics_write, NULL);
	}
}
