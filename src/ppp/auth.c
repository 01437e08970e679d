/* auth: see auth.h.
 *
 * One auth_t runs one method in one role.  Its state says what it waits for:
 *
 *   authenticator  PAP:  INITIAL -> WAIT_REQUEST -> SUCCESS | [HOLD ->] FAILURE
 *                  CHAP: INITIAL -> CHALLENGE_SENT -> SUCCESS | [HOLD ->] FAILURE
 *   peer           PAP:  INITIAL -> REQUEST_SENT -> SUCCESS | FAILURE
 *                  CHAP: INITIAL -> WAIT_CHALLENGE -> RESPONSE_SENT
 *                                -> SUCCESS | FAILURE
 *
 * auth_set_state() is the only writer of the state and refuses anything
 * not in its table.  done() fires exactly once, on the way into SUCCESS or
 * FAILURE, as the last thing the call does: the owner may auth_free() from
 * inside it.
 *
 * Timers (RFC 1661's restart timer, 3 s, 10 transmissions):
 *   - the CHAP authenticator sends a new Challenge each time (RFC 1994 4.1:
 *     new Identifier and new random Value), gives up after the 10th;
 *   - the PAP peer repeats its Authenticate-Request with a new Identifier
 *     (RFC 1334 2.2.1), gives up after the 10th;
 *   - the CHAP peer repeats its last Response (same Identifier), so a lost
 *     Success is recovered: the authenticator answers a repeated Response
 *     carrying the current Identifier with the reply it gave (RFC 1994 4.1);
 *   - the waiting roles (PAP authenticator, CHAP peer) give up 33 s after
 *     auth_start unless the phase ended.
 *
 * Replies are matched on the Identifier: anything else is silently dropped,
 * as are packets whose Length lies, truncated fields and unknown codes.
 * A well-formed answer that cannot be right (unknown or oversized name,
 * wrong Value-Size, wrong secret) ends the phase with Failure.  After the
 * end the authenticator still answers repeats (PAP: any request, with the
 * verdict; CHAP: the current Identifier, with the stored reply) and the
 * CHAP peer still answers Challenges (RFC 1994 allows them in the network
 * phase), without a second done().
 *
 * The owner's judged() callback sees every verdict before it is sent (the
 * gateway counts failures per source there, core/authguard.h): it may ask
 * for a refusal to be held for a while (HOLD: the Nak or Failure waits in
 * `last`, repeats from the peer are ignored, auth_tick() sends it when the
 * time is up) or for the peer to get no answer at all (FAILURE at once,
 * even for right credentials: the source is banned).
 *
 * MS-CHAPv2 is mutual: the peer ends the phase with failure unless the
 * Success carries the "S=" it computed itself.  On success both sides keep
 * the RFC 3079 start keys (128 bits, from their own point of view), so
 * the server's send key is the client's receive key and vice versa.
 *
 * Crypto: MD5 and SHA-1 from OpenSSL's default provider; MD4 and DES-ECB
 * (MS-CHAPv2) from its legacy provider, loaded once with the default one.
 * If that fails, MS-CHAPv2 fails in auth_start() with a message saying so.
 * Secrets are compared in constant time and wiped after use; the password
 * and secrets never reach a log line or a done() message.
 */
#include "ppp/auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "core/crypto.h"
#include "core/encoding.h"
#include "core/log.h"

#define AUTH_RESTART_MS 3000
#define AUTH_MAX_TRIES 10
#define AUTH_WAIT_MS ((AUTH_MAX_TRIES + 1) * AUTH_RESTART_MS)
#define AUTH_NAME_MAX 255    /* PAP's Peer-ID Length is one octet; we hold CHAP to it */
#define AUTH_SECRET_MAX 1023 /* bytes of UTF-8: 256 UTF-16 characters and more */
#define AUTH_PKT_MAX 600     /* the largest packet we build: a PAP request, 4+1+255+1+255 */
#define AUTH_MSG_MAX 200     /* done() messages */

enum { PAP_REQUEST = 1, PAP_ACK = 2, PAP_NAK = 3 };
enum { CHAP_CHALLENGE = 1, CHAP_RESPONSE = 2, CHAP_SUCCESS = 3, CHAP_FAILURE = 4 };

#define MD5_CHAL_LEN 16
#define MSV2_CHAL_LEN 16
#define MSV2_RESP_LEN 49 /* Peer-Challenge 16, Reserved 8, NT-Response 24, Flags 1 */
#define MSV2_AUTH_LEN 20 /* the authenticator response, 40 hex digits after "S=" */

/* ---- crypto primitives ---- */

typedef struct part {
	const void *p;
	size_t n;
} part_t;

/* Loaded once, kept for the life of the process. */
static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;
static OSSL_PROVIDER *prov_default, *prov_legacy;
static EVP_MD *md4;
static EVP_CIPHER *des_ecb;

static void legacy_load(void)
{
	/* Loading any provider by hand stops OpenSSL from loading the default
	 * one by itself, so both are loaded. */
	prov_default = OSSL_PROVIDER_load(NULL, "default");
	prov_legacy = OSSL_PROVIDER_load(NULL, "legacy");
	if (prov_default && prov_legacy) {
		md4 = EVP_MD_fetch(NULL, "MD4", NULL);
		des_ecb = EVP_CIPHER_fetch(NULL, "DES-ECB", NULL);
		if (!md4 || !des_ecb) {
			EVP_MD_free(md4);
			EVP_CIPHER_free(des_ecb);
			md4 = NULL;
			des_ecb = NULL;
		}
	}
	ERR_clear_error();
}

static int legacy_ready(void)
{
	pthread_once(&legacy_once, legacy_load);
	return md4 && des_ecb ? 0 : -ENOSYS;
}

static int digest(const EVP_MD *md, const part_t *parts, size_t n, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL);
	size_t i;

	for (i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, parts[i].p, parts[i].n);
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* One character of UTF-8 at s (n > 0 bytes left): its code point, and in
 * *used how many bytes it took.  A byte that does not start a valid, shortest
 * sequence stands for itself (Latin-1), so any string has a hash. */
static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *used)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	uint32_t c = s[0];
	size_t len, i;

	*used = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, c &= 0x07;
	else
		return c;
	if (len > n)
		return s[0];
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return s[0];
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return s[0];
	*used = len;
	return c;
}

/* RFC 2759 8.3 NtPasswordHash: MD4 of the password in UTF-16LE (no
 * terminating zero).  The password comes as UTF-8 and is converted on the
 * fly, a chunk at a time. */
static int nt_hash(const char *pw, size_t len, uint8_t out[16])
{
	const uint8_t *s = (const uint8_t *)pw;
	EVP_MD_CTX *ctx;
	uint8_t buf[256];
	size_t o = 0, used;
	int ok;

	if (legacy_ready() < 0)
		return -ENOSYS;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, md4, NULL);
	while (ok && len) {
		uint32_t c = utf8_next(s, len, &used);

		s += used;
		len -= used;
		if (c >= 0x10000) { /* a surrogate pair */
			uint32_t v = c - 0x10000, hi = 0xd800 | v >> 10, lo = 0xdc00 | (v & 0x3ff);
			buf[o++] = hi & 0xff;
			buf[o++] = (uint8_t)(hi >> 8);
			buf[o++] = lo & 0xff;
			buf[o++] = (uint8_t)(lo >> 8);
		} else {
			buf[o++] = c & 0xff;
			buf[o++] = (uint8_t)(c >> 8);
		}
		if (o > sizeof(buf) - 4) {
			ok = EVP_DigestUpdate(ctx, buf, o);
			o = 0;
		}
	}
	ok = ok && EVP_DigestUpdate(ctx, buf, o) && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok ? 0 : -EIO;
}

/* RFC 2759 8.4 HashNtPasswordHash */
static int nt_hash_hash(const uint8_t hash[16], uint8_t out[16])
{
	part_t p[] = {{hash, 16}};

	if (legacy_ready() < 0)
		return -ENOSYS;
	return digest(md4, p, 1, out);
}

/* RFC 2759 8.6 / 9.3: 56 key bits spread over 8 octets, 7 bits each in the
 * high bits, the low bit set for odd parity. */
static void des_key_expand(const uint8_t k7[7], uint8_t k8[8])
{
	int i;

	for (i = 0; i < 8; i++) {
		unsigned bit = i * 7, byte = bit / 8, shift = bit % 8;
		unsigned w = (unsigned)k7[byte] << 8 | (byte + 1 < 7 ? k7[byte + 1] : 0);
		unsigned k = (w >> (9 - shift) & 0x7f) << 1, ones = 0, b;

		for (b = k; b; b >>= 1)
			ones += b & 1;
		k8[i] = (uint8_t)(k | !(ones & 1));
	}
}

/* RFC 2759 8.6 DesEncrypt: one block, ECB. */
static int des_encrypt(const uint8_t clear[8], const uint8_t k7[7], uint8_t out[8])
{
	EVP_CIPHER_CTX *ctx;
	uint8_t key[8];
	int n = 0, ok;

	if (legacy_ready() < 0)
		return -ENOSYS;
	des_key_expand(k7, key);
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_EncryptInit_ex(ctx, des_ecb, NULL, key, NULL) &&
	     EVP_CIPHER_CTX_set_padding(ctx, 0) && EVP_EncryptUpdate(ctx, out, &n, clear, 8) &&
	     n == 8;
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(key, sizeof(key));
	return ok ? 0 : -EIO;
}

/* The account name without a "DOMAIN\" prefix (RFC 2759 4 and 8.2). */
static const char *user_only(const char *name)
{
	const char *bs = strrchr(name, '\\');

	return bs ? bs + 1 : name;
}

/* RFC 2759 8.2 ChallengeHash */
static int challenge_hash(const uint8_t peer_chal[16], const uint8_t auth_chal[16],
                          const char *user, uint8_t out[8])
{
	const char *u = user_only(user);
	part_t p[] = {{peer_chal, 16}, {auth_chal, 16}, {u, strlen(u)}};
	uint8_t d[20];

	if (digest(EVP_sha1(), p, 3, d) < 0)
		return -EIO;
	memcpy(out, d, 8);
	return 0;
}

/* RFC 2759 8.5 ChallengeResponse */
static int challenge_response(const uint8_t chal[8], const uint8_t hash[16], uint8_t out[24])
{
	uint8_t z[21] = {0};
	int i, err = 0;

	memcpy(z, hash, 16);
	for (i = 0; i < 3 && !err; i++)
		err = des_encrypt(chal, z + 7 * i, out + 8 * i);
	OPENSSL_cleanse(z, sizeof(z));
	return err;
}

/* RFC 2759 8.1 GenerateNTResponse, from the password hash */
static int nt_response(const uint8_t auth_chal[16], const uint8_t peer_chal[16], const char *user,
                       const uint8_t hash[16], uint8_t out[24])
{
	uint8_t c[8];

	if (challenge_hash(peer_chal, auth_chal, user, c) < 0)
		return -EIO;
	return challenge_response(c, hash, out);
}

/* RFC 2759 8.7 GenerateAuthenticatorResponse, from the password hash, as
 * the 20 octets the "S=" string encodes. */
static int auth_response(const uint8_t hash[16], const uint8_t nt[24], const uint8_t peer_chal[16],
                         const uint8_t auth_chal[16], const char *user, uint8_t out[20])
{
	static const char magic1[] = "Magic server to client signing constant";
	static const char magic2[] = "Pad to make it do more than one iteration";
	uint8_t hh[16], d[20], c[8];
	int err;

	_Static_assert(sizeof(magic1) - 1 == 39 && sizeof(magic2) - 1 == 41, "RFC 2759 8.7");
	err = nt_hash_hash(hash, hh);
	if (!err) {
		part_t p[] = {{hh, 16}, {nt, 24}, {magic1, 39}};
		err = digest(EVP_sha1(), p, 3, d);
	}
	if (!err)
		err = challenge_hash(peer_chal, auth_chal, user, c);
	if (!err) {
		part_t p[] = {{d, 20}, {c, 8}, {magic2, 41}};
		err = digest(EVP_sha1(), p, 3, out);
	}
	OPENSSL_cleanse(hh, sizeof(hh));
	return err;
}

/* RFC 3079 3.4 GetMasterKey + GetAsymmetricStartKey (16 octets), both
 * directions, from this side's point of view. */
static int master_keys(const uint8_t hash[16], const uint8_t nt[24], int is_server,
                       uint8_t send_key[16], uint8_t recv_key[16])
{
	static const char magic1[] = "This is the MPPE Master Key";
	static const char magic2[] = "On the client side, this is the send key; "
	                             "on the server side, it is the receive key.";
	static const char magic3[] = "On the client side, this is the receive key; "
	                             "on the server side, it is the send key.";
	static const uint8_t pad1[40] = {0};
	uint8_t pad2[40], hh[16], mk[20], d[20];
	const char *m;
	int err, send;

	_Static_assert(sizeof(magic1) - 1 == 27, "RFC 3079 3.4");
	_Static_assert(sizeof(magic2) - 1 == 84 && sizeof(magic3) - 1 == 84, "RFC 3079 3.4");
	memset(pad2, 0xf2, sizeof(pad2));
	err = nt_hash_hash(hash, hh);
	if (!err) {
		part_t p[] = {{hh, 16}, {nt, 24}, {magic1, 27}};
		err = digest(EVP_sha1(), p, 3, mk);
	}
	for (send = 1; send >= 0 && !err; send--) {
		m = send == is_server ? magic3 : magic2;
		part_t p[] = {{mk, 16}, {pad1, 40}, {m, 84}, {pad2, 40}};
		err = digest(EVP_sha1(), p, 4, d);
		memcpy(send ? send_key : recv_key, d, 16);
	}
	OPENSSL_cleanse(hh, sizeof(hh));
	OPENSSL_cleanse(mk, sizeof(mk));
	OPENSSL_cleanse(d, sizeof(d));
	return err;
}

/* ---- the exported primitives: on a crypto failure the output is zeros,
 * which matches nothing a peer sends ---- */

void chap_md5_response(uint8_t id, const char *secret, size_t slen, const uint8_t *chal,
                       size_t clen, uint8_t out[16])
{
	part_t p[] = {{&id, 1}, {secret, slen}, {chal, clen}};

	if (digest(EVP_md5(), p, 3, out) < 0)
		memset(out, 0, 16);
}

void mschap_nt_password_hash(const char *password, uint8_t out[16])
{
	if (nt_hash(password, strlen(password), out) < 0)
		memset(out, 0, 16);
}

void mschapv2_generate_nt_response(const uint8_t auth_challenge[16],
                                   const uint8_t peer_challenge[16], const char *user,
                                   const char *password, uint8_t out[24])
{
	uint8_t h[16];

	if (nt_hash(password, strlen(password), h) < 0 ||
	    nt_response(auth_challenge, peer_challenge, user, h, out) < 0)
		memset(out, 0, 24);
	OPENSSL_cleanse(h, sizeof(h));
}

void mschapv2_authenticator_response(const char *password, const uint8_t nt_response[24],
                                     const uint8_t peer_challenge[16],
                                     const uint8_t auth_challenge[16], const char *user,
                                     char out[43])
{
	uint8_t h[16], r[20];

	if (nt_hash(password, strlen(password), h) < 0 ||
	    auth_response(h, nt_response, peer_challenge, auth_challenge, user, r) < 0)
		memset(r, 0, sizeof(r));
	out[0] = 'S';
	out[1] = '=';
	hex_encode(r, 20, out + 2, 1);
	OPENSSL_cleanse(h, sizeof(h));
}

int auth_methods_parse(const char *list, const char *opt, unsigned *mask, int *none_ok, char *err,
                       size_t errlen)
{
	char buf[128], *tok, *save;

	*mask = 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "pap"))
			*mask |= 1u << AUTH_PAP;
		else if (!strcmp(tok, "chap"))
			*mask |= 1u << AUTH_CHAP_MD5;
		else if (!strcmp(tok, "mschapv2"))
			*mask |= 1u << AUTH_MSCHAPV2;
		else if (none_ok && !strcmp(tok, "none"))
			*none_ok = 1;
		else {
			snprintf(err, errlen, "option '%s': '%s' is not pap, chap, mschapv2%s", opt,
			         tok, none_ok ? " or none" : "");
			return -EINVAL;
		}
	}
	return 0;
}

void mppe_master_keys(const char *password, const uint8_t nt_response[24], int is_server,
                      uint8_t send_key[16], uint8_t recv_key[16])
{
	uint8_t h[16];

	if (nt_hash(password, strlen(password), h) < 0 ||
	    master_keys(h, nt_response, !!is_server, send_key, recv_key) < 0) {
		memset(send_key, 0, 16);
		memset(recv_key, 0, 16);
	}
	OPENSSL_cleanse(h, sizeof(h));
}

/* ---- the exchange ---- */

typedef enum auth_state {
	AUTH_INITIAL,
	AUTH_WAIT_REQUEST,   /* PAP authenticator */
	AUTH_CHALLENGE_SENT, /* CHAP authenticator */
	AUTH_REQUEST_SENT,   /* PAP peer */
	AUTH_WAIT_CHALLENGE, /* CHAP peer */
	AUTH_RESPONSE_SENT,  /* CHAP peer */
	AUTH_HOLD,           /* authenticator: a refusal waits for hold_until */
	AUTH_SUCCESS,
	AUTH_FAILURE,
} auth_state_t;

static const char *const auth_state_names[] = {
    "INITIAL",       "WAIT_REQUEST", "CHALLENGE_SENT", "REQUEST_SENT", "WAIT_CHALLENGE",
    "RESPONSE_SENT", "HOLD",         "SUCCESS",        "FAILURE",
};

static const char *const method_names[] = {"none", "PAP", "CHAP-MD5", "MS-CHAPv2"};

struct auth {
	auth_cbs_t cbs;
	void *ud;
	auth_method_t method;
	int authenticator;
	auth_state_t state;
	char name[AUTH_NAME_MAX + 1];       /* authenticator: ours; peer: the user */
	char password[AUTH_SECRET_MAX + 1]; /* peer */
	size_t pwlen;
	char peer_name[AUTH_NAME_MAX + 1]; /* authenticator: who authenticated */

	uint8_t id;          /* of the current Challenge / Authenticate-Request / Response */
	unsigned tries;      /* transmissions of it */
	uint64_t next_at;    /* retransmission */
	uint64_t give_up_at; /* the waiting roles' bound */
	uint64_t hold_until; /* HOLD: when the refusal goes out */
	char hold_msg[AUTH_MSG_MAX];
	uint8_t chal[MSV2_CHAL_LEN]; /* the current challenge (peer: if it fits) */
	size_t chal_len;
	uint8_t verdict;            /* authenticator: the reply code given */
	uint8_t last[AUTH_PKT_MAX]; /* peer: Request/Response to repeat; authenticator: reply */
	size_t last_len;

	uint8_t peer_chal[16], nt_resp[24]; /* MS-CHAPv2 */
	uint8_t expect[MSV2_AUTH_LEN];      /* peer: the authenticator response due */
	uint8_t send_key[16], recv_key[16];
	int have_keys;
};

static void auth_set_state(auth_t *a, auth_state_t to)
{
	static const unsigned legal[] = {
	    [AUTH_INITIAL] = 1u << AUTH_WAIT_REQUEST | 1u << AUTH_CHALLENGE_SENT |
	                     1u << AUTH_REQUEST_SENT | 1u << AUTH_WAIT_CHALLENGE |
	                     1u << AUTH_SUCCESS | 1u << AUTH_FAILURE,
	    [AUTH_WAIT_REQUEST] = 1u << AUTH_SUCCESS | 1u << AUTH_HOLD | 1u << AUTH_FAILURE,
	    [AUTH_CHALLENGE_SENT] = 1u << AUTH_SUCCESS | 1u << AUTH_HOLD | 1u << AUTH_FAILURE,
	    [AUTH_REQUEST_SENT] = 1u << AUTH_SUCCESS | 1u << AUTH_FAILURE,
	    [AUTH_WAIT_CHALLENGE] = 1u << AUTH_RESPONSE_SENT | 1u << AUTH_FAILURE,
	    [AUTH_RESPONSE_SENT] = 1u << AUTH_SUCCESS | 1u << AUTH_FAILURE,
	    [AUTH_HOLD] = 1u << AUTH_FAILURE,
	    [AUTH_SUCCESS] = 0,
	    [AUTH_FAILURE] = 0,
	};

	if (!(legal[a->state] & (1u << to))) {
		log_err(0, "auth: illegal state change %s -> %s", auth_state_names[a->state],
		        auth_state_names[to]);
		abort();
	}
	log_debug(0, "auth %s %s %s -> %s", method_names[a->method],
	          a->authenticator ? "authenticator" : "peer", auth_state_names[a->state],
	          auth_state_names[to]);
	a->state = to;
}

/* Printable ASCII of untrusted bytes, for done() messages and logs. */
static void sanitize(char *dst, size_t cap, const void *src, size_t n)
{
	const uint8_t *s = src;
	size_t i, max = n < cap ? n : cap - 4; /* cap >= 8: room for "..." */

	for (i = 0; i < max; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	if (max < n) {
		memcpy(dst + max, "...", 3);
		max += 3;
	}
	dst[max] = 0;
}

/* The phase is over: the last thing any caller does. */
static void finish(auth_t *a, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void finish(auth_t *a, int ok, const char *fmt, ...)
{
	char msg[AUTH_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	auth_set_state(a, ok ? AUTH_SUCCESS : AUTH_FAILURE);
	a->cbs.done(a->ud, ok, msg);
}

static uint16_t proto_of(const auth_t *a)
{
	return a->method == AUTH_PAP ? PPP_PAP : PPP_CHAP;
}

/* Header + data into buf (AUTH_PKT_MAX); returns the length. */
static size_t build(uint8_t *buf, uint8_t code, uint8_t id, const part_t *parts, size_t n)
{
	size_t len = 4, i;

	buf[0] = code;
	buf[1] = id;
	for (i = 0; i < n; i++) {
		memcpy(buf + len, parts[i].p, parts[i].n);
		len += parts[i].n;
	}
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	return len;
}

static void send_pkt(auth_t *a, const uint8_t *pkt, size_t len)
{
	a->cbs.send(a->ud, proto_of(a), pkt, len);
}

/* Authenticator: the verdict is reached and its reply (code, in `last`)
 * is ready.  Asks the owner what to do with it, then sends it now, holds a
 * refusal, or ends without an answer.  msg is done()'s message. */
static void judge(auth_t *a, int good, uint8_t code, const char *msg, uint64_t now)
{
	int64_t hold = a->cbs.judged ? a->cbs.judged(a->ud, good) : 0;

	a->verdict = code;
	if (hold < 0) {
		a->last_len = 0; /* repeats get no answer either */
		finish(a, 0, "%s; no answer: the source is banned", msg);
		return;
	}
	if (!good && hold > 0) {
		snprintf(a->hold_msg, sizeof(a->hold_msg), "%s (refusal held %lld ms)", msg,
		         (long long)hold);
		a->hold_until = now + (uint64_t)hold;
		auth_set_state(a, AUTH_HOLD);
		return;
	}
	send_pkt(a, a->last, a->last_len);
	finish(a, good, "%s", msg);
}

/* The secret of user from the owner, or -ENOENT.  NUL bytes in a name that
 * came off the wire make it unknown. */
static int lookup(auth_t *a, const uint8_t *user, size_t ulen, char *secret, size_t cap)
{
	char name[AUTH_NAME_MAX + 1];
	int n;

	if (ulen > AUTH_NAME_MAX || memchr(user, 0, ulen))
		return -ENOENT;
	memcpy(name, user, ulen);
	name[ulen] = 0;
	n = a->cbs.lookup(a->ud, name, secret, cap);
	secret[cap - 1] = 0;
	if (n < 0 || (size_t)n >= cap)
		return -ENOENT;
	return n;
}

static void remember_peer(auth_t *a, const uint8_t *user, size_t ulen)
{
	memcpy(a->peer_name, user, ulen);
	a->peer_name[ulen] = 0;
}

/* ---- PAP (RFC 1334) ---- */

static void pap_send_request(auth_t *a, uint64_t now)
{
	uint8_t ul = (uint8_t)strlen(a->name), pl = (uint8_t)a->pwlen;
	part_t p[] = {{&ul, 1}, {a->name, ul}, {&pl, 1}, {a->password, pl}};

	a->id++; /* "MUST be changed each time an Authenticate-Request packet is issued" */
	a->tries++;
	a->next_at = now + AUTH_RESTART_MS;
	a->last_len = build(a->last, PAP_REQUEST, a->id, p, 4);
	send_pkt(a, a->last, a->last_len);
}

/* The Ack or Nak for Identifier id, into `last`. */
static void pap_build_reply(auth_t *a, uint8_t code, uint8_t id)
{
	static const char ok[] = "Access granted", bad[] = "Authentication failed";
	const char *m = code == PAP_ACK ? ok : bad;
	uint8_t ml = (uint8_t)strlen(m);
	part_t p[] = {{&ml, 1}, {m, ml}};

	a->last_len = build(a->last, code, id, p, 2);
}

static void pap_authenticator_input(auth_t *a, uint8_t code, uint8_t id, const uint8_t *d, size_t n,
                                    uint64_t now)
{
	char secret[AUTH_SECRET_MAX + 1], who[80], msg[AUTH_MSG_MAX];
	uint8_t h1[32], h2[32];
	const uint8_t *user, *pw;
	size_t ul, pl;
	int sl, good;

	if (code != PAP_REQUEST || n < 1)
		return;
	ul = d[0];
	if (n < 2 + ul || n < 2 + ul + d[1 + ul])
		return; /* lengths that lie */
	user = d + 1;
	pl = d[1 + ul];
	pw = d + 2 + ul;
	if (a->state != AUTH_WAIT_REQUEST) {
		/* the peer did not get our verdict and asks again (new id): it
		 * gets the verdict, or, when it is held, will get it for this id */
		if (a->state == AUTH_HOLD)
			pap_build_reply(a, a->verdict, id);
		else if ((a->state == AUTH_SUCCESS || a->state == AUTH_FAILURE) && a->last_len) {
			pap_build_reply(a, a->verdict, id);
			send_pkt(a, a->last, a->last_len);
		}
		return;
	}
	sanitize(who, sizeof(who), user, ul);
	sl = lookup(a, user, ul, secret, sizeof(secret));
	if (sl >= 0) {
		/* equal lengths and bytes, without timing either */
		part_t ps[] = {{secret, (size_t)sl}}, pp[] = {{pw, pl}};
		good = !digest(EVP_sha256(), ps, 1, h1) && !digest(EVP_sha256(), pp, 1, h2) &&
		       !CRYPTO_memcmp(h1, h2, sizeof(h1)) && (size_t)sl == pl;
	} else {
		good = 0;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(h1, sizeof(h1));
	OPENSSL_cleanse(h2, sizeof(h2));
	pap_build_reply(a, good ? PAP_ACK : PAP_NAK, id);
	if (good) {
		remember_peer(a, user, ul);
		snprintf(msg, sizeof(msg), "PAP: user \"%s\" authenticated", who);
	} else {
		snprintf(msg, sizeof(msg), "PAP: %s for user \"%s\"",
		         sl < 0 ? "unknown user" : "wrong password", who);
	}
	judge(a, good, good ? PAP_ACK : PAP_NAK, msg, now);
}

static void pap_peer_input(auth_t *a, uint8_t code, uint8_t id, const uint8_t *d, size_t n)
{
	char m[96] = "";
	size_t ml;

	if (a->state != AUTH_REQUEST_SENT || id != a->id || (code != PAP_ACK && code != PAP_NAK))
		return;
	if (n) { /* some authenticators omit Msg-Length; some send too few octets */
		ml = d[0] < n - 1 ? d[0] : n - 1;
		sanitize(m, sizeof(m), d + 1, ml);
	}
	if (code == PAP_ACK)
		finish(a, 1, "PAP: authenticated (\"%s\")", m);
	else
		finish(a, 0, "PAP: authenticator refused us (\"%s\")", m);
}

/* ---- CHAP (RFC 1994, RFC 2759) ---- */

static void chap_send_challenge(auth_t *a, uint64_t now)
{
	size_t nl = strlen(a->name);
	uint8_t vs = a->method == AUTH_MSCHAPV2 ? MSV2_CHAL_LEN : MD5_CHAL_LEN, buf[AUTH_PKT_MAX];
	part_t p[] = {{&vs, 1}, {a->chal, vs}, {a->name, nl}};

	/* "The Identifier field MUST be changed each time a Challenge is
	 * sent", and so must the Value. */
	a->id++;
	random_bytes(a->chal, vs);
	a->tries++;
	a->next_at = now + AUTH_RESTART_MS;
	send_pkt(a, buf, build(buf, CHAP_CHALLENGE, a->id, p, 3));
}

/* The reply to the current Response, into `last` (kept, to repeat it). */
static void chap_build_reply(auth_t *a, uint8_t code, const char *msg)
{
	size_t ml = strlen(msg);
	part_t p[] = {{msg, ml}};

	a->last_len = build(a->last, code, a->id, p, 1);
}

static void msv2_fail_reply(auth_t *a)
{
	uint8_t c[16];
	char hex[33], msg[128];

	/* R=0: no retry, so the challenge is only there because it must be */
	random_bytes(c, sizeof(c));
	hex_encode(c, sizeof(c), hex, 1);
	snprintf(msg, sizeof(msg), "E=691 R=0 C=%s V=3 M=Authentication failure", hex);
	chap_build_reply(a, CHAP_FAILURE, msg);
}

/* Verify a Response (Identifier already matched): Success or Failure. */
static void chap_check_response(auth_t *a, const uint8_t *value, size_t vs, const uint8_t *name,
                                size_t nl, uint64_t now)
{
	char secret[AUTH_SECRET_MAX + 1], who[80], user[AUTH_NAME_MAX + 1], done[AUTH_MSG_MAX];
	uint8_t want[24], hash[16], ar[MSV2_AUTH_LEN];
	const char *why = NULL;
	int sl = -ENOENT, good = 0;
	size_t i;

	sanitize(who, sizeof(who), name, nl);
	if (nl > AUTH_NAME_MAX)
		why = "name too long";
	else if (memchr(name, 0, nl))
		why = "unknown user";
	else if (a->method == AUTH_CHAP_MD5 && vs != 16)
		why = "bad Value-Size";
	else if (a->method == AUTH_MSCHAPV2 && vs != MSV2_RESP_LEN)
		why = "bad Value-Size";
	for (i = 16; !why && a->method == AUTH_MSCHAPV2 && i < 24; i++)
		if (value[i])
			why = "reserved octets not zero";
	if (!why) {
		sl = lookup(a, name, nl, secret, sizeof(secret));
		for (i = nl; sl < 0 && a->method == AUTH_MSCHAPV2 && i > 0; i--) {
			if (name[i - 1] == '\\') { /* "DOMAIN\user": try the account alone */
				sl = lookup(a, name + i, nl - i, secret, sizeof(secret));
				break;
			}
		}
		if (sl < 0)
			why = "unknown user";
	}
	if (!why && a->method == AUTH_CHAP_MD5) {
		chap_md5_response(a->id, secret, (size_t)sl, a->chal, MD5_CHAL_LEN, want);
		good = !CRYPTO_memcmp(want, value, 16);
	} else if (!why) {
		memcpy(user, name, nl);
		user[nl] = 0;
		memcpy(a->peer_chal, value, 16);
		memcpy(a->nt_resp, value + 24, 24);
		good = !nt_hash(secret, (size_t)sl, hash) &&
		       !nt_response(a->chal, a->peer_chal, user, hash, want) &&
		       !CRYPTO_memcmp(want, a->nt_resp, 24);
		if (good && (auth_response(hash, a->nt_resp, a->peer_chal, a->chal, user, ar) < 0 ||
		             master_keys(hash, a->nt_resp, 1, a->send_key, a->recv_key) < 0))
			good = 0, why = "crypto failure";
		a->have_keys = good;
	}
	if (!why && !good)
		why = "wrong secret";
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(hash, sizeof(hash));
	OPENSSL_cleanse(want, sizeof(want));

	if (a->method == AUTH_CHAP_MD5) {
		chap_build_reply(a, good ? CHAP_SUCCESS : CHAP_FAILURE,
		                 good ? "Access granted" : "Authentication failed");
	} else if (good) {
		char msg[64];
		memcpy(msg, "S=", 2);
		hex_encode(ar, sizeof(ar), msg + 2, 1);
		strcat(msg, " M=Access granted");
		chap_build_reply(a, CHAP_SUCCESS, msg);
	} else {
		msv2_fail_reply(a);
	}
	if (good) {
		remember_peer(a, name, nl);
		snprintf(done, sizeof(done), "%s: user \"%s\" authenticated",
		         method_names[a->method], who);
	} else {
		snprintf(done, sizeof(done), "%s: %s for user \"%s\"", method_names[a->method], why,
		         who);
	}
	judge(a, good, good ? CHAP_SUCCESS : CHAP_FAILURE, done, now);
}

static void chap_authenticator_input(auth_t *a, uint8_t code, uint8_t id, const uint8_t *d,
                                     size_t n, uint64_t now)
{
	size_t vs;

	if (code != CHAP_RESPONSE || n < 1 || id != a->id)
		return;
	vs = d[0];
	if (n < 1 + vs)
		return;
	if (a->state == AUTH_SUCCESS || a->state == AUTH_FAILURE) {
		/* "MUST return the same reply Code previously returned" */
		if (a->last_len)
			send_pkt(a, a->last, a->last_len);
		return;
	}
	if (a->state == AUTH_CHALLENGE_SENT)
		chap_check_response(a, d + 1, vs, d + 1 + vs, n - 1 - vs, now);
}

/* Peer: answer the Challenge id/value; keeps the Response to repeat it. */
static void chap_answer(auth_t *a, uint8_t id, const uint8_t *value, size_t vs, uint64_t now)
{
	size_t nl = strlen(a->name);
	uint8_t v[MSV2_RESP_LEN] = {0}, hash[16], vlen;
	part_t p[] = {{&vlen, 1}, {v, 0}, {a->name, nl}};

	if (a->method == AUTH_CHAP_MD5) {
		chap_md5_response(id, a->password, a->pwlen, value, vs, v);
		vlen = 16;
	} else {
		random_bytes(a->peer_chal, 16);
		if (nt_hash(a->password, a->pwlen, hash) < 0 ||
		    nt_response(value, a->peer_chal, a->name, hash, a->nt_resp) < 0 ||
		    auth_response(hash, a->nt_resp, a->peer_chal, value, a->name, a->expect) < 0)
			memset(a->expect, 0, sizeof(a->expect)); /* fails the phase below */
		OPENSSL_cleanse(hash, sizeof(hash));
		memcpy(v, a->peer_chal, 16);
		memcpy(v + 24, a->nt_resp, 24); /* 8 reserved zeros before, flags zero after */
		vlen = MSV2_RESP_LEN;
	}
	a->chal_len = vs <= sizeof(a->chal) ? vs : 0;
	memcpy(a->chal, value, a->chal_len);
	p[1].n = vlen;
	a->id = id;
	a->tries = 1;
	a->next_at = now + AUTH_RESTART_MS;
	a->last_len = build(a->last, CHAP_RESPONSE, id, p, 3);
	OPENSSL_cleanse(v, sizeof(v));
	send_pkt(a, a->last, a->last_len);
}

static void msv2_peer_success(auth_t *a, const uint8_t *m, size_t n)
{
	uint8_t got[MSV2_AUTH_LEN], hash[16];
	char text[96] = "";
	int bad = n < 2 + 2 * MSV2_AUTH_LEN || m[0] != 'S' || m[1] != '=';

	if (!bad && hex_decode((const char *)m + 2, 2 * MSV2_AUTH_LEN, got, sizeof(got)) < 0)
		bad = 1;
	if (!bad && n > 2 + 2 * MSV2_AUTH_LEN && m[2 + 2 * MSV2_AUTH_LEN] != ' ')
		bad = 1;
	if (bad) {
		finish(a, 0, "MS-CHAPv2: Success without a valid authenticator response");
		return;
	}
	/* RFC 2759 5: "If the authenticator response is either missing or
	 * incorrect, the peer MUST end the session." */
	if (CRYPTO_memcmp(got, a->expect, MSV2_AUTH_LEN)) {
		finish(a, 0, "MS-CHAPv2: wrong authenticator response, server not verified");
		return;
	}
	if (nt_hash(a->password, a->pwlen, hash) < 0 ||
	    master_keys(hash, a->nt_resp, 0, a->send_key, a->recv_key) < 0) {
		OPENSSL_cleanse(hash, sizeof(hash));
		finish(a, 0, "MS-CHAPv2: MPPE key derivation failed");
		return;
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	a->have_keys = 1;
	if (n > 45 && !memcmp(m + 42, " M=", 3))
		sanitize(text, sizeof(text), m + 45, n - 45);
	finish(a, 1, "MS-CHAPv2: authenticated, server verified (\"%s\")", text);
}

/* RFC 2759 6: "E=eeeeeeeeee R=r C=cccc... V=vvvvvvvvvv M=<msg>" */
static void msv2_peer_failure(auth_t *a, const uint8_t *m, size_t n)
{
	static const struct {
		unsigned code;
		const char *name;
	} errs[] = {
	    {646, "restricted logon hours"}, {647, "account disabled"},
	    {648, "password expired"},       {649, "no dial-in permission"},
	    {691, "authentication failure"}, {709, "error changing password"},
	};
	const char *what = "unknown error";
	char text[96] = "";
	unsigned e = 0;
	size_t i, j;

	for (i = 2; n > 2 && m[0] == 'E' && m[1] == '=' && i < n && i < 12; i++) {
		if (m[i] < '0' || m[i] > '9')
			break;
		e = e * 10 + (unsigned)(m[i] - '0');
	}
	for (j = 0; j < sizeof(errs) / sizeof(errs[0]); j++)
		if (errs[j].code == e)
			what = errs[j].name;
	for (i = 0; i + 3 <= n; i++) {
		if (!memcmp(m + i, "M=", 2) && (i == 0 || m[i - 1] == ' ')) {
			sanitize(text, sizeof(text), m + i + 2, n - i - 2);
			break;
		}
	}
	finish(a, 0, "MS-CHAPv2: authenticator refused us: E=%u %s (\"%s\")", e, what, text);
}

static void chap_peer_input(auth_t *a, uint8_t code, uint8_t id, const uint8_t *d, size_t n,
                            uint64_t now)
{
	char text[96];
	size_t vs;

	if (code == CHAP_CHALLENGE) {
		if (n < 1 || a->state == AUTH_FAILURE)
			return;
		vs = d[0];
		if (n < 1 + vs || vs < 1 || (a->method == AUTH_MSCHAPV2 && vs != MSV2_CHAL_LEN))
			return;
		if (a->state == AUTH_RESPONSE_SENT && id == a->id && vs == a->chal_len &&
		    !memcmp(a->chal, d + 1, vs)) {
			/* the same Challenge again: the same Response */
			send_pkt(a, a->last, a->last_len);
			return;
		}
		chap_answer(a, id, d + 1, vs, now);
		if (a->state == AUTH_WAIT_CHALLENGE)
			auth_set_state(a, AUTH_RESPONSE_SENT);
		return;
	}
	if (a->state != AUTH_RESPONSE_SENT || id != a->id)
		return;
	if (code == CHAP_SUCCESS && a->method == AUTH_MSCHAPV2) {
		msv2_peer_success(a, d, n);
	} else if (code == CHAP_FAILURE && a->method == AUTH_MSCHAPV2) {
		msv2_peer_failure(a, d, n);
	} else if (code == CHAP_SUCCESS || code == CHAP_FAILURE) {
		sanitize(text, sizeof(text), d, n);
		if (code == CHAP_SUCCESS)
			finish(a, 1, "CHAP-MD5: authenticated (\"%s\")", text);
		else
			finish(a, 0, "CHAP-MD5: authenticator refused us (\"%s\")", text);
	}
}

/* ---- the API ---- */

auth_t *auth_new(const auth_cfg_t *cfg, const auth_cbs_t *cbs, void *ud)
{
	const char *name, *pw;
	auth_t *a;

	if (!cfg || !cbs || !cbs->send || !cbs->done || (unsigned)cfg->method > AUTH_MSCHAPV2 ||
	    (cfg->authenticator && !cbs->lookup))
		return NULL;
	name = cfg->name ? cfg->name : "";
	pw = cfg->password ? cfg->password : "";
	if (strlen(name) > AUTH_NAME_MAX || strlen(pw) > AUTH_SECRET_MAX ||
	    (cfg->method == AUTH_PAP && strlen(pw) > 255))
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->cbs = *cbs;
	a->ud = ud;
	a->method = cfg->method;
	a->authenticator = !!cfg->authenticator;
	a->state = AUTH_INITIAL;
	strcpy(a->name, name);
	if (!a->authenticator) {
		strcpy(a->password, pw);
		a->pwlen = strlen(pw);
	}
	/* the first Identifier is random; each packet then takes the next */
	random_bytes(&a->id, 1);
	return a;
}

void auth_free(auth_t *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

void auth_start(auth_t *a, uint64_t now_ms)
{
	if (!a || a->state != AUTH_INITIAL)
		return;
	if (a->method == AUTH_NONE) {
		finish(a, 1, "no authentication");
		return;
	}
	if (a->method == AUTH_MSCHAPV2 && legacy_ready() < 0) {
		finish(a, 0,
		       "MS-CHAPv2 needs MD4 and DES from OpenSSL's legacy provider, "
		       "which could not be loaded (is ossl-modules/legacy.so installed?)");
		return;
	}
	a->give_up_at = now_ms + AUTH_WAIT_MS;
	if (a->authenticator && a->method == AUTH_PAP) {
		auth_set_state(a, AUTH_WAIT_REQUEST);
	} else if (a->authenticator) {
		auth_set_state(a, AUTH_CHALLENGE_SENT);
		chap_send_challenge(a, now_ms);
	} else if (a->method == AUTH_PAP) {
		auth_set_state(a, AUTH_REQUEST_SENT);
		pap_send_request(a, now_ms);
	} else {
		auth_set_state(a, AUTH_WAIT_CHALLENGE);
	}
}

void auth_input(auth_t *a, uint16_t proto, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
	size_t plen;

	if (!a || !pkt || a->state == AUTH_INITIAL || a->method == AUTH_NONE ||
	    proto != proto_of(a) || len < 4)
		return;
	plen = (size_t)pkt[2] << 8 | pkt[3];
	if (plen < 4 || plen > len)
		return; /* octets past Length are padding; fewer than Length, truncated */
	if (a->authenticator && a->method == AUTH_PAP)
		pap_authenticator_input(a, pkt[0], pkt[1], pkt + 4, plen - 4, now_ms);
	else if (a->authenticator)
		chap_authenticator_input(a, pkt[0], pkt[1], pkt + 4, plen - 4, now_ms);
	else if (a->method == AUTH_PAP)
		pap_peer_input(a, pkt[0], pkt[1], pkt + 4, plen - 4);
	else
		chap_peer_input(a, pkt[0], pkt[1], pkt + 4, plen - 4, now_ms);
}

void auth_tick(auth_t *a, uint64_t now_ms)
{
	if (!a)
		return;
	switch (a->state) {
	case AUTH_CHALLENGE_SENT:
		if (now_ms < a->next_at)
			break;
		if (a->tries >= AUTH_MAX_TRIES)
			finish(a, 0, "%s: no valid Response to %d Challenges",
			       method_names[a->method], AUTH_MAX_TRIES);
		else
			chap_send_challenge(a, now_ms);
		break;
	case AUTH_REQUEST_SENT:
		if (now_ms < a->next_at)
			break;
		if (a->tries >= AUTH_MAX_TRIES)
			finish(a, 0, "PAP: no answer to %d Authenticate-Requests", AUTH_MAX_TRIES);
		else
			pap_send_request(a, now_ms);
		break;
	case AUTH_RESPONSE_SENT:
		if (now_ms >= a->give_up_at) {
			finish(a, 0, "%s: no Success or Failure from the authenticator",
			       method_names[a->method]);
		} else if (now_ms >= a->next_at && a->tries < AUTH_MAX_TRIES) {
			a->tries++;
			a->next_at = now_ms + AUTH_RESTART_MS;
			send_pkt(a, a->last, a->last_len);
		}
		break;
	case AUTH_HOLD:
		if (now_ms < a->hold_until)
			break;
		send_pkt(a, a->last, a->last_len);
		finish(a, 0, "%s", a->hold_msg);
		break;
	case AUTH_WAIT_REQUEST:
		if (now_ms >= a->give_up_at)
			finish(a, 0, "PAP: the peer sent no Authenticate-Request");
		break;
	case AUTH_WAIT_CHALLENGE:
		if (now_ms >= a->give_up_at)
			finish(a, 0, "%s: the authenticator sent no Challenge",
			       method_names[a->method]);
		break;
	default:
		break;
	}
}

const char *auth_peer_name(const auth_t *a)
{
	return a && a->authenticator && a->state == AUTH_SUCCESS ? a->peer_name : "";
}

int auth_mppe_keys(const auth_t *a, uint8_t send_key[16], uint8_t recv_key[16])
{
	if (!a || a->method != AUTH_MSCHAPV2 || a->state != AUTH_SUCCESS || !a->have_keys)
		return -1;
	memcpy(send_key, a->send_key, 16);
	memcpy(recv_key, a->recv_key, 16);
	return 0;
}
