/* vpn_proto: see vpn_proto.h and docs/vpn-protocol.md.
 *
 * The handshake is a Noise-like chain: a chaining key ck absorbs every
 * Diffie-Hellman result through HKDF, a transcript hash h absorbs every
 * byte sent, and each encrypted field is ChaCha20-Poly1305 under a key
 * used once (zero nonce) with h as associated data.  Layouts (offsets in
 * bytes; indices little-endian, timestamp big-endian):
 *
 *   INIT     0 type | 4 sender | 8 e_c | 40 ts | 48 {len,user[62],flags}+tag | 128 mac1 | 144 mac2
 *   RESP     0 type | 4 sender | 8 receiver | 12 e_s | 44 {salt,ln,r,p,0}+tag
 *   CONFIRM  0 type | 4 receiver | 8 {proof[32], prev[4]}+tag
 *   ACCEPT   0 type | 4 receiver | 8 {addr,gw,dns,prefix,cipher,mtu,ka,sig[32],0,0}+tag
 *   COOKIE   0 type | 4 receiver | 8 nonce[12] | 20 {cookie}+tag
 *   DATA     0 type | 4 receiver | 8 counter | 16 {packet}+tag
 */
#include "tunnel/vpn/vpn_proto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <string.h>

#include "core/bytes.h"
#include "core/crypto.h"

#define PROTOCOL "sluice-vpn-v1 X25519 ChaCha20Poly1305 SHA256 scrypt"

static void sha256_2(const void *a, size_t al, const void *b, size_t bl, uint8_t out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c)
		abort();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, a, al);
	if (bl)
		EVP_DigestUpdate(c, b, bl);
	EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
}

static void mix_hash(uint8_t h[32], const void *d, size_t n)
{
	sha256_2(h, 32, d, n, h);
}

/* (ck, k) = HKDF(salt = ck, ikm) */
static int mix_key(uint8_t ck[32], uint8_t k[32], const uint8_t *ikm, size_t n)
{
	uint8_t out[64];
	static const uint8_t none[1];

	if (hkdf_sha256(n ? ikm : none, n, ck, 32, "sluice-vpn ck", out, 64) < 0)
		return -EIO;
	memcpy(ck, out, 32);
	memcpy(k, out + 32, 32);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

static int x25519(const uint8_t priv[32], const uint8_t pub[32], uint8_t out[32])
{
	EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *b = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *c = a ? EVP_PKEY_CTX_new(a, NULL) : NULL;
	size_t n = 32;
	int r = -EBADMSG;
	static const uint8_t zero[32];

	if (c && b && EVP_PKEY_derive_init(c) > 0 && EVP_PKEY_derive_set_peer(c, b) > 0 &&
	    EVP_PKEY_derive(c, out, &n) > 0 && n == 32 && !ct_equal(out, zero, 32))
		r = 0;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	return r;
}

int vpn_keypair(uint8_t priv[32], uint8_t pub[32])
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
	size_t n = 32, m = 32;
	int r = -EIO;

	if (c && EVP_PKEY_keygen_init(c) > 0 && EVP_PKEY_keygen(c, &k) > 0 &&
	    EVP_PKEY_get_raw_private_key(k, priv, &n) > 0 &&
	    EVP_PKEY_get_raw_public_key(k, pub, &m) > 0)
		r = 0;
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
	return r;
}

int vpn_static_init(vpn_static_t *s, const uint8_t *priv, const uint8_t pub[32])
{
	memset(s, 0, sizeof(*s));
	if (priv) {
		EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
		size_t n = 32;
		if (!k || EVP_PKEY_get_raw_public_key(k, s->pub, &n) <= 0) {
			EVP_PKEY_free(k);
			return -EINVAL;
		}
		EVP_PKEY_free(k);
		memcpy(s->priv, priv, 32);
	} else {
		memcpy(s->pub, pub, 32);
	}
	sha256_2("mac1----", 8, s->pub, 32, s->mac1_key);
	sha256_2("cookie--", 8, s->pub, 32, s->cookie_key);
	return 0;
}

/* ---- AEAD ---- */

/* A handshake message under a key used once: 0 or -EBADMSG. */
static int aead(int enc, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	int r = enc ? aead_seal_once(AEAD_CHACHA20_POLY1305, key, nonce, aad, aadlen, in, len, out)
	            : aead_open_once(AEAD_CHACHA20_POLY1305, key, nonce, aad, aadlen, in, len, out);

	return r < 0 ? -EBADMSG : 0;
}

static const uint8_t zero_nonce[12];

static void hmac16(const uint8_t *key, size_t klen, const uint8_t *d, size_t n, uint8_t out[16])
{
	uint8_t full[32];

	hmac_sha256(key, klen, d, n, full);
	memcpy(out, full, 16);
}

/* ---- SCRAM with scrypt ---- */

int vpn_scram_keys(const char *pw, const uint8_t salt[VPN_SALT], unsigned ln, unsigned r,
                   unsigned p, uint8_t client_key[32], uint8_t server_key[32])
{
	uint8_t sp[32];

	if (ln < 1 || ln > 20 || r < 1 || r > 16 || p < 1 || p > 4)
		return -EINVAL;
	if (EVP_PBE_scrypt(pw, strlen(pw), salt, VPN_SALT, 1ull << ln, r, p, 1ull << 30, sp,
	                   sizeof(sp)) != 1)
		return -EIO;
	hmac_sha256(sp, 32, (const uint8_t *)"Client Key", 10, client_key);
	hmac_sha256(sp, 32, (const uint8_t *)"Server Key", 10, server_key);
	OPENSSL_cleanse(sp, sizeof(sp));
	return 0;
}

int vpn_verifier_make(const char *pw, unsigned ln, unsigned r, unsigned p, vpn_verifier_t *v)
{
	uint8_t ck[32];
	int e;

	random_bytes(v->salt, VPN_SALT);
	v->ln = (uint8_t)ln;
	v->r = (uint8_t)r;
	v->p = (uint8_t)p;
	if ((e = vpn_scram_keys(pw, v->salt, ln, r, p, ck, v->server_key)) < 0)
		return e;
	sha256_2(ck, 32, NULL, 0, v->stored_key);
	OPENSSL_cleanse(ck, sizeof(ck));
	return 0;
}

/* ---- handshake ---- */

static void hs_start(vpn_hs_t *hs, const uint8_t server_pub[32])
{
	sha256_2(PROTOCOL, strlen(PROTOCOL), NULL, 0, hs->ck);
	memcpy(hs->h, hs->ck, 32);
	mix_hash(hs->h, server_pub, 32);
}

int vpn_init_create(vpn_hs_t *hs, const vpn_static_t *server, const char *user, uint32_t idx,
                    uint64_t ts_ms, const uint8_t *cookie, unsigned flags,
                    uint8_t out[VPN_INIT_LEN])
{
	uint8_t dh[32], block[64] = {0};
	size_t ulen = strlen(user);
	int r;

	if (ulen == 0 || ulen > VPN_USER_MAX)
		return -EINVAL;
	memset(hs, 0, sizeof(*hs));
	hs_start(hs, server->pub);
	hs->local_idx = idx;
	hs->ts = ts_ms;
	memcpy(hs->user, user, ulen);
	if ((r = vpn_keypair(hs->e_priv, hs->e_pub)) < 0)
		return r;
	memset(out, 0, VPN_INIT_LEN);
	out[0] = VPN_MSG_INIT;
	put_le32(out + 4, idx);
	memcpy(out + 8, hs->e_pub, 32);
	for (int i = 0; i < 8; i++)
		out[40 + i] = (uint8_t)(ts_ms >> (56 - 8 * i));
	mix_hash(hs->h, out, 48);
	if ((r = x25519(hs->e_priv, server->pub, dh)) < 0 ||
	    (r = mix_key(hs->ck, hs->k, dh, 32)) < 0)
		return r;
	block[0] = (uint8_t)ulen;
	memcpy(block + 1, user, ulen);
	/* the offers go after the name, where a server that knows none of
	 * them reads nothing (a 63-character name leaves no room: none) */
	if (ulen < VPN_USER_MAX) {
		block[63] = (uint8_t)flags;
		hs->flags = flags & 0xff;
	}
	if ((r = aead(1, hs->k, zero_nonce, hs->h, 32, block, 64, out + 48)) < 0)
		return r;
	mix_hash(hs->h, out + 48, 80);
	hmac16(server->mac1_key, 32, out, VPN_INIT_MAC1_OFF, out + VPN_INIT_MAC1_OFF);
	memcpy(hs->mac1, out + VPN_INIT_MAC1_OFF, 16);
	if (cookie)
		hmac16(cookie, 16, out, VPN_INIT_MAC2_OFF, out + VPN_INIT_MAC2_OFF);
	OPENSSL_cleanse(dh, sizeof(dh));
	return 0;
}

int vpn_init_check_mac1(const vpn_static_t *s, const uint8_t *pkt, size_t len)
{
	uint8_t m[16];

	if (len != VPN_INIT_LEN || pkt[0] != VPN_MSG_INIT || pkt[1] || pkt[2] || pkt[3])
		return -EBADMSG;
	hmac16(s->mac1_key, 32, pkt, VPN_INIT_MAC1_OFF, m);
	return ct_equal(m, pkt + VPN_INIT_MAC1_OFF, 16) ? 0 : -EBADMSG;
}

int vpn_init_check_mac2(const uint8_t cookie[16], const uint8_t *pkt, size_t len)
{
	uint8_t m[16];

	if (len != VPN_INIT_LEN)
		return -EBADMSG;
	hmac16(cookie, 16, pkt, VPN_INIT_MAC2_OFF, m);
	return ct_equal(m, pkt + VPN_INIT_MAC2_OFF, 16) ? 0 : -EAGAIN;
}

void vpn_init_nonce(const uint8_t *pkt, uint8_t nonce[16])
{
	uint8_t full[32];

	/* the ephemeral key and the timestamp: a replayed INIT repeats both */
	sha256_2(pkt + 8, 40, NULL, 0, full);
	memcpy(nonce, full, 16);
}

int vpn_init_consume(vpn_hs_t *hs, const vpn_static_t *s, const uint8_t *pkt, size_t len)
{
	uint8_t dh[32], block[64];
	int r;

	if (len != VPN_INIT_LEN || pkt[0] != VPN_MSG_INIT)
		return -EBADMSG;
	memset(hs, 0, sizeof(*hs));
	hs_start(hs, s->pub);
	hs->remote_idx = vpn_get32(pkt + 4);
	memcpy(hs->re_pub, pkt + 8, 32);
	for (int i = 0; i < 8; i++)
		hs->ts = hs->ts << 8 | pkt[40 + i];
	mix_hash(hs->h, pkt, 48);
	if ((r = x25519(s->priv, hs->re_pub, dh)) < 0 || (r = mix_key(hs->ck, hs->k, dh, 32)) < 0)
		goto out;
	if ((r = aead(0, hs->k, zero_nonce, hs->h, 32, pkt + 48, 64, block)) < 0)
		goto out;
	if (block[0] == 0 || block[0] > VPN_USER_MAX) {
		r = -EBADMSG;
		goto out;
	}
	for (int i = 1; i <= block[0]; i++)
		if (block[i] < 0x21 || block[i] == ':' || block[i] == 0x7f) {
			r = -EBADMSG;
			goto out;
		}
	memcpy(hs->user, block + 1, block[0]);
	hs->user[block[0]] = 0;
	hs->flags = block[0] < VPN_USER_MAX ? block[63] : 0;
	mix_hash(hs->h, pkt + 48, 80);
	memcpy(hs->mac1, pkt + VPN_INIT_MAC1_OFF, 16);
out:
	OPENSSL_cleanse(dh, sizeof(dh));
	return r;
}

int vpn_resp_create(vpn_hs_t *hs, uint32_t idx, const vpn_verifier_t *v, uint8_t out[VPN_RESP_LEN])
{
	uint8_t dh[32], body[20] = {0};
	int r;

	hs->local_idx = idx;
	if ((r = vpn_keypair(hs->e_priv, hs->e_pub)) < 0)
		return r;
	memset(out, 0, VPN_RESP_LEN);
	out[0] = VPN_MSG_RESP;
	put_le32(out + 4, idx);
	put_le32(out + 8, hs->remote_idx);
	memcpy(out + 12, hs->e_pub, 32);
	mix_hash(hs->h, out, 44);
	if ((r = x25519(hs->e_priv, hs->re_pub, dh)) < 0 ||
	    (r = mix_key(hs->ck, hs->k, dh, 32)) < 0)
		return r;
	memcpy(body, v->salt, VPN_SALT);
	body[16] = v->ln;
	body[17] = v->r;
	body[18] = v->p;
	if ((r = aead(1, hs->k, zero_nonce, hs->h, 32, body, 20, out + 44)) < 0)
		return r;
	mix_hash(hs->h, out + 44, 36);
	OPENSSL_cleanse(dh, sizeof(dh));
	return 0;
}

int vpn_resp_consume(vpn_hs_t *hs, const uint8_t *pkt, size_t len, uint8_t salt[VPN_SALT],
                     uint8_t *ln, uint8_t *rr, uint8_t *p)
{
	uint8_t dh[32], body[20], ck[32], k[32], h[32];
	int r;

	if (len != VPN_RESP_LEN || pkt[0] != VPN_MSG_RESP || pkt[1] || pkt[2] || pkt[3] ||
	    vpn_get32(pkt + 8) != hs->local_idx)
		return -EBADMSG;
	/* work on copies: a forged RESP must not spoil the real one's state */
	memcpy(ck, hs->ck, 32);
	memcpy(h, hs->h, 32);
	mix_hash(h, pkt, 44);
	if ((r = x25519(hs->e_priv, pkt + 12, dh)) < 0 || (r = mix_key(ck, k, dh, 32)) < 0)
		goto out;
	if ((r = aead(0, k, zero_nonce, h, 32, pkt + 44, 20, body)) < 0)
		goto out;
	mix_hash(h, pkt + 44, 36);
	memcpy(hs->ck, ck, 32);
	memcpy(hs->h, h, 32);
	memcpy(hs->k, k, 32);
	memcpy(hs->re_pub, pkt + 12, 32);
	hs->remote_idx = vpn_get32(pkt + 4);
	memcpy(salt, body, VPN_SALT);
	*ln = body[16];
	*rr = body[17];
	*p = body[18];
out:
	OPENSSL_cleanse(dh, sizeof(dh));
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(k, sizeof(k));
	return r;
}

int vpn_confirm_create(vpn_hs_t *hs, const uint8_t client_key[32], uint32_t prev_idx,
                       uint8_t out[VPN_CONFIRM_LEN])
{
	uint8_t stored[32], sig[32], body[36];
	int r;

	memset(out, 0, VPN_CONFIRM_LEN);
	out[0] = VPN_MSG_CONFIRM;
	put_le32(out + 4, hs->remote_idx);
	if ((r = mix_key(hs->ck, hs->k, NULL, 0)) < 0)
		return r;
	mix_hash(hs->h, out, 8);
	sha256_2(client_key, 32, NULL, 0, stored);
	hmac_sha256(stored, 32, hs->h, 32, sig);
	for (int i = 0; i < 32; i++)
		body[i] = client_key[i] ^ sig[i];
	put_le32(body + 32, prev_idx);
	if ((r = aead(1, hs->k, zero_nonce, hs->h, 32, body, 36, out + 8)) < 0)
		return r;
	mix_hash(hs->h, out + 8, 52);
	OPENSSL_cleanse(body, sizeof(body));
	return 0;
}

int vpn_confirm_consume(vpn_hs_t *hs, const vpn_verifier_t *v, const uint8_t *pkt, size_t len,
                        uint32_t *prev_idx)
{
	uint8_t ck[32], k[32], h[32], body[36], sig[32], key[32], stored[32];
	int r;

	if (len != VPN_CONFIRM_LEN || pkt[0] != VPN_MSG_CONFIRM || pkt[1] || pkt[2] || pkt[3] ||
	    vpn_get32(pkt + 4) != hs->local_idx)
		return -EBADMSG;
	memcpy(ck, hs->ck, 32);
	memcpy(h, hs->h, 32);
	if ((r = mix_key(ck, k, NULL, 0)) < 0)
		return r;
	mix_hash(h, pkt, 8);
	if ((r = aead(0, k, zero_nonce, h, 32, pkt + 8, 36, body)) < 0)
		goto out;
	hmac_sha256(v->stored_key, 32, h, 32, sig);
	for (int i = 0; i < 32; i++)
		key[i] = body[i] ^ sig[i];
	sha256_2(key, 32, NULL, 0, stored);
	if (!ct_equal(stored, v->stored_key, 32)) {
		r = -EACCES;
		goto out;
	}
	mix_hash(h, pkt + 8, 52);
	memcpy(hs->ck, ck, 32);
	memcpy(hs->h, h, 32);
	memcpy(hs->k, k, 32);
	*prev_idx = vpn_get32(body + 32);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(ck, sizeof(ck));
	return r;
}

static void accept_key(const vpn_hs_t *hs, uint8_t k[32])
{
	hkdf_sha256(hs->h, 32, hs->ck, 32, "sluice-vpn accept", k, 32);
}

int vpn_accept_create(vpn_hs_t *hs, const uint8_t server_key[32], const vpn_assign_t *a,
                      uint8_t out[VPN_ACCEPT6_LEN])
{
	uint8_t k[32], h[32], body[VPN_ACCEPT6_BODY] = {0};
	size_t blen = a->prefix6 ? VPN_ACCEPT6_BODY : VPN_ACCEPT_BODY;
	int r;

	if (a->prefix > 32 || a->prefix6 > 128)
		return -EINVAL;
	memset(out, 0, 8 + blen + VPN_TAG);
	out[0] = VPN_MSG_ACCEPT;
	put_le32(out + 4, hs->remote_idx);
	accept_key(hs, k);
	memcpy(h, hs->h, 32);
	mix_hash(h, out, 8);
	memcpy(body, &a->addr, 4);
	memcpy(body + 4, &a->gateway, 4);
	memcpy(body + 8, &a->dns, 4);
	body[12] = a->prefix;
	body[13] = a->cipher;
	body[14] = (uint8_t)(a->mtu >> 8);
	body[15] = (uint8_t)a->mtu;
	body[16] = (uint8_t)(a->keepalive >> 8);
	body[17] = (uint8_t)a->keepalive;
	hmac_sha256(server_key, 32, h, 32, body + 18);
	if (a->prefix6) {
		memcpy(body + VPN_ACCEPT_BODY, a->addr6, 16);
		memcpy(body + VPN_ACCEPT_BODY + 16, a->dns6, 16);
		body[VPN_ACCEPT_BODY + 32] = a->prefix6;
	}
	r = aead(1, k, zero_nonce, h, 32, body, blen, out + 8);
	OPENSSL_cleanse(k, sizeof(k));
	return r < 0 ? r : (int)(8 + blen + VPN_TAG);
}

int vpn_accept_consume(vpn_hs_t *hs, const uint8_t server_key[32], const uint8_t *pkt, size_t len,
                       vpn_assign_t *a)
{
	uint8_t k[32], h[32], body[VPN_ACCEPT6_BODY], sig[32];
	size_t blen = len - 8 - VPN_TAG;
	int r;

	if ((len != VPN_ACCEPT_LEN && len != VPN_ACCEPT6_LEN) || pkt[0] != VPN_MSG_ACCEPT ||
	    pkt[1] || pkt[2] || pkt[3] || vpn_get32(pkt + 4) != hs->local_idx)
		return -EBADMSG;
	accept_key(hs, k);
	memcpy(h, hs->h, 32);
	mix_hash(h, pkt, 8);
	r = aead(0, k, zero_nonce, h, 32, pkt + 8, blen, body);
	OPENSSL_cleanse(k, sizeof(k));
	if (r < 0)
		return r;
	hmac_sha256(server_key, 32, h, 32, sig);
	if (!ct_equal(sig, body + 18, 32))
		return -EACCES;
	memset(a, 0, sizeof(*a));
	memcpy(&a->addr, body, 4);
	memcpy(&a->gateway, body + 4, 4);
	memcpy(&a->dns, body + 8, 4);
	a->prefix = body[12];
	a->cipher = body[13];
	a->mtu = (uint16_t)(body[14] << 8 | body[15]);
	a->keepalive = (uint16_t)(body[16] << 8 | body[17]);
	if (a->prefix > 32 || (a->cipher != VPN_CIPHER_CHACHA &&
	                       !(a->cipher == VPN_CIPHER_AES128 && (hs->flags & VPN_F_AES))))
		return -EBADMSG;
	if (blen == VPN_ACCEPT6_BODY) {
		memcpy(a->addr6, body + VPN_ACCEPT_BODY, 16);
		memcpy(a->dns6, body + VPN_ACCEPT_BODY + 16, 16);
		a->prefix6 = body[VPN_ACCEPT_BODY + 32];
		if (!a->prefix6 || a->prefix6 > 128)
			return -EBADMSG;
	}
	return 0;
}

void vpn_hs_transport(const vpn_hs_t *hs, int initiator, uint8_t send[32], uint8_t recv[32])
{
	uint8_t out[64];

	hkdf_sha256(hs->h, 32, hs->ck, 32, "sluice-vpn transport", out, 64);
	memcpy(initiator ? send : recv, out, 32);
	memcpy(initiator ? recv : send, out + 32, 32);
	OPENSSL_cleanse(out, sizeof(out));
}

void vpn_hs_wipe(vpn_hs_t *hs)
{
	OPENSSL_cleanse(hs, sizeof(*hs));
}

/* ---- cookies ---- */

void vpn_cookie_make(const uint8_t secret[32], const void *addr, size_t alen, uint8_t cookie[16])
{
	hmac16(secret, 32, addr, alen, cookie);
}

int vpn_cookie_create(const vpn_static_t *s, const uint8_t *init, const uint8_t cookie[16],
                      uint8_t out[VPN_COOKIE_LEN])
{
	memset(out, 0, VPN_COOKIE_LEN);
	out[0] = VPN_MSG_COOKIE;
	memcpy(out + 4, init + 4, 4);
	random_bytes(out + 8, 12);
	return aead(1, s->cookie_key, out + 8, init + VPN_INIT_MAC1_OFF, 16, cookie, 16, out + 20);
}

int vpn_cookie_consume(const vpn_static_t *server, const vpn_hs_t *hs, const uint8_t *pkt,
                       size_t len, uint8_t cookie[16])
{
	if (len != VPN_COOKIE_LEN || pkt[0] != VPN_MSG_COOKIE || pkt[1] || pkt[2] || pkt[3] ||
	    vpn_get32(pkt + 4) != hs->local_idx)
		return -EBADMSG;
	return aead(0, server->cookie_key, pkt + 8, hs->mac1, 16, pkt + 20, 16, cookie);
}

/* ---- key request ---- */

void vpn_keyreq_create(uint8_t out[VPN_KEYREQ_LEN])
{
	memset(out, 0, VPN_KEYREQ_LEN);
	out[0] = VPN_MSG_KEYREQ;
}

int vpn_keyreq_check(const uint8_t *pkt, size_t len)
{
	return len == VPN_KEYREQ_LEN && pkt[0] == VPN_MSG_KEYREQ ? 0 : -EBADMSG;
}

void vpn_keyresp_create(const uint8_t pub[32], uint8_t out[VPN_KEYRESP_LEN])
{
	memset(out, 0, 4);
	out[0] = VPN_MSG_KEYRESP;
	memcpy(out + 4, pub, 32);
}

int vpn_keyresp_consume(const uint8_t *pkt, size_t len, uint8_t pub[32])
{
	if (len != VPN_KEYRESP_LEN || pkt[0] != VPN_MSG_KEYRESP || pkt[1] || pkt[2] || pkt[3])
		return -EBADMSG;
	memcpy(pub, pkt + 4, 32);
	return 0;
}

/* ---- transport ---- */

aead_alg_t vpn_cipher_alg(unsigned cipher)
{
	return cipher == VPN_CIPHER_AES128 ? AEAD_AES_128_GCM : AEAD_CHACHA20_POLY1305;
}

int vpn_replay_check(const vpn_replay_t *r, uint64_t ctr)
{
	return ctr < VPN_REJECT_AFTER_MSGS && rwin_check(r, ctr);
}

void vpn_replay_update(vpn_replay_t *r, uint64_t ctr)
{
	rwin_update(r, ctr);
}

static void data_hdr(uint8_t *out, uint32_t receiver, uint64_t ctr)
{
	out[0] = VPN_MSG_DATA;
	out[1] = out[2] = out[3] = 0;
	put_le32(out + 4, receiver);
	put_le64(out + 8, ctr);
}

int vpn_data_seal(aead_t *a, uint32_t receiver, uint64_t ctr, const uint8_t *pkt, size_t len,
                  uint8_t *out)
{
	uint8_t nonce[12] = {0};

	if (len > VPN_PKT_MAX)
		return -EMSGSIZE;
	data_hdr(out, receiver, ctr);
	put_le64(nonce + 4, ctr);
	if (aead_seal(a, nonce, out, VPN_DATA_HDR, pkt, len, out + VPN_DATA_HDR) < 0)
		return -EIO;
	return (int)(len + VPN_OVERHEAD);
}

int vpn_data_cut_run(uint32_t receiver, uint64_t *ctr, const uint8_t *pkt, size_t len,
                     const vnet_hdr_t *h, uint8_t *out, size_t cap, size_t max, size_t *stride,
                     uint16_t *lens)
{
	size_t st;
	int n, sl;

	if (!h || (h->gso_type == VNET_GSO_NONE && !(h->flags & VNET_F_NEEDS_CSUM))) {
		if (len + VPN_OVERHEAD > cap || len > VPN_PKT_MAX)
			return len > VPN_PKT_MAX ? -EMSGSIZE : -ENOSPC;
		memmove(out + VPN_DATA_HDR, pkt, len);
		lens[0] = (uint16_t)len;
		*stride = len + VPN_OVERHEAD;
		n = 1;
	} else {
		if ((sl = vnet_seg_len(h, pkt, len)) < 0)
			return sl;
		st = (size_t)sl + VPN_OVERHEAD;
		if (cap / st < max)
			max = cap / st;
		n = vnet_segment(h, pkt, len, out + VPN_DATA_HDR, st, max, lens);
		if (n < 0)
			return n;
		*stride = st;
	}
	for (int i = 0; i < n; i++)
		data_hdr(out + (size_t)i * *stride, receiver, (*ctr)++);
	return n;
}

int vpn_data_seal_in_place(aead_t *a, uint8_t *d, size_t plen)
{
	uint8_t nonce[12] = {0};

	memcpy(nonce + 4, d + 8, 8);
	if (aead_seal(a, nonce, d, VPN_DATA_HDR, d + VPN_DATA_HDR, plen, d + VPN_DATA_HDR) < 0)
		return -EIO;
	return (int)(plen + VPN_OVERHEAD);
}

int vpn_data_seal_run(aead_t *a, uint32_t receiver, uint64_t *ctr, const uint8_t *pkt, size_t len,
                      const vnet_hdr_t *h, uint8_t *out, size_t cap, size_t *stride, size_t *last)
{
	uint16_t lens[VPN_RUN_MAX];
	int n, r;

	if ((n = vpn_data_cut_run(receiver, ctr, pkt, len, h, out, cap, VPN_RUN_MAX, stride,
	                          lens)) < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if ((r = vpn_data_seal_in_place(a, out + (size_t)i * *stride, lens[i])) < 0)
			return r;
		*last = (size_t)r;
	}
	return n;
}

int vpn_data_peek(const uint8_t *d, size_t len, uint32_t *receiver, uint64_t *ctr)
{
	if (len < VPN_OVERHEAD || len > VPN_PKT_MAX + VPN_OVERHEAD || d[0] != VPN_MSG_DATA ||
	    d[1] || d[2] || d[3])
		return -EBADMSG;
	*receiver = vpn_get32(d + 4);
	*ctr = get_le64(d + 8);
	return 0;
}

int vpn_data_open_only(aead_t *a, const uint8_t *d, size_t len, uint8_t *out)
{
	uint8_t nonce[12] = {0};
	uint32_t recv;
	uint64_t ctr;
	size_t plen;

	if (vpn_data_peek(d, len, &recv, &ctr) < 0)
		return -EBADMSG;
	plen = len - VPN_OVERHEAD;
	put_le64(nonce + 4, ctr);
	if (aead_open(a, nonce, d, VPN_DATA_HDR, d + VPN_DATA_HDR, plen, out) < 0)
		return -EBADMSG;
	return (int)plen;
}

int vpn_data_open(aead_t *a, vpn_replay_t *r, const uint8_t *d, size_t len, uint8_t *out)
{
	uint32_t recv;
	uint64_t ctr;
	int m;

	if (vpn_data_peek(d, len, &recv, &ctr) < 0)
		return -EBADMSG;
	if (!vpn_replay_check(r, ctr))
		return -EALREADY;
	if ((m = vpn_data_open_only(a, d, len, out)) < 0)
		return m;
	vpn_replay_update(r, ctr);
	return m;
}

int vpn_data_accept(vpn_replay_t *r, const uint8_t *d)
{
	uint64_t ctr = get_le64(d + 8);

	if (!vpn_replay_check(r, ctr))
		return 0;
	vpn_replay_update(r, ctr);
	return 1;
}

int vpn_job_cut(cpjob_t *j, uint32_t receiver, uint64_t *ctr, const uint8_t *pkt, size_t len,
                const vnet_hdr_t *h)
{
	uint16_t lens[CPJOB_RECORDS];
	int n = vpn_data_cut_run(receiver, ctr, pkt, len, h, j->buf, CPJOB_BUF, CPJOB_RECORDS,
	                         &j->stride, lens);

	for (int i = 0; i < n; i++) {
		j->off[i] = (uint32_t)((size_t)i * j->stride);
		j->len[i] = lens[i];
	}
	j->n = n > 0 ? (size_t)n : 0;
	return n;
}

void vpn_job_seal(cpjob_t *j, aead_t *a)
{
	for (size_t i = 0; i < j->n; i++)
		j->len[i] = vpn_data_seal_in_place(a, j->buf + j->off[i], (size_t)j->len[i]);
}

void vpn_job_open(cpjob_t *j, aead_t *a)
{
	for (size_t i = 0; i < j->n; i++) {
		uint8_t *d = j->buf + j->off[i];
		j->len[i] = vpn_data_open_only(a, d, (size_t)j->len[i], d + VPN_DATA_HDR);
	}
}
