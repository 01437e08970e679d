/* decoy: what a tunnel server shows everyone who is not a tunnel client.
 *
 * A browser, a scanner, a wrong key, a replay: each gets what a web server
 * would send, so an active prober learns nothing.  The site is the files
 * under the directory given with `decoy=DIR`, or one page (the file given
 * with `decoy=FILE`, or a built-in "It works!" page) at / and /index.html,
 * served as nginx serves a static site (404 for the rest).  Bytes that are
 * not HTTP at all get a 400.  With `decoy=http://HOST:PORT` every such
 * connection, its bytes as they came, goes to that web server instead, and
 * the client gets that server's answers.  Nothing names sluice.
 *
 * Shared by the tunnel servers (ws, wss, wstan).
 */
#ifndef SLUICE_DECOY_H
#define SLUICE_DECOY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/conn.h"
#include "wire/http_proto.h"

typedef struct decoy decoy_t;

/* path: NULL for the built-in page, else a readable file under 1 MiB or a
 * directory, or http://HOST:PORT: a web server that every request that is
 * not a tunnel's is passed to (its name resolved here, once).  -EINVAL
 * with a message naming the option on failure. */
int decoy_new(const char *path, const char *server, decoy_t **out, char *err, size_t errlen);
/* The listener speaks TLS: the static site's redirects (a directory's 301)
 * name https://, as a web server serving TLS names it.  (A web server that
 * decoy=http:// passes to names its own scheme: behind wss:// it should
 * say https://, or, nginx, give relative ones with absolute_redirect off.) */
void decoy_set_https(decoy_t *d);
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

/* The whole answer a static web server would give req (head and body), as
 * nginx gives it, into a malloc'd *out; returns its length.  The site is
 * decoy=DIR, or for the single page (decoy=FILE or the built-in one) a
 * site whose only file is that page, its index.html.  404 for what is not
 * there, a directory's index.html (403 without one, 301 to add its '/'),
 * 405 for methods other than GET, HEAD and POST and for a POST to a file,
 * 400 for a path that climbs above the root, 304 for an If-Modified-Since
 * of the file's very time or an If-None-Match naming its ETag, 206 for one
 * byte range (Range: bytes=a-b, a-, -n; If-Range) and 416 for ranges that
 * cannot be served; Date, Last-Modified, ETag, Accept-Ranges and the
 * Server header (decoy-server=).  *keep (if not NULL): the connection is
 * kept for the next request (the client wants it, and the request was
 * HTTP). */
size_t decoy_reply(const decoy_t *d, const http_req_t *req, char **out, int *keep);
/* A web server's 400 for bytes that are not an HTTP request, malloc'd. */
size_t decoy_bad_reply(const decoy_t *d, char **out);
/* A Range header's value v (NUL-terminated) read as nginx reads it, for a
 * file of size bytes: 1 and [*start, *end) for one satisfiable range; 0
 * when the whole file is the answer (not a bytes range, several ranges,
 * a range from 0 on an empty file); -1 for a 416.  Pure, for the fuzz
 * target. */
int decoy_range(const char *v, uint64_t size, uint64_t *start, uint64_t *end);
/* The same for several ranges: n and the first n ranges in start[] and
 * end[] (arrays of max), in the order asked, for n satisfiable ranges
 * (1 <= n <= max; nginx answers several with a multipart/byteranges body);
 * 0 for the whole file (as above, or more than max ranges, or more bytes
 * than the file); -1 for a 416. */
int decoy_ranges(const char *v, uint64_t size, uint64_t *start, uint64_t *end, int max);
/* The most ranges the decoy answers with parts (more: the whole file). */
#define DECOY_RANGES 16

/* The requests on one connection, in order, as they come: the body of
 * each (Content-Length or chunked) is read and dropped, then the next
 * head is read.  Pure (no I/O), for the fuzz target. */
typedef struct decoy_in {
	http_req_t req;  /* the head of the latest request */
	http_req_t *cur; /* the request whose body comes next */
	unsigned body : 1;
} decoy_in_t;

typedef enum decoy_in_res {
	DECOY_IN_MORE,    /* all n bytes taken, no complete request yet */
	DECOY_IN_REQUEST, /* in->req is a request to answer; *used bytes taken */
	DECOY_IN_BAD,     /* not HTTP: a 400, and the connection ends */
} decoy_in_res_t;

/* first: a request already read (its body comes first), or NULL. */
void decoy_in_init(decoy_in_t *in, http_req_t *first);
decoy_in_res_t decoy_in_feed(decoy_in_t *in, const uint8_t *p, size_t n, size_t *used);
void decoy_in_free(decoy_in_t *in);

/* Answer req like a web server, then the requests that follow it on the
 * connection (rest: the bytes read after req's head, taken, may be NULL),
 * in order, pipelined or not, while the client keeps the connection (at
 * most 5 s idle each); each counted in *count (if not NULL).  req must
 * live as long as the conn (the owner's c->front keeps it). */
void decoy_send(const decoy_t *d, conn_t *c, http_req_t *req, sbuf_t *rest, uint64_t *count);
/* Answer bytes that are not an HTTP request: 400, then linger out. */
void decoy_bad_request(const decoy_t *d, conn_t *c);

#endif
