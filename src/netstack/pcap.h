/* pcap: a capture file of the IP packets netstacks exchange with their peers.
 *
 * One file for the whole process, shared by every session that is given it
 * (a gateway instance, later a VPN endpoint): one timeline, one descriptor,
 * one size cap, however many sessions come and go.  Each record carries a
 * Linux "cooked" header (LINKTYPE_LINUX_SLL) instead of none (DLT_RAW), for
 * the two things a shared raw capture cannot show:
 *
 *   direction   packet type 0 (from the peer, "to us") or 4 (to the peer,
 *               "sent by us"); Wireshark: sll.pkttype
 *   session     the session id as the 8-byte link-layer address;
 *               Wireshark: sll.src.eui64 / "Source" column
 *
 * Written with libpcap's dump API (pcap_open_dead + pcap_dump) into a file
 * created 0600 (captures hold users' traffic), flushed once a second by an
 * unreferenced timer and on close.  Past max_bytes further packets are
 * counted and dropped, not written.  The prefix is pcapw_ (pcap writer):
 * libpcap owns pcap_.
 */
#ifndef SLUICE_PCAP_H
#define SLUICE_PCAP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct pcapw pcapw_t;

enum { PCAPW_IN = 0, PCAPW_OUT = 1 }; /* from the peer / to the peer */

/* max_bytes 0: no cap.  snaplen 0: 65535. */
int pcapw_open(uv_loop_t *loop, const char *path, uint64_t max_bytes, unsigned snaplen,
               pcapw_t **out);
/* One IP packet (v4 or v6, by its first nibble); others are ignored. */
void pcapw_packet(pcapw_t *w, uint64_t session, int dir, const uint8_t *pkt, size_t len);
/* Flush and close; the struct goes in the timer's close callback. */
void pcapw_close(pcapw_t *w);

typedef struct pcapw_stats {
	uint64_t packets, bytes, dropped; /* written; dropped past the cap */
} pcapw_stats_t;
void pcapw_get_stats(const pcapw_t *w, pcapw_stats_t *st);

#endif
