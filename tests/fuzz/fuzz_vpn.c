/* fuzz_vpn: arbitrary bytes into tunnel/vpn/vpn_proto and tunnel/vpn/vpn_users.
 *
 *   1. The input as a datagram, handed to every parser of both sides, the
 *      way vpn_server.c and vpn_client.c dispatch it (each with a fresh
 *      copy of a real handshake's state, so the checks past the length
 *      and type run).  An INIT of the right length also gets its mac1
 *      recomputed, to reach the decryption.  Nothing may be accepted that
 *      was not made with the keys (the fuzzer cannot forge Poly1305).
 *   2. The input as a users-file line: a line that parses must format and
 *      parse back to the same user.
 *   3. The input as a sequence of 16-bit counter steps for the replay
 *      window, checked against a plain model (a set of seen counters).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "tunnel/vpn/vpn_proto.h"
#include "tunnel/vpn/vpn_users.h"

static int ready;
static vpn_static_t srv, view;
static vpn_verifier_t ver;
static vpn_hs_t c_after_init, s_after_resp, c_after_confirm;
static uint8_t client_key[32], server_key[32], tkey[32];

static void setup(void)
{
	uint8_t priv[32], pub[32], init[VPN_INIT_LEN], resp[VPN_RESP_LEN], conf[VPN_CONFIRM_LEN];
	uint8_t salt[16], ln, r, p;
	vpn_hs_t s;

	memset(priv, 7, sizeof(priv));
	vpn_static_init(&srv, priv, NULL);
	memcpy(pub, srv.pub, 32);
	vpn_static_init(&view, NULL, pub);
	vpn_verifier_make("pw", 1, 1, 1, &ver);
	vpn_init_create(&c_after_init, &view, "alice", 1, 1, NULL, 0, init);
	vpn_init_consume(&s, &srv, init, sizeof(init));
	vpn_resp_create(&s, 2, &ver, resp);
	s_after_resp = s;
	c_after_confirm = c_after_init;
	vpn_resp_consume(&c_after_confirm, resp, sizeof(resp), salt, &ln, &r, &p);
	vpn_scram_keys("pw", salt, ln, r, p, client_key, server_key);
	vpn_confirm_create(&c_after_confirm, client_key, 0, conf);
	random_bytes(tkey, sizeof(tkey));
	ready = 1;
}

static void datagram(const uint8_t *d, size_t n)
{
	vpn_hs_t hs;
	uint8_t salt[16], ln, r, p, cookie[16], pub[32], buf[VPN_PKT_MAX];
	uint32_t prev, idx;
	uint64_t ctr;
	vpn_assign_t a;
	aead_t ae;
	vpn_replay_t rp = {0};

	if (vpn_init_check_mac1(&srv, d, n) == 0 && vpn_init_consume(&hs, &srv, d, n) == 0) {
		/* only a real INIT decrypts: the fuzzer cannot make one */
		abort();
	}
	if (n == VPN_INIT_LEN) {
		uint8_t m[VPN_INIT_LEN], full[32];
		memcpy(m, d, n);
		m[0] = VPN_MSG_INIT;
		m[1] = m[2] = m[3] = 0;
		hmac_sha256(srv.mac1_key, 32, m, VPN_INIT_MAC1_OFF, full);
		memcpy(m + VPN_INIT_MAC1_OFF, full, 16);
		if (vpn_init_check_mac1(&srv, m, n) != 0)
			abort();
		vpn_init_check_mac2(cookie, m, n);
		if (vpn_init_consume(&hs, &srv, m, n) == 0 && strlen(hs.user) > VPN_USER_MAX)
			abort();
	}
	hs = c_after_init;
	if (vpn_resp_consume(&hs, d, n, salt, &ln, &r, &p) == 0)
		abort();
	if (memcmp(&hs, &c_after_init, sizeof(hs)))
		abort(); /* a rejected RESP leaves the state alone */
	hs = s_after_resp;
	if (vpn_confirm_consume(&hs, &ver, d, n, &prev) == 0)
		abort();
	hs = c_after_confirm;
	if (vpn_accept_consume(&hs, server_key, d, n, &a) == 0)
		abort();
	hs = c_after_init;
	if (vpn_cookie_consume(&view, &hs, d, n, cookie) == 0)
		abort();
	vpn_keyreq_check(d, n);
	if (vpn_keyresp_consume(d, n, pub) == 0 && n != VPN_KEYRESP_LEN)
		abort();
	if (vpn_data_peek(d, n, &idx, &ctr) == 0) {
		if (n < VPN_OVERHEAD || n > sizeof(buf) + VPN_OVERHEAD)
			abort();
		aead_init(&ae, AEAD_CHACHA20_POLY1305, tkey, 0);
		if (vpn_data_open(&ae, &rp, d, n, buf) >= 0)
			abort();
		aead_free(&ae);
	}
}

static void users_line(const uint8_t *d, size_t n)
{
	char line[600], out[600];
	vpn_user_t u, w;

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, d, n);
	line[n] = 0;
	if (vpn_user_parse(line, &u) == 1) {
		if (vpn_user_format(&u, out, sizeof(out)) < 0 || vpn_user_parse(out, &w) != 1 ||
		    memcmp(&u, &w, sizeof(u)))
			abort();
	}
}

static void window(const uint8_t *d, size_t n)
{
	static uint8_t seen[1 << 17];
	vpn_replay_t r = {0};
	uint64_t ctr = 0, top = 0;

	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i + 2 <= n; i += 2) {
		int16_t step = (int16_t)(d[i] | d[i + 1] << 8);
		int64_t c = (int64_t)ctr + step / 8;
		if (c < 0 || c >= (int64_t)sizeof(seen))
			continue;
		ctr = (uint64_t)c;
		int want = !seen[ctr] && ctr + VPN_WINDOW >= top + 0 &&
		           !(top > ctr && top - ctr > VPN_WINDOW);
		if (vpn_replay_check(&r, ctr) != want)
			abort();
		if (want) {
			vpn_replay_update(&r, ctr);
			seen[ctr] = 1;
			if (ctr + 1 > top)
				top = ctr + 1;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		setup();
	datagram(data, size);
	users_line(data, size);
	window(data, size);
	return 0;
}
