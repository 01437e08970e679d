/* listener: accepts connections and decides their targets.
 *
 * Every listener shares the guard rails: client ACL, target ACL, a cap on
 * concurrent connections, a per-client-IP connection rate, handshake,
 * connect and idle timeouts.  They are URL options of any -L:
 *
 *   allow=CIDR,..        clients allowed (default: all)
 *   deny=CIDR,..         clients refused
 *   allow-target=CIDR,.. targets allowed (checked on resolved addresses)
 *   deny-target=CIDR,..  targets refused.  Default: none when the listener
 *                        binds a loopback address (it serves this host's own
 *                        users, who can reach 127.0.0.1 anyway); loopback,
 *                        0.0.0.0/8 and link-local when it binds anything else,
 *                        so an exposed server is not an open door to the
 *                        host's private services.  allow-target overrides.
 *   max-conns=N          concurrent connections (default 4096)
 *   rate=R[,burst=B]     new connections per second per client IP
 *   connect-timeout=D    dial timeout (default 10s)
 *   idle-timeout=D       relay idle timeout (default 5m, 0 = none)
 *   handshake-timeout=D  time for a client to say what it wants (default 15s)
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

typedef struct front_ops {
	const char *scheme;
	/* Read scheme-specific options from l->url; store state in l->front. */
	int (*init)(listener_t *l, char *err, size_t errlen);
	/* Non-TCP listeners start themselves; NULL = shared TCP accept path. */
	int (*start)(listener_t *l);
	void (*stop)(listener_t *l);
	/* TCP front ends: a new admitted client.  The front end owns c now. */
	void (*on_conn)(conn_t *c);
	void (*free)(listener_t *l);
	/* 1: the loopback default of deny-target does not apply (a gateway
	 * whose host alias reaches 127.0.0.1 on purpose) */
	int no_default_deny;
} front_ops_t;

struct listener {
	const front_ops_t *ops;
	url_t *url;
	char name[128];
	uv_loop_t *loop;
	dialer_t *chain;
	struct sockaddr_storage bind;
	uv_tcp_t tcp;
	acl_t clients, targets;
	uint64_t max_conns, rate, burst;
	ratelimit_t *rl;
	uint64_t connect_timeout_ms, idle_timeout_ms, handshake_timeout_ms;
	void *front; /* front end's own state */
	metrics_listener_t *m;
	queue_t conns;                     /* live connections (conn_t.link) */
	uint64_t fd_refused, fd_logged_at; /* refused for want of descriptors */
	unsigned listening : 1, stopping : 1;
};

/* Parse the shared options and the front end's, bind nothing yet. */
int listener_new(uv_loop_t *loop, url_t *u, dialer_t *chain, listener_t **out, char *err,
                 size_t errlen);
int listener_start(listener_t *l, char *err, size_t errlen);
void listener_stop(listener_t *l); /* stop accepting; live conns go on */
void listener_free(listener_t *l);
/* The options above, as a schema (core/opts.h) every listener takes. */
extern const opt_schema_t listener_opts;
/* Bind address of a URL's host/port (port required). */
int listener_bind_addr(url_t *u, struct sockaddr_storage *ss, char *err, size_t errlen);

#endif
