/* Unit tests: netstack/vnet (cutting TUN super-packets, gathering TCP
 * segments back) and the VPN's runs of datagrams made from them
 * (vpn_data_seal_run), opened in shuffled order through the replay window,
 * and runs reordered against each other.
 * Every packet made is checked as a receiver would: IPv4 header checksum,
 * TCP/UDP checksum with the pseudo-header, lengths, sequence numbers,
 * flags, and the payload byte for byte. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cryptopool.h"
#include "netstack/ippkt.h"
#include "netstack/vnet.h"
#include "tunnel/vpn/vpn_proto.h"

#define PAY 10000
#define MSS 1388

static uint8_t payload[PAY];

static void fill(void)
{
	for (size_t i = 0; i < PAY; i++)
		payload[i] = (uint8_t)(i * 7 + (i >> 8));
}

/* A TCP super-packet as the kernel hands it: headers, then plen bytes of
 * payload; the checksum field holds junk (the kernel's partial sum: we
 * must not rely on it).  Options: 12 bytes (NOP NOP timestamps). */
static size_t make_tcp(uint8_t *p, int v6, size_t plen, uint8_t flags)
{
	size_t l4 = v6 ? 40 : 20, hl = l4 + 32;

	fill();
	memset(p, 0, hl);
	if (v6) {
		p[0] = 0x60;
		p[4] = (uint8_t)((hl - 40 + plen) >> 8);
		p[5] = (uint8_t)(hl - 40 + plen);
		p[6] = 6;
		p[7] = 64;
		p[8] = 0xfd;
		p[23] = 2;
		p[24] = 0xfd;
		p[39] = 1;
	} else {
		p[0] = 0x45;
		p[2] = (uint8_t)((hl + plen) >> 8);
		p[3] = (uint8_t)(hl + plen);
		p[4] = 0x12;
		p[5] = 0x34;
		p[6] = 0x40;
		p[8] = 64;
		p[9] = 6;
		memcpy(p + 12, "\x0a\x0a\x00\x02\x0a\x0a\x00\x01", 8);
	}
	p[l4] = 0x9c; /* ports 40000 -> 5201 */
	p[l4 + 1] = 0x40;
	p[l4 + 2] = 0x14;
	p[l4 + 3] = 0x51;
	memcpy(p + l4 + 4, "\xff\xff\xf0\x00", 4); /* the sequence wraps inside */
	memcpy(p + l4 + 8, "\x00\x00\x10\x00", 4);
	p[l4 + 12] = 8 << 4;
	p[l4 + 13] = flags;
	p[l4 + 14] = 0x01;
	p[l4 + 16] = 0xab; /* junk */
	memcpy(p + l4 + 20, "\x01\x01\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02", 12);
	memcpy(p + hl, payload, plen);
	return hl + plen;
}

static vnet_hdr_t tso(int v6)
{
	vnet_hdr_t h = {VNET_F_NEEDS_CSUM, v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4, 0, MSS, 0, 16};

	h.csum_start = v6 ? 40 : 20;
	h.hdr_len = (uint16_t)(h.csum_start + 32);
	return h;
}

static uint32_t seq_of(const uint8_t *p, size_t l4)
{
	return (uint32_t)p[l4 + 4] << 24 | (uint32_t)p[l4 + 5] << 16 | (uint32_t)p[l4 + 6] << 8 |
	       p[l4 + 7];
}

static uint8_t segs[64 * 2048];
static uint16_t lens[64];

static void check_segments(int v6, int n, size_t plen, uint8_t flags)
{
	size_t l4 = v6 ? 40 : 20, hl = l4 + 32, got = 0;

	assert_int_equal(n, (int)((plen + MSS - 1) / MSS));
	for (int i = 0; i < n; i++) {
		const uint8_t *s = segs + (size_t)i * 2048;
		size_t pl = lens[i] - hl;
		assert_true(vnet_l4_csum_ok(s, lens[i]));
		if (v6) {
			assert_int_equal(s[4] << 8 | s[5], lens[i] - 40);
		} else {
			assert_int_equal(s[2] << 8 | s[3], lens[i]);
			assert_int_equal(ippkt_csum(s, 20), 0);
			assert_int_equal(s[4] << 8 | s[5], 0x1234 + i);
		}
		assert_int_equal(pl, i + 1 < n ? MSS : plen - (size_t)(n - 1) * MSS);
		assert_int_equal(seq_of(s, l4), (uint32_t)(0xfffff000u + got));
		assert_memory_equal(s + hl, payload + got, pl);
		/* FIN and PSH on the last only, CWR on the first only */
		assert_int_equal(s[l4 + 13] & 0x09, i + 1 < n ? 0 : flags & 0x09);
		assert_int_equal(s[l4 + 13] & 0x80, i ? 0 : flags & 0x80);
		got += pl;
	}
	assert_int_equal(got, plen);
}

static uint8_t pkt[VNET_MAX];

static void tso_round_trip(int v6)
{
	vnet_hdr_t h = tso(v6);
	size_t len = make_tcp(pkt, v6, PAY, 0x10 | 0x08 | 0x80), l4 = v6 ? 40 : 20;
	vnet_gro_t *g = calloc(1, sizeof(*g));
	const uint8_t *out;
	vnet_hdr_t oh;
	size_t on;
	int n;

	fill();
	assert_int_equal(vnet_seg_len(&h, pkt, len), l4 + 32 + MSS);
	n = vnet_segment(&h, pkt, len, segs, 2048, 64, lens);
	check_segments(v6, n, PAY, 0x10 | 0x08 | 0x80);
	/* back together (CWR would keep the first segment out: only ACK and
	 * PSH may join) */
	len = make_tcp(pkt, v6, PAY, 0x10 | 0x08);
	n = vnet_segment(&h, pkt, len, segs, 2048, 64, lens);
	check_segments(v6, n, PAY, 0x10 | 0x08);
	for (int i = 0; i < n; i++)
		assert_int_equal(vnet_gro_add(g, segs + (size_t)i * 2048, lens[i]), 1);
	on = vnet_gro_finish(g, &out);
	assert_int_equal(on, VNET_HDR_LEN + len);
	vnet_hdr_parse(out, &oh);
	assert_int_equal(oh.gso_type, v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4);
	assert_int_equal(oh.gso_size, MSS);
	assert_int_equal(oh.csum_start, l4);
	assert_int_equal(oh.csum_offset, 16);
	assert_int_equal(oh.flags, VNET_F_NEEDS_CSUM);
	assert_memory_equal(out + VNET_HDR_LEN + l4 + 32, payload, PAY);
	assert_int_equal(out[VNET_HDR_LEN + l4 + 13], 0x18); /* ACK, PSH of the last */
	/* what the kernel does with it: cut again (it checksums): the same
	 * segments */
	n = vnet_segment(&oh, out + VNET_HDR_LEN, on - VNET_HDR_LEN, segs, 2048, 64, lens);
	check_segments(v6, n, PAY, 0x18);
	assert_int_equal(vnet_gro_finish(g, &out), 0);
	free(g);
}

static void test_tso4(void **st)
{
	(void)st;
	tso_round_trip(0);
}

static void test_tso6(void **st)
{
	(void)st;
	tso_round_trip(1);
}

static void test_gro_refuses(void **st)
{
	vnet_gro_t *g = calloc(1, sizeof(*g));
	vnet_hdr_t h = tso(0);
	size_t len = make_tcp(pkt, 0, 4 * MSS, 0x10);
	const uint8_t *out;
	int n;
	(void)st;

	fill();
	n = vnet_segment(&h, pkt, len, segs, 2048, 64, lens);
	assert_int_equal(n, 4);
	/* a gap: segment 2 missing */
	assert_int_equal(vnet_gro_add(g, segs, lens[0]), 1);
	assert_int_equal(vnet_gro_add(g, segs + 2 * 2048, lens[2]), 0);
	/* a bad checksum never joins nor starts */
	segs[2048 + 60] ^= 1;
	assert_int_equal(vnet_gro_add(g, segs + 2048, lens[1]), 0);
	segs[2048 + 60] ^= 1;
	assert_int_equal(vnet_gro_add(g, segs + 2048, lens[1]), 1);
	/* another flow (port) */
	{
		uint8_t o[2048];
		memcpy(o, segs + 2 * 2048, lens[2]);
		o[21] ^= 1;
		o[36] = o[37] = 0; /* checksum made valid again below */
		vnet_hdr_t one = tso(0);
		uint8_t c[2048];
		uint16_t l;
		one.gso_size = 2000;
		assert_int_equal(vnet_segment(&one, o, lens[2], c, 2048, 1, &l), 1);
		assert_true(vnet_l4_csum_ok(c, l));
		assert_int_equal(vnet_gro_add(g, c, l), 0);
	}
	assert_int_equal(vnet_gro_finish(g, &out) > 0, 1);
	/* nothing pending: anything TCP with data starts one, a SYN does not */
	pkt[20 + 13] = 0x02;
	{
		vnet_hdr_t one = tso(0);
		uint8_t c[2048];
		uint16_t l;
		len = make_tcp(pkt, 0, 100, 0x02);
		one.gso_size = 2000;
		assert_int_equal(vnet_segment(&one, pkt, len, c, 2048, 1, &l), 1);
		assert_int_equal(vnet_gro_add(g, c, l), 0);
	}
	free(g);
}

/* UDP super-packet (USO) and a single packet with a partial checksum */
static void test_uso_and_csum(void **st)
{
	uint8_t p[4000];
	vnet_hdr_t h = {VNET_F_NEEDS_CSUM, VNET_GSO_UDP_L4, 28, 1000, 20, 6};
	size_t len = 28 + 2500;
	int n;
	(void)st;

	fill();
	memset(p, 0, 28);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 17;
	memcpy(p + 12, "\x0a\x0a\x00\x02\x0a\x0a\x00\x01", 8);
	p[21] = 53;
	p[23] = 53;
	memcpy(p + 28, payload, 2500);
	n = vnet_segment(&h, p, len, segs, 2048, 64, lens);
	assert_int_equal(n, 3);
	for (int i = 0; i < n; i++) {
		const uint8_t *s = segs + (size_t)i * 2048;
		assert_int_equal(lens[i], 28 + (i < 2 ? 1000 : 500));
		assert_int_equal(s[24] << 8 | s[25], lens[i] - 20);
		assert_true(vnet_l4_csum_ok(s, lens[i]));
		assert_int_equal(ippkt_csum(s, 20), 0);
		assert_memory_equal(s + 28, payload + i * 1000, lens[i] - 28);
	}
	/* one packet whose checksum the kernel left partial: the field holds
	 * the pseudo-header's sum (big-endian words: addresses, protocol,
	 * length), the rest is ours to add */
	{
		vnet_hdr_t c = {VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, 20, 6};
		uint8_t q[2048];
		uint32_t sum = 17 + (uint32_t)(lens[0] - 20);
		uint16_t l;
		memcpy(q, segs, lens[0]);
		for (int k = 12; k < 20; k += 2)
			sum += (uint32_t)(q[k] << 8 | q[k + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		q[26] = (uint8_t)(sum >> 8);
		q[27] = (uint8_t)sum;
		assert_int_equal(vnet_segment(&c, q, lens[0], segs + 9 * 2048, 2048, 1, &l), 1);
		assert_true(vnet_l4_csum_ok(segs + 9 * 2048, l));
		assert_memory_equal(segs + 9 * 2048, segs, lens[0]);
	}
}

static void test_malformed(void **st)
{
	vnet_hdr_t h = tso(0);
	size_t len = make_tcp(pkt, 1, 3000, 0x10);
	(void)st;

	/* an IPv6 packet under a TCPv4 header, a zero gso_size, a wrong
	 * length, csum_start past the end, too little room */
	assert_int_equal(vnet_segment(&h, pkt, len, segs, 2048, 64, lens), -EINVAL);
	len = make_tcp(pkt, 0, 3000, 0x10);
	h.gso_size = 0;
	assert_int_equal(vnet_segment(&h, pkt, len, segs, 2048, 64, lens), -EINVAL);
	h = tso(0);
	assert_int_equal(vnet_segment(&h, pkt, len - 1, segs, 2048, 64, lens), -EINVAL);
	assert_int_equal(vnet_segment(&h, pkt, len, segs, 2048, 2, lens), -ENOSPC);
	assert_int_equal(vnet_segment(&h, pkt, len, segs, 1000, 64, lens), -ENOSPC);
	h.gso_type = VNET_GSO_NONE;
	h.csum_start = 60000;
	assert_int_equal(vnet_segment(&h, pkt, len, segs, 8192, 64, lens), -EINVAL);
	/* random headers over random bytes: whatever comes out, no crash */
	srand(7);
	for (int i = 0; i < 20000; i++) {
		uint8_t b[VNET_HDR_LEN];
		size_t l = (size_t)rand() % 3000;
		for (size_t k = 0; k < sizeof(b); k++)
			b[k] = (uint8_t)rand();
		for (size_t k = 0; k < 80; k++)
			pkt[k] = (uint8_t)rand();
		pkt[0] = (uint8_t)(rand() & 1 ? 0x45 : 0x60);
		vnet_hdr_parse(b, &h);
		h.gso_type = (uint8_t)(rand() % 6);
		vnet_segment(&h, pkt, l, segs, 2048, 64, lens);
	}
}

/* A super-packet sealed as a run, opened in a shuffled order: every
 * datagram once, each replay refused, the plaintexts are the segments. */
static void test_vpn_run_shuffled(void **st)
{
	uint8_t key[32];
	aead_t tx, rx;
	vpn_replay_t rp = {0};
	vnet_hdr_t h = tso(0);
	size_t len = make_tcp(pkt, 0, PAY, 0x10), stride, last;
	static uint8_t run[64 * 2048];
	uint8_t out[2048];
	uint64_t ctr = 5;
	int n, order[16];
	(void)st;

	fill();
	memset(key, 3, sizeof(key));
	aead_init(&tx, AEAD_CHACHA20_POLY1305, key, 1);
	aead_init(&rx, AEAD_CHACHA20_POLY1305, key, 0);
	n = vpn_data_seal_run(&tx, 0x1234, &ctr, pkt, len, &h, run, sizeof(run), &stride, &last);
	assert_int_equal(n, 8);
	assert_int_equal(ctr, 13);
	assert_int_equal(stride, 20 + 32 + MSS + VPN_OVERHEAD);
	assert_int_equal(last, 20 + 32 + (PAY - 7 * MSS) + VPN_OVERHEAD);
	assert_int_equal(vnet_segment(&h, pkt, len, segs, 2048, 64, lens), 8);
	for (int i = 0; i < n; i++)
		order[i] = i;
	srand(11);
	for (int i = n - 1; i > 0; i--) {
		int j = rand() % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < n; k++) {
		int i = order[k];
		size_t dl = i + 1 < n ? stride : last;
		int m = vpn_data_open(&rx, &rp, run + (size_t)i * stride, dl, out);
		assert_int_equal(m, lens[i]);
		assert_memory_equal(out, segs + (size_t)i * 2048, lens[i]);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(vpn_data_open(&rx, &rp, run + (size_t)i * stride,
		                               i + 1 < n ? stride : last, out),
		                 -EALREADY);
	/* a plain packet is a run of one */
	n = vpn_data_seal_run(&tx, 0x1234, &ctr, segs, lens[0], NULL, run, sizeof(run), &stride,
	                      &last);
	assert_int_equal(n, 1);
	assert_int_equal(vpn_data_open(&rx, &rp, run, last, out), lens[0]);
	aead_free(&tx);
	aead_free(&rx);
}

/* Runs reordered against each other, as GRO reads of two sockets' queues
 * or a network can hand them over: the later run first, then the earlier
 * one, each datagram accepted once; then the window moves on by more than
 * VPN_WINDOW counters and the first run, replayed, is refused whole. */
static void test_vpn_runs_reordered(void **st)
{
	enum { RUNS = 3 };
	uint8_t key[32];
	aead_t tx, rx;
	vpn_replay_t rp = {0};
	vnet_hdr_t h = tso(0);
	size_t len = make_tcp(pkt, 0, PAY, 0x10), stride[RUNS], last[RUNS];
	static uint8_t runs[RUNS][64 * 2048];
	uint8_t out[2048];
	uint64_t ctr = 1;
	int n[RUNS];
	static const int order[RUNS] = {2, 0, 1};
	(void)st;

	memset(key, 9, sizeof(key));
	aead_init(&tx, AEAD_CHACHA20_POLY1305, key, 1);
	aead_init(&rx, AEAD_CHACHA20_POLY1305, key, 0);
	for (int k = 0; k < RUNS; k++) {
		n[k] = vpn_data_seal_run(&tx, 7, &ctr, pkt, len, &h, runs[k], sizeof(runs[k]),
		                         &stride[k], &last[k]);
		assert_int_equal(n[k], 8);
	}
	assert_int_equal(vnet_segment(&h, pkt, len, segs, 2048, 64, lens), 8);
	for (int k = 0; k < RUNS; k++) {
		int r = order[k];
		/* back to front inside each run too */
		for (int i = n[r] - 1; i >= 0; i--) {
			size_t dl = i + 1 < n[r] ? stride[r] : last[r];
			int m = vpn_data_open(&rx, &rp, runs[r] + (size_t)i * stride[r], dl, out);
			assert_int_equal(m, lens[i]);
			assert_memory_equal(out, segs + (size_t)i * 2048, lens[i]);
			assert_int_equal(
			    vpn_data_open(&rx, &rp, runs[r] + (size_t)i * stride[r], dl, out),
			    -EALREADY);
		}
	}
	/* one datagram far ahead moves the window past every run */
	ctr += VPN_WINDOW;
	n[0] = vpn_data_seal_run(&tx, 7, &ctr, segs, lens[0], NULL, out, sizeof(out), &stride[1],
	                         &last[1]);
	assert_int_equal(n[0], 1);
	{
		static uint8_t plain[2048];
		assert_int_equal(vpn_data_open(&rx, &rp, out, last[1], plain), lens[0]);
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(vpn_data_open(&rx, &rp, runs[0] + (size_t)i * stride[0],
		                               i + 1 < 8 ? stride[0] : last[0], out),
		                 -EALREADY);
	aead_free(&tx);
	aead_free(&rx);
}

/* The crypto workers' path (core/cryptopool, as the VPN client and server
 * use it): three runs' datagrams in batches, shuffled across and inside
 * batches, each datagram in its batch twice, the first run again in a
 * later batch, and one with a bit flipped.  The window is checked when a
 * datagram joins a batch (it lets both copies through), the workers open,
 * and back on the loop, in submission order, vpn_data_accept() takes each
 * counter once: every datagram is delivered exactly once, the flipped one
 * never, and the batches come back in the order they were handed over. */
typedef struct wtest {
	vpn_replay_t rp;
	int got[64];   /* deliveries per counter */
	int seq[32];   /* batch tags in delivery order */
	int nseq, bad; /* batches delivered, records not authentic */
	int left;
} wtest_t;

static void wtest_done(cpjob_t *j)
{
	wtest_t *w = j->owner;

	w->seq[w->nseq++] = (int)j->tag;
	for (size_t i = 0; i < j->n; i++) {
		const uint8_t *d = j->buf + j->off[i];
		if (j->len[i] < 0) {
			w->bad++;
			continue;
		}
		if (vpn_data_accept(&w->rp, d)) {
			uint64_t ctr = 0;
			uint32_t recv;
			assert_int_equal(
			    vpn_data_peek(d, (size_t)j->len[i] + VPN_OVERHEAD, &recv, &ctr), 0);
			assert_true(ctr < 64);
			w->got[ctr]++;
		}
	}
	w->left--;
}

static void test_vpn_workers_reordered(void **st)
{
	enum { RUNS = 3, BATCHES = 6 };
	uint8_t key[32];
	aead_t tx;
	vnet_hdr_t h = tso(0);
	size_t len = make_tcp(pkt, 0, PAY, 0x10), stride[RUNS], last[RUNS];
	static uint8_t runs[RUNS][64 * 2048];
	static wtest_t w;
	uv_loop_t loop;
	cpool_t *pool;
	cpkey_t *k;
	uint64_t ctr = 1;
	int n[RUNS], dg[RUNS * 8][2], nd = 0;
	(void)st;

	memset(&w, 0, sizeof(w));
	memset(key, 5, sizeof(key));
	aead_init(&tx, AEAD_AES_128_GCM, key, 1);
	for (int r = 0; r < RUNS; r++) {
		n[r] = vpn_data_seal_run(&tx, 7, &ctr, pkt, len, &h, runs[r], sizeof(runs[r]),
		                         &stride[r], &last[r]);
		assert_int_equal(n[r], 8);
		for (int i = 0; i < n[r]; i++) {
			dg[nd][0] = r;
			dg[nd++][1] = i;
		}
	}
	srand(23);
	for (int i = nd - 1; i > 0; i--) {
		int j = rand() % (i + 1), t0 = dg[i][0], t1 = dg[i][1];
		dg[i][0] = dg[j][0];
		dg[i][1] = dg[j][1];
		dg[j][0] = t0;
		dg[j][1] = t1;
	}
	runs[1][3 * stride[1] + 40] ^= 1; /* run 1's fourth datagram: not authentic */
	assert_int_equal(uv_loop_init(&loop), 0);
	pool = cpool_new(&loop, 2);
	assert_non_null(pool);
	k = cpkey_new(pool, AEAD_AES_128_GCM, key, 0);
	for (int b = 0; b < BATCHES; b++) {
		cpjob_t *j = cpool_job(pool, &w, k, vpn_job_open, wtest_done);
		assert_non_null(j);
		j->tag = (uint64_t)b;
		/* batch b: its share of the shuffled datagrams, each twice; the last
		 * batch replays the whole first run */
		for (int x = b * nd / (BATCHES - 1);
		     b < BATCHES - 1 && x < (b + 1) * nd / (BATCHES - 1); x++)
			for (int c = 0; c < 2; c++) {
				int r = dg[x][0], i = dg[x][1];
				size_t dl = i + 1 < n[r] ? stride[r] : last[r];
				uint32_t recv;
				uint64_t cn;
				assert_int_equal(
				    vpn_data_peek(runs[r] + (size_t)i * stride[r], dl, &recv, &cn),
				    0);
				if (!vpn_replay_check(&w.rp, cn))
					continue;
				j->off[j->n] = (uint32_t)j->used;
				j->len[j->n++] = (int32_t)dl;
				memcpy(j->buf + j->used, runs[r] + (size_t)i * stride[r], dl);
				j->used += dl;
			}
		for (int i = 0; b == BATCHES - 1 && i < n[0]; i++) {
			size_t dl = i + 1 < n[0] ? stride[0] : last[0];
			j->off[j->n] = (uint32_t)j->used;
			j->len[j->n++] = (int32_t)dl;
			memcpy(j->buf + j->used, runs[0] + (size_t)i * stride[0], dl);
			j->used += dl;
		}
		w.left++;
		cpool_submit(pool, j);
	}
	cpkey_unref(k); /* the jobs hold it until they are delivered */
	while (w.left)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(w.nseq, BATCHES);
	for (int b = 0; b < BATCHES; b++)
		assert_int_equal(w.seq[b], b);
	for (uint64_t c = 1; c < ctr; c++)
		assert_int_equal(w.got[c], c == 1 + 8 + 3 ? 0 : 1);
	assert_int_equal(w.bad, 2); /* the flipped datagram, both copies */
	/* a pool behind takes no more than its cap; the loop works for it first */
	{
		cpool_stats_t cs;
		k = cpkey_new(pool, AEAD_AES_128_GCM, key, 0);
		w.left = 0;
		for (int b = 0; b < CPOOL_JOBS_MAX + 5; b++) {
			cpjob_t *j = cpool_job(pool, &w, k, vpn_job_open, wtest_done);
			if (!j)
				continue;
			w.left++;
			cpool_submit(pool, j);
		}
		cpool_stats(pool, &cs);
		assert_int_equal(cs.dropped, 5);
		assert_int_equal(cs.jobs, BATCHES + CPOOL_JOBS_MAX);
		/* forgotten: freed without done */
		cpool_forget(pool, &w);
		cpkey_unref(k);
	}
	cpool_free(pool);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	aead_free(&tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tso4),
	    cmocka_unit_test(test_tso6),
	    cmocka_unit_test(test_gro_refuses),
	    cmocka_unit_test(test_uso_and_csum),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_vpn_run_shuffled),
	    cmocka_unit_test(test_vpn_runs_reordered),
	    cmocka_unit_test(test_vpn_workers_reordered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
