/* Unit tests for wire/http_proto: request heads (every split, limits, bad
 * input), bodies (Content-Length, chunked with trailers, pipelining),
 * responses (HEAD, 204, 1xx, close-delimited, CONNECT), the rewrite for the
 * origin server, Basic credentials and error pages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/encoding.h"
#include "wire/http_proto.h"

static http_res_t feed_str(http_req_t *r, const char *s, size_t *used)
{
	return http_req_feed(r, (const uint8_t *)s, strlen(s), used);
}

static int str_is(const http_str_t *s, const char *want)
{
	return s && s->len == strlen(want) && !memcmp(s->p, want, s->len);
}

#define assert_str(s, want)                                                                        \
	do {                                                                                       \
		if (!str_is((s), (want)))                                                          \
			fail_msg("got '%.*s', want '%s'", (int)(s)->len, (s)->p, (want));          \
	} while (0)

static const char get_req[] = "GET http://Example.org/index.html?x=1#frag HTTP/1.1\r\n"
                              "Host: wrong.example\r\n"
                              "User-Agent: t/1\r\n"
                              "Proxy-Connection: keep-alive\r\n"
                              "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
                              "Connection: X-Foo, keep-alive\r\n"
                              "X-Foo: a\r\n"
                              "TE: trailers\r\n"
                              "Accept:   */*  \r\n"
                              "\r\n";

static const char get_rewritten[] = "GET /index.html?x=1 HTTP/1.1\r\n"
                                    "Host: Example.org\r\n"
                                    "User-Agent: t/1\r\n"
                                    "Accept: */*\r\n"
                                    "\r\n";

static void check_get(const http_req_t *r)
{
	assert_int_equal(r->method, HTTP_GET);
	assert_str(&r->method_str, "GET");
	assert_int_equal(r->form, HTTP_FORM_ABSOLUTE);
	assert_string_equal(r->scheme, "http");
	assert_string_equal(r->host, "Example.org");
	assert_int_equal(r->port, 80);
	assert_str(&r->path, "/index.html?x=1");
	assert_int_equal(r->vmajor, 1);
	assert_int_equal(r->vminor, 1);
	assert_int_equal(r->nhdr, 8);
	assert_true(r->keep_alive);
	assert_false(r->has_body);
	assert_true(http_req_complete(r));
	assert_str(http_req_header(r, "user-agent"), "t/1");
	assert_str(http_req_header(r, "ACCEPT"), "*/*");
	assert_null(http_req_header(r, "cookie"));
}

static void test_get_absolute(void **state)
{
	http_req_t r;
	size_t used;
	char out[2048];
	int n;

	http_req_init(&r);
	assert_int_equal(feed_str(&r, get_req, &used), HTTP_DONE);
	assert_int_equal(used, strlen(get_req));
	check_get(&r);
	n = http_req_rewrite(&r, 0, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal(out, get_rewritten);
	n = http_req_rewrite(&r, HTTP_RW_CLOSE, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_non_null(strstr(out, "\r\nConnection: close\r\n\r\n"));
	assert_int_equal(http_req_rewrite(&r, 0, out, 10), -ENOSPC);
	http_req_free(&r);
}

/* Every prefix is "need more" and consumes everything; every split point
 * gives the same result as one chunk. */
static void test_get_every_split(void **state)
{
	size_t len = strlen(get_req), used;
	http_req_t r;

	for (size_t k = 0; k < len; k++) {
		http_req_init(&r);
		assert_int_equal(http_req_feed(&r, (const uint8_t *)get_req, k, &used), HTTP_MORE);
		assert_int_equal(used, k);
		assert_int_equal(http_req_feed(&r, (const uint8_t *)get_req + k, len - k, &used),
		                 HTTP_DONE);
		assert_int_equal(used, len - k);
		check_get(&r);
		http_req_free(&r);
	}
	/* one byte at a time */
	http_req_init(&r);
	for (size_t k = 0; k < len; k++) {
		http_res_t res = http_req_feed(&r, (const uint8_t *)get_req + k, 1, &used);
		assert_int_equal(used, 1);
		assert_int_equal(res, k + 1 == len ? HTTP_DONE : HTTP_MORE);
	}
	check_get(&r);
	http_req_free(&r);
}

static void test_connect(void **state)
{
	static const char req[] =
	    "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n"
	    "\x16\x03\x01";
	http_req_t r;
	size_t used;

	http_req_init(&r);
	assert_int_equal(feed_str(&r, req, &used), HTTP_DONE);
	assert_int_equal(used, strlen(req) - 3);
	assert_int_equal(r.method, HTTP_CONNECT);
	assert_int_equal(r.form, HTTP_FORM_AUTHORITY);
	assert_string_equal(r.host, "example.org");
	assert_int_equal(r.port, 443);
	assert_false(r.has_body);
	assert_false(r.upgrade);
	assert_true(http_req_complete(&r));

	http_req_reset(&r);
	assert_int_equal(feed_str(&r, "CONNECT [::1]:22 HTTP/1.1\r\n\r\n", &used), HTTP_DONE);
	assert_string_equal(r.host, "::1");
	assert_int_equal(r.port, 22);
	http_req_free(&r);

	static const char *const bad[] = {
	    "CONNECT example.org HTTP/1.1\r\n\r\n", "CONNECT example.org:0 HTTP/1.1\r\n\r\n",
	    "CONNECT a:65536 HTTP/1.1\r\n\r\n",     "CONNECT :80 HTTP/1.1\r\n\r\n",
	    "CONNECT ::1:22 HTTP/1.1\r\n\r\n",      "CONNECT [::1]22 HTTP/1.1\r\n\r\n",
	    "CONNECT a:80x HTTP/1.1\r\n\r\n",       "CONNECT a%20b:80 HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http_req_init(&r);
		if (feed_str(&r, bad[i], &used) != HTTP_ERROR)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(r.status, 400);
		http_req_free(&r);
	}
}

static void test_forms(void **state)
{
	http_req_t r;
	size_t used;
	char out[1024];
	int n;

	http_req_init(&r);
	assert_int_equal(feed_str(&r, "GET /a/b HTTP/1.1\r\nHost: h\r\n\r\n", &used), HTTP_DONE);
	assert_int_equal(r.form, HTTP_FORM_ORIGIN);
	assert_str(&r.target, "/a/b");
	http_req_reset(&r);
	assert_int_equal(feed_str(&r, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &used), HTTP_DONE);
	assert_int_equal(r.form, HTTP_FORM_ASTERISK);
	http_req_reset(&r);
	assert_int_equal(feed_str(&r, "GET https://h.example/ HTTP/1.1\r\n\r\n", &used), HTTP_DONE);
	assert_string_equal(r.scheme, "https");
	assert_int_equal(r.port, 443);
	http_req_reset(&r);
	/* userinfo dropped, port kept in Host, empty path becomes "/" */
	assert_int_equal(feed_str(&r, "GET HTTP://u:p@h.example:8080 HTTP/1.1\r\n\r\n", &used),
	                 HTTP_DONE);
	assert_string_equal(r.scheme, "http");
	assert_string_equal(r.host, "h.example");
	assert_int_equal(r.port, 8080);
	n = http_req_rewrite(&r, 0, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal(out, "GET / HTTP/1.1\r\nHost: h.example:8080\r\n\r\n");
	http_req_reset(&r);
	/* query without a path; IPv6 literal */
	assert_int_equal(feed_str(&r, "GET http://[::1]:81?q=1 HTTP/1.0\r\n\r\n", &used),
	                 HTTP_DONE);
	assert_string_equal(r.host, "::1");
	assert_int_equal(r.port, 81);
	assert_false(r.keep_alive);
	n = http_req_rewrite(&r, HTTP_RW_CLOSE, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal(out,
	                    "GET /?q=1 HTTP/1.0\r\nHost: [::1]:81\r\nConnection: close\r\n\r\n");
	http_req_reset(&r);
	/* HTTP/1.0 keep-alive */
	assert_int_equal(
	    feed_str(&r, "GET http://h/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &used),
	    HTTP_DONE);
	assert_true(r.keep_alive);
	n = http_req_rewrite(&r, 0, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal(out, "GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
	http_req_reset(&r);
	/* leading empty lines are skipped; LF-only lines are accepted */
	assert_int_equal(feed_str(&r, "\r\n\r\nGET http://h/x HTTP/1.1\nA: b\n\n", &used),
	                 HTTP_DONE);
	assert_int_equal(used, strlen("\r\n\r\nGET http://h/x HTTP/1.1\nA: b\n\n"));
	assert_str(http_req_header(&r, "a"), "b");
	http_req_free(&r);
}

static void test_rewrite_rules(void **state)
{
	static const char req[] = "POST http://h/ HTTP/1.1\r\n"
	                          "Connection: close, Transfer-Encoding, Content-Length, X-A\r\n"
	                          "Transfer-Encoding: chunked\r\n"
	                          "X-A: 1\r\n"
	                          "Keep-Alive: 300\r\n"
	                          "Upgrade: websocket\r\n"
	                          "Trailer: X-T\r\n"
	                          "\r\n";
	static const char ws[] = "GET http://h:80/chat HTTP/1.1\r\n"
	                         "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	                         "Sec-WebSocket-Key: x\r\n\r\n";
	http_req_t r;
	size_t used;
	char out[1024];
	int n;

	http_req_init(&r);
	assert_int_equal(feed_str(&r, req, &used), HTTP_DONE);
	assert_true(r.chunked);
	assert_true(r.has_body);
	assert_false(r.keep_alive);
	n = http_req_rewrite(&r, HTTP_RW_CLOSE, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal(out, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	                         "Trailer: X-T\r\nConnection: close\r\n\r\n");
	http_req_reset(&r);
	assert_int_equal(feed_str(&r, ws, &used), HTTP_DONE);
	assert_true(r.upgrade);
	n = http_req_rewrite(&r, HTTP_RW_UPGRADE, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal(out, "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                         "Sec-WebSocket-Key: x\r\nConnection: upgrade\r\n\r\n");
	n = http_req_rewrite(&r, 0, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_null(strstr(out, "pgrade"));
	http_req_free(&r);
}

static void test_body_length(void **state)
{
	static const char msg[] = "POST http://h/p HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
	                          "0123456789GET http://h/ HTTP/1.1\r\n\r\n";
	size_t head = strlen("POST http://h/p HTTP/1.1\r\nContent-Length: 10\r\n\r\n");
	size_t len = strlen(msg);

	for (size_t step = 1; step <= 7; step += 3) {
		http_req_t r;
		size_t off, used;
		http_res_t res = HTTP_MORE;

		http_req_init(&r);
		assert_int_equal(http_req_feed(&r, (const uint8_t *)msg, len, &used), HTTP_DONE);
		assert_int_equal(used, head);
		assert_true(r.has_body);
		assert_int_equal(r.content_length, 10);
		assert_false(http_req_complete(&r));
		for (off = head; off < len && res == HTTP_MORE; off += used) {
			size_t n = len - off < step ? len - off : step;
			res = http_req_body(&r, (const uint8_t *)msg + off, n, &used);
		}
		assert_int_equal(res, HTTP_DONE);
		assert_int_equal(off, head + 10);
		assert_true(http_req_complete(&r));
		/* the pipelined request is next */
		http_req_reset(&r);
		assert_int_equal(http_req_feed(&r, (const uint8_t *)msg + off, len - off, &used),
		                 HTTP_DONE);
		assert_int_equal(off + used, len);
		assert_int_equal(r.method, HTTP_GET);
		http_req_free(&r);
	}
}

static void test_body_chunked(void **state)
{
	static const char head[] = "PUT http://h/p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char body[] = "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n"
	                           "0\r\nX-Trailer: yes\r\n\r\n";
	static const char next[] = "GET http://h/ HTTP/1.1\r\n\r\n";
	char msg[512];
	size_t len, used, off;
	http_req_t r;
	http_res_t res = HTTP_MORE;

	snprintf(msg, sizeof(msg), "%s%s%s", head, body, next);
	len = strlen(msg);
	http_req_init(&r);
	assert_int_equal(http_req_feed(&r, (const uint8_t *)msg, len, &used), HTTP_DONE);
	assert_int_equal(used, strlen(head));
	assert_true(r.chunked);
	assert_int_equal(r.nhdr, 1);
	/* byte by byte: the trailer must not be taken as headers */
	for (off = used; off < len && res == HTTP_MORE; off += used)
		res = http_req_body(&r, (const uint8_t *)msg + off, 1, &used);
	assert_int_equal(res, HTTP_DONE);
	assert_int_equal(off, strlen(head) + strlen(body));
	assert_int_equal(r.nhdr, 1);
	assert_int_equal(http_req_body(&r, (const uint8_t *)"x", 1, &used), HTTP_DONE);
	assert_int_equal(used, 0);
	/* all at once */
	http_req_reset(&r);
	assert_int_equal(http_req_feed(&r, (const uint8_t *)msg, len, &used), HTTP_DONE);
	off = used;
	assert_int_equal(http_req_body(&r, (const uint8_t *)msg + off, len - off, &used),
	                 HTTP_DONE);
	assert_int_equal(used, strlen(body));
	/* a bad chunk size */
	http_req_reset(&r);
	assert_int_equal(feed_str(&r, head, &used), HTTP_DONE);
	assert_int_equal(http_req_body(&r, (const uint8_t *)"zz\r\n", 4, &used), HTTP_ERROR);
	assert_int_equal(r.status, 400);
	http_req_free(&r);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = 0;
	return s;
}

static http_res_t feed_pieces(http_req_t *r, const char *s, size_t piece)
{
	size_t len = strlen(s), off = 0, used;
	http_res_t res = HTTP_MORE;

	while (off < len && res == HTTP_MORE) {
		size_t n = len - off < piece ? len - off : piece;
		res = http_req_feed(r, (const uint8_t *)s + off, n, &used);
		off += used;
	}
	return res;
}

static void test_limits(void **state)
{
	char *big = repeat('a', 64 * 1024), *line = repeat('b', HTTP_LINE_MAX - 40);
	char *msg = malloc(200 * 1024);
	size_t pieces[] = {1000, 65536 * 2};
	http_req_t r;

	assert_non_null(msg);
	for (size_t p = 0; p < 2; p++) {
		/* a 64 KiB header line */
		snprintf(msg, 200 * 1024, "GET http://h/ HTTP/1.1\r\nX-Big: %s\r\n\r\n", big);
		http_req_init(&r);
		assert_int_equal(feed_pieces(&r, msg, pieces[p]), HTTP_ERROR);
		assert_int_equal(r.status, 431);
		http_req_free(&r);
		/* a 64 KiB request target */
		snprintf(msg, 200 * 1024, "GET http://h/%s HTTP/1.1\r\n\r\n", big);
		http_req_init(&r);
		assert_int_equal(feed_pieces(&r, msg, pieces[p]), HTTP_ERROR);
		assert_int_equal(r.status, 414);
		http_req_free(&r);
		/* a 64 KiB line without any LF at all */
		snprintf(msg, 200 * 1024, "GET /%s", big);
		http_req_init(&r);
		assert_int_equal(feed_pieces(&r, msg, pieces[p]), HTTP_ERROR);
		assert_int_equal(r.status, 414);
		http_req_free(&r);
		/* garbage: refused as soon as it is seen, or by the line limit */
		http_req_init(&r);
		assert_int_equal(feed_pieces(&r, big, pieces[p]), HTTP_ERROR);
		assert_true(r.status == 400 || r.status == 414);
		http_req_free(&r);
	}
	/* a line just under the limit is fine */
	snprintf(msg, 200 * 1024, "GET http://h/ HTTP/1.1\r\nX-L: %s\r\n\r\n", line);
	http_req_init(&r);
	assert_int_equal(feed_pieces(&r, msg, 4096), HTTP_DONE);
	assert_int_equal(http_req_header(&r, "x-l")->len, strlen(line));
	http_req_free(&r);
	/* many long lines: the head limit */
	strcpy(msg, "GET http://h/ HTTP/1.1\r\n");
	for (int i = 0; i < 9; i++)
		snprintf(msg + strlen(msg), 200 * 1024 - strlen(msg), "X-%d: %s\r\n", i, line);
	strcat(msg, "\r\n");
	http_req_init(&r);
	assert_int_equal(feed_pieces(&r, msg, 3000), HTTP_ERROR);
	assert_int_equal(r.status, 431);
	http_req_free(&r);
	/* 100 headers pass, 101 do not */
	for (int n = 100; n <= 101; n++) {
		strcpy(msg, "GET http://h/ HTTP/1.1\r\n");
		for (int i = 0; i < n; i++)
			snprintf(msg + strlen(msg), 200 * 1024 - strlen(msg), "X-%d: v\r\n", i);
		strcat(msg, "\r\n");
		http_req_init(&r);
		if (n == 100) {
			assert_int_equal(feed_pieces(&r, msg, 100), HTTP_DONE);
			assert_int_equal(r.nhdr, 100);
		} else {
			assert_int_equal(feed_pieces(&r, msg, 100), HTTP_ERROR);
			assert_int_equal(r.status, 431);
		}
		http_req_free(&r);
	}
	free(big);
	free(line);
	free(msg);
}

static void test_bad_requests(void **state)
{
	static const struct {
		const char *req;
		int status;
	} v[] = {
	    {"GET http://h/ HTTP/2.0\r\n\r\n", 505},
	    {"GET http://h/ HTTP/0.9\r\n\r\n", 505},
	    {"GET http://h/ HTTP/1.x\r\n\r\n", 400},
	    {"GET http://h/ HTTP/11.1\r\n\r\n", 400},
	    {"GET http://h/ HTP/1.1\r\n\r\n", 400},
	    {"GET http://h/\r\n\r\n", 505}, /* HTTP/0.9 */
	    {"GET http://h/ HTTP/1.1 x\r\n\r\n", 400},
	    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
	    {"GET http://h/ HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400},
	    {"GET http://h/ HTTP/1.1\r\nA b\r\n\r\n", 400},
	    {"GET http://h/ HTTP/1.1\r\nA\r: b\r\n\r\n", 400},
	    {"GET http://h/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
	    {"GET http://h/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
	    {"POST http://h/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	     400},
	    {"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
	    {"GET http://h:99999/ HTTP/1.1\r\n\r\n", 400},
	    {"GET http://h:/ HTTP/1.1\r\n\r\n", -1}, /* empty port: default */
	    {"GET ftp2://h/ HTTP/1.1\r\n\r\n", -1},  /* unknown scheme, no port: refused */
	    {"GET h:80/ HTTP/1.1\r\n\r\n", 400},
	    {"GET http://h/ HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400},
	};
	http_req_t r;
	size_t used;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		http_res_t res;
		http_req_init(&r);
		res = feed_str(&r, v[i].req, &used);
		if (v[i].status < 0) {
			if (!strncmp(v[i].req, "GET http://h:/", 14)) {
				assert_int_equal(res, HTTP_DONE);
				assert_int_equal(r.port, 80);
			} else {
				assert_int_equal(res, HTTP_ERROR);
			}
		} else {
			if (res != HTTP_ERROR || r.status != v[i].status)
				fail_msg("case %zu: res %d status %d, want %d", i, res, r.status,
				         v[i].status);
			assert_non_null(r.error);
			/* stays in error */
			assert_int_equal(feed_str(&r, "x", &used), HTTP_ERROR);
		}
		http_req_free(&r);
	}
	/* the NUL case: feed with an explicit length */
	http_req_init(&r);
	assert_int_equal(http_req_feed(&r, (const uint8_t *)"G\0T / HTTP/1.1\r\n\r\n", 18, &used),
	                 HTTP_ERROR);
	http_req_free(&r);
}

/* ---- responses ---- */

static http_res_t resp_str(http_resp_t *r, const char *s, size_t *used)
{
	return http_resp_feed(r, (const uint8_t *)s, strlen(s), used);
}

static void test_response_lengths(void **state)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	char two[256];
	http_resp_t r;
	size_t used, len = strlen(ok);

	/* every split, with a second response behind it */
	snprintf(two, sizeof(two), "%sHTTP/1.1 204 No Content\r\n\r\n", ok);
	for (size_t k = 0; k <= len; k++) {
		http_resp_init(&r, HTTP_GET);
		if (k) {
			assert_int_equal(http_resp_feed(&r, (const uint8_t *)two, k, &used),
			                 k == len ? HTTP_DONE : HTTP_MORE);
			assert_int_equal(used, k);
		}
		if (k < len) {
			assert_int_equal(resp_str(&r, two + k, &used), HTTP_DONE);
			assert_int_equal(used, len - k);
		}
		assert_int_equal(r.status, 200);
		assert_true(r.keep_alive);
		assert_false(r.until_eof);
	}
	/* HEAD: no body whatever the headers say */
	http_resp_init(&r, HTTP_HEAD);
	assert_int_equal(resp_str(&r, ok, &used), HTTP_DONE);
	assert_int_equal(used, len - 5);
	/* 204 and 304 */
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(
	    resp_str(&r, "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nX", &used),
	    HTTP_DONE);
	assert_int_equal(used, strlen("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"));
	/* chunked */
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(resp_str(&r,
	                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                          "3\r\nabc\r\n0\r\n\r\nNEXT",
	                          &used),
	                 HTTP_DONE);
	assert_int_equal(used, strlen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                              "3\r\nabc\r\n0\r\n\r\n"));
	/* HTTP/1.0 closes unless asked not to */
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(resp_str(&r, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", &used),
	                 HTTP_DONE);
	assert_false(r.keep_alive);
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(
	    resp_str(&r, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	             &used),
	    HTTP_DONE);
	assert_false(r.keep_alive);
}

static void test_response_special(void **state)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n"
	                           "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx";
	http_resp_t r;
	size_t used, off;
	http_res_t res = HTTP_MORE;

	/* 1xx are passed over */
	http_resp_init(&r, HTTP_POST);
	for (off = 0; off < strlen(cont) && res == HTTP_MORE; off += used)
		res = http_resp_feed(&r, (const uint8_t *)cont + off, 1, &used);
	assert_int_equal(res, HTTP_DONE);
	assert_int_equal(off, strlen(cont));
	assert_int_equal(r.status, 201);
	assert_int_equal(r.interim, 1);
	/* close-delimited */
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(resp_str(&r, "HTTP/1.1 200 OK\r\n\r\nsome body", &used), HTTP_MORE);
	assert_true(r.until_eof);
	assert_int_equal(http_resp_eof(&r), HTTP_DONE);
	assert_false(r.keep_alive);
	/* truncated */
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(resp_str(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", &used),
	                 HTTP_MORE);
	assert_int_equal(http_resp_eof(&r), HTTP_ERROR);
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(http_resp_eof(&r), HTTP_ERROR);
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(resp_str(&r, "HTTP/1.1 200 OK\r\nContent-", &used), HTTP_MORE);
	assert_int_equal(http_resp_eof(&r), HTTP_ERROR);
	/* garbage */
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(resp_str(&r, "SSH-2.0-OpenSSH_9.2\r\n", &used), HTTP_ERROR);
	assert_non_null(r.error);
	/* CONNECT: the response ends with its head, whatever the status */
	http_resp_init(&r, HTTP_CONNECT);
	assert_int_equal(resp_str(&r,
	                          "HTTP/1.0 200 Connection established\r\n"
	                          "Proxy-agent: x\r\n\r\nSSH-2.0-x\r\n",
	                          &used),
	                 HTTP_DONE);
	assert_int_equal(used,
	                 strlen("HTTP/1.0 200 Connection established\r\nProxy-agent: x\r\n\r\n"));
	assert_true(r.upgrade);
	http_resp_init(&r, HTTP_CONNECT);
	assert_int_equal(resp_str(&r,
	                          "HTTP/1.1 407 Proxy Authentication Required\r\n"
	                          "Content-Length: 4\r\n\r\nnope",
	                          &used),
	                 HTTP_DONE);
	assert_int_equal(r.status, 407);
	assert_false(r.upgrade);
	/* 101 */
	http_resp_init(&r, HTTP_GET);
	assert_int_equal(resp_str(&r,
	                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                          "Connection: Upgrade\r\n\r\n\x81\x05",
	                          &used),
	                 HTTP_DONE);
	assert_true(r.upgrade);
	assert_int_equal(r.status, 101);
}

/* ---- credentials, pages ---- */

static void test_base64(void **state)
{
	static const char *const vec[][2] = {{"", ""},
	                                     {"f", "Zg=="},
	                                     {"fo", "Zm8="},
	                                     {"foo", "Zm9v"},
	                                     {"foob", "Zm9vYg=="},
	                                     {"fooba", "Zm9vYmE="},
	                                     {"foobar", "Zm9vYmFy"}};
	static const char *const bad[] = {"Zg=a", "Z===", "Zm9", "Zm9v!AAA", "=AAA", "Zg==Zg=="};
	char enc[64];
	uint8_t dec[64];

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		int n = (int)b64_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), enc);
		assert_int_equal(n, strlen(vec[i][1]));
		assert_string_equal(enc, vec[i][1]);
		n = b64_decode_strict(vec[i][1], strlen(vec[i][1]), dec, sizeof(dec));
		assert_int_equal(n, strlen(vec[i][0]));
		assert_memory_equal(dec, vec[i][0], (size_t)n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_true(b64_decode_strict(bad[i], strlen(bad[i]), dec, sizeof(dec)) < 0);
	assert_true(b64_decode_strict("Zm9vYmFy", 8, dec, 5) < 0);
	assert_int_equal(http_basic_encode("a", "b", enc, 6 + 4), -ENOSPC);
	assert_int_equal(http_basic_encode("a", "b", enc, 6 + 5), 10);
	assert_string_equal(enc, "Basic YTpi");
}

static void test_basic(void **state)
{
	char hdr[128];
	http_str_t v;

	assert_int_equal(http_basic_encode("user", "pass", hdr, sizeof(hdr)), 18);
	assert_string_equal(hdr, "Basic dXNlcjpwYXNz");
	v = (http_str_t){hdr, strlen(hdr)};
	assert_true(http_basic_check(&v, "user", "pass"));
	assert_false(http_basic_check(&v, "user", "pasS"));
	assert_false(http_basic_check(&v, "user", "pas"));
	assert_false(http_basic_check(&v, "use", "rpass"));
	assert_false(http_basic_check(&v, "user", "passs"));
	v = (http_str_t){"basic   dXNlcjpwYXNz ", 21};
	assert_true(http_basic_check(&v, "user", "pass"));
	v = (http_str_t){"Bearer dXNlcjpwYXNz", 19};
	assert_false(http_basic_check(&v, "user", "pass"));
	v = (http_str_t){"Basic", 5};
	assert_false(http_basic_check(&v, "user", "pass"));
	v = (http_str_t){"Basic dXNlcjpwYXN", 17};
	assert_false(http_basic_check(&v, "user", "pass"));
	assert_false(http_basic_check(NULL, "user", "pass"));
	/* a colon in the password is fine */
	assert_true(http_basic_encode("u", "a:b", hdr, sizeof(hdr)) > 0);
	v = (http_str_t){hdr, strlen(hdr)};
	assert_true(http_basic_check(&v, "u", "a:b"));
	assert_int_equal(http_basic_encode("user", "pass", hdr, 10), -ENOSPC);
}

static void test_error_page(void **state)
{
	char out[8192], esc[64];
	const char *body;
	int n;

	assert_int_equal(http_html_escape("a<b>&\"'", esc, sizeof(esc)), 26);
	assert_string_equal(esc, "a&lt;b&gt;&amp;&quot;&#39;");
	assert_int_equal(http_html_escape("<<<<", esc, 10), 8);
	assert_string_equal(esc, "&lt;&lt;");
	n = http_error_response(502, NULL, "Could not connect to <evil>:80: connection refused", 0,
	                        out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(strncmp(out, "HTTP/1.1 502 Bad Gateway\r\n", 26), 0);
	assert_non_null(strstr(out, "&lt;evil&gt;:80: connection refused"));
	assert_null(strstr(out, "<evil>"));
	body = strstr(out, "\r\n\r\n") + 4;
	{
		char want[64];
		snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body));
		assert_non_null(strstr(out, want));
	}
	n = http_error_response(407, "Proxy-Authenticate: Basic realm=\"sluice\"\r\n", "auth", 1,
	                        out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "\r\nProxy-Authenticate: Basic realm=\"sluice\"\r\n\r\n"));
	assert_int_equal(out[n - 1], '\n');
	assert_int_equal(strncmp(out + n - 4, "\r\n\r\n", 4), 0);
	assert_int_equal(http_error_response(400, NULL, "x", 0, out, 100), -ENOSPC);
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_absolute),
	    cmocka_unit_test(test_get_every_split),
	    cmocka_unit_test(test_connect),
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_rewrite_rules),
	    cmocka_unit_test(test_body_length),
	    cmocka_unit_test(test_body_chunked),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_response_lengths),
	    cmocka_unit_test(test_response_special),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_error_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
