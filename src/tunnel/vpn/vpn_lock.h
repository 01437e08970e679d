/* vpn_lock: failed VPN logins per (user name, source address), with backoff.
 *
 * A pair gets VLOCK_FREE failed logins, then is refused for 1 s, doubling
 * with every further failure up to VLOCK_MAX_MS; a success, or
 * VLOCK_FORGET_MS without a failure, clears it.  The key is the pair, never
 * the name alone: an attacker at one address cannot lock a user out at
 * another (core/authguard counts per address, across users and services).
 * Any name counts, whether the user exists or not, so a lock tells nothing
 * about which names exist.
 *
 * A source is an IPv4 address or an IPv6 /64 (what one host commonly
 * holds); the port never counts.  The table is fixed (open addressing,
 * VLOCK_PROBES slots per key); when a key's slots are all taken, the entry
 * that would be free soonest gives way, so a flood of fresh pairs does not
 * cheaply flush a locked one.  Pure: no I/O, the caller gives the time.
 */
#ifndef SLUICE_VPN_LOCK_H
#define SLUICE_VPN_LOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define VLOCK_FREE 3                     /* failures before the first refusal */
#define VLOCK_BASE_MS 1000               /* the first refusal; doubles */
#define VLOCK_MAX_MS (5 * 60 * 1000)     /* the longest */
#define VLOCK_FORGET_MS (15 * 60 * 1000) /* a pair quiet this long starts over */
#define VLOCK_PROBES 8

typedef struct vlock vlock_t;

/* The source of sa (port dropped, IPv6 cut to its /64), as a sockaddr for
 * keyed tables (core/ratelimit) and as 16 bytes (IPv4 mapped to IPv6). */
void vpn_source(const struct sockaddr *sa, struct sockaddr_storage *out, uint8_t key[16]);

vlock_t *vlock_new(size_t slots);
void vlock_free(vlock_t *t);
/* ms the pair is still refused; 0: it may log in */
uint64_t vlock_left(vlock_t *t, const char *user, const struct sockaddr *src, uint64_t now_ms);
/* Counts a failure; the refusal it starts (ms), 0 while failures are free. */
uint64_t vlock_fail(vlock_t *t, const char *user, const struct sockaddr *src, uint64_t now_ms);
void vlock_ok(vlock_t *t, const char *user, const struct sockaddr *src);

#endif
