/* lwipudp: the lwIP endpoint's datagram flows (lwipep.h: lwipep_dgram),
 * and its listening UDP ports (lwipep_udp_listen).
 *
 * One flow is one UDP pcb inside the tunnel, made on the first datagram
 * (a random port, bound to the endpoint's netif) and removed when the flow
 * closes or the link goes down.  A datagram to a name waits for the
 * endpoint's resolver (its cache first) in a lookup of its own, at most
 * LWIPEP_UDP_RESOLVING per flow; more are dropped.  Every destination,
 * literal or resolved, passes the endpoint's target check (never loopback,
 * multicast or our own address) and the caller's ACL before it is sent.
 * Replies are accepted only from the last DGRAM_PEERS addresses the flow
 * sent to (a restricted-cone NAT, like the host's flows in core/udphost).
 *
 * Callbacks: replies are delivered from lwIP's receive callback, i.e.
 * from lwipep_input(); the owner may send or close from there (lwIP's
 * udp_input touches the pcb no more once the callback returns).  A link
 * failure is reported from the flow's timer, never from inside lwIP or an
 * op.  The flow's memory goes in the timer's close callback.
 */
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/queue.h"
#include "netstack/lwipep_priv.h"

#include "lwip/pbuf.h"
#include "lwip/udp.h"

typedef struct lwres lwres_t;

struct lwudp {
	dgram_t f;    /* first */
	lwipep_t *ep; /* NULL once the endpoint is freed */
	queue_t link; /* in the endpoint's list */
	const acl_t *acl;
	struct udp_pcb *pcb;
	uv_timer_t timer; /* reports err */
	queue_t res;      /* lwres_t.link: lookups in flight */
	unsigned nres;
	dgram_peers_t peers; /* sent to: replies accepted */
	int err;
};

struct lwres {
	queue_t link; /* in u->res */
	lwudp_t *u;
	dns_query_t *q;
	uint16_t port;
	sbuf_t *b;
};

static void res_free(lwres_t *r)
{
	queue_remove(&r->link);
	r->u->nres--;
	sbuf_free(r->b);
	free(r);
}

/* The pcb and the lookups go (link down, close). */
static void release(lwudp_t *u)
{
	while (!queue_empty(&u->res)) {
		lwres_t *r = queue_data(queue_first(&u->res), lwres_t, link);
		dns_cancel(r->q);
		res_free(r);
	}
	if (u->pcb) {
		lwipep_core_enter();
		udp_remove(u->pcb);
		lwipep_core_leave();
		u->pcb = NULL;
	}
}

static void unlink_flow(lwudp_t *u)
{
	if (!queue_linked(&u->link))
		return;
	queue_remove(&u->link);
	if (u->ep)
		lwipep_stats_of(u->ep)->udp_flows_active--;
}

static void on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                    u16_t port)
{
	lwudp_t *u = arg;
	struct sockaddr_storage ss;
	sbuf_t *b;

	if (!u || u->f.closed || u->err) {
		pbuf_free(p);
		return;
	}
	lwipep_sa_from_ip(addr, port, &ss);
	if (!dgram_peers_has(&u->peers, (struct sockaddr *)&ss)) {
		pbuf_free(p);
		dgram_drop(&u->f, DGRAM_DROP_STRANGER, NULL);
		return;
	}
	if (p->tot_len > DGRAM_MAX) {
		pbuf_free(p);
		dgram_drop(&u->f, DGRAM_DROP_SIZE, NULL);
		return;
	}
	b = sbuf_new(DGRAM_HEADROOM + p->tot_len);
	b->off = DGRAM_HEADROOM;
	b->len = p->tot_len;
	pbuf_copy_partial(p, sbuf_ptr(b), p->tot_len, 0);
	pbuf_free(p);
	lwipep_stats_of(u->ep)->udp_in++;
	dgram_deliver(&u->f, (struct sockaddr *)&ss, b); /* may close u */
}

static int make_pcb(lwudp_t *u)
{
	struct udp_pcb *pcb;

	lwipep_core_enter();
	pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (pcb) {
		udp_bind_netif(pcb, lwipep_netif(u->ep));
		if (udp_bind(pcb, IP_ANY_TYPE, 0) != ERR_OK) {
			udp_remove(pcb);
			pcb = NULL;
		} else {
			udp_recv(pcb, on_recv, u);
		}
	}
	lwipep_core_leave();
	u->pcb = pcb;
	return pcb ? 0 : UV_ENOMEM;
}

/* Send b to ip:port after the checks; b is consumed. */
static void send_ip(lwudp_t *u, const ip_addr_t *ip, uint16_t port, sbuf_t *b)
{
	struct sockaddr_storage ss;
	struct pbuf *p;
	err_t e;
	int r;

	if (!u->ep || !lwipep_is_up(u->ep) || u->err) {
		dgram_drop(&u->f, DGRAM_DROP_SEND, b);
		return;
	}
	lwipep_sa_from_ip(ip, port, &ss);
	if ((r = lwipep_target_ok(u->ep, ip)) < 0 || !port ||
	    !acl_permits(u->acl, (struct sockaddr *)&ss)) {
		char s[64];
		sockaddr_ip((struct sockaddr *)&ss, s, sizeof(s));
		log_debug(u->f.id, "lwip udp: %s refused: %s", s,
		          r < 0 ? uv_strerror(r) : "target ACL");
		dgram_drop(&u->f, r == UV_ENETUNREACH ? DGRAM_DROP_SEND : DGRAM_DROP_REFUSED, b);
		return;
	}
	if (!u->pcb && make_pcb(u) < 0) {
		dgram_drop(&u->f, DGRAM_DROP_QUEUE, b);
		return;
	}
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)b->len, PBUF_RAM);
	if (!p) {
		dgram_drop(&u->f, DGRAM_DROP_QUEUE, b);
		return;
	}
	memcpy(p->payload, sbuf_ptr(b), b->len);
	dgram_peers_add(&u->peers, (struct sockaddr *)&ss);
	lwipep_core_enter();
	e = udp_sendto(u->pcb, p, ip, port);
	lwipep_core_leave();
	pbuf_free(p);
	if (e != ERR_OK) {
		dgram_drop(&u->f, e == ERR_MEM || e == ERR_BUF ? DGRAM_DROP_QUEUE : DGRAM_DROP_SEND,
		           b);
		return;
	}
	u->f.sent++;
	lwipep_stats_of(u->ep)->udp_out++;
	sbuf_free(b);
}

/* The first resolved address that the checks let through. */
static void send_resolved(lwudp_t *u, const dns_result_t *res, uint16_t port, sbuf_t *b)
{
	ip_addr_t ip;

	for (size_t i = 0; i < res->n; i++) {
		struct sockaddr_storage ss;
		dns_addr_lwip(&res->addr[i], &ip);
		lwipep_sa_from_ip(&ip, port, &ss);
		if (lwipep_target_ok(u->ep, &ip) == 0 &&
		    acl_permits(u->acl, (struct sockaddr *)&ss)) {
			send_ip(u, &ip, port, b);
			return;
		}
	}
	dgram_drop(&u->f, DGRAM_DROP_REFUSED, b);
}

static void on_resolved(void *ud, int err, const dns_result_t *res)
{
	lwres_t *r = ud;
	lwudp_t *u = r->u;
	sbuf_t *b = r->b;
	uint16_t port = r->port;

	r->b = NULL;
	res_free(r);
	if (err < 0) {
		dgram_drop(&u->f, DGRAM_DROP_RESOLVE, b);
		return;
	}
	send_resolved(u, res, port, b);
}

static int lu_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	lwudp_t *u = (lwudp_t *)f;
	struct sockaddr_storage ss;
	dns_result_t res;
	lwres_t *r;
	ip_addr_t ip;

	if (b->len > DGRAM_MAX) {
		dgram_drop(f, DGRAM_DROP_SIZE, b);
		return UV_EMSGSIZE;
	}
	if (!u->ep || u->err) {
		dgram_drop(f, DGRAM_DROP_SEND, b);
		return 0;
	}
	if (target_is_ip(dst, &ss)) {
		lwipep_ip_from_sa((struct sockaddr *)&ss, &ip);
		send_ip(u, &ip, dst->port, b);
		return 0;
	}
	if (dns_cache_lookup(lwipep_resolver(u->ep), dst->host, lwipep_has6(u->ep), &res)) {
		send_resolved(u, &res, dst->port, b);
		return 0;
	}
	if (u->nres >= LWIPEP_UDP_RESOLVING) {
		dgram_drop(f, DGRAM_DROP_RESOLVE, b);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->u = u;
	r->port = dst->port;
	r->b = b;
	r->q = dns_resolve(lwipep_resolver(u->ep), dst->host, lwipep_has6(u->ep),
	                   lwipep_dns_ms(u->ep), on_resolved, r);
	if (!r->q) { /* not a host name, or no server */
		free(r);
		dgram_drop(f, DGRAM_DROP_RESOLVE, b);
		return 0;
	}
	queue_insert_head(&u->res, &r->link);
	u->nres++;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

static void lu_close(dgram_t *f)
{
	lwudp_t *u = (lwudp_t *)f;

	release(u);
	unlink_flow(u);
	uv_close((uv_handle_t *)&u->timer, on_closed);
}

static const dgram_ops_t lu_ops = {"lwip-udp", lu_send, lu_close};

static void on_timer(uv_timer_t *t)
{
	lwudp_t *u = t->data;

	dgram_fail(&u->f, u->err);
}

void lwudp_fail_all(queue_t *list, int err)
{
	queue_t *q;

	queue_foreach (q, list) {
		lwudp_t *u = queue_data(q, lwudp_t, link);
		if (u->err)
			continue;
		u->err = err;
		release(u);
		uv_timer_start(&u->timer, on_timer, 0, 0);
	}
}

void lwudp_orphan_all(queue_t *list)
{
	queue_t *q;

	while ((q = queue_first(list))) {
		lwudp_t *u = queue_data(q, lwudp_t, link);
		unlink_flow(u);
		u->ep = NULL;
	}
}

dial_t *lwipep_dgram(lwipep_t *ep, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	lwipep_stats_t *st = lwipep_stats_of(ep);
	lwudp_t *u;

	if (!lwipep_is_up(ep) || st->udp_flows_active >= LWIPEP_UDP_MAX)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	queue_init(&u->res);
	dgram_init(&u->f, &lu_ops, o->id);
	u->ep = ep;
	u->acl = o->acl;
	uv_timer_init(lwipep_loop(ep), &u->timer);
	u->timer.data = u;
	queue_insert_tail(lwipep_udp_list(ep), &u->link);
	st->udp_flows_total++;
	st->udp_flows_active++;
	return dgram_ready_soon(lwipep_loop(ep), &u->f, cb, ud);
}

void lwipep_dgram_cancel(dial_t *req)
{
	dgram_ready_cancel(req);
}

/* ---- listening UDP ports ----
 *
 * One pcb per port, bound to the endpoint's netif and to any address of
 * either family, like lwiplisten.c's TCP ones: it serves the address each
 * session gives.  Datagrams arrive from lwipep_input(); answers go from
 * the same pcb.  What to admit is the owner's (pktrev.c). */

struct lwipep_ulisten {
	lwipep_t *ep; /* NULL once the endpoint is freed */
	queue_t link; /* in the endpoint's list */
	struct udp_pcb *pcb;
	lwipep_urecv_cb cb;
	void *ud;
};

static void ul_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                    u16_t port)
{
	lwipep_ulisten_t *l = arg;
	struct sockaddr_storage ss;
	sbuf_t *b;

	if (!l->ep || p->tot_len > DGRAM_MAX) {
		pbuf_free(p);
		return;
	}
	lwipep_sa_from_ip(addr, port, &ss);
	b = sbuf_new(DGRAM_HEADROOM + p->tot_len);
	b->off = DGRAM_HEADROOM;
	b->len = p->tot_len;
	pbuf_copy_partial(p, sbuf_ptr(b), p->tot_len, 0);
	pbuf_free(p);
	lwipep_stats_of(l->ep)->udp_in++;
	l->cb(l->ud, (struct sockaddr *)&ss, b);
}

int lwipep_udp_listen(lwipep_t *ep, uint16_t port, lwipep_urecv_cb cb, void *ud,
                      lwipep_ulisten_t **out)
{
	lwipep_ulisten_t *l = calloc(1, sizeof(*l));
	err_t e = ERR_MEM;

	if (!l)
		abort();
	*out = NULL;
	lwipep_core_enter();
	l->pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (l->pcb) {
		udp_bind_netif(l->pcb, lwipep_netif(ep));
		if ((e = udp_bind(l->pcb, IP_ANY_TYPE, port)) != ERR_OK)
			udp_remove(l->pcb);
		else
			udp_recv(l->pcb, ul_recv, l);
	}
	lwipep_core_leave();
	if (e != ERR_OK) {
		free(l);
		return e == ERR_USE ? UV_EADDRINUSE : UV_ENOMEM;
	}
	l->ep = ep;
	l->cb = cb;
	l->ud = ud;
	queue_insert_tail(lwipep_ulisten_list(ep), &l->link);
	*out = l;
	return 0;
}

int lwipep_udp_sendto(lwipep_ulisten_t *l, const struct sockaddr *peer, sbuf_t *b)
{
	struct pbuf *p;
	ip_addr_t ip;
	err_t e;

	if (!l->ep || !lwipep_is_up(l->ep)) {
		sbuf_free(b);
		return UV_ENETDOWN;
	}
	if (b->len > DGRAM_MAX) {
		sbuf_free(b);
		return UV_EMSGSIZE;
	}
	if (!(p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)b->len, PBUF_RAM))) {
		sbuf_free(b);
		return UV_ENOBUFS;
	}
	memcpy(p->payload, sbuf_ptr(b), b->len);
	sbuf_free(b);
	lwipep_ip_from_sa(peer, &ip);
	lwipep_core_enter();
	e = udp_sendto(l->pcb, p, &ip, sockaddr_port(peer));
	lwipep_core_leave();
	pbuf_free(p);
	if (e != ERR_OK)
		return e == ERR_MEM || e == ERR_BUF ? UV_ENOBUFS : UV_EHOSTUNREACH;
	lwipep_stats_of(l->ep)->udp_out++;
	return 0;
}

static void ul_close_pcb(lwipep_ulisten_t *l)
{
	lwipep_core_enter();
	udp_remove(l->pcb);
	lwipep_core_leave();
	l->pcb = NULL;
}

void lwipep_udp_unlisten(lwipep_ulisten_t *l)
{
	if (!l)
		return;
	if (l->ep) {
		queue_remove(&l->link);
		ul_close_pcb(l);
	}
	free(l);
}

void lwulisten_orphan_all(queue_t *list)
{
	queue_t *q;

	while ((q = queue_pop(list))) {
		lwipep_ulisten_t *l = queue_data(q, lwipep_ulisten_t, link);
		ul_close_pcb(l);
		l->ep = NULL;
	}
}
