/* libFuzzer target for netstack/slirpgw: what a hostile peer can send.
 *
 * The input is a series of packets, each [flags][len hi][len lo][bytes]; a
 * flags bit asks for the IPv4 header and TCP/UDP/ICMP checksums to be fixed
 * up first, so that packets get past libslirp's checks and into its state
 * machines.  Two gateways live for the whole run:
 *   - restricted, one service (10.0.2.100:80 -> 127.0.0.1:9): a valid SYN
 *     dials 127.0.0.1:9 and is refused, nothing else opens a socket;
 *   - full mode with IPv6, no host alias, no DNS and a target ACL that
 *     denies everything: only ICMP to the aliases and NDP reach libslirp.
 * Neither can reach the network.  The loop is turned once per input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "pktsum.h"
#include "netstack/slirpgw.h"

static uv_loop_t *loop;
static slirpgw_t *gw_r, *gw_f;
static slirpgw_service_t *svc;
static acl_t deny_all;

static void out(void *ud, const uint8_t *p, size_t len)
{
	if (!len || (p[0] >> 4 != 4 && p[0] >> 4 != 6))
		abort();
}

static void setup(void)
{
	slirpgw_config_t c;
	char err[256], bad[64];

	log_level = LOG_ERR - 1;
	loop = uv_default_loop();
	if (slirpgw_service_new(loop, "10.0.2.100:80->127.0.0.1:9 max-conns=8", &svc, err,
	                        sizeof(err)) < 0)
		abort();
	slirpgw_config_default(&c);
	c.restricted = 1;
	c.services = &svc;
	c.nservices = 1;
	c.max_flows = 8;
	if (slirpgw_new(loop, &c, out, NULL, &gw_r) < 0)
		abort();
	cidr_list_add(&deny_all.deny, "0.0.0.0/0,::/0", bad, sizeof(bad));
	slirpgw_config_default(&c);
	c.ipv6 = 1;
	c.host_loopback = 0;
	c.dns_forward = 0;
	c.targets = &deny_all;
	if (slirpgw_new(loop, &c, out, NULL, &gw_f) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags;
	long r;
	uint8_t pkt[1500];

	if (!loop)
		setup();
	while ((r = pktsum_next(&data, &size, &flags, pkt, sizeof(pkt))) >= 0) {
		size_t n = (size_t)r;

		if (flags & 1)
			pktsum_fix4(pkt, n);
		slirpgw_input(flags & 2 ? gw_f : gw_r, pkt, n);
	}
	uv_run(loop, UV_RUN_NOWAIT);
	return 0;
}
