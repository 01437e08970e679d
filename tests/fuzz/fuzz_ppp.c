/* fuzz_ppp: frames into a server and a client PPP engine (ppp/ppp.c and
 * through it lcp, ipcp, ipv6cp, fsm, hdlc and auth).
 *
 * Byte 0 configures the pair: bit 0 async HDLC framing (else whole
 * frames), bit 1 IPV6CP, bits 2-3 the server's method (none, PAP, CHAP-MD5,
 * MS-CHAPv2), bit 4 require_auth, bit 5 the client has a password, bit 6
 * echo keepalive.  Both engines are started; then the rest is a program,
 * one opcode byte (low 3 bits = operation, high 5 bits = argument) each:
 *
 *   0/1  a frame to the server/client: protocol from a table (argument),
 *        a length byte, the information field (HDLC-encoded if framing)
 *   2/3  ack the server's/client's latest Configure-Request of LCP, IPCP
 *        or IPV6CP (argument), so the fuzzer gets past random magic
 *        numbers into the network phase
 *   4    time passes: argument x 250 ms, both engines ticked
 *   5    what the engines sent each other is delivered, argument frames
 *        each way, the next byte flipping one byte of each (0: none)
 *   6    raw bytes (length byte, data) to the server's ppp_input_bytes
 *   7    an IP packet of the next byte's length sent by one engine
 *
 * Nothing the engines do may crash, leak, or loop; down() may come at any
 * time and later calls must be harmless.  corpus/fuzz_ppp/converge-XX are
 * programs (XX = byte 0) that shuttle frames until both engines are up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppp/fsm.h"
#include "ppp/hdlc.h"
#include "ppp/ppp.h"

#define QMAX 16
#define FMAX 2048

typedef struct side {
	ppp_t *p;
	int framing, down, up;
	/* raw outputs waiting for delivery to the other side */
	uint8_t q[QMAX][HDLC_ENCODED_MAX(FMAX)];
	size_t qlen[QMAX];
	int qn;
	/* its latest Configure-Request per protocol (LCP, IPCP, IPV6CP) */
	uint8_t req[3][FMAX];
	size_t reqlen[3];
	hdlc_rx_t rx;
	uint8_t rxbuf[FMAX + 8];
} side_t;

static side_t sides[2];
static uint64_t now;

static int proto_slot(uint16_t proto)
{
	return proto == PPP_LCP ? 0 : proto == PPP_IPCP ? 1 : proto == PPP_IPV6CP ? 2 : -1;
}

static int seen_frame(void *ud, const uint8_t *f, size_t len)
{
	side_t *s = ud;
	uint16_t proto;
	int h = hdlc_parse_header(f, len, &proto), slot;

	if (h < 0)
		abort(); /* the engine sends only well-formed headers */
	slot = proto_slot(proto);
	if (slot >= 0 && len - (size_t)h >= 4 && f[h] == CP_CONF_REQ && len - (size_t)h <= FMAX) {
		memcpy(s->req[slot], f + h, len - (size_t)h);
		s->reqlen[slot] = len - (size_t)h;
	}
	return 0;
}

static void on_output(void *ud, const uint8_t *buf, size_t len)
{
	side_t *s = ud;

	if (s->framing)
		hdlc_rx_feed(&s->rx, buf, len);
	else
		seen_frame(s, buf, len);
	if (s->qn < QMAX && len <= sizeof(s->q[0])) {
		memcpy(s->q[s->qn], buf, len);
		s->qlen[s->qn++] = len;
	}
}

static void on_ip(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	if (proto != PPP_IP && proto != PPP_IPV6)
		abort();
}

static void on_up(void *ud, const ppp_ipcfg_t *ip)
{
	side_t *s = ud;

	if (s->down)
		abort();
	s->up++;
}

static void on_down(void *ud, const char *reason)
{
	side_t *s = ud;

	if (s->down || !reason)
		abort();
	s->down = 1;
}

static int on_lookup(void *ud, const char *user, char *secret, size_t cap)
{
	if (strcmp(user, "alice"))
		return -1;
	strncpy(secret, "wonderland", cap - 1);
	secret[cap - 1] = 0;
	return (int)strlen(secret);
}

static const ppp_cbs_t cbs = {
    .output = on_output,
    .ip_input = on_ip,
    .up = on_up,
    .down = on_down,
    .lookup = on_lookup,
};

/* Send one frame into s as its peer would. */
static void inject(side_t *s, const uint8_t *frame, size_t len)
{
	static uint8_t wire[HDLC_ENCODED_MAX(FMAX + 4)];
	hdlc_tx_t t;

	if (!s->framing) {
		ppp_input_frame(s->p, frame, len, now);
		return;
	}
	hdlc_tx_init(&t, 0xffffffffu, 0);
	len = hdlc_encode(&t, frame, len, wire, sizeof(wire));
	ppp_input_bytes(s->p, wire, len, now);
}

static void deliver(side_t *from, side_t *to, unsigned n, uint8_t flip)
{
	unsigned i;

	for (i = 0; i < n && i < (unsigned)from->qn; i++) {
		if (flip)
			from->q[i][flip % from->qlen[i]] ^= flip;
		if (to->framing)
			ppp_input_bytes(to->p, from->q[i], from->qlen[i], now);
		else
			ppp_input_frame(to->p, from->q[i], from->qlen[i], now);
	}
	memmove(from->q, from->q + i, (size_t)(from->qn - (int)i) * sizeof(from->q[0]));
	memmove(from->qlen, from->qlen + i, (size_t)(from->qn - (int)i) * sizeof(from->qlen[0]));
	from->qn -= (int)i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t protos[16] = {
	    PPP_LCP, PPP_LCP,  PPP_IPCP, PPP_IPCP, PPP_IPV6CP, PPP_PAP, PPP_CHAP, PPP_CHAP,
	    PPP_IP,  PPP_IPV6, 0x80fd,   0x00fd,   0x002b,     0xc025,  0x8207,   0x0001,
	};
	static uint8_t frame[FMAX + 8];
	ppp_cfg_t sc = {0}, cc = {0};
	size_t i = 1;
	uint8_t cfg;

	if (!size)
		return 0;
	cfg = data[0];
	memset(sides, 0, sizeof(sides));
	now = 1000;
	sc.server = 1;
	sc.framing = cc.framing = cfg & 1;
	sc.ipv6 = cc.ipv6 = (cfg >> 1) & 1;
	if ((cfg >> 2) & 3)
		sc.auth_methods = 1u << ((cfg >> 2) & 3);
	sc.require_auth = (cfg >> 4) & 1;
	sc.name = "sluice";
	sc.ip.local = 0x0100400a;
	sc.ip.peer = 0x0200400a;
	sc.ip.dns1 = 0x3500400a;
	cc.name = "alice";
	cc.password = (cfg & 0x20) ? "wonderland" : NULL;
	if (cfg & 0x40)
		sc.echo_interval_ms = cc.echo_interval_ms = 1000;
	for (int k = 0; k < 2; k++) {
		side_t *s = &sides[k];

		s->framing = cfg & 1;
		hdlc_rx_init(&s->rx, s->rxbuf, sizeof(s->rxbuf), seen_frame, s);
		s->p = ppp_new(k ? &cc : &sc, &cbs, s);
		if (!s->p)
			abort();
	}
	ppp_start(sides[0].p, now);
	ppp_start(sides[1].p, now);

	while (i < size) {
		uint8_t op = data[i++], arg = op >> 3;
		side_t *s = &sides[op & 1];
		size_t n, h;

		switch (op & 7) {
		case 0:
		case 1:
			if (i >= size)
				break;
			n = data[i++];
			if (arg & 0x10) /* long frames too */
				n *= 8;
			if (n > size - i)
				n = size - i;
			h = hdlc_put_header(frame, protos[arg & 15], 0, 0);
			memcpy(frame + h, data + i, n);
			i += n;
			inject(s, frame, h + n);
			break;
		case 2:
		case 3: {
			int slot = arg % 3;
			size_t len = s->reqlen[slot];
			static const uint16_t cp[3] = {PPP_LCP, PPP_IPCP, PPP_IPV6CP};

			if (len < 4)
				break;
			h = hdlc_put_header(frame, cp[slot], 0, 0);
			memcpy(frame + h, s->req[slot], len);
			frame[h] = CP_CONF_ACK;
			inject(s, frame, h + len);
			break;
		}
		case 4:
			now += (uint64_t)arg * 250;
			ppp_tick(sides[0].p, now);
			ppp_tick(sides[1].p, now);
			break;
		case 5: {
			uint8_t flip = i < size ? data[i++] : 0;

			deliver(&sides[0], &sides[1], arg, flip);
			deliver(&sides[1], &sides[0], arg, flip);
			break;
		}
		case 6:
			if (i >= size)
				break;
			n = data[i++];
			if (n > size - i)
				n = size - i;
			ppp_input_bytes(sides[0].p, data + i, n, now);
			i += n;
			break;
		case 7:
			if (i >= size)
				break;
			n = (size_t)data[i++] * 8;
			memset(frame, 0x45, n);
			ppp_send_ip(sides[arg & 1].p, (arg & 2) ? PPP_IPV6 : PPP_IP, frame, n);
			break;
		}
		(void)ppp_next_deadline(s->p);
	}
	if ((cfg & 0x80) && !sides[0].down)
		ppp_close(sides[0].p, "fuzz");
	for (int k = 0; k < 2; k++) {
		ppp_stats(sides[k].p);
		ppp_lcp_state(sides[k].p);
		ppp_free(sides[k].p);
	}
	return 0;
}
