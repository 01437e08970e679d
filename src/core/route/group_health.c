/* group_health: what a group knows of its members' health (see
 * group_priv.h): the circuit breaker (up, down, failures in a row), the
 * probes that bring a member back and time it, and what /metrics and
 * /health show of every group.
 */
#include "core/route/group_priv.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/metrics.h"

static queue_t groups = {&groups, &groups};

uint64_t group_now_ms(group_t *g)
{
	return uv_now(g->d.loop);
}

void member_up(gmember_t *m, const char *how)
{
	m->fails_row = 0;
	m->backoff_ms = 0;
	if (m->up)
		return;
	m->up = 1;
	log_info(0, "group %s: member %s is up again (%s)", m->g->name, m->name, how);
}

void member_failed(gmember_t *m, int err, const char *how)
{
	group_t *g = m->g;

	m->failures++;
	m->fails_row++;
	if (!m->up || m->fails_row < g->cfg.fails)
		return;
	m->up = 0;
	m->backoff_ms = 1000;
	log_warn(0, "group %s: member %s is down (%s: %s): skipped until a probe succeeds", g->name,
	         m->name, how, uv_strerror(err));
	probe_later(m, m->backoff_ms);
}

int member_fault(const gmember_t *m, uint64_t sf0, int err)
{
	if (m->server_fails != sf0)
		return 1;
	switch (err) {
	case UV_ECONNRESET:
	case UV_EOF:
	case UV_EPIPE:
	case UV_ENOTCONN:
	case UV_ECONNABORTED:
	case UV_EPROTO:
		return 1;
	default:
		return 0;
	}
}

/* ---- probes ---- */

static void on_probe_timer(uv_timer_t *t);

void probe_later(gmember_t *m, uint64_t ms)
{
	if (m->probe || !m->g->started)
		return; /* the running probe schedules the next */
	uv_timer_stop(m->timer);
	uv_timer_start(m->timer, on_probe_timer, ms, 0);
}

void probe_cancel(gmember_t *m)
{
	dialer_t *h = m->hop;

	if (!m->probe)
		return;
	if (m->probe_kind == PROBE_OP)
		h->ops->probe_cancel(h, m->probe);
	else if (m->probe_kind == PROBE_TARGET)
		h->ops->cancel(h, m->probe);
	else
		m->watch.ops->cancel(&m->watch, m->probe);
	m->probe = NULL;
}

static void probe_result(gmember_t *m, int err)
{
	group_t *g = m->g;
	uint64_t next = g->cfg.probe_ms;

	uv_timer_stop(m->timer);
	if (err == 0) {
		double rtt = (double)(group_now_ms(g) - m->probe_t0);
		m->rtt_ms = m->rtt_ms < 0 ? rtt : 0.7 * m->rtt_ms + 0.3 * rtt;
		m->probes_ok++;
		member_up(m, "a probe succeeded");
	} else {
		m->probes_failed++;
		log_debug(0, "group %s: probe of %s: %s", g->name, m->name, uv_strerror(err));
		if (m->up) {
			member_failed(m, err, "probe");
		} else {
			m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : 1000;
			if (m->backoff_ms > g->cfg.probe_ms)
				m->backoff_ms = g->cfg.probe_ms;
		}
		if (!m->up)
			next = m->backoff_ms;
	}
	uv_timer_start(m->timer, on_probe_timer, next ? next : 1000, 0);
}

static void on_probed(void *ud, stream_t *s, int err)
{
	gmember_t *m = ud;

	m->probe = NULL;
	stream_close(s);
	probe_result(m, err);
}

static void probe_start(gmember_t *m)
{
	dialer_t *h = m->hop;
	dial_opts_t o = {0};

	m->probe_t0 = group_now_ms(m->g);
	if (m->g->probe_to_target) {
		m->probe_kind = PROBE_TARGET;
		m->probe = h->ops->dial(h, &m->g->probe_target, &o, on_probed, m);
	} else if (h->ops->probe) {
		m->probe_kind = PROBE_OP;
		m->probe = h->ops->probe(h, &o, on_probed, m);
	} else {
		m->probe_kind = PROBE_SERVER;
		m->probe = m->watch.ops->dial(&m->watch, &h->server, &o, on_probed, m);
	}
	if (!m->probe) {
		probe_result(m, UV_ENOMEM);
		return;
	}
	uv_timer_start(m->timer, on_probe_timer, m->g->cfg.probe_timeout_ms, 0);
}

static void on_probe_timer(uv_timer_t *t)
{
	gmember_t *m = t->data;

	if (!m->probe) {
		probe_start(m);
		return;
	}
	probe_cancel(m);
	probe_result(m, UV_ETIMEDOUT);
}

void group_start(dialer_t *d)
{
	group_t *g = (group_t *)d;

	if (g->started)
		return;
	g->started = 1;
	for (size_t i = 0; i < g->n; i++)
		uv_timer_start(g->m[i].timer, on_probe_timer, 100 + 50 * i, 0);
}

/* ---- metrics, health ---- */

static void member_labels(const group_t *g, const gmember_t *m, char *buf, size_t len)
{
	char a[100], b[100], c[220];

	snprintf(buf, len, "%s,%s,%s", metrics_label(a, sizeof(a), "group", g->name),
	         metrics_label(b, sizeof(b), "chain", g->chain),
	         metrics_label(c, sizeof(c), "member", m->name));
}

static const metric_t member_metrics[] = {
    METRIC(gmember_t, dials, "sluice_group_member_dials_total", "counter",
           "Dials through the group member."),
    METRIC(gmember_t, failures, "sluice_group_member_failures_total", "counter",
           "Failures of the group member (dials, connections before their first byte, probes)."),
    METRIC(gmember_t, probes_ok, "sluice_group_member_probes_ok_total", "counter",
           "Probes of the group member that succeeded."),
    METRIC(gmember_t, probes_failed, "sluice_group_member_probes_failed_total", "counter",
           "Probes of the group member that failed."),
};

static void metrics_fn(mbuf_t *b, void *ud)
{
	group_t *g = ud;
	char lab[500], a[100], c[100];

	for (size_t i = 0; i < g->n; i++) {
		gmember_t *m = &g->m[i];
		member_labels(g, m, lab, sizeof(lab));
		metrics_sample(b, "sluice_group_member_up", "gauge",
		               "1 when the group member takes connections, 0 while it is down.",
		               lab, (uint64_t)m->up);
		METRICS_TABLE(b, member_metrics, m, lab);
		if (m->rtt_ms >= 0) {
			metrics_family(
			    b, "sluice_group_member_latency_seconds", "gauge",
			    "The group member's handshake time (a moving average of probes).");
			mbuf_printf(b, "sluice_group_member_latency_seconds{%s} %.6f\n", lab,
			            m->rtt_ms / 1000.0);
		}
	}
	snprintf(lab, sizeof(lab), "%s,%s", metrics_label(a, sizeof(a), "group", g->name),
	         metrics_label(c, sizeof(c), "chain", g->chain));
	metrics_sample(b, "sluice_group_refused_total", "counter",
	               "Connections refused at once because every member of the group was down.",
	               lab, g->refused);
}

static const char *const strategy_names[] = {"failover", "round-robin", "lowest-latency"};

void group_health(mbuf_t *b, int *all_down)
{
	queue_t *q;
	int first = 1;

	queue_foreach (q, &groups) {
		group_t *g = queue_data(q, group_t, link);
		size_t up = 0;

		for (size_t i = 0; i < g->n; i++)
			up += (size_t)g->m[i].up;
		if (!up)
			*all_down = 1;
		mbuf_printf(b,
		            "%s{\"name\":\"%s\",\"chain\":\"%s\",\"strategy\":\"%s\",\"up\":%zu,"
		            "\"members\":[",
		            first ? "" : ",", g->name, g->chain, strategy_names[g->cfg.strategy],
		            up);
		first = 0;
		for (size_t i = 0; i < g->n; i++) {
			gmember_t *m = &g->m[i];
			mbuf_printf(
			    b,
			    "%s{\"name\":\"%s\",\"up\":%s,\"latency_ms\":%.1f,\"failures\":%llu,"
			    "\"dials\":%llu,\"probes_failed\":%llu}",
			    i ? "," : "", m->name, m->up ? "true" : "false",
			    m->rtt_ms < 0 ? -1.0 : m->rtt_ms, (unsigned long long)m->failures,
			    (unsigned long long)m->dials, (unsigned long long)m->probes_failed);
		}
		mbuf_printf(b, "]}");
	}
}

static void health_fn(mbuf_t *b, int *degraded, void *ud)
{
	if (queue_empty(&groups))
		return;
	mbuf_printf(b, ",\"groups\":[");
	group_health(b, degraded);
	mbuf_printf(b, "]");
}

void group_watch_add(group_t *g)
{
	static int health_registered;

	if (!health_registered) {
		health_registered = 1;
		metrics_health_register(health_fn, NULL);
	}
	queue_insert_tail(&groups, &g->link);
	metrics_register(metrics_fn, g);
}

void group_watch_remove(group_t *g)
{
	metrics_unregister(metrics_fn, g);
	queue_remove(&g->link);
}
