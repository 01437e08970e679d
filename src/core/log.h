/* log: leveled log lines, each tagged with a connection id, to one sink.
 *
 *   2026-11-22T00:31:02.114Z info  [c17] socks5 CONNECT example.org:443
 *
 * Id 0 means "the process" and prints no tag.  Secrets are never passed in.
 *
 * Sinks (log_configure):
 *   stderr    the default
 *   a file    appended to; log_reopen() opens the path again (SIGUSR1,
 *             after logrotate renamed the file: no line is lost, none is
 *             written twice)
 *   syslog    RFC 3164 datagrams, as syslog(3) sends them, to /dev/log or
 *             another socket, facility daemon
 *   journal   systemd's native protocol (/run/systemd/journal/socket),
 *             chosen by itself when stderr is the journal ($JOURNAL_STREAM
 *             names it) and no other sink is: MESSAGE, PRIORITY,
 *             SYSLOG_IDENTIFIER and the fields below
 * The datagram sinks never block: a line the socket will not take now is
 * dropped and counted (log_stats.dropped).
 *
 * Formats: text (above) or json, one object a line:
 *   {"time":"...","level":"info","conn":17,"listener":"socks5://...",
 *    "peer":"127.0.0.1:5150","target":"example.org:443","msg":"..."}
 * The fields of a connection's lines (journal: CONN_ID, LISTENER, PEER,
 * TARGET) come from the hook log_set_fields() installs (conn.c), asked
 * only for a json or journal line.
 *
 * Rate: each source (the line's format string, and the client's address
 * for a connection's line) may log `rate` lines a second, in bursts of
 * 5 x rate; more are counted and said in one line ("N lines like ...
 * suppressed") once the source logs again or log_tick() finds it quiet.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };
enum log_format { LOG_TEXT, LOG_JSON };

extern int log_level;

void log_msg(int level, uint64_t id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "err".."trace" (also "error", "warning"), any case, or 0..4; -1 if unknown */
int log_level_parse(const char *s);
const char *log_level_name(int level);
/* "text" or "json", any case; -1 if unknown */
int log_format_parse(const char *s);

typedef struct log_cfg {
	const char *file;   /* append to this file; NULL: not a file */
	const char *syslog; /* send to this syslog socket; NULL: not syslog */
	int format;         /* LOG_TEXT, LOG_JSON */
	uint64_t rate;      /* lines a second per source; 0: no limit */
} log_cfg_t;
#define LOG_RATE_DEFAULT 20
#define LOG_SYSLOG_DEFAULT "/dev/log"

/* Switch to the sink cfg names (stderr when neither file nor syslog, or
 * the journal as said above).  On failure the sink in use stays: -errno
 * and a message naming the file or socket. */
int log_configure(const log_cfg_t *cfg, char *err, size_t errlen);
/* The file sink: open the path again (the old name was renamed away).
 * 0, or -errno and the file kept as it was; nothing to do for others. */
int log_reopen(char *err, size_t errlen);
/* What the sink is, for start-up lines: "stderr", "file PATH", ... */
const char *log_sink_name(void);
/* Give the file to uid/gid (before privileges are dropped, so that a
 * reopen can still write its directory's new file as that user). */
void log_chown(unsigned uid, unsigned gid);
/* A worker process's index (app/workers.h), shown in each line ("[w1]",
 * "worker":1, SLUICE_WORKER=1); -1: not a worker. */
extern int log_worker;
/* Say what was suppressed by sources that have gone quiet (about once a
 * second, from the loop). */
void log_tick(void);
/* Batching, for a thread that runs a loop: with on, its info, debug and
 * trace lines to stderr or a file wait in a batch of the thread's own
 * until log_flush() (the loop calls it before it waits), a full batch, an
 * err or warn line, a change of sink, or exit(3); off writes what waits
 * and ends it.  Lines keep their order.  Datagram sinks send each line at
 * once. */
void log_batch(int on);
void log_flush(void);

typedef struct log_fields {
	const char *listener, *peer, *target; /* NULL: unknown */
	const struct sockaddr *peer_addr;     /* the client, for the rate's source */
} log_fields_t;
/* fn(id, f): 1 with f filled for a live connection id, else 0. */
void log_set_fields(int (*fn)(uint64_t id, log_fields_t *f));

typedef struct log_stats {
	uint64_t suppressed; /* lines over a source's rate */
	uint64_t dropped;    /* lines a datagram sink would not take */
} log_stats_t;
extern log_stats_t log_stats;

#define LOG_AT(lvl, id, ...)                                                                       \
	do {                                                                                       \
		if ((lvl) <= log_level)                                                            \
			log_msg((lvl), (id), __VA_ARGS__);                                         \
	} while (0)
#define log_err(id, ...) LOG_AT(LOG_ERR, id, __VA_ARGS__)
#define log_warn(id, ...) LOG_AT(LOG_WARN, id, __VA_ARGS__)
#define log_info(id, ...) LOG_AT(LOG_INFO, id, __VA_ARGS__)
#define log_debug(id, ...) LOG_AT(LOG_DEBUG, id, __VA_ARGS__)
#define log_trace(id, ...) LOG_AT(LOG_TRACE, id, __VA_ARGS__)

#endif
