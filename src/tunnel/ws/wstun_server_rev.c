/* wstun_server_rev: the reverse forwards' server side of the WebSocket
 * tunnel (LISTEN, ACCEPT, JOIN, REFUSE; LISTEN_UDP and a UDP claim's
 * DGRAMs; core/reverse.h's revsrv holds the public listeners).
 * wstun_server.c reads the records and calls here.
 */
#include <stdio.h>
#include <string.h>

#include "core/conn.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/reverse.h"
#include "tunnel/ws/wstun.h"
#include "tunnel/ws/wstun_server_priv.h"
#include "wire/socks_proto.h"
#include "wire/wire_addr.h"

/* ---- reverse forwards: LISTEN, ACCEPT, JOIN, REFUSE ---- */

static void send_fail(wstun_t *t, uint8_t code, const char *msg)
{
	uint8_t body[1 + 160];
	size_t n = strlen(msg) > 160 ? 160 : strlen(msg);

	body[0] = code;
	memcpy(body + 1, msg, n);
	wstun_send_ctl(t, WSTUN_REC_OPEN_FAIL, body, 1 + n);
}

static void rev_announce(void *ud, uint64_t conn, const char *peer)
{
	wconn_t *w = ud;
	uint8_t body[WSTUN_CONN_ID + WSTUN_PEER_MAX];

	wstun_send_ctl(w->t, WSTUN_REC_ACCEPT, body,
	               wstun_conn_encode(conn, peer, body, sizeof(body)));
}

/* A datagram from a UDP claim's public peer: to the client on the claim. */
static void rev_dgram(void *ud, const target_t *peer, sbuf_t *b)
{
	wconn_t *w = ud;
	int r = wstun_send_dgram(w->t, peer, b);

	if (r < 0)
		dgram_drops[dgram_drop_why(r)]++;
}

static const revsrv_cbs_t rev_cbs = {rev_announce, rev_dgram};

/* A UDP claim's DGRAM: the client's answer to a public peer, which only a
 * peer with a live flow gets. */
void wsrv_rev_dgram(wconn_t *w, const uint8_t *body, size_t len)
{
	const uint8_t *data;
	size_t dlen;
	target_t t;

	if (wstun_dgram_parse(body, len, &t, &data, &dlen) < 0) {
		dgram_drops[DGRAM_DROP_BAD]++;
		return;
	}
	revsrv_send(w->rev, &t, data, dlen);
}

/* A LISTEN: the operator's reverse= and the per-key cap decide; the
 * claim lives as long as this WebSocket.  Claims belong to the key, not
 * to this listener: the key's replay store, one per key in the process,
 * is their owner, so reverse-claims counts the key's claims on every
 * listener (ws and wss) and a JOIN finds its connection on any of them. */
void wsrv_rev_listen(wconn_t *w, int udp, const uint8_t *body, size_t len)
{
	wsrv_t *s = w->srv;
	conn_t *c = w->c;
	target_t b;
	char why[200], who[120];
	uint8_t ok[1 + 255 + 2];
	int r, n;

	if (wire_listen_parse(body, len, &b) < 0) {
		log_info(c->id, "ws tunnel: bad LISTEN record");
		conn_close(c, "protocol error");
		return;
	}
	snprintf(who, sizeof(who), "%s, conn %llu", c->peer_str, (unsigned long long)c->id);
	r = udp ? revsrv_claim_udp(c->l, s->replay, &s->allow, s->rev_claims, &b, who,
	                           s->rev_udp_idle_ms, s->rev_udp_flows, &rev_cbs, w, &w->rev, why,
	                           sizeof(why))
	        : revsrv_claim(c->l, s->replay, &s->allow, s->rev_claims, &b, who, &rev_cbs, w,
	                       &w->rev, why, sizeof(why));
	w->rev_udp = udp && !r;
	if (r == 0) {
		revsrv_bound(w->rev, &b);
		n = wstun_open_encode(&b, NULL, 0, ok, sizeof(ok));
		wstun_send_ctl(w->t, WSTUN_REC_LISTEN_OK, ok, n > 0 ? (size_t)n : 0);
		conn_set_deadline(c, 0); /* it lives while the WebSocket does */
		return;
	}
	if (r != UV_ESHUTDOWN) { /* draining: the client claims from the next server */
		s->rev_refused++;
		log_warn(c->id, "ws tunnel: reverse listener refused to %s: %s", c->peer_str, why);
	}
	send_fail(w->t, r == UV_EACCES ? SOCKS5_REP_NOT_ALLOWED : SOCKS5_REP_FAIL, why);
	conn_close(c, r == UV_ESHUTDOWN ? "reverse listener refused: shutting down"
	                                : "reverse listener refused");
}

static void joined_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len) {}

/* A JOIN: this WebSocket carries a waiting public connection from now on;
 * the claim's relay owns it, the conn goes. */
void wsrv_rev_join(wconn_t *w, const uint8_t *body, size_t len)
{
	conn_t *c = w->c;
	uint64_t conn;
	revsrv_t *rs;
	stream_t *ws;

	if (wstun_conn_parse(body, len, &conn, NULL, 0) < 0 ||
	    !(rs = revsrv_find(w->srv->replay, conn))) {
		log_info(c->id, "ws tunnel: JOIN for no waiting connection");
		conn_close(c, "protocol error");
		return;
	}
	ws = c->client;
	c->client = NULL;
	wstun_set_owner(w->t, joined_ctl, NULL);
	revsrv_join(rs, conn, ws, c->l->idle_timeout_ms);
	conn_close(c, "joined a reverse connection");
}

void wsrv_rev_refuse(wconn_t *w, const uint8_t *body, size_t len)
{
	uint64_t conn;

	if (wstun_conn_parse(body, len, &conn, NULL, 0) < 0) {
		conn_close(w->c, "protocol error");
		return;
	}
	revsrv_refuse(w->rev, conn);
}
