/* pkthop: see pkthop.h.
 *
 * States: IDLE (no session; a timer starts one) -> STARTING (the link
 * module is opening it) -> UP (lwIP has addresses, dials go straight to
 * it) -> IDLE again on link down.  Dials made while not UP wait in a list;
 * each is an entry the caller can cancel, and dial_start()'s timeout is the
 * bound on how long it waits.
 */
#include "netstack/pkthop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/queue.h"
#include "netstack/pktrev.h"

#define BACKOFF_MIN 1000
#define BACKOFF_MAX 30000
#define MAX_WAITING 4096

enum { PH_IDLE, PH_STARTING, PH_UP };
static const char *const ph_names[] = {"idle", "starting", "up"};

typedef struct pwait {
	queue_t link; /* in h->waiting */
	pkthop_t *h;
	target_t t;
	dial_opts_t o;
	dial_cb cb;
	dgram_cb dcb; /* a datagram flow instead of a connection */
	void *ud;
	lwipep_dial_t *inner;
	dial_t *dinner;
	int failing; /* dinner is the timer that reports the failure */
} pwait_t;

struct pkthop {
	dialer_t d; /* our face to listeners; d.next reaches the server */
	const pktlink_ops_t *ops;
	void *link;
	lwipep_t *ep;
	char name[160];
	int state;
	uv_timer_t timer;
	uint64_t backoff;
	queue_t waiting; /* pwait_t.link: not yet handed to lwIP */
	size_t nwaiting;
	uint64_t sessions, drops;
	lwipep_addr_t addr;
	uint64_t up_since;
	uint64_t dev_in, dev_out; /* packets that bypass lwIP (pkthop_link_count) */
	pkthop_opts_t o;          /* rev_allow: a copy of our own */
	char why[160];            /* why the last session went down, or "" */
};

static void set_state(pkthop_t *h, int s)
{
	log_debug(0, "%s: session %s -> %s", h->name, ph_names[h->state], ph_names[s]);
	h->state = s;
}

static int ep_out(void *ud, const uint8_t *pkt, size_t len)
{
	pkthop_t *h = ud;

	if (h->state != PH_UP)
		return UV_ENETDOWN;
	return h->ops->send(h, pkt, len);
}

static void unlink_wait(pkthop_t *h, pwait_t *w)
{
	queue_remove(&w->link);
	h->nwaiting--;
}

static void on_connected(void *ud, stream_t *s, int err)
{
	pwait_t *w = ud;
	dial_cb cb = w->cb;
	void *cud = w->ud;

	w->inner = NULL;
	free(w);
	cb(cud, s, err);
}

static void on_flow(void *ud, dgram_t *f, int err)
{
	pwait_t *w = ud;
	dgram_cb cb = w->dcb;
	void *cud = w->ud;

	w->dinner = NULL;
	free(w);
	cb(cud, f, err);
}

static void free_handle(uv_handle_t *t)
{
	free(t);
}

static void on_flow_failed(uv_timer_t *t)
{
	pwait_t *w = t->data;

	uv_close((uv_handle_t *)t, free_handle);
	on_flow(w, NULL, UV_EMFILE);
}

/* Hand a waiting dial to lwIP. */
static void launch(pkthop_t *h, pwait_t *w)
{
	if (!w->dcb) {
		w->inner = lwipep_connect(h->ep, &w->t, &w->o, on_connected, w);
		return;
	}
	if (!(w->dinner = lwipep_dgram(h->ep, &w->o, on_flow, w))) {
		/* too many flows: said on a later turn, like any failure */
		uv_timer_t *t = malloc(sizeof(*t));
		if (!t)
			abort();
		uv_timer_init(h->d.loop, t);
		t->data = w;
		uv_timer_start(t, on_flow_failed, 0, 0);
		w->dinner = (dial_t *)t; /* cancelled with it */
		w->failing = 1;
	}
}

static void on_timer(uv_timer_t *t);

static void start_session(pkthop_t *h)
{
	int r;

	set_state(h, PH_STARTING);
	h->sessions++;
	r = h->ops->start(h);
	if (r < 0) {
		log_warn(0, "%s: cannot start a session: %s", h->name, uv_strerror(r));
		snprintf(h->why, sizeof(h->why), "cannot start a session: %s", uv_strerror(r));
		set_state(h, PH_IDLE);
		uv_timer_start(&h->timer, on_timer, h->backoff, 0);
		h->backoff = h->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : h->backoff * 2;
	}
}

static void on_timer(uv_timer_t *t)
{
	pkthop_t *h = t->data;

	if (h->state == PH_IDLE)
		start_session(h);
}

void pkthop_link_up(pkthop_t *h, const lwipep_addr_t *a)
{
	char l[INET_ADDRSTRLEN], p[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN] = "none";
	int r;

	h->addr = *a;
	r = lwipep_set_addr(h->ep, a);
	if (r < 0) {
		log_err(0, "%s: the session's addresses are unusable: %s", h->name, uv_strerror(r));
		h->ops->stop(h);
		pkthop_link_down(h, "bad addresses");
		return;
	}
	inet_ntop(AF_INET, &a->local, l, sizeof(l));
	inet_ntop(AF_INET, &a->peer, p, sizeof(p));
	if (a->dns4[0].s_addr)
		inet_ntop(AF_INET, &a->dns4[0], d, sizeof(d));
	log_info(0, "%s: session up: address %s, peer %s, DNS %s, MTU %u", h->name, l, p, d,
	         a->mtu ? a->mtu : 1500);
	set_state(h, PH_UP);
	h->up_since = uv_now(h->d.loop);
	h->why[0] = 0;
	h->backoff = BACKOFF_MIN;
	while (!queue_empty(&h->waiting)) {
		pwait_t *w = queue_data(queue_first(&h->waiting), pwait_t, link);
		unlink_wait(h, w);
		launch(h, w);
	}
}

void pkthop_link_input(pkthop_t *h, const uint8_t *pkt, size_t len)
{
	if (h->state == PH_UP)
		lwipep_input(h->ep, pkt, len);
}

void pkthop_link_down(pkthop_t *h, const char *why)
{
	int was = h->state;

	if (was == PH_IDLE)
		return;
	log_info(0, "%s: session down (%s); reconnecting in %llu ms", h->name, why,
	         (unsigned long long)h->backoff);
	h->drops++;
	snprintf(h->why, sizeof(h->why), "%s", why);
	set_state(h, PH_IDLE);
	if (was == PH_UP)
		lwipep_down(h->ep, UV_ECONNRESET);
	uv_timer_start(&h->timer, on_timer, h->backoff, 0);
	h->backoff = h->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : h->backoff * 2;
}

/* ---- the dialer ---- */

static dial_t *ph_open(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                       dgram_cb dcb, void *ud)
{
	pkthop_t *h = (pkthop_t *)d;
	pwait_t *w;

	if (h->nwaiting >= MAX_WAITING)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	w->h = h;
	if (t)
		w->t = *t;
	w->o = *o;
	w->cb = cb;
	w->dcb = dcb;
	w->ud = ud;
	if (h->state == PH_UP) {
		launch(h, w);
		return (dial_t *)w;
	}
	queue_insert_head(&h->waiting, &w->link);
	h->nwaiting++;
	log_debug(o->id, "%s: waiting for the session", h->name);
	if (h->state == PH_IDLE && !uv_is_active((uv_handle_t *)&h->timer))
		uv_timer_start(&h->timer, on_timer, 0, 0);
	return (dial_t *)w;
}

static dial_t *ph_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud)
{
	return ph_open(d, t, o, cb, NULL, ud);
}

/* A datagram flow: UDP pcbs on the endpoint, once the session is up. */
static dial_t *ph_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	return ph_open(d, NULL, o, NULL, cb, ud);
}

/* The name servers the session gave (IPCP, the VPN's ACCEPT), else dns=. */
static int ph_dns_servers(const dialer_t *d, struct sockaddr_storage *out, size_t max)
{
	const pkthop_t *h = (const pkthop_t *)d;

	return h->state == PH_UP ? lwipep_dns_servers(h->ep, out, max) : 0;
}

static void ph_cancel(dialer_t *d, dial_t *req)
{
	pkthop_t *h = (pkthop_t *)d;
	pwait_t *w = (pwait_t *)req;

	if (w->inner) {
		lwipep_connect_cancel(w->inner);
		free(w);
		return;
	}
	if (w->dinner) {
		if (w->failing)
			uv_close((uv_handle_t *)w->dinner, free_handle);
		else
			lwipep_dgram_cancel(w->dinner);
		free(w);
		return;
	}
	unlink_wait(h, w);
	free(w);
}

static void free_on_close(uv_handle_t *t)
{
	free(t->data);
}

static const metric_t hop_metrics[] = {
    METRIC(pkthop_t, sessions, "sluice_tunnel_sessions_total", "counter", "Sessions brought up."),
    METRIC(pkthop_t, drops, "sluice_tunnel_session_drops_total", "counter", "Sessions lost."),
    METRIC(pkthop_t, nwaiting, "sluice_tunnel_dials_waiting", "gauge",
           "Connections waiting for a session."),
};

static const metric_t ep_metrics[] = {
    METRIC(lwipep_stats_t, conns_active, "sluice_tunnel_connections_active", "gauge",
           "Connections carried inside the tunnel now."),
    METRIC(lwipep_stats_t, bytes_in, "sluice_tunnel_bytes_in_total", "counter",
           "Bytes received from inside the tunnel."),
    METRIC(lwipep_stats_t, bytes_out, "sluice_tunnel_bytes_out_total", "counter",
           "Bytes sent into the tunnel."),
    METRIC(lwipep_stats_t, pkts_in, "sluice_tunnel_packets_in_total", "counter",
           "IP packets received from the tunnel."),
    METRIC(lwipep_stats_t, pkts_out, "sluice_tunnel_packets_out_total", "counter",
           "IP packets sent into the tunnel."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	pkthop_t *h = ud;
	lwipep_stats_t st;
	char lab[400];

	lwipep_get_stats(h->ep, &st);
	metrics_label(lab, sizeof(lab), "hop", h->name);
	metrics_sample(b, "sluice_tunnel_session_up", "gauge",
	               "1 while the tunnel's session is up.", lab, h->state == PH_UP);
	if (h->state == PH_UP) {
		char l[INET_ADDRSTRLEN], d1[INET_ADDRSTRLEN] = "", d2[INET_ADDRSTRLEN] = "";
		inet_ntop(AF_INET, &h->addr.local, l, sizeof(l));
		if (h->addr.dns4[0].s_addr)
			inet_ntop(AF_INET, &h->addr.dns4[0], d1, sizeof(d1));
		if (h->addr.dns4[1].s_addr)
			inet_ntop(AF_INET, &h->addr.dns4[1], d2, sizeof(d2));
		char il[600];
		snprintf(il, sizeof(il), "%s,address=\"%s\",dns=\"%s%s%s\",mtu=\"%u\"", lab, l, d1,
		         d2[0] ? "," : "", d2, h->addr.mtu ? h->addr.mtu : 1500);
		metrics_sample(b, "sluice_tunnel_session_info", "gauge",
		               "The session's address, name servers and MTU (value 1).", il, 1);
	}
	METRICS_TABLE(b, hop_metrics, h, lab);
	METRICS_TABLE(b, ep_metrics, &st, lab);
}

static void ph_free(dialer_t *d)
{
	pkthop_t *h = (pkthop_t *)d;

	metrics_unregister(metrics_fn, h);
	if (h->state != PH_IDLE)
		h->ops->stop(h);
	while (!queue_empty(&h->waiting)) {
		pwait_t *w = queue_data(queue_first(&h->waiting), pwait_t, link);
		unlink_wait(h, w);
		free(w);
	}
	if (h->ops->free)
		h->ops->free(h);
	lwipep_free(h->ep);
	free((char *)h->o.rev_allow);
	uv_close((uv_handle_t *)&h->timer, free_on_close);
}

/* Up, or wanted: a packet hop opens its session at start and keeps it. */
static void ph_session(const dialer_t *d, hop_session_t *s)
{
	const pkthop_t *h = (const pkthop_t *)d;
	lwipep_stats_t st;

	s->kind = h->ops->scheme;
	s->ok = h->state == PH_UP;
	s->state = h->state == PH_UP ? "up" : h->why[0] ? "down" : "starting";
	snprintf(s->why, sizeof(s->why), "%s", h->state == PH_UP ? "" : h->why);
	if (h->state == PH_UP) {
		inet_ntop(AF_INET, &h->addr.local, s->address, sizeof(s->address));
		s->since = h->up_since;
	}
	lwipep_get_stats(h->ep, &st);
	s->bytes_in = st.bytes_in + h->dev_in;
	s->bytes_out = st.bytes_out + h->dev_out;
}

void pkthop_link_count(pkthop_t *h, size_t in, size_t out)
{
	h->dev_in += in;
	h->dev_out += out;
}

static const dialer_ops_t ph_ops = {.scheme = "packet",
                                    .dial = ph_dial,
                                    .cancel = ph_cancel,
                                    .free = ph_free,
                                    .dgram = ph_dgram,
                                    .dgram_cancel = ph_cancel,
                                    .dns_servers = ph_dns_servers,
                                    .session = ph_session,
                                    .reverse = &pktrev_ops};

static int parse_dns(void *obj, const char *v, char *err, size_t errlen)
{
	pkthop_opts_t *o = obj;
	uint8_t a[16];

	if (inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1) {
		snprintf(err, errlen, "option 'dns': '%s' is not an IP address", v);
		return -EINVAL;
	}
	o->dns = v;
	return 0;
}

static int parse_rev_allow(void *obj, const char *v, char *err, size_t errlen)
{
	pkthop_opts_t *o = obj;
	cidr_list_t l = {0};
	char bad[128];
	int r = cidr_list_add(&l, v, bad, sizeof(bad));

	cidr_list_free(&l);
	if (r < 0) {
		snprintf(err, errlen, "option 'reverse-allow': '%s' is not an address or prefix",
		         bad);
		return -EINVAL;
	}
	o->rev_allow = v;
	return 0;
}

static const opt_t opts[] = {
    OPT_FUNC_DOC("dns", parse_dns, "none", "IP",
                 "a name server asked after the ones the session gives"),
    OPT_FUNC_DOC("reverse-allow", parse_rev_allow, "all", "CIDR,...",
                 "hosts inside the tunnel that may connect to the ports -R opens on the "
                 "session's address"),
    OPT_UINT(pkthop_opts_t, rev_max, "reverse-max-conns", 1000000, "256",
             "connections those ports carry at once, all together"),
    OPT_UINT(pkthop_opts_t, rev_rate, "reverse-rate", 1000000, "0",
             "new connections to those ports per second per host (0: no limit)"),
    OPT_DURATION(pkthop_opts_t, rev_udp_idle, "reverse-udp-idle", "60s",
                 "a flow of a UDP port -R opens (one source) ends after this without a "
                 "datagram"),
};

const opt_schema_t pkthop_opts = OPT_SCHEMA(NULL, opts);

pkthop_t *pkthop_new(uv_loop_t *loop, dialer_t *next, const target_t *server,
                     const pktlink_ops_t *ops, void *link, const char *name, const pkthop_opts_t *o)
{
	pkthop_t *h = calloc(1, sizeof(*h));
	lwipep_opts_t eo = {.name = name, .dns_fallback = o->dns};

	if (!h)
		abort();
	h->o = *o;
	h->o.dns = NULL;
	if (o->rev_allow && !(h->o.rev_allow = strdup(o->rev_allow)))
		abort();
	h->d.ops = &ph_ops;
	h->d.next = next;
	h->d.loop = loop;
	if (server)
		h->d.server = *server;
	h->ops = ops;
	h->link = link;
	h->backoff = BACKOFF_MIN;
	queue_init(&h->waiting);
	snprintf(h->name, sizeof(h->name), "%s", name);
	url_name_escape(h->name, sizeof(h->name));
	eo.name = h->name;
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	if (lwipep_new(loop, &eo, ep_out, h, &h->ep) < 0) {
		free((char *)h->o.rev_allow);
		uv_close((uv_handle_t *)&h->timer, free_on_close);
		return NULL;
	}
	metrics_register(metrics_fn, h);
	/* open the session as soon as the loop runs: errors show at start-up */
	uv_timer_start(&h->timer, on_timer, 0, 0);
	return h;
}

void *pkthop_link(pkthop_t *h)
{
	return h->link;
}
dialer_t *pkthop_dialer(pkthop_t *h)
{
	return &h->d;
}
dialer_t *pkthop_next(pkthop_t *h)
{
	return h->d.next;
}
const target_t *pkthop_server(pkthop_t *h)
{
	return &h->d.server;
}
const char *pkthop_name(pkthop_t *h)
{
	return h->name;
}
lwipep_t *pkthop_ep(pkthop_t *h)
{
	return h->ep;
}
const pkthop_opts_t *pkthop_opts_of(pkthop_t *h)
{
	return &h->o;
}
struct in_addr pkthop_address(pkthop_t *h)
{
	struct in_addr none = {0};

	return h->state == PH_UP ? h->addr.local : none;
}
