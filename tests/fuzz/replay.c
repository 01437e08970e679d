/* replay: run a fuzz target's LLVMFuzzerTestOneInput over files, without
 * libFuzzer.  The normal test build links every tests/fuzz/fuzz_*.c with it
 * (ctest fuzz_replay_NAME), so a target that no longer compiles fails
 * `make test`, and the checked-in corpus runs as a regression test (under
 * ASan in `make test-asan`).
 *
 *   fuzz_NAME_replay FILE|DIR ...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f) {
		perror(path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: cannot read\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 1;
}

static int run_path(const char *path)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int count = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	d = opendir(path);
	if (!d) {
		perror(path);
		return -1;
	}
	while ((e = readdir(d))) {
		char sub[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		int r = run_path(sub);
		if (r < 0) {
			closedir(d);
			return r;
		}
		count += r;
	}
	closedir(d);
	return count;
}

int main(int argc, char **argv)
{
	int total = 0;
	/* the empty input and a few fixed ones, so a target with no corpus
	 * still runs its code once */
	static const uint8_t fixed[] = {0, 1, 0xff, 'G', 'E', 'T', ' ', '/', '\r', '\n', 5, 1, 0};

	LLVMFuzzerTestOneInput(fixed, 0);
	for (size_t i = 1; i <= sizeof(fixed); i++)
		LLVMFuzzerTestOneInput(fixed, i);
	for (int i = 1; i < argc; i++) {
		int r = run_path(argv[i]);
		if (r < 0)
			return 1;
		total += r;
	}
	printf("replayed %d inputs\n", total);
	return 0;
}
