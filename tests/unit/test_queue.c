/* Unit tests: core/queue, the intrusive list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/queue.h"

typedef struct item {
	int v;
	queue_t link;
} item_t;

static int order(queue_t *h, int *out, int max)
{
	queue_t *q;
	int n = 0;

	queue_foreach (q, h) {
		assert_true(n < max);
		out[n++] = queue_data(q, item_t, link)->v;
	}
	return n;
}

static void test_insert_remove(void **st)
{
	item_t it[4];
	queue_t h, *q;
	int got[8];

	memset(it, 0, sizeof(it));
	queue_init(&h);
	assert_true(queue_empty(&h));
	assert_null(queue_first(&h));
	assert_null(queue_pop(&h));
	for (int i = 0; i < 4; i++) {
		it[i].v = i;
		assert_false(queue_linked(&it[i].link)); /* zeroed: not linked */
	}
	queue_insert_tail(&h, &it[1].link);
	queue_insert_tail(&h, &it[2].link);
	queue_insert_head(&h, &it[0].link);
	queue_insert_tail(&h, &it[3].link);
	assert_int_equal(order(&h, got, 8), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(got[i], i);
	assert_ptr_equal(queue_last(&h), &it[3].link);
	queue_remove(&it[2].link);
	assert_false(queue_linked(&it[2].link));
	queue_remove(&it[2].link); /* twice: nothing */
	assert_int_equal(order(&h, got, 8), 3);
	assert_int_equal(got[2], 3);
	q = queue_pop(&h);
	assert_ptr_equal(q, &it[0].link);
	assert_false(queue_linked(q));
	assert_int_equal(order(&h, got, 8), 2);
	assert_int_equal(got[0], 1);
}

/* The safe loop survives removing the link it stands on. */
static void test_foreach_safe(void **st)
{
	item_t it[5];
	queue_t h, *q, *n;
	int got[8];

	memset(it, 0, sizeof(it));
	queue_init(&h);
	for (int i = 0; i < 5; i++) {
		it[i].v = i;
		queue_insert_tail(&h, &it[i].link);
	}
	queue_foreach_safe (q, n, &h) {
		if (queue_data(q, item_t, link)->v % 2 == 0)
			queue_remove(q);
	}
	assert_int_equal(order(&h, got, 8), 2);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 3);
	queue_foreach_safe (q, n, &h)
		queue_remove(q);
	assert_true(queue_empty(&h));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_insert_remove),
	    cmocka_unit_test(test_foreach_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
