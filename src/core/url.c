/* url: see url.h.  A hand-written parser over a private copy of the string;
 * every returned pointer points into allocations owned by the url_t. */
#include "core/url.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void url_name_escape(char *s, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	char tmp[512];
	size_t n = 0;

	for (const char *p = s; *p && n + 1 < sizeof(tmp); p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f) {
			if (n + 4 > sizeof(tmp))
				break;
			tmp[n++] = '%';
			tmp[n++] = hex[c >> 4];
			tmp[n++] = hex[c & 15];
		} else {
			tmp[n++] = (char)c;
		}
	}
	tmp[n] = 0;
	if (cap && n >= cap) { /* cut, but not inside an escape */
		n = cap - 1;
		if (n >= 1 && tmp[n - 1] == '%')
			n -= 1;
		else if (n >= 2 && tmp[n - 2] == '%')
			n -= 2;
		tmp[n] = 0;
	}
	if (cap)
		memcpy(s, tmp, n + 1);
}

int pct_decode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%') {
			int hi = hexval((unsigned char)s[1]),
			    lo = hi < 0 ? -1 : hexval((unsigned char)s[2]);
			if (hi < 0 || lo < 0)
				return -1;
			*w++ = (char)(hi * 16 + lo);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
	return 0;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		abort();
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

static int parse_port_min(const char *s, size_t n, int *port, long min)
{
	long v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < min || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int parse_port(const char *s, size_t n, int *port)
{
	return parse_port_min(s, n, port, 1);
}

void url_free(url_t *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->nopts; i++) {
		free(u->opts[i].key);
		free(u->opts[i].val);
	}
	free(u->opts);
	free(u->raw);
	free(u->scheme);
	free(u->user);
	free(u->pass);
	free(u->host);
	free(u->path);
	free(u);
}

static int parse_query(url_t *u, const char *q, char *err, size_t errlen)
{
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', n);
		url_opt_t *o;

		if (n == 0) {
			q += 1;
			continue;
		}
		u->opts = realloc(u->opts, (u->nopts + 1) * sizeof(*u->opts));
		if (!u->opts)
			abort();
		o = &u->opts[u->nopts++];
		o->used = o->multi = 0;
		o->key = xstrndup(q, eq ? (size_t)(eq - q) : n);
		o->val = eq ? xstrndup(eq + 1, n - (size_t)(eq - q) - 1) : NULL;
		if (pct_decode(o->key) < 0 || (o->val && pct_decode(o->val) < 0))
			return fail(err, errlen, "bad %%-escape in option '%s'", o->key);
		if (!o->key[0])
			return fail(err, errlen, "option with an empty name");
		if (!o->val || !o->val[0])
			return fail(err, errlen, "option '%s' needs a value (%s=...)", o->key,
			            o->key);
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

int url_parse(const char *s, url_t **out, char *err, size_t errlen)
{
	url_t *u;
	const char *p, *sep, *auth, *auth_end, *at, *hp, *q;
	int r;

	*out = NULL;
	sep = strstr(s, "://");
	if (!sep || sep == s)
		return fail(err, errlen, "'%s' is not a URL (scheme://...)", s);
	u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	u->port = -1;
	u->raw = xstrndup(s, strlen(s));
	u->scheme = xstrndup(s, (size_t)(sep - s));
	for (char *c = u->scheme; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.') {
			r = fail(err, errlen, "bad scheme '%s'", u->scheme);
			goto bad;
		}
		*c = (char)tolower((unsigned char)*c);
	}
	auth = sep + 3;
	auth_end = auth + strcspn(auth, "/?");
	q = strchr(auth_end, '?');
	/* path: from auth_end up to '?' */
	p = auth_end;
	u->path = xstrndup(p, q ? (size_t)(q - p) : strlen(p));
	if (pct_decode(u->path) < 0) {
		r = fail(err, errlen, "bad %%-escape in path");
		goto bad;
	}
	/* userinfo: the last '@' before the end of the authority */
	at = NULL;
	for (const char *c = auth; c < auth_end; c++)
		if (*c == '@')
			at = c;
	hp = auth;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		u->user = xstrndup(auth, colon ? (size_t)(colon - auth) : (size_t)(at - auth));
		if (colon)
			u->pass = xstrndup(colon + 1, (size_t)(at - colon - 1));
		if (pct_decode(u->user) < 0 || (u->pass && pct_decode(u->pass) < 0)) {
			r = fail(err, errlen, "bad %%-escape in user or password");
			goto bad;
		}
		hp = at + 1;
	}
	/* host[:port] */
	if (*hp == '[') {
		const char *rb = memchr(hp, ']', (size_t)(auth_end - hp));
		if (!rb) {
			r = fail(err, errlen, "unterminated '[' in address");
			goto bad;
		}
		u->host = xstrndup(hp + 1, (size_t)(rb - hp - 1));
		p = rb + 1;
		if (p < auth_end && *p != ':') {
			r = fail(err, errlen, "junk after ']' in address");
			goto bad;
		}
	} else {
		const char *colon = memchr(hp, ':', (size_t)(auth_end - hp));
		u->host = xstrndup(hp, colon ? (size_t)(colon - hp) : (size_t)(auth_end - hp));
		p = colon ? colon : auth_end;
	}
	if (p < auth_end && *p == ':') {
		if (parse_port(p + 1, (size_t)(auth_end - p - 1), &u->port) < 0) {
			r = fail(err, errlen, "bad port '%.*s' (1-65535)", (int)(auth_end - p - 1),
			         p + 1);
			goto bad;
		}
	}
	for (char *c = u->host; *c; c++)
		if (isspace((unsigned char)*c) || *c == '%' || *c == '@') {
			r = fail(err, errlen, "bad host '%s'", u->host);
			goto bad;
		}
	if (q && (r = parse_query(u, q + 1, err, errlen)) < 0)
		goto bad;
	*out = u;
	return 0;
bad:
	url_free(u);
	return r;
}

static url_opt_t *find(url_t *u, const char *key)
{
	for (size_t i = 0; i < u->nopts; i++)
		if (!strcmp(u->opts[i].key, key)) {
			u->opts[i].used = 1;
			return &u->opts[i];
		}
	return NULL;
}

int url_opt_given(const url_t *u, const char *key)
{
	for (size_t i = 0; i < u->nopts; i++)
		if (!strcmp(u->opts[i].key, key))
			return 1;
	return 0;
}

int url_opt_str(url_t *u, const char *key, const char **out)
{
	url_opt_t *o = find(u, key);

	if (!o)
		return 0;
	*out = o->val;
	return 1;
}

int url_opt_uint(url_t *u, const char *key, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	url_opt_t *o = find(u, key);
	char *end;
	unsigned long long v;

	if (!o)
		return 0;
	errno = 0;
	v = strtoull(o->val, &end, 10);
	if (errno || *end || !isdigit((unsigned char)o->val[0]) || v > max)
		return fail(err, errlen, "option '%s': '%s' is not a number from 0 to %llu", key,
		            o->val, (unsigned long long)max);
	*out = v;
	return 1;
}

int url_opt_bool(url_t *u, const char *key, int *out, char *err, size_t errlen)
{
	url_opt_t *o = find(u, key);

	if (!o)
		return 0;
	if (!strcmp(o->val, "1") || !strcmp(o->val, "true") || !strcmp(o->val, "yes") ||
	    !strcmp(o->val, "on"))
		*out = 1;
	else if (!strcmp(o->val, "0") || !strcmp(o->val, "false") || !strcmp(o->val, "no") ||
	         !strcmp(o->val, "off"))
		*out = 0;
	else
		return fail(err, errlen, "option '%s': '%s' is not 1/0/true/false", key, o->val);
	return 1;
}

int parse_duration_ms(const char *s, uint64_t *ms)
{
	char *end;
	double v;

	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	v = strtod(s, &end);
	if (errno || v < 0)
		return -1;
	if (!*end || !strcmp(end, "s"))
		v *= 1000;
	else if (!strcmp(end, "ms"))
		;
	else if (!strcmp(end, "m"))
		v *= 60000;
	else if (!strcmp(end, "h"))
		v *= 3600000;
	else
		return -1;
	if (v > 1e15)
		return -1;
	*ms = (uint64_t)v;
	return 0;
}

int url_opt_duration(url_t *u, const char *key, uint64_t *ms, char *err, size_t errlen)
{
	url_opt_t *o = find(u, key);

	if (!o)
		return 0;
	if (parse_duration_ms(o->val, ms) < 0)
		return fail(err, errlen, "option '%s': '%s' is not a duration (30, 500ms, 10s, 2m)",
		            key, o->val);
	return 1;
}

int url_opt_each(url_t *u, const char *key, int (*fn)(void *ud, const char *val), void *ud)
{
	int n = 0, r;

	for (size_t i = 0; i < u->nopts; i++) {
		if (strcmp(u->opts[i].key, key))
			continue;
		u->opts[i].used = u->opts[i].multi = 1;
		if ((r = fn(ud, u->opts[i].val)) < 0)
			return r;
		n++;
	}
	return n;
}

int url_check_opts(const url_t *u, char *err, size_t errlen)
{
	for (size_t i = 0; i < u->nopts; i++) {
		for (size_t j = 0; j < i && !u->opts[i].multi; j++)
			if (!strcmp(u->opts[j].key, u->opts[i].key))
				return fail(err, errlen, "option '%s' given twice", u->opts[i].key);
		if (!u->opts[i].used)
			return fail(err, errlen, "unknown option '%s' for %s://", u->opts[i].key,
			            u->scheme);
	}
	return 0;
}

static int split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, long min_port)
{
	const char *colon, *h = s;
	size_t hl;
	int p;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (memchr(s, ':', hl))
			return -EINVAL; /* bare IPv6 needs brackets */
	}
	if (hl == 0 || hl >= hostlen ||
	    parse_port_min(colon + 1, strlen(colon + 1), &p, min_port) < 0)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (uint16_t)p;
	return 0;
}

int hostport_parse(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	return split_hostport(s, host, hostlen, port, 1);
}

int hostport_parse_any(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	return split_hostport(s, host, hostlen, port, 0);
}
