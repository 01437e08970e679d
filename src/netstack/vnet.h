/* vnet: IP super-packets and the virtio-net header that comes with them on
 * a TUN device with offloads (IFF_VNET_HDR, TUNSETOFFLOAD).  Pure: no I/O.
 *
 * Reading: the kernel hands over a TCP (TSO) or UDP (USO) super-packet of
 * up to 64 KiB with one header that says how to cut it.  vnet_segment()
 * cuts it into the packets a device without offloads would have given:
 * headers copied and fixed (lengths, IPv4 ids and header checksums, TCP
 * sequence numbers, FIN/PSH on the last segment only, CWR on the first
 * only) and every TCP/UDP checksum computed.  A packet that needs no
 * cutting but whose checksum the kernel left partial (NEEDS_CSUM) gets it
 * completed.
 *
 * Writing: vnet_gro_t gathers TCP segments that continue each other (one
 * flow, same IP header fields, ACK, window and options, the next sequence
 * number, equal payload sizes but for a shorter last one, only ACK and, on
 * the last, PSH) into one super-packet with a header that asks the kernel
 * to complete the checksum, and to cut it again only if it forwards it.
 * Each segment's own TCP checksum is verified before it joins, so nothing
 * the kernel would have dropped gets in.  Anything else is written alone.
 *
 * Errors: -EINVAL for a header or packet that does not hold together,
 * -ENOSPC when the caller's room is too small.
 */
#ifndef SLUICE_VNET_H
#define SLUICE_VNET_H

#include <stddef.h>
#include <stdint.h>

/* struct virtio_net_hdr (linux/virtio_net.h), in host byte order as TUN
 * uses it on a little-endian host */
typedef struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
} vnet_hdr_t;

#define VNET_HDR_LEN 10
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5
#define VNET_GSO_ECN 0x80
#define VNET_MAX 65535 /* the largest super-packet */

void vnet_hdr_parse(const uint8_t b[VNET_HDR_LEN], vnet_hdr_t *h);
void vnet_hdr_put(const vnet_hdr_t *h, uint8_t b[VNET_HDR_LEN]);

/* The length of the longest packet vnet_segment() will make of pkt (its
 * headers plus gso_size; len itself when there is nothing to cut), or
 * -EINVAL. */
int vnet_seg_len(const vnet_hdr_t *h, const uint8_t *pkt, size_t len);
/* Cuts pkt into at most max packets, packet i at out + i * stride (stride
 * at least vnet_seg_len()), its length in lens[i].  The count, -EINVAL or
 * -ENOSPC. */
int vnet_segment(const vnet_hdr_t *h, const uint8_t *pkt, size_t len, uint8_t *out, size_t stride,
                 size_t max, uint16_t *lens);

/* 1 if the TCP or UDP checksum of the packet checks (netstack/ippkt's
 * sums, which this file uses throughout). */
int vnet_l4_csum_ok(const uint8_t *pkt, size_t len);

typedef struct vnet_gro {
	uint8_t buf[VNET_HDR_LEN + VNET_MAX]; /* header, then the super-packet */
	size_t len;                           /* bytes of packet; 0: nothing pending */
	size_t l4, hl;                        /* L4 offset, all headers' length */
	uint16_t seg;                         /* payload of the first segment */
	unsigned n;                           /* segments in it */
	uint32_t next_seq;
	int closed; /* the last one was short or had PSH: nothing may follow */
} vnet_gro_t;

/* 1: pkt joined the pending super-packet (or, with none pending, began
 * one); 0: it cannot: vnet_gro_finish() what is pending, then try again,
 * and write pkt alone if it still cannot. */
int vnet_gro_add(vnet_gro_t *g, const uint8_t *pkt, size_t len);
/* The pending packet with its header in front (*out, the returned length
 * counts the header); nothing pending afterwards.  0 if none. */
size_t vnet_gro_finish(vnet_gro_t *g, const uint8_t **out);

#endif
