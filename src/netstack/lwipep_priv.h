/* lwipep_priv: what lwipep.c shares with lwipudp.c (its datagram flows)
 * and lwiplisten.c (its listening ports);
 * nothing else includes it.  Every function runs on the loop thread. */
#ifndef SLUICE_LWIPEP_PRIV_H
#define SLUICE_LWIPEP_PRIV_H

#include <sys/socket.h>

#include "core/queue.h"
#include "netstack/dns.h"
#include "netstack/lwipep.h"

#ifndef LWIP_HDR_OPT_H
#undef TCP_MSS /* netinet/tcp.h's socket option; lwipopts.h defines lwIP's */
#endif
#include "lwip/err.h"
#include "lwip/ip_addr.h"

struct tcp_pcb;

/* Around an owner's code run from a pcb's callback: if the owner aborts
 * that very pcb, cb_end says ERR_ABRT, as lwIP requires (lwipep.c). */
typedef struct cbframe {
	struct tcp_pcb *pcb;
	int aborted;
} cbframe_t;
void lwipep_cb_begin(cbframe_t *f, struct tcp_pcb *pcb);
err_t lwipep_cb_end(cbframe_t *f);

typedef struct lwudp lwudp_t;

/* Around every call into lwIP (see lwipep.c: output waits for the
 * outermost leave). */
void lwipep_core_enter(void);
void lwipep_core_leave(void);
struct netif *lwipep_netif(lwipep_t *ep);
uv_loop_t *lwipep_loop(const lwipep_t *ep);
int lwipep_is_up(const lwipep_t *ep);
int lwipep_has6(const lwipep_t *ep);
/* 0, or why a may not be sent to (UV_ENETUNREACH: no address of its
 * family; UV_EHOSTUNREACH: loopback, multicast...; UV_ECONNREFUSED: our
 * own address). */
int lwipep_target_ok(const lwipep_t *ep, const ip_addr_t *a);
dns_resolver_t *lwipep_resolver(lwipep_t *ep);
uint32_t lwipep_dns_ms(const lwipep_t *ep);
lwipep_stats_t *lwipep_stats_of(lwipep_t *ep);
queue_t *lwipep_udp_list(lwipep_t *ep);     /* lwudp_t.link */
queue_t *lwipep_listen_list(lwipep_t *ep);  /* lwipep_listen_t.link */
queue_t *lwipep_ulisten_list(lwipep_t *ep); /* lwipep_ulisten_t.link */
/* A pcb lwIP accepted becomes a stream of ep (lwIP's callbacks are ours). */
stream_t *lwipep_accepted(lwipep_t *ep, struct tcp_pcb *pcb, uint64_t id);
void lwipep_ip_from_sa(const struct sockaddr *sa, ip_addr_t *ip);
void lwipep_sa_from_ip(const ip_addr_t *ip, uint16_t port, struct sockaddr_storage *ss);

/* lwipudp.c: the endpoint's flows fail with err (on a later turn); their
 * pcbs and lookups go now.  Then, from lwipep_free(), they forget ep. */
void lwudp_fail_all(queue_t *list, int err);
void lwudp_orphan_all(queue_t *list);
/* lwipudp.c, from lwipep_free(): the listening UDP pcbs go and their
 * listeners forget ep. */
void lwulisten_orphan_all(queue_t *list);

/* lwiplisten.c: 0 to drop pkt, a SYN to a port whose handshakes are at
 * their cap; prune: half-open connections past the cap go (those whose
 * SYN the filter could not see); orphan: from lwipep_free(), the
 * listening pcbs go and the listeners forget ep. */
int lwlisten_admit(queue_t *list, const uint8_t *pkt, size_t len);
void lwlisten_prune(queue_t *list);
void lwlisten_orphan_all(queue_t *list);

#endif
