/* Unit tests: core/metrics' table-driven writers, labels and unregister. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

typedef struct thing {
	char name[64];
	uint64_t opens;
	size_t pool;
	unsigned up;
	uint16_t small;
} thing_t;

static const metric_t rows[] = {
    METRIC(thing_t, opens, "sluice_test_opens_total", "counter", "Opens."),
    METRIC(thing_t, pool, "sluice_test_pool", "gauge", "Pooled now."),
    METRIC(thing_t, up, "sluice_test_up", "gauge", "1 while up."),
    METRIC(thing_t, small, "sluice_test_small", "gauge", "A narrow field."),
    METRIC_X(thing_t, opens, "sluice_test_dir_total", "counter", "By direction.", "dir=\"in\""),
    METRIC_X(thing_t, pool, "sluice_test_dir_total", "counter", "By direction.", "dir=\"out\""),
};

static void writer(mbuf_t *b, void *ud)
{
	thing_t *t = ud;
	char lab[160];

	METRICS_TABLE(b, rows, t, metrics_label(lab, sizeof(lab), "hop", t->name));
	metrics_sample(b, "sluice_test_computed", "gauge", "Computed.", "", t->opens * 2);
}

static char *render(void)
{
	mbuf_t b = {0};

	metrics_render(&b);
	mbuf_printf(&b, "%s", ""); /* NUL-terminated even when empty */
	return b.p;
}

static void test_table(void **st)
{
	thing_t a = {"a", 7, 3, 1, 65535}, z = {"z\"q\\x\ny", 1, 0, 0, 0};
	char *out;

	metrics_register(writer, &a);
	metrics_register(writer, &z);
	out = render();
	/* one HELP/TYPE per family, both instances' samples under it */
	assert_non_null(strstr(out, "# HELP sluice_test_opens_total Opens.\n"
	                            "# TYPE sluice_test_opens_total counter\n"));
	assert_non_null(strstr(out, "sluice_test_opens_total{hop=\"a\"} 7\n"));
	assert_non_null(strstr(out, "sluice_test_opens_total{hop=\"z\\\"q\\\\x\\ny\"} 1\n"));
	assert_non_null(strstr(out, "sluice_test_pool{hop=\"a\"} 3\n"));
	assert_non_null(strstr(out, "sluice_test_up{hop=\"a\"} 1\n"));
	assert_non_null(strstr(out, "sluice_test_small{hop=\"a\"} 65535\n"));
	assert_non_null(strstr(out, "sluice_test_computed 14\n"));
	assert_non_null(strstr(out, "sluice_test_dir_total{hop=\"a\",dir=\"in\"} 7\n"
	                            "sluice_test_dir_total{hop=\"a\",dir=\"out\"} 3\n"));
	assert_null(strstr(strstr(out, "# HELP sluice_test_pool") + 1, "# HELP sluice_test_pool"));
	free(out);
	/* a writer never outlives what it reads */
	metrics_unregister(writer, &z);
	out = render();
	assert_null(strstr(out, "hop=\"z"));
	assert_non_null(strstr(out, "hop=\"a\""));
	free(out);
	metrics_unregister(writer, &a);
	metrics_unregister(writer, &a); /* not there: nothing */
	out = render();
	assert_null(strstr(out, "sluice_test_"));
	free(out);
}

static void test_label(void **st)
{
	char buf[12];

	assert_string_equal(metrics_label(buf, sizeof(buf), "k", "v"), "k=\"v\"");
	assert_string_equal(metrics_label(buf, sizeof(buf), "k", "a\"b"), "k=\"a\\\"b\"");
	metrics_label(buf, sizeof(buf), "k", "a very long value");
	assert_true(strlen(buf) < sizeof(buf)); /* cut, never past the end */
}

/* Two workers' texts summed: amounts add up, states take the largest, a
 * sample only one has is kept, # lines once, families stay together. */
static void test_sum(void **st)
{
	const char *a = "# HELP sluice_x_total X.\n# TYPE sluice_x_total counter\n"
	                "sluice_x_total{l=\"a\"} 3\n"
	                "# HELP sluice_s_up Up.\n# TYPE sluice_s_up gauge\nsluice_s_up 1\n"
	                "# HELP sluice_d_seconds D.\n# TYPE sluice_d_seconds histogram\n"
	                "sluice_d_seconds_bucket{le=\"+Inf\"} 2\nsluice_d_seconds_sum 0.5\n";
	const char *b = "# HELP sluice_x_total X.\n# TYPE sluice_x_total counter\n"
	                "sluice_x_total{l=\"a\"} 4\n"
	                "# HELP sluice_s_up Up.\n# TYPE sluice_s_up gauge\nsluice_s_up 1\n"
	                "# HELP sluice_d_seconds D.\n# TYPE sluice_d_seconds histogram\n"
	                "sluice_d_seconds_bucket{le=\"+Inf\"} 1\nsluice_d_seconds_sum 0.25\n"
	                "sluice_x_total{l=\"b\"} 9\n";
	mbuf_t in[2] = {{(char *)a, strlen(a), 0}, {(char *)b, strlen(b), 0}}, out = {0};

	(void)st;
	metrics_sum(in, 2, &out);
	assert_non_null(out.p);
	assert_string_equal(out.p, "# HELP sluice_x_total X.\n# TYPE sluice_x_total counter\n"
	                           "sluice_x_total{l=\"a\"} 7\nsluice_x_total{l=\"b\"} 9\n"
	                           "# HELP sluice_s_up Up.\n# TYPE sluice_s_up gauge\n"
	                           "sluice_s_up 1\n"
	                           "# HELP sluice_d_seconds D.\n# TYPE sluice_d_seconds histogram\n"
	                           "sluice_d_seconds_bucket{le=\"+Inf\"} 3\n"
	                           "sluice_d_seconds_sum 0.750000\n");
	free(out.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_label),
	    cmocka_unit_test(test_sum),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
