/* group: a hop position held by alternatives (see group.h).
 *
 * Pieces (the members' health, the probes and the metrics are
 * group_health.c):
 *   member   one alternative: its hop, built on a watch (below) of the
 *            hop before the group, and its health: up/down (the circuit
 *            breaker), failures in a row, handshake time, a timer that
 *            drives its probes (and times each probe out).
 *   watch    a dialer between a member's hop and the hop before it that
 *            passes everything through and counts the dials that fail:
 *            the member's server could not be reached.
 *   try      one dial through the group: pick a member, dial, on a
 *            member failure (or no answer within try-timeout) pick the
 *            next; a failure is reported from a timer, never from inside
 *            the dial call.
 *   gstream  the stream the caller gets when the group has another member
 *            to fall back on: it passes everything through and, until the
 *            first byte comes back, keeps a copy of what was written; a
 *            member failure before that byte redials (a try) and replays.
 *
 * Ownership: the group owns its members and their hops; the chain (or
 * the routing table) owns the group.  Tries and gstreams belong to their
 * callers and end before the group does (connections close first).
 */
#include "core/route/group_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dgram.h"
#include "core/log.h"
#include "core/queue.h"
#include "core/sbuf.h"

/* ---- options ---- */

static int parse_strategy(void *obj, const char *v, char *err, size_t errlen)
{
	group_cfg_t *c = obj;

	if (!strcmp(v, "failover"))
		c->strategy = GROUP_FAILOVER;
	else if (!strcmp(v, "round-robin"))
		c->strategy = GROUP_ROUND_ROBIN;
	else if (!strcmp(v, "lowest-latency"))
		c->strategy = GROUP_LOWEST_LATENCY;
	else {
		snprintf(err, errlen,
		         "option 'strategy': '%s' is not failover, round-robin or lowest-latency",
		         v);
		return -EINVAL;
	}
	return 0;
}

static const opt_t group_table[] = {
    OPT_FUNC("strategy", parse_strategy, "failover", "failover|round-robin|lowest-latency",
             "which member a new connection takes: the first that is up, each in turn, or the "
             "one with the fastest handshakes"),
    OPT_DURATION(group_cfg_t, probe_ms, "probe-interval", "30s",
                 "how often each member's handshake is checked (a member that is down: after 1 "
                 "s, 2 s, 4 s ... up to this)"),
    OPT_DURATION(group_cfg_t, probe_timeout_ms, "probe-timeout", "5s",
                 "a probe that takes longer failed"),
    OPT_DURATION(group_cfg_t, try_timeout_ms, "try-timeout", "5s",
                 "a member that has not connected within this is skipped for the next (0: the "
                 "listener's connect-timeout only)"),
    OPT_UINT(group_cfg_t, fails, "fails", 100, "1",
             "failures in a row (dials or probes) that take a member down"),
    OPT_STR(group_cfg_t, probe_target, "probe-target", "the member's own handshake", "HOST:PORT",
            "probe by connecting to this target through the member"),
};

const opt_schema_t group_opts = OPT_SCHEMA(NULL, group_table);

/* ---- the watch on the hop before the group ---- */

typedef struct wreq {
	gmember_t *m;
	dial_t *inner;
	dial_cb cb;
	dgram_cb dcb;
	void *ud;
} wreq_t;

static gmember_t *watch_member(dialer_t *d)
{
	return (gmember_t *)((char *)d - offsetof(gmember_t, watch));
}

static void watch_done(void *ud, stream_t *s, int err)
{
	wreq_t *w = ud;
	dial_cb cb = w->cb;
	void *cud = w->ud;

	if (err < 0)
		w->m->server_fails++;
	free(w);
	cb(cud, s, err);
}

static dial_t *watch_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                          void *ud)
{
	wreq_t *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->m = watch_member(d);
	w->cb = cb;
	w->ud = ud;
	if (!(w->inner = d->next->ops->dial(d->next, t, o, watch_done, w))) {
		free(w);
		return NULL;
	}
	return (dial_t *)w;
}

static void watch_cancel(dialer_t *d, dial_t *req)
{
	wreq_t *w = (wreq_t *)req;

	d->next->ops->cancel(d->next, w->inner);
	free(w);
}

static void watch_dgram_done(void *ud, dgram_t *f, int err)
{
	wreq_t *w = ud;
	dgram_cb cb = w->dcb;
	void *cud = w->ud;

	if (err < 0)
		w->m->server_fails++;
	free(w);
	cb(cud, f, err);
}

static dial_t *watch_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	wreq_t *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->m = watch_member(d);
	w->dcb = cb;
	w->ud = ud;
	if (!(w->inner = d->next->ops->dgram(d->next, o, watch_dgram_done, w))) {
		free(w);
		return NULL;
	}
	return (dial_t *)w;
}

static void watch_dgram_cancel(dialer_t *d, dial_t *req)
{
	wreq_t *w = (wreq_t *)req;

	d->next->ops->dgram_cancel(d->next, w->inner);
	free(w);
}

static int watch_dns(const dialer_t *d, struct sockaddr_storage *out, size_t max)
{
	return d->next->ops->dns_servers(d->next, out, max);
}

static void watch_free(dialer_t *d)
{
	/* part of the member */
}

static void watch_init(gmember_t *m, dialer_t *next)
{
	const dialer_ops_t *po = next->ops;

	m->wops = (dialer_ops_t){.scheme = po->scheme,
	                         .dial = watch_dial,
	                         .cancel = watch_cancel,
	                         .free = watch_free,
	                         .dgram = po->dgram ? watch_dgram : NULL,
	                         .dgram_cancel = po->dgram ? watch_dgram_cancel : NULL,
	                         .dns_servers = po->dns_servers ? watch_dns : NULL,
	                         .caps = po->caps};
	m->watch.ops = &m->wops;
	m->watch.next = next;
	m->watch.loop = next->loop;
	m->watch.server = next->server;
	m->watch.scheme = next->scheme;
}

/* ---- tries ---- */

typedef struct gstream gstream_t;

typedef struct gtry {
	group_t *g;
	target_t t;
	dial_opts_t o;
	struct sockaddr_storage peer;
	dial_cb cb;
	void *ud;
	gstream_t *gs; /* a stream's redial, or NULL */
	gmember_t *m;
	dial_t *inner;
	uv_timer_t *timer;
	uint64_t sf0;
	uint32_t tried;
	int err, failing, all_down;
} gtry_t;

static void gs_redialed(gstream_t *gs, gtry_t *tr, stream_t *s, int err);
static stream_t *gs_new(gtry_t *tr, stream_t *in);

static void timer_free(uv_handle_t *h)
{
	free(h);
}

static void try_free(gtry_t *tr)
{
	uv_close((uv_handle_t *)tr->timer, timer_free);
	free(tr);
}

static void try_done(gtry_t *tr, stream_t *s, int err)
{
	group_t *g = tr->g;

	if (tr->gs) {
		gs_redialed(tr->gs, tr, s, err);
		try_free(tr);
		return;
	}
	if (s) /* also for one member: its failures count */
		s = gs_new(tr, s);
	if (err < 0 && tr->o.why && tr->o.whylen) {
		if (tr->all_down)
			snprintf(tr->o.why, tr->o.whylen, "group %s: all %zu members are down",
			         g->name, g->n);
		else
			snprintf(tr->o.why, tr->o.whylen, "group %s: %s", g->name,
			         tr->m ? "every member that is up failed"
			               : "no member could be tried");
	}
	tr->cb(tr->ud, s, err);
	try_free(tr);
}

static int rtt_less(const gmember_t *a, const gmember_t *b)
{
	if (a->rtt_ms < 0)
		return 0;
	return b->rtt_ms < 0 || a->rtt_ms < b->rtt_ms;
}

/* The member to try next: up, not tried yet, by the strategy. */
static gmember_t *pick(group_t *g, uint32_t tried, int take)
{
	gmember_t *best = NULL;

	for (size_t k = 0; k < g->n; k++) {
		size_t i = g->cfg.strategy == GROUP_ROUND_ROBIN ? (g->rr + k) % g->n : k;
		gmember_t *m = &g->m[i];
		if (!m->up || (tried & (1u << i)))
			continue;
		if (g->cfg.strategy != GROUP_LOWEST_LATENCY) {
			best = m;
			break;
		}
		if (!best || rtt_less(m, best))
			best = m;
	}
	if (best && take && g->cfg.strategy == GROUP_ROUND_ROBIN)
		g->rr = best->i + 1;
	return best;
}

static void on_try_timer(uv_timer_t *t);
static void on_try(void *ud, stream_t *s, int err);

static void try_fail_soon(gtry_t *tr, int err)
{
	tr->failing = 1;
	tr->err = err;
	uv_timer_stop(tr->timer);
	uv_timer_start(tr->timer, on_try_timer, 0, 0);
}

static void try_next(gtry_t *tr)
{
	group_t *g = tr->g;
	gmember_t *m;

	while ((m = pick(g, tr->tried, 1))) {
		tr->tried |= 1u << m->i;
		tr->m = m;
		tr->sf0 = m->server_fails;
		m->dials++;
		tr->inner = m->hop->ops->dial(m->hop, &tr->t, &tr->o, on_try, tr);
		if (tr->inner) {
			if (g->cfg.try_timeout_ms)
				uv_timer_start(tr->timer, on_try_timer, g->cfg.try_timeout_ms, 0);
			return;
		}
		member_failed(m, UV_ENOMEM, "dial");
		tr->err = UV_ENOMEM;
	}
	if (!tr->tried) {
		tr->all_down = 1;
		g->refused++;
		tr->err = UV_EHOSTUNREACH;
	}
	try_fail_soon(tr, tr->err ? tr->err : UV_EHOSTUNREACH);
}

static void on_try(void *ud, stream_t *s, int err)
{
	gtry_t *tr = ud;
	gmember_t *m = tr->m;
	char t[300];

	tr->inner = NULL;
	uv_timer_stop(tr->timer);
	if (err == 0) {
		member_up(m, "a connection went through");
		try_done(tr, s, 0);
		return;
	}
	if (!member_fault(m, tr->sf0, err)) {
		try_done(tr, NULL, err); /* the target's failure, reported by a working member */
		return;
	}
	target_str(&tr->t, t, sizeof(t));
	log_info(tr->o.id, "group %s: %s through %s failed (%s); trying another member",
	         tr->g->name, t, m->name, uv_strerror(err));
	member_failed(m, err, "dial");
	tr->err = err;
	try_next(tr);
}

static void on_try_timer(uv_timer_t *timer)
{
	gtry_t *tr = timer->data;
	gmember_t *m = tr->m;

	if (tr->failing) {
		try_done(tr, NULL, tr->err);
		return;
	}
	m->hop->ops->cancel(m->hop, tr->inner);
	tr->inner = NULL;
	log_info(tr->o.id, "group %s: no answer from %s within %llu ms; trying another member",
	         tr->g->name, m->name, (unsigned long long)tr->g->cfg.try_timeout_ms);
	member_failed(m, UV_ETIMEDOUT, "dial");
	tr->err = UV_ETIMEDOUT;
	try_next(tr);
}

static gtry_t *try_new(group_t *g, const target_t *t, const dial_opts_t *o)
{
	gtry_t *tr = calloc(1, sizeof(*tr));

	if (!tr)
		abort();
	tr->g = g;
	tr->t = *t;
	tr->o = *o;
	if (o->peer) {
		memcpy(&tr->peer, o->peer,
		       o->peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                      : sizeof(struct sockaddr_in));
		tr->o.peer = (struct sockaddr *)&tr->peer;
	}
	tr->timer = malloc(sizeof(*tr->timer));
	if (!tr->timer)
		abort();
	uv_timer_init(g->d.loop, tr->timer);
	tr->timer->data = tr;
	return tr;
}

static void try_cancel(gtry_t *tr)
{
	if (tr->inner)
		tr->m->hop->ops->cancel(tr->m->hop, tr->inner);
	try_free(tr);
}

static dial_t *group_dial(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb,
                          void *ud)
{
	gtry_t *tr = try_new((group_t *)d, t, o);

	tr->cb = cb;
	tr->ud = ud;
	try_next(tr);
	return (dial_t *)tr;
}

static void group_cancel(dialer_t *d, dial_t *req)
{
	try_cancel((gtry_t *)req);
}

/* ---- the retrying stream ---- */

struct gstream {
	stream_t s;
	group_t *g;
	gmember_t *m;
	stream_t *in;
	sbuf_queue_t copy; /* what was written, until the first byte comes back */
	gtry_t *redial;
	target_t t;
	dial_opts_t o;
	struct sockaddr_storage peer;
	uint32_t tried;
	uint64_t sf0;
	unsigned committed : 1, reading : 1, shut : 1;
};

static void gs_commit(gstream_t *gs)
{
	gs->committed = 1;
	sbufq_clear(&gs->copy);
}

static void in_read(stream_t *in, sbuf_t *b)
{
	gstream_t *gs = in->data;

	if (b && !gs->committed)
		gs_commit(gs);
	gs->s.cbs->on_read(&gs->s, b);
}

static void in_drain(stream_t *in)
{
	gstream_t *gs = in->data;

	gs->s.wq_bytes = in->wq_bytes;
	if (gs->s.cbs->on_drain)
		gs->s.cbs->on_drain(&gs->s);
}

static void in_error(stream_t *in, int err)
{
	gstream_t *gs = in->data;
	gmember_t *m = gs->m;
	char t[300];

	if (gs->committed || !member_fault(m, gs->sf0, err)) {
		gs->s.cbs->on_error(&gs->s, err);
		return;
	}
	if (!pick(gs->g, gs->tried, 0)) {
		member_failed(m, err, "connection");
		gs->s.cbs->on_error(&gs->s, err);
		return;
	}
	target_str(&gs->t, t, sizeof(t));
	log_info(gs->s.id,
	         "group %s: %s through %s broke before the first byte came back (%s); trying "
	         "another member",
	         gs->g->name, t, m->name, uv_strerror(err));
	member_failed(m, err, "connection");
	stream_reset(in);
	gs->in = NULL;
	gs->s.wq_bytes = gs->copy.bytes;
	gs->redial = try_new(gs->g, &gs->t, &gs->o);
	gs->redial->gs = gs;
	gs->redial->tried = gs->tried;
	try_next(gs->redial);
}

static const stream_cbs_t in_cbs = {in_read, in_drain, in_error};

static void gs_redialed(gstream_t *gs, gtry_t *tr, stream_t *s, int err)
{
	gs->redial = NULL;
	if (err < 0) {
		gs->s.cbs->on_error(&gs->s, err);
		return;
	}
	gs->in = s;
	gs->m = tr->m;
	gs->tried = tr->tried;
	gs->sf0 = tr->sf0;
	s->id = gs->s.id;
	stream_set_cbs(s, &in_cbs, gs);
	for (sbuf_t *b = gs->copy.head; b; b = b->next)
		stream_write(s, sbuf_from(sbuf_ptr(b), b->len));
	if (gs->shut)
		stream_shutdown(s);
	if (gs->reading)
		stream_read_start(s);
	gs->s.wq_bytes = s->wq_bytes;
}

static int gs_write(stream_t *s, sbuf_t *b)
{
	gstream_t *gs = (gstream_t *)s;
	int r;

	if (!gs->in) { /* redialing: the copy is all there is (and not committed) */
		if (!gs->redial || gs->copy.bytes + b->len > GROUP_REPLAY_MAX) {
			sbuf_free(b);
			return UV_ENOBUFS;
		}
		sbufq_push(&gs->copy, sbuf_fit(b));
		s->wq_bytes = gs->copy.bytes;
		return 0;
	}
	if (!gs->committed) {
		if (gs->copy.bytes + b->len > GROUP_REPLAY_MAX)
			gs_commit(gs); /* too much to replay: no retry from here on */
		else
			sbufq_push(&gs->copy, sbuf_from(sbuf_ptr(b), b->len));
	}
	r = stream_write(gs->in, b);
	s->wq_bytes = gs->in->wq_bytes;
	return r;
}

static int gs_shutdown(stream_t *s)
{
	gstream_t *gs = (gstream_t *)s;

	gs->shut = 1;
	return gs->in ? stream_shutdown(gs->in) : 0;
}

static void gs_read_start(stream_t *s)
{
	gstream_t *gs = (gstream_t *)s;

	gs->reading = 1;
	if (gs->in)
		stream_read_start(gs->in);
}

static void gs_read_stop(stream_t *s)
{
	gstream_t *gs = (gstream_t *)s;

	gs->reading = 0;
	if (gs->in)
		stream_read_stop(gs->in);
}

static void gs_end(stream_t *s, int abort_)
{
	gstream_t *gs = (gstream_t *)s;

	if (gs->redial)
		try_cancel(gs->redial);
	if (abort_)
		stream_reset(gs->in);
	else
		stream_close(gs->in);
	sbufq_clear(&gs->copy);
	free(gs);
}

static void gs_close(stream_t *s)
{
	gs_end(s, 0);
}

static void gs_reset(stream_t *s)
{
	gs_end(s, 1);
}

static int gs_addr(stream_t *s, int peer, struct sockaddr_storage *ss)
{
	gstream_t *gs = (gstream_t *)s;

	return gs->in ? stream_addr(gs->in, peer, ss) : UV_ENOTSUP;
}

static const stream_ops_t gs_ops = {
    .name = "group",
    .write = gs_write,
    .shutdown = gs_shutdown,
    .read_start = gs_read_start,
    .read_stop = gs_read_stop,
    .close = gs_close,
    .reset = gs_reset,
    .addr = gs_addr,
};

static stream_t *gs_new(gtry_t *tr, stream_t *in)
{
	gstream_t *gs = calloc(1, sizeof(*gs));

	if (!gs)
		abort();
	gs->s.ops = &gs_ops;
	gs->s.id = tr->o.id;
	gs->g = tr->g;
	gs->m = tr->m;
	gs->in = in;
	gs->t = tr->t;
	gs->o = tr->o;
	gs->o.why = NULL;
	gs->o.whylen = 0;
	gs->o.cred = NULL;
	if (tr->o.peer) {
		memcpy(&gs->peer, &tr->peer, sizeof(gs->peer));
		gs->o.peer = (struct sockaddr *)&gs->peer;
	}
	gs->tried = tr->tried;
	gs->sf0 = tr->sf0;
	stream_set_cbs(in, &in_cbs, gs);
	return &gs->s;
}

/* ---- datagrams: the member a flow opens on, with the same fallback ---- */

typedef struct gdg {
	group_t *g;
	dial_opts_t o;
	struct sockaddr_storage peer;
	gmember_t *m;
	dial_t *inner;
	dgram_cb cb;
	void *ud;
	uint32_t tried;
	uint64_t sf0;
	uv_timer_t *timer;
	int err;
} gdg_t;

static void gdg_free(gdg_t *q)
{
	uv_close((uv_handle_t *)q->timer, timer_free);
	free(q);
}

static void gdg_next(gdg_t *q);

static void gdg_fail(uv_timer_t *t)
{
	gdg_t *q = t->data;
	dgram_cb cb = q->cb;
	void *ud = q->ud;
	int err = q->err ? q->err : UV_EHOSTUNREACH;

	gdg_free(q);
	cb(ud, NULL, err);
}

static void gdg_opened(void *ud, dgram_t *f, int err)
{
	gdg_t *q = ud;
	dgram_cb cb = q->cb;
	void *cud = q->ud;

	q->inner = NULL;
	if (err < 0 && member_fault(q->m, q->sf0, err)) {
		member_failed(q->m, err, "datagram flow");
		q->err = err;
		gdg_next(q);
		return;
	}
	if (err == 0)
		member_up(q->m, "a datagram flow opened");
	gdg_free(q);
	cb(cud, f, err);
}

static void gdg_next(gdg_t *q)
{
	gmember_t *m;

	while ((m = pick(q->g, q->tried, 1))) {
		q->tried |= 1u << m->i;
		q->m = m;
		q->sf0 = m->server_fails;
		if ((q->inner = m->hop->ops->dgram(m->hop, &q->o, gdg_opened, q)))
			return;
		q->err = UV_ENOMEM;
	}
	if (!q->tried)
		q->g->refused++;
	uv_timer_start(q->timer, gdg_fail, 0, 0);
}

static dial_t *group_dgram(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud)
{
	group_t *g = (group_t *)d;
	gdg_t *q = calloc(1, sizeof(*q));

	if (!q)
		abort();
	q->g = g;
	q->o = *o;
	if (o->peer) {
		memcpy(&q->peer, o->peer,
		       o->peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                      : sizeof(struct sockaddr_in));
		q->o.peer = (struct sockaddr *)&q->peer;
	}
	q->cb = cb;
	q->ud = ud;
	q->timer = malloc(sizeof(*q->timer));
	if (!q->timer)
		abort();
	uv_timer_init(d->loop, q->timer);
	q->timer->data = q;
	gdg_next(q);
	return (dial_t *)q;
}

static void group_dgram_cancel(dialer_t *d, dial_t *req)
{
	gdg_t *q = (gdg_t *)req;

	if (q->inner)
		q->m->hop->ops->dgram_cancel(q->m->hop, q->inner);
	gdg_free(q);
}

/* The name servers of the first member that is up and has some. */
static int group_dns(const dialer_t *d, struct sockaddr_storage *out, size_t max)
{
	const group_t *g = (const group_t *)d;

	for (size_t i = 0; i < g->n; i++)
		if (g->m[i].up && g->m[i].hop->ops->dns_servers)
			return g->m[i].hop->ops->dns_servers(g->m[i].hop, out, max);
	return UV_ENOTSUP;
}

/* ---- building, freeing ---- */

static void group_free(dialer_t *d)
{
	group_t *g = (group_t *)d;

	group_watch_remove(g);
	for (size_t i = 0; i < g->n; i++) {
		gmember_t *m = &g->m[i];
		probe_cancel(m);
		if (m->timer)
			uv_close((uv_handle_t *)m->timer, timer_free);
		if (m->hop)
			m->hop->ops->free(m->hop);
	}
	free(g->m);
	free(g);
}

/* Up while a member is. */
static void group_session(const dialer_t *d, hop_session_t *s)
{
	const group_t *g = (const group_t *)d;
	size_t up = 0;

	for (size_t i = 0; i < g->n; i++)
		up += (size_t)g->m[i].up;
	s->kind = "group";
	s->named = 1;
	s->ok = up > 0;
	s->state = up ? "up" : "down";
	if (!up)
		snprintf(s->why, sizeof(s->why), "every member of group %s is down", g->name);
}

int group_new(uv_loop_t *loop, url_t *u, url_t **members, size_t n, dialer_t *next,
              const char *chain, dialer_t **out, char *err, size_t errlen)
{
	group_t *g;
	unsigned caps = ~0u, dgram = 1, dns = 0, need_next = 0;
	int r;

	*out = NULL;
	if (!n || n > GROUP_MEMBERS_MAX) {
		snprintf(err, errlen, "group %s: %zu members (a group has 1 to %d)", u->host, n,
		         GROUP_MEMBERS_MAX);
		return -EINVAL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		abort();
	queue_init(&g->link);
	snprintf(g->name, sizeof(g->name), "%s", u->host);
	url_name_escape(g->name, sizeof(g->name));
	snprintf(g->chain, sizeof(g->chain), "%s", chain);
	url_name_escape(g->chain, sizeof(g->chain));
	g->d.loop = loop;
	g->d.next = next;
	target_set(&g->d.server, g->name, 0);
	if ((r = opts_parse(&group_opts, u, &g->cfg, err, errlen)) < 0 ||
	    (r = url_check_opts(u, err, errlen)) < 0) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "group %s: %s", g->name, msg);
		free(g);
		return r;
	}
	if (g->cfg.probe_target) {
		char host[256];
		uint16_t port;
		if (hostport_parse(g->cfg.probe_target, host, sizeof(host), &port) < 0 ||
		    target_set(&g->probe_target, host, port) < 0) {
			snprintf(err, errlen,
			         "group %s: option 'probe-target': '%s' is not HOST:PORT", g->name,
			         g->cfg.probe_target);
			free(g);
			return -EINVAL;
		}
		g->probe_to_target = 1;
	}
	g->cfg.probe_target = NULL; /* u's: not kept */
	if (!g->cfg.probe_ms)
		g->cfg.probe_ms = 1000;
	if (!g->cfg.fails)
		g->cfg.fails = 1;
	g->m = calloc(n, sizeof(*g->m));
	if (!g->m)
		abort();
	g->n = n;
	for (size_t i = 0; i < n; i++) {
		gmember_t *m = &g->m[i];
		m->g = g;
		m->i = (unsigned)i;
		m->up = 1;
		m->rtt_ms = -1;
		watch_init(m, next);
		if ((r = hop_build(loop, members[i], &m->watch, &m->hop, err, errlen)) < 0) {
			char msg[256];
			snprintf(msg, sizeof(msg), "%s", err);
			snprintf(err, errlen, "group %s: %s", g->name, msg);
			g->n = i;
			group_free(&g->d);
			return r;
		}
		{ /* the URL's scheme: a hop's ops may be shared (sstp's are "packet") */
			char t[300];
			target_str(&m->hop->server, t, sizeof(t));
			snprintf(m->name, sizeof(m->name), "%.20s://%.130s", members[i]->scheme, t);
			url_name_escape(m->name, sizeof(m->name));
		}
		m->timer = malloc(sizeof(*m->timer));
		if (!m->timer)
			abort();
		uv_timer_init(loop, m->timer);
		uv_unref((uv_handle_t *)m->timer);
		m->timer->data = m;
		caps &= dialer_caps(m->hop);
		need_next |= dialer_caps(m->hop) & HOP_DGRAM_NEXT;
		dgram &= m->hop->ops->dgram != NULL;
		dns |= m->hop->ops->dns_servers != NULL;
	}
	g->ops = (dialer_ops_t){.scheme = "group",
	                        .dial = group_dial,
	                        .cancel = group_cancel,
	                        .free = group_free,
	                        .dgram = dgram ? group_dgram : NULL,
	                        .dgram_cancel = dgram ? group_dgram_cancel : NULL,
	                        .dns_servers = dns ? group_dns : NULL,
	                        .session = group_session,
	                        .caps = (caps & ~HOP_DGRAM_NEXT) | need_next};
	g->d.ops = &g->ops;
	group_watch_add(g);
	*out = &g->d;
	return 0;
}
