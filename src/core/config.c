/* config: see config.h.  The YAML is loaded as a document (libyaml's node
 * API) and walked; anything unexpected is an error that names the key and
 * the line. */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <strings.h>
#include <yaml.h>

#include "core/authguard.h"
#include "core/log.h"
#include "core/url.h"

void config_init(config_t *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = -1;
	c->log_format = -1;
	c->log_rate = LOG_RATE_DEFAULT;
	c->drain_ms = 5000;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

void strlist_push(strlist_t *l, const char *s)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (!l->v)
		abort();
	l->v[l->n++] = xstrdup(s);
	l->set = 1;
}

void strlist_clear(strlist_t *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void chain_def_free(chain_def_t *d)
{
	free(d->name);
	free(d->where);
	strlist_clear(&d->hops);
}

static void group_def_free(group_def_t *d)
{
	free(d->name);
	free(d->opts);
	free(d->where);
	strlist_clear(&d->members);
}

static void rules_clear(config_t *c)
{
	for (size_t i = 0; i < c->nrules; i++) {
		free(c->rules[i].text);
		free(c->rules[i].file);
		free(c->rules[i].action);
		free(c->rules[i].src);
	}
	free(c->rules);
	c->rules = NULL;
	c->nrules = 0;
}

void config_free(config_t *c)
{
	for (size_t i = 0; i < c->nchains; i++)
		chain_def_free(&c->chains[i]);
	free(c->chains);
	for (size_t i = 0; i < c->ngroups; i++)
		group_def_free(&c->groups[i]);
	free(c->groups);
	rules_clear(c);
	strlist_clear(&c->listen);
	strlist_clear(&c->forward);
	strlist_clear(&c->reverse);
	free(c->metrics);
	free(c->auth_guard);
	free(c->log_file);
	free(c->log_syslog);
	free(c->user);
	free(c->group);
	free(c->control);
	config_init(c);
}

static void list_take(strlist_t *dst, strlist_t *src)
{
	if (!src->set)
		return;
	strlist_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

chain_def_t *config_chain(const config_t *c, const char *name)
{
	for (size_t i = 0; i < c->nchains; i++)
		if (!strcmp(c->chains[i].name, name))
			return &c->chains[i];
	return NULL;
}

group_def_t *config_group(const config_t *c, const char *name)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (!strcmp(c->groups[i].name, name))
			return &c->groups[i];
	return NULL;
}

/* A new chain named name, or the one of that name emptied. */
static chain_def_t *chain_put(config_t *c, const char *name, const char *where)
{
	chain_def_t *d = config_chain(c, name);

	if (d) {
		chain_def_free(d);
	} else {
		c->chains = realloc(c->chains, (c->nchains + 1) * sizeof(*c->chains));
		if (!c->chains)
			abort();
		d = &c->chains[c->nchains++];
	}
	memset(d, 0, sizeof(*d));
	d->name = xstrdup(name);
	d->where = xstrdup(where);
	return d;
}

static group_def_t *group_put(config_t *c, const char *name, const char *where)
{
	group_def_t *d = config_group(c, name);

	if (d) {
		group_def_free(d);
	} else {
		c->groups = realloc(c->groups, (c->ngroups + 1) * sizeof(*c->groups));
		if (!c->groups)
			abort();
		d = &c->groups[c->ngroups++];
	}
	memset(d, 0, sizeof(*d));
	d->name = xstrdup(name);
	d->where = xstrdup(where);
	return d;
}

void config_rule_add(config_t *c, const char *text, const char *file, const char *action,
                     const char *src, unsigned line)
{
	rule_def_t *r;

	c->rules = realloc(c->rules, (c->nrules + 1) * sizeof(*c->rules));
	if (!c->rules)
		abort();
	r = &c->rules[c->nrules++];
	r->text = text ? xstrdup(text) : NULL;
	r->file = file ? xstrdup(file) : NULL;
	r->action = action ? xstrdup(action) : NULL;
	r->src = xstrdup(src ? src : "");
	r->line = line;
	c->rules_set = 1;
}

int config_name_check(const char *what, const char *name, char *err, size_t errlen)
{
	static const char *const reserved[] = {"direct", "block", "reject"};
	size_t n = strlen(name);

	if (!n || n > 63 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789-_.") != n) {
		snprintf(err, errlen,
		         "%s name '%.64s': use 1 to 63 letters, digits, '-', '_' or '.'", what,
		         name);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcasecmp(name, reserved[i])) {
			snprintf(err, errlen, "%s name '%s' is reserved (rules use it)", what,
			         name);
			return -EINVAL;
		}
	return 0;
}

/* Does a URL start at s ("scheme://")? */
static int url_starts(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

	return n && s[0] >= 'a' && s[0] <= 'z' && !strncmp(s + n, "://", 3);
}

/* "URL,URL,...": split at the commas a scheme follows. */
static void url_csv(strlist_t *l, const char *s)
{
	const char *start = s;

	for (const char *p = s;; p++) {
		if (*p && !(*p == ',' && url_starts(p + 1)))
			continue;
		char *one = strndup(start, (size_t)(p - start));
		if (!one)
			abort();
		if (*one)
			strlist_push(l, one);
		free(one);
		if (!*p)
			break;
		start = p + 1;
	}
}

int config_chain_arg(config_t *c, const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	char name[80];
	chain_def_t *d;

	if (!eq || (size_t)(eq - arg) >= sizeof(name) || !url_starts(eq + 1)) {
		snprintf(err, errlen, "--chain '%.80s': write NAME=URL[,URL...]", arg);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	if (config_name_check("--chain: chain", name, err, errlen) < 0)
		return -EINVAL;
	d = chain_put(c, name, "--chain");
	url_csv(&d->hops, eq + 1);
	return 0;
}

int config_group_arg(config_t *c, const char *arg, char *err, size_t errlen)
{
	const char *eq = NULL, *q;
	char name[80];
	group_def_t *d;
	size_t nl;

	/* the first '=' that a URL follows: options hold '=' too */
	for (const char *p = arg; (p = strchr(p, '=')); p++)
		if (url_starts(p + 1)) {
			eq = p;
			break;
		}
	if (!eq) {
		snprintf(err, errlen, "--group '%.80s': write NAME[?OPTIONS]=URL[,URL...]", arg);
		return -EINVAL;
	}
	q = memchr(arg, '?', (size_t)(eq - arg));
	nl = (size_t)((q ? q : eq) - arg);
	if (nl >= sizeof(name)) {
		snprintf(err, errlen, "--group: a name of at most 63 characters");
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "%.*s", (int)nl, arg);
	if (config_name_check("--group: group", name, err, errlen) < 0)
		return -EINVAL;
	d = group_put(c, name, "--group");
	if (q && eq > q + 1 && !(d->opts = strndup(q + 1, (size_t)(eq - q - 1))))
		abort();
	url_csv(&d->members, eq + 1);
	return 0;
}

static void str_take(char **dst, char **src)
{
	if (!*src)
		return;
	free(*dst);
	*dst = *src;
	*src = NULL;
}

void config_merge(config_t *base, config_t *top)
{
	list_take(&base->listen, &top->listen);
	list_take(&base->forward, &top->forward);
	list_take(&base->reverse, &top->reverse);
	for (size_t i = 0; i < top->nchains; i++) {
		chain_def_t *t = &top->chains[i], *d = chain_put(base, t->name, t->where);
		d->hops = t->hops;
		memset(&t->hops, 0, sizeof(t->hops));
	}
	for (size_t i = 0; i < top->ngroups; i++) {
		group_def_t *t = &top->groups[i], *d = group_put(base, t->name, t->where);
		d->members = t->members;
		d->opts = t->opts;
		memset(&t->members, 0, sizeof(t->members));
		t->opts = NULL;
	}
	if (top->rules_set) {
		rules_clear(base);
		base->rules = top->rules;
		base->nrules = top->nrules;
		base->rules_set = 1;
		top->rules = NULL;
		top->nrules = 0;
	}
	str_take(&base->metrics, &top->metrics);
	str_take(&base->auth_guard, &top->auth_guard);
	str_take(&base->log_file, &top->log_file);
	str_take(&base->log_syslog, &top->log_syslog);
	str_take(&base->user, &top->user);
	str_take(&base->group, &top->group);
	str_take(&base->control, &top->control);
	if (top->log_level >= 0)
		base->log_level = top->log_level;
	if (top->log_format >= 0)
		base->log_format = top->log_format;
	if (top->log_rate_set) {
		base->log_rate = top->log_rate;
		base->log_rate_set = 1;
	}
	if (top->drain_set) {
		base->drain_ms = top->drain_ms;
		base->drain_set = 1;
	}
}

/* ---- YAML ---- */

typedef struct ywalk {
	yaml_document_t *doc;
	const char *name;
	const char *dir; /* the file's folder ("" for none), for the paths it names */
	char *err;
	size_t errlen;
} ywalk_t;

static int yfail(ywalk_t *w, yaml_node_t *n, const char *fmt, const char *what)
{
	char msg[800];

	snprintf(msg, sizeof(msg), fmt, what);
	snprintf(w->err, w->errlen, "%s:%lu: %s", w->name,
	         n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
	return -EINVAL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void append_escaped(char **dst, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);

	*dst = realloc(*dst, *len + 3 * n + 1);
	if (!*dst)
		abort();
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '&' || ch == '=' || ch == '%' || ch == '#' || ch <= ' ' || ch >= 0x7f) {
			(*dst)[(*len)++] = '%';
			(*dst)[(*len)++] = hex[ch >> 4];
			(*dst)[(*len)++] = hex[ch & 15];
		} else {
			(*dst)[(*len)++] = (char)ch;
		}
	}
	(*dst)[*len] = 0;
}

static void putch(char **dst, size_t *len, char ch)
{
	*dst = realloc(*dst, *len + 2);
	if (!*dst)
		abort();
	(*dst)[(*len)++] = ch;
	(*dst)[*len] = 0;
}

/* A mapping item: url + options -> "url?k=v&k=v" */
static int url_from_map(ywalk_t *w, yaml_node_t *map, char **out)
{
	char *u = NULL, *q = NULL;
	size_t qlen = 0;
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		const char *ks = scalar(k);

		if (!ks) {
			free(q);
			return yfail(w, k, "%s", "keys must be plain words");
		}
		if (!strcmp(ks, "url")) {
			if (!scalar(v)) {
				free(q);
				return yfail(w, v, "%s", "'url' must be a string");
			}
			u = (char *)scalar(v);
			continue;
		}
		if (scalar(v)) {
			if (qlen)
				putch(&q, &qlen, '&');
			append_escaped(&q, &qlen, ks);
			putch(&q, &qlen, '=');
			append_escaped(&q, &qlen, scalar(v));
		} else if (v && v->type == YAML_SEQUENCE_NODE) {
			/* a list becomes the option repeated: key=a&key=b */
			yaml_node_item_t *it;
			for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
			     it++) {
				const char *s = scalar(yaml_document_get_node(w->doc, *it));
				if (!s) {
					free(q);
					return yfail(w, v,
					             "option '%s': list items must be strings", ks);
				}
				if (qlen)
					putch(&q, &qlen, '&');
				append_escaped(&q, &qlen, ks);
				putch(&q, &qlen, '=');
				append_escaped(&q, &qlen, s);
			}
		} else {
			free(q);
			return yfail(w, v, "option '%s' must be a string or a list", ks);
		}
	}
	if (!u) {
		free(q);
		return yfail(w, map, "%s", "a listen/forward entry written as a map needs 'url'");
	}
	{
		size_t ul = strlen(u);
		char *s = malloc(ul + qlen + 2);
		if (!s)
			abort();
		memcpy(s, u, ul);
		if (qlen) {
			s[ul] = strchr(u, '?') ? '&' : '?';
			memcpy(s + ul + 1, q, qlen + 1);
		} else {
			s[ul] = 0;
		}
		*out = s;
	}
	free(q);
	return 0;
}

static int url_list(ywalk_t *w, yaml_node_t *n, strlist_t *l, const char *key)
{
	yaml_node_item_t *it;

	strlist_clear(l);
	l->set = 1;
	if (scalar(n)) {
		strlist_push(l, scalar(n));
		return 0;
	}
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return yfail(w, n, "'%s' must be a list of URLs", key);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(w->doc, *it);
		char *s = NULL; /* gcc -O2 with _FORTIFY_SOURCE cannot see url_from_map set it */
		int r;

		if (scalar(item)) {
			strlist_push(l, scalar(item));
			continue;
		}
		if (!item || item->type != YAML_MAPPING_NODE)
			return yfail(w, item, "'%s' items must be URLs or maps with 'url'", key);
		if ((r = url_from_map(w, item, &s)) < 0)
			return r;
		strlist_push(l, s);
		free(s);
	}
	return 0;
}

static unsigned yline(yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 0;
}

static void ywhere(ywalk_t *w, yaml_node_t *n, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u", w->name, yline(n));
}

/* chains: {NAME: URL | [URL or map, ...]} */
static int y_chains(ywalk_t *w, config_t *c, yaml_node_t *n)
{
	char where[300];

	if (!n || n->type != YAML_MAPPING_NODE)
		return yfail(w, n, "%s", "'chains' maps names to lists of hops");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		char msg[200];
		chain_def_t *d;
		int r;

		if (!scalar(k))
			return yfail(w, k, "%s", "chain names must be plain words");
		if (config_name_check("chain", scalar(k), msg, sizeof(msg)) < 0)
			return yfail(w, k, "%s", msg);
		if (!strcmp(scalar(k), "default"))
			return yfail(
			    w, k, "%s",
			    "the chain 'default' is the 'forward' list: write its hops there");
		ywhere(w, k, where, sizeof(where));
		d = chain_put(c, scalar(k), where);
		if ((r = url_list(w, v, &d->hops, "chains")) < 0)
			return r;
	}
	return 0;
}

/* groups: {NAME: {members: [...], OPTION: VALUE, ...}} */
static int y_groups(ywalk_t *w, config_t *c, yaml_node_t *n)
{
	char where[300];

	if (!n || n->type != YAML_MAPPING_NODE)
		return yfail(w, n, "%s", "'groups' maps names to groups (members: and options)");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		char msg[200], *q = NULL;
		size_t qlen = 0;
		group_def_t *d;
		int r, members = 0;

		if (!scalar(k))
			return yfail(w, k, "%s", "group names must be plain words");
		if (config_name_check("group", scalar(k), msg, sizeof(msg)) < 0)
			return yfail(w, k, "%s", msg);
		if (!v || v->type != YAML_MAPPING_NODE)
			return yfail(w, v, "group '%s' is a map: members: [URL, ...] and options",
			             scalar(k));
		ywhere(w, k, where, sizeof(where));
		d = group_put(c, scalar(k), where);
		for (yaml_node_pair_t *o = v->data.mapping.pairs.start;
		     o < v->data.mapping.pairs.top; o++) {
			yaml_node_t *ok = yaml_document_get_node(w->doc, o->key);
			yaml_node_t *ov = yaml_document_get_node(w->doc, o->value);
			const char *ks = scalar(ok);

			if (ks && !strcmp(ks, "members")) {
				if ((r = url_list(w, ov, &d->members, "members")) < 0) {
					free(q);
					return r;
				}
				members = 1;
				continue;
			}
			if (!ks || !scalar(ov)) {
				free(q);
				return yfail(w, ov, "group option '%s' must be a single value",
				             ks ? ks : "?");
			}
			if (qlen)
				putch(&q, &qlen, '&');
			append_escaped(&q, &qlen, ks);
			putch(&q, &qlen, '=');
			append_escaped(&q, &qlen, scalar(ov));
		}
		d->opts = q;
		if (!members)
			return yfail(w, v, "group '%s' needs members: [URL, ...]", scalar(k));
	}
	return 0;
}

/* rules: [RULE | {file: PATH, action: ACTION}, ...] */
static int y_rules(ywalk_t *w, config_t *c, yaml_node_t *n)
{
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return yfail(w, n, "%s", "'rules' is a list of rules and {file: PATH} items");
	rules_clear(c);
	c->rules_set = 1;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *item = yaml_document_get_node(w->doc, *it);
		const char *file = NULL, *action = NULL;
		char *path;

		if (scalar(item)) {
			config_rule_add(c, scalar(item), NULL, NULL, w->name, yline(item));
			continue;
		}
		if (!item || item->type != YAML_MAPPING_NODE)
			return yfail(w, item, "%s",
			             "a rule is a line or {file: PATH, action: ACTION}");
		for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
		     p < item->data.mapping.pairs.top; p++) {
			const char *ks = scalar(yaml_document_get_node(w->doc, p->key));
			const char *vs = scalar(yaml_document_get_node(w->doc, p->value));
			if (ks && vs && !strcmp(ks, "file"))
				file = vs;
			else if (ks && vs && !strcmp(ks, "action"))
				action = vs;
			else
				return yfail(w, item, "rule item key '%s': use file: and action:",
				             ks ? ks : "?");
		}
		if (!file)
			return yfail(w, item, "%s", "a rule item needs file: PATH");
		path = malloc(strlen(w->dir) + strlen(file) + 2);
		if (!path)
			abort();
		if (file[0] != '/' && w->dir[0])
			sprintf(path, "%s/%s", w->dir, file);
		else
			strcpy(path, file);
		config_rule_add(c, NULL, path, action, w->name, yline(item));
		free(path);
	}
	return 0;
}

/* ---- the settings: one table for YAML keys, SLUICE_* and the command line ---- */

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
	return 0;
}

static int set_log(config_t *c, const char *v, char *err, size_t errlen)
{
	if ((c->log_level = log_level_parse(v)) >= 0)
		return 0;
	c->log_level = -1;
	snprintf(err, errlen, "log level '%s' is not err, warn, info, debug or trace", v);
	return -EINVAL;
}

static int set_log_file(config_t *c, const char *v, char *err, size_t errlen)
{
	return set_str(&c->log_file, v);
}

static int set_log_syslog(config_t *c, const char *v, char *err, size_t errlen)
{
	int b = -1;

	if (!v || !*v)
		b = 1;
	else if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") ||
	         !strcmp(v, "1"))
		b = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") ||
	         !strcmp(v, "0"))
		b = 0;
	if (b < 0 && v[0] != '/') {
		snprintf(err, errlen, "log-syslog '%s' is neither yes, no nor a socket's path", v);
		return -EINVAL;
	}
	return set_str(&c->log_syslog, b == 1 ? LOG_SYSLOG_DEFAULT : b == 0 ? "" : v);
}

static int set_log_format(config_t *c, const char *v, char *err, size_t errlen)
{
	if ((c->log_format = log_format_parse(v)) >= 0)
		return 0;
	snprintf(err, errlen, "log format '%s' is not text or json", v);
	return -EINVAL;
}

static int set_log_rate(config_t *c, const char *v, char *err, size_t errlen)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || (*end && strcmp(end, "/s")) || n > 1000000) {
		snprintf(err, errlen,
		         "log rate '%s' is not a number of lines a second (0 to 1000000)", v);
		return -EINVAL;
	}
	c->log_rate = n;
	c->log_rate_set = 1;
	return 0;
}

static int set_metrics(config_t *c, const char *v, char *err, size_t errlen)
{
	return set_str(&c->metrics, v);
}

static int set_drain(config_t *c, const char *v, char *err, size_t errlen)
{
	if (parse_duration_ms(v, &c->drain_ms) < 0) {
		snprintf(err, errlen, "drain '%s' is not a duration (5s, 500ms)", v);
		return -EINVAL;
	}
	c->drain_set = 1;
	return 0;
}

static int set_auth_guard(config_t *c, const char *v, char *err, size_t errlen)
{
	authguard_cfg_t g;

	authguard_cfg_default(&g);
	if (authguard_cfg_parse(&g, v, err, errlen) < 0)
		return -EINVAL;
	return set_str(&c->auth_guard, v);
}

static int set_user(config_t *c, const char *v, char *err, size_t errlen)
{
	if (!*v) {
		snprintf(err, errlen, "user: a user name or number is needed");
		return -EINVAL;
	}
	return set_str(&c->user, v);
}

static int set_group(config_t *c, const char *v, char *err, size_t errlen)
{
	if (!*v) {
		snprintf(err, errlen, "group: a group name or number is needed");
		return -EINVAL;
	}
	return set_str(&c->group, v);
}

static int set_control(config_t *c, const char *v, char *err, size_t errlen)
{
	if (*v && *v != '/') {
		snprintf(err, errlen, "control: an absolute path is needed (or \"\": none)");
		return -EINVAL;
	}
	return set_str(&c->control, v);
}

const config_setting_t config_settings[] = {
    {"log", "log-level", "L", 0, "the log level: err, warn, info, debug, trace", set_log},
    {"log-file", "log-file", "FILE", 0, "log to FILE (opened again on SIGUSR1)", set_log_file},
    {"log-syslog", "log-syslog", NULL, 1,
     "log to syslog (/dev/log; --log-syslog=SOCKET for another)", set_log_syslog},
    {"log-format", "log-format", "F", 0, "text or json (one object a line)", set_log_format},
    {"log-rate", "log-rate", "N", 0,
     "lines a second each source may log (20; 0: no limit); the rest are counted", set_log_rate},
    {"metrics", "metrics", "ADDR", 0,
     "serve /metrics, /health, /ready, /live and /status on IP:PORT", set_metrics},
    {"drain", "drain", "D", 0, "on SIGINT/SIGTERM, wait up to D for connections (5s)", set_drain},
    {"auth-guard", "auth-guard", "S", 0,
     "slow, then ban, sources that fail to log in: \"off\" or "
     "free=3,delay=250ms,max-delay=4s,max-failures=10,window=10m,ban=10m",
     set_auth_guard},
    {"user", "user", "NAME", 0,
     "once listening, run as this user (root: stay root, needed to serve the network as root)",
     set_user},
    {"group", "group", "NAME", 0,
     "with user: this group (default: the user's); a NAME without =URL, unlike a routing "
     "--group",
     set_group},
    {"control", "control", "PATH", 0,
     "the control socket (sluice reload, sluice status); default "
     "$RUNTIME_DIRECTORY/control under systemd, \"\": none",
     set_control},
};
const size_t config_nsettings = sizeof(config_settings) / sizeof(config_settings[0]);

const config_setting_t *config_setting(const char *key)
{
	for (size_t i = 0; i < config_nsettings; i++)
		if (!strcmp(config_settings[i].key, key))
			return &config_settings[i];
	return NULL;
}

int config_set(config_t *c, const config_setting_t *s, const char *v, const char *where, char *err,
               size_t errlen)
{
	char msg[300];

	if (s->set(c, v, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s: %s", where, msg);
		return -EINVAL;
	}
	return 0;
}

static void known_keys(char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "listen, forward, reverse, chains, groups, rules");

	for (size_t i = 0; i < config_nsettings && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, ", %s", config_settings[i].key);
}

int config_load_string(config_t *c, const char *yaml, size_t len, const char *name, char *err,
                       size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t doc;
	yaml_node_t *root;
	ywalk_t w = {&doc, name, "", err, errlen};
	char dir[512];
	const char *slash = strrchr(name, '/');
	int r = 0;

	if (slash && (size_t)(slash - name) < sizeof(dir)) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name), name);
		w.dir = slash == name ? "/" : dir;
	}

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&p, &doc)) {
		snprintf(err, errlen, "%s:%lu: %s", name, (unsigned long)p.problem_mark.line + 1,
		         p.problem ? p.problem : "YAML syntax error");
		yaml_parser_delete(&p);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root)
		goto out; /* empty file */
	if (root->type != YAML_MAPPING_NODE) {
		r = yfail(&w, root, "%s", "the top level must be a map (listen:, forward:, ...)");
		goto out;
	}
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
		const char *ks = scalar(k);
		char where[300];

		if (!ks) {
			r = yfail(&w, k, "%s", "keys must be plain words");
			goto out;
		}
		if (!strcmp(ks, "listen") || !strcmp(ks, "forward") || !strcmp(ks, "reverse")) {
			r = url_list(&w, v,
			             ks[0] == 'l'   ? &c->listen
			             : ks[0] == 'f' ? &c->forward
			                            : &c->reverse,
			             ks);
			if (r < 0)
				goto out;
			continue;
		}
		if (!strcmp(ks, "chains") || !strcmp(ks, "groups") || !strcmp(ks, "rules")) {
			r = ks[0] == 'c'   ? y_chains(&w, c, v)
			    : ks[0] == 'g' ? y_groups(&w, c, v)
			                   : y_rules(&w, c, v);
			if (r < 0)
				goto out;
			continue;
		}
		snprintf(where, sizeof(where), "%s:%lu", name,
		         (unsigned long)k->start_mark.line + 1);
		if (!scalar(v)) {
			r = yfail(&w, v, "'%s' must be a single value", ks);
			goto out;
		}
		if (!config_setting(ks)) {
			char known[400], msg[600];
			known_keys(known, sizeof(known));
			snprintf(msg, sizeof(msg), "unknown key '%s' (known: %s)", ks, known);
			r = yfail(&w, k, "%s", msg);
			goto out;
		}
		if ((r = config_set(c, config_setting(ks), scalar(v), where, err, errlen)) < 0)
			goto out;
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return r;
}

int config_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	struct stat st;
	size_t n = 0, cap;
	char *b;

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISDIR(st.st_mode))
		r = -EISDIR;
	else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		r = -EFBIG;
	if (r < 0) {
		close(fd);
		return r;
	}
	/* a regular file's size, else (a pipe, /dev/stdin) growing as it comes */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : 65536;
	if (cap > max + 2)
		cap = max + 2;
	if (!(b = malloc(cap)))
		abort();
	for (;;) {
		ssize_t k;
		if (n + 1 == cap) {
			cap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			if (!(b = realloc(b, cap)))
				abort();
		}
		k = read(fd, b + n, cap - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r = -errno;
		else if ((n += (size_t)k) > max)
			r = -EFBIG;
		if (k <= 0 || r < 0)
			break;
	}
	close(fd);
	if (r < 0) {
		free(b);
		return r;
	}
	b[n] = 0;
	*out = b;
	*len = n;
	return 0;
}

int config_load_file(config_t *c, const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t n;
	int r = config_read_file(path, 1 << 20, &buf, &n);

	if (r == -EFBIG)
		snprintf(err, errlen, "-c %s: not a config file (over 1 MiB)", path);
	else if (r < 0)
		snprintf(err, errlen, "-c %s: %s", path, strerror(-r));
	if (r < 0)
		return r == -EFBIG ? -EINVAL : r;
	r = config_load_string(c, buf, n, path, err, errlen);
	free(buf);
	return r;
}

static void split_words(strlist_t *l, const char *v)
{
	strlist_clear(l);
	l->set = 1;
	while (*v) {
		size_t n;
		char *w;

		v += strspn(v, " \t\n");
		n = strcspn(v, " \t\n");
		if (!n)
			break;
		w = strndup(v, n);
		if (!w)
			abort();
		strlist_push(l, w);
		free(w);
		v += n;
	}
}

int config_load_env(config_t *c, char **envp, char *err, size_t errlen)
{
	for (; envp && *envp; envp++) {
		const char *e = *envp, *eq = strchr(e, '=');
		char key[64];
		int r;

		if (strncmp(e, "SLUICE_", 7) || !eq || (size_t)(eq - e - 7) >= sizeof(key))
			continue;
		snprintf(key, sizeof(key), "%.*s", (int)(eq - e - 7), e + 7);
		for (char *k = key; *k; k++)
			*k = (char)(*k >= 'A' && *k <= 'Z' ? *k - 'A' + 'a' : *k == '_' ? '-' : *k);
		if (!strcmp(key, "listen")) {
			split_words(&c->listen, eq + 1);
			continue;
		}
		if (!strcmp(key, "forward")) {
			split_words(&c->forward, eq + 1);
			continue;
		}
		if (!strcmp(key, "reverse")) {
			split_words(&c->reverse, eq + 1);
			continue;
		}
		char where[80];
		snprintf(where, sizeof(where), "SLUICE_%.*s", (int)(eq - e - 7), e + 7);
		if (config_setting(key) &&
		    (r = config_set(c, config_setting(key), eq + 1, where, err, errlen)) < 0)
			return r;
	}
	return 0;
}
