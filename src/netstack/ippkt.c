/* ippkt: see ippkt.h. */
#include "netstack/ippkt.h"

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

uint32_t ippkt_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (; len > 1; p += 2, len -= 2)
		sum += get_be16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
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

uint16_t ippkt_csum_l4(const uint8_t *ip, int v, uint8_t proto, const uint8_t *l4, size_t n)
{
	uint32_t sum = 0;

	if (v == 4)
		sum = ippkt_csum_add(sum, ip + 12, 8);
	else
		sum = ippkt_csum_add(sum, ip + 8, 32);
	sum += proto + (uint32_t)n;
	return ippkt_csum_fold(ippkt_csum_add(sum, l4, n));
}
