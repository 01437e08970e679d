/* sctp_proto: see sctp_proto.h and docs/sctp-protocol.md. */
#include "tunnel/sctp/sctp_proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/bytes.h"
#include "wire/wire_addr.h"

static const char *const type_names[] = {
    "?",        "OPEN",   "OPEN_OK",   "OPEN_FAIL", "DATA", "EOF",    "CLOSE",     "CREDIT",
    "UDP_OPEN", "LISTEN", "LISTEN_OK", "ACCEPT",    "JOIN", "REFUSE", "LISTEN_UDP"};

const char *sctp_proto_type_name(uint8_t type)
{
	return type <= SCTP_PROTO_LISTEN_UDP ? type_names[type] : "?";
}

int sctp_proto_keys_init(sctp_proto_keys_t *k, const uint8_t *key, size_t len)
{
	return tunnel_keys_init(k, key, len, "sluice/sctp/1");
}

/* HKDF(K, salt Nc || Ns, info "<dir><kind>/<sid>/<gen>") */
static int dir_key(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                   const uint8_t sn[SCTP_PROTO_NONCE], int s2c, const char *kind, uint16_t sid,
                   uint32_t gen, uint8_t out[SEAL_KEY])
{
	uint8_t salt[2 * SCTP_PROTO_NONCE];
	char info[40];

	memcpy(salt, cn, SCTP_PROTO_NONCE);
	memcpy(salt + SCTP_PROTO_NONCE, sn, SCTP_PROTO_NONCE);
	snprintf(info, sizeof(info), "%s%s/%u/%u", s2c ? "s2c" : "c2s", kind, sid, gen);
	return hkdf_sha256(k->master, k->mlen, salt, sizeof(salt), info, out, SEAL_KEY);
}

int sctp_proto_stream_key(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                          const uint8_t sn[SCTP_PROTO_NONCE], int s2c, uint16_t sid, uint32_t gen,
                          uint8_t out[SEAL_KEY])
{
	return dir_key(k, cn, sn, s2c, "", sid, gen, out);
}

int sctp_proto_dgram_key(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                         const uint8_t sn[SCTP_PROTO_NONCE], int s2c, uint16_t sid, uint32_t gen,
                         uint8_t out[SEAL_KEY])
{
	return dir_key(k, cn, sn, s2c, "-dgram", sid, gen, out);
}

static void dgram_nonce(uint64_t ctr, uint8_t nonce[AEAD_NONCE])
{
	memset(nonce, 0, 4);
	put_be64(nonce + 4, ctr);
}

int sctp_proto_dgram_seal(aead_t *a, uint64_t ctr, const target_t *addr, const uint8_t *data,
                          size_t dlen, uint8_t *out, size_t cap)
{
	uint8_t nonce[AEAD_NONCE];
	size_t hl = strlen(addr->host), n;

	if (!hl || hl > 255 || dlen > SCTP_PROTO_DGRAM_DATA_MAX)
		return -EINVAL;
	n = 8 + 1 + hl + 2 + dlen;
	if (cap < n + SEAL_TAG)
		return -ENOSPC;
	put_be64(out, ctr);
	wire_addr_encode(addr, out + 8, cap - 8);
	if (dlen)
		memmove(out + 11 + hl, data, dlen);
	dgram_nonce(ctr, nonce);
	if (aead_seal(a, nonce, out, 8, out + 8, n - 8, out + 8) < 0)
		return -EINVAL;
	return (int)(n + SEAL_TAG);
}

int sctp_proto_dgram_ctr(const uint8_t *buf, size_t len, uint64_t *ctr)
{
	if (len < 8 + 1 + 1 + 2 + SEAL_TAG || len > SCTP_PROTO_DGRAM_MAX)
		return -EINVAL;
	*ctr = get_be64(buf);
	return 0;
}

int sctp_proto_dgram_open(aead_t *a, uint8_t *buf, size_t len, target_t *addr, const uint8_t **data,
                          size_t *dlen)
{
	uint8_t nonce[AEAD_NONCE];
	uint64_t ctr;
	size_t n;
	int r;

	if (sctp_proto_dgram_ctr(buf, len, &ctr) < 0)
		return -EINVAL;
	dgram_nonce(ctr, nonce);
	r = aead_open(a, nonce, buf, 8, buf + 8, len - 8 - SEAL_TAG, buf + 8);
	if (r < 0)
		return -EBADMSG;
	n = (size_t)r;
	if ((r = wire_addr_parse(buf + 8, n, addr)) < 0)
		return -EINVAL;
	*data = buf + 8 + r;
	*dlen = n - (size_t)r;
	return 0;
}

static int window_ok(uint32_t w)
{
	return w >= SCTP_PROTO_WINDOW_MIN && w <= SCTP_PROTO_WINDOW_MAX;
}

void sctp_proto_auth_build(const sctp_proto_keys_t *k, const sctp_proto_auth_t *a,
                           uint8_t out[SCTP_PROTO_AUTH_LEN])
{
	out[0] = SCTP_PROTO_VERSION;
	put_be64(out + 1, a->ts_ms);
	memcpy(out + 9, a->nonce, SCTP_PROTO_NONCE);
	put_be32(out + 9 + SCTP_PROTO_NONCE, a->window);
	hmac_sha256(k->auth, sizeof(k->auth), out, SCTP_PROTO_AUTH_LEN - SCTP_PROTO_MAC,
	            out + SCTP_PROTO_AUTH_LEN - SCTP_PROTO_MAC);
}

int sctp_proto_auth_parse(const sctp_proto_keys_t *k, const uint8_t *buf, size_t len,
                          sctp_proto_auth_t *a)
{
	uint8_t mac[SCTP_PROTO_MAC];

	if (len != SCTP_PROTO_AUTH_LEN || buf[0] != SCTP_PROTO_VERSION)
		return -EINVAL;
	hmac_sha256(k->auth, sizeof(k->auth), buf, SCTP_PROTO_AUTH_LEN - SCTP_PROTO_MAC, mac);
	if (!ct_equal(mac, buf + SCTP_PROTO_AUTH_LEN - SCTP_PROTO_MAC, SCTP_PROTO_MAC))
		return -EBADMSG;
	a->ts_ms = get_be64(buf + 1);
	memcpy(a->nonce, buf + 9, SCTP_PROTO_NONCE);
	a->window = get_be32(buf + 9 + SCTP_PROTO_NONCE);
	return window_ok(a->window) ? 0 : -EINVAL;
}

static void answer_mac(const sctp_proto_keys_t *k, const uint8_t *cn, const uint8_t *sn,
                       const uint8_t *win, uint8_t *mac)
{
	uint8_t msg[6 + 2 * SCTP_PROTO_NONCE + 4];

	memcpy(msg, "answer", 6);
	memcpy(msg + 6, cn, SCTP_PROTO_NONCE);
	memcpy(msg + 6 + SCTP_PROTO_NONCE, sn, SCTP_PROTO_NONCE);
	memcpy(msg + 6 + 2 * SCTP_PROTO_NONCE, win, 4);
	hmac_sha256(k->auth, sizeof(k->auth), msg, sizeof(msg), mac);
}

void sctp_proto_answer_build(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                             const uint8_t sn[SCTP_PROTO_NONCE], uint32_t window,
                             uint8_t out[SCTP_PROTO_AUTH_OK_LEN])
{
	memcpy(out, sn, SCTP_PROTO_NONCE);
	put_be32(out + SCTP_PROTO_NONCE, window);
	answer_mac(k, cn, sn, out + SCTP_PROTO_NONCE, out + SCTP_PROTO_NONCE + 4);
}

int sctp_proto_answer_check(const sctp_proto_keys_t *k, const uint8_t cn[SCTP_PROTO_NONCE],
                            const uint8_t *buf, size_t len, uint8_t sn[SCTP_PROTO_NONCE],
                            uint32_t *window)
{
	uint8_t mac[SCTP_PROTO_MAC];

	if (len != SCTP_PROTO_AUTH_OK_LEN)
		return -EINVAL;
	answer_mac(k, cn, buf, buf + SCTP_PROTO_NONCE, mac);
	if (!ct_equal(mac, buf + SCTP_PROTO_NONCE + 4, SCTP_PROTO_MAC))
		return -EBADMSG;
	memcpy(sn, buf, SCTP_PROTO_NONCE);
	*window = get_be32(buf + SCTP_PROTO_NONCE);
	return window_ok(*window) ? 0 : -EINVAL;
}

int sctp_proto_open_encode(const target_t *t, uint8_t *out, size_t cap)
{
	if (!t->port)
		return -EINVAL;
	return wire_addr_encode(t, out, cap);
}

int sctp_proto_open_parse(const uint8_t *buf, size_t len, target_t *t)
{
	int n = wire_addr_parse(buf, len, t);

	return n < 0 || (size_t)n != len ? -EINVAL : 0;
}

int sctp_proto_fail_encode(uint8_t code, const char *text, uint8_t *out, size_t cap)
{
	size_t n = text ? strlen(text) : 0;

	if (n > SCTP_PROTO_FAIL_TEXT)
		n = SCTP_PROTO_FAIL_TEXT;
	if (cap < 1 + n)
		return -ENOSPC;
	out[0] = code;
	if (n)
		memcpy(out + 1, text, n);
	return (int)(1 + n);
}

int sctp_proto_fail_parse(const uint8_t *buf, size_t len, uint8_t *code)
{
	if (len < 1 || len > 1 + SCTP_PROTO_LISTEN_FAIL_TEXT)
		return -EINVAL;
	*code = buf[0];
	return 0;
}

void sctp_proto_credit_encode(uint32_t inc, uint8_t out[4])
{
	put_be32(out, inc);
}

size_t sctp_proto_conn_encode(uint64_t conn, const char *peer, uint8_t *out, size_t cap)
{
	return wire_conn_encode(conn, peer, SCTP_PROTO_PEER_MAX, out, cap);
}

int sctp_proto_conn_parse(const uint8_t *buf, size_t len, uint64_t *conn, char *peer,
                          size_t peercap)
{
	return wire_conn_parse(buf, len, conn, SCTP_PROTO_PEER_MAX, peer, peercap);
}

int sctp_proto_credit_parse(const uint8_t *buf, size_t len, uint32_t *inc)
{
	if (len != 4)
		return -EINVAL;
	*inc = get_be32(buf);
	return *inc && *inc <= SCTP_PROTO_WINDOW_MAX ? 0 : -EINVAL;
}

int sctp_proto_rec_parse(const uint8_t *buf, size_t len, uint8_t *type, const uint8_t **body,
                         size_t *blen)
{
	size_t n;

	if (len < 1)
		return -EINVAL;
	*type = buf[0];
	*body = buf + 1;
	*blen = n = len - 1;
	switch (*type) {
	case SCTP_PROTO_OPEN:
	case SCTP_PROTO_LISTEN:
	case SCTP_PROTO_LISTEN_UDP:
	case SCTP_PROTO_LISTEN_OK:
		return n >= 4 && n <= SCTP_PROTO_OPEN_MAX ? 0 : -EINVAL;
	case SCTP_PROTO_OPEN_FAIL:
		return n >= 1 && n <= 1 + SCTP_PROTO_LISTEN_FAIL_TEXT ? 0 : -EINVAL;
	case SCTP_PROTO_ACCEPT:
		return n >= SCTP_PROTO_CONN_ID && n <= SCTP_PROTO_CONN_ID + SCTP_PROTO_PEER_MAX
		           ? 0
		           : -EINVAL;
	case SCTP_PROTO_JOIN:
	case SCTP_PROTO_REFUSE:
		return n == SCTP_PROTO_CONN_ID ? 0 : -EINVAL;
	case SCTP_PROTO_DATA:
		return n >= 1 && n <= SCTP_PROTO_DATA_MAX ? 0 : -EINVAL;
	case SCTP_PROTO_CREDIT:
		return n == 4 ? 0 : -EINVAL;
	case SCTP_PROTO_OPEN_OK:
	case SCTP_PROTO_EOF:
	case SCTP_PROTO_CLOSE:
	case SCTP_PROTO_UDP_OPEN:
		return n == 0 ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

sbuf_t *sctp_proto_rec_build(seal_t *s, uint8_t type, const uint8_t *body, size_t len)
{
	sbuf_t *b;
	int r;

	if (len > SCTP_PROTO_DATA_MAX)
		return NULL;
	b = sbuf_new(1 + len + SEAL_TAG);
	b->data[0] = type;
	if (len)
		memcpy(b->data + 1, body, len);
	r = seal_seal(s, NULL, 0, b->data, 1 + len, b->data);
	if (r < 0) {
		sbuf_free(b);
		return NULL;
	}
	b->len = (uint32_t)r;
	return b;
}

int sctp_proto_rec_open(seal_t *s, uint8_t *buf, size_t len, uint8_t *type, const uint8_t **body,
                        size_t *blen)
{
	int r;

	if (len < SEAL_TAG + 1 || len > SCTP_PROTO_REC_MAX)
		return -EINVAL;
	r = seal_open(s, NULL, 0, buf, len, buf);
	if (r < 0)
		return -EBADMSG;
	return sctp_proto_rec_parse(buf, (size_t)r, type, body, blen);
}
