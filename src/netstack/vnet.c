/* vnet: see vnet.h.  Checksums are summed in host byte order (RFC 1071:
 * the one's complement sum does not care, as long as the result is stored
 * the same way), 32 bits at a time into a 64-bit accumulator. */
#include "netstack/vnet.h"

#include "netstack/ippkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

void vnet_hdr_parse(const uint8_t b[VNET_HDR_LEN], vnet_hdr_t *h)
{
	h->flags = b[0];
	h->gso_type = b[1];
	memcpy(&h->hdr_len, b + 2, 2);
	memcpy(&h->gso_size, b + 4, 2);
	memcpy(&h->csum_start, b + 6, 2);
	memcpy(&h->csum_offset, b + 8, 2);
}

void vnet_hdr_put(const vnet_hdr_t *h, uint8_t b[VNET_HDR_LEN])
{
	b[0] = h->flags;
	b[1] = h->gso_type;
	memcpy(b + 2, &h->hdr_len, 2);
	memcpy(b + 4, &h->gso_size, 2);
	memcpy(b + 6, &h->csum_start, 2);
	memcpy(b + 8, &h->csum_offset, 2);
}

/* IPv4 or IPv6 with TCP or UDP right after the fixed header; the L4
 * offset and protocol, or -EINVAL */
static int l4_of(const uint8_t *pkt, size_t len, size_t *l4, uint8_t *proto)
{
	if (len < 20)
		return -EINVAL;
	if (pkt[0] >> 4 == 4) {
		*l4 = (size_t)(pkt[0] & 15) * 4;
		*proto = pkt[9];
		if (*l4 < 20 || (pkt[6] & 0x3f) || pkt[7]) /* a fragment has no whole L4 */
			return -EINVAL;
	} else if (pkt[0] >> 4 == 6 && len >= 40) {
		*l4 = 40;
		*proto = pkt[6];
	} else {
		return -EINVAL;
	}
	return *l4 < len ? 0 : -EINVAL;
}

int vnet_l4_csum_ok(const uint8_t *pkt, size_t len)
{
	size_t l4;
	uint8_t proto;

	if (l4_of(pkt, len, &l4, &proto) < 0 || (proto != 6 && proto != 17))
		return 0;
	return ippkt_csum_l4(pkt, pkt[0] >> 4, proto, pkt + l4, len - l4) == 0;
}

/* The L4 offset and all headers' length of a packet vnet_segment() is to
 * cut, checked against its header. */
static int gso_layout(const vnet_hdr_t *h, const uint8_t *pkt, size_t len, size_t *l4, size_t *hl)
{
	int gso = h->gso_type & ~VNET_GSO_ECN, v6 = len >= 1 && pkt[0] >> 4 == 6;
	uint8_t want = gso == VNET_GSO_UDP_L4 ? 17 : 6;

	if (gso != VNET_GSO_TCPV4 && gso != VNET_GSO_TCPV6 && gso != VNET_GSO_UDP_L4)
		return -EINVAL;
	if ((gso == VNET_GSO_TCPV4 && v6) || (gso == VNET_GSO_TCPV6 && !v6) || !h->gso_size ||
	    len < 20)
		return -EINVAL;
	if (v6) { /* extension headers stay as they are: csum_start says where L4 is */
		if (len < 40 || h->csum_start < 40 || (h->csum_start == 40 && pkt[6] != want))
			return -EINVAL;
		*l4 = h->csum_start;
	} else {
		*l4 = (size_t)(pkt[0] & 15) * 4;
		if (pkt[0] >> 4 != 4 || *l4 < 20 || pkt[9] != want || (pkt[6] & 0x3f) || pkt[7] ||
		    (size_t)(pkt[2] << 8 | pkt[3]) != len)
			return -EINVAL;
	}
	if (want == 6) {
		if (*l4 + 20 > len)
			return -EINVAL;
		*hl = *l4 + (size_t)(pkt[*l4 + 12] >> 4) * 4;
		if (*hl < *l4 + 20)
			return -EINVAL;
	} else {
		*hl = *l4 + 8;
	}
	return *hl <= len ? 0 : -EINVAL;
}

int vnet_seg_len(const vnet_hdr_t *h, const uint8_t *pkt, size_t len)
{
	size_t l4, hl;

	if ((h->gso_type & ~VNET_GSO_ECN) == VNET_GSO_NONE)
		return (int)len;
	if (gso_layout(h, pkt, len, &l4, &hl) < 0)
		return -EINVAL;
	return (int)(len - hl < h->gso_size ? len : hl + h->gso_size);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int vnet_segment(const vnet_hdr_t *h, const uint8_t *pkt, size_t len, uint8_t *out, size_t stride,
                 size_t max, uint16_t *lens)
{
	size_t l4, hl, pl, n, i;
	uint32_t seq = 0;
	uint16_t id, c;
	int v6, tcp;

	if (!max)
		return -ENOSPC;
	if ((h->gso_type & ~VNET_GSO_ECN) == VNET_GSO_NONE) {
		if (len > stride || len > VNET_MAX)
			return -ENOSPC;
		memcpy(out, pkt, len);
		if (h->flags & VNET_F_NEEDS_CSUM) { /* the field holds the pseudo-header's sum */
			if ((size_t)h->csum_start + h->csum_offset + 2 > len)
				return -EINVAL;
			c = ippkt_csum_fold(
			    ippkt_csum_add(0, out + h->csum_start, len - h->csum_start));
			put16(out + h->csum_start + h->csum_offset, c ? c : 0xffff);
		}
		lens[0] = (uint16_t)len;
		return 1;
	}
	if (gso_layout(h, pkt, len, &l4, &hl) < 0)
		return -EINVAL;
	v6 = pkt[0] >> 4 == 6;
	tcp = (h->gso_type & ~VNET_GSO_ECN) != VNET_GSO_UDP_L4;
	pl = len - hl;
	n = pl ? (pl + h->gso_size - 1) / h->gso_size : 1;
	if (n > max)
		return -ENOSPC;
	if (hl + (pl < h->gso_size ? pl : h->gso_size) > stride)
		return -ENOSPC;
	id = (uint16_t)(pkt[4] << 8 | pkt[5]);
	if (tcp)
		seq = (uint32_t)pkt[l4 + 4] << 24 | (uint32_t)pkt[l4 + 5] << 16 |
		      (uint32_t)pkt[l4 + 6] << 8 | pkt[l4 + 7];
	for (i = 0; i < n; i++) {
		uint8_t *o = out + i * stride;
		size_t off = i * h->gso_size, sl = pl - off < h->gso_size ? pl - off : h->gso_size;
		size_t tot = hl + sl;
		uint8_t *t = o + l4;

		memcpy(o, pkt, hl);
		memcpy(o + hl, pkt + hl + off, sl);
		if (v6) {
			put16(o + 4, (uint16_t)(tot - 40));
		} else {
			put16(o + 2, (uint16_t)tot);
			put16(o + 4, (uint16_t)(id + i));
			o[10] = o[11] = 0;
			put16(o + 10, ippkt_csum(o, l4));
		}
		if (tcp) {
			uint32_t s = seq + (uint32_t)off;
			t[4] = (uint8_t)(s >> 24);
			t[5] = (uint8_t)(s >> 16);
			t[6] = (uint8_t)(s >> 8);
			t[7] = (uint8_t)s;
			if (i + 1 < n)
				t[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
			if (i)
				t[13] &= (uint8_t)~TCP_CWR;
			t[16] = t[17] = 0;
			put16(t + 16, ippkt_csum_l4(o, v6 ? 6 : 4, 6, t, tot - l4));
		} else {
			put16(t + 4, (uint16_t)(tot - l4));
			t[6] = t[7] = 0;
			c = ippkt_csum_l4(o, v6 ? 6 : 4, 17, t, tot - l4);
			put16(t + 6, c ? c : 0xffff);
		}
		lens[i] = (uint16_t)tot;
	}
	return (int)n;
}

/* A TCP segment with data that may join a super-packet: IPv4 without
 * options or IPv6 without extension headers, exact length, ACK (and PSH)
 * only, a checksum that checks. */
static int gro_candidate(const uint8_t *pkt, size_t len, size_t *l4, size_t *hl)
{
	uint8_t proto, fl;

	if (l4_of(pkt, len, l4, &proto) < 0 || proto != 6 || *l4 != (pkt[0] >> 4 == 6 ? 40 : 20) ||
	    *l4 + 20 > len)
		return 0;
	if (pkt[0] >> 4 == 4 ? (size_t)(pkt[2] << 8 | pkt[3]) != len
	                     : (size_t)(pkt[4] << 8 | pkt[5]) + 40 != len)
		return 0;
	*hl = *l4 + (size_t)(pkt[*l4 + 12] >> 4) * 4;
	fl = pkt[*l4 + 13];
	if (*hl < *l4 + 20 || *hl >= len || fl & ~(TCP_ACK | TCP_PSH) || !(fl & TCP_ACK))
		return 0;
	return vnet_l4_csum_ok(pkt, len);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* same flow and the same header fields but those that change per segment */
static int gro_same(const uint8_t *a, const uint8_t *b, size_t l4, size_t hl)
{
	if (a[0] != b[0])
		return 0;
	if (l4 == 40) {
		if (memcmp(a, b, 4) || a[6] != b[6] || a[7] != b[7] || memcmp(a + 8, b + 8, 32))
			return 0;
	} else if (a[1] != b[1] || (a[6] & 0x40) != (b[6] & 0x40) || a[8] != b[8] ||
	           memcmp(a + 12, b + 12, 8)) {
		return 0;
	}
	a += l4;
	b += l4;
	return !memcmp(a, b, 4) && !memcmp(a + 8, b + 8, 5) && !memcmp(a + 14, b + 14, 2) &&
	       !memcmp(a + 20, b + 20, hl - l4 - 20);
}

int vnet_gro_add(vnet_gro_t *g, const uint8_t *pkt, size_t len)
{
	uint8_t *p = g->buf + VNET_HDR_LEN;
	size_t l4, hl, pl;

	if (!gro_candidate(pkt, len, &l4, &hl))
		return 0;
	pl = len - hl;
	if (!g->len) {
		memcpy(p, pkt, len);
		g->len = len;
		g->l4 = l4;
		g->hl = hl;
		g->seg = (uint16_t)pl;
		g->n = 1;
		g->next_seq = get32(pkt + l4 + 4) + (uint32_t)pl;
		g->closed = (pkt[l4 + 13] & TCP_PSH) != 0;
		return 1;
	}
	if (g->closed || l4 != g->l4 || hl != g->hl || pl > g->seg || g->len + pl > VNET_MAX ||
	    get32(pkt + l4 + 4) != g->next_seq || !gro_same(p, pkt, l4, hl))
		return 0;
	memcpy(p + g->len, pkt + hl, pl);
	g->len += pl;
	g->n++;
	g->next_seq += (uint32_t)pl;
	if (pl < g->seg || (pkt[l4 + 13] & TCP_PSH)) {
		p[l4 + 13] |= pkt[l4 + 13] & TCP_PSH;
		g->closed = 1;
	}
	return 1;
}

size_t vnet_gro_finish(vnet_gro_t *g, const uint8_t **out)
{
	uint8_t *p = g->buf + VNET_HDR_LEN;
	vnet_hdr_t h = {0};
	size_t n = g->len;

	if (!n)
		return 0;
	if (g->n > 1) {
		if (g->l4 == 40) {
			put16(p + 4, (uint16_t)(n - 40));
		} else {
			put16(p + 2, (uint16_t)n);
			p[10] = p[11] = 0;
			put16(p + 10, ippkt_csum(p, 20));
		}
		/* partial: the pseudo-header's sum, the kernel adds the rest */
		put16(p + g->l4 + 16, (uint16_t)~ippkt_csum_fold(
		                          ippkt_csum_pseudo(p, g->l4 == 40 ? 6 : 4, 6, n - g->l4)));
		h.flags = VNET_F_NEEDS_CSUM;
		h.gso_type = g->l4 == 40 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
		h.hdr_len = (uint16_t)g->hl;
		h.gso_size = g->seg;
		h.csum_start = (uint16_t)g->l4;
		h.csum_offset = 16;
	}
	vnet_hdr_put(&h, g->buf);
	*out = g->buf;
	g->len = 0;
	g->n = 0;
	return VNET_HDR_LEN + n;
}
