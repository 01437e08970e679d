/* dgram: a datagram flow, the UDP counterpart of a stream, through the same
 * chain of hops.
 *
 * A flow is what a UDP association is to a SOCKS5 client: one local
 * endpoint that sends datagrams to any destination and gets replies from
 * the destinations it sent to.  Each datagram names its destination (a
 * name or an IP literal, resolved at the far end like a stream's target);
 * each reply names its source (an address).  So one flow serves a SOCKS5
 * UDP ASSOCIATE, a `udp://` forward's client session or a `dns://`
 * listener's upstream alike.
 *
 *     owner                          flow (one per hop, nested)
 *     -----                          ----
 *     dgram_open(chain, ...) -----> held until the chain has it up
 *     dgram_send(f, dst, b)  -----> the hop's own framing, or a UDP socket
 *     cbs->on_recv(f, src, b) <---- a reply
 *     cbs->on_error(f, err)   <---- the flow is dead (tunnel lost)
 *     dgram_close(f)
 *
 * Datagram semantics everywhere: nothing waits for room.  A send that
 * finds the flow's queue full (the tunnel's write queue above
 * DGRAM_QUEUE_MAX, a UDP socket that will not take it now, a name still
 * resolving with too many others) drops the datagram and counts it
 * (dgram_drop); the flow goes on.  Malformed input and datagrams to or
 * from a refused address are dropped and counted the same way: only a
 * dead transport ends a flow.
 *
 * The contract, as for streams (core/stream.h):
 *   send     takes ownership of b, even on error; returns 0 (sent, queued,
 *            or dropped and counted) or a negative UV_E* for a datagram
 *            refused at once (UV_EMSGSIZE, UV_EACCES); never an error of
 *            the flow itself, which comes as on_error.
 *   recv     cbs->on_recv(f, src, b): ownership of b moves; src is valid
 *            during the call.  It runs from the implementation's own
 *            callbacks (a socket's, a tunnel's); the owner may send or
 *            close from inside it.
 *   error    cbs->on_error(f, err) at most once; nothing follows it; the
 *            owner must close.
 *   close    once (the flow may be freed before it returns; close(NULL)
 *            is fine); no callback afterwards.
 * No op ever calls a callback of the same flow from inside itself.
 *
 * Hops.  A dialer carries datagrams when its ops have .dgram (dial.h);
 * without it, a chain that contains it cannot carry datagrams, and whoever
 * asked gets UV_ENOTSUP and the hop's name (chain_dgram_blocker), never a
 * path around the tunnel.  Most hops carry a flow inside a stream or a
 * session of their own (ws, wstan, sctp, the lwIP endpoint of sstp, ppp
 * and vpn) and need only streams from the hops before them; a hop whose
 * datagrams travel as datagrams to its server (socks5's UDP ASSOCIATE)
 * sets HOP_DGRAM_NEXT, and then the hop before it must carry datagrams
 * too.  The direct dialer's flow is this host's UDP sockets: it resolves
 * names, checks every datagram's resolved destination against the
 * caller's target ACL (dial_opts_t.acl) and accepts replies only from
 * addresses the flow sent to (a restricted-cone NAT).  A hop's flow
 * implementation:
 *
 *   dial_t *my_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud);
 *       open asynchronously; cb(ud, flow, 0) once datagrams can go, or
 *       cb(ud, NULL, err); never before it returns.  The flow's
 *       destinations are per datagram, so the open names none.
 *   void my_dgram_cancel(dialer_t *d, dial_t *req);   cb will not run
 *
 * and a dgram_ops_t for the flow it returns (dgram_init() fills the
 * common part).  A hop over the lwIP endpoint sends from one UDP pcb per
 * flow and resolves names inside the tunnel; a hop whose tunnel session
 * learns name servers (IPCP, a VPN's configuration) also sets
 * .dns_servers, which `dns://` listeners ask (chain_dns_servers).
 *
 * Routing (rules choosing a chain per destination) fits the same shape:
 * a router is a dialer whose dgram op returns a flow that opens one inner
 * flow per chain its rules pick, lazily, on the first datagram to a
 * destination mapped there, and sends each datagram on its rule's flow;
 * replies from every inner flow come out of the one outer flow.
 */
#ifndef SLUICE_DGRAM_H
#define SLUICE_DGRAM_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/dial.h"
#include "core/sbuf.h"

#define DGRAM_MAX 65507               /* largest UDP payload carried */
#define DGRAM_QUEUE_MAX (256 * 1024)  /* bytes a flow may have queued on its transport */
#define DGRAM_HOLD_MAX 64             /* datagrams held while a flow opens */
#define DGRAM_HOLD_BYTES (128 * 1024) /* and their bytes */
#define DGRAM_HEADROOM 320            /* room in front of a payload for headers */

/* Why a datagram was dropped (metrics label, counters). */
typedef enum dgram_drop_why {
	DGRAM_DROP_QUEUE,    /* the transport's queue, or the held queue, was full */
	DGRAM_DROP_REFUSED,  /* target (or source) refused by the ACL */
	DGRAM_DROP_RESOLVE,  /* the name did not resolve, or too many resolving */
	DGRAM_DROP_BAD,      /* malformed (a header that does not parse, a fragment) */
	DGRAM_DROP_SIZE,     /* larger than DGRAM_MAX or the transport allows */
	DGRAM_DROP_STRANGER, /* a reply from an address the flow never sent to */
	DGRAM_DROP_SEND,     /* the socket refused it (unreachable, ...) */
	DGRAM_DROP_N
} dgram_drop_why_t;

typedef struct dgram_cbs {
	void (*on_recv)(dgram_t *f, const struct sockaddr *src, sbuf_t *b);
	void (*on_error)(dgram_t *f, int err);
	/* optional, dgram_open() only: the chain has the flow up; sends before
	 * this were held (DGRAM_HOLD_MAX) */
	void (*on_ready)(dgram_t *f);
} dgram_cbs_t;

typedef struct dgram_ops {
	const char *name;
	int (*send)(dgram_t *f, const target_t *dst, sbuf_t *b);
	void (*close)(dgram_t *f);
} dgram_ops_t;

struct dgram {
	const dgram_ops_t *ops;
	const dgram_cbs_t *cbs;
	void *data; /* the owner's */
	uint64_t id;
	uint64_t sent, recvd, dropped; /* datagrams, this flow's own */
	dgram_t *inner;                /* the flow this one sends on, if it wraps one (counters) */
	unsigned closed : 1;
};

void dgram_init(dgram_t *f, const dgram_ops_t *ops, uint64_t id);
static inline void dgram_set_cbs(dgram_t *f, const dgram_cbs_t *cbs, void *data)
{
	f->cbs = cbs;
	f->data = data;
}
static inline int dgram_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	return f->ops->send(f, dst, b);
}
static inline void dgram_close(dgram_t *f)
{
	if (f && !f->closed) {
		f->closed = 1;
		f->ops->close(f);
	}
}
/* For implementations: hand a reply to the owner (counts it), report the
 * flow's death (once), count a drop (and free b if given). */
void dgram_deliver(dgram_t *f, const struct sockaddr *src, sbuf_t *b);
void dgram_fail(dgram_t *f, int err);
void dgram_drop(dgram_t *f, dgram_drop_why_t why, sbuf_t *b);
const char *dgram_drop_name(dgram_drop_why_t why);
/* The reason for a send that failed with err: UV_ENOBUFS/UV_EAGAIN queue,
 * UV_EMSGSIZE size, UV_EACCES refused, anything else send. */
dgram_drop_why_t dgram_drop_why(int err);
/* Drops of f and of the flows it wraps. */
uint64_t dgram_dropped(const dgram_t *f);
/* Process-wide drop counters, for metrics and tests. */
extern uint64_t dgram_drops[DGRAM_DROP_N];

/* A chunk for one datagram of n bytes with DGRAM_HEADROOM in front. */
sbuf_t *dgram_buf(const void *p, size_t n);

/* ---- owners ---- */

/* Open a flow through chain (its last hop first, as for dial_start).  The
 * flow is returned at once; datagrams sent before cbs->on_ready are held
 * (bounded) and go once the chain has it up; a failure to open, or a
 * timeout (timeout_ms, 0: none), comes as on_error.  A chain that cannot
 * carry datagrams fails with UV_ENOTSUP: ask chain_dgram_blocker() first
 * to name the hop.  o is copied. */
dgram_t *dgram_open(dialer_t *chain, const dial_opts_t *o, uint64_t timeout_ms,
                    const dgram_cbs_t *cbs, void *data);

/* The hop of chain that stops datagrams (it has no .dgram, or it needs
 * them from the hop before it, which has none), or NULL if the chain
 * carries them. */
const dialer_t *chain_dgram_blocker(const dialer_t *chain);
/* For a listener that cannot work without datagrams (what: "dns://"):
 * -EINVAL and "the hop H cannot carry UDP: WHAT needs a chain that does
 * (nothing is sent around it)" when a hop stops them, else 0. */
int chain_dgram_require(const dialer_t *chain, const char *what, char *err, size_t errlen);
/* "http://127.0.0.1:3128" for logs: the hop's scheme and server. */
void dialer_name(const dialer_t *d, char *buf, size_t len);
/* The name servers the chain's tunnel gave (its last hop's session):
 * fills up to max addresses (port 53 unless the session said otherwise)
 * and returns how many; 0 when the session has none (yet); UV_ENOTSUP
 * when the hop has no session that could give any. */
int chain_dns_servers(const dialer_t *chain, struct sockaddr_storage *out, size_t max);

/* ---- hops ---- */

/* A hop's flow over the hop before it (like dial_next: the target ACL and
 * the credentials are for the final hop only). */
dgram_t *dgram_open_next(dialer_t *d, const dial_opts_t *o, const dgram_cbs_t *cbs, void *data);

/* For a hop whose flow is ready at once: cb(ud, f, 0) on a later turn.
 * The request, for the hop's dgram_cancel: dgram_ready_cancel() closes f. */
dial_t *dgram_ready_soon(uv_loop_t *loop, dgram_t *f, dgram_cb cb, void *ud);
void dgram_ready_cancel(dial_t *req);

/* The addresses a flow sent to, the last DGRAM_PEERS of them: replies are
 * taken only from these (a restricted-cone NAT, not an open port). */
#define DGRAM_PEERS 32
typedef struct dgram_peers {
	struct sockaddr_storage a[DGRAM_PEERS];
	unsigned n, next;
} dgram_peers_t;
int dgram_peers_has(const dgram_peers_t *p, const struct sockaddr *sa);
void dgram_peers_add(dgram_peers_t *p, const struct sockaddr *sa);

/* Datagrams held while something opens: a FIFO of (destination, chunk)
 * with a cap on count and bytes; over the cap a push drops the datagram. */
typedef struct dgram_held dgram_held_t;
typedef struct dgram_hq {
	dgram_held_t *head, *tail;
	size_t n, bytes;
} dgram_hq_t;
/* 0, or UV_ENOBUFS when over the cap (b is freed). */
int dgram_hq_push(dgram_hq_t *q, const target_t *dst, sbuf_t *b);
/* The oldest (its chunk's ownership moves to the caller), 0 if empty. */
int dgram_hq_pop(dgram_hq_t *q, target_t *dst, sbuf_t **b);
void dgram_hq_clear(dgram_hq_t *q);

#endif
