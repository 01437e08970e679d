/* acl: allow/deny lists of CIDR prefixes, for clients and for targets.
 *
 * Rule: an address is refused if it matches `deny`; else refused if it
 * matches `guard` and no `lift` entry; else accepted if `allow` is empty or
 * it matches `allow`.  Lists are written "10.0.0.0/8,::1/128"; a bare
 * address is a host prefix; an IPv4 entry also matches the v4-mapped IPv6
 * form of its addresses.
 *
 * `guard` holds the ranges a listener refuses by default (the target
 * policy, listener.c): acl_guard() adds one of the classes below, and
 * `lift` is kept as the `allow` entries that lie inside a guarded range, so
 * that allow-target=127.0.0.1 reaches 127.0.0.1 (and nothing else) while a
 * broad allow-target=0.0.0.0/0 does not open the guarded ranges.
 */
#ifndef SLUICE_ACL_H
#define SLUICE_ACL_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int bits;
} cidr_t;

typedef struct cidr_list {
	cidr_t *v;
	size_t n;
} cidr_list_t;

typedef struct acl {
	cidr_list_t allow, deny;
	cidr_list_t guard, lift;
} acl_t;

/* The host itself: loopback, "this host" (connecting to 0.0.0.0 or ::
 * reaches the loopback). */
#define ACL_HOST_LOOPBACK "127.0.0.0/8,0.0.0.0/8,::1/128,::/128"
/* Link-local, and the cloud metadata services that live elsewhere:
 * 169.254.169.254 (AWS, GCP, Azure, OpenStack, Oracle...), 169.254.170.2
 * (ECS), fd00:ec2::254 (AWS over IPv6), 100.100.100.200 (Alibaba Cloud),
 * 192.0.0.192 (Oracle Cloud Classic). */
#define ACL_LINK_LOCAL                                                                             \
	"169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32,192.0.0.192/32"

int cidr_parse(const char *s, cidr_t *out);
/* Append every item of a comma-separated list; -EINVAL on the first bad one
 * (its text is copied into bad). */
int cidr_list_add(cidr_list_t *l, const char *csv, char *bad, size_t badlen);
int cidr_list_match(const cidr_list_t *l, const struct sockaddr *sa);
void cidr_list_free(cidr_list_t *l);

int acl_permits(const acl_t *a, const struct sockaddr *sa);
void acl_free(acl_t *a);
/* Refuse a comma-separated list of ranges (one of the classes above)
 * unless `allow` names addresses inside them.  Call it after `allow` is
 * complete. */
void acl_guard(acl_t *a, const char *ranges);

/* "1.2.3.4" or "[::1]" style text of an address (no port). */
void sockaddr_ip(const struct sockaddr *sa, char *buf, size_t len);
/* "1.2.3.4:80" or "[::1]:80". */
void sockaddr_str(const struct sockaddr *sa, char *buf, size_t len);
int sockaddr_is_loopback(const struct sockaddr *sa);
/* The address as 16 bytes (IPv4 as ::ffff:a.b.c.d; an AF_UNIX address, a
 * link named by its path, as ff + a hash of the path), the key of the
 * tables kept per client address, and a hash of such a key.  sockaddr_ip()
 * writes an AF_UNIX address as its path. */
void sockaddr_key(const struct sockaddr *sa, uint8_t key[16]);
uint64_t sockaddr_key_hash(const uint8_t key[16]);
int sockaddr_is_any(const struct sockaddr *sa);
/* The length of an AF_INET or AF_INET6 address; its port (host order) and
 * a new one; same IP (and port): 1.  ::ffff:a.b.c.d becomes a.b.c.d. */
socklen_t sockaddr_len(const struct sockaddr *sa);
uint16_t sockaddr_port(const struct sockaddr *sa);
void sockaddr_set_port(struct sockaddr *sa, uint16_t port);
int sockaddr_same_ip(const struct sockaddr *a, const struct sockaddr *b);
int sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);
void sockaddr_unmap(struct sockaddr_storage *ss);

#endif
