/* vpn_lock: see vpn_lock.h. */
#include "tunnel/vpn/vpn_lock.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "tunnel/vpn/vpn_proto.h"

typedef struct ent {
	uint8_t src[16];
	char name[VPN_USER_MAX + 1];
	int used;
	uint32_t fails;
	uint64_t last;  /* the last failure */
	uint64_t until; /* refused before this */
} ent_t;

struct vlock {
	size_t n;
	uint64_t seed;
	ent_t *e;
};

void vpn_source(const struct sockaddr *sa, struct sockaddr_storage *out, uint8_t key[16])
{
	memset(out, 0, sizeof(*out));
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *o = (struct sockaddr_in *)out;
		o->sin_family = AF_INET;
		o->sin_addr = ((const struct sockaddr_in *)sa)->sin_addr;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &o->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *o = (struct sockaddr_in6 *)out;
		o->sin6_family = AF_INET6;
		memcpy(&o->sin6_addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 8);
		memcpy(key, &o->sin6_addr, 8);
	}
}

vlock_t *vlock_new(size_t slots)
{
	vlock_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->n = slots < VLOCK_PROBES ? VLOCK_PROBES : slots;
	t->e = calloc(t->n, sizeof(*t->e));
	if (!t->e)
		abort();
	random_bytes(&t->seed, sizeof(t->seed));
	return t;
}

void vlock_free(vlock_t *t)
{
	if (!t)
		return;
	free(t->e);
	free(t);
}

static uint64_t hash(const vlock_t *t, const uint8_t src[16], const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ t->seed; /* FNV-1a, seeded */

	for (int i = 0; i < 16; i++)
		h = (h ^ src[i]) * 1099511628211ULL;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return h;
}

/* Forgotten: not refused now and no failure for VLOCK_FORGET_MS. */
static int stale(const ent_t *e, uint64_t now)
{
	return e->until <= now && e->last + VLOCK_FORGET_MS <= now;
}

/* The pair's entry; with create, a slot for it (maybe another pair's). */
static ent_t *find(vlock_t *t, const char *user, const struct sockaddr *src, uint64_t now,
                   int create)
{
	struct sockaddr_storage ss;
	uint8_t key[16];
	uint64_t h;
	ent_t *victim = NULL;
	uint64_t best = UINT64_MAX;

	vpn_source(src, &ss, key);
	h = hash(t, key, user);
	for (int i = 0; i < VLOCK_PROBES; i++) {
		ent_t *e = &t->e[(h + (uint64_t)i) % t->n];
		if (e->used && !memcmp(e->src, key, 16) && !strcmp(e->name, user)) {
			if (stale(e, now))
				e->fails = 0;
			return e;
		}
		/* a free or forgotten slot first, else the pair free soonest */
		uint64_t score = !e->used || stale(e, now) ? 0 : e->until + 1;
		if (create && score < best) {
			best = score;
			victim = e;
		}
	}
	if (!victim)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->used = 1;
	memcpy(victim->src, key, 16);
	strncpy(victim->name, user, VPN_USER_MAX);
	return victim;
}

uint64_t vlock_left(vlock_t *t, const char *user, const struct sockaddr *src, uint64_t now_ms)
{
	ent_t *e = find(t, user, src, now_ms, 0);

	return e && e->until > now_ms ? e->until - now_ms : 0;
}

uint64_t vlock_fail(vlock_t *t, const char *user, const struct sockaddr *src, uint64_t now_ms)
{
	ent_t *e = find(t, user, src, now_ms, 1);
	uint64_t d = VLOCK_BASE_MS;

	e->fails++;
	e->last = now_ms;
	if (e->fails < VLOCK_FREE)
		return 0;
	for (uint32_t i = VLOCK_FREE; i < e->fails && d < VLOCK_MAX_MS; i++)
		d *= 2;
	if (d > VLOCK_MAX_MS)
		d = VLOCK_MAX_MS;
	e->until = now_ms + d;
	return d;
}

void vlock_ok(vlock_t *t, const char *user, const struct sockaddr *src)
{
	ent_t *e = find(t, user, src, 0, 0);

	if (e)
		memset(e, 0, sizeof(*e));
}
