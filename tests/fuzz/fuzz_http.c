/* libFuzzer target for wire/http_proto.
 *
 * The first byte picks what the rest is: a stream of requests (heads,
 * bodies, rewrites, pipelined), a stream of responses to a given method, or
 * a credentials / escaping input; the second byte picks the chunk size, so
 * the fuzzer also explores how messages are split across reads.  Besides
 * memory errors it checks the feed contract: used never exceeds what was
 * given, and "need more" takes everything.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"
#include "wire/http_proto.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static void requests(const uint8_t *d, size_t n, size_t piece)
{
	http_req_t r;
	size_t off = 0, used;
	char *out;

	http_req_init(&r);
	for (int msg = 0; msg < 8 && off < n; msg++) {
		http_res_t res = HTTP_MORE;
		while (off < n && res == HTTP_MORE) {
			size_t k = n - off < piece ? n - off : piece;
			res = http_req_feed(&r, d + off, k, &used);
			CHECK(used <= k);
			CHECK(res != HTTP_MORE || used == k);
			off += used;
		}
		if (res != HTTP_DONE)
			break;
		CHECK(r.status == 0);
		out = malloc(http_req_rewrite_size(&r));
		CHECK(out);
		int w = http_req_rewrite(&r, r.keep_alive ? 0 : HTTP_RW_CLOSE, out,
		                         http_req_rewrite_size(&r));
		CHECK(w > 0);
		CHECK(memcmp(out + w - 4, "\r\n\r\n", 4) == 0);
		free(out);
		(void)http_basic_check(http_req_header(&r, "proxy-authorization"), "user", "pass");
		res = http_req_complete(&r) ? HTTP_DONE : HTTP_MORE;
		while (off < n && res == HTTP_MORE) {
			size_t k = n - off < piece ? n - off : piece;
			res = http_req_body(&r, d + off, k, &used);
			CHECK(used <= k);
			CHECK(res != HTTP_MORE || used == k);
			off += used;
		}
		if (res != HTTP_DONE)
			break;
		http_req_reset(&r);
	}
	http_req_free(&r);
}

static void responses(const uint8_t *d, size_t n, size_t piece, int method)
{
	size_t off = 0, used;

	for (int msg = 0; msg < 8; msg++) {
		http_resp_t r;
		http_res_t res = HTTP_MORE;

		http_resp_init(&r, method);
		while (off < n && res == HTTP_MORE) {
			size_t k = n - off < piece ? n - off : piece;
			res = http_resp_feed(&r, d + off, k, &used);
			CHECK(used <= k);
			CHECK(res != HTTP_MORE || used == k);
			off += used;
		}
		if (res == HTTP_MORE)
			res = http_resp_eof(&r);
		if (res != HTTP_DONE || r.upgrade || !r.keep_alive || off >= n)
			break;
	}
}

static void misc(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1), esc[256], page[8192];
	uint8_t dec[512];
	http_str_t v;

	CHECK(s);
	memcpy(s, d, n);
	s[n] = 0;
	v = (http_str_t){s, n};
	(void)http_basic_check(&v, "user", "pass");
	(void)b64_decode_strict(s, n, dec, sizeof(dec));
	CHECK(http_html_escape(s, esc, sizeof(esc)) < sizeof(esc));
	if (n < 1024)
		CHECK(http_error_response(502, NULL, s, 0, page, sizeof(page)) > 0);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static const int methods[] = {HTTP_GET, HTTP_HEAD, HTTP_CONNECT, HTTP_POST};
	size_t piece;

	if (n < 2)
		return 0;
	piece = (size_t)d[1] + 1;
	if (piece > 200)
		piece = n; /* often: one read */
	switch (d[0] % 6) {
	case 0:
	case 1:
	case 2:
		requests(d + 2, n - 2, piece);
		break;
	case 3:
	case 4:
		responses(d + 2, n - 2, piece, methods[(d[0] / 6) % 4]);
		break;
	default:
		misc(d + 2, n - 2);
		break;
	}
	return 0;
}
