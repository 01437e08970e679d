/* proxy: `-L proxy://BIND:PORT`, SOCKS4/4a/5 and HTTP on one port. */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include "core/listener.h"

extern const front_ops_t proxy_front_ops;

#endif
