/* socks_bind: SOCKS5 BIND (RFC 1928) for the SOCKS front end (socks.c).
 *
 * The first reply names where the peer is to connect: a socket listening
 * on this host where the chain is direct, or, through a chain, its last
 * hop's server (dialer_ops_t.bind: a socks5 hop), or a ws, wss or sctp
 * hop's server through a reverse forward's claim of one connection
 * (core/reverse.h, revbind: a port of its reverse= allowance).  The
 * second reply names who connected, and the relay starts.  While the peer
 * is awaited (bind-timeout=, 60 s) the client is read into k->early; then
 * the connection closes, and with it the claim.
 */
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/reverse.h"
#include "core/tcp.h"
#include "front/socks_priv.h"
#include "wire/socks_proto.h"

/* ---- BIND ---- */

/* for the peer to connect (bind-timeout=) */
static uint64_t bind_wait_ms(const socks_conn_t *k)
{
	return ((const socks_front_t *)k->c->l->front)->bind_ms;
}

static void sk_bind_conn(uv_stream_t *srv, int status)
{
	socks_conn_t *k = srv->data;
	conn_t *c = k->c;
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	socks_addr_t bnd;
	char pstr[64];
	stream_t *s;

	if (status < 0 || tcp_stream_accept(srv, c->id, &s) < 0)
		return;
	if (uv_tcp_getpeername(tcp_stream_handle(s), (struct sockaddr *)&peer, &plen) < 0) {
		stream_close(s);
		return;
	}
	sockaddr_unmap(&peer);
	sockaddr_str((struct sockaddr *)&peer, pstr, sizeof(pstr));
	if ((k->bind_from.ss_family &&
	     !sockaddr_same_ip((struct sockaddr *)&peer, (struct sockaddr *)&k->bind_from)) ||
	    !acl_permits(&c->l->targets, (struct sockaddr *)&peer)) {
		log_info(c->id, "socks5 BIND: %s is not the peer it was for; refused", pstr);
		stream_reset(s);
		return;
	}
	log_info(c->id, "socks5 BIND: %s connected", pstr);
	stream_read_stop(c->client);
	uv_close((uv_handle_t *)k->bind_srv, (uv_close_cb)free);
	k->bind_srv = NULL;
	conn_set_deadline(c, 0);
	sk_set_state(k, SK_DONE);
	c->up = s;
	socks_addr_from_sa(&bnd, (struct sockaddr *)&peer);
	sk_reply_relay(k, &bnd);
}

/* While the peer is awaited the client is read: bytes it sends early wait
 * for the peer (at most SK_BUF: then it is not read), its close ends it. */
static void sk_bind_read(stream_t *s, sbuf_t *b)
{
	socks_conn_t *k = s->data;

	if (!b) {
		sk_set_state(k, SK_DONE);
		conn_close(k->c, "client closed while BIND waited");
		return;
	}
	sbufq_push(&k->early, b);
	if (k->early.bytes >= SK_BUF)
		stream_read_stop(s);
}

static void sk_bind_error(stream_t *s, int err)
{
	socks_conn_t *k = s->data;

	sk_set_state(k, SK_DONE);
	conn_close(k->c, "client error while BIND waited");
}

static const stream_cbs_t sk_bind_cbs = {sk_bind_read, NULL, sk_bind_error};

/* The hop's server answered: where it listens (the first reply), then
 * who connected (kept for the second, sent with the relay). */
static void sk_hop_bound(void *ud, const target_t *addr)
{
	socks_conn_t *k = ud;
	conn_t *c = k->c;
	uint8_t out[SOCKS5_REQ_MAX];
	char a[300];
	socks_addr_t bnd;

	k->bind_addr = *addr;
	if (k->bind_replied)
		return;
	k->bind_replied = 1;
	target_str(addr, a, sizeof(a));
	log_info(c->id, "socks5 BIND from %s: the hop's server listens on %s", c->peer_str, a);
	if (socks_addr_set_host(&bnd, addr->host, addr->port) < 0 ||
	    sk_send(k, out, socks5_reply_encode(out, sizeof(out), SOCKS5_REP_OK, &bnd)) < 0)
		return;
	conn_set_deadline(c, bind_wait_ms(k));
	stream_set_cbs(c->client, &sk_bind_cbs, k);
	stream_read_start(c->client);
}

static void sk_hop_bind_done(void *ud, stream_t *s, int err)
{
	socks_conn_t *k = ud;
	conn_t *c = k->c;
	socks_addr_t bnd;
	char a[300];

	k->bind_req = NULL;
	if (err < 0 && !k->bind_replied) {
		sk_refuse5(k, socks5_rep_from_err(err), "BIND through the hop failed");
		return;
	}
	if (err < 0) {
		log_info(c->id, "socks5 BIND through the hop: %s", uv_strerror(err));
		sk_set_state(k, SK_DONE);
		conn_close(c, "BIND failed");
		return;
	}
	target_str(&k->bind_addr, a, sizeof(a));
	log_info(c->id, "socks5 BIND: %s connected (through the hop)", a);
	stream_read_stop(c->client);
	conn_set_deadline(c, 0);
	sk_set_state(k, SK_DONE);
	c->up = s;
	if (socks_addr_set_host(&bnd, k->bind_addr.host, k->bind_addr.port) < 0)
		memset(&bnd, 0, sizeof(bnd)), bnd.atyp = SOCKS5_ATYP_IPV4;
	sk_reply_relay(k, &bnd);
}

/* A revbind's answer; after an error it is gone. */
static void sk_rev_done(void *ud, stream_t *s, int err)
{
	socks_conn_t *k = ud;

	if (err < 0)
		k->bind_rev = NULL;
	sk_hop_bind_done(ud, s, err);
}

/* Through a chain, its last hop's server listens (a socks5 hop asks its
 * server for a BIND); a hop that cannot is refused (7): a peer reaching
 * this host would go around the chain. */
static void sk_bind_hop(socks_conn_t *k, dialer_t *d)
{
	conn_t *c = k->c;
	dial_opts_t o = {.id = c->id, .acl = &c->l->targets, .peer = (struct sockaddr *)&c->peer};

	if (!d->ops->bind && d->ops->reverse && !(dialer_caps(d) & HOP_PACKETS)) {
		/* ws, wss, sctp: the hop's server claims a port for one connection */
		k->bind_rev = revbind_start(d, &k->target, c->id, sk_hop_bound, sk_rev_done, k);
		if (!k->bind_rev)
			sk_refuse5(k, SOCKS5_REP_FAIL, "BIND through the hop could not start");
		return;
	}
	if (!d->ops->bind) {
		sk_refuse5(k, SOCKS5_REP_CMD_UNSUPP,
		           "SOCKS5 BIND through this chain is not supported: its last hop cannot "
		           "listen (socks5, ws, wss and sctp hops can; the peer must never reach "
		           "this host around the chain)");
		return;
	}
	k->bind_hop = d;
	k->bind_req = d->ops->bind(d, &k->target, &o, sk_hop_bound, sk_hop_bind_done, k);
	if (!k->bind_req)
		sk_refuse5(k, SOCKS5_REP_FAIL, "BIND through the hop could not start");
}

/* Listen where the client reached us, port chosen by the system; the
 * first reply names it.  The peer has bind-timeout= to come. */
void sk_bind(socks_conn_t *k)
{
	conn_t *c = k->c;
	struct sockaddr_storage local;
	int len = sizeof(local), r;
	socks_addr_t bnd;
	uint8_t out[SOCKS5_REQ_MAX];
	char a[64];

	if (k->ver != 5) {
		sk_refuse(k, out,
		          socks4_reply_encode(out, sizeof(out), SOCKS4_REP_REJECTED, 0, NULL),
		          "SOCKS4 BIND is not supported");
		return;
	}
	if (conn_chain(c)->next) {
		sk_bind_hop(k, conn_chain(c));
		return;
	}
	if (stream_addr(c->client, 0, &local) < 0)
		memcpy(&local, &c->l->bind, sizeof(local));
	sockaddr_set_port((struct sockaddr *)&local, 0);
	if (!(k->bind_srv = malloc(sizeof(*k->bind_srv))))
		abort();
	uv_tcp_init(c->l->loop, k->bind_srv);
	k->bind_srv->data = k;
	if ((r = uv_tcp_bind(k->bind_srv, (struct sockaddr *)&local, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)k->bind_srv, 4, sk_bind_conn)) < 0 ||
	    (r = uv_tcp_getsockname(k->bind_srv, (struct sockaddr *)&local, &len)) < 0) {
		log_info(c->id, "socks5 BIND: %s", uv_strerror(r));
		sk_refuse5(k, SOCKS5_REP_FAIL, "BIND could not listen");
		return;
	}
	sockaddr_str((struct sockaddr *)&local, a, sizeof(a));
	log_info(c->id, "socks5 BIND from %s: listening on %s", c->peer_str, a);
	socks_addr_from_sa(&bnd, (struct sockaddr *)&local);
	if (sk_send(k, out, socks5_reply_encode(out, sizeof(out), SOCKS5_REP_OK, &bnd)) < 0)
		return;
	conn_set_deadline(c, bind_wait_ms(k));
	stream_set_cbs(c->client, &sk_bind_cbs, k);
	stream_read_start(c->client);
}
