/* http_proxy: the HTTP proxy front end (see http_proxy.h; parsing in
 * http_proto.c, the CONNECT hop in http_hop.c).
 *
 * One http_conn_t per client, hung on c->front and freed with the conn.
 * Its states:
 *
 *   HEAD      reading a request head (idle timeout between requests,
 *             handshake timeout once a head has started)
 *   DIAL      conn_dial() in flight; the client is not read
 *   XCHG      one exchange with the origin: the rewritten head and the body
 *             go up, the response comes down unmodified; the response is
 *             parsed only to find where it ends
 *   FLUSH     the last response is complete and the connection must close:
 *             waiting for the client's queue to empty (client bytes, the
 *             rest of a body the origin did not wait for, are dropped)
 *   TUNNEL    CONNECT (or 101 Switching Protocols): conn_relay() owns the
 *             streams from here on
 *   DONE      an error reply went out through conn_linger(), or closed
 *
 * Client bytes go into `pending` and are consumed from there by pump():
 * head bytes into the parser, body bytes up to the origin.  Whatever
 * follows the current message stays in `pending` (and the client is not
 * read) until the exchange ends, so a pipelining client costs at most one
 * chunk.  Both directions use the relay's backpressure: stop reading the
 * producer when the consumer's queue is above STREAM_HIGH_WATER, resume from
 * the consumer's drain callback.  After an exchange the upstream connection
 * is kept (and read, to notice its close) if both sides allow it, and reused
 * for the next request to the same host:port; a kept connection that fails
 * before answering a bodiless request is redialed once.
 */
#include "front/http_proxy.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/tcp.h"
#include "core/transport.h"
#include "wire/http_proto.h"

typedef enum hp_state { HP_HEAD, HP_DIAL, HP_XCHG, HP_FLUSH, HP_TUNNEL, HP_DONE } hp_state_t;

static const char *const hp_state_names[] = {"head", "dial", "exchange", "flush", "tunnel", "done"};

#define B(s) (1u << (s))
static const unsigned hp_next[] = {
    [HP_HEAD] = B(HP_DIAL) | B(HP_XCHG) | B(HP_FLUSH) | B(HP_DONE),
    [HP_DIAL] = B(HP_XCHG) | B(HP_TUNNEL) | B(HP_DONE),
    [HP_XCHG] = B(HP_HEAD) | B(HP_DIAL) | B(HP_FLUSH) | B(HP_TUNNEL) | B(HP_DONE),
    [HP_FLUSH] = B(HP_DONE),
    [HP_TUNNEL] = 0,
    [HP_DONE] = 0,
};
#undef B

typedef struct http_conn {
	conn_t *c; /* NULL once the conn is closed */
	hp_state_t state;
	uv_timer_t timer;    /* idle / slow head; frees the struct when closed */
	uint64_t last;       /* last progress (uv_now) */
	uint64_t head_start; /* when the current head started, 0 before */
	http_req_t req;
	http_resp_t resp;
	sbuf_queue_t pending; /* client bytes not consumed yet */
	target_t up_target;   /* what c->up is connected to */
	uint64_t resp_bytes;  /* response bytes passed to the client, this exchange */
	uint64_t nreq;
	unsigned cli_stopped : 1; /* client not read: the upstream queue is full */
	unsigned up_stopped : 1;  /* upstream not read: the client queue is full */
	unsigned up_keep : 1;     /* c->up may carry another request */
	unsigned up_reused : 1;   /* this exchange runs on a kept connection */
	unsigned retried : 1;
	unsigned close_after : 1; /* close the client after this exchange */
} http_conn_t;

static void pump(http_conn_t *h);
static void on_forward_dialed(conn_t *c, int err);

static void hp_set_state(http_conn_t *h, hp_state_t s)
{
	if (!(hp_next[h->state] & (1u << s))) {
		log_err(h->c->id, "http: illegal state change %s -> %s", hp_state_names[h->state],
		        hp_state_names[s]);
		assert(0);
	}
	log_trace(h->c->id, "http %s -> %s", hp_state_names[h->state], hp_state_names[s]);
	h->state = s;
}

static void on_timer_closed(uv_handle_t *t)
{
	free(t->data);
}

static void hp_free(void *p)
{
	http_conn_t *h = p;

	h->c = NULL;
	http_req_free(&h->req);
	sbufq_clear(&h->pending);
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}

/* ---- timeouts ---- */

static uint64_t idle_limit(const http_conn_t *h)
{
	const listener_t *l = h->c->l;

	if (h->state == HP_HEAD && h->head_start && l->handshake_timeout_ms)
		return l->handshake_timeout_ms; /* a head that has started: slow client */
	if (h->state == HP_HEAD || h->state == HP_XCHG || h->state == HP_FLUSH)
		return l->idle_timeout_ms;
	return 0;
}

/* A head is timed from its start (a slow client cannot stretch it byte by
 * byte); everything else from the last progress. */
static uint64_t elapsed(const http_conn_t *h, uint64_t now)
{
	if (h->state == HP_HEAD && h->head_start)
		return now - h->head_start;
	return now - h->last;
}

static void on_idle(uv_timer_t *t);

/* (Re)start the timer for the current state. */
static void arm(http_conn_t *h)
{
	uint64_t lim = idle_limit(h), el = elapsed(h, uv_now(h->c->l->loop));

	if (lim)
		uv_timer_start(&h->timer, on_idle, el < lim ? lim - el : 0, 0);
	else
		uv_timer_stop(&h->timer);
}

static void touch(http_conn_t *h)
{
	h->last = uv_now(h->c->l->loop);
}

static void restart(http_conn_t *h)
{
	touch(h);
	arm(h);
}

/* ---- replies ---- */

/* The end of the exchange: nothing more is read or timed here. */
static void hp_done(http_conn_t *h)
{
	hp_set_state(h, HP_DONE);
	uv_timer_stop(&h->timer);
	sbufq_clear(&h->pending);
}

/* An error response into out; its length, or <= 0. */
static int error_bytes(http_conn_t *h, int status, const char *extra, const char *msg, char *out,
                       size_t cap)
{
	return http_error_response(status, extra, msg,
	                           h->req.method == HTTP_HEAD && h->req.status == 0, out, cap);
}

/* An error response, then close.  Only before any response byte. */
static void reject(http_conn_t *h, int status, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reject(http_conn_t *h, int status, const char *extra, const char *fmt, ...)
{
	conn_t *c = h->c;
	char msg[1024], out[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info(c->id, "http: %d %s", status, msg);
	hp_done(h);
	if (h->resp_bytes) { /* too late for a reply */
		conn_close(c, "upstream failed");
		return;
	}
	n = error_bytes(h, status, extra, msg, out, sizeof(out));
	if (n > 0 && stream_write_copy(c->client, out, (size_t)n) < 0) {
		conn_close(c, "client gone");
		return;
	}
	conn_linger(c, "error reply");
}

/* Proxy credentials are missing (a browser's first try: 407 at once) or
 * wrong (counted by the guard, the 407 held as it says; conn.h). */
static void reject_auth(http_conn_t *h, int given)
{
	static const char hdr[] = "Proxy-Authenticate: Basic realm=\"sluice\"\r\n",
	                  msg[] = "Proxy authentication required.";
	char out[2048];
	int n;

	if (!given) {
		reject(h, 407, hdr, msg);
		return;
	}
	log_info(h->c->id, "http: proxy authentication failed from %s", h->c->peer_str);
	hp_done(h);
	n = error_bytes(h, 407, hdr, msg, out, sizeof(out));
	conn_auth_refuse(h->c, "http", out, n > 0 ? (size_t)n : 0, "authentication failed");
}

static void reject_dial(http_conn_t *h, int err)
{
	char msg[600];
	int status = 502;

	if (err == UV_EACCES)
		status = 403;
	else if (err == UV_ETIMEDOUT)
		status = 504;
	conn_fail_text(h->c, err, msg, sizeof(msg));
	reject(h, status, NULL, "%s", msg);
}

static void drop_upstream(http_conn_t *h)
{
	conn_t *c = h->c;

	if (c->up) {
		stream_close(c->up);
		c->up = NULL;
	}
	h->up_keep = 0;
	h->up_stopped = 0;
}

/* The response is complete and the client connection must close: wait
 * for what is queued to leave (the linger timer is short), then linger. */
static void finish(http_conn_t *h)
{
	conn_t *c = h->c;

	drop_upstream(h);
	sbufq_clear(&h->pending);
	if (h->state != HP_FLUSH) {
		hp_set_state(h, HP_FLUSH);
		stream_read_start(c->client); /* to drop, see cli_read */
	}
	if (c->client->wq_bytes) {
		restart(h);
		return;
	}
	hp_set_state(h, HP_DONE);
	uv_timer_stop(&h->timer);
	conn_linger(c, "connection: close");
}

/* ---- tunnels ---- */

/* Client bytes read past the head go to the target first. */
static void flush_pending_up(http_conn_t *h)
{
	sbuf_t *b;

	while ((b = sbufq_pop(&h->pending))) {
		h->c->bytes_up += b->len;
		if (stream_write(h->c->up, b) < 0)
			break;
	}
	sbufq_clear(&h->pending);
}

static void start_tunnel(http_conn_t *h)
{
	conn_t *c = h->c;

	hp_set_state(h, HP_TUNNEL);
	uv_timer_stop(&h->timer);
	flush_pending_up(h);
	conn_relay(c);
}

static void on_connect_dialed(conn_t *c, int err)
{
	http_conn_t *h = c->front;
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	char ts[300];

	if (err < 0) {
		reject_dial(h, err);
		return;
	}
	target_str(&c->target, ts, sizeof(ts));
	log_info(c->id, "http CONNECT %s -> 200", ts);
	if (stream_write_copy(c->client, ok, sizeof(ok) - 1) < 0) {
		conn_close(c, "client gone");
		return;
	}
	start_tunnel(h);
}

/* ---- exchanges ---- */

static void log_exchange(http_conn_t *h)
{
	const http_req_t *r = &h->req;
	const char *path = r->path.len ? r->path.p : "";
	const char *q = memchr(path, '?', r->path.len);
	int plen = (int)(q ? (size_t)(q - path) : r->path.len);
	char ts[300];

	/* the path without its query, which may hold tokens */
	target_str(&h->up_target, ts, sizeof(ts));
	log_info(h->c->id, "http %.*s %s%.*s%s -> %d%s", (int)r->method_str.len, r->method_str.p,
	         ts, plen > 200 ? 200 : plen, path, q ? "?..." : "", h->resp.status,
	         h->up_reused ? " (reused)" : "");
}

static void end_exchange(http_conn_t *h)
{
	conn_t *c = h->c;
	int keep = h->req.keep_alive && h->resp.keep_alive && http_req_complete(&h->req) &&
	           !h->close_after;

	log_exchange(h);
	if (!h->up_keep)
		drop_upstream(h);
	if (!keep) {
		finish(h);
		return;
	}
	if (h->up_stopped) {
		h->up_stopped = 0;
		stream_read_start(c->up); /* an idle upstream is read to notice its close */
	}
	hp_set_state(h, HP_HEAD);
	conn_set_state(c, CONN_HANDSHAKE);
	http_req_reset(&h->req);
	h->head_start = 0;
	h->retried = 0;
	h->cli_stopped = 0;
	restart(h);
	pump(h);
}

static void response_done(http_conn_t *h)
{
	h->up_keep = h->resp.keep_alive;
	if (!http_req_complete(&h->req)) {
		/* answered before the whole body: the rest cannot be skipped */
		h->close_after = 1;
		h->up_keep = 0;
	}
	end_exchange(h);
}

/* The upstream failed or closed before the response was complete. */
static void upstream_broken(http_conn_t *h, const char *why)
{
	conn_t *c = h->c;
	char ts[300];

	target_str(&h->up_target, ts, sizeof(ts));
	log_debug(c->id, "http: upstream %s: %s", ts, why);
	if (!h->resp_bytes && h->up_reused && !h->req.has_body && !h->retried) {
		/* a kept connection closed by the server as we reused it */
		drop_upstream(h);
		h->retried = 1;
		h->up_reused = 0;
		hp_set_state(h, HP_DIAL);
		uv_timer_stop(&h->timer);
		conn_dial(c, &h->up_target, on_forward_dialed);
		return;
	}
	if (h->resp_bytes) {
		hp_set_state(h, HP_DONE);
		conn_close(c, "upstream failed mid-response");
		return;
	}
	reject(h, 502, NULL, "The server %s %s", ts, why);
}

static void up_read(stream_t *s, sbuf_t *b)
{
	http_conn_t *h = s->data;
	conn_t *c = h->c;
	size_t used;
	http_res_t res;

	if (h->state != HP_XCHG) {
		/* an idle kept connection: closing, or talking out of turn */
		sbuf_free(b);
		drop_upstream(h);
		return;
	}
	if (!b) {
		if (http_resp_eof(&h->resp) == HTTP_DONE)
			response_done(h);
		else
			upstream_broken(h, h->resp_bytes
			                       ? "closed in the middle of the response"
			                       : "closed the connection without a response");
		return;
	}
	touch(h);
	res = http_resp_feed(&h->resp, sbuf_ptr(b), b->len, &used);
	if (res == HTTP_ERROR) {
		sbuf_free(b);
		upstream_broken(h, "sent an invalid response");
		return;
	}
	if (res == HTTP_DONE && h->resp.upgrade) {
		/* 101: the rest is another protocol, relayed as it is */
		h->resp_bytes += b->len;
		c->bytes_down += b->len;
		c->l->m->bytes_out += b->len;
		log_exchange(h);
		if (stream_write(c->client, b) < 0) {
			conn_close(c, "client gone");
			return;
		}
		start_tunnel(h);
		return;
	}
	if (used < b->len) {
		/* bytes after a complete response: the connection is unusable */
		log_debug(c->id, "http: %u bytes after the response", (unsigned)(b->len - used));
		h->resp.keep_alive = 0;
		b->len = (uint32_t)used;
	}
	h->resp_bytes += used;
	c->bytes_down += used;
	c->l->m->bytes_out += used;
	if (stream_write(c->client, b) < 0) {
		conn_close(c, "client gone");
		return;
	}
	if (res == HTTP_DONE) {
		response_done(h);
		return;
	}
	if (c->client->wq_bytes > STREAM_HIGH_WATER && !h->up_stopped) {
		h->up_stopped = 1;
		stream_read_stop(s);
	}
}

static void up_drain(stream_t *s)
{
	http_conn_t *h = s->data;

	if (h->cli_stopped && s->wq_bytes <= STREAM_LOW_WATER) {
		h->cli_stopped = 0;
		pump(h);
	}
}

static void up_error(stream_t *s, int err)
{
	http_conn_t *h = s->data;

	if (h->state != HP_XCHG) {
		drop_upstream(h);
		return;
	}
	if (s->fail.hop && !h->resp_bytes && !h->up_reused) {
		/* a tunnel answered before its server reached the target
		 * (fast-open): the target failed, say so as for a dial */
		conn_late_fail(h->c, err, &s->fail);
		drop_upstream(h);
		reject_dial(h, err);
		return;
	}
	upstream_broken(h, dial_error_text(err));
}

static const stream_cbs_t up_cbs = {up_read, up_drain, up_error};

static void begin_exchange(http_conn_t *h)
{
	conn_t *c = h->c;
	unsigned flags = 0;
	sbuf_t *head;
	int n;

	if (!h->req.keep_alive)
		flags |= HTTP_RW_CLOSE;
	if (h->req.upgrade)
		flags |= HTTP_RW_UPGRADE;
	hp_set_state(h, HP_XCHG);
	conn_set_state(c, CONN_RELAY);
	http_resp_init(&h->resp, h->req.method);
	h->resp_bytes = 0;
	h->up_keep = 0;
	h->up_stopped = 0;
	restart(h);
	stream_set_cbs(c->up, &up_cbs, h);
	head = sbuf_new(http_req_rewrite_size(&h->req));
	n = http_req_rewrite(&h->req, flags, (char *)head->data, head->cap);
	if (n < 0) { /* cannot happen: the buffer has the size asked for */
		sbuf_free(head);
		reject(h, 500, NULL, "Could not rewrite the request.");
		return;
	}
	head->len = (uint32_t)n;
	c->bytes_up += head->len;
	if (stream_write(c->up, head) < 0) {
		upstream_broken(h, "closed the connection");
		return;
	}
	stream_read_start(c->up);
	pump(h);
}

static void on_forward_dialed(conn_t *c, int err)
{
	http_conn_t *h = c->front;

	if (err < 0) {
		reject_dial(h, err);
		return;
	}
	h->up_target = c->target;
	begin_exchange(h);
}

static void forward(http_conn_t *h, const target_t *t)
{
	conn_t *c = h->c;

	if (c->up && h->up_keep && h->up_target.port == t->port &&
	    !strcasecmp(h->up_target.host, t->host)) {
		h->up_reused = 1;
		begin_exchange(h);
		return;
	}
	drop_upstream(h);
	h->up_reused = 0;
	hp_set_state(h, HP_DIAL);
	uv_timer_stop(&h->timer);
	conn_dial(c, t, on_forward_dialed);
}

/* ---- requests ---- */

static void on_request(http_conn_t *h)
{
	conn_t *c = h->c;
	const url_t *u = c->l->url;
	http_req_t *r = &h->req;
	target_t t;

	conn_handshake_done(c);
	h->nreq++;
	h->close_after = 0;
	if (u->user || u->pass) {
		const http_str_t *auth = http_req_header(r, "proxy-authorization");
		if (auth && conn_auth_banned(c)) {
			hp_done(h);
			conn_close(c, "banned");
			return;
		}
		if (!http_basic_check(auth, u->user ? u->user : "", u->pass ? u->pass : "")) {
			reject_auth(h, auth != NULL);
			return;
		}
		conn_auth_ok(c);
	}
	switch (r->form) {
	case HTTP_FORM_AUTHORITY:
		if (target_set(&t, r->host, r->port) < 0) {
			reject(h, 400, NULL, "Bad CONNECT target.");
			return;
		}
		drop_upstream(h);
		hp_set_state(h, HP_DIAL);
		uv_timer_stop(&h->timer);
		conn_dial(c, &t, on_connect_dialed);
		return;
	case HTTP_FORM_ABSOLUTE:
		if (strcmp(r->scheme, "http")) {
			reject(h, 400, NULL,
			       "Only http:// URLs are fetched by this proxy, not %s://; "
			       "clients use CONNECT for https://.",
			       r->scheme);
			return;
		}
		if (target_set(&t, r->host, r->port) < 0) {
			reject(h, 400, NULL, "Bad host in the URL.");
			return;
		}
		forward(h, &t);
		return;
	default:
		reject(h, 400, NULL,
		       "This is a proxy: requests need an absolute URL (http://host/path) or "
		       "CONNECT.");
		return;
	}
}

/* Pop n bytes off the front of pending. */
static void pending_consume(http_conn_t *h, size_t n)
{
	sbuf_t *b = h->pending.head;

	sbuf_consume(b, n);
	h->pending.bytes -= n;
	if (!b->len)
		sbuf_free(sbufq_pop(&h->pending));
}

/* Body bytes at the front of pending go up; 0 to go on, -1 to stop. */
static int pump_body(http_conn_t *h)
{
	conn_t *c = h->c;
	sbuf_t *b = h->pending.head, *out;
	size_t used;
	http_res_t res = http_req_body(&h->req, sbuf_ptr(b), b->len, &used);

	if (res == HTTP_ERROR) {
		if (h->resp_bytes) {
			hp_set_state(h, HP_DONE);
			conn_close(c, "bad request body");
		} else {
			reject(h, h->req.status, NULL, "Bad request body: %s.", h->req.error);
		}
		return -1;
	}
	if (used == b->len) {
		out = sbufq_pop(&h->pending);
	} else {
		out = sbuf_from(sbuf_ptr(b), used);
		pending_consume(h, used);
	}
	c->bytes_up += out->len;
	if (stream_write(c->up, out) < 0) {
		upstream_broken(h, "closed the connection");
		return -1;
	}
	if (res == HTTP_DONE)
		return -1; /* what follows is the next request: it waits */
	if (c->up->wq_bytes > STREAM_HIGH_WATER) {
		h->cli_stopped = 1;
		return -1;
	}
	return 0;
}

/* Consume pending client bytes as far as the state allows, then read the
 * client if more are wanted. */
static void pump(http_conn_t *h)
{
	conn_t *c;
	int want;

	while (h->c && h->pending.head) {
		sbuf_t *b = h->pending.head;
		size_t used;

		if (h->state == HP_HEAD) {
			http_res_t res = http_req_feed(&h->req, sbuf_ptr(b), b->len, &used);
			pending_consume(h, used);
			if (res == HTTP_ERROR) {
				reject(h, h->req.status, NULL, "Bad request: %s.", h->req.error);
				return;
			}
			if (res == HTTP_DONE) {
				on_request(h);
				break;
			}
			if (!h->head_start && h->req.len) {
				/* a head has started: from now on the slow-head limit */
				h->head_start = uv_now(h->c->l->loop);
				arm(h);
			}
			continue;
		}
		if (h->state == HP_XCHG && !http_req_complete(&h->req) && !h->cli_stopped) {
			if (pump_body(h) < 0)
				break;
			continue;
		}
		break;
	}
	if (!(c = h->c))
		return;
	want = !h->pending.head &&
	       (h->state == HP_HEAD ||
	        (h->state == HP_XCHG && !http_req_complete(&h->req) && !h->cli_stopped));
	if (want)
		stream_read_start(c->client);
	else if (h->state == HP_HEAD || h->state == HP_XCHG || h->state == HP_DIAL)
		stream_read_stop(c->client);
}

static void cli_read(stream_t *s, sbuf_t *b)
{
	http_conn_t *h = s->data;
	conn_t *c = h->c;

	if (h->state == HP_FLUSH) {
		/* the rest of a body nobody wants any more */
		sbuf_free(b);
		return;
	}
	if (!b) {
		if (h->state == HP_HEAD && (h->req.len || h->pending.head)) {
			reject(h, 400, NULL, "Incomplete request.");
			return;
		}
		if (h->state == HP_XCHG && http_req_complete(&h->req)) {
			/* half-closed after its request: answer, then close */
			h->close_after = 1;
			stream_read_stop(s);
			return;
		}
		if (h->state == HP_HEAD && c->client->wq_bytes) {
			finish(h); /* the last response is still on its way */
			return;
		}
		if (h->state == HP_HEAD)
			drop_upstream(h); /* an idle kept one: closed as a socket is */
		hp_set_state(h, HP_DONE);
		conn_close(c, "done");
		return;
	}
	c->l->m->bytes_in += b->len;
	if (!b->len) {
		sbuf_free(b);
		return;
	}
	touch(h);
	sbufq_push(&h->pending, b);
	pump(h);
}

static void cli_drain(stream_t *s)
{
	http_conn_t *h = s->data;
	conn_t *c = h->c;

	touch(h);
	if (h->state == HP_FLUSH) {
		if (!s->wq_bytes)
			finish(h);
		return;
	}
	if (h->up_stopped && c->up && s->wq_bytes <= STREAM_LOW_WATER) {
		h->up_stopped = 0;
		stream_read_start(c->up);
	}
}

static void cli_error(stream_t *s, int err)
{
	http_conn_t *h = s->data;

	log_debug(h->c->id, "http: client: %s", uv_strerror(err));
	hp_set_state(h, HP_DONE);
	conn_close(h->c, "client error");
}

static const stream_cbs_t cli_cbs = {cli_read, cli_drain, cli_error};

static void on_idle(uv_timer_t *t)
{
	http_conn_t *h = t->data;
	uint64_t lim = idle_limit(h), el = elapsed(h, uv_now(t->loop));
	char ts[300];

	if (!lim)
		return;
	if (el < lim) {
		uv_timer_start(t, on_idle, lim - el, 0);
		return;
	}
	if (h->state == HP_XCHG && !h->resp_bytes) {
		target_str(&h->up_target, ts, sizeof(ts));
		reject(h, 504, NULL, "The server %s did not answer in time.", ts);
		return;
	}
	if (h->state == HP_HEAD && h->head_start) {
		reject(h, 408, NULL, "The request head did not arrive in time.");
		return;
	}
	hp_set_state(h, HP_DONE);
	conn_close(h->c, "idle timeout");
}

void http_serve(conn_t *c, sbuf_t *first)
{
	http_conn_t *h = calloc(1, sizeof(*h));

	if (!h)
		abort();
	h->c = c;
	h->state = HP_HEAD;
	http_req_init(&h->req);
	uv_timer_init(c->l->loop, &h->timer);
	h->timer.data = h;
	c->front = h;
	c->front_free = hp_free;
	stream_set_cbs(c->client, &cli_cbs, h);
	restart(h);
	if (first && first->len) {
		c->l->m->bytes_in += first->len;
		sbufq_push(&h->pending, first);
	} else {
		sbuf_free(first);
	}
	pump(h);
}

/* ---- the listener ---- */

static int http_init(listener_t *l, char *err, size_t errlen)
{
	return 0;
}

static void http_on_conn(conn_t *c)
{
	http_serve(c, NULL);
}

const front_ops_t http_front_ops = {
    .workers = 1,
    .relay = 1,
    .scheme = "http",
    .pac = "PROXY",
    .init = http_init,
    .on_conn = http_on_conn,
};

static const transport_scheme_t http_schemes[] = {
    {.scheme = "http",
     .listen = &http_front_ops,
     .hop = http_hop_new,
     .hop_caps = HOP_STREAMS | HOP_REMOTE_DNS,
     .listen_doc = {.usage = "http://[user:pass@]IP:PORT",
                    .about = "HTTP proxy (CONNECT and absolute-form)",
                    .opts = &listener_relay_opts,
                    .pass = 1},
     .hop_doc = {.usage = "http://[user:pass@]HOST[:PORT]",
                 .about = "through an HTTP proxy (CONNECT; port 8080)",
                 .pass = 1}},
};

const transport_t http_transport = {
    .name = "http",
    .summary = "HTTP proxy and HTTP CONNECT hop",
    TRANSPORT_SCHEMES(http_schemes),
};
