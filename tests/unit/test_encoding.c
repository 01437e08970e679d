/* Unit tests: core/encoding (base64, hex) and core/secret.
 *
 * Vectors: RFC 4648 section 10 for base64 and base16, and Python's
 * base64.b64decode (3.11) for the lenient decoder wstan's keys go through
 * (each expected value below is what Python returned for that input).  The
 * branch-free character maps are checked against a plain table for all 256
 * byte values, and every encoder against every decoder on random input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/encoding.h"
#include "core/secret.h"

static const char *const rfc[][3] = {
    /* data, base64, base16 */
    {"", "", ""},
    {"f", "Zg==", "66"},
    {"fo", "Zm8=", "666F"},
    {"foo", "Zm9v", "666F6F"},
    {"foob", "Zm9vYg==", "666F6F62"},
    {"fooba", "Zm9vYmE=", "666F6F6261"},
    {"foobar", "Zm9vYmFy", "666F6F626172"},
};
#define NRFC (sizeof(rfc) / sizeof(rfc[0]))

static void test_rfc4648(void **st)
{
	char enc[64], hex[64];
	uint8_t dec[64];

	for (size_t i = 0; i < NRFC; i++) {
		const uint8_t *d = (const uint8_t *)rfc[i][0];
		size_t n = strlen(rfc[i][0]), el = strlen(rfc[i][1]);

		assert_int_equal(b64_encode(d, n, enc), el);
		assert_string_equal(enc, rfc[i][1]);
		assert_int_equal(B64_LEN(n), el);
		assert_int_equal(b64_decode_strict(enc, el, dec, sizeof(dec)), n);
		assert_memory_equal(dec, d, n);
		assert_int_equal(b64_decode(enc, el, dec, sizeof(dec)), n);
		assert_memory_equal(dec, d, n);
		assert_int_equal(b64_decode_py(enc, el, dec, sizeof(dec)), n);
		assert_memory_equal(dec, d, n);
		assert_int_equal(hex_encode(d, n, hex, 1), 2 * n);
		assert_string_equal(hex, rfc[i][2]);
		assert_int_equal(hex_decode(hex, 2 * n, dec, sizeof(dec)), n);
		assert_memory_equal(dec, d, n);
	}
	assert_int_equal(hex_encode((const uint8_t *)"\xab\x0f", 2, hex, 0), 4);
	assert_string_equal(hex, "ab0f");
	assert_int_equal(b64url_encode((const uint8_t *)"\xfb\xff\xbf", 3, enc), 4);
	assert_string_equal(enc, "-_-_");
	assert_int_equal(b64url_encode((const uint8_t *)"f", 1, enc), 2); /* no padding */
	assert_string_equal(enc, "Zg");
}

/* RFC 4648 section 4 as HTTP Basic wants it. */
static void test_strict(void **st)
{
	static const char *const bad[] = {"Zg=a",     "Z===", "Zm9",  "Zm9v!AAA", "=AAA",
	                                  "Zg==Zg==", "Zm-v", "Zm_v", "====",     "Zm9\x80"};
	uint8_t dec[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(b64_decode_strict(bad[i], strlen(bad[i]), dec, sizeof(dec)),
		                 -EINVAL);
	assert_int_equal(b64_decode_strict("Zm9vYmFy", 8, dec, 5), -EINVAL); /* no room */
	assert_int_equal(b64_decode_strict("Zm9vYmFy", 8, dec, 6), 6);
}

/* Keys people paste: either alphabet, padding optional or overdone. */
static void test_liberal(void **st)
{
	uint8_t dec[16];

	assert_int_equal(b64_decode("-_8", 3, dec, sizeof(dec)), 2);
	assert_memory_equal(dec, "\xfb\xff", 2);
	assert_int_equal(b64_decode("+/8=", 4, dec, sizeof(dec)), 2);
	assert_memory_equal(dec, "\xfb\xff", 2);
	assert_int_equal(b64_decode("Zg", 2, dec, sizeof(dec)), 1);
	assert_int_equal(b64_decode("Zg=====", 7, dec, sizeof(dec)), 1);
	assert_int_equal(b64_decode("Z", 1, dec, sizeof(dec)), -EINVAL);
	assert_int_equal(b64_decode("Zm9v!", 5, dec, sizeof(dec)), -EINVAL);
	assert_int_equal(b64_decode("Zg==Zg", 6, dec, sizeof(dec)), -EINVAL);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, dec, 5), -EINVAL);
}

/* Python's base64.b64decode(s) (validate=False), as wstan reads keys. */
static void test_python(void **st)
{
	static const struct {
		const char *in, *out; /* out NULL: Python raised binascii.Error */
	} v[] = {
	    {"YWJj", "abc"},      {"YW Jj\n", "abc"}, {"YQ==", "a"},
	    {"YQ==garbage", "a"}, {"YQ=", NULL},      {"Y", NULL},
	    {"YWJjZA", NULL},     {"YW=Jj", "abc"},   {"Y=Q==", "a"},
	    {"!!YWJj!!", "abc"},  {"YQ=x=", "a\x0c"}, {"YWI=Yw==", "ab"},
	    {"-_-_", ""},         {"", ""},
	};
	uint8_t dec[16];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int n = b64_decode_py(v[i].in, strlen(v[i].in), dec, sizeof(dec));

		if (!v[i].out) {
			assert_int_equal(n, -EINVAL);
			continue;
		}
		assert_int_equal(n, strlen(v[i].out));
		assert_memory_equal(dec, v[i].out, (size_t)n);
	}
	assert_int_equal(b64_decode_py("YW\xc3\xa9Jj", 6, dec, sizeof(dec)),
	                 -EINVAL); /* non-ASCII */
	assert_int_equal(b64_decode_py("YWJjYWJj", 8, dec, 5), -ENOSPC);
	assert_int_equal(b64_decode_py("YWJjYQ==", 8, dec, 4), 4);
}

static int ref_b64(int c, int url)
{
	static const char std[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(std, c) : NULL;

	if (p)
		return (int)(p - std);
	if (url && c == '-')
		return 62;
	if (url && c == '_')
		return 63;
	return -1;
}

/* The branch-free maps agree with a table for every byte value. */
static void test_char_maps(void **st)
{
	for (int c = 0; c < 256; c++) {
		char q[4] = {'A', 'A', (char)c, 'A'}, h[2] = {'0', (char)c};
		uint8_t dec[3];
		int want = ref_b64(c, 0), n;

		n = b64_decode_strict(q, 4, dec, sizeof(dec));
		if (want < 0) {
			assert_int_equal(n, -EINVAL);
		} else {
			assert_int_equal(n, 3);
			assert_int_equal(dec[1] & 15, want >> 2);
			assert_int_equal(dec[2] >> 6, want & 3);
		}
		want = ref_b64(c, 1);
		n = b64_decode(q, 4, dec, sizeof(dec));
		if (want < 0) {
			assert_int_equal(n, -EINVAL);
		} else {
			assert_int_equal(n, 3);
			assert_int_equal(((dec[1] & 15) << 2) | dec[2] >> 6, want);
		}
		n = hex_decode(h, 2, dec, 1);
		if ((c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'f')) {
			assert_int_equal(n, 1);
			assert_int_equal(dec[0], c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
		} else {
			assert_int_equal(n, -EINVAL);
		}
	}
}

/* Every encoder against every decoder that takes its output. */
static void test_round_trip(void **st)
{
	uint8_t in[100], dec[100];
	char enc[140], hex[201];

	for (size_t n = 0; n <= sizeof(in); n++) {
		random_bytes(in, n);
		b64_encode(in, n, enc);
		assert_int_equal(b64_decode_strict(enc, strlen(enc), dec, n), n);
		assert_memory_equal(dec, in, n);
		assert_int_equal(b64_decode_py(enc, strlen(enc), dec, n), n);
		assert_memory_equal(dec, in, n);
		assert_int_equal(b64_decode(enc, strlen(enc), dec, n), n);
		assert_memory_equal(dec, in, n);
		b64url_encode(in, n, enc);
		assert_null(strpbrk(enc, "+/="));
		assert_int_equal(b64_decode(enc, strlen(enc), dec, n), n);
		assert_memory_equal(dec, in, n);
		hex_encode(in, n, hex, (int)(n & 1));
		assert_int_equal(hex_decode(hex, 2 * n, dec, n), n);
		assert_memory_equal(dec, in, n);
	}
	assert_int_equal(hex_decode("abc", 3, dec, sizeof(dec)), -EINVAL);
	assert_int_equal(hex_decode("abcd", 4, dec, 1), -EINVAL);
}

static void test_secret(void **st)
{
	uint8_t k[32];
	char *s = strdup("hunter2");

	memset(k, 0xa5, sizeof(k));
	secret_wipe(k, sizeof(k));
	for (size_t i = 0; i < sizeof(k); i++)
		assert_int_equal(k[i], 0);
	secret_wipe(NULL, 4);
	secret_free_str(s); /* ASan: freed once, whole */
	secret_free_str(NULL);
	secret_free(malloc(16), 16);
	secret_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648),   cmocka_unit_test(test_strict),
	    cmocka_unit_test(test_liberal),   cmocka_unit_test(test_python),
	    cmocka_unit_test(test_char_maps), cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
