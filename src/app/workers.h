/* workers: workers=N, one sluice on every core, as worker processes.
 *
 * The process started by the user (the master) checks the whole
 * configuration as always (a mistake exits 2 before anything listens),
 * serves --metrics and the control socket, and runs no listener: it
 * starts N workers (N: the largest workers= of its listeners), each this
 * same program and configuration again with SLUICE_WORKER=I/N.  Worker I
 * runs the listeners whose workers= is above I (so worker 0 runs every
 * listener of workers=1, and every -R), those of workers > 1 bound with
 * SO_REUSEPORT: the kernel spreads their connections over the workers.
 *
 * What the workers share: one replay cache (core/replay_shm.c, a memfd
 * the master makes before the first worker starts: descriptor 4 in each);
 * a channel to the master (a socketpair: descriptor 3), on which the
 * master asks, one request line at a time, each after a number that its
 * answer repeats,
 *   page REQUEST-LINE   the metrics server's answer (/metrics, /health...)
 *   ctl CMD             the control socket's (reload, status, status json)
 *   counts              "ACTIVE TOTAL LIVE": connections open and accepted
 *                       (metrics), and live (conn_live)
 *   stop                drain, as the first SIGTERM does (once: a worker
 *                       that had the signal too drains once)
 *   exit                exit now, as a second signal does
 * and the worker answers "NUMBER CODE LENGTH CONTENT-TYPE\n" and the body.  The
 * master sums the workers' /metrics (core/metrics.h metrics_sum) and adds
 * sluice_worker_* per worker; /health and /ready are the worst worker's,
 * with each worker's counts; reload (SIGHUP, `sluice reload`) is asked of
 * every worker in turn and reported per worker; the first SIGTERM or
 * SIGINT becomes "stop" on each channel (each drains its own connections;
 * one that the service manager signalled as well drains once), a second
 * becomes "exit" (the workers exit at once); the master exits
 * when the last worker has; a worker that dies otherwise is started again
 * after a second.  A
 * worker whose channel closes (the master is gone) drains and exits.
 */
#ifndef SLUICE_WORKERS_H
#define SLUICE_WORKERS_H

#include <stdint.h>
#include <uv.h>

#include "app/control.h"
#include "core/config.h"

/* 1 in a worker process, its index and the number of workers. */
int workers_self(int *index, int *count);
/* A worker: keep, in f->listen and f->reverse, what this worker runs;
 * 0, or -1 and err (a bad workers= in a -L). */
int workers_filter(config_t *f, char *err, size_t errlen);
/* A worker, before any listener is made: attach the shared replay cache,
 * bind with SO_REUSEPORT; 0, or -1 and err. */
int workers_child_init(char *err, size_t errlen);
/* A worker, listening: answer the master's channel, control requests
 * through fn; 0, or -1 and err. */
int workers_child_start(uv_loop_t *loop, control_fn fn, char *err, size_t errlen);

/* The master: serve for n workers (metrics on metrics, when not NULL, the
 * control socket at cpath, when not ""), drop privileges, start the
 * workers running argv (the whole command line), until they have all
 * exited after SIGTERM; the exit status. */
typedef struct workers_conf {
	int n;
	char **argv;
	const char *metrics;
	const char *cpath;
	int uid, gid; /* of the control socket, uid -1: this process's */
	uint64_t drain_ms;
	const struct priv *priv; /* dropped to once metrics and control listen */
} workers_conf_t;
int workers_master(uv_loop_t *loop, const workers_conf_t *c);

#endif
