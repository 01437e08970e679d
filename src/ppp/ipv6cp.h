/* ipv6cp: the IPv6 Control Protocol (RFC 5072), one fsm_t instance.
 *
 * Only the Interface-Identifier option (1) is negotiated; IPv6-
 * Compression-Protocol (2) and anything else are rejected.  Our identifier
 * is cfg.local_ifid, or a random one.  A peer asking for the all-zero
 * identifier is Nak'd with cfg.peer_ifid (or a random one); a peer asking
 * for ours (a collision) is Nak'd with a fresh random one; a Nak of ours
 * makes us take the suggestion, or a new random one if it is zero or
 * equals the peer's.
 */
#ifndef SLUICE_PPP_IPV6CP_H
#define SLUICE_PPP_IPV6CP_H

#include <stdint.h>

#include "ppp/fsm.h"

enum { IPV6CP_OPT_IFID = 1, IPV6CP_OPT_COMP = 2 };

typedef struct ipv6cp {
	fsm_t fsm;
	uint8_t cfg_local[8], cfg_peer[8];
	unsigned req_ifid : 1, his_set : 1;
	uint8_t want[8], his[8];
	uint8_t local[8], peer[8]; /* the outcome, at this-layer-up */
} ipv6cp_t;

void ipv6cp_init(ipv6cp_t *c, const uint8_t local[8], const uint8_t peer[8], const fsm_env_t *env);

#endif
