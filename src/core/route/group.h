/* group: one position of a chain held by several alternative hops (ws
 * servers, SOCKS proxies, ...), with health checks and failover.
 *
 *     -F socks5://a  -F group://tunnels          tunnels: ws://x, ws://y
 *
 *     group(tunnels) --> member ws://x --+
 *                    --> member ws://y --+--> next (socks5://a --> direct)
 *
 * A group is a dialer.  Each dial picks a member by the strategy, among
 * the members that are up: `failover` the first in order, `round-robin`
 * the next in turn, `lowest-latency` the one whose handshakes were
 * fastest.  When every member is down a dial fails at once
 * (UV_EHOSTUNREACH: SOCKS reply 4, HTTP 502) with a reason that names the
 * group, instead of waiting for timeouts.
 *
 * Health, a circuit breaker per member:
 *   - real use: a dial through the member that fails because the member
 *     failed (its server could not be reached, the tunnel broke, or no
 *     answer within try-timeout) counts; `fails` of them in a row take the
 *     member down.  A failure that the member reports about the target
 *     (the target refused) is the target's, not the member's.
 *   - probes: every probe-interval each member does its handshake with its
 *     server (the hop's probe op: a WebSocket upgrade with the key; for a
 *     hop without one, a connection to its server through the chain; or,
 *     with probe-target=HOST:PORT, a connection to that target through the
 *     member).  A member that is down is skipped by dials and probed again
 *     after 1 s, 2 s, 4 s... up to probe-interval; the first probe that
 *     succeeds brings it back.
 * How a member failure is told from a target's: each member reaches its
 * server through a watch on the hop before it, which counts that hop's
 * failed dials; an attempt during which the count rose, or that ends in
 * a broken tunnel (UV_ECONNRESET, UV_EOF, UV_EPIPE, UV_EPROTO...), is the
 * member's.
 *
 * Retry: a dial whose member fails is tried on the next member.  So is a
 * connection that breaks before any byte came back from the target (a
 * fast-open tunnel reports a dead server only then): the group hands the
 * caller a stream that keeps a copy of what the client wrote (at most
 * GROUP_REPLAY_MAX bytes) until the first byte comes back, and on a
 * member failure before that byte dials the next member and writes the
 * copy again.  Nothing reached the client from the target, so nothing is
 * seen twice by the client; the target may see the first request twice
 * if the failed member had already passed it on.
 *
 * Metrics per member (sluice_group_member_up, _latency_seconds,
 * _failures_total, _dials_total, _probes_total) and the /health JSON
 * ("groups") come from group_health() and the metrics writer each group
 * registers.
 */
#ifndef SLUICE_GROUP_H
#define SLUICE_GROUP_H

#include "core/dial.h"
#include "core/metrics.h"
#include "core/opts.h"
#include "core/url.h"

#define GROUP_MEMBERS_MAX 32
#define GROUP_REPLAY_MAX STREAM_HIGH_WATER

typedef enum group_strategy {
	GROUP_FAILOVER,
	GROUP_ROUND_ROBIN,
	GROUP_LOWEST_LATENCY,
} group_strategy_t;

/* A group's options, from its schema (group_opts). */
typedef struct group_cfg {
	int strategy;
	uint64_t probe_ms, probe_timeout_ms, try_timeout_ms, fails;
	const char *probe_target;
} group_cfg_t;

extern const opt_schema_t group_opts;

/* Build a group hop on next from u ("group://NAME?OPTIONS": its options
 * through group_opts) and its members' URLs, each one hop.  chain names
 * the chain it stands in, for metrics.  On failure next is untouched. */
int group_new(uv_loop_t *loop, url_t *u, url_t **members, size_t n, dialer_t *next,
              const char *chain, dialer_t **out, char *err, size_t errlen);
/* Start the probes (once the loop runs). */
void group_start(dialer_t *g);
/* Every group's members as JSON objects for /health, comma-separated;
 * *all_down is set to 1 when some group has no member up. */
void group_health(mbuf_t *b, int *all_down);

#endif
