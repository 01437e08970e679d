/* ppphop: PPP's client role as a hop: `-F ppp+tcp://[user:pass@]HOST:PORT`
 * or `-F ppp+unix://[user:pass@]/path.sock` dials a PPP server (slirp, a
 * sluice gateway, a modem server), brings up LCP, authentication and IPCP,
 * and carries connections over the link with the lwIP endpoint. */
#ifndef SLUICE_PPPHOP_H
#define SLUICE_PPPHOP_H

#include "core/dial.h"
#include "netstack/pkthop.h"
#include "ppp/ppp.h"

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
