/* ratelimit: token buckets, alone and keyed by client address.
 *
 * A bucket holds up to `burst` tokens and gains `rate` per second; taking a
 * token fails when it is empty.  The keyed table has a fixed number of slots
 * (open addressing on a hash of the address); when full, the slot whose
 * bucket is fullest (least interesting) is reused, so memory stays bounded
 * whatever the number of clients.
 */
#ifndef SLUICE_RATELIMIT_H
#define SLUICE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct tbucket {
	double tokens;
	uint64_t last_ms;
} tbucket_t;

void tbucket_init(tbucket_t *b, double burst, uint64_t now_ms);
int tbucket_take(tbucket_t *b, double rate, double burst, uint64_t now_ms); /* 1 = allowed */

typedef struct ratelimit ratelimit_t;

ratelimit_t *ratelimit_new(double rate, double burst, size_t slots);
int ratelimit_allow(ratelimit_t *r, const struct sockaddr *sa, uint64_t now_ms);
void ratelimit_free(ratelimit_t *r);

#endif
