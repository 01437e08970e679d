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

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static void fixup4(uint8_t *b, size_t n)
{
	size_t ihl = (size_t)(b[0] & 15) * 4, tot, off;
	uint32_t s;

	if (n < 20 || ihl < 20 || ihl > n)
		return;
	tot = (size_t)(b[2] << 8 | b[3]);
	if (tot < ihl || tot > n)
		return;
	b[10] = b[11] = 0;
	s = fold(sum16(0, b, ihl));
	b[10] = (uint8_t)(s >> 8);
	b[11] = (uint8_t)s;
	off = b[9] == 6 ? 16 : b[9] == 17 ? 6 : b[9] == 1 ? 2 : 0;
	if (!off || tot - ihl < off + 2)
		return;
	b[ihl + off] = b[ihl + off + 1] = 0;
	s = b[9] == 1 ? 0 : sum16(0, b + 12, 8) + b[9] + (uint32_t)(tot - ihl);
	s = fold(sum16(s, b + ihl, tot - ihl));
	b[ihl + off] = (uint8_t)(s >> 8);
	b[ihl + off + 1] = (uint8_t)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pkt[1500];

	if (!loop)
		setup();
	while (size >= 3) {
		uint8_t flags = data[0];
		size_t n = (size_t)(data[1] << 8 | data[2]);

		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		if (n > sizeof(pkt))
			n = sizeof(pkt);
		memcpy(pkt, data, n);
		data += n;
		size -= n;
		if (flags & 1)
			fixup4(pkt, n);
		slirpgw_input(flags & 2 ? gw_f : gw_r, pkt, n);
	}
	uv_run(loop, UV_RUN_NOWAIT);
	return 0;
}
