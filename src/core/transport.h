/* transport: what a transport module tells the rest of sluice about itself.
 *
 * Each transport (socks, http, ws, sctp, ppp, sstp, vpn, ...) exports one
 * transport_t from its own module: the URL schemes it answers to and, per
 * scheme, its listener ops, its hop constructor, what the hop can carry,
 * a usage line and the option schemas of both roles; plus the hooks the
 * process runtime calls once (usrsctp's threads must be stopped after the
 * loop's last listener and hop are gone).
 *
 * core/ knows only this type and the registry below; the table of
 * transports lives above it, in src/app/transports.c, which registers it at
 * start-up (the way libuv's platform code plugs in under uv-common.h: the
 * lower layer defines the slot, the higher one fills it).  So adding a
 * transport is its own folder plus one line in that table.
 */
#ifndef SLUICE_TRANSPORT_H
#define SLUICE_TRANSPORT_H

#include <stddef.h>

#include "core/dial.h"
#include "core/listener.h"
#include "core/opts.h"

/* One role of a scheme, for help and docs: the URL form, a line about it,
 * and the options it takes. */
typedef struct transport_doc {
	const char *usage;        /* "ws://IP:PORT[/path]?key=KEY" */
	const char *about;        /* "WebSocket tunnel server" */
	const opt_schema_t *opts; /* NULL: none of its own */
	/* it takes user:pass@, and so cred_opts (core/cred.h) besides opts */
	unsigned pass : 1;
} transport_doc_t;

typedef struct transport_scheme {
	const char *scheme;
	const front_ops_t *listen; /* NULL: not a listener */
	hop_new_fn hop;            /* NULL: not a hop */
	unsigned hop_caps;         /* HOP_* (dial.h) */
	/* listeners also take the shared listener options (listener.h) */
	transport_doc_t listen_doc, hop_doc;
} transport_scheme_t;

typedef struct transport {
	const char *name;    /* `sluice help NAME` */
	const char *summary; /* one line */
	const transport_scheme_t *schemes;
	size_t nschemes;
	/* Process hooks, NULL when there is nothing to do: start before the
	 * first listener or hop is built; stop once the loop's listeners and
	 * hops are freed, before the loop closes. */
	int (*start)(uv_loop_t *loop, char *err, size_t errlen);
	void (*stop)(void);
	const char *help; /* a paragraph for `sluice help NAME`, or NULL */
} transport_t;

#define TRANSPORT_SCHEMES(table_)                                                                  \
	.schemes = (table_), .nschemes = sizeof(table_) / sizeof((table_)[0])

/* The registry.  The application registers its table (NULL-terminated,
 * static) once, before anything is built; lookups before that find
 * nothing. */
void transport_register(const transport_t *const *table);
const transport_t *const *transport_table(void);
/* The scheme entry that listens on / dials through `scheme`, or NULL. */
const transport_scheme_t *transport_listener(const char *scheme);
const transport_scheme_t *transport_hop(const char *scheme);
/* By name ("ws") or by any of its schemes ("wss"); NULL if none. */
const transport_t *transport_by_name(const char *name);
/* "proxy, socks, ..." into buf: every listener scheme, or every hop's. */
void transport_list(char *buf, size_t len, int hops);
/* Run every registered start hook (0, or the first failure's -errno with
 * a message), or every stop hook. */
int transports_start(uv_loop_t *loop, char *err, size_t errlen);
void transports_stop(void);

#endif
