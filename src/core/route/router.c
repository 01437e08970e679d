/* router: the routing's dialer, which picks a chain per destination by
 * the rules (see routing.h for what it decides, routing.c for how the
 * routing is built, routing_priv.h for the structures they share).
 *
 * A router dial: RULES (rules_match) -> [RESOLVING: uv_getaddrinfo, then
 * rules_match_addr, only as routing.h says] -> DIALING (the chosen
 * chain's dial) -> done; or BLOCKED, reported from a timer.  A cancel
 * while resolving marks the request, freed when the resolver returns.
 *
 * A router flow: one inner flow per route (each action of the rules, and
 * "no rule matched"), opened through dgram_open() on the first datagram
 * routed there, so the inner flow holds datagrams while its chain opens.
 * Names that need an address for a CIDR rule are resolved a few at a
 * time (RF_NAMES), their datagrams held meanwhile (dgram_hq), the answer
 * kept RF_NAME_TTL_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dgram.h"
#include "core/log.h"
#include "core/route/routing_priv.h"

#define RF_NAMES 8
#define RF_NAME_ADDRS 4
#define RF_NAME_TTL_MS 30000
#define RF_OPEN_TIMEOUT_MS 10000

/* ---- deciding ---- */

/* Where a hit sends: its chain, or NULL to block; no rule: "default". */
static dialer_t *route_of(const routing_t *rt, rule_hit_t h)
{
	if (h.index == RULE_NONE)
		return rt->chains[0].head;
	return rt->act[h.action];
}

/* A name may be resolved here for a CIDR rule when its route is this
 * host (direct, or a chain without hops) or nowhere (block). */
static int may_resolve(const routing_t *rt, rule_hit_t h)
{
	dialer_t *via = route_of(rt, h);

	return !via || (dialer_caps(via) & HOP_HOST);
}

static const char *route_name(const routing_t *rt, rule_hit_t h)
{
	return h.index == RULE_NONE ? "default" : rules_action_name(rt->rules, h.action);
}

static void describe_hit(const routing_t *rt, rule_hit_t h, char *buf, size_t len)
{
	char where[300], text[400];
	rule_t r;

	if (h.index == RULE_NONE) {
		snprintf(buf, len, "no rule matched");
		return;
	}
	rules_where(rt->rules, h.index, where, sizeof(where));
	rules_get(rt->rules, h.index, &r);
	rule_format(&r, text, sizeof(text));
	snprintf(buf, len, "%s %s", where, text);
}

/* The first CIDR rule above h that holds one of addrs: the new hit, and
 * the address it saw (ip, for the target); h unchanged if none. */
static rule_hit_t hit_addrs(const routing_t *rt, rule_hit_t h, const struct sockaddr *const *addrs,
                            size_t n, char *ip, size_t iplen)
{
	for (size_t i = 0; i < n; i++) {
		rule_hit_t a = rules_match_addr(rt->rules, addrs[i], h.index);
		if (a.index != RULE_NONE && a.index < h.index) {
			h = a;
			sockaddr_ip(addrs[i], ip, iplen);
		}
	}
	return h;
}

/* ---- the router's dials ---- */

typedef struct rreq {
	routing_t *rt;
	target_t t;
	dial_opts_t o;
	dial_cb cb;
	void *ud;
	rule_hit_t hit;
	dialer_t *via;
	dial_t *inner;
	uv_getaddrinfo_t gai;
	uv_timer_t *timer;
	char name[256]; /* the name, when a CIDR rule turned the target into an address */
	int err;
	unsigned resolving : 1, canceled : 1;
} rreq_t;

static routing_t *router_rt(dialer_t *d)
{
	return (routing_t *)((char *)d - offsetof(routing_t, router));
}

static void rreq_free(rreq_t *q)
{
	if (q->timer)
		uv_close((uv_handle_t *)q->timer, (uv_close_cb)free);
	free(q);
}

static void rr_done(void *ud, stream_t *s, int err)
{
	rreq_t *q = ud;
	dial_cb cb = q->cb;
	void *cud = q->ud;

	q->inner = NULL;
	rreq_free(q);
	cb(cud, s, err);
}

static void rr_failed(uv_timer_t *t)
{
	rreq_t *q = t->data;

	rr_done(q, NULL, q->err);
}

static void rr_fail_soon(rreq_t *q, int err)
{
	q->err = err;
	q->timer = malloc(sizeof(*q->timer));
	if (!q->timer)
		abort();
	uv_timer_init(q->rt->loop, q->timer);
	q->timer->data = q;
	uv_timer_start(q->timer, rr_failed, 0, 0);
}

static void rr_dispatch(rreq_t *q)
{
	routing_t *rt = q->rt;
	char ts[300], why[800];

	q->via = route_of(rt, q->hit);
	rt->count[q->hit.index == RULE_NONE ? rt->nact : q->hit.action]++;
	describe_hit(rt, q->hit, why, sizeof(why));
	if (q->name[0]) {
		target_t named = q->t;
		target_set(&named, q->name, q->t.port);
		target_str(&named, ts, sizeof(ts));
		log_info(q->o.id, "route %s as %s: %s (%s)", ts, q->t.host, route_name(rt, q->hit),
		         why);
	} else {
		target_str(&q->t, ts, sizeof(ts));
		log_info(q->o.id, "route %s: %s (%s)", ts, route_name(rt, q->hit), why);
	}
	if (!q->via) {
		if (q->o.why && q->o.whylen) { /* the client sees the rule, not where it is kept */
			rule_t r;
			char text[400] = "of the default";
			if (q->hit.index != RULE_NONE) {
				rules_get(rt->rules, q->hit.index, &r);
				rule_format(&r, text, sizeof(text));
			}
			snprintf(q->o.why, q->o.whylen, "blocked by the rule %s", text);
		}
		rr_fail_soon(q, UV_EACCES);
		return;
	}
	if (!(q->inner = q->via->ops->dial(q->via, &q->t, &q->o, rr_done, q)))
		rr_fail_soon(q, UV_ENOMEM);
}

static void rr_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
	rreq_t *q = gai->data;
	const struct sockaddr *addrs[16];
	char ip[64] = "";
	size_t n = 0;

	q->resolving = 0;
	if (q->canceled) {
		if (res)
			uv_freeaddrinfo(res);
		rreq_free(q);
		return;
	}
	for (struct addrinfo *a = res; a && n < 16; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			addrs[n++] = a->ai_addr;
	if (status < 0)
		log_debug(q->o.id, "route: %s did not resolve here (%s): the rules above decide",
		          q->t.host, uv_strerror(status));
	q->hit = hit_addrs(q->rt, q->hit, addrs, n, ip, sizeof(ip));
	if (ip[0]) { /* a CIDR rule decided: the connection goes where it looked */
		snprintf(q->name, sizeof(q->name), "%s", q->t.host);
		target_set(&q->t, ip, q->t.port);
	}
	if (res)
		uv_freeaddrinfo(res);
	rr_dispatch(q);
}

static dial_t *router_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                           void *ud)
{
	routing_t *rt = router_rt(d);
	rreq_t *q = calloc(1, sizeof(*q));
	route_query_t rq = {.host = t->host, .port = t->port, .client = o->peer};
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int need;

	if (!q)
		abort();
	q->rt = rt;
	q->t = *t;
	q->o = *o;
	q->cb = cb;
	q->ud = ud;
	q->hit = rules_match(rt->rules, &rq, &need);
	if (need && may_resolve(rt, q->hit)) {
		q->gai.data = q;
		q->resolving = 1;
		if (uv_getaddrinfo(rt->loop, &q->gai, rr_resolved, t->host, NULL, &hints) == 0)
			return (dial_t *)q;
		q->resolving = 0;
	}
	rr_dispatch(q);
	return (dial_t *)q;
}

static void router_cancel(dialer_t *d, dial_t *req)
{
	rreq_t *q = (rreq_t *)req;

	if (q->resolving) {
		q->canceled = 1;
		uv_cancel((uv_req_t *)&q->gai);
		return;
	}
	if (q->inner)
		q->via->ops->cancel(q->via, q->inner);
	rreq_free(q);
}

/* ---- the router's datagram flows ---- */

typedef struct rflow rflow_t;

typedef struct rin {
	rflow_t *rf;
	dgram_t *f;
	int told; /* refused, logged once */
} rin_t;

typedef struct rname {
	rflow_t *rf; /* NULL: the flow closed while this resolved */
	char host[256];
	uv_getaddrinfo_t gai;
	struct sockaddr_storage addr[RF_NAME_ADDRS];
	size_t naddr;
	uint64_t at;
	dgram_hq_t held;
	int resolving;
} rname_t;

struct rflow {
	dgram_t f;
	routing_t *rt;
	dial_opts_t o;
	struct sockaddr_storage peer;
	rin_t *in; /* per action, and [nact] for "no rule" */
	rname_t *names[RF_NAMES];
};

static void rin_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	rin_t *in = f->data;

	dgram_deliver(&in->rf->f, src, b);
}

static void rin_error(dgram_t *f, int err)
{
	rin_t *in = f->data;

	log_info(in->rf->f.id, "route: a datagram flow ended (%s); the next datagram opens another",
	         uv_strerror(err));
	dgram_close(f);
	in->f = NULL;
}

static const dgram_cbs_t rin_cbs = {rin_recv, rin_error, NULL};

static void rf_deliver(rflow_t *rf, rule_hit_t h, const target_t *dst, sbuf_t *b)
{
	routing_t *rt = rf->rt;
	size_t slot = h.index == RULE_NONE ? rt->nact : h.action;
	rin_t *in = &rf->in[slot];
	dialer_t *via = route_of(rt, h);
	const dialer_t *stop;
	char ts[300], hop[300];

	rt->count[slot]++;
	if (!via || (stop = chain_dgram_blocker(via))) {
		if (!in->told) {
			target_str(dst, ts, sizeof(ts));
			if (via)
				dialer_name(stop, hop, sizeof(hop));
			log_info(rf->f.id, "route: UDP to %s refused: %s%s%s", ts,
			         via ? "the chain's hop " : "blocked by the rules", via ? hop : "",
			         via ? " cannot carry datagrams" : "");
			in->told = 1;
		}
		dgram_drop(&rf->f, DGRAM_DROP_REFUSED, b);
		return;
	}
	if (!in->f)
		in->f = dgram_open(via, &rf->o, RF_OPEN_TIMEOUT_MS, &rin_cbs, in);
	rf->f.sent++;
	dgram_send(in->f, dst, b);
}

/* With a resolved name: the CIDR rules above h decide. */
static void rf_route_resolved(rflow_t *rf, const rname_t *n, rule_hit_t h, const target_t *dst,
                              sbuf_t *b)
{
	const struct sockaddr *addrs[RF_NAME_ADDRS];
	target_t t = *dst;
	char ip[64] = "";

	for (size_t i = 0; i < n->naddr; i++)
		addrs[i] = (const struct sockaddr *)&n->addr[i];
	h = hit_addrs(rf->rt, h, addrs, n->naddr, ip, sizeof(ip));
	if (ip[0])
		target_set(&t, ip, dst->port);
	rf_deliver(rf, h, &t, b);
}

static rule_hit_t rf_match(rflow_t *rf, const target_t *dst, int *need)
{
	route_query_t q = {.host = dst->host, .port = dst->port, .client = rf->o.peer, .udp = 1};

	return rules_match(rf->rt->rules, &q, need);
}

static void rname_free(rname_t *n)
{
	dgram_hq_clear(&n->held);
	free(n);
}

static void rf_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
	rname_t *n = gai->data;
	rflow_t *rf = n->rf;
	target_t dst;
	sbuf_t *b;
	int need;

	n->resolving = 0;
	n->naddr = 0;
	for (struct addrinfo *a = res; status == 0 && a && n->naddr < RF_NAME_ADDRS; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			memcpy(&n->addr[n->naddr++], a->ai_addr, a->ai_addrlen);
	if (res)
		uv_freeaddrinfo(res);
	if (!rf) {
		rname_free(n);
		return;
	}
	n->at = uv_now(rf->rt->loop);
	while (dgram_hq_pop(&n->held, &dst, &b))
		rf_route_resolved(rf, n, rf_match(rf, &dst, &need), &dst, b);
}

/* The resolution of host: one under way or recent, or a new one (the
 * oldest finished one makes room); NULL when all RF_NAMES are resolving. */
static rname_t *rf_name(rflow_t *rf, const char *host, int *fresh)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	uint64_t now = uv_now(rf->rt->loop);
	rname_t *n;
	size_t slot = RF_NAMES;

	*fresh = 0;
	for (size_t i = 0; i < RF_NAMES; i++) {
		n = rf->names[i];
		if (n && !strcmp(n->host, host) && (n->resolving || now - n->at < RF_NAME_TTL_MS))
			return n;
	}
	for (size_t i = 0; i < RF_NAMES; i++) {
		n = rf->names[i];
		if (!n || (!n->resolving &&
		           (slot == RF_NAMES || !rf->names[slot] || n->at < rf->names[slot]->at)))
			slot = i;
		if (!n)
			break;
	}
	if (slot == RF_NAMES)
		return NULL;
	if (rf->names[slot])
		rname_free(rf->names[slot]);
	n = calloc(1, sizeof(*n));
	if (!n)
		abort();
	n->rf = rf;
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->gai.data = n;
	n->resolving = 1;
	rf->names[slot] = n;
	if (uv_getaddrinfo(rf->rt->loop, &n->gai, rf_resolved, host, NULL, &hints) < 0) {
		n->resolving = 0;
		n->at = now;
	} else {
		*fresh = 1;
	}
	return n;
}

static int rf_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	rflow_t *rf = (rflow_t *)f;
	rule_hit_t h;
	rname_t *n;
	int need, fresh;

	h = rf_match(rf, dst, &need);
	if (!need || !may_resolve(rf->rt, h)) {
		rf_deliver(rf, h, dst, b);
		return 0;
	}
	if (!(n = rf_name(rf, dst->host, &fresh))) {
		dgram_drop(f, DGRAM_DROP_RESOLVE, b);
		return 0;
	}
	if (n->resolving) {
		if (dgram_hq_push(&n->held, dst, b) < 0)
			dgram_drop(f, DGRAM_DROP_QUEUE, NULL);
		return 0;
	}
	rf_route_resolved(rf, n, h, dst, b);
	return 0;
}

static void rf_close(dgram_t *f)
{
	rflow_t *rf = (rflow_t *)f;

	for (size_t i = 0; i <= rf->rt->nact; i++)
		dgram_close(rf->in[i].f);
	for (size_t i = 0; i < RF_NAMES; i++) {
		rname_t *n = rf->names[i];
		if (!n)
			continue;
		if (n->resolving) {
			n->rf = NULL; /* freed when the resolver returns */
			dgram_hq_clear(&n->held);
			uv_cancel((uv_req_t *)&n->gai);
		} else {
			rname_free(n);
		}
	}
	free(rf->in);
	routing_unref(rf->rt);
	free(rf);
}

static const dgram_ops_t rflow_ops = {"rules", rf_send, rf_close};

static dial_t *router_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	routing_t *rt = router_rt(d);
	rflow_t *rf = calloc(1, sizeof(*rf));

	if (!rf)
		abort();
	dgram_init(&rf->f, &rflow_ops, o->id);
	rf->rt = routing_ref(rt);
	rf->o = *o;
	rf->o.why = NULL;
	rf->o.cred = NULL;
	if (o->peer) {
		memcpy(&rf->peer, o->peer,
		       o->peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                      : sizeof(struct sockaddr_in));
		rf->o.peer = (struct sockaddr *)&rf->peer;
	}
	rf->in = calloc(rt->nact + 1, sizeof(*rf->in));
	if (!rf->in)
		abort();
	for (size_t i = 0; i <= rt->nact; i++)
		rf->in[i].rf = rf;
	return dgram_ready_soon(rt->loop, &rf->f, cb, ud);
}

static void router_dgram_cancel(dialer_t *d, dial_t *req)
{
	dgram_ready_cancel(req);
}

/* A dns:// listener through the rules asks the route of everything else:
 * MATCH's chain, or default. */
static int router_dns(const dialer_t *d, struct sockaddr_storage *out, size_t max)
{
	routing_t *rt = router_rt((dialer_t *)d);
	uint32_t m = rules_first_match_all(rt->rules);
	rule_hit_t h = {m, m == RULE_NONE ? 0 : rules_action_of(rt->rules, m)};
	dialer_t *via = route_of(rt, h);

	return via ? chain_dns_servers(via, out, max) : UV_ENOTSUP;
}

static void router_free(dialer_t *d)
{
	/* part of the routing */
}

const dialer_ops_t router_ops = {
    .scheme = "rules",
    .dial = router_dial,
    .cancel = router_cancel,
    .free = router_free,
    .dgram = router_dgram,
    .dgram_cancel = router_dgram_cancel,
    .dns_servers = router_dns,
    .caps = HOP_STREAMS | HOP_DATAGRAMS,
};
