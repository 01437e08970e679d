/* conn: see conn.h.
 *
 * Ownership: the listener's list holds every live conn.  Until conn_relay()
 * the front end drives the client stream; from then on the relay owns both
 * streams and conn only waits for its done callback.  Every path out goes
 * through conn_free(), once.
 */
#include "core/conn.h"

#include <stdlib.h>
#include <string.h>

#include "core/authguard.h"
#include "core/log.h"

uint64_t conn_live;
static uint64_t last_id;

/* Live conns by id, for the fields of their log lines (log.h). */
#define CONN_BUCKETS 4096
static conn_t *by_id[CONN_BUCKETS];

static int conn_log_fields(uint64_t id, log_fields_t *f)
{
	static char target[300];
	conn_t *c = by_id[id % CONN_BUCKETS];

	while (c && c->id != id)
		c = c->hnext;
	if (!c)
		return 0;
	f->listener = c->l->name;
	f->peer = c->peer_str;
	f->peer_addr = (const struct sockaddr *)&c->peer;
	f->target = NULL;
	if (c->target.host[0]) {
		target_str(&c->target, target, sizeof(target));
		f->target = target;
	}
	return 1;
}

static void by_id_remove(conn_t *c)
{
	conn_t **pp = &by_id[c->id % CONN_BUCKETS];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
}

static const char *const state_names[] = {"handshake", "dialing", "relay", "closed"};

uint64_t conn_next_id(void)
{
	return ++last_id;
}

const char *conn_state_name(conn_state_t s)
{
	return state_names[s];
}

void conn_set_state(conn_t *c, conn_state_t s)
{
	log_trace(c->id, "%s -> %s", state_names[c->state], state_names[s]);
	c->state = s;
}

static void on_handshake_timeout(uv_timer_t *t)
{
	conn_t *c = t->data;

	conn_close(c, "handshake timeout");
}

conn_t *conn_new(listener_t *l, stream_t *client, const struct sockaddr *peer)
{
	conn_t *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->id = client->id;
	c->l = l;
	c->client = client;
	memcpy(&c->peer, peer,
	       peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                   : sizeof(struct sockaddr_in));
	sockaddr_str(peer, c->peer_str, sizeof(c->peer_str));
	c->t_start = uv_now(l->loop);
	c->timer = malloc(sizeof(*c->timer));
	if (!c->timer)
		abort();
	uv_timer_init(l->loop, c->timer);
	c->timer->data = c;
	if (l->handshake_timeout_ms)
		uv_timer_start(c->timer, on_handshake_timeout, l->handshake_timeout_ms, 0);
	queue_insert_head(&l->conns, &c->link);
	log_set_fields(conn_log_fields); /* core/log.h cannot name conn.c */
	c->hnext = by_id[c->id % CONN_BUCKETS];
	by_id[c->id % CONN_BUCKETS] = c;
	l->m->active++;
	l->m->total++;
	conn_live++;
	log_debug(c->id, "%s: accepted %s", l->name, c->peer_str);
	return c;
}

void conn_handshake_done(conn_t *c)
{
	uv_timer_stop(c->timer);
}

void conn_set_deadline(conn_t *c, uint64_t ms)
{
	uv_timer_stop(c->timer);
	if (ms)
		uv_timer_start(c->timer, on_handshake_timeout, ms, 0);
}

static void conn_free(conn_t *c)
{
	listener_t *l = c->l;

	conn_set_state(c, CONN_CLOSED);
	queue_remove(&c->link);
	by_id_remove(c);
	l->m->active--;
	conn_live--;
	dgram_close(c->flow); /* before the front end's state goes */
	if (c->front_free)
		c->front_free(c->front);
	listener_chain_drop(c->rt); /* after everything that may use its chains */
	sbuf_free(c->held);
	uv_close((uv_handle_t *)c->timer, (uv_close_cb)free);
	free(c);
}

void conn_close(conn_t *c, const char *reason)
{
	if (c->state == CONN_CLOSED)
		return;
	if (c->relay) {
		relay_close(c->relay, reason); /* its callback frees c */
		return;
	}
	if (c->flow)
		log_info(c->id,
		         "closed (%s) after %.1f s: %llu datagrams up, %llu down, %llu dropped",
		         reason, (double)(uv_now(c->l->loop) - c->t_start) / 1000.0,
		         (unsigned long long)c->flow->sent, (unsigned long long)c->flow->recvd,
		         (unsigned long long)dgram_dropped(c->flow));
	else if (c->t_dial) /* it had an opening line: it gets a closing one */
		log_info(c->id, "closed (%s) after %.1f s: %llu bytes up, %llu down", reason,
		         (double)(uv_now(c->l->loop) - c->t_start) / 1000.0,
		         (unsigned long long)c->bytes_up, (unsigned long long)c->bytes_down);
	else
		log_debug(c->id, "closed: %s", reason);
	if (c->dial)
		dial_cancel(c->dial);
	c->dial = NULL;
	stream_reset(c->up);
	stream_close(c->client);
	conn_free(c);
}

/* ---- dial ---- */

dialer_t *conn_chain(conn_t *c)
{
	dialer_t *d;

	if (c->chain)
		return c->chain;
	d = listener_chain_take(c->l, &c->rt);
	c->chain = d;
	return d;
}

static void on_acl_refused(uv_timer_t *t)
{
	conn_t *c = t->data;

	c->l->m->failed++;
	c->dial_done(c, UV_EACCES);
}

static void on_dialed(void *ud, stream_t *s, int err)
{
	conn_t *c = ud;
	listener_t *l = c->l;
	char t[300];

	c->dial = NULL;
	metrics_observe_dial(l->m, (double)(uv_now(l->loop) - c->t_dial) / 1000.0);
	target_str(&c->target, t, sizeof(t));
	if (err < 0) {
		char msg[600];

		l->m->failed++;
		conn_fail_text(c, err, msg, sizeof(msg));
		log_info(c->id, "%s: %s", c->peer_str, msg);
		c->dial_done(c, err);
		return;
	}
	log_debug(c->id, "%s -> %s: connected in %llu ms", c->peer_str, t,
	          (unsigned long long)(uv_now(l->loop) - c->t_dial));
	s->id = c->id;
	c->up = s;
	c->dial_done(c, 0);
}

void conn_dial(conn_t *c, const target_t *t, void (*done)(conn_t *c, int err))
{
	listener_t *l = c->l;
	struct sockaddr_storage ss;
	dial_opts_t o = {
	    .id = c->id,
	    .acl = &l->targets,
	    .peer = (struct sockaddr *)&c->peer,
	    .cred = c->cred,
	    .why = c->why,
	    .whylen = sizeof(c->why),
	    .fail = &c->fail,
	};
	char ts[300];

	c->target = *t;
	c->dial_done = done;
	c->t_dial = uv_now(l->loop);
	conn_set_state(c, CONN_DIALING);
	uv_timer_stop(c->timer);
	target_str(t, ts, sizeof(ts));
	log_info(c->id, "%s -> %s", c->peer_str, ts);
	/* Names are resolved by the last hop; the direct dialer checks what
	 * they resolve to.  Literals are checked here whatever the chain. */
	if (target_is_ip(t, &ss) && !acl_permits(&l->targets, (struct sockaddr *)&ss)) {
		log_info(c->id, "target %s refused by ACL", ts);
		uv_timer_start(c->timer, on_acl_refused, 0, 0);
		return;
	}
	c->why[0] = 0;
	c->fail = (stream_fail_t){0};
	c->dial = dial_start(conn_chain(c), t, &o, l->connect_timeout_ms, on_dialed, c);
}

void conn_fail_text(const conn_t *c, int err, char *buf, size_t len)
{
	dial_fail_text(&c->target, err, &c->fail, c->why, buf, len);
}

void conn_late_fail(conn_t *c, int err, const stream_fail_t *f)
{
	char msg[600];

	if (f)
		c->fail = *f;
	c->l->m->failed++;
	c->l->m->failed_late++;
	conn_fail_text(c, err, msg, sizeof(msg));
	log_info(c->id, "%s: %s (after fast-open)", c->peer_str, msg);
}

/* ---- datagrams ---- */

static void on_dgram_idle(uv_timer_t *t)
{
	conn_t *c = t->data;

	if (uv_now(c->l->loop) - c->t_active >= c->l->idle_timeout_ms)
		conn_close(c, "idle");
}

dgram_t *conn_dgram(conn_t *c, const dgram_cbs_t *cbs, void *data)
{
	listener_t *l = c->l;
	dial_opts_t o = {.id = c->id, .acl = &l->targets, .peer = (struct sockaddr *)&c->peer};
	uint64_t period = l->idle_timeout_ms / 4;

	conn_set_state(c, CONN_RELAY);
	conn_dgram_touch(c);
	uv_timer_stop(c->timer);
	if (l->idle_timeout_ms)
		uv_timer_start(c->timer, on_dgram_idle, period < 1000 ? 1000 : period,
		               period < 1000 ? 1000 : period);
	c->flow = dgram_open(conn_chain(c), &o, l->connect_timeout_ms, cbs, data);
	return c->flow;
}

int conn_dgram_refused(conn_t *c, const char *what)
{
	const dialer_t *b = chain_dgram_blocker(conn_chain(c));
	char hop[300];

	if (!b) {
		log_info(c->id, "%s: UDP association", c->peer_str);
		return 0;
	}
	dialer_name(b, hop, sizeof(hop));
	log_info(c->id, "%s: UDP from %s refused: the hop %s cannot carry UDP", what, c->peer_str,
	         hop);
	return 1;
}

void conn_dgram_end(conn_t *c)
{
	dgram_t *f = c->flow;

	if (!f)
		return;
	log_info(c->id, "datagram association over: %llu up, %llu down, %llu dropped",
	         (unsigned long long)f->sent, (unsigned long long)f->recvd,
	         (unsigned long long)dgram_dropped(f));
	c->flow = NULL;
	dgram_close(f);
	uv_timer_stop(c->timer);
	conn_set_state(c, CONN_HANDSHAKE);
}

/* ---- relay ---- */

static void on_relay_done(void *ud, const char *reason, uint64_t ab, uint64_t ba)
{
	conn_t *c = ud;
	stream_fail_t f;
	int err = c->relay ? relay_b_error(c->relay, &f) : 0;

	/* a tunnel's open that failed after the client was told it worked */
	if (err < 0 && f.hop && !ba) {
		conn_late_fail(c, err, &f);
		reason = "target failed";
	}
	log_info(c->id, "closed (%s) after %.1f s: %llu bytes up, %llu down", reason,
	         (double)(uv_now(c->l->loop) - c->t_start) / 1000.0,
	         (unsigned long long)(ab + c->bytes_up), (unsigned long long)(ba + c->bytes_down));
	c->relay = NULL;
	c->client = c->up = NULL; /* closed by the relay */
	conn_free(c);
}

void conn_relay(conn_t *c)
{
	listener_t *l = c->l;
	relay_opts_t o = {
	    .idle_ms = l->idle_timeout_ms,
	    .ctr_ab = &l->m->bytes_in,
	    .ctr_ba = &l->m->bytes_out,
	};

	uv_timer_stop(c->timer);
	conn_set_state(c, CONN_RELAY);
	c->relay = relay_start(l->loop, c->client, c->up, &o, on_relay_done, c);
}

/* ---- linger ---- */

static void linger_read(stream_t *s, sbuf_t *b)
{
	conn_t *c = s->data;

	sbuf_free(b);
	if (!b)
		conn_close(c, "client closed");
}

static void linger_drain(stream_t *s)
{
	if (s->wq_bytes == 0)
		stream_shutdown(s); /* then wait for the client's FIN, or the timer */
}

static void linger_error(stream_t *s, int err)
{
	conn_close(s->data, "client error");
}

static const stream_cbs_t linger_cbs = {linger_read, linger_drain, linger_error};

static void on_linger_timeout(uv_timer_t *t)
{
	conn_close(t->data, "linger timeout");
}

void conn_linger(conn_t *c, const char *reason)
{
	if (c->state == CONN_CLOSED)
		return;
	log_debug(c->id, "closing after reply: %s", reason);
	if (c->dial)
		dial_cancel(c->dial);
	c->dial = NULL;
	stream_reset(c->up);
	c->up = NULL;
	stream_set_cbs(c->client, &linger_cbs, c);
	if (c->client->wq_bytes == 0)
		stream_shutdown(c->client);
	stream_read_start(c->client);
	uv_timer_stop(c->timer);
	uv_timer_start(c->timer, on_linger_timeout, 2000, 0);
}

/* ---- authentication ---- */

int conn_auth_banned(conn_t *c)
{
	if (!authguard_banned((struct sockaddr *)&c->peer, uv_now(c->l->loop)))
		return 0;
	log_info(c->id, "%s is banned (auth-guard): closed without an answer", c->peer_str);
	return 1;
}

void conn_auth_ok(conn_t *c)
{
	authguard_ok((struct sockaddr *)&c->peer);
}

static void on_held(uv_timer_t *t)
{
	conn_t *c = t->data;
	sbuf_t *b = c->held;

	c->held = NULL;
	if (stream_write(c->client, b) < 0) {
		conn_close(c, "client write error");
		return;
	}
	conn_linger(c, c->held_why);
}

void conn_auth_refuse(conn_t *c, const char *what, const void *reply, size_t n, const char *why)
{
	conn_auth_hold(c, conn_auth_count(c, what), reply, n, why);
}

int64_t conn_auth_count(conn_t *c, const char *what)
{
	return authguard_fail((struct sockaddr *)&c->peer, uv_now(c->l->loop), what, c->id);
}

void conn_auth_hold(conn_t *c, int64_t hold, const void *reply, size_t n, const char *why)
{
	if (hold < 0) {
		conn_close(c, "banned");
		return;
	}
	stream_read_stop(c->client);
	stream_set_cbs(c->client, &linger_cbs, c); /* a reset or error closes it */
	c->held = sbuf_from(reply, n);
	c->held_why = why;
	uv_timer_stop(c->timer);
	uv_timer_start(c->timer, on_held, (uint64_t)hold, 0);
	if (hold)
		log_debug(c->id, "holding the refusal %lld ms (auth-guard)", (long long)hold);
}
