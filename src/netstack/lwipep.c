/* lwipep: see lwipep.h.  How it works.
 *
 * lwIP as Debian builds it (liblwip 2.1.3, /usr/include/lwip/lwipopts.h):
 * NO_SYS=0, LWIP_TCPIP_CORE_LOCKING=1, SYS_LIGHTWEIGHT_PROT=1, the sys_arch
 * of contrib/ports/unix (pthreads), heap and pools from malloc
 * (MEM_LIBC_MALLOC, MEMP_MEM_MALLOC: MEM_SIZE, PBUF_POOL_SIZE and the
 * MEMP_NUM_* counts bound nothing), IPv4+IPv6, no DNS, no PPP.  IPv6
 * autoconfiguration and router solicitation are built in
 * (LWIP_IPV6_AUTOCONFIG, LWIP_IPV6_SEND_ROUTER_SOLICIT): a PPP link, whose
 * IPV6CP gives only an interface id, gets its global address from the
 * peer's router advertisements (set_ll6, slaac_check); their RDNSS option
 * is ignored (it needs LWIP_DNS), so names go to IPCP's servers, which
 * answer AAAA too.  Reassembly holds at most IP_REASS_MAX_PBUFS (10)
 * fragments: a datagram of more never arrives.  TCP:
 * TCP_MSS 1460, TCP_WND 65535 and TCP_SND_BUF 65535 (window scaling is on
 * with shift 1, which buys nothing with a 64 KiB window), TCP_SND_QUEUELEN
 * 180, no SACK, no timestamps, out-of-order queueing on, initial sequence
 * numbers from lwIP's counter (no LWIP_HOOK_TCP_ISN).  So one connection
 * moves at most 64 KiB per round trip each way, and segments are at most
 * min(1460, MTU - 40) bytes: the MTU given to lwipep_set_addr() clamps
 * both the MSS we announce and the one we send with (netif->mtu, and
 * pcb->mss once connected, in case lwIP looked up a route that is not ours).
 *
 * Threads.  Nothing here starts a thread: lwip_init() once, never
 * tcpip_init(); we call the raw API (tcp_*, udp_*, netif_*, pbuf_*) from
 * the loop thread only, which makes that thread lwIP's "tcpip thread".
 * NO_SYS=0 only means lwIP expects the sys_arch functions, which the
 * library carries: sys_now() (CLOCK_MONOTONIC ms), SYS_ARCH_PROTECT (a
 * recursive pthread mutex, never contended here).  LWIP_ASSERT_CORE_LOCKED()
 * calls sys_check_core_locking(), which in this port checks nothing until
 * sys_mark_tcpip_thread() has run, and only tcpip_thread() runs that; we
 * never take LOCK_TCPIP_CORE (it only guards the netconn/socket APIs
 * against the tcpip thread), as nothing else in the process touches lwIP.
 * The one thing that still needs the tcpip thread is netif loopback
 * (LWIP_NETIF_LOOPBACK_MULTITHREADING: a packet to one of our own
 * addresses is posted to the tcpip mailbox, which does not exist).  So we
 * never produce one: dials to loopback or to our own address are refused,
 * and lwipep_input() only admits packets addressed to us and not from us.
 *
 * Time.  One uv timer per process runs sys_check_timeouts() when lwIP's
 * next timeout is due (sys_timeouts_sleeptime(), at most 250 ms away):
 * the TCP timer (250 ms: delayed ACKs, retransmissions) while connections
 * exist, and lwIP's cyclic IGMP/MLD timers (100 ms, idle here), ND6 and
 * reassembly (1 s).  Against a fixed 50 ms tick this gives the same
 * throughput on a clean link, fewer idle wakeups (about 15/s instead of
 * 20/s) and faster loss recovery, since lwIP's timers fire when due
 * (1% loss, 10 ms RTT: 3.0 MB/s upload instead of 2.2).
 * Every entry into lwIP goes through core_enter() /
 * core_leave(); the outermost leave runs what had to wait until lwIP
 * returned: lwIP's output (queued by pbuf reference, then handed to the
 * tunnel's out(), which may thus do anything, lwipep_down() included),
 * packets fed to lwipep_input() from inside lwIP, the memory of freed
 * endpoints; and it re-arms the timer if lwIP now wants it earlier.
 *
 * Callbacks.  lwIP calls back (recv, sent, connected, err, poll) only from
 * lwipep_input() and the timer.  The owner's on_drain and dial callbacks
 * run right there (lwIP lets them close or abort any pcb); on_read runs
 * from the kick (below), so a loop turn's segments arrive together; if
 * the owner aborts the very pcb whose callback is running (pcb_kill while
 * core.cur is that pcb), the callback returns ERR_ABRT as lwIP requires.  Owner code never runs
 * inside lwIP's err callback (the pcb is half freed then): errors, and everything an op would
 * otherwise have to report from inside itself (data after read_start, drain after a write that
 * emptied the queue), go through the stream's kick: a zero timer whose turn
 * enters lwIP first.
 *
 * A connection (lwtcp_t) is a message stream (core/msgstream.h: the
 * queues, the latches, the kick):
 *
 *   wq   bytes the owner wrote that lwIP has no room for (tcp_sndbuf); the
 *        sent callback moves more with tcp_write(COPY) and fires on_drain
 *        at or below STREAM_LOW_WATER; shutdown sends FIN once wq is empty.
 *   rq   segments received, copied end to end into chunks
 *        (msgstream_room) and delivered while reading on the next turn
 *        (the kick): a burst of segments is one read for the owner, and
 *        one write to a socket behind it.  The kick's turn then sends the
 *        ACK lwIP still holds back (it acknowledges every second segment
 *        at once): no segment waits for lwIP's 250 ms timer.
 *        tcp_recved() is called only as they are delivered, so a paused
 *        reader closes the window: rq never holds more than TCP_WND.
 *        Once the owner has taken all, the whole window is announced at
 *        once (open_window: lwIP would wait until it grew by a segment).
 *   pcb  NULL once lwIP freed it (err callback), or once both FINs are
 *        through: then lwIP finishes TIME_WAIT/LAST_ACK on its own, and
 *        must not find our callbacks when it frees the pcb silently.
 *
 * close = tcp_close(), which sends RST instead of FIN if data is left
 * unread; memory goes when the kick timer is closed.
 *
 * A dial: RESOLVING (DNS cache, else dns_resolve) -> CONNECTING, one
 * address after another, each bounded by connect_timeout -> stream, or
 * FAILED (reported from the dial timer) -> DONE.
 */
#include "netstack/lwipep.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/msgstream.h"
#include "core/queue.h"
#include "netstack/dns.h"

#undef TCP_MSS /* netinet/tcp.h's socket option; lwipopts.h defines lwIP's */
#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h" /* tcp_active_pcbs, tcp_tw_pcbs */
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "netstack/ippkt.h"
#include "netstack/lwipep_priv.h"

#define TIMER_MAX_MS 250
#define INQ_MAX 256 /* packets fed back from inside lwIP */
#define CONNECT_TIMEOUT_MS 30000
#define DNS_TIMEOUT_MS 5000
#define POLL_INTERVAL 4 /* tcp_poll: every 2 s (coarse timer) */
/* segments gather into chunks of this size: a paused reader pins at most
 * TCP_WND in them and a chunk more */
#define RQ_CHUNK (32 * 1024)

typedef struct lwtcp lwtcp_t;

struct lwipep {
	lwipep_t *next; /* core.eps or core.graveyard */
	uv_loop_t *loop;
	struct netif nif;
	dialer_t dialer;
	lwipep_output_fn out;
	void *ud;
	char name[64];
	uint64_t id;
	uint32_t connect_ms, dns_ms;
	dns_addr_t fallback;
	int has_fallback;
	dns_resolver_t *dns;
	queue_t streams;  /* lwtcp_t.link */
	queue_t dials;    /* lwipep_dial_t.link */
	queue_t udp;      /* datagram flows (lwipudp.c) */
	queue_t listens;  /* listening ports (lwiplisten.c) */
	queue_t ulistens; /* listening UDP ports (lwipudp.c) */
	lwipep_addr_t addr;
	int has4, has6;
	s8_t slot6;
	uint8_t ifid6[8];                   /* with ll6 */
	unsigned up : 1, dead : 1, ll6 : 1; /* ll6: fe80::ifid6 and SLAAC */
	unsigned slaac6 : 1;                /* local6 came from SLAAC */
	uint8_t *obuf;                      /* flattens chained pbufs for out() */
	lwipep_stats_t st;
};

struct lwtcp {
	msgstream_t m; /* first: rq, wq (what lwIP has no room for), the latches */
	lwipep_t *ep;
	queue_t link; /* in ep->streams */
	struct tcp_pcb *pcb;
	unsigned got_fin : 1, shut_req : 1, shut_done : 1;
	unsigned accepted : 1; /* from a listener (lwiplisten.c) */
};

typedef enum dial_state { DS_RESOLVING, DS_CONNECTING, DS_NEXT, DS_FAILED, DS_DONE } dial_state_t;
static const char *const dial_state_names[] = {"resolving", "connecting", "next", "failed", "done"};

struct lwipep_dial {
	lwipep_t *ep; /* NULL once the endpoint is freed */
	queue_t link; /* in ep->dials */
	dial_state_t state;
	target_t t;
	dial_opts_t o;
	dial_cb cb;
	void *ud;
	uv_timer_t timer;
	dns_query_t *dq;
	struct tcp_pcb *pcb;
	ip_addr_t addrs[DNS_MAX_ADDRS];
	size_t naddr, cur;
	int err;
};

/* ---- the lwIP core: one per process ---- */

typedef struct pktref {
	lwipep_t *ep; /* NULL once the endpoint is freed */
	struct pbuf *p;
} pktref_t;

static struct {
	uv_loop_t *loop;
	uv_timer_t *timer;
	uint64_t due; /* loop time the timer fires at; 0: not armed */
	lwipep_t *eps, *graveyard;
	int depth;
	struct tcp_pcb *cur; /* pcb whose callback is running */
	int cur_aborted;
	pktref_t inq[INQ_MAX]; /* fed to lwipep_input() from inside lwIP */
	unsigned inq_head, inq_len;
	pktref_t *outq; /* lwIP's output, emitted outside lwIP */
	size_t outq_head, outq_len, outq_cap;
	unsigned inited : 1, registered : 1, flushing : 1;
} core;

static void metrics_fn(mbuf_t *b, void *ud);

static void on_core_timer(uv_timer_t *h);

static void core_arm(void)
{
	uint32_t ms;
	uint64_t due;

	if (!core.timer)
		return;
	ms = sys_timeouts_sleeptime();
	if (ms > TIMER_MAX_MS)
		ms = TIMER_MAX_MS;
	if (ms < 1)
		ms = 1;
	due = uv_now(core.loop) + ms;
	if (core.due && core.due <= due)
		return;
	core.due = due;
	uv_timer_start(core.timer, on_core_timer, ms, 0);
}

static void core_enter(void)
{
	core.depth++;
}

static void feed(lwipep_t *ep, struct pbuf *p)
{
	if (ep->nif.input(p, &ep->nif) != ERR_OK)
		pbuf_free(p);
}

static void emit(lwipep_t *ep, struct pbuf *p);

/* The outermost leave does what waited for lwIP to return: packets fed
 * back from inside it, then its output; then frees dead endpoints. */
static void core_leave(void)
{
	lwipep_t *ep;

	if (--core.depth || core.flushing)
		return;
	core.flushing = 1;
	for (;;) {
		if (core.inq_len) {
			pktref_t r = core.inq[core.inq_head];
			core.inq_head = (core.inq_head + 1) % INQ_MAX;
			core.inq_len--;
			if (r.ep) {
				core.depth++;
				feed(r.ep, r.p);
				core.depth--;
			}
		} else if (core.outq_head < core.outq_len) {
			pktref_t r = core.outq[core.outq_head++];
			if (core.outq_head == core.outq_len)
				core.outq_head = core.outq_len = 0;
			if (r.ep)
				emit(r.ep, r.p); /* may call anything, even lwipep_free(r.ep) */
			pbuf_free(r.p);
		} else {
			break;
		}
	}
	core.flushing = 0;
	while ((ep = core.graveyard)) {
		core.graveyard = ep->next;
		free(ep->obuf);
		free(ep);
	}
	core_arm();
}

static void slaac_check(lwipep_t *ep);

static void on_core_timer(uv_timer_t *h)
{
	core.due = 0;
	core_enter();
	sys_check_timeouts();
	for (lwipep_t *ep = core.eps; ep; ep = ep->next) {
		slaac_check(ep);
		lwlisten_prune(&ep->listens);
	}
	core_leave();
}

static void core_guard(int enter)
{
	if (enter)
		core_enter();
	else
		core_leave();
}

static void on_timer_freed(uv_handle_t *h)
{
	free(h);
}

static int core_attach(uv_loop_t *loop)
{
	if (core.loop && core.loop != loop)
		return UV_EBUSY;
	if (!core.inited) {
		unsigned seed;

		/* LWIP_RAND() is rand(): initial ephemeral ports, ND jitter */
		random_bytes(&seed, sizeof(seed));
		srand(seed);
		lwip_init();
		core.inited = 1;
	}
	if (!core.registered) {
		metrics_register(metrics_fn, NULL);
		core.registered = 1;
	}
	if (!core.timer) {
		core.timer = malloc(sizeof(*core.timer));
		if (!core.timer)
			abort();
		uv_timer_init(loop, core.timer);
		core.loop = loop;
		core.due = 0;
	}
	return 0;
}

/* The last endpoint is gone: lwIP has nothing left to time. */
static void core_detach(void)
{
	if (core.eps || !core.timer)
		return;
	uv_close((uv_handle_t *)core.timer, on_timer_freed);
	core.timer = NULL;
	core.loop = NULL;
	core.due = 0;
}

/* Callback frames: remember which pcb's callback runs, so that aborting it
 * from inside turns into the ERR_ABRT lwIP expects. */
static void cb_begin(cbframe_t *f, struct tcp_pcb *pcb)
{
	f->pcb = core.cur;
	f->aborted = core.cur_aborted;
	core.cur = pcb;
	core.cur_aborted = 0;
}

static err_t cb_end(cbframe_t *f)
{
	err_t e = core.cur_aborted ? ERR_ABRT : ERR_OK;

	core.cur = f->pcb;
	core.cur_aborted = f->aborted;
	return e;
}

static void pcb_detach(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_poll(pcb, NULL, 0);
}

/* Frees pcb now, with or without RST; safe from inside any callback. */
static void pcb_kill(struct tcp_pcb *pcb, int rst)
{
	pcb_detach(pcb);
	if (pcb == core.cur)
		core.cur_aborted = 1;
	tcp_abandon(pcb, rst);
}

static int err_to_uv(err_t e, int connecting)
{
	switch (e) {
	case ERR_RST:
		return connecting ? UV_ECONNREFUSED : UV_ECONNRESET;
	case ERR_ABRT: /* lwIP gives up by itself only on retransmission timeouts */
		return UV_ETIMEDOUT;
	case ERR_RTE:
		return UV_ENETUNREACH;
	case ERR_MEM:
	case ERR_BUF:
		return UV_ENOBUFS;
	default:
		return UV_ECONNABORTED;
	}
}

/* ---- addresses ---- */

static void ip_from_sa(const struct sockaddr *sa, ip_addr_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (sa->sa_family == AF_INET) {
		IP_SET_TYPE(ip, IPADDR_TYPE_V4);
		ip_2_ip4(ip)->addr = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
		return;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		IP_SET_TYPE(ip, IPADDR_TYPE_V4);
		memcpy(&ip_2_ip4(ip)->addr, a6->s6_addr + 12, 4);
		return;
	}
	IP_SET_TYPE(ip, IPADDR_TYPE_V6);
	memcpy(ip_2_ip6(ip)->addr, a6->s6_addr, 16);
	ip6_addr_clear_zone(ip_2_ip6(ip));
}

static void sa_from_ip(const ip_addr_t *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (IP_IS_V4(ip)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = ip_2_ip4(ip)->addr;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(s6->sin6_addr.s6_addr, ip_2_ip6(ip)->addr, 16);
	}
}

static int v4_special(uint32_t be)
{
	uint32_t h = ntohl(be);

	return h >> 24 == 127 || h >> 24 == 0 || h >> 28 == 0xe || h == 0xffffffffu;
}

static int v6_special(const uint8_t *a)
{
	struct in6_addr a6;

	memcpy(&a6, a, 16);
	return IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6) ||
	       IN6_IS_ADDR_MULTICAST(&a6) || IN6_IS_ADDR_LINKLOCAL(&a6) ||
	       IN6_IS_ADDR_V4MAPPED(&a6);
}

/* Whether we may send a SYN to a: never to ourselves or to loopback (see
 * the head comment), nor to addresses no peer can own. */
static int target_check(const lwipep_t *ep, const ip_addr_t *a)
{
	if (IP_IS_V4(a)) {
		uint32_t be = ip_2_ip4(a)->addr;
		if (!ep->has4)
			return UV_ENETUNREACH;
		if (v4_special(be))
			return UV_EHOSTUNREACH;
		return be == ep->addr.local.s_addr ? UV_ECONNREFUSED : 0;
	}
	if (!ep->has6)
		return UV_ENETUNREACH;
	if (v6_special((const uint8_t *)ip_2_ip6(a)->addr))
		return UV_EHOSTUNREACH;
	return memcmp(ip_2_ip6(a)->addr, &ep->addr.local6, 16) ? 0 : UV_ECONNREFUSED;
}

/* Input filter: addressed to us, not from us, not from loopback. */
static int pkt_for_us(const lwipep_t *ep, const uint8_t *pkt, size_t len)
{
	struct in6_addr src6, dst6;
	uint32_t src, dst;

	if (!len)
		return 0;
	switch (ippkt_version(pkt, len)) {
	case 4:
		if (!ep->has4 || len < 20)
			return 0;
		memcpy(&src, pkt + 12, 4);
		memcpy(&dst, pkt + 16, 4);
		return dst == ep->addr.local.s_addr && src != dst && !v4_special(src);
	case 6:
		if (len < 40)
			return 0;
		memcpy(&src6, pkt + 8, 16); /* the packet may sit at any alignment */
		memcpy(&dst6, pkt + 24, 16);
		if (IN6_IS_ADDR_LOOPBACK(&src6) || IN6_IS_ADDR_UNSPECIFIED(&src6) ||
		    IN6_IS_ADDR_MULTICAST(&src6) || !memcmp(&src6, &dst6, 16))
			return 0;
		if (ep->has6 && !memcmp(&dst6, &ep->addr.local6, 16))
			return 1;
		/* with an interface id: our link-local address, and neighbour
		 * discovery (router advertisements) to all nodes */
		if (!ep->ll6)
			return 0;
		if (IN6_IS_ADDR_LINKLOCAL(&dst6) && !memcmp(pkt + 32, ep->ifid6, 8))
			return 1;
		return IN6_IS_ADDR_MC_LINKLOCAL(&dst6) &&
		       !memcmp(pkt + 26, "\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 14) && pkt[6] == 58;
	}
	return 0;
}

/* ---- the netif ---- */

/* lwIP's output is queued by reference (lwIP allows drivers that send
 * later: a TCP segment still referenced is not retransmitted meanwhile)
 * and emitted by the outermost core_leave(), so that out() never runs
 * inside lwIP and may do anything, lwipep_down() included. */
static err_t nif_send(lwipep_t *ep, struct pbuf *p)
{
	if (!ep->up) {
		ep->st.pkts_dropped++;
		return ERR_IF;
	}
	if (core.outq_len == core.outq_cap) {
		core.outq_cap = core.outq_cap ? 2 * core.outq_cap : 256;
		core.outq = realloc(core.outq, core.outq_cap * sizeof(*core.outq));
		if (!core.outq)
			abort();
	}
	pbuf_ref(p);
	core.outq[core.outq_len].ep = ep;
	core.outq[core.outq_len++].p = p;
	return ERR_OK;
}

static void emit(lwipep_t *ep, struct pbuf *p)
{
	const uint8_t *pkt = p->payload;

	if (!ep->up) {
		ep->st.pkts_dropped++;
		return;
	}
	if (p->next) {
		if (!ep->obuf && !(ep->obuf = malloc(LWIPEP_MTU_MAX)))
			abort();
		pbuf_copy_partial(p, ep->obuf, p->tot_len, 0);
		pkt = ep->obuf;
	}
	ep->st.pkts_out++;
	if (ep->out(ep->ud, pkt, p->tot_len) < 0)
		ep->st.pkts_dropped++;
}

static err_t nif_output4(struct netif *n, struct pbuf *p, const ip4_addr_t *dst)
{
	return nif_send(n->state, p);
}

static err_t nif_output6(struct netif *n, struct pbuf *p, const ip6_addr_t *dst)
{
	return nif_send(n->state, p);
}

static err_t nif_init(struct netif *n)
{
	n->name[0] = 's';
	n->name[1] = 'l';
	n->output = nif_output4;
	n->output_ip6 = nif_output6;
	n->mtu = 1500;
	n->mtu6 = 1500;
	n->flags = 0; /* point to point: no ARP, no broadcast, no IGMP/MLD */
	n->hwaddr_len = 0;
	return ERR_OK;
}

/* ---- streams ---- */

static const stream_ops_t lw_ops;

static void lw_release(lwtcp_t *t)
{
	if (t->pcb) {
		pcb_detach(t->pcb);
		t->pcb = NULL;
	}
}

/* Both FINs are through: lwIP ends TIME_WAIT or LAST_ACK by itself. */
static void lw_check_done(lwtcp_t *t)
{
	if (t->got_fin && t->shut_done)
		lw_release(t);
}

static void lw_fail(lwtcp_t *t, int err)
{
	if (t->pcb) {
		struct tcp_pcb *pcb = t->pcb;
		t->pcb = NULL;
		pcb_kill(pcb, 0);
	}
	msgstream_fail(&t->m, err);
	msgstream_kick(&t->m);
}

/* Hands lwIP what fits of wq; from the sent and poll callbacks (notify)
 * on_drain may fire. */
static void lw_push(lwtcp_t *t, int notify)
{
	size_t moved = 0;
	sbuf_t *b;

	while (t->pcb && (b = t->m.wq.head)) {
		u32_t room = tcp_sndbuf(t->pcb);
		u16_t n = (u16_t)(b->len < room ? b->len : room);
		u8_t flags = TCP_WRITE_FLAG_COPY;

		if (!n)
			break;
		if (n < b->len || b->next)
			flags |= TCP_WRITE_FLAG_MORE;
		if (tcp_write(t->pcb, sbuf_ptr(b), n, flags) != ERR_OK)
			break; /* ERR_MEM: queue full, the sent callback retries */
		sbuf_consume(b, n);
		t->m.wq.bytes -= n;
		moved += n;
		if (!b->len)
			sbuf_free(sbufq_pop(&t->m.wq));
	}
	t->m.s.wq_bytes = t->m.wq.bytes;
	if (moved) {
		if (t->ep)
			t->ep->st.bytes_out += moved;
		tcp_output(t->pcb);
	}
	if (t->pcb && t->shut_req && !t->shut_done && !t->m.wq.head &&
	    tcp_shutdown(t->pcb, 0, 1) == ERR_OK) {
		t->shut_done = 1;
		lw_check_done(t);
	}
	if (notify && moved)
		msgstream_drained(&t->m);
}

/* The owner has taken everything received: announce the whole window at
 * once.  lwIP widens the announced window only by a segment or more at a
 * time (the receiver's silly window avoidance), so after a segment shorter
 * than that was read late it keeps announcing a little less than the full
 * window.  A sender that checks each ACK against the window the same ACK
 * carries ignores an ACK for more than that.  SoftEther's SecureNAT does:
 * seen under CPU contention (fault_contention), it sent a full 64 KiB
 * window, the earlier ACKs did not count, and the last one acknowledged
 * 65535 bytes with a window of 64240; it resent the window's first
 * segment every 130 ms for minutes, each time answered with that ACK.  A
 * fully open window is never silly. */
static void open_window(struct tcp_pcb *pcb)
{
	if (pcb->rcv_wnd != TCP_WND_MAX(pcb) || pcb->rcv_ann_wnd == pcb->rcv_wnd)
		return;
	pcb->rcv_ann_wnd = pcb->rcv_wnd;
	pcb->rcv_ann_right_edge = pcb->rcv_nxt + pcb->rcv_wnd;
	tcp_ack_now(pcb);
	tcp_output(pcb);
}

/* The owner gets data while reading, then the end of data, then an error
 * or a drain owed (core/msgstream.h); each segment it takes opens the
 * window by as much. */
static void lw_consumed(msgstream_t *m, size_t n)
{
	lwtcp_t *t = (lwtcp_t *)m;

	if (t->pcb) {
		for (size_t k = n; k; k -= k > 0xffff ? 0xffff : k)
			tcp_recved(t->pcb, (u16_t)(k > 0xffff ? 0xffff : k));
		open_window(t->pcb);
	}
	if (t->ep)
		t->ep->st.bytes_in += n;
}

/* A kick's turn: into lwIP first, as tcp_recved needs. */
static void lw_turn(msgstream_t *m)
{
	lwtcp_t *t = (lwtcp_t *)m;

	core_enter();
	msgstream_deliver(m);
	/* an ACK lwIP is still holding back (it acknowledges every second
	 * segment at once) goes now, not on its 250 ms timer: a peer that
	 * sends a segment or two per round trip (SoftEther's SecureNAT does)
	 * would wait that long each time */
	if (!m->s.closed && t->pcb && (t->pcb->flags & TF_ACK_DELAY)) {
		tcp_ack_now(t->pcb);
		tcp_output(t->pcb);
	}
	core_leave();
}

static const msgstream_hooks_t lw_hooks = {.deliver = lw_turn, .consumed = lw_consumed};

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	lwtcp_t *t = arg;

	if (p) {
		uint8_t *d = msgstream_room(&t->m, p->tot_len, RQ_CHUNK);

		if (d)
			msgstream_grow(&t->m, pbuf_copy_partial(p, d, p->tot_len, 0));
		pbuf_free(p);
	} else {
		t->got_fin = 1;
		msgstream_push(&t->m, NULL);
		lw_check_done(t);
	}
	/* the owner reads on the next turn, the loop turn's segments together */
	msgstream_kick(&t->m);
	return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	lwtcp_t *t = arg;
	cbframe_t f;

	cb_begin(&f, pcb);
	lw_push(t, 1);
	return cb_end(&f);
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
	lwtcp_t *t = arg;
	cbframe_t f;

	cb_begin(&f, pcb);
	if (t->m.wq.head)
		lw_push(t, 1);
	return cb_end(&f);
}

/* lwIP is freeing the pcb: note why, tell the owner later. */
static void on_err(void *arg, err_t err)
{
	lwtcp_t *t = arg;

	t->pcb = NULL;
	if (err == ERR_CLSD && t->got_fin && t->shut_done)
		return;
	log_debug(t->m.s.id, "lwip: connection ends: lwIP error %d", (int)err);
	msgstream_fail(&t->m, err_to_uv(err, 0));
	msgstream_kick(&t->m);
}

static int lw_write(stream_t *s, sbuf_t *b)
{
	lwtcp_t *t = (lwtcp_t *)s;
	size_t queued;

	if (s->closed || t->shut_req || !t->pcb) {
		sbuf_free(b);
		return t->m.err ? t->m.err : UV_EPIPE;
	}
	if (!b->len) {
		sbuf_free(b);
		return 0;
	}
	queued = t->m.wq.bytes;
	sbufq_push(&t->m.wq, b);
	s->wq_bytes = t->m.wq.bytes;
	core_enter();
	lw_push(t, 0);
	core_leave();
	if (queued > STREAM_LOW_WATER && s->wq_bytes <= STREAM_LOW_WATER)
		msgstream_drain_later(&t->m); /* we moved what an owner may be waiting on */
	return 0;
}

static int lw_shutdown(stream_t *s)
{
	lwtcp_t *t = (lwtcp_t *)s;

	if (t->shut_req || s->closed)
		return 0;
	t->shut_req = 1;
	if (t->pcb) {
		core_enter();
		lw_push(t, 0);
		core_leave();
	}
	return 0;
}

static void lw_read_start(stream_t *s)
{
	lwtcp_t *t = (lwtcp_t *)s;

	if (t->m.reading || s->closed)
		return;
	msgstream_read_start(&t->m);
}

static void lw_read_stop(stream_t *s)
{
	msgstream_read_stop(&((lwtcp_t *)s)->m);
}

static void lw_unlink(lwtcp_t *t)
{
	if (!queue_linked(&t->link))
		return;
	queue_remove(&t->link);
	if (t->ep)
		t->ep->st.conns_active--;
	if (t->ep && t->accepted)
		t->ep->st.accepts_active--;
}

/* Closes s: with a FIN (lwIP sends RST itself when received data is
 * unread, or if it cannot), or with RST (rst). */
static void lw_end(stream_t *s, int rst)
{
	lwtcp_t *t = (lwtcp_t *)s;

	sbufq_clear(&t->m.wq);
	s->wq_bytes = 0;
	if (t->pcb) {
		struct tcp_pcb *pcb = t->pcb;
		core_enter();
		lw_release(t);
		if (rst || tcp_close(pcb) != ERR_OK)
			pcb_kill(pcb, 1);
		core_leave();
	}
	lw_unlink(t);
	msgstream_release(&t->m, NULL);
}

static void lw_close(stream_t *s)
{
	lw_end(s, 0);
}

/* Abortive: RST, whatever is queued either way. */
static void lw_reset(stream_t *s)
{
	lw_end(s, 1);
}

/* The addresses inside the tunnel: ours (the session's) and the peer's. */
static int lw_addr(stream_t *s, int peer, struct sockaddr_storage *ss)
{
	lwtcp_t *t = (lwtcp_t *)s;

	if (!t->pcb)
		return UV_ENOTCONN;
	if (peer)
		sa_from_ip(&t->pcb->remote_ip, t->pcb->remote_port, ss);
	else
		sa_from_ip(&t->pcb->local_ip, t->pcb->local_port, ss);
	return 0;
}

static const stream_ops_t lw_ops = {
    .name = "lwip",
    .write = lw_write,
    .shutdown = lw_shutdown,
    .read_start = lw_read_start,
    .read_stop = lw_read_stop,
    .close = lw_close,
    .reset = lw_reset,
    .addr = lw_addr,
};

/* A connected pcb becomes a stream. */
static lwtcp_t *lw_new(lwipep_t *ep, struct tcp_pcb *pcb, uint64_t id)
{
	lwtcp_t *t = calloc(1, sizeof(*t));
	u16_t lim = (u16_t)(ep->nif.mtu - (IP_IS_V6(&pcb->remote_ip) ? 60 : 40));

	if (!t)
		abort();
	msgstream_init(&t->m, &lw_ops, id, ep->loop, &lw_hooks);
	t->ep = ep;
	t->pcb = pcb;
	tcp_arg(pcb, t);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_poll(pcb, on_poll, POLL_INTERVAL);
	tcp_nagle_disable(pcb);
	if (pcb->mss > lim)
		pcb->mss = lim;
	queue_insert_head(&ep->streams, &t->link);
	ep->st.conns_total++;
	ep->st.conns_active++;
	return t;
}

/* ---- dials ---- */

/* lwIP keeps a closed connection in TIME_WAIT for 2 MSL (two minutes)
 * and, allocating from the heap, without limit: after ~16,000 short
 * connections every ephemeral port had one, and each new dial's port
 * search walked all of them once per port tried, stalling the loop for
 * seconds (the VPN's peer then saw it go silent).  Like Linux's
 * tcp_max_tw_buckets, keep at most TW_MAX and free the oldest (lwIP adds
 * at the head of the list). */
#define TW_MAX 2048

static void tw_bound(void)
{
	struct tcp_pcb *p, *last = NULL;
	unsigned n = 0;

	for (p = tcp_tw_pcbs; p && !last; p = p->next)
		if (++n == TW_MAX)
			last = p;
	while (last && last->next)
		tcp_abort(last->next); /* a TIME_WAIT pcb is just freed */
}

static void dl_set_state(lwipep_dial_t *q, dial_state_t s)
{
	log_trace(q->o.id, "lwip dial %s: %s -> %s", q->t.host, dial_state_names[q->state],
	          dial_state_names[s]);
	q->state = s;
}

static void dl_on_closed(uv_handle_t *h)
{
	free(h->data);
}

static void dl_release(lwipep_dial_t *q)
{
	if (q->dq) {
		dns_cancel(q->dq);
		q->dq = NULL;
	}
	if (q->pcb) {
		pcb_kill(q->pcb, 1);
		q->pcb = NULL;
	}
	queue_remove(&q->link);
	dl_set_state(q, DS_DONE);
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, dl_on_closed);
}

static void dl_finish(lwipep_dial_t *q, stream_t *s, int err)
{
	dial_cb cb = q->cb;
	void *ud = q->ud;

	if (err && q->ep)
		q->ep->st.conns_failed++;
	if (err)
		log_debug(q->o.id, "lwip dial %s:%u: %s", q->t.host, q->t.port, uv_strerror(err));
	dl_release(q);
	cb(ud, s, err);
}

static void dl_on_timer(uv_timer_t *h);

/* Fails later, from the dial timer (never from inside an op). */
static void dl_fail(lwipep_dial_t *q, int err)
{
	if (q->dq) {
		dns_cancel(q->dq);
		q->dq = NULL;
	}
	if (q->pcb) {
		pcb_kill(q->pcb, 0);
		q->pcb = NULL;
	}
	q->err = err;
	dl_set_state(q, DS_FAILED);
	uv_timer_start(&q->timer, dl_on_timer, 0, 0);
}

static err_t dl_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	lwipep_dial_t *q = arg;
	lwtcp_t *t;
	cbframe_t f;

	q->pcb = NULL;
	t = lw_new(q->ep, pcb, q->o.id);
	cb_begin(&f, pcb);
	dl_finish(q, &t->m.s, 0);
	return cb_end(&f);
}

static void dl_on_err(void *arg, err_t err)
{
	lwipep_dial_t *q = arg;

	q->pcb = NULL;
	q->err = err_to_uv(err, 1);
	dl_set_state(q, DS_NEXT);
	uv_timer_start(&q->timer, dl_on_timer, 0, 0);
}

/* Starts a connect to the next usable address; fails when none is left. */
static void dl_next(lwipep_dial_t *q)
{
	lwipep_t *ep = q->ep;

	while (q->cur < q->naddr) {
		const ip_addr_t *a = &q->addrs[q->cur++];
		struct sockaddr_storage ss;
		struct tcp_pcb *pcb;
		err_t e;
		int r = target_check(ep, a);

		sa_from_ip(a, q->t.port, &ss);
		if (!r && q->o.acl && !acl_permits(q->o.acl, (struct sockaddr *)&ss))
			r = UV_EACCES;
		if (r) {
			q->err = r;
			continue;
		}
		tw_bound();
		pcb = tcp_new_ip_type(IP_GET_TYPE(a));
		if (!pcb) {
			q->err = UV_ENOMEM;
			continue;
		}
		tcp_arg(pcb, q);
		tcp_err(pcb, dl_on_err);
		tcp_bind_netif(pcb, &ep->nif);
		e = tcp_connect(pcb, a, q->t.port, dl_on_connected);
		if (e != ERR_OK) {
			pcb_kill(pcb, 0);
			q->err = err_to_uv(e, 1);
			continue;
		}
		q->pcb = pcb;
		dl_set_state(q, DS_CONNECTING);
		uv_timer_start(&q->timer, dl_on_timer, ep->connect_ms, 0);
		return;
	}
	dl_fail(q, q->err ? q->err : UV_EHOSTUNREACH);
}

static void dl_on_timer(uv_timer_t *h)
{
	lwipep_dial_t *q = h->data;

	core_enter();
	switch (q->state) {
	case DS_CONNECTING: /* this address timed out */
		pcb_kill(q->pcb, 1);
		q->pcb = NULL;
		q->err = UV_ETIMEDOUT;
		dl_next(q);
		break;
	case DS_NEXT:
		dl_next(q);
		break;
	case DS_FAILED:
		dl_finish(q, NULL, q->err);
		break;
	default:
		break;
	}
	core_leave();
}

static void on_resolved(void *ud, int err, const dns_result_t *r)
{
	lwipep_dial_t *q = ud;

	q->dq = NULL;
	if (err) {
		dl_fail(q, err);
		return;
	}
	for (size_t i = 0; i < r->n; i++)
		dns_addr_lwip(&r->addr[i], &q->addrs[i]);
	q->naddr = r->n;
	q->cur = 0;
	dl_set_state(q, DS_NEXT);
	uv_timer_start(&q->timer, dl_on_timer, 0, 0);
}

lwipep_dial_t *lwipep_connect(lwipep_t *ep, const target_t *t, const dial_opts_t *o, dial_cb cb,
                              void *ud)
{
	lwipep_dial_t *q = calloc(1, sizeof(*q));
	struct sockaddr_storage ss;
	dns_result_t res;

	if (!q)
		abort();
	q->ep = ep;
	q->t = *t;
	if (o)
		q->o = *o;
	q->cb = cb;
	q->ud = ud;
	q->state = DS_RESOLVING;
	uv_timer_init(ep->loop, &q->timer);
	q->timer.data = q;
	queue_insert_head(&ep->dials, &q->link);

	core_enter();
	if (!ep->up) {
		dl_fail(q, UV_ENETUNREACH);
	} else if (target_is_ip(t, &ss)) {
		ip_from_sa((struct sockaddr *)&ss, &q->addrs[0]);
		q->naddr = 1;
		dl_next(q);
	} else if (dns_cache_lookup(ep->dns, t->host, ep->has6, &res)) {
		on_resolved(q, 0, &res);
	} else if (!dns_name_valid(t->host)) {
		dl_fail(q, UV_EAI_NONAME);
	} else if (!dns_resolver_nservers(ep->dns)) {
		log_warn(q->o.id, "%s: no DNS server to resolve %s", ep->name, t->host);
		dl_fail(q, UV_EAI_AGAIN);
	} else {
		q->dq = dns_resolve(ep->dns, t->host, ep->has6, ep->dns_ms, on_resolved, q);
		if (!q->dq)
			dl_fail(q, UV_EAI_NONAME);
	}
	core_leave();
	return q;
}

void lwipep_connect_cancel(lwipep_dial_t *q)
{
	if (!q || q->state == DS_DONE)
		return;
	core_enter();
	dl_release(q);
	core_leave();
}

static dial_t *ep_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud)
{
	lwipep_t *ep = (lwipep_t *)((char *)d - offsetof(lwipep_t, dialer));

	return (dial_t *)lwipep_connect(ep, t, o, cb, ud);
}

static void ep_cancel(dialer_t *d, dial_t *req)
{
	lwipep_connect_cancel((lwipep_dial_t *)req);
}

static void ep_dialer_free(dialer_t *d) {}

static const dialer_ops_t lwip_dialer_ops = {
    .scheme = "lwip", .dial = ep_dial, .cancel = ep_cancel, .free = ep_dialer_free};

dialer_t *lwipep_dialer(lwipep_t *ep)
{
	return &ep->dialer;
}

/* ---- the endpoint ---- */

/* Every connection and dial of ep fails with err; pcbs lwIP still holds
 * for us (closing, TIME_WAIT) go too.  No RST: the link is gone. */
static void ep_fail_all(lwipep_t *ep, int err)
{
	struct tcp_pcb *pcb, *next;
	u8_t idx = netif_get_index(&ep->nif);
	queue_t *q, *n;

	lwudp_fail_all(&ep->udp, err);
	queue_foreach_safe (q, n, &ep->streams)
		lw_fail(queue_data(q, lwtcp_t, link), err);
	queue_foreach_safe (q, n, &ep->dials) {
		lwipep_dial_t *dq = queue_data(q, lwipep_dial_t, link);
		if (dq->state != DS_FAILED)
			dl_fail(dq, err);
	}
	for (pcb = tcp_active_pcbs; pcb; pcb = next) {
		next = pcb->next;
		if (pcb->netif_idx == idx)
			pcb_kill(pcb, 0);
	}
	for (pcb = tcp_tw_pcbs; pcb; pcb = next) {
		next = pcb->next;
		if (pcb->netif_idx == idx)
			pcb_kill(pcb, 0);
	}
}

static void set_servers(lwipep_t *ep, const lwipep_addr_t *a)
{
	dns_addr_t s[DNS_MAX_SERVERS];
	size_t n = 0;

	for (int i = 0; i < LWIPEP_MAX_DNS; i++) {
		if (ep->has4 && a->dns4[i].s_addr) {
			s[n].family = AF_INET;
			memcpy(s[n++].a, &a->dns4[i], 4);
		}
	}
	for (int i = 0; i < LWIPEP_MAX_DNS; i++) {
		if (ep->has6 && !IN6_IS_ADDR_UNSPECIFIED(&a->dns6[i])) {
			s[n].family = AF_INET6;
			memcpy(s[n++].a, &a->dns6[i], 16);
		}
	}
	if (ep->has_fallback && (ep->fallback.family == AF_INET ? ep->has4 : ep->has6)) {
		size_t i;
		for (i = 0; i < n; i++)
			if (s[i].family == ep->fallback.family &&
			    !memcmp(s[i].a, ep->fallback.a, s[i].family == AF_INET ? 4 : 16))
				break;
		if (i == n)
			s[n++] = ep->fallback;
	}
	dns_resolver_set_servers(ep->dns, s, n);
	dns_cache_flush(ep->dns);
}

/* The link-local address fe80::ifid and autoconfiguration from router
 * advertisements on, off, or to another interface id (dropping what the
 * old one configured). */
static void set_ll6(lwipep_t *ep, const uint8_t *ifid)
{
	ip6_addr_t ll;

	if (ifid && ep->ll6 && !memcmp(ep->ifid6, ifid, 8))
		return;
	if (ep->ll6) {
		for (s8_t i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
			if (i != ep->slot6 || ep->slaac6)
				netif_ip6_addr_set_state(&ep->nif, i, IP6_ADDR_INVALID);
		if (ep->slaac6) {
			ep->slot6 = -1;
			ep->has6 = ep->slaac6 = 0;
			memset(&ep->addr.local6, 0, 16);
		}
		netif_set_ip6_autoconfig_enabled(&ep->nif, 0);
		ep->ll6 = 0;
	}
	if (!ifid)
		return;
	memcpy(ep->ifid6, ifid, 8);
	memset(&ll, 0, sizeof(ll));
	((uint8_t *)ll.addr)[0] = 0xfe;
	((uint8_t *)ll.addr)[1] = 0x80;
	memcpy((uint8_t *)ll.addr + 8, ifid, 8);
	ip6_addr_assign_zone(&ll, IP6_UNICAST, &ep->nif);
	netif_ip6_addr_set(&ep->nif, 0, &ll);
	netif_ip6_addr_set_state(&ep->nif, 0, IP6_ADDR_PREFERRED);
	netif_set_ip6_autoconfig_enabled(&ep->nif, 1);
	ep->ll6 = 1;
}

/* From the timer: a preferred address from SLAAC becomes local6 (when
 * the link gave none), or local6 from SLAAC is gone. */
static void slaac_check(lwipep_t *ep)
{
	char s6[INET6_ADDRSTRLEN];
	s8_t found = -1;

	if (!ep->ll6 || !ep->up || (ep->has6 && !ep->slaac6))
		return;
	if (ep->slaac6) {
		if (ip6_addr_isvalid(netif_ip6_addr_state(&ep->nif, ep->slot6)))
			return;
		log_info(ep->id, "%s: IPv6 address from autoconfiguration expired", ep->name);
		ep_fail_all(ep, UV_ECONNABORTED);
		memset(&ep->addr.local6, 0, 16);
		ep->has6 = ep->slaac6 = 0;
		ep->slot6 = -1;
	}
	for (s8_t i = 1; i < LWIP_IPV6_NUM_ADDRESSES && found < 0; i++)
		if (ip6_addr_ispreferred(netif_ip6_addr_state(&ep->nif, i)) &&
		    !ip6_addr_islinklocal(netif_ip6_addr(&ep->nif, i)) &&
		    !v6_special((const uint8_t *)netif_ip6_addr(&ep->nif, i)->addr))
			found = i;
	if (found < 0)
		return;
	memcpy(&ep->addr.local6, netif_ip6_addr(&ep->nif, found)->addr, 16);
	ep->slot6 = found;
	ep->has6 = ep->slaac6 = 1;
	set_servers(ep, &ep->addr);
	inet_ntop(AF_INET6, &ep->addr.local6, s6, sizeof(s6));
	log_info(ep->id,
	         "%s: IPv6 address %s (autoconfigured from the peer's router advertisement)",
	         ep->name, s6);
}

int lwipep_set_addr(lwipep_t *ep, const lwipep_addr_t *a)
{
	static const uint8_t no_ifid[8];
	int has_ll = memcmp(a->ifid6, no_ifid, 8) != 0;
	int has4 = a->local.s_addr != 0, has6 = !IN6_IS_ADDR_UNSPECIFIED(&a->local6);
	unsigned mtu = a->mtu ? a->mtu : 1500;
	ip4_addr_t ip, mask, gw;
	ip6_addr_t ip6;
	lwipep_addr_t na = *a;
	char l4[INET_ADDRSTRLEN] = "-", p4[INET_ADDRSTRLEN] = "-", l6[INET6_ADDRSTRLEN] = "-";

	if ((!has4 && !has6 && !has_ll) || (has4 && v4_special(a->local.s_addr)) ||
	    (has6 && v6_special(a->local6.s6_addr)))
		return UV_EINVAL;
	if (mtu < LWIPEP_MTU_MIN)
		mtu = LWIPEP_MTU_MIN;
	core_enter();
	/* the same link again: the address autoconfiguration gave stays */
	if (!has6 && ep->slaac6 && has_ll && !memcmp(ep->ifid6, a->ifid6, 8)) {
		na.local6 = ep->addr.local6;
		has6 = 1;
	}
	if ((ep->has4 && (!has4 || ep->addr.local.s_addr != a->local.s_addr)) ||
	    (ep->has6 && (!has6 || memcmp(&ep->addr.local6, &na.local6, 16))))
		ep_fail_all(ep, UV_ECONNABORTED);
	if (ep->has6 && ep->slot6 >= 0 && (!has6 || memcmp(&ep->addr.local6, &na.local6, 16))) {
		netif_ip6_addr_set_state(&ep->nif, ep->slot6, IP6_ADDR_INVALID);
		ep->slot6 = -1;
		ep->slaac6 = 0;
	}
	if (!has6 || !ep->slaac6)
		ep->slaac6 = 0;
	set_ll6(ep, has_ll ? a->ifid6 : NULL);
	ip.addr = has4 ? a->local.s_addr : 0;
	mask.addr = has4 ? 0xffffffffu : 0;
	gw.addr = has4 ? a->peer.s_addr : 0;
	netif_set_addr(&ep->nif, &ip, &mask, &gw);
	if (has6 && ep->slot6 < 0) {
		memcpy(ip6.addr, na.local6.s6_addr, 16);
		ip6_addr_clear_zone(&ip6);
		if (netif_add_ip6_address(&ep->nif, &ip6, &ep->slot6) == ERR_OK && ep->slot6 >= 0)
			netif_ip6_addr_set_state(&ep->nif, ep->slot6, IP6_ADDR_PREFERRED);
		else
			ep->slot6 = -1;
	}
	ep->addr = na;
	ep->addr.mtu = (uint16_t)mtu;
	ep->has4 = has4;
	ep->has6 = has6 && ep->slot6 >= 0;
	ep->nif.mtu = (u16_t)mtu;
	ep->nif.mtu6 = (u16_t)mtu;
	set_servers(ep, &na);
	netif_set_link_up(&ep->nif);
	netif_set_up(&ep->nif);
	/* router solicitations only where a router may answer: with an
	 * interface id and no address given (SLAAC) */
	ep->nif.rs_count = ep->ll6 && !ep->has6 ? LWIP_ND6_MAX_MULTICAST_SOLICIT : 0;
	if (!netif_default)
		netif_set_default(&ep->nif);
	ep->up = 1;
	core_leave();

	if (has4) {
		inet_ntop(AF_INET, &a->local, l4, sizeof(l4));
		inet_ntop(AF_INET, &a->peer, p4, sizeof(p4));
	}
	if (ep->has6)
		inet_ntop(AF_INET6, &na.local6, l6, sizeof(l6));
	else if (ep->ll6)
		snprintf(l6, sizeof(l6), "IPv6 by autoconfiguration");
	log_info(ep->id, "%s: up, %s peer %s, %s, mtu %u, mss %u, %zu dns server(s)", ep->name, l4,
	         p4, l6, mtu, lwipep_mss(ep), dns_resolver_nservers(ep->dns));
	return 0;
}

/* Debian's lwIP aborts (an assertion in inet_chksum.c) on a UDP-Lite
 * datagram whose checksum coverage is past its end, so a packet from the
 * tunnel could stop the process.  Nothing here speaks UDP-Lite (136): it
 * never reaches lwIP, behind IPv6 extension headers and in fragments
 * too (each fragment's header names the protocol; a first fragment whose
 * chain of headers is cut short is dropped, as RFC 7112 allows). */
#define UDPLITE 136
static int pkt_lwip_safe(const uint8_t *b, size_t len)
{
	size_t off = 40;
	uint8_t nh;

	if (ippkt_version(b, len) == 4)
		return len < 20 || b[9] != UDPLITE;
	if (ippkt_version(b, len) != 6 || len < 40)
		return 1;
	nh = b[6];
	for (;;) {
		switch (nh) {
		case 0:  /* hop-by-hop */
		case 43: /* routing */
		case 60: /* destination options */
			if (off + 8 > len)
				return 0;
			nh = b[off];
			off += 8 + (size_t)b[off + 1] * 8;
			break;
		case 44: /* fragment */
			if (off + 8 > len)
				return 0;
			nh = b[off];
			if (nh == UDPLITE)
				return 0;
			if ((b[off + 2] << 8 | b[off + 3]) & 0xfff8)
				return 1; /* a later fragment: nothing more to see */
			off += 8;
			break;
		case UDPLITE:
			return 0;
		default:
			return 1;
		}
	}
}

void lwipep_input(lwipep_t *ep, const uint8_t *pkt, size_t len)
{
	struct pbuf *p;

	if (!ep->up || len > 0xffff || !pkt_for_us(ep, pkt, len) || !pkt_lwip_safe(pkt, len) ||
	    !lwlisten_admit(&ep->listens, pkt, len)) {
		ep->st.pkts_dropped++;
		return;
	}
	p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
	if (!p) {
		ep->st.pkts_dropped++;
		return;
	}
	memcpy(p->payload, pkt, len);
	ep->st.pkts_in++;
	if (core.depth) { /* from inside lwIP (an owner's callback): after it */
		if (core.inq_len == INQ_MAX) {
			pbuf_free(p);
			ep->st.pkts_dropped++;
			return;
		}
		core.inq[(core.inq_head + core.inq_len) % INQ_MAX].ep = ep;
		core.inq[(core.inq_head + core.inq_len) % INQ_MAX].p = p;
		core.inq_len++;
		return;
	}
	core_enter();
	feed(ep, p);
	core_leave();
}

void lwipep_down(lwipep_t *ep, int err)
{
	if (ep->dead)
		return;
	core_enter();
	if (ep->up)
		log_info(ep->id, "%s: down (%s)", ep->name, uv_strerror(err));
	ep->up = 0;
	ep_fail_all(ep, err);
	netif_set_down(&ep->nif);
	netif_set_link_down(&ep->nif);
	dns_cache_flush(ep->dns);
	core_leave();
}

int lwipep_new(uv_loop_t *loop, const lwipep_opts_t *o, lwipep_output_fn out, void *ud,
               lwipep_t **epp)
{
	lwipep_opts_t none = {0};
	lwipep_t *ep;
	int r;

	if (!o)
		o = &none;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		abort();
	queue_init(&ep->streams);
	queue_init(&ep->udp);
	queue_init(&ep->dials);
	queue_init(&ep->listens);
	queue_init(&ep->ulistens);
	if (o->dns_fallback) {
		if (inet_pton(AF_INET, o->dns_fallback, ep->fallback.a) == 1)
			ep->fallback.family = AF_INET;
		else if (inet_pton(AF_INET6, o->dns_fallback, ep->fallback.a) == 1)
			ep->fallback.family = AF_INET6;
		else {
			free(ep);
			return UV_EINVAL;
		}
		ep->has_fallback = 1;
	}
	if ((r = core_attach(loop)) < 0) {
		free(ep);
		return r;
	}
	ep->loop = loop;
	ep->out = out;
	ep->ud = ud;
	ep->id = o->id;
	snprintf(ep->name, sizeof(ep->name), "%s", o->name ? o->name : "lwip");
	for (char *c = ep->name; *c; c++) /* it becomes a metrics label value */
		if (*c == '"' || *c == '\\' || *c < ' ')
			*c = '_';
	ep->connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : CONNECT_TIMEOUT_MS;
	ep->dns_ms = o->dns_timeout_ms ? o->dns_timeout_ms : DNS_TIMEOUT_MS;
	ep->slot6 = -1;
	ep->dialer.ops = &lwip_dialer_ops;
	ep->dialer.loop = loop;
	core_enter();
	if (!netif_add(&ep->nif, NULL, NULL, NULL, ep, nif_init, ip_input)) {
		core_leave();
		free(ep);
		core_detach();
		return UV_ENOMEM;
	}
	ep->nif.rs_count = 0;
	core_leave();
	ep->dns = dns_resolver_new(loop, &ep->nif, ep->id, core_guard);
	ep->next = core.eps;
	core.eps = ep;
	*epp = ep;
	return 0;
}

void lwipep_free(lwipep_t *ep)
{
	lwipep_t **pp;
	queue_t *q;

	if (!ep || ep->dead)
		return;
	core_enter();
	ep->up = 0;
	ep_fail_all(ep, UV_ECONNABORTED);
	while ((q = queue_pop(&ep->streams)))
		queue_data(q, lwtcp_t, link)->ep = NULL;
	while ((q = queue_pop(&ep->dials)))
		queue_data(q, lwipep_dial_t, link)->ep = NULL;
	lwudp_orphan_all(&ep->udp);
	lwlisten_orphan_all(&ep->listens);
	lwulisten_orphan_all(&ep->ulistens);
	for (unsigned i = 0; i < core.inq_len; i++) {
		unsigned k = (core.inq_head + i) % INQ_MAX;
		if (core.inq[k].ep == ep) {
			pbuf_free(core.inq[k].p);
			core.inq[k].p = NULL;
			core.inq[k].ep = NULL;
		}
	}
	for (size_t i = core.outq_head; i < core.outq_len; i++)
		if (core.outq[i].ep == ep)
			core.outq[i].ep = NULL; /* the pbuf is freed when its turn comes */
	dns_resolver_free(ep->dns);
	ep->dns = NULL;
	netif_remove(&ep->nif);
	for (pp = &core.eps; *pp; pp = &(*pp)->next)
		if (*pp == ep) {
			*pp = ep->next;
			break;
		}
	if (!netif_default && core.eps && core.eps->up)
		netif_set_default(&core.eps->nif);
	ep->dead = 1;
	ep->next = core.graveyard;
	core.graveyard = ep;
	core_detach();
	core_leave();
}

unsigned lwipep_mss(const lwipep_t *ep)
{
	unsigned hdr = ep->has4 ? 40 : 60;

	if (!ep->up && !ep->addr.mtu)
		return 0;
	return ep->addr.mtu - hdr < TCP_MSS ? ep->addr.mtu - hdr : TCP_MSS;
}

void lwipep_get_stats(const lwipep_t *ep, lwipep_stats_t *st)
{
	dns_stats_t d;

	*st = ep->st;
	if (ep->dns) {
		dns_resolver_stats(ep->dns, &d);
		st->dns_lookups = d.lookups;
		st->dns_cache_hits = d.cache_hits;
		st->dns_queries = d.sent;
		st->dns_failures = d.failures;
	}
}

static const metric_t ep_metrics[] = {
    METRIC(lwipep_stats_t, conns_total, "sluice_lwip_connections_total", "counter",
           "TCP connections opened on the endpoint."),
    METRIC(lwipep_stats_t, conns_active, "sluice_lwip_connections_active", "gauge",
           "TCP connections open now."),
    METRIC(lwipep_stats_t, conns_failed, "sluice_lwip_connections_failed_total", "counter",
           "TCP connections that failed."),
    METRIC(lwipep_stats_t, bytes_in, "sluice_lwip_bytes_in_total", "counter",
           "TCP payload bytes received."),
    METRIC(lwipep_stats_t, bytes_out, "sluice_lwip_bytes_out_total", "counter",
           "TCP payload bytes sent."),
    METRIC(lwipep_stats_t, pkts_in, "sluice_lwip_packets_in_total", "counter",
           "IP packets received."),
    METRIC(lwipep_stats_t, pkts_out, "sluice_lwip_packets_out_total", "counter",
           "IP packets sent."),
    METRIC(lwipep_stats_t, pkts_dropped, "sluice_lwip_packets_dropped_total", "counter",
           "IP packets dropped on input."),
    METRIC(lwipep_stats_t, dns_lookups, "sluice_lwip_dns_lookups_total", "counter",
           "Names looked up inside the tunnel."),
    METRIC(lwipep_stats_t, dns_cache_hits, "sluice_lwip_dns_cache_hits_total", "counter",
           "Lookups answered from the cache."),
    METRIC(lwipep_stats_t, dns_queries, "sluice_lwip_dns_queries_total", "counter",
           "DNS queries sent."),
    METRIC(lwipep_stats_t, dns_failures, "sluice_lwip_dns_failures_total", "counter",
           "Lookups that failed."),
    METRIC(lwipep_stats_t, udp_flows_total, "sluice_lwip_udp_flows_total", "counter",
           "Datagram flows opened on the endpoint."),
    METRIC(lwipep_stats_t, udp_flows_active, "sluice_lwip_udp_flows_active", "gauge",
           "Datagram flows open now."),
    METRIC(lwipep_stats_t, udp_in, "sluice_lwip_udp_datagrams_in_total", "counter",
           "UDP datagrams received by flows."),
    METRIC(lwipep_stats_t, udp_out, "sluice_lwip_udp_datagrams_out_total", "counter",
           "UDP datagrams sent by flows."),
    METRIC(lwipep_stats_t, accepts_total, "sluice_lwip_accepts_total", "counter",
           "TCP connections accepted on the endpoint's listening ports."),
    METRIC(lwipep_stats_t, accepts_active, "sluice_lwip_accepts_active", "gauge",
           "Accepted TCP connections open now."),
    METRIC(lwipep_stats_t, accepts_refused, "sluice_lwip_accepts_refused_total", "counter",
           "Accepted TCP connections refused (reset) by the guard rails."),
    METRIC(lwipep_stats_t, syns_dropped, "sluice_lwip_syns_dropped_total", "counter",
           "SYNs dropped at a listening port's cap of half-open handshakes."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	lwipep_stats_t st;
	char lab[160];

	for (lwipep_t *ep = core.eps; ep; ep = ep->next) {
		lwipep_get_stats(ep, &st);
		METRICS_TABLE(b, ep_metrics, &st, metrics_label(lab, sizeof(lab), "ep", ep->name));
	}
	if (core.eps)
		metrics_sample(b, "sluice_lwip_input_queue_max", "gauge",
		               "Packets the endpoint's input queue holds at most.", "", INQ_MAX);
}

/* ---- for lwipudp.c (lwipep_priv.h) ---- */

void lwipep_core_enter(void)
{
	core_enter();
}

void lwipep_core_leave(void)
{
	core_leave();
}

struct netif *lwipep_netif(lwipep_t *ep)
{
	return &ep->nif;
}

uv_loop_t *lwipep_loop(const lwipep_t *ep)
{
	return ep->loop;
}

int lwipep_is_up(const lwipep_t *ep)
{
	return ep->up && !ep->dead;
}

int lwipep_has6(const lwipep_t *ep)
{
	return ep->has6;
}

int lwipep_target_ok(const lwipep_t *ep, const ip_addr_t *a)
{
	return target_check(ep, a);
}

dns_resolver_t *lwipep_resolver(lwipep_t *ep)
{
	return ep->dns;
}

uint32_t lwipep_dns_ms(const lwipep_t *ep)
{
	return ep->dns_ms;
}

lwipep_stats_t *lwipep_stats_of(lwipep_t *ep)
{
	return &ep->st;
}

queue_t *lwipep_udp_list(lwipep_t *ep)
{
	return &ep->udp;
}

queue_t *lwipep_listen_list(lwipep_t *ep)
{
	return &ep->listens;
}

queue_t *lwipep_ulisten_list(lwipep_t *ep)
{
	return &ep->ulistens;
}

void lwipep_cb_begin(cbframe_t *f, struct tcp_pcb *pcb)
{
	cb_begin(f, pcb);
}

err_t lwipep_cb_end(cbframe_t *f)
{
	return cb_end(f);
}

stream_t *lwipep_accepted(lwipep_t *ep, struct tcp_pcb *pcb, uint64_t id)
{
	lwtcp_t *t = lw_new(ep, pcb, id);

	t->accepted = 1;
	ep->st.accepts_total++;
	ep->st.accepts_active++;
	return &t->m.s;
}

void lwipep_ip_from_sa(const struct sockaddr *sa, ip_addr_t *ip)
{
	ip_from_sa(sa, ip);
}

void lwipep_sa_from_ip(const ip_addr_t *ip, uint16_t port, struct sockaddr_storage *ss)
{
	sa_from_ip(ip, port, ss);
}

int lwipep_dns_servers(const lwipep_t *ep, struct sockaddr_storage *out, size_t max)
{
	size_t n = 0;

	if (!ep->up)
		return 0;
	for (int i = 0; i < LWIPEP_MAX_DNS && n < max; i++)
		if (ep->has4 && ep->addr.dns4[i].s_addr) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&out[n++];
			memset(&out[n - 1], 0, sizeof(out[0]));
			s4->sin_family = AF_INET;
			s4->sin_port = htons(DNS_PORT);
			s4->sin_addr = ep->addr.dns4[i];
		}
	for (int i = 0; i < LWIPEP_MAX_DNS && n < max; i++)
		if (ep->has6 && !IN6_IS_ADDR_UNSPECIFIED(&ep->addr.dns6[i])) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[n++];
			memset(&out[n - 1], 0, sizeof(out[0]));
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(DNS_PORT);
			s6->sin6_addr = ep->addr.dns6[i];
		}
	if (!n && ep->has_fallback && n < max) {
		dns_addr_t *f = (dns_addr_t *)&ep->fallback;
		ip_addr_t ip;
		dns_addr_lwip(f, &ip);
		sa_from_ip(&ip, DNS_PORT, &out[n++]);
	}
	return (int)n;
}
