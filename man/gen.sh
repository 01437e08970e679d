#!/bin/sh
# gen.sh MODE TEMPLATE OUT SLUICE [SCDOC]: fill TEMPLATE with gen-options.awk
# from what the built binary says of itself (the subcommands, schemes,
# transports and option schemas of `sluice help --schemas`, the options of
# `sluice --help`) and from options.txt next to this script (the URL
# options of transports without a schema yet).  For MODE man, OUT is the
# page scdoc makes of the result.
set -eu
dir=$(dirname "$0")
mode=$1 tpl=$2 out=$3 sluice=$4
schemas=$("$sluice" help --schemas)
field() { printf '%s\n' "$schemas" | awk -F'\t' "$1" | awk '!seen[$0]++' | tr '\n' ' '; }
commands=$(field '$1 == "command" { print $2 }')
transports=$(field '$1 == "transport" { print $2 }')
lschemes=$(field '$1 == "scheme" && $4 == "listen" { print $3 }')
fschemes=$(field '$1 == "scheme" && $4 == "hop" { print $3 }')
# "  -v, -q   ...", "      --log-level L  ...": the options, and which take a value
opts=$("$sluice" --help | awk '/^ +-/ {
	for (i = 1; i <= NF && $i ~ /^-/; i++) { o = $i; sub(/,$/, "", o); printf "%s ", o }
}')
argopts=$("$sluice" --help | awk '/^ +-/ {
	for (i = 1; i <= NF && $i ~ /^-/; i++) o = $i
	if ($i ~ /^[A-Z]+$/) printf "%s ", o
}')
printf '%s\n' "$schemas" >"$out.schemas"
awk -v mode="$mode" -v commands="$commands" -v transports="$transports" \
	-v lschemes="$lschemes" -v fschemes="$fschemes" -v opts="$opts" -v argopts="$argopts" \
	-f "$dir/gen-options.awk" "$out.schemas" "$dir/options.txt" "$tpl" >"$out.tmp"
rm -f "$out.schemas"
if [ "$mode" = man ]; then
	"${5:-scdoc}" <"$out.tmp" >"$out.roff"
	rm -f "$out.tmp"
	mv "$out.roff" "$out"
else
	mv "$out.tmp" "$out"
fi
