/* ws_priv: the WebSocket connection's own structure, shared by ws.c (the
 * states, the send path, the timer, the API) and ws_rx.c (the receive
 * path).  Not for other modules: they use ws.h.
 */
#ifndef SLUICE_WS_PRIV_H
#define SLUICE_WS_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/sbuf.h"
#include "core/stream.h"
#include "tunnel/ws/ws.h"
#include "tunnel/ws/ws_frame.h"

#define WS_REASON_MAX 123 /* a control frame's 125 bytes minus the code */

enum {
	WS_CODE_NORMAL = 1000,
	WS_CODE_PROTOCOL = 1002,
	WS_CODE_NO_STATUS = 1005,
	WS_CODE_ABNORMAL = 1006,
	WS_CODE_BAD_DATA = 1007,
	WS_CODE_TOO_BIG = 1009,
};

typedef enum ws_state { WS_OPEN, WS_CLOSING, WS_FLUSHING, WS_CLOSED } ws_state_t;

struct ws {
	uv_loop_t *loop;
	stream_t *inner; /* NULL once closed */
	const ws_cbs_t *cbs;
	void *ud;
	uint64_t id;
	ws_state_t state;
	int client;
	size_t max_message;
	uint64_t ping_ms, dead_ms;
	uint64_t last_rx, last_ping, close_at;

	/* receive */
	sbuf_queue_t rq;         /* read from inner, not yet parsed */
	uint8_t hdr[WS_HDR_MAX]; /* a frame header split between chunks */
	uint8_t hlen;
	ws_frame_t f;   /* the frame being received (in_frame) */
	uint64_t f_off; /* its payload bytes received so far */
	sbuf_t *rx_msg; /* the data message being reassembled */
	int rx_op;      /* its opcode; 0: none under way */
	uint32_t rx_utf8;
	uint8_t ctl[WS_CTRL_MAX];

	/* send */
	sbuf_queue_t out;  /* frames not yet handed to inner */
	uint64_t tx_total; /* bytes put on out, ever */
	uint64_t pong_end; /* tx_total at the end of the last pong queued */

	uint16_t code; /* for on_close */
	char reason[WS_REASON_MAX + 1];

	uv_timer_t timer;
	uv_idle_t idle;
	int handles; /* still open, for ws_free */

	size_t drained_at; /* ws_pending() when on_drain last fired */
	uint8_t hold;      /* ws_head's answer waits on out for this many idle runs */
	unsigned paused : 1, reading : 1, eof : 1, above : 1, freed : 1;
	unsigned in_frame : 1, rx_done : 1, close_sent : 1, werr : 1, no_answer : 1;
};

/* ws.c */
void ws_set_state(ws_t *w, ws_state_t to);              /* checks the transition, logs it */
void ws_set_reason(char *dst, const void *p, size_t n); /* cut to WS_REASON_MAX */
void ws_queue_close(ws_t *w, uint16_t code, const char *reason, size_t rlen);
void ws_queue_pong(ws_t *w, const uint8_t *p, size_t n);
void ws_kick(ws_t *w); /* run the engine from the idle callback */
void ws_start_close_timer(ws_t *w);

/* ws_rx.c */
int ws_valid_close_code(uint16_t code); /* one a close frame may carry */
void ws_rx_parse(ws_t *w);

#endif
