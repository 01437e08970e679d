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

#endif
