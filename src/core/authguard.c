/* authguard: see authguard.h.
 *
 * The table is open addressing over a hash of the source key, PROBES slots
 * per key; a key not found takes the first free slot of its probe run, or
 * evicts the least valuable one (a ban outranks any count; then more
 * failures, then the more recent).  Protocol names are kept in a small fixed
 * table for the per-protocol counters; a name past its end counts as
 * "other".
 */
#include "core/authguard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/acl.h"
#include "core/log.h"
#include "core/url.h"

#define SLOTS 4096
#define PROBES 8
#define PROTOS 16

typedef struct slot {
	uint8_t key[16];
	int used;
	unsigned failures;
	uint64_t first_ms, last_ms, ban_until;
} slot_t;

typedef struct proto {
	const char *name;
	uint64_t failures, bans;
} proto_t;

static authguard_cfg_t cfg = {0, 3, 10, 250, 4000, 600000, 600000};
static slot_t *table;
static proto_t protos[PROTOS];
static int registered;

void authguard_cfg_default(authguard_cfg_t *c)
{
	*c = (authguard_cfg_t){0, 3, 10, 250, 4000, 600000, 600000};
}

static int set_err(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return -EINVAL;
}

static int parse_one(authguard_cfg_t *c, const char *k, const char *v, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		size_t off;
	} durations[] = {
	    {"delay", offsetof(authguard_cfg_t, delay_ms)},
	    {"max-delay", offsetof(authguard_cfg_t, max_delay_ms)},
	    {"window", offsetof(authguard_cfg_t, window_ms)},
	    {"ban", offsetof(authguard_cfg_t, ban_ms)},
	};
	char *end;

	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		if (strcmp(k, durations[i].key))
			continue;
		if (parse_duration_ms(v, (uint64_t *)((char *)c + durations[i].off)) < 0)
			return set_err(err, errlen, "auth-guard: %s is not a duration (10m, 250ms)",
			               k);
		return 0;
	}
	if (strcmp(k, "free") && strcmp(k, "max-failures"))
		return set_err(err, errlen,
		               "auth-guard: unknown setting '%s' (free, delay, max-delay, "
		               "max-failures, window, ban, or off)",
		               k);
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || n > 1000000)
		return set_err(err, errlen, "auth-guard: %s is not a count", k);
	if (!strcmp(k, "free"))
		c->free = (unsigned)n;
	else
		c->max_failures = (unsigned)n;
	return 0;
}

int authguard_cfg_parse(authguard_cfg_t *c, const char *spec, char *err, size_t errlen)
{
	char buf[256], *save = NULL;

	if (!strcmp(spec, "off")) {
		c->off = 1;
		return 0;
	}
	if (strlen(spec) >= sizeof(buf))
		return set_err(err, errlen, "auth-guard: %s", "setting too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	c->off = 0;
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (!eq)
			return set_err(err, errlen, "auth-guard: '%s' is not key=value", item);
		*eq = 0;
		int r = parse_one(c, item, eq + 1, err, errlen);
		if (r < 0)
			return r;
	}
	if (c->max_failures && c->max_failures <= c->free)
		return set_err(err, errlen, "auth-guard: %s must exceed free", "max-failures");
	return 0;
}

static void metrics_fn(mbuf_t *out, void *ud)
{
	authguard_metrics(out, uv_hrtime() / 1000000);
}

void authguard_configure(const authguard_cfg_t *c)
{
	cfg = *c;
	if (!registered) {
		metrics_register(metrics_fn, NULL);
		registered = 1;
	}
}

static proto_t *proto_of(const char *what)
{
	for (int i = 0; i < PROTOS - 1; i++) {
		if (!protos[i].name)
			protos[i].name = what;
		if (!strcmp(protos[i].name, what))
			return &protos[i];
	}
	protos[PROTOS - 1].name = "other";
	return &protos[PROTOS - 1];
}

/* The key of a source: IPv6 addresses by their /64. */
static uint64_t source_key(const struct sockaddr *src, uint8_t key[16])
{
	sockaddr_key(src, key);
	if (src->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)src)->sin6_addr))
		memset(key + 8, 0, 8);
	return sockaddr_key_hash(key);
}

static int banned_at(const slot_t *s, uint64_t now_ms)
{
	return s->ban_until && now_ms < s->ban_until;
}

/* Rank for eviction: lower goes first. */
static uint64_t worth(const slot_t *s, uint64_t now_ms)
{
	if (!s->used)
		return 0;
	if (banned_at(s, now_ms))
		return UINT64_MAX;
	if (now_ms - s->last_ms > cfg.window_ms)
		return 1;
	return ((uint64_t)s->failures << 40) | (s->last_ms & ((1ULL << 40) - 1));
}

static slot_t *find(const struct sockaddr *src, uint64_t now_ms, int create)
{
	uint8_t key[16];
	uint64_t h = source_key(src, key), best = UINT64_MAX;
	slot_t *victim = NULL;

	if (!table) {
		if (!create)
			return NULL;
		table = calloc(SLOTS, sizeof(*table));
		if (!table)
			abort();
	}
	for (int i = 0; i < PROBES; i++) {
		slot_t *s = &table[(h + (uint64_t)i) % SLOTS];
		if (s->used && !memcmp(s->key, key, 16))
			return s;
		uint64_t w = worth(s, now_ms);
		if (!victim || w < best) {
			victim = s;
			best = w;
		}
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, 16);
	victim->used = 1;
	return victim;
}

int authguard_banned(const struct sockaddr *src, uint64_t now_ms)
{
	slot_t *s;

	if (cfg.off)
		return 0;
	s = find(src, now_ms, 0);
	return s && banned_at(s, now_ms);
}

int64_t authguard_fail(const struct sockaddr *src, uint64_t now_ms, const char *what, uint64_t id)
{
	proto_t *p = proto_of(what);
	slot_t *s;
	char ip[64];

	p->failures++;
	if (cfg.off)
		return 0;
	s = find(src, now_ms, 1);
	if (banned_at(s, now_ms))
		return AUTHGUARD_BANNED;
	if (!s->failures || now_ms - s->first_ms > cfg.window_ms) {
		s->failures = 0;
		s->first_ms = now_ms;
		s->ban_until = 0;
	}
	s->failures++;
	s->last_ms = now_ms;
	if (cfg.max_failures && s->failures >= cfg.max_failures) {
		s->ban_until = now_ms + cfg.ban_ms;
		p->bans++;
		sockaddr_ip(src, ip, sizeof(ip));
		log_warn(id, "auth-guard: %s banned for %llu s after %u failed %s logins", ip,
		         (unsigned long long)(cfg.ban_ms / 1000), s->failures, what);
		return AUTHGUARD_BANNED;
	}
	if (s->failures <= cfg.free)
		return 0;
	unsigned shift = s->failures - cfg.free - 1;
	uint64_t d = shift >= 32 ? cfg.max_delay_ms : cfg.delay_ms << shift;
	return (int64_t)(d > cfg.max_delay_ms ? cfg.max_delay_ms : d);
}

void authguard_ok(const struct sockaddr *src)
{
	slot_t *s = find(src, 0, 0);

	if (s)
		memset(s, 0, sizeof(*s));
}

static const metric_t proto_rows[] = {
    METRIC(proto_t, failures, "sluice_auth_failures_total", "counter",
           "Failed authentications, by protocol."),
    METRIC(proto_t, bans, "sluice_auth_bans_total", "counter",
           "Sources banned after repeated failures."),
};

void authguard_metrics(mbuf_t *out, uint64_t now_ms)
{
	uint64_t banned = 0;
	char lab[64];

	for (int i = 0; i < PROTOS && protos[i].name; i++)
		METRICS_TABLE(out, proto_rows, &protos[i],
		              metrics_label(lab, sizeof(lab), "proto", protos[i].name));
	for (int i = 0; table && i < SLOTS; i++)
		banned += table[i].used && banned_at(&table[i], now_ms);
	metrics_sample(out, "sluice_auth_banned_sources", "gauge", "Sources banned now.", "",
	               banned);
}

void authguard_reset(void)
{
	free(table);
	table = NULL;
	memset(protos, 0, sizeof(protos));
}
