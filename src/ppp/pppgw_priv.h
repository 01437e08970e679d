/* pppgw_priv: what the PPP gateway's files share, and what a listener that
 * carries PPP in a framing of its own (the SSTP server, sstp/sstpd.c)
 * builds on.
 *
 *   pppgw.c       sessions: the engine, the libslirp gateway, the links
 *                 (TCP, UNIX, serial, stdio; a framed link given by its
 *                 owner), their timers and their end
 *   pppgw_cfg.c   the gateway: options, addresses, metrics, the schemes
 *
 * A framed link (pgw_link_t) is a conn whose owner reads the client stream
 * itself, takes whole PPP frames out of its own packets and hands them to
 * pgw_session_frame(); the session writes frames back through the link's
 * output, which wraps them and writes with pgw_session_write().  The
 * session is the conn's front (c->front) from pgw_session_new() on, so the
 * gateway's caps, metrics and end work for it as for every link; PPP
 * itself starts when the owner calls pgw_session_start().
 */
#ifndef SLUICE_PPPGW_PRIV_H
#define SLUICE_PPPGW_PRIV_H

#include <netinet/in.h>
#include <sys/un.h>
#include <termios.h>

#include "core/conn.h"
#include "core/listener.h"
#include "core/opts.h"
#include "core/users.h"
#include "core/wbatch.h"
#include "netstack/pcap.h"
#include "netstack/slirpgw.h"
#include "ppp/ppp.h"

#define MAX_SERVICES 64

enum link_kind { LINK_TCP, LINK_UNIX, LINK_SERIAL, LINK_STDIO, LINK_FRAMED };

typedef struct pgw {
	listener_t *l;
	enum link_kind kind;
	users_t *users;
	unsigned auth_methods;
	int require_auth, restricted, ipv6;
	struct in_addr net;
	int prefix;
	slirpgw_service_t *services[MAX_SERVICES];
	size_t nservices;
	pcapw_t *pcap;
	uint64_t max_sessions, max_per_user, echo_ms, nsessions;
	uint8_t *used; /* peer address slots in use */
	size_t nslots;
	/* UNIX */
	uv_pipe_t pipe;
	char *path;
	/* serial */
	char *device;
	speed_t speed;
	uint64_t baud;
	int rtscts;
	uv_timer_t retry;
	int serial_up;
	/* who failed logins count against (core/authguard.h) on links without
	 * a network address: the link itself, named by its path */
	struct sockaddr_un link;
	void *owner; /* a framed link's listener state (the SSTP server's) */
} pgw_t;

/* A link with a framing of its own; every callback may be NULL but output. */
typedef struct pgw_link {
	/* one whole PPP frame to send (ff 03, protocol, information) */
	void (*output)(void *ud, const uint8_t *frame, size_t len);
	/* authentication is over, the network phase starts */
	void (*authed)(void *ud);
	/* IPCP is up: 0 lets IP flow; -1 ends the session, *why says why */
	int (*up)(void *ud, const char **why);
	/* the session ends (reason as logged): last words through
	 * pgw_session_write(), which are flushed right after */
	void (*down)(void *ud, const char *reason);
	void (*free)(void *ud);
} pgw_link_t;

typedef struct psess {
	conn_t *c;
	pgw_t *g;
	ppp_t *ppp;
	slirpgw_t *gw;
	uv_timer_t *tick;
	wbatch_t out; /* the frames of one loop turn, one write */
	size_t slot;
	uint64_t last_ip;
	const char *end_reason;
	const pgw_link_t *link; /* NULL: async HDLC on the client stream */
	void *link_ud;
	unsigned down : 1;
} psess_t;

/* What the options say, before the gateway takes it over.  A schema that
 * extends pppgw_opts (OPT_SCHEMA_AT) keeps this struct inside its own. */
typedef struct pgw_opts {
	pgw_t *g; /* service= makes its services in g */
	unsigned auth;
	int auth_none, restricted, ipv6, rtscts;
	uint64_t max_sessions, max_per_user, echo_ms, baud;
	struct in_addr net;
	int prefix;
	const char *users, *pcap;
} pgw_opts_t;

/* pppgw_cfg.c */
/* Makes l's gateway (l->front): parses the URL with schema into obj, whose
 * gateway options are at o (obj itself for the gateway's own schemas). */
int pgw_setup(listener_t *l, enum link_kind kind, const opt_schema_t *schema, void *obj,
              pgw_opts_t *o, char *err, size_t errlen);
void pgw_free(listener_t *l);
struct in_addr pgw_slot_addr(const pgw_t *g, size_t slot);

/* pppgw.c */
void pgw_on_conn(conn_t *c);
int pgw_start(listener_t *l);
void pgw_stop(listener_t *l);
/* A framed link's session for c: admitted (bans, session cap, an address
 * free) and made c's front, PPP not started yet.  NULL when refused: c is
 * closed then.  link_ud is freed with the session (link->free). */
psess_t *pgw_session_new(conn_t *c, const pgw_link_t *link, void *link_ud);
void pgw_session_start(psess_t *s);
void pgw_session_frame(psess_t *s, const uint8_t *frame, size_t len);
/* bytes for the client stream, sent with the loop turn's other frames */
void pgw_session_write(psess_t *s, const void *p, size_t len);
void pgw_session_end(psess_t *s, const char *reason);

#endif
