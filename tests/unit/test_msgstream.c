/* Unit tests: core/msgstream, the base of the message streams.
 *
 * A small stream ("tstream") is built on the base the way the tunnels are:
 * the test plays its producer (pushes messages, latches errors) and its
 * reader (records every callback), and turns the loop by hand, so each
 * check sees exactly when a callback runs: never inside an op, on the
 * next turn after a kick, in order, nothing after an error or a close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/msgstream.h"

typedef struct tstream {
	msgstream_t m;
	int pauses, resumes, kicks;
	size_t consumed, below;
} tstream_t;

/* what the reader saw: 'r' data (len), 'e' end, 'x' error, 'd' drain */
typedef struct ev {
	char kind;
	size_t len;
	int err;
} ev_t;

static uv_loop_t *loop;
static ev_t evs[64];
static int nev;
static int close_on; /* close the stream at this event (1-based), 0: never */
static int in_op;    /* an op of the stream is running */

static void record(stream_t *s, char kind, size_t len, int err)
{
	assert_false(in_op); /* never called back from inside an op */
	assert_true(nev < 64);
	evs[nev++] = (ev_t){kind, len, err};
	if (close_on == nev)
		stream_close(s);
}

static void on_read(stream_t *s, sbuf_t *b)
{
	record(s, b ? 'r' : 'e', b ? b->len : 0, 0);
	sbuf_free(b);
}
static void on_drain(stream_t *s)
{
	record(s, 'd', 0, 0);
}
static void on_error(stream_t *s, int err)
{
	record(s, 'x', 0, err);
}
static const stream_cbs_t cbs = {on_read, on_drain, on_error};

static void h_pause(msgstream_t *m, int on)
{
	tstream_t *t = (tstream_t *)m;

	if (on)
		t->pauses++;
	else
		t->resumes++;
}
static void h_consumed(msgstream_t *m, size_t n)
{
	((tstream_t *)m)->consumed += n;
}
static size_t h_pending(msgstream_t *m)
{
	return ((tstream_t *)m)->below;
}
static const msgstream_hooks_t hooks = {
    .pause = h_pause, .consumed = h_consumed, .pending = h_pending};

static void h_kick(msgstream_t *m)
{
	((tstream_t *)m)->kicks++;
}
static const msgstream_hooks_t own_turn = {.kick = h_kick};

/* ---- the stream's ops, as an implementation writes them ---- */

static int t_write(stream_t *s, sbuf_t *b)
{
	msgstream_hold((msgstream_t *)s, b);
	return 0;
}
static int t_shutdown(stream_t *s)
{
	return 0;
}
static void t_read_start(stream_t *s)
{
	in_op = 1;
	msgstream_read_start((msgstream_t *)s);
	in_op = 0;
}
static void t_read_stop(stream_t *s)
{
	msgstream_read_stop((msgstream_t *)s);
}
static int freed;
static void t_done(msgstream_t *m)
{
	freed++;
	free(m);
}
static void t_close(stream_t *s)
{
	msgstream_release((msgstream_t *)s, t_done);
}
static const stream_ops_t t_ops = {
    .name = "test",
    .write = t_write,
    .shutdown = t_shutdown,
    .read_start = t_read_start,
    .read_stop = t_read_stop,
    .close = t_close,
};

static tstream_t *tnew(const msgstream_hooks_t *h)
{
	tstream_t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	msgstream_init(&t->m, &t_ops, 7, loop, h);
	stream_set_cbs(&t->m.s, &cbs, NULL);
	return t;
}

static sbuf_t *msg(size_t n)
{
	sbuf_t *b = sbuf_new(n ? n : 1);

	memset(b->data, 'a', n);
	b->len = (uint32_t)n;
	return b;
}

static void turn(void)
{
	uv_run(loop, UV_RUN_NOWAIT);
}

static int setup(void **st)
{
	loop = uv_default_loop();
	nev = 0;
	close_on = 0;
	freed = 0;
	return 0;
}

static int teardown(void **st)
{
	uv_run(loop, UV_RUN_DEFAULT); /* close callbacks: ASan sees any leak */
	return 0;
}

/* Nothing reaches a reader that has not asked; read_start delivers on the
 * next turn, never from inside the op. */
static void test_deferred(void **st)
{
	tstream_t *t = tnew(&hooks);

	msgstream_push(&t->m, msg(10));
	msgstream_push(&t->m, msg(20));
	msgstream_deliver(&t->m);
	assert_int_equal(nev, 0);
	stream_read_start(&t->m.s);
	assert_int_equal(nev, 0);
	turn();
	assert_int_equal(nev, 2);
	assert_int_equal(evs[0].len, 10);
	assert_int_equal(evs[1].len, 20);
	assert_int_equal(t->consumed, 30);
	stream_close(&t->m.s);
	turn();
	assert_int_equal(freed, 1);
}

/* Messages, then the end of data, then the error; nothing after it. */
static void test_order_and_latch(void **st)
{
	tstream_t *t = tnew(&hooks);

	stream_read_start(&t->m.s);
	msgstream_push(&t->m, msg(5));
	msgstream_push(&t->m, NULL);
	assert_int_equal(msgstream_push(&t->m, msg(5)), UV_ENOBUFS); /* after the end */
	msgstream_fail(&t->m, UV_ECONNRESET);
	msgstream_fail(&t->m, UV_EPROTO); /* the first error wins */
	msgstream_drain_later(&t->m);
	turn();
	assert_int_equal(nev, 3);
	assert_int_equal(evs[0].kind, 'r');
	assert_int_equal(evs[1].kind, 'e');
	assert_int_equal(evs[2].kind, 'x');
	assert_int_equal(evs[2].err, UV_ECONNRESET);
	msgstream_push(&t->m, msg(5));
	msgstream_deliver(&t->m);
	turn();
	assert_int_equal(nev, 3); /* no drain, no data after the error */
	stream_close(&t->m.s);
}

/* An error reaches a paused reader (it must close); its queue goes. */
static void test_error_while_paused(void **st)
{
	tstream_t *t = tnew(&hooks);

	msgstream_push(&t->m, msg(5));
	msgstream_push(&t->m, NULL);
	msgstream_fail(&t->m, UV_ETIMEDOUT);
	msgstream_deliver(&t->m);
	assert_int_equal(nev, 1);
	assert_int_equal(evs[0].kind, 'x');
	assert_int_equal(evs[0].err, UV_ETIMEDOUT);
	stream_read_start(&t->m.s);
	turn();
	assert_int_equal(nev, 1);
	stream_close(&t->m.s);
}

/* Watermarks: while the reader reads, the producer stops at high and
 * restarts below low. */
static void test_watermarks(void **st)
{
	tstream_t *t = tnew(&hooks);

	msgstream_set_marks(&t->m, 100, 40);
	stream_read_start(&t->m.s);
	turn();
	for (int i = 0; i < 3; i++)
		msgstream_push(&t->m, msg(30));
	assert_int_equal(t->pauses, 0); /* 90 < 100 */
	msgstream_push(&t->m, msg(30));
	assert_int_equal(t->pauses, 1);
	msgstream_push(&t->m, msg(30)); /* still accepted: the producer had it in flight */
	assert_int_equal(t->pauses, 1);
	stream_read_stop(&t->m.s); /* already paused */
	assert_int_equal(t->pauses, 1);
	stream_read_start(&t->m.s);
	stream_read_stop(&t->m.s); /* paused again before the turn: nothing */
	turn();
	assert_int_equal(nev, 0);
	assert_int_equal(t->resumes, 0);
	stream_read_start(&t->m.s);
	turn();
	assert_int_equal(nev, 5);
	assert_int_equal(t->resumes, 1);
	stream_close(&t->m.s);
}

/* A reader that stops (its own queue full) stops the producer at once: rq
 * does not fill to high behind it, so a stalled reader costs its own bound
 * and not a second one here.  So does a message before the reader starts. */
static void test_stopped_reader_pauses(void **st)
{
	tstream_t *t = tnew(&hooks);

	msgstream_set_marks(&t->m, 100, 40);
	msgstream_push(&t->m, msg(30)); /* nobody reads yet */
	assert_int_equal(t->pauses, 1);
	stream_read_start(&t->m.s);
	turn();
	assert_int_equal(nev, 1);
	assert_int_equal(t->resumes, 1);
	stream_read_stop(&t->m.s);
	assert_int_equal(t->pauses, 2); /* with rq empty, far under high */
	msgstream_push(&t->m, msg(30)); /* in flight: accepted */
	assert_int_equal(t->pauses, 2);
	turn();
	assert_int_equal(nev, 1);
	stream_read_start(&t->m.s);
	turn();
	assert_int_equal(nev, 2);
	assert_int_equal(t->resumes, 2);
	stream_close(&t->m.s);
}

/* A reader that closes from its callback hears nothing more. */
static void test_close_inside_callback(void **st)
{
	tstream_t *t = tnew(&hooks);

	close_on = 2;
	msgstream_push(&t->m, msg(1));
	msgstream_push(&t->m, msg(2));
	msgstream_push(&t->m, msg(3));
	msgstream_push(&t->m, NULL);
	msgstream_fail(&t->m, UV_EPIPE);
	stream_read_start(&t->m.s);
	turn();
	assert_int_equal(nev, 2);
	turn();
	assert_int_equal(freed, 1);
}

/* Writes before the transport is up: take() copies across chunk edges,
 * wq_bytes counts the held bytes and what the wire holds below. */
static void test_take(void **st)
{
	tstream_t *t = tnew(&hooks);
	uint8_t out[16];
	sbuf_t *b;

	stream_write(&t->m.s, sbuf_from("hello ", 6));
	stream_write(&t->m.s, sbuf_from("world!", 6));
	assert_int_equal(t->m.s.wq_bytes, 12);
	assert_int_equal(msgstream_take(&t->m, out, 8), 8);
	assert_memory_equal(out, "hello wo", 8);
	assert_int_equal(t->m.s.wq_bytes, 4);
	t->below = 100;
	b = msgstream_pop_held(&t->m);
	assert_int_equal(b->len, 4);
	assert_memory_equal(sbuf_ptr(b), "rld!", 4);
	sbuf_free(b);
	assert_null(msgstream_pop_held(&t->m));
	assert_int_equal(t->m.s.wq_bytes, 100);
	assert_int_equal(msgstream_take(&t->m, out, sizeof(out)), 0);
	stream_close(&t->m.s);
}

/* A write completion: now from the producer, or on the next turn; only at
 * or below the low-water mark. */
static void test_drain(void **st)
{
	tstream_t *t = tnew(&hooks);

	t->below = STREAM_LOW_WATER + 1;
	msgstream_drained(&t->m);
	assert_int_equal(nev, 0);
	t->below = STREAM_LOW_WATER;
	msgstream_drained(&t->m);
	assert_int_equal(nev, 1);
	msgstream_drain_later(&t->m);
	assert_int_equal(nev, 1);
	turn();
	assert_int_equal(nev, 2);
	assert_int_equal(evs[1].kind, 'd');
	stream_close(&t->m.s);
}

/* Datagram mode: each message whole and separate, an empty one too; at
 * the cap the new message is dropped and counted, the producer never
 * paused. */
static void test_datagrams(void **st)
{
	tstream_t *t = tnew(&hooks);

	msgstream_set_dgram(&t->m, 1000, 4);
	assert_int_equal(msgstream_push(&t->m, msg(300)), 0);
	assert_int_equal(msgstream_push(&t->m, msg(0)), 0);
	assert_int_equal(msgstream_push(&t->m, msg(600)), 0);
	assert_int_equal(msgstream_push(&t->m, msg(200)), UV_ENOBUFS); /* bytes */
	assert_int_equal(msgstream_push(&t->m, msg(100)), 0);
	assert_int_equal(msgstream_push(&t->m, msg(0)), UV_ENOBUFS); /* messages */
	assert_int_equal(t->m.dropped, 2);
	assert_int_equal(t->pauses, 0);
	stream_read_start(&t->m.s);
	turn();
	assert_int_equal(nev, 4);
	assert_int_equal(evs[0].len, 300);
	assert_int_equal(evs[1].len, 0);
	assert_int_equal(evs[1].kind, 'r');
	assert_int_equal(evs[2].len, 600);
	assert_int_equal(evs[3].len, 100);
	assert_int_equal(msgstream_push(&t->m, msg(900)), 0); /* room again */
	stream_close(&t->m.s);
}

/* An implementation with a turn of its own: kicks go to it, no timer. */
static void test_own_turn(void **st)
{
	tstream_t *t = tnew(&own_turn);

	msgstream_push(&t->m, msg(3));
	stream_read_start(&t->m.s);
	assert_int_equal(t->kicks, 1);
	turn();
	assert_int_equal(nev, 0);
	msgstream_deliver(&t->m); /* its turn */
	assert_int_equal(nev, 1);
	stream_close(&t->m.s);
	assert_int_equal(freed, 1); /* no timer: done at once */
}

/* Segments appended with room/grow reach the reader as one chunk, byte
 * for byte and in order; a chunk without room for the next starts another;
 * nothing is taken after the end, and a datagram stream takes none. */
static void test_room(void **st)
{
	tstream_t *t = tnew(&hooks);
	uint8_t *d;
	size_t k;

	for (k = 0; k < 3; k++) {
		d = msgstream_room(&t->m, 100, 250);
		assert_non_null(d);
		memset(d, 'A' + (int)k, 100);
		msgstream_grow(&t->m, 100);
	}
	/* 250 bytes held 200: the third went into a second chunk */
	assert_int_equal(t->m.nrq, 2);
	assert_int_equal(t->m.rq.bytes, 300);
	assert_memory_equal(sbuf_ptr(t->m.rq.head) + 100, "BBBB", 4);
	assert_memory_equal(sbuf_ptr(t->m.rq.tail), "CCCC", 4);
	msgstream_push(&t->m, NULL);
	assert_null(msgstream_room(&t->m, 1, 1));
	stream_read_start(&t->m.s);
	turn();
	assert_int_equal(nev, 3);
	assert_int_equal(evs[0].len, 200);
	assert_int_equal(evs[1].len, 100);
	assert_int_equal(evs[2].kind, 'e');
	assert_int_equal(t->consumed, 300);
	stream_close(&t->m.s);
	t = tnew(&hooks);
	msgstream_set_dgram(&t->m, 1000, 4);
	assert_null(msgstream_room(&t->m, 1, 1));
	stream_close(&t->m.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_deferred, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_and_latch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_while_paused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watermarks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stopped_reader_pauses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_inside_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_take, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_datagrams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_own_turn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_room, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
