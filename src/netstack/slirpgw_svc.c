/* slirpgw_svc: the slirp gateway's services (see slirpgw.h): what the
 * restricted mode reaches (full mode may have them too).
 *
 * libslirp 4.7 can hand us a connection of the peer in two ways:
 * slirp_add_guestfwd, whose write_cb has no notion of connections (one
 * opaque per address:port, no open, no close, no backpressure: the return
 * value is ignored; slirp_socket_recv() reaches only the first socket that
 * matches), so it cannot carry several TCP connections; and slirp_add_unix,
 * which connect()s a new AF_UNIX socket per connection.  We use the latter:
 * each instance listens on one socket per service in a private 0700
 * directory, libslirp is restricted (nothing else is reachable even if the
 * shim were wrong), and each accepted socket becomes a stream relayed to a
 * connection dialed through the service's chain.
 *
 * The shim keeps a flow per service connection so that the peer sees a real
 * connect: its SYN is held while we dial (DIALING) and only then given to
 * libslirp (READY); a failed dial, a full cap, a rate limit or an ACL answer
 * the SYN with a reset.  libslirp connects the AF_UNIX socket when the
 * handshake completes, synchronously and with a blocking connect(), inside
 * slirp_input(); right after each packet that may complete a handshake (one
 * following a SYN we gave libslirp, or of no flow) we accept what is
 * pending, so the connection found is that flow's (READY -> RELAY), and the
 * listen queue never fills, whatever the peer sends (a full queue would
 * block the loop).
 *
 *   flow:  DIALING --dial ok--> READY --accepted--> RELAY --relay done--> freed
 *          any state --peer RST, timeout, error, gateway freed--> freed
 */
#include "netstack/slirpgw_priv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/relay.h"
#include "core/tcp.h"

#define READY_TIMEOUT_MS 30000 /* SYN given to libslirp, handshake not done */
#define LISTEN_BACKLOG 8

typedef enum flow_state { FLOW_DIALING, FLOW_READY, FLOW_RELAY } flow_state_t;
static const char *const flow_state_names[] = {"DIALING", "READY", "RELAY"};

typedef struct flow {
	struct slirpgw *gw;
	unsigned svc;
	uint16_t sport;
	flow_state_t state;
	uint64_t id, t0, t_ready;
	dial_t *dial;
	stream_t *up;   /* READY: the dialed connection */
	relay_t *relay; /* RELAY */
	uint8_t *syn;   /* DIALING: the SYN we hold */
	size_t synlen;
	unsigned syn_passed : 1; /* a SYN went to libslirp, no accept since */
	queue_t link;            /* in gw->flows */
} flow_t;

static queue_t all_svcs = {&all_svcs, &all_svcs}; /* slirpgw_service_t.mlink */

/* ------------------------------------------------------------------ */
/* service flows                                                        */

static void flow_set_state(flow_t *f, flow_state_t s)
{
	static const unsigned legal[] = {
	    [FLOW_DIALING] = 1u << FLOW_READY,
	    [FLOW_READY] = 1u << FLOW_RELAY,
	    [FLOW_RELAY] = 0,
	};

	if (!(legal[f->state] & (1u << s))) {
		log_err(f->id, "slirpgw: illegal flow transition %s -> %s",
		        flow_state_names[f->state], flow_state_names[s]);
		abort();
	}
	log_trace(f->id, "flow %s -> %s", flow_state_names[f->state], flow_state_names[s]);
	f->state = s;
}

static flow_t *flow_find(slirpgw_t *gw, unsigned si, uint16_t sport)
{
	queue_t *q;

	queue_foreach (q, &gw->flows) {
		flow_t *f = queue_data(q, flow_t, link);
		if (f->svc == si && f->sport == sport)
			return f;
	}
	return NULL;
}

static void flow_free(flow_t *f, const char *reason)
{
	slirpgw_t *gw = f->gw;

	queue_remove(&f->link);
	gw->cfg.services[f->svc]->active--;
	gw->st.flows--;
	log_debug(f->id, "slirpgw flow closed: %s", reason);
	free(f->syn);
	free(f);
}

static void flow_close(flow_t *f, const char *reason)
{
	switch (f->state) {
	case FLOW_DIALING:
		if (f->dial)
			dial_cancel(f->dial);
		break;
	case FLOW_READY:
		stream_close(f->up);
		break;
	case FLOW_RELAY:
		relay_close(f->relay, reason); /* on_relay_done frees */
		return;
	}
	flow_free(f, reason);
}

void slirpgw_flows_expire(slirpgw_t *gw)
{
	uint64_t now = uv_now(gw->loop);
	queue_t *q, *n;

	queue_foreach_safe (q, n, &gw->flows) {
		flow_t *f = queue_data(q, flow_t, link);
		if (f->state == FLOW_READY && now - f->t_ready > READY_TIMEOUT_MS)
			flow_close(f, "handshake timeout");
	}
}

static void on_relay_done(void *ud, const char *reason, uint64_t up, uint64_t down)
{
	flow_t *f = ud;

	log_info(f->id, "closed (%s) after %.1f s: %llu bytes up, %llu down", reason,
	         (double)(uv_now(f->gw->loop) - f->t0) / 1000, (unsigned long long)up,
	         (unsigned long long)down);
	flow_free(f, reason);
}

static void flow_relay(flow_t *f, int fd)
{
	slirpgw_t *gw = f->gw;
	slirpgw_service_t *svc = gw->cfg.services[f->svc];
	relay_opts_t o = {
	    .idle_ms = svc->idle_ms, .ctr_ab = &svc->bytes_up, .ctr_ba = &svc->bytes_down};
	char t[300];
	stream_t *s;

	if (unix_stream_open(gw->loop, fd, f->id, &s) < 0) {
		flow_close(f, "cannot open the slirp side");
		return;
	}
	flow_set_state(f, FLOW_RELAY);
	target_str(&svc->target, t, sizeof(t));
	log_info(f->id, "%s: %s -> %s", gw->name, svc->label, t);
	f->relay = relay_start(gw->loop, s, f->up, &o, on_relay_done, f);
	f->up = NULL;
}

/* Accept what libslirp connected while handling the last packet of
 * (si, sport): that flow's connection, if it is READY; else nobody's
 * (closed: the peer sees the connection end). */
void slirpgw_svc_drain(slirpgw_t *gw, unsigned si, uint16_t sport)
{
	slot_t *sl = &gw->slots[si];
	flow_t *f = flow_find(gw, si, sport);
	int fd;

	if (gw->closing || sl->lfd < 0)
		return;
	for (;;) {
		fd = accept4(sl->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (f)
			f->syn_passed = 0;
		if (f && f->state == FLOW_READY) {
			flow_relay(f, fd);
			f = NULL;
		} else {
			log_debug(gw->cfg.id, "slirpgw %s: connection of no flow closed",
			          gw->cfg.services[si]->label);
			close(fd);
		}
	}
}

static void on_dial(void *ud, stream_t *s, int err)
{
	flow_t *f = ud;
	slirpgw_t *gw = f->gw;
	slirpgw_service_t *svc = gw->cfg.services[f->svc];
	uint8_t *syn = f->syn;
	size_t synlen = f->synlen;
	char t[300];
	ippkt_t p;

	f->dial = NULL;
	target_str(&svc->target, t, sizeof(t));
	if (err < 0) {
		int ok = ippkt_parse(syn, synlen, &p) == 0;

		log_info(f->id, "%s: %s -> %s: %s", gw->name, svc->label, t, uv_strerror(err));
		svc->failed++;
		gw->slots[f->svc].failed++;
		flow_free(f, "dial failed"); /* first: the output callback may free gw */
		if (ok)
			slirpgw_send_rst(gw, &p);
		return;
	}
	log_debug(f->id, "%s -> %s: connected in %llu ms", svc->label, t,
	          (unsigned long long)(uv_now(gw->loop) - f->t0));
	f->up = s;
	f->syn = NULL;
	f->syn_passed = 1;
	f->t_ready = uv_now(gw->loop);
	flow_set_state(f, FLOW_READY);
	slirpgw_to_slirp(gw, syn, synlen, -1, 0); /* now libslirp may answer the SYN */
	free(syn);
}

static int acl_empty(const acl_t *a)
{
	return !a->allow.n && !a->deny.n;
}

/* Both checksums of a SYN we are about to act on (libslirp would drop a bad
 * one, but only after we had dialed for it). */
static int syn_ok(const uint8_t *pkt, const ippkt_t *p)
{
	size_t ihl = (size_t)(pkt[0] & 15) * 4;

	return ippkt_csum(pkt, ihl) == 0 &&
	       ippkt_csum_l4(pkt, 4, IPPKT_TCP, pkt + p->l4, p->len - p->l4) == 0;
}

static int flow_open(slirpgw_t *gw, unsigned si, const ippkt_t *p, const uint8_t *pkt, size_t len)
{
	slirpgw_service_t *svc = gw->cfg.services[si];
	slot_t *sl = &gw->slots[si];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *why = NULL;
	int dr = DR_POLICY;
	dial_opts_t o;
	flow_t *f;

	memcpy(&sa.sin_addr, p->src, 4);
	if (!syn_ok(pkt, p)) {
		gw->drops[DR_MALFORMED]++;
		gw->st.dropped++;
		return -EINVAL;
	}
	if (!acl_permits(&svc->clients, (struct sockaddr *)&sa)) {
		why = "client ACL";
	} else if (gw->st.flows >= gw->cfg.max_flows) {
		why = "too many connections in this session";
		dr = DR_FLOWS;
	} else if (svc->active >= svc->max_conns) {
		why = "connection cap";
		dr = DR_FLOWS;
	} else if (svc->rate > 0 &&
	           !tbucket_take(&svc->tb, svc->rate, svc->burst, uv_now(gw->loop))) {
		why = "rate limit";
		dr = DR_FLOWS;
	}
	if (why) {
		log_info(gw->cfg.id, "%s: %s refused: %s", gw->name, svc->label, why);
		svc->refused++;
		sl->refused++;
		gw->drops[dr]++;
		gw->st.dropped++;
		slirpgw_send_rst(gw, p);
		return dr == DR_FLOWS ? -ENOBUFS : -EACCES;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	f->gw = gw;
	f->svc = si;
	f->sport = p->sport;
	f->state = FLOW_DIALING;
	f->id = conn_next_id();
	f->t0 = uv_now(gw->loop);
	f->syn = malloc(len);
	if (!f->syn)
		abort();
	memcpy(f->syn, pkt, len);
	f->synlen = len;
	queue_insert_head(&gw->flows, &f->link);
	svc->active++;
	svc->total++;
	sl->total++;
	gw->st.flows++;
	gw->st.flows_total++;
	gw->st.pkts_in++;
	gw->st.bytes_in += len;
	o.id = f->id;
	o.acl = acl_empty(&svc->targets) ? NULL : &svc->targets;
	f->dial = dial_start(svc->chain, &svc->target, &o, svc->connect_ms, on_dial, f);
	return 0;
}

int slirpgw_svc_input(slirpgw_t *gw, unsigned si, const ippkt_t *p, const uint8_t *pkt, size_t len)
{
	flow_t *f = flow_find(gw, si, p->sport);

	if (p->flags & IPPKT_RST) {
		if (f && f->state == FLOW_DIALING) {
			flow_close(f, "reset by the peer");
			return 0;
		}
		if (f && f->state == FLOW_READY)
			flow_close(f, "reset by the peer");
		return slirpgw_pass(gw, pkt, len, -1, 0);
	}
	if ((p->flags & (IPPKT_SYN | IPPKT_ACK)) == IPPKT_SYN) {
		if (!f)
			return flow_open(gw, si, p, pkt, len);
		if (f->state != FLOW_DIALING) {
			/* a retransmission (libslirp answers it again), or the port
			 * reused while our relay lingers: what it connects, if
			 * anything, is accepted and closed */
			f->syn_passed = 1;
			return slirpgw_pass(gw, pkt, len, -1, 0);
		}
		if (len <= f->synlen && syn_ok(pkt, p)) { /* keep the latest */
			memcpy(f->syn, pkt, len);
			f->synlen = len;
		}
		return 0;
	}
	if (f && f->state == FLOW_DIALING)
		return 0; /* nothing there yet to talk to */
	/* Only a packet that follows a SYN given to libslirp can make it
	 * connect; with no flow we cannot tell, so accept too. */
	if (!f || f->syn_passed)
		return slirpgw_pass(gw, pkt, len, (int)si, p->sport);
	return slirpgw_pass(gw, pkt, len, -1, 0);
}

void slirpgw_flows_close(slirpgw_t *gw)
{
	while (!queue_empty(&gw->flows))
		flow_close(queue_data(queue_first(&gw->flows), flow_t, link), "gateway closed");
}

/* ------------------------------------------------------------------ */
/* listening sockets, one per service and instance                      */

int slirpgw_slots_open(slirpgw_t *gw)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int r;

	gw->slots = calloc(gw->cfg.nservices, sizeof(*gw->slots));
	if (!gw->slots)
		abort();
	for (size_t i = 0; i < gw->cfg.nservices; i++)
		gw->slots[i].lfd = -1;
	if (!base || !*base || strlen(base) > 64)
		base = "/tmp";
	snprintf(gw->dir, sizeof(gw->dir), "%s/sluice-gw-XXXXXX", base);
	if (!mkdtemp(gw->dir)) { /* 0700: the sockets are ours alone */
		r = -errno;
		gw->dir[0] = 0;
		return r;
	}
	for (size_t i = 0; i < gw->cfg.nservices; i++) {
		slot_t *sl = &gw->slots[i];
		slirpgw_service_t *svc = gw->cfg.services[i];
		struct in_addr a = svc->addr;

		if ((size_t)snprintf(sl->path, sizeof(sl->path), "%s/%zu", gw->dir, i) >=
		    sizeof(sl->path))
			return -ENAMETOOLONG;
		memcpy(sa.sun_path, sl->path, sizeof(sl->path));
		sl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (sl->lfd < 0 || bind(sl->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			r = -errno;
			sl->path[0] = 0; /* nothing to unlink */
			return r;
		}
		if (listen(sl->lfd, LISTEN_BACKLOG) < 0)
			return -errno;
		if (slirp_add_unix(gw->slirp, sl->path, &a, svc->port) < 0) {
			log_err(gw->cfg.id,
			        "%s: service %s: the address must be inside the virtual network, "
			        "not its host or DNS alias, and listed once",
			        gw->name, svc->label);
			return -EINVAL;
		}
	}
	return 0;
}

void slirpgw_slots_close(slirpgw_t *gw)
{
	for (size_t i = 0; gw->slots && i < gw->cfg.nservices; i++) {
		if (gw->slots[i].lfd >= 0)
			close(gw->slots[i].lfd);
		if (gw->slots[i].path[0])
			unlink(gw->slots[i].path);
	}
	if (gw->dir[0])
		rmdir(gw->dir);
	free(gw->slots);
	gw->slots = NULL;
}

/* ------------------------------------------------------------------ */
/* services                                                             */

static int svc_fail(char *err, size_t errlen, const char *spec, const char *fmt, const char *arg)
{
	char msg[600];

	snprintf(msg, sizeof(msg), fmt, arg);
	snprintf(err, errlen, "service \"%.60s\": %s", spec, msg);
	return -EINVAL;
}

static int parse_count(const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v) || v <= 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int svc_option(slirpgw_service_t *s, char *key, char *val, char *err, size_t errlen,
                      const char *spec)
{
	char bad[64], e2[URL_ERRLEN];
	double d;

	if (!strcmp(key, "via")) {
		url_t *u;
		url_t **h;

		if (url_parse(val, &u, e2, sizeof(e2)) < 0)
			return svc_fail(err, errlen, spec, "via: %s", e2);
		h = realloc(s->hops, (s->nhops + 1) * sizeof(*h));
		if (!h)
			abort();
		s->hops = h;
		s->hops[s->nhops++] = u;
	} else if (!strcmp(key, "max-conns")) {
		if (parse_count(val, 1e6, &d) < 0 || d != floor(d))
			return svc_fail(err, errlen, spec, "max-conns: not a count: %s", val);
		s->max_conns = (uint64_t)d;
	} else if (!strcmp(key, "rate")) {
		if (parse_count(val, 1e6, &s->rate) < 0)
			return svc_fail(err, errlen, spec, "rate: not a positive rate: %s", val);
	} else if (!strcmp(key, "burst")) {
		if (parse_count(val, 1e6, &s->burst) < 0 || s->burst < 1)
			return svc_fail(err, errlen, spec, "burst: not a count >= 1: %s", val);
	} else if (!strcmp(key, "allow") || !strcmp(key, "deny") || !strcmp(key, "allow-target") ||
	           !strcmp(key, "deny-target")) {
		acl_t *a = strstr(key, "target") ? &s->targets : &s->clients;
		cidr_list_t *l = key[0] == 'a' ? &a->allow : &a->deny;

		if (cidr_list_add(l, val, bad, sizeof(bad)) < 0) {
			snprintf(e2, sizeof(e2), "%s: bad address or prefix: %s", key, bad);
			return svc_fail(err, errlen, spec, "%s", e2);
		}
	} else if (!strcmp(key, "connect-timeout") || !strcmp(key, "idle-timeout")) {
		uint64_t *ms = key[0] == 'c' ? &s->connect_ms : &s->idle_ms;

		if (parse_duration_ms(val, ms) < 0) {
			snprintf(e2, sizeof(e2), "%s: not a duration: %s", key, val);
			return svc_fail(err, errlen, spec, "%s", e2);
		}
	} else {
		return svc_fail(
		    err, errlen, spec,
		    "unknown option %s (known: via, max-conns, rate, burst, allow, deny, "
		    "allow-target, deny-target, connect-timeout, idle-timeout)",
		    key);
	}
	return 0;
}

static void svc_destroy(slirpgw_service_t *s)
{
	chain_free(s->chain);
	for (size_t i = 0; i < s->nhops; i++)
		url_free(s->hops[i]);
	free(s->hops);
	acl_free(&s->clients);
	acl_free(&s->targets);
	free(s);
}

int slirpgw_service_new(uv_loop_t *loop, const char *spec, slirpgw_service_t **out, char *err,
                        size_t errlen)
{
	slirpgw_service_t *s = calloc(1, sizeof(*s));
	char *buf = strdup(spec), *save = NULL, *w, *arrow, *eq;
	char host[256];
	uint16_t port;
	int r = -EINVAL;

	if (!s || !buf)
		abort();
	s->loop = loop;
	s->max_conns = 64;
	s->connect_ms = 10000;
	s->idle_ms = 300000;
	w = strtok_r(buf, " \t\r\n", &save);
	if (!w || !(arrow = strstr(w, "->"))) {
		r = svc_fail(err, errlen, spec, "%sexpected ADDR:PORT->HOST:PORT", "");
		goto fail;
	}
	*arrow = 0;
	if (hostport_parse(w, host, sizeof(host), &port) < 0 || !port ||
	    inet_pton(AF_INET, host, &s->addr) != 1) {
		r = svc_fail(err, errlen, spec, "%s: the peer side must be IPv4-ADDRESS:PORT", w);
		goto fail;
	}
	s->port = port;
	inet_ntop(AF_INET, &s->addr, host, INET_ADDRSTRLEN);
	host[INET_ADDRSTRLEN] = 0;
	snprintf(s->label, sizeof(s->label), "%.15s:%u", host, port);
	if (hostport_parse(arrow + 2, host, sizeof(host), &port) < 0 || !port ||
	    target_set(&s->target, host, port) < 0) {
		r = svc_fail(err, errlen, spec, "%s: the target must be HOST:PORT", arrow + 2);
		goto fail;
	}
	while ((w = strtok_r(NULL, " \t\r\n", &save))) {
		eq = strchr(w, '=');
		if (!eq || eq == w || !eq[1]) {
			r = svc_fail(err, errlen, spec, "%s: expected key=value", w);
			goto fail;
		}
		*eq = 0;
		if ((r = svc_option(s, w, eq + 1, err, errlen, spec)) < 0)
			goto fail;
	}
	if (!s->burst && s->rate > 0)
		s->burst = s->rate * 2 < 1 ? 1 : s->rate * 2;
	tbucket_init(&s->tb, s->burst, uv_now(loop));
	if ((r = chain_build(loop, s->hops, s->nhops, &s->chain, err, errlen)) < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", err);
		svc_fail(err, errlen, spec, "%s", msg);
		goto fail;
	}
	free(buf);
	slirpgw_metrics_init();
	queue_insert_head(&all_svcs, &s->mlink);
	*out = s;
	return 0;
fail:
	free(buf);
	svc_destroy(s);
	return r;
}

void slirpgw_service_free(slirpgw_service_t *s)
{
	if (!s)
		return;
	queue_remove(&s->mlink);
	svc_destroy(s);
}

/* ------------------------------------------------------------------ */
/* metrics                                                              */

static const metric_t svc_rows[] = {
    METRIC(slirpgw_service_t, active, "sluice_slirpgw_service_connections_active", "gauge",
           "Service connections open now, all sessions."),
    METRIC(slirpgw_service_t, refused, "sluice_slirpgw_service_refused_total", "counter",
           "Service connections refused by ACL, cap or rate."),
    METRIC(slirpgw_service_t, failed, "sluice_slirpgw_service_failed_total", "counter",
           "Service connections whose target could not be reached."),
    METRIC_X(slirpgw_service_t, bytes_up, "sluice_slirpgw_service_bytes_total", "counter",
             "Service bytes, up (from peers) and down.", "dir=\"up\""),
    METRIC_X(slirpgw_service_t, bytes_down, "sluice_slirpgw_service_bytes_total", "counter",
             "Service bytes, up (from peers) and down.", "dir=\"down\""),
};

int slirpgw_svc_metrics_wanted(void)
{
	return !queue_empty(&all_svcs);
}

void slirpgw_svc_metrics(mbuf_t *b, int declare)
{
	char lab[200];
	queue_t *q;

	if (declare) {
		METRICS_FAMILIES(b, svc_rows);
		metrics_family(b, "sluice_slirpgw_service_connections_total", "counter",
		               "Service connections opened, per session.");
		return;
	}
	queue_foreach (q, &all_svcs) {
		slirpgw_service_t *s = queue_data(q, slirpgw_service_t, mlink);
		METRICS_TABLE(b, svc_rows, s, metrics_label(lab, sizeof(lab), "service", s->label));
	}
}

void slirpgw_slot_metrics(mbuf_t *b, const slirpgw_t *gw, const char *lab)
{
	char l2[300];

	for (size_t i = 0; gw->slots && i < gw->cfg.nservices; i++) {
		snprintf(l2, sizeof(l2), "%s,service=\"%s\"", lab, gw->cfg.services[i]->label);
		metrics_sample(b, "sluice_slirpgw_service_connections_total", "counter",
		               "Service connections opened, per session.", l2, gw->slots[i].total);
	}
}
