/* ws_handshake: the opening handshake of RFC 6455 WebSockets, and its I/O.
 *
 *   - pure helpers: build and check the request and the 101 response, tell
 *     an upgrade request;
 *   - the I/O shared by the tunnels that run over WebSockets (ws/wss and
 *     wstan): ws_head_t reads a listener's request head ([TLS], at most
 *     WS_HEAD_MAX bytes, a 400 for what is not HTTP) and leaves the decision
 *     between upgrading and answering like a web server to its owner;
 *     ws_open_t brings a hop's WebSocket up (the dial of its server, [TLS],
 *     the request its owner builds, the 101) and ws_req_t answers the hop's
 *     dial meanwhile.
 *
 * What follows the handshake is tunnel/ws/ws.h's connection object.
 */
#ifndef SLUICE_WS_HANDSHAKE_H
#define SLUICE_WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/conn.h"
#include "core/opts.h"
#include "core/queue.h"
#include "core/stream.h"
#include "core/tls.h"
#include "wire/http_proto.h"
#include "tunnel/ws/decoy.h"

/* ---- handshake helpers ---- */

#define WS_KEY_LEN 24    /* base64 of 16 random bytes */
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */

void ws_make_key(char key[WS_KEY_LEN + 1]);
void ws_accept_for(const char *key, char accept[WS_ACCEPT_LEN + 1]);

/* GET request for host/path with Sec-WebSocket-Key = key; extra is added
 * verbatim (each line ending in \r\n) or NULL.  Returns the length written
 * (excluding NUL) or -ENOSPC. */
int ws_client_request(char *buf, size_t len, const char *host, const char *path, const char *key,
                      const char *extra);
/* Checks a complete response head (up to and including the blank line):
 * 101, Upgrade: websocket, Connection: upgrade, the right accept value.
 * Returns 0, or -EPROTO with a reason in err.  If hdr_name is given, the
 * value of that response header is copied to hdr_val (or "" if absent). */
int ws_client_check_response(const char *head, size_t len, const char *key, const char *hdr_name,
                             char *hdr_val, size_t hdr_len, char *err, size_t errlen);
/* 101 response for a request whose Sec-WebSocket-Key was key; extra as above. */
int ws_server_response(char *buf, size_t len, const char *key, const char *extra);
/* The Sec-WebSocket-Key of an upgrade request (GET, Upgrade and Connection:
 * upgrade, Sec-WebSocket-Version: 13), or NULL if r is not one. */
const http_str_t *ws_upgrade_key(const http_req_t *r);

/* ---- a listener's side: [TLS], then the request head ---- */

#define WS_HEAD_MAX (16 * 1024)

typedef struct ws_head ws_head_t;

/* The owner's: it embeds the struct, sets the fields and calls
 * ws_head_read().  on_head gets the head (in *req) and the bytes after it
 * (NULL if none; ownership moves), with reading stopped; it is not called
 * when the TLS handshake fails or the client goes (the conn is closed) or
 * when the bytes are not an HTTP request head of at most WS_HEAD_MAX (a
 * web server's 400, counted in *not_http). */
struct ws_head {
	conn_t *c;
	http_req_t *req; /* initialized and freed by the owner */
	uint64_t *not_http;
	void (*on_head)(ws_head_t *h, sbuf_t *rest);
	void *data;
	const decoy_t *decoy; /* for bytes that are not a request head */
	sbuf_t *raw;          /* every byte read, for a decoy that passes them on */
	sbuf_t *pipe;         /* a copy of the bytes after the head, for a decoy that answers */
};
/* The raw and piped bytes go (the owner, when its conn is a tunnel or goes). */
void ws_head_release(ws_head_t *h);

/* With tls, c->client becomes the TLS stream and its handshake comes first. */
void ws_head_read(ws_head_t *h, tls_ctx_t *tls);
/* Not a tunnel request (why, for the log): count it, answer with the decoy. */
void ws_head_decoy(ws_head_t *h, const decoy_t *d, uint64_t *count, const char *why);
/* The same for a wrong key: it counts against the client's address in the
 * brute-force guard (core/authguard.h), which may ban the address; the
 * answer is the decoy's all the same, neither held nor dropped (what names
 * the protocol, why must be a static string). */
void ws_head_decoy_auth(ws_head_t *h, const decoy_t *d, uint64_t *count, const char *what,
                        const char *why);
/* For a request that authenticated: 1 when its address is banned now, and
 * then it got the decoy (counted in *count) instead of a tunnel, as a wrong
 * key would; 0 otherwise. */
int ws_head_banned(ws_head_t *h, const decoy_t *d, uint64_t *count);

/* ---- a hop's side: the dial, [TLS], the request, the 101 ---- */

#define WS_RESP_MAX (16 * 1024)

typedef struct ws_open ws_open_t;

/* What differs between hops: the callbacks, one response header to keep,
 * and the log texts of two failures. */
typedef struct ws_open_ops {
	/* The transport is up: the owner sends the request (ws_open_send). */
	void (*on_connected)(ws_open_t *o);
	/* The 101 is right: reading is stopped, the transport is still o's
	 * (ws_open_take); rest holds the bytes after the head, or NULL. */
	void (*on_up)(ws_open_t *o, sbuf_t *rest);
	/* The opening failed (why is for the log); nothing follows. */
	void (*on_fail)(ws_open_t *o, int err, const char *why);
	const char *want_hdr;    /* a response header to copy into hdr_val, or NULL */
	const char *closed_why;  /* the server closed the connection before the head */
	const char *refused_fmt; /* the head is wrong; one %s: what is wrong */
} ws_open_ops_t;

/* The owner's: it embeds the struct and sets key before ws_open_send(). */
struct ws_open {
	const ws_open_ops_t *ops;
	void *data;
	char key[WS_KEY_LEN + 1]; /* Sec-WebSocket-Key */
	char hdr_val[256];        /* ops->want_hdr's value in the 101 ("" if absent) */

	/* private */
	dialer_t *d;
	tls_ctx_t *tls;
	const struct ws_tls_names *names;
	uint64_t id;
	dial_t *dial;
	stream_t *raw;
	queue_t later; /* on_connected waits for the loop's check phase */
	char resp[WS_RESP_MAX + 1];
	size_t rlen;
};

/* The names a hop's TLS uses: the SNI it sends ("" for none: sni= left
 * empty) and the name the certificate must match, which is always the
 * server's (host=, else the URL's host), whatever SNI is sent. */
typedef struct ws_tls_names {
	char sni[256], verify[256];
} ws_tls_names_t;

/* Dial d's server through d->next, then [a TLS handshake with tls and
 * names, which must outlive o]; id names the transport in logs.  -ENOMEM if
 * the dial could not even start (no callback then). */
int ws_open_start(ws_open_t *o, dialer_t *d, tls_ctx_t *tls, const ws_tls_names_t *names,
                  uint64_t id, const ws_open_ops_t *ops, void *data);
/* After on_connected: send GET host/path with o->key and extra (see
 * ws_client_request; the request must fit in cap bytes), then read the
 * response.  A negative errno: nothing was sent. */
int ws_open_send(ws_open_t *o, size_t cap, const char *host, const char *path, const char *extra);
/* After on_up: the transport is the caller's now. */
stream_t *ws_open_take(ws_open_t *o);
/* Cancel the dial, close the transport if o still has it.  No callback
 * after this. */
void ws_open_close(ws_open_t *o);

/* A hop's TLS options: ca=, insecure=, sni= (a schema hops include). */
typedef struct ws_tls_opts {
	const char *ca, *sni, *ciphers;
	int insecure;
} ws_tls_opts_t;
extern const opt_schema_t ws_tls_opts;

/* A hop's TLS from its options.  With tls: the client context (ca,
 * insecure, ALPN http/1.1) into *ctx and the names: SNI from sni (empty:
 * none), else url_host; the name to verify from host (the hop's host=,
 * without its port; may be NULL), else url_host.  Without: -EINVAL if
 * ca, insecure or sni is given, naming how TLS is asked for (tls_how:
 * "tls=1", say). */
int ws_hop_tls_load(const ws_tls_opts_t *o, const char *url_host, const char *host, int tls,
                    const char *tls_how, tls_ctx_t **ctx, ws_tls_names_t *names, char *err,
                    size_t errlen);

/* ---- a hop's dial, answered while its WebSocket opens ---- */

typedef struct ws_req ws_req_t;

/* Answered once: from the loop (ws_req_answer_soon) or from a callback
 * (ws_req_answer); never after the dialer's cancel (ws_req_cancel).  First
 * on_answer lets the owner unlink what still points at the request and
 * count the outcome; then a failure closes s and the caller gets err, or
 * the caller gets s.  The owner's request struct starts with its ws_req_t
 * and comes from malloc: the timer's close frees it, once answered or
 * canceled. */
struct ws_req {
	stream_t *s; /* the owner's to set before any answer */
	void (*on_answer)(ws_req_t *r, int err);
	dial_cb cb;
	void *ud;
	uv_timer_t timer;
	int err;
	unsigned answered : 1;
};

void ws_req_init(ws_req_t *r, uv_loop_t *loop, dial_cb cb, void *ud,
                 void (*on_answer)(ws_req_t *r, int err));
void ws_req_answer(ws_req_t *r, int err);
void ws_req_answer_soon(ws_req_t *r, int err); /* from a zero timer */
void ws_req_cancel(ws_req_t *r);               /* closes s; no answer */

#endif
