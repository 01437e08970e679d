/* sctp_assoc: usrsctp driven from the libuv loop, one association with its
 * tunneled connections, each SCTP stream a stream_t.
 *
 * usrsctp runs its own threads (timers, UDP and raw receive).  Its callbacks
 * (receive, send space) only copy what they got into an event, put it on a
 * mutex-protected queue and wake the loop with a uv_async_t; everything else,
 * usrsctp_sendv included, happens on the loop thread.  Callbacks carry the
 * socket's integer id, never a pointer, so an event for a socket closed
 * meanwhile is dropped.
 *
 * Three stacks carry the same associations:
 *   SCTP_STACK_UDP     usrsctp, SCTP over UDP (RFC 6951): `sctp+udp://`, no root;
 *   SCTP_STACK_KERNEL  the kernel's SCTP sockets (sctp_kern.c): `sctp://` where
 *                 the kernel has SCTP;
 *   SCTP_STACK_RAW     usrsctp on a raw IP socket: `sctp://` elsewhere (root).
 * usrsctp is initialised once per process, with the UDP port of the first
 * user: a `sctp+udp` listener's port, or 0 (an ephemeral port) when a hop
 * comes first.  SCTP over UDP sets the peer's encapsulation port per
 * socket.
 *
 * Association states: CONNECTING -> AUTH (client sent AUTH / server waits
 * for it) -> UP -> DEAD.  A stream lifetime (client side): OPENING (OPEN
 * sent) -> OPEN (OPEN_OK) -> closed by its owner, and its stream id is free
 * again once both sides have sent CLOSE.  Flow control is per stream: each
 * side may send DATA up to the window the other granted (AUTH / AUTH_OK
 * give the initial window, CREDIT adds to it as the reader consumes), so a
 * paused reader on one stream never fills the association.  Nothing is
 * taken on a stream before it is open (DATA or EOF before OPEN_OK resets
 * it), and what an association holds for readers that have not taken it
 * is capped by assoc-buffer (64 MiB): every stream within its window, but
 * too many of them unread, and the stream whose DATA goes over is reset.
 *
 * Three files implement it: sctp_rt.c (the runtime and its sockets),
 * sctp_assoc.c (an association) and sctp_stream.c (its streams).
 */
#ifndef SLUICE_SCTP_ASSOC_H
#define SLUICE_SCTP_ASSOC_H

#include <uv.h>

#include "core/dial.h"
#include "core/opts.h"
#include "core/replay.h"
#include "core/stream.h"
#include "core/tunkey.h"
#include "core/url.h"
#include "tunnel/sctp/sctp_cfg.h"
#include "tunnel/sctp/sctp_proto.h"

#define SCTP_ASSOC_STREAMS 2048                 /* streams asked for in each direction */
#define SCTP_ASSOC_BUFFER_DEFAULT (64ull << 20) /* assoc-buffer */

/* sctp_association_t, not sctp_assoc_t: that is the system's association id */
typedef struct sctp_association sctp_association_t;
typedef struct sctp_sock sctp_sock_t;

typedef struct sctp_assoc_ops {
	/* authenticated; streams may be opened */
	void (*up)(sctp_association_t *a, void *ud);
	/* gone (err < 0, why for logs); a is freed when this returns */
	void (*down)(sctp_association_t *a, void *ud, int err, const char *why);
	/* server: the client opens s to t; answer with sctp_stream_answer() */
	void (*open)(sctp_association_t *a, void *ud, stream_t *s, const target_t *t);
	/* client: a stream id was freed (waiting opens may go) */
	void (*avail)(sctp_association_t *a, void *ud);
	/* server: the client opens a datagram association on s (UDP_OPEN):
	 * sctp_dgram_set(), then sctp_stream_answer().  NULL: refused (7). */
	void (*open_dgram)(sctp_association_t *a, void *ud, stream_t *s);
	/* server: the client asks to have bind listened on (LISTEN, or with
	 * udp LISTEN_UDP: then s carries the datagrams, sctp_dgram_set), for
	 * as long as s lives: sctp_stream_answer_listen().  NULL: refused. */
	void (*listen)(sctp_association_t *a, void *ud, stream_t *s, const target_t *bind, int udp);
	/* server: s carries the accepted connection conn (JOIN):
	 * sctp_stream_answer(), then relay.  NULL: refused. */
	void (*join)(sctp_association_t *a, void *ud, stream_t *s, uint64_t conn);
} sctp_assoc_ops_t;

/* Set up the loop side once per process, and usrsctp for its stacks. */
int sctp_rt_init(uv_loop_t *loop, int stack, uint16_t udp_port, char *err, size_t errlen);
uint16_t sctp_rt_udp_port(void);
/* The loop is ending (after every listener and hop is freed): usrsctp's
 * threads, which outlive it, stop waking it; its handles are closed. */
void sctp_rt_stop(void);

/* Server: listen on bind (its port is the SCTP port; the UDP port is the
 * runtime's).  cfg and ops must outlive the socket. */
int sctp_sock_listen(const struct sockaddr *bind, int stack, const sctp_assoc_cfg_t *cfg,
                     const sctp_assoc_ops_t *ops, void *ud, sctp_sock_t **out);
/* Close a socket: its associations are aborted without callbacks. */
void sctp_sock_close(sctp_sock_t *s);

/* Client: connect to `to` (SCTP port = UDP encapsulation port for SCTP_STACK_UDP). */
int sctp_assoc_connect(const struct sockaddr *to, int stack, const sctp_assoc_cfg_t *cfg,
                       const sctp_assoc_ops_t *ops, void *ud, sctp_association_t **out);
/* Abort an association; no callback fires. */
void sctp_assoc_close(sctp_association_t *a, const char *why);
int sctp_assoc_is_up(const sctp_association_t *a);
/* What crossed it: its streams' data and its datagrams' payloads, each
 * way (0 for NULL). */
void sctp_assoc_bytes(const sctp_association_t *a, uint64_t *in, uint64_t *out);
const char *sctp_assoc_peer(const sctp_association_t *a);
const struct sockaddr *sctp_assoc_peer_addr(const sctp_association_t *a);
size_t sctp_assoc_nstreams(const sctp_association_t *a); /* live stream ids */

/* Client: open a stream to t.  cb(ud, s, 0) after OPEN_OK, cb(ud, NULL,
 * err) on OPEN_FAIL, or cb(ud, NULL, UV_ECONNABORTED) when the association
 * was lost before the answer (the open may be retried).  -EAGAIN when no
 * stream id is free.  *req is for sctp_open_cancel(). */
int sctp_assoc_open(sctp_association_t *a, const target_t *t, uint64_t id, dial_cb cb, void *ud,
                    stream_t **req);
void sctp_open_cancel(stream_t *req);

/* Datagram associations (a stream lifetime that began with UDP_OPEN; its
 * datagrams travel unordered and are never retransmitted: PR-SCTP).
 * Client: open one as sctp_assoc_open (cb after OPEN_OK).  Both ends:
 * fn gets each datagram that arrives (the destination on the server, the
 * source on the client; ownership of b moves; it runs on the loop, never
 * inside an op), and sctp_dgram_send sends one (ownership moves; 0,
 * UV_ENOBUFS when the association has no room (dropped), UV_EMSGSIZE,
 * UV_ENOTCONN).  The stream's close ends the association, as for a
 * connection. */
typedef void (*sctp_dgram_fn)(void *ud, const target_t *addr, sbuf_t *b);
int sctp_assoc_open_dgram(sctp_association_t *a, uint64_t id, dial_cb cb, void *ud, stream_t **req);
void sctp_dgram_set(stream_t *s, sctp_dgram_fn fn, void *ud);
int sctp_dgram_send(stream_t *s, const target_t *addr, sbuf_t *b);

/* Reverse forwards (core/reverse.h).  Client: a LISTEN for bind, opened
 * as sctp_assoc_open; the answer goes to *res before cb: where the server
 * listens, or why it refused (its text).  Once open, each read is one
 * ACCEPT body (sctp_proto_conn_parse) and each write (one REFUSE body)
 * one record.  A JOIN of conn: a stream at once, which may be written
 * (held until the OPEN_OK); the server's refusal reaches its reader as
 * an error.  Server: answer a LISTEN with where it listens (err 0: a
 * LISTEN_OK, then each write is one ACCEPT) or OPEN_FAIL with the SOCKS5
 * code of err and why.  With udp (LISTEN_UDP), the listener's stream is a
 * datagram association's (sctp_dgram_set, sctp_dgram_send: the address is
 * the public peer's) and carries no ACCEPT or REFUSE. */
typedef struct sctp_listen_res {
	target_t bound;
	char why[SCTP_PROTO_LISTEN_FAIL_TEXT + 1];
} sctp_listen_res_t;
int sctp_assoc_listen(sctp_association_t *a, const target_t *bind, int udp, uint64_t id,
                      sctp_listen_res_t *res, dial_cb cb, void *ud, stream_t **req);
int sctp_assoc_join(sctp_association_t *a, uint64_t conn, uint64_t id, stream_t **out);
void sctp_stream_answer_listen(stream_t *s, const target_t *bound, int err, const char *why);

/* Server: answer an open: 0 sends OPEN_OK, else OPEN_FAIL with the SOCKS5
 * code of err (the owner then closes s). */
void sctp_stream_answer(stream_t *s, int err);

/* Per socket (a server's associations together, or a client's one). */
typedef struct sctp_sock_stats {
	uint64_t buffered;      /* bytes received, not yet taken by their readers */
	uint64_t buffer_resets; /* streams reset because assoc-buffer was full */
	uint64_t early;         /* streams reset for DATA or EOF before OPEN_OK */
	uint64_t dgram_drops;   /* datagrams dropped on arrival (replayed, forged, late) */
} sctp_sock_stats_t;
const sctp_sock_stats_t *sctp_sock_stats(const sctp_sock_t *s);
const sctp_sock_stats_t *sctp_assoc_stats(const sctp_association_t *a);

typedef struct sctp_stats {
	uint64_t assocs_up, streams, opens, bytes_in, bytes_out, proto_errors, blocked;
	uint64_t dgrams_in, dgrams_out;
} sctp_stats_t;
extern sctp_stats_t sctp_stats;

#endif
