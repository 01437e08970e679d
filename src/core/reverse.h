/* reverse: reverse forwards, a listener on the far side of a hop.
 *
 *   -R tcp://BIND:PORT/HOST:PORT    (YAML `reverse:`, SLUICE_REVERSE)
 *   -R udp://BIND:PORT/HOST:PORT
 *
 * asks the last hop of the default chain to have its server (or, for a
 * packet hop, its netstack) listen on BIND:PORT; each connection accepted
 * there comes back through the tunnel and is relayed to HOST:PORT, which
 * this host dials directly.  Like `ssh -R` and chisel's `R:`.  With udp://
 * each public peer address (IP and port) is a flow: its datagrams come
 * back through the tunnel on the claim itself, this host sends them to
 * HOST:PORT from a socket of that flow's own, and the answers go back
 * through the claim to that peer.  A flow ends after REV_UDP_IDLE_MS
 * without a datagram (each end keeps its own clock: the server's
 * reverse-udp-idle, this host's constant), and each end caps its flows
 * (the server: reverse-udp-flows per claim, new peers beyond it dropped;
 * this host: REV_UDP_FLOWS, the least recently used one closed for a new
 * one).
 *
 * Three pieces live here, so that every hop and every tunnel server shares
 * them:
 *
 *   revfwd   one -R on the client: parsed before anything listens
 *            (revfwd_parse), started on a chain (revfwd_start).  It asks
 *            the hop to claim, and claims again after a refusal or a loss
 *            with a backoff (0.5 s doubling to 30 s; a refusal waits the
 *            30 s).  For each connection the hop announces it dials the
 *            target, then asks the hop for the tunnel side (join) and
 *            relays, or tells the hop it could not (refuse), so the public
 *            side closes at once.
 *   revsrv   one claim on a tunnel server: a TCP socket on the bind address
 *            with the hosting listener's guard rails (listener_admit: spare
 *            descriptors, client ACL, rate, max-conns as a cap on the
 *            claim's connections); each accepted
 *            connection waits (paused, at most REV_PENDING_MAX per claim,
 *            REV_JOIN_MS) until the client joins it with a tunnel stream,
 *            then the two are relayed.  Closing the claim closes the socket
 *            and everything waiting: the port is free again.  A UDP claim
 *            is a UDP socket there: a datagram from a new peer passes the
 *            same guard rails (no descriptor: flows have none) and the
 *            cap on flows, then the peer's datagrams go to the client, and
 *            the client's answers go only to peers with a live flow.
 *   rev_allow  what a server's operator lets key holders claim
 *            (`reverse=` on a tunnel server): a pure parser and a check.
 *
 * Each revfwd and revsrv shows in /metrics (sluice_reverse_*) and /health
 * ("reverse": [...]), with its side (client or server), state, connections
 * and bytes.
 */
#ifndef SLUICE_REVERSE_H
#define SLUICE_REVERSE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/dial.h"
#include "core/listener.h"
#include "core/queue.h"
#include "core/sbuf.h"
#include "core/stream.h"

#define REV_PENDING_MAX 64 /* accepted connections waiting for a join, per claim */
#define REV_JOIN_MS 10000  /* how long one waits */
#define REV_ALLOW_MAX 64   /* entries of reverse= */
#define REV_CLAIMS_DEFAULT 8
#define REV_UDP_IDLE_MS 60000 /* a UDP flow without a datagram ends */
#define REV_UDP_FLOWS 256     /* UDP flows per claim */
#define REV_UDP_FLOWS_MAX 65536

/* Connections nobody will serve (a reverse server's public ones, a packet
 * hop's accepted ones): each is closed with a FIN, not a reset; what it
 * sent is read and dropped (closing a socket with unread data resets it)
 * until its peer closes too, or REV_JOIN_MS.  The owner sweeps them from
 * its timer and closes the rest when it goes. */
typedef struct rev_gone {
	queue_t q;
} rev_gone_t;
void rev_gone_init(rev_gone_t *g);
void rev_gone_add(rev_gone_t *g, stream_t *s, uint64_t now); /* takes s */
void rev_gone_sweep(rev_gone_t *g, uint64_t now);            /* those past REV_JOIN_MS */
void rev_gone_close(rev_gone_t *g);                          /* every one, now */

/* ---- the hop's side (dialer_ops_t.reverse) ---- */

typedef struct rev_claim rev_claim_t; /* the hop's own */

typedef struct rev_cbs {
	/* the server listens; bound is what it says it listens on */
	void (*claimed)(void *ud, const target_t *bound);
	/* a connection arrived there (conn: the hop's name for it, peer: the
	 * public client as text); answer with the hop's join or refuse */
	void (*accept)(void *ud, uint64_t conn, const char *peer);
	/* the claim is over: refused (UV_EACCES, why from the server) or lost
	 * (the tunnel went); the hop frees it after this returns, and calls
	 * nothing more */
	void (*ended)(void *ud, int err, const char *why);
	/* a UDP claim: a datagram from the public peer (an IP literal and a
	 * port); b is the callee's */
	void (*dgram)(void *ud, const target_t *peer, sbuf_t *b);
} rev_cbs_t;

typedef struct rev_hop_ops {
	/* ask the server to listen on bind; NULL when it cannot even start
	 * (the caller retries later) */
	rev_claim_t *(*listen)(dialer_t *d, const target_t *bind, const rev_cbs_t *cbs, void *ud);
	/* give it back: no callback after this */
	void (*release)(dialer_t *d, rev_claim_t *c);
	/* the tunnel side of an announced connection, as a stream that may be
	 * written at once; NULL when none can be had */
	stream_t *(*join)(dialer_t *d, rev_claim_t *c, uint64_t conn, uint64_t id);
	/* the target could not be reached: the server closes its side */
	void (*refuse)(dialer_t *d, rev_claim_t *c, uint64_t conn);
	/* optional: the same for a UDP port (-R udp://); NULL: the hop cannot */
	rev_claim_t *(*listen_udp)(dialer_t *d, const target_t *bind, const rev_cbs_t *cbs,
	                           void *ud);
	/* a UDP claim's answer to its public peer (b taken, even on error):
	 * 0, or a UV_E* for a datagram dropped */
	int (*send)(dialer_t *d, rev_claim_t *c, const target_t *peer, sbuf_t *b);
} rev_hop_ops_t;

/* ---- the client: one -R ---- */

typedef struct revfwd revfwd_t;

/* "tcp://BIND:PORT/HOST:PORT" or "udp://...": 0 and a new revfwd, or
 * -EINVAL and err. */
int revfwd_parse(const char *spec, revfwd_t **out, char *err, size_t errlen);
/* 0 when chain's last hop can listen for f; else -ENOTSUP and err. */
int revfwd_check(const revfwd_t *f, const dialer_t *chain, char *err, size_t errlen);
/* Claim through chain's last hop (revfwd_check first).  The chain must
 * outlive the revfwd. */
int revfwd_start(revfwd_t *f, uv_loop_t *loop, dialer_t *chain, uint64_t connect_timeout_ms,
                 char *err, size_t errlen);
/* Release the claim, close its connections, free. */
void revfwd_free(revfwd_t *f);

/* ---- the client: one SOCKS5 BIND (RFC 1928) through a hop that can
 * claim ---- *
 *
 * The last hop's server listens on a port of its reverse= allowance (a
 * claim for port 0: it picks one, and takes one connection there, then
 * stops listening).  bound(ud, addr) twice: where it listens (the first
 * reply; a wildcard address is replaced by the hop server's), then who
 * connected (the second); cb(ud, s, 0) with that connection, or cb(ud,
 * NULL, err) (UV_EACCES: refused by the server, reverse= or
 * reverse-claims), after which the revbind is gone.  Announced peers
 * other than from (an IP; else anyone) are refused.  The claim is held
 * until revbind_free: free it when the connection ends. */
typedef struct revbind revbind_t;
revbind_t *revbind_start(dialer_t *hop, const target_t *from, uint64_t id,
                         void (*bound)(void *ud, const target_t *addr), dial_cb cb, void *ud);
void revbind_free(revbind_t *b);

/* ---- the server: one claim ---- */

typedef struct revsrv revsrv_t;
struct rev_allow;

typedef struct revsrv_cbs {
	/* a public connection waits for a join: tell the client */
	void (*announce)(void *ud, uint64_t conn, const char *peer);
	/* a UDP claim: a datagram from peer for the client (b taken) */
	void (*dgram)(void *ud, const target_t *peer, sbuf_t *b);
} revsrv_cbs_t;

/* Listen on bind for a claim made through listener l (its guard rails
 * apply); owner tags it for revsrv_find.  0, or a UV_E* error. */
int revsrv_listen(listener_t *l, const void *owner, const target_t *bind, const char *who,
                  const revsrv_cbs_t *cbs, void *ud, revsrv_t **out);
/* The same on a UDP socket: flows of at most max_flows peers, each ended
 * after idle_ms without a datagram. */
int revsrv_listen_udp(listener_t *l, const void *owner, const target_t *bind, const char *who,
                      uint64_t idle_ms, uint64_t max_flows, const revsrv_cbs_t *cbs, void *ud,
                      revsrv_t **out);
/* A UDP claim: the client's answer to peer, sent only while peer has a
 * live flow: 0, or UV_ENOENT (no such flow), UV_EINVAL (not a UDP claim),
 * or the socket's error: the datagram is dropped and counted. */
int revsrv_send(revsrv_t *s, const target_t *peer, const uint8_t *p, size_t n);
/* The address it listens on. */
void revsrv_bound(const revsrv_t *s, target_t *out);
/* The claim of that owner with a waiting connection conn, or NULL. */
revsrv_t *revsrv_find(const void *owner, uint64_t conn);
/* Relay the waiting connection conn with tunnel (taken, even on error):
 * 0, or -ENOENT (it is gone: tunnel is closed). */
int revsrv_join(revsrv_t *s, uint64_t conn, stream_t *tunnel, uint64_t idle_ms);
/* The client could not reach its target: close that connection. */
void revsrv_refuse(revsrv_t *s, uint64_t conn);
/* Stop listening, close what waits and what is relayed; free. */
void revsrv_close(revsrv_t *s);
/* A claim as every tunnel server decides it: the listener draining, the
 * operator's allowance (a), the cap of claims per owner (max_claims),
 * then revsrv_listen.  0 and *out; else why (for both logs and the
 * client) and UV_EACCES (not allowed: the SOCKS5 code 2), UV_ESHUTDOWN
 * (draining) or the error of the listen. */
int revsrv_claim(listener_t *l, const void *owner, const struct rev_allow *a, uint64_t max_claims,
                 const target_t *bind, const char *who, const revsrv_cbs_t *cbs, void *ud,
                 revsrv_t **out, char *why, size_t len);
/* The same for a UDP claim (revsrv_listen_udp); port 0 is refused. */
int revsrv_claim_udp(listener_t *l, const void *owner, const struct rev_allow *a,
                     uint64_t max_claims, const target_t *bind, const char *who, uint64_t idle_ms,
                     uint64_t max_flows, const revsrv_cbs_t *cbs, void *ud, revsrv_t **out,
                     char *why, size_t len);
/* Claims live for this owner now. */
size_t revsrv_count(const void *owner);

/* ---- UDP flows: a claim's public peers, on either end ----
 * A list, least recently used first: find, add, touch (used now), end
 * one, sweep (end those idle for idle_ms), clear.  An entry may be the
 * head of the caller's own struct (add's size); gone, if given, runs for
 * each entry that ends, before it is freed.  The caller applies its caps
 * and guard rails before add; name is for the log lines. */

typedef struct rev_flow {
	queue_t link;
	struct sockaddr_storage peer;
	uint64_t id, last;
} rev_flow_t;

typedef void (*rev_flow_gone_fn)(rev_flow_t *f, void *ud);
typedef struct rev_flows {
	queue_t q;
	size_t n;
	rev_flow_gone_fn gone;
	void *ud;
} rev_flows_t;

void rev_flows_init(rev_flows_t *fl, rev_flow_gone_fn gone, void *ud);
rev_flow_t *rev_flows_find(rev_flows_t *fl, const struct sockaddr *sa);
rev_flow_t *rev_flows_add(rev_flows_t *fl, const struct sockaddr *sa, size_t size, uint64_t id,
                          uint64_t now);
void rev_flows_touch(rev_flows_t *fl, rev_flow_t *f, uint64_t now);
void rev_flows_end(rev_flows_t *fl, rev_flow_t *f, const char *name, const char *why);
void rev_flows_sweep(rev_flows_t *fl, uint64_t now, uint64_t idle_ms, const char *name);
void rev_flows_clear(rev_flows_t *fl, const char *name);

/* ---- what a server lets key holders claim ---- */

typedef struct rev_allow_ent {
	struct sockaddr_storage addr; /* ss_family 0: any address */
	uint16_t lo, hi;
} rev_allow_ent_t;

typedef struct rev_allow {
	rev_allow_ent_t v[REV_ALLOW_MAX];
	size_t n; /* 0: reverse forwards are refused */
} rev_allow_t;

/* A tunnel server's reverse=, reverse-claims=, reverse-udp-idle= and
 * reverse-udp-flows= (opts_t: OPT_INCLUDE it). */
typedef struct rev_server_opts {
	rev_allow_t allow;
	uint64_t claims;
	uint64_t udp_idle_ms, udp_flows;
} rev_server_opts_t;
extern const struct opt_schema rev_server_opts;

/* Add "[IP:]PORT[-PORT]" entries, comma-separated (IPv6 in brackets);
 * 0, or -EINVAL and err naming the bad entry. */
int rev_allow_parse(rev_allow_t *a, const char *s, char *err, size_t errlen);
/* 0 when bind (an IP literal) is allowed; else -EACCES and why. */
int rev_allow_check(const rev_allow_t *a, const target_t *bind, char *why, size_t len);

#endif
