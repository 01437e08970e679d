/* routing_priv: the routing's own structures, shared by routing.c (the
 * building, the routing in force, the metrics) and router.c (the router
 * dialer's dials and datagram flows).  Not for other modules: they use
 * routing.h.
 */
#ifndef SLUICE_ROUTING_PRIV_H
#define SLUICE_ROUTING_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/dial.h"
#include "core/route/routing.h"
#include "core/url.h"

/* A chain's dialers and what they were built from, shared by the
 * routings built from the same definition (a reload keeps them, and with
 * them their tunnel sessions). */
typedef struct cown {
	int refs;
	dialer_t *head;
	char *key;    /* the definition: chain_key() */
	url_t **urls; /* some hops keep pointers into them */
	size_t nurls;
	dialer_t **groups;
	size_t ngroups;
	int started;
} cown_t;

typedef struct rchain {
	char name[64];
	dialer_t *head;
	char hops[512]; /* for sluice check */
	cown_t *own;
} rchain_t;

struct routing {
	int refs;
	uv_loop_t *loop;
	rchain_t *chains; /* [0] is "default" */
	size_t nchains;
	dialer_t *direct;
	rules_t *rules;
	dialer_t **act;  /* per action of the rules: its chain (NULL: block) */
	uint64_t *count; /* decisions per action, and [nact] for "no rule" */
	size_t nact;
	dialer_t router;
	int started;
};

/* router.c: the ops of routing_t.router */
extern const dialer_ops_t router_ops;

#endif
