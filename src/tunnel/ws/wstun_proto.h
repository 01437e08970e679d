/* wstun_proto: the wire format of sluice's WebSocket tunnel (docs/ws-protocol.md).
 *
 * Pure functions: build and check the open token that rides in the HTTP
 * upgrade request, the server's answer token, and the records that travel
 * as WebSocket binary messages.  No I/O.
 *
 *   token   = ver(1) flags(1) ts_ms(8) nonce(16) [sealed_open] mac(32)
 *             mac = HMAC-SHA256(K_auth, host_len(1) host path_len(2) path
 *                                       || everything before it)
 *             (host: the Host header in lower case; path: the request
 *             target up to '?')
 *             sealed_open = AEAD(K_early, counter 0, aad = the 26 header
 *                                bytes, open body)   present iff flags & F_OPEN
 *   answer  = server_nonce(16) status(1) mac(32)
 *             mac = HMAC-SHA256(K_auth, "answer" || client_nonce ||
 *                                       server_nonce || status)
 *             status & A_EARLY: the open in the token was taken
 *             status & A_AES: records are sealed with AES-128-GCM (the
 *             token offered it with F_AES)
 *   record  = type(1) body            sealed (F_ENC): AEAD(K_dir, counter n),
 *             ChaCha20-Poly1305, or AES-128-GCM under K_dir's first half
 *   open    = host_len(1) host port(2) first_bytes
 *   dgram   = host_len(1) host port(2) datagram     (UDP_OPEN associations)
 *
 * Keys: K_auth  = HKDF(key, salt "sluice/ws/1", info "auth");
 *       K_early = HKDF(key, salt client_nonce, info "early")  (the open only);
 *       K_c2s   = HKDF(key, salt client_nonce || server_nonce, info "c2s");
 *       K_s2c   = HKDF(key, salt client_nonce || server_nonce, info "s2c").
 */
#ifndef SLUICE_WSTUN_PROTO_H
#define SLUICE_WSTUN_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/dial.h"
#include "core/sbuf.h"
#include "core/seal.h"

#define WSTUN_VERSION 2
#define WSTUN_NONCE 16
#define WSTUN_MAC 32
#define WSTUN_HDR 26         /* ver flags ts nonce */
#define WSTUN_FIRST_MAX 4096 /* first bytes carried in the token */
#define WSTUN_OPEN_MAX (1 + 255 + 2 + WSTUN_FIRST_MAX)
#define WSTUN_TOKEN_MAX (WSTUN_HDR + WSTUN_OPEN_MAX + SEAL_TAG + WSTUN_MAC)
#define WSTUN_ANSWER (WSTUN_NONCE + 1 + WSTUN_MAC)
#define WSTUN_HOST_MAX 255        /* the Host a token is bound to */
#define WSTUN_PATH_MAX 2048       /* and its path */
#define WSTUN_REC_MAX (64 * 1024) /* largest record body */

enum { WSTUN_F_ENC = 1, WSTUN_F_OPEN = 2, WSTUN_F_AES = 4 };
enum { WSTUN_A_EARLY = 1, WSTUN_A_AES = 2 }; /* answer status */
enum { WSTUN_K_EARLY, WSTUN_K_C2S, WSTUN_K_S2C };
enum {
	WSTUN_REC_OPEN = 1,      /* c->s: open body (pooled connections) */
	WSTUN_REC_OPEN_OK = 2,   /* s->c: the target is connected */
	WSTUN_REC_OPEN_FAIL = 3, /* s->c: code(1, a SOCKS5 reply code) text */
	WSTUN_REC_DATA = 4,
	WSTUN_REC_EOF = 5,      /* no more data from this side (half-close) */
	WSTUN_REC_UDP_OPEN = 6, /* c->s: empty: this WebSocket carries a datagram association */
	WSTUN_REC_DGRAM = 7,    /* both: an address (as in open) then one datagram */
	/* reverse forwards (docs/ws-protocol.md) */
	WSTUN_REC_LISTEN = 8,    /* c->s: an address (as in open): listen there for me */
	WSTUN_REC_LISTEN_OK = 9, /* s->c: the address the server listens on */
	WSTUN_REC_ACCEPT = 10,   /* s->c: conn(8) peer(text): a connection waits */
	WSTUN_REC_JOIN = 11,     /* c->s: conn(8): this WebSocket carries that connection */
	WSTUN_REC_REFUSE = 12,   /* c->s: conn(8): the target refused; close it */
	/* c->s: an address (as in open): listen on UDP there for me; then DGRAM
	 * records on this WebSocket, the public peer's address in front */
	WSTUN_REC_LISTEN_UDP = 13,
	WSTUN_REC_LAST = WSTUN_REC_LISTEN_UDP,
};
#define WSTUN_CONN_ID 8
#define WSTUN_PEER_MAX 63
/* A DGRAM body: host_len(1) host port(2) datagram, the layout of an open
 * body (wstun_open_encode / wstun_open_parse); c->s the destination, s->c
 * the source as an IP literal. */
#define WSTUN_DGRAM_MAX (1 + 255 + 2 + 65507)

typedef tunnel_keys_t wstun_keys_t;

int wstun_keys_init(wstun_keys_t *k, const uint8_t *key, size_t len);
/* A record key: which is WSTUN_K_EARLY (sn unused, may be NULL),
 * WSTUN_K_C2S or WSTUN_K_S2C. */
int wstun_dir_key(const wstun_keys_t *k, int which, const uint8_t cn[WSTUN_NONCE],
                  const uint8_t *sn, uint8_t out[SEAL_KEY]);

/* What a token is bound to: the Host header's value (compared in lower
 * case) and the request path without its query. */
typedef struct wstun_bind {
	const char *host;
	size_t host_len;
	const char *path;
	size_t path_len;
} wstun_bind_t;

typedef struct wstun_token {
	uint8_t flags;
	uint64_t ts_ms;
	uint8_t nonce[WSTUN_NONCE];
	uint8_t open[WSTUN_OPEN_MAX]; /* decrypted open body when F_OPEN */
	size_t open_len;
} wstun_token_t;

/* Build a token bound to b; open may be NULL (no F_OPEN).  Returns its
 * length or -ENOSPC / -EINVAL. */
int wstun_token_build(const wstun_keys_t *k, const wstun_bind_t *b, uint8_t flags, uint64_t ts_ms,
                      const uint8_t nonce[WSTUN_NONCE], const uint8_t *open, size_t open_len,
                      uint8_t *out, size_t cap);
/* 0, -EINVAL (malformed, or another version), -EBADMSG (wrong MAC:
 * another key, another Host or path, or tampered). */
int wstun_token_parse(const wstun_keys_t *k, const wstun_bind_t *b, const uint8_t *buf, size_t len,
                      wstun_token_t *t);

void wstun_answer_build(const wstun_keys_t *k, const uint8_t cn[WSTUN_NONCE],
                        const uint8_t sn[WSTUN_NONCE], uint8_t status, uint8_t out[WSTUN_ANSWER]);
/* 0 with sn and *status filled, or -EBADMSG. */
int wstun_answer_check(const wstun_keys_t *k, const uint8_t cn[WSTUN_NONCE], const uint8_t *buf,
                       size_t len, uint8_t sn[WSTUN_NONCE], uint8_t *status);

/* open body */
int wstun_open_encode(const target_t *t, const uint8_t *data, size_t dlen, uint8_t *out,
                      size_t cap);
int wstun_open_parse(const uint8_t *buf, size_t len, target_t *t, const uint8_t **data,
                     size_t *dlen);

/* The address in front of a DGRAM body: its length, or -ENOSPC. */
int wstun_dgram_hdr(const target_t *t, uint8_t *out, size_t cap);
/* A DGRAM body: 0 with the address and the datagram (pointing into buf),
 * or -EINVAL (a bad address, port 0, a datagram over 65507 bytes). */
int wstun_dgram_parse(const uint8_t *buf, size_t len, target_t *t, const uint8_t **data,
                      size_t *dlen);

/* ACCEPT's body: conn(8, big-endian) then the public peer as text
 * (IP:PORT, at most WSTUN_PEER_MAX bytes); its length.  JOIN's and
 * REFUSE's: conn(8) alone (peer NULL). */
size_t wstun_conn_encode(uint64_t conn, const char *peer, uint8_t *out, size_t cap);
/* 0 with conn and peer (NUL-terminated, "" when absent; peer may be NULL
 * for JOIN and REFUSE, whose body is exactly 8 bytes), or -EINVAL. */
int wstun_conn_parse(const uint8_t *buf, size_t len, uint64_t *conn, char *peer, size_t peercap);

/* A record as a WebSocket message: type + body, sealed when s != NULL,
 * with room bytes free in front of it (for the frame header). */
sbuf_t *wstun_rec_build(seal_t *s, size_t room, uint8_t type, const uint8_t *body, size_t len);
/* Open a record in place: on success *type is set and msg holds the body.
 * -EBADMSG if not authentic, -EINVAL if empty or of an unknown type. */
int wstun_rec_open(seal_t *s, sbuf_t *msg, uint8_t *type);

#endif
