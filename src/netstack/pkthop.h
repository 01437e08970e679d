/* pkthop: a hop whose server speaks raw IP (PPP over a byte link, SSTP,
 * the UDP VPN), with sluice's lwIP endpoint on our side.
 *
 * A link module supplies the session (open it, run its protocol, carry IP
 * packets); pkthop supplies the rest, the same for every such hop: the
 * lwIP endpoint, the dialer that any listener uses, one session shared by
 * all connections, dials that wait (within their connect timeout) while
 * the session is being set up, and reconnection with backoff (1 s doubling
 * to 30 s) when it drops; connections in flight then fail cleanly.
 *
 *   link->start(h)              open a session (asynchronously)
 *   pkthop_link_up(h, addr)     the session carries IP now
 *   pkthop_link_input(h, pkt)   an IP packet from the server side
 *   link->send(h, pkt)          an IP packet to the server side
 *   pkthop_link_down(h, why)    the session is gone (the link module has
 *                               released it); pkthop reconnects later
 *   link->stop(h)               tear the session down now, no callbacks
 */
#ifndef SLUICE_PKTHOP_H
#define SLUICE_PKTHOP_H

#include "core/dial.h"
#include "core/opts.h"
#include "netstack/lwipep.h"

typedef struct pkthop pkthop_t;

typedef struct pktlink_ops {
	const char *scheme;
	int (*start)(pkthop_t *h);
	int (*send)(pkthop_t *h, const uint8_t *pkt, size_t len);
	void (*stop)(pkthop_t *h);
	void (*free)(pkthop_t *h); /* the link's own state */
} pktlink_ops_t;

/* o->dns: a name server (IP literal) asked after the ones the session
 * gives, or NULL.  NULL when lwIP is taken (one endpoint per process) or
 * dns is not an IP literal. */
/* The options every packet hop takes: a hop keeps a pkthop_opts_t inside
 * its own options and bases its schema on pkthop_opts there
 * (OPT_SCHEMA_AT).  The reverse-* ones guard the ports -R opens on the
 * session's address (pktrev.c). */
typedef struct pkthop_opts {
	const char *dns;       /* an IP literal, or NULL */
	const char *rev_allow; /* reverse-allow=: CIDRs (checked), or NULL: all */
	uint64_t rev_max;      /* reverse-max-conns= */
	uint64_t rev_rate;     /* reverse-rate=: per client address and second, 0: none */
	uint64_t rev_udp_idle; /* reverse-udp-idle=: ms a UDP flow lives without a datagram */
} pkthop_opts_t;
extern const opt_schema_t pkthop_opts;
pkthop_t *pkthop_new(uv_loop_t *loop, dialer_t *next, const target_t *server,
                     const pktlink_ops_t *ops, void *link, const char *name,
                     const pkthop_opts_t *o);
void *pkthop_link(pkthop_t *h);
dialer_t *pkthop_dialer(pkthop_t *h);
dialer_t *pkthop_next(pkthop_t *h); /* how to reach the server */
const target_t *pkthop_server(pkthop_t *h);
const char *pkthop_name(pkthop_t *h);
lwipep_t *pkthop_ep(pkthop_t *h);
const pkthop_opts_t *pkthop_opts_of(pkthop_t *h);
/* The session's IPv4 address, or 0.0.0.0 while it is down. */
struct in_addr pkthop_address(pkthop_t *h);
void pkthop_link_up(pkthop_t *h, const lwipep_addr_t *a);
void pkthop_link_input(pkthop_t *h, const uint8_t *pkt, size_t len);
void pkthop_link_down(pkthop_t *h, const char *why);
/* Packets the link carries past lwIP (a TUN device's): their bytes count
 * in the session's, beside lwIP's. */
void pkthop_link_count(pkthop_t *h, size_t in, size_t out);

#endif
