/* ratelimit: see ratelimit.h. */
#include "core/ratelimit.h"

#include "core/acl.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

void tbucket_init(tbucket_t *b, double burst, uint64_t now_ms)
{
	b->tokens = burst;
	b->last_ms = now_ms;
}

int tbucket_take(tbucket_t *b, double rate, double burst, uint64_t now_ms)
{
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
		if (b->tokens > burst)
			b->tokens = burst;
		b->last_ms = now_ms;
	}
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

typedef struct slot {
	uint8_t key[16];
	int used;
	tbucket_t b;
} slot_t;

struct ratelimit {
	double rate, burst;
	size_t n;
	slot_t *slots;
};

#define PROBES 8

ratelimit_t *ratelimit_new(double rate, double burst, size_t slots)
{
	ratelimit_t *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->rate = rate;
	r->burst = burst < 1 ? 1 : burst;
	r->n = slots < PROBES ? PROBES : slots;
	r->slots = calloc(r->n, sizeof(*r->slots));
	if (!r->slots)
		abort();
	return r;
}

int ratelimit_allow(ratelimit_t *r, const struct sockaddr *sa, uint64_t now_ms)
{
	uint8_t key[16];
	uint64_t h;
	slot_t *victim = NULL;
	double best = -1;

	sockaddr_key(sa, key);
	h = sockaddr_key_hash(key);
	for (int i = 0; i < PROBES; i++) {
		slot_t *s = &r->slots[(h + (uint64_t)i) % r->n];
		if (s->used && !memcmp(s->key, key, 16))
			return tbucket_take(&s->b, r->rate, r->burst, now_ms);
		if (!s->used) {
			if (best < 1e300) {
				victim = s;
				best = 1e300;
			}
			continue;
		}
		/* refill to compare how "full" (idle) each bucket is */
		double t = s->b.tokens + (double)(now_ms - s->b.last_ms) * r->rate / 1000.0;
		if (t > best) {
			best = t;
			victim = s;
		}
	}
	memcpy(victim->key, key, 16);
	victim->used = 1;
	tbucket_init(&victim->b, r->burst, now_ms);
	return tbucket_take(&victim->b, r->rate, r->burst, now_ms);
}

void ratelimit_free(ratelimit_t *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r);
}
