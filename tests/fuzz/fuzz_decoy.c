/* fuzz_decoy: what the decoy reads before any authentication
 * (tunnel/ws/decoy.h): the mapping of a request target to a file, an HTTP
 * date, a Range header (one range or several), and the requests of a connection in order
 * (pipelined heads, bodies read and dropped), each answered as the
 * single-page site answers it (ranges, If-Range, If-None-Match...).
 *
 * The input is tried as a raw request target (the fuzzer's buffer ends
 * exactly where the target does, as a target inside a full request buffer
 * may), as a date, as a Range value for a file of a size taken from its
 * first bytes, and as the bytes of a connection, cut in two where its first
 * byte says, through decoy_in_feed() and decoy_reply().  Checks: no memory
 * error; a mapped path is NUL-terminated, absolute and never climbs with
 * ".."; served ranges lie inside the file and add up to no more than it; every answer is an
 * HTTP/1.1 response; the connection's bytes are all taken or it ends with a 400.
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

static void range(const uint8_t *data, size_t size)
{
	char s[256];
	uint64_t len = 0, a = 0, b = 0;

	for (size_t i = 0; i < 2 && i < size; i++)
		len = len << 8 | data[i];
	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = 0;
	if (decoy_range(s, len, &a, &b) > 0)
		CHECK(a < b && b <= len);
	/* several: each inside the file, all together no more than it */
	{
		uint64_t as[DECOY_RANGES], bs[DECOY_RANGES], total = 0;
		int n = decoy_ranges(s, len, as, bs, DECOY_RANGES);

		CHECK(n >= -1 && n <= DECOY_RANGES);
		for (int i = 0; i < n; i++) {
			CHECK(as[i] < bs[i] && bs[i] <= len);
			total += bs[i] - as[i];
		}
		CHECK(total <= len);
	}
}

static void connection(const uint8_t *data, size_t size)
{
	static decoy_t *d;
	char err[200];
	decoy_in_t in;
	size_t cut = size ? data[0] % (size + 1) : 0, off = 0, used;
	int requests = 0;

	if (!d && decoy_new(NULL, "nginx", &d, err, sizeof(err)) < 0)
		abort();
	decoy_in_init(&in, NULL);
	while (off < size && requests < 64) {
		size_t end = off < cut ? cut : size;
		decoy_in_res_t r = decoy_in_feed(&in, data + off, end - off, &used);
		char *out;
		size_t n;

		CHECK(used <= end - off);
		off += used;
		if (r == DECOY_IN_BAD)
			break;
		if (r == DECOY_IN_MORE) {
			CHECK(off == end);
			continue;
		}
		n = decoy_reply(d, &in.req, &out, NULL);
		CHECK(n >= 9 && !memcmp(out, "HTTP/1.1 ", 9));
		free(out);
		requests++;
	}
	decoy_in_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	http_req_t r;
	size_t used;

	map((const char *)data, size);
	date(data, size);
	range(data, size);
	connection(data, size);
	http_req_init(&r);
	if (http_req_feed(&r, data, size, &used) == HTTP_DONE)
		map(r.target.p, r.target.len);
	http_req_free(&r);
	return 0;
}
