/* Unit tests for the PPP engine (ppp/hdlc, fsm, lcp, ipcp, ipv6cp, ppp).
 *
 *   - HDLC: FCS-16/FCS-32 check values and the "good" residues, encoded
 *     frames compared byte for byte with vectors computed independently by
 *     /usr/bin/python3 (binascii.crc_hqx on bit-reversed octets for FCS-16,
 *     zlib.crc32 for FCS-32, its own escaping), escapes of 00..1f/7d/7e,
 *     the deframer in 1-byte chunks, bad FCS, runts, aborts, oversize,
 *     receive-ACCM discards, ACFC/PFC headers;
 *   - the fsm: every cell of its table against RFC 1661 4.1 as printed,
 *     then a walk through the states with a dummy protocol (bad Acks,
 *     duplicate Acks, Max-Configure, Max-Failure Naks turning to Rejects);
 *   - two engines (server and client) wired back to back in memory with a
 *     fake clock: LCP + IPCP (+ IPV6CP) converge, addresses and DNS, IP
 *     both ways, framing=0 (whole frames with ff 03), lost frames, dead
 *     peer by echo, graceful close, a looped-back line, MRU and 1500-byte
 *     worst-case packets, IPV6CP with an identifier collision and without
 *     a willing peer, PAP, CHAP-MD5 and MS-CHAPv2 (with the MPPE keys),
 *     wrong passwords, a Nak to another method, refused authentication;
 *   - a scripted peer speaking raw frames, for what a friendly engine
 *     never sends: a Nak loop on MRU, endless Naks of ours, Rejects, a
 *     pppd-like client (VJ compression, 0.0.0.0 and DNS requests, CCP,
 *     renegotiation), FCS-32, Code-Rejected echoes, the client side of
 *     IPCP (slirp-like server), unknown codes and protocols, option
 *     floods, a peer that never answers, garbage floods, ppp_free() from
 *     inside down().  PPP_TEST_LOG=1 prints the engines' log lines.
 */
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

#include "ppp/fsm.h"
#include "ppp/hdlc.h"
#include "ppp/ppp.h"

static uint64_t clk = 1000000;

/* ---------------------------------------------------------------- HDLC */

static void test_fcs_vectors(void **state)
{
	static const uint8_t check[] = "123456789";
	uint8_t f[11];
	uint16_t v16;
	uint32_t v32;

	/* CRC-16/X-25 and CRC-32 check values */
	v16 = (uint16_t)~hdlc_fcs16(HDLC_FCS16_INIT, check, 9);
	assert_int_equal(v16, 0x906e);
	v32 = ~hdlc_fcs32(HDLC_FCS32_INIT, check, 9);
	assert_int_equal(v32, 0xcbf43926u);
	/* a frame followed by its FCS (least significant octet first) */
	memcpy(f, check, 9);
	f[9] = (uint8_t)v16;
	f[10] = (uint8_t)(v16 >> 8);
	assert_int_equal(hdlc_fcs16(HDLC_FCS16_INIT, f, 11), HDLC_FCS16_GOOD);
	assert_int_equal(HDLC_FCS16_GOOD, 0xf0b8);
	{
		uint8_t g[13];

		memcpy(g, check, 9);
		for (int i = 0; i < 4; i++)
			g[9 + i] = (uint8_t)(v32 >> (8 * i));
		assert_int_equal(hdlc_fcs32(HDLC_FCS32_INIT, g, 13), HDLC_FCS32_GOOD);
	}
	/* incremental = one shot */
	assert_int_equal(hdlc_fcs16(hdlc_fcs16(HDLC_FCS16_INIT, check, 4), check + 4, 5),
	                 hdlc_fcs16(HDLC_FCS16_INIT, check, 9));
}

/* LCP Configure-Request id 1: ACCM 0, Magic 0x12345678, PFC, ACFC. */
static const uint8_t lcp_req[] = {0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x14,
                                  0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x05, 0x06,
                                  0x12, 0x34, 0x56, 0x78, 0x07, 0x02, 0x08, 0x02};
/* ... as python3 encodes it with the default ACCM (all of 00..1f) */
static const uint8_t lcp_req_wire[] = {
    0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21, 0x7d, 0x21, 0x7d, 0x20, 0x7d, 0x34, 0x7d, 0x22,
    0x7d, 0x26, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x25, 0x7d, 0x26, 0x7d, 0x32,
    0x34, 0x56, 0x78, 0x7d, 0x27, 0x7d, 0x22, 0x7d, 0x28, 0x7d, 0x22, 0x4c, 0xef, 0x7e};
/* IPv4 proto (PFC-less), 8 bytes including 7e, 7d, 11 */
static const uint8_t ip_frame[] = {0x00, 0x21, 0x45, 0x00, 0x7e, 0x7d, 0x01, 0x11, 0x20, 0xff};
static const uint8_t ip_wire_accm0_fcs32[] = {0x7e, 0x00, 0x21, 0x45, 0x00, 0x7d, 0x5e, 0x7d, 0x5d,
                                              0x01, 0x11, 0x20, 0xff, 0xdd, 0x1f, 0xc9, 0x3a, 0x7e};
static const uint8_t ip_wire_xonxoff[] = {0x7e, 0x00, 0x21, 0x45, 0x00, 0x7d, 0x5e, 0x7d, 0x5d,
                                          0x01, 0x7d, 0x31, 0x20, 0xff, 0xb1, 0x51, 0x7e};

static void test_hdlc_encode_vectors(void **state)
{
	uint8_t out[HDLC_ENCODED_MAX(64)];
	hdlc_tx_t t;
	size_t n;

	hdlc_tx_init(&t, 0xffffffffu, 0);
	n = hdlc_encode(&t, lcp_req, sizeof(lcp_req), out, sizeof(out));
	assert_int_equal(n, sizeof(lcp_req_wire));
	assert_memory_equal(out, lcp_req_wire, n);

	hdlc_tx_init(&t, 0, 1);
	n = hdlc_encode(&t, ip_frame, sizeof(ip_frame), out, sizeof(out));
	assert_int_equal(n, sizeof(ip_wire_accm0_fcs32));
	assert_memory_equal(out, ip_wire_accm0_fcs32, n);

	hdlc_tx_init(&t, 0x000a0000u, 0); /* XON/XOFF */
	n = hdlc_encode(&t, ip_frame, sizeof(ip_frame), out, sizeof(out));
	assert_int_equal(n, sizeof(ip_wire_xonxoff));
	assert_memory_equal(out, ip_wire_xonxoff, n);

	/* too small an output buffer */
	assert_int_equal(hdlc_encode(&t, ip_frame, sizeof(ip_frame), out, 10), 0);
}

typedef struct rxcap {
	uint8_t f[8][9000];
	size_t len[8];
	int n;
	int stop_after;
} rxcap_t;

static int rx_cb(void *ud, const uint8_t *frame, size_t len)
{
	rxcap_t *c = ud;

	if (c->n < 8) {
		memcpy(c->f[c->n], frame, len);
		c->len[c->n] = len;
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after;
}

static void test_hdlc_escapes(void **state)
{
	uint8_t all[256], wire[HDLC_ENCODED_MAX(256)], buf[300];
	static rxcap_t cap;
	hdlc_tx_t t;
	hdlc_rx_t r;
	size_t n, i;
	int esc[256] = {0};

	for (i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	hdlc_tx_init(&t, 0xffffffffu, 0);
	n = hdlc_encode(&t, all, 256, wire, sizeof(wire));
	assert_true(n > 0);
	assert_int_equal(wire[0], 0x7e);
	assert_int_equal(wire[n - 1], 0x7e);
	for (i = 1; i < n - 1; i++) {
		assert_int_not_equal(wire[i], 0x7e);
		if (wire[i] == 0x7d) {
			esc[wire[i + 1] ^ 0x20] = 1;
			i++;
		} else {
			assert_false(wire[i] < 0x20); /* every control char escaped */
		}
	}
	for (i = 0; i < 0x20; i++)
		assert_true(esc[i]);
	assert_true(esc[0x7d]);
	assert_true(esc[0x7e]);
	/* the escapes seen: 00..1f, 7d, 7e in the data, maybe some in the FCS */
	for (i = 0x20; i < 256; i++)
		if (i != 0x7d && i != 0x7e)
			assert_false(esc[i]);

	memset(&cap, 0, sizeof(cap));
	hdlc_rx_init(&r, buf, sizeof(buf), rx_cb, &cap);
	assert_int_equal(hdlc_rx_feed(&r, wire, n), n);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.len[0], 256);
	assert_memory_equal(cap.f[0], all, 256);

	/* with an empty map only 7d and 7e are escaped */
	hdlc_tx_init(&t, 0, 0);
	n = hdlc_encode(&t, all, 256, wire, sizeof(wire));
	assert_true(n >= 256 + 2 + 2 + 2 && n <= 256 + 2 + 2 + 2 + 2);
}

/* Octet-by-octet references for the codec's fast paths. */
static uint16_t ref_fcs16(uint16_t f, const uint8_t *p, size_t n)
{
	while (n--) {
		f ^= *p++;
		for (int i = 0; i < 8; i++)
			f = (f & 1) ? (uint16_t)((f >> 1) ^ 0x8408) : (uint16_t)(f >> 1);
	}
	return f;
}

static uint32_t ref_fcs32(uint32_t f, const uint8_t *p, size_t n)
{
	while (n--) {
		f ^= *p++;
		for (int i = 0; i < 8; i++)
			f = (f & 1) ? (f >> 1) ^ 0xedb88320u : f >> 1;
	}
	return f;
}

static size_t ref_encode(uint32_t map, int fcs32, const uint8_t *f, size_t len, uint8_t *out)
{
	uint8_t tail[4];
	size_t n = 0, nt = fcs32 ? 4 : 2;
	uint32_t v = fcs32 ? ~ref_fcs32(HDLC_FCS32_INIT, f, len)
	                   : (uint16_t)~ref_fcs16(HDLC_FCS16_INIT, f, len);

	for (size_t i = 0; i < nt; i++)
		tail[i] = (uint8_t)(v >> (8 * i));
	out[n++] = HDLC_FLAG;
	for (size_t i = 0; i < len + nt; i++) {
		uint8_t c = i < len ? f[i] : tail[i - len];

		if (c == HDLC_FLAG || c == HDLC_ESC || (c < 0x20 && ((map >> c) & 1))) {
			out[n++] = HDLC_ESC;
			out[n++] = c ^ HDLC_TRANS;
		} else {
			out[n++] = c;
		}
	}
	out[n++] = HDLC_FLAG;
	return n;
}

/* The FCS taken eight octets at a time, the encoder's and the deframer's
 * runs: the same answers as octet by octet, for random frames of every
 * length up to 2000 at every alignment (octets to escape and control
 * characters made common), random transmit maps, control characters the
 * line inserted on the way (the receive ACCM discards them), the wire fed
 * in random chunks, and buffers too small for the frame. */
static void test_hdlc_fast_paths(void **state)
{
	static uint8_t frame[2100], wire[HDLC_ENCODED_MAX(2100) * 2], ref[HDLC_ENCODED_MAX(2100)],
	    noisy[HDLC_ENCODED_MAX(2100) * 2], buf[2100];
	static const uint8_t odd[] = {HDLC_FLAG, HDLC_ESC, 0x00, 0x11, 0x13,
	                              0x1f,      0x20,     0x5d, 0x5e};
	static rxcap_t cap;
	hdlc_tx_t t;
	hdlc_rx_t r;

	srand(20);
	for (int it = 0; it < 3000; it++) {
		size_t len = 2 + (size_t)rand() % 1999, off = (size_t)rand() % 8, n, m, nn = 0;
		uint32_t map = it % 3 == 0 ? 0 : it % 3 == 1 ? 0xffffffffu : (uint32_t)rand();
		int fcs32 = rand() & 1, dense = rand() % 4;
		size_t bufcap = rand() % 8 ? sizeof(buf) : len / 2 + 2;

		for (size_t i = 0; i < len; i++)
			frame[off + i] = dense == 0 ? odd[rand() % sizeof(odd)] : (uint8_t)rand();
		assert_int_equal(hdlc_fcs16(0x1234, frame + off, len),
		                 ref_fcs16(0x1234, frame + off, len));
		assert_int_equal(hdlc_fcs32(0x89abcdefu, frame + off, len),
		                 ref_fcs32(0x89abcdefu, frame + off, len));
		hdlc_tx_init(&t, map, fcs32);
		n = hdlc_encode(&t, frame + off, len, wire, sizeof(wire));
		m = ref_encode(map, fcs32, frame + off, len, ref);
		assert_int_equal(n, m);
		assert_memory_equal(wire, ref, n);
		/* the line inserts control characters the receiver discards */
		for (size_t i = 0; i < n; i++) {
			if (map && rand() % 16 == 0) {
				uint8_t c = (uint8_t)(rand() % 32);
				if ((map >> c) & 1)
					noisy[nn++] = c;
			}
			noisy[nn++] = wire[i];
		}
		memset(&cap, 0, sizeof(cap));
		hdlc_rx_init(&r, buf, bufcap, rx_cb, &cap);
		r.accm = map;
		r.fcs32 = fcs32;
		for (size_t i = 0; i < nn;) {
			size_t step = 1 + (size_t)rand() % (rand() % 2 ? 7 : 3000);
			if (step > nn - i)
				step = nn - i;
			assert_int_equal(hdlc_rx_feed(&r, noisy + i, step), step);
			i += step;
		}
		if (bufcap < len + (fcs32 ? 4 : 2)) {
			assert_int_equal(cap.n, 0);
			assert_int_equal(r.oversize, 1);
		} else {
			assert_int_equal(cap.n, 1);
			assert_int_equal(cap.len[0], len);
			assert_memory_equal(cap.f[0], frame + off, len);
		}
	}
}

static void test_hdlc_deframer(void **state)
{
	static rxcap_t cap;
	uint8_t buf[64], stream[512];
	hdlc_rx_t r;
	size_t n = 0;

	memset(&cap, 0, sizeof(cap));
	hdlc_rx_init(&r, buf, sizeof(buf), rx_cb, &cap);
	/* one byte at a time, idle flags around */
	stream[n++] = 0x7e;
	stream[n++] = 0x7e;
	memcpy(stream + n, lcp_req_wire, sizeof(lcp_req_wire));
	n += sizeof(lcp_req_wire);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(hdlc_rx_feed(&r, stream + i, 1), 1);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.len[0], sizeof(lcp_req));
	assert_memory_equal(cap.f[0], lcp_req, sizeof(lcp_req));

	/* a flipped bit: bad FCS */
	memcpy(stream, lcp_req_wire, sizeof(lcp_req_wire));
	stream[33] ^= 0x01;
	hdlc_rx_feed(&r, stream, sizeof(lcp_req_wire));
	assert_int_equal(r.bad_fcs, 1);
	assert_int_equal(cap.n, 1);

	/* runts */
	hdlc_rx_feed(&r, (const uint8_t *)"\x7e\x01\x7e\x01\x02\x03\x7e", 7);
	assert_int_equal(r.runts, 2);

	/* abort: 7d 7e ends the frame, dropped; the next one is fine */
	hdlc_rx_feed(&r, lcp_req_wire, 20);
	hdlc_rx_feed(&r, (const uint8_t *)"\x7d\x7e", 2);
	assert_int_equal(r.aborts, 1);
	hdlc_rx_feed(&r, lcp_req_wire, sizeof(lcp_req_wire));
	assert_int_equal(cap.n, 2);

	/* oversize: more than the buffer between flags, then a good frame */
	memset(stream, 0x41, 200);
	hdlc_rx_feed(&r, stream, 200);
	hdlc_rx_feed(&r, lcp_req_wire, sizeof(lcp_req_wire));
	assert_int_equal(r.oversize, 1);
	assert_int_equal(cap.n, 3);

	/* receive ACCM: XON/XOFF inserted by the line are discarded */
	r.accm = 0x000a0000;
	n = 0;
	for (size_t i = 0; i < sizeof(ip_wire_xonxoff); i++) {
		stream[n++] = ip_wire_xonxoff[i];
		if (i == 3)
			stream[n++] = 0x11;
		if (i == 8)
			stream[n++] = 0x13;
	}
	hdlc_rx_feed(&r, stream, n);
	assert_int_equal(cap.n, 4);
	assert_int_equal(cap.len[3], sizeof(ip_frame));
	assert_memory_equal(cap.f[3], ip_frame, sizeof(ip_frame));

	/* FCS-32 */
	r.accm = 0;
	r.fcs32 = 1;
	hdlc_rx_feed(&r, ip_wire_accm0_fcs32, sizeof(ip_wire_accm0_fcs32));
	assert_int_equal(cap.n, 5);
	assert_memory_equal(cap.f[4], ip_frame, sizeof(ip_frame));

	/* the callback can stop the feed */
	r.fcs32 = 0;
	cap.stop_after = 6;
	memcpy(stream, lcp_req_wire, sizeof(lcp_req_wire));
	memcpy(stream + sizeof(lcp_req_wire), lcp_req_wire, sizeof(lcp_req_wire));
	assert_int_equal(hdlc_rx_feed(&r, stream, 2 * sizeof(lcp_req_wire)), sizeof(lcp_req_wire));
	assert_int_equal(cap.n, 6);
}

static void test_hdlc_header(void **state)
{
	uint8_t h[4];
	uint16_t proto;

	assert_int_equal(hdlc_put_header(h, 0x0021, 0, 0), 4);
	assert_memory_equal(h, "\xff\x03\x00\x21", 4);
	assert_int_equal(hdlc_put_header(h, 0x0021, 1, 1), 1);
	assert_int_equal(h[0], 0x21);
	assert_int_equal(hdlc_put_header(h, 0xc021, 1, 1), 2); /* > 0xff: never compressed */
	assert_memory_equal(h, "\xc0\x21", 2);

	assert_int_equal(hdlc_parse_header((const uint8_t *)"\xff\x03\xc0\x21\x01", 5, &proto), 4);
	assert_int_equal(proto, 0xc021);
	assert_int_equal(hdlc_parse_header((const uint8_t *)"\x21\x45", 2, &proto), 1);
	assert_int_equal(proto, 0x21);
	assert_int_equal(hdlc_parse_header((const uint8_t *)"\xff\x03\x21", 3, &proto), 3);
	assert_int_equal(hdlc_parse_header((const uint8_t *)"\x80\x21", 2, &proto), 2);
	assert_int_equal(proto, 0x8021);
	/* bad: ff without 03, even low octet, truncated */
	assert_int_equal(hdlc_parse_header((const uint8_t *)"\xff\x05\xc0\x21", 4, &proto),
	                 -EBADMSG);
	assert_int_equal(hdlc_parse_header((const uint8_t *)"\xc0\x22", 2, &proto), -EBADMSG);
	assert_int_equal(hdlc_parse_header((const uint8_t *)"\xc0", 1, &proto), -EBADMSG);
	assert_int_equal(hdlc_parse_header((const uint8_t *)"\xff\x03", 2, &proto), -EBADMSG);
	assert_int_equal(hdlc_parse_header(NULL, 0, &proto), -EBADMSG);
}

/* ------------------------------------------------------- the fsm alone */

/* RFC 1661 4.1 as printed (the two halves joined): every cell of fsm.c's
 * table must read the same, less the optional r/p/x markers. */
static const char *const rfc1661_table[] = {
    "Up   |    2     irc,scr/6     -         -         -         -    -  -  -  -",
    "Down |    -         -         0       tls/1       0         1    1  1  1  tld/1",
    "Open |  tls/1       1     irc,scr/6     3r        5r        5r   6  7  8  9r",
    "Close|    0       tlf/0       2         2         4         4    irc,str/4 irc,str/4 "
    "irc,str/4 tld,irc,str/4",
    "TO+  |    -         -         -         -       str/4     str/5  scr/6 scr/6 scr/8 -",
    "TO-  |    -         -         -         -       tlf/2     tlf/3  tlf/3p tlf/3p tlf/3p -",
    "RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5    sca/8 sca,tlu/9 sca/8 "
    "tld,scr,sca/8",
    "RCR- |    -         -       sta/2 irc,scr,scn/6   4         5    scn/6 scn/7 scn/6 "
    "tld,scr,scn/6",
    "RCA  |    -         -       sta/2     sta/3       4         5    irc/7 scr/6x irc,tlu/9 "
    "tld,scr/6x",
    "RCN  |    -         -       sta/2     sta/3       4         5    irc,scr/6 scr/6x irc,scr/8 "
    "tld,scr/6x",
    "RTR  |    -         -       sta/2     sta/3     sta/4     sta/5  sta/6 sta/6 sta/6 "
    "tld,zrc,sta/5",
    "RTA  |    -         -         2         3       tlf/2     tlf/3  6 6 8 tld,scr/6",
    "RUC  |    -         -       scj/2     scj/3     scj/4     scj/5  scj/6 scj/7 scj/8 scj/9",
    "RXJ+ |    -         -         2         3         4         5    6 6 8 9",
    "RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3  tlf/3 tlf/3 tlf/3 "
    "tld,irc,str/5",
    "RXR  |    -         -         2         3         4         5    6 7 8 ser/9",
};

static void test_fsm_table_is_rfc1661(void **state)
{
	for (int e = 0; e < FSM_NEVENTS; e++) {
		char row[256], *save = NULL, *cell, buf[32];
		int s = 0;

		snprintf(row, sizeof(row), "%s", strchr(rfc1661_table[e], '|') + 1);
		for (cell = strtok_r(row, " ", &save); cell; cell = strtok_r(NULL, " ", &save)) {
			size_t n = strlen(cell);

			if (n > 1 && strchr("rpx", cell[n - 1]))
				cell[n - 1] = 0;
			assert_true(s < FSM_NSTATES);
			fsm_describe((fsm_state_t)s, (fsm_event_t)e, buf, sizeof(buf));
			if (strcmp(buf, cell))
				fail_msg("%s in %s: table says %s, RFC 1661 %s",
				         fsm_event_name((fsm_event_t)e),
				         fsm_state_name((fsm_state_t)s), buf, cell);
			s++;
		}
		assert_int_equal(s, FSM_NSTATES);
	}
}

typedef struct dummy {
	int ups, downs, starts, finishes, fails;
	uint8_t last_code[64];
	int nout;
	int nak_everything;
} dummy_t;

static void d_reset(fsm_t *f) {}
static size_t d_build(fsm_t *f, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	fsm_opt_put(buf, cap, &n, 1, "\x01\x02", 2);
	return n;
}
static int d_check(fsm_t *f, const uint8_t *o, size_t len, uint8_t *rep, size_t cap, size_t *rl,
                   int nak_ok)
{
	dummy_t *d = f->ctx;

	if (!d->nak_everything)
		return CP_CONF_ACK;
	fsm_opt_put(rep, cap, rl, 1, "\x09\x09", 2);
	return nak_ok ? CP_CONF_NAK : CP_CONF_REJ;
}
static int d_nak(fsm_t *f, const uint8_t *o, size_t len)
{
	return 0;
}
static void d_up(fsm_t *f)
{
	((dummy_t *)f->ctx)->ups++;
}
static void d_down(fsm_t *f)
{
	((dummy_t *)f->ctx)->downs++;
}
static void d_started(fsm_t *f)
{
	((dummy_t *)f->ctx)->starts++;
}
static void d_finished(fsm_t *f)
{
	((dummy_t *)f->ctx)->finishes++;
}

static const fsm_ops_t dummy_ops = {
    .name = "dummy",
    .proto = 0x8021,
    .reset = d_reset,
    .build_req = d_build,
    .check_req = d_check,
    .got_nak = d_nak,
    .got_rej = d_nak,
    .up = d_up,
    .down = d_down,
    .started = d_started,
    .finished = d_finished,
};

static void d_output(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	dummy_t *d = ud;

	if (d->nout < 64)
		d->last_code[d->nout] = pkt[0];
	d->nout++;
}
static void d_layer(void *ud, fsm_t *f, fsm_layer_t ev) {}
static void d_fail(void *ud, fsm_t *f, const char *reason)
{
	((dummy_t *)ud)->fails++;
}

static void test_fsm_table(void **state)
{
	static dummy_t d;
	fsm_env_t env = {
	    .ud = &d, .now = &clk, .output = d_output, .layer = d_layer, .fail = d_fail};
	fsm_t f;
	uint8_t pkt[16];

	memset(&d, 0, sizeof(d));
	fsm_init(&f, &dummy_ops, &env, &d);
	assert_string_equal(fsm_state_name(f.state), "Initial");
	assert_string_equal(fsm_event_name(FSM_EV_RXJ_M), "RXJ-");
	fsm_up(&f); /* Initial + Up -> Closed */
	assert_int_equal(f.state, FSM_CLOSED);
	fsm_open(&f); /* Closed + Open -> irc, scr / Req-Sent */
	assert_int_equal(f.state, FSM_REQ_SENT);
	assert_int_equal(d.nout, 1);
	assert_int_equal(d.last_code[0], CP_CONF_REQ);
	assert_int_equal(f.restart, FSM_MAX_CONFIGURE - 1);
	/* a Configure-Ack with the wrong id: dropped */
	memcpy(pkt, "\x02\x63\x00\x08\x01\x04\x01\x02", 8);
	fsm_input(&f, pkt, 8);
	assert_int_equal(f.state, FSM_REQ_SENT);
	/* the right one: RCA -> Ack-Rcvd */
	pkt[1] = f.req_id;
	fsm_input(&f, pkt, 8);
	assert_int_equal(f.state, FSM_ACK_RCVD);
	/* a duplicate Ack is dropped (not a renegotiation later) */
	fsm_input(&f, pkt, 8);
	assert_int_equal(f.state, FSM_ACK_RCVD);
	/* RCR+ -> sca, tlu / Opened */
	memcpy(pkt, "\x01\x07\x00\x04", 4);
	fsm_input(&f, pkt, 4);
	assert_int_equal(f.state, FSM_OPENED);
	assert_int_equal(d.last_code[1], CP_CONF_ACK);
	assert_int_equal(d.ups, 1);
	assert_int_equal(fsm_deadline(&f), 0);
	/* RTR -> tld, zrc, sta / Stopping; TO- -> tlf / Stopped */
	memcpy(pkt, "\x05\x08\x00\x04", 4);
	fsm_input(&f, pkt, 4);
	assert_int_equal(f.state, FSM_STOPPING);
	assert_int_equal(d.downs, 1);
	assert_int_equal(d.last_code[2], CP_TERM_ACK);
	clk += FSM_RESTART_MS;
	fsm_tick(&f);
	assert_int_equal(f.state, FSM_STOPPED);
	assert_int_equal(d.finishes, 1);
	/* Stopped + RCR -> irc, scr, sca / Ack-Sent */
	memcpy(pkt, "\x01\x09\x00\x04", 4);
	fsm_input(&f, pkt, 4);
	assert_int_equal(f.state, FSM_ACK_SENT);
	/* Close -> irc, str / Closing; RTA -> tlf / Closed */
	fsm_close(&f, "bye");
	assert_int_equal(f.state, FSM_CLOSING);
	assert_int_equal(d.last_code[d.nout - 1], CP_TERM_REQ);
	memcpy(pkt, "\x06\x01\x00\x04", 4);
	fsm_input(&f, pkt, 4);
	assert_int_equal(f.state, FSM_CLOSED);
	assert_int_equal(d.finishes, 2);
	/* Closed + RCR -> sta */
	memcpy(pkt, "\x01\x0a\x00\x04", 4);
	fsm_input(&f, pkt, 4);
	assert_int_equal(f.state, FSM_CLOSED);
	assert_int_equal(d.last_code[d.nout - 1], CP_TERM_ACK);
	/* unknown code -> scj; Code-Reject of a core code -> RXJ- */
	memcpy(pkt, "\x20\x0b\x00\x04", 4);
	fsm_input(&f, pkt, 4);
	assert_int_equal(d.last_code[d.nout - 1], CP_CODE_REJ);
	/* Down -> Initial */
	fsm_down(&f);
	assert_int_equal(f.state, FSM_INITIAL);
	/* lengths that lie are dropped */
	d.nout = 0;
	fsm_up(&f);
	fsm_open(&f);
	assert_int_equal(d.nout, 1);
	fsm_input(&f, (const uint8_t *)"\x01\x01\x00\x09\x00", 5);
	fsm_input(&f, (const uint8_t *)"\x01\x01\x00\x03", 4);
	fsm_input(&f, (const uint8_t *)"\x01\x01", 2);
	assert_int_equal(d.nout, 1);
	/* Max-Configure unanswered requests -> TO- -> Stopped */
	for (int i = 0; i < 20 && f.state == FSM_REQ_SENT; i++) {
		clk += FSM_RESTART_MS;
		fsm_tick(&f);
	}
	assert_int_equal(f.state, FSM_STOPPED);
	assert_int_equal(d.nout, FSM_MAX_CONFIGURE);

	/* Nak after Nak: Max-Failure Naks, then Rejects, then the fsm gives up */
	memset(&d, 0, sizeof(d));
	fsm_init(&f, &dummy_ops, &env, &d);
	d.nak_everything = 1;
	fsm_up(&f);
	fsm_open(&f);
	for (int i = 0; i < 30 && !d.fails; i++) {
		pkt[0] = 1;
		pkt[1] = (uint8_t)i;
		pkt[2] = 0;
		pkt[3] = 4;
		fsm_input(&f, pkt, 4);
	}
	assert_int_equal(d.fails, 1);
	assert_int_equal(d.nout, 1 + 2 * FSM_MAX_FAILURE);
	for (int i = 1; i <= FSM_MAX_FAILURE; i++)
		assert_int_equal(d.last_code[i], CP_CONF_NAK);
	for (int i = FSM_MAX_FAILURE + 1; i <= 2 * FSM_MAX_FAILURE; i++)
		assert_int_equal(d.last_code[i], CP_CONF_REJ);
}

/* ------------------------------------------------- engines back to back */

typedef struct chunk {
	struct chunk *next;
	size_t len;
	uint8_t data[];
} chunk_t;

typedef struct frame {
	uint16_t proto;
	size_t len; /* of info */
	uint8_t info[1600];
} frame_t;

#define MAXCAP 256

typedef struct end {
	const char *name;
	ppp_t *p;
	ppp_cfg_t cfg;
	int framing;
	struct end *peer;
	chunk_t *qh, *qt; /* what this end sent, not yet delivered */
	unsigned nout, drop_first;
	int drop_all, loop_self;
	/* what the engine told us */
	int ups, downs, ip_in;
	char reason[160];
	ppp_ipcfg_t ip;
	uint16_t ip_proto;
	uint8_t ip_pkt[2048];
	size_t ip_len;
	/* every frame it sent, decoded */
	hdlc_rx_t rx;
	uint8_t rxbuf[9000];
	frame_t *cap;
	int ncap;
	char log[65536];
	size_t loglen;
} end_t;

static int cap_frame(void *ud, const uint8_t *f, size_t len)
{
	end_t *e = ud;
	uint16_t proto;
	int h = hdlc_parse_header(f, len, &proto);

	assert_true(h > 0);
	if (e->ncap < MAXCAP) {
		frame_t *c = &e->cap[e->ncap];

		c->proto = proto;
		c->len = len - (size_t)h > sizeof(c->info) ? sizeof(c->info) : len - (size_t)h;
		memcpy(c->info, f + h, c->len);
	}
	e->ncap++;
	return 0;
}

static void on_output(void *ud, const uint8_t *buf, size_t len)
{
	end_t *e = ud;
	chunk_t *c;

	e->nout++;
	if (e->framing) {
		assert_int_equal(buf[0], 0x7e);
		assert_int_equal(buf[len - 1], 0x7e);
		hdlc_rx_feed(&e->rx, buf, len);
	} else {
		assert_true(len >= 4);
		/* SSTP peers want ff 03 on every frame */
		assert_int_equal(buf[0], 0xff);
		assert_int_equal(buf[1], 0x03);
		cap_frame(e, buf, len);
	}
	if (e->drop_all || e->nout <= e->drop_first)
		return;
	if (!e->peer && !e->loop_self)
		return;
	c = malloc(sizeof(*c) + len);
	assert_non_null(c);
	c->next = NULL;
	c->len = len;
	memcpy(c->data, buf, len);
	if (e->qt)
		e->qt->next = c;
	else
		e->qh = c;
	e->qt = c;
}

static void on_ip(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	end_t *e = ud;

	e->ip_in++;
	e->ip_proto = proto;
	e->ip_len = len > sizeof(e->ip_pkt) ? sizeof(e->ip_pkt) : len;
	memcpy(e->ip_pkt, pkt, e->ip_len);
}

static void on_up(void *ud, const ppp_ipcfg_t *ip)
{
	end_t *e = ud;

	e->ups++;
	e->ip = *ip;
}

static void on_down(void *ud, const char *reason)
{
	end_t *e = ud;

	e->downs++;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
}

static const struct {
	const char *user, *secret;
} users[] = {{"alice", "wonderland"}, {"bob", "builder"}};

static int on_lookup(void *ud, const char *user, char *secret, size_t cap)
{
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (!strcmp(user, users[i].user)) {
			snprintf(secret, cap, "%s", users[i].secret);
			return (int)strlen(users[i].secret);
		}
	return -1;
}

static void on_log(void *ud, int level, const char *msg)
{
	end_t *e = ud;
	int n = snprintf(e->log + e->loglen, sizeof(e->log) - e->loglen, "%s\n", msg);

	if (n > 0 && e->loglen + (size_t)n < sizeof(e->log))
		e->loglen += (size_t)n;
	if (getenv("PPP_TEST_LOG"))
		fprintf(stderr, "[%s %llu] %s\n", e->name, (unsigned long long)clk, msg);
}

static const ppp_cbs_t cbs = {
    .output = on_output,
    .ip_input = on_ip,
    .up = on_up,
    .down = on_down,
    .lookup = on_lookup,
    .log = on_log,
};

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void server_cfg(ppp_cfg_t *c, int framing)
{
	memset(c, 0, sizeof(*c));
	c->server = 1;
	c->framing = framing;
	c->name = "sluice";
	c->ip.local = ip4("10.64.0.1");
	c->ip.peer = ip4("10.64.0.2");
	c->ip.dns1 = ip4("10.64.0.53");
	c->ip.dns2 = ip4("10.64.0.54");
}

static void client_cfg(ppp_cfg_t *c, int framing)
{
	memset(c, 0, sizeof(*c));
	c->framing = framing;
}

static end_t *end_new(const char *name, const ppp_cfg_t *cfg)
{
	end_t *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->cap = calloc(MAXCAP, sizeof(frame_t));
	assert_non_null(e->cap);
	e->name = name;
	e->cfg = *cfg;
	e->framing = cfg->framing;
	hdlc_rx_init(&e->rx, e->rxbuf, sizeof(e->rxbuf), cap_frame, e);
	e->p = ppp_new(cfg, &cbs, e);
	assert_non_null(e->p);
	return e;
}

static void end_free(end_t *e)
{
	chunk_t *c;

	while ((c = e->qh)) {
		e->qh = c->next;
		free(c);
	}
	ppp_free(e->p);
	free(e->cap);
	free(e);
}

static void wire(end_t *a, end_t *b)
{
	a->peer = b;
	b->peer = a;
}

static void feed(end_t *e, const uint8_t *buf, size_t len)
{
	if (e->framing)
		ppp_input_bytes(e->p, buf, len, clk);
	else
		ppp_input_frame(e->p, buf, len, clk);
}

/* Deliver one queued chunk from e to its peer (or to itself). */
static int deliver(end_t *e)
{
	chunk_t *c = e->qh;
	end_t *to = e->loop_self ? e : e->peer;

	if (!c)
		return 0;
	e->qh = c->next;
	if (!e->qh)
		e->qt = NULL;
	if (to)
		feed(to, c->data, c->len);
	free(c);
	return 1;
}

static uint64_t min_deadline(end_t *a, end_t *b)
{
	uint64_t x = a ? ppp_next_deadline(a->p) : 0, y = b ? ppp_next_deadline(b->p) : 0;

	if (!x)
		return y;
	if (!y)
		return x;
	return x < y ? x : y;
}

/* Run both ends (b may be NULL) until cond holds or ms of fake time pass. */
#define RUN(a, b, ms, cond)                                                                        \
	do {                                                                                       \
		uint64_t end_ = clk + (ms);                                                        \
		for (int guard_ = 0;; guard_++) {                                                  \
			uint64_t d_;                                                               \
			assert_true(guard_ < 1000000);                                             \
			if (cond)                                                                  \
				break;                                                             \
			if (deliver(a) | ((b) ? deliver(b) : 0))                                   \
				continue;                                                          \
			d_ = min_deadline((a), (b));                                               \
			if (!d_ || d_ > end_) {                                                    \
				clk = end_;                                                        \
				break;                                                             \
			}                                                                          \
			if (d_ > clk)                                                              \
				clk = d_;                                                          \
			ppp_tick((a)->p, clk);                                                     \
			if (b)                                                                     \
				ppp_tick((b)->p, clk);                                             \
		}                                                                                  \
	} while (0)

static int count_frames(end_t *e, uint16_t proto, int code)
{
	int n = 0;

	for (int i = 0; i < e->ncap && i < MAXCAP; i++)
		if (e->cap[i].proto == proto && (code < 0 || e->cap[i].info[0] == code))
			n++;
	return n;
}

static const frame_t *last_frame(end_t *e, uint16_t proto, int code)
{
	for (int i = (e->ncap < MAXCAP ? e->ncap : MAXCAP) - 1; i >= 0; i--)
		if (e->cap[i].proto == proto && (code < 0 || e->cap[i].info[0] == code))
			return &e->cap[i];
	return NULL;
}

static void pair_up(end_t *s, end_t *c)
{
	wire(s, c);
	ppp_start(s->p, clk);
	ppp_start(c->p, clk);
	RUN(s, c, 60000, s->ups && c->ups);
	assert_int_equal(s->ups, 1);
	assert_int_equal(c->ups, 1);
	assert_int_equal(ppp_phase(s->p), PPP_RUNNING);
	assert_int_equal(ppp_phase(c->p), PPP_RUNNING);
	assert_string_equal(ppp_lcp_state(s->p), "Opened");
	assert_string_equal(ppp_lcp_state(c->p), "Opened");
}

static void check_ip_both_ways(end_t *s, end_t *c)
{
	static const uint8_t pkt[] = {0x45, 0x00, 0x00, 0x1c, 0x7e, 0x7d, 0x11,
	                              0x13, 0x00, 0x01, 0x02, 0x03, 0xff, 0xfe};
	int si = s->ip_in, ci = c->ip_in;

	assert_int_equal(ppp_send_ip(c->p, PPP_IP, pkt, sizeof(pkt)), 0);
	RUN(s, c, 1000, s->ip_in > si);
	assert_int_equal(s->ip_in, si + 1);
	assert_int_equal(s->ip_proto, PPP_IP);
	assert_int_equal(s->ip_len, sizeof(pkt));
	assert_memory_equal(s->ip_pkt, pkt, sizeof(pkt));
	assert_int_equal(ppp_send_ip(s->p, PPP_IP, pkt, sizeof(pkt)), 0);
	RUN(s, c, 1000, c->ip_in > ci);
	assert_int_equal(c->ip_in, ci + 1);
	assert_memory_equal(c->ip_pkt, pkt, sizeof(pkt));
}

static void test_converge_no_auth(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;
	static uint8_t big[9000];

	server_cfg(&sc, 1);
	client_cfg(&cc, 1);
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c);
	/* the client got the address and the DNS servers from the server */
	assert_int_equal(c->ip.local, ip4("10.64.0.2"));
	assert_int_equal(c->ip.peer, ip4("10.64.0.1"));
	assert_int_equal(c->ip.dns1, ip4("10.64.0.53"));
	assert_int_equal(c->ip.dns2, ip4("10.64.0.54"));
	assert_int_equal(s->ip.local, ip4("10.64.0.1"));
	assert_int_equal(s->ip.peer, ip4("10.64.0.2"));
	assert_int_equal(c->ip.ipv6, 0);
	assert_null(ppp_auth(s->p));
	assert_int_equal(ppp_peer_mru(s->p), 1500);
	assert_true(strstr(s->log, "lcp: Req-Sent -> ") != NULL);
	assert_true(strstr(c->log, "ipcp: Ack-Sent -> Opened") ||
	            strstr(c->log, "ipcp: Ack-Rcvd -> Opened"));

	check_ip_both_ways(s, c);
	/* ACFC and PFC are in effect: an IP frame starts 7e 21 */
	{
		uint8_t pkt[20] = {0x45};
		unsigned before = c->nout;

		c->drop_all = 1;
		assert_int_equal(ppp_send_ip(c->p, PPP_IP, pkt, sizeof(pkt)), 0);
		c->drop_all = 0;
		assert_int_equal(c->nout, before + 1);
		assert_int_equal(c->cap[c->ncap - 1].proto, PPP_IP);
	}
	/* errors */
	assert_int_equal(ppp_send_ip(c->p, PPP_IP, big, 1501), -EMSGSIZE);
	assert_int_equal(ppp_send_ip(c->p, PPP_IPV6, big, 40), -EPROTONOSUPPORT);
	assert_int_equal(ppp_send_ip(c->p, 0x1234, big, 40), -EPROTONOSUPPORT);
	assert_int_equal(ppp_stats(s->p)->ip_in, 1);
	assert_int_equal(ppp_stats(c->p)->ip_out, 2);
	assert_int_equal(ppp_stats(s->p)->bad_fcs, 0);
	assert_true(ppp_stats(s->p)->frames_in > 4);

	/* graceful close from the client */
	ppp_close(c->p, "user request");
	RUN(s, c, 20000, s->downs && c->downs);
	assert_int_equal(s->downs, 1);
	assert_int_equal(c->downs, 1);
	assert_non_null(strstr(s->reason, "terminated by the peer"));
	assert_non_null(strstr(c->reason, "user request"));
	assert_int_equal(ppp_phase(c->p), PPP_DEAD);
	assert_int_equal(ppp_send_ip(c->p, PPP_IP, big, 20), -ENOTCONN);
	end_free(s);
	end_free(c);
}

static void test_mru_and_big_packets(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;
	static uint8_t big[1500];

	server_cfg(&sc, 1);
	client_cfg(&cc, 1);
	cc.mru = 1400;
	cc.accm = 0x000a0000; /* XON/XOFF escaped by the server */
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c);
	assert_int_equal(ppp_peer_mru(s->p), 1400);
	assert_int_equal(ppp_peer_mru(c->p), 1500);
	assert_int_equal(ppp_send_ip(s->p, PPP_IP, big, 1401), -EMSGSIZE);
	/* worst case for the stuffing: every octet escaped */
	memset(big, 0x7e, sizeof(big));
	big[0] = 0x45;
	assert_int_equal(ppp_send_ip(c->p, PPP_IP, big, 1500), 0);
	RUN(s, c, 1000, s->ip_in);
	assert_int_equal(s->ip_len, 1500);
	assert_memory_equal(s->ip_pkt, big, 1500);
	memset(big, 0x11, sizeof(big));
	assert_int_equal(ppp_send_ip(s->p, PPP_IP, big, 1400), 0);
	RUN(s, c, 1000, c->ip_in);
	assert_int_equal(c->ip_len, 1400);
	assert_memory_equal(c->ip_pkt, big, 1400);
	assert_int_equal(ppp_stats(c->p)->bad_fcs, 0);
	end_free(s);
	end_free(c);
}

static void test_framing0(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;

	server_cfg(&sc, 0);
	client_cfg(&cc, 0);
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c); /* on_output checks every frame carries ff 03 */
	assert_int_equal(c->ip.local, ip4("10.64.0.2"));
	check_ip_both_ways(s, c);
	/* no async-only options were asked for */
	{
		const frame_t *f = last_frame(c, PPP_LCP, CP_CONF_REQ);
		size_t off = 4;
		fsm_opt_t o;

		assert_non_null(f);
		while (fsm_opt_next(f->info, f->len, &off, &o) > 0)
			assert_true(o.type != 2 && o.type != 7 && o.type != 8);
	}
	/* a frame without ff 03 is accepted: an Echo-Request gets its Reply */
	{
		uint8_t echo[] = {0xc0, 0x21, 0x09, 0x42, 0x00, 0x08, 0, 0, 0, 0};
		int before = count_frames(s, PPP_LCP, 10);

		ppp_input_frame(s->p, echo, sizeof(echo), clk);
		assert_int_equal(count_frames(s, PPP_LCP, 10), before + 1);
		assert_int_equal(last_frame(s, PPP_LCP, 10)->info[1], 0x42);
	}
	end_free(s);
	end_free(c);
}

static void test_lost_frames(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;
	uint64_t t0 = clk;

	server_cfg(&sc, 1);
	client_cfg(&cc, 1);
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	s->drop_first = 3;
	c->drop_first = 2;
	pair_up(s, c);
	assert_true(clk - t0 >= FSM_RESTART_MS);
	assert_int_equal(c->ip.local, ip4("10.64.0.2"));
	check_ip_both_ways(s, c);
	end_free(s);
	end_free(c);
}

static void test_no_answer(void **state)
{
	ppp_cfg_t sc;
	end_t *s;
	uint64_t t0 = clk;

	server_cfg(&sc, 1);
	s = end_new("server", &sc);
	ppp_start(s->p, clk);
	RUN(s, (end_t *)NULL, 120000, s->downs);
	assert_int_equal(s->downs, 1);
	assert_non_null(strstr(s->reason, "lcp: peer not responding"));
	assert_int_equal(count_frames(s, PPP_LCP, CP_CONF_REQ), FSM_MAX_CONFIGURE);
	assert_true(clk - t0 >= FSM_MAX_CONFIGURE * FSM_RESTART_MS);
	assert_int_equal(ppp_next_deadline(s->p), 0);
	end_free(s);
}

static void test_echo_dead_peer(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;
	uint64_t t0;

	server_cfg(&sc, 1);
	sc.echo_interval_ms = 5000;
	client_cfg(&cc, 1);
	cc.echo_interval_ms = 7000;
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c);
	/* a minute of idle: echoes answered, nobody goes down */
	RUN(s, c, 60000, s->downs || c->downs);
	assert_int_equal(s->downs + c->downs, 0);
	assert_true(count_frames(s, PPP_LCP, 9) >= 10);
	assert_true(count_frames(c, PPP_LCP, 10) >= 10);
	/* the client dies silently */
	c->drop_all = 1;
	t0 = clk;
	RUN(s, c, 60000, s->downs);
	assert_int_equal(s->downs, 1);
	assert_non_null(strstr(s->reason, "echo"));
	assert_true(clk - t0 <= 4 * 5000 + 1);
	assert_int_equal(ppp_phase(s->p), PPP_DEAD);
	/* it sent a Terminate-Request on its way out */
	assert_int_equal(last_frame(s, PPP_LCP, -1)->info[0], CP_TERM_REQ);
	end_free(s);
	end_free(c);
}

static void test_loopback(void **state)
{
	ppp_cfg_t sc;
	end_t *s;

	server_cfg(&sc, 1);
	s = end_new("looped", &sc);
	s->loop_self = 1;
	ppp_start(s->p, clk);
	RUN(s, (end_t *)NULL, 120000, s->downs);
	assert_int_equal(s->downs, 1);
	assert_non_null(strstr(s->reason, "looped-back"));
	end_free(s);
}

static void test_ipv6cp(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;
	static const uint8_t same[8] = {0x02, 0, 0, 0, 0, 0, 0, 0x01};
	uint8_t v6[40] = {0x60};

	server_cfg(&sc, 1);
	sc.ipv6 = 1;
	client_cfg(&cc, 1);
	cc.ipv6 = 1;
	/* both insist on the same identifier: a collision to resolve */
	memcpy(sc.ip.local_ifid, same, 8);
	memcpy(cc.ip.local_ifid, same, 8);
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c);
	assert_int_equal(s->ip.ipv6, 1);
	assert_int_equal(c->ip.ipv6, 1);
	assert_memory_not_equal(s->ip.local_ifid, c->ip.local_ifid, 8);
	assert_memory_equal(s->ip.local_ifid, c->ip.peer_ifid, 8);
	assert_memory_equal(c->ip.local_ifid, s->ip.peer_ifid, 8);
	assert_int_equal(c->ip.local, ip4("10.64.0.2"));
	assert_int_equal(ppp_send_ip(c->p, PPP_IPV6, v6, sizeof(v6)), 0);
	RUN(s, c, 1000, s->ip_in);
	assert_int_equal(s->ip_proto, PPP_IPV6);
	check_ip_both_ways(s, c);
	end_free(s);
	end_free(c);
}

static void test_ipv6_rejected(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;
	uint64_t t0 = clk;

	server_cfg(&sc, 1);
	sc.ipv6 = 1;
	client_cfg(&cc, 1); /* no IPv6: Protocol-Rejects IPV6CP */
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c);
	assert_int_equal(s->ip.ipv6, 0);
	assert_true(clk - t0 < 1000); /* no waiting for the grace period */
	assert_true(count_frames(c, PPP_LCP, LCP_PROTO_REJ) >= 1);
	check_ip_both_ways(s, c);
	end_free(s);
	end_free(c);
}

/* ---- authentication end to end ---- */

static void auth_pair(auth_method_t m, unsigned client_methods, const char *user, const char *pass,
                      int expect_ok)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;

	server_cfg(&sc, 1);
	sc.auth_methods = 1u << m;
	sc.require_auth = 1;
	client_cfg(&cc, 1);
	cc.name = user;
	cc.password = pass;
	cc.auth_methods = client_methods;
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	wire(s, c);
	ppp_start(s->p, clk);
	ppp_start(c->p, clk);
	RUN(s, c, 60000, (s->ups && c->ups) || (s->downs && c->downs));
	if (expect_ok) {
		uint8_t ss[16], sr[16], cs[16], cr[16];

		assert_int_equal(s->ups, 1);
		assert_int_equal(c->ups, 1);
		assert_non_null(ppp_auth(s->p));
		assert_string_equal(auth_peer_name(ppp_auth(s->p)), user);
		assert_int_equal(c->ip.local, ip4("10.64.0.2"));
		check_ip_both_ways(s, c);
		if (m == AUTH_MSCHAPV2) {
			assert_int_equal(auth_mppe_keys(ppp_auth(s->p), ss, sr), 0);
			assert_int_equal(auth_mppe_keys(ppp_auth(c->p), cs, cr), 0);
			assert_memory_equal(ss, cr, 16);
			assert_memory_equal(sr, cs, 16);
		}
	} else {
		assert_int_equal(s->ups + c->ups, 0);
		assert_int_equal(s->downs, 1);
		assert_non_null(strstr(s->reason, "authentication failed"));
		RUN(s, c, 30000, c->downs);
		assert_int_equal(c->downs, 1);
	}
	end_free(s);
	end_free(c);
}

static void test_auth_pap(void **state)
{
	auth_pair(AUTH_PAP, 0, "alice", "wonderland", 1);
	auth_pair(AUTH_PAP, 0, "alice", "wrong", 0);
}

static void test_auth_chap_md5(void **state)
{
	auth_pair(AUTH_CHAP_MD5, 0, "bob", "builder", 1);
	auth_pair(AUTH_CHAP_MD5, 0, "bob", "wrong", 0);
	auth_pair(AUTH_CHAP_MD5, 0, "mallory", "builder", 0);
}

static void test_auth_mschapv2(void **state)
{
	auth_pair(AUTH_MSCHAPV2, 0, "alice", "wonderland", 1);
	auth_pair(AUTH_MSCHAPV2, 0, "alice", "wonder", 0);
}

static void test_auth_nak_to_other_method(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;

	/* the server prefers MS-CHAPv2, the client only does PAP: Nak'd over */
	server_cfg(&sc, 1);
	sc.auth_methods = (1u << AUTH_PAP) | (1u << AUTH_CHAP_MD5) | (1u << AUTH_MSCHAPV2);
	sc.require_auth = 1;
	client_cfg(&cc, 1);
	cc.name = "alice";
	cc.password = "wonderland";
	cc.auth_methods = 1u << AUTH_PAP;
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c);
	assert_true(count_frames(c, PPP_LCP, CP_CONF_NAK) >= 1);
	assert_true(count_frames(c, PPP_PAP, -1) >= 1);
	assert_int_equal(count_frames(c, PPP_CHAP, -1), 0);
	assert_string_equal(auth_peer_name(ppp_auth(s->p)), "alice");
	end_free(s);
	end_free(c);
}

static void test_auth_refused(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;

	/* optional auth: the client (no password) rejects it, the link comes up */
	server_cfg(&sc, 1);
	sc.auth_methods = 1u << AUTH_CHAP_MD5;
	client_cfg(&cc, 1);
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c);
	assert_true(count_frames(c, PPP_LCP, CP_CONF_REJ) >= 1);
	assert_null(ppp_auth(s->p));
	end_free(s);
	end_free(c);

	/* required: down */
	sc.require_auth = 1;
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	wire(s, c);
	ppp_start(s->p, clk);
	ppp_start(c->p, clk);
	RUN(s, c, 60000, s->downs);
	assert_int_equal(s->downs, 1);
	assert_int_equal(s->ups, 0);
	assert_non_null(strstr(s->reason, "refuses to authenticate"));
	end_free(s);
	end_free(c);
}

/* ------------------------------------------------------ a scripted peer */

/* Build [ff 03] proto code id len data into out (framing 0: the frame). */
static size_t mk(uint8_t *out, uint16_t proto, uint8_t code, uint8_t id, const void *data,
                 size_t len)
{
	size_t n = hdlc_put_header(out, proto, 0, 0);

	out[n++] = code;
	out[n++] = id;
	out[n++] = (uint8_t)((len + 4) >> 8);
	out[n++] = (uint8_t)(len + 4);
	if (len)
		memcpy(out + n, data, len);
	return n + len;
}

/* Send a frame into e as a peer would (HDLC-encoded if e uses framing). */
static void inject(end_t *e, const uint8_t *frame, size_t len)
{
	uint8_t wire_[HDLC_ENCODED_MAX(2048)];
	hdlc_tx_t t;

	if (!e->framing) {
		ppp_input_frame(e->p, frame, len, clk);
		return;
	}
	hdlc_tx_init(&t, 0xffffffffu, 0);
	len = hdlc_encode(&t, frame, len, wire_, sizeof(wire_));
	assert_true(len > 0);
	ppp_input_bytes(e->p, wire_, len, clk);
}

static void inject_cp(end_t *e, uint16_t proto, uint8_t code, uint8_t id, const void *data,
                      size_t len)
{
	uint8_t f[2048];

	inject(e, f, mk(f, proto, code, id, data, len));
}

/* Ack the engine's latest Configure-Request of proto. */
static void ack_last(end_t *e, uint16_t proto)
{
	const frame_t *f = last_frame(e, proto, CP_CONF_REQ);

	assert_non_null(f);
	inject_cp(e, proto, CP_CONF_ACK, f->info[1], f->info + 4, f->len - 4);
}

static int has_opt(const frame_t *f, uint8_t type, const void *val, size_t vlen)
{
	size_t off = 4;
	fsm_opt_t o;

	while (fsm_opt_next(f->info, f->len, &off, &o) > 0)
		if (o.type == type && (!val || (o.vlen == vlen && !memcmp(o.val, val, vlen))))
			return 1;
	return 0;
}

static void test_nak_loop_mru(void **state)
{
	static const uint8_t mru50[] = {0x01, 0x04, 0x00, 0x32};
	ppp_cfg_t sc;
	end_t *s;
	int i;

	server_cfg(&sc, 1);
	s = end_new("server", &sc);
	ppp_start(s->p, clk);
	for (i = 0; i < 40 && !s->downs; i++)
		inject_cp(s, PPP_LCP, CP_CONF_REQ, (uint8_t)i, mru50, sizeof(mru50));
	assert_int_equal(s->downs, 1);
	assert_non_null(strstr(s->reason, "converge"));
	assert_int_equal(i, 2 * FSM_MAX_FAILURE + 1);
	assert_int_equal(count_frames(s, PPP_LCP, CP_CONF_NAK), FSM_MAX_FAILURE);
	assert_int_equal(count_frames(s, PPP_LCP, CP_CONF_REJ), FSM_MAX_FAILURE);
	/* the Nak suggested the smallest MRU we accept: 128 */
	assert_true(has_opt(last_frame(s, PPP_LCP, CP_CONF_NAK), 1, "\x00\x80", 2));
	assert_true(has_opt(last_frame(s, PPP_LCP, CP_CONF_REJ), 1, "\x00\x32", 2));
	assert_int_equal(last_frame(s, PPP_LCP, -1)->info[0], CP_TERM_REQ);
	end_free(s);
}

static void test_peer_naks_forever(void **state)
{
	ppp_cfg_t cc;
	end_t *c;
	int i;

	/* a peer that answers each of our requests with a Nak of our MRU */
	client_cfg(&cc, 1);
	cc.mru = 1400;
	c = end_new("client", &cc);
	ppp_start(c->p, clk);
	for (i = 0; i < 40 && !c->downs; i++) {
		const frame_t *f = last_frame(c, PPP_LCP, CP_CONF_REQ);

		inject_cp(c, PPP_LCP, CP_CONF_NAK, f->info[1], "\x01\x04\x05\x00", 4);
	}
	assert_int_equal(c->downs, 1);
	assert_non_null(strstr(c->reason, "refusing"));
	assert_true(i <= FSM_MAX_CONFIGURE + 2);
	end_free(c);
}

static void test_reject_drops_option(void **state)
{
	ppp_cfg_t cc;
	end_t *c;
	const frame_t *f;
	uint8_t id;

	client_cfg(&cc, 1);
	cc.mru = 1400;
	c = end_new("client", &cc);
	ppp_start(c->p, clk);
	f = last_frame(c, PPP_LCP, CP_CONF_REQ);
	assert_true(has_opt(f, 1, "\x05\x78", 2));
	assert_true(has_opt(f, 2, NULL, 0));
	id = f->info[1];
	/* a Reject naming an option we never sent is dropped */
	inject_cp(c, PPP_LCP, CP_CONF_REJ, id, "\x0d\x03\x06", 3);
	assert_int_equal(count_frames(c, PPP_LCP, CP_CONF_REQ), 1);
	/* a Reject with another id is dropped */
	inject_cp(c, PPP_LCP, CP_CONF_REJ, id + 1, "\x01\x04\x05\x78", 4);
	assert_int_equal(count_frames(c, PPP_LCP, CP_CONF_REQ), 1);
	/* the real one: the next request goes without MRU */
	inject_cp(c, PPP_LCP, CP_CONF_REJ, id, "\x01\x04\x05\x78", 4);
	assert_int_equal(count_frames(c, PPP_LCP, CP_CONF_REQ), 2);
	f = last_frame(c, PPP_LCP, CP_CONF_REQ);
	assert_false(has_opt(f, 1, NULL, 0));
	assert_true(has_opt(f, 2, NULL, 0));
	assert_true(has_opt(f, 5, NULL, 0));
	assert_int_not_equal(f->info[1], id);
	/* and a Nak of ACCM ORs the peer's map into ours */
	inject_cp(c, PPP_LCP, CP_CONF_NAK, f->info[1], "\x02\x06\x00\x0a\x00\x00", 6);
	f = last_frame(c, PPP_LCP, CP_CONF_REQ);
	assert_true(has_opt(f, 2, "\x00\x0a\x00\x00", 4));
	end_free(c);
}

/* A pppd-like client against our server, frame by frame (async HDLC). */
static void test_pppd_like_client(void **state)
{
	/* pppd's usual LCP request: ACCM 0, Magic, PFC, ACFC */
	static const uint8_t lcp_opts[] = {0x02, 0x06, 0,    0,    0,    0,    0x05, 0x06,
	                                   0x5a, 0x5b, 0x5c, 0x5d, 0x07, 0x02, 0x08, 0x02};
	/* IPCP: VJ compression, address 0, primary and secondary DNS 0 */
	static const uint8_t ipcp1[] = {0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01, 0x03, 0x06, 0, 0, 0, 0,
	                                0x81, 0x06, 0,    0,    0,    0,    0x83, 0x06, 0, 0, 0, 0};
	static const uint8_t ipcp2[] = {0x03, 0x06, 0, 0,    0,    0, 0x81, 0x06, 0,
	                                0,    0,    0, 0x83, 0x06, 0, 0,    0,    0};
	static const uint8_t ccp[] = {0x12, 0x06, 0, 0, 0, 1, 0x11, 0x05, 0, 1, 0x2f};
	ppp_cfg_t sc;
	end_t *s;
	const frame_t *f;
	uint8_t ipcp3[18];
	uint32_t a;

	server_cfg(&sc, 1);
	s = end_new("server", &sc);
	ppp_start(s->p, clk);
	inject_cp(s, PPP_LCP, CP_CONF_REQ, 1, lcp_opts, sizeof(lcp_opts));
	f = last_frame(s, PPP_LCP, CP_CONF_ACK);
	assert_non_null(f);
	assert_int_equal(f->len, 4 + sizeof(lcp_opts));
	assert_memory_equal(f->info + 4, lcp_opts, sizeof(lcp_opts));
	ack_last(s, PPP_LCP);
	assert_int_equal(ppp_phase(s->p), PPP_NETWORK);
	assert_string_equal(ppp_lcp_state(s->p), "Opened");
	/* the server's IPCP request carries its own address */
	f = last_frame(s, PPP_IPCP, CP_CONF_REQ);
	assert_non_null(f);
	a = ip4("10.64.0.1");
	assert_true(has_opt(f, 3, &a, 4));
	/* CCP is not ours: Protocol-Reject */
	inject_cp(s, 0x80fd, CP_CONF_REQ, 1, ccp, sizeof(ccp));
	f = last_frame(s, PPP_LCP, LCP_PROTO_REJ);
	assert_non_null(f);
	assert_int_equal(f->info[4], 0x80);
	assert_int_equal(f->info[5], 0xfd);
	assert_int_equal(f->info[6], CP_CONF_REQ);
	/* VJ compression: rejected (alone) */
	inject_cp(s, PPP_IPCP, CP_CONF_REQ, 1, ipcp1, sizeof(ipcp1));
	f = last_frame(s, PPP_IPCP, CP_CONF_REJ);
	assert_non_null(f);
	assert_int_equal(f->len, 4 + 6);
	assert_memory_equal(f->info + 4, ipcp1, 6);
	/* address 0 and DNS 0: Nak'd with what the server gives */
	inject_cp(s, PPP_IPCP, CP_CONF_REQ, 2, ipcp2, sizeof(ipcp2));
	f = last_frame(s, PPP_IPCP, CP_CONF_NAK);
	assert_non_null(f);
	a = ip4("10.64.0.2");
	assert_true(has_opt(f, 3, &a, 4));
	a = ip4("10.64.0.53");
	assert_true(has_opt(f, 0x81, &a, 4));
	a = ip4("10.64.0.54");
	assert_true(has_opt(f, 0x83, &a, 4));
	/* NBNS: rejected */
	inject_cp(s, PPP_IPCP, CP_CONF_REQ, 3, "\x82\x06\x00\x00\x00\x00", 6);
	f = last_frame(s, PPP_IPCP, CP_CONF_REJ);
	assert_int_equal(f->info[4], 0x82);
	/* what it was told: Ack */
	memcpy(ipcp3, last_frame(s, PPP_IPCP, CP_CONF_NAK)->info + 4, 18);
	inject_cp(s, PPP_IPCP, CP_CONF_REQ, 4, ipcp3, 18);
	assert_non_null(last_frame(s, PPP_IPCP, CP_CONF_ACK));
	assert_int_equal(s->ups, 0);
	ack_last(s, PPP_IPCP);
	assert_int_equal(s->ups, 1);
	assert_int_equal(s->ip.peer, ip4("10.64.0.2"));
	assert_int_equal(ppp_phase(s->p), PPP_RUNNING);
	/* an IP packet with a compressed protocol field and no ff 03 */
	{
		uint8_t ipf[] = {0x21, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17,
		                 0,    0,    1, 2, 3,  4, 5, 6, 7, 8};

		inject(s, ipf, sizeof(ipf));
		assert_int_equal(s->ip_in, 1);
		assert_int_equal(s->ip_len, sizeof(ipf) - 1);
	}
	/* LCP extras: unknown code -> Code-Reject; Discard-Request, Identification: quiet */
	inject_cp(s, PPP_LCP, 0x33, 7, "xyz", 3);
	f = last_frame(s, PPP_LCP, CP_CODE_REJ);
	assert_non_null(f);
	assert_int_equal(f->info[4], 0x33);
	{
		int n = s->ncap;

		inject_cp(s, PPP_LCP, LCP_DISC_REQ, 8, "\x5a\x5b\x5c\x5d", 4);
		inject_cp(s, PPP_LCP, LCP_IDENT, 9, "\x5a\x5b\x5c\x5dpppd", 8);
		assert_int_equal(s->ncap, n);
	}
	/* Echo-Request -> Echo-Reply with our magic */
	inject_cp(s, PPP_LCP, LCP_ECHO_REQ, 10, "\x5a\x5b\x5c\x5d", 4);
	f = last_frame(s, PPP_LCP, LCP_ECHO_REP);
	assert_non_null(f);
	assert_int_equal(f->info[1], 10);
	/* the peer renegotiates LCP: IPCP goes down and comes back, up() again */
	inject_cp(s, PPP_LCP, CP_CONF_REQ, 12, lcp_opts, sizeof(lcp_opts));
	assert_int_equal(ppp_phase(s->p), PPP_ESTABLISH);
	assert_string_equal(ppp_lcp_state(s->p), "Ack-Sent");
	assert_int_equal(ppp_send_ip(s->p, PPP_IP, ipcp3, sizeof(ipcp3)), -ENOTCONN);
	ack_last(s, PPP_LCP);
	assert_int_equal(ppp_phase(s->p), PPP_NETWORK);
	inject_cp(s, PPP_IPCP, CP_CONF_REQ, 5, ipcp3, 18);
	ack_last(s, PPP_IPCP);
	assert_int_equal(s->ups, 2);
	assert_int_equal(ppp_phase(s->p), PPP_RUNNING);
	/* the peer's Terminate-Request: Terminate-Ack, then down after the wait */
	inject_cp(s, PPP_LCP, CP_TERM_REQ, 11, "bye", 3);
	f = last_frame(s, PPP_LCP, CP_TERM_ACK);
	assert_non_null(f);
	assert_int_equal(f->info[1], 11);
	RUN(s, (end_t *)NULL, 10000, s->downs);
	assert_int_equal(s->downs, 1);
	end_free(s);
}

/* FCS-Alternatives: a peer asking for FCS-32 alone gets it after LCP is up;
 * a peer rejecting Echo-Request turns the keepalive off. */
static void test_fcs32_and_echo_reject(void **state)
{
	static const uint8_t opts[] = {0x05, 0x06, 0x11, 0x22, 0x33, 0x44, 0x09, 0x03, 0x04};
	ppp_cfg_t sc;
	end_t *s;
	const frame_t *f;
	int n;

	server_cfg(&sc, 1);
	sc.echo_interval_ms = 1000;
	s = end_new("server", &sc);
	ppp_start(s->p, clk);
	inject_cp(s, PPP_LCP, CP_CONF_REQ, 1, opts, sizeof(opts));
	assert_non_null(last_frame(s, PPP_LCP, CP_CONF_ACK));
	s->rx.fcs32 = 1; /* what it sends from now on */
	ack_last(s, PPP_LCP);
	f = last_frame(s, PPP_IPCP, CP_CONF_REQ);
	assert_non_null(f);
	assert_int_equal(s->rx.bad_fcs, 0);
	/* the first Echo-Request comes after a second; Code-Reject it */
	clk += 1000;
	ppp_tick(s->p, clk);
	f = last_frame(s, PPP_LCP, LCP_ECHO_REQ);
	assert_non_null(f);
	{
		uint8_t rej[64];

		memcpy(rej, f->info, f->len);
		inject_cp(s, PPP_LCP, CP_CODE_REJ, 77, rej, f->len);
	}
	n = count_frames(s, PPP_LCP, LCP_ECHO_REQ);
	for (int i = 0; i < 20; i++) {
		clk += 1000;
		ppp_tick(s->p, clk);
	}
	assert_int_equal(count_frames(s, PPP_LCP, LCP_ECHO_REQ), n);
	assert_int_equal(s->downs, 0);
	assert_string_equal(ppp_lcp_state(s->p), "Opened");
	end_free(s);
}

static void test_ipcp_client_side(void **state)
{
	ppp_cfg_t cc;
	end_t *c;
	const frame_t *f;
	static const uint8_t lcp_opts[] = {0x05, 0x06, 0x11, 0x22, 0x33, 0x44};
	uint32_t a, zero = 0;
	uint8_t nak[18];

	client_cfg(&cc, 0);
	cc.ip.peer = ip4("10.0.2.2"); /* for a slirp-like server asking 0.0.0.0 */
	c = end_new("client", &cc);
	ppp_start(c->p, clk);
	inject_cp(c, PPP_LCP, CP_CONF_REQ, 1, lcp_opts, sizeof(lcp_opts));
	ack_last(c, PPP_LCP);
	assert_int_equal(ppp_phase(c->p), PPP_NETWORK);
	f = last_frame(c, PPP_IPCP, CP_CONF_REQ);
	assert_non_null(f);
	assert_true(has_opt(f, 3, &zero, 4));
	assert_true(has_opt(f, 0x81, &zero, 4));
	assert_true(has_opt(f, 0x83, &zero, 4));
	/* the server asks for 0.0.0.0 for itself: Nak'd with cfg.ip.peer */
	inject_cp(c, PPP_IPCP, CP_CONF_REQ, 1, "\x03\x06\x00\x00\x00\x00", 6);
	f = last_frame(c, PPP_IPCP, CP_CONF_NAK);
	a = ip4("10.0.2.2");
	assert_true(has_opt(f, 3, &a, 4));
	inject_cp(c, PPP_IPCP, CP_CONF_REQ, 2, f->info + 4, 6);
	assert_non_null(last_frame(c, PPP_IPCP, CP_CONF_ACK));
	/* the server Naks our request with an address and DNS */
	f = last_frame(c, PPP_IPCP, CP_CONF_REQ);
	memcpy(nak, "\x03\x06\x0a\x00\x02\x0f\x81\x06\x0a\x00\x02\x03\x83\x06\x08\x08\x08\x08", 18);
	inject_cp(c, PPP_IPCP, CP_CONF_NAK, f->info[1], nak, 18);
	f = last_frame(c, PPP_IPCP, CP_CONF_REQ);
	assert_memory_equal(f->info + 4, nak, 18);
	ack_last(c, PPP_IPCP);
	assert_int_equal(c->ups, 1);
	assert_int_equal(c->ip.local, ip4("10.0.2.15"));
	assert_int_equal(c->ip.peer, ip4("10.0.2.2"));
	assert_int_equal(c->ip.dns1, ip4("10.0.2.3"));
	assert_int_equal(c->ip.dns2, ip4("8.8.8.8"));
	end_free(c);

	/* a server that rejects our address request leaves us without one */
	c = end_new("client", &cc);
	ppp_start(c->p, clk);
	inject_cp(c, PPP_LCP, CP_CONF_REQ, 1, lcp_opts, sizeof(lcp_opts));
	ack_last(c, PPP_LCP);
	inject_cp(c, PPP_IPCP, CP_CONF_REQ, 1, "\x03\x06\x0a\x00\x02\x02", 6);
	f = last_frame(c, PPP_IPCP, CP_CONF_REQ);
	inject_cp(c, PPP_IPCP, CP_CONF_REJ, f->info[1], f->info + 4, f->len - 4);
	ack_last(c, PPP_IPCP);
	assert_int_equal(c->ups, 0);
	assert_int_equal(c->downs, 1);
	assert_non_null(strstr(c->reason, "no address"));
	end_free(c);
}

static void test_option_flood(void **state)
{
	ppp_cfg_t sc;
	end_t *s;
	uint8_t opts[1400];
	size_t n = 0;
	const frame_t *f;
	int i;

	server_cfg(&sc, 0);
	s = end_new("server", &sc);
	ppp_start(s->p, clk);
	/* 300 options, MRU repeated and unknown ones: all but the first MRU rejected */
	for (i = 0; i < 300; i++) {
		opts[n++] = i % 2 ? 0x01 : 0x42;
		opts[n++] = 4;
		opts[n++] = 0x05;
		opts[n++] = 0xdc;
	}
	inject_cp(s, PPP_LCP, CP_CONF_REQ, 1, opts, 1200);
	f = last_frame(s, PPP_LCP, CP_CONF_REJ);
	assert_non_null(f);
	assert_int_equal(f->len, 4 + 1200 - 4);
	/* a mangled option list is dropped without an answer */
	i = s->ncap;
	inject_cp(s, PPP_LCP, CP_CONF_REQ, 2, "\x01\x09\x05", 3);
	inject_cp(s, PPP_LCP, CP_CONF_REQ, 3, "\x01\x01\x05", 3);
	assert_int_equal(s->ncap, i);
	/* repeating the flood ends the session */
	for (i = 0; i < 20 && !s->downs; i++)
		inject_cp(s, PPP_LCP, CP_CONF_REQ, (uint8_t)(10 + i), opts, 1200);
	assert_int_equal(s->downs, 1);
	end_free(s);
}

static uint32_t rng = 12345;
static uint8_t rnd(void)
{
	rng = rng * 1103515245u + 12345u;
	return (uint8_t)(rng >> 16);
}

static void test_garbage_flood(void **state)
{
	ppp_cfg_t sc, cc;
	end_t *s, *c;
	static uint8_t junk[1 << 16];
	unsigned out0;

	server_cfg(&sc, 1);
	client_cfg(&cc, 1);
	s = end_new("server", &sc);
	c = end_new("client", &cc);
	pair_up(s, c);
	/* 4 MiB of noise, flags included, into a running server */
	out0 = s->nout;
	for (int k = 0; k < 64; k++) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = rnd();
		ppp_input_bytes(s->p, junk, sizeof(junk), clk);
	}
	assert_int_equal(s->downs, 0);
	assert_int_equal(ppp_phase(s->p), PPP_RUNNING);
	assert_true(ppp_stats(s->p)->bad_fcs > 10000);
	assert_true(ppp_stats(s->p)->runts > 100);
	assert_true(s->nout - out0 < 16); /* the odd frame with a lucky FCS, at most */
	/* noise without a single flag: one oversize frame, no growth */
	memset(junk, 0x55, sizeof(junk));
	for (int k = 0; k < 16; k++)
		ppp_input_bytes(s->p, junk, sizeof(junk), clk);
	ppp_input_bytes(s->p, (const uint8_t *)"\x7e", 1, clk);
	assert_true(ppp_stats(s->p)->oversize >= 1);
	/* still fine */
	check_ip_both_ways(s, c);
	/* noise before LCP is up: nothing answered at all */
	{
		end_t *n = end_new("fresh", &sc);

		ppp_start(n->p, clk);
		out0 = n->nout;
		for (int k = 0; k < 16; k++) {
			for (size_t i = 0; i < sizeof(junk); i++)
				junk[i] = rnd();
			ppp_input_bytes(n->p, junk, sizeof(junk), clk);
		}
		assert_true(n->nout - out0 < 4);
		end_free(n);
	}
	end_free(s);
	end_free(c);
}

static void test_close_before_start(void **state)
{
	ppp_cfg_t sc;
	end_t *s;

	server_cfg(&sc, 1);
	s = end_new("server", &sc);
	assert_int_equal(ppp_phase(s->p), PPP_DEAD);
	assert_string_equal(ppp_phase_name(PPP_AUTHENTICATE), "Authenticate");
	assert_string_equal(ppp_lcp_state(s->p), "Initial");
	ppp_close(s->p, "never mind");
	assert_int_equal(s->downs, 1);
	assert_string_equal(s->reason, "never mind");
	ppp_close(s->p, "again");
	ppp_tick(s->p, clk);
	assert_int_equal(s->downs, 1);
	end_free(s);
}

/* down() may free the engine */
static void free_in_down(void *ud, const char *reason)
{
	end_t *e = ud;

	e->downs++;
	ppp_free(e->p);
	e->p = NULL;
}

static void test_free_from_down(void **state)
{
	ppp_cfg_t sc;
	ppp_cbs_t cb2 = cbs;
	end_t *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->cap = calloc(MAXCAP, sizeof(frame_t));
	e->framing = 0;
	server_cfg(&sc, 0);
	cb2.down = free_in_down;
	e->p = ppp_new(&sc, &cb2, e);
	ppp_start(e->p, clk);
	/* a Terminate-Request then the timer: down() from inside ppp_tick */
	inject_cp(e, PPP_LCP, CP_TERM_REQ, 1, NULL, 0);
	while (e->p && clk < 10000000) {
		clk += 100;
		ppp_tick(e->p, clk);
	}
	assert_null(e->p);
	assert_int_equal(e->downs, 1);
	free(e->cap);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fcs_vectors),
	    cmocka_unit_test(test_hdlc_encode_vectors),
	    cmocka_unit_test(test_hdlc_escapes),
	    cmocka_unit_test(test_hdlc_deframer),
	    cmocka_unit_test(test_hdlc_fast_paths),
	    cmocka_unit_test(test_hdlc_header),
	    cmocka_unit_test(test_fsm_table_is_rfc1661),
	    cmocka_unit_test(test_fsm_table),
	    cmocka_unit_test(test_converge_no_auth),
	    cmocka_unit_test(test_mru_and_big_packets),
	    cmocka_unit_test(test_framing0),
	    cmocka_unit_test(test_lost_frames),
	    cmocka_unit_test(test_no_answer),
	    cmocka_unit_test(test_echo_dead_peer),
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_ipv6cp),
	    cmocka_unit_test(test_ipv6_rejected),
	    cmocka_unit_test(test_auth_pap),
	    cmocka_unit_test(test_auth_chap_md5),
	    cmocka_unit_test(test_auth_mschapv2),
	    cmocka_unit_test(test_auth_nak_to_other_method),
	    cmocka_unit_test(test_auth_refused),
	    cmocka_unit_test(test_nak_loop_mru),
	    cmocka_unit_test(test_peer_naks_forever),
	    cmocka_unit_test(test_reject_drops_option),
	    cmocka_unit_test(test_pppd_like_client),
	    cmocka_unit_test(test_fcs32_and_echo_reject),
	    cmocka_unit_test(test_ipcp_client_side),
	    cmocka_unit_test(test_option_flood),
	    cmocka_unit_test(test_garbage_flood),
	    cmocka_unit_test(test_close_before_start),
	    cmocka_unit_test(test_free_from_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
