/* http_hop: the HTTP CONNECT hop, `-F http://[user:pass@]host[:port]`
 * (port 8080 when absent, the usual port of a local HTTP proxy).
 *
 * A request is in one of two stages: NEXT (dial_next() is reaching the
 * proxy; `inner` is set) and REPLY (CONNECT sent on `s`, the response head
 * is being read).  A 2xx response hands the stream to the caller; any bytes
 * that came after the response head already belong to the target (SSH and
 * SMTP servers speak first) and are delivered first through prebuf_wrap().
 * Other statuses map onto the dial errors of dial.h: 401/403/407 -> UV_EACCES,
 * 500/502/503 -> UV_ECONNREFUSED, 504 -> UV_ETIMEDOUT, anything else or a
 * reply that is not HTTP -> UV_EPROTO.  A failure names this hop in the
 * dial's stream_fail_t (the proxy could not reach the target, or we could
 * not reach or log in to the proxy), and the proxy's status goes to the
 * dial's why.  cancel() works in either stage and the callback never runs
 * after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dgram.h"
#include "core/log.h"
#include "core/prebuf.h"
#include "core/secret.h"
#include "front/http_proxy.h"
#include "wire/http_proto.h"

#define HOP_DEFAULT_PORT 8080

typedef struct http_hop {
	dialer_t d;
	char *auth;     /* "Basic ..." or NULL */
	char name[300]; /* "http://HOST:PORT", for a failure's stream_fail_t */
} http_hop_t;

typedef struct hop_req {
	http_hop_t *hop;
	dial_t *inner; /* NEXT */
	stream_t *s;   /* REPLY */
	dial_cb cb;
	void *ud;
	stream_fail_t *fail; /* the dial's, or NULL */
	char *why;           /* the dial's, or NULL: the proxy's status goes there */
	size_t whylen;
	uint64_t id;
	target_t t;
	http_resp_t resp;
} hop_req_t;

static void finish(hop_req_t *q, stream_t *s, int err)
{
	dial_cb cb = q->cb;
	void *ud = q->ud;

	free(q);
	cb(ud, s, err);
}

static int status_error(int status)
{
	switch (status) {
	case 401: /* tinyproxy's answer to bad credentials */
	case 403:
	case 407:
		return UV_EACCES;
	case 500:
	case 502:
	case 503:
		return UV_ECONNREFUSED;
	case 504:
		return UV_ETIMEDOUT;
	default:
		return UV_EPROTO;
	}
}

/* A failure, naming this hop for the one sentence (core/dial.h): at_hop 1
 * when we could not use the proxy, 0 when it could not reach the target. */
static void fail_at(hop_req_t *q, int err, int at_hop)
{
	if (q->fail) {
		if (!q->hop->name[0])
			dialer_name(&q->hop->d, q->hop->name, sizeof(q->hop->name));
		*q->fail = (stream_fail_t){q->hop->name, (unsigned)at_hop};
	}
	stream_close(q->s);
	q->s = NULL;
	finish(q, NULL, err);
}

static void fail(hop_req_t *q, int err)
{
	fail_at(q, err, 1);
}

/* Until the caller takes the stream over: read is stopped, nothing to do. */
static void idle_read(stream_t *s, sbuf_t *b)
{
	sbuf_free(b);
}
static void idle_error(stream_t *s, int err) {}
static const stream_cbs_t idle_cbs = {idle_read, NULL, idle_error};

static void hop_read(stream_t *s, sbuf_t *b)
{
	hop_req_t *q = s->data;
	char ts[300], ps[300];
	size_t used;
	http_res_t res;

	target_str(&q->t, ts, sizeof(ts));
	target_str(&q->hop->d.server, ps, sizeof(ps));
	if (!b) {
		log_info(q->id, "http hop %s: closed before answering CONNECT %s", ps, ts);
		fail(q, UV_EPROTO);
		return;
	}
	res = http_resp_feed(&q->resp, sbuf_ptr(b), b->len, &used);
	if (res == HTTP_MORE) {
		sbuf_free(b);
		return;
	}
	if (res == HTTP_ERROR) {
		sbuf_free(b);
		log_info(q->id, "http hop %s: bad reply to CONNECT %s: %s", ps, ts, q->resp.error);
		fail(q, UV_EPROTO);
		return;
	}
	if (q->resp.status / 100 != 2) {
		sbuf_free(b);
		log_info(q->id, "http hop %s: CONNECT %s: %d%s", ps, ts, q->resp.status,
		         q->resp.status == 407 ? " (proxy authentication)" : "");
		/* the proxy's refusal of the target, but for its own login; its
		 * status says more than the error it maps onto (a 502 may be a
		 * name not found as well as a refusal) */
		if (q->why && q->whylen)
			snprintf(q->why, q->whylen, "the proxy answered %d %s", q->resp.status,
			         http_reason(q->resp.status));
		fail_at(q, status_error(q->resp.status),
		        q->resp.status == 407 || q->resp.status == 401);
		return;
	}
	log_debug(q->id, "http hop %s: CONNECT %s: %d", ps, ts, q->resp.status);
	sbuf_consume(b, used);
	stream_read_stop(s);
	stream_set_cbs(s, &idle_cbs, NULL);
	q->s = NULL;
	finish(q, prebuf_wrap(q->hop->d.loop, s, b), 0);
}

static void hop_error(stream_t *s, int err)
{
	hop_req_t *q = s->data;

	log_info(q->id, "http hop: %s", uv_strerror(err));
	fail(q, UV_EPROTO);
}

static const stream_cbs_t hop_cbs = {hop_read, NULL, hop_error};

static void on_next(void *ud, stream_t *s, int err)
{
	hop_req_t *q = ud;
	char ts[300], line[1024];
	int n;

	q->inner = NULL;
	if (err < 0) {
		fail(q, err);
		return;
	}
	q->s = s;
	stream_set_cbs(s, &hop_cbs, q);
	target_str(&q->t, ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", ts, ts,
	             q->hop->auth ? "Proxy-Authorization: " : "", q->hop->auth ? q->hop->auth : "",
	             q->hop->auth ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    (err = stream_write_copy(s, line, (size_t)n)) < 0) {
		memset(line, 0, sizeof(line));
		fail(q, err < 0 ? err : UV_EPROTO);
		return;
	}
	memset(line, 0, sizeof(line));
	stream_read_start(s);
}

static dial_t *hop_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud)
{
	hop_req_t *q = calloc(1, sizeof(*q));

	if (!q)
		abort();
	q->hop = (http_hop_t *)d;
	q->cb = cb;
	q->ud = ud;
	q->fail = o->fail;
	q->why = o->why;
	q->whylen = o->whylen;
	q->id = o->id;
	q->t = *t;
	http_resp_init(&q->resp, HTTP_CONNECT);
	/* dialers never call back from inside dial(), so inner is set first */
	q->inner = dial_next(d, o, on_next, q);
	if (!q->inner) {
		free(q);
		return NULL;
	}
	return (dial_t *)q;
}

static void hop_cancel(dialer_t *d, dial_t *req)
{
	hop_req_t *q = (hop_req_t *)req;

	if (q->inner)
		dial_next_cancel(d, q->inner);
	stream_close(q->s);
	free(q);
}

static void hop_free(dialer_t *d)
{
	http_hop_t *h = (http_hop_t *)d;

	secret_free_str(h->auth);
	free(h);
}

static const dialer_ops_t http_hop_ops = {
    .scheme = "http", .dial = hop_dial, .cancel = hop_cancel, .free = hop_free};

int http_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                 size_t errlen)
{
	http_hop_t *h;
	char auth[1024];
	int n;

	if (!u->host[0]) {
		snprintf(err, errlen, "-F http://: the proxy's host is missing");
		return -EINVAL;
	}
	if (u->path[0] && strcmp(u->path, "/")) {
		snprintf(err, errlen, "-F http://%s: a path means nothing here", u->host);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	h->d.ops = &http_hop_ops;
	h->d.next = next;
	h->d.loop = loop;
	if (target_set(&h->d.server, u->host, u->port > 0 ? (uint16_t)u->port : HOP_DEFAULT_PORT) <
	    0) {
		free(h);
		snprintf(err, errlen, "-F http://: the proxy's host is too long");
		return -EINVAL;
	}
	if (u->user || u->pass) {
		n = http_basic_encode(u->user, u->pass, auth, sizeof(auth));
		if (n < 0) {
			free(h);
			snprintf(err, errlen, "-F http://%s: user name and password too long",
			         u->host);
			return -EINVAL;
		}
		h->auth = strdup(auth);
		memset(auth, 0, sizeof(auth));
		if (!h->auth)
			abort();
	}
	*out = &h->d;
	return 0;
}
