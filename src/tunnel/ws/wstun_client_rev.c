/* wstun_client_rev: the reverse forwards' client side of the WebSocket
 * tunnel hop (core/reverse.h; wstun_client.c is the rest of the hop).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dgram.h"
#include "core/log.h"
#include "core/reverse.h"
#include "tunnel/ws/ws_hop.h"
#include "tunnel/ws/wstun.h"
#include "tunnel/ws/wstun_client_priv.h"
#include "wire/socks_proto.h"

/* ---- reverse forwards (core/reverse.h): a WebSocket that claims ---- *
 *
 * The claim is one WebSocket whose first record is LISTEN; the server's
 * LISTEN_OK, ACCEPTs and its close come back on it.  Each accepted
 * connection the caller takes (join) is another WebSocket, from the pool
 * or fresh, whose first record is JOIN.  A UDP claim's first record is
 * LISTEN_UDP, and its datagrams travel on the claim itself as DGRAM
 * records, the public peer's address in front, both ways. */

struct rev_claim {
	wcli_t *cl;
	wstun_t *t;
	const rev_cbs_t *cbs;
	void *ud;
	int udp;
};

/* A WebSocket whose first record is type/body: from the pool (sent at
 * once), or fresh (sent as its first record once it is up). */
static wstun_t *ws_with_record(wcli_t *cl, uint64_t id, uint8_t type, const uint8_t *body,
                               size_t len, wstun_ctl_fn ctl, void *owner,
                               void (*done)(opener_t *, int))
{
	wstun_t *t = wcli_pool_take(cl);
	opener_t *op;

	if (t) {
		wstun_set_owner(t, ctl, owner);
		wstun_stream(t)->id = id;
		if (wstun_send_ctl(t, type, body, len) < 0) {
			stream_close(wstun_stream(t));
			return NULL;
		}
		return t;
	}
	t = wstun_new(cl->h.d.loop, id, ctl, owner);
	if (!(op = wcli_opener_start(cl, t, id, NULL, done, owner))) {
		stream_close(wstun_stream(t));
		return NULL;
	}
	memcpy(op->open, body, len);
	op->open_len = len;
	op->rec_type = type;
	return t;
}

static void claim_end(rev_claim_t *rc, int err, const char *why)
{
	rc->cbs->ended(rc->ud, err, why);
	stream_close(wstun_stream(rc->t));
	free(rc);
}

static void claim_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	rev_claim_t *rc = wstun_owner(t);
	char peer[WSTUN_PEER_MAX + 1], why[200];
	const uint8_t *data;
	uint64_t conn;
	size_t dlen;
	target_t b;

	if (type == WSTUN_REC_DGRAM && rc->udp) {
		if (wstun_dgram_parse(body, len, &b, &data, &dlen) < 0)
			dgram_drops[DGRAM_DROP_BAD]++;
		else
			rc->cbs->dgram(rc->ud, &b, dgram_buf(data, dlen));
	} else if (type == WSTUN_REC_LISTEN_OK &&
	           wstun_open_parse(body, len, &b, &data, &dlen) == 0) {
		rc->cbs->claimed(rc->ud, &b);
	} else if (type == WSTUN_REC_ACCEPT && !rc->udp &&
	           wstun_conn_parse(body, len, &conn, peer, sizeof(peer)) == 0) {
		rc->cbs->accept(rc->ud, conn, peer);
	} else if (type == WSTUN_REC_OPEN_FAIL && len >= 1) {
		snprintf(why, sizeof(why), "%.*s", (int)(len - 1 > 160 ? 160 : len - 1),
		         (const char *)body + 1);
		for (char *p = why; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		claim_end(rc, body[0] == SOCKS5_REP_NOT_ALLOWED ? UV_EACCES : UV_ECONNREFUSED, why);
	} else if (type == 0) {
		claim_end(rc, UV_ECONNRESET, "the tunnel to the server closed");
	} else {
		log_info(0, "%s: unexpected record %u on a reverse listener", rc->cl->h.name, type);
		claim_end(rc, UV_EPROTO, "the server sent an unexpected record");
	}
}

static void claim_opened(opener_t *op, int err)
{
	rev_claim_t *rc = op->ud;

	ws_hop_count(&rc->cl->h, err);
	if (err < 0) {
		/* the opener frees itself after this; the stream is ours */
		char why[160];
		snprintf(why, sizeof(why), "could not open the tunnel: %s", uv_strerror(err));
		claim_end(rc, err, why);
	}
}

static rev_claim_t *claim_start(dialer_t *d, uint8_t type, const target_t *bind,
                                const rev_cbs_t *cbs, void *ud)
{
	wcli_t *cl = (wcli_t *)d;
	rev_claim_t *rc = calloc(1, sizeof(*rc));
	uint8_t body[1 + 255 + 2];
	int n = wstun_open_encode(bind, NULL, 0, body, sizeof(body));

	if (!rc)
		abort();
	rc->cl = cl;
	rc->cbs = cbs;
	rc->ud = ud;
	rc->udp = type == WSTUN_REC_LISTEN_UDP;
	if (n < 0 ||
	    !(rc->t = ws_with_record(cl, 0, type, body, (size_t)n, claim_ctl, rc, claim_opened))) {
		free(rc);
		return NULL;
	}
	return rc;
}

static rev_claim_t *ws_rlisten(dialer_t *d, const target_t *bind, const rev_cbs_t *cbs, void *ud)
{
	return claim_start(d, WSTUN_REC_LISTEN, bind, cbs, ud);
}

static rev_claim_t *ws_rlisten_udp(dialer_t *d, const target_t *bind, const rev_cbs_t *cbs,
                                   void *ud)
{
	return claim_start(d, WSTUN_REC_LISTEN_UDP, bind, cbs, ud);
}

/* An answer to a UDP claim's public peer: a DGRAM record on the claim
 * (dropped, and counted, when its WebSocket holds too much unsent). */
static int ws_rsend(dialer_t *d, rev_claim_t *rc, const target_t *peer, sbuf_t *b)
{
	int r = wstun_send_dgram(rc->t, peer, b);

	if (r < 0)
		dgram_drops[dgram_drop_why(r)]++;
	return r;
}

static void ws_rrelease(dialer_t *d, rev_claim_t *rc)
{
	stream_close(wstun_stream(rc->t)); /* ends an opener too */
	free(rc);
}

/* A joined WebSocket: its stream belongs to the relay; only a failure to
 * open it matters, and the relay sees that as an error. */
static void join_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len) {}

static void join_opened(opener_t *op, int err)
{
	ws_hop_count(&op->cl->h, err);
	if (err < 0)
		wstun_fail(op->t, err);
}

static stream_t *ws_rjoin(dialer_t *d, rev_claim_t *rc, uint64_t conn, uint64_t id)
{
	uint8_t body[WSTUN_CONN_ID];
	wstun_t *t;

	wstun_conn_encode(conn, NULL, body, sizeof(body));
	t = ws_with_record(rc->cl, id, WSTUN_REC_JOIN, body, sizeof(body), join_ctl, NULL,
	                   join_opened);
	return t ? wstun_stream(t) : NULL;
}

static void ws_rrefuse(dialer_t *d, rev_claim_t *rc, uint64_t conn)
{
	uint8_t body[WSTUN_CONN_ID];

	wstun_conn_encode(conn, NULL, body, sizeof(body));
	wstun_send_ctl(rc->t, WSTUN_REC_REFUSE, body, sizeof(body));
}

const rev_hop_ops_t wcli_rev_ops = {ws_rlisten, ws_rrelease,    ws_rjoin,
                                    ws_rrefuse, ws_rlisten_udp, ws_rsend};
