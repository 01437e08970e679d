/* vpn_server: the UDP VPN server, `-L vpn://IP:PORT?users=FILE&net=CIDR`.
 * See vpn_server.c for the options and docs/vpn-protocol.md for the wire. */
#ifndef SLUICE_VPN_SERVER_H
#define SLUICE_VPN_SERVER_H

#include "core/listener.h"
#include "core/transport.h"

extern const front_ops_t vpn_front_ops;

extern const opt_schema_t vpn_server_opts;
extern const transport_t vpn_transport;

#endif
