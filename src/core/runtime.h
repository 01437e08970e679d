/* runtime: the process's one loop, its signals and its drain, for every
 * subcommand that runs listeners (`sluice` itself, `sluice pt`).
 *
 *   runtime_init()      the default loop; SIGPIPE ignored, the descriptor
 *                       limit raised, resolver threads for slow names
 *   runtime_run(h, D)   the signal handlers, then the loop until it ends.
 *                       SIGINT/SIGTERM: the first calls h->stop (stop
 *                       accepting; live connections go on) and waits up to D
 *                       for conn_live to reach 0; a second signal exits at
 *                       once.  Then runtime_finish().  SIGHUP calls
 *                       h->reload; SIGUSR1 opens the log file again
 *                       (core/log.h).  A timer tells the service manager
 *                       (core/sdnotify.h) READY=1 once h->ready says so,
 *                       pings its watchdog, and says what the log's rate
 *                       limit suppressed.
 *   runtime_finish(why) tears down now: h->teardown (owners free their
 *                       listeners and chains, each closing its handles),
 *                       the metrics server, every transport's stop hook
 *                       (usrsctp's threads outlive the loop otherwise), and
 *                       whatever handles are left.  Idempotent.
 *
 * The loop is closed by runtime_run() before it returns.
 */
#ifndef SLUICE_RUNTIME_H
#define SLUICE_RUNTIME_H

#include <stdint.h>
#include <uv.h>

typedef struct runtime_hooks {
	void (*stop)(void *ud);     /* stop accepting (first signal) */
	void (*teardown)(void *ud); /* free what the subcommand owns */
	void *ud;
	const char *tag; /* log prefix ("pt: "), or "" */
	/* SIGHUP; NULL: the signal is logged and ignored */
	void (*reload)(void *ud);
	/* 1 when the process is ready (listening, its sessions up); else 0
	 * and what it waits for in why.  NULL: ready once running. */
	int (*ready)(void *ud, char *why, size_t len);
} runtime_hooks_t;

uv_loop_t *runtime_init(void);
/* 0 when the loop ended normally. */
int runtime_run(const runtime_hooks_t *h, uint64_t drain_ms);
/* Stop accepting and drain, as the first SIGTERM does (why: for the log);
 * nothing when already draining.  The first signal after it is taken as
 * the one that asked for it too (the drain goes on), a second exits. */
void runtime_stop(const char *why);
/* Tear down now (a configuration error before runtime_run, stdin closed):
 * the loop then runs out. */
void runtime_finish(const runtime_hooks_t *h, const char *why);

/* The logging options of every subcommand that runs: -v and -q (one level
 * more or less each) and --log-level L, whose getopt value is
 * RUNTIME_OPT_LOG_LEVEL.  For getopt's c: 1 when it was one of them (the
 * level goes to *level, the count to *verbosity), 0 when it is not, -1 for
 * a level that is not one (RUNTIME_LOG_LEVEL_HELP says which are). */
#define RUNTIME_OPT_LOG_LEVEL 0x10000
#define RUNTIME_LOG_LEVEL_HELP "--log-level: use err, warn, info, debug or trace"
int runtime_log_opt(int c, const char *arg, int *level, int *verbosity);
/* The drain of the next SIGINT/SIGTERM (a reload's drain:). */
void runtime_drain(uint64_t drain_ms);
/* Tell the service manager that a reload began (RELOADING=1) or ended
 * (READY=1 and a STATUS line). */
void runtime_reloading(void);
void runtime_reloaded(const char *status);

/* The log level from a configured level (-1: keep the default) and the
 * -v/-q count, clamped to err..trace. */
void runtime_log_level(int level, int verbosity);

#endif
