/* routing: building chains, groups and rules from a configuration, and
 * the router dialer (see routing.h).
 *
 * A router dial: RULES (rules_match) -> [RESOLVING: uv_getaddrinfo, then
 * rules_match_addr, only as routing.h says] -> DIALING (the chosen
 * chain's dial) -> done; or BLOCKED, reported from a timer.  A cancel
 * while resolving marks the request, freed when the resolver returns.
 *
 * A router flow: one inner flow per route (each action of the rules, and
 * "no rule matched"), opened through dgram_open() on the first datagram
 * routed there, so the inner flow holds datagrams while its chain opens.
 * Names that need an address for a CIDR rule are resolved a few at a
 * time (RF_NAMES), their datagrams held meanwhile (dgram_hq), the answer
 * kept RF_NAME_TTL_MS.
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

#define RF_NAMES 8
#define RF_NAME_ADDRS 4
#define RF_NAME_TTL_MS 30000
#define RF_OPEN_TIMEOUT_MS 10000

/* A chain's dialers and what they were built from, shared by the
 * routings built from the same definition (a reload keeps them, and with
 * them their tunnel sessions). */
typedef struct cown {
	int refs;
	dialer_t *head;
	char *key;    /* the definition: chain_key() */
	url_t **urls; /* some hops keep pointers into them */
	size_t nurls;
	dialer_t **groups;
	size_t ngroups;
	int started;
} cown_t;

typedef struct rchain {
	char name[64];
	dialer_t *head;
	char hops[512]; /* for sluice check */
	cown_t *own;
} rchain_t;

struct routing {
	int refs;
	uv_loop_t *loop;
	rchain_t *chains; /* [0] is "default" */
	size_t nchains;
	dialer_t *direct;
	rules_t *rules;
	dialer_t **act;  /* per action of the rules: its chain (NULL: block) */
	uint64_t *count; /* decisions per action, and [nact] for "no rule" */
	size_t nact;
	dialer_t router;
	int started;
};

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

static const dialer_ops_t router_ops;
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

/* ---- deciding ---- */

/* Where a hit sends: its chain, or NULL to block; no rule: "default". */
static dialer_t *route_of(const routing_t *rt, rule_hit_t h)
{
	if (h.index == RULE_NONE)
		return rt->chains[0].head;
	return rt->act[h.action];
}

/* A name may be resolved here for a CIDR rule when its route is this
 * host (direct, or a chain without hops) or nowhere (block). */
static int may_resolve(const routing_t *rt, rule_hit_t h)
{
	dialer_t *via = route_of(rt, h);

	return !via || (dialer_caps(via) & HOP_HOST);
}

static const char *route_name(const routing_t *rt, rule_hit_t h)
{
	return h.index == RULE_NONE ? "default" : rules_action_name(rt->rules, h.action);
}

static void describe_hit(const routing_t *rt, rule_hit_t h, char *buf, size_t len)
{
	char where[300], text[400];
	rule_t r;

	if (h.index == RULE_NONE) {
		snprintf(buf, len, "no rule matched");
		return;
	}
	rules_where(rt->rules, h.index, where, sizeof(where));
	rules_get(rt->rules, h.index, &r);
	rule_format(&r, text, sizeof(text));
	snprintf(buf, len, "%s %s", where, text);
}

/* The first CIDR rule above h that holds one of addrs: the new hit, and
 * the address it saw (ip, for the target); h unchanged if none. */
static rule_hit_t hit_addrs(const routing_t *rt, rule_hit_t h, const struct sockaddr *const *addrs,
                            size_t n, char *ip, size_t iplen)
{
	for (size_t i = 0; i < n; i++) {
		rule_hit_t a = rules_match_addr(rt->rules, addrs[i], h.index);
		if (a.index != RULE_NONE && a.index < h.index) {
			h = a;
			sockaddr_ip(addrs[i], ip, iplen);
		}
	}
	return h;
}

/* ---- the router's dials ---- */

typedef struct rreq {
	routing_t *rt;
	target_t t;
	dial_opts_t o;
	dial_cb cb;
	void *ud;
	rule_hit_t hit;
	dialer_t *via;
	dial_t *inner;
	uv_getaddrinfo_t gai;
	uv_timer_t *timer;
	char name[256]; /* the name, when a CIDR rule turned the target into an address */
	int err;
	unsigned resolving : 1, canceled : 1;
} rreq_t;

static routing_t *router_rt(dialer_t *d)
{
	return (routing_t *)((char *)d - offsetof(routing_t, router));
}

static void rreq_free(rreq_t *q)
{
	if (q->timer)
		uv_close((uv_handle_t *)q->timer, (uv_close_cb)free);
	free(q);
}

static void rr_done(void *ud, stream_t *s, int err)
{
	rreq_t *q = ud;
	dial_cb cb = q->cb;
	void *cud = q->ud;

	q->inner = NULL;
	rreq_free(q);
	cb(cud, s, err);
}

static void rr_failed(uv_timer_t *t)
{
	rreq_t *q = t->data;

	rr_done(q, NULL, q->err);
}

static void rr_fail_soon(rreq_t *q, int err)
{
	q->err = err;
	q->timer = malloc(sizeof(*q->timer));
	if (!q->timer)
		abort();
	uv_timer_init(q->rt->loop, q->timer);
	q->timer->data = q;
	uv_timer_start(q->timer, rr_failed, 0, 0);
}

static void rr_dispatch(rreq_t *q)
{
	routing_t *rt = q->rt;
	char ts[300], why[800];

	q->via = route_of(rt, q->hit);
	rt->count[q->hit.index == RULE_NONE ? rt->nact : q->hit.action]++;
	describe_hit(rt, q->hit, why, sizeof(why));
	if (q->name[0]) {
		target_t named = q->t;
		target_set(&named, q->name, q->t.port);
		target_str(&named, ts, sizeof(ts));
		log_info(q->o.id, "route %s as %s: %s (%s)", ts, q->t.host, route_name(rt, q->hit),
		         why);
	} else {
		target_str(&q->t, ts, sizeof(ts));
		log_info(q->o.id, "route %s: %s (%s)", ts, route_name(rt, q->hit), why);
	}
	if (!q->via) {
		if (q->o.why && q->o.whylen) { /* the client sees the rule, not where it is kept */
			rule_t r;
			char text[400] = "of the default";
			if (q->hit.index != RULE_NONE) {
				rules_get(rt->rules, q->hit.index, &r);
				rule_format(&r, text, sizeof(text));
			}
			snprintf(q->o.why, q->o.whylen, "blocked by the rule %s", text);
		}
		rr_fail_soon(q, UV_EACCES);
		return;
	}
	if (!(q->inner = q->via->ops->dial(q->via, &q->t, &q->o, rr_done, q)))
		rr_fail_soon(q, UV_ENOMEM);
}

static void rr_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
	rreq_t *q = gai->data;
	const struct sockaddr *addrs[16];
	char ip[64] = "";
	size_t n = 0;

	q->resolving = 0;
	if (q->canceled) {
		if (res)
			uv_freeaddrinfo(res);
		rreq_free(q);
		return;
	}
	for (struct addrinfo *a = res; a && n < 16; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			addrs[n++] = a->ai_addr;
	if (status < 0)
		log_debug(q->o.id, "route: %s did not resolve here (%s): the rules above decide",
		          q->t.host, uv_strerror(status));
	q->hit = hit_addrs(q->rt, q->hit, addrs, n, ip, sizeof(ip));
	if (ip[0]) { /* a CIDR rule decided: the connection goes where it looked */
		snprintf(q->name, sizeof(q->name), "%s", q->t.host);
		target_set(&q->t, ip, q->t.port);
	}
	if (res)
		uv_freeaddrinfo(res);
	rr_dispatch(q);
}

static dial_t *router_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                           void *ud)
{
	routing_t *rt = router_rt(d);
	rreq_t *q = calloc(1, sizeof(*q));
	route_query_t rq = {.host = t->host, .port = t->port, .client = o->peer};
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int need;

	if (!q)
		abort();
	q->rt = rt;
	q->t = *t;
	q->o = *o;
	q->cb = cb;
	q->ud = ud;
	q->hit = rules_match(rt->rules, &rq, &need);
	if (need && may_resolve(rt, q->hit)) {
		q->gai.data = q;
		q->resolving = 1;
		if (uv_getaddrinfo(rt->loop, &q->gai, rr_resolved, t->host, NULL, &hints) == 0)
			return (dial_t *)q;
		q->resolving = 0;
	}
	rr_dispatch(q);
	return (dial_t *)q;
}

static void router_cancel(dialer_t *d, dial_t *req)
{
	rreq_t *q = (rreq_t *)req;

	if (q->resolving) {
		q->canceled = 1;
		uv_cancel((uv_req_t *)&q->gai);
		return;
	}
	if (q->inner)
		q->via->ops->cancel(q->via, q->inner);
	rreq_free(q);
}

/* ---- the router's datagram flows ---- */

typedef struct rflow rflow_t;

typedef struct rin {
	rflow_t *rf;
	dgram_t *f;
	int told; /* refused, logged once */
} rin_t;

typedef struct rname {
	rflow_t *rf; /* NULL: the flow closed while this resolved */
	char host[256];
	uv_getaddrinfo_t gai;
	struct sockaddr_storage addr[RF_NAME_ADDRS];
	size_t naddr;
	uint64_t at;
	dgram_hq_t held;
	int resolving;
} rname_t;

struct rflow {
	dgram_t f;
	routing_t *rt;
	dial_opts_t o;
	struct sockaddr_storage peer;
	rin_t *in; /* per action, and [nact] for "no rule" */
	rname_t *names[RF_NAMES];
};

static void rin_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	rin_t *in = f->data;

	dgram_deliver(&in->rf->f, src, b);
}

static void rin_error(dgram_t *f, int err)
{
	rin_t *in = f->data;

	log_info(in->rf->f.id, "route: a datagram flow ended (%s); the next datagram opens another",
	         uv_strerror(err));
	dgram_close(f);
	in->f = NULL;
}

static const dgram_cbs_t rin_cbs = {rin_recv, rin_error, NULL};

static void rf_deliver(rflow_t *rf, rule_hit_t h, const target_t *dst, sbuf_t *b)
{
	routing_t *rt = rf->rt;
	size_t slot = h.index == RULE_NONE ? rt->nact : h.action;
	rin_t *in = &rf->in[slot];
	dialer_t *via = route_of(rt, h);
	const dialer_t *stop;
	char ts[300], hop[300];

	rt->count[slot]++;
	if (!via || (stop = chain_dgram_blocker(via))) {
		if (!in->told) {
			target_str(dst, ts, sizeof(ts));
			if (via)
				dialer_name(stop, hop, sizeof(hop));
			log_info(rf->f.id, "route: UDP to %s refused: %s%s%s", ts,
			         via ? "the chain's hop " : "blocked by the rules", via ? hop : "",
			         via ? " cannot carry datagrams" : "");
			in->told = 1;
		}
		dgram_drop(&rf->f, DGRAM_DROP_REFUSED, b);
		return;
	}
	if (!in->f)
		in->f = dgram_open(via, &rf->o, RF_OPEN_TIMEOUT_MS, &rin_cbs, in);
	rf->f.sent++;
	dgram_send(in->f, dst, b);
}

/* With a resolved name: the CIDR rules above h decide. */
static void rf_route_resolved(rflow_t *rf, const rname_t *n, rule_hit_t h, const target_t *dst,
                              sbuf_t *b)
{
	const struct sockaddr *addrs[RF_NAME_ADDRS];
	target_t t = *dst;
	char ip[64] = "";

	for (size_t i = 0; i < n->naddr; i++)
		addrs[i] = (const struct sockaddr *)&n->addr[i];
	h = hit_addrs(rf->rt, h, addrs, n->naddr, ip, sizeof(ip));
	if (ip[0])
		target_set(&t, ip, dst->port);
	rf_deliver(rf, h, &t, b);
}

static rule_hit_t rf_match(rflow_t *rf, const target_t *dst, int *need)
{
	route_query_t q = {.host = dst->host, .port = dst->port, .client = rf->o.peer, .udp = 1};

	return rules_match(rf->rt->rules, &q, need);
}

static void rname_free(rname_t *n)
{
	dgram_hq_clear(&n->held);
	free(n);
}

static void rf_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
	rname_t *n = gai->data;
	rflow_t *rf = n->rf;
	target_t dst;
	sbuf_t *b;
	int need;

	n->resolving = 0;
	n->naddr = 0;
	for (struct addrinfo *a = res; status == 0 && a && n->naddr < RF_NAME_ADDRS; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			memcpy(&n->addr[n->naddr++], a->ai_addr, a->ai_addrlen);
	if (res)
		uv_freeaddrinfo(res);
	if (!rf) {
		rname_free(n);
		return;
	}
	n->at = uv_now(rf->rt->loop);
	while (dgram_hq_pop(&n->held, &dst, &b))
		rf_route_resolved(rf, n, rf_match(rf, &dst, &need), &dst, b);
}

/* The resolution of host: one under way or recent, or a new one (the
 * oldest finished one makes room); NULL when all RF_NAMES are resolving. */
static rname_t *rf_name(rflow_t *rf, const char *host, int *fresh)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	uint64_t now = uv_now(rf->rt->loop);
	rname_t *n;
	size_t slot = RF_NAMES;

	*fresh = 0;
	for (size_t i = 0; i < RF_NAMES; i++) {
		n = rf->names[i];
		if (n && !strcmp(n->host, host) && (n->resolving || now - n->at < RF_NAME_TTL_MS))
			return n;
	}
	for (size_t i = 0; i < RF_NAMES; i++) {
		n = rf->names[i];
		if (!n || (!n->resolving &&
		           (slot == RF_NAMES || !rf->names[slot] || n->at < rf->names[slot]->at)))
			slot = i;
		if (!n)
			break;
	}
	if (slot == RF_NAMES)
		return NULL;
	if (rf->names[slot])
		rname_free(rf->names[slot]);
	n = calloc(1, sizeof(*n));
	if (!n)
		abort();
	n->rf = rf;
	snprintf(n->host, sizeof(n->host), "%s", host);
	n->gai.data = n;
	n->resolving = 1;
	rf->names[slot] = n;
	if (uv_getaddrinfo(rf->rt->loop, &n->gai, rf_resolved, host, NULL, &hints) < 0) {
		n->resolving = 0;
		n->at = now;
	} else {
		*fresh = 1;
	}
	return n;
}

static int rf_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	rflow_t *rf = (rflow_t *)f;
	rule_hit_t h;
	rname_t *n;
	int need, fresh;

	h = rf_match(rf, dst, &need);
	if (!need || !may_resolve(rf->rt, h)) {
		rf_deliver(rf, h, dst, b);
		return 0;
	}
	if (!(n = rf_name(rf, dst->host, &fresh))) {
		dgram_drop(f, DGRAM_DROP_RESOLVE, b);
		return 0;
	}
	if (n->resolving) {
		if (dgram_hq_push(&n->held, dst, b) < 0)
			dgram_drop(f, DGRAM_DROP_QUEUE, NULL);
		return 0;
	}
	rf_route_resolved(rf, n, h, dst, b);
	return 0;
}

static void rf_close(dgram_t *f)
{
	rflow_t *rf = (rflow_t *)f;

	for (size_t i = 0; i <= rf->rt->nact; i++)
		dgram_close(rf->in[i].f);
	for (size_t i = 0; i < RF_NAMES; i++) {
		rname_t *n = rf->names[i];
		if (!n)
			continue;
		if (n->resolving) {
			n->rf = NULL; /* freed when the resolver returns */
			dgram_hq_clear(&n->held);
			uv_cancel((uv_req_t *)&n->gai);
		} else {
			rname_free(n);
		}
	}
	free(rf->in);
	routing_unref(rf->rt);
	free(rf);
}

static const dgram_ops_t rflow_ops = {"rules", rf_send, rf_close};

static dial_t *router_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	routing_t *rt = router_rt(d);
	rflow_t *rf = calloc(1, sizeof(*rf));

	if (!rf)
		abort();
	dgram_init(&rf->f, &rflow_ops, o->id);
	rf->rt = routing_ref(rt);
	rf->o = *o;
	rf->o.why = NULL;
	rf->o.cred = NULL;
	if (o->peer) {
		memcpy(&rf->peer, o->peer,
		       o->peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                      : sizeof(struct sockaddr_in));
		rf->o.peer = (struct sockaddr *)&rf->peer;
	}
	rf->in = calloc(rt->nact + 1, sizeof(*rf->in));
	if (!rf->in)
		abort();
	for (size_t i = 0; i <= rt->nact; i++)
		rf->in[i].rf = rf;
	return dgram_ready_soon(rt->loop, &rf->f, cb, ud);
}

static void router_dgram_cancel(dialer_t *d, dial_t *req)
{
	dgram_ready_cancel(req);
}

/* A dns:// listener through the rules asks the route of everything else:
 * MATCH's chain, or default. */
static int router_dns(const dialer_t *d, struct sockaddr_storage *out, size_t max)
{
	routing_t *rt = router_rt((dialer_t *)d);
	uint32_t m = rules_first_match_all(rt->rules);
	rule_hit_t h = {m, m == RULE_NONE ? 0 : rules_action_of(rt->rules, m)};
	dialer_t *via = route_of(rt, h);

	return via ? chain_dns_servers(via, out, max) : UV_ENOTSUP;
}

static void router_free(dialer_t *d)
{
	/* part of the routing */
}

static const dialer_ops_t router_ops = {
    .scheme = "rules",
    .dial = router_dial,
    .cancel = router_cancel,
    .free = router_free,
    .dgram = router_dgram,
    .dgram_cancel = router_dgram_cancel,
    .dns_servers = router_dns,
    .caps = HOP_STREAMS | HOP_DATAGRAMS,
};

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
