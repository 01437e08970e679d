/* ackthin: a pure TCP ACK held back until the end of the loop turn, and
 * replaced by a later one of the same flow that covers it.
 *
 * A stack that acknowledges every segment (libslirp does, at once) sends,
 * for a burst of data read in one turn, as many ACKs as segments, each
 * one sealed, sent, opened and fed to the far stack, which only needs the
 * last.  As a queue discipline's ACK filter does (CAKE's), one pure ACK
 * per sender is held; the next packet decides:
 *
 *   a pure ACK of the same flow whose acknowledgment number is further on:
 *       it replaces the held one (which it covers: same window edge or
 *       later, same flow), counted in `thinned`
 *   anything else (data, SYN, FIN, RST, another flow, the same ACK again:
 *       a duplicate ACK or a window update, which the far end counts or
 *       needs): the held ACK goes first, unchanged, then the packet, or
 *       the packet is held if it is itself a pure ACK
 *
 * and whatever is held goes at the end of the turn (ackthin_take).  Pure
 * means: IPv4 without options and not a fragment, or IPv6 with TCP
 * straight after the header; flags exactly ACK (no PSH, URG, ECE, CWR);
 * no payload; no TCP option but NOPs and timestamps (no SACK blocks,
 * which carry more than the acknowledgment number).  Nothing is ever
 * changed in a packet; one that is sent is sent whole.
 */
#ifndef SLUICE_ACKTHIN_H
#define SLUICE_ACKTHIN_H

#include <stddef.h>
#include <stdint.h>

#define ACKTHIN_MAX 80 /* IPv6 + TCP with timestamps is 72 */

typedef struct ackthin {
	uint8_t pkt[ACKTHIN_MAX];
	size_t len; /* 0: nothing held */
	uint64_t thinned;
} ackthin_t;

/* pkt is about to be sent.  If the held ACK must go first, it is copied
 * to prev (ACKTHIN_MAX bytes) and *plen set to its length, else *plen is
 * 0.  Returns 1 if pkt is now held (do not send it), 0 to send it (after
 * prev). */
int ackthin_offer(ackthin_t *a, const uint8_t *pkt, size_t len, uint8_t *prev, size_t *plen);
/* The held ACK (copied to out, ACKTHIN_MAX bytes), its length; 0: none. */
size_t ackthin_take(ackthin_t *a, uint8_t *out);

#endif
