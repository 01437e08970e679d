/* Unit tests: core/tunkey (key=, keyfile=, the default key file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/tunkey.h"

static char dir[64];

static int setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof(dir), "/tmp/sluice-tunkey.XXXXXX");
	assert_non_null(mkdtemp(dir));
	unsetenv("SLUICE_KEY_FILE");
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", dir, 1);
	return 0;
}

static int teardown(void **st)
{
	char cmd[128];

	(void)st;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* tunkey_get on "sctp+udp://h:1<opts>" */
static int get(const char *opts, int server, uint8_t *k, size_t *len, char *err, size_t errlen)
{
	char s[512];
	url_t *u;
	int r;

	snprintf(s, sizeof(s), "sctp+udp://h:1%s", opts);
	assert_int_equal(url_parse(s, &u, err, errlen), 0);
	r = tunkey_get(u, server, k, len, err, errlen);
	url_free(u);
	return r;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_key_option(void **st)
{
	uint8_t k[KEY_MAX];
	size_t len = 0;
	char err[300] = "";

	(void)st;
	/* 16 zero bytes */
	assert_int_equal(get("?key=AAAAAAAAAAAAAAAAAAAAAA", 0, k, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 16);
	assert_int_equal(get("?key=short", 0, k, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "option 'key'"));
	assert_int_equal(
	    get("?key=AAAAAAAAAAAAAAAAAAAAAA&keyfile=/x", 1, k, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "give one"));
}

static void test_keyfile_option(void **st)
{
	uint8_t k[KEY_MAX], want[16] = {0};
	size_t len = 0;
	char err[300] = "", path[128], opt[160];

	(void)st;
	snprintf(path, sizeof(path), "%s/k", dir);
	snprintf(opt, sizeof(opt), "?keyfile=%s", path);
	/* missing: an error naming the file, whatever the role */
	assert_int_equal(get(opt, 1, k, &len, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	/* the first line, blanks around it ignored */
	write_file(path, "  AAAAAAAAAAAAAAAAAAAAAA \r\nsecond line\n", 0600);
	assert_int_equal(get(opt, 0, k, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(k, want, 16);
	/* readable by others: still used (a warning in the log) */
	chmod(path, 0644);
	assert_int_equal(get(opt, 0, k, &len, err, sizeof(err)), 0);
	/* not a key */
	write_file(path, "hello\n", 0600);
	assert_int_equal(get(opt, 0, k, &len, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not hold a key"));
	write_file(path, "", 0600);
	assert_int_equal(get(opt, 0, k, &len, err, sizeof(err)), -EINVAL);
}

static void test_default_path(void **st)
{
	char p[256], want[256];

	(void)st;
	snprintf(want, sizeof(want), "%s/.config/sluice/key", dir);
	assert_int_equal(tunkey_default_path(p, sizeof(p)), 0);
	assert_string_equal(p, want);
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	assert_int_equal(tunkey_default_path(p, sizeof(p)), 0);
	assert_string_equal(p, "/xdg/sluice/key");
	setenv("XDG_CONFIG_HOME", "relative", 1); /* the spec says: ignore it */
	assert_int_equal(tunkey_default_path(p, sizeof(p)), 0);
	assert_string_equal(p, want);
	setenv("SLUICE_KEY_FILE", "/etc/sluice.key", 1);
	assert_int_equal(tunkey_default_path(p, sizeof(p)), 0);
	assert_string_equal(p, "/etc/sluice.key");
	unsetenv("SLUICE_KEY_FILE");
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	assert_int_equal(tunkey_default_path(p, sizeof(p)), -ENOENT);
	setenv("HOME", dir, 1);
}

static void test_default_file(void **st)
{
	uint8_t k1[KEY_MAX], k2[KEY_MAX];
	size_t l1 = 0, l2 = 0;
	char err[300] = "", path[256], cfg[256];
	struct stat sb;

	(void)st;
	snprintf(path, sizeof(path), "%s/.config/sluice/key", dir);
	snprintf(cfg, sizeof(cfg), "%s/.config", dir);
	/* a client does not make it */
	assert_int_equal(get("", 0, k1, &l1, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_int_equal(stat(cfg, &sb), -1);
	/* a server does: 32 random bytes, private file and directories */
	assert_int_equal(get("", 1, k1, &l1, err, sizeof(err)), 0);
	assert_int_equal(l1, 32);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(cfg, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	/* then both sides read the same key */
	assert_int_equal(get("", 0, k2, &l2, err, sizeof(err)), 0);
	assert_int_equal(l2, 32);
	assert_memory_equal(k1, k2, 32);
	assert_int_equal(get("", 1, k2, &l2, err, sizeof(err)), 0);
	assert_memory_equal(k1, k2, 32);
	/* tunkey_file says whether it made the file */
	unlink(path);
	assert_int_equal(tunkey_file(path, 1, k2, &l2, err, sizeof(err)), 1);
	assert_int_equal(tunkey_file(path, 1, k1, &l1, err, sizeof(err)), 0);
	assert_memory_equal(k1, k2, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_key_option, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keyfile_option, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
