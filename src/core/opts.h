/* opts: option schemas.  A module declares each of its URL options once, in
 * a table: name, type, limits, default, the field the value goes to, and a
 * line of help.  The same table
 *
 *   - parses: opts_parse() reads the URL's options into the module's own
 *     struct (YAML keys arrive as URL options, see config.h), with the
 *     errors url_opt_* give, naming the option;
 *   - prints `sluice help TRANSPORT` and `sluice help --schemas`;
 *   - generates the option tables of the docs (scripts/gen-options.sh),
 *     which CI regenerates and compares, so they cannot drift.
 *
 * An option nobody's table names is still refused by url_check_opts(),
 * after every table of the URL (the listener's shared options, the
 * transport's) has read it: "unknown option 'x' for ws://".
 *
 * A schema may extend a base schema (wss:// = ws:// + cert, certkey); the
 * base is parsed first, into the same struct or into a struct inside it
 * (OPT_SCHEMA_AT: the PPP link options of every PPP-carrying hop live in
 * a ppp_link_opts_t that the SSTP hop's options embed).  A schema may also
 * take in several others, each into its own member (OPT_SCHEMA_WITH: the
 * WebSocket tunnel server's options hold the tunnel key's and the
 * WebSocket's).  A value with a
 * syntax of its own (a list of methods, an address) has a parser
 * (OT_FUNC); what needs the world (a file that must exist) is checked by
 * the module, which names the option.
 *
 * The OPT_* macros check at compile time that the field has the type the
 * option writes.
 */
#ifndef SLUICE_OPTS_H
#define SLUICE_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/acl.h"
#include "core/url.h"

typedef enum opt_type {
	OT_STR,      /* const char *: the URL's copy, valid as long as the url_t; NULL if absent */
	OT_BOOL,     /* int: 1/0, true/false, yes/no, on/off */
	OT_UINT,     /* uint64_t, 0 to .max */
	OT_DURATION, /* uint64_t milliseconds: 30 (seconds), 500ms, 10s, 2m, 1h */
	OT_CIDRS,    /* cidr_list_t: addresses or prefixes, comma-separated and/or repeated */
	OT_EACH,     /* repeatable: .parse(obj, value) for every value, in order */
	OT_FUNC,     /* one value: .parse(obj, value); its default too */
} opt_type_t;

typedef struct opt {
	const char *name;
	opt_type_t type;
	size_t off;          /* the field, in the struct opts_parse() fills */
	uint64_t max;        /* OT_UINT: the largest value */
	const char *def;     /* applied before parsing, as a user would write it; NULL: the
	                      * field keeps what the module put there (see def_doc) */
	const char *def_doc; /* the default in words, when it is not a constant */
	const char *arg;     /* the value in help: "FILE", "N", "CIDR,..." (NULL: by type) */
	const char *help;    /* one line */
	/* OT_EACH, OT_FUNC: one value into obj, the whole struct the schema
	 * fills.  0 or -EINVAL with a message naming the option. */
	int (*parse)(void *obj, const char *val, char *err, size_t errlen);
} opt_t;

/* A schema parsed as part of another, into the struct at off inside it. */
typedef struct opt_include {
	const struct opt_schema *schema;
	size_t off;
} opt_include_t;

typedef struct opt_schema {
	const struct opt_schema *base; /* parsed first; may be NULL */
	size_t base_off;               /* where the base's struct is, inside ours */
	const opt_t *opts;
	size_t n;
	const opt_include_t *also; /* then these, ending with {NULL, 0}; may be NULL */
} opt_schema_t;

#define OPT_FIELD_(T, f, ctype)                                                                    \
	(offsetof(T, f) +                                                                          \
	 0 * sizeof(char[__builtin_types_compatible_p(__typeof__(((T *)0)->f), ctype) ? 1 : -1]))

/* A string stays NULL when not given (the module decides what that means);
 * def_doc_ says what it is then, for help. */
#define OPT_STR(T, f, name_, def_doc_, arg_, help_)                                                \
	{                                                                                          \
		.name = name_, .type = OT_STR, .off = OPT_FIELD_(T, f, const char *),              \
		.def_doc = def_doc_, .arg = arg_, .help = help_                                    \
	}
#define OPT_BOOL(T, f, name_, def_, help_)                                                         \
	{                                                                                          \
		.name = name_, .type = OT_BOOL, .off = OPT_FIELD_(T, f, int), .def = def_,         \
		.help = help_                                                                      \
	}
/* A switch whose default depends on more than the option (def_doc says
 * on what): the module sets the field to -1 before parsing. */
#define OPT_BOOL_DOC(T, f, name_, def_doc_, help_)                                                 \
	{                                                                                          \
		.name = name_, .type = OT_BOOL, .off = OPT_FIELD_(T, f, int), .def_doc = def_doc_, \
		.help = help_                                                                      \
	}
#define OPT_UINT(T, f, name_, max_, def_, help_)                                                   \
	{                                                                                          \
		.name = name_, .type = OT_UINT, .off = OPT_FIELD_(T, f, uint64_t), .max = max_,    \
		.def = def_, .help = help_                                                         \
	}
#define OPT_DURATION(T, f, name_, def_, help_)                                                     \
	{                                                                                          \
		.name = name_, .type = OT_DURATION, .off = OPT_FIELD_(T, f, uint64_t),             \
		.def = def_, .help = help_                                                         \
	}
/* The field keeps the module's default when the option is absent. */
#define OPT_DURATION_DOC(T, f, name_, def_doc_, help_)                                             \
	{                                                                                          \
		.name = name_, .type = OT_DURATION, .off = OPT_FIELD_(T, f, uint64_t),             \
		.def_doc = def_doc_, .help = help_                                                 \
	}
#define OPT_CIDRS(T, f, name_, def_doc_, help_)                                                    \
	{                                                                                          \
		.name = name_, .type = OT_CIDRS, .off = OPT_FIELD_(T, f, cidr_list_t),             \
		.def_doc = def_doc_, .arg = "CIDR,...", .help = help_                              \
	}
#define OPT_EACH(name_, fn_, arg_, help_)                                                          \
	{                                                                                          \
		.name = name_, .type = OT_EACH, .arg = arg_, .help = help_, .parse = fn_           \
	}
#define OPT_FUNC(name_, fn_, def_, arg_, help_)                                                    \
	{                                                                                          \
		.name = name_, .type = OT_FUNC, .def = def_, .arg = arg_, .help = help_,           \
		.parse = fn_                                                                       \
	}

/* a value with a parser whose default is not a constant (def_doc_ says
 * what happens when it is not given) */
#define OPT_FUNC_DOC(name_, fn_, def_doc_, arg_, help_)                                            \
	{                                                                                          \
		.name = name_, .type = OT_FUNC, .def_doc = def_doc_, .arg = arg_, .help = help_,   \
		.parse = fn_                                                                       \
	}

#define OPT_SCHEMA(base_, table_)                                                                  \
	{                                                                                          \
		base_, 0, table_, sizeof(table_) / sizeof((table_)[0]), NULL                       \
	}
/* base_'s struct is the member m of T */
#define OPT_SCHEMA_AT(T, m, base_, table_)                                                         \
	{                                                                                          \
		base_, offsetof(T, m), table_, sizeof(table_) / sizeof((table_)[0]), NULL          \
	}
/* several schemas inside ours: also_ is an opt_include_t array ending with {NULL, 0} */
#define OPT_SCHEMA_WITH(also_, table_)                                                             \
	{                                                                                          \
		NULL, 0, table_, sizeof(table_) / sizeof((table_)[0]), also_                       \
	}
#define OPT_INCLUDE(T, m, schema_)                                                                 \
	{                                                                                          \
		schema_, offsetof(T, m)                                                            \
	}

/* Apply the defaults of s (base first) to obj.  Cannot fail for a schema
 * whose defaults parse (opts_check() says). */
void opts_defaults(const opt_schema_t *s, void *obj);
/* Defaults, then every option of s that u carries, into obj.  0, or
 * -EINVAL with a message naming the option.  Marks the options used, for
 * url_check_opts(). */
int opts_parse(const opt_schema_t *s, url_t *u, void *obj, char *err, size_t errlen);
/* A schema is well formed: names unique, defaults that parse, help text.
 * 0, or -EINVAL naming the first fault (for tests). */
int opts_check(const opt_schema_t *s, char *err, size_t errlen);

/* The value placeholder for help: o->arg, or one by type ("N", "DURATION"). */
const char *opt_arg(const opt_t *o);
/* The default for help: def, def_doc or "". */
const char *opt_default(const opt_t *o);
const char *opt_type_name(opt_type_t t);

/* Visit every option of s, base first. */
void opts_each(const opt_schema_t *s, void (*fn)(void *ud, const opt_t *o), void *ud);

#endif
