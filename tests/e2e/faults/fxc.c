/* fxc: the fast peers of sluice's fault tests (one thread, epoll).
 *
 *   fxc echo PORT [ADDR]
 *       an echo server on ADDR:PORT (default 127.0.0.1): every byte back,
 *       FIN for FIN
 *   fxc source PORT [ADDR]
 *       a server on ADDR:PORT that sends zeros to every client as fast as
 *       it takes them, until it goes
 *   fxc churn PROXY HOST PORT N CONC SECONDS
 *       N short connections through the SOCKS5 proxy on 127.0.0.1:PROXY to
 *       HOST:PORT (an echo server), CONC at a time: each sends 32 random
 *       bytes, reads the same 32 back and closes.  Prints
 *       "churn ok=K failed=F rate=R/s" and the count of each failure kind;
 *       stops at SECONDS, counting what did not run as failed.  Exit 0
 *       when none failed.
 *
 * Python's asyncio opens about a thousand connections a second here; the
 * churn tests open 200,000 per tunnel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 32
#define CONN_TIMEOUT_MS 20000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "not an IPv4 address: %s\n", addr);
		exit(2);
	}
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0)
		die("bind/listen");
	return fd;
}

/* ---- servers: echo and source ---- */

/* Accept on addr:port and call on_ready(fd, events) for every event
 * of a client, which is watched for `events`. */
static _Noreturn void serve(const char *addr, int port, uint32_t events,
                            void (*on_ready)(int fd, uint32_t ev))
{
	int lfd = listen_on(addr, port), ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[256];

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll");
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd, c;

			if (fd != lfd) {
				on_ready(fd, evs[i].events);
				continue;
			}
			while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
				struct epoll_event ce = {.events = events, .data.fd = c};
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
			}
		}
	}
}

/* every byte back, FIN for FIN */
static void echo_ready(int fd, uint32_t ev)
{
	static char buf[65536];

	(void)ev;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r > 0) {
			/* small messages: the socket buffer takes them */
			if (write(fd, buf, (size_t)r) != r) {
				close(fd);
				return;
			}
			continue;
		}
		if (r < 0 && errno == EAGAIN)
			return;
		if (r == 0)
			shutdown(fd, SHUT_WR);
		close(fd);
		return;
	}
}

/* zeros as fast as the client takes them */
static void source_ready(int fd, uint32_t ev)
{
	static char zeros[65536];

	if (ev & (EPOLLERR | EPOLLHUP)) {
		close(fd);
		return;
	}
	while (write(fd, zeros, sizeof(zeros)) > 0)
		;
	if (errno != EAGAIN)
		close(fd);
}

/* ---- churn ---- */

enum { ST_CONNECT, ST_METHOD, ST_REPLY, ST_ECHO };
enum { F_CONNECT, F_SOCKS, F_RESET, F_CLOSED, F_DIFFERS, F_TIMEOUT, F_UNRUN, F_N };
static const char *const fnames[F_N] = {"connect to the proxy failed",
                                        "SOCKS refused",
                                        "reset",
                                        "closed early",
                                        "echo differs",
                                        "timed out",
                                        "not run before the deadline"};

typedef struct cx {
	int fd, st;
	size_t got;
	double start;
	uint8_t msg[MSG], in[MSG];
} cx_t;

static int churn(int proxy, const char *host, int port, long n, int conc, double secs)
{
	struct sockaddr_in pa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)proxy)};
	uint8_t req[10] = {5, 1, 0, 1};
	cx_t *cx = calloc((size_t)conc, sizeof(*cx));
	struct epoll_event evs[512];
	long started = 0, ok = 0, fails[F_N] = {0};
	int ep = epoll_create1(0), active = 0;
	double t0 = now_s(), last_sweep = t0;
	uint32_t rnd = (uint32_t)getpid();

	pa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!cx || ep < 0 || inet_pton(AF_INET, host, req + 4) != 1)
		die("setup");
	req[8] = (uint8_t)(port >> 8);
	req[9] = (uint8_t)port;
	for (int i = 0; i < conc; i++)
		cx[i].fd = -1;

#define END(c, kind)                                                                               \
	do {                                                                                       \
		if ((kind) >= 0)                                                                   \
			fails[(kind)]++;                                                           \
		else                                                                               \
			ok++;                                                                      \
		close((c)->fd);                                                                    \
		(c)->fd = -1;                                                                      \
		active--;                                                                          \
	} while (0)

	for (;;) {
		double t = now_s();

		/* start new connections up to conc */
		for (int i = 0; i < conc && started < n && t - t0 < secs; i++) {
			cx_t *c = &cx[i];
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};

			if (c->fd >= 0)
				continue;
			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			started++;
			active++;
			if (c->fd < 0) {
				c->fd = open("/dev/null", O_RDONLY);
				END(c, F_CONNECT);
				continue;
			}
			c->st = ST_CONNECT;
			c->got = 0;
			c->start = t;
			for (int k = 0; k < MSG; k++) {
				rnd = rnd * 1103515245u + 12345u;
				c->msg[k] = (uint8_t)(rnd >> 16);
			}
			if (connect(c->fd, (struct sockaddr *)&pa, sizeof(pa)) < 0 &&
			    errno != EINPROGRESS) {
				END(c, F_CONNECT);
				continue;
			}
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		}
		if (!active && (started >= n || t - t0 >= secs))
			break;
		if (t - t0 >= secs + CONN_TIMEOUT_MS / 1000.0)
			break;

		int k = epoll_wait(ep, evs, 512, 100);
		for (int i = 0; i < k; i++) {
			cx_t *c = evs[i].data.ptr;
			ssize_t r;

			if (c->fd < 0)
				continue;
			if (c->st == ST_CONNECT) {
				int err = 0;
				socklen_t el = sizeof(err);
				struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err) {
					END(c, F_CONNECT);
					continue;
				}
				/* greeting and request at once: sluice reads them in order */
				uint8_t out[3 + sizeof(req)] = {5, 1, 0};
				memcpy(out + 3, req, sizeof(req));
				if (write(c->fd, out, sizeof(out)) != (ssize_t)sizeof(out)) {
					END(c, F_RESET);
					continue;
				}
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				c->st = ST_METHOD;
				continue;
			}
			r = read(c->fd, c->in + c->got,
			         (c->st == ST_METHOD  ? 2
			          : c->st == ST_REPLY ? 10
			                              : MSG) -
			             c->got);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0) {
				END(c, r == 0 ? (c->st == ST_ECHO ? F_CLOSED : F_SOCKS) : F_RESET);
				continue;
			}
			c->got += (size_t)r;
			if (c->st == ST_METHOD && c->got == 2) {
				if (c->in[0] != 5 || c->in[1] != 0) {
					END(c, F_SOCKS);
					continue;
				}
				c->st = ST_REPLY;
				c->got = 0;
			} else if (c->st == ST_REPLY && c->got == 10) {
				if (c->in[1] != 0) {
					END(c, F_SOCKS);
					continue;
				}
				if (write(c->fd, c->msg, MSG) != MSG) {
					END(c, F_RESET);
					continue;
				}
				c->st = ST_ECHO;
				c->got = 0;
			} else if (c->st == ST_ECHO && c->got == MSG) {
				END(c, memcmp(c->in, c->msg, MSG) ? F_DIFFERS : -1);
			}
		}
		if (t - last_sweep > 1) {
			last_sweep = t;
			for (int i = 0; i < conc; i++)
				if (cx[i].fd >= 0 && t - cx[i].start > CONN_TIMEOUT_MS / 1000.0)
					END(&cx[i], F_TIMEOUT);
		}
	}
	for (int i = 0; i < conc; i++)
		if (cx[i].fd >= 0)
			END(&cx[i], F_TIMEOUT);
	fails[F_UNRUN] += n - started;
	long failed = n - ok;
	double dt = now_s() - t0;
	printf("churn ok=%ld failed=%ld rate=%.0f/s\n", ok, failed, (double)ok / dt);
	for (int i = 0; i < F_N; i++)
		if (fails[i])
			printf("  %ld x %s\n", fails[i], fnames[i]);
	free(cx);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN); /* a peer that went is an error, not our end */
	const char *addr = argc == 4 ? argv[3] : "127.0.0.1";

	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "echo"))
		serve(addr, atoi(argv[2]), EPOLLIN, echo_ready);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "source"))
		serve(addr, atoi(argv[2]), EPOLLOUT, source_ready);
	if (argc == 8 && !strcmp(argv[1], "churn"))
		return churn(atoi(argv[2]), argv[3], atoi(argv[4]), atol(argv[5]), atoi(argv[6]),
		             atof(argv[7]));
	fprintf(stderr, "usage: fxc echo PORT [ADDR] | fxc source PORT [ADDR] | fxc churn PROXY "
	                "HOST PORT N CONC SECONDS\n");
	return 2;
}
