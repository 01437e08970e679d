/* seal: see seal.h.  The AEAD context is set up once with the key; each
 * record only brings its nonce, the counter. */
#include "core/seal.h"

#include <errno.h>
#include <string.h>

#include "core/bytes.h"

int seal_init_alg(seal_t *s, aead_alg_t alg, const uint8_t key[SEAL_KEY], int encrypt,
                  uint64_t first)
{
	s->counter = first;
	return aead_init(&s->a, alg, key, encrypt);
}

int seal_init(seal_t *s, const uint8_t key[SEAL_KEY], int encrypt, uint64_t first)
{
	return seal_init_alg(s, AEAD_CHACHA20_POLY1305, key, encrypt, first);
}

void seal_free(seal_t *s)
{
	aead_free(&s->a);
}

static void nonce_of(uint64_t ctr, uint8_t n[AEAD_NONCE])
{
	memset(n, 0, 4);
	put_be64(n + 4, ctr);
}

int seal_seal(seal_t *s, const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
              uint8_t *out)
{
	uint8_t nonce[AEAD_NONCE];

	nonce_of(s->counter++, nonce);
	return aead_seal(&s->a, nonce, aad, aadlen, in, len, out);
}

int seal_seal2(seal_t *s, const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2, uint8_t *out)
{
	uint8_t nonce[AEAD_NONCE];

	nonce_of(s->counter++, nonce);
	return aead_seal2(&s->a, nonce, NULL, 0, p1, n1, p2, n2, out);
}

int seal_open(seal_t *s, const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
              uint8_t *out)
{
	uint8_t nonce[AEAD_NONCE];
	int r;

	if (len < SEAL_TAG)
		return -EBADMSG;
	nonce_of(s->counter, nonce);
	r = aead_open(&s->a, nonce, aad, aadlen, in, len - SEAL_TAG, out);
	if (r >= 0)
		s->counter++;
	return r;
}
