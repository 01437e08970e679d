/* slirpgw: a rootless NAT gateway for one point-to-point peer (libslirp).
 *
 * A PPP session (later a VPN client) hands the gateway the IP packets its
 * peer sends; the gateway terminates them with libslirp and opens ordinary
 * host sockets on the peer's behalf; packets for the peer come back through
 * the output callback.  No privileges, no threads: libslirp is driven from
 * the caller's libuv loop.
 *
 *   peer 10.0.2.15 --IP--> slirpgw_input()        host sockets
 *                  <--IP-- output callback  <-->  (connect, sendto, ...)
 *
 * Addresses the peer sees (defaults):
 *   10.0.2.2  the host alias: reaches the host's 127.0.0.1 (host_loopback=0
 *             switches it off); also answers ping
 *   10.0.2.3  the DNS alias: queries are forwarded to the host's resolver
 *             (the nameservers of /etc/resolv.conf)
 *   anything else outside 10.0.2.0/24: reached from the host's own sockets,
 *             subject to the `targets` ACL; loopback, 0.0.0.0/8 and other
 *             addresses inside the virtual network are never reachable
 *
 * Full mode (default) is the above.  Restricted mode reaches only the
 * services: each is `peer-visible address:port -> host:port`, dialed through
 * a sluice chain of its own (direct, or via socks5://... and any other hop),
 * with its own connection cap, client ACL, target ACL and rate limit.  A TCP
 * connection to anything else is reset, other packets are dropped (pings of
 * the two aliases excepted: libslirp answers those itself); no DNS, no
 * IPv6.  Services are shared by all instances (one per session) that list
 * them, so their caps count connections of every session.  Services also
 * work in full mode, on top of everything else; `targets` does not apply
 * to them (they have their own ACLs).
 *
 * The peer sees a service connection refused (a reset to its SYN) when the
 * service's ACL, cap or rate says no, or when its target cannot be dialed:
 * the SYN is answered only once the upstream connection is up.
 *
 * Output may be called from inside slirpgw_input() (a reset for a refused
 * connection, an answer libslirp produces at once); the output callback may
 * itself call slirpgw_input() (the packet is queued and processed when the
 * outer call returns) and slirpgw_free() (done when the outer call
 * returns).  Output is synchronous: a link that cannot take a packet now
 * should drop it (TCP retransmits), not queue without bound.  Errors are
 * 0 / negative errno.
 */
#ifndef SLUICE_SLIRPGW_H
#define SLUICE_SLIRPGW_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/acl.h"
#include "netstack/pcap.h"

typedef struct slirpgw slirpgw_t;
typedef struct slirpgw_service slirpgw_service_t;

/* One IP packet for the peer (IPv4 or IPv6: pkt[0] >> 4). */
typedef void (*slirpgw_output_fn)(void *ud, const uint8_t *pkt, size_t len);

typedef struct slirpgw_config {
	struct in_addr peer;  /* the peer's address: 10.0.2.15 */
	struct in_addr net;   /* virtual network: 10.0.2.0 */
	int prefix;           /* its length: 24 */
	struct in_addr host;  /* host alias: 10.0.2.2 */
	struct in_addr dns;   /* DNS alias: 10.0.2.3 */
	int host_loopback;    /* host alias reaches 127.0.0.1 (default 1) */
	int dns_forward;      /* DNS alias forwards to the host's resolver (default 1) */
	int ipv6;             /* IPv6 too, full mode only (default 0) */
	struct in6_addr net6; /* fd00::/64, host alias fd00::2 (-> ::1), DNS alias fd00::3 */
	int prefix6;
	struct in6_addr host6, dns6;
	int restricted;                     /* only the services are reachable */
	slirpgw_service_t *const *services; /* borrowed; must outlive the instance */
	size_t nservices;
	const acl_t *targets; /* full mode: destinations allowed (host alias checked
	                         as 127.0.0.1 / ::1); NULL: all.  Borrowed. */
	size_t mtu;           /* largest packet either way (default 1500) */
	unsigned max_sockets; /* host sockets (default 1024): new TCP reset, UDP dropped */
	unsigned max_flows;   /* service connections (default 256) */
	pcapw_t *pcap;        /* capture both directions here (borrowed), or NULL */
	uint64_t id;          /* session id: log tag, pcap session, metrics label */
	const char *name;     /* metrics label prefix (copied), e.g. the listener name */
} slirpgw_config_t;

void slirpgw_config_default(slirpgw_config_t *c);

int slirpgw_new(uv_loop_t *loop, const slirpgw_config_t *c, slirpgw_output_fn out, void *ud,
                slirpgw_t **gw);
/* One IP packet from the peer.  0 when it entered the gateway (or was
 * queued), -EINVAL malformed, -EACCES refused by policy (TCP gets a reset),
 * -ENOBUFS over a cap, -EPIPE after slirpgw_free. */
int slirpgw_input(slirpgw_t *gw, const uint8_t *pkt, size_t len);
/* Closes every connection and socket; memory goes in libuv close callbacks,
 * so turn the loop afterwards.  The output callback is not called again. */
void slirpgw_free(slirpgw_t *gw);

typedef struct slirpgw_stats {
	uint64_t pkts_in, bytes_in;        /* from the peer, accepted */
	uint64_t pkts_out, bytes_out;      /* to the peer */
	uint64_t dropped;                  /* from the peer, dropped (malformed, policy, caps) */
	uint64_t resets;                   /* resets the gateway itself sent the peer */
	uint64_t corks;                    /* host sockets corked for a loop turn's segments */
	uint64_t arp_replies, ndp_replies; /* libslirp's neighbour queries answered */
	uint64_t sockets;                  /* host sockets open now */
	uint64_t flows;                    /* service connections open now */
	uint64_t flows_total;
} slirpgw_stats_t;
void slirpgw_get_stats(const slirpgw_t *gw, slirpgw_stats_t *st);

/* A service of restricted mode, from a spec of space-separated words:
 *
 *   ADDR:PORT->HOST:PORT [via=URL]... [max-conns=N] [rate=R] [burst=B]
 *                        [allow=CIDR,..] [deny=CIDR,..]
 *                        [allow-target=CIDR,..] [deny-target=CIDR,..]
 *                        [connect-timeout=D] [idle-timeout=D]
 *
 *   10.0.2.100:80->127.0.0.1:8080
 *   10.0.2.25:25->mail.example.org:25 via=socks5://127.0.0.1:1080 max-conns=4
 *
 * ADDR is an IPv4 address inside the virtual network other than the host
 * and DNS aliases (libslirp's rule for forwarded addresses).  HOST may be a
 * name: the last hop of the chain resolves it.  via= hops are in order,
 * first = closest to us, like -F.  allow/deny: peer addresses that may use
 * the service; allow-target/deny-target: checked on the resolved target by
 * a direct last hop.  rate: new connections per second (burst default
 * 2 x rate); max-conns default 64; connect-timeout 10s; idle-timeout 5m.
 * Errors name the word at fault. */
int slirpgw_service_new(uv_loop_t *loop, const char *spec, slirpgw_service_t **out, char *err,
                        size_t errlen);
/* After every instance that lists it was freed. */
void slirpgw_service_free(slirpgw_service_t *s);

#endif
