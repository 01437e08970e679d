/* args: the command line and the configuration's layers for `sluice run`
 * and `sluice check` (main.c), also read again on each reload. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/workers.h"
#include "core/authguard.h"
#include "core/config.h"
#include "core/log.h"
#include "core/runtime.h"
#include "core/transport.h"

extern char **environ;

const char *app_cfgpath; /* -c */

enum { OPT_CHAIN = 256, OPT_GROUP, OPT_RULE, OPT_RULES };

/* The log's sink, format and rate from the configuration. */
int app_log_setup(const config_t *c, char *err, size_t errlen)
{
	log_cfg_t lc = {.file = c->log_file,
	                .syslog = c->log_syslog && *c->log_syslog ? c->log_syslog : NULL,
	                .format = c->log_format < 0 ? LOG_TEXT : c->log_format,
	                .rate = c->log_rate};

	return log_configure(&lc, err, errlen);
}

enum { OPT_SETTING = 1000 }; /* + the index in config_settings[] */

/* -h, -V and every setting's --flag. */
static const struct option *longopts(void)
{
	static struct option o[64];
	size_t n = 0;

	if (o[0].name)
		return o;
	o[n++] = (struct option){"help", no_argument, NULL, 'h'};
	o[n++] = (struct option){"version", no_argument, NULL, 'V'};
	o[n++] = (struct option){"chain", required_argument, NULL, OPT_CHAIN};
	o[n++] = (struct option){"group", required_argument, NULL, OPT_GROUP};
	o[n++] = (struct option){"rule", required_argument, NULL, OPT_RULE};
	o[n++] = (struct option){"rules", required_argument, NULL, OPT_RULES};
	for (size_t i = 0; i < config_nsettings && n + 1 < sizeof(o) / sizeof(o[0]); i++)
		o[n++] = (struct option){config_settings[i].flag,
		                         config_settings[i].optional ? optional_argument
		                                                     : required_argument,
		                         NULL, OPT_SETTING + (int)i};
	return o;
}

/* The command line into cli: 0; 1 after -h or -V (exit 0); -1 and err
 * (a usage error); -2 (help on stderr, exit 2).  Again on each reload
 * (optind = 0), from the same argv. */
int app_parse_args(int argc, char **argv, config_t *cli, int *verbosity, char *err, size_t errlen)
{
	unsigned nrule = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "L:F:R:c:vqhV", longopts(), NULL)) != -1) {
		if ((r = runtime_log_opt(c, optarg, &cli->log_level, verbosity)) < 0) {
			snprintf(err, errlen, "%s", RUNTIME_LOG_LEVEL_HELP);
			return -1;
		}
		if (r)
			continue;
		if (c >= OPT_SETTING && c < OPT_SETTING + (int)config_nsettings) {
			const config_setting_t *st = &config_settings[c - OPT_SETTING];
			char where[64];
			snprintf(where, sizeof(where), "--%s", st->flag);
			if (config_set(cli, st, optarg, where, err, errlen) < 0)
				return -1;
			continue;
		}
		switch (c) {
		case 'L':
			strlist_push(&cli->listen, optarg);
			break;
		case 'F':
			strlist_push(&cli->forward, optarg);
			break;
		case 'R':
			strlist_push(&cli->reverse, optarg);
			break;
		case 'c':
			app_cfgpath = optarg;
			break;
		case OPT_CHAIN:
			if (config_chain_arg(cli, optarg, err, errlen) < 0)
				return -1;
			break;
		case OPT_GROUP: /* NAME=URL,... a routing group; a bare NAME, --user's group */
			if (!strchr(optarg, '=') ? config_set(cli, config_setting("group"), optarg,
			                                      "--group", err, errlen) < 0
			                         : config_group_arg(cli, optarg, err, errlen) < 0)
				return -1;
			break;
		case OPT_RULE: /* "--rule:N" in messages: the Nth --rule */
			config_rule_add(cli, optarg, NULL, NULL, "--rule", ++nrule);
			break;
		case OPT_RULES:
			config_rule_add(cli, NULL, optarg, NULL, "--rules", 0);
			break;
		case 'h':
			help_usage(stdout);
			return 1;
		case 'V':
			printf("sluice %s\n", SLUICE_VERSION);
			return 1;
		default:
			help_usage(stderr);
			return -2;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see sluice --help)", argv[optind]);
		return -1;
	}
	return 0;
}

/* The configuration from its three layers into *f (env and cli are used
 * up); 0, or -1 and err. */
int app_load_layers(config_t *f, config_t *e, config_t *c, char *err, size_t errlen)
{
	authguard_cfg_t guard;

	if (app_cfgpath && config_load_file(f, app_cfgpath, err, errlen) < 0)
		return -1;
	if (config_load_env(e, environ, err, errlen) < 0)
		return -1;
	config_merge(f, e);
	config_merge(f, c);
	authguard_cfg_default(&guard);
	if (f->auth_guard && authguard_cfg_parse(&guard, f->auth_guard, err, errlen) < 0)
		return -1;
	if (!f->listen.n && !f->reverse.n) {
		snprintf(err, errlen,
		         "nothing to do: give at least one -L or -R URL (see sluice --help)");
		return -1;
	}
	return workers_filter(f, err, errlen); /* a worker: its own listeners */
}

/* workers=N > 1: no group may hold a hop whose session must be unique
 * (listener.c checks the chains' own hops; a group's members are hops
 * inside one) */
int app_groups_unique(const config_t *f, char *err, size_t errlen)
{
	for (size_t g = 0; g < f->ngroups; g++)
		for (size_t i = 0; i < f->groups[g].members.n; i++) {
			const char *m = f->groups[g].members.v[i], *sep = strstr(m, "://");
			char scheme[32];
			const transport_scheme_t *ts;

			if (!sep || (size_t)(sep - m) >= sizeof(scheme))
				continue; /* building the group says what is wrong */
			snprintf(scheme, sizeof(scheme), "%.*s", (int)(sep - m), m);
			ts = transport_hop(scheme);
			if (ts && (ts->hop_caps & HOP_SESSION)) {
				snprintf(err, errlen,
				         "option 'workers': group %s holds a %s:// hop, whose "
				         "session must be unique: workers=1 (docs/deploy.md)",
				         f->groups[g].name, ts->scheme);
				return -EINVAL;
			}
		}
	return 0;
}
