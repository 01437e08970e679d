/* transports: the one list of transports.  Each module exports a
 * `const transport_t NAME_transport` (its schemes, listener ops, hop
 * constructor, option schemas, hooks); adding a transport is one word
 * here.  The order is the order of --help and of lookups. */
#include "app/transports.h"

#include <stddef.h>

#include "core/transport.h"

#define TRANSPORTS(X)                                                                              \
	X(proxy)                                                                                   \
	X(socks)                                                                                   \
	X(http)                                                                                    \
	X(tcpfwd)                                                                                  \
	X(udpfwd)                                                                                  \
	X(dnsfwd)                                                                                  \
	X(ws)                                                                                      \
	X(wstan)                                                                                   \
	X(ppp)                                                                                     \
	X(sctp)                                                                                    \
	X(sstp)                                                                                    \
	X(vpn)

#define DECLARE(name) extern const transport_t name##_transport;
TRANSPORTS(DECLARE)
#undef DECLARE

#define ENTRY(name) &name##_transport,
static const transport_t *const table[] = {TRANSPORTS(ENTRY) NULL};
#undef ENTRY

void app_transports_register(void)
{
	transport_register(table);
}
