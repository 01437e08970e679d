/* routing: building chains, groups and rules from a configuration, the
 * routing that is in force, and its metrics (see routing.h).
 *
 * A chain's dialers are kept in a cown_t keyed by its definition, so a
 * reload that builds a routing from the same definition shares them (and
 * their tunnel sessions) with the old one.  The router dialer, which
 * decides per connection and per datagram, is router.c; the structures
 * both read are routing_priv.h.
 */
#include "core/route/routing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cred.h"
#include "core/crypto.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/route/group.h"
#include "core/route/routing_priv.h"

static routing_t *current;

/* ---- building ---- */

static void cown_unref(cown_t *o)
{
	if (!o || --o->refs > 0)
		return;
	chain_free(o->head);
	for (size_t i = 0; i < o->nurls; i++)
		url_free(o->urls[i]);
	free(o->urls);
	free(o->groups);
	free(o->key);
	free(o);
}

static void keep_url(cown_t *o, url_t *u)
{
	o->urls = realloc(o->urls, (o->nurls + 1) * sizeof(*o->urls));
	if (!o->urls)
		abort();
	o->urls[o->nurls++] = u;
}

/* Everything a chain is built from: its hops, the groups it names with
 * their options and members, the files their options name. */
static char *chain_key(const config_t *cfg, const strlist_t *hops)
{
	char *k = NULL;
	size_t len = 0;

	cred_str_append(&k, &len, "");
	for (size_t i = 0; i < hops->n; i++) {
		const group_def_t *gd;
		cred_url_key(&k, &len, hops->v[i]);
		if (strncmp(hops->v[i], "group://", 8) || !(gd = config_group(cfg, hops->v[i] + 8)))
			continue;
		cred_str_append(&k, &len, gd->opts ? gd->opts : "");
		cred_str_append(&k, &len, "\n");
		for (size_t j = 0; j < gd->members.n; j++)
			cred_url_key(&k, &len, gd->members.v[j]);
	}
	return k;
}

static void prefix_err(char *err, size_t errlen, const char *prefix)
{
	char msg[512];

	if (!prefix[0])
		return;
	snprintf(msg, sizeof(msg), "%s", err);
	snprintf(err, errlen, "%s: %s", prefix, msg);
}

static int parse_keep(cown_t *o, const char *s, url_t **u, char *err, size_t errlen)
{
	int r = url_parse(s, u, err, errlen);

	if (r == 0)
		keep_url(o, *u);
	return r;
}

static void group_names(const config_t *cfg, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < cfg->ngroups && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", cfg->groups[i].name);
	if (!cfg->ngroups)
		snprintf(buf, len, "none");
}

/* group://NAME in a chain: the group's definition built on prev. */
static int build_group(routing_t *rt, cown_t *own, const config_t *cfg, url_t *ref, dialer_t *prev,
                       const char *chain, dialer_t **out, char *err, size_t errlen)
{
	const group_def_t *gd = config_group(cfg, ref->host);
	url_t *gu, **members;
	char buf[2048], names[256];
	int r;

	if (!gd) {
		group_names(cfg, names, sizeof(names));
		snprintf(err, errlen, "group://%s: no group '%s' (groups: %s)", ref->host,
		         ref->host, names);
		return -EINVAL;
	}
	if (ref->nopts || ref->port >= 0 || ref->path[0] || ref->user) {
		snprintf(err, errlen,
		         "group://%s: a group is named only; its options belong in its definition "
		         "(%s)",
		         ref->host, gd->where);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "group://%s%s%s", gd->name, gd->opts ? "?" : "",
	         gd->opts ? gd->opts : "");
	if ((r = parse_keep(own, buf, &gu, err, errlen)) < 0)
		return r;
	members = calloc(gd->members.n + 1, sizeof(*members));
	if (!members)
		abort();
	for (size_t i = 0; i < gd->members.n; i++)
		if ((r = parse_keep(own, gd->members.v[i], &members[i], err, errlen)) < 0) {
			free(members);
			snprintf(buf, sizeof(buf), "group %s (%s)", gd->name, gd->where);
			prefix_err(err, errlen, buf);
			return r;
		}
	r = group_new(rt->loop, gu, members, gd->members.n, prev, chain, out, err, errlen);
	free(members);
	if (r < 0) {
		snprintf(buf, sizeof(buf), "(%s)", gd->where);
		prefix_err(err, errlen, buf);
		return r;
	}
	own->groups = realloc(own->groups, (own->ngroups + 1) * sizeof(*own->groups));
	if (!own->groups)
		abort();
	own->groups[own->ngroups++] = *out;
	return 0;
}

/* A chain from its hop URLs, as chain_build does, with groups. */
/* The chain of old whose definition is key, or NULL. */
static cown_t *cown_find(const routing_t *old, const char *key)
{
	for (size_t i = 0; old && i < old->nchains; i++)
		if (old->chains[i].own && !strcmp(old->chains[i].own->key, key))
			return old->chains[i].own;
	return NULL;
}

static int build_chain(routing_t *rt, const routing_t *old, const config_t *cfg, const char *name,
                       const strlist_t *hops, const char *where, char *err, size_t errlen)
{
	dialer_t *d, *h;
	char prefix[200], hop[400];
	rchain_t *c;
	cown_t *own;
	char *key = chain_key(cfg, hops);
	size_t o = 0;
	int r;

	snprintf(prefix, sizeof(prefix), "%s: chain %s", where, name);
	rt->chains = realloc(rt->chains, (rt->nchains + 1) * sizeof(*rt->chains));
	if (!rt->chains)
		abort();
	c = &rt->chains[rt->nchains];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	if ((own = cown_find(old, key))) { /* the same as before: its hops and sessions */
		const rchain_t *oc = NULL;
		for (size_t i = 0; i < old->nchains; i++)
			if (old->chains[i].own == own)
				oc = &old->chains[i];
		own->refs++;
		free(key);
		c->own = own;
		c->head = own->head;
		snprintf(c->hops, sizeof(c->hops), "%s", oc->hops);
		rt->nchains++;
		log_debug(0, "chain %s: kept as it was", name);
		return 0;
	}
	own = calloc(1, sizeof(*own));
	if (!own)
		abort();
	own->refs = 1;
	own->key = key;
	d = direct_dialer_new(rt->loop);
	for (size_t i = 0; i < hops->n; i++) {
		url_t *u;
		if ((r = parse_keep(own, hops->v[i], &u, err, errlen)) < 0)
			goto fail;
		if (!strcmp(u->scheme, "group"))
			r = build_group(rt, own, cfg, u, d, name, &h, err, errlen);
		else
			r = hop_build(rt->loop, u, d, &h, err, errlen);
		if (r < 0)
			goto fail;
		d = h;
		if (strcmp(u->scheme, "group")) { /* the URL's scheme: a hop's ops may be shared */
			char t[300];
			target_str(&d->server, t, sizeof(t));
			snprintf(hop, sizeof(hop), "%s://%s", u->scheme, t);
		} else {
			dialer_name(d, hop, sizeof(hop));
		}
		o += (size_t)snprintf(c->hops + o, o < sizeof(c->hops) ? sizeof(c->hops) - o : 0,
		                      "%s%s", i ? " " : "", hop);
		if (o >= sizeof(c->hops))
			o = sizeof(c->hops);
	}
	if (!hops->n)
		snprintf(c->hops, sizeof(c->hops), "direct");
	c->head = own->head = d;
	c->own = own;
	rt->nchains++;
	return 0;
fail:
	own->head = d;
	cown_unref(own);
	if (strcmp(where, "-F")) {
		prefix_err(err, errlen, prefix);
	} else { /* as chain_build says it */
		snprintf(hop, sizeof(hop), "%s", err);
		snprintf(err, errlen, "-F %s", hop);
	}
	return r;
}

static rchain_t *chain_find(const routing_t *rt, const char *name)
{
	for (size_t i = 0; i < rt->nchains; i++)
		if (!strcmp(rt->chains[i].name, name))
			return &rt->chains[i];
	return NULL;
}

void routing_chain_names(const routing_t *rt, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < rt->nchains && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s, ", rt->chains[i].name);
	if (o < len)
		snprintf(buf + o, len - o, "direct");
}

static int build_rules(routing_t *rt, const config_t *cfg, char *err, size_t errlen)
{
	rules_t *rs = rules_new();
	char names[512], where[300];
	int r;

	rt->rules = rs;
	for (size_t i = 0; i < cfg->nrules; i++) {
		const rule_def_t *d = &cfg->rules[i];
		if (d->file) {
			if ((r = rules_load_file(rs, d->file, d->action, err, errlen)) < 0) {
				if (d->line) {
					snprintf(where, sizeof(where), "%s:%u", d->src, d->line);
					prefix_err(err, errlen, where);
				}
				return r;
			}
			continue;
		}
		rule_t rule;
		char why[300];
		if ((r = rule_parse(d->text, strlen(d->text), NULL, &rule, why, sizeof(why))) < 0) {
			if (d->line)
				snprintf(err, errlen, "%s:%u: %s", d->src, d->line, why);
			else
				snprintf(err, errlen, "%s '%s': %s", d->src, d->text, why);
			return r;
		}
		if (r > 0 && rules_add(rs, &rule, d->src, d->line) < 0) {
			snprintf(err, errlen, "%s: too many rules", d->src);
			return -E2BIG;
		}
	}
	/* bind every action to its chain */
	rt->nact = rules_nactions(rs);
	rt->act = calloc(rt->nact, sizeof(*rt->act));
	rt->count = calloc(rt->nact + 1, sizeof(*rt->count));
	if (!rt->act || !rt->count)
		abort();
	rt->act[RULE_ACT_DIRECT] = rt->direct;
	rt->act[RULE_ACT_BLOCK] = NULL;
	for (size_t a = 2; a < rt->nact; a++) {
		rchain_t *c = chain_find(rt, rules_action_name(rs, (uint16_t)a));
		if (!c) {
			rules_action_where(rs, (uint16_t)a, where, sizeof(where));
			routing_chain_names(rt, names, sizeof(names));
			snprintf(err, errlen, "%s: no chain '%s' (chains: %s; or block)", where,
			         rules_action_name(rs, (uint16_t)a), names);
			return -EINVAL;
		}
		rt->act[a] = c->head;
	}
	if (rules_first_match_all(rs) != RULE_NONE &&
	    rules_first_match_all(rs) + 1 < rules_count(rs)) {
		rules_where(rs, rules_first_match_all(rs), where, sizeof(where));
		log_warn(0, "rules: the %zu rules after MATCH at %s never match",
		         rules_count(rs) - rules_first_match_all(rs) - 1, where);
	}
	return 0;
}

static void metrics_fn(mbuf_t *b, void *ud);

static void routing_free(routing_t *rt)
{
	metrics_unregister(metrics_fn, rt);
	for (size_t i = 0; i < rt->nchains; i++)
		cown_unref(rt->chains[i].own);
	free(rt->chains);
	if (rt->direct)
		rt->direct->ops->free(rt->direct);
	rules_free(rt->rules);
	free(rt->act);
	free(rt->count);
	free(rt);
}

int routing_build(uv_loop_t *loop, const config_t *cfg, const routing_t *old, routing_t **out,
                  char *err, size_t errlen)
{
	routing_t *rt = calloc(1, sizeof(*rt));
	const chain_def_t *def = config_chain(cfg, "default");
	int r;

	if (!rt)
		abort();
	*out = NULL;
	rt->refs = 1;
	rt->loop = loop;
	rt->direct = direct_dialer_new(loop);
	rt->router = (dialer_t){.ops = &router_ops, .loop = loop};
	if (def && cfg->forward.n) {
		snprintf(
		    err, errlen,
		    "%s: the chain 'default' is the -F (forward:) chain: give one or the other",
		    def->where);
		r = -EINVAL;
		goto fail;
	}
	if ((r = build_chain(rt, old, cfg, "default", def ? &def->hops : &cfg->forward,
	                     def ? def->where : "-F", err, errlen)) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->nchains; i++) {
		const chain_def_t *c = &cfg->chains[i];
		if (c == def)
			continue;
		if ((r = build_chain(rt, old, cfg, c->name, &c->hops, c->where, err, errlen)) < 0)
			goto fail;
	}
	for (size_t i = 0; i < cfg->ngroups; i++) {
		int used = 0;
		for (size_t c = 0; c < rt->nchains; c++)
			for (size_t k = 0; k < rt->chains[c].own->ngroups; k++) {
				char n[300];
				dialer_name(rt->chains[c].own->groups[k], n, sizeof(n));
				used |= !strcmp(n + strlen("group://"), cfg->groups[i].name);
			}
		if (!used)
			log_warn(0, "%s: group %s is in no chain (a chain names it as group://%s)",
			         cfg->groups[i].where, cfg->groups[i].name, cfg->groups[i].name);
	}
	if (cfg->nrules && (r = build_rules(rt, cfg, err, errlen)) < 0)
		goto fail;
	metrics_register(metrics_fn, rt);
	*out = rt;
	return 0;
fail:
	routing_free(rt);
	return r;
}

void routing_start(routing_t *rt)
{
	if (!rt || rt->started)
		return;
	rt->started = 1;
	for (size_t c = 0; c < rt->nchains; c++)
		for (size_t i = 0; i < rt->chains[c].own->ngroups; i++)
			group_start(rt->chains[c].own->groups[i]);
}

routing_t *routing_ref(routing_t *rt)
{
	if (rt)
		rt->refs++;
	return rt;
}

void routing_unref(routing_t *rt)
{
	if (rt && --rt->refs == 0)
		routing_free(rt);
}

void routing_install(routing_t *rt)
{
	routing_t *old = current;

	current = rt;
	routing_unref(old);
}

routing_t *routing_current(void)
{
	return current;
}

dialer_t *routing_dialer(routing_t *rt, const char *via)
{
	rchain_t *c;

	if (!via)
		return rt->rules ? &rt->router : rt->chains[0].head;
	if (!strcmp(via, "direct"))
		return rt->direct;
	c = chain_find(rt, via);
	return c ? c->head : NULL;
}

void routing_chains(const routing_t *rt, routing_chain_fn fn, void *ud)
{
	for (size_t i = 0; i < rt->nchains; i++)
		fn(ud, rt->chains[i].name, rt->chains[i].hops, rt->chains[i].head);
}

void routing_deps(const routing_t *rt, const dialer_t *d, routing_chain_fn fn, void *ud)
{
	if (d != &rt->router) {
		for (size_t i = 0; i < rt->nchains; i++)
			if (rt->chains[i].head == d) {
				fn(ud, rt->chains[i].name, rt->chains[i].hops, rt->chains[i].head);
				return;
			}
		return; /* direct */
	}
	for (size_t i = 0; i < rt->nchains; i++) {
		int used = i == 0; /* "default": where no rule matches */
		for (size_t a = 2; a < rt->nact && !used; a++)
			used = rt->act[a] == rt->chains[i].head;
		if (used)
			fn(ud, rt->chains[i].name, rt->chains[i].hops, rt->chains[i].head);
	}
}

const rules_t *routing_rules(const routing_t *rt)
{
	return rt->rules;
}

int routing_action_is_direct(const routing_t *rt, uint32_t a)
{
	dialer_t *via = a == RULE_NONE ? rt->chains[0].head : a < rt->nact ? rt->act[a] : NULL;

	return via && (dialer_caps(via) & HOP_HOST);
}

size_t routing_nchains(const routing_t *rt)
{
	return rt->nchains + 1;
}

void routing_describe(const routing_t *rt, void (*line)(void *ud, const char *s), void *ud)
{
	char buf[700];

	for (size_t i = 0; i < rt->nchains; i++) {
		snprintf(buf, sizeof(buf), "chain   %s: %s", rt->chains[i].name,
		         rt->chains[i].hops);
		line(ud, buf);
	}
	if (rt->rules) {
		snprintf(buf, sizeof(buf), "rules   %zu", rules_count(rt->rules));
		line(ud, buf);
	}
}

/* ---- metrics ---- */

static void metrics_fn(mbuf_t *b, void *ud)
{
	routing_t *rt = ud;
	char lab[120];

	if (!rt->rules)
		return;
	metrics_sample(b, "sluice_rules", "gauge", "Rules in force.", "",
	               (uint64_t)rules_count(rt->rules));
	for (size_t a = 0; a <= rt->nact; a++)
		metrics_sample(b, "sluice_route_decisions_total", "counter",
		               "Connections and datagrams the rules sent each way.",
		               metrics_label(lab, sizeof(lab), "route",
		                             a == rt->nact
		                                 ? "default"
		                                 : rules_action_name(rt->rules, (uint16_t)a)),
		               rt->count[a]);
}
