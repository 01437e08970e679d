/* Unit tests: netstack/ackthin, the pure ACK held until the end of the
 * turn.  Packets are built here byte by byte: a later ACK of the same flow
 * replaces the held one; a duplicate ACK, a window update, data, a FIN,
 * another flow, SACK blocks, an IPv4 fragment or options all send the held
 * ACK first, whole and unchanged, so nothing a sender reads is lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "netstack/ackthin.h"

/* An IPv4 (or IPv6) TCP segment 10.0.0.1:80 -> 10.0.0.2:port, flags,
 * acknowledgment number, window; opts bytes of TCP options, plen of data. */
static size_t seg(uint8_t *p, int v6, uint16_t port, uint8_t flags, uint32_t ack, uint16_t win,
                  const uint8_t *opts, size_t olen, size_t plen)
{
	size_t ih = v6 ? 40 : 20, th = 20 + olen, len = ih + th + plen;
	uint8_t *t = p + ih;

	memset(p, 0, len);
	if (v6) {
		p[0] = 0x60;
		p[4] = (uint8_t)((th + plen) >> 8);
		p[5] = (uint8_t)(th + plen);
		p[6] = 6;
		p[7] = 64;
		p[8] = 0xfd;
		p[23] = 1;
		p[24] = 0xfd;
		p[39] = 2;
	} else {
		p[0] = 0x45;
		p[2] = (uint8_t)(len >> 8);
		p[3] = (uint8_t)len;
		p[6] = 0x40; /* DF */
		p[8] = 64;
		p[9] = 6;
		memcpy(p + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	}
	t[1] = 80;
	t[2] = (uint8_t)(port >> 8);
	t[3] = (uint8_t)port;
	t[8] = (uint8_t)(ack >> 24);
	t[9] = (uint8_t)(ack >> 16);
	t[10] = (uint8_t)(ack >> 8);
	t[11] = (uint8_t)ack;
	t[12] = (uint8_t)((th / 4) << 4);
	t[13] = flags;
	t[14] = (uint8_t)(win >> 8);
	t[15] = (uint8_t)win;
	if (olen)
		memcpy(t + 20, opts, olen);
	return len;
}

static ackthin_t a;
static uint8_t prev[ACKTHIN_MAX];
static size_t plen;

/* offer p: returns held (1) or send (0); prev/plen: what went first */
static int offer(const uint8_t *p, size_t len)
{
	return ackthin_offer(&a, p, len, prev, &plen);
}

static void test_replace_and_flush(void **st)
{
	uint8_t p1[100], p2[100], p3[100], d[200], out[ACKTHIN_MAX];
	size_t l1 = seg(p1, 0, 5000, 0x10, 1000, 500, NULL, 0, 0);
	size_t l2 = seg(p2, 0, 5000, 0x10, 2400, 500, NULL, 0, 0);
	size_t l3 = seg(p3, 0, 5000, 0x10, 3800, 400, NULL, 0, 0), ld;
	(void)st;

	memset(&a, 0, sizeof(a));
	assert_int_equal(offer(p1, l1), 1);
	assert_int_equal(plen, 0);
	assert_int_equal(offer(p2, l2), 1); /* covers p1: p1 is gone */
	assert_int_equal(plen, 0);
	assert_int_equal(offer(p3, l3), 1); /* a smaller window, further on: it is the news */
	assert_int_equal(a.thinned, 2);
	/* the same ACK again (a duplicate ACK) sends the held one first */
	assert_int_equal(offer(p3, l3), 1);
	assert_int_equal(plen, l3);
	assert_memory_equal(prev, p3, l3);
	/* a window update (same ACK, larger window): the held one first */
	l2 = seg(p2, 0, 5000, 0x10, 3800, 600, NULL, 0, 0);
	assert_int_equal(offer(p2, l2), 1);
	assert_int_equal(plen, l3);
	/* an older ACK (reordered): held one first, and the old one is held */
	l1 = seg(p1, 0, 5000, 0x10, 3000, 600, NULL, 0, 0);
	assert_int_equal(offer(p1, l1), 1);
	assert_int_equal(plen, l2);
	assert_memory_equal(prev, p2, l2);
	/* data goes after the held ACK, and is not held */
	ld = seg(d, 0, 5000, 0x18, 4000, 600, NULL, 0, 100);
	assert_int_equal(offer(d, ld), 0);
	assert_int_equal(plen, l1);
	assert_int_equal(ackthin_take(&a, out), 0);
	/* the end of the turn takes what is held */
	assert_int_equal(offer(p3, l3), 1);
	assert_int_equal(ackthin_take(&a, out), l3);
	assert_memory_equal(out, p3, l3);
	assert_int_equal(ackthin_take(&a, out), 0);
}

static void test_not_pure(void **st)
{
	static const uint8_t ts[] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	static const uint8_t sack[] = {1, 1, 5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0};
	uint8_t h[100], p[100], out[ACKTHIN_MAX];
	size_t lh = seg(h, 0, 6000, 0x10, 100, 500, NULL, 0, 0), l;
	(void)st;

	memset(&a, 0, sizeof(a));
	/* each of these: the held ACK goes first, the packet itself is sent */
	struct {
		uint16_t port;
		uint8_t flags;
		const uint8_t *o;
		size_t ol, pl;
	} cases[] = {
	    {6000, 0x11, NULL, 0, 0},  /* FIN */
	    {6000, 0x14, NULL, 0, 0},  /* RST */
	    {6000, 0x18, NULL, 0, 0},  /* PSH */
	    {6000, 0x50, NULL, 0, 0},  /* ECE */
	    {6000, 0x10, sack, 12, 0}, /* SACK blocks */
	    {6000, 0x10, NULL, 0, 1},  /* one byte of data */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(offer(h, lh), 1);
		l = seg(p, 0, cases[i].port, cases[i].flags, 900, 500, cases[i].o, cases[i].ol,
		        cases[i].pl);
		assert_int_equal(offer(p, l), 0);
		assert_int_equal(plen, lh);
		assert_memory_equal(prev, h, lh);
	}
	/* timestamps are fine: held, and replaced by a later one */
	l = seg(p, 0, 6000, 0x10, 900, 500, ts, 12, 0);
	assert_int_equal(offer(p, l), 1);
	l = seg(h, 0, 6000, 0x10, 1900, 500, ts, 12, 0);
	assert_int_equal(offer(h, l), 1);
	assert_int_equal(plen, 0);
	/* another flow: the held one goes, the new one is held */
	lh = seg(p, 0, 6001, 0x10, 5000, 500, NULL, 0, 0);
	assert_int_equal(offer(p, lh), 1);
	assert_int_equal(plen, l);
	/* an IPv4 fragment is never held */
	ackthin_take(&a, out);
	l = seg(p, 0, 6000, 0x10, 900, 500, NULL, 0, 0);
	p[6] = 0x20; /* MF */
	assert_int_equal(offer(p, l), 0);
	assert_int_equal(plen, 0);
	/* IPv6: held and replaced the same way */
	l = seg(p, 1, 7000, 0x10, 10, 500, NULL, 0, 0);
	assert_int_equal(offer(p, l), 1);
	/* half the sequence space on is not further on */
	l = seg(h, 1, 7000, 0x10, 10 + 0x80000000u, 500, NULL, 0, 0);
	assert_int_equal(offer(h, l), 1);
	assert_int_equal(plen, 60);
	l = seg(p, 1, 7000, 0x10, 1410 + 0x80000000u, 500, NULL, 0, 0);
	assert_int_equal(offer(p, l), 1);
	assert_int_equal(plen, 0);
	/* garbage and short packets are sent, never held */
	memset(p, 0xff, sizeof(p));
	assert_int_equal(offer(p, 60), 0);
	assert_int_equal(plen, 60);
	assert_int_equal(offer(p, 10), 0);
	assert_int_equal(offer(p, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replace_and_flush),
	    cmocka_unit_test(test_not_pure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
