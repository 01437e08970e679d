/* sstp_proto: see sstp_proto.h.
 *
 * How the parsers decide.  Every length is read from the wire and checked
 * against what we hold before a byte behind it is touched:
 *
 *   sstp_packet_len     version first (one byte is enough to refuse a
 *                       stream that is not SSTP), then the 12-bit length,
 *                       which must cover at least the header.
 *   sstp_parse_control  the header must say control, version 0x10, and a
 *                       length equal to what the caller hands us; the
 *                       message type must be one of the nine; the count of
 *                       attributes must be at most SSTP_MAX_ATTRS; each
 *                       attribute must carry a value (no MS-SSTP attribute
 *                       is empty) and end inside the packet; the last one
 *                       must end exactly where the packet ends.
 *   decoders            check the attribute id and the value length of
 *                       their layout (MS-SSTP 2.2.6, 2.2.8).
 *   sstp_http_response  "HTTP/1.0" or "HTTP/1.1", a space, three digits,
 *                       then a space or the end of the line; the head ends
 *                       at the first CRLF CRLF; no NUL, bare CR or bare LF
 *                       inside it.  A prefix
 *                       that cannot start such a line is refused at once,
 *                       without waiting for more bytes.
 *
 * Reserved bits and bytes are ignored on receipt and zero when sent, as the
 * specification says.  The crypto binding uses HMAC from OpenSSL's default
 * provider; intermediate keys are wiped after use.
 *
 * sstp_http_request() also answers 0 for a host or correlation id holding
 * a control character (CR, LF, ...), so nobody can inject header lines.
 */
#include "sstp/sstp_proto.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/bytes.h"
#include "core/crypto.h"

#define ATTR_HDR_LEN 4
#define CTRL_HDR_LEN 8 /* packet header + message type + attribute count */

#define BINDING_REQ_VAL 36 /* reserved 3, bitmask 1, nonce 32 */
#define BINDING_ATTR_LEN 104
#define STATUS_VAL_MIN 8 /* reserved 3, attribute id 1, status 4 */
#define STATUS_EXTRA_MAX 64

#define HTTP_HEAD_MAX 4096

static const char cmk_seed[] = "SSTP inner method derived CMK";

/* the 12-bit length of a packet or attribute header, at p */
static size_t len12(const uint8_t *p)
{
	return get_be16(p) & 0x0fff;
}

static void put_hdr(uint8_t *out, int control, size_t len)
{
	out[0] = SSTP_VERSION;
	out[1] = control ? 1 : 0;
	put_be16(out + 2, (uint16_t)(len & 0x0fff));
}

static void put_attr_hdr(uint8_t *out, uint8_t id, size_t len)
{
	out[0] = 0;
	out[1] = id;
	put_be16(out + 2, (uint16_t)(len & 0x0fff));
}

/* ---- framing ---- */

int sstp_packet_len(const uint8_t *buf, size_t len)
{
	size_t n;

	if (len < 1)
		return 0;
	if (buf[0] != SSTP_VERSION)
		return -1;
	if (len < SSTP_HDR_LEN)
		return 0;
	n = len12(buf + 2);
	if (n < SSTP_HDR_LEN)
		return -1;
	return len >= n ? (int)n : 0;
}

int sstp_is_control(const uint8_t *pkt)
{
	return pkt[1] & 1;
}

void sstp_data_header(uint8_t out[4], size_t payload_len)
{
	assert(payload_len + SSTP_HDR_LEN <= SSTP_MAX_PACKET);
	put_hdr(out, 0, payload_len + SSTP_HDR_LEN);
}

/* ---- a byte stream into packets ---- */

/* Whole packets at p: the bytes used (a partial packet at the end is
 * left), or SSTP_RX_STOP / SSTP_RX_BAD. */
static long rx_packets(const uint8_t *p, size_t len, const sstp_rx_cbs_t *cbs, void *ud)
{
	size_t off = 0;
	int n;

	while (off < len) {
		n = sstp_packet_len(p + off, len - off);
		if (n == 0)
			break;
		if (n < 0)
			return SSTP_RX_BAD;
		if (cbs->packet(ud, p + off, (size_t)n) < 0)
			return SSTP_RX_STOP;
		off += (size_t)n;
	}
	return (long)off;
}

/* What buf holds: the head first, then packets. */
static int rx_consume(sstp_rx_t *rx, const sstp_rx_cbs_t *cbs, void *ud)
{
	size_t off = 0;
	long n;

	if (rx->in_head) {
		n = cbs->head(ud, rx->buf, rx->len);
		if (n == 0)
			return rx->len == sizeof(rx->buf) ? SSTP_RX_LONG : 0;
		if (n < 0)
			return SSTP_RX_STOP;
		rx->in_head = 0;
		off = (size_t)n;
	}
	if ((n = rx_packets(rx->buf + off, rx->len - off, cbs, ud)) < 0)
		return (int)n;
	off += (size_t)n;
	memmove(rx->buf, rx->buf + off, rx->len - off);
	rx->len -= off;
	return 0;
}

int sstp_rx_feed(sstp_rx_t *rx, const uint8_t *p, size_t len, const sstp_rx_cbs_t *cbs, void *ud)
{
	int r;

	if (!rx->len && !rx->in_head) {
		long n = rx_packets(p, len, cbs, ud);
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	while (len) {
		size_t n = sizeof(rx->buf) - rx->len;
		if (n > len)
			n = len;
		memcpy(rx->buf + rx->len, p, n);
		rx->len += n;
		p += n;
		len -= n;
		if ((r = rx_consume(rx, cbs, ud)) < 0)
			return r;
	}
	return 0;
}

/* ---- control messages ---- */

int sstp_parse_control(const uint8_t *pkt, size_t len, sstp_ctrl_t *c)
{
	size_t off, alen;
	unsigned n, i;

	if (len < CTRL_HDR_LEN || pkt[0] != SSTP_VERSION || !(pkt[1] & 1) || len12(pkt + 2) != len)
		return -1;
	c->type = get_be16(pkt + 4);
	if (c->type < SSTP_MSG_CALL_CONNECT_REQUEST || c->type > SSTP_MSG_ECHO_RESPONSE)
		return -1;
	n = get_be16(pkt + 6);
	if (n > SSTP_MAX_ATTRS)
		return -1;
	off = CTRL_HDR_LEN;
	for (i = 0; i < n; i++) {
		if (len - off < ATTR_HDR_LEN)
			return -1;
		alen = len12(pkt + off + 2);
		if (alen <= ATTR_HDR_LEN || alen > len - off)
			return -1;
		c->attrs[i].id = pkt[off + 1];
		c->attrs[i].val = pkt + off + ATTR_HDR_LEN;
		c->attrs[i].len = alen - ATTR_HDR_LEN;
		off += alen;
	}
	if (off != len)
		return -1;
	c->nattrs = n;
	return 0;
}

const sstp_attr_t *sstp_find_attr(const sstp_ctrl_t *c, uint8_t id)
{
	unsigned i;

	for (i = 0; i < c->nattrs && i < SSTP_MAX_ATTRS; i++)
		if (c->attrs[i].id == id)
			return &c->attrs[i];
	return NULL;
}

int sstp_attr_binding_req(const sstp_attr_t *a, uint8_t *hash_mask, uint8_t nonce[32])
{
	if (a->id != SSTP_ATTR_CRYPTO_BINDING_REQ || a->len != BINDING_REQ_VAL)
		return -1;
	*hash_mask = a->val[3];
	memcpy(nonce, a->val + 4, 32);
	return 0;
}

int sstp_attr_status(const sstp_attr_t *a, uint8_t *attr_id, uint32_t *status,
                     const uint8_t **extra, size_t *extra_len)
{
	if (a->id != SSTP_ATTR_STATUS_INFO || a->len < STATUS_VAL_MIN ||
	    a->len > STATUS_VAL_MIN + STATUS_EXTRA_MAX)
		return -1;
	*attr_id = a->val[3];
	*status = get_be32(a->val + 4);
	*extra_len = a->len - STATUS_VAL_MIN;
	*extra = *extra_len ? a->val + STATUS_VAL_MIN : NULL;
	return 0;
}

uint32_t sstp_ctrl_status(const sstp_ctrl_t *c)
{
	const sstp_attr_t *a = sstp_find_attr(c, SSTP_ATTR_STATUS_INFO);
	const uint8_t *x;
	uint8_t id = 0;
	uint32_t st = SSTP_STATUS_NO_ERROR;
	size_t xl;

	if (a && sstp_attr_status(a, &id, &st, &x, &xl) < 0)
		st = SSTP_STATUS_NO_ERROR;
	return st;
}

const char *sstp_msg_name(uint16_t type)
{
	static const char *const names[] = {
	    [SSTP_MSG_CALL_CONNECT_REQUEST] = "CALL_CONNECT_REQUEST",
	    [SSTP_MSG_CALL_CONNECT_ACK] = "CALL_CONNECT_ACK",
	    [SSTP_MSG_CALL_CONNECT_NAK] = "CALL_CONNECT_NAK",
	    [SSTP_MSG_CALL_CONNECTED] = "CALL_CONNECTED",
	    [SSTP_MSG_CALL_ABORT] = "CALL_ABORT",
	    [SSTP_MSG_CALL_DISCONNECT] = "CALL_DISCONNECT",
	    [SSTP_MSG_CALL_DISCONNECT_ACK] = "CALL_DISCONNECT_ACK",
	    [SSTP_MSG_ECHO_REQUEST] = "ECHO_REQUEST",
	    [SSTP_MSG_ECHO_RESPONSE] = "ECHO_RESPONSE",
	};

	if (type >= sizeof(names) / sizeof(names[0]) || !names[type])
		return "?";
	return names[type];
}

const char *sstp_status_name(uint32_t status)
{
	static const char *const names[] = {
	    [SSTP_STATUS_NO_ERROR] = "NO_ERROR",
	    [SSTP_STATUS_DUPLICATE_ATTRIBUTE] = "DUPLICATE_ATTRIBUTE",
	    [SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE] = "UNRECOGNIZED_ATTRIBUTE",
	    [SSTP_STATUS_INVALID_ATTRIB_VALUE_LENGTH] = "INVALID_ATTRIB_VALUE_LENGTH",
	    [SSTP_STATUS_VALUE_NOT_SUPPORTED] = "VALUE_NOT_SUPPORTED",
	    [SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED] = "UNACCEPTED_FRAME_RECEIVED",
	    [SSTP_STATUS_RETRY_COUNT_EXCEEDED] = "RETRY_COUNT_EXCEEDED",
	    [SSTP_STATUS_INVALID_FRAME_RECEIVED] = "INVALID_FRAME_RECEIVED",
	    [SSTP_STATUS_NEGOTIATION_TIMEOUT] = "NEGOTIATION_TIMEOUT",
	    [SSTP_STATUS_ATTRIB_NOT_SUPPORTED_IN_MSG] = "ATTRIB_NOT_SUPPORTED_IN_MSG",
	    [SSTP_STATUS_REQUIRED_ATTRIBUTE_MISSING] = "REQUIRED_ATTRIBUTE_MISSING",
	    [SSTP_STATUS_STATUS_INFO_NOT_SUPPORTED_IN_MSG] = "STATUS_INFO_NOT_SUPPORTED_IN_MSG",
	};

	if (status >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[status];
}

/* ---- encoders ---- */

static void put_ctrl_hdr(uint8_t *out, size_t len, uint16_t type, uint16_t nattrs)
{
	put_hdr(out, 1, len);
	put_be16(out + 4, type);
	put_be16(out + 6, nattrs);
}

size_t sstp_enc_connect_request(uint8_t out[14])
{
	put_ctrl_hdr(out, 14, SSTP_MSG_CALL_CONNECT_REQUEST, 1);
	put_attr_hdr(out + 8, SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID, 6);
	put_be16(out + 12, SSTP_ENCAP_PPP);
	return 14;
}

size_t sstp_enc_plain(uint8_t out[8], uint16_t type)
{
	put_ctrl_hdr(out, 8, type, 0);
	return 8;
}

size_t sstp_enc_status(uint8_t out[20], uint16_t type, uint8_t attr_id, uint32_t status)
{
	if (status == SSTP_STATUS_NO_ERROR && attr_id == SSTP_ATTR_NO_ERROR)
		return sstp_enc_plain(out, type);
	put_ctrl_hdr(out, 20, type, 1);
	put_attr_hdr(out + 8, SSTP_ATTR_STATUS_INFO, 12);
	memset(out + 12, 0, 3);
	out[15] = attr_id;
	put_be32(out + 16, status);
	return 20;
}

static const EVP_MD *hash_md(uint8_t hash)
{
	switch (hash) {
	case SSTP_HASH_SHA1:
		return EVP_sha1();
	case SSTP_HASH_SHA256:
		return EVP_sha256();
	}
	return NULL;
}

void sstp_hlak_client(uint8_t hlak[32], const uint8_t *send_key16, const uint8_t *recv_key16)
{
	if (!send_key16 || !recv_key16) {
		memset(hlak, 0, 32);
		return;
	}
	memcpy(hlak, send_key16, 16);
	memcpy(hlak + 16, recv_key16, 16);
}

size_t sstp_cmk(uint8_t hash, const uint8_t hlak[32], uint8_t out[32])
{
	const EVP_MD *md = hash_md(hash);
	uint8_t msg[sizeof(cmk_seed) - 1 + 3], d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	size_t n;

	if (!md)
		return 0;
	n = (size_t)EVP_MD_get_size(md);
	memcpy(msg, cmk_seed, sizeof(cmk_seed) - 1);
	msg[sizeof(cmk_seed) - 1] = (uint8_t)n; /* LEN, little endian */
	msg[sizeof(cmk_seed)] = (uint8_t)(n >> 8);
	msg[sizeof(cmk_seed) + 1] = 0x01;
	if (!HMAC(md, hlak, 32, msg, sizeof(msg), d, &dl) || dl != n)
		return 0;
	memset(out, 0, 32);
	memcpy(out, d, n);
	OPENSSL_cleanse(d, sizeof(d));
	return n;
}

size_t sstp_enc_call_connected(uint8_t out[SSTP_CALL_CONNECTED_LEN], uint8_t hash,
                               const uint8_t nonce[32], const uint8_t *cert_hash,
                               const uint8_t hlak[32])
{
	const EVP_MD *md = hash_md(hash);
	uint8_t cmk[32], mac[EVP_MAX_MD_SIZE], *a = out + CTRL_HDR_LEN;
	unsigned ml = 0;
	size_t n;

	if (!md)
		return 0;
	n = (size_t)EVP_MD_get_size(md);
	memset(out, 0, SSTP_CALL_CONNECTED_LEN);
	put_ctrl_hdr(out, SSTP_CALL_CONNECTED_LEN, SSTP_MSG_CALL_CONNECTED, 1);
	put_attr_hdr(a, SSTP_ATTR_CRYPTO_BINDING, BINDING_ATTR_LEN);
	a[7] = hash;
	memcpy(a + 8, nonce, 32);
	memcpy(a + 40, cert_hash, n); /* the rest stays zero */
	/* the Compound MAC field (a + 72) is zero while the MAC is computed */
	if (sstp_cmk(hash, hlak, cmk) != n ||
	    !HMAC(md, cmk, (int)n, out, SSTP_CALL_CONNECTED_LEN, mac, &ml) || ml != n) {
		OPENSSL_cleanse(cmk, sizeof(cmk));
		return 0;
	}
	memcpy(a + 72, mac, n);
	OPENSSL_cleanse(cmk, sizeof(cmk));
	return SSTP_CALL_CONNECTED_LEN;
}

/* ---- the HTTP exchange ---- */

static int header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

size_t sstp_http_request(char *out, size_t cap, const char *host, const char *guid)
{
	int n;

	if (!header_safe(host) || !header_safe(guid))
		return 0;
	n = snprintf(out, cap,
	             "SSTP_DUPLEX_POST " SSTP_URI " HTTP/1.1\r\n"
	             "Host: %s\r\n"
	             "SSTPCORRELATIONID: %s\r\n"
	             "Content-Length: 18446744073709551615\r\n"
	             "\r\n",
	             host, guid);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

void sstp_guid(char out[39])
{
	uint8_t b[16];

	random_bytes(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4: random */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 39, "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

static int is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* Does buf (n bytes, maybe only the start of it) fit "HTTP/1.x NNN" followed
 * by a space or CR?  -1 no, 0 cannot tell yet, 1 yes. */
static int status_line_ok(const uint8_t *buf, size_t n)
{
	static const char proto[] = "HTTP/1.";
	size_t i;

	for (i = 0; i < n && i < 13; i++) {
		uint8_t c = buf[i];
		int ok;

		if (i < 7)
			ok = c == (uint8_t)proto[i];
		else if (i == 7)
			ok = c == '0' || c == '1';
		else if (i == 8)
			ok = c == ' ';
		else if (i < 12)
			ok = is_digit(c);
		else
			ok = c == ' ' || c == '\r';
		if (!ok)
			return -1;
	}
	return i == 13 ? 1 : 0;
}

/* Where a head ends: 1 with *end at the last LF of its CR LF CR LF (and
 * *eol at the first line's LF), 0 when more bytes are needed, -1 when a
 * byte before it is a NUL, a bare CR or a bare LF, or no end within
 * HTTP_HEAD_MAX. */
static int head_end(const uint8_t *buf, size_t len, size_t *end, size_t *eol)
{
	size_t n = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, i, first = 0;

	for (i = 0; i < n; i++) {
		if (buf[i] == 0)
			return -1;
		if (buf[i] == '\r' && i + 1 < n && buf[i + 1] != '\n')
			return -1;
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return -1;
		if (buf[i] == '\n' && !first)
			first = i;
		if (i >= 3 && buf[i] == '\n' && buf[i - 2] == '\n')
			break; /* CR LF CR LF, given the two rules above */
	}
	if (i == n)
		return len >= HTTP_HEAD_MAX ? -1 : 0;
	*end = i;
	if (eol)
		*eol = first;
	return 1;
}

int sstp_http_response(const uint8_t *buf, size_t len, int *status)
{
	size_t n = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX, i;
	int st, code, r;

	st = status_line_ok(buf, n);
	if (st < 0)
		return -1;
	if ((r = head_end(buf, len, &i, NULL)) <= 0)
		return r;
	if (st != 1)
		return -1; /* the head ended inside the status line */
	code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (code < 100 || code > 599)
		return -1;
	*status = code;
	return (int)(i + 1);
}

int sstp_hash_list_parse(const char *v, unsigned *mask, char *err, size_t errlen)
{
	char buf[64], *tok, *save;

	*mask = 0;
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "sha256"))
			*mask |= SSTP_HASH_SHA256;
		else if (!strcmp(tok, "sha1"))
			*mask |= SSTP_HASH_SHA1;
		else {
			snprintf(err, errlen, "option 'hash': '%s' is not sha256 or sha1", tok);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- the server side ---- */

size_t sstp_enc_connect_ack(uint8_t out[SSTP_CONNECT_ACK_LEN], uint8_t hash_mask,
                            const uint8_t nonce[32])
{
	put_ctrl_hdr(out, SSTP_CONNECT_ACK_LEN, SSTP_MSG_CALL_CONNECT_ACK, 1);
	put_attr_hdr(out + 8, SSTP_ATTR_CRYPTO_BINDING_REQ, ATTR_HDR_LEN + BINDING_REQ_VAL);
	memset(out + 12, 0, 3);
	out[15] = hash_mask;
	memcpy(out + 16, nonce, 32);
	return SSTP_CONNECT_ACK_LEN;
}

int sstp_attr_encap(const sstp_attr_t *a, uint16_t *proto)
{
	if (a->id != SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID || a->len != 2)
		return -1;
	*proto = get_be16(a->val);
	return 0;
}

void sstp_hlak_server(uint8_t hlak[32], const uint8_t *send_key16, const uint8_t *recv_key16)
{
	/* the client's send key is our receive key */
	sstp_hlak_client(hlak, recv_key16, send_key16);
}

int sstp_check_call_connected(const uint8_t *pkt, size_t len, uint8_t hash_mask,
                              const uint8_t nonce[32], const uint8_t cert_sha1[20],
                              const uint8_t cert_sha256[32], const uint8_t hlak[32], uint8_t *hash)
{
	sstp_ctrl_t c;
	const sstp_attr_t *a;
	uint8_t want[SSTP_CALL_CONNECTED_LEN], h;
	const uint8_t *cert;
	int same;

	if (len != SSTP_CALL_CONNECTED_LEN || sstp_parse_control(pkt, len, &c) < 0 ||
	    c.type != SSTP_MSG_CALL_CONNECTED || c.nattrs != 1 ||
	    !(a = sstp_find_attr(&c, SSTP_ATTR_CRYPTO_BINDING)) ||
	    a->len != BINDING_ATTR_LEN - ATTR_HDR_LEN)
		return SSTP_BIND_MALFORMED;
	h = a->val[3];
	if ((h != SSTP_HASH_SHA1 && h != SSTP_HASH_SHA256) || !(h & hash_mask))
		return SSTP_BIND_HASH;
	if (CRYPTO_memcmp(a->val + 4, nonce, 32))
		return SSTP_BIND_NONCE;
	cert = h == SSTP_HASH_SHA256 ? cert_sha256 : cert_sha1;
	if (CRYPTO_memcmp(a->val + 36, cert, h == SSTP_HASH_SHA256 ? 32 : 20))
		return SSTP_BIND_CERT;
	if (sstp_enc_call_connected(want, h, nonce, cert, hlak) != SSTP_CALL_CONNECTED_LEN)
		return SSTP_BIND_MALFORMED;
	same = !CRYPTO_memcmp(want, pkt, SSTP_CALL_CONNECTED_LEN);
	OPENSSL_cleanse(want, sizeof(want));
	if (!same)
		return SSTP_BIND_MAC;
	*hash = h;
	return 0;
}

const char *sstp_bind_error(int e)
{
	switch (e) {
	case SSTP_BIND_MALFORMED:
		return "malformed Call Connected";
	case SSTP_BIND_HASH:
		return "a crypto binding hash that was not offered";
	case SSTP_BIND_NONCE:
		return "the nonce is not ours";
	case SSTP_BIND_CERT:
		return "the client saw another certificate (a TLS man in the middle?)";
	case SSTP_BIND_MAC:
		return "the Compound MAC is wrong";
	}
	return "?";
}

int sstp_http_request_parse(const uint8_t *buf, size_t len, int *sstp)
{
	static const char method[] = "SSTP_DUPLEX_POST ", uri[] = SSTP_URI;
	size_t i, eol = 0, sp;
	int r;

	if ((r = head_end(buf, len, &i, &eol)) <= 0)
		return r;
	/* the request line: METHOD SP TARGET SP HTTP/1.x CR LF */
	if (eol < 10 || memcmp(buf + eol - 10, " HTTP/1.", 8) ||
	    (buf[eol - 2] != '0' && buf[eol - 2] != '1'))
		return -1;
	for (sp = 0; sp < eol && buf[sp] != ' '; sp++)
		;
	if (sp == 0 || sp >= eol - 10)
		return -1;
	*sstp = sp + 1 == sizeof(method) - 1 && !memcmp(buf, method, sizeof(method) - 1) &&
	        eol - 10 - (sp + 1) == sizeof(uri) - 1 &&
	        !strncasecmp((const char *)buf + sp + 1, uri, sizeof(uri) - 1);
	return (int)(i + 1);
}

size_t sstp_http_ok(char *out, size_t cap, long long now)
{
	char date[64];
	time_t t = (time_t)now;
	struct tm tm;
	int n;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	n = snprintf(out, cap,
	             "HTTP/1.1 200 OK\r\n"
	             "Content-Length: 18446744073709551615\r\n"
	             "Server: Microsoft-HTTPAPI/2.0\r\n"
	             "Date: %s\r\n"
	             "\r\n",
	             date);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}
