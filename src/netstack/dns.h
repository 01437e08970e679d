/* dns: a small stub resolver that asks inside a tunnel (lwIP UDP).
 *
 * Two layers:
 *
 *   pure      dns_query_build() writes one question (RD set, no EDNS);
 *             dns_response_parse() checks that a message answers exactly
 *             that question (id, QR, opcode, the one question echoed) and
 *             collects the A or AAAA records of the name, following CNAMEs
 *             inside the answer section.  No I/O, no allocation; fuzzed by
 *             tests/fuzz/fuzz_dns.c.
 *
 *   resolver  dns_resolve() sends the question from a fresh UDP pcb on a
 *             random source port with a random id to the servers in turn
 *             (1 s, then 2 s... per try, until the lookup's deadline),
 *             accepting an answer only from a server it asked.  A first;
 *             AAAA only when the caller wants IPv6 and the name has no A.
 *             Answers with addresses go into a small cache for their TTL
 *             (at most an hour); failures are not cached.
 *
 * Errors: UV_EAI_NONAME (NXDOMAIN, or no record of the wanted families),
 * UV_EAI_AGAIN (no server answered in time, SERVFAIL, REFUSED, truncated
 * without answers), UV_EINVAL (not a host name), or whatever the owner
 * passes to dns_resolver_fail_all().
 *
 * The resolver runs on the loop thread that drives lwIP (see lwipep.c); it
 * keeps lwIP types out of this header so that the parser can be used alone.
 */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define DNS_PORT 53
#define DNS_NAME_MAX 253  /* text form, without the trailing dot */
#define DNS_QUERY_MAX 512 /* a query for a name of DNS_NAME_MAX fits */
#define DNS_MAX_ADDRS 8   /* addresses kept per answer */
#define DNS_MAX_SERVERS 6
#define DNS_CACHE_SIZE 64
#define DNS_CACHE_TTL_MAX 3600
#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28

enum dns_rcode {
	DNS_NOERROR = 0,
	DNS_FORMERR = 1,
	DNS_SERVFAIL = 2,
	DNS_NXDOMAIN = 3,
	DNS_REFUSED = 5
};

typedef struct dns_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t a[16];
} dns_addr_t;

/* The address as lwIP's ip_addr_t (lwip/ip_addr.h). */
struct ip_addr;
void dns_addr_lwip(const dns_addr_t *a, struct ip_addr *ip);

typedef struct dns_result {
	int rcode;
	int truncated;
	uint32_t ttl; /* smallest TTL of the records used */
	size_t n;
	dns_addr_t addr[DNS_MAX_ADDRS];
} dns_result_t;

/* 1 if name is a host name we will ask about: labels of letters, digits,
 * '-' and '_', 1..63 bytes each, DNS_NAME_MAX in all, one trailing dot
 * allowed. */
int dns_name_valid(const char *name);
/* The query's length, or -EINVAL (bad name), -ENOSPC (cap too small). */
int dns_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype);
/* 0 and *out filled (any rcode), or -EBADMSG (malformed) / -EPROTO (not
 * an answer to this question). */
int dns_response_parse(const uint8_t *buf, size_t len, uint16_t id, const char *name,
                       uint16_t qtype, dns_result_t *out);

/* ---- resolver ---- */

typedef struct dns_resolver dns_resolver_t;
typedef struct dns_query dns_query_t;
struct netif;

/* err 0: r->n >= 1 addresses, A records first. */
typedef void (*dns_cb)(void *ud, int err, const dns_result_t *r);

typedef struct dns_stats {
	uint64_t lookups; /* dns_resolve() calls and cache hits */
	uint64_t cache_hits;
	uint64_t sent;     /* query packets */
	uint64_t answers;  /* lookups answered with addresses */
	uint64_t failures; /* lookups that failed (any reason) */
	uint64_t timeouts; /* lookups that ran out of time */
} dns_stats_t;

/* Queries leave through netif (the pcbs are bound to it).  guard(1) and
 * guard(0), if set, bracket the lwIP calls the resolver makes from its own
 * timers (the owner's way to know it is inside lwIP). */
dns_resolver_t *dns_resolver_new(uv_loop_t *loop, struct netif *netif, uint64_t log_id,
                                 void (*guard)(int enter));
/* Replaces the server list (port 53); lookups in flight keep theirs. */
void dns_resolver_set_servers(dns_resolver_t *r, const dns_addr_t *s, size_t n);
size_t dns_resolver_nservers(const dns_resolver_t *r);
/* 1 and *out filled if name is cached and fresh. */
int dns_cache_lookup(dns_resolver_t *r, const char *name, int want6, dns_result_t *out);
void dns_cache_flush(dns_resolver_t *r);
/* Starts a lookup; cb runs later, never from inside this call, and not
 * from inside dns_cancel() or dns_resolver_free().  NULL if the name is
 * invalid or there is no server (nothing is called then). */
dns_query_t *dns_resolve(dns_resolver_t *r, const char *name, int want6, uint64_t timeout_ms,
                         dns_cb cb, void *ud);
/* cb will not run; the query is freed. */
void dns_cancel(dns_query_t *q);
void dns_resolver_stats(const dns_resolver_t *r, dns_stats_t *out);
/* Cancels what is in flight without callbacks. */
void dns_resolver_free(dns_resolver_t *r);

#endif
