/* crypto: see crypto.h. */
#include "core/crypto.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"

void random_bytes(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1)
		abort(); /* no randomness: nothing safe to do */
}

int ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int tunnel_keys_init(tunnel_keys_t *k, const uint8_t *key, size_t len, const char *salt)
{
	if (len < 16 || len > KEY_MAX)
		return -EINVAL;
	memcpy(k->master, key, len);
	k->mlen = len;
	return hkdf_sha256(key, len, (const uint8_t *)salt, strlen(salt), "auth", k->auth,
	                   sizeof(k->auth));
}

int key_parse(const char *s, uint8_t *key, size_t *len)
{
	int n = b64_decode(s, strlen(s), key, KEY_MAX);

	if (n < 16)
		return -EINVAL;
	*len = (size_t)n;
	return 0;
}

void key_generate(char *out, size_t len)
{
	uint8_t k[32];

	random_bytes(k, sizeof(k));
	if (len >= 45)
		b64_encode(k, sizeof(k), out);
	else if (len)
		out[0] = 0;
	OPENSSL_cleanse(k, sizeof(k));
}

int hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                const char *info, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx;
	OSSL_PARAM params[5], *p = params;
	int r;

	if (!kdf)
		return -ENOSYS;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!ctx)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	*p = OSSL_PARAM_construct_end();
	r = EVP_KDF_derive(ctx, out, outlen, params) == 1 ? 0 : -EINVAL;
	EVP_KDF_CTX_free(ctx);
	return r;
}

void hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
                 uint8_t out[32])
{
	unsigned int n = 32;

	HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n);
}
