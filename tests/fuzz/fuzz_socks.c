/* libFuzzer target for socks_proto: every parser gets the input, whole and
 * cut at its own first byte's worth; whatever parses is encoded again and
 * must parse back to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/socks_proto.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void same_addr(const socks_addr_t *a, const socks_addr_t *b)
{
	check(a->atyp == b->atyp && a->port == b->port);
	if (a->atyp == SOCKS5_ATYP_DOMAIN)
		check(!strcmp(a->host, b->host));
	else
		check(!memcmp(a->ip, b->ip, a->atyp == SOCKS5_ATYP_IPV4 ? 4 : 16));
}

static void one(const uint8_t *p, size_t n)
{
	uint8_t out[SOCKS4_REQ_MAX + SOCKS5_USERPASS_MAX];
	socks5_greeting_t g;
	socks5_userpass_t up;
	socks5_request_t rq, rq2;
	socks4_request_t r4, r42;
	socks5_udp_hdr_t uh, uh2;
	socks5_reply_t rp, rp2;
	size_t used, used2, m;
	uint8_t v;
	char host[300];

	if (socks5_greeting_parse(p, n, &g, &used) == SOCKS_OK) {
		check(used <= n && used == 2u + g.nmethods);
		m = socks5_greeting_encode(out, sizeof(out), g.methods, g.nmethods);
		check(m == used && !memcmp(out, p, m));
	}
	if (socks5_userpass_parse(p, n, &up, &used) == SOCKS_OK) {
		check(used <= n && used == 3u + up.ulen + up.plen);
		/* names with a NUL inside do not survive a C string */
		if (strlen(up.user) == up.ulen && strlen(up.pass) == up.plen) {
			m = socks5_userpass_encode(out, sizeof(out), up.user, up.pass);
			check(m == used && !memcmp(out, p, m));
		}
	}
	if (socks5_request_parse(p, n, &rq, &used) == SOCKS_OK) {
		check(used <= n);
		m = socks5_request_encode(out, sizeof(out), rq.cmd, &rq.dst);
		check(m == used);
		check(socks5_request_parse(out, m, &rq2, &used2) == SOCKS_OK && used2 == m);
		check(rq2.cmd == rq.cmd);
		same_addr(&rq.dst, &rq2.dst);
		socks_addr_host(&rq.dst, host, sizeof(host));
		check(host[0] != 0);
		m = socks5_reply_encode(out, sizeof(out), rq.cmd, &rq.dst);
		check(socks5_reply_parse(out, m, &rp2, &used2) == SOCKS_OK && used2 == m);
		same_addr(&rq.dst, &rp2.bnd);
	}
	if (socks4_request_parse(p, n, &r4, &used) == SOCKS_OK) {
		check(used <= n && strlen(r4.userid) <= 255 && strlen(r4.host) <= 255);
		m = socks4_request_encode(out, sizeof(out), r4.cmd, r4.port, r4.ip, r4.userid,
		                          r4.is_4a ? r4.host : NULL);
		check(m > 0);
		check(socks4_request_parse(out, m, &r42, &used2) == SOCKS_OK && used2 == m);
		check(r42.is_4a == r4.is_4a && r42.port == r4.port);
		check(!strcmp(r42.userid, r4.userid) && !strcmp(r42.host, r4.host));
	}
	if (socks5_udp_parse(p, n, &uh, &used) == SOCKS_OK) {
		check(used <= n);
		m = socks5_udp_encode(out, sizeof(out), &uh.dst);
		check(m == used);
		check(socks5_udp_parse(out, m, &uh2, &used2) == SOCKS_OK && used2 == m);
		same_addr(&uh.dst, &uh2.dst);
	}
	if (socks5_reply_parse(p, n, &rp, &used) == SOCKS_OK) {
		check(used <= n);
		(void)socks5_err_from_rep(rp.rep);
		(void)socks5_rep_str(rp.rep);
	}
	if (socks5_method_parse(p, n, &v, &used) == SOCKS_OK)
		check(used == 2);
	if (socks5_auth_status_parse(p, n, &v, &used) == SOCKS_OK)
		check(used == 2);
	if (socks4_reply_parse(p, n, &v, &used) == SOCKS_OK)
		check(used == 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);

	if (!p)
		return 0;
	memcpy(p, data, size);
	one(p, size);
	/* and a prefix in a block of its own, so that truncation paths run
	 * against the real end of a buffer */
	if (size > 1) {
		size_t n = size - 1 - p[0] % size;
		uint8_t *q = malloc(n ? n : 1);

		if (q) {
			memcpy(q, p, n);
			one(q, n);
			free(q);
		}
	}
	free(p);
	return 0;
}
