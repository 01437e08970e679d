/* runtime: see runtime.h.  States: STARTING (not yet ready: the tick asks
 * h->ready every 200 ms) -> RUNNING (READY=1 sent; the tick runs every
 * second) -> DRAINING (first signal; a 50 ms timer watches conn_live and
 * the deadline) -> FINISHED (teardown done; the loop runs out as the last
 * handles close).  The tick and the watchdog timer are unreferenced: they
 * never keep the loop alive by themselves. */
#include "core/runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <time.h>

#include "core/conn.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/sdnotify.h"
#include "core/transport.h"

static struct {
	uv_loop_t *loop;
	const runtime_hooks_t *h;
	uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
	uv_timer_t drain_timer, tick, watchdog;
	uv_prepare_t log_flush; /* the turn's log lines, before the loop waits */
	uint64_t drain_ms, deadline;
	int stopping, finished, ready;
	int asked;         /* draining at runtime_stop(), not at a signal */
	char waiting[256]; /* what readiness waits for, as last said */
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
	sdnotify_init();
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

static void drain_start(const char *why)
{
	const char *tag = rt.h->tag ? rt.h->tag : "";

	rt.stopping = 1;
	health_draining();
	log_info(0, "%s%s: no longer accepting; draining %llu connections (up to %llu ms)", tag,
	         why, (unsigned long long)conn_live, (unsigned long long)rt.drain_ms);
	sdnotify("STOPPING=1\nSTATUS=draining %llu connections", (unsigned long long)conn_live);
	if (rt.h->stop)
		rt.h->stop(rt.h->ud);
	rt.deadline = uv_now(rt.loop) + rt.drain_ms;
	uv_timer_start(&rt.drain_timer, on_drain_tick, 0, 50);
}

void runtime_stop(const char *why)
{
	if (rt.h && !rt.stopping && !rt.finished) {
		rt.asked = 1;
		drain_start(why);
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	if (rt.stopping && rt.asked) { /* the signal that asked it too */
		rt.asked = 0;
		log_info(0, "%s%s: draining already", rt.h->tag ? rt.h->tag : "",
		         signum == SIGINT ? "SIGINT" : "SIGTERM");
		return;
	}
	if (rt.stopping) {
		log_info(0, "%ssecond signal: exiting now", rt.h->tag ? rt.h->tag : "");
		exit(0);
	}
	drain_start(signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_hup(uv_signal_t *s, int signum)
{
	const char *tag = rt.h->tag ? rt.h->tag : "";

	if (rt.stopping)
		return;
	if (!rt.h->reload) {
		log_info(0, "%sSIGHUP: nothing to reload", tag);
		return;
	}
	rt.h->reload(rt.h->ud);
}

static void on_usr1(uv_signal_t *s, int signum)
{
	char err[300];

	if (log_reopen(err, sizeof(err)) < 0)
		log_err(0, "SIGUSR1: %s", err);
	else
		log_info(0, "SIGUSR1: log reopened (%s)", log_sink_name());
}

static uint64_t monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void runtime_reloading(void)
{
	sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	         (unsigned long long)monotonic_us());
}

void runtime_drain(uint64_t drain_ms)
{
	rt.drain_ms = drain_ms;
}

void runtime_reloaded(const char *status)
{
	sdnotify("READY=1\nSTATUS=%s", status);
}

/* Readiness, then the log's quiet sources. */
static void on_tick(uv_timer_t *t)
{
	char why[sizeof(rt.waiting)] = "";

	log_tick();
	if (rt.stopping)
		return;
	if (rt.ready) { /* a STATUS line when health changes */
		int ok = !rt.h->ready || rt.h->ready(rt.h->ud, why, sizeof(why));
		if (strcmp(why, rt.waiting)) {
			snprintf(rt.waiting, sizeof(rt.waiting), "%s", why);
			if (ok)
				sdnotify("STATUS=serving (%llu connections)",
				         (unsigned long long)conn_live);
			else
				sdnotify("STATUS=unhealthy: %s", why);
		}
		return;
	}
	if (rt.h->ready && !rt.h->ready(rt.h->ud, why, sizeof(why))) {
		if (strcmp(why, rt.waiting)) {
			snprintf(rt.waiting, sizeof(rt.waiting), "%s", why);
			sdnotify("STATUS=waiting for %s", why);
			log_info(0, "%swaiting for %s", rt.h->tag ? rt.h->tag : "", why);
		}
		return;
	}
	rt.ready = 1;
	rt.waiting[0] = 0;
	sdnotify("READY=1\nSTATUS=serving (%llu connections)", (unsigned long long)conn_live);
	uv_timer_start(t, on_tick, 1000, 1000);
}

static void on_log_flush(uv_prepare_t *p)
{
	log_flush();
}

static void on_watchdog(uv_timer_t *t)
{
	sdnotify("WATCHDOG=1");
}

int runtime_run(const runtime_hooks_t *h, uint64_t drain_ms)
{
	uint64_t wd = sdnotify_watchdog_ms();

	rt.h = h;
	rt.drain_ms = drain_ms;
	uv_timer_init(rt.loop, &rt.drain_timer);
	uv_signal_init(rt.loop, &rt.sig_int);
	uv_signal_init(rt.loop, &rt.sig_term);
	uv_signal_init(rt.loop, &rt.sig_hup);
	uv_signal_init(rt.loop, &rt.sig_usr1);
	uv_signal_start(&rt.sig_int, on_signal, SIGINT);
	uv_signal_start(&rt.sig_term, on_signal, SIGTERM);
	uv_signal_start(&rt.sig_hup, on_hup, SIGHUP);
	uv_signal_start(&rt.sig_usr1, on_usr1, SIGUSR1);
	uv_timer_init(rt.loop, &rt.tick);
	uv_unref((uv_handle_t *)&rt.tick);
	uv_timer_start(&rt.tick, on_tick, 0, 200);
	uv_timer_init(rt.loop, &rt.watchdog);
	uv_unref((uv_handle_t *)&rt.watchdog);
	if (wd)
		uv_timer_start(&rt.watchdog, on_watchdog, 0, wd / 2 ? wd / 2 : 1);
	uv_prepare_init(rt.loop, &rt.log_flush);
	uv_unref((uv_handle_t *)&rt.log_flush);
	uv_prepare_start(&rt.log_flush, on_log_flush);
	log_batch(1);
	uv_run(rt.loop, UV_RUN_DEFAULT);
	log_batch(0);
	uv_loop_close(rt.loop);
	log_info(0, "%sbye", h->tag ? h->tag : "");
	return 0;
}
