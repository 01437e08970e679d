/* config_yaml: the configuration file (see config.h): read whole, loaded
 * as a document (libyaml's node API) and walked; anything unexpected is an
 * error that names the key and the line.  Its plain keys are the settings
 * of config.c's table, which SLUICE_* and the command line set too. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/config.h"
#include "core/config_priv.h"
#include "core/log.h"
#include "core/url.h"

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
		d = config_chain_put(c, scalar(k), where);
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
		d = config_group_put(c, scalar(k), where);
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
	config_rules_clear(c);
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
