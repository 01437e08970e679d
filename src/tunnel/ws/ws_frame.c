/* ws_frame: see ws_frame.h. */
#include "tunnel/ws/ws_frame.h"

#include <errno.h>
#include <string.h>

#include "core/bytes.h"

int ws_frame_parse(const uint8_t *buf, size_t len, ws_frame_t *f)
{
	size_t ext, need;
	uint64_t pl;

	if (len < 2)
		return 0;
	pl = buf[1] & 0x7f;
	/* each rule is applied as soon as its bytes are here */
	if (ws_is_control(buf[0] & 0x0f) && (!(buf[0] & 0x80) || pl > WS_CTRL_MAX))
		return -EPROTO;
	ext = pl == 126 ? 2 : pl == 127 ? 8 : 0;
	if (len < 2 + ext)
		return 0;
	if (pl == 126) {
		pl = get_be16(buf + 2);
		if (pl < 126)
			return -EPROTO; /* not the shortest form */
	} else if (pl == 127) {
		pl = get_be64(buf + 2);
		if (pl >> 63 || pl < 65536)
			return -EPROTO;
	}
	need = 2 + ext + (buf[1] & 0x80 ? 4 : 0);
	if (len < need)
		return 0;
	f->fin = buf[0] >> 7;
	f->rsv = (buf[0] >> 4) & 7;
	f->opcode = buf[0] & 0x0f;
	f->masked = buf[1] >> 7;
	f->len = pl;
	if (f->masked)
		memcpy(f->key, buf + need - 4, 4);
	else
		memset(f->key, 0, 4);
	return (int)need;
}

int ws_frame_check(const ws_frame_t *f, int from_client, int in_msg)
{
	if (f->rsv || f->masked != !!from_client)
		return -EPROTO;
	switch (f->opcode) {
	case WS_OP_CONT:
		return in_msg ? 0 : -EPROTO;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		return in_msg ? -EPROTO : 0;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		return 0;
	default:
		return -EPROTO;
	}
}

size_t ws_frame_header(uint8_t out[WS_HDR_MAX], int opcode, uint64_t len, const uint8_t *key)
{
	uint8_t m = key ? 0x80 : 0;
	size_t i;

	out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)(m | len);
		i = 2;
	} else if (len < 65536) {
		out[1] = m | 126;
		put_be16(out + 2, (uint16_t)len);
		i = 4;
	} else {
		out[1] = m | 127;
		put_be64(out + 2, len);
		i = 10;
	}
	if (key) {
		memcpy(out + i, key, 4);
		i += 4;
	}
	return i;
}

/* Sixteen bytes at a time: GCC's and clang's vector extension, SSE2 on
 * x86-64 (part of the base instruction set), plain words elsewhere.  The
 * key repeats every 4 bytes, so a 16-byte key block lines up with any
 * payload offset that is a multiple of 16 from where it starts. */
typedef uint8_t v16_t __attribute__((vector_size(16)));

static v16_t key_block(const uint8_t key[4], uint64_t at, uint8_t k[16])
{
	v16_t kv;

	for (int i = 0; i < 16; i++)
		k[i] = key[(at + (uint64_t)i) & 3];
	memcpy(&kv, k, 16);
	return kv;
}

void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], uint64_t at)
{
	uint8_t k[16];
	v16_t kv = key_block(key, at, k), a, b, c, d;
	size_t i = 0;

	for (; i + 64 <= n; i += 64) {
		memcpy(&a, src + i, 16);
		memcpy(&b, src + i + 16, 16);
		memcpy(&c, src + i + 32, 16);
		memcpy(&d, src + i + 48, 16);
		a ^= kv;
		b ^= kv;
		c ^= kv;
		d ^= kv;
		memcpy(dst + i, &a, 16);
		memcpy(dst + i + 16, &b, 16);
		memcpy(dst + i + 32, &c, 16);
		memcpy(dst + i + 48, &d, 16);
	}
	for (; i + 16 <= n; i += 16) {
		memcpy(&a, src + i, 16);
		a ^= kv;
		memcpy(dst + i, &a, 16);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ k[i & 15];
}

void ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t at)
{
	ws_mask_copy(p, p, n, key, at); /* each block is read before it is written */
}

/* UTF-8 (RFC 3629): the state inside a character is 2 | need << 2 |
 * lo << 8 | hi << 16: continuation bytes still needed, and the range the
 * next one must be in (narrower after E0, ED, F0 and F4, which keeps out
 * overlong forms, surrogates and code points past U+10FFFF). */
static uint32_t utf8_lead(uint8_t b)
{
	uint32_t need, lo = 0x80, hi = 0xbf;

	if (b >= 0xc2 && b <= 0xdf) {
		need = 1;
	} else if (b >= 0xe0 && b <= 0xef) {
		need = 2;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 3;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else {
		return WS_UTF8_BAD;
	}
	return 2 | need << 2 | lo << 8 | hi << 16;
}

void ws_utf8(uint32_t *state, const uint8_t *p, size_t n)
{
	uint32_t s = *state;

	for (size_t i = 0; i < n && s != WS_UTF8_BAD;) {
		if (s == WS_UTF8_OK) {
			uint64_t w;

			/* ASCII runs eight bytes at a time */
			while (i + 8 <= n && (memcpy(&w, p + i, 8), !(w & 0x8080808080808080ull)))
				i += 8;
			if (i == n)
				break;
			s = p[i] < 0x80 ? WS_UTF8_OK : utf8_lead(p[i]);
			i++;
			continue;
		}
		if (p[i] < ((s >> 8) & 0xff) || p[i] > ((s >> 16) & 0xff)) {
			s = WS_UTF8_BAD;
			break;
		}
		s = ((s >> 2) & 3) == 1 ? WS_UTF8_OK
		                        : (2 | (((s >> 2) & 3) - 1) << 2 | 0x80 << 8 | 0xbfu << 16);
		i++;
	}
	*state = s;
}
