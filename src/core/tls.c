/* tls: see tls.h.
 *
 * How this works.  OpenSSL never touches a socket here: its one BIO is ours
 * (an "sbuf BIO", a memory BIO that keeps its bytes in sbuf chunks, so the
 * ciphertext is copied once on each side instead of going through a
 * BIO_s_mem as well):
 *
 *   inner on_read --> inq --(BIO read)--> SSL --> SSL_read --> owner on_read
 *   owner write --> SSL_write --(BIO write)--> wbuf/outq --> inner write
 *
 * Every SSL call that may produce output is followed by flush_out(), which
 * hands the chunks OpenSSL wrote to the inner stream: all the records of one
 * SSL_write go out in one inner write (the chunk is sized for them).
 *
 * States: init -> handshake -> open, and any of them -> failed, always
 * through tls_set_state().  Half-close is two flags beside the state:
 * rd_eof (the owner was given end of data: the peer's close_notify or the
 * inner stream's EOF) and wr_shut (stream_shutdown was called; close_notify
 * goes out as soon as the handshake is done, then the inner stream is shut).
 *
 * No callback runs from inside an op.  Work that an op starts but cannot
 * finish (the handshake, delivering records that OpenSSL or inq still hold
 * when reading resumes, reporting an error) runs from the kick timer or from
 * the inner stream's callbacks, in pump().  An error moves the stream to
 * failed and is reported once: to the handshake callback if it is still
 * pending, else to on_error.
 *
 * Inner reading: always on during the handshake, then it follows the
 * owner's read_start/read_stop.  wq_bytes = the inner stream's wq_bytes +
 * plaintext queued before the handshake ended + ciphertext not yet handed
 * over (zero between ops).
 *
 * Ownership: the stream owns inner, the SSL (which owns the BIO) and a
 * reference on its ctx; close closes inner and frees the rest in the kick
 * timer's close callback.  A ctx is freed when its owner and all its
 * streams are done with it.  A client ctx keeps the last session it got for
 * a host name, and offers it to the next connection to that host.
 */
#include "core/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/aead.h"
#include "core/encoding.h"
#include "core/log.h"

/* Ciphertext added per record, generously (TLS 1.3 AEAD: 22 bytes; TLS 1.2
 * CBC with SHA-384 and minimal padding: 85). */
#define REC_OVERHEAD 96
#define REC_PLAIN 16384

struct tls_ctx {
	SSL_CTX *ssl;
	int refs;
	int verify; /* chain + host name (client) */
	int pinned;
	uint8_t pin[32];
	uint8_t *alpn; /* wire format: length-prefixed names */
	size_t alpn_len;
	SSL_SESSION *sess; /* client: last session, for sess_host */
	char *sess_host;
};

enum tls_state { TLS_INIT, TLS_HANDSHAKE, TLS_OPEN, TLS_FAILED, TLS_NSTATES };

static const char *const state_names[TLS_NSTATES] = {"init", "handshake", "open", "failed"};

/* legal[from] is the set of states it may move to */
static const unsigned legal[TLS_NSTATES] = {
    [TLS_INIT] = 1u << TLS_HANDSHAKE | 1u << TLS_FAILED,
    [TLS_HANDSHAKE] = 1u << TLS_OPEN | 1u << TLS_FAILED,
    [TLS_OPEN] = 1u << TLS_FAILED,
    [TLS_FAILED] = 0,
};

typedef struct tls_stream {
	stream_t s;
	stream_t *inner;
	tls_ctx_t *ctx;
	SSL *ssl;
	char *host; /* sni as given: session cache key */
	uv_timer_t kick;
	enum tls_state state;
	int err;
	tls_cb hcb;
	void *hud;
	sbuf_queue_t inq;    /* ciphertext from inner not yet read by OpenSSL */
	sbuf_queue_t outq;   /* full ciphertext chunks not yet handed to inner */
	sbuf_t *wbuf;        /* ciphertext chunk being filled */
	size_t wbuf_hint;    /* capacity wanted for the next chunk */
	sbuf_queue_t plainq; /* written before the handshake ended */
	char desc[96];
	unsigned want_read : 1, inner_eof : 1, bio_eof : 1, rd_eof : 1, wr_shut : 1, err_told : 1;
} tls_stream_t;

static const stream_ops_t tls_ops;
static void on_kick(uv_timer_t *h);

static void tls_set_state(tls_stream_t *t, enum tls_state to)
{
	if (!(legal[t->state] & 1u << to)) {
		log_err(t->s.id, "tls: illegal state change %s -> %s", state_names[t->state],
		        state_names[to]);
		abort();
	}
	log_trace(t->s.id, "tls %s -> %s", state_names[t->state], state_names[to]);
	t->state = to;
}

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The reason of the newest OpenSSL error, and an empty error queue. */
static const char *ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	ERR_clear_error();
	return r ? r : "unknown OpenSSL error";
}

/* Log why an SSL call failed (at debug) and empty the error queue. */
static void log_ssl(tls_stream_t *t, const char *what)
{
	char line[512];
	size_t off = 0;
	unsigned long e;
	long v;

	if (log_level < LOG_DEBUG) {
		ERR_clear_error();
		return;
	}
	line[0] = 0;
	while ((e = ERR_get_error()) && off < sizeof(line) - 1) {
		const char *r = ERR_reason_error_string(e);
		int n;

		if (r)
			n = snprintf(line + off, sizeof(line) - off, "%s%s", off ? "; " : "", r);
		else
			n = snprintf(line + off, sizeof(line) - off, "%serror %#lx",
			             off ? "; " : "", e);
		off = n < 0 ? off : off + (size_t)n;
	}
	ERR_clear_error();
	if (off >= sizeof(line))
		off = sizeof(line) - 1;
	v = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
	if (v != X509_V_OK)
		snprintf(line + off, sizeof(line) - off, "%s(certificate: %s)", off ? " " : "",
		         X509_verify_cert_error_string(v));
	log_debug(t->s.id, "tls %s failed: %s", what, line[0] ? line : "no reason given");
}

/* ---- the sbuf BIO ---- */

/* Capacity of a ciphertext chunk for about `want` bytes: a pooled default
 * chunk when that is not much too big, else the exact size (a queue of tiny
 * records must not pin 64 KiB each). */
static size_t chunk_size(size_t want)
{
	if (!want || (want >= SBUF_DEFAULT / 2 && want <= SBUF_DEFAULT))
		return SBUF_DEFAULT;
	return want;
}

static int bio_write(BIO *bio, const char *p, int len)
{
	tls_stream_t *t = BIO_get_data(bio);
	size_t left = len > 0 ? (size_t)len : 0;

	BIO_clear_retry_flags(bio);
	while (left) {
		sbuf_t *b = t->wbuf;
		size_t n;

		if (!b) {
			b = t->wbuf = sbuf_new(chunk_size(t->wbuf_hint));
			t->wbuf_hint = 0;
		}
		n = b->cap - b->off - b->len;
		if (!n) {
			sbufq_push(&t->outq, b);
			t->wbuf = NULL;
			continue;
		}
		if (n > left)
			n = left;
		memcpy(sbuf_ptr(b) + b->len, p, n);
		b->len += (uint32_t)n;
		p += n;
		left -= n;
	}
	return len;
}

static int bio_read(BIO *bio, char *p, int len)
{
	tls_stream_t *t = BIO_get_data(bio);
	size_t want = len > 0 ? (size_t)len : 0, got = 0;

	BIO_clear_retry_flags(bio);
	while (got < want && t->inq.head) {
		sbuf_t *b = t->inq.head;
		size_t n = b->len < want - got ? b->len : want - got;

		memcpy(p + got, sbuf_ptr(b), n);
		sbuf_consume(b, n);
		t->inq.bytes -= n;
		got += n;
		if (!b->len)
			sbuf_free(sbufq_pop(&t->inq));
	}
	if (got)
		return (int)got;
	if (t->inner_eof) {
		t->bio_eof = 1;
		return 0;
	}
	BIO_set_retry_read(bio);
	return -1;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	tls_stream_t *t = BIO_get_data(bio);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return (long)t->inq.bytes;
	case BIO_CTRL_WPENDING:
		return 0;
	case BIO_CTRL_EOF:
		return t->inner_eof && !t->inq.bytes;
	default:
		return 0;
	}
}

static int bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static BIO_METHOD *sbuf_bio_method(void)
{
	static BIO_METHOD *m;

	if (m)
		return m;
	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice sbuf");
	if (!m || !BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create))
		abort();
	return m;
}

/* ---- moving bytes ---- */

static void update_wq(tls_stream_t *t)
{
	t->s.wq_bytes =
	    t->inner->wq_bytes + t->plainq.bytes + t->outq.bytes + (t->wbuf ? t->wbuf->len : 0);
}

/* Hand everything OpenSSL wrote to the inner stream. */
static int flush_out(tls_stream_t *t)
{
	sbuf_t *b;
	int r = 0, e;

	if (t->wbuf) {
		sbufq_push(&t->outq, t->wbuf);
		t->wbuf = NULL;
	}
	while ((b = sbufq_pop(&t->outq))) {
		if (r < 0 || !b->len) {
			sbuf_free(b);
			continue;
		}
		if (b->cap == SBUF_DEFAULT && b->len < SBUF_DEFAULT / 4) {
			/* handshake messages, alerts: do not queue a mostly empty chunk */
			sbuf_t *c = sbuf_from(sbuf_ptr(b), b->len);

			sbuf_free(b);
			b = c;
		}
		e = stream_write(t->inner, b);
		if (e < 0)
			r = e;
	}
	return r;
}

/* Encrypt all of b and free it; the records go to wbuf/outq. */
static int write_plain(tls_stream_t *t, sbuf_t *b)
{
	size_t done = 0, n;

	if (!t->wbuf) /* one chunk for all the records */
		t->wbuf_hint = b->len + (b->len / REC_PLAIN + 1) * REC_OVERHEAD;
	ERR_clear_error();
	while (done < b->len) {
		if (!SSL_write_ex(t->ssl, sbuf_ptr(b) + done, b->len - done, &n)) {
			log_ssl(t, "write");
			sbuf_free(b);
			return UV_EPROTO;
		}
		done += n;
	}
	sbuf_free(b);
	return 0;
}

/* Send close_notify and end the inner stream's data. */
static int send_shutdown(tls_stream_t *t)
{
	int r = 0, e;

	ERR_clear_error();
	if (SSL_shutdown(t->ssl) < 0) {
		log_ssl(t, "shutdown");
		r = UV_EPROTO;
	}
	e = flush_out(t);
	if (!r)
		r = e;
	e = stream_shutdown(t->inner);
	return r ? r : e;
}

/* Move to failed; the error is reported from the kick (or by pump() when
 * it runs first). */
static void tls_fail(tls_stream_t *t, int err)
{
	if (t->state == TLS_FAILED)
		return;
	tls_set_state(t, TLS_FAILED);
	t->err = err;
	stream_read_stop(t->inner);
	uv_timer_start(&t->kick, on_kick, 0, 0);
}

static void report(tls_stream_t *t)
{
	tls_cb cb = t->hcb;

	if (t->err_told)
		return;
	t->err_told = 1;
	if (cb) {
		t->hcb = NULL;
		cb(t->hud, &t->s, t->err);
	} else if (t->s.cbs && t->s.cbs->on_error) {
		t->s.cbs->on_error(&t->s, t->err);
	}
}

static void handshake_done(tls_stream_t *t)
{
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	size_t queued = t->plainq.bytes;
	tls_cb cb = t->hcb;
	sbuf_t *b;
	int r = 0;

	tls_set_state(t, TLS_OPEN);
	SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
	log_debug(t->s.id, "tls handshake done: %s%s%.*s%s", tls_describe(&t->s),
	          alpn_len ? ", alpn " : "", (int)alpn_len, alpn ? (const char *)alpn : "",
	          SSL_session_reused(t->ssl) ? ", resumed" : "");
	if (!t->want_read)
		stream_read_stop(t->inner);
	while ((b = sbufq_pop(&t->plainq))) {
		if (r < 0)
			sbuf_free(b);
		else
			r = write_plain(t, b);
	}
	if (!r)
		r = flush_out(t);
	if (!r && t->wr_shut)
		r = send_shutdown(t);
	update_wq(t);
	if (r < 0) {
		tls_fail(t, r);
		return;
	}
	t->hcb = NULL;
	if (cb)
		cb(t->hud, &t->s, 0);
	if (t->s.closed || t->state != TLS_OPEN)
		return;
	if (queued && t->s.wq_bytes <= STREAM_LOW_WATER && t->s.cbs && t->s.cbs->on_drain)
		t->s.cbs->on_drain(&t->s);
}

static void handshake_step(tls_stream_t *t)
{
	int r, e, fe;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
	if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
		/* a peer closing without an alert is not a TLS failure */
		int eof = t->inner_eof && e != SSL_ERROR_SSL;

		if (eof) {
			ERR_clear_error();
			log_debug(t->s.id, "tls handshake failed: connection closed by peer");
		} else {
			log_ssl(t, "handshake");
		}
		flush_out(t); /* our alert, if any */
		tls_fail(t, eof ? UV_EOF : UV_EPROTO);
		return;
	}
	fe = flush_out(t);
	if (fe < 0) {
		tls_fail(t, fe);
		return;
	}
	if (e == SSL_ERROR_NONE)
		handshake_done(t);
}

/* Hand the owner what OpenSSL can decrypt, in chunks of several records,
 * while the owner wants it. */
static void read_plain(tls_stream_t *t)
{
	while (t->want_read && !t->rd_eof && t->state == TLS_OPEN && !t->s.closed) {
		sbuf_t *b = sbuf_new(SBUF_DEFAULT);
		int e = SSL_ERROR_NONE, fe;
		size_t n;

		ERR_clear_error();
		while (b->len < b->cap) {
			if (!SSL_read_ex(t->ssl, b->data + b->len, b->cap - b->len, &n)) {
				e = SSL_get_error(t->ssl, 0);
				break;
			}
			b->len += (uint32_t)n;
		}
		if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL)
			log_ssl(t, "read");
		fe = flush_out(t); /* key update answers and the like */
		if (b->len)
			t->s.cbs->on_read(&t->s, sbuf_fit(b));
		else
			sbuf_free(b);
		if (t->s.closed || t->state != TLS_OPEN)
			return;
		if (fe < 0) {
			tls_fail(t, fe);
			return;
		}
		if (e == SSL_ERROR_NONE)
			continue;
		if (e == SSL_ERROR_WANT_READ)
			return;
		if (e == SSL_ERROR_ZERO_RETURN) {
			if (!t->want_read)
				return; /* SSL_read says it again when reading resumes */
			t->rd_eof = 1;
			stream_read_stop(t->inner);
			log_debug(t->s.id, "tls: end of data from peer (%s)",
			          t->bio_eof ? "connection closed" : "close_notify");
			t->s.cbs->on_read(&t->s, NULL);
			return;
		}
		tls_fail(t, UV_EPROTO);
		return;
	}
}

/* All deferred work; runs only from the kick timer and inner callbacks. */
static void pump(tls_stream_t *t)
{
	if (t->s.closed)
		return;
	if (t->state == TLS_HANDSHAKE)
		handshake_step(t);
	if (t->s.closed)
		return;
	if (t->state == TLS_FAILED)
		report(t);
	else if (t->state == TLS_OPEN)
		read_plain(t);
}

static void on_kick(uv_timer_t *h)
{
	pump(h->data);
}

/* ---- inner stream callbacks ---- */

static void in_read(stream_t *in, sbuf_t *b)
{
	tls_stream_t *t = in->data;

	if (t->state == TLS_FAILED || t->rd_eof) {
		sbuf_free(b);
		return;
	}
	if (!b)
		t->inner_eof = 1;
	else if (b->len)
		sbufq_push(&t->inq, b);
	else
		sbuf_free(b);
	pump(t);
}

static void in_drain(stream_t *in)
{
	tls_stream_t *t = in->data;

	update_wq(t);
	if (t->state == TLS_OPEN && t->s.wq_bytes <= STREAM_LOW_WATER && t->s.cbs &&
	    t->s.cbs->on_drain)
		t->s.cbs->on_drain(&t->s);
}

static void in_error(stream_t *in, int err)
{
	tls_stream_t *t = in->data;

	log_debug(t->s.id, "tls: inner stream (%s): %s", in->ops->name, uv_strerror(err));
	tls_fail(t, err);
	pump(t);
}

static const stream_cbs_t inner_cbs = {in_read, in_drain, in_error};

/* ---- stream ops ---- */

/* After the records of a write: send them (also after an error, for
 * what went before it), then the write queue's size, then the error. */
static int write_done(tls_stream_t *t, int r)
{
	if (!r)
		r = flush_out(t);
	else
		flush_out(t);
	update_wq(t);
	if (r < 0)
		tls_fail(t, r);
	return r;
}

static int tls_write(stream_t *s, sbuf_t *b)
{
	tls_stream_t *t = (tls_stream_t *)s;
	int r;

	if (s->closed || t->wr_shut || t->state == TLS_FAILED) {
		sbuf_free(b);
		return t->state == TLS_FAILED && t->err ? t->err : UV_EPIPE;
	}
	if (!b->len) {
		sbuf_free(b);
		return 0;
	}
	if (t->state != TLS_OPEN) {
		sbufq_push(&t->plainq, b);
		update_wq(t);
		return 0;
	}
	r = write_plain(t, b);
	return write_done(t, r);
}

/* A batch: the records of every chunk, then one write below. */
static int tls_writev(stream_t *s, sbuf_queue_t *q)
{
	tls_stream_t *t = (tls_stream_t *)s;
	sbuf_t *b;
	int r = 0;

	if (s->closed || t->wr_shut || t->state == TLS_FAILED) {
		sbufq_clear(q);
		return t->state == TLS_FAILED && t->err ? t->err : UV_EPIPE;
	}
	if (t->state != TLS_OPEN) {
		while ((b = sbufq_pop(q)))
			sbufq_push(&t->plainq, b);
		update_wq(t);
		return 0;
	}
	if (!t->wbuf)
		t->wbuf_hint = q->bytes + (q->bytes / REC_PLAIN + 8) * REC_OVERHEAD;
	while ((b = sbufq_pop(q))) {
		if (r < 0 || !b->len)
			sbuf_free(b);
		else
			r = write_plain(t, b);
	}
	return write_done(t, r);
}

static int tls_shutdown(stream_t *s)
{
	tls_stream_t *t = (tls_stream_t *)s;
	int r;

	if (s->closed || t->wr_shut)
		return 0;
	t->wr_shut = 1;
	if (t->state != TLS_OPEN)
		return 0; /* after the handshake, behind the queued data */
	r = send_shutdown(t);
	update_wq(t);
	return r;
}

static void tls_read_start(stream_t *s)
{
	tls_stream_t *t = (tls_stream_t *)s;

	t->want_read = 1;
	if (s->closed || t->state != TLS_OPEN || t->rd_eof)
		return;
	stream_read_start(t->inner);
	/* what is already here is delivered from the timer, not from this op */
	if (t->inq.bytes || t->inner_eof || SSL_has_pending(t->ssl) ||
	    (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN))
		uv_timer_start(&t->kick, on_kick, 0, 0);
}

static void tls_read_stop(stream_t *s)
{
	tls_stream_t *t = (tls_stream_t *)s;

	t->want_read = 0;
	if (t->state == TLS_OPEN)
		stream_read_stop(t->inner);
}

static void ctx_unref(tls_ctx_t *c);

static void on_closed(uv_handle_t *h)
{
	tls_stream_t *t = h->data;

	/* OpenSSL makes the session of a connection freed without a
	 * close_notify unresumable; a connection that did not fail is fine */
	if (t->state == TLS_OPEN)
		SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(t->ssl);
	sbufq_clear(&t->inq);
	sbufq_clear(&t->outq);
	sbufq_clear(&t->plainq);
	sbuf_free(t->wbuf);
	free(t->host);
	ctx_unref(t->ctx);
	free(t);
}

static void tls_close(stream_t *s)
{
	tls_stream_t *t = (tls_stream_t *)s;

	uv_timer_stop(&t->kick);
	stream_close(t->inner);
	uv_close((uv_handle_t *)&t->kick, on_closed);
}

static const stream_ops_t tls_ops = {
    .name = "tls",
    .write = tls_write,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .read_start = tls_read_start,
    .read_stop = tls_read_stop,
    .close = tls_close,
};

/* ---- streams ---- */

static tls_stream_t *tls_new(uv_loop_t *loop, tls_ctx_t *c, stream_t *inner)
{
	tls_stream_t *t = calloc(1, sizeof(*t));
	BIO *bio;

	if (!t)
		abort();
	t->s.ops = &tls_ops;
	t->s.id = inner->id;
	t->inner = inner;
	t->ctx = c;
	c->refs++;
	uv_timer_init(loop, &t->kick);
	t->kick.data = t;
	stream_set_cbs(inner, &inner_cbs, t);
	t->ssl = SSL_new(c->ssl);
	bio = t->ssl ? BIO_new(sbuf_bio_method()) : NULL;
	if (!bio) {
		log_ssl(t, "setup");
		SSL_free(t->ssl);
		t->ssl = NULL;
		tls_fail(t, UV_ENOMEM); /* reported once tls_handshake is called */
		uv_timer_stop(&t->kick);
		return t;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);
	SSL_set_app_data(t->ssl, t);
	return t;
}

/* "1.2.3.4", "::1" or "[::1]" -> the address text without brackets. */
static int ip_literal(const char *host, char *out, size_t outlen)
{
	size_t n = strlen(host);
	unsigned char a[16];

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n >= outlen)
		return 0;
	memcpy(out, host, n);
	out[n] = 0;
	return inet_pton(AF_INET, out, a) == 1 || inet_pton(AF_INET6, out, a) == 1;
}

stream_t *tls_client_new(uv_loop_t *loop, tls_ctx_t *c, stream_t *inner, const char *sni,
                         const char *verify)
{
	tls_stream_t *t = tls_new(loop, c, inner);
	char ip[64];

	if (!t->ssl)
		return &t->s;
	SSL_set_connect_state(t->ssl);
	if (!verify || !*verify)
		verify = sni;
	if (sni && *sni && !ip_literal(sni, ip, sizeof(ip)))
		SSL_set_tlsext_host_name(t->ssl, sni);
	if (!verify || !*verify) {
		if (c->verify && !c->pinned) {
			/* a chain that checks out proves nothing without a name */
			log_warn(inner->id,
			         "tls: no server name to verify the certificate against");
			tls_fail(t, UV_EINVAL);
			uv_timer_stop(&t->kick);
		}
		return &t->s;
	}
	t->host = strdup(sni && *sni ? sni : verify);
	if (!t->host)
		abort();
	if (ip_literal(verify, ip, sizeof(ip))) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), ip);
	} else {
		SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set1_host(t->ssl, verify);
	}
	if (c->sess && c->sess_host && !strcmp(c->sess_host, t->host) &&
	    SSL_SESSION_is_resumable(c->sess))
		SSL_set_session(t->ssl, c->sess);
	return &t->s;
}

stream_t *tls_server_new(uv_loop_t *loop, tls_ctx_t *c, stream_t *inner, sbuf_t *first)
{
	tls_stream_t *t = tls_new(loop, c, inner);

	if (t->ssl)
		SSL_set_accept_state(t->ssl);
	if (first && first->len)
		sbufq_push(&t->inq, first);
	else
		sbuf_free(first);
	return &t->s;
}

int tls_is(stream_t *s)
{
	return s && s->ops == &tls_ops;
}

void tls_handshake(stream_t *s, tls_cb cb, void *ud)
{
	tls_stream_t *t = (tls_stream_t *)s;

	if (!tls_is(s) || s->closed)
		return;
	t->hcb = cb;
	t->hud = ud;
	if (t->state == TLS_INIT) {
		tls_set_state(t, TLS_HANDSHAKE);
		stream_read_start(t->inner);
	}
	uv_timer_start(&t->kick, on_kick, 0, 0);
}

int tls_peer_cert_hash(stream_t *s, const char *md, uint8_t *out, size_t outlen)
{
	tls_stream_t *t = (tls_stream_t *)s;
	uint8_t buf[EVP_MAX_MD_SIZE];
	const EVP_MD *m;
	unsigned n = 0;
	X509 *x;

	if (!tls_is(s) || !md || !out)
		return UV_EINVAL;
	if (!t->ssl)
		return UV_ENOTCONN;
	x = SSL_get0_peer_certificate(t->ssl);
	if (!x)
		return UV_ENOENT;
	m = EVP_get_digestbyname(md);
	if (!m)
		return UV_EINVAL;
	if (!X509_digest(x, m, buf, &n)) {
		ERR_clear_error();
		return UV_EPROTO;
	}
	if (n > outlen)
		return UV_ENOBUFS;
	memcpy(out, buf, n);
	return (int)n;
}

const char *tls_describe(stream_t *s)
{
	tls_stream_t *t = (tls_stream_t *)s;

	if (!tls_is(s))
		return "not TLS";
	if (!t->ssl || !SSL_is_init_finished(t->ssl))
		return "TLS (no session yet)";
	snprintf(t->desc, sizeof(t->desc), "%s %s", SSL_get_version(t->ssl),
	         SSL_get_cipher_name(t->ssl));
	return t->desc;
}

/* ---- contexts ---- */

static void ctx_unref(tls_ctx_t *c)
{
	if (!c || --c->refs > 0)
		return;
	SSL_CTX_free(c->ssl);
	SSL_SESSION_free(c->sess);
	free(c->sess_host);
	free(c->alpn);
	free(c);
}

void tls_ctx_free(tls_ctx_t *c)
{
	ctx_unref(c);
}

/* Can we open path?  -errno and "opt=path: reason" if not. */
static int check_file(const char *opt, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int e = errno;

	if (f) {
		fclose(f);
		return 0;
	}
	seterr(err, errlen, "%s=%s: %s", opt, path, strerror(e));
	return -e;
}

/* "ab:cd:..." or "abcd..." -> 32 bytes. */
/* 64 hex digits, a ':' allowed between two bytes. */
static int parse_pin(const char *s, uint8_t pin[32])
{
	char hex[64];
	size_t n = 0;

	for (; *s; s++) {
		if (*s == ':' && n % 2 == 0)
			continue;
		if (n == sizeof(hex))
			return -EINVAL;
		hex[n++] = *s;
	}
	return hex_decode(hex, n, pin, 32) == 32 ? 0 : -EINVAL;
}

/* "h2,http/1.1" -> ALPN wire format. */
static int parse_alpn(tls_ctx_t *c, const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s), off = 0;
	const char *p = s;

	c->alpn = malloc(len + 1);
	if (!c->alpn)
		abort();
	while (1) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (!n || n > 255) {
			seterr(err, errlen, "alpn=%s: protocol names must be 1 to 255 bytes", s);
			return -EINVAL;
		}
		c->alpn[off++] = (uint8_t)n;
		memcpy(c->alpn + off, p, n);
		off += n;
		if (!comma)
			break;
		p = comma + 1;
	}
	c->alpn_len = off;
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	tls_ctx_t *c = arg;
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, c->alpn, (unsigned)c->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* The client's certificate check when a pin is set: the leaf must be
 * exactly the pinned certificate.  That is stronger than any chain, so the
 * chain and the name are not checked (a self-signed server is the usual
 * reason to pin, as with ssh host keys). */
static int verify_cert(X509_STORE_CTX *x, void *arg)
{
	tls_ctx_t *c = arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	tls_stream_t *t = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(x);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!leaf || !X509_digest(leaf, EVP_sha256(), md, &n) || n != 32 ||
	    CRYPTO_memcmp(md, c->pin, 32)) {
		char hex[65] = "?";

		if (leaf && n == 32)
			hex_encode(md, n, hex, 0);
		log_warn(t ? t->s.id : 0,
		         "tls: server certificate does not match the pin (its sha256 is %s)", hex);
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
	tls_stream_t *t = SSL_get_app_data(ssl);
	tls_ctx_t *c = t->ctx;
	char *host;

	if (!t->host || !(host = strdup(t->host)))
		return 0;
	SSL_SESSION_free(c->sess);
	free(c->sess_host);
	c->sess = sess;
	c->sess_host = host;
	return 1; /* we keep the reference */
}

static tls_ctx_t *ctx_alloc(const SSL_METHOD *method, const char *ciphers, char *err, size_t errlen)
{
	tls_ctx_t *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->refs = 1;
	c->ssl = SSL_CTX_new(method);
	if (!c->ssl) {
		seterr(err, errlen, "tls: %s", ssl_reason());
		free(c);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	SSL_CTX_set_mode(c->ssl,
	                 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(c->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	                                SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
	SSL_CTX_set_read_ahead(c->ssl, 1);
	if (!ciphers)
		ciphers = aead_hw_aes() ? TLS_CIPHERS_AES : TLS_CIPHERS_CHACHA;
	if (!SSL_CTX_set_ciphersuites(c->ssl, ciphers)) {
		ERR_clear_error();
		seterr(err, errlen, "ciphers=%s: not a list of TLS 1.3 cipher suites (%s, say)",
		       ciphers, TLS_CIPHERS_AES);
		SSL_CTX_free(c->ssl);
		free(c);
		return NULL;
	}
	return c;
}

int tls_ctx_new_client(const tls_opts_t *o, tls_ctx_t **out, char *err, size_t errlen)
{
	static const tls_opts_t none;
	tls_ctx_t *c;
	int r;

	*out = NULL;
	if (!o)
		o = &none;
	c = ctx_alloc(TLS_client_method(), o->ciphers, err, errlen);
	if (!c)
		return -EINVAL;
	c->verify = !o->insecure;
	if (o->pin_sha256) {
		if (parse_pin(o->pin_sha256, c->pin) < 0) {
			seterr(err, errlen, "pin=%s: not a SHA-256 in hex (64 digits, ':' allowed)",
			       o->pin_sha256);
			r = -EINVAL;
			goto fail;
		}
		c->pinned = 1;
	}
	if (c->verify && o->ca_file) {
		r = check_file("ca", o->ca_file, err, errlen);
		if (r < 0)
			goto fail;
		if (!SSL_CTX_load_verify_locations(c->ssl, o->ca_file, NULL)) {
			seterr(err, errlen, "ca=%s: %s", o->ca_file, ssl_reason());
			r = -EINVAL;
			goto fail;
		}
	} else if (c->verify && !SSL_CTX_set_default_verify_paths(c->ssl)) {
		seterr(err, errlen, "tls: cannot load the system's CA certificates: %s",
		       ssl_reason());
		r = -EINVAL;
		goto fail;
	}
	SSL_CTX_set_verify(c->ssl, c->verify || c->pinned ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	                   NULL);
	if (c->pinned)
		SSL_CTX_set_cert_verify_callback(c->ssl, verify_cert, c);
	if (o->alpn) {
		r = parse_alpn(c, o->alpn, err, errlen);
		if (r < 0)
			goto fail;
		if (SSL_CTX_set_alpn_protos(c->ssl, c->alpn, (unsigned)c->alpn_len)) {
			seterr(err, errlen, "alpn=%s: %s", o->alpn, ssl_reason());
			r = -EINVAL;
			goto fail;
		}
	}
	SSL_CTX_set_session_cache_mode(c->ssl,
	                               SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c->ssl, new_session);
	*out = c;
	return 0;
fail:
	ctx_unref(c);
	return r;
}

static int no_passphrase(char *buf, int size, int rw, void *u)
{
	return -1;
}

int tls_ctx_new_server(const tls_opts_t *o, tls_ctx_t **out, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	tls_ctx_t *c;
	FILE *f;
	int r;

	*out = NULL;
	if (!o || !o->cert_file || !o->key_file) {
		seterr(err, errlen, "tls: a server needs cert= and certkey=");
		return -EINVAL;
	}
	if ((r = check_file("cert", o->cert_file, err, errlen)) < 0 ||
	    (r = check_file("certkey", o->key_file, err, errlen)) < 0)
		return r;
	c = ctx_alloc(TLS_server_method(), o->ciphers, err, errlen);
	if (!c)
		return -EINVAL;
	if (!SSL_CTX_use_certificate_chain_file(c->ssl, o->cert_file)) {
		seterr(err, errlen, "cert=%s: cannot load a PEM certificate: %s", o->cert_file,
		       ssl_reason());
		r = -EINVAL;
		goto fail;
	}
	f = fopen(o->key_file, "r");
	if (f) {
		key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
		fclose(f);
	}
	if (!key) {
		seterr(err, errlen, "certkey=%s: cannot load a PEM private key: %s", o->key_file,
		       ssl_reason());
		r = -EINVAL;
		goto fail;
	}
	if (o->no_tickets)
		SSL_CTX_set_num_tickets(c->ssl, 0);
	if (!SSL_CTX_use_PrivateKey(c->ssl, key) || !SSL_CTX_check_private_key(c->ssl)) {
		ERR_clear_error();
		seterr(err, errlen, "certkey=%s does not match cert=%s", o->key_file, o->cert_file);
		r = -EINVAL;
		goto fail;
	}
	EVP_PKEY_free(key);
	key = NULL;
	if (o->alpn) {
		r = parse_alpn(c, o->alpn, err, errlen);
		if (r < 0)
			goto fail;
		SSL_CTX_set_alpn_select_cb(c->ssl, alpn_select, c);
	}
	*out = c;
	return 0;
fail:
	EVP_PKEY_free(key);
	ctx_unref(c);
	return r;
}
