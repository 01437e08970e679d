/* lwipep: a userspace TCP/IP endpoint (lwIP) at the far end of a tunnel
 * that carries raw IP packets (PPP over SSTP, the UDP VPN).
 *
 * The tunnel owns the endpoint.  It creates it with the function that puts
 * IP packets on the tunnel, hands it the addresses once the link is up
 * (IPCP, the VPN handshake), feeds it every IP packet it receives, and
 * tells it when the link dies.  In exchange it gets a dialer: TCP
 * connections to targets inside the tunnel, as streams (core/stream.h).
 *
 *     tunnel                       lwipep                     owner
 *     ------                       ------                     -----
 *     lwipep_new(out)   ------>    netif, no address
 *     lwipep_set_addr() ------>    up: local/peer IP, MTU, DNS
 *     lwipep_input(pkt) ------>    lwIP        ----------->   stream on_read
 *     out(pkt)          <------    lwIP        <-----------   stream_write
 *                                  dialer  <-- dial(target) -- listener/relay
 *     lwipep_listen()   ------>    accepts on a port   ----->   accept cb (stream)
 *     lwipep_down(err)  ------>    every connection and dial fails with err
 *     lwipep_free()
 *
 * Names are resolved inside the tunnel (netstack/dns.h) with the servers
 * given to lwipep_set_addr(), then the fallback server; IP literals skip
 * DNS.  Everything runs on one libuv loop: lwIP is one stack per process,
 * so every endpoint must use the same loop.  Stream and dial callbacks run
 * from lwipep_input() (data, drain and connects as packets arrive) or from
 * the loop, never from inside a stream op, lwipep_connect(), the cancel,
 * lwipep_down() or lwipep_free().  `out` runs outside lwIP (output is
 * queued while lwIP works) and may call anything here, lwipep_input() and
 * lwipep_down() included.
 */
#ifndef SLUICE_LWIPEP_H
#define SLUICE_LWIPEP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/dial.h"

#define LWIPEP_MAX_DNS 2
#define LWIPEP_MTU_MIN 296
#define LWIPEP_MTU_MAX 65535

typedef struct lwipep lwipep_t;

/* One IP packet for the tunnel; copy it, do not keep pkt.  0, or a
 * negative UV_E* if it was dropped (TCP retransmits what matters). */
typedef int (*lwipep_output_fn)(void *ud, const uint8_t *pkt, size_t len);

typedef struct lwipep_opts {
	const char *name;            /* for logs and metrics; default "lwip" */
	uint64_t id;                 /* log id of the tunnel session */
	uint32_t connect_timeout_ms; /* per address tried; 0: 30 s */
	uint32_t dns_timeout_ms;     /* per lookup; 0: 5 s */
	const char *dns_fallback;    /* IP literal asked after the link's servers */
} lwipep_opts_t;

typedef struct lwipep_addr {
	struct in_addr local, peer; /* IPv4; local 0.0.0.0: no IPv4 */
	struct in6_addr local6;     /* IPv6, not link-local; :: for none */
	/* IPV6CP's interface identifier (all zero: none): the link-local
	 * address fe80::IFID, and stateless autoconfiguration (RFC 4862) from
	 * the router advertisements of the peer: its /64 prefixes + IFID.
	 * Without local6, IPv6 targets are reachable once such an address is
	 * preferred (about 2 s after the advertisement: one DAD probe). */
	uint8_t ifid6[8];
	uint16_t mtu;                         /* link MTU; 0: 1500 */
	struct in_addr dns4[LWIPEP_MAX_DNS];  /* 0.0.0.0: unset */
	struct in6_addr dns6[LWIPEP_MAX_DNS]; /* :: unset */
} lwipep_addr_t;

typedef struct lwipep_stats {
	uint64_t conns_total, conns_active, conns_failed;
	uint64_t bytes_in, bytes_out; /* stream payload: from the tunnel, to it */
	uint64_t pkts_in, pkts_out, pkts_dropped;
	uint64_t dns_lookups, dns_cache_hits, dns_queries, dns_failures;
	uint64_t udp_flows_total, udp_flows_active, udp_in, udp_out; /* datagrams */
	/* listening: connections accepted (and open now), refused by the
	 * owner, SYNs dropped at a port's cap of half-open handshakes */
	uint64_t accepts_total, accepts_active, accepts_refused, syns_dropped;
} lwipep_stats_t;

/* UV_EINVAL: bad option (e.g. fallback not an IP literal); UV_EBUSY: lwIP
 * already runs on another loop. */
int lwipep_new(uv_loop_t *loop, const lwipep_opts_t *o, lwipep_output_fn out, void *ud,
               lwipep_t **ep);
/* Link up, or new parameters.  A changed local address fails the
 * connections that used the old one (UV_ECONNABORTED).  UV_EINVAL if
 * there is neither an IPv4 nor an IPv6 address nor an interface id. */
int lwipep_set_addr(lwipep_t *ep, const lwipep_addr_t *a);
/* One IP packet from the tunnel (copied). */
void lwipep_input(lwipep_t *ep, const uint8_t *pkt, size_t len);
/* Link down: every connection and dial fails with err (a negative UV_E*);
 * dials fail with UV_ENETUNREACH until lwipep_set_addr() again. */
void lwipep_down(lwipep_t *ep, int err);
/* lwipep_down(UV_ECONNABORTED), then frees; streams already handed out
 * stay valid (failed) until their owners close them. */
void lwipep_free(lwipep_t *ep);
/* TCP MSS this endpoint announces and uses at most (from TCP_MSS and the
 * MTU); 0 before set_addr. */
unsigned lwipep_mss(const lwipep_t *ep);
void lwipep_get_stats(const lwipep_t *ep, lwipep_stats_t *st);

/* Connect to t inside the tunnel; cb(ud, stream, 0) or cb(ud, NULL, err),
 * never from inside this call.  o->acl, if set, is checked against each
 * resolved address.  Errors: UV_ECONNREFUSED (RST, or our own address),
 * UV_ETIMEDOUT, UV_ENETUNREACH (link down, or no address of that family),
 * UV_EHOSTUNREACH (loopback, multicast...), UV_EAI_NONAME, UV_EAI_AGAIN,
 * UV_EACCES (ACL), or the error given to lwipep_down(). */
typedef struct lwipep_dial lwipep_dial_t;
lwipep_dial_t *lwipep_connect(lwipep_t *ep, const target_t *t, const dial_opts_t *o, dial_cb cb,
                              void *ud);
/* cb will not be called; the request is freed. */
void lwipep_connect_cancel(lwipep_dial_t *q);

/* The same as a dialer_t (scheme "lwip", no next hop), so that a tunnel hop
 * can hand it to any listener.  It belongs to ep: its free op does nothing
 * and it must not be used after lwipep_free(). */
dialer_t *lwipep_dialer(lwipep_t *ep);

/* Datagram flows (core/dgram.h) inside the tunnel: one UDP pcb per flow
 * (a random port, bound to this endpoint), names resolved as for
 * connections, o->acl checked on every resolved destination, replies
 * accepted only from addresses the flow sent to.  cb(ud, flow, 0) on a
 * later turn; UV_ENETUNREACH while the link is down.  The flow fails
 * (on_error) when the link goes down or changes address; at most
 * LWIPEP_UDP_MAX flows per endpoint (UV_EMFILE).  Sizes: any UDP payload
 * up to DGRAM_MAX, fragmented by IP over the link MTU; lwIP reassembles
 * at most IP_REASS_MAX_PBUFS (10) fragments coming back. */
#define LWIPEP_UDP_MAX 4096
#define LWIPEP_UDP_RESOLVING 8 /* datagrams of a flow waiting for a name */
dial_t *lwipep_dgram(lwipep_t *ep, const dial_opts_t *o, dgram_cb cb, void *ud);
void lwipep_dgram_cancel(dial_t *req);
/* Listening inside the tunnel (lwiplisten.c): TCP on port at whatever
 * addresses the link gives (each session's, across reconnects), dual
 * stack.  cb runs from lwipep_input() once a handshake completes, with
 * the new connection (read-stopped) and its peer; it returns 0 and owns
 * the stream, or a negative UV_E* and the connection is reset (RST) and
 * freed here.  At most syn_max handshakes wait at once (0:
 * LWIPEP_SYN_MAX); SYNs past that are dropped, as a full backlog drops
 * them, and counted.  A port nobody listens on answers RST (lwIP).
 * Errors: UV_EADDRINUSE (a listener on that port already), UV_ENOMEM.
 * Connections accepted stay when the listener goes. */
#define LWIPEP_SYN_MAX 64
typedef struct lwipep_listen lwipep_listen_t;
typedef int (*lwipep_accept_cb)(void *ud, stream_t *s, const struct sockaddr *peer);
typedef struct lwipep_listen_stats {
	uint64_t accepted, refused, syn_dropped;
} lwipep_listen_stats_t;
int lwipep_listen(lwipep_t *ep, uint16_t port, unsigned syn_max, lwipep_accept_cb cb, void *ud,
                  lwipep_listen_t **out);
/* cb will not run again; the port answers RST from now on. */
void lwipep_unlisten(lwipep_listen_t *l);
void lwipep_listen_stats(const lwipep_listen_t *l, lwipep_listen_stats_t *st);
/* UDP on port at whatever addresses the link gives, across reconnects
 * (lwipudp.c): cb runs from lwipep_input() with each datagram that
 * arrives there (b is the callee's) and its source.  sendto sends b (taken)
 * from that port to peer: 0, or UV_ENETDOWN (the link is down),
 * UV_ENOBUFS (lwIP has no room), UV_EMSGSIZE.  Errors of listen:
 * UV_EADDRINUSE, UV_ENOMEM. */
typedef struct lwipep_ulisten lwipep_ulisten_t;
typedef void (*lwipep_urecv_cb)(void *ud, const struct sockaddr *peer, sbuf_t *b);
int lwipep_udp_listen(lwipep_t *ep, uint16_t port, lwipep_urecv_cb cb, void *ud,
                      lwipep_ulisten_t **out);
int lwipep_udp_sendto(lwipep_ulisten_t *l, const struct sockaddr *peer, sbuf_t *b);
/* cb will not run again; the port is free. */
void lwipep_udp_unlisten(lwipep_ulisten_t *l);

/* The name servers the link gave (port 53), else the fallback; 0 while
 * the link is down. */
int lwipep_dns_servers(const lwipep_t *ep, struct sockaddr_storage *out, size_t max);

#endif
