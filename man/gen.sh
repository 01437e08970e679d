#!/bin/sh
# gen.sh MODE TEMPLATE OUT [SCDOC]: fill TEMPLATE from options.txt (next to
# this script) with gen-options.awk; for MODE man, OUT is the page scdoc
# makes of the result.
set -eu
dir=$(dirname "$0")
mode=$1 tpl=$2 out=$3
awk -v mode="$mode" -f "$dir/gen-options.awk" "$dir/options.txt" "$tpl" >"$out.tmp"
if [ "$mode" = man ]; then
	"${4:-scdoc}" <"$out.tmp" >"$out.roff"
	rm -f "$out.tmp"
	mv "$out.roff" "$out"
else
	mv "$out.tmp" "$out"
fi
