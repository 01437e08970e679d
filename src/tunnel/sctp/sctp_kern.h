/* sctp_kern: the kernel's SCTP sockets (Linux, `sctp` module) as a second
 * transport under sctp_assoc, beside usrsctp.
 *
 * One non-blocking socket per server (one-to-many, SOCK_SEQPACKET) or per
 * client association (one-to-one, SOCK_STREAM), watched by a uv_poll_t on
 * the loop thread: no threads, no copies to a queue.  Messages and
 * association changes reach the owner through sctp_kern_ops_t; `done` runs
 * after each batch so the owner can pump and deliver once.
 *
 * This file alone includes <linux/sctp.h>; usrsctp's header defines the
 * same names with other values, so the interface here carries none of the
 * SCTP API's structures or constants.
 */
#ifndef SLUICE_SCTP_KERN_H
#define SLUICE_SCTP_KERN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct sctp_kern sctp_kern_t;

/* association changes, as both transports report them */
enum { SCTPK_UP, SCTPK_LOST, SCTPK_RESTART, SCTPK_SHUTDOWN, SCTPK_CANT_START };

typedef struct sctp_kern_ops {
	/* a message piece on stream sid with its PPID (host order); eor: the
	 * message ends here.  data is the backend's buffer, valid for the call
	 * only. */
	void (*msg)(void *ud, uint32_t aid, uint16_t sid, uint32_t ppid, int eor, uint8_t *data,
	            size_t len);
	/* an association change; out/in: stream counts (SCTPK_UP) */
	void (*change)(void *ud, uint32_t aid, int what, uint16_t out, uint16_t in);
	/* a one-to-one socket ended (err < 0 or 0 for end of stream) */
	void (*eof)(void *ud, int err);
	/* the socket takes data again after sctp_kern_send said -EAGAIN */
	void (*writable)(void *ud);
	/* after each batch of the above */
	void (*done)(void *ud);
} sctp_kern_ops_t;

typedef struct sctp_kern_params {
	uint16_t streams; /* asked for in each direction */
	uint32_t hb_ms;
	uint16_t max_rtx;
	uint32_t sndbuf;
	uint32_t mtu; /* 0: path MTU discovery */
} sctp_kern_params_t;

/* 1 when this kernel has SCTP (a socket can be made), else 0. */
int sctp_kern_available(void);

/* Server: a one-to-many socket bound to bind, listening. */
int sctp_kern_listen(uv_loop_t *loop, const struct sockaddr *bind, const sctp_kern_params_t *p,
                     const sctp_kern_ops_t *ops, void *ud, sctp_kern_t **out);
/* Client: a one-to-one socket, connecting to `to` (SCTPK_UP or eof follow). */
int sctp_kern_connect(uv_loop_t *loop, const struct sockaddr *to, const sctp_kern_params_t *p,
                      const sctp_kern_ops_t *ops, void *ud, sctp_kern_t **out);

/* Send one message; 0, -EAGAIN (then `writable` follows), or -errno. */
int sctp_kern_send(sctp_kern_t *k, uint32_t aid, uint16_t sid, uint32_t ppid, const void *p,
                   size_t len);
/* A datagram: unordered, never retransmitted (PR-SCTP, RTX policy with 0
 * retransmissions).  0, -EAGAIN (no room: drop it) or -errno. */
int sctp_kern_send_dgram(sctp_kern_t *k, uint32_t aid, uint16_t sid, uint32_t ppid, const void *p,
                         size_t len);
/* Send an ABORT on association aid. */
void sctp_kern_abort(sctp_kern_t *k, uint32_t aid);
/* The peer's primary address; 0 or -errno. */
int sctp_kern_peer(sctp_kern_t *k, uint32_t aid, struct sockaddr_storage *out);
/* Stop and close (abort: an ABORT, not a SHUTDOWN, for a one-to-one
 * socket's association).  No callback runs after this; safe inside one. */
void sctp_kern_close(sctp_kern_t *k, int hard);

#endif
