/* sdnotify: the service manager's notification protocol (sd_notify(3)),
 * spoken directly: one datagram of "KEY=VALUE" lines to the UNIX socket
 * $NOTIFY_SOCKET names (a path, or an abstract name after '@').  Outside
 * systemd (no $NOTIFY_SOCKET) every call does nothing.
 *
 *   READY=1            every listener is bound and every session the
 *                      listeners depend on is up (core/runtime.c)
 *   RELOADING=1        a reload began, with MONOTONIC_USEC; READY=1 again
 *                      when it is done, taken or refused
 *   STOPPING=1         a signal began the drain
 *   STATUS=...         a line for `systemctl status`
 *   WATCHDOG=1         from a loop timer at half of $WATCHDOG_USEC, so a
 *                      loop that is stuck gets the process restarted
 */
#ifndef SLUICE_SDNOTIFY_H
#define SLUICE_SDNOTIFY_H

#include <stdint.h>

/* The socket from the environment (called once, before anything else
 * might change it); 1 when there is one. */
int sdnotify_init(void);
/* Send the lines; 0, or -errno (a manager that went away is not an
 * error anyone can act on: callers ignore it). */
int sdnotify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval asked for, in ms ($WATCHDOG_USEC, for this pid
 * when $WATCHDOG_PID says which), or 0. */
uint64_t sdnotify_watchdog_ms(void);

#endif
