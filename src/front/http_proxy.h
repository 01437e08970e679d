/* http_proxy: the HTTP proxy front end (`-L http://[user:pass@]BIND:PORT`)
 * and the HTTP CONNECT hop (`-F http://[user:pass@]host[:port]`, port 8080
 * when absent).
 *
 * The front end serves CONNECT (a tunnel to host:port) and absolute-form
 * requests for http:// URLs (forwarded to the origin through the chain, with
 * keep-alive on both sides).  With user and pass in the listener URL every
 * request needs Proxy-Authorization: Basic, or gets 407.
 */
#ifndef SLUICE_HTTP_PROXY_H
#define SLUICE_HTTP_PROXY_H

#include <uv.h>

#include "core/dial.h"
#include "core/listener.h"
#include "core/transport.h"
#include "core/sbuf.h"

extern const front_ops_t http_front_ops; /* "http" */

/* Serve an admitted connection whose first bytes (`first`, may be NULL) were
 * already read; the client stream must not be reading.  Takes ownership of
 * first, of the client's callbacks and of c->front / c->front_free.  c may
 * be closed before this returns: do not touch it afterwards. */
void http_serve(conn_t *c, sbuf_t *first);

/* hop_new_fn for http:// (http_hop.c). */
int http_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                 size_t errlen);

extern const transport_t http_transport;

#endif
