/* pppgw: the PPP gateway (server role), sluice's SLiRP.
 *
 *   -L 'ppp:///dev/ttyUSB0?baud=115200'   a serial line
 *   -L 'ppp+tcp://127.0.0.1:2323'         each TCP connection is a session
 *   -L 'ppp+unix:///tmp/ttyS1.sock'       each UNIX connection is a session
 *   -L 'ppp+stdio://'                     stdin/stdout, like slirp
 */
#ifndef SLUICE_PPPGW_H
#define SLUICE_PPPGW_H

#include "core/listener.h"
#include "core/transport.h"

extern const front_ops_t ppp_front_ops, ppp_tcp_front_ops, ppp_unix_front_ops, ppp_stdio_front_ops;

/* The gateway's options; a serial line's (ppp://) add baud= and flow=. */
extern const opt_schema_t pppgw_opts, pppgw_serial_opts;
extern const transport_t ppp_transport;

#endif
