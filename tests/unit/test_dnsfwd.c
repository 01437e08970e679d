/* Unit tests: front/dnsfwd's pure part, the question parser behind every
 * UDP query and the SERVFAIL it answers when no name server is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "front/dnsfwd.h"
#include "netstack/dns.h"

static void test_question(void **st)
{
	uint8_t q[DNS_QUERY_MAX], out[512];
	int n = dns_query_build(q, sizeof(q), 0x1234, "probe.test", 1), m;

	assert_true(n > 0);
	assert_int_equal(dnsfwd_question_end(q, (size_t)n), n); /* header, name, type, class */
	m = dnsfwd_servfail(q, (size_t)n, out, sizeof(out));
	assert_int_equal(m, n);
	assert_int_equal(out[0], 0x12);
	assert_int_equal(out[1], 0x34);
	assert_true(out[2] & 0x80);             /* an answer */
	assert_int_equal(out[2] & 1, q[2] & 1); /* RD as asked */
	assert_int_equal(out[3] & 0x0f, 2);     /* SERVFAIL */
	assert_memory_equal(out + 12, q + 12, (size_t)n - 12);
	/* an EDNS record after the question is not copied */
	q[11] = 1;
	memcpy(q + n, "\0\0\x29\x10\0\0\0\0\0\0\0", 11);
	assert_int_equal(dnsfwd_servfail(q, (size_t)n + 11, out, sizeof(out)), n);
	assert_int_equal(out[11], 0);
}

static void test_not_queries(void **st)
{
	uint8_t q[DNS_QUERY_MAX], out[512];
	int n = dns_query_build(q, sizeof(q), 1, "a.example", 28);

	assert_int_equal(dnsfwd_question_end(q, 11), -1);            /* short header */
	assert_int_equal(dnsfwd_question_end(q, (size_t)n - 1), -1); /* type/class cut */
	q[2] |= 0x80;                                                /* an answer */
	assert_int_equal(dnsfwd_question_end(q, (size_t)n), -1);
	q[2] &= 0x7f;
	q[5] = 0; /* no question */
	assert_int_equal(dnsfwd_question_end(q, (size_t)n), -1);
	q[5] = 1;
	q[12] = 0xc0; /* a compression pointer */
	assert_int_equal(dnsfwd_question_end(q, (size_t)n), -1);
	q[12] = 60; /* a label running past the end */
	assert_int_equal(dnsfwd_question_end(q, (size_t)n), -1);
	assert_int_equal(dnsfwd_servfail(q, (size_t)n, out, sizeof(out)), -1);
	/* a name longer than 255 */
	memset(q + 12, 0, 300);
	for (int i = 0; i < 5; i++) {
		q[12 + i * 61] = 60;
		memset(q + 13 + i * 61, 'a', 60);
	}
	assert_int_equal(dnsfwd_question_end(q, 12 + 5 * 61 + 5), -1);
	/* out too small */
	n = dns_query_build(q, sizeof(q), 1, "a.example", 28);
	assert_int_equal(dnsfwd_servfail(q, (size_t)n, out, (size_t)n - 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_question),
	    cmocka_unit_test(test_not_queries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
