/* sctp_server: `-L sctp+udp://BIND:PORT?key=KEY` (SCTP over UDP, RFC 6951,
 * UDP port = SCTP port = PORT) and `-L sctp://BIND:PORT?key=KEY` (native
 * SCTP through usrsctp's raw socket: root), the server end of the SCTP
 * tunnel (docs/sctp-protocol.md). */
#ifndef SLUICE_SCTP_SERVER_H
#define SLUICE_SCTP_SERVER_H

#include "core/listener.h"
#include "core/transport.h"

extern const front_ops_t sctp_udp_front_ops, sctp_front_ops;

extern const transport_t sctp_transport;

#endif
