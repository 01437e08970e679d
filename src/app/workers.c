/* workers: see workers.h.  The master's asks are blocking (poll with a
 * deadline): it carries no traffic, and a scrape or a reload waits for the
 * workers anyway.  A late answer to an ask that timed out is read and
 * dropped before the next ask. */
#include "app/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/priv.h"
#include "core/replay.h"
#include "core/runtime.h"
#include "core/sdnotify.h"
#include "core/url.h"

#define WORKERS_ENV "SLUICE_WORKER"
#define CHANNEL_FD 3
#define REPLAY_FD 4
#define REPLAY_SLOTS (1u << 20) /* 24 MiB of shared memory, touched as used */
#define ASK_MS 5000
#define RESTART_MS 1000
#define CHANNEL_MAX 4096 /* a request line */

extern char **environ;

/* ---- a worker ---- */

static int self_index = -1, self_count;

int workers_self(int *index, int *count)
{
	const char *e = getenv(WORKERS_ENV);
	int i, n;

	if (self_index < 0 && e && sscanf(e, "%d/%d", &i, &n) == 2 && i >= 0 && i < n &&
	    n <= LISTENER_WORKERS_MAX) {
		self_index = i;
		self_count = n;
		log_worker = i;
	}
	if (index)
		*index = self_index;
	if (count)
		*count = self_count;
	return self_index >= 0;
}

/* The workers= of a -L (1 when not given). */
static int url_workers(const char *s, uint64_t *w, char *err, size_t errlen)
{
	url_t *u;
	int r;

	*w = 1;
	if (url_parse(s, &u, err, errlen) < 0)
		return -1;
	r = url_opt_uint(u, "workers", LISTENER_WORKERS_MAX, w, err, errlen);
	url_free(u);
	return r < 0 ? -1 : 0;
}

int workers_filter(config_t *f, char *err, size_t errlen)
{
	strlist_t keep = {0};
	uint64_t w;
	int i;

	if (!workers_self(&i, NULL))
		return 0;
	for (size_t k = 0; k < f->listen.n; k++) {
		if (url_workers(f->listen.v[k], &w, err, errlen) < 0) {
			strlist_clear(&keep);
			return -1;
		}
		if ((uint64_t)i < w)
			strlist_push(&keep, f->listen.v[k]);
	}
	strlist_clear(&f->listen);
	f->listen = keep;
	f->listen.set = 1;
	if (i > 0)
		strlist_clear(&f->reverse); /* -R: worker 0's */
	return 0;
}

static uv_pipe_t chan;
static char creq[CHANNEL_MAX];
static size_t creq_len;
static control_fn ctl_fn;

static void chan_written(uv_write_t *w, int status)
{
	free(w->data);
	free(w);
}

static void chan_answer(unsigned id, int code, const char *ctype, const mbuf_t *body)
{
	char head[160];
	int hl = snprintf(head, sizeof(head), "%u %d %zu %s\n", id, code, body->len, ctype);
	uv_write_t *w = malloc(sizeof(*w));
	char *p = malloc((size_t)hl + body->len + 1);
	uv_buf_t b;

	if (!w || !p)
		abort();
	memcpy(p, head, (size_t)hl);
	if (body->len)
		memcpy(p + hl, body->p, body->len);
	w->data = p;
	b = uv_buf_init(p, (unsigned)((size_t)hl + body->len));
	if (uv_write(w, (uv_stream_t *)&chan, &b, 1, chan_written) < 0)
		chan_written(w, 0);
}

static void chan_request(const char *line)
{
	mbuf_t body = {0};
	const char *ctype = "text/plain", *req = line;
	unsigned id = 0;
	int code = 0, used = 0;

	if (sscanf(line, "%u %n", &id, &used) == 1 && used > 0)
		req = line + used;

	if (!strncmp(req, "page ", 5)) { /* page IP PORT REQUEST-LINE ("-" "0": none) */
		struct sockaddr_storage local = {0};
		char ip[64];
		unsigned port;
		int used = 0;
		if (sscanf(req + 5, "%63s %u %n", ip, &port, &used) == 2 && used > 0 &&
		    port < 65536 && uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)&local) < 0 &&
		    uv_ip6_addr(ip, (int)port, (struct sockaddr_in6 *)&local) < 0)
			memset(&local, 0, sizeof(local));
		code = metrics_answer(req + 5 + used, &body, &ctype, (struct sockaddr *)&local);
	} else if (!strncmp(req, "ctl ", 4)) {
		ctl_fn(req + 4, &body);
	} else if (!strcmp(req, "stop")) {
		runtime_stop("the master's SIGTERM");
	} else if (!strcmp(req, "exit")) {
		log_info(0, "the master's second signal: exiting now");
		exit(0);
	} else if (!strcmp(req, "counts")) {
		uint64_t active, total;
		metrics_totals(&active, &total);
		mbuf_printf(&body, "%llu %llu %llu\n", (unsigned long long)active,
		            (unsigned long long)total, (unsigned long long)conn_live);
	} else {
		mbuf_printf(&body, "unknown request\n");
		code = 400;
	}
	chan_answer(id, code, ctype, &body);
	free(body.p);
}

static void chan_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	*buf = uv_buf_init(creq + creq_len, (unsigned)(sizeof(creq) - 1 - creq_len));
}

static void chan_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	char *nl;

	if (n < 0) {
		uv_read_stop(s);
		uv_close((uv_handle_t *)&chan, NULL);
		runtime_stop("the master is gone");
		return;
	}
	creq_len += (size_t)n;
	creq[creq_len] = 0;
	while ((nl = memchr(creq, '\n', creq_len))) {
		size_t used = (size_t)(nl - creq) + 1;
		*nl = 0;
		chan_request(creq);
		memmove(creq, creq + used, creq_len - used);
		creq_len -= used;
		creq[creq_len] = 0;
	}
	if (creq_len == sizeof(creq) - 1)
		creq_len = 0; /* no line this long is ours */
}

int workers_child_init(char *err, size_t errlen)
{
	if (replay_shm_attach(REPLAY_FD, err, errlen) < 0)
		return -1;
	close(REPLAY_FD); /* mapped: the descriptor is not needed */
	fcntl(CHANNEL_FD, F_SETFD, FD_CLOEXEC);
	listener_reuseport = 1;
	return 0;
}

int workers_child_start(uv_loop_t *loop, control_fn fn, char *err, size_t errlen)
{
	int r;

	ctl_fn = fn;
	uv_pipe_init(loop, &chan, 0);
	if ((r = uv_pipe_open(&chan, CHANNEL_FD)) < 0 ||
	    (r = uv_read_start((uv_stream_t *)&chan, chan_alloc, chan_read)) < 0) {
		snprintf(err, errlen, "worker %d: the master's channel: %s", self_index,
		         uv_strerror(r));
		return -1;
	}
	uv_unref((uv_handle_t *)&chan);
	log_info(0, "worker %d of %d (pid %d)", self_index, self_count, (int)getpid());
	return 0;
}

/* ---- the master ---- */

typedef struct worker {
	int idx, fd;
	pid_t pid;
	uv_process_t proc;
	uv_timer_t again;
	int alive;    /* started, not yet exited */
	int running;  /* its process handle open */
	unsigned seq; /* the last ask's number */
	uint64_t restarts;
} worker_t;

static struct {
	uv_loop_t *loop;
	const workers_conf_t *c;
	worker_t *w;
	int shm;
	int stopping;
	uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
	uv_timer_t tick, deadline, watchdog;
	int ready;
} m;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read exactly len bytes by the deadline: 0, or -1. */
static int read_by(int fd, char *p, size_t len, uint64_t deadline)
{
	while (len) {
		struct pollfd pf = {fd, POLLIN, 0};
		uint64_t t = now_ms();
		ssize_t n;
		if (t >= deadline || poll(&pf, 1, (int)(deadline - t)) <= 0)
			return -1;
		if ((n = read(fd, p, len)) <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Ask worker w: the answer's code (0 for ctl), its body and type; -1 when
 * it did not answer within ASK_MS.  Each ask has a number, which its
 * answer repeats: a late answer to an ask that gave up is skipped. */
static int ask(worker_t *w, const char *req, mbuf_t *body, char *ctype, size_t ctlen)
{
	char line[CHANNEL_MAX + 16], head[200], *sp;
	uint64_t deadline = now_ms() + ASK_MS;
	unsigned id = ++w->seq, got;
	size_t len;
	int n, code;

	if (!w->alive || w->fd < 0)
		return -1;
	n = snprintf(line, sizeof(line), "%u %s\n", id, req);
	if (n >= (int)sizeof(line) || send(w->fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		return -1;
	for (;;) {
		size_t hl = 0;
		while (hl < sizeof(head) - 1) {
			if (read_by(w->fd, head + hl, 1, deadline) < 0)
				return -1;
			if (head[hl++] == '\n')
				break;
		}
		head[hl] = 0;
		if (sscanf(head, "%u %d %zu", &got, &code, &len) != 3 || len > (64u << 20) ||
		    !(sp = strchr(head, ' ')) || !(sp = strchr(sp + 1, ' ')) ||
		    !(sp = strchr(sp + 1, ' ')))
			return -1;
		if (body->cap < body->len + len + 1) {
			body->cap = body->len + len + 1;
			if (!(body->p = realloc(body->p, body->cap)))
				abort();
		}
		if (read_by(w->fd, body->p + body->len, len, deadline) < 0)
			return -1;
		if (got == id)
			break;
		body->p[body->len] = 0; /* another ask's: dropped */
	}
	if (ctype)
		snprintf(ctype, ctlen, "%.*s", (int)strcspn(sp + 1, "\n"), sp + 1);
	body->len += len;
	body->p[body->len] = 0;
	return code;
}

static void spawn(worker_t *w);

static void on_again(uv_timer_t *t)
{
	worker_t *w = t->data;

	if (!m.stopping)
		spawn(w);
}

static void proc_closed(uv_handle_t *h)
{
	worker_t *w = h->data;
	int left = 0;

	w->running = 0;
	for (int i = 0; i < m.c->n; i++)
		left += m.w[i].running;
	if (!m.stopping) {
		uv_timer_start(&w->again, on_again, RESTART_MS, 0);
	} else if (!left) {
		log_info(0, "workers: all have exited");
		uv_stop(m.loop);
	}
}

static void on_worker_exit(uv_process_t *p, int64_t status, int sig)
{
	worker_t *w = p->data;

	w->alive = 0;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (!m.stopping) {
		w->restarts++;
		log_err(0, "worker %d (pid %d) %s %d: starting it again", w->idx, (int)w->pid,
		        sig ? "killed by signal" : "exited with status", sig ? sig : (int)status);
	} else {
		log_info(0, "worker %d (pid %d) exited", w->idx, (int)w->pid);
	}
	uv_close((uv_handle_t *)p, proc_closed);
}

static void spawn(worker_t *w)
{
	uv_process_options_t o = {0};
	uv_stdio_container_t io[5];
	size_t ne = 0;
	char **env, self[32];
	int sv[2], r;

	for (char **e = environ; *e; e++)
		ne++;
	env = calloc(ne + 2, sizeof(*env));
	if (!env)
		abort();
	ne = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, WORKERS_ENV "=", sizeof(WORKERS_ENV)))
			env[ne++] = *e;
	snprintf(self, sizeof(self), WORKERS_ENV "=%d/%d", w->idx, m.c->n);
	env[ne++] = self;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err(0, "worker %d: socketpair: %s; trying again", w->idx, strerror(errno));
		free(env);
		uv_timer_start(&w->again, on_again, RESTART_MS, 0);
		return;
	}
	for (int i = 0; i < 3; i++)
		io[i] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = i};
	io[CHANNEL_FD] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = sv[1]};
	io[REPLAY_FD] = (uv_stdio_container_t){.flags = UV_INHERIT_FD, .data.fd = m.shm};
	o.file = "/proc/self/exe";
	o.args = m.c->argv;
	o.env = env;
	o.stdio = io;
	o.stdio_count = 5;
	o.exit_cb = on_worker_exit;
	w->proc.data = w;
	r = uv_spawn(m.loop, &w->proc, &o);
	close(sv[1]);
	free(env);
	if (r < 0) {
		close(sv[0]);
		log_err(0, "worker %d: %s; trying again", w->idx, uv_strerror(r));
		uv_close((uv_handle_t *)&w->proc, NULL);
		uv_timer_start(&w->again, on_again, RESTART_MS, 0);
		return;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	w->fd = sv[0];
	w->pid = w->proc.pid;
	w->alive = w->running = 1;
}

/* Each worker's counts: active, total, live (0 when it did not answer). */
static int counts(worker_t *w, uint64_t v[3])
{
	mbuf_t b = {0};
	unsigned long long a = 0, t = 0, l = 0;
	int ok = ask(w, "counts", &b, NULL, 0) >= 0 && b.p &&
	         sscanf(b.p, "%llu %llu %llu", &a, &t, &l) == 3;

	free(b.p);
	v[0] = a;
	v[1] = t;
	v[2] = l;
	return ok;
}

static void workers_json(mbuf_t *b)
{
	mbuf_printf(b, "\"workers\":[");
	for (int i = 0; i < m.c->n; i++) {
		uint64_t v[3];
		int up = counts(&m.w[i], v);
		mbuf_printf(b,
		            "%s{\"worker\":%d,\"pid\":%d,\"up\":%s,\"active\":%llu,\"total\":%llu,"
		            "\"restarts\":%llu}",
		            i ? "," : "", i, (int)m.w[i].pid, up ? "true" : "false",
		            (unsigned long long)v[0], (unsigned long long)v[1],
		            (unsigned long long)m.w[i].restarts);
	}
	mbuf_printf(b, "]");
}

/* A JSON object's text with ,"workers":[...] before its last '}'. */
static void json_with_workers(mbuf_t *out, const mbuf_t *doc)
{
	const char *end = doc->p ? doc->p + doc->len : NULL;

	while (end && end > doc->p && end[-1] != '}')
		end--;
	if (!end || end == doc->p) {
		mbuf_printf(out, "{");
		workers_json(out);
		mbuf_printf(out, "}\n");
		return;
	}
	mbuf_printf(out, "%.*s,", (int)(end - 1 - doc->p), doc->p);
	workers_json(out);
	mbuf_printf(out, "}\n");
}

static void workers_text(mbuf_t *b)
{
	mbuf_printf(b, "\nworkers\n");
	for (int i = 0; i < m.c->n; i++) {
		uint64_t v[3];
		int up = counts(&m.w[i], v);
		mbuf_printf(b, "  %d  pid %d  %s  %llu active  %llu accepted  %llu restarts\n", i,
		            (int)m.w[i].pid, up ? "up" : "down", (unsigned long long)v[0],
		            (unsigned long long)v[1], (unsigned long long)m.w[i].restarts);
	}
}

static void master_metrics(mbuf_t *out)
{
	mbuf_t *t = calloc((size_t)m.c->n + 1, sizeof(*t));
	int k = 0;

	if (!t)
		abort();
	for (int i = 0; i < m.c->n; i++)
		if (ask(&m.w[i], "page - 0 GET /metrics HTTP/1.1", &t[k], NULL, 0) == 200)
			k++;
		else
			free(t[k].p), t[k] = (mbuf_t){0};
	metrics_family(&t[k], "sluice_workers", "gauge", "Worker processes configured (workers=).");
	mbuf_printf(&t[k], "sluice_workers %d\n", m.c->n);
	for (int i = 0; i < m.c->n; i++) {
		uint64_t v[3];
		char lab[32];
		int up = counts(&m.w[i], v);
		snprintf(lab, sizeof(lab), "worker=\"%d\"", i);
		metrics_sample(&t[k], "sluice_worker_up", "gauge",
		               "1 while the worker process answers its master.", lab, (uint64_t)up);
		metrics_sample(&t[k], "sluice_worker_connections_active", "gauge",
		               "Connections open now, per worker.", lab, v[0]);
		metrics_sample(&t[k], "sluice_worker_connections_total", "counter",
		               "Connections accepted, per worker.", lab, v[1]);
		metrics_sample(&t[k], "sluice_worker_restarts_total", "counter",
		               "Times the worker process died and was started again.", lab,
		               m.w[i].restarts);
	}
	metrics_sum(t, (size_t)k + 1, out);
	for (int i = 0; i <= k; i++)
		free(t[i].p);
	free(t);
}

/* The metrics server's answers (core/metrics.h metrics_answer_set). */
static int master_answer(const char *req, mbuf_t *body, const char **ctype,
                         const struct sockaddr *local)
{
	static char ct[64];
	char fwd[CHANNEL_MAX];
	mbuf_t doc = {0};
	int code = 200, worst = 0, c;

	*ctype = "text/plain";
	if (!strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET /metrics?", 13)) {
		master_metrics(body);
		*ctype = "text/plain; version=0.0.4";
		return 200;
	}
	if (!strncmp(req, "GET /live ", 10) || !strncmp(req, "GET /live?", 10)) {
		mbuf_printf(body, "live\n");
		return 200;
	}
	{ /* the address it came in on: /proxy.pac names it */
		char ip[64] = "-";
		unsigned port = 0;
		if (local && local->sa_family == AF_INET) {
			uv_ip4_name((const struct sockaddr_in *)local, ip, sizeof(ip));
			port = ntohs(((const struct sockaddr_in *)local)->sin_port);
		} else if (local && local->sa_family == AF_INET6) {
			uv_ip6_name((const struct sockaddr_in6 *)local, ip, sizeof(ip));
			port = ntohs(((const struct sockaddr_in6 *)local)->sin6_port);
		}
		snprintf(fwd, sizeof(fwd), "page %s %u %s", ip, port, req);
	}
	if (!strncmp(req, "GET /health", 11) || !strncmp(req, "GET /ready", 10)) {
		/* the worst worker's answer (a worker that does not answer: 503) */
		for (int i = 0; i < m.c->n; i++) {
			mbuf_t b = {0};
			c = ask(&m.w[i], fwd, &b, ct, sizeof(ct));
			if (c < 0) {
				free(b.p);
				b = (mbuf_t){0};
				mbuf_printf(&b,
				            "{\"status\":\"unhealthy\",\"reason\":\"worker %d does "
				            "not answer\"}\n",
				            i);
				c = 503;
				snprintf(ct, sizeof(ct), "application/json");
			}
			if (!doc.p || c > worst) {
				free(doc.p);
				doc = b;
				worst = c;
				*ctype = ct;
			} else {
				free(b.p);
			}
		}
		code = worst;
		if (!strncmp(req, "GET /health", 11))
			json_with_workers(body, &doc);
		else if (doc.p)
			mbuf_printf(body, "%s", doc.p);
		free(doc.p);
		return code;
	}
	/* /status and the rest: worker 0's, with every worker's counts */
	if ((code = ask(&m.w[0], fwd, &doc, ct, sizeof(ct))) < 0) {
		free(doc.p);
		mbuf_printf(body, "worker 0 does not answer\n");
		return 503;
	}
	*ctype = ct;
	if (!strncmp(req, "GET /status", 11) && strstr(ct, "json"))
		json_with_workers(body, &doc);
	else if (!strncmp(req, "GET /status", 11)) {
		mbuf_printf(body, "%s", doc.p ? doc.p : "");
		workers_text(body);
	} else if (doc.len)
		mbuf_printf(body, "%.*s", (int)doc.len, doc.p);
	free(doc.p);
	return code;
}

/* reload asked of every worker: "ok: ..." when all took it. */
static int master_reload(const char *who, mbuf_t *out)
{
	char req[64];
	int bad = 0;

	snprintf(req, sizeof(req), "ctl reload");
	log_info(0, "%s: asking %d workers to reload", who, m.c->n);
	for (int i = 0; i < m.c->n; i++) {
		mbuf_t b = {0};
		int c = ask(&m.w[i], req, &b, NULL, 0);
		const char *s = c < 0 ? "refused: it does not answer\n" : b.p ? b.p : "";
		if (strncmp(s, "ok", 2))
			bad++;
		mbuf_printf(out, "%sworker %d: %s", i ? "" : "", i, s);
		free(b.p);
	}
	return bad ? -1 : 0;
}

static void master_control(const char *cmd, mbuf_t *out)
{
	mbuf_t b = {0};
	char req[CHANNEL_MAX];

	if (!strcmp(cmd, "reload")) {
		int r = master_reload("control: reload", &b);
		mbuf_printf(out, "%s: %d workers\n%s",
		            r < 0 ? "refused: not every worker took it" : "ok", m.c->n,
		            b.p ? b.p : "");
	} else if (!strcmp(cmd, "status") || !strcmp(cmd, "status json")) {
		snprintf(req, sizeof(req), "ctl %s", cmd);
		if (ask(&m.w[0], req, &b, NULL, 0) < 0) {
			mbuf_printf(out, "refused: worker 0 does not answer\n");
		} else if (cmd[6]) { /* "ok\n" then the document */
			mbuf_t doc = {0};
			const char *nl = b.p ? strchr(b.p, '\n') : NULL;
			mbuf_printf(&doc, "%s", nl ? nl + 1 : "");
			mbuf_printf(out, "ok\n");
			json_with_workers(out, &doc);
			free(doc.p);
		} else {
			mbuf_printf(out, "%s", b.p ? b.p : "");
			workers_text(out);
		}
	} else {
		mbuf_printf(out, "refused: unknown request (reload, status, status json)\n");
	}
	free(b.p);
}

static void on_deadline(uv_timer_t *t)
{
	for (int i = 0; i < m.c->n; i++)
		if (m.w[i].alive) {
			log_warn(0, "worker %d (pid %d) still running past the drain: killing it",
			         i, (int)m.w[i].pid);
			uv_process_kill(&m.w[i].proc, SIGKILL);
		}
}

static void on_stop(uv_signal_t *s, int signum)
{
	if (m.stopping) {
		log_info(0, "second signal: the workers exit now");
	} else {
		log_info(0, "%s: the workers stop accepting and drain (up to %llu ms)",
		         signum == SIGINT ? "SIGINT" : "SIGTERM",
		         (unsigned long long)m.c->drain_ms);
		sdnotify("STOPPING=1\nSTATUS=draining");
		uv_timer_start(&m.deadline, on_deadline, m.c->drain_ms + 5000, 0);
	}
	/* the first: "stop" on each channel, which a worker that had the
	 * signal too (a service manager signals the whole group) takes once;
	 * the second: "exit" */
	for (int i = 0; i < m.c->n; i++) {
		const char *req = m.stopping ? "0 exit\n" : "0 stop\n";
		uv_timer_stop(&m.w[i].again);
		if (m.w[i].alive && send(m.w[i].fd, req, 7, MSG_NOSIGNAL) != 7)
			uv_process_kill(&m.w[i].proc, m.stopping ? SIGKILL : SIGTERM);
	}
	m.stopping = 1;
	for (int i = 0; i < m.c->n; i++)
		if (m.w[i].running)
			return;
	uv_stop(m.loop);
}

static void on_hup(uv_signal_t *s, int signum)
{
	mbuf_t b = {0};

	if (m.stopping)
		return;
	if (master_reload("SIGHUP", &b) < 0)
		log_err(0, "SIGHUP: not every worker reloaded:\n%s", b.p ? b.p : "");
	free(b.p);
}

static void on_usr1(uv_signal_t *s, int signum)
{
	char err[300];

	for (int i = 0; i < m.c->n; i++)
		if (m.w[i].alive)
			uv_process_kill(&m.w[i].proc, SIGUSR1);
	if (log_reopen(err, sizeof(err)) < 0)
		log_err(0, "SIGUSR1: %s", err);
}

static void on_watchdog(uv_timer_t *t)
{
	sdnotify("WATCHDOG=1");
}

/* READY=1 once every worker's /ready says so. */
static void on_tick(uv_timer_t *t)
{
	mbuf_t b = {0};
	int ok = 1;

	for (int i = 0; i < m.c->n && ok; i++) {
		ok = ask(&m.w[i], "page - 0 GET /ready HTTP/1.1", &b, NULL, 0) == 200;
		free(b.p);
		b = (mbuf_t){0};
	}
	if (ok && !m.ready) {
		m.ready = 1;
		sdnotify("READY=1\nSTATUS=serving (%d workers)", m.c->n);
		log_info(0, "workers: all %d ready", m.c->n);
		uv_timer_set_repeat(t, 1000);
	}
}

int workers_master(uv_loop_t *loop, const workers_conf_t *c)
{
	char err[300];
	int fd;

	m.loop = loop;
	m.c = c;
	if ((fd = replay_shm_create(REPLAY_SLOTS, err, sizeof(err))) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	m.shm = fd;
	if (c->metrics && metrics_serve(loop, c->metrics, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	metrics_answer_set(master_answer);
	if (c->cpath[0] &&
	    control_serve(loop, c->cpath, master_control, c->uid, c->gid, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	if (c->priv && c->priv->set && !c->priv->keep)
		log_chown(c->priv->uid, c->priv->gid);
	if (c->priv && priv_drop(c->priv, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	m.w = calloc((size_t)c->n, sizeof(*m.w));
	if (!m.w)
		abort();
	uv_signal_init(loop, &m.sig_int);
	uv_signal_init(loop, &m.sig_term);
	uv_signal_init(loop, &m.sig_hup);
	uv_signal_init(loop, &m.sig_usr1);
	uv_signal_start(&m.sig_int, on_stop, SIGINT);
	uv_signal_start(&m.sig_term, on_stop, SIGTERM);
	uv_signal_start(&m.sig_hup, on_hup, SIGHUP);
	uv_signal_start(&m.sig_usr1, on_usr1, SIGUSR1);
	uv_timer_init(loop, &m.deadline);
	uv_timer_init(loop, &m.tick);
	uv_unref((uv_handle_t *)&m.tick);
	uv_timer_start(&m.tick, on_tick, 200, 200);
	uv_timer_init(loop, &m.watchdog);
	uv_unref((uv_handle_t *)&m.watchdog);
	if (sdnotify_watchdog_ms())
		uv_timer_start(&m.watchdog, on_watchdog, 0,
		               sdnotify_watchdog_ms() / 2 ? sdnotify_watchdog_ms() / 2 : 1);
	log_info(0, "workers: starting %d (master pid %d)", c->n, (int)getpid());
	for (int i = 0; i < c->n; i++) {
		m.w[i].idx = i;
		m.w[i].fd = -1;
		uv_timer_init(loop, &m.w[i].again);
		m.w[i].again.data = &m.w[i];
		spawn(&m.w[i]);
	}
	uv_run(loop, UV_RUN_DEFAULT);
	metrics_stop();
	control_stop();
	log_info(0, "bye");
	return 0;
}
