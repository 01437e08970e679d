/* pktrev: see pktrev.h.  How it works.
 *
 * A claim is one listening port of the hop's lwIP endpoint.  It listens
 * from the claim on, whether the session is up or not (the port is on
 * whatever address each session gives), until the claim is released.
 * The address in -R is not used: the session's address is the only one.
 *
 *   listen    lwipep_listen(port); claimed (or ended, when the port is
 *             taken) is reported from the claim's timer, never from inside
 *             the call
 *   accept    lwIP completed a handshake: the guard rails (reverse-allow,
 *             reverse-max-conns over every accepted connection of the
 *             endpoint, reverse-rate per host, REV_PENDING_MAX waiting)
 *             reset what they refuse; the rest waits, read-stopped, under
 *             a number of ours, and the owner is told (cbs->accept)
 *   join      the owner reached its target: the waiting stream is its own
 *   refuse    it could not: the stream is closed with a FIN (its unread
 *             request is read and dropped until the peer closes too, or
 *             REV_JOIN_MS: closing with unread data would reset it)
 *
 * The half-open handshakes are capped by the endpoint (lwiplisten.c).  A
 * waiting connection goes after REV_JOIN_MS (the timer sweeps every
 * second), or when it fails (the peer resets it, the session drops).
 *
 * A UDP claim (-R udp://) is a listening UDP port of the endpoint
 * (lwipep_udp_listen).  Each source address is a flow (rev_flows_t): a
 * datagram from a new one passes reverse-allow, reverse-rate (new flows
 * per host and second) and the cap on flows (reverse-max-conns, at most
 * REV_UDP_FLOWS), else it is dropped; then the owner gets it
 * (cbs->dgram).  The owner's answers go only to live flows; a flow ends
 * after reverse-udp-idle (60 s) without a datagram (the sweep).
 */
#include "netstack/pktrev.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/conn.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/queue.h"
#include "core/ratelimit.h"
#include "netstack/pkthop.h"

#define RATE_SLOTS 1024
#define SWEEP_MS 1000

typedef struct pconn {
	queue_t link; /* in the claim's pend */
	rev_claim_t *c;
	uint64_t conn, since;
	stream_t *s;
} pconn_t;

struct rev_claim {
	pkthop_t *h;
	lwipep_listen_t *l;
	target_t bind;
	const rev_cbs_t *cbs;
	void *ud;
	acl_t clients;
	ratelimit_t *rl;
	queue_t pend;
	rev_gone_t gone;
	size_t npend;
	uint64_t next_conn;
	lwipep_ulisten_t *ul; /* a UDP claim's port */
	rev_flows_t flows;    /* and its peers */
	uv_timer_t timer;     /* the first report, then the sweep */
	int err;              /* the port could not be had */
	unsigned reported : 1, udp : 1;
};

static void pend_free(pconn_t *p, int reset)
{
	queue_remove(&p->link);
	p->c->npend--;
	if (reset)
		stream_reset(p->s);
	else
		stream_close(p->s);
	free(p);
}

/* Nobody will serve p: a FIN, and what it sent is dropped (rev_gone_t). */
static void pend_drop(pconn_t *p)
{
	queue_remove(&p->link);
	p->c->npend--;
	rev_gone_add(&p->c->gone, p->s, uv_now(p->c->timer.loop));
	free(p);
}

static pconn_t *pend_find(rev_claim_t *c, uint64_t conn)
{
	queue_t *q;

	queue_foreach (q, &c->pend) {
		pconn_t *p = queue_data(q, pconn_t, link);
		if (p->conn == conn)
			return p;
	}
	return NULL;
}

/* A waiting connection failed (reset by its peer, the session went). */
static void pend_error(stream_t *s, int err)
{
	pconn_t *p = s->data;

	log_debug(s->id, "%s: reverse :%u: a waiting connection failed: %s", pkthop_name(p->c->h),
	          p->c->bind.port, uv_strerror(err));
	pend_free(p, 0);
}

static void pend_read(stream_t *s, sbuf_t *b)
{
	sbuf_free(b); /* not reading: never called */
}

static void pend_drain(stream_t *s) {}

static const stream_cbs_t pend_cbs = {pend_read, pend_drain, pend_error};

static int on_accept(void *ud, stream_t *s, const struct sockaddr *peer)
{
	rev_claim_t *c = ud;
	const pkthop_opts_t *o = pkthop_opts_of(c->h);
	uv_loop_t *loop = c->timer.loop;
	const char *why = NULL;
	lwipep_stats_t st;
	char ps[64];
	pconn_t *p;

	sockaddr_str(peer, ps, sizeof(ps));
	lwipep_get_stats(pkthop_ep(c->h), &st);
	if (!acl_permits(&c->clients, peer))
		why = "host not allowed (reverse-allow)";
	else if (st.accepts_active > o->rev_max)
		why = "too many connections (reverse-max-conns)";
	else if (c->npend >= REV_PENDING_MAX)
		why = "too many connections waiting for their target";
	else if (c->rl && !ratelimit_allow(c->rl, peer, uv_now(loop)))
		why = "connection rate exceeded (reverse-rate)";
	if (why) {
		log_info(s->id, "%s: reverse :%u: refused %s: %s", pkthop_name(c->h), c->bind.port,
		         ps, why);
		return UV_EACCES;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->c = c;
	p->s = s;
	p->conn = ++c->next_conn;
	p->since = uv_now(loop);
	stream_set_cbs(s, &pend_cbs, p);
	queue_insert_tail(&c->pend, &p->link);
	c->npend++;
	c->cbs->accept(c->ud, p->conn, ps);
	return 0;
}

static void claim_freed(uv_handle_t *t)
{
	free(t->data);
}

static void claim_close(rev_claim_t *c)
{
	lwipep_unlisten(c->l);
	c->l = NULL;
	lwipep_udp_unlisten(c->ul);
	c->ul = NULL;
	rev_flows_clear(&c->flows, pkthop_name(c->h));
	while (!queue_empty(&c->pend))
		pend_free(queue_data(queue_first(&c->pend), pconn_t, link), 1);
	rev_gone_close(&c->gone);
	acl_free(&c->clients);
	ratelimit_free(c->rl);
	c->rl = NULL;
	uv_close((uv_handle_t *)&c->timer, claim_freed);
}

static void on_timer(uv_timer_t *t)
{
	rev_claim_t *c = t->data;
	uint64_t now = uv_now(t->loop);

	if (!c->reported) {
		c->reported = 1;
		if (c->err) {
			char why[200];
			snprintf(why, sizeof(why), "port %u inside the tunnel: %s", c->bind.port,
			         uv_strerror(c->err));
			c->cbs->ended(c->ud, c->err, why);
			claim_close(c);
			return;
		}
		struct in_addr a = pkthop_address(c->h);
		target_t bound;
		char ip[INET_ADDRSTRLEN] = "0.0.0.0";
		if (a.s_addr)
			inet_ntop(AF_INET, &a, ip, sizeof(ip));
		target_set(&bound, ip, c->bind.port);
		c->cbs->claimed(c->ud, &bound);
		uv_timer_start(t, on_timer, SWEEP_MS, SWEEP_MS);
		return;
	}
	while (!queue_empty(&c->pend)) {
		pconn_t *p = queue_data(queue_first(&c->pend), pconn_t, link);
		if (now - p->since < REV_JOIN_MS)
			break;
		log_info(p->s->id, "%s: reverse :%u: the target was not reached in time",
		         pkthop_name(c->h), c->bind.port);
		pend_drop(p);
	}
	rev_gone_sweep(&c->gone, now);
	rev_flows_sweep(&c->flows, now,
	                pkthop_opts_of(c->h)->rev_udp_idle ? pkthop_opts_of(c->h)->rev_udp_idle
	                                                   : REV_UDP_IDLE_MS,
	                pkthop_name(c->h));
}

/* A datagram to a UDP claim's port: a flow's, or a new flow's if the
 * guard rails let it in. */
static void on_udp(void *ud, const struct sockaddr *peer, sbuf_t *b)
{
	rev_claim_t *c = ud;
	const pkthop_opts_t *o = pkthop_opts_of(c->h);
	uint64_t now = uv_now(c->timer.loop);
	rev_flow_t *f = rev_flows_find(&c->flows, peer);
	const char *why = NULL;
	char ip[64];
	target_t t;

	if (!f) {
		if (!acl_permits(&c->clients, peer))
			why = "host not allowed (reverse-allow)";
		else if (c->flows.n >= o->rev_max || c->flows.n >= REV_UDP_FLOWS)
			why = "too many flows (reverse-max-conns)";
		else if (c->rl && !ratelimit_allow(c->rl, peer, now))
			why = "flow rate exceeded (reverse-rate)";
		if (why) {
			sockaddr_str(peer, ip, sizeof(ip));
			log_debug(0, "%s: reverse udp :%u: dropped %s: %s", pkthop_name(c->h),
			          c->bind.port, ip, why);
			dgram_drops[DGRAM_DROP_REFUSED]++;
			sbuf_free(b);
			return;
		}
		f = rev_flows_add(&c->flows, peer, sizeof(*f), conn_next_id(), now);
	}
	rev_flows_touch(&c->flows, f, now);
	sockaddr_ip(peer, ip, sizeof(ip));
	target_set(&t, ip, sockaddr_port(peer));
	c->cbs->dgram(c->ud, &t, b);
}

static rev_claim_t *claim_new(dialer_t *d, int udp, const target_t *bind, const rev_cbs_t *cbs,
                              void *ud)
{
	pkthop_t *h = (pkthop_t *)d; /* pkthop's dialer is its first member */
	const pkthop_opts_t *o = pkthop_opts_of(h);
	rev_claim_t *c = calloc(1, sizeof(*c));
	char bad[128];

	if (!c)
		abort();
	c->udp = udp;
	c->h = h;
	c->bind = *bind;
	c->cbs = cbs;
	c->ud = ud;
	queue_init(&c->pend);
	rev_gone_init(&c->gone);
	rev_flows_init(&c->flows, NULL, NULL);
	if (o->rev_allow)
		cidr_list_add(&c->clients.allow, o->rev_allow, bad, sizeof(bad)); /* checked */
	if (o->rev_rate)
		c->rl = ratelimit_new((double)o->rev_rate, (double)o->rev_rate * 2, RATE_SLOTS);
	uv_timer_init(d->loop, &c->timer);
	c->timer.data = c;
	c->err = c->udp ? lwipep_udp_listen(pkthop_ep(h), bind->port, on_udp, c, &c->ul)
	                : lwipep_listen(pkthop_ep(h), bind->port, 0, on_accept, c, &c->l);
	if (!c->err)
		log_info(0, "%s: reverse: listening on %s port %u of the session's address",
		         pkthop_name(h), c->udp ? "UDP" : "TCP", bind->port);
	uv_timer_start(&c->timer, on_timer, 0, 0);
	return c;
}

static rev_claim_t *pr_listen(dialer_t *d, const target_t *bind, const rev_cbs_t *cbs, void *ud)
{
	return claim_new(d, 0, bind, cbs, ud);
}

static void pr_release(dialer_t *d, rev_claim_t *c)
{
	claim_close(c);
}

static stream_t *pr_join(dialer_t *d, rev_claim_t *c, uint64_t conn, uint64_t id)
{
	pconn_t *p = pend_find(c, conn);
	stream_t *s;

	if (!p)
		return NULL;
	s = p->s;
	queue_remove(&p->link);
	c->npend--;
	free(p);
	s->id = id;
	stream_set_cbs(s, NULL, NULL); /* the owner's next */
	return s;
}

static void pr_refuse(dialer_t *d, rev_claim_t *c, uint64_t conn)
{
	pconn_t *p = pend_find(c, conn);

	if (p)
		pend_drop(p);
}

static rev_claim_t *pr_listen_udp(dialer_t *d, const target_t *bind, const rev_cbs_t *cbs, void *ud)
{
	return claim_new(d, 1, bind, cbs, ud);
}

/* An answer to a UDP claim's peer: only to a live flow. */
static int pr_send(dialer_t *d, rev_claim_t *c, const target_t *peer, sbuf_t *b)
{
	struct sockaddr_storage ss;
	rev_flow_t *f;
	int r;

	if (!c->ul || !target_is_ip(peer, &ss) ||
	    !(f = rev_flows_find(&c->flows, (struct sockaddr *)&ss))) {
		dgram_drops[DGRAM_DROP_STRANGER]++;
		sbuf_free(b);
		return UV_ENOENT;
	}
	rev_flows_touch(&c->flows, f, uv_now(c->timer.loop));
	if ((r = lwipep_udp_sendto(c->ul, (struct sockaddr *)&ss, b)) < 0)
		dgram_drops[dgram_drop_why(r)]++;
	return r;
}

const rev_hop_ops_t pktrev_ops = {.listen = pr_listen,
                                  .release = pr_release,
                                  .join = pr_join,
                                  .refuse = pr_refuse,
                                  .listen_udp = pr_listen_udp,
                                  .send = pr_send};
