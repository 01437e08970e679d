/* ws_handshake: see ws_handshake.h.
 *
 * Helpers: pure string work.  The client checks the 101 response with
 * Debian's libhttp-parser; each header is judged when it is complete
 * (Upgrade and Connection as case-insensitive token lists, the accept value
 * exactly).
 *
 * I/O: ws_head_t and ws_open_t are small state machines on stream
 * callbacks, owned (embedded) by the tunnel's per-connection state.  A
 * listener's: [TLS handshake] -> request head -> on_head.  A hop's: dial ->
 * [TLS handshake] -> on_connected -> request (ws_open_send) -> response
 * head -> on_up, or on_fail at any step.  Both only check the WebSocket
 * parts; tokens, cookies and keys are the tunnel's business.
 */
#include "tunnel/ws/ws_handshake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <openssl/evp.h>
#include "core/crypto.h"

#include "core/authguard.h"
#include "core/encoding.h"
#include "core/log.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- handshake helpers ---- */

void ws_make_key(char key[WS_KEY_LEN + 1])
{
	uint8_t raw[16];

	random_bytes(raw, sizeof(raw));
	b64_encode(raw, sizeof(raw), key);
}

void ws_accept_for(const char *key, char accept[WS_ACCEPT_LEN + 1])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (!c || !EVP_DigestInit_ex(c, EVP_sha1(), NULL) ||
	    !EVP_DigestUpdate(c, key, strlen(key)) ||
	    !EVP_DigestUpdate(c, WS_GUID, sizeof(WS_GUID) - 1) ||
	    !EVP_DigestFinal_ex(c, md, &mdlen))
		abort();
	EVP_MD_CTX_free(c);
	b64_encode(md, mdlen, accept);
}

static int has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

int ws_client_request(char *buf, size_t len, const char *host, const char *path, const char *key,
                      const char *extra)
{
	int n;

	if (!host || !*host || !key || has_crlf(host) || has_crlf(path) || has_crlf(key))
		return -EINVAL;
	if (!path || !*path)
		path = "/";
	n = snprintf(buf, len,
	             "GET %s HTTP/1.1\r\n"
	             "Host: %s\r\n"
	             "Upgrade: websocket\r\n"
	             "Connection: Upgrade\r\n"
	             "Sec-WebSocket-Key: %s\r\n"
	             "Sec-WebSocket-Version: 13\r\n"
	             "%s\r\n",
	             path, host, key, extra ? extra : "");
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

int ws_server_response(char *buf, size_t len, const char *key, const char *extra)
{
	char accept[WS_ACCEPT_LEN + 1];
	int n;

	if (!key)
		return -EINVAL;
	ws_accept_for(key, accept);
	n = snprintf(buf, len,
	             "HTTP/1.1 101 Switching Protocols\r\n"
	             "Upgrade: websocket\r\n"
	             "Connection: Upgrade\r\n"
	             "Sec-WebSocket-Accept: %s\r\n"
	             "%s\r\n",
	             accept, extra ? extra : "");
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

const http_str_t *ws_upgrade_key(const http_req_t *r)
{
	const http_str_t *ver = http_req_header(r, "Sec-WebSocket-Version");

	if (r->method != HTTP_GET || !r->upgrade || !ver || ver->len != 2 ||
	    memcmp(ver->p, "13", 2))
		return NULL;
	return http_req_header(r, "Sec-WebSocket-Key");
}

/* Response-head scan state for http_parser's callbacks. */
typedef struct resp_scan {
	const char *accept; /* expected Sec-WebSocket-Accept */
	const char *want;   /* header to copy, or NULL */
	char *want_val;
	size_t want_len;
	const char *name, *val; /* current header, in the head */
	size_t nlen, vlen;
	unsigned upgrade : 1, conn : 1, accept_ok : 1, accept_bad : 1, want_found : 1, done : 1;
} resp_scan_t;

static int is_ows(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **p, size_t *n)
{
	while (*n && is_ows(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && is_ows((*p)[*n - 1]))
		(*n)--;
}

static int name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* 1 if the comma-separated list p[0..n) has token tok (case-insensitive). */
static int list_has(const char *p, size_t n, const char *tok)
{
	while (n) {
		const char *comma = memchr(p, ',', n);
		size_t item = comma ? (size_t)(comma - p) : n;
		const char *q = p;
		size_t m = item;

		trim(&q, &m);
		if (name_is(q, m, tok))
			return 1;
		if (!comma)
			break;
		p += item + 1;
		n -= item + 1;
	}
	return 0;
}

static void scan_header(resp_scan_t *s)
{
	const char *v = s->val ? s->val : "";
	size_t vn = s->val ? s->vlen : 0;

	trim(&v, &vn);
	if (name_is(s->name, s->nlen, "upgrade")) {
		if (list_has(v, vn, "websocket"))
			s->upgrade = 1;
	} else if (name_is(s->name, s->nlen, "connection")) {
		if (list_has(v, vn, "upgrade"))
			s->conn = 1;
	} else if (name_is(s->name, s->nlen, "sec-websocket-accept")) {
		if (vn == WS_ACCEPT_LEN && memcmp(v, s->accept, WS_ACCEPT_LEN) == 0)
			s->accept_ok = 1;
		else
			s->accept_bad = 1;
	}
	if (s->want && !s->want_found && name_is(s->name, s->nlen, s->want)) {
		size_t n = vn < s->want_len - 1 ? vn : s->want_len - 1;

		memcpy(s->want_val, v, n);
		s->want_val[n] = 0;
		s->want_found = 1;
	}
	s->name = s->val = NULL;
	s->nlen = s->vlen = 0;
}

/* The head is one buffer, so each field comes in one piece; a value may
 * come in several (obs-fold), contiguous, so its span runs from the first. */
static int rs_on_field(http_parser *p, const char *at, size_t len)
{
	resp_scan_t *s = p->data;

	if (s->name)
		scan_header(s);
	s->name = at;
	s->nlen = len;
	return 0;
}

static int rs_on_value(http_parser *p, const char *at, size_t len)
{
	resp_scan_t *s = p->data;

	if (!s->val)
		s->val = at;
	s->vlen = (size_t)(at + len - s->val);
	return 0;
}

static int rs_on_headers_complete(http_parser *p)
{
	resp_scan_t *s = p->data;

	if (s->name)
		scan_header(s);
	s->done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = rs_on_field,
    .on_header_value = rs_on_value,
    .on_headers_complete = rs_on_headers_complete,
};

static int reject(char *err, size_t errlen, const char *why, int status)
{
	if (err && errlen) {
		if (status)
			snprintf(err, errlen, "%s %d", why, status);
		else
			snprintf(err, errlen, "%s", why);
	}
	return -EPROTO;
}

int ws_client_check_response(const char *head, size_t len, const char *key, const char *hdr_name,
                             char *hdr_val, size_t hdr_len, char *err, size_t errlen)
{
	char accept[WS_ACCEPT_LEN + 1];
	resp_scan_t s = {.accept = accept};
	http_parser p;

	if (hdr_name && hdr_val && hdr_len) {
		hdr_val[0] = 0;
		s.want = hdr_name;
		s.want_val = hdr_val;
		s.want_len = hdr_len;
	}
	if (err && errlen)
		err[0] = 0;
	if (!key)
		return reject(err, errlen, "no key", 0);
	ws_accept_for(key, accept);
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &s;
	http_parser_execute(&p, &resp_settings, head, len);
	if (!s.done)
		return reject(err, errlen,
		              HTTP_PARSER_ERRNO(&p) == HPE_OK ? "incomplete response head"
		                                              : "malformed response head",
		              0);
	if (p.http_major != 1 || p.http_minor < 1)
		return reject(err, errlen, "not HTTP/1.1", 0);
	if (p.status_code != 101)
		return reject(err, errlen, "status", p.status_code ? p.status_code : -1);
	if (!s.upgrade)
		return reject(err, errlen, "no Upgrade: websocket", 0);
	if (!s.conn)
		return reject(err, errlen, "no Connection: upgrade", 0);
	if (!s.accept_ok || s.accept_bad)
		return reject(err, errlen, "bad Sec-WebSocket-Accept", 0);
	return 0;
}

/* ---- a listener's side ---- */

static void keep_raw(ws_head_t *h, const sbuf_t *b)
{
	size_t have = h->raw ? h->raw->len : 0;
	sbuf_t *n;

	if (!h->decoy || !decoy_passes(h->decoy) || have + b->len > WS_HEAD_MAX + 65536)
		return;
	n = sbuf_new(have + b->len);
	if (have)
		memcpy(n->data, sbuf_ptr(h->raw), have);
	memcpy(n->data + have, b->data + b->off, b->len);
	n->len = (uint32_t)(have + b->len);
	sbuf_free(h->raw);
	h->raw = n;
}

/* 0 when the raw bytes' request line is complete and cannot be a
 * WebSocket upgrade (GET target HTTP/1.x); 1 while it may be. */
static int may_be_upgrade(const sbuf_t *raw)
{
	const char *p = (const char *)raw->data + raw->off, *end = p + raw->len, *nl;

	while (p < end && (*p == '\r' || *p == '\n')) /* as the parser skips them */
		p++;
	if (p == end)
		return 1;
	if ((size_t)(end - p) >= 4 && memcmp(p, "GET ", 4))
		return 0;
	if (!(nl = memchr(p, '\n', (size_t)(end - p))))
		return 1;
	if (nl > p && nl[-1] == '\r')
		nl--;
	return nl - p > 13 && !memcmp(nl - 9, " HTTP/1.", 8);
}

void ws_head_release(ws_head_t *h)
{
	sbuf_free(h->raw);
	h->raw = NULL;
	sbuf_free(h->pipe);
	h->pipe = NULL;
}

static void head_read(stream_t *st, sbuf_t *b)
{
	ws_head_t *h = st->data;
	conn_t *c = h->c;
	size_t used = 0;
	http_res_t r;

	if (!b) {
		conn_close(c, "client closed");
		return;
	}
	keep_raw(h, b);
	if (h->raw && !may_be_upgrade(h->raw)) {
		/* not even its request line can open a tunnel: the web server
		 * gets it now, as it came (an HTTP/0.9 line, a POST, ...) */
		sbuf_free(b);
		stream_read_stop(st);
		log_info(c->id, "%s: not a tunnel request: passed to the decoy web server",
		         c->peer_str);
		(*h->not_http)++;
		decoy_pass(h->decoy, c, h->raw);
		h->raw = NULL;
		return;
	}
	r = http_req_feed(h->req, sbuf_ptr(b), b->len, &used);
	if (r == HTTP_MORE && h->req->len <= WS_HEAD_MAX) {
		sbuf_free(b);
		return;
	}
	stream_read_stop(st);
	if (r != HTTP_DONE) {
		sbuf_free(b);
		/* random bytes or an oversized head: a web server's 400 */
		log_info(c->id, "%s: not HTTP (%s)", c->peer_str,
		         h->req->error ? h->req->error : "too long");
		(*h->not_http)++;
		if (h->decoy && decoy_passes(h->decoy)) {
			decoy_pass(h->decoy, c, h->raw);
			h->raw = NULL;
			return;
		}
		decoy_bad_request(h->decoy, c);
		return;
	}
	sbuf_consume(b, used);
	if (b->len && h->decoy && !decoy_passes(h->decoy)) /* pipelined, or a body */
		h->pipe = sbuf_from(sbuf_ptr(b), b->len);
	if (!b->len) {
		sbuf_free(b);
		b = NULL;
	}
	h->on_head(h, b);
}

static void head_error(stream_t *st, int err)
{
	ws_head_t *h = st->data;

	conn_close(h->c, "client error");
}

static const stream_cbs_t head_cbs = {head_read, NULL, head_error};

static void head_start(ws_head_t *h)
{
	stream_set_cbs(h->c->client, &head_cbs, h);
	stream_read_start(h->c->client);
}

static void head_on_tls(void *ud, stream_t *s, int err)
{
	ws_head_t *h = ud;

	if (err < 0) {
		log_info(h->c->id, "%s: TLS handshake failed: %s", h->c->peer_str,
		         uv_strerror(err));
		conn_close(h->c, "tls failed");
		return;
	}
	log_debug(h->c->id, "%s", tls_describe(s));
	head_start(h);
}

void ws_head_read(ws_head_t *h, tls_ctx_t *tls)
{
	conn_t *c = h->c;

	if (tls) {
		c->client = tls_server_new(c->l->loop, tls, c->client, NULL);
		tls_handshake(c->client, head_on_tls, h);
		return;
	}
	head_start(h);
}

void ws_head_decoy(ws_head_t *h, const decoy_t *d, uint64_t *count, const char *why)
{
	(*count)++;
	if (decoy_passes(d)) {
		log_info(h->c->id, "%s: %s: passed to the decoy web server", h->c->peer_str, why);
		decoy_pass(d, h->c, h->raw);
		h->raw = NULL;
		return;
	}
	log_info(h->c->id, "%s: %s: decoy page", h->c->peer_str, why);
	decoy_send(d, h->c, h->req, h->pipe, h->not_http);
	h->pipe = NULL;
}

void ws_head_decoy_auth(ws_head_t *h, const decoy_t *d, uint64_t *count, const char *what,
                        const char *why)
{
	/* the guard counts the failure (and bans), but the answer is the
	 * decoy's, at the decoy's pace: a held or missing answer would tell a
	 * prober apart from a visitor of the web site */
	conn_auth_count(h->c, what);
	ws_head_decoy(h, d, count, why);
}

int ws_head_banned(ws_head_t *h, const decoy_t *d, uint64_t *count)
{
	if (!authguard_banned((struct sockaddr *)&h->c->peer, uv_now(h->c->l->loop)))
		return 0;
	log_info(h->c->id, "%s is banned (auth-guard): a right key, refused", h->c->peer_str);
	ws_head_decoy(h, d, count, "banned source");
	return 1;
}

/* ---- a hop's side ---- */

static void open_on_read(stream_t *s, sbuf_t *b)
{
	ws_open_t *o = s->data;
	char err[200], why[300], *end;
	size_t n, hl;

	if (!b) {
		o->ops->on_fail(o, UV_ECONNRESET, o->ops->closed_why);
		return;
	}
	n = b->len < WS_RESP_MAX - o->rlen ? b->len : WS_RESP_MAX - o->rlen;
	memcpy(o->resp + o->rlen, sbuf_ptr(b), n);
	o->rlen += n;
	o->resp[o->rlen] = 0;
	end = strstr(o->resp, "\r\n\r\n");
	if (!end) {
		sbuf_free(b);
		if (o->rlen >= WS_RESP_MAX)
			o->ops->on_fail(o, UV_EPROTO, "upgrade response too long");
		return;
	}
	hl = (size_t)(end + 4 - o->resp);
	/* the head ends in this chunk, hl - (rlen - n) bytes into it; all that
	 * follows is the WebSocket's, including what did not fit in resp */
	sbuf_consume(b, hl - (o->rlen - n));
	stream_read_stop(s);
	if (ws_client_check_response(o->resp, hl, o->key, o->ops->want_hdr, o->hdr_val,
	                             sizeof(o->hdr_val), err, sizeof(err)) < 0) {
		sbuf_free(b);
		snprintf(why, sizeof(why), o->ops->refused_fmt, err);
		o->ops->on_fail(o, UV_EACCES, why);
		return;
	}
	if (!b->len) {
		sbuf_free(b);
		b = NULL;
	}
	o->ops->on_up(o, b);
}

static void open_on_error(stream_t *s, int err)
{
	ws_open_t *o = s->data;

	o->ops->on_fail(o, err, "connection lost during the upgrade");
}

static const stream_cbs_t open_cbs = {open_on_read, NULL, open_on_error};

static void open_on_tls(void *ud, stream_t *s, int err)
{
	ws_open_t *o = ud;

	if (err < 0) {
		o->ops->on_fail(o, err, "TLS handshake failed");
		return;
	}
	log_debug(s->id, "%s", tls_describe(s));
	o->ops->on_connected(o);
}

/* A plain connection to the server is up: the request waits for the
 * check phase of this loop turn, after the other events the same poll
 * returned.  Bytes the application sent with its connect are often among
 * them (the hop's dial started at its accept), and queued by then they
 * ride in the request (a 0-RTT open's first bytes) instead of following
 * the 101 a round trip later.  One check handle serves every opener. */
static queue_t later = {&later, &later};
static uv_check_t later_h;
static int later_on;

static void on_later(uv_check_t *h)
{
	queue_t *q;

	uv_check_stop(h);
	while ((q = queue_pop(&later))) {
		ws_open_t *o = queue_data(q, ws_open_t, later);
		o->ops->on_connected(o);
	}
}

static void connected_later(ws_open_t *o)
{
	if (!later_on) {
		uv_check_init(o->d->loop, &later_h);
		uv_unref((uv_handle_t *)&later_h);
		later_on = 1;
	}
	if (later_h.loop != o->d->loop || uv_is_closing((uv_handle_t *)&later_h)) {
		o->ops->on_connected(o); /* another loop, or this one shutting down */
		return;
	}
	queue_insert_tail(&later, &o->later);
	uv_check_start(&later_h, on_later);
}

static void open_on_dialed(void *ud, stream_t *s, int err)
{
	ws_open_t *o = ud;
	char why[400];

	o->dial = NULL;
	if (err < 0) {
		snprintf(why, sizeof(why), "cannot reach %s:%u: %s", o->d->server.host,
		         o->d->server.port, uv_strerror(err));
		o->ops->on_fail(o, err, why);
		return;
	}
	o->raw = s;
	s->id = o->id;
	if (o->tls) {
		o->raw = tls_client_new(o->d->loop, o->tls, s, o->names->sni, o->names->verify);
		tls_handshake(o->raw, open_on_tls, o);
		return;
	}
	/* reading from now on (what the server says before the request is
	 * a bad head too) keeps the connect's epoll registration (tcp.c) */
	stream_set_cbs(o->raw, &open_cbs, o);
	stream_read_start(o->raw);
	connected_later(o);
}

int ws_open_start(ws_open_t *o, dialer_t *d, tls_ctx_t *tls, const ws_tls_names_t *names,
                  uint64_t id, const ws_open_ops_t *ops, void *data)
{
	dial_opts_t opts = {.id = id};

	o->ops = ops;
	o->data = data;
	o->d = d;
	o->tls = tls;
	o->names = names;
	o->id = id;
	o->dial = dial_next(d, &opts, open_on_dialed, o);
	return o->dial ? 0 : -ENOMEM;
}

int ws_open_send(ws_open_t *o, size_t cap, const char *host, const char *path, const char *extra)
{
	char *req = malloc(cap);
	int n;

	if (!req)
		abort();
	n = ws_client_request(req, cap, host, path, o->key, extra);
	if (n < 0) {
		free(req);
		return n;
	}
	stream_set_cbs(o->raw, &open_cbs, o);
	stream_write(o->raw, sbuf_from(req, (size_t)n));
	free(req);
	stream_read_start(o->raw);
	return 0;
}

stream_t *ws_open_take(ws_open_t *o)
{
	stream_t *s = o->raw;

	o->raw = NULL;
	return s;
}

void ws_open_close(ws_open_t *o)
{
	queue_remove(&o->later);
	if (o->dial)
		dial_next_cancel(o->d, o->dial);
	o->dial = NULL;
	stream_close(o->raw);
	o->raw = NULL;
}

static const opt_t tls_opts[] = {
    OPT_STR(ws_tls_opts_t, ca, "ca", "the system's CAs", "FILE",
            "verify the server's certificate against this PEM bundle"),
    OPT_BOOL(ws_tls_opts_t, insecure, "insecure", "0",
             "do not verify the server's certificate at all"),
    OPT_STR(ws_tls_opts_t, sni, "sni", "the server's host", "NAME", "the TLS server name"),
    OPT_STR(ws_tls_opts_t, ciphers, "ciphers", "AES-128-GCM first where this CPU has AES", "LIST",
            "the TLS 1.3 cipher suites offered, in order (OpenSSL's names joined by ':')"),
};

const opt_schema_t ws_tls_opts = OPT_SCHEMA(NULL, tls_opts);

int ws_hop_tls_load(const ws_tls_opts_t *o, const char *url_host, const char *host, int tls,
                    const char *tls_how, tls_ctx_t **ctx, ws_tls_names_t *names, char *err,
                    size_t errlen)
{
	if (tls) {
		tls_opts_t t = {.ca_file = o->ca,
		                .insecure = o->insecure,
		                .alpn = "http/1.1",
		                .ciphers = o->ciphers};
		size_t n;

		snprintf(names->sni, sizeof(names->sni), "%s", o->sni ? o->sni : url_host);
		if (host && *host) { /* an HTTP Host value: drop its port */
			const char *end = host[0] == '[' ? strchr(host, ']') : NULL;
			n = end ? (size_t)(end - host) + 1 : strcspn(host, ":");
		} else {
			host = url_host;
			n = strlen(host);
		}
		snprintf(names->verify, sizeof(names->verify), "%.*s", (int)n, host);
		return tls_ctx_new_client(&t, ctx, err, errlen);
	}
	if (o->ca || o->insecure || o->sni || o->ciphers) {
		snprintf(err, errlen, "options 'ca', 'insecure', 'sni' and 'ciphers' are for %s",
		         tls_how);
		return -EINVAL;
	}
	return 0;
}

/* ---- a hop's dial ---- */

static void req_closed(uv_handle_t *h)
{
	free(h->data);
}

static void req_finish(ws_req_t *r)
{
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, req_closed);
}

static void req_on_timer(uv_timer_t *h)
{
	ws_req_t *r = h->data;

	ws_req_answer(r, r->err);
}

void ws_req_init(ws_req_t *r, uv_loop_t *loop, dial_cb cb, void *ud,
                 void (*on_answer)(ws_req_t *r, int err))
{
	r->cb = cb;
	r->ud = ud;
	r->on_answer = on_answer;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
}

void ws_req_answer(ws_req_t *r, int err)
{
	if (r->answered)
		return;
	r->answered = 1;
	r->on_answer(r, err);
	if (err < 0) {
		stream_close(r->s);
		r->cb(r->ud, NULL, err);
	} else {
		r->cb(r->ud, r->s, 0);
	}
	req_finish(r);
}

void ws_req_answer_soon(ws_req_t *r, int err)
{
	r->err = err;
	uv_timer_start(&r->timer, req_on_timer, 0, 0);
}

void ws_req_cancel(ws_req_t *r)
{
	if (r->answered)
		return;
	r->answered = 1;
	stream_close(r->s);
	req_finish(r);
}
