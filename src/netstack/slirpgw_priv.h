/* slirpgw_priv: what the gateway's two files share (internal to
 * slirpgw.c, the NAT core, and slirpgw_svc.c, its services). */
#ifndef SLUICE_SLIRPGW_PRIV_H
#define SLUICE_SLIRPGW_PRIV_H

#include <slirp/libslirp.h>
#include <sys/un.h>

#include "core/acl.h"
#include "core/dial.h"
#include "core/metrics.h"
#include "core/queue.h"
#include "core/ratelimit.h"
#include "core/url.h"
#include "netstack/ippkt.h"
#include "netstack/slirpgw.h"

typedef struct qframe {
	struct qframe *next;
	int si; /* >= 0: a packet for service si: accept after it */
	uint16_t sport;
	size_t len;
	uint8_t data[];
} qframe_t;

typedef struct slot { /* one service of one instance */
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t total, refused, failed;
} slot_t;

enum drop_reason { DR_MALFORMED, DR_SPOOFED, DR_POLICY, DR_SOCKETS, DR_FLOWS, DR_QUEUE, DR_N };

struct slirpgw_service {
	char label[64]; /* ADDR:PORT, for logs and metrics */
	struct in_addr addr;
	uint16_t port;
	target_t target;
	dialer_t *chain;
	url_t **hops;
	size_t nhops;
	acl_t clients, targets;
	uint64_t max_conns, connect_ms, idle_ms;
	double rate, burst;
	tbucket_t tb;
	uint64_t active, total, refused, failed, bytes_up, bytes_down;
	uv_loop_t *loop;
	queue_t mlink; /* in all_svcs, for metrics */
};

struct slirpgw {
	uv_loop_t *loop;
	Slirp *slirp;
	slirpgw_config_t cfg;
	char name[128];
	slirpgw_output_fn out;
	void *ud;
	uv_prepare_t prepare;
	uv_check_t check;
	uv_timer_t tick;
	unsigned handles;         /* of the three above still open */
	queue_t polls;            /* gw_poll_t.link */
	struct gw_poll **flowtab; /* TCP host sockets by the peer's flow */
	queue_t corked;           /* gw_poll_t.clink: to uncork this turn */
	const ippkt_t *opening;   /* the SYN libslirp is being given */
	struct pfd {
		int fd, revents;
	} * pfd;
	size_t npfd, pfdcap;
	unsigned gen;
	qframe_t *qhead, *qtail;
	unsigned qlen;
	int depth;     /* calls into libslirp under way */
	queue_t flows; /* flow_t.link */
	slot_t *slots;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint8_t *frame; /* ETH_HLEN + mtu */
	uint8_t slirp_mac[6];
	slirpgw_stats_t st;
	uint64_t drops[DR_N];
	unsigned dirty : 1, pending : 1, kick : 1, closing : 1, free_pending : 1;
	queue_t mlink; /* in all_gws, for metrics */
};

/* the core, for the services */
/* Hand a packet of the peer to libslirp (si >= 0: a service's, whose
 * pending connection is accepted right after). */
int slirpgw_to_slirp(slirpgw_t *gw, const uint8_t *pkt, size_t len, int si, uint16_t sport);
/* Answer the peer's TCP segment p with a reset. */
void slirpgw_send_rst(slirpgw_t *gw, const ippkt_t *p);
/* A packet of the peer that the policy let through, counted. */
int slirpgw_pass(slirpgw_t *gw, const uint8_t *pkt, size_t len, int si, uint16_t sport);
void slirpgw_metrics_init(void);

/* the services, for the core */
int slirpgw_slots_open(slirpgw_t *gw);
void slirpgw_slots_close(slirpgw_t *gw);
/* A packet of the peer to service si (the policy chose it). */
int slirpgw_svc_input(slirpgw_t *gw, unsigned si, const ippkt_t *p, const uint8_t *pkt, size_t len);
/* Accept what libslirp connected for service si after a packet from sport. */
void slirpgw_svc_drain(slirpgw_t *gw, unsigned si, uint16_t sport);
void slirpgw_flows_expire(slirpgw_t *gw);
void slirpgw_flows_close(slirpgw_t *gw);
/* The services' metrics: their families (declare), then each service. */
int slirpgw_svc_metrics_wanted(void); /* a service exists */
void slirpgw_svc_metrics(mbuf_t *b, int declare);
void slirpgw_slot_metrics(mbuf_t *b, const slirpgw_t *gw, const char *lab);

#endif
