/* users: see users.h. */
#include "core/users.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/secret.h"

typedef struct user {
	char *name, *pass;
} user_t;

struct users {
	user_t *v;
	size_t n;
};

void users_free(users_t *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++) {
		free(u->v[i].name);
		secret_free_str(u->v[i].pass);
	}
	free(u->v);
	free(u);
}

int users_load(const char *path, users_t **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	users_t *u;
	struct stat st;
	int lineno = 0;

	if (!f) {
		snprintf(err, errlen, "users=%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		log_warn(0, "users file %s is readable by others (chmod 600 it)", path);
	u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	while (fgets(line, sizeof(line), f)) {
		char *colon, *end = line + strcspn(line, "\r\n");
		lineno++;
		*end = 0;
		if (!line[0] || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		if (!colon || colon == line || !colon[1]) {
			snprintf(err, errlen, "users=%s:%d: expected name:password", path, lineno);
			fclose(f);
			users_free(u);
			return -EINVAL;
		}
		*colon = 0;
		u->v = realloc(u->v, (u->n + 1) * sizeof(*u->v));
		if (!u->v)
			abort();
		u->v[u->n].name = strdup(line);
		u->v[u->n].pass = strdup(colon + 1);
		u->n++;
	}
	fclose(f);
	*out = u;
	return 0;
}

int users_lookup(const users_t *u, const char *name, char *out, size_t cap)
{
	for (size_t i = 0; u && i < u->n; i++) {
		if (!strcmp(u->v[i].name, name)) {
			size_t n = strlen(u->v[i].pass);
			if (n >= cap)
				return -1;
			memcpy(out, u->v[i].pass, n + 1);
			return (int)n;
		}
	}
	return -1;
}

size_t users_count(const users_t *u)
{
	return u ? u->n : 0;
}
