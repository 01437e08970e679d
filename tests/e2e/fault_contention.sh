#!/bin/bash
# Contention: 50 downloads of 5 MiB at once through each tunnel and the
# plain proxy while both sluices share one CPU with two busy loops
# (taskset -c 0: each gets about a third of it, and runs late).  Zero
# failures, every download byte-exact.  The reads the late sluices make
# then hold many frames at once, which once broke the WebSocket tunnels
# (see ws_coalesced.sh for the deterministic form of that).  For sstp
# the client is sluice's only process: SoftEther, the server, runs beside
# it unpinned (tunnels.sh).
# ctest-label: slow
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/e2e/faults/tunnels.sh"
need_cmd taskset
TUNNELS=${SLUICE_TUNNELS:-$TUNNELS_ALL}
tun_netns
N=${SLUICE_E2E_PARALLEL:-50}
CPU=$(taskset -pc $$ | sed 's/.*: *//; s/[-,].*//')

tun_web big=5M
start busy1 taskset -c "$CPU" sh -c 'while :; do :; done'
start busy2 taskset -c "$CPU" sh -c 'while :; do :; done'

for kind in $TUNNELS; do
	tun_up "$kind" taskset -c "$CPU"
	check "$kind: up" tun_ready "$kind" "$px" "http://$tgt:$web/index.html" 30
	t0=$(date +%s.%N)
	pids=""
	# each download compared with the file as soon as it ends, while the
	# others still run
	for i in $(seq "$N"); do
		(
			curl -sS -m 120 -o "$T/dl-$kind-$i" --socks5-hostname "127.0.0.1:$px" \
				"http://$tgt:$web/big" 2>"$T/dl-$kind-$i.err"
			date +%s.%N >"$T/dl-$kind-$i.t"
			cmp -s "$T/www/big" "$T/dl-$kind-$i" && : >"$T/dl-$kind-$i.ok"
			rm -f "$T/dl-$kind-$i"
		) &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
	t1=$(sort -n "$T"/dl-$kind-*.t | tail -1)
	ok=$(find "$T" -name "dl-$kind-*.ok" | wc -l)
	errs=$(cat "$T"/dl-$kind-*.err | sed 's/curl: ([0-9]*) //' | cut -c1-50 | sort | uniq -c | sort -rn | head -3 | paste -sd';')
	echo "    $kind: $ok/$N byte-exact in $(awk "BEGIN { d = $t1 - $t0; printf \"%.1f s, %.1f\", d, $N * 5 * 8 / d }") Mbit/s in all ${errs:+(errors: $errs)}"
	check_eq "$kind: $N parallel downloads under CPU contention, byte-exact" "$N" "$ok"
	check "$kind: no tunnel reset in the logs" bash -c "! grep -h 'closed (reset)' $(for p in $procs; do printf "'%s' " "$T/$p.log"; done)"
	rm -f "$T"/dl-$kind-*
	tun_down "$kind"
done

finish
