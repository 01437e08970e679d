/* acl: see acl.h.  Lists are short; a linear scan beats anything cleverer. */
#include "core/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

int cidr_parse(const char *s, cidr_t *out)
{
	char buf[64], *slash;
	int max;
	long bits;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	bits = max;
	if (slash) {
		char *end;
		bits = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || bits < 0 || bits > max)
			return -EINVAL;
	}
	out->bits = (int)bits;
	return 0;
}

static void cidr_list_push(cidr_list_t *l, const cidr_t *c)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (!l->v)
		abort();
	l->v[l->n++] = *c;
}

int cidr_list_add(cidr_list_t *l, const char *csv, char *bad, size_t badlen)
{
	const char *p = csv;

	while (*p) {
		size_t n = strcspn(p, ", ");
		char item[64];
		cidr_t c;

		if (n) {
			snprintf(item, sizeof(item), "%.*s", (int)n, p);
			if (n >= sizeof(item) || cidr_parse(item, &c) < 0) {
				snprintf(bad, badlen, "%.*s", (int)n, p);
				return -EINVAL;
			}
			cidr_list_push(l, &c);
		}
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return 0;
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full))
		return 0;
	if (!rest)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

static int cidr_match(const cidr_t *c, const struct sockaddr *sa)
{
	const uint8_t *a;
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return c->family == AF_INET && prefix_eq(a, c->addr, c->bits);
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (c->family == AF_INET6)
		return prefix_eq(a, c->addr, c->bits);
	/* an IPv4 rule also covers the v4-mapped IPv6 form */
	return !memcmp(a, v4mapped, 12) && prefix_eq(a + 12, c->addr, c->bits);
}

int cidr_list_match(const cidr_list_t *l, const struct sockaddr *sa)
{
	for (size_t i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], sa))
			return 1;
	return 0;
}

void cidr_list_free(cidr_list_t *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int acl_permits(const acl_t *a, const struct sockaddr *sa)
{
	if (!a)
		return 1;
	if (cidr_list_match(&a->deny, sa))
		return 0;
	if (cidr_list_match(&a->guard, sa) && !cidr_list_match(&a->lift, sa))
		return 0;
	return !a->allow.n || cidr_list_match(&a->allow, sa);
}

void acl_free(acl_t *a)
{
	cidr_list_free(&a->allow);
	cidr_list_free(&a->deny);
	cidr_list_free(&a->guard);
	cidr_list_free(&a->lift);
}

/* 1 if every address of in is inside out. */
static int cidr_inside(const cidr_t *in, const cidr_t *out)
{
	return in->family == out->family && in->bits >= out->bits &&
	       prefix_eq(in->addr, out->addr, out->bits);
}

void acl_guard(acl_t *a, const char *ranges)
{
	cidr_list_t add = {0};
	char bad[64];

	cidr_list_add(&add, ranges, bad, sizeof(bad));
	for (size_t i = 0; i < add.n; i++) {
		cidr_list_push(&a->guard, &add.v[i]);
		for (size_t j = 0; j < a->allow.n; j++)
			if (cidr_inside(&a->allow.v[j], &add.v[i]))
				cidr_list_push(&a->lift, &a->allow.v[j]);
	}
	cidr_list_free(&add);
}

void sockaddr_ip(const struct sockaddr *sa, char *buf, size_t len)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
		          (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
		          (socklen_t)len);
	else if (sa->sa_family == AF_UNIX)
		snprintf(buf, len, "%s", ((const struct sockaddr_un *)sa)->sun_path);
	else
		snprintf(buf, len, "?");
}

void sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	sockaddr_ip(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip,
		         ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	else if (sa->sa_family == AF_INET)
		snprintf(buf, len, "%s:%u", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else
		snprintf(buf, len, "?");
}

int sockaddr_is_loopback(const struct sockaddr *sa)
{
	static cidr_list_t lo;
	char bad[8];

	if (!lo.n)
		cidr_list_add(&lo, "127.0.0.0/8,::1/128", bad, sizeof(bad));
	return cidr_list_match(&lo, sa);
}

void sockaddr_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else if (sa->sa_family == AF_UNIX) {
		/* a link named by its path (a serial line): 0xff then a hash of
		 * the path; ff00::/8 is multicast, never a source address */
		const char *p = ((const struct sockaddr_un *)sa)->sun_path;
		uint64_t h1 = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;

		for (; *p; p++) {
			h1 = (h1 ^ (uint8_t)*p) * 1099511628211ULL;
			h2 = (h2 ^ (uint8_t)*p) * 0xff51afd7ed558ccdULL;
		}
		key[0] = 0xff;
		memcpy(key + 1, &h1, 8);
		memcpy(key + 9, &h2, 7);
	}
}

uint64_t sockaddr_key_hash(const uint8_t key[16])
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return h;
}

int sockaddr_is_any(const struct sockaddr *sa)
{
	static const uint8_t zero[16];

	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == 0;
	return sa->sa_family == AF_INET6 &&
	       !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, zero, 16);
}

socklen_t sockaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

uint16_t sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

void sockaddr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)sa)->sin_port = htons(port);
}

int sockaddr_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		               &((const struct sockaddr_in *)b)->sin_addr, 4);
	if (a->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		               &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
	return 0;
}

int sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	return sockaddr_same_ip(a, b) && sockaddr_port(a) == sockaddr_port(b);
}

void sockaddr_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = {.sin_family = AF_INET};

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}
