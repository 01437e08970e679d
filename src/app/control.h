/* control: the control socket, on which `sluice reload` and `sluice
 * status` ask a running sluice.
 *
 * A UNIX stream socket, mode 0600, at control: (--control, SLUICE_CONTROL),
 * else $RUNTIME_DIRECTORY/control when the service manager gave a runtime
 * directory (RuntimeDirectory=), else none.  One request a connection:
 * a line ("reload", "status", "status json"), then the answer, then the
 * close.  The answer's first line is "ok" or "refused: WHY"; a status
 * follows its line with the document.  Only a client of this process's
 * user, or root, is answered (SO_PEERCRED); at most CONTROL_CLIENTS at
 * once, each with CONTROL_TIMEOUT_MS to ask.  At start, a socket file that
 * nobody answers on (a sluice that was killed) is replaced; one that
 * answers is another sluice's, and start fails.
 */
#ifndef SLUICE_CONTROL_H
#define SLUICE_CONTROL_H

#include <stddef.h>
#include <uv.h>

#include "core/metrics.h"

#define CONTROL_CLIENTS 8
#define CONTROL_TIMEOUT_MS 5000
#define CONTROL_REQUEST_MAX 64

/* The path from control: (NULL: not given): 0 and the path in buf; 1: no
 * socket ("", or nothing given outside a runtime directory); -1: too long. */
int control_path(const char *configured, char *buf, size_t len);

/* Answer the request line cmd into reply (the first line "ok" or
 * "refused: WHY"). */
typedef void (*control_fn)(const char *cmd, mbuf_t *reply);

/* Listen on path (owned by uid:gid when uid is not -1: the user the
 * process drops to). */
int control_serve(uv_loop_t *loop, const char *path, control_fn fn, int uid, int gid, char *err,
                  size_t errlen);
/* Stop listening, remove the socket file; clients being answered go. */
void control_stop(void);

/* The path a client asks at: opt (--control), else the control: of the
 * file at cfgpath (NULL: none), else $SLUICE_CONTROL, else the runtime
 * directory's; 0, or -1 and err (none known, the file, too long). */
int control_client_path(const char *opt, const char *cfgpath, char *buf, size_t len, char *err,
                        size_t errlen);

/* The client: send cmd to path, the whole answer into reply (malloc'd,
 * NUL-terminated); 0, or -1 and err. */
int control_ask(const char *path, const char *cmd, mbuf_t *reply, char *err, size_t errlen);

#endif
