/* Unit tests: tunnel/vpn/vpn_proto (handshake, cookies, transport, replay
 * window), tunnel/vpn/vpn_users (the users file) and tunnel/vpn/vpn_lock (failed
 * logins per user and source). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "core/crypto.h"
#include "tunnel/vpn/vpn_lock.h"
#include "tunnel/vpn/vpn_proto.h"
#include "tunnel/vpn/vpn_users.h"

#define LN 4 /* cheap scrypt for tests */

typedef struct pair {
	vpn_static_t srv, cli_view;
	vpn_verifier_t v;
	vpn_hs_t c, s;
	uint8_t ck[32], sk[32];
} pair_t;

static void setup_pair(pair_t *p, const char *pw)
{
	uint8_t priv[32], pub[32];

	assert_int_equal(vpn_keypair(priv, pub), 0);
	assert_int_equal(vpn_static_init(&p->srv, priv, NULL), 0);
	assert_memory_equal(p->srv.pub, pub, 32);
	assert_int_equal(vpn_static_init(&p->cli_view, NULL, pub), 0);
	assert_memory_equal(p->srv.mac1_key, p->cli_view.mac1_key, 32);
	assert_int_equal(vpn_verifier_make(pw, LN, 8, 1, &p->v), 0);
}

/* Runs INIT (from user, offering flags), RESP, CONFIRM; returns
 * confirm_consume's result. */
static int handshake_as(pair_t *p, const char *pw, const char *user, unsigned flags)
{
	uint8_t init[VPN_INIT_LEN], resp[VPN_RESP_LEN], conf[VPN_CONFIRM_LEN], salt[16], ln, r, pp;
	uint32_t prev = 1;

	assert_int_equal(
	    vpn_init_create(&p->c, &p->cli_view, user, 0x11223344, 1000, NULL, flags, init), 0);
	assert_int_equal(vpn_init_check_mac1(&p->srv, init, sizeof(init)), 0);
	assert_int_equal(vpn_init_consume(&p->s, &p->srv, init, sizeof(init)), 0);
	assert_string_equal(p->s.user, user);
	assert_int_equal(p->s.ts, 1000);
	assert_int_equal(p->s.remote_idx, 0x11223344);
	assert_int_equal(vpn_resp_create(&p->s, 0x55667788, &p->v, resp), 0);
	assert_int_equal(vpn_resp_consume(&p->c, resp, sizeof(resp), salt, &ln, &r, &pp), 0);
	assert_memory_equal(salt, p->v.salt, 16);
	assert_int_equal(ln, LN);
	assert_int_equal(vpn_scram_keys(pw, salt, ln, r, pp, p->ck, p->sk), 0);
	assert_int_equal(vpn_confirm_create(&p->c, p->ck, 0, conf), 0);
	return vpn_confirm_consume(&p->s, &p->v, conf, sizeof(conf), &prev);
}

static int handshake(pair_t *p, const char *pw)
{
	return handshake_as(p, pw, "alice", 0);
}

static void test_handshake_and_transport(void **st)
{
	pair_t p;
	uint8_t acc[VPN_ACCEPT6_LEN], ct[VPN_OVERHEAD + 100], pt[100], out[100];
	uint8_t ctx[32], crx[32], stx[32], srx[32];
	vpn_assign_t a = {.addr = 0x0200000a,
	                  .gateway = 0x0100000a,
	                  .dns = 0xfe00000a,
	                  .prefix = 24,
	                  .mtu = 1420,
	                  .keepalive = 15},
	             b;
	aead_t ce, sd;
	vpn_replay_t rp = {0};

	setup_pair(&p, "pw");
	assert_int_equal(handshake(&p, "pw"), 0);
	assert_int_equal(vpn_accept_create(&p.s, p.v.server_key, &a, acc), VPN_ACCEPT_LEN);
	/* a server that does not know the password cannot sign */
	{
		uint8_t wrong[32] = {1};
		vpn_hs_t copy = p.c;
		assert_int_equal(vpn_accept_consume(&copy, wrong, acc, VPN_ACCEPT_LEN, &b),
		                 -EACCES);
	}
	/* with IPv6: the longer ACCEPT, and its block read back */
	{
		vpn_hs_t cs = p.s, cc = p.c;
		vpn_assign_t a6 = a, b6;
		uint8_t bad[VPN_ACCEPT6_LEN];
		a6.prefix6 = 64;
		memset(a6.addr6, 0xfd, 16);
		memset(a6.dns6, 0xfe, 16);
		assert_int_equal(vpn_accept_create(&cs, p.v.server_key, &a6, bad), VPN_ACCEPT6_LEN);
		assert_int_equal(vpn_accept_consume(&cc, p.sk, bad, VPN_ACCEPT6_LEN, &b6), 0);
		assert_int_equal(b6.prefix6, 64);
		assert_memory_equal(b6.addr6, a6.addr6, 16);
		assert_memory_equal(b6.dns6, a6.dns6, 16);
		assert_int_equal(b6.addr, a.addr);
		/* any other length, or a bit changed, is refused */
		assert_int_equal(vpn_accept_consume(&cc, p.sk, bad, VPN_ACCEPT6_LEN - 1, &b6),
		                 -EBADMSG);
		bad[60] ^= 1;
		assert_true(vpn_accept_consume(&cc, p.sk, bad, VPN_ACCEPT6_LEN, &b6) < 0);
		a6.prefix6 = 129;
		assert_int_equal(vpn_accept_create(&cs, p.v.server_key, &a6, bad), -EINVAL);
	}
	assert_int_equal(vpn_accept_consume(&p.c, p.sk, acc, VPN_ACCEPT_LEN, &b), 0);
	assert_int_equal(b.prefix6, 0);
	assert_int_equal(a.addr, b.addr);
	assert_int_equal(a.gateway, b.gateway);
	assert_int_equal(a.dns, b.dns);
	assert_int_equal(a.prefix, b.prefix);
	assert_int_equal(a.mtu, b.mtu);
	assert_int_equal(a.keepalive, b.keepalive);
	vpn_hs_transport(&p.c, 1, ctx, crx);
	vpn_hs_transport(&p.s, 0, stx, srx);
	assert_memory_equal(ctx, srx, 32);
	assert_memory_equal(crx, stx, 32);
	assert_memory_not_equal(ctx, crx, 32);

	memset(pt, 0x45, sizeof(pt));
	assert_int_equal(aead_init(&ce, AEAD_CHACHA20_POLY1305, ctx, 1), 0);
	assert_int_equal(aead_init(&sd, AEAD_CHACHA20_POLY1305, srx, 0), 0);
	for (uint64_t i = 0; i < 5; i++) {
		int n = vpn_data_seal(&ce, 0x55667788, i, pt, sizeof(pt), ct);
		assert_int_equal(n, sizeof(ct));
		/* a modified packet fails, and does not spoil the next one */
		ct[20] ^= 1;
		assert_int_equal(vpn_data_open(&sd, &rp, ct, sizeof(ct), out), -EBADMSG);
		ct[20] ^= 1;
		ct[9] ^= 1; /* the counter is authenticated too */
		assert_int_equal(vpn_data_open(&sd, &rp, ct, sizeof(ct), out), -EBADMSG);
		ct[9] ^= 1;
		assert_int_equal(vpn_data_open(&sd, &rp, ct, sizeof(ct), out), sizeof(pt));
		assert_memory_equal(out, pt, sizeof(pt));
		assert_int_equal(vpn_data_open(&sd, &rp, ct, sizeof(ct), out), -EALREADY);
	}
	/* keepalive: empty payload */
	assert_int_equal(vpn_data_seal(&ce, 1, 9, NULL, 0, ct), VPN_OVERHEAD);
	assert_int_equal(vpn_data_open(&sd, &rp, ct, VPN_OVERHEAD, out), 0);
	assert_int_equal(vpn_data_open(&sd, &rp, ct, VPN_OVERHEAD - 1, out), -EBADMSG);
	aead_free(&ce);
	aead_free(&sd);
}

/* The DATA cipher: INIT offers AES-128-GCM, ACCEPT picks; a client takes
 * only what it offered, and both ends then open each other's DATA. */
static void test_cipher_choice(void **st)
{
	static const char long_name[] =
	    "u23456789012345678901234567890123456789012345678901234567890123";
	vpn_assign_t a = {.addr = 0x0200000a, .prefix = 24, .mtu = 1420, .keepalive = 15}, b;
	uint8_t acc[VPN_ACCEPT6_LEN], ct[VPN_OVERHEAD + 100], pt[100], out[100];
	uint8_t ctx[32], crx[32], stx[32], srx[32];
	vpn_replay_t rp = {0};
	aead_t ce, sd, cc;
	pair_t p;

	(void)st;
	_Static_assert(sizeof(long_name) == VPN_USER_MAX + 1, "a name of the longest length");
	/* offered: the server sees the offer, the client takes AES */
	setup_pair(&p, "pw");
	assert_int_equal(handshake_as(&p, "pw", "alice", VPN_F_AES), 0);
	assert_int_equal(p.s.flags, VPN_F_AES);
	a.cipher = VPN_CIPHER_AES128;
	assert_int_equal(vpn_accept_create(&p.s, p.v.server_key, &a, acc), VPN_ACCEPT_LEN);
	assert_int_equal(vpn_accept_consume(&p.c, p.sk, acc, VPN_ACCEPT_LEN, &b), 0);
	assert_int_equal(b.cipher, VPN_CIPHER_AES128);
	assert_int_equal(vpn_cipher_alg(b.cipher), AEAD_AES_128_GCM);
	vpn_hs_transport(&p.c, 1, ctx, crx);
	vpn_hs_transport(&p.s, 0, stx, srx);
	memset(pt, 0x45, sizeof(pt));
	assert_int_equal(aead_init(&ce, vpn_cipher_alg(b.cipher), ctx, 1), 0);
	assert_int_equal(aead_init(&sd, vpn_cipher_alg(a.cipher), srx, 0), 0);
	assert_int_equal(aead_init(&cc, AEAD_CHACHA20_POLY1305, srx, 0), 0);
	assert_int_equal(vpn_data_seal(&ce, 1, 0, pt, sizeof(pt), ct), sizeof(ct));
	/* the other cipher under the same key opens nothing */
	assert_int_equal(vpn_data_open(&cc, &rp, ct, sizeof(ct), out), -EBADMSG);
	assert_int_equal(vpn_data_open(&sd, &rp, ct, sizeof(ct), out), sizeof(pt));
	assert_memory_equal(out, pt, sizeof(pt));
	aead_free(&ce);
	aead_free(&sd);
	aead_free(&cc);

	/* not offered (a client that knows no offers): AES in ACCEPT is refused,
	 * as is a cipher nobody knows */
	setup_pair(&p, "pw");
	assert_int_equal(handshake_as(&p, "pw", "alice", 0), 0);
	assert_int_equal(p.s.flags, 0);
	{
		vpn_hs_t cs = p.s, c2 = p.c;
		a.cipher = VPN_CIPHER_AES128;
		assert_int_equal(vpn_accept_create(&cs, p.v.server_key, &a, acc), VPN_ACCEPT_LEN);
		assert_int_equal(vpn_accept_consume(&c2, p.sk, acc, VPN_ACCEPT_LEN, &b), -EBADMSG);
		cs = p.s;
		c2 = p.c;
		c2.flags = VPN_F_AES;
		a.cipher = 2;
		assert_int_equal(vpn_accept_create(&cs, p.v.server_key, &a, acc), VPN_ACCEPT_LEN);
		assert_int_equal(vpn_accept_consume(&c2, p.sk, acc, VPN_ACCEPT_LEN, &b), -EBADMSG);
	}
	a.cipher = VPN_CIPHER_CHACHA;
	assert_int_equal(vpn_accept_create(&p.s, p.v.server_key, &a, acc), VPN_ACCEPT_LEN);
	assert_int_equal(vpn_accept_consume(&p.c, p.sk, acc, VPN_ACCEPT_LEN, &b), 0);
	assert_int_equal(b.cipher, VPN_CIPHER_CHACHA);

	/* a 63-character name leaves no room for offers: none reach the server */
	setup_pair(&p, "pw");
	assert_int_equal(handshake_as(&p, "pw", long_name, VPN_F_AES), 0);
	assert_int_equal(p.s.flags, 0);
	assert_int_equal(p.c.flags, 0);
}

static void test_wrong_password(void **st)
{
	pair_t p;

	setup_pair(&p, "right");
	assert_int_equal(handshake(&p, "wrong"), -EACCES);
}

static void test_tampered_handshake(void **st)
{
	pair_t p;
	uint8_t init[VPN_INIT_LEN], resp[VPN_RESP_LEN], bad[VPN_RESP_LEN], salt[16], ln, r, pp;
	vpn_hs_t s2;

	setup_pair(&p, "pw");
	assert_int_equal(vpn_init_create(&p.c, &p.cli_view, "alice", 7, 5, NULL, 0, init), 0);
	for (size_t i = 0; i < VPN_INIT_MAC1_OFF; i += 13) {
		init[i] ^= 0x80;
		assert_int_equal(vpn_init_check_mac1(&p.srv, init, sizeof(init)), -EBADMSG);
		init[i] ^= 0x80;
	}
	/* a bit flipped under a recomputed mac1 still fails decryption */
	init[60] ^= 1;
	assert_int_not_equal(vpn_init_consume(&s2, &p.srv, init, sizeof(init)), 0);
	init[60] ^= 1;
	assert_int_equal(vpn_init_consume(&p.s, &p.srv, init, sizeof(init)), 0);
	assert_int_equal(vpn_resp_create(&p.s, 9, &p.v, resp), 0);
	/* a forged RESP is rejected and leaves the state for the real one */
	memcpy(bad, resp, sizeof(bad));
	bad[50] ^= 4;
	assert_int_equal(vpn_resp_consume(&p.c, bad, sizeof(bad), salt, &ln, &r, &pp), -EBADMSG);
	assert_int_equal(vpn_resp_consume(&p.c, resp, sizeof(resp) - 1, salt, &ln, &r, &pp),
	                 -EBADMSG);
	assert_int_equal(vpn_resp_consume(&p.c, resp, sizeof(resp), salt, &ln, &r, &pp), 0);
	/* the same INIT has the same nonce (the replay cache key) */
	{
		uint8_t n1[16], n2[16], init2[VPN_INIT_LEN];
		vpn_hs_t c2;
		vpn_init_nonce(init, n1);
		vpn_init_nonce(init, n2);
		assert_memory_equal(n1, n2, 16);
		assert_int_equal(vpn_init_create(&c2, &p.cli_view, "alice", 7, 5, NULL, 0, init2),
		                 0);
		vpn_init_nonce(init2, n2);
		assert_memory_not_equal(n1, n2, 16);
	}
}

static void test_cookie(void **st)
{
	pair_t p;
	uint8_t secret[32], cookie[16], got[16], init[VPN_INIT_LEN], rep[VPN_COOKIE_LEN];
	const uint8_t addr[6] = {127, 0, 0, 1, 0x15, 0xb3};

	setup_pair(&p, "pw");
	random_bytes(secret, sizeof(secret));
	vpn_cookie_make(secret, addr, sizeof(addr), cookie);
	assert_int_equal(vpn_init_create(&p.c, &p.cli_view, "bob", 3, 5, NULL, 0, init), 0);
	assert_int_equal(vpn_init_check_mac2(cookie, init, sizeof(init)), -EAGAIN);
	assert_int_equal(vpn_cookie_create(&p.srv, init, cookie, rep), 0);
	assert_int_equal(vpn_cookie_consume(&p.cli_view, &p.c, rep, sizeof(rep), got), 0);
	assert_memory_equal(got, cookie, 16);
	rep[30] ^= 1;
	assert_int_equal(vpn_cookie_consume(&p.cli_view, &p.c, rep, sizeof(rep), got), -EBADMSG);
	assert_int_equal(vpn_init_create(&p.c, &p.cli_view, "bob", 3, 5, cookie, 0, init), 0);
	assert_int_equal(vpn_init_check_mac1(&p.srv, init, sizeof(init)), 0);
	assert_int_equal(vpn_init_check_mac2(cookie, init, sizeof(init)), 0);
}

static void test_replay_window(void **st)
{
	vpn_replay_t r = {0};

	assert_true(vpn_replay_check(&r, 0));
	vpn_replay_update(&r, 0);
	assert_false(vpn_replay_check(&r, 0));
	/* out of order within the window */
	vpn_replay_update(&r, 10);
	assert_true(vpn_replay_check(&r, 5));
	vpn_replay_update(&r, 5);
	assert_false(vpn_replay_check(&r, 5));
	assert_false(vpn_replay_check(&r, 10));
	assert_true(vpn_replay_check(&r, 9));
	/* a jump: old counters fall out of the window */
	vpn_replay_update(&r, 10 + VPN_WINDOW);
	assert_false(vpn_replay_check(&r, 9));
	assert_false(vpn_replay_check(&r, 10));
	assert_true(vpn_replay_check(&r, 11));
	assert_false(vpn_replay_check(&r, 10 + VPN_WINDOW));
	/* bits of a reused slot are cleared */
	for (uint64_t c = 11; c < 11 + 3 * VPN_WINDOW; c++) {
		if (c > 10 + VPN_WINDOW)
			assert_true(vpn_replay_check(&r, c));
		vpn_replay_update(&r, c);
		assert_false(vpn_replay_check(&r, c));
	}
	assert_false(vpn_replay_check(&r, VPN_REJECT_AFTER_MSGS));
}

static void test_users_file(void **st)
{
	vpn_user_t u, w;
	char line[512];

	memset(&u, 0, sizeof(u));
	strcpy(u.name, "carol");
	assert_int_equal(vpn_verifier_make("x", LN, 8, 1, &u.v), 0);
	u.addr = 0x1400000a;
	assert_true(vpn_user_format(&u, line, sizeof(line)) > 0);
	assert_int_equal(vpn_user_parse(line, &w), 1);
	assert_memory_equal(&u, &w, sizeof(u));
	assert_int_equal(vpn_user_parse("# comment", &w), 0);
	assert_int_equal(vpn_user_parse("   ", &w), 0);
	assert_int_equal(vpn_user_parse("carol:plaintext", &w), -EINVAL);
	assert_int_equal(vpn_user_parse("carol:$scrypt$ln=99,r=8,p=1$AAAA$AAAA$AAAA", &w), -EINVAL);
	assert_int_equal(vpn_user_parse(":$scrypt$ln=4,r=8,p=1$AAAA$AAAA$AAAA", &w), -EINVAL);
	line[strlen(line) - 2] = 0; /* a broken address */
	strcat(line, "x");
	assert_int_equal(vpn_user_parse(line, &w), -EINVAL);
}

static struct sockaddr_storage sa(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr),
		                 1);
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	}
	return ss;
}

#define SA(ip, port) ((struct sockaddr *)(struct sockaddr_storage[1]){sa(ip, port)})

static void test_lock_backoff(void **st)
{
	vlock_t *t = vlock_new(64);
	uint64_t now = 1000000, d;

	/* free failures, then 1 s doubling up to the cap */
	for (int i = 1; i < VLOCK_FREE; i++)
		assert_int_equal(vlock_fail(t, "alice", SA("192.0.2.1", 1000 + i), now), 0);
	assert_int_equal(vlock_left(t, "alice", SA("192.0.2.1", 5), now), 0);
	assert_int_equal(vlock_fail(t, "alice", SA("192.0.2.1", 7), now), VLOCK_BASE_MS);
	assert_int_equal(vlock_left(t, "alice", SA("192.0.2.1", 9), now + 400),
	                 VLOCK_BASE_MS - 400);
	assert_int_equal(vlock_fail(t, "alice", SA("192.0.2.1", 7), now), 2 * VLOCK_BASE_MS);
	for (int i = 0; i < 20; i++)
		d = vlock_fail(t, "alice", SA("192.0.2.1", 7), now);
	assert_int_equal(d, VLOCK_MAX_MS);
	/* the pair only: the user elsewhere, another name here */
	assert_int_equal(vlock_left(t, "alice", SA("192.0.2.2", 7), now), 0);
	assert_int_equal(vlock_left(t, "bob", SA("192.0.2.1", 7), now), 0);
	assert_int_equal(vlock_left(t, "alice", SA("192.0.2.1", 7), now + VLOCK_MAX_MS), 0);
	/* forgotten after a quiet while: the free failures again */
	now += VLOCK_MAX_MS + VLOCK_FORGET_MS;
	assert_int_equal(vlock_fail(t, "alice", SA("192.0.2.1", 7), now), 0);
	/* a success clears it */
	vlock_fail(t, "alice", SA("192.0.2.1", 7), now);
	assert_true(vlock_fail(t, "alice", SA("192.0.2.1", 7), now) > 0);
	vlock_ok(t, "alice", SA("192.0.2.1", 8));
	assert_int_equal(vlock_left(t, "alice", SA("192.0.2.1", 7), now), 0);
	assert_int_equal(vlock_fail(t, "alice", SA("192.0.2.1", 7), now), 0);
	/* IPv6: the /64 is the source */
	for (int i = 0; i < VLOCK_FREE; i++)
		vlock_fail(t, "carol", SA("2001:db8:1:2::1", 1), now);
	assert_true(vlock_left(t, "carol", SA("2001:db8:1:2:ffff::9", 1), now) > 0);
	assert_int_equal(vlock_left(t, "carol", SA("2001:db8:1:3::1", 1), now), 0);
	vlock_free(t);
}

/* A flood of other pairs does not flush a locked one out of the table. */
static void test_lock_table(void **st)
{
	vlock_t *t = vlock_new(VLOCK_PROBES);
	uint64_t now = 5000;
	char name[32];

	for (int i = 0; i < VLOCK_FREE + 3; i++)
		vlock_fail(t, "alice", SA("198.51.100.7", 1), now);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		vlock_fail(t, name, SA("198.51.100.7", 1), now);
	}
	assert_true(vlock_left(t, "alice", SA("198.51.100.7", 1), now) > 0);
	vlock_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_and_transport),
	    cmocka_unit_test(test_cipher_choice),
	    cmocka_unit_test(test_wrong_password),
	    cmocka_unit_test(test_tampered_handshake),
	    cmocka_unit_test(test_cookie),
	    cmocka_unit_test(test_replay_window),
	    cmocka_unit_test(test_users_file),
	    cmocka_unit_test(test_lock_backoff),
	    cmocka_unit_test(test_lock_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
