/* control: see control.h.
 *
 * Each client is a pipe and a timer, freed once both are closed.  Its
 * request is read into a fixed buffer; the line is complete at '\n' or at
 * the client's end of writing, too long past CONTROL_REQUEST_MAX.  The
 * answer is written whole, then the client is closed.
 */
#include "app/control.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/app.h"
#include "core/config.h"
#include "core/log.h"

typedef struct client {
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_write_t wr;
	mbuf_t out;
	char req[CONTROL_REQUEST_MAX + 1];
	size_t len;
	int open, done; /* handles not yet closed; answered or closing */
} client_t;

static uv_pipe_t server;
static int serving;
static char spath[sizeof(((struct sockaddr_un *)0)->sun_path)];
static control_fn handler;
static client_t *clients[CONTROL_CLIENTS];

int control_path(const char *configured, char *buf, size_t len)
{
	const char *rd = getenv("RUNTIME_DIRECTORY");
	int n;

	if (configured)
		n = snprintf(buf, len, "%s", configured);
	else if (rd && *rd && !strchr(rd, ':')) /* one directory, not a list */
		n = snprintf(buf, len, "%s/control", rd);
	else
		return 1;
	if (!*buf)
		return 1;
	return n < 0 || (size_t)n >= len || (size_t)n >= sizeof(spath) ? -1 : 0;
}

static void client_freed(uv_handle_t *h)
{
	client_t *c = h->data;

	if (--c->open)
		return;
	free(c->out.p);
	free(c);
}

static void client_close(client_t *c)
{
	for (size_t i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i] == c)
			clients[i] = NULL;
	c->done = 1;
	uv_close((uv_handle_t *)&c->pipe, client_freed);
	uv_close((uv_handle_t *)&c->timer, client_freed);
}

static void on_written(uv_write_t *w, int status)
{
	client_close(w->data);
}

static void answer(client_t *c)
{
	uv_buf_t b;

	c->done = 1;
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->timer);
	c->req[c->len] = 0;
	c->req[strcspn(c->req, "\r\n")] = 0;
	handler(c->req, &c->out);
	if (!c->out.p)
		mbuf_printf(&c->out, "refused: no answer\n");
	b = uv_buf_init(c->out.p, (unsigned)c->out.len);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0)
		client_close(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	client_t *c = h->data;

	*buf = uv_buf_init(c->req + c->len, (unsigned)(CONTROL_REQUEST_MAX - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	client_t *c = s->data;

	if (c->done)
		return;
	if (n == UV_EOF && c->len) {
		answer(c);
		return;
	}
	if (n < 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	if (memchr(c->req, '\n', c->len)) {
		answer(c);
	} else if (c->len >= CONTROL_REQUEST_MAX) {
		c->done = 1;
		uv_read_stop(s);
		uv_timer_stop(&c->timer);
		mbuf_printf(&c->out, "refused: the request is too long\n");
		c->wr.data = c;
		uv_buf_t b = uv_buf_init(c->out.p, (unsigned)c->out.len);
		if (uv_write(&c->wr, s, &b, 1, on_written) < 0)
			client_close(c);
	}
}

static void on_timeout(uv_timer_t *t)
{
	client_close(t->data);
}

/* This process's user, or root. */
static int peer_allowed(uv_pipe_t *p)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uv_os_fd_t fd;

	return uv_fileno((uv_handle_t *)p, &fd) == 0 &&
	       getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	       (cr.uid == 0 || cr.uid == geteuid());
}

static void on_conn(uv_stream_t *srv, int status)
{
	client_t *c;
	size_t slot = CONTROL_CLIENTS;

	if (status < 0)
		return;
	if (!(c = calloc(1, sizeof(*c))))
		abort();
	uv_pipe_init(srv->loop, &c->pipe, 0);
	uv_timer_init(srv->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->open = 2;
	for (size_t i = 0; i < CONTROL_CLIENTS && slot == CONTROL_CLIENTS; i++)
		if (!clients[i])
			slot = i;
	if (uv_accept(srv, (uv_stream_t *)&c->pipe) < 0 || slot == CONTROL_CLIENTS ||
	    !peer_allowed(&c->pipe)) {
		if (slot != CONTROL_CLIENTS)
			log_warn(0, "control: a client of another user, not answered");
		c->done = 1;
		uv_close((uv_handle_t *)&c->pipe, client_freed);
		uv_close((uv_handle_t *)&c->timer, client_freed);
		return;
	}
	clients[slot] = c;
	uv_timer_start(&c->timer, on_timeout, CONTROL_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

/* A socket file at path that nobody answers on is removed: 0; one that
 * answers, or a file of another kind: -1 and err. */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "--control %s: exists and is not a socket", path);
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "--control %s: another sluice answers on it", path);
		return -1;
	}
	unlink(path);
	return 0;
}

int control_serve(uv_loop_t *loop, const char *path, control_fn fn, int uid, int gid, char *err,
                  size_t errlen)
{
	mode_t old;
	int r;

	if (clear_stale(path, err, errlen) < 0)
		return -EEXIST;
	snprintf(spath, sizeof(spath), "%s", path);
	handler = fn;
	uv_pipe_init(loop, &server, 0);
	old = umask(0177); /* 0600 from the start */
	r = uv_pipe_bind(&server, path);
	umask(old);
	if (r == 0 && uid != -1 && chown(path, (uid_t)uid, (gid_t)gid) < 0)
		r = -errno;
	if (r == 0)
		r = uv_listen((uv_stream_t *)&server, CONTROL_CLIENTS, on_conn);
	if (r < 0) {
		snprintf(err, errlen, "--control %s: %s", path, uv_strerror(r));
		uv_close((uv_handle_t *)&server, NULL);
		unlink(path);
		return r;
	}
	serving = 1;
	log_info(0, "control socket %s (sluice reload, sluice status)", path);
	return 0;
}

void control_stop(void)
{
	if (!serving)
		return;
	serving = 0;
	uv_close((uv_handle_t *)&server, NULL);
	unlink(spath);
	for (size_t i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i])
			client_close(clients[i]);
}

int control_ask(const char *path, const char *cmd, mbuf_t *reply, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 60}; /* a reload that dials takes its time */
	char buf[4096];
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: the path is too long for a socket", path);
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "cannot reach sluice's control socket %s: %s", path,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s\n", cmd);
	if (write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		mbuf_printf(reply, "%.*s", (int)n, buf);
	close(fd);
	if (n < 0 || !reply->p) {
		snprintf(err, errlen, "%s: no answer%s%s", path, n < 0 ? ": " : "",
		         n < 0 ? strerror(errno) : "");
		return -1;
	}
	return 0;
}

int control_client_path(const char *opt, const char *cfgpath, char *buf, size_t len, char *err,
                        size_t errlen)
{
	config_t file;
	int r;

	config_init(&file);
	if (!opt && cfgpath && config_load_file(&file, cfgpath, err, errlen) < 0)
		return -1;
	if (!opt)
		opt = file.control ? file.control : getenv("SLUICE_CONTROL");
	r = control_path(opt, buf, len);
	config_free(&file);
	if (r < 0)
		snprintf(err, errlen, "--control: the path is too long");
	else if (r > 0)
		snprintf(err, errlen,
		         "where is sluice's control socket? give --control PATH, or -c FILE "
		         "(with control:)");
	return r ? -1 : 0;
}

/* `sluice reload [-c FILE] [--control PATH]`: exit 0 when the running
 * sluice took the configuration, 1 when it refused it (why on stderr, in
 * the words of `sluice check`), 2 when it cannot be asked. */
int reload_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"control", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *opt = NULL, *cfgpath = NULL;
	char path[256], err[600];
	mbuf_t reply = {0};
	int c, r;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'C':
			opt = optarg;
			break;
		case 'h':
			printf("usage: sluice reload [-c FILE] [--control PATH]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (control_client_path(opt, cfgpath, path, sizeof(path), err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice reload: %s\n", err);
		return 2;
	}
	if (control_ask(path, "reload", &reply, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice reload: %s\n", err);
		return 2;
	}
	if (!strncmp(reply.p, "ok", 2)) {
		printf("reloaded%s", reply.p + 2);
		r = 0;
	} else {
		fprintf(stderr, "sluice reload: %s", reply.p);
		r = 1;
	}
	free(reply.p);
	return r;
}
