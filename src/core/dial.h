/* dial: turning a target (host or IP, port) into a connected stream.
 *
 * A dialer is one hop of the chain.  Each hop reaches its own server through
 * `next` (the hop before it, or the direct dialer), then asks that server for
 * the target.  So `-F socks5://a -F http://b` is
 *
 *     http(b)  --next-->  socks5(a)  --next-->  direct
 *
 * and dialing T through the chain means: http asks socks5 for b, socks5 asks
 * direct for a.  Names travel unresolved to the last hop (remote DNS, like
 * socks5h); only the direct dialer resolves, and it checks every resolved
 * address against the caller's target ACL.
 *
 * Errors are negative UV_E* codes: UV_ECONNREFUSED, UV_EHOSTUNREACH,
 * UV_ENETUNREACH, UV_ETIMEDOUT, UV_EAI_NONAME (name not found), UV_EACCES
 * (refused by an ACL), UV_EPROTO (the hop spoke nonsense).  Hops map the
 * failures their servers report onto these, so a SOCKS front end can send
 * the right reply code whatever the chain.
 */
#ifndef SLUICE_DIAL_H
#define SLUICE_DIAL_H

#include <uv.h>

#include "core/acl.h"
#include "core/stream.h"
#include "core/url.h"

typedef struct target {
	char host[256]; /* name or IP literal, IPv6 without brackets */
	uint16_t port;
} target_t;

/* -EINVAL if host is too long or empty.  An IPv4 address in one of
 * inet_aton's other forms (2130706433, 127.1, 0x7f.0.0.1) is stored as its
 * dotted quad, the address a resolver would make of it. */
int target_set(target_t *t, const char *host, uint16_t port);
void target_str(const target_t *t, char *buf, size_t len);        /* host:port, [v6]:port */
int target_is_ip(const target_t *t, struct sockaddr_storage *ss); /* 1 and fills ss if literal */

/* SOCKS credentials as a client sent them (RFC 1929 user name and password,
 * or the SOCKS4 USERID as user with an empty pass), for a dialer that reads
 * them as data rather than a listener that checks them (`sluice pt`: the
 * bridge arguments).  Not NUL-terminated (they may hold NULs); each at most
 * 255 bytes. */
typedef struct dial_cred {
	const char *user, *pass;
	size_t ulen, plen;
} dial_cred_t;

/* What the accepting side tells a dialer.  The pointers belong to the
 * caller and stay valid until the dial ends or is canceled; dialers that do
 * not need a field ignore it. */
typedef struct dial_opts {
	uint64_t id;                 /* connection id for logs */
	const acl_t *acl;            /* target ACL, applied by the direct dialer; may be NULL */
	const struct sockaddr *peer; /* the client a listener dials for; NULL otherwise */
	const dial_cred_t *cred;     /* only from a listener that passes them on; else NULL */
	/* where a dialer that fails for a reason a person should read (a
	 * group whose members are all down, a rule that blocks) writes it,
	 * for the front end's error page and the log; may be NULL */
	char *why;
	size_t whylen;
	/* where a failing dial failed (core/stream.h), filled by a tunnel or
	 * proxy hop (socks5, http) before its failing cb; may be NULL */
	stream_fail_t *fail;
} dial_opts_t;

typedef void (*dial_cb)(void *ud, stream_t *s, int err);

/* A datagram flow (core/dgram.h) and its open callback: f on success, or
 * NULL and err. */
typedef struct dgram dgram_t;
typedef void (*dgram_cb)(void *ud, dgram_t *f, int err);

typedef struct dial dial_t; /* an in-flight request; each dialer defines its own */
struct hop_session;
typedef struct dialer dialer_t;

typedef struct dialer_ops {
	/* the scheme of its dialers, unless a dialer names its own
	 * (dialer_t.scheme): one table serves the schemes of a family that
	 * differ only in data (ws and wss, sctp and sctp+udp) */
	const char *scheme;
	dial_t *(*dial)(dialer_t *d, const target_t *t, const dial_opts_t *o, dial_cb cb, void *ud);
	/* cb will not be called after cancel; the request is freed. */
	void (*cancel)(dialer_t *d, dial_t *req);
	void (*free)(dialer_t *d);
	/* Datagram flows through this hop (core/dgram.h); NULL: it carries
	 * none, and a chain containing it refuses datagrams.  dgram_cancel as
	 * cancel: cb will not run, the request is freed. */
	dial_t *(*dgram)(dialer_t *d, const dial_opts_t *o, dgram_cb cb, void *ud);
	void (*dgram_cancel)(dialer_t *d, dial_t *req);
	/* optional: the name servers this hop's tunnel session gave (see
	 * chain_dns_servers in core/dgram.h) */
	int (*dns_servers)(const dialer_t *d, struct sockaddr_storage *out, size_t max);
	/* optional: reach this hop's server through d->next and complete the
	 * hop's own handshake there (a WebSocket upgrade with the key) without
	 * asking for a target, then let it go: cb(ud, NULL, 0), or an error;
	 * for health checks (core/route/group.h).  probe_cancel as cancel. */
	dial_t *(*probe)(dialer_t *d, const dial_opts_t *o, dial_cb cb, void *ud);
	void (*probe_cancel)(dialer_t *d, dial_t *req);
	/* optional: a hop that keeps a session of its own (SSTP, the VPN, a
	 * PPP link, an SCTP association, a WebSocket pool; a group, up while
	 * a member is)
	 * says how it is, for /health and /status (core/health.h) */
	void (*session)(const dialer_t *d, struct hop_session *s);
	/* optional: a SOCKS5 BIND through this hop, the last of the chain:
	 * its server listens for one connection from t.  bound(ud, addr)
	 * for each of the server's two answers (where it listens, then who
	 * connected), then cb(ud, s, 0) with that connection, or cb(ud,
	 * NULL, err).  cancel() as for dial. */
	dial_t *(*bind)(dialer_t *d, const target_t *t, const dial_opts_t *o,
	                void (*bound)(void *ud, const target_t *addr), dial_cb cb, void *ud);
	/* optional: the hop's server (or netstack) can listen on our behalf:
	 * reverse forwards, -R (core/reverse.h) */
	const struct rev_hop_ops *reverse;
	unsigned caps; /* HOP_* */
} dialer_ops_t;

/* A hop's session as dialer_ops_t.session tells it.  ok is what /health
 * reads: 1 while it is up, or idle because nothing asked for it yet; 0
 * while it is wanted and not up (starting, or lost and redialing). */
typedef struct hop_session {
	const char *kind;  /* "sstp", "vpn", "ppp", "sctp", "group", "ws"... */
	const char *state; /* "up", "starting", "down", "idle" */
	int ok;
	/* d->server names the hop (a group's name), it is no server to reach:
	 * the session is "KIND://NAME" and has no peer */
	int named;
	char address[64]; /* the address the session gave this side, or "" */
	char why[160];    /* why it is not up, or "" */
	uint64_t since;   /* uv_now() when it last came up, or 0 */
	uint64_t bytes_in, bytes_out;
} hop_session_t;

/* What a hop carries and does, so callers ask instead of comparing scheme
 * names: a transport declares them for each hop scheme (transport.h), a
 * dialer may carry them in its ops (dialer_caps).  A dialer carries
 * datagrams when its ops have .dgram (HOP_DATAGRAMS says so in the
 * transport's descriptor). */
enum {
	HOP_STREAMS = 1u << 0,    /* TCP-like byte streams to a target */
	HOP_DATAGRAMS = 1u << 1,  /* UDP datagrams to a target */
	HOP_PACKETS = 1u << 2,    /* IP packets (it runs a netstack inside the tunnel) */
	HOP_REMOTE_DNS = 1u << 3, /* target names are resolved at the far end */
	HOP_FIRST_ONLY = 1u << 4, /* has its own socket: must be the first hop (-F) */
	/* it reaches targets from this host's own sockets (the direct dialer):
	 * a HOP_FIRST_ONLY hop runs only over it, and datagrams a server sends
	 * from this host honour the chain only when it is one */
	HOP_HOST = 1u << 5,
	/* its datagrams reach its server as datagrams, through the hop before
	 * it (socks5's UDP ASSOCIATE): that hop must carry datagrams too */
	HOP_DGRAM_NEXT = 1u << 6,
	/* it holds one session for the process (a packet tunnel's session,
	 * an SCTP association): one worker must keep it (workers=) */
	HOP_SESSION = 1u << 7,
};

struct dialer {
	const dialer_ops_t *ops;
	dialer_t *next; /* how this hop reaches its server (NULL for direct) */
	uv_loop_t *loop;
	target_t server;    /* this hop's server */
	const char *scheme; /* a static string; NULL: ops->scheme */
	unsigned caps;      /* its transport's HOP_* for its scheme (hop_build sets them) */
};

/* What d does: its ops' HOP_* and those its transport declares for the
 * scheme it was built for. */
static inline unsigned dialer_caps(const dialer_t *d)
{
	return d && d->ops ? d->ops->caps | d->caps : 0;
}

/* The scheme d was built for ("wss"), for names and messages. */
static inline const char *dialer_scheme(const dialer_t *d)
{
	return d->scheme ? d->scheme : d->ops->scheme;
}

/* A hop constructor: reads its options from u (its schema, opts_parse), reports errors
 * naming the option.  A transport's descriptor names it (core/transport.h). */
typedef int (*hop_new_fn)(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                          size_t errlen);

dialer_t *direct_dialer_new(uv_loop_t *loop);
/* A dial error in words a person reads ("name not found", "connection
 * refused"), the same through every front end and tunnel. */
const char *dial_error_text(int err);
/* The one sentence a front end and the log give for a failed connection
 * to t: "Could not connect to T: E", ", reached through HOP" when a
 * tunnel's server could not reach it, "Could not reach HOP (on the way to
 * T): E" when the hop's own server could not be reached, and why (a
 * dialer's reason, dial_opts_t.why) in parentheses when there is one. */
void dial_fail_text(const target_t *t, int err, const stream_fail_t *f, const char *why, char *buf,
                    size_t len);
/* One hop of u's scheme on next (the transport's constructor, then the
 * check for options nobody read).  On failure next is untouched and err
 * names the scheme. */
int hop_build(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err, size_t errlen);
/* Build the chain from -F URLs in order (first = closest to us). */
int chain_build(uv_loop_t *loop, url_t **hops, size_t n, dialer_t **out, char *err, size_t errlen);
void chain_free(dialer_t *d);

/* Dial through a chain with an overall timeout (0: none).  The callback
 * gets UV_ETIMEDOUT when it runs out. */
dial_t *dial_start(dialer_t *d, const target_t *t, const dial_opts_t *o, uint64_t timeout_ms,
                   dial_cb cb, void *ud);
void dial_cancel(dial_t *req); /* only for requests returned by dial_start */

/* For hops: dial this hop's own server through d->next.  The target ACL
 * is for the final target only, never for the servers of the chain; the
 * credentials are for the first dialer only.  Dialers copy *o; they never
 * keep the pointer. */
static inline dial_t *dial_next(dialer_t *d, const dial_opts_t *o, dial_cb cb, void *ud)
{
	dial_opts_t o2 = *o;

	o2.acl = NULL;
	o2.cred = NULL;
	o2.why = NULL;
	o2.fail = NULL; /* a failure there is this hop's: it says so itself */
	return d->next->ops->dial(d->next, &d->server, &o2, cb, ud);
}
static inline void dial_next_cancel(dialer_t *d, dial_t *req)
{
	d->next->ops->cancel(d->next, req);
}

#endif
