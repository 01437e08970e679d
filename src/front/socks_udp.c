/* socks_udp: see socks_udp.h.
 *
 * Client datagrams are read into one static buffer (one thread; each is
 * finished inside the receive callback) and their payload copied into a
 * chunk with headroom for the hops' headers.  A reply's chunk comes from
 * the flow with headroom too, so its SOCKS header is written in front of
 * it without a copy.  Sends to the client use uv_udp_try_send: what the
 * kernel will not take at once is dropped, as a router would, so nothing
 * queues here.
 */
#include "front/socks_udp.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/udphost.h"
#include "wire/socks_proto.h"

struct socks_udp {
	uv_udp_t h;
	uv_timer_t idle;  /* the association's idle timeout */
	unsigned handles; /* open; the struct goes with the last */
	dgram_t *flow;
	uint64_t id;
	socks_udp_cb cb;
	void *ud;
	struct sockaddr_storage local, client;
	uint64_t out, in, drops;
	uint64_t idle_ms, last; /* last: uv_now of the last datagram either way */
	unsigned client_known : 1, closing : 1;
};

static void drop(socks_udp_t *u, const char *why)
{
	u->drops++;
	dgram_drops[DGRAM_DROP_BAD]++;
	log_trace(u->id, "udp: dropped a datagram from the client: %s", why);
}

static void from_client(socks_udp_t *u, const uint8_t *p, size_t n)
{
	socks5_udp_hdr_t h;
	target_t t;
	char host[256];
	size_t used;

	if (socks5_udp_parse(p, n, &h, &used) != SOCKS_OK) {
		drop(u, "bad SOCKS UDP header");
		return;
	}
	if (h.frag) {
		drop(u, "fragment");
		return;
	}
	socks_addr_host(&h.dst, host, sizeof(host));
	if (target_set(&t, host, h.dst.port) < 0) {
		drop(u, "bad destination");
		return;
	}
	u->out++;
	u->last = uv_now(u->h.loop);
	dgram_send(u->flow, &t, dgram_buf(p + used, n - used));
}

/* A reply: the SOCKS header goes in the chunk's headroom. */
static void on_flow_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	socks_udp_t *u = f->data;
	uint8_t hdr[SOCKS5_UDP_HDR_MAX];
	socks_addr_t a;
	uv_buf_t ub;
	size_t hl;

	if (!u->client_known || socks_addr_from_sa(&a, src) < 0 ||
	    !(hl = socks5_udp_encode(hdr, sizeof(hdr), &a)) || b->off < hl) {
		dgram_drop(f, DGRAM_DROP_BAD, b);
		return;
	}
	b->off -= (uint32_t)hl;
	b->len += (uint32_t)hl;
	memcpy(sbuf_ptr(b), hdr, hl);
	ub = uv_buf_init((char *)sbuf_ptr(b), b->len);
	if (uv_udp_try_send(&u->h, &ub, 1, (struct sockaddr *)&u->client) < 0) {
		dgram_drop(f, DGRAM_DROP_QUEUE, NULL);
	} else {
		u->in++;
		u->last = uv_now(u->h.loop);
	}
	sbuf_free(b);
}

static void on_flow_error(dgram_t *f, int err)
{
	socks_udp_t *u = f->data;

	u->cb(u->ud, err);
}

static void on_flow_ready(dgram_t *f)
{
	socks_udp_t *u = f->data;

	u->cb(u->ud, 0);
}

static const dgram_cbs_t flow_cbs = {on_flow_recv, on_flow_error, on_flow_ready};

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
	 * exact address. */
	if (!u->client_known && sockaddr_same_ip(addr, (struct sockaddr *)&u->client)) {
		memcpy(&u->client, addr, sockaddr_len(addr));
		u->client_known = 1;
		sockaddr_str(addr, s, sizeof(s));
		log_debug(u->id, "udp: client is %s", s);
	}
	if (u->client_known && sockaddr_equal(addr, (struct sockaddr *)&u->client))
		from_client(u, (const uint8_t *)buf->base, (size_t)nread);
	else
		drop(u, "not from the client");
}

static void on_close(uv_handle_t *h)
{
	socks_udp_t *u = h->data;

	if (!--u->handles)
		free(u);
}

static void on_idle(uv_timer_t *t)
{
	socks_udp_t *u = t->data;
	uint64_t quiet = uv_now(t->loop) - u->last;

	if (quiet < u->idle_ms) {
		uv_timer_start(&u->idle, on_idle, u->idle_ms - quiet, 0);
		return;
	}
	log_info(u->id, "udp: association idle for %llu s", (unsigned long long)quiet / 1000);
	u->cb(u->ud, UV_ETIMEDOUT);
}

int socks_udp_new(uv_loop_t *loop, const struct sockaddr *local, const struct sockaddr *client,
                  dialer_t *chain, const dial_opts_t *o, uint64_t timeout_ms, uint64_t idle_ms,
                  socks_udp_cb cb, void *ud, socks_udp_t **out)
{
	socks_udp_t *u = calloc(1, sizeof(*u));
	int len = sizeof(u->local), r;

	if (!u)
		abort();
	*out = NULL;
	u->id = o->id;
	u->cb = cb;
	u->ud = ud;
	memcpy(&u->local, local, sockaddr_len(local));
	sockaddr_set_port((struct sockaddr *)&u->local, 0);
	memcpy(&u->client, client, sockaddr_len(client));
	sockaddr_unmap(&u->local);
	sockaddr_unmap(&u->client);
	uv_udp_init(loop, &u->h);
	uv_timer_init(loop, &u->idle);
	u->h.data = u->idle.data = u;
	u->handles = 2;
	u->idle_ms = idle_ms;
	u->last = uv_now(loop);
	if (idle_ms)
		uv_timer_start(&u->idle, on_idle, idle_ms, 0);
	if ((r = uv_udp_bind(&u->h, (struct sockaddr *)&u->local, 0)) < 0 ||
	    (r = uv_udp_getsockname(&u->h, (struct sockaddr *)&u->local, &len)) < 0 ||
	    (r = udp_socket_buffers(&u->h)) < 0 ||
	    (r = uv_udp_recv_start(&u->h, udp_alloc, on_recv)) < 0) {
		socks_udp_free(u);
		return r;
	}
	u->flow = dgram_open(chain, o, timeout_ms, &flow_cbs, u);
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
	          (unsigned long long)(u->drops + (u->flow ? dgram_dropped(u->flow) : 0)));
	dgram_close(u->flow);
	uv_close((uv_handle_t *)&u->idle, on_close);
	uv_close((uv_handle_t *)&u->h, on_close);
}
