/* http_proto: see http_proto.h.
 *
 * Request heads are handled in two passes over each fed chunk.  First a
 * scan of our own finds the line boundaries and the empty line that ends
 * the head, enforcing the per-line, per-head and header-count limits (which
 * libhttp-parser does not have) and refusing obsolete line folding; the
 * scanned bytes are appended to the request's buffer.  Then libhttp-parser
 * tokenizes exactly those appended bytes, so its callbacks point into our
 * buffer and a field split across chunks is simply a longer span there.
 * Once the head is complete, the same parser keeps running over body bytes
 * (which are not copied) and is paused in on_message_complete, which is how
 * the exact end of a body is found.  Responses use the same trick without
 * storing anything.
 */
#include "wire/http_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/encoding.h"
#include "core/secret.h"

enum { RQ_HEAD, RQ_BODY, RQ_DONE, RQ_ERROR };

#define URL_UNSET ((size_t)-1)

static int lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int str_ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	return alen == blen && !strncasecmp(a, b, alen);
}

/* ---- request ---- */

static http_res_t req_fail(http_req_t *r, int status, const char *why)
{
	r->state = RQ_ERROR;
	r->status = status;
	r->error = why;
	return HTTP_ERROR;
}

static int rq_on_url(http_parser *p, const char *at, size_t len)
{
	http_req_t *r = p->data;
	size_t off = (size_t)(at - r->buf);

	if (r->url_off == URL_UNSET)
		r->url_off = off;
	r->url_len = off + len - r->url_off;
	return 0;
}

static int rq_on_field(http_parser *p, const char *at, size_t len)
{
	http_req_t *r = p->data;
	size_t off = (size_t)(at - r->buf);

	if (r->last_cb != 1) {
		if (r->nhdr == HTTP_HEADERS_MAX)
			return 1;
		r->off[r->nhdr].noff = (uint32_t)off;
		r->off[r->nhdr].voff = (uint32_t)(off + len);
		r->off[r->nhdr].vlen = 0;
		r->nhdr++;
		r->last_cb = 1;
	}
	r->off[r->nhdr - 1].nlen = (uint32_t)(off + len - r->off[r->nhdr - 1].noff);
	return 0;
}

static int rq_on_value(http_parser *p, const char *at, size_t len)
{
	http_req_t *r = p->data;
	size_t off = (size_t)(at - r->buf);

	if (!r->nhdr)
		return 1;
	if (r->last_cb != 2) {
		r->off[r->nhdr - 1].voff = (uint32_t)off;
		r->last_cb = 2;
	}
	r->off[r->nhdr - 1].vlen = (uint32_t)(off + len - r->off[r->nhdr - 1].voff);
	return 0;
}

static int rq_on_headers_complete(http_parser *p)
{
	http_req_t *r = p->data;

	r->head_done = 1;
	r->chunked = !!(p->flags & F_CHUNKED);
	r->content_length = (p->flags & F_CONTENTLENGTH) ? p->content_length : 0;
	return 0;
}

static int rq_on_message_complete(http_parser *p)
{
	http_req_t *r = p->data;

	r->msg_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings head_settings = {
    .on_url = rq_on_url,
    .on_header_field = rq_on_field,
    .on_header_value = rq_on_value,
    .on_headers_complete = rq_on_headers_complete,
    .on_message_complete = rq_on_message_complete,
};

/* Trailers of a chunked body are parsed but not kept. */
static const http_parser_settings body_settings = {
    .on_message_complete = rq_on_message_complete,
};

void http_req_init(http_req_t *r)
{
	memset(r, 0, sizeof(*r));
	http_req_reset(r);
}

void http_req_reset(http_req_t *r)
{
	char *buf = r->buf;
	size_t cap = r->cap;

	if (cap > 8192) { /* a kept-alive connection should not sit on a big head */
		free(buf);
		buf = NULL;
		cap = 0;
	}
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->cap = cap;
	r->url_off = URL_UNSET;
	r->state = RQ_HEAD;
	http_parser_init(&r->p, HTTP_REQUEST);
	r->p.data = r;
}

void http_req_free(http_req_t *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->len = 0;
}

static int is_host_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

static int is_v6_char(int c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '.';
}

/* host[:port] or [v6][:port]; def_port 0 means the port is required. */
static int parse_authority(const char *s, size_t n, char *host, size_t hostcap, uint16_t *port,
                           uint16_t def_port)
{
	const char *h = s, *ps = NULL;
	size_t hl, pl = 0;
	unsigned long v = 0;

	if (n && s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		if (!rb)
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		if (rb + 1 < s + n) {
			if (rb[1] != ':')
				return -EINVAL;
			ps = rb + 2;
			pl = (size_t)(s + n - ps);
		}
		for (size_t i = 0; i < hl; i++)
			if (!is_v6_char((unsigned char)h[i]))
				return -EINVAL;
		if (!memchr(h, ':', hl))
			return -EINVAL;
	} else {
		const char *colon = NULL;
		for (size_t i = 0; i < n; i++) {
			if (s[i] == ':') {
				if (colon)
					return -EINVAL; /* a bare IPv6 needs brackets */
				colon = s + i;
			} else if (!is_host_char((unsigned char)s[i])) {
				return -EINVAL;
			}
		}
		hl = colon ? (size_t)(colon - s) : n;
		if (colon) {
			ps = colon + 1;
			pl = (size_t)(s + n - ps);
		}
	}
	if (hl == 0 || hl >= hostcap)
		return -EINVAL;
	if (pl > 5)
		return -EINVAL;
	for (size_t i = 0; i < pl; i++) {
		if (ps[i] < '0' || ps[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(ps[i] - '0');
	}
	if (pl == 0)
		v = def_port;
	if (v < 1 || v > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (uint16_t)v;
	return 0;
}

static uint16_t scheme_port(const char *scheme)
{
	if (!strcmp(scheme, "http") || !strcmp(scheme, "ws"))
		return 80;
	if (!strcmp(scheme, "https") || !strcmp(scheme, "wss"))
		return 443;
	return 0;
}

static http_res_t parse_target(http_req_t *r)
{
	const char *t = r->target.p, *end = t + r->target.len, *a, *ae, *at, *hash;
	size_t sl;

	if (r->method == HTTP_CONNECT) {
		r->form = HTTP_FORM_AUTHORITY;
		if (parse_authority(t, r->target.len, r->host, sizeof(r->host), &r->port, 0) < 0)
			return req_fail(r, 400, "CONNECT needs host:port");
		return HTTP_DONE;
	}
	if (r->target.len && t[0] == '/') {
		r->form = HTTP_FORM_ORIGIN;
		return HTTP_DONE;
	}
	if (r->target.len == 1 && t[0] == '*') {
		r->form = HTTP_FORM_ASTERISK;
		return HTTP_DONE;
	}
	a = memchr(t, ':', r->target.len);
	if (!a || end - a < 3 || a[1] != '/' || a[2] != '/')
		return req_fail(r, 400, "bad request target");
	sl = (size_t)(a - t);
	if (sl == 0 || sl >= sizeof(r->scheme))
		return req_fail(r, 400, "bad scheme");
	for (size_t i = 0; i < sl; i++) {
		int c = (unsigned char)t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (i && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))))
			return req_fail(r, 400, "bad scheme");
		r->scheme[i] = (char)lc(c);
	}
	r->scheme[sl] = 0;
	a += 3;
	for (ae = a; ae < end && *ae != '/' && *ae != '?' && *ae != '#'; ae++)
		;
	/* userinfo in a request target is deprecated: drop it */
	for (at = ae; at > a && at[-1] != '@'; at--)
		;
	if (at > a)
		a = at;
	if (parse_authority(a, (size_t)(ae - a), r->host, sizeof(r->host), &r->port,
	                    scheme_port(r->scheme)) < 0)
		return req_fail(r, 400, "bad host or port in the request target");
	hash = memchr(ae, '#', (size_t)(end - ae));
	r->path.p = ae;
	r->path.len = (size_t)((hash ? hash : end) - ae);
	r->form = HTTP_FORM_ABSOLUTE;
	return HTTP_DONE;
}

static void trim(http_str_t *s)
{
	while (s->len && (s->p[0] == ' ' || s->p[0] == '\t')) {
		s->p++;
		s->len--;
	}
	while (s->len &&
	       (s->p[s->len - 1] == ' ' || s->p[s->len - 1] == '\t' || s->p[s->len - 1] == '\r'))
		s->len--;
}

static http_res_t finish_head(http_req_t *r)
{
	const char *sp;

	r->vmajor = r->p.http_major;
	r->vminor = r->p.http_minor;
	if (r->vmajor != 1)
		return req_fail(r, 505, "HTTP version not supported");
	r->method = (int)r->p.method;
	sp = memchr(r->buf, ' ', r->len);
	if (!sp || r->url_off == URL_UNSET || !r->url_len)
		return req_fail(r, 400, "bad request line");
	r->method_str.p = r->buf;
	r->method_str.len = (size_t)(sp - r->buf);
	r->target.p = r->buf + r->url_off;
	r->target.len = r->url_len;
	for (size_t i = 0; i < r->nhdr; i++) {
		r->hdr[i].name.p = r->buf + r->off[i].noff;
		r->hdr[i].name.len = r->off[i].nlen;
		r->hdr[i].value.p = r->buf + r->off[i].voff;
		r->hdr[i].value.len = r->off[i].vlen;
		trim(&r->hdr[i].value);
	}
	r->keep_alive = !!http_should_keep_alive(&r->p);
	r->upgrade = r->p.upgrade && r->method != HTTP_CONNECT;
	r->has_body = r->method != HTTP_CONNECT && (r->chunked || r->content_length > 0);
	if (parse_target(r) < 0)
		return HTTP_ERROR;
	r->state = r->msg_done ? RQ_DONE : RQ_BODY;
	return HTTP_DONE;
}

static http_res_t parser_fail(http_req_t *r)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&r->p);

	switch (e) {
	case HPE_HEADER_OVERFLOW:
		return req_fail(r, 431, "request head too large");
	case HPE_CB_header_field:
		return req_fail(r, 431, "too many header fields");
	case HPE_INVALID_VERSION:
		return req_fail(r, 400, "bad HTTP version");
	default:
		return req_fail(r, 400, http_errno_description(e));
	}
}

static int grow(http_req_t *r, size_t need)
{
	size_t cap = r->cap ? r->cap : 1024;
	char *nb;

	if (need <= r->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > HTTP_HEAD_MAX)
		cap = HTTP_HEAD_MAX;
	if (cap < need)
		return -ENOSPC;
	nb = realloc(r->buf, cap);
	if (!nb)
		return -ENOMEM;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

http_res_t http_req_feed(http_req_t *r, const uint8_t *buf, size_t len, size_t *used)
{
	size_t i = 0, i0, n, got, start;
	enum http_errno e;
	int end = 0;

	*used = 0;
	if (r->state == RQ_ERROR)
		return HTTP_ERROR;
	if (r->state != RQ_HEAD)
		return HTTP_DONE;
	if (r->len == 0)
		while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
			i++;
	i0 = i;
	for (; i < len; i++) {
		uint8_t ch = buf[i];

		if (r->len + (i - i0) >= HTTP_HEAD_MAX)
			return req_fail(r, 431, "request head too large");
		if (ch == '\n') {
			int empty = r->line_len == 0 || (r->line_len == 1 && r->line_cr);
			r->line_len = 0;
			r->line_cr = 0;
			if (empty) {
				i++;
				end = 1;
				break;
			}
			if (++r->nlines > HTTP_HEADERS_MAX + 1)
				return req_fail(r, 431, "too many header fields");
			continue;
		}
		if (r->line_len == 0 && r->nlines > 0 && (ch == ' ' || ch == '\t'))
			return req_fail(r, 400, "obsolete line folding");
		r->line_cr = ch == '\r';
		if (++r->line_len > HTTP_LINE_MAX)
			return r->nlines ? req_fail(r, 431, "header line too long")
			                 : req_fail(r, 414, "request line too long");
	}
	n = i - i0;
	*used = i;
	if (!n)
		return HTTP_MORE;
	if (grow(r, r->len + n) < 0)
		return req_fail(r, 431, "request head too large");
	start = r->len;
	memcpy(r->buf + start, buf + i0, n);
	r->len += n;
	got = http_parser_execute(&r->p, &head_settings, r->buf + start, n);
	e = HTTP_PARSER_ERRNO(&r->p);
	if (e != HPE_OK && !(e == HPE_PAUSED && r->msg_done))
		return parser_fail(r);
	if (got != n)
		return req_fail(r, 400, "data after the request head");
	if (!end)
		return HTTP_MORE;
	if (!r->head_done)
		return req_fail(r, 400, "incomplete request head");
	return finish_head(r);
}

http_res_t http_req_body(http_req_t *r, const uint8_t *buf, size_t len, size_t *used)
{
	size_t n;

	*used = 0;
	if (r->state == RQ_DONE)
		return HTTP_DONE;
	if (r->state != RQ_BODY)
		return HTTP_ERROR;
	if (!len)
		return HTTP_MORE;
	n = http_parser_execute(&r->p, &body_settings, (const char *)buf, len);
	if (r->msg_done) {
		*used = n;
		r->state = RQ_DONE;
		return HTTP_DONE;
	}
	if (HTTP_PARSER_ERRNO(&r->p) != HPE_OK || n != len)
		return parser_fail(r);
	*used = n;
	return HTTP_MORE;
}

int http_req_complete(const http_req_t *r)
{
	return r->state == RQ_DONE;
}

const http_str_t *http_req_header(const http_req_t *r, const char *name)
{
	for (size_t i = 0; i < r->nhdr; i++)
		if (str_ieq(r->hdr[i].name.p, r->hdr[i].name.len, name))
			return &r->hdr[i].value;
	return NULL;
}

/* ---- rewriting for the origin server ---- */

/* Does a comma-separated list (a Connection value) name this token? */
static int list_has(const http_str_t *v, const char *p, size_t len)
{
	const char *s = v->p, *e = v->p + v->len;

	while (s < e) {
		const char *c = memchr(s, ',', (size_t)(e - s));
		http_str_t tok = {s, (size_t)((c ? c : e) - s)};
		trim(&tok);
		if (tok.len == len && !strncasecmp(tok.p, p, len))
			return 1;
		s = c ? c + 1 : e;
	}
	return 0;
}

static int hop_by_hop(const http_req_t *r, const http_str_t *name, unsigned flags)
{
	static const char *const always[] = {
	    "connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "host"};

	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (str_ieq(name->p, name->len, always[i]))
			return 1;
	if (str_ieq(name->p, name->len, "upgrade"))
		return !(flags & HTTP_RW_UPGRADE);
	/* never let Connection remove the framing: that would desynchronize
	 * the origin from us (request smuggling) */
	if (str_ieq(name->p, name->len, "content-length") ||
	    str_ieq(name->p, name->len, "transfer-encoding"))
		return 0;
	for (size_t i = 0; i < r->nhdr; i++)
		if (str_ieq(r->hdr[i].name.p, r->hdr[i].name.len, "connection") &&
		    list_has(&r->hdr[i].value, name->p, name->len))
			return 1;
	return 0;
}

size_t http_req_rewrite_size(const http_req_t *r)
{
	return r->len + 2 * r->nhdr + 600;
}

typedef struct wbuf {
	char *p;
	size_t len, cap;
	int over;
} wbuf_t;

static void put(wbuf_t *w, const char *s, size_t n)
{
	if (w->over || w->cap - w->len < n) {
		w->over = 1;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void puts_(wbuf_t *w, const char *s)
{
	put(w, s, strlen(s));
}

int http_req_rewrite(const http_req_t *r, unsigned flags, char *out, size_t cap)
{
	wbuf_t w = {out, 0, cap, 0};
	char line[320];
	uint16_t defport = scheme_port(r->scheme);
	int n;

	if (cap < http_req_rewrite_size(r))
		return -ENOSPC;
	put(&w, r->method_str.p, r->method_str.len);
	puts_(&w, " ");
	if (r->form == HTTP_FORM_ABSOLUTE) {
		if (!r->path.len || r->path.p[0] != '/')
			puts_(&w, "/");
		put(&w, r->path.p, r->path.len);
	} else {
		put(&w, r->target.p, r->target.len);
	}
	n = snprintf(line, sizeof(line), " HTTP/%u.%u\r\n", r->vmajor, r->vminor);
	put(&w, line, (size_t)n);
	if (r->form == HTTP_FORM_ABSOLUTE || r->form == HTTP_FORM_AUTHORITY) {
		int v6 = strchr(r->host, ':') != NULL;
		if (r->port == defport)
			n = snprintf(line, sizeof(line), "Host: %s%s%s\r\n", v6 ? "[" : "", r->host,
			             v6 ? "]" : "");
		else
			n = snprintf(line, sizeof(line), "Host: %s%s%s:%u\r\n", v6 ? "[" : "",
			             r->host, v6 ? "]" : "", r->port);
		put(&w, line, (size_t)n);
	} else {
		const http_str_t *h = http_req_header(r, "host");
		if (h) {
			puts_(&w, "Host: ");
			put(&w, h->p, h->len);
			puts_(&w, "\r\n");
		}
	}
	for (size_t i = 0; i < r->nhdr; i++) {
		if (hop_by_hop(r, &r->hdr[i].name, flags))
			continue;
		put(&w, r->hdr[i].name.p, r->hdr[i].name.len);
		puts_(&w, ": ");
		put(&w, r->hdr[i].value.p, r->hdr[i].value.len);
		puts_(&w, "\r\n");
	}
	if (flags & HTTP_RW_UPGRADE)
		puts_(&w, "Connection: upgrade\r\n");
	else if (flags & HTTP_RW_CLOSE)
		puts_(&w, "Connection: close\r\n");
	else if (r->vminor == 0)
		puts_(&w, "Connection: keep-alive\r\n");
	puts_(&w, "\r\n");
	if (w.over)
		return -ENOSPC;
	return (int)w.len;
}

/* ---- responses ---- */

static int rs_on_headers_complete(http_parser *p)
{
	http_resp_t *r = p->data;
	int st = (int)p->status_code;

	r->status = st;
	r->vmajor = p->http_major;
	r->vminor = p->http_minor;
	r->head_done = 1;
	if (st == 101)
		return 2;
	/* libhttp-parser would read a Content-Length body of these */
	if (st / 100 == 1 || st == 204 || st == 304)
		return 1;
	if (r->req_method == HTTP_CONNECT)
		return 2;
	if (r->req_method == HTTP_HEAD)
		return 1;
	r->until_eof = st != 204 && st != 304 && !(p->flags & F_CHUNKED) &&
	               (p->uses_transfer_encoding || !(p->flags & F_CONTENTLENGTH));
	return 0;
}

static int rs_on_message_complete(http_parser *p)
{
	http_resp_t *r = p->data;

	if (r->status / 100 == 1 && r->status != 101) {
		r->interim++;
		r->head_done = 0;
		r->status = 0;
		return 0;
	}
	r->done = 1;
	r->upgrade = r->status == 101 || (r->req_method == HTTP_CONNECT && r->status / 100 == 2);
	r->keep_alive = !r->until_eof && !r->upgrade && http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
    .on_headers_complete = rs_on_headers_complete,
    .on_message_complete = rs_on_message_complete,
};

void http_resp_init(http_resp_t *r, int req_method)
{
	memset(r, 0, sizeof(*r));
	r->req_method = req_method;
	http_parser_init(&r->p, HTTP_RESPONSE);
	r->p.data = r;
}

http_res_t http_resp_feed(http_resp_t *r, const uint8_t *buf, size_t len, size_t *used)
{
	size_t n;

	*used = 0;
	if (r->done)
		return HTTP_DONE;
	if (r->error)
		return HTTP_ERROR;
	if (!len)
		return HTTP_MORE;
	n = http_parser_execute(&r->p, &resp_settings, (const char *)buf, len);
	if (r->done) {
		*used = n;
		return HTTP_DONE;
	}
	if (HTTP_PARSER_ERRNO(&r->p) != HPE_OK || n != len) {
		r->error = http_errno_description(HTTP_PARSER_ERRNO(&r->p));
		return HTTP_ERROR;
	}
	*used = n;
	return HTTP_MORE;
}

http_res_t http_resp_eof(http_resp_t *r)
{
	if (r->done)
		return HTTP_DONE;
	if (r->error)
		return HTTP_ERROR;
	if (r->head_done)
		http_parser_execute(&r->p, &resp_settings, NULL, 0);
	if (r->done)
		return HTTP_DONE;
	r->error = r->head_done ? "connection closed in the middle of the response"
	                        : "connection closed before the response";
	return HTTP_ERROR;
}

/* ---- Basic credentials ---- */

#define CRED_MAX 512

int http_basic_encode(const char *user, const char *pass, char *out, size_t cap)
{
	char cred[CRED_MAX];
	int n = snprintf(cred, sizeof(cred), "%s:%s", user ? user : "", pass ? pass : "");
	int r;

	if (n < 0 || (size_t)n >= sizeof(cred) || cap < 7 + B64_LEN((size_t)n)) {
		secret_wipe(cred, sizeof(cred));
		return -ENOSPC;
	}
	memcpy(out, "Basic ", 6);
	r = (int)b64_encode((const uint8_t *)cred, (size_t)n, out + 6);
	secret_wipe(cred, sizeof(cred));
	return r + 6;
}

int http_basic_check(const http_str_t *value, const char *user, const char *pass)
{
	uint8_t got[CRED_MAX] = {0}, want[CRED_MAX] = {0};
	http_str_t v;
	size_t ulen, plen, wlen;
	unsigned diff;
	int glen;

	if (!value)
		return 0;
	v = *value;
	trim(&v);
	if (v.len < 6 || strncasecmp(v.p, "basic", 5) || (v.p[5] != ' ' && v.p[5] != '\t'))
		return 0;
	v.p += 6;
	v.len -= 6;
	trim(&v);
	glen = b64_decode_strict(v.p, v.len, got, sizeof(got));
	if (glen < 0)
		return 0;
	ulen = strlen(user ? user : "");
	plen = strlen(pass ? pass : "");
	if (ulen + plen + 1 > sizeof(want))
		return 0;
	memcpy(want, user ? user : "", ulen);
	want[ulen] = ':';
	memcpy(want + ulen + 1, pass ? pass : "", plen);
	wlen = ulen + plen + 1;
	diff = (unsigned)((size_t)glen ^ wlen);
	for (size_t i = 0; i < sizeof(got); i++)
		diff |= (unsigned)(got[i] ^ want[i]);
	secret_wipe(got, sizeof(got));
	secret_wipe(want, sizeof(want));
	return diff == 0;
}

/* ---- error pages ---- */

size_t http_html_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	if (!cap)
		return 0;
	for (; *in; in++) {
		const char *rep;
		char one[2] = {*in, 0};
		size_t n;
		switch (*in) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			rep = one;
			break;
		}
		n = strlen(rep);
		if (cap - o <= n)
			break;
		memcpy(out + o, rep, n);
		o += n;
	}
	out[o] = 0;
	return o;
}

const char *http_reason(int status)
{
	const char *s = http_status_str((enum http_status)status);

	return s[0] == '<' ? "Error" : s;
}

int http_error_response(int status, const char *extra, const char *msg, int head_only, char *out,
                        size_t cap)
{
	char esc[4096], body[5120];
	const char *reason = http_reason(status);
	int blen, n;

	http_html_escape(msg ? msg : "", esc, sizeof(esc));
	blen = snprintf(body, sizeof(body),
	                "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
	                "<body><h1>%d %s</h1>\n<p>%s</p>\n<hr><address>sluice</address>\n"
	                "</body></html>\n",
	                status, reason, status, reason, esc);
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return -ENOSPC;
	n = snprintf(
	    out, cap,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n%s\r\n%s",
	    status, reason, blen, extra ? extra : "", head_only ? "" : body);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
