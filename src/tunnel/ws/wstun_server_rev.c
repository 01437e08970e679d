/* wstun_server_rev: the reverse forwards' server side of the WebSocket
 * tunnel (LISTEN, ACCEPT, JOIN, REFUSE; core/reverse.h's revsrv holds the
 * public listeners).  wstun_server.c reads the records and calls here.
 */
#include <stdio.h>
#include <string.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/reverse.h"
#include "tunnel/ws/wstun.h"
#include "tunnel/ws/wstun_server_priv.h"
#include "wire/socks_proto.h"

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

static const revsrv_cbs_t rev_cbs = {rev_announce};

/* A LISTEN: the operator's reverse= and the per-key cap decide; the
 * claim lives as long as this WebSocket.  Claims belong to the key, not
 * to this listener: the key's replay store, one per key in the process,
 * is their owner, so reverse-claims counts the key's claims on every
 * listener (ws and wss) and a JOIN finds its connection on any of them. */
void wsrv_rev_listen(wconn_t *w, const uint8_t *body, size_t len)
{
	wsrv_t *s = w->srv;
	conn_t *c = w->c;
	const uint8_t *data;
	size_t dlen;
	target_t b;
	char why[200], who[120];
	uint8_t ok[1 + 255 + 2];
	int r, n;

	if (wstun_open_parse(body, len, &b, &data, &dlen) < 0 || dlen) {
		log_info(c->id, "ws tunnel: bad LISTEN record");
		conn_close(c, "protocol error");
		return;
	}
	if (c->l->stopping) { /* draining: the client claims from the next server */
		send_fail(w->t, SOCKS5_REP_FAIL, "the server is shutting down");
		conn_close(c, "reverse listener refused: shutting down");
		return;
	}
	if (rev_allow_check(&s->allow, &b, why, sizeof(why)) < 0) {
	} else if (revsrv_count(s->replay) >= s->rev_claims) {
		snprintf(
		    why, sizeof(why),
		    "this key holds %llu reverse listeners already (the server's reverse-claims)",
		    (unsigned long long)s->rev_claims);
	} else {
		snprintf(who, sizeof(who), "%s, conn %llu", c->peer_str, (unsigned long long)c->id);
		r = revsrv_listen(c->l, s->replay, &b, who, &rev_cbs, w, &w->rev);
		if (r < 0) {
			snprintf(why, sizeof(why), "cannot listen there: %s", uv_strerror(r));
			s->rev_refused++;
			log_warn(c->id, "ws tunnel: reverse listener refused to %s: %s",
			         c->peer_str, why);
			send_fail(w->t, SOCKS5_REP_FAIL, why);
			conn_close(c, "reverse listener refused");
			return;
		}
		revsrv_bound(w->rev, &b);
		n = wstun_open_encode(&b, NULL, 0, ok, sizeof(ok));
		wstun_send_ctl(w->t, WSTUN_REC_LISTEN_OK, ok, n > 0 ? (size_t)n : 0);
		conn_set_deadline(c, 0); /* it lives while the WebSocket does */
		return;
	}
	s->rev_refused++;
	log_warn(c->id, "ws tunnel: reverse listener refused to %s: %s", c->peer_str, why);
	send_fail(w->t, SOCKS5_REP_NOT_ALLOWED, why);
	conn_close(c, "reverse listener refused");
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
