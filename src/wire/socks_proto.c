/* socks_proto: see socks_proto.h.
 *
 * Every parser reads through one bounds-checked cursor (struct rd): a read
 * past `len` marks the cursor short and yields zeros, and the parser turns a
 * short cursor into NEED_MORE once it has checked the fields it did get.  So
 * a wrong version is reported as ERROR as soon as its byte arrives, and no
 * parser ever touches memory beyond buf + len.
 */
#include "wire/socks_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

typedef struct rd {
	const uint8_t *p;
	size_t len, pos;
	int shrt; /* a read went past len */
} rd_t;

static uint8_t rd_u8(rd_t *r)
{
	if (r->pos >= r->len) {
		r->shrt = 1;
		return 0;
	}
	return r->p[r->pos++];
}

static uint16_t rd_u16(rd_t *r)
{
	uint16_t hi = rd_u8(r);

	return (uint16_t)(hi << 8 | rd_u8(r));
}

/* Copy n bytes out (or mark short). */
static void rd_bytes(rd_t *r, void *out, size_t n)
{
	if (r->len - r->pos < n) {
		r->shrt = 1;
		r->pos = r->len;
		return;
	}
	memcpy(out, r->p + r->pos, n);
	r->pos += n;
}

/* A NUL-terminated string of at most max bytes (not counting the NUL).
 * Returns 0, or -1 when it is longer than max (an ERROR even if short). */
static int rd_cstr(rd_t *r, char *out, size_t max)
{
	size_t n = 0;

	for (;;) {
		if (r->pos >= r->len) {
			r->shrt = 1;
			out[n] = 0;
			return 0;
		}
		if (r->p[r->pos] == 0) {
			r->pos++;
			out[n] = 0;
			return 0;
		}
		if (n == max)
			return -1;
		out[n++] = (char)r->p[r->pos++];
	}
}

/* ATYP ADDR PORT into a; -1 on an unknown ATYP or a bad name (only judged
 * once its bytes are there). */
static int rd_addr(rd_t *r, socks_addr_t *a)
{
	uint8_t n;

	memset(a, 0, sizeof(*a));
	a->atyp = rd_u8(r);
	if (r->shrt)
		return 0;
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		rd_bytes(r, a->ip, 4);
		break;
	case SOCKS5_ATYP_IPV6:
		rd_bytes(r, a->ip, 16);
		break;
	case SOCKS5_ATYP_DOMAIN:
		n = rd_u8(r);
		rd_bytes(r, a->host, n);
		if (r->shrt)
			return 0;
		/* An empty name, or one with a NUL inside ("a.com\0.b.org"),
		 * would mean something else as a C string. */
		if (n == 0 || memchr(a->host, 0, n))
			return -1;
		a->host[n] = 0;
		break;
	default:
		return -1;
	}
	a->port = rd_u16(r);
	return 0;
}

/* A version byte, v1 or v2: NEED_MORE before it arrives, ERROR when it is
 * neither, else OK. */
static socks_res_t rd_ver(rd_t *r, uint8_t v1, uint8_t v2)
{
	uint8_t v = rd_u8(r);

	if (r->shrt)
		return SOCKS_NEED_MORE;
	return v == v1 || v == v2 ? SOCKS_OK : SOCKS_ERROR;
}

/* A version byte that must be ver, then a length byte that must not be 0
 * and that many bytes into out: a SOCKS5 greeting, and the head of an RFC
 * 1929 request.  NEED_MORE before the version byte, ERROR on a wrong
 * version or a zero length, else OK (the cursor may still be short). */
static socks_res_t rd_ver_vec(rd_t *r, uint8_t ver, uint8_t *n, void *out)
{
	socks_res_t res = rd_ver(r, ver, ver);

	if (res != SOCKS_OK)
		return res;
	*n = rd_u8(r);
	if (!r->shrt && *n == 0)
		return SOCKS_ERROR;
	rd_bytes(r, out, *n);
	return SOCKS_OK;
}

static socks_res_t rd_done(const rd_t *r, size_t *used)
{
	if (r->shrt)
		return SOCKS_NEED_MORE;
	if (used)
		*used = r->pos;
	return SOCKS_OK;
}

/* A bounded writer; a write past cap marks it failed. */
typedef struct wr {
	uint8_t *p;
	size_t cap, pos;
	int fail;
} wr_t;

static void wr_bytes(wr_t *w, const void *b, size_t n)
{
	if (w->fail || w->cap - w->pos < n) {
		w->fail = 1;
		return;
	}
	if (n)
		memcpy(w->p + w->pos, b, n);
	w->pos += n;
}

static void wr_u8(wr_t *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

static void wr_u16(wr_t *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	wr_bytes(w, b, 2);
}

static void wr_addr(wr_t *w, const socks_addr_t *a)
{
	size_t n;

	wr_u8(w, a->atyp);
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		wr_bytes(w, a->ip, 4);
		break;
	case SOCKS5_ATYP_IPV6:
		wr_bytes(w, a->ip, 16);
		break;
	case SOCKS5_ATYP_DOMAIN:
		n = strnlen(a->host, sizeof(a->host));
		if (n == 0 || n > 255) {
			w->fail = 1;
			return;
		}
		wr_u8(w, (uint8_t)n);
		wr_bytes(w, a->host, n);
		break;
	default:
		w->fail = 1;
		return;
	}
	wr_u16(w, a->port);
}

static size_t wr_done(const wr_t *w)
{
	return w->fail ? 0 : w->pos;
}

/* Two bytes: a version and a code (a method choice, an auth status). */
static size_t wr_pair(uint8_t *out, size_t cap, uint8_t ver, uint8_t code)
{
	wr_t w = {out, cap, 0, 0};

	wr_u8(&w, ver);
	wr_u8(&w, code);
	return wr_done(&w);
}

/* VER, a command or reply code, RSV, an address: a SOCKS5 request or
 * reply. */
static size_t wr_v5_addr(uint8_t *out, size_t cap, uint8_t code, const socks_addr_t *a)
{
	wr_t w = {out, cap, 0, 0};

	wr_u8(&w, SOCKS5_VER);
	wr_u8(&w, code);
	wr_u8(&w, 0);
	wr_addr(&w, a);
	return wr_done(&w);
}

/* --- addresses -------------------------------------------------------------- */

int socks_addr_from_sa(socks_addr_t *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		a->atyp = SOCKS5_ATYP_IPV4;
		memcpy(a->ip, &in->sin_addr, 4);
		a->port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		a->atyp = SOCKS5_ATYP_IPV6;
		memcpy(a->ip, &in6->sin6_addr, 16);
		a->port = ntohs(in6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int socks_addr_to_sa(const socks_addr_t *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->atyp == SOCKS5_ATYP_IPV4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a->ip, 4);
		in->sin_port = htons(a->port);
		return 0;
	}
	if (a->atyp == SOCKS5_ATYP_IPV6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a->ip, 16);
		in6->sin6_port = htons(a->port);
		return 0;
	}
	return -EINVAL;
}

int socks_addr_set_host(socks_addr_t *a, const char *host, uint16_t port)
{
	size_t n = strlen(host);

	memset(a, 0, sizeof(*a));
	a->port = port;
	if (inet_pton(AF_INET, host, a->ip) == 1) {
		a->atyp = SOCKS5_ATYP_IPV4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, a->ip) == 1) {
		a->atyp = SOCKS5_ATYP_IPV6;
		return 0;
	}
	if (n == 0 || n > 255)
		return -EINVAL;
	a->atyp = SOCKS5_ATYP_DOMAIN;
	memcpy(a->host, host, n + 1);
	return 0;
}

void socks_addr_host(const socks_addr_t *a, char *buf, size_t len)
{
	if (!len)
		return;
	buf[0] = 0;
	if (a->atyp == SOCKS5_ATYP_IPV4)
		inet_ntop(AF_INET, a->ip, buf, (socklen_t)len);
	else if (a->atyp == SOCKS5_ATYP_IPV6)
		inet_ntop(AF_INET6, a->ip, buf, (socklen_t)len);
	else if (a->atyp == SOCKS5_ATYP_DOMAIN)
		snprintf(buf, len, "%s", a->host);
}

/* --- SOCKS5 server side ------------------------------------------------------ */

socks_res_t socks5_greeting_parse(const uint8_t *buf, size_t len, socks5_greeting_t *g,
                                  size_t *used)
{
	rd_t r = {buf, len, 0, 0};
	socks_res_t res = rd_ver_vec(&r, SOCKS5_VER, &g->nmethods, g->methods);

	return res != SOCKS_OK ? res : rd_done(&r, used);
}

int socks5_greeting_has(const socks5_greeting_t *g, uint8_t method)
{
	return memchr(g->methods, method, g->nmethods) != NULL;
}

size_t socks5_method_encode(uint8_t *out, size_t cap, uint8_t method)
{
	return wr_pair(out, cap, SOCKS5_VER, method);
}

socks_res_t socks5_userpass_parse(const uint8_t *buf, size_t len, socks5_userpass_t *up,
                                  size_t *used)
{
	rd_t r = {buf, len, 0, 0};
	socks_res_t res = rd_ver_vec(&r, SOCKS5_AUTH_VER, &up->ulen, up->user);

	if (res != SOCKS_OK)
		return res;
	up->plen = rd_u8(&r);
	rd_bytes(&r, up->pass, up->plen);
	if (r.shrt)
		return SOCKS_NEED_MORE;
	up->user[up->ulen] = 0;
	up->pass[up->plen] = 0;
	return rd_done(&r, used);
}

size_t socks5_auth_status_encode(uint8_t *out, size_t cap, uint8_t status)
{
	return wr_pair(out, cap, SOCKS5_AUTH_VER, status);
}

socks_res_t socks5_request_parse(const uint8_t *buf, size_t len, socks5_request_t *req,
                                 size_t *used)
{
	rd_t r = {buf, len, 0, 0};
	socks_res_t res;

	req->rep = 0;
	if ((res = rd_ver(&r, SOCKS5_VER, SOCKS5_VER)) != SOCKS_OK)
		return res;
	req->cmd = rd_u8(&r);
	if (r.shrt)
		return SOCKS_NEED_MORE;
	if (req->cmd != SOCKS_CMD_CONNECT && req->cmd != SOCKS_CMD_BIND &&
	    req->cmd != SOCKS_CMD_UDP) {
		req->rep = SOCKS5_REP_CMD_UNSUPP;
		return SOCKS_ERROR;
	}
	(void)rd_u8(&r); /* RSV: ignored, as most servers do */
	if (rd_addr(&r, &req->dst) < 0) {
		req->rep =
		    req->dst.atyp == SOCKS5_ATYP_DOMAIN ? SOCKS5_REP_FAIL : SOCKS5_REP_ATYP_UNSUPP;
		return SOCKS_ERROR;
	}
	return rd_done(&r, used);
}

size_t socks5_reply_encode(uint8_t *out, size_t cap, uint8_t rep, const socks_addr_t *bnd)
{
	static const socks_addr_t any = {.atyp = SOCKS5_ATYP_IPV4};

	return wr_v5_addr(out, cap, rep, bnd ? bnd : &any);
}

/* --- SOCKS4 / SOCKS4a server side -------------------------------------------- */

socks_res_t socks4_request_parse(const uint8_t *buf, size_t len, socks4_request_t *req,
                                 size_t *used)
{
	rd_t r = {buf, len, 0, 0};
	socks_res_t res = rd_ver(&r, SOCKS4_VER, SOCKS4_VER);

	if (res != SOCKS_OK)
		return res;
	req->cmd = rd_u8(&r);
	if (r.shrt)
		return SOCKS_NEED_MORE;
	if (req->cmd != SOCKS_CMD_CONNECT && req->cmd != SOCKS_CMD_BIND)
		return SOCKS_ERROR;
	req->port = rd_u16(&r);
	rd_bytes(&r, req->ip, 4);
	req->host[0] = 0;
	req->is_4a = 0;
	if (rd_cstr(&r, req->userid, SOCKS4_FIELD_MAX) < 0)
		return SOCKS_ERROR;
	if (r.shrt)
		return SOCKS_NEED_MORE;
	/* 4a: 0.0.0.x with x != 0 says "a hostname follows the userid". */
	if (req->ip[0] == 0 && req->ip[1] == 0 && req->ip[2] == 0 && req->ip[3] != 0) {
		req->is_4a = 1;
		if (rd_cstr(&r, req->host, SOCKS4_FIELD_MAX) < 0)
			return SOCKS_ERROR;
		if (r.shrt)
			return SOCKS_NEED_MORE;
		if (!req->host[0])
			return SOCKS_ERROR;
	}
	return rd_done(&r, used);
}

size_t socks4_reply_encode(uint8_t *out, size_t cap, uint8_t rep, uint16_t port,
                           const uint8_t ip[4])
{
	static const uint8_t zero[4];
	wr_t w = {out, cap, 0, 0};

	wr_u8(&w, 0);
	wr_u8(&w, rep);
	wr_u16(&w, port);
	wr_bytes(&w, ip ? ip : zero, 4);
	return wr_done(&w);
}

/* --- UDP ------------------------------------------------------------------- */

socks_res_t socks5_udp_parse(const uint8_t *buf, size_t len, socks5_udp_hdr_t *h, size_t *used)
{
	rd_t r = {buf, len, 0, 0};

	(void)rd_u16(&r); /* RSV */
	h->frag = rd_u8(&r);
	if (r.shrt)
		return SOCKS_NEED_MORE;
	if (rd_addr(&r, &h->dst) < 0)
		return SOCKS_ERROR;
	return rd_done(&r, used);
}

size_t socks5_udp_encode(uint8_t *out, size_t cap, const socks_addr_t *src)
{
	wr_t w = {out, cap, 0, 0};

	wr_u16(&w, 0);
	wr_u8(&w, 0);
	wr_addr(&w, src);
	return wr_done(&w);
}

/* --- client side ------------------------------------------------------------ */

size_t socks5_greeting_encode(uint8_t *out, size_t cap, const uint8_t *methods, size_t n)
{
	wr_t w = {out, cap, 0, 0};

	if (n == 0 || n > 255)
		return 0;
	wr_u8(&w, SOCKS5_VER);
	wr_u8(&w, (uint8_t)n);
	wr_bytes(&w, methods, n);
	return wr_done(&w);
}

size_t socks5_userpass_encode(uint8_t *out, size_t cap, const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = pass ? strlen(pass) : 0;
	wr_t w = {out, cap, 0, 0};

	if (ul == 0 || ul > 255 || pl > 255)
		return 0;
	wr_u8(&w, SOCKS5_AUTH_VER);
	wr_u8(&w, (uint8_t)ul);
	wr_bytes(&w, user, ul);
	wr_u8(&w, (uint8_t)pl);
	wr_bytes(&w, pass, pl);
	return wr_done(&w);
}

size_t socks5_request_encode(uint8_t *out, size_t cap, uint8_t cmd, const socks_addr_t *dst)
{
	return wr_v5_addr(out, cap, cmd, dst);
}

size_t socks4_request_encode(uint8_t *out, size_t cap, uint8_t cmd, uint16_t port,
                             const uint8_t ip[4], const char *userid, const char *host)
{
	static const uint8_t ip4a[4] = {0, 0, 0, 1};
	size_t ul = userid ? strlen(userid) : 0, hl = host ? strlen(host) : 0;
	wr_t w = {out, cap, 0, 0};

	if (ul > SOCKS4_FIELD_MAX || hl > SOCKS4_FIELD_MAX || (host && !hl) || (!host && !ip))
		return 0;
	wr_u8(&w, SOCKS4_VER);
	wr_u8(&w, cmd);
	wr_u16(&w, port);
	wr_bytes(&w, host ? ip4a : ip, 4);
	wr_bytes(&w, userid, ul);
	wr_u8(&w, 0);
	if (host) {
		wr_bytes(&w, host, hl);
		wr_u8(&w, 0);
	}
	return wr_done(&w);
}

socks_res_t socks5_method_parse(const uint8_t *buf, size_t len, uint8_t *method, size_t *used)
{
	rd_t r = {buf, len, 0, 0};
	socks_res_t res = rd_ver(&r, SOCKS5_VER, SOCKS5_VER);

	if (res != SOCKS_OK)
		return res;
	*method = rd_u8(&r);
	return rd_done(&r, used);
}

socks_res_t socks5_auth_status_parse(const uint8_t *buf, size_t len, uint8_t *status, size_t *used)
{
	rd_t r = {buf, len, 0, 0};
	socks_res_t res = rd_ver(&r, SOCKS5_AUTH_VER, SOCKS5_VER);

	if (res != SOCKS_OK)
		return res;
	*status = rd_u8(&r);
	return rd_done(&r, used);
}

socks_res_t socks5_reply_parse(const uint8_t *buf, size_t len, socks5_reply_t *rp, size_t *used)
{
	rd_t r = {buf, len, 0, 0};
	socks_res_t res = rd_ver(&r, SOCKS5_VER, SOCKS5_VER);

	if (res != SOCKS_OK)
		return res;
	rp->rep = rd_u8(&r);
	(void)rd_u8(&r);
	if (rd_addr(&r, &rp->bnd) < 0)
		return SOCKS_ERROR;
	return rd_done(&r, used);
}

socks_res_t socks4_reply_parse(const uint8_t *buf, size_t len, uint8_t *rep, size_t *used)
{
	rd_t r = {buf, len, 0, 0};
	socks_res_t res = rd_ver(&r, 0, SOCKS4_VER);
	uint8_t skip[6];

	if (res != SOCKS_OK)
		return res;
	*rep = rd_u8(&r);
	rd_bytes(&r, skip, sizeof(skip));
	return rd_done(&r, used);
}

/* --- errors ------------------------------------------------------------------ */

uint8_t socks5_rep_from_err(int err)
{
	switch (err) {
	case 0:
		return SOCKS5_REP_OK;
	case UV_EACCES:
	case UV_EPERM:
		return SOCKS5_REP_NOT_ALLOWED;
	case UV_ENETUNREACH:
	case UV_ENETDOWN:
		return SOCKS5_REP_NET_UNREACH;
	case UV_EHOSTUNREACH:
	case UV_EHOSTDOWN:
	case UV_EAI_NONAME:
	case UV_EAI_NODATA:
		return SOCKS5_REP_HOST_UNREACH;
	case UV_ECONNREFUSED:
		return SOCKS5_REP_REFUSED;
	case UV_ETIMEDOUT:
		return SOCKS5_REP_TTL_EXPIRED;
	case UV_ENOTSUP:
		return SOCKS5_REP_CMD_UNSUPP;
	case UV_EAFNOSUPPORT:
		return SOCKS5_REP_ATYP_UNSUPP;
	default:
		return SOCKS5_REP_FAIL;
	}
}

int socks5_err_from_rep(uint8_t rep)
{
	switch (rep) {
	case SOCKS5_REP_OK:
		return 0;
	case SOCKS5_REP_FAIL:
		return UV_EIO;
	case SOCKS5_REP_NOT_ALLOWED:
		return UV_EACCES;
	case SOCKS5_REP_NET_UNREACH:
		return UV_ENETUNREACH;
	case SOCKS5_REP_HOST_UNREACH:
		return UV_EHOSTUNREACH;
	case SOCKS5_REP_REFUSED:
		return UV_ECONNREFUSED;
	case SOCKS5_REP_TTL_EXPIRED:
		return UV_ETIMEDOUT;
	case SOCKS5_REP_CMD_UNSUPP:
		return UV_ENOTSUP;
	case SOCKS5_REP_ATYP_UNSUPP:
		return UV_EAFNOSUPPORT;
	default:
		return UV_EPROTO;
	}
}

const char *socks5_rep_str(uint8_t rep)
{
	static const char *const s[] = {
	    "succeeded",
	    "general SOCKS server failure",
	    "connection not allowed by ruleset",
	    "network unreachable",
	    "host unreachable",
	    "connection refused",
	    "TTL expired",
	    "command not supported",
	    "address type not supported",
	};

	return rep < sizeof(s) / sizeof(s[0]) ? s[rep] : "unknown reply code";
}

/* --- tunnel open failures ---------------------------------------------- */

#define NAME_NOT_FOUND "name not found"

size_t tun_fail_encode(int err, uint8_t *out, size_t cap)
{
	const char *msg = err == UV_EAI_NONAME ? NAME_NOT_FOUND : uv_strerror(err);
	size_t n = strlen(msg) > 64 ? 64 : strlen(msg);

	if (cap < 1 + n)
		return 0;
	out[0] = socks5_rep_from_err(err);
	memcpy(out + 1, msg, n);
	return 1 + n;
}

static int has_text(const uint8_t *p, size_t len, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i + n <= len; i++)
		if (!strncasecmp((const char *)p + i, word, n))
			return 1;
	return 0;
}

int tun_fail_err(const uint8_t *body, size_t len)
{
	if (len < 1)
		return UV_EPROTO;
	if (body[0] == SOCKS5_REP_HOST_UNREACH &&
	    (has_text(body + 1, len - 1, NAME_NOT_FOUND) ||
	     has_text(body + 1, len - 1, "unknown node or service")))
		return UV_EAI_NONAME;
	return socks5_err_from_rep(body[0]);
}

int tun_err_from_text(const char *text)
{
	static const struct {
		const char *word;
		int err;
	} words[] = {
	    {NAME_NOT_FOUND, UV_EAI_NONAME},
	    {"unknown node or service", UV_EAI_NONAME},   /* libuv */
	    {"name or service not known", UV_EAI_NONAME}, /* glibc, as Python says it */
	    {"nodename nor servname", UV_EAI_NONAME},     /* BSD */
	    {"no address associated", UV_EAI_NONAME},
	    {"refused", UV_ECONNREFUSED},
	    {"connect call failed", UV_ECONNREFUSED}, /* asyncio's refused connect */
	    {"timed out", UV_ETIMEDOUT},
	    {"timeout", UV_ETIMEDOUT},
	    {"network is unreachable", UV_ENETUNREACH},
	    {"unreachable", UV_EHOSTUNREACH},
	};
	size_t len = strlen(text);

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (has_text((const uint8_t *)text, len, words[i].word))
			return words[i].err;
	return 0;
}
