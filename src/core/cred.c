/* cred: see cred.h. */
#include "core/cred.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/secret.h"

/* where the password is: cred_load() reads them through cred_opts */
typedef struct cred_doc {
	const char *file, *env, *cred;
} cred_doc_t;

static const opt_t table[] = {
    OPT_STR(cred_doc_t, file, "pass-file", "the URL's", "FILE",
            "the password: the first line of FILE (ps does not show it)"),
    OPT_STR(cred_doc_t, env, "pass-env", "the URL's", "VAR",
            "the password: the environment variable VAR"),
    OPT_STR(cred_doc_t, cred, "pass-cred", "the URL's", "NAME",
            "the password: the systemd credential NAME (the file NAME in "
            "$CREDENTIALS_DIRECTORY)"),
};

const opt_schema_t cred_opts = OPT_SCHEMA(NULL, table);

int cred_path(const char *name, char *out, size_t cap)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	int n;

	if (!dir || !*dir)
		return -ENOENT;
	if (!*name || strchr(name, '/'))
		return -EINVAL;
	n = snprintf(out, cap, "%s/%s", dir, name);
	return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

int cred_read_line(const char *path, const char *what, char **out, char *err, size_t errlen)
{
	char buf[1024];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), r;

	*out = NULL;
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(-r));
		return r;
	}
	/* others, or a group this process is not in (0640 root:sluice for a
	 * service run as sluice is what the README says) */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    ((st.st_mode & 007) || ((st.st_mode & 070) && st.st_gid != getegid())))
		log_warn(0, "%s %s can be read by others (chmod 600 it)", what, path);
	n = read(fd, buf, sizeof(buf) - 1);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(-r));
		return r;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	for (size_t e = strlen(buf); e && (buf[e - 1] == ' ' || buf[e - 1] == '\t');)
		buf[--e] = 0;
	if (!buf[0]) {
		snprintf(err, errlen, "%s %s is empty", what, path);
		secret_wipe(buf, sizeof(buf));
		return -EINVAL;
	}
	*out = strdup(buf);
	secret_wipe(buf, sizeof(buf));
	if (!*out)
		abort();
	return 0;
}

int cred_load(url_t *u, char *err, size_t errlen)
{
	const char *file, *env, *name, *v;
	char path[4096], *pass = NULL;
	cred_doc_t o = {0}; /* the schema has no defaults: NULL, not given */
	int r;

	if ((r = opts_parse(&cred_opts, u, &o, err, errlen)) < 0)
		return r;
	file = o.file;
	env = o.env;
	name = o.cred;
	if (!file && !env && !name)
		return 0;
	if (!!file + !!env + !!name > 1) {
		snprintf(err, errlen, "options 'pass-file', 'pass-env' and 'pass-cred': give one");
		return -EINVAL;
	}
	if (u->pass && u->pass[0]) {
		snprintf(err, errlen, "a password in the URL and in option '%s': give one",
		         file  ? "pass-file"
		         : env ? "pass-env"
		               : "pass-cred");
		return -EINVAL;
	}
	if (env) {
		if (!(v = getenv(env)) || !*v) {
			snprintf(err, errlen, "option 'pass-env': the variable %s is not set", env);
			return -EINVAL;
		}
		if (!(pass = strdup(v)))
			abort();
	} else {
		if (name && (r = cred_path(name, path, sizeof(path))) < 0) {
			if (r == -ENOENT)
				snprintf(err, errlen,
				         "option 'pass-cred': no $CREDENTIALS_DIRECTORY "
				         "(systemd sets it with LoadCredential=)");
			else
				snprintf(err, errlen,
				         "option 'pass-cred': '%s' is not a credential's name",
				         name);
			return -EINVAL;
		}
		if ((r = cred_read_line(name ? path : file, "the password file", &pass, err,
		                        errlen)) < 0)
			return r;
	}
	secret_free_str(u->pass);
	u->pass = pass;
	return 0;
}

/* ---- what a URL's files are now ---- */

void cred_str_append(char **s, size_t *len, const char *t)
{
	size_t n = strlen(t);

	*s = realloc(*s, *len + n + 1);
	if (!*s)
		abort();
	memcpy(*s + *len, t, n + 1);
	*len += n;
}

/* What a file an option names is now (a changed key or password file
 * makes a different chain): its inode, size and time, or nothing. */
static void stamp(char **k, size_t *len, const char *opt, const char *val)
{
	char path[4096], buf[128];
	struct stat st;
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	size_t ol = strlen(opt);

	if (!strcmp(opt, "pass-env")) { /* a digest, not the password itself */
		const char *v = getenv(val);
		uint8_t mac[32];
		if (!v)
			return;
		hmac_sha256((const uint8_t *)"chain", 5, (const uint8_t *)v, strlen(v), mac);
		for (int i = 0; i < 16; i++)
			snprintf(buf + 2 * i, sizeof(buf) - 2 * i, "%02x", mac[i]);
		cred_str_append(k, len, buf);
		return;
	}
	if (ol > 5 && !strcmp(opt + ol - 5, "-cred") && dir)
		snprintf(path, sizeof(path), "%s/%s", dir, val);
	else
		snprintf(path, sizeof(path), "%s", val);
	if (!strchr(path, '/') || stat(path, &st) < 0)
		return;
	snprintf(buf, sizeof(buf), "[%llu:%llu:%lld.%09ld]", (unsigned long long)st.st_ino,
	         (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	cred_str_append(k, len, buf);
}

void cred_url_key(char **k, size_t *len, const char *url)
{
	const char *q = strchr(url, '?');

	cred_str_append(k, len, url);
	while (q && *q) {
		char opt[64], val[2048];
		size_t n = strcspn(++q, "&"), e = strcspn(q, "=&");
		if (e < n && e < sizeof(opt) && n - e - 1 < sizeof(val)) {
			snprintf(opt, sizeof(opt), "%.*s", (int)e, q);
			snprintf(val, sizeof(val), "%.*s", (int)(n - e - 1), q + e + 1);
			stamp(k, len, opt, val);
		}
		q += n;
	}
	cred_str_append(k, len, "\n");
}
