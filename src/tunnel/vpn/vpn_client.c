/* vpn_client: see vpn_client.h.  A pktlink for pkthop.
 *
 * States of one session: RESOLVE (the server's name) -> KEY (asking the
 * server for its public key, only without pub=) -> HS (INIT sent, then
 * CONFIRM sent) -> UP (transport keys; ACCEPT gave our address).  While
 * UP, a rekey runs the same handshake in the background once the keys are
 * REKEY_AFTER old; the old keys keep receiving until they expire.  A
 * handshake that does not finish in 10 s, or 3 keepalive intervals
 * without an authentic packet from the server, end the session; pkthop
 * reconnects with backoff.  Each session has its own UDP socket (so its
 * own source port); the server follows us if the address changes.
 *
 * Options: pub=KEY (the server's public key, base64: pinned; without it
 * the first key the server shows is trusted for the life of the process,
 * with a warning), mtu=N (path MTU, default 1500), keepalive=D (default:
 * what the server asks, 15 s), rekey=D (default 120 s, at most that;
 * shorter is for tests), dns=IP, cipher=auto|chacha20-poly1305|aes-128-gcm
 * (whether INIT offers AES-128-GCM for DATA: auto where this CPU has AES
 * instructions; the server picks), crypto-workers=N (seal and open DATA on
 * N threads, core/cryptopool.h; 0: on the loop).
 */
#include "tunnel/vpn/vpn_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/secret.h"
#include "core/udpsock.h"
#include "netstack/pkthop.h"
#include "tunnel/vpn/vpn_proto.h"

#define HS_TIMEOUT 10000
#define HS_RETRY 1000
#define BUF (VPN_PKT_MAX + VPN_OVERHEAD)
#define RUN_BUF (256 * 1024) /* a TUN super-packet's datagrams */

enum { LS_IDLE, LS_RESOLVE, LS_KEY, LS_HS, LS_UP };
static const char *const ls_names[] = {"idle", "resolve", "key", "handshake", "up"};
enum { HS_NONE, HS_INIT, HS_CONFIRM };

typedef struct ckp {
	int valid;
	uint64_t rekey_msgs; /* VPN_REKEY_AFTER_MSGS of its cipher */
	uint32_t local, remote;
	aead_t tx, rx;
	cpkey_t *ptx, *prx; /* the same keys for the crypto workers */
	vpn_replay_t rp;
	uint64_t tx_ctr, created;
} ckp_t;

struct vcli {
	pkthop_t *h;
	uv_loop_t *loop;
	char *user, *pass;
	int have_pub;
	vpn_static_t skey;
	uint64_t mtu_path, ka_opt, ka_ms, rekey_ms;
	int offload;
	unsigned offers; /* VPN_F_* in INIT */
	cpool_t *pool;   /* crypto-workers, or NULL */
	cpjob_t *rxj;    /* datagrams of this loop turn to open, not handed over yet */
	udpsock_t *udp;
	uv_getaddrinfo_t *gai;
	struct sockaddr_storage srv;
	uv_timer_t tick;
	int state, hs;
	vpn_hs_t hss;
	uint64_t hs_started, hs_sent;
	uint8_t cookie[16];
	uint64_t cookie_at;
	int have_cookie;
	uint8_t confirm[VPN_CONFIRM_LEN];
	int have_ck;
	uint8_t salt[VPN_SALT], ln, r, p, client_key[32], server_key[32];
	ckp_t cur, prev;
	uint64_t last_rx, last_tx;
	uint8_t *buf, *run;
	vpn_tap_t tap;
	int have_tap;
	dialer_t *dialer;
	struct vcli *next_client; /* all clients of the process, for vpn_client_tap() */
};

static vcli_t *clients;

static uint64_t now_ms(vcli_t *c)
{
	return uv_now(c->loop);
}

static void set_state(vcli_t *c, int s)
{
	log_debug(0, "%s: %s -> %s", pkthop_name(c->h), ls_names[c->state], ls_names[s]);
	c->state = s;
}

static void kp_clear(ckp_t *k)
{
	if (k->valid) {
		aead_free(&k->tx);
		aead_free(&k->rx);
		cpkey_unref(k->ptx);
		cpkey_unref(k->prx);
	}
	memset(k, 0, sizeof(*k));
}

static void release(vcli_t *c)
{
	if (c->gai) {
		c->gai->data = NULL;
		uv_cancel((uv_req_t *)c->gai);
		c->gai = NULL;
	}
	if (c->rxj) {
		cpool_discard(c->pool, c->rxj);
		c->rxj = NULL;
	}
	if (c->udp) {
		udpsock_close(c->udp);
		c->udp = NULL;
	}
	kp_clear(&c->cur);
	kp_clear(&c->prev);
	vpn_hs_wipe(&c->hss);
	c->hs = HS_NONE;
	uv_timer_stop(&c->tick);
	c->state = LS_IDLE;
}

static void fail(vcli_t *c, const char *why)
{
	if (c->have_tap && c->state == LS_UP)
		c->tap.down(c->tap.ud);
	release(c);
	pkthop_link_down(c->h, why);
}

static void send_raw(vcli_t *c, const uint8_t *d, size_t n)
{
	if (c->udp)
		udpsock_send(c->udp, (struct sockaddr *)&c->srv, d, n);
}

static void send_init(vcli_t *c)
{
	uint8_t m[VPN_INIT_LEN];
	uint32_t idx;

	if (c->have_cookie && now_ms(c) - c->cookie_at > VPN_COOKIE_SECRET_MS)
		c->have_cookie = 0;
	random_bytes(&idx, sizeof(idx));
	{
		/* the timestamp is wall-clock time (the server checks a window) */
		uv_timeval64_t tv;
		uv_gettimeofday(&tv);
		if (vpn_init_create(&c->hss, &c->skey, c->user, idx,
		                    (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000,
		                    c->have_cookie ? c->cookie : NULL, c->offers, m) < 0)
			return;
	}
	c->hs = HS_INIT;
	c->hs_sent = now_ms(c);
	send_raw(c, m, sizeof(m));
}

static void start_handshake(vcli_t *c)
{
	c->hs_started = now_ms(c);
	send_init(c);
}

static void send_data(vcli_t *c, const uint8_t *pkt, size_t len)
{
	ckp_t *k = &c->cur;
	int n;

	uint8_t *out;

	if (!k->valid || k->tx_ctr >= VPN_REJECT_AFTER_MSGS || !c->udp || len > VPN_PKT_MAX)
		return;
	/* sealed straight into the socket's queue: the loop turn's packets go
	 * out together, with UDP GSO where they make a run */
	out = udpsock_slot(c->udp, (struct sockaddr *)&c->srv, len + VPN_OVERHEAD);
	n = vpn_data_seal(&k->tx, k->remote, k->tx_ctr++, pkt, len, out);
	if (n < 0)
		return;
	c->last_tx = now_ms(c);
	udpsock_commit(c->udp, (size_t)n);
}

static void on_resp(vcli_t *c, const uint8_t *d, size_t n)
{
	uint8_t salt[VPN_SALT], ln, r, p;

	if (c->hs != HS_INIT || vpn_resp_consume(&c->hss, d, n, salt, &ln, &r, &p) < 0)
		return;
	if (!c->have_ck || memcmp(salt, c->salt, VPN_SALT) || ln != c->ln || r != c->r ||
	    p != c->p) {
		/* scrypt once per salt; later handshakes (rekeys) reuse it */
		if (ln > VPN_SCRYPT_LN + 3 ||
		    vpn_scram_keys(c->pass, salt, ln, r, p, c->client_key, c->server_key) < 0) {
			fail(c, "the server asks for unreasonable scrypt parameters");
			return;
		}
		memcpy(c->salt, salt, VPN_SALT);
		c->ln = ln;
		c->r = r;
		c->p = p;
		c->have_ck = 1;
	}
	if (vpn_confirm_create(&c->hss, c->client_key, c->cur.valid ? c->cur.remote : 0,
	                       c->confirm) < 0)
		return;
	c->hs = HS_CONFIRM;
	c->hs_sent = now_ms(c);
	send_raw(c, c->confirm, sizeof(c->confirm));
}

static void on_accept(vcli_t *c, const uint8_t *d, size_t n)
{
	vpn_assign_t a;
	uint8_t tx[32], rx[32];
	lwipep_addr_t la = {0};
	uint16_t mtu;
	int r;

	if (c->hs != HS_CONFIRM)
		return;
	r = vpn_accept_consume(&c->hss, c->server_key, d, n, &a);
	if (r == -EACCES) {
		fail(c, "the server does not know our password (wrong server or user file)");
		return;
	}
	if (r < 0)
		return;
	vpn_hs_transport(&c->hss, 1, tx, rx);
	kp_clear(&c->prev);
	c->prev = c->cur;
	memset(&c->cur, 0, sizeof(c->cur));
	aead_init(&c->cur.tx, vpn_cipher_alg(a.cipher), tx, 1);
	aead_init(&c->cur.rx, vpn_cipher_alg(a.cipher), rx, 0);
	if (c->pool) {
		c->cur.ptx = cpkey_new(c->pool, vpn_cipher_alg(a.cipher), tx, 1);
		c->cur.prx = cpkey_new(c->pool, vpn_cipher_alg(a.cipher), rx, 0);
	}
	secret_wipe(tx, sizeof(tx));
	secret_wipe(rx, sizeof(rx));
	c->cur.valid = 1;
	c->cur.rekey_msgs =
	    a.cipher == VPN_CIPHER_AES128 ? VPN_REKEY_AFTER_MSGS_AES : VPN_REKEY_AFTER_MSGS;
	c->cur.local = c->hss.local_idx;
	c->cur.remote = c->hss.remote_idx;
	c->cur.created = now_ms(c);
	vpn_hs_wipe(&c->hss);
	c->hs = HS_NONE;
	c->last_rx = now_ms(c);
	c->ka_ms = c->ka_opt ? c->ka_opt : (a.keepalive ? a.keepalive * 1000ull : 15000);
	if (c->state == LS_UP) { /* rekeyed: show the server we have the new keys */
		log_debug(0, "%s: rekeyed, DATA %s", pkthop_name(c->h),
		          aead_alg_name(vpn_cipher_alg(a.cipher)));
		send_data(c, NULL, 0);
		return;
	}
	mtu = (uint16_t)(c->mtu_path - (c->srv.ss_family == AF_INET6 ? 40 : 20) - 8 - VPN_OVERHEAD);
	if (a.mtu && a.mtu < mtu)
		mtu = a.mtu;
	la.local.s_addr = a.addr;
	la.peer.s_addr = a.gateway;
	la.dns4[0].s_addr = a.dns;
	la.mtu = mtu < LWIPEP_MTU_MIN ? LWIPEP_MTU_MIN : mtu;
	if (a.prefix6 && la.mtu >= 1280) { /* IPv6 needs 1280 */
		memcpy(&la.local6, a.addr6, 16);
		memcpy(&la.dns6[0], a.dns6, 16);
	}
	set_state(c, LS_UP);
	if (c->have_tap) {
		c->tap.up(c->tap.ud, a.addr, a.gateway, a.prefix, la.mtu);
		if (c->tap.up6 && !IN6_IS_ADDR_UNSPECIFIED(&la.local6))
			c->tap.up6(c->tap.ud, &la.local6, a.prefix6);
	}
	{
		char s[INET_ADDRSTRLEN], s6[INET6_ADDRSTRLEN + 20] = "";
		inet_ntop(AF_INET, &a.addr, s, sizeof(s));
		if (!IN6_IS_ADDR_UNSPECIFIED(&la.local6)) {
			memcpy(s6, " and ", 5);
			inet_ntop(AF_INET6, &la.local6, s6 + 5, sizeof(s6) - 5);
		}
		log_info(0, "%s: up, address %s%s, MTU %u, DATA %s", pkthop_name(c->h), s, s6,
		         la.mtu, aead_alg_name(vpn_cipher_alg(a.cipher)));
	}
	pkthop_link_up(c->h, &la);
}

static ckp_t *kp_of(vcli_t *c, uint32_t idx)
{
	return c->cur.valid && c->cur.local == idx     ? &c->cur
	       : c->prev.valid && c->prev.local == idx ? &c->prev
	                                               : NULL;
}

/* An authentic packet of m bytes (0: a keepalive) at pt. */
static void data_in(vcli_t *c, const uint8_t *pt, int m)
{
	c->last_rx = now_ms(c);
	if (m > 0 && c->state == LS_UP) {
		if (c->have_tap) {
			pkthop_link_count(c->h, (size_t)m, 0);
			c->tap.input(c->tap.ud, pt, (size_t)m);
		} else
			pkthop_link_input(c->h, pt, (size_t)m);
	}
}

/* Opened by a crypto worker, back in order: the window is checked again
 * (a counter twice in one turn passed the first check twice) and only now
 * updated, as vpn_data_open does. */
static void rx_done(cpjob_t *j)
{
	vcli_t *c = j->owner;

	for (size_t i = 0; i < j->n; i++) {
		const uint8_t *d = j->buf + j->off[i];
		ckp_t *k = kp_of(c, (uint32_t)j->tag);
		if (j->len[i] < 0 || !k || !vpn_data_accept(&k->rp, d))
			continue;
		data_in(c, d + VPN_DATA_HDR, j->len[i]);
	}
}

static void rx_flush(void *ud)
{
	vcli_t *c = ud;
	cpjob_t *j = c->rxj;

	c->rxj = NULL;
	if (j)
		cpool_submit(c->pool, j);
}

/* With crypto workers: d joins this turn's datagrams to open under k. */
static void rx_queue(vcli_t *c, ckp_t *k, uint32_t idx, const uint8_t *d, size_t n)
{
	cpjob_t *j = c->rxj;

	if (j && (j->key != k->prx || j->n == CPJOB_RECORDS || j->used + n > CPJOB_BUF))
		rx_flush(c);
	if (!(j = c->rxj)) {
		if (!(j = cpool_job(c->pool, c, k->prx, vpn_job_open, rx_done)))
			return; /* too much in flight: dropped, as a full queue would */
		j->tag = idx;
		c->rxj = j;
		udpsock_arm(c->udp); /* rx_flush at the end of the turn */
	}
	j->off[j->n] = (uint32_t)j->used;
	j->len[j->n++] = (int32_t)n;
	memcpy(j->buf + j->used, d, n);
	j->used += (n + 15) & ~(size_t)15;
}

static void on_data(vcli_t *c, const uint8_t *d, size_t n)
{
	uint32_t idx;
	uint64_t ctr;
	ckp_t *k;
	int m;

	if (vpn_data_peek(d, n, &idx, &ctr) < 0)
		return;
	k = kp_of(c, idx);
	if (!k || now_ms(c) - k->created > VPN_REJECT_AFTER_MS)
		return;
	if (c->pool && k->prx) {
		if (vpn_replay_check(&k->rp, ctr))
			rx_queue(c, k, idx, d, n);
		return;
	}
	m = vpn_data_open(&k->rx, &k->rp, d, n, c->buf);
	if (m >= 0)
		data_in(c, c->buf, m);
}

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return 0;
	if (a->sa_family == AF_INET)
		return !memcmp(a, b, sizeof(struct sockaddr_in) - 8);
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	               &((const struct sockaddr_in6 *)b)->sin6_addr, 16) &&
	       ((const struct sockaddr_in6 *)a)->sin6_port ==
	           ((const struct sockaddr_in6 *)b)->sin6_port;
}

static void on_recv(void *ud, uint8_t *d, size_t n, const struct sockaddr *addr)
{
	vcli_t *c = ud;

	if (!n || !same_addr(addr, &c->srv) || !c->udp)
		return;
	switch (d[0]) {
	case VPN_MSG_DATA:
		on_data(c, d, n);
		break;
	case VPN_MSG_RESP:
		on_resp(c, d, n);
		break;
	case VPN_MSG_ACCEPT:
		on_accept(c, d, n);
		break;
	case VPN_MSG_COOKIE:
		if (c->hs == HS_INIT &&
		    vpn_cookie_consume(&c->skey, &c->hss, d, n, c->cookie) == 0) {
			c->have_cookie = 1;
			c->cookie_at = now_ms(c);
			log_debug(0, "%s: the server is busy: cookie", pkthop_name(c->h));
		}
		break;
	case VPN_MSG_KEYRESP:
		if (c->state == LS_KEY) {
			uint8_t pub[32];
			char pb[64];
			if (vpn_keyresp_consume(d, n, pub) < 0)
				break;
			vpn_static_init(&c->skey, NULL, pub);
			c->have_pub = 1;
			b64_encode(pub, 32, pb);
			log_warn(
			    0,
			    "%s: trusting the server key %s for this process; pin it with pub=%s",
			    pkthop_name(c->h), pb, pb);
			set_state(c, LS_HS);
			start_handshake(c);
		}
		break;
	}
}

static void on_tick(uv_timer_t *t)
{
	vcli_t *c = t->data;
	uint64_t now = now_ms(c);

	if (c->state == LS_KEY) {
		if (now - c->hs_started > HS_TIMEOUT) {
			fail(c, "no answer from the server");
			return;
		}
		uint8_t m[VPN_KEYREQ_LEN];
		vpn_keyreq_create(m);
		send_raw(c, m, sizeof(m));
		return;
	}
	if (c->state == LS_HS && now - c->hs_started > HS_TIMEOUT) {
		fail(c, "handshake timed out (wrong password, key or server?)");
		return;
	}
	if (c->hs != HS_NONE && now - c->hs_sent >= HS_RETRY) {
		if (c->hs == HS_INIT) {
			send_init(c);
		} else if (now - c->hs_started > HS_TIMEOUT) {
			/* a CONFIRM that gets no ACCEPT: start over */
			start_handshake(c);
		} else {
			c->hs_sent = now;
			send_raw(c, c->confirm, sizeof(c->confirm));
		}
	}
	if (c->state != LS_UP)
		return;
	if (now - c->cur.created > VPN_REJECT_AFTER_MS) {
		fail(c, "keys expired and rekeying failed");
		return;
	}
	if (now - c->last_rx > 3 * c->ka_ms + 2000) {
		fail(c, "the server went silent");
		return;
	}
	if (c->hs == HS_NONE &&
	    (now - c->cur.created > c->rekey_ms || c->cur.tx_ctr > c->cur.rekey_msgs ||
	     c->cur.rp.top > c->cur.rekey_msgs))
		start_handshake(c);
	if (now - c->last_tx >= c->ka_ms)
		send_data(c, NULL, 0);
}

static int open_udp(vcli_t *c)
{
	struct sockaddr_storage any = {0};
	int r;

	any.ss_family = c->srv.ss_family;
	if ((r = udpsock_open(c->loop, (struct sockaddr *)&any,
	                      c->offload ? UDPSOCK_GRO | UDPSOCK_GSO : 0, on_recv, c, &c->udp)) < 0)
		return r;
	if (c->pool)
		udpsock_on_turn_end(c->udp, rx_flush, c);
	if (c->have_tap) {
		unsigned o = udpsock_offloads(c->udp);
		log_info(0, "%s: UDP %s, %s; DATA sealed and opened %s", pkthop_name(c->h),
		         o & UDPSOCK_GSO ? "GSO (one send per run of datagrams)"
		                         : "without GSO (sendmmsg)",
		         o & UDPSOCK_GRO ? "GRO (one read per run)" : "without GRO (recvmmsg)",
		         c->pool ? "on crypto worker threads" : "on the loop");
	}
	return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	vcli_t *c = req->data;
	int r;

	free(req);
	if (!c) {
		uv_freeaddrinfo(res);
		return;
	}
	c->gai = NULL;
	if (status < 0 || !res) {
		char why[300];
		snprintf(why, sizeof(why), "cannot resolve the server: %s", uv_strerror(status));
		uv_freeaddrinfo(res);
		fail(c, why);
		return;
	}
	memset(&c->srv, 0, sizeof(c->srv));
	memcpy(&c->srv, res->ai_addr, res->ai_addrlen);
	uv_freeaddrinfo(res);
	if ((r = open_udp(c)) < 0) {
		char why[300];
		snprintf(why, sizeof(why), "UDP socket: %s", uv_strerror(r));
		fail(c, why);
		return;
	}
	c->hs_started = now_ms(c);
	uv_timer_start(&c->tick, on_tick, 200, 200);
	if (!c->have_pub) {
		set_state(c, LS_KEY);
		on_tick(&c->tick);
		return;
	}
	set_state(c, LS_HS);
	start_handshake(c);
}

static int link_start(pkthop_t *h)
{
	vcli_t *c = pkthop_link(h);
	const target_t *t = pkthop_server(h);
	struct addrinfo hints = {0};
	char port[8];
	int r;

	hints.ai_socktype = SOCK_DGRAM;
	snprintf(port, sizeof(port), "%u", t->port);
	c->gai = malloc(sizeof(*c->gai));
	if (!c->gai)
		abort();
	c->gai->data = c;
	set_state(c, LS_RESOLVE);
	r = uv_getaddrinfo(c->loop, c->gai, on_resolved, t->host, port, &hints);
	if (r < 0) {
		free(c->gai);
		c->gai = NULL;
		c->state = LS_IDLE;
	}
	return r;
}

static int link_send(pkthop_t *h, const uint8_t *pkt, size_t len)
{
	vcli_t *c = pkthop_link(h);

	if (c->state != LS_UP)
		return UV_ENETDOWN;
	send_data(c, pkt, len);
	return 0;
}

static void link_stop(pkthop_t *h)
{
	release(pkthop_link(h));
}

int vpn_client_tap(dialer_t *d, const vpn_tap_t *tap, vcli_t **out)
{
	for (vcli_t *c = clients; c; c = c->next_client)
		if (c->dialer == d) {
			if (tap)
				c->tap = *tap;
			c->have_tap = tap != NULL;
			*out = c;
			return 0;
		}
	return -EINVAL;
}

int vpn_client_offload(const vcli_t *c)
{
	return c->offload;
}

/* Sealed by a crypto worker, back in order: one GSO run. */
static void tx_done(cpjob_t *j)
{
	vcli_t *c = j->owner;

	if (!j->n || !c->udp || j->len[j->n - 1] < 0)
		return;
	udpsock_send_run(c->udp, (struct sockaddr *)&c->srv, j->buf, j->stride, j->n,
	                 (size_t)j->len[j->n - 1]);
}

/* The run cut here, sealed by a worker: 0, or -ENOSPC (more datagrams than
 * a job holds: the caller seals it on the loop). */
static int send_run_pooled(vcli_t *c, ckp_t *k, const uint8_t *pkt, size_t len, const vnet_hdr_t *h)
{
	cpjob_t *j = cpool_job(c->pool, c, k->ptx, vpn_job_seal, tx_done);
	int n;

	if (!j)
		return 0; /* too much in flight: dropped, as a full queue would */
	if ((n = vpn_job_cut(j, k->remote, &k->tx_ctr, pkt, len, h)) <= 0) {
		cpool_discard(c->pool, j);
		return n;
	}
	cpool_submit(c->pool, j);
	return 0;
}

int vpn_client_send(vcli_t *c, const uint8_t *pkt, size_t len, const vnet_hdr_t *h)
{
	ckp_t *k = &c->cur;
	size_t stride, last;
	int n;

	if (c->state != LS_UP)
		return -ENETDOWN;
	if (!h) {
		send_data(c, pkt, len);
		pkthop_link_count(c->h, 0, len);
		return 0;
	}
	if (!k->valid || k->tx_ctr >= VPN_REJECT_AFTER_MSGS - VPN_RUN_MAX)
		return -ENETDOWN;
	if (c->pool && k->ptx && (n = send_run_pooled(c, k, pkt, len, h)) != -ENOSPC) {
		c->last_tx = now_ms(c);
		pkthop_link_count(c->h, 0, len);
		return n;
	}
	n = vpn_data_seal_run(&k->tx, k->remote, &k->tx_ctr, pkt, len, h, c->run, RUN_BUF, &stride,
	                      &last);
	if (n <= 0)
		return n;
	c->last_tx = now_ms(c);
	pkthop_link_count(c->h, 0, len);
	return udpsock_send_run(c->udp, (struct sockaddr *)&c->srv, c->run, stride, (size_t)n,
	                        last);
}

static void free_on_close(uv_handle_t *t)
{
	vcli_t *c = t->data;

	for (vcli_t **pp = &clients; *pp; pp = &(*pp)->next_client)
		if (*pp == c) {
			*pp = c->next_client;
			break;
		}
	free(c->buf);
	free(c->run);
	free(c);
}

static void link_free(pkthop_t *h)
{
	vcli_t *c = pkthop_link(h);

	release(c);
	cpool_free(c->pool); /* its jobs for c go without their done */
	c->pool = NULL;
	free(c->user);
	secret_free_str(c->pass);
	secret_wipe(c->client_key, 32);
	uv_close((uv_handle_t *)&c->tick, free_on_close);
}

static const pktlink_ops_t vpn_link_ops = {"vpn", link_start, link_send, link_stop, link_free};

typedef struct vcli_opts {
	pkthop_opts_t pkt;
	const char *pub;
	uint64_t mtu, keepalive_ms, rekey_ms;
	int offload;
	int cipher; /* CIPHER_* */
	uint64_t workers;
} vcli_opts_t;

enum { CIPHER_AUTO, CIPHER_CHACHA, CIPHER_AES };

static int parse_cipher(void *obj, const char *v, char *err, size_t errlen)
{
	static const char *const names[] = {[CIPHER_AUTO] = "auto",
	                                    [CIPHER_CHACHA] = "chacha20-poly1305",
	                                    [CIPHER_AES] = "aes-128-gcm"};

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (!strcmp(v, names[i])) {
			((vcli_opts_t *)obj)->cipher = i;
			return 0;
		}
	snprintf(err, errlen, "option 'cipher': auto, chacha20-poly1305 or aes-128-gcm");
	return -EINVAL;
}

static const opt_t cli_table[] = {
    OPT_STR(vcli_opts_t, pub, "pub", "none", "KEY",
            "the server's public key (base64, logged by the server): pinned; without it the "
            "first key the server shows is trusted for the life of the process"),
    OPT_UINT(vcli_opts_t, mtu, "mtu", 65535, "1500", "path MTU to the server"),
    {.name = "keepalive",
     .type = OT_DURATION,
     .off = OPT_FIELD_(vcli_opts_t, keepalive_ms, uint64_t),
     .def_doc = "the server's",
     .help = "keepalive interval"},
    OPT_DURATION(vcli_opts_t, rekey_ms, "rekey", "2m", "new keys after this long (1s to 2m)"),
    OPT_BOOL(vcli_opts_t, offload, "offload", "1",
             "the kernel's offloads where it has them: UDP GSO and GRO on the socket, TSO and "
             "USO on a tun:// device (0: one packet per read and write, as without them)"),
    OPT_FUNC("cipher", parse_cipher, "auto", "auto|chacha20-poly1305|aes-128-gcm",
             "DATA under AES-128-GCM if the server agrees (auto: where this CPU has AES "
             "instructions, where it is the faster), or always ChaCha20-Poly1305"),
    OPT_UINT(vcli_opts_t, workers, "crypto-workers", CPOOL_WORKERS_MAX, "0",
             "threads that seal and open DATA beside the loop (0: the loop does it)"),
};

const opt_schema_t vpn_hop_opts = OPT_SCHEMA_AT(vcli_opts_t, pkt, &pkthop_opts, cli_table);
_Static_assert(VPN_REKEY_AFTER_MS == 120000, "rekey='s default in the table is 2m");

int vpn_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err, size_t errlen)
{
	vcli_t *c = calloc(1, sizeof(*c));
	vcli_opts_t o = {.pub = NULL}; /* and every other field 0 */
	target_t server = {0};
	char name[300];
	int r;

	if (!c)
		abort();
	c->loop = loop;
	c->buf = malloc(BUF);
	c->run = malloc(RUN_BUF);
	if (!c->buf || !c->run)
		abort();
	uv_timer_init(loop, &c->tick);
	c->tick.data = c;
	if (next && !(dialer_caps(next) & HOP_HOST)) {
		snprintf(err, errlen, "vpn:// runs over UDP: it must be the first -F hop");
		r = -EINVAL;
		goto fail;
	}
	if ((r = opts_parse(&vpn_hop_opts, u, &o, err, errlen)) < 0)
		goto fail;
	c->mtu_path = o.mtu;
	c->ka_opt = o.keepalive_ms;
	c->rekey_ms = o.rekey_ms;
	c->offload = o.offload;
	if (o.workers && !(c->pool = cpool_new(loop, (unsigned)o.workers))) {
		snprintf(err, errlen, "option 'crypto-workers': cannot start %llu threads",
		         (unsigned long long)o.workers);
		r = -EINVAL;
		goto fail;
	}
	c->offers =
	    o.cipher == CIPHER_AES || (o.cipher == CIPHER_AUTO && aead_hw_aes()) ? VPN_F_AES : 0;
	if (c->rekey_ms < 1000 || c->rekey_ms > VPN_REKEY_AFTER_MS) {
		snprintf(err, errlen, "option 'rekey': 1s to 120s");
		r = -EINVAL;
		goto fail;
	}
	if (c->mtu_path < 576 + 60 + 8 + VPN_OVERHEAD) {
		snprintf(err, errlen, "option 'mtu': at least %d", 576 + 60 + 8 + VPN_OVERHEAD);
		r = -EINVAL;
		goto fail;
	}
	if (o.pub) {
		uint8_t k[32];
		if (b64_decode(o.pub, strlen(o.pub), k, sizeof(k)) != 32) {
			snprintf(err, errlen, "option 'pub': want the server's base64 public key");
			r = -EINVAL;
			goto fail;
		}
		vpn_static_init(&c->skey, NULL, k);
		c->have_pub = 1;
	}
	if (!u->user || !u->user[0] || strlen(u->user) > VPN_USER_MAX || !u->pass || !u->pass[0]) {
		snprintf(err, errlen,
		         "a user and password are required: vpn://USER:PASS@HOST:PORT");
		r = -EINVAL;
		goto fail;
	}
	if (!u->host[0] || u->port <= 0 || target_set(&server, u->host, (uint16_t)u->port) < 0) {
		snprintf(err, errlen, "a server is required: vpn://USER:PASS@HOST:PORT");
		r = -EINVAL;
		goto fail;
	}
	c->user = strdup(u->user);
	c->pass = strdup(u->pass);
	memcpy(name, "vpn://", 6);
	target_str(&server, name + 6, sizeof(name) - 6);
	c->h = pkthop_new(loop, next, &server, &vpn_link_ops, c, name, &o.pkt);
	if (!c->h) {
		snprintf(err, errlen, "cannot start the lwIP endpoint (one loop per process)");
		r = -EINVAL;
		goto fail;
	}
	*out = pkthop_dialer(c->h);
	c->dialer = *out;
	c->next_client = clients;
	clients = c;
	return 0;
fail:
	cpool_free(c->pool);
	c->pool = NULL;
	free(c->user);
	free(c->pass);
	c->user = c->pass = NULL;
	uv_close((uv_handle_t *)&c->tick, free_on_close);
	return r;
}
