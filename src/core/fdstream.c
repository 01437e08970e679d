/* fdstream: see fdstream.h.  Two uv_poll handles when the descriptors
 * differ (one when they are the same), freed in their close callbacks. */
#include "core/fdstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fds {
	stream_t s;
	uv_poll_t rp, wp; /* wp unused when rfd == wfd */
	int rfd, wfd, own, same, nclose;
	int revents, wevents; /* what each poll watches */
	sbuf_queue_t wq;
	unsigned reading : 1, eof : 1, shut : 1, shut_done : 1, dead : 1;
} fds_t;

static void update(fds_t *f);
static void set_poll(fds_t *f, uv_poll_t *p, int *cur, int want);

static void fail(fds_t *f, int err)
{
	if (f->dead || f->s.closed)
		return;
	f->dead = 1;
	update(f);
	f->s.cbs->on_error(&f->s, err);
}

static void do_write(fds_t *f)
{
	while (f->wq.head) {
		sbuf_t *b = f->wq.head;
		ssize_t n = write(f->wfd, sbuf_ptr(b), b->len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			fail(f, -errno);
			return;
		}
		sbuf_consume(b, (size_t)n);
		f->wq.bytes -= (size_t)n;
		if (!b->len)
			sbuf_free(sbufq_pop(&f->wq));
	}
	f->s.wq_bytes = f->wq.bytes;
	if (!f->wq.head && f->shut && !f->shut_done) {
		f->shut_done = 1;
		if (f->same) {
			shutdown(f->wfd, SHUT_WR); /* sockets; a harmless error on ttys */
		} else if (f->own) {
			/* a pipe: closing the write end is the end of data */
			set_poll(f, &f->wp, &f->wevents, 0);
			close(f->wfd);
			f->wfd = -1;
		}
	}
}

static void do_read(fds_t *f)
{
	for (int i = 0; i < 16 && f->reading && !f->s.closed; i++) {
		sbuf_t *b = sbuf_new(SBUF_DEFAULT);
		ssize_t n = read(f->rfd, b->data, b->cap);
		if (n > 0) {
			b->len = (uint32_t)n;
			f->s.cbs->on_read(&f->s, sbuf_fit(b));
			continue;
		}
		sbuf_free(b);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n == 0 || errno == EIO) {
			f->eof = 1;
			update(f);
			f->s.cbs->on_read(&f->s, NULL);
		} else {
			fail(f, -errno);
		}
		return;
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	fds_t *f = h->data;
	size_t before = f->wq.bytes;

	if (status < 0) {
		/* libuv reports POLLERR as UV_EBADF; on a tty that is a
		 * hang-up (the other end of a pty closed), which read()
		 * tells as EIO: the end of the stream, not an error */
		if (status == UV_EBADF && f->reading && !f->eof) {
			do_read(f);
			if (f->s.closed || f->eof || f->dead)
				return;
		}
		fail(f, status);
		return;
	}
	if (events & UV_WRITABLE) {
		do_write(f);
		if (f->s.closed || f->dead)
			return;
		if (before && f->wq.bytes <= STREAM_LOW_WATER && f->s.cbs->on_drain)
			f->s.cbs->on_drain(&f->s);
		if (f->s.closed)
			return;
	}
	if (events & (UV_READABLE | UV_DISCONNECT))
		do_read(f);
	if (!f->s.closed)
		update(f);
}

static void set_poll(fds_t *f, uv_poll_t *p, int *cur, int want)
{
	if (*cur == want)
		return;
	*cur = want;
	if (want)
		uv_poll_start(p, want, on_poll);
	else
		uv_poll_stop(p);
}

static void update(fds_t *f)
{
	int r = f->reading && !f->eof && !f->dead ? UV_READABLE : 0;
	int w = f->wq.head && !f->dead ? UV_WRITABLE : 0;

	if (f->same) {
		set_poll(f, &f->rp, &f->revents, r | w);
		return;
	}
	set_poll(f, &f->rp, &f->revents, r);
	if (f->wfd >= 0)
		set_poll(f, &f->wp, &f->wevents, w);
}

static int fd_write(stream_t *s, sbuf_t *b)
{
	fds_t *f = (fds_t *)s;

	if (f->shut || f->dead) {
		sbuf_free(b);
		return UV_EPIPE;
	}
	sbufq_push(&f->wq, b);
	do_write(f);
	if (f->dead)
		return UV_EPIPE;
	update(f);
	return 0;
}

static int fd_shutdown(stream_t *s)
{
	fds_t *f = (fds_t *)s;

	f->shut = 1;
	do_write(f);
	return 0;
}

static void fd_read_start(stream_t *s)
{
	fds_t *f = (fds_t *)s;

	f->reading = 1;
	update(f);
}

static void fd_read_stop(stream_t *s)
{
	fds_t *f = (fds_t *)s;

	f->reading = 0;
	update(f);
}

static void on_closed(uv_handle_t *h)
{
	fds_t *f = h->data;

	if (--f->nclose)
		return;
	sbufq_clear(&f->wq);
	if (f->own) {
		close(f->rfd);
		if (!f->same && f->wfd >= 0)
			close(f->wfd);
	}
	free(f);
}

static void fd_close(stream_t *s)
{
	fds_t *f = (fds_t *)s;

	f->nclose = f->same ? 1 : 2;
	uv_close((uv_handle_t *)&f->rp, on_closed);
	if (!f->same)
		uv_close((uv_handle_t *)&f->wp, on_closed);
}

static const stream_ops_t fd_ops = {
    .name = "fd",
    .write = fd_write,
    .shutdown = fd_shutdown,
    .read_start = fd_read_start,
    .read_stop = fd_read_stop,
    .close = fd_close,
};

stream_t *fdstream_new(uv_loop_t *loop, int rfd, int wfd, int own_fds, uint64_t id)
{
	fds_t *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	f->s.ops = &fd_ops;
	f->s.id = id;
	f->rfd = rfd;
	f->wfd = wfd;
	f->own = own_fds;
	f->same = rfd == wfd;
	fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
	if (!f->same)
		fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
	uv_poll_init(loop, &f->rp, rfd);
	f->rp.data = f;
	if (!f->same) {
		uv_poll_init(loop, &f->wp, wfd);
		f->wp.data = f;
	}
	return &f->s;
}
