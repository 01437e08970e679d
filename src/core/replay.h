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
 *                 The cache behind a store is a backend behind an ops
 *                 table; this process's table (replay_t) is the one there
 *                 is.  Several server instances behind a load balancer
 *                 need a backend they share (Redis SET NX PX, say): it
 *                 plugs in as another ops table.  The verdict is taken
 *                 synchronously today; a networked backend makes check
 *                 asynchronous at its two callers (the ws and wstan
 *                 servers' request handlers).
 */
#ifndef SLUICE_REPLAY_H
#define SLUICE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_NONCE 16

enum { REPLAY_NEW = 0, REPLAY_SEEN = 1, REPLAY_FULL = 2, REPLAY_STALE = 3, REPLAY_UNSURE = 4 };

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
} replay_conf_t;

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
size_t replay_store_size(const replay_store_t *s);
/* Tokens stamped at or before this may have been seen by an earlier process. */
uint64_t replay_store_floor(const replay_store_t *s);

#endif
