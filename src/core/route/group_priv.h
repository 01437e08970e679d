/* group_priv: the group's own structures, shared by group.c (dials,
 * tries, the retrying stream, datagrams, building) and group_health.c
 * (the members' health, probes, metrics).  Not for other modules: they
 * use group.h.
 */
#ifndef SLUICE_GROUP_PRIV_H
#define SLUICE_GROUP_PRIV_H

#include <stdint.h>
#include <uv.h>

#include "core/dial.h"
#include "core/queue.h"
#include "core/route/group.h"

typedef struct group group_t;

typedef struct gmember {
	group_t *g;
	unsigned i;
	dialer_t *hop;
	dialer_t watch; /* hop->next */
	dialer_ops_t wops;
	char name[160];
	int up;
	uint64_t fails_row, failures, dials, server_fails;
	uint64_t probes_ok, probes_failed;
	double rtt_ms; /* moving average of handshake times; < 0: none yet */
	uint64_t backoff_ms, probe_t0;
	uv_timer_t *timer; /* the next probe, or the running probe's deadline */
	dial_t *probe;
	int probe_kind;
} gmember_t;

enum { PROBE_OP, PROBE_TARGET, PROBE_SERVER };

struct group {
	dialer_t d; /* first: the dialer is the group */
	dialer_ops_t ops;
	char name[64], chain[64];
	group_cfg_t cfg;
	target_t probe_target;
	gmember_t *m;
	size_t n, rr;
	uint64_t refused;    /* dials failed at once: every member down */
	int probe_to_target; /* probe-target= given: probe_target */
	queue_t link;        /* in groups */
	int started;
};

uint64_t group_now_ms(group_t *g);
/* A dial, flow or probe through m went through: it is up again. */
void member_up(gmember_t *m, const char *how);
/* One failure more; cfg.fails of them in a row put m down until a probe
 * succeeds. */
void member_failed(gmember_t *m, int err, const char *how);
/* The member failed (not the target): its server dial failed during the
 * attempt (server_fails moved from sf0), or the tunnel broke. */
int member_fault(const gmember_t *m, uint64_t sf0, int err);
/* The next probe of m in ms (not while one runs); cancel the running one. */
void probe_later(gmember_t *m, uint64_t ms);
void probe_cancel(gmember_t *m);
/* A group is shown in /metrics and /health from add to remove. */
void group_watch_add(group_t *g);
void group_watch_remove(group_t *g);

#endif
