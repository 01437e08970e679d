/* extorport: see extorport.h.  The pure handshake first, then the loop
 * driver, which only moves bytes between a stream and extor_hs_feed(). */
#include "front/extorport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/prebuf.h"

static const char cookie_header[32] = "! Extended ORPort Auth Cookie !\n";
static const char *const labels[2] = {"ExtORPort authentication server-to-client hash",
                                      "ExtORPort authentication client-to-server hash"};
static const char *const state_names[] = {"authtypes", "serverhash", "status",
                                          "reply",     "done",       "failed"};

const char *extor_state_name(extor_state_t s)
{
	return state_names[s];
}

int extor_cookie_parse(const uint8_t *buf, size_t len, uint8_t cookie[EXTOR_COOKIE_LEN])
{
	if (len != EXTOR_COOKIE_FILE_LEN || memcmp(buf, cookie_header, sizeof(cookie_header)))
		return -EINVAL;
	memcpy(cookie, buf + sizeof(cookie_header), EXTOR_COOKIE_LEN);
	return 0;
}

int extor_cookie_load(const char *path, uint8_t cookie[EXTOR_COOKIE_LEN])
{
	uint8_t buf[EXTOR_COOKIE_FILE_LEN + 1];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf));
	r = n < 0 ? -errno : extor_cookie_parse(buf, (size_t)n, cookie);
	close(fd);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

void extor_hash(const uint8_t cookie[EXTOR_COOKIE_LEN], int which,
                const uint8_t cn[EXTOR_NONCE_LEN], const uint8_t sn[EXTOR_NONCE_LEN],
                uint8_t out[EXTOR_HASH_LEN])
{
	uint8_t msg[64 + 2 * EXTOR_NONCE_LEN];
	size_t ll = strlen(labels[which]);

	memcpy(msg, labels[which], ll);
	memcpy(msg + ll, cn, EXTOR_NONCE_LEN);
	memcpy(msg + ll + EXTOR_NONCE_LEN, sn, EXTOR_NONCE_LEN);
	hmac_sha256(cookie, EXTOR_COOKIE_LEN, msg, ll + 2 * EXTOR_NONCE_LEN, out);
}

size_t extor_cmd_encode(uint8_t *out, size_t cap, uint16_t cmd, const void *body, size_t len)
{
	if (len > 0xffff || cap < 4 + len)
		return 0;
	out[0] = (uint8_t)(cmd >> 8);
	out[1] = (uint8_t)cmd;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	if (len)
		memcpy(out + 4, body, len);
	return 4 + len;
}

extor_res_t extor_cmd_parse(const uint8_t *buf, size_t len, uint16_t *cmd, const uint8_t **body,
                            size_t *blen, size_t *used)
{
	size_t n;

	if (len < 4)
		return EXTOR_MORE;
	n = (size_t)buf[2] << 8 | buf[3];
	if (len < 4 + n)
		return EXTOR_MORE;
	*cmd = (uint16_t)(buf[0] << 8 | buf[1]);
	*body = buf + 4;
	*blen = n;
	*used = 4 + n;
	return EXTOR_OK;
}

void extor_hs_init(extor_hs_t *hs, const uint8_t cookie[EXTOR_COOKIE_LEN],
                   const uint8_t *client_nonce, const char *useraddr, const char *transport)
{
	memset(hs, 0, sizeof(*hs));
	memcpy(hs->cookie, cookie, EXTOR_COOKIE_LEN);
	if (client_nonce)
		memcpy(hs->client_nonce, client_nonce, EXTOR_NONCE_LEN);
	else
		random_bytes(hs->client_nonce, EXTOR_NONCE_LEN);
	if (useraddr && strlen(useraddr) < sizeof(hs->useraddr))
		strcpy(hs->useraddr, useraddr);
	if (transport && strlen(transport) < sizeof(hs->transport))
		strcpy(hs->transport, transport);
}

static extor_res_t hs_fail(extor_hs_t *hs, int err)
{
	hs->state = EXTOR_FAILED;
	hs->err = err;
	return EXTOR_ERR;
}

/* One step: a whole message from tor, or MORE.  Appends to out. */
static extor_res_t hs_step(extor_hs_t *hs, const uint8_t *buf, size_t len, size_t *used,
                           uint8_t *out, size_t cap, size_t *outlen)
{
	uint8_t h[EXTOR_HASH_LEN];
	const uint8_t *body;
	size_t i, blen, n;
	uint16_t cmd;
	int safe = 0;

	switch (hs->state) {
	case EXTOR_AUTHTYPES:
		for (i = 0; i < len && buf[i]; i++)
			safe |= buf[i] == EXTOR_AUTH_SAFE_COOKIE;
		if (i == len)
			return i > 255 ? hs_fail(hs, -EPROTO) : EXTOR_MORE;
		*used = i + 1;
		if (!safe)
			return hs_fail(hs, -EPROTO);
		if (cap - *outlen < 1 + EXTOR_NONCE_LEN)
			return hs_fail(hs, -ENOSPC);
		out[(*outlen)++] = EXTOR_AUTH_SAFE_COOKIE;
		memcpy(out + *outlen, hs->client_nonce, EXTOR_NONCE_LEN);
		*outlen += EXTOR_NONCE_LEN;
		hs->state = EXTOR_SERVERHASH;
		return EXTOR_OK;
	case EXTOR_SERVERHASH:
		if (len < EXTOR_HASH_LEN + EXTOR_NONCE_LEN)
			return EXTOR_MORE;
		*used = EXTOR_HASH_LEN + EXTOR_NONCE_LEN;
		extor_hash(hs->cookie, 0, hs->client_nonce, buf + EXTOR_HASH_LEN, h);
		if (!ct_equal(h, buf, EXTOR_HASH_LEN))
			return hs_fail(hs, -EACCES);
		if (cap - *outlen < EXTOR_HASH_LEN)
			return hs_fail(hs, -ENOSPC);
		extor_hash(hs->cookie, 1, hs->client_nonce, buf + EXTOR_HASH_LEN, out + *outlen);
		*outlen += EXTOR_HASH_LEN;
		hs->state = EXTOR_STATUS;
		return EXTOR_OK;
	case EXTOR_STATUS:
		if (len < 1)
			return EXTOR_MORE;
		*used = 1;
		if (buf[0] != 1)
			return hs_fail(hs, -EACCES);
		if (hs->useraddr[0]) {
			n = extor_cmd_encode(out + *outlen, cap - *outlen, EXTOR_CMD_USERADDR,
			                     hs->useraddr, strlen(hs->useraddr));
			if (!n)
				return hs_fail(hs, -ENOSPC);
			*outlen += n;
		}
		if (hs->transport[0]) {
			n = extor_cmd_encode(out + *outlen, cap - *outlen, EXTOR_CMD_TRANSPORT,
			                     hs->transport, strlen(hs->transport));
			if (!n)
				return hs_fail(hs, -ENOSPC);
			*outlen += n;
		}
		n = extor_cmd_encode(out + *outlen, cap - *outlen, EXTOR_CMD_DONE, NULL, 0);
		if (!n)
			return hs_fail(hs, -ENOSPC);
		*outlen += n;
		hs->state = EXTOR_REPLY;
		return EXTOR_OK;
	case EXTOR_REPLY:
		if (extor_cmd_parse(buf, len, &cmd, &body, &blen, used) == EXTOR_MORE)
			return EXTOR_MORE;
		if (cmd == EXTOR_REPLY_OKAY)
			hs->state = EXTOR_DONE;
		else if (cmd == EXTOR_REPLY_DENY)
			return hs_fail(hs, -EACCES);
		return EXTOR_OK; /* anything else: ignored */
	default:
		return hs->state == EXTOR_DONE ? EXTOR_OK : EXTOR_ERR;
	}
}

extor_res_t extor_hs_feed(extor_hs_t *hs, const uint8_t *buf, size_t len, size_t *used,
                          uint8_t *out, size_t cap, size_t *outlen)
{
	size_t u;
	extor_res_t r;

	*used = 0;
	*outlen = 0;
	while (hs->state != EXTOR_DONE && hs->state != EXTOR_FAILED) {
		u = 0;
		r = hs_step(hs, buf + *used, len - *used, &u, out, cap, outlen);
		*used += u;
		if (r != EXTOR_OK)
			return r;
	}
	return hs->state == EXTOR_DONE ? EXTOR_OK : EXTOR_ERR;
}

/* ---- on the loop ---- */

#define EXTOR_BUF 4096

struct extor_req {
	uv_loop_t *loop;
	stream_t *s;
	extor_hs_t hs;
	extor_cb cb;
	void *ud;
	size_t len;
	uint8_t buf[EXTOR_BUF];
};

static void req_free(extor_req_t *q)
{
	explicit_bzero(&q->hs, sizeof(q->hs));
	free(q);
}

static void req_fail(extor_req_t *q, int err)
{
	extor_cb cb = q->cb;
	void *ud = q->ud;

	log_debug(q->s->id, "extorport: %s in state %s", strerror(-err),
	          extor_state_name(q->hs.state));
	stream_close(q->s);
	req_free(q);
	cb(ud, NULL, err);
}

static void req_read(stream_t *s, sbuf_t *b)
{
	extor_req_t *q = s->data;
	uint8_t out[EXTOR_OUT_MAX + 1 + EXTOR_NONCE_LEN];
	size_t n, used, outlen;
	extor_res_t r;
	extor_cb cb;
	void *ud;
	sbuf_t *rest = NULL;

	if (!b) {
		req_fail(q, -EPIPE);
		return;
	}
	n = b->len < sizeof(q->buf) - q->len ? b->len : sizeof(q->buf) - q->len;
	memcpy(q->buf + q->len, sbuf_ptr(b), n);
	q->len += n;
	sbuf_consume(b, n);
	r = extor_hs_feed(&q->hs, q->buf, q->len, &used, out, sizeof(out), &outlen);
	memmove(q->buf, q->buf + used, q->len - used);
	q->len -= used;
	if (outlen && stream_write_copy(s, out, outlen) < 0) {
		sbuf_free(b);
		req_fail(q, -EPIPE);
		return;
	}
	if (r == EXTOR_ERR) {
		sbuf_free(b);
		req_fail(q, q->hs.err);
		return;
	}
	if (r == EXTOR_MORE) {
		if (b->len || q->len == sizeof(q->buf)) { /* tor talks too much */
			sbuf_free(b);
			req_fail(q, -EPROTO);
			return;
		}
		sbuf_free(b);
		return;
	}
	/* OKAY: whatever follows belongs to the relay */
	stream_read_stop(s);
	if (q->len || b->len) {
		rest = sbuf_new(q->len + b->len);
		memcpy(rest->data, q->buf, q->len);
		memcpy(rest->data + q->len, sbuf_ptr(b), b->len);
		rest->len = (uint32_t)(q->len + b->len);
	}
	sbuf_free(b);
	cb = q->cb;
	ud = q->ud;
	s = prebuf_wrap(q->loop, s, rest);
	log_debug(s->id, "extorport: authenticated, OKAY");
	req_free(q);
	cb(ud, s, 0);
}

static void req_error(stream_t *s, int err)
{
	req_fail(s->data, err);
}

static const stream_cbs_t req_cbs = {req_read, NULL, req_error};

extor_req_t *extor_start(uv_loop_t *loop, stream_t *s, const uint8_t cookie[EXTOR_COOKIE_LEN],
                         const char *useraddr, const char *transport, extor_cb cb, void *ud)
{
	extor_req_t *q = calloc(1, sizeof(*q));

	if (!q)
		abort();
	q->loop = loop;
	q->s = s;
	q->cb = cb;
	q->ud = ud;
	extor_hs_init(&q->hs, cookie, NULL, useraddr, transport);
	stream_set_cbs(s, &req_cbs, q);
	stream_read_start(s);
	return q;
}

void extor_cancel(extor_req_t *q)
{
	stream_close(q->s);
	req_free(q);
}
