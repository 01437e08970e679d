/* wstan_tun: one WebSocket carrying one connection at a time, for both ends
 * of wstan (internal to wstan_*.c).
 *
 * A tunnel goes IDLE --REQ--> USING --RST sent--> RESETTING --RST--> IDLE,
 * USING --RST received, RST answered--> IDLE, and CLOSED from anywhere
 * (wstan_tun_set_state checks and logs every change).  USING binds a
 * wstan_stream_t, the stream_t a relay sees (a message stream,
 * core/msgstream.h), or a client's UDP association.  wstan has no
 * half-close: a shutdown sends RST, the peer's data after it is dropped,
 * and the peer's RST is the stream's end of data.  Then the tunnel can
 * carry the next connection.
 *
 * Ownership: a tunnel belongs to its server conn or to the hop (a list); a
 * stream belongs to whoever the dial or the relay gave it to and points at
 * its tunnel only while bound.  wstan_tun_free() may run inside any tunnel
 * callback: the struct goes when the outermost one returns.
 */
#ifndef SLUICE_WSTAN_TUN_H
#define SLUICE_WSTAN_TUN_H

#include <time.h>
#include <uv.h>

#include "core/msgstream.h"
#include "core/queue.h"
#include "tunnel/ws/ws.h"
#include "tunnel/ws/ws_hop.h"
#include "tunnel/ws/wstan.h"

#define DAT_MAX (64 * 1024) /* largest DAT payload we send */
#define TEXT_MAX 150        /* RST reason / error we send */
#define RST_MAX (1 + 2 * TEXT_MAX + 3 + WSTAN_RST_PAD_MAX + WSTAN_MAC)

typedef enum tun_state { TUN_IDLE, TUN_USING, TUN_RESETTING, TUN_CLOSED } tun_state_t;

typedef struct wstan_tun wstan_tun_t;
typedef struct wstan_stream wstan_stream_t;
typedef struct opener opener_t; /* the client's (wstan_client.c) */
typedef struct uflow uflow_t;   /* the client's */

typedef struct wstan_tun_cbs {
	void (*on_msg)(wstan_tun_t *t, wstan_msg_t *m); /* a REQ or a DGM to act on */
	void (*on_idle)(wstan_tun_t *t);                /* an RST exchange is over */
	void (*on_close)(wstan_tun_t *t); /* the WebSocket is gone: wstan_tun_free() */
	/* client, before the upgrade: the bound stream wrote or shut down
	 * (early), or was closed (cancel) */
	void (*on_early)(wstan_tun_t *t);
	void (*on_cancel)(wstan_tun_t *t);
	/* what is bound instead of a stream (a UDP association) must let go */
	void (*on_unbind)(wstan_tun_t *t, int err);
} wstan_tun_cbs_t;

struct wstan_tun {
	uv_loop_t *loop;
	uint64_t id;
	const wstan_key_t *key;
	const wstan_tun_cbs_t *cbs;
	void *owner;
	ws_t *ws; /* NULL while a client's upgrade is under way */
	wstan_ctr_t tx, rx;
	tun_state_t state;
	wstan_stream_t *cur; /* bound while USING (and RESETTING after a shutdown) */
	uflow_t *flow;       /* client: a UDP association bound instead, while USING */
	int busy;            /* depth of tunnel callbacks on the stack */
	unsigned client : 1, paused : 1, freed : 1, closing : 1;
	queue_t link;       /* client: in the hop's tunnels */
	ws_pooled_t pooled; /* client: in the hop's pool */
	opener_t *op;       /* client: the upgrade under way */
	const char *hop;    /* client: the hop's name, for a failure's stream_fail_t */
};

struct wstan_stream {
	msgstream_t m;  /* first: reads, writes before the upgrade, the error latch */
	wstan_tun_t *t; /* while bound */
	unsigned shut : 1;
};

wstan_tun_t *wstan_tun_new(uv_loop_t *loop, uint64_t id, const wstan_key_t *k, int client,
                           const wstan_tun_cbs_t *cbs, void *owner);
/* The WebSocket is up on s (first: bytes read past the upgrade). */
void wstan_tun_start(wstan_tun_t *t, stream_t *s, sbuf_t *first, const ws_opts_t *wo);
void wstan_tun_free(wstan_tun_t *t);
void wstan_tun_set_state(wstan_tun_t *t, tun_state_t to);
void wstan_tun_bind(wstan_tun_t *t, wstan_stream_t *st);
int wstan_tun_send_dat(wstan_tun_t *t, const uint8_t *p, size_t n);
int wstan_tun_send_rst(wstan_tun_t *t, const char *reason, const char *err);
/* USING -> RESETTING: this side is done with the connection. */
int wstan_tun_reset(wstan_tun_t *t, const char *reason, const char *err);
/* Close the WebSocket; what still arrives is not read. */
void wstan_tun_abort(wstan_tun_t *t, uint16_t code);

wstan_stream_t *wstan_stream_new(uv_loop_t *loop, uint64_t id);
/* Bytes from the peer (b == NULL: its end of data). */
void wstan_stream_push(wstan_stream_t *st, sbuf_t *b);
/* The tunnel lets go of the stream; err (if any) reaches the owner later. */
void wstan_stream_detach(wstan_stream_t *st, int err);

static inline double wstan_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
