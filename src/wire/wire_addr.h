/* wire_addr: a target as sluice's own tunnels write it on the wire (the
 * WebSocket tunnel's OPEN and DGRAM records, the SCTP tunnel's OPEN and
 * datagrams, docs/ws-protocol.md and docs/sctp-protocol.md):
 *
 *     host_len(1) host(host_len) port(2, big-endian)
 *
 * A host is 1 to 255 bytes of printable ASCII without space or '/' (a
 * name, or an IP literal as text); a port read from the wire is never 0.
 * Pure: no I/O, no allocation.
 */
#ifndef SLUICE_WIRE_ADDR_H
#define SLUICE_WIRE_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "core/dial.h"

#define WIRE_ADDR_MAX (1 + 255 + 2)

/* t at out: the length (3 + the host's), -EINVAL for an empty host or
 * one over 255 bytes, -ENOSPC when cap is too small. */
int wire_addr_encode(const target_t *t, uint8_t *out, size_t cap);
/* One target from buf (len bytes, more may follow): the bytes it took,
 * or -EINVAL (short, a bad host, port 0). */
int wire_addr_parse(const uint8_t *buf, size_t len, target_t *t);
/* A reverse listener's address (a LISTEN's whole body): as above, and port
 * 0 too (a SOCKS5 BIND's: any port the server allows).  0 or -EINVAL. */
int wire_listen_parse(const uint8_t *buf, size_t len, target_t *t);

/* A reverse forward's connection on the wire (the WebSocket and SCTP
 * tunnels' ACCEPT, JOIN and REFUSE): conn(8, big-endian), then for an
 * ACCEPT the public peer as text (IP:PORT, printable, at most peermax
 * bytes).  Encode: the length, or 0 when cap is too small.  Parse: 0, or
 * -EINVAL; peer NULL: nothing may follow the id. */
size_t wire_conn_encode(uint64_t conn, const char *peer, size_t peermax, uint8_t *out, size_t cap);
int wire_conn_parse(const uint8_t *buf, size_t len, uint64_t *conn, size_t peermax, char *peer,
                    size_t peercap);

#endif
