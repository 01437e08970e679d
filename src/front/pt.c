/* pt: see pt.h.  Three parts (the parsers are pt_proto.c): the client (a dialer that
 * reads the bridge arguments and keeps one hop per bridge); the server (a
 * fixed-destination dialer under each tunnel listener); then the driver
 * that reads the environment, talks to tor on stdout and runs the loop.
 *
 * Both sides are ordinary listeners with a dialer of ours as the chain:
 *
 *   client  front/socks.c in its SOCKS_PASS_CRED mode (tor puts the bridge
 *           line's arguments in the SOCKS credentials), chain pt_client:
 *           the target is the bridge; the credentials, read from
 *           dial_opts_t, pick or make the bridge's hop, and the dial goes
 *           through it.
 *   server  the tunnel listeners (ws://, sctp+udp://), chain pt_fixed: the
 *           target inside the tunnel is not used, every connection goes to
 *           tor; the client's address for USERADDR is dial_opts_t.peer.
 */
#include "front/pt.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/dial.h"
#include "core/encoding.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/runtime.h"
#include "core/transport.h"
#include "core/tunkey.h"
#include "front/extorport.h"
#include "front/pt_proto.h"
#include "front/socks.h"

/* ---- shared state of the process ---- */

typedef struct pt_transport {
	const char *name;   /* for tor */
	const char *scheme; /* hop and listener */
} pt_transport_t;

static const pt_transport_t transports[] = {
    {"ws", "ws"},
    {"sctp", "sctp+udp"},
};
#define NTRANSPORTS (sizeof(transports) / sizeof(transports[0]))
#define PT_BRIDGES_MAX 256

typedef struct pt_bridge {
	struct pt_bridge *next;
	char *key; /* scheme, bridge and arguments: the hop's URL */
	url_t *u;
	dialer_t *d;
} pt_bridge_t;

typedef struct pt_fixed pt_fixed_t;

static struct {
	uv_loop_t *loop;
	FILE *out;
	dialer_t *base; /* direct, or TOR_PT_PROXY's hop then direct */
	url_t *proxy_url;
	pt_bridge_t *bridges;
	size_t nbridges;
	listener_t *ls[NTRANSPORTS];
	url_t *lus[NTRANSPORTS];
	dialer_t *chains[NTRANSPORTS]; /* each listener's: pt_client or pt_fixed */
	size_t nl;
	uv_pipe_t in_pipe;
	uv_tty_t in_tty;
} pt;

/* One line to tor. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(pt.out, fmt, ap);
	va_end(ap);
	fputc('\n', pt.out);
	fflush(pt.out);
}

static const pt_transport_t *transport_find(const char *name)
{
	for (size_t i = 0; i < NTRANSPORTS; i++)
		if (!strcmp(transports[i].name, name))
			return &transports[i];
	return NULL;
}

/* Percent-encode for a URL option value or user name. */
static void pct_encode(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in && o + 4 < cap; in++) {
		unsigned char ch = (unsigned char)*in;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = 0;
}

/* scheme://host:port?k=v&k=v (v percent-encoded) into out. */
static int url_build(char *out, size_t cap, const char *scheme, const char *host, unsigned port,
                     const pt_args_t *a, const char *extra)
{
	size_t o;
	char v[3 * PT_VAL_MAX + 1];

	o = (size_t)snprintf(out, cap, strchr(host, ':') ? "%s://[%s]:%u" : "%s://%s:%u", scheme,
	                     host, port);
	for (size_t i = 0; a && i < a->n && o < cap; i++) {
		pct_encode(a->kv[i].val, v, sizeof(v));
		for (const char *k = a->kv[i].key; *k; k++)
			if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
			      (*k >= '0' && *k <= '9') || *k == '-' || *k == '_'))
				return -EINVAL;
		o += (size_t)snprintf(out + o, cap - o, "%c%s=%s", i ? '&' : '?', a->kv[i].key, v);
	}
	if (extra && o < cap)
		o += (size_t)snprintf(out + o, cap - o, "%c%s", a && a->n ? '&' : '?', extra);
	return o < cap ? 0 : -ENOSPC;
}

/* ---- client: bridges ---- */

static int bridge_get(const pt_transport_t *t, const target_t *tg, const pt_args_t *a,
                      dialer_t **out, char *err, size_t errlen)
{
	char key[4096];
	const transport_scheme_t *ts = transport_hop(t->scheme);
	pt_bridge_t *b;
	int r;

	if (!ts) {
		snprintf(err, errlen, "transport %s: %s:// is not built into this sluice", t->name,
		         t->scheme);
		return -ENOTSUP;
	}
	if (url_build(key, sizeof(key), t->scheme, tg->host, tg->port, a, NULL) < 0) {
		snprintf(err, errlen, "bad bridge arguments");
		return -EINVAL;
	}
	for (b = pt.bridges; b; b = b->next)
		if (!strcmp(b->key, key)) {
			*out = b->d;
			return 0;
		}
	if (pt.nbridges >= PT_BRIDGES_MAX) {
		snprintf(err, errlen, "too many bridges (%d)", PT_BRIDGES_MAX);
		return -ENOSPC;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		abort();
	if ((r = url_parse(key, &b->u, err, errlen)) < 0 ||
	    (r = ts->hop(pt.loop, b->u, pt.base, &b->d, err, errlen)) < 0) {
		url_free(b->u);
		free(b);
		return r;
	}
	if ((r = url_check_opts(b->u, err, errlen)) < 0) {
		b->d->ops->free(b->d);
		url_free(b->u);
		free(b);
		return r;
	}
	b->key = strdup(key);
	b->next = pt.bridges;
	pt.bridges = b;
	pt.nbridges++;
	log_info(0, "pt: new %s hop to %s:%u", t->name, tg->host, tg->port);
	*out = b->d;
	return 0;
}

static void bridges_free(void)
{
	while (pt.bridges) {
		pt_bridge_t *b = pt.bridges;
		pt.bridges = b->next;
		b->d->ops->free(b->d); /* this hop only: base is shared */
		url_free(b->u);
		free(b->key);
		free(b);
	}
	pt.nbridges = 0;
}

/* ---- client: the dialer under each SOCKS listener ---- */

/* The chain of a transport's SOCKS listener (front/socks.c with
 * SOCKS_PASS_CRED): the target is the bridge, the credentials carry its
 * arguments.  Each dial finds or makes the bridge's hop and goes through it;
 * a bad argument list or hop option fails with UV_EINVAL (SOCKS reply 1) on
 * the next loop turn. */
typedef struct pt_client {
	dialer_t d; /* no d.next: the bridge hops hang on pt.base */
	const pt_transport_t *t;
} pt_client_t;

typedef struct client_req {
	uv_timer_t timer; /* first (closed with free); only for a refusal (err != 0) */
	dialer_t *hop;
	dial_t *dial;
	dial_cb cb;
	void *ud;
	int err;
} client_req_t;

static void client_dialed(void *ud, stream_t *s, int err)
{
	client_req_t *q = ud;
	dial_cb cb = q->cb;
	void *cud = q->ud;

	free(q);
	cb(cud, s, err);
}

static void client_refused(uv_timer_t *t)
{
	client_req_t *q = t->data;
	dial_cb cb = q->cb;
	void *cud = q->ud;
	int err = q->err;

	uv_close((uv_handle_t *)&q->timer, (uv_close_cb)free);
	cb(cud, NULL, err);
}

static dial_t *client_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                           void *ud)
{
	pt_client_t *pc = (pt_client_t *)d;
	const dial_cred_t *cr = o->cred;
	client_req_t *q = calloc(1, sizeof(*q));
	/* the bridge is the hop's server: no target ACL, as for any hop */
	dial_opts_t o2 = {.id = o->id, .peer = o->peer};
	pt_args_t a = {0};
	char err[URL_ERRLEN];
	int r = 0;

	if (!q)
		abort();
	q->cb = cb;
	q->ud = ud;
	if (cr && pt_socks5_args(cr->user, cr->ulen, cr->pass, cr->plen, &a) < 0) {
		log_info(o->id, "pt %s: malformed bridge arguments in the SOCKS credentials",
		         pc->t->name);
		r = UV_EINVAL;
	} else if (pt_bridge_args_check(pc->t->name, &a, err, sizeof(err)) < 0) {
		log_warn(o->id, "pt %s: bridge %s:%u refused: %s", pc->t->name, t->host, t->port,
		         err);
		r = UV_EINVAL;
	} else if (bridge_get(pc->t, t, &a, &q->hop, err, sizeof(err)) < 0) {
		log_info(o->id, "pt %s: %s", pc->t->name, err);
		r = UV_EINVAL;
	}
	explicit_bzero(&a, sizeof(a));
	if (r < 0) {
		q->err = r;
		uv_timer_init(d->loop, &q->timer);
		q->timer.data = q;
		uv_timer_start(&q->timer, client_refused, 0, 0);
		return (dial_t *)q;
	}
	log_debug(o->id, "pt %s: CONNECT bridge %s:%u", pc->t->name, t->host, t->port);
	q->dial = q->hop->ops->dial(q->hop, t, &o2, client_dialed, q);
	if (!q->dial) {
		free(q);
		return NULL;
	}
	return (dial_t *)q;
}

static void client_cancel(dialer_t *d, dial_t *req)
{
	client_req_t *q = (client_req_t *)req;

	if (q->err) {
		uv_close((uv_handle_t *)&q->timer, (uv_close_cb)free);
		return;
	}
	q->hop->ops->cancel(q->hop, q->dial);
	free(q);
}

static void client_free(dialer_t *d)
{
	free(d);
}

static const dialer_ops_t client_ops = {
    .scheme = "pt-bridge", .dial = client_dial, .cancel = client_cancel, .free = client_free};

/* ---- server: every connection to tor ---- */

struct pt_fixed {
	dialer_t d; /* d.server: the ORPort or Extended ORPort; d.next: direct */
	int ext;
	uint8_t cookie[EXTOR_COOKIE_LEN];
	const pt_transport_t *t;
};

typedef struct fixed_req {
	pt_fixed_t *f;
	dial_t *dial;
	extor_req_t *ext;
	dial_cb cb;
	void *ud;
	uint64_t id;
	char useraddr[64];
} fixed_req_t;

static void fixed_ext_done(void *ud, stream_t *s, int err)
{
	fixed_req_t *q = ud;
	dial_cb cb = q->cb;
	void *cud = q->ud;

	if (err < 0)
		log_warn(q->id, "pt %s: Extended ORPort: %s", q->f->t->name,
		         err == -EACCES ? "authentication failed or DENY" : strerror(-err));
	free(q);
	cb(cud, s, err < 0 ? UV_ECONNREFUSED : 0);
}

static void fixed_connected(void *ud, stream_t *s, int err)
{
	fixed_req_t *q = ud;
	dial_cb cb = q->cb;
	void *cud = q->ud;

	q->dial = NULL;
	if (err < 0 || !q->f->ext) {
		free(q);
		cb(cud, s, err);
		return;
	}
	q->ext = extor_start(q->f->d.loop, s, q->f->cookie, q->useraddr, q->f->t->name,
	                     fixed_ext_done, q);
}

static dial_t *fixed_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                          void *ud)
{
	pt_fixed_t *f = (pt_fixed_t *)d;
	fixed_req_t *q = calloc(1, sizeof(*q));

	if (!q)
		abort();
	q->f = f;
	q->cb = cb;
	q->ud = ud;
	q->id = o->id;
	if (o->peer)
		sockaddr_str(o->peer, q->useraddr, sizeof(q->useraddr));
	if (q->useraddr[0] == '?')
		q->useraddr[0] = 0;
	q->dial = dial_next(d, o, fixed_connected, q);
	if (!q->dial) {
		free(q);
		return NULL;
	}
	return (dial_t *)q;
}

static void fixed_cancel(dialer_t *d, dial_t *req)
{
	fixed_req_t *q = (fixed_req_t *)req;

	if (q->dial)
		dial_next_cancel(d, q->dial);
	if (q->ext)
		extor_cancel(q->ext);
	free(q);
}

static void fixed_free(dialer_t *d)
{
	chain_free(d->next);
	explicit_bzero(((pt_fixed_t *)d)->cookie, EXTOR_COOKIE_LEN);
	free(d);
}

static const dialer_ops_t fixed_ops = {
    .scheme = "pt-orport", .dial = fixed_dial, .cancel = fixed_cancel, .free = fixed_free};

/* ---- the driver ---- */

/* The runtime's teardown (core/runtime.h): every listener, its chain, the
 * bridges and the base. */
static void stop_all(void *ud)
{
	for (size_t i = 0; i < pt.nl; i++) {
		if (!pt.ls[i])
			continue;
		listener_stop(pt.ls[i]);
		listener_free(pt.ls[i]);
		url_free(pt.lus[i]);
		pt.ls[i] = NULL;
		pt.chains[i]->ops->free(pt.chains[i]);
		pt.chains[i] = NULL;
	}
	bridges_free();
	chain_free(pt.base);
	pt.base = NULL;
}

/* tor asks a transport to stop by a signal: at once, no drain */
static const runtime_hooks_t hooks = {.teardown = stop_all, .tag = "pt: "};

static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char scratch[256];

	buf->base = scratch;
	buf->len = sizeof(scratch);
}

static void in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0)
		runtime_finish(&hooks, "stdin closed");
}

/* TOR_PT_EXIT_ON_STDIN_CLOSE=1: watch stdin for EOF. */
static void watch_stdin(void)
{
	uv_stream_t *s = NULL;

	switch (uv_guess_handle(0)) {
	case UV_NAMED_PIPE:
		if (uv_pipe_init(pt.loop, &pt.in_pipe, 0) == 0 && uv_pipe_open(&pt.in_pipe, 0) == 0)
			s = (uv_stream_t *)&pt.in_pipe;
		break;
	case UV_TTY:
		if (uv_tty_init(pt.loop, &pt.in_tty, 0, 1) == 0)
			s = (uv_stream_t *)&pt.in_tty;
		break;
	default:
		break;
	}
	if (!s || uv_read_start(s, in_alloc, in_read) < 0)
		log_warn(0, "pt: cannot watch stdin for TOR_PT_EXIT_ON_STDIN_CLOSE");
}

/* The server key of transport `name` in base64: read from the state
 * directory, or made and stored there on first run (pt-spec: we may create
 * the directory). */
static int state_key(const char *dir, const char *name, char *key, size_t cap)
{
	char path[4200], err[300];
	uint8_t k[KEY_MAX];
	size_t klen;
	int r;

	if (!dir || !*dir)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s%ssluice-%s.key", dir,
	         dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	if ((r = tunkey_file(path, 1, k, &klen, err, sizeof(err))) < 0) {
		log_err(0, "pt: %s", err);
		return r;
	}
	if (r == 1)
		log_info(0, "pt: made a new %s key in %s", name, path);
	if (cap < 4 * ((klen + 2) / 3) + 1)
		return -ENOSPC;
	b64_encode(k, klen, key);
	OPENSSL_cleanse(k, sizeof(k));
	return 0;
}

/* A free UDP port on host (for tunnels whose listener cannot tell us the
 * port it was given). */
static int free_udp_port(const char *host)
{
	uv_udp_t u;
	struct sockaddr_storage ss;
	target_t t;
	int len = sizeof(ss), port = -1;

	if (target_set(&t, host, 0) < 0 || !target_is_ip(&t, &ss))
		return -1;
	uv_udp_init(pt.loop, &u);
	if (uv_udp_bind(&u, (struct sockaddr *)&ss, 0) == 0 &&
	    uv_udp_getsockname(&u, (struct sockaddr *)&ss, &len) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                      : ((struct sockaddr_in *)&ss)->sin_port);
	uv_close((uv_handle_t *)&u, NULL);
	return port;
}

/* Port 0 is not a URL port: TCP listeners are built on a placeholder and
 * bind port 0 (the kernel picks; bound_addr() reads it back). */
static void bind_any_port(listener_t *l)
{
	if (l->bind.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&l->bind)->sin6_port = 0;
	else
		((struct sockaddr_in *)&l->bind)->sin_port = 0;
}

/* The address a TCP listener got (the port, when it asked for 0). */
static void bound_addr(listener_t *l, const char *host, int port, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (!l->ops->start && uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                      : ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(out, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* The next transport of a TOR_PT_*_TRANSPORTS list ("*": all of ours),
 * skipping the ones we do not have: 1 (*t set), 0 (end), -EINVAL. */
typedef struct tlist {
	const char *p;
	size_t i; /* for "*" */
} tlist_t;

static int tlist_next(tlist_t *it, const pt_transport_t **t)
{
	char name[128];
	int r;

	if (!strcmp(it->p, "*")) {
		if (it->i >= NTRANSPORTS)
			return 0;
		*t = &transports[it->i++];
		return 1;
	}
	while ((r = pt_list_next(&it->p, name, sizeof(name))) > 0) {
		if ((*t = transport_find(name)))
			return 1;
		log_info(0, "pt: transport %s is not ours: ignored", name);
	}
	return r;
}

/* A SOCKS listener on 127.0.0.1 whose chain is a pt_client for t. */
static void client_one(const pt_transport_t *t)
{
	char err[URL_ERRLEN * 2], addr[128];
	pt_client_t *pc = calloc(1, sizeof(*pc));
	listener_t *l;

	if (!pc)
		abort();
	pc->d.ops = &client_ops;
	pc->d.loop = pt.loop;
	pc->t = t;
	if (url_parse("socks://127.0.0.1:1", &pt.lus[pt.nl], err, sizeof(err)) < 0 ||
	    listener_new(pt.loop, pt.lus[pt.nl], &pc->d, &pt.ls[pt.nl], err, sizeof(err)) < 0) {
		say("CMETHOD-ERROR %s %s", t->name, err);
		url_free(pt.lus[pt.nl]);
		free(pc);
		return;
	}
	l = pt.ls[pt.nl];
	l->ops = &socks_cred_front_ops; /* the credentials carry the arguments */
	bind_any_port(l);
	snprintf(l->name, sizeof(l->name), "pt-%s-socks", t->name);
	if (listener_start(l, err, sizeof(err)) < 0) {
		say("CMETHOD-ERROR %s %s", t->name, err);
		listener_free(l);
		url_free(pt.lus[pt.nl]);
		free(pc);
		return;
	}
	pt.chains[pt.nl] = &pc->d;
	bound_addr(l, "127.0.0.1", 0, addr, sizeof(addr));
	pt.nl++;
	say("CMETHOD %s socks5 %s", t->name, addr);
}

static int client_setup(const char *list)
{
	const char *proxy = getenv("TOR_PT_PROXY");
	char err[URL_ERRLEN * 2];
	const pt_transport_t *t;
	tlist_t it = {list, 0};
	int r;

	if (proxy && *proxy) {
		if (url_parse(proxy, &pt.proxy_url, err, sizeof(err)) < 0) {
			say("PROXY-ERROR %s", err);
			return 1;
		}
		if (!transport_hop(pt.proxy_url->scheme) ||
		    (strcmp(pt.proxy_url->scheme, "socks5") &&
		     strcmp(pt.proxy_url->scheme, "socks4a") &&
		     strcmp(pt.proxy_url->scheme, "socks4") &&
		     strcmp(pt.proxy_url->scheme, "http"))) {
			say("PROXY-ERROR proxy type %s is not supported (socks5, socks4a, socks4, "
			    "http)",
			    pt.proxy_url->scheme);
			return 1;
		}
		if (pt.proxy_url->port < 0 ||
		    chain_build(pt.loop, &pt.proxy_url, 1, &pt.base, err, sizeof(err)) < 0) {
			say("PROXY-ERROR %s",
			    pt.proxy_url->port < 0 ? "the proxy needs a port" : err);
			return 1;
		}
		say("PROXY DONE");
	} else {
		pt.base = direct_dialer_new(pt.loop);
	}
	while ((r = tlist_next(&it, &t)) > 0 && pt.nl < NTRANSPORTS)
		client_one(t);
	if (r < 0) {
		say("ENV-ERROR TOR_PT_CLIENT_TRANSPORTS is malformed");
		return 1;
	}
	say("CMETHODS DONE");
	return 0;
}

static int server_one(const pt_transport_t *t, const char *bindenv, const char *optenv,
                      const target_t *to, int ext, const uint8_t *cookie)
{
	char err[URL_ERRLEN * 2], bind[300], host[256], key[128], esc[256], url[8192], addr[300];
	const char *state = getenv("TOR_PT_STATE_LOCATION");
	pt_args_t a = {0};
	const transport_scheme_t *ts;
	pt_fixed_t *f;
	uint16_t port;
	int r, p;
	size_t n;

	if (!(ts = transport_listener(t->scheme))) {
		say("SMETHOD-ERROR %s %s:// is not built into this sluice", t->name, t->scheme);
		return 0;
	}
	r = pt_bindaddr(bindenv, t->name, bind, sizeof(bind));
	if (r < 0) {
		say("ENV-ERROR TOR_PT_SERVER_BINDADDR is malformed");
		return -1;
	}
	if (r == 0)
		strcpy(bind, "0.0.0.0:0");
	if (hostport_parse_any(bind, host, sizeof(host), &port) < 0) {
		say("SMETHOD-ERROR %s bad bind address", t->name);
		return 0;
	}
	if (pt_server_options(optenv, t->name, &a) < 0) {
		say("ENV-ERROR TOR_PT_SERVER_TRANSPORT_OPTIONS is malformed");
		return -1;
	}
	if (pt_args_get(&a, "key")) {
		snprintf(key, sizeof(key), "%s", pt_args_get(&a, "key"));
	} else if ((r = state_key(state, t->name, key, sizeof(key))) < 0) {
		say("SMETHOD-ERROR %s no key: TOR_PT_STATE_LOCATION: %s", t->name, strerror(-r));
		return 0;
	} else {
		if (a.n >= PT_ARGS_MAX) {
			say("SMETHOD-ERROR %s too many options", t->name);
			return 0;
		}
		snprintf(a.kv[a.n].key, PT_KEY_MAX, "key");
		snprintf(a.kv[a.n++].val, PT_VAL_MAX, "%s", key);
	}
	/* base64 padding is optional for keys: leave it out of bridge lines */
	while ((n = strlen(key)) && key[n - 1] == '=')
		key[n - 1] = 0;
	p = port;
	if (!p && !ts->listen->start) /* on the shared TCP accept path */
		p = 1;                /* placeholder: see bind_any_port() */
	else if (!p && (p = free_udp_port(host)) < 0) {
		say("SMETHOD-ERROR %s no free port on %s", t->name, host);
		return 0;
	}
	/* the target inside the tunnel is never dialed (everything goes to
	 * tor): no policy on it */
	if (url_build(url, sizeof(url), t->scheme, host, (unsigned)p, &a,
	              "host-loopback=1&link-local=1") < 0) {
		say("SMETHOD-ERROR %s bad options", t->name);
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->d.ops = &fixed_ops;
	f->d.loop = pt.loop;
	f->d.next = direct_dialer_new(pt.loop);
	f->d.server = *to;
	f->ext = ext;
	f->t = t;
	if (ext)
		memcpy(f->cookie, cookie, EXTOR_COOKIE_LEN);
	if (url_parse(url, &pt.lus[pt.nl], err, sizeof(err)) < 0 ||
	    listener_new(pt.loop, pt.lus[pt.nl], &f->d, &pt.ls[pt.nl], err, sizeof(err)) < 0) {
		say("SMETHOD-ERROR %s %s", t->name, err);
		url_free(pt.lus[pt.nl]);
		fixed_free(&f->d);
		return 0;
	}
	if (!port && !pt.ls[pt.nl]->ops->start)
		bind_any_port(pt.ls[pt.nl]);
	if (listener_start(pt.ls[pt.nl], err, sizeof(err)) < 0) {
		say("SMETHOD-ERROR %s %s", t->name, err);
		listener_free(pt.ls[pt.nl]);
		url_free(pt.lus[pt.nl]);
		fixed_free(&f->d);
		return 0;
	}
	pt.chains[pt.nl] = &f->d;
	bound_addr(pt.ls[pt.nl], host, p, addr, sizeof(addr));
	pt.nl++;
	if (!pt_args_escape(key, esc, sizeof(esc))) {
		say("SMETHOD-ERROR %s key too long", t->name);
		return 0;
	}
	say("SMETHOD %s %s ARGS:key=%s", t->name, addr, esc);
	explicit_bzero(key, sizeof(key));
	explicit_bzero(&a, sizeof(a));
	return 0;
}

static int server_setup(const char *list)
{
	const char *bindenv = getenv("TOR_PT_SERVER_BINDADDR");
	const char *optenv = getenv("TOR_PT_SERVER_TRANSPORT_OPTIONS");
	const char *orport = getenv("TOR_PT_ORPORT");
	const char *extport = getenv("TOR_PT_EXTENDED_SERVER_PORT");
	const char *cookiefile = getenv("TOR_PT_AUTH_COOKIE_FILE");
	uint8_t cookie[EXTOR_COOKIE_LEN] = {0};
	char host[256];
	target_t to;
	uint16_t port;
	int ext = extport && *extport, r;
	const pt_transport_t *t;
	tlist_t it = {list, 0};

	if (bindenv && *bindenv && pt_bindaddr(bindenv, "", host, sizeof(host)) < 0) {
		say("ENV-ERROR TOR_PT_SERVER_BINDADDR is malformed");
		return 1;
	}
	if (ext) {
		if (!cookiefile || !*cookiefile) {
			say("ENV-ERROR no TOR_PT_AUTH_COOKIE_FILE when TOR_PT_EXTENDED_SERVER_PORT "
			    "is set");
			return 1;
		}
		if ((r = extor_cookie_load(cookiefile, cookie)) < 0) {
			say("ENV-ERROR cannot read the Extended ORPort cookie %s: %s", cookiefile,
			    r == -EINVAL ? "not a cookie file" : strerror(-r));
			return 1;
		}
		if (hostport_parse(extport, host, sizeof(host), &port) < 0) {
			say("ENV-ERROR TOR_PT_EXTENDED_SERVER_PORT is not ADDR:PORT");
			return 1;
		}
	} else {
		if (!orport || !*orport) {
			say("ENV-ERROR neither TOR_PT_ORPORT nor TOR_PT_EXTENDED_SERVER_PORT is "
			    "set");
			return 1;
		}
		if (hostport_parse(orport, host, sizeof(host), &port) < 0) {
			say("ENV-ERROR TOR_PT_ORPORT is not ADDR:PORT");
			return 1;
		}
	}
	target_set(&to, host, port);
	if (ext && !target_is_ip(&to, &(struct sockaddr_storage){0}))
		log_warn(0, "pt: the Extended ORPort %s is not an IP literal", extport);
	while ((r = tlist_next(&it, &t)) > 0 && pt.nl < NTRANSPORTS)
		if (server_one(t, bindenv, optenv, &to, ext, cookie) < 0)
			return 1;
	if (r < 0) {
		say("ENV-ERROR TOR_PT_SERVER_TRANSPORTS is malformed");
		return 1;
	}
	explicit_bzero(cookie, sizeof(cookie));
	say("SMETHODS DONE");
	return 0;
}

int pt_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"log-level", required_argument, NULL, RUNTIME_OPT_LOG_LEVEL},
	    {"log-file", required_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	const char *ver = getenv("TOR_PT_MANAGED_TRANSPORT_VER");
	const char *cli = getenv("TOR_PT_CLIENT_TRANSPORTS");
	const char *srv = getenv("TOR_PT_SERVER_TRANSPORTS");
	const char *exit_stdin = getenv("TOR_PT_EXIT_ON_STDIN_CLOSE");
	const char *lvl = getenv("SLUICE_LOG");
	int c, r, verbosity = 0, level = lvl ? log_level_parse(lvl) : -1;

	pt.out = stdout;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vq", longopts, NULL)) != -1) {
		if ((r = runtime_log_opt(c, optarg, &level, &verbosity)) < 0) {
			fprintf(stderr, "sluice pt: " RUNTIME_LOG_LEVEL_HELP "\n");
			return 2;
		}
		if (r)
			continue;
		switch (c) {
		case 'f': {
			/* tor owns stdout and stderr: the log goes to the file */
			log_cfg_t lc = {
			    .file = optarg, .format = LOG_TEXT, .rate = LOG_RATE_DEFAULT};
			char err[300];
			if (log_configure(&lc, err, sizeof(err)) < 0) {
				fprintf(stdout, "ENV-ERROR %s\n", err);
				return 1;
			}
			break;
		}
		default:
			fprintf(stderr,
			        "usage: sluice pt [-v|-q] [--log-level L] [--log-file FILE]\n");
			return 2;
		}
	}
	runtime_log_level(level, verbosity);

	r = pt_version_pick(ver);
	if (r <= 0) {
		say("VERSION-ERROR no-version");
		return 1;
	}
	say("VERSION 1");
	if ((!cli || !*cli) && (!srv || !*srv)) {
		say("ENV-ERROR neither TOR_PT_CLIENT_TRANSPORTS nor TOR_PT_SERVER_TRANSPORTS is "
		    "set");
		return 1;
	}
	pt.loop = runtime_init();
	if (cli && *cli)
		r = client_setup(cli);
	else
		r = server_setup(srv);
	if (r) {
		runtime_finish(&hooks, "configuration error");
		uv_run(pt.loop, UV_RUN_DEFAULT);
		return r;
	}
	if (exit_stdin && !strcmp(exit_stdin, "1"))
		watch_stdin();
	runtime_run(&hooks, 0);
	url_free(pt.proxy_url);
	return 0;
}
