/* stream: helpers shared by every implementation (see stream.h). */
#include "core/stream.h"

#include <string.h>

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
