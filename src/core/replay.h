/* replay: what a server remembers so that a recorded open is used once.
 *
 * Two layers.
 *
 *   replay_t      a bounded cache of nonces seen within a time window.
 *                 replay_check_add() answers "new" (and remembers the
 *                 nonce until its expiry) or "seen".  Entries expire in
 *                 insertion order (a FIFO ring beside an open-addressing
 *                 hash set), so expiry costs O(1) per entry.  When the
 *                 cache is full of unexpired nonces it refuses new ones
 *                 (REPLAY_FULL): a flood can make the server refuse opens
 *                 for a while, never accept a replay.
 *
 *   replay_store  the anti-replay state of one tunnel key for the whole
 *                 process: every listener with that key (ws and wss on
 *                 several ports, say) asks the same store, so a token used
 *                 on one is seen on all.  replay_store_check() judges a
 *                 token's timestamp and nonce together:
 *                   STALE   |now - ts| > skew
 *                   SEEN    its nonce was used (here, by any listener)
 *                   FULL    the cache is full (refuse, see above)
 *                   UNSURE  fresh and unseen here, but a process before
 *                           this one may have seen it (ts <= the floor)
 *                   NEW     fresh, unseen, and after the floor
 *                 The floor covers restarts, whose cache is gone.  Without
 *                 a state file it is start + skew: a token the previous
 *                 process accepted had ts <= its last acceptance + skew
 *                 (only the start, for a protocol without a round trip to
 *                 fall back on: see replay_conf_t).
 *                 With `replay-state=FILE` it is a high-water mark written
 *                 before each acceptance that raises it (every accepted ts
 *                 is below it), read back at start, so only tokens stamped
 *                 before the last acceptance are UNSURE.  A protocol that
 *                 can do without the 0-RTT part answers UNSURE with a full
 *                 round trip (docs/ws-protocol.md); one that cannot
 *                 refuses it (wstan).
 *
 *                 The cache behind a store is this process's (replay_t).
 *                 Several instances behind a load balancer also ask a
 *                 cache they share (replay_shared_ops_t; Redis, in
 *                 core/replay_redis.c): the local cache first (a replay at
 *                 this instance costs no round trip), then the shared one,
 *                 whose answer comes later: replay_store_judge() answers
 *                 PENDING and calls back from the loop.  When the shared
 *                 cache cannot answer (unreachable, too slow, too many
 *                 checks waiting) the verdict is DOWN: the token is not
 *                 known to be new, so a caller treats it as UNSURE or
 *                 refuses it; never as NEW.  /health lists the shared
 *                 caches ("replay": kind, backend, state, reason) and says
 *                 "degraded" while one is not up.
 */
#ifndef SLUICE_REPLAY_H
#define SLUICE_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/metrics.h"

#define REPLAY_NONCE 16

enum {
	REPLAY_NEW = 0,
	REPLAY_SEEN = 1,
	REPLAY_FULL = 2,
	REPLAY_STALE = 3,
	REPLAY_UNSURE = 4,
	REPLAY_DOWN = 5,   /* the shared cache could not answer */
	REPLAY_PENDING = 6 /* replay_store_judge(): the verdict comes later */
};

typedef struct replay replay_t;

replay_t *replay_new(size_t capacity);
int replay_check_add(replay_t *r, const uint8_t nonce[REPLAY_NONCE], uint64_t now_ms,
                     uint64_t expiry_ms);
size_t replay_size(const replay_t *r);
void replay_free(replay_t *r);

/* ---- one store per tunnel key, process-wide ---- */

typedef struct replay_backend_ops {
	const char *name;
	void *(*open)(size_t capacity);
	/* REPLAY_NEW (now remembered until expiry_ms), _SEEN or _FULL */
	int (*check_add)(void *b, const uint8_t nonce[REPLAY_NONCE], uint64_t now_ms,
	                 uint64_t expiry_ms);
	size_t (*size)(void *b);
	void (*close)(void *b);
} replay_backend_ops_t;

extern const replay_backend_ops_t replay_local_ops; /* replay_t, in this process */

/* The cache the worker processes of one sluice share (core/replay_shm.c):
 * the master creates it (a descriptor of `slots` nonces' room, or -errno
 * and err); each worker attaches it before any store is made, and every
 * store then asks it, in a namespace of its own (replay_shm_ns). */
int replay_shm_create(size_t slots, char *err, size_t errlen);
int replay_shm_attach(int fd, char *err, size_t errlen);
int replay_shm_attached(void);
void *replay_shm_ns(const char *kind, const uint8_t id[32]);
extern const replay_backend_ops_t replay_shm_ops;

/* A cache shared by several processes, asked over the network.  check()
 * records key (REPLAY_NONCE bytes, already namespaced by the store) for
 * ttl_ms unless it is there: REPLAY_DOWN at once when it cannot ask (down,
 * queue full), else REPLAY_PENDING with *req, and cb(ud, REPLAY_NEW |
 * _SEEN | _DOWN) exactly once later, from the loop, unless cancel(*req)
 * first.  state() is "up", "connecting" or "down", with why. */
typedef void (*replay_shared_cb)(void *ud, int verdict);
typedef struct replay_shared_ops {
	const char *scheme; /* of the replay= URL: "redis" */
	int (*open)(uv_loop_t *loop, const char *url, uint64_t timeout_ms, const char *ns,
	            void **out, char *err, size_t errlen);
	int (*check)(void *b, const uint8_t key[REPLAY_NONCE], uint64_t ttl_ms, replay_shared_cb cb,
	             void *ud, void **req);
	void (*cancel)(void *req);
	const char *(*state)(void *b, char *why, size_t len);
	void (*metrics)(void *b, mbuf_t *out, const char *labels);
	void (*close)(void *b); /* no check may be pending */
} replay_shared_ops_t;

extern const replay_shared_ops_t replay_redis_ops;

typedef struct replay_store replay_store_t;

typedef struct replay_conf {
	size_t capacity;   /* nonces remembered (the first listener's wins) */
	uint64_t skew_ms;  /* this listener's clock window */
	const char *state; /* replay-state=FILE for the high-water mark, or NULL */
	/* 1: the protocol can take an UNSURE open one round trip later (ws),
	 * so without a mark the floor is start + skew.  0: it can only refuse
	 * (wstan), so the floor is the start: refusing every open for `skew`
	 * after each start would cost more than the rest it closes (a token
	 * stamped ahead of the clock, replayed across a restart). */
	int round_trip;
	/* replay=URL: a cache shared with other instances, or NULL */
	const char *shared;
	uint64_t shared_timeout_ms; /* how long one check may wait */
	uv_loop_t *loop;
} replay_conf_t;

/* The options of a server that can share its cache, for its opts table
 * (core/opts.h). */
#define REPLAY_SHARED_OPTS(T, url, timeout)                                                        \
	OPT_STR(T, url, "replay", "this process's cache", "redis://HOST:PORT[/DB]",                \
	        "a replay cache shared with the other instances behind a load balancer "           \
	        "(docs/deploy.md): a token is accepted by the first instance that records it"),    \
	    OPT_DURATION(T, timeout, "replay-timeout", "500ms",                                    \
	                 "how long an open waits for the shared replay cache; past it the cache "  \
	                 "counts as down (docs/deploy.md)")

/* The store of the key identified by (kind, id), e.g. ("ws", K_auth):
 * made on first use, shared afterwards; each get needs a put.  -errno with
 * a message when the state file cannot be used, or when two listeners of
 * one key name different state files. */
int replay_store_get(const char *kind, const uint8_t id[32], const replay_conf_t *c,
                     replay_store_t **out, char *err, size_t errlen);
void replay_store_put(replay_store_t *s);

/* Judge a token stamped ts_ms carrying nonce (see above); skew_ms is the
 * asking listener's window.  Unless STALE, SEEN or FULL, the nonce is
 * remembered for as long as any listener of the store could accept it. */
int replay_store_check(replay_store_t *s, const uint8_t nonce[REPLAY_NONCE], uint64_t ts_ms,
                       uint64_t now_ms, uint64_t skew_ms);
/* The same, for a store that may have a shared cache: REPLAY_PENDING and
 * fn(ud, verdict) later (once, from the loop) unless replay_wait_cancel(*w)
 * before; the verdicts add REPLAY_DOWN.  Without a shared cache it always
 * answers at once. */
typedef struct replay_wait replay_wait_t;
typedef void (*replay_done_fn)(void *ud, int verdict);
int replay_store_judge(replay_store_t *s, const uint8_t nonce[REPLAY_NONCE], uint64_t ts_ms,
                       uint64_t now_ms, uint64_t skew_ms, replay_done_fn fn, void *ud,
                       replay_wait_t **w);
void replay_wait_cancel(replay_wait_t *w);
/* 1 when the store asks a shared cache. */
int replay_store_shared(const replay_store_t *s);
size_t replay_store_size(const replay_store_t *s);

/* Tokens stamped at or before this may have been seen by an earlier process. */
uint64_t replay_store_floor(const replay_store_t *s);

#endif
