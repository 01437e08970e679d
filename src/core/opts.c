/* opts: see opts.h.  Values are read through url_opt_*, so a schema gives
 * the same errors, word for word, as the calls it replaces. */
#include "core/opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void *field(void *obj, const opt_t *o)
{
	return (char *)obj + o->off;
}

/* A default as written into its field; -EINVAL if it does not parse. */
static int apply_default(const opt_t *o, void *obj)
{
	char *end, err[URL_ERRLEN];
	int b;

	if (!o->def)
		return 0;
	switch (o->type) {
	case OT_FUNC:
		return o->parse(obj, o->def, err, sizeof(err));
	case OT_STR:
		*(const char **)field(obj, o) = o->def;
		return 0;
	case OT_BOOL:
		b = !strcmp(o->def, "1") ? 1 : !strcmp(o->def, "0") ? 0 : -1;
		if (b < 0)
			return -EINVAL;
		*(int *)field(obj, o) = b;
		return 0;
	case OT_UINT:
		errno = 0;
		*(uint64_t *)field(obj, o) = strtoull(o->def, &end, 10);
		return errno || *end || !o->def[0] || *(uint64_t *)field(obj, o) > o->max ? -EINVAL
		                                                                          : 0;
	case OT_DURATION:
		return parse_duration_ms(o->def, (uint64_t *)field(obj, o)) < 0 ? -EINVAL : 0;
	case OT_CIDRS:
	case OT_EACH:
		return -EINVAL; /* lists start empty; say so in def_doc */
	}
	return -EINVAL;
}

void opts_defaults(const opt_schema_t *s, void *obj)
{
	if (s->base)
		opts_defaults(s->base, (char *)obj + s->base_off);
	for (const opt_include_t *i = s->also; i && i->schema; i++)
		opts_defaults(i->schema, (char *)obj + i->off);
	for (size_t i = 0; i < s->n; i++)
		apply_default(&s->opts[i], obj);
}

typedef struct cidr_arg {
	cidr_list_t *l;
	const char *name;
	char *err;
	size_t errlen;
} cidr_arg_t;

static int cidr_one(void *ud, const char *v)
{
	cidr_arg_t *a = ud;
	char bad[64];

	if (cidr_list_add(a->l, v, bad, sizeof(bad)) < 0) {
		snprintf(a->err, a->errlen, "option '%s': '%s' is not an address or CIDR prefix",
		         a->name, bad);
		return -EINVAL;
	}
	return 0;
}

typedef struct each_arg {
	const opt_t *o;
	void *obj;
	char *err;
	size_t errlen;
} each_arg_t;

static int each_one(void *ud, const char *v)
{
	each_arg_t *a = ud;

	return a->o->parse(a->obj, v, a->err, a->errlen);
}

static int parse_one(const opt_t *o, url_t *u, void *obj, char *err, size_t errlen)
{
	const char *s;
	int b, r;

	switch (o->type) {
	case OT_STR:
		if (url_opt_str(u, o->name, &s) > 0)
			*(const char **)field(obj, o) = s;
		return 0;
	case OT_BOOL:
		if ((r = url_opt_bool(u, o->name, &b, err, errlen)) > 0)
			*(int *)field(obj, o) = b;
		return r < 0 ? r : 0;
	case OT_UINT:
		r = url_opt_uint(u, o->name, o->max, (uint64_t *)field(obj, o), err, errlen);
		return r < 0 ? r : 0;
	case OT_DURATION:
		r = url_opt_duration(u, o->name, (uint64_t *)field(obj, o), err, errlen);
		return r < 0 ? r : 0;
	case OT_CIDRS: {
		cidr_arg_t a = {field(obj, o), o->name, err, errlen};
		r = url_opt_each(u, o->name, cidr_one, &a);
		return r < 0 ? r : 0;
	}
	case OT_EACH: {
		each_arg_t a = {o, obj, err, errlen};
		r = url_opt_each(u, o->name, each_one, &a);
		return r < 0 ? r : 0;
	}
	case OT_FUNC:
		if (url_opt_str(u, o->name, &s) > 0)
			return o->parse(obj, s, err, errlen);
		return 0;
	}
	return -EINVAL;
}

static int parse_values(const opt_schema_t *s, url_t *u, void *obj, char *err, size_t errlen)
{
	int r;

	if (s->base && (r = parse_values(s->base, u, (char *)obj + s->base_off, err, errlen)) < 0)
		return r;
	for (const opt_include_t *i = s->also; i && i->schema; i++)
		if ((r = parse_values(i->schema, u, (char *)obj + i->off, err, errlen)) < 0)
			return r;
	for (size_t i = 0; i < s->n; i++)
		if ((r = parse_one(&s->opts[i], u, obj, err, errlen)) < 0)
			return r;
	return 0;
}

int opts_parse(const opt_schema_t *s, url_t *u, void *obj, char *err, size_t errlen)
{
	opts_defaults(s, obj);
	return parse_values(s, u, obj, err, errlen);
}

void opts_each(const opt_schema_t *s, void (*fn)(void *ud, const opt_t *o), void *ud)
{
	if (s->base)
		opts_each(s->base, fn, ud);
	for (const opt_include_t *i = s->also; i && i->schema; i++)
		opts_each(i->schema, fn, ud);
	for (size_t i = 0; i < s->n; i++)
		fn(ud, &s->opts[i]);
}

typedef struct check_arg {
	const opt_t *seen[256];
	size_t n;
	char *err;
	size_t errlen;
	int r;
} check_arg_t;

static void check_one(void *ud, const opt_t *o)
{
	check_arg_t *a = ud;
	union {
		const char *s;
		int b;
		uint64_t u;
	} scratch[4] = {0};

	if (a->r < 0)
		return;
	if (!o->name || !o->name[0] || !o->help || !o->help[0]) {
		snprintf(a->err, a->errlen, "option '%s': no name or no help",
		         o->name ? o->name : "");
		a->r = -EINVAL;
		return;
	}
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->seen[i]->name, o->name)) {
			snprintf(a->err, a->errlen, "option '%s' declared twice", o->name);
			a->r = -EINVAL;
			return;
		}
	if (a->n < sizeof(a->seen) / sizeof(a->seen[0]))
		a->seen[a->n++] = o;
	if ((o->type == OT_EACH || o->type == OT_FUNC) && !o->parse) {
		snprintf(a->err, a->errlen, "option '%s': a list option without a parser", o->name);
		a->r = -EINVAL;
		return;
	}
	if (o->def && o->type != OT_FUNC) { /* a parser's default needs the real struct */
		opt_t t = *o;
		t.off = 0; /* into scratch, not a real struct */
		if (apply_default(&t, scratch) < 0) {
			snprintf(a->err, a->errlen, "option '%s': default '%s' does not parse",
			         o->name, o->def);
			a->r = -EINVAL;
		}
	}
}

int opts_check(const opt_schema_t *s, char *err, size_t errlen)
{
	check_arg_t a = {.err = err, .errlen = errlen};

	opts_each(s, check_one, &a);
	return a.r;
}

const char *opt_type_name(opt_type_t t)
{
	switch (t) {
	case OT_STR:
		return "string";
	case OT_BOOL:
		return "bool";
	case OT_UINT:
		return "number";
	case OT_DURATION:
		return "duration";
	case OT_CIDRS:
		return "cidr-list";
	case OT_EACH:
		return "list";
	case OT_FUNC:
		return "string";
	}
	return "?";
}

const char *opt_arg(const opt_t *o)
{
	if (o->arg)
		return o->arg;
	switch (o->type) {
	case OT_BOOL:
		return "0|1";
	case OT_UINT:
		return "N";
	case OT_DURATION:
		return "DURATION";
	case OT_CIDRS:
		return "CIDR,...";
	default:
		return "VALUE";
	}
}

const char *opt_default(const opt_t *o)
{
	return o->def ? o->def : o->def_doc ? o->def_doc : "";
}
