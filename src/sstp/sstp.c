/* sstp: the SSTP client as a hop (MS-SSTP), see sstp.h.
 *
 * One session: TCP through the rest of the chain, TLS, the HTTP
 * SSTP_DUPLEX_POST exchange, then SSTP packets both ways.  The client
 * state machine (MS-SSTP 3.2.1):
 *
 *   DIAL -> TLS -> HTTP (request sent, waiting for 200)
 *        -> REQUEST (Call Connect Request sent; negotiation timer)
 *        -> PPP (Ack received: PPP runs, LCP and authentication)
 *        -> CONNECTED (Call Connected with the crypto binding sent; IPCP,
 *           then IP through pkthop and the lwIP endpoint)
 *
 * Either side may end it: Call Disconnect (answered with Disconnect Ack),
 * Call Abort, an Echo Request unanswered, the TLS stream closing.  A Nak
 * makes us ask again, up to SSTP_MAX_RETRIES times.  The Hello timer sends
 * an Echo Request after `echo` of silence and gives up after three more.
 *
 * Options: ca=FILE, insecure=1, pin=SHA256HEX (the server certificate),
 * sni=NAME, host=NAME (HTTP Host), auth=LIST (pap,chap,mschapv2), hash=LIST
 * (sha256,sha1: crypto binding hashes we agree to), echo=D (default 10s),
 * ipv6=1, timeout=D (negotiation, default 60s as the spec says), dns=IP
 * (asked after the servers IPCP gives).
 */
#include "sstp/sstp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/secret.h"
#include "core/tls.h"
#include "core/transport.h"
#include "netstack/pkthop.h"
#include "ppp/ppp.h"
#include "ppp/ppphop.h"
#include "sstp/sstp_proto.h"
#include "sstp/sstpd.h"

#define SSTP_MAX_RETRIES 3
#define SSTP_ECHO_TRIES 3

typedef enum sstate { S_IDLE, S_DIAL, S_TLS, S_HTTP, S_REQUEST, S_PPP, S_CONNECTED } sstate_t;

static const char *const state_names[] = {"idle",    "dial", "tls",      "http",
                                          "request", "ppp",  "connected"};

typedef struct slink {
	pkthop_t *h;
	uv_loop_t *loop;
	tls_ctx_t *tls;
	char *sni, *host_hdr, *user, *pass;
	unsigned auth_methods, hash_ok; /* hash_ok: SSTP_HASH_* bits we accept */
	uint64_t echo_ms, nego_ms;
	int ipv6;
	int stopping; /* link_stop: the engine's last words go unheard */

	/* the session */
	sstate_t state;
	dial_t *dial;
	stream_t *s;
	ppp_t *ppp;
	uv_timer_t tick;
	uv_idle_t flush;  /* writes of one loop turn go out as one record */
	uint8_t tx[4096]; /* measured against SoftEther: 16 KiB batches of
	                   * full-size packets lose uploads (its NAT drops
	                   * bursts), one record per packet costs downloads */
	size_t txlen;
	uint64_t deadline; /* negotiation deadline (REQUEST, PPP) */
	uint64_t last_rx;  /* Hello timer */
	unsigned echoes;   /* Echo Requests sent since last_rx */
	unsigned retries;  /* Call Connect Requests sent */
	uint8_t hash;      /* chosen for the binding */
	uint8_t nonce[32];
	uint8_t cert_sha1[20], cert_sha256[32];
	sstp_rx_t rx;
	uint64_t pkts_in, pkts_out, bad;
} slink_t;

static uint64_t now_ms(slink_t *l)
{
	return uv_now(l->loop);
}

static void set_state(slink_t *l, sstate_t st)
{
	log_debug(0, "%s: sstp: %s -> %s", pkthop_name(l->h), state_names[l->state],
	          state_names[st]);
	l->state = st;
}

/* Drop the session without telling anyone. */
static void release(slink_t *l)
{
	if (l->dial)
		dial_next_cancel(pkthop_dialer(l->h), l->dial);
	l->dial = NULL;
	stream_close(l->s);
	l->s = NULL;
	if (l->ppp)
		ppp_free(l->ppp);
	l->ppp = NULL;
	uv_timer_stop(&l->tick);
	uv_idle_stop(&l->flush);
	l->rx.len = 0;
	l->rx.in_head = 0;
	l->txlen = 0;
	l->state = S_IDLE;
}

static void fail(slink_t *l, const char *why)
{
	char buf[256];

	/* why may live in what release() frees (the PPP engine's reason) */
	snprintf(buf, sizeof(buf), "%.250s", why);
	release(l);
	pkthop_link_down(l->h, buf);
}

static void flush_tx(slink_t *l)
{
	if (l->s && l->txlen)
		stream_write_copy(l->s, l->tx, l->txlen);
	l->txlen = 0;
	uv_idle_stop(&l->flush);
}

static void on_flush(uv_idle_t *c)
{
	flush_tx(c->data);
}

/* Packets are gathered and written once per loop turn (or per 4 KiB):
 * one TLS record and one system call for many packets.  An idle handle,
 * not a check: packets made outside the I/O callbacks (lwIP's ACKs at the
 * end of a turn, its timers) would otherwise wait in the batch while the
 * loop blocks in poll, up to lwIP's next timer. */
static void send_raw(slink_t *l, const uint8_t *buf, size_t len)
{
	if (!l->s)
		return;
	l->pkts_out++;
	if (l->txlen + len > sizeof(l->tx))
		flush_tx(l);
	memcpy(l->tx + l->txlen, buf, len);
	if (!l->txlen)
		uv_idle_start(&l->flush, on_flush);
	l->txlen += len;
}

static void send_plain(slink_t *l, uint16_t type)
{
	uint8_t m[8];

	send_raw(l, m, sstp_enc_plain(m, type));
}

/* Call Abort with the reason, then drop: MS-SSTP waits for the peer's own
 * abort, but nothing we could still receive would change the outcome. */
static void abort_call(slink_t *l, uint8_t attr, uint32_t status, const char *why)
{
	uint8_t m[20];
	char buf[256];

	send_raw(l, m, sstp_enc_status(m, SSTP_MSG_CALL_ABORT, attr, status));
	flush_tx(l);
	if (l->s)
		stream_shutdown(l->s);
	snprintf(buf, sizeof(buf), "%s (Call Abort sent: %s)", why, sstp_status_name(status));
	fail(l, buf);
}

/* ---- PPP over SSTP ---- */

static void ppp_out(void *ud, const uint8_t *frame, size_t len)
{
	slink_t *l = ud;
	uint8_t buf[SSTP_MAX_PACKET];

	if (len + SSTP_HDR_LEN > sizeof(buf)) {
		l->bad++;
		return;
	}
	sstp_data_header(buf, len);
	memcpy(buf + SSTP_HDR_LEN, frame, len);
	send_raw(l, buf, len + SSTP_HDR_LEN);
}

static void ppp_ip(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	slink_t *l = ud;

	(void)proto;
	pkthop_link_input(l->h, pkt, len);
}

static void ppp_up(void *ud, const ppp_ipcfg_t *ip)
{
	slink_t *l = ud;

	ppphop_link_up(l->h, l->ppp, ip);
}

static void ppp_down(void *ud, const char *reason)
{
	slink_t *l = ud;
	uint8_t m[20];

	if (l->stopping)
		return;
	/* PPP ended: the call ends with it (MS-SSTP 3.2.5.3) */
	send_raw(
	    l, m,
	    sstp_enc_status(m, SSTP_MSG_CALL_DISCONNECT, SSTP_ATTR_NO_ERROR, SSTP_STATUS_NO_ERROR));
	flush_tx(l);
	if (l->s)
		stream_shutdown(l->s);
	fail(l, reason);
}

static void ppp_log(void *ud, int level, const char *msg)
{
	slink_t *l = ud;

	LOG_AT(level, 0, "%s: %s", pkthop_name(l->h), msg);
}

/* Authentication is over: bind it to the TLS session (Call Connected). */
static void ppp_authed(void *ud)
{
	slink_t *l = ud;
	uint8_t hlak[32], send[16], recv[16], m[SSTP_CALL_CONNECTED_LEN];
	const auth_t *a = ppp_auth(l->ppp);
	int keys = a && auth_mppe_keys(a, send, recv) == 0;

	sstp_hlak_client(hlak, keys ? send : NULL, keys ? recv : NULL);
	sstp_enc_call_connected(m, l->hash, l->nonce,
	                        l->hash == SSTP_HASH_SHA256 ? l->cert_sha256 : l->cert_sha1, hlak);
	send_raw(l, m, sizeof(m));
	OPENSSL_cleanse(hlak, sizeof(hlak));
	OPENSSL_cleanse(send, sizeof(send));
	OPENSSL_cleanse(recv, sizeof(recv));
	log_info(0, "%s: sstp: call connected (crypto binding %s, %s)", pkthop_name(l->h),
	         l->hash == SSTP_HASH_SHA256 ? "SHA-256" : "SHA-1",
	         keys ? "MS-CHAPv2 keys" : "no inner keys");
	set_state(l, S_CONNECTED);
	l->deadline = 0;
}

static const ppp_cbs_t ppp_cbs = {
    .output = ppp_out,
    .ip_input = ppp_ip,
    .up = ppp_up,
    .down = ppp_down,
    .log = ppp_log,
    .authed = ppp_authed,
};

static void start_ppp(slink_t *l)
{
	ppp_cfg_t cfg = {0};

	cfg.server = 0;
	cfg.framing = 0;
	cfg.auth_methods = l->auth_methods;
	cfg.name = l->user ? l->user : "";
	cfg.password = l->pass ? l->pass : "";
	cfg.mru = 1500;
	cfg.ipv6 = l->ipv6;
	cfg.echo_interval_ms = 0; /* SSTP's own echo keeps the call alive */
	l->ppp = ppp_new(&cfg, &ppp_cbs, l);
	set_state(l, S_PPP);
	l->deadline = now_ms(l) + l->nego_ms; /* MS-SSTP 3.2.2.1: again after the Ack */
	ppp_start(l->ppp, now_ms(l));
}

/* ---- control messages ---- */

static void send_request(slink_t *l)
{
	uint8_t m[14];

	l->retries++;
	send_raw(l, m, sstp_enc_connect_request(m));
	set_state(l, S_REQUEST);
	l->deadline = now_ms(l) + l->nego_ms;
}

static void on_ack(slink_t *l, const sstp_ctrl_t *c)
{
	const sstp_attr_t *a = sstp_find_attr(c, SSTP_ATTR_CRYPTO_BINDING_REQ);
	uint8_t mask = 0;

	if (!a || sstp_attr_binding_req(a, &mask, l->nonce) < 0) {
		abort_call(l, SSTP_ATTR_CRYPTO_BINDING_REQ, SSTP_STATUS_REQUIRED_ATTRIBUTE_MISSING,
		           "Call Connect Ack without a valid crypto binding request");
		return;
	}
	mask &= l->hash_ok;
	if (mask & SSTP_HASH_SHA256)
		l->hash = SSTP_HASH_SHA256;
	else if (mask & SSTP_HASH_SHA1)
		l->hash = SSTP_HASH_SHA1;
	else {
		abort_call(l, SSTP_ATTR_CRYPTO_BINDING_REQ, SSTP_STATUS_VALUE_NOT_SUPPORTED,
		           "the server offers no crypto binding hash we accept");
		return;
	}
	log_info(0, "%s: sstp: Call Connect Ack, binding hash %s", pkthop_name(l->h),
	         l->hash == SSTP_HASH_SHA256 ? "SHA-256" : "SHA-1");
	start_ppp(l);
}

static void on_nak(slink_t *l, const sstp_ctrl_t *c)
{
	const sstp_attr_t *a = sstp_find_attr(c, SSTP_ATTR_STATUS_INFO);
	uint8_t id = 0;
	uint32_t st = 0;
	const uint8_t *x;
	size_t xl;
	char why[160];

	if (a)
		sstp_attr_status(a, &id, &st, &x, &xl);
	log_warn(0, "%s: sstp: Call Connect Nak (attribute %u: %s), try %u of %u",
	         pkthop_name(l->h), id, sstp_status_name(st), l->retries, SSTP_MAX_RETRIES);
	if (l->retries >= SSTP_MAX_RETRIES) {
		snprintf(why, sizeof(why), "the server refused the call %u times (%s)", l->retries,
		         sstp_status_name(st));
		abort_call(l, SSTP_ATTR_NO_ERROR, SSTP_STATUS_RETRY_COUNT_EXCEEDED, why);
		return;
	}
	send_request(l);
}

static void on_control(slink_t *l, const uint8_t *pkt, size_t len)
{
	sstp_ctrl_t c;
	char why[160];

	if (sstp_parse_control(pkt, len, &c) < 0) {
		abort_call(l, SSTP_ATTR_NO_ERROR, SSTP_STATUS_INVALID_FRAME_RECEIVED,
		           "malformed control packet");
		return;
	}
	log_debug(0, "%s: sstp: <- %s", pkthop_name(l->h), sstp_msg_name(c.type));
	switch (c.type) {
	case SSTP_MSG_CALL_CONNECT_ACK:
		if (l->state != S_REQUEST)
			break;
		on_ack(l, &c);
		return;
	case SSTP_MSG_CALL_CONNECT_NAK:
		if (l->state != S_REQUEST)
			break;
		on_nak(l, &c);
		return;
	case SSTP_MSG_ECHO_REQUEST:
		send_plain(l, SSTP_MSG_ECHO_RESPONSE);
		return;
	case SSTP_MSG_ECHO_RESPONSE:
		return; /* last_rx already moved */
	case SSTP_MSG_CALL_DISCONNECT:
		send_plain(l, SSTP_MSG_CALL_DISCONNECT_ACK);
		flush_tx(l);
		stream_shutdown(l->s);
		fail(l, "the server disconnected the call");
		return;
	case SSTP_MSG_CALL_ABORT: {
		snprintf(why, sizeof(why), "the server aborted the call (%s)",
		         sstp_status_name(sstp_ctrl_status(&c)));
		/* MS-SSTP 3.2.5.2: a Call Abort is answered with one */
		{
			uint8_t m[20];
			send_raw(l, m,
			         sstp_enc_status(m, SSTP_MSG_CALL_ABORT, SSTP_ATTR_NO_ERROR,
			                         SSTP_STATUS_NO_ERROR));
			flush_tx(l);
		}
		fail(l, why);
		return;
	}
	case SSTP_MSG_CALL_DISCONNECT_ACK:
		return;
	default:
		break;
	}
	snprintf(why, sizeof(why), "unexpected %s in state %s", sstp_msg_name(c.type),
	         state_names[l->state]);
	abort_call(l, SSTP_ATTR_NO_ERROR, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED, why);
}

/* One whole packet.  Returns 0, or -1 when the session is gone. */
static int on_packet(slink_t *l, const uint8_t *pkt, size_t len)
{
	l->pkts_in++;
	if (sstp_is_control(pkt)) {
		stream_t *s = l->s;
		on_control(l, pkt, len);
		return l->s == s ? 0 : -1;
	}
	if (!l->ppp) {
		abort_call(l, SSTP_ATTR_NO_ERROR, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED,
		           "data packet before the call was accepted");
		return -1;
	}
	{
		stream_t *s = l->s;
		ppp_input_frame(l->ppp, pkt + SSTP_HDR_LEN, len - SSTP_HDR_LEN, now_ms(l));
		return l->s == s ? 0 : -1;
	}
}

/* The server's answer head: 200, or the session fails. */
static long on_head(void *ud, const uint8_t *p, size_t len)
{
	slink_t *l = ud;
	int status = 0, n = sstp_http_response(p, len, &status);
	char why[96];

	if (n == 0)
		return 0;
	if (n < 0) {
		fail(l, "the server's answer is not HTTP");
		return -1;
	}
	if (status != 200) {
		snprintf(why, sizeof(why), "the server answered HTTP %d to SSTP_DUPLEX_POST",
		         status);
		fail(l, why);
		return -1;
	}
	send_request(l);
	return n;
}

static int on_packet_cb(void *ud, const uint8_t *pkt, size_t len)
{
	return on_packet(ud, pkt, len);
}

static const sstp_rx_cbs_t rx_cbs = {on_head, on_packet_cb};

static void s_read(stream_t *s, sbuf_t *b)
{
	slink_t *l = s->data;
	int r;

	if (!b) {
		fail(l, "the server closed the connection");
		return;
	}
	l->last_rx = now_ms(l);
	l->echoes = 0;
	r = sstp_rx_feed(&l->rx, sbuf_ptr(b), b->len, &rx_cbs, l);
	sbuf_free(b);
	if (r == SSTP_RX_BAD)
		abort_call(l, SSTP_ATTR_NO_ERROR, SSTP_STATUS_INVALID_FRAME_RECEIVED,
		           "malformed SSTP packet header");
	else if (r == SSTP_RX_LONG)
		fail(l, "the server's HTTP answer is too long");
}

static void s_error(stream_t *s, int err)
{
	slink_t *l = s->data;
	char why[160];

	snprintf(why, sizeof(why), "connection to the server: %s", uv_strerror(err));
	fail(l, why);
}

static const stream_cbs_t s_cbs = {s_read, NULL, s_error};

/* ---- timers ---- */

static void on_tick(uv_timer_t *t)
{
	slink_t *l = t->data;
	uint64_t now = now_ms(l);

	if (l->deadline && now >= l->deadline && l->state < S_REQUEST) {
		fail(l, l->state == S_HTTP
		            ? "no HTTP answer from the server in time"
		            : "the connection or TLS handshake did not complete in time");
		return;
	}
	if (l->deadline && now >= l->deadline) {
		abort_call(l, SSTP_ATTR_NO_ERROR, SSTP_STATUS_NEGOTIATION_TIMEOUT,
		           l->state == S_PPP ? "PPP did not authenticate in time"
		                             : "no answer to the call request in time");
		return;
	}
	if (l->state >= S_REQUEST && now - l->last_rx >= l->echo_ms * (l->echoes + 1)) {
		if (l->echoes >= SSTP_ECHO_TRIES) {
			abort_call(l, SSTP_ATTR_NO_ERROR, SSTP_STATUS_NEGOTIATION_TIMEOUT,
			           "the server stopped answering echo requests");
			return;
		}
		l->echoes++;
		send_plain(l, SSTP_MSG_ECHO_REQUEST);
	}
	if (l->ppp)
		ppp_tick(l->ppp, now);
}

/* ---- setting up the session ---- */

static void on_tls(void *ud, stream_t *s, int err)
{
	slink_t *l = ud;
	char req[1024], why[300];
	size_t n;

	if (err < 0) {
		snprintf(why, sizeof(why), "TLS with the server failed: %s",
		         err == UV_EPROTO ? "handshake or certificate refused" : uv_strerror(err));
		fail(l, why);
		return;
	}
	if (tls_peer_cert_hash(s, "sha1", l->cert_sha1, sizeof(l->cert_sha1)) != 20 ||
	    tls_peer_cert_hash(s, "sha256", l->cert_sha256, sizeof(l->cert_sha256)) != 32) {
		fail(l, "the server sent no certificate");
		return;
	}
	log_info(0, "%s: sstp: %s", pkthop_name(l->h), tls_describe(s));
	{
		char guid[39];
		sstp_guid(guid);
		n = sstp_http_request(req, sizeof(req), l->host_hdr, guid);
	}
	if (!n) {
		fail(l, "the Host header would not be valid HTTP");
		return;
	}
	set_state(l, S_HTTP);
	l->rx.in_head = 1;
	l->last_rx = now_ms(l);
	l->deadline = now_ms(l) + l->nego_ms;
	stream_set_cbs(s, &s_cbs, l);
	stream_read_start(s);
	stream_write_copy(s, req, n);
	uv_timer_start(&l->tick, on_tick, 100, 100);
}

static void on_dialed(void *ud, stream_t *s, int err)
{
	slink_t *l = ud;
	char why[300];

	l->dial = NULL;
	if (err < 0) {
		snprintf(why, sizeof(why), "cannot reach the SSTP server: %s", uv_strerror(err));
		fail(l, why);
		return;
	}
	set_state(l, S_TLS);
	l->s = tls_client_new(l->loop, l->tls, s, l->sni, NULL);
	tls_handshake(l->s, on_tls, l);
}

static int link_start(pkthop_t *h)
{
	slink_t *l = pkthop_link(h);
	dial_opts_t o = {0};

	l->retries = 0;
	l->echoes = 0;
	l->rx.len = 0;
	set_state(l, S_DIAL);
	l->dial = dial_next(pkthop_dialer(h), &o, on_dialed, l);
	if (!l->dial) {
		l->state = S_IDLE;
		return UV_ENOMEM;
	}
	/* the negotiation deadline also bounds the dial, TLS and HTTP */
	l->last_rx = now_ms(l);
	l->deadline = now_ms(l) + l->nego_ms;
	uv_timer_start(&l->tick, on_tick, 100, 100);
	return 0;
}

static int link_send(pkthop_t *h, const uint8_t *pkt, size_t len)
{
	slink_t *l = pkthop_link(h);

	if (!l->ppp || l->state != S_CONNECTED)
		return UV_ENETDOWN;
	/* a slow or stalled server: drop, as a router would; TCP recovers */
	if (l->s->wq_bytes > STREAM_HIGH_WATER)
		return UV_ENOBUFS;
	return ppphop_send_ip(l->ppp, pkt, len);
}

/* Tear down now: say goodbye on the way out (LCP Terminate, Call
 * Disconnect, TLS close_notify), best effort, no callbacks. */
static void link_stop(pkthop_t *h)
{
	slink_t *l = pkthop_link(h);
	uint8_t m[20];

	if (l->s && l->state >= S_REQUEST) {
		l->stopping = 1;
		if (l->ppp)
			ppp_close(l->ppp, "shutting down");
		l->stopping = 0;
		send_raw(l, m,
		         sstp_enc_status(m, SSTP_MSG_CALL_DISCONNECT, SSTP_ATTR_NO_ERROR,
		                         SSTP_STATUS_NO_ERROR));
		flush_tx(l);
		stream_shutdown(l->s);
		log_info(0, "%s: sstp: call disconnected", pkthop_name(l->h));
	}
	release(l);
}

static void free_on_close(uv_handle_t *t)
{
	free(t->data);
}

/* the idle handle closes first; the timer's close frees the link */
static void close_handles(slink_t *l)
{
	uv_close((uv_handle_t *)&l->flush, NULL);
	uv_close((uv_handle_t *)&l->tick, free_on_close);
}

static void free_strings(slink_t *l)
{
	free(l->sni);
	free(l->host_hdr);
	free(l->user);
	secret_free_str(l->pass);
	tls_ctx_free(l->tls);
}

static void link_free(pkthop_t *h)
{
	slink_t *l = pkthop_link(h);

	release(l);
	free_strings(l);
	close_handles(l);
}

static const pktlink_ops_t sstp_link_ops = {"sstp", link_start, link_send, link_stop, link_free};

typedef struct sstp_opts {
	ppp_link_opts_t link;
	const char *ca, *pin, *sni, *host;
	int insecure;
	unsigned hash; /* SSTP_HASH_* */
	uint64_t nego_ms;
} sstp_opts_t;

static int parse_hashes(void *obj, const char *v, char *err, size_t errlen)
{
	return sstp_hash_list_parse(v, &((sstp_opts_t *)obj)->hash, err, errlen);
}

static const opt_t sstp_opt_table[] = {
    OPT_STR(sstp_opts_t, ca, "ca", "the system's CAs", "FILE",
            "verify the server's certificate against this PEM bundle"),
    OPT_BOOL(sstp_opts_t, insecure, "insecure", "0", "do not verify the server's certificate"),
    OPT_STR(sstp_opts_t, pin, "pin", "none", "SHA256",
            "the SHA-256 of the server's certificate (DER, hex): that certificate and no "
            "other, self-signed ones included"),
    OPT_STR(sstp_opts_t, sni, "sni", "the URL's host", "NAME", "the TLS server name"),
    OPT_STR(sstp_opts_t, host, "host", "the URL's host", "NAME", "the HTTP Host header"),
    OPT_FUNC("hash", parse_hashes, "sha256,sha1", "LIST", "crypto binding hashes we agree to"),
    OPT_DURATION(sstp_opts_t, nego_ms, "timeout", "60s",
                 "negotiation (Call Connect, then PPP authentication)"),
};

const opt_schema_t sstp_hop_opts = OPT_SCHEMA_AT(sstp_opts_t, link, &ppp_link_opts, sstp_opt_table);

int sstp_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                 size_t errlen)
{
	slink_t *l = calloc(1, sizeof(*l));
	sstp_opts_t o = {.ca = NULL}; /* and every other field 0 */
	int r, port = u->port < 0 ? 443 : u->port;
	target_t server = {0};
	char name[300], hb[300];

	if (!l)
		abort();
	l->loop = loop;
	uv_timer_init(loop, &l->tick);
	l->tick.data = l;
	uv_idle_init(loop, &l->flush);
	l->flush.data = l;
	if ((r = opts_parse(&sstp_hop_opts, u, &o, err, errlen)) < 0)
		goto fail;
	l->auth_methods = o.link.auth;
	l->echo_ms = o.link.echo_ms;
	l->ipv6 = o.link.ipv6;
	l->hash_ok = o.hash;
	l->nego_ms = o.nego_ms;
	r = -EINVAL;
	if (!l->echo_ms || !l->nego_ms) {
		snprintf(err, errlen, "options 'echo' and 'timeout' must be more than 0");
		goto fail;
	}
	if (!u->host[0] || target_set(&server, u->host, (uint16_t)port) < 0) {
		snprintf(err, errlen, "a server is required: sstp://user:pass@HOST[:PORT]");
		goto fail;
	}
	if (!u->user || !u->pass) {
		snprintf(err, errlen,
		         "sstp:// needs a user name and a password: "
		         "sstp://user:pass@%s",
		         u->host);
		goto fail;
	}
	{
		tls_opts_t t = {.ca_file = o.ca, .insecure = o.insecure, .pin_sha256 = o.pin};
		if ((r = tls_ctx_new_client(&t, &l->tls, err, errlen)) < 0)
			goto fail;
	}
	l->sni = strdup(o.sni ? o.sni : u->host);
	if (o.host)
		snprintf(hb, sizeof(hb), "%s", o.host);
	else if (port == 443)
		snprintf(hb, sizeof(hb), "%s", u->host);
	else
		snprintf(hb, sizeof(hb), "%s%s%s:%d", strchr(u->host, ':') ? "[" : "", u->host,
		         strchr(u->host, ':') ? "]" : "", port);
	l->host_hdr = strdup(hb);
	l->user = strdup(u->user);
	l->pass = strdup(u->pass);
	memcpy(name, "sstp://", 7);
	target_str(&server, name + 7, sizeof(name) - 7);
	l->h = pkthop_new(loop, next, &server, &sstp_link_ops, l, name, &o.link.pkt);
	if (!l->h) {
		snprintf(err, errlen, "cannot start the lwIP endpoint (one loop per process)");
		goto fail;
	}
	*out = pkthop_dialer(l->h);
	return 0;
fail:
	free_strings(l);
	close_handles(l);
	return r;
}

static const transport_scheme_t sstp_schemes[] = {
    {.scheme = "sstp",
     .listen = &sstpd_front_ops,
     .listen_doc = {.usage = "sstp://IP:PORT?cert=FILE&certkey=FILE&users=FILE",
                    .about = "SSTP VPN server: clients NATed to the host's network (no root)",
                    .opts = &sstpd_opts},
     .hop = sstp_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_PACKETS | HOP_SESSION,
     .hop_doc = {.usage = "sstp://user:pass@HOST[:PORT][?ca=FILE|insecure=1|pin=SHA256]",
                 .about = "an SSTP VPN, hosts inside it reached on lwIP",
                 .opts = &sstp_hop_opts,
                 .pass = 1}},
};

const transport_t sstp_transport = {
    .name = "sstp",
    .summary = "SSTP VPN client (MS-SSTP) as a hop, and SSTP server",
    TRANSPORT_SCHEMES(sstp_schemes),
};
