/* vpn_tun: `-L tun://NAME -F vpn://...`: the VPN client with a TUN device
 * instead of the lwIP endpoint (root).  See vpn_tun.c. */
#ifndef SLUICE_VPN_TUN_H
#define SLUICE_VPN_TUN_H

#include "core/listener.h"

extern const front_ops_t tun_front_ops;

#endif
