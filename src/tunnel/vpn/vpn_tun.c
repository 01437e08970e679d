/* vpn_tun: a TUN device as the client end of the UDP VPN.
 *
 * The listener `tun://NAME` creates the device when it starts and taps the
 * vpn hop (the last -F, which must be vpn://): when the session comes up,
 * the device gets the address, prefix and MTU the server assigned (the
 * kernel adds the route to the tunnel network) and packets flow
 * device <-> session; lwIP is bypassed.  While the session is down the
 * device stays, and packets written to it are dropped.  The device goes
 * away with the process.
 */
#include "tunnel/vpn/vpn_tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/priv.h"
#include "netstack/tun.h"
#include "tunnel/vpn/vpn_client.h"

typedef struct vtun {
	listener_t *l;
	tun_t *tun;
	vcli_t *c;
	char name[64];
} vtun_t;

static void tap_up(void *ud, uint32_t addr, uint32_t gw, int prefix, unsigned mtu)
{
	vtun_t *v = ud;
	struct in_addr a = {.s_addr = addr};
	char s[INET_ADDRSTRLEN];
	int r;

	if (!v->tun)
		return;
	inet_ntop(AF_INET, &a, s, sizeof(s));
	r = tun_set_addr(v->tun, a, prefix, mtu);
	if (r < 0)
		log_err(0, "tun %s: cannot set %s/%d mtu %u: %s", tun_name(v->tun), s, prefix, mtu,
		        strerror(-r));
	else
		log_info(0, "tun %s: %s/%d, MTU %u", tun_name(v->tun), s, prefix, mtu);
}

static void tap_up6(void *ud, const struct in6_addr *a, int prefix)
{
	vtun_t *v = ud;
	char s[INET6_ADDRSTRLEN];
	int r;

	if (!v->tun)
		return;
	inet_ntop(AF_INET6, a, s, sizeof(s));
	r = tun_set_addr6(v->tun, a, prefix);
	if (r < 0)
		log_err(0, "tun %s: cannot set %s/%d: %s", tun_name(v->tun), s, prefix,
		        strerror(-r));
	else
		log_info(0, "tun %s: %s/%d", tun_name(v->tun), s, prefix);
}

static void tap_down(void *ud)
{
	vtun_t *v = ud;

	log_info(0, "tun %s: session down", v->tun ? tun_name(v->tun) : v->name);
}

static void tap_input(void *ud, const uint8_t *pkt, size_t len)
{
	vtun_t *v = ud;

	if (v->tun)
		tun_write(v->tun, pkt, len);
}

static void dev_input(void *ud, const uint8_t *pkt, size_t len, const vnet_hdr_t *h)
{
	vtun_t *v = ud;

	vpn_client_send(v->c, pkt, len, h);
}

static int vt_init(listener_t *l, char *err, size_t errlen)
{
	vtun_t *v = calloc(1, sizeof(*v));
	vpn_tap_t tap = {tap_up, tap_up6, tap_down, tap_input, v};

	if (!v)
		abort();
	l->front = v;
	v->l = l;
	if (!l->url->host[0] || strlen(l->url->host) >= 16) {
		snprintf(err, errlen,
		         "a device name is required: tun://NAME (at most 15 characters)");
		return -EINVAL;
	}
	snprintf(v->name, sizeof(v->name), "%s", l->url->host);
	if (!l->chain || vpn_client_tap(l->chain, &tap, &v->c) < 0) {
		snprintf(err, errlen, "tun:// carries a VPN session: the last -F must be vpn://");
		return -EINVAL;
	}
	return 0;
}

static int vt_start(listener_t *l)
{
	vtun_t *v = l->front;
	int r = tun_open(l->loop, v->name, vpn_client_offload(v->c) ? TUN_OFFLOAD : 0, dev_input, v,
	                 &v->tun);

	if (r < 0) {
		log_err(0, "tun %s: %s (needs root or CAP_NET_ADMIN)", v->name, strerror(-r));
		return r;
	}
	log_info(0, "tun %s: offloads %s", tun_name(v->tun), tun_offloads(v->tun));
	log_info(0, "tun %s: waiting for the VPN session", tun_name(v->tun));
	/* each session addresses the device, after a drop of root too */
	priv_need(CAP_NET_ADMIN);
	return 0;
}

static void vt_stop(listener_t *l) {}

static void vt_free(listener_t *l)
{
	vtun_t *v = l->front;

	if (!v)
		return;
	if (v->c)
		vpn_client_tap(l->chain, NULL, &v->c);
	if (v->tun)
		tun_close(v->tun);
	free(v);
}

const front_ops_t tun_front_ops = {
    .scheme = "tun",
    .init = vt_init,
    .start = vt_start,
    .stop = vt_stop,
    .free = vt_free,
    .reach = REACH_LOCAL,
    .chain_use = CHAIN_FIXED, /* the device is the VPN session's */
};
