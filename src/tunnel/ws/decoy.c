/* decoy: see decoy.h.  Files are read per request (a decoy directory is
 * for the odd visitor, not for traffic); the single-file page is read once. */
#include "tunnel/ws/decoy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>

#include "core/log.h"
#include "core/tcp.h"
#include "core/url.h"

#define DECOY_FILE_MAX (1 << 20)

static const char default_page[] =
    "<!DOCTYPE html>\n<html>\n<head><title>Welcome</title></head>\n"
    "<body>\n<h1>It works!</h1>\n<p>This is the default web page for this server.</p>\n"
    "</body>\n</html>\n";

struct decoy {
	char *page; /* decoy=FILE contents, or NULL */
	size_t page_len;
	time_t page_mtime; /* the file's, or the built-in page's (when the server started) */
	char *dir;         /* decoy=DIR without a trailing '/', or NULL */
	/* decoy=http://HOST:PORT */
	struct sockaddr_storage web;
	int passes;
	char web_name[300];
	char server[64]; /* the Server header's value ("" for none) */
	int https;       /* served over TLS: its own redirects say https:// */
};

static const char *ctype_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html"},    {".htm", "text/html"},
	    {".css", "text/css"},      {".js", "application/javascript"},
	    {".png", "image/png"},     {".jpg", "image/jpeg"},
	    {".jpeg", "image/jpeg"},   {".gif", "image/gif"},
	    {".svg", "image/svg+xml"}, {".ico", "image/x-icon"},
	    {".webp", "image/webp"},   {".json", "application/json"},
	    {".xml", "text/xml"},      {".txt", "text/plain"},
	    {".woff2", "font/woff2"},  {".pdf", "application/pdf"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* A whole regular file of at most DECOY_FILE_MAX bytes, or NULL. */
static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *p;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > DECOY_FILE_MAX) {
		close(fd);
		return NULL;
	}
	p = malloc((size_t)st.st_size + 1);
	if (!p)
		abort();
	if (read(fd, p, (size_t)st.st_size) != st.st_size) {
		free(p);
		close(fd);
		return NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* decoy=http://HOST:PORT[/]: resolved now, once. */
static int web_new(decoy_t *d, const char *spec, char *err, size_t errlen)
{
	char host[256], *colon;
	const char *hp = spec + 7, *end = hp + strcspn(hp, "/");
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	size_t n = (size_t)(end - hp);
	int r;

	if (!n || n >= sizeof(host) || (*end && strcmp(end, "/"))) {
		snprintf(err, errlen, "option 'decoy': %s: want http://HOST:PORT", spec);
		return -EINVAL;
	}
	memcpy(host, hp, n);
	host[n] = 0;
	colon = strrchr(host, ':');
	if (!colon || colon == host || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
		snprintf(err, errlen, "option 'decoy': %s: want http://HOST:PORT", spec);
		return -EINVAL;
	}
	*colon = 0;
	if (host[0] == '[' && colon[-1] == ']') { /* [v6] */
		colon[-1] = 0;
		memmove(host, host + 1, strlen(host));
	}
	if ((r = getaddrinfo(host, colon + 1, &hints, &res)) != 0 || !res) {
		snprintf(err, errlen, "option 'decoy': %s: %s", spec, gai_strerror(r));
		return -EINVAL;
	}
	memcpy(&d->web, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	snprintf(d->web_name, sizeof(d->web_name), "%.*s", (int)n, hp);
	d->passes = 1;
	return 0;
}

void decoy_set_https(decoy_t *d)
{
	d->https = 1;
}

int decoy_passes(const decoy_t *d)
{
	return d && d->passes;
}

static void web_connected(stream_t *s, int status, void *ud)
{
	conn_t *c = ud;
	sbuf_t *raw = c->held;

	c->held = NULL;
	if (status < 0) {
		log_info(c->id, "the decoy web server: %s", uv_strerror(status));
		sbuf_free(raw);
		conn_close(c, "decoy web server unreachable");
		return;
	}
	if (raw && stream_write(c->up, raw) < 0) {
		conn_close(c, "decoy web server gone");
		return;
	}
	conn_relay(c);
}

void decoy_pass(const decoy_t *d, conn_t *c, sbuf_t *raw)
{
	int r;

	conn_handshake_done(c);
	stream_read_stop(c->client);
	c->up = tcp_stream_new(c->l->loop, c->id);
	c->held = raw; /* until the web server answers the connect */
	log_debug(c->id, "decoy: to http://%s", d->web_name);
	if ((r = tcp_stream_connect(c->up, (struct sockaddr *)&d->web, web_connected, c)) < 0)
		web_connected(c->up, r, c);
}

int decoy_new(const char *path, const char *server, decoy_t **out, char *err, size_t errlen)
{
	decoy_t *d = calloc(1, sizeof(*d));
	struct stat st;

	if (!d)
		abort();
	*out = d;
	if (server && (strlen(server) >= sizeof(d->server) || strpbrk(server, "\r\n<>&"))) {
		snprintf(err, errlen, "option 'decoy-server': at most %zu characters, one line",
		         sizeof(d->server) - 1);
		return -EINVAL;
	}
	snprintf(d->server, sizeof(d->server), "%s", server ? server : "nginx");
	d->page_mtime = time(NULL);
	if (!path)
		return 0;
	if (!strncmp(path, "http://", 7))
		return web_new(d, path, err, errlen);
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "option 'decoy': %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	if (S_ISDIR(st.st_mode)) {
		size_t n = strlen(path);
		d->dir = strdup(path);
		if (!d->dir)
			abort();
		if (n > 1 && d->dir[n - 1] == '/')
			d->dir[n - 1] = 0;
	} else if (!(d->page = slurp(path, &d->page_len))) {
		snprintf(err, errlen, "option 'decoy': %s: not a readable file under 1 MiB", path);
		return -EINVAL;
	} else {
		d->page_mtime = st.st_mtime;
	}
	return 0;
}

void decoy_free(decoy_t *d)
{
	if (!d)
		return;
	free(d->page);
	free(d->dir);
	free(d);
}

int decoy_target_path(const char *target, size_t len, char *rel, size_t cap)
{
	size_t n = 0, o = 0;
	char *p;

	if (!len || target[0] != '/' || cap < 2)
		return -EINVAL;
	/* the request target is not NUL-terminated: stop at its length */
	while (n < len && target[n] != '?' && target[n] != '#')
		n++;
	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(rel, target, n);
	rel[n] = 0;
	if (memchr(target, 0, n) || strstr(rel, "%00") || pct_decode(rel) < 0 || !rel[0])
		return -EINVAL;
	/* the dot segments resolved, as a web server does; one that climbs
	 * above the root is refused (a 400) */
	for (p = rel; *p;) {
		char *seg = p + 1, *end = strchr(seg, '/');
		size_t sl = end ? (size_t)(end - seg) : strlen(seg);

		if (sl == 1 && seg[0] == '.') {
			p = end ? end : seg + sl;
			if (!end)
				rel[o++] = '/';
			continue;
		}
		if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
			if (o == 0)
				return -EINVAL;
			while (o > 0 && rel[--o] != '/')
				;
			p = end ? end : seg + sl;
			if (!end)
				rel[o++] = '/';
			continue;
		}
		memmove(rel + o, p, 1 + sl);
		o += 1 + sl;
		p = seg + sl;
	}
	if (!o)
		rel[o++] = '/';
	rel[o] = 0;
	return 0;
}

int decoy_http_date(const char *s, time_t *out)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);

	if (!end || *end)
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static void http_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 405:
		return "Not Allowed";
	case 416:
		return "Requested Range Not Satisfiable";
	default:
		return "Not Found";
	}
}

/* A web server's error page for status (as nginx words it), malloc'd. */
static char *error_page(const decoy_t *d, int status, size_t *len)
{
	char *p = malloc(512);
	int n;

	if (!p)
		abort();
	n = snprintf(p, 512,
	             "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
	             "<center><h1>%d %s</h1></center>\r\n%s%s%s</body>\r\n</html>\r\n",
	             status, reason_of(status), status, reason_of(status),
	             d->server[0] ? "<hr><center>" : "", d->server,
	             d->server[0] ? "</center>\r\n" : "");
	*len = (size_t)n;
	return p;
}

/* The file rel names: 200 with its body (malloc'd), type and time; 404,
 * 403 (not a readable file, a directory without an index), or 301 with
 * a Location.  decoy=DIR looks under the directory; the single page
 * (decoy=FILE or the built-in one) is the site's only file, its
 * index.html. */
static int find_file(const decoy_t *d, const char *rel, const http_req_t *req, char **body,
                     size_t *blen, const char **ctype, time_t *mtime, char *loc, size_t loclen)
{
	char full[1300];
	struct stat st;

	if (!d->dir) {
		if (strcmp(rel, "/") && strcmp(rel, "/index.html"))
			return 404;
		*blen = d->page ? d->page_len : sizeof(default_page) - 1;
		*body = malloc(*blen + 1);
		if (!*body)
			abort();
		memcpy(*body, d->page ? d->page : default_page, *blen);
		*ctype = "text/html";
		*mtime = d->page_mtime;
		return 200;
	}
	snprintf(full, sizeof(full), "%s%s", d->dir, rel);
	if (stat(full, &st) < 0)
		return 404;
	if (S_ISDIR(st.st_mode) && rel[strlen(rel) - 1] != '/') {
		const http_str_t *host = http_req_header(req, "Host");
		snprintf(loc, loclen, "%s://%.*s%s/", d->https ? "https" : "http",
		         host ? (int)host->len : 0, host ? host->p : "", rel);
		return 301;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(full, sizeof(full), "%s%sindex.html", d->dir, rel);
		if (stat(full, &st) < 0)
			return 403; /* a directory without an index: not listed */
	}
	if (!S_ISREG(st.st_mode) || !(*body = slurp(full, blen)))
		return 403;
	*ctype = ctype_of(full);
	*mtime = st.st_mtime;
	return 200;
}

/* What a static web server answers req, as nginx does: 400 for a target
 * that is not a path or climbs above the root (whatever the method), 405
 * for methods other than GET, HEAD and POST (and for a POST to a file),
 * else find_file's. */
static int answer(const decoy_t *d, const http_req_t *req, char **body, size_t *blen,
                  const char **ctype, time_t *mtime, char *loc, size_t loclen)
{
	char rel[1024];
	int r;

	if (!req->target.len || req->target.p[0] != '/')
		return 400;
	r = decoy_target_path(req->target.p, req->target.len, rel, sizeof(rel));
	if (r < 0 && r != -ENAMETOOLONG)
		return 400; /* nginx refuses it before it looks at the method */
	if (req->method != HTTP_GET && req->method != HTTP_HEAD && req->method != HTTP_POST)
		return 405;
	if (r == -ENAMETOOLONG)
		return 404;
	r = find_file(d, rel, req, body, blen, ctype, mtime, loc, loclen);
	if (r == 200 && req->method == HTTP_POST) {
		free(*body);
		*body = NULL;
		return 405;
	}
	return r;
}

/* A header's value as a C string, or "" when absent or too long. */
static const char *header_str(const http_req_t *req, const char *name, char *buf, size_t cap)
{
	const http_str_t *h = http_req_header(req, name);

	if (!h || h->len >= cap)
		return "";
	memcpy(buf, h->p, h->len);
	buf[h->len] = 0;
	return buf;
}

/* If-None-Match: does the list name etag (weak or strong) or "*"? */
static int etag_listed(const char *list, const char *etag)
{
	size_t el = strlen(etag);

	for (const char *p = list; *p;) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		if (!strncmp(p, "W/", 2))
			p += 2;
		n = strcspn(p, ", ");
		if ((n == 1 && *p == '*') || (n == el && !memcmp(p, etag, el)))
			return 1;
		p += n;
	}
	return 0;
}

int decoy_ranges(const char *v, uint64_t size, uint64_t *start, uint64_t *end, int max)
{
	const uint64_t cutoff = INT64_MAX / 10, cutlim = INT64_MAX % 10;
	const char *p;
	uint64_t a, b, total = 0;
	int n = 0;

	if (strlen(v) < 7 || strncasecmp(v, "bytes=", 6))
		return 0;
	/* nginx's reading, step by step: a range it cannot read is a 416;
	 * one that starts past the end is skipped, and only those: a 416 */
	for (p = v + 6;;) {
		int suffix = 0;

		a = b = 0;
		while (*p == ' ')
			p++;
		if (*p != '-') {
			if (*p < '0' || *p > '9')
				return -1;
			while (*p >= '0' && *p <= '9') {
				if (a >= cutoff && (a > cutoff || (uint64_t)(*p - '0') > cutlim))
					return -1;
				a = a * 10 + (uint64_t)(*p++ - '0');
			}
			while (*p == ' ')
				p++;
			if (*p++ != '-')
				return -1;
			while (*p == ' ')
				p++;
			if (*p == ',' || *p == 0) {
				b = size;
				goto found;
			}
		} else {
			suffix = 1;
			p++;
		}
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9') {
			if (b >= cutoff && (b > cutoff || (uint64_t)(*p - '0') > cutlim))
				return -1;
			b = b * 10 + (uint64_t)(*p++ - '0');
		}
		while (*p == ' ')
			p++;
		if (*p != ',' && *p != 0)
			return -1;
		if (suffix) { /* the last b bytes */
			a = b < size ? size - b : 0;
			b = size;
		} else { /* to b inclusive, cut at the end */
			b = b >= size ? size : b + 1;
		}
	found:
		if (a < b) {
			if (total > (uint64_t)INT64_MAX - (b - a))
				return -1;
			total += b - a;
			if (n < max) {
				start[n] = a;
				end[n] = b;
			}
			n++;
		} else if (a == 0) {
			return 0;
		}
		if (*p++ != ',')
			break;
	}
	if (!n)
		return -1;
	if (total > size || n > max)
		return 0; /* more than the file, or than max: the whole file */
	return n;
}

int decoy_range(const char *v, uint64_t size, uint64_t *start, uint64_t *end)
{
	return decoy_ranges(v, size, start, end, 1);
}

/* nginx's multipart/byteranges body for the n ranges [a[i], b[i]) of
 * file (size bytes, type ctype), its parts split by boundary; malloc'd. */
static char *multipart(const char *file, size_t size, const char *ctype, const char *boundary,
                       const uint64_t *a, const uint64_t *b, int n, size_t *len)
{
	size_t cap = 64, at = 0;
	char *out;

	for (int i = 0; i < n; i++)
		cap += 200 + strlen(ctype) + (size_t)(b[i] - a[i]);
	if (!(out = malloc(cap)))
		abort();
	for (int i = 0; i < n; i++) {
		at += (size_t)snprintf(out + at, cap - at,
		                       "\r\n--%s\r\nContent-Type: %s\r\n"
		                       "Content-Range: bytes %llu-%llu/%zu\r\n\r\n",
		                       boundary, ctype, (unsigned long long)a[i],
		                       (unsigned long long)b[i] - 1, size);
		memcpy(out + at, file + a[i], (size_t)(b[i] - a[i]));
		at += (size_t)(b[i] - a[i]);
	}
	at += (size_t)snprintf(out + at, cap - at, "\r\n--%s--\r\n", boundary);
	*len = at;
	return out;
}

size_t decoy_reply(const decoy_t *d, const http_req_t *req, char **out, int *keep)
{
	const char *ctype = "text/html";
	char *body = NULL, head[1200], date[64], lm[100], loc[600] = "", etag[64] = "",
	     crange[100] = "", v[256], mtype[80];
	size_t blen = 0, hl, off = 0;
	time_t mtime = 0, ims;
	int status, kept;

	status = answer(d, req, &body, &blen, &ctype, &mtime, loc, sizeof(loc));
	if (status == 200) {
		const char *h;
		char tag[48];

		snprintf(tag, sizeof(tag), "\"%llx-%zx\"", (unsigned long long)mtime, blen);
		snprintf(etag, sizeof(etag), "ETag: %s\r\n", tag);
		/* nginx's if_modified_since exact: the very time, or the ETag */
		h = header_str(req, "If-Modified-Since", v, sizeof(v));
		if (*h || http_req_header(req, "If-None-Match")) {
			int same = 1;

			if (*h && (decoy_http_date(h, &ims) < 0 || ims != mtime))
				same = 0;
			h = header_str(req, "If-None-Match", v, sizeof(v));
			if (same && http_req_header(req, "If-None-Match") && !etag_listed(h, tag))
				same = 0;
			if (same)
				status = 304;
		}
		/* byte ranges, as nginx serves them (If-Range: the ETag or
		 * the very time): one as itself, several as a multipart body */
		h = header_str(req, "If-Range", v, sizeof(v));
		if (status == 200 && (!http_req_header(req, "If-Range") ||
		                      (strlen(h) >= 2 && h[strlen(h) - 1] == '"'
		                           ? !strcmp(h, tag)
		                           : decoy_http_date(h, &ims) == 0 && ims == mtime))) {
			uint64_t a[DECOY_RANGES], b[DECOY_RANGES];
			int r = decoy_ranges(header_str(req, "Range", v, sizeof(v)), blen, a, b,
			                     DECOY_RANGES);

			if (r == 1) {
				status = 206;
				snprintf(crange, sizeof(crange),
				         "Content-Range: bytes %llu-%llu/%zu\r\n",
				         (unsigned long long)a[0], (unsigned long long)b[0] - 1,
				         blen);
				off = (size_t)a[0];
				blen = (size_t)(b[0] - a[0]);
			} else if (r > 1) {
				/* nginx's boundary: a counter, 20 digits */
				static uint64_t boundaries;
				char bd[24];
				char *mp;

				snprintf(bd, sizeof(bd), "%020llu",
				         (unsigned long long)__atomic_add_fetch(&boundaries, 1,
				                                                __ATOMIC_RELAXED));
				mp = multipart(body, blen, ctype, bd, a, b, r, &blen);
				free(body);
				body = mp;
				snprintf(mtype, sizeof(mtype), "multipart/byteranges; boundary=%s",
				         bd);
				ctype = mtype;
				status = 206;
			} else if (r < 0) {
				status = 416;
				snprintf(crange, sizeof(crange), "Content-Range: bytes */%zu\r\n",
				         blen);
			}
		}
	}
	if (status != 200 && status != 206 && status != 304) {
		free(body);
		body = error_page(d, status, &blen);
		ctype = "text/html";
		off = 0;
		mtime = 0;
		etag[0] = 0;
	}
	/* the connection is kept as a web server keeps it, a request body or
	 * not (it is read and dropped); a refusal of the request itself ends
	 * it */
	kept = req->keep_alive && status != 400;
	http_date(time(NULL), date, sizeof(date));
	lm[0] = 0;
	if (mtime) {
		char t[64];
		http_date(mtime, t, sizeof(t));
		snprintf(lm, sizeof(lm), "Last-Modified: %s\r\n", t);
	}
	/* the fields in the order nginx sends them */
	if (status == 304)
		snprintf(
		    head, sizeof(head),
		    "HTTP/1.1 304 Not Modified\r\n%s%s%sDate: %s\r\n%sConnection: %s\r\n%s\r\n",
		    d->server[0] ? "Server: " : "", d->server, d->server[0] ? "\r\n" : "", date, lm,
		    kept ? "keep-alive" : "close", etag);
	else
		snprintf(head, sizeof(head),
		         "HTTP/1.1 %d %s\r\n%s%s%sDate: %s\r\nContent-Type: %s\r\n"
		         "Content-Length: %zu\r\n%s%s%s%sConnection: %s\r\n%s%s%s\r\n",
		         status, reason_of(status), d->server[0] ? "Server: " : "", d->server,
		         d->server[0] ? "\r\n" : "", date, ctype, blen, lm,
		         loc[0] ? "Location: " : "", loc, loc[0] ? "\r\n" : "",
		         kept ? "keep-alive" : "close", etag, crange,
		         status == 200 ? "Accept-Ranges: bytes\r\n" : "");
	if (req->method == HTTP_HEAD || status == 304)
		blen = 0;
	hl = strlen(head);
	*out = malloc(hl + blen + 1);
	if (!*out)
		abort();
	memcpy(*out, head, hl);
	if (blen)
		memcpy(*out + hl, body + off, blen);
	free(body);
	if (keep)
		*keep = kept;
	return hl + blen;
}

size_t decoy_bad_reply(const decoy_t *d, char **out)
{
	char date[64], head[300], *body;
	size_t blen, hl;

	body = error_page(d, 400, &blen);
	http_date(time(NULL), date, sizeof(date));
	snprintf(head, sizeof(head),
	         "HTTP/1.1 400 Bad Request\r\n%s%s%sDate: %s\r\nContent-Type: text/html\r\n"
	         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	         d->server[0] ? "Server: " : "", d->server, d->server[0] ? "\r\n" : "", date, blen);
	hl = strlen(head);
	*out = malloc(hl + blen);
	if (!*out)
		abort();
	memcpy(*out, head, hl);
	memcpy(*out + hl, body, blen);
	free(body);
	return hl + blen;
}

/* ---- the requests on a connection, in order ---- */

void decoy_in_init(decoy_in_t *in, http_req_t *first)
{
	memset(in, 0, sizeof(*in));
	http_req_init(&in->req);
	in->cur = first;
	in->body = first != NULL;
}

void decoy_in_free(decoy_in_t *in)
{
	http_req_free(&in->req);
}

decoy_in_res_t decoy_in_feed(decoy_in_t *in, const uint8_t *p, size_t n, size_t *used)
{
	size_t u, off = 0;
	http_res_t r;

	*used = 0;
	for (;;) {
		if (in->body) { /* the answered request's body: read and dropped */
			r = http_req_body(in->cur, p + off, n - off, &u);
			off += u;
			if (r == HTTP_ERROR) {
				*used = off;
				return DECOY_IN_BAD;
			}
			if (r == HTTP_MORE) {
				*used = n;
				return DECOY_IN_MORE;
			}
			in->body = 0;
			http_req_reset(&in->req);
		}
		if (off == n) {
			*used = n;
			return DECOY_IN_MORE;
		}
		r = http_req_feed(&in->req, p + off, n - off, &u);
		off += u;
		*used = off;
		if (r == HTTP_MORE)
			return DECOY_IN_MORE;
		if (r == HTTP_ERROR)
			return DECOY_IN_BAD;
		in->cur = &in->req;
		in->body = 1; /* once it is answered */
		return DECOY_IN_REQUEST;
	}
}

/* ---- a kept connection: the next requests ---- */

#define DECOY_KEEP_MS 5000        /* how long a kept connection waits for its next request */
#define DECOY_WQ_MAX (256 * 1024) /* answers not yet sent before reading stops */

typedef struct dsess {
	conn_t *c;
	const decoy_t *d;
	decoy_in_t in;
	sbuf_t *pending; /* read, not yet parsed: the client reads too slowly */
	uint64_t *count; /* requests answered, or NULL */
	void *front;     /* the tunnel server's, freed with ours */
	void (*front_free)(void *front);
} dsess_t;

static void dsess_free(void *p)
{
	dsess_t *k = p;

	if (k->front_free)
		k->front_free(k->front);
	decoy_in_free(&k->in);
	sbuf_free(k->pending);
	free(k);
}

/* Answer req; 0 when the connection is kept for more. */
static int dsess_answer(dsess_t *k, const http_req_t *req)
{
	char *r;
	int keep;
	size_t n = decoy_reply(k->d, req, &r, &keep);

	stream_write(k->c->client, sbuf_from(r, n));
	free(r);
	if (!keep) {
		conn_linger(k->c, "decoy");
		return -1;
	}
	conn_set_deadline(k->c, DECOY_KEEP_MS);
	return 0;
}

static void dsess_bad(dsess_t *k)
{
	char *r;
	size_t n = decoy_bad_reply(k->d, &r);

	stream_write(k->c->client, sbuf_from(r, n));
	free(r);
	conn_linger(k->c, "bad request");
}

/* Parse and answer what b holds, in order; what is left when the answers
 * pile up waits in k->pending, with reading stopped. */
static void dsess_run(dsess_t *k, sbuf_t *b)
{
	conn_t *c = k->c;

	while (b && b->len) {
		size_t used;
		decoy_in_res_t r;

		if (c->client->wq_bytes > DECOY_WQ_MAX) {
			stream_read_stop(c->client);
			k->pending = b;
			return;
		}
		r = decoy_in_feed(&k->in, sbuf_ptr(b), b->len, &used);
		sbuf_consume(b, used);
		if (r == DECOY_IN_MORE)
			break;
		if (r == DECOY_IN_BAD) {
			sbuf_free(b);
			dsess_bad(k);
			return;
		}
		log_info(c->id, "%s: decoy: %.*s %.*s", c->peer_str, (int)k->in.req.method_str.len,
		         k->in.req.method_str.p,
		         (int)(k->in.req.target.len > 200 ? 200 : k->in.req.target.len),
		         k->in.req.target.p);
		if (k->count)
			(*k->count)++;
		if (dsess_answer(k, &k->in.req) < 0) {
			sbuf_free(b);
			return;
		}
	}
	sbuf_free(b);
}

static void dsess_read(stream_t *s, sbuf_t *b)
{
	dsess_t *k = s->data;

	if (!b) {
		conn_close(k->c, "client closed");
		return;
	}
	dsess_run(k, b);
}

static void dsess_drain(stream_t *s)
{
	dsess_t *k = s->data;
	sbuf_t *b = k->pending;

	if (!b)
		return;
	k->pending = NULL;
	stream_read_start(s);
	dsess_run(k, b);
}

static void dsess_error(stream_t *s, int err)
{
	dsess_t *k = s->data;

	conn_close(k->c, "client error");
}

static const stream_cbs_t dsess_cbs = {dsess_read, dsess_drain, dsess_error};

void decoy_send(const decoy_t *d, conn_t *c, http_req_t *req, sbuf_t *rest, uint64_t *count)
{
	dsess_t *k = calloc(1, sizeof(*k));

	if (!k)
		abort();
	k->c = c;
	k->d = d;
	k->count = count;
	decoy_in_init(&k->in, req);
	k->front = c->front;
	k->front_free = c->front_free;
	c->front = k;
	c->front_free = dsess_free;
	stream_set_cbs(c->client, &dsess_cbs, k);
	if (dsess_answer(k, req) < 0) {
		sbuf_free(rest);
		return;
	}
	stream_read_start(c->client);
	dsess_run(k, rest);
}

void decoy_bad_request(const decoy_t *d, conn_t *c)
{
	char *r;
	size_t n;

	if (!d) {
		stream_write_str(c->client, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
		                            "Connection: close\r\n\r\n");
		conn_linger(c, "bad request");
		return;
	}
	n = decoy_bad_reply(d, &r);
	stream_write(c->client, sbuf_from(r, n));
	free(r);
	conn_linger(c, "bad request");
}
