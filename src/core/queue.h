/* queue: one intrusive doubly linked list, as libuv's uv__queue.
 *
 * A list is a queue_t head; an element embeds a queue_t link and is found
 * from it with queue_data().  The head and every link form a ring, so
 * insertion and removal are a few stores with no special case for the ends
 * and no allocation.  A link that is zeroed, initialised or removed is not
 * linked: queue_remove() on it does nothing, so an element can be removed
 * from wherever it is (or is not) without a flag of its own.
 *
 *   queue_t conns;                       struct conn { queue_t link; ... };
 *   queue_init(&conns);
 *   queue_insert_tail(&conns, &c->link);
 *   queue_foreach_safe(q, n, &conns)
 *           conn_close(queue_data(q, conn_t, link));
 */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H

#include <stddef.h>

typedef struct queue {
	struct queue *next, *prev;
} queue_t;

#define queue_data(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* q runs over the links of head h; the _safe form may remove q. */
#define queue_foreach(q, h) for ((q) = (h)->next; (q) != (h); (q) = (q)->next)
#define queue_foreach_safe(q, n, h)                                                                \
	for ((q) = (h)->next, (n) = (q)->next; (q) != (h); (q) = (n), (n) = (q)->next)

static inline void queue_init(queue_t *q)
{
	q->next = q->prev = q;
}

static inline int queue_empty(const queue_t *h)
{
	return h->next == h;
}

/* The first or last link, or NULL when the list is empty. */
static inline queue_t *queue_first(const queue_t *h)
{
	return h->next == h ? NULL : h->next;
}
static inline queue_t *queue_last(const queue_t *h)
{
	return h->prev == h ? NULL : h->prev;
}

static inline int queue_linked(const queue_t *q)
{
	return q->next && q->next != q;
}

static inline void queue_insert_tail(queue_t *h, queue_t *q)
{
	q->next = h;
	q->prev = h->prev;
	q->prev->next = q;
	h->prev = q;
}

static inline void queue_insert_head(queue_t *h, queue_t *q)
{
	q->next = h->next;
	q->prev = h;
	q->next->prev = q;
	h->next = q;
}

static inline void queue_remove(queue_t *q)
{
	if (!queue_linked(q))
		return;
	q->prev->next = q->next;
	q->next->prev = q->prev;
	queue_init(q);
}

/* Take the first link off the list; NULL when it is empty. */
static inline queue_t *queue_pop(queue_t *h)
{
	queue_t *q = queue_first(h);

	if (q)
		queue_remove(q);
	return q;
}

#endif
