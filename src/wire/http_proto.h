/* http_proto: pure helpers for HTTP/1.x message heads (no I/O, no loop).
 *
 * A proxy needs three things from HTTP: the head of each request (what the
 * client wants, where, and how its body is framed), the end of each request
 * body and of each response (to know when the next message starts on a
 * kept-alive connection), and a few small transformations (rewrite an
 * absolute-form request for the origin server, Basic credentials, error
 * pages).  Tokenizing is Debian's libhttp-parser; this module adds the
 * limits, the target forms and the proxy rules on top.
 *
 *   http_req_t   init -> feed (head) ... HTTP_DONE -> body ... HTTP_DONE ->
 *                reset -> feed (next request) ... -> free.
 *                The head is copied into a buffer owned by the request (at
 *                most HTTP_HEAD_MAX bytes) and every string it returns points
 *                there; body bytes are only counted, never stored.
 *   http_resp_t  init(request method) -> feed ... HTTP_DONE at the end of
 *                the final (non-1xx) response; eof() for bodies that end
 *                with the connection.  Nothing is stored.
 *
 * Limits (over one: HTTP_ERROR with r->status set to what to answer):
 * request line at most HTTP_LINE_MAX bytes (414), each header line at most
 * HTTP_LINE_MAX (431), the whole head at most HTTP_HEAD_MAX (431), at most
 * HTTP_HEADERS_MAX header fields (431); anything malformed is 400 and an
 * HTTP major version other than 1 is 505.
 */
#ifndef SLUICE_HTTP_PROTO_H
#define SLUICE_HTTP_PROTO_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_LINE_MAX (8 * 1024)
#define HTTP_HEAD_MAX (64 * 1024)
#define HTTP_HEADERS_MAX 100

typedef enum http_res { HTTP_ERROR = -1, HTTP_MORE = 0, HTTP_DONE = 1 } http_res_t;

typedef enum http_form {
	HTTP_FORM_ORIGIN,    /* /path?query */
	HTTP_FORM_ABSOLUTE,  /* scheme://authority/path?query */
	HTTP_FORM_AUTHORITY, /* host:port (CONNECT) */
	HTTP_FORM_ASTERISK,  /* * (OPTIONS) */
} http_form_t;

typedef struct http_str {
	const char *p;
	size_t len;
} http_str_t;

typedef struct http_hdr {
	http_str_t name, value; /* value without surrounding whitespace */
} http_hdr_t;

typedef struct http_req {
	/* Valid once http_req_feed() returned HTTP_DONE. */
	int method; /* enum http_method */
	unsigned vmajor, vminor;
	http_str_t method_str, target;
	http_form_t form;
	char scheme[16]; /* absolute-form, lower case ("http") */
	char host[256];  /* absolute- and authority-form; IPv6 without brackets */
	uint16_t port;   /* idem; absolute-form defaults to 80 (http) or 443 */
	http_str_t path; /* absolute-form: path and query as sent (maybe "" or "?q") */
	http_hdr_t hdr[HTTP_HEADERS_MAX];
	size_t nhdr;
	unsigned keep_alive : 1; /* the client wants the connection kept */
	unsigned upgrade : 1;    /* Upgrade + Connection: upgrade (not CONNECT) */
	unsigned chunked : 1;
	unsigned has_body : 1;   /* chunked or Content-Length > 0 */
	uint64_t content_length; /* 0 when absent */
	/* Valid after HTTP_ERROR. */
	int status;        /* 400, 414, 431 or 505 */
	const char *error; /* why, a static string */

	/* private */
	http_parser p;
	char *buf;
	size_t len, cap;
	size_t line_len;
	unsigned nlines;
	int state;
	int last_cb; /* 0 none, 1 field, 2 value */
	size_t url_off, url_len;
	struct {
		uint32_t noff, nlen, voff, vlen;
	} off[HTTP_HEADERS_MAX];
	unsigned head_done : 1, msg_done : 1, line_cr : 1;
} http_req_t;

void http_req_init(http_req_t *r);
/* Ready for the next request on the same connection (keeps the buffer). */
void http_req_reset(http_req_t *r);
void http_req_free(http_req_t *r);
/* Feed bytes of a request head.  *used is how many were taken: all of them
 * on HTTP_MORE, up to the end of the head on HTTP_DONE (the rest is body or
 * the next request).  Leading empty lines are skipped. */
http_res_t http_req_feed(http_req_t *r, const uint8_t *buf, size_t len, size_t *used);
/* Feed body bytes after the head: HTTP_DONE when the message is complete
 * (*used is where it ended), HTTP_MORE when all were taken.  A request
 * without a body is complete at once. */
http_res_t http_req_body(http_req_t *r, const uint8_t *buf, size_t len, size_t *used);
int http_req_complete(const http_req_t *r); /* 1 once head and body are done */
/* The first header called name (case-insensitive), or NULL. */
const http_str_t *http_req_header(const http_req_t *r, const char *name);

#define HTTP_RW_CLOSE 0x1u   /* send Connection: close */
#define HTTP_RW_UPGRADE 0x2u /* keep Upgrade and send Connection: upgrade */

/* The request head as it goes to the origin server: origin-form target,
 * Host from the target, hop-by-hop headers dropped (Connection and what it
 * names, Proxy-Connection, Proxy-Authorization, Keep-Alive, TE, Upgrade),
 * framing headers kept.  HTTP/1.0 keep-alive clients get Connection:
 * keep-alive.  Returns the length written, or -ENOSPC if cap is less than
 * http_req_rewrite_size(r). */
int http_req_rewrite(const http_req_t *r, unsigned flags, char *out, size_t cap);
size_t http_req_rewrite_size(const http_req_t *r);

typedef struct http_resp {
	int status; /* of the response being parsed, 0 before its status line */
	unsigned vmajor, vminor;
	unsigned keep_alive : 1; /* after HTTP_DONE: the server keeps the connection */
	unsigned upgrade : 1;    /* after HTTP_DONE: 101, or 2xx to CONNECT; the rest is raw */
	unsigned until_eof : 1;  /* the body ends with the connection */
	unsigned interim;        /* 1xx responses seen before the final one */
	const char *error;

	/* private */
	http_parser p;
	int req_method;
	unsigned head_done : 1, done : 1;
} http_resp_t;

/* req_method decides bodies: HEAD has none; for CONNECT every response ends
 * with its head. */
void http_resp_init(http_resp_t *r, int req_method);
http_res_t http_resp_feed(http_resp_t *r, const uint8_t *buf, size_t len, size_t *used);
/* The connection ended: HTTP_DONE if that ended the response properly. */
http_res_t http_resp_eof(http_resp_t *r);

/* "Basic <base64(user:pass)>" into out; length or -ENOSPC. */
int http_basic_encode(const char *user, const char *pass, char *out, size_t cap);
/* 1 if the value of a Proxy-Authorization header is Basic with exactly
 * these credentials (compared in constant time), else 0. */
int http_basic_check(const http_str_t *value, const char *user, const char *pass);

/* Escape & < > " ' for HTML; always NUL-terminates; returns the length. */
size_t http_html_escape(const char *in, char *out, size_t cap);
const char *http_reason(int status);
/* A complete error response: status line, Content-Type, Content-Length,
 * Connection: close, extra (NULL or CRLF-terminated header lines), and a
 * short HTML page showing msg (escaped here), unless head_only.  Returns the
 * length, or -ENOSPC. */
int http_error_response(int status, const char *extra, const char *msg, int head_only, char *out,
                        size_t cap);

#endif
