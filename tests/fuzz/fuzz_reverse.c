/* Fuzz target: what a reverse forward parses (core/reverse.h): a server's
 * reverse= list, checked against an address from the same input, and a
 * client's -R. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/reverse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256], why[256];
	rev_allow_t *a = calloc(1, sizeof(*a));
	revfwd_t *f = NULL;
	target_t t;

	memcpy(s, data, size);
	s[size] = 0;
	if (rev_allow_parse(a, s, err, sizeof(err)) == 0) {
		if (a->n > REV_ALLOW_MAX)
			abort();
		for (size_t i = 0; i < a->n; i++)
			if (!a->v[i].lo || a->v[i].hi < a->v[i].lo)
				abort();
		if (target_set(&t, "127.0.0.1", size ? (uint16_t)(data[0] << 8 | size) : 1) == 0)
			rev_allow_check(a, &t, why, sizeof(why));
	}
	if (revfwd_parse(s, &f, err, sizeof(err)) == 0)
		revfwd_free(f);
	free(a);
	free(s);
	return 0;
}
