/* wstan: wstan 0.5's protocol, server (listener) and client (hop).
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
 *
 * Pieces:
 *   pure     key derivation, AES-CTR, MAC, message build/open, the URI.
 *   tunnel   tun_t: one WebSocket carrying one TCP connection at a time.
 *            IDLE --REQ--> USING --RST sent--> RESETTING --RST--> IDLE,
 *            USING --RST received, RST answered--> IDLE, and CLOSED from
 *            anywhere.  USING binds a wstream_t, the stream_t a relay
 *            sees.  wstan has no half-close: a shutdown sends RST, the
 *            peer's data after it is dropped, and the peer's RST is the
 *            stream's end of data.  Then the tunnel can carry the next
 *            connection.
 *   server   listener front: [TLS] -> HTTP head (ws_head_t) -> checks ->
 *            101 -> a tunnel; each REQ dials its target through the conn and is
 *            relayed; a DGM starts a UDP association instead (sent from
 *            this host).  The conn lives as long as the WebSocket.  What
 *            is not a valid request gets the decoy (tunnel/decoy.h).
 *   client   hop: idle tunnels wait in a pool and a dial takes one (REQ as
 *            a message); otherwise an opener connects [TLS] (ws_open_t),
 *            answers the dial (ws_req_t), waits up to first-wait for the
 *            application's first bytes and sends the upgrade with REQ in
 *            the URI.
 *
 * Ownership: a tunnel belongs to its server conn or to the hop (a list); a
 * wstream belongs to whoever the dial or the relay gave it to and points
 * at its tunnel only while bound.  tun_free() may run inside any tunnel
 * callback: the struct goes when the outermost one returns.
 */
#include "tunnel/wstan.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/bytes.h"
#include "core/conn.h"
#include "core/crypto.h"
#include "core/dgram.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/msgstream.h"
#include "core/queue.h"
#include "core/relay.h"
#include "core/replay.h"
#include "core/tls.h"
#include "core/transport.h"
#include "front/http_proto.h"
#include "tunnel/decoy.h"
#include "tunnel/ws.h"

#define DAT_MAX (64 * 1024) /* largest DAT payload we send */
#define LINGER_MS 2000
#define TEXT_MAX 150 /* RST reason / error we send */
#define RST_MAX (1 + 2 * TEXT_MAX + 3 + WSTAN_RST_PAD_MAX + WSTAN_MAC)
#define REQ_MAX (1 + WSTAN_TS + WSTAN_ADDR_MAX + WSTAN_FIRST_MAX + WSTAN_MAC)
#define STAR "\xe2\x98\x85" /* U+2605, between an RST's reason and error */
#define NO_CACHE "Pragma: no-cache\r\nCache-Control: no-cache\r\n" /* as wstan sends */

/* wstan's scrypt salt for passwords (a protocol constant) */
static const uint8_t kdf_salt[16] = {0x6a, 0xbf, 0x20, 0x09, 0x3b, 0xd5, 0xc6, 0xc6,
                                     0x76, 0x68, 0x07, 0xc1, 0xd6, 0xb2, 0x82, 0x2f};

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

/* ================================================================ pure */

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

/* ============================================================== tunnel */

typedef enum tun_state { TUN_IDLE, TUN_USING, TUN_RESETTING, TUN_CLOSED } tun_state_t;
static const char *const tun_state_names[] = {"idle", "using", "resetting", "closed"};

typedef struct tun tun_t;
typedef struct wstream wstream_t;
typedef struct opener opener_t;
typedef struct uflow uflow_t;

typedef struct tun_cbs {
	void (*on_msg)(tun_t *t, wstan_msg_t *m); /* REQ or DGM (server side) */
	void (*on_idle)(tun_t *t);                /* an RST exchange is over */
	void (*on_close)(tun_t *t);               /* the WebSocket is gone: tun_free() */
} tun_cbs_t;

struct tun {
	uv_loop_t *loop;
	uint64_t id;
	const wstan_key_t *key;
	const tun_cbs_t *cbs;
	void *owner;
	ws_t *ws; /* NULL while a client's upgrade is under way */
	wstan_ctr_t tx, rx;
	tun_state_t state;
	wstream_t *cur; /* bound while USING (and RESETTING after a shutdown) */
	uflow_t *flow;  /* client: a UDP association bound instead, while USING */
	int busy;       /* depth of tunnel callbacks on the stack */
	unsigned client : 1, paused : 1, freed : 1, closing : 1;
	queue_t link;  /* client: in the hop's tunnels */
	queue_t plink; /* client: in the hop's pool */
	uint64_t idle_since;
	opener_t *op; /* client: the upgrade under way */
};

struct wstream {
	msgstream_t m; /* first: reads, writes before the upgrade, the error latch */
	tun_t *t;      /* while bound */
	unsigned shut : 1;
};

static void opener_poke(opener_t *op);
static void opener_cancel(opener_t *op);
static void tun_unflow(tun_t *t, int err);
static void uflow_recv(tun_t *t, const wstan_msg_t *m);
static void uflow_flush(uflow_t *uf);

static void tun_set_state(tun_t *t, tun_state_t to)
{
	static const unsigned legal[] = {
	    [TUN_IDLE] = 1u << TUN_USING | 1u << TUN_CLOSED,
	    [TUN_USING] = 1u << TUN_IDLE | 1u << TUN_RESETTING | 1u << TUN_CLOSED,
	    [TUN_RESETTING] = 1u << TUN_IDLE | 1u << TUN_CLOSED,
	    [TUN_CLOSED] = 0,
	};

	if (!(legal[t->state] & 1u << to)) {
		log_err(t->id, "wstan: illegal tunnel state change %s -> %s",
		        tun_state_names[t->state], tun_state_names[to]);
		assert(0);
	}
	log_trace(t->id, "wstan tunnel: %s -> %s", tun_state_names[t->state], tun_state_names[to]);
	t->state = to;
}

/* ---- the stream ---- */

/* The tunnel's WebSocket reads while the bound stream's queue is below the
 * watermarks. */
static void wstream_pause(msgstream_t *m, int on)
{
	tun_t *t = ((wstream_t *)m)->t;

	if (!t || !t->ws || t->paused == (unsigned)on)
		return;
	t->paused = (unsigned)on;
	if (on)
		ws_pause(t->ws);
	else
		ws_resume(t->ws);
}

static size_t wstream_pending(msgstream_t *m)
{
	tun_t *t = ((wstream_t *)m)->t;

	return t && t->ws ? ws_pending(t->ws) : 0;
}

static const msgstream_hooks_t wstream_hooks = {.pause = wstream_pause, .pending = wstream_pending};

/* Bytes from the peer (b == NULL: its end of data), from tunnel callbacks. */
static void wstream_push(wstream_t *st, sbuf_t *b)
{
	msgstream_push(&st->m, b);
	msgstream_deliver(&st->m);
}

/* The tunnel lets go of the stream; err (if any) reaches the owner later. */
static void wstream_detach(wstream_t *st, int err)
{
	tun_t *t = st->t;

	if (t) {
		if (t->cur == st)
			t->cur = NULL;
		wstream_pause(&st->m, 0);
	}
	st->m.paused = 0;
	st->t = NULL;
	sbufq_clear(&st->m.wq);
	st->m.s.wq_bytes = 0;
	if (err && !st->m.err) {
		msgstream_fail(&st->m, err);
		msgstream_kick(&st->m);
	}
}

static int tun_send_dat(tun_t *t, const uint8_t *p, size_t n);
static int tun_reset(tun_t *t, const char *reason, const char *err);

static int wst_write(stream_t *s, sbuf_t *b)
{
	wstream_t *st = (wstream_t *)s;
	tun_t *t = st->t;
	int r;

	if (st->shut || st->m.err) {
		sbuf_free(b);
		return st->m.err ? st->m.err : UV_EPIPE;
	}
	if (!t || t->state != TUN_USING) { /* the peer ended this connection */
		sbuf_free(b);
		return 0;
	}
	if (!t->ws) {
		msgstream_hold(&st->m, b);
		opener_poke(t->op); /* may end the tunnel: t is not touched again */
		return 0;
	}
	r = tun_send_dat(t, sbuf_ptr(b), b->len);
	sbuf_free(b);
	msgstream_update_wq(&st->m);
	return r;
}

static int wst_shutdown(stream_t *s)
{
	wstream_t *st = (wstream_t *)s;
	tun_t *t = st->t;

	if (st->shut)
		return 0;
	st->shut = 1;
	if (!t)
		return 0;
	if (!t->ws) {
		opener_poke(t->op); /* the RST follows the upgrade */
		return 0;
	}
	return t->state == TUN_USING ? tun_reset(t, "", "") : 0;
}

static void wst_read_start(stream_t *s)
{
	msgstream_read_start(&((wstream_t *)s)->m);
}

static void wst_read_stop(stream_t *s)
{
	msgstream_read_stop(&((wstream_t *)s)->m);
}

static void wst_close(stream_t *s)
{
	wstream_t *st = (wstream_t *)s;
	tun_t *t = st->t;

	if (t && !t->ws && t->op)
		opener_cancel(t->op); /* detaches st, frees the tunnel */
	else if (t && t->state == TUN_USING)
		tun_reset(t, "", "");
	if (st->t)
		wstream_detach(st, 0);
	msgstream_release(&st->m, NULL);
}

static const stream_ops_t wstream_ops = {
    .name = "wstan",
    .write = wst_write,
    .shutdown = wst_shutdown,
    .read_start = wst_read_start,
    .read_stop = wst_read_stop,
    .close = wst_close,
};

static wstream_t *wstream_new(uv_loop_t *loop, uint64_t id)
{
	wstream_t *st = calloc(1, sizeof(*st));

	if (!st)
		abort();
	msgstream_init(&st->m, &wstream_ops, id, loop, &wstream_hooks);
	msgstream_set_marks(&st->m, STREAM_HIGH_WATER, STREAM_LOW_WATER);
	return st;
}

/* ---- the tunnel ---- */

static tun_t *tun_new(uv_loop_t *loop, uint64_t id, const wstan_key_t *k, int client,
                      const tun_cbs_t *cbs, void *owner)
{
	tun_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->loop = loop;
	t->id = id;
	t->key = k;
	t->client = client;
	t->cbs = cbs;
	t->owner = owner;
	return t;
}

static void tun_unbusy(tun_t *t)
{
	if (--t->busy == 0 && t->freed)
		free(t);
}

static void tun_free(tun_t *t)
{
	if (!t || t->freed)
		return;
	t->freed = 1;
	if (t->state != TUN_CLOSED)
		tun_set_state(t, TUN_CLOSED);
	if (t->cur)
		wstream_detach(t->cur, UV_ECONNRESET);
	tun_unflow(t, UV_ECONNRESET);
	if (t->ws)
		ws_free(t->ws);
	t->ws = NULL;
	wstan_ctr_free(&t->tx);
	wstan_ctr_free(&t->rx);
	if (!t->busy)
		free(t);
}

static void tun_bind(tun_t *t, wstream_t *st)
{
	tun_set_state(t, TUN_USING);
	t->cur = st;
	st->t = t;
}

static int tun_send_dat(tun_t *t, const uint8_t *p, size_t n)
{
	int r = 0;

	for (size_t off = 0; off < n && r == 0;) {
		size_t k = n - off > DAT_MAX ? DAT_MAX : n - off;
		sbuf_t *m = sbuf_new(k + 1);

		m->data[0] = WSTAN_DAT;
		memcpy(m->data + 1, p + off, k);
		m->len = (uint32_t)(k + 1);
		wstan_ctr_apply(&t->tx, m->data, k + 1);
		r = ws_send(t->ws, WS_OP_BINARY, m);
		off += k;
	}
	return r;
}

static int tun_send_rst(tun_t *t, const char *reason, const char *err)
{
	char r1[TEXT_MAX + 1], e1[TEXT_MAX + 1];
	uint8_t buf[RST_MAX];
	uint16_t rnd;
	int n;

	snprintf(r1, sizeof(r1), "%s", reason);
	snprintf(e1, sizeof(e1), "%s", err);
	random_bytes(&rnd, sizeof(rnd));
	n = wstan_rst_build(&t->tx, t->key, r1, e1,
	                    WSTAN_RST_PAD_MIN + rnd % (WSTAN_RST_PAD_MAX - WSTAN_RST_PAD_MIN + 1),
	                    buf, sizeof(buf));
	if (n < 0 || !t->ws)
		return UV_EINVAL;
	return ws_send(t->ws, WS_OP_BINARY, sbuf_from(buf, (size_t)n));
}

/* USING -> RESETTING: this side is done with the connection. */
static int tun_reset(tun_t *t, const char *reason, const char *err)
{
	tun_set_state(t, TUN_RESETTING);
	return tun_send_rst(t, reason, err);
}

/* Close the WebSocket; what still arrives is not read (after an error the
 * keystream is lost anyway). */
static void tun_abort(tun_t *t, uint16_t code)
{
	t->closing = 1;
	if (t->ws)
		ws_close(t->ws, code, "");
}

static void tun_on_rst(tun_t *t, const wstan_msg_t *m)
{
	wstream_t *st = t->cur;

	if (t->state == TUN_USING) {
		tun_send_rst(t, "", "");
		tun_set_state(t, TUN_IDLE);
	} else if (t->state == TUN_RESETTING) {
		tun_set_state(t, TUN_IDLE);
	} else {
		log_info(t->id, "wstan: a reset on an idle tunnel, closing");
		tun_abort(t, 3001);
		return;
	}
	if (m->reason[0])
		log_info(t->id, "wstan: the peer reset the connection: %s%s%s", m->reason,
		         m->err[0] ? ": " : "", m->err);
	if (st) {
		if (m->reason[0]) { /* a failure (could not connect, ...): a reset */
			wstream_detach(st, UV_ECONNRESET);
		} else {
			wstream_detach(st, 0);
			wstream_push(st, NULL);
		}
	}
	tun_unflow(t, m->reason[0] ? UV_ECONNREFUSED : UV_ECONNRESET);
	if (!t->freed)
		t->cbs->on_idle(t);
}

static void tun_on_message(ws_t *w, int opcode, sbuf_t *msg)
{
	tun_t *t = ws_data(w);
	wstan_msg_t m;
	int r;

	if (t->freed || t->closing || t->state == TUN_CLOSED) {
		sbuf_free(msg);
		return;
	}
	t->busy++;
	if (opcode != WS_OP_BINARY) {
		log_info(t->id, "wstan: a text message, closing");
		tun_abort(t, 3000);
	} else if ((r = wstan_msg_open(&t->rx, t->key, sbuf_ptr(msg), msg->len, 0, &m)) < 0) {
		log_info(t->id, "wstan: %s message, closing",
		         r == -EBADMSG ? "an unauthentic (wrong key?)" : "a malformed");
		tun_abort(t, 3000);
	} else if (m.cmd == WSTAN_DAT) {
		if (t->state == TUN_USING && t->cur && m.dlen) {
			sbuf_consume(msg, 1);
			wstream_push(t->cur, msg);
			msg = NULL;
		} /* else: after a reset, wstan drops it too */
	} else if (m.cmd == WSTAN_RST) {
		tun_on_rst(t, &m);
	} else if (t->client) {
		if (m.cmd == WSTAN_REQ) {
			log_info(t->id, "wstan: a request from the server, closing");
			tun_abort(t, 3000);
		} else if (t->flow && t->state == TUN_USING) {
			uflow_recv(t, &m); /* DGM: a reply of our UDP association */
		}
	} else if (m.cmd == WSTAN_REQ && t->state != TUN_IDLE) {
		log_info(t->id, "wstan: a request on a busy tunnel, closing");
		tun_abort(t, 3000);
	} else {
		t->cbs->on_msg(t, &m);
	}
	sbuf_free(msg);
	tun_unbusy(t);
}

static void tun_on_drain(ws_t *w)
{
	tun_t *t = ws_data(w);
	wstream_t *st = t->cur;

	if (t->freed || !st)
		return;
	msgstream_drained(&st->m);
}

static void tun_on_close(ws_t *w, int code, const char *reason)
{
	tun_t *t = ws_data(w);
	wstream_t *st = t->cur;

	if (t->freed)
		return;
	t->busy++;
	log_debug(t->id, "wstan: websocket closed (%d%s%s)", code, reason && *reason ? " " : "",
	          reason ? reason : "");
	if (st) {
		/* after our RST, its answer was all the stream still waited for */
		if (t->state == TUN_RESETTING) {
			wstream_detach(st, 0);
			wstream_push(st, NULL);
		} else {
			wstream_detach(st, UV_ECONNRESET);
		}
	}
	tun_unflow(t, UV_ECONNRESET);
	if (t->state != TUN_CLOSED)
		tun_set_state(t, TUN_CLOSED);
	t->cbs->on_close(t);
	tun_unbusy(t);
}

static const ws_cbs_t tun_ws_cbs = {tun_on_message, tun_on_drain, tun_on_close};

/* ============================================================== server */

enum { REJ_PROBE, REJ_MALFORMED, REJ_AUTH, REJ_SKEW, REJ_REPLAY, REJ_FULL, REJ_N };
static const char *const rej_names[REJ_N] = {"probe", "malformed", "auth",
                                             "skew",  "replay",    "replay_cache_full"};

typedef struct wsrv {
	listener_t *l;
	wstan_key_t key;
	tls_ctx_t *tls;
	int enc; /* AES-CTR; 0 in TLS mode */
	char *path, cookie[32];
	uint64_t skew_ms, open_timeout_ms;
	replay_store_t *replay; /* shared by every wstan listener with this key */
	decoy_t *decoy;
	ws_opts_t wo;
	uint64_t tunnels, active, reqs, udp_assocs, udp_refused, udp_in, udp_out, rejected[REJ_N];
} wsrv_t;

typedef struct sconn {
	conn_t *c;
	wsrv_t *srv;
	http_req_t req;
	ws_head_t hs;
	tun_t *t;
	wstream_t *s;   /* the request whose dial is under way */
	relay_t *relay; /* the request being relayed, or lingering after its reset */
	uv_timer_t *linger;
	stream_t hold; /* c->client once upgraded: closing it ends the tunnel */
	unsigned dying : 1, counted : 1;
} sconn_t;

static void srv_reject(sconn_t *w, int reason, const char *why)
{
	ws_head_decoy(&w->hs, w->srv->decoy, &w->srv->rejected[reason], why);
}

static void srv_relay_done(void *ud, const char *reason, uint64_t ab, uint64_t ba)
{
	sconn_t *w = ud;
	conn_t *c = w->c;

	w->relay = NULL;
	c->up = NULL; /* closed by the relay */
	w->srv->active--;
	uv_timer_stop(w->linger);
	log_info(c->id, "wstan request done (%s): %llu bytes up, %llu down", reason,
	         (unsigned long long)ab, (unsigned long long)ba);
	if (w->dying)
		return;
	conn_set_state(c, CONN_HANDSHAKE);
	conn_set_deadline(c, w->srv->open_timeout_ms); /* for the next request */
}

static void srv_on_linger(uv_timer_t *h)
{
	sconn_t *w = h->data;

	if (w->relay)
		relay_close(w->relay, "reset by the client");
}

static void srv_on_dialed(conn_t *c, int err)
{
	sconn_t *w = c->front;
	wstream_t *st = w->s;
	listener_t *l = c->l;
	relay_opts_t o = {
	    .idle_ms = l->idle_timeout_ms, .ctr_ab = &l->m->bytes_in, .ctr_ba = &l->m->bytes_out};

	w->s = NULL;
	if (err < 0) {
		if (st->t && w->t->state == TUN_USING) {
			char tg[300], why[320];

			target_str(&c->target, tg, sizeof(tg));
			snprintf(why, sizeof(why), "can't connect to %s", tg);
			tun_reset(w->t, why, uv_strerror(err));
		}
		stream_close(&st->m.s);
		conn_set_state(c, CONN_HANDSHAKE);
		conn_set_deadline(c, w->srv->open_timeout_ms);
		return;
	}
	conn_set_state(c, CONN_RELAY);
	w->srv->active++;
	w->relay = relay_start(l->loop, &st->m.s, c->up, &o, srv_relay_done, w);
}

static void srv_start(sconn_t *w, const wstan_msg_t *m)
{
	conn_t *c = w->c;
	wstream_t *st;

	if (w->relay)
		relay_close(w->relay, "next request");
	if (c->dial) {
		dial_cancel(c->dial);
		c->dial = NULL;
	}
	if (w->s) {
		stream_close(&w->s->m.s);
		w->s = NULL;
	}
	st = wstream_new(c->l->loop, c->id);
	tun_bind(w->t, st);
	if (m->dlen)
		wstream_push(st, sbuf_from(m->data, m->dlen));
	w->s = st;
	w->srv->reqs++;
	conn_dial(c, &m->target, srv_on_dialed);
}

/* ---- UDP: wstan's DGM ----
 *
 * A DGM starts (or continues) a UDP association on an idle tunnel: a
 * datagram flow through this listener's chain (conn_dgram: the target ACL
 * on every datagram after resolution, the idle timeout); replies come back
 * as DGM naming their source.  The client's RST ends the association.  A
 * chain that cannot carry datagrams is refused with an RST, naming the hop
 * in the log.  Datagrams that find no room are dropped and counted.
 */

/* A DGM message (cmd, address, datagram) of a datagram from src. */
static sbuf_t *dgm_message(tun_t *t, const struct sockaddr *src, const uint8_t *p, size_t n)
{
	char host[INET6_ADDRSTRLEN];
	sbuf_t *m = sbuf_new(1 + WSTAN_ADDR_MAX + n);
	target_t a;
	int len;

	sockaddr_ip(src, host, sizeof(host));
	target_set(&a, host, sockaddr_port(src));
	if ((len = wstan_dgm_build(&t->tx, &a, p, n, m->data, 1 + WSTAN_ADDR_MAX + n)) < 0) {
		sbuf_free(m);
		return NULL;
	}
	m->len = (uint32_t)len;
	return m;
}

static void srv_flow_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	sconn_t *w = f->data;
	tun_t *t = w->t;
	sbuf_t *m;

	if (!t || !t->ws || t->state != TUN_USING || ws_pending(t->ws) > DGRAM_QUEUE_MAX) {
		dgram_drop(f, DGRAM_DROP_QUEUE, b);
		return;
	}
	m = dgm_message(t, src, sbuf_ptr(b), b->len);
	sbuf_free(b);
	if (!m || ws_send(t->ws, WS_OP_BINARY, m) < 0) {
		dgram_drop(f, DGRAM_DROP_SEND, NULL);
		return;
	}
	w->srv->udp_out++;
	conn_dgram_touch(w->c);
}

static void srv_flow_error(dgram_t *f, int err)
{
	sconn_t *w = f->data;

	log_info(w->c->id, "wstan: the UDP association's flow failed: %s", uv_strerror(err));
	conn_dgram_end(w->c);
	if (w->t && w->t->state == TUN_USING)
		tun_reset(w->t, "udp association lost", uv_strerror(err));
}

static const dgram_cbs_t srv_flow_cbs = {srv_flow_recv, srv_flow_error, NULL};

static void srv_udp(sconn_t *w, const wstan_msg_t *m)
{
	conn_t *c = w->c;
	const dialer_t *blk;
	char hop[256];

	if (w->t->state == TUN_IDLE) {
		if ((blk = chain_dgram_blocker(c->l->chain))) {
			dialer_name(blk, hop, sizeof(hop));
			log_info(c->id, "wstan: UDP from %s refused: the hop %s cannot carry UDP",
			         c->peer_str, hop);
			w->srv->udp_refused++;
			tun_set_state(w->t, TUN_USING);
			tun_reset(w->t, "udp is not supported through this server's chain", "");
			return;
		}
		tun_set_state(w->t, TUN_USING);
		w->srv->udp_assocs++;
		log_info(c->id, "%s: UDP association", c->peer_str);
		conn_dgram(c, &srv_flow_cbs, w);
	} else if (w->t->state != TUN_USING || w->t->cur || !c->flow) {
		return;
	}
	conn_dgram_touch(c);
	w->srv->udp_in++;
	dgram_send(c->flow, &m->target, dgram_buf(m->data, m->dlen));
}

/* A REQ on a tunnel already up (AES-CTR mode): its timestamp in the window. */
static int srv_fresh(wsrv_t *s, double ts, char *why, size_t len)
{
	double now = wall_s(), age = now - ts;

	if (!isfinite(ts) || fabs(age) * 1000.0 > (double)s->skew_ms) {
		snprintf(why, len, "request timestamp outside the window (%.0f s old)",
		         isfinite(age) && fabs(age) < 1e9 ? age : 0.0);
		return -1;
	}
	return 0;
}

/* The request in a URI, judged in every mode: with TLS the URI is still a
 * credential anyone who reads a front end's access log has.  Its replay
 * identity is a keyed hash of the whole request as sent (the client's
 * nonce alone would not do in TLS mode, where nothing depends on it). */
static int srv_admit(sconn_t *w, const uint8_t *raw, size_t n, double ts)
{
	wsrv_t *s = w->srv;
	uint8_t h[32];
	uint64_t ts_ms;
	int r;

	if (!isfinite(ts) || ts < 0 || ts > 1e12) {
		srv_reject(w, REJ_SKEW, "request timestamp outside the window");
		return -1;
	}
	ts_ms = (uint64_t)(ts * 1000.0);
	hmac_sha256(s->key.k, s->key.len, raw, n, h);
	r = replay_store_check(s->replay, h, ts_ms, (uint64_t)(wall_s() * 1000.0), s->skew_ms);
	switch (r) {
	case REPLAY_NEW:
		return 0;
	case REPLAY_STALE:
		srv_reject(w, REJ_SKEW, "request timestamp outside the window");
		return -1;
	case REPLAY_UNSURE:
		srv_reject(w, REJ_SKEW, "request from before this server started");
		return -1;
	default:
		srv_reject(w, r == REPLAY_SEEN ? REJ_REPLAY : REJ_FULL,
		           r == REPLAY_SEEN ? "replayed request" : "replay cache full");
		return -1;
	}
}

static void srv_on_msg(tun_t *t, wstan_msg_t *m)
{
	sconn_t *w = t->owner;
	char why[100];

	if (m->cmd == WSTAN_DGM) {
		srv_udp(w, m);
		return;
	}
	if (w->srv->enc && srv_fresh(w->srv, m->ts, why, sizeof(why)) < 0) {
		log_info(w->c->id, "wstan: %s on a reused tunnel, closing", why);
		tun_abort(t, 3000);
		return;
	}
	srv_start(w, m);
}

static void srv_on_idle(tun_t *t)
{
	sconn_t *w = t->owner;
	conn_t *c = w->c;

	if (w->s) { /* the client gave up while we were connecting */
		if (c->dial) {
			dial_cancel(c->dial);
			c->dial = NULL;
		}
		stream_close(&w->s->m.s);
		w->s = NULL;
		conn_set_state(c, CONN_HANDSHAKE);
	}
	if (c->flow) /* the end of a UDP association */
		conn_dgram_end(c);
	if (w->relay) /* the target gets what the client sent; not much longer */
		uv_timer_start(w->linger, srv_on_linger, LINGER_MS, 0);
	conn_set_deadline(c, w->srv->open_timeout_ms);
}

static void srv_on_close(tun_t *t)
{
	sconn_t *w = t->owner;

	conn_close(w->c, "websocket closed");
}

static const tun_cbs_t srv_tun_cbs = {srv_on_msg, srv_on_idle, srv_on_close};

/* c->client after the upgrade: what conn_close closes. */
static int hold_write(stream_t *s, sbuf_t *b)
{
	sbuf_free(b);
	return UV_EPIPE;
}
static int hold_shutdown(stream_t *s)
{
	return 0;
}
static void hold_nop(stream_t *s) {}

static void hold_close(stream_t *s)
{
	sconn_t *w = (sconn_t *)((char *)s - offsetof(sconn_t, hold));

	w->dying = 1;
	uv_timer_stop(w->linger);
	if (w->relay)
		relay_close(w->relay, "tunnel closed");
	if (w->s) {
		stream_close(&w->s->m.s);
		w->s = NULL;
	}
	tun_free(w->t);
	w->t = NULL;
}

static const stream_ops_t hold_ops = {
    .name = "wstan-tunnel",
    .write = hold_write,
    .shutdown = hold_shutdown,
    .read_start = hold_nop,
    .read_stop = hold_nop,
    .close = hold_close,
};

static void srv_upgrade(sconn_t *w, const char *wskey, int compat, const uint8_t cn[WSTAN_NONCE],
                        wstan_ctr_t *rx, const wstan_msg_t *m, sbuf_t *rest)
{
	conn_t *c = w->c;
	wsrv_t *s = w->srv;
	stream_t *inner = c->client;
	uint8_t sn[WSTAN_NONCE];
	char resp[256];
	tun_t *t;
	int n;

	n = ws_server_response(resp, sizeof(resp), wskey, NULL);
	if (n < 0) {
		sbuf_free(rest);
		conn_close(c, "response too long");
		return;
	}
	t = tun_new(c->l->loop, c->id, &s->key, 0, &srv_tun_cbs, w);
	if (s->enc) {
		if (compat)
			wstan_nonce_compat(cn, sn);
		else
			wstan_nonce_default(wskey, sn);
		if (wstan_ctr_init(&t->tx, &s->key, sn) < 0) {
			free(t);
			sbuf_free(rest);
			conn_close(c, "no cipher");
			return;
		}
	}
	t->rx = *rx; /* it has run over the request already */
	rx->ctx = NULL;
	stream_write_copy(inner, resp, (size_t)n);
	w->t = t;
	w->hold = (stream_t){.ops = &hold_ops, .id = c->id};
	c->client = &w->hold;
	w->counted = 1;
	s->tunnels++;
	conn_handshake_done(c);
	t->ws = ws_new(c->l->loop, inner, rest, 0, &s->wo, &tun_ws_cbs, t);
	log_debug(c->id, "wstan tunnel up (%s%s)", s->enc ? "AES-CTR" : "TLS",
	          compat ? ", compatible mode" : "");
	if (m->cmd == WSTAN_REQ)
		srv_start(w, m);
	else if (m->cmd == WSTAN_DGM)
		srv_udp(w, m);
	else
		conn_set_deadline(c, s->open_timeout_ms); /* opened idle */
}

static void srv_on_request(ws_head_t *h, sbuf_t *rest)
{
	sconn_t *w = h->data;
	conn_t *c = w->c;
	wsrv_t *s = w->srv;
	const http_str_t *key = ws_upgrade_key(&w->req);
	const http_str_t *ck = http_req_header(&w->req, "Cookie");
	char wskey[WS_KEY_LEN + 1];
	uint8_t cn[WSTAN_NONCE], *raw = NULL;
	wstan_ctr_t rx = {0};
	wstan_msg_t *m = NULL;
	int n, r, compat = 0;

	if (conn_auth_banned(c)) { /* too many wrong keys from there: no answer */
		conn_close(c, "banned");
		goto out;
	}
	if (!key || key->len != WS_KEY_LEN ||
	    b64_decode(key->p, key->len, cn, sizeof(cn)) != WSTAN_NONCE) {
		srv_reject(w, REJ_PROBE, "not a tunnel request");
		goto out;
	}
	memcpy(wskey, key->p, WS_KEY_LEN);
	wskey[WS_KEY_LEN] = 0;
	if (ck && wstan_cookie_nonce(ck->p, ck->len, s->cookie, cn) == 0)
		compat = 1; /* else cn is the Sec-WebSocket-Key's */
	raw = malloc(WSTAN_URI_MAX);
	m = malloc(sizeof(*m));
	if (!raw || !m)
		abort();
	n = wstan_path_decode(w->req.target.p, w->req.target.len, s->path, raw, WSTAN_URI_MAX);
	if (n <= 0) {
		srv_reject(w, REJ_PROBE, "no request in the path");
		goto out;
	}
	if (s->enc && wstan_ctr_init(&rx, &s->key, cn) < 0) {
		conn_close(c, "no cipher");
		goto out;
	}
	r = wstan_msg_open(&rx, &s->key, raw, (size_t)n, 1, m);
	if (r == -EBADMSG) {
		ws_head_decoy_auth(&w->hs, s->decoy, &s->rejected[REJ_AUTH], "wstan",
		                   "request not authentic (wrong key?)");
		goto out;
	} else if (r < 0) {
		srv_reject(w, REJ_MALFORMED, "malformed request");
		goto out;
	}
	if (srv_admit(w, raw, (size_t)n, m->ts) < 0)
		goto out;
	conn_auth_ok(c);
	srv_upgrade(w, wskey, compat, cn, &rx, m, rest);
	rest = NULL;
out:
	sbuf_free(rest);
	wstan_ctr_free(&rx);
	free(raw);
	free(m);
}

static void sconn_free(void *p)
{
	sconn_t *w = p;

	http_req_free(&w->req);
	if (w->counted)
		w->srv->tunnels--;
	uv_close((uv_handle_t *)w->linger, (uv_close_cb)free);
	free(w);
}

static void srv_on_conn(conn_t *c)
{
	wsrv_t *s = c->l->front;
	sconn_t *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->c = c;
	w->srv = s;
	w->linger = malloc(sizeof(*w->linger));
	if (!w->linger)
		abort();
	uv_timer_init(c->l->loop, w->linger);
	w->linger->data = w;
	http_req_init(&w->req);
	c->front = w;
	c->front_free = sconn_free;
	w->hs = (ws_head_t){c, &w->req, &s->rejected[REJ_PROBE], srv_on_request, w};
	ws_head_read(&w->hs, s->tls);
}

static const metric_t srv_metric_rows[] = {
    METRIC(wsrv_t, tunnels, "sluice_wstan_tunnels", "gauge", "WebSockets open now."),
    METRIC(wsrv_t, active, "sluice_wstan_requests_active", "gauge", "Connections carried now."),
    METRIC(wsrv_t, reqs, "sluice_wstan_requests_total", "counter", "Connection requests accepted."),
    METRIC(wsrv_t, udp_assocs, "sluice_wstan_udp_associations_total", "counter",
           "UDP associations carried."),
    METRIC(wsrv_t, udp_refused, "sluice_wstan_udp_refused_total", "counter",
           "UDP associations refused (the chain cannot carry UDP)."),
    METRIC(wsrv_t, udp_in, "sluice_wstan_udp_datagrams_in_total", "counter",
           "Datagrams from clients."),
    METRIC(wsrv_t, udp_out, "sluice_wstan_udp_datagrams_out_total", "counter",
           "Datagrams to clients."),
};

static void srv_metrics(mbuf_t *b, void *ud)
{
	wsrv_t *s = ud;
	char lab[300], rl[360];

	metrics_label(lab, sizeof(lab), "listener", s->l->name);
	METRICS_TABLE(b, srv_metric_rows, s, lab);
	for (int i = 0; i < REJ_N; i++) {
		snprintf(rl, sizeof(rl), "%s,reason=\"%s\"", lab, rej_names[i]);
		metrics_sample(b, "sluice_wstan_rejected_total", "counter",
		               "Requests answered with the decoy, by reason.", rl, s->rejected[i]);
	}
	metrics_sample(b, "sluice_wstan_replay_cache_entries", "gauge",
	               "Request nonces remembered against replay.", lab,
	               replay_store_size(s->replay));
}

typedef struct wstan_srv_opts {
	ws_opts_t wo;
	const char *key, *cookie, *replay_state, *decoy, *cert, *certkey;
	int tls;
	uint64_t skew_ms, open_timeout_ms, replay_cache;
} wstan_srv_opts_t;

static const opt_include_t srv_inc[] = {
    OPT_INCLUDE(wstan_srv_opts_t, wo, &ws_keepalive_opts),
    {NULL, 0},
};

static const opt_t srv_table[] = {
    OPT_STR(wstan_srv_opts_t, key, "key", "required", "KEY",
            "the key: the base64 of 16 bytes that wstan -g prints, or a password"),
    OPT_STR(wstan_srv_opts_t, cert, "cert", "none", "FILE",
            "serve TLS with this certificate chain (the wss:// mode of wstan)"),
    OPT_STR(wstan_srv_opts_t, certkey, "certkey", "none", "FILE", "the certificate's private key"),
    OPT_BOOL(wstan_srv_opts_t, tls, "tls", "0",
             "the wss:// mode of wstan, behind a TLS front end that is not sluice"),
    OPT_DURATION(wstan_srv_opts_t, skew_ms, "skew", "60s",
                 "how old or new a request's timestamp may be"),
    OPT_UINT(wstan_srv_opts_t, replay_cache, "replay-cache", 10000000, "1048576",
             "nonces remembered"),
    OPT_STR(wstan_srv_opts_t, replay_state, "replay-state", "none", "FILE",
            "a file for the replay high-water mark, so that a restarted server acts on "
            "requests at once (without it, requests stamped within skew of the start cost a "
            "round trip)"),
    OPT_DURATION(wstan_srv_opts_t, open_timeout_ms, "open-timeout", "10m",
                 "how long an idle tunnel may wait for its next request"),
    OPT_STR(wstan_srv_opts_t, decoy, "decoy", "a small built-in page", "FILE",
            "what everyone else sees: a file, or a directory to serve"),
    OPT_STR(wstan_srv_opts_t, cookie, "cookie", "from the key", "NAME",
            "the cookie name of wstan's compatible mode"),
    WS_MAX_MESSAGE_OPT(wstan_srv_opts_t, wo.max_message),
};

static const opt_schema_t srv_opts = OPT_SCHEMA_WITH(srv_inc, srv_table);

static int srv_init(listener_t *l, char *err, size_t errlen)
{
	wsrv_t *s = calloc(1, sizeof(*s));
	url_t *u = l->url;
	wstan_srv_opts_t o = {.key = NULL}; /* and every other field 0 */
	replay_conf_t conf;
	uint8_t id[32];
	int tls, r;

	if (!s)
		abort();
	l->front = s;
	s->l = l;
	if ((r = opts_parse(&srv_opts, u, &o, err, errlen)) < 0)
		return r;
	if (!o.key || wstan_key_init(&s->key, o.key) < 0) {
		snprintf(err, errlen, "option 'key' is required (wstan's key, or a password)");
		return -EINVAL;
	}
	tls = o.tls;
	s->skew_ms = o.skew_ms;
	s->open_timeout_ms = o.open_timeout_ms;
	s->wo = o.wo;
	if (o.cookie && (!*o.cookie || strlen(o.cookie) >= sizeof(s->cookie) ||
	                 strpbrk(o.cookie, "=; \t\r\n"))) {
		snprintf(err, errlen, "option 'cookie': a cookie name (default: from the key)");
		return -EINVAL;
	}
	snprintf(s->cookie, sizeof(s->cookie), "%s", o.cookie ? o.cookie : s->key.cookie);
	conf = (replay_conf_t){
	    .capacity = o.replay_cache, .skew_ms = s->skew_ms, .state = o.replay_state};
	hmac_sha256(s->key.k, s->key.len, (const uint8_t *)"wstan replay store", 18, id);
	if ((r = replay_store_get("wstan", id, &conf, &s->replay, err, errlen)) < 0)
		return r;
	if ((r = decoy_new(o.decoy, &s->decoy, err, errlen)) < 0)
		return r;
	s->path = strdup(u->path[0] ? u->path : "/");
	if (!s->path)
		abort();
	if (o.cert || o.certkey) {
		tls_opts_t t = {.cert_file = o.cert, .key_file = o.certkey, .alpn = "http/1.1"};

		if (!o.cert || !o.certkey) {
			snprintf(err, errlen,
			         "options 'cert' and 'certkey' go together (PEM files)");
			return -EINVAL;
		}
		if ((r = tls_ctx_new_server(&t, &s->tls, err, errlen)) < 0)
			return r;
		tls = 1;
	}
	s->enc = !tls;
	metrics_register(srv_metrics, s);
	return 0;
}

static void srv_free(listener_t *l)
{
	wsrv_t *s = l->front;

	if (!s)
		return;
	metrics_unregister(srv_metrics, s);
	tls_ctx_free(s->tls);
	replay_store_put(s->replay);
	decoy_free(s->decoy);
	free(s->path);
	OPENSSL_cleanse(&s->key, sizeof(s->key));
	free(s);
}

const front_ops_t wstan_front_ops = {
    .scheme = "wstan",
    .init = srv_init,
    .on_conn = srv_on_conn,
    .free = srv_free,
    .reach = REACH_REMOTE,
    .gateway = 1,
};

/* ============================================================== client */

typedef struct wcli {
	dialer_t d;
	wstan_key_t key;
	tls_ctx_t *tls;
	char host_hdr[300], base[512], name[160], cookie[64];
	ws_tls_names_t names;
	int enc, compat;
	ws_opts_t wo;
	uint64_t first_wait_ms, pool_idle_ms;
	size_t pool_max, npool;
	queue_t tuns; /* tun_t.link: every tunnel */
	queue_t pool; /* tun_t.plink: idle ones, most recent first */
	uv_timer_t pool_timer;
	uint64_t opens, reused, fails;
	unsigned closing : 1;
} wcli_t;

typedef struct wreq wreq_t;

struct opener {
	ws_open_t o; /* the dial, [TLS], the upgrade */
	wcli_t *cl;
	tun_t *t;
	wreq_t *q;        /* the dial, until it is answered (NULL for a flow) */
	uv_timer_t *wait; /* first-wait */
	target_t target;
	sbuf_t *dgm;      /* a flow's first datagram, for the URI */
	unsigned udp : 1; /* a flow's: the URI has its DGM, or else an idle opener */
	uint8_t nonce[WSTAN_NONCE];
	unsigned connected : 1, waited : 1, sent : 1;
};

struct wreq {
	ws_req_t r; /* first: the request's memory goes with it */
	wcli_t *cl;
	wstream_t *s;
	opener_t *op;
};

/* ---- tunnels of the hop ---- */

static void cli_list_add(wcli_t *cl, tun_t *t)
{
	queue_insert_head(&cl->tuns, &t->link);
}

static void cli_pool_remove(wcli_t *cl, tun_t *t)
{
	if (!queue_linked(&t->plink))
		return;
	queue_remove(&t->plink);
	cl->npool--;
}

/* Unlink and free a tunnel. */
static void cli_tun_drop(wcli_t *cl, tun_t *t)
{
	cli_pool_remove(cl, t);
	queue_remove(&t->link);
	tun_free(t);
}

static void cli_on_msg(tun_t *t, wstan_msg_t *m) {}

static void cli_on_idle(tun_t *t)
{
	wcli_t *cl = t->owner;

	if (cl->closing || cl->npool >= cl->pool_max) {
		tun_abort(t, 1000);
		return;
	}
	queue_insert_head(&cl->pool, &t->plink);
	t->idle_since = uv_now(cl->d.loop);
	cl->npool++;
	log_debug(t->id, "%s: tunnel back in the pool (%zu idle)", cl->name, cl->npool);
}

static void cli_on_close(tun_t *t)
{
	cli_tun_drop(t->owner, t);
}

static const tun_cbs_t cli_tun_cbs = {cli_on_msg, cli_on_idle, cli_on_close};

static void cli_on_pool_timer(uv_timer_t *h)
{
	wcli_t *cl = h->data;
	uint64_t now = uv_now(cl->d.loop);
	queue_t *q, *n;

	queue_foreach_safe (q, n, &cl->pool) {
		tun_t *t = queue_data(q, tun_t, plink);
		if (now - t->idle_since >= cl->pool_idle_ms) {
			cli_pool_remove(cl, t);
			tun_abort(t, 1000);
		}
	}
}

/* ---- requests ---- */

static void on_answer(ws_req_t *r, int err)
{
	wreq_t *q = (wreq_t *)r;

	if (q->op)
		q->op->q = NULL;
	q->op = NULL;
	if (err < 0)
		q->cl->fails++;
	else
		q->cl->opens++;
}

/* ---- the opener ---- */

static void opener_free(opener_t *op)
{
	sbuf_free(op->dgm);
	ws_open_close(&op->o);
	uv_close((uv_handle_t *)op->wait, (uv_close_cb)free);
	free(op);
}

static void opener_fail(opener_t *op, int err, const char *why)
{
	wcli_t *cl = op->cl;
	tun_t *t = op->t;
	wreq_t *q = op->q;

	log_info(t->id, "%s: %s", cl->name, why);
	t->op = NULL;
	if (t->cur)
		wstream_detach(t->cur, q ? 0 : err); /* the caller has it: it gets err */
	tun_unflow(t, err);
	if (!q)
		cl->fails++;
	opener_free(op);
	cli_tun_drop(cl, t);
	if (q) {
		q->op = NULL;
		ws_req_answer(&q->r, err);
	}
}

/* The stream was closed, or the dial canceled, while opening. */
static void opener_cancel(opener_t *op)
{
	wcli_t *cl = op->cl;
	tun_t *t = op->t;

	t->op = NULL;
	if (t->cur)
		wstream_detach(t->cur, 0);
	if (op->q)
		op->q->op = NULL;
	opener_free(op);
	cli_tun_drop(cl, t);
}

static void on_open_fail(ws_open_t *o, int err, const char *why)
{
	opener_fail(o->data, err, why);
}

/* The 101 is right: the server's keystream, then the tunnel. */
static void on_open_up(ws_open_t *o, sbuf_t *b)
{
	opener_t *op = o->data;
	wcli_t *cl = op->cl;
	tun_t *t = op->t;
	wstream_t *st = t->cur;
	uint8_t sn[WSTAN_NONCE];
	stream_t *s;

	if (cl->enc) {
		if (cl->compat)
			wstan_nonce_compat(op->nonce, sn);
		else
			wstan_nonce_default(o->key, sn);
		if (wstan_ctr_init(&t->rx, &cl->key, sn) < 0) {
			sbuf_free(b);
			opener_fail(op, UV_ENOMEM, "no cipher");
			return;
		}
	}
	s = ws_open_take(o);
	t->op = NULL;
	opener_free(op);
	t->ws = ws_new(t->loop, s, b, 1, &cl->wo, &tun_ws_cbs, t);
	log_debug(t->id, "%s: tunnel up", cl->name);
	if (t->flow) { /* the datagrams that came during the upgrade */
		cl->opens++;
		uflow_flush(t->flow);
		return;
	}
	/* what the application wrote meanwhile, and its end if it came */
	if (st) {
		sbuf_t *c;

		while ((c = msgstream_pop_held(&st->m))) {
			if (t->state == TUN_USING)
				tun_send_dat(t, sbuf_ptr(c), c->len);
			sbuf_free(c);
		}
	}
	if (st && st->shut && t->state == TUN_USING)
		tun_reset(t, "", "");
	if (st)
		msgstream_update_wq(&st->m);
}

static void send_upgrade(opener_t *op)
{
	wcli_t *cl = op->cl;
	tun_t *t = op->t;
	wstream_t *st = t->cur;
	uint8_t first[WSTAN_FIRST_MAX], req[REQ_MAX];
	char nb64[32], extra[160], *path;
	size_t fl, plen, cap;
	int n, tries = 0;

	op->sent = 1;
	uv_timer_stop(op->wait);
	/* wstan's server takes the cookie's value with lstrip("NAME="), which
	 * eats leading characters of that set: such a nonce is drawn again */
	for (;;) {
		random_bytes(op->nonce, sizeof(op->nonce));
		b64_encode(op->nonce, sizeof(op->nonce), nb64);
		if (!cl->compat || !strchr(cl->cookie, nb64[0]) || ++tries >= 1000)
			break;
	}
	if (cl->compat)
		ws_make_key(op->o.key);
	else
		memcpy(op->o.key, nb64, WS_KEY_LEN + 1);
	if (cl->enc && wstan_ctr_init(&t->tx, &cl->key, op->nonce) < 0) {
		opener_fail(op, UV_ENOMEM, "no cipher");
		return;
	}
	fl = st ? msgstream_take(&st->m, first, sizeof(first)) : 0;
	if (op->udp && op->dgm) /* the first DGM */
		n = wstan_req_build(&t->tx, &cl->key, 1, wall_s(), &op->target, sbuf_ptr(op->dgm),
		                    op->dgm->len, req, sizeof(req));
	else if (op->udp) /* it was too big for a URI: an idle opener, it follows */
		n = wstan_req_build(&t->tx, &cl->key, 1, wall_s(), NULL, NULL, 0, req, sizeof(req));
	else
		n = wstan_req_build(&t->tx, &cl->key, 0, wall_s(), &op->target, first, fl, req,
		                    sizeof(req));
	if (n < 0) {
		opener_fail(op, UV_EINVAL, "cannot encode the request");
		return;
	}
	plen = strlen(cl->base) + ((size_t)n + 2) / 3 * 4 + 1;
	path = malloc(plen);
	cap = plen + 512;
	if (!path)
		abort();
	strcpy(path, cl->base);
	wstan_b64url_pad(req, (size_t)n, path + strlen(cl->base));
	if (cl->compat)
		snprintf(extra, sizeof(extra), "%sCookie: %s=%s\r\n", NO_CACHE, cl->cookie, nb64);
	else
		snprintf(extra, sizeof(extra), "%s", NO_CACHE);
	n = ws_open_send(&op->o, cap, cl->host_hdr, path, extra);
	free(path);
	if (n < 0) {
		opener_fail(op, UV_EINVAL, "upgrade request too long");
		return;
	}
	log_debug(t->id, "%s: upgrade with the request and %zu first bytes", cl->name, fl);
}

/* Send the upgrade once connected and the first bytes are in (or the wait
 * is over, or the application is done). */
static void opener_poke(opener_t *op)
{
	wstream_t *st;

	if (!op || !op->connected || op->sent)
		return;
	st = op->t->cur;
	if (op->waited || !st || st->m.wq.bytes || st->shut)
		send_upgrade(op);
}

static void on_first_wait(uv_timer_t *h)
{
	opener_t *op = h->data;

	op->waited = 1;
	opener_poke(op);
}

static void opener_connected(ws_open_t *o)
{
	opener_t *op = o->data;

	op->connected = 1;
	if (op->q) /* the caller gets its stream now, from the timer */
		ws_req_answer_soon(&op->q->r, 0);
	if (op->cl->first_wait_ms)
		uv_timer_start(op->wait, on_first_wait, op->cl->first_wait_ms, 0);
	else
		op->waited = 1;
	opener_poke(op);
}

static const ws_open_ops_t open_ops = {
    opener_connected,
    on_open_up,
    on_open_fail,
    NULL,
    "the server closed the connection during the upgrade",
    "the server refused the tunnel (%s): wrong key, path, or clock?"};

static opener_t *opener_start(wcli_t *cl, tun_t *t, wreq_t *q, const target_t *target)
{
	opener_t *op = calloc(1, sizeof(*op));

	if (!op)
		abort();
	op->cl = cl;
	op->t = t;
	op->q = q;
	op->target = *target;
	op->wait = malloc(sizeof(*op->wait));
	if (!op->wait)
		abort();
	uv_timer_init(cl->d.loop, op->wait);
	op->wait->data = op;
	t->op = op;
	if (q)
		q->op = op;
	if (ws_open_start(&op->o, &cl->d, cl->tls, &cl->names, t->id, &open_ops, op) < 0) {
		t->op = NULL;
		if (q)
			q->op = NULL;
		uv_close((uv_handle_t *)op->wait, (uv_close_cb)free);
		free(op);
		return NULL;
	}
	return op;
}

/* ---- the hop ---- */

static tun_t *pool_take(wcli_t *cl)
{
	queue_t *q = queue_first(&cl->pool);
	tun_t *t = q ? queue_data(q, tun_t, plink) : NULL;

	if (t)
		cli_pool_remove(cl, t);
	return t;
}

static dial_t *cli_dial(dialer_t *d, const target_t *tg, const dial_opts_t *o, dial_cb cb, void *ud)
{
	wcli_t *cl = (wcli_t *)d;
	wreq_t *q = calloc(1, sizeof(*q));
	uint8_t req[REQ_MAX];
	tun_t *t;
	int n, err = 0;

	if (!q)
		abort();
	ws_req_init(&q->r, d->loop, cb, ud, on_answer);
	q->cl = cl;
	q->s = wstream_new(d->loop, o->id);
	q->r.s = &q->s->m.s;
	if ((t = pool_take(cl))) {
		t->id = o->id;
		n = wstan_req_build(&t->tx, &cl->key, 0, wall_s(), tg, NULL, 0, req, sizeof(req));
		if (n < 0) {
			cli_on_idle(t); /* nothing was sent: back it goes */
			err = UV_EINVAL;
		} else {
			tun_bind(t, q->s);
			if (ws_send(t->ws, WS_OP_BINARY, sbuf_from(req, (size_t)n)) < 0)
				err = UV_ECONNRESET; /* its close is on its way */
			else
				cl->reused++;
			log_debug(o->id, "%s: request through a pooled tunnel", cl->name);
		}
		ws_req_answer_soon(&q->r, err);
		return (dial_t *)q;
	}
	t = tun_new(d->loop, o->id, &cl->key, 1, &cli_tun_cbs, cl);
	cli_list_add(cl, t);
	tun_bind(t, q->s);
	if (!opener_start(cl, t, q, tg)) {
		wstream_detach(q->s, 0);
		cli_tun_drop(cl, t);
		ws_req_answer_soon(&q->r, UV_ENOMEM);
	}
	return (dial_t *)q;
}

static void cli_cancel(dialer_t *d, dial_t *req)
{
	ws_req_cancel(&((wreq_t *)req)->r); /* an opener under way goes with it */
}

/* ---- datagram flows ----
 *
 * A UDP association (core/dgram.h) is a tunnel in USING with a flow bound
 * instead of a stream: DGM messages both ways, the client's RST its end
 * (the tunnel then goes back to the pool).  A pooled tunnel takes the
 * first datagram as a message; a fresh one carries it in the upgrade's URI
 * (with a timestamp and a MAC, as wstan does; a datagram too big for a URI
 * follows an idle opener instead), and the datagrams sent during the
 * upgrade wait, bounded, until it is up.  The flow is ready at once: the
 * first datagram is what opens the tunnel.
 */
struct uflow {
	dgram_t f;
	wcli_t *cl;
	tun_t *t; /* bound, from the first datagram on */
	dgram_hq_t held;
};

/* The tunnel lets go of its flow; err (if any) reaches the flow's owner. */
static void tun_unflow(tun_t *t, int err)
{
	uflow_t *uf = t->flow;

	if (!uf)
		return;
	t->flow = NULL;
	uf->t = NULL;
	dgram_hq_clear(&uf->held);
	if (err)
		dgram_fail(&uf->f, err);
}

static void uflow_recv(tun_t *t, const wstan_msg_t *m)
{
	uflow_t *uf = t->flow;
	struct sockaddr_storage ss;

	if (!m->has_target || !target_is_ip(&m->target, &ss)) {
		dgram_drop(&uf->f, DGRAM_DROP_BAD, NULL);
		return;
	}
	dgram_deliver(&uf->f, (struct sockaddr *)&ss, dgram_buf(m->data, m->dlen));
}

static void uflow_send_now(uflow_t *uf, const target_t *dst, sbuf_t *b)
{
	tun_t *t = uf->t;
	sbuf_t *m;
	int n;

	if (t->state != TUN_USING || ws_pending(t->ws) > DGRAM_QUEUE_MAX) {
		dgram_drop(&uf->f, DGRAM_DROP_QUEUE, b);
		return;
	}
	m = sbuf_new(1 + WSTAN_ADDR_MAX + b->len);
	n = wstan_dgm_build(&t->tx, dst, sbuf_ptr(b), b->len, m->data, 1 + WSTAN_ADDR_MAX + b->len);
	sbuf_free(b);
	if (n < 0) {
		sbuf_free(m);
		dgram_drop(&uf->f, DGRAM_DROP_BAD, NULL);
		return;
	}
	m->len = (uint32_t)n;
	if (ws_send(t->ws, WS_OP_BINARY, m) < 0)
		dgram_drop(&uf->f, DGRAM_DROP_SEND, NULL);
	else
		uf->f.sent++;
}

static void uflow_flush(uflow_t *uf)
{
	target_t dst;
	sbuf_t *b;

	while (uf->t && dgram_hq_pop(&uf->held, &dst, &b))
		uflow_send_now(uf, &dst, b);
}

/* The first datagram: a pooled tunnel, or a fresh one with it in the URI. */
static int uflow_bind(uflow_t *uf, const target_t *dst, sbuf_t *b)
{
	wcli_t *cl = uf->cl;
	tun_t *t = pool_take(cl);
	opener_t *op;

	if (t) {
		t->id = uf->f.id;
		tun_set_state(t, TUN_USING);
		t->flow = uf;
		uf->t = t;
		cl->reused++;
		log_debug(uf->f.id, "%s: datagrams through a pooled tunnel", cl->name);
		uflow_send_now(uf, dst, b);
		return 0;
	}
	t = tun_new(cl->d.loop, uf->f.id, &cl->key, 1, &cli_tun_cbs, cl);
	cli_list_add(cl, t);
	tun_set_state(t, TUN_USING);
	t->flow = uf;
	uf->t = t;
	if (!(op = opener_start(cl, t, NULL, dst))) {
		tun_unflow(t, 0);
		cli_tun_drop(cl, t);
		sbuf_free(b);
		return UV_ENOMEM;
	}
	op->udp = 1;
	if (b->len <= WSTAN_FIRST_MAX)
		op->dgm = b;
	else if (dgram_hq_push(&uf->held, dst, b) < 0)
		dgram_drop(&uf->f, DGRAM_DROP_QUEUE, NULL);
	return 0;
}

static int uflow_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	uflow_t *uf = (uflow_t *)f;

	if (b->len > DGRAM_MAX) {
		dgram_drop(f, DGRAM_DROP_SIZE, b);
		return UV_EMSGSIZE;
	}
	if (!uf->t) {
		if (uf->cl->closing) {
			dgram_drop(f, DGRAM_DROP_SEND, b);
			return 0;
		}
		return uflow_bind(uf, dst, b) < 0 ? (dgram_drop(f, DGRAM_DROP_SEND, NULL), 0) : 0;
	}
	if (!uf->t->ws) { /* the upgrade is under way */
		if (dgram_hq_push(&uf->held, dst, b) < 0)
			dgram_drop(f, DGRAM_DROP_QUEUE, NULL);
		return 0;
	}
	uflow_send_now(uf, dst, b);
	return 0;
}

static void uflow_close(dgram_t *f)
{
	uflow_t *uf = (uflow_t *)f;
	tun_t *t = uf->t;

	if (t) {
		t->flow = NULL;
		uf->t = NULL;
		if (t->op)
			opener_cancel(t->op); /* frees the tunnel */
		else if (t->state == TUN_USING)
			tun_reset(t, "", ""); /* the server's RST puts it back in the pool */
	}
	dgram_hq_clear(&uf->held);
	free(uf);
}

static const dgram_ops_t uflow_ops = {"wstan-udp", uflow_send, uflow_close};

static dial_t *cli_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	uflow_t *uf = calloc(1, sizeof(*uf));

	if (!uf)
		abort();
	dgram_init(&uf->f, &uflow_ops, o->id);
	uf->cl = (wcli_t *)d;
	return dgram_ready_soon(d->loop, &uf->f, cb, ud);
}

static void cli_dgram_cancel(dialer_t *d, dial_t *req)
{
	dgram_ready_cancel(req);
}

static const metric_t cli_metric_rows[] = {
    METRIC(wcli_t, npool, "sluice_wstan_pool_size", "gauge", "Idle tunnels waiting in the pool."),
    METRIC(wcli_t, opens, "sluice_wstan_client_opens_total", "counter",
           "WebSockets opened by the hop."),
    METRIC(wcli_t, reused, "sluice_wstan_client_reused_total", "counter",
           "Connections carried by a pooled tunnel."),
    METRIC(wcli_t, fails, "sluice_wstan_client_failures_total", "counter",
           "WebSockets the hop could not open."),
};

static void cli_metrics(mbuf_t *b, void *ud)
{
	wcli_t *cl = ud;
	char lab[300];

	METRICS_TABLE(b, cli_metric_rows, cl, metrics_label(lab, sizeof(lab), "hop", cl->name));
}

static void cli_free(dialer_t *d)
{
	wcli_t *cl = (wcli_t *)d;

	metrics_unregister(cli_metrics, cl);
	cl->closing = 1;
	if (uv_is_closing((uv_handle_t *)&cl->pool_timer)) {
		/* the process is exiting and every handle was closed under us:
		 * nothing can be released properly any more */
		return;
	}
	while (!queue_empty(&cl->tuns)) {
		tun_t *t = queue_data(queue_first(&cl->tuns), tun_t, link);

		if (t->op) {
			if (t->op->q)
				t->op->q->op = NULL;
			opener_free(t->op);
			t->op = NULL;
		}
		cli_tun_drop(cl, t);
	}
	tls_ctx_free(cl->tls);
	OPENSSL_cleanse(&cl->key, sizeof(cl->key));
	uv_close((uv_handle_t *)&cl->pool_timer, free_on_close);
}

static const dialer_ops_t cli_ops = {.scheme = "wstan",
                                     .dial = cli_dial,
                                     .cancel = cli_cancel,
                                     .free = cli_free,
                                     .dgram = cli_dgram,
                                     .dgram_cancel = cli_dgram_cancel};

typedef struct wstan_cli_opts {
	ws_opts_t wo;
	ws_tls_opts_t tls_o;
	const char *key, *cookie, *host;
	int tls, compat;
	uint64_t pool, pool_idle_ms, first_wait_ms;
} wstan_cli_opts_t;

static const opt_include_t cli_inc[] = {
    OPT_INCLUDE(wstan_cli_opts_t, wo, &ws_keepalive_opts),
    OPT_INCLUDE(wstan_cli_opts_t, tls_o, &ws_tls_opts), /* with tls=1 only */
    {NULL, 0},
};

static const opt_t cli_table[] = {
    OPT_STR(wstan_cli_opts_t, key, "key", "required", "KEY", "the server's key, or a password"),
    OPT_BOOL(wstan_cli_opts_t, tls, "tls", "0", "TLS to the server (the wss:// of wstan)"),
    OPT_BOOL(wstan_cli_opts_t, compat, "compat", "0",
             "the nonce travels in a cookie, as with wstan -z (for WebSocket proxies that "
             "rewrite headers)"),
    OPT_STR(wstan_cli_opts_t, cookie, "cookie", "from the key", "NAME",
            "the cookie name (implies compat=1)"),
    OPT_UINT(wstan_cli_opts_t, pool, "pool", 1024, "16", "finished tunnels kept for reuse"),
    OPT_DURATION(wstan_cli_opts_t, pool_idle_ms, "pool-idle", "5m",
                 "how long one waits in the pool"),
    OPT_DURATION(wstan_cli_opts_t, first_wait_ms, "first-wait", "30ms",
                 "how long a new tunnel waits for the application's first bytes, to send them "
                 "with the upgrade"),
    OPT_STR(wstan_cli_opts_t, host, "host", "host:port", "NAME", "the HTTP Host header"),
};

static const opt_schema_t cli_opts = OPT_SCHEMA_WITH(cli_inc, cli_table);

int wstan_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                  size_t errlen)
{
	wcli_t *cl = calloc(1, sizeof(*cl));
	wstan_cli_opts_t o = {.key = NULL}; /* and every other field 0 */
	int port, r;
	const char *br0, *br1;

	if (!cl)
		abort();
	*out = NULL;
	queue_init(&cl->tuns);
	queue_init(&cl->pool);
	cl->d.ops = &cli_ops;
	cl->d.next = next;
	cl->d.loop = loop;
	uv_timer_init(loop, &cl->pool_timer);
	cl->pool_timer.data = cl;
	if ((r = opts_parse(&cli_opts, u, &o, err, errlen)) < 0)
		goto fail;
	port = u->port > 0 ? u->port : o.tls ? 443 : 80;
	if (!u->host[0] || target_set(&cl->d.server, u->host, (uint16_t)port) < 0) {
		snprintf(err, errlen, "a server address is required (wstan://HOST:PORT?key=KEY)");
		goto fail;
	}
	br0 = strchr(u->host, ':') ? "[" : "";
	br1 = strchr(u->host, ':') ? "]" : "";
	snprintf(cl->name, sizeof(cl->name), "wstan://%s%s%s:%d%s", br0, u->host, br1, port,
	         u->path);
	url_name_escape(cl->name, sizeof(cl->name));
	if (!o.key || wstan_key_init(&cl->key, o.key) < 0) {
		snprintf(err, errlen, "option 'key' is required (wstan's key, or a password)");
		goto fail;
	}
	cl->compat = o.compat;
	cl->pool_max = o.pool;
	cl->pool_idle_ms = o.pool_idle_ms;
	cl->first_wait_ms = o.first_wait_ms; /* wstan waits 30 ms for the first bytes */
	cl->enc = !o.tls;
	cl->wo =
	    (ws_opts_t){.max_message = 1 << 20, .ping_ms = o.wo.ping_ms, .dead_ms = o.wo.dead_ms};
	if (o.cookie && (!*o.cookie || strlen(o.cookie) >= 32 || strpbrk(o.cookie, "=; \t\r\n"))) {
		snprintf(err, errlen, "option 'cookie': a cookie name (default: from the key)");
		goto fail;
	}
	snprintf(cl->cookie, sizeof(cl->cookie), "%s", o.cookie ? o.cookie : cl->key.cookie);
	if (o.cookie)
		cl->compat = 1;
	if (o.host && strpbrk(o.host, "\r\n")) {
		snprintf(err, errlen, "option 'host': one line");
		goto fail;
	}
	if (o.host) /* wstan always sends host:port */
		snprintf(cl->host_hdr, sizeof(cl->host_hdr), "%s", o.host);
	else
		snprintf(cl->host_hdr, sizeof(cl->host_hdr), "%s%s%s:%d", br0, u->host, br1, port);
	if (strlen(u->path) + 2 > sizeof(cl->base) || strpbrk(u->path, " \r\n")) {
		snprintf(err, errlen, "the path is too long or has spaces");
		goto fail;
	}
	snprintf(cl->base, sizeof(cl->base), "%s%s", u->path[0] ? u->path : "/",
	         u->path[0] && u->path[strlen(u->path) - 1] != '/' ? "/" : "");
	r = ws_hop_tls_load(&o.tls_o, u->host, o.host, o.tls, "tls=1", &cl->tls, &cl->names, err,
	                    errlen);
	if (r < 0)
		goto fail;
	metrics_register(cli_metrics, cl);
	uv_timer_start(&cl->pool_timer, cli_on_pool_timer, 5000, 5000);
	uv_unref((uv_handle_t *)&cl->pool_timer);
	*out = &cl->d;
	return 0;
fail:
	tls_ctx_free(cl->tls);
	uv_close((uv_handle_t *)&cl->pool_timer, free_on_close);
	return -EINVAL;
}

static const transport_scheme_t wstan_schemes[] = {
    {.scheme = "wstan",
     .listen = &wstan_front_ops,
     .hop = wstan_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_REMOTE_DNS,
     .listen_doc = {"wstan://IP:PORT[/path]?key=KEY", "wstan 0.5 compatible server", &srv_opts},
     .hop_doc = {"wstan://HOST:PORT[/path]?key=KEY", "through a wstan server", &cli_opts}},
};

const transport_t wstan_transport = {
    .name = "wstan",
    .summary = "wstan-compatible WebSocket tunnel (docs/wstan.md)",
    TRANSPORT_SCHEMES(wstan_schemes),
};
