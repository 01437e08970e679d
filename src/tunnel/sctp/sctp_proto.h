/* sctp_proto: the wire format of sluice's SCTP tunnel (docs/sctp-protocol.md).
 *
 * Pure functions, no I/O.  One SCTP association carries many tunneled TCP
 * connections, one SCTP stream each; every SCTP user message is one of:
 *
 *   stream 0, before anything else:
 *     AUTH    c->s  ver(1) ts_ms(8) Nc(16) window(4) mac(32)
 *                   mac = HMAC-SHA256(K_auth, every byte before it)
 *     AUTH_OK s->c  Ns(16) window(4) mac(32)
 *                   mac = HMAC-SHA256(K_auth, "answer" || Nc || Ns || window)
 *   streams 1..n-1, one tunneled connection per stream lifetime:
 *     record = AEAD(K_dir(sid, gen), counter, type(1) body)
 *       OPEN      c->s  host_len(1) host port(2)
 *       OPEN_OK   s->c  empty
 *       OPEN_FAIL s->c  code(1, a SOCKS5 reply code) text(0..64)
 *       DATA      both  1..SCTP_PROTO_DATA_MAX bytes
 *       EOF       both  empty (half-close)
 *       CLOSE     both  empty (this side is done with the stream id)
 *       CREDIT    both  increment(4) > 0 (flow control, per stream)
 *       UDP_OPEN  c->s  empty: this lifetime carries a datagram association
 *       LISTEN    c->s  host_len(1) host port(2): the server listens there
 *                       for this lifetime (a reverse forward); first record
 *       LISTEN_OK s->c  host_len(1) host port(2): where it listens
 *       ACCEPT    s->c  conn(8) peer(0..63): a connection came, on a LISTEN's
 *       JOIN      c->s  conn(8): this lifetime carries that connection; first
 *       REFUSE    c->s  conn(8): on a LISTEN's: the target refused, close it
 *       LISTEN_UDP c->s host_len(1) host port(2): the server listens on UDP
 *                       there; first record; answered as LISTEN, then
 *                       datagrams both ways (the public peer in front)
 *     and, on a datagram association's stream (or a LISTEN_UDP's), unordered and never
 *     retransmitted (PR-SCTP, RFC 3758), PPID "slcd":
 *       dgram = ctr(8) AEAD(K_dgram_dir(sid, gen), nonce ctr, aad ctr,
 *                           host_len(1) host port(2) datagram)
 *
 * Keys: K_auth = HKDF(K, salt "sluice/sctp/1", info "auth");
 *       K_dir(sid, gen) = HKDF(K, salt Nc || Ns, info "c2s/SID/GEN" or
 *       "s2c/SID/GEN"), gen counting the lifetimes of that stream id in the
 *       association, so no (key, counter) pair ever repeats.
 */
#ifndef SLUICE_SCTP_PROTO_H
#define SLUICE_SCTP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/dial.h"
#include "core/sbuf.h"
#include "core/seal.h"

#define SCTP_PROTO_VERSION 1
#define SCTP_PROTO_NONCE 16
#define SCTP_PROTO_MAC 32
#define SCTP_PROTO_AUTH_LEN (1 + 8 + SCTP_PROTO_NONCE + 4 + SCTP_PROTO_MAC)
#define SCTP_PROTO_AUTH_OK_LEN (SCTP_PROTO_NONCE + 4 + SCTP_PROTO_MAC)
#define SCTP_PROTO_DATA_MAX (16 * 1024) /* largest DATA body */
#define SCTP_PROTO_REC_MAX (1 + SCTP_PROTO_DATA_MAX + SEAL_TAG)
#define SCTP_PROTO_OPEN_MAX (1 + 255 + 2)
#define SCTP_PROTO_FAIL_TEXT 64
#define SCTP_PROTO_WINDOW_MIN (64 * 1024)
#define SCTP_PROTO_WINDOW_MAX (64 * 1024 * 1024)
#define SCTP_PROTO_PPID 0x736c6331u       /* "slc1" */
#define SCTP_PROTO_PPID_DGRAM 0x736c6364u /* "slcd": a datagram */
#define SCTP_PROTO_DGRAM_DATA_MAX 65507   /* the largest datagram carried */
#define SCTP_PROTO_DGRAM_MAX (8 + 1 + 255 + 2 + SCTP_PROTO_DGRAM_DATA_MAX + SEAL_TAG)

enum {
	SCTP_PROTO_OPEN = 1,
	SCTP_PROTO_OPEN_OK = 2,
	SCTP_PROTO_OPEN_FAIL = 3,
	SCTP_PROTO_DATA = 4,
	SCTP_PROTO_EOF = 5,
	SCTP_PROTO_CLOSE = 6,
	SCTP_PROTO_CREDIT = 7,
	SCTP_PROTO_UDP_OPEN = 8,
	/* reverse forwards (core/reverse.h) */
	SCTP_PROTO_LISTEN = 9,     /* c->s host_len host port: listen there; first record */
	SCTP_PROTO_LISTEN_OK = 10, /* s->c host_len host port: listening there */
	SCTP_PROTO_ACCEPT = 11,    /* s->c conn(8) peer(0..63): a connection came */
	SCTP_PROTO_JOIN = 12,      /* c->s conn(8): this lifetime carries it; first record */
	SCTP_PROTO_REFUSE = 13,    /* c->s conn(8): its target refused; close it */
	/* c->s host_len host port: listen on UDP there; first record; then
	 * datagrams both ways, the public peer's address in front */
	SCTP_PROTO_LISTEN_UDP = 14,
};

#define SCTP_PROTO_CONN_ID 8
#define SCTP_PROTO_PEER_MAX 63
#define SCTP_PROTO_LISTEN_FAIL_TEXT 160 /* an OPEN_FAIL answering a LISTEN */

const char *sctp_proto_type_name(uint8_t type);

typedef tunnel_keys_t sctp_proto_keys_t;

int sctp_proto_keys_init(sctp_proto_keys_t *k, const uint8_t *key, size_t len);
/* s2c = 0: client-to-server key of (sid, gen); else server-to-client. */
int sctp_proto_stream_key(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                          const uint8_t sn[SCTP_PROTO_NONCE], int s2c, uint16_t sid, uint32_t gen,
                          uint8_t out[SEAL_KEY]);

/* The datagram keys of (sid, gen), as sctp_proto_stream_key. */
int sctp_proto_dgram_key(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                         const uint8_t sn[SCTP_PROTO_NONCE], int s2c, uint16_t sid, uint32_t gen,
                         uint8_t out[SEAL_KEY]);
/* A datagram message: its length (at most SCTP_PROTO_DGRAM_MAX), or -ENOSPC /
 * -EINVAL (a name longer than 255, a datagram over 65507 bytes).  a is
 * the direction's context (aead_init with the datagram key); ctr never
 * twice under one key. */
int sctp_proto_dgram_seal(aead_t *a, uint64_t ctr, const target_t *addr, const uint8_t *data,
                          size_t dlen, uint8_t *out, size_t cap);
/* Its counter without opening it (for the replay window), or -EINVAL. */
int sctp_proto_dgram_ctr(const uint8_t *buf, size_t len, uint64_t *ctr);
/* Open in place: 0 with the address and the datagram (pointing into buf),
 * -EBADMSG (not authentic) or -EINVAL (malformed). */
int sctp_proto_dgram_open(aead_t *a, uint8_t *buf, size_t len, target_t *addr, const uint8_t **data,
                          size_t *dlen);

typedef struct sctp_proto_auth {
	uint64_t ts_ms;
	uint8_t nonce[SCTP_PROTO_NONCE];
	uint32_t window;
} sctp_proto_auth_t;

void sctp_proto_auth_build(const sctp_proto_keys_t *k, const sctp_proto_auth_t *a,
                           uint8_t out[SCTP_PROTO_AUTH_LEN]);
/* 0, -EINVAL (malformed, bad window) or -EBADMSG (wrong MAC). */
int sctp_proto_auth_parse(const sctp_proto_keys_t *k, const uint8_t *buf, size_t len,
                          sctp_proto_auth_t *a);
void sctp_proto_answer_build(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                             const uint8_t sn[SCTP_PROTO_NONCE], uint32_t window,
                             uint8_t out[SCTP_PROTO_AUTH_OK_LEN]);
/* 0 with sn and window filled, -EINVAL or -EBADMSG. */
int sctp_proto_answer_check(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                            const uint8_t *buf, size_t len, uint8_t sn[SCTP_PROTO_NONCE],
                            uint32_t *window);

/* Bodies.  Encoders return the length or -ENOSPC/-EINVAL; parsers 0 or
 * -EINVAL. */
int sctp_proto_open_encode(const target_t *t, uint8_t *out, size_t cap);
int sctp_proto_open_parse(const uint8_t *buf, size_t len, target_t *t);
int sctp_proto_fail_encode(uint8_t code, const char *text, uint8_t *out, size_t cap);
int sctp_proto_fail_parse(const uint8_t *buf, size_t len, uint8_t *code);
void sctp_proto_credit_encode(uint32_t inc, uint8_t out[4]);
/* ACCEPT (peer text), JOIN and REFUSE (peer NULL) bodies: the length, or
 * 0 when cap is too small; parse: 0, or -EINVAL (peer: printable, at
 * most SCTP_PROTO_PEER_MAX, NUL-terminated in peercap; NULL: none may
 * follow the id). */
size_t sctp_proto_conn_encode(uint64_t conn, const char *peer, uint8_t *out, size_t cap);
int sctp_proto_conn_parse(const uint8_t *buf, size_t len, uint64_t *conn, char *peer,
                          size_t peercap);
int sctp_proto_credit_parse(const uint8_t *buf, size_t len, uint32_t *inc);

/* A plaintext record: the type is known and the body length fits it. */
int sctp_proto_rec_parse(const uint8_t *buf, size_t len, uint8_t *type, const uint8_t **body,
                         size_t *blen);
/* A sealed record as one SCTP message. */
sbuf_t *sctp_proto_rec_build(seal_t *s, uint8_t type, const uint8_t *body, size_t len);
/* Open in place (buf is modified): -EBADMSG if not authentic, -EINVAL if
 * malformed; else type and body (pointing into buf). */
int sctp_proto_rec_open(seal_t *s, uint8_t *buf, size_t len, uint8_t *type, const uint8_t **body,
                        size_t *blen);

#endif
