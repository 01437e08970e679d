/* Unit tests: core/config (YAML, environment, precedence). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

static void load(config_t *c, const char *y)
{
	char err[256];

	config_init(c);
	if (config_load_string(c, y, strlen(y), "t.yaml", err, sizeof(err)) < 0)
		fail_msg("%s", err);
}

static void test_yaml(void **st)
{
	config_t c;

	load(&c, "log: debug\n"
	         "metrics: 127.0.0.1:9090\n"
	         "drain: 2s\n"
	         "listen:\n"
	         "  - proxy://127.0.0.1:1080\n"
	         "  - url: socks5://127.0.0.1:1081\n"
	         "    allow: [127.0.0.0/8, '::1']\n"
	         "    max-conns: 100\n"
	         "forward:\n"
	         "  - socks5://127.0.0.1:1082\n");
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_string_equal(c.metrics, "127.0.0.1:9090");
	assert_int_equal(c.drain_ms, 2000);
	assert_int_equal(c.listen.n, 2);
	assert_string_equal(c.listen.v[0], "proxy://127.0.0.1:1080");
	assert_string_equal(c.listen.v[1],
	                    "socks5://127.0.0.1:1081?allow=127.0.0.0/8&allow=::1&max-conns=100");
	assert_int_equal(c.forward.n, 1);
	config_free(&c);
}

static void test_yaml_errors(void **st)
{
	static const struct {
		const char *y, *needle;
	} cases[] = {
	    {"listen: [proxy://127.0.0.1:1080]\nlisen: x\n", "t.yaml:2: unknown key 'lisen'"},
	    {"log: loud\n", "log level 'loud'"},
	    {"listen:\n  - url: [a]\n", "'url' must be a string"},
	    {"listen:\n  - allow: 1.2.3.4\n", "needs 'url'"},
	    {"- a\n- b\n", "top level must be a map"},
	    {"listen: [\n", "t.yaml"},
	    {"drain: soon\n", "drain 'soon'"},
	};
	char err[256];
	config_t c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_init(&c);
		err[0] = 0;
		if (config_load_string(&c, cases[i].y, strlen(cases[i].y), "t.yaml", err,
		                       sizeof(err)) >= 0)
			fail_msg("case %zu loaded", i);
		if (!strstr(err, cases[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
		config_free(&c);
	}
}

static void test_precedence(void **st)
{
	config_t file, env, cli;
	char *envp[] = {"SLUICE_LISTEN=socks5://127.0.0.1:2 http://127.0.0.1:3", "SLUICE_LOG=warn",
	                "SLUICE_DRAIN=1s", "PATH=/bin", NULL};
	char err[256];

	load(&file, "listen: [proxy://127.0.0.1:1]\nforward: [socks5://127.0.0.1:9]\nlog: debug\n");
	config_init(&env);
	assert_int_equal(config_load_env(&env, envp, err, sizeof(err)), 0);
	config_init(&cli);
	cli.log_level = LOG_TRACE;
	config_merge(&file, &env);
	assert_int_equal(file.listen.n, 2); /* env replaced the file's list */
	assert_string_equal(file.listen.v[1], "http://127.0.0.1:3");
	assert_int_equal(file.forward.n, 1); /* env did not name it: file's stays */
	assert_int_equal(file.log_level, LOG_WARN);
	assert_int_equal(file.drain_ms, 1000);
	strlist_push(&cli.listen, "tcp://127.0.0.1:4/127.0.0.1:5");
	config_merge(&file, &cli);
	assert_int_equal(file.listen.n, 1);
	assert_string_equal(file.listen.v[0], "tcp://127.0.0.1:4/127.0.0.1:5");
	assert_int_equal(file.log_level, LOG_TRACE);
	config_free(&file);
	config_free(&env);
	config_free(&cli);
}

static void test_env_errors(void **st)
{
	config_t c;
	char *envp[] = {"SLUICE_LOG=chatty", NULL};
	char err[256];

	config_init(&c);
	assert_true(config_load_env(&c, envp, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "SLUICE_LOG"));
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yaml),
	    cmocka_unit_test(test_yaml_errors),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_env_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
