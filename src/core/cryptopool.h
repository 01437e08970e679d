/* cryptopool: AEAD work of the packet tunnels on worker threads, the
 * results back on the libuv loop in the order the work was handed over.
 *
 * A job is a batch of records in one buffer under one key (cpkey_t): a
 * UDP GSO run of datagrams to seal, or the datagrams a loop turn received
 * to open.  The caller fills it on the loop (counters, headers, copies:
 * everything that needs the caller's state), cpool_submit() hands it to a
 * worker, whose work function seals or opens the records in place with
 * its own cipher context for the key, and the caller's done function gets
 * it back on the loop (a uv_async), in submission order across all jobs of
 * the pool: a later job that finished first waits for the earlier ones.
 * So whatever the caller decided in order on the loop (counters, the
 * replay window, which keys) stays in order, and the done function does
 * what needs the loop again (sending, the replay window's update, writing
 * to the device).
 *
 * Bounds: at most CPOOL_WAIT_MAX jobs per worker wait for a worker; beyond
 * that the loop does the work itself at submission (counted in
 * c_inline), and it is still delivered in order.  At most CPOOL_JOBS_MAX
 * jobs are between submission and delivery; beyond that a job is dropped
 * as a router with a full queue would (c_dropped; the packets inside are
 * TCP's to resend).  A key is reference counted on the loop: each job in
 * flight holds one, so the owner can drop its reference at a rekey or a
 * session's end while jobs under the key are still being worked on.
 * cpool_forget(owner) at an owner's end: its jobs still in flight are
 * freed without calling done.  Workers touch only the job's records and
 * their own cipher context; everything else is the loop's.
 */
#ifndef SLUICE_CRYPTOPOOL_H
#define SLUICE_CRYPTOPOOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/aead.h"
#include "core/queue.h"

#define CPOOL_WORKERS_MAX 16
#define CPOOL_WAIT_MAX 8  /* jobs waiting, per worker */
#define CPOOL_JOBS_MAX 64 /* jobs between submission and delivery */
#define CPJOB_RECORDS 64  /* records in a job */
#define CPJOB_BUF (128 * 1024)

typedef struct cpool cpool_t;
typedef struct cpkey cpkey_t;
typedef struct cpjob cpjob_t;

/* On a worker (or the loop): the records, with a context for j->key. */
typedef void (*cpjob_work_fn)(cpjob_t *j, aead_t *a);
/* On the loop, in submission order. */
typedef void (*cpjob_done_fn)(cpjob_t *j);

struct cpjob {
	cpjob_work_fn work;
	cpjob_done_fn done;
	void *owner; /* the caller's; NULL after cpool_forget(owner) */
	cpkey_t *key;
	uint64_t tag, tag2;  /* the caller's: a keypair index, a session id */
	size_t n, used;      /* records; bytes of buf in use */
	size_t stride, last; /* the caller's (a GSO run's layout) */
	uint32_t off[CPJOB_RECORDS];
	int32_t len[CPJOB_RECORDS]; /* in and out, as work says */
	uint8_t buf[CPJOB_BUF];
	/* the pool's */
	queue_t link;
	cpjob_t *wnext;
	atomic_int state;
	int inl;
};

/* workers: threads (1..CPOOL_WORKERS_MAX).  NULL if one cannot start. */
cpool_t *cpool_new(uv_loop_t *loop, unsigned workers);
/* Stops and joins the workers; jobs in flight are freed without done.
 * The memory goes in the libuv close callback. */
void cpool_free(cpool_t *p);
unsigned cpool_workers(const cpool_t *p);

/* A key for alg in one direction (copied); one reference. */
cpkey_t *cpkey_new(cpool_t *p, aead_alg_t alg, const uint8_t key[AEAD_KEY], int encrypt);
void cpkey_unref(cpkey_t *k);

/* An empty job for owner under key (which it references until it is
 * delivered or dropped); NULL only when CPOOL_JOBS_MAX are in flight and
 * none may be added (counted as dropped). */
cpjob_t *cpool_job(cpool_t *p, void *owner, cpkey_t *key, cpjob_work_fn work, cpjob_done_fn done);
/* Hands j over; done(j) runs later, from the loop's async callback (also
 * for work done inline).  j is the pool's afterwards: freed after done. */
void cpool_submit(cpool_t *p, cpjob_t *j);
/* A job taken with cpool_job() and not submitted (nothing to do). */
void cpool_discard(cpool_t *p, cpjob_t *j);
void cpool_forget(cpool_t *p, void *owner);

/* Counters: jobs handed over, of them done inline on the loop, dropped. */
typedef struct cpool_stats {
	uint64_t jobs, inl, dropped;
} cpool_stats_t;
void cpool_stats(const cpool_t *p, cpool_stats_t *s);

#endif
