/* app: the command line's subcommands, as a table the way wireguard-tools'
 * wg.c keeps them: `sluice NAME ARGS...` runs NAME's function with argv
 * starting at NAME; anything else is `sluice run`. */
#ifndef SLUICE_APP_H
#define SLUICE_APP_H

#include <stddef.h>
#include <stdio.h>

typedef struct app_cmd {
	const char *name;
	int (*fn)(int argc, char **argv); /* the exit status */
	const char *args;                 /* for usage: "[-c FILE] [options]" */
	const char *help;                 /* one line */
} app_cmd_t;

extern const app_cmd_t app_cmds[];
extern const size_t app_ncmds;

/* help.c: `sluice --help`, `sluice help [TOPIC | --schemas]` */
void help_usage(FILE *f);
int help_main(int argc, char **argv);
int status_main(int argc, char **argv); /* status.c */
int reload_main(int argc, char **argv); /* control.c */

/* args.c: the command line and the configuration's layers */
struct config;
extern const char *app_cfgpath; /* -c FILE, or NULL */
/* The log's sink, format and rate from the configuration. */
int app_log_setup(const struct config *c, char *err, size_t errlen);
/* The command line into cli: 0; 1 after -h or -V (exit 0); -1 and err
 * (a usage error); -2 (help on stderr, exit 2).  Again on each reload
 * (optind = 0), from the same argv. */
int app_parse_args(int argc, char **argv, struct config *cli, int *verbosity, char *err,
                   size_t errlen);
/* The configuration from its three layers into *f (env and cli are used
 * up); 0, or -1 and err. */
int app_load_layers(struct config *f, struct config *e, struct config *c, char *err, size_t errlen);
/* workers=N > 1: no group may hold a hop whose session must be unique */
int app_groups_unique(const struct config *f, char *err, size_t errlen);

#endif
