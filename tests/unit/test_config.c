/* Unit tests: core/config (YAML, environment, precedence). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
	         "  - socks5://127.0.0.1:1082\n"
	         "reverse:\n"
	         "  - tcp://0.0.0.0:8080/127.0.0.1:3000\n");
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_string_equal(c.metrics, "127.0.0.1:9090");
	assert_int_equal(c.drain_ms, 2000);
	assert_int_equal(c.listen.n, 2);
	assert_string_equal(c.listen.v[0], "proxy://127.0.0.1:1080");
	assert_string_equal(c.listen.v[1],
	                    "socks5://127.0.0.1:1081?allow=127.0.0.0/8&allow=::1&max-conns=100");
	assert_int_equal(c.forward.n, 1);
	assert_int_equal(c.reverse.n, 1);
	assert_string_equal(c.reverse.v[0], "tcp://0.0.0.0:8080/127.0.0.1:3000");
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
	char *envp[] = {"SLUICE_LISTEN=socks5://127.0.0.1:2 http://127.0.0.1:3",
	                "SLUICE_LOG=warn",
	                "SLUICE_DRAIN=1s",
	                "PATH=/bin",
	                "SLUICE_REVERSE=tcp://:8080/127.0.0.1:1 tcp://:8081/127.0.0.1:2",
	                NULL};
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
	assert_int_equal(file.reverse.n, 2);
	assert_string_equal(file.reverse.v[1], "tcp://:8081/127.0.0.1:2");
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

static void test_routing_yaml(void **st)
{
	config_t c;

	load(&c, "chains:\n"
	         "  corp: sstp://u:p@vpn.example.org\n"
	         "  out: [socks5://127.0.0.1:1, {url: group://tun}]\n"
	         "groups:\n"
	         "  tun:\n"
	         "    strategy: round-robin\n"
	         "    probe-interval: 2s\n"
	         "    members:\n"
	         "      - ws://a:1?key=K\n"
	         "      - url: ws://b:1\n"
	         "        key: 'K K'\n"
	         "rules:\n"
	         "  - DOMAIN-SUFFIX,corp.example.org,corp\n"
	         "  - file: lists/ads.txt\n"
	         "    action: block\n"
	         "  - MATCH,out\n");
	assert_int_equal(c.nchains, 2);
	assert_string_equal(c.chains[0].name, "corp");
	assert_int_equal(c.chains[0].hops.n, 1);
	assert_string_equal(c.chains[1].hops.v[1], "group://tun");
	assert_string_equal(c.chains[1].where, "t.yaml:3");
	assert_int_equal(c.ngroups, 1);
	assert_string_equal(c.groups[0].opts, "strategy=round-robin&probe-interval=2s");
	assert_string_equal(c.groups[0].members.v[1], "ws://b:1?key=K%20K");
	assert_int_equal(c.nrules, 3);
	assert_string_equal(c.rules[0].text, "DOMAIN-SUFFIX,corp.example.org,corp");
	assert_int_equal(c.rules[0].line, 13);
	assert_string_equal(c.rules[1].file, "lists/ads.txt"); /* t.yaml has no folder */
	assert_string_equal(c.rules[1].action, "block");
	config_free(&c);
}

static void test_routing_args(void **st)
{
	static const struct {
		const char *arg, *needle;
	} bad[] = {
	    {"corp", "NAME=URL"},
	    {"=ws://a:1", "name ''"},
	    {"direct=ws://a:1", "reserved"},
	    {"c r=ws://a:1", "letters, digits"},
	};
	config_t c, top;
	char err[256];

	config_init(&c);
	config_init(&top);
	assert_int_equal(config_chain_arg(&c, "corp=sstp://u:p@h?allow=1.2.3.4,5.6.7.8,ws://b:2",
	                                  err, sizeof(err)),
	                 0);
	assert_int_equal(c.chains[0].hops.n, 2);
	assert_string_equal(c.chains[0].hops.v[0], "sstp://u:p@h?allow=1.2.3.4,5.6.7.8");
	assert_string_equal(c.chains[0].hops.v[1], "ws://b:2");
	assert_int_equal(config_group_arg(&c,
	                                  "tun?strategy=failover&fails=2=ws://a:1?key=x=,ws://b:1",
	                                  err, sizeof(err)),
	                 0);
	assert_string_equal(c.groups[0].name, "tun");
	assert_string_equal(c.groups[0].opts, "strategy=failover&fails=2");
	assert_int_equal(c.groups[0].members.n, 2);
	assert_string_equal(c.groups[0].members.v[0], "ws://a:1?key=x=");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(config_chain_arg(&c, bad[i].arg, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].needle))
			fail_msg("%s: '%s' lacks '%s'", bad[i].arg, err, bad[i].needle);
	}
	/* a layer's chain replaces the one of its name; its rules replace the list */
	config_rule_add(&c, "MATCH,direct", NULL, NULL, "--rule", 1);
	config_chain_arg(&top, "corp=ws://c:3", err, sizeof(err));
	config_rule_add(&top, NULL, "x.txt", NULL, "--rules", 0);
	config_merge(&c, &top);
	assert_int_equal(c.nchains, 1);
	assert_string_equal(c.chains[0].hops.v[0], "ws://c:3");
	assert_int_equal(c.nrules, 1);
	assert_string_equal(c.rules[0].file, "x.txt");
	config_free(&c);
	config_free(&top);
}

/* config_read_file: a regular file, a pipe read to its end, the cap on
 * either, a directory. */
static void test_read_file(void **st)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[64], pipe_path[64], *b;
	int fds[2];
	size_t n;
	FILE *f;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("MATCH,direct\n", f);
	fclose(f);
	assert_int_equal(config_read_file(path, 100, &b, &n), 0);
	assert_int_equal(n, 13);
	assert_string_equal(b, "MATCH,direct\n");
	free(b);
	assert_int_equal(config_read_file(path, 12, &b, &n), -EFBIG);
	assert_null(b);
	assert_int_equal(config_read_file(dir, 100, &b, &n), -EISDIR);
	assert_int_equal(config_read_file("/nonexistent/x", 100, &b, &n), -ENOENT);
	/* a pipe: 200,000 bytes in chunks, read to its end; and over a cap */
	for (int cap = 0; cap < 2; cap++) {
		assert_int_equal(pipe(fds), 0);
		if (!(pid = fork())) {
			char chunk[1000];
			memset(chunk, 'x', sizeof(chunk));
			close(fds[0]);
			for (int i = 0; i < 200; i++)
				if (write(fds[1], chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
					_exit(1);
			_exit(0);
		}
		close(fds[1]);
		snprintf(pipe_path, sizeof(pipe_path), "/dev/fd/%d", fds[0]);
		if (cap) {
			assert_int_equal(config_read_file(pipe_path, 150000, &b, &n), -EFBIG);
		} else {
			assert_int_equal(config_read_file(pipe_path, 200000, &b, &n), 0);
			assert_int_equal(n, 200000);
			assert_int_equal(b[199999], 'x');
			assert_int_equal(b[200000], 0);
			free(b);
		}
		close(fds[0]);
		waitpid(pid, NULL, 0);
	}
	unlink(path);
	rmdir(dir);
	(void)st;
}

/* The settings of config_settings[]: YAML, SLUICE_*, their syntax. */
static void test_settings(void **st)
{
	config_t c, e;
	char *envp[] = {"SLUICE_LOG=DEBUG", "SLUICE_LOG_FORMAT=JSON", "SLUICE_LOG_RATE=5/s",
	                "SLUICE_USER=nobody", NULL};
	char err[256];

	load(&c, "log: Warning\nlog-file: /var/log/s.log\nlog-syslog: yes\nlog-format: text\n"
	         "log-rate: 0\nuser: sluice\ngroup: sluice\n");
	assert_int_equal(c.log_level, LOG_WARN);
	assert_string_equal(c.log_file, "/var/log/s.log");
	assert_string_equal(c.log_syslog, LOG_SYSLOG_DEFAULT);
	assert_int_equal(c.log_format, LOG_TEXT);
	assert_int_equal(c.log_rate, 0);
	assert_string_equal(c.user, "sluice");
	config_init(&e);
	assert_int_equal(config_load_env(&e, envp, err, sizeof(err)), 0);
	config_merge(&c, &e);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.log_format, LOG_JSON);
	assert_int_equal(c.log_rate, 5);
	assert_string_equal(c.user, "nobody");
	assert_string_equal(c.group, "sluice"); /* the file's, not named again */
	config_free(&c);
	config_free(&e);

	load(&c, "log-syslog: /run/other.sock\n");
	assert_string_equal(c.log_syslog, "/run/other.sock");
	config_free(&c);
	load(&c, "log-syslog: no\n");
	assert_string_equal(c.log_syslog, "");
	config_free(&c);

	static const struct {
		const char *y, *needle;
	} bad[] = {
	    {"log-format: xml\n", "t.yaml:1: log format 'xml'"},
	    {"log-rate: lots\n", "log rate 'lots'"},
	    {"log-syslog: maybe\n", "log-syslog 'maybe'"},
	    {"user: ''\n", "user name"},
	    {"usr: x\n", "known: listen, forward, reverse, chains, groups, rules, log, log-file"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config_init(&c);
		err[0] = 0;
		assert_true(config_load_string(&c, bad[i].y, strlen(bad[i].y), "t.yaml", err,
		                               sizeof(err)) < 0);
		if (!strstr(err, bad[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].needle);
		config_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yaml),         cmocka_unit_test(test_yaml_errors),
	    cmocka_unit_test(test_precedence),   cmocka_unit_test(test_env_errors),
	    cmocka_unit_test(test_routing_yaml), cmocka_unit_test(test_routing_args),
	    cmocka_unit_test(test_read_file),    cmocka_unit_test(test_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
