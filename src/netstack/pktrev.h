/* pktrev: reverse forwards (-R, core/reverse.h) on a packet hop: the
 * hop's lwIP endpoint listens on the session's address (lwipep_listen),
 * so that hosts inside the tunnel (the server's network, other clients of
 * a VPN server) reach a service of this host.  It is the hop side of
 * rev_hop_ops_t; pkthop's dialer ops name it. */
#ifndef SLUICE_PKTREV_H
#define SLUICE_PKTREV_H

#include "core/reverse.h"

extern const rev_hop_ops_t pktrev_ops;

#endif
