/* pppgw_cfg: the PPP gateway's options, addresses, metrics and schemes
 * (see pppgw_priv.h for how the gateway's files divide the work).
 */
#include "ppp/pppgw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/metrics.h"
#include "core/transport.h"
#include "ppp/pppgw_priv.h"
#include "ppp/ppphop.h"

struct in_addr pgw_slot_addr(const pgw_t *g, size_t slot)
{
	struct in_addr a;

	a.s_addr = htonl(ntohl(g->net.s_addr) + 15 + (uint32_t)slot);
	return a;
}

/* ---- metrics ---- */

static const metric_t sess_ppp_rows[] = {
    METRIC_X(ppp_stats_t, frames_in, "sluice_ppp_frames_total", "counter",
             "PPP frames, by direction.", "dir=\"in\""),
    METRIC_X(ppp_stats_t, frames_out, "sluice_ppp_frames_total", "counter",
             "PPP frames, by direction.", "dir=\"out\""),
    METRIC_X(ppp_stats_t, bytes_in, "sluice_ppp_bytes_total", "counter",
             "PPP bytes on the link, by direction.", "dir=\"in\""),
    METRIC_X(ppp_stats_t, bytes_out, "sluice_ppp_bytes_total", "counter",
             "PPP bytes on the link, by direction.", "dir=\"out\""),
    METRIC_X(ppp_stats_t, ip_in, "sluice_ppp_ip_packets_total", "counter",
             "IP packets, by direction.", "dir=\"in\""),
    METRIC_X(ppp_stats_t, ip_out, "sluice_ppp_ip_packets_total", "counter",
             "IP packets, by direction.", "dir=\"out\""),
};

static const metric_t sess_gw_rows[] = {
    METRIC(slirpgw_stats_t, sockets, "sluice_ppp_host_sockets", "gauge",
           "Host sockets open for the session."),
    METRIC(slirpgw_stats_t, flows, "sluice_ppp_service_connections", "gauge",
           "Service connections of the session open now."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	pgw_t *g = ud;
	queue_t *q;
	char lab[300];

	metrics_label(lab, sizeof(lab), "listener", g->l->name);
	metrics_sample(b, "sluice_ppp_sessions", "gauge", "PPP sessions now.", lab, g->nsessions);
	queue_foreach (q, &g->l->conns) {
		conn_t *c = queue_data(q, conn_t, link);
		psess_t *s = c->front;
		slirpgw_stats_t gs = {0};
		char a[INET_ADDRSTRLEN], l[400], il[800], ul[300];
		const auth_t *au = ppp_auth(s->ppp);
		struct in_addr peer;

		if (!s || !s->ppp)
			continue;
		peer = pgw_slot_addr(g, s->slot);
		inet_ntop(AF_INET, &peer, a, sizeof(a));
		if (s->gw)
			slirpgw_get_stats(s->gw, &gs);
		snprintf(l, sizeof(l), "%s,session=\"%llu\",peer=\"%s\"", lab,
		         (unsigned long long)c->id, a);
		metrics_label(ul, sizeof(ul), "user", au ? auth_peer_name(au) : "");
		snprintf(il, sizeof(il), "%s,%s,lcp=\"%s\",phase=\"%s\"", l, ul,
		         ppp_lcp_state(s->ppp), ppp_phase_name(ppp_phase(s->ppp)));
		metrics_sample(b, "sluice_ppp_session_info", "gauge",
		               "A session's user, LCP state and PPP phase (value 1).", il, 1);
		metrics_sample(b, "sluice_ppp_session_uptime_seconds", "gauge",
		               "Seconds since the session's link was accepted.", l,
		               (uv_now(g->l->loop) - c->t_start) / 1000);
		METRICS_TABLE(b, sess_ppp_rows, ppp_stats(s->ppp), l);
		METRICS_TABLE(b, sess_gw_rows, &gs, l);
	}
}

/* ---- options ---- */

static int parse_auth(void *obj, const char *v, char *err, size_t errlen)
{
	pgw_opts_t *o = obj;

	return auth_methods_parse(v, "auth", &o->auth, &o->auth_none, err, errlen);
}

static int add_service(void *obj, const char *spec, char *err, size_t errlen)
{
	pgw_t *g = ((pgw_opts_t *)obj)->g;
	int r;

	if (g->nservices >= MAX_SERVICES) {
		snprintf(err, errlen, "option 'service': at most %d", MAX_SERVICES);
		return -EINVAL;
	}
	r = slirpgw_service_new(g->l->loop, spec, &g->services[g->nservices], err, errlen);
	if (r < 0)
		return r;
	g->nservices++;
	return 0;
}

static int parse_net(void *obj, const char *v, char *err, size_t errlen)
{
	pgw_opts_t *o = obj;
	cidr_t cidr;

	if (cidr_parse(v, &cidr) < 0 || cidr.family != AF_INET || cidr.bits > 26 || cidr.bits < 8) {
		snprintf(err, errlen, "option 'net': '%s' is not an IPv4 network from /8 to /26",
		         v);
		return -EINVAL;
	}
	memcpy(&o->net, cidr.addr, 4);
	o->prefix = cidr.bits;
	return 0;
}

static int parse_flow(void *obj, const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "rtscts"))
		((pgw_opts_t *)obj)->rtscts = 1;
	else if (strcmp(v, "none")) {
		snprintf(err, errlen, "option 'flow': rtscts or none");
		return -EINVAL;
	}
	return 0;
}

static const opt_t gw_table[] = {
    /* no .def: the default depends on the link (pgw_init) */
    {.name = "auth",
     .type = OT_FUNC,
     .def_doc = "mschapv2,chap,pap; on ppp+tcp mschapv2,chap; on sstp mschapv2",
     .arg = "LIST",
     .help = "authentication methods offered (pap, chap, mschapv2), or none; PAP sends the "
             "password in clear, so ppp+tcp offers it only when named",
     .parse = parse_auth},
    OPT_BOOL(pgw_opts_t, restricted, "restricted", "0", "only the services are reachable"),
    OPT_BOOL(pgw_opts_t, ipv6, "ipv6", "0", "also negotiate IPV6CP"),
    OPT_UINT(pgw_opts_t, max_sessions, "max-sessions", 4096, "16", "sessions at once"),
    OPT_UINT(pgw_opts_t, max_per_user, "max-per-user", 4096, "0",
             "sessions at once of one user (0: no limit but max-sessions)"),
    OPT_DURATION(pgw_opts_t, echo_ms, "echo", "10s", "LCP echo interval (0: off)"),
    OPT_EACH("service", add_service, "SPEC",
             "(repeatable) ADDR:PORT->HOST:PORT [via=URL] [max-conns=N] ...: a port the peer "
             "reaches at ADDR:PORT, dialed to HOST:PORT"),
    OPT_FUNC("net", parse_net, "10.0.2.0/24", "CIDR",
             "the virtual network (/8 to /26): .2 is the host alias, .3 the DNS alias, peers "
             "get .15 on, one per session"),
    OPT_STR(pgw_opts_t, users, "users", "required unless auth=none", "FILE",
            "name:password lines; the peer authenticates against them"),
    OPT_STR(pgw_opts_t, pcap, "pcap", "none", "FILE",
            "write every session's IP traffic to this pcap file"),
};

const opt_schema_t pppgw_opts = OPT_SCHEMA(NULL, gw_table);

static const opt_t serial_table[] = {
    OPT_UINT(pgw_opts_t, baud, "baud", 4000000, "115200",
             "line speed: 9600, 19200, 38400, 57600, 115200, 230400, 460800 or 921600"),
    OPT_FUNC_DOC("flow", parse_flow, "none", "rtscts|none", "hardware flow control"),
};

const opt_schema_t pppgw_serial_opts = OPT_SCHEMA(&pppgw_opts, serial_table);

static speed_t baud_of(uint64_t b)
{
	static const struct {
		uint64_t b;
		speed_t s;
	} t[] = {{9600, B9600},     {19200, B19200},   {38400, B38400},   {57600, B57600},
	         {115200, B115200}, {230400, B230400}, {460800, B460800}, {921600, B921600}};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].b == b)
			return t[i].s;
	return 0;
}

int pgw_setup(listener_t *l, enum link_kind kind, const opt_schema_t *schema, void *obj,
              pgw_opts_t *op, char *err, size_t errlen)
{
	pgw_t *g = calloc(1, sizeof(*g));
	url_t *u = l->url;
	pgw_opts_t *o = op;
	int r;

	if (!g)
		abort();
	l->front = g;
	g->l = l;
	g->kind = kind;
	g->link.sun_family = AF_UNIX;
	snprintf(g->link.sun_path, sizeof(g->link.sun_path), "%s",
	         kind == LINK_STDIO ? "stdio" : u->path);
	/* PAP sends the password in clear: not offered on TCP, where the link
	 * crosses a network, unless auth= names it; a framed link (SSTP) asks
	 * for MS-CHAPv2 alone by default: only its keys bind the call to the
	 * TLS session */
	if (kind == LINK_FRAMED)
		o->auth = 1u << AUTH_MSCHAPV2;
	else
		o->auth = 1u << AUTH_CHAP_MD5 | 1u << AUTH_MSCHAPV2;
	if (kind != LINK_TCP && kind != LINK_FRAMED)
		o->auth |= 1u << AUTH_PAP;
	o->g = g;
	if ((r = opts_parse(schema, u, obj, err, errlen)) < 0)
		return r;
	g->auth_methods = o->auth;
	g->require_auth = !o->auth_none;
	g->restricted = o->restricted;
	g->ipv6 = o->ipv6;
	g->max_sessions = o->max_sessions;
	g->max_per_user = o->max_per_user;
	g->echo_ms = o->echo_ms;
	g->net = o->net;
	g->prefix = o->prefix;
	g->nslots = ((size_t)1 << (32 - g->prefix)) - 17;
	if (g->nslots > g->max_sessions)
		g->nslots = g->max_sessions;
	g->used = calloc(g->nslots ? g->nslots : 1, 1);
	if (g->require_auth) {
		if (!o->users) {
			snprintf(err, errlen,
			         "option 'users' is required (name:password lines), or auth=none");
			return -EINVAL;
		}
		if ((r = users_load(o->users, &g->users, err, errlen)) < 0)
			return r;
		if (!g->auth_methods) {
			snprintf(err, errlen,
			         "option 'auth': name at least one of pap, chap, mschapv2");
			return -EINVAL;
		}
	} else if (o->users) {
		snprintf(err, errlen, "option 'users' means nothing with auth=none");
		return -EINVAL;
	}
	if (o->pcap && (r = pcapw_open(l->loop, o->pcap, 0, 0, &g->pcap)) < 0) {
		snprintf(err, errlen, "option 'pcap': %s: %s", o->pcap, strerror(-r));
		return r;
	}
	metrics_register(metrics_fn, g);
	if (g->restricted && !g->nservices) {
		snprintf(err, errlen,
		         "restricted=1 needs at least one service=ADDR:PORT->HOST:PORT");
		return -EINVAL;
	}
	if (kind == LINK_SERIAL) {
		g->baud = o->baud;
		g->rtscts = o->rtscts;
		if (!(g->speed = baud_of(o->baud))) {
			snprintf(err, errlen, "option 'baud': %llu is not a standard rate",
			         (unsigned long long)o->baud);
			return -EINVAL;
		}
		if (!u->path[0]) {
			snprintf(err, errlen, "a device is required: ppp:///dev/ttyS0");
			return -EINVAL;
		}
		g->device = strdup(u->path);
	}
	if (kind == LINK_UNIX) {
		if (!u->path[0]) {
			snprintf(err, errlen,
			         "a socket path is required: ppp+unix:///path/to.sock");
			return -EINVAL;
		}
		g->path = strdup(u->path);
	}
	return 0;
}

static int pgw_init(listener_t *l, enum link_kind kind, char *err, size_t errlen)
{
	pgw_opts_t o = {0};
	const opt_schema_t *schema = kind == LINK_SERIAL ? &pppgw_serial_opts : &pppgw_opts;

	return pgw_setup(l, kind, schema, &o, &o, err, errlen);
}

static int ppp_init(listener_t *l, char *e, size_t n)
{
	return pgw_init(l, LINK_SERIAL, e, n);
}
static int ppp_tcp_init(listener_t *l, char *e, size_t n)
{
	return pgw_init(l, LINK_TCP, e, n);
}
static int ppp_unix_init(listener_t *l, char *e, size_t n)
{
	return pgw_init(l, LINK_UNIX, e, n);
}
static int ppp_stdio_init(listener_t *l, char *e, size_t n)
{
	return pgw_init(l, LINK_STDIO, e, n);
}

void pgw_free(listener_t *l)
{
	pgw_t *g = l->front;

	if (!g)
		return;
	metrics_unregister(metrics_fn, g);
	users_free(g->users);
	if (g->pcap)
		pcapw_close(g->pcap);
	free(g->used);
	free(g->path);
	free(g->device);
	free(g);
}

/* A serial line, a UNIX socket and stdio are local by construction: the
 * host alias reaches 127.0.0.1 by default there, as in slirp.  On TCP it
 * does only when the listener binds a loopback address. */
const front_ops_t ppp_front_ops = {
    .scheme = "ppp",
    .init = ppp_init,
    .start = pgw_start,
    .stop = pgw_stop,
    .on_conn = pgw_on_conn,
    .free = pgw_free,
    .reach = REACH_LOCAL,
    .gateway = 1,
};
const front_ops_t ppp_tcp_front_ops = {
    .scheme = "ppp+tcp",
    .init = ppp_tcp_init,
    .on_conn = pgw_on_conn,
    .free = pgw_free,
    .reach = REACH_BIND,
    .gateway = 1,
};
const front_ops_t ppp_unix_front_ops = {
    .scheme = "ppp+unix",
    .init = ppp_unix_init,
    .start = pgw_start,
    .stop = pgw_stop,
    .on_conn = pgw_on_conn,
    .free = pgw_free,
    .reach = REACH_LOCAL,
    .gateway = 1,
};
const front_ops_t ppp_stdio_front_ops = {
    .scheme = "ppp+stdio",
    .init = ppp_stdio_init,
    .start = pgw_start,
    .on_conn = pgw_on_conn,
    .free = pgw_free,
    .reach = REACH_LOCAL,
    .gateway = 1,
};

static const transport_scheme_t ppp_schemes[] = {
    {.scheme = "ppp",
     .listen = &ppp_front_ops,
     .listen_doc = {.usage = "ppp:///dev/TTY?users=FILE",
                    .about = "PPP gateway on a serial line",
                    .opts = &pppgw_serial_opts}},
    {.scheme = "ppp+tcp",
     .listen = &ppp_tcp_front_ops,
     .hop = ppp_tcp_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_PACKETS | HOP_SESSION,
     .listen_doc = {.usage = "ppp+tcp://IP:PORT?users=FILE",
                    .about = "PPP gateway, a session per TCP connection",
                    .opts = &pppgw_opts},
     .hop_doc = {.usage = "ppp+tcp://[user:pass@]HOST:PORT",
                 .about = "PPP client over TCP, on lwIP",
                 .opts = &ppphop_opts,
                 .pass = 1}},
    {.scheme = "ppp+unix",
     .listen = &ppp_unix_front_ops,
     .hop = ppp_unix_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_PACKETS | HOP_FIRST_ONLY | HOP_SESSION,
     .listen_doc = {.usage = "ppp+unix:///PATH?users=FILE",
                    .about = "PPP gateway on a UNIX socket",
                    .opts = &pppgw_opts},
     .hop_doc = {.usage = "ppp+unix://[user:pass@]/PATH",
                 .about = "PPP client over a UNIX socket",
                 .opts = &ppphop_opts,
                 .pass = 1}},
    {.scheme = "ppp+stdio",
     .listen = &ppp_stdio_front_ops,
     .hop = ppp_stdio_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_PACKETS | HOP_FIRST_ONLY | HOP_SESSION,
     .listen_doc = {.usage = "ppp+stdio://?users=FILE",
                    .about = "PPP gateway on stdin/stdout, like slirp",
                    .opts = &pppgw_opts},
     .hop_doc = {.usage = "ppp+stdio://[user:pass@]",
                 .about = "PPP client on stdin/stdout",
                 .opts = &ppphop_opts,
                 .pass = 1}},
};

const transport_t ppp_transport = {
    .name = "ppp",
    .summary = "PPP gateway (SLiRP) and PPP client hop",
    TRANSPORT_SCHEMES(ppp_schemes),
};
