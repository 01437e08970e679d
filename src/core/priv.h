/* priv: root only for as long as it is needed.
 *
 * A sluice started as root binds its ports, opens its TUN devices, serial
 * lines and log file, and then (user: / --user) becomes that user:
 *
 *   priv_lookup(user, group)  the ids, read before anything starts (a
 *                             name that does not exist is a configuration
 *                             error, for `sluice check` too)
 *   priv_need(CAP)            a module that will need a capability after
 *                             the drop says so when it starts (the VPN's
 *                             TUN device is addressed when its session
 *                             comes up: CAP_NET_ADMIN)
 *   priv_drop()               the supplementary groups go, then the group
 *                             and user ids (real, effective, saved); only
 *                             the capabilities priv_need() named stay, in
 *                             the bounding set too; no_new_privs is set, so
 *                             nothing run later could gain any back.
 *
 * `user: root` keeps root on purpose.  Without a user, a process running
 * as root refuses to serve the network (priv_refuse_root: a listener
 * bound to an address other than loopback, or the metrics server): the
 * message names the option.
 */
#ifndef SLUICE_PRIV_H
#define SLUICE_PRIV_H

#include <stddef.h>
#include <sys/types.h>

typedef struct priv {
	int set;  /* a user was named */
	int keep; /* it is root: nothing to drop */
	uid_t uid;
	gid_t gid;
	char user[64];
} priv_t;

/* user NULL: no drop (p->set 0).  0, or -EINVAL with a message. */
int priv_lookup(const char *user, const char *group, priv_t *p, char *err, size_t errlen);
/* This process may serve the network as it runs: not root, or a user was
 * named.  -EPERM with a message naming what is reachable (what) otherwise. */
int priv_refuse_root(const priv_t *p, const char *what, char *err, size_t errlen);
void priv_need(int cap);
/* 0, or -errno with a message; the process must not go on after a failure. */
int priv_drop(const priv_t *p, char *err, size_t errlen);

#endif
