/* rules: the rule list and its lookup structures (see rules.h).
 *
 * Every rule gets its number (its place in the list) and a record of
 * what it is; the structures below hold numbers only, each keeping the
 * lowest one that applies, so "first match wins" is a minimum:
 *
 *   names      a trie of labels, TLD first.  Nodes are numbers; an edge
 *              (parent, label) -> child lives in one open-addressing hash
 *              table whose labels point into the rule text itself, so a
 *              100k-name list costs a node and an edge per new label.  A
 *              node holds the first exact rule, the first suffix rule and
 *              the first "*.NAME" glob (strict subdomains) ending there.
 *   addresses  path-compressed binary tries over 16-byte keys: one for
 *              CIDR rules, one for CIDR rules with no-resolve (literal
 *              targets only), one for client rules.  A node holds the
 *              first rule whose prefix is exactly its own.
 *   ports      a 64 Ki table of the first port rule per port, made when
 *              the first port rule comes.
 *   the rest   keyword rules and other globs, each filed under the first
 *              three characters of a piece of text it needs (the keyword;
 *              the longest run of a glob without wildcards): a name is
 *              looked up by each three characters it holds, and only the
 *              rules filed there, numbered below the best match so far,
 *              are tried.  The few that need no three characters (a
 *              keyword of two, a glob of wildcards) are tried in order.
 */
#include "core/route/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/config.h"

/* ---- the list ---- */

typedef struct rinfo {
	uint8_t type, no_resolve;
	uint16_t action, file;
	uint32_t line;
	uint32_t val; /* the value's text in rs->text */
} rinfo_t;

typedef struct dnode {
	uint32_t exact, suffix, sub;
} dnode_t;

typedef struct dedge {
	uint32_t parent, child, label, hash; /* child 0: empty slot (0 is the root) */
	uint16_t len;
} dedge_t;

typedef struct cnode {
	uint8_t key[16];
	uint8_t plen;
	uint32_t child[2]; /* 0: none (0 is the root, never a child) */
	uint32_t idx;
} cnode_t;

typedef struct ctrie {
	cnode_t *n;
	size_t len, cap;
} ctrie_t;

typedef struct tri {
	uint32_t key; /* three bytes, and 1 << 24 so that 0 is an empty slot */
	uint32_t *v;  /* rule numbers, ascending */
	size_t n, cap;
} tri_t;

typedef struct action {
	char name[RULE_ACTION_MAX + 1];
	uint16_t file;
	uint32_t line;
} action_t;

#define ACTIONS_MAX 4096
#define FILES_MAX 65535

struct rules {
	rinfo_t *r;
	size_t n, cap;
	char *text; /* values, NUL-terminated, one after the other */
	size_t tlen, tcap;
	char **files;
	size_t nfiles;
	action_t *act;
	size_t nact;
	/* names */
	dnode_t *dn;
	size_t ndn, dncap;
	dedge_t *de;
	size_t nde, decap; /* decap: a power of two */
	uint32_t *slow;    /* keyword rules and globs with no three characters to file them by */
	size_t nslow, slowcap;
	tri_t *tri; /* the others, by three characters they need */
	size_t ntri, tricap;
	/* addresses, ports, the rest */
	ctrie_t cidr, cidr_literal, client;
	uint32_t *port; /* 65536 entries, or NULL */
	uint32_t net[2], all, first_cidr;
};

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (c < need)
		c *= 2;
	p = realloc(p, c * size);
	if (!p)
		abort();
	*cap = c;
	return p;
}

static uint32_t umin(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void ctrie_init(ctrie_t *t)
{
	t->n = grow(NULL, &t->cap, 1, sizeof(*t->n));
	memset(&t->n[0], 0, sizeof(t->n[0]));
	t->n[0].idx = RULE_NONE;
	t->len = 1;
}

rules_t *rules_new(void)
{
	rules_t *rs = calloc(1, sizeof(*rs));
	static const char *const fixed[2] = {"direct", "block"};

	if (!rs)
		abort();
	rs->dn = grow(NULL, &rs->dncap, 1, sizeof(*rs->dn));
	rs->dn[0] = (dnode_t){RULE_NONE, RULE_NONE, RULE_NONE};
	rs->ndn = 1;
	rs->decap = 1024;
	rs->de = calloc(rs->decap, sizeof(*rs->de));
	if (!rs->de)
		abort();
	ctrie_init(&rs->cidr);
	ctrie_init(&rs->cidr_literal);
	ctrie_init(&rs->client);
	rs->net[0] = rs->net[1] = rs->all = rs->first_cidr = RULE_NONE;
	rs->act = calloc(ACTIONS_MAX, sizeof(*rs->act));
	if (!rs->act)
		abort();
	for (int i = 0; i < 2; i++)
		snprintf(rs->act[i].name, sizeof(rs->act[i].name), "%s", fixed[i]);
	rs->nact = 2;
	return rs;
}

void rules_free(rules_t *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->nfiles; i++)
		free(rs->files[i]);
	free(rs->files);
	free(rs->r);
	free(rs->text);
	free(rs->act);
	free(rs->dn);
	free(rs->de);
	free(rs->slow);
	for (size_t i = 0; i < rs->tricap; i++)
		free(rs->tri[i].v);
	free(rs->tri);
	free(rs->cidr.n);
	free(rs->cidr_literal.n);
	free(rs->client.n);
	free(rs->port);
	free(rs);
}

size_t rules_count(const rules_t *rs)
{
	return rs ? rs->n : 0;
}

size_t rules_nactions(const rules_t *rs)
{
	return rs->nact;
}

const char *rules_action_name(const rules_t *rs, uint16_t a)
{
	return a < rs->nact ? rs->act[a].name : "?";
}

void rules_action_where(const rules_t *rs, uint16_t a, char *buf, size_t len)
{
	if (a < rs->nact && rs->act[a].file < rs->nfiles)
		snprintf(buf, len, "%s:%u", rs->files[rs->act[a].file], rs->act[a].line);
	else
		snprintf(buf, len, "?");
}

uint16_t rules_action_of(const rules_t *rs, uint32_t i)
{
	return i < rs->n ? rs->r[i].action : RULE_ACT_DIRECT;
}

uint32_t rules_first_match_all(const rules_t *rs)
{
	return rs->all;
}

void rules_where(const rules_t *rs, uint32_t i, char *buf, size_t len)
{
	if (i < rs->n)
		snprintf(buf, len, "%s:%u", rs->files[rs->r[i].file], rs->r[i].line);
	else
		snprintf(buf, len, "(no rule)");
}

rule_type_t rules_info(const rules_t *rs, uint32_t i, const char **value, uint16_t *action,
                       int *no_resolve)
{
	const rinfo_t *ri = &rs->r[i];

	*value = rs->text + ri->val;
	*action = ri->action;
	*no_resolve = ri->no_resolve;
	return (rule_type_t)ri->type;
}

void rules_get(const rules_t *rs, uint32_t i, rule_t *r)
{
	char line[RULE_LINE_MAX], err[8];
	const rinfo_t *ri;

	memset(r, 0, sizeof(*r));
	if (i >= rs->n)
		return;
	ri = &rs->r[i];
	if (ri->type == RULE_MATCH)
		snprintf(line, sizeof(line), "MATCH,%s", rs->act[ri->action].name);
	else
		snprintf(line, sizeof(line), "%s,%s,%s%s", rule_type_name((rule_type_t)ri->type),
		         rs->text + ri->val, rs->act[ri->action].name,
		         ri->no_resolve ? ",no-resolve" : "");
	rule_parse(line, strlen(line), NULL, r, err, sizeof(err));
}

static uint32_t intern_text(rules_t *rs, const char *s)
{
	size_t n = strlen(s) + 1;
	uint32_t at = (uint32_t)rs->tlen;

	rs->text = grow(rs->text, &rs->tcap, rs->tlen + n, 1);
	memcpy(rs->text + rs->tlen, s, n);
	rs->tlen += n;
	return at;
}

static int file_id(rules_t *rs, const char *file)
{
	if (rs->nfiles && !strcmp(rs->files[rs->nfiles - 1], file))
		return (int)rs->nfiles - 1;
	for (size_t i = 0; i < rs->nfiles; i++)
		if (!strcmp(rs->files[i], file))
			return (int)i;
	if (rs->nfiles >= FILES_MAX)
		return -1;
	rs->files = realloc(rs->files, (rs->nfiles + 1) * sizeof(*rs->files));
	if (!rs->files || !(rs->files[rs->nfiles] = strdup(file)))
		abort();
	return (int)rs->nfiles++;
}

static int action_id(rules_t *rs, const char *name, uint16_t file, uint32_t line)
{
	for (size_t i = 0; i < rs->nact; i++)
		if (!strcmp(rs->act[i].name, name))
			return (int)i;
	if (rs->nact >= ACTIONS_MAX)
		return -1;
	snprintf(rs->act[rs->nact].name, sizeof(rs->act[0].name), "%s", name);
	rs->act[rs->nact].file = file;
	rs->act[rs->nact].line = line;
	return (int)rs->nact++;
}

/* ---- the name trie ---- */

static uint32_t label_hash(uint32_t parent, const char *p, size_t n)
{
	uint32_t h = 2166136261u ^ (parent * 0x9e3779b1u);

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h ? h : 1;
}

static void edges_grow(rules_t *rs)
{
	size_t cap = rs->decap * 2;
	dedge_t *de = calloc(cap, sizeof(*de));

	if (!de)
		abort();
	for (size_t i = 0; i < rs->decap; i++) {
		dedge_t *e = &rs->de[i];
		size_t j;
		if (!e->child)
			continue;
		for (j = e->hash & (cap - 1); de[j].child; j = (j + 1) & (cap - 1))
			;
		de[j] = *e;
	}
	free(rs->de);
	rs->de = de;
	rs->decap = cap;
}

/* The child of parent by the label p[0..n), or 0. */
static uint32_t edge_find(const rules_t *rs, uint32_t parent, const char *p, size_t n)
{
	uint32_t h = label_hash(parent, p, n);

	for (size_t j = h & (rs->decap - 1);; j = (j + 1) & (rs->decap - 1)) {
		const dedge_t *e = &rs->de[j];
		if (!e->child)
			return 0;
		if (e->hash == h && e->parent == parent && e->len == n &&
		    !memcmp(rs->text + e->label, p, n))
			return e->child;
	}
}

/* p points into rs->text (at offset off), so the edge can keep it. */
static uint32_t edge_add(rules_t *rs, uint32_t parent, uint32_t off, size_t n)
{
	const char *p = rs->text + off;
	uint32_t c = edge_find(rs, parent, p, n), h;
	size_t j;

	if (c)
		return c;
	if ((rs->nde + 1) * 2 > rs->decap)
		edges_grow(rs);
	rs->dn = grow(rs->dn, &rs->dncap, rs->ndn + 1, sizeof(*rs->dn));
	c = (uint32_t)rs->ndn++;
	rs->dn[c] = (dnode_t){RULE_NONE, RULE_NONE, RULE_NONE};
	h = label_hash(parent, p, n);
	for (j = h & (rs->decap - 1); rs->de[j].child; j = (j + 1) & (rs->decap - 1))
		;
	rs->de[j] = (dedge_t){parent, c, off, h, (uint16_t)n};
	rs->nde++;
	return c;
}

/* The node of the name at text offset off (labels right to left). */
static uint32_t name_node(rules_t *rs, uint32_t off)
{
	size_t end = strlen(rs->text + off);
	uint32_t node = 0;

	while (end) {
		size_t start = end;
		while (start && rs->text[off + start - 1] != '.')
			start--;
		node = edge_add(rs, node, off + (uint32_t)start, end - start);
		end = start ? start - 1 : 0;
	}
	return node;
}

/* The first exact/suffix/strict-subdomain rule for name (lower case). */
static uint32_t name_lookup(const rules_t *rs, const char *name, size_t end)
{
	uint32_t node = 0, best = rs->dn[0].suffix;

	while (end) {
		size_t start = end;
		uint32_t next;
		while (start && name[start - 1] != '.')
			start--;
		next = edge_find(rs, node, name + start, end - start);
		if (!next)
			return best;
		if (start) /* labels are left: strict subdomain of next */
			best = umin(best, rs->dn[next].sub);
		node = next;
		best = umin(best, rs->dn[node].suffix);
		end = start ? start - 1 : 0;
	}
	return umin(best, rs->dn[node].exact);
}

/* A shell pattern: '*' any run of characters, '?' one. */
static int glob_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (*p == '?' || (*p && *p == *s)) {
			p++;
			s++;
		} else if (*p == '*') {
			star = p++;
			resume = s;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

/* ---- keywords and globs by three characters ---- */

static uint32_t tri_key(const char *p)
{
	return (1u << 24) | ((uint32_t)(uint8_t)p[0] << 16) | ((uint32_t)(uint8_t)p[1] << 8) |
	       (uint8_t)p[2];
}

static tri_t *tri_slot(tri_t *t, size_t cap, uint32_t key)
{
	size_t j = (key * 2654435761u) & (cap - 1);

	while (t[j].key && t[j].key != key)
		j = (j + 1) & (cap - 1);
	return &t[j];
}

static void tri_add(rules_t *rs, const char *p, uint32_t idx)
{
	uint32_t key = tri_key(p);
	tri_t *e;

	if ((rs->ntri + 1) * 2 > rs->tricap) {
		size_t cap = rs->tricap ? rs->tricap * 2 : 256;
		tri_t *t = calloc(cap, sizeof(*t));
		if (!t)
			abort();
		for (size_t i = 0; i < rs->tricap; i++)
			if (rs->tri[i].key)
				*tri_slot(t, cap, rs->tri[i].key) = rs->tri[i];
		free(rs->tri);
		rs->tri = t;
		rs->tricap = cap;
	}
	e = tri_slot(rs->tri, rs->tricap, key);
	if (!e->key) {
		e->key = key;
		rs->ntri++;
	}
	e->v = grow(e->v, &e->cap, e->n + 1, sizeof(*e->v));
	e->v[e->n++] = idx;
}

/* The longest run of a keyword or glob without wildcards, if of three
 * characters or more: where the rule is filed. */
static const char *needed_run(const char *v, int glob)
{
	const char *best = NULL;
	size_t bestn = 0;

	if (!glob)
		return strlen(v) >= 3 ? v : NULL;
	while (*v) {
		size_t n = strcspn(v, "*?");
		if (n > bestn) {
			best = v;
			bestn = n;
		}
		v += n;
		v += strspn(v, "*?");
	}
	return bestn >= 3 ? best : NULL;
}

static int slow_hit(const rules_t *rs, uint32_t i, const char *name)
{
	const rinfo_t *ri = &rs->r[i];
	const char *v = rs->text + ri->val;

	return ri->type == RULE_KEYWORD ? strstr(name, v) != NULL : glob_match(v, name);
}

/* The first keyword or glob rule below best that matches name (n chars). */
static uint32_t slow_lookup(const rules_t *rs, const char *name, size_t n, uint32_t best)
{
	for (size_t i = 0; i < rs->nslow && rs->slow[i] < best; i++)
		if (slow_hit(rs, rs->slow[i], name))
			best = rs->slow[i];
	for (size_t i = 0; rs->ntri && i + 3 <= n; i++) {
		const tri_t *e = tri_slot(rs->tri, rs->tricap, tri_key(name + i));
		for (size_t k = 0; k < e->n && e->v[k] < best; k++)
			if (slow_hit(rs, e->v[k], name)) {
				best = e->v[k];
				break;
			}
	}
	return best;
}

/* ---- the address tries ---- */

static int bit_at(const uint8_t *k, unsigned i)
{
	return (k[i / 8] >> (7 - i % 8)) & 1;
}

static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned max)
{
	unsigned i = 0;

	while (i < max && i % 8 == 0 && max - i >= 8 && a[i / 8] == b[i / 8])
		i += 8;
	while (i < max && bit_at(a, i) == bit_at(b, i))
		i++;
	return i;
}

static uint32_t cnode_new(ctrie_t *t, const uint8_t *key, unsigned plen, uint32_t idx)
{
	cnode_t *n;

	t->n = grow(t->n, &t->cap, t->len + 1, sizeof(*t->n));
	n = &t->n[t->len];
	memset(n, 0, sizeof(*n));
	memcpy(n->key, key, 16);
	for (unsigned i = plen; i < 128; i++)
		n->key[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	n->plen = (uint8_t)plen;
	n->idx = idx;
	return (uint32_t)t->len++;
}

static void ctrie_add(ctrie_t *t, const uint8_t *key, unsigned plen, uint32_t idx)
{
	uint32_t at = 0;

	for (;;) {
		cnode_t *n = &t->n[at];
		unsigned b, cl;
		uint32_t c, m;

		if (n->plen == plen) {
			n->idx = umin(n->idx, idx);
			return;
		}
		b = (unsigned)bit_at(key, n->plen);
		c = n->child[b];
		if (!c) {
			c = cnode_new(t, key, plen, idx);
			t->n[at].child[b] = c;
			return;
		}
		cl = common_bits(t->n[c].key, key, t->n[c].plen < plen ? t->n[c].plen : plen);
		if (cl == t->n[c].plen) {
			at = c;
			continue;
		}
		/* split: a node for the common prefix above c */
		m = cnode_new(t, key, cl, cl == plen ? idx : RULE_NONE);
		t->n[m].child[bit_at(t->n[c].key, cl)] = c;
		if (cl < plen) {
			uint32_t leaf = cnode_new(t, key, plen, idx);
			t->n[m].child[bit_at(key, cl)] = leaf;
		}
		t->n[at].child[b] = m;
		return;
	}
}

static uint32_t ctrie_lookup(const ctrie_t *t, const uint8_t *key)
{
	const cnode_t *n = &t->n[0];
	uint32_t best = n->idx;

	while (n->plen < 128) {
		uint32_t c = n->child[bit_at(key, n->plen)];
		if (!c || common_bits(t->n[c].key, key, t->n[c].plen) < t->n[c].plen)
			break;
		n = &t->n[c];
		best = umin(best, n->idx);
	}
	return best;
}

/* ---- adding and matching ---- */

int rules_add(rules_t *rs, const rule_t *r, const char *file, uint32_t line)
{
	int fid = file_id(rs, file), aid;
	uint32_t idx = (uint32_t)rs->n;
	char v[RULE_NAME_MAX + 1];
	rinfo_t *ri;

	if (fid < 0 || rs->n >= RULES_MAX)
		return -E2BIG;
	if ((aid = action_id(rs, r->action, (uint16_t)fid, line)) < 0)
		return -E2BIG;
	rs->r = grow(rs->r, &rs->cap, rs->n + 1, sizeof(*rs->r));
	ri = &rs->r[rs->n++];
	rule_value_str(r, v, sizeof(v));
	*ri = (rinfo_t){.type = (uint8_t)r->type,
	                .no_resolve = r->no_resolve,
	                .action = (uint16_t)aid,
	                .file = (uint16_t)fid,
	                .line = line,
	                .val = intern_text(rs, v)};
	switch (r->type) {
	case RULE_DOMAIN:
	case RULE_SUFFIX: {
		uint32_t node = name_node(rs, ri->val);
		if (r->type == RULE_DOMAIN)
			rs->dn[node].exact = umin(rs->dn[node].exact, idx);
		else
			rs->dn[node].suffix = umin(rs->dn[node].suffix, idx);
		break;
	}
	case RULE_GLOB:
		/* "*.NAME" with no other wildcard: the strict subdomains of NAME */
		if (r->value[0] == '*' && r->value[1] == '.' && !strpbrk(r->value + 2, "*?")) {
			uint32_t node = name_node(rs, ri->val + 2);
			rs->dn[node].sub = umin(rs->dn[node].sub, idx);
			break;
		}
		/* fall through */
	case RULE_KEYWORD: {
		const char *run = needed_run(r->value, r->type == RULE_GLOB);
		if (run) {
			tri_add(rs, run, idx);
			break;
		}
		rs->slow = grow(rs->slow, &rs->slowcap, rs->nslow + 1, sizeof(*rs->slow));
		rs->slow[rs->nslow++] = idx;
		break;
	}
	case RULE_CIDR:
		ctrie_add(r->no_resolve ? &rs->cidr_literal : &rs->cidr, r->addr, r->plen, idx);
		if (!r->no_resolve)
			rs->first_cidr = umin(rs->first_cidr, idx);
		break;
	case RULE_CLIENT:
		ctrie_add(&rs->client, r->addr, r->plen, idx);
		break;
	case RULE_PORT:
		if (!rs->port) {
			rs->port = malloc(65536 * sizeof(*rs->port));
			if (!rs->port)
				abort();
			memset(rs->port, 0xff, 65536 * sizeof(*rs->port));
		}
		for (uint32_t p = r->port_lo; p <= r->port_hi; p++)
			rs->port[p] = umin(rs->port[p], idx);
		break;
	case RULE_NETWORK:
		rs->net[r->udp] = umin(rs->net[r->udp], idx);
		break;
	case RULE_MATCH:
		rs->all = umin(rs->all, idx);
		break;
	default:
		break;
	}
	return 0;
}

int rules_load(rules_t *rs, const char *buf, size_t len, const char *file, const char *defaction,
               char *err, size_t errlen)
{
	uint32_t line = 0;
	size_t i = 0;

	while (i < len) {
		const char *eol = memchr(buf + i, '\n', len - i);
		size_t n = eol ? (size_t)(eol - (buf + i)) : len - i;
		char why[300];
		rule_t r;
		int k;

		line++;
		k = rule_parse(buf + i, n, defaction, &r, why, sizeof(why));
		if (k < 0) {
			snprintf(err, errlen, "%s:%u: %s", file, line, why);
			return -EINVAL;
		}
		if (k > 0 && rules_add(rs, &r, file, line) < 0) {
			snprintf(err, errlen, "%s:%u: too many rules, files or actions", file,
			         line);
			return -E2BIG;
		}
		i += n + 1;
	}
	return 0;
}

int rules_load_file(rules_t *rs, const char *path, const char *defaction, char *err, size_t errlen)
{
	char *buf;
	size_t n;
	int r = config_read_file(path, RULES_FILE_MAX, &buf, &n);

	if (r == -EFBIG)
		snprintf(err, errlen, "%s: not a rule file (over 256 MiB)", path);
	else if (r < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
	if (r < 0)
		return r == -EFBIG ? -EINVAL : r;
	r = rules_load(rs, buf, n, path, defaction, err, errlen);
	free(buf);
	return r;
}

/* An IP literal's key; an IPv6 one with a zone (fe80::1%eth0, ::1%1),
 * which the resolver takes as the address, is that address. */
static int literal_key(const char *host, uint8_t key[16])
{
	const char *zone = strchr(host, '%');
	char a[INET6_ADDRSTRLEN];

	memset(key, 0, 16);
	if (inet_pton(AF_INET, host, key + 12) == 1) {
		key[10] = key[11] = 0xff;
		return 1;
	}
	if (zone && (size_t)(zone - host) < sizeof(a)) {
		memcpy(a, host, (size_t)(zone - host));
		a[zone - host] = 0;
		host = a;
	}
	return inet_pton(AF_INET6, host, key) == 1;
}

rule_hit_t rules_match(const rules_t *rs, const route_query_t *q, int *need_addr)
{
	uint32_t best = rs->all;
	uint8_t key[16];
	rule_hit_t h;

	*need_addr = 0;
	best = umin(best, rs->net[q->udp ? 1 : 0]);
	if (rs->port)
		best = umin(best, rs->port[q->port]);
	if (q->client && rs->client.len > 1) {
		sockaddr_key(q->client, key);
		best = umin(best, ctrie_lookup(&rs->client, key));
	}
	if (literal_key(q->host, key)) {
		best = umin(best, ctrie_lookup(&rs->cidr, key));
		best = umin(best, ctrie_lookup(&rs->cidr_literal, key));
	} else {
		char name[RULE_NAME_MAX + 2];
		size_t n = strlen(q->host);

		if (n && q->host[n - 1] == '.')
			n--;
		if (n <= RULE_NAME_MAX) {
			for (size_t i = 0; i < n; i++) {
				char c = q->host[i];
				name[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
			}
			name[n] = 0;
			best = umin(best, name_lookup(rs, name, n));
			best = slow_lookup(rs, name, n, best);
		}
		*need_addr = rs->first_cidr < best;
	}
	h.index = best;
	h.action = best == RULE_NONE ? RULE_ACT_DIRECT : rs->r[best].action;
	return h;
}

rule_hit_t rules_match_addr(const rules_t *rs, const struct sockaddr *sa, uint32_t before)
{
	rule_hit_t h = {RULE_NONE, RULE_ACT_DIRECT};
	uint8_t key[16];
	uint32_t i;

	sockaddr_key(sa, key);
	i = ctrie_lookup(&rs->cidr, key);
	if (i < before) {
		h.index = i;
		h.action = rs->r[i].action;
	}
	return h;
}
