/* socks_udp: see socks_udp.h.
 *
 * Datagrams are read into one static buffer (we run on one thread and
 * finish each datagram inside the receive callback) that keeps headroom in
 * front of the payload, so a reply gets its SOCKS header prepended without
 * a copy.  Sends use uv_udp_try_send: a datagram the kernel will not take at
 * once is dropped, as a router would, so nothing queues.  Only a datagram
 * waiting for its name to resolve is copied; at most UDP_MAX_PENDING wait.
 * The last name resolved is remembered for UDP_CACHE_MS, so a stream of
 * datagrams to one name (DNS, QUIC) does not resolve each time.
 *
 * The association is freed when its socket is closed and no resolution is
 * in flight (a getaddrinfo request cannot be taken back from the thread
 * pool; a late one sees `closing` and only frees itself).
 */
#include "front/socks_udp.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "front/socks_proto.h"

#define UDP_MAX_PENDING 16
#define UDP_CACHE_MS 30000
#define UDP_HEADROOM SOCKS5_UDP_HDR_MAX
#define UDP_MAX 65536
#define UDP_PEERS 32

static uint8_t rbuf[UDP_HEADROOM + UDP_MAX];

struct socks_udp {
	uv_udp_t h;
	uint64_t id;
	const acl_t *acl;
	struct sockaddr_storage local, client;
	unsigned pending;
	unsigned client_known : 1, closing : 1, closed : 1;
	struct sockaddr_storage peers[UDP_PEERS]; /* sent to: replies accepted */
	unsigned npeers, next_peer;
	char cache_name[256];
	struct sockaddr_storage cache_sa;
	uint64_t cache_until;
	uint64_t out, in, drops;
};

typedef struct udp_res {
	uv_getaddrinfo_t req;
	socks_udp_t *u;
	uint16_t port;
	char name[256];
	size_t len;
	uint8_t data[];
} udp_res_t;

static socklen_t sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		               &((const struct sockaddr_in *)b)->sin_addr, 4);
	if (a->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		               &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
	return 0;
}

static uint16_t sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ((const struct sockaddr_in6 *)sa)->sin6_port;
	return ((const struct sockaddr_in *)sa)->sin_port;
}

static void sa_set_port(struct sockaddr *sa, uint16_t net_port)
{
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = net_port;
	else
		((struct sockaddr_in *)sa)->sin_port = net_port;
}

static int same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	return same_ip(a, b) && sa_port(a) == sa_port(b);
}

static int is_peer(const socks_udp_t *u, const struct sockaddr *sa)
{
	for (unsigned i = 0; i < u->npeers; i++)
		if (same_addr((const struct sockaddr *)&u->peers[i], sa))
			return 1;
	return 0;
}

/* Remember a destination; the oldest goes when the table is full. */
static void add_peer(socks_udp_t *u, const struct sockaddr *sa)
{
	if (is_peer(u, sa))
		return;
	memcpy(&u->peers[u->next_peer], sa, sa_len(sa));
	u->next_peer = (u->next_peer + 1) % UDP_PEERS;
	if (u->npeers < UDP_PEERS)
		u->npeers++;
}

static void drop(socks_udp_t *u, const char *why)
{
	u->drops++;
	log_trace(u->id, "udp: dropped a datagram: %s", why);
}

static void maybe_free(socks_udp_t *u)
{
	if (u->closed && !u->pending)
		free(u);
}

static void send_to(socks_udp_t *u, const struct sockaddr *sa, const uint8_t *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int r = uv_udp_try_send(&u->h, &b, 1, sa);

	if (r < 0)
		drop(u, uv_strerror(r));
}

/* Client -> target, once the destination is an address. */
static void send_target(socks_udp_t *u, const struct sockaddr *sa, const uint8_t *p, size_t n)
{
	char s[64];

	if (sa->sa_family != u->local.ss_family) {
		drop(u, "address family differs from the relay socket's");
		return;
	}
	if (!acl_permits(u->acl, sa)) {
		sockaddr_ip(sa, s, sizeof(s));
		log_debug(u->id, "udp: target %s refused by ACL", s);
		drop(u, "target refused");
		return;
	}
	u->out++;
	add_peer(u, sa);
	send_to(u, sa, p, n);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	udp_res_t *q = req->data;
	socks_udp_t *u = q->u;
	struct addrinfo *ai;

	u->pending--;
	if (u->closing)
		goto out;
	if (status < 0) {
		log_debug(u->id, "udp: resolve %s: %s", q->name, uv_strerror(status));
		drop(u, "name not resolved");
		goto out;
	}
	for (ai = res; ai; ai = ai->ai_next)
		if (ai->ai_family == u->local.ss_family && acl_permits(u->acl, ai->ai_addr))
			break;
	if (!ai) {
		log_debug(u->id, "udp: no permitted address for %s", q->name);
		drop(u, "no permitted address");
		goto out;
	}
	memcpy(u->cache_name, q->name, sizeof(u->cache_name));
	memcpy(&u->cache_sa, ai->ai_addr, ai->ai_addrlen);
	u->cache_until = uv_now(u->h.loop) + UDP_CACHE_MS;
	sa_set_port((struct sockaddr *)&u->cache_sa, htons(q->port));
	send_target(u, (struct sockaddr *)&u->cache_sa, q->data, q->len);
out:
	if (res)
		uv_freeaddrinfo(res);
	free(q);
	maybe_free(u);
}

static void from_client(socks_udp_t *u, const uint8_t *p, size_t n)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
	struct sockaddr_storage ss;
	socks5_udp_hdr_t h;
	udp_res_t *q;
	size_t used;
	int r;

	if (socks5_udp_parse(p, n, &h, &used) != SOCKS_OK) {
		drop(u, "bad SOCKS UDP header");
		return;
	}
	if (h.frag) {
		drop(u, "fragment");
		return;
	}
	p += used;
	n -= used;
	if (h.dst.atyp != SOCKS5_ATYP_DOMAIN) {
		socks_addr_to_sa(&h.dst, &ss);
		send_target(u, (struct sockaddr *)&ss, p, n);
		return;
	}
	if (!strcmp(h.dst.host, u->cache_name) && uv_now(u->h.loop) < u->cache_until) {
		sa_set_port((struct sockaddr *)&u->cache_sa, htons(h.dst.port));
		send_target(u, (struct sockaddr *)&u->cache_sa, p, n);
		return;
	}
	if (u->pending >= UDP_MAX_PENDING) {
		drop(u, "too many names being resolved");
		return;
	}
	q = malloc(sizeof(*q) + n);
	if (!q)
		abort();
	q->u = u;
	q->port = h.dst.port;
	q->len = n;
	memcpy(q->name, h.dst.host, sizeof(q->name));
	memcpy(q->data, p, n);
	q->req.data = q;
	hints.ai_family = u->local.ss_family;
	r = uv_getaddrinfo(u->h.loop, &q->req, on_resolved, h.dst.host, NULL, &hints);
	if (r < 0) {
		free(q);
		drop(u, uv_strerror(r));
		return;
	}
	u->pending++;
}

/* Target -> client: prepend the header in the headroom before p. */
static void from_target(socks_udp_t *u, const struct sockaddr *src, uint8_t *p, size_t n)
{
	uint8_t hdr[SOCKS5_UDP_HDR_MAX];
	socks_addr_t a;
	size_t hl;

	if (!u->client_known || !is_peer(u, src)) {
		drop(u, "not from an address the client sent to");
		return;
	}
	if (!acl_permits(u->acl, src)) {
		drop(u, "source refused by ACL");
		return;
	}
	if (socks_addr_from_sa(&a, src) < 0 || !(hl = socks5_udp_encode(hdr, sizeof(hdr), &a))) {
		drop(u, "source address");
		return;
	}
	memcpy(p - hl, hdr, hl);
	u->in++;
	send_to(u, (struct sockaddr *)&u->client, p - hl, n + hl);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	buf->base = (char *)rbuf + UDP_HEADROOM;
	buf->len = UDP_MAX;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
	socks_udp_t *u = h->data;
	char s[64];

	if (nread < 0) {
		log_debug(u->id, "udp: receive: %s", uv_strerror((int)nread));
		return;
	}
	if (!addr || u->closing)
		return;
	if (flags & UV_UDP_PARTIAL) {
		drop(u, "truncated");
		return;
	}
	/* The client is the first sender from its IP; after that, only its
	 * exact address.  Others, even on its IP, may only be targets it sent
	 * to, replying. */
	if (!u->client_known && same_ip(addr, (struct sockaddr *)&u->client)) {
		memcpy(&u->client, addr, sa_len(addr));
		u->client_known = 1;
		sockaddr_str(addr, s, sizeof(s));
		log_debug(u->id, "udp: client is %s", s);
	}
	if (u->client_known && same_addr(addr, (struct sockaddr *)&u->client))
		from_client(u, (const uint8_t *)buf->base, (size_t)nread);
	else
		from_target(u, addr, (uint8_t *)buf->base, (size_t)nread);
}

static void on_close(uv_handle_t *h)
{
	socks_udp_t *u = h->data;

	u->closed = 1;
	maybe_free(u);
}

/* ::ffff:a.b.c.d -> a.b.c.d, so that a dual-stack listener's IPv4 clients
 * get an IPv4 relay and an IPv4 address in the reply. */
static void unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = {.sin_family = AF_INET};

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

int socks_udp_new(uv_loop_t *loop, uint64_t id, const struct sockaddr *local,
                  const struct sockaddr *client, const acl_t *targets, socks_udp_t **out)
{
	socks_udp_t *u = calloc(1, sizeof(*u));
	int len = sizeof(u->local), r;

	if (!u)
		abort();
	*out = NULL;
	u->id = id;
	u->acl = targets;
	memcpy(&u->local, local, sa_len(local));
	sa_set_port((struct sockaddr *)&u->local, 0);
	memcpy(&u->client, client, sa_len(client));
	unmap(&u->local);
	unmap(&u->client);
	uv_udp_init(loop, &u->h);
	u->h.data = u;
	if ((r = uv_udp_bind(&u->h, (struct sockaddr *)&u->local, 0)) < 0 ||
	    (r = uv_udp_getsockname(&u->h, (struct sockaddr *)&u->local, &len)) < 0 ||
	    (r = uv_udp_recv_start(&u->h, on_alloc, on_recv)) < 0) {
		socks_udp_free(u);
		return r;
	}
	*out = u;
	return 0;
}

void socks_udp_addr(const socks_udp_t *u, struct sockaddr_storage *ss)
{
	memcpy(ss, &u->local, sizeof(*ss));
}

void socks_udp_free(socks_udp_t *u)
{
	if (!u || u->closing)
		return;
	u->closing = 1;
	log_debug(u->id, "udp: association closed: %llu datagrams out, %llu in, %llu dropped",
	          (unsigned long long)u->out, (unsigned long long)u->in,
	          (unsigned long long)u->drops);
	uv_close((uv_handle_t *)&u->h, on_close);
}
