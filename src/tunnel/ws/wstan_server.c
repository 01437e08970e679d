/* wstan_server: wstan's listener.
 *
 * [TLS] -> HTTP head (ws_head_t) -> checks -> 101 -> a tunnel
 * (wstan_tun.h); each REQ dials its target through the conn and is
 * relayed; a DGM starts a UDP association instead, through the listener's
 * chain.  The conn lives as long as the WebSocket.  What is not a valid
 * request gets the decoy (tunnel/ws/decoy.h).
 */
#include "tunnel/ws/wstan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/conn.h"
#include "core/crypto.h"
#include "core/dgram.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/relay.h"
#include "core/replay.h"
#include "core/tls.h"
#include "core/transport.h"
#include "tunnel/ws/decoy.h"
#include "tunnel/ws/wstan_tun.h"
#include "wire/http_proto.h"

#define LINGER_MS 2000

enum { REJ_PROBE, REJ_MALFORMED, REJ_AUTH, REJ_SKEW, REJ_REPLAY, REJ_FULL, REJ_DOWN, REJ_N };
static const char *const rej_names[REJ_N] = {
    "probe", "malformed", "auth", "skew", "replay", "replay_cache_full", "replay_cache_down"};

typedef struct wsrv {
	listener_t *l;
	wstan_key_t key;
	tls_ctx_t *tls;
	int enc; /* AES-CTR; 0 in TLS mode */
	char *path, cookie[32];
	uint64_t skew_ms, open_timeout_ms;
	replay_store_t *replay; /* shared by every wstan listener with this key */
	decoy_t *decoy;
	ws_opts_t wo;
	uint64_t tunnels, active, reqs, udp_assocs, udp_refused, udp_in, udp_out, rejected[REJ_N];
} wsrv_t;

/* An authentic upgrade request, while the replay cache judges it. */
typedef struct spend {
	char wskey[WS_KEY_LEN + 1];
	int compat;
	uint8_t cn[WSTAN_NONCE];
	uint8_t *raw; /* the request, which m points into */
	wstan_msg_t *m;
	wstan_ctr_t rx;
	sbuf_t *rest;
} spend_t;

typedef struct sconn {
	conn_t *c;
	wsrv_t *srv;
	http_req_t req;
	ws_head_t hs;
	wstan_tun_t *t;
	wstan_stream_t *s; /* the request whose dial is under way */
	relay_t *relay;    /* the request being relayed, or lingering after its reset */
	uv_timer_t *linger;
	stream_t hold; /* c->client once upgraded: closing it ends the tunnel */
	spend_t *pend;
	replay_wait_t *wait;
	unsigned dying : 1, counted : 1;
} sconn_t;

static void spend_free(spend_t *p)
{
	if (!p)
		return;
	sbuf_free(p->rest);
	wstan_ctr_free(&p->rx);
	free(p->raw);
	free(p->m);
	free(p);
}

static void srv_reject(sconn_t *w, int reason, const char *why)
{
	ws_head_decoy(&w->hs, w->srv->decoy, &w->srv->rejected[reason], why);
}

static void srv_relay_done(void *ud, const char *reason, uint64_t ab, uint64_t ba)
{
	sconn_t *w = ud;
	conn_t *c = w->c;

	w->relay = NULL;
	c->up = NULL; /* closed by the relay */
	w->srv->active--;
	uv_timer_stop(w->linger);
	log_info(c->id, "wstan request done (%s): %llu bytes up, %llu down", reason,
	         (unsigned long long)ab, (unsigned long long)ba);
	if (w->dying)
		return;
	conn_set_state(c, CONN_HANDSHAKE);
	conn_set_deadline(c, w->srv->open_timeout_ms); /* for the next request */
}

static void srv_on_linger(uv_timer_t *h)
{
	sconn_t *w = h->data;

	if (w->relay)
		relay_close(w->relay, "reset by the client");
}

static void srv_on_dialed(conn_t *c, int err)
{
	sconn_t *w = c->front;
	wstan_stream_t *st = w->s;
	listener_t *l = c->l;
	relay_opts_t o = {
	    .idle_ms = l->idle_timeout_ms, .ctr_ab = &l->m->bytes_in, .ctr_ba = &l->m->bytes_out};

	w->s = NULL;
	if (err < 0) {
		if (st->t && w->t->state == TUN_USING) {
			char tg[300], why[320];

			target_str(&c->target, tg, sizeof(tg));
			snprintf(why, sizeof(why), "can't connect to %s", tg);
			wstan_tun_reset(w->t, why, uv_strerror(err));
		}
		stream_close(&st->m.s);
		conn_set_state(c, CONN_HANDSHAKE);
		conn_set_deadline(c, w->srv->open_timeout_ms);
		return;
	}
	conn_set_state(c, CONN_RELAY);
	w->srv->active++;
	w->relay = relay_start(l->loop, &st->m.s, c->up, &o, srv_relay_done, w);
}

static void srv_start(sconn_t *w, const wstan_msg_t *m)
{
	conn_t *c = w->c;
	wstan_stream_t *st;

	if (w->relay)
		relay_close(w->relay, "next request");
	if (c->dial) {
		dial_cancel(c->dial);
		c->dial = NULL;
	}
	if (w->s) {
		stream_close(&w->s->m.s);
		w->s = NULL;
	}
	st = wstan_stream_new(c->l->loop, c->id);
	wstan_tun_bind(w->t, st);
	if (m->dlen)
		wstan_stream_push(st, sbuf_from(m->data, m->dlen));
	w->s = st;
	w->srv->reqs++;
	conn_dial(c, &m->target, srv_on_dialed);
}

/* ---- UDP: wstan's DGM ----
 *
 * A DGM starts (or continues) a UDP association on an idle tunnel: a
 * datagram flow through this listener's chain (conn_dgram: the target ACL
 * on every datagram after resolution, the idle timeout); replies come back
 * as DGM naming their source.  The client's RST ends the association.  A
 * chain that cannot carry datagrams is refused with an RST, naming the hop
 * in the log.  Datagrams that find no room are dropped and counted.
 */

/* A DGM message (cmd, address, datagram) of a datagram from src. */
static sbuf_t *dgm_message(wstan_tun_t *t, const struct sockaddr *src, const uint8_t *p, size_t n)
{
	char host[INET6_ADDRSTRLEN];
	sbuf_t *m = sbuf_new(1 + WSTAN_ADDR_MAX + n);
	target_t a;
	int len;

	sockaddr_ip(src, host, sizeof(host));
	target_set(&a, host, sockaddr_port(src));
	if ((len = wstan_dgm_build(&t->tx, &a, p, n, m->data, 1 + WSTAN_ADDR_MAX + n)) < 0) {
		sbuf_free(m);
		return NULL;
	}
	m->len = (uint32_t)len;
	return m;
}

static void srv_flow_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	sconn_t *w = f->data;
	wstan_tun_t *t = w->t;
	sbuf_t *m;

	if (!t || !t->ws || t->state != TUN_USING || ws_pending(t->ws) > DGRAM_QUEUE_MAX) {
		dgram_drop(f, DGRAM_DROP_QUEUE, b);
		return;
	}
	m = dgm_message(t, src, sbuf_ptr(b), b->len);
	sbuf_free(b);
	if (!m || ws_send(t->ws, WS_OP_BINARY, m) < 0) {
		dgram_drop(f, DGRAM_DROP_SEND, NULL);
		return;
	}
	w->srv->udp_out++;
	conn_dgram_touch(w->c);
}

static void srv_flow_error(dgram_t *f, int err)
{
	sconn_t *w = f->data;

	log_info(w->c->id, "wstan: the UDP association's flow failed: %s", uv_strerror(err));
	conn_dgram_end(w->c);
	if (w->t && w->t->state == TUN_USING)
		wstan_tun_reset(w->t, "udp association lost", uv_strerror(err));
}

static const dgram_cbs_t srv_flow_cbs = {srv_flow_recv, srv_flow_error, NULL};

static void srv_udp(sconn_t *w, const wstan_msg_t *m)
{
	conn_t *c = w->c;

	if (w->t->state == TUN_IDLE) {
		if (conn_dgram_refused(c, "wstan")) {
			w->srv->udp_refused++;
			wstan_tun_set_state(w->t, TUN_USING);
			wstan_tun_reset(w->t, "udp is not supported through this server's chain",
			                "");
			return;
		}
		wstan_tun_set_state(w->t, TUN_USING);
		w->srv->udp_assocs++;
		conn_dgram(c, &srv_flow_cbs, w);
	} else if (w->t->state != TUN_USING || w->t->cur || !c->flow) {
		return;
	}
	conn_dgram_touch(c);
	w->srv->udp_in++;
	dgram_send(c->flow, &m->target, dgram_buf(m->data, m->dlen));
}

/* A REQ on a tunnel already up (AES-CTR mode): its timestamp in the window. */
static int srv_fresh(wsrv_t *s, double ts, char *why, size_t len)
{
	double now = wstan_wall_s(), age = now - ts;

	if (!isfinite(ts) || fabs(age) * 1000.0 > (double)s->skew_ms) {
		snprintf(why, len, "request timestamp outside the window (%.0f s old)",
		         isfinite(age) && fabs(age) < 1e9 ? age : 0.0);
		return -1;
	}
	return 0;
}

static void srv_upgrade(sconn_t *w, const char *wskey, int compat, const uint8_t cn[WSTAN_NONCE],
                        wstan_ctr_t *rx, const wstan_msg_t *m, sbuf_t *rest);

/* The replay verdict on the request in w->pend: upgrade, or the decoy.
 * A request the cache could not vouch for is refused: wstan has no round
 * trip to fall back on. */
static void srv_verdict(sconn_t *w, int r)
{
	spend_t *p = w->pend;

	w->pend = NULL;
	switch (r) {
	case REPLAY_NEW:
		if (ws_head_banned(&w->hs, w->srv->decoy, &w->srv->rejected[REJ_AUTH]))
			break; /* too many wrong keys from there: the decoy, never a tunnel */
		conn_auth_ok(w->c);
		srv_upgrade(w, p->wskey, p->compat, p->cn, &p->rx, p->m, p->rest);
		p->rest = NULL;
		break;
	case REPLAY_STALE:
		srv_reject(w, REJ_SKEW, "request timestamp outside the window");
		break;
	case REPLAY_UNSURE:
		srv_reject(w, REJ_SKEW, "request from before this server started");
		break;
	case REPLAY_DOWN:
		srv_reject(w, REJ_DOWN, "replay cache unreachable: request refused");
		break;
	default:
		srv_reject(w, r == REPLAY_SEEN ? REJ_REPLAY : REJ_FULL,
		           r == REPLAY_SEEN ? "replayed request" : "replay cache full");
	}
	spend_free(p);
}

static void srv_on_verdict(void *ud, int r)
{
	sconn_t *w = ud;

	w->wait = NULL;
	srv_verdict(w, r);
}

/* The request in a URI, judged in every mode: with TLS the URI is still a
 * credential anyone who reads a front end's access log has.  Its replay
 * identity is a keyed hash of the whole request as sent (the client's
 * nonce alone would not do in TLS mode, where nothing depends on it). */
static void srv_admit(sconn_t *w, size_t n)
{
	wsrv_t *s = w->srv;
	spend_t *p = w->pend;
	double ts = p->m->ts;
	uint8_t h[32];
	int r;

	if (!isfinite(ts) || ts < 0 || ts > 1e12) {
		srv_verdict(w, REPLAY_STALE);
		return;
	}
	hmac_sha256(s->key.k, s->key.len, p->raw, n, h);
	r = replay_store_judge(s->replay, h, (uint64_t)(ts * 1000.0),
	                       (uint64_t)(wstan_wall_s() * 1000.0), s->skew_ms, srv_on_verdict, w,
	                       &w->wait);
	if (r != REPLAY_PENDING)
		srv_verdict(w, r);
}

static void srv_on_msg(wstan_tun_t *t, wstan_msg_t *m)
{
	sconn_t *w = t->owner;
	char why[100];

	if (m->cmd == WSTAN_DGM) {
		srv_udp(w, m);
		return;
	}
	if (w->srv->enc && srv_fresh(w->srv, m->ts, why, sizeof(why)) < 0) {
		log_info(w->c->id, "wstan: %s on a reused tunnel, closing", why);
		wstan_tun_abort(t, 3000);
		return;
	}
	srv_start(w, m);
}

static void srv_on_idle(wstan_tun_t *t)
{
	sconn_t *w = t->owner;
	conn_t *c = w->c;

	if (w->s) { /* the client gave up while we were connecting */
		if (c->dial) {
			dial_cancel(c->dial);
			c->dial = NULL;
		}
		stream_close(&w->s->m.s);
		w->s = NULL;
		conn_set_state(c, CONN_HANDSHAKE);
	}
	if (c->flow) /* the end of a UDP association */
		conn_dgram_end(c);
	if (w->relay) /* the target gets what the client sent; not much longer */
		uv_timer_start(w->linger, srv_on_linger, LINGER_MS, 0);
	conn_set_deadline(c, w->srv->open_timeout_ms);
}

static void srv_on_close(wstan_tun_t *t)
{
	sconn_t *w = t->owner;

	conn_close(w->c, "websocket closed");
}

static const wstan_tun_cbs_t srv_tun_cbs = {
    .on_msg = srv_on_msg, .on_idle = srv_on_idle, .on_close = srv_on_close};

/* c->client after the upgrade: what conn_close closes. */
static int hold_write(stream_t *s, sbuf_t *b)
{
	sbuf_free(b);
	return UV_EPIPE;
}
static int hold_shutdown(stream_t *s)
{
	return 0;
}
static void hold_nop(stream_t *s) {}

static void hold_close(stream_t *s)
{
	sconn_t *w = (sconn_t *)((char *)s - offsetof(sconn_t, hold));

	w->dying = 1;
	uv_timer_stop(w->linger);
	if (w->relay)
		relay_close(w->relay, "tunnel closed");
	if (w->s) {
		stream_close(&w->s->m.s);
		w->s = NULL;
	}
	wstan_tun_free(w->t);
	w->t = NULL;
}

static const stream_ops_t hold_ops = {
    .name = "wstan-tunnel",
    .write = hold_write,
    .shutdown = hold_shutdown,
    .read_start = hold_nop,
    .read_stop = hold_nop,
    .close = hold_close,
};

static void srv_upgrade(sconn_t *w, const char *wskey, int compat, const uint8_t cn[WSTAN_NONCE],
                        wstan_ctr_t *rx, const wstan_msg_t *m, sbuf_t *rest)
{
	conn_t *c = w->c;
	wsrv_t *s = w->srv;
	stream_t *inner = c->client;
	uint8_t sn[WSTAN_NONCE];
	char resp[256];
	wstan_tun_t *t;
	int n;

	ws_head_release(&w->hs); /* a tunnel: the decoy's copies go */
	n = ws_server_response(resp, sizeof(resp), wskey, NULL);
	if (n < 0) {
		sbuf_free(rest);
		conn_close(c, "response too long");
		return;
	}
	t = wstan_tun_new(c->l->loop, c->id, &s->key, 0, &srv_tun_cbs, w);
	if (s->enc) {
		if (compat)
			wstan_nonce_compat(cn, sn);
		else
			wstan_nonce_default(wskey, sn);
		if (wstan_ctr_init(&t->tx, &s->key, sn) < 0) {
			free(t);
			sbuf_free(rest);
			conn_close(c, "no cipher");
			return;
		}
	}
	t->rx = *rx; /* it has run over the request already */
	rx->ctx = NULL;
	stream_write_copy(inner, resp, (size_t)n);
	w->t = t;
	w->hold = (stream_t){.ops = &hold_ops, .id = c->id};
	c->client = &w->hold;
	w->counted = 1;
	s->tunnels++;
	conn_handshake_done(c);
	wstan_tun_start(t, inner, rest, &s->wo);
	log_debug(c->id, "wstan tunnel up (%s%s)", s->enc ? "AES-CTR" : "TLS",
	          compat ? ", compatible mode" : "");
	if (m->cmd == WSTAN_REQ)
		srv_start(w, m);
	else if (m->cmd == WSTAN_DGM)
		srv_udp(w, m);
	else
		conn_set_deadline(c, s->open_timeout_ms); /* opened idle */
}

static void srv_on_request(ws_head_t *h, sbuf_t *rest)
{
	sconn_t *w = h->data;
	conn_t *c = w->c;
	wsrv_t *s = w->srv;
	const http_str_t *key = ws_upgrade_key(&w->req);
	const http_str_t *ck = http_req_header(&w->req, "Cookie");
	spend_t *p;
	int n, r;

	if (!(p = calloc(1, sizeof(*p))))
		abort();
	p->rest = rest;
	if (!key || key->len != WS_KEY_LEN ||
	    b64_decode(key->p, key->len, p->cn, sizeof(p->cn)) != WSTAN_NONCE) {
		srv_reject(w, REJ_PROBE, "not a tunnel request");
		goto fail;
	}
	memcpy(p->wskey, key->p, WS_KEY_LEN);
	if (ck && wstan_cookie_nonce(ck->p, ck->len, s->cookie, p->cn) == 0)
		p->compat = 1; /* else cn is the Sec-WebSocket-Key's */
	p->raw = malloc(WSTAN_URI_MAX);
	p->m = malloc(sizeof(*p->m));
	if (!p->raw || !p->m)
		abort();
	n = wstan_path_decode(w->req.target.p, w->req.target.len, s->path, p->raw, WSTAN_URI_MAX);
	if (n <= 0) {
		srv_reject(w, REJ_PROBE, "no request in the path");
		goto fail;
	}
	if (s->enc && wstan_ctr_init(&p->rx, &s->key, p->cn) < 0) {
		conn_close(c, "no cipher");
		goto fail;
	}
	r = wstan_msg_open(&p->rx, &s->key, p->raw, (size_t)n, 1, p->m);
	if (r == -EBADMSG) {
		ws_head_decoy_auth(&w->hs, s->decoy, &s->rejected[REJ_AUTH], "wstan",
		                   "request not authentic (wrong key?)");
		goto fail;
	} else if (r < 0) {
		srv_reject(w, REJ_MALFORMED, "malformed request");
		goto fail;
	}
	w->pend = p;
	srv_admit(w, (size_t)n);
	return;
fail:
	spend_free(p);
}

static void sconn_free(void *p)
{
	sconn_t *w = p;

	ws_head_release(&w->hs);
	http_req_free(&w->req);
	replay_wait_cancel(w->wait);
	spend_free(w->pend);
	if (w->counted)
		w->srv->tunnels--;
	uv_close((uv_handle_t *)w->linger, (uv_close_cb)free);
	free(w);
}

static void srv_on_conn(conn_t *c)
{
	wsrv_t *s = c->l->front;
	sconn_t *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->c = c;
	w->srv = s;
	w->linger = malloc(sizeof(*w->linger));
	if (!w->linger)
		abort();
	uv_timer_init(c->l->loop, w->linger);
	w->linger->data = w;
	http_req_init(&w->req);
	c->front = w;
	c->front_free = sconn_free;
	w->hs = (ws_head_t){c,    &w->req, &s->rejected[REJ_PROBE], srv_on_request, w, s->decoy,
	                    NULL, NULL};
	ws_head_read(&w->hs, s->tls);
}

static const metric_t srv_metric_rows[] = {
    METRIC(wsrv_t, tunnels, "sluice_wstan_tunnels", "gauge", "WebSockets open now."),
    METRIC(wsrv_t, active, "sluice_wstan_requests_active", "gauge", "Connections carried now."),
    METRIC(wsrv_t, reqs, "sluice_wstan_requests_total", "counter", "Connection requests accepted."),
    METRIC(wsrv_t, udp_assocs, "sluice_wstan_udp_associations_total", "counter",
           "UDP associations carried."),
    METRIC(wsrv_t, udp_refused, "sluice_wstan_udp_refused_total", "counter",
           "UDP associations refused (the chain cannot carry UDP)."),
    METRIC(wsrv_t, udp_in, "sluice_wstan_udp_datagrams_in_total", "counter",
           "Datagrams from clients."),
    METRIC(wsrv_t, udp_out, "sluice_wstan_udp_datagrams_out_total", "counter",
           "Datagrams to clients."),
};

static void srv_metrics(mbuf_t *b, void *ud)
{
	wsrv_t *s = ud;
	char lab[300], rl[360];

	metrics_label(lab, sizeof(lab), "listener", s->l->name);
	METRICS_TABLE(b, srv_metric_rows, s, lab);
	for (int i = 0; i < REJ_N; i++) {
		snprintf(rl, sizeof(rl), "%s,reason=\"%s\"", lab, rej_names[i]);
		metrics_sample(b, "sluice_wstan_rejected_total", "counter",
		               "Requests answered with the decoy, by reason.", rl, s->rejected[i]);
	}
	metrics_sample(b, "sluice_wstan_replay_cache_entries", "gauge",
	               "Request nonces remembered against replay.", lab,
	               replay_store_size(s->replay));
}

typedef struct wstan_srv_opts {
	ws_opts_t wo;
	const char *key, *cookie, *replay, *replay_state, *decoy, *decoy_server, *cert, *certkey,
	    *ciphers;
	int tls;
	uint64_t skew_ms, open_timeout_ms, replay_cache, replay_timeout_ms;
} wstan_srv_opts_t;

static const opt_include_t srv_inc[] = {
    OPT_INCLUDE(wstan_srv_opts_t, wo, &ws_keepalive_opts),
    {NULL, 0},
};

static const opt_t srv_table[] = {
    OPT_STR(wstan_srv_opts_t, key, "key", "required", "KEY",
            "the key: the base64 of 16 bytes that wstan -g prints, or a password"),
    OPT_STR(wstan_srv_opts_t, cert, "cert", "none", "FILE",
            "serve TLS with this certificate chain (the wss:// mode of wstan)"),
    OPT_STR(wstan_srv_opts_t, certkey, "certkey", "none", "FILE", "the certificate's private key"),
    OPT_STR(wstan_srv_opts_t, ciphers, "ciphers", "AES-128-GCM first where this CPU has AES",
            "LIST",
            "the TLS 1.3 cipher suites accepted, in order of preference (OpenSSL's names "
            "joined by ':'; with cert=)"),
    OPT_BOOL(wstan_srv_opts_t, tls, "tls", "0",
             "the wss:// mode of wstan, behind a TLS front end that is not sluice"),
    OPT_DURATION(wstan_srv_opts_t, skew_ms, "skew", "60s",
                 "how old or new a request's timestamp may be"),
    OPT_UINT(wstan_srv_opts_t, replay_cache, "replay-cache", 10000000, "1048576",
             "nonces remembered"),
    OPT_STR(wstan_srv_opts_t, replay_state, "replay-state", "none", "FILE",
            "a file for the replay high-water mark, so that a restarted server acts on "
            "requests at once (without it, requests stamped within skew of the start cost a "
            "round trip)"),
    REPLAY_SHARED_OPTS(wstan_srv_opts_t, replay, replay_timeout_ms),
    OPT_DURATION(wstan_srv_opts_t, open_timeout_ms, "open-timeout", "10m",
                 "how long an idle tunnel may wait for its next request"),
    OPT_STR(wstan_srv_opts_t, decoy, "decoy", "a small built-in page", "FILE|DIR|URL",
            "what everyone else sees: a file, a directory to serve, or http://HOST:PORT, "
            "a web server every such connection is passed to"),
    OPT_STR(wstan_srv_opts_t, decoy_server, "decoy-server", "nginx", "NAME",
            "the Server header of the decoy's own answers (empty: none)"),
    OPT_STR(wstan_srv_opts_t, cookie, "cookie", "from the key", "NAME",
            "the cookie name of wstan's compatible mode"),
    WS_MAX_MESSAGE_OPT(wstan_srv_opts_t, wo.max_message),
};

static const opt_schema_t srv_opts = OPT_SCHEMA_WITH(srv_inc, srv_table);

static int srv_init(listener_t *l, char *err, size_t errlen)
{
	wsrv_t *s = calloc(1, sizeof(*s));
	url_t *u = l->url;
	wstan_srv_opts_t o = {.key = NULL}; /* and every other field 0 */
	replay_conf_t conf;
	uint8_t id[32];
	int tls, r;

	if (!s)
		abort();
	l->front = s;
	s->l = l;
	if ((r = opts_parse(&srv_opts, u, &o, err, errlen)) < 0)
		return r;
	if (!o.key || wstan_key_init(&s->key, o.key) < 0) {
		snprintf(err, errlen, "option 'key' is required (wstan's key, or a password)");
		return -EINVAL;
	}
	tls = o.tls;
	s->skew_ms = o.skew_ms;
	s->open_timeout_ms = o.open_timeout_ms;
	s->wo = o.wo;
	if (o.cookie && (!*o.cookie || strlen(o.cookie) >= sizeof(s->cookie) ||
	                 strpbrk(o.cookie, "=; \t\r\n"))) {
		snprintf(err, errlen, "option 'cookie': a cookie name (default: from the key)");
		return -EINVAL;
	}
	snprintf(s->cookie, sizeof(s->cookie), "%s", o.cookie ? o.cookie : s->key.cookie);
	conf = (replay_conf_t){.capacity = o.replay_cache,
	                       .skew_ms = s->skew_ms,
	                       .state = o.replay_state,
	                       .shared = o.replay,
	                       .shared_timeout_ms = o.replay_timeout_ms,
	                       .loop = l->loop};
	hmac_sha256(s->key.k, s->key.len, (const uint8_t *)"wstan replay store", 18, id);
	if ((r = replay_store_get("wstan", id, &conf, &s->replay, err, errlen)) < 0)
		return r;
	if ((r = decoy_new(o.decoy, o.decoy_server, &s->decoy, err, errlen)) < 0)
		return r;
	s->path = strdup(u->path[0] ? u->path : "/");
	if (!s->path)
		abort();
	if (o.cert || o.certkey) {
		tls_opts_t t = {.cert_file = o.cert,
		                .key_file = o.certkey,
		                .alpn = "http/1.1",
		                .ciphers = o.ciphers};

		if (!o.cert || !o.certkey) {
			snprintf(err, errlen,
			         "options 'cert' and 'certkey' go together (PEM files)");
			return -EINVAL;
		}
		if ((r = tls_ctx_new_server(&t, &s->tls, err, errlen)) < 0)
			return r;
		decoy_set_https(s->decoy);
		tls = 1;
	} else if (o.ciphers) {
		snprintf(err, errlen, "option 'ciphers' is for a server with 'cert' and 'certkey'");
		return -EINVAL;
	}
	s->enc = !tls;
	metrics_register(srv_metrics, s);
	return 0;
}

static void srv_free(listener_t *l)
{
	wsrv_t *s = l->front;

	if (!s)
		return;
	metrics_unregister(srv_metrics, s);
	tls_ctx_free(s->tls);
	replay_store_put(s->replay);
	decoy_free(s->decoy);
	free(s->path);
	OPENSSL_cleanse(&s->key, sizeof(s->key));
	free(s);
}

const front_ops_t wstan_front_ops = {
    .workers = 1,
    .scheme = "wstan",
    .init = srv_init,
    .on_conn = srv_on_conn,
    .free = srv_free,
    .reach = REACH_REMOTE,
    .gateway = 1,
};

static const transport_scheme_t wstan_schemes[] = {
    {.scheme = "wstan",
     .listen = &wstan_front_ops,
     .hop = wstan_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_REMOTE_DNS,
     .listen_doc = {.usage = "wstan://IP:PORT[/path]?key=KEY",
                    .about = "wstan 0.5 compatible server",
                    .opts = &srv_opts},
     .hop_doc = {.usage = "wstan://HOST:PORT[/path]?key=KEY",
                 .about = "through a wstan server",
                 .opts = &wstan_hop_opts}},
};

const transport_t wstan_transport = {
    .name = "wstan",
    .summary = "wstan-compatible WebSocket tunnel (docs/wstan.md)",
    TRANSPORT_SCHEMES(wstan_schemes),
};
