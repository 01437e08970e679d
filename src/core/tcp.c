/* tcp: see tcp.h.
 *
 * Life cycle: new -> (accept | connect) -> reading/writing -> close.  The
 * struct is freed in the uv_close callback; write and shutdown requests that
 * are still pending then complete with UV_ECANCELED before it, and free their
 * chunks.
 */
#include "core/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

typedef struct tcp_stream {
	stream_t s;
	union {
		uv_tcp_t h;  /* TCP */
		uv_pipe_t p; /* or a UNIX socket: the same code serves both */
	};
	uv_connect_t creq;
	uv_shutdown_t sreq;
	tcp_connect_cb ccb;
	void *cud;
	sbuf_t *rbuf; /* chunk lent to libuv for the current read */
	/* armed: libuv reads for a connect under way, which the owner has not
	 * asked for yet (tcp_stream_connect says why) */
	unsigned reading : 1, armed : 1, shut : 1, eof : 1, reset : 1;
	/* in_read: inside the owner's on_read; stop_later: it stopped reading
	 * there, which takes effect when it returns (on_read says why) */
	unsigned in_read : 1, stop_later : 1;
} tcp_stream_t;

/* One uv_write of one chunk or of a chain of them (linked through next). */
typedef struct wreq {
	uv_write_t req;
	sbuf_t *b;
	size_t bytes;
} wreq_t;

#define TCP_IOV 64 /* chunks per writev(2) tried at once */

static const stream_ops_t tcp_ops;

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	tcp_stream_t *t = h->data;

	if (!t->rbuf)
		t->rbuf = sbuf_new(SBUF_DEFAULT);
	buf->base = (char *)t->rbuf->data;
	buf->len = t->rbuf->cap;
}

static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
	tcp_stream_t *t = h->data;
	sbuf_t *b;

	if (n == 0) {
		/* EAGAIN: give the chunk back, an idle connection holds none */
		sbuf_free(t->rbuf);
		t->rbuf = NULL;
		return;
	}
	if (n > 0) {
		b = t->rbuf;
		t->rbuf = NULL;
		b->off = 0;
		b->len = (uint32_t)n;
		/* An owner that hands the stream on from here (a handshake to
		 * the protocol after it) stops reading and the next one starts
		 * again at once.  Told to libuv, that pair would cost an epoll
		 * registration anew (tcp_stream_connect explains), so a stop
		 * made here is told only if it still holds on the way out. */
		t->in_read = 1;
		t->s.cbs->on_read(&t->s, sbuf_fit(b));
		t->in_read = 0;
		if (t->stop_later) {
			t->stop_later = 0;
			if (!t->reading && !t->s.closed)
				uv_read_stop(h);
		}
		return;
	}
	sbuf_free(t->rbuf);
	t->rbuf = NULL;
	uv_read_stop(h);
	t->reading = 0;
	if (n == UV_EOF) {
		t->eof = 1;
		t->s.cbs->on_read(&t->s, NULL);
	} else {
		t->s.cbs->on_error(&t->s, (int)n);
	}
}

static void on_write(uv_write_t *req, int status)
{
	wreq_t *w = (wreq_t *)req;
	tcp_stream_t *t = req->handle->data;
	sbuf_t *b, *next;

	t->s.wq_bytes -= w->bytes;
	for (b = w->b; b; b = next) {
		next = b->next;
		sbuf_free(b);
	}
	free(w);
	if (t->s.closed)
		return;
	if (status < 0)
		t->s.cbs->on_error(&t->s, status);
	else if (t->s.wq_bytes <= STREAM_LOW_WATER && t->s.cbs->on_drain)
		t->s.cbs->on_drain(&t->s);
}

static int tcp_write(stream_t *s, sbuf_t *b)
{
	tcp_stream_t *t = (tcp_stream_t *)s;
	uv_buf_t buf;
	wreq_t *w;
	int r;

	if (s->closed || t->shut) {
		sbuf_free(b);
		return UV_EPIPE;
	}
	if (!b->len) {
		sbuf_free(b);
		return 0;
	}
	buf = uv_buf_init((char *)sbuf_ptr(b), b->len);
	r = uv_try_write((uv_stream_t *)&t->h, &buf, 1);
	if (r == (int)b->len) {
		sbuf_free(b);
		return 0;
	}
	if (r > 0)
		sbuf_consume(b, (size_t)r);
	else if (r != UV_EAGAIN) {
		sbuf_free(b);
		return r;
	}
	w = malloc(sizeof(*w));
	if (!w)
		abort();
	b->next = NULL;
	w->b = b;
	w->bytes = b->len;
	buf = uv_buf_init((char *)sbuf_ptr(b), b->len);
	r = uv_write(&w->req, (uv_stream_t *)&t->h, &buf, 1, on_write);
	if (r < 0) {
		sbuf_free(b);
		free(w);
		return r;
	}
	s->wq_bytes += b->len;
	return 0;
}

/* Drop n written bytes from the front of q. */
static void q_written(sbuf_queue_t *q, size_t n)
{
	while (n && q->head) {
		sbuf_t *b = q->head;

		if (b->len <= n) {
			n -= b->len;
			sbuf_free(sbufq_pop(q));
		} else {
			sbuf_consume(b, n);
			q->bytes -= n;
			n = 0;
		}
	}
}

/* As much as the socket takes now in writev(2)s of up to TCP_IOV chunks;
 * the rest in one uv_write, the chunks chained in its request. */
static int tcp_writev(stream_t *s, sbuf_queue_t *q)
{
	tcp_stream_t *t = (tcp_stream_t *)s;
	uv_buf_t stack[TCP_IOV], *bufs = stack;
	size_t n, total;
	sbuf_t *b;
	wreq_t *w;
	int r;

	if (s->closed || t->shut) {
		sbufq_clear(q);
		return UV_EPIPE;
	}
	while (q->head) {
		for (n = 0, total = 0, b = q->head; b && n < TCP_IOV; b = b->next, n++) {
			stack[n] = uv_buf_init((char *)sbuf_ptr(b), b->len);
			total += b->len;
		}
		r = uv_try_write((uv_stream_t *)&t->h, stack, (unsigned)n);
		if (r == UV_EAGAIN)
			break;
		if (r < 0) {
			sbufq_clear(q);
			return r;
		}
		q_written(q, (size_t)r);
		if ((size_t)r < total)
			break;
	}
	if (!q->head)
		return 0;
	for (n = 0, b = q->head; b; b = b->next)
		n++;
	if (n > TCP_IOV && !(bufs = malloc(n * sizeof(*bufs))))
		abort();
	for (n = 0, b = q->head; b; b = b->next, n++)
		bufs[n] = uv_buf_init((char *)sbuf_ptr(b), b->len);
	w = malloc(sizeof(*w));
	if (!w)
		abort();
	w->b = q->head;
	w->bytes = q->bytes;
	r = uv_write(&w->req, (uv_stream_t *)&t->h, bufs, (unsigned)n, on_write);
	if (bufs != stack)
		free(bufs);
	if (r < 0) {
		free(w);
		sbufq_clear(q);
		return r;
	}
	s->wq_bytes += w->bytes;
	q->head = q->tail = NULL;
	q->bytes = 0;
	return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	tcp_stream_t *t = req->handle->data;

	if (status < 0 && status != UV_ECANCELED)
		log_debug(t->s.id, "tcp shutdown: %s", uv_strerror(status));
}

static int tcp_shutdown(stream_t *s)
{
	tcp_stream_t *t = (tcp_stream_t *)s;

	uv_os_fd_t fd;

	if (t->shut || s->closed)
		return 0;
	t->shut = 1;
	/* nothing waits to be written: the FIN now, without uv_shutdown's
	 * trip through a POLLOUT watcher (an epoll_ctl each way) */
	if (!t->h.write_queue_size && t->h.type == UV_TCP &&
	    uv_fileno((uv_handle_t *)&t->h, &fd) == 0) {
		if (shutdown(fd, SHUT_WR) < 0)
			log_debug(s->id, "tcp shutdown: %s", uv_strerror(-errno));
		return 0;
	}
	return uv_shutdown(&t->sreq, (uv_stream_t *)&t->h, on_shutdown);
}

static void tcp_read_start(stream_t *s)
{
	tcp_stream_t *t = (tcp_stream_t *)s;

	if (t->reading || t->eof || s->closed)
		return;
	if (t->stop_later) { /* libuv never stopped */
		t->stop_later = 0;
		t->reading = 1;
		return;
	}
	if (t->armed) {
		t->armed = 0;
		t->reading = 1;
		return;
	}
	if (uv_read_start((uv_stream_t *)&t->h, on_alloc, on_read) == 0)
		t->reading = 1;
}

static void tcp_read_stop(stream_t *s)
{
	tcp_stream_t *t = (tcp_stream_t *)s;

	if (!t->reading && !t->armed)
		return;
	if (t->in_read && t->reading) {
		t->reading = 0;
		t->stop_later = 1;
		return;
	}
	uv_read_stop((uv_stream_t *)&t->h);
	t->reading = t->armed = 0;
}

static void on_close(uv_handle_t *h)
{
	tcp_stream_t *t = h->data;

	sbuf_free(t->rbuf);
	free(t);
}

static void tcp_close(stream_t *s)
{
	tcp_stream_t *t = (tcp_stream_t *)s;

	uv_read_stop((uv_stream_t *)&t->h); /* nothing if it was not reading */
	t->reading = t->armed = t->stop_later = 0;
	if (t->reset && t->h.type == UV_TCP && uv_tcp_close_reset(&t->h, on_close) == 0)
		return;
	uv_close((uv_handle_t *)&t->h, on_close);
}

/* RST instead of FIN (a UNIX socket has none: it just closes). */
static void tcp_reset(stream_t *s)
{
	((tcp_stream_t *)s)->reset = 1;
	tcp_close(s);
}

static int tcp_addr(stream_t *s, int peer, struct sockaddr_storage *ss)
{
	tcp_stream_t *t = (tcp_stream_t *)s;
	int len = sizeof(*ss);

	if (t->h.type != UV_TCP)
		return UV_ENOTSUP;
	return peer ? uv_tcp_getpeername(&t->h, (struct sockaddr *)ss, &len)
	            : uv_tcp_getsockname(&t->h, (struct sockaddr *)ss, &len);
}

static const stream_ops_t tcp_ops = {
    .name = "tcp",
    .write = tcp_write,
    .writev = tcp_writev,
    .shutdown = tcp_shutdown,
    .read_start = tcp_read_start,
    .read_stop = tcp_read_stop,
    .close = tcp_close,
    .reset = tcp_reset,
    .addr = tcp_addr,
};

stream_t *tcp_stream_new(uv_loop_t *loop, uint64_t id)
{
	tcp_stream_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	uv_tcp_init(loop, &t->h);
	t->h.data = t;
	t->s.ops = &tcp_ops;
	t->s.id = id;
	return &t->s;
}

uv_tcp_t *tcp_stream_handle(stream_t *s)
{
	return &((tcp_stream_t *)s)->h;
}

stream_t *unix_stream_new(uv_loop_t *loop, uint64_t id)
{
	tcp_stream_t *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	uv_pipe_init(loop, &t->p, 0);
	t->p.data = t;
	t->s.ops = &tcp_ops;
	t->s.id = id;
	return &t->s;
}

int unix_stream_accept(uv_stream_t *server, uint64_t id, stream_t **out)
{
	stream_t *s = unix_stream_new(server->loop, id);
	int r = uv_accept(server, (uv_stream_t *)&((tcp_stream_t *)s)->p);

	if (r < 0) {
		stream_close(s);
		return r;
	}
	*out = s;
	return 0;
}

int unix_stream_open(uv_loop_t *loop, int fd, uint64_t id, stream_t **out)
{
	stream_t *s = unix_stream_new(loop, id);
	int r = uv_pipe_open(&((tcp_stream_t *)s)->p, fd);

	if (r < 0) {
		close(fd);
		stream_close(s);
		return r;
	}
	*out = s;
	return 0;
}

static void on_pipe_connect(uv_connect_t *req, int status)
{
	tcp_stream_t *t = req->handle->data;

	if (!t->s.closed)
		t->ccb(&t->s, status, t->cud);
}

int unix_stream_connect(stream_t *s, const char *path, tcp_connect_cb cb, void *ud)
{
	tcp_stream_t *t = (tcp_stream_t *)s;

	t->ccb = cb;
	t->cud = ud;
	uv_pipe_connect(&t->creq, &t->p, path, on_pipe_connect);
	return 0;
}

int tcp_stream_accept(uv_stream_t *server, uint64_t id, stream_t **out)
{
	stream_t *s = tcp_stream_new(server->loop, id);
	tcp_stream_t *t = (tcp_stream_t *)s;
	int r = uv_accept(server, (uv_stream_t *)&t->h);

	if (r < 0) {
		stream_close(s);
		return r;
	}
	uv_tcp_nodelay(&t->h, 1);
	*out = s;
	return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
	tcp_stream_t *t = req->handle->data;

	if (t->s.closed)
		return;
	if (status == 0)
		uv_tcp_nodelay(&t->h, 1);
	t->ccb(&t->s, status, t->cud);
	if (t->armed && !t->s.closed) /* the owner did not start reading */
		tcp_read_stop(&t->s);
}

/* The last descriptors are never a dial's: they stay free for accept(2).
 * When accept fails with EMFILE, libuv accepts what waits on a spare
 * descriptor and closes it without telling the listener, which could then
 * neither refuse with its log line nor say why.  With these kept, an
 * accepted connection lands in the listener's own reserve (listener.c,
 * limit / 8) and is refused there, said in its log.  The limit is read on
 * the first dial, after runtime_init raised it. */
#define DIAL_KEEP_MIN 4
#define DIAL_LOG_MS 5000

static int dial_fd_refused(tcp_stream_t *t)
{
	static uint64_t limit, refused, logged_at;
	uv_os_fd_t fd;
	uint64_t keep, now;

	if (!limit) {
		struct rlimit rl;
		limit = getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY
		            ? UINT64_MAX
		            : (uint64_t)rl.rlim_cur;
	}
	if (limit == UINT64_MAX || uv_fileno((uv_handle_t *)&t->h, &fd) < 0)
		return 0;
	keep = limit / 32 < DIAL_KEEP_MIN ? DIAL_KEEP_MIN : limit / 32;
	if ((uint64_t)fd + keep < limit)
		return 0;
	refused++;
	now = uv_now(t->h.loop);
	if (!logged_at || now - logged_at >= DIAL_LOG_MS) {
		logged_at = now;
		log_warn(
		    t->s.id,
		    "connect: refused: descriptors nearly exhausted (limit %llu, the last %llu "
		    "kept for accepting): %llu connect%s refused so far; raise the limit "
		    "(ulimit -n)",
		    (unsigned long long)limit, (unsigned long long)keep,
		    (unsigned long long)refused, refused == 1 ? "" : "s");
	}
	return 1;
}

/* Reading is started with the connect, before the owner asks for it: libuv
 * forgets a descriptor's epoll registration when its last watcher stops
 * (the connect's), so reading started from the connect callback would cost
 * an EPOLL_CTL_ADD that fails with EEXIST and then an EPOLL_CTL_MOD.  With
 * reading armed the registration carries on: one MOD.  libuv reads nothing
 * before the connect has completed, and on_connect disarms it if the owner
 * did not start reading from its callback. */
int tcp_stream_connect(stream_t *s, const struct sockaddr *sa, tcp_connect_cb cb, void *ud)
{
	tcp_stream_t *t = (tcp_stream_t *)s;
	int r;

	t->ccb = cb;
	t->cud = ud;
	r = uv_tcp_connect(&t->creq, &t->h, sa, on_connect);
	/* the caller closes s on an error, which cancels the connect */
	if (r == 0 && dial_fd_refused(t))
		return UV_EMFILE;
	if (r == 0 && !t->reading && !t->armed &&
	    uv_read_start((uv_stream_t *)&t->h, on_alloc, on_read) == 0)
		t->armed = 1;
	return r;
}
