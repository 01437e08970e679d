/* runtime: see runtime.h.  States: RUNNING -> DRAINING (first signal; a
 * 50 ms timer watches conn_live and the deadline) -> FINISHED (teardown
 * done; the loop runs out as the last handles close). */
#include "core/runtime.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/transport.h"

static struct {
	uv_loop_t *loop;
	const runtime_hooks_t *h;
	uv_signal_t sig_int, sig_term;
	uv_timer_t drain_timer;
	uint64_t drain_ms, deadline;
	int stopping, finished;
} rt;

/* Two descriptors per relayed connection: take all the kernel allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

uv_loop_t *runtime_init(void)
{
	/* resolver threads: one slow name must not hold up the others */
	if (!getenv("UV_THREADPOOL_SIZE"))
		setenv("UV_THREADPOOL_SIZE", "16", 0);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	rt.loop = uv_default_loop();
	return rt.loop;
}

int runtime_log_opt(int c, const char *arg, int *level, int *verbosity)
{
	switch (c) {
	case 'v':
		++*verbosity;
		return 1;
	case 'q':
		--*verbosity;
		return 1;
	case RUNTIME_OPT_LOG_LEVEL:
		return (*level = log_level_parse(arg)) < 0 ? -1 : 1;
	default:
		return 0;
	}
}

void runtime_log_level(int level, int verbosity)
{
	if (level >= 0)
		log_level = level;
	log_level += verbosity;
	if (log_level < LOG_ERR)
		log_level = LOG_ERR;
	if (log_level > LOG_TRACE)
		log_level = LOG_TRACE;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Owners first (each closes its own handles), then whatever is left
 * (signals, timers, the hooks' own handles). */
void runtime_finish(const runtime_hooks_t *h, const char *why)
{
	if (rt.finished)
		return;
	rt.finished = 1;
	if (why)
		log_info(0, "%s%s: shutting down", h->tag ? h->tag : "", why);
	if (h->teardown)
		h->teardown(h->ud);
	metrics_stop();
	transports_stop();
	uv_walk(rt.loop, close_walk, NULL);
}

static void on_drain_tick(uv_timer_t *t)
{
	if (conn_live == 0 || uv_now(rt.loop) >= rt.deadline) {
		if (conn_live)
			log_info(0, "%sdrain deadline: closing %llu connections",
			         rt.h->tag ? rt.h->tag : "", (unsigned long long)conn_live);
		uv_timer_stop(t);
		runtime_finish(rt.h, NULL);
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	const char *tag = rt.h->tag ? rt.h->tag : "";

	if (rt.stopping) {
		log_info(0, "%ssecond signal: exiting now", tag);
		exit(0);
	}
	rt.stopping = 1;
	log_info(0, "%s%s: no longer accepting; draining %llu connections (up to %llu ms)", tag,
	         signum == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)conn_live,
	         (unsigned long long)rt.drain_ms);
	if (rt.h->stop)
		rt.h->stop(rt.h->ud);
	rt.deadline = uv_now(rt.loop) + rt.drain_ms;
	uv_timer_start(&rt.drain_timer, on_drain_tick, 0, 50);
}

int runtime_run(const runtime_hooks_t *h, uint64_t drain_ms)
{
	rt.h = h;
	rt.drain_ms = drain_ms;
	uv_timer_init(rt.loop, &rt.drain_timer);
	uv_signal_init(rt.loop, &rt.sig_int);
	uv_signal_init(rt.loop, &rt.sig_term);
	uv_signal_start(&rt.sig_int, on_signal, SIGINT);
	uv_signal_start(&rt.sig_term, on_signal, SIGTERM);
	uv_run(rt.loop, UV_RUN_DEFAULT);
	uv_loop_close(rt.loop);
	log_info(0, "%sbye", h->tag ? h->tag : "");
	return 0;
}
