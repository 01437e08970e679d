/* metrics: counters per listener and an HTTP endpoint that shows them.
 *
 *   GET /metrics  Prometheus text format
 *   GET /health   {"status":"ok","uptime_s":...,"listeners":[...]}; a page
 *                 registered for /health (core/health.h) answers instead
 *
 * Counters are plain integers updated from the loop thread.  Modules with
 * state of their own (a tunnel session, a PPP link) register a writer that
 * appends its lines to /metrics, each family after metrics_family(), and
 * unregister it before that state goes.  A writer describes its counters
 * in a table (metric_t rows: family, type, help, the field) and writes
 * them with metrics_table(), rather than a printf per sample.
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
	/* connections answered as connected (fast-open) whose target then
	 * failed: also in failed */
	uint64_t failed_late;
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

/* One row of a writer's table: a family with one sample per instance, the
 * value an unsigned integer field (any width) of the instance's struct;
 * METRIC_X adds labels of the row's own to the instance's (dir="in"). */
typedef struct metric {
	const char *name, *type, *help;
	size_t off, size;
	const char *extra; /* NULL: none */
} metric_t;
#define METRIC_X(obj_t, field, name_, type_, help_, extra_)                                        \
	{                                                                                          \
		.name = (name_), .type = (type_), .help = (help_), .off = offsetof(obj_t, field),  \
		.size = sizeof(((obj_t *)0)->field), .extra = (extra_)                             \
	}
#define METRIC(obj_t, field, name_, type_, help_) METRIC_X(obj_t, field, name_, type_, help_, NULL)
/* Each row's family, then its sample "NAME{LABELS} VALUE" read from obj;
 * labels is metrics_label()'s text, or "" for none. */
void metrics_table(mbuf_t *b, const metric_t *rows, size_t n, const void *obj, const char *labels);
#define METRICS_TABLE(b, rows, obj, labels)                                                        \
	metrics_table((b), (rows), sizeof(rows) / sizeof((rows)[0]), (obj), (labels))
/* The rows' families alone (# HELP, # TYPE), for a writer that declares
 * them while it has no instance to show. */
void metrics_families(mbuf_t *b, const metric_t *rows, size_t n);
#define METRICS_FAMILIES(b, rows) metrics_families((b), (rows), sizeof(rows) / sizeof((rows)[0]))
/* One sample of a value that is computed, with its family. */
void metrics_sample(mbuf_t *b, const char *name, const char *type, const char *help,
                    const char *labels, uint64_t v);
/* key="value" into buf, the value escaped as the text format wants (\\, \",
 * \n); returns buf. */
const char *metrics_label(char *buf, size_t len, const char *key, const char *value);

/* The counters of the listener called name: new, or the ones a listener
 * of that name had before (a reload that made it again counts on). */
metrics_listener_t *metrics_listener_new(const char *name);
void metrics_observe_dial(metrics_listener_t *m, double seconds);
void metrics_register(metrics_writer_fn fn, void *ud);
/* Before ud goes: the writer (fn, ud) is not called again. */
void metrics_unregister(metrics_writer_fn fn, void *ud);
/* More of /health: fn appends ",\"KEY\":VALUE" to the JSON object, and
 * sets *degraded when what it reports is not well (the status says
 * "degraded" then). */
typedef void (*metrics_health_fn)(mbuf_t *out, int *degraded, void *ud);
void metrics_health_register(metrics_health_fn fn, void *ud);
/* Another page on the metrics server: GET path (exactly, or with a query)
 * calls fn, which fills body and its content type and returns the HTTP
 * status (200, 404); local is the address the request came in on, query
 * what followed '?' in the path ("" for none).  fn
 * NULL removes the page. */
typedef int (*metrics_page_fn)(mbuf_t *body, const char **ctype, const struct sockaddr *local,
                               const char *query, void *ud);
void metrics_page(const char *path, metrics_page_fn fn, void *ud);
void metrics_render(mbuf_t *out); /* the /metrics body */
/* The /metrics texts of several processes as one (workers=N): the same
 * sample in each adds up (a state, such as NAME_up, takes the largest),
 * grouped by family. */
void metrics_sum(const mbuf_t *texts, size_t n, mbuf_t *out);
/* Connections open now and accepted, over every listener. */
void metrics_totals(uint64_t *active, uint64_t *total);
/* The answer to a request line ("GET /path?query HTTP/1.1") as the
 * metrics server gives it: the HTTP status, body and its type; local is
 * the address it came in on (NULL: none).  metrics_answer_set(fn) makes
 * the server answer with fn instead (NULL: this one again). */
int metrics_answer(const char *req, mbuf_t *body, const char **ctype, const struct sockaddr *local);
typedef int (*metrics_answer_fn)(const char *req, mbuf_t *body, const char **ctype,
                                 const struct sockaddr *local);
void metrics_answer_set(metrics_answer_fn fn);
/* the /health body: status "ok" (or "degraded" when a health writer
 * says so), or "unhealthy" and the reason when why is not NULL */
void metrics_render_health(mbuf_t *out, const char *why);
/* Serve /metrics and /health on "host:port": at most METRICS_MAX_CONNS
 * connections (a new one closes the oldest), each closed
 * METRICS_TIMEOUT_MS after it was accepted, answered or not. */
#define METRICS_MAX_CONNS 64
#define METRICS_TIMEOUT_MS 10000
int metrics_serve(uv_loop_t *loop, const char *addr, char *err, size_t errlen);
void metrics_stop(void);

#endif
