/* health: see health.h.  Everything is computed when asked: a request
 * walks the listeners and their chains (a few dialers each). */
#include "core/health.h"

#include <stdio.h>
#include <string.h>

#include "core/conn.h"
#include "core/json.h"
#include "core/route/group.h"
#include "core/route/routing.h"

static listener_t **hl;
static size_t nhl;
static int started, draining;

void health_listeners(listener_t **ls, size_t n)
{
	hl = ls;
	nhl = n;
}

void health_started(int s)
{
	started = s;
}

void health_draining(void)
{
	draining = 1;
}

/* "sstp://vpn.example.org:443": a session's name from its kind and server. */
static void session_name(const dialer_t *d, const hop_session_t *s, char *buf, size_t len)
{
	char t[300];

	if (s->named) {
		snprintf(buf, len, "%s://%s", s->kind, d->server.host);
		return;
	}
	target_str(&d->server, t, sizeof(t));
	snprintf(buf, len, "%s://%s", s->kind, t);
}

static int session_of(const dialer_t *d, hop_session_t *s)
{
	if (!d->ops->session)
		return 0;
	memset(s, 0, sizeof(*s));
	d->ops->session(d, s);
	return 1;
}

/* ---- the check ---- */

typedef struct hcheck {
	const listener_t *l;
	char *why;
	size_t len;
	int ok;
} hcheck_t;

static void check_chain(hcheck_t *h, const char *chain, dialer_t *head)
{
	hop_session_t s;
	char name[400];

	for (const dialer_t *d = head; d && h->ok; d = d->next) {
		if (!session_of(d, &s) || s.ok)
			continue;
		session_name(d, &s, name, sizeof(name));
		h->ok = 0;
		snprintf(h->why, h->len, "%s: %s%s%s%s is %s%s%s", h->l->name,
		         chain ? "chain " : "", chain ? chain : "", chain ? ": " : "", name,
		         s.state, s.why[0] ? ": " : "", s.why);
	}
}

static void check_dep(void *ud, const char *name, const char *hops, dialer_t *head)
{
	check_chain(ud, name, head);
}

int health_check(char *why, size_t len)
{
	routing_t *rt = routing_current();
	hcheck_t h = {.why = why, .len = len, .ok = 1};

	if (len)
		why[0] = 0;
	for (size_t i = 0; i < nhl && h.ok; i++) {
		listener_t *l = hl[i];
		h.l = l;
		if (!l->listening) {
			snprintf(why, len, "%s: not listening", l->name);
			return 0;
		}
		if (!l->routed)
			check_chain(&h, NULL, l->chain);
		else if (rt)
			routing_deps(rt, routing_dialer(rt, l->via), check_dep, &h);
	}
	return h.ok;
}

/* ---- /status ---- */

static void jstr(mbuf_t *b, const char *key, const char *v, int comma)
{
	char e[1024];

	json_escape(e, sizeof(e), v);
	mbuf_printf(b, "%s\"%s\":\"%s\"", comma ? "," : "", key, e);
}

/* Every session of the current routing's chains and the listeners' own
 * chains, once each: fn(ud, d, its name, its state). */
typedef void (*session_fn)(void *ud, const dialer_t *d, const char *name, const hop_session_t *s);

typedef struct swalk {
	const dialer_t *d[64];
	size_t n;
	session_fn fn;
	void *ud;
} swalk_t;

static void walk_chain(swalk_t *w, const dialer_t *head)
{
	hop_session_t s;
	char name[400];

	for (const dialer_t *d = head; d; d = d->next) {
		size_t i;
		for (i = 0; i < w->n && w->d[i] != d; i++)
			;
		if (i < w->n || w->n == sizeof(w->d) / sizeof(w->d[0]) || !session_of(d, &s))
			continue;
		w->d[w->n++] = d;
		session_name(d, &s, name, sizeof(name));
		w->fn(w->ud, d, name, &s);
	}
}

static void walk_dep(void *ud, const char *name, const char *hops, dialer_t *head)
{
	walk_chain(ud, head);
}

static void sessions_walk(session_fn fn, void *ud)
{
	routing_t *rt = routing_current();
	swalk_t w = {.n = 0, .fn = fn, .ud = ud};

	if (rt)
		routing_chains(rt, walk_dep, &w);
	for (size_t i = 0; i < nhl; i++)
		if (!hl[i]->routed)
			walk_chain(&w, hl[i]->chain);
}

typedef struct out {
	mbuf_t *b;
	size_t n;
	uint64_t now;
} out_t;

static uint64_t uptime_s(const out_t *o, const hop_session_t *s)
{
	return s->since ? (o->now - s->since) / 1000 : 0;
}

static void session_json(void *ud, const dialer_t *d, const char *name, const hop_session_t *s)
{
	out_t *o = ud;
	char peer[300] = "";

	if (!s->named)
		target_str(&d->server, peer, sizeof(peer));
	mbuf_printf(o->b, "%s{", o->n++ ? "," : "");
	jstr(o->b, "name", name, 0);
	jstr(o->b, "kind", s->kind, 1);
	jstr(o->b, "state", s->state, 1);
	mbuf_printf(o->b, ",\"ok\":%s", s->ok ? "true" : "false");
	jstr(o->b, "peer", peer, 1);
	jstr(o->b, "address", s->address, 1);
	jstr(o->b, "why", s->why, 1);
	mbuf_printf(o->b, ",\"uptime_s\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu}",
	            (unsigned long long)uptime_s(o, s), (unsigned long long)s->bytes_in,
	            (unsigned long long)s->bytes_out);
}

static void session_text(void *ud, const dialer_t *d, const char *name, const hop_session_t *s)
{
	out_t *o = ud;

	mbuf_printf(o->b, "  %s  %s", name, s->state);
	if (s->address[0])
		mbuf_printf(o->b, ", address %s", s->address);
	if (s->since)
		mbuf_printf(o->b, ", up %llu s", (unsigned long long)uptime_s(o, s));
	if (s->bytes_in || s->bytes_out)
		mbuf_printf(o->b, ", %llu bytes in, %llu out", (unsigned long long)s->bytes_in,
		            (unsigned long long)s->bytes_out);
	if (s->why[0])
		mbuf_printf(o->b, " (%s)", s->why);
	mbuf_printf(o->b, "\n");
	o->n++;
}

static void chain_json(void *ud, const char *name, const char *hops, dialer_t *head)
{
	out_t *o = ud;

	mbuf_printf(o->b, "%s{", o->n++ ? "," : "");
	jstr(o->b, "name", name, 0);
	jstr(o->b, "hops", hops, 1);
	mbuf_printf(o->b, "}");
}

static void chain_text(void *ud, const char *name, const char *hops, dialer_t *head)
{
	out_t *o = ud;

	mbuf_printf(o->b, "  %s: %s\n", name, hops);
}

static const char *via_of(const listener_t *l)
{
	return l->via ? l->via : l->routed ? "" : "its own chain";
}

void health_status(mbuf_t *b)
{
	routing_t *rt = routing_current();
	char why[512];
	int ok = health_check(why, sizeof(why)), down = 0;
	out_t o = {.b = b, .now = uv_now(uv_default_loop())};

	mbuf_printf(b, "{\"status\":\"%s\"", ok ? "ok" : "unhealthy");
	jstr(b, "reason", why, 1);
	mbuf_printf(b, ",\"version\":\"%s\",\"connections\":%llu,\"listeners\":[", SLUICE_VERSION,
	            (unsigned long long)conn_live);
	for (size_t i = 0; i < nhl; i++) {
		listener_t *l = hl[i];
		metrics_listener_t *m = l->m;
		mbuf_printf(b, "%s{", i ? "," : "");
		jstr(b, "name", l->name, 0);
		jstr(b, "via", via_of(l), 1);
		mbuf_printf(b, ",\"listening\":%s", l->listening ? "true" : "false");
		if (m)
			mbuf_printf(
			    b,
			    ",\"active\":%llu,\"total\":%llu,\"failed\":%llu,\"rejected\":%llu,"
			    "\"bytes_in\":%llu,\"bytes_out\":%llu",
			    (unsigned long long)m->active, (unsigned long long)m->total,
			    (unsigned long long)m->failed, (unsigned long long)m->rejected,
			    (unsigned long long)m->bytes_in, (unsigned long long)m->bytes_out);
		mbuf_printf(b,
		            ",\"limits\":{\"max_conns\":%llu,\"rate\":%llu,\"burst\":%llu,"
		            "\"connect_timeout_ms\":%llu,\"idle_timeout_ms\":%llu,"
		            "\"handshake_timeout_ms\":%llu}}",
		            (unsigned long long)l->max_conns, (unsigned long long)l->rate,
		            (unsigned long long)l->burst, (unsigned long long)l->connect_timeout_ms,
		            (unsigned long long)l->idle_timeout_ms,
		            (unsigned long long)l->handshake_timeout_ms);
	}
	mbuf_printf(b, "],\"chains\":[");
	if (rt)
		routing_chains(rt, chain_json, &o);
	mbuf_printf(b, "],\"sessions\":[");
	o.n = 0;
	sessions_walk(session_json, &o);
	mbuf_printf(b, "],\"groups\":[");
	group_health(b, &down);
	mbuf_printf(b, "]}\n");
}

void health_status_text(mbuf_t *b)
{
	routing_t *rt = routing_current();
	char why[512];
	int ok = health_check(why, sizeof(why));
	out_t o = {.b = b, .now = uv_now(uv_default_loop())};

	mbuf_printf(b, "sluice %s: %s%s%s\n%llu connections\n\nlisteners\n", SLUICE_VERSION,
	            ok ? "healthy" : "unhealthy", ok ? "" : ": ", ok ? "" : why,
	            (unsigned long long)conn_live);
	for (size_t i = 0; i < nhl; i++) {
		listener_t *l = hl[i];
		metrics_listener_t *m = l->m;
		mbuf_printf(b, "  %s  %s%s%s\n", l->name,
		            l->listening ? "listening" : "NOT LISTENING",
		            *via_of(l) ? ", via " : "", via_of(l));
		if (m)
			mbuf_printf(b,
			            "    connections: %llu active, %llu total, %llu failed, %llu "
			            "rejected; %llu bytes in, %llu out\n",
			            (unsigned long long)m->active, (unsigned long long)m->total,
			            (unsigned long long)m->failed, (unsigned long long)m->rejected,
			            (unsigned long long)m->bytes_in,
			            (unsigned long long)m->bytes_out);
		mbuf_printf(b,
		            "    limits: max-conns %llu, rate %llu/s, connect-timeout %llu ms, "
		            "idle-timeout %llu ms, handshake-timeout %llu ms\n",
		            (unsigned long long)l->max_conns, (unsigned long long)l->rate,
		            (unsigned long long)l->connect_timeout_ms,
		            (unsigned long long)l->idle_timeout_ms,
		            (unsigned long long)l->handshake_timeout_ms);
	}
	if (rt) {
		mbuf_printf(b, "\nchains\n");
		routing_chains(rt, chain_text, &o);
	}
	mbuf_printf(b, "\nsessions\n");
	sessions_walk(session_text, &o);
	if (!o.n)
		mbuf_printf(b, "  none\n");
}

/* ---- the pages ---- */

static int health_page(mbuf_t *body, const char **ctype, const struct sockaddr *local,
                       const char *query, void *ud)
{
	char why[512];
	int ok = health_check(why, sizeof(why));

	*ctype = "application/json";
	metrics_render_health(body, ok ? NULL : why);
	return ok ? 200 : 503;
}

static int ready_page(mbuf_t *body, const char **ctype, const struct sockaddr *local,
                      const char *query, void *ud)
{
	char why[512];

	if (draining) {
		mbuf_printf(body, "not ready: draining\n");
		return 503;
	}
	if (!started) {
		mbuf_printf(body, "not ready: starting\n");
		return 503;
	}
	if (!health_check(why, sizeof(why))) {
		mbuf_printf(body, "not ready: %s\n", why);
		return 503;
	}
	mbuf_printf(body, "ready\n");
	return 200;
}

static int live_page(mbuf_t *body, const char **ctype, const struct sockaddr *local,
                     const char *query, void *ud)
{
	mbuf_printf(body, "live\n");
	return 200;
}

static int status_page(mbuf_t *body, const char **ctype, const struct sockaddr *local,
                       const char *query, void *ud)
{
	if (!strcmp(query, "format=text")) {
		health_status_text(body);
		return 200;
	}
	*ctype = "application/json";
	health_status(body);
	return 200;
}

void health_serve(void)
{
	metrics_page("/health", health_page, NULL);
	metrics_page("/ready", ready_page, NULL);
	metrics_page("/live", live_page, NULL);
	metrics_page("/status", status_page, NULL);
}
