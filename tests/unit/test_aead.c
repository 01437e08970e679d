/* Unit tests: core/aead and core/seal.
 *
 * Vectors: RFC 8439 section 2.8.2 (ChaCha20-Poly1305) and McGrew and
 * Viega's GCM test cases 16 and 4 (AES-256-GCM and AES-128-GCM with
 * associated data); all were checked against Python's `cryptography`
 * before being written here.  AES-128-GCM takes the first half of the
 * 32-byte key; its vector's second half is noise that must not matter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/aead.h"
#include "core/encoding.h"
#include "core/seal.h"

typedef struct vec {
	aead_alg_t alg;
	const char *key, *nonce, *aad, *pt, *ct, *tag; /* hex; pt NULL: text below */
} vec_t;

static const char sunscreen[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
                                "only one tip for the future, sunscreen would be it.";

static const vec_t vecs[] = {
    {AEAD_CHACHA20_POLY1305, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
     "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7", NULL,
     "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da9"
     "2728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808"
     "b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116",
     "1ae10b594f09e26a7e902ecbd0600691"},
    {AEAD_AES_256_GCM, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a"
     "6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056"
     "828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {AEAD_AES_128_GCM, "feffe9928665731c6d6a8f94673083080123456789abcdef0123456789abcdef",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a"
     "6b525b16aedf5aa0de657ba637b39",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84"
     "aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
};

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	int n = hex_decode(h, strlen(h), out, cap);

	assert_true(n >= 0);
	return (size_t)n;
}

static void test_vectors(void **st)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const vec_t *v = &vecs[i];
		uint8_t key[32], nonce[12], aad[32], pt[128], ct[128], tag[16], out[160], back[160];
		size_t al = unhex(v->aad, aad, sizeof(aad)), pl, cl;
		aead_t e, d;

		unhex(v->key, key, sizeof(key));
		unhex(v->nonce, nonce, sizeof(nonce));
		if (v->pt) {
			pl = unhex(v->pt, pt, sizeof(pt));
		} else {
			pl = strlen(sunscreen);
			memcpy(pt, sunscreen, pl);
		}
		cl = unhex(v->ct, ct, sizeof(ct));
		unhex(v->tag, tag, sizeof(tag));
		assert_int_equal(cl, pl);
		assert_int_equal(aead_init(&e, v->alg, key, 1), 0);
		assert_int_equal(aead_init(&d, v->alg, key, 0), 0);
		for (int round = 0; round < 2; round++) { /* the context is reused */
			assert_int_equal(aead_seal(&e, nonce, aad, al, pt, pl, out), pl + AEAD_TAG);
			assert_memory_equal(out, ct, cl);
			assert_memory_equal(out + cl, tag, AEAD_TAG);
			assert_int_equal(aead_open(&d, nonce, aad, al, out, cl, back), pl);
			assert_memory_equal(back, pt, pl);
		}
		/* any bit of ciphertext, tag or associated data: not authentic */
		out[3] ^= 1;
		assert_int_equal(aead_open(&d, nonce, aad, al, out, cl, back), -EBADMSG);
		out[3] ^= 1;
		out[cl + 15] ^= 0x80;
		assert_int_equal(aead_open(&d, nonce, aad, al, out, cl, back), -EBADMSG);
		out[cl + 15] ^= 0x80;
		aad[0] ^= 1;
		assert_int_equal(aead_open(&d, nonce, aad, al, out, cl, back), -EBADMSG);
		aad[0] ^= 1;
		/* in place, and the one-shot form */
		assert_int_equal(aead_open_once(v->alg, key, nonce, aad, al, out, cl, out), pl);
		assert_memory_equal(out, pt, pl);
		memcpy(back, pt, pl);
		assert_int_equal(aead_seal_once(v->alg, key, nonce, aad, al, back, pl, back),
		                 pl + AEAD_TAG);
		assert_memory_equal(back, ct, cl);
		aead_free(&e);
		aead_free(&d);
	}
}

/* An empty record still carries a tag that must verify. */
static void test_empty(void **st)
{
	uint8_t key[32] = {1}, nonce[12] = {2}, out[16];
	aead_t e;

	assert_int_equal(aead_init(&e, AEAD_AES_256_GCM, key, 1), 0);
	assert_int_equal(aead_seal(&e, nonce, NULL, 0, NULL, 0, out), AEAD_TAG);
	aead_free(&e);
	assert_int_equal(aead_open_once(AEAD_AES_256_GCM, key, nonce, NULL, 0, out, 0, out), 0);
	out[0] ^= 1;
	assert_int_equal(aead_open_once(AEAD_AES_256_GCM, key, nonce, NULL, 0, out, 0, out),
	                 -EBADMSG);
}

static void test_names(void **st)
{
	aead_alg_t a;

	assert_int_equal(aead_alg_parse("aes-256-gcm", &a), 0);
	assert_int_equal(a, AEAD_AES_256_GCM);
	assert_string_equal(aead_alg_name(a), "aes-256-gcm");
	assert_int_equal(aead_alg_parse("chacha20-poly1305", &a), 0);
	assert_int_equal(a, AEAD_CHACHA20_POLY1305);
	assert_int_equal(aead_alg_parse("aes-128-gcm", &a), 0);
	assert_int_equal(a, AEAD_AES_128_GCM);
	assert_string_equal(aead_alg_name(a), "aes-128-gcm");
	assert_int_equal(aead_alg_parse("rot13", &a), -EINVAL);
}

/* aead_hw_aes agrees with the kernel's CPU flags (x86: aes and pclmulqdq
 * in /proc/cpuinfo), and SLUICE_NO_AES=1 turns it off. */
static void test_hw_aes(void **st)
{
#if defined(__x86_64__) || defined(__i386__)
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int aes = 0, pcl = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5)) {
			aes = strstr(line, " aes ") || strstr(line, " aes\n");
			pcl = strstr(line, " pclmulqdq ") || strstr(line, " pclmulqdq\n");
			break;
		}
	fclose(f);
	unsetenv("SLUICE_NO_AES");
	assert_int_equal(aead_hw_aes(), aes && pcl);
#endif
	setenv("SLUICE_NO_AES", "1", 1);
	assert_int_equal(aead_hw_aes(), 0);
	setenv("SLUICE_NO_AES", "0", 1);
	unsetenv("SLUICE_NO_AES");
}

/* aead_seal2: a plaintext in two pieces, split anywhere (across the block
 * sizes of both ciphers), seals to what the whole does, with and without
 * associated data. */
static void test_seal2(void **st)
{
	static const aead_alg_t algs[] = {AEAD_CHACHA20_POLY1305, AEAD_AES_256_GCM,
	                                  AEAD_AES_128_GCM};
	uint8_t key[32], nonce[12] = {9}, aad[13] = {5}, pt[200], a[200 + AEAD_TAG],
	                 b[200 + AEAD_TAG];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i + 3);
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 29);
	for (size_t k = 0; k < sizeof(algs) / sizeof(algs[0]); k++) {
		aead_t e;

		assert_int_equal(aead_init(&e, algs[k], key, 1), 0);
		for (size_t n = 0; n <= sizeof(pt); n += n < 70 ? 1 : 13)
			for (size_t cut = 0; cut <= n; cut += cut < 20 ? 1 : 17)
				for (size_t al = 0; al <= sizeof(aad); al += sizeof(aad)) {
					assert_int_equal(aead_seal(&e, nonce, aad, al, pt, n, a),
					                 (int)(n + AEAD_TAG));
					assert_int_equal(aead_seal2(&e, nonce, aad, al, pt, cut,
					                            pt + cut, n - cut, b),
					                 (int)(n + AEAD_TAG));
					assert_memory_equal(a, b, n + AEAD_TAG);
				}
		aead_free(&e);
	}
}

/* seal: counter nonces, so a dropped, replayed or reordered record fails,
 * and a failed open does not move the counter. */
static void test_seal_order(void **st)
{
	uint8_t key[SEAL_KEY] = {7}, r1[8 + SEAL_TAG], r2[8 + SEAL_TAG], p[8];
	seal_t tx, rx;

	assert_int_equal(seal_init(&tx, key, 1, 5), 0);
	assert_int_equal(seal_init(&rx, key, 0, 5), 0);
	assert_int_equal(seal_seal(&tx, NULL, 0, (const uint8_t *)"record 1", 8, r1), 8 + SEAL_TAG);
	assert_int_equal(seal_seal(&tx, NULL, 0, (const uint8_t *)"record 2", 8, r2), 8 + SEAL_TAG);
	assert_int_equal(seal_open(&rx, NULL, 0, r2, sizeof(r2), p), -EBADMSG); /* reordered */
	assert_int_equal(seal_open(&rx, NULL, 0, r1, sizeof(r1), p), 8);
	assert_memory_equal(p, "record 1", 8);
	assert_int_equal(seal_open(&rx, NULL, 0, r1, sizeof(r1), p), -EBADMSG); /* replayed */
	assert_int_equal(seal_open(&rx, NULL, 0, r2, sizeof(r2), p), 8);
	assert_int_equal(seal_open(&rx, NULL, 0, r2, SEAL_TAG - 1, p), -EBADMSG); /* short */
	seal_free(&tx);
	seal_free(&rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_names),      cmocka_unit_test(test_seal2),
	    cmocka_unit_test(test_seal_order), cmocka_unit_test(test_hw_aes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
