/* ws_hop: what the WebSocket tunnel hops (ws/wss in wstun_client.c,
 * wstan in wstan_client.c) share: the server and the hop's name from the
 * URL, the Host header, TLS to the server, the pool's timer, the open
 * counters and the metrics writer that shows them, and the teardown.
 *
 * A hop's struct starts with its ws_hop_t (and so with the dialer_t):
 *
 *   ws_hop_init()    no failure: the dialer's ops, next and loop, the
 *                    timer, the metric rows (over ws_hop_t's fields);
 *   ws_hop_server(), ws_hop_host(), ws_hop_tls_load() as it reads its URL;
 *   ws_hop_start()   registers the writer, starts the pool timer;
 *   ws_hop_pool_*()  the idle WebSockets, most recent first, each with the
 *                    time it went idle: put, take, remove, and the
 *                    timer's sweep of those idle for pool_idle_ms;
 *   ws_hop_session() the pool as a session in /status;
 *   ws_hop_stop()    first thing in the dialer's free: the writer goes,
 *                    closing is set; then the hop ends its own tunnels;
 *   ws_hop_release() last: TLS, and the timer's close frees the struct
 *                    (also the constructor's failure path).
 */
#ifndef SLUICE_WS_HOP_H
#define SLUICE_WS_HOP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/dial.h"
#include "core/metrics.h"
#include "core/queue.h"
#include "core/url.h"
#include "tunnel/ws/ws.h"

/* One idle WebSocket of a hop's pool: a member of the hop's own struct
 * for it (queue_data() finds that). */
typedef struct ws_pooled {
	queue_t link;
	uint64_t since; /* idle since (uv_now) */
} ws_pooled_t;

typedef struct ws_hop {
	dialer_t d; /* first */
	tls_ctx_t *tls;
	ws_tls_names_t names;
	ws_opts_t wo;
	char host_hdr[300], name[160];
	uv_timer_t pool_timer;
	queue_t pool;          /* ws_pooled_t.link, most recent first */
	size_t npool;          /* idle WebSockets the pool holds */
	uint64_t pool_idle_ms; /* how long one may wait there */
	uint64_t opens, reused, fails;
	const metric_t *rows;
	size_t nrows;
	unsigned closing : 1;
} ws_hop_t;

void ws_hop_init(ws_hop_t *h, uv_loop_t *loop, dialer_t *next, const dialer_ops_t *ops,
                 const metric_t *rows, size_t nrows);
/* The server from u (port 443 with tls, else 80, when it has none) and the
 * hop's name for logs and metrics; -EINVAL with a message without a
 * server. */
int ws_hop_server(ws_hop_t *h, const url_t *u, int tls, char *err, size_t errlen);
/* The Host header: host (the hop's host= option, one line) or the URL's
 * host, with its port unless it is the default one and !always_port. */
int ws_hop_host(ws_hop_t *h, const url_t *u, const char *host, int tls, int always_port, char *err,
                size_t errlen);
void ws_hop_pool_put(ws_hop_t *h, ws_pooled_t *e);
/* The most recent one, off the pool; NULL when it is empty. */
ws_pooled_t *ws_hop_pool_take(ws_hop_t *h);
/* Off the pool if it is there. */
void ws_hop_pool_remove(ws_hop_t *h, ws_pooled_t *e);
/* Each one idle for pool_idle_ms or more: off the pool, then to fn. */
void ws_hop_pool_expire(ws_hop_t *h, void (*fn)(ws_hop_t *h, ws_pooled_t *e));

/* dialer_ops_t.session: the pool, for /status (never unhealthy: a pool
 * that cannot fill fails the dials, which say why): up while it holds
 * idle WebSockets, idle when it holds none; why counts them and the
 * opens, reuses and failures. */
void ws_hop_session(const dialer_t *d, struct hop_session *s);
/* A dial answered: err < 0 counts a failure, else an open. */
void ws_hop_count(ws_hop_t *h, int err);
void ws_hop_start(ws_hop_t *h, uv_timer_cb pool_cb, uint64_t first_ms, uint64_t every_ms);
/* 1 when every handle was closed under the hop (the process is exiting):
 * nothing can be released properly any more. */
int ws_hop_stop(ws_hop_t *h);
void ws_hop_release(ws_hop_t *h);

#endif
