/* ws: RFC 6455 WebSocket over any stream_t (TCP, TLS, a proxy tunnel).
 *
 * Two parts:
 *   - the opening handshake, as pure helpers (build/check the request and
 *     the 101 response; the server side's HTTP parsing belongs to its
 *     caller, who decides between upgrading and answering like a web server);
 *   - a connection object (ws_t) that frames messages with libwslay: masking
 *     on the client side, fragmentation and reassembly with a size cap,
 *     ping/pong keepalive with a dead-peer timeout, the close handshake with
 *     codes, backpressure.
 *
 * Messages are whole: on_message gets one reassembled message as an sbuf
 * (ownership moves).  ws_send takes ownership of the sbuf.  ws_pending()
 * counts bytes queued and not yet written to the inner stream; after a
 * ws_send, on_drain fires each time it is at STREAM_LOW_WATER or below and
 * lower than when last reported, down to 0 (like a stream's on_drain).
 * on_close fires once, when the close handshake completes, the peer goes
 * away, the keepalive gives up, or a protocol error occurs (code 1002,
 * 1009, 1006 for a lost transport, ...); the owner then calls ws_free().
 * No callback fires from inside a ws_* call, and none after ws_free().
 */
#ifndef SLUICE_WS_H
#define SLUICE_WS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/stream.h"

#define WS_OP_TEXT 1
#define WS_OP_BINARY 2

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

/* ---- connection ---- */

typedef struct ws ws_t;

typedef struct ws_cbs {
	void (*on_message)(ws_t *w, int opcode, sbuf_t *msg);
	void (*on_drain)(ws_t *w);
	void (*on_close)(ws_t *w, int code, const char *reason);
} ws_cbs_t;

typedef struct ws_opts {
	size_t max_message;      /* reassembled message cap (default 1 MiB): over it, close 1009 */
	uint64_t ping_ms;        /* send a ping after this much silence (0: never) */
	uint64_t dead_ms;        /* no frame at all for this long: close 1006 (0: never) */
} ws_opts_t;

/* Takes ownership of inner (whose handshake is done); first holds bytes
 * already read after the handshake (may be NULL).  Reading starts at once. */
ws_t *ws_new(uv_loop_t *loop, stream_t *inner, sbuf_t *first, int client, const ws_opts_t *o,
	     const ws_cbs_t *cbs,
	     void *ud);
void *ws_data(ws_t *w);
int ws_send(ws_t *w, int opcode, sbuf_t *msg);
size_t ws_pending(ws_t *w);
void ws_pause(ws_t *w);  /* stop reading the inner stream */
void ws_resume(ws_t *w);
int ws_close(ws_t *w, uint16_t code, const char *reason); /* start the close handshake */
void ws_free(ws_t *w);   /* tear down now, idempotent; no callbacks after */
uint64_t ws_id(ws_t *w);

#endif
