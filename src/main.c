/* sluice: the command line.
 *
 *   sluice [options] -L URL [-L URL...] [-F URL...]
 *   sluice check [-c FILE] [options]     validate, print a summary, exit
 *
 * Start-up is two phases: everything is parsed and built first (URLs,
 * options, the chain, every listener), so a mistake exits with status 2
 * before anything listens; then the listeners bind.  SIGINT/SIGTERM stop
 * accepting, let live connections drain for `drain` (default 5 s), and exit
 * 0; a second signal exits at once.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/conn.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/authguard.h"
#include "core/memtrim.h"
#include "core/metrics.h"
#include "front/pt.h"
#include "tunnel/sctp_assoc.h"
#include "tunnel/vpn_users.h"

extern char **environ;

static const char usage[] =
    "usage: sluice [options] -L URL [-L URL ...] [-F URL ...]\n"
    "       sluice check [-c FILE] [options]\n"
    "       sluice keygen\n"
    "       sluice pt [-v|-q] [--log-file FILE]   Tor pluggable transport (reads TOR_PT_*)\n"
    "       sluice vpn-user add FILE NAME [ADDRESS]   add a VPN user (password on stdin)\n"
    "\n"
    "Carries TCP connections through proxies and tunnels, in userspace.\n"
    "\n"
    "  -L URL             listen (repeatable); all listeners share the chain\n"
    "  -F URL             forward through this hop (repeatable, in order)\n"
    "  -c FILE            read the configuration from a YAML file\n"
    "  -v, -q             more / less logging (err warn info debug trace)\n"
    "      --log-level L  set the log level\n"
    "      --metrics ADDR serve /metrics and /health on IP:PORT\n"
    "      --drain D      on SIGINT/SIGTERM, wait up to D for connections (5s)\n"
    "      --auth-guard S slow, then ban, sources that fail to log in: \"off\" or\n"
    "                     free=3,delay=250ms,max-delay=4s,max-failures=10,window=10m,ban=10m\n"
    "  -h, --help         this text\n"
    "  -V, --version      print the version\n"
    "\n"
    "Listeners:\n"
    "  proxy://IP:PORT              SOCKS4/4a/5 and HTTP proxy on one port\n"
    "  socks5://[user:pass@]IP:PORT SOCKS5 (socks4://, socks:// for 4/4a/5)\n"
    "  http://[user:pass@]IP:PORT   HTTP proxy (CONNECT and absolute-form)\n"
    "  tcp://IP:PORT/HOST:PORT      port forward\n"
    "  ws://IP:PORT[/path]?key=KEY  WebSocket tunnel server (wss://...&cert=&certkey=)\n"
    "  wstan://IP:PORT?key=KEY      wstan 0.5 compatible server\n"
    "  sctp+udp://IP:PORT[?key=KEY] SCTP tunnel server over UDP (sctp:// on native SCTP)\n"
    "  ppp+tcp://IP:PORT?users=F    PPP gateway (also ppp:///dev/tty, ppp+unix://, ppp+stdio://)\n"
    "  vpn://IP:PORT?users=F&net=CIDR  UDP VPN server (rootless NAT, or &tun=NAME)\n"
    "  tun://NAME                   TUN device for the vpn:// hop (root)\n"
    "Hops:\n"
    "  socks5://[user:pass@]HOST:PORT (also socks5h://, socks4://, socks4a://),\n"
    "  http://[user:pass@]HOST:PORT\n"
    "  ws://HOST:PORT[/path]?key=KEY, wss://HOST:PORT[/path]?key=KEY[&ca=FILE]\n"
    "  wstan://HOST:PORT?key=KEY, ppp+tcp://[user:pass@]HOST:PORT, ppp+unix://[user:pass@]/PATH\n"
    "  sctp+udp://HOST:PORT[?key=KEY], sctp://HOST:PORT[?key=KEY] (SCTP tunnel, first hop)\n"
    "  sstp://user:pass@HOST[:PORT][?ca=FILE|insecure=1|pin=SHA256] (SSTP VPN), ppp+stdio://\n"
    "  vpn://user:pass@HOST:PORT[?pub=KEY] (UDP VPN, first hop)\n"
    "Tunnel keys (ws, wss, sctp): key=KEY, keyfile=FILE, or else the default\n"
    "key file ~/.config/sluice/key ($SLUICE_KEY_FILE), which a server makes.\n"
    "\n"
    "Listener options (?key=value&...): allow, deny, allow-target, deny-target\n"
    "(CIDR lists), max-conns, rate, burst, connect-timeout, idle-timeout,\n"
    "handshake-timeout.\n"
    "\n"
    "Precedence: command line > SLUICE_* environment > -c FILE.\n"
    "Environment: SLUICE_LISTEN, SLUICE_FORWARD (space-separated URLs),\n"
    "SLUICE_LOG, SLUICE_METRICS, SLUICE_DRAIN.\n";

static uv_loop_t *loop;
static listener_t **listeners;
static size_t nlisteners;
static dialer_t *chain;
static uv_signal_t sig_int, sig_term;
static uv_timer_t drain_timer;
static uint64_t drain_ms = 5000, drain_deadline;
static int stopping;
/* static, not on main's stack: an early exit(2) leaves them reachable */
static config_t file, env, cli;
static url_t **hops, *u;

static void die_usage(const char *msg)
{
	fprintf(stderr, "sluice: %s\n", msg);
	exit(2);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Tear everything down from inside the loop, owners first (each closes
 * its own handles), then whatever handles are left (signals, timers). */
static void finish(void)
{
	for (size_t i = 0; i < nlisteners; i++) {
		url_t *lu = listeners[i]->url;
		listener_free(listeners[i]);
		url_free(lu);
	}
	nlisteners = 0;
	chain_free(chain);
	chain = NULL;
	metrics_stop();
	sctp_rt_stop(); /* usrsctp's threads outlive the loop */
	uv_walk(loop, close_walk, NULL);
}

static void on_drain_tick(uv_timer_t *t)
{
	if (conn_live == 0 || uv_now(loop) >= drain_deadline) {
		if (conn_live)
			log_info(0, "drain deadline: closing %llu connections",
			         (unsigned long long)conn_live);
		uv_timer_stop(t);
		finish();
	}
}

static void on_signal(uv_signal_t *s, int signum)
{
	if (stopping) {
		log_info(0, "second signal: exiting now");
		exit(0);
	}
	stopping = 1;
	log_info(0, "%s: no longer accepting; draining %llu connections (up to %llu ms)",
	         signum == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)conn_live,
	         (unsigned long long)drain_ms);
	for (size_t i = 0; i < nlisteners; i++)
		listener_stop(listeners[i]);
	drain_deadline = uv_now(loop) + drain_ms;
	uv_timer_start(&drain_timer, on_drain_tick, 0, 50);
}

/* Two descriptors per relayed connection: take all the kernel allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

enum { OPT_LOG = 256, OPT_METRICS, OPT_DRAIN, OPT_AUTH_GUARD };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"log-level", required_argument, NULL, OPT_LOG},
	    {"metrics", required_argument, NULL, OPT_METRICS},
	    {"drain", required_argument, NULL, OPT_DRAIN},
	    {"auth-guard", required_argument, NULL, OPT_AUTH_GUARD},
	    {NULL, 0, NULL, 0},
	};
	const char *cfgpath = NULL;
	authguard_cfg_t guard;
	char err[URL_ERRLEN * 2];
	int verbosity = 0, check = 0, c, r;

	if (argc > 1 && !strcmp(argv[1], "keygen")) {
		char key[64];
		key_generate(key, sizeof(key));
		printf("%s\n", key);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "pt"))
		return pt_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "vpn-user"))
		return vpn_user_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "check")) {
		check = 1;
		argv++;
		argc--;
	}
	config_init(&file);
	config_init(&env);
	config_init(&cli);
	while ((c = getopt_long(argc, argv, "L:F:c:vqhV", longopts, NULL)) != -1) {
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
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity--;
			break;
		case OPT_LOG:
			if ((cli.log_level = log_level_parse(optarg)) < 0)
				die_usage("--log-level: use err, warn, info, debug or trace");
			break;
		case OPT_METRICS:
			free(cli.metrics);
			cli.metrics = strdup(optarg);
			break;
		case OPT_DRAIN:
			if (parse_duration_ms(optarg, &cli.drain_ms) < 0)
				die_usage("--drain: not a duration (5s, 500ms)");
			cli.drain_set = 1;
			break;
		case OPT_AUTH_GUARD:
			free(cli.auth_guard);
			cli.auth_guard = strdup(optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("sluice %s\n", SLUICE_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
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
	if (file.log_level >= 0)
		log_level = file.log_level;
	log_level += verbosity;
	if (log_level < LOG_ERR)
		log_level = LOG_ERR;
	if (log_level > LOG_TRACE)
		log_level = LOG_TRACE;
	drain_ms = file.drain_ms;
	authguard_cfg_default(&guard);
	if (file.auth_guard && authguard_cfg_parse(&guard, file.auth_guard, err, sizeof(err)) < 0)
		die_usage(err);
	authguard_configure(&guard);
	if (!file.listen.n)
		die_usage("nothing to do: give at least one -L URL (see sluice --help)");

	/* resolver threads: one slow name must not hold up the others */
	if (!getenv("UV_THREADPOOL_SIZE"))
		setenv("UV_THREADPOOL_SIZE", "16", 0);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	loop = uv_default_loop();

	/* phase 1: parse and build everything */
	hops = calloc(file.forward.n + 1, sizeof(*hops));
	for (size_t i = 0; i < file.forward.n; i++) {
		if (url_parse(file.forward.v[i], &hops[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice: -F: %s\n", err);
			return 2;
		}
	}
	if (chain_build(loop, hops, file.forward.n, &chain, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 2;
	}
	listeners = calloc(file.listen.n, sizeof(*listeners));
	for (size_t i = 0; i < file.listen.n; i++) {
		if (url_parse(file.listen.v[i], &u, err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice: -L: %s\n", err);
			return 2;
		}
		if (listener_new(loop, u, chain, &listeners[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice: -L %s://: %s\n", u->scheme, err);
			return 2;
		}
		nlisteners++;
	}
	if (check) {
		printf("configuration ok: %zu listener%s, %zu hop%s\n", nlisteners,
		       nlisteners == 1 ? "" : "s", file.forward.n, file.forward.n == 1 ? "" : "s");
		for (size_t i = 0; i < nlisteners; i++)
			printf("  listen  %s\n", listeners[i]->name);
		for (dialer_t *d = chain; d && d->next; d = d->next)
			printf("  hop     %s %s:%u\n", d->ops->scheme, d->server.host,
			       d->server.port);
		return 0;
	}

	/* phase 2: bind and run */
	if (file.metrics && metrics_serve(loop, file.metrics, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < nlisteners; i++) {
		if ((r = listener_start(listeners[i], err, sizeof(err))) < 0) {
			fprintf(stderr, "sluice: %s\n", err);
			return 1;
		}
	}
	memtrim_start(loop);
	uv_timer_init(loop, &drain_timer);
	uv_signal_init(loop, &sig_int);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	free(listeners);
	for (size_t i = 0; i < file.forward.n; i++)
		url_free(hops[i]);
	free(hops);
	config_free(&file);
	config_free(&env);
	config_free(&cli);
	uv_loop_close(loop);
	log_info(0, "bye");
	return 0;
}
