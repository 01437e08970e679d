/* fsm: see fsm.h.
 *
 * The heart is `table`, RFC 1661 4.1 transcribed: for each event and state
 * the actions to run and the next state ("-", an event that cannot happen
 * in that state, is NONE and the event is ignored).  fsm_run() looks an
 * event up and performs its actions in a fixed order: tld, irc/zrc, scr,
 * sca/scn, str, sta, scj, ser, then the state change, then tlu/tls/tlf, so
 * that the layer-up/finished hooks see the new state.  The RFC's optional
 * behaviours ("r" restart, "p" passive, "x" crossed connection) are not
 * taken: the plain transition is.
 *
 * Packets drive the receive events: a Configure-Request is judged by the
 * protocol (RCR+ or RCR-); a Configure-Ack, -Nak or -Reject only counts if
 * it answers our outstanding request (same identifier, first answer, and
 * for an Ack the very options we sent), otherwise it is dropped, as RFC
 * 1661 5.2-5.4 say.  Our Configure-Request keeps its identifier when
 * retransmitted (TO+), so a slow answer to the first copy still counts.
 */
#include "ppp/fsm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* actions, named as in RFC 1661 4.4 */
enum {
	TLU = 1 << 0,
	TLD = 1 << 1,
	TLS = 1 << 2,
	TLF = 1 << 3,
	IRC = 1 << 4,
	ZRC = 1 << 5,
	SCR = 1 << 6,
	SCA = 1 << 7,
	SCN = 1 << 8,
	STR = 1 << 9,
	STA = 1 << 10,
	SCJ = 1 << 11,
	SER = 1 << 12,
};

#define NONE 0xff

typedef struct trans {
	uint16_t act;
	uint8_t next;
} trans_t;

/* clang-format off */
#define X {0, NONE}
#define T(a, n) {(a), (n)}
/* clang-format on */

/* the table's spelling of the events */
enum {
	UP = FSM_EV_UP,
	DOWN = FSM_EV_DOWN,
	OPEN = FSM_EV_OPEN,
	CLOSE = FSM_EV_CLOSE,
	TO_P = FSM_EV_TO_P,
	TO_M = FSM_EV_TO_M,
	RCR_P = FSM_EV_RCR_P,
	RCR_M = FSM_EV_RCR_M,
	RCA = FSM_EV_RCA,
	RCN = FSM_EV_RCN,
	RTR = FSM_EV_RTR,
	RTA = FSM_EV_RTA,
	RUC = FSM_EV_RUC,
	RXJ_P = FSM_EV_RXJ_P,
	RXJ_M = FSM_EV_RXJ_M,
	RXR = FSM_EV_RXR,
};

/* RFC 1661 4.1: rows are events, columns states; T(actions, next state),
 * X for "-".  Each row is split after Stopping as in the RFC. */
/* clang-format off */
static const trans_t table[FSM_NEVENTS][FSM_NSTATES] = {
	/*         Initial   Starting      Closed        Stopped           Closing   Stopping
	 *         Req-Sent      Ack-Rcvd      Ack-Sent      Opened */
	[UP] =    {T(0,2),   T(IRC|SCR,6), X,            X,                X,        X,
		   X,            X,            X,            X},
	[DOWN] =  {X,        X,            T(0,0),       T(TLS,1),         T(0,0),   T(0,1),
		   T(0,1),       T(0,1),       T(0,1),       T(TLD,1)},
	[OPEN] =  {T(TLS,1), T(0,1),       T(IRC|SCR,6), T(0,3),           T(0,5),   T(0,5),
		   T(0,6),       T(0,7),       T(0,8),       T(0,9)},
	[CLOSE] = {T(0,0),   T(TLF,0),     T(0,2),       T(0,2),           T(0,4),   T(0,4),
		   T(IRC|STR,4), T(IRC|STR,4), T(IRC|STR,4), T(TLD|IRC|STR,4)},
	[TO_P] =  {X,        X,            X,            X,                T(STR,4), T(STR,5),
		   T(SCR,6),     T(SCR,6),     T(SCR,8),     X},
	[TO_M] =  {X,        X,            X,            X,                T(TLF,2), T(TLF,3),
		   T(TLF,3),     T(TLF,3),     T(TLF,3),     X},
	[RCR_P] = {X,        X,            T(STA,2),     T(IRC|SCR|SCA,8), T(0,4),   T(0,5),
		   T(SCA,8),     T(SCA|TLU,9), T(SCA,8),     T(TLD|SCR|SCA,8)},
	[RCR_M] = {X,        X,            T(STA,2),     T(IRC|SCR|SCN,6), T(0,4),   T(0,5),
		   T(SCN,6),     T(SCN,7),     T(SCN,6),     T(TLD|SCR|SCN,6)},
	[RCA] =   {X,        X,            T(STA,2),     T(STA,3),         T(0,4),   T(0,5),
		   T(IRC,7),     T(SCR,6),     T(IRC|TLU,9), T(TLD|SCR,6)},
	[RCN] =   {X,        X,            T(STA,2),     T(STA,3),         T(0,4),   T(0,5),
		   T(IRC|SCR,6), T(SCR,6),     T(IRC|SCR,8), T(TLD|SCR,6)},
	[RTR] =   {X,        X,            T(STA,2),     T(STA,3),         T(STA,4), T(STA,5),
		   T(STA,6),     T(STA,6),     T(STA,6),     T(TLD|ZRC|STA,5)},
	[RTA] =   {X,        X,            T(0,2),       T(0,3),           T(TLF,2), T(TLF,3),
		   T(0,6),       T(0,6),       T(0,8),       T(TLD|SCR,6)},
	[RUC] =   {X,        X,            T(SCJ,2),     T(SCJ,3),         T(SCJ,4), T(SCJ,5),
		   T(SCJ,6),     T(SCJ,7),     T(SCJ,8),     T(SCJ,9)},
	[RXJ_P] = {X,        X,            T(0,2),       T(0,3),           T(0,4),   T(0,5),
		   T(0,6),       T(0,6),       T(0,8),       T(0,9)},
	[RXJ_M] = {X,        X,            T(TLF,2),     T(TLF,3),         T(TLF,2), T(TLF,3),
		   T(TLF,3),     T(TLF,3),     T(TLF,3),     T(TLD|IRC|STR,5)},
	[RXR] =   {X,        X,            T(0,2),       T(0,3),           T(0,4),   T(0,5),
		   T(0,6),       T(0,7),       T(0,8),       T(SER,9)},
};

/* clang-format on */

#undef X
#undef T

static const char *const state_names[FSM_NSTATES] = {
    "Initial",  "Starting", "Closed",   "Stopped",  "Closing",
    "Stopping", "Req-Sent", "Ack-Rcvd", "Ack-Sent", "Opened",
};

static const char *const event_names[FSM_NEVENTS] = {
    "Up",  "Down", "Open", "Close", "TO+", "TO-",  "RCR+", "RCR-",
    "RCA", "RCN",  "RTR",  "RTA",   "RUC", "RXJ+", "RXJ-", "RXR",
};

const char *fsm_state_name(fsm_state_t s)
{
	return (unsigned)s < FSM_NSTATES ? state_names[s] : "?";
}

const char *fsm_event_name(fsm_event_t e)
{
	return (unsigned)e < FSM_NEVENTS ? event_names[e] : "?";
}

const char *fsm_describe(fsm_state_t s, fsm_event_t e, char *buf, size_t cap)
{
	/* in the order fsm_run() performs them */
	static const struct {
		unsigned bit;
		const char *name;
	} acts[] = {
	    {TLD, "tld"}, {IRC, "irc"}, {ZRC, "zrc"}, {SCR, "scr"}, {SCA, "sca"},
	    {SCN, "scn"}, {STR, "str"}, {STA, "sta"}, {SCJ, "scj"}, {SER, "ser"},
	    {TLU, "tlu"}, {TLS, "tls"}, {TLF, "tlf"},
	};
	const trans_t *t;
	size_t n = 0;

	if (!cap)
		return buf;
	buf[0] = 0;
	if ((unsigned)s >= FSM_NSTATES || (unsigned)e >= FSM_NEVENTS)
		return buf;
	t = &table[e][s];
	if (t->next == NONE) {
		snprintf(buf, cap, "-");
		return buf;
	}
	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (t->act & acts[i].bit)
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "",
			                      acts[i].name);
	snprintf(buf + (n < cap ? n : cap - 1), n < cap ? cap - n : 1, "%s%u", n ? "/" : "",
	         t->next);
	return buf;
}

void fsm_log(fsm_t *f, int level, const char *fmt, ...)
{
	char msg[192];
	int n;
	va_list ap;

	if (!f->env->log)
		return;
	n = snprintf(msg, sizeof(msg), "%s: ", f->ops->name);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	f->env->log(f->env->ud, level, msg);
}

void fsm_init(fsm_t *f, const fsm_ops_t *ops, const fsm_env_t *env, void *ctx)
{
	memset(f, 0, sizeof(*f));
	f->ops = ops;
	f->env = env;
	f->ctx = ctx;
	f->state = FSM_INITIAL;
	f->peer_mru = 1500;
}

static uint64_t now(const fsm_t *f)
{
	return *f->env->now;
}

static int timer_state(fsm_state_t s)
{
	return s == FSM_CLOSING || s == FSM_STOPPING || s == FSM_REQ_SENT || s == FSM_ACK_RCVD ||
	       s == FSM_ACK_SENT;
}

/* Legal means: some event of the table leads from `from` to `to`. */
static int legal(fsm_state_t from, fsm_state_t to)
{
	for (int e = 0; e < FSM_NEVENTS; e++)
		if (table[e][from].next == to)
			return 1;
	return 0;
}

static void fsm_set_state(fsm_t *f, fsm_state_t to)
{
	if (to == f->state)
		return;
	if (!legal(f->state, to)) {
		fsm_log(f, LOG_ERR, "illegal transition %s -> %s", fsm_state_name(f->state),
		        fsm_state_name(to));
		return;
	}
	fsm_log(f, LOG_DEBUG, "%s -> %s", fsm_state_name(f->state), fsm_state_name(to));
	f->state = to;
	if (!timer_state(to))
		f->deadline = 0;
}

static void set_reason(fsm_t *f, int force, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_reason(fsm_t *f, int force, const char *fmt, ...)
{
	va_list ap;

	if (f->reason[0] && !force)
		return;
	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
}

uint8_t fsm_next_id(fsm_t *f)
{
	return ++f->id;
}

void fsm_send(fsm_t *f, uint8_t code, uint8_t id, const uint8_t *data, size_t len)
{
	uint8_t pkt[FSM_MAX_PKT];

	if (len > sizeof(pkt) - 4)
		len = sizeof(pkt) - 4;
	if (len + 4 > f->peer_mru)
		len = f->peer_mru > 4 ? f->peer_mru - 4 : 0;
	pkt[0] = code;
	pkt[1] = id;
	pkt[2] = (uint8_t)((len + 4) >> 8);
	pkt[3] = (uint8_t)(len + 4);
	if (len && data)
		memcpy(pkt + 4, data, len);
	f->env->output(f->env->ud, f->ops->proto, pkt, len + 4);
}

void fsm_fail(fsm_t *f, const char *reason)
{
	if (f->failed)
		return;
	f->failed = 1;
	set_reason(f, 1, "%s: %s", f->ops->name, reason);
	fsm_log(f, LOG_WARN, "giving up: %s", reason);
	f->env->fail(f->env->ud, f, f->reason);
}

static void layer(fsm_t *f, fsm_layer_t ev)
{
	switch (ev) {
	case FSM_LAYER_UP:
		if (f->ops->up)
			f->ops->up(f);
		break;
	case FSM_LAYER_DOWN:
		if (f->ops->down)
			f->ops->down(f);
		break;
	case FSM_LAYER_STARTED:
		if (f->ops->started)
			f->ops->started(f);
		break;
	case FSM_LAYER_FINISHED:
		if (f->ops->finished)
			f->ops->finished(f);
		break;
	}
	f->env->layer(f->env->ud, f, ev);
}

static void scr(fsm_t *f, int retransmit)
{
	if (!retransmit || !f->req_len) {
		if (f->state != FSM_REQ_SENT && f->state != FSM_ACK_RCVD &&
		    f->state != FSM_ACK_SENT)
			f->ops->reset(f);
		f->req_len = f->ops->build_req(f, f->req, sizeof(f->req) - 4);
		f->req_id = fsm_next_id(f);
	}
	f->replied = 0;
	fsm_send(f, CP_CONF_REQ, f->req_id, f->req, f->req_len);
	if (f->restart)
		f->restart--;
	f->deadline = now(f) + FSM_RESTART_MS;
}

static void str(fsm_t *f)
{
	const char *why = f->reason;
	size_t n = strlen(why);

	fsm_send(f, CP_TERM_REQ, fsm_next_id(f), (const uint8_t *)why, n > 64 ? 64 : n);
	if (f->restart)
		f->restart--;
	f->deadline = now(f) + FSM_RESTART_MS;
}

/* Run one event through the table. */
static void fsm_run(fsm_t *f, fsm_event_t ev)
{
	const trans_t *t = &table[ev][f->state];
	unsigned a = t->act;

	if (t->next == NONE) {
		fsm_log(f, LOG_DEBUG, "%s ignored in %s", fsm_event_name(ev),
		        fsm_state_name(f->state));
		return;
	}
	if (t->next == FSM_OPENED && f->state != FSM_OPENED) {
		if (f->opens >= FSM_MAX_CONFIGURE) {
			fsm_fail(f, "too many renegotiations");
			return;
		}
		f->opens++;
		f->naks_sent = f->bad_rcr = f->naks_rcvd = 0;
	}
	f->target = (fsm_state_t)t->next;
	if (a & TLD)
		layer(f, FSM_LAYER_DOWN);
	if (a & IRC)
		f->restart = (a & STR) ? FSM_MAX_TERMINATE : FSM_MAX_CONFIGURE;
	if (a & ZRC) {
		f->restart = 0;
		f->deadline = now(f) + FSM_RESTART_MS;
	}
	if (a & SCR)
		scr(f, ev == FSM_EV_TO_P);
	if (a & SCA)
		fsm_send(f, CP_CONF_ACK, f->in_id, f->in_pkt + 4, f->in_len - 4);
	if (a & SCN)
		fsm_send(f, (uint8_t)f->rep_code, f->in_id, f->rep, f->rep_len);
	if (a & STR)
		str(f);
	if (a & STA)
		fsm_send(f, CP_TERM_ACK, f->in_id, NULL, 0);
	if (a & SCJ)
		fsm_send(f, CP_CODE_REJ, fsm_next_id(f), f->in_pkt, f->in_len);
	if ((a & SER) && f->ops->rxr)
		f->ops->rxr(f, f->in_pkt[0], f->in_id, f->in_pkt + 4, f->in_len - 4);
	fsm_set_state(f, (fsm_state_t)t->next);
	if (a & TLU)
		layer(f, FSM_LAYER_UP);
	if (a & TLS)
		layer(f, FSM_LAYER_STARTED);
	if (a & TLF)
		layer(f, FSM_LAYER_FINISHED);
}

void fsm_up(fsm_t *f)
{
	if (f->state == FSM_INITIAL || f->state == FSM_STARTING) {
		f->reason[0] = 0;
		f->failed = 0;
	}
	fsm_run(f, FSM_EV_UP);
}

void fsm_down(fsm_t *f)
{
	fsm_run(f, FSM_EV_DOWN);
}

void fsm_open(fsm_t *f)
{
	fsm_run(f, FSM_EV_OPEN);
}

void fsm_close(fsm_t *f, const char *reason)
{
	if (reason)
		set_reason(f, 0, "%s", reason);
	fsm_run(f, FSM_EV_CLOSE);
}

void fsm_protocol_rejected(fsm_t *f)
{
	set_reason(f, 0, "%s: rejected by the peer", f->ops->name);
	fsm_run(f, FSM_EV_RXJ_M);
}

void fsm_tick(fsm_t *f)
{
	if (!f->deadline || now(f) < f->deadline)
		return;
	f->deadline = 0;
	if (f->restart > 0) {
		fsm_run(f, FSM_EV_TO_P);
		return;
	}
	if (f->state == FSM_CLOSING || f->state == FSM_STOPPING)
		set_reason(f, 0, "%s: terminated", f->ops->name);
	else
		set_reason(f, 0, "%s: peer not responding", f->ops->name);
	fsm_run(f, FSM_EV_TO_M);
}

uint64_t fsm_deadline(const fsm_t *f)
{
	return f->deadline;
}

static int negotiating(fsm_state_t s)
{
	return s == FSM_REQ_SENT || s == FSM_ACK_RCVD || s == FSM_ACK_SENT || s == FSM_OPENED;
}

static void conf_req(fsm_t *f, const uint8_t *opts, size_t len)
{
	int code;

	if (f->state != FSM_STOPPED && !negotiating(f->state)) {
		/* Closed: sta; Closing/Stopping: nothing; the options do not matter */
		fsm_run(f, FSM_EV_RCR_P);
		return;
	}
	f->rep_len = 0;
	code = f->ops->check_req(f, opts, len, f->rep, sizeof(f->rep) - 4, &f->rep_len,
	                         f->naks_sent < FSM_MAX_FAILURE);
	if (f->fail_req) {
		const char *why = f->fail_req;

		f->fail_req = NULL;
		fsm_fail(f, why);
		return;
	}
	if (!code) {
		fsm_log(f, LOG_DEBUG, "malformed Configure-Request dropped");
		return;
	}
	if (code == CP_CONF_ACK) {
		f->bad_rcr = 0;
		f->naks_sent = 0;
		fsm_run(f, FSM_EV_RCR_P);
		return;
	}
	if (++f->bad_rcr > 2 * FSM_MAX_FAILURE) {
		fsm_fail(f, "peer's options do not converge");
		return;
	}
	if (code == CP_CONF_NAK)
		f->naks_sent++;
	f->rep_code = code;
	fsm_run(f, FSM_EV_RCR_M);
}

/* Configure-Ack/Nak/Reject: only an answer to our outstanding request
 * counts while negotiating. */
static void conf_reply(fsm_t *f, uint8_t code, uint8_t id, const uint8_t *opts, size_t len)
{
	if (!negotiating(f->state)) {
		fsm_run(f, code == CP_CONF_ACK ? FSM_EV_RCA : FSM_EV_RCN);
		return;
	}
	if (id != f->req_id || f->replied)
		return;
	if (code == CP_CONF_ACK) {
		if (len != f->req_len || memcmp(opts, f->req, len))
			return;
		f->replied = 1;
		f->naks_rcvd = 0;
		if (f->ops->got_ack)
			f->ops->got_ack(f);
		fsm_run(f, FSM_EV_RCA);
		return;
	}
	if ((code == CP_CONF_NAK ? f->ops->got_nak : f->ops->got_rej)(f, opts, len) < 0) {
		fsm_log(f, LOG_DEBUG, "bad Configure-%s dropped",
		        code == CP_CONF_NAK ? "Nak" : "Reject");
		return;
	}
	f->replied = 1;
	if (++f->naks_rcvd > FSM_MAX_CONFIGURE) {
		fsm_fail(f, "peer keeps refusing our options");
		return;
	}
	fsm_run(f, FSM_EV_RCN);
}

void fsm_input(fsm_t *f, const uint8_t *pkt, size_t len)
{
	uint8_t code, id;
	size_t plen;
	fsm_event_t ev;

	if (len < 4)
		return;
	code = pkt[0];
	id = pkt[1];
	plen = (size_t)pkt[2] << 8 | pkt[3];
	if (plen < 4 || plen > len)
		return;
	len = plen; /* what follows is padding */
	f->in_pkt = pkt;
	f->in_len = len;
	f->in_id = id;

	switch (code) {
	case CP_CONF_REQ:
		conf_req(f, pkt + 4, len - 4);
		break;
	case CP_CONF_ACK:
	case CP_CONF_NAK:
	case CP_CONF_REJ:
		conf_reply(f, code, id, pkt + 4, len - 4);
		break;
	case CP_TERM_REQ:
		set_reason(f, 0, "%s: terminated by the peer", f->ops->name);
		fsm_run(f, FSM_EV_RTR);
		break;
	case CP_TERM_ACK:
		fsm_run(f, FSM_EV_RTA);
		break;
	case CP_CODE_REJ:
		if (len < 5)
			return;
		/* a rejected code of our own vocabulary 1..7 is catastrophic */
		if (pkt[4] >= CP_CONF_REQ && pkt[4] <= CP_CODE_REJ) {
			set_reason(f, 0, "%s: peer rejected code %u", f->ops->name, pkt[4]);
			fsm_run(f, FSM_EV_RXJ_M);
		} else {
			if (f->ops->code_rejected)
				f->ops->code_rejected(f, pkt[4]);
			fsm_run(f, FSM_EV_RXJ_P);
		}
		break;
	default:
		ev = f->ops->classify ? f->ops->classify(f, code, pkt + 4, len - 4) : FSM_EV_RUC;
		if (ev == FSM_EV_RUC || ev == FSM_EV_RXR || ev == FSM_EV_RXJ_P ||
		    ev == FSM_EV_RXJ_M)
			fsm_run(f, ev);
		break;
	}
	f->in_pkt = NULL;
	f->in_len = 0;
}

int fsm_opt_next(const uint8_t *opts, size_t len, size_t *off, fsm_opt_t *o)
{
	size_t n;

	if (*off >= len)
		return 0;
	if (len - *off < 2)
		return -1;
	n = opts[*off + 1];
	if (n < 2 || n > len - *off)
		return -1;
	o->type = opts[*off];
	o->vlen = (uint8_t)(n - 2);
	o->val = opts + *off + 2;
	*off += n;
	return 1;
}

int fsm_opts_valid(const uint8_t *opts, size_t len)
{
	size_t off = 0;
	fsm_opt_t o;
	int r;

	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0)
		;
	return r == 0;
}

int fsm_opt_put(uint8_t *buf, size_t cap, size_t *len, uint8_t type, const void *val, size_t vlen)
{
	if (vlen > 253 || *len + 2 + vlen > cap)
		return -1;
	buf[*len] = type;
	buf[*len + 1] = (uint8_t)(vlen + 2);
	if (vlen)
		memcpy(buf + *len + 2, val, vlen);
	*len += 2 + vlen;
	return 0;
}

int fsm_verdict(uint8_t *rep, size_t cap, size_t *replen, size_t rlen, const uint8_t *nak,
                size_t nlen)
{
	if (rlen) {
		*replen = rlen;
		return CP_CONF_REJ;
	}
	if (nlen) {
		if (nlen > cap)
			nlen = cap;
		memcpy(rep, nak, nlen);
		*replen = nlen;
		return CP_CONF_NAK;
	}
	return CP_CONF_ACK;
}
