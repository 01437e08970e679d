/* sctp_stream: the SCTP streams of an association, each a stream_t (a
 * message stream, core/msgstream.h) carrying one tunneled connection or one
 * datagram association.
 *
 * A stream: OPENING (OPEN sent, or received by the server) -> OPEN
 * (OPEN_OK) -> closed by its owner; its id is free again once both sides
 * have sent CLOSE (sctp_stream_check_release).  Each side sends DATA up to
 * the credit the other granted (CREDIT as the reader consumes).  The
 * stream ops only change flags and queues: sctp_stream_tx_add marks the
 * stream for the association's pump, which takes its next sealed record
 * (sctp_stream_next_record); sctp_stream_pend_add queues its owner's
 * callbacks for the runtime's turn (sctp_stream_deliver).  Records that
 * arrive are checked against the stream's state (on_record).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/dial.h"
#include "core/dgram.h"
#include "core/log.h"
#include "core/msgstream.h"
#include "core/queue.h"
#include "core/rwin.h"
#include "tunnel/sctp/sctp_priv.h"
#include "wire/socks_proto.h"
#include "wire/wire_addr.h"

void sctp_stream_tx_add(scstream_t *st)
{
	sctp_association_t *a = st->a;

	if (!a || queue_linked(&st->tx_link) || st->released)
		return;
	queue_insert_tail(&a->tx, &st->tx_link);
	sctp_assoc_dirty(a);
}

void sctp_stream_tx_del(scstream_t *st)
{
	queue_remove(&st->tx_link);
}

void sctp_stream_pend_add(scstream_t *st)
{
	if (queue_linked(&st->pend_link))
		return;
	queue_insert_tail(&sctp_rt.pend, &st->pend_link);
	sctp_rt_wake();
}

void sctp_stream_pend_del(scstream_t *st)
{
	queue_remove(&st->pend_link);
}

void sctp_stream_grave_add(scstream_t *st)
{
	if (st->in_grave)
		return;
	st->in_grave = 1;
	st->grave_next = sctp_rt.grave;
	sctp_rt.grave = st;
	sctp_rt_wake();
}

/* The association's count of unread bytes follows st's rq, which the
 * owner takes from and msgstream may empty (an error); with leave, st
 * leaves the association and takes its share out. */
void sctp_stream_rx_sync(scstream_t *st, int leave)
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
		sctp_stream_rx_sync(st, 1);
		sctp_stream_tx_del(st);
		if (a->st[st->sid] == st) {
			a->st[st->sid] = NULL;
			a->nlive--;
		}
		st->a = NULL;
		if (!a->sock->server && a->sock->ops->avail && a->state == A_UP)
			a->sock->ops->avail(a, a->sock->ud);
	}
	if (st->owner_closed)
		sctp_stream_grave_add(st);
}

void sctp_stream_check_release(scstream_t *st)
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
	sctp_stream_tx_add(st);
	sctp_stream_pend_add(st);
}

/* ---- the stream_t ---- */

static int st_write(stream_t *s, sbuf_t *b)
{
	scstream_t *st = (scstream_t *)s;

	if (!st->a || st->m.err || st->close_want || st->eof_want) {
		sbuf_free(b);
		return st->m.err ? st->m.err : UV_EPIPE;
	}
	if (st->close_rcvd) { /* the peer closed after its EOF: nobody reads it */
		sbuf_free(b);
		return 0;
	}
	if (!b->len) {
		sbuf_free(b);
		return 0;
	}
	msgstream_hold(&st->m, b);
	if (s->wq_bytes > STREAM_LOW_WATER)
		st->was_high = 1;
	sctp_stream_tx_add(st);
	return 0;
}

static int st_shutdown(stream_t *s)
{
	scstream_t *st = (scstream_t *)s;

	if (!st->a || st->m.err)
		return st->m.err ? st->m.err : UV_ENOTCONN;
	st->eof_want = 1;
	sctp_stream_tx_add(st);
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

static void st_end(stream_t *s, int graceful)
{
	scstream_t *st = (scstream_t *)s;

	st->owner_closed = 1;
	st->cb = NULL;
	st->res = NULL;
	s->cbs = NULL;
	sbufq_clear(&st->m.rq);
	sctp_stream_rx_sync(st, 0);
	if (!graceful || st->m.wq.bytes || st->m.err)
		st->eof_want = 0; /* an abort: no EOF before the CLOSE */
	else if (st->state == S_OPEN && !st->close_rcvd)
		st->eof_want = 1; /* as close(2): an EOF, then the CLOSE */
	sbufq_clear(&st->m.wq);
	s->wq_bytes = 0;
	if (st->a && !st->close_sent) {
		st->close_want = 1;
		sctp_stream_tx_add(st);
	} else if (!st->a || st->released) {
		sctp_stream_grave_add(st);
	}
}

static void st_close(stream_t *s)
{
	st_end(s, 1);
}

static void st_abort(stream_t *s)
{
	st_end(s, 0);
}

static const stream_ops_t st_ops = {
    .name = "sctp",
    .write = st_write,
    .shutdown = st_shutdown,
    .read_start = st_read_start,
    .read_stop = st_read_stop,
    .close = st_close,
    .reset = st_abort,
};

static void st_kick(msgstream_t *m)
{
	sctp_stream_pend_add((scstream_t *)m);
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

void sctp_stream_free(scstream_t *st)
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
sbuf_t *sctp_stream_next_record(scstream_t *st, uint8_t *type)
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
	if (st->open_want && st->dg && st->kind != K_LISTEN) {
		st->open_want = 0;
		*type = SCTP_PROTO_UDP_OPEN;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_UDP_OPEN, NULL, 0);
	}
	if (st->open_want && st->kind == K_JOIN) {
		st->open_want = 0;
		*type = SCTP_PROTO_JOIN;
		return sctp_proto_rec_build(
		    &st->tx, SCTP_PROTO_JOIN, body,
		    sctp_proto_conn_encode(st->conn, NULL, body, sizeof(body)));
	}
	if (st->open_want) { /* OPEN, or LISTEN(_UDP) with the address to listen on */
		st->open_want = 0;
		n = st->kind == K_LISTEN ? wire_addr_encode(&st->target, body, sizeof(body))
		                         : sctp_proto_open_encode(&st->target, body, sizeof(body));
		*type = st->kind != K_LISTEN ? SCTP_PROTO_OPEN
		        : st->dg             ? SCTP_PROTO_LISTEN_UDP
		                             : SCTP_PROTO_LISTEN;
		return sctp_proto_rec_build(&st->tx, *type, body, n > 0 ? (size_t)n : 0);
	}
	if (st->fail_want) {
		st->fail_want = 0;
		*type = SCTP_PROTO_OPEN_FAIL;
		return sctp_proto_rec_build(&st->tx, SCTP_PROTO_OPEN_FAIL, st->fail_body,
		                            st->fail_len);
	}
	if (st->ok_want && st->kind == K_LISTEN) {
		st->ok_want = 0;
		n = sctp_proto_open_encode(&st->target, body, sizeof(body));
		*type = SCTP_PROTO_LISTEN_OK;
		return sctp_proto_rec_build(&st->tx, *type, body, n > 0 ? (size_t)n : 0);
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
	if (st->kind == K_LISTEN && st->m.wq.head && st->state == S_OPEN &&
	    st->tx_credit >= st->m.wq.head->len) {
		/* a reverse listener's: one record per write, counted in the
		 * window as DATA is */
		b = msgstream_pop_held(&st->m);
		st->tx_credit -= b->len;
		if (st->m.s.wq_bytes <= STREAM_LOW_WATER)
			msgstream_drain_later(&st->m);
		*type = st->a->sock->server ? SCTP_PROTO_ACCEPT : SCTP_PROTO_REFUSE;
		sbuf_t *r = sctp_proto_rec_build(&st->tx, *type, sbuf_ptr(b), b->len);
		sbuf_free(b);
		return r;
	}
	if (st->m.wq.bytes && st->tx_credit && st->state == S_OPEN && st->kind != K_LISTEN) {
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

/* ---- receiving ---- */

static void st_grant(scstream_t *st)
{
	uint32_t w = st->a ? st->a->sock->cfg->window : 0;

	if (!w || st->close_sent || st->close_want || st->rx_unacked < w / 4)
		return;
	st->credit_want += (uint32_t)st->rx_unacked;
	st->rx_left += st->rx_unacked;
	st->rx_unacked = 0;
	sctp_stream_tx_add(st);
}

/* DATA (or a reverse listener's ACCEPT or REFUSE) for st's reader. */
static void on_data(sctp_association_t *a, scstream_t *st, const uint8_t *body, size_t len)
{
	if (st->state != S_OPEN) {
		/* nothing is kept for a stream that is not open */
		a->sock->stats.early++;
		st_reset(st, "DATA before OPEN_OK");
		return;
	}
	if (len > st->rx_left || st->eof_rcvd) {
		st_reset(st, len > st->rx_left ? "DATA beyond the window" : "DATA after EOF");
		return;
	}
	st->rx_left -= len;
	sctp_stats.bytes_in += len;
	a->bytes_in += len;
	if (st->owner_closed || st->m.err)
		return; /* nobody reads: drop */
	if (a->rxbuf + len > a->sock->cfg->max_buffer) {
		/* every stream within its window, but too many of them
		 * unread: the association holds no more */
		a->sock->stats.buffer_resets++;
		st_reset(st, "the association's receive buffer is full (assoc-buffer)");
		return;
	}
	msgstream_push(&st->m, sbuf_from(body, len));
	sctp_stream_rx_sync(st, 0);
	if (st->m.reading)
		sctp_stream_pend_add(st);
}

static void on_record(sctp_association_t *a, scstream_t *st, uint8_t type, const uint8_t *body,
                      size_t len)
{
	uint32_t inc;
	uint8_t code;
	target_t t;

	/* we are done with the stream: what the peer sent before it saw our
	 * CLOSE is dropped, only its own CLOSE still counts */
	if ((st->close_want || st->close_sent) && type != SCTP_PROTO_CLOSE)
		return;
	switch (type) {
	case SCTP_PROTO_OPEN_OK:
		if (a->sock->server || st->state != S_OPENING || st->kind == K_LISTEN) {
			st_reset(st, "unexpected OPEN_OK");
			return;
		}
		st->state = S_OPEN;
		sctp_stream_pend_add(st);           /* the open callback */
		if (st->m.wq.bytes || st->eof_want) /* a JOIN's, written before */
			sctp_stream_tx_add(st);
		break;
	case SCTP_PROTO_LISTEN_OK:
		if (a->sock->server || st->state != S_OPENING || st->kind != K_LISTEN ||
		    sctp_proto_open_parse(body, len, &t) < 0) {
			st_reset(st, "unexpected LISTEN_OK");
			return;
		}
		if (st->res)
			st->res->bound = t;
		st->state = S_OPEN;
		sctp_stream_pend_add(st); /* the open callback */
		break;
	case SCTP_PROTO_ACCEPT:
	case SCTP_PROTO_REFUSE:
		/* a reverse listener's, as DATA: in the window, one per read
		 * (a UDP listener's carries datagrams only) */
		if (st->kind != K_LISTEN || st->dg ||
		    type != (a->sock->server ? SCTP_PROTO_REFUSE : SCTP_PROTO_ACCEPT)) {
			st_reset(st, "unexpected ACCEPT or REFUSE");
			return;
		}
		on_data(a, st, body, len);
		break;
	case SCTP_PROTO_OPEN_FAIL:
		if (a->sock->server || st->state != S_OPENING ||
		    sctp_proto_fail_parse(body, len, &code) < 0) {
			st_reset(st, "unexpected OPEN_FAIL");
			return;
		}
		st->m.err = tun_fail_err(body, len);
		if (st->res) {
			size_t n =
			    len - 1 < sizeof(st->res->why) - 1 ? len - 1 : sizeof(st->res->why) - 1;
			for (size_t i = 0; i < n; i++)
				st->res->why[i] = body[1 + i] >= 0x20 && body[1 + i] <= 0x7e
				                      ? (char)body[1 + i]
				                      : '?';
			st->res->why[n] = 0;
		}
		log_debug(st->m.s.id, "sctp stream %u: the server could not connect: %s", st->sid,
		          dial_error_text(st->m.err));
		st->close_want = 1;
		sctp_stream_tx_add(st);
		sctp_stream_pend_add(st);
		break;
	case SCTP_PROTO_DATA:
		if (st->dg || st->kind == K_LISTEN) {
			st_reset(st, st->dg ? "DATA on a datagram association"
			                    : "DATA on a reverse listener");
			return;
		}
		on_data(a, st, body, len);
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
		sctp_stream_pend_add(st);
		break;
	case SCTP_PROTO_CREDIT:
		if (sctp_proto_credit_parse(body, len, &inc) < 0 ||
		    st->tx_credit + inc > 2ull * SCTP_PROTO_WINDOW_MAX) {
			st_reset(st, "bad CREDIT");
			return;
		}
		st->tx_credit += inc;
		if (st->m.wq.bytes || st->eof_want)
			sctp_stream_tx_add(st);
		break;
	case SCTP_PROTO_CLOSE:
		/* graceful after the peer's EOF (its close(2): this side
		 * finishes what it relays, what it still writes is dropped);
		 * else an abort */
		st->close_rcvd = 1;
		if (!st->owner_closed && !st->m.err && !(st->state == S_OPEN && st->eof_rcvd)) {
			msgstream_fail(&st->m, st->state == S_OPENING && !a->sock->server
			                           ? UV_ECONNREFUSED
			                           : UV_ECONNRESET);
			sctp_stream_pend_add(st);
		}
		st->eof_want = 0;
		sbufq_clear(&st->m.wq);
		st->m.s.wq_bytes = 0;
		sctp_stream_check_release(st);
		break;
	default:
		st_reset(st, "unexpected record");
	}
}

void sctp_stream_on_msg(sctp_association_t *a, uint16_t sid, uint8_t *buf, size_t len)
{
	sctp_sock_t *so = a->sock;
	scstream_t *st;
	const uint8_t *body;
	size_t blen;
	uint8_t type;
	target_t t;
	int r;

	if (a->state != A_UP || sid >= a->nstreams) {
		sctp_assoc_fail(a, UV_EPROTO, "message before authentication");
		return;
	}
	st = a->st[sid];
	if (!st) {
		if (!so->server) {
			/* a stream we released: the server is late or lying */
			sctp_assoc_fail(a, UV_EPROTO, "message on a closed stream");
			return;
		}
		st = st_new(a, sid, 0);
		st->state = S_OPENING;
		st->owner_closed = 1; /* until the server takes it */
		r = sctp_proto_rec_open(&st->rx, buf, len, &type, &body, &blen);
		if (r < 0 || (type != SCTP_PROTO_OPEN && type != SCTP_PROTO_UDP_OPEN &&
		              type != SCTP_PROTO_LISTEN && type != SCTP_PROTO_LISTEN_UDP &&
		              type != SCTP_PROTO_JOIN)) {
			sctp_assoc_fail(a, UV_EPROTO,
			                r == -EBADMSG ? "record not authentic"
			                              : "first record is not OPEN");
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
		if (type == SCTP_PROTO_JOIN) {
			uint64_t conn;
			if (sctp_proto_conn_parse(body, blen, &conn, NULL, 0) < 0) {
				st_reset(st, "malformed JOIN");
				return;
			}
			st->kind = K_JOIN;
			st->conn = conn;
			st->owner_closed = 0;
			if (so->ops->join)
				so->ops->join(a, so->ud, &st->m.s, conn);
			else
				sctp_stream_answer(&st->m.s, UV_ENOTSUP);
			return;
		}
		if (type == SCTP_PROTO_LISTEN_UDP) /* its datagrams' keys, as UDP_OPEN's */
			st_make_dgram(st);
		if ((type == SCTP_PROTO_OPEN ? sctp_proto_open_parse(body, blen, &t)
		                             : wire_listen_parse(body, blen, &t)) < 0) {
			st_reset(st,
			         type == SCTP_PROTO_OPEN ? "malformed OPEN" : "malformed LISTEN");
			return;
		}
		if (type != SCTP_PROTO_OPEN) {
			st->kind = K_LISTEN;
			st->owner_closed = 0;
			st->target = t;
			if (so->ops->listen)
				so->ops->listen(a, so->ud, &st->m.s, &t,
				                type == SCTP_PROTO_LISTEN_UDP);
			else
				sctp_stream_answer_listen(
				    &st->m.s, NULL, UV_ENOTSUP,
				    "this server does not listen for clients");
			return;
		}
		st->owner_closed = 0;
		st->target = t;
		sctp_stats.opens++;
		so->ops->open(a, so->ud, &st->m.s, &t);
		return;
	}
	if (st->close_rcvd) {
		sctp_assoc_fail(a, UV_EPROTO, "record after CLOSE");
		return;
	}
	r = sctp_proto_rec_open(&st->rx, buf, len, &type, &body, &blen);
	if (r < 0) {
		sctp_assoc_fail(a, UV_EPROTO,
		                r == -EBADMSG ? "record not authentic" : "malformed record");
		return;
	}
	log_trace(st->m.s.id, "sctp stream %u: %s (%zu)", sid, sctp_proto_type_name(type), blen);
	on_record(a, st, type, body, blen);
}

/* A datagram: any order, lost ones are gone; each is authenticated and
 * checked against the replay window, and what does not pass is dropped
 * and counted (the association goes on: a datagram is not a record). */
void sctp_stream_on_dgram(sctp_association_t *a, uint16_t sid, uint8_t *buf, size_t len)
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

/* ---- delivering to owners ---- */

void sctp_stream_deliver(scstream_t *st)
{
	stream_t *s = &st->m.s;

	if (st->cb) { /* client: the open is answered */
		dial_cb cb = st->cb;
		void *ud = st->ud;
		st->res = NULL; /* answered */
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
	sctp_stream_rx_sync(st, 0);
	if (!st->owner_closed && !st->m.err)
		st_grant(st);
}

static int open_common(sctp_association_t *a, int kind, const target_t *t, uint64_t id, dial_cb cb,
                       void *ud, stream_t **req)
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
	st->kind = (uint8_t)kind;
	if (t)
		st->target = *t;
	else if (kind == K_CONN)
		st_make_dgram(st);
	st->cb = cb;
	st->ud = ud;
	st->open_want = 1;
	sctp_stream_tx_add(st);
	*req = &st->m.s;
	log_debug(id, "sctp stream %u: open%s", sid, t ? "" : " (datagrams)");
	return 0;
}

int sctp_assoc_open(sctp_association_t *a, const target_t *t, uint64_t id, dial_cb cb, void *ud,
                    stream_t **req)
{
	return open_common(a, K_CONN, t, id, cb, ud, req);
}

int sctp_assoc_open_dgram(sctp_association_t *a, uint64_t id, dial_cb cb, void *ud, stream_t **req)
{
	return open_common(a, K_CONN, NULL, id, cb, ud, req);
}

int sctp_assoc_listen(sctp_association_t *a, const target_t *bind, int udp, uint64_t id,
                      sctp_listen_res_t *res, dial_cb cb, void *ud, stream_t **req)
{
	int r = open_common(a, K_LISTEN, bind, id, cb, ud, req);

	if (r == 0) {
		((scstream_t *)*req)->res = res;
		if (udp)
			st_make_dgram((scstream_t *)*req);
	}
	return r;
}

int sctp_assoc_join(sctp_association_t *a, uint64_t conn, uint64_t id, stream_t **out)
{
	int r = open_common(a, K_JOIN, NULL, id, NULL, NULL, out);

	if (r == 0)
		((scstream_t *)*out)->conn = conn;
	return r;
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
	r = sctp_assoc_send_dgram(a, st->sid, out, (size_t)n);
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
		st->fail_len = tun_fail_encode(err, st->fail_body, sizeof(st->fail_body));
		st->fail_want = 1;
	} else {
		st->state = S_OPEN;
		st->ok_want = 1;
	}
	sctp_stream_tx_add(st);
}

void sctp_stream_answer_listen(stream_t *s, const target_t *bound, int err, const char *why)
{
	scstream_t *st = (scstream_t *)s;
	size_t n;

	if (!st->a || st->state != S_OPENING || st->kind != K_LISTEN)
		return;
	if (err < 0) {
		n = why ? strlen(why) : 0;
		if (n > SCTP_PROTO_LISTEN_FAIL_TEXT)
			n = SCTP_PROTO_LISTEN_FAIL_TEXT;
		st->fail_body[0] = socks5_rep_from_err(err);
		memcpy(st->fail_body + 1, why, n);
		st->fail_len = 1 + n;
		st->fail_want = 1;
	} else {
		st->target = *bound;
		st->state = S_OPEN;
		st->ok_want = 1;
	}
	sctp_stream_tx_add(st);
}
