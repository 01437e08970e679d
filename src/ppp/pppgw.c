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
#include "ppp/pppgw_priv.h"
#include "ppp/ppphop.h"

static uint64_t now_ms(pgw_t *g)
{
	return uv_now(g->l->loop);
}

/* ---- the session ---- */

static void ppp_out(void *ud, const uint8_t *buf, size_t len)
{
	psess_t *s = ud;

	if (s->down)
		return;
	if (s->link)
		s->link->output(s->link_ud, buf, len);
	else
		wbatch_write(&s->out, s->c->client, buf, len);
}

void pgw_session_write(psess_t *s, const void *p, size_t len)
{
	wbatch_write(&s->out, s->c->client, p, len);
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

/* The other sessions of s's user that are up (have a gateway). */
static uint64_t user_sessions(const psess_t *s)
{
	const auth_t *a = ppp_auth(s->ppp);
	const char *user = a ? auth_peer_name(a) : "";
	uint64_t n = 0;
	queue_t *q;

	if (!user[0])
		return 0;
	queue_foreach (q, &s->g->l->conns) {
		psess_t *o = queue_data(q, conn_t, link)->front;
		const auth_t *oa;

		if (o && o != s && o->gw && o->ppp && (oa = ppp_auth(o->ppp)) &&
		    !strcmp(auth_peer_name(oa), user))
			n++;
	}
	return n;
}

static void ppp_up(void *ud, const ppp_ipcfg_t *ip)
{
	psess_t *s = ud;
	pgw_t *g = s->g;
	slirpgw_config_t cfg;
	char a[INET_ADDRSTRLEN];
	const char *why = NULL;
	int r;

	if (s->link && s->link->up && s->link->up(s->link_ud, &why) < 0) {
		log_info(s->c->id, "ppp: %s", why);
		ppp_close(s->ppp, why);
		return;
	}
	if (g->max_per_user && user_sessions(s) >= g->max_per_user) {
		log_info(s->c->id, "ppp: user %s has %llu sessions already (max-per-user)",
		         auth_peer_name(ppp_auth(s->ppp)), (unsigned long long)g->max_per_user);
		g->l->m->rejected++;
		ppp_close(s->ppp, "too many sessions for this user");
		return;
	}
	conn_handshake_done(s->c);
	slirpgw_config_default(&cfg);
	cfg.net = g->net;
	cfg.prefix = g->prefix;
	cfg.host.s_addr = htonl(ntohl(g->net.s_addr) + 2);
	cfg.dns.s_addr = htonl(ntohl(g->net.s_addr) + 3);
	cfg.peer = pgw_slot_addr(g, s->slot);
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
	if (s->g->kind == LINK_TCP || s->g->kind == LINK_FRAMED)
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

static void ppp_authed(void *ud)
{
	psess_t *s = ud;

	if (s->link && s->link->authed)
		s->link->authed(s->link_ud);
}

static const ppp_cbs_t ppp_cbs = {
    .output = ppp_out,
    .authed = ppp_authed,
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
	if (s->link && s->link->free)
		s->link->free(s->link_ud);
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
	if (s->link && s->link->down)
		s->link->down(s->link_ud, reason);
	wbatch_flush(&s->out); /* what the engine said last (LCP Terminate) */
	uv_timer_stop(s->tick);
	uv_timer_start(s->tick, on_end, 0, 0);
}

/* Admits c (bans, the session cap, a free address) and makes its session
 * c's front; NULL when refused, c closed. */
static psess_t *session_new(conn_t *c)
{
	pgw_t *g = c->l->front;
	psess_t *s;
	size_t slot;

	if ((g->kind == LINK_TCP || g->kind == LINK_FRAMED) && g->require_auth &&
	    authguard_banned((struct sockaddr *)&c->peer, now_ms(g))) {
		log_debug(c->id, "ppp: %s is banned (auth-guard)", c->peer_str);
		c->l->m->rejected++;
		conn_close(c, "banned");
		return NULL;
	}
	if (g->nsessions >= g->max_sessions) {
		log_info(c->id, "ppp: session limit (%llu) reached",
		         (unsigned long long)g->max_sessions);
		c->l->m->rejected++;
		conn_close(c, "session limit");
		return NULL;
	}
	for (slot = 0; slot < g->nslots && g->used[slot]; slot++)
		;
	if (slot == g->nslots) {
		conn_close(c, "no address left");
		return NULL;
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
	 * handshake-timeout, if longer: a VM connects its serial port at
	 * boot, long before its pppd speaks); on a framed link (SSTP: a
	 * client that dials when its user asks) within handshake-timeout.
	 * One that never negotiates must not hold a session slot for long. */
	if (g->kind == LINK_FRAMED)
		conn_set_deadline(c, c->l->handshake_timeout_ms);
	else if (g->kind == LINK_TCP || g->kind == LINK_UNIX)
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
	return s;
}

void pgw_session_start(psess_t *s)
{
	pgw_t *g = s->g;
	ppp_cfg_t cfg = {0};

	cfg.server = 1;
	cfg.framing = !s->link;
	cfg.auth_methods = g->auth_methods;
	cfg.require_auth = g->require_auth;
	cfg.name = "sluice";
	cfg.mru = 1500;
	cfg.ip.local = htonl(ntohl(g->net.s_addr) + 2);
	cfg.ip.peer = pgw_slot_addr(g, s->slot).s_addr;
	cfg.ip.dns1 = htonl(ntohl(g->net.s_addr) + 3);
	cfg.ipv6 = g->ipv6;
	cfg.echo_interval_ms = g->echo_ms;
	cfg.echo_failures = 3;
	s->ppp = ppp_new(&cfg, &ppp_cbs, s);
	uv_timer_start(s->tick, on_tick, 100, 100);
	ppp_start(s->ppp, now_ms(g));
}

psess_t *pgw_session_new(conn_t *c, const pgw_link_t *link, void *link_ud)
{
	psess_t *s = session_new(c);

	if (!s) {
		if (link->free)
			link->free(link_ud);
		return NULL;
	}
	s->link = link;
	s->link_ud = link_ud;
	return s;
}

void pgw_session_frame(psess_t *s, const uint8_t *frame, size_t len)
{
	if (s->ppp && !s->down)
		ppp_input_frame(s->ppp, frame, len, now_ms(s->g));
}

void pgw_session_end(psess_t *s, const char *reason)
{
	session_end(s, reason);
}

void pgw_on_conn(conn_t *c)
{
	psess_t *s = session_new(c);

	if (!s)
		return;
	stream_set_cbs(c->client, &link_cbs, s);
	stream_read_start(c->client);
	pgw_session_start(s);
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

int pgw_start(listener_t *l)
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

void pgw_stop(listener_t *l)
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
