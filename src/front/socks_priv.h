/* socks_priv: the SOCKS front end's per-client state, shared by socks.c
 * (SOCKS4/4a, SOCKS5 CONNECT and UDP ASSOCIATE, the replies) and
 * socks_bind.c (BIND).  Not for other modules: they use socks.h.
 */
#ifndef SLUICE_SOCKS_PRIV_H
#define SLUICE_SOCKS_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/conn.h"
#include "front/socks.h"
#include "front/socks_udp.h"
#include "wire/socks_proto.h"

#define SK_BUF 1024

typedef enum sk_state { SK_HELLO, SK_AUTH, SK_REQUEST, SK_DIALING, SK_UDP, SK_DONE } sk_state_t;

typedef struct socks_conn {
	conn_t *c;
	sk_state_t state;
	unsigned versions;
	uint8_t ver; /* 4 or 5 once known */
	unsigned is_4a : 1;
	unsigned any_auth : 1;  /* no credentials configured but the client insists */
	unsigned pass_cred : 1; /* SOCKS_PASS_CRED */
	size_t len;
	uint8_t buf[SK_BUF];
	sbuf_queue_t early; /* client bytes after the request */
	target_t target;
	socks_udp_t *udp;
	unsigned udp_replied : 1, bind : 1;
	uv_tcp_t *bind_srv;                /* BIND: listening for the peer */
	struct sockaddr_storage bind_from; /* BIND: DST.ADDR, or family 0 for any */
	dialer_t *bind_hop;                /* or the hop whose server listens, */
	dial_t *bind_req;                  /* with this request, */
	struct revbind *bind_rev;          /* or its claim (core/reverse.h) */
	target_t bind_addr;                /* its last answer */
	unsigned bind_replied : 1;
	dial_cred_t cred; /* pass_cred: what the client sent, in user/pass */
	char user[256], pass[256];
} socks_conn_t;

/* Result of one parsing pass over buf. */
enum { STEP_MORE, STEP_GO, STEP_STOP };

void sk_set_state(socks_conn_t *k, sk_state_t s);
/* Write a reply; -1 (and the conn is closed) if the client is gone. */
int sk_send(socks_conn_t *k, const uint8_t *p, size_t n);
/* Send a final reply, then close once it is out. */
int sk_refuse(socks_conn_t *k, const uint8_t *p, size_t n, const char *why);
int sk_refuse5(socks_conn_t *k, uint8_t rep, const char *why);
/* The success reply naming bnd, the early data, the relay. */
void sk_reply_relay(socks_conn_t *k, const socks_addr_t *bnd);

/* socks_bind.c: the request was a BIND (k->target, k->bind_from): listen
 * here, or have the chain's last hop listen, and reply twice. */
void sk_bind(socks_conn_t *k);

#endif
