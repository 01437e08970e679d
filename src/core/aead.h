/* aead: one interface to the AEAD ciphers the tunnels use.
 *
 *   AEAD_CHACHA20_POLY1305  RFC 8439 (the WebSocket and SCTP tunnels' records,
 *                           the UDP VPN's handshake and data)
 *   AEAD_AES_256_GCM        NIST SP 800-38D, where AES is in hardware
 *   AEAD_AES_128_GCM        the same with a 128-bit key: the first 16 bytes
 *                           of the 32 given (the WebSocket tunnel's records
 *                           where both ends have AES instructions)
 *
 * All take a 32-byte key, a 96-bit nonce and give a 16-byte tag.  A context
 * is bound to one key and one direction and is reused for every record;
 * each call gives only the nonce and the associated data, so the key
 * schedule runs once.  The nonce is the caller's business: never twice
 * under one key (seal.h counts, the VPN counts per session).
 *
 * Errors: -EINVAL for a key or cipher OpenSSL refuses, -EBADMSG for a record
 * that is not authentic (nothing in out is to be used then).
 */
#ifndef SLUICE_AEAD_H
#define SLUICE_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY 32
#define AEAD_NONCE 12
#define AEAD_TAG 16

typedef enum aead_alg { AEAD_CHACHA20_POLY1305, AEAD_AES_256_GCM, AEAD_AES_128_GCM } aead_alg_t;

typedef struct aead {
	void *ctx; /* EVP_CIPHER_CTX */
	int encrypt;
} aead_t;

int aead_init(aead_t *a, aead_alg_t alg, const uint8_t key[AEAD_KEY], int encrypt);
void aead_free(aead_t *a);
/* out gets len bytes of ciphertext and the tag: len + AEAD_TAG bytes; out
 * may be in.  Returns len + AEAD_TAG. */
int aead_seal(aead_t *a, const uint8_t nonce[AEAD_NONCE], const uint8_t *aad, size_t aadlen,
              const uint8_t *in, size_t len, uint8_t *out);
/* The same for a plaintext in two pieces, p1 || p2 (a record's type byte
 * and its body, say), sealed straight into out, which must not overlap
 * them: the encryption is the copy.  Returns n1 + n2 + AEAD_TAG. */
int aead_seal2(aead_t *a, const uint8_t nonce[AEAD_NONCE], const uint8_t *aad, size_t aadlen,
               const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2, uint8_t *out);
/* in holds len bytes of ciphertext followed by the tag; out gets len bytes
 * (may be in).  Returns len or -EBADMSG. */
int aead_open(aead_t *a, const uint8_t nonce[AEAD_NONCE], const uint8_t *aad, size_t aadlen,
              const uint8_t *in, size_t len, uint8_t *out);

/* One record under a key used once (a handshake message). */
int aead_seal_once(aead_alg_t alg, const uint8_t key[AEAD_KEY], const uint8_t nonce[AEAD_NONCE],
                   const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out);
int aead_open_once(aead_alg_t alg, const uint8_t key[AEAD_KEY], const uint8_t nonce[AEAD_NONCE],
                   const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out);

/* "chacha20-poly1305", "aes-256-gcm" or "aes-128-gcm" (for options);
 * -EINVAL else. */
int aead_alg_parse(const char *name, aead_alg_t *out);
const char *aead_alg_name(aead_alg_t alg);

/* 1 if this CPU has AES and carry-less multiply instructions (x86 AES-NI
 * and PCLMULQDQ, the ARMv8 crypto extensions), where AES-GCM runs faster
 * than ChaCha20-Poly1305; 0 else.  SLUICE_NO_AES=1 in the environment says
 * 0, to try the other choice on hardware that has them. */
int aead_hw_aes(void);

#endif
