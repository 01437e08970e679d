/* sdnotify: see sdnotify.h. */
#include "core/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addrlen;
static int fd = -1;

int sdnotify_init(void)
{
	const char *p = getenv("NOTIFY_SOCKET");
	size_t n;

	if (fd >= 0)
		return 1;
	if (!p || (p[0] != '/' && p[0] != '@') || (n = strlen(p)) >= sizeof(addr.sun_path))
		return 0;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, p, n);
	if (p[0] == '@')
		addr.sun_path[0] = 0;
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* the children sluice never starts should not inherit it either */
	unsetenv("NOTIFY_SOCKET");
	return fd >= 0;
}

int sdnotify(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (fd < 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (sendto(fd, buf, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&addr, addrlen) < 0)
		return -errno;
	return 0;
}

uint64_t sdnotify_watchdog_ms(void)
{
	const char *u = getenv("WATCHDOG_USEC"), *p = getenv("WATCHDOG_PID");
	unsigned long long us;

	if (!u || sscanf(u, "%llu", &us) != 1 || !us)
		return 0;
	if (p && strtol(p, NULL, 10) != (long)getpid())
		return 0;
	return us / 1000 ? us / 1000 : 1;
}
