/* ackthin: see ackthin.h. */
#include "netstack/ackthin.h"

#include <string.h>

#include "core/bytes.h"

/* The offset of the TCP header of a pure ACK, 0 if pkt is not one. */
static size_t pure_ack(const uint8_t *p, size_t len)
{
	size_t l4, thl;

	if (len < 40 || len > ACKTHIN_MAX)
		return 0;
	if (p[0] == 0x45) {
		if (p[9] != 6 || get_be16(p + 2) != len || (get_be16(p + 6) & 0x3fff))
			return 0; /* not TCP, padded, or a fragment */
		l4 = 20;
	} else if (p[0] >> 4 == 6) {
		if (len < 60 || p[6] != 6 || get_be16(p + 4) != len - 40)
			return 0;
		l4 = 40;
	} else {
		return 0;
	}
	thl = (size_t)(p[l4 + 12] >> 4) * 4;
	if (thl < 20 || l4 + thl != len || p[l4 + 13] != 0x10)
		return 0;
	for (size_t i = l4 + 20; i < len;) { /* options: NOP and timestamps only */
		if (p[i] == 1) {
			i++;
		} else if (p[i] == 8 && i + 10 <= len && p[i + 1] == 10) {
			i += 10;
		} else {
			return 0;
		}
	}
	return l4;
}

/* Same addresses and ports (l4: where TCP starts in both). */
static int same_flow(const uint8_t *a, const uint8_t *b, size_t l4)
{
	return l4 == 20 ? !memcmp(a + 12, b + 12, 8) && !memcmp(a + 20, b + 20, 4)
	                : !memcmp(a + 8, b + 8, 32) && !memcmp(a + 40, b + 40, 4);
}

int ackthin_offer(ackthin_t *a, const uint8_t *pkt, size_t len, uint8_t *prev, size_t *plen)
{
	size_t l4 = pure_ack(pkt, len), hl4 = a->len ? pure_ack(a->pkt, a->len) : 0;

	*plen = 0;
	if (a->len && l4 && hl4 == l4 && same_flow(pkt, a->pkt, l4)) {
		uint32_t d = get_be32(pkt + l4 + 8) - get_be32(a->pkt + l4 + 8);

		if (d && d < 0x80000000u) { /* further on: the held one is covered */
			memcpy(a->pkt, pkt, len);
			a->len = len;
			a->thinned++;
			return 1;
		}
	}
	if (a->len) {
		memcpy(prev, a->pkt, a->len);
		*plen = a->len;
		a->len = 0;
	}
	if (!l4)
		return 0;
	memcpy(a->pkt, pkt, len);
	a->len = len;
	return 1;
}

size_t ackthin_take(ackthin_t *a, uint8_t *out)
{
	size_t n = a->len;

	if (n)
		memcpy(out, a->pkt, n);
	a->len = 0;
	return n;
}
