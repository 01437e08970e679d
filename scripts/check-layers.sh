#!/bin/bash
# The include layering of src/: a layer includes only layers below it, and
# never a sibling of its own rank.  The order, lowest first:
#
#   0  core      loop glue, stream, dial, listener, relay, url, opts,
#                transport (the descriptor type and its registry), runtime
#   1  wire      protocol codecs shared by front ends and tunnels
#   2  netstack  lwIP endpoint, libslirp gateway, TUN, pcap, DNS
#   3  ppp       the PPP engine and its gateway and hop
#   4  front     listeners and hops of the proxy protocols (socks, http, pt)
#   4  tunnel    the tunnels (ws, wstan, sctp, vpn)
#   4  sstp      the SSTP client
#   5  app       main, the subcommands, the transport table
#
# So core/ includes nothing above it: transports plug into core through
# core/transport.h, and src/app/transports.c is the one place that names
# them all.  A folder that is not in the list above is an error (put it in
# the order first).  Exceptions are listed one include at a time, each with
# the reason it is still there; one that no longer occurs is an error too,
# so the list only shrinks.
#
#   scripts/check-layers.sh        exit 1 and name every violation
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A rank=([core]=0 [wire]=1 [netstack]=2 [ppp]=3 [front]=4 [tunnel]=4 [sstp]=4 [app]=5)

# "file -> included header": none left.
exceptions=""

bad=0
used=""
while IFS= read -r f; do
	dir=${f#src/}
	dir=${dir%%/*}
	if [ -z "${rank[$dir]+x}" ]; then
		echo "check-layers: $f: folder src/$dir/ has no place in the layer order (scripts/check-layers.sh)"
		bad=1
		continue
	fi
	while IFS= read -r inc; do
		to=${inc%%/*}
		[ "$to" = "$dir" ] && continue
		[ -d "src/$to" ] || continue # a library's header ("lwip/tcp.h")
		if [ -z "${rank[$to]+x}" ]; then
			echo "check-layers: $f includes \"$inc\": src/$to/ has no place in the layer order"
			bad=1
			continue
		fi
		if [ "${rank[$to]}" -lt "${rank[$dir]}" ]; then
			continue
		fi
		if grep -qxF "$f -> $inc" <<<"$exceptions"; then
			used="$used
$f -> $inc"
			continue
		fi
		if [ "${rank[$to]}" -eq "${rank[$dir]}" ]; then
			echo "check-layers: $f includes \"$inc\": $dir/ and $to/ are siblings (rank ${rank[$dir]}); share code through a lower layer"
		else
			echo "check-layers: $f includes \"$inc\": $dir/ (rank ${rank[$dir]}) is below $to/ (rank ${rank[$to]})"
		fi
		bad=1
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\/[^"]*\)".*/\1/p' "$f")
done < <(git ls-files 'src/*.c' 'src/*.h')

while IFS= read -r e; do
	[ -n "$e" ] || continue
	if ! grep -qxF "$e" <<<"$used"; then
		echo "check-layers: the exception \"$e\" no longer occurs: remove it from scripts/check-layers.sh"
		bad=1
	fi
done <<<"$exceptions"

if [ "$bad" -ne 0 ]; then
	exit 1
fi
echo "check-layers: ok ($(grep -c . <<<"$exceptions") listed exceptions)"
