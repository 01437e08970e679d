/* socks: the SOCKS4/4a/5 front end (`-L socks://`, `socks5://`, `socks4://`)
 * and the socks5 / socks4 / socks4a hops (`-F socks5://[user:pass@]host:port`).
 *
 * Listener credentials are the URL's user and password: with them, SOCKS5
 * clients must authenticate with RFC 1929 (compared in constant time) and
 * SOCKS4 clients are refused (a user name alone must match the userid).
 * Bytes a hop's server sends after its reply go to the caller through
 * core/prebuf.
 */
#ifndef SLUICE_SOCKS_H
#define SLUICE_SOCKS_H

#include <uv.h>

#include "core/dial.h"
#include "core/listener.h"
#include "core/transport.h"
#include "core/sbuf.h"

#define SOCKS_V4 0x1u /* SOCKS4 and SOCKS4a */
#define SOCKS_V5 0x2u
/* Not a check but a channel: accept any credentials (RFC 1929, SOCKS4
 * USERID) and hand them to the chain in dial_opts_t.cred; no UDP. */
#define SOCKS_PASS_CRED 0x4u

/* What a SOCKS5 listener does with UDP ASSOCIATE (option udp=): carry it
 * through the chain (refused with reply 7 when a hop cannot), send it from
 * this host around the chain, or refuse it.  l->front of socks, socks5
 * and proxy listeners. */
enum { SOCKS_UDP_CHAIN, SOCKS_UDP_DIRECT, SOCKS_UDP_OFF };
typedef struct socks_front {
	int udp;          /* first: udp= is parsed into it */
	dialer_t *direct; /* udp=direct */
	uint64_t bind_ms; /* bind-timeout=: how long a BIND waits for its peer */
} socks_front_t;
extern const opt_schema_t socks_listen_opts;
/* front_ops init / free parts of a listener that serves SOCKS5 */
int socks_listener_init(listener_t *l, char *err, size_t errlen);
void socks_listener_free(listener_t *l);

extern const front_ops_t socks_front_ops;  /* "socks": 4, 4a and 5 */
extern const front_ops_t socks5_front_ops; /* "socks5" */
extern const front_ops_t socks4_front_ops; /* "socks4": 4 and 4a */
/* Not registered: "socks" with SOCKS_PASS_CRED, for a listener whose chain
 * reads the credentials (`sluice pt`); set l->ops after listener_new(). */
extern const front_ops_t socks_cred_front_ops;

/* Serve an admitted connection whose first bytes (`first`, may be NULL) were
 * already read; `versions` is SOCKS_V4 and/or SOCKS_V5, maybe with
 * SOCKS_PASS_CRED; the client stream must not be reading.  Takes ownership of
 * first, of the client's callbacks and of c->front / c->front_free (free
 * any state of your own first).  c may be closed before this returns: do
 * not touch it afterwards. */
void socks_serve(conn_t *c, sbuf_t *first, unsigned versions);

/* hop_new_fn for socks5:// and socks5h:// (names always go to the server). */
int socks5_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                   size_t errlen);
/* socks4:// (IPv4 literals only: names are refused with UV_EAFNOSUPPORT) and
 * socks4a:// (names go to the server). */
int socks4_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                   size_t errlen);
int socks4a_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                    size_t errlen);

extern const transport_t socks_transport;

#endif
