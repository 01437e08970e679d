/* Unit tests: core/opts (option schemas) and the schemas of every
 * transport built in (app/transports.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "app/transports.h"
#include "core/listener.h"
#include "core/opts.h"
#include "core/transport.h"
#include "core/url.h"

typedef struct cfg {
	const char *name;
	int flag;
	uint64_t count, wait_ms;
	cidr_list_t nets;
	const char *seen[4];
	int nseen;
	const char *extra;
	int pick;
} cfg_t;

/* a schema whose base fills a struct inside ours */
typedef struct outer {
	int before;
	cfg_t in;
	uint64_t after;
} outer_t;

static int one_item(void *obj, const char *val, char *err, size_t errlen)
{
	cfg_t *c = obj;

	if (!strcmp(val, "bad")) {
		snprintf(err, errlen, "option 'item': '%s' is bad", val);
		return -EINVAL;
	}
	if (c->nseen < 4)
		c->seen[c->nseen++] = val;
	return 0;
}

static int pick(void *obj, const char *val, char *err, size_t errlen)
{
	cfg_t *c = obj;

	if (strcmp(val, "a") && strcmp(val, "b")) {
		snprintf(err, errlen, "option 'pick': a or b");
		return -EINVAL;
	}
	c->pick = val[0] == 'a' ? 1 : 2;
	return 0;
}

static const opt_t base_opts[] = {
    OPT_STR(cfg_t, name, "name", "none", "NAME", "a name"),
    OPT_FUNC("pick", pick, "b", "a|b", "a choice"),
    OPT_BOOL(cfg_t, flag, "flag", "1", "a flag"),
    OPT_UINT(cfg_t, count, "count", 100, "7", "a count"),
    OPT_DURATION(cfg_t, wait_ms, "wait", "10s", "a wait"),
    OPT_CIDRS(cfg_t, nets, "nets", "none", "networks"),
    OPT_EACH("item", one_item, "X", "items"),
};
static const opt_schema_t base = OPT_SCHEMA(NULL, base_opts);
static const opt_t more_opts[] = {
    OPT_STR(cfg_t, extra, "extra", NULL, "FILE", "only in the extension"),
};
static const opt_schema_t more = OPT_SCHEMA(&base, more_opts);

static url_t *parse(const char *s)
{
	url_t *u;
	char err[URL_ERRLEN];

	assert_int_equal(url_parse(s, &u, err, sizeof(err)), 0);
	return u;
}

/* The error opts_parse gives for URL s, which must fail. */
static void expect_err(const opt_schema_t *sc, const char *s, const char *want)
{
	url_t *u = parse(s);
	cfg_t c = {0};
	char err[URL_ERRLEN] = "";

	assert_int_equal(opts_parse(sc, u, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	cidr_list_free(&c.nets);
	url_free(u);
}

static void test_defaults(void **st)
{
	url_t *u = parse("x://h:1");
	cfg_t c = {0};
	char err[URL_ERRLEN];

	assert_int_equal(opts_parse(&more, u, &c, err, sizeof(err)), 0);
	assert_null(c.name);
	assert_int_equal(c.pick, 2);
	assert_int_equal(c.flag, 1);
	assert_int_equal(c.count, 7);
	assert_int_equal(c.wait_ms, 10000);
	assert_int_equal(c.nets.n, 0);
	assert_null(c.extra);
	assert_int_equal(url_check_opts(u, err, sizeof(err)), 0);
	url_free(u);
}

static void test_values(void **st)
{
	url_t *u = parse("x://h:1?name=bob&flag=off&count=100&wait=250ms&nets=10.0.0.0/8,::1"
	                 "&nets=192.168.0.0/16&item=a&item=b&extra=f.pem&pick=a");
	cfg_t c = {0};
	char err[URL_ERRLEN];

	assert_int_equal(opts_parse(&more, u, &c, err, sizeof(err)), 0);
	assert_string_equal(c.name, "bob");
	assert_int_equal(c.flag, 0);
	assert_int_equal(c.count, 100);
	assert_int_equal(c.wait_ms, 250);
	assert_int_equal(c.nets.n, 3);
	assert_int_equal(c.nseen, 2);
	assert_string_equal(c.seen[0], "a");
	assert_string_equal(c.seen[1], "b");
	assert_string_equal(c.extra, "f.pem");
	assert_int_equal(c.pick, 1);
	assert_int_equal(url_check_opts(u, err, sizeof(err)), 0);
	cidr_list_free(&c.nets);
	url_free(u);
}

/* the messages url_opt_* give, word for word */
static void test_errors(void **st)
{
	expect_err(&base, "x://h:1?count=101",
	           "option 'count': '101' is not a number from 0 to 100");
	expect_err(&base, "x://h:1?count=-1", "option 'count': '-1' is not a number from 0 to 100");
	expect_err(&base, "x://h:1?flag=maybe", "option 'flag': 'maybe' is not 1/0/true/false");
	expect_err(&base, "x://h:1?wait=soon",
	           "option 'wait': 'soon' is not a duration (30, 500ms, 10s, 2m)");
	expect_err(&base, "x://h:1?nets=10.0.0.0/99",
	           "option 'nets': '10.0.0.0/99' is not an address or CIDR prefix");
	expect_err(&base, "x://h:1?item=a&item=bad", "option 'item': 'bad' is bad");
	expect_err(&base, "x://h:1?pick=c", "option 'pick': a or b");
}

static const opt_t outer_opts[] = {
    OPT_UINT(outer_t, after, "after", 10, "3", "after the base"),
};
static const opt_schema_t outer = OPT_SCHEMA_AT(outer_t, in, &base, outer_opts);

/* two schemas taken in, each into its own member, then our own options */
typedef struct two {
	cfg_t a;
	outer_t b;
	int own;
} two_t;

static const opt_include_t two_inc[] = {
    OPT_INCLUDE(two_t, b, &outer),
    {NULL, 0},
};
static const opt_t two_opts[] = {OPT_BOOL(two_t, own, "own", "1", "our own")};
static const opt_schema_t two = OPT_SCHEMA_WITH(two_inc, two_opts);

static void test_with(void **st)
{
	url_t *u = parse("x://h:1?count=5&after=2&own=0");
	two_t t = {.a = {.count = 42}};
	char err[URL_ERRLEN];

	assert_int_equal(opts_parse(&two, u, &t, err, sizeof(err)), 0);
	assert_int_equal(t.a.count, 42); /* not included: untouched */
	assert_int_equal(t.b.in.count, 5);
	assert_int_equal(t.b.after, 2);
	assert_int_equal(t.own, 0);
	assert_int_equal(opts_check(&two, err, sizeof(err)), 0);
	assert_int_equal(url_check_opts(u, err, sizeof(err)), 0);
	url_free(u);
}

static void test_base_inside(void **st)
{
	url_t *u = parse("x://h:1?count=9&after=4");
	outer_t o = {.before = 77};
	char err[URL_ERRLEN];

	assert_int_equal(opts_parse(&outer, u, &o, err, sizeof(err)), 0);
	assert_int_equal(o.before, 77);
	assert_int_equal(o.in.count, 9);
	assert_int_equal(o.in.wait_ms, 10000);
	assert_int_equal(o.in.pick, 2);
	assert_int_equal(o.after, 4);
	assert_int_equal(url_check_opts(u, err, sizeof(err)), 0);
	url_free(u);
}

/* an option no schema read is unknown; one value given twice is refused */
static void test_unknown_and_twice(void **st)
{
	url_t *u = parse("x://h:1?extra=f");
	cfg_t c = {0};
	char err[URL_ERRLEN];

	assert_int_equal(opts_parse(&base, u, &c, err, sizeof(err)), 0);
	assert_int_equal(url_check_opts(u, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown option 'extra' for x://");
	url_free(u);

	u = parse("x://h:1?name=a&name=b");
	assert_int_equal(opts_parse(&base, u, &c, err, sizeof(err)), 0);
	assert_int_equal(url_check_opts(u, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "option 'name' given twice");
	url_free(u);
}

static void test_check(void **st)
{
	static const opt_t twice[] = {
	    OPT_BOOL(cfg_t, flag, "a", "0", "one"),
	    OPT_BOOL(cfg_t, flag, "a", "0", "two"),
	};
	static const opt_t bad_def[] = {OPT_UINT(cfg_t, count, "n", 5, "6", "over its max")};
	static const opt_t no_help[] = {OPT_BOOL(cfg_t, flag, "a", "0", "")};
	static const opt_t base_dup[] = {OPT_STR(cfg_t, extra, "name", NULL, NULL, "again")};
	const opt_schema_t s1 = OPT_SCHEMA(NULL, twice), s2 = OPT_SCHEMA(NULL, bad_def),
	                   s3 = OPT_SCHEMA(NULL, no_help), s4 = OPT_SCHEMA(&base, base_dup);
	char err[200];

	assert_int_equal(opts_check(&more, err, sizeof(err)), 0);
	assert_int_equal(opts_check(&s1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "declared twice"));
	assert_int_equal(opts_check(&s2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not parse"));
	assert_int_equal(opts_check(&s3, err, sizeof(err)), -EINVAL);
	assert_int_equal(opts_check(&s4, err, sizeof(err)), -EINVAL);
}

/* Every schema built in is well formed and does not clash with the
 * listener options every listener also reads. */
static void clash(void *ud, const opt_t *o)
{
	const opt_t *l = listener_opts.opts;

	for (size_t i = 0; i < listener_opts.n; i++)
		if (!strcmp(l[i].name, o->name))
			fail_msg("%s://: option '%s' is also a listener option", (const char *)ud,
			         o->name);
}

static void test_builtin_schemas(void **st)
{
	char err[200];
	size_t nschemes = 0;

	app_transports_register();
	if (opts_check(&listener_opts, err, sizeof(err)) < 0)
		fail_msg("listener options: %s", err);
	for (const transport_t *const *t = transport_table(); *t; t++) {
		assert_non_null((*t)->summary);
		for (size_t i = 0; i < (*t)->nschemes; i++) {
			const transport_scheme_t *s = &(*t)->schemes[i];
			nschemes++;
			assert_true(s->listen || s->hop);
			if (s->listen) {
				assert_non_null(s->listen_doc.usage);
				assert_ptr_equal(transport_listener(s->scheme), s);
			}
			if (s->hop) {
				assert_non_null(s->hop_doc.usage);
				assert_true(s->hop_caps & HOP_STREAMS);
				assert_ptr_equal(transport_hop(s->scheme), s);
			}
			if (s->listen_doc.opts) {
				if (opts_check(s->listen_doc.opts, err, sizeof(err)) < 0)
					fail_msg("-L %s://: %s", s->scheme, err);
				opts_each(s->listen_doc.opts, clash, (void *)s->scheme);
			}
			if (s->hop_doc.opts && opts_check(s->hop_doc.opts, err, sizeof(err)) < 0)
				fail_msg("-F %s://: %s", s->scheme, err);
		}
		assert_ptr_equal(transport_by_name((*t)->name), *t);
	}
	assert_true(nschemes >= 20);
	assert_null(transport_listener("gopher"));
	assert_null(transport_hop("proxy")); /* a listener only */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults), cmocka_unit_test(test_values),
	    cmocka_unit_test(test_errors),   cmocka_unit_test(test_base_inside),
	    cmocka_unit_test(test_with),     cmocka_unit_test(test_unknown_and_twice),
	    cmocka_unit_test(test_check),    cmocka_unit_test(test_builtin_schemas),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
