/* vpn_proto: the wire protocol of the UDP VPN (docs/vpn-protocol.md), pure.
 *
 * No I/O, no loop, no allocation: the client and server modules
 * (vpn_client.c, vpn_server.c) own sockets, timers and sessions; this file
 * builds and checks datagrams.  Every parser takes (buf, len) and either
 * fills its result or returns a negative errno; a datagram that is not
 * exactly what it should be is -EBADMSG.
 *
 * Handshake (2 round trips; the server keeps no state until INIT passed
 * mac1, the optional cookie check, the timestamp window and the replay
 * cache):
 *
 *   client                                               server
 *   INIT    e_c, ts, {user}k1, mac1, mac2   ------>
 *                                           <------   COOKIE {cookie}   (under load)
 *                                           <------   RESP   e_s, {salt, scrypt params}k2
 *   CONFIRM {ClientProof, prev}k3           ------>
 *                                           <------   ACCEPT {address, mtu, .., ServerSignature}k4
 *   DATA    receiver, counter, {ip packet}  <----->   DATA
 *
 * k1 = f(DH(e_c, S)) authenticates the server (its static key S is pinned
 * by the client); k2.. add DH(e_c, e_s) for forward secrecy; the client
 * proves its password SCRAM-style (the server stores only StoredKey and
 * ServerKey derived from scrypt(password, salt)), the server answers with
 * ServerSignature, so both sides are also bound to the password.
 */
#ifndef SLUICE_VPN_PROTO_H
#define SLUICE_VPN_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/aead.h"
#include "core/cryptopool.h"
#include "core/rwin.h"
#include "netstack/vnet.h"

enum vpn_msg {
	VPN_MSG_INIT = 1,
	VPN_MSG_RESP = 2,
	VPN_MSG_CONFIRM = 3,
	VPN_MSG_ACCEPT = 4,
	VPN_MSG_COOKIE = 5,
	VPN_MSG_DATA = 6,
	VPN_MSG_KEYREQ = 7,
	VPN_MSG_KEYRESP = 8,
};

#define VPN_KEY 32
#define VPN_TAG 16
#define VPN_MAC 16
#define VPN_USER_MAX 63
#define VPN_SALT 16

#define VPN_INIT_LEN (4 + 4 + 32 + 8 + (64 + VPN_TAG) + VPN_MAC + VPN_MAC) /* 160 */
#define VPN_INIT_MAC1_OFF (VPN_INIT_LEN - 2 * VPN_MAC)
#define VPN_INIT_MAC2_OFF (VPN_INIT_LEN - VPN_MAC)
#define VPN_RESP_LEN (4 + 4 + 4 + 32 + (20 + VPN_TAG)) /* 80 */
#define VPN_CONFIRM_LEN (4 + 4 + (36 + VPN_TAG))       /* 60 */
#define VPN_ACCEPT_BODY 52
#define VPN_ACCEPT_LEN (4 + 4 + (VPN_ACCEPT_BODY + VPN_TAG))   /* 76 */
#define VPN_ACCEPT6_BODY (VPN_ACCEPT_BODY + 36)                /* ... and an IPv6 block */
#define VPN_ACCEPT6_LEN (4 + 4 + (VPN_ACCEPT6_BODY + VPN_TAG)) /* 112 */
#define VPN_COOKIE_LEN (4 + 4 + 12 + (16 + VPN_TAG))           /* 52 */
#define VPN_KEYREQ_LEN 64 /* padded: the answer is no bigger than the question */
#define VPN_KEYRESP_LEN (4 + 32)
#define VPN_DATA_HDR 16
#define VPN_OVERHEAD (VPN_DATA_HDR + VPN_TAG) /* 32 */
#define VPN_PKT_MAX 65535

/* Timers and limits (WireGuard's, except where docs/vpn-protocol.md says). */
#define VPN_REKEY_AFTER_MS (120 * 1000)
#define VPN_REJECT_AFTER_MS (180 * 1000)
#define VPN_REKEY_AFTER_MSGS (1ull << 60)
#define VPN_REKEY_AFTER_MSGS_AES (1ull << 28) /* AES-128-GCM: about 2^38 bytes */
#define VPN_REJECT_AFTER_MSGS (UINT64_MAX - (1ull << 13))
#define VPN_TS_WINDOW_MS (60 * 1000) /* allowed clock skew of INIT timestamps */
#define VPN_COOKIE_SECRET_MS (120 * 1000)
#define VPN_WINDOW 2048 /* replay window, packets */

/* scrypt parameters of the users file (log2 N, r, p) */
#define VPN_SCRYPT_LN 15
#define VPN_SCRYPT_R 8
#define VPN_SCRYPT_P 1

/* ---- keys ---- */

typedef struct vpn_static {
	uint8_t priv[32], pub[32];
	uint8_t mac1_key[32];   /* SHA256("mac1----" || pub) */
	uint8_t cookie_key[32]; /* SHA256("cookie--" || pub) */
} vpn_static_t;

int vpn_keypair(uint8_t priv[32], uint8_t pub[32]);
/* Fills the derived keys; priv may be NULL (client side: pub only). */
int vpn_static_init(vpn_static_t *s, const uint8_t *priv, const uint8_t pub[32]);

/* ---- password verifiers (SCRAM, RFC 5802, with scrypt) ---- */

typedef struct vpn_verifier {
	uint8_t salt[VPN_SALT];
	uint8_t ln, r, p;
	uint8_t stored_key[32]; /* SHA256(ClientKey) */
	uint8_t server_key[32]; /* HMAC(SaltedPassword, "Server Key") */
} vpn_verifier_t;

/* SaltedPassword = scrypt(pw, salt, 2^ln, r, p); ClientKey = HMAC(SP, "Client Key").
 * -EINVAL for parameters out of range (ln 1..20, r 1..16, p 1..4). */
int vpn_scram_keys(const char *pw, const uint8_t salt[VPN_SALT], unsigned ln, unsigned r,
                   unsigned p, uint8_t client_key[32], uint8_t server_key[32]);
int vpn_verifier_make(const char *pw, unsigned ln, unsigned r, unsigned p, vpn_verifier_t *v);

/* ---- handshake ---- */

typedef struct vpn_hs {
	uint8_t ck[32], h[32];
	uint8_t e_priv[32], e_pub[32], re_pub[32];
	uint8_t k[32];    /* key of the next handshake message */
	uint8_t mac1[16]; /* of our INIT (cookie replies bind to it) */
	uint32_t local_idx, remote_idx;
	uint64_t ts;
	unsigned flags; /* VPN_F_*: what the client offered in INIT */
	char user[VPN_USER_MAX + 1];
} vpn_hs_t;

/* INIT's offers (the byte after the user name's 63: a name of 63
 * characters offers nothing) */
#define VPN_F_AES 1 /* DATA may be AES-128-GCM */

/* The DATA cipher, which the server picks in ACCEPT */
enum vpn_cipher { VPN_CIPHER_CHACHA = 0, VPN_CIPHER_AES128 = 1 };
aead_alg_t vpn_cipher_alg(unsigned cipher);

/* Addresses the server gives the client in ACCEPT (network byte order).
 * prefix6 0: no IPv6 (a 76-byte ACCEPT); otherwise addr6/prefix6 is the
 * client's and dns6 the DNS alias (a 112-byte one). */
typedef struct vpn_assign {
	uint32_t addr, gateway, dns;
	uint8_t prefix;
	uint8_t prefix6;
	uint8_t addr6[16], dns6[16];
	uint16_t mtu;       /* the tunnel MTU the client should use */
	uint16_t keepalive; /* seconds */
	uint8_t cipher;     /* enum vpn_cipher */
} vpn_assign_t;

/* client: INIT.  cookie: the last cookie from the server (16 bytes), or
 * NULL; flags: VPN_F_* offered (kept in hs->flags). */
int vpn_init_create(vpn_hs_t *hs, const vpn_static_t *server, const char *user, uint32_t idx,
                    uint64_t ts_ms, const uint8_t *cookie, unsigned flags,
                    uint8_t out[VPN_INIT_LEN]);
/* server: mac1 (0 or -EBADMSG); mac2 against cookie (0 or -EAGAIN). */
int vpn_init_check_mac1(const vpn_static_t *s, const uint8_t *pkt, size_t len);
int vpn_init_check_mac2(const uint8_t cookie[16], const uint8_t *pkt, size_t len);
/* server: decrypts INIT into hs (user, ts, remote index, e_c, flags).  The
 * caller checks the time window and the replay cache (vpn_init_nonce). */
int vpn_init_consume(vpn_hs_t *hs, const vpn_static_t *s, const uint8_t *pkt, size_t len);
/* The 16-byte nonce that identifies an INIT (for the replay cache). */
void vpn_init_nonce(const uint8_t *pkt, uint8_t nonce[16]);

int vpn_resp_create(vpn_hs_t *hs, uint32_t idx, const vpn_verifier_t *v, uint8_t out[VPN_RESP_LEN]);
int vpn_resp_consume(vpn_hs_t *hs, const uint8_t *pkt, size_t len, uint8_t salt[VPN_SALT],
                     uint8_t *ln, uint8_t *r, uint8_t *p);

int vpn_confirm_create(vpn_hs_t *hs, const uint8_t client_key[32], uint32_t prev_idx,
                       uint8_t out[VPN_CONFIRM_LEN]);
/* server: -EACCES for a wrong password, -EBADMSG for anything else. */
int vpn_confirm_consume(vpn_hs_t *hs, const vpn_verifier_t *v, const uint8_t *pkt, size_t len,
                        uint32_t *prev_idx);

/* The ACCEPT's length (VPN_ACCEPT_LEN, or VPN_ACCEPT6_LEN with IPv6), or
 * a negative errno. */
int vpn_accept_create(vpn_hs_t *hs, const uint8_t server_key[32], const vpn_assign_t *a,
                      uint8_t out[VPN_ACCEPT6_LEN]);
/* client: -EACCES if the server signature is wrong; -EBADMSG also for a
 * cipher the INIT in hs did not offer. */
int vpn_accept_consume(vpn_hs_t *hs, const uint8_t server_key[32], const uint8_t *pkt, size_t len,
                       vpn_assign_t *a);

/* Transport keys once CONFIRM was made / consumed. */
void vpn_hs_transport(const vpn_hs_t *hs, int initiator, uint8_t send[32], uint8_t recv[32]);
void vpn_hs_wipe(vpn_hs_t *hs);

/* ---- cookies ---- */

/* cookie = HMAC(secret, addr)[0..16]; addr is the sender's address bytes. */
void vpn_cookie_make(const uint8_t secret[32], const void *addr, size_t alen, uint8_t cookie[16]);
/* server: reply to an INIT (receiver = its sender index, binds to its mac1). */
int vpn_cookie_create(const vpn_static_t *s, const uint8_t *init, const uint8_t cookie[16],
                      uint8_t out[VPN_COOKIE_LEN]);
/* client: the cookie, if the reply is for our pending INIT. */
int vpn_cookie_consume(const vpn_static_t *server, const vpn_hs_t *hs, const uint8_t *pkt,
                       size_t len, uint8_t cookie[16]);

/* ---- key request (for clients that have no pinned key) ---- */
void vpn_keyreq_create(uint8_t out[VPN_KEYREQ_LEN]);
int vpn_keyreq_check(const uint8_t *pkt, size_t len);
void vpn_keyresp_create(const uint8_t pub[32], uint8_t out[VPN_KEYRESP_LEN]);
int vpn_keyresp_consume(const uint8_t *pkt, size_t len, uint8_t pub[32]);

/* ---- transport ---- */

typedef rwin_t vpn_replay_t; /* core/rwin.h */
_Static_assert(RWIN_SIZE == VPN_WINDOW, "the VPN's replay window is core/rwin's");

/* 1 if ctr may be accepted (not too old, not seen); does not record it. */
int vpn_replay_check(const vpn_replay_t *r, uint64_t ctr);
void vpn_replay_update(vpn_replay_t *r, uint64_t ctr);

/* DATA is the session's cipher (core/aead.h) under its key for the
 * direction: aead_init(a, vpn_cipher_alg(cipher), key, encrypt).
 * out must hold VPN_OVERHEAD + len.  Returns the datagram length. */
int vpn_data_seal(aead_t *a, uint32_t receiver, uint64_t ctr, const uint8_t *pkt, size_t len,
                  uint8_t *out);
/* A TUN super-packet (netstack/vnet.h: h, NULL for a plain packet) as a
 * run of DATA datagrams laid end to end at out (cap bytes), for one UDP
 * GSO send: each *stride bytes but the last, which is *last; counters
 * from *ctr on (advanced).  The number of datagrams, -EINVAL (a header or
 * packet that does not hold together) or -ENOSPC. */
int vpn_data_seal_run(aead_t *a, uint32_t receiver, uint64_t *ctr, const uint8_t *pkt, size_t len,
                      const vnet_hdr_t *h, uint8_t *out, size_t cap, size_t *stride, size_t *last);
#define VPN_RUN_MAX 1024 /* datagrams in one run */
/* The same in two steps, for sealing elsewhere (core/cryptopool.h): the
 * run of at most max datagrams at out, headers written and counters
 * assigned, each packet in place (lens[i] bytes at datagram + 16), then
 * vpn_data_seal_in_place() on each, which returns its sealed length. */
int vpn_data_cut_run(uint32_t receiver, uint64_t *ctr, const uint8_t *pkt, size_t len,
                     const vnet_hdr_t *h, uint8_t *out, size_t cap, size_t max, size_t *stride,
                     uint16_t *lens);
int vpn_data_seal_in_place(aead_t *a, uint8_t *d, size_t plen);
/* Header only: receiver index and counter of a DATA datagram, or -EBADMSG. */
int vpn_data_peek(const uint8_t *d, size_t len, uint32_t *receiver, uint64_t *ctr);
/* Opens into out (len - VPN_OVERHEAD bytes), checks and then records the
 * counter in the window.  Plaintext length, -EBADMSG (not authentic,
 * malformed) or -EALREADY (replayed / too old). */
int vpn_data_open(aead_t *a, vpn_replay_t *r, const uint8_t *d, size_t len, uint8_t *out);
/* Opens without the window (the caller checks it before and records the
 * counter after, as vpn_data_open does): plaintext length or -EBADMSG. */
int vpn_data_open_only(aead_t *a, const uint8_t *d, size_t len, uint8_t *out);
/* After vpn_data_open_only() (on a worker) of the datagram d, back on the
 * loop: 1, and its counter recorded, if the window still takes it; 0 if
 * it came meanwhile (twice in one batch, say). */
int vpn_data_accept(vpn_replay_t *r, const uint8_t *d);

/* Work functions for core/cryptopool jobs: record i is j->len[i] bytes at
 * j->buf + j->off[i].  vpn_job_seal: a packet after room for the header,
 * header written (vpn_data_cut_run); sealed in place, len[i] its datagram
 * length.  vpn_job_open: a DATA datagram; opened in place (the plaintext
 * at + VPN_DATA_HDR), len[i] its length or -EBADMSG.  Neither touches a
 * replay window. */
void vpn_job_seal(cpjob_t *j, aead_t *a);
/* Fills an empty job for vpn_job_seal with pkt's run (vpn_data_cut_run,
 * at most CPJOB_RECORDS datagrams): their number, -ENOSPC (more than that)
 * or -EINVAL. */
int vpn_job_cut(cpjob_t *j, uint32_t receiver, uint64_t *ctr, const uint8_t *pkt, size_t len,
                const vnet_hdr_t *h);
void vpn_job_open(cpjob_t *j, aead_t *a);

static inline uint32_t vpn_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
