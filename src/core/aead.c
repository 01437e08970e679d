/* aead: see aead.h.  OpenSSL's EVP interface does the work: the context is
 * set up with the cipher and key once, each record sets only the nonce.
 * The ciphers are fetched from OpenSSL's provider once per process: the
 * EVP_chacha20_poly1305()-style handles make OpenSSL 3 look the cipher up
 * by name, under a lock, on every context set up (one per direction of
 * every tunneled connection).  The tag is read and set with an
 * OSSL_PARAM straight to the provider: EVP_CIPHER_CTX_ctrl would build the
 * same parameter on every record (about 5% of a 1.4 KB AES-GCM record). */
#include "core/aead.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

static const struct {
	const char *name, *ossl; /* ours, OpenSSL's */
} algs[] = {
    [AEAD_CHACHA20_POLY1305] = {"chacha20-poly1305", "ChaCha20-Poly1305"},
    [AEAD_AES_256_GCM] = {"aes-256-gcm", "AES-256-GCM"},
    [AEAD_AES_128_GCM] = {"aes-128-gcm", "AES-128-GCM"},
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

static EVP_CIPHER *fetched[NALGS];
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
	for (size_t i = 0; i < NALGS; i++)
		fetched[i] = EVP_CIPHER_fetch(NULL, algs[i].ossl, NULL);
}

int aead_init(aead_t *a, aead_alg_t alg, const uint8_t key[AEAD_KEY], int encrypt)
{
	EVP_CIPHER_CTX *c;

	memset(a, 0, sizeof(*a));
	if ((unsigned)alg >= NALGS)
		return -EINVAL;
	pthread_once(&fetch_once, fetch_all);
	if (!fetched[alg])
		return -EINVAL;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -ENOMEM;
	if (EVP_CipherInit_ex2(c, fetched[alg], NULL, NULL, encrypt, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, AEAD_NONCE, NULL) != 1 ||
	    EVP_CipherInit_ex2(c, NULL, key, NULL, encrypt, NULL) != 1) {
		EVP_CIPHER_CTX_free(c);
		return -EINVAL;
	}
	a->ctx = c;
	a->encrypt = encrypt;
	return 0;
}

void aead_free(aead_t *a)
{
	EVP_CIPHER_CTX_free(a->ctx);
	a->ctx = NULL;
}

static int tag_get(EVP_CIPHER_CTX *c, uint8_t *tag)
{
	OSSL_PARAM p[2] = {OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, AEAD_TAG),
	                   OSSL_PARAM_END};

	return EVP_CIPHER_CTX_get_params(c, p);
}

int aead_seal(aead_t *a, const uint8_t nonce[AEAD_NONCE], const uint8_t *aad, size_t aadlen,
              const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = a->ctx;
	int n = 0, f = 0;

	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, 1) != 1 ||
	    (aadlen && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
	    (len && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1) ||
	    EVP_CipherFinal_ex(c, out + (len ? n : 0), &f) != 1 || tag_get(c, out + len) != 1)
		return -EINVAL;
	return (int)len + AEAD_TAG;
}

int aead_seal2(aead_t *a, const uint8_t nonce[AEAD_NONCE], const uint8_t *aad, size_t aadlen,
               const uint8_t *p1, size_t n1, const uint8_t *p2, size_t n2, uint8_t *out)
{
	EVP_CIPHER_CTX *c = a->ctx;
	int n = 0, m = 0, f = 0;

	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, 1) != 1 ||
	    (aadlen && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
	    (n1 && EVP_CipherUpdate(c, out, &n, p1, (int)n1) != 1) ||
	    (n2 && EVP_CipherUpdate(c, out + (n1 ? n : 0), &m, p2, (int)n2) != 1) ||
	    EVP_CipherFinal_ex(c, out + (n1 ? n : 0) + (n2 ? m : 0), &f) != 1 ||
	    tag_get(c, out + n1 + n2) != 1)
		return -EINVAL;
	return (int)(n1 + n2) + AEAD_TAG;
}

int aead_open(aead_t *a, const uint8_t nonce[AEAD_NONCE], const uint8_t *aad, size_t aadlen,
              const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = a->ctx;
	uint8_t tag[AEAD_TAG];
	int n = 0, f = 0;

	OSSL_PARAM p[2] = {OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, AEAD_TAG),
	                   OSSL_PARAM_END};
	memcpy(tag, in + len, AEAD_TAG); /* out may overwrite in */
	if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, 0) != 1 ||
	    EVP_CIPHER_CTX_set_params(c, p) != 1 ||
	    (aadlen && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
	    (len && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1) ||
	    EVP_CipherFinal_ex(c, out + (len ? n : 0), &f) != 1)
		return -EBADMSG;
	return (int)len;
}

static int once(int enc, aead_alg_t alg, const uint8_t key[AEAD_KEY],
                const uint8_t nonce[AEAD_NONCE], const uint8_t *aad, size_t aadlen,
                const uint8_t *in, size_t len, uint8_t *out)
{
	aead_t a;
	int r = aead_init(&a, alg, key, enc);

	if (r < 0)
		return r;
	r = enc ? aead_seal(&a, nonce, aad, aadlen, in, len, out)
	        : aead_open(&a, nonce, aad, aadlen, in, len, out);
	aead_free(&a);
	return r;
}

int aead_seal_once(aead_alg_t alg, const uint8_t key[AEAD_KEY], const uint8_t nonce[AEAD_NONCE],
                   const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	return once(1, alg, key, nonce, aad, aadlen, in, len, out);
}

int aead_open_once(aead_alg_t alg, const uint8_t key[AEAD_KEY], const uint8_t nonce[AEAD_NONCE],
                   const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	return once(0, alg, key, nonce, aad, aadlen, in, len, out);
}

int aead_alg_parse(const char *name, aead_alg_t *out)
{
	for (size_t i = 0; i < NALGS; i++)
		if (!strcmp(name, algs[i].name)) {
			*out = (aead_alg_t)i;
			return 0;
		}
	return -EINVAL;
}

const char *aead_alg_name(aead_alg_t alg)
{
	return (unsigned)alg < NALGS ? algs[alg].name : "?";
}

int aead_hw_aes(void)
{
	static int known = -1;
	const char *no = getenv("SLUICE_NO_AES");

	if (no && *no && strcmp(no, "0"))
		return 0;
	if (known < 0) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_cpu_init();
		known = __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__) && defined(__linux__)
		unsigned long hw = getauxval(AT_HWCAP);
		known = (hw & HWCAP_AES) && (hw & HWCAP_PMULL);
#else
		known = 0;
#endif
	}
	return known;
}
