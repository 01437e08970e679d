/* config: see config.h.  The YAML is loaded as a document (libyaml's node
 * API) and walked; anything unexpected is an error that names the key and
 * the line. */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/authguard.h"
#include "core/log.h"
#include "core/url.h"

void config_init(config_t *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = -1;
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

void config_free(config_t *c)
{
	strlist_clear(&c->listen);
	strlist_clear(&c->forward);
	free(c->metrics);
	free(c->auth_guard);
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

void config_merge(config_t *base, config_t *top)
{
	list_take(&base->listen, &top->listen);
	list_take(&base->forward, &top->forward);
	if (top->metrics) {
		free(base->metrics);
		base->metrics = top->metrics;
		top->metrics = NULL;
	}
	if (top->auth_guard) {
		free(base->auth_guard);
		base->auth_guard = top->auth_guard;
		top->auth_guard = NULL;
	}
	if (top->log_level >= 0)
		base->log_level = top->log_level;
	if (top->drain_set) {
		base->drain_ms = top->drain_ms;
		base->drain_set = 1;
	}
}

/* ---- YAML ---- */

typedef struct ywalk {
	yaml_document_t *doc;
	const char *name;
	char *err;
	size_t errlen;
} ywalk_t;

static int yfail(ywalk_t *w, yaml_node_t *n, const char *fmt, const char *what)
{
	char msg[200];

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

static int apply_key(config_t *c, const char *k, const char *v, char *err, size_t errlen,
                     const char *where)
{
	if (!strcmp(k, "log")) {
		int lvl = log_level_parse(v);
		if (lvl < 0) {
			snprintf(err, errlen, "%s: log level '%s' is not err/warn/info/debug/trace",
			         where, v);
			return -EINVAL;
		}
		c->log_level = lvl;
	} else if (!strcmp(k, "metrics")) {
		free(c->metrics);
		c->metrics = xstrdup(v);
	} else if (!strcmp(k, "drain")) {
		if (parse_duration_ms(v, &c->drain_ms) < 0) {
			snprintf(err, errlen, "%s: drain '%s' is not a duration (5s, 500ms)", where,
			         v);
			return -EINVAL;
		}
		c->drain_set = 1;
	} else if (!strcmp(k, "auth-guard")) {
		authguard_cfg_t g;
		char msg[160];
		authguard_cfg_default(&g);
		if (authguard_cfg_parse(&g, v, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s: %s", where, msg);
			return -EINVAL;
		}
		free(c->auth_guard);
		c->auth_guard = xstrdup(v);
	} else {
		return 1;
	}
	return 0;
}

int config_load_string(config_t *c, const char *yaml, size_t len, const char *name, char *err,
                       size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t doc;
	yaml_node_t *root;
	ywalk_t w = {&doc, name, err, errlen};
	int r = 0;

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
		if (!strcmp(ks, "listen") || !strcmp(ks, "forward")) {
			r = url_list(&w, v, ks[0] == 'l' ? &c->listen : &c->forward, ks);
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
		r = apply_key(c, ks, scalar(v), err, errlen, where);
		if (r > 0) {
			r = yfail(&w, k,
			          "unknown key '%s' (known: listen, forward, log, metrics, drain, "
			          "auth-guard)",
			          ks);
			goto out;
		}
		if (r < 0)
			goto out;
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return r;
}

int config_load_file(config_t *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	int r;

	if (!f) {
		snprintf(err, errlen, "-c %s: %s", path, strerror(errno));
		return -errno;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n < 0 || n > (1 << 20)) {
		fclose(f);
		snprintf(err, errlen, "-c %s: not a config file (over 1 MiB)", path);
		return -EINVAL;
	}
	buf = malloc((size_t)n + 1);
	if (!buf)
		abort();
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		snprintf(err, errlen, "-c %s: read error", path);
		return -EIO;
	}
	fclose(f);
	r = config_load_string(c, buf, (size_t)n, path, err, errlen);
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
		char where[80];
		snprintf(where, sizeof(where), "SLUICE_%.*s", (int)(eq - e - 7), e + 7);
		r = apply_key(c, key, eq + 1, err, errlen, where);
		if (r < 0)
			return r;
	}
	return 0;
}
