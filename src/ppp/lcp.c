/* lcp: see lcp.h.
 *
 * Judging the peer's Configure-Request walks its options once and sorts
 * each into acked (recorded in `his`), Nak'd (with the value we want) or
 * rejected (copied verbatim); the answer is the Reject list if it is not
 * empty, else the Nak list, else an Ack (RFC 1661 5.2-5.4).  Options past
 * FSM_MAX_OPTS and repeated options are rejected, so a flood costs one
 * pass and ends with the fsm's failure bounds.
 *
 * A Configure-Nak of ours adjusts `want` toward the peer's hint where we
 * can live with it and drops the option where we cannot; a Configure-
 * Reject drops the options, but only if each was in our request.
 *
 * Keepalive: once Opened, lcp_tick() sends an Echo-Request every
 * echo_interval_ms; any Echo-Reply clears the count of unanswered ones,
 * and echo_failures unanswered ones make the fsm give up.
 */
#include "ppp/lcp.h"

#include <string.h>

#include "core/bytes.h"
#include "core/crypto.h"
#include "core/log.h"
#include "ppp/ppp.h"

static lcp_t *lcp_of(fsm_t *f)
{
	return f->ctx;
}

static uint64_t now_ms(const lcp_t *l)
{
	return *l->fsm.env->now;
}

static uint32_t new_magic(uint32_t avoid)
{
	uint32_t m;

	do
		random_bytes(&m, sizeof(m));
	while (!m || m == avoid);
	return m;
}

auth_method_t lcp_best_auth(unsigned mask)
{
	if (mask & (1u << AUTH_MSCHAPV2))
		return AUTH_MSCHAPV2;
	if (mask & (1u << AUTH_CHAP_MD5))
		return AUTH_CHAP_MD5;
	if (mask & (1u << AUTH_PAP))
		return AUTH_PAP;
	return AUTH_NONE;
}

/* The Authentication-Protocol option value for a method; returns its length. */
static size_t auth_value(auth_method_t m, uint8_t *v)
{
	switch (m) {
	case AUTH_PAP:
		v[0] = PPP_PAP >> 8;
		v[1] = PPP_PAP & 0xff;
		return 2;
	case AUTH_CHAP_MD5:
	case AUTH_MSCHAPV2:
		v[0] = PPP_CHAP >> 8;
		v[1] = PPP_CHAP & 0xff;
		v[2] = m == AUTH_CHAP_MD5 ? CHAP_MD5 : CHAP_MSV2;
		return 3;
	default:
		return 0;
	}
}

/* The method an Authentication-Protocol option value names, or AUTH_NONE. */
static auth_method_t auth_parse(const uint8_t *v, size_t n)
{
	uint16_t proto;

	if (n < 2)
		return AUTH_NONE;
	proto = (uint16_t)(v[0] << 8 | v[1]);
	if (proto == PPP_PAP && n == 2)
		return AUTH_PAP;
	if (proto == PPP_CHAP && n == 3 && v[2] == CHAP_MD5)
		return AUTH_CHAP_MD5;
	if (proto == PPP_CHAP && n == 3 && v[2] == CHAP_MSV2)
		return AUTH_MSCHAPV2;
	return AUTH_NONE;
}

static void lcp_reset(fsm_t *f)
{
	lcp_t *l = lcp_of(f);
	lcp_opts_t *w = &l->want;

	memset(w, 0, sizeof(*w));
	memset(&l->got, 0, sizeof(l->got));
	w->mru = l->cfg.mru;
	w->neg_mru = l->cfg.mru != PPP_DEFAULT_MRU;
	w->accm = l->cfg.accm;
	w->neg_accm = l->cfg.framing != 0;
	w->pfc = w->acfc = l->cfg.framing != 0;
	w->neg_magic = 1;
	w->magic = new_magic(0);
	l->auth_refused = 0;
	l->auth_rejects = 0;
	if (l->cfg.server) {
		w->auth = lcp_best_auth(l->cfg.auth_methods);
		w->neg_auth = w->auth != AUTH_NONE;
	}
}

static size_t lcp_build_req(fsm_t *f, uint8_t *buf, size_t cap)
{
	lcp_t *l = lcp_of(f);
	const lcp_opts_t *w = &l->want;
	uint8_t v[4];
	size_t n = 0;

	if (w->neg_mru) {
		v[0] = (uint8_t)(w->mru >> 8);
		v[1] = (uint8_t)w->mru;
		fsm_opt_put(buf, cap, &n, LCP_OPT_MRU, v, 2);
	}
	if (w->neg_accm) {
		put_be32(v, w->accm);
		fsm_opt_put(buf, cap, &n, LCP_OPT_ACCM, v, 4);
	}
	if (w->neg_auth)
		fsm_opt_put(buf, cap, &n, LCP_OPT_AUTH, v, auth_value(w->auth, v));
	if (w->neg_magic) {
		put_be32(v, w->magic);
		fsm_opt_put(buf, cap, &n, LCP_OPT_MAGIC, v, 4);
	}
	if (w->pfc)
		fsm_opt_put(buf, cap, &n, LCP_OPT_PFC, NULL, 0);
	if (w->acfc)
		fsm_opt_put(buf, cap, &n, LCP_OPT_ACFC, NULL, 0);
	return n;
}

/* Per-option verdicts while judging a request. */
enum { V_ACK, V_NAK, V_REJ };

static int check_opt(lcp_t *l, const fsm_opt_t *o, uint8_t *nak, size_t *nlen, int nak_ok)
{
	lcp_opts_t *h = &l->his;
	uint8_t v[4];
	uint32_t x;

	switch (o->type) {
	case LCP_OPT_MRU:
		if (o->vlen != 2)
			return V_REJ;
		x = (uint32_t)(o->val[0] << 8 | o->val[1]);
		if (x < PPP_MIN_MRU) {
			if (!nak_ok)
				return V_REJ;
			v[0] = PPP_MIN_MRU >> 8;
			v[1] = PPP_MIN_MRU & 0xff;
			fsm_opt_put(nak, FSM_MAX_PKT, nlen, LCP_OPT_MRU, v, 2);
			return V_NAK;
		}
		h->neg_mru = 1;
		h->mru = (uint16_t)(x > PPP_MAX_MRU ? PPP_MAX_MRU : x);
		return V_ACK;
	case LCP_OPT_ACCM:
		if (o->vlen != 4)
			return V_REJ;
		h->neg_accm = 1;
		h->accm = get_be32(o->val);
		return V_ACK;
	case LCP_OPT_AUTH: {
		auth_method_t m = auth_parse(o->val, o->vlen), best;

		if (l->cfg.server)
			return V_REJ; /* we do not authenticate ourselves to clients */
		if (m != AUTH_NONE && (l->cfg.auth_methods & (1u << m))) {
			h->neg_auth = 1;
			h->auth = m;
			return V_ACK;
		}
		best = lcp_best_auth(l->cfg.auth_methods);
		if (best == AUTH_NONE || !nak_ok)
			return V_REJ;
		fsm_opt_put(nak, FSM_MAX_PKT, nlen, LCP_OPT_AUTH, v, auth_value(best, v));
		return V_NAK;
	}
	case LCP_OPT_MAGIC:
		if (o->vlen != 4)
			return V_REJ;
		x = get_be32(o->val);
		if (l->want.neg_magic && x == l->want.magic) {
			l->loops++;
			fsm_log(&l->fsm, LOG_INFO, "our magic number came back (%u)", l->loops);
			if (l->loops >= LCP_MAX_LOOPS)
				l->fsm.fail_req = "looped-back link";
			if (!nak_ok)
				return V_REJ;
			put_be32(v, new_magic(l->want.magic));
			fsm_opt_put(nak, FSM_MAX_PKT, nlen, LCP_OPT_MAGIC, v, 4);
			return V_NAK;
		}
		h->neg_magic = 1;
		h->magic = x;
		return V_ACK;
	case LCP_OPT_PFC:
		if (o->vlen)
			return V_REJ;
		h->pfc = 1;
		return V_ACK;
	case LCP_OPT_ACFC:
		if (o->vlen)
			return V_REJ;
		h->acfc = 1;
		return V_ACK;
	case LCP_OPT_FCS:
		if (o->vlen != 1 || !l->cfg.framing)
			return V_REJ;
		if (o->val[0] & LCP_FCS_16) {
			h->neg_fcs = 1;
			h->fcs = LCP_FCS_16;
			return V_ACK;
		}
		if (o->val[0] & LCP_FCS_32) {
			h->neg_fcs = 1;
			h->fcs = LCP_FCS_32;
			return V_ACK;
		}
		if (!nak_ok)
			return V_REJ;
		v[0] = LCP_FCS_16;
		fsm_opt_put(nak, FSM_MAX_PKT, nlen, LCP_OPT_FCS, v, 1);
		return V_NAK;
	default:
		return V_REJ;
	}
}

static int lcp_check_req(fsm_t *f, const uint8_t *opts, size_t len, uint8_t *rep, size_t cap,
                         size_t *replen, int nak_ok)
{
	lcp_t *l = lcp_of(f);
	uint8_t nak[FSM_MAX_PKT], seen[32] = {0};
	size_t off = 0, nlen = 0, rlen = 0;
	unsigned count = 0;
	fsm_opt_t o;
	int r;

	memset(&l->his, 0, sizeof(l->his));
	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		int verdict;

		if (++count > FSM_MAX_OPTS || (seen[o.type >> 3] & (1u << (o.type & 7))))
			verdict = V_REJ;
		else
			verdict = check_opt(l, &o, nak, &nlen, nak_ok);
		seen[o.type >> 3] |= (uint8_t)(1u << (o.type & 7));
		if (verdict == V_REJ)
			fsm_opt_put(rep, cap, &rlen, o.type, o.val, o.vlen);
	}
	if (r < 0)
		return 0; /* a mangled option list: silently discarded */
	return fsm_verdict(rep, cap, replen, rlen, nak, nlen);
}

static void lcp_got_ack(fsm_t *f)
{
	lcp_t *l = lcp_of(f);

	l->got = l->want;
}

/* Pick the next method to ask for after the peer refused the current one. */
static void next_auth(const lcp_t *l, lcp_opts_t *w, unsigned *refused, auth_method_t hint)
{
	unsigned left;

	*refused |= 1u << w->auth;
	left = l->cfg.auth_methods & ~*refused & ~1u;
	if (hint != AUTH_NONE && (left & (1u << hint))) {
		w->auth = hint;
		return;
	}
	w->auth = lcp_best_auth(left);
	w->neg_auth = w->auth != AUTH_NONE;
}

/* A Configure-Nak: move `want` toward the peer's hints; nothing changes
 * unless the whole packet parses. */
static int lcp_got_nak(fsm_t *f, const uint8_t *opts, size_t len)
{
	lcp_t *l = lcp_of(f);
	lcp_opts_t w = l->want;
	unsigned refused = l->auth_refused;
	uint32_t most = l->cfg.mru > PPP_DEFAULT_MRU ? l->cfg.mru : PPP_DEFAULT_MRU;
	size_t off = 0;
	fsm_opt_t o;
	int r;

	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		uint32_t x;

		switch (o.type) {
		case LCP_OPT_MRU:
			if (o.vlen != 2)
				break;
			/* what we can receive is bounded by our buffer */
			x = (uint32_t)(o.val[0] << 8 | o.val[1]);
			if (x < PPP_MIN_MRU)
				x = PPP_MIN_MRU;
			if (x > most)
				x = most;
			w.mru = (uint16_t)x;
			w.neg_mru = x != PPP_DEFAULT_MRU;
			break;
		case LCP_OPT_ACCM:
			if (o.vlen == 4 && l->cfg.framing) {
				w.accm |= get_be32(o.val);
				w.neg_accm = 1;
			}
			break;
		case LCP_OPT_AUTH:
			if (w.neg_auth)
				next_auth(l, &w, &refused, auth_parse(o.val, o.vlen));
			break;
		case LCP_OPT_MAGIC:
			if (w.neg_magic)
				w.magic = new_magic(w.magic);
			break;
		case LCP_OPT_PFC:
			w.pfc = 0;
			break;
		case LCP_OPT_ACFC:
			w.acfc = 0;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return -1;
	l->want = w;
	l->auth_refused = refused;
	return 0;
}

/* Was an option of this type in our request? */
static int requested(const fsm_t *f, uint8_t type)
{
	size_t off = 0;
	fsm_opt_t o;

	while (fsm_opt_next(f->req, f->req_len, &off, &o) > 0)
		if (o.type == type)
			return 1;
	return 0;
}

static int lcp_got_rej(fsm_t *f, const uint8_t *opts, size_t len)
{
	lcp_t *l = lcp_of(f);
	lcp_opts_t w = l->want;
	size_t off = 0;
	fsm_opt_t o;
	int r;

	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		if (!requested(f, o.type))
			return -1;
		switch (o.type) {
		case LCP_OPT_MRU:
			w.neg_mru = 0;
			break;
		case LCP_OPT_ACCM:
			w.neg_accm = 0;
			break;
		case LCP_OPT_AUTH:
			/* A server that must authenticate asks again a few
			 * times: the Reject may be our own request echoed back
			 * by a line not yet in raw mode (a guest's tty before
			 * pppd sets it up, a modem), answered by ourselves.  A
			 * peer that means it gets its way after Max-Failure,
			 * and LCP up then ends the link ("refuses to
			 * authenticate"). */
			if (!l->cfg.require_auth || ++l->auth_rejects >= FSM_MAX_FAILURE)
				w.neg_auth = 0;
			break;
		case LCP_OPT_MAGIC:
			w.neg_magic = 0;
			break;
		case LCP_OPT_PFC:
			w.pfc = 0;
			break;
		case LCP_OPT_ACFC:
			w.acfc = 0;
			break;
		default:
			break;
		}
	}
	if (r < 0)
		return -1;
	l->want = w;
	return 0;
}

static void lcp_up(fsm_t *f)
{
	lcp_t *l = lcp_of(f);

	l->echo_pending = 0;
	l->echo_loops = 0;
	l->echo_next = l->cfg.echo_interval_ms ? now_ms(l) + l->cfg.echo_interval_ms : 0;
}

static void lcp_down(fsm_t *f)
{
	lcp_of(f)->echo_next = 0;
}

static fsm_event_t lcp_classify(fsm_t *f, uint8_t code, const uint8_t *data, size_t len)
{
	lcp_t *l = lcp_of(f);
	uint16_t proto;

	switch (code) {
	case LCP_PROTO_REJ:
		/* RFC 1661 5.7: only meaningful while Opened */
		if (f->state != FSM_OPENED || len < 2)
			return FSM_NEVENTS;
		proto = (uint16_t)(data[0] << 8 | data[1]);
		fsm_log(f, LOG_INFO, "peer rejected protocol 0x%04x", proto);
		if (proto == PPP_LCP)
			return FSM_EV_RXJ_M;
		if (l->proto_rej)
			l->proto_rej(l->ud, proto);
		return FSM_EV_RXJ_P;
	case LCP_ECHO_REQ:
	case LCP_ECHO_REP:
	case LCP_DISC_REQ:
	case LCP_IDENT:
	case LCP_TIME_REM:
		return FSM_EV_RXR;
	default:
		return FSM_EV_RUC;
	}
}

static void lcp_rxr(fsm_t *f, uint8_t code, uint8_t id, const uint8_t *data, size_t len)
{
	lcp_t *l = lcp_of(f);
	uint32_t ours = l->got.neg_magic ? l->got.magic : 0;
	uint8_t rep[FSM_MAX_PKT];

	if (code != LCP_ECHO_REQ && code != LCP_ECHO_REP)
		return; /* Discard-Request, Identification, Time-Remaining */
	if (len < 4)
		return;
	if (ours && get_be32(data) == ours) {
		l->echo_loops++; /* acted on in lcp_tick, outside the fsm */
		return;
	}
	if (code == LCP_ECHO_REP) {
		l->echo_pending = 0;
		return;
	}
	if (len > sizeof(rep))
		len = sizeof(rep);
	put_be32(rep, ours);
	memcpy(rep + 4, data + 4, len - 4);
	fsm_send(f, LCP_ECHO_REP, id, rep, len);
}

/* A peer without Echo support: stop the keepalive rather than count it dead. */
static void lcp_code_rejected(fsm_t *f, uint8_t code)
{
	lcp_t *l = lcp_of(f);

	if (code == LCP_ECHO_REQ && l->echo_next) {
		fsm_log(f, LOG_INFO, "peer rejects Echo-Request: keepalive off");
		l->echo_next = 0;
		l->echo_pending = 0;
	}
}

static const fsm_ops_t lcp_ops = {
    .name = "lcp",
    .proto = PPP_LCP,
    .reset = lcp_reset,
    .build_req = lcp_build_req,
    .check_req = lcp_check_req,
    .got_ack = lcp_got_ack,
    .got_nak = lcp_got_nak,
    .got_rej = lcp_got_rej,
    .up = lcp_up,
    .down = lcp_down,
    .classify = lcp_classify,
    .rxr = lcp_rxr,
    .code_rejected = lcp_code_rejected,
};

void lcp_init(lcp_t *l, const lcp_cfg_t *cfg, const fsm_env_t *env)
{
	memset(l, 0, sizeof(*l));
	l->cfg = *cfg;
	fsm_init(&l->fsm, &lcp_ops, env, l);
}

void lcp_tick(lcp_t *l)
{
	fsm_t *f = &l->fsm;
	uint8_t v[4];

	fsm_tick(f);
	if (f->state != FSM_OPENED)
		return;
	if (l->echo_loops >= LCP_MAX_LOOPS) {
		fsm_fail(f, "looped-back link (echo)");
		return;
	}
	if (!l->echo_next || now_ms(l) < l->echo_next)
		return;
	if (l->echo_pending >= l->cfg.echo_failures) {
		fsm_fail(f, "peer not responding to echo requests");
		return;
	}
	put_be32(v, l->got.neg_magic ? l->got.magic : 0);
	fsm_send(f, LCP_ECHO_REQ, fsm_next_id(f), v, 4);
	l->echo_pending++;
	l->echo_next = now_ms(l) + l->cfg.echo_interval_ms;
}

uint64_t lcp_deadline(const lcp_t *l)
{
	uint64_t d = fsm_deadline(&l->fsm);

	if (l->fsm.state == FSM_OPENED && l->echo_next && (!d || l->echo_next < d))
		d = l->echo_next;
	return d;
}

void lcp_protocol_reject(lcp_t *l, uint16_t proto, const uint8_t *info, size_t len)
{
	uint8_t data[FSM_MAX_PKT];

	if (l->fsm.state != FSM_OPENED)
		return;
	if (len > sizeof(data) - 2 - 4)
		len = sizeof(data) - 2 - 4;
	data[0] = (uint8_t)(proto >> 8);
	data[1] = (uint8_t)proto;
	if (len)
		memcpy(data + 2, info, len);
	fsm_send(&l->fsm, LCP_PROTO_REJ, fsm_next_id(&l->fsm), data, len + 2);
}
