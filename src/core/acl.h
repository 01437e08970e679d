/* acl: allow/deny lists of CIDR prefixes, for clients and for targets.
 *
 * Rule: an address is refused if it matches `deny`, else accepted if `allow`
 * is empty or it matches `allow`.  Lists are written "10.0.0.0/8,::1/128";
 * a bare address is a host prefix.
 *
 * acl_restricted() is the default target deny list of a listener reachable
 * from outside the host (see listener.c): loopback, "this host", link-local
 * and the v4-mapped forms of those, so that a server does not hand the world
 * its own 127.0.0.1 services by accident.
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
} acl_t;

int cidr_parse(const char *s, cidr_t *out);
/* Append every item of a comma-separated list; -EINVAL on the first bad one
 * (its text is copied into bad). */
int cidr_list_add(cidr_list_t *l, const char *csv, char *bad, size_t badlen);
int cidr_list_match(const cidr_list_t *l, const struct sockaddr *sa);
void cidr_list_free(cidr_list_t *l);

int acl_permits(const acl_t *a, const struct sockaddr *sa);
void acl_free(acl_t *a);
void acl_add_restricted(acl_t *a);

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

#endif
