/* tls: TLS (OpenSSL) over any stream_t, as a stream_t.
 *
 * TLS runs over whatever the chain gives (a TCP socket, an HTTP CONNECT
 * tunnel, ...), through memory BIOs: bytes from the inner stream are fed to
 * OpenSSL, bytes OpenSSL wants to send are written to the inner stream.
 * The plaintext side is an ordinary stream_t, so wss://, SSTP and anything
 * else layer on it unchanged.
 *
 *   ctx = tls_ctx_new_client(&opts) / tls_ctx_new_server(&opts), once per hop
 *   s = tls_client_new(loop, ctx, inner, sni) or tls_server_new(loop, ctx, inner, first)
 *   tls_handshake(s, cb, ud)   cb(ud, s, 0) when done, cb(ud, s, err) on failure
 *                              (the owner then closes s); closing s first
 *                              cancels: cb is not called.
 *
 * The stream takes ownership of inner.  Backpressure: the TLS stream's
 * wq_bytes mirrors what is queued on the inner stream plus records not yet
 * handed to it; read_stop on the TLS stream stops reading the inner one.
 * Shutdown sends close_notify and then shuts the inner stream down.
 */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <uv.h>

#include "core/stream.h"

typedef struct tls_opts {
	/* client */
	const char *ca_file;    /* PEM bundle; NULL: the system's CAs */
	int insecure;           /* 1: no verification at all */
	const char *pin_sha256; /* hex SHA-256 of the server certificate (DER): that
	                         * certificate and no other, chain and name unchecked;
	                         * NULL: no pin */
	/* server */
	const char *cert_file, *key_file; /* PEM */
	/* 1: no TLS 1.3 session tickets after the handshake, for servers whose
	 * clients never resume (the SSTP server) */
	int no_tickets;
	/* both */
	const char *alpn; /* e.g. "http/1.1"; NULL: none */
	/* TLS 1.3 cipher suites in order of preference, OpenSSL's names joined
	 * by ':' (TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256); NULL:
	 * TLS_CIPHERS_AES where this CPU has AES instructions, else
	 * TLS_CIPHERS_CHACHA.  A server follows its own order, except that it
	 * moves ChaCha20-Poly1305 first for a client that lists it first (one
	 * without AES instructions, by the same rule). */
	const char *ciphers;
} tls_opts_t;

#define TLS_CIPHERS_AES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"
#define TLS_CIPHERS_CHACHA                                                                         \
	"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"

typedef struct tls_ctx tls_ctx_t;

/* -EINVAL etc. with a message naming the file or option at fault. */
int tls_ctx_new_client(const tls_opts_t *o, tls_ctx_t **out, char *err, size_t errlen);
int tls_ctx_new_server(const tls_opts_t *o, tls_ctx_t **out, char *err, size_t errlen);
void tls_ctx_free(tls_ctx_t *c);

/* sni: sent as SNI (NULL or "": none; an IP literal is never sent).
 * verify: the name (or IP literal) the certificate must match, whatever
 * SNI is sent; NULL or "": sni.  A verifying context with neither fails
 * the handshake rather than accept any certificate its CAs signed. */
stream_t *tls_client_new(uv_loop_t *loop, tls_ctx_t *c, stream_t *inner, const char *sni,
                         const char *verify);
/* first: bytes already read from inner (may be NULL); ownership moves. */
stream_t *tls_server_new(uv_loop_t *loop, tls_ctx_t *c, stream_t *inner, sbuf_t *first);

typedef void (*tls_cb)(void *ud, stream_t *s, int err);
void tls_handshake(stream_t *s, tls_cb cb, void *ud);

/* After the handshake: hash of the peer's certificate (DER) with md
 * ("sha1" or "sha256"); returns the length or a negative error. */
int tls_peer_cert_hash(stream_t *s, const char *md, uint8_t *out, size_t outlen);
/* A short description for logs: "TLSv1.3 TLS_AES_128_GCM_SHA256". */
const char *tls_describe(stream_t *s);
/* Is s a TLS stream? */
int tls_is(stream_t *s);

#endif
