#!/usr/bin/env bash
# The SSTP client against a real SSTP server: SoftEther VPN Server (Debian's
# softether-vpnserver, as the peers lab runs it: tests/peers/softether.sh) with
# SecureNAT, in a private network namespace.  iperf3 -s listens on
# 10.77.0.1, an address on the namespace's loopback that the tunnel reaches
# through SecureNAT's NAT.
#
#   direct   iperf3 -c 10.77.0.1: the same server without any tunnel
#   sstp     iperf3 -c to a sluice port forward -> sstp:// -> SoftEther ->
#            SecureNAT -> 10.77.0.1
#
# One iperf3 stream per run, SECS seconds, upload (client -> server) and
# download (-R), ROUNDS rounds alternating the paths.  CPU per GB is
# sluice's own (utime + stime) and SoftEther's (its whole process group),
# over the bytes moved.  SecureNAT is a userspace TCP/IP stack too, so the
# sstp row is bounded by whichever of the two stacks is slower: the CPU
# columns say which.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}

if [ -z "${IN_NS:-}" ]; then
	need_pkgs iperf3 procps
	check_sluice
	need_peers softether
	IN_NS=1 exec unshare --net "$0" "$@"
fi
bench_init sstp 900
ip link set lo up
ip addr add 10.77.0.1/32 dev lo
SE="$T/se"
"$PEERS" softether start "$SE" bench 'bench-pw' >"$T/softether.log" 2>&1 ||
	die "SoftEther did not start: $(cat "$T/softether.log")"
trap '"$PEERS" softether stop "$SE" 2>/dev/null; on_exit' EXIT
start iperf iperf3 -s -B 10.77.0.1 -p 5201
FWD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start sluice "$SLUICE" -q -L "tcp://127.0.0.1:$FWD/10.77.0.1:5201" \
	-F "sstp://bench:bench-pw@127.0.0.1?insecure=1"
SLUICE_PID=$LAST_PID
wait_port "$FWD"
sleep 1

cpu_of() { # pids... -> CPU seconds (utime + stime)
	local p t=0
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}
se_pids() { pgrep -g "$(cat "$SE/pgid")" | xargs; }

# run PATH DIR: one iperf3 run; prints "gbit bytes sluice_ticks softether_ticks"
run() {
	local path=$1 dir=$2 host port rflag="" out s0 s1 e0 e1
	if [ "$path" = direct ]; then host=10.77.0.1 port=5201; else host=127.0.0.1 port=$FWD; fi
	[ "$dir" = down ] && rflag=-R
	s0=$(cpu_of "$SLUICE_PID")
	# shellcheck disable=SC2046
	e0=$(cpu_of $(se_pids))
	out=$(iperf3 -c "$host" -p "$port" -t "$SECS" $rflag -J) || {
		echo "0 0 0 0"
		return
	}
	s1=$(cpu_of "$SLUICE_PID")
	# shellcheck disable=SC2046
	e1=$(cpu_of $(se_pids))
	python3 -c '
import json, sys
j = json.loads(sys.argv[1])
r = j["end"]["sum_received"]
print(round(r["bits_per_second"] / 1e9, 3), int(r["bytes"]), *sys.argv[2:])
' "$out" $((s1 - s0)) $((e1 - e0))
}

declare -A SUM
for r in $(seq "$ROUNDS"); do
	for dir in up down; do
		for path in direct sstp; do
			read -r g b sc ec < <(run "$path" "$dir")
			log "round $r $path $dir: $g Gbit/s"
			SUM[$path.$dir]="${SUM[$path.$dir]:-} $g:$b:$sc:$ec"
		done
	done
done

hz=$(getconf CLK_TCK)
echo "## SSTP client to SoftEther (SecureNAT), iperf3, ${SECS}s x $ROUNDS rounds"
echo
echo "| direction | direct Gbit/s | sstp Gbit/s | sstp / direct | sluice CPU s/GB | SoftEther CPU s/GB |"
echo "| --- | --- | --- | --- | --- | --- |"
for dir in up down; do
	python3 - "$hz" "$dir" "${SUM[direct.$dir]}" "${SUM[sstp.$dir]}" <<'PY'
import statistics, sys
hz = int(sys.argv[1]); d = sys.argv[2]
def parse(s): return [tuple(float(x) for x in t.split(":")) for t in s.split()]
direct, sstp = parse(sys.argv[3]), parse(sys.argv[4])
dg = statistics.median(x[0] for x in direct)
sg = statistics.median(x[0] for x in sstp)
gb = sum(x[1] for x in sstp) / 1e9 or 1
sc = sum(x[2] for x in sstp) / hz / gb
ec = sum(x[3] for x in sstp) / hz / gb
name = "upload (client -> server)" if d == "up" else "download (server -> client)"
print(f"| {name} | {dg:.2f} | {sg:.3f} | {sg / dg if dg else 0:.3f} | {sc:.1f} | {ec:.1f} |")
PY
done
echo
