/* log: see log.h.  Whole lines per write (a file opened O_APPEND, a
 * datagram socket), so concurrent writers do not mix and a rename never
 * splits a line.  A mutex keeps the sink, the rate table and the batches
 * whole should a thread other than the loop's ever log.
 *
 * Batches (log_batch): a loop thread's info, debug and trace lines for
 * stderr or a file gather in its batch, in order, and go out in one
 * write(2) when the loop is about to wait (log_flush from its prepare
 * phase), when the batch is full, before any err or warn line (which is
 * written at once: an abort may follow), before the sink changes, and at
 * exit.  A busy loop then pays one write per turn, not one per line.  The
 * datagram sinks are never batched: a datagram is a line. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/ratelimit.h"

int log_level = LOG_INFO;
log_stats_t log_stats;

static const char *const names[] = {"err", "warn", "info", "debug", "trace"};
/* syslog severities: err 3, warning 4, info 6, debug 7 */
static const int severity[] = {3, 4, 6, 7, 7};

typedef enum sink_kind { SINK_STDERR, SINK_FILE, SINK_SYSLOG, SINK_JOURNAL } sink_kind_t;

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define LOG_LINE_MAX 1024
#define RATE_SLOTS 256
#define RATE_WAYS 4
#define BATCH_CAP (16 * 1024)

typedef struct sink {
	sink_kind_t kind;
	int fd;
	char path[4096];
	char name[4112];
} sink_t;

/* one source's bucket (log.h: Rate) */
typedef struct rslot {
	uint64_t key;
	const char *fmt;
	tbucket_t b;
	uint64_t suppressed, last_ms;
} rslot_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sink_t sink = {SINK_STDERR, 2, "", "stderr"};
static int format = LOG_TEXT;
static uint64_t rate = LOG_RATE_DEFAULT;
static rslot_t slots[RATE_SLOTS];
static int (*fields_fn)(uint64_t id, log_fields_t *f);

/* A loop thread's lines not yet written; every one is on the list, so
 * that the exit's flush reaches the batches of all threads. */
typedef struct batch {
	struct batch *next;
	size_t len;
	char buf[BATCH_CAP];
} batch_t;
static __thread batch_t *tbatch;
static batch_t *batches;
static void flush_all(void);

const char *log_level_name(int level)
{
	if (level < 0 || level > LOG_TRACE)
		return "?";
	return names[level];
}

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_TRACE; i++)
		if (!strcasecmp(s, names[i]))
			return i;
	if (!strcasecmp(s, "error"))
		return LOG_ERR;
	if (!strcasecmp(s, "warning"))
		return LOG_WARN;
	if (s[0] >= '0' && s[0] <= '4' && !s[1])
		return s[0] - '0';
	return -1;
}

int log_format_parse(const char *s)
{
	if (!strcasecmp(s, "text"))
		return LOG_TEXT;
	if (!strcasecmp(s, "json"))
		return LOG_JSON;
	return -1;
}

void log_set_fields(int (*fn)(uint64_t id, log_fields_t *f))
{
	fields_fn = fn;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- sinks ---- */

static int dgram_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, e;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int file_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	return fd < 0 ? -errno : fd;
}

/* stderr is the journal's stream when $JOURNAL_STREAM names its device and
 * inode (systemd.exec(5)). */
static int stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return v && sscanf(v, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void sink_close(sink_t *s)
{
	if (s->kind != SINK_STDERR && s->fd >= 0)
		close(s->fd);
}

int log_configure(const log_cfg_t *cfg, char *err, size_t errlen)
{
	sink_t n = {SINK_STDERR, 2, "", "stderr"};
	int fd = -1;

	if (cfg->file) {
		n.kind = SINK_FILE;
		if ((fd = file_open(cfg->file)) < 0) {
			snprintf(err, errlen, "--log-file %s: %s", cfg->file, strerror(-fd));
			return fd;
		}
		snprintf(n.name, sizeof(n.name), "file %s", cfg->file);
	} else if (cfg->syslog) {
		n.kind = SINK_SYSLOG;
		if ((fd = dgram_connect(cfg->syslog)) < 0) {
			snprintf(err, errlen, "--log-syslog %s: %s", cfg->syslog, strerror(-fd));
			return fd;
		}
		snprintf(n.name, sizeof(n.name), "syslog %s", cfg->syslog);
	} else if (stderr_is_journal() && (fd = dgram_connect(JOURNAL_SOCKET)) >= 0) {
		n.kind = SINK_JOURNAL;
		snprintf(n.name, sizeof(n.name), "the journal");
	}
	if (fd >= 0)
		n.fd = fd;
	snprintf(n.path, sizeof(n.path), "%s",
	         n.kind == SINK_FILE     ? cfg->file
	         : n.kind == SINK_SYSLOG ? cfg->syslog
	                                 : "");
	pthread_mutex_lock(&mu);
	flush_all(); /* what was logged before goes where it was headed */
	sink_close(&sink);
	sink = n;
	format = cfg->format;
	rate = cfg->rate;
	pthread_mutex_unlock(&mu);
	return 0;
}

int log_reopen(char *err, size_t errlen)
{
	int fd, old;

	if (sink.kind != SINK_FILE)
		return 0;
	if ((fd = file_open(sink.path)) < 0) {
		snprintf(err, errlen, "reopening %s: %s (still writing the old file)", sink.path,
		         strerror(-fd));
		return fd;
	}
	pthread_mutex_lock(&mu);
	flush_all();
	old = sink.fd;
	sink.fd = fd;
	pthread_mutex_unlock(&mu);
	close(old);
	return 0;
}

const char *log_sink_name(void)
{
	return sink.name;
}

void log_chown(unsigned uid, unsigned gid)
{
	if (sink.kind == SINK_FILE && fchown(sink.fd, uid, gid) < 0)
		log_warn(0, "cannot give the log file %s to uid %u: %s", sink.path, uid,
		         strerror(errno));
}

/* A datagram sink: never blocks; a datagram it will not take is dropped.
 * A syslog daemon that restarted is connected to again, once. */
static void sink_send(const char *buf, size_t n)
{
	if (send(sink.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return;
	if ((errno == ECONNREFUSED || errno == ENOTCONN) && sink.kind == SINK_SYSLOG) {
		int fd = dgram_connect(sink.path);
		if (fd >= 0) {
			close(sink.fd);
			sink.fd = fd;
			if (send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
				return;
		}
	}
	log_stats.dropped++;
}

static void sink_put(const char *buf, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(sink.fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

/* The batch's lines to the sink (mu held). */
static void batch_out(batch_t *b)
{
	if (b && b->len) {
		sink_put(b->buf, b->len);
		b->len = 0;
	}
}

/* One line: into this thread's batch when it has one and the line may
 * wait (hold), else out now, after what the batch holds (mu held). */
static void sink_write(const char *buf, size_t n, int hold)
{
	batch_t *b = tbatch;

	if (sink.kind == SINK_SYSLOG || sink.kind == SINK_JOURNAL) {
		sink_send(buf, n);
		return;
	}
	if (b && hold && n <= BATCH_CAP) {
		if (b->len + n > BATCH_CAP)
			batch_out(b);
		memcpy(b->buf + b->len, buf, n);
		b->len += n;
		return;
	}
	batch_out(b);
	sink_put(buf, n);
}

static void flush_all(void)
{
	for (batch_t *b = batches; b; b = b->next)
		batch_out(b);
}

void log_flush(void)
{
	if (!tbatch || !tbatch->len)
		return;
	pthread_mutex_lock(&mu);
	batch_out(tbatch);
	pthread_mutex_unlock(&mu);
}

static void flush_at_exit(void)
{
	pthread_mutex_lock(&mu);
	flush_all();
	pthread_mutex_unlock(&mu);
}

void log_batch(int on)
{
	static int registered;
	batch_t **pp;

	pthread_mutex_lock(&mu);
	if (on && !tbatch) {
		if (!(tbatch = malloc(sizeof(*tbatch))))
			abort();
		tbatch->len = 0;
		tbatch->next = batches;
		batches = tbatch;
		if (!registered++)
			atexit(flush_at_exit);
	} else if (!on && tbatch) {
		batch_out(tbatch);
		for (pp = &batches; *pp != tbatch; pp = &(*pp)->next)
			;
		*pp = tbatch->next;
		free(tbatch);
		tbatch = NULL;
	}
	pthread_mutex_unlock(&mu);
}

/* ---- one line ---- */

typedef struct line {
	int level;
	uint64_t id;
	const char *msg;
	log_fields_t f;
	int have_fields;
} line_t;

static size_t put(char *out, size_t cap, size_t o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t put(char *out, size_t cap, size_t o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o >= cap)
		return o;
	va_start(ap, fmt);
	n = vsnprintf(out + o, cap - o, fmt, ap);
	va_end(ap);
	return n < 0 ? o : o + (size_t)n < cap ? o + (size_t)n : cap - 1;
}

static size_t put_json(char *out, size_t cap, size_t o, const char *key, const char *v)
{
	char esc[LOG_LINE_MAX];

	if (!v)
		return o;
	json_escape(esc, sizeof(esc), v);
	return put(out, cap, o, ",\"%s\":\"%s\"", key, esc);
}

int log_worker = -1;

static size_t format_text(char *out, size_t cap, const line_t *l, const char *ts)
{
	char tag[48] = "";
	int n = log_worker >= 0 ? snprintf(tag, sizeof(tag), "[w%d] ", log_worker) : 0;

	if (l->id)
		snprintf(tag + n, sizeof(tag) - (size_t)n, "[c%llu] ", (unsigned long long)l->id);
	return put(out, cap, 0, "%s %-5s %s%s\n", ts, log_level_name(l->level), tag, l->msg);
}

static size_t format_json(char *out, size_t cap, const line_t *l, const char *ts)
{
	size_t o =
	    put(out, cap, 0, "{\"time\":\"%s\",\"level\":\"%s\"", ts, log_level_name(l->level));

	if (log_worker >= 0)
		o = put(out, cap, o, ",\"worker\":%d", log_worker);
	if (l->id)
		o = put(out, cap, o, ",\"conn\":%llu", (unsigned long long)l->id);
	if (l->have_fields) {
		o = put_json(out, cap, o, "listener", l->f.listener);
		o = put_json(out, cap, o, "peer", l->f.peer);
		o = put_json(out, cap, o, "target", l->f.target);
	}
	o = put_json(out, cap, o, "msg", l->msg);
	return put(out, cap, o, "}\n");
}

static size_t format_journal(char *out, size_t cap, const line_t *l)
{
	size_t o = put(out, cap, 0, "PRIORITY=%d\nSYSLOG_IDENTIFIER=sluice\nSLUICE_LEVEL=%s\n",
	               severity[l->level], log_level_name(l->level));

	if (log_worker >= 0)
		o = put(out, cap, o, "SLUICE_WORKER=%d\n", log_worker);
	if (l->id)
		o = put(out, cap, o, "CONN_ID=%llu\n", (unsigned long long)l->id);
	if (l->have_fields) {
		if (l->f.listener)
			o = put(out, cap, o, "LISTENER=%s\n", l->f.listener);
		if (l->f.peer)
			o = put(out, cap, o, "PEER=%s\n", l->f.peer);
		if (l->f.target)
			o = put(out, cap, o, "TARGET=%s\n", l->f.target);
	}
	return put(out, cap, o, "MESSAGE=%s\n", l->msg);
}

static void emit(const line_t *l)
{
	char out[LOG_LINE_MAX * 4], ts[40], date[32];
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	if (sink.kind == SINK_SYSLOG && format == LOG_TEXT) {
		/* RFC 3164: <PRI>Mmm dd hh:mm:ss TAG[PID]: MSG, local time */
		localtime_r(&tv.tv_sec, &tm);
		strftime(date, sizeof(date), "%b %e %H:%M:%S", &tm);
		n = put(out, sizeof(out), 0, "<%d>%s sluice[%d]: ", 3 * 8 + severity[l->level],
		        date, (int)getpid());
		if (l->id)
			n = put(out, sizeof(out), n, "[c%llu] ", (unsigned long long)l->id);
		n = put(out, sizeof(out), n, "%s", l->msg);
		sink_write(out, n, 0);
		return;
	}
	if (sink.kind == SINK_JOURNAL) {
		n = format_journal(out, sizeof(out), l);
		sink_write(out, n, 0);
		return;
	}
	gmtime_r(&tv.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof(ts), "%s.%03dZ", date, (int)(tv.tv_usec / 1000));
	if (format == LOG_JSON)
		n = format_json(out, sizeof(out), l, ts);
	else
		n = format_text(out, sizeof(out), l, ts);
	if (sink.kind == SINK_SYSLOG) { /* json to syslog: the object is the message */
		char hdr[64];
		int h = snprintf(hdr, sizeof(hdr), "<%d>sluice[%d]: ", 3 * 8 + severity[l->level],
		                 (int)getpid());
		memmove(out + h, out, n < sizeof(out) - (size_t)h ? n : sizeof(out) - (size_t)h);
		memcpy(out + h, hdr, (size_t)h);
		n = n + (size_t)h < sizeof(out) ? n + (size_t)h : sizeof(out);
		if (out[n - 1] == '\n')
			n--;
	}
	sink_write(out, n, l->level >= LOG_INFO);
}

/* ---- rate ---- */

static uint64_t source_key(const char *fmt, const struct sockaddr *peer)
{
	uint64_t h = (uint64_t)(uintptr_t)fmt * 0x9e3779b97f4a7c15ULL;
	const uint8_t *p = NULL;
	size_t n = 0;

	if (peer && peer->sa_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
		n = 4;
	} else if (peer && peer->sa_family == AF_INET6) {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)peer)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h | 1; /* 0: a free slot */
}

static void say_suppressed(rslot_t *s)
{
	char msg[LOG_LINE_MAX];
	line_t l = {.level = LOG_WARN, .msg = msg};

	snprintf(msg, sizeof(msg), "log: %llu line%s like \"%.200s\" suppressed (log-rate %llu/s)",
	         (unsigned long long)s->suppressed, s->suppressed == 1 ? "" : "s", s->fmt,
	         (unsigned long long)rate);
	s->suppressed = 0;
	emit(&l);
}

/* The source's slot: one of RATE_WAYS places its key hashes to, or the one
 * of them used least recently (what it had suppressed is said first). */
static rslot_t *rate_slot(uint64_t key, uint64_t now)
{
	uint64_t h = key ^ (key >> 31);
	size_t base = (size_t)((h * 0xbf58476d1ce4e5b9ULL) >> 40) % RATE_SLOTS, pick = base;
	rslot_t *s;

	for (size_t i = 0; i < RATE_WAYS; i++) {
		size_t j = (base + i) % RATE_SLOTS;
		if (slots[j].key == key)
			return &slots[j];
		if (slots[j].last_ms < slots[pick].last_ms)
			pick = j;
	}
	s = &slots[pick];
	if (s->key && s->suppressed)
		say_suppressed(s);
	*s = (rslot_t){.key = key};
	tbucket_init(&s->b, (double)rate * 5, now);
	return s;
}

/* 1: the line may go out */
static int rate_allow(const char *fmt, const struct sockaddr *peer)
{
	uint64_t key = source_key(fmt, peer), now = now_ms();
	rslot_t *s;

	if (!rate)
		return 1;
	s = rate_slot(key, now);
	s->fmt = fmt;
	s->last_ms = now;
	if (!tbucket_take(&s->b, (double)rate, (double)rate * 5, now)) {
		s->suppressed++;
		log_stats.suppressed++;
		return 0;
	}
	if (s->suppressed)
		say_suppressed(s);
	return 1;
}

void log_tick(void)
{
	uint64_t now = now_ms();

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < RATE_SLOTS; i++)
		if (slots[i].suppressed && now - slots[i].last_ms >= 1000)
			say_suppressed(&slots[i]);
	pthread_mutex_unlock(&mu);
}

void log_msg(int level, uint64_t id, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	line_t l = {.level = level, .id = id, .msg = msg};
	va_list ap;

	if (id && fields_fn)
		l.have_fields = fields_fn(id, &l.f);
	pthread_mutex_lock(&mu);
	/* the rate first: a line over it costs no formatting */
	if (rate_allow(fmt, l.have_fields ? l.f.peer_addr : NULL)) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		/* one line each: a peer's bytes in a message cannot forge another */
		for (char *p = msg; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		emit(&l);
	}
	pthread_mutex_unlock(&mu);
}
