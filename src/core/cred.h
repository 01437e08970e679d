/* cred: a URL's password from somewhere ps cannot see.
 *
 * A listener or hop that takes user:pass@ (its transport_doc_t.pass says
 * so) also takes, instead of the password in the URL:
 *
 *   pass-file=FILE   the first line of FILE (a warning when others may
 *                    read it: other users, or a group not this process's)
 *   pass-env=VAR     the environment variable VAR
 *   pass-cred=NAME   the systemd credential NAME: the file NAME in
 *                    $CREDENTIALS_DIRECTORY (LoadCredential=, SetCredential=)
 *
 * cred_load() reads the one given into u->pass before the transport reads
 * the URL.  A password both in the URL and in an option, or two options,
 * is an error.  The file or variable is read when the URL is built: at
 * start and on each reload, so a changed password takes effect then.
 */
#ifndef SLUICE_CRED_H
#define SLUICE_CRED_H

#include <stddef.h>

#include "core/opts.h"
#include "core/url.h"

extern const opt_schema_t cred_opts;

/* 0 (nothing given, or u->pass set from it), or -errno with a message
 * naming the option. */
int cred_load(url_t *u, char *err, size_t errlen);
/* The file NAME in $CREDENTIALS_DIRECTORY into out; -ENOENT without one. */
int cred_path(const char *name, char *out, size_t cap);
/* The first line of path, trailing blanks cut, into a new string (*out,
 * to free with secret_free_str); a warning when others may read it.
 * what names it in messages ("the password file"). */
int cred_read_line(const char *path, const char *what, char **out, char *err, size_t errlen);

/* What a URL is now, for a reload to tell whether it changed: the URL
 * appended to *s (a string of *len bytes, grown), and after it the inode,
 * size and time of each file its options name (pass-file=, keyfile=,
 * key-cred=, users=, ...: a value that is a path, or a credential's name)
 * and a digest of pass-env='s variable.  cred_str_append appends t. */
void cred_url_key(char **s, size_t *len, const char *url);
void cred_str_append(char **s, size_t *len, const char *t);

#endif
