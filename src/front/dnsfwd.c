/* dnsfwd: see dnsfwd.h.
 *
 * UDP state: one flow (opened on the first query, again after it fails),
 * and the queries in flight: DNSFWD_PENDING slots and a map from our ID
 * (the one the server sees) to a slot, so an answer finds its client in
 * one step.  A sweep each second expires the queries whose answer did not
 * come in time.  The TCP side is a port forward to the server's port 53
 * (core/conn), started from the shared accept path; the UDP socket is
 * opened beside it once the TCP socket listens.
 */
#include "front/dnsfwd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/crypto.h"
#include "core/dgram.h"
#include "core/udplisten.h"
#include "core/log.h"
#include "core/metrics.h"

#define ID_TRIES 16

typedef struct pend {
	struct sockaddr_storage client;
	uint64_t deadline;
	uint16_t id, orig;
	unsigned used : 1;
} pend_t;

typedef struct dnsfwd {
	listener_t *l;
	target_t server; /* server=, else empty */
	unsigned next_server;
	udplisten_t ul; /* the socket, the sweep */
	dgram_t *flow;
	struct routing *rt; /* the routing the flow goes through (listener_chain_take) */
	pend_t slots[DNSFWD_PENDING];
	uint16_t map[65536]; /* our ID -> slot + 1 */
	size_t npend;
	uint64_t queries, answers, timeouts, servfails, drops;
} dnsfwd_t;

/* ---- the pure part ---- */

int dnsfwd_question_end(const uint8_t *q, size_t len)
{
	size_t pos = DNSFWD_HDR, name = 0;

	if (len < DNSFWD_HDR || (q[2] & 0x80) || !(q[4] << 8 | q[5]))
		return -1;
	for (;;) {
		uint8_t l;
		if (pos >= len)
			return -1;
		l = q[pos];
		if (!l) {
			pos++;
			break;
		}
		if (l & 0xc0) /* a pointer or a reserved label type: not in a question we copy */
			return -1;
		name += 1 + (size_t)l;
		pos += 1 + (size_t)l;
		if (name > 255)
			return -1;
	}
	if (pos + 4 > len)
		return -1;
	return (int)(pos + 4);
}

int dnsfwd_servfail(const uint8_t *q, size_t len, uint8_t *out, size_t cap)
{
	int n = dnsfwd_question_end(q, len);

	if (n < 0 || (size_t)n > cap)
		return -1;
	memcpy(out, q, (size_t)n);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, the opcode and RD kept */
	out[3] = 0x80 | 2;                        /* RA, RCODE 2: SERVFAIL */
	out[4] = 0;
	out[5] = 1; /* the one question */
	memset(out + 6, 0, 6);
	return n;
}

/* ---- the name server ---- */

/* server=, or the session's (rotating after timeouts).  0, or -1: none. */
static int pick_server(dnsfwd_t *u, target_t *t)
{
	struct sockaddr_storage ss[8];
	char ip[64];
	int n;

	if (u->server.host[0]) {
		*t = u->server;
		return 0;
	}
	n = chain_dns_servers(u->l->chain, ss, 8);
	if (n <= 0)
		return -1;
	sockaddr_ip((struct sockaddr *)&ss[u->next_server % (unsigned)n], ip, sizeof(ip));
	target_set(t, ip, sockaddr_port((struct sockaddr *)&ss[u->next_server % (unsigned)n]));
	if (!t->port)
		t->port = 53;
	return 0;
}

/* ---- UDP ---- */

static void pend_free(dnsfwd_t *u, pend_t *p)
{
	u->map[p->id] = 0;
	p->used = 0;
	u->npend--;
}

static void send_client(dnsfwd_t *u, const struct sockaddr *to, const uint8_t *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

	if (uv_udp_try_send(&u->ul.sock, &b, 1, to) < 0)
		u->drops++;
}

static void servfail(dnsfwd_t *u, const struct sockaddr *to, const uint8_t *q, size_t n)
{
	uint8_t out[DNSFWD_HDR + 260];
	int m = dnsfwd_servfail(q, n, out, sizeof(out));

	if (m > 0) {
		u->servfails++;
		send_client(u, to, out, (size_t)m);
	}
}

static void on_flow_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	dnsfwd_t *u = f->data;
	uint8_t *p = sbuf_ptr(b);
	unsigned slot;
	pend_t *pe;

	if (b->len < DNSFWD_HDR || !(p[2] & 0x80) || !(slot = u->map[p[0] << 8 | p[1]])) {
		dgram_drop(f, DGRAM_DROP_BAD, b); /* not an answer to anything we asked */
		return;
	}
	pe = &u->slots[slot - 1];
	p[0] = (uint8_t)(pe->orig >> 8);
	p[1] = (uint8_t)pe->orig;
	u->answers++;
	u->l->m->bytes_out += b->len;
	send_client(u, (struct sockaddr *)&pe->client, p, b->len);
	pend_free(u, pe);
	sbuf_free(b);
}

static void on_flow_error(dgram_t *f, int err)
{
	dnsfwd_t *u = f->data;

	log_info(0, "%s: the chain lost the DNS flow: %s", u->l->name, uv_strerror(err));
	dgram_close(f);
	u->flow = NULL; /* the next query opens another */
	listener_chain_drop(u->rt);
	u->rt = NULL;
}

static const dgram_cbs_t flow_cbs = {on_flow_recv, on_flow_error, NULL};

static pend_t *pend_new(dnsfwd_t *u, const struct sockaddr *client, uint16_t orig)
{
	uint8_t rnd[2 * ID_TRIES];
	pend_t *p = NULL;
	size_t i;

	if (u->npend >= DNSFWD_PENDING)
		return NULL;
	for (i = 0; i < DNSFWD_PENDING && !p; i++)
		if (!u->slots[i].used)
			p = &u->slots[i];
	if (!p)
		return NULL;
	random_bytes(rnd, sizeof(rnd));
	for (i = 0; i < ID_TRIES; i++) {
		uint16_t id = (uint16_t)(rnd[2 * i] << 8 | rnd[2 * i + 1]);
		if (!u->map[id]) {
			p->id = id;
			break;
		}
	}
	if (i == ID_TRIES)
		return NULL;
	p->used = 1;
	p->orig = orig;
	memcpy(&p->client, client, sockaddr_len(client));
	p->deadline = uv_now(u->l->loop) + DNSFWD_TIMEOUT_MS;
	u->map[p->id] = (uint16_t)(p - u->slots + 1);
	u->npend++;
	return p;
}

static void on_query(dnsfwd_t *u, const struct sockaddr *client, const uint8_t *q, size_t n)
{
	listener_t *l = u->l;
	dial_opts_t o = {.acl = &l->targets};
	target_t server;
	pend_t *p;
	sbuf_t *b;

	if (dnsfwd_question_end(q, n) < 0) {
		u->drops++;
		dgram_drops[DGRAM_DROP_BAD]++;
		return;
	}
	u->queries++;
	l->m->bytes_in += n;
	if (pick_server(u, &server) < 0) {
		servfail(u, client, q, n);
		return;
	}
	if (!(p = pend_new(u, client, (uint16_t)(q[0] << 8 | q[1])))) {
		u->drops++;
		dgram_drops[DGRAM_DROP_QUEUE]++;
		return;
	}
	if (!u->flow) {
		o.id = conn_next_id();
		u->flow = dgram_open(listener_chain_take(l, &u->rt), &o, l->connect_timeout_ms,
		                     &flow_cbs, u);
	}
	b = dgram_buf(q, n);
	sbuf_ptr(b)[0] = (uint8_t)(p->id >> 8);
	sbuf_ptr(b)[1] = (uint8_t)p->id;
	dgram_send(u->flow, &server, b);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
	dnsfwd_t *u = h->data;
	listener_t *l = u->l;

	if (n < 0 || !addr || l->stopping)
		return;
	if ((flags & UV_UDP_PARTIAL) || !acl_permits(&l->clients, addr) ||
	    (l->rl && !ratelimit_allow(l->rl, addr, uv_now(l->loop)))) {
		u->drops++;
		l->m->rejected++;
		return;
	}
	on_query(u, addr, (const uint8_t *)buf->base, (size_t)n);
}

static void on_sweep(uv_timer_t *t)
{
	dnsfwd_t *u = t->data;
	uint64_t now = uv_now(u->l->loop);

	for (size_t i = 0; i < DNSFWD_PENDING && u->npend; i++) {
		pend_t *p = &u->slots[i];
		if (p->used && now >= p->deadline) {
			u->timeouts++;
			u->next_server++; /* try the session's next server */
			pend_free(u, p);
		}
	}
}

/* ---- TCP ---- */

static void on_dialed(conn_t *c, int err)
{
	if (err < 0) {
		conn_close(c, "dial failed");
		return;
	}
	conn_relay(c);
}

static void dns_on_conn(conn_t *c)
{
	dnsfwd_t *u = c->l->front;
	target_t server;

	if (pick_server(u, &server) < 0) {
		conn_close(c, "no name server known yet");
		return;
	}
	conn_dial(c, &server, on_dialed);
}

/* ---- set-up ---- */

#define DNS_Q_HELP "UDP queries forwarded, answered, timed out, answered SERVFAIL here."
static const metric_t dns_metrics[] = {
    METRIC_X(dnsfwd_t, queries, "sluice_dns_queries_total", "counter", DNS_Q_HELP,
             "result=\"forwarded\""),
    METRIC_X(dnsfwd_t, answers, "sluice_dns_queries_total", "counter", DNS_Q_HELP,
             "result=\"answered\""),
    METRIC_X(dnsfwd_t, timeouts, "sluice_dns_queries_total", "counter", DNS_Q_HELP,
             "result=\"timeout\""),
    METRIC_X(dnsfwd_t, servfails, "sluice_dns_queries_total", "counter", DNS_Q_HELP,
             "result=\"servfail\""),
    METRIC(dnsfwd_t, drops, "sluice_dns_dropped_total", "counter",
           "UDP queries dropped (malformed, refused, too many in flight)."),
    METRIC(dnsfwd_t, npend, "sluice_dns_pending", "gauge", "UDP queries waiting for an answer."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	dnsfwd_t *u = ud;
	char lab[300];

	METRICS_TABLE(b, dns_metrics, u, metrics_label(lab, sizeof(lab), "listener", u->l->name));
}

typedef struct dns_lopts {
	const char *server;
} dns_lopts_t;

static const opt_t dns_opt_table[] = {
    OPT_STR(dns_lopts_t, server, "server", "the tunnel session's", "HOST[:PORT]",
            "the name server to ask (port 53 unless given)"),
};

static const opt_schema_t dns_listen_opts = OPT_SCHEMA(NULL, dns_opt_table);

static int dns_init(listener_t *l, char *err, size_t errlen)
{
	dnsfwd_t *u = calloc(1, sizeof(*u));
	dns_lopts_t o = {0};
	int r;

	if (!u)
		abort();
	u->l = l;
	l->front = u;
	if ((r = opts_parse(&dns_listen_opts, l->url, &o, err, errlen)) < 0)
		return r;
	if (o.server) {
		if (hostport_parse(o.server, u->server.host, sizeof(u->server.host),
		                   &u->server.port) < 0 &&
		    (target_set(&u->server, o.server, 53) < 0 || strchr(o.server, ']'))) {
			snprintf(err, errlen,
			         "option 'server': write HOST or HOST:PORT ([v6]:PORT)");
			return -EINVAL;
		}
	} else if (chain_dns_servers(l->chain, NULL, 0) == UV_ENOTSUP) {
		snprintf(err, errlen,
		         "server= is needed: the chain's last hop gives no name "
		         "servers of its own");
		return -EINVAL;
	}
	return chain_dgram_require(l->chain, "dns://", err, errlen);
}

static int dns_listening(listener_t *l)
{
	dnsfwd_t *u = l->front;
	int r;

	if ((r = udplisten_start(&u->ul, l->loop, (struct sockaddr *)&l->bind, listener_taken_fd(l),
	                         u, on_recv, on_sweep, 1000)) < 0)
		return r;
	metrics_register(metrics_fn, u);
	return 0;
}

static void dns_stop(listener_t *l)
{
	if (l->front)
		udplisten_stop(&((dnsfwd_t *)l->front)->ul);
}

static int dns_dgram_fd(listener_t *l)
{
	return l->front ? udplisten_fd(&((dnsfwd_t *)l->front)->ul) : -1;
}

static void dns_free(listener_t *l)
{
	dnsfwd_t *u = l->front;

	if (!u)
		return;
	dgram_close(u->flow);
	u->flow = NULL;
	listener_chain_drop(u->rt);
	u->rt = NULL;
	metrics_unregister(metrics_fn, u);
	udplisten_close(&u->ul, u, free);
}

const front_ops_t dnsfwd_front_ops = {
    .scheme = "dns",
    .init = dns_init,
    .on_conn = dns_on_conn,
    .listening = dns_listening,
    .stop = dns_stop,
    .free = dns_free,
    .dgram_fd = dns_dgram_fd,
    .chain_use = CHAIN_AT_INIT, /* init checks it; one flow on it for every query */
};

static const transport_scheme_t dnsfwd_schemes[] = {
    {.scheme = "dns",
     .listen = &dnsfwd_front_ops,
     .listen_doc = {.usage = "dns://IP:PORT",
                    .about = "DNS forwarder (UDP and TCP) asking through the chain",
                    .opts = &dns_listen_opts}},
};

const transport_t dnsfwd_transport = {
    .name = "dns",
    .summary = "DNS forwarder through the chain",
    TRANSPORT_SCHEMES(dnsfwd_schemes),
};
