/* hdlc: see hdlc.h.
 *
 * Both FCS are the bit-reflected CRCs of RFC 1662 (appendix C): FCS-16 with
 * x^16 + x^12 + x^5 + 1 (reflected 0x8408), FCS-32 with the Ethernet
 * polynomial (reflected 0xedb88320), each sent complemented, least
 * significant octet first.  Their tables are computed on first use; eight
 * tables each let the loop take eight octets per step (slicing-by-8: table
 * k holds what an octet does to the CRC k octets before the end of the
 * step), as a PPP link carries every byte through both.
 *
 * Speed.  The encoder copies runs of octets that need no escape with
 * memcpy, and the deframer runs of octets that are neither a flag, an
 * escape nor a control character the receive ACCM discards; only the
 * octets between the runs go one by one.
 *
 * The deframer keeps three bits of state between calls: inside an escape,
 * tossing an oversize frame until the next flag, and the bytes so far.  A
 * flag ends a frame; what happens to it depends on those bits:
 *
 *   escape pending     7d 7e is the abort sequence: dropped, counted
 *   tossing            the frame outgrew the buffer: counted as oversize
 *   empty              an idle or back-to-back flag: nothing
 *   short              fewer octets than FCS + 2: a runt
 *   FCS not good       bad_fcs
 *   otherwise          the callback gets it without the FCS
 */
#include "ppp/hdlc.h"

#include <errno.h>
#include <string.h>

static uint16_t fcs16_tab[8][256];
static uint32_t fcs32_tab[8][256];
static int tabs_ready;

static void make_tables(void)
{
	for (unsigned b = 0; b < 256; b++) {
		uint16_t v16 = (uint16_t)b;
		uint32_t v32 = b;

		for (int i = 0; i < 8; i++) {
			v16 = (v16 & 1) ? (uint16_t)((v16 >> 1) ^ 0x8408) : (uint16_t)(v16 >> 1);
			v32 = (v32 & 1) ? (v32 >> 1) ^ 0xedb88320u : v32 >> 1;
		}
		fcs16_tab[0][b] = v16;
		fcs32_tab[0][b] = v32;
	}
	for (unsigned b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++) {
			uint16_t v16 = fcs16_tab[k - 1][b];
			uint32_t v32 = fcs32_tab[k - 1][b];

			fcs16_tab[k][b] = (uint16_t)((v16 >> 8) ^ fcs16_tab[0][v16 & 0xff]);
			fcs32_tab[k][b] = (v32 >> 8) ^ fcs32_tab[0][v32 & 0xff];
		}
	tabs_ready = 1;
}

uint16_t hdlc_fcs16(uint16_t fcs, const uint8_t *p, size_t len)
{
	if (!tabs_ready)
		make_tables();
	for (; len >= 8; p += 8, len -= 8) {
		unsigned a = fcs ^ (p[0] | (unsigned)p[1] << 8);

		fcs = (uint16_t)(fcs16_tab[7][a & 0xff] ^ fcs16_tab[6][a >> 8] ^
		                 fcs16_tab[5][p[2]] ^ fcs16_tab[4][p[3]] ^ fcs16_tab[3][p[4]] ^
		                 fcs16_tab[2][p[5]] ^ fcs16_tab[1][p[6]] ^ fcs16_tab[0][p[7]]);
	}
	while (len--)
		fcs = (uint16_t)((fcs >> 8) ^ fcs16_tab[0][(fcs ^ *p++) & 0xff]);
	return fcs;
}

uint32_t hdlc_fcs32(uint32_t fcs, const uint8_t *p, size_t len)
{
	if (!tabs_ready)
		make_tables();
	for (; len >= 8; p += 8, len -= 8) {
		uint32_t a = fcs ^ (p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		                    (uint32_t)p[3] << 24);

		fcs = fcs32_tab[7][a & 0xff] ^ fcs32_tab[6][(a >> 8) & 0xff] ^
		      fcs32_tab[5][(a >> 16) & 0xff] ^ fcs32_tab[4][a >> 24] ^ fcs32_tab[3][p[4]] ^
		      fcs32_tab[2][p[5]] ^ fcs32_tab[1][p[6]] ^ fcs32_tab[0][p[7]];
	}
	while (len--)
		fcs = (fcs >> 8) ^ fcs32_tab[0][(fcs ^ *p++) & 0xff];
	return fcs;
}

void hdlc_tx_init(hdlc_tx_t *t, uint32_t async_map, int fcs32)
{
	memset(t, 0, sizeof(*t));
	t->map[0] = async_map;
	t->map[HDLC_ESC >> 5] |= 1u << (HDLC_ESC & 31);
	t->map[HDLC_FLAG >> 5] |= 1u << (HDLC_FLAG & 31);
	t->fcs32 = fcs32;
}

static int must_escape(const hdlc_tx_t *t, uint8_t c)
{
	return (t->map[c >> 5] >> (c & 31)) & 1;
}

/* Append c, escaped if need be; the caller has checked the room. */
static size_t put(const hdlc_tx_t *t, uint8_t *out, size_t n, uint8_t c)
{
	if (must_escape(t, c)) {
		out[n++] = HDLC_ESC;
		out[n++] = c ^ HDLC_TRANS;
	} else {
		out[n++] = c;
	}
	return n;
}

size_t hdlc_encode(const hdlc_tx_t *t, const uint8_t *frame, size_t len, uint8_t *out, size_t cap)
{
	uint8_t fcs[4];
	size_t n = 0, nfcs;

	if (cap < HDLC_ENCODED_MAX(len))
		return 0;
	if (t->fcs32) {
		uint32_t v = ~hdlc_fcs32(HDLC_FCS32_INIT, frame, len);

		fcs[0] = (uint8_t)v;
		fcs[1] = (uint8_t)(v >> 8);
		fcs[2] = (uint8_t)(v >> 16);
		fcs[3] = (uint8_t)(v >> 24);
		nfcs = 4;
	} else {
		uint16_t v = (uint16_t)~hdlc_fcs16(HDLC_FCS16_INIT, frame, len);

		fcs[0] = (uint8_t)v;
		fcs[1] = (uint8_t)(v >> 8);
		nfcs = 2;
	}
	out[n++] = HDLC_FLAG;
	for (size_t i = 0, j; i < len; i = j) {
		for (j = i; j < len && !must_escape(t, frame[j]); j++)
			;
		memcpy(out + n, frame + i, j - i);
		n += j - i;
		if (j < len)
			n = put(t, out, n, frame[j++]);
	}
	for (size_t i = 0; i < nfcs; i++)
		n = put(t, out, n, fcs[i]);
	out[n++] = HDLC_FLAG;
	return n;
}

void hdlc_rx_init(hdlc_rx_t *r, uint8_t *buf, size_t cap, hdlc_frame_cb cb, void *ud)
{
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->cap = cap;
	r->cb = cb;
	r->ud = ud;
}

/* A flag arrived: judge the frame collected so far.  Returns the
 * callback's verdict (nonzero = stop). */
static int end_frame(hdlc_rx_t *r)
{
	size_t fcslen = r->fcs32 ? 4 : 2;
	size_t len = r->len;
	int good;

	r->len = 0;
	if (r->esc) {
		r->esc = 0;
		r->toss = 0;
		r->aborts++;
		return 0;
	}
	if (r->toss) {
		r->toss = 0;
		r->oversize++;
		return 0;
	}
	if (!len)
		return 0;
	if (len < fcslen + 2) {
		r->runts++;
		return 0;
	}
	if (r->fcs32)
		good = hdlc_fcs32(HDLC_FCS32_INIT, r->buf, len) == HDLC_FCS32_GOOD;
	else
		good = hdlc_fcs16(HDLC_FCS16_INIT, r->buf, len) == HDLC_FCS16_GOOD;
	if (!good) {
		r->bad_fcs++;
		return 0;
	}
	r->frames++;
	return r->cb ? r->cb(r->ud, r->buf, len - fcslen) : 0;
}

/* An octet the deframer cannot just store: a flag, an escape, or a control
 * character the receive ACCM discards. */
static int special(const hdlc_rx_t *r, uint8_t c)
{
	return c == HDLC_FLAG || c == HDLC_ESC || (c < 0x20 && ((r->accm >> c) & 1));
}

size_t hdlc_rx_feed(hdlc_rx_t *r, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];

		if (!r->esc && !r->toss) { /* a run of plain octets, stored at once */
			size_t j = i, room = r->cap - r->len;

			while (j < len && j - i < room && !special(r, p[j]))
				j++;
			memcpy(r->buf + r->len, p + i, j - i);
			r->len += j - i;
			if (j == len)
				return len;
			i = j;
			c = p[i];
		}

		if (c == HDLC_FLAG) {
			if (end_frame(r))
				return i + 1;
			continue;
		}
		if (c < 0x20 && ((r->accm >> c) & 1))
			continue; /* inserted by the line, not by the sender */
		if (c == HDLC_ESC) {
			r->esc = 1;
			continue;
		}
		if (r->esc) {
			c ^= HDLC_TRANS;
			r->esc = 0;
		}
		if (r->toss)
			continue;
		if (r->len == r->cap) {
			r->toss = 1;
			continue;
		}
		r->buf[r->len++] = c;
	}
	return len;
}

size_t hdlc_put_header(uint8_t *out, uint16_t proto, int acfc, int pfc)
{
	size_t n = 0;

	if (!acfc) {
		out[n++] = HDLC_ADDR;
		out[n++] = HDLC_CTRL;
	}
	if (!pfc || proto > 0xff)
		out[n++] = (uint8_t)(proto >> 8);
	out[n++] = (uint8_t)proto;
	return n;
}

int hdlc_parse_header(const uint8_t *f, size_t len, uint16_t *proto)
{
	size_t n = 0;

	if (len >= 1 && f[0] == HDLC_ADDR) {
		if (len < 2 || f[1] != HDLC_CTRL)
			return -EBADMSG;
		n = 2;
	}
	if (n >= len)
		return -EBADMSG;
	if (f[n] & 1) { /* compressed: the odd low octet alone */
		*proto = f[n];
		return (int)n + 1;
	}
	if (n + 2 > len || !(f[n + 1] & 1))
		return -EBADMSG;
	*proto = (uint16_t)(f[n] << 8 | f[n + 1]);
	return (int)n + 2;
}
