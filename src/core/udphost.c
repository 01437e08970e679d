/* udphost: see udphost.h.
 *
 * Datagrams are read into one static buffer (one thread; each datagram is
 * copied into its own chunk, with headroom for the owner's headers, inside
 * the receive callback).  A datagram waiting for its name is copied into
 * the resolution request; at most UDPHOST_RESOLVING wait, more are
 * dropped.  The flow is freed once its sockets are closed and no
 * resolution is in flight (a getaddrinfo request cannot be taken back from
 * the thread pool; a late one sees `closing` and only frees itself).
 */
#include "core/udphost.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define CACHE_MS 30000
#define RBUF_MAX 65536

static uint8_t rbuf[RBUF_MAX];

typedef struct uhflow {
	dgram_t f;
	uv_loop_t *loop;
	const acl_t *acl;
	uv_udp_t *h[2]; /* IPv4, IPv6 */
	unsigned nhandles, pending;
	dgram_peers_t peers; /* sent to: replies accepted */
	char cache_name[256];
	struct sockaddr_storage cache_sa;
	uint64_t cache_until;
	unsigned closing : 1;
} uhflow_t;

typedef struct uhres {
	uv_getaddrinfo_t req;
	uhflow_t *u;
	uint16_t port;
	char name[256];
	sbuf_t *b;
} uhres_t;

static void maybe_free(uhflow_t *u)
{
	if (u->closing && !u->nhandles && !u->pending)
		free(u);
}

int udp_socket_buffers(uv_udp_t *h)
{
	int sz = 4 << 20;

	uv_recv_buffer_size((uv_handle_t *)h, &sz);
	sz = 4 << 20;
	uv_send_buffer_size((uv_handle_t *)h, &sz);
	return 0;
}

void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	buf->base = (char *)rbuf;
	buf->len = sizeof(rbuf);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
	uhflow_t *u = h->data;

	if (n < 0) {
		log_debug(u->f.id, "udp: receive: %s", uv_strerror((int)n));
		return;
	}
	if (!addr || u->closing)
		return;
	if (flags & UV_UDP_PARTIAL) {
		dgram_drop(&u->f, DGRAM_DROP_SIZE, NULL);
		return;
	}
	if (!dgram_peers_has(&u->peers, addr)) {
		dgram_drop(&u->f, DGRAM_DROP_STRANGER, NULL);
		return;
	}
	dgram_deliver(&u->f, addr, dgram_buf(buf->base, (size_t)n));
}

static void on_handle_closed(uv_handle_t *h)
{
	uhflow_t *u = h->data;

	free(h);
	u->nhandles--;
	maybe_free(u);
}

/* The socket of sa's family, made on first use. */
static uv_udp_t *sock_for(uhflow_t *u, int family)
{
	int i = family == AF_INET6;
	struct sockaddr_storage any = {0};
	uv_udp_t *h = u->h[i];
	int r;

	if (h)
		return h;
	h = malloc(sizeof(*h));
	if (!h)
		abort();
	uv_udp_init(u->loop, h);
	h->data = u;
	u->nhandles++;
	any.ss_family = (sa_family_t)family;
	if ((r = uv_udp_bind(h, (struct sockaddr *)&any, i ? UV_UDP_IPV6ONLY : 0)) < 0 ||
	    (r = udp_socket_buffers(h)) < 0 || (r = uv_udp_recv_start(h, udp_alloc, on_recv)) < 0) {
		log_debug(u->f.id, "udp: %s socket: %s", i ? "IPv6" : "IPv4", uv_strerror(r));
		uv_close((uv_handle_t *)h, on_handle_closed);
		return NULL;
	}
	u->h[i] = h;
	return h;
}

/* Send to an address: the ACL, then the socket of its family. */
static void send_addr(uhflow_t *u, const struct sockaddr *sa, sbuf_t *b)
{
	uv_udp_t *h;
	uv_buf_t ub;
	char s[64];
	int r;

	if (!acl_permits(u->acl, sa)) {
		sockaddr_ip(sa, s, sizeof(s));
		log_debug(u->f.id, "udp: target %s refused by ACL", s);
		dgram_drop(&u->f, DGRAM_DROP_REFUSED, b);
		return;
	}
	if (!(h = sock_for(u, sa->sa_family))) {
		dgram_drop(&u->f, DGRAM_DROP_SEND, b);
		return;
	}
	dgram_peers_add(&u->peers, sa);
	ub = uv_buf_init((char *)sbuf_ptr(b), b->len);
	r = uv_udp_try_send(h, &ub, 1, sa);
	if (r < 0) {
		dgram_drop(&u->f, dgram_drop_why(r), b);
		return;
	}
	u->f.sent++;
	sbuf_free(b);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	uhres_t *q = req->data;
	uhflow_t *u = q->u;
	struct addrinfo *ai = NULL;

	u->pending--;
	if (u->closing) {
		sbuf_free(q->b);
		goto out;
	}
	if (status < 0) {
		log_debug(u->f.id, "udp: resolve %s: %s", q->name, uv_strerror(status));
		dgram_drop(&u->f, DGRAM_DROP_RESOLVE, q->b);
		goto out;
	}
	for (ai = res; ai; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    acl_permits(u->acl, ai->ai_addr))
			break;
	if (!ai) {
		log_debug(u->f.id, "udp: no permitted address for %s", q->name);
		dgram_drop(&u->f, DGRAM_DROP_REFUSED, q->b);
		goto out;
	}
	memcpy(u->cache_name, q->name, sizeof(u->cache_name));
	memset(&u->cache_sa, 0, sizeof(u->cache_sa));
	memcpy(&u->cache_sa, ai->ai_addr, ai->ai_addrlen);
	u->cache_until = uv_now(u->loop) + CACHE_MS;
	sockaddr_set_port((struct sockaddr *)&u->cache_sa, q->port);
	send_addr(u, (struct sockaddr *)&u->cache_sa, q->b);
out:
	if (res)
		uv_freeaddrinfo(res);
	free(q);
	maybe_free(u);
}

static int uh_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	uhflow_t *u = (uhflow_t *)f;
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
	struct sockaddr_storage ss;
	uhres_t *q;
	int r;

	if (b->len > DGRAM_MAX) {
		dgram_drop(f, DGRAM_DROP_SIZE, b);
		return UV_EMSGSIZE;
	}
	if (target_is_ip(dst, &ss)) {
		sockaddr_unmap(&ss);
		send_addr(u, (struct sockaddr *)&ss, b);
		return 0;
	}
	if (!strcmp(dst->host, u->cache_name) && uv_now(u->loop) < u->cache_until) {
		sockaddr_set_port((struct sockaddr *)&u->cache_sa, dst->port);
		send_addr(u, (struct sockaddr *)&u->cache_sa, b);
		return 0;
	}
	if (u->pending >= UDPHOST_RESOLVING) {
		dgram_drop(f, DGRAM_DROP_RESOLVE, b);
		return 0;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		abort();
	q->u = u;
	q->port = dst->port;
	q->b = b;
	memcpy(q->name, dst->host, sizeof(q->name));
	q->req.data = q;
	r = uv_getaddrinfo(u->loop, &q->req, on_resolved, dst->host, NULL, &hints);
	if (r < 0) {
		free(q);
		dgram_drop(f, DGRAM_DROP_RESOLVE, b);
		return 0;
	}
	u->pending++;
	return 0;
}

static void uh_close(dgram_t *f)
{
	uhflow_t *u = (uhflow_t *)f;

	u->closing = 1;
	for (int i = 0; i < 2; i++)
		if (u->h[i])
			uv_close((uv_handle_t *)u->h[i], on_handle_closed);
	maybe_free(u);
}

static const dgram_ops_t uh_ops = {"udp", uh_send, uh_close};

dgram_t *udphost_flow_new(uv_loop_t *loop, uint64_t id, const acl_t *acl)
{
	uhflow_t *u = calloc(1, sizeof(*u));

	if (!u)
		abort();
	dgram_init(&u->f, &uh_ops, id);
	u->loop = loop;
	u->acl = acl;
	return &u->f;
}

dial_t *udphost_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	return dgram_ready_soon(d->loop, udphost_flow_new(d->loop, o->id, o->acl), cb, ud);
}

void udphost_dgram_cancel(dialer_t *d, dial_t *req)
{
	dgram_ready_cancel(req);
}
