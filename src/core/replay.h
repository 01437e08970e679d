/* replay: a bounded cache of nonces seen within a time window.
 *
 * replay_check_add() answers "new" (and remembers the nonce until its
 * expiry) or "seen".  Entries expire in insertion order (a FIFO ring beside
 * an open-addressing hash set), so expiry costs O(1) per entry.  When the
 * cache is full of unexpired nonces it refuses new ones (REPLAY_FULL): a
 * flood can make the server refuse opens for a while, never accept a
 * replay.
 */
#ifndef SLUICE_REPLAY_H
#define SLUICE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_NONCE 16

enum { REPLAY_NEW = 0, REPLAY_SEEN = 1, REPLAY_FULL = 2 };

typedef struct replay replay_t;

replay_t *replay_new(size_t capacity);
int replay_check_add(replay_t *r, const uint8_t nonce[REPLAY_NONCE], uint64_t now_ms,
                     uint64_t expiry_ms);
size_t replay_size(const replay_t *r);
void replay_free(replay_t *r);

#endif
