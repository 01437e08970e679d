/* rwin: a sliding anti-replay window over 64-bit message counters (RFC
 * 6479's bitmap), for datagrams that may be lost or reordered but must
 * never be accepted twice: the UDP VPN's packets, the SCTP tunnel's
 * datagrams.  A counter is accepted if it is above every one seen, or
 * within the last RWIN_SIZE of the highest and not seen yet.  Check before
 * the (expensive) authentication, record only after it succeeded.
 */
#ifndef SLUICE_RWIN_H
#define SLUICE_RWIN_H

#include <stdint.h>

#define RWIN_SIZE 2048 /* counters */

typedef struct rwin {
	uint64_t top; /* highest counter accepted + 1; 0: none yet */
	uint64_t bits[RWIN_SIZE / 64];
} rwin_t;

/* 1 if ctr may be accepted (not too old, not seen); records nothing. */
int rwin_check(const rwin_t *w, uint64_t ctr);
void rwin_update(rwin_t *w, uint64_t ctr);

#endif
