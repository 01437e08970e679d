/* Unit tests: core/crypto, core/seal, core/replay and the WebSocket tunnel's
 * wire format (tunnel/ws/wstun_proto), against published vectors where they
 * exist (RFC 5869 HKDF, RFC 4231 HMAC) or computed by an independent
 * implementation (ChaCha20-Poly1305 with our nonce layout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/encoding.h"
#include "core/replay.h"
#include "core/seal.h"
#include "tunnel/ws/wstun_proto.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	while (h[0] && h[1]) {
		unsigned v;
		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

static void test_hkdf_rfc5869(void **st)
{
	uint8_t ikm[22], salt[13], okm[42], want[42];
	const uint8_t info[] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0};

	memset(ikm, 0x0b, sizeof(ikm));
	unhex("000102030405060708090a0b0c", salt);
	unhex(
	    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
	    want);
	assert_int_equal(
	    hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), (const char *)info, okm, sizeof(okm)),
	    0);
	assert_memory_equal(okm, want, sizeof(want));
	/* test case 3: no salt (HashLen zeros) and no info */
	unhex(
	    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
	    want);
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), NULL, 0, "", okm, sizeof(okm)), 0);
	assert_memory_equal(okm, want, sizeof(want));
	/* longer than 255 blocks is refused */
	assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), NULL, 0, "", okm, 255 * 32 + 1), -EINVAL);
}

static void test_hmac_rfc4231(void **st)
{
	uint8_t key[20], out[32], want[32];

	memset(key, 0x0b, sizeof(key));
	unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want);
	hmac_sha256(key, sizeof(key), (const uint8_t *)"Hi There", 8, out);
	assert_memory_equal(out, want, 32);
}

/* RFC 4231 case 6: a key longer than SHA-256's block is hashed first */
static void test_hmac_rfc4231_long_key(void **st)
{
	static const char data[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	uint8_t key[131], out[32], want[32];

	memset(key, 0xaa, sizeof(key));
	unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want);
	hmac_sha256(key, sizeof(key), (const uint8_t *)data, sizeof(data) - 1, out);
	assert_memory_equal(out, want, 32);
}

static void test_base64(void **st)
{
	uint8_t out[16];
	char enc[32];

	assert_int_equal(b64_encode((const uint8_t *)"foob", 4, enc), 8);
	assert_string_equal(enc, "Zm9vYg==");
	assert_int_equal(b64url_encode((const uint8_t *)"\xfb\xff", 2, enc), 3);
	assert_string_equal(enc, "-_8");
	assert_int_equal(b64_decode("Zm9vYg==", 8, out, sizeof(out)), 4);
	assert_memory_equal(out, "foob", 4);
	assert_int_equal(b64_decode("-_8", 3, out, sizeof(out)), 2);
	assert_int_equal(b64_decode("+/8=", 4, out, sizeof(out)), 2);
	assert_true(b64_decode("Zm9v!", 5, out, sizeof(out)) < 0);
	assert_true(b64_decode("Z", 1, out, sizeof(out)) < 0);
}

static void test_keys(void **st)
{
	char k[64];
	uint8_t raw[KEY_MAX];
	size_t n;

	key_generate(k, sizeof(k));
	assert_int_equal(strlen(k), 44);
	assert_int_equal(key_parse(k, raw, &n), 0);
	assert_int_equal(n, 32);
	assert_true(key_parse("c2hvcnQ=", raw, &n) < 0); /* "short" */
	assert_true(key_parse("not base64!", raw, &n) < 0);
}

/* RFC 8439's plaintext, key and AAD, sealed with sluice's nonce layout
 * (4 zero bytes, counter 7): the expected bytes were computed with Python's
 * cryptography package (ChaCha20Poly1305), an implementation independent of
 * OpenSSL's EVP interface as used here. */
static void test_seal_vector(void **st)
{
	uint8_t key[32], aad[12], pt[114], ct[114 + 16], want[114 + 16], back[114];
	const char *plain =
	    "Ladies and Gentlemen of the class of '99: If I could offer you only one "
	    "tip for the future, sunscreen would be it.";
	seal_t s, o;

	unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", key);
	unhex("50515253c0c1c2c3c4c5c6c7", aad);
	memcpy(pt, plain, 114);
	unhex("825859cc37758e2ef5ad8c2ec3144e9cd050f2f083e9303c216d3cbcef59cff439f5d7f8855a6af2"
	      "a7fab60cbf79f3b18a9bf4bba9fef7e58f46958032871c57bb115af2e6a1d067d490b0359944db22"
	      "20151673a67c7430a360cad9cad5030064ebed669ffa89f2f102f398bad1174f6f4a8f3aaa4b24db"
	      "2ccec3e6e568a1c5d797",
	      want);
	assert_int_equal(seal_init(&s, key, 1, 7), 0);
	assert_int_equal(seal_init(&o, key, 0, 7), 0);
	assert_int_equal(seal_seal(&s, aad, sizeof(aad), pt, 114, ct), 130);
	assert_memory_equal(ct, want, 130);
	ct[5] ^= 1; /* tampered: refused, and the counter does not move */
	assert_int_equal(seal_open(&o, aad, sizeof(aad), ct, 130, back), -74 /* -EBADMSG */);
	ct[5] ^= 1;
	assert_int_equal(seal_open(&o, aad, sizeof(aad), ct, 130, back), 114);
	assert_memory_equal(back, pt, 114);
	/* replaying the same record fails: the counter moved on */
	assert_true(seal_open(&o, aad, sizeof(aad), ct, 130, back) < 0);
	seal_free(&s);
	seal_free(&o);
}

static void test_replay(void **st)
{
	replay_t *r = replay_new(16);
	uint8_t n[16] = {1};

	assert_int_equal(replay_check_add(r, n, 1000, 2000), REPLAY_NEW);
	assert_int_equal(replay_check_add(r, n, 1500, 2500), REPLAY_SEEN);
	assert_int_equal(replay_check_add(r, n, 2000, 3000), REPLAY_NEW); /* expired */
	for (int i = 0; i < 15; i++) {
		n[1] = (uint8_t)(i + 1);
		assert_int_equal(replay_check_add(r, n, 2000, 5000), REPLAY_NEW);
	}
	n[1] = 99;
	assert_int_equal(replay_check_add(r, n, 2000, 5000), REPLAY_FULL);
	assert_int_equal(replay_check_add(r, n, 5000, 6000), REPLAY_NEW);
	/* many entries with colliding first bytes: the hash is the nonce */
	replay_free(r);
	r = replay_new(1000);
	for (int i = 0; i < 1000; i++) {
		uint8_t m[16] = {0};
		m[15] = (uint8_t)i;
		m[14] = (uint8_t)(i >> 8);
		assert_int_equal(replay_check_add(r, m, (uint64_t)i, 1000 + (uint64_t)i),
		                 REPLAY_NEW);
	}
	for (int i = 0; i < 1000; i++) {
		uint8_t m[16] = {0};
		m[15] = (uint8_t)i;
		m[14] = (uint8_t)(i >> 8);
		assert_int_equal(replay_check_add(r, m, 999, 2000), REPLAY_SEEN);
	}
	assert_int_equal(replay_size(r), 1000);
	uint8_t m[16] = {9, 9};
	assert_int_equal(replay_check_add(r, m, 1500, 3000), REPLAY_NEW); /* half expired */
	assert_int_equal(replay_size(r), 500);
	replay_free(r);

	/* the ring grows from a few thousand entries to its cap, keeping all */
	r = replay_new(100000);
	for (uint32_t i = 0; i < 100000; i++) {
		uint8_t k[16] = {0};
		memcpy(k, &i, sizeof(i));
		k[8] = 1;
		assert_int_equal(replay_check_add(r, k, 10, 20 + i / 1000), REPLAY_NEW);
	}
	assert_int_equal(replay_size(r), 100000);
	for (uint32_t i = 0; i < 100000; i += 997) {
		uint8_t k[16] = {0};
		memcpy(k, &i, sizeof(i));
		k[8] = 1;
		assert_int_equal(replay_check_add(r, k, 10, 200), REPLAY_SEEN);
	}
	assert_int_equal(replay_check_add(r, m, 10, 200), REPLAY_FULL);
	assert_int_equal(replay_check_add(r, m, 21, 200), REPLAY_NEW); /* 2000 expired */
	assert_int_equal(replay_size(r), 98001);
	replay_free(r);
}

static void test_replay_store(void **st)
{
	uint8_t id[32] = {1}, id2[32] = {2}, n[16] = {3};
	replay_conf_t c = {.capacity = 64, .skew_ms = 1000, .round_trip = 1};
	replay_store_t *a, *b, *other;
	char err[200], path[] = "/tmp/sluice-replay-XXXXXX";
	uint64_t now = (uint64_t)time(NULL) * 1000, floor, t1;
	int fd;

	assert_int_equal(replay_store_get("ws", id, &c, &a, err, sizeof(err)), 0);
	c.skew_ms = 2000; /* a second listener with the same key: the same store */
	assert_int_equal(replay_store_get("ws", id, &c, &b, err, sizeof(err)), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(replay_store_get("ws", id2, &c, &other, err, sizeof(err)), 0);
	assert_ptr_not_equal(a, other);
	floor = replay_store_floor(a);
	assert_true(floor >= now + 2000); /* start + the widest skew */
	assert_int_equal(replay_store_check(a, n, now - 5000, now, 1000), REPLAY_STALE);
	assert_int_equal(replay_store_check(a, n, now + 5000, now, 1000), REPLAY_STALE);
	/* before the floor: fresh and unseen, but a predecessor may have seen it */
	assert_int_equal(replay_store_check(a, n, now, now, 1000), REPLAY_UNSURE);
	assert_int_equal(replay_store_check(b, n, now, now, 2000), REPLAY_SEEN);
	assert_int_equal(replay_store_check(other, n, now, now, 2000), REPLAY_UNSURE);
	n[0]++;
	/* after the floor (time has passed): new, then seen by the other listener */
	assert_int_equal(replay_store_check(a, n, floor + 10, floor + 10, 1000), REPLAY_NEW);
	assert_int_equal(replay_store_check(b, n, floor + 10, floor + 20, 2000), REPLAY_SEEN);
	assert_int_equal(replay_store_size(a), 1); /* the first nonce expired by then */
	replay_store_put(a);
	replay_store_put(b);
	replay_store_put(other);

	/* a high-water mark on disk: a restarted store knows what was used */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	c.state = path;
	assert_int_equal(replay_store_get("ws", id, &c, &a, err, sizeof(err)), 0);
	t1 = floor + 10000; /* past any floor a store made now can have */
	assert_int_equal(replay_store_check(a, n, t1, t1, 2000), REPLAY_NEW);
	c.state = "/tmp/another";
	assert_true(replay_store_get("ws", id, &c, &b, err, sizeof(err)) < 0);
	replay_store_put(a);
	c.state = path;
	assert_int_equal(replay_store_get("ws", id, &c, &a, err, sizeof(err)), 0);
	assert_int_equal(replay_store_floor(a), t1 + 1000);
	n[0]++;
	assert_int_equal(replay_store_check(a, n, t1 + 500, t1 + 500, 2000), REPLAY_UNSURE);
	n[0]++;
	assert_int_equal(replay_store_check(a, n, t1 + 1001, t1 + 1001, 2000), REPLAY_NEW);
	replay_store_put(a);
	unlink(path);
}

static wstun_keys_t keys(const char *b64)
{
	wstun_keys_t k;
	uint8_t raw[KEY_MAX];
	size_t n;

	assert_int_equal(key_parse(b64, raw, &n), 0);
	assert_int_equal(wstun_keys_init(&k, raw, n), 0);
	return k;
}

static void test_token(void **st)
{
	wstun_keys_t k = keys("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	wstun_keys_t other = keys("HxAREhMUFRYXGBkaGxwdHh8AAQIDBAUGBwgJCgsMDQ4=");
	uint8_t nonce[16], open[WSTUN_OPEN_MAX], tok[WSTUN_TOKEN_MAX];
	target_t t, t2;
	wstun_token_t p;
	const uint8_t *data;
	size_t dlen;
	int n, ol;
	wstun_bind_t bind = {"srv.example:8443", 16, "/tun", 4};
	wstun_bind_t upper = {"SRV.Example:8443", 16, "/tun", 4};
	wstun_bind_t other_host = {"srv2.example:8443", 17, "/tun", 4};
	wstun_bind_t other_path = {"srv.example:8443", 16, "/tun2", 5};

	memset(nonce, 7, sizeof(nonce));
	target_set(&t, "example.org", 443);
	ol = wstun_open_encode(&t, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, open, sizeof(open));
	assert_int_equal(ol, 1 + 11 + 2 + 16);
	n = wstun_token_build(&k, &bind, WSTUN_F_ENC, 1700000000123ULL, nonce, open, (size_t)ol,
	                      tok, sizeof(tok));
	assert_int_equal(n, WSTUN_HDR + ol + SEAL_TAG + WSTUN_MAC);
	assert_int_equal(tok[0], 2);
	assert_int_equal(wstun_token_parse(&k, &bind, tok, (size_t)n, &p), 0);
	/* bound to Host (in any case) and path, not to the query */
	assert_int_equal(wstun_token_parse(&k, &upper, tok, (size_t)n, &p), 0);
	assert_int_equal(wstun_token_parse(&k, &other_host, tok, (size_t)n, &p), -EBADMSG);
	assert_int_equal(wstun_token_parse(&k, &other_path, tok, (size_t)n, &p), -EBADMSG);
	/* a version 1 token is refused as malformed */
	tok[0] = 1;
	assert_int_equal(wstun_token_parse(&k, &bind, tok, (size_t)n, &p), -EINVAL);
	tok[0] = 2;
	assert_int_equal(wstun_token_parse(&k, &bind, tok, (size_t)n, &p), 0);
	assert_int_equal(p.flags, WSTUN_F_ENC | WSTUN_F_OPEN);
	assert_int_equal(p.ts_ms, 1700000000123ULL);
	assert_memory_equal(p.nonce, nonce, 16);
	assert_int_equal(wstun_open_parse(p.open, p.open_len, &t2, &data, &dlen), 0);
	assert_string_equal(t2.host, "example.org");
	assert_int_equal(t2.port, 443);
	assert_int_equal(dlen, 16);
	assert_memory_equal(data, "GET / HTTP/1.1\r\n", 16);
	/* the target is not in clear in the token */
	assert_null(memmem(tok, (size_t)n, "example.org", 11));
	/* wrong key, tampering, truncation */
	assert_int_equal(wstun_token_parse(&other, &bind, tok, (size_t)n, &p), -74);
	for (int i = 0; i < n; i++) {
		tok[i] ^= 0x40;
		assert_true(wstun_token_parse(&k, &bind, tok, (size_t)n, &p) < 0);
		tok[i] ^= 0x40;
	}
	for (int i = 0; i < n; i++)
		assert_true(wstun_token_parse(&k, &bind, tok, (size_t)i, &p) < 0);
	/* a pool token: no open */
	n = wstun_token_build(&k, &bind, 0, 5, nonce, NULL, 0, tok, sizeof(tok));
	assert_int_equal(n, WSTUN_HDR + WSTUN_MAC);
	assert_int_equal(wstun_token_parse(&k, &bind, tok, (size_t)n, &p), 0);
	assert_int_equal(p.flags, 0);
	assert_int_equal(p.open_len, 0);
}

static void test_answer_and_records(void **st)
{
	wstun_keys_t k = keys("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	uint8_t cn[16], sn[16], sn2[16], ans[WSTUN_ANSWER], kc[32], ks[32], kc2[32], ke[32];
	seal_t tx, rx;
	sbuf_t *m;
	uint8_t type, status;

	memset(cn, 1, 16);
	memset(sn, 2, 16);
	wstun_answer_build(&k, cn, sn, WSTUN_A_EARLY, ans);
	assert_int_equal(wstun_answer_check(&k, cn, ans, sizeof(ans), sn2, &status), 0);
	assert_memory_equal(sn, sn2, 16);
	assert_int_equal(status, WSTUN_A_EARLY);
	ans[WSTUN_NONCE] = 0; /* the status is authenticated too */
	assert_true(wstun_answer_check(&k, cn, ans, sizeof(ans), sn2, &status) < 0);
	ans[WSTUN_NONCE] = WSTUN_A_EARLY;
	cn[0] ^= 1;
	assert_true(wstun_answer_check(&k, cn, ans, sizeof(ans), sn2, &status) < 0);
	cn[0] ^= 1;
	/* the early key depends on the client's nonce only; the session keys
	 * on both, so a replayed open meets another server nonce */
	wstun_dir_key(&k, WSTUN_K_EARLY, cn, NULL, ke);
	wstun_dir_key(&k, WSTUN_K_C2S, cn, sn, kc);
	wstun_dir_key(&k, WSTUN_K_S2C, cn, sn, ks);
	assert_memory_not_equal(kc, ke, 32);
	assert_memory_not_equal(kc, ks, 32);
	sn2[0] ^= 1;
	wstun_dir_key(&k, WSTUN_K_C2S, cn, sn2, kc2);
	assert_memory_not_equal(kc, kc2, 32);
	wstun_dir_key(&k, WSTUN_K_C2S, cn, sn, kc2);
	assert_memory_equal(kc, kc2, 32);
	assert_int_equal(wstun_dir_key(&k, WSTUN_K_C2S, cn, NULL, kc2), -EINVAL);
	seal_init(&tx, kc, 1, 1);
	seal_init(&rx, kc, 0, 1);
	m = wstun_rec_build(&tx, 0, WSTUN_REC_DATA, (const uint8_t *)"payload", 7);
	assert_int_equal(m->len, 1 + 7 + SEAL_TAG);
	assert_int_equal(wstun_rec_open(&rx, m, &type), 0);
	assert_int_equal(type, WSTUN_REC_DATA);
	assert_int_equal(m->len, 7);
	assert_memory_equal(sbuf_ptr(m), "payload", 7);
	sbuf_free(m);
	m = wstun_rec_build(&tx, 0, WSTUN_REC_LAST + 1, NULL, 0); /* unknown type */
	assert_int_equal(wstun_rec_open(&rx, m, &type), -22);
	sbuf_free(m);
	m = wstun_rec_build(NULL, 0, WSTUN_REC_EOF, NULL, 0); /* plain */
	assert_int_equal(wstun_rec_open(NULL, m, &type), 0);
	assert_int_equal(type, WSTUN_REC_EOF);
	sbuf_free(m);
	seal_free(&tx);
	seal_free(&rx);
}

static void test_open_parse_bad(void **st)
{
	target_t t;
	const uint8_t *d;
	size_t dl;

	assert_true(wstun_open_parse((const uint8_t *)"", 0, &t, &d, &dl) < 0);
	assert_true(wstun_open_parse((const uint8_t *)"\x00\x00\x50", 3, &t, &d, &dl) < 0);
	assert_true(wstun_open_parse((const uint8_t *)"\x05h", 2, &t, &d, &dl) < 0);
	assert_true(wstun_open_parse((const uint8_t *)"\x01h\x00\x00", 4, &t, &d, &dl) <
	            0); /* port 0 */
	assert_true(wstun_open_parse((const uint8_t *)"\x01 \x00\x50", 4, &t, &d, &dl) < 0);
	assert_int_equal(wstun_open_parse((const uint8_t *)"\x01h\x00\x50xyz", 7, &t, &d, &dl), 0);
	assert_int_equal(t.port, 80);
	assert_int_equal(dl, 3);
}

/* DGRAM bodies: the open body's address, then a datagram of up to 65507
 * bytes (an open body stops at 4096 first bytes). */
static void test_dgram_body(void **st)
{
	static uint8_t buf[3 + 255 + 65508];
	target_t t, t2;
	const uint8_t *d;
	size_t dl;
	int hl;

	target_set(&t, "2001:db8::1", 53);
	hl = wstun_dgram_hdr(&t, buf, sizeof(buf));
	assert_int_equal(hl, 3 + 11);
	memset(buf + hl, 'x', 65507);
	assert_int_equal(wstun_dgram_parse(buf, (size_t)hl + 65507, &t2, &d, &dl), 0);
	assert_string_equal(t2.host, "2001:db8::1");
	assert_int_equal(t2.port, 53);
	assert_int_equal(dl, 65507);
	assert_ptr_equal(d, buf + hl);
	assert_true(wstun_dgram_parse(buf, (size_t)hl + 65508, &t2, &d, &dl) < 0); /* too big */
	assert_true(wstun_open_parse(buf, (size_t)hl + 4097, &t2, &d, &dl) < 0);
	assert_int_equal(wstun_dgram_parse(buf, (size_t)hl, &t2, &d, &dl), 0); /* empty: fine */
	assert_int_equal(dl, 0);
	assert_true(wstun_dgram_parse(buf, 2, &t2, &d, &dl) < 0);
	memset(t.host, 'a', 256);
	t.host[256 - 1] = 0; /* 255 bytes fit */
	assert_int_equal(wstun_dgram_hdr(&t, buf, sizeof(buf)), 3 + 255);
	assert_true(wstun_dgram_hdr(&t, buf, 3 + 254) < 0);
}

/* A record built with room in front, sealed from two pieces (type, body)
 * straight into it, is byte for byte the record sealed from one buffer,
 * for every length around the cipher's block sizes and a full-sized one. */
static void test_record_room(void **st)
{
	static const size_t lens[] = {0, 1, 15, 16, 63, 64, 65, 255, 256, 1000, 65536};
	uint8_t key[SEAL_KEY], *body = malloc(65536), *flat = malloc(1 + 65536 + SEAL_TAG);
	seal_t a, b, rx;
	uint8_t type;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < 65536; i++)
		body[i] = (uint8_t)(i * 131 + 7);
	seal_init(&a, key, 1, 0);
	seal_init(&b, key, 1, 0);
	seal_init(&rx, key, 0, 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];
		sbuf_t *m = wstun_rec_build(&a, 14, WSTUN_REC_DATA, body, n);

		flat[0] = WSTUN_REC_DATA;
		memcpy(flat + 1, body, n);
		assert_int_equal(seal_seal(&b, NULL, 0, flat, 1 + n, flat),
		                 (int)(1 + n + SEAL_TAG));
		assert_int_equal(m->off, 14);
		assert_int_equal(m->len, 1 + n + SEAL_TAG);
		assert_memory_equal(sbuf_ptr(m), flat, 1 + n + SEAL_TAG);
		assert_int_equal(wstun_rec_open(&rx, m, &type), 0);
		assert_int_equal(type, WSTUN_REC_DATA);
		assert_int_equal(m->len, n);
		assert_memory_equal(sbuf_ptr(m), body, n);
		sbuf_free(m);
		m = wstun_rec_build(NULL, 14, WSTUN_REC_DATA, body, n); /* plain */
		assert_int_equal(m->off, 14);
		assert_int_equal(sbuf_ptr(m)[0], WSTUN_REC_DATA);
		assert_memory_equal(sbuf_ptr(m) + 1, body, n);
		sbuf_free(m);
	}
	seal_free(&a);
	seal_free(&b);
	seal_free(&rx);
	free(body);
	free(flat);
}

static void test_udp_records(void **st)
{
	sbuf_t *m;
	uint8_t type;

	/* the two record types of datagram associations are known */
	m = wstun_rec_build(NULL, 0, WSTUN_REC_UDP_OPEN, NULL, 0);
	assert_int_equal(wstun_rec_open(NULL, m, &type), 0);
	assert_int_equal(type, WSTUN_REC_UDP_OPEN);
	sbuf_free(m);
	m = wstun_rec_build(NULL, 0, WSTUN_REC_DGRAM, (const uint8_t *)"\x01h\x00\x35q", 5);
	assert_int_equal(wstun_rec_open(NULL, m, &type), 0);
	assert_int_equal(type, WSTUN_REC_DGRAM);
	sbuf_free(m);
	m = wstun_rec_build(NULL, 0, WSTUN_REC_LAST + 1, NULL, 0);
	assert_int_equal(wstun_rec_open(NULL, m, &type), -22);
	sbuf_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hkdf_rfc5869),
	    cmocka_unit_test(test_dgram_body),
	    cmocka_unit_test(test_record_room),
	    cmocka_unit_test(test_udp_records),
	    cmocka_unit_test(test_hmac_rfc4231),
	    cmocka_unit_test(test_hmac_rfc4231_long_key),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_seal_vector),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_replay_store),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_answer_and_records),
	    cmocka_unit_test(test_open_parse_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
