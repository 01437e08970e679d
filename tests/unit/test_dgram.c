/* Unit tests: core/dgram and core/udphost, the datagram flow.
 *
 * A real loop and real loopback UDP sockets: the direct dialer's flow
 * sends to an echo socket of the test's and gets the echo; a stranger's
 * datagram, a refused target and an oversized one are dropped and
 * counted while the flow goes on.  dgram_open over a hop of the test's
 * own holds datagrams while the hop opens (bounded), forwards them once it
 * is up, and reports a failed open on a later turn; a chain with a hop
 * that carries no datagrams is refused, and the hop is named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/dgram.h"
#include "core/udphost.h"

static uv_loop_t *loop;
static uv_udp_t echo, stranger;
static struct sockaddr_in echo_sa;
static int nrecv, nerr, nready, last_err;
static char last_payload[64];
static struct sockaddr_storage last_src, flow_sa;

static void run_for(uint64_t ms)
{
	uint64_t until = uv_now(loop) + ms;

	while (uv_now(loop) < until) {
		uv_run(loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(loop);
	}
}

/* Turn the loop until *v reaches want (at most 5 s: a loaded machine). */
static void run_until(const int *v, int want)
{
	uint64_t until = uv_now(loop) + 5000;

	while (*v < want && uv_now(loop) < until) {
		uv_run(loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(loop);
	}
}

static void run_until64(const uint64_t *v, uint64_t want)
{
	uint64_t until = uv_now(loop) + 5000;

	while (*v < want && uv_now(loop) < until) {
		uv_run(loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(loop);
	}
}

static void echo_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[70000];
	*b = uv_buf_init(buf, sizeof(buf));
}

static void echo_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *sa,
                      unsigned fl)
{
	uv_buf_t out;

	if (n <= 0 || !sa)
		return;
	memcpy(&flow_sa, sa, sockaddr_len(sa));
	out = uv_buf_init(b->base, (unsigned)n);
	uv_udp_try_send(h, &out, 1, sa);
}

static void f_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	nrecv++;
	snprintf(last_payload, sizeof(last_payload), "%.*s", (int)b->len, sbuf_ptr(b));
	memcpy(&last_src, src, sockaddr_len(src));
	assert_true(b->off >= DGRAM_HEADROOM); /* room for the owner's header */
	sbuf_free(b);
}
static void f_error(dgram_t *f, int err)
{
	nerr++;
	last_err = err;
}
static void f_ready(dgram_t *f)
{
	nready++;
}
static const dgram_cbs_t cbs = {f_recv, f_error, f_ready};

static int setup(void **st)
{
	int len = sizeof(echo_sa);

	loop = calloc(1, sizeof(*loop));
	uv_loop_init(loop);
	uv_ip4_addr("127.0.0.1", 0, &echo_sa);
	uv_udp_init(loop, &echo);
	assert_int_equal(uv_udp_bind(&echo, (struct sockaddr *)&echo_sa, 0), 0);
	uv_udp_getsockname(&echo, (struct sockaddr *)&echo_sa, &len);
	uv_udp_recv_start(&echo, echo_alloc, echo_recv);
	uv_udp_init(loop, &stranger);
	nrecv = nerr = nready = last_err = 0;
	return 0;
}

static int teardown(void **st)
{
	uv_close((uv_handle_t *)&echo, NULL);
	uv_close((uv_handle_t *)&stranger, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
	free(loop);
	return 0;
}

static void send_str(dgram_t *f, const char *host, uint16_t port, const char *s)
{
	target_t t;

	assert_int_equal(target_set(&t, host, port), 0);
	dgram_send(f, &t, dgram_buf(s, strlen(s)));
}

static void test_direct_echo(void **st)
{
	dialer_t *d = direct_dialer_new(loop);
	dial_opts_t o = {.id = 1};
	uint16_t port = ntohs(echo_sa.sin_port);
	dgram_t *f = dgram_open(d, &o, 0, &cbs, NULL);
	uint64_t strangers = dgram_drops[DGRAM_DROP_STRANGER];
	uv_buf_t b = uv_buf_init("intruder", 8);
	char big[DGRAM_MAX + 1];
	target_t t;

	assert_null(chain_dgram_blocker(d));
	send_str(f, "127.0.0.1", port, "one"); /* held, then sent */
	assert_int_equal(nrecv, 0);            /* nothing from inside an op */
	run_until(&nrecv, 1);
	assert_int_equal(nready, 1);
	assert_int_equal(nrecv, 1);
	assert_string_equal(last_payload, "one");
	assert_int_equal(sockaddr_port((struct sockaddr *)&last_src), port);
	send_str(f, "localhost", port, "two"); /* a name, resolved here */
	run_until(&nrecv, 2);
	assert_int_equal(nrecv, 2);
	assert_string_equal(last_payload, "two");

	/* someone the flow never sent to: dropped and counted */
	assert_int_equal(uv_udp_try_send(&stranger, &b, 1, (struct sockaddr *)&flow_sa), 8);
	run_until64(&dgram_drops[DGRAM_DROP_STRANGER], strangers + 1);
	assert_int_equal(nrecv, 2);
	assert_int_equal(dgram_drops[DGRAM_DROP_STRANGER], strangers + 1);

	/* too big: refused at once, the flow goes on */
	memset(big, 'x', sizeof(big));
	target_set(&t, "127.0.0.1", port);
	assert_int_equal(dgram_send(f, &t, dgram_buf(big, sizeof(big))), UV_EMSGSIZE);
	send_str(f, "127.0.0.1", port, "three");
	run_until(&nrecv, 3);
	assert_int_equal(nrecv, 3);
	assert_true(dgram_dropped(f) >= 2);
	assert_int_equal(nerr, 0);
	dgram_close(f);
	run_for(20);
	chain_free(d);
}

/* The target ACL applies to every datagram, after resolution. */
static void test_direct_acl(void **st)
{
	dialer_t *d = direct_dialer_new(loop);
	acl_t acl = {0};
	char bad[64];
	dial_opts_t o = {.id = 2, .acl = &acl};
	uint16_t port = ntohs(echo_sa.sin_port);
	uint64_t refused = dgram_drops[DGRAM_DROP_REFUSED];
	dgram_t *f;

	assert_int_equal(cidr_list_add(&acl.deny, "127.0.0.0/8,::1", bad, sizeof(bad)), 0);
	f = dgram_open(d, &o, 0, &cbs, NULL);
	send_str(f, "127.0.0.1", port, "by ip");
	send_str(f, "localhost", port, "by name");
	run_until64(&dgram_drops[DGRAM_DROP_REFUSED], refused + 2);
	assert_int_equal(nrecv, 0);
	assert_int_equal(dgram_drops[DGRAM_DROP_REFUSED], refused + 2);
	assert_int_equal(nerr, 0); /* the flow survives */
	dgram_close(f);
	run_for(20);
	acl_free(&acl);
	chain_free(d);
}

/* A hop of the test's: its flow opens when the test says so. */
typedef struct thop {
	dialer_t d;
	dgram_cb cb;
	void *ud;
	int open_calls, canceled;
} thop_t;

static dial_t *th_dgram(dialer_t *dd, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	thop_t *h = (thop_t *)dd;

	h->cb = cb;
	h->ud = ud;
	h->open_calls++;
	return (dial_t *)h;
}
static void th_cancel(dialer_t *dd, dial_t *req)
{
	((thop_t *)dd)->canceled++;
}
static void th_free(dialer_t *dd) {}
static const dialer_ops_t th_ops = {
    .scheme = "test", .free = th_free, .dgram = th_dgram, .dgram_cancel = th_cancel};
static const dialer_ops_t streams_only = {.scheme = "http", .free = th_free};
static const dialer_ops_t via_next = {.scheme = "socks5",
                                      .free = th_free,
                                      .dgram = th_dgram,
                                      .dgram_cancel = th_cancel,
                                      .caps = HOP_DGRAM_NEXT};

static void test_held_then_sent(void **st)
{
	thop_t h = {.d = {.ops = &th_ops, .loop = NULL}};
	dialer_t *direct = direct_dialer_new(loop);
	dial_opts_t o = {.id = 3};
	uint16_t port = ntohs(echo_sa.sin_port);
	uint64_t q = dgram_drops[DGRAM_DROP_QUEUE];
	dgram_t *f, *inner;
	int i;

	h.d.loop = loop;
	h.d.next = direct;
	f = dgram_open(&h.d, &o, 0, &cbs, NULL);
	assert_int_equal(h.open_calls, 1);
	for (i = 0; i < DGRAM_HOLD_MAX + 5; i++)
		send_str(f, "127.0.0.1", port, "held");
	assert_int_equal(dgram_drops[DGRAM_DROP_QUEUE], q + 5); /* over the cap */
	/* the hop's flow comes up: here, the host's own */
	inner = udphost_flow_new(loop, 3, NULL);
	h.cb(h.ud, inner, 0);
	assert_int_equal(nready, 1);
	run_until(&nrecv, DGRAM_HOLD_MAX);
	assert_int_equal(nrecv, DGRAM_HOLD_MAX);
	dgram_close(f);
	assert_int_equal(h.canceled, 0);
	run_for(20);
	chain_free(direct);
}

static void test_open_fails_later(void **st)
{
	thop_t h = {.d = {.ops = &th_ops}};
	dial_opts_t o = {.id = 4};
	dgram_t *f;

	h.d.loop = loop;
	f = dgram_open(&h.d, &o, 0, &cbs, NULL);
	send_str(f, "127.0.0.1", 9, "x");
	h.cb(h.ud, NULL, UV_ECONNREFUSED);
	assert_int_equal(nerr, 1);
	assert_int_equal(last_err, UV_ECONNREFUSED);
	send_str(f, "127.0.0.1", 9, "after"); /* dropped, no second error */
	assert_int_equal(nerr, 1);
	dgram_close(f);

	/* a timeout cancels the hop's open */
	f = dgram_open(&h.d, &o, 30, &cbs, NULL);
	run_for(60);
	assert_int_equal(nerr, 2);
	assert_int_equal(last_err, UV_ETIMEDOUT);
	assert_int_equal(h.canceled, 1);
	dgram_close(f);
	/* closed while opening: the open is canceled, no callback */
	f = dgram_open(&h.d, &o, 0, &cbs, NULL);
	dgram_close(f);
	assert_int_equal(h.canceled, 2);
	run_for(20);
	assert_int_equal(nerr, 2);
}

static void test_chain_refused(void **st)
{
	dialer_t *direct = direct_dialer_new(loop);
	thop_t http = {.d = {.ops = &streams_only, .next = direct}};
	thop_t ws = {.d = {.ops = &th_ops, .next = &http.d}};
	thop_t socks = {.d = {.ops = &via_next, .next = &http.d}};
	thop_t socks2 = {.d = {.ops = &via_next, .next = &ws.d}};
	dial_opts_t o = {.id = 5};
	char name[128];
	dgram_t *f;

	http.d.loop = ws.d.loop = socks.d.loop = socks2.d.loop = loop;
	target_set(&http.d.server, "127.0.0.1", 3128);
	/* ws over http: ws carries datagrams inside its stream */
	assert_null(chain_dgram_blocker(&ws.d));
	/* socks5 over http: its UDP would have to cross http */
	assert_ptr_equal(chain_dgram_blocker(&socks.d), &http.d);
	assert_ptr_equal(chain_dgram_blocker(&http.d), &http.d);
	assert_null(chain_dgram_blocker(&socks2.d));
	dialer_name(chain_dgram_blocker(&socks.d), name, sizeof(name));
	assert_string_equal(name, "http://127.0.0.1:3128");

	f = dgram_open(&socks.d, &o, 0, &cbs, NULL);
	assert_int_equal(socks.open_calls, 0); /* never even tried */
	send_str(f, "127.0.0.1", 9, "x");
	assert_int_equal(nerr, 0); /* not from inside the call */
	run_for(20);
	assert_int_equal(nerr, 1);
	assert_int_equal(last_err, UV_ENOTSUP);
	dgram_close(f);
	assert_int_equal(chain_dns_servers(&ws.d, NULL, 0), UV_ENOTSUP);
	chain_free(direct);
}

static void test_hq(void **st)
{
	dgram_hq_t q = {0};
	target_t t, out;
	sbuf_t *b;
	int i;

	target_set(&t, "example.org", 53);
	for (i = 0; i < DGRAM_HOLD_MAX; i++)
		assert_int_equal(dgram_hq_push(&q, &t, dgram_buf("abc", 3)), 0);
	assert_int_equal(dgram_hq_push(&q, &t, dgram_buf("abc", 3)), UV_ENOBUFS);
	assert_int_equal(dgram_hq_pop(&q, &out, &b), 1);
	assert_string_equal(out.host, "example.org");
	assert_int_equal(b->len, 3);
	sbuf_free(b);
	dgram_hq_clear(&q);
	assert_int_equal(q.n, 0);
	assert_int_equal(q.bytes, 0);
	assert_int_equal(dgram_hq_pop(&q, &out, &b), 0);
	/* bytes cap */
	b = sbuf_new(DGRAM_HOLD_BYTES);
	b->len = DGRAM_HOLD_BYTES;
	assert_int_equal(dgram_hq_push(&q, &t, b), 0);
	assert_int_equal(dgram_hq_push(&q, &t, dgram_buf("a", 1)), UV_ENOBUFS);
	dgram_hq_clear(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_direct_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_direct_acl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held_then_sent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_fails_later, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_refused, setup, teardown),
	    cmocka_unit_test(test_hq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
