/* pac: the proxy auto-config file (see pac.h).
 *
 * The file carries the rules a browser can judge, each as its number
 * times two, plus one where it sends direct, so "first match wins" is a
 * minimum there too: E, S and W map names to exact, suffix and "*.NAME"
 * rules (written last rule first, so the first rule of a name is the one
 * a JavaScript object keeps), G and K are the globs and keywords in
 * order, C the IPv4 prefixes (for literal hosts), R the port ranges; M and
 * T are MATCH and NETWORK,tcp; U is the first rule the file cannot judge
 * (a client rule, a CIDR rule for an IPv6 literal), N the first CIDR rule
 * a name could be resolved for.
 */
#include "core/route/pac.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/log.h"

#define INF "9007199254740991"

static const char js_head[] =
    "function h_(o, k) { return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : I; }\n"
    "function FindProxyForURL(url, host) {\n"
    "  var b = M < T ? M : T, u = U, i, v, p, m;\n"
    "  m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\\/\\/(?:[^\\/@]*@)?(?:\\[[^\\]]*\\]|[^:\\/?#]*)(?::(\\d+))?/"
    ".exec(url);\n"
    "  p = m && m[1] ? parseInt(m[1], 10) : (/^(https|wss):/i.test(url) ? 443 : 80);\n"
    "  for (i = 0; i < R.length; i++)\n"
    "    if (R[i][2] < b && p >= R[i][0] && p <= R[i][1]) b = R[i][2];\n"
    "  host = host.toLowerCase();\n"
    "  if (host.charAt(host.length - 1) == \".\") host = host.substring(0, host.length - 1);\n"
    "  if (/^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(host)) {\n"
    "    v = host.split(\".\");\n"
    "    var a = ((+v[0] << 24) | (+v[1] << 16) | (+v[2] << 8) | +v[3]) >>> 0;\n"
    "    for (i = 0; i < C.length; i++)\n"
    "      if (C[i][2] < b && (C[i][1] == 0 || (a >>> (32 - C[i][1])) == (C[i][0] >>> (32 - "
    "C[i][1]))))\n"
    "        b = C[i][2];\n"
    "  } else if (host.indexOf(\":\") >= 0) {\n"
    "    if (C6 < u) u = C6;\n"
    "  } else {\n"
    "    v = h_(E, host); if (v < b) b = v;\n"
    "    for (v = host; ; ) {\n"
    "      p = h_(S, v); if (p < b) b = p;\n"
    "      i = v.indexOf(\".\"); if (i < 0) break;\n"
    "      v = v.substring(i + 1);\n"
    "      p = h_(W, v); if (p < b) b = p;\n"
    "    }\n"
    "    for (i = 0; i < G.length && G[i][1] < b; i++) if (shExpMatch(host, G[i][0])) b = "
    "G[i][1];\n"
    "    for (i = 0; i < K.length && K[i][1] < b; i++) if (host.indexOf(K[i][0]) >= 0) b = "
    "K[i][1];\n"
    "    if (N < b && (b == I ? D : b % 2) && N < u) u = N;\n"
    "  }\n"
    "  if (u < b) return P;\n"
    "  if (b == I) return D ? \"DIRECT\" : P;\n"
    "  return b % 2 ? \"DIRECT\" : P;\n"
    "}\n";

/* rule i as the file writes it */
static unsigned long long enc(const routing_t *rt, uint32_t i, uint16_t action)
{
	return (unsigned long long)i * 2 + (unsigned)routing_action_is_direct(rt, action);
}

static void map_of(const routing_t *rt, mbuf_t *out, const char *var, rule_type_t want, int sub)
{
	const rules_t *rs = routing_rules(rt);
	size_t n = rs ? rules_count(rs) : 0, k = 0;

	mbuf_printf(out, "var %s = {", var);
	for (size_t j = n; j-- > 0;) {
		const char *v;
		uint16_t a;
		int nr;
		rule_type_t t = rules_info(rs, (uint32_t)j, &v, &a, &nr);
		if (t != want)
			continue;
		if (want == RULE_GLOB) { /* "*.NAME" with no other wildcard */
			if (!sub || v[0] != '*' || v[1] != '.' || strpbrk(v + 2, "*?"))
				continue;
			v += 2;
		}
		mbuf_printf(out, "%s\n\"%s\":%llu", k++ ? "," : "", v, enc(rt, (uint32_t)j, a));
	}
	mbuf_printf(out, "};\n");
}

void pac_render(const routing_t *rt, const char *proxy, mbuf_t *out)
{
	const rules_t *rs = routing_rules(rt);
	size_t n = rs ? rules_count(rs) : 0;
	char m[32] = INF, t[32] = INF, u[32] = INF, nr_[32] = INF, c6[32] = INF;
	mbuf_t g = {0}, k = {0}, c = {0}, r = {0};

	mbuf_printf(
	    out,
	    "// sluice: proxy auto-config made from %zu rules.  DIRECT only where the rules\n"
	    "// surely send direct; the proxy applies the rules to everything else.\n"
	    "var P = \"%s\";\nvar I = " INF ";\nvar D = %d;\n",
	    n, proxy, routing_action_is_direct(rt, RULE_NONE));
	for (uint32_t i = 0; i < n; i++) {
		const char *v;
		uint16_t a;
		int nores;
		rule_type_t ty = rules_info(rs, i, &v, &a, &nores);
		unsigned long long e = enc(rt, i, a);

		switch (ty) {
		case RULE_MATCH:
			if (!strcmp(m, INF))
				snprintf(m, sizeof(m), "%llu", e);
			break;
		case RULE_NETWORK:
			if (!strcmp(v, "tcp") && !strcmp(t, INF))
				snprintf(t, sizeof(t), "%llu", e);
			break;
		case RULE_CLIENT:
			if (!strcmp(u, INF))
				snprintf(u, sizeof(u), "%llu", (unsigned long long)i * 2);
			break;
		case RULE_GLOB:
			if (v[0] != '*' || v[1] != '.' || strpbrk(v + 2, "*?"))
				mbuf_printf(&g, "%s\n[\"%s\",%llu]", g.len ? "," : "", v, e);
			break;
		case RULE_KEYWORD:
			mbuf_printf(&k, "%s\n[\"%s\",%llu]", k.len ? "," : "", v, e);
			break;
		case RULE_PORT: {
			unsigned lo = 0, hi = 0;
			if (sscanf(v, "%u-%u", &lo, &hi) < 2)
				hi = lo;
			mbuf_printf(&r, "%s\n[%u,%u,%llu]", r.len ? "," : "", lo, hi, e);
			break;
		}
		case RULE_CIDR: {
			cidr_t cd;
			if (!nores && !strcmp(nr_, INF))
				snprintf(nr_, sizeof(nr_), "%llu", (unsigned long long)i * 2);
			if (cidr_parse(v, &cd) == 0 && cd.family == AF_INET) {
				uint32_t net = ((uint32_t)cd.addr[0] << 24) |
				               ((uint32_t)cd.addr[1] << 16) |
				               ((uint32_t)cd.addr[2] << 8) | cd.addr[3];
				mbuf_printf(&c, "%s\n[%u,%d,%llu]", c.len ? "," : "", net, cd.bits,
				            e);
			} else if (!strcmp(c6, INF)) {
				snprintf(c6, sizeof(c6), "%llu", (unsigned long long)i * 2);
			}
			break;
		}
		default:
			break;
		}
	}
	mbuf_printf(out, "var M = %s, T = %s, U = %s, N = %s, C6 = %s;\n", m, t, u, nr_, c6);
	map_of(rt, out, "E", RULE_DOMAIN, 0);
	map_of(rt, out, "S", RULE_SUFFIX, 0);
	map_of(rt, out, "W", RULE_GLOB, 1);
	mbuf_printf(out, "var G = [%.*s];\nvar K = [%.*s];\nvar C = [%.*s];\nvar R = [%.*s];\n",
	            (int)g.len, g.p ? g.p : "", (int)k.len, k.p ? k.p : "", (int)c.len,
	            c.p ? c.p : "", (int)r.len, r.p ? r.p : "");
	mbuf_printf(out, "%s", js_head);
	free(g.p);
	free(k.p);
	free(c.p);
	free(r.p);
}

/* ---- serving ---- */

static struct {
	const char *kind; /* the listener's keyword: PROXY, SOCKS5, SOCKS */
	struct sockaddr_storage bind;
	int on;
	/* the last file, for the routing and proxy it was made for */
	const routing_t *rt;
	char proxy[128];
	mbuf_t text;
} pac;

static int pac_page(mbuf_t *body, const char **ctype, const struct sockaddr *local,
                    const char *query, void *ud)
{
	routing_t *rt = routing_current();
	struct sockaddr_storage at;
	char ip[64], proxy[128];

	if (!rt) {
		mbuf_printf(body, "no routing\n");
		return 404;
	}
	memcpy(&at, &pac.bind, sizeof(at));
	if (sockaddr_is_any((struct sockaddr *)&at) && local->sa_family) {
		uint16_t port = sockaddr_port((struct sockaddr *)&at);
		memcpy(&at, local, sizeof(at));
		sockaddr_set_port((struct sockaddr *)&at, port);
	}
	sockaddr_ip((struct sockaddr *)&at, ip, sizeof(ip));
	snprintf(proxy, sizeof(proxy), "%s %s:%u", pac.kind, ip,
	         sockaddr_port((struct sockaddr *)&at));
	if (pac.rt != rt || strcmp(pac.proxy, proxy)) {
		free(pac.text.p);
		memset(&pac.text, 0, sizeof(pac.text));
		pac_render(rt, proxy, &pac.text);
		pac.rt = rt;
		snprintf(pac.proxy, sizeof(pac.proxy), "%s", proxy);
	}
	mbuf_printf(body, "%.*s", (int)pac.text.len, pac.text.p);
	*ctype = "application/x-ns-proxy-autoconfig";
	return 200;
}

void pac_serve(listener_t **ls, size_t n)
{
	if (!ls) {
		metrics_page("/proxy.pac", NULL, NULL);
		free(pac.text.p);
		memset(&pac, 0, sizeof(pac));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const listener_t *l = ls[i];
		if (l->via || !l->ops->pac)
			continue;
		pac.kind = l->ops->pac;
		memcpy(&pac.bind, &l->bind, sizeof(pac.bind));
		pac.on = 1;
		metrics_page("/proxy.pac", pac_page, NULL);
		log_info(0, "/proxy.pac sends browsers to %s", l->name);
		return;
	}
}
