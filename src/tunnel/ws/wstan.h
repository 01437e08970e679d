/* wstan: the protocol of wstan 0.5 (github.com/krrr/wstan), both ends, so
 * one side of a wstan deployment can be replaced at a time.
 *
 *   -L 'wstan://BIND:PORT[/path]?key=KEY[&cert=PEM&certkey=PEM | &tls=1]'
 *   -F 'wstan://HOST:PORT[/path]?key=KEY[&tls=1][&compat=1][&pool=16]'
 *
 * KEY is what wstan takes: base64 of 16 bytes (`wstan -g`), or any other
 * text, which is a password (scrypt).  docs/wstan.md has the wire format,
 * the options and what the protocol does and does not protect.
 *
 * The pure helpers below build and check wstan's messages; the unit tests
 * and the fuzz target drive them with captures of the real wstan.
 */
#ifndef SLUICE_WSTAN_H
#define SLUICE_WSTAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/dial.h"
#include "core/listener.h"
#include "core/transport.h"

#define WSTAN_NONCE 16
#define WSTAN_MAC 10 /* HMAC-SHA1, leftmost 10 bytes */
#define WSTAN_TS 8   /* an IEEE 754 double, big-endian: seconds since the epoch */
#define WSTAN_ADDR_MAX (2 + 1 + 255 + 2)
#define WSTAN_FIRST_MAX 2048 /* first bytes a client puts into the URI (as wstan does) */
#define WSTAN_URI_MAX 6144   /* largest request a server takes from a URI */
#define WSTAN_RST_PAD_MIN 40
#define WSTAN_RST_PAD_MAX 500

enum { WSTAN_REQ = 0, WSTAN_DAT = 1, WSTAN_RST = 2, WSTAN_DGM = 3 };

typedef struct wstan_key {
	uint8_t k[32];
	size_t len;     /* 16: a base64 key; 32: scrypt of a password */
	char cookie[3]; /* the compatible mode's cookie name, "_A".."_Z" */
} wstan_key_t;

/* wstan's rule: text that Python's base64.b64decode turns into exactly 16
 * bytes is the key, anything else a password for scrypt (N=2^14, r=8,
 * p=1, wstan's salt, 32 bytes).  -EINVAL for an empty text. */
int wstan_key_init(wstan_key_t *k, const char *text);

/* One direction's AES-CTR keystream (AES-128 or AES-256 by key length),
 * running over every message of a WebSocket connection.  ctx == NULL (a
 * zeroed struct) is wstan's TLS mode: no encryption. */
typedef struct wstan_ctr {
	void *ctx;
} wstan_ctr_t;

int wstan_ctr_init(wstan_ctr_t *c, const wstan_key_t *k, const uint8_t iv[WSTAN_NONCE]);
void wstan_ctr_apply(wstan_ctr_t *c, uint8_t *p, size_t n); /* in place */
void wstan_ctr_free(wstan_ctr_t *c);

/* The server's encryption nonce.  Default mode: the leftmost 16 bytes of
 * SHA-1(Sec-WebSocket-Key || RFC 6455 GUID), i.e. of the decoded
 * Sec-WebSocket-Accept.  Compatible mode: SHA-1(client nonce)[0..16). */
void wstan_nonce_default(const char *ws_key, uint8_t out[WSTAN_NONCE]);
void wstan_nonce_compat(const uint8_t cn[WSTAN_NONCE], uint8_t out[WSTAN_NONCE]);

/* A message as it was received: everything decrypted, MAC checked. */
typedef struct wstan_msg {
	uint8_t cmd;
	int has_ts;
	double ts; /* REQ, and anything that came in a URI */
	int has_target;
	target_t target; /* REQ, DGM */
	uint8_t *data;   /* REQ/DGM first bytes, DAT payload: points into the buffer */
	size_t dlen;
	char reason[160]; /* RST: printable ASCII, other bytes as '?' */
	char err[160];
} wstan_msg_t;

/* Decrypt (in place) and check one message.  uri: it came base64-encoded
 * in the upgrade request's path (REQ, DGM or RST, each with a timestamp
 * and a MAC); else it is a WebSocket message.  Returns 0, -EBADMSG (wrong
 * MAC: another key, or tampered) or -EINVAL (malformed, unknown command).
 * The keystream advances by the bytes decrypted; after an error the
 * connection must be dropped.  Timestamps are the caller's to judge. */
int wstan_msg_open(wstan_ctr_t *rx, const wstan_key_t *k, uint8_t *buf, size_t len, int uri,
                   wstan_msg_t *m);

/* REQ (t != NULL) or DGM (dgm) with a timestamp and a MAC, or, with
 * t == NULL, the idle opener RST|ts|MAC.  Returns the length or -ENOSPC /
 * -EINVAL (a name longer than 255 bytes). */
int wstan_req_build(wstan_ctr_t *tx, const wstan_key_t *k, int dgm, double ts, const target_t *t,
                    const uint8_t *data, size_t dlen, uint8_t *out, size_t cap);
/* DGM as a WebSocket message (no timestamp, no MAC): the command, the
 * address (a client's destination, a server's source) and the datagram,
 * encrypted.  Returns the length or -ENOSPC / -EINVAL. */
int wstan_dgm_build(wstan_ctr_t *tx, const target_t *t, const uint8_t *data, size_t dlen,
                    uint8_t *out, size_t cap);
/* RST: reason "★" err, pad spaces (wstan pads with 40..500), MAC. */
int wstan_rst_build(wstan_ctr_t *tx, const wstan_key_t *k, const char *reason, const char *err,
                    size_t pad, uint8_t *out, size_t cap);

/* The request carried in a request-target ("/base/<urlsafe base64>?q"):
 * base is the server's path ("/" or "/x" or "/x/"); the target must start
 * with it.  Returns the decoded length or -EINVAL. */
int wstan_path_decode(const char *target, size_t tlen, const char *base, uint8_t *out, size_t cap);
/* urlsafe base64 with padding, as Python's urlsafe_b64encode writes it
 * (out needs 4*ceil(n/3)+1 bytes).  Returns the length. */
size_t wstan_b64url_pad(const uint8_t *in, size_t n, char *out);
/* The compatible mode's nonce from a Cookie header: the pair NAME=<base64
 * of 16 bytes>.  0, -ENOENT (no such cookie) or -EINVAL. */
int wstan_cookie_nonce(const char *hdr, size_t len, const char *name, uint8_t out[WSTAN_NONCE]);

extern const front_ops_t wstan_front_ops;
int wstan_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                  size_t errlen);
extern const opt_schema_t wstan_hop_opts;

extern const transport_t wstan_transport;

#endif
