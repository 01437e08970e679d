/* listener: accepts connections and decides their targets.
 *
 * Every listener shares the guard rails: client ACL, target ACL, a cap on
 * concurrent connections, a per-client-IP connection rate, handshake,
 * connect and idle timeouts.  They are URL options of any -L:
 *
 *   allow=CIDR,..        clients allowed (default: all)
 *   deny=CIDR,..         clients refused
 *   allow-target=CIDR,.. targets allowed (checked on resolved addresses)
 *   deny-target=CIDR,..  targets refused
 *   host-loopback=0|1    the host's own loopback (ACL_HOST_LOOPBACK; a
 *                        gateway's host alias) may be reached
 *   link-local=0|1       link-local and cloud metadata addresses
 *                        (ACL_LINK_LOCAL) may be reached
 *                        The defaults are the target policy (listener.c,
 *                        SECURITY.md): both on for a listener that serves
 *                        this host's users only, both off for one reachable
 *                        from the network; a gateway or tunnel server never
 *                        reaches link-local by default.  An allow-target
 *                        entry inside a refused range opens that part.
 *   open=1               proxies: serve without credentials or allow= on a
 *                        non-loopback address (refused otherwise)
 *   max-conns=N          concurrent connections (default 4096)
 *   rate=R[,burst=B]     new connections per second per client IP
 *   connect-timeout=D    dial timeout (default 10s)
 *   idle-timeout=D       relay idle timeout (default 5m, 0 = none)
 *   handshake-timeout=D  time for a client to say what it wants (default 15s)
 *   via=NAME             the chain its connections take (core/route/routing.h):
 *                        a --chain / chains: name, default or direct;
 *                        without it, the rules decide (or default)
 *   workers=N            worker processes accepting on its address
 *                        (app/workers.h; default 1): stream listeners
 *                        (front_ops_t.workers) whose chains hold no session
 *                        that must be unique
 *
 * A front end (socks, http, proxy, tcp, and later tunnel servers) supplies a
 * front_ops table.  TCP front ends leave .start NULL and get the shared
 * accept path, which admits the client and hands a conn_t to .on_conn.
 */
#ifndef SLUICE_LISTENER_H
#define SLUICE_LISTENER_H

#include <uv.h>

#include "core/acl.h"
#include "core/dial.h"
#include "core/metrics.h"
#include "core/opts.h"
#include "core/queue.h"
#include "core/ratelimit.h"
#include "core/url.h"

typedef struct listener listener_t;
typedef struct conn conn_t;
struct routing; /* core/route/routing.h */

/* Who reaches a listener, for the default target policy (listener.c). */
typedef enum front_reach {
	REACH_BIND,   /* this host's users when bound to loopback (or to nothing) */
	REACH_LOCAL,  /* local by construction: a serial line, stdio, a UNIX socket */
	REACH_REMOTE, /* the network, whatever the bind address: a tunnel server */
} front_reach_t;

typedef struct front_ops {
	const char *scheme;
	/* Read scheme-specific options from l->url; store state in l->front. */
	int (*init)(listener_t *l, char *err, size_t errlen);
	/* Non-TCP listeners start themselves; NULL = shared TCP accept path. */
	int (*start)(listener_t *l);
	void (*stop)(listener_t *l);
	/* TCP front ends: a new admitted client.  The front end owns c now. */
	void (*on_conn)(conn_t *c);
	/* optional, TCP front ends: the TCP socket listens; start what serves
	 * beside it (a UDP socket on the same address).  .stop then stops it. */
	int (*listening)(listener_t *l);
	void (*free)(listener_t *l);
	/* optional: the UDP socket it serves datagrams on (its own, or the one
	 * beside its TCP socket), for a listener of the same scheme that takes
	 * its place (listener_take) to serve on; -1: none */
	int (*dgram_fd)(listener_t *l);
	/* optional: a reload changed l's options but not its address, and
	 * making it anew would end its sessions.  nl is the listener of the
	 * new options (of l's scheme, inited, never started).  adopt_check:
	 * 0 if l, running, can take nl's options in place, or <0 and in err
	 * the option that cannot change while it serves; adopt (after a 0,
	 * cannot fail): l takes them, keeping its socket and the sessions the
	 * new options still allow; it may take state from nl, which is freed
	 * after (listener_adopt) */
	int (*adopt_check)(listener_t *l, listener_t *nl, char *err, size_t errlen);
	void (*adopt)(listener_t *l, listener_t *nl);
	front_reach_t reach;
	/* a gateway or tunnel server: its peers are machines, not this host's
	 * users, so link-local and metadata targets are refused by default
	 * even where they are local */
	unsigned gateway : 1;
	/* a proxy that reaches any target: refused without credentials or
	 * allow= on a non-loopback address unless open=1 */
	unsigned relay : 1;
	/* a proxy's keyword in a proxy auto-config file ("PROXY", "SOCKS5",
	 * "SOCKS"): /proxy.pac may send browsers to it; NULL: not a proxy */
	const char *pac;
	/* its connections are independent of each other: several worker
	 * processes may accept on its address (workers=N) */
	unsigned workers : 1;
	/* idle-timeout when it is not given; 0: LISTENER_IDLE_DEFAULT */
	uint64_t idle_timeout_ms;
	/* what a reload that changes the chain of a kept listener does: by
	 * default, nothing (each connection asks for its chain); CHAIN_AT_INIT,
	 * init checks the chain (what it carries, its name servers) or holds
	 * a flow on it: the listener is made anew, in the old one's place
	 * (listener_take); CHAIN_FIXED, its session lives on its chain (a TUN
	 * device's VPN session): the reload is refused */
	enum { CHAIN_PER_CONN, CHAIN_AT_INIT, CHAIN_FIXED } chain_use;
} front_ops_t;

#define LISTENER_IDLE_DEFAULT (5 * 60 * 1000)
#define LISTENER_WORKERS_MAX 64

struct listener {
	const front_ops_t *ops;
	url_t *url;
	char name[128];
	uv_loop_t *loop;
	dialer_t *chain; /* routed: the current routing's for via=, when built */
	const char *via; /* via=, or NULL */
	int routed;      /* built with no chain of its own: connections ask the routing */
	struct sockaddr_storage bind;
	uv_tcp_t tcp;
	acl_t clients, targets;
	uint64_t max_conns, rate, burst;
	ratelimit_t *rl;
	uint64_t connect_timeout_ms, idle_timeout_ms, handshake_timeout_ms;
	uint64_t workers;              /* workers=N: the worker processes that run it */
	int host_loopback, link_local; /* the target policy (listener.c) */
	int open;                      /* open=1: a proxy without credentials is meant */
	void *front;                   /* front end's own state */
	metrics_listener_t *m;
	queue_t conns;                     /* live connections (conn_t.link) */
	uint64_t fd_refused, fd_logged_at; /* refused for want of descriptors */
	int taken_fd; /* listener_take: a UDP socket to serve on, not bind (-1: bind) */
	unsigned listening : 1, stopping : 1;
};

/* Parse the shared options and the front end's, bind nothing yet.  chain
 * NULL: the listener's connections take the chain via= names from the
 * routing in force when they dial (core/route/routing.h; one must be
 * installed). */
int listener_new(uv_loop_t *loop, url_t *u, dialer_t *chain, listener_t **out, char *err,
                 size_t errlen);
int listener_start(listener_t *l, char *err, size_t errlen);
/* 1 in a worker process of several (app/workers.h): listeners with
 * workers=N > 1 bind with SO_REUSEPORT, the kernel spreading connections
 * over the workers' sockets. */
extern int listener_reuseport;
/* Start l on the address old listens on, in old's place: a TCP listener
 * takes old's socket (never closed, so no client is refused meanwhile),
 * and old stops accepting; one of old's scheme with a datagram socket
 * (.dgram_fd) takes that socket too (datagrams queued in it are l's, and
 * old's sessions still reply through it); others stop old, then bind. */
int listener_take(listener_t *l, listener_t *old, char *err, size_t errlen);
/* The UDP socket listener_take gave l (the front end owns it now), or -1:
 * bind one. */
int listener_taken_fd(listener_t *l);
/* A reload changed a running listener's -L but not its address, scheme or
 * anything its front end cannot change in place (.adopt_check): 0 if l can
 * take nl's options in place, UV_ENOTSUP if its front end does not do
 * that, or <0 and why not in err. */
int listener_adopt_check(listener_t *l, listener_t *nl, char *err, size_t errlen);
/* After a 0 from listener_adopt_check: l takes nl's options (the shared
 * ones, its URL and via=, and its front end's), keeping its socket, its
 * sessions and its connections; nl is left with l's old URL and options,
 * to be freed as a listener never started. */
void listener_adopt(listener_t *l, listener_t *nl);
/* The guard rails of every accept on l, the shared path's and a reverse
 * listener's public side (core/reverse.h): descriptors to spare (s's;
 * s NULL for a datagram peer, which has none), the client ACL, active
 * against max-conns, the rate.  1: admitted; 0: refused, logged as
 * "WHO: refused PEER: why" (at debug for a datagram peer), counted in l's
 * rejected, s reset. */
int listener_admit(listener_t *l, const char *who, stream_t *s, const struct sockaddr *peer,
                   uint64_t active, uint64_t id);
void listener_stop(listener_t *l); /* stop accepting; live conns go on */
void listener_free(listener_t *l);
/* The chain a new session of l takes now (its own, or via='s in the
 * routing in force), and in *ref a reference on that routing to hold for
 * as long as the session uses the chain (NULL for a listener with its own
 * chain); release it with listener_chain_drop().  Connections do this
 * through conn_chain(); listeners whose sessions are not connections
 * (udp://, dns://) call it themselves. */
dialer_t *listener_chain_take(listener_t *l, struct routing **ref);
void listener_chain_drop(struct routing *ref);
/* The options above, as a schema (core/opts.h) every listener takes; and
 * open=, which listeners that relay to any target take besides. */
extern const opt_schema_t listener_opts, listener_relay_opts;
/* 1 when the listener's targets include the host's loopback (127.0.0.1):
 * what a gateway's host alias may reach. */
int listener_host_loopback(const listener_t *l);
/* 1 when the network reaches it: its socket is bound to an address other
 * than loopback (a wildcard too); never a serial line, stdio, a UNIX
 * socket or a TUN device. */
int listener_reachable(const listener_t *l);
/* Bind address of a URL's host/port (port required). */
int listener_bind_addr(url_t *u, struct sockaddr_storage *ss, char *err, size_t errlen);

#endif
