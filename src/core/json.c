/* json: see json.h. */
#include "core/json.h"

#include <stdio.h>
#include <string.h>

size_t json_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	if (!cap)
		return 0;
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[8];
		size_t n;

		if (c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			n = (size_t)snprintf(e, sizeof(e), "\\u%04x", c);
		} else {
			e[0] = (char)c;
			n = 1;
		}
		if (o + n >= cap)
			break;
		memcpy(out + o, e, n);
		o += n;
	}
	out[o] = 0;
	return o;
}
