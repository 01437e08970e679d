/* conn: one client connection accepted by a listener, from admission to close.
 *
 * States: HANDSHAKE (the front end reads what the client wants) -> DIALING
 * (the chain connects to the target) -> RELAY (bytes flow) -> closed.  The
 * front end drives HANDSHAKE and decides what to send the client when the
 * dial finishes; conn does the dial (target ACL, timeout, metrics, logs) and
 * the relay.  conn_close() is the one idempotent teardown: it cancels the
 * dial, closes both streams and frees the conn.
 */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include "core/dgram.h"
#include "core/dial.h"
#include "core/listener.h"
#include "core/relay.h"

typedef enum conn_state { CONN_HANDSHAKE, CONN_DIALING, CONN_RELAY, CONN_CLOSED } conn_state_t;

struct conn {
	uint64_t id;
	listener_t *l;
	conn_state_t state;
	stream_t *client;
	stream_t *up; /* after a successful dial */
	struct sockaddr_storage peer;
	char peer_str[64];
	target_t target;
	dial_t *dial;
	relay_t *relay;
	uv_timer_t *timer; /* handshake timeout */
	uint64_t t_start, t_dial;
	const dial_cred_t *cred; /* a front end's, passed to the chain by conn_dial */
	sbuf_t *held;            /* conn_auth_refuse: the refusal, sent when the timer fires */
	const char *held_why;
	void *front; /* front end's per-connection state */
	void (*front_free)(void *front);
	queue_t link; /* in l->conns */
	void (*dial_done)(conn_t *c, int err);
	dgram_t *flow;      /* conn_dgram: a datagram association */
	uint64_t t_active;  /* its last datagram either way */
	struct routing *rt; /* the routing it dials through (a reference), or NULL */
	dialer_t *chain;    /* conn_chain()'s answer, once asked */
	char why[160];      /* a dialer's reason for a failure (dial_opts_t.why), or "" */
	stream_fail_t fail; /* where the dial failed (dial_opts_t.fail) */
	/* bytes a front end passed itself before a relay, if any (the HTTP
	 * front end's exchanges): in the closing line with the relay's */
	uint64_t bytes_up, bytes_down;
	conn_t *hnext; /* conn.c's table of live conns by id */
};

uint64_t conn_next_id(void);
/* Takes ownership of client; starts the handshake timer. */
conn_t *conn_new(listener_t *l, stream_t *client, const struct sockaddr *peer);
/* Dial t; on success c->up is set, then done(c, 0); on failure done(c, err)
 * and the front end replies and closes.  The chain gets the client's
 * address and c->cred in its dial_opts_t. */
void conn_dial(conn_t *c, const target_t *t, void (*done)(conn_t *c, int err));
/* The sentence for c's failed connection to its target (dial_fail_text
 * with c's target, fail and why): for a front end's error page or reply. */
void conn_fail_text(const conn_t *c, int err, char *buf, size_t len);
/* c->up failed before any byte came back (a tunnel's fast-open answered
 * before its server reached the target): logged as the target failing
 * and counted (sluice_connections_failed_late_total); err and where from
 * the stream.  The front end then answers or closes as it can. */
void conn_late_fail(conn_t *c, int err, const stream_fail_t *f);
/* A datagram association instead of a relay (a tunnel server's UDP open,
 * a udp:// listener's session): a flow through the listener's chain with
 * its target ACL (core/dgram.h; ask chain_dgram_blocker() first to refuse
 * by name).  The conn is RELAY from now on, owns the flow (closed with
 * it; the callbacks are the front end's) and closes after idle-timeout
 * without a datagram either way: mark each with conn_dgram_touch(). */
dgram_t *conn_dgram(conn_t *c, const dgram_cbs_t *cbs, void *data);
/* A tunnel server's client asks for a datagram association: 1, with a
 * log line naming the hop (what: the protocol, for the log), when the
 * listener's chain cannot carry datagrams (the front end then refuses in
 * its protocol's words); else 0, and the association is logged. */
int conn_dgram_refused(conn_t *c, const char *what);
/* End the association (a tunnel whose next request may be another): the
 * flow is closed, the conn is HANDSHAKE again, its timer stopped. */
void conn_dgram_end(conn_t *c);
static inline void conn_dgram_touch(conn_t *c)
{
	c->t_active = uv_now(c->l->loop);
}
/* The chain c's dials and flows take: the listener's own, or (a routed
 * listener) its via= chain in the routing in force when c first asks,
 * which c holds until it closes. */
dialer_t *conn_chain(conn_t *c);
/* Relay c->client <-> c->up until either ends; then the conn closes. */
void conn_relay(conn_t *c);
void conn_close(conn_t *c, const char *reason);
/* Close once what was written to the client is out (an error reply, say):
 * takes over the client's callbacks, half-closes, waits at most 2 s. */
void conn_linger(conn_t *c, const char *reason);
void conn_set_state(conn_t *c, conn_state_t s);
const char *conn_state_name(conn_state_t s);

/* Front ends that check credentials count them with core/authguard.h
 * against the client's address:
 *   conn_auth_banned()  1 when the address is banned now: close the conn
 *                       without an answer (do not even check)
 *   conn_auth_ok()      the credentials were right
 *   conn_auth_refuse()  they were wrong: `reply` (n bytes) is sent after the
 *                       delay the guard asks for, then the conn lingers and
 *                       closes; if this failure bans the address, no reply
 *                       at all.  Meanwhile the client is not read and costs
 *                       its slot only; the delay is bounded by the guard's
 *                       max-delay.  what names the protocol for logs and
 *                       metrics; why is a static string for the close log. */
int conn_auth_banned(conn_t *c);
void conn_auth_ok(conn_t *c);
void conn_auth_refuse(conn_t *c, const char *what, const void *reply, size_t n, const char *why);
/* conn_auth_refuse in two steps, for a front end that answers a failure
 * the guard does not delay in its own way: count it (the hold the guard
 * asks for in ms, or AUTHGUARD_BANNED), then refuse with that hold. */
int64_t conn_auth_count(conn_t *c, const char *what);
void conn_auth_hold(conn_t *c, int64_t hold, const void *reply, size_t n, const char *why);
/* Stop the handshake timer (front ends that wait on the client for long). */
void conn_handshake_done(conn_t *c);
/* Restart it with another deadline (a tunnel waiting for its open). */
void conn_set_deadline(conn_t *c, uint64_t ms);

extern uint64_t conn_live; /* all listeners, for graceful shutdown */

#endif
