/* auth: PPP authentication, both roles (RFC 1334 PAP, RFC 1994 CHAP with
 * MD5, RFC 2759 MS-CHAPv2, RFC 3079 MPPE key derivation).
 *
 * The PPP engine (ppp.c) owns one auth_t per link once LCP is up.  It
 * hands auth every PAP (0xc023) or CHAP (0xc223) packet (the information
 * field after the protocol number) and gets packets to send back through
 * the send callback; when the phase ends, done() reports success or
 * failure.  Timers: auth_tick(now_ms) retransmits requests/challenges
 * (restart timer 3 s, max 10 tries, as RFC 1661's defaults).
 *
 *   authenticator  sends a CHAP Challenge (or waits for PAP Authenticate-
 *                  Request), checks the answer with the secret that the
 *                  lookup callback returns for the user name, answers
 *                  Success/Failure.
 *   peer           answers Challenges / sends Authenticate-Request with its
 *                  own name and password; for MS-CHAPv2 also checks the
 *                  server's authenticator response ("S=...") and fails if
 *                  it is wrong (mutual authentication).
 *
 * After a successful MS-CHAPv2 exchange, auth_mppe_keys() gives the
 * RFC 3079 master session keys (needed by SSTP's crypto binding).
 * Pure protocol and crypto: no I/O, no loop.
 */
#ifndef SLUICE_PPP_AUTH_H
#define SLUICE_PPP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define PPP_PAP 0xc023
#define PPP_CHAP 0xc223
#define CHAP_MD5 5
#define CHAP_MSV2 0x81

typedef enum auth_method { AUTH_NONE = 0, AUTH_PAP, AUTH_CHAP_MD5, AUTH_MSCHAPV2 } auth_method_t;

typedef struct auth auth_t;

typedef struct auth_cbs {
	/* send one PAP/CHAP packet: proto is PPP_PAP or PPP_CHAP, pkt is the
	 * information field (code, id, length, data) */
	void (*send)(void *ud, uint16_t proto, const uint8_t *pkt, size_t len);
	/* authenticator: copy the secret of user into secret (NUL-terminated),
	 * return its length or -1 if there is no such user */
	int (*lookup)(void *ud, const char *user, char *secret, size_t cap);
	/* the phase is over: ok = 1 success; msg for logs */
	void (*done)(void *ud, int ok, const char *msg);
	/* authenticator, optional: the peer's credentials were checked (ok = 1
	 * right); called before the answer is sent.  Return 0 to answer now,
	 * N > 0 to hold a refusal N ms (auth_tick sends it), or < 0 to end the
	 * phase in failure without any answer, whatever ok was (a banned
	 * source). */
	int64_t (*judged)(void *ud, int ok);
} auth_cbs_t;

typedef struct auth_cfg {
	int authenticator;    /* 1: we check the peer; 0: we prove ourselves */
	auth_method_t method; /* as negotiated by LCP */
	const char *name;     /* authenticator: our name in challenges; peer: user name */
	const char *password; /* peer */
} auth_cfg_t;

auth_t *auth_new(const auth_cfg_t *cfg, const auth_cbs_t *cbs, void *ud);
void auth_free(auth_t *a);
void auth_start(auth_t *a, uint64_t now_ms);
/* One received PAP/CHAP packet (information field). Malformed input is
 * dropped (or ends the phase with failure, as the RFCs say); never a crash. */
void auth_input(auth_t *a, uint16_t proto, const uint8_t *pkt, size_t len, uint64_t now_ms);
void auth_tick(auth_t *a, uint64_t now_ms);
/* The authenticated peer's user name (authenticator) or "" */
const char *auth_peer_name(const auth_t *a);
/* RFC 3079 master send/receive keys after MS-CHAPv2 success (16 bytes
 * each, from this side's point of view); -1 if not MS-CHAPv2 or not done.
 * SSTP builds its HLAK from these. */
int auth_mppe_keys(const auth_t *a, uint8_t send_key[16], uint8_t recv_key[16]);

/* A method list as users write it: "mschapv2,chap,pap" (and "none" when
 * none_ok is given: *none_ok is then set when it appears).  Sets *mask to
 * the methods named (1 << auth_method_t).  0, or -EINVAL with a message
 * naming `opt`. */
int auth_methods_parse(const char *list, const char *opt, unsigned *mask, int *none_ok, char *err,
                       size_t errlen);

/* ---- the primitives, exposed for tests and for SSTP ---- */
void chap_md5_response(uint8_t id, const char *secret, size_t slen, const uint8_t *chal,
                       size_t clen, uint8_t out[16]);
void mschap_nt_password_hash(const char *password, uint8_t out[16]);
void mschapv2_generate_nt_response(const uint8_t auth_challenge[16],
                                   const uint8_t peer_challenge[16], const char *user,
                                   const char *password, uint8_t out[24]);
/* "S=" + 40 hex digits, NUL-terminated (43 bytes). */
void mschapv2_authenticator_response(const char *password, const uint8_t nt_response[24],
                                     const uint8_t peer_challenge[16],
                                     const uint8_t auth_challenge[16], const char *user,
                                     char out[43]);
/* RFC 3079 3.4: GetMasterKey + GetAsymmetricStartKey for 128-bit keys. */
void mppe_master_keys(const char *password, const uint8_t nt_response[24], int is_server,
                      uint8_t send_key[16], uint8_t recv_key[16]);

#endif
