/* socks_proto: the SOCKS4, SOCKS4a and SOCKS5 wire formats, both sides.
 *
 * Pure functions, no I/O and no allocation.  Every parser takes the bytes
 * received so far, (buf, len), and returns
 *
 *   SOCKS_OK         a whole message was parsed; *used says how many bytes
 *                    it took (bytes after it belong to the next message or
 *                    to the data stream and must not be dropped);
 *   SOCKS_NEED_MORE  the bytes are a valid prefix; read more and call again
 *                    with all of them;
 *   SOCKS_ERROR      not SOCKS (wrong version, bad field); some parsers also
 *                    set a reply code to send before closing (see each).
 *
 * Encoders write into a caller's buffer and return the length written, or 0
 * when it does not fit (or the input cannot be encoded).
 *
 * Server side: socks5_greeting_parse, socks5_userpass_parse,
 * socks5_request_parse, socks4_request_parse, socks5_udp_parse, with
 * socks5_method_encode, socks5_auth_status_encode, socks5_reply_encode,
 * socks4_reply_encode, socks5_udp_encode.  Client side (hops):
 * socks5_greeting_encode, socks5_userpass_encode, socks5_request_encode,
 * socks4_request_encode, socks5_method_parse, socks5_auth_status_parse,
 * socks5_reply_parse, socks4_reply_parse.
 */
#ifndef SLUICE_SOCKS_PROTO_H
#define SLUICE_SOCKS_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef enum socks_res { SOCKS_OK = 0, SOCKS_NEED_MORE = 1, SOCKS_ERROR = -1 } socks_res_t;

#define SOCKS4_VER 0x04
#define SOCKS5_VER 0x05
#define SOCKS5_AUTH_VER 0x01 /* RFC 1929 sub-negotiation version */

/* SOCKS5 methods (RFC 1928 section 3). */
#define SOCKS5_METHOD_NONE 0x00
#define SOCKS5_METHOD_GSSAPI 0x01
#define SOCKS5_METHOD_USERPASS 0x02
#define SOCKS5_METHOD_NOACCEPT 0xff

/* Commands, the same numbers in SOCKS4 and SOCKS5 (SOCKS4 has no UDP). */
#define SOCKS_CMD_CONNECT 0x01
#define SOCKS_CMD_BIND 0x02
#define SOCKS_CMD_UDP 0x03

#define SOCKS5_ATYP_IPV4 0x01
#define SOCKS5_ATYP_DOMAIN 0x03
#define SOCKS5_ATYP_IPV6 0x04

/* SOCKS5 reply codes (RFC 1928 section 6). */
#define SOCKS5_REP_OK 0x00
#define SOCKS5_REP_FAIL 0x01
#define SOCKS5_REP_NOT_ALLOWED 0x02
#define SOCKS5_REP_NET_UNREACH 0x03
#define SOCKS5_REP_HOST_UNREACH 0x04
#define SOCKS5_REP_REFUSED 0x05
#define SOCKS5_REP_TTL_EXPIRED 0x06
#define SOCKS5_REP_CMD_UNSUPP 0x07
#define SOCKS5_REP_ATYP_UNSUPP 0x08

/* SOCKS4 reply codes (the reply's version byte is 0). */
#define SOCKS4_REP_GRANTED 0x5a
#define SOCKS4_REP_REJECTED 0x5b
#define SOCKS4_REP_NO_IDENTD 0x5c
#define SOCKS4_REP_IDENT_MISMATCH 0x5d

/* Biggest messages, for buffer sizes. */
#define SOCKS5_ADDR_MAX (1 + 1 + 255 + 2)    /* ATYP, len, name, port */
#define SOCKS5_REQ_MAX (3 + SOCKS5_ADDR_MAX) /* also the biggest reply */
#define SOCKS5_UDP_HDR_MAX (3 + SOCKS5_ADDR_MAX)
#define SOCKS5_USERPASS_MAX (1 + 1 + 255 + 1 + 255)
#define SOCKS4_FIELD_MAX 255 /* userid, 4a hostname */
#define SOCKS4_REQ_MAX (8 + 2 * (SOCKS4_FIELD_MAX + 1))

/* An address as SOCKS carries it: an IP or an unresolved name, and a port. */
typedef struct socks_addr {
	uint8_t atyp;   /* SOCKS5_ATYP_* */
	uint8_t ip[16]; /* 4 bytes for IPV4, 16 for IPV6 */
	char host[256]; /* DOMAIN: the name, NUL-terminated, never empty */
	uint16_t port;  /* host order */
} socks_addr_t;

/* Conversions to and from sockaddr (IPV4/IPV6 only; DOMAIN gives -EINVAL). */
int socks_addr_from_sa(socks_addr_t *a, const struct sockaddr *sa);
int socks_addr_to_sa(const socks_addr_t *a, struct sockaddr_storage *ss);
/* A name or IP literal, for logs and for target_t; "" host is not allowed. */
int socks_addr_set_host(socks_addr_t *a, const char *host, uint16_t port);
/* Host part only: the name, or the IP as text (IPv6 without brackets). */
void socks_addr_host(const socks_addr_t *a, char *buf, size_t len);

/* --- SOCKS5 server side --------------------------------------------------- */

typedef struct socks5_greeting {
	uint8_t nmethods;
	uint8_t methods[255];
} socks5_greeting_t;

/* VER NMETHODS METHODS...  ERROR when VER != 5 or NMETHODS == 0. */
socks_res_t socks5_greeting_parse(const uint8_t *buf, size_t len, socks5_greeting_t *g,
                                  size_t *used);
int socks5_greeting_has(const socks5_greeting_t *g, uint8_t method);
/* The server's choice: VER METHOD. */
size_t socks5_method_encode(uint8_t *out, size_t cap, uint8_t method);

typedef struct socks5_userpass {
	uint8_t ulen, plen;
	char user[256], pass[256]; /* NUL-terminated; may contain NULs themselves */
} socks5_userpass_t;

/* RFC 1929: VER(1) ULEN UNAME PLEN PASSWD.  ERROR when VER != 1 or ULEN == 0. */
socks_res_t socks5_userpass_parse(const uint8_t *buf, size_t len, socks5_userpass_t *up,
                                  size_t *used);
/* VER(1) STATUS (0 = success). */
size_t socks5_auth_status_encode(uint8_t *out, size_t cap, uint8_t status);

typedef struct socks5_request {
	uint8_t cmd; /* SOCKS_CMD_* */
	socks_addr_t dst;
	uint8_t rep; /* on ERROR: the reply to send before closing, 0 = none */
} socks5_request_t;

/* VER CMD RSV ATYP DST.ADDR DST.PORT.  ERROR with rep = 0 when VER != 5
 * (close without a reply), rep = CMD_UNSUPP for an unknown command,
 * rep = ATYP_UNSUPP for an unknown ATYP, rep = FAIL for an empty name.  The
 * command is not judged beyond that: BIND parses OK and the caller refuses
 * it. */
socks_res_t socks5_request_parse(const uint8_t *buf, size_t len, socks5_request_t *req,
                                 size_t *used);
/* VER REP RSV ATYP BND.ADDR BND.PORT; bnd NULL means 0.0.0.0:0. */
size_t socks5_reply_encode(uint8_t *out, size_t cap, uint8_t rep, const socks_addr_t *bnd);

/* --- SOCKS4 / SOCKS4a server side ----------------------------------------- */

typedef struct socks4_request {
	uint8_t cmd;
	uint16_t port;
	uint8_t ip[4];
	char userid[SOCKS4_FIELD_MAX + 1];
	char host[SOCKS4_FIELD_MAX + 1]; /* 4a: the name; else "" */
	unsigned is_4a : 1;              /* ip was 0.0.0.x with x != 0 */
} socks4_request_t;

/* VN(4) CD DSTPORT DSTIP USERID NUL [HOSTNAME NUL].  ERROR when VN != 4,
 * the command is neither CONNECT nor BIND, a field is longer than 255
 * bytes, or a 4a hostname is empty. */
socks_res_t socks4_request_parse(const uint8_t *buf, size_t len, socks4_request_t *req,
                                 size_t *used);
/* VN(0) CD DSTPORT DSTIP; ip NULL means 0.0.0.0.  Always 8 bytes. */
size_t socks4_reply_encode(uint8_t *out, size_t cap, uint8_t rep, uint16_t port,
                           const uint8_t ip[4]);

/* --- SOCKS5 UDP datagrams (RFC 1928 section 7) ---------------------------- */

typedef struct socks5_udp_hdr {
	uint8_t frag;
	socks_addr_t dst;
} socks5_udp_hdr_t;

/* RSV(2) FRAG ATYP DST.ADDR DST.PORT; the payload starts at buf + *used.  A
 * datagram comes whole, so NEED_MORE means "truncated": drop it. */
socks_res_t socks5_udp_parse(const uint8_t *buf, size_t len, socks5_udp_hdr_t *h, size_t *used);
/* The header for a datagram from `src`, FRAG 0. */
size_t socks5_udp_encode(uint8_t *out, size_t cap, const socks_addr_t *src);

/* --- client side (the socks5 / socks4 hops) ------------------------------- */

/* VER NMETHODS METHODS. */
size_t socks5_greeting_encode(uint8_t *out, size_t cap, const uint8_t *methods, size_t n);
/* VER(1) ULEN UNAME PLEN PASSWD; 0 if a field is longer than 255 bytes or
 * the user name is empty. */
size_t socks5_userpass_encode(uint8_t *out, size_t cap, const char *user, const char *pass);
/* VER CMD RSV ATYP DST.ADDR DST.PORT. */
size_t socks5_request_encode(uint8_t *out, size_t cap, uint8_t cmd, const socks_addr_t *dst);
/* VN CD DSTPORT DSTIP USERID NUL [HOSTNAME NUL]: with a host (non-NULL),
 * the 4a form with IP 0.0.0.1. */
size_t socks4_request_encode(uint8_t *out, size_t cap, uint8_t cmd, uint16_t port,
                             const uint8_t ip[4], const char *userid, const char *host);

/* VER METHOD from the server: ERROR if VER != 5. */
socks_res_t socks5_method_parse(const uint8_t *buf, size_t len, uint8_t *method, size_t *used);
/* VER STATUS: ERROR if VER != 1 (some servers answer 5; accepted too). */
socks_res_t socks5_auth_status_parse(const uint8_t *buf, size_t len, uint8_t *status, size_t *used);

typedef struct socks5_reply {
	uint8_t rep;
	socks_addr_t bnd;
} socks5_reply_t;

/* VER REP RSV ATYP BND.ADDR BND.PORT: ERROR if VER != 5 or ATYP unknown. */
socks_res_t socks5_reply_parse(const uint8_t *buf, size_t len, socks5_reply_t *r, size_t *used);
/* VN(0) CD DSTPORT DSTIP: ERROR if VN != 0 (a few servers send 4: accepted). */
socks_res_t socks4_reply_parse(const uint8_t *buf, size_t len, uint8_t *rep, size_t *used);

/* --- errors ---------------------------------------------------------------- */

/* A negative UV_E* from a dial onto a SOCKS5 reply code, and back. */
uint8_t socks5_rep_from_err(int err);
int socks5_err_from_rep(uint8_t rep);
const char *socks5_rep_str(uint8_t rep);

/* A tunnel's open failure (the ws and sctp OPEN_FAIL body: code(1) text,
 * docs/ws-protocol.md): a SOCKS5 code and a short text.  SOCKS5 has no
 * code for a name that does not resolve: it goes as 4 (host unreachable,
 * what an older peer reads) with the text "name not found", which
 * tun_fail_err reads back as UV_EAI_NONAME (as it does the text older
 * sluice servers sent, libuv's "unknown node or service").  The body's
 * length (at most 1 + 64), or 0 if cap is too small. */
size_t tun_fail_encode(int err, uint8_t *out, size_t cap);
int tun_fail_err(const uint8_t *body, size_t len);
/* A failure that a peer put in words only (wstan's RST: "can't connect
 * to HOST:PORT" and an error text, from Python or from sluice): the UV_E*
 * code it names, or 0 when it names none we know. */
int tun_err_from_text(const char *text);

#endif
