/* fuzz_hdlc: arbitrary bytes into ppp/hdlc, three ways.
 *
 *   1. The input after its first two bytes as a line: fed to the deframer
 *      in chunks whose size the first byte picks, with the receive ACCM
 *      and FCS-16/32 it also picks, and a buffer of 64 bytes to 2 KiB.
 *      Every frame handed out must fit the buffer; the counters must add
 *      up to at most the number of flags seen.
 *   2. The input as one frame: encoded with a transmit map from the second
 *      byte, then deframed again, which must give the frame back unchanged
 *      (and the encoding must contain no flag inside and no octet the map
 *      flags).
 *   3. The input to hdlc_parse_header(), whose answer must lie inside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppp/hdlc.h"

static const uint8_t *want;
static size_t want_len, got, bufcap;

static int on_frame(void *ud, const uint8_t *f, size_t len)
{
	if (len > bufcap)
		abort();
	if (want) {
		if (len != want_len || memcmp(f, want, len))
			abort();
	}
	got++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[4] = {1, 3, 64, 1 << 20};
	static const size_t caps[4] = {64, 300, 1504, 2048};
	static uint8_t buf[2048], wire[HDLC_ENCODED_MAX(4096)];
	uint32_t map;
	hdlc_rx_t r;
	hdlc_tx_t t;
	size_t flags = 0, n, step, off;
	uint16_t proto;
	int h;

	if (size < 2)
		return 0;
	/* 1: the deframer over arbitrary bytes */
	bufcap = caps[(data[0] >> 2) & 3];
	hdlc_rx_init(&r, buf, bufcap, on_frame, NULL);
	r.accm = (data[0] & 0x10) ? 0xffffffffu : (data[0] & 0x20) ? 0x000a0000u : 0;
	r.fcs32 = (data[0] & 0x40) != 0;
	want = NULL;
	got = 0;
	step = chunks[data[0] & 3];
	for (off = 2; off < size; off += step) {
		n = size - off < step ? size - off : step;
		if (hdlc_rx_feed(&r, data + off, n) != n)
			abort();
	}
	for (off = 2; off < size; off++)
		flags += data[off] == HDLC_FLAG;
	if (got != r.frames || r.frames + r.bad_fcs + r.runts + r.oversize + r.aborts > flags)
		abort();

	/* 2: encode then decode is the identity */
	map = (uint32_t)data[1] * 0x01010101u;
	hdlc_tx_init(&t, (data[1] & 1) ? 0xffffffffu : map, (data[1] & 2) != 0);
	if (size <= sizeof(buf) - 4) {
		n = hdlc_encode(&t, data, size, wire, sizeof(wire));
		if (!n || wire[0] != HDLC_FLAG || wire[n - 1] != HDLC_FLAG)
			abort();
		for (off = 1; off + 1 < n; off++) {
			if (wire[off] == HDLC_FLAG)
				abort();
			if (wire[off] != HDLC_ESC &&
			    (t.map[wire[off] >> 5] >> (wire[off] & 31)) & 1)
				abort();
		}
		bufcap = sizeof(buf);
		hdlc_rx_init(&r, buf, sizeof(buf), on_frame, NULL);
		r.fcs32 = t.fcs32;
		want = data;
		want_len = size;
		got = 0;
		hdlc_rx_feed(&r, wire, n);
		if (got != 1)
			abort();
	}

	/* 3: the header parser stays inside */
	h = hdlc_parse_header(data, size, &proto);
	if (h > 0 && ((size_t)h > size || !(proto & 1)))
		abort();
	return 0;
}
