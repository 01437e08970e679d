/* metrics: see metrics.h.
 *
 * The HTTP side is deliberately tiny: one request per connection, the head
 * read into a 4 KiB buffer, GET /metrics or GET /health answered, anything
 * else 404, then the connection is closed once the answer is written.
 */
#include "core/metrics.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dial.h"
#include "core/json.h"
#include "core/log.h"
#include "core/queue.h"
#include "core/tcp.h"
#include "core/url.h"

static metrics_listener_t *listeners, **listeners_tail = &listeners;
static uint64_t start_ms;

typedef struct writer {
	struct writer *next;
	metrics_writer_fn fn;
	void *ud;
} writer_t;
static writer_t *writers;

typedef struct hwriter {
	struct hwriter *next;
	metrics_health_fn fn;
	void *ud;
} hwriter_t;
static hwriter_t *hwriters;

#define METRICS_PAGES 8
static struct {
	char path[64];
	metrics_page_fn fn;
	void *ud;
} pages[METRICS_PAGES];

static const double dial_le[METRICS_DIAL_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1,    5};

void mbuf_printf(mbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
}

metrics_listener_t *metrics_listener_new(const char *name)
{
	metrics_listener_t *m;

	for (m = listeners; m; m = m->next) /* a listener made again by a reload */
		if (!strcmp(m->name, name))
			return m;
	if (!(m = calloc(1, sizeof(*m))))
		abort();
	snprintf(m->name, sizeof(m->name), "%s", name);
	*listeners_tail = m;
	listeners_tail = &m->next;
	return m;
}

void metrics_observe_dial(metrics_listener_t *m, double seconds)
{
	for (int i = 0; i < METRICS_DIAL_BUCKETS; i++)
		if (seconds <= dial_le[i])
			m->dial_buckets[i]++;
	m->dial_count++;
	m->dial_sum += seconds;
}

void metrics_register(metrics_writer_fn fn, void *ud)
{
	writer_t *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->fn = fn;
	w->ud = ud;
	w->next = writers;
	writers = w;
}

void metrics_unregister(metrics_writer_fn fn, void *ud)
{
	for (writer_t **pp = &writers; *pp; pp = &(*pp)->next)
		if ((*pp)->fn == fn && (*pp)->ud == ud) {
			writer_t *w = *pp;
			*pp = w->next;
			free(w);
			return;
		}
}

void metrics_health_register(metrics_health_fn fn, void *ud)
{
	hwriter_t *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->fn = fn;
	w->ud = ud;
	w->next = hwriters;
	hwriters = w;
}

void metrics_page(const char *path, metrics_page_fn fn, void *ud)
{
	int free_slot = -1;

	for (int i = 0; i < METRICS_PAGES; i++) {
		if (pages[i].fn && !strcmp(pages[i].path, path)) {
			pages[i].fn = fn;
			pages[i].ud = ud;
			return;
		}
		if (!pages[i].fn && free_slot < 0)
			free_slot = i;
	}
	if (fn && free_slot >= 0) {
		snprintf(pages[free_slot].path, sizeof(pages[0].path), "%s", path);
		pages[free_slot].fn = fn;
		pages[free_slot].ud = ud;
	}
}

void metrics_family(mbuf_t *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(mbuf_t *b, const char *name, const char *type, const char *help,
                    const char *labels, uint64_t v)
{
	metrics_family(b, name, type, help);
	mbuf_printf(b, "%s%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
	            (unsigned long long)v);
}

void metrics_families(mbuf_t *b, const metric_t *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		metrics_family(b, rows[i].name, rows[i].type, rows[i].help);
}

static uint64_t field_value(const void *obj, const metric_t *m)
{
	const char *p = (const char *)obj + m->off;

	switch (m->size) {
	case 1:
		return *(const uint8_t *)p;
	case 2:
		return *(const uint16_t *)p;
	case 4:
		return *(const uint32_t *)p;
	default:
		return *(const uint64_t *)p;
	}
}

void metrics_table(mbuf_t *b, const metric_t *rows, size_t n, const void *obj, const char *labels)
{
	char both[512];

	for (size_t i = 0; i < n; i++) {
		const char *l = labels;
		if (rows[i].extra) {
			snprintf(both, sizeof(both), "%s%s%s", labels, *labels ? "," : "",
			         rows[i].extra);
			l = both;
		}
		metrics_sample(b, rows[i].name, rows[i].type, rows[i].help, l,
		               field_value(obj, &rows[i]));
	}
}

const char *metrics_label(char *buf, size_t len, const char *key, const char *value)
{
	size_t o = 0;

	if (!len)
		return buf;
	o = (size_t)snprintf(buf, len, "%s=\"", key);
	for (; *value && o + 3 < len; value++) {
		char c = *value;
		if (c == '\\' || c == '"' || c == '\n') {
			buf[o++] = '\\';
			c = c == '\n' ? 'n' : c;
		}
		buf[o++] = c;
	}
	if (o + 1 < len)
		buf[o++] = '"';
	buf[o < len ? o : len - 1] = 0;
	return buf;
}

static const metric_t listener_rows[] = {
    METRIC(metrics_listener_t, active, "sluice_connections_active", "gauge",
           "Connections open now."),
    METRIC(metrics_listener_t, total, "sluice_connections_total", "counter",
           "Connections accepted."),
    METRIC(metrics_listener_t, failed, "sluice_connections_failed_total", "counter",
           "Connections whose target could not be reached."),
    METRIC(metrics_listener_t, failed_late, "sluice_connections_failed_late_total", "counter",
           "Connections answered as connected before the tunnel's server had reached the "
           "target (fast-open), whose target then failed."),
    METRIC(metrics_listener_t, rejected, "sluice_connections_rejected_total", "counter",
           "Connections refused by ACL, connection cap or rate limit."),
    METRIC(metrics_listener_t, bytes_in, "sluice_bytes_received_total", "counter",
           "Bytes received from clients."),
    METRIC(metrics_listener_t, bytes_out, "sluice_bytes_sent_total", "counter",
           "Bytes sent to clients."),
};

/* Everything, in the order the writers wrote it. */
static void render_raw(mbuf_t *b)
{
	metrics_listener_t *m;
	char lab[300];

	for (m = listeners; m; m = m->next)
		METRICS_TABLE(b, listener_rows, m,
		              metrics_label(lab, sizeof(lab), "listener", m->name));
	metrics_family(b, "sluice_dial_duration_seconds", "histogram",
	               "Time to connect to a target through the chain.");
	for (m = listeners; m; m = m->next) {
		metrics_label(lab, sizeof(lab), "listener", m->name);
		for (int i = 0; i < METRICS_DIAL_BUCKETS; i++)
			mbuf_printf(b, "sluice_dial_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
			            lab, dial_le[i], (unsigned long long)m->dial_buckets[i]);
		mbuf_printf(b, "sluice_dial_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lab,
		            (unsigned long long)m->dial_count);
		mbuf_printf(b, "sluice_dial_duration_seconds_sum{%s} %.6f\n", lab, m->dial_sum);
		mbuf_printf(b, "sluice_dial_duration_seconds_count{%s} %llu\n", lab,
		            (unsigned long long)m->dial_count);
	}
	for (writer_t *w = writers; w; w = w->next)
		w->fn(b, w->ud);
}

/* ---- grouping by family ----
 *
 * The writers' text is cut into lines; each sample line belongs to the
 * family of its name (a histogram's _bucket, _sum and _count to the
 * histogram), each # HELP / # TYPE line to the family it names, the first
 * of each kind kept.  Then every family is printed once, in the order
 * families first appeared: HELP, TYPE, its samples in the order written. */

typedef struct span {
	const char *p;
	size_t len;
} span_t;

typedef struct family {
	span_t name, help, type;
	size_t first, last; /* its sample lines, chained through line_t.next */
} family_t;

typedef struct line {
	span_t text;
	size_t next; /* the family's next sample line, or SIZE_MAX */
} line_t;

static int span_is(span_t a, const char *s, size_t n)
{
	return a.len == n && !memcmp(a.p, s, n);
}

static size_t family_find(family_t *f, size_t nf, const char *name, size_t n)
{
	for (size_t i = 0; i < nf; i++)
		if (span_is(f[i].name, name, n))
			return i;
	return SIZE_MAX;
}

/* The family a sample called name[0..n) belongs to. */
static size_t family_of(family_t *f, size_t nf, const char *name, size_t n)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	size_t i = family_find(f, nf, name, n);

	for (size_t k = 0; i == SIZE_MAX && k < 3; k++) {
		size_t sl = strlen(sfx[k]), j;
		if (n > sl && !memcmp(name + n - sl, sfx[k], sl) &&
		    (j = family_find(f, nf, name, n - sl)) != SIZE_MAX &&
		    span_is(f[j].type, "histogram", 9))
			i = j;
	}
	return i;
}

static void regroup(const mbuf_t *in, mbuf_t *out)
{
	size_t nf = 0, capf = 16, nl = 0, capl = 64;
	family_t *f = calloc(capf, sizeof(*f));
	line_t *l = calloc(capl, sizeof(*l));
	const char *p = in->p, *end = in->p + in->len;

	if (!f || !l)
		abort();
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *name = p;
		span_t text = {p, (size_t)((eol ? eol : end) - p)};
		size_t n, i;
		int meta = 0; /* 1: HELP, 2: TYPE */

		p = eol ? eol + 1 : end;
		if (!text.len)
			continue;
		if (text.len > 7 &&
		    (!memcmp(text.p, "# HELP ", 7) || !memcmp(text.p, "# TYPE ", 7))) {
			meta = text.p[2] == 'H' ? 1 : 2;
			name = text.p + 7;
		}
		n = strcspn(name, meta ? " \n" : "{ \n");
		if (name + n > text.p + text.len)
			n = (size_t)(text.p + text.len - name);
		i = meta ? family_find(f, nf, name, n) : family_of(f, nf, name, n);
		if (i == SIZE_MAX) {
			if (nf == capf && !(f = realloc(f, (capf *= 2) * sizeof(*f))))
				abort();
			i = nf++;
			f[i] = (family_t){.name = {name, n}, .first = SIZE_MAX, .last = SIZE_MAX};
		}
		if (meta == 1 && !f[i].help.p)
			f[i].help = text;
		else if (meta == 2 && !f[i].type.p && name + n < text.p + text.len)
			f[i].type =
			    (span_t){name + n + 1, text.len - (size_t)(name + n + 1 - text.p)};
		if (meta)
			continue;
		if (nl == capl && !(l = realloc(l, (capl *= 2) * sizeof(*l))))
			abort();
		l[nl] = (line_t){text, SIZE_MAX};
		if (f[i].last == SIZE_MAX)
			f[i].first = nl;
		else
			l[f[i].last].next = nl;
		f[i].last = nl++;
	}
	for (size_t i = 0; i < nf; i++) {
		if (f[i].help.p)
			mbuf_printf(out, "%.*s\n", (int)f[i].help.len, f[i].help.p);
		if (f[i].type.p)
			mbuf_printf(out, "# TYPE %.*s %.*s\n", (int)f[i].name.len, f[i].name.p,
			            (int)f[i].type.len, f[i].type.p);
		for (size_t j = f[i].first; j != SIZE_MAX; j = l[j].next)
			mbuf_printf(out, "%.*s\n", (int)l[j].text.len, l[j].text.p);
	}
	free(f);
	free(l);
}

/* ---- several processes' text summed (workers=N) ----
 *
 * A sample is "NAME{LABELS} VALUE"; the same NAME{LABELS} from each text
 * adds up, but for the families whose value is a state, not an amount
 * (NAME ending _up, _info, _seconds, _max, _entries; sluice_rules): the
 * largest.  # lines are kept once.  Then grouped by family as above. */

typedef struct sample {
	span_t key; /* the line for a # line */
	double v;
	int meta;
} sample_t;

static int sample_is_state(span_t key)
{
	static const char *const sfx[] = {"_up", "_info", "_seconds", "_max", "_entries"};
	size_t n = strcspn(key.p, "{ ");

	n = n < key.len ? n : key.len;
	if (n == 12 && !memcmp(key.p, "sluice_rules", 12))
		return 1;
	for (size_t k = 0; k < sizeof(sfx) / sizeof(sfx[0]); k++) {
		size_t sl = strlen(sfx[k]);
		if (n > sl && !memcmp(key.p + n - sl, sfx[k], sl))
			return 1;
	}
	return 0;
}

void metrics_sum(const mbuf_t *texts, size_t ntexts, mbuf_t *out)
{
	size_t ns = 0, cap = 64;
	sample_t *sm = calloc(cap, sizeof(*sm));
	mbuf_t flat = {0};

	if (!sm)
		abort();
	for (size_t t = 0; t < ntexts; t++) {
		const char *p = texts[t].p, *end = p ? p + texts[t].len : p;
		while (p && p < end) {
			const char *eol = memchr(p, '\n', (size_t)(end - p)), *sp;
			span_t line = {p, (size_t)((eol ? eol : end) - p)};
			sample_t x = {0};
			size_t i;

			p = eol ? eol + 1 : end;
			if (!line.len)
				continue;
			if (line.p[0] == '#') {
				x = (sample_t){line, 0, 1};
			} else {
				for (sp = line.p + line.len; sp > line.p && sp[-1] != ' '; sp--)
					;
				if (sp == line.p)
					continue;
				x.key = (span_t){line.p, (size_t)(sp - 1 - line.p)};
				x.v = strtod(sp, NULL);
			}
			for (i = 0; i < ns; i++)
				if (sm[i].meta == x.meta && span_is(sm[i].key, x.key.p, x.key.len))
					break;
			if (i < ns && !x.meta)
				sm[i].v = sample_is_state(x.key) ? (x.v > sm[i].v ? x.v : sm[i].v)
				                                 : sm[i].v + x.v;
			if (i < ns)
				continue;
			if (ns == cap && !(sm = realloc(sm, (cap *= 2) * sizeof(*sm))))
				abort();
			sm[ns++] = x;
		}
	}
	for (size_t i = 0; i < ns; i++) {
		if (sm[i].meta)
			mbuf_printf(&flat, "%.*s\n", (int)sm[i].key.len, sm[i].key.p);
		else if (sm[i].v == (double)(uint64_t)sm[i].v)
			mbuf_printf(&flat, "%.*s %llu\n", (int)sm[i].key.len, sm[i].key.p,
			            (unsigned long long)sm[i].v);
		else
			mbuf_printf(&flat, "%.*s %.6f\n", (int)sm[i].key.len, sm[i].key.p, sm[i].v);
	}
	if (flat.len)
		regroup(&flat, out);
	free(flat.p);
	free(sm);
}

void metrics_totals(uint64_t *active, uint64_t *total)
{
	*active = *total = 0;
	for (metrics_listener_t *m = listeners; m; m = m->next) {
		*active += m->active;
		*total += m->total;
	}
}

void metrics_render(mbuf_t *b)
{
	mbuf_t raw = {0};

	render_raw(&raw);
	if (raw.len)
		regroup(&raw, b);
	free(raw.p);
}

void metrics_render_health(mbuf_t *b, const char *why)
{
	uint64_t up = start_ms ? (uv_hrtime() / 1000000 - start_ms) / 1000 : 0;
	mbuf_t more = {0};
	int degraded = 0;

	for (hwriter_t *w = hwriters; w; w = w->next)
		w->fn(&more, &degraded, w->ud);
	mbuf_printf(b, "{\"status\":\"%s\",", why ? "unhealthy" : degraded ? "degraded" : "ok");
	if (why) {
		char e[600];
		json_escape(e, sizeof(e), why);
		mbuf_printf(b, "\"reason\":\"%s\",", e);
	}
	mbuf_printf(b, "\"version\":\"%s\",\"uptime_s\":%llu,\"listeners\":[", SLUICE_VERSION,
	            (unsigned long long)up);
	for (metrics_listener_t *m = listeners; m; m = m->next)
		mbuf_printf(b, "%s{\"name\":\"%s\",\"active\":%llu,\"total\":%llu}",
		            m == listeners ? "" : ",", m->name, (unsigned long long)m->active,
		            (unsigned long long)m->total);
	mbuf_printf(b, "]%.*s}\n", (int)more.len, more.p ? more.p : "");
	free(more.p);
}

/* ---- HTTP endpoint ----
 *
 * Bounded like everything else that faces a client: at most
 * METRICS_MAX_CONNS connections (a new one closes the oldest, so a client
 * that holds many open cannot keep a scraper out), and each has
 * METRICS_TIMEOUT_MS from accept to the last byte of its answer (a silent
 * client, one that sends its head a byte at a time, one that does not read
 * the answer).  One sweep timer runs while there are connections. */

static uv_tcp_t server;
static int serving;
static queue_t mconns = {&mconns, &mconns}; /* oldest first */
static size_t nmconns;
static uv_timer_t sweep;
static int sweep_init;

typedef struct mconn {
	queue_t link;
	stream_t *s;
	uint64_t start;
	char req[4096];
	size_t len;
	int answered;
} mconn_t;

static void mc_close(mconn_t *c)
{
	queue_remove(&c->link);
	nmconns--;
	stream_close(c->s);
	free(c);
	if (!nmconns)
		uv_timer_stop(&sweep);
}

static void on_sweep(uv_timer_t *t)
{
	queue_t *q, *n;

	queue_foreach_safe (q, n, &mconns) {
		mconn_t *c = queue_data(q, mconn_t, link);
		if (uv_now(t->loop) - c->start < METRICS_TIMEOUT_MS)
			break; /* the rest are younger */
		log_debug(0, "metrics: a connection timed out (%s)",
		          c->answered ? "answer not read" : "no request");
		mc_close(c);
	}
}

static void respond(mconn_t *c, int code, const char *ctype, mbuf_t *body)
{
	mbuf_t out = {0};

	mbuf_printf(&out,
	            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	            "Connection: close\r\n\r\n%.*s",
	            code,
	            code == 200   ? "OK"
	            : code == 404 ? "Not Found"
	            : code == 503 ? "Service Unavailable"
	                          : "Bad Request",
	            ctype, body->len, (int)body->len, body->p ? body->p : "");
	c->answered = 1;
	if (stream_write(c->s, sbuf_from(out.p, out.len)) < 0 || c->s->wq_bytes == 0)
		mc_close(c);
	free(out.p);
}

/* The page a request asks for: "GET PATH " or "GET PATH?...". */
static int page_of(const char *req)
{
	for (int i = 0; i < METRICS_PAGES; i++) {
		size_t n = strlen(pages[i].path);
		if (pages[i].fn && !strncmp(req, "GET ", 4) &&
		    !strncmp(req + 4, pages[i].path, n) && (req[4 + n] == ' ' || req[4 + n] == '?'))
			return i;
	}
	return -1;
}

static metrics_answer_fn answer_fn = metrics_answer;

void metrics_answer_set(metrics_answer_fn fn)
{
	answer_fn = fn ? fn : metrics_answer;
}

int metrics_answer(const char *req, mbuf_t *body, const char **ctype, const struct sockaddr *local)
{
	int page;

	*ctype = "text/plain";
	if (!strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET /metrics?", 13)) {
		metrics_render(body);
		*ctype = "text/plain; version=0.0.4";
		return 200;
	} else if ((page = page_of(req)) >= 0) {
		struct sockaddr_storage none = {0};
		char query[256] = "";
		const char *q = req + 4 + strlen(pages[page].path);
		if (*q == '?')
			snprintf(query, sizeof(query), "%.*s", (int)strcspn(q + 1, " \r\n"), q + 1);
		return pages[page].fn(body, ctype, local ? local : (struct sockaddr *)&none, query,
		                      pages[page].ud);
	} else if (!strncmp(req, "GET /health ", 12)) {
		metrics_render_health(body, NULL);
		*ctype = "application/json";
		return 200;
	}
	mbuf_printf(body, "not found: try /metrics or /health\n");
	return 404;
}

static void mc_read(stream_t *s, sbuf_t *b)
{
	mconn_t *c = s->data;
	mbuf_t body = {0};
	struct sockaddr_storage local;
	const char *ctype = "text/plain";
	size_t n;
	int code;

	if (!b || c->answered) {
		sbuf_free(b);
		if (!c->answered)
			mc_close(c);
		return;
	}
	n = b->len < sizeof(c->req) - 1 - c->len ? b->len : sizeof(c->req) - 1 - c->len;
	memcpy(c->req + c->len, sbuf_ptr(b), n);
	c->len += n;
	c->req[c->len] = 0;
	sbuf_free(b);
	if (!strstr(c->req, "\r\n\r\n") && !strstr(c->req, "\n\n")) {
		if (c->len >= sizeof(c->req) - 1) {
			mbuf_printf(&body, "request too large\n");
			respond(c, 400, "text/plain", &body);
			free(body.p);
		}
		return;
	}
	stream_read_stop(s);
	if (stream_addr(s, 0, &local) < 0)
		memset(&local, 0, sizeof(local));
	c->req[strcspn(c->req, "\r\n")] = 0; /* the request line */
	code = answer_fn(c->req, &body, &ctype, (struct sockaddr *)&local);
	respond(c, code, ctype, &body);
	free(body.p);
}

static void mc_drain(stream_t *s)
{
	mconn_t *c = s->data;

	if (c->answered && s->wq_bytes == 0)
		mc_close(c);
}

static void mc_error(stream_t *s, int err)
{
	mc_close(s->data);
}

static const stream_cbs_t mc_cbs = {mc_read, mc_drain, mc_error};

static void on_conn(uv_stream_t *srv, int status)
{
	mconn_t *c;
	stream_t *s;

	if (status < 0 || tcp_stream_accept(srv, 0, &s) < 0)
		return;
	if (nmconns >= METRICS_MAX_CONNS) {
		log_debug(0, "metrics: %d connections: the oldest closed", METRICS_MAX_CONNS);
		mc_close(queue_data(queue_first(&mconns), mconn_t, link));
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->s = s;
	c->start = uv_now(srv->loop);
	queue_insert_tail(&mconns, &c->link);
	if (!nmconns++) {
		if (!sweep_init) {
			uv_timer_init(srv->loop, &sweep);
			uv_unref((uv_handle_t *)&sweep);
			sweep_init = 1;
		}
		uv_timer_start(&sweep, on_sweep, 1000, 1000);
	}
	stream_set_cbs(s, &mc_cbs, c);
	stream_read_start(s);
}

int metrics_serve(uv_loop_t *loop, const char *addr, char *err, size_t errlen)
{
	char host[256];
	uint16_t port;
	struct sockaddr_storage ss;
	target_t t;
	int r;

	start_ms = uv_hrtime() / 1000000;
	if (hostport_parse(addr, host, sizeof(host), &port) < 0 || target_set(&t, host, port) < 0 ||
	    !target_is_ip(&t, &ss)) {
		snprintf(err, errlen, "--metrics: '%s' is not IP:PORT", addr);
		return -1;
	}
	uv_tcp_init(loop, &server);
	if ((r = uv_tcp_bind(&server, (struct sockaddr *)&ss, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&server, 64, on_conn)) < 0) {
		snprintf(err, errlen, "--metrics %s: %s", addr, uv_strerror(r));
		uv_close((uv_handle_t *)&server, NULL);
		return r;
	}
	serving = 1;
	log_info(0, "metrics on http://%s/metrics and /health", addr);
	return 0;
}

void metrics_stop(void)
{
	if (serving)
		uv_close((uv_handle_t *)&server, NULL);
	serving = 0;
	while (nmconns)
		mc_close(queue_data(queue_first(&mconns), mconn_t, link));
	if (sweep_init)
		uv_close((uv_handle_t *)&sweep, NULL);
	sweep_init = 0;
}
