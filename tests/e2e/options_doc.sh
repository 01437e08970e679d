#!/bin/bash
# The option tables of docs/options.md and README.md are what
# scripts/gen-options.py makes from the binary's option schemas (sluice help
# --schemas): a changed option without regenerated docs fails here.  And
# `sluice help` answers for every transport.
. "$(dirname "$0")/lib.sh"

check "docs/options.md and README.md match the schemas" \
	python3 "$SRCDIR/scripts/gen-options.py" --check "$SLUICE"
for t in $("$SLUICE" help --schemas | awk -F'\t' '$1 == "transport" { print $2 }'); do
	check "sluice help $t" bash -c "'$SLUICE' help '$t' | grep -q '^$t: '"
done
check "sluice help listener lists max-conns" bash -c "'$SLUICE' help listener | grep -q max-conns="
check "sluice help by scheme (wss)" bash -c "'$SLUICE' help wss | grep -q '^ws: '"
"$SLUICE" help gopher 2>"$T/err"
check_eq "sluice help of an unknown topic exits 2" 2 $?
check "and names the known ones" grep -q "known: proxy" "$T/err"
finish
