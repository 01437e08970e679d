/* encoding: see encoding.h.
 *
 * The character maps rely on an arithmetic right shift of a negative int
 * (every compiler we build with does that): for a value x in -256..255,
 * x >> 8 is -1 when x < 0 and 0 otherwise, a mask that selects without a
 * branch.  (lo - 1 - c) & (c - (hi + 1)) is negative exactly when
 * lo <= c <= hi.
 */
#include "core/encoding.h"

#include <errno.h>
#include <string.h>

#define IN(c, lo, hi) (((((lo)-1 - (c)) & ((c) - ((hi) + 1))) >> 8))
#define IS(c, ch) IN(c, ch, ch)

/* 0..63 to its character; url picks '-' and '_' for 62 and 63. */
static char b64_char(int x, int url)
{
	return (char)(x + 'A' + (((25 - x) >> 8) & 6) - (((51 - x) >> 8) & 75) -
	              (((61 - x) >> 8) & (url ? 13 : 15)) + (((62 - x) >> 8) & (url ? 49 : 3)));
}

/* A character's value, or -1.  url adds the URL-safe '-' and '_' to the
 * standard alphabet (the standard '+' and '/' are always in). */
static int b64_val(unsigned char ch, int url)
{
	int c = ch, v = -1;

	v += IN(c, 'A', 'Z') & (c - 64);
	v += IN(c, 'a', 'z') & (c - 70);
	v += IN(c, '0', '9') & (c + 5);
	v += IS(c, '+') & 63;
	v += IS(c, '/') & 64;
	if (url) {
		v += IS(c, '-') & 63;
		v += IS(c, '_') & 64;
	}
	return v;
}

static size_t encode(const uint8_t *in, size_t n, char *out, int url, int pad)
{
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_char((int)(v >> 18), url);
		out[o++] = b64_char((int)(v >> 12) & 63, url);
		out[o++] = b64_char((int)(v >> 6) & 63, url);
		out[o++] = b64_char((int)v & 63, url);
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64_char((int)(v >> 18), url);
		out[o++] = b64_char((int)(v >> 12) & 63, url);
		if (i + 1 < n)
			out[o++] = b64_char((int)(v >> 6) & 63, url);
		else if (pad)
			out[o++] = '=';
		if (pad)
			out[o++] = '=';
	}
	out[o] = 0;
	return o;
}

size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
	return encode(in, n, out, 0, 1);
}

size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
	return encode(in, n, out, 1, 0);
}

/* Decode n (1..4) characters of one quantum into n - 1 bytes (3 for 4);
 * *bad gets a set sign bit for any character outside the alphabet. */
static size_t quantum(const char *q, size_t n, int url, uint8_t *out, int *bad)
{
	uint32_t acc = 0;

	for (size_t k = 0; k < 4; k++) {
		int v = k < n ? b64_val((unsigned char)q[k], url) : 0;

		*bad |= v;
		acc = acc << 6 | (uint32_t)(v & 63);
	}
	out[0] = (uint8_t)(acc >> 16);
	out[1] = (uint8_t)(acc >> 8);
	out[2] = (uint8_t)acc;
	return n ? n - 1 : 0;
}

/* n characters with no padding, a quantum at a time (the last may hold
 * two or three). */
static int decode_run(const char *in, size_t n, int url, uint8_t *out, size_t cap)
{
	uint8_t b[3];
	size_t o = 0, k;
	int bad = 0;

	if (n % 4 == 1) /* a lone character carries no byte */
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		k = quantum(in + i, n - i < 4 ? n - i : 4, url, b, &bad);
		if (cap - o < k)
			return -EINVAL;
		memcpy(out + o, b, k);
		o += k;
	}
	return bad < 0 ? -EINVAL : (int)o;
}

int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	while (n && in[n - 1] == '=')
		n--;
	return decode_run(in, n, 1, out, cap);
}

int b64_decode_strict(const char *in, size_t n, uint8_t *out, size_t cap)
{
	size_t pad = 0;

	if (n % 4)
		return -EINVAL;
	while (pad < n && pad < 3 && in[n - 1 - pad] == '=')
		pad++;
	if (pad > 2)
		return -EINVAL;
	return decode_run(in, n - pad, 0, out, cap);
}

int b64_decode_py(const char *in, size_t n, uint8_t *out, size_t cap)
{
	char q[4];
	unsigned quad = 0, pads = 0;
	size_t o = 0;
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch >= 0x80)
			return -EINVAL;
		if (ch == '=') {
			if (quad >= 2 && quad + ++pads >= 4) {
				uint8_t b[3];
				size_t k = quantum(q, quad, 0, b, &bad);

				if (cap - o < k)
					return -ENOSPC;
				memcpy(out + o, b, k);
				return (int)(o + k);
			}
			continue;
		}
		if (b64_val(ch, 0) < 0) /* skipped: which ones is public */
			continue;
		pads = 0;
		if (quad && o + quad > cap) /* its byte quad - 1 has no room */
			return -ENOSPC;
		q[quad++] = (char)ch;
		if (quad == 4) {
			o += quantum(q, 4, 0, out + o, &bad);
			quad = 0;
		}
	}
	return quad ? -EINVAL : (int)o;
}

size_t hex_encode(const uint8_t *in, size_t n, char *out, int upper)
{
	int alpha = upper ? 'A' - '0' - 10 : 'a' - '0' - 10;

	for (size_t i = 0; i < n; i++) {
		int hi = in[i] >> 4, lo = in[i] & 15;

		out[2 * i] = (char)('0' + hi + (((9 - hi) >> 8) & alpha));
		out[2 * i + 1] = (char)('0' + lo + (((9 - lo) >> 8) & alpha));
	}
	out[2 * n] = 0;
	return 2 * n;
}

/* A hex digit's value, or -1 (either case). */
static int hex_val(unsigned char ch)
{
	int c = ch, v = -1;

	v += IN(c, '0', '9') & (c - '0' + 1);
	v += IN(c, 'a', 'f') & (c - 'a' + 11);
	v += IN(c, 'A', 'F') & (c - 'A' + 11);
	return v;
}

int hex_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
	int bad = 0;

	if (n % 2 || n / 2 > cap)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_val((unsigned char)in[i]), lo = hex_val((unsigned char)in[i + 1]);

		bad |= hi | lo;
		out[i / 2] = (uint8_t)((hi & 15) << 4 | (lo & 15));
	}
	return bad < 0 ? -EINVAL : (int)(n / 2);
}
