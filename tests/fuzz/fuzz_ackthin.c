/* fuzz_ackthin: arbitrary packets through netstack/ackthin, as the VPN
 * server offers libslirp's output.  The input is cut into packets (one
 * length byte each).  Checked: what goes first or at the end is always a
 * packet offered earlier, byte for byte and at most ACKTHIN_MAX long; a
 * packet is either sent or held, never both; at most one is held.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netstack/ackthin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t seen[256][ACKTHIN_MAX];
	static size_t seenlen[256];
	uint8_t prev[ACKTHIN_MAX], out[ACKTHIN_MAX];
	ackthin_t a;
	size_t np = 0, plen, n;

	memset(&a, 0, sizeof(a));
	while (size && np < 256) {
		size_t len = data[0] % (ACKTHIN_MAX + 8);
		int held, ok = 0;

		data++;
		size--;
		if (len > size)
			len = size;
		held = ackthin_offer(&a, data, len, prev, &plen);
		if (plen) {
			for (size_t i = 0; i < np && !ok; i++)
				ok = seenlen[i] == plen && !memcmp(seen[i], prev, plen);
			if (!ok || plen > ACKTHIN_MAX)
				abort();
		}
		if (held) {
			if (len > ACKTHIN_MAX || a.len != len || memcmp(a.pkt, data, len))
				abort();
			memcpy(seen[np], data, len);
			seenlen[np++] = len;
		}
		data += len;
		size -= len;
	}
	n = ackthin_take(&a, out);
	if (n && (n != seenlen[np - 1] || memcmp(out, seen[np - 1], n)))
		abort();
	if (ackthin_take(&a, out))
		abort();
	return 0;
}
