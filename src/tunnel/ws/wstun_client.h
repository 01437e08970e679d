/* wstun_client: the `-F ws://HOST:PORT[/path]?key=KEY` and
 * `-F wss://HOST:PORT[/path]?key=KEY[&ca=ca.pem|&insecure=1]` hops. */
#ifndef SLUICE_WSTUN_CLIENT_H
#define SLUICE_WSTUN_CLIENT_H

#include "core/dial.h"
#include "core/opts.h"

/* The hops' options (the transport's descriptor lists them). */
extern const opt_schema_t ws_hop_opts, wss_hop_opts;

int ws_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err, size_t errlen);
int wss_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                size_t errlen);

#endif
