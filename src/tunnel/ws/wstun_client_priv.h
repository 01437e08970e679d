/* wstun_client_priv: the WebSocket tunnel hop's structures, shared by
 * wstun_client.c (opener, pool, requests, datagram flows, probes, set-up)
 * and wstun_client_rev.c (the reverse forwards' client side).  Not for
 * other modules: they use wstun_client.h.
 */
#ifndef SLUICE_WSTUN_CLIENT_PRIV_H
#define SLUICE_WSTUN_CLIENT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "core/dial.h"
#include "core/reverse.h"
#include "tunnel/ws/ws_hop.h"
#include "tunnel/ws/wstun.h"

typedef struct wcli {
	ws_hop_t h; /* first */
	wstun_keys_t keys;
	char path[512];
	int enc, aes, fast_open; /* aes: offer AES-128-GCM records */
	size_t pool_size, nfilling;
	uint64_t backoff_ms, retry_at;
} wcli_t;

typedef struct opener {
	ws_open_t o; /* the dial, [TLS], the upgrade */
	wcli_t *cl;
	wstun_t *t;
	uint64_t id;
	target_t target;
	int has_target;
	uint8_t nonce[WSTUN_NONCE];
	uint8_t open[WSTUN_OPEN_MAX]; /* the open in the token, resent if not taken */
	size_t open_len;
	uint8_t rec_type; /* 0, or a first record other than OPEN (LISTEN, JOIN) */
	void (*done)(struct opener *op, int err); /* err < 0: failed; t still exists */
	void *ud;
} opener_t;

/* A pooled, authenticated WebSocket, or NULL when the pool is empty. */
wstun_t *wcli_pool_take(wcli_t *cl);
/* Open a WebSocket for t: with a target, its OPEN goes in the token. */
opener_t *wcli_opener_start(wcli_t *cl, wstun_t *t, uint64_t id, const target_t *target,
                            void (*done)(opener_t *, int), void *ud);

/* wstun_client_rev.c: the hop's dialer_ops_t.reverse */
extern const rev_hop_ops_t wcli_rev_ops;

#endif
