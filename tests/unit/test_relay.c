/* Unit tests: core/relay over real loopback TCP sockets.
 *
 * The test owns two plain non-blocking sockets (the "client" A and the
 * "target" B); sluice's side of each is a tcp stream accepted by a libuv
 * server, and the relay joins those.  The loop is turned by hand between
 * socket operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/relay.h"
#include "core/tcp.h"

static uv_loop_t *loop;
static uv_tcp_t server;
static stream_t *accepted[2];
static int naccepted;
static int done;
static char reason[64];
static uint64_t ab, ba;

static void on_conn(uv_stream_t *srv, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(tcp_stream_accept(srv, 1, &accepted[naccepted++]), 0);
}

static void on_done(void *ud, const char *why, uint64_t a, uint64_t b)
{
	done = 1;
	snprintf(reason, sizeof(reason), "%s", why);
	ab = a;
	ba = b;
}

static void spin(int ms)
{
	uint64_t end = uv_now(loop) + (uint64_t)ms;

	do {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(200);
		uv_update_time(loop);
	} while (uv_now(loop) < end);
}

static int connect_nb(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

typedef struct pair {
	int a, b;
	stream_t *sa, *sb;
	relay_t *r;
} pair_t;

static pair_t setup(uint64_t idle_ms)
{
	struct sockaddr_in sa;
	int len = sizeof(sa);
	pair_t p;
	relay_opts_t o = {.idle_ms = idle_ms};

	loop = uv_default_loop();
	naccepted = 0;
	done = 0;
	uv_tcp_init(loop, &server);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&server, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&server, 8, on_conn), 0);
	uv_tcp_getsockname(&server, (struct sockaddr *)&sa, &len);
	p.a = connect_nb(ntohs(sa.sin_port));
	while (naccepted < 1)
		uv_run(loop, UV_RUN_ONCE);
	p.b = connect_nb(ntohs(sa.sin_port));
	while (naccepted < 2)
		uv_run(loop, UV_RUN_ONCE);
	p.sa = accepted[0];
	p.sb = accepted[1];
	p.r = relay_start(loop, p.sa, p.sb, &o, on_done, NULL);
	return p;
}

static void teardown_pair(pair_t *p)
{
	close(p->a);
	close(p->b);
	spin(20);
	uv_close((uv_handle_t *)&server, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
}

/* Move up to `want` bytes from fd into buf while turning the loop. */
static size_t drain_fd(int fd, uint8_t *buf, size_t want, int ms, int *eof)
{
	size_t got = 0;
	uint64_t end;

	uv_update_time(loop);
	end = uv_now(loop) + (uint64_t)ms;
	*eof = 0;
	while (got < want && uv_now(loop) < end) {
		ssize_t n = read(fd, buf + got, want - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0) {
			*eof = 1;
			break;
		} else
			spin(1);
		uv_update_time(loop);
	}
	return got;
}

static void test_both_directions(void **st)
{
	pair_t p = setup(0);
	size_t n = 1 << 20, off = 0;
	uint8_t *out = malloc(n), *in = malloc(n);
	int eof;

	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(i * 7 + 3);
	size_t got = 0;
	while (got < n) { /* A -> B, reading B as we go */
		ssize_t w = off < n ? write(p.a, out + off, n - off) : 0;
		if (w > 0)
			off += (size_t)w;
		spin(0);
		ssize_t r = read(p.b, in + got, n - got);
		if (r > 0)
			got += (size_t)r;
		assert_true(r != 0);
	}
	assert_memory_equal(in, out, n);
	assert_int_equal(write(p.b, "pong", 4), 4); /* B -> A */
	assert_int_equal(drain_fd(p.a, in, 4, 2000, &eof), 4);
	assert_memory_equal(in, "pong", 4);
	assert_false(done);
	free(out);
	free(in);
	relay_close(p.r, "test");
	assert_true(done);
	assert_string_equal(reason, "test");
	assert_int_equal(ab, n);
	assert_int_equal(ba, 4);
	teardown_pair(&p);
}

static void test_half_close(void **st)
{
	pair_t p = setup(0);
	uint8_t buf[64];
	int eof;

	assert_int_equal(write(p.a, "request", 7), 7);
	shutdown(p.a, SHUT_WR);
	assert_int_equal(drain_fd(p.b, buf, 64, 2000, &eof), 7);
	assert_true(eof); /* the FIN went through */
	assert_false(done);
	/* the target still answers after the client's half-close */
	assert_int_equal(write(p.b, "answer", 6), 6);
	shutdown(p.b, SHUT_WR);
	assert_int_equal(drain_fd(p.a, buf, 64, 2000, &eof), 6);
	assert_memory_equal(buf, "answer", 6);
	assert_true(eof);
	spin(20);
	assert_true(done);
	assert_string_equal(reason, "done");
	teardown_pair(&p);
}

static void test_backpressure(void **st)
{
	pair_t p = setup(0);
	size_t sent = 0, got = 0;
	uint8_t chunk[65536];
	int eof, stalled = 0;

	memset(chunk, 'x', sizeof(chunk));
	/* B never reads: A must stall, and the relay's queue stay bounded */
	for (int i = 0; i < 4000 && stalled < 200; i++) {
		ssize_t w = write(p.a, chunk, sizeof(chunk));
		if (w > 0) {
			sent += (size_t)w;
			stalled = 0;
		} else {
			stalled++;
		}
		spin(0);
		assert_true(p.sb->wq_bytes <= STREAM_HIGH_WATER + SBUF_DEFAULT);
	}
	assert_true(stalled >= 200); /* the writer is blocked */
	assert_true(sent < 64u << 20);
	/* now B reads everything: all of it arrives, A can write again */
	uint8_t *buf = malloc(sent);
	got = drain_fd(p.b, buf, sent, 10000, &eof);
	assert_int_equal(got, sent);
	free(buf);
	assert_true(write(p.a, chunk, 1000) == 1000);
	relay_close(p.r, "test");
	teardown_pair(&p);
}

static void test_idle_timeout(void **st)
{
	pair_t p = setup(100);
	uint8_t buf[8];
	int eof;

	spin(60);
	assert_int_equal(write(p.a, "x", 1), 1); /* activity resets the clock */
	assert_int_equal(drain_fd(p.b, buf, 1, 1000, &eof), 1);
	spin(60);
	assert_false(done);
	spin(200);
	assert_true(done);
	assert_string_equal(reason, "idle timeout");
	teardown_pair(&p);
}

static void test_reset_propagates(void **st)
{
	pair_t p = setup(0);
	struct linger lg = {1, 0};
	uint8_t buf[8];
	ssize_t n;

	setsockopt(p.b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(p.b); /* RST */
	p.b = socket(AF_INET, SOCK_STREAM, 0);
	spin(50);
	assert_true(done);
	assert_string_equal(reason, "reset");
	/* the other side is reset too (stream_reset: RST, not FIN) */
	for (int i = 0; i < 500; i++) {
		errno = 0;
		if ((n = read(p.a, buf, sizeof(buf))) >= 0 || errno != EAGAIN)
			break;
		spin(1);
	}
	assert_int_equal(n, -1);
	assert_int_equal(errno, ECONNRESET);
	teardown_pair(&p);
}

/* A stream is asked for its addresses: the TCP stream answers with the
 * socket's own, a UNIX socket has none to give. */
static void test_stream_addr(void **st)
{
	pair_t p = setup(0);
	struct sockaddr_storage got, want;
	socklen_t wl = sizeof(want);
	int fds[2];
	stream_t *u;

	assert_int_equal(stream_addr(p.sa, 1, &got), 0);
	assert_int_equal(getsockname(p.a, (struct sockaddr *)&want, &wl), 0);
	assert_memory_equal(&got, &want, sizeof(struct sockaddr_in));
	assert_int_equal(stream_addr(p.sa, 0, &got), 0);
	wl = sizeof(want);
	assert_int_equal(getpeername(p.a, (struct sockaddr *)&want, &wl), 0);
	assert_memory_equal(&got, &want, sizeof(struct sockaddr_in));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(unix_stream_open(loop, fds[0], 2, &u), 0);
	assert_int_equal(stream_addr(u, 0, &got), UV_ENOTSUP);
	stream_reset(u); /* no RST on a UNIX socket: an ordinary close */
	close(fds[1]);
	relay_close(p.r, "test");
	teardown_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_both_directions),  cmocka_unit_test(test_half_close),
	    cmocka_unit_test(test_backpressure),     cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_reset_propagates), cmocka_unit_test(test_stream_addr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
