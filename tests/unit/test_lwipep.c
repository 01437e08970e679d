/* Unit tests: netstack/dns (spec vectors) and netstack/lwipep against the
 * Linux kernel through a TUN device.
 *
 *   lwIP endpoint 10.77.0.2, fd77::2  <-- TUN sltestN -->  kernel 10.77.0.1, fd77::1
 *
 * The process moves into a network namespace of its own (unshare), creates
 * the TUN device (IFF_TUN | IFF_NO_PI) and addresses the kernel's side with
 * `ip`.  A uv_poll on the TUN fd feeds what the kernel sends to
 * lwipep_input(); the endpoint's output writes to the fd.  The kernel side
 * is plain sockets on the same loop: TCP servers on 10.77.0.1 and fd77::1,
 * and a tiny DNS responder on 10.77.0.1:53.  Packets to 10.77.0.99 are
 * dropped on the way out, as a host that never answers.  Without the
 * rights for all this (CAP_NET_ADMIN), the TUN tests skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/dgram.h"
#include "core/metrics.h"
#include "netstack/dns.h"
#include "netstack/ippkt.h"
#include "netstack/lwipep.h"

#define MIB (1024 * 1024)
#define BLACKHOLE "10.77.0.99"

/* ---- DNS vectors ---- */

static const uint8_t q_vec[] = {
    0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* header, RD */
    4,    't',  'e',  's',  't',  7,    'e',  'x',  'a',  'm',  'p',  'l',
    'e',  0,    0x00, 0x01, 0x00, 0x01, /* A IN */
};

static void test_dns_query(void **state)
{
	uint8_t b[DNS_QUERY_MAX];
	char longname[300];

	assert_int_equal(dns_query_build(b, sizeof(b), 0x1234, "Test.EXAMPLE.", DNS_TYPE_A),
	                 sizeof(q_vec));
	assert_memory_equal(b, q_vec, sizeof(q_vec));
	assert_int_equal(dns_query_build(b, 10, 1, "a.b", DNS_TYPE_A), -ENOSPC);
	assert_true(dns_name_valid("a-b_c.example"));
	assert_false(dns_name_valid(""));
	assert_false(dns_name_valid("."));
	assert_false(dns_name_valid("a..b"));
	assert_false(dns_name_valid("a.b.."));
	assert_false(dns_name_valid(".a"));
	assert_false(dns_name_valid("a b"));
	assert_false(dns_name_valid("a\\.b"));
	memset(longname, 'a', 64);
	longname[64] = 0;
	assert_false(dns_name_valid(longname)); /* a 64-byte label */
	longname[63] = 0;
	assert_true(dns_name_valid(longname));
	for (int i = 0; i < 300; i++)
		longname[i] = i % 2 ? '.' : 'a';
	longname[253] = 0; /* 127 labels "a": 253 bytes */
	assert_true(dns_name_valid(longname));
	longname[253] = '.';
	longname[254] = 'a';
	longname[255] = 0;
	assert_false(dns_name_valid(longname));
}

/* Builds a response to q_vec (id 0x1234, test.example A) with the given
 * flags and answer bytes. */
static size_t resp(uint8_t *m, uint16_t flags, uint16_t an, const uint8_t *ans, size_t alen)
{
	memcpy(m, q_vec, sizeof(q_vec));
	m[2] = (uint8_t)(flags >> 8);
	m[3] = (uint8_t)flags;
	m[6] = (uint8_t)(an >> 8);
	m[7] = (uint8_t)an;
	if (alen)
		memcpy(m + sizeof(q_vec), ans, alen);
	return sizeof(q_vec) + alen;
}

static void test_dns_parse(void **state)
{
	uint8_t m[512];
	dns_result_t r;
	size_t n;
	/* test.example A 10.1.2.3 ttl 300, by pointer to the question */
	static const uint8_t a1[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 10, 1, 2, 3};
	/* test.example CNAME alias.example (alias + pointer to "example");
	 * other.example A 9.9.9.9; alias.example A 10.9.8.7 ttl 60 */
	static const uint8_t a2[] = {
	    0xc0, 0x0c, 0,   5,    0,    1,  0,   0,   0x0e, 0x10, 0,   8,    5,    'a',  'l',
	    'i',  'a',  's', 0xc0, 0x11, 5,  'o', 't', 'h',  'e',  'r', 0xc0, 0x11, 0,    1,
	    0,    1,    0,   0,    0,    60, 0,   4,   9,    9,    9,   9,    0xc0, 0x2a, 0,
	    1,    0,    1,   0,    0,    0,  60,  0,   4,    10,   9,   8,    7};
	static const uint8_t loop[] = {0xc0, 0x1e, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
	static const uint8_t fwd[] = {0xc0, 0x40, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
	static const uint8_t aaaa[] = {0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 5, 0, 16, 0xfd, 0x77,
	                               0,    0,    0, 0,  0, 0, 0, 0, 0, 0, 0, 0,  0,    1};

	n = resp(m, 0x8180, 1, a1, sizeof(a1));
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_A, &r), 0);
	assert_int_equal(r.rcode, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.addr[0].family, AF_INET);
	assert_memory_equal(r.addr[0].a, "\x0a\x01\x02\x03", 4);
	assert_int_equal(r.ttl, 300);
	/* case-insensitive, trailing dot */
	assert_int_equal(dns_response_parse(m, n, 0x1234, "TEST.example.", DNS_TYPE_A, &r), 0);
	assert_int_equal(r.n, 1);
	/* not ours */
	assert_int_equal(dns_response_parse(m, n, 0x1235, "test.example", DNS_TYPE_A, &r), -EPROTO);
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.exampl", DNS_TYPE_A, &r), -EPROTO);
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_AAAA, &r),
	                 -EPROTO);
	n = resp(m, 0x0180, 1, a1, sizeof(a1)); /* QR clear: a query */
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_A, &r), -EPROTO);
	/* every truncation of a valid answer is malformed, never a crash */
	n = resp(m, 0x8180, 1, a1, sizeof(a1));
	for (size_t k = 0; k < n; k++)
		assert_true(dns_response_parse(m, k, 0x1234, "test.example", DNS_TYPE_A, &r) < 0);

	n = resp(m, 0x8180, 3, a2, sizeof(a2));
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_A, &r), 0);
	assert_int_equal(r.n, 1);
	assert_memory_equal(r.addr[0].a, "\x0a\x09\x08\x07", 4);
	assert_int_equal(r.ttl, 60);

	n = resp(m, 0x8183, 0, NULL, 0);
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_A, &r), 0);
	assert_int_equal(r.rcode, DNS_NXDOMAIN);
	assert_int_equal(r.n, 0);

	n = resp(m, 0x8380, 0, NULL, 0); /* TC */
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_A, &r), 0);
	assert_true(r.truncated);

	n = resp(m, 0x8180, 1, loop, sizeof(loop)); /* pointer to itself */
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_A, &r),
	                 -EBADMSG);
	n = resp(m, 0x8180, 1, fwd, sizeof(fwd)); /* pointer forward */
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_A, &r),
	                 -EBADMSG);
	n = resp(m, 0x8180, 2, a1, sizeof(a1)); /* ANCOUNT larger than the section */
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_A, &r),
	                 -EBADMSG);

	memcpy(m, q_vec, sizeof(q_vec));
	m[sizeof(q_vec) - 3] = 28;
	m[2] = 0x81;
	m[3] = 0x80;
	m[7] = 1;
	memcpy(m + sizeof(q_vec), aaaa, sizeof(aaaa));
	n = sizeof(q_vec) + sizeof(aaaa);
	assert_int_equal(dns_response_parse(m, n, 0x1234, "test.example", DNS_TYPE_AAAA, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.addr[0].family, AF_INET6);
	assert_int_equal(r.addr[0].a[0], 0xfd);
	assert_int_equal(r.addr[0].a[15], 1);
}

/* ---- the TUN rig ---- */

static uv_loop_t loop_s, *loop = &loop_s;
static int tun_fd = -1;
static char tun_name[IFNAMSIZ];
static char skip_why[160];
static uv_poll_t tun_poll;
static lwipep_t *ep;
static size_t max_in, max_out; /* largest packet each way */
static uint64_t blackholed;
static int out_action;   /* 1: the next output takes the link down, 2: frees ep */
static int out_win = -1; /* the window field of the last IPv4 TCP segment out, not SYN */

static int tun_out(void *ud, const uint8_t *pkt, size_t len)
{
	struct in_addr bh;

	if (len >= 40 && pkt[0] == 0x45 && pkt[9] == IPPROTO_TCP && !(pkt[33] & 0x02))
		out_win = pkt[34] << 8 | pkt[35];
	inet_pton(AF_INET, BLACKHOLE, &bh);
	if (len >= 20 && (pkt[0] >> 4) == 4 && !memcmp(pkt + 16, &bh, 4)) {
		blackholed++;
		return 0;
	}
	if (len > max_out)
		max_out = len;
	if (out_action == 1) { /* the link fails while sending: lwipep_down() from out() */
		out_action = 0;
		lwipep_down(ep, UV_EPIPE);
		return UV_EPIPE;
	}
	if (out_action == 2) {
		out_action = 0;
		lwipep_free(ep);
		ep = NULL;
		return UV_EPIPE;
	}
	if (write(tun_fd, pkt, len) < 0)
		return UV_EAGAIN;
	return 0;
}

/* Optional, for measurements: SLUICE_TEST_DELAY_MS delays and
 * SLUICE_TEST_LOSS_PCT drops what the kernel sends us (no netem needed). */
typedef struct dpkt {
	struct dpkt *next;
	uint64_t due;
	size_t len;
	uint8_t d[];
} dpkt_t;

static dpkt_t *dq_head, *dq_tail;
static uv_timer_t dq_timer;
static unsigned delay_ms, loss_pct;

static void dq_run(uv_timer_t *t)
{
	uint64_t now = uv_now(loop);

	while (dq_head && dq_head->due <= now) {
		dpkt_t *p = dq_head;
		dq_head = p->next;
		if (!dq_head)
			dq_tail = NULL;
		if (ep)
			lwipep_input(ep, p->d, p->len);
		free(p);
	}
	if (dq_head)
		uv_timer_start(&dq_timer, dq_run, dq_head->due - now, 0);
}

static void dq_push(const uint8_t *b, size_t n)
{
	dpkt_t *p;

	if (loss_pct && (unsigned)(rand() % 100) < loss_pct)
		return;
	p = malloc(sizeof(*p) + n);
	p->next = NULL;
	p->due = uv_now(loop) + delay_ms;
	p->len = n;
	memcpy(p->d, b, n);
	if (dq_tail)
		dq_tail->next = p;
	else
		dq_head = p;
	dq_tail = p;
	if (!uv_is_active((uv_handle_t *)&dq_timer))
		uv_timer_start(&dq_timer, dq_run, delay_ms, 0);
}

static void on_tun(uv_poll_t *h, int status, int events)
{
	static uint8_t buf[65536];

	for (int i = 0; i < 256; i++) {
		ssize_t n = read(tun_fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		if ((size_t)n > max_in && (buf[0] >> 4) == 4)
			max_in = (size_t)n;
		if (delay_ms || loss_pct)
			dq_push(buf, (size_t)n);
		else if (ep)
			lwipep_input(ep, buf, (size_t)n);
	}
}

#define RUN_UNTIL(cond, ms)                                                                        \
	do {                                                                                       \
		uint64_t end_ = uv_now(loop) + (ms);                                               \
		while (!(cond) && uv_now(loop) < end_)                                             \
			uv_run(loop, UV_RUN_ONCE);                                                 \
	} while (0)

static void spin(unsigned ms)
{
	uint64_t end = uv_now(loop) + ms;

	while (uv_now(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
}

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* the byte stream a side sends: position-dependent, so loss, duplication
 * and reordering all change the hash */
static uint8_t pat(uint64_t seed, uint64_t i)
{
	return (uint8_t)((i >> 8) * 31 + i * 7 + seed * 13 + (i >> 16));
}

static void fill(uint8_t *p, uint64_t seed, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(seed, off + i);
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#define FNV0 0xcbf29ce484222325ull

static uint64_t expect_hash(uint64_t seed, uint64_t n)
{
	uint8_t b[65536];
	uint64_t h = FNV0;

	for (uint64_t off = 0; off < n; off += sizeof(b)) {
		size_t k = n - off < sizeof(b) ? (size_t)(n - off) : sizeof(b);
		fill(b, seed, off, k);
		h = fnv(h, b, k);
	}
	return h;
}

/* ---- kernel side: TCP servers ---- */

enum smode { SM_BULK, SM_REPLY, SM_GREET, SM_NOREAD, SM_SEND };

typedef struct sconn {
	uv_tcp_t h;
	uv_shutdown_t sreq;
	int mode;
	uint64_t rx_n, rx_h;
	int rx_eof, reading;
	uint64_t tx_total, tx_n, tx_seed;
	int inflight, shut;
	int closed;
} sconn_t;

typedef struct wbuf {
	uv_write_t req;
	uint8_t data[];
} wbuf_t;

static uv_tcp_t srv4, srv6;
static uint16_t port4, port6, port_closed;
static int smode;
static uint64_t s_tx_total;
static int srcvbuf; /* SO_RCVBUF of accepted sockets, 0: default */
static sconn_t *sc; /* the last accepted connection */
static int accepted;

static void s_closed(uv_handle_t *h)
{
	free(h->data);
}

static void s_close(sconn_t *c)
{
	if (c && !c->closed) {
		c->closed = 1;
		uv_close((uv_handle_t *)&c->h, s_closed);
	}
}

static void s_on_shut(uv_shutdown_t *r, int status) {}

static void s_on_write(uv_write_t *req, int status);

static void s_pump(sconn_t *c)
{
	while (!c->closed && c->inflight < 4 && c->tx_n < c->tx_total) {
		size_t n = c->tx_total - c->tx_n < 65536 ? (size_t)(c->tx_total - c->tx_n) : 65536;
		wbuf_t *w = malloc(sizeof(*w) + n);
		uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);

		fill(w->data, c->tx_seed, c->tx_n, n);
		c->tx_n += n;
		w->req.data = c;
		assert_int_equal(uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, s_on_write), 0);
		c->inflight++;
	}
	if (!c->closed && c->tx_n == c->tx_total && !c->inflight && !c->shut) {
		c->shut = 1;
		uv_shutdown(&c->sreq, (uv_stream_t *)&c->h, s_on_shut);
	}
}

static void s_on_write(uv_write_t *req, int status)
{
	sconn_t *c = req->data;

	free(req);
	c->inflight--;
	if (status == 0)
		s_pump(c);
}

static void s_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[65536];

	*b = uv_buf_init(buf, sizeof(buf));
}

static void s_on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b)
{
	sconn_t *c = h->data;

	if (n > 0) {
		c->rx_h = fnv(c->rx_h, (const uint8_t *)b->base, (size_t)n);
		c->rx_n += (uint64_t)n;
		return;
	}
	if (n == 0)
		return;
	uv_read_stop(h);
	c->rx_eof = n == UV_EOF ? 1 : -1;
	if (c->mode == SM_REPLY && n == UV_EOF) {
		uint64_t v[2] = {c->rx_n, c->rx_h};
		wbuf_t *w = malloc(sizeof(*w) + sizeof(v));
		uv_buf_t ub = uv_buf_init((char *)w->data, sizeof(v));

		memcpy(w->data, v, sizeof(v));
		w->req.data = c;
		c->inflight++;
		uv_write(&w->req, (uv_stream_t *)&c->h, &ub, 1, s_on_write);
		s_pump(c); /* tx_total 0: shut down after the reply */
	}
}

static void s_read(sconn_t *c)
{
	c->reading = 1;
	uv_read_start((uv_stream_t *)&c->h, s_alloc, s_on_read);
}

static void s_on_conn(uv_stream_t *srv, int status)
{
	sconn_t *c = calloc(1, sizeof(*c));

	assert_int_equal(status, 0);
	uv_tcp_init(loop, &c->h);
	c->h.data = c;
	assert_int_equal(uv_accept(srv, (uv_stream_t *)&c->h), 0);
	if (srcvbuf) {
		int v = srcvbuf;
		uv_recv_buffer_size((uv_handle_t *)&c->h, &v);
	}
	c->mode = smode;
	c->rx_h = FNV0;
	c->tx_seed = 2;
	s_close(sc); /* tests look at one connection at a time */
	sc = c;
	accepted++;
	switch (smode) {
	case SM_BULK:
	case SM_SEND:
		c->tx_total = s_tx_total;
		s_read(c);
		s_pump(c);
		break;
	case SM_REPLY:
		s_read(c);
		break;
	case SM_GREET: {
		static char hello[] = "hello";
		uv_buf_t b = uv_buf_init(hello, 5);
		uv_try_write((uv_stream_t *)&c->h, &b, 1);
		c->tx_total = c->tx_n = 5;
		s_read(c);
		s_pump(c);
		break;
	}
	case SM_NOREAD:
		break;
	}
}

static uint16_t listen_on(uv_tcp_t *h, int family, const char *ip)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	uv_tcp_init(loop, h);
	if (family == AF_INET)
		uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss);
	else
		uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss);
	assert_int_equal(uv_tcp_bind(h, (struct sockaddr *)&ss, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)h, 16, s_on_conn), 0);
	uv_tcp_getsockname(h, (struct sockaddr *)&ss, &len);
	return ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                               : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* ---- kernel side: DNS responder on 10.77.0.1:53 ---- */

static uv_udp_t dns_srv;
static int dns_queries;

static void dns_sent(uv_udp_send_t *r, int status)
{
	free(r);
}

static void dns_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[1500];

	*b = uv_buf_init(buf, sizeof(buf));
}

/* Answers test.example and cname.example (CNAME test.example) with
 * 10.77.0.1; AAAA gets NODATA; anything else NXDOMAIN. */
static void dns_on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                        unsigned flags)
{
	const uint8_t *q = (const uint8_t *)b->base;
	uv_udp_send_t *req;
	uint8_t *m;
	char name[256] = "";
	size_t off = 12, nl = 0, len;
	uint16_t qtype;
	uv_buf_t ub;
	int cname, known;

	if (n < 17 || !from)
		return;
	dns_queries++;
	while (off < (size_t)n && q[off] && nl + q[off] + 1 < sizeof(name)) {
		if (nl)
			name[nl++] = '.';
		memcpy(name + nl, q + off + 1, q[off]);
		nl += q[off];
		off += 1 + (size_t)q[off];
	}
	name[nl] = 0;
	off++;
	if (off + 4 > (size_t)n)
		return;
	qtype = (uint16_t)(q[off] << 8 | q[off + 1]);
	off += 4;
	cname = !strcmp(name, "cname.example");
	known = cname || !strcmp(name, "test.example");
	req = malloc(sizeof(*req) + 512);
	m = (uint8_t *)(req + 1);
	memcpy(m, q, off);
	m[2] = 0x81;
	m[3] = known ? 0x80 : 0x83;
	memset(m + 6, 0, 6);
	len = off;
	if (known && qtype == DNS_TYPE_A) {
		static const uint8_t cn[] = {0xc0, 0x0c, 0,   5,   0,   1,   0,   0,   0,
		                             60,   0,    14,  4,   't', 'e', 's', 't', 7,
		                             'e',  'x',  'a', 'm', 'p', 'l', 'e', 0};
		static const uint8_t a[] = {0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 77, 0, 1};
		if (cname) {
			memcpy(m + len, cn, sizeof(cn));
			m[len + sizeof(cn)] = 0xc0; /* owner: the CNAME's target */
			m[len + sizeof(cn) + 1] = (uint8_t)(len + 12);
			len += sizeof(cn) + 2;
			m[7] = 2;
		} else {
			m[len++] = 0xc0;
			m[len++] = 0x0c;
			m[7] = 1;
		}
		memcpy(m + len, a, sizeof(a));
		len += sizeof(a);
	}
	ub = uv_buf_init((char *)m, (unsigned)len);
	uv_udp_send(req, h, &ub, 1, from, dns_sent);
}

/* ---- the endpoint under test ---- */

static lwipep_addr_t addr_std(void)
{
	lwipep_addr_t a;

	memset(&a, 0, sizeof(a));
	inet_pton(AF_INET, "10.77.0.2", &a.local);
	inet_pton(AF_INET, "10.77.0.1", &a.peer);
	inet_pton(AF_INET6, "fd77::2", &a.local6);
	inet_pton(AF_INET, "10.77.0.1", &a.dns4[0]);
	a.mtu = 1500;
	return a;
}

static void ep_make(const lwipep_opts_t *o, const lwipep_addr_t *a)
{
	assert_int_equal(lwipep_new(loop, o, tun_out, NULL, &ep), 0);
	assert_int_equal(lwipep_set_addr(ep, a), 0);
}

static void ep_gone(void)
{
	lwipep_free(ep);
	ep = NULL;
	for (int i = 0; i < 20; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

static const lwipep_opts_t opts_std = {
    .name = "test", .id = 7, .connect_timeout_ms = 1500, .dns_timeout_ms = 4000};

static int ep_setup(void **state)
{
	lwipep_addr_t a = addr_std();

	if (tun_fd < 0)
		return 0;
	max_in = max_out = 0;
	smode = SM_BULK;
	s_tx_total = 0;
	srcvbuf = 0;
	accepted = 0;
	ep_make(&opts_std, &a);
	return 0;
}

static int ep_teardown(void **state)
{
	if (tun_fd < 0)
		return 0;
	s_close(sc);
	sc = NULL;
	ep_gone();
	return 0;
}

#define NEED_TUN()                                                                                 \
	do {                                                                                       \
		if (tun_fd < 0) {                                                                  \
			print_message("skipped: %s\n", skip_why);                                  \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* ---- the client side: a stream from the endpoint ---- */

typedef struct cli {
	stream_t *s;
	uint64_t tx_total, tx_n, tx_seed;
	int shut_after, shut;
	uint64_t rx_n, rx_h;
	uint8_t head[64];
	int eof, err, drains;
} cli_t;

static void c_pump(cli_t *c)
{
	while (c->tx_n < c->tx_total && c->s->wq_bytes <= STREAM_HIGH_WATER) {
		size_t n = c->tx_total - c->tx_n < 65536 ? (size_t)(c->tx_total - c->tx_n) : 65536;
		sbuf_t *b = sbuf_new(SBUF_DEFAULT);

		fill(b->data, c->tx_seed, c->tx_n, n);
		b->len = (uint32_t)n;
		c->tx_n += n;
		assert_int_equal(stream_write(c->s, b), 0);
	}
	if (c->tx_n == c->tx_total && c->shut_after && !c->shut) {
		c->shut = 1;
		assert_int_equal(stream_shutdown(c->s), 0);
	}
}

static void c_on_read(stream_t *s, sbuf_t *b)
{
	cli_t *c = s->data;

	if (!b) {
		c->eof = 1;
		return;
	}
	for (uint32_t i = 0; i < b->len && c->rx_n + i < sizeof(c->head); i++)
		c->head[c->rx_n + i] = sbuf_ptr(b)[i];
	c->rx_h = fnv(c->rx_h, sbuf_ptr(b), b->len);
	c->rx_n += b->len;
	sbuf_free(b);
}

static void c_on_drain(stream_t *s)
{
	cli_t *c = s->data;

	c->drains++;
	c_pump(c);
}

static void c_on_error(stream_t *s, int err)
{
	cli_t *c = s->data;

	c->err = err;
}

static const stream_cbs_t c_cbs = {c_on_read, c_on_drain, c_on_error};

typedef struct dres {
	int done, err;
	stream_t *s;
} dres_t;

static void on_dialed(void *ud, stream_t *s, int err)
{
	dres_t *d = ud;

	d->done = 1;
	d->err = err;
	d->s = s;
}

/* Dials through the dialer_t face; 0 and c set up, or the error. */
static int dial(const char *host, uint16_t port, cli_t *c, unsigned wait_ms)
{
	dialer_t *d = lwipep_dialer(ep);
	dial_opts_t o = {.id = 9};
	target_t t;
	dres_t r = {0};
	int nacc = accepted;

	assert_int_equal(target_set(&t, host, port), 0);
	assert_non_null(d->ops->dial(d, &t, &o, on_dialed, &r));
	assert_int_equal(r.done, 0); /* never from inside dial() */
	RUN_UNTIL(r.done, wait_ms);
	assert_true(r.done);
	if (r.err)
		return r.err;
	RUN_UNTIL(accepted > nacc, 1000); /* the kernel's side, so that sc is this one */
	memset(c, 0, sizeof(*c));
	c->s = r.s;
	c->rx_h = FNV0;
	c->tx_seed = 1;
	stream_set_cbs(c->s, &c_cbs, c);
	return 0;
}

/* ---- tests through the TUN ---- */

static double mbps(uint64_t bytes, uint64_t ns)
{
	return (double)bytes / MIB / ((double)ns / 1e9);
}

static void test_bulk_both_ways(void **state)
{
	cli_t c;
	uint64_t t0, n = 4 * MIB;

	NEED_TUN();
	smode = SM_BULK;
	s_tx_total = n;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	c.tx_total = n;
	c.shut_after = 1;
	t0 = uv_hrtime();
	stream_read_start(c.s);
	c_pump(&c);
	RUN_UNTIL(c.eof && sc && sc->rx_eof, 30000);
	print_message("4 MiB each way at once: %.0f ms\n", (double)(uv_hrtime() - t0) / 1e6);
	assert_int_equal(c.err, 0);
	assert_true(c.eof);
	assert_int_equal(c.rx_n, n);
	assert_true(c.rx_h == expect_hash(2, n));
	assert_int_equal(sc->rx_eof, 1);
	assert_int_equal(sc->rx_n, n);
	assert_true(sc->rx_h == expect_hash(1, n));
	assert_int_equal(c.s->wq_bytes, 0);
	stream_close(c.s);
	spin(50);
}

static void test_throughput(void **state)
{
	cli_t c;
	uint64_t t0, dt, n = 64 * MIB;

	NEED_TUN();
	/* kernel -> lwIP */
	smode = SM_SEND;
	s_tx_total = n;
	assert_int_equal(dial("10.77.0.1", port4, &c, 15000), 0);
	t0 = uv_hrtime();
	stream_read_start(c.s);
	RUN_UNTIL(c.eof, 60000);
	dt = uv_hrtime() - t0;
	assert_int_equal(c.rx_n, n);
	assert_true(c.rx_h == expect_hash(2, n));
	print_message("download (kernel -> lwIP): %.1f MB/s\n", mbps(n, dt));
	stream_close(c.s);

	/* lwIP -> kernel */
	smode = SM_BULK;
	s_tx_total = 0;
	assert_int_equal(dial("10.77.0.1", port4, &c, 15000), 0);
	c.tx_total = n;
	c.shut_after = 1;
	t0 = uv_hrtime();
	stream_read_start(c.s);
	c_pump(&c);
	RUN_UNTIL(sc && sc->rx_eof, 60000);
	dt = uv_hrtime() - t0;
	assert_int_equal(sc->rx_n, n);
	assert_true(sc->rx_h == expect_hash(1, n));
	print_message("upload (lwIP -> kernel):   %.1f MB/s\n", mbps(n, dt));
	stream_close(c.s);
	spin(50);
}

static void test_half_close(void **state)
{
	cli_t c;
	uint64_t v[2];

	NEED_TUN();
	/* we finish first, then the server answers: receive after our FIN */
	smode = SM_REPLY;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	c.tx_total = MIB;
	c.shut_after = 1;
	stream_read_start(c.s);
	c_pump(&c);
	RUN_UNTIL(c.eof, 10000);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.rx_n, 16);
	memcpy(v, c.head, sizeof(v));
	assert_int_equal(v[0], MIB);
	assert_true(v[1] == expect_hash(1, MIB));
	assert_int_equal(stream_write_str(c.s, "late"), UV_EPIPE);
	stream_close(c.s);

	/* the server finishes first, we keep sending: send after its FIN */
	smode = SM_GREET;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	stream_read_start(c.s);
	RUN_UNTIL(c.eof, 5000);
	assert_true(c.eof);
	assert_int_equal(c.rx_n, 5);
	assert_memory_equal(c.head, "hello", 5);
	c.tx_total = 300000;
	c.shut_after = 1;
	c_pump(&c);
	RUN_UNTIL(sc->rx_eof, 10000);
	assert_int_equal(sc->rx_eof, 1);
	assert_int_equal(sc->rx_n, 300000);
	assert_true(sc->rx_h == expect_hash(1, 300000));
	assert_int_equal(c.err, 0);
	stream_close(c.s);
	spin(50);
}

static void test_refused(void **state)
{
	cli_t c;

	NEED_TUN();
	assert_int_equal(dial("10.77.0.1", port_closed, &c, 3000), UV_ECONNREFUSED);
	assert_int_equal(dial("fd77::1", port_closed, &c, 3000), UV_ECONNREFUSED);
}

static void test_timeout_and_cancel(void **state)
{
	cli_t c;
	uint64_t t0 = uv_hrtime();
	dialer_t *d;
	dial_opts_t o = {.id = 3};
	target_t t;
	dres_t r = {0};
	dial_t *q;

	NEED_TUN();
	assert_int_equal(dial(BLACKHOLE, 80, &c, 5000), UV_ETIMEDOUT);
	assert_true(uv_hrtime() - t0 >= 1400 * 1000000ull);
	assert_true(blackholed >= 1);

	d = lwipep_dialer(ep);
	target_set(&t, BLACKHOLE, 80);
	q = d->ops->dial(d, &t, &o, on_dialed, &r);
	spin(100);
	d->ops->cancel(d, q);
	spin(2000);
	assert_int_equal(r.done, 0);
}

static void test_refused_locally(void **state)
{
	cli_t c;
	acl_t acl = {0};
	dialer_t *d;
	dial_opts_t o = {.id = 3, .acl = &acl};
	target_t t;
	dres_t r = {0};
	char bad[64];

	NEED_TUN();
	assert_int_equal(dial("127.0.0.1", 80, &c, 1000), UV_EHOSTUNREACH);
	assert_int_equal(dial("::1", 80, &c, 1000), UV_EHOSTUNREACH);
	assert_int_equal(dial("224.0.0.1", 80, &c, 1000), UV_EHOSTUNREACH);
	assert_int_equal(dial("10.77.0.2", 80, &c, 1000), UV_ECONNREFUSED); /* ourselves */
	assert_int_equal(dial("fd77::2", 80, &c, 1000), UV_ECONNREFUSED);
	assert_int_equal(dial("bad_name!", 80, &c, 1000), UV_EAI_NONAME);

	assert_int_equal(cidr_list_add(&acl.deny, "10.77.0.1/32", bad, sizeof(bad)), 0);
	d = lwipep_dialer(ep);
	target_set(&t, "10.77.0.1", port4);
	d->ops->dial(d, &t, &o, on_dialed, &r);
	RUN_UNTIL(r.done, 1000);
	assert_int_equal(r.err, UV_EACCES);
	acl_free(&acl);
	assert_int_equal(accepted, 0);
}

/* The server does not read: our queue fills, no drain; it reads: drain,
 * and every byte arrives in order. */
static void test_backpressure_send(void **state)
{
	cli_t c;
	uint64_t n = 3 * MIB;
	int drains;

	NEED_TUN();
	smode = SM_NOREAD;
	srcvbuf = 65536;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	RUN_UNTIL(sc, 1000);
	c.tx_total = n;
	while (c.tx_n < n) { /* ignore the high water mark: all in at once */
		sbuf_t *b = sbuf_new(SBUF_DEFAULT);
		fill(b->data, 1, c.tx_n, 65536);
		b->len = 65536;
		c.tx_n += 65536;
		assert_int_equal(stream_write(c.s, b), 0);
	}
	spin(800);
	drains = c.drains;
	assert_true(c.s->wq_bytes > 2 * MIB); /* the kernel holds a little, lwIP 64 KiB */
	print_message("not read: %zu bytes still queued in the stream\n", c.s->wq_bytes);
	assert_int_equal(drains, 0);
	s_read(sc);
	RUN_UNTIL(sc->rx_n == n, 20000);
	assert_int_equal(sc->rx_n, n);
	assert_true(sc->rx_h == expect_hash(1, n));
	assert_true(c.drains >= 1);
	assert_int_equal(c.s->wq_bytes, 0);
	stream_close(c.s);
	spin(50);
}

/* We do not read: lwIP stops acknowledging at one window (TCP_WND); we
 * read: everything arrives. */
static void test_backpressure_recv(void **state)
{
	cli_t c;
	uint64_t n = 2 * MIB;
	uint8_t ti[256];
	socklen_t tl = sizeof(ti);
	uint64_t acked = 0;
	lwipep_stats_t st;
	uv_os_fd_t fd;

	NEED_TUN();
	smode = SM_SEND;
	s_tx_total = n;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	spin(1000);
	assert_int_equal(c.rx_n, 0);
	assert_true(sc->tx_n < n || sc->inflight);
	uv_fileno((uv_handle_t *)&sc->h, &fd);
	/* tcpi_bytes_acked: byte 120 of the kernel's struct tcp_info (uapi,
	 * append-only); glibc's struct stops before it */
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &tl), 0);
	assert_true(tl >= 128);
	memcpy(&acked, ti + 120, sizeof(acked));
	print_message("paused reader: the kernel got %llu bytes acknowledged\n",
	              (unsigned long long)acked);
	assert_true(acked <= 65535);
	assert_true(acked >= 32768);
	lwipep_get_stats(ep, &st);
	assert_int_equal(st.bytes_in, 0);

	stream_read_start(c.s);
	spin(20);
	stream_read_stop(c.s); /* pause and resume once more */
	spin(300);
	stream_read_start(c.s);
	RUN_UNTIL(c.eof, 20000);
	assert_int_equal(c.rx_n, n);
	assert_true(c.rx_h == expect_hash(2, n));
	lwipep_get_stats(ep, &st);
	assert_int_equal(st.bytes_in, n);
	stream_close(c.s);
	spin(50);
}

/* Less than a segment arrives while the owner is not reading, and is read
 * later: the window is whole again, and lwIP must say so at once although
 * it grew by less than a segment since the last announcement.  (A sender
 * that checks an ACK against the window that ACK carries, as SoftEther's
 * SecureNAT does, otherwise never accepts the ACK of a full window it lost
 * the earlier ACKs of, and the connection stalls.) */
static void test_full_window_after_late_read(void **state)
{
	static char part[1000];
	uv_buf_t b = uv_buf_init(part, sizeof(part));
	int full, reduced;
	cli_t c;

	NEED_TUN();
	smode = SM_NOREAD;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	spin(50);
	full = out_win; /* the handshake's last ACK: nothing received yet */
	assert_true(full > 0);
	assert_int_equal(uv_try_write((uv_stream_t *)&sc->h, &b, 1), (int)sizeof(part));
	spin(200);
	reduced = out_win;
	assert_true(reduced < full); /* acknowledged, not read */
	stream_read_start(c.s);
	RUN_UNTIL(c.rx_n == sizeof(part), 2000);
	assert_int_equal(c.rx_n, sizeof(part));
	spin(50);
	assert_int_equal(out_win, full);
	stream_close(c.s);
	spin(50);
}

static void test_dns(void **state)
{
	cli_t c;
	lwipep_stats_t st;
	int q0;

	NEED_TUN();
	smode = SM_GREET;
	q0 = dns_queries;
	assert_int_equal(dial("test.example", port4, &c, 5000), 0);
	assert_int_equal(dns_queries - q0, 1);
	stream_read_start(c.s);
	RUN_UNTIL(c.eof, 3000);
	assert_memory_equal(c.head, "hello", 5);
	stream_close(c.s);

	/* cached now */
	assert_int_equal(dial("TEST.example.", port4, &c, 5000), 0);
	assert_int_equal(dns_queries - q0, 1);
	stream_close(c.s);
	lwipep_get_stats(ep, &st);
	assert_int_equal(st.dns_cache_hits, 1);

	/* a CNAME, then a name that does not exist */
	assert_int_equal(dial("cname.example", port4, &c, 5000), 0);
	stream_close(c.s);
	assert_int_equal(dial("nope.example", port4, &c, 5000), UV_EAI_NONAME);
	lwipep_get_stats(ep, &st);
	assert_int_equal(st.dns_failures, 1);
	assert_int_equal(st.dns_lookups, 4);
	spin(50);
}

/* The link's DNS server never answers; the fallback does. */
static void test_dns_fallback(void **state)
{
	lwipep_opts_t o = opts_std;
	lwipep_addr_t a = addr_std();
	lwipep_stats_t st;
	uint64_t t0;
	cli_t c;

	NEED_TUN();
	ep_gone();
	inet_pton(AF_INET, BLACKHOLE, &a.dns4[0]);
	o.dns_fallback = "10.77.0.1";
	ep_make(&o, &a);
	t0 = uv_hrtime();
	assert_int_equal(dial("test.example", port4, &c, 6000), 0);
	assert_true(uv_hrtime() - t0 >= 900 * 1000000ull); /* one try timed out */
	stream_close(c.s);
	lwipep_get_stats(ep, &st);
	assert_true(st.dns_queries >= 2);
	spin(50);

	/* no server at all */
	ep_gone();
	memset(&a.dns4, 0, sizeof(a.dns4));
	ep_make(&opts_std, &a);
	assert_int_equal(dial("test.example", port4, &c, 1000), UV_EAI_AGAIN);
}

/* Link down: the open connection and a dial in flight fail with the given
 * error; dials fail until the link is back. */
static void test_down(void **state)
{
	cli_t c;
	dres_t r = {0};
	dialer_t *d;
	dial_opts_t o = {.id = 4};
	target_t t;
	lwipep_addr_t a = addr_std();

	NEED_TUN();
	smode = SM_NOREAD;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	stream_read_start(c.s);
	d = lwipep_dialer(ep);
	target_set(&t, BLACKHOLE, 80);
	d->ops->dial(d, &t, &o, on_dialed, &r);
	spin(50);
	lwipep_down(ep, UV_ECONNABORTED);
	assert_int_equal(c.err, 0); /* later, not from inside lwipep_down */
	assert_int_equal(r.done, 0);
	RUN_UNTIL(c.err && r.done, 1000);
	assert_int_equal(c.err, UV_ECONNABORTED);
	assert_int_equal(r.err, UV_ECONNABORTED);
	assert_int_equal(stream_write_str(c.s, "x"), UV_ECONNABORTED);
	stream_close(c.s);
	assert_int_equal(dial("10.77.0.1", port4, &c, 1000), UV_ENETUNREACH);

	assert_int_equal(lwipep_set_addr(ep, &a), 0);
	smode = SM_GREET;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	stream_read_start(c.s);
	RUN_UNTIL(c.eof, 3000);
	assert_int_equal(c.rx_n, 5);
	stream_close(c.s);
	assert_int_equal(dial("fd77::1", port6, &c, 3000), 0); /* IPv6 is back too */
	stream_read_start(c.s);
	RUN_UNTIL(c.eof, 3000);
	assert_int_equal(c.rx_n, 5);

	/* freeing the endpoint fails what is open; the stream stays usable
	 * until closed */
	c.err = 0;
	ep_gone();
	assert_int_equal(c.err, UV_ECONNABORTED);
	stream_close(c.s);
	ep_make(&opts_std, &a);
}

static void test_ipv6(void **state)
{
	cli_t c;
	uint64_t n = MIB;

	NEED_TUN();
	smode = SM_BULK;
	s_tx_total = n;
	assert_int_equal(dial("fd77::1", port6, &c, 3000), 0);
	c.tx_total = n;
	c.shut_after = 1;
	stream_read_start(c.s);
	c_pump(&c);
	RUN_UNTIL(c.eof && sc && sc->rx_eof, 20000);
	assert_int_equal(c.rx_n, n);
	assert_true(c.rx_h == expect_hash(2, n));
	assert_int_equal(sc->rx_n, n);
	assert_true(sc->rx_h == expect_hash(1, n));
	stream_close(c.s);
	spin(50);
}

/* ---- datagram flows ---- */

typedef struct uecho {
	uv_udp_t h;
	int reply_from_other; /* answer from another socket (a stranger) */
	uv_udp_t other;
	unsigned got;
} uecho_t;

static uint8_t ubuf[65536];

static void ue_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	*b = uv_buf_init((char *)ubuf, sizeof(ubuf));
}

static void ue_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                    unsigned flags)
{
	uecho_t *e = h->data;
	uv_buf_t r;

	if (n <= 0 || !from)
		return;
	e->got++;
	r = uv_buf_init(b->base, (unsigned)n);
	uv_udp_try_send(e->reply_from_other ? &e->other : h, &r, 1, from);
}

static void ue_start(uecho_t *e, const char *ip, uint16_t *port)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(e, 0, sizeof(*e));
	uv_udp_init(loop, &e->h);
	uv_udp_init(loop, &e->other);
	e->h.data = e;
	if (strchr(ip, ':'))
		uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss);
	else
		uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss);
	assert_int_equal(uv_udp_bind(&e->h, (struct sockaddr *)&ss, 0), 0);
	assert_int_equal(uv_udp_bind(&e->other, (struct sockaddr *)&ss, 0), 0);
	uv_udp_getsockname(&e->h, (struct sockaddr *)&ss, &len);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                       : ((struct sockaddr_in *)&ss)->sin_port);
	uv_udp_recv_start(&e->h, ue_alloc, ue_recv);
}

static void ue_stop(uecho_t *e)
{
	uv_close((uv_handle_t *)&e->h, NULL);
	uv_close((uv_handle_t *)&e->other, NULL);
	spin(10);
}

typedef struct fl {
	dgram_t *f;
	int opened, err, failed;
	unsigned got;
	size_t last_len;
	char last_src[64];
} fl_t;

static void fl_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	fl_t *x = f->data;

	x->got++;
	x->last_len = b->len;
	sockaddr_ip(src, x->last_src, sizeof(x->last_src));
	sbuf_free(b);
}

static void fl_error(dgram_t *f, int err)
{
	fl_t *x = f->data;

	x->failed = err;
}

static const dgram_cbs_t fl_cbs = {fl_recv, fl_error, NULL};

static void fl_opened(void *ud, dgram_t *f, int err)
{
	fl_t *x = ud;

	x->opened = 1;
	x->err = err;
	x->f = f;
	if (f)
		dgram_set_cbs(f, &fl_cbs, x);
}

static void fl_send(fl_t *x, const char *host, uint16_t port, size_t n)
{
	static uint8_t pay[20000];
	target_t t;

	target_set(&t, host, port);
	dgram_send(x->f, &t, dgram_buf(pay, n));
}

/* Flows on UDP pcbs: echoes of both families (one fragmented), a name
 * resolved inside the tunnel, replies only from where the flow sent,
 * loopback and the ACL refused, the link going down fails the flow. */
static void test_udp(void **state)
{
	uecho_t e4, e6;
	uint16_t p4, p6;
	fl_t x = {0};
	dial_opts_t o = {.id = 9};
	acl_t acl = {0};
	char bad[64];
	uint64_t drops;

	NEED_TUN();
	ue_start(&e4, "10.77.0.1", &p4);
	ue_start(&e6, "fd77::1", &p6);
	cidr_list_add(&acl.deny, "10.77.0.50/32", bad, sizeof(bad));
	o.acl = &acl;
	assert_non_null(lwipep_dgram(ep, &o, fl_opened, &x));
	assert_int_equal(x.opened, 0); /* never from inside the call */
	RUN_UNTIL(x.opened, 1000);
	assert_int_equal(x.err, 0);
	fl_send(&x, "10.77.0.1", p4, 100);
	RUN_UNTIL(x.got == 1, 2000);
	assert_int_equal(x.last_len, 100);
	assert_string_equal(x.last_src, "10.77.0.1");
	fl_send(&x, "fd77::1", p6, 5000); /* fragmented both ways */
	RUN_UNTIL(x.got == 2, 2000);
	assert_int_equal(x.last_len, 5000);
	assert_string_equal(x.last_src, "fd77::1");
	fl_send(&x, "test.example", p4, 10); /* the tunnel's DNS: 10.77.0.1 */
	RUN_UNTIL(x.got == 3, 3000);
	assert_int_equal(x.got, 3);
	/* refused: loopback, our own address, the ACL; counted, nothing sent */
	drops = dgram_dropped(x.f);
	fl_send(&x, "127.0.0.1", p4, 10);
	fl_send(&x, "10.77.0.2", p4, 10);
	fl_send(&x, "10.77.0.50", p4, 10);
	assert_int_equal(dgram_dropped(x.f), drops + 3);
	/* a reply from another port of the same host is a stranger's */
	e4.reply_from_other = 1;
	fl_send(&x, "10.77.0.1", p4, 10);
	RUN_UNTIL(e4.got == 3, 2000);
	spin(100);
	assert_int_equal(x.got, 3);
	assert_int_equal(dgram_dropped(x.f), drops + 4);
	/* the link goes down: the flow fails, later */
	lwipep_down(ep, UV_ECONNRESET);
	assert_int_equal(x.failed, 0);
	RUN_UNTIL(x.failed, 1000);
	assert_int_equal(x.failed, UV_ECONNRESET);
	dgram_close(x.f);
	/* and no flow opens while it is down */
	assert_null(lwipep_dgram(ep, &o, fl_opened, &x));
	cidr_list_free(&acl.deny);
	ue_stop(&e4);
	ue_stop(&e6);
	spin(20);
}

/* A 1280-byte link: lwIP announces and sends MSS 1240, so no packet is
 * larger than the MTU either way. */
static void test_mtu(void **state)
{
	lwipep_addr_t a = addr_std();
	cli_t c;
	uint64_t n = MIB;

	NEED_TUN();
	ep_gone();
	a.mtu = 1280;
	ep_make(&opts_std, &a);
	assert_int_equal(lwipep_mss(ep), 1240);
	max_in = max_out = 0;
	smode = SM_BULK;
	s_tx_total = n;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	c.tx_total = n;
	c.shut_after = 1;
	stream_read_start(c.s);
	c_pump(&c);
	RUN_UNTIL(c.eof && sc && sc->rx_eof, 20000);
	assert_int_equal(c.rx_n, n);
	assert_int_equal(sc->rx_n, n);
	print_message("mtu 1280: largest packet in %zu, out %zu\n", max_in, max_out);
	assert_int_equal(max_in, 1280);
	assert_int_equal(max_out, 1280);
	stream_close(c.s);
	spin(50);
}

/* The tunnel may react to a packet from inside out(): lwipep_down() and
 * even lwipep_free() there, in the middle of a bulk transfer. */
static void test_out_reentry(void **state)
{
	lwipep_addr_t a = addr_std();
	cli_t c;

	NEED_TUN();
	smode = SM_BULK;
	s_tx_total = 8 * MIB;
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	c.tx_total = 8 * MIB;
	stream_read_start(c.s);
	c_pump(&c);
	spin(20);
	out_action = 1;
	RUN_UNTIL(c.err, 3000);
	assert_int_equal(c.err, UV_EPIPE);
	stream_close(c.s);

	assert_int_equal(lwipep_set_addr(ep, &a), 0);
	assert_int_equal(dial("10.77.0.1", port4, &c, 3000), 0);
	c.tx_total = 8 * MIB;
	stream_read_start(c.s);
	c_pump(&c);
	spin(20);
	out_action = 2;
	RUN_UNTIL(c.err, 3000);
	assert_null(ep);
	assert_int_equal(c.err, UV_ECONNABORTED);
	stream_close(c.s);
	spin(20);
	ep_make(&opts_std, &a);
}

/* What the input filter drops, and the metrics lines. */
static void test_filter_and_metrics(void **state)
{
	uint8_t p[40] = {0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0};
	lwipep_stats_t s0, s1;
	mbuf_t mb = {0};

	NEED_TUN();
	lwipep_get_stats(ep, &s0);
	inet_pton(AF_INET, "10.77.0.2", p + 12); /* from ourselves */
	inet_pton(AF_INET, "10.77.0.2", p + 16);
	lwipep_input(ep, p, sizeof(p));
	inet_pton(AF_INET, "127.0.0.1", p + 12); /* from loopback */
	lwipep_input(ep, p, sizeof(p));
	inet_pton(AF_INET, "10.77.0.1", p + 12); /* not for us */
	inet_pton(AF_INET, "10.77.0.3", p + 16);
	lwipep_input(ep, p, sizeof(p));
	lwipep_input(ep, p, 3); /* runt */
	p[0] = 0x60;
	lwipep_input(ep, p, sizeof(p)); /* IPv6 runt */
	lwipep_get_stats(ep, &s1);
	assert_int_equal(s1.pkts_dropped - s0.pkts_dropped, 5);
	assert_int_equal(s1.pkts_in, s0.pkts_in);

	metrics_render(&mb);
	assert_non_null(mb.p);
	assert_non_null(strstr(mb.p, "sluice_lwip_connections_total{ep=\"test\"}"));
	assert_non_null(strstr(mb.p, "sluice_lwip_dns_queries_total{ep=\"test\"}"));
	free(mb.p);
}

/* ---- rig setup ---- */

static int rig_up(void **state)
{
	struct ifreq ifr;
	struct sockaddr_in sa;
	int fd;

	uv_loop_init(loop);
	signal(SIGPIPE, SIG_IGN); /* servers write to connections reset under them */
	if (unshare(CLONE_NEWNET) < 0)
		print_message("unshare(CLONE_NEWNET): %s; using the current namespace\n",
		              strerror(errno));
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(skip_why, sizeof(skip_why), "no TUN device: /dev/net/tun: %s",
		         strerror(errno));
		return 0;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "sltest%%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		snprintf(skip_why, sizeof(skip_why), "cannot create a TUN device: %s",
		         strerror(errno));
		close(fd);
		return 0;
	}
	snprintf(tun_name, sizeof(tun_name), "%s", ifr.ifr_name);
	if (sh("ip link set lo up 2>/dev/null; ip link set %s up && "
	       "ip addr add 10.77.0.1 peer 10.77.0.2 dev %s && "
	       "ip -6 addr add fd77::1 peer fd77::2 dev %s nodad && "
	       "ip -6 route replace fd77::2 dev %s",
	       tun_name, tun_name, tun_name, tun_name) != 0) {
		snprintf(skip_why, sizeof(skip_why), "cannot configure %s with ip(8)", tun_name);
		close(fd);
		return 0;
	}
	tun_fd = fd;
	uv_poll_init(loop, &tun_poll, tun_fd);
	uv_poll_start(&tun_poll, UV_READABLE, on_tun);
	port4 = listen_on(&srv4, AF_INET, "10.77.0.1");
	port6 = listen_on(&srv6, AF_INET6, "fd77::1");
	/* a port nobody listens on: bind, note, close */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, "10.77.0.1", &sa.sin_addr);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	socklen_t l = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &l);
	port_closed = ntohs(sa.sin_port);
	close(fd);
	uv_timer_init(loop, &dq_timer);
	if (getenv("SLUICE_TEST_DELAY_MS"))
		delay_ms = (unsigned)atoi(getenv("SLUICE_TEST_DELAY_MS"));
	if (getenv("SLUICE_TEST_LOSS_PCT"))
		loss_pct = (unsigned)atoi(getenv("SLUICE_TEST_LOSS_PCT"));
	uv_udp_init(loop, &dns_srv);
	uv_ip4_addr("10.77.0.1", 53, &sa);
	assert_int_equal(uv_udp_bind(&dns_srv, (struct sockaddr *)&sa, 0), 0);
	uv_udp_recv_start(&dns_srv, dns_alloc, dns_on_recv);
	return 0;
}

static void close_cb(uv_handle_t *h) {}

static int rig_down(void **state)
{
	if (tun_fd >= 0) {
		uv_close((uv_handle_t *)&tun_poll, close_cb);
		uv_close((uv_handle_t *)&srv4, close_cb);
		uv_close((uv_handle_t *)&srv6, close_cb);
		uv_close((uv_handle_t *)&dns_srv, close_cb);
		uv_close((uv_handle_t *)&dq_timer, close_cb);
		uv_run(loop, UV_RUN_DEFAULT);
		close(tun_fd); /* the device goes with its last fd */
		tun_fd = -1;
	}
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
	return 0;
}

/* ---- listening: the kernel connects to the endpoint ---- */

typedef struct acc {
	int n, refuse;
	cli_t c;
	struct sockaddr_storage peer;
} acc_t;

static int on_accepted(void *ud, stream_t *s, const struct sockaddr *peer)
{
	acc_t *a = ud;

	a->n++;
	if (a->refuse)
		return UV_EACCES;
	memcpy(&a->peer, peer, sizeof(struct sockaddr_in6));
	memset(&a->c, 0, sizeof(a->c));
	a->c.s = s;
	a->c.rx_h = FNV0;
	stream_set_cbs(s, &c_cbs, &a->c);
	stream_read_start(s);
	return 0;
}

/* A non-blocking kernel socket connecting to the endpoint. */
static int k_connect(int family, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
	}
	assert_true(fd >= 0);
	assert_true(connect(fd, (struct sockaddr *)&ss, sizeof(ss)) < 0 && errno == EINPROGRESS);
	return fd;
}

static int so_error(int fd)
{
	int e = 0;
	socklen_t l = sizeof(e);

	getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
	return e;
}

/* A TCP SYN from src:sport to the endpoint's 10.77.0.2:dport. */
static size_t syn4(uint8_t *p, uint32_t src, uint16_t sport, uint16_t dport)
{
	uint16_t c;

	memset(p, 0, 40);
	p[0] = 0x45;
	p[3] = 40;
	p[8] = 64;
	p[9] = IPPKT_TCP;
	memcpy(p + 12, &src, 4);
	inet_pton(AF_INET, "10.77.0.2", p + 16);
	c = ippkt_csum(p, 20);
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
	p[20] = (uint8_t)(sport >> 8);
	p[21] = (uint8_t)sport;
	p[22] = (uint8_t)(dport >> 8);
	p[23] = (uint8_t)dport;
	p[24] = 0x12; /* seq */
	p[32] = 5 << 4;
	p[33] = IPPKT_SYN;
	p[34] = 0xff;
	p[35] = 0xff;
	c = ippkt_csum_l4(p, 4, IPPKT_TCP, p + 20, 20);
	p[36] = (uint8_t)(c >> 8);
	p[37] = (uint8_t)c;
	return 40;
}

static void test_listen(void **state)
{
	lwipep_listen_t *l, *l2;
	lwipep_listen_stats_t st;
	lwipep_stats_t es;
	acc_t a = {0};
	char buf[64];
	uint8_t pkt[40];
	int fd, fd2, e;

	NEED_TUN();
	assert_int_equal(lwipep_listen(ep, 8080, 8, on_accepted, &a, &l), 0);
	assert_int_equal(lwipep_listen(ep, 8080, 8, on_accepted, &a, &l2), UV_EADDRINUSE);

	/* the kernel connects to the endpoint's address, both ways bytes */
	fd = k_connect(AF_INET, "10.77.0.2", 8080);
	RUN_UNTIL(a.n == 1, 3000);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.peer.ss_family, AF_INET);
	assert_int_equal(send(fd, "ping", 4, 0), 4);
	RUN_UNTIL(a.c.rx_n == 4, 3000);
	assert_memory_equal(a.c.head, "ping", 4);
	assert_int_equal(stream_write_str(a.c.s, "pong"), 0);
	memset(buf, 0, sizeof(buf));
	for (int i = 0; i < 300 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0; i++)
		spin(10);
	assert_string_equal(buf, "pong");
	/* the connection outlives its listener */
	lwipep_unlisten(l);
	assert_int_equal(send(fd, "more", 4, 0), 4);
	RUN_UNTIL(a.c.rx_n == 8, 3000);
	assert_int_equal(a.c.rx_n, 8);
	stream_close(a.c.s);
	close(fd);

	/* no listener: RST */
	fd = k_connect(AF_INET, "10.77.0.2", 8080);
	e = 0;
	for (int i = 0; i < 300 && !(e = so_error(fd)); i++) /* reading SO_ERROR clears it */
		spin(10);
	assert_int_equal(e, ECONNREFUSED);
	close(fd);

	/* IPv6; and a refusal resets the connection */
	assert_int_equal(lwipep_listen(ep, 8081, 8, on_accepted, &a, &l), 0);
	fd = k_connect(AF_INET6, "fd77::2", 8081);
	RUN_UNTIL(a.n == 2, 3000);
	assert_int_equal(a.peer.ss_family, AF_INET6);
	stream_close(a.c.s);
	close(fd);
	a.refuse = 1;
	fd = k_connect(AF_INET, "10.77.0.2", 8081);
	RUN_UNTIL(a.n == 3, 3000);
	e = EAGAIN;
	for (int i = 0; i < 300 && e == EAGAIN; i++) {
		spin(10);
		e = recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0 ? errno : 0;
	}
	assert_int_equal(e, ECONNRESET);
	close(fd);

	/* a flood of SYNs from forged sources: at most syn_max wait, the rest
	 * are dropped and counted; a real client still gets in once the
	 * half-open ones are gone */
	lwipep_get_stats(ep, &es);
	for (uint32_t i = 0; i < 500; i++)
		lwipep_input(ep, pkt, syn4(pkt, htonl(0x0a4d0100 + i), (uint16_t)(1024 + i), 8081));
	lwipep_listen_stats(l, &st);
	assert_int_equal(st.syn_dropped, 500 - 8);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.refused, 1);
	fd2 = k_connect(AF_INET, "10.77.0.2", 8081);
	spin(300);
	assert_int_equal(a.n, 3); /* its SYN was dropped too */
	lwipep_unlisten(l);
	close(fd2);
	assert_int_equal(lwipep_listen(ep, 8081, 8, on_accepted, &a, &l), 0);
	a.refuse = 0;
	fd = k_connect(AF_INET, "10.77.0.2", 8081);
	RUN_UNTIL(a.n == 4, 3000);
	assert_int_equal(a.n, 4);
	stream_close(a.c.s);
	close(fd);
	lwipep_unlisten(l);
	spin(50);
}

#define TUN_TEST(f) cmocka_unit_test_setup_teardown(f, ep_setup, ep_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dns_query),
	    cmocka_unit_test(test_dns_parse),
	    TUN_TEST(test_bulk_both_ways),
	    TUN_TEST(test_half_close),
	    TUN_TEST(test_full_window_after_late_read),
	    TUN_TEST(test_refused),
	    TUN_TEST(test_timeout_and_cancel),
	    TUN_TEST(test_refused_locally),
	    TUN_TEST(test_backpressure_send),
	    TUN_TEST(test_backpressure_recv),
	    TUN_TEST(test_dns),
	    TUN_TEST(test_dns_fallback),
	    TUN_TEST(test_down),
	    TUN_TEST(test_ipv6),
	    TUN_TEST(test_mtu),
	    TUN_TEST(test_out_reentry),
	    TUN_TEST(test_filter_and_metrics),
	    TUN_TEST(test_udp),
	    TUN_TEST(test_listen),
	    TUN_TEST(test_throughput),
	};

	return cmocka_run_group_tests(tests, rig_up, rig_down);
}
