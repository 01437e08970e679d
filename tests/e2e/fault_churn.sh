#!/bin/bash
# Churn: short connections (SOCKS5, 32 bytes echoed, close) through each
# tunnel and the plain proxy, 200 at a time.  None may fail, and each
# process's resident memory and open descriptors must come back to their
# baseline afterwards: RSS within 24 MiB (the chunk free list keeps up to
# 8 MiB), descriptors exactly.  Prints RSS and fd counts before, during
# and after.  SLUICE_CHURN sets the count per tunnel (default 100000 to
# keep CI's slow set near 15 minutes; wss, whose every connection is a
# TLS handshake, gets a fifth of it).  SLUICE_CHURN=200000 is the full run
# (README, "Faults").
# ctest-label: slow
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/e2e/faults/tunnels.sh"
skip_if_asan
: "${FXC:?set FXC to the fxc binary (tests/e2e/faults/fxc.c)}"
ulimit -n 8192 2>/dev/null || true
N=${SLUICE_CHURN:-100000}
TUNNELS=${SLUICE_TUNNELS:-$TUNNELS_ALL}
tun_netns

echo_port=$(free_port)
start echo "$FXC" echo "$echo_port" "$TUN_LISTEN"
wait_port "$echo_port"

# sample NAME...: "rss/fds" of each process, as one field
sample() {
	local n out=""
	for n in "$@"; do out="$out $n=$(rss_kb "$n")KiB/$(fds "$n")fd"; done
	echo "$out"
}

for kind in $TUNNELS; do
	tun_up "$kind"
	n=$N
	[ "$kind" = wss ] && n=$((N / 5))
	check "$kind: warm-up" $FXC churn "$px" "$tgt" "$echo_port" 200 50 60
	sleep 2
	declare -A rss0 fd0
	for p in $procs; do rss0[$p]=$(rss_kb "$p"); fd0[$p]=$(fds "$p"); done
	before=$(sample $procs)
	$FXC churn "$px" "$tgt" "$echo_port" "$n" 200 400 >"$T/churn-$kind.out" 2>&1 &
	cp=$!
	sleep 5
	during=$(sample $procs)
	wait $cp
	rc=$?
	sleep 3
	after=$(sample $procs)
	echo "    $kind: $(head -1 "$T/churn-$kind.out")"
	echo "    $kind: before$before"
	echo "    $kind: during$during"
	echo "    $kind: after $after"
	if [ $rc -eq 0 ]; then pass "$kind: $n connections, none failed"; else
		fail "$kind: $n connections: $(paste -sd' ' "$T/churn-$kind.out")"; fi
	for p in $procs; do
		r=$(rss_kb "$p")
		f=$(fds "$p")
		check "$kind: $p RSS back to baseline (${rss0[$p]} -> $r KiB)" test "$r" -le $((${rss0[$p]} + 24576))
		check_eq "$kind: $p descriptors back to baseline" "${fd0[$p]}" "$f"
	done
	tun_down "$kind"
done

finish
