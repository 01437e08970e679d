/* crypto: see crypto.h.
 *
 * HMAC and HKDF run on one HMAC context per thread, made once: OpenSSL 3
 * looks an algorithm up by name (under a lock) every time a one-shot call
 * such as HMAC() or EVP_KDF_fetch() is made, which cost more than the
 * hashing itself in a tunnel's handshake.  HKDF is RFC 5869's two steps
 * over that HMAC. */
#include "core/crypto.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"

/* Random bytes come from a per-thread pool filled RAND_BYTES_POOL at a
 * time: OpenSSL's generator asks for the process id on every call (its
 * fork check), a system call per nonce, key and mask of a new connection.
 * Bytes handed out are wiped from the pool; a forked child starts with an
 * empty pool, so it never repeats its parent's bytes. */
#define RAND_BYTES_POOL 512

static __thread uint8_t rpool[RAND_BYTES_POOL];
static __thread size_t rpool_used = RAND_BYTES_POOL;

static void rpool_forked(void)
{
	OPENSSL_cleanse(rpool, sizeof(rpool));
	rpool_used = RAND_BYTES_POOL;
}

static void rpool_atfork(void)
{
	pthread_atfork(NULL, NULL, rpool_forked);
}

void random_bytes(void *p, size_t n)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (n > RAND_BYTES_POOL / 4) {
		if (RAND_bytes(p, (int)n) != 1)
			abort(); /* no randomness: nothing safe to do */
		return;
	}
	if (rpool_used + n > RAND_BYTES_POOL) {
		pthread_once(&once, rpool_atfork);
		if (RAND_bytes(rpool, RAND_BYTES_POOL) != 1)
			abort();
		rpool_used = 0;
	}
	memcpy(p, rpool + rpool_used, n);
	OPENSSL_cleanse(rpool + rpool_used, n);
	rpool_used += n;
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

/* This thread's HMAC-SHA256 context (keyed anew for every MAC). */
static EVP_MAC_CTX *hmac_ctx(void)
{
	static __thread EVP_MAC_CTX *ctx;

	if (!ctx) {
		EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM p[2] = {
		    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		    OSSL_PARAM_construct_end()};

		if (!m || !(ctx = EVP_MAC_CTX_new(m)) || !EVP_MAC_CTX_set_params(ctx, p))
			abort(); /* no HMAC-SHA256: nothing would work */
		EVP_MAC_free(m);
	}
	return ctx;
}

/* HMAC-SHA256(key, p[0] || p[1] || ...) for n pieces; an empty key is 32
 * zero bytes, which HMAC pads to the same block. */
static void hmac_parts(const uint8_t *key, size_t keylen, const uint8_t *const *p,
                       const size_t *len, int n, uint8_t out[32])
{
	static const uint8_t zero[32];
	EVP_MAC_CTX *c = hmac_ctx();
	size_t outl = 0;

	if (!keylen) {
		key = zero;
		keylen = sizeof(zero);
	}
	if (!EVP_MAC_init(c, key, keylen, NULL))
		abort();
	for (int i = 0; i < n; i++)
		if (len[i] && !EVP_MAC_update(c, p[i], len[i]))
			abort();
	if (!EVP_MAC_final(c, out, &outl, 32) || outl != 32)
		abort();
}

int hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                const char *info, uint8_t *out, size_t outlen)
{
	uint8_t prk[32], t[32], ctr = 0;
	size_t ilen = strlen(info), done = 0;

	if (outlen > 255 * 32)
		return -EINVAL;
	hmac_parts(salt, saltlen, &ikm, &ikmlen, 1, prk); /* extract */
	while (done < outlen) {                           /* expand */
		const uint8_t *p[3] = {t, (const uint8_t *)info, &ctr};
		size_t l[3] = {ctr ? sizeof(t) : 0, ilen, 1};
		size_t n = outlen - done < sizeof(t) ? outlen - done : sizeof(t);

		ctr++;
		hmac_parts(prk, sizeof(prk), p, l, 3, t);
		memcpy(out + done, t, n);
		done += n;
	}
	OPENSSL_cleanse(prk, sizeof(prk));
	OPENSSL_cleanse(t, sizeof(t));
	return 0;
}

void hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
                 uint8_t out[32])
{
	hmac_parts(key, keylen, &data, &len, 1, out);
}
