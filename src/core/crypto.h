/* crypto: the few primitives the tunnels share, on OpenSSL.
 *
 *   keys       `sluice keygen` prints 32 random bytes in base64; any
 *              base64 (standard or URL alphabet, padded or not) of 16 to 64
 *              bytes is accepted as a key.
 *   hkdf       HKDF-SHA256 (RFC 5869).
 *   hmac       HMAC-SHA256.
 *
 * The AEAD ciphers are core/aead.h's, base64 and hex core/encoding.h's.
 */
#ifndef SLUICE_CRYPTO_H
#define SLUICE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define KEY_MAX 64

int key_parse(const char *b64, uint8_t *key, size_t *len); /* -EINVAL if not 16..64 bytes */
void key_generate(char *b64, size_t len);                  /* 32 random bytes, base64 */

/* A tunnel's shared key and the authentication key derived from it:
 * auth = HKDF-SHA256(IKM = key, salt, info = "auth"); the WebSocket and
 * SCTP tunnels differ only in the salt.  -EINVAL unless 16..KEY_MAX bytes. */
typedef struct tunnel_keys {
	uint8_t master[KEY_MAX];
	size_t mlen;
	uint8_t auth[32];
} tunnel_keys_t;
int tunnel_keys_init(tunnel_keys_t *k, const uint8_t *key, size_t len, const char *salt);

int hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                const char *info, uint8_t *out, size_t outlen);
void hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
                 uint8_t out[32]);
int ct_equal(const void *a, const void *b, size_t n); /* constant time: 1 if equal */
void random_bytes(void *p, size_t n);

#endif
