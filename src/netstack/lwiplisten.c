/* lwiplisten: the lwIP endpoint accepts TCP connections (lwipep.h:
 * lwipep_listen), so that a host inside the tunnel can reach a port of
 * this side: the session's address behaves as a host's would.
 *
 * One listening pcb per port, bound to the endpoint's netif and to any
 * address of either family: it serves whatever address the link gives,
 * session after session, and lwIP matches it only for packets that came
 * in on this netif.  A SYN for a port with no listener gets lwIP's RST.
 * When the handshake completes lwIP calls on_accept(), which makes the
 * pcb a stream (lwipep.c) and hands it to the owner; a refusal resets it.
 *
 * Half-open connections.  lwIP as Debian builds it has no listen backlog
 * (TCP_LISTEN_BACKLOG 0) and takes pcbs from the heap, so every SYN to a
 * listening port would cost a pcb in SYN_RCVD until the handshake
 * completes or TCP_SYN_RCVD_TIMEOUT (20 s) passes: a flood of SYNs from
 * forged sources would grow memory without bound.  lwipep_input() asks
 * lwlisten_admit() about each packet: a SYN (without ACK) to a listening
 * port is dropped when the listener's half-open pcbs are at syn_max.  The
 * count is an upper bound kept without a walk per packet: each admitted
 * SYN adds one, and only at the cap are the SYN_RCVD pcbs counted again
 * (a walk of lwIP's active list, at most every RECOUNT_MS).  A SYN the
 * filter cannot see (in IPv4 fragments, behind IPv6 extension headers)
 * is caught by lwlisten_prune() on the endpoint's timer, which frees the
 * half-open pcbs past the cap, newest first.
 */
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/log.h"
#include "netstack/ippkt.h"
#include "netstack/lwipep_priv.h"

#undef TCP_MSS
#include "lwip/priv/tcp_priv.h" /* tcp_active_pcbs */
#include "lwip/tcp.h"

#if TCP_LISTEN_BACKLOG || !LWIP_CALLBACK_API
#error "lwiplisten.c expects lwIP without a listen backlog, with the callback API"
#endif

#define RECOUNT_MS 100

struct lwipep_listen {
	lwipep_t *ep; /* NULL once the endpoint is freed */
	queue_t link; /* in the endpoint's list */
	struct tcp_pcb *pcb;
	uint16_t port;
	unsigned syn_max, syn_est; /* syn_est >= the half-open pcbs */
	uint64_t counted_at;
	lwipep_accept_cb cb;
	void *ud;
	lwipep_listen_stats_t st;
};

static lwipep_listen_t *by_port(queue_t *list, uint16_t port)
{
	queue_t *q;

	queue_foreach (q, list) {
		lwipep_listen_t *l = queue_data(q, lwipep_listen_t, link);
		if (l->port == port)
			return l;
	}
	return NULL;
}

static unsigned half_open(const lwipep_listen_t *l)
{
	unsigned n = 0;

	for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next)
		if (p->state == SYN_RCVD && p->listener == (struct tcp_pcb_listen *)l->pcb)
			n++;
	return n;
}

int lwlisten_admit(queue_t *list, const uint8_t *pkt, size_t len)
{
	lwipep_listen_t *l;
	ippkt_t ip;
	uint64_t now;

	if (queue_empty(list) || ippkt_parse(pkt, len, &ip) < 0 || ip.proto != IPPKT_TCP ||
	    !ip.l4 || (ip.flags & (IPPKT_SYN | IPPKT_ACK | IPPKT_RST)) != IPPKT_SYN ||
	    !(l = by_port(list, ip.dport)))
		return 1;
	if (l->syn_est >= l->syn_max) {
		now = uv_now(lwipep_loop(l->ep));
		if (now - l->counted_at >= RECOUNT_MS) {
			l->syn_est = half_open(l);
			l->counted_at = now;
		}
	}
	if (l->syn_est >= l->syn_max) {
		lwipep_stats_of(l->ep)->syns_dropped++;
		if (!l->st.syn_dropped++)
			log_warn(0, "lwip: port %u: %u handshakes wait already: SYNs dropped",
			         l->port, l->syn_max);
		return 0;
	}
	l->syn_est++;
	return 1;
}

void lwlisten_prune(queue_t *list)
{
	queue_t *q;

	queue_foreach (q, list) {
		lwipep_listen_t *l = queue_data(q, lwipep_listen_t, link);
		unsigned n = half_open(l), extra = n > l->syn_max ? n - l->syn_max : 0;
		struct tcp_pcb *p, *next;

		for (p = tcp_active_pcbs; p && extra; p = next) {
			next = p->next;
			if (p->state == SYN_RCVD &&
			    p->listener == (struct tcp_pcb_listen *)l->pcb) {
				tcp_abandon(p, 0);
				l->st.syn_dropped++;
				lwipep_stats_of(l->ep)->syns_dropped++;
				extra--;
				n--;
			}
		}
		l->syn_est = n;
		l->counted_at = uv_now(lwipep_loop(l->ep));
	}
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	lwipep_listen_t *l = arg;
	struct sockaddr_storage peer;
	stream_t *s;
	cbframe_t f;

	if (err != ERR_OK || !pcb) /* lwIP could not allocate: nothing to free */
		return ERR_VAL;
	if (!l->ep || !l->cb) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	if (l->syn_est)
		l->syn_est--;
	lwipep_sa_from_ip(&pcb->remote_ip, pcb->remote_port, &peer);
	s = lwipep_accepted(l->ep, pcb, conn_next_id());
	lwipep_cb_begin(&f, pcb);
	if (l->cb(l->ud, s, (struct sockaddr *)&peer) < 0) {
		l->st.refused++;
		lwipep_stats_of(l->ep)->accepts_refused++;
		stream_reset(s);
	} else {
		l->st.accepted++;
	}
	return lwipep_cb_end(&f);
}

int lwipep_listen(lwipep_t *ep, uint16_t port, unsigned syn_max, lwipep_accept_cb cb, void *ud,
                  lwipep_listen_t **out)
{
	queue_t *list = lwipep_listen_list(ep);
	struct tcp_pcb *pcb, *lpcb;
	lwipep_listen_t *l;
	err_t e;

	*out = NULL;
	if (!port || by_port(list, port))
		return UV_EADDRINUSE;
	lwipep_core_enter();
	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (!pcb) {
		lwipep_core_leave();
		return UV_ENOMEM;
	}
	ip_set_option(pcb, SOF_REUSEADDR); /* beside our own dials' ports */
	tcp_bind_netif(pcb, lwipep_netif(ep));
	if ((e = tcp_bind(pcb, IP_ANY_TYPE, port)) != ERR_OK ||
	    !(lpcb = tcp_listen_with_backlog_and_err(pcb, TCP_DEFAULT_LISTEN_BACKLOG, &e))) {
		tcp_close(pcb); /* not listening: freed at once */
		lwipep_core_leave();
		return e == ERR_USE ? UV_EADDRINUSE : UV_ENOMEM;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->ep = ep;
	l->pcb = lpcb;
	l->port = port;
	l->syn_max = syn_max ? syn_max : LWIPEP_SYN_MAX;
	l->cb = cb;
	l->ud = ud;
	tcp_arg(lpcb, l);
	tcp_accept(lpcb, on_accept);
	lwipep_core_leave();
	queue_insert_tail(list, &l->link);
	*out = l;
	return 0;
}

static void close_pcb(lwipep_listen_t *l)
{
	if (!l->pcb)
		return;
	lwipep_core_enter();
	tcp_arg(l->pcb, NULL);
	tcp_accept(l->pcb, NULL);
	tcp_close(l->pcb); /* a listening pcb is freed at once */
	lwipep_core_leave();
	l->pcb = NULL;
}

void lwipep_unlisten(lwipep_listen_t *l)
{
	if (!l)
		return;
	if (l->ep) {
		close_pcb(l);
		queue_remove(&l->link);
	}
	free(l);
}

void lwlisten_orphan_all(queue_t *list)
{
	queue_t *q;

	while ((q = queue_pop(list))) {
		lwipep_listen_t *l = queue_data(q, lwipep_listen_t, link);
		close_pcb(l);
		l->ep = NULL;
	}
}

void lwipep_listen_stats(const lwipep_listen_t *l, lwipep_listen_stats_t *st)
{
	*st = l->st;
}
