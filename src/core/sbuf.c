/* sbuf: see sbuf.h.  The free list is capped so memory returns to the
 * allocator once load drops. */
#include "core/sbuf.h"

#include <stdlib.h>
#include <string.h>

#define FREELIST_MAX ((8u << 20) / SBUF_DEFAULT) /* at most 8 MiB kept */

static sbuf_t *freelist;
static unsigned nfree;

sbuf_t *sbuf_new(size_t cap)
{
	sbuf_t *b;

	if (cap == SBUF_DEFAULT && freelist) {
		b = freelist;
		freelist = b->next;
		nfree--;
	} else {
		b = malloc(sizeof(*b) + cap);
		if (!b)
			abort();
		b->cap = (uint32_t)cap;
	}
	b->next = NULL;
	b->off = b->len = 0;
	return b;
}

sbuf_t *sbuf_from(const void *p, size_t len)
{
	sbuf_t *b = sbuf_new(len ? len : 1);
	memcpy(b->data, p, len);
	b->len = (uint32_t)len;
	return b;
}

void sbuf_free(sbuf_t *b)
{
	if (!b)
		return;
	if (b->cap == SBUF_DEFAULT && nfree < FREELIST_MAX) {
		b->next = freelist;
		freelist = b;
		nfree++;
		return;
	}
	free(b);
}

void sbuf_consume(sbuf_t *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	b->off += (uint32_t)n;
	b->len -= (uint32_t)n;
}

sbuf_t *sbuf_fit(sbuf_t *b)
{
	sbuf_t *c;

	if (b->cap != SBUF_DEFAULT || b->len > SBUF_DEFAULT / 4)
		return b;
	c = sbuf_from(sbuf_ptr(b), b->len);
	sbuf_free(b);
	return c;
}

void sbufq_push(sbuf_queue_t *q, sbuf_t *b)
{
	b->next = NULL;
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->bytes += b->len;
}

sbuf_t *sbufq_pop(sbuf_queue_t *q)
{
	sbuf_t *b = q->head;

	if (!b)
		return NULL;
	q->head = b->next;
	if (!q->head)
		q->tail = NULL;
	q->bytes -= b->len;
	b->next = NULL;
	return b;
}

void sbufq_clear(sbuf_queue_t *q)
{
	sbuf_t *b;

	while ((b = sbufq_pop(q)))
		sbuf_free(b);
}
