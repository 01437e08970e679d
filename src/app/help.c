/* help: every text the command line prints about itself, built from the
 * subcommand table (app.h), the transport descriptors (core/transport.h)
 * and their option schemas (core/opts.h), so nothing here is kept by hand
 * beside them.
 *
 *   sluice --help            usage, the global options, every listener and
 *                            hop with a line about it
 *   sluice help              the same
 *   sluice help TOPIC        a transport (by name or by any of its schemes)
 *                            with its URL forms and options, or `listener`
 *                            for the options every listener takes
 *   sluice help --schemas    all of it as tab-separated records, for
 *                            scripts/gen-options.py (docs, man page,
 *                            completion): see schemas_dump()
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/config.h"
#include "core/cred.h"
#include "core/listener.h"
#include "core/opts.h"
#include "core/route/group.h"
#include "core/transport.h"

/* The options that are not settings (config.h), around the settings. */
static const char *const opts_head[][2] = {
    {"-L URL", "listen (repeatable); all listeners share the chain"},
    {"-F URL", "forward through this hop (repeatable, in order)"},
    {"-R tcp://BIND:PORT/HOST:PORT",
     "reverse forward: the last hop's server listens on BIND:PORT and sends each connection "
     "back to HOST:PORT from here (repeatable; the server must allow it: reverse=); "
     "udp://BIND:PORT/HOST:PORT the same for datagrams, a flow per public peer"},
    {"-c FILE", "read the configuration from a YAML file"},
    {"-v, -q", "more / less logging (err warn info debug trace)"},
};
static const char *const opts_route[][2] = {
    {"--chain NAME=URL[,URL...]", "another chain; a listener takes it with via=NAME"},
    {"--group NAME[?OPTS]=URL[,URL...]",
     "alternatives for one hop: -F group://NAME (sluice help group)"},
    {"--rule RULE", "route by destination: DOMAIN-SUFFIX,example.org,NAME (direct, block, a "
                    "chain); first match wins (repeatable)"},
    {"--rules FILE", "rules from a file, one a line, after those before it"},
};
static const char *const opts_tail[][2] = {
    {"-h, --help", "this text"},
    {"-V, --version", "print the version"},
};
#define OPT_COL 24

static const char tail_text[] =
    "Tunnel keys (ws, wss, sctp): key=KEY, keyfile=FILE, or else the default\n"
    "key file ~/.config/sluice/key ($SLUICE_KEY_FILE), which a server makes.\n"
    "\n"
    "Precedence: command line > SLUICE_* environment > -c FILE.\n"
    "Environment: SLUICE_LISTEN, SLUICE_FORWARD, SLUICE_REVERSE (space-separated),\n"
    "SLUICE_LOG, SLUICE_METRICS, SLUICE_DRAIN.\n";

#define WIDTH 79

/* text from column `col` (the cursor is at `at`), wrapped at WIDTH */
static void wrap(FILE *f, int at, int col, const char *text)
{
	while (*text) {
		size_t n = strlen(text), cut = n;
		if (at < col)
			at += fprintf(f, "%*s", col - at, "");
		if ((int)n > WIDTH - at) {
			cut = (size_t)(WIDTH - at);
			while (cut > 0 && text[cut] != ' ')
				cut--;
			if (!cut) /* one long word */
				cut = strcspn(text, " ");
		}
		fprintf(f, "%.*s\n", (int)cut, text);
		text += cut;
		text += strspn(text, " ");
		at = 0;
	}
}

/* "  left  text", text in a column; a long left part puts it on the next line */
static void row(FILE *f, int indent, int col, const char *left, const char *text)
{
	int n = fprintf(f, "%*s%s", indent, "", left);

	if (!text || !*text) {
		fputc('\n', f);
		return;
	}
	if (n >= col - 1) {
		fputc('\n', f);
		n = 0;
	}
	wrap(f, n, col, text);
}

static void list_role(FILE *f, int hops)
{
	for (const transport_t *const *t = transport_table(); *t; t++)
		for (size_t i = 0; i < (*t)->nschemes; i++) {
			const transport_scheme_t *s = &(*t)->schemes[i];
			const transport_doc_t *d = hops ? &s->hop_doc : &s->listen_doc;
			if ((hops ? s->hop == NULL : s->listen == NULL) || !d->usage)
				continue;
			row(f, 2, 33, d->usage, d->about);
		}
}

typedef struct names {
	char buf[1024];
	size_t off;
} names_t;

static void opt_names(void *ud, const opt_t *o)
{
	names_t *n = ud;

	if (n->off < sizeof(n->buf))
		n->off += (size_t)snprintf(n->buf + n->off, sizeof(n->buf) - n->off, "%s%s",
		                           n->off ? ", " : "", o->name);
}

void help_usage(FILE *f)
{
	names_t names = {.off = 0};
	char line[1200];
	size_t off;

	for (size_t i = 0; i < app_ncmds; i++) {
		const char *name = strcmp(app_cmds[i].name, "run") ? app_cmds[i].name : "";
		fprintf(f, "%s sluice%s%s%s%s\n", i ? "      " : "usage:", *name ? " " : "", name,
		        *app_cmds[i].args ? " " : "", app_cmds[i].args);
	}
	fputs("\nCarries TCP connections through proxies and tunnels, in userspace.\n\n", f);
	for (size_t i = 0; i < sizeof(opts_head) / sizeof(opts_head[0]); i++)
		row(f, 2, OPT_COL, opts_head[i][0], opts_head[i][1]);
	for (size_t i = 0; i < sizeof(opts_route) / sizeof(opts_route[0]); i++)
		row(f, 6, OPT_COL, opts_route[i][0], opts_route[i][1]);
	for (size_t i = 0; i < config_nsettings; i++) {
		const config_setting_t *st = &config_settings[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", st->flag, st->arg ? " " : "",
		         st->arg ? st->arg : "");
		row(f, 6, OPT_COL, left, st->help);
	}
	for (size_t i = 0; i < sizeof(opts_tail) / sizeof(opts_tail[0]); i++)
		row(f, 2, OPT_COL, opts_tail[i][0], opts_tail[i][1]);
	fputs("\nListeners (-L):\n", f);
	list_role(f, 0);
	fputs("Hops (-F):\n", f);
	list_role(f, 1);
	fputc('\n', f);
	fputs(tail_text, f);
	opts_each(&listener_opts, opt_names, &names);
	snprintf(line, sizeof(line), "Listener options (?key=value&...): %s.", names.buf);
	fputc('\n', f);
	wrap(f, 0, 0, line);
	off = (size_t)snprintf(line, sizeof(line),
	                       "Each transport's URL forms and options: sluice help TRANSPORT");
	for (const transport_t *const *t = transport_table(); *t && off < sizeof(line); t++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
		                        t == transport_table() ? " (" : ", ", (*t)->name);
	if (off < sizeof(line))
		snprintf(line + off, sizeof(line) - off, ").");
	wrap(f, 0, 0, line);
}

/* ---- sluice help TOPIC ---- */

static void opt_line(void *ud, const opt_t *o)
{
	FILE *f = ud;
	char left[128], text[512];
	const char *def = opt_default(o);

	snprintf(left, sizeof(left), "%s=%s", o->name, opt_arg(o));
	snprintf(text, sizeof(text), "%s%s%s%s", o->help, *def ? " (default: " : "", def,
	         *def ? ")" : "");
	row(f, 4, 30, left, text);
}

/* Everything but the base: the schemas it takes in, then its own. */
static void own_opts(FILE *f, const opt_schema_t *s)
{
	for (const opt_include_t *i = s->also; i && i->schema; i++)
		opts_each(i->schema, opt_line, f);
	for (size_t i = 0; i < s->n; i++)
		opt_line(f, &s->opts[i]);
}

/* The options of one role of every scheme, each schema once: a scheme
 * whose schema is (or extends) one shown already says so. */
static void role_opts(FILE *f, const transport_t *t, int hops)
{
	const opt_schema_t *shown[16];
	const char *shown_by[16];
	size_t nshown = 0;

	for (size_t i = 0; i < t->nschemes; i++) {
		const transport_scheme_t *s = &t->schemes[i];
		const transport_doc_t *d = hops ? &s->hop_doc : &s->listen_doc;
		const char *same = NULL, *base = NULL, *ext = NULL;
		const opt_schema_t *ext_s = NULL;

		if (hops ? !s->hop : !s->listen)
			continue;
		if (!d->opts) {
			fprintf(f, "  %s://: no options of its own\n", s->scheme);
			continue;
		}
		for (size_t j = 0; j < nshown; j++) {
			if (shown[j] == d->opts)
				same = shown_by[j];
			if (shown[j] == d->opts->base)
				base = shown_by[j];
			if (shown[j]->base == d->opts && !shown[j]->also) {
				ext = shown_by[j];
				ext_s = shown[j];
			}
		}
		if (same) {
			fprintf(f, "  %s://: the options of %s://\n", s->scheme, same);
		} else if (base) {
			fprintf(f, "  %s://: the options of %s://, and\n", s->scheme, base);
			own_opts(f, d->opts);
		} else if (ext) {
			fprintf(f, "  %s://: the options of %s:// but", s->scheme, ext);
			for (size_t k = 0; k < ext_s->n; k++)
				fprintf(f, "%s %s", k ? "," : "", ext_s->opts[k].name);
			fputc('\n', f);
		} else {
			fprintf(f, "  %s://:\n", s->scheme);
			opts_each(d->opts, opt_line, f);
		}
		if (!same && nshown < sizeof(shown) / sizeof(shown[0])) {
			shown[nshown] = d->opts;
			shown_by[nshown++] = s->scheme;
		}
	}
}

static int has_role(const transport_t *t, int hops)
{
	for (size_t i = 0; i < t->nschemes; i++)
		if (hops ? t->schemes[i].hop != NULL : t->schemes[i].listen != NULL)
			return 1;
	return 0;
}

static void help_transport(FILE *f, const transport_t *t)
{
	fprintf(f, "%s: %s\n", t->name, t->summary);
	if (t->help)
		fprintf(f, "\n%s\n", t->help);
	for (int hops = 0; hops < 2; hops++) {
		if (!has_role(t, hops))
			continue;
		fprintf(f, "\n%s\n", hops ? "As a hop (-F):" : "As a listener (-L):");
		for (size_t i = 0; i < t->nschemes; i++) {
			const transport_scheme_t *s = &t->schemes[i];
			const transport_doc_t *d = hops ? &s->hop_doc : &s->listen_doc;
			if ((hops ? s->hop != NULL : s->listen != NULL) && d->usage)
				row(f, 2, 33, d->usage, d->about);
		}
		fprintf(f, "%s options:\n", hops ? "Hop" : "Listener");
		role_opts(f, t, hops);
		for (size_t i = 0; i < t->nschemes; i++) {
			const transport_scheme_t *s = &t->schemes[i];
			if ((hops ? s->hop != NULL : s->listen != NULL) &&
			    (hops ? s->hop_doc.pass : s->listen_doc.pass)) {
				fputs("  and where user:pass@ is taken, the password from "
				      "elsewhere:\n",
				      f);
				opts_each(&cred_opts, opt_line, f);
				break;
			}
		}
		if (!hops)
			fputs("  and the options of every listener: sluice help listener\n", f);
	}
}

/* Groups are not a transport (their members are hops of any), but a
 * chain names one like a hop, and their options are a schema. */
static const char group_summary[] = "alternative hops for one position, with health checks",
                  group_usage[] = "group://NAME",
                  group_about[] = "through a member of the group NAME (--group, groups:)";

static void help_group(FILE *f)
{
	fprintf(f, "group: %s\n\n", group_summary);
	fputs("  --group NAME[?OPTIONS]=URL[,URL...]    or groups: in the YAML file\n", f);
	row(f, 2, 28, group_usage, group_about);
	fputs("\nOptions:\n", f);
	opts_each(&group_opts, opt_line, f);
}

/* ---- sluice help --schemas ----
 *
 * One record per line, fields separated by tabs (no field holds a tab):
 *
 *   command    NAME ARGS HELP
 *   transport  NAME SUMMARY
 *   scheme     TRANSPORT SCHEME ROLE USAGE ABOUT        ROLE: listen or hop
 *   option     TRANSPORT SCHEME ROLE NAME TYPE ARG DEFAULT HELP
 *
 * The listener options every listener takes are transport "listener",
 * scheme "*", role "listen". */

typedef struct dump {
	FILE *f;
	const char *transport, *scheme, *role;
} dump_t;

static void dump_opt(void *ud, const opt_t *o)
{
	dump_t *d = ud;

	fprintf(d->f, "option\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d->transport, d->scheme, d->role,
	        o->name, opt_type_name(o->type), opt_arg(o), opt_default(o), o->help);
}

static void schemas_dump(FILE *f)
{
	dump_t d = {f, "listener", "*", "listen"};

	for (size_t i = 0; i < app_ncmds; i++)
		fprintf(f, "command\t%s\t%s\t%s\n", app_cmds[i].name, app_cmds[i].args,
		        app_cmds[i].help);
	opts_each(&listener_opts, dump_opt, &d);
	fprintf(f, "transport\tgroup\t%s\n", group_summary);
	fprintf(f, "scheme\tgroup\tgroup\thop\t%s\t%s\n", group_usage, group_about);
	d = (dump_t){f, "group", "group", "hop"};
	opts_each(&group_opts, dump_opt, &d);
	for (const transport_t *const *t = transport_table(); *t; t++) {
		fprintf(f, "transport\t%s\t%s\n", (*t)->name, (*t)->summary);
		for (size_t i = 0; i < (*t)->nschemes; i++) {
			const transport_scheme_t *s = &(*t)->schemes[i];
			for (int hops = 0; hops < 2; hops++) {
				const transport_doc_t *doc = hops ? &s->hop_doc : &s->listen_doc;
				if (hops ? !s->hop : !s->listen)
					continue;
				fprintf(f, "scheme\t%s\t%s\t%s\t%s\t%s\n", (*t)->name, s->scheme,
				        hops ? "hop" : "listen", doc->usage ? doc->usage : "",
				        doc->about ? doc->about : "");
				d = (dump_t){f, (*t)->name, s->scheme, hops ? "hop" : "listen"};
				if (doc->opts)
					opts_each(doc->opts, dump_opt, &d);
				if (doc->pass)
					opts_each(&cred_opts, dump_opt, &d);
			}
		}
	}
}

int help_main(int argc, char **argv)
{
	const transport_t *t;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		help_usage(stdout);
		return 0;
	}
	if (argc > 2) {
		fprintf(stderr, "sluice: help takes one topic (see sluice help)\n");
		return 2;
	}
	if (!strcmp(argv[1], "--schemas")) {
		schemas_dump(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "listener")) {
		fputs("The options every listener takes (-L URL?key=value&...):\n", stdout);
		opts_each(&listener_opts, opt_line, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "group")) {
		help_group(stdout);
		return 0;
	}
	if (!(t = transport_by_name(argv[1]))) {
		char list[512] = "";
		size_t off = 0;
		for (const transport_t *const *p = transport_table(); *p && off < sizeof(list); p++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
			                        off ? ", " : "", (*p)->name);
		fprintf(stderr, "sluice: help: no transport '%s' (known: %s, listener and group)\n",
		        argv[1], list);
		return 2;
	}
	help_transport(stdout, t);
	return 0;
}
