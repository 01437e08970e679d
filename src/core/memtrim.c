/* memtrim: see memtrim.h. */
#include "core/memtrim.h"

#include "core/log.h"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>

static uv_timer_t timer;
static size_t base; /* resident and not in use, right after the last trim */

/* Resident bytes that malloc does not count as handed out: code, stacks,
 * and free heap pages nobody gave back. */
static size_t idle_resident(void)
{
	struct mallinfo2 mi = mallinfo2();
	size_t used = mi.uordblks + mi.hblkhd, rss = 0;

	if (uv_resident_set_memory(&rss) < 0)
		return 0;
	return rss > used ? rss - used : 0;
}

static void on_tick(uv_timer_t *t)
{
	size_t idle = idle_resident(), after;

	if (idle < base)
		base = idle;
	if (idle < base + MEMTRIM_MIN)
		return;
	malloc_trim(0);
	after = idle_resident();
	log_debug(0, "memtrim: %zu KiB resident and free, %zu KiB after trimming", idle >> 10,
	          after >> 10);
	base = after;
}

void memtrim_start(uv_loop_t *loop)
{
	base = idle_resident();
	uv_timer_init(loop, &timer);
	uv_timer_start(&timer, on_tick, MEMTRIM_MS, MEMTRIM_MS);
	uv_unref((uv_handle_t *)&timer);
}
#else
void memtrim_start(uv_loop_t *loop)
{
	(void)loop;
}
#endif
