/* rules_scan: the meaning of one rule by itself, for a plain first-to-last
 * scan of a rule list.  The unit test (test_rules.c) checks the tries of
 * core/route/rules.c against it on random queries, and the benchmark
 * (bench/rules_bench.c) times the tries against it.  It is independent of
 * rules.c on purpose: fnmatch(3) for globs, prefixes bit by bit.  key is
 * the query's address as 16 bytes (IPv4 mapped), read when literal.
 */
#ifndef SLUICE_TEST_RULES_SCAN_H
#define SLUICE_TEST_RULES_SCAN_H

#include <fnmatch.h>
#include <stdint.h>
#include <string.h>

#include "core/route/rule.h"

static inline int rules_scan_one(const rule_t *r, const char *host, uint16_t port,
                                 const uint8_t *key, int literal)
{
	size_t hn = strlen(host), vn = strlen(r->value);

	switch (r->type) {
	case RULE_DOMAIN:
		return !literal && !strcmp(host, r->value);
	case RULE_SUFFIX:
		return !literal &&
		       (!strcmp(host, r->value) ||
		        (hn > vn && host[hn - vn - 1] == '.' && !strcmp(host + hn - vn, r->value)));
	case RULE_CIDR:
		if (!literal)
			return 0;
		for (int i = 0; i < r->plen; i++)
			if (((key[i / 8] ^ r->addr[i / 8]) >> (7 - i % 8)) & 1)
				return 0;
		return 1;
	case RULE_KEYWORD:
		return !literal && strstr(host, r->value) != NULL;
	case RULE_GLOB:
		return !literal && fnmatch(r->value, host, 0) == 0;
	case RULE_PORT:
		return port >= r->port_lo && port <= r->port_hi;
	case RULE_MATCH:
		return 1;
	default:
		return 0;
	}
}

#endif
