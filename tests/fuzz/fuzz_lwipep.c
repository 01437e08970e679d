/* libFuzzer target for netstack/lwipep (and lwIP behind it): what the far
 * end of a packet tunnel can send to sluice's lwIP endpoint.
 *
 * The endpoint has 10.0.0.2, fd00::2 and the interface id 02:..:02 (so
 * fe80::2:0:0:2, router advertisements and autoconfiguration are live), and
 * one datagram flow that has sent to 10.0.0.1:53 and [fd00::1]:53, so
 * replies from there reach the flow.  The input is a series of packets,
 * each [flags][len hi][len lo][bytes]; flags bit 0 fixes the IPv4 header
 * checksum and the UDP/TCP/ICMP checksum, bit 1 the IPv6 payload length
 * and the UDP/TCP/ICMPv6 checksum (pseudo-header), so that packets get
 * past lwIP's checks into its UDP, TCP, ND (RA, NS) and reassembly code.
 * Whatever comes out must be an IPv4 or IPv6 packet.  The loop is turned
 * once per input (lwIP's timers: DAD, autoconfiguration, reassembly).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dgram.h"
#include "core/log.h"
#include "pktsum.h"
#include "netstack/lwipep.h"

static uv_loop_t *loop;
static lwipep_t *ep;
static dgram_t *flow;

static int out(void *ud, const uint8_t *p, size_t len)
{
	if (!len || (p[0] >> 4 != 4 && p[0] >> 4 != 6))
		abort();
	return 0;
}

static void on_recv(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	sbuf_free(b);
}

static void on_error(dgram_t *f, int err)
{
	dgram_close(f);
	flow = NULL;
}

static const dgram_cbs_t cbs = {on_recv, on_error, NULL};

static void on_flow(void *ud, dgram_t *f, int err)
{
	target_t t = {.port = 53};

	if (err < 0)
		abort();
	flow = f;
	dgram_set_cbs(f, &cbs, NULL);
	strcpy(t.host, "10.0.0.1");
	dgram_send(f, &t, dgram_buf("q", 1));
	strcpy(t.host, "fd00::1");
	dgram_send(f, &t, dgram_buf("q", 1));
}

static void setup(void)
{
	lwipep_opts_t o = {.name = "fuzz"};
	lwipep_addr_t a = {0};
	dial_opts_t d = {0};

	log_level = LOG_ERR - 1;
	loop = uv_default_loop();
	if (lwipep_new(loop, &o, out, NULL, &ep) < 0)
		abort();
	a.local.s_addr = htonl(0x0a000002);
	a.peer.s_addr = htonl(0x0a000001);
	a.dns4[0].s_addr = htonl(0x0a000001);
	inet_pton(AF_INET6, "fd00::2", &a.local6);
	a.ifid6[0] = 2;
	a.ifid6[7] = 2;
	if (lwipep_set_addr(ep, &a) < 0 || !lwipep_dgram(ep, &d, on_flow, NULL))
		abort();
	uv_run(loop, UV_RUN_NOWAIT);
	if (!flow)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags;
	long r;
	uint8_t pkt[2048];

	if (!loop)
		setup();
	while ((r = pktsum_next(&data, &size, &flags, pkt, sizeof(pkt))) >= 0) {
		size_t n = (size_t)r;

		if (flags & 1)
			pktsum_fix4(pkt, n);
		if (flags & 2)
			pktsum_fix6(pkt, n);
		lwipep_input(ep, pkt, n);
	}
	uv_run(loop, UV_RUN_NOWAIT);
	return 0;
}
