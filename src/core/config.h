/* config: what to run, from a YAML file, SLUICE_* environment variables and
 * the command line, in that order of increasing precedence.  A layer that
 * names a list (listen, forward) replaces the whole list of the layers below.
 *
 *   log: info                     # SLUICE_LOG      -v/-q/--log-level
 *   log-file: /var/log/sluice.log # SLUICE_LOG_FILE --log-file (and the
 *                                 # other settings of config_settings[]:
 *                                 # log-syslog, log-format, log-rate, user,
 *                                 # group, each SLUICE_KEY and --key)
 *   metrics: 127.0.0.1:9090       # SLUICE_METRICS  --metrics
 *   drain: 5s                     # SLUICE_DRAIN    --drain
 *   control: /run/sluice/control  # SLUICE_CONTROL  --control
 *   auth-guard: ban=10m           # SLUICE_AUTH_GUARD --auth-guard (see authguard.h)
 *   listen:                       # SLUICE_LISTEN   -L (space-separated in env)
 *     - proxy://127.0.0.1:1080
 *     - url: socks5://127.0.0.1:1081
 *       allow: [127.0.0.0/8]      # any other key becomes a URL option
 *       max-conns: 100
 *   forward:                      # SLUICE_FORWARD  -F
 *     - socks5://127.0.0.1:1082
 *   reverse:                      # SLUICE_REVERSE  -R (core/reverse.h)
 *     - tcp://0.0.0.0:8080/127.0.0.1:3000
 *   chains:                       # --chain NAME=URL[,URL...]
 *     corp: sstp://u:p@vpn.example.org          (one hop, or a list)
 *     out: [socks5://127.0.0.1:1082, group://tunnels]
 *   groups:                       # --group NAME[?OPTIONS]=URL[,URL...]
 *     tunnels:
 *       strategy: round-robin     # any other key is a group option
 *       members: [ws://a:8000?key=K, ws://b:8000?key=K]
 *   rules:                        # --rule RULE, --rules FILE
 *     - DOMAIN-SUFFIX,corp.example.org,corp
 *     - file: ads.txt             # a list, relative to this file's folder
 *       action: block             # for its lines that name none
 *     - MATCH,direct
 *
 * Chains and groups merge by name (a layer's chain replaces the one of
 * the same name below); rules are a list like listen.  What they mean is
 * core/route/routing.h's.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct strlist {
	char **v;
	size_t n;
	int set; /* this layer named the list */
} strlist_t;

/* A named chain: its hops in order. */
typedef struct chain_def {
	char *name;
	strlist_t hops;
	char *where; /* "FILE:LINE" or "--chain", for messages */
} chain_def_t;

/* A group: its options as a query ("strategy=round-robin&fails=2", or
 * NULL) and its members, one hop URL each. */
typedef struct group_def {
	char *name, *opts;
	strlist_t members;
	char *where;
} group_def_t;

/* One item of rules: a rule (text, and where it was written: src, line),
 * or a file of rules whose lines that name no action take action. */
typedef struct rule_def {
	char *text, *file, *action;
	char *src;
	unsigned line;
} rule_def_t;

typedef struct config {
	strlist_t listen, forward, reverse;
	chain_def_t *chains;
	size_t nchains;
	group_def_t *groups;
	size_t ngroups;
	rule_def_t *rules;
	size_t nrules;
	int rules_set;
	char *metrics;
	char *auth_guard; /* the authguard setting as written, NULL: defaults */
	int log_level;    /* -1: not set */
	uint64_t drain_ms;
	int drain_set;
	char *log_file;
	char *log_syslog; /* the socket; "" when turned off */
	int log_format;   /* -1: not set */
	uint64_t log_rate;
	int log_rate_set;
	char *user, *group; /* user: drop to it once listening ("root": stay) */
	char *control;      /* the control socket's path; "": none (app/control.h) */
} config_t;

/* One setting other than the lists: YAML key KEY, variable SLUICE_KEY
 * (upper case, '-' as '_'), command-line option --flag.  arg is the
 * option's value in help; optional: the option may be given bare
 * (--log-syslog), its value then NULL. */
typedef struct config_setting {
	const char *key, *flag, *arg;
	int optional;
	const char *help;
	int (*set)(config_t *c, const char *v, char *err, size_t errlen);
} config_setting_t;
extern const config_setting_t config_settings[];
extern const size_t config_nsettings;
/* The setting of a YAML key, or NULL. */
const config_setting_t *config_setting(const char *key);
/* Set it from v; an error is "WHERE: reason". */
int config_set(config_t *c, const config_setting_t *s, const char *v, const char *where, char *err,
               size_t errlen);

void config_init(config_t *c);
void config_free(config_t *c);
void strlist_push(strlist_t *l, const char *s);
void strlist_clear(strlist_t *l);

int config_load_file(config_t *c, const char *path, char *err, size_t errlen);
/* A whole file into *out (NUL-terminated, len bytes; the caller frees),
 * a regular file or one that is read to its end (a pipe, /dev/stdin):
 * 0, -EFBIG when over max bytes, -EISDIR for a directory, or -errno. */
int config_read_file(const char *path, size_t max, char **out, size_t *len);
int config_load_string(config_t *c, const char *yaml, size_t len, const char *name, char *err,
                       size_t errlen);
/* Apply SLUICE_* variables from envp (NULL-terminated "K=V" strings). */
int config_load_env(config_t *c, char **envp, char *err, size_t errlen);
/* Overlay `top` onto `base` (values and lists that top set win). */
void config_merge(config_t *base, config_t *top);

/* The command line's routing options:
 *   --chain NAME=URL[,URL...]            config_chain_arg
 *   --group NAME[?OPTIONS]=URL[,URL...]  config_group_arg
 *   --rule RULE, --rules FILE            config_rule_add
 * A list of URLs is split at each comma that a scheme follows
 * ("ws://a?allow=1.2.3.4,5.6.7.8,ws://b" is two URLs). */
int config_chain_arg(config_t *c, const char *arg, char *err, size_t errlen);
int config_group_arg(config_t *c, const char *arg, char *err, size_t errlen);
void config_rule_add(config_t *c, const char *text, const char *file, const char *action,
                     const char *src, unsigned line);
/* The chain or group of that name in c, or NULL. */
chain_def_t *config_chain(const config_t *c, const char *name);
group_def_t *config_group(const config_t *c, const char *name);
/* A chain or group name: letters, digits, '-', '_', '.', at most 63,
 * not one of the words rules reserve (direct, block, reject).  0 or
 * -EINVAL with the reason. */
int config_name_check(const char *what, const char *name, char *err, size_t errlen);

#endif
