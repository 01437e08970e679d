/* tunkey: the shared key of a tunnel URL (sctp, sctp+udp, ws, wss).
 *
 *   key=BASE64     the key itself (it shows in `ps`; keyfile= does not)
 *   keyfile=PATH   a file whose first line is the key (key-file= too)
 *   key-cred=NAME  the systemd credential NAME: the file NAME in
 *                  $CREDENTIALS_DIRECTORY (core/cred.h)
 *   neither        the default key file: $SLUICE_KEY_FILE, else
 *                  $XDG_CONFIG_HOME/sluice/key, else ~/.config/sluice/key.
 *                  A server creates it (mode 0600, 32 random bytes) when it
 *                  does not exist yet, and says so in its log; a client
 *                  needs it to exist.  So a server and a client run by the
 *                  same user on one host agree with no key on the command
 *                  line; a client elsewhere passes the server's key.
 *
 * A key file that others may read is used, with a warning.
 */
#ifndef SLUICE_TUNKEY_H
#define SLUICE_TUNKEY_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/opts.h"
#include "core/url.h"

/* The options key= and keyfile=, as a schema a tunnel's options embed
 * (OPT_SCHEMA_AT). */
typedef struct tunkey_opts {
	const char *key, *keyfile, *keycred;
} tunkey_opts_t;
extern const opt_schema_t tunkey_opts;

/* Fill key (KEY_MAX bytes) and *len from the options or the default file.
 * 0, or -errno with a message naming the option or the file. */
int tunkey_load(const tunkey_opts_t *o, int server, uint8_t *key, size_t *len, char *err,
                size_t errlen);
/* The same from u's options. */
int tunkey_get(url_t *u, int server, uint8_t *key, size_t *len, char *err, size_t errlen);

/* The key in the file at path.  With create, a missing file is made first
 * (32 random bytes in base64, mode 0600, its directories 0700).  1 when it
 * was made, 0 when it was there, -errno (-ENOENT: missing) with a message. */
int tunkey_file(const char *path, int create, uint8_t *key, size_t *len, char *err, size_t errlen);

/* The default key file's path into out; -ENOENT when no variable names a
 * home for it. */
int tunkey_default_path(char *out, size_t cap);

#endif
