/* Unit tests: tunnel/sctp/sctp_proto, the SCTP tunnel's wire format
 * (docs/sctp-protocol.md).
 *
 *   - AUTH / AUTH_OK: round trip; the MAC is HMAC-SHA256 under K_auth over
 *     the bytes before it (recomputed here with OpenSSL directly); a wrong
 *     key, a flipped bit, a bad length, a bad version or window refused;
 *   - per-stream keys differ by direction, stream id and generation;
 *   - OPEN / OPEN_FAIL / CREDIT bodies and record type/length rules;
 *   - sealed records: round trip, tamper, replay and reorder refused;
 *   - datagrams: their own keys, round trip in any order, tamper refused,
 *     the replay window (core/rwin) takes late ones once and old ones never.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/hmac.h>

#include "core/rwin.h"
#include "tunnel/sctp/sctp_proto.h"

static const uint8_t KEY[32] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a,
                                0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25,
                                0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f};

static void keys(sctp_proto_keys_t *k, uint8_t first)
{
	uint8_t key[32];

	memcpy(key, KEY, 32);
	key[0] = first;
	assert_int_equal(sctp_proto_keys_init(k, key, sizeof(key)), 0);
}

static void test_auth(void **state)
{
	sctp_proto_keys_t k, other;
	sctp_proto_auth_t a = {.ts_ms = 0x0102030405060708ull, .window = 1 << 20}, b;
	uint8_t msg[SCTP_PROTO_AUTH_LEN], mac[32], kauth[32];
	unsigned int ml = 32;

	keys(&k, 0x10);
	keys(&other, 0x99);
	memset(a.nonce, 0xab, SCTP_PROTO_NONCE);
	sctp_proto_auth_build(&k, &a, msg);
	assert_int_equal(msg[0], SCTP_PROTO_VERSION);
	assert_int_equal(msg[1], 0x01);
	assert_int_equal(msg[8], 0x08);
	assert_int_equal(msg[9], 0xab);
	assert_int_equal(msg[25], 0x00); /* window 0x00100000 */
	assert_int_equal(msg[26], 0x10);
	/* K_auth = HKDF(K, "sluice/sctp/1", "auth"); the MAC by OpenSSL itself */
	assert_int_equal(
	    hkdf_sha256(KEY, 32, (const uint8_t *)"sluice/sctp/1", 13, "auth", kauth, 32), 0);
	HMAC(EVP_sha256(), kauth, 32, msg, SCTP_PROTO_AUTH_LEN - 32, mac, &ml);
	assert_memory_equal(mac, msg + SCTP_PROTO_AUTH_LEN - 32, 32);

	assert_int_equal(sctp_proto_auth_parse(&k, msg, sizeof(msg), &b), 0);
	assert_true(b.ts_ms == a.ts_ms);
	assert_int_equal(b.window, a.window);
	assert_memory_equal(b.nonce, a.nonce, SCTP_PROTO_NONCE);
	assert_int_equal(sctp_proto_auth_parse(&other, msg, sizeof(msg), &b), -EBADMSG);
	assert_int_equal(sctp_proto_auth_parse(&k, msg, sizeof(msg) - 1, &b), -EINVAL);
	msg[5] ^= 1;
	assert_int_equal(sctp_proto_auth_parse(&k, msg, sizeof(msg), &b), -EBADMSG);
	msg[5] ^= 1;
	msg[0] = 2;
	assert_int_equal(sctp_proto_auth_parse(&k, msg, sizeof(msg), &b), -EINVAL);
	a.window = 100; /* below the minimum: authentic but refused */
	sctp_proto_auth_build(&k, &a, msg);
	assert_int_equal(sctp_proto_auth_parse(&k, msg, sizeof(msg), &b), -EINVAL);
}

static void test_answer(void **state)
{
	sctp_proto_keys_t k, other;
	uint8_t cn[SCTP_PROTO_NONCE], sn[SCTP_PROTO_NONCE], got[SCTP_PROTO_NONCE],
	    ans[SCTP_PROTO_AUTH_OK_LEN];
	uint32_t w;

	keys(&k, 0x10);
	keys(&other, 0x11);
	memset(cn, 1, sizeof(cn));
	memset(sn, 2, sizeof(sn));
	sctp_proto_answer_build(&k, cn, sn, 256 * 1024, ans);
	assert_int_equal(sctp_proto_answer_check(&k, cn, ans, sizeof(ans), got, &w), 0);
	assert_memory_equal(got, sn, SCTP_PROTO_NONCE);
	assert_int_equal(w, 256 * 1024);
	assert_int_equal(sctp_proto_answer_check(&other, cn, ans, sizeof(ans), got, &w), -EBADMSG);
	cn[0] ^= 1; /* an answer to another AUTH */
	assert_int_equal(sctp_proto_answer_check(&k, cn, ans, sizeof(ans), got, &w), -EBADMSG);
	cn[0] ^= 1;
	ans[SCTP_PROTO_NONCE + 1] ^= 1; /* the window is covered by the MAC */
	assert_int_equal(sctp_proto_answer_check(&k, cn, ans, sizeof(ans), got, &w), -EBADMSG);
	assert_int_equal(sctp_proto_answer_check(&k, cn, ans, 10, got, &w), -EINVAL);
}

static void test_stream_keys(void **state)
{
	sctp_proto_keys_t k;
	uint8_t cn[SCTP_PROTO_NONCE] = {1}, sn[SCTP_PROTO_NONCE] = {2}, sn2[SCTP_PROTO_NONCE] = {3};
	uint8_t a[SEAL_KEY], b[SEAL_KEY];

	keys(&k, 0x10);
	sctp_proto_stream_key(&k, cn, sn, 0, 1, 1, a);
	sctp_proto_stream_key(&k, cn, sn, 0, 1, 1, b);
	assert_memory_equal(a, b, SEAL_KEY);
	sctp_proto_stream_key(&k, cn, sn, 1, 1, 1, b);
	assert_memory_not_equal(a, b, SEAL_KEY);
	sctp_proto_stream_key(&k, cn, sn, 0, 2, 1, b);
	assert_memory_not_equal(a, b, SEAL_KEY);
	sctp_proto_stream_key(&k, cn, sn, 0, 1, 2, b);
	assert_memory_not_equal(a, b, SEAL_KEY);
	sctp_proto_stream_key(&k, cn, sn2, 0, 1, 1, b); /* another association */
	assert_memory_not_equal(a, b, SEAL_KEY);
	/* "c2s/1/11" and "c2s/11/1" are different infos */
	sctp_proto_stream_key(&k, cn, sn, 0, 1, 11, a);
	sctp_proto_stream_key(&k, cn, sn, 0, 11, 1, b);
	assert_memory_not_equal(a, b, SEAL_KEY);
}

static void test_bodies(void **state)
{
	target_t t, u;
	uint8_t buf[SCTP_PROTO_OPEN_MAX + 8], code;
	uint32_t inc;
	int n;

	target_set(&t, "example.org", 443);
	n = sctp_proto_open_encode(&t, buf, sizeof(buf));
	assert_int_equal(n, 1 + 11 + 2);
	assert_int_equal(buf[0], 11);
	assert_int_equal(buf[12], 0x01);
	assert_int_equal(buf[13], 0xbb);
	assert_int_equal(sctp_proto_open_parse(buf, (size_t)n, &u), 0);
	assert_string_equal(u.host, "example.org");
	assert_int_equal(u.port, 443);
	assert_int_equal(sctp_proto_open_parse(buf, (size_t)n - 1, &u), -EINVAL);
	assert_int_equal(sctp_proto_open_parse(buf, (size_t)n + 1, &u), -EINVAL);
	buf[3] = ' ';
	assert_int_equal(sctp_proto_open_parse(buf, (size_t)n, &u), -EINVAL);
	buf[3] = 'a';
	buf[12] = buf[13] = 0; /* port 0 */
	assert_int_equal(sctp_proto_open_parse(buf, (size_t)n, &u), -EINVAL);
	assert_int_equal(sctp_proto_open_parse(buf, 0, &u), -EINVAL);
	target_set(&t, "::1", 22);
	n = sctp_proto_open_encode(&t, buf, sizeof(buf));
	assert_int_equal(sctp_proto_open_parse(buf, (size_t)n, &u), 0);
	assert_string_equal(u.host, "::1");

	n = sctp_proto_fail_encode(5, "connection refused", buf, sizeof(buf));
	assert_int_equal(n, 19);
	assert_int_equal(sctp_proto_fail_parse(buf, (size_t)n, &code), 0);
	assert_int_equal(code, 5);
	assert_int_equal(sctp_proto_fail_parse(buf, 0, &code), -EINVAL);

	sctp_proto_credit_encode(65536, buf);
	assert_int_equal(buf[1], 1);
	assert_int_equal(sctp_proto_credit_parse(buf, 4, &inc), 0);
	assert_int_equal(inc, 65536);
	assert_int_equal(sctp_proto_credit_parse(buf, 3, &inc), -EINVAL);
	memset(buf, 0, 4);
	assert_int_equal(sctp_proto_credit_parse(buf, 4, &inc), -EINVAL); /* 0 */
	memset(buf, 0xff, 4);
	assert_int_equal(sctp_proto_credit_parse(buf, 4, &inc), -EINVAL); /* too big */
}

static void test_rec_rules(void **state)
{
	static uint8_t big[SCTP_PROTO_DATA_MAX + 2];
	const uint8_t *body;
	size_t blen;
	uint8_t type, r[8];

	r[0] = SCTP_PROTO_CLOSE;
	assert_int_equal(sctp_proto_rec_parse(r, 1, &type, &body, &blen), 0);
	assert_int_equal(type, SCTP_PROTO_CLOSE);
	assert_int_equal(sctp_proto_rec_parse(r, 2, &type, &body, &blen),
	                 -EINVAL); /* CLOSE has no body */
	r[0] = SCTP_PROTO_EOF;
	assert_int_equal(sctp_proto_rec_parse(r, 1, &type, &body, &blen), 0);
	r[0] = SCTP_PROTO_OPEN_OK;
	assert_int_equal(sctp_proto_rec_parse(r, 1, &type, &body, &blen), 0);
	r[0] = SCTP_PROTO_DATA;
	assert_int_equal(sctp_proto_rec_parse(r, 1, &type, &body, &blen), -EINVAL); /* empty DATA */
	r[0] = SCTP_PROTO_CREDIT;
	assert_int_equal(sctp_proto_rec_parse(r, 5, &type, &body, &blen), 0);
	assert_int_equal(sctp_proto_rec_parse(r, 4, &type, &body, &blen), -EINVAL);
	r[0] = SCTP_PROTO_OPEN;
	assert_int_equal(sctp_proto_rec_parse(r, 3, &type, &body, &blen), -EINVAL);
	r[0] = 0;
	assert_int_equal(sctp_proto_rec_parse(r, 1, &type, &body, &blen), -EINVAL);
	r[0] = SCTP_PROTO_UDP_OPEN; /* a datagram association: no body either */
	assert_int_equal(sctp_proto_rec_parse(r, 1, &type, &body, &blen), 0);
	assert_int_equal(sctp_proto_rec_parse(r, 2, &type, &body, &blen), -EINVAL);
	r[0] = 9;
	assert_int_equal(sctp_proto_rec_parse(r, 1, &type, &body, &blen), -EINVAL);
	assert_int_equal(sctp_proto_rec_parse(r, 0, &type, &body, &blen), -EINVAL);
	/* LISTEN_UDP: an address as LISTEN's (host_len host port, at least 4) */
	r[0] = SCTP_PROTO_LISTEN_UDP;
	memcpy(r + 1, "\x01x\x14\xe9", 4);
	assert_int_equal(sctp_proto_rec_parse(r, 5, &type, &body, &blen), 0);
	assert_int_equal(type, SCTP_PROTO_LISTEN_UDP);
	assert_int_equal(blen, 4);
	assert_int_equal(sctp_proto_rec_parse(r, 4, &type, &body, &blen), -EINVAL);
	assert_string_equal(sctp_proto_type_name(SCTP_PROTO_LISTEN_UDP), "LISTEN_UDP");
	r[0] = SCTP_PROTO_LISTEN_UDP + 1; /* unknown */
	assert_int_equal(sctp_proto_rec_parse(r, 5, &type, &body, &blen), -EINVAL);
	assert_string_equal(sctp_proto_type_name(SCTP_PROTO_LISTEN_UDP + 1), "?");
	big[0] = SCTP_PROTO_DATA;
	assert_int_equal(sctp_proto_rec_parse(big, SCTP_PROTO_DATA_MAX + 1, &type, &body, &blen),
	                 0);
	assert_int_equal(sctp_proto_rec_parse(big, SCTP_PROTO_DATA_MAX + 2, &type, &body, &blen),
	                 -EINVAL);
}

static void test_sealed(void **state)
{
	uint8_t key[SEAL_KEY] = {9}, data[100];
	seal_t tx, rx;
	sbuf_t *m1, *m2;
	const uint8_t *body;
	size_t blen;
	uint8_t type, copy[200];

	memset(data, 'x', sizeof(data));
	seal_init(&tx, key, 1, 0);
	seal_init(&rx, key, 0, 0);
	m1 = sctp_proto_rec_build(&tx, SCTP_PROTO_DATA, data, sizeof(data));
	m2 = sctp_proto_rec_build(&tx, SCTP_PROTO_EOF, NULL, 0);
	assert_int_equal(m1->len, 1 + 100 + SEAL_TAG);
	assert_int_equal(m2->len, 1 + SEAL_TAG);
	/* reordered: the second record does not open first */
	memcpy(copy, m2->data, m2->len);
	assert_int_equal(sctp_proto_rec_open(&rx, copy, m2->len, &type, &body, &blen), -EBADMSG);
	/* tampered */
	memcpy(copy, m1->data, m1->len);
	copy[7] ^= 0x20;
	assert_int_equal(sctp_proto_rec_open(&rx, copy, m1->len, &type, &body, &blen), -EBADMSG);
	memcpy(copy, m1->data, m1->len);
	assert_int_equal(sctp_proto_rec_open(&rx, copy, m1->len, &type, &body, &blen), 0);
	assert_int_equal(type, SCTP_PROTO_DATA);
	assert_int_equal(blen, 100);
	assert_memory_equal(body, data, 100);
	/* replayed */
	memcpy(copy, m1->data, m1->len);
	assert_int_equal(sctp_proto_rec_open(&rx, copy, m1->len, &type, &body, &blen), -EBADMSG);
	assert_int_equal(sctp_proto_rec_open(&rx, m2->data, m2->len, &type, &body, &blen), 0);
	assert_int_equal(type, SCTP_PROTO_EOF);
	assert_int_equal(sctp_proto_rec_open(&rx, copy, 5, &type, &body, &blen), -EINVAL);
	assert_null(sctp_proto_rec_build(&tx, SCTP_PROTO_DATA, data, SCTP_PROTO_DATA_MAX + 1));
	sbuf_free(m1);
	sbuf_free(m2);
	seal_free(&tx);
	seal_free(&rx);
}

static void test_dgrams(void **state)
{
	static uint8_t m[3][SCTP_PROTO_DGRAM_MAX], big[SCTP_PROTO_DGRAM_DATA_MAX + 1];
	uint8_t cn[SCTP_PROTO_NONCE] = {1}, sn[SCTP_PROTO_NONCE] = {2}, kd[SEAL_KEY], ks[SEAL_KEY];
	sctp_proto_keys_t k;
	aead_t tx, rx;
	target_t t, got;
	const uint8_t *d;
	size_t dl;
	uint64_t ctr;
	int n[3];
	rwin_t w = {0};

	keys(&k, 0x10);
	/* datagram keys are not the records' keys, and differ by direction */
	assert_int_equal(sctp_proto_dgram_key(&k, cn, sn, 0, 3, 1, kd), 0);
	assert_int_equal(sctp_proto_stream_key(&k, cn, sn, 0, 3, 1, ks), 0);
	assert_memory_not_equal(kd, ks, SEAL_KEY);
	assert_int_equal(sctp_proto_dgram_key(&k, cn, sn, 1, 3, 1, ks), 0);
	assert_memory_not_equal(kd, ks, SEAL_KEY);
	assert_int_equal(aead_init(&tx, AEAD_CHACHA20_POLY1305, kd, 1), 0);
	assert_int_equal(aead_init(&rx, AEAD_CHACHA20_POLY1305, kd, 0), 0);
	target_set(&t, "dns.example", 53);
	for (int i = 0; i < 3; i++) {
		char p[16];
		snprintf(p, sizeof(p), "datagram %d", i);
		n[i] = sctp_proto_dgram_seal(&tx, (uint64_t)i, &t, (const uint8_t *)p, strlen(p),
		                             m[i], sizeof(m[i]));
		assert_int_equal(n[i], 8 + 1 + 11 + 2 + (int)strlen(p) + SEAL_TAG);
	}
	/* any order: 2, then 0; each counter once */
	for (int i = 2; i >= 0; i -= 2) {
		assert_int_equal(sctp_proto_dgram_ctr(m[i], (size_t)n[i], &ctr), 0);
		assert_int_equal(ctr, (uint64_t)i);
		assert_true(rwin_check(&w, ctr));
		assert_int_equal(sctp_proto_dgram_open(&rx, m[i], (size_t)n[i], &got, &d, &dl), 0);
		rwin_update(&w, ctr);
		assert_string_equal(got.host, "dns.example");
		assert_int_equal(got.port, 53);
		assert_int_equal(dl, 10);
		assert_int_equal(d[9], '0' + i);
	}
	assert_false(rwin_check(&w, 2)); /* replayed */
	assert_false(rwin_check(&w, 0));
	assert_true(rwin_check(&w, 1)); /* late, not lost: still taken */
	/* tampered: the counter is authenticated too */
	m[1][0] ^= 1;
	assert_int_equal(sctp_proto_dgram_open(&rx, m[1], (size_t)n[1], &got, &d, &dl), -EBADMSG);
	m[1][0] ^= 1;
	m[1][12] ^= 1;
	assert_int_equal(sctp_proto_dgram_open(&rx, m[1], (size_t)n[1], &got, &d, &dl), -EBADMSG);
	/* far behind the window: refused */
	rwin_update(&w, 10000);
	assert_false(rwin_check(&w, 10000 - RWIN_SIZE - 1));
	assert_true(rwin_check(&w, 10000 - 5));
	/* the largest datagram fits, one byte more does not; short input */
	n[0] =
	    sctp_proto_dgram_seal(&tx, 7, &t, big, SCTP_PROTO_DGRAM_DATA_MAX, m[0], sizeof(m[0]));
	assert_true(n[0] > 0 && n[0] <= SCTP_PROTO_DGRAM_MAX);
	assert_int_equal(sctp_proto_dgram_open(&rx, m[0], (size_t)n[0], &got, &d, &dl), 0);
	assert_int_equal(dl, SCTP_PROTO_DGRAM_DATA_MAX);
	assert_int_equal(sctp_proto_dgram_seal(&tx, 8, &t, big, sizeof(big), m[0], sizeof(m[0])),
	                 -EINVAL);
	assert_int_equal(sctp_proto_dgram_ctr(m[0], 8 + SEAL_TAG, &ctr), -EINVAL);
	assert_int_equal(sctp_proto_dgram_open(&rx, m[0], 12, &got, &d, &dl), -EINVAL);
	aead_free(&tx);
	aead_free(&rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth),        cmocka_unit_test(test_answer),
	    cmocka_unit_test(test_stream_keys), cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_rec_rules),   cmocka_unit_test(test_sealed),
	    cmocka_unit_test(test_dgrams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
