#!/usr/bin/env bash
# The UDP VPN, next to the same path without it and next to wireguard-go,
# in one run:
#
#   veth      iperf3 across a veth pair between two network namespaces
#   vpn-tun   the same pair, through sluice's VPN with TUN devices on both
#             sides (-L 'vpn://...&tun=' and -L tun:// -F vpn://)
#   wg-go     the same pair, through wireguard-go (Debian's) on both sides
#   lo        iperf3 on loopback (this machine's ceiling)
#   vpn-rootless  the client's -L tcp:// forward into lwIP, the VPN over
#             loopback, the server's libslirp NAT to iperf3 on 127.0.0.1
#
# One iperf3 stream, SECS seconds, ROUNDS rounds; each round runs every
# path in both directions (-R: server to client) once, in the same order,
# so a busy moment of the machine hits all paths alike.  A cell is the
# median of the rounds; the ratio is the median of the per-round ratios
# to the bare path (veth or lo) of the same round.  CPU per GB: utime+stime
# of both tunnel processes (client and server) from /proc/PID/stat, after
# minus before, over the bytes iperf3 received.  The namespace paths need
# root; without it only the loopback ones run.  NOOFFLOAD=1 turns the
# veth's offloads off with ethtool (a kernel and NIC without them);
# VPNOPTS adds options to the VPN client's URL (VPNSRVOPTS to the
# server's); VPN2OPTS (and VPN2SRVOPTS) set up a second TUN VPN pair
# beside the first, the row vpn-tun2, to compare two settings in one run
# (VPNOPTS='&cipher=chacha20-poly1305' VPN2OPTS='&cipher=aes-128-gcm').
set -euo pipefail
SLUICE=${SLUICE:-$(cd "$(dirname "$0")/.." && pwd)/build/sluice}
# run as root, a sluice that serves the network must be told to stay root (core/priv.h)
[ "$(id -u)" = 0 ] && export SLUICE_USER="${SLUICE_USER-root}"
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-3}
T=$(mktemp -d /tmp/sluice-bench-vpn.XXXXXX)
PIDS=()
A=bvpnA$$
B=bvpnB$$
WA=bwga$$
WB=bwgb$$
ROOT=0
[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v ip >/dev/null && ROOT=1
WG=0
[ "$ROOT" = 1 ] && command -v wireguard-go >/dev/null && command -v wg >/dev/null && WG=1
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	if [ "$ROOT" = 1 ]; then
		ip netns del "$A" 2>/dev/null || true
		ip netns del "$B" 2>/dev/null || true
	fi
	rm -f "/var/run/wireguard/$WA.sock" "/var/run/wireguard/$WB.sock"
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
declare -A BPS CPUS PRE HOST PORTN PROCS BASE
PATHS=()
# path NAME BASE PRE HOST PORT PIDS...: a path to measure, BASE its bare twin
path() {
	local n=$1
	PATHS+=("$n")
	BASE[$n]=$2
	PRE[$n]=$3
	HOST[$n]=$4
	PORTN[$n]=$5
	shift 5
	PROCS[$n]="$*"
}
# one NAME DIR: one iperf3 run, appended to BPS[NAME:DIR] and CPUS[NAME:DIR]
one() {
	local n=$1 dir=$2 out c0 c1 bps bytes
	# shellcheck disable=SC2086
	c0=$([ -n "${PROCS[$n]}" ] && cpu ${PROCS[$n]} || echo 0)
	if [ "$dir" = R ]; then
		out=$(iperf "${PRE[$n]}" "${HOST[$n]}" "${PORTN[$n]}" -R)
	else
		out=$(iperf "${PRE[$n]}" "${HOST[$n]}" "${PORTN[$n]}")
	fi
	# shellcheck disable=SC2086
	c1=$([ -n "${PROCS[$n]}" ] && cpu ${PROCS[$n]} || echo 0)
	bps=${out% *}
	bytes=${out#* }
	BPS[$n:$dir]+="$bps "
	if [ "$bytes" -gt 0 ] && [ -n "${PROCS[$n]}" ]; then
		CPUS[$n:$dir]+="$(python3 -c "import os; print('%.2f' % (($c1-$c0)/os.sysconf('SC_CLK_TCK')/($bytes/1e9)))") "
	fi
	log "$n $dir: $(python3 -c "print('%.2f' % ($bps/1e9))") Gbit/s"
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
	if [ "${NOOFFLOAD:-0}" = 1 ]; then
		for x in "$A va$$" "$B vb$$"; do
			set -- $x
			ip netns exec "$1" ethtool -K "$2" tso off gso off gro off tx off rx off \
				tx-udp-segmentation off rx-gro-list off rx-udp-gro-forwarding off >/dev/null 2>&1 || true
		done
	fi
	start iperfB ip netns exec "$B" iperf3 -s -p 5201
	# vpnpair SUFFIX PORT NET3 CLIENTOPTS SERVEROPTS: a TUN VPN server in B and its client in A
	vpnpair() {
		local s=$1
		start "srv$s" ip netns exec "$B" "$SLUICE" -L "vpn://192.168.81.1:$2?users=$T/users.txt&net=$3.0/24&tun=bvpn$s$5"
		sleep 0.5
		pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/srv$s.log" | head -1)
		start "cli$s" ip netns exec "$A" "$SLUICE" -L "tun://bvpn$s" -F "vpn://alice:alice%20bench@192.168.81.1:$2?pub=$pub$4"
		for _ in $(seq 100); do
			ip -n "$A" -4 addr show "bvpn$s" 2>/dev/null | grep -q "inet $3" && break
			sleep 0.1
		done
	}
	vpnpair "" 5555 10.10.0 "${VPNOPTS:-}" "${VPNSRVOPTS:-}"
	path veth "" "ip netns exec $A" 192.168.81.1 5201
	path vpn-tun veth "ip netns exec $A" 10.10.0.1 5201 "$PID_srv" "$PID_cli"
	if [ -n "${VPN2OPTS:-}${VPN2SRVOPTS:-}" ]; then
		vpnpair 2 5556 10.12.0 "${VPN2OPTS:-}" "${VPN2SRVOPTS:-}"
		path vpn-tun2 veth "ip netns exec $A" 10.12.0.1 5201 "$PID_srv2" "$PID_cli2"
	fi
	if [ "$WG" = 1 ]; then
		wg genkey >"$T/wga.key"
		wg genkey >"$T/wgb.key"
		start wga env WG_PROCESS_FOREGROUND=1 ip netns exec "$A" wireguard-go -f "$WA"
		start wgb env WG_PROCESS_FOREGROUND=1 ip netns exec "$B" wireguard-go -f "$WB"
		for _ in $(seq 50); do
			[ -S "/var/run/wireguard/$WA.sock" ] && [ -S "/var/run/wireguard/$WB.sock" ] && break
			sleep 0.1
		done
		ip netns exec "$A" wg set "$WA" private-key "$T/wga.key" listen-port 51820 \
			peer "$(wg pubkey <"$T/wgb.key")" allowed-ips 10.77.0.1/32 endpoint 192.168.81.1:51821
		ip netns exec "$B" wg set "$WB" private-key "$T/wgb.key" listen-port 51821 \
			peer "$(wg pubkey <"$T/wga.key")" allowed-ips 10.77.0.2/32
		ip -n "$A" addr add 10.77.0.2/24 dev "$WA"
		ip -n "$B" addr add 10.77.0.1/24 dev "$WB"
		ip -n "$A" link set "$WA" up
		ip -n "$B" link set "$WB" up
		path wg-go veth "ip netns exec $A" 10.77.0.1 5201 "$PID_wga" "$PID_wgb"
	fi
fi

log "rootless on loopback"
start iperfL iperf3 -s -p 25201 -B 127.0.0.1
start rsrv "$SLUICE" -L "vpn://127.0.0.1:25555?users=$T/users.txt&net=10.10.0.0/24"
sleep 0.5
pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/rsrv.log" | head -1)
start rcli "$SLUICE" -L tcp://127.0.0.1:25202/10.10.0.1:25201 -F "vpn://alice:alice%20bench@127.0.0.1:25555?pub=$pub${VPNOPTS:-}"
sleep 1
path lo "" "" 127.0.0.1 25201
path vpn-rootless lo "" 127.0.0.1 25202 "$PID_rsrv" "$PID_rcli"

for r in $(seq "$ROUNDS"); do
	log "round $r"
	for dir in F R; do
		for n in "${PATHS[@]}"; do one "$n" "$dir"; done
	done
done

# median "v1 v2 ..." ; ratios "a1 a2 .." "b1 b2 .." -> median of a_i/b_i
median() { python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1].split()]; print(s.median(v) if v else 0)' "${1:-}"; }
ratio() {
	python3 -c 'import sys,statistics as s
a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]
r=[x/y for x,y in zip(a,b) if y>0]
print("%.2f" % s.median(r) if r else "-")' "${1:-}" "${2:-}"
}
echo "## vpn"
echo
echo "One iperf3 stream, $SECS s, $ROUNDS rounds (median); F = client to server, R = server to client."
echo "Ratio: the median over rounds of the path's rate over its bare twin's (veth or lo) in the same round."
echo "CPU per GB: both tunnel processes, seconds of CPU per GB received (median)."
[ "${NOOFFLOAD:-0}" = 1 ] && echo "The veth's offloads were off (ethtool -K ... off)."
echo "vpn-tun: client options '${VPNOPTS:-}', server '${VPNSRVOPTS:-}'."
[ -n "${VPN2OPTS:-}${VPN2SRVOPTS:-}" ] && echo "vpn-tun2: client options '${VPN2OPTS:-}', server '${VPN2SRVOPTS:-}'."
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs."
echo
echo "| path | dir | Gbit/s (median) | × bare | CPU s/GB |"
echo "|---|---|---|---|---|"
for dir in F R; do
	for n in "${PATHS[@]}"; do
		b=${BASE[$n]}
		printf '| %s | %s | %.2f | %s | %s |\n' "$n" "$dir" \
			"$(python3 -c "print($(median "${BPS[$n:$dir]:-}")/1e9)")" \
			"$([ -n "$b" ] && ratio "${BPS[$n:$dir]:-}" "${BPS[$b:$dir]:-}" || echo)" \
			"$([ -n "${PROCS[$n]}" ] && median "${CPUS[$n:$dir]:-}" || echo)"
	done
done
[ "$ROOT" = 1 ] || echo "(not root: the namespace paths were skipped)"
[ "$ROOT" = 0 ] || [ "$WG" = 1 ] || echo "(wireguard-go or wg not installed: no wg-go row)"
grep -h 'path\|offload\|DATA\|worker' "$T"/srv*.log "$T"/cli*.log 2>/dev/null | sed 's/^/    /' || true
