/* log: leveled log lines on stderr, each tagged with a connection id.
 *
 *   2026-11-22T00:31:02.114Z info  [c17] socks5 CONNECT example.org:443
 *
 * Id 0 means "the process" and prints no tag.  Secrets are never passed in.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdint.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

extern int log_level;

void log_msg(int level, uint64_t id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int log_level_parse(const char *s); /* "err".."trace" or 0..4; -1 if unknown */
const char *log_level_name(int level);

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
