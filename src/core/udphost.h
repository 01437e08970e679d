/* udphost: the direct dialer's datagram flow, this host's own UDP sockets.
 *
 * One unconnected UDP socket per address family, bound to the wildcard
 * address and an ephemeral port on first use.  Each datagram's destination
 * is resolved here (an IP literal at once; a name through the thread
 * pool, a few at a time, the last one remembered for 30 s), and the
 * resolved address must pass the flow's target ACL (dial_opts_t.acl, which
 * must outlive the flow).  Replies are accepted only from the addresses
 * the flow sent to (the last DGRAM_PEERS of them): a restricted-cone
 * NAT, not an open port.  Nothing queues: a datagram the socket will not
 * take at once is dropped, as a router would.
 */
#ifndef SLUICE_UDPHOST_H
#define SLUICE_UDPHOST_H

#include "core/dgram.h"

#define UDPHOST_RESOLVING 16

/* dialer ops .dgram / .dgram_cancel of the direct dialer. */
dial_t *udphost_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud);
void udphost_dgram_cancel(dialer_t *d, dial_t *req);

/* Give a UDP socket (bound) buffers for bursts: 4 MiB each way where the
 * kernel allows (net.core.rmem_max / wmem_max cap it).  A datagram a full
 * buffer cannot take is lost, so a loaded machine needs the room.
 * Returns 0: a smaller buffer is not an error. */
int udp_socket_buffers(uv_udp_t *h);
/* uv_alloc_cb of every UDP socket that finishes each datagram inside its
 * receive callback (copies it or sends it on): one 64 KiB buffer for all,
 * as everything runs on one thread. */
void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

/* The flow itself, for a listener that sends around the chain on purpose
 * (`udp=direct`): ready at once. */
dgram_t *udphost_flow_new(uv_loop_t *loop, uint64_t id, const acl_t *acl);

#endif
