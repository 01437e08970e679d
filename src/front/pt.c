/* pt: see pt.h.  Three parts: the pure parsers; the client (a SOCKS front
 * end that reads the bridge arguments and keeps one hop per bridge); the
 * server (a fixed-destination dialer under each tunnel listener); then the
 * driver that reads the environment, talks to tor on stdout and runs the
 * loop.
 *
 * The SOCKS front end here is not front/socks.c: that one checks the
 * credentials against the listener's and throws them away, while tor uses
 * them as a channel for the bridge line's arguments.  Its states:
 *
 *   HELLO    SOCKS5 greeting, or a whole SOCKS4/4a request (args in USERID)
 *   AUTH     RFC 1929 user/password: the arguments
 *   REQUEST  SOCKS5 CONNECT (the target is the bridge)
 *   DIALING  the bridge's hop is dialing
 *   DONE     reply sent; the conn relays, or lingers and closes
 *
 * The server's listeners are ordinary tunnel listeners (ws://, sctp+udp://)
 * whose chain is a pt_fixed dialer: the target inside the tunnel is not
 * used, every connection goes to tor.  The client's address for USERADDR
 * is the conn's peer, found by the dial's connection id on the listener.
 */
#include "front/pt.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "core/conn.h"
#include "core/crypto.h"
#include "core/dial.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/tcp.h"
#include "front/extorport.h"
#include "front/socks_proto.h"

/* ---- pure parsers ---- */

int pt_name_valid(const char *s, size_t n)
{
	if (!n || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

int pt_list_next(const char **p, char *out, size_t cap)
{
	const char *s = *p, *e;
	size_t n;

	if (!s || !*s)
		return 0;
	e = strchr(s, ',');
	n = e ? (size_t)(e - s) : strlen(s);
	if (!n || n >= cap)
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = 0;
	*p = e ? e + 1 : s + n;
	if (e && !e[1])
		return -EINVAL; /* trailing comma: an empty last item */
	return 1;
}

int pt_version_pick(const char *list)
{
	char v[64];
	int r, found = 0;

	if (!list || !*list)
		return -EINVAL;
	while ((r = pt_list_next(&list, v, sizeof(v))) > 0) {
		for (const char *c = v; *c; c++)
			if (*c <= ' ' || *c > '~')
				return -EINVAL;
		found |= !strcmp(v, "1");
	}
	return r < 0 ? r : found;
}

/* Read s[*i..len) up to an unescaped char in `stops` (returned, or 0 at
 * the end), unescaping into out. */
static int unesc_until(const char *s, size_t len, size_t *i, const char *stops, char *out,
                       size_t cap)
{
	size_t o = 0;

	while (*i < len) {
		char ch = s[*i];
		if (ch == '\\') {
			if (*i + 1 >= len)
				return -EINVAL;
			ch = s[*i + 1];
			if (!ch)
				return -EINVAL;
			*i += 2;
		} else if (ch && strchr(stops, ch)) {
			(*i)++;
			out[o] = 0;
			return (unsigned char)ch;
		} else {
			if (!ch)
				return -EINVAL;
			(*i)++;
		}
		if (o + 1 >= cap)
			return -EINVAL;
		out[o++] = ch;
	}
	out[o] = 0;
	return 0;
}

/* One k=v up to an unescaped `sep` (or the end); values may hold '='. */
static int kv_parse(const char *s, size_t len, size_t *i, char sep, pt_args_t *a)
{
	char stops[3] = {'=', sep, 0}, vstops[2] = {sep, 0};
	pt_kv_t *kv;
	int r;

	if (a->n >= PT_ARGS_MAX)
		return -EINVAL;
	kv = &a->kv[a->n];
	r = unesc_until(s, len, i, stops, kv->key, sizeof(kv->key));
	if (r != '=' || !kv->key[0])
		return -EINVAL;
	r = unesc_until(s, len, i, vstops, kv->val, sizeof(kv->val));
	if (r < 0)
		return r;
	a->n++;
	return r; /* sep or 0 */
}

int pt_args_parse(const char *s, size_t len, pt_args_t *a)
{
	size_t i = 0;
	int r;

	while (i < len) {
		if ((r = kv_parse(s, len, &i, ';', a)) < 0)
			return r;
		if (r == ';' && i == len)
			return -EINVAL;
	}
	return 0;
}

int pt_socks5_args(const char *user, size_t ulen, const char *pass, size_t plen, pt_args_t *a)
{
	char buf[2 * 256];

	if (ulen > 255 || plen > 255)
		return -EINVAL;
	memcpy(buf, user, ulen);
	if (!(plen == 1 && pass[0] == 0)) {
		memcpy(buf + ulen, pass, plen);
		ulen += plen;
	}
	return pt_args_parse(buf, ulen, a);
}

int pt_server_options(const char *env, const char *name, pt_args_t *a)
{
	char t[PT_KEY_MAX];
	size_t i = 0, len = env ? strlen(env) : 0;
	pt_args_t tmp;
	int r;

	while (i < len) {
		r = unesc_until(env, len, &i, ":", t, sizeof(t));
		if (r != ':' || !pt_name_valid(t, strlen(t)))
			return -EINVAL;
		tmp.n = 0;
		r = kv_parse(env, len, &i, ';', &tmp);
		if (r < 0)
			return r;
		if (r == ';' && i == len)
			return -EINVAL;
		if (!strcmp(t, name)) {
			if (a->n >= PT_ARGS_MAX)
				return -EINVAL;
			a->kv[a->n++] = tmp.kv[0];
		}
	}
	return 0;
}

/* host:port or [v6]:port, port 0..65535 (hostport_parse wants 1..). */
static int split_hostport(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long p;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (!hl || hl >= cap || !colon[1])
		return -EINVAL;
	for (const char *d = colon + 1; *d; d++)
		if (*d < '0' || *d > '9')
			return -EINVAL;
	p = strtoul(colon + 1, &end, 10);
	if (p > 65535 || strlen(colon + 1) > 5)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (uint16_t)p;
	return 0;
}

int pt_bindaddr(const char *env, const char *name, char *out, size_t cap)
{
	char item[320], host[256];
	const char *p = env, *dash;
	uint16_t port;
	int r, found = 0;

	while ((r = pt_list_next(&p, item, sizeof(item))) > 0) {
		dash = strchr(item, '-');
		if (!dash || !pt_name_valid(item, (size_t)(dash - item)) ||
		    split_hostport(dash + 1, host, sizeof(host), &port) < 0)
			return -EINVAL;
		if (!found && (size_t)(dash - item) == strlen(name) &&
		    !memcmp(item, name, strlen(name))) {
			if (strlen(dash + 1) >= cap)
				return -EINVAL;
			strcpy(out, dash + 1);
			found = 1;
		}
	}
	return r < 0 ? r : found;
}

size_t pt_args_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in; in++) {
		if (*in == '=' || *in == ',' || *in == '\\') {
			if (o + 1 >= cap)
				return 0;
			out[o++] = '\\';
		}
		if (o + 1 >= cap)
			return 0;
		out[o++] = *in;
	}
	if (o >= cap)
		return 0;
	out[o] = 0;
	return o;
}

const char *pt_args_get(const pt_args_t *a, const char *key)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->kv[i].key, key))
			return a->kv[i].val;
	return NULL;
}

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
	pt_fixed_t *fixed[NTRANSPORTS];
	size_t nl;
	uv_signal_t sig_term, sig_int;
	uv_pipe_t in_pipe;
	uv_tty_t in_tty;
	int stopping;
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
	hop_new_fn fn = registry_hop(t->scheme);
	pt_bridge_t *b;
	int r;

	if (!fn) {
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
	    (r = fn(pt.loop, b->u, pt.base, &b->d, err, errlen)) < 0) {
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

/* ---- client: the SOCKS front end ---- */

#define PS_BUF 1024

typedef enum ps_state { PS_HELLO, PS_AUTH, PS_REQUEST, PS_DIALING, PS_DONE } ps_state_t;

static const char *const ps_state_names[] = {"hello", "auth", "request", "dialing", "done"};
#define B(s) (1u << (s))
static const unsigned ps_next[] = {
    [PS_HELLO] = B(PS_AUTH) | B(PS_REQUEST) | B(PS_DIALING) | B(PS_DONE),
    [PS_AUTH] = B(PS_REQUEST) | B(PS_DONE),
    [PS_REQUEST] = B(PS_DIALING) | B(PS_DONE),
    [PS_DIALING] = B(PS_DONE),
    [PS_DONE] = 0,
};
#undef B

enum { STEP_MORE, STEP_GO, STEP_STOP };

typedef struct ps_conn {
	conn_t *c;
	const pt_transport_t *t;
	ps_state_t state;
	uint8_t ver;
	size_t len;
	uint8_t buf[PS_BUF];
	pt_args_t args;
	int bad_args;
	target_t target;
	sbuf_queue_t early;
} ps_conn_t;

static void ps_set_state(ps_conn_t *k, ps_state_t s)
{
	if (!(ps_next[k->state] & (1u << s))) {
		log_err(k->c->id, "pt socks: illegal state change %s -> %s",
		        ps_state_names[k->state], ps_state_names[s]);
		abort();
	}
	log_trace(k->c->id, "pt socks %s -> %s", ps_state_names[k->state], ps_state_names[s]);
	k->state = s;
}

static void ps_free(void *p)
{
	ps_conn_t *k = p;

	sbufq_clear(&k->early);
	explicit_bzero(&k->args, sizeof(k->args));
	free(k);
}

static int ps_send(ps_conn_t *k, const uint8_t *p, size_t n)
{
	if (stream_write_copy(k->c->client, p, n) < 0) {
		conn_close(k->c, "client write error");
		return -1;
	}
	return 0;
}

static int ps_bad(ps_conn_t *k, const char *why)
{
	log_info(k->c->id, "pt %s socks: %s", k->t->name, why);
	ps_set_state(k, PS_DONE);
	conn_close(k->c, why);
	return STEP_STOP;
}

/* A failure reply in the client's SOCKS version, then close. */
static int ps_refuse(ps_conn_t *k, uint8_t rep5, const char *why)
{
	uint8_t out[SOCKS5_REQ_MAX];
	size_t n;

	log_info(k->c->id, "pt %s socks: %s", k->t->name, why);
	ps_set_state(k, PS_DONE);
	if (k->ver == 4)
		n = socks4_reply_encode(out, sizeof(out), SOCKS4_REP_REJECTED, 0, NULL);
	else
		n = socks5_reply_encode(out, sizeof(out), rep5, NULL);
	if (ps_send(k, out, n) == 0)
		conn_linger(k->c, why);
	return STEP_STOP;
}

static void ps_consume(ps_conn_t *k, size_t n)
{
	memmove(k->buf, k->buf + n, k->len - n);
	k->len -= n;
}

static int ps_socks4(ps_conn_t *k)
{
	socks4_request_t req;
	size_t used;
	char ip[16];

	switch (socks4_request_parse(k->buf, k->len, &req, &used)) {
	case SOCKS_NEED_MORE:
		return STEP_MORE;
	case SOCKS_ERROR:
		return ps_bad(k, "malformed SOCKS4 request");
	case SOCKS_OK:
		break;
	}
	ps_consume(k, used);
	if (req.cmd != SOCKS_CMD_CONNECT)
		return ps_refuse(k, 0, "SOCKS4 BIND is not supported");
	k->bad_args = pt_args_parse(req.userid, strlen(req.userid), &k->args) < 0;
	explicit_bzero(&req.userid, sizeof(req.userid));
	if (req.is_4a) {
		if (target_set(&k->target, req.host, req.port) < 0)
			return ps_refuse(k, 0, "bad SOCKS4a host");
	} else {
		snprintf(ip, sizeof(ip), "%u.%u.%u.%u", req.ip[0], req.ip[1], req.ip[2], req.ip[3]);
		target_set(&k->target, ip, req.port);
	}
	return STEP_GO;
}

static int ps_greeting(ps_conn_t *k)
{
	socks5_greeting_t g;
	uint8_t out[2], m;
	size_t used;

	switch (socks5_greeting_parse(k->buf, k->len, &g, &used)) {
	case SOCKS_NEED_MORE:
		return STEP_MORE;
	case SOCKS_ERROR:
		return ps_bad(k, "malformed SOCKS5 greeting");
	case SOCKS_OK:
		break;
	}
	ps_consume(k, used);
	/* tor offers username/password exactly when the bridge has arguments */
	if (socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS))
		m = SOCKS5_METHOD_USERPASS;
	else if (socks5_greeting_has(&g, SOCKS5_METHOD_NONE))
		m = SOCKS5_METHOD_NONE;
	else
		m = SOCKS5_METHOD_NOACCEPT;
	socks5_method_encode(out, sizeof(out), m);
	if (ps_send(k, out, sizeof(out)) < 0)
		return STEP_STOP;
	if (m == SOCKS5_METHOD_NOACCEPT) {
		ps_set_state(k, PS_DONE);
		conn_linger(k->c, "no acceptable SOCKS5 method");
		return STEP_STOP;
	}
	ps_set_state(k, m == SOCKS5_METHOD_USERPASS ? PS_AUTH : PS_REQUEST);
	return STEP_MORE;
}

static int ps_auth(ps_conn_t *k)
{
	socks5_userpass_t up;
	uint8_t out[2];
	size_t used;

	switch (socks5_userpass_parse(k->buf, k->len, &up, &used)) {
	case SOCKS_NEED_MORE:
		return STEP_MORE;
	case SOCKS_ERROR:
		return ps_bad(k, "malformed RFC 1929 request");
	case SOCKS_OK:
		break;
	}
	ps_consume(k, used);
	k->bad_args = pt_socks5_args(up.user, up.ulen, up.pass, up.plen, &k->args) < 0;
	explicit_bzero(&up, sizeof(up));
	/* a bad argument list still gets status 0: the request is refused
	 * with a reply code, which tor logs */
	socks5_auth_status_encode(out, sizeof(out), 0);
	if (ps_send(k, out, sizeof(out)) < 0)
		return STEP_STOP;
	ps_set_state(k, PS_REQUEST);
	return STEP_MORE;
}

static int ps_request(ps_conn_t *k)
{
	socks5_request_t req;
	size_t used;
	char host[256];

	switch (socks5_request_parse(k->buf, k->len, &req, &used)) {
	case SOCKS_NEED_MORE:
		return STEP_MORE;
	case SOCKS_ERROR:
		if (req.rep)
			return ps_refuse(k, req.rep, "bad SOCKS5 request");
		return ps_bad(k, "malformed SOCKS5 request");
	case SOCKS_OK:
		break;
	}
	ps_consume(k, used);
	if (req.cmd != SOCKS_CMD_CONNECT)
		return ps_refuse(k, SOCKS5_REP_CMD_UNSUPP, "only CONNECT is supported");
	socks_addr_host(&req.dst, host, sizeof(host));
	if (target_set(&k->target, host, req.dst.port) < 0)
		return ps_refuse(k, SOCKS5_REP_FAIL, "bad SOCKS5 target");
	return STEP_GO;
}

static int ps_parse(ps_conn_t *k)
{
	ps_state_t before;
	int r;

	for (;;) {
		before = k->state;
		switch (k->state) {
		case PS_HELLO:
			if (!k->len)
				return STEP_MORE;
			if (k->buf[0] == SOCKS5_VER) {
				k->ver = 5;
				r = ps_greeting(k);
			} else if (k->buf[0] == SOCKS4_VER) {
				k->ver = 4;
				r = ps_socks4(k);
			} else {
				return ps_bad(k, "not a SOCKS client");
			}
			break;
		case PS_AUTH:
			r = ps_auth(k);
			break;
		case PS_REQUEST:
			r = ps_request(k);
			break;
		default:
			return STEP_STOP;
		}
		if (r != STEP_MORE || k->state == before)
			return r;
	}
}

static void ps_dialed(void *ud, stream_t *s, int err)
{
	conn_t *c = ud;
	ps_conn_t *k = c->front;
	uint8_t out[SOCKS5_REQ_MAX];
	socks_addr_t bnd = {.atyp = SOCKS5_ATYP_IPV4};
	size_t n;
	sbuf_t *b;

	c->dial = NULL;
	if (err < 0) {
		char why[400];
		snprintf(why, sizeof(why), "bridge %s:%u: %s", k->target.host, k->target.port,
		         uv_strerror(err));
		c->l->m->failed++;
		ps_refuse(k, socks5_rep_from_err(err), why);
		return;
	}
	ps_set_state(k, PS_DONE);
	s->id = c->id;
	c->up = s;
	log_info(c->id, "pt %s: tunnel to bridge %s:%u open", k->t->name, k->target.host,
	         k->target.port);
	if (k->ver == 4)
		n = socks4_reply_encode(out, sizeof(out), SOCKS4_REP_GRANTED, 0, NULL);
	else
		n = socks5_reply_encode(out, sizeof(out), SOCKS5_REP_OK, &bnd);
	if (ps_send(k, out, n) < 0)
		return;
	while ((b = sbufq_pop(&k->early))) {
		if (stream_write(c->up, b) < 0) {
			conn_close(c, "bridge write error");
			return;
		}
	}
	conn_relay(c);
}

static void ps_go(ps_conn_t *k, sbuf_t *rest)
{
	conn_t *c = k->c;
	dialer_t *d;
	dial_opts_t o = {.id = c->id};
	char err[URL_ERRLEN];

	stream_read_stop(c->client);
	if (k->len)
		sbufq_push(&k->early, sbuf_from(k->buf, k->len));
	k->len = 0;
	if (rest && rest->len)
		sbufq_push(&k->early, rest);
	else
		sbuf_free(rest);
	conn_handshake_done(c);
	if (k->bad_args) {
		ps_refuse(k, SOCKS5_REP_FAIL,
		          "malformed bridge arguments in the SOCKS credentials");
		return;
	}
	if (bridge_get(k->t, &k->target, &k->args, &d, err, sizeof(err)) < 0) {
		ps_refuse(k, SOCKS5_REP_FAIL, err);
		return;
	}
	log_debug(c->id, "pt %s: CONNECT bridge %s:%u", k->t->name, k->target.host, k->target.port);
	ps_set_state(k, PS_DIALING);
	c->target = k->target;
	c->t_dial = uv_now(c->l->loop);
	conn_set_state(c, CONN_DIALING);
	c->dial = dial_start(d, &k->target, &o, c->l->connect_timeout_ms, ps_dialed, c);
}

static int ps_feed(ps_conn_t *k, sbuf_t *b)
{
	size_t n;
	int r;

	for (;;) {
		n = b->len < sizeof(k->buf) - k->len ? b->len : sizeof(k->buf) - k->len;
		memcpy(k->buf + k->len, sbuf_ptr(b), n);
		k->len += n;
		sbuf_consume(b, n);
		r = ps_parse(k);
		if (r == STEP_GO) {
			ps_go(k, b);
			return 0;
		}
		if (r == STEP_STOP)
			break;
		if (!b->len) {
			sbuf_free(b);
			return 1;
		}
		if (k->len == sizeof(k->buf)) {
			ps_bad(k, "handshake too long");
			break;
		}
	}
	sbuf_free(b);
	return 0;
}

static void ps_read(stream_t *s, sbuf_t *b)
{
	ps_conn_t *k = s->data;

	if (!b) {
		ps_set_state(k, PS_DONE);
		conn_close(k->c, "client closed");
		return;
	}
	(void)ps_feed(k, b);
}

static void ps_error(stream_t *s, int err)
{
	ps_conn_t *k = s->data;

	ps_set_state(k, PS_DONE);
	conn_close(k->c, "client error");
}

static const stream_cbs_t ps_cbs = {ps_read, NULL, ps_error};

static void ps_on_conn(conn_t *c)
{
	ps_conn_t *k = calloc(1, sizeof(*k));

	if (!k)
		abort();
	k->c = c;
	k->t = c->l->front;
	c->front = k;
	c->front_free = ps_free;
	stream_set_cbs(c->client, &ps_cbs, k);
	stream_read_start(c->client);
}

static const front_ops_t pt_socks_ops = {
    .scheme = "socks",
    .on_conn = ps_on_conn,
};

/* ---- server: every connection to tor ---- */

struct pt_fixed {
	dialer_t d; /* d.server: the ORPort or Extended ORPort; d.next: direct */
	int ext;
	uint8_t cookie[EXTOR_COOKIE_LEN];
	const pt_transport_t *t;
	listener_t *l;
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
	/* the client's address: the conn that asked, found by its id */
	for (conn_t *c = f->l ? f->l->conns : NULL; c; c = c->next)
		if (c->id == o->id) {
			sockaddr_str((struct sockaddr *)&c->peer, q->useraddr, sizeof(q->useraddr));
			break;
		}
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

static const dialer_ops_t fixed_ops = {"pt-orport", fixed_dial, fixed_cancel, fixed_free};

/* ---- the driver ---- */

static void stop_all(const char *why)
{
	if (pt.stopping)
		return;
	pt.stopping = 1;
	log_info(0, "pt: %s: shutting down", why);
	for (size_t i = 0; i < pt.nl; i++) {
		if (!pt.ls[i])
			continue;
		listener_stop(pt.ls[i]);
		if (pt.ls[i]->ops == &pt_socks_ops)
			pt.ls[i]->front = NULL;
		listener_free(pt.ls[i]);
		url_free(pt.lus[i]);
		pt.ls[i] = NULL;
		if (pt.fixed[i])
			pt.fixed[i]->d.ops->free(&pt.fixed[i]->d);
		pt.fixed[i] = NULL;
	}
	bridges_free();
	chain_free(pt.base);
	pt.base = NULL;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void shutdown_now(const char *why)
{
	stop_all(why);
	uv_walk(pt.loop, close_walk, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	shutdown_now(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char scratch[256];

	buf->base = scratch;
	buf->len = sizeof(scratch);
}

static void in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0)
		shutdown_now("stdin closed");
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

/* The state directory, made if missing (pt-spec: we may create it). */
static int mkdirs(const char *path)
{
	char p[4096];
	size_t n = strlen(path);

	if (!n || n >= sizeof(p))
		return -EINVAL;
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The server key of transport `name`: read from the state directory, or
 * made and stored there on first run. */
static int state_key(const char *dir, const char *name, char *key, size_t cap)
{
	char path[4200];
	ssize_t n;
	int fd, r;
	uint8_t k[KEY_MAX];
	size_t klen;

	if (!dir || !*dir)
		return -ENOENT;
	if ((r = mkdirs(dir)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s%ssluice-%s.key", dir,
	         dir[strlen(dir) - 1] == '/' ? "" : "/", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, key, cap - 1);
		close(fd);
		if (n <= 0)
			return -EINVAL;
		key[n] = 0;
		key[strcspn(key, "\r\n")] = 0;
		return key_parse(key, k, &klen) < 0 ? -EINVAL : 0;
	}
	key_generate(key, cap);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = write(fd, key, strlen(key));
	r = n == (ssize_t)strlen(key) && write(fd, "\n", 1) == 1 ? 0 : -EIO;
	close(fd);
	if (r == 0)
		log_info(0, "pt: made a new %s key in %s", name, path);
	return r;
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

static int client_setup(const char *list)
{
	const char *proxy = getenv("TOR_PT_PROXY");
	char name[128], err[URL_ERRLEN * 2], addr[128];
	const pt_transport_t *t;
	int r, all = !strcmp(list, "*");

	if (proxy && *proxy) {
		hop_new_fn fn;
		if (url_parse(proxy, &pt.proxy_url, err, sizeof(err)) < 0) {
			say("PROXY-ERROR %s", err);
			return 1;
		}
		fn = registry_hop(pt.proxy_url->scheme);
		if (!fn || (strcmp(pt.proxy_url->scheme, "socks5") &&
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
	for (size_t i = 0; all ? i < NTRANSPORTS : 1; i++) {
		if (all) {
			t = &transports[i];
		} else {
			r = pt_list_next(&list, name, sizeof(name));
			if (r < 0) {
				say("ENV-ERROR TOR_PT_CLIENT_TRANSPORTS is malformed");
				return 1;
			}
			if (r == 0)
				break;
			if (!(t = transport_find(name))) {
				log_info(0, "pt: transport %s is not ours: ignored", name);
				continue;
			}
		}
		if (pt.nl >= NTRANSPORTS)
			break;
		if (url_parse("socks://127.0.0.1:1", &pt.lus[pt.nl], err, sizeof(err)) < 0 ||
		    listener_new(pt.loop, pt.lus[pt.nl], pt.base, &pt.ls[pt.nl], err, sizeof(err)) <
		        0) {
			say("CMETHOD-ERROR %s %s", t->name, err);
			url_free(pt.lus[pt.nl]);
			continue;
		}
		pt.ls[pt.nl]->ops = &pt_socks_ops; /* ours, not front/socks.c */
		bind_any_port(pt.ls[pt.nl]);
		pt.ls[pt.nl]->front = (void *)t;
		snprintf(pt.ls[pt.nl]->name, sizeof(pt.ls[pt.nl]->name), "pt-%s-socks", t->name);
		if (listener_start(pt.ls[pt.nl], err, sizeof(err)) < 0) {
			say("CMETHOD-ERROR %s %s", t->name, err);
			pt.ls[pt.nl]->front = NULL;
			listener_free(pt.ls[pt.nl]);
			url_free(pt.lus[pt.nl]);
			continue;
		}
		bound_addr(pt.ls[pt.nl], "127.0.0.1", 0, addr, sizeof(addr));
		pt.nl++;
		say("CMETHOD %s socks5 %s", t->name, addr);
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
	pt_fixed_t *f;
	uint16_t port;
	int r, p;
	size_t n;

	if (!registry_front(t->scheme)) {
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
	if (split_hostport(bind, host, sizeof(host), &port) < 0) {
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
	if (!p && !strcmp(t->scheme, "ws"))
		p = 1; /* placeholder: see bind_any_port() */
	else if (!p && (p = free_udp_port(host)) < 0) {
		say("SMETHOD-ERROR %s no free port on %s", t->name, host);
		return 0;
	}
	/* the target inside the tunnel is never dialed: no ACL on it */
	if (url_build(url, sizeof(url), t->scheme, host, (unsigned)p, &a,
	              "allow-target=0.0.0.0/0,::/0") < 0) {
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
	f->l = pt.ls[pt.nl];
	if (!port && !f->l->ops->start)
		bind_any_port(f->l);
	if (listener_start(pt.ls[pt.nl], err, sizeof(err)) < 0) {
		say("SMETHOD-ERROR %s %s", t->name, err);
		listener_free(pt.ls[pt.nl]);
		url_free(pt.lus[pt.nl]);
		fixed_free(&f->d);
		return 0;
	}
	pt.fixed[pt.nl] = f;
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
	char host[256], name[128];
	target_t to;
	uint16_t port;
	int ext = extport && *extport, r, all = !strcmp(list, "*");
	const pt_transport_t *t;

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
	for (size_t i = 0; all ? i < NTRANSPORTS : 1; i++) {
		if (all) {
			t = &transports[i];
		} else {
			r = pt_list_next(&list, name, sizeof(name));
			if (r < 0) {
				say("ENV-ERROR TOR_PT_SERVER_TRANSPORTS is malformed");
				return 1;
			}
			if (r == 0)
				break;
			if (!(t = transport_find(name))) {
				log_info(0, "pt: transport %s is not ours: ignored", name);
				continue;
			}
		}
		if (pt.nl >= NTRANSPORTS)
			break;
		if (server_one(t, bindenv, optenv, &to, ext, cookie) < 0)
			return 1;
	}
	explicit_bzero(cookie, sizeof(cookie));
	say("SMETHODS DONE");
	return 0;
}

int pt_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"log-level", required_argument, NULL, 'l'},
	    {"log-file", required_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	const char *ver = getenv("TOR_PT_MANAGED_TRANSPORT_VER");
	const char *cli = getenv("TOR_PT_CLIENT_TRANSPORTS");
	const char *srv = getenv("TOR_PT_SERVER_TRANSPORTS");
	const char *exit_stdin = getenv("TOR_PT_EXIT_ON_STDIN_CLOSE");
	const char *lvl = getenv("SLUICE_LOG");
	int c, r, verbosity = 0;

	pt.out = stdout;
	if (lvl && log_level_parse(lvl) >= 0)
		log_level = log_level_parse(lvl);
	optind = 1;
	while ((c = getopt_long(argc, argv, "vq", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity--;
			break;
		case 'l':
			if ((r = log_level_parse(optarg)) < 0) {
				fprintf(stderr, "sluice pt: --log-level: use err, warn, info, "
				                "debug or trace\n");
				return 2;
			}
			log_level = r;
			break;
		case 'f':
			if (!freopen(optarg, "a", stderr)) {
				fprintf(stdout, "ENV-ERROR cannot open the log file %s\n", optarg);
				return 1;
			}
			setvbuf(stderr, NULL, _IOLBF, 0);
			break;
		default:
			fprintf(stderr,
			        "usage: sluice pt [-v|-q] [--log-level L] [--log-file FILE]\n");
			return 2;
		}
	}
	log_level += verbosity;
	if (log_level < LOG_ERR)
		log_level = LOG_ERR;
	if (log_level > LOG_TRACE)
		log_level = LOG_TRACE;

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
	signal(SIGPIPE, SIG_IGN);
	pt.loop = uv_default_loop();
	if (cli && *cli)
		r = client_setup(cli);
	else
		r = server_setup(srv);
	if (r) {
		stop_all("configuration error");
		uv_walk(pt.loop, close_walk, NULL);
		uv_run(pt.loop, UV_RUN_DEFAULT);
		return r;
	}
	uv_signal_init(pt.loop, &pt.sig_term);
	uv_signal_init(pt.loop, &pt.sig_int);
	uv_signal_start(&pt.sig_term, on_signal, SIGTERM);
	uv_signal_start(&pt.sig_int, on_signal, SIGINT);
	if (exit_stdin && !strcmp(exit_stdin, "1"))
		watch_stdin();
	uv_run(pt.loop, UV_RUN_DEFAULT);
	uv_loop_close(pt.loop);
	url_free(pt.proxy_url);
	log_info(0, "pt: bye");
	return 0;
}
