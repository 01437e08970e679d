#!/bin/bash
# Exhaustion, for each tunnel and the plain proxy, both ends run with
# `ulimit -n 256`:
#  - descriptors: 400 connections held open at once through the tunnel
#    (each echoes first), then 1000 more attempts while they are held.
#    The excess is refused, a log line says why, neither process dies or
#    spins (CPU over 3 s at the limit stays under 20%), and once the held
#    connections close 300 new ones all work;
#  - memory: the path started again without the low limit, 300
#    connections whose application never reads, from a source that sends
#    without end: at least 200 connect, and each process stays under
#    1 MiB per connection above its start, README's bound: the relay's
#    256 KiB queue, the chunk that crossed it, and one chunk of at most
#    128 KiB in each layer below that parses the stream (TLS records,
#    WebSocket frames, the message being put together); peak RSS reported.
#    (A WebSocket tunnel stream that kept its own 256 KiB queue behind
#    the relay's put the wss client at about 1.05 MiB.)
# ctest-label: slow
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/e2e/faults/tunnels.sh"
skip_if_asan
need_cmd prlimit
: "${FXC:?set FXC to the fxc binary (tests/e2e/faults/fxc.c)}"
ulimit -n 8192 2>/dev/null || true
TUNNELS=${SLUICE_TUNNELS:-$TUNNELS_ALL}
tun_netns
LIMIT=256
STALL=300

echo_port=$(free_port)
start echo "$FXC" echo "$echo_port" "$TUN_LISTEN"
src_port=$(free_port)
start source "$FXC" source "$src_port" "$TUN_LISTEN"
wait_port "$echo_port"
wait_port "$src_port"

for kind in $TUNNELS; do
	tun_up "$kind" prlimit --nofile=$LIMIT:$LIMIT
	check "$kind: up" $FXC churn "$px" "$tgt" "$echo_port" 20 5 60

	# descriptors
	$FX hold "$px" "$tgt" "$echo_port" 400 60 >"$T/hold-$kind.out" 2>&1 &
	hp=$!
	for _ in $(seq 150); do grep -q "held=" "$T/hold-$kind.out" && break; sleep 0.2; done
	$FXC churn "$px" "$tgt" "$echo_port" 1000 50 20 >"$T/over-$kind.out" 2>&1
	declare -A c0
	for p in $procs; do c0[$p]=$(cpu_ticks "$p"); done
	sleep 3
	echo "    $kind: $(head -1 "$T/hold-$kind.out"); 1000 more while held: $(head -1 "$T/over-$kind.out")"
	held=$(sed -n 's/^held=\([0-9]*\).*/\1/p' "$T/hold-$kind.out")
	check "$kind: some connections held at the limit (${held:-0})" test "${held:-0}" -ge 50
	check "$kind: the excess was refused" grep -Eq "refused=[1-9]|failed=[1-9]" "$T/hold-$kind.out" "$T/over-$kind.out"
	for p in $procs; do
		d=$(($(cpu_ticks "$p") - ${c0[$p]}))
		check "$kind: $p does not spin at the limit ($d ticks in 3 s)" test "$d" -lt 60
		check "$kind: $p alive" alive "$p"
	done
	logs=$(for p in $procs; do echo "$T/$p.log"; done)
	for _ in $(seq 50); do grep -qi "descriptors" $logs && break; sleep 0.2; done
	check "$kind: a log line says descriptors ran out" grep -qi "descriptors" $logs
	# the held connections close with their process
	kill $hp 2>/dev/null
	wait $hp
	sleep 1
	check "$kind: 300 new connections once the held ones closed" $FXC churn "$px" "$tgt" "$echo_port" 300 20 60
	if [ "$kind" = proxy ]; then
		# the dials use the descriptors up, not the accepts: 200 clients
		# accepted first (all below the listener's reserve), then all ask
		# for the echo server at once, then 100 more.  accept(2) must never
		# meet EMFILE (libuv then closes what waits without a word): the
		# dials leave the last descriptors free, and the refusals are said
		# in the log (at most once per 5 s per listener, and per process for
		# the dials: the wait lets this part's lines through)
		sleep 5
		l0=$(wc -l <"$T/cli-proxy.log")
		$FX prime "$px" "$tgt" "$echo_port" 200 20 >"$T/prime.out" 2>&1 &
		hp=$!
		for _ in $(seq 150); do grep -q "primed=" "$T/prime.out" && break; sleep 0.2; done
		$FXC churn "$px" "$tgt" "$echo_port" 100 20 20 >"$T/over2.out" 2>&1
		echo "    proxy: $(head -1 "$T/prime.out"); 100 more: $(head -1 "$T/over2.out")"
		check "proxy: dials refused at the limit" grep -Eq "failed=[1-9]" "$T/prime.out" "$T/over2.out"
		newlog() { tail -n +$((l0 + 1)) "$T/cli-proxy.log"; }
		for _ in $(seq 50); do newlog | grep -q "connect: refused: descriptors" && break; sleep 0.2; done
		check "proxy: a log line says the dials ran out of descriptors" \
			grep -q "connect: refused: descriptors" <(newlog)
		check "proxy: the connections beyond were refused by the listener, saying so" \
			grep -q "refused .*descriptors nearly exhausted" <(newlog)
		check "proxy: alive after the dials ran out" alive cli-proxy
		kill $hp 2>/dev/null
		wait $hp
		sleep 1
		check "proxy: 300 new connections once those closed" $FXC churn "$px" "$tgt" "$echo_port" 300 20 60
	fi

	# memory: applications that stop reading, on hundreds of connections:
	# the path again, at the test's limit (8192)
	tun_down "$kind"
	tun_up "$kind"
	check "$kind: up again for the stalled readers" $FXC churn "$px" "$tgt" "$echo_port" 20 5 60
	declare -A r0
	for p in $procs; do r0[$p]=$(rss_kb "$p"); done
	$FX stall "$px" "$tgt" "$src_port" "$STALL" 30 >"$T/stall-$kind.out" 2>&1 &
	sp_=$!
	for p in $procs; do eval "pk_${p//-/_}=0"; done
	# sampled while they connect and once all are, until the peaks have
	# stopped growing (no process 256 KiB higher for 3 s; at most 20 s):
	# the source fills what the tunnel and the relay queue for them
	still=0
	for _ in $(seq 160); do
		grew=0
		for p in $procs; do
			v="pk_${p//-/_}"
			r=$(rss_kb "$p")
			[ "$r" -gt $((${!v} + 256)) ] && grew=1
			[ "$r" -gt "${!v}" ] && eval "$v=$r"
		done
		if grep -q "stalled=" "$T/stall-$kind.out"; then
			[ $grew = 1 ] && still=0 || still=$((still + 1))
			[ $still -ge 12 ] && break
		fi
		sleep 0.25
	done
	kill $sp_ 2>/dev/null
	wait $sp_
	echo "    $kind: $(head -1 "$T/stall-$kind.out")"
	ns=$(sed -n 's/^stalled=\([0-9]*\).*/\1/p' "$T/stall-$kind.out")
	check "$kind: stalled readers connected (${ns:-0})" test "${ns:-0}" -ge 200
	for p in $procs; do
		v="pk_${p//-/_}"
		per=$(((${!v} - ${r0[$p]}) / ${ns:-1}))
		echo "    $kind: $p RSS ${r0[$p]} KiB -> peak ${!v} KiB with $ns stalled readers ($per KiB each)"
		check "$kind: $p stays under 1 MiB per stalled connection" test "$per" -le 1024
	done
	tun_down "$kind"
done

finish
