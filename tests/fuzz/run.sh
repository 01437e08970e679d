#!/bin/sh
# Run every built fuzz target for a bounded time: tests/fuzz/run.sh BUILD_DIR [SECONDS]
set -eu
dir=${1:-build-fuzz}
secs=${2:-30}
src=$(cd "$(dirname "$0")" && pwd)
fail=0
for f in "$dir"/tests/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	corpus=$(mktemp -d)
	[ -d "$src/corpus/$name" ] && cp "$src/corpus/$name"/* "$corpus"/ 2>/dev/null || true
	echo "fuzz: $name for ${secs}s"
	if ! "$f" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=0 "$corpus" >"$corpus.log" 2>&1; then
		tail -n 60 "$corpus.log"
		fail=1
	fi
	rm -rf "$corpus" "$corpus.log"
done
[ $fail -eq 0 ] && echo "fuzz: all targets clean"
exit $fail
