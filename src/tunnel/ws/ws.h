/* ws: an RFC 6455 WebSocket connection over any stream_t (TCP, TLS, a
 * proxy tunnel), once its opening handshake (tunnel/ws/ws_handshake.h) is done.
 *
 * The connection object (ws_t) frames messages itself (tunnel/ws/ws_frame.h):
 * masking on the client side, fragmentation and reassembly with a size cap,
 * ping/pong keepalive with a dead-peer timeout, the close handshake with
 * codes, backpressure.
 *
 * Messages are whole: on_message gets one reassembled message as an sbuf
 * (ownership moves).  ws_send takes ownership of the sbuf; a message with
 * WS_HEADROOM bytes free in front of its data (off >= WS_HEADROOM) is framed
 * where it lies, header written into that room and payload masked in place,
 * so a caller that builds its messages with the room (the ws tunnel's
 * records) costs no copy here.  ws_pending() counts bytes queued and not
 * yet written to the inner stream; after a ws_send, on_drain fires each
 * time it is at STREAM_LOW_WATER or below and lower than when last
 * reported, down to 0 (like a stream's on_drain).  on_close fires once,
 * when the close handshake completes, the peer goes away, the keepalive
 * gives up, or a protocol error occurs (code 1002, 1007, 1009, 1006 for a
 * lost transport, ...); the owner then calls ws_free().  No callback fires
 * from inside a ws_* call, and none after ws_free().
 */
#ifndef SLUICE_WS_H
#define SLUICE_WS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/opts.h"
#include "core/stream.h"
#include "tunnel/ws/ws_frame.h"
#include "tunnel/ws/ws_handshake.h"

/* Room for the largest frame header in front of a message's data. */
#define WS_HEADROOM WS_HDR_MAX

typedef struct ws ws_t;

typedef struct ws_cbs {
	void (*on_message)(ws_t *w, int opcode, sbuf_t *msg);
	void (*on_drain)(ws_t *w);
	void (*on_close)(ws_t *w, int code, const char *reason);
} ws_cbs_t;

typedef struct ws_opts {
	size_t max_message; /* reassembled message cap (default 1 MiB): over it, close 1009 */
	uint64_t ping_ms;   /* send a ping after this much silence (0: never) */
	uint64_t dead_ms;   /* no frame at all for this long: close 1006 (0: never) */
} ws_opts_t;

/* ping= and dead= into a ws_opts_t (30s, 90s), a schema every WebSocket
 * tunnel includes; servers add max-message= (WS_MAX_MESSAGE_OPT). */
extern const opt_schema_t ws_keepalive_opts;
#define WS_MAX_MESSAGE_OPT(T, f)                                                                   \
	OPT_UINT(T, f, "max-message", 64 << 20, "1048576",                                         \
	         "largest WebSocket message accepted, in bytes")

/* Takes ownership of inner (whose handshake is done); first holds bytes
 * already read after the handshake (may be NULL).  Reading starts at once. */
ws_t *ws_new(uv_loop_t *loop, stream_t *inner, sbuf_t *first, int client, const ws_opts_t *o,
             const ws_cbs_t *cbs, void *ud);
/* Server: the handshake's answer (the 101; ownership moves), written
 * ahead of the first frames.  With wait, it waits for them up to one loop
 * turn (the idle callbacks of two iterations, the poll between them never
 * blocking): an answer that has an open's result to carry (the target
 * dialed with the upgrade) leaves with it in one write.  Call it right
 * after ws_new, before any ws_send. */
void ws_head(ws_t *w, sbuf_t *b, int wait);
void *ws_data(ws_t *w);
int ws_send(ws_t *w, int opcode, sbuf_t *msg);
size_t ws_pending(ws_t *w);
/* Pongs not sent because one was still waiting to be written (a peer
 * that pings and does not read), process-wide; also the metric
 * sluice_ws_pongs_dropped_total. */
uint64_t ws_pongs_dropped(void);
void ws_pause(ws_t *w); /* stop reading the inner stream */
void ws_resume(ws_t *w);
int ws_close(ws_t *w, uint16_t code, const char *reason); /* start the close handshake */
/* Close without waiting for the peer's answer: reading ends now, and the
 * transport closes once our close frame is written (for an end after which
 * nothing the peer could still send matters; the peer's echo, if any, meets
 * a closed socket).  on_close fires with code, as for ws_close. */
int ws_close_now(ws_t *w, uint16_t code);
/* The peer's close needs no answer (the owner knows both sides are done,
 * and the peer, closing then, does not wait for one): when it comes, the
 * transport closes and nothing is sent. */
void ws_close_unanswered(ws_t *w);
/* Wait for the peer's close without sending one (the owner knows the peer
 * closes now): the transport closes when it comes, unanswered, or at the
 * close timer; on_close fires with code, as for ws_close. */
int ws_close_await(ws_t *w, uint16_t code);
void ws_free(ws_t *w); /* tear down now, idempotent; no callbacks after */
uint64_t ws_id(ws_t *w);

#endif
