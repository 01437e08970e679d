/* ipcp: the IP Control Protocol (RFC 1332) with the DNS extensions of
 * RFC 1877, one fsm_t instance.
 *
 *   server  asks for its own address (cfg.local); when the peer asks for
 *           0.0.0.0, another address than cfg.peer, or for none at all,
 *           Naks with cfg.peer; Naks DNS requests (129, 131) with cfg.dns1/
 *           dns2, or rejects them when it has none to give.
 *   client  asks for cfg.local (normally 0.0.0.0) and for both DNS servers
 *           (0.0.0.0), takes what the server's Nak offers; acks any non-zero
 *           address the server claims for itself; Naks a server asking for
 *           0.0.0.0 with cfg.peer if it has one.
 *   both    reject IP-Compression-Protocol (2), the old IP-Addresses (1),
 *           the NBNS options (130, 132) and anything unknown.
 *
 * Addresses are IPv4 in network byte order, as on the wire.
 */
#ifndef SLUICE_PPP_IPCP_H
#define SLUICE_PPP_IPCP_H

#include <stdint.h>

#include "ppp/fsm.h"

enum {
	IPCP_OPT_ADDRS = 1,
	IPCP_OPT_COMP = 2,
	IPCP_OPT_ADDR = 3,
	IPCP_OPT_DNS1 = 129,
	IPCP_OPT_NBNS1 = 130,
	IPCP_OPT_DNS2 = 131,
	IPCP_OPT_NBNS2 = 132,
};

typedef struct ipcp_cfg {
	int server;
	uint32_t local, peer, dns1, dns2;
} ipcp_cfg_t;

typedef struct ipcp {
	fsm_t fsm;
	ipcp_cfg_t cfg;
	/* our next request */
	unsigned req_addr : 1, req_dns1 : 1, req_dns2 : 1;
	uint32_t addr, dns1, dns2;
	/* the peer's request we acked */
	unsigned his_addr_set : 1;
	uint32_t his_addr;
	/* the outcome, at this-layer-up */
	uint32_t local, peer, got_dns1, got_dns2;
} ipcp_t;

void ipcp_init(ipcp_t *c, const ipcp_cfg_t *cfg, const fsm_env_t *env);

#endif
