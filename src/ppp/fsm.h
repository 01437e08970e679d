/* fsm: the option negotiation automaton of RFC 1661 section 4, shared by
 * LCP, IPCP and IPV6CP.
 *
 * Ten states (Initial .. Opened), sixteen events (Up, Down, Open, Close,
 * TO+, TO-, RCR+, RCR-, RCA, RCN, RTR, RTA, RUC, RXJ+, RXJ-, RXR) and the
 * state transition table of section 4.1, kept as a table in fsm.c; every
 * state change goes through fsm_set_state(), which checks that the table
 * allows it and logs "lcp: Req-Sent -> Ack-Rcvd".
 *
 * What is protocol specific sits behind fsm_ops_t: building our
 * Configure-Request, judging the peer's (Ack, Nak or Reject per option),
 * digesting a Configure-Nak/Reject of ours, and the four layer actions
 * (this-layer-up/down/started/finished).  The owner (ppp.c) provides an
 * fsm_env_t: output of packets, the clock, logging, and the hooks that hear
 * about layer events and failures.
 *
 * Timers and counters: restart timer 3 s, Max-Terminate 2, Max-Configure
 * 10, Max-Failure 5.  After Max-Failure Configure-Naks in a row we send
 * Configure-Rejects instead (RFC 1661 4.6).  Bounds beyond the RFC, so a
 * hostile or broken peer cannot keep a session negotiating forever:
 * 2 x Max-Failure Configure-Requests in a row that we cannot Ack, or
 * Max-Configure Naks/Rejects of ours in a row, or Max-Configure returns to
 * Opened (renegotiations) in a session, and the fsm gives up through
 * env->fail().
 *
 * Pure code: time comes from *env->now, packets leave through env->output.
 */
#ifndef SLUICE_PPP_FSM_H
#define SLUICE_PPP_FSM_H

#include <stddef.h>
#include <stdint.h>

#define FSM_RESTART_MS 3000
#define FSM_MAX_TERMINATE 2
#define FSM_MAX_CONFIGURE 10
#define FSM_MAX_FAILURE 5
#define FSM_MAX_OPTS 32  /* options judged per Configure-Request; more are rejected */
#define FSM_MAX_PKT 1500 /* our Configure-Request and replies (code .. data) */

/* Packet codes (RFC 1661 5, RFC 1570). */
enum {
	CP_CONF_REQ = 1,
	CP_CONF_ACK = 2,
	CP_CONF_NAK = 3,
	CP_CONF_REJ = 4,
	CP_TERM_REQ = 5,
	CP_TERM_ACK = 6,
	CP_CODE_REJ = 7,
	LCP_PROTO_REJ = 8,
	LCP_ECHO_REQ = 9,
	LCP_ECHO_REP = 10,
	LCP_DISC_REQ = 11,
	LCP_IDENT = 12,
	LCP_TIME_REM = 13,
};

typedef enum fsm_state {
	FSM_INITIAL,
	FSM_STARTING,
	FSM_CLOSED,
	FSM_STOPPED,
	FSM_CLOSING,
	FSM_STOPPING,
	FSM_REQ_SENT,
	FSM_ACK_RCVD,
	FSM_ACK_SENT,
	FSM_OPENED,
	FSM_NSTATES
} fsm_state_t;

typedef enum fsm_event {
	FSM_EV_UP,
	FSM_EV_DOWN,
	FSM_EV_OPEN,
	FSM_EV_CLOSE,
	FSM_EV_TO_P,  /* TO+ */
	FSM_EV_TO_M,  /* TO- */
	FSM_EV_RCR_P, /* RCR+ */
	FSM_EV_RCR_M, /* RCR- */
	FSM_EV_RCA,
	FSM_EV_RCN,
	FSM_EV_RTR,
	FSM_EV_RTA,
	FSM_EV_RUC,
	FSM_EV_RXJ_P, /* RXJ+ */
	FSM_EV_RXJ_M, /* RXJ- */
	FSM_EV_RXR,
	FSM_NEVENTS
} fsm_event_t;

/* Layer events reported to the owner. */
typedef enum fsm_layer {
	FSM_LAYER_UP,
	FSM_LAYER_DOWN,
	FSM_LAYER_STARTED,
	FSM_LAYER_FINISHED
} fsm_layer_t;

typedef struct fsm fsm_t;

typedef struct fsm_ops {
	const char *name; /* "lcp" */
	uint16_t proto;   /* PPP protocol number */
	/* A fresh negotiation starts: reset the options we want. */
	void (*reset)(fsm_t *f);
	/* Our Configure-Request options into buf; returns the length. */
	size_t (*build_req)(fsm_t *f, uint8_t *buf, size_t cap);
	/* Judge the peer's Configure-Request options.  Returns CP_CONF_ACK, or
	 * CP_CONF_NAK / CP_CONF_REJ with the reply options in rep (*replen),
	 * or 0 for a malformed option list (the request is dropped).
	 * With nak_ok 0 (Max-Failure reached), what would be Nak'd is
	 * rejected instead.  Setting f->fail_req makes the fsm give up. */
	int (*check_req)(fsm_t *f, const uint8_t *opts, size_t len, uint8_t *rep, size_t cap,
	                 size_t *replen, int nak_ok);
	/* The peer acked our request (already checked identical). Optional. */
	void (*got_ack)(fsm_t *f);
	/* Digest a Configure-Nak / Configure-Reject of our request; return
	 * -1 if it is malformed or not about our request (then dropped). */
	int (*got_nak)(fsm_t *f, const uint8_t *opts, size_t len);
	int (*got_rej)(fsm_t *f, const uint8_t *opts, size_t len);
	/* this-layer-up/down/started/finished; optional */
	void (*up)(fsm_t *f);
	void (*down)(fsm_t *f);
	void (*started)(fsm_t *f);
	void (*finished)(fsm_t *f);
	/* Codes above 7 (LCP only; NULL: every such code is unknown).
	 * classify returns FSM_EV_RXR (Echo, Discard, ...), FSM_EV_RXJ_P or
	 * FSM_EV_RXJ_M (Protocol-Reject, after handling it), or FSM_EV_RUC. */
	fsm_event_t (*classify)(fsm_t *f, uint8_t code, const uint8_t *data, size_t len);
	/* the ser action of RXR in Opened: answer an Echo-Request etc. */
	void (*rxr)(fsm_t *f, uint8_t code, uint8_t id, const uint8_t *data, size_t len);
	/* the peer Code-Rejected one of our codes above 7 (RXJ+); optional */
	void (*code_rejected)(fsm_t *f, uint8_t code);
} fsm_ops_t;

typedef struct fsm_env {
	void *ud;
	const uint64_t *now; /* ms */
	/* one control packet (code .. data) of protocol proto */
	void (*output)(void *ud, uint16_t proto, const uint8_t *pkt, size_t len);
	void (*log)(void *ud, int level, const char *msg); /* optional */
	void (*layer)(void *ud, fsm_t *f, fsm_layer_t ev);
	/* the protocol cannot converge or found a fatal condition */
	void (*fail)(void *ud, fsm_t *f, const char *reason);
} fsm_env_t;

struct fsm {
	const fsm_ops_t *ops;
	const fsm_env_t *env;
	void *ctx; /* the protocol's own state */
	fsm_state_t state;
	fsm_state_t target;       /* while an event runs: the state it leads to */
	uint8_t id;               /* last identifier we used */
	uint8_t req_id;           /* identifier of our outstanding Configure-Request */
	int replied;              /* it got its Ack/Nak/Reject already */
	unsigned restart;         /* restart counter */
	uint64_t deadline;        /* restart timer, 0: stopped */
	unsigned naks_sent;       /* Configure-Naks sent since we last acked */
	unsigned bad_rcr;         /* Configure-Requests in a row we could not ack */
	unsigned naks_rcvd;       /* Naks/Rejects of ours since the last Ack */
	unsigned opens;           /* times Opened was reached */
	unsigned peer_mru;        /* replies quoting packets are cut to this */
	int failed;               /* gave up (env->fail was called) */
	const char *fail_req;     /* set by check_req: give up instead of answering */
	uint8_t req[FSM_MAX_PKT]; /* our last Configure-Request options */
	size_t req_len;
	/* the packet being handled, for the send actions */
	const uint8_t *in_pkt;
	size_t in_len;
	uint8_t in_id;
	uint8_t rep[FSM_MAX_PKT]; /* Nak/Reject options for scn */
	size_t rep_len;
	int rep_code;
	char reason[96]; /* why it went down, for the owner */
};

void fsm_init(fsm_t *f, const fsm_ops_t *ops, const fsm_env_t *env, void *ctx);
/* Administrative and lower-layer events. */
void fsm_up(fsm_t *f);
void fsm_down(fsm_t *f);
void fsm_open(fsm_t *f);
void fsm_close(fsm_t *f, const char *reason);
/* One packet of this protocol (the information field: code, id, length,
 * data); malformed ones are dropped. */
void fsm_input(fsm_t *f, const uint8_t *pkt, size_t len);
/* The peer rejected this whole protocol (LCP Protocol-Reject): RXJ-. */
void fsm_protocol_rejected(fsm_t *f);
void fsm_tick(fsm_t *f);
uint64_t fsm_deadline(const fsm_t *f); /* 0: no timer */
/* Send one packet of this protocol with a fresh identifier. */
void fsm_send(fsm_t *f, uint8_t code, uint8_t id, const uint8_t *data, size_t len);
uint8_t fsm_next_id(fsm_t *f);
void fsm_log(fsm_t *f, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Give up on the negotiation: reason for the owner, then env->fail. */
void fsm_fail(fsm_t *f, const char *reason);

/* A table cell as RFC 1661 prints it ("irc,scr/6", "2", "-"), for tests
 * and logs; returns buf. */
const char *fsm_describe(fsm_state_t s, fsm_event_t e, char *buf, size_t cap);
const char *fsm_state_name(fsm_state_t s);
const char *fsm_event_name(fsm_event_t e);

/* Option walker for check/nak/rej parsers: returns 1 with the next option
 * (type, value, value length), 0 at the end, -1 when malformed (a length
 * under 2 or past the end). */
typedef struct fsm_opt {
	uint8_t type, vlen;
	const uint8_t *val;
} fsm_opt_t;
int fsm_opt_next(const uint8_t *opts, size_t len, size_t *off, fsm_opt_t *o);
/* 1 if opts[0..len) is a well-formed option list. */
int fsm_opts_valid(const uint8_t *opts, size_t len);
/* Append an option to a reply; returns 0, or -1 if it does not fit. */
int fsm_opt_put(uint8_t *buf, size_t cap, size_t *len, uint8_t type, const void *val, size_t vlen);
/* The end of a check_req: Configure-Reject when rep holds rejected options
 * (rlen bytes), else Configure-Nak with the nlen bytes of nak (cut to cap),
 * else Configure-Ack; *replen is set for the first two. */
int fsm_verdict(uint8_t *rep, size_t cap, size_t *replen, size_t rlen, const uint8_t *nak,
                size_t nlen);

#endif
