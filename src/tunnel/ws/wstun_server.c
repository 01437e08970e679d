/* wstun_server: accepts WebSocket tunnels and dials their targets.
 *
 * Per connection: [TLS handshake] -> HTTP request head (tunnel/ws/ws.h's
 * ws_head_t) -> either a valid upgrade with an authentic, fresh, unseen
 * open token (101, then the tunnel) or anything else (the decoy: what a
 * plain web server would show).
 * A token with an open request dials at once; a pooled connection waits
 * for its OPEN record.  After OPEN_OK the conn relays the tunnel stream to
 * the target like any other listener.  A UDP_OPEN record instead makes
 * the connection a datagram association: a flow through this listener's
 * chain (conn_dgram: the target ACL on every datagram, the idle timeout),
 * DGRAM records both ways; a chain that cannot carry datagrams is refused
 * with OPEN_FAIL 7, naming the hop in the log.
 * The reverse forwards' records (LISTEN, LISTEN_UDP, ACCEPT, JOIN, REFUSE,
 * a UDP claim's DGRAM) are served in wstun_server_rev.c.
 *
 * Probing: wrong key, replay, stale clock, a browser, random bytes all get
 * the same decoy page; only logs and metrics tell the reasons apart.
 */
#include "tunnel/ws/wstun_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/aead.h"
#include "core/conn.h"
#include "core/dgram.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/replay.h"
#include "core/reverse.h"
#include "core/tls.h"
#include "core/transport.h"
#include "core/tunkey.h"
#include "tunnel/ws/decoy.h"
#include "tunnel/ws/wstun.h"
#include "tunnel/ws/wstun_client.h"
#include "tunnel/ws/wstun_server_priv.h"
#include "wire/http_proto.h"
#include "wire/socks_proto.h"

static const char *const rej_names[REJ_N] = {"probe",    "malformed",        "auth",
                                             "skew",     "replay",           "replay_cache_full",
                                             "enc_none", "replay_cache_down"};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- decoy ---- */

static void send_decoy(wconn_t *w, int reason, const char *why)
{
	ws_head_decoy(&w->hs, w->srv->decoy, &w->srv->rejected[reason], why);
}

/* ---- the tunnel ---- */

/* An idle tunnel keeps no trace of its upgrade request. */
static void drop_req(wconn_t *w)
{
	if (!w->req)
		return;
	http_req_free(w->req);
	free(w->req);
	w->req = NULL;
	w->hs.req = NULL;
	ws_head_release(&w->hs);
}

static void wconn_free(void *p)
{
	wconn_t *w = p;

	drop_req(w);
	free(w->first);
	replay_wait_cancel(w->wait);
	free(w->tok);
	sbuf_free(w->rest);
	revsrv_close(w->rev);
	if (w->counted)
		w->srv->active--;
	free(w);
}

static void on_dialed(conn_t *c, int err)
{
	wconn_t *w = c->front;
	wstun_t *t = w->t;

	if (err < 0) {
		uint8_t body[1 + 64];

		wstun_send_ctl(t, WSTUN_REC_OPEN_FAIL, body,
		               tun_fail_encode(err, body, sizeof(body)));
		conn_close(c, "open failed");
		return;
	}
	if (w->first_len) { /* the 0-RTT bytes: counted as the relay's are */
		c->bytes_up += w->first_len;
		c->l->m->bytes_in += w->first_len;
		stream_write_copy(c->up, w->first, w->first_len);
	}
	free(w->first);
	w->first = NULL;
	w->first_len = 0;
	wstun_send_ctl(t, WSTUN_REC_OPEN_OK, NULL, 0);
	w->counted = 1;
	w->srv->active++;
	w->srv->opens++;
	conn_relay(c);
}

/* ---- a datagram association ---- */

static void flow_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	wconn_t *w = f->data;
	char ip[64];
	target_t t;
	int r;

	sockaddr_ip(src, ip, sizeof(ip));
	target_set(&t, ip, sockaddr_port(src));
	if ((r = wstun_send_dgram(w->t, &t, b)) < 0) {
		dgram_drop(f, dgram_drop_why(r), NULL);
		return;
	}
	w->srv->udp_out++;
	conn_dgram_touch(w->c);
}

static void flow_error(dgram_t *f, int err)
{
	wconn_t *w = f->data;

	log_info(w->c->id, "ws tunnel: datagram flow: %s", uv_strerror(err));
	conn_close(w->c, "datagram flow failed");
}

static void flow_ready(dgram_t *f)
{
	wconn_t *w = f->data;

	wstun_send_ctl(w->t, WSTUN_REC_OPEN_OK, NULL, 0);
}

static const dgram_cbs_t flow_cbs = {flow_recv, flow_error, flow_ready};

/* Stream bytes have no place on a datagram association. */
static void udp_stream_read(stream_t *s, sbuf_t *b)
{
	wconn_t *w = s->data;

	sbuf_free(b);
	log_info(w->c->id, "ws tunnel: stream data on a datagram association");
	conn_close(w->c, "protocol error");
}

static void udp_stream_error(stream_t *s, int err)
{
	wconn_t *w = s->data;

	conn_close(w->c, "websocket closed");
}

static const stream_cbs_t udp_stream_cbs = {udp_stream_read, NULL, udp_stream_error};

static void start_udp(wconn_t *w)
{
	conn_t *c = w->c;
	uint8_t body[1 + 64];

	if (conn_dgram_refused(c, "ws tunnel")) {
		w->srv->udp_refused++;
		body[0] = SOCKS5_REP_CMD_UNSUPP;
		memcpy(body + 1, "udp not carried", 15);
		wstun_send_ctl(w->t, WSTUN_REC_OPEN_FAIL, body, 16);
		conn_close(c, "UDP refused");
		return;
	}
	w->udp = 1;
	w->srv->udp_assocs++;
	stream_set_cbs(c->client, &udp_stream_cbs, w);
	stream_read_start(c->client);
	conn_dgram(c, &flow_cbs, w);
}

static void udp_record(wconn_t *w, const uint8_t *body, size_t len)
{
	const uint8_t *data;
	size_t dlen;
	target_t t;

	conn_dgram_touch(w->c);
	if (wstun_dgram_parse(body, len, &t, &data, &dlen) < 0) {
		dgram_drop(w->c->flow, DGRAM_DROP_BAD, NULL);
		return;
	}
	w->srv->udp_in++;
	dgram_send(w->c->flow, &t, dgram_buf(data, dlen));
}

static int start_open(wconn_t *w, const uint8_t *body, size_t len)
{
	target_t tg;
	const uint8_t *data;
	size_t dlen;

	if (wstun_open_parse(body, len, &tg, &data, &dlen) < 0)
		return -EINVAL;
	if (dlen) {
		free(w->first);
		if (!(w->first = malloc(dlen)))
			abort();
		memcpy(w->first, data, dlen);
	}
	w->first_len = dlen;
	conn_dial(w->c, &tg, on_dialed);
	return 0;
}

static void on_ctl(wstun_t *t, uint8_t type, const uint8_t *body, size_t len)
{
	wconn_t *w = wstun_owner(t);
	conn_t *c = w->c;

	if (type == 0) { /* the WebSocket ended */
		if (c->state != CONN_RELAY || w->udp)
			conn_close(c, "websocket closed");
		return;
	}
	if (w->udp && type == WSTUN_REC_DGRAM) {
		udp_record(w, body, len);
		return;
	}
	if (type == WSTUN_REC_UDP_OPEN && c->state == CONN_HANDSHAKE && !len && !w->rev) {
		start_udp(w);
		return;
	}
	if (type == WSTUN_REC_REFUSE && w->rev && !w->rev_udp) {
		wsrv_rev_refuse(w, body, len);
		return;
	}
	if (type == WSTUN_REC_DGRAM && w->rev && w->rev_udp) {
		wsrv_rev_dgram(w, body, len);
		return;
	}
	if ((type == WSTUN_REC_LISTEN || type == WSTUN_REC_LISTEN_UDP || type == WSTUN_REC_JOIN) &&
	    c->state == CONN_HANDSHAKE && !w->rev && !w->udp) {
		if (type == WSTUN_REC_JOIN)
			wsrv_rev_join(w, body, len);
		else
			wsrv_rev_listen(w, type == WSTUN_REC_LISTEN_UDP, body, len);
		return;
	}
	if (type != WSTUN_REC_OPEN || c->state != CONN_HANDSHAKE || w->rev ||
	    start_open(w, body, len) < 0) {
		log_info(c->id, "ws tunnel: unexpected or bad record %u", type);
		conn_close(c, "protocol error");
	}
}

/* The value of cookie `name` in a Cookie header, into out. */
static int cookie_value(const http_str_t *h, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = h->p, *end = h->p + h->len;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == ';'))
			p++;
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end;
		if ((size_t)(e - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
			size_t vl = (size_t)(e - p) - nl - 1;
			if (vl >= cap)
				return -ENOSPC;
			memcpy(out, p + nl + 1, vl);
			out[vl] = 0;
			return 0;
		}
		p = e;
	}
	return -ENOENT;
}

static void apply_xff(wconn_t *w)
{
	const http_str_t *x = http_req_header(w->req, "X-Forwarded-For");
	conn_t *c = w->c;
	char ip[64];
	target_t t;
	struct sockaddr_storage ss;
	const char *comma;
	size_t n;

	if (!w->srv->trust_xff || !x || !x->len)
		return;
	if (w->srv->xff_from.n &&
	    !cidr_list_match(&w->srv->xff_from, (struct sockaddr *)&c->peer)) {
		log_debug(c->id, "X-Forwarded-For from %s ignored (not in trust-xff-from)",
		          c->peer_str);
		return;
	}
	/* the rightmost entry is what the trusted proxy saw */
	comma = x->p + x->len;
	while (comma > x->p && comma[-1] != ',')
		comma--;
	while (comma < x->p + x->len && *comma == ' ')
		comma++;
	n = (size_t)(x->p + x->len - comma);
	if (!n || n >= sizeof(ip))
		return;
	memcpy(ip, comma, n);
	ip[n] = 0;
	if (target_set(&t, ip, 0) < 0 || !target_is_ip(&t, &ss))
		return;
	log_debug(c->id, "client %s via %s (X-Forwarded-For)", ip, c->peer_str);
	memcpy(&c->peer, &ss, sizeof(ss));
	snprintf(c->peer_str, sizeof(c->peer_str), "%s", ip);
}

/* early: the open in the token may be acted on (it cannot be a replay);
 * else the client sends it again as a record under the session keys. */
static void upgrade(wconn_t *w, const wstun_token_t *tok, int early, sbuf_t *rest)
{
	conn_t *c = w->c;
	wsrv_t *s = w->srv;
	const http_str_t *key = http_req_header(w->req, "Sec-WebSocket-Key");
	char kbuf[64], resp[512], extra[160], ans64[80];
	uint8_t sn[WSTUN_NONCE], ans[WSTUN_ANSWER];
	wstun_sess_t sess = {.enc = tok->flags & WSTUN_F_ENC};
	stream_t *inner = c->client;
	int n;

	snprintf(kbuf, sizeof(kbuf), "%.*s", (int)(key->len < 63 ? key->len : 63), key->p);
	drop_req(w);
	random_bytes(sn, sizeof(sn));
	early = early && (tok->flags & WSTUN_F_OPEN);
	/* AES-128-GCM records when the client offers them and this CPU too
	 * runs AES in hardware */
	sess.aes = sess.enc && (tok->flags & WSTUN_F_AES) && aead_hw_aes();
	wstun_answer_build(&s->keys, tok->nonce, sn,
	                   (early ? WSTUN_A_EARLY : 0) | (sess.aes ? WSTUN_A_AES : 0), ans);
	b64url_encode(ans, sizeof(ans), ans64);
	snprintf(extra, sizeof(extra), "Set-Cookie: sid=%s; Path=/; HttpOnly\r\n", ans64);
	n = ws_server_response(resp, sizeof(resp), kbuf, extra);
	if (n < 0) {
		sbuf_free(rest);
		conn_close(c, "response too long");
		return;
	}
	if (sess.enc) {
		wstun_dir_key(&s->keys, WSTUN_K_C2S, tok->nonce, sn, sess.rx_key);
		wstun_dir_key(&s->keys, WSTUN_K_S2C, tok->nonce, sn, sess.tx_key);
	}
	w->t = wstun_new(c->l->loop, c->id, on_ctl, w);
	c->client = wstun_stream(w->t);
	if (wstun_attach(w->t, c->l->loop, inner, rest, 0, &s->wo, &sess) < 0) {
		conn_close(c, "attach failed");
		return;
	}
	/* with an open to act on, the 101 waits a loop turn for its OPEN_OK
	 * (a target that connects at once): one write, one read for the
	 * client, and nothing later in the client's way (it may send no
	 * record before the 101, and the target cannot take them sooner) */
	wstun_head(w->t, sbuf_from(resp, (size_t)n), early);
	log_debug(c->id, "ws tunnel up (%s%s)",
	          !sess.enc  ? "enc=none"
	          : sess.aes ? "sealed, aes-128-gcm"
	                     : "sealed, chacha20-poly1305",
	          (tok->flags & WSTUN_F_OPEN) && !early ? ", 0-RTT open not taken" : "");
	if (early) {
		if (start_open(w, tok->open, tok->open_len) < 0)
			conn_close(c, "bad open request");
	} else {
		conn_set_deadline(c, s->open_timeout_ms); /* a pooled connection */
	}
}

/* What the token must be bound to: the Host (host= if the server has it,
 * for a front end that rewrites Host) and the path without its query. */
static void token_bind(wconn_t *w, wstun_bind_t *b)
{
	const http_str_t *h = http_req_header(w->req, "Host");
	const char *q = memchr(w->req->target.p, '?', w->req->target.len);

	if (w->srv->host) {
		b->host = w->srv->host;
		b->host_len = strlen(w->srv->host);
	} else {
		b->host = h ? h->p : "";
		b->host_len = h ? h->len : 0;
	}
	b->path = w->req->target.p;
	b->path_len = q ? (size_t)(q - w->req->target.p) : w->req->target.len;
}

/* The replay verdict on w->tok.  DOWN (the shared cache did not answer):
 * a sealed token is taken as UNSURE (its open, if any, comes again under
 * keys from both nonces, which a replay cannot make); an enc=none token
 * has no such keys and is refused. */
static void verdict(wconn_t *w, int r)
{
	wsrv_t *s = w->srv;
	wstun_token_t *tok = w->tok;
	sbuf_t *rest = w->rest;

	w->tok = NULL;
	w->rest = NULL;
	if (r == REPLAY_DOWN && !(tok->flags & WSTUN_F_ENC))
		send_decoy(w, REJ_DOWN, "replay cache unreachable, and the token is not sealed");
	else if (r == REPLAY_STALE)
		send_decoy(w, REJ_SKEW, "token timestamp outside the window");
	else if (r == REPLAY_SEEN || r == REPLAY_FULL)
		send_decoy(w, r == REPLAY_SEEN ? REJ_REPLAY : REJ_FULL,
		           r == REPLAY_SEEN ? "replayed token" : "replay cache full");
	else if (ws_head_banned(&w->hs, s->decoy, &s->rejected[REJ_AUTH]))
		; /* too many wrong keys from there: the decoy, never a tunnel */
	else {
		if (r == REPLAY_UNSURE)
			s->unsure++;
		if (r == REPLAY_DOWN) {
			s->down++;
			log_info(w->c->id, "replay cache unreachable: the open waits a round trip");
		}
		conn_auth_ok(w->c);
		upgrade(w, tok, r == REPLAY_NEW, rest);
		rest = NULL;
	}
	sbuf_free(rest);
	free(tok);
}

static void on_verdict(void *ud, int r)
{
	wconn_t *w = ud;

	w->wait = NULL;
	verdict(w, r);
}

static void on_request(ws_head_t *h, sbuf_t *rest)
{
	wconn_t *w = h->data;
	conn_t *c = w->c;
	wsrv_t *s = w->srv;
	const http_str_t *ck = http_req_header(w->req, "Cookie");
	char tok64[(WSTUN_TOKEN_MAX * 4) / 3 + 8];
	uint8_t raw[WSTUN_TOKEN_MAX];
	wstun_token_t *tok;
	wstun_bind_t bind;
	size_t plen = strlen(s->path);
	int n, r;

	conn_handshake_done(c);
	apply_xff(w);
	if (s->trust_xff && !acl_permits(&c->l->clients, (struct sockaddr *)&c->peer)) {
		sbuf_free(rest);
		log_info(c->id, "%s: refused (X-Forwarded-For not allowed)", c->peer_str);
		conn_close(c, "client not allowed");
		return;
	}
	if (!ws_upgrade_key(w->req) || !ck || w->req->target.len < plen ||
	    memcmp(w->req->target.p, s->path, plen) ||
	    (w->req->target.len > plen && w->req->target.p[plen] != '?' &&
	     s->path[plen - 1] != '/')) {
		sbuf_free(rest);
		send_decoy(w, REJ_PROBE, "not a tunnel request");
		return;
	}
	if (cookie_value(ck, "sid", tok64, sizeof(tok64)) < 0 ||
	    (n = b64_decode(tok64, strlen(tok64), raw, sizeof(raw))) < 0) {
		sbuf_free(rest);
		send_decoy(w, REJ_MALFORMED, "no token");
		return;
	}
	tok = malloc(sizeof(*tok));
	if (!tok)
		abort();
	token_bind(w, &bind);
	r = wstun_token_parse(&s->keys, &bind, raw, (size_t)n, tok);
	if (r == -EBADMSG) {
		ws_head_decoy_auth(&w->hs, s->decoy, &s->rejected[REJ_AUTH], "ws",
		                   "token not authentic (wrong key, or another Host or path?)");
	} else if (r < 0) {
		send_decoy(w, REJ_MALFORMED, "malformed token (or another protocol version)");
	} else if (!(tok->flags & WSTUN_F_ENC) && !s->plain_ok) {
		send_decoy(w, REJ_PLAIN, "enc=none over plain ws:// (see the server's enc=any)");
	} else {
		w->tok = tok;
		w->rest = rest;
		r = replay_store_judge(s->replay, tok->nonce, tok->ts_ms, wall_ms(), s->skew_ms,
		                       on_verdict, w, &w->wait);
		if (r != REPLAY_PENDING)
			verdict(w, r);
		return;
	}
	sbuf_free(rest);
	free(tok);
}

static void ws_on_conn(conn_t *c)
{
	wsrv_t *s = c->l->front;
	wconn_t *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->c = c;
	w->srv = s;
	if (!(w->req = malloc(sizeof(*w->req))))
		abort();
	http_req_init(w->req);
	c->front = w;
	c->front_free = wconn_free;
	w->hs =
	    (ws_head_t){c, w->req, &s->rejected[REJ_PROBE], on_request, w, s->decoy, NULL, NULL};
	ws_head_read(&w->hs, s->tls);
}

/* ---- set-up ---- */

static const metric_t srv_metrics[] = {
    METRIC(wsrv_t, active, "sluice_ws_tunnels_active", "gauge", "WebSocket tunnels open now."),
    METRIC(wsrv_t, opens, "sluice_ws_opens_total", "counter", "Tunnel opens accepted."),
    METRIC(wsrv_t, unsure, "sluice_ws_early_refused_total", "counter",
           "Opens accepted without acting on their 0-RTT part (stamped before the replay "
           "floor)."),
    METRIC(wsrv_t, down, "sluice_ws_early_unverified_total", "counter",
           "Opens accepted without acting on their 0-RTT part (the shared replay cache did not "
           "answer)."),
    METRIC(wsrv_t, udp_assocs, "sluice_ws_udp_associations_total", "counter",
           "Datagram associations opened."),
    METRIC(wsrv_t, udp_refused, "sluice_ws_udp_refused_total", "counter",
           "Datagram associations refused (the chain cannot carry UDP)."),
    METRIC(wsrv_t, rev_refused, "sluice_ws_reverse_refused_total", "counter",
           "Reverse listeners refused (not in reverse=, over reverse-claims, or the bind "
           "failed)."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	wsrv_t *s = ud;
	char lab[300], rl[360];

	metrics_label(lab, sizeof(lab), "listener", s->l->name);
	METRICS_TABLE(b, srv_metrics, s, lab);
	for (int i = 0; i < REJ_N; i++) {
		snprintf(rl, sizeof(rl), "%s,reason=\"%s\"", lab, rej_names[i]);
		metrics_sample(b, "sluice_ws_rejected_total", "counter",
		               "Requests answered with the decoy, by reason.", rl, s->rejected[i]);
	}
	snprintf(rl, sizeof(rl), "%s,dir=\"in\"", lab);
	metrics_sample(b, "sluice_ws_udp_datagrams_total", "counter",
	               "Datagrams carried, from clients (in) and to them (out).", rl, s->udp_in);
	snprintf(rl, sizeof(rl), "%s,dir=\"out\"", lab);
	metrics_sample(b, "sluice_ws_udp_datagrams_total", "counter",
	               "Datagrams carried, from clients (in) and to them (out).", rl, s->udp_out);
	metrics_sample(b, "sluice_ws_replay_cache_entries", "gauge",
	               "Open tokens remembered against replay.", lab, replay_store_size(s->replay));
}

typedef struct wsrv_opts {
	tunkey_opts_t key;
	ws_opts_t wo;
	uint64_t skew_ms, open_timeout_ms, replay_cache, replay_timeout_ms;
	int trust_xff, enc_any;
	cidr_list_t xff_from;
	rev_server_opts_t rev;
	const char *replay, *replay_state, *host, *decoy, *decoy_server, *cert, *certkey, *ciphers;
} wsrv_opts_t;

static int parse_enc(void *obj, const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "any"))
		((wsrv_opts_t *)obj)->enc_any = 1;
	else if (strcmp(v, "chacha20-poly1305")) {
		snprintf(err, errlen,
		         "option 'enc': chacha20-poly1305 (default on ws://: sealed records only) "
		         "or any (also enc=none, for a ws:// server behind a TLS front end)");
		return -EINVAL;
	}
	return 0;
}

static const opt_include_t ws_server_inc[] = {
    OPT_INCLUDE(wsrv_opts_t, key, &tunkey_opts),
    OPT_INCLUDE(wsrv_opts_t, wo, &ws_keepalive_opts),
    OPT_INCLUDE(wsrv_opts_t, rev, &rev_server_opts),
    {NULL, 0},
};

static const opt_t ws_server_table[] = {
    WS_MAX_MESSAGE_OPT(wsrv_opts_t, wo.max_message),
    OPT_DURATION(wsrv_opts_t, skew_ms, "skew", "2m", "how far a client's clock may be from ours"),
    OPT_UINT(wsrv_opts_t, replay_cache, "replay-cache", 10000000, "1048576",
             "open tokens remembered, so that none is accepted twice (one cache per key for "
             "the whole process)"),
    OPT_STR(wsrv_opts_t, replay_state, "replay-state", "none", "FILE",
            "a file for the replay high-water mark, so that a restarted server acts on 0-RTT "
            "opens at once (without it, opens stamped within skew of the start cost a round "
            "trip)"),
    REPLAY_SHARED_OPTS(wsrv_opts_t, replay, replay_timeout_ms),
    OPT_STR(wsrv_opts_t, host, "host", "the request's Host", "NAME",
            "the Host clients use, when a front end rewrites it (open tokens are bound to the "
            "Host and the path)"),
    OPT_FUNC_DOC("enc", parse_enc, "chacha20-poly1305 on ws://", "chacha20-poly1305|any",
                 "any also accepts clients with enc=none on ws:// (for a server behind a TLS front "
                 "end); on wss:// they always are"),
    OPT_DURATION(wsrv_opts_t, open_timeout_ms, "open-timeout", "10m",
                 "how long a pooled WebSocket may wait for its open"),
    OPT_STR(wsrv_opts_t, decoy, "decoy", "a small built-in page", "FILE|DIR|URL",
            "what everyone who is not a tunnel client sees: an HTML file, a directory "
            "served as a static site, or http://HOST:PORT, a web server every such "
            "connection is passed to"),
    OPT_STR(wsrv_opts_t, decoy_server, "decoy-server", "nginx", "NAME",
            "the Server header of the decoy's own answers (empty: none)"),
    OPT_BOOL(wsrv_opts_t, trust_xff, "trust-xff", "0",
             "take the client address from X-Forwarded-For (behind a reverse proxy such as "
             "nginx) for logs and ACLs"),
    OPT_CIDRS(wsrv_opts_t, xff_from, "trust-xff-from", "any peer",
              "take X-Forwarded-For only from these peers (the load balancers; implies "
              "trust-xff), so that a client that reaches the server directly cannot name "
              "another address"),
};

static const opt_schema_t ws_server_opts = OPT_SCHEMA_WITH(ws_server_inc, ws_server_table);

static const opt_t wss_server_table[] = {
    OPT_STR(wsrv_opts_t, cert, "cert", "required", "FILE", "the server's certificate chain (PEM)"),
    OPT_STR(wsrv_opts_t, certkey, "certkey", "required", "FILE",
            "the certificate's private key (PEM)"),
    OPT_STR(wsrv_opts_t, ciphers, "ciphers", "AES-128-GCM first where this CPU has AES", "LIST",
            "the TLS 1.3 cipher suites accepted, in order of preference (OpenSSL's names "
            "joined by ':')"),
};

static const opt_schema_t wss_server_opts = OPT_SCHEMA(&ws_server_opts, wss_server_table);

static int ws_init_common(listener_t *l, int tls, char *err, size_t errlen)
{
	wsrv_t *s = calloc(1, sizeof(*s));
	url_t *u = l->url;
	wsrv_opts_t o = {0};
	replay_conf_t conf;
	uint8_t k[KEY_MAX];
	size_t klen;
	int r;

	if (!s)
		abort();
	l->front = s;
	s->l = l;
	r = opts_parse(tls ? &wss_server_opts : &ws_server_opts, u, &o, err, errlen);
	s->xff_from = o.xff_from; /* ws_free_front's, whatever happens next */
	if (r < 0 || (r = tunkey_load(&o.key, 1, k, &klen, err, errlen)) < 0)
		return r;
	wstun_keys_init(&s->keys, k, klen);
	s->skew_ms = o.skew_ms;
	s->open_timeout_ms = o.open_timeout_ms;
	s->trust_xff = o.trust_xff || o.xff_from.n;
	s->allow = o.rev.allow;
	s->rev_claims = o.rev.claims;
	s->rev_udp_idle_ms = o.rev.udp_idle_ms ? o.rev.udp_idle_ms : REV_UDP_IDLE_MS;
	s->rev_udp_flows = o.rev.udp_flows;
	s->wo = o.wo;
	s->plain_ok = tls || o.enc_any;
	conf = (replay_conf_t){.capacity = o.replay_cache,
	                       .skew_ms = s->skew_ms,
	                       .state = o.replay_state,
	                       .round_trip = 1,
	                       .shared = o.replay,
	                       .shared_timeout_ms = o.replay_timeout_ms,
	                       .loop = l->loop};
	if ((r = replay_store_get("ws", s->keys.auth, &conf, &s->replay, err, errlen)) < 0)
		return r;
	if (o.host) {
		s->host = strdup(o.host);
		if (!s->host)
			abort();
	}
	if ((r = decoy_new(o.decoy, o.decoy_server, &s->decoy, err, errlen)) < 0)
		return r;
	s->path = strdup(u->path[0] ? u->path : "/");
	if (tls) {
		tls_opts_t t = {.cert_file = o.cert, .key_file = o.certkey, .ciphers = o.ciphers};
		if (!o.cert || !o.certkey) {
			snprintf(err, errlen,
			         "wss:// needs options 'cert' and 'certkey' (PEM files)");
			return -EINVAL;
		}
		if ((r = tls_ctx_new_server(&t, &s->tls, err, errlen)) < 0)
			return r;
		decoy_set_https(s->decoy);
	}
	metrics_register(metrics_fn, s);
	return 0;
}

static int ws_init(listener_t *l, char *err, size_t errlen)
{
	return ws_init_common(l, 0, err, errlen);
}
static int wss_init(listener_t *l, char *err, size_t errlen)
{
	return ws_init_common(l, 1, err, errlen);
}

static void ws_free_front(listener_t *l)
{
	wsrv_t *s = l->front;

	if (!s)
		return;
	metrics_unregister(metrics_fn, s);
	tls_ctx_free(s->tls);
	replay_store_put(s->replay);
	cidr_list_free(&s->xff_from);
	free(s->host);
	free(s->path);
	decoy_free(s->decoy);
	free(s);
}

/* Stop accepting: the reverse listeners stop too (their WebSockets
 * close, so their clients claim again from whoever listens next). */
static void ws_stop(listener_t *l)
{
	queue_t *q, *n;

	queue_foreach_safe (q, n, &l->conns) {
		conn_t *c = queue_data(q, conn_t, link);
		wconn_t *w = c->front;
		if (w && w->rev)
			conn_close(c, "shutdown: reverse listener released");
	}
}

const front_ops_t ws_front_ops = {
    .workers = 1,
    .scheme = "ws",
    .init = ws_init,
    .on_conn = ws_on_conn,
    .stop = ws_stop,
    .free = ws_free_front,
    .reach = REACH_REMOTE,
    .gateway = 1,
};

const front_ops_t wss_front_ops = {
    .workers = 1,
    .scheme = "wss",
    .init = wss_init,
    .on_conn = ws_on_conn,
    .stop = ws_stop,
    .free = ws_free_front,
    .reach = REACH_REMOTE,
    .gateway = 1,
};

static const transport_scheme_t ws_schemes[] = {
    {.scheme = "ws",
     .listen = &ws_front_ops,
     .hop = ws_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_REMOTE_DNS,
     .listen_doc = {.usage = "ws://IP:PORT[/path][?key=KEY]",
                    .about = "WebSocket tunnel server",
                    .opts = &ws_server_opts},
     .hop_doc = {.usage = "ws://HOST:PORT[/path][?key=KEY]",
                 .about = "through a WebSocket tunnel server",
                 .opts = &ws_hop_opts}},
    {.scheme = "wss",
     .listen = &wss_front_ops,
     .hop = wss_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_REMOTE_DNS,
     .listen_doc = {.usage = "wss://IP:PORT[/path]?cert=FILE&certkey=FILE[&key=KEY]",
                    .about = "WebSocket tunnel server over TLS",
                    .opts = &wss_server_opts},
     .hop_doc = {.usage = "wss://HOST:PORT[/path][?key=KEY&ca=FILE]",
                 .about = "the same over TLS",
                 .opts = &wss_hop_opts}},
};

const transport_t ws_transport = {
    .name = "ws",
    .summary = "WebSocket tunnel (docs/ws-protocol.md)",
    TRANSPORT_SCHEMES(ws_schemes),
};
