/* decoy: see decoy.h.  Files are read per request (a decoy directory is
 * for the odd visitor, not for traffic); the single-file page is read once. */
#include "tunnel/ws/decoy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/url.h"

#define DECOY_FILE_MAX (1 << 20)

static const char default_page[] =
    "<!DOCTYPE html>\n<html>\n<head><title>Welcome</title></head>\n"
    "<body>\n<h1>It works!</h1>\n<p>This is the default web page for this server.</p>\n"
    "</body>\n</html>\n";

static const char not_found[] = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
                                "<body><h1>Not Found</h1></body></html>\n";

struct decoy {
	char *page; /* decoy=FILE contents, or NULL */
	size_t page_len;
	char *dir; /* decoy=DIR without a trailing '/', or NULL */
};

static const char *ctype_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html"},  {".htm", "text/html"},
	    {".css", "text/css"},    {".js", "application/javascript"},
	    {".png", "image/png"},   {".jpg", "image/jpeg"},
	    {".jpeg", "image/jpeg"}, {".txt", "text/plain"},
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

int decoy_new(const char *path, decoy_t **out, char *err, size_t errlen)
{
	decoy_t *d = calloc(1, sizeof(*d));
	struct stat st;

	if (!d)
		abort();
	*out = d;
	if (!path)
		return 0;
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
	size_t n = 0;

	if (!len || target[0] != '/' || cap < 2)
		return -EINVAL;
	/* the request target is not NUL-terminated: stop at its length */
	while (n < len && target[n] != '?' && target[n] != '#')
		n++;
	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(rel, target, n);
	rel[n] = 0;
	if (pct_decode(rel) < 0 || !rel[0] || strstr(rel, ".."))
		return -EINVAL;
	return 0;
}

size_t decoy_reply(const decoy_t *d, const http_req_t *req, char **out)
{
	const char *body = d->page ? d->page : default_page, *ctype = "text/html";
	size_t blen = d->page ? d->page_len : sizeof(default_page) - 1, flen, hl;
	char *file = NULL, head[256], *r;
	int status = 200;

	if (d->dir && req->target.len && req->target.p[0] == '/') {
		char rel[1024], full[1300];

		status = 404;
		if (decoy_target_path(req->target.p, req->target.len, rel, sizeof(rel)) == 0) {
			snprintf(full, sizeof(full), "%s%s%s", d->dir, rel,
			         rel[strlen(rel) - 1] == '/' ? "index.html" : "");
			if ((file = slurp(full, &flen))) {
				body = file;
				blen = flen;
				ctype = ctype_of(full);
				status = 200;
			}
		}
		if (status == 404) {
			body = not_found;
			blen = sizeof(not_found) - 1;
		}
	}
	snprintf(head, sizeof(head),
	         "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	         "Connection: close\r\n\r\n",
	         status, status == 200 ? "OK" : "Not Found", ctype, blen);
	if (req->method == HTTP_HEAD)
		blen = 0;
	hl = strlen(head);
	r = malloc(hl + blen + 1);
	if (!r)
		abort();
	memcpy(r, head, hl);
	memcpy(r + hl, body, blen);
	free(file);
	*out = r;
	return hl + blen;
}

void decoy_send(const decoy_t *d, conn_t *c, const http_req_t *req)
{
	char *r;
	size_t n = decoy_reply(d, req, &r);

	stream_write(c->client, sbuf_from(r, n));
	free(r);
	conn_linger(c, "decoy");
}

void decoy_bad_request(conn_t *c)
{
	stream_write_str(c->client, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
	                            "Connection: close\r\n\r\n");
	conn_linger(c, "bad request");
}
