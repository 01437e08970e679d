/* Unit tests: sstp/sstp_proto (MS-SSTP framing, control messages, crypto
 * binding, the HTTP exchange).
 *
 *   - every encoder against the layouts of MS-SSTP 2.2, written out by hand
 *     here byte by byte, then back through the parser;
 *   - malformed packets the parser must refuse: short, wrong version, data
 *     bit, lengths that disagree, attributes that overrun or are empty,
 *     too many of them, unknown message types;
 *   - the attribute decoders (Crypto Binding Request, Status Info) on
 *     server messages written out by hand, and on wrong lengths;
 *   - the HTTP request text and the response-head parser (200, 401, every
 *     partial prefix, garbage, oversize);
 *   - the crypto binding end to end: the MS-CHAPv2 exchange of RFC 2759 9.2
 *     gives the client's RFC 3079 master keys through mppe_master_keys(),
 *     and tests/unit/sstp_vectors.py (python3 hashlib/hmac, written apart
 *     from the C) derives the same keys from RFC 3079 3.5.3's MasterKey and
 *     computes the CMK and the whole Call Connected packet, for SHA-1 and
 *     SHA-256, which the C must match byte for byte.  The script is found
 *     next to this file (__FILE__) or under $SLUICE_SRC/tests/unit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ppp/auth.h"
#include "sstp/sstp_proto.h"

#define PYTHON "/usr/bin/python3"

static void unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;

	assert_int_equal(strlen(s), 2 * n);
	for (i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void tohex(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
	out[2 * n] = 0;
}

/* ---- encoders: exact bytes ---- */

static void test_enc_connect_request(void **st)
{
	/* 2.2.9: version, C=1, length 14 | CALL_CONNECT_REQUEST, 1 attribute |
	 * ENCAPSULATED_PROTOCOL_ID, length 6 | PPP (1) */
	static const uint8_t want[14] = {0x10, 0x01, 0x00, 0x0e, 0x00, 0x01, 0x00,
	                                 0x01, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01};
	uint8_t out[14];

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(sstp_enc_connect_request(out), 14);
	assert_memory_equal(out, want, 14);
}

static void test_enc_plain(void **st)
{
	static const uint8_t echo_req[8] = {0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00};
	static const uint8_t echo_resp[8] = {0x10, 0x01, 0x00, 0x08, 0x00, 0x09, 0x00, 0x00};
	static const uint8_t disc_ack[8] = {0x10, 0x01, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00};
	uint8_t out[8];

	assert_int_equal(sstp_enc_plain(out, SSTP_MSG_ECHO_REQUEST), 8);
	assert_memory_equal(out, echo_req, 8);
	assert_int_equal(sstp_enc_plain(out, SSTP_MSG_ECHO_RESPONSE), 8);
	assert_memory_equal(out, echo_resp, 8);
	assert_int_equal(sstp_enc_plain(out, SSTP_MSG_CALL_DISCONNECT_ACK), 8);
	assert_memory_equal(out, disc_ack, 8);
}

static void test_enc_status(void **st)
{
	/* 2.2.13 Call Abort with Status Info (2.2.8): length 20 | CALL_ABORT,
	 * 1 attribute | STATUS_INFO, length 12 | reserved 3, AttribID 4 |
	 * status 4 (VALUE_NOT_SUPPORTED) */
	static const uint8_t abort_want[20] = {0x10, 0x01, 0x00, 0x14, 0x00, 0x05, 0x00,
	                                       0x01, 0x00, 0x02, 0x00, 0x0c, 0x00, 0x00,
	                                       0x00, 0x04, 0x00, 0x00, 0x00, 0x04};
	/* 2.2.14 Call Disconnect, NEGOTIATION_TIMEOUT about no attribute */
	static const uint8_t disc_want[20] = {0x10, 0x01, 0x00, 0x14, 0x00, 0x06, 0x00,
	                                      0x01, 0x00, 0x02, 0x00, 0x0c, 0x00, 0x00,
	                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x08};
	static const uint8_t disc_plain[8] = {0x10, 0x01, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00};
	uint8_t out[20];

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(sstp_enc_status(out, SSTP_MSG_CALL_ABORT, SSTP_ATTR_CRYPTO_BINDING_REQ,
	                                 SSTP_STATUS_VALUE_NOT_SUPPORTED),
	                 20);
	assert_memory_equal(out, abort_want, 20);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(sstp_enc_status(out, SSTP_MSG_CALL_DISCONNECT, SSTP_ATTR_NO_ERROR,
	                                 SSTP_STATUS_NEGOTIATION_TIMEOUT),
	                 20);
	assert_memory_equal(out, disc_want, 20);
	/* no error about no attribute: no Status Info at all */
	assert_int_equal(sstp_enc_status(out, SSTP_MSG_CALL_DISCONNECT, SSTP_ATTR_NO_ERROR,
	                                 SSTP_STATUS_NO_ERROR),
	                 8);
	assert_memory_equal(out, disc_plain, 8);
	/* a status with a large value keeps all 32 bits, big endian */
	assert_int_equal(sstp_enc_status(out, SSTP_MSG_CALL_ABORT, 1, 0x01020304u), 20);
	assert_int_equal(out[15], 1);
	assert_int_equal(out[16], 1);
	assert_int_equal(out[17], 2);
	assert_int_equal(out[18], 3);
	assert_int_equal(out[19], 4);
}

static void test_data_header(void **st)
{
	uint8_t h[4];

	sstp_data_header(h, 1496);
	assert_int_equal(h[0], 0x10);
	assert_int_equal(h[1], 0x00);
	assert_int_equal(h[2], 0x05);
	assert_int_equal(h[3], 0xdc); /* 1500 */
	assert_false(sstp_is_control(h));
	sstp_data_header(h, 0);
	assert_int_equal(h[2], 0x00);
	assert_int_equal(h[3], 0x04);
	sstp_data_header(h, SSTP_MAX_PACKET - 4);
	assert_int_equal(h[2], 0x0f);
	assert_int_equal(h[3], 0xff);
	assert_int_equal(sstp_packet_len(h, 4), 0);
}

/* ---- framing ---- */

static void test_packet_len(void **st)
{
	uint8_t b[32] = {0x10, 0x01, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00, 0x06};
	size_t i;

	for (i = 0; i < 8; i++)
		assert_int_equal(sstp_packet_len(b, i), 0);
	assert_int_equal(sstp_packet_len(b, 8), 8);
	assert_int_equal(sstp_packet_len(b, 20), 8); /* the next packet waits its turn */
	assert_true(sstp_is_control(b));
	/* the second packet: data, 6 bytes */
	assert_int_equal(sstp_packet_len(b + 8, 5), 0);
	assert_int_equal(sstp_packet_len(b + 8, 6), 6);
	assert_false(sstp_is_control(b + 8));
	/* wrong version: refused on its first byte */
	b[0] = 0x11;
	assert_int_equal(sstp_packet_len(b, 1), -1);
	assert_int_equal(sstp_packet_len(b, 8), -1);
	b[0] = 0x00;
	assert_int_equal(sstp_packet_len(b, 1), -1);
	b[0] = 0x10;
	/* lengths below the header */
	for (i = 0; i < 4; i++) {
		b[3] = (uint8_t)i;
		assert_int_equal(sstp_packet_len(b, 32), -1);
	}
	/* a bare header is a packet (an empty data packet) */
	b[3] = 4;
	assert_int_equal(sstp_packet_len(b, 4), 4);
	/* reserved bits are ignored; the length is 12 bits */
	b[1] = 0xfe | 1;
	b[2] = 0xf0;
	b[3] = 0x08;
	assert_int_equal(sstp_packet_len(b, 8), 8);
	assert_true(sstp_is_control(b));
	b[2] = 0x0f;
	b[3] = 0xff;
	assert_int_equal(sstp_packet_len(b, 32), 0);
}

/* ---- parser ---- */

static void test_parse_roundtrip(void **st)
{
	uint8_t p[20];
	sstp_ctrl_t c;
	uint8_t id;
	uint32_t status;
	const uint8_t *extra;
	size_t elen;

	assert_int_equal(sstp_enc_connect_request(p), 14);
	assert_int_equal(sstp_packet_len(p, 14), 14);
	assert_int_equal(sstp_parse_control(p, 14, &c), 0);
	assert_int_equal(c.type, SSTP_MSG_CALL_CONNECT_REQUEST);
	assert_int_equal(c.nattrs, 1);
	assert_int_equal(c.attrs[0].id, SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID);
	assert_int_equal(c.attrs[0].len, 2);
	assert_ptr_equal(c.attrs[0].val, p + 12);

	for (uint16_t t = SSTP_MSG_CALL_CONNECT_REQUEST; t <= SSTP_MSG_ECHO_RESPONSE; t++) {
		assert_int_equal(sstp_enc_plain(p, t), 8);
		assert_int_equal(sstp_parse_control(p, 8, &c), 0);
		assert_int_equal(c.type, t);
		assert_int_equal(c.nattrs, 0);
		assert_null(sstp_find_attr(&c, SSTP_ATTR_STATUS_INFO));
	}

	assert_int_equal(sstp_enc_status(p, SSTP_MSG_CALL_ABORT, SSTP_ATTR_CRYPTO_BINDING,
	                                 SSTP_STATUS_INVALID_FRAME_RECEIVED),
	                 20);
	assert_int_equal(sstp_parse_control(p, 20, &c), 0);
	assert_int_equal(c.type, SSTP_MSG_CALL_ABORT);
	assert_int_equal(c.nattrs, 1);
	assert_non_null(sstp_find_attr(&c, SSTP_ATTR_STATUS_INFO));
	assert_int_equal(sstp_attr_status(sstp_find_attr(&c, SSTP_ATTR_STATUS_INFO), &id, &status,
	                                  &extra, &elen),
	                 0);
	assert_int_equal(id, SSTP_ATTR_CRYPTO_BINDING);
	assert_int_equal(status, SSTP_STATUS_INVALID_FRAME_RECEIVED);
	assert_int_equal(elen, 0);
	assert_null(extra);
}

/* a control packet from hex, its length checked against the header */
static size_t pkt(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;

	unhex(hex, out, n);
	return n;
}

static void expect_bad(const char *hex)
{
	uint8_t b[256];
	size_t n = pkt(hex, b);
	sstp_ctrl_t c;

	if (sstp_parse_control(b, n, &c) != -1)
		fail_msg("accepted: %s", hex);
}

static void test_parse_malformed(void **st)
{
	uint8_t b[256];
	sstp_ctrl_t c;
	size_t n, i;

	/* the good one the others are made from: Echo Request */
	n = pkt("1001000800080000", b);
	assert_int_equal(sstp_parse_control(b, n, &c), 0);
	/* short: every prefix, with the header length matching or not */
	for (i = 0; i < n; i++)
		assert_int_equal(sstp_parse_control(b, i, &c), -1);
	expect_bad("10010004");
	expect_bad("100100060008");
	/* wrong version */
	expect_bad("1101000800080000");
	expect_bad("2001000800080000");
	/* a data packet is not a control message */
	expect_bad("1000000800080000");
	/* header length and buffer length disagree */
	expect_bad("100100090008000000");
	expect_bad("1001000900080000");
	expect_bad("1001000700080000");
	/* unknown message types */
	expect_bad("1001000800000000");
	expect_bad("10010008000a0000");
	expect_bad("1001000880010000");
	expect_bad("1001000801080000");
	/* an attribute running past the end */
	expect_bad("1001000e00010001000100070001");
	expect_bad("1001000e00010001000100ff0001");
	/* an attribute header cut short */
	expect_bad("1001000a000100010001");
	expect_bad("1001000c0001000100010006");
	/* counted attributes missing, or bytes left over */
	expect_bad("1001000e00010002000100060001");
	expect_bad("1001000800080001");
	expect_bad("1001000e00080000000100060001");
	expect_bad("1001001000010001000100060001abcd");
	/* zero-length attributes: length 0, 1..3 (inside its own header),
	 * 4 (no value) */
	expect_bad("1001000c0001000100010000");
	expect_bad("1001000c0001000100010003");
	expect_bad("1001000c0001000100010004");
	expect_bad("100100120001000200010004000100060001");
	/* too many attributes, even if they are all there */
	expect_bad("1001003e00050009"
	           "000200060000"
	           "000200060000"
	           "000200060000"
	           "000200060000"
	           "000200060000"
	           "000200060000"
	           "000200060000"
	           "000200060000"
	           "000200060000");
	expect_bad("1001000800050009");
	expect_bad("100100080005ffff");
	/* the reserved bits of the attribute length are ignored */
	n = pkt("1001000e000100010001f0060001", b);
	assert_int_equal(sstp_parse_control(b, n, &c), 0);
	assert_int_equal(c.attrs[0].len, 2);
}

static void test_parse_max_attrs(void **st)
{
	uint8_t b[256];
	sstp_ctrl_t c;
	size_t n;
	unsigned i;

	/* eight attributes of growing size, ids 1..8 */
	n = 8;
	for (i = 0; i < SSTP_MAX_ATTRS; i++) {
		size_t alen = 5 + i;
		b[n] = 0;
		b[n + 1] = (uint8_t)(i + 1);
		b[n + 2] = 0;
		b[n + 3] = (uint8_t)alen;
		memset(b + n + 4, (int)i, alen - 4);
		n += alen;
	}
	b[0] = 0x10;
	b[1] = 0x01;
	b[2] = (uint8_t)(n >> 8);
	b[3] = (uint8_t)n;
	b[4] = 0;
	b[5] = SSTP_MSG_CALL_CONNECT_NAK;
	b[6] = 0;
	b[7] = SSTP_MAX_ATTRS;
	assert_int_equal(sstp_packet_len(b, n), (int)n);
	assert_int_equal(sstp_parse_control(b, n, &c), 0);
	assert_int_equal(c.nattrs, SSTP_MAX_ATTRS);
	for (i = 0; i < SSTP_MAX_ATTRS; i++) {
		assert_int_equal(c.attrs[i].id, i + 1);
		assert_int_equal(c.attrs[i].len, 1 + i);
		assert_true(c.attrs[i].val >= b + 12 && c.attrs[i].val + c.attrs[i].len <= b + n);
		assert_int_equal(c.attrs[i].val[0], i);
		assert_ptr_equal(sstp_find_attr(&c, (uint8_t)(i + 1)), &c.attrs[i]);
	}
	assert_null(sstp_find_attr(&c, 9));
	assert_null(sstp_find_attr(&c, 0));
	/* one byte short anywhere: refused */
	b[3] = (uint8_t)(n - 1);
	assert_int_equal(sstp_parse_control(b, n - 1, &c), -1);
}

/* ---- attribute decoders ---- */

/* 2.2.10 Call Connect Acknowledge: length 48 | CALL_CONNECT_ACK, 1 attribute |
 * CRYPTO_BINDING_REQ, length 40 | reserved 3, bitmask 3 (SHA-1 and
 * SHA-256) | nonce 00 01 .. 1f */
#define ACK_HEX                                                                                    \
	"10010030"                                                                                 \
	"00020001"                                                                                 \
	"00040028"                                                                                 \
	"00000003"                                                                                 \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void test_binding_request(void **st)
{
	uint8_t b[64], nonce[32], mask = 0, want[32];
	sstp_ctrl_t c;
	sstp_attr_t a;
	const sstp_attr_t *r;
	size_t n = pkt(ACK_HEX, b), i;

	for (i = 0; i < 32; i++)
		want[i] = (uint8_t)i;
	assert_int_equal(n, 48);
	assert_int_equal(sstp_packet_len(b, n), 48);
	assert_int_equal(sstp_parse_control(b, n, &c), 0);
	assert_int_equal(c.type, SSTP_MSG_CALL_CONNECT_ACK);
	assert_string_equal(sstp_msg_name(c.type), "CALL_CONNECT_ACK");
	r = sstp_find_attr(&c, SSTP_ATTR_CRYPTO_BINDING_REQ);
	assert_non_null(r);
	assert_int_equal(r->len, 36);
	assert_int_equal(sstp_attr_binding_req(r, &mask, nonce), 0);
	assert_int_equal(mask, SSTP_HASH_SHA1 | SSTP_HASH_SHA256);
	assert_memory_equal(nonce, want, 32);

	/* wrong value lengths and the wrong attribute id */
	a = *r;
	a.len = 35;
	assert_int_equal(sstp_attr_binding_req(&a, &mask, nonce), -1);
	a.len = 37;
	assert_int_equal(sstp_attr_binding_req(&a, &mask, nonce), -1);
	a.len = 0;
	assert_int_equal(sstp_attr_binding_req(&a, &mask, nonce), -1);
	a = *r;
	a.id = SSTP_ATTR_CRYPTO_BINDING;
	assert_int_equal(sstp_attr_binding_req(&a, &mask, nonce), -1);
	assert_int_equal(
	    sstp_attr_status(r, &mask, &(uint32_t){0}, &(const uint8_t *){NULL}, &(size_t){0}), -1);

	/* a packet whose attribute says 41 bytes: the parser refuses it */
	b[11] = 0x29;
	assert_int_equal(sstp_parse_control(b, n, &c), -1);
	/* a one-byte-shorter attribute in a packet that agrees: parsed, the
	 * decoder refuses the 35-byte value */
	n = pkt("1001002f00020001000400270000000300"
	        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
	        b);
	assert_int_equal(n, 47);
	assert_int_equal(sstp_parse_control(b, n, &c), 0);
	assert_int_equal(sstp_attr_binding_req(&c.attrs[0], &mask, nonce), -1);
}

static void test_status_info(void **st)
{
	/* 2.2.12 Call Connect NAK: STATUS_INFO about ENCAPSULATED_PROTOCOL_ID,
	 * VALUE_NOT_SUPPORTED, with the offending value 00 02; then an
	 * ENCAPSULATED_PROTOCOL_ID listing what the server takes (PPP). */
	uint8_t b[128], id = 0;
	uint32_t status = 0;
	const uint8_t *extra = NULL;
	size_t elen = 0, n;
	sstp_ctrl_t c;
	sstp_attr_t a;
	const sstp_attr_t *r;

	n = pkt("1001001c00030002"
	        "0002000e"
	        "00000001"
	        "00000004"
	        "0002"
	        "000100060001",
	        b);
	assert_int_equal(sstp_parse_control(b, n, &c), 0);
	assert_int_equal(c.type, SSTP_MSG_CALL_CONNECT_NAK);
	assert_int_equal(c.nattrs, 2);
	r = sstp_find_attr(&c, SSTP_ATTR_STATUS_INFO);
	assert_ptr_equal(r, &c.attrs[0]);
	assert_ptr_equal(sstp_find_attr(&c, SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID), &c.attrs[1]);
	assert_int_equal(sstp_attr_status(r, &id, &status, &extra, &elen), 0);
	assert_int_equal(id, SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID);
	assert_int_equal(status, SSTP_STATUS_VALUE_NOT_SUPPORTED);
	assert_string_equal(sstp_status_name(status), "VALUE_NOT_SUPPORTED");
	assert_int_equal(elen, 2);
	assert_ptr_equal(extra, b + 20);
	assert_int_equal(extra[1], 2);

	/* the value may hold 0..64 bytes after the 8 fixed ones */
	memset(b, 0, sizeof(b));
	a.id = SSTP_ATTR_STATUS_INFO;
	a.val = b;
	b[3] = 3;
	b[7] = 9;
	a.len = 8 + 64;
	assert_int_equal(sstp_attr_status(&a, &id, &status, &extra, &elen), 0);
	assert_int_equal(id, 3);
	assert_int_equal(status, 9);
	assert_int_equal(elen, 64);
	assert_ptr_equal(extra, b + 8);
	a.len = 8 + 65;
	assert_int_equal(sstp_attr_status(&a, &id, &status, &extra, &elen), -1);
	a.len = 7;
	assert_int_equal(sstp_attr_status(&a, &id, &status, &extra, &elen), -1);
	a.len = 0;
	assert_int_equal(sstp_attr_status(&a, &id, &status, &extra, &elen), -1);
	a.len = 8;
	a.id = SSTP_ATTR_CRYPTO_BINDING_REQ;
	assert_int_equal(sstp_attr_status(&a, &id, &status, &extra, &elen), -1);
}

static void test_names(void **st)
{
	static const char *const msgs[] = {
	    "?",
	    "CALL_CONNECT_REQUEST",
	    "CALL_CONNECT_ACK",
	    "CALL_CONNECT_NAK",
	    "CALL_CONNECTED",
	    "CALL_ABORT",
	    "CALL_DISCONNECT",
	    "CALL_DISCONNECT_ACK",
	    "ECHO_REQUEST",
	    "ECHO_RESPONSE",
	    "?",
	};
	unsigned i;

	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		assert_string_equal(sstp_msg_name((uint16_t)i), msgs[i]);
	assert_string_equal(sstp_msg_name(0xffff), "?");
	assert_string_equal(sstp_status_name(SSTP_STATUS_NO_ERROR), "NO_ERROR");
	assert_string_equal(sstp_status_name(SSTP_STATUS_NEGOTIATION_TIMEOUT),
	                    "NEGOTIATION_TIMEOUT");
	assert_string_equal(sstp_status_name(SSTP_STATUS_STATUS_INFO_NOT_SUPPORTED_IN_MSG),
	                    "STATUS_INFO_NOT_SUPPORTED_IN_MSG");
	for (i = 0; i <= SSTP_STATUS_STATUS_INFO_NOT_SUPPORTED_IN_MSG; i++)
		assert_string_not_equal(sstp_status_name(i), "?");
	assert_string_equal(sstp_status_name(12), "?");
	assert_string_equal(sstp_status_name(0xffffffffu), "?");
}

/* ---- HTTP ---- */

static void test_http_request(void **st)
{
	static const char want[] =
	    "SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\r\n"
	    "Host: vpn.example.net\r\n"
	    "SSTPCORRELATIONID: {0123ABCD-4567-89EF-0123-456789ABCDEF}\r\n"
	    "Content-Length: 18446744073709551615\r\n"
	    "\r\n";
	static const char guid[] = "{0123ABCD-4567-89EF-0123-456789ABCDEF}";
	char out[512];
	size_t n = strlen(want);

	assert_int_equal(sstp_http_request(out, sizeof(out), "vpn.example.net", guid), n);
	assert_string_equal(out, want);
	/* room for the text and its NUL, and not one byte less */
	assert_int_equal(sstp_http_request(out, n + 1, "vpn.example.net", guid), n);
	assert_string_equal(out, want);
	assert_int_equal(sstp_http_request(out, n, "vpn.example.net", guid), 0);
	assert_int_equal(sstp_http_request(out, 10, "vpn.example.net", guid), 0);
	/* no header injection */
	assert_int_equal(sstp_http_request(out, sizeof(out), "a\r\nX-Evil: 1", guid), 0);
	assert_int_equal(sstp_http_request(out, sizeof(out), "a", "{x}\nX: y"), 0);
	/* a host with a port */
	assert_true(sstp_http_request(out, sizeof(out), "[::1]:8443", guid) > 0);
	assert_non_null(strstr(out, "\r\nHost: [::1]:8443\r\n"));
}

static void test_guid(void **st)
{
	char a[39], b[39];
	int i;

	memset(a, 'x', sizeof(a));
	sstp_guid(a);
	sstp_guid(b);
	assert_int_equal(strlen(a), 38);
	assert_string_not_equal(a, b);
	assert_int_equal(a[0], '{');
	assert_int_equal(a[37], '}');
	for (i = 1; i < 37; i++) {
		if (i == 9 || i == 14 || i == 19 || i == 24)
			assert_int_equal(a[i], '-');
		else
			assert_non_null(strchr("0123456789ABCDEF", a[i]));
	}
	assert_int_equal(a[15], '4');           /* version 4 */
	assert_non_null(strchr("89AB", a[20])); /* RFC 4122 variant */
	assert_true(sstp_http_request((char[256]){0}, 256, "h", a) > 0);
}

static int resp(const char *s, int *status)
{
	return sstp_http_response((const uint8_t *)s, strlen(s), status);
}

static void test_http_response(void **st)
{
	static const char ok[] = "HTTP/1.1 200\r\n"
	                         "Content-Length: 18446744073709551615\r\n"
	                         "Server: Microsoft-HTTPAPI/2.0\r\n"
	                         "Date: Thu, 09 Nov 2023 10:00:00 GMT\r\n"
	                         "\r\n";
	static const char denied[] = "HTTP/1.1 401 Unauthorized\r\n"
	                             "Content-Length: 0\r\n"
	                             "\r\n";
	char buf[8192];
	int status = -7;
	size_t n = strlen(ok), i;

	assert_int_equal(resp(ok, &status), (int)n);
	assert_int_equal(status, 200);
	/* SSTP bytes straight after the head are not part of it */
	memcpy(buf, ok, n);
	memcpy(buf + n, "\x10\x01\x00\x30", 4);
	status = -7;
	assert_int_equal(sstp_http_response((uint8_t *)buf, n + 4, &status), (int)n);
	assert_int_equal(status, 200);
	/* every prefix of a good head: wait for more */
	for (i = 0; i < n; i++)
		assert_int_equal(sstp_http_response((const uint8_t *)ok, i, &status), 0);
	status = -7;
	assert_int_equal(resp(denied, &status), (int)strlen(denied));
	assert_int_equal(status, 401);
	assert_int_equal(resp("HTTP/1.0 200 OK\r\n\r\n", &status), 19);
	assert_int_equal(status, 200);
	assert_int_equal(resp("HTTP/1.1 599 x\r\n\r\n", &status), 18);
	assert_int_equal(status, 599);

	/* garbage, at once where the first bytes already tell */
	status = -7;
	assert_int_equal(resp("X", &status), -1);
	assert_int_equal(resp("\x10\x01\x00\x0e", &status), -1);
	assert_int_equal(resp("HTTP/2 200\r\n\r\n", &status), -1);
	assert_int_equal(resp("HTTP/1.2 200\r\n\r\n", &status), -1);
	assert_int_equal(resp("HTTP/1.1 20", &status), 0);
	assert_int_equal(resp("HTTP/1.1 2x0", &status), -1);
	assert_int_equal(resp("HTTP/1.1  200", &status), -1);
	assert_int_equal(resp("HTTP/1.1 2000\r\n\r\n", &status), -1);
	assert_int_equal(resp("HTTP/1.1 200\r\n\r", &status), 0);
	assert_int_equal(resp("HTTP/1.1 20\r\n\r\n", &status), -1);
	assert_int_equal(resp("HTTP/1.1 099 x\r\n\r\n", &status), -1);
	assert_int_equal(resp("HTTP/1.1 600 x\r\n\r\n", &status), -1);
	assert_int_equal(resp("http/1.1 200 OK\r\n\r\n", &status), -1);
	/* bare LF, bare CR, NUL */
	assert_int_equal(resp("HTTP/1.1 200 OK\n\n", &status), -1);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nA: b\n\r\n", &status), -1);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", &status), -1);
	assert_int_equal(
	    sstp_http_response((const uint8_t *)"HTTP/1.1 200 OK\r\nA:\0\r\n\r\n", 24, &status),
	    -1);
	assert_int_equal(status, -7); /* untouched on failure */

	/* oversize: a head of exactly 4096 bytes is fine, one more is not */
	memcpy(buf, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(buf + 20, 'a', 4096 - 24);
	memcpy(buf + 4092, "\r\n\r\n", 4);
	assert_int_equal(sstp_http_response((uint8_t *)buf, 4096, &status), 4096);
	assert_int_equal(status, 200);
	assert_int_equal(sstp_http_response((uint8_t *)buf, 4095, &status), 0);
	memset(buf + 20, 'a', 4097 - 24);
	memcpy(buf + 4093, "\r\n\r\n", 4);
	status = -7;
	assert_int_equal(sstp_http_response((uint8_t *)buf, 4097, &status), -1);
	assert_int_equal(sstp_http_response((uint8_t *)buf, 4096, &status), -1);
	assert_int_equal(sstp_http_response((uint8_t *)buf, 4095, &status), 0);
	memset(buf + 20, 'a', sizeof(buf) - 20);
	assert_int_equal(sstp_http_response((uint8_t *)buf, sizeof(buf), &status), -1);
	assert_int_equal(status, -7);
}

/* ---- crypto binding ---- */

static void test_hlak_cmk(void **st)
{
	uint8_t hlak[32], k1[16], k2[16], cmk[32], zero[32] = {0};

	memset(k1, 0x11, 16);
	memset(k2, 0x22, 16);
	sstp_hlak_client(hlak, k1, k2);
	assert_memory_equal(hlak, k1, 16);
	assert_memory_equal(hlak + 16, k2, 16);
	memset(hlak, 0xff, 32);
	sstp_hlak_client(hlak, NULL, NULL);
	assert_memory_equal(hlak, zero, 32);

	memset(cmk, 0xff, 32);
	assert_int_equal(sstp_cmk(SSTP_HASH_SHA1, hlak, cmk), 20);
	assert_memory_equal(cmk + 20, zero, 12);
	assert_memory_not_equal(cmk, zero, 20);
	assert_int_equal(sstp_cmk(SSTP_HASH_SHA256, hlak, cmk), 32);
	assert_int_equal(sstp_cmk(0, hlak, cmk), 0);
	assert_int_equal(sstp_cmk(3, hlak, cmk), 0);
}

typedef struct vectors {
	uint8_t send[16], recv[16], hlak[32], cmk[32], mac[32], packet[SSTP_CALL_CONNECTED_LEN];
	size_t maclen;
} vectors_t;

static const char *script_path(void)
{
	static char path[4096];
	const char *src = getenv("SLUICE_SRC");
	const char *slash;

	if (src && *src) {
		snprintf(path, sizeof(path), "%s/tests/unit/sstp_vectors.py", src);
		return path;
	}
	slash = strrchr(__FILE__, '/');
	assert_non_null(slash); /* CMake hands the compiler absolute paths */
	snprintf(path, sizeof(path), "%.*s/sstp_vectors.py", (int)(slash - __FILE__), __FILE__);
	return path;
}

/* Runs sstp_vectors.py; keys NULL: the script derives them from RFC 3079. */
static void run_script(const char *hash, const uint8_t nonce[32], const uint8_t *cert,
                       size_t cert_len, const uint8_t *send, const uint8_t *recv, vectors_t *v)
{
	char cmd[8192], hn[65], hc[65], hs[33], hr[33], line[512];
	const char *path = script_path();
	FILE *f;
	int got = 0, rc;

	assert_int_equal(access(path, R_OK), 0);
	tohex(nonce, 32, hn);
	tohex(cert, cert_len, hc);
	if (send) {
		tohex(send, 16, hs);
		tohex(recv, 16, hr);
		snprintf(cmd, sizeof(cmd),
		         PYTHON " '%s' --hash %s --nonce %s --cert %s --send %s --recv %s", path,
		         hash, hn, hc, hs, hr);
	} else {
		snprintf(cmd, sizeof(cmd), PYTHON " '%s' --hash %s --nonce %s --cert %s", path,
		         hash, hn, hc);
	}
	f = popen(cmd, "r");
	assert_non_null(f);
	memset(v, 0, sizeof(*v));
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *val;
		size_t n;

		assert_non_null(eq);
		*eq = 0;
		val = eq + 1;
		val[strcspn(val, "\r\n")] = 0;
		n = strlen(val) / 2;
		if (!strcmp(line, "send"))
			unhex(val, v->send, 16), got |= 1;
		else if (!strcmp(line, "recv"))
			unhex(val, v->recv, 16), got |= 2;
		else if (!strcmp(line, "hlak"))
			unhex(val, v->hlak, 32), got |= 4;
		else if (!strcmp(line, "cmk"))
			assert_true(n <= 32), unhex(val, v->cmk, n), got |= 8;
		else if (!strcmp(line, "mac"))
			assert_true(n <= 32), unhex(val, v->mac, n), v->maclen = n, got |= 16;
		else if (!strcmp(line, "packet"))
			unhex(val, v->packet, SSTP_CALL_CONNECTED_LEN), got |= 32;
	}
	rc = pclose(f);
	assert_int_equal(rc, 0);
	assert_int_equal(got, 63);
}

/* The Call Connected packet's layout, written out: what the script and the
 * C must both produce, apart from the MAC. */
static void check_layout(const uint8_t *p, uint8_t hash, const uint8_t nonce[32],
                         const uint8_t *cert, size_t n)
{
	static const uint8_t head[16] = {0x10, 0x01, 0x00, 0x70, 0x00, 0x04, 0x00, 0x01,
	                                 0x00, 0x03, 0x00, 0x68, 0x00, 0x00, 0x00, 0x00};
	uint8_t zero[32] = {0};

	assert_memory_equal(p, head, 15);
	assert_int_equal(p[15], hash);
	assert_memory_equal(p + 16, nonce, 32);
	assert_memory_equal(p + 48, cert, n);
	assert_memory_equal(p + 48 + n, zero, 32 - n);
	assert_memory_equal(p + 80 + n, zero, 32 - n); /* MAC padding */
}

static void binding_case(const char *name, uint8_t hash, size_t n, const uint8_t hlak[32],
                         const uint8_t *send, const uint8_t *recv)
{
	uint8_t nonce[32], cert[32], cmk[32], out[SSTP_CALL_CONNECTED_LEN],
	    again[SSTP_CALL_CONNECTED_LEN];
	vectors_t v;
	sstp_ctrl_t c;
	size_t i;

	for (i = 0; i < 32; i++) {
		nonce[i] = (uint8_t)(0xf0 - 7 * i);
		cert[i] = (uint8_t)(0xa0 + i);
	}
	run_script(name, nonce, cert, n, send, recv, &v);
	if (send) {
		assert_memory_equal(v.send, send, 16);
		assert_memory_equal(v.recv, recv, 16);
	}
	assert_memory_equal(v.hlak, hlak, 32);
	assert_int_equal(sstp_cmk(hash, hlak, cmk), n);
	assert_memory_equal(cmk, v.cmk, n);
	assert_int_equal(v.maclen, n);

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(sstp_enc_call_connected(out, hash, nonce, cert, hlak),
	                 SSTP_CALL_CONNECTED_LEN);
	assert_memory_equal(out, v.packet, SSTP_CALL_CONNECTED_LEN);
	assert_memory_equal(out + 80, v.mac, n);
	check_layout(out, hash, nonce, cert, n);
	/* deterministic, and it parses as one Crypto Binding attribute */
	assert_int_equal(sstp_enc_call_connected(again, hash, nonce, cert, hlak),
	                 SSTP_CALL_CONNECTED_LEN);
	assert_memory_equal(out, again, SSTP_CALL_CONNECTED_LEN);
	assert_int_equal(sstp_packet_len(out, sizeof(out)), SSTP_CALL_CONNECTED_LEN);
	assert_int_equal(sstp_parse_control(out, sizeof(out), &c), 0);
	assert_int_equal(c.type, SSTP_MSG_CALL_CONNECTED);
	assert_int_equal(c.nattrs, 1);
	assert_int_equal(c.attrs[0].id, SSTP_ATTR_CRYPTO_BINDING);
	assert_int_equal(c.attrs[0].len, 100);
	/* any change to an input changes the MAC */
	nonce[0] ^= 1;
	sstp_enc_call_connected(again, hash, nonce, cert, hlak);
	assert_memory_not_equal(out + 80, again + 80, n);
}

static void test_crypto_binding_mschapv2(void **st)
{
	/* RFC 2759 9.2: User "User", password "clientPass" */
	uint8_t nt[24], send[16], recv[16], hlak[32], want[16];

	unhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF", nt, 24);
	mppe_master_keys("clientPass", nt, 0, send, recv);
	/* RFC 3079 3.5.3: the server's send key is the client's receive key */
	unhex("8B7CDC149B993A1BA118CB153F56DCCB", want, 16);
	assert_memory_equal(recv, want, 16);
	sstp_hlak_client(hlak, send, recv);
	/* the script derives both keys itself from the RFC's MasterKey */
	binding_case("sha1", SSTP_HASH_SHA1, 20, hlak, NULL, NULL);
	binding_case("sha256", SSTP_HASH_SHA256, 32, hlak, NULL, NULL);
	/* and takes ours when given, to the same answer */
	binding_case("sha256", SSTP_HASH_SHA256, 32, hlak, send, recv);
}

static void test_crypto_binding_pap(void **st)
{
	/* PAP and CHAP give no keys: the HLAK is 32 zero bytes */
	uint8_t hlak[32], zero[16] = {0};

	sstp_hlak_client(hlak, NULL, NULL);
	binding_case("sha1", SSTP_HASH_SHA1, 20, hlak, zero, zero);
	binding_case("sha256", SSTP_HASH_SHA256, 32, hlak, zero, zero);
}

static void test_call_connected_bad_hash(void **st)
{
	uint8_t out[SSTP_CALL_CONNECTED_LEN], nonce[32] = {0}, cert[32] = {0}, hlak[32] = {0};

	assert_int_equal(sstp_enc_call_connected(out, 0, nonce, cert, hlak), 0);
	assert_int_equal(sstp_enc_call_connected(out, 3, nonce, cert, hlak), 0);
	assert_int_equal(sstp_enc_call_connected(out, 0x80, nonce, cert, hlak), 0);
}

/* The server side: Ack layout, and a Call Connected checked the way the
 * server does, from the server's own MS-CHAPv2 keys (RFC 2759 9.2). */
static void test_server_binding(void **st)
{
	uint8_t nt[24], csend[16], crecv[16], ssend[16], srecv[16], chlak[32], shlak[32];
	uint8_t nonce[32], sha1[20], sha256[32], ack[SSTP_CONNECT_ACK_LEN], mask = 0, n2[32];
	uint8_t pkt[SSTP_CALL_CONNECTED_LEN], bad[SSTP_CALL_CONNECTED_LEN], hash = 0;
	sstp_ctrl_t c;

	(void)st;
	unhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF", nt, 24);
	mppe_master_keys("clientPass", nt, 0, csend, crecv);
	mppe_master_keys("clientPass", nt, 1, ssend, srecv);
	sstp_hlak_client(chlak, csend, crecv);
	sstp_hlak_server(shlak, ssend, srecv);
	assert_memory_equal(chlak, shlak, 32);

	for (size_t i = 0; i < 32; i++)
		nonce[i] = (uint8_t)(i * 7 + 1), sha256[i] = (uint8_t)(0xa0 + i);
	memcpy(sha1, sha256 + 3, 20);
	assert_int_equal(sstp_enc_connect_ack(ack, SSTP_HASH_SHA256 | SSTP_HASH_SHA1, nonce),
	                 SSTP_CONNECT_ACK_LEN);
	assert_int_equal(sstp_parse_control(ack, sizeof(ack), &c), 0);
	assert_int_equal(c.type, SSTP_MSG_CALL_CONNECT_ACK);
	assert_int_equal(sstp_attr_binding_req(&c.attrs[0], &mask, n2), 0);
	assert_int_equal(mask, SSTP_HASH_SHA256 | SSTP_HASH_SHA1);
	assert_memory_equal(n2, nonce, 32);

	/* what the client sends, checked by the server: good */
	sstp_enc_call_connected(pkt, SSTP_HASH_SHA256, nonce, sha256, chlak);
	assert_int_equal(
	    sstp_check_call_connected(pkt, sizeof(pkt), 3, nonce, sha1, sha256, shlak, &hash), 0);
	assert_int_equal(hash, SSTP_HASH_SHA256);
	sstp_enc_call_connected(pkt, SSTP_HASH_SHA1, nonce, sha1, chlak);
	assert_int_equal(
	    sstp_check_call_connected(pkt, sizeof(pkt), 3, nonce, sha1, sha256, shlak, &hash), 0);
	assert_int_equal(hash, SSTP_HASH_SHA1);
	/* a hash we did not offer */
	assert_int_equal(sstp_check_call_connected(pkt, sizeof(pkt), SSTP_HASH_SHA256, nonce, sha1,
	                                           sha256, shlak, &hash),
	                 SSTP_BIND_HASH);
	/* another nonce (a replayed Call Connected) */
	n2[5] ^= 1;
	sstp_enc_call_connected(pkt, SSTP_HASH_SHA256, n2, sha256, chlak);
	assert_int_equal(
	    sstp_check_call_connected(pkt, sizeof(pkt), 3, nonce, sha1, sha256, shlak, &hash),
	    SSTP_BIND_NONCE);
	/* another certificate: the client talked TLS with someone else */
	memcpy(bad, sha256, 32);
	bad[0] ^= 1;
	sstp_enc_call_connected(pkt, SSTP_HASH_SHA256, nonce, bad, chlak);
	assert_int_equal(
	    sstp_check_call_connected(pkt, sizeof(pkt), 3, nonce, sha1, sha256, shlak, &hash),
	    SSTP_BIND_CERT);
	/* a MAC from other keys (zero HLAK: the client claims PAP), or altered */
	memset(bad, 0, 32);
	sstp_enc_call_connected(pkt, SSTP_HASH_SHA256, nonce, sha256, bad);
	assert_int_equal(
	    sstp_check_call_connected(pkt, sizeof(pkt), 3, nonce, sha1, sha256, shlak, &hash),
	    SSTP_BIND_MAC);
	sstp_enc_call_connected(pkt, SSTP_HASH_SHA256, nonce, sha256, chlak);
	pkt[100] ^= 0x40;
	assert_int_equal(
	    sstp_check_call_connected(pkt, sizeof(pkt), 3, nonce, sha1, sha256, shlak, &hash),
	    SSTP_BIND_MAC);
	/* wrong length or type */
	assert_int_equal(
	    sstp_check_call_connected(pkt, sizeof(pkt) - 1, 3, nonce, sha1, sha256, shlak, &hash),
	    SSTP_BIND_MALFORMED);
	assert_int_equal(
	    sstp_check_call_connected(ack, sizeof(ack), 3, nonce, sha1, sha256, shlak, &hash),
	    SSTP_BIND_MALFORMED);
	assert_string_not_equal(sstp_bind_error(SSTP_BIND_CERT), "?");
}

static void test_server_http(void **st)
{
	static const char req[] = "SSTP_DUPLEX_POST /sra_{BA195980-CD49-458B-9E23-C84EE0ADCD75}/ "
	                          "HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615"
	                          "\r\nSSTPCORRELATIONID: {1}\r\n\r\nrest";
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	char out[256];
	int sstp = -1;
	size_t n;

	(void)st;
	assert_int_equal(sstp_http_request_parse((const uint8_t *)req, sizeof(req) - 1, &sstp),
	                 (int)(sizeof(req) - 1 - 4));
	assert_int_equal(sstp, 1);
	/* every prefix of the head: more bytes needed */
	for (n = 0; n < sizeof(req) - 1 - 4; n++)
		assert_int_equal(sstp_http_request_parse((const uint8_t *)req, n, &sstp), 0);
	assert_int_equal(sstp_http_request_parse((const uint8_t *)get, sizeof(get) - 1, &sstp),
	                 (int)(sizeof(get) - 1));
	assert_int_equal(sstp, 0);
	assert_int_equal(sstp_http_request_parse((const uint8_t *)"GET /\n\n", 7, &sstp), -1);
	assert_int_equal(sstp_http_request_parse((const uint8_t *)"x\r\n\r\n", 5, &sstp), -1);
	assert_int_equal(
	    sstp_http_request_parse((const uint8_t *)"SSTP_DUPLEX_POST /sra_/ HTTP/1.1\r\n\r\n", 36,
	                            &sstp),
	    36);
	assert_int_equal(sstp, 0);
	n = sstp_http_ok(out, sizeof(out), 0);
	assert_true(n > 0);
	assert_string_equal(out, "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n"
	                         "Server: Microsoft-HTTPAPI/2.0\r\n"
	                         "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n");
	assert_int_equal(sstp_http_ok(out, 20, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enc_connect_request),
	    cmocka_unit_test(test_enc_plain),
	    cmocka_unit_test(test_enc_status),
	    cmocka_unit_test(test_data_header),
	    cmocka_unit_test(test_packet_len),
	    cmocka_unit_test(test_parse_roundtrip),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_parse_max_attrs),
	    cmocka_unit_test(test_binding_request),
	    cmocka_unit_test(test_status_info),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_http_request),
	    cmocka_unit_test(test_guid),
	    cmocka_unit_test(test_http_response),
	    cmocka_unit_test(test_hlak_cmk),
	    cmocka_unit_test(test_crypto_binding_mschapv2),
	    cmocka_unit_test(test_crypto_binding_pap),
	    cmocka_unit_test(test_call_connected_bad_hash),
	    cmocka_unit_test(test_server_binding),
	    cmocka_unit_test(test_server_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
