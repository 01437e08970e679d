/* ppp: one PPP engine for both roles (RFC 1661, 1662, 1332, 1877, 5072).
 *
 * The engine is pure: bytes or frames in, frames out through callbacks,
 * time passed in.  The owner (a serial/TCP/UNIX link, or SSTP) feeds what it
 * reads with ppp_input_bytes() (async HDLC, RFC 1662) or ppp_input_frame()
 * (framing-free: links such as SSTP that carry whole PPP frames), calls
 * ppp_tick() at least every 100 ms (or at ppp_next_deadline()), and writes
 * out whatever the output callback gives it.
 *
 *   phases: DEAD -> ESTABLISH (LCP) -> AUTHENTICATE -> NETWORK (IPCP,
 *           IPV6CP) -> RUNNING (IP flows) -> TERMINATE -> DEAD
 *   roles:  server (authenticator; assigns the peer's address and DNS) or
 *           client (peer; authenticates itself, asks for an address and DNS)
 *
 * LCP, IPCP and IPV6CP share one option-negotiation automaton (fsm.c, the
 * ten states of RFC 1661 4.1, restart timer and counters).  A peer that
 * never converges (Configure-Request loops, option floods, Nak loops past
 * max-failure) costs its own session only: the engine gives up and reports
 * down.  Echo keepalive: LCP Echo-Request every `echo_interval_ms`, down
 * after `echo_failures` unanswered.
 */
#ifndef SLUICE_PPP_H
#define SLUICE_PPP_H

#include <stddef.h>
#include <stdint.h>

#include "ppp/auth.h"

#define PPP_IP 0x0021
#define PPP_IPV6 0x0057
#define PPP_LCP 0xc021
#define PPP_IPCP 0x8021
#define PPP_IPV6CP 0x8057

typedef struct ppp ppp_t;

typedef enum ppp_phase {
	PPP_DEAD,
	PPP_ESTABLISH,
	PPP_AUTHENTICATE,
	PPP_NETWORK,
	PPP_RUNNING,
	PPP_TERMINATE
} ppp_phase_t;

typedef struct ppp_ipcfg {
	uint32_t local, peer;                /* IPv4, network byte order; 0 = ask / none */
	uint32_t dns1, dns2;                 /* server: what to give; client: what we got */
	uint8_t local_ifid[8], peer_ifid[8]; /* IPV6CP interface identifiers */
	int ipv6;                            /* IPV6CP came up */
} ppp_ipcfg_t;

typedef struct ppp_cbs {
	/* bytes to write to the link (HDLC-framed, or one whole frame in
	 * framing-free mode: ff 03 + protocol(2) + information, no FCS; SSTP
	 * peers expect the ff 03, see ppp.c) */
	void (*output)(void *ud, const uint8_t *buf, size_t len);
	/* an IPv4 or IPv6 packet arrived (proto PPP_IP or PPP_IPV6) */
	void (*ip_input)(void *ud, uint16_t proto, const uint8_t *pkt, size_t len);
	/* IPCP (and IPV6CP if negotiated) is up: IP may flow */
	void (*up)(void *ud, const ppp_ipcfg_t *ip);
	/* the link is down for good (terminated, failed auth, dead peer,
	 * hostile peer); the owner frees the engine and closes the link.
	 * Called once, as the last thing the outermost ppp_* call does, so
	 * ppp_free() from inside it is fine.  up() may come again after a
	 * renegotiation. */
	void (*down)(void *ud, const char *reason);
	/* authenticator: the secret of a user, as auth_cbs_t.lookup */
	int (*lookup)(void *ud, const char *user, char *secret, size_t cap);
	/* optional: a line for the log (level as in core/log.h) */
	void (*log)(void *ud, int level, const char *msg);
	/* optional: authentication is over (or was not asked for) and the
	 * network phase starts now; ppp_auth() tells how.  SSTP sends its
	 * Call Connected here, before the first NCP packet. */
	void (*authed)(void *ud);
	/* optional, server: as auth_cbs_t.judged (hold or drop a refusal) */
	int64_t (*judged)(void *ud, int ok);
} ppp_cbs_t;

typedef struct ppp_cfg {
	int server;  /* 1: authenticator + address assigner */
	int framing; /* 1: async HDLC (serial, TCP, UNIX); 0: whole frames (SSTP) */
	/* server: methods we accept, strongest first is what we ask for;
	 * client: methods we agree to.  Bit mask of 1 << auth_method_t.
	 * 0 means all three for a server with require_auth and for a client
	 * with a password, none otherwise. */
	unsigned auth_methods;
	int require_auth;          /* server: refuse peers that do not authenticate */
	const char *name;          /* server: our CHAP name; client: user name */
	const char *password;      /* client */
	uint16_t mru;              /* default 1500 */
	uint32_t accm;             /* async map we ask for (default 0) */
	ppp_ipcfg_t ip;            /* server: local + peer address, DNS to give */
	int ipv6;                  /* negotiate IPV6CP too */
	uint64_t echo_interval_ms; /* 0: no keepalive (default 10 s) */
	unsigned echo_failures;    /* default 3 */
} ppp_cfg_t;

ppp_t *ppp_new(const ppp_cfg_t *cfg, const ppp_cbs_t *cbs, void *ud);
void ppp_free(ppp_t *p);
void ppp_start(ppp_t *p, uint64_t now_ms); /* open LCP */
/* Bytes from the link in any chunking (framing 1); with framing 0 each call
 * is taken as one whole frame. */
void ppp_input_bytes(ppp_t *p, const uint8_t *buf, size_t len, uint64_t now_ms);
/* One whole frame (address/control optional, no FCS), in either mode. */
void ppp_input_frame(ppp_t *p, const uint8_t *frame, size_t len, uint64_t now_ms);
void ppp_tick(ppp_t *p, uint64_t now_ms);
uint64_t ppp_next_deadline(const ppp_t *p); /* 0: none */
/* Send an IP packet (only in RUNNING; dropped otherwise). */
int ppp_send_ip(ppp_t *p, uint16_t proto, const uint8_t *pkt, size_t len);
void ppp_close(ppp_t *p, const char *reason); /* LCP Terminate */
ppp_phase_t ppp_phase(const ppp_t *p);
const char *ppp_phase_name(ppp_phase_t ph);
const char *ppp_lcp_state(const ppp_t *p); /* "Opened", "Req-Sent", ... */
const auth_t *ppp_auth(const ppp_t *p);    /* after authentication */
uint16_t ppp_peer_mru(const ppp_t *p);

typedef struct ppp_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out, ip_in, ip_out, bad_fcs, runts;
	uint64_t oversize; /* HDLC frames longer than the receive buffer */
} ppp_stats_t;
const ppp_stats_t *ppp_stats(const ppp_t *p);

#endif
