/* replay: see replay.h.  The hash table has twice the ring's capacity and
 * uses tombstone-free deletion by re-inserting the rest of a probe run. */
#include "core/replay.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
	uint8_t nonce[REPLAY_NONCE];
	uint64_t expiry;
} entry_t;

struct replay {
	entry_t *ring; /* insertion order */
	size_t cap, head, count;
	int32_t *table; /* indices into ring, -1 empty */
	size_t tsize;   /* power of two */
};

replay_t *replay_new(size_t cap)
{
	replay_t *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->cap = cap < 16 ? 16 : cap;
	r->tsize = 32;
	while (r->tsize < 2 * r->cap)
		r->tsize <<= 1;
	r->ring = calloc(r->cap, sizeof(*r->ring));
	r->table = malloc(r->tsize * sizeof(*r->table));
	if (!r->ring || !r->table)
		abort();
	memset(r->table, 0xff, r->tsize * sizeof(*r->table));
	return r;
}

static size_t slot_of(const replay_t *r, const uint8_t *n)
{
	uint64_t h;

	memcpy(&h, n, sizeof(h)); /* nonces are random: their bytes are the hash */
	return (size_t)(h & (r->tsize - 1));
}

static void table_remove(replay_t *r, int32_t idx)
{
	size_t i = slot_of(r, r->ring[idx].nonce);

	while (r->table[i] != idx)
		i = (i + 1) & (r->tsize - 1);
	r->table[i] = -1;
	/* re-place the rest of the run so lookups never stop early */
	for (i = (i + 1) & (r->tsize - 1); r->table[i] != -1; i = (i + 1) & (r->tsize - 1)) {
		int32_t v = r->table[i];
		size_t j = slot_of(r, r->ring[v].nonce);
		r->table[i] = -1;
		while (r->table[j] != -1)
			j = (j + 1) & (r->tsize - 1);
		r->table[j] = v;
	}
}

static void expire(replay_t *r, uint64_t now)
{
	while (r->count && r->ring[r->head].expiry <= now) {
		table_remove(r, (int32_t)r->head);
		r->head = (r->head + 1) % r->cap;
		r->count--;
	}
}

int replay_check_add(replay_t *r, const uint8_t nonce[REPLAY_NONCE], uint64_t now, uint64_t expiry)
{
	size_t i, tail;

	expire(r, now);
	for (i = slot_of(r, nonce); r->table[i] != -1; i = (i + 1) & (r->tsize - 1))
		if (!memcmp(r->ring[r->table[i]].nonce, nonce, REPLAY_NONCE))
			return REPLAY_SEEN;
	if (r->count == r->cap)
		return REPLAY_FULL;
	tail = (r->head + r->count) % r->cap;
	memcpy(r->ring[tail].nonce, nonce, REPLAY_NONCE);
	/* keep the ring ordered by expiry even if callers pass mixed windows */
	if (r->count) {
		size_t last = (tail + r->cap - 1) % r->cap;
		if (expiry < r->ring[last].expiry)
			expiry = r->ring[last].expiry;
	}
	r->ring[tail].expiry = expiry;
	r->table[i] = (int32_t)tail;
	r->count++;
	return REPLAY_NEW;
}

size_t replay_size(const replay_t *r)
{
	return r->count;
}

void replay_free(replay_t *r)
{
	if (!r)
		return;
	free(r->ring);
	free(r->table);
	free(r);
}
