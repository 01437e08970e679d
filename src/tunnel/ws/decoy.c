/* decoy: see decoy.h.  Files are read per request (a decoy directory is
 * for the odd visitor, not for traffic); the single-file page is read once. */
#include "tunnel/ws/decoy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	char *dir; /* decoy=DIR without a trailing '/', or NULL */
	/* decoy=http://HOST:PORT */
	struct sockaddr_storage web;
	int passes;
	char web_name[300];
	char server[64]; /* the Server header's value ("" for none) */
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

/* decoy=DIR: what a static web server answers req: status, and the body
 * (malloc'd) with its type and modification time, or a Location. */
static int dir_answer(const decoy_t *d, const http_req_t *req, char **body, size_t *blen,
                      const char **ctype, time_t *mtime, char *loc, size_t loclen)
{
	char rel[1024], full[1300];
	struct stat st;
	int r;

	if (req->method != HTTP_GET && req->method != HTTP_HEAD)
		return 405;
	if (!req->target.len || req->target.p[0] != '/')
		return 400;
	r = decoy_target_path(req->target.p, req->target.len, rel, sizeof(rel));
	if (r == -ENAMETOOLONG)
		return 404;
	if (r < 0)
		return 400;
	snprintf(full, sizeof(full), "%s%s", d->dir, rel);
	if (stat(full, &st) < 0)
		return 404;
	if (S_ISDIR(st.st_mode) && rel[strlen(rel) - 1] != '/') {
		const http_str_t *host = http_req_header(req, "Host");
		snprintf(loc, loclen, "http://%.*s%s/", host ? (int)host->len : 0,
		         host ? host->p : "", rel);
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

size_t decoy_reply(const decoy_t *d, const http_req_t *req, int may_keep, char **out, int *keep)
{
	const char *ctype = "text/html";
	char *body = NULL, head[1024], date[64], lm[100], loc[600] = "", etag[64] = "";
	size_t blen = 0, hl;
	time_t mtime = 0, ims;
	int status = 200, kept;

	if (d->dir) {
		status = dir_answer(d, req, &body, &blen, &ctype, &mtime, loc, sizeof(loc));
	} else {
		body = malloc(d->page ? d->page_len + 1 : sizeof(default_page));
		if (!body)
			abort();
		blen = d->page ? d->page_len : sizeof(default_page) - 1;
		memcpy(body, d->page ? d->page : default_page, blen);
	}
	if (status == 200 && mtime) {
		const http_str_t *h = http_req_header(req, "If-Modified-Since");
		char v[64];

		snprintf(etag, sizeof(etag), "ETag: \"%llx-%zx\"\r\n", (unsigned long long)mtime,
		         blen);
		if (h && h->len < sizeof(v)) {
			memcpy(v, h->p, h->len);
			v[h->len] = 0;
			if (decoy_http_date(v, &ims) == 0 && mtime <= ims)
				status = 304;
		}
	}
	if (status != 200 && status != 304) {
		free(body);
		body = error_page(d, status, &blen);
		ctype = "text/html";
	}
	/* a static site keeps the connection as a web server does; a request
	 * with a body, a refusal of the request itself, and the single page
	 * end it */
	kept = d->dir && may_keep && req->keep_alive && !req->has_body && status != 400;
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
		         "Content-Length: %zu\r\n%s%s%s%sConnection: %s\r\n%s%s\r\n",
		         status, reason_of(status), d->server[0] ? "Server: " : "", d->server,
		         d->server[0] ? "\r\n" : "", date, ctype, blen, lm,
		         loc[0] ? "Location: " : "", loc, loc[0] ? "\r\n" : "",
		         kept ? "keep-alive" : "close", etag,
		         status == 200 ? "Accept-Ranges: bytes\r\n" : "");
	if (req->method == HTTP_HEAD || status == 304)
		blen = 0;
	hl = strlen(head);
	*out = malloc(hl + blen + 1);
	if (!*out)
		abort();
	memcpy(*out, head, hl);
	if (blen)
		memcpy(*out + hl, body, blen);
	free(body);
	if (keep)
		*keep = kept;
	return hl + blen;
}

/* ---- a kept connection (decoy=DIR): the next requests ---- */

#define DECOY_KEEP_MS 5000 /* how long a kept connection waits for its next request */

typedef struct dsess {
	conn_t *c;
	const decoy_t *d;
	http_req_t req;
	uint64_t *count; /* requests answered, or NULL */
	void *front;     /* the tunnel server's, freed with ours */
	void (*front_free)(void *front);
} dsess_t;

static void dsess_free(void *p)
{
	dsess_t *k = p;

	if (k->front_free)
		k->front_free(k->front);
	http_req_free(&k->req);
	free(k);
}

static void dsess_read(stream_t *s, sbuf_t *b)
{
	dsess_t *k = s->data;
	conn_t *c = k->c;
	size_t used;
	http_res_t r;

	if (!b) {
		conn_close(c, "client closed");
		return;
	}
	r = http_req_feed(&k->req, sbuf_ptr(b), b->len, &used);
	sbuf_free(b); /* what a client pipelines after a head is not answered */
	if (r == HTTP_MORE)
		return;
	stream_read_stop(s);
	if (r == HTTP_ERROR) {
		decoy_bad_request(c);
		return;
	}
	log_info(c->id, "%s: decoy: %.*s %.*s", c->peer_str, (int)k->req.method_str.len,
	         k->req.method_str.p, (int)(k->req.target.len > 200 ? 200 : k->req.target.len),
	         k->req.target.p);
	if (k->count)
		(*k->count)++;
	decoy_send(k->d, c, &k->req, k->count);
}

static void dsess_error(stream_t *s, int err)
{
	dsess_t *k = s->data;

	conn_close(k->c, "client error");
}

static const stream_cbs_t dsess_cbs = {dsess_read, NULL, dsess_error};

void decoy_send(const decoy_t *d, conn_t *c, const http_req_t *req, uint64_t *count)
{
	dsess_t *k;
	char *r;
	int keep;
	size_t n = decoy_reply(d, req, 1, &r, &keep);

	stream_write(c->client, sbuf_from(r, n));
	free(r);
	if (!keep) {
		conn_linger(c, "decoy");
		return;
	}
	if (c->front_free == dsess_free) {
		k = c->front;
		http_req_reset(&k->req);
	} else {
		k = calloc(1, sizeof(*k));
		if (!k)
			abort();
		k->c = c;
		k->d = d;
		k->count = count;
		http_req_init(&k->req);
		k->front = c->front;
		k->front_free = c->front_free;
		c->front = k;
		c->front_free = dsess_free;
	}
	stream_set_cbs(c->client, &dsess_cbs, k);
	stream_read_start(c->client);
	conn_set_deadline(c, DECOY_KEEP_MS);
}

void decoy_bad_request(conn_t *c)
{
	stream_write_str(c->client, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
	                            "Connection: close\r\n\r\n");
	conn_linger(c, "bad request");
}
