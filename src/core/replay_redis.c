/* replay_redis: the replay cache shared through Redis (replay_shared_ops_t).
 *
 * A check is `SET sluice:replay:<ns>:<nonce> 1 NX PX <ttl>`: "OK" means
 * this instance recorded the nonce first (NEW), nil that someone did
 * before (SEEN).  Anything else (an error reply, no answer within the
 * timeout, the connection lost, more than MAX_PENDING checks waiting) is
 * DOWN: the caller does not act on the token as if it were new.
 *
 * hiredis's asynchronous context runs on our loop through a small adapter
 * (a uv_poll_t on its socket, below).  Replies come in the order of the
 * commands, so the checks waiting are a FIFO and one timer watches the
 * oldest.  States:
 *
 *   CONNECTING  a connection is being made; checks are sent on it (hiredis
 *               keeps them until it is up) under the same timeout
 *   UP          connected
 *   DOWN        no connection: checks answer DOWN at once; a retry timer
 *               starts CONNECTING again every RETRY_MS
 *
 * Any failure (connect, timeout, error reply, lost connection) drops the
 * connection (every check on it answers DOWN) and goes DOWN; each change
 * of state is logged once.  A cancelled check stays in the FIFO until its
 * reply comes, with no one to tell: the cap counts it.
 *
 * The host is resolved once, when the listener starts (hiredis would
 * resolve it blocking at each reconnect).
 */
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/queue.h"
#include "core/replay.h"

#define MAX_PENDING 1024
#define RETRY_MS 1000

typedef enum { R_DOWN, R_CONNECTING, R_UP } rstate_t;
static const char *const rstate_names[] = {"down", "connecting", "up"};

typedef struct rio rio_t;

typedef struct redis {
	uv_loop_t *loop;
	char name[300]; /* host:port/db, for logs */
	char ip[64], ns[48];
	char *password;
	int port, db;
	uint64_t timeout_ms;
	redisAsyncContext *ac;
	rstate_t state;
	char why[128];
	uv_timer_t *tmo, *retry;
	int handles; /* timers not yet closed */
	int broken;  /* drop the connection from the timer, outside hiredis */
	int warned;  /* the fall to DOWN was logged; said again only after UP */
	queue_t pending;
	size_t npending;
	uint64_t n_new, n_seen, n_down, n_timeouts;
} redis_t;

typedef struct rreq {
	queue_t link;
	redis_t *r;
	uint64_t deadline;
	replay_shared_cb cb; /* NULL: cancelled */
	void *ud;
} rreq_t;

/* ---- the libuv adapter: hiredis asks for read/write interest ---- */

struct rio {
	uv_poll_t poll;
	redisAsyncContext *ac; /* NULL once hiredis let go */
	int events;
};

static void rio_on_poll(uv_poll_t *h, int status, int events)
{
	rio_t *io = h->data;

	if (status < 0)
		events = UV_READABLE | UV_WRITABLE; /* let hiredis find the error */
	if (io->ac && (events & UV_READABLE))
		redisAsyncHandleRead(io->ac);
	if (io->ac && (events & UV_WRITABLE))
		redisAsyncHandleWrite(io->ac);
}

static void rio_update(rio_t *io, int add, int del)
{
	io->events = (io->events | add) & ~del;
	if (io->events)
		uv_poll_start(&io->poll, io->events, rio_on_poll);
	else
		uv_poll_stop(&io->poll);
}

static void rio_add_read(void *p)
{
	rio_update(p, UV_READABLE, 0);
}
static void rio_del_read(void *p)
{
	rio_update(p, 0, UV_READABLE);
}
static void rio_add_write(void *p)
{
	rio_update(p, UV_WRITABLE, 0);
}
static void rio_del_write(void *p)
{
	rio_update(p, 0, UV_WRITABLE);
}

static void rio_closed(uv_handle_t *h)
{
	free(h->data);
}

static void rio_cleanup(void *p)
{
	rio_t *io = p;

	io->ac = NULL;
	uv_close((uv_handle_t *)&io->poll, rio_closed);
}

static int rio_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	rio_t *io = calloc(1, sizeof(*io));
	int r;

	if (!io)
		abort();
	if ((r = uv_poll_init(loop, &io->poll, ac->c.fd)) < 0) {
		free(io);
		return r;
	}
	io->poll.data = io;
	io->ac = ac;
	ac->ev.data = io;
	ac->ev.addRead = rio_add_read;
	ac->ev.delRead = rio_del_read;
	ac->ev.addWrite = rio_add_write;
	ac->ev.delWrite = rio_del_write;
	ac->ev.cleanup = rio_cleanup;
	return 0;
}

/* ---- the connection ---- */

static void set_state(redis_t *r, rstate_t st, const char *why)
{
	if (r->state == st)
		return;
	if (st == R_DOWN && !r->warned)
		log_warn(0,
		         "replay redis %s: %s -> down (%s): 0-RTT opens are taken one round "
		         "trip later (ws) or refused (wstan, sctp) until it answers again",
		         r->name, rstate_names[r->state], why);
	else if (st == R_UP)
		log_info(0, "replay redis %s: %s -> up", r->name, rstate_names[r->state]);
	else
		log_debug(0, "replay redis %s: %s -> %s (%s)", r->name, rstate_names[r->state],
		          rstate_names[st], why);
	r->warned = st == R_DOWN || (r->warned && st != R_UP);
	r->state = st;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

static void req_finish(rreq_t *q, int verdict)
{
	redis_t *r = q->r;

	queue_remove(&q->link);
	r->npending--;
	if (verdict == REPLAY_NEW)
		r->n_new++;
	else if (verdict == REPLAY_SEEN)
		r->n_seen++;
	else
		r->n_down++;
	if (q->cb)
		q->cb(q->ud, verdict);
	free(q);
}

static void on_timeout(uv_timer_t *t);
static void on_retry(uv_timer_t *t);

static void arm_timeout(redis_t *r)
{
	queue_t *h = queue_first(&r->pending);
	uint64_t now = uv_now(r->loop), due;

	if (r->broken) {
		uv_timer_start(r->tmo, on_timeout, 0, 0);
		return;
	}
	if (!h) {
		uv_timer_stop(r->tmo);
		return;
	}
	due = queue_data(h, rreq_t, link)->deadline;
	uv_timer_start(r->tmo, on_timeout, due > now ? due - now : 0, 0);
}

/* Drop the connection: hiredis answers every check on it with no reply
 * (DOWN); then retry later. */
static void drop(redis_t *r, const char *why)
{
	redisAsyncContext *ac = r->ac;

	set_state(r, R_DOWN, why);
	r->broken = 0;
	if (ac) {
		r->ac = NULL;
		redisAsyncFree(ac);
	}
	arm_timeout(r);
	if (!uv_is_active((uv_handle_t *)r->retry))
		uv_timer_start(r->retry, on_retry, RETRY_MS, 0);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	rreq_t *q = priv;
	redis_t *r = q->r;
	redisReply *rep = reply;
	int v = REPLAY_DOWN;

	(void)ac;
	if (rep && rep->type == REDIS_REPLY_STATUS && !strcmp(rep->str, "OK"))
		v = REPLAY_NEW;
	else if (rep && rep->type == REDIS_REPLY_NIL)
		v = REPLAY_SEEN;
	else if (rep && !r->broken) { /* an error reply: this connection is of no use */
		char why[100];
		snprintf(why, sizeof(why), "%.90s",
		         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		set_state(r, R_DOWN, why);
		r->broken = 1;
	}
	req_finish(q, v);
	arm_timeout(r);
}

/* AUTH and SELECT: their answers only tell whether the connection is of use. */
static void on_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rep = reply;
	redis_t *r = priv;

	(void)ac;
	if (rep && rep->type == REDIS_REPLY_ERROR && !r->broken) {
		char why[100];
		snprintf(why, sizeof(why), "%.90s", rep->str);
		set_state(r, R_DOWN, why);
		r->broken = 1;
		arm_timeout(r);
	}
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	redis_t *r = ac->data;

	if (ac != r->ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this */
		r->ac = NULL;
		drop(r, ac->errstr[0] ? ac->errstr : "cannot connect");
		return;
	}
	if (!r->broken)
		set_state(r, R_UP, "");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	redis_t *r = ac->data;

	(void)status;
	if (ac != r->ac) /* our own redisAsyncFree */
		return;
	r->ac = NULL; /* hiredis frees it */
	drop(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void connect_start(redis_t *r)
{
	redisAsyncContext *ac = redisAsyncConnect(r->ip, r->port);
	char db[16];

	if (!ac)
		abort();
	if (ac->err) {
		char why[128];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		drop(r, why);
		return;
	}
	ac->data = r;
	if (rio_attach(ac, r->loop) < 0) {
		redisAsyncFree(ac);
		drop(r, "cannot poll its socket");
		return;
	}
	r->ac = ac;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	set_state(r, R_CONNECTING, "");
	if (r->password)
		redisAsyncCommand(ac, on_setup_reply, r, "AUTH %s", r->password);
	if (r->db) {
		snprintf(db, sizeof(db), "%d", r->db);
		redisAsyncCommand(ac, on_setup_reply, r, "SELECT %s", db);
	}
}

static void on_timeout(uv_timer_t *t)
{
	redis_t *r = t->data;
	queue_t *h = queue_first(&r->pending);

	if (r->broken) {
		drop(r, r->why);
		return;
	}
	if (!h || queue_data(h, rreq_t, link)->deadline > uv_now(r->loop)) {
		arm_timeout(r);
		return;
	}
	r->n_timeouts++;
	drop(r, "no answer within the timeout");
}

static void on_retry(uv_timer_t *t)
{
	redis_t *r = t->data;

	if (!r->ac)
		connect_start(r);
}

/* ---- the ops ---- */

/* redis://[:PASSWORD@]HOST[:PORT][/DB] */
static int parse_url(redis_t *r, const char *url, char *host, size_t hostlen, char *err,
                     size_t errlen)
{
	const char *p = url + 8, *at = strchr(p, '@'), *slash, *colon, *end;
	char *e;
	long v;

	if (at) {
		if (*p != ':' || at == p + 1)
			goto bad;
		r->password = strndup(p + 1, (size_t)(at - p - 1));
		if (!r->password)
			abort();
		p = at + 1;
	}
	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb)
			goto bad;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		snprintf(host, hostlen, "%.*s", (int)(rb - p - 1), p + 1);
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		snprintf(host, hostlen, "%.*s", (int)((colon ? colon : end) - p), p);
	}
	if (!host[0])
		goto bad;
	r->port = 6379;
	if (colon) {
		v = strtol(colon + 1, &e, 10);
		if (e != end || v < 1 || v > 65535)
			goto bad;
		r->port = (int)v;
	}
	if (slash && slash[1]) {
		v = strtol(slash + 1, &e, 10);
		if (*e || v < 0 || v > 1000000)
			goto bad;
		r->db = (int)v;
	}
	snprintf(r->name, sizeof(r->name), "%s:%d/%d", host, r->port, r->db);
	return 0;
bad:
	snprintf(err, errlen, "option 'replay': redis://[:PASSWORD@]HOST[:PORT][/DB] (not %s)",
	         url);
	return -EINVAL;
}

static int resolve(redis_t *r, const char *host, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int e = getaddrinfo(host, NULL, &hints, &ai);

	if (e || !ai) {
		snprintf(err, errlen, "option 'replay': %s: %s", host, gai_strerror(e));
		return -EINVAL;
	}
	e = getnameinfo(ai->ai_addr, ai->ai_addrlen, r->ip, sizeof(r->ip), NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(ai);
	if (e) {
		snprintf(err, errlen, "option 'replay': %s: %s", host, gai_strerror(e));
		return -EINVAL;
	}
	return 0;
}

static void free_redis(redis_t *r)
{
	free(r->password);
	free(r);
}

static int redis_open(uv_loop_t *loop, const char *url, uint64_t timeout_ms, const char *ns,
                      void **out, char *err, size_t errlen)
{
	redis_t *r = calloc(1, sizeof(*r));
	char host[256];
	int rc;

	if (!r)
		abort();
	if ((rc = parse_url(r, url, host, sizeof(host), err, errlen)) < 0 ||
	    (rc = resolve(r, host, err, errlen)) < 0) {
		free_redis(r);
		return rc;
	}
	r->loop = loop;
	r->timeout_ms = timeout_ms ? timeout_ms : 1;
	snprintf(r->ns, sizeof(r->ns), "%s", ns);
	queue_init(&r->pending);
	r->tmo = malloc(sizeof(*r->tmo));
	r->retry = malloc(sizeof(*r->retry));
	if (!r->tmo || !r->retry)
		abort();
	uv_timer_init(loop, r->tmo);
	uv_timer_init(loop, r->retry);
	r->tmo->data = r->retry->data = r;
	r->handles = 2;
	r->state = R_DOWN;
	snprintf(r->why, sizeof(r->why), "not connected yet");
	connect_start(r);
	*out = r;
	return 0;
}

static int redis_check(void *b, const uint8_t key[REPLAY_NONCE], uint64_t ttl_ms,
                       replay_shared_cb cb, void *ud, void **req)
{
	redis_t *r = b;
	char k[128], ttl[24];
	const char *argv[6];
	size_t argl[6];
	rreq_t *q;
	size_t n;

	*req = NULL;
	if (!r->ac || r->broken || r->npending >= MAX_PENDING) {
		r->n_down++;
		return REPLAY_DOWN;
	}
	n = (size_t)snprintf(k, sizeof(k), "sluice:replay:%s:", r->ns);
	for (int i = 0; i < REPLAY_NONCE; i++, n += 2)
		snprintf(k + n, sizeof(k) - n, "%02x", key[i]);
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)(ttl_ms ? ttl_ms : 1));
	argv[0] = "SET", argv[1] = k, argv[2] = "1", argv[3] = "NX", argv[4] = "PX", argv[5] = ttl;
	for (int i = 0; i < 6; i++)
		argl[i] = strlen(argv[i]);
	q = calloc(1, sizeof(*q));
	if (!q)
		abort();
	*q = (rreq_t){.r = r, .deadline = uv_now(r->loop) + r->timeout_ms, .cb = cb, .ud = ud};
	if (redisAsyncCommandArgv(r->ac, on_reply, q, 6, argv, argl) != REDIS_OK) {
		free(q);
		r->n_down++;
		return REPLAY_DOWN;
	}
	queue_insert_tail(&r->pending, &q->link);
	r->npending++;
	if (r->npending == 1)
		arm_timeout(r);
	*req = q;
	return REPLAY_PENDING;
}

static void redis_cancel(void *req)
{
	rreq_t *q = req;

	if (q)
		q->cb = NULL;
}

static const char *redis_state(void *b, char *why, size_t len)
{
	redis_t *r = b;

	snprintf(why, len, "%s", r->state == R_UP ? "" : r->why);
	return rstate_names[r->state];
}

static void redis_metrics(void *b, mbuf_t *out, const char *lab)
{
	redis_t *r = b;
	static const char *const res[] = {"new", "seen", "down"};
	const uint64_t v[] = {r->n_new, r->n_seen, r->n_down};
	char rl[160];

	metrics_sample(out, "sluice_replay_shared_up", "gauge",
	               "1 while the shared replay cache (Redis) answers.", lab, r->state == R_UP);
	metrics_sample(out, "sluice_replay_shared_pending", "gauge",
	               "Replay checks waiting for the shared cache's answer.", lab, r->npending);
	for (int i = 0; i < 3; i++) {
		snprintf(rl, sizeof(rl), "%s,result=\"%s\"", lab, res[i]);
		metrics_sample(out, "sluice_replay_shared_checks_total", "counter",
		               "Checks of the shared replay cache, by answer (down: not answered).",
		               rl, v[i]);
	}
	metrics_sample(out, "sluice_replay_shared_timeouts_total", "counter",
	               "Times the shared replay cache did not answer in time.", lab, r->n_timeouts);
}

static void timer_closed(uv_handle_t *h)
{
	redis_t *r = h->data;

	free(h);
	if (--r->handles == 0)
		free_redis(r);
}

static void redis_close(void *b)
{
	redis_t *r = b;
	redisAsyncContext *ac = r->ac;

	r->ac = NULL;
	if (ac)
		redisAsyncFree(ac); /* answers what is left, to no one */
	uv_close((uv_handle_t *)r->tmo, timer_closed);
	uv_close((uv_handle_t *)r->retry, timer_closed);
}

const replay_shared_ops_t replay_redis_ops = {
    .scheme = "redis",
    .open = redis_open,
    .check = redis_check,
    .cancel = redis_cancel,
    .state = redis_state,
    .metrics = redis_metrics,
    .close = redis_close,
};
