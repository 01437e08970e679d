/* replay_shm: the replay cache every worker process of one sluice shares
 * (workers=N, app/workers.h).
 *
 * The master creates one region (a memfd, MAP_SHARED) before it starts
 * its workers; each worker maps it (replay_shm_attach) and every replay
 * store then asks it instead of a cache of its own, so a token used at one
 * worker is seen at all of them.
 *
 * The region is REPLAY_SHM_SHARDS shards, each a process-shared robust
 * mutex and an open-addressed table of slots (a 16-byte key, an expiry in
 * wall-clock ms; 0: empty).  A key is HMAC-SHA256(the store's namespace,
 * nonce) cut to 16 bytes: stores of different tunnel keys never meet.  Its
 * first byte picks the shard, the next eight the first slot; a check looks
 * at REPLAY_SHM_PROBE slots from there (all of them: slots empty by expiry
 * do not end a run), clears the expired ones it passes, answers SEEN on a
 * live match, else takes the first free slot (NEW), else FULL.  A slot is
 * written expiry 0, key, expiry, so a worker killed while holding the lock
 * leaves an empty slot or a whole one; the next locker sees EOWNERDEAD and
 * marks the mutex consistent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/replay.h"

#define REPLAY_SHM_MAGIC 0x736c7270u /* "slrp" */
#define REPLAY_SHM_SHARDS 64
#define REPLAY_SHM_PROBE 32

typedef struct slot {
	uint8_t key[REPLAY_NONCE];
	uint64_t expiry;
} slot_t;

typedef struct shard {
	pthread_mutex_t mu;
	uint64_t live; /* slots with an expiry, as last seen */
	char pad[64 - sizeof(uint64_t)];
} shard_t;

typedef struct shm_hdr {
	uint32_t magic, nshards;
	uint64_t per; /* slots per shard */
	shard_t shard[REPLAY_SHM_SHARDS];
	/* then nshards * per slots */
} shm_hdr_t;

typedef struct shm_ns {
	uint8_t ns[32];
} shm_ns_t;

static shm_hdr_t *region;
static size_t region_len;

static size_t shm_len(uint64_t per)
{
	return sizeof(shm_hdr_t) + (size_t)REPLAY_SHM_SHARDS * per * sizeof(slot_t);
}

static slot_t *slots_of(shm_hdr_t *h, unsigned shard)
{
	return (slot_t *)(h + 1) + (size_t)shard * h->per;
}

int replay_shm_create(size_t slots, char *err, size_t errlen)
{
	uint64_t per = (slots + REPLAY_SHM_SHARDS - 1) / REPLAY_SHM_SHARDS;
	pthread_mutexattr_t a;
	shm_hdr_t *h;
	size_t len;
	int fd;

	per = per < REPLAY_SHM_PROBE ? REPLAY_SHM_PROBE : per;
	len = shm_len(per);
	if ((fd = memfd_create("sluice-replay", 0)) < 0 || ftruncate(fd, (off_t)len) < 0 ||
	    (h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "the workers' replay cache: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	h->nshards = REPLAY_SHM_SHARDS;
	h->per = per;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	for (unsigned i = 0; i < REPLAY_SHM_SHARDS; i++)
		pthread_mutex_init(&h->shard[i].mu, &a);
	pthread_mutexattr_destroy(&a);
	h->magic = REPLAY_SHM_MAGIC;
	munmap(h, len);
	return fd;
}

int replay_shm_attach(int fd, char *err, size_t errlen)
{
	shm_hdr_t *h;
	off_t end = lseek(fd, 0, SEEK_END);

	if (end < (off_t)sizeof(shm_hdr_t) || (h = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE,
	                                                MAP_SHARED, fd, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "the workers' replay cache (descriptor %d): %s", fd,
		         end < 0 ? strerror(errno) : "not a replay region");
		return -EINVAL;
	}
	if (h->magic != REPLAY_SHM_MAGIC || h->nshards != REPLAY_SHM_SHARDS ||
	    shm_len(h->per) != (size_t)end) {
		munmap(h, (size_t)end);
		snprintf(err, errlen,
		         "the workers' replay cache (descriptor %d): not a replay region", fd);
		return -EINVAL;
	}
	region = h;
	region_len = (size_t)end;
	return 0;
}

int replay_shm_attached(void)
{
	return region != NULL;
}

void *replay_shm_ns(const char *kind, const uint8_t id[32])
{
	shm_ns_t *n = calloc(1, sizeof(*n));
	uint8_t k[48];
	size_t kl = strlen(kind) < 16 ? strlen(kind) : 16;

	if (!n)
		abort();
	memcpy(k, id, 32);
	memset(k + 32, 0, 16);
	memcpy(k + 32, kind, kl);
	hmac_sha256(k, sizeof(k), (const uint8_t *)"replay workers", 14, n->ns);
	OPENSSL_cleanse(k, sizeof(k));
	return n;
}

static void lock(shard_t *s)
{
	if (pthread_mutex_lock(&s->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&s->mu); /* a worker died holding it: see above */
}

static int shm_check_add(void *b, const uint8_t nonce[REPLAY_NONCE], uint64_t now, uint64_t exp)
{
	shm_ns_t *n = b;
	uint8_t h[32];
	uint64_t at;
	shard_t *sh;
	slot_t *sl, *free_slot = NULL;
	int r = REPLAY_NEW;

	hmac_sha256(n->ns, sizeof(n->ns), nonce, REPLAY_NONCE, h);
	memcpy(&at, h + 1, sizeof(at));
	sh = &region->shard[h[0] % REPLAY_SHM_SHARDS];
	sl = slots_of(region, h[0] % REPLAY_SHM_SHARDS);
	lock(sh);
	for (unsigned i = 0; i < REPLAY_SHM_PROBE; i++) {
		slot_t *s = &sl[(at + i) % region->per];
		if (s->expiry && s->expiry <= now) {
			s->expiry = 0;
			sh->live--;
		}
		if (!s->expiry) {
			free_slot = free_slot ? free_slot : s;
		} else if (!memcmp(s->key, h, REPLAY_NONCE)) {
			r = REPLAY_SEEN;
			break;
		}
	}
	if (r == REPLAY_NEW && !free_slot)
		r = REPLAY_FULL;
	if (r == REPLAY_NEW) {
		memcpy(free_slot->key, h, REPLAY_NONCE);
		__atomic_store_n(&free_slot->expiry, exp, __ATOMIC_RELEASE);
		sh->live++;
	}
	pthread_mutex_unlock(&sh->mu);
	return r;
}

/* The whole region's (every key's) remembered nonces, as last counted. */
static size_t shm_size(void *b)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < REPLAY_SHM_SHARDS; i++)
		n += __atomic_load_n(&region->shard[i].live, __ATOMIC_RELAXED);
	return (size_t)n;
}

static void shm_close(void *b)
{
	free(b);
}

const replay_backend_ops_t replay_shm_ops = {"workers", NULL, shm_check_add, shm_size, shm_close};
