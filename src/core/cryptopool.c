/* cryptopool: see cryptopool.h.
 *
 * Threads: the loop submits (appends to the delivery list, and to the
 * workers' list under the mutex) and delivers (from the head of the
 * delivery list while the head's state says done); a worker takes a job
 * from its list under the mutex, runs it without the lock with its own
 * context for the key, publishes the results with a release store of the
 * state and wakes the loop with uv_async_send.  The delivery list, the
 * keys' reference counts, the free list and the counters are the loop's
 * alone.  A key's context for worker i is made by worker i the first time
 * it needs it (slot CPOOL_WORKERS_MAX is the loop's, for inline work); the
 * loop frees them when the last reference goes, which is after every job
 * under the key was delivered, so after every worker was done with it.
 */
#include "core/cryptopool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/secret.h"

#define FREE_MAX 8 /* jobs kept for reuse */

struct cpkey {
	cpool_t *pool;
	aead_alg_t alg;
	int encrypt;
	unsigned refs;
	uint8_t key[AEAD_KEY];
	aead_t ctx[CPOOL_WORKERS_MAX + 1];
	uint8_t ready[CPOOL_WORKERS_MAX + 1];
};

typedef struct worker {
	cpool_t *pool;
	unsigned idx;
	pthread_t th;
} worker_t;

struct cpool {
	uv_loop_t *loop;
	uv_async_t async;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	cpjob_t *whead, *wtail; /* waiting for a worker (mu) */
	size_t nwait;           /* (mu) */
	int stop;               /* (mu) */
	unsigned nworkers;
	worker_t w[CPOOL_WORKERS_MAX];
	queue_t fifo; /* submitted, in order (loop) */
	size_t nfifo;
	cpjob_t *freel;
	size_t nfree;
	int delivering;
	cpool_stats_t st;
};

static aead_t *key_ctx(cpkey_t *k, unsigned slot)
{
	if (!k->ready[slot]) {
		if (aead_init(&k->ctx[slot], k->alg, k->key, k->encrypt) < 0)
			return NULL;
		k->ready[slot] = 1;
	}
	return &k->ctx[slot];
}

static void run(cpjob_t *j, unsigned slot)
{
	aead_t *a = key_ctx(j->key, slot);

	if (a)
		j->work(j, a);
	else
		j->n = 0; /* a context OpenSSL would not make: nothing comes out */
}

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	cpool_t *p = w->pool;

	for (;;) {
		cpjob_t *j;
		pthread_mutex_lock(&p->mu);
		while (!p->whead && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		j = p->whead;
		p->whead = j->wnext;
		if (!p->whead)
			p->wtail = NULL;
		p->nwait--;
		pthread_mutex_unlock(&p->mu);
		run(j, w->idx);
		atomic_store_explicit(&j->state, 1, memory_order_release);
		uv_async_send(&p->async);
	}
}

static void job_release(cpool_t *p, cpjob_t *j)
{
	cpkey_unref(j->key);
	j->key = NULL;
	if (p->nfree < FREE_MAX) {
		j->wnext = p->freel;
		p->freel = j;
		p->nfree++;
	} else
		free(j);
}

static void deliver(cpool_t *p)
{
	queue_t *q;

	if (p->delivering)
		return; /* not from inside a done function: the outer loop goes on */
	p->delivering = 1;
	while ((q = queue_first(&p->fifo))) {
		cpjob_t *j = queue_data(q, cpjob_t, link);
		if (!atomic_load_explicit(&j->state, memory_order_acquire))
			break;
		queue_remove(q);
		p->nfifo--;
		if (j->owner)
			j->done(j);
		job_release(p, j);
	}
	p->delivering = 0;
}

static void on_async(uv_async_t *a)
{
	deliver(a->data);
}

cpool_t *cpool_new(uv_loop_t *loop, unsigned workers)
{
	cpool_t *p;

	if (!workers || workers > CPOOL_WORKERS_MAX)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->loop = loop;
	queue_init(&p->fifo);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (uv_async_init(loop, &p->async, on_async) < 0) {
		free(p);
		return NULL;
	}
	p->async.data = p;
	for (unsigned i = 0; i < workers; i++) {
		p->w[i].pool = p;
		p->w[i].idx = i;
		if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]) != 0)
			break;
		p->nworkers++;
	}
	if (p->nworkers < workers) {
		cpool_free(p);
		return NULL;
	}
	return p;
}

unsigned cpool_workers(const cpool_t *p)
{
	return p->nworkers;
}

static void free_on_close(uv_handle_t *h)
{
	cpool_t *p = h->data;

	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

void cpool_free(cpool_t *p)
{
	queue_t *q;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_join(p->w[i].th, NULL);
	while ((q = queue_first(&p->fifo))) {
		queue_remove(q);
		job_release(p, queue_data(q, cpjob_t, link));
	}
	while (p->freel) {
		cpjob_t *j = p->freel;
		p->freel = j->wnext;
		free(j);
	}
	uv_close((uv_handle_t *)&p->async, free_on_close);
}

cpkey_t *cpkey_new(cpool_t *p, aead_alg_t alg, const uint8_t key[AEAD_KEY], int encrypt)
{
	cpkey_t *k = calloc(1, sizeof(*k));

	if (!k)
		abort();
	k->pool = p;
	k->alg = alg;
	k->encrypt = encrypt;
	k->refs = 1;
	memcpy(k->key, key, AEAD_KEY);
	return k;
}

void cpkey_unref(cpkey_t *k)
{
	if (!k || --k->refs)
		return;
	for (unsigned i = 0; i <= CPOOL_WORKERS_MAX; i++)
		if (k->ready[i])
			aead_free(&k->ctx[i]);
	secret_wipe(k->key, sizeof(k->key));
	free(k);
}

cpjob_t *cpool_job(cpool_t *p, void *owner, cpkey_t *key, cpjob_work_fn work, cpjob_done_fn done)
{
	cpjob_t *j;

	if (p->nfifo >= CPOOL_JOBS_MAX) {
		p->st.dropped++;
		return NULL;
	}
	if (p->freel) {
		j = p->freel;
		p->freel = j->wnext;
		p->nfree--;
	} else if (!(j = malloc(sizeof(*j))))
		abort();
	j->work = work;
	j->done = done;
	j->owner = owner;
	j->key = key;
	key->refs++;
	j->tag = j->tag2 = 0;
	j->n = j->used = j->stride = j->last = 0;
	j->wnext = NULL;
	j->inl = 0;
	memset(&j->link, 0, sizeof(j->link));
	atomic_init(&j->state, 0);
	return j;
}

void cpool_discard(cpool_t *p, cpjob_t *j)
{
	job_release(p, j);
}

void cpool_submit(cpool_t *p, cpjob_t *j)
{
	int inl;

	p->st.jobs++;
	queue_insert_tail(&p->fifo, &j->link);
	p->nfifo++;
	pthread_mutex_lock(&p->mu);
	inl = p->nwait >= (size_t)p->nworkers * CPOOL_WAIT_MAX;
	if (!inl) {
		if (p->wtail)
			p->wtail->wnext = j;
		else
			p->whead = j;
		p->wtail = j;
		p->nwait++;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	if (inl) {
		/* the workers are behind: the loop does this one */
		p->st.inl++;
		j->inl = 1;
		run(j, CPOOL_WORKERS_MAX);
		atomic_store_explicit(&j->state, 1, memory_order_relaxed);
		/* delivered from the async callback like the others: a submission
		 * from the end of a loop turn (a uv_check) must not write after
		 * the writers' own end-of-turn flushes ran */
		uv_async_send(&p->async);
	}
}

void cpool_forget(cpool_t *p, void *owner)
{
	queue_t *q;

	if (!p)
		return;
	queue_foreach (q, &p->fifo) {
		cpjob_t *j = queue_data(q, cpjob_t, link);
		if (j->owner == owner)
			j->owner = NULL;
	}
}

void cpool_stats(const cpool_t *p, cpool_stats_t *s)
{
	if (p)
		*s = p->st;
	else
		memset(s, 0, sizeof(*s));
}
