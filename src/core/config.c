/* config: see config.h.  The configuration's lists (chains, groups,
 * rules), the settings' table, SLUICE_* variables and the overlay of one
 * layer on another; the YAML file is read in config_yaml.c. */
#include "core/config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/authguard.h"
#include "core/config_priv.h"
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

void config_rules_clear(config_t *c)
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
	config_rules_clear(c);
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
chain_def_t *config_chain_put(config_t *c, const char *name, const char *where)
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

group_def_t *config_group_put(config_t *c, const char *name, const char *where)
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
	d = config_chain_put(c, name, "--chain");
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
	d = config_group_put(c, name, "--group");
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
		chain_def_t *t = &top->chains[i], *d = config_chain_put(base, t->name, t->where);
		d->hops = t->hops;
		memset(&t->hops, 0, sizeof(t->hops));
	}
	for (size_t i = 0; i < top->ngroups; i++) {
		group_def_t *t = &top->groups[i], *d = config_group_put(base, t->name, t->where);
		d->members = t->members;
		d->opts = t->opts;
		memset(&t->members, 0, sizeof(t->members));
		t->opts = NULL;
	}
	if (top->rules_set) {
		config_rules_clear(base);
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
