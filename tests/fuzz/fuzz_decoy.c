/* fuzz_decoy: the decoy directory's mapping of a request target to a file
 * and its reading of an If-Modified-Since date (tunnel/ws/decoy.h), which
 * run before any authentication.
 *
 * The input is tried twice: as a raw request target (the fuzzer's buffer
 * ends exactly where the target does, as a target inside a full request
 * buffer may), and as a request head through the HTTP parser, whose target
 * is then mapped as a tunnel server maps it.  Checks: no memory error, and
 * a mapped path is NUL-terminated, absolute and never climbs with "..".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tunnel/ws/decoy.h"
#include "wire/http_proto.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

/* a ".." or "." segment left in a resolved path */
static int climbs(const char *rel)
{
	for (const char *p = rel; (p = strchr(p, '/'));) {
		size_t n = strcspn(++p, "/");
		if ((n == 2 && !strncmp(p, "..", 2)) || (n == 1 && p[0] == '.'))
			return 1;
	}
	return 0;
}

static void map(const char *target, size_t len)
{
	char rel[1024];

	if (decoy_target_path(target, len, rel, sizeof(rel)) == 0) {
		CHECK(strlen(rel) < sizeof(rel));
		CHECK(rel[0] == '/');
		CHECK(!climbs(rel));
	}
}

static void date(const uint8_t *data, size_t size)
{
	char s[128];
	time_t t;

	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = 0;
	(void)decoy_http_date(s, &t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	http_req_t r;
	size_t used;

	map((const char *)data, size);
	date(data, size);
	http_req_init(&r);
	if (http_req_feed(&r, data, size, &used) == HTTP_DONE)
		map(r.target.p, r.target.len);
	http_req_free(&r);
	return 0;
}
