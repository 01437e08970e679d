/* sctp_client: the `-F sctp+udp://HOST:PORT?key=KEY` (SCTP over UDP, RFC
 * 6951) and `-F sctp://HOST:PORT?key=KEY` (native SCTP, root) hops.  They
 * talk to their server directly, so they must be the first hop. */
#ifndef SLUICE_SCTP_CLIENT_H
#define SLUICE_SCTP_CLIENT_H

#include "core/dial.h"
#include "core/opts.h"

/* The hops' options (sctp:// adds stack=). */
extern const opt_schema_t sctp_udp_hop_opts, sctp_hop_opts;

int sctp_udp_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                     size_t errlen);
int sctp_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                 size_t errlen);

#endif
