#!/bin/sh
# Run every built fuzz target for a bounded time:
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]
# Each target runs for SECONDS on a core of its own: FUZZ_JOBS targets at a
# time (default: one per core), so the wall time is the sum over targets
# divided by FUZZ_JOBS while every target gets the same fuzzing time.
set -eu
dir=${1:-build-fuzz}
secs=${2:-30}
jobs=${FUZZ_JOBS:-$(nproc)}
src=$(cd "$(dirname "$0")" && pwd)
failed=$(mktemp)

# fuzz_one TARGET: SECONDS of it on a fresh copy of its corpus; on failure
# its log's tail, and its name in $failed
fuzz_one() {
	f=$1
	name=$(basename "$f")
	corpus=$(mktemp -d)
	[ -d "$src/corpus/$name" ] && cp "$src/corpus/$name"/* "$corpus"/ 2>/dev/null || true
	echo "fuzz: $name for ${secs}s"
	if ! "$f" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=0 "$corpus" >"$corpus.log" 2>&1; then
		tail -n 60 "$corpus.log"
		echo "$name" >>"$failed"
	fi
	rm -rf "$corpus" "$corpus.log"
}

# lane I: the targets I, I+jobs, I+2*jobs, ... one after the other
i=0
while [ $i -lt "$jobs" ]; do
	(
		n=0
		for f in "$dir"/tests/fuzz/fuzz_*; do
			[ -x "$f" ] || continue
			[ $((n % jobs)) -eq $i ] && fuzz_one "$f"
			n=$((n + 1))
		done
	) &
	i=$((i + 1))
done
wait
if [ -s "$failed" ]; then
	echo "fuzz: failed: $(tr '\n' ' ' <"$failed")"
	rm -f "$failed"
	exit 1
fi
rm -f "$failed"
echo "fuzz: all targets clean"
