/* lwipep_priv: what lwipep.c shares with lwipudp.c (its datagram flows);
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
#include "lwip/ip_addr.h"

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
queue_t *lwipep_udp_list(lwipep_t *ep); /* lwudp_t.link */
void lwipep_ip_from_sa(const struct sockaddr *sa, ip_addr_t *ip);
void lwipep_sa_from_ip(const ip_addr_t *ip, uint16_t port, struct sockaddr_storage *ss);

/* lwipudp.c: the endpoint's flows fail with err (on a later turn); their
 * pcbs and lookups go now.  Then, from lwipep_free(), they forget ep. */
void lwudp_fail_all(queue_t *list, int err);
void lwudp_orphan_all(queue_t *list);

#endif
