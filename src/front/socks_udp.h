/* socks_udp: the client side of a SOCKS5 UDP ASSOCIATE (RFC 1928 section
 * 7), owned by the SOCKS front end for as long as the client's TCP control
 * connection lives.
 *
 * One UDP socket per association, bound on the IP the client reached the
 * listener at, serves the client's IP only (its port is learned from its
 * first datagram).  Each datagram carries a SOCKS header naming its
 * destination: the header is stripped and the payload goes on a datagram
 * flow (core/dgram.h) through the chain, which resolves names and applies
 * the target ACL at its far end.  Replies come back from the flow naming
 * their source, get a SOCKS header and go to the client.  Fragments
 * (FRAG != 0), malformed headers and datagrams from anyone but the client
 * are dropped and counted; the association goes on.  An association that
 * moves no datagram either way for idle_ms ends (cb with UV_ETIMEDOUT),
 * and its control connection with it: a client that went away without
 * closing it does not keep a socket and a flow forever.
 */
#ifndef SLUICE_SOCKS_UDP_H
#define SLUICE_SOCKS_UDP_H

#include <stdint.h>
#include <uv.h>

#include "core/dgram.h"

typedef struct socks_udp socks_udp_t;

/* The flow is up (err 0), or failed (err < 0, before or after it was up:
 * the association is over). */
typedef void (*socks_udp_cb)(void *ud, int err);

/* Bind on local's IP (its port is ignored), serve client's IP, and open a
 * flow through chain (o and timeout_ms as for dgram_open); end it after
 * idle_ms without a datagram (0: never).  cb runs later, never from inside
 * this call. */
int socks_udp_new(uv_loop_t *loop, const struct sockaddr *local, const struct sockaddr *client,
                  dialer_t *chain, const dial_opts_t *o, uint64_t timeout_ms, uint64_t idle_ms,
                  socks_udp_cb cb, void *ud, socks_udp_t **out);
/* The address the relay socket is bound to (for the reply). */
void socks_udp_addr(const socks_udp_t *u, struct sockaddr_storage *ss);
/* Close the socket and the flow; no callback afterwards. */
void socks_udp_free(socks_udp_t *u);

#endif
