/* seal: see seal.h.  The cipher context is set up once with the key; each
 * record only sets the nonce. */
#include "core/seal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

int seal_init(seal_t *s, const uint8_t key[SEAL_KEY], int encrypt, uint64_t first)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	memset(s, 0, sizeof(*s));
	if (!c)
		return -ENOMEM;
	if (EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, key, NULL, encrypt) != 1) {
		EVP_CIPHER_CTX_free(c);
		return -EINVAL;
	}
	s->ctx = c;
	s->counter = first;
	s->encrypt = encrypt;
	return 0;
}

void seal_free(seal_t *s)
{
	EVP_CIPHER_CTX_free(s->ctx);
	s->ctx = NULL;
}

static void nonce_of(uint64_t ctr, uint8_t n[12])
{
	memset(n, 0, 4);
	for (int i = 0; i < 8; i++)
		n[4 + i] = (uint8_t)(ctr >> (56 - 8 * i));
}

int seal_seal(seal_t *s, const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
              uint8_t *out)
{
	EVP_CIPHER_CTX *c = s->ctx;
	uint8_t nonce[12];
	int n = 0, f = 0;

	nonce_of(s->counter++, nonce);
	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, 1) != 1 ||
	    (aadlen && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
	    EVP_CipherUpdate(c, out, &n, in, (int)len) != 1 ||
	    EVP_CipherFinal_ex(c, out + n, &f) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, SEAL_TAG, out + len) != 1)
		return -EINVAL;
	return (int)len + SEAL_TAG;
}

int seal_open(seal_t *s, const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
              uint8_t *out)
{
	EVP_CIPHER_CTX *c = s->ctx;
	uint8_t nonce[12], tag[SEAL_TAG];
	size_t plen;
	int n = 0, f = 0;

	if (len < SEAL_TAG)
		return -EBADMSG;
	plen = len - SEAL_TAG;
	memcpy(tag, in + plen, SEAL_TAG);
	nonce_of(s->counter, nonce);
	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, 0) != 1 ||
	    (aadlen && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
	    EVP_CipherUpdate(c, out, &n, in, (int)plen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, SEAL_TAG, tag) != 1 ||
	    EVP_CipherFinal_ex(c, out + n, &f) != 1)
		return -EBADMSG;
	s->counter++;
	return (int)plen;
}
