/* sstpd: a rootless SSTP server (MS-SSTP) on the PPP gateway.
 *
 *   -L 'sstp://0.0.0.0:443?cert=FILE&certkey=FILE&users=FILE[&net=CIDR]'
 *
 * Windows' built-in VPN client, sstpc (Linux's sstp-client), MikroTik and
 * sluice's own sstp:// hop connect over TLS, authenticate with MS-CHAPv2
 * (the default; CHAP and PAP when auth= names them, without a binding key)
 * and reach the host's network through the gateway's libslirp NAT, as PPP
 * peers of ppp+tcp:// do: same users file, net=, services, target policy,
 * pcap.  No root, no TUN, no kernel PPP.  tls=0 serves plain HTTP for a
 * TLS-terminating proxy in front; cert= then names the proxy's
 * certificate, whose hash the clients bind their call to.
 */
#ifndef SLUICE_SSTPD_H
#define SLUICE_SSTPD_H

#include "core/listener.h"
#include "core/opts.h"

extern const front_ops_t sstpd_front_ops;
extern const opt_schema_t sstpd_opts;

#endif
