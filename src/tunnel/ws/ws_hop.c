/* ws_hop: the part of a WebSocket tunnel hop that does not depend on the
 * tunnel's protocol (see ws_hop.h). */
#include "tunnel/ws/ws_hop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ws_hop_init(ws_hop_t *h, uv_loop_t *loop, dialer_t *next, const dialer_ops_t *ops,
                 const metric_t *rows, size_t nrows)
{
	h->d.ops = ops;
	h->d.next = next;
	h->d.loop = loop;
	h->rows = rows;
	h->nrows = nrows;
	queue_init(&h->pool);
	uv_timer_init(loop, &h->pool_timer);
	h->pool_timer.data = h;
}

void ws_hop_session(const dialer_t *d, hop_session_t *s)
{
	const ws_hop_t *h = (const ws_hop_t *)d;

	s->kind = dialer_scheme(d);
	s->state = h->npool ? "up" : "idle";
	s->ok = 1;
	snprintf(s->why, sizeof(s->why),
	         "pool: %zu idle WebSocket%s; %llu opened, %llu reused, %llu failed", h->npool,
	         h->npool == 1 ? "" : "s", (unsigned long long)h->opens,
	         (unsigned long long)h->reused, (unsigned long long)h->fails);
}

int ws_hop_server(ws_hop_t *h, const url_t *u, int tls, char *err, size_t errlen)
{
	int port = u->port > 0 ? u->port : tls ? 443 : 80;
	int v6 = strchr(u->host, ':') != NULL;

	if (!u->host[0] || target_set(&h->d.server, u->host, (uint16_t)port) < 0) {
		snprintf(err, errlen, "a server address is required (%s://HOST:PORT?key=KEY)",
		         u->scheme);
		return -EINVAL;
	}
	snprintf(h->name, sizeof(h->name), "%s://%s%s%s:%d%s", u->scheme, v6 ? "[" : "", u->host,
	         v6 ? "]" : "", port, u->path);
	url_name_escape(h->name, sizeof(h->name));
	return 0;
}

int ws_hop_host(ws_hop_t *h, const url_t *u, const char *host, int tls, int always_port, char *err,
                size_t errlen)
{
	int v6 = strchr(u->host, ':') != NULL;
	int port = u->port > 0 ? u->port : tls ? 443 : 80;

	if (host && strpbrk(host, "\r\n")) {
		snprintf(err, errlen, "option 'host': one line");
		return -EINVAL;
	}
	if (host)
		snprintf(h->host_hdr, sizeof(h->host_hdr), "%s", host);
	else if (!always_port && port == (tls ? 443 : 80))
		snprintf(h->host_hdr, sizeof(h->host_hdr), "%s%s%s", v6 ? "[" : "", u->host,
		         v6 ? "]" : "");
	else
		snprintf(h->host_hdr, sizeof(h->host_hdr), "%s%s%s:%d", v6 ? "[" : "", u->host,
		         v6 ? "]" : "", port);
	return 0;
}

void ws_hop_pool_put(ws_hop_t *h, ws_pooled_t *e)
{
	e->since = uv_now(h->d.loop);
	queue_insert_head(&h->pool, &e->link);
	h->npool++;
}

void ws_hop_pool_remove(ws_hop_t *h, ws_pooled_t *e)
{
	if (!queue_linked(&e->link))
		return;
	queue_remove(&e->link);
	h->npool--;
}

ws_pooled_t *ws_hop_pool_take(ws_hop_t *h)
{
	queue_t *q = queue_first(&h->pool);
	ws_pooled_t *e = q ? queue_data(q, ws_pooled_t, link) : NULL;

	if (e)
		ws_hop_pool_remove(h, e);
	return e;
}

void ws_hop_pool_expire(ws_hop_t *h, void (*fn)(ws_hop_t *h, ws_pooled_t *e))
{
	uint64_t now = uv_now(h->d.loop);
	queue_t *q, *n;

	queue_foreach_safe (q, n, &h->pool) {
		ws_pooled_t *e = queue_data(q, ws_pooled_t, link);
		if (now - e->since >= h->pool_idle_ms) {
			ws_hop_pool_remove(h, e);
			fn(h, e);
		}
	}
}

void ws_hop_count(ws_hop_t *h, int err)
{
	if (err < 0)
		h->fails++;
	else
		h->opens++;
}

static void metrics_fn(mbuf_t *b, void *ud)
{
	ws_hop_t *h = ud;
	char lab[300];

	metrics_table(b, h->rows, h->nrows, h, metrics_label(lab, sizeof(lab), "hop", h->name));
}

void ws_hop_start(ws_hop_t *h, uv_timer_cb pool_cb, uint64_t first_ms, uint64_t every_ms)
{
	metrics_register(metrics_fn, h);
	if (pool_cb) {
		uv_timer_start(&h->pool_timer, pool_cb, first_ms, every_ms);
		uv_unref((uv_handle_t *)&h->pool_timer);
	}
}

int ws_hop_stop(ws_hop_t *h)
{
	metrics_unregister(metrics_fn, h);
	h->closing = 1;
	return uv_is_closing((uv_handle_t *)&h->pool_timer) != 0;
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

void ws_hop_release(ws_hop_t *h)
{
	tls_ctx_free(h->tls);
	h->tls = NULL;
	uv_close((uv_handle_t *)&h->pool_timer, free_on_close);
}
