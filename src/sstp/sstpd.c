/* sstpd: the SSTP server (MS-SSTP, server role), see sstpd.h.
 *
 * A call is a conn of the listener and a session of its PPP gateway
 * (ppp/pppgw_priv.h: a framed link).  This file speaks MS-SSTP around the
 * gateway's PPP engine (server role: it authenticates the peer against
 * users= and gives it an address from net=):
 *
 *   TLS (unless tls=0: a proxy in front terminates it)
 *   -> HTTP     "SSTP_DUPLEX_POST /sra_{...}/ HTTP/1.1" answered 200 with the
 *               endless Content-Length; any other request gets 404 and the
 *               connection closes
 *   -> REQUEST  waiting for Call Connect Request (Encapsulated Protocol
 *               PPP, else Call Connect Nak; three Naks end the call)
 *   -> PPP      Call Connect Ack sent with a Crypto Binding Request (the
 *               hashes offered, a fresh nonce): LCP and authentication run
 *   -> CONNECTED  Call Connected received and verified: nonce, the hash of
 *               our certificate as the client saw it (another one means a
 *               TLS man in the middle), and the Compound MAC keyed from the
 *               MS-CHAPv2 master keys; only then may IPCP come up and IP
 *               reach the gateway
 *
 * Anything out of order, malformed, or a binding that does not verify is
 * answered with Call Abort and ends the call.  Call Disconnect is answered
 * with Disconnect Ack; the end of PPP sends Call Disconnect.  Echo Request
 * is answered; the gateway's LCP echo keeps the call alive.  The whole
 * negotiation, TLS to IPCP, must finish within handshake-timeout (the
 * listener option) or the call is dropped.
 */
#include "sstp/sstpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tls.h"
#include "ppp/pppgw.h"
#include "ppp/pppgw_priv.h"
#include "sstp/sstp_proto.h"

#define MAX_NAKS 3

typedef enum cstate { C_TLS, C_HTTP, C_REQUEST, C_PPP, C_CONNECTED, C_DONE } cstate_t;

static const char *const cstate_names[] = {"tls", "http", "request", "ppp", "connected", "done"};

typedef struct sstpd {
	pgw_t *g;
	tls_ctx_t *tls; /* NULL: plain HTTP behind a TLS-terminating proxy */
	uint8_t cert_sha1[20], cert_sha256[32];
	uint8_t hash_mask; /* SSTP_HASH_* offered */
	/* counters */
	uint64_t calls, not_sstp, bind_failed, aborted;
} sstpd_t;

typedef struct scall {
	sstpd_t *d;
	psess_t *s;
	conn_t *c;
	cstate_t state;
	unsigned naks;
	uint8_t nonce[32];
	sstp_rx_t rx;
} scall_t;

static void set_state(scall_t *k, cstate_t st)
{
	log_debug(k->c->id, "sstp: %s -> %s", cstate_names[k->state], cstate_names[st]);
	k->state = st;
}

static void send_ctrl(scall_t *k, const uint8_t *m, size_t n)
{
	pgw_session_write(k->s, m, n);
}

/* Call Abort with the reason, and the call ends. */
static void abort_call(scall_t *k, uint8_t attr, uint32_t status, const char *why)
{
	uint8_t m[20];

	if (k->state == C_DONE)
		return;
	k->d->aborted++;
	/* a binding that does not verify may be a man in the middle: warn */
	LOG_AT(attr == SSTP_ATTR_CRYPTO_BINDING ? LOG_WARN : LOG_INFO, k->c->id,
	       "sstp: %s: %s: Call Abort (%s)", k->c->peer_str, why, sstp_status_name(status));
	send_ctrl(k, m, sstp_enc_status(m, SSTP_MSG_CALL_ABORT, attr, status));
	set_state(k, C_DONE);
	pgw_session_end(k->s, why);
}

/* ---- the link the gateway's session writes through ---- */

static void link_output(void *ud, const uint8_t *frame, size_t len)
{
	scall_t *k = ud;
	uint8_t buf[SSTP_MAX_PACKET];

	if (k->state < C_PPP || k->state == C_DONE || len + SSTP_HDR_LEN > sizeof(buf))
		return;
	sstp_data_header(buf, len);
	memcpy(buf + SSTP_HDR_LEN, frame, len);
	pgw_session_write(k->s, buf, len + SSTP_HDR_LEN);
}

static int link_up(void *ud, const char **why)
{
	scall_t *k = ud;

	if (k->state != C_CONNECTED) {
		*why = "sstp: IPCP before a verified Call Connected (no crypto binding)";
		return -1;
	}
	return 0;
}

static void link_down(void *ud, const char *reason)
{
	scall_t *k = ud;
	uint8_t m[8];

	(void)reason;
	/* PPP ended (or the gateway ends the call): Call Disconnect */
	if (k->state >= C_REQUEST && k->state != C_DONE)
		send_ctrl(k, m, sstp_enc_plain(m, SSTP_MSG_CALL_DISCONNECT));
	k->state = C_DONE;
}

static void link_free(void *ud)
{
	free(ud);
}

static const pgw_link_t sstp_link = {
    .output = link_output,
    .up = link_up,
    .down = link_down,
    .free = link_free,
};

/* ---- control messages ---- */

static void on_connect_request(scall_t *k, const sstp_ctrl_t *c)
{
	const sstp_attr_t *a = sstp_find_attr(c, SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID);
	uint16_t proto = 0;
	uint8_t m[SSTP_CONNECT_ACK_LEN];

	if (!a || sstp_attr_encap(a, &proto) < 0 || proto != SSTP_ENCAP_PPP) {
		if (++k->naks >= MAX_NAKS) {
			abort_call(k, SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID,
			           SSTP_STATUS_RETRY_COUNT_EXCEEDED,
			           "no Call Connect Request for PPP after three tries");
			return;
		}
		log_info(k->c->id, "sstp: Call Connect Request for protocol %u: Nak", proto);
		send_ctrl(k, m,
		          sstp_enc_status(m, SSTP_MSG_CALL_CONNECT_NAK,
		                          SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID,
		                          SSTP_STATUS_VALUE_NOT_SUPPORTED));
		return;
	}
	random_bytes(k->nonce, sizeof(k->nonce));
	send_ctrl(k, m, sstp_enc_connect_ack(m, k->d->hash_mask, k->nonce));
	set_state(k, C_PPP);
	pgw_session_start(k->s);
}

static void on_call_connected(scall_t *k, const uint8_t *pkt, size_t len)
{
	const auth_t *a = k->s->ppp ? ppp_auth(k->s->ppp) : NULL;
	uint8_t hlak[32], send[16], recv[16], hash = 0;
	int keys, r;
	char why[160];

	if (!a || (k->d->g->require_auth && !auth_peer_name(a)[0])) {
		abort_call(k, SSTP_ATTR_NO_ERROR, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED,
		           "Call Connected before authentication");
		return;
	}
	keys = auth_mppe_keys(a, send, recv) == 0;
	sstp_hlak_server(hlak, keys ? send : NULL, keys ? recv : NULL);
	r = sstp_check_call_connected(pkt, len, k->d->hash_mask, k->nonce, k->d->cert_sha1,
	                              k->d->cert_sha256, hlak, &hash);
	OPENSSL_cleanse(hlak, sizeof(hlak));
	OPENSSL_cleanse(send, sizeof(send));
	OPENSSL_cleanse(recv, sizeof(recv));
	if (r < 0) {
		k->d->bind_failed++;
		snprintf(why, sizeof(why), "crypto binding refused: %s", sstp_bind_error(r));
		abort_call(k, SSTP_ATTR_CRYPTO_BINDING, SSTP_STATUS_INVALID_FRAME_RECEIVED, why);
		return;
	}
	set_state(k, C_CONNECTED);
	log_info(k->c->id, "sstp: call connected, user %s (crypto binding %s, %s)",
	         auth_peer_name(a)[0] ? auth_peer_name(a) : "-",
	         hash == SSTP_HASH_SHA256 ? "SHA-256" : "SHA-1",
	         keys ? "MS-CHAPv2 keys" : "no inner keys");
}

static void on_control(scall_t *k, const uint8_t *pkt, size_t len)
{
	sstp_ctrl_t c;
	uint8_t m[20];
	char why[160];

	if (sstp_parse_control(pkt, len, &c) < 0) {
		abort_call(k, SSTP_ATTR_NO_ERROR, SSTP_STATUS_INVALID_FRAME_RECEIVED,
		           "malformed control packet");
		return;
	}
	log_debug(k->c->id, "sstp: <- %s", sstp_msg_name(c.type));
	switch (c.type) {
	case SSTP_MSG_CALL_CONNECT_REQUEST:
		if (k->state != C_REQUEST)
			break;
		on_connect_request(k, &c);
		return;
	case SSTP_MSG_CALL_CONNECTED:
		if (k->state != C_PPP)
			break;
		on_call_connected(k, pkt, len);
		return;
	case SSTP_MSG_ECHO_REQUEST:
		send_ctrl(k, m, sstp_enc_plain(m, SSTP_MSG_ECHO_RESPONSE));
		return;
	case SSTP_MSG_ECHO_RESPONSE:
	case SSTP_MSG_CALL_DISCONNECT_ACK:
		return;
	case SSTP_MSG_CALL_DISCONNECT:
		send_ctrl(k, m, sstp_enc_plain(m, SSTP_MSG_CALL_DISCONNECT_ACK));
		set_state(k, C_DONE);
		pgw_session_end(k->s, "the client disconnected the call");
		return;
	case SSTP_MSG_CALL_ABORT:
		snprintf(why, sizeof(why), "the client aborted the call (%s)",
		         sstp_status_name(sstp_ctrl_status(&c)));
		log_info(k->c->id, "sstp: %s", why);
		set_state(k, C_DONE);
		pgw_session_end(k->s, "the client aborted the call");
		return;
	default:
		break;
	}
	snprintf(why, sizeof(why), "unexpected %s in state %s", sstp_msg_name(c.type),
	         cstate_names[k->state]);
	abort_call(k, SSTP_ATTR_NO_ERROR, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED, why);
}

/* One whole packet: 0, or -1 once the call is over. */
static int on_packet(void *ud, const uint8_t *p, size_t n)
{
	scall_t *k = ud;

	if (sstp_is_control(p))
		on_control(k, p, n);
	else if (k->state >= C_PPP)
		pgw_session_frame(k->s, p + SSTP_HDR_LEN, n - SSTP_HDR_LEN);
	else
		abort_call(k, SSTP_ATTR_NO_ERROR, SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED,
		           "data packet before the call was accepted");
	return k->state == C_DONE ? -1 : 0;
}

static void http_refuse(scall_t *k, const char *status, const char *why)
{
	char r[160];
	int n = snprintf(r, sizeof(r),
	                 "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);

	k->d->not_sstp++;
	log_info(k->c->id, "sstp: %s: %s", k->c->peer_str, why);
	set_state(k, C_DONE);
	pgw_session_write(k->s, r, (size_t)n);
	pgw_session_end(k->s, why);
}

/* The request head: SSTP_DUPLEX_POST is answered 200, anything else
 * refused. */
static long on_head(void *ud, const uint8_t *p, size_t len)
{
	scall_t *k = ud;
	int sstp = 0, n = sstp_http_request_parse(p, len, &sstp);
	char ok[256];

	if (n == 0)
		return 0;
	if (n < 0) {
		http_refuse(k, "400 Bad Request", "not an HTTP request");
		return -1;
	}
	if (!sstp) {
		http_refuse(k, "404 Not Found", "not an SSTP request");
		return -1;
	}
	pgw_session_write(k->s, ok, sstp_http_ok(ok, sizeof(ok), (long long)time(NULL)));
	k->d->calls++;
	set_state(k, C_REQUEST);
	return n;
}

static const sstp_rx_cbs_t rx_cbs = {on_head, on_packet};

static void on_read(stream_t *st, sbuf_t *b)
{
	scall_t *k = st->data;
	int r;

	if (!b) {
		if (k->state != C_DONE) {
			set_state(k, C_DONE);
			pgw_session_end(k->s, "the client closed the connection");
		}
		return;
	}
	r = sstp_rx_feed(&k->rx, sbuf_ptr(b), b->len, &rx_cbs, k);
	sbuf_free(b);
	if (r == SSTP_RX_BAD)
		abort_call(k, SSTP_ATTR_NO_ERROR, SSTP_STATUS_INVALID_FRAME_RECEIVED,
		           "malformed SSTP packet header");
	else if (r == SSTP_RX_LONG)
		http_refuse(k, "431 Request Header Fields Too Large", "request head too long");
}

static void on_error(stream_t *st, int err)
{
	scall_t *k = st->data;

	if (k->state == C_DONE)
		return;
	log_info(k->c->id, "sstp: %s: %s", k->c->peer_str, uv_strerror(err));
	set_state(k, C_DONE);
	pgw_session_end(k->s, "connection error");
}

static const stream_cbs_t call_cbs = {on_read, NULL, on_error};

static void start_reading(scall_t *k)
{
	set_state(k, C_HTTP);
	k->rx.in_head = 1;
	stream_set_cbs(k->c->client, &call_cbs, k);
	stream_read_start(k->c->client);
}

static void on_tls(void *ud, stream_t *s, int err)
{
	scall_t *k = ud;

	(void)s;
	if (err < 0) {
		log_info(k->c->id, "sstp: %s: TLS handshake failed: %s", k->c->peer_str,
		         uv_strerror(err));
		set_state(k, C_DONE);
		pgw_session_end(k->s, "tls failed");
		return;
	}
	start_reading(k);
}

static void sstpd_on_conn(conn_t *c)
{
	pgw_t *g = c->l->front;
	sstpd_t *d = g->owner;
	scall_t *k = calloc(1, sizeof(*k));

	if (!k)
		abort();
	k->d = d;
	k->c = c;
	if (!(k->s = pgw_session_new(c, &sstp_link, k)))
		return; /* refused and closed; k freed */
	log_info(c->id, "sstp: call from %s", c->peer_str);
	if (d->tls) {
		k->state = C_TLS;
		c->client = tls_server_new(c->l->loop, d->tls, c->client, NULL);
		tls_handshake(c->client, on_tls, k);
		return;
	}
	start_reading(k);
}

/* ---- options ---- */

typedef struct sstpd_opts {
	pgw_opts_t gw;
	const char *cert, *certkey, *ciphers;
	int tls;
	unsigned hash;
} sstpd_opts_t;

static int parse_hashes(void *obj, const char *v, char *err, size_t errlen)
{
	return sstp_hash_list_parse(v, &((sstpd_opts_t *)obj)->hash, err, errlen);
}

static const opt_t sstpd_table[] = {
    OPT_STR(sstpd_opts_t, cert, "cert", "required", "FILE",
            "the server's certificate (PEM); with tls=0, the certificate the TLS proxy in "
            "front presents (its key is not needed)"),
    OPT_STR(sstpd_opts_t, certkey, "certkey", "required unless tls=0", "FILE",
            "the certificate's private key (PEM)"),
    OPT_STR(sstpd_opts_t, ciphers, "ciphers", "AES-GCM first where the CPU has AES", "LIST",
            "TLS 1.3 cipher suites, OpenSSL's names joined by ':'"),
    OPT_BOOL(sstpd_opts_t, tls, "tls", "1",
             "0: plain HTTP, for a TLS-terminating proxy in front (HAProxy, nginx)"),
    OPT_FUNC("hash", parse_hashes, "sha256,sha1", "LIST",
             "crypto binding hashes offered; the client picks one"),
};

const opt_schema_t sstpd_opts = OPT_SCHEMA_AT(sstpd_opts_t, gw, &pppgw_opts, sstpd_table);

/* The SHA-1 and SHA-256 of the first certificate in a PEM file (DER). */
static int cert_hashes(const char *file, uint8_t sha1[20], uint8_t sha256[32], char *err,
                       size_t errlen)
{
	FILE *f = fopen(file, "r");
	X509 *x;
	unsigned n1 = 0, n2 = 0;

	if (!f) {
		snprintf(err, errlen, "option 'cert': %s: %s", file, strerror(errno));
		return -errno;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		snprintf(err, errlen, "option 'cert': %s holds no PEM certificate", file);
		return -EINVAL;
	}
	X509_digest(x, EVP_sha1(), sha1, &n1);
	X509_digest(x, EVP_sha256(), sha256, &n2);
	X509_free(x);
	if (n1 != 20 || n2 != 32) {
		snprintf(err, errlen, "option 'cert': cannot hash %s", file);
		return -EINVAL;
	}
	return 0;
}

static void sstpd_metrics(mbuf_t *b, void *ud)
{
	sstpd_t *d = ud;
	char lab[300];

	metrics_label(lab, sizeof(lab), "listener", d->g->l->name);
	metrics_sample(b, "sluice_sstp_calls_total", "counter",
	               "SSTP_DUPLEX_POST requests answered.", lab, d->calls);
	metrics_sample(b, "sluice_sstp_not_sstp_total", "counter",
	               "Requests that were not SSTP (answered 404 or 400).", lab, d->not_sstp);
	metrics_sample(b, "sluice_sstp_binding_failed_total", "counter",
	               "Calls refused because the crypto binding did not verify.", lab,
	               d->bind_failed);
	metrics_sample(b, "sluice_sstp_aborted_total", "counter", "Calls ended with Call Abort.",
	               lab, d->aborted);
}

static void sstpd_free(listener_t *l)
{
	pgw_t *g = l->front;
	sstpd_t *d = g ? g->owner : NULL;

	if (d) {
		metrics_unregister(sstpd_metrics, d);
		tls_ctx_free(d->tls);
		free(d);
	}
	pgw_free(l);
}

static int sstpd_init(listener_t *l, char *err, size_t errlen)
{
	sstpd_opts_t o = {.hash = SSTP_HASH_SHA256 | SSTP_HASH_SHA1};
	sstpd_t *d;
	pgw_t *g;
	int r;

	if ((r = pgw_setup(l, LINK_FRAMED, &sstpd_opts, &o, &o.gw, err, errlen)) < 0)
		return r;
	g = l->front;
	if (!(d = calloc(1, sizeof(*d))))
		abort();
	g->owner = d;
	d->g = g;
	d->hash_mask = (uint8_t)o.hash;
	if (!d->hash_mask) {
		snprintf(err, errlen, "option 'hash': name sha256, sha1 or both");
		return -EINVAL;
	}
	if (!o.cert) {
		snprintf(
		    err, errlen,
		    "sstp:// needs option 'cert' (PEM): the certificate clients bind the call to");
		return -EINVAL;
	}
	if ((r = cert_hashes(o.cert, d->cert_sha1, d->cert_sha256, err, errlen)) < 0)
		return r;
	if (o.tls) {
		/* a call lasts hours and is never resumed: no session tickets
		 * (sstpc 1.0.18 quits more often when one arrives before the
		 * 200) */
		tls_opts_t t = {.cert_file = o.cert,
		                .key_file = o.certkey,
		                .ciphers = o.ciphers,
		                .no_tickets = 1};
		if (!o.certkey) {
			snprintf(err, errlen, "sstp:// needs option 'certkey' (PEM), or tls=0");
			return -EINVAL;
		}
		if ((r = tls_ctx_new_server(&t, &d->tls, err, errlen)) < 0)
			return r;
	} else if (o.certkey) {
		snprintf(err, errlen, "option 'certkey' means nothing with tls=0");
		return -EINVAL;
	}
	metrics_register(sstpd_metrics, d);
	return 0;
}

const front_ops_t sstpd_front_ops = {
    .scheme = "sstp",
    .init = sstpd_init,
    .on_conn = sstpd_on_conn,
    .free = sstpd_free,
    .reach = REACH_BIND,
    .gateway = 1,
};
