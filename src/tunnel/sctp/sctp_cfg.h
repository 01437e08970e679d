/* sctp_cfg: the SCTP tunnel's options (both ends) and what they become:
 * the configuration of an association (sctp_assoc_cfg_t) and the stack
 * that carries it.  Used by sctp_server.c and sctp_client.c; the
 * association runtime (sctp_assoc.h) takes the result.
 */
#ifndef SLUICE_SCTP_CFG_H
#define SLUICE_SCTP_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "core/acl.h"
#include "core/opts.h"
#include "core/replay.h"
#include "core/tunkey.h"
#include "tunnel/sctp/sctp_proto.h"

enum { SCTP_STACK_UDP, SCTP_STACK_KERNEL, SCTP_STACK_RAW };
extern const char *const sctp_stack_names[];

typedef struct sctp_assoc_cfg {
	const char *name; /* for logs */
	const sctp_proto_keys_t *keys;
	uint32_t window;     /* receive window we grant per stream */
	uint64_t max_buffer; /* bytes all streams together hold unread (assoc-buffer) */
	uint32_t hb_ms;      /* heartbeat interval */
	uint16_t max_rtx;    /* retransmissions before the peer is dead */
	uint32_t sndbuf;
	uint32_t mtu; /* fixed path MTU (jumbo LANs, loopback); 0: usrsctp's own */
	/* server */
	replay_store_t *replay; /* one per key for the process, maybe shared (replay=) */
	uint64_t skew_ms, start_ms, auth_timeout_ms;
	uint32_t max_assocs; /* 0: no limit */
	const acl_t *clients;
} sctp_assoc_cfg_t;

/* The options both ends take, a schema the server's and the hop's take
 * in: key= or keyfile= (core/tunkey.h: without them, the default key
 * file, which a server creates), window, hb, max-rtx, sndbuf, mtu,
 * assoc-buffer. */
typedef struct sctp_assoc_opts {
	tunkey_opts_t key;
	uint64_t window, hb_ms, max_rtx, sndbuf, mtu, buffer;
} sctp_assoc_opts_t;
extern const opt_schema_t sctp_assoc_opts;
/* Check them together, load the key, fill keys and those fields of cfg;
 * 0 or -errno with a message naming the option. */
int sctp_assoc_cfg_load(const sctp_assoc_opts_t *o, int server, sctp_assoc_cfg_t *cfg,
                        sctp_proto_keys_t *keys, char *err, size_t errlen);

/* stack=auto|kernel|usrsctp, for sctp:// (not sctp+udp://), a schema
 * too. */
typedef struct sctp_stack_opts {
	const char *stack;
} sctp_stack_opts_t;
extern const opt_schema_t sctp_stack_opts;
/* The stack: SCTP_STACK_UDP for sctp+udp; for sctp, what stack= says (NULL:
 * auto, the kernel's when it has SCTP, else usrsctp on a raw socket, which
 * needs root).  0 or -errno with a message. */
int sctp_stack_pick(const char *v, int udp, int *stack, char *err, size_t errlen);

#endif
