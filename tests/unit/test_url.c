/* Unit tests: core/url (the -L/-F syntax). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/url.h"

static url_t *ok(const char *s)
{
	url_t *u;
	char err[URL_ERRLEN];

	assert_int_equal(url_parse(s, &u, err, sizeof(err)), 0);
	return u;
}

static void bad(const char *s, const char *needle)
{
	url_t *u;
	char err[URL_ERRLEN] = "";

	assert_int_equal(url_parse(s, &u, err, sizeof(err)), -22);
	assert_null(u);
	if (needle && !strstr(err, needle))
		fail_msg("error for '%s' is '%s', wanted it to mention '%s'", s, err, needle);
}

static void test_basic(void **st)
{
	url_t *u = ok("socks5://user:p%40ss@127.0.0.1:1080");

	assert_string_equal(u->scheme, "socks5");
	assert_string_equal(u->user, "user");
	assert_string_equal(u->pass, "p@ss");
	assert_string_equal(u->host, "127.0.0.1");
	assert_int_equal(u->port, 1080);
	assert_string_equal(u->path, "");
	assert_int_equal(u->nopts, 0);
	url_free(u);
}

static void test_forward_and_options(void **st)
{
	url_t *u = ok("TCP://127.0.0.1:8080/example.org:80?max-conns=10&idle-timeout=5s");
	uint64_t v = 0, ms = 0;
	char err[URL_ERRLEN];

	assert_string_equal(u->scheme, "tcp");
	assert_string_equal(u->path, "/example.org:80");
	assert_null(u->user);
	assert_int_equal(url_opt_uint(u, "max-conns", 100, &v, err, sizeof(err)), 1);
	assert_int_equal(v, 10);
	assert_int_equal(url_opt_duration(u, "idle-timeout", &ms, err, sizeof(err)), 1);
	assert_int_equal(ms, 5000);
	assert_int_equal(url_check_opts(u, err, sizeof(err)), 0);
	url_free(u);
}

static void test_unknown_option(void **st)
{
	url_t *u = ok("ws://127.0.0.1:8000?key=abc&keey=x");
	const char *k;
	char err[URL_ERRLEN];

	assert_int_equal(url_opt_str(u, "key", &k), 1);
	assert_string_equal(k, "abc");
	assert_int_equal(url_check_opts(u, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "'keey'"));
	url_free(u);
}

static void test_bad_values(void **st)
{
	url_t *u = ok("proxy://127.0.0.1:1080?max-conns=ten&idle-timeout=5x&insecure=maybe");
	uint64_t v;
	int b;
	char err[URL_ERRLEN];

	assert_int_equal(url_opt_uint(u, "max-conns", 100, &v, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "max-conns"));
	assert_int_equal(url_opt_duration(u, "idle-timeout", &v, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "idle-timeout"));
	assert_int_equal(url_opt_bool(u, "insecure", &b, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "insecure"));
	url_free(u);
}

static void test_ipv6_and_paths(void **st)
{
	url_t *u = ok("wss://[::1]:8443/t/x?key=K");

	assert_string_equal(u->host, "::1");
	assert_int_equal(u->port, 8443);
	assert_string_equal(u->path, "/t/x");
	url_free(u);
	u = ok("ppp:///dev/ttyUSB0?baud=115200");
	assert_string_equal(u->host, "");
	assert_int_equal(u->port, -1);
	assert_string_equal(u->path, "/dev/ttyUSB0");
	url_free(u);
	u = ok("ppp+stdio://");
	assert_string_equal(u->scheme, "ppp+stdio");
	assert_string_equal(u->host, "");
	url_free(u);
	u = ok("vpn://alice:pw@127.0.0.1:5555");
	assert_string_equal(u->user, "alice");
	url_free(u);
}

static void test_errors(void **st)
{
	bad("127.0.0.1:1080", "not a URL");
	bad("://x", "not a URL");
	bad("socks5://127.0.0.1:0", "bad port");
	bad("socks5://127.0.0.1:65536", "bad port");
	bad("socks5://127.0.0.1:80a", "bad port");
	bad("socks5://[::1:80", "unterminated");
	bad("ws://h:1?key", "needs a value");
	bad("ws://h:1?key=", "needs a value");
	bad("ws://h:1?k=%zz", "escape");
	bad("so cks://h:1", "scheme");
}

static int collect(void *ud, const char *v)
{
	strcat(ud, v);
	strcat(ud, "|");
	return 0;
}

static void test_repeats(void **st)
{
	url_t *u = ok("ppp+tcp://127.0.0.1:2323?service=a&service=b&key=x&key=y");
	char all[64] = "", err[URL_ERRLEN];
	const char *k;

	assert_int_equal(url_opt_each(u, "service", collect, all), 2);
	assert_string_equal(all, "a|b|");
	assert_int_equal(url_opt_str(u, "key", &k), 1);
	assert_int_equal(url_check_opts(u, err, sizeof(err)), -22);
	assert_non_null(strstr(err, "'key' given twice"));
	url_free(u);
}

static void test_hostport(void **st)
{
	char h[64];
	uint16_t p;

	assert_int_equal(hostport_parse("example.org:80", h, sizeof(h), &p), 0);
	assert_string_equal(h, "example.org");
	assert_int_equal(p, 80);
	assert_int_equal(hostport_parse("[2001:db8::1]:443", h, sizeof(h), &p), 0);
	assert_string_equal(h, "2001:db8::1");
	assert_int_equal(p, 443);
	assert_true(hostport_parse("2001:db8::1:443", h, sizeof(h), &p) < 0);
	assert_true(hostport_parse("example.org", h, sizeof(h), &p) < 0);
	assert_true(hostport_parse(":80", h, sizeof(h), &p) < 0);
	assert_true(hostport_parse("h:0", h, sizeof(h), &p) < 0);
}

static void test_duration(void **st)
{
	uint64_t ms;

	assert_int_equal(parse_duration_ms("30", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(parse_duration_ms("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(parse_duration_ms("2m", &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(parse_duration_ms("1.5s", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_true(parse_duration_ms("-1", &ms) < 0);
	assert_true(parse_duration_ms("s", &ms) < 0);
	assert_true(parse_duration_ms("5d", &ms) < 0);
}

/* names made from URLs go inside quotes: /metrics labels, /health JSON */
static void test_name_escape(void **st)
{
	char s[32] = "ppp+unix:///tmp/a\"b\\c\n";
	char cut[12] = "x/\"\"\"\"";

	url_name_escape(s, sizeof(s));
	assert_string_equal(s, "ppp+unix:///tmp/a%22b%5Cc%0A");
	url_name_escape(cut, sizeof(cut)); /* x/%22%22%22%22 does not fit: no half escape */
	assert_string_equal(cut, "x/%22%22%22");
	strcpy(s, "ws://h:1/plain");
	url_name_escape(s, sizeof(s));
	assert_string_equal(s, "ws://h:1/plain");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),          cmocka_unit_test(test_forward_and_options),
	    cmocka_unit_test(test_unknown_option), cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_ipv6_and_paths), cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_repeats),        cmocka_unit_test(test_hostport),
	    cmocka_unit_test(test_duration),       cmocka_unit_test(test_name_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
