/* extorport: the client side of Tor's Extended ORPort (ext-orport-spec),
 * used by `sluice pt` on a bridge to hand each tunneled connection to tor
 * together with the client's address and the transport's name.
 *
 * Two layers:
 *
 *   extor_hs_t   the handshake as a pure state machine (no I/O, no
 *                allocation): feed it the bytes tor sent, it says how many
 *                it used and what to send back.  States:
 *
 *                  AUTHTYPES  tor lists its auth types, ending with 0; we
 *                             need SAFE_COOKIE (1) and answer 1 + our nonce
 *                  SERVERHASH tor's HMAC (32) and nonce (32); we check the
 *                             HMAC and answer ours, keyed by the cookie
 *                  STATUS     one byte, 1 = authenticated; we then send
 *                             USERADDR, TRANSPORT and DONE
 *                  REPLY      commands from tor until OKAY (go on) or DENY;
 *                             unknown ones are skipped, as the spec says
 *                  DONE / FAILED
 *
 *   extor_start  drives a connected stream through that machine on the
 *                loop and hands the stream back (bytes tor sent after OKAY,
 *                if any, ride along through core/prebuf).
 *
 * Errors are negative errno values: -EPROTO (tor spoke nonsense or offers
 * no SAFE_COOKIE), -EACCES (hash mismatch either way, or DENY).
 */
#ifndef SLUICE_EXTORPORT_H
#define SLUICE_EXTORPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/stream.h"

#define EXTOR_COOKIE_LEN 32
#define EXTOR_COOKIE_FILE_LEN 64 /* 32-byte header, then the cookie */
#define EXTOR_NONCE_LEN 32
#define EXTOR_HASH_LEN 32
#define EXTOR_AUTH_SAFE_COOKIE 1

/* Commands (transport proxy -> tor) and replies (tor -> transport proxy). */
#define EXTOR_CMD_DONE 0x0000
#define EXTOR_CMD_USERADDR 0x0001
#define EXTOR_CMD_TRANSPORT 0x0002
#define EXTOR_REPLY_OKAY 0x1000
#define EXTOR_REPLY_DENY 0x1001
#define EXTOR_REPLY_CONTROL 0x1002

/* Biggest message we send in one step: hash + three commands. */
#define EXTOR_OUT_MAX (EXTOR_HASH_LEN + 3 * 4 + 64 + 64)

typedef enum extor_state {
	EXTOR_AUTHTYPES,
	EXTOR_SERVERHASH,
	EXTOR_STATUS,
	EXTOR_REPLY,
	EXTOR_DONE,
	EXTOR_FAILED,
} extor_state_t;

typedef enum extor_res { EXTOR_OK = 0, EXTOR_MORE = 1, EXTOR_ERR = -1 } extor_res_t;

typedef struct extor_hs {
	extor_state_t state;
	int err; /* on FAILED */
	uint8_t cookie[EXTOR_COOKIE_LEN];
	uint8_t client_nonce[EXTOR_NONCE_LEN];
	char useraddr[64];  /* "1.2.3.4:5678" or "[::1]:5678", "" = do not send */
	char transport[64]; /* PT name, "" = do not send */
} extor_hs_t;

/* The cookie file's contents: the static header, then the cookie. */
int extor_cookie_parse(const uint8_t *buf, size_t len, uint8_t cookie[EXTOR_COOKIE_LEN]);
int extor_cookie_load(const char *path, uint8_t cookie[EXTOR_COOKIE_LEN]);

/* HMAC-SHA256(cookie, label | client nonce | server nonce): which = 0 for
 * the server-to-client hash, 1 for the client-to-server one. */
void extor_hash(const uint8_t cookie[EXTOR_COOKIE_LEN], int which,
                const uint8_t cn[EXTOR_NONCE_LEN], const uint8_t sn[EXTOR_NONCE_LEN],
                uint8_t out[EXTOR_HASH_LEN]);

/* COMMAND(2) BODYLEN(2) BODY; 0 if it does not fit. */
size_t extor_cmd_encode(uint8_t *out, size_t cap, uint16_t cmd, const void *body, size_t len);
/* One command: OK with *cmd, the body and *used; MORE if incomplete. */
extor_res_t extor_cmd_parse(const uint8_t *buf, size_t len, uint16_t *cmd, const uint8_t **body,
                            size_t *blen, size_t *used);

/* Set up; client_nonce NULL = random.  useraddr / transport may be NULL. */
void extor_hs_init(extor_hs_t *hs, const uint8_t cookie[EXTOR_COOKIE_LEN],
                   const uint8_t *client_nonce, const char *useraddr, const char *transport);
/* Feed bytes from tor.  Consumes what it can (*used), writes the answer
 * into out (*outlen, up to EXTOR_OUT_MAX + 1 + EXTOR_NONCE_LEN).  Returns
 * MORE (keep feeding), OK (state DONE: relay from here) or ERR (state
 * FAILED, hs->err says why).  Bytes after OKAY are not consumed. */
extor_res_t extor_hs_feed(extor_hs_t *hs, const uint8_t *buf, size_t len, size_t *used,
                          uint8_t *out, size_t cap, size_t *outlen);
const char *extor_state_name(extor_state_t s);

/* ---- on the loop ---- */

typedef struct extor_req extor_req_t;
typedef void (*extor_cb)(void *ud, stream_t *s, int err);

/* Run the handshake on connected stream s (taken over: on failure it is
 * closed).  cb(ud, stream, 0) on success, cb(ud, NULL, err) on failure;
 * never called from inside extor_start, never after extor_cancel. */
extor_req_t *extor_start(uv_loop_t *loop, stream_t *s, const uint8_t cookie[EXTOR_COOKIE_LEN],
                         const char *useraddr, const char *transport, extor_cb cb, void *ud);
void extor_cancel(extor_req_t *q);

#endif
