/* stream: helpers shared by every implementation (see stream.h). */
#include "core/stream.h"

#include <string.h>

int stream_writev(stream_t *s, sbuf_queue_t *q)
{
	sbuf_t *b;
	int r = 0, e;

	if (s->ops->writev)
		return s->ops->writev(s, q);
	while ((b = sbufq_pop(q))) {
		if (r < 0) {
			sbuf_free(b);
			continue;
		}
		e = stream_write(s, b);
		if (e < 0)
			r = e;
	}
	return r;
}

int stream_write_copy(stream_t *s, const void *p, size_t len)
{
	if (!len)
		return 0;
	return stream_write(s, sbuf_from(p, len));
}

int stream_write_str(stream_t *s, const char *str)
{
	return stream_write_copy(s, str, strlen(str));
}
