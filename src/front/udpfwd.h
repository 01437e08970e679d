/* udpfwd: `-L udp://BIND:PORT/HOST:PORT`, a UDP port forward through the
 * -F chain: each client address is a session (a datagram flow through
 * the chain), with an idle timeout (idle-timeout=, 60 s unless given), a
 * cap (max-conns=, sessions) and metrics.  A chain that cannot carry UDP
 * is refused at start-up, naming the hop.
 */
#ifndef SLUICE_UDPFWD_H
#define SLUICE_UDPFWD_H

#include "core/listener.h"
#include "core/transport.h"

extern const front_ops_t udpfwd_front_ops;
extern const transport_t udpfwd_transport;

#endif
