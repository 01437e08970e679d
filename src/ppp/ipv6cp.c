/* ipv6cp: see ipv6cp.h. */
#include "ppp/ipv6cp.h"

#include <string.h>

#include "core/crypto.h"
#include "ppp/ppp.h"

static const uint8_t zero[8];

static ipv6cp_t *ipv6cp_of(fsm_t *f)
{
	return f->ctx;
}

/* A random identifier, neither zero nor equal to avoid (RFC 5072 4.1). */
static void random_ifid(uint8_t out[8], const uint8_t avoid[8])
{
	do {
		random_bytes(out, 8);
		out[0] &= ~0x02; /* universal/local bit: locally generated */
	} while (!memcmp(out, zero, 8) || (avoid && !memcmp(out, avoid, 8)));
}

static void ipv6cp_reset(fsm_t *f)
{
	ipv6cp_t *c = ipv6cp_of(f);

	c->req_ifid = 1;
	if (memcmp(c->cfg_local, zero, 8))
		memcpy(c->want, c->cfg_local, 8);
	else
		random_ifid(c->want, NULL);
}

static size_t ipv6cp_build_req(fsm_t *f, uint8_t *buf, size_t cap)
{
	ipv6cp_t *c = ipv6cp_of(f);
	size_t n = 0;

	if (c->req_ifid)
		fsm_opt_put(buf, cap, &n, IPV6CP_OPT_IFID, c->want, 8);
	return n;
}

static int ipv6cp_check_req(fsm_t *f, const uint8_t *opts, size_t len, uint8_t *rep, size_t cap,
                            size_t *replen, int nak_ok)
{
	ipv6cp_t *c = ipv6cp_of(f);
	uint8_t nak[64], sug[8];
	size_t off = 0, nlen = 0, rlen = 0;
	unsigned count = 0;
	int r, seen = 0;
	fsm_opt_t o;

	c->his_set = 0;
	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		int rej = 1;

		if (++count <= FSM_MAX_OPTS && o.type == IPV6CP_OPT_IFID && o.vlen == 8 && !seen) {
			rej = 0;
			seen = 1;
			if (memcmp(o.val, zero, 8) &&
			    !(c->req_ifid && !memcmp(o.val, c->want, 8))) {
				memcpy(c->his, o.val, 8);
				c->his_set = 1;
			} else if (!nak_ok) {
				rej = 1;
			} else {
				if (!memcmp(o.val, zero, 8) && memcmp(c->cfg_peer, zero, 8) &&
				    memcmp(c->cfg_peer, c->want, 8))
					memcpy(sug, c->cfg_peer, 8);
				else
					random_ifid(sug, c->want);
				fsm_opt_put(nak, sizeof(nak), &nlen, IPV6CP_OPT_IFID, sug, 8);
			}
		}
		if (rej)
			fsm_opt_put(rep, cap, &rlen, o.type, o.val, o.vlen);
	}
	if (r < 0)
		return 0;
	return fsm_verdict(rep, cap, replen, rlen, nak, nlen);
}

static int ipv6cp_got_nak(fsm_t *f, const uint8_t *opts, size_t len)
{
	ipv6cp_t *c = ipv6cp_of(f);
	size_t off = 0;
	fsm_opt_t o;
	int r;

	if (!fsm_opts_valid(opts, len))
		return -1;
	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		if (o.type != IPV6CP_OPT_IFID || o.vlen != 8)
			continue;
		if (memcmp(o.val, zero, 8) && !(c->his_set && !memcmp(o.val, c->his, 8)))
			memcpy(c->want, o.val, 8);
		else
			random_ifid(c->want, c->his_set ? c->his : NULL);
		c->req_ifid = 1;
	}
	return r < 0 ? -1 : 0;
}

static int ipv6cp_got_rej(fsm_t *f, const uint8_t *opts, size_t len)
{
	ipv6cp_t *c = ipv6cp_of(f);
	size_t off = 0;
	fsm_opt_t o;
	int r, ifid = c->req_ifid;

	while ((r = fsm_opt_next(opts, len, &off, &o)) > 0) {
		if (o.type != IPV6CP_OPT_IFID || !c->req_ifid)
			return -1;
		ifid = 0;
	}
	if (r < 0)
		return -1;
	c->req_ifid = (unsigned)ifid;
	return 0;
}

static void ipv6cp_up(fsm_t *f)
{
	ipv6cp_t *c = ipv6cp_of(f);

	memcpy(c->local, c->req_ifid ? c->want : c->cfg_local, 8);
	memcpy(c->peer, c->his_set ? c->his : c->cfg_peer, 8);
}

static const fsm_ops_t ipv6cp_ops = {
    .name = "ipv6cp",
    .proto = PPP_IPV6CP,
    .reset = ipv6cp_reset,
    .build_req = ipv6cp_build_req,
    .check_req = ipv6cp_check_req,
    .got_nak = ipv6cp_got_nak,
    .got_rej = ipv6cp_got_rej,
    .up = ipv6cp_up,
};

void ipv6cp_init(ipv6cp_t *c, const uint8_t local[8], const uint8_t peer[8], const fsm_env_t *env)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->cfg_local, local, 8);
	memcpy(c->cfg_peer, peer, 8);
	fsm_init(&c->fsm, &ipv6cp_ops, env, c);
}
