/* pt_proto: the text of Tor's pluggable transport protocol (pt-spec v1)
 * that `sluice pt` reads and writes: the TOR_PT_* environment, the
 * per-connection arguments tor sends in SOCKS credentials, SMETHOD's
 * ARGS, and the check of a bridge line's arguments.  Pure: no I/O, no
 * allocation; fuzzed (tests/fuzz/fuzz_pt.c).
 */
#ifndef SLUICE_PT_PROTO_H
#define SLUICE_PT_PROTO_H

#include <stddef.h>

#define PT_ARGS_MAX 16
#define PT_KEY_MAX 64
#define PT_VAL_MAX 512

typedef struct pt_kv {
	char key[PT_KEY_MAX];
	char val[PT_VAL_MAX];
} pt_kv_t;

typedef struct pt_args {
	size_t n;
	pt_kv_t kv[PT_ARGS_MAX];
} pt_args_t;

/* A PT name: [a-zA-Z_][a-zA-Z0-9_]*. */
int pt_name_valid(const char *s, size_t n);

/* TOR_PT_MANAGED_TRANSPORT_VER: 1 when "1" is in the comma list, 0 when
 * not, -EINVAL when the list is malformed (empty item, space, control). */
int pt_version_pick(const char *list);

/* Next item of a comma list: 1 (item in out), 0 (end), -EINVAL (empty item
 * or too long).  *p advances. */
int pt_list_next(const char **p, char *out, size_t cap);

/* "k=v;k=v" with backslash escapes (the SOCKS per-connection arguments).
 * A value may hold an unescaped '='.  0 or -EINVAL (no '=', empty key, a
 * trailing backslash, too many or too long). */
int pt_args_parse(const char *s, size_t len, pt_args_t *a);

/* The arguments tor sent in SOCKS5 RFC 1929 fields (the password is a lone
 * NUL when everything fit in the user name) or in the SOCKS4 userid. */
int pt_socks5_args(const char *user, size_t ulen, const char *pass, size_t plen, pt_args_t *a);

/* TOR_PT_SERVER_TRANSPORT_OPTIONS: the k=v of transport `name` appended
 * to a.  0 or -EINVAL. */
int pt_server_options(const char *env, const char *name, pt_args_t *a);

/* TOR_PT_SERVER_BINDADDR: name-addr:port,...: 1 (out = "addr:port"), 0 (not
 * listed), -EINVAL (malformed). */
int pt_bindaddr(const char *env, const char *name, char *out, size_t cap);

/* Escape for SMETHOD ARGS (backslash before '=', ',' and '\').  Returns
 * the length, or 0 when it does not fit. */
size_t pt_args_escape(const char *in, char *out, size_t cap);

/* A pt_args value, or NULL. */
const char *pt_args_get(const pt_args_t *a, const char *key);

/* A bridge line's arguments for transport `name` ("ws", "sctp"): key= is
 * required and every other argument must be one the transport defines for
 * bridge lines (ws: fast-open, ping, dead; sctp: none).  0, or -EINVAL with
 * a message naming the offending argument. */
int pt_bridge_args_check(const char *name, const pt_args_t *a, char *err, size_t errlen);

#endif
