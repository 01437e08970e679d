/* priv: see priv.h.  Capabilities through the capget/capset system calls
 * (linux/capability.h, version 3: two 32-bit words), so no libcap.  Only
 * the calling thread's capabilities change; priv_drop() runs before the
 * loop starts its thread pool, and the user id change that glibc makes on
 * every thread leaves the others none (they do not keep them). */
#include "core/priv.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"

static uint64_t needed; /* 1 << CAP_* */

void priv_need(int cap)
{
	if (cap >= 0 && cap < 64)
		needed |= 1ULL << cap;
}

static int parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out >= (unsigned long)(uid_t)-1 ? -1 : 0;
}

int priv_lookup(const char *user, const char *group, priv_t *p, char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;
	unsigned long n;

	memset(p, 0, sizeof(*p));
	if (!user) {
		if (group) {
			snprintf(err, errlen, "group: is for user: (give both)");
			return -EINVAL;
		}
		return 0;
	}
	p->set = 1;
	snprintf(p->user, sizeof(p->user), "%s", user);
	if ((pw = getpwnam(user))) {
		p->uid = pw->pw_uid;
		p->gid = pw->pw_gid;
	} else if (parse_id(user, &n) == 0) {
		p->uid = (uid_t)n;
		p->gid = (gid_t)n;
	} else {
		snprintf(err, errlen, "user: no user '%s' on this system", user);
		return -EINVAL;
	}
	if (group) {
		if ((gr = getgrnam(group)))
			p->gid = gr->gr_gid;
		else if (parse_id(group, &n) == 0)
			p->gid = (gid_t)n;
		else {
			snprintf(err, errlen, "group: no group '%s' on this system", group);
			return -EINVAL;
		}
	}
	p->keep = p->uid == 0;
	return 0;
}

int priv_refuse_root(const priv_t *p, const char *what, char *err, size_t errlen)
{
	if (geteuid() != 0 || p->set)
		return 0;
	snprintf(err, errlen,
	         "%s can be reached from the network, and sluice runs as root: give --user NAME "
	         "(user: in the configuration, SLUICE_USER) to run as NAME once everything is "
	         "bound, or --user root to stay root",
	         what);
	return -EPERM;
}

static int caps_set(uint64_t keep)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

static int fail(char *err, size_t errlen, const char *what, const priv_t *p)
{
	int e = errno;

	snprintf(err, errlen, "cannot become user %s (uid %u, gid %u): %s: %s", p->user,
	         (unsigned)p->uid, (unsigned)p->gid, what, strerror(e));
	return -e;
}

int priv_drop(const priv_t *p, char *err, size_t errlen)
{
	if (!p->set || p->keep)
		return 0;
	if (geteuid() != 0) {
		if (geteuid() == p->uid && getegid() == p->gid)
			goto nnp; /* already that user (a service manager made it so) */
		errno = EPERM;
		return fail(err, errlen, "not root", p);
	}
	/* the bounding set first: dropping from it needs CAP_SETPCAP */
	for (int cap = 0; cap < 64; cap++)
		if (!(needed & (1ULL << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return fail(err, errlen, "bounding set", p);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (needed && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, "keepcaps", p);
	if (setgroups(1, &p->gid) < 0)
		return fail(err, errlen, "setgroups", p);
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return fail(err, errlen, "setresgid", p);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return fail(err, errlen, "setresuid", p);
	if (caps_set(needed) < 0)
		return fail(err, errlen, "capset", p);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (setuid(0) == 0 || seteuid(0) == 0) {
		errno = EPERM;
		return fail(err, errlen, "root could be regained", p);
	}
nnp:
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, "no_new_privs", p);
	log_info(0, "running as %s (uid %u, gid %u)%s", p->user, (unsigned)p->uid, (unsigned)p->gid,
	         needed & (1ULL << CAP_NET_ADMIN) ? ", keeping CAP_NET_ADMIN" : "");
	return 0;
}
