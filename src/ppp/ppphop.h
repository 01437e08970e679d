/* ppphop: PPP's client role as a hop: `-F ppp+tcp://[user:pass@]HOST:PORT`
 * or `-F ppp+unix://[user:pass@]/path.sock` dials a PPP server (slirp, a
 * sluice gateway, a modem server), brings up LCP, authentication and IPCP,
 * and carries connections over the link with the lwIP endpoint. */
#ifndef SLUICE_PPPHOP_H
#define SLUICE_PPPHOP_H

#include "core/dial.h"
#include "netstack/pkthop.h"
#include "ppp/ppp.h"

/* The options of every hop that carries PPP (this one, SSTP), and the
 * packet hop's (dns=): a hop keeps a ppp_link_opts_t inside its own
 * options and bases its schema on ppp_link_opts there. */
typedef struct ppp_link_opts {
	pkthop_opts_t pkt;
	unsigned auth; /* 1 << AUTH_*: the methods we agree to */
	uint64_t echo_ms;
	int ipv6;
} ppp_link_opts_t;
extern const opt_schema_t ppp_link_opts;
/* The PPP hop's: ppp_link_opts, and peer-ip= */
extern const opt_schema_t ppphop_opts;

int ppp_tcp_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                    size_t errlen);
/* `-F ppp+stdio://[user:pass@]`: the PPP server is on our stdin/stdout
 * (socat, ssh, a modem script); one session, not redialed. */
int ppp_stdio_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                      size_t errlen);
int ppp_unix_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                     size_t errlen);

/* For every PPP-carrying packet hop (this one, SSTP): IPCP is up, hand its
 * addresses, DNS servers and the peer's MRU to pkthop; an IP packet from
 * lwIP into the engine as IPv4 or IPv6. */
void ppphop_link_up(pkthop_t *h, ppp_t *ppp, const ppp_ipcfg_t *ip);
int ppphop_send_ip(ppp_t *ppp, const uint8_t *pkt, size_t len);

#endif
