/* config: what to run, from a YAML file, SLUICE_* environment variables and
 * the command line, in that order of increasing precedence.  A layer that
 * names a list (listen, forward) replaces the whole list of the layers below.
 *
 *   log: info                     # SLUICE_LOG      -v/-q/--log-level
 *   metrics: 127.0.0.1:9090       # SLUICE_METRICS  --metrics
 *   drain: 5s                     # SLUICE_DRAIN    --drain
 *   auth-guard: ban=10m           # SLUICE_AUTH_GUARD --auth-guard (see authguard.h)
 *   listen:                       # SLUICE_LISTEN   -L (space-separated in env)
 *     - proxy://127.0.0.1:1080
 *     - url: socks5://127.0.0.1:1081
 *       allow: [127.0.0.0/8]      # any other key becomes a URL option
 *       max-conns: 100
 *   forward:                      # SLUICE_FORWARD  -F
 *     - socks5://127.0.0.1:1082
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

typedef struct config {
	strlist_t listen, forward;
	char *metrics;
	char *auth_guard; /* the authguard setting as written, NULL: defaults */
	int log_level;    /* -1: not set */
	uint64_t drain_ms;
	int drain_set;
} config_t;

void config_init(config_t *c);
void config_free(config_t *c);
void strlist_push(strlist_t *l, const char *s);
void strlist_clear(strlist_t *l);

int config_load_file(config_t *c, const char *path, char *err, size_t errlen);
int config_load_string(config_t *c, const char *yaml, size_t len, const char *name, char *err,
                       size_t errlen);
/* Apply SLUICE_* variables from envp (NULL-terminated "K=V" strings). */
int config_load_env(config_t *c, char **envp, char *err, size_t errlen);
/* Overlay `top` onto `base` (values and lists that top set win). */
void config_merge(config_t *base, config_t *top);

#endif
