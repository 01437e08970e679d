/* tcpfwd: `-L tcp://BIND:PORT/HOST:PORT`, a port forward through the chain. */
#ifndef SLUICE_TCPFWD_H
#define SLUICE_TCPFWD_H

#include "core/listener.h"
#include "core/transport.h"

extern const front_ops_t tcpfwd_front_ops;

extern const transport_t tcpfwd_transport;

#endif
