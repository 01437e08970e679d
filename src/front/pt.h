/* pt: `sluice pt`, a Tor pluggable transport in managed mode (pt-spec v1).
 *
 * Tor starts us with TOR_PT_* in the environment and reads our stdout,
 * line by line (VERSION, CMETHOD/SMETHOD, the -ERROR lines, the DONE
 * lines); logs go to stderr (or --log-file), never to stdout.
 *
 * Transports: `ws` (the WebSocket tunnel, hop and listener ws://) and
 * `sctp` (sctp+udp://).  Client and server are the same tunnels as -F and
 * -L; this module only wires them to tor:
 *
 *   client  one SOCKS4/5 listener per transport on 127.0.0.1; tor connects
 *           to it with the bridge's address as the target and the bridge
 *           line's arguments (key=...) in the SOCKS credentials.  One hop
 *           per (transport, bridge, arguments), made on first use from
 *           `scheme://bridge?args`, behind TOR_PT_PROXY when set.  A
 *           bridge line comes from wherever the user found it, so only the
 *           arguments the transport defines become hop options
 *           (pt_bridge_args_check): never keyfile=, ca=, insecure=, pool=.
 *   server  one tunnel listener per transport; its chain is a dialer that
 *           ignores the target the tunnel carries and connects every
 *           connection to TOR_PT_ORPORT, or to TOR_PT_EXTENDED_SERVER_PORT
 *           with the safe-cookie handshake, USERADDR and TRANSPORT
 *           (front/extorport).  The key comes from
 *           TOR_PT_SERVER_TRANSPORT_OPTIONS (ws:key=...) or is made once and
 *           kept in TOR_PT_STATE_LOCATION; SMETHOD's ARGS carry it.
 *
 * The text of the protocol (the environment, the arguments) is read and
 * written by the pure parsers of pt_proto.h.
 */
#ifndef SLUICE_PT_H
#define SLUICE_PT_H

/* `sluice pt [-v|-q] [--log-level L] [--log-file F]`: runs until stdin
 * closes (when TOR_PT_EXIT_ON_STDIN_CLOSE=1) or SIGTERM/SIGINT; returns the
 * exit status. */
int pt_main(int argc, char **argv);

#endif
