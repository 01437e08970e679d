/* proxy: `-L proxy://BIND:PORT`, SOCKS4/4a/5 and HTTP on one port. */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include "core/listener.h"
#include "core/transport.h"

extern const front_ops_t proxy_front_ops;

extern const transport_t proxy_transport;

#endif
