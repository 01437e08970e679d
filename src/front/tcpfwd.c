/* tcpfwd: every accepted connection is relayed to one fixed target.
 *
 * The client is not read until the target is connected (its first bytes
 * wait in the kernel); a failed dial closes the client with RST so that it
 * sees an error rather than an empty, orderly stream.
 */
#include "front/tcpfwd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/transport.h"

static int tcpfwd_init(listener_t *l, char *err, size_t errlen)
{
	target_t *t = calloc(1, sizeof(*t));
	const char *p = l->url->path;

	if (!t)
		abort();
	l->front = t;
	if (p[0] != '/' || hostport_parse(p + 1, t->host, sizeof(t->host), &t->port) < 0) {
		snprintf(err, errlen,
		         "the target is missing or bad: write tcp://BIND:PORT/HOST:PORT");
		return -EINVAL;
	}
	return 0;
}

static void on_dialed(conn_t *c, int err)
{
	if (err < 0) {
		stream_reset(c->client);
		c->client = NULL;
		conn_close(c, "dial failed");
		return;
	}
	conn_relay(c);
}

static void tcpfwd_on_conn(conn_t *c)
{
	conn_dial(c, c->l->front, on_dialed);
}

static void tcpfwd_free(listener_t *l)
{
	free(l->front);
}

const front_ops_t tcpfwd_front_ops = {
    .workers = 1,
    .scheme = "tcp",
    .init = tcpfwd_init,
    .on_conn = tcpfwd_on_conn,
    .free = tcpfwd_free,
};

static const transport_scheme_t tcpfwd_schemes[] = {
    {.scheme = "tcp",
     .listen = &tcpfwd_front_ops,
     .listen_doc = {.usage = "tcp://IP:PORT/HOST:PORT",
                    .about = "port forward to HOST:PORT through the chain"}},
};

const transport_t tcpfwd_transport = {
    .name = "tcp",
    .summary = "port forward",
    TRANSPORT_SCHEMES(tcpfwd_schemes),
};
