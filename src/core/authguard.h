/* authguard: brute-force protection wherever a secret is checked.
 *
 * Every failed authentication (a PPP password, SOCKS or HTTP proxy
 * credentials, a VPN login, a wrong tunnel key) is counted against the
 * source address it came from (an IPv6 source by its /64, which one host
 * usually owns whole).  The first `free` failures cost nothing; each further
 * one is refused only after a delay that doubles from `delay` up to
 * `max-delay`; at `max-failures` within `window` the source is banned for
 * `ban`: it gets no answer at all, one log line says so, and a metric counts
 * it.  (The WebSocket tunnel servers take only the counting and the ban
 * from here: their answer is the decoy's, never held nor dropped.)  A success clears the source's
 * count; failures older than `window` are forgotten.
 *
 * Only a source is ever blocked, never a user name: an attacker guessing
 * alice's password from one address does not lock alice out at another.
 *
 * One table per process, shared by every listener, with a fixed number of
 * slots: when it is full the slot least worth keeping (not banned, fewest
 * failures, oldest) is reused, so memory is bounded whatever the number of
 * sources.  Loop thread only.
 *
 * Settings (`auth-guard` in YAML, --auth-guard, SLUICE_AUTH_GUARD), a list
 * of key=value separated by commas, or "off":
 *
 *   free=3  delay=250ms  max-delay=4s  max-failures=10  window=10m  ban=10m
 */
#ifndef SLUICE_AUTHGUARD_H
#define SLUICE_AUTHGUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/metrics.h"

typedef struct authguard_cfg {
	int off;
	unsigned free, max_failures;
	uint64_t delay_ms, max_delay_ms, window_ms, ban_ms;
} authguard_cfg_t;

#define AUTHGUARD_BANNED (-1)

/* The defaults above. */
void authguard_cfg_default(authguard_cfg_t *c);
/* Parse "free=3,ban=10m" (keys as above) or "off" onto c; -EINVAL with a
 * message naming the bad key or value. */
int authguard_cfg_parse(authguard_cfg_t *c, const char *spec, char *err, size_t errlen);
/* Replace the process's settings (the table keeps its counts). */
void authguard_configure(const authguard_cfg_t *c);

/* 1 when src is banned at now_ms: drop the attempt without an answer. */
int authguard_banned(const struct sockaddr *src, uint64_t now_ms);
/* A failed authentication from src (`what` names the protocol for the log,
 * id the connection or session).  Returns how long (ms) to hold the refusal
 * before answering, or AUTHGUARD_BANNED when src is banned from now on. */
int64_t authguard_fail(const struct sockaddr *src, uint64_t now_ms, const char *what, uint64_t id);
/* A successful authentication from src: its failures are forgotten. */
void authguard_ok(const struct sockaddr *src);

/* /metrics lines: failures and bans by protocol, sources banned now. */
void authguard_metrics(mbuf_t *out, uint64_t now_ms);
/* Forget everything (tests, and the end of the process). */
void authguard_reset(void);

#endif
