/* test_ws_frame: the frame codec of tunnel/ws/ws_frame.h.
 *
 * The examples of RFC 6455 section 5.7, byte for byte, both ways; masking
 * at every length and payload offset against a byte loop; headers and
 * masked frames against what libwslay (Debian's libwslay, the library the
 * connection used before) sends for the same payload and key, and frames
 * libwslay sends parsed back; the framing errors wslay's frame layer
 * refuses; the connection rules of ws_frame_check; UTF-8 against the
 * classic cases, in pieces.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <wslay/wslay.h>

#include "tunnel/ws/ws_frame.h"

static const uint8_t rfc_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Parse a whole frame: header, then the payload unmasked into pl. */
static int parse_all(const uint8_t *b, size_t n, ws_frame_t *f, uint8_t *pl)
{
	int h = ws_frame_parse(b, n, f);

	if (h <= 0)
		return h;
	assert_true((size_t)h + f->len <= n);
	if (f->masked)
		ws_mask_copy(pl, b + h, (size_t)f->len, f->key, 0);
	else
		memcpy(pl, b + h, (size_t)f->len);
	return h;
}

static void test_rfc_examples(void **st)
{
	static const uint8_t hello_plain[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	static const uint8_t hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                                       0x7f, 0x9f, 0x4d, 0x51, 0x58};
	static const uint8_t frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
	static const uint8_t frag2[] = {0x80, 0x02, 0x6c, 0x6f};
	static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                               0x7f, 0x9f, 0x4d, 0x51, 0x58};
	uint8_t out[WS_HDR_MAX + 70000], pl[70000];
	ws_frame_t f;
	size_t h;

	/* parse */
	assert_int_equal(parse_all(hello_plain, sizeof(hello_plain), &f, pl), 2);
	assert_int_equal(f.fin, 1);
	assert_int_equal(f.opcode, WS_OP_TEXT);
	assert_int_equal(f.masked, 0);
	assert_int_equal(f.len, 5);
	assert_memory_equal(pl, "Hello", 5);
	assert_int_equal(parse_all(hello_masked, sizeof(hello_masked), &f, pl), 6);
	assert_int_equal(f.masked, 1);
	assert_memory_equal(f.key, rfc_key, 4);
	assert_memory_equal(pl, "Hello", 5);
	assert_int_equal(parse_all(frag1, sizeof(frag1), &f, pl), 2);
	assert_int_equal(f.fin, 0);
	assert_int_equal(f.opcode, WS_OP_TEXT);
	assert_memory_equal(pl, "Hel", 3);
	assert_int_equal(parse_all(frag2, sizeof(frag2), &f, pl), 2);
	assert_int_equal(f.fin, 1);
	assert_int_equal(f.opcode, WS_OP_CONT);
	assert_memory_equal(pl, "lo", 2);
	assert_int_equal(parse_all(ping, sizeof(ping), &f, pl), 2);
	assert_int_equal(f.opcode, WS_OP_PING);
	assert_int_equal(parse_all(pong, sizeof(pong), &f, pl), 6);
	assert_int_equal(f.opcode, WS_OP_PONG);
	assert_memory_equal(pl, "Hello", 5);

	/* build: the same bytes */
	h = ws_frame_header(out, WS_OP_TEXT, 5, NULL);
	memcpy(out + h, "Hello", 5);
	assert_int_equal(h + 5, sizeof(hello_plain));
	assert_memory_equal(out, hello_plain, sizeof(hello_plain));
	h = ws_frame_header(out, WS_OP_TEXT, 5, rfc_key);
	ws_mask_copy(out + h, (const uint8_t *)"Hello", 5, rfc_key, 0);
	assert_memory_equal(out, hello_masked, sizeof(hello_masked));
	h = ws_frame_header(out, WS_OP_PONG, 5, rfc_key);
	memcpy(out + h, "Hello", 5);
	ws_mask(out + h, 5, rfc_key, 0);
	assert_memory_equal(out, pong, sizeof(pong));

	/* 256 bytes: a 16-bit length; 64 KiB: a 64-bit one */
	assert_int_equal(ws_frame_header(out, WS_OP_BINARY, 256, NULL), 4);
	assert_memory_equal(out, "\x82\x7e\x01\x00", 4);
	assert_int_equal(ws_frame_header_len(256, 0), 4);
	assert_int_equal(ws_frame_header(out, WS_OP_BINARY, 65536, NULL), 10);
	assert_memory_equal(out, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(ws_frame_header_len(65536, 1), 14);
	assert_int_equal(ws_frame_header_len(125, 1), 6);
	assert_int_equal(ws_frame_header_len(65535, 0), 4);
	memset(out + 10, 0xab, 65536);
	assert_int_equal(ws_frame_parse(out, 10 + 65536, &f), 10);
	assert_int_equal(f.len, 65536);
	assert_int_equal(f.opcode, WS_OP_BINARY);
}

/* Every prefix of a header is "more", never a wrong answer. */
static void test_partial_headers(void **st)
{
	uint8_t b[WS_HDR_MAX];
	ws_frame_t f;
	uint64_t lens[] = {0, 125, 126, 65535, 65536, 1ull << 40};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (int m = 0; m < 2; m++) {
			size_t h = ws_frame_header(b, WS_OP_BINARY, lens[i], m ? rfc_key : NULL);

			for (size_t n = 0; n < h; n++)
				assert_int_equal(ws_frame_parse(b, n, &f), 0);
			assert_int_equal(ws_frame_parse(b, h, &f), (int)h);
			assert_true(f.len == lens[i]);
			assert_int_equal(f.masked, m);
		}
}

static void test_framing_errors(void **st)
{
	static const struct {
		uint8_t b[WS_HDR_MAX];
		size_t n;
	} bad[] = {
	    {{0x82, 0x7e, 0x00, 0x7d}, 4},                    /* 125 in 16 bits */
	    {{0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 10}, /* 65535 in 64 bits */
	    {{0x82, 0x7f, 0x80, 0, 0, 0, 0, 1, 0, 0}, 10},    /* the top bit */
	    {{0x89, 0x7e, 0x00, 0x7e}, 4},                    /* a ping of 126 */
	    {{0x09, 0x01}, 2},                                /* a fragmented ping */
	    {{0x88, 0xfe, 0x00, 0x80, 1, 2, 3, 4}, 8},        /* a long close */
	    {{0x0a, 0x80, 1, 2, 3, 4}, 6},                    /* a fragmented pong */
	};
	ws_frame_t f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ws_frame_parse(bad[i].b, bad[i].n, &f), -EPROTO);
}

static void test_check(void **st)
{
	ws_frame_t f = {.fin = 1, .opcode = WS_OP_BINARY, .masked = 1};

	assert_int_equal(ws_frame_check(&f, 1, 0), 0);
	assert_int_equal(ws_frame_check(&f, 0, 0), -EPROTO); /* a masked frame to a client */
	f.masked = 0;
	assert_int_equal(ws_frame_check(&f, 1, 0), -EPROTO); /* unmasked from a client */
	assert_int_equal(ws_frame_check(&f, 0, 0), 0);
	assert_int_equal(ws_frame_check(&f, 0, 1), -EPROTO); /* a new message inside one */
	f.opcode = WS_OP_CONT;
	assert_int_equal(ws_frame_check(&f, 0, 0), -EPROTO); /* a continuation first */
	assert_int_equal(ws_frame_check(&f, 0, 1), 0);
	f.opcode = WS_OP_PING;
	assert_int_equal(ws_frame_check(&f, 0, 1), 0); /* control frames between fragments */
	for (int op = 3; op < 16; op++) {
		f.opcode = (uint8_t)op;
		if (op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
			assert_int_equal(ws_frame_check(&f, 0, 0), -EPROTO);
	}
	f.opcode = WS_OP_TEXT;
	for (int rsv = 1; rsv < 8; rsv++) {
		f.rsv = (uint8_t)rsv;
		assert_int_equal(ws_frame_check(&f, 0, 0), -EPROTO);
	}
}

/* Masking in place and while copying, at every length up to 200 and
 * every payload offset, at odd alignments, against a byte loop. */
static void test_mask(void **st)
{
	uint8_t src[300], a[300], b[300], ref[300];
	const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 37 + 11);
	for (size_t align = 0; align < 4; align++)
		for (size_t n = 0; n <= 200; n++)
			for (uint64_t at = 0; at < 9; at++) {
				for (size_t i = 0; i < n; i++)
					ref[i] = src[i] ^ key[(at + i) % 4];
				memcpy(a + align, src, n);
				ws_mask(a + align, n, key, at);
				assert_memory_equal(a + align, ref, n);
				memset(b, 0, sizeof(b));
				ws_mask_copy(b + align, src + 3 - align, 0, key, at); /* nothing */
				ws_mask_copy(b + align, src, n, key, at);
				assert_memory_equal(b + align, ref, n);
				if (n + align < sizeof(b))
					assert_int_equal(b[align + n], 0); /* not past the end */
			}
	/* a payload unmasked in pieces is the payload unmasked at once */
	memcpy(a, src, 200);
	ws_mask(a, 200, key, 0);
	memcpy(b, src, 200);
	ws_mask(b, 7, key, 0);
	ws_mask(b + 7, 50, key, 7);
	ws_mask(b + 57, 143, key, 57);
	assert_memory_equal(a, b, 200);
}

/* ---- against libwslay ---- */

typedef struct wire {
	uint8_t *p;
	size_t len, cap, rd;
	uint8_t key[4];
} wire_t;

static ssize_t w_send(const uint8_t *data, size_t len, int flags, void *ud)
{
	wire_t *w = ud;

	assert_true(w->len + len <= w->cap);
	memcpy(w->p + w->len, data, len);
	w->len += len;
	return (ssize_t)len;
}

static ssize_t w_recv(uint8_t *buf, size_t len, int flags, void *ud)
{
	wire_t *w = ud;
	size_t n = w->len - w->rd < len ? w->len - w->rd : len;

	memcpy(buf, w->p + w->rd, n);
	w->rd += n;
	return n ? (ssize_t)n : -1;
}

static int w_genmask(uint8_t *buf, size_t len, void *ud)
{
	memcpy(buf, ((wire_t *)ud)->key, len);
	return 0;
}

static const struct wslay_frame_callbacks wcbs = {w_send, w_recv, w_genmask};

static void test_against_wslay(void **st)
{
	static const size_t lens[] = {0, 1, 5, 125, 126, 127, 1000, 65535, 65536, 70001};
	size_t cap = WS_HDR_MAX + 70001;
	uint8_t *pl = malloc(70001), *ours = malloc(cap), *got = malloc(70001);
	wire_t w = {.p = malloc(cap), .cap = cap};
	wslay_frame_context_ptr ctx;

	for (size_t i = 0; i < 70001; i++)
		pl[i] = (uint8_t)(i * 13 + 5);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (int m = 0; m < 2; m++) {
			size_t n = lens[i], h;
			int op = n <= 125 && (i & 1) ? WS_OP_PING : WS_OP_BINARY;
			struct wslay_frame_iocb io = {.fin = 1,
			                              .opcode = (uint8_t)op,
			                              .mask = (uint8_t)m,
			                              .payload_length = n,
			                              .data = pl,
			                              .data_length = n};
			ws_frame_t f;
			size_t got_len = 0;

			/* a fresh context each time: wslay's keeps masking once it
			 * has masked a frame, a context serves one side */
			assert_int_equal(wslay_frame_context_init(&ctx, &wcbs, &w), 0);
			w.len = w.rd = 0;
			w.key[0] = (uint8_t)(i * 3 + 1);
			w.key[1] = (uint8_t)(i * 5 + 2);
			w.key[2] = 0x80;
			w.key[3] = (uint8_t)i;
			assert_int_equal(wslay_frame_send(ctx, &io), (ssize_t)n);
			/* ours: the same bytes for the same payload and key */
			h = ws_frame_header(ours, op, n, m ? w.key : NULL);
			memcpy(ours + h, pl, n);
			if (m)
				ws_mask(ours + h, n, w.key, 0);
			assert_int_equal(h + n, w.len);
			assert_memory_equal(ours, w.p, w.len);
			/* wslay's frame, parsed and unmasked by us */
			assert_int_equal(parse_all(w.p, w.len, &f, got), (int)h);
			assert_int_equal(f.opcode, op);
			assert_true(f.len == n);
			assert_memory_equal(got, pl, n);
			/* ours, parsed by wslay */
			memcpy(w.p, ours, h + n);
			w.rd = 0;
			while (got_len < n || (!n && !got_len)) {
				struct wslay_frame_iocb r = {0};
				ssize_t k = wslay_frame_recv(ctx, &r);

				assert_true(k >= 0);
				assert_int_equal(r.opcode, op);
				assert_int_equal(r.mask, m);
				memcpy(got + got_len, r.data, r.data_length);
				got_len += r.data_length;
				if (!n)
					break;
			}
			assert_memory_equal(got, pl, n);
			wslay_frame_context_free(ctx);
		}
	free(w.p);
	free(pl);
	free(ours);
	free(got);
}

/* ---- UTF-8 ---- */

static int utf8_ok(const char *s, size_t n, size_t piece)
{
	uint32_t st = WS_UTF8_OK;

	for (size_t off = 0; off < n; off += piece)
		ws_utf8(&st, (const uint8_t *)s + off, n - off < piece ? n - off : piece);
	return st == WS_UTF8_OK;
}

static void test_utf8(void **st)
{
	static const struct {
		const char *s;
		size_t n;
		int ok;
	} cases[] = {
	    {"", 0, 1},
	    {"plain ascii, long enough for the word loop", 43, 1},
	    {"\xc3\xa9t\xc3\xa9", 6, 1}, /* été */
	    {"\xe2\x82\xac", 3, 1},      /* € */
	    {"\xf0\x9f\x98\x80", 4, 1},  /* U+1F600 */
	    {"\xf4\x8f\xbf\xbf", 4, 1},  /* U+10FFFF */
	    {"\xed\x9f\xbf", 3, 1},      /* U+D7FF */
	    {"\xee\x80\x80", 3, 1},      /* U+E000 */
	    {"\xf4\x90\x80\x80", 4, 0},  /* U+110000 */
	    {"\xed\xa0\x80", 3, 0},      /* a surrogate */
	    {"\xc0\xaf", 2, 0},          /* overlong / */
	    {"\xe0\x80\xaf", 3, 0},      /* overlong / */
	    {"\xf0\x80\x80\xaf", 4, 0},  /* overlong / */
	    {"\xc2", 1, 0},              /* cut short */
	    {"\xe2\x82", 2, 0},          /* cut short */
	    {"\x80", 1, 0},              /* a lone continuation */
	    {"\xff", 1, 0},              /* never in UTF-8 */
	    {"ok\xc3\x28", 4, 0},        /* a bad continuation */
	    {"abcdefgh\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 19, 1}, /* κόσμε */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t piece = 1; piece <= 20; piece++)
			assert_int_equal(utf8_ok(cases[i].s, cases[i].n, piece), cases[i].ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc_examples),   cmocka_unit_test(test_partial_headers),
	    cmocka_unit_test(test_framing_errors), cmocka_unit_test(test_check),
	    cmocka_unit_test(test_mask),           cmocka_unit_test(test_against_wslay),
	    cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
