/* Unit tests for tunnel/ws/ws.
 *
 *   - handshake helpers: the RFC 6455 key/accept vector, request and
 *     response text, response checks (good ones with odd spelling, bad
 *     ones: status, Upgrade, Connection, accept, truncation);
 *   - two ws_t endpoints (client and server) over loopback TCP made with
 *     core/tcp, after a real opening handshake: messages both ways, order,
 *     the size cap, keepalive, the close handshake, transport loss,
 *     backpressure, pause, ws_free from inside a callback;
 *   - a raw socket as the peer, for what ws_t must never send itself:
 *     unmasked or RSV frames, broken framing, bad UTF-8, fragments around
 *     a ping, a peer that never answers;
 *   - interop with Debian's python3-websockets (/usr/bin/python3) both
 *     ways: handshake, text and binary echo, ping/pong, close 1000.  The
 *     tests skip when that module is missing.
 *
 * Every ws_* call goes through a t_* wrapper that marks "inside the API";
 * every callback asserts it is not, which checks the promise that no
 * callback fires from inside a ws_* call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "core/encoding.h"
#include "core/tcp.h"
#include "tunnel/ws/decoy.h"
#include "tunnel/ws/ws.h"
#include "wire/http_proto.h"

#define KIB 1024
#define PYTHON "/usr/bin/python3"

static uv_loop_t *loop;
static uv_timer_t tick;
static int in_api;

static void on_tick(uv_timer_t *t) {}

/* Turn the loop until cond holds or ms pass. */
#define RUN_UNTIL(cond, ms)                                                                        \
	do {                                                                                       \
		uint64_t end_;                                                                     \
		uv_update_time(loop);                                                              \
		end_ = uv_now(loop) + (uint64_t)(ms);                                              \
		uv_timer_start(&tick, on_tick, 2, 2);                                              \
		while (!(cond) && uv_now(loop) < end_)                                             \
			uv_run(loop, UV_RUN_ONCE);                                                 \
		uv_timer_stop(&tick);                                                              \
	} while (0)

static void run_for(int ms)
{
	RUN_UNTIL(0, ms);
}

/* ---- handshake helpers ---- */

static void test_accept_vector(void **st)
{
	char acc[WS_ACCEPT_LEN + 1];

	ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
	assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_make_key(void **st)
{
	char a[WS_KEY_LEN + 1], b[WS_KEY_LEN + 1];
	uint8_t raw[32];

	ws_make_key(a);
	ws_make_key(b);
	assert_int_equal(strlen(a), WS_KEY_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(b64_decode_strict(a, strlen(a), raw, sizeof(raw)), 16);
}

static void test_client_request(void **st)
{
	const char *want = "GET /chat?x=1 HTTP/1.1\r\n"
	                   "Host: example.org:8080\r\n"
	                   "Upgrade: websocket\r\n"
	                   "Connection: Upgrade\r\n"
	                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                   "Sec-WebSocket-Version: 13\r\n"
	                   "Origin: http://example.org\r\n"
	                   "\r\n";
	char buf[512];
	int n = ws_client_request(buf, sizeof(buf), "example.org:8080", "/chat?x=1",
	                          "dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://example.org\r\n");

	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
	for (size_t len = 0; len <= strlen(want); len++)
		assert_int_equal(
		    ws_client_request(buf, len, "example.org:8080", "/chat?x=1",
		                      "dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://example.org\r\n"),
		    -ENOSPC);
	/* no path means "/"; no header injection through the arguments */
	n = ws_client_request(buf, sizeof(buf), "h", NULL, "k", NULL);
	assert_true(n > 0);
	assert_memory_equal(buf, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(ws_client_request(buf, sizeof(buf), "h\r\nX: y", "/", "k", NULL), -EINVAL);
	assert_int_equal(ws_client_request(buf, sizeof(buf), "h", "/\n", "k", NULL), -EINVAL);
}

static void test_server_response(void **st)
{
	const char *want = "HTTP/1.1 101 Switching Protocols\r\n"
	                   "Upgrade: websocket\r\n"
	                   "Connection: Upgrade\r\n"
	                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                   "Sec-WebSocket-Protocol: chat\r\n"
	                   "\r\n";
	char buf[512];
	int n = ws_server_response(buf, sizeof(buf),
	                           "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol: chat\r\n");

	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(ws_server_response(buf, 40, "dGhlIHNhbXBsZSBub25jZQ==", NULL), -ENOSPC);
}

static const char *key = "dGhlIHNhbXBsZSBub25jZQ==";

static int check(const char *head, char *err)
{
	size_t n = strlen(head);
	char *copy = malloc(n ? n : 1); /* exact size: ASan sees over-reads */
	int r;

	memcpy(copy, head, n);
	r = ws_client_check_response(copy, n, key, NULL, NULL, 0, err, 128);
	free(copy);
	return r;
}

static void test_check_response_good(void **st)
{
	char val[16], err[128];
	const char *odd = "HTTP/1.1 101 Web Socket Protocol Handshake\r\n"
	                  "upgrade: WebSocket\r\n"
	                  "CONNECTION: keep-alive, Upgrade\r\n"
	                  "sec-websocket-accept:   s3pPLMBiTxaQ9kYGzzhZRbK+xOo=  \r\n"
	                  "X-Long: 0123456789abcdefghij\r\n"
	                  "\r\n";
	char buf[512];
	int n;

	assert_int_equal(check(odd, err), 0);
	assert_string_equal(err, "");
	/* copy of one header, truncated to the buffer */
	assert_int_equal(ws_client_check_response(odd, strlen(odd), key, "x-long", val, sizeof(val),
	                                          err, sizeof(err)),
	                 0);
	assert_string_equal(val, "0123456789abcde");
	/* absent: "" */
	assert_int_equal(ws_client_check_response(odd, strlen(odd), key, "X-None", val, sizeof(val),
	                                          err, sizeof(err)),
	                 0);
	assert_string_equal(val, "");
	/* our own response passes our own check; bytes after the head are ignored */
	n = ws_server_response(buf, sizeof(buf), key, "X-Hop: 7\r\n");
	memcpy(buf + n, "\x81\x02hi", 4);
	assert_int_equal(ws_client_check_response(buf, (size_t)n + 4, key, "X-Hop", val,
	                                          sizeof(val), err, sizeof(err)),
	                 0);
	assert_string_equal(val, "7");
}

static void test_check_response_bad(void **st)
{
	static const struct {
		const char *head, *why;
	} bad[] = {
	    {"HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	     "status 200"},
	    {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "status 404"},
	    {"HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	     "not HTTP/1.1"},
	    {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	     "no Upgrade: websocket"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	     "no Upgrade: websocket"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	     "no Connection: upgrade"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgraded\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	     "no Connection: upgrade"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n\r\n",
	     "bad Sec-WebSocket-Accept"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	     "bad Sec-WebSocket-Accept"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "\r\n",
	     "bad Sec-WebSocket-Accept"},
	    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	     "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
	     "bad Sec-WebSocket-Accept"},
	    {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed response head"},
	    {"", "incomplete response head"},
	};
	const char *good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                   "Connection: Upgrade\r\n"
	                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(bad[i].head, err), -EPROTO);
		assert_string_equal(err, bad[i].why);
	}
	/* every strict prefix of a good head is incomplete (or, cut inside
	 * the status line, malformed), never accepted */
	for (size_t n = 0; n < strlen(good); n++) {
		char *p = malloc(n ? n : 1);
		memcpy(p, good, n);
		assert_int_equal(ws_client_check_response(p, n, key, NULL, NULL, 0, NULL, 0),
		                 -EPROTO);
		free(p);
	}
	assert_int_equal(check(good, err), 0);
}

/* ---- endpoints ---- */

typedef struct ep {
	ws_t *w;
	int nmsg, last_op;
	uint64_t bytes;
	sbuf_t *last;
	int check_seq;
	uint32_t next_seq;
	int seq_errors;
	int echo;         /* send every message back */
	int close_on_cmd; /* text "close please": ws_close(1000, "bye") */
	int pause_at;     /* ws_pause from inside the pause_at-th on_message */
	int free_on_msg;  /* ws_free from inside on_message */
	int paused, freed;
	int closed, code;
	char reason[128];
	int drains;
	size_t drain_pending; /* ws_pending() in the last on_drain */
	/* sender for the backpressure test */
	int sent, total;
	size_t msg_len, max_pending;
} ep_t;

static ws_t *t_new(stream_t *s, sbuf_t *first, int client, const ws_opts_t *o, const ws_cbs_t *c,
                   ep_t *e)
{
	in_api++;
	e->w = ws_new(loop, s, first, client, o, c, e);
	in_api--;
	return e->w;
}
static int t_send(ep_t *e, int op, sbuf_t *m)
{
	int r;

	in_api++;
	r = ws_send(e->w, op, m);
	in_api--;
	return r;
}
static int t_close(ep_t *e, uint16_t code, const char *why)
{
	int r;

	in_api++;
	r = ws_close(e->w, code, why);
	in_api--;
	return r;
}
static void t_pause(ep_t *e)
{
	in_api++;
	ws_pause(e->w);
	e->paused = 1;
	in_api--;
}
static void t_resume(ep_t *e)
{
	in_api++;
	ws_resume(e->w);
	e->paused = 0;
	in_api--;
}
static void t_free(ep_t *e)
{
	in_api++;
	ws_free(e->w);
	e->freed = 1;
	in_api--;
}
static size_t t_pending(ep_t *e)
{
	size_t n;

	in_api++;
	n = ws_pending(e->w);
	in_api--;
	return n;
}

/* Message `seq` of len bytes: the sequence number, then a pattern. */
static sbuf_t *make_msg(uint32_t seq, size_t len)
{
	sbuf_t *b = sbuf_new(len);

	for (size_t j = 0; j < len; j++)
		b->data[j] = (uint8_t)(seq * 31 + j);
	if (len >= 4)
		memcpy(b->data, &seq, 4);
	b->len = (uint32_t)len;
	return b;
}

static void check_msg(ep_t *e, sbuf_t *m)
{
	uint32_t seq;
	const uint8_t *p = sbuf_ptr(m);

	if (m->len < 4)
		return;
	memcpy(&seq, p, 4);
	if (seq != e->next_seq)
		e->seq_errors++;
	e->next_seq = seq + 1;
	for (size_t j = 4; j < m->len; j++)
		if (p[j] != (uint8_t)(seq * 31 + j)) {
			e->seq_errors++;
			break;
		}
}

static void send_more(ep_t *e);

static void on_message(ws_t *w, int op, sbuf_t *m)
{
	ep_t *e = ws_data(w);

	assert_int_equal(in_api, 0);
	assert_false(e->freed);
	assert_false(e->closed);
	assert_false(e->paused);
	e->nmsg++;
	e->bytes += m->len;
	e->last_op = op;
	if (e->check_seq)
		check_msg(e, m);
	if (e->close_on_cmd && op == WS_OP_TEXT && m->len == 12 &&
	    !memcmp(sbuf_ptr(m), "close please", 12)) {
		sbuf_free(m);
		assert_int_equal(t_close(e, 1000, "bye"), 0);
		return;
	}
	if (e->echo) {
		assert_int_equal(t_send(e, op, m), 0);
	} else {
		sbuf_free(e->last);
		e->last = m;
	}
	if (e->pause_at && e->nmsg == e->pause_at)
		t_pause(e);
	if (e->free_on_msg)
		t_free(e);
}

static void on_drain(ws_t *w)
{
	ep_t *e = ws_data(w);

	assert_int_equal(in_api, 0);
	assert_false(e->freed);
	e->drains++;
	e->drain_pending = t_pending(e);
	assert_true(e->drain_pending <= STREAM_LOW_WATER);
	send_more(e);
}

static void on_close(ws_t *w, int code, const char *reason)
{
	ep_t *e = ws_data(w);

	assert_int_equal(in_api, 0);
	assert_false(e->freed);
	assert_false(e->closed);
	e->closed = 1;
	e->code = code;
	snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
}

static const ws_cbs_t cbs = {.on_message = on_message, .on_drain = on_drain, .on_close = on_close};

static void send_more(ep_t *e)
{
	while (e->sent < e->total && t_pending(e) <= STREAM_HIGH_WATER) {
		assert_int_equal(t_send(e, WS_OP_BINARY, make_msg((uint32_t)e->sent++, e->msg_len)),
		                 0);
		if (t_pending(e) > e->max_pending)
			e->max_pending = t_pending(e);
	}
}

static void ep_done(ep_t *e)
{
	if (!e->freed && e->w)
		t_free(e);
	sbuf_free(e->last);
	e->last = NULL;
}

/* ---- loopback TCP ---- */

static uv_tcp_t lsock;
static stream_t *accepted;
static int lport;

static void on_conn(uv_stream_t *srv, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(tcp_stream_accept(srv, 2, &accepted), 0);
}

static void listen_any(void)
{
	struct sockaddr_in sa;
	int len = sizeof(sa);

	uv_tcp_init(loop, &lsock);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&lsock, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&lsock, 8, on_conn), 0);
	assert_int_equal(uv_tcp_getsockname(&lsock, (struct sockaddr *)&sa, &len), 0);
	lport = ntohs(sa.sin_port);
	accepted = NULL;
}

static void unlisten(void)
{
	uv_close((uv_handle_t *)&lsock, NULL);
	run_for(20);
}

static int connected;

static void on_connected(stream_t *s, int status, void *ud)
{
	connected = status ? -1 : 1;
}

static stream_t *dial(int port)
{
	struct sockaddr_in sa;
	stream_t *s = tcp_stream_new(loop, 1);

	uv_ip4_addr("127.0.0.1", port, &sa);
	connected = 0;
	assert_int_equal(tcp_stream_connect(s, (struct sockaddr *)&sa, on_connected, NULL), 0);
	RUN_UNTIL(connected, 5000);
	assert_int_equal(connected, 1);
	return s;
}

/* A raw, non-blocking socket to our listener, and the accepted stream. */
static int raw_connect(stream_t **srv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(lport)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	RUN_UNTIL(accepted, 5000);
	assert_non_null(accepted);
	*srv = accepted;
	accepted = NULL;
	return fd;
}

/* ---- opening handshake inside the test ---- */

typedef struct hs {
	char buf[16 * KIB];
	size_t len;
	int eof, err;
} hs_t;

static void hs_read(stream_t *s, sbuf_t *b)
{
	hs_t *h = s->data;

	if (!b) {
		h->eof = 1;
		return;
	}
	assert_true(h->len + b->len <= sizeof(h->buf));
	memcpy(h->buf + h->len, sbuf_ptr(b), b->len);
	h->len += b->len;
	sbuf_free(b);
}

static void hs_error(stream_t *s, int err)
{
	((hs_t *)s->data)->err = err;
}

static const stream_cbs_t hs_cbs = {.on_read = hs_read, .on_error = hs_error};

static size_t hs_head(hs_t *h)
{
	char *end;

	RUN_UNTIL(memmem(h->buf, h->len, "\r\n\r\n", 4) || h->eof || h->err, 5000);
	end = memmem(h->buf, h->len, "\r\n\r\n", 4);
	assert_non_null(end);
	return (size_t)(end + 4 - h->buf);
}

static sbuf_t *rest(hs_t *h, size_t used)
{
	return h->len > used ? sbuf_from(h->buf + used, h->len - used) : NULL;
}

/* Client side, step 1: send the request. */
static void client_hello(stream_t *s, hs_t *h, char *k, const char *host, const char *path)
{
	char req[1024];
	int n;

	ws_make_key(k);
	n = ws_client_request(req, sizeof(req), host, path, k, "X-Client: sluice-test\r\n");
	assert_true(n > 0);
	stream_set_cbs(s, &hs_cbs, h);
	stream_read_start(s);
	assert_int_equal(stream_write_copy(s, req, (size_t)n), 0);
}

/* Client side, step 2: check the 101 and start the ws_t. */
static ws_t *client_finish(stream_t *s, hs_t *h, const char *k, const ws_opts_t *o, ep_t *e,
                           char *srv_hdr, size_t srv_len)
{
	char err[128];
	size_t used = hs_head(h);

	assert_int_equal(ws_client_check_response(h->buf, used, k, "X-Server", srv_hdr, srv_len,
	                                          err, sizeof(err)),
	                 0);
	return t_new(s, rest(h, used), 1, o, &cbs, e);
}

/* Server side: parse the upgrade request with wire/http_proto, answer. */
static ws_t *server_accept(stream_t *s, const ws_opts_t *o, ep_t *e, char *path, size_t plen,
                           char *hdr, size_t hlen)
{
	hs_t *h = calloc(1, sizeof(*h));
	http_req_t r;
	const http_str_t *v;
	char k[64], resp[512];
	size_t used = 0;
	int n;
	ws_t *w;

	stream_set_cbs(s, &hs_cbs, h);
	stream_read_start(s);
	hs_head(h);
	http_req_init(&r);
	assert_int_equal(http_req_feed(&r, (uint8_t *)h->buf, h->len, &used), HTTP_DONE);
	assert_true(r.upgrade);
	v = http_req_header(&r, "Sec-WebSocket-Key");
	assert_non_null(v);
	assert_true(v->len < sizeof(k));
	memcpy(k, v->p, v->len);
	k[v->len] = 0;
	v = http_req_header(&r, "Sec-WebSocket-Version");
	assert_non_null(v);
	assert_memory_equal(v->p, "13", 2);
	if (path)
		snprintf(path, plen, "%.*s", (int)r.target.len, r.target.p);
	if (hdr) {
		v = http_req_header(&r, "X-Test");
		snprintf(hdr, hlen, "%.*s", v ? (int)v->len : 0, v ? v->p : "");
	}
	n = ws_server_response(resp, sizeof(resp), k, "X-Server: sluice-test\r\n");
	assert_true(n > 0);
	assert_int_equal(stream_write_copy(s, resp, (size_t)n), 0);
	http_req_free(&r);
	w = t_new(s, rest(h, used), 0, o, &cbs, e);
	free(h);
	return w;
}

/* Client c and server s, connected and upgraded. */
static void pair(ep_t *c, const ws_opts_t *co, ep_t *s, const ws_opts_t *so)
{
	hs_t *h = calloc(1, sizeof(*h));
	char k[WS_KEY_LEN + 1], srv[32];
	stream_t *cs;

	listen_any();
	cs = dial(lport);
	RUN_UNTIL(accepted, 5000);
	assert_non_null(accepted);
	client_hello(cs, h, k, "127.0.0.1", "/t");
	assert_non_null(server_accept(accepted, so, s, NULL, 0, NULL, 0));
	accepted = NULL;
	assert_non_null(client_finish(cs, h, k, co, c, srv, sizeof(srv)));
	assert_string_equal(srv, "sluice-test");
	free(h);
}

static void pair_done(ep_t *c, ep_t *s)
{
	ep_done(c);
	ep_done(s);
	unlisten();
}

/* ---- ws_t pairs ---- */

static void test_messages(void **st)
{
	ep_t c = {0}, s = {.check_seq = 1};

	pair(&c, NULL, &s, NULL);

	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("hi", 2)), 0);
	RUN_UNTIL(s.nmsg == 1, 5000);
	assert_int_equal(s.last_op, WS_OP_TEXT);
	assert_int_equal(s.last->len, 2);
	assert_memory_equal(sbuf_ptr(s.last), "hi", 2);
	/* on_drain reports the queue down to empty, even from below the mark */
	RUN_UNTIL(c.drains, 1000);
	assert_true(c.drains >= 1);
	assert_int_equal(c.drain_pending, 0);
	assert_int_equal(t_send(&c, WS_OP_BINARY, sbuf_new(0)), 0); /* empty */
	RUN_UNTIL(s.nmsg == 2, 5000);
	assert_int_equal(s.last_op, WS_OP_BINARY);
	assert_int_equal(s.last->len, 0);

	/* 512 KiB, then 1000 small ones sent in one go: order and content */
	assert_int_equal(t_send(&c, WS_OP_BINARY, make_msg(0, 512 * KIB)), 0);
	for (uint32_t i = 1; i <= 1000; i++)
		assert_int_equal(t_send(&c, WS_OP_BINARY, make_msg(i, 4 + i % 97)), 0);
	RUN_UNTIL(s.nmsg == 1003, 10000);
	assert_int_equal(s.nmsg, 1003);
	assert_int_equal(s.seq_errors, 0);
	assert_int_equal(s.next_seq, 1001);

	/* the other way, server echoing client's */
	c.check_seq = 1;
	for (uint32_t i = 0; i <= 1000; i++)
		assert_int_equal(t_send(&s, WS_OP_BINARY, make_msg(i, i ? 4 + i % 89 : 512 * KIB)),
		                 0);
	RUN_UNTIL(c.nmsg == 1001, 10000);
	assert_int_equal(c.nmsg, 1001);
	assert_int_equal(c.seq_errors, 0);
	assert_false(c.closed || s.closed);
	assert_int_equal(t_pending(&c), 0);
	pair_done(&c, &s);
}

static void test_close_handshake(void **st)
{
	ep_t c = {0}, s = {0};

	pair(&c, NULL, &s, NULL);
	/* data queued right before the close still arrives */
	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("last words", 10)), 0);
	assert_int_equal(t_close(&c, 4001, "bye now"), 0);
	assert_int_equal(t_close(&c, 1000, NULL), UV_EALREADY);
	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("late", 4)), UV_EPIPE);
	RUN_UNTIL(c.closed && s.closed, 5000);
	assert_int_equal(s.nmsg, 1);
	assert_true(s.closed);
	assert_int_equal(s.code, 4001);
	assert_string_equal(s.reason, "bye now");
	assert_true(c.closed);
	assert_int_equal(c.code, 4001);
	assert_string_equal(c.reason, "bye now");
	pair_done(&c, &s);

	/* server-initiated, no reason; bad codes refused */
	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	pair(&c, NULL, &s, NULL);
	assert_int_equal(t_close(&s, 1005, NULL), UV_EINVAL);
	assert_int_equal(t_close(&s, 999, NULL), UV_EINVAL);
	assert_int_equal(t_close(&s, 1000, NULL), 0);
	RUN_UNTIL(c.closed && s.closed, 5000);
	assert_int_equal(c.code, 1000);
	assert_string_equal(c.reason, "");
	assert_int_equal(s.code, 1000);
	pair_done(&c, &s);
}

/* ws_close_now: the transport closes once the close frame is out, the
 * answer not awaited (a peer that does not read never answers; waiting
 * would take the 2 s close timer).  ws_close_unanswered: the peer's close
 * is not answered, so a peer that waits for the answer sees the
 * transport's end (1006), not an echo of its 1000.  ws_close_await: no
 * close of ours at all, the peer's ends it. */
static void test_close_now_unanswered(void **st)
{
	ep_t c = {0}, s = {0};
	uint64_t t0;

	pair(&c, NULL, &s, NULL);
	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("last words", 10)), 0);
	RUN_UNTIL(s.nmsg == 1, 5000);
	t_pause(&s);
	uv_update_time(loop);
	t0 = uv_now(loop);
	in_api++;
	assert_int_equal(ws_close_now(c.w, 1000), 0);
	assert_int_equal(ws_close_now(c.w, 1000), UV_EALREADY);
	in_api--;
	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("late", 4)), UV_EPIPE);
	RUN_UNTIL(c.closed, 5000);
	assert_true(c.closed);
	assert_int_equal(c.code, 1000);
	assert_true(uv_now(loop) - t0 < 2000); /* not the close timer */
	assert_false(s.closed);                /* it never read the close */
	t_resume(&s);
	RUN_UNTIL(s.closed, 5000);
	assert_int_equal(s.code, 1000);
	pair_done(&c, &s);

	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	pair(&c, NULL, &s, NULL);
	in_api++;
	ws_close_unanswered(s.w);
	in_api--;
	assert_int_equal(t_close(&c, 1000, NULL), 0);
	RUN_UNTIL(c.closed && s.closed, 5000);
	assert_int_equal(s.code, 1000);
	assert_int_equal(c.code, 1006); /* no echo: the transport ended (abnormal) */
	pair_done(&c, &s);

	/* ws_close_await: nothing sent; the peer's close ends it, unanswered */
	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	pair(&c, NULL, &s, NULL);
	in_api++;
	assert_int_equal(ws_close_await(s.w, 1000), 0);
	assert_int_equal(ws_close_await(s.w, 1000), UV_EALREADY);
	in_api--;
	assert_int_equal(t_send(&s, WS_OP_TEXT, sbuf_from("late", 4)), UV_EPIPE);
	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("still", 5)), 0);
	RUN_UNTIL(s.nmsg == 1, 5000); /* it still reads until the close */
	assert_int_equal(s.nmsg, 1);
	assert_false(c.closed || s.closed);
	assert_int_equal(t_close(&c, 1000, NULL), 0);
	RUN_UNTIL(c.closed && s.closed, 5000);
	assert_int_equal(s.code, 1000);
	assert_int_equal(c.code, 1006); /* no close came from s, only the end */
	pair_done(&c, &s);
}

static void test_too_big(void **st)
{
	ws_opts_t so = {.max_message = 64 * KIB};
	ep_t c = {0}, s = {0};

	pair(&c, NULL, &s, &so);
	assert_int_equal(t_send(&c, WS_OP_BINARY, make_msg(0, 64 * KIB)), 0);
	RUN_UNTIL(s.nmsg == 1, 5000);
	assert_int_equal(s.last->len, 64 * KIB);
	assert_int_equal(t_send(&c, WS_OP_BINARY, make_msg(1, 64 * KIB + 1)), 0);
	RUN_UNTIL(c.closed && s.closed, 5000);
	assert_int_equal(s.code, 1009);
	assert_string_equal(s.reason, "message too big");
	assert_int_equal(c.code, 1009);
	assert_int_equal(s.nmsg, 1);
	pair_done(&c, &s);
}

static void test_keepalive(void **st)
{
	ws_opts_t o = {.ping_ms = 30, .dead_ms = 150};
	ws_opts_t quiet = {0};
	ep_t c = {0}, s = {0};
	uint64_t t0;

	/* idle far past dead_ms: pings and pongs keep both alive */
	pair(&c, &o, &s, &o);
	run_for(700);
	assert_false(c.closed);
	assert_false(s.closed);
	pair_done(&c, &s);

	/* a peer that stops reading stops answering: 1006 after dead_ms */
	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	pair(&c, &o, &s, &quiet);
	t_pause(&s);
	uv_update_time(loop);
	t0 = uv_now(loop);
	RUN_UNTIL(c.closed, 3000);
	assert_true(c.closed);
	assert_int_equal(c.code, 1006);
	assert_string_equal(c.reason, "keepalive timeout");
	assert_true(uv_now(loop) - t0 >= 140);
	assert_true(uv_now(loop) - t0 < 1000);
	/* the paused side hears nothing until it reads again */
	run_for(50);
	assert_false(s.closed);
	t_resume(&s);
	RUN_UNTIL(s.closed, 3000);
	assert_int_equal(s.code, 1006);
	pair_done(&c, &s);
}

static void test_transport_loss(void **st)
{
	ep_t c = {0}, s = {0};

	pair(&c, NULL, &s, NULL);
	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("x", 1)), 0);
	RUN_UNTIL(s.nmsg == 1, 5000);
	t_free(&c); /* the TCP connection goes, without a close frame */
	RUN_UNTIL(s.closed, 5000);
	assert_true(s.closed);
	assert_int_equal(s.code, 1006);
	assert_string_equal(s.reason, "transport closed");
	pair_done(&c, &s);
}

static void test_backpressure(void **st)
{
	ep_t c = {.total = 512, .msg_len = 64 * KIB}, s = {.check_seq = 1, .pause_at = 1};
	int n1, d1;

	pair(&c, NULL, &s, NULL);
	/* the server pauses inside its first on_message and reads no more;
	 * the client sends while ws_pending() <= STREAM_HIGH_WATER, and again
	 * from on_drain */
	send_more(&c);
	RUN_UNTIL(t_pending(&c) > STREAM_HIGH_WATER && s.paused, 10000);
	assert_true(t_pending(&c) > STREAM_HIGH_WATER);
	assert_true(c.sent < c.total);
	run_for(200);
	n1 = c.sent;
	d1 = c.drains;
	assert_true(t_pending(&c) > STREAM_LOW_WATER);
	/* the queue stopped at the first message over the mark */
	assert_true(c.max_pending <= STREAM_HIGH_WATER + 64 * KIB + 14);
	assert_int_equal(s.nmsg, 1); /* nothing delivered while paused */
	run_for(200);
	assert_int_equal(c.sent, n1);
	assert_int_equal(c.drains, d1);
	assert_int_equal(s.nmsg, 1);

	t_resume(&s);
	RUN_UNTIL(s.nmsg == c.total, 20000);
	assert_int_equal(s.nmsg, c.total);
	assert_int_equal(s.seq_errors, 0);
	assert_int_equal(s.bytes, (uint64_t)c.total * 64 * KIB);
	assert_true(c.drains > d1);
	assert_true(c.max_pending <= STREAM_HIGH_WATER + 64 * KIB + 14);
	RUN_UNTIL(t_pending(&c) == 0, 5000);
	assert_int_equal(t_pending(&c), 0);
	assert_false(c.closed || s.closed);
	pair_done(&c, &s);
}

static void test_free_in_callback(void **st)
{
	ep_t c = {0}, s = {.free_on_msg = 1};

	pair(&c, NULL, &s, NULL);
	for (uint32_t i = 0; i < 50; i++)
		assert_int_equal(t_send(&c, WS_OP_BINARY, make_msg(i, 100)), 0);
	RUN_UNTIL(c.closed, 5000);
	assert_int_equal(s.nmsg, 1);
	assert_true(c.closed);
	assert_int_equal(c.code, 1006);
	pair_done(&c, &s);

	/* free with a message queued, and twice before the loop turns */

	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	pair(&c, NULL, &s, NULL);
	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("gone", 4)), 0);
	t_free(&c);
	in_api++;
	ws_free(c.w);
	in_api--;
	RUN_UNTIL(s.closed, 5000);
	assert_int_equal(s.code, 1006);
	pair_done(&c, &s);
}

/* ---- raw peer ---- */

static const uint8_t mkey[4] = {0x37, 0xfa, 0x21, 0x3d};

static size_t frame(uint8_t *out, int fin, int rsv, int op, int mask, const void *p, size_t n)
{
	size_t i = 0;
	uint8_t m = mask ? 0x80 : 0;

	out[i++] = (uint8_t)((fin ? 0x80 : 0) | rsv << 4 | op);
	if (n < 126) {
		out[i++] = (uint8_t)(m | n);
	} else if (n < 65536) {
		out[i++] = m | 126;
		out[i++] = (uint8_t)(n >> 8);
		out[i++] = (uint8_t)n;
	} else {
		out[i++] = m | 127;
		for (int k = 7; k >= 0; k--)
			out[i++] = (uint8_t)((uint64_t)n >> (8 * k));
	}
	if (mask) {
		memcpy(out + i, mkey, 4);
		i += 4;
	}
	for (size_t j = 0; j < n; j++)
		out[i + j] = ((const uint8_t *)p)[j] ^ (mask ? mkey[j % 4] : 0);
	return i + n;
}

static void raw_write(int fd, const void *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = write(fd, (const uint8_t *)p + off, n - off);
		if (r > 0)
			off += (size_t)r;
		else
			run_for(1);
	}
}

static uint8_t rbuf[256 * KIB];
static size_t rlen;
static int reof;

static int raw_poll(int fd)
{
	ssize_t r = -1;

	while (rlen < sizeof(rbuf) && (r = read(fd, rbuf + rlen, sizeof(rbuf) - rlen)) > 0)
		rlen += (size_t)r;
	if (r == 0)
		reof = 1;
	return 0;
}

/* Parse one frame from rbuf at *off: opcode and payload (unmasked). */
static int raw_frame(size_t *off, int *op, uint8_t *pl, size_t *n)
{
	size_t i = *off, len;
	int masked;
	uint8_t k[4] = {0};

	if (rlen - i < 2)
		return 0;
	*op = rbuf[i] & 0x0f;
	masked = rbuf[i + 1] & 0x80;
	len = rbuf[i + 1] & 0x7f;
	i += 2;
	assert_true(len < 126); /* only control frames expected */
	if (masked) {
		memcpy(k, rbuf + i, 4);
		i += 4;
	}
	if (rlen - i < len)
		return 0;
	for (size_t j = 0; j < len; j++)
		pl[j] = rbuf[i + j] ^ k[j % 4];
	*n = len;
	*off = i + len;
	return 1;
}

/* Wait for a close frame from the peer; its code, and EOF after it. */
static int raw_close_code(int fd)
{
	size_t off = 0, n;
	int op;
	uint8_t pl[128];

	for (;;) {
		RUN_UNTIL((raw_poll(fd), reof || rlen - off >= 2), 3000);
		if (!raw_frame(&off, &op, pl, &n)) {
			RUN_UNTIL((raw_poll(fd), reof), 200);
			if (!raw_frame(&off, &op, pl, &n))
				return -1;
		}
		if (op == 8)
			break;
	}
	RUN_UNTIL((raw_poll(fd), reof), 3000);
	assert_true(reof);
	return n >= 2 ? pl[0] << 8 | pl[1] : 1005;
}

static void raw_reset(void)
{
	rlen = 0;
	reof = 0;
}

/* A server ws_t on an accepted connection whose client is a raw socket. */
static int raw_server(ep_t *e, const ws_opts_t *o)
{
	stream_t *s;
	int fd = raw_connect(&s);

	raw_reset();
	assert_non_null(t_new(s, NULL, 0, o, &cbs, e));
	return fd;
}

static void test_protocol_errors(void **st)
{
	static const uint8_t ping126[] = {0x89, 0xfe, 0x00, 0x7e, 1, 2, 3, 4};
	static const uint8_t huge[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
	static const uint8_t nomin[] = {0x82, 0xfe, 0x00, 0x05, 1,   2,  3,
	                                4,    'a',  'b',  'c',  'd', 'e'};
	struct {
		uint8_t b[256];
		size_t n;
		int code;
		const char *why;
	} cases[12];
	size_t nc = 0;
	uint8_t close1005[2] = {0x03, 0xed}, bad_utf8[] = {'o', 'k', 0xc3, 0x28}, big[120];
	ws_opts_t o = {.max_message = 100};

	memset(big, 'x', sizeof(big));
#define CASE(code_, why_, ...)                                                                     \
	do {                                                                                       \
		cases[nc].n = 0;                                                                   \
		__VA_ARGS__;                                                                       \
		cases[nc].code = code_;                                                            \
		cases[nc].why = why_;                                                              \
		nc++;                                                                              \
	} while (0)
#define F(...) (cases[nc].n += frame(cases[nc].b + cases[nc].n, __VA_ARGS__))
	CASE(1002, "protocol error", F(1, 0, 1, 0, "hi", 2));      /* unmasked from a client */
	CASE(1002, "protocol error", F(1, 4, 1, 1, "hi", 2));      /* RSV1 */
	CASE(1002, "protocol error", F(1, 0, 3, 1, "hi", 2));      /* reserved opcode */
	CASE(1002, "protocol error", F(1, 0, 0, 1, "hi", 2));      /* continuation first */
	CASE(1002, "protocol error", F(0, 0, 9, 1, "p", 1));       /* fragmented ping */
	CASE(1002, "protocol error", F(1, 0, 8, 1, close1005, 2)); /* close code 1005 */
	CASE(1007, "invalid payload data", F(1, 0, 1, 1, bad_utf8, 4));
	CASE(1009, "message too big", F(1, 0, 2, 1, big, 101));
	CASE(1009, "message too big", F(0, 0, 2, 1, big, 60); F(1, 0, 0, 1, big, 60));
	CASE(1002, "protocol error", memcpy(cases[nc].b, ping126, sizeof(ping126));
	     cases[nc].n = sizeof(ping126));
	CASE(1002, "protocol error", memcpy(cases[nc].b, huge, sizeof(huge));
	     cases[nc].n = sizeof(huge));
	CASE(1002, "protocol error", memcpy(cases[nc].b, nomin, sizeof(nomin));
	     cases[nc].n = sizeof(nomin));
#undef F
#undef CASE

	listen_any();
	for (size_t i = 0; i < nc; i++) {
		ep_t s = {0};
		int fd = raw_server(&s, &o);

		raw_write(fd, cases[i].b, cases[i].n);
		RUN_UNTIL(s.closed, 3000);
		assert_true(s.closed);
		assert_int_equal(s.code, cases[i].code);
		assert_string_equal(s.reason, cases[i].why);
		assert_int_equal(raw_close_code(fd), cases[i].code);
		assert_int_equal(s.nmsg, 0);
		ep_done(&s);
		close(fd);
	}
	unlisten();
}

static void test_fragments_and_ping(void **st)
{
	uint8_t b[300 * KIB], *big = malloc(90000), pl[128];
	size_t n = 0, off = 0, pn;
	int op;
	ep_t s = {0};
	int fd;

	listen_any();
	fd = raw_server(&s, NULL);
	n += frame(b + n, 0, 0, 1, 1, "Hel", 3);
	n += frame(b + n, 1, 0, 9, 1, "p!", 2); /* a ping between fragments */
	n += frame(b + n, 0, 0, 0, 1, "lo, ", 4);
	n += frame(b + n, 0, 0, 0, 1, "", 0);
	n += frame(b + n, 1, 0, 0, 1, "world", 5);
	raw_write(fd, b, n);
	RUN_UNTIL(s.nmsg == 1, 3000);
	assert_int_equal(s.last_op, WS_OP_TEXT);
	assert_int_equal(s.last->len, 12);
	assert_memory_equal(sbuf_ptr(s.last), "Hello, world", 12);
	RUN_UNTIL((raw_poll(fd), rlen >= 4), 3000);
	assert_true(raw_frame(&off, &op, pl, &pn));
	assert_int_equal(op, 10); /* pong, same payload, unmasked from a server */
	assert_int_equal(pn, 2);
	assert_memory_equal(pl, "p!", 2);
	assert_int_equal(rbuf[1] & 0x80, 0);

	/* a binary message in three frames that outgrow the first buffer */
	for (size_t j = 0; j < 90000; j++)
		big[j] = (uint8_t)(j * 7);
	n = 0;
	n += frame(b + n, 0, 0, 2, 1, big, 10);
	n += frame(b + n, 0, 0, 0, 1, big + 10, 40000);
	n += frame(b + n, 1, 0, 0, 1, big + 40010, 49990);
	raw_write(fd, b, n);
	RUN_UNTIL(s.nmsg == 2, 3000);
	assert_int_equal(s.last_op, WS_OP_BINARY);
	assert_int_equal(s.last->len, 90000);
	assert_memory_equal(sbuf_ptr(s.last), big, 90000);

	/* a peer's close: answered with the same code, then on_close */
	n = frame(b, 1, 0, 8, 1, "\x0b\xb9see you", 9); /* 3001 */
	raw_reset();
	raw_write(fd, b, n);
	RUN_UNTIL(s.closed, 3000);
	assert_int_equal(s.code, 3001);
	assert_string_equal(s.reason, "see you");
	assert_int_equal(raw_close_code(fd), 3001);
	ep_done(&s);
	close(fd);
	free(big);
	unlisten();
}

static void test_silent_peer(void **st)
{
	ws_opts_t o = {.ping_ms = 40, .dead_ms = 200};
	ep_t s = {0};
	uint64_t t0;
	size_t off = 0, pn;
	int fd, op, pings = 0;
	uint8_t pl[128];

	listen_any();
	uv_update_time(loop);
	t0 = uv_now(loop);
	fd = raw_server(&s, &o);
	RUN_UNTIL(s.closed, 3000);
	assert_true(s.closed);
	assert_int_equal(s.code, 1006);
	assert_string_equal(s.reason, "keepalive timeout");
	assert_true(uv_now(loop) - t0 >= 190);
	assert_true(uv_now(loop) - t0 < 1500);
	RUN_UNTIL((raw_poll(fd), reof), 3000);
	assert_true(reof);
	while (raw_frame(&off, &op, pl, &pn)) {
		assert_int_equal(op, 9);
		pings++;
	}
	assert_true(pings >= 2);
	ep_done(&s);
	close(fd);

	/* half a frame and then the connection goes: 1006 */
	memset(&s, 0, sizeof(s));
	fd = raw_server(&s, NULL);
	raw_write(fd, "\x82\x85\x01\x02", 4);
	run_for(20);
	close(fd);
	RUN_UNTIL(s.closed, 3000);
	assert_int_equal(s.code, 1006);
	assert_string_equal(s.reason, "transport closed");
	ep_done(&s);
	unlisten();
}

/* A raw server and our client: a masked frame from it is an error, and so
 * is broken framing; our close frames are masked. */
static void test_client_errors(void **st)
{
	static const uint8_t ping126[] = {0x89, 0x7e, 0x00, 0x7e};
	ep_t c = {0};
	stream_t *cs, *ss;
	int fd;
	uint8_t b[64];
	size_t n;

	listen_any();
	for (int round = 0; round < 2; round++) {
		memset(&c, 0, sizeof(c));
		cs = dial(lport);
		RUN_UNTIL(accepted, 5000);
		ss = accepted;
		accepted = NULL;
		/* take the fd away from libuv: the test plays the server raw */
		{
			uv_os_fd_t ofd;
			assert_int_equal(uv_fileno((uv_handle_t *)tcp_stream_handle(ss), &ofd), 0);
			fd = dup(ofd);
			stream_close(ss);
			fcntl(fd, F_SETFL, O_NONBLOCK);
		}
		assert_non_null(t_new(cs, NULL, 1, NULL, &cbs, &c));
		raw_reset();
		if (round == 0) {
			n = frame(b, 1, 0, 2, 1, "abc", 3);
			raw_write(fd, b, n);
		} else {
			raw_write(fd, ping126, sizeof(ping126));
		}
		RUN_UNTIL(c.closed, 3000);
		assert_true(c.closed);
		assert_int_equal(c.code, 1002);
		assert_int_equal(raw_close_code(fd), 1002);
		assert_true(rbuf[1] & 0x80); /* masked */
		ep_done(&c);
		close(fd);
	}
	unlisten();
}

/* ---- python3-websockets ---- */

static const char py_server[] =
    "import asyncio, sys, websockets\n"
    "async def handler(ws):\n"
    "    try:\n"
    "        async for m in ws:\n"
    "            await ws.send(m)\n"
    "    except websockets.ConnectionClosed:\n"
    "        pass\n"
    "    print('path', ws.path, flush=True)\n"
    "    print('closed', ws.close_code, ws.close_reason, flush=True)\n"
    "    done.set_result(None)\n"
    "async def main():\n"
    "    global done\n"
    "    done = asyncio.get_running_loop().create_future()\n"
    "    async with websockets.serve(handler, '127.0.0.1', 0, ping_interval=0.1,\n"
    "                                ping_timeout=0.3, max_size=2**22) as srv:\n"
    "        print(srv.sockets[0].getsockname()[1], flush=True)\n"
    "        await asyncio.wait_for(done, 20)\n"
    "asyncio.run(main())\n";

static const char py_client[] =
    "import asyncio, sys, websockets\n"
    "async def main():\n"
    "    uri = 'ws://127.0.0.1:%s/chat?room=1' % sys.argv[1]\n"
    "    async with websockets.connect(uri, ping_interval=0.1, ping_timeout=0.3,\n"
    "                                  extra_headers={'X-Test': 'interop'}) as ws:\n"
    "        await ws.send('hello text')\n"
    "        r = await ws.recv()\n"
    "        assert r == 'hello text', r\n"
    "        b = bytes(range(256)) * 400\n"
    "        await ws.send(b)\n"
    "        r = await ws.recv()\n"
    "        assert r == b\n"
    "        pong = await ws.ping(b'abc')\n"
    "        await asyncio.wait_for(pong, 2)\n"
    "        print('pong ok', flush=True)\n"
    "        await asyncio.sleep(0.7)\n"
    "        await ws.send('close please')\n"
    "        try:\n"
    "            await ws.recv()\n"
    "        except websockets.ConnectionClosedOK:\n"
    "            pass\n"
    "        print('closed', ws.close_code, ws.close_reason, flush=True)\n"
    "asyncio.run(main())\n";

static int have_websockets(void)
{
	if (access(PYTHON, X_OK) != 0 ||
	    system(PYTHON " -c 'import websockets' >/dev/null 2>&1") != 0) {
		print_message("skipped: " PYTHON " without the websockets module "
		              "(apt-get install python3-websockets)\n");
		return 0;
	}
	return 1;
}

static FILE *py_start(const char *script, char *path, int arg)
{
	char cmd[256];
	int fd;

	strcpy(path, "/tmp/sluice-ws-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	close(fd);
	snprintf(cmd, sizeof(cmd), "PYTHONWARNINGS=ignore timeout 30 " PYTHON " %s %d 2>&1", path,
	         arg);
	return popen(cmd, "r");
}

/* Everything the script printed after this point, and its exit status. */
static int py_finish(FILE *f, const char *path, char *out, size_t cap)
{
	size_t n = fread(out, 1, cap - 1, f);

	out[n] = 0;
	unlink(path);
	return pclose(f);
}

static void test_interop_client(void **st)
{
	char path[64], line[64], srv[32], out[4096];
	hs_t *h = calloc(1, sizeof(*h));
	char k[WS_KEY_LEN + 1], host[32];
	ws_opts_t o = {.ping_ms = 50, .dead_ms = 400};
	ep_t c = {0};
	stream_t *cs;
	FILE *py;
	int port, status;
	uint8_t *bin = malloc(100000);

	if (!have_websockets()) {
		free(h);
		free(bin);
		skip();
	}
	py = py_start(py_server, path, 0);
	assert_non_null(py);
	assert_non_null(fgets(line, sizeof(line), py));
	port = atoi(line);
	assert_true(port > 0);

	cs = dial(port);
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	client_hello(cs, h, k, host, "/echo");
	assert_non_null(client_finish(cs, h, k, &o, &c, srv, sizeof(srv)));
	assert_string_equal(srv, ""); /* not sent by that server */

	assert_int_equal(t_send(&c, WS_OP_TEXT, sbuf_from("hello from sluice", 17)), 0);
	RUN_UNTIL(c.nmsg == 1, 5000);
	assert_int_equal(c.last_op, WS_OP_TEXT);
	assert_int_equal(c.last->len, 17);
	assert_memory_equal(sbuf_ptr(c.last), "hello from sluice", 17);

	for (size_t j = 0; j < 100000; j++)
		bin[j] = (uint8_t)(j * 13);
	assert_int_equal(t_send(&c, WS_OP_BINARY, sbuf_from(bin, 100000)), 0);
	RUN_UNTIL(c.nmsg == 2, 5000);
	assert_int_equal(c.last_op, WS_OP_BINARY);
	assert_int_equal(c.last->len, 100000);
	assert_memory_equal(sbuf_ptr(c.last), bin, 100000);

	/* idle: its pings (every 100 ms, 300 ms timeout) and ours must be
	 * answered, or one side gives up */
	run_for(800);
	assert_false(c.closed);

	assert_int_equal(t_close(&c, 1000, "done"), 0);
	RUN_UNTIL(c.closed, 5000);
	assert_true(c.closed);
	assert_int_equal(c.code, 1000);
	status = py_finish(py, path, out, sizeof(out));
	print_message("python server said: %s", out);
	assert_non_null(strstr(out, "path /echo\n"));
	assert_non_null(strstr(out, "closed 1000 done\n"));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ep_done(&c);
	free(h);
	free(bin);
}

static void test_interop_server(void **st)
{
	char path[64], target[64], hdr[32], out[4096];
	ws_opts_t o = {.ping_ms = 50, .dead_ms = 400};
	ep_t s = {.echo = 1, .close_on_cmd = 1};
	FILE *py;
	int status;

	if (!have_websockets())
		skip();
	listen_any();
	py = py_start(py_client, path, lport);
	assert_non_null(py);
	RUN_UNTIL(accepted, 10000);
	assert_non_null(accepted);
	assert_non_null(server_accept(accepted, &o, &s, target, sizeof(target), hdr, sizeof(hdr)));
	accepted = NULL;
	assert_string_equal(target, "/chat?room=1");
	assert_string_equal(hdr, "interop");
	RUN_UNTIL(s.closed, 10000);
	assert_true(s.closed);
	assert_int_equal(s.code, 1000);
	assert_string_equal(s.reason, "bye");
	assert_int_equal(s.nmsg, 3);
	status = py_finish(py, path, out, sizeof(out));
	print_message("python client said: %s", out);
	assert_non_null(strstr(out, "pong ok\n"));
	assert_non_null(strstr(out, "closed 1000 bye\n"));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ep_done(&s);
	unlisten();
}

static int setup(void **st)
{
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	uv_timer_init(loop, &tick);
	return 0;
}

static int teardown(void **st)
{
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
	return 0;
}

/* decoy=DIR: a request target as a static web server maps it */
static void test_decoy_paths(void **state)
{
	static const struct {
		const char *target, *want; /* want NULL: refused (a 400) */
	} cases[] = {
	    {"/", "/"},
	    {"/index.html?x=1", "/index.html"},
	    {"/a/../index.html", "/index.html"},
	    {"/./a/./b", "/a/b"},
	    {"/a/b/..", "/a/"},
	    {"/a/.", "/a/"},
	    {"/%69ndex.html", "/index.html"},
	    {"/sub/../../x", NULL},
	    {"/..", NULL},
	    {"/%2e%2e/etc/passwd", NULL},
	    {"/..%2fetc", NULL},
	    {"/a%00b", NULL},
	    {"/%zz", NULL},
	    {"index.html", NULL},
	};
	char rel[256];
	time_t t;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r =
		    decoy_target_path(cases[i].target, strlen(cases[i].target), rel, sizeof(rel));
		if (!cases[i].want) {
			assert_true(r < 0);
			continue;
		}
		assert_int_equal(r, 0);
		assert_string_equal(rel, cases[i].want);
	}
	assert_int_equal(decoy_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	assert_int_equal((long long)t, 784111777LL);
	assert_true(decoy_http_date("Sun, 06 Nov 1994 08:49:37", &t) < 0);
	assert_true(decoy_http_date("yesterday", &t) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept_vector),
	    cmocka_unit_test(test_decoy_paths),
	    cmocka_unit_test(test_make_key),
	    cmocka_unit_test(test_client_request),
	    cmocka_unit_test(test_server_response),
	    cmocka_unit_test(test_check_response_good),
	    cmocka_unit_test(test_check_response_bad),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_close_handshake),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_close_now_unanswered),
	    cmocka_unit_test(test_keepalive),
	    cmocka_unit_test(test_transport_loss),
	    cmocka_unit_test(test_backpressure),
	    cmocka_unit_test(test_free_in_callback),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_fragments_and_ping),
	    cmocka_unit_test(test_silent_peer),
	    cmocka_unit_test(test_client_errors),
	    cmocka_unit_test(test_interop_client),
	    cmocka_unit_test(test_interop_server),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
