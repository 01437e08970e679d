/*
 * Preloaded into Debian's slirp 1.0.17 (the original SLiRP) by the peers
 * lab: `peers slirp ppp`.
 *
 * slirp's main loop means "block until something happens" by a timeout of
 * (u_int)-1 microseconds, which it stores in struct timeval's tv_usec.  On
 * a 64-bit host that is 4294967295 in a 64-bit field, select() rejects it
 * with EINVAL, and slirp exits right after printing "SLiRP Ready".  This
 * select() hands glibc a timeout it accepts: at most 5 s where slirp meant
 * "forever" (its timers still run: it only wakes up more often), and the
 * same time with the microseconds carried into seconds otherwise.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/select.h>

typedef int (*select_fn)(int, fd_set *, fd_set *, fd_set *, struct timeval *);

int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	static select_fn real;

	if (!real)
		real = (select_fn)dlsym(RTLD_NEXT, "select");
	if (tv && (tv->tv_usec < 0 || tv->tv_usec >= 1000000)) {
		if (tv->tv_usec < 0 || tv->tv_usec == (suseconds_t)(unsigned)-1) {
			tv->tv_sec = 5;
			tv->tv_usec = 0;
		} else {
			tv->tv_sec += tv->tv_usec / 1000000;
			tv->tv_usec %= 1000000;
		}
	}
	return real(nfds, r, w, e, tv);
}
