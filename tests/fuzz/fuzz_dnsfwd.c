/* Fuzz target: the dns:// listener's query parser and SERVFAIL builder
 * (front/dnsfwd), what every UDP query from a client meets first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "front/dnsfwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[DNSFWD_HDR + 260];
	int n = dnsfwd_question_end(data, size);
	int m = dnsfwd_servfail(data, size, out, sizeof(out));

	if (n > (int)size || (m >= 0 && m != n))
		abort();
	if (m > 0 && (memcmp(out + DNSFWD_HDR, data + DNSFWD_HDR, (size_t)m - DNSFWD_HDR) ||
	              dnsfwd_question_end(out, (size_t)m) >= 0)) /* an answer, not a query */
		abort();
	return 0;
}
