/* decoy: what a tunnel server shows everyone who is not a tunnel client.
 *
 * A browser, a scanner, a wrong key, a replay: each gets what a small web
 * server would send, so an active prober learns nothing.  The page is a
 * built-in "It works!" page, or the file given with `decoy=FILE`, or files
 * under the directory given with `decoy=DIR` (404 for the rest).  Bytes
 * that are not HTTP at all get a 400.  Nothing names sluice.
 *
 * Shared by the tunnel servers (ws, wss, wstan).
 */
#ifndef SLUICE_DECOY_H
#define SLUICE_DECOY_H

#include <stddef.h>

#include "core/conn.h"
#include "wire/http_proto.h"

typedef struct decoy decoy_t;

/* path: NULL for the built-in page, else a readable file under 1 MiB or a
 * directory.  -EINVAL with a message naming the option on failure. */
int decoy_new(const char *path, decoy_t **out, char *err, size_t errlen);
void decoy_free(decoy_t *d);

/* The file a request target names under a decoy directory: the target
 * (len bytes, not NUL-terminated) up to '?' or '#', percent-decoded, into
 * rel.  0; -EINVAL for a target that is not an absolute path, does not
 * decode or climbs with ".."; -ENAMETOOLONG when it does not fit in cap.
 * Pure, for the fuzz target. */
int decoy_target_path(const char *target, size_t len, char *rel, size_t cap);

/* The whole answer a web server would give req (head and body) into a
 * malloc'd *out; returns its length. */
size_t decoy_reply(const decoy_t *d, const http_req_t *req, char **out);
/* Answer the request like a web server, then let the conn linger out. */
void decoy_send(const decoy_t *d, conn_t *c, const http_req_t *req);
/* Answer bytes that are not an HTTP request: 400, then linger out. */
void decoy_bad_request(conn_t *c);

#endif
