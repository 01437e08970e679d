/* sctp_assoc: see sctp_assoc.h for the model.
 *
 * One association: CONNECTING -> AUTH -> UP -> DEAD (a_set_state).  The
 * AUTH / AUTH_OK exchange on stream 0, the pump that sends its streams'
 * records round robin (sctp_assoc_pump, from the runtime's turn), the
 * reassembly of partly delivered messages and their dispatch to stream 0,
 * a stream or a datagram association, the failure that detaches every
 * stream (sctp_assoc_fail), and the association's API.  The streams are
 * sctp_stream.c; the runtime that calls in here, sctp_rt.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <usrsctp.h>

#include "core/acl.h"
#include "core/authguard.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/msgstream.h"
#include "core/queue.h"
#include "tunnel/sctp/sctp_kern.h"
#include "tunnel/sctp/sctp_priv.h"

#define PUMP_BURST 512 /* records per association per turn */
#define RETRY_MS 5     /* when usrsctp's send buffer was full */

sctp_stats_t sctp_stats;

static const char *const astate_names[] = {"connecting", "auth", "up", "dead"};

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

void sctp_assoc_dirty(sctp_association_t *a)
{
	if (a->dirty || a->state == A_DEAD)
		return;
	a->dirty = 1;
	a->dirty_next = sctp_rt.dirty;
	sctp_rt.dirty = a;
	sctp_rt_wake();
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
int sctp_assoc_send_dgram(sctp_association_t *a, uint16_t sid, const void *p, size_t len)
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

static void a_block(sctp_association_t *a)
{
	if (a->blocked)
		return;
	a->blocked = 1;
	sctp_rt.nblocked++;
	sctp_stats.blocked++;
	if (!uv_is_active((uv_handle_t *)&sctp_rt.retry))
		uv_timer_start(&sctp_rt.retry, sctp_rt_retry, RETRY_MS, 0);
}

void sctp_assoc_pump(sctp_association_t *a)
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
			sctp_assoc_fail(a, UV_ECONNRESET, "send failed");
			return;
		}
	}
	if (a->state != A_UP)
		return;
	while (!queue_empty(&a->tx) && n < PUMP_BURST) {
		scstream_t *st = queue_data(queue_first(&a->tx), scstream_t, tx_link);
		uint8_t type = 0;
		sbuf_t *b;

		sctp_stream_tx_del(st);
		b = sctp_stream_next_record(st, &type);
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
			sctp_assoc_fail(a, UV_ECONNRESET, "send failed");
			return;
		}
		n++;
		if (type == SCTP_PROTO_EOF)
			st->eof_sent = 1;
		if (type == SCTP_PROTO_CLOSE) {
			st->close_sent = 1;
			st->close_want = 0;
			sctp_stream_check_release(st);
			continue;
		}
		sctp_stream_tx_add(st); /* maybe more: round robin */
	}
	if (!queue_empty(&a->tx))
		sctp_assoc_dirty(a);
}

static void on_auth_timeout(uv_timer_t *t);

static void auth_done(sctp_association_t *a)
{
	sctp_sock_t *so = a->sock;

	if (a->timer)
		uv_timer_stop(a->timer);
	a_set_state(a, A_UP);
	sctp_stats.assocs_up++;
	log_info(a->id, "%s: sctp association with %s up (%u streams, %s)", so->cfg->name,
	         a->peer_str, a->nstreams, sctp_stack_names[so->stack]);
	sctp_assoc_dirty(a);
	if (so->ops->up)
		so->ops->up(a, so->ud);
}

/* The replay verdict on the AUTH whose nonce is a->cn.  UNSURE (stamped
 * before this process started) passes: the restart window is judged with
 * the clock in on_ctl_msg, with its own second of tolerance.  DOWN (a
 * shared cache did not answer) is refused: SCTP has no round trip to fall
 * back on. */
static void server_verdict(sctp_association_t *a, int r)
{
	const sctp_assoc_cfg_t *cfg = a->sock->cfg;
	uint8_t ans[SCTP_PROTO_AUTH_OK_LEN];

	if (r != REPLAY_NEW && r != REPLAY_UNSURE) {
		sctp_assoc_fail(a, UV_EACCES,
		                r == REPLAY_SEEN    ? "replayed AUTH"
		                : r == REPLAY_DOWN  ? "replay cache unreachable: AUTH refused"
		                : r == REPLAY_STALE ? "AUTH timestamp outside the window"
		                                    : "replay cache full");
		return;
	}
	authguard_ok((struct sockaddr *)&a->peer);
	random_bytes(a->sn, SCTP_PROTO_NONCE);
	sctp_proto_answer_build(cfg->keys, a->cn, a->sn, cfg->window, ans);
	a->ctl = sbuf_from(ans, sizeof(ans));
	auth_done(a);
}

static void on_replay_verdict(void *ud, int r)
{
	sctp_association_t *a = ud;

	a->rwait = NULL;
	if (a->state == A_AUTH) /* else it failed meanwhile (the auth timeout) */
		server_verdict(a, r);
}

static void on_ctl_msg(sctp_association_t *a, const uint8_t *buf, size_t len)
{
	sctp_sock_t *so = a->sock;
	const sctp_assoc_cfg_t *cfg = so->cfg;
	sctp_proto_auth_t au;
	uint64_t now = wall_ms();
	int r;

	if (a->held || a->rwait) /* refused already, or judged: nothing more is read */
		return;
	if (a->state != A_AUTH) {
		sctp_assoc_fail(a, UV_EPROTO, "unexpected message on stream 0");
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
			sctp_assoc_fail(a, UV_EACCES,
			                r == -EBADMSG ? "AUTH not authentic (wrong key?)"
			                              : "malformed AUTH");
			return;
		}
		if (au.ts_ms + cfg->skew_ms < now || au.ts_ms > now + cfg->skew_ms ||
		    (now < cfg->start_ms + cfg->skew_ms && au.ts_ms + 1000 < cfg->start_ms)) {
			sctp_assoc_fail(a, UV_EACCES, "AUTH timestamp outside the window");
			return;
		}
		memcpy(a->cn, au.nonce, SCTP_PROTO_NONCE);
		a->peer_window = au.window;
		r = replay_store_judge(cfg->replay, au.nonce, au.ts_ms, now, cfg->skew_ms,
		                       on_replay_verdict, a, &a->rwait);
		if (r != REPLAY_PENDING)
			server_verdict(a, r);
		return;
	}
	r = sctp_proto_answer_check(cfg->keys, a->cn, buf, len, a->sn, &a->peer_window);
	if (r < 0) {
		sctp_assoc_fail(a, UV_EACCES, "server's AUTH_OK is not authentic (another key?)");
		return;
	}
	auth_done(a);
}

void sctp_assoc_on_msg(sctp_association_t *a, uint16_t sid, uint32_t ppid, int flags, uint8_t *data,
                       size_t len)
{
	int dg = sid && ppid == SCTP_PROTO_PPID_DGRAM;
	size_t cap = dg ? SCTP_PROTO_DGRAM_MAX : sid ? SCTP_PROTO_REC_MAX : SCTP_PROTO_AUTH_LEN;

	if (a->part || !(flags & MSG_EOR)) {
		/* partial delivery: put the pieces together, bounded */
		if ((a->part && a->part_sid != sid) || a->part_len + len > cap) {
			sctp_assoc_fail(a, UV_EPROTO, "message too long");
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
		sctp_stream_on_dgram(a, sid, data, len);
	else if (len > cap)
		sctp_assoc_fail(a, UV_EPROTO, "record too long");
	else
		sctp_stream_on_msg(a, sid, data, len);
	if (a->part) {
		free(a->part);
		a->part = NULL;
	}
}

/* ---- associations ---- */

static void free_timer(uv_handle_t *h)
{
	free(h);
}

static void on_auth_timeout(uv_timer_t *t)
{
	sctp_association_t *a = t->data;

	if (a->held)
		sctp_assoc_fail(a, UV_EACCES, "AUTH not authentic (wrong key?)");
	else
		sctp_assoc_fail(a, UV_ETIMEDOUT, "no authentication in time");
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
/* An ABORT to the peer, so that it lets go of the association (and what
 * it holds for it: a reverse forward's listeners) at once. */
static void a_abort(sctp_association_t *a)
{
	sctp_sock_t *so = a->sock;
	struct sctp_sndinfo si = {.snd_flags = SCTP_ABORT, .snd_assoc_id = a->aid};

	if (so->k)
		sctp_kern_abort(so->k, (uint32_t)a->aid);
	else
		usrsctp_sendv(so->so, "", 0, NULL, 0, &si, sizeof(si), SCTP_SENDV_SNDINFO, 0);
}

void sctp_assoc_fail(sctp_association_t *a, int err, const char *why)
{
	sctp_sock_t *so = a->sock;

	if (a->state == A_DEAD)
		return;
	log_info(a->id, "%s: sctp association with %s %s: %s", so->cfg->name, a->peer_str,
	         a->state == A_UP ? "lost" : "failed", why);
	if (err == UV_EPROTO)
		sctp_stats.proto_errors++;
	if (so->server && a->state != A_CONNECTING)
		a_abort(a); /* tell the peer at once */
	a_set_state(a, A_DEAD);
	for (uint16_t i = 1; i < a->nstreams; i++) {
		scstream_t *st = a->st[i];
		if (!st)
			continue;
		sctp_stream_tx_del(st);
		sctp_stream_rx_sync(st, 1);
		a->st[i] = NULL;
		st->a = NULL;
		msgstream_fail(&st->m, st->state == S_OPENING && !so->server ? UV_ECONNABORTED
		                                                             : UV_ECONNRESET);
		sbufq_clear(&st->m.wq);
		st->m.s.wq_bytes = 0;
		if (st->owner_closed)
			sctp_stream_grave_add(st);
		else
			sctp_stream_pend_add(st);
	}
	a->nlive = 0;
	if (a->blocked) {
		a->blocked = 0;
		sctp_rt.nblocked--;
	}
	/* unlink from the socket; a client's socket goes with its association */
	for (sctp_association_t **pp = &so->assocs; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			so->nassocs--;
			break;
		}
	if (!so->server) {
		sctp_sock_unlink(so);
		a->own_sock = 1;
	}
	a->next = sctp_rt.dead;
	sctp_rt.dead = a;
	a->in_dead = 1;
	sctp_rt_wake();
	if (!a->down_called) {
		a->down_called = 1;
		if (so->ops->down)
			so->ops->down(a, so->ud, err, why);
	}
}

void sctp_assoc_free(sctp_association_t *a)
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
	replay_wait_cancel(a->rwait);
	sbuf_free(a->ctl);
	free(a->part);
	free(a->st);
	free(a->gen);
	free(a);
}

sctp_association_t *sctp_assoc_find(sctp_sock_t *so, sctp_assoc_t aid)
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
void sctp_assoc_on_change(sctp_sock_t *so, sctp_assoc_t aid, int what, uint16_t out, uint16_t in)
{
	sctp_association_t *a = sctp_assoc_find(so, aid);
	const sctp_assoc_cfg_t *cfg = so->cfg;

	switch (what) {
	case SCTPK_UP:
		if (so->server) {
			if (a) /* should not happen; start over */
				sctp_assoc_fail(a, UV_ECONNRESET, "restarted");
			a = a_new(so, aid);
			peer_of(so, a);
			a_setup_streams(a, out, in);
			a->state = A_AUTH;
			log_debug(a->id, "%s: sctp association from %s", cfg->name, a->peer_str);
			if (cfg->clients &&
			    !acl_permits(cfg->clients, (struct sockaddr *)&a->peer)) {
				sctp_assoc_fail(a, UV_EACCES, "client not allowed");
				return;
			}
			if (authguard_banned((struct sockaddr *)&a->peer, mono_ms())) {
				sctp_assoc_fail(a, UV_EACCES,
				                "banned (auth-guard: too many wrong keys)");
				return;
			}
			if (cfg->max_assocs && so->nassocs > cfg->max_assocs) {
				sctp_assoc_fail(a, UV_EBUSY, "too many associations (max-assocs)");
				return;
			}
			if (cfg->auth_timeout_ms) {
				a->timer = malloc(sizeof(*a->timer));
				if (!a->timer)
					abort();
				uv_timer_init(sctp_rt.loop, a->timer);
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
			sctp_assoc_dirty(a);
		}
		break;
	case SCTPK_RESTART:
		if (a)
			sctp_assoc_fail(a, UV_ECONNRESET, "peer restarted");
		break;
	case SCTPK_LOST:
		if (a)
			sctp_assoc_fail(a, UV_ECONNRESET,
			                "peer lost (no answer to heartbeats or data)");
		break;
	case SCTPK_SHUTDOWN:
		if (a)
			sctp_assoc_fail(a, UV_ECONNRESET, "shut down by the peer");
		break;
	case SCTPK_CANT_START:
		if (a)
			sctp_assoc_fail(a, UV_ECONNREFUSED, "cannot reach the server");
		break;
	default:
		break;
	}
}

/* usrsctp's association change, in the terms both transports share */
void sctp_assoc_on_usrsctp_change(sctp_sock_t *so, const struct sctp_assoc_change *c)
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
			sctp_assoc_on_change(so, c->sac_assoc_id, map[i].what,
			                     c->sac_outbound_streams, c->sac_inbound_streams);
}

/* A client's one-to-one socket ended. */
void sctp_sock_eof(sctp_sock_t *so, int err)
{
	if (!so->server && so->assocs)
		sctp_assoc_fail(so->assocs, err == UV_ECONNREFUSED ? err : UV_ECONNRESET,
		                err ? uv_strerror(err) : "connection closed");
}

int sctp_assoc_connect(const struct sockaddr *to, int stack, const sctp_assoc_cfg_t *cfg,
                       const sctp_assoc_ops_t *ops, void *ud, sctp_association_t **out)
{
	sctp_sock_t *s;
	sctp_association_t *a;
	int r;

	if ((r = sctp_sock_open(0, to, stack, cfg, ops, ud, &s)) < 0)
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
	/* a client's hop that closes (a stop, a reload) tells the server; a
	 * server's association is aborted by sctp_assoc_fail */
	if (!a->sock->server && (a->state == A_AUTH || a->state == A_UP))
		a_abort(a);
	a->down_called = 1; /* no callback */
	sctp_assoc_fail(a, UV_ECONNRESET, why);
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
