/* tun: a Linux TUN device as a packet endpoint (root or CAP_NET_ADMIN).
 *
 * tun_open() creates (or attaches to) the device NAME in IFF_TUN|IFF_NO_PI
 * mode, with offloads when the kernel has them (TUN_OFFLOAD): IFF_VNET_HDR
 * and TUNSETOFFLOAD with checksum, TSO (IPv4, IPv6) and, where the kernel
 * knows it, USO.  Then one read is one super-packet of up to 64 KiB with
 * its virtio-net header (netstack/vnet.h), which the input callback gets
 * as it is (the consumer cuts it with vnet_segment()), and tun_write()
 * gathers TCP segments that continue each other into super-packets, which
 * go to the device when they can grow no more and at the end of each loop
 * turn (a uv_check).  Without offloads (an old kernel, TUN_OFFLOAD not
 * asked) each read is one IP packet (h is NULL) and each write one packet.
 * The log says which.  `ethtool -K DEV tso off ...` on the device turns
 * the kernel's side off at any time: reads are single packets then, with
 * the header still in front.
 *
 * tun_set_addr() gives it an IPv4 address and prefix (the kernel adds the
 * connected route), its MTU, and brings it up.  Packets read are handed to
 * the input callback from the caller's libuv loop (at most TUN_BATCH reads
 * per wakeup, so a busy device cannot starve the loop); tun_write() never
 * blocks: a full device queue drops the packet (TCP resends).  Errors are
 * 0 / negative errno.
 */
#ifndef SLUICE_TUN_H
#define SLUICE_TUN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "netstack/vnet.h"

#define TUN_BATCH 64
#define TUN_OFFLOAD 1 /* tun_open(): ask for the offloads */

typedef struct tun tun_t;
/* h: the super-packet's header (offloads on), NULL for a plain packet */
typedef void (*tun_input_fn)(void *ud, const uint8_t *pkt, size_t len, const vnet_hdr_t *h);

int tun_open(uv_loop_t *loop, const char *name, unsigned flags, tun_input_fn in, void *ud,
             tun_t **out);
int tun_set_addr(tun_t *t, struct in_addr addr, int prefix, unsigned mtu);
/* Adds an IPv6 address and prefix (the kernel adds the route), without
 * duplicate address detection; call after tun_set_addr() (which brings the
 * device up). */
int tun_set_addr6(tun_t *t, const struct in6_addr *addr, int prefix);
int tun_write(tun_t *t, const uint8_t *pkt, size_t len);
/* Writes what tun_write() gathered (also done at the end of each loop turn). */
void tun_flush(tun_t *t);
const char *tun_name(const tun_t *t);
/* "TSO4 TSO6 USO" and the like, or "none" */
const char *tun_offloads(const tun_t *t);
/* Closes the device (it disappears unless it is persistent); memory goes
 * in the libuv close callback. */
void tun_close(tun_t *t);

#endif
