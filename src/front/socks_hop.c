/* socks_hop: the socks5, socks4 and socks4a hops (see socks.h, dial.h).
 *
 * One request per dial, in states
 *
 *   SERVER  dial_next() reaches the hop's server
 *   METHOD  greeting sent, waiting for the server's method choice (SOCKS5)
 *   AUTH    RFC 1929 sent, waiting for its status (SOCKS5 with credentials)
 *   REPLY   CONNECT sent, waiting for the reply (a BIND: for two replies,
 *           each handed to the caller's bound() as it comes)
 *
 * then the callback gets the server stream.  Server replies are parsed from
 * a small buffer; bytes that came after the reply belong to the target (a
 * server-first protocol such as SSH or SMTP may already have spoken) and are
 * handed on through prebuf_wrap().  Names go to the server unresolved.
 *
 * A socks5 hop also carries datagram flows (core/dgram.h): the same states
 * with UDP ASSOCIATE for CONNECT, then the flow sends each datagram with
 * its SOCKS UDP header to the relay the server named (its own address
 * when it names 0.0.0.0), on a flow through the hop before this one
 * (HOP_DGRAM_NEXT: its datagrams are datagrams), and hands on the replies
 * without theirs.  The association lives as long as its TCP connection to
 * the server: that connection's end is the flow's.
 *
 * A failure names this hop in the dial's stream_fail_t: the server's reply
 * said it could not reach the target, or we could not reach or use the
 * server.
 *
 * cancel() closes the server stream or cancels the inner dial; after it the
 * callback never fires.  The hop's server is dialed without the listener's
 * target ACL: the operator chose it, and the ACL is about the final target.
 */
#include "front/socks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dgram.h"
#include "core/log.h"
#include "core/prebuf.h"
#include "wire/socks_proto.h"

#define HOP_BUF 512

typedef enum hop_kind { HOP_SOCKS5, HOP_SOCKS4, HOP_SOCKS4A } hop_kind_t;

static const char *const kind_names[] = {"socks5", "socks4", "socks4a"};

typedef struct socks_hop {
	dialer_t d;
	hop_kind_t kind;
	char *user, *pass; /* NULL when absent */
	char name[300];    /* "socks5://HOST:PORT", for a failure's stream_fail_t */
} socks_hop_t;

typedef enum hq_state { HQ_SERVER, HQ_METHOD, HQ_AUTH, HQ_REPLY } hq_state_t;

static const char *const hq_state_names[] = {"server", "method", "auth", "reply"};

typedef struct hop_req {
	socks_hop_t *h;
	hq_state_t state;
	dial_t *next; /* while SERVER */
	stream_t *s;  /* after */
	dial_opts_t o;
	target_t t;
	dial_cb cb;
	dgram_cb fcb; /* a UDP ASSOCIATE: the flow's callback instead of cb */
	void (*bound)(void *ud, const target_t *addr); /* a BIND */
	int replies;                                   /* a BIND's, so far */
	void *ud;
	/* the target failed, not the hop: the server's reply said it could
	 * not reach it, or it is one this hop cannot carry (SOCKS4 and IPv6) */
	unsigned target_failed : 1;
	size_t len;
	uint8_t buf[HOP_BUF];
} hop_req_t;

static void hq_set_state(hop_req_t *q, hq_state_t s)
{
	log_trace(q->o.id, "%s hop %s -> %s", kind_names[q->h->kind], hq_state_names[q->state],
	          hq_state_names[s]);
	q->state = s;
}

/* Callbacks for a stream between us and its new owner: nothing is read,
 * and nothing we wrote can still be pending without the owner knowing. */
static void parked_read(stream_t *s, sbuf_t *b)
{
	sbuf_free(b);
}
static void parked_error(stream_t *s, int err) {}
static const stream_cbs_t parked_cbs = {parked_read, NULL, parked_error};

static void hq_finish(hop_req_t *q, stream_t *s, int err)
{
	dial_cb cb = q->cb;
	dgram_cb fcb = q->fcb;
	void *ud = q->ud;

	if (fcb) { /* a UDP ASSOCIATE that failed */
		log_debug(q->o.id, "socks5 hop %s:%u: UDP ASSOCIATE: %s", q->h->d.server.host,
		          q->h->d.server.port, uv_strerror(err));
		stream_close(q->s);
		free(q);
		fcb(ud, NULL, err);
		return;
	}
	if (err < 0) {
		log_debug(q->o.id, "%s hop %s:%u: %s", kind_names[q->h->kind], q->h->d.server.host,
		          q->h->d.server.port, uv_strerror(err));
		stream_close(q->s);
		/* which hop failed, for the one sentence (core/dial.h): its
		 * server could not reach the target, or we could not use it */
		if (q->o.fail) {
			if (!q->h->name[0])
				dialer_name(&q->h->d, q->h->name, sizeof(q->h->name));
			*q->o.fail = (stream_fail_t){q->h->name, !q->target_failed};
		}
	}
	free(q);
	cb(ud, s, err);
}

static int hq_write(hop_req_t *q, const uint8_t *p, size_t n)
{
	int r;

	if (!n)
		return UV_EINVAL;
	r = stream_write_copy(q->s, p, n);
	return r;
}

static int hq_send_request(hop_req_t *q)
{
	socks_hop_t *h = q->h;
	struct sockaddr_storage ss;
	socks_addr_t a;
	uint8_t out[SOCKS4_REQ_MAX > SOCKS5_REQ_MAX ? SOCKS4_REQ_MAX : SOCKS5_REQ_MAX];
	size_t n;

	hq_set_state(q, HQ_REPLY);
	if (q->fcb) { /* where we send from is unknown here: 0.0.0.0:0 */
		memset(&a, 0, sizeof(a));
		a.atyp = SOCKS5_ATYP_IPV4;
		n = socks5_request_encode(out, sizeof(out), SOCKS_CMD_UDP, &a);
		return hq_write(q, out, n);
	}
	if (h->kind == HOP_SOCKS5) {
		if (socks_addr_set_host(&a, q->t.host, q->t.port) < 0)
			return UV_EINVAL;
		n = socks5_request_encode(out, sizeof(out),
		                          q->bound ? SOCKS_CMD_BIND : SOCKS_CMD_CONNECT, &a);
		return hq_write(q, out, n);
	}
	if (target_is_ip(&q->t, &ss)) {
		if (ss.ss_family != AF_INET) {
			q->target_failed = 1;
			return UV_EAFNOSUPPORT; /* SOCKS4 has no IPv6 */
		}
		n = socks4_request_encode(out, sizeof(out), SOCKS_CMD_CONNECT, q->t.port,
		                          (uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr,
		                          h->user, NULL);
	} else if (h->kind == HOP_SOCKS4A) {
		n = socks4_request_encode(out, sizeof(out), SOCKS_CMD_CONNECT, q->t.port, NULL,
		                          h->user, q->t.host);
	} else {
		q->target_failed = 1;
		return UV_EAFNOSUPPORT; /* socks4:// cannot carry names */
	}
	return hq_write(q, out, n);
}

/* The reply is complete: hand the stream on with what followed it. */
static void hq_connected(hop_req_t *q, size_t used, sbuf_t *rest)
{
	stream_t *s = q->s;
	size_t extra = q->len - used + (rest ? rest->len : 0);
	sbuf_t *first = NULL;

	stream_read_stop(s);
	stream_set_cbs(s, &parked_cbs, NULL);
	if (extra) {
		first = sbuf_new(extra);
		memcpy(first->data, q->buf + used, q->len - used);
		if (rest)
			memcpy(first->data + (q->len - used), sbuf_ptr(rest), rest->len);
		first->len = (uint32_t)extra;
	}
	sbuf_free(rest);
	q->s = NULL;
	hq_finish(q, prebuf_wrap(q->h->d.loop, s, first), 0);
}

/* ---- a UDP association ---- */

typedef struct sflow {
	dgram_t f;
	stream_t *ctl;  /* the TCP connection the association lives with */
	dgram_t *relay; /* through the hop before this one */
	target_t to;    /* the server's relay */
} sflow_t;

static int sf_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	sflow_t *sf = (sflow_t *)f;
	uint8_t hdr[SOCKS5_UDP_HDR_MAX];
	socks_addr_t a;
	size_t hl;

	if (socks_addr_set_host(&a, dst->host, dst->port) < 0 ||
	    !(hl = socks5_udp_encode(hdr, sizeof(hdr), &a))) {
		dgram_drop(f, DGRAM_DROP_BAD, b);
		return UV_EINVAL;
	}
	if (b->off < hl) { /* no headroom: a chunk with some */
		sbuf_t *nb = dgram_buf(sbuf_ptr(b), b->len);
		sbuf_free(b);
		b = nb;
	}
	b->off -= (uint32_t)hl;
	b->len += (uint32_t)hl;
	memcpy(sbuf_ptr(b), hdr, hl);
	f->sent++;
	return dgram_send(sf->relay, &sf->to, b);
}

static void sf_close(dgram_t *f)
{
	sflow_t *sf = (sflow_t *)f;

	dgram_close(sf->relay);
	stream_close(sf->ctl);
	free(sf);
}

static const dgram_ops_t sf_ops = {"socks5-udp", sf_send, sf_close};

/* From the relay: strip the SOCKS header, the source is what it names. */
static void sf_relay_recv(dgram_t *in, const struct sockaddr *src, sbuf_t *b)
{
	sflow_t *sf = in->data;
	struct sockaddr_storage ss;
	socks5_udp_hdr_t h;
	size_t used;

	if (socks5_udp_parse(sbuf_ptr(b), b->len, &h, &used) != SOCKS_OK || h.frag ||
	    socks_addr_to_sa(&h.dst, &ss) < 0) {
		dgram_drop(&sf->f, DGRAM_DROP_BAD, b);
		return;
	}
	sbuf_consume(b, used);
	dgram_deliver(&sf->f, (struct sockaddr *)&ss, b);
}

static void sf_relay_error(dgram_t *in, int err)
{
	dgram_fail(&((sflow_t *)in->data)->f, err);
}

static const dgram_cbs_t sf_relay_cbs = {sf_relay_recv, sf_relay_error, NULL};

/* The TCP connection: nothing is expected on it; its end ends the flow. */
static void sf_ctl_read(stream_t *s, sbuf_t *b)
{
	sflow_t *sf = s->data;

	if (b) {
		sbuf_free(b);
		return;
	}
	dgram_fail(&sf->f, UV_ECONNRESET);
}

static void sf_ctl_error(stream_t *s, int err)
{
	dgram_fail(&((sflow_t *)s->data)->f, err);
}

static const stream_cbs_t sf_ctl_cbs = {sf_ctl_read, NULL, sf_ctl_error};

/* UDP ASSOCIATE granted: the relay is bnd (the server's own address when
 * it names none). */
static void hq_associated(hop_req_t *q, const socks_addr_t *bnd)
{
	sflow_t *sf = calloc(1, sizeof(*sf));
	dgram_cb fcb = q->fcb;
	void *ud = q->ud;
	char host[256];
	struct sockaddr_storage ss;

	if (!sf)
		abort();
	dgram_init(&sf->f, &sf_ops, q->o.id);
	if (bnd->atyp != SOCKS5_ATYP_DOMAIN && socks_addr_to_sa(bnd, &ss) == 0 &&
	    sockaddr_is_any((struct sockaddr *)&ss))
		target_set(&sf->to, q->h->d.server.host, bnd->port);
	else {
		socks_addr_host(bnd, host, sizeof(host));
		target_set(&sf->to, host, bnd->port);
	}
	log_debug(q->o.id, "socks5 hop %s:%u: UDP relay at %s:%u", q->h->d.server.host,
	          q->h->d.server.port, sf->to.host, sf->to.port);
	sf->ctl = q->s;
	q->s = NULL;
	stream_set_cbs(sf->ctl, &sf_ctl_cbs, sf);
	sf->relay = dgram_open_next(&q->h->d, &q->o, &sf_relay_cbs, sf);
	sf->f.inner = sf->relay;
	free(q);
	fcb(ud, &sf->f, 0);
}

/* One parsing pass; returns 1 when more bytes are needed, 0 when the
 * request finished (q is gone). */
static int hq_parse(hop_req_t *q, sbuf_t *rest)
{
	socks_hop_t *h = q->h;
	uint8_t out[SOCKS5_USERPASS_MAX], v;
	socks5_reply_t rp;
	socks_res_t res = SOCKS_ERROR;
	size_t used = 0;
	int r;

	switch (q->state) {
	case HQ_METHOD:
		res = socks5_method_parse(q->buf, q->len, &v, &used);
		if (res != SOCKS_OK)
			break;
		if (v == SOCKS5_METHOD_USERPASS && h->user) {
			hq_set_state(q, HQ_AUTH);
			r = hq_write(q, out,
			             socks5_userpass_encode(out, sizeof(out), h->user, h->pass));
		} else if (v == SOCKS5_METHOD_NONE) {
			r = hq_send_request(q);
		} else {
			log_info(q->o.id, "socks5 hop %s:%u: %s", h->d.server.host,
			         h->d.server.port,
			         v == SOCKS5_METHOD_NOACCEPT
			             ? "server refuses our authentication methods"
			             : "server chose a method we did not offer");
			r = UV_EACCES;
		}
		goto next;
	case HQ_AUTH:
		res = socks5_auth_status_parse(q->buf, q->len, &v, &used);
		if (res != SOCKS_OK)
			break;
		if (v != 0) {
			log_info(q->o.id, "socks5 hop %s:%u: authentication failed",
			         h->d.server.host, h->d.server.port);
			r = UV_EACCES;
		} else {
			r = hq_send_request(q);
		}
		goto next;
	case HQ_REPLY:
		if (h->kind == HOP_SOCKS5) {
			res = socks5_reply_parse(q->buf, q->len, &rp, &used);
			v = rp.rep;
			r = socks5_err_from_rep(v);
		} else {
			res = socks4_reply_parse(q->buf, q->len, &v, &used);
			r = v == SOCKS4_REP_GRANTED ? 0 : UV_ECONNREFUSED;
		}
		if (res != SOCKS_OK)
			break;
		if (r < 0) {
			log_debug(q->o.id, "%s hop %s:%u: reply 0x%02x (%s)", kind_names[h->kind],
			          h->d.server.host, h->d.server.port, v,
			          h->kind == HOP_SOCKS5 ? socks5_rep_str(v) : "rejected");
			sbuf_free(rest);
			q->target_failed = 1;
			hq_finish(q, NULL, r);
			return 0;
		}
		if (q->bound) {
			char host[256];
			target_t at;
			socks_addr_host(&rp.bnd, host, sizeof(host));
			target_set(&at, host, rp.bnd.port);
			q->bound(q->ud, &at);
			if (++q->replies == 1) { /* the second comes when the peer does */
				memmove(q->buf, q->buf + used, q->len - used);
				q->len -= used;
				if (q->len || (rest && rest->len))
					return hq_parse(q, rest);
				sbuf_free(rest);
				return 1;
			}
		}
		sbuf_free(q->fcb ? rest : NULL);
		if (q->fcb)
			hq_associated(q, &rp.bnd);
		else
			hq_connected(q, used, rest);
		return 0;
	default:
		break;
	}
	if (res == SOCKS_NEED_MORE && q->len < sizeof(q->buf) && !(rest && rest->len))
		return 1;
	sbuf_free(rest);
	hq_finish(q, NULL, UV_EPROTO);
	return 0;
next:
	/* The server waits for us: nothing may follow its message. */
	if (r == 0 && (used != q->len || (rest && rest->len)))
		r = UV_EPROTO;
	sbuf_free(rest);
	q->len = 0;
	if (r < 0) {
		hq_finish(q, NULL, r);
		return 0;
	}
	return 1;
}

static void hq_read(stream_t *s, sbuf_t *b)
{
	hop_req_t *q = s->data;
	size_t n;

	if (!b) {
		hq_finish(q, NULL, q->state == HQ_AUTH ? UV_EACCES : UV_EPROTO);
		return;
	}
	n = b->len < sizeof(q->buf) - q->len ? b->len : sizeof(q->buf) - q->len;
	memcpy(q->buf + q->len, sbuf_ptr(b), n);
	q->len += n;
	sbuf_consume(b, n);
	if (b->len) {
		(void)hq_parse(q, b);
	} else {
		sbuf_free(b);
		(void)hq_parse(q, NULL);
	}
}

static void hq_error(stream_t *s, int err)
{
	hop_req_t *q = s->data;

	hq_finish(q, NULL, err);
}

static const stream_cbs_t hq_cbs = {hq_read, NULL, hq_error};

static void hq_server(void *ud, stream_t *s, int err)
{
	hop_req_t *q = ud;
	uint8_t out[4], methods[2] = {SOCKS5_METHOD_NONE, SOCKS5_METHOD_USERPASS};
	int r;

	q->next = NULL;
	if (err < 0) {
		hq_finish(q, NULL, err);
		return;
	}
	q->s = s;
	stream_set_cbs(s, &hq_cbs, q);
	if (q->h->kind == HOP_SOCKS5) {
		hq_set_state(q, HQ_METHOD);
		r = hq_write(q, out,
		             socks5_greeting_encode(out, sizeof(out), methods, q->h->user ? 2 : 1));
	} else {
		r = hq_send_request(q);
	}
	if (r < 0) {
		hq_finish(q, NULL, r);
		return;
	}
	stream_read_start(s);
}

/* A request (t NULL: a UDP ASSOCIATE for a datagram flow). */
static dial_t *hop_request(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                           dgram_cb fcb, void *ud)
{
	hop_req_t *q = calloc(1, sizeof(*q));

	if (!q)
		abort();
	q->h = (socks_hop_t *)d;
	q->o = *o;
	q->o.acl = NULL; /* see the head comment */
	if (t)
		q->t = *t;
	q->cb = cb;
	q->fcb = fcb;
	q->ud = ud;
	q->next = dial_next(d, &q->o, hq_server, q);
	if (!q->next) {
		free(q);
		return NULL;
	}
	return (dial_t *)q;
}

static dial_t *hop_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud)
{
	return hop_request(d, t, o, cb, NULL, ud);
}

static dial_t *hop_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	return hop_request(d, NULL, o, NULL, cb, ud);
}

static dial_t *hop_bind(dialer_t *d, const target_t *t, const dial_opts_t *o,
                        void (*bound)(void *ud, const target_t *addr), dial_cb cb, void *ud)
{
	hop_req_t *q = (hop_req_t *)hop_request(d, t, o, cb, NULL, ud);

	if (q)
		q->bound = bound;
	return (dial_t *)q;
}

static void hop_cancel(dialer_t *d, dial_t *req)
{
	hop_req_t *q = (hop_req_t *)req;

	if (q->next)
		dial_next_cancel(d, q->next);
	stream_close(q->s);
	free(q);
}

static void hop_free(dialer_t *d)
{
	socks_hop_t *h = (socks_hop_t *)d;

	if (h->pass)
		explicit_bzero(h->pass, strlen(h->pass));
	free(h->user);
	free(h->pass);
	free(h);
}

static const dialer_ops_t socks5_hop_ops = {.scheme = "socks5",
                                            .dial = hop_dial,
                                            .cancel = hop_cancel,
                                            .free = hop_free,
                                            .dgram = hop_dgram,
                                            .dgram_cancel = hop_cancel,
                                            .bind = hop_bind,
                                            .caps = HOP_DGRAM_NEXT};
static const dialer_ops_t socks4_hop_ops = {
    .scheme = "socks4", .dial = hop_dial, .cancel = hop_cancel, .free = hop_free};
static const dialer_ops_t socks4a_hop_ops = {
    .scheme = "socks4a", .dial = hop_dial, .cancel = hop_cancel, .free = hop_free};

static char *xstrdup(const char *s)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		abort();
	return p;
}

static int hop_new(hop_kind_t kind, uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out,
                   char *err, size_t errlen)
{
	const char *name = kind_names[kind];
	socks_hop_t *h;

	if (!u->host[0]) {
		snprintf(err, errlen, "-F %s://: the server's host is missing (%s://HOST:PORT)",
		         name, name);
		return -EINVAL;
	}
	if (u->port == 0) {
		snprintf(err, errlen, "-F %s://%s: port 0 is not a port", name, u->host);
		return -EINVAL;
	}
	if ((u->user && (!u->user[0] || strlen(u->user) > 255)) ||
	    (u->pass && strlen(u->pass) > 255)) {
		snprintf(err, errlen,
		         "-F %s://%s: user name must be 1 to 255 bytes, password at most 255", name,
		         u->host);
		return -EINVAL;
	}
	if (kind != HOP_SOCKS5 && u->pass) {
		snprintf(err, errlen, "-F %s://%s: SOCKS4 has no passwords (a user name only)",
		         name, u->host);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	h->kind = kind;
	h->d.ops = kind == HOP_SOCKS5   ? &socks5_hop_ops
	           : kind == HOP_SOCKS4 ? &socks4_hop_ops
	                                : &socks4a_hop_ops;
	h->d.next = next;
	h->d.loop = loop;
	if (target_set(&h->d.server, u->host, (uint16_t)(u->port > 0 ? u->port : 1080)) < 0) {
		free(h);
		snprintf(err, errlen, "-F %s://: bad host", name);
		return -EINVAL;
	}
	h->user = xstrdup(u->user);
	h->pass = xstrdup(u->pass);
	if (h->user && !h->pass && kind == HOP_SOCKS5)
		h->pass = xstrdup("");
	*out = &h->d;
	return 0;
}

int socks5_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                   size_t errlen)
{
	return hop_new(HOP_SOCKS5, loop, u, next, out, err, errlen);
}

int socks4_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                   size_t errlen)
{
	return hop_new(HOP_SOCKS4, loop, u, next, out, err, errlen);
}

int socks4a_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                    size_t errlen)
{
	return hop_new(HOP_SOCKS4A, loop, u, next, out, err, errlen);
}
