/* metrics: counters per listener and an HTTP endpoint that shows them.
 *
 *   GET /metrics  Prometheus text format
 *   GET /health   {"status":"ok","uptime_s":...,"listeners":[...]}
 *
 * Counters are plain integers updated from the loop thread.  Modules with
 * state of their own (a tunnel session, a PPP link) register a writer that
 * appends its lines to /metrics, each family after metrics_family().
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define METRICS_DIAL_BUCKETS 12

typedef struct metrics_listener {
	struct metrics_listener *next;
	char name[128]; /* the listener URL without credentials or options */
	uint64_t active, total, failed, rejected;
	uint64_t bytes_in, bytes_out;                /* from clients, to clients */
	uint64_t dial_buckets[METRICS_DIAL_BUCKETS]; /* cumulative counts per le bound */
	uint64_t dial_count;
	double dial_sum;
} metrics_listener_t;

typedef struct mbuf {
	char *p;
	size_t len, cap;
} mbuf_t;
void mbuf_printf(mbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef void (*metrics_writer_fn)(mbuf_t *out, void *ud);

/* A writer calls this before its first sample of a family (the full name,
 * "sluice_ws_opens_total"; type "counter", "gauge" or "histogram"): the
 * family's # HELP and # TYPE lines.  The writers of several instances
 * repeat it; /metrics prints every family once, its samples together, as
 * the text format wants. */
void metrics_family(mbuf_t *b, const char *name, const char *type, const char *help);

metrics_listener_t *metrics_listener_new(const char *name);
void metrics_observe_dial(metrics_listener_t *m, double seconds);
void metrics_register(metrics_writer_fn fn, void *ud);
void metrics_render(mbuf_t *out);        /* the /metrics body */
void metrics_render_health(mbuf_t *out); /* the /health body */
/* Serve /metrics and /health on "host:port". */
int metrics_serve(uv_loop_t *loop, const char *addr, char *err, size_t errlen);
void metrics_stop(void);

#endif
