/* registry: which scheme is which listener and which hop.  Adding a
 * transport means adding a line here and a module, nothing else. */
#include <stdio.h>
#include <string.h>

#include "core/listener.h"
#include "front/http_proxy.h"
#include "front/proxy.h"
#include "front/socks.h"
#include "front/tcpfwd.h"
#include "ppp/pppgw.h"
#include "ppp/ppphop.h"
#include "sstp/sstp.h"
#include "tunnel/sctp_client.h"
#include "tunnel/sctp_server.h"
#include "tunnel/vpn_client.h"
#include "tunnel/vpn_server.h"
#include "tunnel/vpn_tun.h"
#include "tunnel/wstan.h"
#include "tunnel/wstun_client.h"
#include "tunnel/wstun_server.h"

static const front_entry_t fronts[] = {
    {"proxy", &proxy_front_ops},
    {"socks", &socks_front_ops},
    {"socks5", &socks5_front_ops},
    {"socks4", &socks4_front_ops},
    {"http", &http_front_ops},
    {"tcp", &tcpfwd_front_ops},
    {"ws", &ws_front_ops},
    {"wss", &wss_front_ops},
    {"wstan", &wstan_front_ops},
    {"ppp", &ppp_front_ops},
    {"ppp+tcp", &ppp_tcp_front_ops},
    {"ppp+unix", &ppp_unix_front_ops},
    {"ppp+stdio", &ppp_stdio_front_ops},
    {"sctp+udp", &sctp_udp_front_ops},
    {"sctp", &sctp_front_ops},
    {"vpn", &vpn_front_ops},
    {"tun", &tun_front_ops},
};

static const struct {
	const char *scheme;
	hop_new_fn fn;
} hops[] = {
    {"socks5", socks5_hop_new},
    {"socks5h", socks5_hop_new},
    {"socks4", socks4_hop_new},
    {"socks4a", socks4a_hop_new},
    {"http", http_hop_new},
    {"ws", ws_hop_new},
    {"ppp+tcp", ppp_tcp_hop_new},
    {"ppp+unix", ppp_unix_hop_new},
    {"ppp+stdio", ppp_stdio_hop_new},
    {"wss", wss_hop_new},
    {"wstan", wstan_hop_new},
    {"sstp", sstp_hop_new},
    {"sctp+udp", sctp_udp_hop_new},
    {"sctp", sctp_hop_new},
    {"vpn", vpn_hop_new},
};

const front_ops_t *registry_front(const char *scheme)
{
	for (size_t i = 0; i < sizeof(fronts) / sizeof(fronts[0]); i++)
		if (!strcmp(fronts[i].scheme, scheme))
			return fronts[i].ops;
	return NULL;
}

hop_new_fn registry_hop(const char *scheme)
{
	for (size_t i = 0; i < sizeof(hops) / sizeof(hops[0]); i++)
		if (!strcmp(hops[i].scheme, scheme))
			return hops[i].fn;
	return NULL;
}

void registry_list(char *buf, size_t len, int want_hops)
{
	size_t n = want_hops ? sizeof(hops) / sizeof(hops[0]) : sizeof(fronts) / sizeof(fronts[0]);
	size_t off = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		                        want_hops ? hops[i].scheme : fronts[i].scheme);
}
