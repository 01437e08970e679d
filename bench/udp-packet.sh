#!/usr/bin/env bash
# UDP through the packet tunnels, in one run, in two network namespaces
# joined by a veth (C, the client; S, the server with iperf3 -s):
#
#   direct    iperf3 -u from C to S over the veth (the ceiling)
#   fwd       iperf3 -u -> sluice -L udp:// (and -L tcp:// on the same port
#             for iperf3's control connection) without a chain: what the
#             forward costs by itself
#   vpn       the same forwards -F vpn:// (lwIP UDP pcbs in C, the VPN
#             over the veth, the server's libslirp NAT in S)
#   ppp       the same, -F ppp+tcp:// (PPP over TCP to sluice's PPP
#             gateway in S, lwIP in C, libslirp in S)
#   vpn-tun   iperf3 -u from C through a TUN client of the same VPN server
#
# For each path, iperf3 -u (1200-byte datagrams, 4 MB socket buffers,
# SECS seconds after one omitted) at rising
# rates; the table gives the highest rate at which under 1% was lost, and
# the loss at each rate (the least of TRIES tries).  Numbers depend on the machine and its load: read
# the ratios between the paths of one run.  Needs root and iperf3.
set -euo pipefail
SLUICE=${SLUICE:-$(cd "$(dirname "$0")/.." && pwd)/build/sluice}
# run as root, a sluice that serves the network must be told to stay root (core/priv.h)
[ "$(id -u)" = 0 ] && export SLUICE_USER="${SLUICE_USER-root}"
SECS=${SECS:-2}
RATES=${RATES:-"25 50 100 200 400 800"} # Mbit/s
TRIES=${TRIES:-2}                          # per rate; the least loss counts
T=$(mktemp -d /tmp/sluice-bench-udp.XXXXXX)
S=budpS$$
C=budpC$$
PIDS=()
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	# commands started through inS/inC run in subshells: end what is left
	# in the namespaces too
	for n in $S $C; do
		# shellcheck disable=SC2046
		kill -9 $(ip netns pids "$n" 2>/dev/null) 2>/dev/null || true
	done
	ip netns del "$S" 2>/dev/null || true
	ip netns del "$C" 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT
skip() {
	echo "## udp-packet"
	echo
	echo "$*"
	exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for c in iperf3 ip; do command -v $c >/dev/null || skip "$c is not installed"; done
start() { # NAME CMD...
	local n=$1
	shift
	"$@" >"$T/$n.log" 2>&1 &
	PIDS+=($!)
}
inS() { ip netns exec "$S" "$@"; }
inC() { ip netns exec "$C" "$@"; }
for n in $S $C; do
	ip netns add "$n"
	ip -n "$n" link set lo up
done
ip link add bus$$ type veth peer name buc$$
ip link set bus$$ netns "$S"
ip link set buc$$ netns "$C"
ip -n "$S" addr add 192.168.83.1/24 dev bus$$
ip -n "$S" link set bus$$ up
ip -n "$C" addr add 192.168.83.2/24 dev buc$$
ip -n "$C" link set buc$$ up
ip -n "$S" addr add 172.31.98.1/32 dev lo
ip -n "$C" route add 172.31.98.1/32 via 192.168.83.1

start iperfs inS iperf3 -s -B 172.31.98.1 -p 5201
echo 'pw' | "$SLUICE" vpn-user add "$T/users.txt" alice >/dev/null 2>&1
echo 'pw' | "$SLUICE" vpn-user add "$T/users.txt" bob >/dev/null 2>&1
start vpnsrv inS "$SLUICE" -L "vpn://192.168.83.1:5555?users=$T/users.txt&net=10.10.0.0/24"
start pppgw inS "$SLUICE" -L "ppp+tcp://192.168.83.1:2323?auth=none"
pub=""
for _ in $(seq 50); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/vpnsrv.log" | head -1)
	[ -n "$pub" ] && break
	sleep 0.1
done
# fwd PORT: iperf3's control connection and its datagrams, to S's iperf3
fwd() { echo "-L tcp://127.0.0.1:$1/172.31.98.1:5201 -L udp://127.0.0.1:$1/172.31.98.1:5201"; }
# shellcheck disable=SC2046
start s_direct inC "$SLUICE" $(fwd 5301)
# shellcheck disable=SC2046
start s_vpn inC "$SLUICE" $(fwd 5302) -F "vpn://alice:pw@192.168.83.1:5555?pub=$pub"
# shellcheck disable=SC2046
start s_ppp inC "$SLUICE" $(fwd 5303) -F "ppp+tcp://192.168.83.1:2323"
tun=0
if [ -c /dev/net/tun ]; then
	start s_tun inC "$SLUICE" -L tun://budptun -F "vpn://bob:pw@192.168.83.1:5555?pub=$pub"
	tun=1
fi
for _ in $(seq 100); do
	grep -q "session up" "$T/s_vpn.log" && grep -q "session up" "$T/s_ppp.log" && break
	sleep 0.1
done
if [ $tun = 1 ]; then
	for _ in $(seq 100); do
		ip -n "$C" -4 addr show budptun 2>/dev/null | grep -q "inet 10.10" && break
		sleep 0.1
	done
fi
sleep 1

# udp HOST PORT RATE -> "received_mbit loss_percent"
udp() {
	inC iperf3 -u -c "$1" -p "$2" -b "${3}M" -l 1200 -w 4M -O 1 -t "$((SECS + 1))" -J >"$T/u.json" 2>/dev/null || true
	python3 -c 'import json, sys
try:
    s = json.load(open(sys.argv[1]))["end"]["sum"]
    print("%.1f %.2f" % (s["bits_per_second"] * (1 - s["lost_percent"] / 100) / 1e6, s["lost_percent"]))
except Exception:
    print("0 100")' "$T/u.json"
}
declare -A BEST LOSS
paths="fwd vpn ppp"
[ $tun = 1 ] && paths="vpn-tun $paths"
paths="direct $paths"
for p in $paths; do
	BEST[$p]=0
	case $p in
	direct) host=172.31.98.1 port=5201 ;;
	vpn-tun) host=172.31.98.1 port=5201 ;;
	fwd) host=127.0.0.1 port=5301 ;;
	vpn) host=127.0.0.1 port=5302 ;;
	ppp) host=127.0.0.1 port=5303 ;;
	esac
	if [ "$p" = vpn-tun ]; then # C's route to the iperf3 server: the tunnel
		ip -n "$C" route replace 172.31.98.1/32 dev budptun
	else # or the veth (the chainless forward sends from C)
		ip -n "$C" route replace 172.31.98.1/32 via 192.168.83.1
	fi
	for r in $RATES; do
		out="0 100"
		for _ in $(seq "$TRIES"); do # the machine is shared: a bad moment is not the path
			o=$(udp "$host" "$port" "$r")
			python3 -c "import sys; sys.exit(0 if float('${o#* }') < float('${out#* }') else 1)" && out=$o
		done
		LOSS[$p:$r]=${out#* }
		log "$p at $r Mbit/s: ${out% *} Mbit/s received, ${out#* }% lost"
		if python3 -c "import sys; sys.exit(0 if float('${out#* }') < 1 else 1)"; then
			BEST[$p]=$r
		else
			break
		fi
	done
done

echo "## udp-packet"
echo
echo "iperf3 -u, 1200-byte datagrams, ${SECS} s per rate, C -> S over a veth pair; the"
echo "highest offered rate with under 1% loss (a machine shared with other work:"
echo "compare the paths, not the numbers)."
echo
printf '| path | best rate under 1%% loss | loss at each rate (Mbit/s: %%) |\n|---|---|---|\n'
for p in $paths; do
	row=""
	for r in $RATES; do
		[ -n "${LOSS[$p:$r]:-}" ] && row="$row $r: ${LOSS[$p:$r]}%;"
	done
	printf '| %s | %s Mbit/s | %s |\n' "$p" "${BEST[$p]}" "$row"
done
