/* reverse_priv: what reverse.c (the shared view, connections, the
 * client's forwards) and reverse_srv.c (the server's claims, reverse=)
 * share.  Not for other modules: they use reverse.h.
 */
#ifndef SLUICE_REVERSE_PRIV_H
#define SLUICE_REVERSE_PRIV_H

#include <stdint.h>
#include <uv.h>

#include "core/dial.h"
#include "core/queue.h"
#include "core/relay.h"
#include "core/reverse.h"
#include "core/stream.h"

typedef struct rev_stat {
	queue_t link;
	const char *side;  /* "client" or "server" */
	const char *state; /* claiming claimed waiting refused */
	char name[600];    /* bind/target (client), bind (server) */
	char why[160];     /* the last refusal or loss */
	uint64_t claims, conns, active, refused, bytes_in, bytes_out;
} rev_stat_t;

typedef struct rconn {
	queue_t link;
	uint64_t conn, id, since;
	stream_t *pub;  /* server: the public connection, until the relay */
	dial_t *dial;   /* client: the local dial */
	relay_t *relay; /* then the relay */
	rev_stat_t *st; /* its owner's */
	void *owner;    /* revfwd_t or revsrv_t */
	uint64_t gen;   /* client: the claim it came through */
	char peer[64];
} rconn_t;

/* One list for /metrics and /health (its writers register on the first). */
void rev_stat_add(rev_stat_t *st);
void rev_stat_remove(rev_stat_t *st);
/* a: the side towards the public client, b: towards the target */
void rconn_relay(rconn_t *rc, uv_loop_t *loop, stream_t *a, stream_t *b, uint64_t idle_ms);
/* Close every connection of q: relays end (and free theirs), the rest
 * are closed here. */
void rconns_close(queue_t *q);

#endif
