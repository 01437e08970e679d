/* pac: /proxy.pac, a proxy auto-config file made from the rules, served
 * by the metrics server (core/metrics.h), so a browser sends to the proxy
 * only what the rules send through a tunnel.
 *
 * FindProxyForURL() answers DIRECT only where the rules surely say
 * direct for that host and port; everything else goes to the proxy, which
 * applies the rules itself (block, the chain, or direct after all).  So
 * the file never has to judge what a browser cannot know (the client
 * address seen by the proxy, a name's address): a rule it cannot judge
 * that comes before the decision sends the request to the proxy.  The
 * file resolves nothing: CIDR rules are checked against IP literals only,
 * and a name whose decision a CIDR rule above it could change goes to
 * the proxy (which resolves it only as routing.h says).  The proxy line
 * never ends in "; DIRECT": a browser whose proxy is down fails instead of
 * going around the tunnel.
 *
 * The proxy is the first of the listeners that is a proxy (proxy://,
 * http://, socks5://, socks://, socks4://) and takes the rules (no via=);
 * one bound to a wildcard address is named by the address the browser
 * reached the metrics server at.
 */
#ifndef SLUICE_PAC_H
#define SLUICE_PAC_H

#include "core/listener.h"
#include "core/metrics.h"
#include "core/route/routing.h"

/* Serve /proxy.pac for the first fitting listener of ls (NULL, 0: stop). */
void pac_serve(listener_t **ls, size_t n);
/* The file for rt, the proxy as a PAC proxy string ("PROXY 127.0.0.1:1080"). */
void pac_render(const routing_t *rt, const char *proxy, mbuf_t *out);

#endif
