/* ppphop: see ppphop.h.  The session is a byte link (TCP through the rest
 * of the chain, or a UNIX socket) carrying async-HDLC PPP; the engine runs
 * in the client role; pkthop does the rest (lwIP, waiting dials,
 * reconnects).
 *
 * Options: ipv6=1 (also IPV6CP), echo=D (LCP echo interval, default 10s),
 * auth=LIST (methods we agree to; default pap,chap,mschapv2), peer-ip=IP
 * (the address we give a server that asks for its own, as slirp does;
 * default 10.0.2.2), dns=IP (a name server asked after the ones IPCP
 * gives).
 */
#include "ppp/ppphop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fdstream.h"
#include "core/log.h"
#include "core/secret.h"
#include "core/tcp.h"
#include "core/wbatch.h"
#include "netstack/ippkt.h"
#include "netstack/pkthop.h"
#include "ppp/ppp.h"

enum { LINK_TCP, LINK_UNIX, LINK_STDIO };

typedef struct plink {
	pkthop_t *h;
	uv_loop_t *loop;
	int kind; /* LINK_TCP, LINK_UNIX, LINK_STDIO */
	int stdio_used;
	char *path, *user, *pass;
	unsigned auth_methods;
	uint64_t echo_ms;
	uint32_t peer_ip;
	int ipv6;
	dial_t *dial;
	stream_t *s;
	ppp_t *ppp;
	uv_timer_t tick;
	int tick_init;
	wbatch_t out; /* the frames of one loop turn, one write */
} plink_t;

static uint64_t now_ms(plink_t *p)
{
	return uv_now(p->loop);
}

static void link_release(plink_t *p)
{
	if (p->dial)
		dial_next_cancel(pkthop_dialer(p->h), p->dial);
	p->dial = NULL;
	wbatch_flush(&p->out); /* what the engine said last goes before the close */
	stream_close(p->s);
	p->s = NULL;
	if (p->ppp)
		ppp_free(p->ppp);
	p->ppp = NULL;
	uv_timer_stop(&p->tick);
}

static void fail(plink_t *p, const char *why)
{
	char buf[256];

	/* why may live in what link_release() frees (the engine's reason) */
	snprintf(buf, sizeof(buf), "%.250s", why);
	link_release(p);
	pkthop_link_down(p->h, buf);
}

static void ppp_out(void *ud, const uint8_t *buf, size_t len)
{
	plink_t *p = ud;

	if (p->s)
		wbatch_write(&p->out, p->s, buf, len);
}

static void ppp_ip(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	plink_t *p = ud;

	pkthop_link_input(p->h, pkt, len);
}

void ppphop_link_up(pkthop_t *h, ppp_t *ppp, const ppp_ipcfg_t *ip)
{
	lwipep_addr_t a = {0};

	a.local.s_addr = ip->local;
	a.peer.s_addr = ip->peer;
	a.dns4[0].s_addr = ip->dns1;
	a.dns4[1].s_addr = ip->dns2;
	a.mtu = ppp_peer_mru(ppp);
	if (ip->ipv6) /* link-local from IPV6CP, global addresses by SLAAC */
		memcpy(a.ifid6, ip->local_ifid, 8);
	pkthop_link_up(h, &a);
}

int ppphop_send_ip(ppp_t *ppp, const uint8_t *pkt, size_t len)
{
	return ppp_send_ip(ppp, ippkt_version(pkt, len) == 6 ? PPP_IPV6 : PPP_IP, pkt, len);
}

static void ppp_up(void *ud, const ppp_ipcfg_t *ip)
{
	plink_t *p = ud;

	ppphop_link_up(p->h, p->ppp, ip);
}

static void ppp_down(void *ud, const char *reason)
{
	fail(ud, reason);
}

static void ppp_log(void *ud, int level, const char *msg)
{
	plink_t *p = ud;

	LOG_AT(level, 0, "%s: ppp: %s", pkthop_name(p->h), msg);
}

static const ppp_cbs_t cbs = {
    .output = ppp_out,
    .ip_input = ppp_ip,
    .up = ppp_up,
    .down = ppp_down,
    .log = ppp_log,
};

static void on_tick(uv_timer_t *t)
{
	plink_t *p = t->data;

	if (p->ppp)
		ppp_tick(p->ppp, now_ms(p));
}

static void s_read(stream_t *s, sbuf_t *b)
{
	plink_t *p = s->data;

	if (!b) {
		fail(p, "the server closed the link");
		return;
	}
	ppp_input_bytes(p->ppp, sbuf_ptr(b), b->len, now_ms(p));
	sbuf_free(b);
}

static void s_error(stream_t *s, int err)
{
	fail(s->data, uv_strerror(err));
}

static const stream_cbs_t s_cbs = {s_read, NULL, s_error};

static void start_ppp(plink_t *p, stream_t *s)
{
	ppp_cfg_t cfg = {0};

	p->s = s;
	cfg.server = 0;
	cfg.framing = 1;
	cfg.auth_methods = p->auth_methods;
	cfg.name = p->user ? p->user : "";
	cfg.password = p->pass ? p->pass : "";
	cfg.mru = 1500;
	/* a server that asks us for its own address (slirp does) gets this */
	cfg.ip.peer = p->peer_ip;
	cfg.ipv6 = p->ipv6;
	cfg.echo_interval_ms = p->echo_ms;
	cfg.echo_failures = 3;
	p->ppp = ppp_new(&cfg, &cbs, p);
	stream_set_cbs(s, &s_cbs, p);
	stream_read_start(s);
	uv_timer_start(&p->tick, on_tick, 100, 100);
	ppp_start(p->ppp, now_ms(p));
}

static void on_dialed(void *ud, stream_t *s, int err)
{
	plink_t *p = ud;

	p->dial = NULL;
	if (err < 0) {
		char why[300];
		snprintf(why, sizeof(why), "cannot reach the PPP server: %s", uv_strerror(err));
		pkthop_link_down(p->h, why);
		return;
	}
	start_ppp(p, s);
}

static void on_unix(stream_t *s, int status, void *ud)
{
	plink_t *p = ud;

	if (status < 0) {
		char why[300];
		stream_close(s);
		p->s = NULL;
		snprintf(why, sizeof(why), "cannot reach %s: %s", p->path, uv_strerror(status));
		pkthop_link_down(p->h, why);
		return;
	}
	p->s = NULL;
	start_ppp(p, s);
}

static int link_start(pkthop_t *h)
{
	plink_t *p = pkthop_link(h);
	dial_opts_t o = {0};

	if (p->kind == LINK_STDIO) {
		/* stdin/stdout carry one session only, like pppd's */
		if (p->stdio_used)
			return UV_EOF;
		p->stdio_used = 1;
		start_ppp(p, fdstream_new(p->loop, 0, 1, 0, 0));
		return 0;
	}
	if (p->kind == LINK_UNIX) {
		p->s = unix_stream_new(p->loop, 0);
		return unix_stream_connect(p->s, p->path, on_unix, p);
	}
	p->dial = dial_next(pkthop_dialer(h), &o, on_dialed, p);
	return p->dial ? 0 : UV_ENOMEM;
}

static int link_send(pkthop_t *h, const uint8_t *pkt, size_t len)
{
	plink_t *p = pkthop_link(h);

	if (!p->ppp)
		return UV_ENETDOWN;
	/* a slow link: drop, as a router would (TCP recovers; datagrams,
	 * which nothing slows down, must not pile up here) */
	if (p->s && p->s->wq_bytes > STREAM_HIGH_WATER)
		return UV_ENOBUFS;
	return ppphop_send_ip(p->ppp, pkt, len);
}

static void link_stop(pkthop_t *h)
{
	link_release(pkthop_link(h));
}

static void free_on_close(uv_handle_t *t)
{
	free(t->data);
}

static void link_free(pkthop_t *h)
{
	plink_t *p = pkthop_link(h);

	link_release(p);
	free(p->path);
	free(p->user);
	secret_free_str(p->pass);
	wbatch_close(&p->out);
	uv_close((uv_handle_t *)&p->tick, free_on_close);
}

static const pktlink_ops_t ppp_link_ops = {"ppp", link_start, link_send, link_stop, link_free};

static int parse_auth(void *obj, const char *v, char *err, size_t errlen)
{
	return auth_methods_parse(v, "auth", &((ppp_link_opts_t *)obj)->auth, NULL, err, errlen);
}

static const opt_t link_opts[] = {
    OPT_FUNC("auth", parse_auth, "pap,chap,mschapv2", "LIST", "authentication methods we agree to"),
    OPT_DURATION(ppp_link_opts_t, echo_ms, "echo", "10s",
                 "keepalive: an echo after this much silence (an LCP echo; on sstp:// an SSTP "
                 "echo, the call dropped after 3 unanswered)"),
    OPT_BOOL(ppp_link_opts_t, ipv6, "ipv6", "0", "also negotiate IPV6CP"),
};

const opt_schema_t ppp_link_opts = OPT_SCHEMA_AT(ppp_link_opts_t, pkt, &pkthop_opts, link_opts);

typedef struct hop_opts {
	ppp_link_opts_t link;
	uint32_t peer_ip;
} hop_opts_t;

static int parse_peer_ip(void *obj, const char *v, char *err, size_t errlen)
{
	struct in_addr a;

	if (inet_pton(AF_INET, v, &a) != 1) {
		snprintf(err, errlen, "option 'peer-ip': '%s' is not an IPv4 address", v);
		return -EINVAL;
	}
	((hop_opts_t *)obj)->peer_ip = a.s_addr;
	return 0;
}

static const opt_t hop_opts[] = {
    OPT_FUNC("peer-ip", parse_peer_ip, "10.0.2.2", "IP",
             "the address given to a server that asks for one, as slirp does"),
};

const opt_schema_t ppphop_opts = OPT_SCHEMA_AT(hop_opts_t, link, &ppp_link_opts, hop_opts);

static int hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                   size_t errlen, int kind)
{
	plink_t *p = calloc(1, sizeof(*p));
	hop_opts_t o = {.peer_ip = 0}; /* and every other field 0 */
	char name[300];
	target_t server = {0};
	int r;

	if (!p)
		abort();
	p->loop = loop;
	p->kind = kind;
	uv_timer_init(loop, &p->tick);
	p->tick.data = p;
	wbatch_init(&p->out, loop);
	if ((r = opts_parse(&ppphop_opts, u, &o, err, errlen)) < 0)
		goto fail;
	p->auth_methods = o.link.auth;
	p->echo_ms = o.link.echo_ms;
	p->ipv6 = o.link.ipv6;
	p->peer_ip = o.peer_ip;
	if (u->user)
		p->user = strdup(u->user);
	if (u->pass)
		p->pass = strdup(u->pass);
	if (kind == LINK_STDIO) {
		snprintf(name, sizeof(name), "ppp+stdio://");
	} else if (kind == LINK_UNIX) {
		if (!u->path[0]) {
			snprintf(err, errlen, "a socket path is required: ppp+unix:///path.sock");
			r = -EINVAL;
			goto fail;
		}
		p->path = strdup(u->path);
		snprintf(name, sizeof(name), "ppp+unix://%s", u->path);
	} else {
		if (!u->host[0] || u->port < 0 ||
		    target_set(&server, u->host, (uint16_t)u->port) < 0) {
			snprintf(err, errlen, "a server is required: ppp+tcp://HOST:PORT");
			r = -EINVAL;
			goto fail;
		}
		target_str(&server, name + 10, sizeof(name) - 10);
		memcpy(name, "ppp+tcp://", 10);
	}
	p->h = pkthop_new(loop, next, kind != LINK_TCP ? NULL : &server, &ppp_link_ops, p, name,
	                  &o.link.pkt);
	if (!p->h) {
		snprintf(err, errlen, "cannot start the lwIP endpoint (one loop per process)");
		r = -EINVAL;
		goto fail;
	}
	*out = pkthop_dialer(p->h);
	return 0;
fail:
	free(p->path);
	free(p->user);
	free(p->pass);
	wbatch_close(&p->out);
	uv_close((uv_handle_t *)&p->tick, free_on_close);
	return r;
}

int ppp_tcp_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                    size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, LINK_TCP);
}

int ppp_unix_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                     size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, LINK_UNIX);
}

int ppp_stdio_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                      size_t errlen)
{
	return hop_new(loop, u, next, out, err, errlen, LINK_STDIO);
}
