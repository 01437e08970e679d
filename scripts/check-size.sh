#!/bin/bash
# The size of a file in src/: none over LIMIT lines, unless it is one state
# machine that splitting would spread over several files and is listed, with
# that state machine, in the table under "## Files over 900 lines" in
# docs/architecture.md (its first column names the file under src/).  A
# listed file that is no longer over the limit, or no longer exists, is an
# error too, so the table stays true and only shrinks.
#
#   scripts/check-size.sh        exit 1 and name every file out of line
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT=900
doc=docs/architecture.md

# the table's rows: "| `netstack/lwipep.c` | 1.7k | ... |" -> netstack/lwipep.c
listed=$(awk '/^## Files over 900 lines/ {on = 1; next}
	on && /^## / {on = 0}
	on && /^\| `[^`]+` \|/ {split($0, f, "`"); print f[2]}' "$doc")

bad=0
while IFS= read -r f; do
	n=$(wc -l <"$f")
	[ "$n" -gt "$LIMIT" ] || continue
	if ! grep -qxF "${f#src/}" <<<"$listed"; then
		echo "check-size: $f has $n lines (over $LIMIT): split it along its seams, or, if it is one state machine, list it with that state machine under \"Files over 900 lines\" in $doc"
		bad=1
	fi
done < <(git ls-files 'src/*.c' 'src/*.h')

while IFS= read -r l; do
	[ -n "$l" ] || continue
	if [ ! -f "src/$l" ]; then
		echo "check-size: $doc lists src/$l, which does not exist: remove its row"
		bad=1
	elif [ "$(wc -l <"src/$l")" -le "$LIMIT" ]; then
		echo "check-size: $doc lists src/$l, which has $(wc -l <"src/$l") lines (not over $LIMIT): remove its row"
		bad=1
	fi
done <<<"$listed"

if [ "$bad" -ne 0 ]; then
	exit 1
fi
echo "check-size: ok (no file in src/ over $LIMIT lines but the $(grep -c . <<<"$listed") listed in $doc)"
