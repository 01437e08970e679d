#!/bin/bash
# The wss client's resident memory across rounds of 1000 connections open
# at once (SOCKS5 through a wss client/server pair to an echo server), six
# rounds.  It used to climb every round (each short read pinned a 128 KiB
# chunk, and glibc kept what the burst freed): now, a few seconds after each
# round, both ends are back within a few MiB of where they started.
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/e2e/faults/tunnels.sh"
skip_if_asan
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
ROUNDS=${SLUICE_E2E_ROUNDS:-6}

echo_port=$(free_port)
start echo python3 "$SRCDIR/tests/e2e/tools.py" echo-server "$echo_port"
wait_port "$echo_port"
sp=$(free_port)
px=$(free_port)
tun_server wss "$sp"
tun_client wss "$px" "$sp"
check "a first connection" $FX churn "$px" 127.0.0.1 "$echo_port" 1 1
sleep 1.5
c0=$(rss_kb cli-wss)
s0=$(rss_kb srv-wss)
cs="" ss=""
for i in $(seq "$ROUNDS"); do
	$FX churn "$px" 127.0.0.1 "$echo_port" 1000 1000 >"$T/round$i.out" 2>&1 || fail "round $i: $(head -3 "$T/round$i.out")"
	sleep 3
	cs="$cs $(rss_kb cli-wss)"
	ss="$ss $(rss_kb srv-wss)"
done
echo "    client RSS KiB: start $c0, after each round:$cs"
echo "    server RSS KiB: start $s0, after each round:$ss"
# no climb: the last round ends no higher than the first (+8 MiB: what
# is left free between trims), and after every round both ends are near
# where they started (+24 MiB: the chunk free list keeps up to 8 MiB)
for who in client server; do
	if [ $who = client ]; then set -- $cs; b=$c0; else set -- $ss; b=$s0; fi
	first=$1
	shift $(($# - 1))
	last=$1
	check "$who: RSS after round $ROUNDS ($last KiB) <= after round 1 ($first KiB) + 8 MiB" \
		test "$last" -le $((first + 8192))
	[ $who = client ] && max=$(printf '%s\n' $cs | sort -n | tail -1)
	[ $who = server ] && max=$(printf '%s\n' $ss | sort -n | tail -1)
	check "$who: after every round RSS ($max KiB at most) is within 24 MiB of its start ($b KiB)" \
		test "$max" -le $((b + 24576))
done

finish
