/* Unit tests for the pluggable transport's parsers (front/pt) and the
 * Extended ORPort handshake (front/extorport): the examples of pt-spec
 * and ext-orport-spec, escapes, malformed input, and the SAFE_COOKIE
 * exchange against a server written here from the spec (HMAC vectors
 * computed independently with Python's hmac module). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "front/extorport.h"
#include "front/pt_proto.h"

static void test_version(void **st)
{
	assert_int_equal(pt_version_pick("1"), 1);
	assert_int_equal(pt_version_pick("1,1a,2b,this_is_a_valid_ver"), 1);
	assert_int_equal(pt_version_pick("1a,2b,1"), 1);
	assert_int_equal(pt_version_pick("2"), 0);
	assert_int_equal(pt_version_pick("11"), 0);
	assert_int_equal(pt_version_pick(""), -EINVAL);
	assert_int_equal(pt_version_pick(NULL), -EINVAL);
	assert_int_equal(pt_version_pick("1,,2"), -EINVAL);
	assert_int_equal(pt_version_pick("1 ,2"), -EINVAL);
	assert_int_equal(pt_version_pick("1,"), -EINVAL);
}

static void test_list(void **st)
{
	const char *p = "obfs2,obfs3,obfs4";
	char out[16];

	assert_int_equal(pt_list_next(&p, out, sizeof(out)), 1);
	assert_string_equal(out, "obfs2");
	assert_int_equal(pt_list_next(&p, out, sizeof(out)), 1);
	assert_string_equal(out, "obfs3");
	assert_int_equal(pt_list_next(&p, out, sizeof(out)), 1);
	assert_string_equal(out, "obfs4");
	assert_int_equal(pt_list_next(&p, out, sizeof(out)), 0);
	p = "averyveryverylongname";
	assert_int_equal(pt_list_next(&p, out, sizeof(out)), -EINVAL);
	assert_true(pt_name_valid("ws", 2));
	assert_true(pt_name_valid("_x9", 3));
	assert_false(pt_name_valid("9x", 2));
	assert_false(pt_name_valid("a-b", 3));
	assert_false(pt_name_valid("", 0));
}

static void test_args(void **st)
{
	pt_args_t a = {0};
	const char *spec = "shared-secret=rahasia;secrets-file=/tmp/blob";

	/* pt-spec 3.5's example */
	assert_int_equal(pt_args_parse(spec, strlen(spec), &a), 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.kv[0].key, "shared-secret");
	assert_string_equal(a.kv[0].val, "rahasia");
	assert_string_equal(pt_args_get(&a, "secrets-file"), "/tmp/blob");
	assert_null(pt_args_get(&a, "nope"));

	/* escapes; and a raw '=' in a value (base64 padding, as tor sends it) */
	memset(&a, 0, sizeof(a));
	spec = "a=b\\;c;d=e\\=f;key=abc=;k\\=x=\\\\;e=";
	assert_int_equal(pt_args_parse(spec, strlen(spec), &a), 0);
	assert_int_equal(a.n, 5);
	assert_string_equal(a.kv[0].val, "b;c");
	assert_string_equal(a.kv[1].val, "e=f");
	assert_string_equal(a.kv[2].val, "abc=");
	assert_string_equal(a.kv[3].key, "k=x");
	assert_string_equal(a.kv[3].val, "\\");
	assert_string_equal(a.kv[4].val, "");

	const char *bad[] = {"key", "=v", "a=b;", "a=b\\", ";a=b", "a=b;;c=d"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0, sizeof(a));
		assert_int_equal(pt_args_parse(bad[i], strlen(bad[i]), &a), -EINVAL);
	}
	/* a NUL inside is not an argument list */
	memset(&a, 0, sizeof(a));
	assert_int_equal(pt_args_parse("a=b\0c", 5, &a), -EINVAL);
	/* too many */
	char many[PT_ARGS_MAX * 6 + 8] = "";
	for (int i = 0; i <= PT_ARGS_MAX; i++)
		sprintf(many + strlen(many), "%sk%d=v", i ? ";" : "", i);
	memset(&a, 0, sizeof(a));
	assert_int_equal(pt_args_parse(many, strlen(many), &a), -EINVAL);
	/* and an empty list is fine */
	memset(&a, 0, sizeof(a));
	assert_int_equal(pt_args_parse("", 0, &a), 0);
	assert_int_equal(a.n, 0);
}

static void test_socks_args(void **st)
{
	pt_args_t a = {0};
	char user[255], pass[64];

	/* all in the user name: the password is a lone NUL */
	assert_int_equal(pt_socks5_args("key=abc", 7, "\0", 1, &a), 0);
	assert_int_equal(a.n, 1);
	assert_string_equal(pt_args_get(&a, "key"), "abc");

	/* longer than 255: continued in the password */
	memset(user, 'x', sizeof(user));
	memcpy(user, "key=", 4);
	strcpy(pass, "yy;ping=30s");
	memset(&a, 0, sizeof(a));
	assert_int_equal(pt_socks5_args(user, sizeof(user), pass, strlen(pass), &a), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(strlen(pt_args_get(&a, "key")), 251 + 2);
	assert_string_equal(pt_args_get(&a, "ping"), "30s");
}

static void test_bridge_args(void **st)
{
	static const struct {
		const char *name, *args;
		int ok;
	} cases[] = {
	    {"ws", "key=abc", 1},
	    {"ws", "key=abc;ping=20s;dead=60s;fast-open=0", 1},
	    {"sctp", "key=abc", 1},
	    {"ws", "", 0},                    /* key= is required */
	    {"ws", "ping=20s", 0},            /* ... whatever else is there */
	    {"ws", "keyfile=/etc/passwd", 0}, /* a local file */
	    {"ws", "key=abc;keyfile=/etc/passwd", 0},
	    {"ws", "key=abc;insecure=1", 0}, /* TLS checks */
	    {"ws", "key=abc;ca=/tmp/evil.pem", 0},
	    {"ws", "key=abc;pool=64", 0}, /* resources */
	    {"ws", "key=abc;allow-target=0.0.0.0/0", 0},
	    {"sctp", "key=abc;ping=20s", 0}, /* ws's, not sctp's */
	    {"sctp", "key=abc;window=1", 0},
	    {"obfs4", "key=abc", 0},
	};
	char err[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pt_args_t a = {0};

		assert_int_equal(pt_args_parse(cases[i].args, strlen(cases[i].args), &a), 0);
		if ((pt_bridge_args_check(cases[i].name, &a, err, sizeof(err)) == 0) != cases[i].ok)
			fail_msg("%s %s: %s", cases[i].name, cases[i].args, err);
	}
}

static void test_server_options(void **st)
{
	const char *spec = "scramblesuit:key=banana;automata:rule=110;automata:depth=3";
	pt_args_t a = {0};

	assert_int_equal(pt_server_options(spec, "automata", &a), 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(pt_args_get(&a, "rule"), "110");
	assert_string_equal(pt_args_get(&a, "depth"), "3");
	memset(&a, 0, sizeof(a));
	assert_int_equal(pt_server_options(spec, "scramblesuit", &a), 0);
	assert_int_equal(a.n, 1);
	assert_string_equal(pt_args_get(&a, "key"), "banana");
	memset(&a, 0, sizeof(a));
	assert_int_equal(pt_server_options(spec, "ws", &a), 0);
	assert_int_equal(a.n, 0);
	assert_int_equal(pt_server_options(NULL, "ws", &a), 0);
	/* escaped colon, semicolon, equals, backslash */
	assert_int_equal(pt_server_options("ws:key=a\\:b\\;c\\=d\\\\e=", "ws", &a), 0);
	assert_string_equal(pt_args_get(&a, "key"), "a:b;c=d\\e=");
	const char *bad[] = {"ws", "ws:key", "9ws:key=1", "ws:key=1;", "ws:=1", ":key=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0, sizeof(a));
		assert_int_equal(pt_server_options(bad[i], "ws", &a), -EINVAL);
	}
}

static void test_bindaddr(void **st)
{
	const char *spec = "obfs3-198.51.100.1:1984,scramblesuit-127.0.0.1:4891,ws-[::1]:0";
	char out[64];

	assert_int_equal(pt_bindaddr(spec, "obfs3", out, sizeof(out)), 1);
	assert_string_equal(out, "198.51.100.1:1984");
	assert_int_equal(pt_bindaddr(spec, "scramblesuit", out, sizeof(out)), 1);
	assert_string_equal(out, "127.0.0.1:4891");
	assert_int_equal(pt_bindaddr(spec, "ws", out, sizeof(out)), 1);
	assert_string_equal(out, "[::1]:0");
	assert_int_equal(pt_bindaddr(spec, "obfs", out, sizeof(out)), 0);
	assert_int_equal(pt_bindaddr(NULL, "ws", out, sizeof(out)), 0);
	const char *bad[] = {"ws127.0.0.1:1", "ws-127.0.0.1", "ws-127.0.0.1:70000", "-1.2.3.4:5",
	                     "ws-1.2.3.4:5,", "ws-::1:5",     "ws-[::1]5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pt_bindaddr(bad[i], "ws", out, sizeof(out)), -EINVAL);
}

static void test_escape(void **st)
{
	char out[32];

	assert_int_equal(pt_args_escape("a=b,c\\", out, sizeof(out)), 9);
	assert_string_equal(out, "a\\=b\\,c\\\\");
	assert_int_equal(pt_args_escape("plain+/", out, sizeof(out)), 7);
	assert_string_equal(out, "plain+/");
	assert_int_equal(pt_args_escape("==========", out, 20), 0);
}

/* ---- Extended ORPort ---- */

static const uint8_t s2c_vec[32] = {
    0xfa, 0xba, 0x8a, 0xb7, 0x1b, 0xbd, 0xd5, 0xa5, 0x72, 0x7e, 0x15, 0x7d, 0x5a, 0xdf, 0x5d, 0x88,
    0x6e, 0x93, 0xa5, 0x21, 0x46, 0xe2, 0x08, 0x94, 0x69, 0xd3, 0xce, 0x3a, 0x01, 0x1b, 0xa7, 0xac};
static const uint8_t c2s_vec[32] = {
    0x13, 0x73, 0x88, 0x65, 0xf7, 0x7e, 0x41, 0x1d, 0xbd, 0xbb, 0xa9, 0x12, 0xd6, 0x0c, 0x06, 0xe3,
    0xfa, 0xfe, 0x1b, 0xb7, 0x62, 0xdc, 0xd9, 0x4b, 0xff, 0x70, 0xc0, 0xb8, 0xca, 0x15, 0x2d, 0x50};

static void vec_keys(uint8_t cookie[32], uint8_t cn[32], uint8_t sn[32])
{
	for (int i = 0; i < 32; i++)
		cookie[i] = (uint8_t)i;
	memset(cn, 0x11, 32);
	memset(sn, 0x22, 32);
}

static void test_extor_hash(void **st)
{
	uint8_t cookie[32], cn[32], sn[32], h[32];

	vec_keys(cookie, cn, sn);
	extor_hash(cookie, 0, cn, sn, h);
	assert_memory_equal(h, s2c_vec, 32);
	extor_hash(cookie, 1, cn, sn, h);
	assert_memory_equal(h, c2s_vec, 32);
}

static void test_extor_cookie(void **st)
{
	uint8_t file[64], cookie[32];

	memcpy(file, "! Extended ORPort Auth Cookie !\n", 32);
	for (int i = 0; i < 32; i++)
		file[32 + i] = (uint8_t)(0xa0 + i);
	assert_int_equal(extor_cookie_parse(file, 64, cookie), 0);
	assert_memory_equal(cookie, file + 32, 32);
	assert_int_equal(extor_cookie_parse(file, 63, cookie), -EINVAL);
	file[0] = '?';
	assert_int_equal(extor_cookie_parse(file, 64, cookie), -EINVAL);
	assert_true(extor_cookie_load("/nonexistent/cookie", cookie) < 0);
}

static void test_extor_cmd(void **st)
{
	uint8_t out[16];
	const uint8_t *body;
	size_t blen, used;
	uint16_t cmd;

	assert_int_equal(extor_cmd_encode(out, sizeof(out), EXTOR_CMD_TRANSPORT, "ws", 2), 6);
	assert_memory_equal(out, "\x00\x02\x00\x02ws", 6);
	assert_int_equal(extor_cmd_encode(out, 5, EXTOR_CMD_TRANSPORT, "ws", 2), 0);
	for (size_t n = 0; n < 6; n++)
		assert_int_equal(extor_cmd_parse(out, n, &cmd, &body, &blen, &used), EXTOR_MORE);
	assert_int_equal(extor_cmd_parse(out, 6, &cmd, &body, &blen, &used), EXTOR_OK);
	assert_int_equal(cmd, EXTOR_CMD_TRANSPORT);
	assert_int_equal(blen, 2);
	assert_int_equal(used, 6);
}

/* Run the handshake, tor's bytes cut into pieces of `step`. */
static extor_res_t run_hs(extor_hs_t *hs, const uint8_t *in, size_t len, size_t step, uint8_t *sent,
                          size_t *sentlen, size_t *left)
{
	uint8_t buf[512], out[EXTOR_OUT_MAX + 64];
	size_t have = 0, fed = 0, used, outlen;
	extor_res_t r = EXTOR_MORE;

	*sentlen = 0;
	while (fed < len || have) {
		size_t n = len - fed < step ? len - fed : step;
		memcpy(buf + have, in + fed, n);
		have += n;
		fed += n;
		r = extor_hs_feed(hs, buf, have, &used, out, sizeof(out), &outlen);
		memcpy(sent + *sentlen, out, outlen);
		*sentlen += outlen;
		memmove(buf, buf + used, have - used);
		have -= used;
		if (r != EXTOR_MORE || (fed == len && r == EXTOR_MORE))
			break;
	}
	*left = have + (len - fed);
	return r;
}

static void test_extor_handshake(void **st)
{
	uint8_t cookie[32], cn[32], sn[32], in[256], sent[512], want[256];
	size_t n = 0, w = 0, sentlen, left;
	extor_hs_t hs;

	vec_keys(cookie, cn, sn);
	/* what tor sends: auth types, hash + nonce, status, CONTROL (to be
	 * ignored), OKAY, then the first bytes of the OR protocol */
	in[n++] = 3;
	in[n++] = EXTOR_AUTH_SAFE_COOKIE;
	in[n++] = 0;
	memcpy(in + n, s2c_vec, 32), n += 32;
	memcpy(in + n, sn, 32), n += 32;
	in[n++] = 1;
	n += extor_cmd_encode(in + n, sizeof(in) - n, EXTOR_REPLY_CONTROL, "x", 1);
	n += extor_cmd_encode(in + n, sizeof(in) - n, EXTOR_REPLY_OKAY, NULL, 0);
	memcpy(in + n, "TLS", 3), n += 3;
	/* what we must send */
	want[w++] = EXTOR_AUTH_SAFE_COOKIE;
	memcpy(want + w, cn, 32), w += 32;
	memcpy(want + w, c2s_vec, 32), w += 32;
	w += extor_cmd_encode(want + w, sizeof(want) - w, EXTOR_CMD_USERADDR, "[::1]:5678", 10);
	w += extor_cmd_encode(want + w, sizeof(want) - w, EXTOR_CMD_TRANSPORT, "sctp", 4);
	w += extor_cmd_encode(want + w, sizeof(want) - w, EXTOR_CMD_DONE, NULL, 0);

	for (size_t step = 1; step <= n; step++) {
		extor_hs_init(&hs, cookie, cn, "[::1]:5678", "sctp");
		assert_int_equal(run_hs(&hs, in, n, step, sent, &sentlen, &left), EXTOR_OK);
		assert_int_equal(hs.state, EXTOR_DONE);
		assert_int_equal(sentlen, w);
		assert_memory_equal(sent, want, w);
		assert_int_equal(left, 3); /* "TLS" is the relay's */
	}
}

static void test_extor_failures(void **st)
{
	uint8_t cookie[32], cn[32], sn[32], in[256], sent[512];
	size_t n, sentlen, left;
	extor_hs_t hs;

	vec_keys(cookie, cn, sn);
	/* no SAFE_COOKIE offered */
	extor_hs_init(&hs, cookie, cn, NULL, NULL);
	assert_int_equal(run_hs(&hs, (const uint8_t *)"\x02\x00", 2, 2, sent, &sentlen, &left),
	                 EXTOR_ERR);
	assert_int_equal(hs.err, -EPROTO);
	/* a server that does not know the cookie */
	n = 0;
	in[n++] = 1;
	in[n++] = 0;
	memset(in + n, 0x55, 64), n += 64;
	extor_hs_init(&hs, cookie, cn, NULL, NULL);
	assert_int_equal(run_hs(&hs, in, n, n, sent, &sentlen, &left), EXTOR_ERR);
	assert_int_equal(hs.err, -EACCES);
	assert_int_equal(sentlen, 33); /* nothing keyed by the cookie left us */
	/* status 0, then DENY */
	n = 2;
	memcpy(in + n, s2c_vec, 32), n += 32;
	memcpy(in + n, sn, 32), n += 32;
	in[n++] = 0;
	extor_hs_init(&hs, cookie, cn, NULL, NULL);
	assert_int_equal(run_hs(&hs, in, n, 7, sent, &sentlen, &left), EXTOR_ERR);
	assert_int_equal(hs.err, -EACCES);
	in[n - 1] = 1;
	n += extor_cmd_encode(in + n, sizeof(in) - n, EXTOR_REPLY_DENY, NULL, 0);
	extor_hs_init(&hs, cookie, cn, NULL, NULL);
	assert_int_equal(run_hs(&hs, in, n, 5, sent, &sentlen, &left), EXTOR_ERR);
	assert_int_equal(hs.err, -EACCES);
	/* without useraddr and transport: only DONE after the hash */
	assert_memory_equal(sent + 65, "\x00\x00\x00\x00", 4);
	assert_int_equal(sentlen, 69);
	/* an endless auth type list */
	memset(in, 1, sizeof(in));
	extor_hs_init(&hs, cookie, cn, NULL, NULL);
	assert_int_equal(run_hs(&hs, in, sizeof(in), sizeof(in), sent, &sentlen, &left), EXTOR_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version),        cmocka_unit_test(test_list),
	    cmocka_unit_test(test_args),           cmocka_unit_test(test_socks_args),
	    cmocka_unit_test(test_bridge_args),    cmocka_unit_test(test_server_options),
	    cmocka_unit_test(test_bindaddr),       cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_extor_hash),     cmocka_unit_test(test_extor_cookie),
	    cmocka_unit_test(test_extor_cmd),      cmocka_unit_test(test_extor_handshake),
	    cmocka_unit_test(test_extor_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
