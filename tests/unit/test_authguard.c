/* Unit tests: core/authguard (brute-force protection per source). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/authguard.h"

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		fail_msg("bad test address %s", ip);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static int setup(void **st)
{
	authguard_cfg_t c;

	authguard_reset();
	authguard_cfg_default(&c);
	authguard_configure(&c);
	return 0;
}

static void test_delays_then_ban(void **st)
{
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2");
	int64_t expect[] = {0, 0, 0, 250, 500, 1000, 2000, 4000, 4000};
	uint64_t now = 1000;

	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++, now += 10)
		assert_int_equal(authguard_fail(SA(a), now, "test", 0), expect[i]);
	assert_false(authguard_banned(SA(a), now));
	/* the tenth failure bans */
	assert_int_equal(authguard_fail(SA(a), now, "test", 0), AUTHGUARD_BANNED);
	assert_true(authguard_banned(SA(a), now));
	assert_int_equal(authguard_fail(SA(a), now + 1, "test", 0), AUTHGUARD_BANNED);
	/* another source is untouched */
	assert_false(authguard_banned(SA(b), now));
	assert_int_equal(authguard_fail(SA(b), now, "test", 0), 0);
	/* a success does not lift a ban, but the ban ends after 10 minutes */
	assert_true(authguard_banned(SA(a), now + 600000 - 1));
	assert_false(authguard_banned(SA(a), now + 600000));
	assert_int_equal(authguard_fail(SA(a), now + 600000, "test", 0), 0);
}

static void test_success_and_window_forget(void **st)
{
	struct sockaddr_storage a = addr("192.0.2.9");

	for (int i = 0; i < 5; i++)
		authguard_fail(SA(a), 100, "test", 0);
	authguard_ok(SA(a));
	assert_int_equal(authguard_fail(SA(a), 200, "test", 0), 0);
	for (int i = 0; i < 5; i++)
		authguard_fail(SA(a), 300, "test", 0);
	/* past the window the count starts again */
	assert_int_equal(authguard_fail(SA(a), 300 + 600001, "test", 0), 0);
}

static void test_ipv6_by_prefix(void **st)
{
	struct sockaddr_storage a = addr("2001:db8:1:2::1"), b = addr("2001:db8:1:2::ffff"),
	                        c = addr("2001:db8:1:3::1");

	for (int i = 0; i < 9; i++)
		authguard_fail(SA(a), 10, "test", 0);
	assert_int_equal(authguard_fail(SA(b), 10, "test", 0), AUTHGUARD_BANNED);
	assert_true(authguard_banned(SA(a), 11));
	assert_false(authguard_banned(SA(c), 11));
}

static void test_off(void **st)
{
	struct sockaddr_storage a = addr("192.0.2.3");
	authguard_cfg_t c;
	char err[160];

	authguard_cfg_default(&c);
	assert_int_equal(authguard_cfg_parse(&c, "off", err, sizeof(err)), 0);
	authguard_configure(&c);
	for (int i = 0; i < 50; i++)
		assert_int_equal(authguard_fail(SA(a), 10, "test", 0), 0);
	assert_false(authguard_banned(SA(a), 10));
}

static void test_cfg_parse(void **st)
{
	authguard_cfg_t c;
	char err[160];

	authguard_cfg_default(&c);
	assert_int_equal(
	    authguard_cfg_parse(&c, "free=1,max-failures=3,ban=2s,delay=10ms", err, sizeof(err)),
	    0);
	assert_int_equal(c.free, 1);
	assert_int_equal(c.max_failures, 3);
	assert_int_equal(c.ban_ms, 2000);
	assert_int_equal(c.delay_ms, 10);
	assert_int_equal(authguard_cfg_parse(&c, "bann=2s", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'bann'"));
	assert_int_equal(authguard_cfg_parse(&c, "ban=soon", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ban"));
	assert_int_equal(authguard_cfg_parse(&c, "free=5,max-failures=5", err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(authguard_cfg_parse(&c, "free", err, sizeof(err)), -EINVAL);
}

/* A flood of sources never evicts a ban within its probe run and never
 * grows the table. */
static void test_bounded_and_bans_kept(void **st)
{
	struct sockaddr_storage a = addr("198.51.100.7");
	char ip[32];

	for (int i = 0; i < 10; i++)
		authguard_fail(SA(a), 10, "test", 0);
	assert_true(authguard_banned(SA(a), 20));
	for (int i = 0; i < 200000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		struct sockaddr_storage s = addr(ip);
		authguard_fail(SA(s), 20, "test", 0);
	}
	assert_true(authguard_banned(SA(a), 30));
}

static void test_metrics(void **st)
{
	struct sockaddr_storage a = addr("192.0.2.77");
	mbuf_t b = {0};

	for (int i = 0; i < 10; i++)
		authguard_fail(SA(a), 10, "socks5", 0);
	authguard_fail(SA(a), 10, "http", 0);
	authguard_metrics(&b, 20);
	assert_non_null(strstr(b.p, "sluice_auth_failures_total{proto=\"socks5\"} 10\n"));
	assert_non_null(strstr(b.p, "sluice_auth_failures_total{proto=\"http\"} 1\n"));
	assert_non_null(strstr(b.p, "sluice_auth_bans_total{proto=\"socks5\"} 1\n"));
	assert_non_null(strstr(b.p, "sluice_auth_banned_sources 1\n"));
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_delays_then_ban, setup),
	    cmocka_unit_test_setup(test_success_and_window_forget, setup),
	    cmocka_unit_test_setup(test_ipv6_by_prefix, setup),
	    cmocka_unit_test_setup(test_off, setup),
	    cmocka_unit_test_setup(test_cfg_parse, setup),
	    cmocka_unit_test_setup(test_bounded_and_bans_kept, setup),
	    cmocka_unit_test_setup(test_metrics, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
