/* Fuzz target: the DNS response parser (netstack/dns.c), for both record
 * types, with the id and question taken from the input itself so that the
 * fuzzer can reach the answer section. */
#include <stdint.h>
#include <string.h>

#include "netstack/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"test.example", "a.b", "x"};
	dns_result_t r;
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	uint8_t q[DNS_QUERY_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		dns_response_parse(data, size, id, names[i], DNS_TYPE_A, &r);
		dns_response_parse(data, size, id, names[i], DNS_TYPE_AAAA, &r);
	}
	/* the query builder with the input as a name */
	if (size < 300) {
		char name[300];
		memcpy(name, data, size);
		name[size] = 0;
		if (dns_query_build(q, sizeof(q), id, name, DNS_TYPE_A) > 0)
			dns_response_parse(q, sizeof(q), id, name, DNS_TYPE_A, &r);
	}
	return 0;
}
