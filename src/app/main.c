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
 * default 5 s, and exit 0; a second signal exits at once).  The command
 * line and the configuration's layers are read in args.c.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app/app.h"
#include "app/control.h"
#include "app/transports.h"
#include "app/workers.h"
#include "core/authguard.h"
#include "core/config.h"
#include "core/cred.h"
#include "core/crypto.h"
#include "core/health.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/memtrim.h"
#include "core/metrics.h"
#include "core/route/pac.h"
#include "core/route/routing.h"
#include "core/priv.h"
#include "core/reverse.h"
#include "core/runtime.h"
#include "core/transport.h"
#include "front/pt.h"
#include "tunnel/vpn/vpn_users.h"

extern char **environ;

static listener_t **listeners;
static char **lsrc; /* the -L each was built from and its files (cred_url_key) */
static size_t nlisteners;
static int saved_argc, verbosity;
static char **saved_argv;
static char **full_argv; /* main's: what a worker process runs */
static uv_loop_t *loop;
/* static, not on a stack: an early exit(2) leaves them reachable */
static config_t file, env, cli;
static url_t *u;
/* -R: parsed with everything else, started once the listeners listen, on
 * the routing rev_rt holds; revsrc, the -R each was made from.  A reload
 * re-reads them (rev_reload) */
static revfwd_t **revs;
static char **revsrc;
static size_t nrevs;
static struct routing *rev_rt;

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

static void retired_free(int all);

static void teardown(void *ud)
{
	for (size_t i = 0; i < nlisteners; i++) {
		url_t *lu = listeners[i]->url;
		listener_free(listeners[i]);
		url_free(lu);
		free(lsrc[i]);
	}
	nlisteners = 0;
	for (size_t i = 0; i < nrevs; i++) {
		revfwd_free(revs[i]);
		free(revsrc[i]);
	}
	nrevs = 0;
	routing_unref(rev_rt);
	rev_rt = NULL;
	retired_free(1);
	control_stop();
	pac_serve(NULL, 0);
	health_listeners(NULL, 0);
	routing_install(NULL);
}

/* ---- reload (SIGHUP) ----
 *
 * The configuration is read again from its three layers and checked as
 * `sluice check` does; anything wrong and the running one stays, the
 * reason in the log.  Otherwise: a new routing, its chains shared with
 * the old one where their definition did not change (with their tunnel
 * sessions); listeners whose -L is the same are kept with their sockets,
 * new ones bound, removed ones stop accepting and are freed once their
 * connections end (a listener whose -L changed is both, unless its front
 * end takes the new options in place: .adopt in core/listener.h, for
 * servers whose clients' sessions a new listener would end).  New connections
 * take the new routing; those in flight hold the old one to their end. */

/* A listener's -L and what the files it names are now: one whose key
 * file changed is made anew. */
static char *listen_key(const char *url)
{
	char *k = NULL;
	size_t n = 0;

	cred_url_key(&k, &n, url);
	return k;
}

/* The new -R list (parsed and checked against the new routing rt):
 * those whose -R and default chain did not change are kept with their
 * claims and connections, removed ones released, new ones claimed.  A
 * changed default chain claims them all again on it.  nrv's entries are
 * taken. */
static void rev_reload(routing_t *rt, revfwd_t **nrv, const strlist_t *specs)
{
	dialer_t *chain = routing_dialer(rt, "default");
	int same = rev_rt && routing_dialer(rev_rt, "default") == chain;
	char **nsrc = calloc(specs->n + 1, sizeof(*nsrc)), err[URL_ERRLEN];
	size_t kept = 0, gone = 0;

	if (!nsrc)
		abort();
	for (size_t j = 0; j < nrevs; j++) {
		size_t i = 0;
		while (i < specs->n &&
		       (!same || !nrv[i] || nsrc[i] || strcmp(revsrc[j], specs->v[i])))
			i++;
		if (i < specs->n) {
			revfwd_free(nrv[i]); /* never started */
			nrv[i] = revs[j];
			nsrc[i] = revsrc[j];
			kept++;
			continue;
		}
		revfwd_free(revs[j]);
		free(revsrc[j]);
		gone++;
	}
	for (size_t i = 0; i < specs->n; i++) {
		if (nsrc[i])
			continue;
		if (!(nsrc[i] = strdup(specs->v[i])))
			abort();
		if (revfwd_start(nrv[i], loop, chain, 10000, err, sizeof(err)) < 0)
			log_err(0, "reload: %s", err); /* revfwd_check passed: not reached */
	}
	if (nrevs || specs->n)
		log_info(0, "reload: reverse forwards: %zu kept, %zu new, %zu gone", kept,
		         specs->n - kept, gone);
	free(revs);
	free(revsrc);
	revs = nrv;
	revsrc = nsrc;
	nrevs = specs->n;
	routing_unref(rev_rt);
	rev_rt = nrevs ? routing_ref(rt) : NULL;
}

static void revs_free(revfwd_t **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		revfwd_free(v[i]);
	free(v);
}

static listener_t **retired;
static size_t nretired;
static uv_timer_t retire_timer;
static int retire_init;

/* Free the retired listeners whose connections ended (all: now). */
static void retired_free(int all)
{
	size_t k = 0;

	for (size_t i = 0; i < nretired; i++) {
		listener_t *l = retired[i];
		if (!all && !queue_empty(&l->conns)) {
			retired[k++] = l;
			continue;
		}
		url_t *lu = l->url;
		listener_free(l);
		url_free(lu);
	}
	nretired = k;
	if (!nretired && retire_init)
		uv_timer_stop(&retire_timer);
}

static void on_retire(uv_timer_t *t)
{
	retired_free(0);
}

static void retire(listener_t *l)
{
	listener_stop(l);
	retired = realloc(retired, (nretired + 1) * sizeof(*retired));
	if (!retired)
		abort();
	retired[nretired++] = l;
	if (!retire_init) {
		uv_timer_init(loop, &retire_timer);
		uv_unref((uv_handle_t *)&retire_timer);
		retire_init = 1;
	}
	uv_timer_start(&retire_timer, on_retire, 1000, 1000);
}

static int differ(const char *a, const char *b)
{
	return !a != !b || (a && strcmp(a, b));
}

/* What a reload applies beside the listeners and chains, and what it
 * says needs a restart: the metrics server's address (its socket was
 * bound once), user and group (the process dropped to them once). */
static void reload_settings(const config_t *f)
{
	if (differ(f->metrics, file.metrics))
		log_warn(0, "reload: metrics: stays %s until a restart (systemctl restart)",
		         file.metrics ? file.metrics : "off");
	if (differ(f->user, file.user) || differ(f->group, file.group))
		log_warn(0, "reload: user/group: unchanged until a restart (systemctl restart): "
		            "privileges are dropped once, at start");
	if (differ(f->control, file.control))
		log_warn(0, "reload: control: stays %s until a restart (systemctl restart)",
		         file.control && *file.control ? file.control : "as it was");
	if (f->drain_ms != file.drain_ms) {
		runtime_drain(f->drain_ms);
		log_info(0, "reload: drain: %llu ms from now on", (unsigned long long)f->drain_ms);
	}
}

/* Reload: 0 and what changed in out, or -1 and why it was refused. */
static int reload_config(const char *who, char *out, size_t outlen)
{
	config_t f, e, c;
	routing_t *old = routing_ref(routing_current()), *rt = NULL;
	listener_t **nl = NULL;
	char **ns = NULL;
	int *kept = calloc(nlisteners + 1, sizeof(int)), *fresh = NULL;
	listener_t **adopt = NULL; /* the running one nl[i] changes in place */
	revfwd_t **nrv = NULL;     /* the new -R, parsed */
	char err[URL_ERRLEN * 4], msg[URL_ERRLEN * 3];
	size_t nn = 0, added = 0;
	int v = 0, r;
	authguard_cfg_t guard;

	if (!kept)
		abort();
	runtime_reloading();
	log_info(0, "%s: reading the configuration again%s%s", who, app_cfgpath ? " from " : "",
	         app_cfgpath ? app_cfgpath : "");
	config_init(&f);
	config_init(&e);
	config_init(&c);
	if (app_parse_args(saved_argc, saved_argv, &c, &v, err, sizeof(err)) != 0 ||
	    app_load_layers(&f, &e, &c, err, sizeof(err)) < 0)
		goto refused;
	if (routing_build(loop, &f, old, &rt, err, sizeof(err)) < 0)
		goto refused;
	routing_install(rt); /* listener_new reads it; old is ours still */
	if (!(nrv = calloc(f.reverse.n + 1, sizeof(*nrv))))
		abort();
	for (size_t i = 0; i < f.reverse.n; i++)
		if (revfwd_parse(f.reverse.v[i], &nrv[i], err, sizeof(err)) < 0 ||
		    revfwd_check(nrv[i], routing_dialer(rt, "default"), err, sizeof(err)) < 0)
			goto undo;
	nn = f.listen.n;
	nl = calloc(nn, sizeof(*nl));
	ns = calloc(nn, sizeof(*ns));
	fresh = calloc(nn, sizeof(*fresh));
	adopt = calloc(nn + 1, sizeof(*adopt));
	if (!nl || !ns || !fresh || !adopt)
		abort();
	for (size_t i = 0; i < nn; i++) {
		url_t *lu;
		ns[i] = listen_key(f.listen.v[i]);
		for (size_t j = 0; j < nlisteners && !nl[i]; j++)
			if (!kept[j] && !strcmp(lsrc[j], ns[i])) {
				kept[j] = 1;
				nl[i] = listeners[j];
			}
		if (nl[i]) {
			dialer_t *d = nl[i]->routed ? routing_dialer(rt, nl[i]->via) : nl[i]->chain;
			if (d == nl[i]->chain || nl[i]->ops->chain_use == CHAIN_PER_CONN)
				continue;
			if (nl[i]->ops->chain_use == CHAIN_FIXED) {
				snprintf(err, sizeof(err),
				         "%s: its chain changed, and its session cannot move to "
				         "another chain: restart sluice to apply it (systemctl "
				         "restart), or leave its chain as it is",
				         nl[i]->name);
				goto undo;
			}
			/* CHAIN_AT_INIT: made anew on the new chain, in its place */
			for (size_t j = 0; j < nlisteners; j++)
				if (listeners[j] == nl[i])
					kept[j] = 0;
			nl[i] = NULL;
		}
		if (url_parse(f.listen.v[i], &lu, msg, sizeof(msg)) < 0) {
			snprintf(err, sizeof(err), "-L: %s", msg);
			goto undo;
		}
		if (listener_new(loop, lu, NULL, &nl[i], msg, sizeof(msg)) < 0) {
			snprintf(err, sizeof(err), "-L %.20s://: %s", lu->scheme, msg);
			url_free(lu);
			nl[i] = NULL;
			goto undo;
		}
		fresh[i] = 1;
		added++;
	}
	/* bind the new ones; one on the address of an old one takes its
	 * place (its TCP socket, where both have one; its UDP socket, where
	 * both are of a scheme that serves datagrams): both passes start what
	 * listens on a new address before any old one stops */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nn; i++) {
			listener_t *same = NULL;
			if (!fresh[i])
				continue;
			/* of the same scheme first: it takes the sockets of both kinds */
			for (size_t j = 0; j < nlisteners; j++)
				if (!kept[j] && listeners[j]->listening && nl[i]->bind.ss_family &&
				    !memcmp(&listeners[j]->bind, &nl[i]->bind,
				            sizeof(nl[i]->bind)) &&
				    (!same ||
				     (same->ops != nl[i]->ops && listeners[j]->ops == nl[i]->ops)))
					same = listeners[j];
			if (!same != !pass)
				continue;
			/* one whose sessions would end if made anew takes the new
			 * options in place, once every other one is bound */
			if (same && (r = listener_adopt_check(same, nl[i], msg, sizeof(msg))) !=
			                UV_ENOTSUP) {
				if (r < 0) {
					snprintf(err, sizeof(err),
					         "%s: %s: restart sluice to apply it (systemctl "
					         "restart), or leave it as it is",
					         nl[i]->name, msg);
					goto undo;
				}
				for (size_t j = 0; j < nlisteners; j++)
					if (listeners[j] == same)
						kept[j] = 1;
				adopt[i] = same;
				continue;
			}
			r = same ? listener_take(nl[i], same, err, sizeof(err))
			         : listener_start(nl[i], err, sizeof(err));
			if (r == UV_EADDRINUSE && same) /* a socket it cannot take */
				snprintf(err, sizeof(err),
				         "%s: changed, and it cannot take the running one's "
				         "socket: restart sluice to apply it (systemctl restart)",
				         nl[i]->name);
			if (r < 0)
				goto undo;
		}
	/* taken */
	for (size_t i = 0; i < nn; i++) {
		url_t *lu;
		if (!adopt[i])
			continue;
		listener_adopt(adopt[i], nl[i]);
		lu = nl[i]->url; /* adopt[i]'s old one now */
		listener_free(nl[i]);
		url_free(lu);
		nl[i] = adopt[i];
		fresh[i] = 0;
		added--;
	}
	for (size_t i = 0; i < nn; i++)
		if (!fresh[i] && nl[i]->routed)
			nl[i]->chain = routing_dialer(rt, nl[i]->via);
	for (size_t j = 0; j < nlisteners; j++) {
		if (!kept[j])
			retire(listeners[j]);
		free(lsrc[j]);
	}
	snprintf(out, outlen, "%zu listener%s (%zu new, %zu gone)", nn, nn == 1 ? "" : "s", added,
	         nlisteners + added - nn);
	log_info(0, "reload: %s", out);
	free(listeners);
	free(lsrc);
	listeners = nl;
	lsrc = ns;
	nlisteners = nn;
	health_listeners(listeners, nlisteners);
	if (file.metrics)
		pac_serve(listeners, nlisteners);
	routing_start(rt);
	rev_reload(rt, nrv, &f.reverse);
	routing_unref(old);
	reload_settings(&f);
	runtime_log_level(f.log_level, v);
	authguard_cfg_default(&guard);
	if (f.auth_guard)
		authguard_cfg_parse(&guard, f.auth_guard, err, sizeof(err));
	authguard_configure(&guard);
	if (app_log_setup(&f, err, sizeof(err)) < 0)
		log_err(0, "reload: the log: %s (it stays where it was)", err);
	free(f.metrics); /* the running one's is file's */
	f.metrics = file.metrics;
	file.metrics = NULL;
	config_free(&file);
	file = f;
	config_free(&e);
	config_free(&c);
	free(kept);
	free(fresh);
	free(adopt);
	runtime_reloaded("serving (reloaded)");
	return 0;
undo:
	for (size_t i = 0; i < nn; i++) {
		if (fresh && fresh[i] && nl[i]->listening) {
			retire(nl[i]); /* its handles close first */
		} else if (fresh && fresh[i]) {
			url_t *lu = nl[i]->url;
			listener_free(nl[i]);
			url_free(lu);
		}
		free(ns ? ns[i] : NULL);
	}
	revs_free(nrv, f.reverse.n);
	routing_install(old); /* takes our reference; rt goes */
	old = NULL;
refused:
	routing_unref(old);
	free(nl);
	free(ns);
	free(fresh);
	free(adopt);
	free(kept);
	config_free(&f);
	config_free(&e);
	config_free(&c);
	log_err(0, "reload refused: %s; the running configuration stays", err);
	runtime_reloaded("serving (a reload was refused: see the log)");
	snprintf(out, outlen, "%s", err);
	return -1;
}

static void reload(void *ud)
{
	char out[URL_ERRLEN * 4];

	reload_config("SIGHUP", out, sizeof(out));
}

/* The control socket's requests (app/control.h). */
static void on_control(const char *cmd, mbuf_t *out)
{
	char msg[URL_ERRLEN * 4];

	if (!strcmp(cmd, "reload")) {
		if (reload_config("control: reload", msg, sizeof(msg)) < 0)
			mbuf_printf(out, "refused: %s\n", msg);
		else
			mbuf_printf(out, "ok: %s\n", msg);
	} else if (!strcmp(cmd, "status") || !strcmp(cmd, "status json")) {
		mbuf_printf(out, "ok\n");
		if (cmd[6])
			health_status(out);
		else
			health_status_text(out);
	} else {
		mbuf_printf(out, "refused: unknown request (reload, status, status json)\n");
	}
}

/* Ready for the service manager: healthy (core/health.h). */
static int ready(void *ud, char *why, size_t len)
{
	return health_check(why, len);
}

static const runtime_hooks_t hooks = {
    .stop = stop_listeners, .teardown = teardown, .tag = "", .ready = ready, .reload = reload};

static void check_line(void *ud, const char *s)
{
	printf("  %s\n", s);
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

/* `sluice [run]` and `sluice check`: argv[0] is the subcommand's name. */
static int run_or_check(int argc, char **argv, int check)
{
	authguard_cfg_t guard;
	routing_t *rt;
	priv_t priv;
	char err[URL_ERRLEN * 4], cpath[256];
	int r, worker = workers_self(NULL, NULL);

	config_init(&file);
	config_init(&env);
	config_init(&cli);
	saved_argc = argc;
	saved_argv = argv;
	r = app_parse_args(argc, argv, &cli, &verbosity, err, sizeof(err));
	if (r == 1)
		return 0;
	if (r == -2)
		return 2;
	if (r < 0)
		die_usage(err);
	if (app_load_layers(&file, &env, &cli, err, sizeof(err)) < 0)
		die_usage(err);
	runtime_log_level(file.log_level, verbosity);
	authguard_cfg_default(&guard);
	if (file.auth_guard) /* app_load_layers read it */
		authguard_cfg_parse(&guard, file.auth_guard, err, sizeof(err));
	authguard_configure(&guard);
	if (priv_lookup(file.user, file.group, &priv, err, sizeof(err)) < 0)
		die_usage(err);
	if (!check && (r = app_log_setup(&file, err, sizeof(err))) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}

	loop = runtime_init();
	if (worker && workers_child_init(err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}

	/* phase 1: parse and build everything */
	if (routing_build(loop, &file, NULL, &rt, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 2;
	}
	routing_install(rt);
	listeners = calloc(file.listen.n, sizeof(*listeners));
	lsrc = calloc(file.listen.n, sizeof(*lsrc));
	if (!listeners || !lsrc)
		abort();
	for (size_t i = 0; i < file.listen.n; i++) {
		lsrc[i] = listen_key(file.listen.v[i]);
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
	revs = calloc(file.reverse.n + 1, sizeof(*revs));
	revsrc = calloc(file.reverse.n + 1, sizeof(*revsrc));
	if (!revs || !revsrc)
		abort();
	for (size_t i = 0; i < file.reverse.n; i++) {
		if (!(revsrc[i] = strdup(file.reverse.v[i])))
			abort();
		if (revfwd_parse(file.reverse.v[i], &revs[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice: %s\n", err);
			return 2;
		}
		nrevs++;
		if (revfwd_check(revs[i], routing_dialer(rt, "default"), err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice: %s\n", err);
			return 2;
		}
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
			printf("  hop     %s %s:%u\n", dialer_scheme(d), d->server.host,
			       d->server.port);
		for (size_t i = 0; i < file.reverse.n; i++)
			printf("  reverse %s\n", file.reverse.v[i]);
		if (routing_nchains(rt) > 2 || routing_rules(rt))
			routing_describe(rt, check_line, NULL);
		return 0;
	}

	/* phase 2: bind and run */
	if ((r = refuse_root(&priv, err, sizeof(err))) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 2;
	}
	if (!worker) {
		int n = 1;
		for (size_t i = 0; i < nlisteners; i++)
			n = listeners[i]->workers > (uint64_t)n ? (int)listeners[i]->workers : n;
		if (n > 1 && (r = app_groups_unique(&file, err, sizeof(err))) < 0) {
			fprintf(stderr, "sluice: %s\n", err);
			return 2;
		}
		if (n > 1) { /* the master: serves the workers, runs no listener */
			workers_conf_t wc = {.n = n,
			                     .argv = full_argv,
			                     .metrics = file.metrics,
			                     .cpath = "",
			                     .uid = priv.set && !priv.keep ? (int)priv.uid : -1,
			                     .gid = (int)priv.gid,
			                     .drain_ms = file.drain_ms,
			                     .priv = &priv};
			if ((r = control_path(file.control, cpath, sizeof(cpath))) < 0) {
				fprintf(stderr, "sluice: --control: the path is too long\n");
				return 1;
			}
			wc.cpath = r == 0 ? cpath : "";
			return workers_master(loop, &wc);
		}
	}
	if ((r = transports_start(loop, err, sizeof(err))) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	if (file.metrics && !worker && metrics_serve(loop, file.metrics, err, sizeof(err)) < 0) {
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
	if (worker && workers_child_start(loop, on_control, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	/* the control socket: a worker's master serves it */
	if (!worker && ((r = control_path(file.control, cpath, sizeof(cpath))) < 0 ||
	                (r == 0 && control_serve(loop, cpath, on_control,
	                                         priv.set && !priv.keep ? (int)priv.uid : -1,
	                                         (int)priv.gid, err, sizeof(err)) < 0))) {
		fprintf(stderr, "sluice: %s\n", r < 0 ? "--control: the path is too long" : err);
		return 1;
	}
	rev_rt = nrevs ? routing_ref(rt) : NULL;
	for (size_t i = 0; i < nrevs; i++) {
		if ((r = revfwd_start(revs[i], loop, routing_dialer(rt, "default"), 10000, err,
		                      sizeof(err))) < 0) {
			fprintf(stderr, "sluice: %s\n", err);
			return 2;
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
	free(revs);
	free(revsrc);
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
    {"reload", reload_main, "[-c FILE] [--control PATH]",
     "make a running sluice read its configuration again; refused: why, exit 1"},
    {"status", status_main, "[-c FILE] [--metrics IP:PORT | --control PATH] [--json]",
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
	full_argv = argv;
	app_transports_register();
	if (argc > 1)
		for (size_t i = 0; i < app_ncmds; i++)
			if (!strcmp(argv[1], app_cmds[i].name))
				return app_cmds[i].fn(argc - 1, argv + 1);
	return run_main(argc, argv);
}
