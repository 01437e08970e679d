/* url: the -L / -F syntax.
 *
 *   scheme://[user[:pass]@]host[:port][/path][?key=val&key=val]
 *
 * host may be a name, an IPv4 literal or a bracketed IPv6 literal; user,
 * pass, path and values are percent-decoded.  `ppp:///dev/ttyUSB0` has an
 * empty host.  Options are looked up by the module that owns the scheme
 * through url_opt_*; url_check_opts() then rejects any option nobody asked
 * for, so a typo is an error that names the option.  A list option may be
 * written comma-separated or repeated (allow=a,b or allow=a&allow=b); the
 * YAML config writes lists as repeats.
 *
 * Errors are written to `err` as one line for the user and returned as
 * -EINVAL.
 */
#ifndef SLUICE_URL_H
#define SLUICE_URL_H

#include <stddef.h>
#include <stdint.h>

#define URL_ERRLEN 256

typedef struct url_opt {
	char *key, *val;
	int used, multi;
} url_opt_t;

typedef struct url {
	char *raw;         /* as given, for messages (never logged: may hold secrets) */
	char *scheme;      /* lower case */
	char *user, *pass; /* NULL when absent */
	char *host;        /* "" when absent; IPv6 without brackets */
	int port;          /* -1 when absent */
	char *path;        /* "" or starts with '/' */
	url_opt_t *opts;
	size_t nopts;
} url_t;

int url_parse(const char *s, url_t **out, char *err, size_t errlen);
void url_free(url_t *u);

/* Option getters: return 0 (absent: *out untouched), 1 (found) or -EINVAL
 * with a message naming the option (bad value). */
int url_opt_str(url_t *u, const char *key, const char **out);
int url_opt_uint(url_t *u, const char *key, uint64_t max, uint64_t *out, char *err, size_t errlen);
int url_opt_bool(url_t *u, const char *key, int *out, char *err, size_t errlen);
/* Durations: "30" (seconds), "500ms", "10s", "2m", "1h" -> milliseconds. */
int url_opt_duration(url_t *u, const char *key, uint64_t *ms, char *err, size_t errlen);
/* Every value of a key that may repeat (key=a&key=b), in order: calls
 * fn(ud, value) for each; returns how many, or fn's first negative result. */
int url_opt_each(url_t *u, const char *key, int (*fn)(void *ud, const char *val), void *ud);
/* 1 if the URL carries the option (whatever its value), else 0; does not
 * count as reading it. */
int url_opt_given(const url_t *u, const char *key);
/* Rejects unknown options, and repeats of options that take one value. */
int url_check_opts(const url_t *u, char *err, size_t errlen);

/* Split "host:port" (host may be [v6]) into parts; port required, 1..65535
 * (hostport_parse_any: 0 too, "any port", as Tor's bind addresses say). */
int hostport_parse(const char *s, char *host, size_t hostlen, uint16_t *port);
int hostport_parse_any(const char *s, char *host, size_t hostlen, uint16_t *port);
int parse_duration_ms(const char *s, uint64_t *ms);
/* Percent-decode in place; -1 on a bad escape. */
int pct_decode(char *s);
/* A name made from a URL (a listener's, a hop's), made safe to print
 * inside quotes (a Prometheus label, JSON, a log line): '"', '\\' and
 * control bytes become %XX again, in place, cut to cap (never mid-escape). */
void url_name_escape(char *s, size_t cap);

#endif
