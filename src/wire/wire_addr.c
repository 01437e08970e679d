/* wire_addr: see wire_addr.h. */
#include "wire/wire_addr.h"

#include <errno.h>
#include <string.h>

int wire_addr_encode(const target_t *t, uint8_t *out, size_t cap)
{
	size_t hl = strlen(t->host);

	if (!hl || hl > 255)
		return -EINVAL;
	if (cap < 3 + hl)
		return -ENOSPC;
	out[0] = (uint8_t)hl;
	memcpy(out + 1, t->host, hl);
	out[1 + hl] = (uint8_t)(t->port >> 8);
	out[2 + hl] = (uint8_t)t->port;
	return (int)(3 + hl);
}

int wire_addr_parse(const uint8_t *buf, size_t len, target_t *t)
{
	size_t hl;

	if (len < 1)
		return -EINVAL;
	hl = buf[0];
	if (!hl || len < 3 + hl)
		return -EINVAL;
	for (size_t i = 0; i < hl; i++)
		if (buf[1 + i] <= ' ' || buf[1 + i] >= 0x7f || buf[1 + i] == '/')
			return -EINVAL;
	memcpy(t->host, buf + 1, hl);
	t->host[hl] = 0;
	t->port = (uint16_t)(buf[1 + hl] << 8 | buf[2 + hl]);
	return t->port ? (int)(3 + hl) : -EINVAL;
}
