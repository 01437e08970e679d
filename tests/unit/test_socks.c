/* Unit tests for socks_proto: byte vectors from RFC 1928, RFC 1929 and the
 * SOCKS4/4a documents; every message is also fed truncated at each length
 * (it must ask for more, never fail or read past the end) and with bytes
 * after it (they must not be consumed).  Then the socks5 hop against a
 * scripted server in the same loop: target bytes that ride with the reply,
 * RFC 1929, failure codes, nonsense, and cancel at every stage (the
 * callback must never fire after it).  Last, the front end through that
 * hop: what its chain is told (the client's address, and in the
 * SOCKS_PASS_CRED mode the credentials as sent). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "app/transports.h"
#include "core/dial.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/url.h"
#include "front/socks.h"
#include "wire/socks_proto.h"

/* Copy to an exact-size heap block so ASan sees any over-read. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	assert_non_null(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

typedef socks_res_t (*parse_fn)(const uint8_t *buf, size_t len, void *out, size_t *used);

/* Every strict prefix of msg must be NEED_MORE; msg itself OK using all of
 * it; msg plus trailing bytes OK using only msg. */
static void check_prefixes(parse_fn fn, const uint8_t *msg, size_t n, void *out)
{
	uint8_t big[1200];
	size_t used;

	for (size_t i = 0; i < n; i++) {
		uint8_t *d = dup_exact(msg, i);
		used = 12345;
		assert_int_equal(fn(d, i, out, &used), SOCKS_NEED_MORE);
		assert_int_equal(used, 12345);
		free(d);
	}
	uint8_t *d = dup_exact(msg, n);
	used = 0;
	assert_int_equal(fn(d, n, out, &used), SOCKS_OK);
	assert_int_equal(used, n);
	free(d);
	assert_true(n + 7 <= sizeof(big));
	memcpy(big, msg, n);
	memcpy(big + n, "trailer", 7);
	used = 0;
	assert_int_equal(fn(big, n + 7, out, &used), SOCKS_OK);
	assert_int_equal(used, n);
}

#define PF(f) ((parse_fn)(f))

/* ---- SOCKS5 greeting ---- */

static void test_greeting(void **state)
{
	static const uint8_t m[] = {5, 2, 0, 2};
	socks5_greeting_t g;

	check_prefixes(PF(socks5_greeting_parse), m, sizeof(m), &g);
	assert_int_equal(g.nmethods, 2);
	assert_true(socks5_greeting_has(&g, SOCKS5_METHOD_NONE));
	assert_true(socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS));
	assert_false(socks5_greeting_has(&g, SOCKS5_METHOD_GSSAPI));
}

static void test_greeting_all_methods(void **state)
{
	uint8_t m[257];
	socks5_greeting_t g;

	m[0] = 5;
	m[1] = 255;
	for (int i = 0; i < 255; i++)
		m[2 + i] = (uint8_t)i;
	check_prefixes(PF(socks5_greeting_parse), m, sizeof(m), &g);
	assert_int_equal(g.nmethods, 255);
	assert_true(socks5_greeting_has(&g, 254));
	assert_false(socks5_greeting_has(&g, 255));
}

static void test_greeting_bad(void **state)
{
	static const uint8_t v4[] = {4, 1, 0};
	static const uint8_t zero[] = {5, 0};
	static const uint8_t http[] = "GET / HTTP/1.1\r\n";
	socks5_greeting_t g;
	size_t used;

	assert_int_equal(socks5_greeting_parse(v4, 1, &g, &used), SOCKS_ERROR);
	assert_int_equal(socks5_greeting_parse(v4, sizeof(v4), &g, &used), SOCKS_ERROR);
	assert_int_equal(socks5_greeting_parse(zero, sizeof(zero), &g, &used), SOCKS_ERROR);
	assert_int_equal(socks5_greeting_parse(http, sizeof(http) - 1, &g, &used), SOCKS_ERROR);
	assert_int_equal(socks5_greeting_parse(NULL, 0, &g, &used), SOCKS_NEED_MORE);
}

static void test_method_encode(void **state)
{
	uint8_t out[2];

	assert_int_equal(socks5_method_encode(out, sizeof(out), SOCKS5_METHOD_NOACCEPT), 2);
	assert_memory_equal(out, "\x05\xff", 2);
	assert_int_equal(socks5_method_encode(out, 1, 0), 0);
	assert_int_equal(socks5_auth_status_encode(out, sizeof(out), 1), 2);
	assert_memory_equal(out, "\x01\x01", 2);
}

/* ---- RFC 1929 ---- */

static void test_userpass(void **state)
{
	static const uint8_t m[] = {1, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', 'e', 'c', 'r', 'e', 't'};
	socks5_userpass_t up;

	check_prefixes(PF(socks5_userpass_parse), m, sizeof(m), &up);
	assert_int_equal(up.ulen, 5);
	assert_string_equal(up.user, "alice");
	assert_int_equal(up.plen, 6);
	assert_string_equal(up.pass, "secret");
}

static void test_userpass_empty_pass_and_long(void **state)
{
	static const uint8_t m[] = {1, 1, 'u', 0};
	uint8_t big[1 + 1 + 255 + 1 + 255];
	socks5_userpass_t up;

	check_prefixes(PF(socks5_userpass_parse), m, sizeof(m), &up);
	assert_string_equal(up.user, "u");
	assert_int_equal(up.plen, 0);
	assert_string_equal(up.pass, "");

	big[0] = 1;
	big[1] = 255;
	memset(big + 2, 'x', 255);
	big[257] = 255;
	memset(big + 258, 'y', 255);
	check_prefixes(PF(socks5_userpass_parse), big, sizeof(big), &up);
	assert_int_equal(strlen(up.user), 255);
	assert_int_equal(strlen(up.pass), 255);
}

static void test_userpass_bad(void **state)
{
	static const uint8_t v5[] = {5, 1, 'u', 1, 'p'};
	static const uint8_t nouser[] = {1, 0, 1, 'p'};
	socks5_userpass_t up;
	size_t used;

	assert_int_equal(socks5_userpass_parse(v5, sizeof(v5), &up, &used), SOCKS_ERROR);
	assert_int_equal(socks5_userpass_parse(v5, 1, &up, &used), SOCKS_ERROR);
	assert_int_equal(socks5_userpass_parse(nouser, sizeof(nouser), &up, &used), SOCKS_ERROR);
}

/* ---- SOCKS5 requests ---- */

static void test_request_ipv4(void **state)
{
	static const uint8_t m[] = {5, 1, 0, 1, 192, 0, 2, 7, 0x01, 0xbb};
	socks5_request_t r;
	char host[64];

	check_prefixes(PF(socks5_request_parse), m, sizeof(m), &r);
	assert_int_equal(r.cmd, SOCKS_CMD_CONNECT);
	assert_int_equal(r.dst.atyp, SOCKS5_ATYP_IPV4);
	assert_int_equal(r.dst.port, 443);
	socks_addr_host(&r.dst, host, sizeof(host));
	assert_string_equal(host, "192.0.2.7");
}

static void test_request_domain(void **state)
{
	static const uint8_t m[] = {5,   1,   0,   3,   11,  'e', 'x', 'a', 'm',
	                            'p', 'l', 'e', '.', 'o', 'r', 'g', 0,   80};
	socks5_request_t r;
	char host[64];

	check_prefixes(PF(socks5_request_parse), m, sizeof(m), &r);
	assert_int_equal(r.dst.atyp, SOCKS5_ATYP_DOMAIN);
	assert_string_equal(r.dst.host, "example.org");
	assert_int_equal(r.dst.port, 80);
	socks_addr_host(&r.dst, host, sizeof(host));
	assert_string_equal(host, "example.org");
}

static void test_request_domain_255(void **state)
{
	uint8_t m[4 + 1 + 255 + 2];
	socks5_request_t r;

	m[0] = 5, m[1] = 1, m[2] = 0, m[3] = 3, m[4] = 255;
	memset(m + 5, 'a', 255);
	m[260] = 0x12, m[261] = 0x34;
	check_prefixes(PF(socks5_request_parse), m, sizeof(m), &r);
	assert_int_equal(strlen(r.dst.host), 255);
	assert_int_equal(r.dst.port, 0x1234);
	assert_int_equal(sizeof(m), SOCKS5_REQ_MAX);
}

static void test_request_ipv6_udp_bind(void **state)
{
	static const uint8_t m[] = {5, 3, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0,    0,
	                            0, 0, 0, 0, 0,    0,    0,    0,    1, 0x13, 0x88};
	static const uint8_t b[] = {5, 2, 0, 1, 0, 0, 0, 0, 0, 0};
	socks5_request_t r;
	char host[64];

	check_prefixes(PF(socks5_request_parse), m, sizeof(m), &r);
	assert_int_equal(r.cmd, SOCKS_CMD_UDP);
	assert_int_equal(r.dst.atyp, SOCKS5_ATYP_IPV6);
	assert_int_equal(r.dst.port, 5000);
	socks_addr_host(&r.dst, host, sizeof(host));
	assert_string_equal(host, "2001:db8::1");

	check_prefixes(PF(socks5_request_parse), b, sizeof(b), &r);
	assert_int_equal(r.cmd, SOCKS_CMD_BIND);
}

static void test_request_bad(void **state)
{
	static const uint8_t badver[] = {4, 1, 0, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t badcmd[] = {5, 9, 0, 1, 1, 2, 3, 4, 0, 80};
	static const uint8_t badatyp[] = {5, 1, 0, 2, 1, 2, 3, 4, 0, 80};
	static const uint8_t emptyname[] = {5, 1, 0, 3, 0, 0, 80};
	static const uint8_t nulname[] = {5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80};
	socks5_request_t r;
	size_t used;

	assert_int_equal(socks5_request_parse(badver, 1, &r, &used), SOCKS_ERROR);
	assert_int_equal(r.rep, 0);
	assert_int_equal(socks5_request_parse(badcmd, 2, &r, &used), SOCKS_ERROR);
	assert_int_equal(r.rep, SOCKS5_REP_CMD_UNSUPP);
	assert_int_equal(socks5_request_parse(badatyp, 4, &r, &used), SOCKS_ERROR);
	assert_int_equal(r.rep, SOCKS5_REP_ATYP_UNSUPP);
	assert_int_equal(socks5_request_parse(badatyp, 3, &r, &used), SOCKS_NEED_MORE);
	assert_int_equal(socks5_request_parse(emptyname, sizeof(emptyname), &r, &used),
	                 SOCKS_ERROR);
	assert_int_equal(r.rep, SOCKS5_REP_FAIL);
	assert_int_equal(socks5_request_parse(nulname, 5, &r, &used), SOCKS_NEED_MORE);
	assert_int_equal(socks5_request_parse(nulname, sizeof(nulname), &r, &used), SOCKS_ERROR);
	assert_int_equal(r.rep, SOCKS5_REP_FAIL);
}

static void test_reply_encode(void **state)
{
	static const uint8_t any[] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t v4[] = {5, 5, 0, 1, 127, 0, 0, 1, 0x04, 0x38};
	static const uint8_t dom[] = {5, 0, 0, 3, 3, 'a', '.', 'b', 0, 1};
	uint8_t out[SOCKS5_REQ_MAX];
	socks_addr_t a;

	assert_int_equal(socks5_reply_encode(out, sizeof(out), 0, NULL), sizeof(any));
	assert_memory_equal(out, any, sizeof(any));
	assert_int_equal(socks_addr_set_host(&a, "127.0.0.1", 1080), 0);
	assert_int_equal(socks5_reply_encode(out, sizeof(out), 5, &a), sizeof(v4));
	assert_memory_equal(out, v4, sizeof(v4));
	assert_int_equal(socks_addr_set_host(&a, "a.b", 1), 0);
	assert_int_equal(socks5_reply_encode(out, sizeof(out), 0, &a), sizeof(dom));
	assert_memory_equal(out, dom, sizeof(dom));
	assert_int_equal(socks_addr_set_host(&a, "::1", 2), 0);
	assert_int_equal(socks5_reply_encode(out, sizeof(out), 0, &a), 22);
	assert_int_equal(out[3], SOCKS5_ATYP_IPV6);
	assert_int_equal(out[19], 1);
	assert_int_equal(socks5_reply_encode(out, 21, 0, &a), 0); /* too small */
	a.atyp = 7;
	assert_int_equal(socks5_reply_encode(out, sizeof(out), 0, &a), 0);
}

/* ---- SOCKS4 / 4a ---- */

static void test_socks4(void **state)
{
	static const uint8_t m[] = {4, 1, 0, 80, 10, 1, 2, 3, 'b', 'o', 'b', 0};
	socks4_request_t r;

	check_prefixes(PF(socks4_request_parse), m, sizeof(m), &r);
	assert_int_equal(r.cmd, SOCKS_CMD_CONNECT);
	assert_int_equal(r.port, 80);
	assert_memory_equal(r.ip, "\x0a\x01\x02\x03", 4);
	assert_string_equal(r.userid, "bob");
	assert_false(r.is_4a);
	assert_string_equal(r.host, "");
}

static void test_socks4a(void **state)
{
	static const uint8_t m[] = {4,   1,   0x1f, 0x90, 0,   0,   0,   9, 0,
	                            'h', 'o', 's',  't',  '.', 'e', 'x', 0};
	socks4_request_t r;

	check_prefixes(PF(socks4_request_parse), m, sizeof(m), &r);
	assert_true(r.is_4a);
	assert_int_equal(r.port, 8080);
	assert_string_equal(r.userid, "");
	assert_string_equal(r.host, "host.ex");
}

static void test_socks4_bad(void **state)
{
	static const uint8_t v5[] = {5, 1, 0, 80, 1, 2, 3, 4, 0};
	static const uint8_t cmd3[] = {4, 3, 0, 80, 1, 2, 3, 4, 0};
	static const uint8_t emptyhost[] = {4, 1, 0, 80, 0, 0, 0, 1, 0, 0};
	uint8_t big[8 + 300];
	socks4_request_t r;
	size_t used;

	assert_int_equal(socks4_request_parse(v5, 1, &r, &used), SOCKS_ERROR);
	assert_int_equal(socks4_request_parse(cmd3, 2, &r, &used), SOCKS_ERROR);
	assert_int_equal(socks4_request_parse(emptyhost, sizeof(emptyhost), &r, &used),
	                 SOCKS_ERROR);

	/* userid: 255 bytes fine, the 256th is an error before any NUL */
	memcpy(big, "\x04\x01\x00\x50\x01\x02\x03\x04", 8);
	memset(big + 8, 'u', 300);
	assert_int_equal(socks4_request_parse(big, 8 + 255, &r, &used), SOCKS_NEED_MORE);
	assert_int_equal(socks4_request_parse(big, 8 + 256, &r, &used), SOCKS_ERROR);
	big[8 + 255] = 0;
	assert_int_equal(socks4_request_parse(big, 8 + 256, &r, &used), SOCKS_OK);
	assert_int_equal(used, 8 + 256);

	/* 4a hostname: the same bound */
	memcpy(big, "\x04\x01\x00\x50\x00\x00\x00\x01\x00", 9);
	memset(big + 9, 'h', 299);
	assert_int_equal(socks4_request_parse(big, 9 + 255, &r, &used), SOCKS_NEED_MORE);
	assert_int_equal(socks4_request_parse(big, 9 + 256, &r, &used), SOCKS_ERROR);
}

static void test_socks4_longest(void **state)
{
	uint8_t m[SOCKS4_REQ_MAX];
	socks4_request_t r;

	memcpy(m, "\x04\x02\x00\x50\x00\x00\x00\xff", 8);
	memset(m + 8, 'u', 255);
	m[8 + 255] = 0;
	memset(m + 8 + 256, 'h', 255);
	m[sizeof(m) - 1] = 0;
	check_prefixes(PF(socks4_request_parse), m, sizeof(m), &r);
	assert_int_equal(r.cmd, SOCKS_CMD_BIND);
	assert_int_equal(strlen(r.userid), 255);
	assert_int_equal(strlen(r.host), 255);
}

static void test_socks4_reply(void **state)
{
	static const uint8_t ok[] = {0, 0x5a, 0x1f, 0x90, 127, 0, 0, 1};
	static const uint8_t ip[4] = {127, 0, 0, 1};
	uint8_t out[8], rep;

	assert_int_equal(socks4_reply_encode(out, sizeof(out), SOCKS4_REP_GRANTED, 8080, ip), 8);
	assert_memory_equal(out, ok, 8);
	assert_int_equal(socks4_reply_encode(out, sizeof(out), SOCKS4_REP_REJECTED, 0, NULL), 8);
	assert_memory_equal(out, "\x00\x5b\0\0\0\0\0\0", 8);
	assert_int_equal(socks4_reply_encode(out, 7, 0x5a, 0, NULL), 0);

	check_prefixes(PF(socks4_reply_parse), ok, sizeof(ok), &rep);
	assert_int_equal(rep, SOCKS4_REP_GRANTED);
	assert_int_equal(socks4_reply_parse((const uint8_t *)"\x05", 1, &rep, NULL), SOCKS_ERROR);
}

/* ---- UDP ---- */

static void test_udp(void **state)
{
	static const uint8_t m[] = {0, 0, 0, 1, 10, 0, 0, 1, 0, 53, 'q', 'u', 'e', 'r', 'y'};
	static const uint8_t dom[] = {0, 0, 0, 3, 4, 'h', '.', 'e', 'x', 0, 7};
	uint8_t out[SOCKS5_UDP_HDR_MAX];
	socks5_udp_hdr_t h;
	size_t used;

	assert_int_equal(socks5_udp_parse(m, sizeof(m), &h, &used), SOCKS_OK);
	assert_int_equal(used, 10);
	assert_int_equal(h.frag, 0);
	assert_int_equal(h.dst.port, 53);
	assert_memory_equal(m + used, "query", 5);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(socks5_udp_parse(m, i, &h, &used), SOCKS_NEED_MORE);

	check_prefixes(PF(socks5_udp_parse), dom, sizeof(dom), &h);
	assert_string_equal(h.dst.host, "h.ex");
	assert_int_equal(socks5_udp_encode(out, sizeof(out), &h.dst), sizeof(dom));
	assert_memory_equal(out, dom, sizeof(dom));

	assert_int_equal(
	    socks5_udp_parse((const uint8_t *)"\0\0\x01\x01\1\2\3\4\0\1", 10, &h, &used), SOCKS_OK);
	assert_int_equal(h.frag, 1);
	assert_int_equal(socks5_udp_parse((const uint8_t *)"\0\0\0\x09", 4, &h, &used),
	                 SOCKS_ERROR);
}

/* ---- client side ---- */

static void test_client_encode(void **state)
{
	static const uint8_t methods[] = {0, 2};
	uint8_t out[600];
	char longname[300];
	socks_addr_t a;

	assert_int_equal(socks5_greeting_encode(out, sizeof(out), methods, 2), 4);
	assert_memory_equal(out, "\x05\x02\x00\x02", 4);
	assert_int_equal(socks5_greeting_encode(out, sizeof(out), methods, 0), 0);
	assert_int_equal(socks5_greeting_encode(out, 3, methods, 2), 0);

	assert_int_equal(socks5_userpass_encode(out, sizeof(out), "al", "pw"), 7);
	assert_memory_equal(out,
	                    "\x01\x02"
	                    "al"
	                    "\x02"
	                    "pw",
	                    7);
	assert_int_equal(socks5_userpass_encode(out, sizeof(out), "al", NULL), 5);
	assert_memory_equal(out,
	                    "\x01\x02"
	                    "al"
	                    "\x00",
	                    5);
	assert_int_equal(socks5_userpass_encode(out, sizeof(out), "", "pw"), 0);
	memset(longname, 'x', 256);
	longname[256] = 0;
	assert_int_equal(socks5_userpass_encode(out, sizeof(out), longname, "pw"), 0);
	assert_int_equal(socks5_userpass_encode(out, sizeof(out), "u", longname), 0);

	assert_int_equal(socks_addr_set_host(&a, "example.org", 443), 0);
	assert_int_equal(a.atyp, SOCKS5_ATYP_DOMAIN);
	assert_int_equal(socks5_request_encode(out, sizeof(out), SOCKS_CMD_CONNECT, &a), 18);
	assert_memory_equal(out,
	                    "\x05\x01\x00\x03\x0b"
	                    "example.org"
	                    "\x01\xbb",
	                    18);
	assert_int_equal(socks_addr_set_host(&a, "10.0.0.1", 22), 0);
	assert_int_equal(socks5_request_encode(out, sizeof(out), SOCKS_CMD_CONNECT, &a), 10);
	assert_memory_equal(out, "\x05\x01\x00\x01\x0a\x00\x00\x01\x00\x16", 10);
	assert_int_equal(socks_addr_set_host(&a, "", 1), -EINVAL);
	assert_int_equal(socks_addr_set_host(&a, longname, 1), -EINVAL);

	assert_int_equal(socks4_request_encode(out, sizeof(out), 1, 80,
	                                       (const uint8_t *)"\x01\x02\x03\x04", "me", NULL),
	                 11);
	assert_memory_equal(out, "\x04\x01\x00\x50\x01\x02\x03\x04me\0", 11);
	assert_int_equal(socks4_request_encode(out, sizeof(out), 1, 80, NULL, NULL, "h.ex"), 14);
	assert_memory_equal(out, "\x04\x01\x00\x50\x00\x00\x00\x01\0h.ex\0", 14);
	assert_int_equal(socks4_request_encode(out, sizeof(out), 1, 80, NULL, NULL, ""), 0);
	assert_int_equal(socks4_request_encode(out, sizeof(out), 1, 80, NULL, NULL, NULL), 0);
	assert_int_equal(socks4_request_encode(out, sizeof(out), 1, 80, NULL, longname, "h"), 0);
}

static void test_client_parse(void **state)
{
	static const uint8_t rep4[] = {5, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39};
	static const uint8_t rep6[] = {5, 5, 0, 4, 0, 0, 0, 0, 0, 0, 0,
	                               0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1};
	static const uint8_t repd[] = {5, 0, 0, 3, 5, 'p', 'r', 'o', 'x', 'y', 0x04, 0x38};
	socks5_reply_t r;
	uint8_t v;
	size_t used;

	check_prefixes(PF(socks5_method_parse), (const uint8_t *)"\x05\x02", 2, &v);
	assert_int_equal(v, 2);
	assert_int_equal(socks5_method_parse((const uint8_t *)"\x04\x00", 2, &v, &used),
	                 SOCKS_ERROR);

	check_prefixes(PF(socks5_auth_status_parse), (const uint8_t *)"\x01\x00", 2, &v);
	assert_int_equal(v, 0);
	assert_int_equal(socks5_auth_status_parse((const uint8_t *)"\x05\x01", 2, &v, &used),
	                 SOCKS_OK);
	assert_int_equal(v, 1);
	assert_int_equal(socks5_auth_status_parse((const uint8_t *)"\x02\x00", 2, &v, &used),
	                 SOCKS_ERROR);

	check_prefixes(PF(socks5_reply_parse), rep4, sizeof(rep4), &r);
	assert_int_equal(r.rep, 0);
	assert_int_equal(r.bnd.port, 12345);
	check_prefixes(PF(socks5_reply_parse), rep6, sizeof(rep6), &r);
	assert_int_equal(r.rep, SOCKS5_REP_REFUSED);
	assert_int_equal(r.bnd.atyp, SOCKS5_ATYP_IPV6);
	check_prefixes(PF(socks5_reply_parse), repd, sizeof(repd), &r);
	assert_string_equal(r.bnd.host, "proxy");
	assert_int_equal(r.bnd.port, 1080);
	assert_int_equal(socks5_reply_parse((const uint8_t *)"\x05\x00\x00\x07", 4, &r, &used),
	                 SOCKS_ERROR);
	assert_int_equal(socks5_reply_parse((const uint8_t *)"\x01", 1, &r, &used), SOCKS_ERROR);
}

/* ---- addresses and errors ---- */

static void test_addr(void **state)
{
	struct sockaddr_storage ss;
	socks_addr_t a, b;
	char host[64];

	assert_int_equal(socks_addr_set_host(&a, "2001:db8::5", 8443), 0);
	assert_int_equal(socks_addr_to_sa(&a, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(socks_addr_from_sa(&b, (struct sockaddr *)&ss), 0);
	assert_int_equal(b.atyp, SOCKS5_ATYP_IPV6);
	assert_int_equal(b.port, 8443);
	assert_memory_equal(a.ip, b.ip, 16);
	socks_addr_host(&b, host, sizeof(host));
	assert_string_equal(host, "2001:db8::5");

	assert_int_equal(socks_addr_set_host(&a, "name.example", 1), 0);
	assert_int_equal(socks_addr_to_sa(&a, &ss), -EINVAL);
	ss.ss_family = AF_UNIX;
	assert_int_equal(socks_addr_from_sa(&b, (struct sockaddr *)&ss), -EAFNOSUPPORT);
}

static void test_errors(void **state)
{
	assert_int_equal(socks5_rep_from_err(0), 0x00);
	assert_int_equal(socks5_rep_from_err(UV_ECONNREFUSED), 0x05);
	assert_int_equal(socks5_rep_from_err(UV_ENETUNREACH), 0x03);
	assert_int_equal(socks5_rep_from_err(UV_EHOSTUNREACH), 0x04);
	assert_int_equal(socks5_rep_from_err(UV_EAI_NONAME), 0x04);
	assert_int_equal(socks5_rep_from_err(UV_ETIMEDOUT), 0x06);
	assert_int_equal(socks5_rep_from_err(UV_EACCES), 0x02);
	assert_int_equal(socks5_rep_from_err(UV_EPROTO), 0x01);
	assert_int_equal(socks5_rep_from_err(UV_ENOMEM), 0x01);
	assert_int_equal(socks5_rep_from_err(UV_ECANCELED), 0x01);

	/* every code maps to an error that maps back to it */
	for (int rep = 1; rep <= 8; rep++) {
		int e = socks5_err_from_rep((uint8_t)rep);
		assert_true(e < 0);
		assert_int_equal(socks5_rep_from_err(e), rep);
	}
	assert_int_equal(socks5_err_from_rep(0), 0);
	assert_int_equal(socks5_err_from_rep(0x09), UV_EPROTO);
	assert_int_equal(socks5_err_from_rep(0xff), UV_EPROTO);
	assert_string_equal(socks5_rep_str(5), "connection refused");
	assert_string_equal(socks5_rep_str(0x42), "unknown reply code");
}

/* ---- the socks5 hop against a scripted server, in one loop ---- */

typedef struct step {
	size_t after; /* once the server has received this many bytes in all */
	const char *send;
	size_t len;
} step_t;

typedef struct hop_test {
	uv_loop_t loop;
	uv_tcp_t srv, conn;
	uv_timer_t timer;
	uint16_t port;
	const step_t *steps;
	size_t nsteps, next, got;
	size_t cancel_after; /* 0: never; else cancel when the server got this many */
	dialer_t *hop;
	dial_t *req;
	url_t *u;
	char rbuf[4096];
	int cb_calls, cb_err, server_eof;
	stream_t *s;
	char data[64]; /* what the dialed stream delivered first */
	size_t datalen;
} hop_test_t;

static void ht_close_server(hop_test_t *h)
{
	if (!uv_is_closing((uv_handle_t *)&h->srv))
		uv_close((uv_handle_t *)&h->srv, NULL);
	if (h->conn.loop && !uv_is_closing((uv_handle_t *)&h->conn))
		uv_close((uv_handle_t *)&h->conn, NULL);
	if (!uv_is_closing((uv_handle_t *)&h->timer))
		uv_close((uv_handle_t *)&h->timer, NULL);
}

static void ht_alloc(uv_handle_t *hd, size_t sz, uv_buf_t *b)
{
	hop_test_t *h = hd->data;

	*b = uv_buf_init(h->rbuf, sizeof(h->rbuf));
}

static void ht_written(uv_write_t *w, int st)
{
	free(w);
}

static void ht_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	hop_test_t *h = st->data;

	if (n < 0) {
		h->server_eof = 1;
		ht_close_server(h);
		return;
	}
	h->got += (size_t)n;
	while (h->next < h->nsteps && h->got >= h->steps[h->next].after) {
		uv_write_t *w = malloc(sizeof(*w));
		uv_buf_t out =
		    uv_buf_init((char *)h->steps[h->next].send, (unsigned)h->steps[h->next].len);
		assert_non_null(w);
		assert_int_equal(uv_write(w, st, &out, 1, ht_written), 0);
		h->next++;
	}
	if (h->cancel_after && h->got >= h->cancel_after && h->req) {
		h->hop->ops->cancel(h->hop, h->req);
		h->req = NULL;
	}
}

static void ht_accept(uv_stream_t *srv, int st)
{
	hop_test_t *h = srv->data;

	assert_int_equal(st, 0);
	uv_tcp_init(&h->loop, &h->conn);
	h->conn.data = h;
	assert_int_equal(uv_accept(srv, (uv_stream_t *)&h->conn), 0);
	uv_read_start((uv_stream_t *)&h->conn, ht_alloc, ht_read);
}

static void ht_s_read(stream_t *s, sbuf_t *b)
{
	hop_test_t *h = s->data;

	if (b) {
		size_t n =
		    b->len < sizeof(h->data) - h->datalen ? b->len : sizeof(h->data) - h->datalen;
		memcpy(h->data + h->datalen, sbuf_ptr(b), n);
		h->datalen += n;
		sbuf_free(b);
	}
	stream_close(s);
}

static void ht_s_error(stream_t *s, int err)
{
	stream_close(s);
}

static const stream_cbs_t ht_s_cbs = {ht_s_read, NULL, ht_s_error};

static void ht_dialed(void *ud, stream_t *s, int err)
{
	hop_test_t *h = ud;

	h->req = NULL;
	h->cb_calls++;
	h->cb_err = err;
	if (err < 0) {
		assert_null(s);
		return;
	}
	assert_non_null(s);
	h->s = s;
	stream_set_cbs(s, &ht_s_cbs, h);
	stream_read_start(s);
}

static void ht_timeout(uv_timer_t *t)
{
	ht_close_server(t->data);
}

/* Which hop hop_run() builds. */
static hop_new_fn ht_new = socks5_hop_new;
static const char *ht_scheme = "socks5";
static const char *ht_target = "example.org";

/* Dial ht_target:443 through a hop at the scripted server. */
static void hop_run(hop_test_t *h, const char *userinfo, const step_t *steps, size_t n,
                    size_t cancel_after, int cancel_at_once)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char url[128], err[256];
	target_t t;
	dial_opts_t o = {.id = 1};
	dialer_t *direct;

	memset(h, 0, sizeof(*h));
	log_level = LOG_ERR;
	assert_int_equal(uv_loop_init(&h->loop), 0);
	uv_tcp_init(&h->loop, &h->srv);
	h->srv.data = h;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&h->srv, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&h->srv, 8, ht_accept), 0);
	uv_tcp_getsockname(&h->srv, (struct sockaddr *)&ss, &len);
	h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_timer_init(&h->loop, &h->timer);
	h->timer.data = h;
	uv_timer_start(&h->timer, ht_timeout, 500, 0);
	h->steps = steps;
	h->nsteps = n;
	h->cancel_after = cancel_after;

	snprintf(url, sizeof(url), "%s://%s127.0.0.1:%u", ht_scheme, userinfo, h->port);
	assert_int_equal(url_parse(url, &h->u, err, sizeof(err)), 0);
	direct = direct_dialer_new(&h->loop);
	assert_int_equal(ht_new(&h->loop, h->u, direct, &h->hop, err, sizeof(err)), 0);
	target_set(&t, ht_target, 443);
	h->req = h->hop->ops->dial(h->hop, &t, &o, ht_dialed, h);
	assert_non_null(h->req);
	if (cancel_at_once) {
		h->hop->ops->cancel(h->hop, h->req);
		h->req = NULL;
	}
	uv_run(&h->loop, UV_RUN_DEFAULT);
	chain_free(h->hop);
	url_free(h->u);
	assert_int_equal(uv_loop_close(&h->loop), 0);
}

#define GREET "\x05\x01\x00"
#define REQ                                                                                        \
	"\x05\x01\x00\x03\x0b"                                                                     \
	"example.org"                                                                              \
	"\x01\xbb"
#define REP_OK "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"
#define S(x) x, sizeof(x) - 1

static void test_hop_ok_with_banner(void **state)
{
	hop_test_t h;
	static const step_t steps[] = {
	    {3, S("\x05\x00")},
	    {3 + sizeof(REQ) - 1, S(REP_OK "SSH-2.0-x\r\n")},
	};

	hop_run(&h, "", steps, 2, 0, 0);
	assert_int_equal(h.cb_calls, 1);
	assert_int_equal(h.cb_err, 0);
	assert_int_equal(h.datalen, 11);
	assert_memory_equal(h.data, "SSH-2.0-x\r\n", 11);
	assert_true(h.server_eof);
}

static void test_hop_auth(void **state)
{
	hop_test_t h;
	static const step_t steps[] = {
	    {4, S("\x05\x02")},
	    {4 + 7, S("\x01\x00")},
	    {4 + 7 + sizeof(REQ) - 1, S("\x05\x00\x00\x03\x01h\x00\x01"
	                                "data")},
	};

	hop_run(&h, "al:pw@", steps, 3, 0, 0);
	assert_int_equal(h.cb_calls, 1);
	assert_int_equal(h.cb_err, 0);
	assert_int_equal(h.datalen, 4);
	assert_memory_equal(h.data, "data", 4);
}

static void test_hop_failures(void **state)
{
	hop_test_t h;
	static const step_t refused[] = {{3, S("\x05\x00")},
	                                 {3 + sizeof(REQ) - 1, S("\x05\x05\x00\x01\0\0\0\0\0\0")}};
	static const step_t ttl[] = {{3, S("\x05\x00")},
	                             {3 + sizeof(REQ) - 1, S("\x05\x06\x00\x01\0\0\0\0\0\0")}};
	static const step_t garbage[] = {{3, S("HTTP/1.0 400 Bad Request\r\n\r\n")}};
	static const step_t noauth[] = {{4, S("\x05\xff")}};
	static const step_t badauth[] = {{4, S("\x05\x02")}, {11, S("\x01\x01")}};
	static const step_t closes[] = {{3, S("\x05")}};

	hop_run(&h, "", refused, 2, 0, 0);
	assert_int_equal(h.cb_calls, 1);
	assert_int_equal(h.cb_err, UV_ECONNREFUSED);
	hop_run(&h, "", ttl, 2, 0, 0);
	assert_int_equal(h.cb_err, UV_ETIMEDOUT);
	hop_run(&h, "", garbage, 1, 0, 0);
	assert_int_equal(h.cb_calls, 1);
	assert_int_equal(h.cb_err, UV_EPROTO);
	hop_run(&h, "al:pw@", noauth, 1, 0, 0);
	assert_int_equal(h.cb_err, UV_EACCES);
	hop_run(&h, "al:pw@", badauth, 2, 0, 0);
	assert_int_equal(h.cb_err, UV_EACCES);
	/* half a message, then the server's timer closes it: EOF mid-reply */
	hop_run(&h, "", closes, 1, 0, 0);
	assert_int_equal(h.cb_calls, 1);
	assert_int_equal(h.cb_err, UV_EPROTO);
}

static void test_hop_cancel(void **state)
{
	hop_test_t h;
	static const step_t none[] = {{1000, S("")}};
	static const step_t to_auth[] = {{4, S("\x05\x02")}};
	static const step_t to_reply[] = {{3, S("\x05\x00")}};

	hop_run(&h, "", none, 1, 0, 1); /* while connecting */
	assert_int_equal(h.cb_calls, 0);
	hop_run(&h, "", none, 1, 3, 0); /* greeting sent */
	assert_int_equal(h.cb_calls, 0);
	assert_true(h.server_eof);
	hop_run(&h, "al:pw@", to_auth, 1, 4 + 7, 0); /* auth sent */
	assert_int_equal(h.cb_calls, 0);
	assert_true(h.server_eof);
	hop_run(&h, "", to_reply, 1, 3 + sizeof(REQ) - 1, 0); /* request sent */
	assert_int_equal(h.cb_calls, 0);
	assert_true(h.server_eof);
}

static void test_hop_socks4(void **state)
{
	hop_test_t h;
	/* 4a: VN CD PORT 0.0.0.1 "al" NUL "example.org" NUL */
	static const step_t ok4a[] = {{8 + 3 + 12, S("\x00\x5a\x01\xbb\0\0\0\0"
	                                             "hi")}};
	static const step_t ok4[] = {{8 + 1, S("\x00\x5a\0\0\0\0\0\0")}};
	static const step_t rej[] = {{8 + 1, S("\x00\x5b\0\0\0\0\0\0")}};

	ht_new = socks4a_hop_new;
	ht_scheme = "socks4a";
	hop_run(&h, "al@", ok4a, 1, 0, 0);
	assert_int_equal(h.cb_calls, 1);
	assert_int_equal(h.cb_err, 0);
	assert_int_equal(h.datalen, 2);
	assert_memory_equal(h.data, "hi", 2);

	ht_new = socks4_hop_new;
	ht_scheme = "socks4";
	hop_run(&h, "", ok4a, 1, 0, 0); /* socks4 cannot carry a name */
	assert_int_equal(h.cb_calls, 1);
	assert_int_equal(h.cb_err, UV_EAFNOSUPPORT);
	ht_target = "192.0.2.1";
	hop_run(&h, "", ok4, 1, 0, 0);
	assert_int_equal(h.cb_err, 0);
	hop_run(&h, "", rej, 1, 0, 0);
	assert_int_equal(h.cb_err, UV_ECONNREFUSED);
	ht_target = "2001:db8::1";
	hop_run(&h, "", ok4, 1, 0, 0);
	assert_int_equal(h.cb_err, UV_EAFNOSUPPORT);

	ht_new = socks5_hop_new;
	ht_scheme = "socks5";
	ht_target = "example.org";
}

static void test_hop_new_errors(void **state)
{
	static const char *const bad[] = {
	    "socks5://:1080",
	    "socks5://h:0",
	    "socks4://u:p@h:1080",
	};
	char err[256] = "";
	dialer_t *d;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		url_t *u;
		int r;

		if (url_parse(bad[i], &u, err, sizeof(err)) < 0)
			continue; /* the URL parser already refuses it */
		r = strncmp(bad[i], "socks4", 6)
		        ? socks5_hop_new(NULL, u, NULL, &d, err, sizeof(err))
		        : socks4_hop_new(NULL, u, NULL, &d, err, sizeof(err));
		assert_int_equal(r, -EINVAL);
		assert_true(err[0] != 0);
		url_free(u);
	}
}

/* ---- the front end: what the chain's dialer is told ---- */

typedef struct cap_dialer {
	dialer_t d;
	int calls, has_cred, peer_family;
	char user[256], pass[256];
	size_t ulen, plen;
	target_t t;
} cap_dialer_t;

/* Notes what it was given and fails (dial_start reports the NULL). */
static dial_t *cap_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud)
{
	cap_dialer_t *c = (cap_dialer_t *)d;

	c->calls++;
	c->t = *t;
	c->peer_family = o->peer ? o->peer->sa_family : -1;
	c->has_cred = o->cred != NULL;
	if (o->cred) {
		assert_true(o->cred->ulen < sizeof(c->user) && o->cred->plen < sizeof(c->pass));
		memcpy(c->user, o->cred->user, c->ulen = o->cred->ulen);
		memcpy(c->pass, o->cred->pass, c->plen = o->cred->plen);
	}
	return NULL;
}

static void cap_cancel(dialer_t *d, dial_t *req) {}
static void cap_free(dialer_t *d) {}

static const dialer_ops_t cap_ops = {
    .scheme = "cap", .dial = cap_dial, .cancel = cap_cancel, .free = cap_free};

typedef struct front_test {
	int cb_calls, cb_err;
	listener_t *l;
	dialer_t *hop;
} front_test_t;

static void ft_dialed(void *ud, stream_t *s, int err)
{
	front_test_t *f = ud;

	f->cb_calls++;
	f->cb_err = err;
	if (s)
		stream_close(s);
	listener_stop(f->l);
}

/* A listener (ops: front) on a free port, a hop (scheme, userinfo) to it,
 * one dial of bridge.example:443; what reached the chain is in *cap. */
static void front_run(const front_ops_t *front, const char *scheme, const char *userinfo,
                      cap_dialer_t *cap)
{
	uv_loop_t loop;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char url[1024], err[256];
	url_t *lu, *hu;
	target_t t;
	dial_opts_t o = {.id = 1};
	front_test_t f = {0};
	hop_new_fn fn = strcmp(scheme, "socks5") ? socks4a_hop_new : socks5_hop_new;

	memset(cap, 0, sizeof(*cap));
	log_level = LOG_ERR;
	assert_int_equal(uv_loop_init(&loop), 0);
	cap->d.ops = &cap_ops;
	cap->d.loop = &loop;
	assert_int_equal(url_parse("socks://127.0.0.1:1", &lu, err, sizeof(err)), 0);
	assert_int_equal(listener_new(&loop, lu, &cap->d, &f.l, err, sizeof(err)), 0);
	f.l->ops = front;
	((struct sockaddr_in *)&f.l->bind)->sin_port = 0;
	assert_int_equal(listener_start(f.l, err, sizeof(err)), 0);
	uv_tcp_getsockname(&f.l->tcp, (struct sockaddr *)&ss, &len);
	snprintf(url, sizeof(url), "%s://%s127.0.0.1:%u", scheme, userinfo,
	         ntohs(((struct sockaddr_in *)&ss)->sin_port));
	assert_int_equal(url_parse(url, &hu, err, sizeof(err)), 0);
	assert_int_equal(fn(&loop, hu, direct_dialer_new(&loop), &f.hop, err, sizeof(err)), 0);
	target_set(&t, "bridge.example", 443);
	assert_non_null(f.hop->ops->dial(f.hop, &t, &o, ft_dialed, &f));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(f.cb_calls, 1);
	assert_true(f.cb_err < 0);
	listener_free(f.l);
	chain_free(f.hop);
	uv_run(&loop, UV_RUN_DEFAULT);
	url_free(hu);
	url_free(lu);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_front_pass_cred(void **state)
{
	cap_dialer_t cap;
	char user[256], userinfo[700];

	/* SOCKS5: RFC 1929 user name and password, as sent */
	front_run(&socks_cred_front_ops, "socks5", "key%3Dabc%3Bx%3D1:p%3Dq@", &cap);
	assert_int_equal(cap.calls, 1);
	assert_string_equal(cap.t.host, "bridge.example");
	assert_int_equal(cap.t.port, 443);
	assert_int_equal(cap.peer_family, AF_INET);
	assert_true(cap.has_cred);
	assert_int_equal(cap.ulen, 11);
	assert_memory_equal(cap.user, "key=abc;x=1", 11);
	assert_int_equal(cap.plen, 3);
	assert_memory_equal(cap.pass, "p=q", 3);
	/* the longest user name */
	memset(user, 'u', 255);
	user[255] = 0;
	snprintf(userinfo, sizeof(userinfo), "%s:%s@", user, "x");
	front_run(&socks_cred_front_ops, "socks5", userinfo, &cap);
	assert_int_equal(cap.ulen, 255);
	assert_memory_equal(cap.user, user, 255);
	/* SOCKS4a: the USERID, no password */
	front_run(&socks_cred_front_ops, "socks4a", "key%3Dabc@", &cap);
	assert_int_equal(cap.calls, 1);
	assert_true(cap.has_cred);
	assert_int_equal(cap.ulen, 7);
	assert_memory_equal(cap.user, "key=abc", 7);
	assert_int_equal(cap.plen, 0);
	/* no credentials offered: none passed */
	front_run(&socks_cred_front_ops, "socks5", "", &cap);
	assert_int_equal(cap.calls, 1);
	assert_false(cap.has_cred);
	/* a plain socks listener passes the client's address, never the
	 * credentials (none configured: any name goes, and is dropped) */
	front_run(&socks_front_ops, "socks5", "user:pw@", &cap);
	assert_int_equal(cap.calls, 1);
	assert_int_equal(cap.peer_family, AF_INET);
	assert_false(cap.has_cred);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greeting),
	    cmocka_unit_test(test_greeting_all_methods),
	    cmocka_unit_test(test_greeting_bad),
	    cmocka_unit_test(test_method_encode),
	    cmocka_unit_test(test_userpass),
	    cmocka_unit_test(test_userpass_empty_pass_and_long),
	    cmocka_unit_test(test_userpass_bad),
	    cmocka_unit_test(test_request_ipv4),
	    cmocka_unit_test(test_request_domain),
	    cmocka_unit_test(test_request_domain_255),
	    cmocka_unit_test(test_request_ipv6_udp_bind),
	    cmocka_unit_test(test_request_bad),
	    cmocka_unit_test(test_reply_encode),
	    cmocka_unit_test(test_socks4),
	    cmocka_unit_test(test_socks4a),
	    cmocka_unit_test(test_socks4_bad),
	    cmocka_unit_test(test_socks4_longest),
	    cmocka_unit_test(test_socks4_reply),
	    cmocka_unit_test(test_udp),
	    cmocka_unit_test(test_client_encode),
	    cmocka_unit_test(test_client_parse),
	    cmocka_unit_test(test_addr),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_hop_ok_with_banner),
	    cmocka_unit_test(test_hop_auth),
	    cmocka_unit_test(test_hop_failures),
	    cmocka_unit_test(test_hop_cancel),
	    cmocka_unit_test(test_hop_socks4),
	    cmocka_unit_test(test_hop_new_errors),
	    cmocka_unit_test(test_front_pass_cred),
	};

	app_transports_register(); /* listeners and chains find their transports */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
