/* wstan_proto: wstan 0.5's messages, pure: no I/O, no loop (see wstan.h).
 *
 * The wire (docs/wstan.md has it all): every WebSocket message is binary
 * and starts with a command byte.  REQ (connect to a target: a timestamp,
 * the target as a SOCKS5 address, first bytes) and RST (this TCP
 * connection is over, with an optional reason) end with a 10-byte
 * HMAC-SHA1 of their ciphertext; DAT (stream bytes) has no MAC.  Without
 * TLS each direction is one AES-CTR keystream running over all its
 * messages (MACs excluded).  The client's nonce is its Sec-WebSocket-Key
 * (compatible mode: a cookie); the server's is derived from it, so the
 * handshake stays an ordinary WebSocket one.  A fresh connection carries
 * its first REQ, first bytes included, base64-encoded in the URI path:
 * the target is reached in the same round trip as the upgrade.  DGM
 * carries a UDP datagram (a MAC and timestamp only in a URI).
 *
 * What it protects: only holders of the key can make a REQ or an RST the
 * other side accepts, and a captured upgrade request replayed later is
 * refused (timestamp within `skew`, nonce cache).  What it does not: DAT
 * messages are encrypted but not authenticated (AES-CTR is malleable, so
 * an on-path attacker can flip chosen bits of the stream), dropped or
 * reordered messages go unnoticed, the client cannot tell a fake server,
 * there is no forward secrecy, and sizes and timing show.  With tls=1
 * (wstan's wss://) TLS does all of that instead and wstan adds only its
 * MACs.  We implement it as it is, for compatibility.
 */
#include "tunnel/ws/wstan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/bytes.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "tunnel/ws/ws.h"

#define STAR "\xe2\x98\x85" /* U+2605, between an RST's reason and error */

/* wstan's scrypt salt for passwords (a protocol constant) */
static const uint8_t kdf_salt[16] = {0x6a, 0xbf, 0x20, 0x09, 0x3b, 0xd5, 0xc6, 0xc6,
                                     0x76, 0x68, 0x07, 0xc1, 0xd6, 0xb2, 0x82, 0x2f};

int wstan_key_init(wstan_key_t *k, const char *text)
{
	uint8_t raw[64], md[EVP_MAX_MD_SIZE];
	size_t tl = text ? strlen(text) : 0;
	unsigned mdlen = 0;

	memset(k, 0, sizeof(*k));
	if (!tl)
		return -EINVAL;
	if (b64_decode_py(text, tl, raw, sizeof(raw)) == 16) {
		memcpy(k->k, raw, 16);
		k->len = 16;
	} else {
		if (EVP_PBE_scrypt(text, tl, kdf_salt, sizeof(kdf_salt), 1 << 14, 8, 1, 0, k->k,
		                   32) != 1)
			return -EINVAL;
		k->len = 32;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	/* the cookie name: SHA-1 of the key, as wstan 0.4 does (0.5's -z
	 * crashes at start-up; see docs/wstan.md) */
	if (EVP_Digest(k->k, k->len, md, &mdlen, EVP_sha1(), NULL) != 1)
		return -EINVAL;
	k->cookie[0] = '_';
	k->cookie[1] = (char)('A' + md[19] % 26);
	return 0;
}

int wstan_ctr_init(wstan_ctr_t *c, const wstan_key_t *k, const uint8_t iv[WSTAN_NONCE])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

	c->ctx = NULL;
	if (!x)
		return -ENOMEM;
	if (EVP_EncryptInit_ex(x, k->len == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr(), NULL, k->k,
	                       iv) != 1) {
		EVP_CIPHER_CTX_free(x);
		return -EINVAL;
	}
	c->ctx = x;
	return 0;
}

void wstan_ctr_apply(wstan_ctr_t *c, uint8_t *p, size_t n)
{
	while (c->ctx && n) {
		int chunk = n > (1u << 30) ? 1 << 30 : (int)n, outl = 0;

		if (EVP_EncryptUpdate(c->ctx, p, &outl, p, chunk) != 1)
			abort(); /* CTR cannot fail: something is badly wrong */
		p += chunk;
		n -= (size_t)chunk;
	}
}

void wstan_ctr_free(wstan_ctr_t *c)
{
	EVP_CIPHER_CTX_free(c->ctx);
	c->ctx = NULL;
}

static void mac10(const wstan_key_t *k, const uint8_t *p, size_t n, uint8_t out[WSTAN_MAC])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned ml = 0;

	HMAC(EVP_sha1(), k->k, (int)k->len, p, n, md, &ml);
	memcpy(out, md, WSTAN_MAC);
}

void wstan_nonce_default(const char *ws_key, uint8_t out[WSTAN_NONCE])
{
	char acc[WS_ACCEPT_LEN + 1];
	uint8_t raw[24];

	ws_accept_for(ws_key, acc);
	b64_decode(acc, strlen(acc), raw, sizeof(raw));
	memcpy(out, raw, WSTAN_NONCE);
}

void wstan_nonce_compat(const uint8_t cn[WSTAN_NONCE], uint8_t out[WSTAN_NONCE])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned ml = 0;

	EVP_Digest(cn, WSTAN_NONCE, md, &ml, EVP_sha1(), NULL);
	memcpy(out, md, WSTAN_NONCE);
}

static void put_double(uint8_t *p, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	put_be64(p, v);
}

static double get_double(const uint8_t *p)
{
	uint64_t v = get_be64(p);
	double d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

/* ADDRESS: RSV(0) ATYP(1 IPv4, 3 name, 4 IPv6) ADDR PORT, as wstan makes it. */
static int addr_encode(const target_t *t, uint8_t *out, size_t cap)
{
	uint8_t ip[16];
	size_t hl = strlen(t->host), n;

	out[0] = 0;
	if (inet_pton(AF_INET, t->host, ip) == 1) {
		if (cap < 2 + 4 + 2)
			return -ENOSPC;
		out[1] = 1;
		memcpy(out + 2, ip, 4);
		n = 6;
	} else if (inet_pton(AF_INET6, t->host, ip) == 1) {
		if (cap < 2 + 16 + 2)
			return -ENOSPC;
		out[1] = 4;
		memcpy(out + 2, ip, 16);
		n = 18;
	} else {
		if (!hl || hl > 255)
			return -EINVAL;
		if (cap < 3 + hl + 2)
			return -ENOSPC;
		out[1] = 3;
		out[2] = (uint8_t)hl;
		memcpy(out + 3, t->host, hl);
		n = 3 + hl;
	}
	out[n] = (uint8_t)(t->port >> 8);
	out[n + 1] = (uint8_t)t->port;
	return (int)(n + 2);
}

static int addr_parse(const uint8_t *p, size_t len, target_t *t, size_t *used)
{
	size_t n;

	if (len < 2 || p[0] != 0)
		return -EINVAL;
	switch (p[1]) {
	case 1:
		if (len < 2 + 4 + 2)
			return -EINVAL;
		inet_ntop(AF_INET, p + 2, t->host, sizeof(t->host));
		n = 6;
		break;
	case 4:
		if (len < 2 + 16 + 2)
			return -EINVAL;
		inet_ntop(AF_INET6, p + 2, t->host, sizeof(t->host));
		n = 18;
		break;
	case 3:
		if (len < 3 || !p[2] || len < 3 + (size_t)p[2] + 2)
			return -EINVAL;
		for (size_t i = 0; i < p[2]; i++)
			if (p[3 + i] <= ' ' || p[3 + i] >= 0x7f) /* wstan wants ASCII */
				return -EINVAL;
		memcpy(t->host, p + 3, p[2]);
		t->host[p[2]] = 0;
		n = 3 + (size_t)p[2];
		break;
	default:
		return -EINVAL;
	}
	t->port = (uint16_t)(p[n] << 8 | p[n + 1]);
	*used = n + 2;
	return 0;
}

static void copy_text(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < cap; i++)
		dst[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	dst[o] = 0;
}

/* An RST's body: reason "★" error, then padding spaces. */
static void rst_text(const uint8_t *p, size_t n, wstan_msg_t *m)
{
	const uint8_t *star = NULL;

	while (n && (p[n - 1] == ' ' || (p[n - 1] >= '\t' && p[n - 1] <= '\r')))
		n--;
	for (size_t i = 0; i + 3 <= n && !star; i++)
		if (!memcmp(p + i, STAR, 3))
			star = p + i;
	if (!star) {
		copy_text(m->reason, sizeof(m->reason), p, n);
		return;
	}
	copy_text(m->reason, sizeof(m->reason), p, (size_t)(star - p));
	copy_text(m->err, sizeof(m->err), star + 3, n - (size_t)(star + 3 - p));
}

int wstan_msg_open(wstan_ctr_t *rx, const wstan_key_t *k, uint8_t *buf, size_t len, int uri,
                   wstan_msg_t *m)
{
	uint8_t cmd, mac[WSTAN_MAC], *body;
	size_t blen, used;

	memset(m, 0, sizeof(*m));
	if (!len)
		return -EINVAL;
	/* a request in a URI always ends with a MAC over its ciphertext: check
	 * it first, so a wrong key reads as one (not as a garbled command) */
	if (uri) {
		if (len < 1 + WSTAN_MAC)
			return -EINVAL;
		mac10(k, buf, len - WSTAN_MAC, mac);
		if (CRYPTO_memcmp(mac, buf + len - WSTAN_MAC, WSTAN_MAC))
			return -EBADMSG;
	}
	cmd = buf[0];
	wstan_ctr_apply(rx, &cmd, 1);
	m->cmd = cmd;
	if (cmd > WSTAN_DGM || (uri && cmd == WSTAN_DAT))
		return -EINVAL;
	body = buf + 1;
	blen = len - 1;
	if (uri || cmd == WSTAN_REQ || cmd == WSTAN_RST) {
		if (blen < WSTAN_MAC)
			return -EINVAL;
		blen -= WSTAN_MAC;
		if (!uri) { /* checked above */
			mac10(k, buf, len - WSTAN_MAC, mac);
			if (CRYPTO_memcmp(mac, buf + len - WSTAN_MAC, WSTAN_MAC))
				return -EBADMSG;
		}
	}
	wstan_ctr_apply(rx, body, blen);
	if (uri || cmd == WSTAN_REQ) {
		if (blen < WSTAN_TS)
			return -EINVAL;
		m->has_ts = 1;
		m->ts = get_double(body);
		body += WSTAN_TS;
		blen -= WSTAN_TS;
	}
	switch (cmd) {
	case WSTAN_REQ:
	case WSTAN_DGM:
		if (addr_parse(body, blen, &m->target, &used) < 0)
			return -EINVAL;
		m->has_target = 1;
		m->data = body + used;
		m->dlen = blen - used;
		break;
	case WSTAN_DAT:
		m->data = body;
		m->dlen = blen;
		break;
	default: /* RST; in a URI only its timestamp counts */
		if (!uri)
			rst_text(body, blen, m);
		break;
	}
	return 0;
}

int wstan_req_build(wstan_ctr_t *tx, const wstan_key_t *k, int dgm, double ts, const target_t *t,
                    const uint8_t *data, size_t dlen, uint8_t *out, size_t cap)
{
	size_t n = 1 + WSTAN_TS;
	int a;

	if (cap < n + WSTAN_MAC)
		return -ENOSPC;
	out[0] = !t ? WSTAN_RST : dgm ? WSTAN_DGM : WSTAN_REQ;
	put_double(out + 1, ts);
	if (t) {
		if ((a = addr_encode(t, out + n, cap - n)) < 0)
			return a;
		n += (size_t)a;
		if (cap - n < dlen + WSTAN_MAC)
			return -ENOSPC;
		if (dlen)
			memcpy(out + n, data, dlen);
		n += dlen;
	}
	if (cap - n < WSTAN_MAC)
		return -ENOSPC;
	wstan_ctr_apply(tx, out, n);
	mac10(k, out, n, out + n);
	return (int)(n + WSTAN_MAC);
}

int wstan_dgm_build(wstan_ctr_t *tx, const target_t *t, const uint8_t *data, size_t dlen,
                    uint8_t *out, size_t cap)
{
	int a;

	if (cap < 1)
		return -ENOSPC;
	out[0] = WSTAN_DGM;
	if ((a = addr_encode(t, out + 1, cap - 1)) < 0)
		return a;
	if (cap - 1 - (size_t)a < dlen)
		return -ENOSPC;
	if (dlen)
		memcpy(out + 1 + a, data, dlen);
	wstan_ctr_apply(tx, out, 1 + (size_t)a + dlen);
	return (int)(1 + (size_t)a + dlen);
}

int wstan_rst_build(wstan_ctr_t *tx, const wstan_key_t *k, const char *reason, const char *err,
                    size_t pad, uint8_t *out, size_t cap)
{
	size_t rl = strlen(reason), el = strlen(err), n = 1 + rl + 3 + el + pad;

	if (cap < WSTAN_MAC || n > cap - WSTAN_MAC)
		return -ENOSPC;
	out[0] = WSTAN_RST;
	memcpy(out + 1, reason, rl);
	memcpy(out + 1 + rl, STAR, 3);
	memcpy(out + 4 + rl, err, el);
	memset(out + 4 + rl + el, ' ', pad);
	wstan_ctr_apply(tx, out, n);
	mac10(k, out, n, out + n);
	return (int)(n + WSTAN_MAC);
}

int wstan_path_decode(const char *target, size_t tlen, const char *base, uint8_t *out, size_t cap)
{
	size_t n = 0, bl = strlen(base);

	while (n < tlen && target[n] != '?' && target[n] != '#')
		n++;
	if (n < bl || memcmp(target, base, bl))
		return -EINVAL;
	target += bl;
	n -= bl;
	if (n && *target == '/') {
		target++;
		n--;
	}
	if (!n)
		return -EINVAL;
	return b64_decode(target, n, out, cap);
}

size_t wstan_b64url_pad(const uint8_t *in, size_t n, char *out)
{
	size_t len = b64_encode(in, n, out);

	for (size_t i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return len;
}

int wstan_cookie_nonce(const char *hdr, size_t len, const char *name, uint8_t out[WSTAN_NONCE])
{
	size_t nl = strlen(name);
	const char *p = hdr, *end = hdr + len;

	while (p < end) {
		const char *e, *v;
		uint8_t tmp[24];
		size_t vl;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ';'))
			p++;
		e = memchr(p, ';', (size_t)(end - p));
		if (!e)
			e = end;
		if ((size_t)(e - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
			v = p + nl + 1;
			vl = (size_t)(e - v);
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (b64_decode(v, vl, tmp, sizeof(tmp)) != WSTAN_NONCE)
				return -EINVAL;
			memcpy(out, tmp, WSTAN_NONCE);
			return 0;
		}
		p = e;
	}
	return -ENOENT;
}
