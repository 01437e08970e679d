#!/bin/bash
# Restarts: for each tunnel and the plain proxy, 20 downloads of 8 MiB run
# through it (rate-limited so they are in flight) when the server is
# killed with SIGKILL and started again on the same port.  Every download
# must end within 60 s, either complete and byte-exact or with an error
# from curl (never a hang, never wrong bytes), and a new connection must
# work again without anyone touching the client.  Time to recovery is
# printed.  The VPN client runs with keepalive=2s (it notices a silent
# server after three keepalives: 45 s with the default 15 s).  For the
# plain proxy the proxy itself is what is killed.
# ctest-label: slow
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/e2e/faults/tunnels.sh"
TUNNELS=${SLUICE_TUNNELS:-$TUNNELS_ALL}
tun_netns
TUN_VPN_OPTS="&keepalive=2s"

tun_web big=8M
want=$(sha "$T/www/big")

for kind in $TUNNELS; do
	tun_up "$kind"
	victim=srv-$kind
	[ "$kind" = proxy ] && victim=cli-$kind
	check "$kind: up" tun_ready "$kind" "$px" "http://$tgt:$web/index.html" 30
	pids=""
	for i in $(seq 20); do
		(
			curl -sS -m 60 --limit-rate 1M -o "$T/dl-$kind-$i" --socks5-hostname "127.0.0.1:$px" \
				"http://$tgt:$web/big" 2>"$T/dl-$kind-$i.err"
			echo $? >"$T/dl-$kind-$i.rc"
		) &
		pids="$pids $!"
	done
	# every download under way (bytes received) before the kill
	for _ in $(seq 100); do
		n=0
		for i in $(seq 20); do [ -s "$T/dl-$kind-$i" ] && n=$((n + 1)); done
		[ $n -eq 20 ] && break
		sleep 0.2
	done
	echo "    $kind: $n of 20 downloads under way at the kill"
	tun_kill "$victim" KILL
	t0=$(date +%s.%N)
	sleep 1
	if [ "$kind" = proxy ]; then
		tun_client "$kind" "$px" "$sp" "$victim-2"
	else
		tun_server "$kind" "$sp" "$victim-2"
	fi
	if tun_ready "$kind" "$px" "http://$tgt:$web/index.html" 60; then
		t1=$(date +%s.%N)
		pass "$kind: new connections work again, $(python3 -c "print(round($t1-$t0,1))") s after the kill"
	else
		fail "$kind: no new connection within 60 s of the restart"
	fi
	for p in $pids; do wait "$p"; done
	ok=0 failed=0 hung=0 corrupt=0
	for i in $(seq 20); do
		rc=$(cat "$T/dl-$kind-$i.rc")
		if [ "$rc" = 0 ]; then
			if [ "$(sha "$T/dl-$kind-$i")" = "$want" ]; then ok=$((ok + 1)); else corrupt=$((corrupt + 1)); fi
		elif [ "$rc" = 28 ]; then
			hung=$((hung + 1))
		else
			failed=$((failed + 1))
		fi
	done
	echo "    $kind: in flight at the kill: $ok completed byte-exact, $failed failed with an error" \
		"($(cat "$T"/dl-$kind-*.err | sed 's/curl: ([0-9]*) //' | cut -c1-40 | sort | uniq -c | sort -rn | head -2 | paste -sd';'))"
	check_eq "$kind: no download hung" 0 "$hung"
	check_eq "$kind: no download delivered wrong bytes" 0 "$corrupt"
	check_eq "$kind: every download ended" 20 $((ok + failed + hung + corrupt))
	got=$(curl -sS -m 60 --socks5-hostname "127.0.0.1:$px" "http://$tgt:$web/big" | sha256sum | cut -d' ' -f1)
	check_eq "$kind: a full download after the restart, byte-exact" "$want" "$got"
	[ "$kind" = proxy ] || check "$kind: the client survived" alive "cli-$kind"
	tun_down "$kind"
done

finish
