/* wbatch: see wbatch.h. */
#include "core/wbatch.h"

#include <stdlib.h>
#include <string.h>

static void on_flush(uv_timer_t *t)
{
	wbatch_flush(t->data);
}

void wbatch_init(wbatch_t *w, uv_loop_t *loop)
{
	memset(w, 0, sizeof(*w));
	w->t = malloc(sizeof(*w->t));
	if (!w->t)
		abort();
	uv_timer_init(loop, w->t);
	w->t->data = w;
}

void wbatch_flush(wbatch_t *w)
{
	sbuf_t *b = w->b;

	w->b = NULL;
	if (b)
		stream_write(w->s, b);
}

void wbatch_write(wbatch_t *w, stream_t *s, const void *p, size_t len)
{
	if (w->b && (w->s != s || w->b->cap - w->b->len < len))
		wbatch_flush(w);
	if (len > SBUF_DEFAULT) {
		stream_write_copy(s, p, len);
		return;
	}
	if (!w->b) {
		w->b = sbuf_new(SBUF_DEFAULT);
		w->s = s;
	}
	memcpy(w->b->data + w->b->len, p, len);
	w->b->len += (uint32_t)len;
	if (!uv_is_active((uv_handle_t *)w->t))
		uv_timer_start(w->t, on_flush, 0, 0);
}

void wbatch_drop(wbatch_t *w)
{
	sbuf_free(w->b);
	w->b = NULL;
	if (w->t)
		uv_timer_stop(w->t);
}

void wbatch_close(wbatch_t *w)
{
	wbatch_drop(w);
	if (w->t)
		uv_close((uv_handle_t *)w->t, (uv_close_cb)free);
	w->t = NULL;
}
