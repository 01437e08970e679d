/* proxy: reads the first bytes of a client and hands it to the SOCKS front
 * end (first byte 4 or 5: the version field) or to the HTTP front end
 * (anything else: HTTP methods are ASCII letters). */
#include "front/proxy.h"

#include "core/conn.h"
#include "core/transport.h"
#include "front/http_proxy.h"
#include "front/socks.h"

static void sniff_read(stream_t *s, sbuf_t *b)
{
	conn_t *c = s->data;

	if (!b) {
		conn_close(c, "client closed");
		return;
	}
	if (!b->len) {
		sbuf_free(b);
		return;
	}
	stream_read_stop(s);
	if (sbuf_ptr(b)[0] == 4 || sbuf_ptr(b)[0] == 5)
		socks_serve(c, b, SOCKS_V4 | SOCKS_V5);
	else
		http_serve(c, b);
}

static void sniff_error(stream_t *s, int err)
{
	conn_close(s->data, "client error");
}

static const stream_cbs_t sniff_cbs = {sniff_read, NULL, sniff_error};

static void proxy_on_conn(conn_t *c)
{
	stream_set_cbs(c->client, &sniff_cbs, c);
	stream_read_start(c->client);
}

const front_ops_t proxy_front_ops = {
    .workers = 1,
    .scheme = "proxy",
    .pac = "PROXY",
    .init = socks_listener_init,
    .on_conn = proxy_on_conn,
    .relay = 1,
    .free = socks_listener_free,
};

static const transport_scheme_t proxy_schemes[] = {
    {.scheme = "proxy",
     .listen = &proxy_front_ops,
     .listen_doc = {.usage = "proxy://IP:PORT",
                    .about = "SOCKS4/4a/5 and HTTP proxy on one port",
                    .opts = &socks_listen_opts}},
};

const transport_t proxy_transport = {
    .name = "proxy",
    .summary = "SOCKS4/4a/5 and HTTP proxy on one port",
    TRANSPORT_SCHEMES(proxy_schemes),
};
