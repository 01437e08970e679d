/* sstp: an SSTP VPN client (MS-SSTP) as a hop.
 *
 *   -F 'sstp://user:pass@vpn.example.org[:443][?ca=FILE|insecure=1|pin=HEX]'
 *
 * TLS to the server (through the rest of the chain, e.g. an HTTP proxy),
 * the SSTP call with its crypto binding, PPP in the client role over it,
 * and sluice's lwIP endpoint on top: every listener can dial hosts inside
 * the VPN.  One call shared by all connections; redialed with backoff when
 * it drops (see netstack/pkthop.h). */
#ifndef SLUICE_SSTP_H
#define SLUICE_SSTP_H

#include "core/dial.h"
#include "core/transport.h"

int sstp_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                 size_t errlen);

extern const opt_schema_t sstp_hop_opts;
extern const transport_t sstp_transport;

#endif
