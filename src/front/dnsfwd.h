/* dnsfwd: `-L dns://BIND:PORT[?server=HOST[:PORT]]`, a DNS forwarder that
 * answers on UDP and TCP by asking through the -F chain.
 *
 * The name server asked is server= (an IP literal, or a name the far end
 * resolves; port 53 unless given), or else the first of those the chain's
 * tunnel session gave (chain_dns_servers: IPCP for SSTP and the PPP hop,
 * the VPN's configuration), the next one after a query to it timed out.
 * A listener with neither fails at start-up; one whose session has given
 * none yet answers SERVFAIL.
 *
 *   UDP  every query goes on one datagram flow through the chain with a
 *        fresh random ID (at most DNSFWD_PENDING in flight, each for
 *        DNSFWD_TIMEOUT_MS); the answer gets the client's ID back and goes
 *        to that client.  A query that does not parse is dropped and
 *        counted.  A chain that cannot carry UDP is refused at start-up,
 *        naming the hop.
 *   TCP  each connection is relayed through the chain to the server's TCP
 *        port 53 as it is (the length-prefixed messages pass untouched).
 *
 * The pure part, for tests and fuzzing: dnsfwd_servfail() answers a query
 * with SERVFAIL (its header and first question, QR and RCODE 2 set), or
 * fails if the query does not parse.
 */
#ifndef SLUICE_DNSFWD_H
#define SLUICE_DNSFWD_H

#include <stddef.h>
#include <stdint.h>

#include "core/listener.h"
#include "core/transport.h"

#define DNSFWD_PENDING 1024
#define DNSFWD_TIMEOUT_MS 5000
#define DNSFWD_HDR 12

/* The length of a query's header and first question (the name's labels,
 * no compression, then type and class), or -1: not a query (QR set, no
 * question, a label past the end). */
int dnsfwd_question_end(const uint8_t *q, size_t len);
/* SERVFAIL for query q into out: its length, or -1. */
int dnsfwd_servfail(const uint8_t *q, size_t len, uint8_t *out, size_t cap);

extern const front_ops_t dnsfwd_front_ops;
extern const transport_t dnsfwd_transport;

#endif
