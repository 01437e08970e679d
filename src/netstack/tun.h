/* tun: a Linux TUN device as a packet endpoint (root or CAP_NET_ADMIN).
 *
 * tun_open() creates (or attaches to) the device NAME in IFF_TUN|IFF_NO_PI
 * mode: each read is one IP packet, each write puts one on the device.
 * tun_set_addr() gives it an IPv4 address and prefix (the kernel adds the
 * connected route), its MTU, and brings it up.  Packets read are handed to
 * the input callback from the caller's libuv loop (at most TUN_BATCH per
 * wakeup, so a busy device cannot starve the loop); tun_write() never
 * blocks: a full device queue drops the packet (TCP resends).  Errors are
 * 0 / negative errno.
 */
#ifndef SLUICE_TUN_H
#define SLUICE_TUN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define TUN_BATCH 64

typedef struct tun tun_t;
typedef void (*tun_input_fn)(void *ud, const uint8_t *pkt, size_t len);

int tun_open(uv_loop_t *loop, const char *name, tun_input_fn in, void *ud, tun_t **out);
int tun_set_addr(tun_t *t, struct in_addr addr, int prefix, unsigned mtu);
/* Adds an IPv6 address and prefix (the kernel adds the route), without
 * duplicate address detection; call after tun_set_addr() (which brings the
 * device up). */
int tun_set_addr6(tun_t *t, const struct in6_addr *addr, int prefix);
int tun_write(tun_t *t, const uint8_t *pkt, size_t len);
const char *tun_name(const tun_t *t);
/* Closes the device (it disappears unless it is persistent); memory goes
 * in the libuv close callback. */
void tun_close(tun_t *t);

#endif
