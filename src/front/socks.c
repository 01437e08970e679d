/* socks: the SOCKS4/4a/5 front end (see socks.h; wire formats in
 * socks_proto.c, UDP relay in socks_udp.c, BIND in socks_bind.c, hops in
 * socks_hop.c).
 *
 * One socks_conn_t per client, hung on c->front and freed with the conn.
 * Its states:
 *
 *   HELLO    the first message: a SOCKS5 greeting (first byte 5) or a whole
 *            SOCKS4/4a request (first byte 4)
 *   AUTH     SOCKS5 RFC 1929 username/password
 *   REQUEST  SOCKS5 request
 *   DIALING  conn_dial() in flight, the client is not read; or, for a
 *            BIND (RFC 1928), the first reply sent and a socket listening
 *            for the one connection from DST.ADDR, which the second reply
 *            names before the relay starts.  BIND is served only where the
 *            chain is direct: a peer reaching this host through a socket
 *            of its own would go around the chain's hops.
 *   UDP      an UDP association lives as long as the control connection
 *   DONE     reply sent; the conn relays (success) or lingers and closes
 *
 * Handshake bytes collect in buf (SK_BUF bytes: more is an error).  A client
 * may pipeline (greeting, auth, request and even its first data in one
 * segment); whatever follows the request is kept in `early` and written to
 * the target before the relay starts.  Error replies go out through
 * conn_linger(), which closes once they have left.  Wrong credentials
 * (RFC 1929, or a SOCKS4 USERID that must match) count against the client's
 * address (core/authguard.h): the refusal is held for the delay the guard
 * asks for, and a banned address is closed without an answer.
 *
 * With SOCKS_PASS_CRED (socks_cred_front_ops, for `sluice pt`) the
 * credentials are data for the chain, not a password: any RFC 1929 user
 * name and password, or SOCKS4 USERID, is accepted, kept as received and
 * given to the chain's first dialer in dial_opts_t.cred.  UDP ASSOCIATE,
 * which bypasses the chain, is refused then.
 */
#include "front/socks.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/reverse.h"
#include "core/tcp.h"
#include "core/transport.h"
#include "front/socks_priv.h"
#include "front/socks_udp.h"
#include "wire/socks_proto.h"

static const char *const sk_state_names[] = {"hello", "auth", "request", "dialing", "udp", "done"};

/* Legal transitions: bit n of sk_next[s] allows s -> n. */
#define B(s) (1u << (s))
static const unsigned sk_next[] = {
    [SK_HELLO] = B(SK_AUTH) | B(SK_REQUEST) | B(SK_DIALING) | B(SK_DONE),
    [SK_AUTH] = B(SK_REQUEST) | B(SK_DONE),
    [SK_REQUEST] = B(SK_DIALING) | B(SK_UDP) | B(SK_DONE),
    [SK_DIALING] = B(SK_DONE),
    [SK_UDP] = B(SK_DONE),
    [SK_DONE] = 0,
};
#undef B

void sk_set_state(socks_conn_t *k, sk_state_t s)
{
	if (!(sk_next[k->state] & (1u << s))) {
		log_err(k->c->id, "socks: illegal state change %s -> %s", sk_state_names[k->state],
		        sk_state_names[s]);
		assert(0);
	}
	log_trace(k->c->id, "socks %s -> %s", sk_state_names[k->state], sk_state_names[s]);
	k->state = s;
}

static const char *sk_name(const socks_conn_t *k)
{
	if (k->ver == 4)
		return k->is_4a ? "socks4a" : "socks4";
	return "socks5";
}

static void sk_free(void *p)
{
	socks_conn_t *k = p;

	sbufq_clear(&k->early);
	if (k->bind_srv)
		uv_close((uv_handle_t *)k->bind_srv, (uv_close_cb)free);
	if (k->bind_req)
		k->bind_hop->ops->cancel(k->bind_hop, k->bind_req);
	revbind_free(k->bind_rev);
	if (k->udp)
		socks_udp_free(k->udp);
	explicit_bzero(k->user, sizeof(k->user));
	explicit_bzero(k->pass, sizeof(k->pass));
	free(k);
}

/* Constant time in the contents (lengths are at most 255 and not secret
 * enough to hide). */
static int ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	uint8_t pa[256] = {0}, pb[256] = {0};
	unsigned d = alen != blen;

	memcpy(pa, a, alen < 256 ? alen : 256);
	memcpy(pb, b, blen < 256 ? blen : 256);
	for (size_t i = 0; i < sizeof(pa); i++)
		d |= pa[i] ^ pb[i];
	return d == 0;
}

/* SOCKS_PASS_CRED: keep the credentials for conn_dial (lengths <= 255). */
static void sk_keep_cred(socks_conn_t *k, const char *u, size_t ulen, const char *p, size_t plen)
{
	memcpy(k->user, u, ulen);
	memcpy(k->pass, p, plen);
	k->cred = (dial_cred_t){.user = k->user, .ulen = ulen, .pass = k->pass, .plen = plen};
	k->c->cred = &k->cred;
}

/* The listener's credentials; none when they are passed on. */
static const char *cfg_user(const socks_conn_t *k)
{
	return k->pass_cred ? NULL : k->c->l->url->user;
}
static const char *cfg_pass(const socks_conn_t *k)
{
	return k->pass_cred ? NULL : k->c->l->url->pass;
}
static int cfg_auth(const socks_conn_t *k)
{
	return cfg_user(k) || cfg_pass(k);
}

/* Write a reply; -1 (and the conn is closed) if the client is gone. */
int sk_send(socks_conn_t *k, const uint8_t *p, size_t n)
{
	int r = stream_write_copy(k->c->client, p, n);

	if (r < 0) {
		log_debug(k->c->id, "%s: reply: %s", sk_name(k), uv_strerror(r));
		conn_close(k->c, "client write error");
		return -1;
	}
	return 0;
}

/* Protocol error without a reply. */
static int sk_bad(socks_conn_t *k, const char *why)
{
	log_info(k->c->id, "%s from %s: %s", k->ver ? sk_name(k) : "socks", k->c->peer_str, why);
	sk_set_state(k, SK_DONE);
	conn_close(k->c, why);
	return STEP_STOP;
}

/* Send a final reply, then close once it is out. */
int sk_refuse(socks_conn_t *k, const uint8_t *p, size_t n, const char *why)
{
	log_info(k->c->id, "%s from %s: %s", sk_name(k), k->c->peer_str, why);
	sk_set_state(k, SK_DONE);
	if (sk_send(k, p, n) == 0)
		conn_linger(k->c, why);
	return STEP_STOP;
}

/* Wrong credentials: the reply goes out when the guard says (conn.h). */
static int sk_refuse_auth(socks_conn_t *k, const uint8_t *p, size_t n, const char *why)
{
	log_info(k->c->id, "%s from %s: %s", sk_name(k), k->c->peer_str, why);
	sk_set_state(k, SK_DONE);
	conn_auth_refuse(k->c, sk_name(k), p, n, why);
	return STEP_STOP;
}

/* A banned address: closed without an answer, the credentials unchecked. */
static int sk_banned(socks_conn_t *k)
{
	sk_set_state(k, SK_DONE);
	conn_close(k->c, "banned");
	return STEP_STOP;
}

int sk_refuse5(socks_conn_t *k, uint8_t rep, const char *why)
{
	uint8_t out[SOCKS5_REQ_MAX];

	return sk_refuse(k, out, socks5_reply_encode(out, sizeof(out), rep, NULL), why);
}

static int sk_refuse4(socks_conn_t *k, const char *why)
{
	uint8_t out[8];

	return sk_refuse(k, out,
	                 socks4_reply_encode(out, sizeof(out), SOCKS4_REP_REJECTED, 0, NULL), why);
}

static void sk_consume(socks_conn_t *k, size_t n)
{
	memmove(k->buf, k->buf + n, k->len - n);
	k->len -= n;
}

/* ---- SOCKS4 / 4a ---- */

static int sk_socks4(socks_conn_t *k)
{
	socks4_request_t req;
	size_t used;
	char ip[16];
	uint8_t out[8];
	int ok;

	switch (socks4_request_parse(k->buf, k->len, &req, &used)) {
	case SOCKS_NEED_MORE:
		return STEP_MORE;
	case SOCKS_ERROR:
		if (k->buf[1] != SOCKS_CMD_CONNECT && k->buf[1] != SOCKS_CMD_BIND)
			return sk_bad(k, "SOCKS4 request with an unknown command");
		return sk_bad(k,
		              "SOCKS4 userid or hostname too long (> 255 bytes) or hostname empty");
	case SOCKS_OK:
		break;
	}
	sk_consume(k, used);
	k->is_4a = req.is_4a;
	if (k->pass_cred)
		sk_keep_cred(k, req.userid, strlen(req.userid), "", 0);
	/* SOCKS4 sends no password: with one configured, it cannot pass.  A
	 * user name alone must match the userid. */
	ok = !cfg_user(k) ||
	     ct_equal(req.userid, strlen(req.userid), cfg_user(k), strlen(cfg_user(k)));
	explicit_bzero(req.userid, sizeof(req.userid));
	if (cfg_pass(k) && cfg_pass(k)[0])
		return sk_refuse4(k, "SOCKS4 refused: this listener requires a password");
	if (cfg_user(k)) {
		if (conn_auth_banned(k->c))
			return sk_banned(k);
		if (!ok)
			return sk_refuse_auth(
			    k, out,
			    socks4_reply_encode(out, sizeof(out), SOCKS4_REP_REJECTED, 0, NULL),
			    "SOCKS4 userid does not match");
		conn_auth_ok(k->c);
	}
	if (req.cmd != SOCKS_CMD_CONNECT)
		return sk_refuse4(k, "SOCKS4 BIND is not supported");
	if (req.is_4a) {
		if (target_set(&k->target, req.host, req.port) < 0)
			return sk_refuse4(k, "bad SOCKS4a hostname");
	} else {
		if (!req.ip[0] && !req.ip[1] && !req.ip[2] && !req.ip[3])
			return sk_refuse4(k, "SOCKS4 request for 0.0.0.0");
		snprintf(ip, sizeof(ip), "%u.%u.%u.%u", req.ip[0], req.ip[1], req.ip[2], req.ip[3]);
		target_set(&k->target, ip, req.port);
	}
	return STEP_GO;
}

/* ---- SOCKS5 ---- */

static int sk_greeting(socks_conn_t *k)
{
	socks5_greeting_t g;
	uint8_t out[2], method;
	size_t used;

	switch (socks5_greeting_parse(k->buf, k->len, &g, &used)) {
	case SOCKS_NEED_MORE:
		return STEP_MORE;
	case SOCKS_ERROR:
		return sk_bad(k, "malformed SOCKS5 greeting (no methods)");
	case SOCKS_OK:
		break;
	}
	sk_consume(k, used);
	if (k->pass_cred && socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS)) {
		method = SOCKS5_METHOD_USERPASS; /* the credentials are wanted */
		k->any_auth = 1;
	} else if (cfg_auth(k))
		method = socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS) ? SOCKS5_METHOD_USERPASS
		                                                         : SOCKS5_METHOD_NOACCEPT;
	else if (socks5_greeting_has(&g, SOCKS5_METHOD_NONE))
		method = SOCKS5_METHOD_NONE;
	else if (socks5_greeting_has(&g, SOCKS5_METHOD_USERPASS)) {
		method = SOCKS5_METHOD_USERPASS;
		k->any_auth = 1; /* nothing configured: any name goes */
	} else
		method = SOCKS5_METHOD_NOACCEPT;
	socks5_method_encode(out, sizeof(out), method);
	if (method == SOCKS5_METHOD_NOACCEPT)
		return sk_refuse(k, out, sizeof(out),
		                 cfg_auth(k)
		                     ? "client does not offer username/password authentication"
		                     : "client offers no acceptable method");
	if (sk_send(k, out, sizeof(out)) < 0)
		return STEP_STOP;
	sk_set_state(k, method == SOCKS5_METHOD_USERPASS ? SK_AUTH : SK_REQUEST);
	return STEP_MORE;
}

static int sk_auth(socks_conn_t *k)
{
	socks5_userpass_t up;
	const char *u = cfg_user(k) ? cfg_user(k) : "", *p = cfg_pass(k) ? cfg_pass(k) : "";
	uint8_t out[2];
	size_t used;
	int ok;

	switch (socks5_userpass_parse(k->buf, k->len, &up, &used)) {
	case SOCKS_NEED_MORE:
		return STEP_MORE;
	case SOCKS_ERROR:
		return sk_bad(k, "malformed RFC 1929 username/password request");
	case SOCKS_OK:
		break;
	}
	sk_consume(k, used);
	if (k->pass_cred)
		sk_keep_cred(k, up.user, up.ulen, up.pass, up.plen);
	if (!k->any_auth && conn_auth_banned(k->c)) {
		explicit_bzero(&up, sizeof(up));
		return sk_banned(k);
	}
	/* Both compared, always, so the time does not tell which was wrong. */
	ok = ct_equal(up.user, up.ulen, u, strlen(u));
	ok &= ct_equal(up.pass, up.plen, p, strlen(p));
	explicit_bzero(&up, sizeof(up));
	if (!ok && !k->any_auth) {
		socks5_auth_status_encode(out, sizeof(out), 0x01);
		return sk_refuse_auth(k, out, sizeof(out), "authentication failed");
	}
	if (!k->any_auth)
		conn_auth_ok(k->c);
	socks5_auth_status_encode(out, sizeof(out), 0x00);
	if (sk_send(k, out, sizeof(out)) < 0)
		return STEP_STOP;
	sk_set_state(k, SK_REQUEST);
	return STEP_MORE;
}

static void sk_udp_read(stream_t *s, sbuf_t *b)
{
	socks_conn_t *k = s->data;

	/* The control connection carries nothing after the reply. */
	if (b) {
		sbuf_free(b);
		return;
	}
	sk_set_state(k, SK_DONE);
	conn_close(k->c, "UDP association ended");
}

static void sk_udp_error(stream_t *s, int err)
{
	socks_conn_t *k = s->data;

	sk_set_state(k, SK_DONE);
	conn_close(k->c, "UDP control connection error");
}

static const stream_cbs_t sk_udp_cbs = {sk_udp_read, NULL, sk_udp_error};

/* The association's flow is up (err 0: reply and watch the control
 * connection) or failed: before the reply, the reply says why; after it,
 * the association is over. */
static void sk_udp_event(void *ud, int err)
{
	socks_conn_t *k = ud;
	conn_t *c = k->c;
	struct sockaddr_storage local;
	socks_addr_t bnd;
	uint8_t out[SOCKS5_REQ_MAX];
	char addr[64];

	if (k->udp_replied) {
		if (err != UV_ETIMEDOUT)
			log_info(c->id, "socks5 UDP association: the chain lost it (%s)",
			         uv_strerror(err));
		sk_set_state(k, SK_DONE);
		conn_close(c,
		           err == UV_ETIMEDOUT ? "UDP association idle" : "UDP association lost");
		return;
	}
	if (err < 0) {
		log_info(c->id, "socks5 UDP ASSOCIATE: %s", uv_strerror(err));
		sk_refuse5(k, socks5_rep_from_err(err), "UDP ASSOCIATE failed");
		return;
	}
	k->udp_replied = 1;
	socks_udp_addr(k->udp, &local);
	socks_addr_from_sa(&bnd, (struct sockaddr *)&local);
	sockaddr_str((struct sockaddr *)&local, addr, sizeof(addr));
	log_info(c->id, "socks5 UDP ASSOCIATE from %s: relay on %s", c->peer_str, addr);
	stream_set_cbs(c->client, &sk_udp_cbs, k);
	if (sk_send(k, out, socks5_reply_encode(out, sizeof(out), SOCKS5_REP_OK, &bnd)) < 0)
		return;
	stream_read_start(c->client);
}

/* UDP ASSOCIATE: a datagram flow through the chain, or, with udp=direct,
 * from this host.  A chain with a hop that cannot carry datagrams is
 * refused (reply 7), never bypassed. */
static int sk_udp(socks_conn_t *k)
{
	conn_t *c = k->c;
	listener_t *l = c->l;
	socks_front_t *sf = l->front;
	dialer_t *via = sf && sf->udp == SOCKS_UDP_DIRECT ? sf->direct : conn_chain(c);
	dial_opts_t o = {.id = c->id, .acl = &l->targets, .peer = (struct sockaddr *)&c->peer};
	struct sockaddr_storage local;
	const dialer_t *b;
	char hop[300], why[512];
	int r;

	if (!sf || sf->udp == SOCKS_UDP_OFF)
		return sk_refuse5(k, SOCKS5_REP_CMD_UNSUPP, "UDP ASSOCIATE is off here (udp=off)");
	if ((b = chain_dgram_blocker(via))) {
		dialer_name(b, hop, sizeof(hop));
		snprintf(why, sizeof(why),
		         "UDP ASSOCIATE refused: the hop %s cannot carry UDP (udp=direct on the "
		         "listener sends it around the chain)",
		         hop);
		return sk_refuse5(k, SOCKS5_REP_CMD_UNSUPP, why);
	}
	/* Bind on the address the client reached us at, so the reply names
	 * an address it can send to. */
	if (stream_addr(c->client, 0, &local) < 0)
		memcpy(&local, &l->bind, sizeof(local));
	/* no datagram either way for idle-timeout ends the association and
	 * its control connection */
	r = socks_udp_new(l->loop, (struct sockaddr *)&local, (struct sockaddr *)&c->peer, via, &o,
	                  l->connect_timeout_ms, l->idle_timeout_ms, sk_udp_event, k, &k->udp);
	if (r < 0) {
		log_info(c->id, "socks5 UDP ASSOCIATE: %s", uv_strerror(r));
		return sk_refuse5(k, socks5_rep_from_err(r), "UDP ASSOCIATE failed");
	}
	conn_handshake_done(c);
	sk_set_state(k, SK_UDP);
	return STEP_STOP; /* the client is not read until the flow is up */
}

static int sk_request(socks_conn_t *k)
{
	socks5_request_t req;
	size_t used;
	char host[256];

	switch (socks5_request_parse(k->buf, k->len, &req, &used)) {
	case SOCKS_NEED_MORE:
		return STEP_MORE;
	case SOCKS_ERROR:
		if (req.rep == SOCKS5_REP_CMD_UNSUPP)
			return sk_refuse5(k, req.rep, "unknown SOCKS5 command");
		if (req.rep == SOCKS5_REP_ATYP_UNSUPP)
			return sk_refuse5(k, req.rep, "unknown SOCKS5 address type");
		if (req.rep)
			return sk_refuse5(k, req.rep, "bad SOCKS5 domain name");
		return sk_bad(k, "malformed SOCKS5 request (wrong version)");
	case SOCKS_OK:
		break;
	}
	sk_consume(k, used);
	switch (req.cmd) {
	case SOCKS_CMD_CONNECT:
		socks_addr_host(&req.dst, host, sizeof(host));
		if (target_set(&k->target, host, req.dst.port) < 0)
			return sk_refuse5(k, SOCKS5_REP_FAIL, "bad SOCKS5 target");
		return STEP_GO;
	case SOCKS_CMD_UDP:
		if (k->pass_cred)
			return sk_refuse5(k, SOCKS5_REP_CMD_UNSUPP,
			                  "UDP ASSOCIATE is not offered to a pluggable transport");
		return sk_udp(k);
	default: /* BIND */
		socks_addr_host(&req.dst, host, sizeof(host));
		if (target_set(&k->target, host, req.dst.port) < 0)
			return sk_refuse5(k, SOCKS5_REP_FAIL, "bad SOCKS5 BIND address");
		if (!target_is_ip(&k->target, &k->bind_from) ||
		    (k->bind_from.ss_family == AF_INET &&
		     !((struct sockaddr_in *)&k->bind_from)->sin_addr.s_addr))
			k->bind_from.ss_family = 0; /* a name or 0.0.0.0: whoever comes */
		k->bind = 1;
		return STEP_GO;
	}
}

/* Parse what buf holds, message after message, as far as it goes. */
static int sk_parse(socks_conn_t *k)
{
	sk_state_t before;
	char why[64];
	int r;

	for (;;) {
		before = k->state;
		switch (k->state) {
		case SK_HELLO:
			if (!k->len)
				return STEP_MORE;
			if (k->buf[0] == SOCKS5_VER && (k->versions & SOCKS_V5)) {
				k->ver = 5;
				r = sk_greeting(k);
			} else if (k->buf[0] == SOCKS4_VER && (k->versions & SOCKS_V4)) {
				k->ver = 4;
				r = sk_socks4(k);
			} else {
				snprintf(why, sizeof(why),
				         "not a SOCKS%s client (first byte 0x%02x)",
				         k->versions == SOCKS_V5   ? "5"
				         : k->versions == SOCKS_V4 ? "4"
				                                   : "",
				         k->buf[0]);
				return sk_bad(k, why);
			}
			break;
		case SK_AUTH:
			r = sk_auth(k);
			break;
		case SK_REQUEST:
			r = sk_request(k);
			break;
		default:
			return STEP_STOP;
		}
		/* MORE with a new state: a message was done, parse the next */
		if (r != STEP_MORE || k->state == before)
			return r;
	}
}

static void sk_dialed(conn_t *c, int err)
{
	socks_conn_t *k = c->front;
	struct sockaddr_storage local;
	socks_addr_t bnd = {.atyp = SOCKS5_ATYP_IPV4};
	uint8_t out[SOCKS5_REQ_MAX];
	size_t n;

	sk_set_state(k, SK_DONE);
	if (err < 0) {
		uint8_t rep = socks5_rep_from_err(err);

		if (k->ver == 4)
			n = socks4_reply_encode(out, sizeof(out), SOCKS4_REP_REJECTED, 0, NULL);
		else
			n = socks5_reply_encode(out, sizeof(out), rep, NULL);
		log_debug(c->id, "%s reply: %s", sk_name(k),
		          k->ver == 4 ? "rejected" : socks5_rep_str(rep));
		if (sk_send(k, out, n) == 0)
			conn_linger(c, "dial failed");
		return;
	}
	/* The bound address, when the upstream is a plain socket. */
	if (stream_addr(c->up, 0, &local) == 0)
		socks_addr_from_sa(&bnd, (struct sockaddr *)&local);
	sk_reply_relay(k, &bnd);
}

/* The success reply naming bnd, the early data, the relay. */
void sk_reply_relay(socks_conn_t *k, const socks_addr_t *bnd_)
{
	conn_t *c = k->c;
	socks_addr_t bnd = *bnd_;
	uint8_t out[SOCKS5_REQ_MAX];
	size_t n;
	sbuf_t *b;
	int err;

	if (k->ver == 4)
		n = socks4_reply_encode(out, sizeof(out), SOCKS4_REP_GRANTED,
		                        bnd.atyp == SOCKS5_ATYP_IPV4 ? bnd.port : 0,
		                        bnd.atyp == SOCKS5_ATYP_IPV4 ? bnd.ip : NULL);
	else
		n = socks5_reply_encode(out, sizeof(out), SOCKS5_REP_OK, &bnd);
	if (sk_send(k, out, n) < 0)
		return;
	while ((b = sbufq_pop(&k->early))) {
		if ((err = stream_write(c->up, b)) < 0) {
			log_debug(c->id, "%s: early data: %s", sk_name(k), uv_strerror(err));
			conn_close(c, "target write error");
			return;
		}
	}
	conn_relay(c);
}

/* The request is complete: keep what follows it and dial. */
static void sk_go(socks_conn_t *k, sbuf_t *rest)
{
	conn_t *c = k->c;
	char t[300];

	stream_read_stop(c->client);
	if (k->len)
		sbufq_push(&k->early, sbuf_from(k->buf, k->len));
	k->len = 0;
	if (rest && rest->len)
		sbufq_push(&k->early, rest);
	else
		sbuf_free(rest);
	target_str(&k->target, t, sizeof(t));
	log_debug(c->id, "%s CONNECT %s%s", sk_name(k), t,
	          k->early.bytes ? " (with early data)" : "");
	sk_set_state(k, SK_DIALING);
	conn_handshake_done(c);
	if (k->bind)
		sk_bind(k);
	else
		conn_dial(c, &k->target, sk_dialed);
}

/* Returns 1 when the handshake goes on and needs more bytes; 0 when the
 * conn went elsewhere (dialing, UDP, closing or even freed). */
static int sk_feed(socks_conn_t *k, sbuf_t *b)
{
	size_t n;
	int r;

	for (;;) {
		n = b->len < sizeof(k->buf) - k->len ? b->len : sizeof(k->buf) - k->len;
		memcpy(k->buf + k->len, sbuf_ptr(b), n);
		k->len += n;
		sbuf_consume(b, n);
		r = sk_parse(k);
		if (r == STEP_GO) {
			sk_go(k, b);
			return 0;
		}
		if (r == STEP_STOP)
			break;
		if (!b->len) {
			sbuf_free(b);
			return 1;
		}
		if (k->len == sizeof(k->buf)) {
			sk_bad(k, "handshake too long");
			break;
		}
	}
	sbuf_free(b);
	return 0;
}

static void sk_read(stream_t *s, sbuf_t *b)
{
	socks_conn_t *k = s->data;

	if (!b) {
		log_debug(k->c->id, "socks: client closed during the handshake (%s)",
		          sk_state_names[k->state]);
		sk_set_state(k, SK_DONE);
		conn_close(k->c, "client closed");
		return;
	}
	(void)sk_feed(k, b);
}

static void sk_error(stream_t *s, int err)
{
	socks_conn_t *k = s->data;

	log_debug(k->c->id, "socks: client error during the handshake: %s", uv_strerror(err));
	sk_set_state(k, SK_DONE);
	conn_close(k->c, "client error");
}

static const stream_cbs_t sk_cbs = {sk_read, NULL, sk_error};

void socks_serve(conn_t *c, sbuf_t *first, unsigned versions)
{
	socks_conn_t *k = calloc(1, sizeof(*k));

	if (!k)
		abort();
	k->c = c;
	k->versions = versions & (SOCKS_V4 | SOCKS_V5);
	k->pass_cred = !!(versions & SOCKS_PASS_CRED);
	c->front = k;
	c->front_free = sk_free;
	stream_set_cbs(c->client, &sk_cbs, k);
	/* the bytes in `first` may end the handshake, or the conn */
	if (!first || sk_feed(k, first))
		stream_read_start(c->client);
}

/* ---- front ends ---- */

static int socks_init_common(listener_t *l, char *err, size_t errlen)
{
	const url_t *u = l->url;

	if ((u->user && strlen(u->user) > 255) || (u->pass && strlen(u->pass) > 255)) {
		snprintf(err, errlen, "-L %s://: user name and password are limited to 255 bytes",
		         u->scheme);
		return -EINVAL;
	}
	if ((u->pass && !u->user) || (u->user && !u->user[0])) {
		snprintf(err, errlen, "-L %s://: a password needs a user name (user:pass@)",
		         u->scheme);
		return -EINVAL;
	}
	return 0;
}

static int parse_udp(void *obj, const char *v, char *err, size_t errlen)
{
	int *mode = obj;

	if (!strcmp(v, "chain"))
		*mode = SOCKS_UDP_CHAIN;
	else if (!strcmp(v, "direct"))
		*mode = SOCKS_UDP_DIRECT;
	else if (!strcmp(v, "off"))
		*mode = SOCKS_UDP_OFF;
	else {
		snprintf(err, errlen, "option 'udp': use chain (default), direct or off");
		return -EINVAL;
	}
	return 0;
}

static const opt_t socks_opt_table[] = {
    OPT_FUNC("udp", parse_udp, "chain", "chain|direct|off",
             "UDP ASSOCIATE: through the -F chain (refused when a hop cannot carry UDP), "
             "from this host around the chain, or refused"),
    OPT_DURATION(socks_front_t, bind_ms, "bind-timeout", "60s",
                 "how long a SOCKS5 BIND waits for its peer to connect; then the client's "
                 "connection is closed and the port (this host's, or the hop server's) is "
                 "released"),
};

/* udp= alone, parsed here; with the relay listeners' options, for docs */
static const opt_schema_t socks_udp_opts = OPT_SCHEMA(NULL, socks_opt_table);
const opt_schema_t socks_listen_opts = OPT_SCHEMA(&listener_relay_opts, socks_opt_table);

int socks_listener_init(listener_t *l, char *err, size_t errlen)
{
	socks_front_t *sf = calloc(1, sizeof(*sf));
	int r;

	if (!sf)
		abort();
	if ((r = opts_parse(&socks_udp_opts, l->url, sf, err, errlen)) < 0) {
		free(sf);
		return r;
	}
	if (sf->udp == SOCKS_UDP_DIRECT)
		sf->direct = direct_dialer_new(l->loop);
	l->front = sf;
	return 0;
}

void socks_listener_free(listener_t *l)
{
	socks_front_t *sf = l->front;

	if (sf)
		chain_free(sf->direct);
	free(sf);
	l->front = NULL;
}

static int socks5_init(listener_t *l, char *err, size_t errlen)
{
	int r = socks_init_common(l, err, errlen);

	return r < 0 ? r : socks_listener_init(l, err, errlen);
}

static int socks4_init(listener_t *l, char *err, size_t errlen)
{
	if (l->url->pass && l->url->pass[0]) {
		snprintf(err, errlen,
		         "-L socks4://: SOCKS4 has no passwords (give a user name only, or use "
		         "socks5://)");
		return -EINVAL;
	}
	return socks_init_common(l, err, errlen);
}

static void socks_on_conn(conn_t *c)
{
	socks_serve(c, NULL, SOCKS_V4 | SOCKS_V5);
}
static void socks5_on_conn(conn_t *c)
{
	socks_serve(c, NULL, SOCKS_V5);
}
static void socks4_on_conn(conn_t *c)
{
	socks_serve(c, NULL, SOCKS_V4);
}
static void socks_cred_on_conn(conn_t *c)
{
	socks_serve(c, NULL, SOCKS_V4 | SOCKS_V5 | SOCKS_PASS_CRED);
}

const front_ops_t socks_front_ops = {
    .workers = 1,
    .relay = 1,
    .scheme = "socks",
    .pac = "SOCKS5",
    .init = socks5_init,
    .on_conn = socks_on_conn,
    .free = socks_listener_free,
};

const front_ops_t socks5_front_ops = {
    .workers = 1,
    .relay = 1,
    .scheme = "socks5",
    .pac = "SOCKS5",
    .init = socks5_init,
    .on_conn = socks5_on_conn,
    .free = socks_listener_free,
};

const front_ops_t socks4_front_ops = {
    .workers = 1,
    .relay = 1,
    .scheme = "socks4",
    .pac = "SOCKS",
    .init = socks4_init,
    .on_conn = socks4_on_conn,
};

const front_ops_t socks_cred_front_ops = {
    .workers = 1,
    .relay = 1,
    .scheme = "socks",
    .init = socks_init_common,
    .on_conn = socks_cred_on_conn,
    .free = socks_listener_free, /* what socks_front_ops' init made */
};

static const transport_scheme_t socks_schemes[] = {
    {.scheme = "socks",
     .listen = &socks_front_ops,
     .listen_doc = {.usage = "socks://[user:pass@]IP:PORT",
                    .about = "SOCKS4, 4a and 5 proxy",
                    .opts = &socks_listen_opts,
                    .pass = 1}},
    {.scheme = "socks5",
     .listen = &socks5_front_ops,
     .hop = socks5_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_REMOTE_DNS,
     .listen_doc = {.usage = "socks5://[user:pass@]IP:PORT",
                    .about = "SOCKS5 proxy (user:pass: RFC 1929)",
                    .opts = &socks_listen_opts,
                    .pass = 1},
     .hop_doc = {.usage = "socks5://[user:pass@]HOST:PORT",
                 .about = "through a SOCKS5 server (names resolved there)",
                 .pass = 1}},
    {.scheme = "socks5h",
     .hop = socks5_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_REMOTE_DNS,
     .hop_doc = {.usage = "socks5h://[user:pass@]HOST:PORT",
                 .about = "the same as socks5://",
                 .pass = 1}},
    {.scheme = "socks4",
     .listen = &socks4_front_ops,
     .hop = socks4_hop_new,
     .hop_caps = HOP_STREAMS,
     .listen_doc = {.usage = "socks4://[user@]IP:PORT",
                    .about = "SOCKS4 and 4a proxy",
                    .opts = &listener_relay_opts},
     .hop_doc = {.usage = "socks4://[user@]HOST:PORT",
                 .about = "through a SOCKS4 server (IPv4 targets only)"}},
    {.scheme = "socks4a",
     .hop = socks4a_hop_new,
     .hop_caps = HOP_STREAMS | HOP_REMOTE_DNS,
     .hop_doc = {.usage = "socks4a://[user@]HOST:PORT", .about = "through a SOCKS4a server"}},
};

const transport_t socks_transport = {
    .name = "socks",
    .summary = "SOCKS4/4a/5 proxy and hops",
    TRANSPORT_SCHEMES(socks_schemes),
};
