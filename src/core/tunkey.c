/* tunkey: see tunkey.h. */
#include "core/tunkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/cred.h"
#include "core/log.h"
#include "core/secret.h"

int tunkey_default_path(char *out, size_t cap)
{
	const char *v;
	int n;

	if ((v = getenv("SLUICE_KEY_FILE")) && *v)
		n = snprintf(out, cap, "%s", v);
	else if ((v = getenv("XDG_CONFIG_HOME")) && *v == '/')
		n = snprintf(out, cap, "%s/sluice/key", v);
	else if ((v = getenv("HOME")) && *v == '/')
		n = snprintf(out, cap, "%s/.config/sluice/key", v);
	else
		return -ENOENT;
	return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

/* The key on the first line of path.  -errno, or -EINVAL for what is not
 * a key (with err set either way). */
static int read_key(const char *path, uint8_t *key, size_t *len, char *err, size_t errlen)
{
	char *line;
	int r = cred_read_line(path, "the key file", &line, err, errlen);

	if (r < 0 && r != -EINVAL)
		return r;
	if (r == 0 && key_parse(line + strspn(line, " \t"), key, len) == 0) {
		secret_free_str(line);
		return 0;
	}
	secret_free_str(line);
	snprintf(err, errlen,
	         "the key file %s does not hold a key (base64 of 16 to 64 bytes: "
	         "`sluice keygen > %s`)",
	         path, path);
	return -EINVAL;
}

/* mkdir -p the directories above path, private ones (0700). */
static int make_parents(const char *path)
{
	char dir[4096];
	size_t n = strlen(path);

	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* A new key file at path; -EEXIST when one appeared meanwhile. */
static int create_key(const char *path, char *err, size_t errlen)
{
	char b64[64];
	int fd, r;
	size_t n;

	if ((r = make_parents(path)) < 0) {
		snprintf(err, errlen, "cannot make the directory of %s: %s", path, strerror(-r));
		return r;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		if (r != -EEXIST)
			snprintf(err, errlen, "cannot create the key file %s: %s", path,
			         strerror(-r));
		return r;
	}
	key_generate(b64, sizeof(b64));
	n = strlen(b64);
	b64[n++] = '\n';
	r = write(fd, b64, n) == (ssize_t)n && fsync(fd) == 0 ? 0 : -errno;
	OPENSSL_cleanse(b64, sizeof(b64));
	close(fd);
	if (r < 0) {
		unlink(path);
		snprintf(err, errlen, "cannot write the key file %s: %s", path, strerror(-r));
	}
	return r;
}

static const opt_t opts[] = {
    OPT_STR(tunkey_opts_t, key, "key", "the default key file", "KEY",
            "the tunnel's key, base64 as sluice keygen prints it (it shows in ps; keyfile= "
            "does not)"),
    OPT_STR(tunkey_opts_t, keyfile, "keyfile", "the default key file", "FILE",
            "a file whose first line is the key"),
    OPT_STR(tunkey_opts_t, keyfile, "key-file", "the default key file", "FILE",
            "the same as keyfile="),
    OPT_STR(tunkey_opts_t, keycred, "key-cred", "the default key file", "NAME",
            "the key in the systemd credential NAME (the file NAME in "
            "$CREDENTIALS_DIRECTORY)"),
};

const opt_schema_t tunkey_opts = OPT_SCHEMA(NULL, opts);

int tunkey_get(url_t *u, int server, uint8_t *key, size_t *len, char *err, size_t errlen)
{
	tunkey_opts_t o = {NULL, NULL, NULL};
	int r = opts_parse(&tunkey_opts, u, &o, err, errlen);

	return r < 0 ? r : tunkey_load(&o, server, key, len, err, errlen);
}

int tunkey_load(const tunkey_opts_t *o, int server, uint8_t *key, size_t *len, char *err,
                size_t errlen)
{
	const char *k = o->key, *file = o->keyfile;
	char path[4096], cpath[4096];
	int r;

	if (!!k + !!file + !!o->keycred > 1) {
		snprintf(err, errlen, "options 'key', 'keyfile' and 'key-cred': give one of them");
		return -EINVAL;
	}
	if (o->keycred) {
		if (cred_path(o->keycred, cpath, sizeof(cpath)) < 0) {
			snprintf(err, errlen,
			         "option 'key-cred': no $CREDENTIALS_DIRECTORY or a bad name '%s'",
			         o->keycred);
			return -EINVAL;
		}
		file = cpath;
	}
	if (k) {
		if (key_parse(k, key, len) < 0) {
			snprintf(
			    err, errlen,
			    "option 'key': not base64 of 16 to 64 bytes (use `sluice keygen`)");
			return -EINVAL;
		}
		return 0;
	}
	if (file)
		return read_key(file, key, len, err, errlen);
	if (tunkey_default_path(path, sizeof(path)) < 0) {
		snprintf(err, errlen,
		         "option 'key' or 'keyfile' is required (no HOME for a default key file)");
		return -EINVAL;
	}
	r = tunkey_file(path, server, key, len, err, errlen);
	if (r == -ENOENT && !server)
		snprintf(err, errlen,
		         "option 'key' or 'keyfile' is required: the default key file %s does "
		         "not exist (a server run by this user creates it)",
		         path);
	if (r == 1)
		log_info(0,
		         "created the key file %s; clients on other hosts need key=<its contents>",
		         path);
	return r < 0 ? r : 0;
}

int tunkey_file(const char *path, int create, uint8_t *key, size_t *len, char *err, size_t errlen)
{
	int made = 0, r;

	if (create && access(path, F_OK) < 0 && errno == ENOENT) {
		r = create_key(path, err, errlen);
		if (r < 0 && r != -EEXIST)
			return r;
		made = r == 0;
	}
	r = read_key(path, key, len, err, errlen);
	return r < 0 ? r : made;
}
