/* vpn_server: the UDP VPN server (docs/vpn-protocol.md).
 *
 * One UDP socket.  Two kinds of objects:
 *
 *   keypair (kp)  one handshake and, once confirmed, one set of transport
 *                 keys.  Lives in a fixed table; its 32-bit index is
 *                 random high bits | table slot, so a datagram finds its
 *                 keypair in O(1) and a stale index matches nothing.
 *                 States: HALF (RESP sent, waiting for CONFIRM, at most
 *                 HALF_TIMEOUT) -> UP (keys in use, at most REJECT_AFTER).
 *   peer          one client: its user, tunnel address, current and
 *                 previous keypair (rekeying overlaps them), its UDP
 *                 address (updated by every authentic DATA: roaming) and,
 *                 rootless, its libslirp gateway.  Ends after
 *                 REJECT_AFTER without an authentic packet.
 *
 * Routing: a packet from a client whose destination is another client's
 * address goes to that client; anything else goes to the sender's slirp
 * gateway, whose host alias (the first address of net) reaches the server
 * host's 127.0.0.1 when the target policy allows it (listener.h:
 * host-loopback=1, the default only when bound to a loopback address).
 *
 * Cheap rejection first: a datagram that is not exactly one of the known
 * shapes is dropped; INIT needs a valid mac1 (one HMAC), and under load
 * (more than handshake-rate INITs in a second) a valid mac2 too, or it gets
 * a cookie reply and nothing else (no DH, no state).  The timestamp window
 * and the nonce cache stop replayed INITs.
 *
 * Fairness between sources (an IPv4 address or an IPv6 /64): under load
 * each source gets its own budget of cookie replies and of handshakes; at
 * most HALF_PER_SOURCE half-open handshakes per source (a new one replaces
 * the source's oldest) and HALF_MAX in all (a new one replaces the oldest),
 * so one source, or a few, can neither fill the table nor keep anyone else
 * from logging in or rekeying.  Failed logins count per (user, source) in
 * vpn_lock; a pair that failed too often is refused at CONFIRM (after the
 * same work as any other), never at INIT, and every name, known or not,
 * gets a RESP with a salt that is stable across tries and restarts.  They
 * also count per source in the process's core/authguard, which bans a
 * source that keeps failing, whatever the names: a banned source's INITs
 * and CONFIRMs get no answer at all.  (Its delays are not used: a VPN
 * refusal is silence, there is no answer to hold.)
 *
 * Options (besides the shared listener ones):
 *   users=FILE        scrypt verifiers (sluice vpn-user add); required
 *   net=CIDR          tunnel network, /16../30 (default 10.10.0.0/24):
 *                     .1 the server, last-but-one the DNS alias, clients
 *                     from .2 (or the fixed address of their user)
 *   net6=CIDR         IPv6 inside the tunnel too (default none): a client
 *                     gets the address of net6 with the host part of its
 *                     IPv4 address, the server is ::1 of net6, the DNS
 *                     alias the last-but-one host (as in net)
 *   key=FILE          the server's private key (base64); created if missing
 *                     (default: USERS.key)
 *   max-sessions=N    clients (default 64)
 *   mtu=N             path MTU to clients (default 1500): tunnel MTU is
 *                     N - IP - UDP - 32
 *   keepalive=D       asked of clients (default 15s)
 *   handshake-rate=N  INITs per second before cookies are required (50)
 *   tun=NAME          (root) no NAT: a TUN device with the server address
 *                     carries clients' traffic to the kernel, which routes
 *                     (and, if the admin says so, NATs) it
 *   crypto-workers=N  seal (the device's runs) and open DATA on N threads
 *                     (core/cryptopool.h; default 0: on the loop)
 */
#include "tunnel/vpn/vpn_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/authguard.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "core/replay.h"
#include "core/secret.h"
#include "core/transport.h"
#include "core/udpsock.h"
#include "core/queue.h"
#include "netstack/ackthin.h"
#include "netstack/ippkt.h"
#include "netstack/slirpgw.h"
#include "netstack/tun.h"
#include "tunnel/vpn/vpn_client.h"
#include "tunnel/vpn/vpn_lock.h"
#include "tunnel/vpn/vpn_proto.h"
#include "tunnel/vpn/vpn_tun.h"
#include "tunnel/vpn/vpn_users.h"

#define KP_BITS 12
#define KP_MAX (1u << KP_BITS)
#define HALF_MAX 1024
#define HALF_PER_SOURCE 8
#define HALF_TIMEOUT 10000
#define RECV_BUF (VPN_PKT_MAX + VPN_OVERHEAD)
#define COOKIE_BUDGET 2000   /* cookie replies per second, in all */
#define SRC_COOKIES 10       /* ... per source and second (burst: twice) */
#define SRC_HANDSHAKES 10    /* handshakes under load, per source and second (burst: twice) */
#define SRC_SLOTS 4096       /* sources the per-source budgets and locks follow */
#define RUN_BUF (256 * 1024) /* a TUN super-packet's datagrams */

enum { KP_FREE, KP_HALF, KP_UP };

typedef struct vpeer vpeer_t;

typedef struct vkp {
	int state;
	uint32_t idx, remote_idx;
	uint64_t created;
	vpn_hs_t hs;
	const vpn_user_t *user;
	vpeer_t *peer;
	struct sockaddr_storage from;
	uint8_t src[16]; /* vpn_source() of from */
	aead_t tx, rx;
	cpkey_t *ptx, *prx; /* the same keys for the crypto workers */
	vpn_replay_t rp;
	uint64_t tx_ctr;
	int proven; /* a data packet came under these keys: the client has them */
	uint8_t confirm[VPN_CONFIRM_LEN], accept[VPN_ACCEPT6_LEN];
	size_t accept_len;
} vkp_t;

struct vpeer {
	struct vsrv *g;
	uint64_t id;
	const vpn_user_t *user;
	uint32_t addr;     /* network order */
	uint8_t addr6[16]; /* with net6 */
	vkp_t *cur, *prev;
	struct sockaddr_storage to;
	uint64_t last_rx, last_tx;
	slirpgw_t *gw;
	uint64_t pkts_in, pkts_out;
	ackthin_t thin; /* the gateway's pure ACK held until the turn ends */
	queue_t tlink;  /* in g->thin_q while one is held */
};

typedef struct vsrv {
	listener_t *l;
	udpsock_t *udp;
	uv_timer_t tick;
	int tick_init, closing;
	vpn_users_t users;
	vpn_static_t key;
	const char *tun_dev;
	int offload;
	tun_t *tun;
	uint8_t cookie_secret[2][32];
	uint64_t cookie_rotated;
	uint8_t fake_secret[32]; /* salts of unknown users: from the static key, stable */
	replay_t *nonces;
	ratelimit_t *src_cookies, *src_hs;
	vlock_t *locks;
	vkp_t *kps; /* KP_MAX */
	size_t nhalf;
	vpeer_t **by_host; /* host part of net -> peer */
	uint32_t net, mask, nhosts;
	int prefix;
	int prefix6; /* 0: no IPv6 */
	uint8_t net6[16];
	uint64_t max_sessions, npeers, mtu_path, keepalive_ms, hs_rate;
	uint16_t tun_mtu;
	uint64_t hs_window_start, hs_in_window, cookies_in_window;
	uint8_t *buf, *run;
	cpool_t *pool; /* crypto-workers, or NULL */
	unsigned workers;
	cpjob_t *rxj;   /* datagrams of this loop turn to open, not handed over yet */
	queue_t thin_q; /* vpeer_t.tlink: peers holding an ACK back */
	uint64_t next_id;
	/* counters */
	uint64_t c_init, c_cookie, c_badmac, c_replay, c_badauth, c_drop, c_up, c_big;
	uint64_t c_limited, c_evicted, c_locked;
	uint64_t c_cp_jobs, c_cp_inline, c_cp_dropped; /* the pool's, copied for metrics */
} vsrv_t;

static uint64_t now_ms(vsrv_t *g)
{
	return uv_now(g->l->loop);
}

static uint64_t wall_ms(void)
{
	uv_timeval64_t tv;
	uv_gettimeofday(&tv);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static void send_to(vsrv_t *g, const struct sockaddr *to, const uint8_t *d, size_t n)
{
	/* a full socket buffer drops the datagram, as a router would */
	if (udpsock_send(g->udp, to, d, n) < 0)
		g->c_drop++;
}

static size_t addr_key(const struct sockaddr_storage *ss, uint8_t *k)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		memcpy(k, &a->sin_addr, 4);
		memcpy(k + 4, &a->sin_port, 2);
		return 6;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
	memcpy(k, &a->sin6_addr, 16);
	memcpy(k + 16, &a->sin6_port, 2);
	return 18;
}

static int addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	uint8_t ka[18], kb[18];
	size_t n = addr_key(a, ka);

	return a->ss_family == b->ss_family && n == addr_key(b, kb) && !memcmp(ka, kb, n);
}

/* ---- keypairs ---- */

static vkp_t *kp_find(vsrv_t *g, uint32_t idx)
{
	vkp_t *k = &g->kps[idx & (KP_MAX - 1)];

	return k->state != KP_FREE && k->idx == idx ? k : NULL;
}

static vkp_t *kp_alloc(vsrv_t *g)
{
	uint32_t start;

	random_bytes(&start, sizeof(start));
	for (uint32_t i = 0; i < KP_MAX; i++) {
		uint32_t s = (start + i) & (KP_MAX - 1);
		vkp_t *k = &g->kps[s];
		if (k->state == KP_FREE) {
			uint32_t hi;
			memset(k, 0, sizeof(*k));
			random_bytes(&hi, sizeof(hi));
			k->idx = (hi << KP_BITS) | s;
			k->created = now_ms(g);
			return k;
		}
	}
	return NULL;
}

static void kp_free(vsrv_t *g, vkp_t *k)
{
	if (k->state == KP_HALF)
		g->nhalf--;
	if (k->state == KP_UP) {
		aead_free(&k->tx);
		aead_free(&k->rx);
		cpkey_unref(k->ptx);
		cpkey_unref(k->prx);
	}
	vpn_hs_wipe(&k->hs);
	memset(k, 0, sizeof(*k));
}

/* ---- peers ---- */

static void peer_free(vpeer_t *p, const char *why)
{
	vsrv_t *g = p->g;
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &p->addr, a, sizeof(a));
	log_info(p->id, "vpn: %s %s gone: %s", p->user->name, a, why);
	if (p->cur)
		kp_free(g, p->cur);
	if (p->prev)
		kp_free(g, p->prev);
	g->by_host[ntohl(p->addr) & ~g->mask] = NULL;
	queue_remove(&p->tlink);
	if (p->gw)
		slirpgw_free(p->gw);
	g->npeers--;
	free(p);
}

/* Sealed by a crypto worker, back in order: one GSO run to the peer, if
 * it is still there. */
static void tx_done(cpjob_t *j)
{
	vsrv_t *g = j->owner;
	vpeer_t *p = j->tag2 < g->nhosts ? g->by_host[j->tag2] : NULL;

	if (!j->n || !p || p->id != j->tag || j->len[j->n - 1] < 0 || !g->udp)
		return;
	if (udpsock_send_run(g->udp, (struct sockaddr *)&p->to, j->buf, j->stride, j->n,
	                     (size_t)j->len[j->n - 1]) < 0)
		g->c_drop++;
}

/* The run cut here, sealed by a worker: the datagrams, 0 (dropped: too
 * much in flight), or -ENOSPC (more than a job holds: seal it here). */
static int send_run_pooled(vpeer_t *p, vkp_t *k, const uint8_t *pkt, size_t len,
                           const vnet_hdr_t *h)
{
	vsrv_t *g = p->g;
	cpjob_t *j = cpool_job(g->pool, g, k->ptx, vpn_job_seal, tx_done);
	int n;

	if (!j)
		return 0;
	if ((n = vpn_job_cut(j, k->remote_idx, &k->tx_ctr, pkt, len, h)) <= 0) {
		cpool_discard(g->pool, j);
		return n;
	}
	j->tag = p->id;
	j->tag2 = ntohl(p->addr) & ~g->mask;
	cpool_submit(g->pool, j);
	return n;
}

/* A packet to p, or a super-packet from the TUN device with its header h
 * (sent as one run of datagrams). */
static void peer_send_run(vpeer_t *p, const uint8_t *pkt, size_t len, const vnet_hdr_t *h)
{
	vsrv_t *g = p->g;
	vkp_t *k = p->cur;
	size_t stride, last;
	int n;

	/* after a rekey, the old keys send until the client uses the new
	 * ones: its ACCEPT may still be on the way, or lost */
	if (k && !k->proven && p->prev && p->prev->state == KP_UP &&
	    now_ms(g) - p->prev->created < VPN_REJECT_AFTER_MS)
		k = p->prev;
	if (!k || len > VPN_PKT_MAX || k->tx_ctr >= VPN_REJECT_AFTER_MSGS - VPN_RUN_MAX) {
		g->c_drop++;
		return;
	}
	if (h && g->pool && k->ptx && (n = send_run_pooled(p, k, pkt, len, h)) != -ENOSPC) {
		if (n <= 0) {
			g->c_drop++;
			return;
		}
		p->last_tx = now_ms(g);
		p->pkts_out += (uint64_t)n;
		return;
	}
	if (h) {
		n = vpn_data_seal_run(&k->tx, k->remote_idx, &k->tx_ctr, pkt, len, h, g->run,
		                      RUN_BUF, &stride, &last);
		if (n <= 0) {
			g->c_drop++;
			return;
		}
		p->last_tx = now_ms(g);
		p->pkts_out += (uint64_t)n;
		if (udpsock_send_run(g->udp, (struct sockaddr *)&p->to, g->run, stride, (size_t)n,
		                     last) < 0)
			g->c_drop++;
		return;
	}
	if (len > g->tun_mtu) {
		g->c_big++;
		log_debug(p->id, "vpn: %zu-byte packet over the tunnel MTU %u", len, g->tun_mtu);
	}
	/* sealed straight into the socket's queue: the loop turn's packets go
	 * out together, with UDP GSO where they make a run */
	n = vpn_data_seal(&k->tx, k->remote_idx, k->tx_ctr++, pkt, len,
	                  udpsock_slot(g->udp, (struct sockaddr *)&p->to, len + VPN_OVERHEAD));
	if (n < 0)
		return;
	p->last_tx = now_ms(g);
	p->pkts_out++;
	udpsock_commit(g->udp, (size_t)n);
}

static void peer_send(vpeer_t *p, const uint8_t *pkt, size_t len)
{
	peer_send_run(p, pkt, len, NULL);
}

/* libslirp acknowledges every segment at once; of a turn's ACKs of one
 * flow only the last goes (netstack/ackthin.h), at the end of the turn */
static void gw_out(void *ud, const uint8_t *pkt, size_t len)
{
	vpeer_t *p = ud;
	uint8_t prev[ACKTHIN_MAX];
	size_t pl;
	int held = ackthin_offer(&p->thin, pkt, len, prev, &pl);

	if (pl)
		peer_send(p, prev, pl);
	if (!held) {
		peer_send(p, pkt, len);
		return;
	}
	if (!queue_linked(&p->tlink))
		queue_insert_tail(&p->g->thin_q, &p->tlink);
	udpsock_arm(p->g->udp);
}

static void rx_flush(vsrv_t *g)
{
	cpjob_t *j = g->rxj;

	g->rxj = NULL;
	if (j)
		cpool_submit(g->pool, j);
}

static void thin_flush(void *ud)
{
	vsrv_t *g = ud;
	uint8_t b[ACKTHIN_MAX];

	rx_flush(g);

	while (!queue_empty(&g->thin_q)) {
		vpeer_t *p = queue_data(queue_first(&g->thin_q), vpeer_t, tlink);
		size_t n = ackthin_take(&p->thin, b);

		queue_remove(&p->tlink);
		if (n)
			peer_send(p, b, n);
	}
}

static uint32_t host_addr(vsrv_t *g, uint32_t host)
{
	return htonl((ntohl(g->net) & g->mask) | host);
}

/* The address of net6 with this host part (which fits: see vpn_init). */
static void host_addr6(const vsrv_t *g, uint32_t host, uint8_t out[16])
{
	memcpy(out, g->net6, 16);
	for (int i = 15; i >= 12; i--, host >>= 8)
		out[i] |= (uint8_t)host;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The host part of a, if a is a host address of net6 (the host part as
 * wide as net's); else UINT32_MAX. */
static uint32_t host_of6(const vsrv_t *g, const uint8_t *a)
{
	uint32_t low = be32_at(a + 12);

	if (memcmp(a, g->net6, 12) || (low & g->mask) != be32_at(g->net6 + 12))
		return UINT32_MAX;
	return low & ~g->mask;
}

static int peer_new(vsrv_t *g, vkp_t *k, vpeer_t **out)
{
	vpeer_t *p;
	uint32_t host = 0;

	if (g->npeers >= g->max_sessions)
		return -ENOSPC;
	if (k->user->addr) {
		host = ntohl(k->user->addr) & ~g->mask;
		/* the user's fixed address: a restarted client takes it over */
		if (g->by_host[host])
			peer_free(g->by_host[host], "replaced by a new session of its user");
	} else {
		for (uint32_t h = 2; h < g->nhosts - 2; h++)
			if (!g->by_host[h]) {
				int fixed = 0;
				for (size_t i = 0; i < g->users.n && !fixed; i++)
					fixed = g->users.u[i].addr &&
					        (ntohl(g->users.u[i].addr) & ~g->mask) == h;
				if (!fixed) {
					host = h;
					break;
				}
			}
		if (!host)
			return -ENOSPC;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	queue_init(&p->tlink);
	p->g = g;
	p->id = ++g->next_id;
	p->user = k->user;
	p->addr = host_addr(g, host);
	if (g->prefix6)
		host_addr6(g, host, p->addr6);
	p->last_rx = now_ms(g);
	if (!g->tun) {
		slirpgw_config_t cfg;
		int r;
		slirpgw_config_default(&cfg);
		cfg.net.s_addr = host_addr(g, 0);
		cfg.prefix = g->prefix;
		cfg.host.s_addr = host_addr(g, 1);
		cfg.dns.s_addr = host_addr(g, g->nhosts - 2);
		cfg.peer.s_addr = p->addr;
		cfg.host_loopback = listener_host_loopback(g->l);
		cfg.targets = &g->l->targets;
		cfg.mtu = g->tun_mtu < 576 ? 576 : g->tun_mtu;
		if (g->prefix6) {
			cfg.ipv6 = 1;
			memcpy(&cfg.net6, g->net6, 16);
			cfg.prefix6 = g->prefix6;
			host_addr6(g, 1, cfg.host6.s6_addr);
			host_addr6(g, g->nhosts - 2, cfg.dns6.s6_addr);
		}
		cfg.id = p->id;
		cfg.name = g->l->name;
		if ((r = slirpgw_new(g->l->loop, &cfg, gw_out, p, &p->gw)) < 0) {
			free(p);
			return r;
		}
	}
	g->by_host[host] = p;
	g->npeers++;
	*out = p;
	return 0;
}

/* ---- handshake ---- */

static void fake_verifier(vsrv_t *g, const char *name, vpn_verifier_t *v)
{
	uint8_t m[32];

	/* an unknown user gets a made-up salt, the same for the name on every
	 * try and after restarts (fake_secret derives from the static key):
	 * RESP does not tell */
	hmac_sha256(g->fake_secret, 32, (const uint8_t *)name, strlen(name), m);
	memset(v, 0, sizeof(*v));
	memcpy(v->salt, m, VPN_SALT);
	v->ln = VPN_SCRYPT_LN;
	v->r = VPN_SCRYPT_R;
	v->p = VPN_SCRYPT_P;
	random_bytes(v->stored_key, 32);
}

/* A keypair for a new half-open handshake from `from`.  A source with
 * HALF_PER_SOURCE of them gives up its oldest; a full table its oldest
 * entry of all: whoever floods only displaces its own (or the stalest). */
static vkp_t *half_alloc(vsrv_t *g, const struct sockaddr_storage *from)
{
	struct sockaddr_storage ss;
	uint8_t key[16];
	vkp_t *own_old = NULL, *old = NULL, *k;
	unsigned own = 0;

	vpn_source((const struct sockaddr *)from, &ss, key);
	for (uint32_t i = 0; i < KP_MAX; i++) {
		k = &g->kps[i];
		if (k->state != KP_HALF)
			continue;
		if (!old || k->created < old->created)
			old = k;
		if (!memcmp(k->src, key, 16)) {
			own++;
			if (!own_old || k->created < own_old->created)
				own_old = k;
		}
	}
	if (own >= HALF_PER_SOURCE || g->nhalf >= HALF_MAX) {
		kp_free(g, own >= HALF_PER_SOURCE ? own_old : old);
		g->c_evicted++;
	}
	if (!(k = kp_alloc(g)))
		return NULL;
	k->from = *from;
	memcpy(k->src, key, 16);
	return k;
}

/* Under load: does INIT carry the mac2 of its source's cookie? */
static int mac2_valid(vsrv_t *g, const uint8_t *d, size_t n, const uint8_t *ak, size_t al,
                      uint8_t cookie[16])
{
	uint8_t c2[16];

	vpn_cookie_make(g->cookie_secret[0], ak, al, cookie);
	if (vpn_init_check_mac2(cookie, d, n) == 0)
		return 1;
	vpn_cookie_make(g->cookie_secret[1], ak, al, c2);
	return vpn_init_check_mac2(c2, d, n) == 0;
}

static void on_init(vsrv_t *g, const uint8_t *d, size_t n, const struct sockaddr_storage *from)
{
	uint8_t cookie[16], ak[18], nonce[16], resp[VPN_RESP_LEN], skey[16];
	size_t al = addr_key(from, ak);
	uint64_t now = now_ms(g), wall;
	struct sockaddr_storage src;
	vpn_hs_t hs;
	vpn_verifier_t fake;
	const vpn_user_t *u;
	vkp_t *k;

	if (n != VPN_INIT_LEN) {
		g->c_badmac++;
		return;
	}
	if (authguard_banned((const struct sockaddr *)from, now)) {
		g->c_drop++;
		return;
	}
	vpn_source((const struct sockaddr *)from, &src, skey);
	if (now - g->hs_window_start >= 1000) {
		g->hs_window_start = now;
		g->hs_in_window = 0;
		g->cookies_in_window = 0;
	}
	if (++g->hs_in_window > g->hs_rate) {
		/* under load: only an INIT that proves its source address (mac2)
		 * goes on; the rest get a cookie, within a budget in all and one
		 * per source, so that a flood costs at most a few HMACs per
		 * datagram and cannot use up anyone else's cookies */
		if (!mac2_valid(g, d, n, ak, al, cookie)) {
			uint8_t rep[VPN_COOKIE_LEN];
			if (g->cookies_in_window >= COOKIE_BUDGET ||
			    vpn_init_check_mac1(&g->key, d, n) < 0) {
				g->c_drop++;
				return;
			}
			if (!ratelimit_allow(g->src_cookies, (struct sockaddr *)&src, now)) {
				g->c_limited++;
				return;
			}
			g->cookies_in_window++;
			g->c_cookie++;
			if (vpn_cookie_create(&g->key, d, cookie, rep) == 0)
				send_to(g, (const struct sockaddr *)from, rep, sizeof(rep));
			return;
		}
		/* a proven source: its share of the handshakes */
		if (!ratelimit_allow(g->src_hs, (struct sockaddr *)&src, now)) {
			g->c_limited++;
			return;
		}
	}
	if (vpn_init_check_mac1(&g->key, d, n) < 0) {
		g->c_badmac++;
		return;
	}
	g->c_init++;
	if (vpn_init_consume(&hs, &g->key, d, n) < 0) {
		g->c_badmac++;
		goto out;
	}
	wall = wall_ms();
	if (hs.ts + VPN_TS_WINDOW_MS < wall || hs.ts > wall + VPN_TS_WINDOW_MS) {
		log_debug(0, "vpn: INIT with a timestamp outside the window");
		g->c_replay++;
		goto out;
	}
	vpn_init_nonce(d, nonce);
	if (replay_check_add(g->nonces, nonce, now, now + 2 * VPN_TS_WINDOW_MS) != REPLAY_NEW) {
		log_info(0, "vpn: replayed handshake dropped");
		g->c_replay++;
		goto out;
	}
	/* the same work for every name: a lookup that reads every entry, and
	 * the made-up verifier, used or not */
	u = vpn_users_lookup(&g->users, hs.user);
	fake_verifier(g, hs.user, &fake);
	if (!(k = half_alloc(g, from)))
		goto out;
	k->user = u;
	k->hs = hs;
	if (vpn_resp_create(&k->hs, k->idx, u ? &u->v : &fake, resp) < 0) {
		kp_free(g, k);
		goto out;
	}
	k->state = KP_HALF;
	g->nhalf++;
	send_to(g, (const struct sockaddr *)from, resp, sizeof(resp));
out:
	vpn_hs_wipe(&hs);
}

/* A wrong password (or a user who does not exist, which looks the same). */
static void login_failed(vsrv_t *g, vkp_t *k, const char *ip)
{
	uint64_t now = now_ms(g);
	uint64_t lock = vlock_fail(g->locks, k->hs.user, (struct sockaddr *)&k->from, now);

	authguard_fail((struct sockaddr *)&k->from, now, "vpn", 0);
	g->c_badauth++;
	if (lock)
		log_warn(0,
		         "vpn: %s from %s: authentication failed; this name is refused from "
		         "this address for %llu s",
		         k->hs.user, ip, (unsigned long long)(lock + 999) / 1000);
	else
		log_warn(0, "vpn: %s from %s: authentication failed", k->hs.user, ip);
	kp_free(g, k);
}

static void on_confirm(vsrv_t *g, const uint8_t *d, size_t n, const struct sockaddr_storage *from)
{
	vkp_t *k = kp_find(g, vpn_get32(d + 4));
	uint8_t tx[32], rx[32];
	uint32_t prev_idx = 0;
	vpn_verifier_t fake;
	vpn_assign_t a = {0};
	vpeer_t *p = NULL;
	vkp_t *old;
	uint64_t left;
	char ip[64];
	int r;

	/* only the address the handshake came from gets an answer: a CONFIRM
	 * replayed from elsewhere reflects nothing */
	if (!k || !addr_eq(from, &k->from)) {
		g->c_drop++;
		return;
	}
	if (k->state == KP_UP) {
		/* our ACCEPT was lost: the same CONFIRM gets the same answer */
		if (n == VPN_CONFIRM_LEN && ct_equal(d, k->confirm, n))
			send_to(g, (const struct sockaddr *)from, k->accept, k->accept_len);
		return;
	}
	if (authguard_banned((const struct sockaddr *)from, now_ms(g))) {
		g->c_drop++;
		return;
	}
	fake_verifier(g, k->hs.user, &fake);
	r = vpn_confirm_consume(&k->hs, k->user ? &k->user->v : &fake, d, n, &prev_idx);
	if (r < 0 && r != -EACCES)
		return; /* not the client's: leave the handshake to the real one */
	sockaddr_str((const struct sockaddr *)from, ip, sizeof(ip));
	if (r < 0 || !k->user) {
		login_failed(g, k, ip);
		return;
	}
	/* a rekey names the keypair it replaces */
	old = prev_idx ? kp_find(g, prev_idx) : NULL;
	if (old && (old->state != KP_UP || !old->peer || old->peer->user != k->user))
		old = NULL;
	/* a pair that failed too often is refused, whatever the password; not
	 * the rekey of a session from the address that session has proven */
	left = vlock_left(g->locks, k->user->name, (struct sockaddr *)from, now_ms(g));
	if (left && !(old && addr_eq(from, &old->peer->to))) {
		log_warn(0,
		         "vpn: %s from %s: refused, too many failures from this address (%llu s "
		         "left)",
		         k->user->name, ip, (unsigned long long)(left + 999) / 1000);
		g->c_locked++;
		kp_free(g, k);
		return;
	}
	vlock_ok(g->locks, k->user->name, (struct sockaddr *)from);
	authguard_ok((const struct sockaddr *)from);
	memcpy(k->confirm, d, VPN_CONFIRM_LEN);
	g->nhalf--;
	k->state = KP_UP;
	vpn_hs_transport(&k->hs, 0, tx, rx);
	/* AES-128-GCM for a client that offers it, where this CPU has AES
	 * instructions (where it costs a third of ChaCha20-Poly1305's) */
	a.cipher =
	    (k->hs.flags & VPN_F_AES) && aead_hw_aes() ? VPN_CIPHER_AES128 : VPN_CIPHER_CHACHA;
	aead_init(&k->tx, vpn_cipher_alg(a.cipher), tx, 1);
	aead_init(&k->rx, vpn_cipher_alg(a.cipher), rx, 0);
	if (g->pool) {
		k->ptx = cpkey_new(g->pool, vpn_cipher_alg(a.cipher), tx, 1);
		k->prx = cpkey_new(g->pool, vpn_cipher_alg(a.cipher), rx, 0);
	}
	secret_wipe(tx, sizeof(tx));
	secret_wipe(rx, sizeof(rx));
	k->remote_idx = k->hs.remote_idx;
	k->created = now_ms(g);
	if (old) {
		p = old->peer;
		if (p->prev && p->prev != p->cur)
			kp_free(g, p->prev);
		p->prev = p->cur;
		p->cur = k;
	} else if ((r = peer_new(g, k, &p)) < 0) {
		log_warn(0, "vpn: %s from %s: no session: %s", k->user->name, ip, strerror(-r));
		kp_free(g, k);
		return;
	} else {
		p->cur = k;
		g->c_up++;
	}
	k->peer = p;
	p->to = *from;
	p->last_rx = now_ms(g);
	a.addr = p->addr;
	a.gateway = host_addr(g, 1);
	a.dns = host_addr(g, g->nhosts - 2);
	a.prefix = (uint8_t)g->prefix;
	a.mtu = g->tun_mtu;
	a.keepalive = (uint16_t)(g->keepalive_ms / 1000);
	if (g->prefix6) {
		a.prefix6 = (uint8_t)g->prefix6;
		memcpy(a.addr6, p->addr6, 16);
		host_addr6(g, g->nhosts - 2, a.dns6);
	}
	r = vpn_accept_create(&k->hs, k->user->v.server_key, &a, k->accept);
	k->accept_len = r < 0 ? 0 : (size_t)r;
	{
		char as[INET_ADDRSTRLEN], as6[INET6_ADDRSTRLEN] = "";
		inet_ntop(AF_INET, &p->addr, as, sizeof(as));
		if (g->prefix6) {
			as6[0] = ' ';
			inet_ntop(AF_INET6, p->addr6, as6 + 1, sizeof(as6) - 1);
		}
		log_info(p->id, "vpn: %s %s%s from %s: %s, DATA %s", k->user->name, as, as6, ip,
		         p->cur == k && p->prev ? "rekeyed" : "up",
		         aead_alg_name(vpn_cipher_alg(a.cipher)));
	}
	send_to(g, (const struct sockaddr *)from, k->accept, k->accept_len);
}

/* ---- transport ---- */

/* RFC 1191: a packet with DF that does not fit the tunnel is answered with
 * "fragmentation needed" and the MTU, from the server's address. */
static void icmp_too_big(vsrv_t *g, vpeer_t *p, const uint8_t *pkt, size_t len)
{
	uint8_t out[20 + 8 + 60 + 8] = {0};
	size_t ihl = (size_t)(pkt[0] & 15) * 4, quote, total;
	uint32_t src = host_addr(g, 1);
	uint16_t c;

	if (ihl < 20 || ihl > len || (pkt[9] == 1 && len > ihl && pkt[ihl] != 8))
		return; /* never an ICMP error about an ICMP error */
	quote = len < ihl + 8 ? len : ihl + 8;
	total = 28 + quote;
	out[0] = 0x45;
	out[2] = (uint8_t)(total >> 8);
	out[3] = (uint8_t)total;
	out[8] = 64;
	out[9] = 1;
	memcpy(out + 12, &src, 4);
	memcpy(out + 16, pkt + 12, 4);
	c = ippkt_csum(out, 20);
	out[10] = (uint8_t)(c >> 8);
	out[11] = (uint8_t)c;
	out[20] = 3;
	out[21] = 4;
	out[26] = (uint8_t)(g->tun_mtu >> 8);
	out[27] = (uint8_t)g->tun_mtu;
	memcpy(out + 28, pkt, quote);
	c = ippkt_csum(out + 20, 8 + quote);
	out[22] = (uint8_t)(c >> 8);
	out[23] = (uint8_t)c;
	g->c_big++;
	peer_send(p, out, total);
}

/* RFC 8201 / 4443: an IPv6 packet larger than the tunnel MTU is answered
 * with ICMPv6 "packet too big" and the MTU, from the server's address. */
static void icmp6_too_big(vsrv_t *g, vpeer_t *p, const uint8_t *pkt, size_t len)
{
	uint8_t out[1280];
	size_t quote = len < sizeof(out) - 48 ? len : sizeof(out) - 48, plen = 8 + quote;
	uint16_t c;

	if (pkt[6] == 58 && len > 40 && pkt[40] < 128)
		return; /* never an ICMP error about an ICMP error */
	memset(out, 0, 48);
	out[0] = 0x60;
	out[4] = (uint8_t)(plen >> 8);
	out[5] = (uint8_t)plen;
	out[6] = 58;
	out[7] = 64;
	host_addr6(g, 1, out + 8);
	memcpy(out + 24, pkt + 8, 16);
	out[40] = 2;
	out[44] = (uint8_t)(g->tun_mtu >> 24);
	out[45] = (uint8_t)(g->tun_mtu >> 16);
	out[46] = (uint8_t)(g->tun_mtu >> 8);
	out[47] = (uint8_t)g->tun_mtu;
	memcpy(out + 48, pkt, quote);
	c = ippkt_csum_l4(out, 6, IPPKT_ICMP6, out + 40, plen);
	out[42] = (uint8_t)(c >> 8);
	out[43] = (uint8_t)c;
	g->c_big++;
	peer_send(p, out, 40 + plen);
}

/* To q, another client, or out: the kernel (tun=) or p's gateway. */
static void forward(vsrv_t *g, vpeer_t *p, vpeer_t *q, const uint8_t *pkt, size_t len)
{
	if (q && q != p)
		peer_send(q, pkt, len);
	else if (g->tun)
		tun_write(g->tun, pkt, len);
	else if (p->gw)
		slirpgw_input(p->gw, pkt, len);
}

static void route6(vsrv_t *g, vpeer_t *p, const uint8_t *pkt, size_t len)
{
	uint32_t h;

	/* without net6 nothing is ours to carry; a client speaks only for its
	 * own address (its link-local and unspecified-source neighbour and
	 * multicast chatter has nowhere to go either) */
	if (!g->prefix6 || len < 40 || (size_t)(pkt[4] << 8 | pkt[5]) + 40 > len ||
	    memcmp(pkt + 8, p->addr6, 16)) {
		g->c_drop++;
		return;
	}
	if (len > g->tun_mtu) {
		icmp6_too_big(g, p, pkt, len);
		return;
	}
	h = host_of6(g, pkt + 24);
	forward(g, p, h != UINT32_MAX ? g->by_host[h] : NULL, pkt, len);
}

static void route(vsrv_t *g, vpeer_t *p, const uint8_t *pkt, size_t len)
{
	uint32_t src, dst;

	if (ippkt_version(pkt, len) == 6) {
		route6(g, p, pkt, len);
		return;
	}
	if (len < 20 || ippkt_version(pkt, len) != 4 || (size_t)(pkt[2] << 8 | pkt[3]) > len) {
		g->c_drop++;
		return;
	}
	memcpy(&src, pkt + 12, 4);
	memcpy(&dst, pkt + 16, 4);
	if (src != p->addr) { /* a client speaks only for its own address */
		g->c_drop++;
		return;
	}
	if (len > g->tun_mtu && (pkt[6] & 0x40)) {
		icmp_too_big(g, p, pkt, len);
		return;
	}
	forward(g, p,
	        (dst & htonl(g->mask)) == (g->net & htonl(g->mask))
	            ? g->by_host[ntohl(dst) & ~g->mask]
	            : NULL,
	        pkt, len);
}

/* A packet from the TUN device: to the client that owns its destination. */
static void tun_in(void *ud, const uint8_t *pkt, size_t len, const vnet_hdr_t *vh)
{
	vsrv_t *g = ud;
	uint32_t dst, h;
	vpeer_t *q;

	if (len >= 40 && ippkt_version(pkt, len) == 6 && g->prefix6) {
		if ((h = host_of6(g, pkt + 24)) == UINT32_MAX || !(q = g->by_host[h])) {
			g->c_drop++;
			return;
		}
		peer_send_run(q, pkt, len, vh);
		return;
	}
	if (len < 20 || ippkt_version(pkt, len) != 4) {
		g->c_drop++;
		return;
	}
	memcpy(&dst, pkt + 16, 4);
	if ((dst & htonl(g->mask)) != g->net || !(q = g->by_host[ntohl(dst) & ~g->mask])) {
		g->c_drop++;
		return;
	}
	peer_send_run(q, pkt, len, vh);
}

/* An authentic, new packet of m bytes (0: a keepalive) at pt under k from
 * p's client, which sent it from from. */
static void data_in(vsrv_t *g, vkp_t *k, vpeer_t *p, uint8_t *pt, int m,
                    const struct sockaddr_storage *from)
{
	k->proven = 1;
	/* authentic and new: follow the client wherever it is now */
	if (memcmp(&p->to, from, sizeof(*from))) {
		char ip[64];
		sockaddr_str((const struct sockaddr *)from, ip, sizeof(ip));
		log_info(p->id, "vpn: %s roamed to %s", p->user->name, ip);
		p->to = *from;
	}
	p->last_rx = now_ms(g);
	p->pkts_in++;
	if (m == 0) { /* keepalive: answer, so the client knows we are here */
		peer_send(p, NULL, 0);
		return;
	}
	route(g, p, pt, (size_t)m);
}

/* Record i of an open job: the sender's address, then the datagram. */
#define RX_FROM sizeof(struct sockaddr_storage)

/* Opened by a crypto worker, back in order: the keypair looked up again,
 * the window checked again (a counter twice in one turn passed the first
 * check twice) and only now updated, as vpn_data_open does. */
static void rx_done(cpjob_t *j)
{
	vsrv_t *g = j->owner;

	for (size_t i = 0; i < j->n; i++) {
		uint8_t *d = j->buf + j->off[i];
		struct sockaddr_storage from;
		vkp_t *k = kp_find(g, (uint32_t)j->tag);
		if (j->len[i] < 0) {
			g->c_badauth++;
			continue;
		}
		if (!k || k->state != KP_UP || !k->peer) {
			g->c_drop++;
			continue;
		}
		if (!vpn_data_accept(&k->rp, d)) {
			g->c_replay++;
			continue;
		}
		memcpy(&from, d - RX_FROM, sizeof(from));
		data_in(g, k, k->peer, d + VPN_DATA_HDR, j->len[i], &from);
	}
}

/* With crypto workers: d joins this turn's datagrams to open under k. */
static void rx_queue(vsrv_t *g, vkp_t *k, const uint8_t *d, size_t n,
                     const struct sockaddr_storage *from)
{
	cpjob_t *j = g->rxj;

	if (j && (j->key != k->prx || j->n == CPJOB_RECORDS || j->used + RX_FROM + n > CPJOB_BUF))
		rx_flush(g);
	if (!(j = g->rxj)) {
		if (!(j = cpool_job(g->pool, g, k->prx, vpn_job_open, rx_done))) {
			g->c_drop++; /* too much in flight: as a full queue would */
			return;
		}
		j->tag = k->idx;
		g->rxj = j;
		udpsock_arm(g->udp); /* rx_flush at the end of the turn */
	}
	memcpy(j->buf + j->used, from, RX_FROM);
	j->off[j->n] = (uint32_t)(j->used + RX_FROM);
	j->len[j->n++] = (int32_t)n;
	memcpy(j->buf + j->used + RX_FROM, d, n);
	j->used += (RX_FROM + n + 15) & ~(size_t)15;
}

static void on_data(vsrv_t *g, const uint8_t *d, size_t n, const struct sockaddr_storage *from)
{
	uint32_t idx;
	uint64_t ctr;
	vkp_t *k;
	vpeer_t *p;
	int m;

	if (vpn_data_peek(d, n, &idx, &ctr) < 0 || !(k = kp_find(g, idx)) || k->state != KP_UP ||
	    !(p = k->peer)) {
		g->c_drop++;
		return;
	}
	if (now_ms(g) - k->created > VPN_REJECT_AFTER_MS) {
		g->c_drop++;
		return;
	}
	if (g->pool && k->prx) {
		if (vpn_replay_check(&k->rp, ctr))
			rx_queue(g, k, d, n, from);
		else
			g->c_replay++;
		return;
	}
	m = vpn_data_open(&k->rx, &k->rp, d, n, g->buf);
	if (m < 0) {
		if (m == -EALREADY)
			g->c_replay++;
		else
			g->c_badauth++;
		return;
	}
	data_in(g, k, p, g->buf, m, from);
}

static void on_recv(void *ud, uint8_t *d, size_t n, const struct sockaddr *addr)
{
	vsrv_t *g = ud;
	struct sockaddr_storage from = {0};

	if (!n)
		return;
	memcpy(&from, addr,
	       addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                   : sizeof(struct sockaddr_in));
	if (!acl_permits(&g->l->clients, addr)) {
		g->c_drop++;
		return;
	}
	switch (d[0]) {
	case VPN_MSG_DATA:
		on_data(g, d, n, &from);
		break;
	case VPN_MSG_INIT:
		on_init(g, d, n, &from);
		break;
	case VPN_MSG_CONFIRM:
		if (n == VPN_CONFIRM_LEN)
			on_confirm(g, d, n, &from);
		break;
	case VPN_MSG_KEYREQ:
		if (vpn_keyreq_check(d, n) == 0) {
			uint8_t rep[VPN_KEYRESP_LEN];
			vpn_keyresp_create(g->key.pub, rep);
			send_to(g, addr, rep, sizeof(rep));
		}
		break;
	default:
		g->c_drop++;
	}
}

static void on_tick(uv_timer_t *t)
{
	vsrv_t *g = t->data;
	uint64_t now = now_ms(g);

	if (now - g->cookie_rotated >= VPN_COOKIE_SECRET_MS) {
		memcpy(g->cookie_secret[1], g->cookie_secret[0], 32);
		random_bytes(g->cookie_secret[0], 32);
		g->cookie_rotated = now;
	}
	for (uint32_t i = 0; i < KP_MAX; i++) {
		vkp_t *k = &g->kps[i];
		if (k->state == KP_HALF && now - k->created > HALF_TIMEOUT)
			kp_free(g, k);
		else if (k->state == KP_UP && k->peer && k->peer->prev == k &&
		         now - k->created > VPN_REJECT_AFTER_MS) {
			k->peer->prev = NULL;
			kp_free(g, k);
		}
	}
	for (uint32_t h = 0; h < g->nhosts; h++) {
		vpeer_t *p = g->by_host[h];
		if (p && now - p->last_rx > VPN_REJECT_AFTER_MS)
			peer_free(p, "silent too long");
		else if (p && p->cur && now - p->cur->created > VPN_REJECT_AFTER_MS + 10000)
			peer_free(p, "keys expired, no rekey");
	}
}

/* ---- the listener ---- */

static int load_key(vsrv_t *g, const char *path, char *err, size_t errlen)
{
	uint8_t priv[32], pub[32];
	char b64[128], pb[64];
	FILE *f = fopen(path, "r");
	int r;

	if (f) {
		size_t n = fread(b64, 1, sizeof(b64) - 1, f);
		fclose(f);
		b64[n] = 0;
		b64[strcspn(b64, "\r\n")] = 0;
		if (b64_decode(b64, strlen(b64), priv, sizeof(priv)) != 32) {
			snprintf(err, errlen, "option 'key': %s does not hold a base64 X25519 key",
			         path);
			return -EINVAL;
		}
	} else {
		int fd;
		if (errno != ENOENT || vpn_keypair(priv, pub) < 0 ||
		    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
			snprintf(err, errlen, "option 'key': cannot read or create %s: %s", path,
			         strerror(errno));
			return -EINVAL;
		}
		b64_encode(priv, 32, b64);
		strcat(b64, "\n");
		r = (int)write(fd, b64, strlen(b64));
		close(fd);
		if (r < 0)
			return -EIO;
		log_info(0, "vpn: created server key %s", path);
	}
	r = vpn_static_init(&g->key, priv, NULL);
	secret_wipe(priv, sizeof(priv));
	if (r < 0) {
		snprintf(err, errlen, "option 'key': bad key in %s", path);
		return r;
	}
	b64_encode(g->key.pub, 32, pb);
	log_info(0, "vpn: server public key %s (clients: pub=%s)", pb, pb);
	return 0;
}

static const metric_t srv_metrics[] = {
    METRIC(vsrv_t, npeers, "sluice_vpn_peers", "gauge", "Clients with a session now."),
    METRIC(vsrv_t, nhalf, "sluice_vpn_handshakes_half_open", "gauge",
           "Handshakes answered and waiting for their confirmation."),
    METRIC(vsrv_t, c_init, "sluice_vpn_handshakes_total", "counter",
           "Handshake initiations with a valid MAC."),
    METRIC(vsrv_t, c_up, "sluice_vpn_sessions_total", "counter",
           "Sessions (and rekeys) confirmed."),
    METRIC(vsrv_t, c_cookie, "sluice_vpn_cookie_replies_total", "counter",
           "Cookie replies sent under load."),
    METRIC(vsrv_t, c_badmac, "sluice_vpn_bad_mac_total", "counter",
           "Handshake packets with a wrong size or MAC."),
    METRIC(vsrv_t, c_replay, "sluice_vpn_replays_total", "counter",
           "Handshakes refused as stale (timestamp) or replayed."),
    METRIC(vsrv_t, c_badauth, "sluice_vpn_auth_failures_total", "counter",
           "Logins with a wrong user or password."),
    METRIC(vsrv_t, c_drop, "sluice_vpn_dropped_total", "counter",
           "Packets dropped: no keys, a full socket, table or cookie budget."),
    METRIC(vsrv_t, c_big, "sluice_vpn_oversize_total", "counter",
           "Packets over the tunnel MTU (answered with ICMP fragmentation needed)."),
    METRIC(vsrv_t, c_limited, "sluice_vpn_source_limited_total", "counter",
           "Handshakes and cookie replies refused by a source's rate."),
    METRIC(vsrv_t, c_evicted, "sluice_vpn_handshakes_evicted_total", "counter",
           "Half-open handshakes dropped to make room (per source or in all)."),
    METRIC(vsrv_t, c_locked, "sluice_vpn_logins_locked_total", "counter",
           "Logins refused while a user and address pair is locked out."),
    METRIC(vsrv_t, c_cp_jobs, "sluice_vpn_crypto_jobs_total", "counter",
           "Batches of DATA handed to the crypto workers (crypto-workers=)."),
    METRIC(vsrv_t, c_cp_inline, "sluice_vpn_crypto_inline_total", "counter",
           "Of them, sealed or opened on the loop: the workers were behind."),
    METRIC(vsrv_t, c_cp_dropped, "sluice_vpn_crypto_dropped_total", "counter",
           "Batches dropped: too many in flight to the crypto workers."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	vsrv_t *g = ud;
	cpool_stats_t cs;
	char lab[300];

	cpool_stats(g->pool, &cs);
	g->c_cp_jobs = cs.jobs;
	g->c_cp_inline = cs.inl;
	g->c_cp_dropped = cs.dropped;

	METRICS_TABLE(b, srv_metrics, g, metrics_label(lab, sizeof(lab), "listener", g->l->name));
}

typedef struct vsrv_opts {
	const char *users, *net, *net6, *key, *tun;
	uint64_t max_sessions, mtu, keepalive_ms, hs_rate, workers;
	int offload;
} vsrv_opts_t;

static const opt_t srv_table[] = {
    OPT_STR(vsrv_opts_t, users, "users", "required", "FILE",
            "the users file (sluice vpn-user add): scrypt verifiers, no passwords"),
    OPT_STR(vsrv_opts_t, net, "net", "10.10.0.0/24", "CIDR",
            "the tunnel network (/16 to /29): .1 is the server, clients from .2"),
    OPT_STR(vsrv_opts_t, net6, "net6", "none", "CIDR",
            "IPv6 inside the tunnel too: a client whose IPv4 address has host part h gets "
            "this prefix + h, the server + 1"),
    OPT_STR(vsrv_opts_t, key, "key", "USERS.key", "FILE",
            "the server's private key (base64), made if missing"),
    OPT_STR(vsrv_opts_t, tun, "tun", "none", "NAME",
            "(root) a TUN device instead of the NAT: the kernel routes clients' traffic"),
    OPT_UINT(vsrv_opts_t, max_sessions, "max-sessions", 4096, "64", "clients at once"),
    OPT_UINT(vsrv_opts_t, mtu, "mtu", 65535, "1500",
             "path MTU to clients (the tunnel MTU is this less 60 bytes)"),
    OPT_DURATION(vsrv_opts_t, keepalive_ms, "keepalive", "15s",
                 "keepalive interval asked of clients"),
    OPT_UINT(vsrv_opts_t, hs_rate, "handshake-rate", 1000000, "50",
             "handshakes per second before a cookie is required"),
    OPT_BOOL(vsrv_opts_t, offload, "offload", "1",
             "the kernel's offloads where it has them: UDP GSO and GRO on the socket, TSO and "
             "USO on the tun= device (0: one packet per read and write, as without them)"),
    OPT_UINT(vsrv_opts_t, workers, "crypto-workers", CPOOL_WORKERS_MAX, "0",
             "threads that seal and open DATA beside the loop (0: the loop does it)"),
};

const opt_schema_t vpn_server_opts = OPT_SCHEMA(NULL, srv_table);

static int vpn_init(listener_t *l, char *err, size_t errlen)
{
	vsrv_t *g = calloc(1, sizeof(*g));
	vsrv_opts_t o = {.users = NULL}; /* and every other field 0 */
	const char *users, *net, *net6, *keyfile;
	char kpath[4096], ip[64];
	uint64_t mtu;
	int r;

	if (!g)
		abort();
	queue_init(&g->thin_q);
	l->front = g;
	g->l = l;
	if ((r = listener_bind_addr(l->url, &l->bind, err, errlen)) < 0 ||
	    (r = opts_parse(&vpn_server_opts, l->url, &o, err, errlen)) < 0)
		return r;
	users = o.users;
	net = o.net ? o.net : "10.10.0.0/24";
	net6 = o.net6;
	keyfile = o.key;
	mtu = o.mtu;
	g->tun_dev = o.tun;
	g->offload = o.offload;
	g->max_sessions = o.max_sessions;
	g->keepalive_ms = o.keepalive_ms;
	g->hs_rate = o.hs_rate;
	g->workers = (unsigned)o.workers;
	if (!users) {
		snprintf(err, errlen,
		         "option 'users' is required: users=FILE (sluice vpn-user add)");
		return -EINVAL;
	}
	{
		char *slash = strchr(net, '/');
		struct in_addr a;
		int pfx = slash ? atoi(slash + 1) : -1;
		size_t iplen = slash ? (size_t)(slash - net) : 0;
		if (!slash || iplen >= sizeof(ip) || pfx < 16 || pfx > 29) {
			snprintf(err, errlen,
			         "option 'net': want an IPv4 CIDR /16 to /29, e.g. 10.10.0.0/24");
			return -EINVAL;
		}
		memcpy(ip, net, iplen);
		ip[iplen] = 0;
		if (inet_pton(AF_INET, ip, &a) != 1) {
			snprintf(err, errlen, "option 'net': '%s' is not an IPv4 address", ip);
			return -EINVAL;
		}
		g->prefix = pfx;
		g->mask = ~0u << (32 - pfx);
		g->net = a.s_addr & htonl(g->mask);
		g->nhosts = 1u << (32 - pfx);
	}
	if (net6) {
		char *slash = strchr(net6, '/');
		int pfx = slash ? atoi(slash + 1) : -1, maxp = 128 - (32 - g->prefix);
		size_t iplen = slash ? (size_t)(slash - net6) : 0;
		if (!slash || iplen >= sizeof(ip) || pfx < 48 || pfx > maxp) {
			snprintf(
			    err, errlen,
			    "option 'net6': want an IPv6 CIDR /48 to /%d (room for the hosts of "
			    "net), e.g. fd00:10::/64",
			    maxp);
			return -EINVAL;
		}
		memcpy(ip, net6, iplen);
		ip[iplen] = 0;
		if (inet_pton(AF_INET6, ip, g->net6) != 1 || g->net6[0] == 0xff ||
		    (g->net6[0] == 0xfe && (g->net6[1] & 0xc0) == 0x80)) {
			snprintf(err, errlen, "option 'net6': '%s' is not a unicast IPv6 address",
			         ip);
			return -EINVAL;
		}
		for (int b = pfx; b < 128; b++)
			g->net6[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
		g->prefix6 = pfx;
	}
	if (mtu < 576 + 28 + 60 + VPN_OVERHEAD) {
		snprintf(err, errlen, "option 'mtu': at least %d", 576 + 28 + 60 + VPN_OVERHEAD);
		return -EINVAL;
	}
	g->mtu_path = mtu;
	g->tun_mtu = (uint16_t)(mtu - (l->bind.ss_family == AF_INET6 ? 40 : 20) - 8 - VPN_OVERHEAD);
	if (g->prefix6 && g->tun_mtu < 1280) {
		snprintf(err, errlen,
		         "option 'net6': IPv6 needs a tunnel MTU of 1280 (mtu=%d or more)",
		         1280 + (l->bind.ss_family == AF_INET6 ? 40 : 20) + 8 + VPN_OVERHEAD);
		return -EINVAL;
	}
	if ((r = vpn_users_load(users, &g->users, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < g->users.n; i++) {
		uint32_t a = g->users.u[i].addr, h = ntohl(a) & ~g->mask;
		if (a && ((a & htonl(g->mask)) != g->net || h < 2 || h >= g->nhosts - 2)) {
			snprintf(err, errlen,
			         "users file %s: the address of %s is not a client address of net",
			         users, g->users.u[i].name);
			return -EINVAL;
		}
	}
	if (!keyfile) {
		snprintf(kpath, sizeof(kpath), "%s.key", users);
		keyfile = kpath;
	}
	if ((r = load_key(g, keyfile, err, errlen)) < 0)
		return r;
	g->kps = calloc(KP_MAX, sizeof(*g->kps));
	g->by_host = calloc(g->nhosts, sizeof(*g->by_host));
	g->buf = malloc(RECV_BUF);
	g->run = malloc(RUN_BUF);
	g->nonces = replay_new(65536);
	g->src_cookies = ratelimit_new(SRC_COOKIES, 2 * SRC_COOKIES, SRC_SLOTS);
	g->src_hs = ratelimit_new(SRC_HANDSHAKES, 2 * SRC_HANDSHAKES, SRC_SLOTS);
	g->locks = vlock_new(SRC_SLOTS);
	if (!g->kps || !g->by_host || !g->buf || !g->run || !g->nonces)
		abort();
	random_bytes(g->cookie_secret, sizeof(g->cookie_secret));
	hmac_sha256(g->key.priv, 32, (const uint8_t *)"sluice-vpn unknown users", 24,
	            g->fake_secret);
	return 0;
}

static int vpn_start(listener_t *l)
{
	vsrv_t *g = l->front;
	int r;

	if ((r = udpsock_open(l->loop, (struct sockaddr *)&l->bind,
	                      g->offload ? UDPSOCK_GRO | UDPSOCK_GSO : 0, on_recv, g, &g->udp)) < 0)
		return r;
	udpsock_on_turn_end(g->udp, thin_flush, g);
	if (g->workers && !(g->pool = cpool_new(l->loop, g->workers))) {
		log_err(0, "vpn: crypto-workers=%u: cannot start the threads", g->workers);
		return -EAGAIN;
	}
	if (g->tun_dev) {
		if ((r = tun_open(l->loop, g->tun_dev, g->offload ? TUN_OFFLOAD : 0, tun_in, g,
		                  &g->tun)) < 0 ||
		    (r = tun_set_addr(g->tun, (struct in_addr){.s_addr = host_addr(g, 1)},
		                      g->prefix, g->tun_mtu)) < 0) {
			log_err(0, "vpn: tun %s: %s (needs root or CAP_NET_ADMIN)", g->tun_dev,
			        strerror(-r));
			return r;
		}
		if (g->prefix6) {
			struct in6_addr a6;
			host_addr6(g, 1, a6.s6_addr);
			if ((r = tun_set_addr6(g->tun, &a6, g->prefix6)) < 0) {
				log_err(0, "vpn: tun %s: IPv6 address: %s", g->tun_dev,
				        strerror(-r));
				return r;
			}
		}
		log_info(0, "vpn: tun %s up, clients' traffic goes to the kernel (offloads %s)",
		         tun_name(g->tun), tun_offloads(g->tun));
		log_info(0, "vpn: UDP %s, %s; DATA sealed and opened %s",
		         udpsock_offloads(g->udp) & UDPSOCK_GSO
		             ? "GSO (one send per run of datagrams)"
		             : "without GSO (sendmmsg)",
		         udpsock_offloads(g->udp) & UDPSOCK_GRO ? "GRO (one read per run)"
		                                                : "without GRO (recvmmsg)",
		         g->pool ? "on crypto worker threads" : "on the loop");
	}
	uv_timer_init(l->loop, &g->tick);
	g->tick.data = g;
	g->tick_init = 1;
	g->cookie_rotated = now_ms(g);
	uv_timer_start(&g->tick, on_tick, 1000, 1000);
	metrics_register(metrics_fn, g);
	log_info(0, "listening on %s (UDP VPN, %u users, tunnel MTU %u)", l->name,
	         (unsigned)g->users.n, g->tun_mtu);
	return 0;
}

static void vpn_stop(listener_t *l)
{
	vsrv_t *g = l->front;

	if (g && g->udp)
		udpsock_recv_stop(g->udp);
}

/* ---- reload: new options in place ---- */

static int vpn_adopt_check(listener_t *l, listener_t *nl, char *err, size_t errlen)
{
	const vsrv_t *g = l->front, *n = nl->front;
	const char *what = NULL;

	if (g->net != n->net || g->prefix != n->prefix)
		what = "net";
	else if (g->prefix6 != n->prefix6 || memcmp(g->net6, n->net6, sizeof(g->net6)))
		what = "net6";
	else if (CRYPTO_memcmp(&g->key, &n->key, sizeof(g->key)))
		what = "key";
	else if (!g->tun_dev != !n->tun_dev || (g->tun_dev && strcmp(g->tun_dev, n->tun_dev)))
		what = "tun";
	else if (g->mtu_path != n->mtu_path)
		what = "mtu";
	else if (g->offload != n->offload)
		what = "offload";
	else if (g->workers != n->workers)
		what = "crypto-workers";
	if (!what)
		return 0;
	snprintf(err, errlen,
	         "%s=: changed, and it cannot change while the VPN server runs (its clients' "
	         "sessions hold it)",
	         what);
	return UV_EINVAL;
}

/* The entry of the new users file u's session may go on under: the same
 * name, password verifier and fixed address; NULL: it ends. */
static const vpn_user_t *user_kept(const vpn_users_t *us, const vpn_user_t *u)
{
	const vpn_user_t *nu = vpn_users_find(us, u->name);

	if (!nu || memcmp(&nu->v, &u->v, sizeof(nu->v)) || nu->addr != u->addr)
		return NULL;
	return nu;
}

static void vpn_adopt(listener_t *l, listener_t *nl)
{
	vsrv_t *g = l->front, *n = nl->front;
	vpn_users_t t;
	uint64_t kept = 0, ended = 0;

	for (uint32_t h = 0; h < g->nhosts; h++) {
		vpeer_t *p = g->by_host[h];
		const vpn_user_t *nu;
		if (!p)
			continue;
		if (!(nu = user_kept(&n->users, p->user))) {
			peer_free(p, vpn_users_find(&n->users, p->user->name)
			                 ? "its entry in the users file changed (reload)"
			                 : "no longer in the users file (reload)");
			ended++;
			continue;
		}
		p->user = nu;
		kept++;
	}
	/* handshakes (and a kept peer's keys) follow their user's entry */
	for (uint32_t i = 0; i < KP_MAX; i++) {
		vkp_t *k = &g->kps[i];
		const vpn_user_t *nu;
		if (k->state == KP_FREE || !k->user)
			continue;
		if (k->peer)
			k->user = k->peer->user;
		else if ((nu = user_kept(&n->users, k->user)))
			k->user = nu;
		else
			kp_free(g, k);
	}
	t = g->users;
	g->users = n->users;
	n->users = t;
	g->tun_dev = n->tun_dev; /* the same name, in l's URL now */
	g->max_sessions = n->max_sessions;
	g->keepalive_ms = n->keepalive_ms;
	g->hs_rate = n->hs_rate;
	log_info(0,
	         "%s: reloaded in place: %zu users, %llu sessions kept, %llu ended; "
	         "max-sessions=%llu keepalive=%llums handshake-rate=%llu",
	         l->name, g->users.n, (unsigned long long)kept, (unsigned long long)ended,
	         (unsigned long long)g->max_sessions, (unsigned long long)g->keepalive_ms,
	         (unsigned long long)g->hs_rate);
}

static void free_on_close(uv_handle_t *h)
{
	vsrv_t *g = h->data;

	/* libuv finishes closes in no promised order: free after the last */
	if (--g->closing == 0)
		free(g);
}

static void vpn_free(listener_t *l)
{
	vsrv_t *g = l->front;

	if (!g)
		return;
	metrics_unregister(metrics_fn, g);
	for (uint32_t h = 0; g->by_host && h < g->nhosts; h++)
		if (g->by_host[h])
			peer_free(g->by_host[h], "server stopping");
	for (uint32_t i = 0; g->kps && i < KP_MAX; i++)
		if (g->kps[i].state != KP_FREE)
			kp_free(g, &g->kps[i]);
	if (g->rxj)
		cpool_discard(g->pool, g->rxj);
	cpool_free(g->pool); /* its jobs go without their done */
	vpn_users_free(&g->users);
	if (g->tun)
		tun_close(g->tun);
	free(g->kps);
	free(g->by_host);
	free(g->buf);
	if (g->nonces)
		replay_free(g->nonces);
	ratelimit_free(g->src_cookies);
	ratelimit_free(g->src_hs);
	vlock_free(g->locks);
	OPENSSL_cleanse(g->fake_secret, sizeof(g->fake_secret));
	secret_wipe(&g->key, sizeof(g->key));
	l->front = NULL;
	udpsock_close(g->udp);
	free(g->run);
	g->closing = g->tick_init;
	if (g->tick_init)
		uv_close((uv_handle_t *)&g->tick, free_on_close);
	if (!g->closing)
		free(g);
}

const front_ops_t vpn_front_ops = {
    .scheme = "vpn",
    .init = vpn_init,
    .start = vpn_start,
    .stop = vpn_stop,
    .free = vpn_free,
    .adopt_check = vpn_adopt_check,
    .adopt = vpn_adopt,
    .reach = REACH_BIND,
    .gateway = 1,
};

static const transport_scheme_t vpn_schemes[] = {
    {.scheme = "vpn",
     .listen = &vpn_front_ops,
     .hop = vpn_hop_new,
     .hop_caps = HOP_STREAMS | HOP_DATAGRAMS | HOP_PACKETS | HOP_FIRST_ONLY | HOP_SESSION,
     .listen_doc = {.usage = "vpn://IP:PORT?users=FILE&net=CIDR",
                    .about = "UDP VPN server (rootless NAT, or &tun=NAME)",
                    .opts = &vpn_server_opts},
     .hop_doc = {.usage = "vpn://user:pass@HOST:PORT[?pub=KEY]",
                 .about = "through the UDP VPN, on lwIP",
                 .opts = &vpn_hop_opts,
                 .pass = 1}},
    {.scheme = "tun",
     .listen = &tun_front_ops,
     .listen_doc = {.usage = "tun://NAME", .about = "TUN device for the vpn:// hop (root)"}},
};

const transport_t vpn_transport = {
    .name = "vpn",
    .summary = "UDP VPN (docs/vpn-protocol.md)",
    TRANSPORT_SCHEMES(vpn_schemes),
};
