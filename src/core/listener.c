/* listener: shared options, the TCP accept path and admission control
 * (see listener.h for the options).
 *
 * The default target policy, one for every listener (SECURITY.md):
 *
 *   reach                          host loopback   link-local, metadata
 *   this host's users (BIND on     allowed         allowed (gateways: refused)
 *   loopback, LOCAL)
 *   the network (BIND elsewhere,   refused         refused
 *   REMOTE)
 *
 * host-loopback= and link-local= change either; the ranges go into the
 * target ACL's guard list (acl.h), which every path that reaches a target
 * checks: conn_dial, the direct dialer, the SOCKS5 UDP relay, the slirp
 * gateways (whose host alias is reached as 127.0.0.1), wstan's UDP.
 */
#include "core/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/cred.h"
#include "core/log.h"
#include "core/route/routing.h"
#include "core/tcp.h"
#include "core/transport.h"

#define RATE_SLOTS 4096

int listener_bind_addr(url_t *u, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	target_t t;

	if (u->port < 0) {
		snprintf(err, errlen, "a port is required (%s://IP:PORT)", u->scheme);
		return -EINVAL;
	}
	if (!u->host[0] || target_set(&t, u->host, (uint16_t)u->port) < 0 ||
	    !target_is_ip(&t, ss)) {
		if (!strcmp(u->host, "localhost")) {
			target_set(&t, "127.0.0.1", (uint16_t)u->port);
			target_is_ip(&t, ss);
			return 0;
		}
		snprintf(err, errlen,
		         "'%s': the address to listen on must be an IP (0.0.0.0, 127.0.0.1, [::])",
		         u->host);
		return -EINVAL;
	}
	return 0;
}

/* The options every listener takes, into listener_t.  rate and burst are
 * read into the listener and become its rate limiter. */
static const opt_t shared_opts[] = {
    OPT_CIDRS(listener_t, clients.allow, "allow", "all", "clients allowed"),
    OPT_CIDRS(listener_t, clients.deny, "deny", "none", "clients refused"),
    OPT_CIDRS(listener_t, targets.allow, "allow-target", "all",
              "targets allowed (checked on the addresses names resolve to)"),
    OPT_CIDRS(listener_t, targets.deny, "deny-target", "none",
              "targets refused (besides the default target policy)"),
    OPT_BOOL_DOC(listener_t, host_loopback, "host-loopback",
                 "1 where the clients are this host's users, else 0 (SECURITY.md)",
                 "the host's loopback (127/8, ::1, 0/8, ::; a gateway's host alias) may be "
                 "reached"),
    OPT_BOOL_DOC(listener_t, link_local, "link-local",
                 "1 for proxies and forwards serving this host's users, else 0",
                 "link-local and cloud metadata addresses (169.254/16, fe80::/10, ...) may "
                 "be reached"),
    OPT_UINT(listener_t, max_conns, "max-conns", 1000000, "4096", "concurrent connections"),
    OPT_UINT(listener_t, rate, "rate", 1000000, "0",
             "new connections per second per client IP (0: no limit)"),
    OPT_UINT(listener_t, burst, "burst", 1000000, "0",
             "connections a client IP may open at once (0: twice the rate)"),
    OPT_DURATION(listener_t, connect_timeout_ms, "connect-timeout", "10s",
                 "dialing the target through the chain"),
    OPT_DURATION_DOC(listener_t, idle_timeout_ms, "idle-timeout", "5m",
                     "a connection with no bytes either way is closed (0: never)"),
    OPT_DURATION(listener_t, handshake_timeout_ms, "handshake-timeout", "15s",
                 "time for a client to say what it wants"),
    OPT_STR(listener_t, via, "via", "the rules, or the -F chain", "NAME",
            "the chain its connections take: a --chain name, default or direct"),
    OPT_UINT(listener_t, workers, "workers", LISTENER_WORKERS_MAX, "1",
             "worker processes accepting on its address, each on a core of its own "
             "(stream listeners; docs/deploy.md)"),
};

const opt_schema_t listener_opts = OPT_SCHEMA(NULL, shared_opts);

/* The options of a listener that relays to any target (front_ops_t.relay). */
static const opt_t relay_opts[] = {
    OPT_BOOL(listener_t, open, "open", "0",
             "serve anyone on a non-loopback address without credentials or allow="),
};

const opt_schema_t listener_relay_opts = OPT_SCHEMA(NULL, relay_opts);

/* Serves this host's users only. */
static int is_local(const listener_t *l)
{
	if (l->ops->reach != REACH_BIND)
		return l->ops->reach == REACH_LOCAL;
	return !l->bind.ss_family || sockaddr_is_loopback((const struct sockaddr *)&l->bind);
}

/* host-loopback= and link-local= as given (1/0), or -1: the default. */
static void target_policy(listener_t *l)
{
	int local = is_local(l);

	if (l->host_loopback < 0)
		l->host_loopback = local;
	if (l->link_local < 0)
		l->link_local = local && !l->ops->gateway;
	if (!l->host_loopback)
		acl_guard(&l->targets, ACL_HOST_LOOPBACK);
	if (!l->link_local)
		acl_guard(&l->targets, ACL_LINK_LOCAL);
}

int listener_reachable(const listener_t *l)
{
	return l->ops->reach != REACH_LOCAL && l->bind.ss_family &&
	       !sockaddr_is_loopback((const struct sockaddr *)&l->bind);
}

int listener_host_loopback(const listener_t *l)
{
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	return acl_permits(&l->targets, (struct sockaddr *)&lo);
}

/* A proxy on the network with neither credentials nor allow= serves anyone
 * who reaches it: only with open=1. */
static int open_relay(listener_t *l, char *err, size_t errlen)
{
	const url_t *u = l->url;

	if (!l->ops->relay || is_local(l) || u->user || u->pass || l->clients.allow.n)
		return 0;
	if (!l->open) {
		snprintf(
		    err, errlen,
		    "%s would be an open proxy: anyone who can reach it could relay through "
		    "it to any host.  Give credentials (user:pass@), allow=CIDR with your "
		    "clients' addresses, bind 127.0.0.1, or add open=1 if that is what you want",
		    l->name);
		return -EINVAL;
	}
	log_warn(0, "%s: an open proxy (open=1): anyone who can reach it may relay through it",
	         l->name);
	return 0;
}

int listener_reuseport;

typedef struct wcheck {
	int found;
} wcheck_t;

/* Hops whose session must be unique (HOP_SESSION: sstp, ppp, vpn, one
 * SCTP association): one worker keeps it. */
static void workers_chain(void *ud, const char *name, const char *hops, dialer_t *head)
{
	wcheck_t *w = ud;

	for (const dialer_t *d = head; d && !w->found; d = d->next)
		w->found = !!(dialer_caps(d) & HOP_SESSION);
}

/* workers=N > 1: a stream listener, none of whose chains holds a session
 * that must be unique, and no option whose state is this process's. */
static int workers_check(listener_t *l, char *err, size_t errlen)
{
	wcheck_t w = {0};
	routing_t *rt = routing_current();

	if (l->workers <= 1)
		return 0;
	if (!l->ops->workers) {
		snprintf(err, errlen,
		         "option 'workers': a %s listener runs in one process (its sessions must "
		         "be unique: docs/deploy.md)",
		         l->ops->scheme);
		return -EINVAL;
	}
	if (url_opt_given(l->url, "reverse") || url_opt_given(l->url, "replay-state")) {
		snprintf(err, errlen,
		         "option 'workers': not with %s= (its state is one process's: "
		         "docs/deploy.md)",
		         url_opt_given(l->url, "reverse") ? "reverse" : "replay-state");
		return -EINVAL;
	}
	if (l->routed && rt)
		routing_chains(rt, workers_chain, &w);
	else
		workers_chain(&w, NULL, NULL, l->chain);
	if (w.found) {
		snprintf(
		    err, errlen,
		    "option 'workers': a chain holds a hop whose session must be unique (sstp, "
		    "ppp, vpn, sctp): workers=1 (docs/deploy.md)");
		return -EINVAL;
	}
	return 0;
}

/* A listener without a chain of its own takes via='s from the routing. */
static int listener_route(listener_t *l, char *err, size_t errlen)
{
	routing_t *rt = routing_current();
	char names[512];

	if (l->chain) {
		if (l->via) {
			snprintf(err, errlen, "option 'via': this listener has its own chain");
			return -EINVAL;
		}
		return 0;
	}
	if (!rt) {
		snprintf(err, errlen, "no chains are configured");
		return -EINVAL;
	}
	l->routed = 1;
	if (!(l->chain = routing_dialer(rt, l->via))) {
		routing_chain_names(rt, names, sizeof(names));
		snprintf(err, errlen, "option 'via': no chain '%s' (chains: %s)", l->via, names);
		return -EINVAL;
	}
	return 0;
}

dialer_t *listener_chain_take(listener_t *l, struct routing **ref)
{
	dialer_t *d;

	*ref = NULL;
	if (!l->routed || !(*ref = routing_ref(routing_current())))
		return l->chain;
	if (!(d = routing_dialer(*ref, l->via))) {
		log_warn(0, "%s: no chain '%s' now: the rules decide", l->name, l->via);
		d = routing_dialer(*ref, NULL);
	}
	return d;
}

void listener_chain_drop(struct routing *ref)
{
	routing_unref(ref);
}

int listener_new(uv_loop_t *loop, url_t *u, dialer_t *chain, listener_t **out, char *err,
                 size_t errlen)
{
	const transport_scheme_t *ts = transport_listener(u->scheme);
	const front_ops_t *ops = ts ? ts->listen : NULL;
	listener_t *l;
	int r;

	*out = NULL;
	if (!ops) {
		char list[256];
		transport_list(list, sizeof(list), 0);
		snprintf(err, errlen, "unknown listener type (known: %s)", list);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->ops = ops;
	l->url = u;
	l->loop = loop;
	queue_init(&l->conns);
	l->chain = chain;
	l->taken_fd = -1;
	if (u->host[0] && strchr(u->host, ':'))
		snprintf(l->name, sizeof(l->name), "%s://[%s]:%d", u->scheme, u->host, u->port);
	else if (u->port > 0)
		snprintf(l->name, sizeof(l->name), "%s://%s:%d", u->scheme, u->host, u->port);
	else
		snprintf(l->name, sizeof(l->name), "%s://%s%s", u->scheme, u->host, u->path);
	url_name_escape(l->name, sizeof(l->name));

	if (!ops->start && (r = listener_bind_addr(u, &l->bind, err, errlen)) < 0)
		goto fail;
	l->host_loopback = l->link_local = -1; /* the target policy's, below */
	l->idle_timeout_ms = ops->idle_timeout_ms ? ops->idle_timeout_ms : LISTENER_IDLE_DEFAULT;
	if ((ts->listen_doc.pass && (r = cred_load(u, err, errlen)) < 0) ||
	    (r = opts_parse(&listener_opts, u, l, err, errlen)) < 0 ||
	    (ops->relay && (r = opts_parse(&listener_relay_opts, u, l, err, errlen)) < 0))
		goto fail;
	if ((r = listener_route(l, err, errlen)) < 0)
		goto fail;
	if (l->rate)
		l->rl = ratelimit_new(
		    (double)l->rate, l->burst ? (double)l->burst : (double)l->rate * 2, RATE_SLOTS);
	if (ops->init && (r = ops->init(l, err, errlen)) < 0)
		goto fail;
	/* after init: a listener that starts itself sets its bind address there */
	target_policy(l);
	if ((r = open_relay(l, err, errlen)) < 0 || (r = workers_check(l, err, errlen)) < 0)
		goto fail;
	if ((r = url_check_opts(u, err, errlen)) < 0)
		goto fail;
	l->m = metrics_listener_new(l->name);
	*out = l;
	return 0;
fail:
	l->url = NULL; /* the caller still owns u */
	listener_free(l);
	return r;
}

/* The descriptor limit: 0 for none.  Read again only when a descriptor
 * lands in the reserve (the limit may have been raised from outside since,
 * with prlimit(1)), so an accept costs no system call for it. */
static uint64_t fd_limit(int fresh)
{
	static uint64_t cached;
	struct rlimit rl;

	if (cached && !fresh)
		return cached;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return cached = 0;
	return cached = rl.rlim_cur;
}

/* Descriptors kept free for what the accepted connections still need (a
 * dial each, TLS files, logs): a connection whose descriptor falls in this
 * reserve is refused.  The kernel hands out the lowest free number, so
 * descriptor n means at least n + 1 are open. */
static int fd_reserve_hit(stream_t *s, uint64_t *limit)
{
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)tcp_stream_handle(s), &fd) < 0)
		return 0;
	for (int fresh = 0; fresh < 2; fresh++) {
		uint64_t lim = fd_limit(fresh), spare = lim / 8;

		spare = spare < 8 ? 8 : spare > 256 ? 256 : spare;
		*limit = lim;
		if (!lim || (uint64_t)fd + spare < lim)
			return 0;
	}
	return 1;
}

/* At most one line every FD_LOG_MS, with how many were refused since. */
#define FD_LOG_MS 5000

static void log_fd_refusal(listener_t *l, const char *who, uint64_t id, const char *peer,
                           int fd_err, uint64_t limit)
{
	uint64_t now = uv_now(l->loop);

	l->fd_refused++;
	if (l->fd_logged_at && now - l->fd_logged_at < FD_LOG_MS)
		return;
	l->fd_logged_at = now;
	if (fd_err)
		log_warn(id, "%s: accept: %s: out of descriptors; raise the limit (ulimit -n)",
		         l->name, uv_strerror(fd_err));
	else
		log_warn(id,
		         "%s: refused %s: descriptors nearly exhausted (limit %llu): %llu "
		         "connection%s refused so far; raise the limit (ulimit -n)",
		         who, peer, (unsigned long long)limit, (unsigned long long)l->fd_refused,
		         l->fd_refused == 1 ? "" : "s");
}

int listener_admit(listener_t *l, const char *who, stream_t *s, const struct sockaddr *peer,
                   uint64_t active, uint64_t id)
{
	const char *why = NULL;
	uint64_t limit = 0;
	char pstr[64];

	sockaddr_str(peer, pstr, sizeof(pstr));
	if (s && fd_reserve_hit(s, &limit)) {
		log_fd_refusal(l, who, id, pstr, 0, limit);
		l->m->rejected++;
		stream_reset(s);
		return 0;
	}
	if (!acl_permits(&l->clients, peer))
		why = "client not allowed";
	else if (active >= l->max_conns)
		why = "too many connections";
	else if (l->rl && !ratelimit_allow(l->rl, peer, uv_now(l->loop)))
		why = "connection rate exceeded";
	if (!why)
		return 1;
	if (s)
		log_info(id, "%s: refused %s: %s", who, pstr, why);
	else /* a datagram: one line each would let a sender flood the log */
		log_debug(id, "%s: refused %s: %s", who, pstr, why);
	l->m->rejected++;
	if (s)
		stream_reset(s);
	return 0;
}

static void on_connection(uv_stream_t *srv, int status)
{
	listener_t *l = srv->data;
	struct sockaddr_storage peer;
	int plen = sizeof(peer);
	stream_t *s;
	uint64_t id;
	int r;

	if (status < 0) {
		if (status == UV_EMFILE || status == UV_ENFILE)
			log_fd_refusal(l, l->name, 0, NULL, status, 0);
		else
			log_warn(0, "%s: accept: %s", l->name, uv_strerror(status));
		return;
	}
	id = conn_next_id();
	if ((r = tcp_stream_accept(srv, id, &s)) < 0) {
		if (r == UV_EMFILE || r == UV_ENFILE)
			log_fd_refusal(l, l->name, id, NULL, r, 0);
		return;
	}
	if (uv_tcp_getpeername(tcp_stream_handle(s), (struct sockaddr *)&peer, &plen) < 0) {
		stream_close(s);
		return;
	}
	if (listener_admit(l, l->name, s, (struct sockaddr *)&peer, l->m->active, id))
		l->ops->on_conn(conn_new(l, s, (struct sockaddr *)&peer));
}

/* A socket of l's address with SO_REUSEPORT (libuv 1.44 has no flag for
 * it), bound, listening, and l's. */
static int reuseport_open(listener_t *l)
{
	int one = 1, r;
	int fd = socket(l->bind.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t len = l->bind.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                              : sizeof(struct sockaddr_in);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&l->bind, len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if ((r = uv_tcp_open(&l->tcp, fd)) < 0) {
		close(fd);
		return r;
	}
	return uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection);
}

/* l's TCP socket listens (fd >= 0: that socket, already bound and
 * listening, is l's now); then what serves beside it. */
static int tcp_listen(listener_t *l, int fd, char *err, size_t errlen)
{
	int r;

	uv_tcp_init(l->loop, &l->tcp);
	l->tcp.data = l;
	if (fd >= 0 && (r = uv_tcp_open(&l->tcp, fd)) < 0)
		close(fd);
	else if (fd >= 0)
		r = uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection);
	else if (l->workers > 1 && listener_reuseport)
		r = reuseport_open(l);
	else if ((r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&l->bind, 0)) >= 0)
		r = uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection);
	if (r < 0) {
		snprintf(err, errlen, "-L %s: %s", l->name, uv_strerror(r));
		uv_close((uv_handle_t *)&l->tcp, NULL);
		return r;
	}
	return 0;
}

static int serve_beside(listener_t *l, char *err, size_t errlen)
{
	int r;

	if (l->ops->listening && (r = l->ops->listening(l)) < 0) {
		snprintf(err, errlen, "-L %s: %s", l->name, uv_strerror(r));
		uv_close((uv_handle_t *)&l->tcp, NULL);
		return r;
	}
	l->listening = 1;
	log_info(0, "listening on %s", l->name);
	return 0;
}

int listener_start(listener_t *l, char *err, size_t errlen)
{
	int r;

	if (l->ops->start) {
		r = l->ops->start(l);
		if (r < 0)
			snprintf(err, errlen, "-L %s: %s", l->name, uv_strerror(r));
		else
			l->listening = 1;
		return r;
	}
	if ((r = tcp_listen(l, -1, err, errlen)) < 0)
		return r;
	return serve_beside(l, err, errlen);
}

int listener_take(listener_t *l, listener_t *old, char *err, size_t errlen)
{
	uv_os_fd_t fd;
	int r, nfd, dfd;

	if (old->listening && l->ops == old->ops && l->ops->dgram_fd &&
	    (dfd = l->ops->dgram_fd(old)) >= 0)
		l->taken_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0); /* failed: l binds */
	if (l->ops->start || old->ops->start || !old->listening ||
	    uv_fileno((uv_handle_t *)&old->tcp, &fd) < 0 ||
	    (nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		listener_stop(old);
		return listener_start(l, err, errlen);
	}
	/* the socket stays open and listening throughout: clients queued in
	 * its backlog are accepted by l */
	if ((r = tcp_listen(l, nfd, err, errlen)) < 0)
		return r;
	listener_stop(old); /* and what served beside it, before l's starts */
	return serve_beside(l, err, errlen);
}

int listener_adopt_check(listener_t *l, listener_t *nl, char *err, size_t errlen)
{
	if (l->ops != nl->ops || !l->ops->adopt || !l->listening || nl->listening)
		return UV_ENOTSUP;
	return l->ops->adopt_check(l, nl, err, errlen);
}

#define SWAP(a, b)                                                                                 \
	do {                                                                                       \
		__typeof__(a) t_ = (a);                                                            \
		(a) = (b);                                                                         \
		(b) = t_;                                                                          \
	} while (0)

void listener_adopt(listener_t *l, listener_t *nl)
{
	/* the acls are swapped by value: what points at l's (a session's
	 * target policy) follows the new ones */
	SWAP(l->url, nl->url);
	SWAP(l->via, nl->via);
	SWAP(l->routed, nl->routed);
	SWAP(l->chain, nl->chain);
	SWAP(l->clients, nl->clients);
	SWAP(l->targets, nl->targets);
	SWAP(l->max_conns, nl->max_conns);
	SWAP(l->rate, nl->rate);
	SWAP(l->burst, nl->burst);
	SWAP(l->rl, nl->rl);
	SWAP(l->connect_timeout_ms, nl->connect_timeout_ms);
	SWAP(l->idle_timeout_ms, nl->idle_timeout_ms);
	SWAP(l->handshake_timeout_ms, nl->handshake_timeout_ms);
	SWAP(l->host_loopback, nl->host_loopback);
	SWAP(l->link_local, nl->link_local);
	SWAP(l->open, nl->open);
	l->ops->adopt(l, nl);
}

int listener_taken_fd(listener_t *l)
{
	int fd = l->taken_fd;

	l->taken_fd = -1;
	return fd;
}

void listener_stop(listener_t *l)
{
	if (!l->listening)
		return;
	l->listening = 0;
	l->stopping = 1;
	if (l->ops->stop)
		l->ops->stop(l);
	if (!l->ops->start)
		uv_close((uv_handle_t *)&l->tcp, NULL);
}

void listener_free(listener_t *l)
{
	if (!l)
		return;
	while (!queue_empty(&l->conns))
		conn_close(queue_data(queue_first(&l->conns), conn_t, link), "shutdown");
	if (l->ops && l->ops->free)
		l->ops->free(l);
	if (l->taken_fd >= 0)
		close(l->taken_fd);
	acl_free(&l->clients);
	acl_free(&l->targets);
	ratelimit_free(l->rl);
	free(l);
}
