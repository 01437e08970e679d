#!/usr/bin/env bash
# The SCTP tunnel (sluice -F sctp+udp:// to a sluice -L sctp+udp:// server,
# SCTP over UDP on usrsctp) next to the WebSocket tunnel (ws://, sealed
# records) and a direct connection, in one run, all on 127.0.0.1:
#
#   direct     iperf3 -c straight to iperf3 -s: the ceiling of this machine
#   ws         tcp forward -> sluice ws:// client -> sluice ws:// server -> iperf3
#   sctp+udp   tcp forward -> sluice sctp+udp client -> server -> iperf3
#   sctp-9000  the same with mtu=9000 on both sides (a fixed path MTU, as on
#              a jumbo-frame LAN; the default discovers it, 1500 here)
#
# Each path runs with 1 and with 8 parallel connections (iperf3 -P), SECS
# seconds each, ROUNDS rounds in the same order; the table gives the median
# Gbit/s and the ratio to direct.  With 8 connections the SCTP tunnel
# carries all 8 on one association (8 streams); the WebSocket tunnel opens 8
# WebSockets.
#
# Knobs: ROUNDS=3 SECS=5 SLUICE=./build/sluice
set -u
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
SLUICE=${SLUICE:-$(cd "$(dirname "$0")/.." && pwd)/build/sluice}
command -v iperf3 >/dev/null || { echo "bench/sctp.sh: needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
[ -x "$SLUICE" ] || { echo "bench/sctp.sh: build sluice first (make)" >&2; exit 1; }
T=$(mktemp -d /tmp/sluice-bench-sctp.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
start() { local n=$1; shift; "$@" >"$T/$n.log" 2>&1 & PIDS="$PIDS $!"; }
free_port() { python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
	for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
	echo "port $1 did not open" >&2
	return 1
}

KEY=$("$SLUICE" keygen)
ip=$(free_port)
start iperf iperf3 -s -B 127.0.0.1 -p "$ip"
wait_port "$ip"
declare -A PORT
PORT[direct]=$ip
ws=$(free_port)
PORT[ws]=$(free_port)
start ws-srv "$SLUICE" -L "ws://127.0.0.1:$ws?host-loopback=1&key=$KEY"
wait_port "$ws"
start ws-cli "$SLUICE" -L "tcp://127.0.0.1:${PORT[ws]}/127.0.0.1:$ip" -F "ws://127.0.0.1:$ws?key=$KEY"
sc=$(free_port)
scm=$(free_port)
PORT[sctp+udp]=$(free_port)
start sctp-srv "$SLUICE" -L "sctp+udp://127.0.0.1:$sc?host-loopback=1&key=$KEY" --metrics "127.0.0.1:$scm"
wait_port "$scm"
start sctp-cli "$SLUICE" -L "tcp://127.0.0.1:${PORT[sctp+udp]}/127.0.0.1:$ip" -F "sctp+udp://127.0.0.1:$sc?key=$KEY"
# the same with a fixed 9000-byte path MTU (a jumbo-frame LAN; loopback)
sj=$(free_port)
sjm=$(free_port)
PORT[sctp-9000]=$(free_port)
start sctpj-srv "$SLUICE" -L "sctp+udp://127.0.0.1:$sj?host-loopback=1&key=$KEY&mtu=9000" --metrics "127.0.0.1:$sjm"
wait_port "$sjm"
start sctpj-cli "$SLUICE" -L "tcp://127.0.0.1:${PORT[sctp-9000]}/127.0.0.1:$ip" \
	-F "sctp+udp://127.0.0.1:$sj?key=$KEY&mtu=9000"
wait_port "${PORT[ws]}"
wait_port "${PORT[sctp+udp]}"
wait_port "${PORT[sctp-9000]}"

PATHS=(direct ws sctp+udp sctp-9000)
declare -A R
for r in $(seq 1 "$ROUNDS"); do
	for p in "${PATHS[@]}"; do
		for n in 1 8; do
			for _try in 1 2 3; do # iperf3 -s refuses a test while it finishes the last one
				out=$(iperf3 -c 127.0.0.1 -p "${PORT[$p]}" -t "$SECS" -P "$n" -J 2>/dev/null |
					python3 -c 'import json,sys
try: print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,3))
except Exception: print("nan")')
				[ "$out" != nan ] && break
				sleep 1
			done
			R[$p:$n]="${R[$p:$n]:-} $out"
			echo "round $r: $p -P $n: $out Gbit/s" >&2
		done
	done
done

median() { python3 -c 'import statistics,sys
v=[float(x) for x in sys.argv[1:] if x!="nan"]
print(round(statistics.median(v),3) if v else "nan")' "$@"; }
printf '\n%-10s %14s %8s %14s %8s\n' path "1 conn Gbit/s" ratio "8 conns Gbit/s" ratio
d1=$(median ${R[direct:1]})
d8=$(median ${R[direct:8]})
for p in "${PATHS[@]}"; do
	m1=$(median ${R[$p:1]})
	m8=$(median ${R[$p:8]})
	printf '%-10s %14s %8s %14s %8s\n' "$p" "$m1" "$(python3 -c "print(round($m1/$d1,3))" 2>/dev/null)" \
		"$m8" "$(python3 -c "print(round($m8/$d8,3))" 2>/dev/null)"
done
