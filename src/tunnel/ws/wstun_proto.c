/* wstun_proto: see wstun_proto.h and docs/ws-protocol.md. */
#include "tunnel/ws/wstun_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "wire/wire_addr.h"

int wstun_keys_init(wstun_keys_t *k, const uint8_t *key, size_t len)
{
	return tunnel_keys_init(k, key, len, "sluice/ws/1");
}

int wstun_dir_key(const wstun_keys_t *k, int which, const uint8_t cn[WSTUN_NONCE],
                  const uint8_t *sn, uint8_t out[SEAL_KEY])
{
	uint8_t salt[2 * WSTUN_NONCE];

	memcpy(salt, cn, WSTUN_NONCE);
	if (which == WSTUN_K_EARLY)
		return hkdf_sha256(k->master, k->mlen, salt, WSTUN_NONCE, "early", out, SEAL_KEY);
	if (!sn)
		return -EINVAL;
	memcpy(salt + WSTUN_NONCE, sn, WSTUN_NONCE);
	return hkdf_sha256(k->master, k->mlen, salt, sizeof(salt),
	                   which == WSTUN_K_C2S ? "c2s" : "s2c", out, SEAL_KEY);
}

/* HMAC-SHA256(K_auth, host_len host path_len path || msg) */
static int token_mac(const wstun_keys_t *k, const wstun_bind_t *b, const uint8_t *msg, size_t len,
                     uint8_t mac[WSTUN_MAC])
{
	uint8_t *buf;
	size_t n = 0;

	if (b->host_len > WSTUN_HOST_MAX || b->path_len > WSTUN_PATH_MAX)
		return -EINVAL;
	buf = malloc(1 + b->host_len + 2 + b->path_len + len);
	if (!buf)
		abort();
	buf[n++] = (uint8_t)b->host_len;
	for (size_t i = 0; i < b->host_len; i++) {
		char c = b->host[i];
		buf[n++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	put_be16(buf + n, (uint16_t)b->path_len);
	n += 2;
	memcpy(buf + n, b->path, b->path_len);
	n += b->path_len;
	memcpy(buf + n, msg, len);
	hmac_sha256(k->auth, sizeof(k->auth), buf, n + len, mac);
	free(buf);
	return 0;
}

int wstun_token_build(const wstun_keys_t *k, const wstun_bind_t *b, uint8_t flags, uint64_t ts_ms,
                      const uint8_t nonce[WSTUN_NONCE], const uint8_t *open, size_t open_len,
                      uint8_t *out, size_t cap)
{
	size_t n = WSTUN_HDR;
	uint8_t key[SEAL_KEY];
	seal_t s;
	int r;

	flags &= (uint8_t)~WSTUN_F_OPEN;
	if (open)
		flags |= WSTUN_F_OPEN;
	if (open_len > WSTUN_OPEN_MAX ||
	    cap < WSTUN_HDR + (open ? open_len + SEAL_TAG : 0) + WSTUN_MAC)
		return -ENOSPC;
	out[0] = WSTUN_VERSION;
	out[1] = flags;
	put_be64(out + 2, ts_ms);
	memcpy(out + 10, nonce, WSTUN_NONCE);
	if (open) {
		if ((r = wstun_dir_key(k, WSTUN_K_EARLY, nonce, NULL, key)) < 0 ||
		    (r = seal_init(&s, key, 1, 0)) < 0)
			return r;
		r = seal_seal(&s, out, WSTUN_HDR, open, open_len, out + n);
		seal_free(&s);
		if (r < 0)
			return r;
		n += (size_t)r;
	}
	if ((r = token_mac(k, b, out, n, out + n)) < 0)
		return r;
	return (int)(n + WSTUN_MAC);
}

int wstun_token_parse(const wstun_keys_t *k, const wstun_bind_t *b, const uint8_t *buf, size_t len,
                      wstun_token_t *t)
{
	uint8_t mac[WSTUN_MAC], key[SEAL_KEY];
	size_t body;
	seal_t s;
	int r;

	if (len < WSTUN_HDR + WSTUN_MAC || len > WSTUN_TOKEN_MAX || buf[0] != WSTUN_VERSION)
		return -EINVAL;
	body = len - WSTUN_MAC;
	if (token_mac(k, b, buf, body, mac) < 0 || !ct_equal(mac, buf + body, WSTUN_MAC))
		return -EBADMSG;
	t->flags = buf[1];
	t->ts_ms = get_be64(buf + 2);
	memcpy(t->nonce, buf + 10, WSTUN_NONCE);
	t->open_len = 0;
	if (!(t->flags & WSTUN_F_OPEN))
		return body == WSTUN_HDR ? 0 : -EINVAL;
	if (body < WSTUN_HDR + SEAL_TAG)
		return -EINVAL;
	if ((r = wstun_dir_key(k, WSTUN_K_EARLY, t->nonce, NULL, key)) < 0 ||
	    (r = seal_init(&s, key, 0, 0)) < 0)
		return r;
	r = seal_open(&s, buf, WSTUN_HDR, buf + WSTUN_HDR, body - WSTUN_HDR, t->open);
	seal_free(&s);
	if (r < 0)
		return -EBADMSG;
	t->open_len = (size_t)r;
	return 0;
}

static void answer_mac(const wstun_keys_t *k, const uint8_t *cn, const uint8_t *sn, uint8_t status,
                       uint8_t *mac)
{
	uint8_t msg[6 + 2 * WSTUN_NONCE + 1];

	memcpy(msg, "answer", 6);
	memcpy(msg + 6, cn, WSTUN_NONCE);
	memcpy(msg + 6 + WSTUN_NONCE, sn, WSTUN_NONCE);
	msg[6 + 2 * WSTUN_NONCE] = status;
	hmac_sha256(k->auth, sizeof(k->auth), msg, sizeof(msg), mac);
}

void wstun_answer_build(const wstun_keys_t *k, const uint8_t cn[WSTUN_NONCE],
                        const uint8_t sn[WSTUN_NONCE], uint8_t status, uint8_t out[WSTUN_ANSWER])
{
	memcpy(out, sn, WSTUN_NONCE);
	out[WSTUN_NONCE] = status;
	answer_mac(k, cn, sn, status, out + WSTUN_NONCE + 1);
}

int wstun_answer_check(const wstun_keys_t *k, const uint8_t cn[WSTUN_NONCE], const uint8_t *buf,
                       size_t len, uint8_t sn[WSTUN_NONCE], uint8_t *status)
{
	uint8_t mac[WSTUN_MAC];

	if (len != WSTUN_ANSWER)
		return -EBADMSG;
	answer_mac(k, cn, buf, buf[WSTUN_NONCE], mac);
	if (!ct_equal(mac, buf + WSTUN_NONCE + 1, WSTUN_MAC))
		return -EBADMSG;
	memcpy(sn, buf, WSTUN_NONCE);
	*status = buf[WSTUN_NONCE];
	return 0;
}

int wstun_open_encode(const target_t *t, const uint8_t *data, size_t dlen, uint8_t *out, size_t cap)
{
	int n = dlen > WSTUN_FIRST_MAX ? -ENOSPC : wire_addr_encode(t, out, cap);

	if (n < 0 || cap - (size_t)n < dlen)
		return -ENOSPC;
	if (dlen)
		memcpy(out + n, data, dlen);
	return n + (int)dlen;
}

/* host_len(1) host port(2), then up to max bytes */
static int addr_parse(const uint8_t *buf, size_t len, size_t max, target_t *t, const uint8_t **data,
                      size_t *dlen)
{
	int n = wire_addr_parse(buf, len, t);

	if (n < 0 || len - (size_t)n > max)
		return -EINVAL;
	*data = buf + n;
	*dlen = len - (size_t)n;
	return 0;
}

int wstun_open_parse(const uint8_t *buf, size_t len, target_t *t, const uint8_t **data,
                     size_t *dlen)
{
	return addr_parse(buf, len, WSTUN_FIRST_MAX, t, data, dlen);
}

int wstun_dgram_hdr(const target_t *t, uint8_t *out, size_t cap)
{
	int n = wire_addr_encode(t, out, cap);

	return n < 0 ? -ENOSPC : n;
}

int wstun_dgram_parse(const uint8_t *buf, size_t len, target_t *t, const uint8_t **data,
                      size_t *dlen)
{
	return addr_parse(buf, len, WSTUN_DGRAM_MAX - 3 - 255, t, data, dlen);
}

sbuf_t *wstun_rec_build(seal_t *s, size_t room, uint8_t type, const uint8_t *body, size_t len)
{
	size_t need = room + 1 + len + SEAL_TAG;
	/* a pooled chunk for a full-sized record: no allocation per record */
	sbuf_t *b = sbuf_new(need > SBUF_DEFAULT / 2 && need <= SBUF_DEFAULT ? SBUF_DEFAULT : need);
	uint8_t *p = b->data + room;

	b->off = (uint32_t)room;
	if (s) {
		/* sealed from where the body lies into the record: no copy first */
		int r = seal_seal2(s, &type, 1, body, len, p);
		if (r < 0) {
			sbuf_free(b);
			return NULL;
		}
		b->len = (uint32_t)r;
		return b;
	}
	p[0] = type;
	if (len)
		memcpy(p + 1, body, len);
	b->len = (uint32_t)(1 + len);
	return b;
}

int wstun_rec_open(seal_t *s, sbuf_t *msg, uint8_t *type)
{
	if (s) {
		int r = seal_open(s, NULL, 0, sbuf_ptr(msg), msg->len, sbuf_ptr(msg));
		if (r < 0)
			return -EBADMSG;
		msg->len = (uint32_t)r;
	}
	if (!msg->len)
		return -EINVAL;
	*type = sbuf_ptr(msg)[0];
	sbuf_consume(msg, 1);
	if (*type < WSTUN_REC_OPEN || *type > WSTUN_REC_LAST)
		return -EINVAL;
	return 0;
}

size_t wstun_conn_encode(uint64_t conn, const char *peer, uint8_t *out, size_t cap)
{
	return wire_conn_encode(conn, peer, WSTUN_PEER_MAX, out, cap);
}

int wstun_conn_parse(const uint8_t *buf, size_t len, uint64_t *conn, char *peer, size_t peercap)
{
	return wire_conn_parse(buf, len, conn, WSTUN_PEER_MAX, peer, peercap);
}
