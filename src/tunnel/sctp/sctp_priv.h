/* sctp_priv: the SCTP tunnel's own structures, shared by sctp_rt.c (the
 * runtime and its sockets), sctp_assoc.c (an association) and
 * sctp_stream.c (its streams).  Not for other modules: they use
 * sctp_assoc.h.
 */
#ifndef SLUICE_SCTP_PRIV_H
#define SLUICE_SCTP_PRIV_H

#include <pthread.h>
#include <stdint.h>
#include <usrsctp.h>
#include <uv.h>

#include "core/crypto.h"
#include "core/msgstream.h"
#include "core/queue.h"
#include "core/rwin.h"
#include "core/replay.h"
#include "tunnel/sctp/sctp_assoc.h"
#include "tunnel/sctp/sctp_kern.h"

typedef struct scstream scstream_t;

enum { A_CONNECTING, A_AUTH, A_UP, A_DEAD };

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
	unsigned held : 1;    /* a wrong key's refusal waits for the auth guard's delay */
	replay_wait_t *rwait; /* an AUTH's replay verdict, from a shared cache */
};

enum { S_OPENING, S_OPEN };
/* what a lifetime carries: a connection (OPEN), a reverse listener
 * (LISTEN: its DATA are ACCEPTs and REFUSEs, one per write), a
 * connection accepted there (JOIN) */
enum { K_CONN, K_LISTEN, K_JOIN };

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
	uint8_t fail_body[1 + SCTP_PROTO_LISTEN_FAIL_TEXT];
	size_t fail_len;
	target_t target;
	dial_cb cb;
	void *ud;
	struct scdg *dg;            /* a datagram association's state (UDP_OPEN) */
	uint8_t kind;               /* K_* */
	uint64_t conn;              /* K_JOIN: the connection it carries */
	sctp_listen_res_t *res;     /* client K_LISTEN: where the answer goes, until cb */
	queue_t tx_link, pend_link; /* in a->tx, in rt.pend */
	scstream_t *grave_next;
	unsigned owner_closed : 1, close_want : 1, close_sent : 1, close_rcvd : 1, eof_want : 1,
	    eof_sent : 1, eof_rcvd : 1, open_want : 1, ok_want : 1, fail_want : 1, was_high : 1,
	    in_grave : 1, released : 1, keys : 1;
};
/* The runtime: one per process (sctp_rt.c). */
struct sctp_rt {
	int inited;
	uint16_t port;
	uv_loop_t *loop;
	uv_async_t async;
	uv_timer_t retry;
	pthread_mutex_t mu;
	struct ev *head, *tail; /* sctp_rt.c */
	int send_space;
	sctp_sock_t *socks;
	sctp_association_t *dirty;
	queue_t pend; /* scstream_t.pend_link: owners to call back this turn */
	scstream_t *grave;
	sctp_association_t *dead;
	uint64_t next_sock;
	int nblocked;
	int stopped; /* under mu: the loop is going away, usrsctp's threads must not wake it */
};

extern struct sctp_rt sctp_rt;

/* sctp_rt.c */
void sctp_rt_wake(void);
void sctp_rt_retry(uv_timer_t *t); /* the retry timer's callback */
int sctp_sock_open(int server, const struct sockaddr *addr, int stack, const sctp_assoc_cfg_t *cfg,
                   const sctp_assoc_ops_t *ops, void *ud, sctp_sock_t **out);
void sctp_sock_unlink(sctp_sock_t *s);

/* sctp_assoc.c */
void sctp_assoc_dirty(sctp_association_t *a); /* for the pump, this turn */
void sctp_assoc_fail(sctp_association_t *a, int err, const char *why);
int sctp_assoc_send_dgram(sctp_association_t *a, uint16_t sid, const void *p, size_t len);
void sctp_assoc_pump(sctp_association_t *a);
void sctp_assoc_free(sctp_association_t *a);
sctp_association_t *sctp_assoc_find(sctp_sock_t *so, sctp_assoc_t aid);
void sctp_assoc_on_msg(sctp_association_t *a, uint16_t sid, uint32_t ppid, int flags, uint8_t *data,
                       size_t len);
void sctp_assoc_on_change(sctp_sock_t *so, sctp_assoc_t aid, int what, uint16_t out, uint16_t in);
void sctp_assoc_on_usrsctp_change(sctp_sock_t *so, const struct sctp_assoc_change *c);
void sctp_sock_eof(sctp_sock_t *so, int err);

/* sctp_stream.c */
void sctp_stream_tx_add(scstream_t *st); /* for the association's pump */
void sctp_stream_tx_del(scstream_t *st);
void sctp_stream_pend_add(scstream_t *st); /* its owner's callbacks, this turn */
void sctp_stream_pend_del(scstream_t *st);
void sctp_stream_grave_add(scstream_t *st);
void sctp_stream_rx_sync(scstream_t *st, int leave);
void sctp_stream_check_release(scstream_t *st);
sbuf_t *sctp_stream_next_record(scstream_t *st, uint8_t *type);
void sctp_stream_free(scstream_t *st);
void sctp_stream_deliver(scstream_t *st);
void sctp_stream_on_msg(sctp_association_t *a, uint16_t sid, uint8_t *buf, size_t len);
void sctp_stream_on_dgram(sctp_association_t *a, uint16_t sid, uint8_t *buf, size_t len);

#endif
