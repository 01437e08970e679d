/* Fuzz target: the rule list parser (core/route/rules), then lookups of
 * names, literals and ports taken from the same input against what it
 * built, and the PAC-side accessors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "core/route/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rules_t *rs = rules_new();
	char err[300], host[300];
	const char *def = size && (data[0] & 1) ? "corp" : NULL;
	struct sockaddr_in6 c = {.sin6_family = AF_INET6};
	size_t off = 0;

	rules_load(rs, (const char *)data, size, "fuzz", def, err, sizeof(err));
	/* every line of the input as a host to look up */
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (data + off)) : size - off;
		route_query_t q = {.host = host, .port = (uint16_t)(n * 257), .udp = (int)(n & 1)};
		rule_hit_t h;
		int need;

		if (n >= sizeof(host))
			n = sizeof(host) - 1;
		memcpy(host, data + off, n);
		host[n] = 0;
		memcpy(&c.sin6_addr, host, n < 16 ? n : 16);
		q.client = (struct sockaddr *)&c;
		h = rules_match(rs, &q, &need);
		if (need)
			rules_match_addr(rs, (struct sockaddr *)&c, h.index);
		off += n + 1;
	}
	for (uint32_t i = 0; i < rules_count(rs); i++) {
		const char *v;
		uint16_t a;
		int nr;
		rule_t r;
		rules_info(rs, i, &v, &a, &nr);
		rules_get(rs, i, &r);
		rule_format(&r, host, sizeof(host));
	}
	rules_free(rs);
	return 0;
}
