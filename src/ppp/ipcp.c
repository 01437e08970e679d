/* ipcp: see ipcp.h.
 *
 * The server is the one that knows the addresses, so its answers are
 * firm: it never takes a Nak'd value for its own address (the fsm's
 * failure bounds end a peer that insists).  The client takes what it is
 * offered.  A server that hears no IP-Address option at all appends one to
 * a Configure-Nak to prompt for it (RFC 1661 5.3), while it may still Nak.
 */
#include "ppp/ipcp.h"

#include <string.h>

#include "ppp/ppp.h"

static ipcp_t *ipcp_of(fsm_t *f)
{
	return f->ctx;
}

static uint32_t get_addr(const uint8_t *v)
{
	uint32_t a;

	memcpy(&a, v, 4);
	return a;
}

static void ipcp_reset(fsm_t *f)
{
	ipcp_t *c = ipcp_of(f);

	c->addr = c->cfg.local;
	c->req_addr = c->cfg.server ? c->cfg.local != 0 : 1;
	c->dns1 = c->dns2 = 0;
	c->req_dns1 = c->req_dns2 = !c->cfg.server;
}

static size_t ipcp_build_req(fsm_t *f, uint8_t *buf, size_t cap)
{
	ipcp_t *c = ipcp_of(f);
	size_t n = 0;

	if (c->req_addr)
		fsm_opt_put(buf, cap, &n, IPCP_OPT_ADDR, &c->addr, 4);
	if (c->req_dns1)
		fsm_opt_put(buf, cap, &n, IPCP_OPT_DNS1, &c->dns1, 4);
	if (c->req_dns2)
		fsm_opt_put(buf, cap, &n, IPCP_OPT_DNS2, &c->dns2, 4);
	return n;
}

enum { V_ACK, V_NAK, V_REJ };

/* The address the peer should use, or 0: verdict on its IP-Address. */
static int check_addr(ipcp_t *c, uint32_t a, uint8_t *nak, size_t *nlen, int nak_ok)
{
	uint32_t want = c->cfg.peer;

	if (a && (!c->cfg.server || !want || a == want)) {
		c->his_addr_set = 1;
		c->his_addr = a;
		return V_ACK;
	}
	if (!want || !nak_ok)
		return V_REJ;
	fsm_opt_put(nak, FSM_MAX_PKT, nlen, IPCP_OPT_ADDR, &want, 4);
	return V_NAK;
}

static int check_dns(ipcp_t *c, uint8_t type, uint32_t a, uint8_t *nak, size_t *nlen, int nak_ok)
{
	uint32_t give = type == IPCP_OPT_DNS1 ? c->cfg.dns1 : c->cfg.dns2;

	if (!c->cfg.server || !give)
		return V_REJ;
	if (a == give)
		return V_ACK;
	if (!nak_ok)
		return V_REJ;
	fsm_opt_put(nak, FSM_MAX_PKT, nlen, type, &give, 4);
	return V_NAK;
}

static int ipcp_check_req(fsm_t *f, const uint8_t *opts, size_t len, uint8_t *rep, size_t cap,
                          size_t *replen, int nak_ok)
{
	ipcp_t *c = ipcp_of(f);
	uint8_t nak[FSM_MAX_PKT], seen[32] = {0};
	size_t off = 0, nlen = 0, rlen = 0;
	unsigned count = 0;
	int r, saw_addr = 0;
	fsm_opt_t o;

	c->his_addr_set = 0;
	c->his_addr = 0;
	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		int v = V_REJ;

		if (++count <= FSM_MAX_OPTS && !(seen[o.type >> 3] & (1u << (o.type & 7)))) {
			switch (o.type) {
			case IPCP_OPT_ADDR:
				if (o.vlen == 4) {
					saw_addr = 1;
					v = check_addr(c, get_addr(o.val), nak, &nlen, nak_ok);
				}
				break;
			case IPCP_OPT_DNS1:
			case IPCP_OPT_DNS2:
				if (o.vlen == 4)
					v = check_dns(c, o.type, get_addr(o.val), nak, &nlen,
					              nak_ok);
				break;
			default: /* compression, IP-Addresses, NBNS, unknown */
				break;
			}
		}
		seen[o.type >> 3] |= (uint8_t)(1u << (o.type & 7));
		if (v == V_REJ)
			fsm_opt_put(rep, cap, &rlen, o.type, o.val, o.vlen);
	}
	if (r < 0)
		return 0;
	if (!rlen && !saw_addr && c->cfg.server && c->cfg.peer && nak_ok)
		fsm_opt_put(nak, FSM_MAX_PKT, &nlen, IPCP_OPT_ADDR, &c->cfg.peer, 4);
	return fsm_verdict(rep, cap, replen, rlen, nak, nlen);
}

static int ipcp_got_nak(fsm_t *f, const uint8_t *opts, size_t len)
{
	ipcp_t *c = ipcp_of(f);
	size_t off = 0;
	fsm_opt_t o;
	int r;

	if (!fsm_opts_valid(opts, len))
		return -1;
	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		uint32_t a;

		if (o.vlen != 4 || c->cfg.server)
			continue; /* the server keeps its own address */
		a = get_addr(o.val);
		switch (o.type) {
		case IPCP_OPT_ADDR:
			if (a) {
				c->addr = a;
				c->req_addr = 1;
			}
			break;
		case IPCP_OPT_DNS1:
			if (c->req_dns1)
				c->dns1 = a;
			break;
		case IPCP_OPT_DNS2:
			if (c->req_dns2)
				c->dns2 = a;
			break;
		default:
			break;
		}
	}
	return r < 0 ? -1 : 0;
}

static int ipcp_got_rej(fsm_t *f, const uint8_t *opts, size_t len)
{
	ipcp_t *c = ipcp_of(f);
	unsigned addr = c->req_addr, d1 = c->req_dns1, d2 = c->req_dns2;
	size_t off = 0;
	fsm_opt_t o;
	int r;

	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		switch (o.type) {
		case IPCP_OPT_ADDR:
			if (!c->req_addr)
				return -1;
			addr = 0;
			break;
		case IPCP_OPT_DNS1:
			if (!c->req_dns1)
				return -1;
			d1 = 0;
			break;
		case IPCP_OPT_DNS2:
			if (!c->req_dns2)
				return -1;
			d2 = 0;
			break;
		default:
			return -1; /* we never asked for it */
		}
	}
	if (r < 0)
		return -1;
	c->req_addr = addr;
	c->req_dns1 = d1;
	c->req_dns2 = d2;
	return 0;
}

static void ipcp_up(fsm_t *f)
{
	ipcp_t *c = ipcp_of(f);

	c->local = c->req_addr ? c->addr : c->cfg.local;
	c->peer = c->his_addr_set ? c->his_addr : c->cfg.peer;
	if (c->cfg.server) {
		c->got_dns1 = c->cfg.dns1;
		c->got_dns2 = c->cfg.dns2;
	} else {
		c->got_dns1 = c->req_dns1 ? c->dns1 : 0;
		c->got_dns2 = c->req_dns2 ? c->dns2 : 0;
	}
}

static const fsm_ops_t ipcp_ops = {
    .name = "ipcp",
    .proto = PPP_IPCP,
    .reset = ipcp_reset,
    .build_req = ipcp_build_req,
    .check_req = ipcp_check_req,
    .got_nak = ipcp_got_nak,
    .got_rej = ipcp_got_rej,
    .up = ipcp_up,
};

void ipcp_init(ipcp_t *c, const ipcp_cfg_t *cfg, const fsm_env_t *env)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	fsm_init(&c->fsm, &ipcp_ops, env, c);
}
