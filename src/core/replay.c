/* replay: see replay.h.  The hash table has twice the ring's capacity and
 * uses tombstone-free deletion by re-inserting the rest of a probe run.
 * The stores are a short list (one per tunnel key in use). */
#include "core/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"

typedef struct entry {
	uint8_t nonce[REPLAY_NONCE];
	uint64_t expiry;
} entry_t;

/* The ring starts small and doubles when full, up to max: a cache sized
 * for a million opens costs ~32 bytes for each one it holds, not 32 MiB
 * from the start. */
#define RING_FIRST 4096

struct replay {
	entry_t *ring; /* insertion order */
	size_t cap, max, head, count;
	int32_t *table; /* indices into ring, -1 empty */
	size_t tsize;   /* power of two */
};

static size_t slot_of(const replay_t *r, const uint8_t *n)
{
	uint64_t h;

	memcpy(&h, n, sizeof(h)); /* nonces are random: their bytes are the hash */
	return (size_t)(h & (r->tsize - 1));
}

/* Ring of cap entries (the live ones moved to its start, in order) and a
 * table of at least twice that. */
static void resize(replay_t *r, size_t cap)
{
	entry_t *ring = calloc(cap, sizeof(*ring));
	size_t tsize = 32;

	while (tsize < 2 * cap)
		tsize <<= 1;
	if (!ring)
		abort();
	for (size_t k = 0; k < r->count; k++)
		ring[k] = r->ring[(r->head + k) % r->cap];
	free(r->ring);
	free(r->table);
	r->ring = ring;
	r->cap = cap;
	r->head = 0;
	r->tsize = tsize;
	r->table = malloc(tsize * sizeof(*r->table));
	if (!r->table)
		abort();
	memset(r->table, 0xff, tsize * sizeof(*r->table));
	for (size_t k = 0; k < r->count; k++) {
		size_t i = slot_of(r, ring[k].nonce);
		while (r->table[i] != -1)
			i = (i + 1) & (tsize - 1);
		r->table[i] = (int32_t)k;
	}
}

replay_t *replay_new(size_t cap)
{
	replay_t *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->max = cap < 16 ? 16 : cap;
	resize(r, r->max < RING_FIRST ? r->max : RING_FIRST);
	return r;
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
	if (r->count == r->cap) {
		if (r->cap == r->max)
			return REPLAY_FULL;
		resize(r, r->cap * 2 < r->max ? r->cap * 2 : r->max);
		for (i = slot_of(r, nonce); r->table[i] != -1; i = (i + 1) & (r->tsize - 1))
			;
	}
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

/* ---- the local backend ---- */

static void *local_open(size_t cap)
{
	return replay_new(cap);
}
static int local_check_add(void *b, const uint8_t nonce[REPLAY_NONCE], uint64_t now, uint64_t exp)
{
	return replay_check_add(b, nonce, now, exp);
}
static size_t local_size(void *b)
{
	return replay_size(b);
}
static void local_close(void *b)
{
	replay_free(b);
}

const replay_backend_ops_t replay_local_ops = {"local", local_open, local_check_add, local_size,
                                               local_close};

/* ---- stores ---- */

#define MARK_AHEAD_MS 1000 /* the high-water mark runs this far ahead of use */
#define MARK_LEN 21        /* 20 digits and a newline */

struct replay_store {
	replay_store_t *next;
	char kind[16];
	uint8_t id[32];
	int refs;
	const replay_backend_ops_t *ops;
	void *b;
	uint64_t skew_ms; /* the widest window of the store's listeners */
	uint64_t start_ms, floor, mark;
	int round_trip;
	char *state; /* NULL: no high-water mark on disk */
	int fd;
	const replay_shared_ops_t *sops; /* a cache shared with other instances, or NULL */
	void *sb;
	char *shared; /* its URL */
};

struct replay_wait {
	replay_store_t *s;
	uint64_t ts;
	replay_done_fn fn;
	void *ud;
	void *req; /* the shared cache's */
};

static const replay_shared_ops_t *const shared_kinds[] = {&replay_redis_ops};

static replay_store_t *stores;

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int mark_write(replay_store_t *s, uint64_t mark)
{
	char buf[MARK_LEN + 1];

	snprintf(buf, sizeof(buf), "%020" PRIu64 "\n", mark);
	if (pwrite(s->fd, buf, MARK_LEN, 0) != MARK_LEN)
		return -errno;
	s->mark = mark;
	return 0;
}

/* Open the state file: its mark is the floor; a new or unreadable file
 * falls back to the skew rule until the first acceptance writes it. */
static int state_open(replay_store_t *s, const char *path, char *err, size_t errlen)
{
	char buf[MARK_LEN + 1] = "";
	ssize_t n;

	s->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->fd < 0) {
		snprintf(err, errlen, "option 'replay-state': %s: %s", path, strerror(errno));
		return -errno;
	}
	s->state = strdup(path);
	if (!s->state)
		abort();
	n = pread(s->fd, buf, MARK_LEN, 0);
	if (n == MARK_LEN && buf[MARK_LEN - 1] == '\n') {
		s->mark = strtoull(buf, NULL, 10);
		s->floor = s->mark;
		log_info(0, "replay state %s: tokens stamped before %" PRIu64 " may have been used",
		         path, s->mark);
	} else {
		log_info(0, "replay state %s: new", path);
	}
	return 0;
}

static void health_fn(mbuf_t *b, int *degraded, void *ud);
static int health_registered;

static void shared_metrics(mbuf_t *b, void *ud)
{
	replay_store_t *s = ud;
	char lab[64];

	metrics_label(lab, sizeof(lab), "kind", s->kind);
	s->sops->metrics(s->sb, b, lab);
}

/* replay=URL: the backend its scheme names, in a namespace of the key's
 * own (a hash of its id: nothing of the key reaches the shared cache). */
static int shared_open(replay_store_t *s, const replay_conf_t *c, char *err, size_t errlen)
{
	const replay_shared_ops_t *ops = NULL;
	uint8_t h[32];
	char ns[48];
	size_t n;
	int r;

	for (size_t i = 0; i < sizeof(shared_kinds) / sizeof(shared_kinds[0]); i++) {
		n = strlen(shared_kinds[i]->scheme);
		if (!strncmp(c->shared, shared_kinds[i]->scheme, n) &&
		    !strncmp(c->shared + n, "://", 3))
			ops = shared_kinds[i];
	}
	if (!ops) {
		snprintf(err, errlen, "option 'replay': redis://HOST:PORT[/DB] (not %s)",
		         c->shared);
		return -EINVAL;
	}
	hmac_sha256(s->id, 32, (const uint8_t *)"replay namespace", 16, h);
	n = (size_t)snprintf(ns, sizeof(ns), "%s:", s->kind);
	for (int i = 0; i < 8 && n + 2 < sizeof(ns); i++, n += 2)
		snprintf(ns + n, sizeof(ns) - n, "%02x", h[i]);
	if ((r = ops->open(c->loop, c->shared, c->shared_timeout_ms, ns, &s->sb, err, errlen)) < 0)
		return r;
	if (!health_registered) {
		health_registered = 1;
		metrics_health_register(health_fn, NULL);
	}
	s->sops = ops;
	s->shared = strdup(c->shared);
	if (!s->shared)
		abort();
	metrics_register(shared_metrics, s);
	return 0;
}

int replay_store_get(const char *kind, const uint8_t id[32], const replay_conf_t *c,
                     replay_store_t **out, char *err, size_t errlen)
{
	replay_store_t *s;
	int r;

	for (s = stores; s; s = s->next)
		if (!strcmp(s->kind, kind) && ct_equal(s->id, id, 32))
			break;
	if (s) {
		if (c->state && (!s->state || strcmp(s->state, c->state))) {
			snprintf(err, errlen,
			         "option 'replay-state': listeners with one key share one state "
			         "file (%s)",
			         s->state ? s->state : "none given on the first");
			return -EINVAL;
		}
		if ((c->shared || s->shared) &&
		    (!c->shared || !s->shared || strcmp(c->shared, s->shared))) {
			snprintf(
			    err, errlen,
			    "option 'replay': listeners with one key share one replay cache (%s)",
			    s->shared ? s->shared : "this process's, on the first");
			return -EINVAL;
		}
		if (c->skew_ms > s->skew_ms) {
			s->skew_ms = c->skew_ms;
			if (s->round_trip && !s->mark && s->start_ms + s->skew_ms > s->floor)
				s->floor = s->start_ms + s->skew_ms;
		}
		s->refs++;
		*out = s;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	snprintf(s->kind, sizeof(s->kind), "%s", kind);
	memcpy(s->id, id, 32);
	s->refs = 1;
	s->fd = -1;
	s->skew_ms = c->skew_ms;
	s->start_ms = wall_ms();
	s->round_trip = c->round_trip;
	s->floor = s->start_ms + (s->round_trip ? s->skew_ms : 0);
	if (c->state && replay_shm_attached()) {
		snprintf(err, errlen,
		         "option 'replay-state': one file cannot serve several "
		         "workers (workers=1, or replay=redis://)");
		free(s);
		return -EINVAL;
	}
	if (c->state && (r = state_open(s, c->state, err, errlen)) < 0) {
		free(s);
		return r;
	}
	if (c->shared && (r = shared_open(s, c, err, errlen)) < 0) {
		if (s->fd >= 0)
			close(s->fd);
		free(s->state);
		free(s);
		return r;
	}
	if (replay_shm_attached()) { /* a worker: the one its siblings ask too */
		s->ops = &replay_shm_ops;
		s->b = replay_shm_ns(s->kind, s->id);
	} else {
		s->ops = &replay_local_ops;
		s->b = s->ops->open(c->capacity);
	}
	s->next = stores;
	stores = s;
	*out = s;
	return 0;
}

void replay_store_put(replay_store_t *s)
{
	if (!s || --s->refs > 0)
		return;
	for (replay_store_t **pp = &stores; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	s->ops->close(s->b);
	if (s->sops) {
		metrics_unregister(shared_metrics, s);
		s->sops->close(s->sb);
		free(s->shared);
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s->state);
	free(s);
}

/* A fresh token whose nonce no cache has seen: NEW, or UNSURE when a
 * process before this one may have seen it. */
static int admit(replay_store_t *s, uint64_t ts)
{
	if (ts <= s->floor)
		return REPLAY_UNSURE;
	if (s->state && ts >= s->mark) {
		/* write ahead: a successor must know this token may be used */
		if (mark_write(s, ts + MARK_AHEAD_MS) < 0) {
			log_warn(0, "replay state %s: %s; treating the open as possibly seen",
			         s->state, strerror(errno));
			return REPLAY_UNSURE;
		}
	}
	return REPLAY_NEW;
}

/* STALE, or the local cache's verdict (the nonce remembered while the
 * widest window of the store could accept it). */
static int judge_local(replay_store_t *s, const uint8_t nonce[REPLAY_NONCE], uint64_t ts,
                       uint64_t now, uint64_t skew)
{
	if (ts + skew < now || ts > now + skew)
		return REPLAY_STALE;
	return s->ops->check_add(s->b, nonce, now, ts + s->skew_ms + 1);
}

int replay_store_check(replay_store_t *s, const uint8_t nonce[REPLAY_NONCE], uint64_t ts,
                       uint64_t now, uint64_t skew)
{
	int r = judge_local(s, nonce, ts, now, skew);

	return r == REPLAY_NEW ? admit(s, ts) : r;
}

static void shared_done(void *ud, int v)
{
	replay_wait_t *w = ud;
	replay_store_t *s = w->s;

	if (v == REPLAY_NEW)
		v = admit(s, w->ts);
	w->fn(w->ud, v);
	free(w);
	replay_store_put(s);
}

int replay_store_judge(replay_store_t *s, const uint8_t nonce[REPLAY_NONCE], uint64_t ts,
                       uint64_t now, uint64_t skew, replay_done_fn fn, void *ud,
                       replay_wait_t **out)
{
	replay_wait_t *w;
	int r = judge_local(s, nonce, ts, now, skew);

	*out = NULL;
	if (r != REPLAY_NEW || !s->sops)
		return r == REPLAY_NEW ? admit(s, ts) : r;
	w = calloc(1, sizeof(*w));
	if (!w)
		abort();
	*w = (replay_wait_t){.s = s, .ts = ts, .fn = fn, .ud = ud};
	r = s->sops->check(s->sb, nonce, ts + s->skew_ms + 1 - now, shared_done, w, &w->req);
	if (r != REPLAY_PENDING) {
		free(w);
		return r == REPLAY_NEW ? admit(s, ts) : r;
	}
	s->refs++; /* the store outlives its pending checks */
	*out = w;
	return REPLAY_PENDING;
}

void replay_wait_cancel(replay_wait_t *w)
{
	replay_store_t *s;

	if (!w)
		return;
	s = w->s;
	s->sops->cancel(w->req);
	free(w);
	replay_store_put(s);
}

int replay_store_shared(const replay_store_t *s)
{
	return s->sops != NULL;
}

static void health_fn(mbuf_t *b, int *degraded, void *ud)
{
	char why[200], e1[300], e2[400];
	int first = 1;

	(void)ud;
	for (replay_store_t *s = stores; s; s = s->next) {
		const char *st;
		if (!s->sops)
			continue;
		st = s->sops->state(s->sb, why, sizeof(why));
		if (strcmp(st, "up"))
			*degraded = 1;
		json_escape(e1, sizeof(e1), s->shared);
		json_escape(e2, sizeof(e2), why);
		mbuf_printf(b,
		            "%s{\"kind\":\"%s\",\"backend\":\"%s\",\"state\":\"%s\","
		            "\"reason\":\"%s\"}",
		            first ? ",\"replay\":[" : ",", s->kind, e1, st, e2);
		first = 0;
	}
	if (!first)
		mbuf_printf(b, "]");
}

size_t replay_store_size(const replay_store_t *s)
{
	return s->ops->size(s->b);
}

uint64_t replay_store_floor(const replay_store_t *s)
{
	return s->floor;
}
