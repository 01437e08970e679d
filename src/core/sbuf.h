/* sbuf: an owned chunk of bytes travelling between streams.
 *
 * A chunk has one owner at a time.  Readers hand the chunk they filled to
 * their consumer, writers free it when the write completes, so forwarding
 * never copies.  Chunks of the default size come from a small free list so
 * that a busy relay does not call malloc per read; idle connections hold no
 * chunk at all.  Valid bytes are data[off .. off+len).
 */
#ifndef SLUICE_SBUF_H
#define SLUICE_SBUF_H

#include <stddef.h>
#include <stdint.h>

/* 128 KiB reads halve the syscalls of 64 KiB ones (bench/tcpfwd.sh). */
#define SBUF_DEFAULT (128 * 1024)

typedef struct sbuf {
	struct sbuf *next; /* for whoever queues it */
	uint32_t off, len, cap;
	uint8_t data[];
} sbuf_t;

sbuf_t *sbuf_new(size_t cap);
sbuf_t *sbuf_from(const void *p, size_t len);
void sbuf_free(sbuf_t *b);
static inline uint8_t *sbuf_ptr(sbuf_t *b)
{
	return b->data + b->off;
}
void sbuf_consume(sbuf_t *b, size_t n);
/* A default-size chunk that holds little (at most SBUF_DEFAULT / 4 bytes)
 * becomes an exact-size copy and goes back to the free list: a chunk that
 * may wait in a queue must not pin 128 KiB for a few bytes (a thousand
 * connections each holding one short read would pin 128 MiB).  Other
 * chunks are returned as they are. */
sbuf_t *sbuf_fit(sbuf_t *b);

/* A FIFO of chunks with a byte count. */
typedef struct sbuf_queue {
	sbuf_t *head, *tail;
	size_t bytes;
} sbuf_queue_t;

void sbufq_push(sbuf_queue_t *q, sbuf_t *b);
sbuf_t *sbufq_pop(sbuf_queue_t *q);
void sbufq_clear(sbuf_queue_t *q);

#endif
