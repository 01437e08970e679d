/* fuzz_sstp: arbitrary bytes into sstp/sstp_proto, two ways.
 *
 *   1. The input as an SSTP byte stream: sstp_packet_len() cuts it into
 *      packets, each of which must lie inside the input; every control
 *      packet goes to sstp_parse_control(), whose attributes must lie
 *      inside their packet and add up to it; every attribute goes to both
 *      decoders, whose answers must lie inside the attribute.  A Crypto
 *      Binding Request that decodes is answered with Call Connected, which
 *      must parse back.
 *   2. The input as the server's HTTP response: sstp_http_response() must
 *      answer a head inside the input and at most 4096 bytes, with a status
 *      of three digits, and the same answer for the head alone.
 *   4. The input fed in chunks to sstp_rx_feed() (the head first, as a
 *      request): every packet it hands over is whole, and the packets
 *      cover the bytes after the head in order.
 *   3. The input as a client's request head (sstp_http_request_parse(),
 *      the same rules) and every packet as a client's Call Connected
 *      (sstp_check_call_connected(): a failure code, or success only for
 *      the packet the fixed keys, nonce and certificate make).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sstp/sstp_proto.h"

static void check_attrs(const uint8_t *pkt, size_t len, const sstp_ctrl_t *c)
{
	static const uint8_t hlak[32];
	size_t sum = 8;
	unsigned i;

	if (c->nattrs > SSTP_MAX_ATTRS || !sstp_msg_name(c->type))
		abort();
	for (i = 0; i < c->nattrs; i++) {
		const sstp_attr_t *a = &c->attrs[i];
		const uint8_t *extra;
		uint8_t mask, nonce[32], id, out[SSTP_CALL_CONNECTED_LEN];
		uint32_t status;
		size_t elen;
		sstp_ctrl_t back;

		if (a->len == 0 || a->val < pkt + 12 || a->val + a->len > pkt + len)
			abort();
		sum += 4 + a->len;
		if (sstp_find_attr(c, a->id) > a)
			abort();
		if (sstp_attr_binding_req(a, &mask, nonce) == 0) {
			uint8_t hash =
			    (mask & SSTP_HASH_SHA256) ? SSTP_HASH_SHA256 : SSTP_HASH_SHA1;

			if (a->id != SSTP_ATTR_CRYPTO_BINDING_REQ || a->len != 36)
				abort();
			if (sstp_enc_call_connected(out, hash, nonce, nonce, hlak) !=
			        SSTP_CALL_CONNECTED_LEN ||
			    sstp_parse_control(out, sizeof(out), &back) || back.nattrs != 1 ||
			    memcmp(back.attrs[0].val + 4, nonce, 32))
				abort();
		}
		if (sstp_attr_status(a, &id, &status, &extra, &elen) == 0) {
			if (a->id != SSTP_ATTR_STATUS_INFO || elen > 64 || elen + 8 != a->len)
				abort();
			if (elen && (extra != a->val + 8))
				abort();
			if (!sstp_status_name(status))
				abort();
		}
	}
	if (sum != len)
		abort();
}

typedef struct rxcheck {
	const uint8_t *data;
	size_t size, next; /* where the next packet must start */
	int headed;
} rxcheck_t;

static long rx_head(void *ud, const uint8_t *p, size_t n)
{
	rxcheck_t *c = ud;
	int sstp = 0, r = sstp_http_request_parse(p, n, &sstp);

	if (r > 0) {
		c->headed = 1;
		c->next = (size_t)r;
	}
	return r < 0 ? -1 : r;
}

static int rx_packet(void *ud, const uint8_t *p, size_t n)
{
	rxcheck_t *c = ud;

	if (!c->headed || n < SSTP_HDR_LEN || sstp_packet_len(p, n) != (int)n ||
	    c->next + n > c->size || memcmp(p, c->data + c->next, n))
		abort();
	c->next += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	int n, status = -1, again = -1;

	/* 1: packets */
	while (off < size) {
		sstp_ctrl_t c;

		n = sstp_packet_len(data + off, size - off);
		if (n <= 0)
			break;
		if ((size_t)n > size - off || n < SSTP_HDR_LEN || n > SSTP_MAX_PACKET)
			abort();
		if (sstp_is_control(data + off) &&
		    sstp_parse_control(data + off, (size_t)n, &c) == 0)
			check_attrs(data + off, (size_t)n, &c);
		{
			static const uint8_t zero[32];
			uint8_t hash = 0, want[SSTP_CALL_CONNECTED_LEN];
			int r = sstp_check_call_connected(data + off, (size_t)n, 3, zero, zero,
			                                  zero, zero, &hash);

			if (r > 0 || r < SSTP_BIND_MAC || !sstp_bind_error(r))
				abort();
			if (r == 0 &&
			    (sstp_enc_call_connected(want, hash, zero, zero, zero) != (size_t)n ||
			     memcmp(want, data + off, (size_t)n)))
				abort();
		}
		off += (size_t)n;
	}

	/* 2: the HTTP response head */
	n = sstp_http_response(data, size, &status);
	if (n > 0) {
		if ((size_t)n > size || n > 4096 || status < 100 || status > 599)
			abort();
		if (sstp_http_response(data, (size_t)n, &again) != n || again != status)
			abort();
	} else if (n == 0 && size >= 4096) {
		abort();
	}

	/* 4: chunked into the reassembler */
	{
		static const sstp_rx_cbs_t cbs = {rx_head, rx_packet};
		static sstp_rx_t rx;
		rxcheck_t c = {data, size, 0, 0};
		size_t off = 0, step = size ? (size_t)data[0] % 97 + 1 : 1;

		rx.len = 0;
		rx.in_head = 1;
		while (off < size) {
			size_t n = size - off < step ? size - off : step;
			if (sstp_rx_feed(&rx, data + off, n, &cbs, &c) < 0)
				break;
			off += n;
		}
	}

	/* 3: a client's request head */
	{
		int sstp = -1, again_sstp = -1;

		n = sstp_http_request_parse(data, size, &sstp);
		if (n > 0) {
			if ((size_t)n > size || n > 4096 || (sstp != 0 && sstp != 1))
				abort();
			if (sstp_http_request_parse(data, (size_t)n, &again_sstp) != n ||
			    again_sstp != sstp)
				abort();
		} else if (n == 0 && size >= 4096) {
			abort();
		}
	}
	return 0;
}
