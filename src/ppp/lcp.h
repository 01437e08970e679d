/* lcp: the Link Control Protocol (RFC 1661), one fsm_t instance with the
 * LCP options and the LCP-only packets.
 *
 *   options   MRU (1), Async-Control-Character-Map (2), Authentication-
 *             Protocol (3: PAP c023, CHAP c223 with MD5 5 or MS-CHAPv2
 *             0x81), Magic-Number (5), Protocol-Field-Compression (7),
 *             Address-and-Control-Field-Compression (8), FCS-Alternatives
 *             (9, RFC 1570; FCS-32 is used for sending if the peer asks
 *             for it alone); everything else is rejected.
 *   roles     the server asks the peer to authenticate (its strongest
 *             method first, the next one when Nak'd) and refuses to
 *             authenticate itself; the client accepts the methods allowed
 *             to it and Naks others with its strongest allowed one.
 *   magic     our Magic-Number coming back in the peer's request means a
 *             looped-back line: we Nak it (both sides pick new numbers)
 *             and after LCP_MAX_LOOPS such requests the fsm gives up.
 *   packets   Echo-Request/Reply (keepalive: one request per interval,
 *             fail after echo_failures unanswered), Discard-Request,
 *             Identification and Time-Remaining (ignored), Protocol-
 *             Reject (sent for unknown protocols; received: the owner
 *             hears which protocol), Code-Reject via the fsm.
 *
 * `want` is what our next Configure-Request asks, `got` what the peer
 * acked of it (options for our receive side), `his` what we acked of the
 * peer's (options for our send side).
 */
#ifndef SLUICE_PPP_LCP_H
#define SLUICE_PPP_LCP_H

#include <stddef.h>
#include <stdint.h>

#include "ppp/auth.h"
#include "ppp/fsm.h"

#define PPP_DEFAULT_MRU 1500
#define PPP_MIN_MRU 128
#define PPP_MAX_MRU 8192
#define LCP_MAX_LOOPS 5

/* LCP option types */
enum {
	LCP_OPT_MRU = 1,
	LCP_OPT_ACCM = 2,
	LCP_OPT_AUTH = 3,
	LCP_OPT_QUALITY = 4,
	LCP_OPT_MAGIC = 5,
	LCP_OPT_PFC = 7,
	LCP_OPT_ACFC = 8,
	LCP_OPT_FCS = 9,
};

#define LCP_FCS_16 0x02
#define LCP_FCS_32 0x04

typedef struct lcp_opts {
	unsigned neg_mru : 1, neg_accm : 1, neg_auth : 1, neg_magic : 1, pfc : 1, acfc : 1,
	    neg_fcs : 1;
	uint16_t mru;
	uint32_t accm;
	auth_method_t auth;
	uint32_t magic;
	uint8_t fcs;
} lcp_opts_t;

typedef struct lcp_cfg {
	int server;
	int framing;               /* 1: async HDLC: ACCM, PFC, ACFC are asked for */
	unsigned auth_methods;     /* 1 << auth_method_t; server: to ask, client: to accept */
	int require_auth;          /* server: see lcp_got_rej() */
	uint16_t mru;              /* our MRU */
	uint32_t accm;             /* async map we ask for */
	uint64_t echo_interval_ms; /* 0: no keepalive */
	unsigned echo_failures;
} lcp_cfg_t;

typedef struct lcp {
	fsm_t fsm;
	lcp_cfg_t cfg;
	lcp_opts_t want, got, his;
	unsigned auth_refused; /* methods the peer Nak'd away this negotiation */
	unsigned auth_rejects; /* Rejects of our Authentication-Protocol, this negotiation */
	unsigned loops;        /* our magic came back */
	unsigned echo_loops;   /* our Echo-Requests came back */
	uint64_t echo_next;
	unsigned echo_pending;
	/* the peer Protocol-Rejected proto (while Opened) */
	void (*proto_rej)(void *ud, uint16_t proto);
	void *ud;
} lcp_t;

void lcp_init(lcp_t *l, const lcp_cfg_t *cfg, const fsm_env_t *env);
/* The restart timer and the keepalive. */
void lcp_tick(lcp_t *l);
uint64_t lcp_deadline(const lcp_t *l);
/* Reject a packet of an unknown protocol (only while Opened). */
void lcp_protocol_reject(lcp_t *l, uint16_t proto, const uint8_t *info, size_t len);
/* The strongest method in a 1 << auth_method_t mask, AUTH_NONE if none. */
auth_method_t lcp_best_auth(unsigned mask);

#endif
