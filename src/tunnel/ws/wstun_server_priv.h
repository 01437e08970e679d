/* wstun_server_priv: the WebSocket tunnel server's structures, shared by
 * wstun_server.c (the upgrade, the tunnel, datagram associations, set-up)
 * and wstun_server_rev.c (the reverse forwards' server side).  Not for
 * other modules: they use wstun_server.h.
 */
#ifndef SLUICE_WSTUN_SERVER_PRIV_H
#define SLUICE_WSTUN_SERVER_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "core/conn.h"
#include "core/replay.h"
#include "core/reverse.h"
#include "core/tls.h"
#include "tunnel/ws/decoy.h"
#include "tunnel/ws/ws.h"
#include "tunnel/ws/wstun.h"
#include "wire/http_proto.h"

enum {
	REJ_PROBE,
	REJ_MALFORMED,
	REJ_AUTH,
	REJ_SKEW,
	REJ_REPLAY,
	REJ_FULL,
	REJ_PLAIN,
	REJ_DOWN,
	REJ_N
};

typedef struct wsrv {
	wstun_keys_t keys;
	tls_ctx_t *tls;
	char *path;
	uint64_t skew_ms, open_timeout_ms;
	replay_store_t *replay; /* shared by every listener with this key */
	char *host;             /* host=: the Host tokens are bound to, else the header's */
	int trust_xff;
	cidr_list_t xff_from; /* trust-xff-from=: only these peers' (empty: any) */
	int plain_ok;         /* enc=none accepted: wss://, or enc=any behind a TLS front end */
	decoy_t *decoy;
	ws_opts_t wo;
	uint64_t active, opens, unsure, down, rejected[REJ_N];
	uint64_t udp_assocs, udp_refused, udp_in, udp_out;
	rev_allow_t allow; /* reverse=: what key holders may claim */
	uint64_t rev_claims, rev_refused, rev_udp_idle_ms, rev_udp_flows;
	listener_t *l;
} wsrv_t;

typedef struct wconn {
	conn_t *c;
	wsrv_t *srv;
	http_req_t *req; /* the upgrade request, until the upgrade */
	ws_head_t hs;
	wstun_t *t;
	uint8_t *first; /* from the open, until the target is connected */
	size_t first_len;
	replay_wait_t *wait; /* the shared replay cache's verdict, awaited with: */
	wstun_token_t *tok;
	sbuf_t *rest;
	revsrv_t *rev; /* a LISTEN's claim: released with the WebSocket */
	unsigned counted : 1, udp : 1, rev_udp : 1; /* rev_udp: rev is a UDP claim */
} wconn_t;

/* wstun_server_rev.c: the records of the reverse forwards */
/* LISTEN, or LISTEN_UDP (udp) */
void wsrv_rev_listen(wconn_t *w, int udp, const uint8_t *body, size_t len);
void wsrv_rev_join(wconn_t *w, const uint8_t *body, size_t len);   /* JOIN */
void wsrv_rev_refuse(wconn_t *w, const uint8_t *body, size_t len); /* REFUSE */
void wsrv_rev_dgram(wconn_t *w, const uint8_t *body, size_t len);  /* a UDP claim's DGRAM */

#endif
