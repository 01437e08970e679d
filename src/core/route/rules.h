/* rules: the ordered rule list that maps a destination to a route (a
 * chain's name, `direct` or `block`), compiled for lookups.  A rule and
 * its syntax (clash's rule lists) are rule.h.
 *
 * First match wins.  Lookups never scan the list: names go through a
 * trie of labels (right to left; each node holds the first exact and the
 * first suffix rule that ends there), addresses through a path-compressed
 * binary trie (IPv4 as ::ffff:0:0/96), ports through a table; each
 * structure gives the lowest-numbered rule that matches, and the answer
 * is the lowest of those.  Only keyword rules and globs other than
 * "*.SUFFIX" are tried one by one, and only those numbered below the best
 * match so far.
 *
 * Names and addresses (where DNS happens, docs/routing.md): a CIDR rule
 * matches an address.  A target given as an IP literal is checked
 * against every CIDR rule.  A target given as a name is first matched
 * without an address (rules_match); when a CIDR rule without no-resolve
 * comes before that match, the caller may resolve the name and ask
 * rules_match_addr() for the first CIDR rule above the match that holds
 * one of its addresses.  The router (routing.c) does so only when the
 * match sends the name direct or blocks it: a name the rules send through
 * a chain is never resolved on this host.
 */
#ifndef SLUICE_RULES_H
#define SLUICE_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/route/rule.h"

#define RULES_MAX (1u << 24) /* rules in one list */

typedef struct rules rules_t;

rules_t *rules_new(void);
void rules_free(rules_t *rs);
/* Append a rule; file and line say where it came from (for messages). */
int rules_add(rules_t *rs, const rule_t *r, const char *file, uint32_t line);
/* Append every line of buf.  0, or -EINVAL with "FILE:LINE: reason". */
int rules_load(rules_t *rs, const char *buf, size_t len, const char *file, const char *defaction,
               char *err, size_t errlen);
/* The same from a file (at most RULES_FILE_MAX bytes). */
#define RULES_FILE_MAX (256u << 20)
int rules_load_file(rules_t *rs, const char *path, const char *defaction, char *err, size_t errlen);

size_t rules_count(const rules_t *rs);
/* The actions rules name: 0 direct, 1 block, then each other name once,
 * in order of first use. */
size_t rules_nactions(const rules_t *rs);
const char *rules_action_name(const rules_t *rs, uint16_t a);
/* Where action a was first named: "FILE:LINE" (for "no chain 'x'"). */
void rules_action_where(const rules_t *rs, uint16_t a, char *buf, size_t len);
/* Rule i as stored: its type, value text ("example.org", "10.0.0.0/8",
 * "8000-8999", "udp", "" for MATCH), action and no-resolve. */
rule_type_t rules_info(const rules_t *rs, uint32_t i, const char **value, uint16_t *action,
                       int *no_resolve);
/* Rule i: its parsed form and "FILE:LINE". */
void rules_get(const rules_t *rs, uint32_t i, rule_t *r);
void rules_where(const rules_t *rs, uint32_t i, char *buf, size_t len);
uint16_t rules_action_of(const rules_t *rs, uint32_t i);
/* The number of the first MATCH rule (RULE_NONE: none). */
uint32_t rules_first_match_all(const rules_t *rs);

/* What a lookup knows of a connection or a datagram. */
typedef struct route_query {
	const char *host;              /* the target: a name or an IP literal */
	uint16_t port;                 /* the target's port */
	const struct sockaddr *client; /* NULL: unknown */
	int udp;                       /* a datagram rather than a stream */
} route_query_t;

typedef struct rule_hit {
	uint32_t index; /* the rule, or RULE_NONE: none matched */
	uint16_t action;
} rule_hit_t;

/* The first rule that matches without resolving (for a literal host:
 * every rule).  *need_addr: 1 when host is a name and a CIDR rule without
 * no-resolve comes before the hit (then rules_match_addr can decide). */
rule_hit_t rules_match(const rules_t *rs, const route_query_t *q, int *need_addr);
/* The first CIDR rule (without no-resolve) numbered below `before` that
 * holds sa; index RULE_NONE if none. */
rule_hit_t rules_match_addr(const rules_t *rs, const struct sockaddr *sa, uint32_t before);

#endif
