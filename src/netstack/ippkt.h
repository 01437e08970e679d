/* ippkt: reading and checksumming IP packets; pure, bounds-checked.
 *
 * ippkt_parse() reads an IPv4 or IPv6 packet's header and its transport
 * header (TCP, UDP, ICMP, ICMPv6) where one is visible: not in a later
 * IPv4 fragment, not behind IPv6 extension headers.  It trusts nothing: the
 * lengths in the headers are checked against the bytes given.  The
 * checksum helpers are RFC 1071's one's-complement sum, with the IPv4 and
 * IPv6 pseudo-headers for a transport checksum.  The slirp gateway, the
 * lwIP endpoint, the VPN server and the pcap writer read packets with it.
 */
#ifndef SLUICE_IPPKT_H
#define SLUICE_IPPKT_H

#include <stddef.h>
#include <stdint.h>

#define IPPKT_ICMP 1
#define IPPKT_TCP 6
#define IPPKT_UDP 17
#define IPPKT_ICMP6 58

#define IPPKT_FIN 0x01 /* TCP flags */
#define IPPKT_SYN 0x02
#define IPPKT_RST 0x04
#define IPPKT_ACK 0x10

typedef struct ippkt {
	int v;      /* 4 or 6 */
	size_t len; /* per the IP header (link padding excluded) */
	size_t l4;  /* offset of the transport header; 0: not visible */
	uint8_t proto;
	uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;  /* TCP */
	uint8_t type;   /* ICMP / ICMPv6 */
	size_t payload; /* TCP payload bytes */
} ippkt_t;

/* The IP version of a packet (4, 6, anything else: not IP), 0 if empty. */
static inline int ippkt_version(const uint8_t *b, size_t len)
{
	return len ? b[0] >> 4 : 0;
}

/* Fills p from a packet of len bytes; 0 or -EINVAL. */
int ippkt_parse(const uint8_t *b, size_t len, ippkt_t *p);

uint32_t ippkt_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t ippkt_csum_fold(uint32_t sum);
/* The checksum of len bytes (an IPv4 header: 0 when it is right). */
uint16_t ippkt_csum(const uint8_t *p, size_t len);
/* The sum of the pseudo-header of the IPv4 or IPv6 packet ip (addresses,
 * next header, length n), to go on with ippkt_csum_add(). */
uint32_t ippkt_csum_pseudo(const uint8_t *ip, int v, uint8_t proto, size_t n);
/* A transport checksum: the pseudo-header of the IPv4 or IPv6 packet ip
 * (addresses, next header, length n), then the n bytes at l4. */
uint16_t ippkt_csum_l4(const uint8_t *ip, int v, uint8_t proto, const uint8_t *l4, size_t n);

#endif
