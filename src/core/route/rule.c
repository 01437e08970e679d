/* rule: one rule line read (rule_parse) and written back (rule_format),
 * see rule.h for the syntax.  Pure: no I/O, no allocation. */
#include "core/route/rule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"

static const struct {
	const char *word;
	rule_type_t type;
} type_words[] = {
    {"domain", RULE_DOMAIN},
    {"full", RULE_DOMAIN},
    {"domain-suffix", RULE_SUFFIX},
    {"suffix", RULE_SUFFIX},
    {"domain-glob", RULE_GLOB},
    {"domain-wildcard", RULE_GLOB},
    {"glob", RULE_GLOB},
    {"domain-keyword", RULE_KEYWORD},
    {"keyword", RULE_KEYWORD},
    {"ip-cidr", RULE_CIDR},
    {"ip-cidr6", RULE_CIDR},
    {"cidr", RULE_CIDR},
    {"src-ip-cidr", RULE_CLIENT},
    {"client", RULE_CLIENT},
    {"dst-port", RULE_PORT},
    {"port", RULE_PORT},
    {"network", RULE_NETWORK},
    {"match", RULE_MATCH},
    {"final", RULE_MATCH},
};

static const char *const type_names[RULE_NTYPES] = {
    "DOMAIN",      "DOMAIN-SUFFIX", "DOMAIN-GLOB", "DOMAIN-KEYWORD", "IP-CIDR",
    "SRC-IP-CIDR", "DST-PORT",      "NETWORK",     "MATCH",
};

const char *rule_type_name(rule_type_t t)
{
	return t < RULE_NTYPES ? type_names[t] : "?";
}

static int fail(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return -EINVAL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The fields of a line, split at commas, each trimmed. */
#define RULE_FIELDS 5
typedef struct field {
	const char *p;
	size_t n;
} field_t;

static size_t split(const char *s, size_t len, field_t *f, size_t max)
{
	size_t nf = 0, i = 0;

	while (nf < max) {
		size_t start = i, end;
		while (i < len && s[i] != ',')
			i++;
		end = i;
		while (start < end && is_space(s[start]))
			start++;
		while (end > start && is_space(s[end - 1]))
			end--;
		f[nf].p = s + start;
		f[nf].n = end - start;
		nf++;
		if (i >= len)
			return nf;
		i++; /* the comma */
	}
	return nf + 1; /* more than max */
}

static int field_is(const field_t *f, const char *w)
{
	return strlen(w) == f->n && !strncasecmp(f->p, w, f->n);
}

static int copy_field(const field_t *f, char *out, size_t cap)
{
	if (f->n >= cap)
		return -1;
	memcpy(out, f->p, f->n);
	out[f->n] = 0;
	return 0;
}

/* A name as rules hold it: lower case, no trailing dot; letters, digits,
 * '-', '_' and dots between non-empty labels of at most 63; globs may
 * hold '*' and '?' too. */
static int name_norm(const field_t *f, int glob, char *out, char *err, size_t errlen)
{
	size_t n = f->n, label = 0;

	if (n && f->p[n - 1] == '.')
		n--;
	if (!n)
		return fail(err, errlen, "%s", "an empty name");
	if (n > RULE_NAME_MAX)
		return fail(err, errlen, "%s", "a name longer than 253 characters");
	for (size_t i = 0; i < n; i++) {
		char c = f->p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (!label) {
				snprintf(err, errlen, "'%.*s': an empty label", (int)f->n, f->p);
				return -EINVAL;
			}
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		           c == '_' || (glob && (c == '*' || c == '?'))) {
			if (++label > 63 && !glob)
				return fail(err, errlen, "%s", "a label longer than 63 characters");
		} else {
			snprintf(err, errlen, "'%.*s': '%c' cannot be in a name", (int)f->n, f->p,
			         c >= ' ' && c < 0x7f ? c : '?');
			return -EINVAL;
		}
		out[i] = c;
	}
	out[n] = 0;
	return 0;
}

/* A keyword: a piece of a name (dots anywhere), lower case. */
static int keyword_norm(const field_t *f, char *out, char *err, size_t errlen)
{
	if (!f->n || f->n > RULE_NAME_MAX)
		return fail(err, errlen, "%s", "a keyword must have 1 to 253 characters");
	for (size_t i = 0; i < f->n; i++) {
		char c = f->p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.')) {
			snprintf(err, errlen, "keyword '%.*s': '%c' cannot be in a name",
			         (int)(f->n > 60 ? 60 : f->n), f->p,
			         c >= ' ' && c < 0x7f ? c : '?');
			return -EINVAL;
		}
		out[i] = c;
	}
	out[f->n] = 0;
	return 0;
}

static int parse_cidr(const field_t *f, rule_t *r, char *err, size_t errlen)
{
	char buf[64];
	cidr_t c;

	if (copy_field(f, buf, sizeof(buf)) < 0 || cidr_parse(buf, &c) < 0) {
		snprintf(err, errlen, "'%.*s' is not an address or a prefix (10.0.0.0/8, fd00::/8)",
		         (int)(f->n > 60 ? 60 : f->n), f->p);
		return -EINVAL;
	}
	memset(r->addr, 0, sizeof(r->addr));
	if (c.family == AF_INET) {
		r->addr[10] = r->addr[11] = 0xff;
		memcpy(r->addr + 12, c.addr, 4);
		r->plen = (uint8_t)(96 + c.bits);
	} else {
		memcpy(r->addr, c.addr, 16);
		r->plen = (uint8_t)c.bits;
	}
	/* host bits are ignored: 10.1.2.3/8 is 10.0.0.0/8 */
	for (int i = r->plen; i < 128; i++)
		r->addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	return 0;
}

static int parse_port(const field_t *f, rule_t *r, char *err, size_t errlen)
{
	char buf[16], *end, *dash;
	unsigned long lo, hi;

	if (copy_field(f, buf, sizeof(buf)) < 0)
		goto bad;
	dash = strchr(buf, '-');
	if (dash)
		*dash = 0;
	lo = strtoul(buf, &end, 10);
	if (*end || end == buf || lo < 1 || lo > 65535)
		goto bad;
	hi = lo;
	if (dash) {
		hi = strtoul(dash + 1, &end, 10);
		if (*end || end == dash + 1 || hi < lo || hi > 65535)
			goto bad;
	}
	r->port_lo = (uint16_t)lo;
	r->port_hi = (uint16_t)hi;
	return 0;
bad:
	snprintf(err, errlen, "'%.*s' is not a port (1-65535) or a range (8000-8999)",
	         (int)(f->n > 20 ? 20 : f->n), f->p);
	return -EINVAL;
}

static int parse_action(const field_t *f, rule_t *r, char *err, size_t errlen)
{
	if (!f->n)
		return fail(err, errlen, "%s", "an empty action");
	if (field_is(f, "direct")) {
		strcpy(r->action, "direct");
		return 0;
	}
	if (field_is(f, "block") || field_is(f, "reject")) {
		strcpy(r->action, "block");
		return 0;
	}
	if (f->n > RULE_ACTION_MAX)
		return fail(err, errlen, "%s", "an action longer than 63 characters");
	for (size_t i = 0; i < f->n; i++) {
		char c = f->p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.')) {
			snprintf(err, errlen,
			         "'%.*s' is not an action (a chain's name, direct or block)",
			         (int)(f->n > 60 ? 60 : f->n), f->p);
			return -EINVAL;
		}
	}
	copy_field(f, r->action, sizeof(r->action));
	return 0;
}

static int is_prefix_ci(const field_t *f, const char *pre)
{
	size_t n = strlen(pre);

	return f->n > n && !strncasecmp(f->p, pre, n);
}

/* A bare value in a list that gives the action: an address or prefix, or
 * a name in one of the spellings lists use. */
static int parse_bare(const field_t *v, rule_t *r, char *err, size_t errlen)
{
	static const struct {
		const char *pre;
		rule_type_t type;
	} pre[] = {{"full:", RULE_DOMAIN},
	           {"domain:", RULE_SUFFIX},
	           {"keyword:", RULE_KEYWORD},
	           {"+.", RULE_SUFFIX}};
	field_t f = *v;
	char buf[64];
	cidr_t c;

	if (copy_field(&f, buf, sizeof(buf)) == 0 &&
	    (strchr(buf, ':') || strchr(buf, '/') || (buf[0] >= '0' && buf[0] <= '9')) &&
	    cidr_parse(buf, &c) == 0) {
		r->type = RULE_CIDR;
		return parse_cidr(&f, r, err, errlen);
	}
	r->type = RULE_SUFFIX;
	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (is_prefix_ci(&f, pre[i].pre)) {
			r->type = pre[i].type;
			f.p += strlen(pre[i].pre);
			f.n -= strlen(pre[i].pre);
			break;
		}
	if (is_prefix_ci(&f, "regexp:"))
		return fail(err, errlen, "%s", "regexp: rules are not supported (use a glob)");
	if (r->type == RULE_SUFFIX && f.n && f.p[0] == '.') {
		f.p++;
		f.n--;
	}
	if (r->type == RULE_KEYWORD)
		return keyword_norm(&f, r->value, err, errlen);
	if (f.n && memchr(f.p, '*', f.n)) {
		r->type = RULE_GLOB;
		return name_norm(&f, 1, r->value, err, errlen);
	}
	return name_norm(&f, 0, r->value, err, errlen);
}

static int parse_value(const field_t *v, rule_t *r, char *err, size_t errlen)
{
	field_t f = *v;

	switch (r->type) {
	case RULE_DOMAIN:
		return name_norm(&f, 0, r->value, err, errlen);
	case RULE_SUFFIX:
		if (f.n && f.p[0] == '.') {
			f.p++;
			f.n--;
		}
		return name_norm(&f, 0, r->value, err, errlen);
	case RULE_GLOB:
		return name_norm(&f, 1, r->value, err, errlen);
	case RULE_KEYWORD:
		return keyword_norm(&f, r->value, err, errlen);
	case RULE_CIDR:
	case RULE_CLIENT:
		return parse_cidr(&f, r, err, errlen);
	case RULE_PORT:
		return parse_port(&f, r, err, errlen);
	case RULE_NETWORK:
		if (field_is(&f, "tcp") || field_is(&f, "udp")) {
			r->udp = field_is(&f, "udp");
			return 0;
		}
		return fail(err, errlen, "%s", "NETWORK is tcp or udp");
	default:
		return -EINVAL;
	}
}

static int parse_line(const char *line, size_t len, const char *defaction, rule_t *r, char *err,
                      size_t errlen)
{
	field_t f[RULE_FIELDS], act;
	size_t nf, i = 0;
	int r2;

	while (i < len && is_space(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 0;
	if (len - i > RULE_LINE_MAX)
		return fail(err, errlen, "%s", "a line longer than 1024 characters");
	if (memchr(line + i, 0, len - i))
		return fail(err, errlen, "%s", "a NUL byte in the line");
	memset(r, 0, sizeof(*r));
	nf = split(line + i, len - i, f, RULE_FIELDS);
	if (nf > 4)
		return fail(err, errlen, "%s", "too many fields (TYPE,VALUE,ACTION[,no-resolve])");
	if (nf == 1 && !defaction && !field_is(&f[0], "match") && !field_is(&f[0], "final")) {
		snprintf(
		    err, errlen,
		    "'%.*s' is not a rule: TYPE,VALUE,ACTION (DOMAIN-SUFFIX,example.org,direct)",
		    (int)(f[0].n > 60 ? 60 : f[0].n), f[0].p);
		return -EINVAL;
	}
	act = (field_t){defaction, defaction ? strlen(defaction) : 0};
	if (nf == 1 && !field_is(&f[0], "match") && !field_is(&f[0], "final")) {
		if ((r2 = parse_bare(&f[0], r, err, errlen)) < 0)
			return r2;
		return parse_action(&act, r, err, errlen) < 0 ? -EINVAL : 1;
	}
	r->type = RULE_NTYPES;
	for (size_t k = 0; k < sizeof(type_words) / sizeof(type_words[0]); k++)
		if (field_is(&f[0], type_words[k].word))
			r->type = type_words[k].type;
	if (r->type == RULE_NTYPES) {
		snprintf(err, errlen,
		         "unknown rule type '%.*s' (DOMAIN, DOMAIN-SUFFIX, DOMAIN-GLOB, "
		         "DOMAIN-KEYWORD, IP-CIDR, SRC-IP-CIDR, DST-PORT, NETWORK, MATCH)",
		         (int)(f[0].n > 40 ? 40 : f[0].n), f[0].p);
		return -EINVAL;
	}
	if (r->type == RULE_MATCH) {
		if (nf > 2)
			return fail(err, errlen, "%s", "MATCH takes only an action (MATCH,direct)");
		if (nf == 2)
			act = f[1];
		else if (!defaction)
			return fail(err, errlen, "%s", "MATCH needs an action (MATCH,direct)");
		return parse_action(&act, r, err, errlen) < 0 ? -EINVAL : 1;
	}
	if ((r2 = parse_value(&f[1], r, err, errlen)) < 0)
		return r2;
	if (nf >= 3)
		act = f[2];
	else if (!defaction)
		return fail(err, errlen, "%s",
		            "no action: add ,direct ,block or a chain's name after the value");
	if (nf == 4) {
		if (!field_is(&f[3], "no-resolve"))
			return fail(err, errlen, "%s", "the fourth field can only be no-resolve");
		if (r->type != RULE_CIDR)
			return fail(err, errlen, "%s", "no-resolve belongs to IP-CIDR rules only");
		r->no_resolve = 1;
	}
	return parse_action(&act, r, err, errlen) < 0 ? -EINVAL : 1;
}

int rule_parse(const char *line, size_t len, const char *defaction, rule_t *r, char *err,
               size_t errlen)
{
	int k = parse_line(line, len, defaction, r, err, errlen);

	/* the message quotes the line: no control characters to a terminal */
	for (char *p = err; k < 0 && errlen && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return k;
}

static void addr_str(const rule_t *r, char *buf, size_t len)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char ip[INET6_ADDRSTRLEN];

	if (!memcmp(r->addr, mapped, 12) && r->plen >= 96) {
		inet_ntop(AF_INET, r->addr + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s/%u", ip, r->plen - 96);
	} else {
		inet_ntop(AF_INET6, r->addr, ip, sizeof(ip));
		snprintf(buf, len, "%s/%u", ip, r->plen);
	}
}

void rule_value_str(const rule_t *r, char *buf, size_t len)
{
	switch (r->type) {
	case RULE_CIDR:
	case RULE_CLIENT:
		addr_str(r, buf, len);
		break;
	case RULE_PORT:
		if (r->port_lo == r->port_hi)
			snprintf(buf, len, "%u", r->port_lo);
		else
			snprintf(buf, len, "%u-%u", r->port_lo, r->port_hi);
		break;
	case RULE_NETWORK:
		snprintf(buf, len, "%s", r->udp ? "udp" : "tcp");
		break;
	case RULE_MATCH:
		snprintf(buf, len, "%s", "");
		break;
	default:
		snprintf(buf, len, "%s", r->value);
	}
}

void rule_format(const rule_t *r, char *buf, size_t len)
{
	char v[RULE_NAME_MAX + 1];

	rule_value_str(r, v, sizeof(v));
	if (r->type == RULE_MATCH)
		snprintf(buf, len, "MATCH,%s", r->action);
	else
		snprintf(buf, len, "%s,%s,%s%s", rule_type_name(r->type), v, r->action,
		         r->no_resolve ? ",no-resolve" : "");
}
