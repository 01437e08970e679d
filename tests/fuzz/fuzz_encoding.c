/* libFuzzer target for core/encoding.
 *
 * The input is decoded by every decoder into a buffer of the size the
 * second byte picks (so the no-room paths run too).  Besides memory errors
 * it checks what the decoders promise one another: no result exceeds the
 * room given; what the strict decoder takes, the liberal and the Python
 * decoders read the same; what any decoder returns encodes back to text
 * that decodes to the same bytes; hex decodes only even lengths and
 * re-encodes to the input up to case.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

#define MAXIN 4096

static void round_trip(const uint8_t *b, int n)
{
	static char enc[B64_LEN(MAXIN) + 1];
	static uint8_t back[MAXIN];

	if (n < 0)
		return;
	b64_encode(b, (size_t)n, enc);
	CHECK(b64_decode_strict(enc, strlen(enc), back, sizeof(back)) == n);
	CHECK(!memcmp(back, b, (size_t)n));
	b64url_encode(b, (size_t)n, enc);
	CHECK(b64_decode(enc, strlen(enc), back, sizeof(back)) == n);
	CHECK(!memcmp(back, b, (size_t)n));
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static uint8_t a[MAXIN], b[MAXIN], c[MAXIN];
	static char hex[2 * MAXIN + 1];
	const char *s;
	size_t cap;
	int ra, rb, rc, rh;

	if (n < 1 || n > MAXIN)
		return 0;
	cap = d[0] == 0xff ? MAXIN : d[0];
	s = (const char *)d + 1;
	n--;
	ra = b64_decode_strict(s, n, a, cap);
	rb = b64_decode(s, n, b, cap);
	rc = b64_decode_py(s, n, c, cap);
	CHECK(ra <= (int)cap && rb <= (int)cap && rc <= (int)cap);
	if (ra >= 0) {
		CHECK(rb == ra && !memcmp(a, b, (size_t)ra));
		CHECK(rc == ra && !memcmp(a, c, (size_t)ra));
	}
	round_trip(a, ra);
	round_trip(b, rb);
	round_trip(c, rc);
	rh = hex_decode(s, n, a, cap);
	CHECK(rh < 0 || (size_t)rh * 2 == n);
	if (rh >= 0) {
		hex_encode(a, (size_t)rh, hex, 0);
		for (size_t i = 0; i < n; i++)
			CHECK(hex[i] == tolower((unsigned char)s[i]));
	}
	return 0;
}
