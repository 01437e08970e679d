/* Unit tests: netstack/slirpgw and netstack/pcap, over real loopback sockets.
 *
 * The test plays the peer: it crafts IPv4/IPv6 packets by hand (a tiny TCP
 * client state machine: SYN, SYN-ACK, ACK, a GET, the answer, FIN) from
 * 10.0.2.15 and feeds them to slirpgw_input(); what the gateway sends back
 * lands in `outq`.  The other end is a real libuv HTTP server on 127.0.0.1
 * in the same loop, and for the SOCKS case a real microsocks (skipped with
 * a message when it is not installed).  The loop is turned by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/transports.h"
#include "core/metrics.h"
#include "core/url.h"
#include "netstack/pcap.h"
#include "netstack/slirpgw.h"

#define PEER "10.0.2.15"
#define RESPONSE "HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhello, peer\n"

static uv_loop_t *loop;
static slirpgw_t *gw;

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* ---- what the gateway sends the peer ---- */

#define OUTQ_MAX 4096
typedef struct opkt {
	uint8_t *p;
	size_t len;
	int used;
} opkt_t;
static opkt_t outq[OUTQ_MAX];
static size_t noutq;
static void (*out_hook)(const uint8_t *p, size_t len);

static void gw_out(void *ud, const uint8_t *p, size_t len)
{
	if (noutq < OUTQ_MAX) {
		outq[noutq].p = malloc(len);
		memcpy(outq[noutq].p, p, len);
		outq[noutq].len = len;
		outq[noutq].used = 0;
		noutq++;
	}
	if (out_hook)
		out_hook(p, len);
}

static void outq_clear(void)
{
	for (size_t i = 0; i < noutq; i++)
		free(outq[i].p);
	noutq = 0;
}

/* ---- packet building ---- */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IPv4 packet around l4; transport checksum filled in for TCP, UDP, ICMP. */
static size_t build_ip4(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
                        size_t n)
{
	static uint16_t ipid = 1;
	uint8_t *t = b + 20;
	uint32_t s;
	int off = proto == 6 ? 16 : proto == 17 ? 6 : 2;

	memset(b, 0, 20);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)(20 + n));
	put16(b + 4, ipid++);
	b[8] = 64;
	b[9] = proto;
	memcpy(b + 12, &src, 4);
	memcpy(b + 16, &dst, 4);
	put16(b + 10, fold(sum16(0, b, 20)));
	memcpy(t, l4, n);
	t[off] = t[off + 1] = 0;
	s = proto == 1 ? 0 : sum16(0, b + 12, 8) + proto + (uint32_t)n;
	put16(t + off, fold(sum16(s, t, n)));
	return 20 + n;
}

static size_t build_ip6(uint8_t *b, const char *src, const char *dst, uint8_t nh, const uint8_t *l4,
                        size_t n)
{
	uint8_t *t = b + 40;
	uint32_t s;

	memset(b, 0, 40);
	b[0] = 0x60;
	put16(b + 4, (uint16_t)n);
	b[6] = nh;
	b[7] = 64;
	inet_pton(AF_INET6, src, b + 8);
	inet_pton(AF_INET6, dst, b + 24);
	memcpy(t, l4, n);
	t[2] = t[3] = 0;
	s = sum16(0, b + 8, 32) + nh + (uint32_t)n;
	put16(t + 2, fold(sum16(s, t, n)));
	return 40 + n;
}

/* ---- a tiny TCP client, the peer's side of one connection ---- */

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

typedef struct tcpc {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t snd_nxt, rcv_nxt;
	int established, fin_rcvd, rst_rcvd, send_err;
	char rx[8192];
	size_t rxlen;
	uint64_t total; /* in-order payload bytes, all of them */
	int bad;        /* bytes off the bulk pattern */
} tcpc_t;

#define BULK (2u << 20)
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 7 % 251);
}

static tcpc_t *clients[64];
static size_t nclients;

static void tcpc_send(tcpc_t *c, uint8_t flags, const void *data, size_t len)
{
	uint8_t l4[1500], pkt[1600];
	size_t n;

	memset(l4, 0, 20);
	put16(l4, c->sport);
	put16(l4 + 2, c->dport);
	put16(l4 + 4, (uint16_t)(c->snd_nxt >> 16));
	put16(l4 + 6, (uint16_t)c->snd_nxt);
	if (flags & TH_ACK) {
		put16(l4 + 8, (uint16_t)(c->rcv_nxt >> 16));
		put16(l4 + 10, (uint16_t)c->rcv_nxt);
	}
	l4[12] = 5 << 4;
	l4[13] = flags;
	put16(l4 + 14, 65535);
	if (len)
		memcpy(l4 + 20, data, len);
	n = build_ip4(pkt, c->src, c->dst, 6, l4, 20 + len);
	c->snd_nxt += (uint32_t)len + !!(flags & TH_SYN) + !!(flags & TH_FIN);
	c->send_err = slirpgw_input(gw, pkt, n);
}

static tcpc_t *tcpc_new(const char *dst, uint16_t dport)
{
	static uint16_t next_port = 40000;
	tcpc_t *c = calloc(1, sizeof(*c));

	c->src = ip4(PEER);
	c->dst = ip4(dst);
	c->sport = next_port++;
	c->dport = dport;
	c->snd_nxt = 0x1000 * c->sport;
	assert_true(nclients < sizeof(clients) / sizeof(clients[0]));
	clients[nclients++] = c;
	tcpc_send(c, TH_SYN, NULL, 0);
	return c;
}

/* A packet from the gateway: 1 if it was this connection's. */
static int tcpc_handle(tcpc_t *c, const uint8_t *p, size_t len)
{
	size_t ihl, doff, plen;
	uint32_t seq;
	uint8_t fl;

	if (len < 40 || p[0] >> 4 != 4 || p[9] != 6)
		return 0;
	ihl = (size_t)(p[0] & 15) * 4;
	if (memcmp(p + 12, &c->dst, 4) || memcmp(p + 16, &c->src, 4) ||
	    get16(p + ihl) != c->dport || get16(p + ihl + 2) != c->sport)
		return 0;
	doff = (size_t)(p[ihl + 12] >> 4) * 4;
	plen = get16(p + 2) - ihl - doff;
	seq = get32(p + ihl + 4);
	fl = p[ihl + 13];
	if (fl & TH_RST) {
		c->rst_rcvd = 1;
		return 1;
	}
	if ((fl & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK)) {
		if (!c->established) {
			c->rcv_nxt = seq + 1;
			c->established = 1;
		}
		tcpc_send(c, TH_ACK, NULL, 0);
		return 1;
	}
	if (!plen && !(fl & TH_FIN))
		return 1; /* a pure ACK */
	if (seq == c->rcv_nxt) {
		for (size_t i = 0; i < plen; i++)
			c->bad += p[ihl + doff + i] != pattern(c->total + i);
		c->total += plen;
		if (c->rxlen + plen < sizeof(c->rx)) {
			memcpy(c->rx + c->rxlen, p + ihl + doff, plen);
			c->rxlen += plen;
		}
		c->rcv_nxt += (uint32_t)plen;
		if (fl & TH_FIN) {
			c->rcv_nxt++;
			c->fin_rcvd = 1;
		}
	}
	tcpc_send(c, TH_ACK, NULL, 0);
	return 1;
}

static void pump(void)
{
	for (size_t i = 0; i < noutq; i++)
		for (size_t j = 0; j < nclients && !outq[i].used; j++)
			if (tcpc_handle(clients[j], outq[i].p, outq[i].len))
				outq[i].used = 1;
}

static void turn(void)
{
	uv_run(loop, UV_RUN_NOWAIT);
	pump();
	usleep(300);
}

#define WAIT_FOR(cond, ms)                                                                         \
	do {                                                                                       \
		uint64_t end_ = now_ms() + (ms);                                                   \
		while (!(cond) && now_ms() < end_)                                                 \
			turn();                                                                    \
	} while (0)

static void clients_free(void)
{
	for (size_t i = 0; i < nclients; i++)
		free(clients[i]);
	nclients = 0;
}

/* ---- an HTTP server on 127.0.0.1 ---- */

typedef struct hconn {
	uv_tcp_t h;
	uv_write_t w;
	char buf[4096];
	size_t len;
	int replied, closing;
	struct hconn *next;
} hconn_t;

static uv_tcp_t srv;
static int srv_port, srv_conns, srv_hold, srv_bulk;
static uint8_t *bulk;
static char srv_req[4096];
static hconn_t *hconns;

static void hc_closed(uv_handle_t *h)
{
	hconn_t **pp;

	for (pp = &hconns; *pp; pp = &(*pp)->next)
		if (*pp == h->data) {
			*pp = (*pp)->next;
			break;
		}
	free(h->data);
}

static void hc_close(hconn_t *c)
{
	if (!c->closing) {
		c->closing = 1;
		uv_close((uv_handle_t *)&c->h, hc_closed);
	}
}

static void hc_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	hconn_t *c = h->data;

	b->base = c->buf + c->len;
	b->len = sizeof(c->buf) - 1 - c->len;
}

static void hc_written(uv_write_t *w, int status)
{
	hconn_t *c = w->data;

	if (!srv_hold)
		hc_close(c);
}

static void hc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	hconn_t *c = s->data;
	uv_buf_t r = srv_bulk ? uv_buf_init((char *)bulk, BULK)
	                      : uv_buf_init(RESPONSE, sizeof(RESPONSE) - 1);

	if (n < 0) {
		hc_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = 0;
	if (!c->replied && strstr(c->buf, "\r\n\r\n")) {
		c->replied = 1;
		snprintf(srv_req, sizeof(srv_req), "%s", c->buf);
		c->w.data = c;
		uv_write(&c->w, s, &r, 1, hc_written);
	}
}

static void srv_on_conn(uv_stream_t *s, int status)
{
	hconn_t *c = calloc(1, sizeof(*c));

	uv_tcp_init(loop, &c->h);
	c->h.data = c;
	c->next = hconns;
	hconns = c;
	assert_int_equal(uv_accept(s, (uv_stream_t *)&c->h), 0);
	srv_conns++;
	uv_read_start((uv_stream_t *)&c->h, hc_alloc, hc_read);
}

static void srv_start(void)
{
	struct sockaddr_in sa;
	int len = sizeof(sa);

	srv_conns = 0;
	srv_hold = 0;
	srv_bulk = 0;
	srv_req[0] = 0;
	uv_tcp_init(loop, &srv);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&srv, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&srv, 16, srv_on_conn), 0);
	uv_tcp_getsockname(&srv, (struct sockaddr *)&sa, &len);
	srv_port = ntohs(sa.sin_port);
}

/* Free the gateway, the services and the server; run the loop dry. */
static void finish(slirpgw_service_t **svcs, size_t n)
{
	slirpgw_free(gw);
	gw = NULL;
	for (size_t i = 0; i < n; i++)
		slirpgw_service_free(svcs[i]);
	for (hconn_t *h = hconns; h; h = h->next)
		hc_close(h);
	if (uv_is_active((uv_handle_t *)&srv))
		uv_close((uv_handle_t *)&srv, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	clients_free();
	outq_clear();
	out_hook = NULL;
}

static void gw_start(slirpgw_config_t *c)
{
	assert_int_equal(slirpgw_new(loop, c, gw_out, NULL, &gw), 0);
}

/* One HTTP exchange as the peer; the connection ends cleanly both ways. */
static void http_get(const char *dst, uint16_t port, const char *path)
{
	char req[128];
	tcpc_t *c = tcpc_new(dst, port);

	WAIT_FOR(c->established || c->rst_rcvd, 5000);
	assert_true(c->established);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	tcpc_send(c, TH_ACK | TH_PSH, req, strlen(req));
	WAIT_FOR(c->fin_rcvd || c->rst_rcvd, 5000);
	assert_true(c->fin_rcvd);
	assert_false(c->rst_rcvd);
	c->rx[c->rxlen] = 0;
	assert_string_equal(c->rx, RESPONSE);
	tcpc_send(c, TH_ACK | TH_FIN, NULL, 0);
	assert_non_null(strstr(srv_req, path));
}

/* The socket libslirp connected to 127.0.0.1:port for the peer. */
static int host_fd(int port)
{
	for (int fd = 3; fd < 4096; fd++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int type = 0;
		socklen_t tl = sizeof(type);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM ||
		    getpeername(fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sin_family != AF_INET)
			continue;
		if (ntohs(sa.sin_port) == port)
			return fd;
	}
	return -1;
}

static int corked(int fd)
{
	int on = -1;
	socklen_t l = sizeof(on);

	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, &l), 0);
	return on;
}

/* The peer's segments of one loop turn leave the host socket together: it
 * is corked while they go into libslirp and uncorked before the loop polls
 * again, so nothing waits past the turn (the kernel would hold a corked
 * partial segment for 200 ms); the bytes arrive in order, whole. */
static void test_cork(void **state)
{
	slirpgw_config_t c;
	slirpgw_stats_t st;
	uint8_t seg[1000];
	tcpc_t *t;
	int fd;

	slirpgw_config_default(&c);
	srv_start();
	srv_hold = 1;
	gw_start(&c);
	t = tcpc_new("10.0.2.2", (uint16_t)srv_port);
	WAIT_FOR(t->established || t->rst_rcvd, 5000);
	assert_true(t->established);
	WAIT_FOR(hconns, 5000);
	assert_non_null(hconns);
	fd = host_fd(srv_port);
	assert_true(fd >= 0);
	assert_int_equal(corked(fd), 0);
	for (size_t k = 0; k < 3; k++) {
		for (size_t i = 0; i < sizeof(seg); i++)
			seg[i] = pattern(k * sizeof(seg) + i);
		tcpc_send(t, TH_ACK | TH_PSH, seg, sizeof(seg));
		assert_int_equal(t->send_err, 0);
		assert_int_equal(corked(fd), 1);
	}
	uv_run(loop, UV_RUN_NOWAIT);
	assert_int_equal(corked(fd), 0);
	WAIT_FOR(hconns->len >= 3 * sizeof(seg), 5000);
	assert_int_equal(hconns->len, 3 * sizeof(seg));
	for (size_t i = 0; i < hconns->len; i++)
		assert_int_equal((uint8_t)hconns->buf[i], pattern(i));
	slirpgw_get_stats(gw, &st);
	assert_int_equal(st.corks, 1); /* one turn, one socket */
	/* a pure ACK corks nothing */
	tcpc_send(t, TH_ACK, NULL, 0);
	assert_int_equal(corked(fd), 0);
	tcpc_send(t, TH_ACK | TH_FIN, NULL, 0);
	finish(NULL, 0);
}

/* ---- full mode ---- */

static void test_full_http(void **state)
{
	slirpgw_config_t c;
	slirpgw_stats_t st;

	slirpgw_config_default(&c);
	srv_start();
	gw_start(&c);
	http_get("10.0.2.2", (uint16_t)srv_port, "/full");
	assert_int_equal(srv_conns, 1);
	slirpgw_get_stats(gw, &st);
	assert_true(st.arp_replies >= 1); /* libslirp asked who 10.0.2.15 is */
	assert_true(st.pkts_in >= 4 && st.pkts_out >= 3);
	finish(NULL, 0);
}

/* The peer answers from inside the output callback: re-entrant input. */
static tcpc_t *hooked;
static void reenter(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < noutq; i++)
		if (!outq[i].used && outq[i].len == len && !memcmp(outq[i].p, p, len) &&
		    tcpc_handle(hooked, p, len))
			outq[i].used = 1;
}

static void test_full_http_reentrant(void **state)
{
	slirpgw_config_t c;
	const char *req = "GET /re HTTP/1.0\r\n\r\n";

	slirpgw_config_default(&c);
	srv_start();
	gw_start(&c);
	hooked = tcpc_new("10.0.2.2", (uint16_t)srv_port);
	out_hook = reenter;
	WAIT_FOR(hooked->established, 5000);
	assert_true(hooked->established);
	tcpc_send(hooked, TH_ACK | TH_PSH, req, strlen(req));
	WAIT_FOR(hooked->fin_rcvd, 5000);
	hooked->rx[hooked->rxlen] = 0;
	assert_string_equal(hooked->rx, RESPONSE);
	tcpc_send(hooked, TH_ACK | TH_FIN, NULL, 0);
	finish(NULL, 0);
}

static size_t dns_query(uint8_t *pkt, uint16_t id, const char *name, uint32_t dst)
{
	uint8_t l4[300], *q = l4 + 8 + 12;
	const char *s = name;
	size_t n;

	memset(l4, 0, sizeof(l4));
	put16(l4, 5353);
	put16(l4 + 2, 53);
	put16(l4 + 8, id);
	put16(l4 + 10, 0x0100); /* RD */
	put16(l4 + 12, 1);
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		*q++ = (uint8_t)l;
		memcpy(q, s, l);
		q += l;
		s += l + (dot ? 1 : 0);
	}
	*q++ = 0;
	put16(q, 1);
	put16(q + 2, 1);
	q += 4;
	n = (size_t)(q - l4);
	put16(l4 + 4, (uint16_t)n);
	return build_ip4(pkt, ip4(PEER), dst, 17, l4, n);
}

static const uint8_t *find_udp(uint16_t sport, uint16_t id)
{
	for (size_t i = 0; i < noutq; i++) {
		const uint8_t *p = outq[i].p;

		if (outq[i].len >= 40 && p[0] == 0x45 && p[9] == 17 && get16(p + 20) == sport &&
		    get16(p + 28) == id)
			return p;
	}
	return NULL;
}

/* Does the host's own resolver answer at all (the sandbox may have none)? */
static int host_resolver_answers(void)
{
	FILE *f = fopen("/etc/resolv.conf", "r");
	char line[256], ns[64] = "";
	uint8_t pkt[512], buf[512];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
	struct timeval tv = {2, 0};
	size_t n;
	int fd, ok;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "nameserver %63s", ns) == 1 &&
		    inet_pton(AF_INET, ns, &sa.sin_addr) == 1)
			break;
	fclose(f);
	if (!sa.sin_addr.s_addr)
		return 0;
	n = dns_query(pkt, 7, "localhost", 0) - 28;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ok = sendto(fd, pkt + 28, n, 0, (struct sockaddr *)&sa, sizeof(sa)) > 0 &&
	     recv(fd, buf, sizeof(buf), 0) > 0;
	close(fd);
	return ok;
}

static void test_full_dns(void **state)
{
	slirpgw_config_t c;
	uint8_t pkt[512];
	const uint8_t *r;

	slirpgw_config_default(&c);
	gw_start(&c);
	assert_int_equal(
	    slirpgw_input(gw, pkt, dns_query(pkt, 0x4242, "localhost", ip4("10.0.2.3"))), 0);
	WAIT_FOR(find_udp(53, 0x4242), 5000);
	r = find_udp(53, 0x4242);
	if (!r) {
		int host_ok = host_resolver_answers();

		finish(NULL, 0);
		if (host_ok)
			fail_msg("the host resolver answers, the DNS alias does not");
		skip();
	}
	assert_true(r[28 + 2] & 0x80); /* QR: an answer */
	assert_memory_equal(r + 12, "\x0a\x00\x02\x03", 4);
	finish(NULL, 0);
}

static void test_ping_and_pcap(void **state)
{
	char path[] = "/tmp/sluice-test-XXXXXX";
	slirpgw_config_t c;
	uint8_t l4[16] = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'}, pkt[64];
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcapw_t *pw;
	pcapw_stats_t ps;
	pcap_t *rd;
	int fd, n = 0, dir_in = 0, dir_out = 0;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pcapw_open(loop, path, 0, 0, &pw), 0);
	slirpgw_config_default(&c);
	c.pcap = pw;
	c.id = 0x0102030405060708ull;
	gw_start(&c);
	assert_int_equal(
	    slirpgw_input(gw, pkt, build_ip4(pkt, ip4(PEER), ip4("10.0.2.2"), 1, l4, 12)), 0);
	WAIT_FOR(noutq > 0, 3000);
	assert_int_equal(noutq, 1);
	assert_int_equal(outq[0].p[20], 0); /* echo reply */
	assert_memory_equal(outq[0].p + 28, "ping", 4);
	pcapw_get_stats(pw, &ps);
	assert_int_equal(ps.packets, 2);
	finish(NULL, 0);
	pcapw_close(pw);
	uv_run(loop, UV_RUN_DEFAULT);

	rd = pcap_open_offline(path, errbuf);
	assert_non_null(rd);
	assert_int_equal(pcap_datalink(rd), DLT_LINUX_SLL);
	while (pcap_next_ex(rd, &h, &d) == 1) {
		assert_true(h->caplen >= 16 + 20);
		assert_int_equal(get16(d + 2), 0xfffe);
		assert_int_equal(get16(d + 4), 8);
		assert_memory_equal(d + 6, ((uint8_t[]){1, 2, 3, 4, 5, 6, 7, 8}), 8);
		assert_int_equal(get16(d + 14), 0x0800);
		assert_int_equal(d[16], 0x45);
		if (get16(d) == 0)
			dir_in++;
		if (get16(d) == 4)
			dir_out++;
		n++;
	}
	pcap_close(rd);
	unlink(path);
	assert_int_equal(n, 2);
	assert_int_equal(dir_in, 1);
	assert_int_equal(dir_out, 1);
}

/* Free the gateway from inside its own output callback. */
static void free_in_hook(const uint8_t *p, size_t len)
{
	slirpgw_free(gw);
}

static void test_free_from_output(void **state)
{
	slirpgw_config_t c;
	uint8_t l4[12] = {8, 0, 0, 0, 0, 1, 0, 1}, pkt[64];

	slirpgw_config_default(&c);
	gw_start(&c);
	out_hook = free_in_hook;
	slirpgw_input(gw, pkt, build_ip4(pkt, ip4(PEER), ip4("10.0.2.2"), 1, l4, 12));
	WAIT_FOR(noutq > 0, 3000);
	assert_int_equal(noutq, 1);
	assert_int_equal(
	    slirpgw_input(gw, pkt, build_ip4(pkt, ip4(PEER), ip4("10.0.2.2"), 1, l4, 12)), -EPIPE);
	gw = NULL; /* freed in the hook */
	finish(NULL, 0);
}

static void test_ipv6_ping(void **state)
{
	slirpgw_config_t c;
	uint8_t l4[16] = {128, 0, 0, 0, 0x12, 0x34, 0, 1, 'v', '6'}, pkt[128];
	slirpgw_stats_t st;
	const uint8_t *r = NULL;

	slirpgw_config_default(&c);
	c.ipv6 = 1;
	gw_start(&c);
	assert_int_equal(slirpgw_input(gw, pkt, build_ip6(pkt, "fd00::15", "fd00::2", 58, l4, 10)),
	                 0);
	for (uint64_t end = now_ms() + 3000; !r && now_ms() < end; turn())
		for (size_t i = 0; i < noutq; i++)
			if (outq[i].len >= 48 && outq[i].p[0] >> 4 == 6 && outq[i].p[40] == 129)
				r = outq[i].p;
	assert_non_null(r);
	assert_memory_equal(r + 48, "v6", 2);
	slirpgw_get_stats(gw, &st);
	assert_true(st.ndp_replies >= 1); /* libslirp solicited fd00::15 */
	finish(NULL, 0);
}

/* 2 MiB from the host to the peer, checked byte by byte. */
static void bulk_get(const char *dst, uint16_t port)
{
	tcpc_t *c = tcpc_new(dst, port);
	uint64_t t0 = now_ms();

	WAIT_FOR(c->established, 5000);
	assert_true(c->established);
	tcpc_send(c, TH_ACK | TH_PSH, "GET /bulk HTTP/1.0\r\n\r\n", 22);
	WAIT_FOR(c->fin_rcvd || c->rst_rcvd, 30000);
	assert_true(c->fin_rcvd);
	assert_int_equal(c->total, BULK);
	assert_int_equal(c->bad, 0);
	print_message("%s:%u: 2 MiB in %llu ms\n", dst, port, (unsigned long long)(now_ms() - t0));
	tcpc_send(c, TH_ACK | TH_FIN, NULL, 0);
}

static slirpgw_service_t *svc_new(const char *fmt, ...);

static void test_bulk(void **state)
{
	slirpgw_service_t *svc;
	slirpgw_config_t c;

	bulk = malloc(BULK);
	for (uint64_t i = 0; i < BULK; i++)
		bulk[i] = pattern(i);
	srv_start();
	srv_bulk = 1;
	svc = svc_new("10.0.2.100:80->127.0.0.1:%d", srv_port);
	slirpgw_config_default(&c);
	c.services = &svc; /* services work in full mode too */
	c.nservices = 1;
	gw_start(&c);
	bulk_get("10.0.2.2", (uint16_t)srv_port);
	bulk_get("10.0.2.100", 80);
	WAIT_FOR(0, 100);
	finish(&svc, 1);
	free(bulk);
}

/* With a connection open and nothing happening, the loop sleeps: libslirp's
 * slow timer (500 ms) and our 1 s ceiling are all that wake it. */
static void test_idle_sleeps(void **state)
{
	slirpgw_config_t c;
	tcpc_t *t;
	uint64_t end;
	int turns = 0;

	slirpgw_config_default(&c);
	srv_start();
	srv_hold = 1;
	gw_start(&c);
	t = tcpc_new("10.0.2.2", (uint16_t)srv_port);
	WAIT_FOR(t->established, 5000);
	tcpc_send(t, TH_ACK | TH_PSH, "GET / HTTP/1.0\r\n\r\n", 18);
	WAIT_FOR(t->rxlen == sizeof(RESPONSE) - 1, 5000);
	assert_int_equal(t->rxlen, sizeof(RESPONSE) - 1);
	WAIT_FOR(0, 300); /* let delayed ACKs go */
	for (end = now_ms() + 2000; now_ms() < end; turns++) {
		uv_run(loop, UV_RUN_ONCE);
		pump();
	}
	print_message("idle: %d loop turns in 2 s\n", turns);
	assert_true(turns <= 20);
	finish(NULL, 0);
}

/* ---- policy ---- */

static void test_policy(void **state)
{
	slirpgw_config_t c;
	acl_t acl = {0};
	uint8_t pkt[128], junk[40] = {0x45};
	tcpc_t *t;
	char bad[64];

	slirpgw_config_default(&c);
	c.host_loopback = 0;
	assert_int_equal(cidr_list_add(&acl.deny, "192.0.2.0/24", bad, sizeof(bad)), 0);
	c.targets = &acl;
	srv_start();
	gw_start(&c);
	/* malformed, and a spoofed source */
	assert_int_equal(slirpgw_input(gw, junk, sizeof(junk)), -EINVAL);
	assert_int_equal(
	    slirpgw_input(gw, pkt,
	                  build_ip4(pkt, ip4("10.0.2.16"), ip4("10.0.2.2"), 1, (uint8_t[8]){8}, 8)),
	    -EACCES);
	/* host alias switched off, loopback itself, the virtual network, the ACL */
	t = tcpc_new("10.0.2.2", (uint16_t)srv_port);
	assert_int_equal(t->send_err, -EACCES);
	t = tcpc_new("127.0.0.1", (uint16_t)srv_port);
	assert_int_equal(t->send_err, -EACCES);
	t = tcpc_new("10.0.2.77", 80);
	assert_int_equal(t->send_err, -EACCES);
	t = tcpc_new("192.0.2.1", 80);
	assert_int_equal(t->send_err, -EACCES);
	pump();
	for (size_t i = 0; i < nclients; i++)
		assert_true(clients[i]->rst_rcvd);
	turn();
	assert_int_equal(srv_conns, 0);
	finish(NULL, 0);
	acl_free(&acl);
}

/* ---- restricted mode ---- */

static slirpgw_service_t *svc_new(const char *fmt, ...)
{
	char spec[256], err[URL_ERRLEN];
	slirpgw_service_t *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	if (slirpgw_service_new(loop, spec, &s, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return s;
}

static void test_restricted(void **state)
{
	slirpgw_service_t *svcs[2];
	slirpgw_config_t c;
	slirpgw_stats_t st;
	uint8_t pkt[512];
	tcpc_t *t;
	mbuf_t m = {0};

	srv_start();
	svcs[0] = svc_new("10.0.2.100:80->127.0.0.1:%d", srv_port);
	svcs[1] = svc_new("10.0.2.101:81->127.0.0.1:1"); /* nothing listens there */
	slirpgw_config_default(&c);
	c.restricted = 1;
	c.services = svcs;
	c.nservices = 2;
	gw_start(&c);
	http_get("10.0.2.100", 80, "/listed");
	http_get("10.0.2.100", 80, "/again");
	assert_int_equal(srv_conns, 2);

	/* unlisted: the host alias, another port, another address: reset */
	t = tcpc_new("10.0.2.2", (uint16_t)srv_port);
	assert_int_equal(t->send_err, -EACCES);
	t = tcpc_new("10.0.2.100", 81);
	assert_int_equal(t->send_err, -EACCES);
	t = tcpc_new("93.184.216.34", 80);
	assert_int_equal(t->send_err, -EACCES);
	pump();
	assert_true(t->rst_rcvd && clients[nclients - 2]->rst_rcvd &&
	            clients[nclients - 3]->rst_rcvd);
	/* no DNS in restricted mode */
	assert_int_equal(slirpgw_input(gw, pkt, dns_query(pkt, 1, "localhost", ip4("10.0.2.3"))),
	                 -EACCES);
	/* a listed service whose target refuses: the SYN is answered with a reset */
	t = tcpc_new("10.0.2.101", 81);
	assert_int_equal(t->send_err, 0);
	WAIT_FOR(t->rst_rcvd || t->established, 5000);
	assert_true(t->rst_rcvd);
	assert_false(t->established);
	WAIT_FOR(0, 50);
	assert_int_equal(srv_conns, 2);
	slirpgw_get_stats(gw, &st);
	assert_int_equal(st.flows, 0);
	assert_int_equal(st.flows_total, 3);

	metrics_render(&m);
	assert_non_null(strstr(m.p, "sluice_slirpgw_service_connections_total{gw=\"slirpgw#0\","
	                            "service=\"10.0.2.100:80\"} 2"));
	assert_non_null(
	    strstr(m.p, "sluice_slirpgw_service_failed_total{service=\"10.0.2.101:81\"} 1"));
	assert_non_null(
	    strstr(m.p, "sluice_slirpgw_dropped_total{gw=\"slirpgw#0\",reason=\"policy\"} 4"));
	free(m.p);
	finish(svcs, 2);
}

static void test_restricted_cap(void **state)
{
	slirpgw_service_t *svc;
	slirpgw_config_t c;
	tcpc_t *a, *b;

	srv_start();
	srv_hold = 1; /* keep connections open */
	svc = svc_new("10.0.2.100:80->127.0.0.1:%d max-conns=1 allow=10.0.2.0/24", srv_port);
	slirpgw_config_default(&c);
	c.restricted = 1;
	c.services = &svc;
	c.nservices = 1;
	gw_start(&c);
	a = tcpc_new("10.0.2.100", 80);
	WAIT_FOR(a->established, 5000);
	assert_true(a->established);
	b = tcpc_new("10.0.2.100", 80);
	assert_int_equal(b->send_err, -ENOBUFS);
	pump();
	assert_true(b->rst_rcvd);
	finish(&svc, 1);

	/* a rate limit: one connection, then a reset */
	srv_start();
	srv_hold = 1;
	svc = svc_new("10.0.2.100:80->127.0.0.1:%d rate=0.01 burst=1", srv_port);
	c.services = &svc;
	gw_start(&c);
	a = tcpc_new("10.0.2.100", 80);
	WAIT_FOR(a->established, 5000);
	assert_true(a->established);
	b = tcpc_new("10.0.2.100", 80);
	assert_int_equal(b->send_err, -ENOBUFS);
	finish(&svc, 1);

	/* a client ACL that leaves the peer out */
	svc = svc_new("10.0.2.100:80->127.0.0.1:1 deny=10.0.2.15");
	c.services = &svc;
	gw_start(&c);
	a = tcpc_new("10.0.2.100", 80);
	assert_int_equal(a->send_err, -EACCES);
	pump();
	assert_true(a->rst_rcvd);
	finish(&svc, 1);
}

/* 24 connections (the listen backlog is 8) whose handshakes all complete
 * in one burst: each is accepted right after its own ACK and relayed to its
 * own upstream connection. */
static void test_restricted_many(void **state)
{
	enum { N = 24 };
	slirpgw_service_t *svc;
	slirpgw_config_t c;
	slirpgw_stats_t st;
	tcpc_t *t[N];
	size_t synacks = 0;
	int done = 0;

	srv_start();
	srv_hold = 1;
	svc = svc_new("10.0.2.100:80->127.0.0.1:%d", srv_port);
	slirpgw_config_default(&c);
	c.restricted = 1;
	c.services = &svc;
	c.nservices = 1;
	gw_start(&c);
	for (int i = 0; i < N; i++)
		t[i] = tcpc_new("10.0.2.100", 80);
	/* let every SYN-ACK arrive before anyone answers */
	for (uint64_t end = now_ms() + 5000; synacks < N && now_ms() < end; usleep(300)) {
		uv_run(loop, UV_RUN_NOWAIT);
		synacks = 0;
		for (size_t i = 0; i < noutq; i++)
			synacks += outq[i].len >= 40 && outq[i].p[33] == (TH_SYN | TH_ACK);
	}
	assert_int_equal(synacks, N);
	pump(); /* N handshake ACKs in a row */
	for (int i = 0; i < N; i++) {
		char req[64];

		assert_true(t[i]->established);
		snprintf(req, sizeof(req), "GET /%d HTTP/1.0\r\n\r\n", i);
		tcpc_send(t[i], TH_ACK | TH_PSH, req, strlen(req));
	}
	for (uint64_t end = now_ms() + 5000; done < N && now_ms() < end; turn()) {
		done = 0;
		for (int i = 0; i < N; i++)
			done += t[i]->rxlen == sizeof(RESPONSE) - 1;
	}
	assert_int_equal(done, N);
	assert_int_equal(srv_conns, N);
	slirpgw_get_stats(gw, &st);
	assert_int_equal(st.flows, N);
	finish(&svc, 1);
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int port_open(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void test_restricted_via_socks5(void **state)
{
	slirpgw_service_t *svc;
	slirpgw_config_t c;
	char port[16];
	int ms = free_port();
	pid_t pid;

	if (access("/usr/bin/microsocks", X_OK) != 0) {
		print_message("microsocks is not installed: skipping the SOCKS5 service test\n");
		skip();
	}
	snprintf(port, sizeof(port), "%d", ms);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", 1);

		dup2(null, 1);
		dup2(null, 2);
		execl("/usr/bin/microsocks", "microsocks", "-i", "127.0.0.1", "-p", port,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && !port_open(ms); i++)
		usleep(10000);
	srv_start();
	/* the target is a name: the SOCKS server resolves it (socks5h) */
	svc = svc_new("10.0.2.100:8080->localhost:%d via=socks5://127.0.0.1:%d", srv_port, ms);
	slirpgw_config_default(&c);
	c.restricted = 1;
	c.services = &svc;
	c.nservices = 1;
	gw_start(&c);
	http_get("10.0.2.100", 8080, "/via-socks");
	assert_int_equal(srv_conns, 1);
	finish(&svc, 1);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void test_service_spec(void **state)
{
	static const struct {
		const char *spec, *err;
	} bad[] = {
	    {"10.0.2.100:80", "expected ADDR:PORT->HOST:PORT"},
	    {"nothost:80->127.0.0.1:80", "the peer side"},
	    {"10.0.2.100:80->127.0.0.1", "the target"},
	    {"10.0.2.100:80->h:1 max-conns=0", "max-conns"},
	    {"10.0.2.100:80->h:1 rate=-1", "rate"},
	    {"10.0.2.100:80->h:1 allow=10.0.0.0/99", "allow"},
	    {"10.0.2.100:80->h:1 idle-timeout=soon", "idle-timeout"},
	    {"10.0.2.100:80->h:1 colour=blue", "unknown option colour"},
	    {"10.0.2.100:80->h:1 junk", "junk: expected key=value"},
	    {"10.0.2.100:80->h:1 via=nope://x:1", "unknown hop"},
	};
	slirpgw_service_t *s;
	slirpgw_config_t c;
	char err[URL_ERRLEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(slirpgw_service_new(loop, bad[i].spec, &s, err, sizeof(err)),
		                 -EINVAL);
		if (!strstr(err, bad[i].err))
			fail_msg("%s: %s", bad[i].spec, err);
	}
	assert_int_equal(slirpgw_service_new(loop,
	                                     "10.0.2.9:22->example.org:22 via=socks5://127.0.0.1:1 "
	                                     "max-conns=4 rate=2 burst=3 allow-target=0.0.0.0/0 "
	                                     "connect-timeout=2s idle-timeout=1m",
	                                     &s, err, sizeof(err)),
	                 0);
	/* not a forwardable address: the host alias */
	slirpgw_service_free(s);
	s = svc_new("10.0.2.2:80->127.0.0.1:80");
	slirpgw_config_default(&c);
	c.restricted = 1;
	c.services = &s;
	c.nservices = 1;
	assert_int_equal(slirpgw_new(loop, &c, gw_out, NULL, &gw), -EINVAL);
	gw = NULL;
	/* a bad configuration */
	slirpgw_config_default(&c);
	c.peer = c.host;
	assert_int_equal(slirpgw_new(loop, &c, gw_out, NULL, &gw), -EINVAL);
	finish(&s, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_http),
	    cmocka_unit_test(test_full_http_reentrant),
	    cmocka_unit_test(test_cork),
	    cmocka_unit_test(test_full_dns),
	    cmocka_unit_test(test_ping_and_pcap),
	    cmocka_unit_test(test_free_from_output),
	    cmocka_unit_test(test_ipv6_ping),
	    cmocka_unit_test(test_bulk),
	    cmocka_unit_test(test_idle_sleeps),
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_restricted),
	    cmocka_unit_test(test_restricted_cap),
	    cmocka_unit_test(test_restricted_many),
	    cmocka_unit_test(test_restricted_via_socks5),
	    cmocka_unit_test(test_service_spec),
	};

	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	app_transports_register(); /* listeners and chains find their transports */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
