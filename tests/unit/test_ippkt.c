/* Unit tests: netstack/ippkt.  The IPv4 SYN below was built, checksums
 * included, by a separate Python implementation of RFC 791, 793 and 1071
 * (struct.pack and a sum over 16-bit words), not by this code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"
#include "netstack/ippkt.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	int n = hex_decode(h, strlen(h), out, cap);

	assert_true(n > 0);
	return (size_t)n;
}

/* 127.0.0.1:40000 -> 127.0.0.1:80 SYN, seq 1, window 65495, MSS 65495 */
static const char syn4[] = "45000030"
                           "00004000"
                           "4006"
                           "3cc6"
                           "7f000001"
                           "7f000001"
                           "9c400050"
                           "00000001"
                           "00000000"
                           "7002ffd7"
                           "e8b3"
                           "0000"
                           "020405b4"
                           "01010402";

static void test_ipv4_tcp(void **st)
{
	uint8_t b[64];
	size_t n = unhex(syn4, b, sizeof(b));
	ippkt_t p;

	assert_int_equal(ippkt_version(b, n), 4);
	assert_int_equal(ippkt_parse(b, n, &p), 0);
	assert_int_equal(p.v, 4);
	assert_int_equal(p.len, 48);
	assert_int_equal(p.proto, IPPKT_TCP);
	assert_int_equal(p.l4, 20);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 80);
	assert_int_equal(p.seq, 1);
	assert_int_equal(p.flags, IPPKT_SYN);
	assert_int_equal(p.payload, 0);
	/* a right header sums to 0; so does the transport with its pseudo-header */
	assert_int_equal(ippkt_csum(b, 20), 0);
	assert_int_equal(ippkt_csum_l4(b, 4, IPPKT_TCP, b + 20, 28), 0);
	b[26] ^= 1; /* a bit of the transport */
	assert_int_not_equal(ippkt_csum_l4(b, 4, IPPKT_TCP, b + 20, 28), 0);
}

static void test_ipv6_udp(void **st)
{
	uint8_t b[48] = {0x60, 0, 0, 0, 0, 8, IPPKT_UDP, 64};
	ippkt_t p;
	uint16_t c;

	b[23] = 1; /* ::1 -> ::1 */
	b[39] = 1;
	b[40] = 0x13; /* 5000 -> 53 */
	b[41] = 0x88;
	b[43] = 53;
	b[45] = 8;
	c = ippkt_csum_l4(b, 6, IPPKT_UDP, b + 40, 8);
	b[46] = (uint8_t)(c >> 8);
	b[47] = (uint8_t)c;
	assert_int_equal(ippkt_csum_l4(b, 6, IPPKT_UDP, b + 40, 8), 0);
	assert_int_equal(ippkt_parse(b, sizeof(b), &p), 0);
	assert_int_equal(p.v, 6);
	assert_int_equal(p.len, 48);
	assert_int_equal(p.sport, 5000);
	assert_int_equal(p.dport, 53);
	assert_int_equal(p.l4, 40);
	assert_int_equal(p.dst[15], 1);
}

/* Lengths in the headers are checked against the bytes given. */
static void test_malformed(void **st)
{
	uint8_t b[64];
	size_t n = unhex(syn4, b, sizeof(b));
	ippkt_t p;

	assert_int_equal(ippkt_parse(b, 0, &p), -EINVAL);
	assert_int_equal(ippkt_version(b, 0), 0);
	assert_int_equal(ippkt_parse(b, 19, &p), -EINVAL);    /* short header */
	assert_int_equal(ippkt_parse(b, n - 1, &p), -EINVAL); /* total length past the end */
	b[0] = 0x44;                                          /* IHL 16 bytes */
	assert_int_equal(ippkt_parse(b, n, &p), -EINVAL);
	b[0] = 0x45;
	b[32] = 0x40; /* TCP data offset 16 bytes */
	assert_int_equal(ippkt_parse(b, n, &p), -EINVAL);
	b[32] = 0x70;
	b[6] = 0x20; /* a later fragment: no transport header, not an error */
	b[7] = 0x01;
	assert_int_equal(ippkt_parse(b, n, &p), 0);
	assert_int_equal(p.l4, 0);
	b[0] = 0x75; /* not IP */
	assert_int_equal(ippkt_parse(b, n, &p), -EINVAL);
}

/* The sum taken 16 octets at a time in the machine's order gives what
 * big-endian words one by one give: every length up to 3000 (odd ones
 * too), every alignment, sums carried on from one piece to the next. */
static void test_csum_add(void **st)
{
	static uint8_t b[3100];
	(void)st;

	srand(3);
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i % 7 ? rand() : 0xff);
	for (size_t len = 0; len <= 3000; len += len < 80 ? 1 : 37) {
		for (size_t off = 0; off < 8; off++) {
			uint32_t ref = 0x1234, sum;
			size_t cut = len / 2 & ~(size_t)1;

			for (size_t i = 0; i + 1 < len; i += 2)
				ref += (uint32_t)b[off + i] << 8 | b[off + i + 1];
			if (len & 1)
				ref += (uint32_t)b[off + len - 1] << 8;
			sum = ippkt_csum_add(0x1234, b + off, len);
			assert_int_equal(ippkt_csum_fold(sum), ippkt_csum_fold(ref));
			sum = ippkt_csum_add(ippkt_csum_add(0x1234, b + off, cut), b + off + cut,
			                     len - cut);
			assert_int_equal(ippkt_csum_fold(sum), ippkt_csum_fold(ref));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ipv4_tcp),
	    cmocka_unit_test(test_ipv6_udp),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_csum_add),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
