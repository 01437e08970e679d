/* wstun: one tunneled TCP connection as a stream_t over a WebSocket.
 *
 * Both ends use it.  Outgoing data becomes DATA records (sealed unless the
 * session runs with enc=none), a shutdown becomes an EOF record, and the
 * records that arrive are opened and handed to the reader in order.  The
 * control records (OPEN, OPEN_OK, OPEN_FAIL) go to the owner's ctl
 * callback instead.
 *
 * Before the WebSocket exists (a client opening a fresh connection), writes
 * queue in the stream; wstun_attach() then sends them.  Reads that arrive
 * while the reader is paused queue too; the WebSocket stops reading once
 * that queue holds STREAM_HIGH_WATER bytes.  A WebSocket that closes or
 * fails under an open stream is an error for the reader (UV_ECONNRESET),
 * so a relay resets the other side and nothing hangs.
 */
#ifndef SLUICE_WSTUN_H
#define SLUICE_WSTUN_H

#include <uv.h>

#include "core/stream.h"
#include "tunnel/ws/ws.h"
#include "tunnel/ws/wstun_proto.h"

typedef struct wstun wstun_t;

/* A control record arrived (body is valid only during the call), or the
 * WebSocket ended (type 0, body NULL). */
typedef void (*wstun_ctl_fn)(wstun_t *t, uint8_t type, const uint8_t *body, size_t len);

typedef struct wstun_sess {
	int enc; /* records are sealed */
	int aes; /* with AES-128-GCM (else ChaCha20-Poly1305) */
	uint8_t tx_key[SEAL_KEY], rx_key[SEAL_KEY];
	uint64_t tx_first, rx_first; /* first counters */
	/* client: an open to send as the first record, before any queued
	 * DATA (the server did not take the one in the token); NULL: none */
	const uint8_t *open;
	size_t open_len;
	uint8_t open_type; /* that record's type: 0 is OPEN (LISTEN, JOIN too) */
} wstun_sess_t;

wstun_t *wstun_new(uv_loop_t *loop, uint64_t id, wstun_ctl_fn ctl, void *owner);
stream_t *wstun_stream(wstun_t *t);
void *wstun_owner(wstun_t *t);
void wstun_set_owner(wstun_t *t, wstun_ctl_fn ctl, void *owner);

/* The WebSocket is up: take it (ownership moves) with the session keys.
 * sess->open (if any), then queued writes, are sent now. */
int wstun_attach(wstun_t *t, uv_loop_t *loop, stream_t *inner, sbuf_t *first, int client,
                 const ws_opts_t *wo, const wstun_sess_t *sess);
/* Server, right after wstun_attach: the 101 ahead of the first records
 * (ws_head; wait: hold it for an open's answer).  Ownership moves. */
void wstun_head(wstun_t *t, sbuf_t *b, int wait);
int wstun_attached(wstun_t *t);
/* Send a control record now (after attach). */
int wstun_send_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len);
/* One datagram as a DGRAM record (ownership of b moves): addr goes in
 * front of it, in b's headroom where there is room.  0; UV_ENOBUFS when
 * more than DGRAM_QUEUE_MAX bytes wait on the WebSocket (dropped: the
 * caller counts it); UV_EMSGSIZE; or the WebSocket's error. */
int wstun_send_dgram(wstun_t *t, const target_t *addr, sbuf_t *b);
/* Bytes the WebSocket has queued and not yet written (0 before attach). */
size_t wstun_queued(wstun_t *t);
/* Take up to max queued bytes (not yet sent) for an open request. */
size_t wstun_take_queued(wstun_t *t, uint8_t *out, size_t max);
/* Before attach, closing the stream calls cancel(arg) so whoever is
 * opening the WebSocket stops. */
void wstun_set_canceler(wstun_t *t, void (*cancel)(void *arg), void *arg);
/* The tunnel failed (open refused, WebSocket lost before it was up): the
 * reader gets err.  Call from a callback, never from inside a stream op. */
void wstun_fail(wstun_t *t, int err);

/* Close the WebSocket with a code (after a failed open, say); the stream
 * object stays for its owner, who closes it as usual. */
void wstun_close_ws(wstun_t *t, uint16_t code, const char *reason);

#endif
