/* health: whether the process does its job, for orchestrators, service
 * managers and people.
 *
 * Healthy means: every listener listens, and every tunnel session that a
 * listener's connections depend on is up.  A listener depends on the hops
 * of its chain (via=, or the chain it was built with), or, when the rules
 * choose, of "default" and every chain a rule names.  A hop with a
 * session says how it is (dialer_ops_t.session, core/dial.h): SSTP, the
 * VPN and PPP hops while their session is up; an SCTP association while it
 * is up or nobody asked for it yet; a group while one member is up; a
 * WebSocket hop's pool always (/status shows it).
 *
 * On the metrics server (--metrics):
 *   GET /health   200 {"status":"ok",...}, or 503 {"status":"unhealthy",
 *                 "reason":"..."} naming the listener and the hop
 *   GET /ready    200 "ready", or 503 and why: healthy and started, not
 *                 draining
 *   GET /live     200 "live" while the loop answers
 *   GET /status   JSON: every listener (counters, limits), chain, session
 *                 (peer, address, uptime, bytes) and group;
 *                 /status?format=text the same for people
 * `sluice status` prints /status for people.
 */
#ifndef SLUICE_HEALTH_H
#define SLUICE_HEALTH_H

#include <stddef.h>

#include "core/listener.h"
#include "core/metrics.h"

/* The listeners of the process (the caller's array, read when asked;
 * set again after it changes). */
void health_listeners(listener_t **ls, size_t n);
/* 1 when healthy; else 0 and the first reason in why. */
int health_check(char *why, size_t len);
/* Started (every listener bound) or draining: /ready follows. */
void health_started(int started);
void health_draining(void);
/* The /status document, and its text for people (/status?format=text,
 * `sluice status`). */
void health_status(mbuf_t *b);
void health_status_text(mbuf_t *b);
/* Serve /ready, /live and /status, and answer /health from
 * health_check(), on the metrics server. */
void health_serve(void);

#endif
