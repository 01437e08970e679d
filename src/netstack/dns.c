/* dns: see dns.h.
 *
 * Parser: names are read into uncompressed, lower-cased wire form and
 * compared as bytes, so no escaping is ever needed.  Compression pointers
 * must point before themselves and at most 32 are followed per name, which
 * bounds the work on hostile input; every length is checked against the
 * message before it is used.
 *
 * Resolver: a lookup is one dns_query_t with its own UDP pcb (bound to the
 * tunnel's netif, random port), its own id and a uv timer:
 *
 *   send(A, server k) --answer--> done | NODATA and want6: send(AAAA)
 *        | timeout: k+1, longer wait   | SERVFAIL/REFUSED: next server now
 *        | deadline: UV_EAI_AGAIN
 *
 * The callback is the last thing a finished query does; its memory goes in
 * the timer's close callback, so an owner that frees everything from the
 * callback is safe.
 */
#include "netstack/dns.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/bytes.h"
#include "core/crypto.h"
#include "core/log.h"

#undef TCP_MSS /* netinet/tcp.h's socket option; lwipopts.h defines lwIP's */
#include "core/queue.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

#define WIRE_MAX 255
#define MAX_PTR_HOPS 32
#define MAX_RECORDS 64
#define MAX_CNAME_HOPS 8
#define TRY_MS 1000
#define ANSWER_MAX 4096

/* ---- parser ---- */

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static int label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Text name to lower-cased wire form; its length or -EINVAL. */
static int name_to_wire(const char *name, uint8_t *out)
{
	size_t n = 0, len = strlen(name), i = 0;

	if (len && name[len - 1] == '.')
		len--;
	if (!len || len > DNS_NAME_MAX)
		return -EINVAL;
	while (i < len) {
		size_t start = i;
		while (i < len && name[i] != '.') {
			if (!label_char(name[i]))
				return -EINVAL;
			i++;
		}
		if (i == start || i - start > 63)
			return -EINVAL;
		out[n++] = (uint8_t)(i - start);
		while (start < i)
			out[n++] = lower((uint8_t)name[start++]);
		i++; /* the dot */
	}
	if (name[len - 1] == '.') /* "a..": empty last label */
		return -EINVAL;
	out[n++] = 0;
	return (int)n;
}

int dns_name_valid(const char *name)
{
	uint8_t w[WIRE_MAX + 2];

	return name && name_to_wire(name, w) > 0;
}

int dns_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype)
{
	uint8_t w[WIRE_MAX + 2];
	int n = name_to_wire(name, w);

	if (n < 0)
		return n;
	if (cap < 12 + (size_t)n + 4)
		return -ENOSPC;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;    /* QDCOUNT */
	memcpy(buf + 12, w, (size_t)n);
	buf[12 + n] = (uint8_t)(qtype >> 8);
	buf[13 + n] = (uint8_t)qtype;
	buf[14 + n] = 0;
	buf[15 + n] = 1; /* IN */
	return 12 + n + 4;
}

/* Reads the (possibly compressed) name at *off into out, lower-cased and
 * uncompressed; *off moves past the name as it is in the message. */
static int name_read(const uint8_t *m, size_t len, size_t *off, uint8_t *out, size_t *outlen)
{
	size_t pos = *off, n = 0, end = 0;
	int hops = 0;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -EBADMSG;
		c = m[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;

			if (pos + 1 >= len)
				return -EBADMSG;
			ptr = (size_t)(c & 0x3f) << 8 | m[pos + 1];
			if (!hops)
				end = pos + 2;
			if (ptr >= pos || ++hops > MAX_PTR_HOPS)
				return -EBADMSG;
			pos = ptr;
			continue;
		}
		if (c & 0xc0) /* 0x40, 0x80: obsolete label types */
			return -EBADMSG;
		if (n + 1 + c > WIRE_MAX)
			return -EBADMSG;
		out[n++] = c;
		if (!c)
			break;
		if (pos + 1 + c > len)
			return -EBADMSG;
		for (size_t i = 0; i < c; i++)
			out[n++] = lower(m[pos + 1 + i]);
		pos += 1 + (size_t)c;
	}
	*off = hops ? end : pos + 1;
	*outlen = n;
	return 0;
}

typedef struct rr {
	size_t owner; /* offset of the owner name */
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata, rdlen;
} rr_t;

static int owner_is(const uint8_t *m, size_t len, const rr_t *r, const uint8_t *w, size_t wlen)
{
	uint8_t o[WIRE_MAX + 1];
	size_t off = r->owner, olen;

	return name_read(m, len, &off, o, &olen) == 0 && olen == wlen && !memcmp(o, w, wlen);
}

int dns_response_parse(const uint8_t *m, size_t len, uint16_t id, const char *name, uint16_t qtype,
                       dns_result_t *out)
{
	uint8_t q[WIRE_MAX + 2], w[WIRE_MAX + 1], cur[WIRE_MAX + 1];
	rr_t rrs[MAX_RECORDS];
	size_t off = 12, wlen, curlen, nrr = 0;
	uint16_t flags, an;
	uint32_t ttl = UINT32_MAX;
	int qlen = name_to_wire(name, q), used = 0;

	memset(out, 0, sizeof(*out));
	if (qlen < 0)
		return -EINVAL;
	if (len < 12)
		return -EBADMSG;
	flags = get_be16(m + 2);
	if (get_be16(m) != id || !(flags & 0x8000) || (flags >> 11 & 0xf) != 0 ||
	    get_be16(m + 4) != 1)
		return -EPROTO;
	an = get_be16(m + 6);
	if (name_read(m, len, &off, w, &wlen) < 0 || off + 4 > len)
		return -EBADMSG;
	if (wlen != (size_t)qlen || memcmp(w, q, wlen) || get_be16(m + off) != qtype ||
	    get_be16(m + off + 2) != 1)
		return -EPROTO;
	off += 4;
	out->rcode = flags & 0xf;
	out->truncated = !!(flags & 0x0200);

	for (uint16_t i = 0; i < an; i++) {
		rr_t r = {.owner = off};

		if (name_read(m, len, &off, w, &wlen) < 0 || off + 10 > len)
			return -EBADMSG;
		r.type = get_be16(m + off);
		r.class = get_be16(m + off + 2);
		r.ttl = get_be32(m + off + 4);
		if (r.ttl & 0x80000000) /* RFC 2181 8: treat as zero */
			r.ttl = 0;
		r.rdlen = get_be16(m + off + 8);
		r.rdata = off + 10;
		if (r.rdata + r.rdlen > len)
			return -EBADMSG;
		off = r.rdata + r.rdlen;
		if (r.class == 1 && nrr < MAX_RECORDS)
			rrs[nrr++] = r;
	}

	/* follow the CNAME chain from the question to the canonical name */
	memcpy(cur, q, (size_t)qlen);
	curlen = (size_t)qlen;
	for (int hop = 0; hop < MAX_CNAME_HOPS; hop++) {
		size_t j;

		for (j = 0; j < nrr; j++)
			if (rrs[j].type == DNS_TYPE_CNAME && owner_is(m, len, &rrs[j], cur, curlen))
				break;
		if (j == nrr)
			break;
		off = rrs[j].rdata;
		if (name_read(m, len, &off, cur, &curlen) < 0 || off > rrs[j].rdata + rrs[j].rdlen)
			return -EBADMSG;
		ttl = rrs[j].ttl < ttl ? rrs[j].ttl : ttl;
	}
	for (size_t j = 0; j < nrr && out->n < DNS_MAX_ADDRS; j++) {
		const rr_t *r = &rrs[j];
		size_t alen = qtype == DNS_TYPE_A ? 4 : 16;

		if (r->type != qtype || r->rdlen != alen || !owner_is(m, len, r, cur, curlen))
			continue;
		out->addr[out->n].family = alen == 4 ? AF_INET : AF_INET6;
		memcpy(out->addr[out->n].a, m + r->rdata, alen);
		out->n++;
		ttl = r->ttl < ttl ? r->ttl : ttl;
		used = 1;
	}
	out->ttl = used ? ttl : 0;
	return 0;
}

/* ---- resolver ---- */

typedef struct cache_ent {
	char name[DNS_NAME_MAX + 2];
	int want6;
	uint64_t expires; /* loop time, ms; 0: free */
	dns_result_t res;
} cache_ent_t;

struct dns_resolver {
	uv_loop_t *loop;
	struct netif *netif;
	uint64_t id;
	void (*guard)(int enter);
	dns_addr_t servers[DNS_MAX_SERVERS];
	size_t nservers, preferred; /* preferred: the last one that answered */
	queue_t queries;            /* dns_query_t.link */
	dns_stats_t st;
	cache_ent_t cache[DNS_CACHE_SIZE];
};

struct dns_query {
	dns_resolver_t *r;
	queue_t link;
	char name[DNS_NAME_MAX + 2];
	int want6;
	uint16_t id, qtype;
	struct udp_pcb *pcb;
	uv_timer_t timer;
	uint64_t deadline;
	dns_addr_t servers[DNS_MAX_SERVERS]; /* copied: set_servers does not disturb us */
	size_t nservers, first;
	unsigned tries;         /* packets sent so far */
	unsigned asked, failed; /* bit masks over servers */
	dns_cb cb;
	void *ud;
};

void dns_addr_lwip(const dns_addr_t *a, ip_addr_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (a->family == AF_INET) {
		IP_SET_TYPE(ip, IPADDR_TYPE_V4);
		memcpy(&ip_2_ip4(ip)->addr, a->a, 4);
	} else {
		IP_SET_TYPE(ip, IPADDR_TYPE_V6);
		memcpy(ip_2_ip6(ip)->addr, a->a, 16);
		ip6_addr_clear_zone(ip_2_ip6(ip));
	}
}

static int same_ip(const dns_addr_t *a, const ip_addr_t *ip)
{
	if (a->family == AF_INET)
		return IP_IS_V4(ip) && !memcmp(&ip_2_ip4(ip)->addr, a->a, 4);
	return IP_IS_V6(ip) && !memcmp(ip_2_ip6(ip)->addr, a->a, 16);
}

dns_resolver_t *dns_resolver_new(uv_loop_t *loop, struct netif *netif, uint64_t log_id,
                                 void (*guard)(int enter))
{
	dns_resolver_t *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->loop = loop;
	r->netif = netif;
	r->id = log_id;
	r->guard = guard;
	queue_init(&r->queries);
	return r;
}

void dns_resolver_set_servers(dns_resolver_t *r, const dns_addr_t *s, size_t n)
{
	if (n > DNS_MAX_SERVERS)
		n = DNS_MAX_SERVERS;
	memcpy(r->servers, s, n * sizeof(*s));
	r->nservers = n;
	r->preferred = 0;
}

size_t dns_resolver_nservers(const dns_resolver_t *r)
{
	return r->nservers;
}

void dns_resolver_stats(const dns_resolver_t *r, dns_stats_t *out)
{
	*out = r->st;
}

static void canon(const char *name, char *out)
{
	size_t n = strlen(name);

	if (n && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)lower((uint8_t)name[i]);
	out[n] = 0;
}

int dns_cache_lookup(dns_resolver_t *r, const char *name, int want6, dns_result_t *out)
{
	char key[DNS_NAME_MAX + 2];
	uint64_t now = uv_now(r->loop);

	if (!dns_name_valid(name))
		return 0;
	canon(name, key);
	for (size_t i = 0; i < DNS_CACHE_SIZE; i++) {
		cache_ent_t *e = &r->cache[i];
		if (e->expires > now && e->want6 == want6 && !strcmp(e->name, key)) {
			*out = e->res;
			out->ttl = (uint32_t)((e->expires - now + 999) / 1000);
			r->st.lookups++;
			r->st.cache_hits++;
			return 1;
		}
	}
	return 0;
}

void dns_cache_flush(dns_resolver_t *r)
{
	memset(r->cache, 0, sizeof(r->cache));
}

static void cache_put(dns_resolver_t *r, const char *name, int want6, const dns_result_t *res)
{
	uint64_t now = uv_now(r->loop);
	uint32_t ttl = res->ttl > DNS_CACHE_TTL_MAX ? DNS_CACHE_TTL_MAX : res->ttl;
	cache_ent_t *victim = &r->cache[0];

	if (!ttl || !res->n)
		return;
	for (size_t i = 0; i < DNS_CACHE_SIZE; i++) {
		cache_ent_t *e = &r->cache[i];
		if (e->expires <= now || (e->want6 == want6 && !strcmp(e->name, name))) {
			victim = e;
			break;
		}
		if (e->expires < victim->expires)
			victim = e;
	}
	canon(name, victim->name);
	victim->want6 = want6;
	victim->res = *res;
	victim->expires = now + (uint64_t)ttl * 1000;
}

static void on_query_closed(uv_handle_t *h)
{
	free(h->data);
}

static void q_release(dns_query_t *q)
{
	if (q->pcb) {
		udp_remove(q->pcb);
		q->pcb = NULL;
	}
	queue_remove(&q->link);
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, on_query_closed);
}

static void q_finish(dns_query_t *q, int err, const dns_result_t *res)
{
	dns_resolver_t *r = q->r;
	dns_cb cb = q->cb;
	void *ud = q->ud;
	dns_result_t none;

	if (!err) {
		r->st.answers++;
		cache_put(r, q->name, q->want6, res);
	} else {
		r->st.failures++;
		if (err == UV_EAI_AGAIN && uv_now(r->loop) >= q->deadline)
			r->st.timeouts++;
		memset(&none, 0, sizeof(none));
		res = &none;
	}
	log_debug(r->id, "dns %s: %s", q->name, err ? uv_strerror(err) : "ok");
	q_release(q);
	cb(ud, err, res);
}

static void on_timer(uv_timer_t *t);

static void q_new_id(dns_query_t *q)
{
	random_bytes(&q->id, sizeof(q->id));
}

static int all_failed(const dns_query_t *q)
{
	return q->failed == (1u << q->nservers) - 1;
}

/* Sends try number q->tries to its server and arms the timer for it. */
static void q_send(dns_query_t *q)
{
	uint8_t buf[DNS_QUERY_MAX];
	uint64_t now = uv_now(q->r->loop), wait;
	unsigned round;
	struct pbuf *p;
	ip_addr_t dst;
	size_t k;
	int n = dns_query_build(buf, sizeof(buf), q->id, q->name, q->qtype);

	do /* skip the servers that refused this lookup */
		k = (q->first + q->tries++) % q->nservers;
	while (q->failed & 1u << k);
	round = (q->tries - 1) / (unsigned)q->nservers;
	wait = (uint64_t)TRY_MS << (round < 4 ? round : 4);
	if (now + wait > q->deadline)
		wait = q->deadline > now ? q->deadline - now : 0;
	uv_timer_start(&q->timer, on_timer, wait, 0);
	if (n < 0)
		return;
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)n, PBUF_RAM);
	if (!p)
		return;
	memcpy(p->payload, buf, (size_t)n);
	dns_addr_lwip(&q->servers[k], &dst);
	q->asked |= 1u << k;
	q->r->st.sent++;
	if (udp_sendto(q->pcb, p, &dst, DNS_PORT) != ERR_OK)
		log_debug(q->r->id, "dns: send to server %zu failed", k);
	pbuf_free(p);
}

static void on_timer(uv_timer_t *t)
{
	dns_query_t *q = t->data;
	void (*guard)(int) = q->r->guard;

	if (guard)
		guard(1);
	if (uv_now(q->r->loop) >= q->deadline || all_failed(q))
		q_finish(q, UV_EAI_AGAIN, NULL);
	else
		q_send(q);
	if (guard)
		guard(0);
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port)
{
	dns_query_t *q = arg;
	uint8_t buf[ANSWER_MAX];
	dns_result_t res;
	size_t k, len;

	len = pbuf_copy_partial(p, buf, sizeof(buf), 0);
	pbuf_free(p);
	if (port != DNS_PORT)
		return;
	for (k = 0; k < q->nservers; k++)
		if ((q->asked & 1u << k) && same_ip(&q->servers[k], addr))
			break;
	if (k == q->nservers || dns_response_parse(buf, len, q->id, q->name, q->qtype, &res) < 0)
		return; /* not from a server we asked, or not our answer: ignore */
	if (res.rcode == DNS_NOERROR && res.n) {
		q->r->preferred = k; /* same index in r->servers unless they changed */
		q_finish(q, 0, &res);
		return;
	}
	if (res.rcode == DNS_NXDOMAIN) {
		q_finish(q, UV_EAI_NONAME, NULL);
		return;
	}
	if (res.rcode == DNS_NOERROR && !res.truncated) { /* NODATA */
		if (q->qtype == DNS_TYPE_A && q->want6) {
			q->qtype = DNS_TYPE_AAAA;
			q_new_id(q);
			q->asked = 0;
			q->first = k;
			q->tries = 0;
			q_send(q);
			return;
		}
		q_finish(q, UV_EAI_NONAME, NULL);
		return;
	}
	/* SERVFAIL, REFUSED, truncated without answers...: next server now */
	q->failed |= 1u << k;
	if (all_failed(q)) {
		q_finish(q, UV_EAI_AGAIN, NULL);
		return;
	}
	q_send(q);
}

dns_query_t *dns_resolve(dns_resolver_t *r, const char *name, int want6, uint64_t timeout_ms,
                         dns_cb cb, void *ud)
{
	dns_query_t *q;
	uint16_t port;
	int i;

	if (!dns_name_valid(name) || !r->nservers)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		abort();
	q->r = r;
	canon(name, q->name);
	q->want6 = want6;
	q->qtype = DNS_TYPE_A;
	q->cb = cb;
	q->ud = ud;
	memcpy(q->servers, r->servers, sizeof(q->servers));
	q->nservers = r->nservers;
	q->first = r->preferred < r->nservers ? r->preferred : 0;
	q->deadline = uv_now(r->loop) + (timeout_ms ? timeout_ms : 5000);
	q_new_id(q);
	uv_timer_init(r->loop, &q->timer);
	q->timer.data = q;
	queue_insert_head(&r->queries, &q->link);
	r->st.lookups++;

	q->pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (q->pcb) {
		udp_bind_netif(q->pcb, r->netif);
		for (i = 0; i < 8; i++) { /* a random source port (RFC 5452) */
			random_bytes(&port, sizeof(port));
			port = (uint16_t)(1024 + port % (65536 - 1024));
			if (udp_bind(q->pcb, IP_ANY_TYPE, port) == ERR_OK)
				break;
		}
		if (i == 8)
			udp_bind(q->pcb, IP_ANY_TYPE, 0);
		udp_recv(q->pcb, on_udp, q);
		q_send(q);
	} else {
		uv_timer_start(&q->timer, on_timer, 0, 0);
		q->deadline = 0;
	}
	return q;
}

void dns_cancel(dns_query_t *q)
{
	if (q)
		q_release(q);
}

void dns_resolver_free(dns_resolver_t *r)
{
	if (!r)
		return;
	while (!queue_empty(&r->queries))
		q_release(queue_data(queue_first(&r->queries), dns_query_t, link));
	free(r);
}
