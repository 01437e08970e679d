/* pktsum: the record format and checksum fix-ups of the fuzz targets that feed IP packets
 * (fuzz_slirpgw, fuzz_lwipep), so that mutated packets get past the
 * stacks' checks into their state machines.  Header-only: each target is
 * one file. */
#ifndef SLUICE_FUZZ_PKTSUM_H
#define SLUICE_FUZZ_PKTSUM_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t pktsum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline uint32_t pktsum_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static inline void pktsum_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Where the transport checksum sits: TCP, UDP, ICMP, ICMPv6; 0: none. */
static inline size_t pktsum_off(uint8_t proto)
{
	return proto == 6 ? 16 : proto == 17 ? 6 : proto == 1 || proto == 58 ? 2 : 0;
}

/* IPv4: the header checksum, and TCP/UDP/ICMP's over the total length. */
static inline void pktsum_fix4(uint8_t *b, size_t n)
{
	size_t ihl = (size_t)(b[0] & 15) * 4, tot, off;
	uint32_t s;

	if (n < 20 || ihl < 20 || ihl > n)
		return;
	tot = (size_t)(b[2] << 8 | b[3]);
	if (tot < ihl || tot > n)
		return;
	b[10] = b[11] = 0;
	pktsum_put16(b + 10, pktsum_fold(pktsum_add(0, b, ihl)));
	off = pktsum_off(b[9]);
	if (!off || b[9] == 58 || tot - ihl < off + 2)
		return;
	b[ihl + off] = b[ihl + off + 1] = 0;
	s = b[9] == 1 ? 0 : pktsum_add(0, b + 12, 8) + b[9] + (uint32_t)(tot - ihl);
	pktsum_put16(b + ihl + off, pktsum_fold(pktsum_add(s, b + ihl, tot - ihl)));
}

/* IPv6 without extension headers: the payload length (all of n), and
 * TCP/UDP/ICMPv6's checksum over the pseudo-header. */
static inline void pktsum_fix6(uint8_t *b, size_t n)
{
	size_t plen, off;
	uint32_t s;

	if (n < 40)
		return;
	plen = n - 40;
	pktsum_put16(b + 4, (uint16_t)plen);
	off = pktsum_off(b[6]);
	if (!off || b[6] == 1 || plen < off + 2)
		return;
	b[40 + off] = b[40 + off + 1] = 0;
	s = pktsum_add(0, b + 8, 32) + (uint32_t)plen + b[6];
	pktsum_put16(b + 40 + off, pktsum_fold(pktsum_add(s, b + 40, plen)));
}

/* The next record of a fuzz input, [flags][len hi][len lo][bytes], into
 * pkt (at most cap bytes): its length, or -1 at the end. */
static inline long pktsum_next(const uint8_t **data, size_t *size, uint8_t *flags, uint8_t *pkt,
                               size_t cap)
{
	size_t n;

	if (*size < 3)
		return -1;
	*flags = (*data)[0];
	n = (size_t)((*data)[1] << 8 | (*data)[2]);
	*data += 3;
	*size -= 3;
	if (n > *size)
		n = *size;
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++)
		pkt[i] = (*data)[i];
	*data += n;
	*size -= n;
	return (long)n;
}

#endif
