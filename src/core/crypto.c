/* crypto: see crypto.h.
 *
 * HMAC and HKDF run on one SHA-256 context per thread, made once: OpenSSL 3
 * looks an algorithm up by name (under a lock) every time a one-shot call
 * such as HMAC() or EVP_KDF_fetch() is made, which cost more than the
 * hashing itself in a tunnel's handshake.  HKDF is RFC 5869's two steps
 * over that HMAC. */
#include "core/crypto.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
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

/* This thread's SHA-256 digest context, its algorithm fetched once. */
static EVP_MD_CTX *sha_ctx(const EVP_MD **md)
{
	static __thread EVP_MD_CTX *ctx;
	static __thread EVP_MD *m;

	if (!ctx) {
		if (!(m = EVP_MD_fetch(NULL, "SHA256", NULL)) || !(ctx = EVP_MD_CTX_new()))
			abort(); /* no SHA-256: nothing would work */
	}
	*md = m;
	return ctx;
}

/* SHA-256(pad || p[0] || p[1] || ...) for n pieces; pad is SHA256_BLOCK
 * bytes, or NULL for none */
#define SHA256_BLOCK 64
static void sha_parts(const uint8_t *pad, const uint8_t *const *p, const size_t *len, int n,
                      uint8_t out[32])
{
	const EVP_MD *md;
	EVP_MD_CTX *c = sha_ctx(&md);
	unsigned outl = 0;

	if (!EVP_DigestInit_ex2(c, md, NULL) || (pad && !EVP_DigestUpdate(c, pad, SHA256_BLOCK)))
		abort();
	for (int i = 0; i < n; i++)
		if (len[i] && !EVP_DigestUpdate(c, p[i], len[i]))
			abort();
	if (!EVP_DigestFinal_ex(c, out, &outl) || outl != 32)
		abort();
}

/* HMAC-SHA256(key, p[0] || p[1] || ...) for n pieces (RFC 2104), as two
 * digests on the thread's context: OpenSSL's EVP_MAC keys its HMAC
 * through the provider layer on every init, several times the cost of
 * the hashing for the short messages of a handshake.  An empty key is 32
 * zero bytes, which HMAC pads to the same block. */
static void hmac_parts(const uint8_t *key, size_t keylen, const uint8_t *const *p,
                       const size_t *len, int n, uint8_t out[32])
{
	uint8_t k[SHA256_BLOCK] = {0}, pad[SHA256_BLOCK], inner[32];
	const uint8_t *ip = inner;
	size_t il = sizeof(inner);

	if (keylen > SHA256_BLOCK)
		sha_parts(NULL, &key, &keylen, 1, k); /* a long key is its hash */
	else if (keylen)
		memcpy(k, key, keylen);
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	sha_parts(pad, p, len, n, inner);
	for (size_t i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	sha_parts(pad, &ip, &il, 1, out);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
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
