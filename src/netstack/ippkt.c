/* ippkt: see ippkt.h. */
#include "netstack/ippkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "core/bytes.h"

static int parse_l4(ippkt_t *p, const uint8_t *b, size_t off)
{
	size_t n = p->len - off;

	switch (p->proto) {
	case IPPKT_TCP:
		if (n < 20 || (size_t)(b[off + 12] >> 4) * 4 < 20 ||
		    (size_t)(b[off + 12] >> 4) * 4 > n)
			return -EINVAL;
		p->sport = get_be16(b + off);
		p->dport = get_be16(b + off + 2);
		p->seq = get_be32(b + off + 4);
		p->ack = get_be32(b + off + 8);
		p->flags = b[off + 13];
		p->payload = n - (size_t)(b[off + 12] >> 4) * 4;
		break;
	case IPPKT_UDP:
		if (n < 8)
			return -EINVAL;
		p->sport = get_be16(b + off);
		p->dport = get_be16(b + off + 2);
		break;
	case IPPKT_ICMP:
	case IPPKT_ICMP6:
		if (n < 4)
			return -EINVAL;
		p->type = b[off];
		break;
	default:
		return 0;
	}
	p->l4 = off;
	return 0;
}

int ippkt_parse(const uint8_t *b, size_t len, ippkt_t *p)
{
	memset(p, 0, sizeof(*p));
	if (len < 1)
		return -EINVAL;
	p->v = b[0] >> 4;
	if (p->v == 4) {
		size_t ihl = (size_t)(b[0] & 15) * 4;

		if (len < 20 || ihl < 20)
			return -EINVAL;
		p->len = get_be16(b + 2);
		if (p->len < ihl || p->len > len)
			return -EINVAL;
		p->proto = b[9];
		memcpy(p->src, b + 12, 4);
		memcpy(p->dst, b + 16, 4);
		if (get_be16(b + 6) & 0x1fff) /* a later fragment: no transport header */
			return 0;
		return parse_l4(p, b, ihl);
	}
	if (p->v == 6) {
		if (len < 40)
			return -EINVAL;
		p->len = 40 + (size_t)get_be16(b + 4);
		if (p->len > len)
			return -EINVAL;
		p->proto = b[6];
		memcpy(p->src, b + 8, 16);
		memcpy(p->dst, b + 24, 16);
		return parse_l4(p, b, 40); /* extension headers: transport not visible */
	}
	return -EINVAL;
}

/* The sum in the machine's byte order, 16 octets per step into 64 bits
 * (a one's-complement sum does not depend on the order its words are
 * read in; only the result is swapped), an odd last octet padded with
 * zero: super-packets of 64 KiB (netstack/vnet) pass through here. */
static uint64_t sum_native(const uint8_t *p, size_t n)
{
	uint64_t s = 0;
	uint32_t w;
	uint16_t v;

	for (; n >= 16; p += 16, n -= 16) {
		uint32_t a[4];

		memcpy(a, p, 16);
		s += (uint64_t)a[0] + a[1] + a[2] + a[3];
	}
	for (; n >= 4; p += 4, n -= 4) {
		memcpy(&w, p, 4);
		s += w;
	}
	if (n >= 2) {
		memcpy(&v, p, 2);
		s += v;
		p += 2;
		n -= 2;
	}
	if (n) {
		uint8_t b[2] = {p[0], 0};

		memcpy(&v, b, 2);
		s += v;
	}
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

uint32_t ippkt_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	return sum + ntohs((uint16_t)sum_native(p, len));
}

uint16_t ippkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t ippkt_csum(const uint8_t *p, size_t len)
{
	return ippkt_csum_fold(ippkt_csum_add(0, p, len));
}

uint32_t ippkt_csum_pseudo(const uint8_t *ip, int v, uint8_t proto, size_t n)
{
	uint32_t sum = v == 4 ? ippkt_csum_add(0, ip + 12, 8) : ippkt_csum_add(0, ip + 8, 32);

	return sum + proto + (uint32_t)n;
}

uint16_t ippkt_csum_l4(const uint8_t *ip, int v, uint8_t proto, const uint8_t *l4, size_t n)
{
	return ippkt_csum_fold(ippkt_csum_add(ippkt_csum_pseudo(ip, v, proto, n), l4, n));
}
