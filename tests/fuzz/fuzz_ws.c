/* fuzz_ws: arbitrary bytes into tunnel/ws/ws, two ways.
 *
 *   1. The whole input as a client's view of the server's response head:
 *      ws_client_check_response (with a header copied out).
 *   2. The input after its first byte as the wire bytes reaching a ws_t,
 *      through an in-memory inner stream whose writes are simply freed.
 *      The first byte picks: client or server side, the chunk size the
 *      bytes arrive in, pause/resume between chunks, echoing each message
 *      back, a ws_close after the third message, ws_free from inside a
 *      callback, and an EOF at the end.  A libuv loop is turned with
 *      UV_RUN_NOWAIT between chunks so deferred work runs; the ws_t is freed
 *      at the end and the loop run until its handles are gone, so LSan sees
 *      any leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "tunnel/ws/ws.h"

#define F_CLIENT 0x01
#define F_PAUSE 0x02
#define F_CHUNK 0x0c /* two bits: chunk size */
#define F_ECHO 0x10
#define F_CLOSE 0x20
#define F_FREE_CB 0x40
#define F_EOF 0x80

typedef struct fake {
	stream_t s;
	int reading;
} fake_t;

static uv_loop_t loop;
static int loop_ready;
static fake_t *fake; /* NULL once ws_t closed it */
static int flags, nmsg, closed, freed;

static int fake_write(stream_t *s, sbuf_t *b)
{
	sbuf_free(b);
	return 0;
}
static int fake_shutdown(stream_t *s)
{
	return 0;
}
static void fake_read_start(stream_t *s)
{
	((fake_t *)s)->reading = 1;
}
static void fake_read_stop(stream_t *s)
{
	((fake_t *)s)->reading = 0;
}
static void fake_close(stream_t *s)
{
	free(s);
	fake = NULL;
}

static const stream_ops_t fake_ops = {
    .name = "fake",
    .write = fake_write,
    .shutdown = fake_shutdown,
    .read_start = fake_read_start,
    .read_stop = fake_read_stop,
    .close = fake_close,
};

static void on_message(ws_t *w, int op, sbuf_t *m)
{
	nmsg++;
	if (flags & F_ECHO)
		ws_send(w, op, m);
	else
		sbuf_free(m);
	if ((flags & F_CLOSE) && nmsg == 3)
		ws_close(w, 1000, "enough");
	if ((flags & F_FREE_CB) && nmsg == 5) {
		ws_free(w);
		freed = 1;
	}
}

static void on_drain(ws_t *w) {}

static void on_close(ws_t *w, int code, const char *reason)
{
	if (closed || freed)
		abort(); /* once, and never after ws_free */
	closed = 1;
}

static const ws_cbs_t cbs = {.on_message = on_message, .on_drain = on_drain, .on_close = on_close};

static void check_head(const uint8_t *data, size_t size)
{
	char val[32], err[64];

	ws_client_check_response((const char *)data, size, "dGhlIHNhbXBsZSBub25jZQ==", "X-Hdr", val,
	                         sizeof(val), err, sizeof(err));
	ws_client_check_response((const char *)data, size, "x", NULL, NULL, 0, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[4] = {1, 7, 200, 65536};
	ws_opts_t o = {.max_message = 4096};
	size_t step, off;
	ws_t *w;
	int paused = 0;

	check_head(data, size);
	if (!size)
		return 0;
	if (!loop_ready) {
		uv_loop_init(&loop);
		loop_ready = 1;
	}
	flags = data[0];
	nmsg = closed = freed = 0;
	data++;
	size--;
	step = chunks[(flags & F_CHUNK) >> 2];

	fake = calloc(1, sizeof(*fake));
	if (!fake)
		abort();
	fake->s.ops = &fake_ops;
	fake->s.id = 1;
	w = ws_new(&loop, &fake->s, size > 3 ? sbuf_from(data, 3) : NULL, flags & F_CLIENT, &o,
	           &cbs, NULL);
	if (size > 3) {
		data += 3;
		size -= 3;
	}
	uv_run(&loop, UV_RUN_NOWAIT);
	for (off = 0; off < size && !freed && fake; off += step) {
		size_t n = size - off < step ? size - off : step;

		if (!fake->reading) {
			if (!paused)
				break; /* the ws_t stopped reading for good */
			ws_resume(w);
			paused = 0;
			uv_run(&loop, UV_RUN_NOWAIT);
			if (freed || !fake)
				break;
			if (!fake->reading)
				continue;
		}
		fake->s.cbs->on_read(&fake->s, sbuf_from(data + off, n));
		if (freed || !fake)
			break;
		if ((flags & F_PAUSE) && !paused) {
			ws_pause(w);
			paused = 1;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	if (!freed && paused) {
		ws_resume(w);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	if ((flags & F_EOF) && !freed && fake && fake->reading)
		fake->s.cbs->on_read(&fake->s, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (!freed) {
		ws_pending(w);
		ws_free(w);
	}
	while (uv_run(&loop, UV_RUN_NOWAIT))
		;
	if (fake)
		abort(); /* ws_free must close the inner stream */
	return 0;
}
