/* socks_udp: the datagram relay behind a SOCKS5 UDP ASSOCIATE (RFC 1928
 * section 7), owned by the SOCKS front end for as long as the client's TCP
 * control connection lives.
 *
 * One UDP socket per association, bound on the IP the client reached the
 * listener at.  Datagrams from the client's IP (its port is learned from the
 * first one) carry a SOCKS header naming the destination: the header is
 * stripped, names are resolved here (a few resolutions at a time, more are
 * dropped), the listener's target ACL is applied, and the payload is sent
 * from this host directly: the -F chain is not used.  Datagrams from the
 * last few addresses the client sent to are replies: they get a header
 * naming their source and go to the client; datagrams from anywhere else
 * are dropped (a restricted-cone NAT, not an open door to the client).
 * Fragments (FRAG != 0) are dropped.
 */
#ifndef SLUICE_SOCKS_UDP_H
#define SLUICE_SOCKS_UDP_H

#include <stdint.h>
#include <uv.h>

#include "core/acl.h"

typedef struct socks_udp socks_udp_t;

/* Bind on local's IP (its port is ignored) and serve client's IP.  targets
 * may be NULL (everything allowed) and must outlive the association. */
int socks_udp_new(uv_loop_t *loop, uint64_t id, const struct sockaddr *local,
                  const struct sockaddr *client, const acl_t *targets, socks_udp_t **out);
/* The address the relay socket is bound to (for the reply). */
void socks_udp_addr(const socks_udp_t *u, struct sockaddr_storage *ss);
/* Close the socket; memory goes once pending resolutions return. */
void socks_udp_free(socks_udp_t *u);

#endif
