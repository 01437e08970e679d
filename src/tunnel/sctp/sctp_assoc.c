/* sctp_assoc: see sctp_assoc.h for the model.
 *
 * Loop side, in one place (rt_run, the uv_async callback):
 *   1. take the events the usrsctp threads queued and dispatch them:
 *      association changes, messages (stream 0: AUTH/AUTH_OK; others:
 *      sealed records), "send space again";
 *   2. pump every association marked dirty: round robin over its streams
 *      that have something to send, one record each turn, until usrsctp
 *      says EWOULDBLOCK (then wait for send space, or a short retry timer);
 *   3. deliver what is pending to the streams' owners (reads, end of data,
 *      drain, errors) -- the only place owner callbacks run, so stream ops
 *      never call back into their caller;
 *   4. free what is done: streams whose id is released (both CLOSEs) or
 *      whose association is gone, and dead associations.
 * Stream ops only change flags and queues and wake rt_run.
 */
#include "tunnel/sctp/sctp_assoc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <usrsctp.h>

#include <openssl/crypto.h>

#include "core/acl.h"
#include "core/authguard.h"
#include "core/crypto.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/msgstream.h"
#include "core/queue.h"
#include "core/rwin.h"
#include "core/tunkey.h"
#include "tunnel/sctp/sctp_kern.h"
#include "wire/socks_proto.h"

#define PUMP_BURST 512 /* records per association per turn */
#define RETRY_MS 5     /* when usrsctp's send buffer was full */

sctp_stats_t sctp_stats;

/* ---- events from usrsctp's threads ---- */

enum { EV_MSG, EV_EOF };

typedef struct ev {
	struct ev *next;
	uint64_t sock;
	int kind, flags;
	void *data; /* malloc'd by usrsctp; ours to free */
	size_t len;
	uint16_t sid;
	uint32_t ppid; /* host order */
	sctp_assoc_t aid;
} ev_t;

typedef struct scstream scstream_t;

enum { A_CONNECTING, A_AUTH, A_UP, A_DEAD };
static const char *const astate_names[] = {"connecting", "auth", "up", "dead"};

struct sctp_sock {
	sctp_sock_t *next;
	uint64_t id;
	struct socket *so; /* usrsctp's, or */
	sctp_kern_t *k;    /* the kernel's */
	int server, stack;
	const sctp_assoc_cfg_t *cfg;
	const sctp_assoc_ops_t *ops;
	void *ud;
	sctp_association_t *assocs;
	size_t nassocs;
	sctp_sock_stats_t stats;
};

struct sctp_association {
	sctp_association_t *next; /* in sock->assocs */
	sctp_sock_t *sock;
	sctp_assoc_t aid;
	int state;
	uint64_t id;
	struct sockaddr_storage peer;
	char peer_str[64];
	uint8_t cn[SCTP_PROTO_NONCE], sn[SCTP_PROTO_NONCE];
	uint32_t peer_window;
	uint16_t nstreams; /* ids 1..nstreams-1 carry connections */
	scstream_t **st;
	uint32_t *gen;
	uint16_t next_sid;
	size_t nlive;
	uint64_t rxbuf;               /* the streams' rq bytes: at most cfg->max_buffer */
	uint64_t bytes_in, bytes_out; /* streams' data and datagrams' payloads */
	queue_t tx;        /* scstream_t.tx_link: streams with something to send, round robin */
	sbuf_t *ctl;       /* a stream-0 message to send */
	uint16_t part_sid; /* a partially delivered message */
	uint8_t *part;
	size_t part_len;
	uv_timer_t *timer; /* auth timeout */
	sctp_association_t *dirty_next;
	unsigned dirty : 1, blocked : 1, in_dead : 1, down_called : 1, own_sock : 1;
	unsigned held : 1; /* a wrong key's refusal waits for the auth guard's delay */
};

enum { S_OPENING, S_OPEN };

/* A datagram association on a stream lifetime: its own keys (a counter
 * per message, sent in clear), a replay window for what arrives, and the
 * owner's callback for each datagram. */
typedef struct scdg {
	aead_t tx, rx;
	uint64_t tx_ctr;
	rwin_t win;
	sctp_dgram_fn fn;
	void *ud;
} scdg_t;

/* A stream is a message stream (core/msgstream.h): m.rq holds the DATA the
 * owner has not taken, m.wq what it wrote that is not sent yet, m.err the
 * latched failure; rt_run is its turn (the kick is pend_add). */
struct scstream {
	msgstream_t m; /* first */
	sctp_association_t *a;
	uint16_t sid;
	uint8_t state;
	seal_t tx, rx;
	uint64_t tx_credit, rx_left, rx_unacked;
	uint64_t rx_counted; /* of m.rq's bytes, those in a->rxbuf */
	uint32_t credit_want;
	sbuf_t *stalled;
	uint8_t stalled_type;
	uint8_t fail_body[1 + SCTP_PROTO_FAIL_TEXT];
	size_t fail_len;
	target_t target;
	dial_cb cb;
	void *ud;
	struct scdg *dg;            /* a datagram association's state (UDP_OPEN) */
	queue_t tx_link, pend_link; /* in a->tx, in rt.pend */
	scstream_t *grave_next;
	unsigned owner_closed : 1, close_want : 1, close_sent : 1, close_rcvd : 1, eof_want : 1,
	    eof_sent : 1, eof_rcvd : 1, open_want : 1, ok_want : 1, fail_want : 1, was_high : 1,
	    in_grave : 1, released : 1, keys : 1;
};

static struct {
	int inited;
	uint16_t port;
	uv_loop_t *loop;
	uv_async_t async;
	uv_timer_t retry;
	pthread_mutex_t mu;
	ev_t *head, *tail;
	int send_space;
	sctp_sock_t *socks;
	sctp_association_t *dirty;
	queue_t pend; /* scstream_t.pend_link: owners to call back this turn */
	scstream_t *grave;
	sctp_association_t *dead;
	uint64_t next_sock;
	int nblocked;
	int stopped; /* under mu: the loop is going away, usrsctp's threads must not wake it */
} rt = {.mu = PTHREAD_MUTEX_INITIALIZER, .pend = {&rt.pend, &rt.pend}};

static void rt_wake(void)
{
	uv_async_send(&rt.async);
}

static int on_recv_cb(struct socket *so, union sctp_sockstore addr, void *data, size_t len,
                      struct sctp_rcvinfo rcv, int flags, void *ulp)
{
	ev_t *e = calloc(1, sizeof(*e));

	if (!e)
		abort();
	e->sock = (uint64_t)(uintptr_t)ulp;
	e->kind = data ? EV_MSG : EV_EOF;
	e->data = data;
	e->len = len;
	e->flags = flags;
	e->sid = rcv.rcv_sid;
	e->ppid = ntohl(rcv.rcv_ppid);
	e->aid = rcv.rcv_assoc_id;
	pthread_mutex_lock(&rt.mu);
	if (rt.stopped) {
		pthread_mutex_unlock(&rt.mu);
		free(data);
		free(e);
		return 1;
	}
	if (rt.tail)
		rt.tail->next = e;
	else
		rt.head = e;
	rt.tail = e;
	uv_async_send(&rt.async); /* under mu: never after sctp_rt_stop() closed it */
	pthread_mutex_unlock(&rt.mu);
	return 1;
}

static int on_send_cb(struct socket *so, uint32_t sb_free, void *ulp)
{
	int wake;

	pthread_mutex_lock(&rt.mu);
	wake = !rt.send_space && !rt.stopped;
	rt.send_space = 1;
	if (wake)
		uv_async_send(&rt.async);
	pthread_mutex_unlock(&rt.mu);
	return 0;
}

/* ---- small helpers ---- */

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The clock the brute-force guard counts in (libuv's loop time). */
static uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void a_set_state(sctp_association_t *a, int s)
{
	log_debug(a->id, "sctp %s: association %s -> %s", a->peer_str, astate_names[a->state],
	          astate_names[s]);
	a->state = s;
}

static void a_dirty(sctp_association_t *a)
{
	if (a->dirty || a->state == A_DEAD)
		return;
	a->dirty = 1;
	a->dirty_next = rt.dirty;
	rt.dirty = a;
	rt_wake();
}

static void tx_add(scstream_t *st)
{
	sctp_association_t *a = st->a;

	if (!a || queue_linked(&st->tx_link) || st->released)
		return;
	queue_insert_tail(&a->tx, &st->tx_link);
	a_dirty(a);
}

static void tx_del(scstream_t *st)
{
	queue_remove(&st->tx_link);
}

static void pend_add(scstream_t *st)
{
	if (queue_linked(&st->pend_link))
		return;
	queue_insert_tail(&rt.pend, &st->pend_link);
	rt_wake();
}

static void pend_del(scstream_t *st)
{
	queue_remove(&st->pend_link);
}

static void grave_add(scstream_t *st)
{
	if (st->in_grave)
		return;
	st->in_grave = 1;
	st->grave_next = rt.grave;
	rt.grave = st;
	rt_wake();
}

/* The association's count of unread bytes follows st's rq, which the
 * owner takes from and msgstream may empty (an error); with leave, st
 * leaves the association and takes its share out. */
static void rx_sync(scstream_t *st, int leave)
{
	uint64_t now = leave ? 0 : st->m.rq.bytes;

	if (st->a) {
		st->a->rxbuf = st->a->rxbuf + now - st->rx_counted;
		st->a->sock->stats.buffered = st->a->sock->stats.buffered + now - st->rx_counted;
	}
	st->rx_counted = now;
}

/* Both sides sent CLOSE: the id is free again. */
static void st_release(scstream_t *st)
{
	sctp_association_t *a = st->a;

	if (st->released)
		return;
	st->released = 1;
	if (a) {
		rx_sync(st, 1);
		tx_del(st);
		if (a->st[st->sid] == st) {
			a->st[st->sid] = NULL;
			a->nlive--;
		}
		st->a = NULL;
		if (!a->sock->server && a->sock->ops->avail && a->state == A_UP)
			a->sock->ops->avail(a, a->sock->ud);
	}
	if (st->owner_closed)
		grave_add(st);
}

static void st_check_release(scstream_t *st)
{
	if (st->close_sent && st->close_rcvd)
		st_release(st);
}

/* A stream-level protocol error: tell the owner, send CLOSE. */
static void st_reset(scstream_t *st, const char *why)
{
	log_info(st->m.s.id, "sctp stream %u: %s", st->sid, why);
	sctp_stats.proto_errors++;
	msgstream_fail(&st->m, UV_ECONNRESET);
	sbufq_clear(&st->m.wq);
	st->m.s.wq_bytes = 0;
	st->eof_want = 0;
	st->close_want = 1;
	tx_add(st);
	pend_add(st);
}

/* ---- the stream_t ---- */

static int st_write(stream_t *s, sbuf_t *b)
{
	scstream_t *st = (scstream_t *)s;

	if (!st->a || st->m.err || st->close_want || st->eof_want) {
		sbuf_free(b);
		return st->m.err ? st->m.err : UV_EPIPE;
	}
	if (!b->len) {
		sbuf_free(b);
		return 0;
	}
	msgstream_hold(&st->m, b);
	if (s->wq_bytes > STREAM_LOW_WATER)
		st->was_high = 1;
	tx_add(st);
	return 0;
}

static int st_shutdown(stream_t *s)
{
	scstream_t *st = (scstream_t *)s;

	if (!st->a || st->m.err)
		return st->m.err ? st->m.err : UV_ENOTCONN;
	st->eof_want = 1;
	tx_add(st);
	return 0;
}

static void st_read_start(stream_t *s)
{
	msgstream_read_start(&((scstream_t *)s)->m);
}

static void st_read_stop(stream_t *s)
{
	msgstream_read_stop(&((scstream_t *)s)->m);
}

static void st_close(stream_t *s)
{
	scstream_t *st = (scstream_t *)s;

	st->owner_closed = 1;
	st->cb = NULL;
	s->cbs = NULL;
	sbufq_clear(&st->m.rq);
	rx_sync(st, 0);
	if (st->m.wq.bytes || st->m.err)
		st->eof_want = 0; /* an abort: no EOF before the CLOSE */
	sbufq_clear(&st->m.wq);
	s->wq_bytes = 0;
	if (st->a && !st->close_sent) {
		st->close_want = 1;
		tx_add(st);
	} else if (!st->a || st->released) {
		grave_add(st);
	}
}

static const stream_ops_t st_ops = {
    .name = "sctp",
    .write = st_write,
    .shutdown = st_shutdown,
    .read_start = st_read_start,
    .read_stop = st_read_stop,
    .close = st_close,
};

static void st_kick(msgstream_t *m)
{
	pend_add((scstream_t *)m);
}

/* The owner took a message: it counts towards the next CREDIT. */
static void st_consumed(msgstream_t *m, size_t n)
{
	((scstream_t *)m)->rx_unacked += n;
}

static const msgstream_hooks_t st_hooks = {.kick = st_kick, .consumed = st_consumed};

static scstream_t *st_new(sctp_association_t *a, uint16_t sid, uint64_t id)
{
	scstream_t *st = calloc(1, sizeof(*st));
	uint8_t kc[SEAL_KEY], ks[SEAL_KEY];
	uint32_t gen = ++a->gen[sid];
	int srv = a->sock->server;

	if (!st)
		abort();
	msgstream_init(&st->m, &st_ops, id, NULL, &st_hooks);
	st->a = a;
	st->sid = sid;
	st->tx_credit = a->peer_window;
	st->rx_left = a->sock->cfg->window;
	sctp_proto_stream_key(a->sock->cfg->keys, a->cn, a->sn, 0, sid, gen, kc);
	sctp_proto_stream_key(a->sock->cfg->keys, a->cn, a->sn, 1, sid, gen, ks);
	seal_init(&st->tx, srv ? ks : kc, 1, 0);
	seal_init(&st->rx, srv ? kc : ks, 0, 0);
	st->keys = 1;
	a->st[sid] = st;
	a->nlive++;
	sctp_stats.streams++;
	return st;
}

static void st_free(scstream_t *st)
{
	if (st->dg) {
		aead_free(&st->dg->tx);
		aead_free(&st->dg->rx);
		free(st->dg);
	}
	sbuf_free(st->stalled);
	if (st->keys) {
		seal_free(&st->tx);
		seal_free(&st->rx);
	}
	msgstream_release(&st->m, NULL); /* no timer: frees st now */
}

/* ---- sending ---- */

static int a_send(sctp_association_t *a, uint16_t sid, const void *p, size_t len)
{
	struct sctp_sndinfo si = {0};
	ssize_t r;

	if (a->sock->k)
		return sctp_kern_send(a->sock->k, (uint32_t)a->aid, sid, SCTP_PROTO_PPID, p, len);
	si.snd_sid = sid;
	si.snd_ppid = htonl(SCTP_PROTO_PPID);
	si.snd_assoc_id = a->aid;
	r = usrsctp_sendv(a->sock->so, p, len, NULL, 0, &si, sizeof(si), SCTP_SENDV_SNDINFO, 0);
	if (r < 0)
		return errno == EWOULDBLOCK || errno == EAGAIN ? -EAGAIN : -errno;
	return 0;
}

/* A datagram: unordered and never retransmitted (PR-SCTP, RTX policy with
 * 0 retransmissions), so a lost one is never late. */
static int a_send_dgram(sctp_association_t *a, uint16_t sid, const void *p, size_t len)
{
	struct sctp_sendv_spa spa = {0};
	ssize_t r;

	if (a->sock->k)
		return sctp_kern_send_dgram(a->sock->k, (uint32_t)a->aid, sid,
		                            SCTP_PROTO_PPID_DGRAM, p, len);
	spa.sendv_flags = SCTP_SEND_SNDINFO_VALID | SCTP_SEND_PRINFO_VALID;
	spa.sendv_sndinfo.snd_sid = sid;
	spa.sendv_sndinfo.snd_flags = SCTP_UNORDERED;
	spa.sendv_sndinfo.snd_ppid = htonl(SCTP_PROTO_PPID_DGRAM);
	spa.sendv_sndinfo.snd_assoc_id = a->aid;
	spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
	spa.sendv_prinfo.pr_value = 0;
	r = usrsctp_sendv(a->sock->so, p, len, NULL, 0, &spa, sizeof(spa), SCTP_SENDV_SPA, 0);
	if (r < 0)
		return errno == EWOULDBLOCK || errno == EAGAIN ? -EAGAIN : -errno;
	return 0;
}

/* The datagram keys of st's lifetime. */
static void st_make_dgram(scstream_t *st)
{
	sctp_association_t *a = st->a;
	uint8_t kc[SEAL_KEY], ks[SEAL_KEY];
	int srv = a->sock->server;

	st->dg = calloc(1, sizeof(*st->dg));
	if (!st->dg)
		abort();
	sctp_proto_dgram_key(a->sock->cfg->keys, a->cn, a->sn, 0, st->sid, a->gen[st->sid], kc);
	sctp_proto_dgram_key(a->sock->cfg->keys, a->cn, a->sn, 1, st->sid, a->gen[st->sid], ks);
	if (aead_init(&st->dg->tx, AEAD_CHACHA20_POLY1305, srv ? ks : kc, 1) < 0 ||
	    aead_init(&st->dg->rx, AEAD_CHACHA20_POLY1305, srv ? kc : ks, 0) < 0)
		abort(); /* OpenSSL without ChaCha20-Poly1305: the records failed already */
	OPENSSL_cleanse(kc, sizeof(kc));
	OPENSSL_cleanse(ks, sizeof(ks));
}

/* The next sealed record of st, or NULL if it has nothing to send. */
static sbuf_t *st_next_record(scstream_t *st, uint8_t *type)
{
	static uint8_t tmp[SCTP_PROTO_DATA_MAX];
	uint8_t body[SCTP_PROTO_OPEN_MAX];
	sbuf_t *b;
	int n;

	if (st->stalled) {
		b = st->stalled;
		st->stalled = NULL;
		*type = st->stalled_type;
		return b;
	}
	if (st->close_sent)
		return NULL;
	if (st->open_want && st->dg) {
		st->open_want = 0;
		*type = SCTP_PROTO_UDP_OPEN;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_UDP_OPEN, NULL, 0);
	}
	if (st->open_want) {
		st->open_want = 0;
		n = sctp_proto_open_encode(&st->target, body, sizeof(body));
		*type = SCTP_PROTO_OPEN;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_OPEN, body, n > 0 ? (size_t)n : 0);
	}
	if (st->fail_want) {
		st->fail_want = 0;
		*type = SCTP_PROTO_OPEN_FAIL;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_OPEN_FAIL, st->fail_body,
		                            st->fail_len);
	}
	if (st->ok_want) {
		st->ok_want = 0;
		*type = SCTP_PROTO_OPEN_OK;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_OPEN_OK, NULL, 0);
	}
	if (st->credit_want && !st->owner_closed) {
		uint8_t c[4];
		sctp_proto_credit_encode(st->credit_want, c);
		st->credit_want = 0;
		*type = SCTP_PROTO_CREDIT;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_CREDIT, c, 4);
	}
	if (st->m.wq.bytes && st->tx_credit && st->state == S_OPEN) {
		size_t want = st->m.wq.bytes, got;
		if (want > st->tx_credit)
			want = (size_t)st->tx_credit;
		if (want > SCTP_PROTO_DATA_MAX)
			want = SCTP_PROTO_DATA_MAX;
		got = msgstream_take(&st->m, tmp, want);
		st->tx_credit -= got;
		sctp_stats.bytes_out += got;
		st->a->bytes_out += got;
		if (st->m.s.wq_bytes <= STREAM_LOW_WATER) { /* a write completion */
			st->was_high = 0;
			msgstream_drain_later(&st->m);
		}
		*type = SCTP_PROTO_DATA;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_DATA, tmp, got);
	}
	if (st->eof_want && !st->eof_sent && !st->m.wq.bytes && st->state == S_OPEN) {
		*type = SCTP_PROTO_EOF;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_EOF, NULL, 0);
	}
	if (st->close_want) {
		*type = SCTP_PROTO_CLOSE;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_CLOSE, NULL, 0);
	}
	return NULL;
}

static void on_retry(uv_timer_t *t);

static void a_block(sctp_association_t *a)
{
	if (a->blocked)
		return;
	a->blocked = 1;
	rt.nblocked++;
	sctp_stats.blocked++;
	if (!uv_is_active((uv_handle_t *)&rt.retry))
		uv_timer_start(&rt.retry, on_retry, RETRY_MS, 0);
}

static void a_fail(sctp_association_t *a, int err, const char *why);

static void a_pump(sctp_association_t *a)
{
	int n = 0, r;

	if (a->state == A_DEAD || a->blocked)
		return;
	if (a->ctl) {
		r = a_send(a, 0, sbuf_ptr(a->ctl), a->ctl->len);
		if (r == -EAGAIN) {
			a_block(a);
			return;
		}
		sbuf_free(a->ctl);
		a->ctl = NULL;
		if (r < 0) {
			a_fail(a, UV_ECONNRESET, "send failed");
			return;
		}
	}
	if (a->state != A_UP)
		return;
	while (!queue_empty(&a->tx) && n < PUMP_BURST) {
		scstream_t *st = queue_data(queue_first(&a->tx), scstream_t, tx_link);
		uint8_t type = 0;
		sbuf_t *b;

		tx_del(st);
		b = st_next_record(st, &type);
		if (!b)
			continue; /* nothing more: stays out of the ring */
		r = a_send(a, st->sid, b->data, b->len);
		if (r == -EAGAIN) {
			/* keep the sealed record: its counter is spent */
			st->stalled = b;
			st->stalled_type = type;
			/* back at the head so its order holds */
			queue_insert_head(&a->tx, &st->tx_link);
			a_block(a);
			return;
		}
		sbuf_free(b);
		if (r < 0) {
			a_fail(a, UV_ECONNRESET, "send failed");
			return;
		}
		n++;
		if (type == SCTP_PROTO_EOF)
			st->eof_sent = 1;
		if (type == SCTP_PROTO_CLOSE) {
			st->close_sent = 1;
			st->close_want = 0;
			st_check_release(st);
			continue;
		}
		tx_add(st); /* maybe more: round robin */
	}
	if (!queue_empty(&a->tx))
		a_dirty(a);
}

/* ---- receiving ---- */

static void st_grant(scstream_t *st)
{
	uint32_t w = st->a ? st->a->sock->cfg->window : 0;

	if (!w || st->close_sent || st->close_want || st->rx_unacked < w / 4)
		return;
	st->credit_want += (uint32_t)st->rx_unacked;
	st->rx_left += st->rx_unacked;
	st->rx_unacked = 0;
	tx_add(st);
}

static void a_fail(sctp_association_t *a, int err, const char *why);

static void on_record(sctp_association_t *a, scstream_t *st, uint8_t type, const uint8_t *body,
                      size_t len)
{
	uint32_t inc;
	uint8_t code;

	/* we are done with the stream: what the peer sent before it saw our
	 * CLOSE is dropped, only its own CLOSE still counts */
	if ((st->close_want || st->close_sent) && type != SCTP_PROTO_CLOSE)
		return;
	switch (type) {
	case SCTP_PROTO_OPEN_OK:
		if (a->sock->server || st->state != S_OPENING) {
			st_reset(st, "unexpected OPEN_OK");
			return;
		}
		st->state = S_OPEN;
		pend_add(st); /* the open callback */
		break;
	case SCTP_PROTO_OPEN_FAIL:
		if (a->sock->server || st->state != S_OPENING ||
		    sctp_proto_fail_parse(body, len, &code) < 0) {
			st_reset(st, "unexpected OPEN_FAIL");
			return;
		}
		st->m.err = socks5_err_from_rep(code);
		log_debug(st->m.s.id, "sctp stream %u: the server could not connect: %s", st->sid,
		          socks5_rep_str(code));
		st->close_want = 1;
		tx_add(st);
		pend_add(st);
		break;
	case SCTP_PROTO_DATA:
		if (st->dg) {
			st_reset(st, "DATA on a datagram association");
			return;
		}
		if (st->state != S_OPEN) {
			/* nothing is kept for a stream that is not open */
			a->sock->stats.early++;
			st_reset(st, "DATA before OPEN_OK");
			return;
		}
		if (len > st->rx_left || st->eof_rcvd) {
			st_reset(st,
			         len > st->rx_left ? "DATA beyond the window" : "DATA after EOF");
			return;
		}
		st->rx_left -= len;
		sctp_stats.bytes_in += len;
		a->bytes_in += len;
		if (st->owner_closed || st->m.err)
			break; /* nobody reads: drop */
		if (a->rxbuf + len > a->sock->cfg->max_buffer) {
			/* every stream within its window, but too many of them
			 * unread: the association holds no more */
			a->sock->stats.buffer_resets++;
			st_reset(st, "the association's receive buffer is full (assoc-buffer)");
			return;
		}
		msgstream_push(&st->m, sbuf_from(body, len));
		rx_sync(st, 0);
		if (st->m.reading)
			pend_add(st);
		break;
	case SCTP_PROTO_EOF:
		if (st->state != S_OPEN || st->eof_rcvd) {
			if (st->state != S_OPEN)
				a->sock->stats.early++;
			st_reset(st, st->eof_rcvd ? "second EOF" : "EOF before OPEN_OK");
			return;
		}
		st->eof_rcvd = 1;
		msgstream_push(&st->m, NULL);
		pend_add(st);
		break;
	case SCTP_PROTO_CREDIT:
		if (sctp_proto_credit_parse(body, len, &inc) < 0 ||
		    st->tx_credit + inc > 2ull * SCTP_PROTO_WINDOW_MAX) {
			st_reset(st, "bad CREDIT");
			return;
		}
		st->tx_credit += inc;
		if (st->m.wq.bytes || st->eof_want)
			tx_add(st);
		break;
	case SCTP_PROTO_CLOSE:
		/* graceful only after both EOFs; else an abort */
		st->close_rcvd = 1;
		if (!st->owner_closed && !st->m.err &&
		    !(st->state == S_OPEN && st->eof_rcvd && st->eof_sent)) {
			msgstream_fail(&st->m, st->state == S_OPENING && !a->sock->server
			                           ? UV_ECONNREFUSED
			                           : UV_ECONNRESET);
			pend_add(st);
		}
		st->eof_want = 0;
		sbufq_clear(&st->m.wq);
		st->m.s.wq_bytes = 0;
		st_check_release(st);
		break;
	default:
		st_reset(st, "unexpected record");
	}
}

static void on_stream_msg(sctp_association_t *a, uint16_t sid, uint8_t *buf, size_t len)
{
	sctp_sock_t *so = a->sock;
	scstream_t *st;
	const uint8_t *body;
	size_t blen;
	uint8_t type;
	target_t t;
	int r;

	if (a->state != A_UP || sid >= a->nstreams) {
		a_fail(a, UV_EPROTO, "message before authentication");
		return;
	}
	st = a->st[sid];
	if (!st) {
		if (!so->server) {
			/* a stream we released: the server is late or lying */
			a_fail(a, UV_EPROTO, "message on a closed stream");
			return;
		}
		st = st_new(a, sid, 0);
		st->state = S_OPENING;
		st->owner_closed = 1; /* until the server takes it */
		r = sctp_proto_rec_open(&st->rx, buf, len, &type, &body, &blen);
		if (r < 0 || (type != SCTP_PROTO_OPEN && type != SCTP_PROTO_UDP_OPEN)) {
			a_fail(a, UV_EPROTO,
			       r == -EBADMSG ? "record not authentic" : "first record is not OPEN");
			return;
		}
		if (type == SCTP_PROTO_UDP_OPEN) {
			st_make_dgram(st);
			st->owner_closed = 0;
			sctp_stats.opens++;
			if (so->ops->open_dgram)
				so->ops->open_dgram(a, so->ud, &st->m.s);
			else
				sctp_stream_answer(&st->m.s, UV_ENOTSUP);
			return;
		}
		if (sctp_proto_open_parse(body, blen, &t) < 0) {
			st_reset(st, "malformed OPEN");
			return;
		}
		st->owner_closed = 0;
		st->target = t;
		sctp_stats.opens++;
		so->ops->open(a, so->ud, &st->m.s, &t);
		return;
	}
	if (st->close_rcvd) {
		a_fail(a, UV_EPROTO, "record after CLOSE");
		return;
	}
	r = sctp_proto_rec_open(&st->rx, buf, len, &type, &body, &blen);
	if (r < 0) {
		a_fail(a, UV_EPROTO, r == -EBADMSG ? "record not authentic" : "malformed record");
		return;
	}
	log_trace(st->m.s.id, "sctp stream %u: %s (%zu)", sid, sctp_proto_type_name(type), blen);
	on_record(a, st, type, body, blen);
}

/* A datagram: any order, lost ones are gone; each is authenticated and
 * checked against the replay window, and what does not pass is dropped
 * and counted (the association goes on: a datagram is not a record). */
static void on_dgram_msg(sctp_association_t *a, uint16_t sid, uint8_t *buf, size_t len)
{
	scstream_t *st = sid && sid < a->nstreams ? a->st[sid] : NULL;
	const uint8_t *d;
	target_t addr;
	uint64_t ctr;
	size_t n;
	int r;

	if (a->state != A_UP || !st || !st->dg || st->state != S_OPEN || st->close_rcvd ||
	    st->close_want || st->close_sent || sctp_proto_dgram_ctr(buf, len, &ctr) < 0 ||
	    !rwin_check(&st->dg->win, ctr)) {
		dgram_drops[DGRAM_DROP_BAD]++;
		a->sock->stats.dgram_drops++;
		return;
	}
	r = sctp_proto_dgram_open(&st->dg->rx, buf, len, &addr, &d, &n);
	if (r != -EBADMSG)
		rwin_update(&st->dg->win, ctr);
	if (r < 0) {
		dgram_drops[DGRAM_DROP_BAD]++;
		a->sock->stats.dgram_drops++;
		return;
	}
	sctp_stats.dgrams_in++;
	a->bytes_in += n;
	if (st->dg->fn && !st->owner_closed)
		st->dg->fn(st->dg->ud, &addr, dgram_buf(d, n)); /* st may be closed after */
}

static void on_auth_timeout(uv_timer_t *t);

static void on_ctl_msg(sctp_association_t *a, const uint8_t *buf, size_t len)
{
	sctp_sock_t *so = a->sock;
	const sctp_assoc_cfg_t *cfg = so->cfg;
	sctp_proto_auth_t au;
	uint8_t ans[SCTP_PROTO_AUTH_OK_LEN];
	uint64_t now = wall_ms();
	int r;

	if (a->held) /* refused already: nothing more is read */
		return;
	if (a->state != A_AUTH) {
		a_fail(a, UV_EPROTO, "unexpected message on stream 0");
		return;
	}
	if (so->server) {
		r = sctp_proto_auth_parse(cfg->keys, buf, len, &au);
		if (r == -EBADMSG) { /* a wrong key: the guard delays the answer or bans */
			int64_t hold =
			    authguard_fail((struct sockaddr *)&a->peer, mono_ms(), "sctp", a->id);
			if (hold > 0 && a->timer) {
				log_debug(a->id,
				          "wrong key: the refusal waits %lld ms (auth-guard)",
				          (long long)hold);
				a->held = 1;
				uv_timer_start(a->timer, on_auth_timeout, (uint64_t)hold, 0);
				return;
			}
		}
		if (r < 0) {
			a_fail(a, UV_EACCES,
			       r == -EBADMSG ? "AUTH not authentic (wrong key?)"
			                     : "malformed AUTH");
			return;
		}
		if (au.ts_ms + cfg->skew_ms < now || au.ts_ms > now + cfg->skew_ms ||
		    (now < cfg->start_ms + cfg->skew_ms && au.ts_ms + 1000 < cfg->start_ms)) {
			a_fail(a, UV_EACCES, "AUTH timestamp outside the window");
			return;
		}
		r = replay_check_add(cfg->replay, au.nonce, now, now + 2 * cfg->skew_ms);
		if (r != REPLAY_NEW) {
			a_fail(a, UV_EACCES,
			       r == REPLAY_SEEN ? "replayed AUTH" : "replay cache full");
			return;
		}
		authguard_ok((struct sockaddr *)&a->peer);
		memcpy(a->cn, au.nonce, SCTP_PROTO_NONCE);
		random_bytes(a->sn, SCTP_PROTO_NONCE);
		a->peer_window = au.window;
		sctp_proto_answer_build(cfg->keys, a->cn, a->sn, cfg->window, ans);
		a->ctl = sbuf_from(ans, sizeof(ans));
	} else {
		r = sctp_proto_answer_check(cfg->keys, a->cn, buf, len, a->sn, &a->peer_window);
		if (r < 0) {
			a_fail(a, UV_EACCES, "server's AUTH_OK is not authentic (another key?)");
			return;
		}
	}
	if (a->timer)
		uv_timer_stop(a->timer);
	a_set_state(a, A_UP);
	sctp_stats.assocs_up++;
	log_info(a->id, "%s: sctp association with %s up (%u streams, %s)", cfg->name, a->peer_str,
	         a->nstreams, sctp_stack_names[so->stack]);
	a_dirty(a);
	if (so->ops->up)
		so->ops->up(a, so->ud);
}

static void on_msg(sctp_association_t *a, uint16_t sid, uint32_t ppid, int flags, uint8_t *data,
                   size_t len)
{
	int dg = sid && ppid == SCTP_PROTO_PPID_DGRAM;
	size_t cap = dg ? SCTP_PROTO_DGRAM_MAX : sid ? SCTP_PROTO_REC_MAX : SCTP_PROTO_AUTH_LEN;

	if (a->part || !(flags & MSG_EOR)) {
		/* partial delivery: put the pieces together, bounded */
		if ((a->part && a->part_sid != sid) || a->part_len + len > cap) {
			a_fail(a, UV_EPROTO, "message too long");
			return;
		}
		if (!a->part) {
			a->part = malloc(cap);
			if (!a->part)
				abort();
			a->part_sid = sid;
			a->part_len = 0;
		}
		memcpy(a->part + a->part_len, data, len);
		a->part_len += len;
		if (!(flags & MSG_EOR))
			return;
		data = a->part;
		len = a->part_len;
	}
	if (sid == 0)
		on_ctl_msg(a, data, len);
	else if (dg)
		on_dgram_msg(a, sid, data, len);
	else if (len > cap)
		a_fail(a, UV_EPROTO, "record too long");
	else
		on_stream_msg(a, sid, data, len);
	if (a->part) {
		free(a->part);
		a->part = NULL;
	}
}

/* ---- associations ---- */

static void sock_unlink(sctp_sock_t *s);

static void free_timer(uv_handle_t *h)
{
	free(h);
}

static void on_auth_timeout(uv_timer_t *t)
{
	sctp_association_t *a = t->data;

	if (a->held)
		a_fail(a, UV_EACCES, "AUTH not authentic (wrong key?)");
	else
		a_fail(a, UV_ETIMEDOUT, "no authentication in time");
}

static sctp_association_t *a_new(sctp_sock_t *so, sctp_assoc_t aid)
{
	sctp_association_t *a = calloc(1, sizeof(*a));
	static uint64_t ids;

	if (!a)
		abort();
	a->sock = so;
	a->aid = aid;
	a->id = ++ids;
	queue_init(&a->tx);
	a->next = so->assocs;
	so->assocs = a;
	so->nassocs++;
	a->next_sid = 1;
	return a;
}

static void a_setup_streams(sctp_association_t *a, uint16_t out, uint16_t in)
{
	uint16_t n = out < in ? out : in;

	if (n > SCTP_ASSOC_STREAMS)
		n = SCTP_ASSOC_STREAMS;
	a->nstreams = n;
	a->st = calloc(n ? n : 1, sizeof(*a->st));
	a->gen = calloc(n ? n : 1, sizeof(*a->gen));
	if (!a->st || !a->gen)
		abort();
}

/* Detach every stream, tell the owner, queue a for freeing. */
static void a_fail(sctp_association_t *a, int err, const char *why)
{
	sctp_sock_t *so = a->sock;

	if (a->state == A_DEAD)
		return;
	log_info(a->id, "%s: sctp association with %s %s: %s", so->cfg->name, a->peer_str,
	         a->state == A_UP ? "lost" : "failed", why);
	if (err == UV_EPROTO)
		sctp_stats.proto_errors++;
	if (so->server && a->state != A_CONNECTING) {
		/* tell the peer at once */
		struct sctp_sndinfo si = {.snd_flags = SCTP_ABORT, .snd_assoc_id = a->aid};
		if (so->k)
			sctp_kern_abort(so->k, (uint32_t)a->aid);
		else
			usrsctp_sendv(so->so, NULL, 0, NULL, 0, &si, sizeof(si), SCTP_SENDV_SNDINFO,
			              0);
	}
	a_set_state(a, A_DEAD);
	for (uint16_t i = 1; i < a->nstreams; i++) {
		scstream_t *st = a->st[i];
		if (!st)
			continue;
		tx_del(st);
		rx_sync(st, 1);
		a->st[i] = NULL;
		st->a = NULL;
		msgstream_fail(&st->m, st->state == S_OPENING && !so->server ? UV_ECONNABORTED
		                                                             : UV_ECONNRESET);
		sbufq_clear(&st->m.wq);
		st->m.s.wq_bytes = 0;
		if (st->owner_closed)
			grave_add(st);
		else
			pend_add(st);
	}
	a->nlive = 0;
	if (a->blocked) {
		a->blocked = 0;
		rt.nblocked--;
	}
	/* unlink from the socket; a client's socket goes with its association */
	for (sctp_association_t **pp = &so->assocs; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			so->nassocs--;
			break;
		}
	if (!so->server) {
		sock_unlink(so);
		a->own_sock = 1;
	}
	a->next = rt.dead;
	rt.dead = a;
	a->in_dead = 1;
	rt_wake();
	if (!a->down_called) {
		a->down_called = 1;
		if (so->ops->down)
			so->ops->down(a, so->ud, err, why);
	}
}

static void a_free(sctp_association_t *a)
{
	if (a->own_sock) {
		struct linger lg = {1, 0}; /* close = ABORT */
		if (a->sock->k) {
			sctp_kern_close(a->sock->k, 1);
		} else {
			usrsctp_setsockopt(a->sock->so, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			usrsctp_close(a->sock->so);
		}
		free(a->sock);
	}
	if (a->timer)
		uv_close((uv_handle_t *)a->timer, free_timer);
	sbuf_free(a->ctl);
	free(a->part);
	free(a->st);
	free(a->gen);
	free(a);
}

static sctp_association_t *a_find(sctp_sock_t *so, sctp_assoc_t aid)
{
	if (!so->server)
		return so->assocs;
	for (sctp_association_t *a = so->assocs; a; a = a->next)
		if (a->aid == aid)
			return a;
	return NULL;
}

static void peer_of(sctp_sock_t *so, sctp_association_t *a)
{
	struct sockaddr *addrs = NULL;
	int n;

	if (so->k) {
		if (sctp_kern_peer(so->k, (uint32_t)a->aid, &a->peer) == 0)
			sockaddr_str((struct sockaddr *)&a->peer, a->peer_str, sizeof(a->peer_str));
		return;
	}
	n = usrsctp_getpaddrs(so->so, a->aid, &addrs);
	if (n > 0 && addrs) {
		memcpy(&a->peer, addrs,
		       addrs->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                    : sizeof(struct sockaddr_in));
		sockaddr_str((struct sockaddr *)&a->peer, a->peer_str, sizeof(a->peer_str));
	}
	if (addrs)
		usrsctp_freepaddrs(addrs);
}

/* An association change (SCTPK_*) from either transport. */
static void on_change(sctp_sock_t *so, sctp_assoc_t aid, int what, uint16_t out, uint16_t in)
{
	sctp_association_t *a = a_find(so, aid);
	const sctp_assoc_cfg_t *cfg = so->cfg;

	switch (what) {
	case SCTPK_UP:
		if (so->server) {
			if (a) /* should not happen; start over */
				a_fail(a, UV_ECONNRESET, "restarted");
			a = a_new(so, aid);
			peer_of(so, a);
			a_setup_streams(a, out, in);
			a->state = A_AUTH;
			log_debug(a->id, "%s: sctp association from %s", cfg->name, a->peer_str);
			if (cfg->clients &&
			    !acl_permits(cfg->clients, (struct sockaddr *)&a->peer)) {
				a_fail(a, UV_EACCES, "client not allowed");
				return;
			}
			if (authguard_banned((struct sockaddr *)&a->peer, mono_ms())) {
				a_fail(a, UV_EACCES, "banned (auth-guard: too many wrong keys)");
				return;
			}
			if (cfg->max_assocs && so->nassocs > cfg->max_assocs) {
				a_fail(a, UV_EBUSY, "too many associations (max-assocs)");
				return;
			}
			if (cfg->auth_timeout_ms) {
				a->timer = malloc(sizeof(*a->timer));
				if (!a->timer)
					abort();
				uv_timer_init(rt.loop, a->timer);
				a->timer->data = a;
				uv_timer_start(a->timer, on_auth_timeout, cfg->auth_timeout_ms, 0);
			}
		} else if (a && a->state == A_CONNECTING) {
			sctp_proto_auth_t au = {.ts_ms = wall_ms(), .window = cfg->window};
			uint8_t msg[SCTP_PROTO_AUTH_LEN];
			a->aid = aid;
			a_setup_streams(a, out, in);
			random_bytes(a->cn, SCTP_PROTO_NONCE);
			memcpy(au.nonce, a->cn, SCTP_PROTO_NONCE);
			sctp_proto_auth_build(cfg->keys, &au, msg);
			a->ctl = sbuf_from(msg, sizeof(msg));
			a_set_state(a, A_AUTH);
			a_dirty(a);
		}
		break;
	case SCTPK_RESTART:
		if (a)
			a_fail(a, UV_ECONNRESET, "peer restarted");
		break;
	case SCTPK_LOST:
		if (a)
			a_fail(a, UV_ECONNRESET, "peer lost (no answer to heartbeats or data)");
		break;
	case SCTPK_SHUTDOWN:
		if (a)
			a_fail(a, UV_ECONNRESET, "shut down by the peer");
		break;
	case SCTPK_CANT_START:
		if (a)
			a_fail(a, UV_ECONNREFUSED, "cannot reach the server");
		break;
	default:
		break;
	}
}

/* usrsctp's association change, in the terms both transports share */
static void on_assoc_change(sctp_sock_t *so, const struct sctp_assoc_change *c)
{
	static const struct {
		uint16_t state;
		int what;
	} map[] = {{SCTP_COMM_UP, SCTPK_UP},
	           {SCTP_COMM_LOST, SCTPK_LOST},
	           {SCTP_RESTART, SCTPK_RESTART},
	           {SCTP_SHUTDOWN_COMP, SCTPK_SHUTDOWN},
	           {SCTP_CANT_STR_ASSOC, SCTPK_CANT_START}};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (c->sac_state == map[i].state)
			on_change(so, c->sac_assoc_id, map[i].what, c->sac_outbound_streams,
			          c->sac_inbound_streams);
}

/* A client's one-to-one socket ended. */
static void sock_eof(sctp_sock_t *so, int err)
{
	if (!so->server && so->assocs)
		a_fail(so->assocs, err == UV_ECONNREFUSED ? err : UV_ECONNRESET,
		       err ? uv_strerror(err) : "connection closed");
}

static sctp_sock_t *sock_find(uint64_t id)
{
	for (sctp_sock_t *s = rt.socks; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void dispatch(ev_t *e)
{
	sctp_sock_t *so = sock_find(e->sock);
	sctp_association_t *a;

	if (!so)
		return;
	if (e->kind == EV_EOF) {
		sock_eof(so, 0);
		return;
	}
	if (e->flags & MSG_NOTIFICATION) {
		const union sctp_notification *n = e->data;
		if (e->len >= sizeof(n->sn_header) && n->sn_header.sn_type == SCTP_ASSOC_CHANGE &&
		    e->len >= sizeof(struct sctp_assoc_change))
			on_assoc_change(so, &n->sn_assoc_change);
		return;
	}
	a = a_find(so, e->aid);
	if (!a || a->state == A_DEAD)
		return;
	on_msg(a, e->sid, e->ppid, e->flags, e->data, e->len);
}

/* ---- delivering to owners ---- */

static void deliver(scstream_t *st)
{
	stream_t *s = &st->m.s;

	if (st->cb) { /* client: the open is answered */
		dial_cb cb = st->cb;
		void *ud = st->ud;
		if (st->m.err) {
			int err = st->m.err;
			s->closed = 1;
			st_close(s); /* sends CLOSE if the association is still there */
			cb(ud, NULL, err);
			return;
		}
		if (st->state != S_OPEN)
			return;
		st->cb = NULL;
		cb(ud, s, 0);
		if (st->owner_closed)
			return;
	}
	if (st->owner_closed || !s->cbs)
		return;
	msgstream_deliver(&st->m);
	rx_sync(st, 0);
	if (!st->owner_closed && !st->m.err)
		st_grant(st);
}

/* The socket takes data again: its associations may send. */
static void sock_unblock(sctp_sock_t *s)
{
	for (sctp_association_t *a = s->assocs; a; a = a->next)
		if (a->blocked) {
			a->blocked = 0;
			rt.nblocked--;
			a_dirty(a);
		}
}

static void rt_run(uv_async_t *h)
{
	ev_t *e;
	int space, rounds = 0;

	pthread_mutex_lock(&rt.mu);
	e = rt.head;
	rt.head = rt.tail = NULL;
	space = rt.send_space;
	rt.send_space = 0;
	pthread_mutex_unlock(&rt.mu);
	while (e) {
		ev_t *next = e->next;
		dispatch(e);
		free(e->data);
		free(e);
		e = next;
	}
	if (space && rt.nblocked)
		for (sctp_sock_t *s = rt.socks; s; s = s->next)
			sock_unblock(s);
	while ((rt.dirty || !queue_empty(&rt.pend)) && rounds++ < 64) {
		sctp_association_t *list = rt.dirty;
		rt.dirty = NULL;
		while (list) {
			sctp_association_t *a = list;
			list = a->dirty_next;
			a->dirty = 0;
			a_pump(a);
		}
		while (!queue_empty(&rt.pend)) {
			scstream_t *st = queue_data(queue_first(&rt.pend), scstream_t, pend_link);
			pend_del(st);
			deliver(st);
		}
	}
	if (rt.dirty || !queue_empty(&rt.pend))
		rt_wake();
	while (rt.grave) {
		scstream_t *st = rt.grave;
		rt.grave = st->grave_next;
		pend_del(st);
		if (st->a) { /* its CLOSE still has to go out */
			st->in_grave = 0;
			continue;
		}
		st_free(st);
	}
	while (rt.dead) {
		sctp_association_t *a = rt.dead;
		rt.dead = a->next;
		if (a->dirty) { /* unlink from the dirty list */
			for (sctp_association_t **pp = &rt.dirty; *pp; pp = &(*pp)->dirty_next)
				if (*pp == a) {
					*pp = a->dirty_next;
					break;
				}
		}
		a_free(a);
	}
}

static void on_retry(uv_timer_t *t)
{
	if (!rt.nblocked)
		return;
	for (sctp_sock_t *s = rt.socks; s; s = s->next)
		sock_unblock(s);
}

/* ---- the kernel's sockets: their callbacks run on the loop ---- */

static void k_msg(void *ud, uint32_t aid, uint16_t sid, uint32_t ppid, int eor, uint8_t *data,
                  size_t len)
{
	sctp_sock_t *so = ud;
	sctp_association_t *a = a_find(so, (sctp_assoc_t)aid);

	if (a && a->state != A_DEAD)
		on_msg(a, sid, ppid, eor ? MSG_EOR : 0, data, len);
}

static void k_change(void *ud, uint32_t aid, int what, uint16_t out, uint16_t in)
{
	on_change(ud, (sctp_assoc_t)aid, what, out, in);
}

static void k_eof(void *ud, int err)
{
	sock_eof(ud, err < 0 ? uv_translate_sys_error(-err) : 0);
}

static void k_writable(void *ud)
{
	sock_unblock(ud);
}

static void k_done(void *ud)
{
	(void)ud;
	rt_run(&rt.async); /* pump, deliver and free now, not a loop turn later */
}

static const sctp_kern_ops_t kern_ops = {k_msg, k_change, k_eof, k_writable, k_done};

/* ---- set-up ---- */

/* usrsctp_init(0) opens no UDP socket at all: a client takes a port the
 * kernel picks for a moment (free in IPv4 and IPv6, as usrsctp binds both). */
static int ephemeral_udp_port(void)
{
	for (int tries = 0; tries < 20; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
		socklen_t len = sizeof(a);
		int fd = socket(AF_INET, SOCK_DGRAM, 0), fd6, ok;
		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
			close(fd);
			return -errno;
		}
		fd6 = socket(AF_INET6, SOCK_DGRAM, 0);
		a6.sin6_port = a.sin_port;
		if (fd6 >= 0)
			setsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int));
		ok = fd6 < 0 || bind(fd6, (struct sockaddr *)&a6, sizeof(a6)) == 0;
		if (fd6 >= 0)
			close(fd6);
		close(fd);
		if (ok)
			return ntohs(a.sin_port);
	}
	return -EADDRINUSE;
}

int sctp_rt_init(uv_loop_t *loop, int stack, uint16_t udp_port, char *err, size_t errlen)
{
	int p;

	if (rt.loop && loop != rt.loop) {
		snprintf(err, errlen, "SCTP runs on one loop per process");
		return -EINVAL;
	}
	if (!rt.loop) {
		rt.loop = loop;
		uv_async_init(loop, &rt.async, rt_run);
		uv_unref((uv_handle_t *)&rt.async);
		uv_timer_init(loop, &rt.retry);
		uv_unref((uv_handle_t *)&rt.retry);
		rt.retry.data = NULL;
	}
	if (stack == SCTP_STACK_KERNEL)
		return 0;
	if (rt.inited) {
		if (udp_port && udp_port != rt.port) {
			snprintf(err, errlen,
			         "usrsctp already runs on UDP port %u in this process (one "
			         "sctp+udp port per process)",
			         rt.port);
			return -EADDRINUSE;
		}
		return 0;
	}
	if (!udp_port) {
		if ((p = ephemeral_udp_port()) < 0) {
			snprintf(err, errlen, "no free UDP port for SCTP over UDP: %s",
			         strerror(-p));
			return p;
		}
		udp_port = (uint16_t)p;
	}
	rt.inited = 1;
	rt.port = udp_port;
	usrsctp_init(udp_port, NULL, NULL);
	usrsctp_sysctl_set_sctp_blackhole(2); /* other processes' raw SCTP is not ours to abort */
	usrsctp_sysctl_set_sctp_ecn_enable(0);
	usrsctp_sysctl_set_sctp_pr_enable(1); /* PR-SCTP for datagrams (RFC 3758) */
	usrsctp_sysctl_set_sctp_rto_initial_default(500);
	usrsctp_sysctl_set_sctp_rto_min_default(100);
	usrsctp_sysctl_set_sctp_rto_max_default(1000);
	usrsctp_sysctl_set_sctp_init_rto_max_default(1000);
	usrsctp_sysctl_set_sctp_heartbeat_interval_default(1000);
	usrsctp_sysctl_set_sctp_init_rtx_max_default(4);
	usrsctp_sysctl_set_sctp_assoc_rtx_max_default(4);
	usrsctp_sysctl_set_sctp_path_rtx_max_default(4);
	return 0;
}

void sctp_rt_stop(void)
{
	ev_t *e;

	if (!rt.loop)
		return;
	pthread_mutex_lock(&rt.mu);
	rt.stopped = 1;
	e = rt.head;
	rt.head = rt.tail = NULL;
	pthread_mutex_unlock(&rt.mu);
	while (e) {
		ev_t *next = e->next;
		free(e->data);
		free(e);
		e = next;
	}
	if (!uv_is_closing((uv_handle_t *)&rt.async))
		uv_close((uv_handle_t *)&rt.async, NULL);
	if (!uv_is_closing((uv_handle_t *)&rt.retry))
		uv_close((uv_handle_t *)&rt.retry, NULL);
}

uint16_t sctp_rt_udp_port(void)
{
	return rt.port;
}

static int sock_setup(sctp_sock_t *s, const struct sockaddr *peer)
{
	struct socket *so = s->so;
	const sctp_assoc_cfg_t *cfg = s->cfg;
	struct sctp_initmsg im = {.sinit_num_ostreams = SCTP_ASSOC_STREAMS,
	                          .sinit_max_instreams = SCTP_ASSOC_STREAMS,
	                          .sinit_max_attempts = 4,
	                          .sinit_max_init_timeo = 1000};
	struct sctp_paddrparams pp = {0};
	struct sctp_assocparams ap = {0};
	struct sctp_rtoinfo ri = {.srto_initial = 500, .srto_min = 100, .srto_max = 1000};
	uint16_t types[] = {SCTP_ASSOC_CHANGE};
	int one = 1, buf = (int)cfg->sndbuf;

	usrsctp_set_non_blocking(so, 1);
	if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof(im)) < 0)
		return -errno;
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_NODELAY, &one, sizeof(one));
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &one, sizeof(one));
	usrsctp_setsockopt(so, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	usrsctp_setsockopt(so, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct sctp_event ev = {
		    .se_assoc_id = SCTP_FUTURE_ASSOC, .se_type = types[i], .se_on = 1};
		if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev)) < 0)
			return -errno;
	}
	/* dead peer found in seconds: heartbeats every hb_ms, a few retries,
	 * retransmission timeouts capped at 1 s */
	pp.spp_assoc_id = SCTP_FUTURE_ASSOC;
	pp.spp_hbinterval = cfg->hb_ms;
	pp.spp_pathmaxrxt = cfg->max_rtx;
	pp.spp_flags = SPP_HB_ENABLE;
	if (cfg->mtu) {
		pp.spp_pathmtu = cfg->mtu;
		pp.spp_flags |= SPP_PMTUD_DISABLE;
	}
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp));
	ap.sasoc_assoc_id = SCTP_FUTURE_ASSOC;
	ap.sasoc_asocmaxrxt = cfg->max_rtx;
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_ASSOCINFO, &ap, sizeof(ap));
	ri.srto_assoc_id = SCTP_FUTURE_ASSOC;
	usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_RTOINFO, &ri, sizeof(ri));
	if (s->stack == SCTP_STACK_UDP && peer) {
		struct sctp_udpencaps ue = {0};
		ue.sue_port = htons(peer->sa_family == AF_INET6
		                        ? ntohs(((const struct sockaddr_in6 *)peer)->sin6_port)
		                        : ntohs(((const struct sockaddr_in *)peer)->sin_port));
		if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_REMOTE_UDP_ENCAPS_PORT, &ue,
		                       sizeof(ue)) < 0)
			return -errno;
	}
	return 0;
}

static void sock_unlink(sctp_sock_t *s)
{
	for (sctp_sock_t **pp = &rt.socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
}

/* usrsctp's socket for s: bound and listening, or connecting to addr. */
static int usr_open(sctp_sock_t *s, const struct sockaddr *addr)
{
	socklen_t len =
	    addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int r;

	s->so =
	    usrsctp_socket(addr->sa_family, s->server ? SOCK_SEQPACKET : SOCK_STREAM, IPPROTO_SCTP,
	                   on_recv_cb, on_send_cb, s->cfg->sndbuf / 4, (void *)(uintptr_t)s->id);
	if (!s->so)
		return errno ? -errno : -ENOMEM;
	if ((r = sock_setup(s, s->server ? NULL : addr)) < 0)
		goto fail;
	if (s->server ? usrsctp_bind(s->so, (struct sockaddr *)addr, len) < 0 ||
	                    usrsctp_listen(s->so, 1) < 0
	              : usrsctp_connect(s->so, (struct sockaddr *)addr, len) < 0 &&
	                    errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	usrsctp_close(s->so);
	s->so = NULL;
	return r;
}

/* A socket of the chosen stack, listening on addr (server) or connecting
 * to it (client). */
static int sock_open(int server, const struct sockaddr *addr, int stack,
                     const sctp_assoc_cfg_t *cfg, const sctp_assoc_ops_t *ops, void *ud,
                     sctp_sock_t **out)
{
	sctp_sock_t *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		abort();
	s->id = ++rt.next_sock;
	s->server = server;
	s->stack = stack;
	s->cfg = cfg;
	s->ops = ops;
	s->ud = ud;
	if (stack == SCTP_STACK_KERNEL) {
		sctp_kern_params_t kp = {SCTP_ASSOC_STREAMS, cfg->hb_ms, cfg->max_rtx, cfg->sndbuf,
		                         cfg->mtu};
		r = server ? sctp_kern_listen(rt.loop, addr, &kp, &kern_ops, s, &s->k)
		           : sctp_kern_connect(rt.loop, addr, &kp, &kern_ops, s, &s->k);
	} else {
		r = usr_open(s, addr);
	}
	if (r < 0) {
		free(s);
		return r;
	}
	s->next = rt.socks;
	rt.socks = s;
	*out = s;
	return 0;
}

int sctp_sock_listen(const struct sockaddr *bind, int stack, const sctp_assoc_cfg_t *cfg,
                     const sctp_assoc_ops_t *ops, void *ud, sctp_sock_t **out)
{
	return sock_open(1, bind, stack, cfg, ops, ud, out);
}

void sctp_sock_close(sctp_sock_t *s)
{
	if (!s)
		return;
	/* no callbacks: the owner is going away */
	static const sctp_assoc_ops_t none = {0};
	s->ops = &none;
	while (s->assocs)
		a_fail(s->assocs, UV_ECONNRESET, "closed");
	sock_unlink(s);
	if (s->k)
		sctp_kern_close(s->k, 0);
	else
		usrsctp_close(s->so);
	free(s);
}

int sctp_assoc_connect(const struct sockaddr *to, int stack, const sctp_assoc_cfg_t *cfg,
                       const sctp_assoc_ops_t *ops, void *ud, sctp_association_t **out)
{
	sctp_sock_t *s;
	sctp_association_t *a;
	int r;

	if ((r = sock_open(0, to, stack, cfg, ops, ud, &s)) < 0)
		return r;
	a = a_new(s, 0);
	memcpy(&a->peer, to,
	       to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                 : sizeof(struct sockaddr_in));
	sockaddr_str(to, a->peer_str, sizeof(a->peer_str));
	a->state = A_CONNECTING;
	*out = a;
	return 0;
}

void sctp_assoc_close(sctp_association_t *a, const char *why)
{
	a->down_called = 1; /* no callback */
	a_fail(a, UV_ECONNRESET, why);
}

int sctp_assoc_is_up(const sctp_association_t *a)
{
	return a && a->state == A_UP;
}
void sctp_assoc_bytes(const sctp_association_t *a, uint64_t *in, uint64_t *out)
{
	*in = a ? a->bytes_in : 0;
	*out = a ? a->bytes_out : 0;
}
const char *sctp_assoc_peer(const sctp_association_t *a)
{
	return a->peer_str;
}
const struct sockaddr *sctp_assoc_peer_addr(const sctp_association_t *a)
{
	return (const struct sockaddr *)&a->peer;
}
size_t sctp_assoc_nstreams(const sctp_association_t *a)
{
	return a->nlive;
}
const sctp_sock_stats_t *sctp_sock_stats(const sctp_sock_t *s)
{
	return &s->stats;
}
const sctp_sock_stats_t *sctp_assoc_stats(const sctp_association_t *a)
{
	return &a->sock->stats;
}

static int open_common(sctp_association_t *a, const target_t *t, uint64_t id, dial_cb cb, void *ud,
                       stream_t **req)
{
	scstream_t *st;
	uint16_t sid = 0;

	if (a->state != A_UP || a->nstreams < 2)
		return -EAGAIN;
	for (uint16_t i = 0; i < a->nstreams - 1; i++) {
		uint16_t c = (uint16_t)(1 + (a->next_sid - 1 + i) % (a->nstreams - 1));
		if (!a->st[c]) {
			sid = c;
			break;
		}
	}
	if (!sid)
		return -EAGAIN;
	a->next_sid = (uint16_t)(sid % (a->nstreams - 1) + 1);
	st = st_new(a, sid, id);
	st->state = S_OPENING;
	if (t)
		st->target = *t;
	else
		st_make_dgram(st);
	st->cb = cb;
	st->ud = ud;
	st->open_want = 1;
	tx_add(st);
	*req = &st->m.s;
	log_debug(id, "sctp stream %u: open%s", sid, t ? "" : " (datagrams)");
	return 0;
}

int sctp_assoc_open(sctp_association_t *a, const target_t *t, uint64_t id, dial_cb cb, void *ud,
                    stream_t **req)
{
	return open_common(a, t, id, cb, ud, req);
}

int sctp_assoc_open_dgram(sctp_association_t *a, uint64_t id, dial_cb cb, void *ud, stream_t **req)
{
	return open_common(a, NULL, id, cb, ud, req);
}

void sctp_dgram_set(stream_t *s, sctp_dgram_fn fn, void *ud)
{
	scstream_t *st = (scstream_t *)s;

	if (st->dg) {
		st->dg->fn = fn;
		st->dg->ud = ud;
	}
}

int sctp_dgram_send(stream_t *s, const target_t *addr, sbuf_t *b)
{
	static uint8_t out[SCTP_PROTO_DGRAM_MAX];
	scstream_t *st = (scstream_t *)s;
	sctp_association_t *a = st->a;
	size_t len;
	int n, r;

	if (!a || !st->dg || st->state != S_OPEN || a->state != A_UP || st->close_want ||
	    st->close_sent || st->m.err) {
		sbuf_free(b);
		return UV_ENOTCONN;
	}
	if (a->blocked) { /* no room: a datagram is dropped, never queued */
		sbuf_free(b);
		return UV_ENOBUFS;
	}
	len = b->len;
	n = sctp_proto_dgram_seal(&st->dg->tx, st->dg->tx_ctr++, addr, sbuf_ptr(b), b->len, out,
	                          sizeof(out));
	sbuf_free(b);
	if (n < 0)
		return UV_EMSGSIZE;
	r = a_send_dgram(a, st->sid, out, (size_t)n);
	if (r == -EAGAIN)
		return UV_ENOBUFS;
	if (r < 0)
		return UV_EPIPE;
	sctp_stats.dgrams_out++;
	a->bytes_out += len;
	return 0;
}

void sctp_open_cancel(stream_t *req)
{
	stream_close(req);
}

void sctp_stream_answer(stream_t *s, int err)
{
	scstream_t *st = (scstream_t *)s;

	if (!st->a || st->state != S_OPENING)
		return;
	if (err < 0) {
		char text[SCTP_PROTO_FAIL_TEXT + 1];
		int n;
		snprintf(text, sizeof(text), "%s", uv_strerror(err));
		n = sctp_proto_fail_encode(socks5_rep_from_err(err), text, st->fail_body,
		                           sizeof(st->fail_body));
		st->fail_len = n > 0 ? (size_t)n : 0;
		st->fail_want = 1;
	} else {
		st->state = S_OPEN;
		st->ok_want = 1;
	}
	tx_add(st);
}
