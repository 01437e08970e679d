/* log: see log.h.  One fprintf per line so concurrent writers do not mix. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int log_level = LOG_INFO;

static const char *const names[] = {"err", "warn", "info", "debug", "trace"};

const char *log_level_name(int level)
{
	if (level < 0 || level > LOG_TRACE)
		return "?";
	return names[level];
}

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_TRACE; i++)
		if (!strcmp(s, names[i]))
			return i;
	if (!strcmp(s, "error"))
		return LOG_ERR;
	if (!strcmp(s, "warning"))
		return LOG_WARN;
	if (s[0] >= '0' && s[0] <= '4' && !s[1])
		return s[0] - '0';
	return -1;
}

void log_msg(int level, uint64_t id, const char *fmt, ...)
{
	char line[1024], ts[32], tag[32] = "";
	struct timeval tv;
	struct tm tm;
	va_list ap;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (id)
		snprintf(tag, sizeof(tag), "[c%llu] ", (unsigned long long)id);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03dZ %-5s %s%s\n", ts, (int)(tv.tv_usec / 1000), log_level_name(level),
	        tag, line);
}
