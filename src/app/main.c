/* sluice: the command line.
 *
 *   sluice [run] [options] -L URL [-L URL...] [-F URL...]
 *   sluice check [-c FILE] [options]     validate, print a summary, exit
 *   sluice keygen | pt | vpn-user | help
 *
 * The subcommands are the table app_cmds; each is a function taking argv
 * from its own name on.  `run` and `check` share one start-up in two
 * phases: everything is parsed and built first (URLs, options, the chain,
 * every listener), so a mistake exits with status 2 before anything
 * listens; then the listeners bind and core/runtime.c runs the loop
 * (SIGINT/SIGTERM stop accepting, let live connections drain for `drain`,
 * default 5 s, and exit 0; a second signal exits at once).
 */
#include <getopt.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app/app.h"
#include "app/transports.h"
#include "core/authguard.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/health.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/memtrim.h"
#include "core/metrics.h"
#include "core/route/pac.h"
#include "core/route/routing.h"
#include "core/priv.h"
#include "core/runtime.h"
#include "core/transport.h"
#include "front/pt.h"
#include "tunnel/vpn/vpn_users.h"

extern char **environ;

static listener_t **listeners;
static size_t nlisteners;
/* static, not on a stack: an early exit(2) leaves them reachable */
static config_t file, env, cli;
static url_t *u;

static void die_usage(const char *msg)
{
	fprintf(stderr, "sluice: %s\n", msg);
	exit(2);
}

static void stop_listeners(void *ud)
{
	for (size_t i = 0; i < nlisteners; i++)
		listener_stop(listeners[i]);
}

static void teardown(void *ud)
{
	for (size_t i = 0; i < nlisteners; i++) {
		url_t *lu = listeners[i]->url;
		listener_free(listeners[i]);
		url_free(lu);
	}
	nlisteners = 0;
	pac_serve(NULL, 0);
	health_listeners(NULL, 0);
	routing_install(NULL);
}

/* Ready for the service manager: healthy (core/health.h). */
static int ready(void *ud, char *why, size_t len)
{
	return health_check(why, len);
}

static const runtime_hooks_t hooks = {
    .stop = stop_listeners, .teardown = teardown, .tag = "", .ready = ready};

enum { OPT_CHAIN = 256, OPT_GROUP, OPT_RULE, OPT_RULES };

static void check_line(void *ud, const char *s)
{
	printf("  %s\n", s);
}

/* The log's sink, format and rate from the configuration. */
static int log_setup(const config_t *c, char *err, size_t errlen)
{
	log_cfg_t lc = {.file = c->log_file,
	                .syslog = c->log_syslog && *c->log_syslog ? c->log_syslog : NULL,
	                .format = c->log_format < 0 ? LOG_TEXT : c->log_format,
	                .rate = c->log_rate};

	return log_configure(&lc, err, errlen);
}

/* As root without user:, nothing the network reaches (priv.h).  A port
 * under 1024 stays bindable after the drop, for a reload that moves it. */
static int refuse_root(const priv_t *p, char *err, size_t errlen)
{
	char host[256];
	uint16_t port = 0;
	int r;

	for (size_t i = 0; i < nlisteners; i++) {
		const struct sockaddr_storage *b = &listeners[i]->bind;
		if (b->ss_family && listeners[i]->url->port > 0 && listeners[i]->url->port < 1024)
			priv_need(CAP_NET_BIND_SERVICE);
		if (listener_reachable(listeners[i]) &&
		    (r = priv_refuse_root(p, listeners[i]->name, err, errlen)) < 0)
			return r;
	}
	if (file.metrics && hostport_parse(file.metrics, host, sizeof(host), &port) == 0) {
		struct sockaddr_storage ss;
		target_t t;
		char what[300];
		if (port < 1024)
			priv_need(CAP_NET_BIND_SERVICE);
		snprintf(what, sizeof(what), "--metrics %s", file.metrics);
		if (target_set(&t, host, port) == 0 && target_is_ip(&t, &ss) &&
		    !sockaddr_is_loopback((struct sockaddr *)&ss) &&
		    (r = priv_refuse_root(p, what, err, errlen)) < 0)
			return r;
	}
	return 0;
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

/* `sluice [run]` and `sluice check`: argv[0] is the subcommand's name. */
static int run_or_check(int argc, char **argv, int check)
{
	const char *cfgpath = NULL;
	authguard_cfg_t guard;
	routing_t *rt;
	priv_t priv;
	char err[URL_ERRLEN * 4];
	int verbosity = 0, c, r;
	unsigned nrule = 0;
	uv_loop_t *loop;

	config_init(&file);
	config_init(&env);
	config_init(&cli);
	while ((c = getopt_long(argc, argv, "L:F:c:vqhV", longopts(), NULL)) != -1) {
		if ((r = runtime_log_opt(c, optarg, &cli.log_level, &verbosity)) < 0)
			die_usage(RUNTIME_LOG_LEVEL_HELP);
		if (r)
			continue;
		if (c >= OPT_SETTING && c < OPT_SETTING + (int)config_nsettings) {
			const config_setting_t *st = &config_settings[c - OPT_SETTING];
			char where[64];
			snprintf(where, sizeof(where), "--%s", st->flag);
			if (config_set(&cli, st, optarg, where, err, sizeof(err)) < 0)
				die_usage(err);
			continue;
		}
		switch (c) {
		case 'L':
			strlist_push(&cli.listen, optarg);
			break;
		case 'F':
			strlist_push(&cli.forward, optarg);
			break;
		case 'c':
			cfgpath = optarg;
			break;
		case OPT_CHAIN:
			if (config_chain_arg(&cli, optarg, err, sizeof(err)) < 0)
				die_usage(err);
			break;
		case OPT_GROUP: /* NAME=URL,... a routing group; a bare NAME, --user's group */
			if (!strchr(optarg, '=')
			        ? config_set(&cli, config_setting("group"), optarg, "--group", err,
			                     sizeof(err)) < 0
			        : config_group_arg(&cli, optarg, err, sizeof(err)) < 0)
				die_usage(err);
			break;
		case OPT_RULE: /* "--rule:N" in messages: the Nth --rule */
			config_rule_add(&cli, optarg, NULL, NULL, "--rule", ++nrule);
			break;
		case OPT_RULES:
			config_rule_add(&cli, NULL, optarg, NULL, "--rules", 0);
			break;
		case 'h':
			help_usage(stdout);
			return 0;
		case 'V':
			printf("sluice %s\n", SLUICE_VERSION);
			return 0;
		default:
			help_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		snprintf(err, sizeof(err), "unexpected argument '%s' (see sluice --help)",
		         argv[optind]);
		die_usage(err);
	}
	if (cfgpath && config_load_file(&file, cfgpath, err, sizeof(err)) < 0)
		die_usage(err);
	if (config_load_env(&env, environ, err, sizeof(err)) < 0)
		die_usage(err);
	config_merge(&file, &env);
	config_merge(&file, &cli);
	runtime_log_level(file.log_level, verbosity);
	authguard_cfg_default(&guard);
	if (file.auth_guard && authguard_cfg_parse(&guard, file.auth_guard, err, sizeof(err)) < 0)
		die_usage(err);
	authguard_configure(&guard);
	if (!file.listen.n)
		die_usage("nothing to do: give at least one -L URL (see sluice --help)");
	if (priv_lookup(file.user, file.group, &priv, err, sizeof(err)) < 0)
		die_usage(err);
	if (!check && (r = log_setup(&file, err, sizeof(err))) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}

	loop = runtime_init();

	/* phase 1: parse and build everything */
	if (routing_build(loop, &file, &rt, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 2;
	}
	routing_install(rt);
	listeners = calloc(file.listen.n, sizeof(*listeners));
	for (size_t i = 0; i < file.listen.n; i++) {
		if (url_parse(file.listen.v[i], &u, err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice: -L: %s\n", err);
			return 2;
		}
		if (listener_new(loop, u, NULL, &listeners[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice: -L %s://: %s\n", u->scheme, err);
			return 2;
		}
		nlisteners++;
	}
	if (check) {
		dialer_t *chain = routing_dialer(rt, "default");
		printf("configuration ok: %zu listener%s, %zu hop%s\n", nlisteners,
		       nlisteners == 1 ? "" : "s", file.forward.n, file.forward.n == 1 ? "" : "s");
		for (size_t i = 0; i < nlisteners; i++)
			printf("  listen  %s%s%s\n", listeners[i]->name,
			       listeners[i]->via ? " via " : "",
			       listeners[i]->via ? listeners[i]->via : "");
		for (dialer_t *d = chain; d && d->next; d = d->next)
			printf("  hop     %s %s:%u\n", d->ops->scheme, d->server.host,
			       d->server.port);
		if (routing_nchains(rt) > 2 || routing_rules(rt))
			routing_describe(rt, check_line, NULL);
		return 0;
	}

	/* phase 2: bind and run */
	if ((r = refuse_root(&priv, err, sizeof(err))) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 2;
	}
	if ((r = transports_start(loop, err, sizeof(err))) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	if (file.metrics && metrics_serve(loop, file.metrics, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	health_listeners(listeners, nlisteners);
	if (file.metrics) {
		pac_serve(listeners, nlisteners);
		health_serve();
	}
	routing_start(rt);
	for (size_t i = 0; i < nlisteners; i++) {
		if ((r = listener_start(listeners[i], err, sizeof(err))) < 0) {
			fprintf(stderr, "sluice: %s\n", err);
			return 1;
		}
	}
	if (priv.set && !priv.keep)
		log_chown(priv.uid, priv.gid);
	if (priv_drop(&priv, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	health_started(1);
	memtrim_start(loop);
	runtime_run(&hooks, file.drain_ms);
	free(listeners);
	config_free(&file);
	config_free(&env);
	config_free(&cli);
	return 0;
}

static int run_main(int argc, char **argv)
{
	return run_or_check(argc, argv, 0);
}

static int check_main(int argc, char **argv)
{
	return run_or_check(argc, argv, 1);
}

static int keygen_main(int argc, char **argv)
{
	char key[64];

	key_generate(key, sizeof(key));
	printf("%s\n", key);
	return 0;
}

const app_cmd_t app_cmds[] = {
    {"run", run_main, "[options] -L URL [-L URL ...] [-F URL ...]",
     "run listeners (`run` may be left out)"},
    {"check", check_main, "[-c FILE] [options]", "validate the configuration, print a summary"},
    {"status", status_main, "[-c FILE] [--metrics IP:PORT] [--json]",
     "what a running sluice says about itself (/status): listeners, chains, sessions"},
    {"keygen", keygen_main, "", "print a random base64 key"},
    {"pt", pt_main, "[-v|-q] [--log-file FILE]", "Tor pluggable transport (reads TOR_PT_*)"},
    {"vpn-user", vpn_user_main, "add FILE NAME [ADDRESS]", "add a VPN user (password on stdin)"},
    {"help", help_main, "[TRANSPORT | listener | --schemas]",
     "a transport's URL forms and options"},
};
const size_t app_ncmds = sizeof(app_cmds) / sizeof(app_cmds[0]);

int main(int argc, char **argv)
{
	app_transports_register();
	if (argc > 1)
		for (size_t i = 0; i < app_ncmds; i++)
			if (!strcmp(argv[1], app_cmds[i].name))
				return app_cmds[i].fn(argc - 1, argv + 1);
	return run_main(argc, argv);
}
