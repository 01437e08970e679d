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
#   sstpd    iperf3 -c to a second sluice port forward -> sstp:// -> sluice's
#            own SSTP server (-L sstp://, its libslirp gateway) -> 10.77.0.1
#
# One iperf3 stream per run, SECS seconds, upload (client -> server) and
# download (-R), ROUNDS rounds alternating the paths.  CPU per GB is
# sluice's own (utime + stime) and SoftEther's (its whole process group),
# over the bytes moved (for sstpd: the client's and the server's, each).
# SecureNAT is a userspace TCP/IP stack too, so the
# sstp row is bounded by whichever of the two stacks is slower: the CPU
# columns say which.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}

if [ -z "${IN_NS:-}" ]; then
	need_pkgs iperf3 procps openssl
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
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
	-subj /CN=bench >/dev/null 2>&1
echo 'bench:bench-pw' >"$T/users"
chmod 600 "$T/users"
SP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start sstpd "$SLUICE" -q -L "sstp://127.0.0.1:$SP?cert=$T/cert.pem&certkey=$T/key.pem&users=$T/users&net=10.88.0.0/24"
SSTPD_PID=$LAST_PID
wait_port "$SP"
FWD2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start sluice2 "$SLUICE" -q -L "tcp://127.0.0.1:$FWD2/10.77.0.1:5201" \
	-F "sstp://bench:bench-pw@127.0.0.1:$SP?insecure=1"
SLUICE2_PID=$LAST_PID
wait_port "$FWD2"
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

# run PATH DIR: one iperf3 run; prints "gbit bytes client_ticks server_ticks"
# (the server: SoftEther for sstp, sluice's SSTP server for sstpd)
run() {
	local path=$1 dir=$2 host=127.0.0.1 port rflag="" out s0 s1 e0 e1 cpid spids
	case $path in
	direct) host=10.77.0.1 port=5201 cpid="" spids="" ;;
	sstp) port=$FWD cpid=$SLUICE_PID spids=$(se_pids) ;;
	sstpd) port=$FWD2 cpid=$SLUICE2_PID spids=$SSTPD_PID ;;
	esac
	[ "$dir" = down ] && rflag=-R
	s0=$(cpu_of $cpid)
	# shellcheck disable=SC2086
	e0=$(cpu_of $spids)
	out=$(iperf3 -c "$host" -p "$port" -t "$SECS" $rflag -J) || {
		echo "0 0 0 0"
		return
	}
	s1=$(cpu_of $cpid)
	# shellcheck disable=SC2086
	e1=$(cpu_of $spids)
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
		for path in direct sstp sstpd; do
			read -r g b sc ec < <(run "$path" "$dir")
			log "round $r $path $dir: $g Gbit/s"
			SUM[$path.$dir]="${SUM[$path.$dir]:-} $g:$b:$sc:$ec"
		done
	done
done

hz=$(getconf CLK_TCK)
echo "## SSTP client to SoftEther (SecureNAT) and to sluice's SSTP server, iperf3, ${SECS}s x $ROUNDS rounds"
echo
echo "| direction | direct Gbit/s | via SoftEther | via sluice's server | sluice ÷ SoftEther | client CPU s/GB (SoftEther / sluice) | server CPU s/GB (SoftEther / sluice) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for dir in up down; do
	python3 - "$hz" "$dir" "${SUM[direct.$dir]}" "${SUM[sstp.$dir]}" "${SUM[sstpd.$dir]}" <<'PY'
import statistics, sys
hz = int(sys.argv[1]); d = sys.argv[2]
def parse(s): return [tuple(float(x) for x in t.split(":")) for t in s.split()]
direct, se, sd = parse(sys.argv[3]), parse(sys.argv[4]), parse(sys.argv[5])
med = lambda rows: statistics.median(x[0] for x in rows)
def cpu(rows, i):
    gb = sum(x[1] for x in rows) / 1e9 or 1
    return sum(x[i] for x in rows) / hz / gb
dg, eg, sg = med(direct), med(se), med(sd)
name = "upload (client -> server)" if d == "up" else "download (server -> client)"
print(f"| {name} | {dg:.2f} | {eg:.3f} | {sg:.3f} | {sg / eg if eg else 0:.2f} | "
      f"{cpu(se, 2):.1f} / {cpu(sd, 2):.1f} | {cpu(se, 3):.1f} / {cpu(sd, 3):.1f} |")
PY
done
echo
