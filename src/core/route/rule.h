/* rule: one routing rule, a line parsed and written back (the list
 * that holds rules and matches them is rules.h).
 *
 * A rule is one line, in the syntax clash's rule lists use, so lists
 * written for clash load as they are:
 *
 *     TYPE,VALUE,ACTION[,no-resolve]        MATCH,ACTION
 *
 *     domain     DOMAIN, full          the name itself
 *     suffix     DOMAIN-SUFFIX         the name and every name under it
 *     glob       DOMAIN-GLOB, DOMAIN-WILDCARD   a shell pattern (* and ?)
 *     keyword    DOMAIN-KEYWORD        the name contains the word
 *     cidr       IP-CIDR, IP-CIDR6     the destination address
 *     client     SRC-IP-CIDR           the client's address
 *     port       DST-PORT              the destination port, or a range A-B
 *     network    NETWORK               tcp (streams) or udp (datagrams)
 *     match      MATCH, FINAL          everything: the default
 *
 * Types are case-insensitive; ACTION is a chain's name, `direct` or
 * `block` (clash's DIRECT and REJECT too).  A line that names no action
 * takes the caller's (a list included with an action), and then a bare
 * value is a rule of its own: an address or prefix is a cidr rule, a name
 * a suffix rule ("+.example.org", "domain:", "full:" and "keyword:" as
 * clash and v2ray lists write them).  Blank lines and lines starting with
 * # are skipped.
 */
#ifndef SLUICE_RULE_H
#define SLUICE_RULE_H

#include <stddef.h>
#include <stdint.h>

typedef enum rule_type {
	RULE_DOMAIN,
	RULE_SUFFIX,
	RULE_GLOB,
	RULE_KEYWORD,
	RULE_CIDR,
	RULE_CLIENT,
	RULE_PORT,
	RULE_NETWORK,
	RULE_MATCH,
	RULE_NTYPES
} rule_type_t;

#define RULE_NAME_MAX 253
#define RULE_ACTION_MAX 63
#define RULE_LINE_MAX 1024
#define RULE_NONE UINT32_MAX

/* The actions every list knows; chains are numbered after them. */
enum { RULE_ACT_DIRECT = 0, RULE_ACT_BLOCK = 1 };

/* One parsed line. */
typedef struct rule {
	rule_type_t type;
	char value[RULE_NAME_MAX + 1]; /* a name, a pattern or a word, lower case */
	uint8_t addr[16];              /* cidr, client: IPv4 as ::ffff:a.b.c.d */
	uint8_t plen;                  /* its prefix length, 0..128 */
	uint16_t port_lo, port_hi;     /* port */
	uint8_t udp;                   /* network: 1 udp, 0 tcp */
	uint8_t no_resolve;            /* cidr: never resolve a name for it */
	char action[RULE_ACTION_MAX + 1];
} rule_t;

/* Parse one line (len bytes, no NUL needed).  1: a rule in *r; 0: nothing
 * (blank, comment); -EINVAL and a reason in err.  defaction: the action of
 * a line that names none, or NULL (then one is required). */
int rule_parse(const char *line, size_t len, const char *defaction, rule_t *r, char *err,
               size_t errlen);
/* "DOMAIN-SUFFIX,example.org,corp": a rule written back, canonical. */
void rule_format(const rule_t *r, char *buf, size_t len);
const char *rule_type_name(rule_type_t t);
/* The value as rule_parse reads it back ("10.0.0.0/8", "80-90", a name). */
void rule_value_str(const rule_t *r, char *buf, size_t len);

#endif
