/* Unit tests: core/log (levels, formats, the rate per source) and
 * core/json's escaper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"

static void test_parse(void **st)
{
	assert_int_equal(log_level_parse("DEBUG"), LOG_DEBUG);
	assert_int_equal(log_level_parse("Warning"), LOG_WARN);
	assert_int_equal(log_level_parse("ERROR"), LOG_ERR);
	assert_int_equal(log_level_parse("3"), LOG_DEBUG);
	assert_int_equal(log_level_parse("loud"), -1);
	assert_int_equal(log_format_parse("JSON"), LOG_JSON);
	assert_int_equal(log_format_parse("text"), LOG_TEXT);
	assert_int_equal(log_format_parse("xml"), -1);
}

static void test_json_escape(void **st)
{
	char out[32];

	json_escape(out, sizeof(out), "a\"b\\c\nd\x01");
	assert_string_equal(out, "a\\\"b\\\\c\\u000ad\\u0001");
	/* cut before an escape that does not fit, never inside it */
	assert_int_equal(json_escape(out, 4, "ab\"c"), 2);
	assert_string_equal(out, "ab");
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (; (s = strstr(s, needle)); s++)
		n++;
	return n;
}

/* json lines to a file; one source over its rate is cut to the burst,
 * another source is not; a message cannot break its line */
static void test_file_json_rate(void **st)
{
	char path[] = "/tmp/sluice-test-log.XXXXXX", err[200];
	int fd = mkstemp(path);
	log_cfg_t c = {.file = path, .format = LOG_JSON, .rate = 2};
	char *s;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_configure(&c, err, sizeof(err)), 0);
	for (int i = 0; i < 30; i++)
		log_msg(LOG_INFO, 0, "flood %d", i);
	log_msg(LOG_WARN, 0, "another source, with a\nnewline and a \"quote\"");
	/* two sources taking turns each keep their own bucket */
	for (int i = 0; i < 30; i++) {
		log_msg(LOG_INFO, 0, "turn a %d", i);
		log_msg(LOG_INFO, 0, "turn b %d", i);
	}
	s = slurp(path);
	assert_int_equal(count(s, "\"msg\":\"flood "), 10); /* the burst: 5 x rate */
	assert_int_equal(count(s, "\"msg\":\"turn a "), 10);
	assert_int_equal(count(s, "\"msg\":\"turn b "), 10);
	assert_non_null(strstr(s, "{\"time\":\""));
	assert_non_null(strstr(s, "\"level\":\"warn\",\"msg\":\"another source, with a newline "
	                          "and a \\\"quote\\\"\"}\n"));
	assert_int_equal(log_stats.suppressed, 60);
	unlink(path);
	c.file = NULL;
	c.format = LOG_TEXT;
	assert_int_equal(log_configure(&c, err, sizeof(err)), 0);
	c.file = "/nonexistent-dir/x.log";
	assert_true(log_configure(&c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "--log-file /nonexistent-dir/x.log"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_json_escape),
	    cmocka_unit_test(test_file_json_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
