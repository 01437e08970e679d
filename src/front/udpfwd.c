/* udpfwd: `-L udp://BIND:PORT/HOST:PORT`, a UDP port forward through the
 * chain (see udpfwd.h).
 *
 * One UDP socket on BIND:PORT.  Each client address (IP and port) is a
 * session: a datagram flow through the chain (core/dgram.h) whose every
 * datagram goes to HOST:PORT, and whose replies go back to that client
 * from the listening socket.  Sessions live in a hash table of the client
 * address (UF_BUCKETS chains); a sweep every quarter of the idle timeout
 * (at least every second) ends the sessions that were idle that long.
 *
 * Admission, per new client: allow=/deny=, rate= (new sessions per client
 * IP), max-conns= (sessions; a datagram from a new client beyond it is
 * dropped and counted).  The target ACL applies at the far end of the
 * chain, to every datagram.  A session ends when idle, when its flow fails
 * (the tunnel is lost) or when the listener stops; none of them ends the
 * others.  Nothing queues here: datagrams wait only in the flow's held
 * queue while it opens (bounded), and a reply the socket will not take at
 * once is dropped.
 */
#include "front/udpfwd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/dgram.h"
#include "core/udplisten.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/transport.h"

#define UF_BUCKETS 1024
#define UF_IDLE_DEFAULT 60000

typedef struct usess usess_t;

typedef struct udpfwd {
	listener_t *l;
	target_t target;
	udplisten_t ul; /* the socket, the sweep */
	uint64_t idle_ms;
	usess_t *buckets[UF_BUCKETS];
	size_t nsess;
	uint64_t dgrams_in, dgrams_out, drops, refused;
} udpfwd_t;

struct usess {
	usess_t *next;
	udpfwd_t *u;
	dgram_t *flow;
	struct routing *rt; /* the routing its flow goes through (listener_chain_take) */
	struct sockaddr_storage client;
	uint64_t id, last, t_start, in, out;
};

static unsigned bucket_of(const struct sockaddr *sa)
{
	uint8_t key[16];

	sockaddr_key(sa, key);
	return (unsigned)((sockaddr_key_hash(key) ^ sockaddr_port(sa) * 0x9e3779b1u) % UF_BUCKETS);
}

static usess_t *sess_find(udpfwd_t *u, const struct sockaddr *sa)
{
	for (usess_t *s = u->buckets[bucket_of(sa)]; s; s = s->next)
		if (sockaddr_equal((struct sockaddr *)&s->client, sa))
			return s;
	return NULL;
}

static void sess_free(usess_t *s, const char *why)
{
	udpfwd_t *u = s->u;
	char peer[64];

	for (usess_t **pp = &u->buckets[bucket_of((struct sockaddr *)&s->client)]; *pp;
	     pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	sockaddr_str((struct sockaddr *)&s->client, peer, sizeof(peer));
	log_info(s->id,
	         "udp: %s closed (%s) after %.1f s: %llu datagrams up, %llu down, %llu dropped",
	         peer, why, (double)(uv_now(u->l->loop) - s->t_start) / 1000.0,
	         (unsigned long long)s->out, (unsigned long long)s->in,
	         (unsigned long long)dgram_dropped(s->flow));
	dgram_close(s->flow);
	listener_chain_drop(s->rt);
	u->nsess--;
	u->l->m->active--;
	free(s);
}

/* A reply: to the client, from the listening socket. */
static void on_flow_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	usess_t *s = f->data;
	udpfwd_t *u = s->u;
	uv_buf_t ub = uv_buf_init((char *)sbuf_ptr(b), b->len);
	int r = uv_udp_try_send(&u->ul.sock, &ub, 1, (struct sockaddr *)&s->client);

	if (r < 0) {
		u->drops++;
		dgram_drop(f, dgram_drop_why(r), b);
		return;
	}
	s->in++;
	s->last = uv_now(u->l->loop);
	u->dgrams_out++;
	u->l->m->bytes_out += b->len;
	sbuf_free(b);
}

static void on_flow_error(dgram_t *f, int err)
{
	usess_t *s = f->data;

	log_info(s->id, "udp: the chain lost the session: %s", uv_strerror(err));
	sess_free(s, "flow failed");
}

static const dgram_cbs_t flow_cbs = {on_flow_recv, on_flow_error, NULL};

/* A datagram from a client we do not know yet: admission, then a flow. */
static usess_t *sess_new(udpfwd_t *u, const struct sockaddr *sa)
{
	listener_t *l = u->l;
	dial_opts_t o = {.acl = &l->targets, .peer = sa};
	char peer[64], tgt[300];
	usess_t *s;
	unsigned b;

	o.id = conn_next_id();
	if (!listener_admit(l, l->name, NULL, sa, u->nsess, o.id)) {
		u->refused++;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->u = u;
	s->id = o.id;
	memcpy(&s->client, sa, sockaddr_len(sa));
	s->last = s->t_start = uv_now(l->loop);
	b = bucket_of(sa);
	s->next = u->buckets[b];
	u->buckets[b] = s;
	u->nsess++;
	l->m->active++;
	l->m->total++;
	sockaddr_str(sa, peer, sizeof(peer));
	target_str(&u->target, tgt, sizeof(tgt));
	log_info(s->id, "udp: %s -> %s", peer, tgt);
	s->flow =
	    dgram_open(listener_chain_take(l, &s->rt), &o, l->connect_timeout_ms, &flow_cbs, s);
	return s;
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
	udpfwd_t *u = h->data;
	usess_t *s;

	if (n < 0 || !addr || u->l->stopping)
		return;
	if (flags & UV_UDP_PARTIAL) {
		u->drops++;
		dgram_drops[DGRAM_DROP_SIZE]++;
		return;
	}
	if (!(s = sess_find(u, addr)) && !(s = sess_new(u, addr)))
		return;
	s->out++;
	s->last = uv_now(u->l->loop);
	u->dgrams_in++;
	u->l->m->bytes_in += (uint64_t)n;
	dgram_send(s->flow, &u->target, dgram_buf(buf->base, (size_t)n));
}

static void on_sweep(uv_timer_t *t)
{
	udpfwd_t *u = t->data;
	uint64_t now = uv_now(u->l->loop);

	for (unsigned b = 0; b < UF_BUCKETS; b++) {
		usess_t *s = u->buckets[b];
		while (s) {
			usess_t *next = s->next;
			if (now - s->last >= u->idle_ms)
				sess_free(s, "idle");
			s = next;
		}
	}
}

static const metric_t uf_metrics[] = {
    METRIC(udpfwd_t, nsess, "sluice_udp_forward_sessions", "gauge",
           "UDP forward sessions open now."),
    METRIC(udpfwd_t, refused, "sluice_udp_forward_refused_total", "counter",
           "Clients refused a session (ACL, rate, max-conns)."),
    METRIC_X(udpfwd_t, dgrams_in, "sluice_udp_forward_datagrams_total", "counter",
             "Datagrams from clients (in) and to them (out).", "dir=\"in\""),
    METRIC_X(udpfwd_t, dgrams_out, "sluice_udp_forward_datagrams_total", "counter",
             "Datagrams from clients (in) and to them (out).", "dir=\"out\""),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	udpfwd_t *u = ud;
	char lab[300];

	METRICS_TABLE(b, uf_metrics, u, metrics_label(lab, sizeof(lab), "listener", u->l->name));
}

static int uf_init(listener_t *l, char *err, size_t errlen)
{
	udpfwd_t *u = calloc(1, sizeof(*u));
	const char *p = l->url->path;
	int r;

	if (!u)
		abort();
	u->l = l;
	l->front = u;
	if ((r = listener_bind_addr(l->url, &l->bind, err, errlen)) < 0)
		return r;
	if (p[0] != '/' ||
	    hostport_parse(p + 1, u->target.host, sizeof(u->target.host), &u->target.port) < 0) {
		snprintf(err, errlen,
		         "the target is missing or bad: write udp://BIND:PORT/HOST:PORT");
		return -EINVAL;
	}
	if ((r = chain_dgram_require(l->chain, "a udp:// forward", err, errlen)) < 0)
		return r;
	u->idle_ms = l->idle_timeout_ms;
	return 0;
}

static int uf_start(listener_t *l)
{
	udpfwd_t *u = l->front;
	uint64_t period = u->idle_ms / 4 < 1000 ? 1000 : u->idle_ms / 4;
	int r;

	if ((r = udplisten_start(&u->ul, l->loop, (struct sockaddr *)&l->bind, listener_taken_fd(l),
	                         u, on_recv, on_sweep, u->idle_ms ? period : 0)) < 0)
		return r;
	metrics_register(metrics_fn, u);
	log_info(0, "listening on %s", l->name);
	return 0;
}

static void uf_stop(listener_t *l)
{
	udplisten_stop(&((udpfwd_t *)l->front)->ul);
}

static int uf_dgram_fd(listener_t *l)
{
	return l->front ? udplisten_fd(&((udpfwd_t *)l->front)->ul) : -1;
}

static void uf_free(listener_t *l)
{
	udpfwd_t *u = l->front;

	if (!u)
		return;
	for (unsigned b = 0; b < UF_BUCKETS; b++)
		while (u->buckets[b])
			sess_free(u->buckets[b], "shutdown");
	metrics_unregister(metrics_fn, u);
	udplisten_close(&u->ul, u, free);
}

const front_ops_t udpfwd_front_ops = {
    .scheme = "udp",
    .init = uf_init,
    .start = uf_start,
    .stop = uf_stop,
    .free = uf_free,
    .dgram_fd = uf_dgram_fd,
    .idle_timeout_ms = UF_IDLE_DEFAULT, /* UDP sessions have no end but silence */
    .chain_use = CHAIN_AT_INIT,
};

static const transport_scheme_t udpfwd_schemes[] = {
    {.scheme = "udp",
     .listen = &udpfwd_front_ops,
     .listen_doc = {.usage = "udp://IP:PORT/HOST:PORT",
                    .about = "UDP port forward to HOST:PORT through the chain (idle-timeout: 60s "
                             "unless given; max-conns: sessions)"}},
};

const transport_t udpfwd_transport = {
    .name = "udp",
    .summary = "UDP port forward",
    TRANSPORT_SCHEMES(udpfwd_schemes),
};
