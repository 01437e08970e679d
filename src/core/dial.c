/* dial: targets, the direct dialer, chains and timed dials (see dial.h).
 *
 * Direct dial states: RESOLVING (uv_getaddrinfo) -> CONNECTING (each
 * resolved address in turn, ACL-checked) -> done.  An IP literal the ACL
 * lets through starts CONNECTING at once: the resolver would only parse it,
 * on a thread-pool thread and back (two thread hand-offs per connection).
 * A literal that fails there (the ACL, a connect that fails at once) still
 * goes through the resolver (AI_NUMERICHOST: no lookup), so that no
 * callback runs before dial() returns.  A cancel during RESOLVING cannot
 * stop the resolver thread, so the request is marked and freed when the
 * resolver returns; a cancel during CONNECTING closes the socket, whose
 * connect callback then never reaches us.
 */
#include "core/dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tcp.h"
#include "core/cred.h"
#include "core/transport.h"
#include "core/udphost.h"

/* A host that the resolver reads as an IPv4 address in one of inet_aton's
 * other forms (2130706433, 127.1, 0x7f.0.0.1, 0177.0.0.1): its dotted quad
 * in out, 1; else 0. */
static int ipv4_other_form(const char *host, char out[INET_ADDRSTRLEN])
{
	struct in_addr a;

	if (host[strspn(host, "0123456789abcdefABCDEFxX.")] || inet_pton(AF_INET, host, &a) == 1 ||
	    !inet_aton(host, &a))
		return 0;
	return inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN) != NULL;
}

int target_set(target_t *t, const char *host, uint16_t port)
{
	char quad[INET_ADDRSTRLEN];
	size_t n = strlen(host);

	if (!n || n >= sizeof(t->host))
		return -EINVAL;
	/* as the address the direct dialer would reach, so that rules and
	 * logs see it (and a chain's far end is not left to guess) */
	if (ipv4_other_form(host, quad)) {
		host = quad;
		n = strlen(quad);
	}
	memcpy(t->host, host, n + 1);
	t->port = port;
	return 0;
}

void target_str(const target_t *t, char *buf, size_t len)
{
	if (strchr(t->host, ':'))
		snprintf(buf, len, "[%s]:%u", t->host, t->port);
	else
		snprintf(buf, len, "%s:%u", t->host, t->port);
}

int target_is_ip(const target_t *t, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, t->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(t->port);
		return 1;
	}
	if (inet_pton(AF_INET6, t->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(t->port);
		return 1;
	}
	return 0;
}

/* ---- direct ---- */

typedef struct direct_req {
	uv_getaddrinfo_t gai;
	dialer_t *d;
	dial_opts_t o;
	dial_cb cb;
	void *ud;
	target_t t;
	struct addrinfo *res, *cur;
	struct sockaddr_storage lit;
	stream_t *s;
	int last_err;
	unsigned resolving : 1, canceled : 1;
} direct_req_t;

static void try_next(direct_req_t *q);

static void direct_finish(direct_req_t *q, stream_t *s, int err)
{
	dial_cb cb = q->cb;
	void *ud = q->ud;

	if (q->res)
		uv_freeaddrinfo(q->res);
	free(q);
	cb(ud, s, err);
}

static void on_connected(stream_t *s, int status, void *ud)
{
	direct_req_t *q = ud;

	if (status == 0) {
		q->s = NULL;
		direct_finish(q, s, 0);
		return;
	}
	log_debug(q->o.id, "connect: %s", uv_strerror(status));
	q->last_err = status;
	stream_close(s);
	q->s = NULL;
	try_next(q);
}

static void try_next(direct_req_t *q)
{
	char buf[64];
	int r;

	while (q->cur) {
		const struct sockaddr *sa = q->cur->ai_addr;
		q->cur = q->cur->ai_next;
		if (!acl_permits(q->o.acl, sa)) {
			sockaddr_ip(sa, buf, sizeof(buf));
			log_info(q->o.id, "target %s refused by ACL", buf);
			q->last_err = UV_EACCES;
			continue;
		}
		q->s = tcp_stream_new(q->d->loop, q->o.id);
		r = tcp_stream_connect(q->s, sa, on_connected, q);
		if (r == 0)
			return;
		q->last_err = r;
		stream_close(q->s);
		q->s = NULL;
	}
	direct_finish(q, NULL, q->last_err ? q->last_err : UV_EHOSTUNREACH);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
	direct_req_t *q = gai->data;

	q->resolving = 0;
	q->res = res;
	if (q->canceled) {
		if (res)
			uv_freeaddrinfo(res);
		free(q);
		return;
	}
	if (status < 0) {
		log_debug(q->o.id, "resolve %s: %s", q->t.host, uv_strerror(status));
		q->res = NULL;
		direct_finish(q, NULL, status == UV_EAI_AGAIN ? UV_EAI_AGAIN : UV_EAI_NONAME);
		return;
	}
	q->cur = res;
	try_next(q);
}

static dial_t *direct_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                           void *ud)
{
	direct_req_t *q = calloc(1, sizeof(*q));
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	char port[8];
	int r;

	if (!q)
		abort();
	q->d = d;
	q->o = *o;
	q->cb = cb;
	q->ud = ud;
	q->t = *t;
	q->gai.data = q;
	if (target_is_ip(t, &q->lit)) {
		/* connect now if nothing can fail before dial() returns */
		if (acl_permits(q->o.acl, (struct sockaddr *)&q->lit)) {
			q->s = tcp_stream_new(d->loop, q->o.id);
			if (tcp_stream_connect(q->s, (struct sockaddr *)&q->lit, on_connected, q) ==
			    0)
				return (dial_t *)q;
			stream_close(q->s);
			q->s = NULL;
		}
		/* else the resolver (AI_NUMERICHOST, no lookup) and try_next say
		 * why, from the loop */
		hints.ai_flags = AI_NUMERICHOST;
	}
	snprintf(port, sizeof(port), "%u", t->port);
	q->resolving = 1;
	r = uv_getaddrinfo(d->loop, &q->gai, on_resolved, t->host, port, &hints);
	if (r < 0) {
		free(q);
		return NULL;
	}
	return (dial_t *)q;
}

static void direct_cancel(dialer_t *d, dial_t *req)
{
	direct_req_t *q = (direct_req_t *)req;

	if (q->resolving) {
		q->canceled = 1;
		uv_cancel((uv_req_t *)&q->gai);
		return;
	}
	stream_close(q->s);
	if (q->res)
		uv_freeaddrinfo(q->res);
	free(q);
}

static void direct_free(dialer_t *d)
{
	free(d);
}

static const dialer_ops_t direct_ops = {
    .scheme = "direct",
    .dial = direct_dial,
    .cancel = direct_cancel,
    .free = direct_free,
    .dgram = udphost_dgram,
    .dgram_cancel = udphost_dgram_cancel,
    .caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_HOST,
};

dialer_t *direct_dialer_new(uv_loop_t *loop)
{
	dialer_t *d = calloc(1, sizeof(*d));

	if (!d)
		abort();
	d->ops = &direct_ops;
	d->loop = loop;
	return d;
}

/* ---- chains ---- */

int hop_build(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err, size_t errlen)
{
	const transport_scheme_t *ts = transport_hop(u->scheme);
	char msg[256];
	int r;

	if (!ts) {
		char list[256];
		transport_list(list, sizeof(list), 1);
		snprintf(err, errlen, "%s://: unknown hop type (known: %s, group)", u->scheme,
		         list);
		return -EINVAL;
	}
	r = ts->hop_doc.pass ? cred_load(u, err, errlen) : 0;
	if (r == 0)
		r = ts->hop(loop, u, next, out, err, errlen);
	if (r == 0 && (r = url_check_opts(u, err, errlen)) < 0)
		(*out)->ops->free(*out); /* the hop only: next is the caller's */
	if (r == 0)
		(*out)->caps |= ts->hop_caps;
	if (r < 0) {
		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "%s://: %s", u->scheme, msg);
	}
	return r;
}

int chain_build(uv_loop_t *loop, url_t **hops, size_t n, dialer_t **out, char *err, size_t errlen)
{
	dialer_t *d = direct_dialer_new(loop), *h;
	int r;

	for (size_t i = 0; i < n; i++) {
		if ((r = hop_build(loop, hops[i], d, &h, err, errlen)) < 0) {
			char msg[300];
			snprintf(msg, sizeof(msg), "%s", err);
			snprintf(err, errlen, "-F %s", msg);
			chain_free(d);
			return r;
		}
		d = h;
	}
	*out = d;
	return 0;
}

void chain_free(dialer_t *d)
{
	while (d) {
		dialer_t *next = d->next;
		d->ops->free(d);
		d = next;
	}
}

/* ---- timed dial ---- */

typedef struct timed {
	uv_timer_t timer;
	dialer_t *d;
	dial_t *inner;
	dial_cb cb;
	void *ud;
	int start_err;
} timed_t;

static void timed_cb(void *ud, stream_t *s, int err)
{
	timed_t *t = ud;
	dial_cb cb = t->cb;
	void *cud = t->ud;

	t->inner = NULL;
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *)&t->timer, (uv_close_cb)free);
	cb(cud, s, err);
}

static void on_timeout(uv_timer_t *timer)
{
	timed_t *t = timer->data;

	if (t->inner)
		t->d->ops->cancel(t->d, t->inner);
	t->inner = NULL;
	timed_cb(t, NULL, t->start_err ? t->start_err : UV_ETIMEDOUT);
}

dial_t *dial_start(dialer_t *d, const target_t *tg, const dial_opts_t *o, uint64_t timeout_ms,
                   dial_cb cb, void *ud)
{
	timed_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->d = d;
	t->cb = cb;
	t->ud = ud;
	uv_timer_init(d->loop, &t->timer);
	t->timer.data = t;
	t->inner = d->ops->dial(d, tg, o, timed_cb, t);
	if (!t->inner) {
		/* could not even start: report from the timer, never synchronously */
		t->start_err = UV_ENOMEM;
		uv_timer_start(&t->timer, on_timeout, 0, 0);
		return (dial_t *)t;
	}
	if (timeout_ms)
		uv_timer_start(&t->timer, on_timeout, timeout_ms, 0);
	return (dial_t *)t;
}

void dial_cancel(dial_t *req)
{
	timed_t *t = (timed_t *)req;

	if (t->inner)
		t->d->ops->cancel(t->d, t->inner);
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *)&t->timer, (uv_close_cb)free);
}

/* ---- failures in words ---- */

const char *dial_error_text(int err)
{
	switch (err) {
	case UV_ECONNREFUSED:
		return "connection refused";
	case UV_ETIMEDOUT:
		return "timed out";
	case UV_EACCES:
		return "not allowed by policy";
	case UV_EHOSTUNREACH:
		return "host unreachable";
	case UV_ENETUNREACH:
		return "network unreachable";
	case UV_EAI_NONAME:
		return "name not found";
	case UV_EAI_AGAIN:
		return "name lookup failed temporarily";
	case UV_EPROTO:
		return "the next proxy failed";
	case UV_ECONNRESET:
		return "connection reset";
	default:
		return uv_strerror(err);
	}
}

void dial_fail_text(const target_t *t, int err, const stream_fail_t *f, const char *why, char *buf,
                    size_t len)
{
	char ts[300];
	int n;

	target_str(t, ts, sizeof(ts));
	if (f && f->hop && f->at_hop)
		n = snprintf(buf, len, "Could not reach %s (on the way to %s): %s", f->hop, ts,
		             dial_error_text(err));
	else if (f && f->hop)
		n = snprintf(buf, len, "Could not connect to %s: %s, reached through %s", ts,
		             dial_error_text(err), f->hop);
	else
		n = snprintf(buf, len, "Could not connect to %s: %s", ts, dial_error_text(err));
	if (why && why[0] && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " (%s)", why);
}
