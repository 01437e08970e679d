#!/usr/bin/env bash
# The UDP VPN, next to the same path without it, in one run:
#
#   veth      iperf3 across a veth pair between two network namespaces
#   vpn-tun   the same pair, through sluice's VPN with TUN devices on both
#             sides (-L 'vpn://...&tun=' and -L tun:// -F vpn://)
#   lo        iperf3 on loopback (this machine's ceiling)
#   vpn-rootless  the client's -L tcp:// forward into lwIP, the VPN over
#             loopback, the server's libslirp NAT to iperf3 on 127.0.0.1
#
# One iperf3 stream, SECS seconds, ROUNDS rounds, both directions (-R:
# server to client); the median of the rounds.  CPU per GB: utime+stime of
# both sluice processes (client and server) from /proc/PID/stat, after
# minus before, over the bytes iperf3 received.  The namespace paths need
# root; without it only the loopback ones run.
set -euo pipefail
SLUICE=${SLUICE:-$(cd "$(dirname "$0")/.." && pwd)/build/sluice}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-3}
T=$(mktemp -d /tmp/sluice-bench-vpn.XXXXXX)
PIDS=()
A=bvpnA$$
B=bvpnB$$
ROOT=0
[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v ip >/dev/null && ROOT=1
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	if [ "$ROOT" = 1 ]; then
		ip netns del "$A" 2>/dev/null || true
		ip netns del "$B" 2>/dev/null || true
	fi
	[ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT
command -v iperf3 >/dev/null || { echo "## vpn"; echo; echo "iperf3 is not installed"; exit 0; }
start() { # NAME CMD...
	local n=$1
	shift
	"$@" >"$T/$n.log" 2>&1 &
	PIDS+=($!)
	eval "PID_$n=$!"
}
cpu() { # PID... -> clock ticks used so far
	local s=0 p
	for p in "$@"; do
		s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$s"
}
# iperf NS-PREFIX HOST PORT [-R] -> "bits_per_second bytes"
iperf() {
	local pre=$1 host=$2 port=$3
	shift 3
	$pre iperf3 -c "$host" -p "$port" -t "$SECS" -J "$@" >"$T/iperf.json" 2>/dev/null || { echo "0 0"; return; }
	python3 -c 'import json,sys
e=json.load(open(sys.argv[1]))["end"]["sum_received"]
print(int(e["bits_per_second"]), int(e["bytes"]))' "$T/iperf.json"
}
declare -A RES CPUGB
# measure NAME PRE HOST PORT DIR PIDS...
measure() {
	local name=$1 pre=$2 host=$3 port=$4 dir=$5
	shift 5
	local r out c0 c1 bps bytes vals=() cpus=()
	for r in $(seq "$ROUNDS"); do
		c0=$( [ $# -gt 0 ] && cpu "$@" || echo 0)
		if [ "$dir" = R ]; then out=$(iperf "$pre" "$host" "$port" -R); else out=$(iperf "$pre" "$host" "$port"); fi
		c1=$( [ $# -gt 0 ] && cpu "$@" || echo 0)
		bps=${out% *}
		bytes=${out#* }
		vals+=("$bps")
		if [ "$bytes" -gt 0 ]; then
			cpus+=("$(python3 -c "import os; print('%.2f' % (($c1-$c0)/os.sysconf('SC_CLK_TCK')/($bytes/1e9)))")")
		fi
		log "$name $dir round $r: $(python3 -c "print('%.2f' % ($bps/1e9))") Gbit/s"
	done
	RES[$name:$dir]=$(printf '%s\n' "${vals[@]}" | sort -n | sed -n "$(((ROUNDS + 1) / 2))p")
	if [ ${#cpus[@]} -gt 0 ] && [ $# -gt 0 ]; then
		CPUGB[$name:$dir]=$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "$(((${#cpus[@]} + 1) / 2))p")
	else
		CPUGB[$name:$dir]="-"
	fi
}

echo 'alice bench' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null

if [ "$ROOT" = 1 ]; then
	log "namespaces: $A (client) and $B (server)"
	ip netns add "$A"
	ip netns add "$B"
	ip -n "$A" link set lo up
	ip -n "$B" link set lo up
	ip link add va$$ type veth peer name vb$$
	ip link set va$$ netns "$A"
	ip link set vb$$ netns "$B"
	ip -n "$A" addr add 192.168.81.2/24 dev va$$
	ip -n "$B" addr add 192.168.81.1/24 dev vb$$
	ip -n "$A" link set va$$ up
	ip -n "$B" link set vb$$ up
	start iperfB ip netns exec "$B" iperf3 -s -p 5201
	start srv ip netns exec "$B" "$SLUICE" -L "vpn://192.168.81.1:5555?users=$T/users.txt&net=10.10.0.0/24&tun=bvpn"
	sleep 0.5
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/srv.log" | head -1)
	start cli ip netns exec "$A" "$SLUICE" -L tun://bvpn -F "vpn://alice:alice%20bench@192.168.81.1:5555?pub=$pub"
	for _ in $(seq 100); do
		ip -n "$A" -4 addr show bvpn 2>/dev/null | grep -q 'inet 10.10.0' && break
		sleep 0.1
	done
	for dir in F R; do
		measure veth "ip netns exec $A" 192.168.81.1 5201 "$dir"
		measure vpn-tun "ip netns exec $A" 10.10.0.1 5201 "$dir" "$PID_srv" "$PID_cli"
	done
fi

log "rootless on loopback"
start iperfL iperf3 -s -p 25201 -B 127.0.0.1
start rsrv "$SLUICE" -L "vpn://127.0.0.1:25555?users=$T/users.txt&net=10.10.0.0/24"
sleep 0.5
pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/rsrv.log" | head -1)
start rcli "$SLUICE" -L tcp://127.0.0.1:25202/10.10.0.1:25201 -F "vpn://alice:alice%20bench@127.0.0.1:25555?pub=$pub"
sleep 1
for dir in F R; do
	measure lo "" 127.0.0.1 25201 "$dir"
	measure vpn-rootless "" 127.0.0.1 25202 "$dir" "$PID_rsrv" "$PID_rcli"
done

g() { python3 -c "print('%.2f' % (${1:-0}/1e9))"; }
ratio() { python3 -c "print('%.0f%%' % (100.0*${1:-0}/${2:-1}) if ${2:-0} else '-')"; }
echo "## vpn"
echo
echo "One iperf3 stream, $SECS s, median of $ROUNDS rounds; F = client to server, R = server to client."
echo "CPU per GB: both sluice processes, seconds of CPU per GB received."
echo
echo "| path | dir | Gbit/s | vs. same path without VPN | CPU s/GB |"
echo "|---|---|---|---|---|"
for dir in F R; do
	if [ "$ROOT" = 1 ]; then
		echo "| veth | $dir | $(g "${RES[veth:$dir]}") | | |"
		echo "| vpn-tun | $dir | $(g "${RES[vpn-tun:$dir]}") | $(ratio "${RES[vpn-tun:$dir]}" "${RES[veth:$dir]}") | ${CPUGB[vpn-tun:$dir]} |"
	fi
	echo "| lo | $dir | $(g "${RES[lo:$dir]}") | | |"
	echo "| vpn-rootless | $dir | $(g "${RES[vpn-rootless:$dir]}") | $(ratio "${RES[vpn-rootless:$dir]}" "${RES[lo:$dir]}") | ${CPUGB[vpn-rootless:$dir]} |"
done
[ "$ROOT" = 1 ] || echo "(not root: the namespace paths were skipped)"
