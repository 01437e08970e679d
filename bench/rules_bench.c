/* bench_rules: the rule engine (src/core/route/rules.c) on a list the size
 * of the ones people feed to clash or v2ray.
 *
 *   bench_rules [N [LOOKUPS]] [--write FILE]
 *
 * Makes N rules (default 100000) shaped like such lists: 70 % suffix
 * names, 10 % exact names, 15 % IPv4 prefixes, 3 % IPv6 prefixes, a few
 * keywords and globs, then MATCH.  Writes them to a file and loads it the
 * way sluice does (rules_load_file, best of 3), then times LOOKUPS queries
 * (default 1000000): a third names under listed suffixes, a third names
 * listed nowhere, a third IPv4 literals, made beforehand (65536 of them,
 * in turn) so that only the lookups are timed.  The same queries, fewer of
 * them, through a plain first-to-last scan of the same rules give the
 * ratio.
 * With --write FILE it only writes the list (for bench/rules.sh's process
 * comparison).  Prints one markdown table.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/unit/rules_scan.h"
#include "core/route/rules.h"

#define NQ 65536

/* Each measure in CPU time (the process's: what the work costs, whoever
 * else shares the machine) and in wall time. */
typedef struct tm2 {
	double cpu, wall;
} tm2_t;

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static tm2_t now2(void)
{
	return (tm2_t){clock_s(CLOCK_PROCESS_CPUTIME_ID), clock_s(CLOCK_MONOTONIC)};
}

static tm2_t since(tm2_t t0)
{
	tm2_t t = now2();
	return (tm2_t){t.cpu - t0.cpu, t.wall - t0.wall};
}

static unsigned long long rng = 88172645463325252ull;
static unsigned rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 11);
}

static const char *const tlds[] = {"com", "net", "org", "cn", "io", "example"};

static void name_of(unsigned i, char *buf, size_t len)
{
	snprintf(buf, len, "s%x-%u.d%u.%s", i * 2654435761u, i % 97, i % 1013, tlds[i % 6]);
}

static char *make_list(size_t n, size_t *len)
{
	size_t cap = n * 64 + 1024, o = 0;
	char *t = malloc(cap), name[128];

	if (!t)
		abort();
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned k = (unsigned)(i % 100);
		name_of((unsigned)i, name, sizeof(name));
		if (k < 70)
			o += (size_t)snprintf(t + o, cap - o, "DOMAIN-SUFFIX,%s,%s\n", name,
			                      i % 3 ? "proxy" : "direct");
		else if (k < 80)
			o += (size_t)snprintf(t + o, cap - o, "DOMAIN,www.%s,proxy\n", name);
		else if (k < 95)
			o += (size_t)snprintf(
			    t + o, cap - o, "IP-CIDR,%u.%u.%u.0/%u,direct,no-resolve\n",
			    1 + rnd() % 223, rnd() % 256, rnd() % 256, 16 + rnd() % 9);
		else if (k < 98)
			o += (size_t)snprintf(t + o, cap - o, "IP-CIDR6,2001:%x:%x::/48,proxy\n",
			                      rnd() % 65536, rnd() % 65536);
		else if (i % 1000 == 98)
			o += (size_t)snprintf(t + o, cap - o, "DOMAIN-KEYWORD,kw%zu,block\n", i);
		else if (i % 1000 == 99)
			o += (size_t)snprintf(t + o, cap - o, "DOMAIN-GLOB,ad%zu?.*,block\n", i);
		else
			o += (size_t)snprintf(t + o, cap - o, "DOMAIN-SUFFIX,x%zu.%s,proxy\n", i,
			                      tlds[i % 6]);
	}
	o += (size_t)snprintf(t + o, cap - o, "MATCH,proxy\n");
	*len = o;
	return t;
}

/* ---- the queries (the plain scan: tests/unit/rules_scan.h) ---- */

static void query(size_t i, size_t nrules, char *host, size_t len, uint8_t key[16], int *lit)
{
	char name[128];

	*lit = 0;
	switch (i % 3) {
	case 0: /* under a listed suffix (every tenth index is not a suffix rule: a miss too) */
		name_of((unsigned)(rnd() % nrules), name, sizeof(name));
		snprintf(host, len, "a%u.%s", rnd() % 100, name);
		break;
	case 1:
		snprintf(host, len, "nowhere%u.unlisted%u.com", rnd(), rnd() % 1000);
		break;
	default:
		snprintf(host, len, "%u.%u.%u.%u", 1 + rnd() % 223, rnd() % 256, rnd() % 256,
		         rnd() % 256);
		memset(key, 0, 16);
		key[10] = key[11] = 0xff;
		inet_pton(AF_INET, host, key + 12);
		*lit = 1;
	}
}

int main(int argc, char **argv)
{
	size_t n = 100000, lookups = 1000000, len, scan_n;
	const char *write_to = NULL;
	char path[] = "/tmp/bench_rules.XXXXXX", err[300], host[300];
	tm2_t t0, best = {1e9, 1e9}, t_lookup, t_scan;
	unsigned long long sink = 0;
	rules_t *rs = NULL;
	rule_t *plain;
	uint8_t key[16];
	char *list, (*qs)[64];
	FILE *f;
	int fd, lit, need;

	for (int i = 1, pos = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--write") && i + 1 < argc)
			write_to = argv[++i];
		else if (pos++ == 0)
			n = strtoul(argv[i], NULL, 10);
		else
			lookups = strtoul(argv[i], NULL, 10);
	}
	list = make_list(n, &len);
	if (write_to) {
		if (!(f = fopen(write_to, "w")) || fwrite(list, 1, len, f) != len || fclose(f))
			return perror(write_to), 1;
		return 0;
	}
	if ((fd = mkstemp(path)) < 0 || write(fd, list, len) != (ssize_t)len)
		return perror(path), 1;
	close(fd);
	for (int round = 0; round < 3; round++) {
		tm2_t t;
		rules_free(rs);
		rs = rules_new();
		t0 = now2();
		if (rules_load_file(rs, path, NULL, err, sizeof(err)) < 0)
			return fprintf(stderr, "%s\n", err), 1;
		t = since(t0);
		if (t.cpu < best.cpu)
			best = t;
	}
	unlink(path);

	qs = malloc(NQ * sizeof(*qs));
	if (!qs)
		abort();
	for (size_t i = 0; i < NQ; i++)
		query(i, n, qs[i], sizeof(qs[i]), key, &lit);
	t0 = now2();
	for (size_t i = 0; i < lookups; i++)
		sink +=
		    rules_match(rs, &(route_query_t){.host = qs[i % NQ], .port = 443}, &need).index;
	t_lookup = since(t0);
	free(qs);

	plain = calloc(n, sizeof(*plain));
	for (size_t i = 0; i < n; i++)
		rules_get(rs, (uint32_t)i, &plain[i]);
	scan_n = lookups / 500 ? lookups / 500 : 1;
	rng = 88172645463325252ull;
	t0 = now2();
	for (size_t i = 0; i < scan_n; i++) {
		query(i, n, host, sizeof(host), key, &lit);
		for (size_t k = 0; k < n; k++)
			if (rules_scan_one(&plain[k], host, 443, key, lit)) {
				sink += k;
				break;
			}
	}
	t_scan = since(t0);

	printf("## rules: %zu rules (%.1f MB of text)\n\n", n, (double)len / 1e6);
	printf("| measure | CPU time | wall time |\n|---|---|---|\n");
	printf("| load (rules_load_file, best of 3) | %.0f ms | %.0f ms |\n", best.cpu * 1000,
	       best.wall * 1000);
	printf("| lookups, trie (%zu: a third each suffix names, unlisted names, IPv4) | %.2f M/s "
	       "| %.2f M/s |\n",
	       lookups, (double)lookups / t_lookup.cpu / 1e6,
	       (double)lookups / t_lookup.wall / 1e6);
	printf("| lookups, plain first-to-last scan (%zu of them) | %.0f /s | %.0f /s |\n", scan_n,
	       (double)scan_n / t_scan.cpu, (double)scan_n / t_scan.wall);
	printf("| trie / scan | %.0fx | |\n\n",
	       t_scan.cpu / (double)scan_n * (double)lookups / t_lookup.cpu);
	fprintf(stderr, "(checksum %llu)\n", sink);
	rules_free(rs);
	free(plain);
	free(list);
	return 0;
}
