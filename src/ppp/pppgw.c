/* pppgw: PPP sessions whose IP traffic a libslirp gateway NATs to the
 * host (see pppgw.h for the links).
 *
 * A session is a conn_t (so ACLs, caps, metrics and shutdown work as for
 * every listener) whose client stream is the link: a TCP or UNIX
 * connection, a serial device, or stdin/stdout.  Bytes from the link feed
 * the PPP engine (server role: it authenticates the peer against the users
 * file and assigns it an address); when IPCP is up, a slirpgw instance is
 * created for the peer's address and IP packets flow between the engine
 * and the gateway.  The engine's down callback ends the session: a TCP or
 * UNIX link is closed, a serial line is hung up (DTR dropped) and reopened
 * for the next call, stdio ends the process.
 *
 * Options (besides the shared listener ones):
 *   users=FILE        name:password lines (required unless auth=none)
 *   auth=LIST         mschapv2,chap,pap (default: all three, strongest
 *                     asked first; on TCP mschapv2,chap: PAP sends the
 *                     password in clear over the network) or none
 *   net=CIDR          the virtual network (10.0.2.0/24): host alias .2,
 *                     DNS alias .3, peers from .15 on, one per session
 *   restricted=1      only the services are reachable
 *   service=SPEC      (repeatable) ADDR:PORT->HOST:PORT [via=URL] [max-conns=N]..
 *                     (see slirpgw.h)
 *   (the host alias reaches 127.0.0.1 when the target policy allows it,
 *   listener.h: host-loopback=, by default on serial, UNIX and stdio links
 *   and on TCP bound to a loopback address; link-local is refused unless
 *   link-local=1)
 *   pcap=FILE         capture every session's IP traffic
 *   max-sessions=N    (default 16)
 *   (on TCP and UNIX links a peer must reach IPCP within 60 s, or within
 *   handshake-timeout if that is longer)
 *   echo=D            LCP echo interval (default 10s; 0 = off)
 *   ipv6=1            also IPV6CP
 *   baud=N, flow=rtscts|none   serial lines only
 */
#include "ppp/pppgw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "core/authguard.h"
#include "core/conn.h"
#include "core/fdstream.h"
#include "core/log.h"
#include "core/tcp.h"
#include "core/transport.h"
#include "core/users.h"
#include "core/wbatch.h"
#include "netstack/ippkt.h"
#include "netstack/pcap.h"
#include "netstack/slirpgw.h"
#include "ppp/ppp.h"
#include "ppp/ppphop.h"

#define MAX_SERVICES 64

enum link_kind { LINK_TCP, LINK_UNIX, LINK_SERIAL, LINK_STDIO };

typedef struct pgw {
	listener_t *l;
	enum link_kind kind;
	users_t *users;
	unsigned auth_methods;
	int require_auth, restricted, ipv6;
	struct in_addr net;
	int prefix;
	slirpgw_service_t *services[MAX_SERVICES];
	size_t nservices;
	pcapw_t *pcap;
	uint64_t max_sessions, echo_ms, nsessions;
	uint8_t *used; /* peer address slots in use */
	size_t nslots;
	/* UNIX */
	uv_pipe_t pipe;
	char *path;
	/* serial */
	char *device;
	speed_t speed;
	uint64_t baud;
	int rtscts;
	uv_timer_t retry;
	int serial_up;
	/* who failed logins count against (core/authguard.h) on links without
	 * a network address: the link itself, named by its path */
	struct sockaddr_un link;
} pgw_t;

typedef struct psess {
	conn_t *c;
	pgw_t *g;
	ppp_t *ppp;
	slirpgw_t *gw;
	uv_timer_t *tick;
	wbatch_t out; /* the frames of one loop turn, one write */
	size_t slot;
	uint64_t last_ip;
	const char *end_reason;
	unsigned down : 1;
} psess_t;

static uint64_t now_ms(pgw_t *g)
{
	return uv_now(g->l->loop);
}

/* ---- the session ---- */

static void ppp_out(void *ud, const uint8_t *buf, size_t len)
{
	psess_t *s = ud;

	if (!s->down)
		wbatch_write(&s->out, s->c->client, buf, len);
}

static void gw_out(void *ud, const uint8_t *pkt, size_t len)
{
	psess_t *s = ud;

	/* a slow line: drop rather than queue without bound (TCP resends) */
	if (s->ppp && !s->down && s->c->client->wq_bytes <= STREAM_HIGH_WATER)
		ppp_send_ip(s->ppp, ippkt_version(pkt, len) == 6 ? PPP_IPV6 : PPP_IP, pkt, len);
}

static void ppp_ip_in(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	psess_t *s = ud;

	s->last_ip = now_ms(s->g);
	if (s->gw)
		slirpgw_input(s->gw, pkt, len);
}

static struct in_addr slot_addr(pgw_t *g, size_t slot)
{
	struct in_addr a;

	a.s_addr = htonl(ntohl(g->net.s_addr) + 15 + (uint32_t)slot);
	return a;
}

static void ppp_up(void *ud, const ppp_ipcfg_t *ip)
{
	psess_t *s = ud;
	pgw_t *g = s->g;
	slirpgw_config_t cfg;
	char a[INET_ADDRSTRLEN];
	int r;

	conn_handshake_done(s->c);
	slirpgw_config_default(&cfg);
	cfg.net = g->net;
	cfg.prefix = g->prefix;
	cfg.host.s_addr = htonl(ntohl(g->net.s_addr) + 2);
	cfg.dns.s_addr = htonl(ntohl(g->net.s_addr) + 3);
	cfg.peer = slot_addr(g, s->slot);
	cfg.host_loopback = listener_host_loopback(g->l);
	cfg.restricted = g->restricted;
	cfg.services = g->services;
	cfg.nservices = g->nservices;
	cfg.targets = &g->l->targets;
	cfg.pcap = g->pcap;
	cfg.id = s->c->id;
	cfg.name = g->l->name;
	cfg.ipv6 = g->ipv6;
	r = slirpgw_new(g->l->loop, &cfg, gw_out, s, &s->gw);
	inet_ntop(AF_INET, &cfg.peer, a, sizeof(a));
	if (r < 0) {
		log_err(s->c->id, "ppp: gateway for %s: %s", a, strerror(-r));
		ppp_close(s->ppp, "gateway failed");
		return;
	}
	s->last_ip = now_ms(g);
	log_info(s->c->id, "ppp: up, peer %s%s%s, %s", a,
	         auth_peer_name(ppp_auth(s->ppp))[0] ? " user " : "",
	         auth_peer_name(ppp_auth(s->ppp)), g->restricted ? "restricted" : "full NAT");
}

static void session_end(psess_t *s, const char *reason);

static void ppp_down(void *ud, const char *reason)
{
	psess_t *s = ud;

	log_info(s->c->id, "ppp: down: %s", reason);
	session_end(s, reason);
}

/* The source failed logins count against: the TCP peer, or the link. */
static const struct sockaddr *guard_src(const psess_t *s)
{
	if (s->g->kind == LINK_TCP)
		return (const struct sockaddr *)&s->c->peer;
	return (const struct sockaddr *)&s->g->link;
}

static int64_t ppp_judged(void *ud, int ok)
{
	psess_t *s = ud;
	uint64_t now = now_ms(s->g);

	if (authguard_banned(guard_src(s), now))
		return AUTHGUARD_BANNED;
	if (ok) {
		authguard_ok(guard_src(s));
		return 0;
	}
	return authguard_fail(guard_src(s), now, "ppp", s->c->id);
}

static int ppp_lookup(void *ud, const char *user, char *secret, size_t cap)
{
	psess_t *s = ud;

	return users_lookup(s->g->users, user, secret, cap);
}

static void ppp_log(void *ud, int level, const char *msg)
{
	psess_t *s = ud;

	LOG_AT(level, s->c->id, "ppp: %s", msg);
}

static const ppp_cbs_t ppp_cbs = {
    .output = ppp_out,
    .ip_input = ppp_ip_in,
    .up = ppp_up,
    .down = ppp_down,
    .lookup = ppp_lookup,
    .log = ppp_log,
    .judged = ppp_judged,
};

static void link_read(stream_t *st, sbuf_t *b)
{
	psess_t *s = st->data;

	if (!b) {
		log_info(s->c->id, "ppp: the link closed");
		session_end(s, "link closed");
		return;
	}
	ppp_input_bytes(s->ppp, sbuf_ptr(b), b->len, now_ms(s->g));
	sbuf_free(b);
}

static void link_error(stream_t *st, int err)
{
	psess_t *s = st->data;

	log_info(s->c->id, "ppp: link error: %s", uv_strerror(err));
	session_end(s, "link error");
}

static const stream_cbs_t link_cbs = {link_read, NULL, link_error};

static void on_tick(uv_timer_t *t)
{
	psess_t *s = t->data;
	uint64_t now = now_ms(s->g);

	ppp_tick(s->ppp, now);
	if (s->down)
		return;
	if (s->gw && s->g->l->idle_timeout_ms && now - s->last_ip > s->g->l->idle_timeout_ms) {
		log_info(s->c->id, "ppp: idle for %llu s",
		         (unsigned long long)(now - s->last_ip) / 1000);
		ppp_close(s->ppp, "idle timeout");
	}
}

static void psess_free(void *p)
{
	psess_t *s = p;
	pgw_t *g = s->g;

	if (s->gw)
		slirpgw_free(s->gw);
	if (s->ppp)
		ppp_free(s->ppp);
	uv_timer_stop(s->tick);
	uv_close((uv_handle_t *)s->tick, (uv_close_cb)free);
	wbatch_close(&s->out);
	g->used[s->slot] = 0;
	g->nsessions--;
	free(s);
}

static void serial_reopen_later(pgw_t *g);

static void on_end(uv_timer_t *t)
{
	psess_t *s = t->data;

	conn_close(s->c, s->end_reason); /* frees s */
}

/* A session ends from deep inside its own callbacks (the engine's down()
 * from ppp_tick() or ppp_input_bytes(), a write that fails inside
 * ppp_out()), so the conn, and s with it, is freed on the next turn of
 * the loop: nobody up the stack touches freed memory. */
static void session_end(psess_t *s, const char *reason)
{
	pgw_t *g = s->g;

	if (s->down)
		return;
	s->down = 1;
	s->end_reason = reason;
	if (g->kind == LINK_STDIO) {
		log_info(0, "ppp: the stdio session ended: exiting");
		raise(SIGTERM);
	}
	if (g->kind == LINK_SERIAL) {
		g->serial_up = 0;
		serial_reopen_later(g);
	}
	stream_read_stop(s->c->client);
	wbatch_flush(&s->out); /* what the engine said last (LCP Terminate) */
	uv_timer_stop(s->tick);
	uv_timer_start(s->tick, on_end, 0, 0);
}

static void pgw_on_conn(conn_t *c)
{
	pgw_t *g = c->l->front;
	psess_t *s;
	ppp_cfg_t cfg = {0};
	size_t slot;

	if (g->kind == LINK_TCP && g->require_auth &&
	    authguard_banned((struct sockaddr *)&c->peer, now_ms(g))) {
		log_debug(c->id, "ppp: %s is banned (auth-guard)", c->peer_str);
		c->l->m->rejected++;
		conn_close(c, "banned");
		return;
	}
	if (g->nsessions >= g->max_sessions) {
		log_info(c->id, "ppp: session limit (%llu) reached",
		         (unsigned long long)g->max_sessions);
		c->l->m->rejected++;
		conn_close(c, "session limit");
		return;
	}
	for (slot = 0; slot < g->nslots && g->used[slot]; slot++)
		;
	if (slot == g->nslots) {
		conn_close(c, "no address left");
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->c = c;
	s->g = g;
	s->slot = slot;
	g->used[slot] = 1;
	g->nsessions++;
	c->front = s;
	c->front_free = psess_free;
	/* on TCP and UNIX links a peer must reach IPCP within a minute (or
	 * handshake-timeout, if longer: a VM connects its serial port at boot,
	 * long before its pppd speaks): one that never negotiates must not
	 * hold a session slot for long */
	if (g->kind == LINK_TCP || g->kind == LINK_UNIX)
		conn_set_deadline(c, c->l->handshake_timeout_ms > 60000 ? c->l->handshake_timeout_ms
		                                                        : 60000);
	else
		conn_handshake_done(c);
	s->tick = malloc(sizeof(*s->tick));
	if (!s->tick)
		abort();
	uv_timer_init(c->l->loop, s->tick);
	s->tick->data = s;
	wbatch_init(&s->out, c->l->loop);

	cfg.server = 1;
	cfg.framing = 1;
	cfg.auth_methods = g->auth_methods;
	cfg.require_auth = g->require_auth;
	cfg.name = "sluice";
	cfg.mru = 1500;
	cfg.ip.local = htonl(ntohl(g->net.s_addr) + 2);
	cfg.ip.peer = slot_addr(g, slot).s_addr;
	cfg.ip.dns1 = htonl(ntohl(g->net.s_addr) + 3);
	cfg.ipv6 = g->ipv6;
	cfg.echo_interval_ms = g->echo_ms;
	cfg.echo_failures = 3;
	s->ppp = ppp_new(&cfg, &ppp_cbs, s);
	stream_set_cbs(c->client, &link_cbs, s);
	stream_read_start(c->client);
	uv_timer_start(s->tick, on_tick, 100, 100);
	ppp_start(s->ppp, now_ms(g));
	log_info(c->id, "ppp: session from %s", c->peer_str);
}

/* ---- UNIX, serial, stdio links ---- */

static void on_unix_conn(uv_stream_t *srv, int status)
{
	pgw_t *g = srv->data;
	struct sockaddr_in none = {.sin_family = AF_INET};
	stream_t *s;

	if (status < 0 || unix_stream_accept(srv, conn_next_id(), &s) < 0)
		return;
	pgw_on_conn(conn_new(g->l, s, (struct sockaddr *)&none));
}

static int start_unix(pgw_t *g)
{
	int r;

	unlink(g->path); /* a stale socket from an earlier run */
	uv_pipe_init(g->l->loop, &g->pipe, 0);
	g->pipe.data = g;
	if ((r = uv_pipe_bind(&g->pipe, g->path)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&g->pipe, 16, on_unix_conn)) < 0) {
		uv_close((uv_handle_t *)&g->pipe, NULL);
		return r;
	}
	log_info(0, "listening on %s", g->l->name);
	return 0;
}

static int serial_open(pgw_t *g)
{
	struct termios tio;
	int fd = open(g->device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC), bits = TIOCM_DTR;
	struct sockaddr_in none = {.sin_family = AF_INET};

	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		cfsetispeed(&tio, g->speed);
		cfsetospeed(&tio, g->speed);
		tio.c_cflag |= CS8 | CREAD | CLOCAL;
		tio.c_cflag &= ~(PARENB | CSTOPB);
		if (g->rtscts)
			tio.c_cflag |= CRTSCTS;
		else
			tio.c_cflag &= ~CRTSCTS;
		tio.c_cc[VMIN] = 1;
		tio.c_cc[VTIME] = 0;
		tcsetattr(fd, TCSANOW, &tio);
		ioctl(fd, TIOCMBIS, &bits); /* raise DTR: ready for a call */
	}
	g->serial_up = 1;
	log_info(0, "ppp: %s open at %llu baud", g->device, (unsigned long long)g->baud);
	pgw_on_conn(conn_new(g->l, fdstream_new(g->l->loop, fd, fd, 1, conn_next_id()),
	                     (struct sockaddr *)&none));
	return 0;
}

static void on_retry(uv_timer_t *t)
{
	pgw_t *g = t->data;
	int r;

	if (g->serial_up || g->l->stopping)
		return;
	if ((r = serial_open(g)) < 0) {
		log_debug(0, "ppp: %s: %s; retrying", g->device, strerror(-r));
		uv_timer_start(&g->retry, on_retry, 2000, 0);
	}
}

/* After a call ends (or the device went away), DTR drops with the close;
 * open again a little later for the next call. */
static void serial_reopen_later(pgw_t *g)
{
	if (!g->l->stopping)
		uv_timer_start(&g->retry, on_retry, 1000, 0);
}

static int pgw_start(listener_t *l)
{
	pgw_t *g = l->front;
	struct sockaddr_in none = {.sin_family = AF_INET};
	int r;

	switch (g->kind) {
	case LINK_UNIX:
		return start_unix(g);
	case LINK_SERIAL:
		uv_timer_init(l->loop, &g->retry);
		g->retry.data = g;
		if ((r = serial_open(g)) < 0) {
			log_warn(0, "ppp: %s: %s; will retry", g->device, strerror(-r));
			uv_timer_start(&g->retry, on_retry, 2000, 0);
		}
		return 0;
	case LINK_STDIO:
		pgw_on_conn(conn_new(l, fdstream_new(l->loop, 0, 1, 0, conn_next_id()),
		                     (struct sockaddr *)&none));
		return 0;
	default:
		return UV_EINVAL;
	}
}

static void pgw_stop(listener_t *l)
{
	pgw_t *g = l->front;

	if (g->kind == LINK_UNIX) {
		uv_close((uv_handle_t *)&g->pipe, NULL);
		unlink(g->path);
	} else if (g->kind == LINK_SERIAL) {
		uv_timer_stop(&g->retry);
		uv_close((uv_handle_t *)&g->retry, NULL);
	}
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
		char a[INET_ADDRSTRLEN], l[400], il[480];
		struct in_addr peer;

		if (!s || !s->ppp)
			continue;
		peer = slot_addr(g, s->slot);
		inet_ntop(AF_INET, &peer, a, sizeof(a));
		if (s->gw)
			slirpgw_get_stats(s->gw, &gs);
		snprintf(l, sizeof(l), "%s,session=\"%llu\",peer=\"%s\"", lab,
		         (unsigned long long)c->id, a);
		snprintf(il, sizeof(il), "%s,lcp=\"%s\",phase=\"%s\"", l, ppp_lcp_state(s->ppp),
		         ppp_phase_name(ppp_phase(s->ppp)));
		metrics_sample(b, "sluice_ppp_session_info", "gauge",
		               "A session's LCP state and PPP phase (value 1).", il, 1);
		METRICS_TABLE(b, sess_ppp_rows, ppp_stats(s->ppp), l);
		METRICS_TABLE(b, sess_gw_rows, &gs, l);
	}
}

/* ---- options ---- */

/* What the options say, before the gateway takes it over. */
typedef struct pgw_opts {
	pgw_t *g; /* service= makes its services in g */
	unsigned auth;
	int auth_none, restricted, ipv6, rtscts;
	uint64_t max_sessions, echo_ms, baud;
	struct in_addr net;
	int prefix;
	const char *users, *pcap;
} pgw_opts_t;

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
     .def_doc = "mschapv2,chap,pap; on ppp+tcp mschapv2,chap",
     .arg = "LIST",
     .help = "authentication methods offered (pap, chap, mschapv2), or none; PAP sends the "
             "password in clear, so ppp+tcp offers it only when named",
     .parse = parse_auth},
    OPT_BOOL(pgw_opts_t, restricted, "restricted", "0", "only the services are reachable"),
    OPT_BOOL(pgw_opts_t, ipv6, "ipv6", "0", "also negotiate IPV6CP"),
    OPT_UINT(pgw_opts_t, max_sessions, "max-sessions", 4096, "16", "sessions at once"),
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

static int pgw_init(listener_t *l, enum link_kind kind, char *err, size_t errlen)
{
	pgw_t *g = calloc(1, sizeof(*g));
	url_t *u = l->url;
	pgw_opts_t o = {.g = g};
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
	 * crosses a network, unless auth= names it */
	o.auth = 1u << AUTH_CHAP_MD5 | 1u << AUTH_MSCHAPV2;
	if (kind != LINK_TCP)
		o.auth |= 1u << AUTH_PAP;
	if ((r = opts_parse(kind == LINK_SERIAL ? &pppgw_serial_opts : &pppgw_opts, u, &o, err,
	                    errlen)) < 0)
		return r;
	g->auth_methods = o.auth;
	g->require_auth = !o.auth_none;
	g->restricted = o.restricted;
	g->ipv6 = o.ipv6;
	g->max_sessions = o.max_sessions;
	g->echo_ms = o.echo_ms;
	g->net = o.net;
	g->prefix = o.prefix;
	g->nslots = ((size_t)1 << (32 - g->prefix)) - 17;
	if (g->nslots > g->max_sessions)
		g->nslots = g->max_sessions;
	g->used = calloc(g->nslots ? g->nslots : 1, 1);
	if (g->require_auth) {
		if (!o.users) {
			snprintf(err, errlen,
			         "option 'users' is required (name:password lines), or auth=none");
			return -EINVAL;
		}
		if ((r = users_load(o.users, &g->users, err, errlen)) < 0)
			return r;
		if (!g->auth_methods) {
			snprintf(err, errlen,
			         "option 'auth': name at least one of pap, chap, mschapv2");
			return -EINVAL;
		}
	} else if (o.users) {
		snprintf(err, errlen, "option 'users' means nothing with auth=none");
		return -EINVAL;
	}
	if (o.pcap && (r = pcapw_open(l->loop, o.pcap, 0, 0, &g->pcap)) < 0) {
		snprintf(err, errlen, "option 'pcap': %s: %s", o.pcap, strerror(-r));
		return r;
	}
	metrics_register(metrics_fn, g);
	if (g->restricted && !g->nservices) {
		snprintf(err, errlen,
		         "restricted=1 needs at least one service=ADDR:PORT->HOST:PORT");
		return -EINVAL;
	}
	if (kind == LINK_SERIAL) {
		g->baud = o.baud;
		g->rtscts = o.rtscts;
		if (!(g->speed = baud_of(o.baud))) {
			snprintf(err, errlen, "option 'baud': %llu is not a standard rate",
			         (unsigned long long)o.baud);
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

static void pgw_free(listener_t *l)
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
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_PACKETS,
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
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_PACKETS | HOP_FIRST_ONLY,
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
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_PACKETS | HOP_FIRST_ONLY,
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
