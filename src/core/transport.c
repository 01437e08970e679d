/* transport: the registry of transports (see transport.h).  One static
 * table, set once by the application; lookups walk it in order, so the
 * first transport that claims a scheme for a role has it. */
#include "core/transport.h"

#include <stdio.h>
#include <string.h>

static const transport_t *const *table;

void transport_register(const transport_t *const *t)
{
	table = t;
}

const transport_t *const *transport_table(void)
{
	static const transport_t *const none[] = {NULL};

	return table ? table : none;
}

static const transport_scheme_t *lookup(const char *scheme, int hop)
{
	for (const transport_t *const *t = transport_table(); *t; t++)
		for (size_t i = 0; i < (*t)->nschemes; i++) {
			const transport_scheme_t *s = &(*t)->schemes[i];
			if (!strcmp(s->scheme, scheme) &&
			    (hop ? s->hop != NULL : s->listen != NULL))
				return s;
		}
	return NULL;
}

const transport_scheme_t *transport_listener(const char *scheme)
{
	return lookup(scheme, 0);
}

const transport_scheme_t *transport_hop(const char *scheme)
{
	return lookup(scheme, 1);
}

const transport_t *transport_by_name(const char *name)
{
	const transport_t *const *t;

	for (t = transport_table(); *t; t++)
		if (!strcmp((*t)->name, name))
			return *t;
	for (t = transport_table(); *t; t++)
		for (size_t i = 0; i < (*t)->nschemes; i++)
			if (!strcmp((*t)->schemes[i].scheme, name))
				return *t;
	return NULL;
}

void transport_list(char *buf, size_t len, int hops)
{
	size_t off = 0;

	buf[0] = 0;
	for (const transport_t *const *t = transport_table(); *t; t++)
		for (size_t i = 0; i < (*t)->nschemes && off < len; i++) {
			const transport_scheme_t *s = &(*t)->schemes[i];
			if (hops ? !s->hop : !s->listen)
				continue;
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
			                        s->scheme);
		}
}

int transports_start(uv_loop_t *loop, char *err, size_t errlen)
{
	int r;

	for (const transport_t *const *t = transport_table(); *t; t++)
		if ((*t)->start && (r = (*t)->start(loop, err, errlen)) < 0)
			return r;
	return 0;
}

void transports_stop(void)
{
	for (const transport_t *const *t = transport_table(); *t; t++)
		if ((*t)->stop)
			(*t)->stop();
}
