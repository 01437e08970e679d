/* Unit tests: core/tls over real loopback TCP.
 *
 * A self-signed certificate (CN=localhost, subjectAltName IP:127.0.0.1 and
 * DNS:localhost) is made with the OpenSSL API in a temporary directory.
 * Each test runs a libuv TCP listener and a client in the same loop, wraps
 * both sides' tcp streams in TLS and checks: bulk transfer both ways with
 * checksums and backpressure (chunk by chunk, and in batches through
 * stream_writev, also on plain TCP), half-close, pausing with records buffered
 * inside OpenSSL, certificate verification (system CAs, ca_file, insecure,
 * pins, host names), closing in the middle of the handshake, the context
 * error messages, and a real peer (openssl s_server) including session
 * resumption.  TLS_TEST_LOG=debug shows the module's log lines.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/log.h"
#include "core/tcp.h"
#include "core/tls.h"

#define BULK (8u << 20)

static char dir[64], cert_pem[128], key_pem[128], key2_pem[128];
static uint8_t cert_sha256[32];

/* ---- certificate ---- */

static void add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	assert_non_null(e);
	assert_true(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

static void write_key(const char *path, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL));
	fclose(f);
}

static int make_files(void **st)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	unsigned len = 0;
	FILE *f;

	if (getenv("TLS_TEST_LOG"))
		log_level = log_level_parse(getenv("TLS_TEST_LOG"));
	snprintf(dir, sizeof(dir), "/tmp/sluice-tls-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(cert_pem, sizeof(cert_pem), "%s/cert.pem", dir);
	snprintf(key_pem, sizeof(key_pem), "%s/key.pem", dir);
	snprintf(key2_pem, sizeof(key2_pem), "%s/other.key", dir);
	assert_non_null(k);
	assert_non_null(k2);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid());
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
	                           -1, 0);
	X509_set_issuer_name(x, n);
	add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, NID_subject_key_identifier, "hash");
	add_ext(x, NID_subject_alt_name, "IP:127.0.0.1, DNS:localhost");
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_true(X509_digest(x, EVP_sha256(), cert_sha256, &len));
	assert_int_equal(len, 32);
	f = fopen(cert_pem, "w");
	assert_non_null(f);
	assert_true(PEM_write_X509(f, x));
	fclose(f);
	write_key(key_pem, k);
	write_key(key2_pem, k2);
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	return 0;
}

static int remove_files(void **st)
{
	unlink(cert_pem);
	unlink(key_pem);
	unlink(key2_pem);
	rmdir(dir);
	return 0;
}

/* ---- the two ends ---- */

typedef struct end {
	const char *name;
	stream_t *s;
	int hs_done, hs_err;
	int err, eof, reads, drains;
	/* sending BULK-style data */
	uint64_t tx_left, tx_rng, tx_sum;
	unsigned shut_when_sent : 1, shut : 1, stop_after_first : 1;
	unsigned batch : 1; /* stream_writev of many chunks of any size */
	/* receiving */
	uint64_t rx_n, rx_sum;
	char rx[65536];
	size_t rx_len;
	const char *reply_on_eof; /* written, then shutdown, when EOF arrives */
} end_t;

static uv_loop_t *loop;
static uv_tcp_t lsn;
static uv_timer_t guard;
static int timed_out, accepted, server_tls, close_server_in_accept, plain;
static end_t cli, srv;
static stream_t *raw_srv; /* accepted tcp stream when server_tls is 0 */
static tls_ctx_t *sctx, *cctx;
static const char *sni, *verify_name;
static struct sockaddr_in lsn_addr;
static int connect_status;

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* A batch: up to 100 chunks of 0 to 70000 bytes (more than one writev(2)
 * takes at once, empty ones among them), through stream_writev. */
static void send_batch(end_t *e)
{
	sbuf_queue_t q = {0};
	size_t k = 1 + xorshift(&e->tx_rng) % 100;

	for (size_t j = 0; j < k && e->tx_left; j++) {
		size_t n = xorshift(&e->tx_rng) % 70000;
		sbuf_t *b;

		if (n > e->tx_left)
			n = e->tx_left;
		b = sbuf_new(n ? n : 1);
		for (size_t i = 0; i < n; i++)
			b->data[i] = (uint8_t)xorshift(&e->tx_rng);
		b->len = (uint32_t)n;
		e->tx_sum = fnv(e->tx_sum, b->data, n);
		e->tx_left -= n;
		sbufq_push(&q, b);
	}
	assert_int_equal(stream_writev(e->s, &q), 0);
	assert_null(q.head);
	assert_int_equal(q.bytes, 0);
}

static void send_more(end_t *e)
{
	while (e->batch && e->tx_left && e->s->wq_bytes <= STREAM_HIGH_WATER)
		send_batch(e);
	while (e->tx_left && e->s->wq_bytes <= STREAM_HIGH_WATER) {
		size_t n = e->tx_left < SBUF_DEFAULT ? e->tx_left : SBUF_DEFAULT;
		sbuf_t *b = sbuf_new(SBUF_DEFAULT);

		for (size_t i = 0; i < n; i += 8) {
			uint64_t v = xorshift(&e->tx_rng);
			memcpy(b->data + i, &v, n - i < 8 ? n - i : 8);
		}
		b->len = (uint32_t)n;
		e->tx_sum = fnv(e->tx_sum, b->data, n);
		e->tx_left -= n;
		assert_int_equal(stream_write(e->s, b), 0);
		assert_true(e->s->wq_bytes <= STREAM_HIGH_WATER + 2 * SBUF_DEFAULT);
	}
	if (!e->tx_left && e->shut_when_sent && !e->shut) {
		e->shut = 1;
		assert_int_equal(stream_shutdown(e->s), 0);
	}
}

static void on_read(stream_t *s, sbuf_t *b)
{
	end_t *e = s->data;

	assert_false(e->eof);
	if (!b) {
		e->eof = 1;
		if (e->reply_on_eof) {
			assert_int_equal(stream_write_str(s, e->reply_on_eof), 0);
			assert_int_equal(stream_shutdown(s), 0);
		}
		return;
	}
	assert_true(b->len > 0);
	e->reads++;
	e->rx_n += b->len;
	e->rx_sum = fnv(e->rx_sum, sbuf_ptr(b), b->len);
	if (e->rx_len + b->len < sizeof(e->rx)) {
		memcpy(e->rx + e->rx_len, sbuf_ptr(b), b->len);
		e->rx_len += b->len;
		e->rx[e->rx_len] = 0;
	}
	sbuf_free(b);
	if (e->stop_after_first)
		stream_read_stop(s);
}

static void on_drain(stream_t *s)
{
	end_t *e = s->data;

	e->drains++;
	send_more(e);
}

static void on_error(stream_t *s, int err)
{
	end_t *e = s->data;

	e->err = err;
}

static const stream_cbs_t end_cbs = {on_read, on_drain, on_error};

static void on_hs(void *ud, stream_t *s, int err)
{
	end_t *e = ud;

	assert_ptr_equal(s, e->s);
	assert_false(e->hs_done);
	e->hs_done = 1;
	e->hs_err = err;
	if (err)
		return;
	stream_set_cbs(s, &end_cbs, e);
	stream_read_start(s);
	send_more(e);
}

static void discard(stream_t *s, sbuf_t *b)
{
	sbuf_free(b);
}
static void ignore_error(stream_t *s, int err) {}
static const stream_cbs_t discard_cbs = {discard, NULL, ignore_error};

static void on_conn(uv_stream_t *l, int status)
{
	stream_t *in;

	assert_int_equal(status, 0);
	assert_int_equal(tcp_stream_accept(l, 2, &in), 0);
	accepted++;
	if (!server_tls) {
		raw_srv = in;
		stream_set_cbs(in, plain ? &end_cbs : &discard_cbs, plain ? &srv : NULL);
		if (plain)
			srv.s = in;
		stream_read_start(in);
		return;
	}
	srv.s = tls_server_new(loop, sctx, in, NULL);
	assert_true(tls_is(srv.s));
	tls_handshake(srv.s, on_hs, &srv);
	if (close_server_in_accept) {
		stream_close(srv.s);
		srv.s = NULL;
	}
}

static void on_tcp_connect(stream_t *s, int status, void *ud)
{
	connect_status = status;
	if (status < 0) {
		stream_close(s);
		return;
	}
	if (plain) {
		cli.s = s;
		stream_set_cbs(s, &end_cbs, &cli);
		stream_read_start(s);
		send_more(&cli);
		return;
	}
	cli.s = tls_client_new(loop, cctx, s, sni, verify_name);
	tls_handshake(cli.s, on_hs, &cli);
}

static uint64_t deadline;

/* Ticks so that no uv_run blocks long after the condition became true
 * (UV_RUN_ONCE polls even when its timers already did the work). */
static void on_guard(uv_timer_t *t)
{
	if (uv_now(loop) >= deadline)
		timed_out = 1;
}

typedef int (*cond_fn)(void);

/* Turn the loop until cond() or ms elapsed; returns cond(). */
static int run_until(cond_fn cond, int ms)
{
	timed_out = 0;
	uv_update_time(loop);
	deadline = uv_now(loop) + (uint64_t)ms;
	uv_timer_start(&guard, on_guard, 2, 2);
	while (!cond() && !timed_out)
		uv_run(loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);
	return cond();
}

static int never(void)
{
	return 0;
}
static int both_hs(void)
{
	return cli.hs_done && srv.hs_done;
}
static int client_hs(void)
{
	return cli.hs_done;
}
static int was_accepted(void)
{
	return accepted > 0;
}
static int connected(void)
{
	return connect_status != 1;
}

static void reset_ends(void)
{
	memset(&cli, 0, sizeof(cli));
	memset(&srv, 0, sizeof(srv));
	cli.name = "client";
	srv.name = "server";
	cli.tx_rng = 0x9e3779b97f4a7c15ull;
	srv.tx_rng = 0xd1b54a32d192ed03ull;
	cli.tx_sum = cli.rx_sum = srv.tx_sum = srv.rx_sum = 0xcbf29ce484222325ull;
}

static int setup(void **st)
{
	tls_opts_t so = {.cert_file = cert_pem, .key_file = key_pem};
	char err[256];
	int len = sizeof(lsn_addr);

	loop = uv_default_loop();
	reset_ends();
	accepted = 0;
	server_tls = 1;
	close_server_in_accept = 0;
	plain = 0;
	raw_srv = NULL;
	cctx = NULL;
	sni = "localhost";
	verify_name = NULL;
	assert_int_equal(tls_ctx_new_server(&so, &sctx, err, sizeof(err)), 0);
	uv_timer_init(loop, &guard);
	uv_tcp_init(loop, &lsn);
	uv_ip4_addr("127.0.0.1", 0, &lsn_addr);
	assert_int_equal(uv_tcp_bind(&lsn, (struct sockaddr *)&lsn_addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&lsn, 8, on_conn), 0);
	uv_tcp_getsockname(&lsn, (struct sockaddr *)&lsn_addr, &len);
	return 0;
}

static int teardown(void **st)
{
	stream_close(cli.s);
	if (srv.s != raw_srv)
		stream_close(srv.s);
	stream_close(raw_srv);
	uv_close((uv_handle_t *)&lsn, NULL);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_false(uv_loop_alive(loop));
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
	return 0;
}

/* Connect a client with opts to the test server. */
static void start_client(const tls_opts_t *o)
{
	stream_t *t = tcp_stream_new(loop, 1);
	char err[256] = "";

	if (!cctx && !plain)
		assert_int_equal(tls_ctx_new_client(o, &cctx, err, sizeof(err)), 0);
	connect_status = 1;
	assert_int_equal(tcp_stream_connect(t, (struct sockaddr *)&lsn_addr, on_tcp_connect, NULL),
	                 0);
}

static void handshake(const tls_opts_t *o)
{
	start_client(o);
	assert_true(run_until(both_hs, 5000));
}

static void expect_ok(const tls_opts_t *o)
{
	handshake(o);
	assert_int_equal(cli.hs_err, 0);
	assert_int_equal(srv.hs_err, 0);
}

static void expect_fail(const tls_opts_t *o)
{
	handshake(o);
	assert_int_equal(cli.hs_err, UV_EPROTO);
	assert_true(srv.hs_err < 0);
}

/* ---- tests ---- */

static int bulk_done(void)
{
	return (cli.eof && srv.eof) || cli.err || srv.err;
}

static void test_bulk(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	cli.tx_left = srv.tx_left = BULK;
	cli.shut_when_sent = srv.shut_when_sent = 1;
	expect_ok(&o);
	assert_true(run_until(bulk_done, 60000));
	assert_int_equal(cli.err, 0);
	assert_int_equal(srv.err, 0);
	assert_int_equal(srv.rx_n, BULK);
	assert_int_equal(cli.rx_n, BULK);
	assert_true(srv.rx_sum == cli.tx_sum);
	assert_true(cli.rx_sum == srv.tx_sum);
	assert_true(cli.drains > 0 && srv.drains > 0); /* backpressure was used */
	/* chunks of several records, not one per record */
	assert_true(cli.rx_n / (uint64_t)cli.reads > 16384);
	assert_true(srv.rx_n / (uint64_t)srv.reads > 16384);
	assert_true(run_until(never, 20) == 0);
	assert_int_equal(cli.s->wq_bytes, 0);
	assert_int_equal(srv.s->wq_bytes, 0);
}

/* The same with every write a batch (stream_writev): the records of a
 * batch go below in one write. */
static void test_bulk_batched(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	cli.tx_left = srv.tx_left = BULK;
	cli.shut_when_sent = srv.shut_when_sent = 1;
	cli.batch = srv.batch = 1;
	expect_ok(&o);
	assert_true(run_until(bulk_done, 60000));
	assert_int_equal(cli.err, 0);
	assert_int_equal(srv.err, 0);
	assert_int_equal(srv.rx_n, BULK);
	assert_int_equal(cli.rx_n, BULK);
	assert_true(srv.rx_sum == cli.tx_sum);
	assert_true(cli.rx_sum == srv.tx_sum);
	assert_true(run_until(never, 20) == 0);
	assert_int_equal(cli.s->wq_bytes, 0);
	assert_int_equal(srv.s->wq_bytes, 0);
}

/* stream_writev on plain TCP, both ways: batches written in order, the
 * socket's partial writes resumed, the write queue counted and drained. */
static void test_tcp_writev(void **st)
{
	server_tls = 0;
	plain = 1;
	cli.tx_left = srv.tx_left = BULK;
	cli.shut_when_sent = srv.shut_when_sent = 1;
	cli.batch = srv.batch = 1;
	start_client(NULL);
	assert_true(run_until(was_accepted, 5000));
	send_more(&srv);
	assert_true(run_until(bulk_done, 60000));
	assert_int_equal(cli.err, 0);
	assert_int_equal(srv.err, 0);
	assert_int_equal(srv.rx_n, BULK);
	assert_int_equal(cli.rx_n, BULK);
	assert_true(srv.rx_sum == cli.tx_sum);
	assert_true(cli.rx_sum == srv.tx_sum);
	assert_true(cli.drains > 0 && srv.drains > 0);
	assert_true(run_until(never, 20) == 0);
	assert_int_equal(cli.s->wq_bytes, 0);
	assert_int_equal(srv.s->wq_bytes, 0);
}

static int half_done(void)
{
	return (cli.eof && srv.eof) || cli.err || srv.err;
}

static void test_half_close(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	srv.reply_on_eof = "answer";
	expect_ok(&o);
	assert_int_equal(stream_write_str(cli.s, "request"), 0);
	assert_int_equal(stream_shutdown(cli.s), 0);
	assert_int_equal(stream_write_str(cli.s, "late"), UV_EPIPE);
	assert_true(run_until(half_done, 5000));
	assert_string_equal(srv.rx, "request");
	assert_string_equal(cli.rx, "answer"); /* read after our own shutdown */
	assert_int_equal(cli.err, 0);
	assert_int_equal(srv.err, 0);
}

/* Writes before the handshake ends are queued and sent after it. */
static void test_early_write(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	srv.reply_on_eof = "bye";
	start_client(&o);
	assert_true(run_until(connected, 5000));
	assert_int_equal(connect_status, 0);
	assert_int_equal(stream_write_str(cli.s, "early"), 0);
	assert_int_equal(cli.s->wq_bytes, 5);
	assert_int_equal(stream_shutdown(cli.s), 0);
	assert_true(run_until(half_done, 5000));
	assert_int_equal(cli.hs_err, 0);
	assert_string_equal(srv.rx, "early");
	assert_string_equal(cli.rx, "bye");
}

static int cli_got_all(void)
{
	return cli.eof || cli.err;
}

/* The reader pauses after its first chunk while the server keeps sending:
 * nothing arrives while paused, everything (from OpenSSL's buffers too)
 * after read_start, and never from inside read_start. */
static void test_pause_resume(void **st)
{
	tls_opts_t o = {.insecure = 1};
	int reads;

	srv.tx_left = BULK;
	srv.shut_when_sent = 1;
	cli.stop_after_first = 1;
	expect_ok(&o);
	run_until(never, 300);
	assert_int_equal(cli.reads, 1);
	assert_false(cli.eof);
	assert_true(srv.tx_left > 0 || srv.s->wq_bytes > 0); /* the server is held back */
	cli.stop_after_first = 0;
	reads = cli.reads;
	stream_read_start(cli.s);
	assert_int_equal(cli.reads, reads);
	assert_true(run_until(cli_got_all, 10000));
	assert_int_equal(cli.err, 0);
	assert_true(cli.eof);
	assert_int_equal(cli.rx_n, BULK);
	assert_true(cli.rx_sum == srv.tx_sum);
}

/* ---- an in-memory inner stream ----
 *
 * Two ends; bytes written on one are delivered to the other from a timer,
 * all that is queued in one chunk (bigger than any tcp read), so that one
 * inner read can hold more than one plaintext chunk. */

typedef struct pend {
	stream_t s;
	struct pipe *p;
	sbuf_queue_t in; /* to be delivered to this end */
	unsigned reading : 1, peer_shut : 1, eof_told : 1;
} pend_t;

typedef struct pipe {
	pend_t e[2];
	uv_timer_t timer;
	int open;
} pipe_t;

static void pipe_run(uv_timer_t *t);

static pend_t *peer_of(pend_t *e)
{
	return &e->p->e[e == &e->p->e[0]];
}

static void pipe_kick(pipe_t *p)
{
	uv_timer_start(&p->timer, pipe_run, 0, 0);
}

static void pipe_deliver(pend_t *e)
{
	pend_t *w = peer_of(e);
	size_t n = e->in.bytes, off = 0;
	sbuf_t *b, *all;

	if (e->s.closed || !e->reading)
		return;
	if (n) {
		all = sbuf_new(n);
		while ((b = sbufq_pop(&e->in))) {
			memcpy(all->data + off, sbuf_ptr(b), b->len);
			off += b->len;
			sbuf_free(b);
		}
		all->len = (uint32_t)n;
		w->s.wq_bytes -= n;
		e->s.cbs->on_read(&e->s, all);
		if (!w->s.closed && w->s.wq_bytes <= STREAM_LOW_WATER && w->s.cbs->on_drain)
			w->s.cbs->on_drain(&w->s);
	}
	if (!e->s.closed && e->reading && e->peer_shut && !e->in.bytes && !e->eof_told) {
		e->eof_told = 1;
		e->s.cbs->on_read(&e->s, NULL);
	}
}

static void pipe_run(uv_timer_t *t)
{
	pipe_t *p = t->data;

	pipe_deliver(&p->e[0]);
	pipe_deliver(&p->e[1]);
}

static int pipe_write(stream_t *s, sbuf_t *b)
{
	pend_t *e = (pend_t *)s, *r = peer_of(e);

	if (r->s.closed || r->peer_shut) {
		sbuf_free(b);
		return UV_EPIPE;
	}
	s->wq_bytes += b->len;
	sbufq_push(&r->in, b);
	pipe_kick(e->p);
	return 0;
}

static int pipe_shutdown(stream_t *s)
{
	pend_t *e = (pend_t *)s;

	peer_of(e)->peer_shut = 1;
	pipe_kick(e->p);
	return 0;
}

static void pipe_read_start(stream_t *s)
{
	pend_t *e = (pend_t *)s;

	e->reading = 1;
	pipe_kick(e->p);
}

static void pipe_read_stop(stream_t *s)
{
	((pend_t *)s)->reading = 0;
}

static void pipe_free(uv_handle_t *h)
{
	pipe_t *p = h->data;

	sbufq_clear(&p->e[0].in);
	sbufq_clear(&p->e[1].in);
	free(p);
}

static void pipe_close(stream_t *s)
{
	pend_t *e = (pend_t *)s;

	if (--e->p->open == 0)
		uv_close((uv_handle_t *)&e->p->timer, pipe_free);
}

static const stream_ops_t pipe_ops = {
    .name = "pipe",
    .write = pipe_write,
    .shutdown = pipe_shutdown,
    .read_start = pipe_read_start,
    .read_stop = pipe_read_stop,
    .close = pipe_close,
};

static void pipe_new(stream_t **a, stream_t **b)
{
	pipe_t *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	p->open = 2;
	for (int i = 0; i < 2; i++) {
		p->e[i].s.ops = &pipe_ops;
		p->e[i].s.id = (uint64_t)i + 1;
		p->e[i].p = p;
	}
	*a = &p->e[0].s;
	*b = &p->e[1].s;
}

/* More than a chunk of plaintext arrives in one inner read; the reader
 * stops after the first chunk, so the rest stays in OpenSSL and inq and
 * must come out after read_start, from a callback of its own. */
static void test_resume_buffered(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};
	stream_t *a, *b;
	char err[128];
	int reads;

	assert_int_equal(tls_ctx_new_client(&o, &cctx, err, sizeof(err)), 0);
	pipe_new(&a, &b);
	cli.s = tls_client_new(loop, cctx, a, "localhost", NULL);
	srv.s = tls_server_new(loop, sctx, b, NULL);
	tls_handshake(cli.s, on_hs, &cli);
	tls_handshake(srv.s, on_hs, &srv);
	assert_false(cli.hs_done || srv.hs_done);
	assert_true(run_until(both_hs, 5000));
	assert_int_equal(cli.hs_err, 0);
	assert_int_equal(srv.hs_err, 0);
	run_until(never, 20);
	cli.stop_after_first = 1;
	srv.tx_left = 200 * 1024;
	srv.shut_when_sent = 1;
	send_more(&srv);
	run_until(never, 100);
	assert_int_equal(cli.reads, 1);
	assert_int_equal(cli.rx_n, SBUF_DEFAULT);
	cli.stop_after_first = 0;
	reads = cli.reads;
	stream_read_start(cli.s);
	assert_int_equal(cli.reads, reads);
	assert_true(run_until(cli_got_all, 5000));
	assert_int_equal(cli.rx_n, 200 * 1024);
	assert_true(cli.rx_sum == srv.tx_sum);
	/* and the other way, with a shutdown: bytes plus EOF at the server */
	cli.tx_left = 300 * 1024;
	cli.shut_when_sent = 1;
	send_more(&cli);
	assert_true(run_until(half_done, 5000));
	assert_int_equal(srv.rx_n, 300 * 1024);
	assert_true(srv.rx_sum == cli.tx_sum);
	run_until(never, 20);
	assert_int_equal(cli.s->wq_bytes, 0);
}

static void test_verify_system_cas(void **st)
{
	tls_opts_t o = {0};

	expect_fail(&o);
}

static void test_verify_ca_file(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	expect_ok(&o);
}

static void test_verify_insecure(void **st)
{
	tls_opts_t o = {.insecure = 1};

	expect_ok(&o);
}

static const char wrong_pin[] = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:"
                                "66:77:88:99:aa:bb:cc:dd:ee:ff";

static void test_pin_wrong_insecure(void **st)
{
	tls_opts_t o = {.insecure = 1, .pin_sha256 = wrong_pin};

	expect_fail(&o);
}

static void test_pin_wrong_ca(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem, .pin_sha256 = wrong_pin};

	expect_fail(&o);
}

static void pin_hex(char *out, int colons)
{
	char *p = out;

	for (int i = 0; i < 32; i++)
		p += sprintf(p, "%s%02X", colons && i ? ":" : "", cert_sha256[i]);
}

static void test_pin_right(void **st)
{
	char pin[100];
	tls_opts_t o = {.insecure = 1, .pin_sha256 = pin};

	pin_hex(pin, 1);
	expect_ok(&o);
}

static void test_pin_right_ca(void **st)
{
	char pin[100];
	tls_opts_t o = {.ca_file = cert_pem, .pin_sha256 = pin};

	pin_hex(pin, 0);
	expect_ok(&o);
}

/* the pin is enough: a self-signed server no system CA knows is accepted
 * when its certificate is the pinned one */
static void test_pin_right_system_cas(void **st)
{
	char pin[100];
	tls_opts_t o = {.pin_sha256 = pin};

	pin_hex(pin, 0);
	expect_ok(&o);
}

static void test_hostname_mismatch(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	sni = "example.com";
	expect_fail(&o);
}

static void test_ip_literal(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	sni = "127.0.0.1";
	expect_ok(&o);
}

static void test_ip_literal_mismatch(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	sni = "127.0.0.2";
	expect_fail(&o);
}

/* no name at all: a chain the CA signed proves nothing, so a verifying
 * client refuses rather than accept any certificate */
static void test_no_name(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	sni = "";
	start_client(&o);
	assert_true(run_until(client_hs, 5000));
	assert_true(cli.hs_err < 0);
}

/* the name verified is the server's, whatever SNI is sent (none, or
 * another name) */
static void test_verify_name_no_sni(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	sni = "";
	verify_name = "localhost";
	expect_ok(&o);
}

static void test_verify_name_not_sni(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	sni = "localhost";
	verify_name = "example.com";
	expect_fail(&o);
}

static void test_verify_name_other_sni(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	sni = "example.com";
	verify_name = "localhost";
	expect_ok(&o);
}

static void test_alpn(void **st)
{
	tls_opts_t so = {.cert_file = cert_pem, .key_file = key_pem, .alpn = "http/1.1"};
	tls_opts_t o = {.ca_file = cert_pem, .alpn = "h2,http/1.1"};
	char err[128];

	tls_ctx_free(sctx);
	assert_int_equal(tls_ctx_new_server(&so, &sctx, err, sizeof(err)), 0);
	expect_ok(&o);
}

static void test_info(void **st)
{
	tls_opts_t o = {.insecure = 1};
	uint8_t h[64];
	const char *d;

	expect_ok(&o);
	assert_true(tls_is(cli.s));
	assert_false(tls_is(raw_srv));
	assert_int_equal(tls_peer_cert_hash(cli.s, "sha256", h, sizeof(h)), 32);
	assert_memory_equal(h, cert_sha256, 32);
	assert_int_equal(tls_peer_cert_hash(cli.s, "sha1", h, sizeof(h)), 20);
	assert_int_equal(tls_peer_cert_hash(cli.s, "sha256", h, 16), UV_ENOBUFS);
	assert_int_equal(tls_peer_cert_hash(cli.s, "nonsense", h, sizeof(h)), UV_EINVAL);
	assert_int_equal(tls_peer_cert_hash(srv.s, "sha256", h, sizeof(h)), UV_ENOENT);
	d = tls_describe(cli.s);
	assert_true(!strncmp(d, "TLSv1.3 TLS_", 12));
}

/* The server never answers: closing the client mid-handshake must not call
 * the callback, and everything (queued plaintext too) must be freed. */
static void test_close_client_in_handshake(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	server_tls = 0;
	start_client(&o);
	assert_true(run_until(was_accepted, 5000));
	assert_true(run_until(connected, 5000));
	assert_int_equal(stream_write_str(cli.s, "queued"), 0);
	run_until(never, 50);
	assert_false(cli.hs_done);
	stream_close(cli.s);
	stream_close(cli.s); /* idempotent */
	cli.s = NULL;        /* freed by the loop from here on */
	run_until(never, 50);
	assert_false(cli.hs_done);
}

/* Closing before tls_handshake's first step ran (same tick). */
static void test_close_server_in_handshake(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	close_server_in_accept = 1;
	start_client(&o);
	assert_true(run_until(client_hs, 5000));
	assert_true(cli.hs_err < 0);
	assert_false(srv.hs_done);
}

/* The server end closes the TCP connection without a word: EOF. */
static void test_peer_vanishes(void **st)
{
	tls_opts_t o = {.ca_file = cert_pem};

	server_tls = 0;
	start_client(&o);
	assert_true(run_until(was_accepted, 5000));
	run_until(never, 50);
	stream_close(raw_srv);
	raw_srv = NULL;
	assert_true(run_until(client_hs, 5000));
	assert_int_equal(cli.hs_err, UV_EOF);
}

static void test_ctx_errors(void **st)
{
	char err[256], want[512];
	tls_opts_t o = {.cert_file = "/nonexistent/srv.pem", .key_file = key_pem};
	tls_ctx_t *c = (tls_ctx_t *)1;

	assert_int_equal(tls_ctx_new_server(&o, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_string_equal(err, "cert=/nonexistent/srv.pem: No such file or directory");

	o = (tls_opts_t){.cert_file = cert_pem, .key_file = "/nonexistent/srv.key"};
	assert_int_equal(tls_ctx_new_server(&o, &c, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "certkey=/nonexistent/srv.key: No such file or directory");

	o = (tls_opts_t){.cert_file = cert_pem, .key_file = key2_pem};
	assert_int_equal(tls_ctx_new_server(&o, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "certkey=%s does not match cert=%s", key2_pem, cert_pem);
	assert_string_equal(err, want);

	o = (tls_opts_t){.cert_file = key_pem, .key_file = key_pem};
	assert_int_equal(tls_ctx_new_server(&o, &c, err, sizeof(err)), -EINVAL);
	assert_true(!strncmp(err, "cert=", 5));

	o = (tls_opts_t){.cert_file = cert_pem, .key_file = cert_pem};
	assert_int_equal(tls_ctx_new_server(&o, &c, err, sizeof(err)), -EINVAL);
	assert_true(!strncmp(err, "certkey=", 8));

	o = (tls_opts_t){.cert_file = cert_pem};
	assert_int_equal(tls_ctx_new_server(&o, &c, err, sizeof(err)), -EINVAL);

	o = (tls_opts_t){.ca_file = "/nonexistent/ca.pem"};
	assert_int_equal(tls_ctx_new_client(&o, &c, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "ca=/nonexistent/ca.pem: No such file or directory");

	o = (tls_opts_t){.ca_file = key_pem};
	assert_int_equal(tls_ctx_new_client(&o, &c, err, sizeof(err)), -EINVAL);
	assert_true(!strncmp(err, "ca=", 3));

	o = (tls_opts_t){.insecure = 1, .pin_sha256 = "abcd"};
	assert_int_equal(tls_ctx_new_client(&o, &c, err, sizeof(err)), -EINVAL);
	assert_true(!strncmp(err, "pin=abcd", 8));

	o = (tls_opts_t){.insecure = 1, .alpn = "h2,,x"};
	assert_int_equal(tls_ctx_new_client(&o, &c, err, sizeof(err)), -EINVAL);

	assert_int_equal(tls_ctx_new_client(NULL, &c, err, sizeof(err)), 0);
	tls_ctx_free(c);
}

/* ---- a real peer: openssl s_server ---- */

static pid_t s_server(int port, const char *extra)
{
	char portstr[16];
	const char *argv[16];
	int n = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	extern char **environ;

	snprintf(portstr, sizeof(portstr), "%d", port);
	argv[n++] = "openssl";
	argv[n++] = "s_server";
	argv[n++] = "-accept";
	argv[n++] = portstr;
	argv[n++] = "-cert";
	argv[n++] = cert_pem;
	argv[n++] = "-key";
	argv[n++] = key_pem;
	argv[n++] = "-www";
	argv[n++] = "-naccept";
	argv[n++] = "2";
	if (extra)
		argv[n++] = extra;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, "openssl", &fa, NULL, (char **)argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int get_done(void)
{
	return cli.hs_err || cli.eof || cli.err;
}

static void get_page(struct sockaddr_in *sa)
{
	for (int i = 0; i < 100; i++) {
		stream_t *t = tcp_stream_new(loop, 1);

		connect_status = 1;
		assert_int_equal(tcp_stream_connect(t, (struct sockaddr *)sa, on_tcp_connect, NULL),
		                 0);
		assert_true(run_until(connected, 5000));
		if (connect_status == 0)
			break;
		run_until(never, 50); /* s_server is still starting */
	}
	assert_int_equal(connect_status, 0);
	assert_true(run_until(client_hs, 5000));
	assert_int_equal(cli.hs_err, 0);
	assert_int_equal(stream_write_str(cli.s, "GET / HTTP/1.0\r\n\r\n"), 0);
	assert_true(run_until(get_done, 5000));
	assert_int_equal(cli.err, 0);
	assert_true(cli.eof);
	assert_true(!strncmp(cli.rx, "HTTP/1.0 200 ok", 15));
}

static void interop(const char *extra, const char *version)
{
	tls_opts_t o = {.ca_file = cert_pem};
	struct sockaddr_in sa;
	uv_tcp_t probe;
	int len = sizeof(sa), status;
	char err[128];
	pid_t pid;

	/* a free port: bind one, note it, let it go */
	uv_tcp_init(loop, &probe);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&probe, (struct sockaddr *)&sa, 0), 0);
	uv_tcp_getsockname(&probe, (struct sockaddr *)&sa, &len);
	uv_close((uv_handle_t *)&probe, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	pid = s_server(ntohs(sa.sin_port), extra);
	if (pid < 0)
		skip();
	assert_int_equal(tls_ctx_new_client(&o, &cctx, err, sizeof(err)), 0);
	get_page(&sa);
	assert_non_null(strstr(cli.rx, version));
	assert_non_null(strstr(cli.rx, "\nNew, "));
	stream_close(cli.s);
	cli.s = NULL;
	reset_ends();
	/* the same context resumes the session */
	get_page(&sa);
	assert_non_null(strstr(cli.rx, "\nReused, "));
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
}

static void test_openssl_s_server(void **st)
{
	interop(NULL, "TLSv1.3");
}
static void test_openssl_s_server_tls12(void **st)
{
	interop("-tls1_2", "TLSv1.2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bulk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_batched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_writev, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_early_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume_buffered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_system_cas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_ca_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_insecure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_wrong_insecure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_wrong_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_right, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_right_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_right_system_cas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostname_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ip_literal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ip_literal_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_name_no_sni, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_name_not_sni, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_name_other_sni, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alpn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_client_in_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_server_in_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_vanishes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ctx_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_openssl_s_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_openssl_s_server_tls12, setup, teardown),
	};
	return cmocka_run_group_tests(tests, make_files, remove_files);
}
