/* decoy: what a tunnel server shows everyone who is not a tunnel client.
 *
 * A browser, a scanner, a wrong key, a replay: each gets what a web server
 * would send, so an active prober learns nothing.  The page is a built-in
 * "It works!" page, or the file given with `decoy=FILE`, or files under the
 * directory given with `decoy=DIR` (404 for the rest).  Bytes that are not
 * HTTP at all get a 400.  With `decoy=http://HOST:PORT` every such
 * connection, its bytes as they came, goes to that web server instead, and
 * the client gets that server's answers.  Nothing names sluice.
 *
 * Shared by the tunnel servers (ws, wss, wstan).
 */
#ifndef SLUICE_DECOY_H
#define SLUICE_DECOY_H

#include <stddef.h>
#include <time.h>

#include "core/conn.h"
#include "wire/http_proto.h"

typedef struct decoy decoy_t;

/* path: NULL for the built-in page, else a readable file under 1 MiB or a
 * directory, or http://HOST:PORT: a web server that every request that is
 * not a tunnel's is passed to (its name resolved here, once).  -EINVAL
 * with a message naming the option on failure. */
int decoy_new(const char *path, const char *server, decoy_t **out, char *err, size_t errlen);
/* 1 when d passes requests to a web server (decoy=http://). */
int decoy_passes(const decoy_t *d);
/* Pass the connection to that web server, as Trojan's and Xray's fallbacks
 * do: raw (every byte the client sent so far; taken, may be NULL), then
 * both ways until either side ends.  The client sees that server, answer
 * for answer; one it cannot reach closes the connection. */
void decoy_pass(const decoy_t *d, conn_t *c, sbuf_t *raw);
void decoy_free(decoy_t *d);

/* The file a request target names under a decoy directory: the target
 * (len bytes, not NUL-terminated) up to '?' or '#', percent-decoded, its
 * dot segments resolved, into rel (absolute, never with "..").  0; -EINVAL
 * for a target that is not an absolute path, does not decode, holds a NUL
 * or climbs above the root (a web server's 400); -ENAMETOOLONG when it does
 * not fit in cap.  Pure, for the fuzz target. */
int decoy_target_path(const char *target, size_t len, char *rel, size_t cap);
/* An HTTP date (IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT") into *out;
 * -EINVAL for anything else.  Pure, for the fuzz target. */
int decoy_http_date(const char *s, time_t *out);

/* The whole answer a web server would give req (head and body) into a
 * malloc'd *out; returns its length.  With decoy=DIR it is a static web
 * server's: 404 for what is not there, a directory's index.html (403
 * without one, 301 to add its '/'), 405 for methods other than GET and
 * HEAD, 400 for a path that climbs above the root, 304 for an
 * If-Modified-Since at or after the file's time, Date, Last-Modified,
 * ETag and the Server header (decoy-server=), and the connection kept for
 * the next request when the client wants (keep, if not NULL, says so;
 * never unless may_keep).  The single page (decoy=FILE or the built-in
 * one) answers every request with itself and closes. */
size_t decoy_reply(const decoy_t *d, const http_req_t *req, int may_keep, char **out, int *keep);
/* Answer the request like a web server; then read the next one on a kept
 * connection (at most 5 s idle), counting each in *count (if not NULL), or
 * let the conn linger out. */
void decoy_send(const decoy_t *d, conn_t *c, const http_req_t *req, uint64_t *count);
/* Answer bytes that are not an HTTP request: 400, then linger out. */
void decoy_bad_request(conn_t *c);

#endif
