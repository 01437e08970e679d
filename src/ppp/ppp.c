/* ppp: see ppp.h.  The engine glues the pieces together:
 *
 *   bytes -> hdlc deframer -> frame -> header (ACFC/PFC) -> by protocol:
 *            LCP -> lcp fsm;  PAP/CHAP -> auth;  IPCP/IPV6CP -> their fsm
 *            (network phase only);  IP/IPv6 -> ip_input (NCP opened only);
 *            anything else -> LCP Protocol-Reject (LCP opened only)
 *   fsm/auth output -> header -> hdlc encoder (or the bare frame) -> output
 *
 * Phases follow RFC 1661 3.2 and change only in ppp_set_phase():
 *
 *   Dead -> Establish        ppp_start: LCP Open + Up
 *   Establish -> Authenticate LCP up and someone must authenticate
 *   Establish/Authenticate -> Network   (auth done) IPCP/IPV6CP Up
 *   Network -> Running       IPCP (and IPV6CP, or its failure) up: up()
 *   any -> Establish         LCP renegotiates (this-layer-down)
 *   any -> Terminate         LCP closing;  any -> Dead: down()
 *
 * Link-level failure (LCP giving up, authentication failed, a dead peer,
 * no usable network protocol) sends one LCP Terminate-Request and goes
 * Dead at once; a peer's Terminate-Request and ppp_close() take the
 * ordinary LCP path (Terminate-Ack or the restart timer) to Dead.  An NCP
 * that gives up is closed alone; the link goes when none is left.
 *
 * Re-entrancy: up() and down() are not called from deep inside the
 * machinery but when the outermost ppp_* call returns (`depth`), down()
 * last of all, so the owner may free the engine from down().  Callbacks
 * from auth are likewise only noted (auth_result) and acted on after
 * auth_input()/auth_tick() return, since acting may free the auth_t.
 *
 * Framing-free mode (framing = 0, for SSTP): [MS-SSTP] only says the SSTP
 * data packet carries "the PPP frame".  Existing implementations settle
 * what that means: SoftEther's SSTP server (Proto_PPP.c, ParsePPPPacket)
 * drops any frame that does not start with ff 03 and always sends ff 03;
 * Open-SSTP-Client, which talks to Windows RRAS, asserts ff 03 on every
 * frame it receives and sends it on every frame; accel-ppp and sstp-client
 * pass pppd's frames through with whatever pppd put in them.  So in this
 * mode we always send ff 03 and an uncompressed protocol field (whatever
 * ACFC/PFC the peer allowed), and accept frames with or without ff 03 and
 * with either protocol field size.  ACCM, PFC and ACFC are not asked for.
 */
#include "ppp/ppp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ppp/fsm.h"
#include "ppp/hdlc.h"
#include "ppp/ipcp.h"
#include "ppp/ipv6cp.h"
#include "ppp/lcp.h"

#define PPP_AUTH_TIMEOUT_MS 40000 /* the whole authentication phase */
#define PPP_V6_GRACE_MS 3000      /* IPCP up: how long up() waits for IPV6CP */
#define PPP_AUTH_TICK_MS 100
#define PPP_FRAME_MAX (PPP_MAX_MRU + 4)     /* address .. information */
#define PPP_RXBUF (PPP_MAX_MRU + 4 + 4 + 8) /* + header + FCS-32 + slack */

struct ppp {
	ppp_cfg_t cfg;
	char *name, *password;
	ppp_cbs_t cbs;
	void *ud;
	uint64_t now;
	ppp_phase_t phase;
	fsm_env_t env;
	lcp_t lcp;
	ipcp_t ipcp;
	ipv6cp_t ipv6cp;
	/* authentication */
	auth_t *auth;
	int auth_result; /* 0 pending, 1 ok, -1 failed */
	char auth_msg[96];
	uint64_t auth_deadline;
	/* framing */
	hdlc_rx_t rx;
	hdlc_tx_t tx, tx_lcp; /* negotiated map; all of 00..1f for LCP */
	int tx_acfc, tx_pfc;
	uint16_t peer_mru;
	/* the network */
	ppp_ipcfg_t ip;
	int up_reported, up_pending;
	uint64_t v6_grace;
	/* teardown */
	int depth, dead, down_reported;
	char down_reason[128];
	ppp_stats_t stats;
	uint8_t rxbuf[PPP_RXBUF];
	uint8_t frame[PPP_FRAME_MAX];
	uint8_t wire[HDLC_ENCODED_MAX(PPP_FRAME_MAX)];
};

static const char *const phase_names[] = {
    "Dead", "Establish", "Authenticate", "Network", "Running", "Terminate",
};

const char *ppp_phase_name(ppp_phase_t ph)
{
	return (unsigned)ph <= PPP_TERMINATE ? phase_names[ph] : "?";
}

static void plog(ppp_t *p, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void plog(ppp_t *p, int level, const char *fmt, ...)
{
	char msg[192];
	va_list ap;

	if (!p->cbs.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->cbs.log(p->ud, level, msg);
}

/* Which phase changes RFC 1661 3.2 allows (Dead is always reachable). */
static int phase_legal(ppp_phase_t from, ppp_phase_t to)
{
	/* clang-format off */
	static const unsigned char ok[6][6] = {
	    /* to: Dead Est Auth Net Run Term */
	    [PPP_DEAD] = {1, 1, 0, 0, 0, 0},
	    [PPP_ESTABLISH] = {1, 1, 1, 1, 0, 1},
	    [PPP_AUTHENTICATE] = {1, 1, 1, 1, 0, 1},
	    [PPP_NETWORK] = {1, 1, 0, 1, 1, 1},
	    [PPP_RUNNING] = {1, 1, 0, 1, 1, 1},
	    [PPP_TERMINATE] = {1, 0, 0, 0, 0, 1},
	};
	/* clang-format on */
	return ok[from][to];
}

static void ppp_set_phase(ppp_t *p, ppp_phase_t to)
{
	if (p->phase == to)
		return;
	if (!phase_legal(p->phase, to)) {
		plog(p, LOG_ERR, "ppp: illegal phase change %s -> %s", ppp_phase_name(p->phase),
		     ppp_phase_name(to));
		return;
	}
	plog(p, LOG_DEBUG, "ppp: %s -> %s", ppp_phase_name(p->phase), ppp_phase_name(to));
	p->phase = to;
}

/* ---- output ---- */

static void send_frame(ppp_t *p, uint16_t proto, const uint8_t *info, size_t len)
{
	int lcp = proto == PPP_LCP;
	size_t h, n;

	if (p->dead)
		return;
	if (p->cfg.framing)
		h = hdlc_put_header(p->frame, proto, p->tx_acfc && !lcp, p->tx_pfc && !lcp);
	else
		h = hdlc_put_header(p->frame, proto, 0, 0);
	if (len > sizeof(p->frame) - h)
		return;
	memcpy(p->frame + h, info, len);
	len += h;
	if (p->cfg.framing) {
		n = hdlc_encode(lcp ? &p->tx_lcp : &p->tx, p->frame, len, p->wire, sizeof(p->wire));
		if (!n)
			return;
		p->cbs.output(p->ud, p->wire, n);
	} else {
		n = len;
		p->cbs.output(p->ud, p->frame, n);
	}
	p->stats.frames_out++;
	p->stats.bytes_out += n;
}

/* ---- teardown ---- */

/* Record that the link is gone; down() follows when the outermost call
 * returns.  The first reason wins. */
static void link_down(ppp_t *p, const char *reason)
{
	if (!p->down_reason[0])
		snprintf(p->down_reason, sizeof(p->down_reason), "%s", reason ? reason : "down");
	if (p->dead)
		return;
	ppp_set_phase(p, PPP_DEAD);
	p->dead = 1;
	p->up_pending = 0;
	plog(p, LOG_INFO, "ppp: link down: %s", p->down_reason);
}

/* End the link now: one Terminate-Request, then Dead. */
static void link_fail(ppp_t *p, const char *reason)
{
	if (p->dead)
		return;
	if (!p->down_reason[0])
		snprintf(p->down_reason, sizeof(p->down_reason), "%s", reason);
	plog(p, LOG_WARN, "ppp: %s", reason);
	fsm_close(&p->lcp.fsm, reason);
	link_down(p, reason);
}

static void enter(ppp_t *p, uint64_t now)
{
	p->depth++;
	if (now > p->now)
		p->now = now;
}

static void leave(ppp_t *p)
{
	if (--p->depth)
		return;
	if (p->up_pending && !p->dead) {
		p->up_pending = 0;
		p->up_reported = 1;
		if (p->cbs.up) {
			p->depth++;
			p->cbs.up(p->ud, &p->ip);
			p->depth--;
		}
	}
	if (p->dead && !p->down_reported) {
		p->down_reported = 1;
		if (p->cbs.down)
			p->cbs.down(p->ud, p->down_reason); /* may free p: nothing after */
	}
}

/* ---- network phase ---- */

static int negotiating(const fsm_t *f)
{
	return f->state == FSM_REQ_SENT || f->state == FSM_ACK_RCVD || f->state == FSM_ACK_SENT;
}

/* Report up() once IPCP is up and IPV6CP has settled (or had its grace),
 * or IPCP has failed and IPV6CP is up. */
static void maybe_up(ppp_t *p)
{
	int v4 = p->ipcp.fsm.state == FSM_OPENED;
	int v6 = p->cfg.ipv6 && p->ipv6cp.fsm.state == FSM_OPENED;
	int v6_wait = p->cfg.ipv6 && negotiating(&p->ipv6cp.fsm) && p->now < p->v6_grace;

	if (p->up_reported || p->up_pending || p->dead)
		return;
	if (!(v4 && !v6_wait) && !(v6 && !v4 && !negotiating(&p->ipcp.fsm)))
		return;
	if (!v4)
		p->ip.local = p->ip.peer = p->ip.dns1 = p->ip.dns2 = 0;
	p->ip.ipv6 = v6;
	ppp_set_phase(p, PPP_RUNNING);
	p->up_pending = 1;
	plog(p, LOG_INFO, "ppp: network up%s%s", v4 ? " ipv4" : "", v6 ? " ipv6" : "");
}

/* An NCP finished: without any NCP left, the link has no purpose. */
static void ncp_finished(ppp_t *p, fsm_t *f)
{
	int left = p->ipcp.fsm.state == FSM_OPENED || negotiating(&p->ipcp.fsm);

	if (p->cfg.ipv6)
		left |= p->ipv6cp.fsm.state == FSM_OPENED || negotiating(&p->ipv6cp.fsm);
	if (!left) {
		link_fail(p, f->reason[0] ? f->reason : "no network protocol");
		return;
	}
	maybe_up(p);
}

static void enter_network(ppp_t *p)
{
	ppp_set_phase(p, PPP_NETWORK);
	if (p->cbs.authed)
		p->cbs.authed(p->ud);
	fsm_up(&p->ipcp.fsm);
	if (p->cfg.ipv6)
		fsm_up(&p->ipv6cp.fsm);
}

/* ---- authentication ---- */

static void auth_send_cb(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	send_frame(ud, proto, pkt, len);
}

static int auth_lookup_cb(void *ud, const char *user, char *secret, size_t cap)
{
	ppp_t *p = ud;

	return p->cbs.lookup ? p->cbs.lookup(p->ud, user, secret, cap) : -1;
}

static void auth_done_cb(void *ud, int ok, const char *msg)
{
	ppp_t *p = ud;

	if (p->auth_result)
		return;
	p->auth_result = ok ? 1 : -1;
	snprintf(p->auth_msg, sizeof(p->auth_msg), "%s", msg ? msg : "");
}

static int64_t auth_judged_cb(void *ud, int ok)
{
	ppp_t *p = ud;

	return p->cbs.judged ? p->cbs.judged(p->ud, ok) : 0;
}

static const auth_cbs_t auth_cbs = {
    .send = auth_send_cb,
    .lookup = auth_lookup_cb,
    .done = auth_done_cb,
    .judged = auth_judged_cb,
};

/* After auth ran: act on its verdict. */
static void auth_settle(ppp_t *p)
{
	char why[160];

	if (!p->auth || p->phase != PPP_AUTHENTICATE || !p->auth_result)
		return;
	if (p->auth_result > 0) {
		plog(p, LOG_INFO, "ppp: authentication ok%s%s", p->auth_msg[0] ? ": " : "",
		     p->auth_msg);
		enter_network(p);
		return;
	}
	snprintf(why, sizeof(why), "authentication failed%s%s", p->auth_msg[0] ? ": " : "",
	         p->auth_msg);
	link_fail(p, why);
}

static const char *method_name(auth_method_t m)
{
	static const char *const names[] = {"none", "PAP", "CHAP-MD5", "MS-CHAPv2"};

	return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "?";
}

static void start_auth(ppp_t *p, int authenticator, auth_method_t m)
{
	auth_cfg_t ac = {
	    .authenticator = authenticator,
	    .method = m,
	    .name = p->name ? p->name : "",
	    .password = p->password ? p->password : "",
	};

	ppp_set_phase(p, PPP_AUTHENTICATE);
	p->auth_result = 0;
	p->auth_msg[0] = 0;
	p->auth = auth_new(&ac, &auth_cbs, p);
	if (!p->auth) {
		link_fail(p, "authentication: out of memory");
		return;
	}
	p->auth_deadline = p->now + PPP_AUTH_TIMEOUT_MS;
	plog(p, LOG_DEBUG, "ppp: authenticating %s with %s",
	     authenticator ? "the peer" : "to the peer", method_name(m));
	auth_start(p->auth, p->now);
	auth_settle(p);
}

/* ---- layer events from the fsm instances ---- */

static void lcp_layer_up(ppp_t *p)
{
	const lcp_opts_t *his = &p->lcp.his, *got = &p->lcp.got;

	p->peer_mru = his->neg_mru ? his->mru : PPP_DEFAULT_MRU;
	p->lcp.fsm.peer_mru = p->ipcp.fsm.peer_mru = p->ipv6cp.fsm.peer_mru = p->peer_mru;
	if (p->cfg.framing) {
		int fcs32 = his->neg_fcs && his->fcs == LCP_FCS_32;

		hdlc_tx_init(&p->tx, his->neg_accm ? his->accm : 0xffffffffu, fcs32);
		hdlc_tx_init(&p->tx_lcp, 0xffffffffu, fcs32);
		p->tx_acfc = his->acfc;
		p->tx_pfc = his->pfc;
		p->rx.accm = got->neg_accm ? got->accm : 0;
	}
	if (p->cfg.server && got->neg_auth) {
		start_auth(p, 1, got->auth);
		return;
	}
	if (p->cfg.server && p->cfg.require_auth) {
		link_fail(p, "peer refuses to authenticate");
		return;
	}
	if (!p->cfg.server && his->neg_auth) {
		start_auth(p, 0, his->auth);
		return;
	}
	enter_network(p);
}

static void lcp_layer_down(ppp_t *p)
{
	/* the NCPs lose their lower layer; options revert to the defaults */
	fsm_down(&p->ipcp.fsm);
	if (p->cfg.ipv6)
		fsm_down(&p->ipv6cp.fsm);
	if (p->auth) {
		auth_free(p->auth);
		p->auth = NULL;
	}
	p->auth_result = 0;
	p->up_reported = p->up_pending = 0;
	hdlc_tx_init(&p->tx, 0xffffffffu, 0);
	hdlc_tx_init(&p->tx_lcp, 0xffffffffu, 0);
	p->tx_acfc = p->tx_pfc = 0;
	p->rx.accm = 0;
	p->peer_mru = PPP_DEFAULT_MRU;
	if (p->lcp.fsm.target == FSM_CLOSING || p->lcp.fsm.target == FSM_STOPPING)
		ppp_set_phase(p, PPP_TERMINATE);
	else
		ppp_set_phase(p, PPP_ESTABLISH);
}

static void env_layer(void *ud, fsm_t *f, fsm_layer_t ev)
{
	ppp_t *p = ud;

	if (p->dead)
		return;
	if (f == &p->lcp.fsm) {
		switch (ev) {
		case FSM_LAYER_UP:
			lcp_layer_up(p);
			break;
		case FSM_LAYER_DOWN:
			lcp_layer_down(p);
			break;
		case FSM_LAYER_FINISHED:
			link_down(p, f->reason[0] ? f->reason : "lcp: finished");
			break;
		case FSM_LAYER_STARTED:
			break;
		}
		return;
	}
	switch (ev) {
	case FSM_LAYER_UP:
		if (f == &p->ipcp.fsm) {
			if (!p->cfg.server && !p->ipcp.local) {
				link_fail(p, "ipcp: no address assigned");
				return;
			}
			p->ip.local = p->ipcp.local;
			p->ip.peer = p->ipcp.peer;
			p->ip.dns1 = p->ipcp.got_dns1;
			p->ip.dns2 = p->ipcp.got_dns2;
			p->v6_grace = p->now + PPP_V6_GRACE_MS;
		} else {
			memcpy(p->ip.local_ifid, p->ipv6cp.local, 8);
			memcpy(p->ip.peer_ifid, p->ipv6cp.peer, 8);
		}
		maybe_up(p);
		break;
	case FSM_LAYER_DOWN:
		/* renegotiation: IP of this family stops until it is up again;
		 * without IPv4 the owner hears up() again when it is back */
		if (p->lcp.fsm.state != FSM_OPENED || p->lcp.fsm.target != FSM_OPENED)
			break; /* LCP itself is going down: lcp_layer_down() decides */
		if (f == &p->ipcp.fsm || p->ipcp.fsm.state != FSM_OPENED) {
			p->up_reported = p->up_pending = 0;
			ppp_set_phase(p, PPP_NETWORK);
		} else {
			p->ip.ipv6 = 0;
		}
		break;
	case FSM_LAYER_FINISHED:
		ncp_finished(p, f);
		break;
	case FSM_LAYER_STARTED:
		break;
	}
}

static void env_fail(void *ud, fsm_t *f, const char *reason)
{
	ppp_t *p = ud;

	if (f == &p->lcp.fsm)
		link_fail(p, reason);
	else
		fsm_close(f, reason); /* one NCP gives up; ncp_finished() decides */
}

static void env_output(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	send_frame(ud, proto, pkt, len);
}

static void env_log(void *ud, int level, const char *msg)
{
	ppp_t *p = ud;

	if (p->cbs.log)
		p->cbs.log(p->ud, level, msg);
}

static void lcp_proto_rej(void *ud, uint16_t proto)
{
	ppp_t *p = ud;

	if (proto == PPP_IPCP)
		fsm_protocol_rejected(&p->ipcp.fsm);
	else if (proto == PPP_IPV6CP && p->cfg.ipv6)
		fsm_protocol_rejected(&p->ipv6cp.fsm);
	else if ((proto == PPP_PAP || proto == PPP_CHAP) && p->phase == PPP_AUTHENTICATE)
		link_fail(p, "peer rejected the authentication protocol");
}

/* ---- input ---- */

static void handle_frame(ppp_t *p, const uint8_t *f, size_t len)
{
	uint16_t proto;
	int h;

	if (p->dead)
		return;
	p->stats.frames_in++;
	h = hdlc_parse_header(f, len, &proto);
	if (h < 0)
		return;
	f += h;
	len -= (size_t)h;
	switch (proto) {
	case PPP_LCP:
		fsm_input(&p->lcp.fsm, f, len);
		return;
	case PPP_PAP:
	case PPP_CHAP:
		if (p->auth) {
			auth_input(p->auth, proto, f, len, p->now);
			auth_settle(p);
		}
		return;
	case PPP_IPCP:
		if (p->phase == PPP_NETWORK || p->phase == PPP_RUNNING)
			fsm_input(&p->ipcp.fsm, f, len);
		return;
	case PPP_IP:
		if (p->ipcp.fsm.state == FSM_OPENED && p->phase == PPP_RUNNING) {
			p->stats.ip_in++;
			if (p->cbs.ip_input)
				p->cbs.ip_input(p->ud, proto, f, len);
		}
		return;
	case PPP_IPV6CP:
		if (!p->cfg.ipv6)
			break;
		if (p->phase == PPP_NETWORK || p->phase == PPP_RUNNING)
			fsm_input(&p->ipv6cp.fsm, f, len);
		return;
	case PPP_IPV6:
		if (!p->cfg.ipv6)
			break;
		if (p->ipv6cp.fsm.state == FSM_OPENED && p->phase == PPP_RUNNING) {
			p->stats.ip_in++;
			if (p->cbs.ip_input)
				p->cbs.ip_input(p->ud, proto, f, len);
		}
		return;
	default:
		break;
	}
	/* CCP (0x80fd), compressed data, IPX, ...: not ours */
	plog(p, LOG_DEBUG, "ppp: protocol 0x%04x rejected", proto);
	lcp_protocol_reject(&p->lcp, proto, f, len);
}

static int deframed(void *ud, const uint8_t *frame, size_t len)
{
	ppp_t *p = ud;

	handle_frame(p, frame, len);
	return p->dead;
}

/* ---- the API ---- */

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

ppp_t *ppp_new(const ppp_cfg_t *cfg, const ppp_cbs_t *cbs, void *ud)
{
	lcp_cfg_t lc = {0};
	ipcp_cfg_t ic = {0};
	ppp_t *p;

	if (!cfg || !cbs || !cbs->output)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->cbs = *cbs;
	p->ud = ud;
	p->name = dup_str(cfg->name);
	p->password = dup_str(cfg->password);
	if ((cfg->name && !p->name) || (cfg->password && !p->password)) {
		ppp_free(p);
		return NULL;
	}
	p->cfg.name = p->name;
	p->cfg.password = p->password;
	if (!p->cfg.mru)
		p->cfg.mru = PPP_DEFAULT_MRU;
	if (p->cfg.mru < PPP_MIN_MRU)
		p->cfg.mru = PPP_MIN_MRU;
	if (p->cfg.mru > PPP_MAX_MRU)
		p->cfg.mru = PPP_MAX_MRU;
	if (!p->cfg.echo_failures)
		p->cfg.echo_failures = 3;
	p->cfg.auth_methods &= (1u << AUTH_PAP) | (1u << AUTH_CHAP_MD5) | (1u << AUTH_MSCHAPV2);
	if (!p->cfg.auth_methods && (p->cfg.server ? p->cfg.require_auth : p->password != NULL))
		p->cfg.auth_methods =
		    (1u << AUTH_PAP) | (1u << AUTH_CHAP_MD5) | (1u << AUTH_MSCHAPV2);

	p->env.ud = p;
	p->env.now = &p->now;
	p->env.output = env_output;
	p->env.log = env_log;
	p->env.layer = env_layer;
	p->env.fail = env_fail;

	lc.server = p->cfg.server;
	lc.framing = p->cfg.framing;
	lc.auth_methods = p->cfg.auth_methods;
	lc.require_auth = p->cfg.server && p->cfg.require_auth;
	lc.mru = p->cfg.mru;
	lc.accm = p->cfg.accm;
	lc.echo_interval_ms = p->cfg.echo_interval_ms;
	lc.echo_failures = p->cfg.echo_failures;
	lcp_init(&p->lcp, &lc, &p->env);
	p->lcp.proto_rej = lcp_proto_rej;
	p->lcp.ud = p;

	ic.server = p->cfg.server;
	ic.local = p->cfg.ip.local;
	ic.peer = p->cfg.ip.peer;
	ic.dns1 = p->cfg.ip.dns1;
	ic.dns2 = p->cfg.ip.dns2;
	ipcp_init(&p->ipcp, &ic, &p->env);
	ipv6cp_init(&p->ipv6cp, p->cfg.ip.local_ifid, p->cfg.ip.peer_ifid, &p->env);

	/* frames up to our MRU, and never less than 1500 (RFC 1661 6.1), plus
	 * address/control, protocol and FCS-32 */
	hdlc_rx_init(&p->rx, p->rxbuf,
	             (p->cfg.mru > PPP_DEFAULT_MRU ? p->cfg.mru : PPP_DEFAULT_MRU) + 4 + 4 + 8,
	             deframed, p);
	hdlc_tx_init(&p->tx, 0xffffffffu, 0);
	hdlc_tx_init(&p->tx_lcp, 0xffffffffu, 0);
	p->peer_mru = PPP_DEFAULT_MRU;
	p->phase = PPP_DEAD;
	return p;
}

void ppp_free(ppp_t *p)
{
	if (!p)
		return;
	if (p->auth)
		auth_free(p->auth);
	free(p->name);
	free(p->password);
	free(p);
}

void ppp_start(ppp_t *p, uint64_t now_ms)
{
	if (p->dead || p->phase != PPP_DEAD)
		return;
	enter(p, now_ms);
	ppp_set_phase(p, PPP_ESTABLISH);
	fsm_open(&p->ipcp.fsm);
	if (p->cfg.ipv6)
		fsm_open(&p->ipv6cp.fsm);
	fsm_open(&p->lcp.fsm);
	fsm_up(&p->lcp.fsm);
	leave(p);
}

void ppp_input_bytes(ppp_t *p, const uint8_t *buf, size_t len, uint64_t now_ms)
{
	if (p->dead)
		return;
	enter(p, now_ms);
	p->stats.bytes_in += len;
	if (p->cfg.framing) {
		hdlc_rx_feed(&p->rx, buf, len);
		p->stats.bad_fcs = p->rx.bad_fcs;
		p->stats.runts = p->rx.runts;
		p->stats.oversize = p->rx.oversize;
	} else {
		handle_frame(p, buf, len);
	}
	leave(p);
}

void ppp_input_frame(ppp_t *p, const uint8_t *frame, size_t len, uint64_t now_ms)
{
	if (p->dead)
		return;
	enter(p, now_ms);
	p->stats.bytes_in += len;
	handle_frame(p, frame, len);
	leave(p);
}

void ppp_tick(ppp_t *p, uint64_t now_ms)
{
	if (p->dead)
		return;
	enter(p, now_ms);
	lcp_tick(&p->lcp);
	if (!p->dead)
		fsm_tick(&p->ipcp.fsm);
	if (!p->dead && p->cfg.ipv6)
		fsm_tick(&p->ipv6cp.fsm);
	if (!p->dead && p->auth) {
		auth_tick(p->auth, p->now);
		auth_settle(p);
		if (!p->dead && p->phase == PPP_AUTHENTICATE && p->now >= p->auth_deadline)
			link_fail(p, "authentication timed out");
	}
	if (!p->dead)
		maybe_up(p);
	leave(p);
}

static uint64_t earlier(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

uint64_t ppp_next_deadline(const ppp_t *p)
{
	uint64_t d;

	if (p->dead)
		return 0;
	d = lcp_deadline(&p->lcp);
	d = earlier(d, fsm_deadline(&p->ipcp.fsm));
	if (p->cfg.ipv6)
		d = earlier(d, fsm_deadline(&p->ipv6cp.fsm));
	if (p->phase == PPP_AUTHENTICATE) {
		d = earlier(d, p->auth_deadline);
		d = earlier(d, p->now + PPP_AUTH_TICK_MS);
	}
	if (!p->up_reported && p->ipcp.fsm.state == FSM_OPENED && p->cfg.ipv6 &&
	    negotiating(&p->ipv6cp.fsm))
		d = earlier(d, p->v6_grace);
	return d;
}

int ppp_send_ip(ppp_t *p, uint16_t proto, const uint8_t *pkt, size_t len)
{
	const fsm_t *ncp;

	if (proto == PPP_IP)
		ncp = &p->ipcp.fsm;
	else if (proto == PPP_IPV6 && p->cfg.ipv6)
		ncp = &p->ipv6cp.fsm;
	else
		return -EPROTONOSUPPORT;
	if (p->dead || p->phase != PPP_RUNNING || ncp->state != FSM_OPENED)
		return -ENOTCONN;
	if (len > p->peer_mru)
		return -EMSGSIZE;
	p->depth++;
	send_frame(p, proto, pkt, len);
	p->stats.ip_out++;
	p->depth--;
	return 0;
}

void ppp_close(ppp_t *p, const char *reason)
{
	if (p->dead)
		return;
	enter(p, p->now);
	plog(p, LOG_INFO, "ppp: closing: %s", reason ? reason : "");
	if (p->phase == PPP_DEAD)
		link_down(p, reason ? reason : "closed"); /* never started */
	else
		fsm_close(&p->lcp.fsm, reason ? reason : "closed");
	leave(p);
}

ppp_phase_t ppp_phase(const ppp_t *p)
{
	return p->phase;
}

const char *ppp_lcp_state(const ppp_t *p)
{
	return fsm_state_name(p->lcp.fsm.state);
}

const auth_t *ppp_auth(const ppp_t *p)
{
	return p->auth;
}

uint16_t ppp_peer_mru(const ppp_t *p)
{
	return p->peer_mru;
}

const ppp_stats_t *ppp_stats(const ppp_t *p)
{
	return &p->stats;
}
