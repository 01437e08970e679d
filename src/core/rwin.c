/* rwin: see rwin.h. */
#include "core/rwin.h"

#include <string.h>

int rwin_check(const rwin_t *w, uint64_t ctr)
{
	if (ctr >= w->top)
		return 1;
	if (w->top - ctr > RWIN_SIZE)
		return 0;
	return !(w->bits[(ctr / 64) % (RWIN_SIZE / 64)] >> (ctr % 64) & 1);
}

void rwin_update(rwin_t *w, uint64_t ctr)
{
	if (ctr >= w->top) {
		uint64_t adv = ctr + 1 - w->top;
		if (adv >= RWIN_SIZE) {
			memset(w->bits, 0, sizeof(w->bits));
		} else {
			for (uint64_t c = w->top; c <= ctr; c++)
				w->bits[(c / 64) % (RWIN_SIZE / 64)] &= ~(1ull << (c % 64));
		}
		w->top = ctr + 1;
	}
	w->bits[(ctr / 64) % (RWIN_SIZE / 64)] |= 1ull << (ctr % 64);
}
