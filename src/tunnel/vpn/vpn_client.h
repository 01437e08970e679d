/* vpn_client: the UDP VPN as a hop, `-F vpn://USER:PASS@HOST:PORT[?pub=KEY]`:
 * a packet link for pkthop (lwIP endpoint), so -L tcp:// and -L proxy://
 * reach hosts through the VPN without a device.  See vpn_client.c. */
#ifndef SLUICE_VPN_CLIENT_H
#define SLUICE_VPN_CLIENT_H

#include <netinet/in.h>

#include "core/dial.h"
#include "core/opts.h"
#include "netstack/vnet.h"

/* A TUN endpoint instead of lwIP (`-L tun://NAME -F vpn://...`): once a tap
 * is set, packets from the server go to tap->input instead of lwIP, and
 * tap->up / tap->down follow the session.  vpn_client_tap() finds the vpn
 * hop by its dialer (the last -F): -EINVAL if d is not one. */
typedef struct vpn_tap {
	void (*up)(void *ud, uint32_t addr, uint32_t gateway, int prefix, unsigned mtu);
	/* after up, when the server gives IPv6 too (optional) */
	void (*up6)(void *ud, const struct in6_addr *addr, int prefix);
	void (*down)(void *ud);
	void (*input)(void *ud, const uint8_t *pkt, size_t len);
	void *ud;
} vpn_tap_t;
typedef struct vcli vcli_t;
int vpn_client_tap(dialer_t *d, const vpn_tap_t *tap, vcli_t **out);
/* The hop's offload= option (a tun:// device follows it). */
int vpn_client_offload(const vcli_t *c);
/* A packet from the device to the server, or a super-packet with its
 * header h (a device with offloads: sent as one run of datagrams, with
 * UDP GSO where there is); -ENETDOWN when not up. */
int vpn_client_send(vcli_t *c, const uint8_t *pkt, size_t len, const vnet_hdr_t *h);

/* The hop's options: pub, mtu, keepalive, rekey and the packet hops' dns. */
extern const opt_schema_t vpn_hop_opts;

int vpn_hop_new(uv_loop_t *loop, url_t *u, dialer_t *next, dialer_t **out, char *err,
                size_t errlen);

#endif
