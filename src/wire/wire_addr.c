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

static int addr_parse(const uint8_t *buf, size_t len, target_t *t, int any_port)
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
	return t->port || any_port ? (int)(3 + hl) : -EINVAL;
}

int wire_addr_parse(const uint8_t *buf, size_t len, target_t *t)
{
	return addr_parse(buf, len, t, 0);
}

int wire_listen_parse(const uint8_t *buf, size_t len, target_t *t)
{
	int n = addr_parse(buf, len, t, 1);

	return n < 0 || (size_t)n != len ? -EINVAL : 0;
}

size_t wire_conn_encode(uint64_t conn, const char *peer, size_t peermax, uint8_t *out, size_t cap)
{
	size_t pl = peer ? strnlen(peer, peermax) : 0;

	if (cap < 8 + pl)
		return 0;
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(conn >> (56 - 8 * i));
	if (pl)
		memcpy(out + 8, peer, pl);
	return 8 + pl;
}

int wire_conn_parse(const uint8_t *buf, size_t len, uint64_t *conn, size_t peermax, char *peer,
                    size_t peercap)
{
	size_t pl;

	if (len < 8 || (!peer && len != 8))
		return -EINVAL;
	pl = len - 8;
	if (peer && (pl > peermax || pl >= peercap))
		return -EINVAL;
	*conn = 0;
	for (int i = 0; i < 8; i++)
		*conn = *conn << 8 | buf[i];
	if (peer) {
		for (size_t i = 0; i < pl; i++)
			if (buf[8 + i] < 0x20 || buf[8 + i] > 0x7e)
				return -EINVAL;
		memcpy(peer, buf + 8, pl);
		peer[pl] = 0;
	}
	return 0;
}
