/* vpn_users: see vpn_users.h.  Parsing is strict: a malformed line is an
 * error naming the file and line, never a user with a weak verifier. */
#include "tunnel/vpn/vpn_users.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/encoding.h"

#define MAX_USERS 65536

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > VPN_USER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || s[i] == ':' || s[i] == 0x7f)
			return 0;
	return 1;
}

static int b64_field(const char **p, uint8_t *out, size_t want)
{
	const char *s = *p, *e = strpbrk(s, "$:");
	size_t n = e ? (size_t)(e - s) : strlen(s);
	uint8_t tmp[64];

	if (n == 0 || n > 88 || b64_decode(s, n, tmp, sizeof(tmp)) != (int)want)
		return -EINVAL;
	memcpy(out, tmp, want);
	*p = s + n;
	return 0;
}

int vpn_user_parse(const char *line, vpn_user_t *u)
{
	const char *c, *p = line;
	unsigned ln, r, pp;
	int n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#')
		return 0;
	memset(u, 0, sizeof(*u));
	c = strchr(p, ':');
	if (!c || !name_ok(p, (size_t)(c - p)))
		return -EINVAL;
	memcpy(u->name, p, (size_t)(c - p));
	p = c + 1;
	if (sscanf(p, "$scrypt$ln=%u,r=%u,p=%u$%n", &ln, &r, &pp, &n) != 3 || !n)
		return -EINVAL;
	if (ln < 1 || ln > 20 || r < 1 || r > 16 || pp < 1 || pp > 4)
		return -EINVAL;
	u->v.ln = (uint8_t)ln;
	u->v.r = (uint8_t)r;
	u->v.p = (uint8_t)pp;
	p += n;
	if (b64_field(&p, u->v.salt, VPN_SALT) < 0 || *p++ != '$' ||
	    b64_field(&p, u->v.stored_key, 32) < 0 || *p++ != '$' ||
	    b64_field(&p, u->v.server_key, 32) < 0)
		return -EINVAL;
	if (*p == ':') {
		struct in_addr a;
		char ip[INET_ADDRSTRLEN];
		size_t m = strcspn(p + 1, " \t\r");
		if (m == 0 || m >= sizeof(ip))
			return -EINVAL;
		memcpy(ip, p + 1, m);
		ip[m] = 0;
		if (inet_pton(AF_INET, ip, &a) != 1)
			return -EINVAL;
		u->addr = a.s_addr;
		p += 1 + m;
	}
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	return *p ? -EINVAL : 1;
}

int vpn_user_format(const vpn_user_t *u, char *buf, size_t len)
{
	char salt[32], sk[64], svk[64], ip[INET_ADDRSTRLEN + 1] = "";
	int n;

	b64_encode(u->v.salt, VPN_SALT, salt);
	b64_encode(u->v.stored_key, 32, sk);
	b64_encode(u->v.server_key, 32, svk);
	if (u->addr) {
		ip[0] = ':';
		inet_ntop(AF_INET, &u->addr, ip + 1, sizeof(ip) - 1);
	}
	n = snprintf(buf, len, "%s:$scrypt$ln=%u,r=%u,p=%u$%s$%s$%s%s", u->name, u->v.ln, u->v.r,
	             u->v.p, salt, sk, svk, ip);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int vpn_users_load(const char *path, vpn_users_t *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned lineno = 0;
	vpn_users_t us = {0};
	size_t cap = 0;

	if (!f) {
		int e = errno;
		snprintf(err, errlen, "users file %s: %s", path, strerror(e));
		return -e;
	}
	while (fgets(line, sizeof(line), f)) {
		vpn_user_t u;
		int r;
		lineno++;
		line[strcspn(line, "\n")] = 0;
		r = vpn_user_parse(line, &u);
		if (r == 0)
			continue;
		if (r < 0 || vpn_users_find(&us, u.name) || us.n >= MAX_USERS) {
			snprintf(err, errlen,
			         "users file %s line %u: %s (want name:$scrypt$...; make it with "
			         "`sluice vpn-user add`)",
			         path, lineno, r < 0 ? "malformed" : "duplicate user or too many");
			fclose(f);
			vpn_users_free(&us);
			return -EINVAL;
		}
		if (us.n == cap) {
			cap = cap ? cap * 2 : 16;
			us.u = realloc(us.u, cap * sizeof(*us.u));
			if (!us.u)
				abort();
		}
		us.u[us.n++] = u;
	}
	fclose(f);
	*out = us;
	return 0;
}

const vpn_user_t *vpn_users_find(const vpn_users_t *us, const char *name)
{
	for (size_t i = 0; i < us->n; i++)
		if (!strcmp(us->u[i].name, name))
			return &us->u[i];
	return NULL;
}

const vpn_user_t *vpn_users_lookup(const vpn_users_t *us, const char *name)
{
	char key[VPN_USER_MAX + 1] = {0};
	const vpn_user_t *found = NULL;

	strncpy(key, name, VPN_USER_MAX);
	for (size_t i = 0; i < us->n; i++)
		if (ct_equal(us->u[i].name, key, sizeof(key)))
			found = &us->u[i];
	return found;
}

void vpn_users_free(vpn_users_t *us)
{
	if (us->u)
		OPENSSL_cleanse(us->u, us->n * sizeof(*us->u));
	free(us->u);
	us->u = NULL;
	us->n = 0;
}

/* ---- sluice vpn-user add FILE NAME [ADDRESS] ---- */

static int read_password(char *pw, size_t cap)
{
	int tty = isatty(0);
	struct termios old, t;

	if (tty) {
		fprintf(stderr, "password: ");
		tcgetattr(0, &old);
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSANOW, &t);
	}
	if (!fgets(pw, (int)cap, stdin))
		pw[0] = 0;
	if (tty) {
		tcsetattr(0, TCSANOW, &old);
		fprintf(stderr, "\n");
	}
	pw[strcspn(pw, "\r\n")] = 0;
	return pw[0] ? 0 : -EINVAL;
}

int vpn_user_main(int argc, char **argv)
{
	const char *path, *name;
	char pw[512], line[1024], tmp[4096];
	vpn_user_t u = {0};
	FILE *in, *out;
	int fd, replaced = 0;

	if (argc < 4 || argc > 5 || strcmp(argv[1], "add")) {
		fprintf(stderr,
		        "usage: sluice vpn-user add FILE NAME [ADDRESS]\n"
		        "  reads the password from the terminal or the first line of stdin\n");
		return 2;
	}
	path = argv[2];
	name = argv[3];
	if (!name_ok(name, strlen(name))) {
		fprintf(stderr, "vpn-user: bad user name '%s' (1..63 printable, no ':')\n", name);
		return 2;
	}
	snprintf(u.name, sizeof(u.name), "%s", name);
	if (argc == 5) {
		struct in_addr a;
		if (inet_pton(AF_INET, argv[4], &a) != 1) {
			fprintf(stderr, "vpn-user: '%s' is not an IPv4 address\n", argv[4]);
			return 2;
		}
		u.addr = a.s_addr;
	}
	if (read_password(pw, sizeof(pw)) < 0) {
		fprintf(stderr, "vpn-user: empty password\n");
		return 2;
	}
	if (vpn_verifier_make(pw, VPN_SCRYPT_LN, VPN_SCRYPT_R, VPN_SCRYPT_P, &u.v) < 0) {
		fprintf(stderr, "vpn-user: scrypt failed\n");
		return 1;
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* a new file of ours, never one that is there already: not a link
	 * planted to make us write elsewhere, nor another run's */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		fprintf(stderr, "vpn-user: %s: %s%s\n", tmp, strerror(e),
		        e == EEXIST ? " (another vpn-user running? if not, remove it)" : "");
		return 1;
	}
	if (!(out = fdopen(fd, "w"))) {
		fprintf(stderr, "vpn-user: %s: %s\n", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return 1;
	}
	if ((in = fopen(path, "r"))) {
		while (fgets(line, sizeof(line), in)) {
			vpn_user_t o;
			char copy[1024];
			snprintf(copy, sizeof(copy), "%s", line);
			copy[strcspn(copy, "\n")] = 0;
			if (vpn_user_parse(copy, &o) == 1 && !strcmp(o.name, name)) {
				replaced = 1;
				continue;
			}
			fputs(line, out);
			if (!strchr(line, '\n'))
				fputc('\n', out);
		}
		fclose(in);
	}
	vpn_user_format(&u, line, sizeof(line));
	fprintf(out, "%s\n", line);
	if (fclose(out) != 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "vpn-user: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return 1;
	}
	fprintf(stderr, "vpn-user: %s user %s in %s\n", replaced ? "replaced" : "added", name,
	        path);
	return 0;
}
