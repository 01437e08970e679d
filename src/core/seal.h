/* seal: authenticated encryption of a stream of records, one direction.
 *
 * ChaCha20-Poly1305 (or another AEAD of core/aead.h) under a 32-byte key;
 * the 96-bit nonce is 4 zero bytes
 * and a 64-bit big-endian counter that starts at `first` and grows by one
 * per record, so records cannot be dropped, replayed or reordered without
 * the next open failing.  Each record is `ciphertext || 16-byte tag`.
 * The WebSocket tunnel and the SCTP tunnel frame their messages with it.
 */
#ifndef SLUICE_SEAL_H
#define SLUICE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/aead.h"

#define SEAL_TAG AEAD_TAG
#define SEAL_KEY AEAD_KEY

typedef struct seal {
	aead_t a;
	uint64_t counter;
} seal_t;

int seal_init(seal_t *s, const uint8_t key[SEAL_KEY], int encrypt, uint64_t first);
/* The same under another AEAD. */
int seal_init_alg(seal_t *s, aead_alg_t alg, const uint8_t key[SEAL_KEY], int encrypt,
                  uint64_t first);
void seal_free(seal_t *s);
/* out must hold len + SEAL_TAG bytes; returns len + SEAL_TAG. */
int seal_seal(seal_t *s, const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
              uint8_t *out);
/* p1 || p2 sealed into out (no overlap; see aead_seal2). */
int seal_seal2(seal_t *s, const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2, uint8_t *out);
/* in holds ciphertext and tag (len >= SEAL_TAG); out must hold
 * len - SEAL_TAG bytes (may equal in).  Returns the plaintext length, or
 * -EBADMSG if the record is not authentic (the counter does not advance). */
int seal_open(seal_t *s, const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
              uint8_t *out);

#endif
