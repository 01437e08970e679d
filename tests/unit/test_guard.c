/* Unit tests: core/acl and core/ratelimit (the guard rails). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "core/acl.h"
#include "core/ratelimit.h"

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

static int permits(const acl_t *a, const char *ip)
{
	struct sockaddr_storage ss = addr(ip);
	return acl_permits(a, (struct sockaddr *)&ss);
}

static void test_cidr_parse(void **st)
{
	cidr_t c;

	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.bits, 8);
	assert_int_equal(cidr_parse("192.168.1.7", &c), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(cidr_parse("fe80::/10", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_true(cidr_parse("10.0.0.0/33", &c) < 0);
	assert_true(cidr_parse("10.0.0/8", &c) < 0);
	assert_true(cidr_parse("10.0.0.0/", &c) < 0);
	assert_true(cidr_parse("::1/129", &c) < 0);
	assert_true(cidr_parse("example.org", &c) < 0);
}

static void test_acl(void **st)
{
	acl_t a = {0};
	char bad[64];

	assert_true(permits(&a, "8.8.8.8")); /* empty: all */
	assert_int_equal(
	    cidr_list_add(&a.allow, "10.0.0.0/8, 192.168.0.0/16,2001:db8::/32", bad, sizeof(bad)),
	    0);
	assert_int_equal(cidr_list_add(&a.deny, "10.1.0.0/16", bad, sizeof(bad)), 0);
	assert_true(permits(&a, "10.2.3.4"));
	assert_false(permits(&a, "10.1.3.4")); /* deny wins */
	assert_false(permits(&a, "11.0.0.1")); /* not allowed */
	assert_true(permits(&a, "192.168.200.1"));
	assert_true(permits(&a, "2001:db8::5"));
	assert_false(permits(&a, "2001:db9::5"));
	assert_true(permits(&a, "::ffff:10.2.3.4")); /* v4-mapped */
	assert_false(permits(&a, "::ffff:10.1.3.4"));
	assert_int_equal(cidr_list_add(&a.deny, "10.0.0.1,nonsense", bad, sizeof(bad)), -22);
	assert_string_equal(bad, "nonsense");
	acl_free(&a);
}

static void test_restricted(void **st)
{
	acl_t a = {0};
	char bad[64];

	acl_guard(&a, ACL_HOST_LOOPBACK);
	acl_guard(&a, ACL_LINK_LOCAL);
	assert_false(permits(&a, "127.0.0.1"));
	assert_false(permits(&a, "127.8.9.10"));
	assert_false(permits(&a, "::1"));
	assert_false(permits(&a, "::"));
	assert_false(permits(&a, "::ffff:127.0.0.1"));
	assert_false(permits(&a, "0.0.0.0"));
	assert_false(permits(&a, "169.254.169.254"));
	assert_false(permits(&a, "::ffff:169.254.169.254"));
	assert_false(permits(&a, "fe80::1"));
	assert_false(permits(&a, "fd00:ec2::254"));
	assert_false(permits(&a, "100.100.100.200"));
	assert_true(permits(&a, "100.100.100.201"));
	assert_true(permits(&a, "93.184.216.34"));
	assert_true(permits(&a, "10.1.2.3"));
	assert_true(permits(&a, "2606:2800::1"));
	acl_free(&a);

	/* an allow entry inside a guarded range opens that part only */
	assert_int_equal(cidr_list_add(&a.allow, "127.0.0.1,169.254.169.254", bad, sizeof(bad)), 0);
	acl_guard(&a, ACL_HOST_LOOPBACK);
	acl_guard(&a, ACL_LINK_LOCAL);
	assert_true(permits(&a, "127.0.0.1"));
	assert_false(permits(&a, "127.0.0.2"));
	assert_true(permits(&a, "169.254.169.254"));
	assert_false(permits(&a, "169.254.170.2"));
	assert_false(permits(&a, "93.184.216.34")); /* allow is a whitelist */
	acl_free(&a);

	/* a broad allow entry does not open what is guarded */
	assert_int_equal(cidr_list_add(&a.allow, "0.0.0.0/0,::/0", bad, sizeof(bad)), 0);
	acl_guard(&a, ACL_HOST_LOOPBACK);
	assert_false(permits(&a, "127.0.0.1"));
	assert_false(permits(&a, "::1"));
	assert_true(permits(&a, "93.184.216.34"));
	assert_true(permits(&a, "169.254.169.254"));
	/* deny still wins over a lifted address */
	assert_int_equal(cidr_list_add(&a.deny, "93.184.216.0/24", bad, sizeof(bad)), 0);
	assert_false(permits(&a, "93.184.216.34"));
	acl_free(&a);
}

static void test_tbucket(void **st)
{
	tbucket_t b;
	int n = 0;

	tbucket_init(&b, 5, 1000);
	while (tbucket_take(&b, 10, 5, 1000))
		n++;
	assert_int_equal(n, 5);                      /* the burst */
	assert_false(tbucket_take(&b, 10, 5, 1050)); /* half a token */
	assert_true(tbucket_take(&b, 10, 5, 1100));  /* one token after 100 ms at 10/s */
	assert_false(tbucket_take(&b, 10, 5, 1100));
	n = 0;
	while (tbucket_take(&b, 10, 5, 100000))
		n++;
	assert_int_equal(n, 5); /* refill caps at burst */
}

static void test_keyed(void **st)
{
	ratelimit_t *r = ratelimit_new(1, 2, 16);
	struct sockaddr_storage a = addr("10.0.0.1"), b = addr("10.0.0.2");

	assert_true(ratelimit_allow(r, (struct sockaddr *)&a, 0));
	assert_true(ratelimit_allow(r, (struct sockaddr *)&a, 0));
	assert_false(ratelimit_allow(r, (struct sockaddr *)&a, 0));
	assert_true(ratelimit_allow(r, (struct sockaddr *)&b, 0)); /* separate bucket */
	assert_true(ratelimit_allow(r, (struct sockaddr *)&a, 1000));
	/* many clients: bounded table, never a crash, recent abuser still limited */
	for (int i = 0; i < 10000; i++) {
		struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
		memcpy(&s6.sin6_addr, &i, sizeof(i));
		ratelimit_allow(r, (struct sockaddr *)&s6, 2000);
	}
	ratelimit_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cidr_parse), cmocka_unit_test(test_acl),
	    cmocka_unit_test(test_restricted), cmocka_unit_test(test_tbucket),
	    cmocka_unit_test(test_keyed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
