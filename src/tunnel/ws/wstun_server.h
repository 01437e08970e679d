/* wstun_server: `-L ws://BIND:PORT[/path]?key=KEY` and
 * `-L wss://BIND:PORT[/path]?key=KEY&cert=srv.pem&certkey=srv.key`,
 * the server end of the WebSocket tunnel (docs/ws-protocol.md). */
#ifndef SLUICE_WSTUN_SERVER_H
#define SLUICE_WSTUN_SERVER_H

#include "core/listener.h"
#include "core/transport.h"

extern const front_ops_t ws_front_ops, wss_front_ops;

extern const transport_t ws_transport;

#endif
