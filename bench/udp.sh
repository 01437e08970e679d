#!/usr/bin/env bash
# UDP through the tunnels, beside v2ray's UDP over VLESS/WebSocket, in one
# run on 127.0.0.1:
#
#   direct    iperf3 -u straight to iperf3 -s: the ceiling of this machine
#   fwd       sluice -L udp:// without a chain: what the forward costs
#   ws, wss   sluice -L udp:// -F ws:// (wss://) to a sluice ws server
#   wstan     the same over wstan:// (wstan 0.5's DGM)
#   sctp      the same over sctp+udp:// (PR-SCTP datagrams)
#   socks5    the same over socks5:// to Dante's danted (UDP ASSOCIATE)
#   vpn       the same over vpn:// (lwIP UDP pcbs in the client, the
#             rootless server's libslirp NAT; targets at 10.10.0.1, the
#             server host's loopback)
#   ppp       the same over ppp+tcp:// to sluice's PPP gateway (lwIP in the
#             client, libslirp in the gateway; targets at 10.0.2.2)
#   sstp      the same over sstp:// to SoftEther (the peers lab's) through
#             its SecureNAT, to targets at 10.77.0.1 (an address of the
#             loopback); SoftEther listens on every address, so with sstp
#             the whole run takes a network namespace of its own
#   v2ray-ws  v2ray VLESS over ws:// (a dokodemo-door for TCP and UDP in
#             front of the client, freedom out of the server)
#
# Each sluice path is a client with -L udp:// and -L tcp:// on one port
# (iperf3's control connection goes over TCP) and -L dns://, and its
# tunnel server.  Throughput: iperf3 -u (1200-byte datagrams, 4 MB socket
# buffers, SECS seconds) at rising RATES; the table gives the highest rate
# at which under 1% was lost (the least loss of TRIES tries counts) and the
# loss at each rate tried; a path stops at its first rate over 1%.
# Latency: 1000 DNS queries one after the other (a small client of ours
# against dnsmasq) through each path's dns:// (v2ray: its dokodemo-door;
# direct: dnsmasq itself); p50 and p99 in milliseconds.
#
# The machine is shared with other work: numbers move from run to run;
# compare the paths of one run (the ratios to v2ray-ws), not runs.
#
# Knobs: RATES="50 100 200 400 800 1600" SECS=2 TRIES=2 QUERIES=1000
#        PATHS="direct fwd ws wss wstan sctp socks5 vpn ppp sstp v2ray-ws" KEEP=1
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

RATES=${RATES:-"50 100 200 400 800 1600"} # Mbit/s
SECS=${SECS:-2}
TRIES=${TRIES:-2}
QUERIES=${QUERIES:-1000}
read -r -a PATHS <<<"${PATHS:-direct fwd ws wss wstan sctp socks5 vpn ppp sstp v2ray-ws}"

need_pkgs iperf3 v2ray dante-server dnsmasq-base openssl python3
check_sluice
if [[ " ${PATHS[*]} " == *" sstp "* ]] && [ -z "${IN_NS:-}" ]; then
	if "$PEERS" prepare softether >/dev/null 2>&1 && unshare --net true 2>/dev/null; then
		PATHS="${PATHS[*]}" IN_NS=1 exec unshare --net "$0" "$@"
	fi
	log "no SoftEther or no namespaces here: the sstp path is left out"
	read -r -a PATHS <<<"${PATHS[*]/sstp/}"
fi
SE=""
if [ -n "${IN_NS:-}" ]; then
	ip link set lo up
	ip addr add 10.77.0.1/32 dev lo
fi
nrates=$(wc -w <<<"$RATES")
bench_init udp $((${#PATHS[@]} * (nrates * TRIES * (SECS + 4) + 60) + 120))
trap '[ -z "$SE" ] || "$PEERS" softether stop "$SE" 2>/dev/null; on_exit' EXIT

FREE=()
read -r -a FREE <<<"$("${LAB[@]}" ports 40)"
port() { # VAR: the next free port into VAR
	printf -v "$1" '%s' "${FREE[0]}"
	FREE=("${FREE[@]:1}")
}
port P_IPERF
port P_DNS
declare -A UPORT DPORT # path -> its UDP (and TCP) forward, its dns://

KEY=$("$SLUICE" keygen)
WKEY=$(head -c 16 /dev/urandom | base64)
UUID=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$T/tls" "$T/v2ray"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" 2>/dev/null

# (in the run's own namespace, 10.77.0.1 too: SecureNAT's way to them)
start iperf3 iperf3 -s -B 127.0.0.1 -p "$P_IPERF"
wait_port "$P_IPERF"
[ -z "${IN_NS:-}" ] || start iperf3-sstp iperf3 -s -B 10.77.0.1 -p "$P_IPERF"
start dnsmasq dnsmasq --no-daemon --user=root --no-resolv --no-hosts --listen-address=127.0.0.1 \
	${IN_NS:+--listen-address=10.77.0.1} \
	--bind-interfaces --port "$P_DNS" --address=/probe.test/10.9.9.9 --cache-size=1000

# sluice_path PATH SERVER-URL HOP-URL [TARGET-HOST]: its server (if any)
# and its client, whose forwards lead to TARGET-HOST (127.0.0.1)
sluice_path() {
	local path=$1 srv=$2 hop=$3 tg=${4:-127.0.0.1} sp
	port "UPORT[$path]"
	port "DPORT[$path]"
	if [ -n "$srv" ]; then
		start "$path-srv" "$SLUICE" -L "$srv"
		sleep 0.3
	fi
	start "$path" "$SLUICE" -L "tcp://127.0.0.1:${UPORT[$path]}/$tg:$P_IPERF" \
		-L "udp://127.0.0.1:${UPORT[$path]}/$tg:$P_IPERF" \
		-L "dns://127.0.0.1:${DPORT[$path]}?server=$tg:$P_DNS" ${hop:+-F "$hop"}
	wait_port "${UPORT[$path]}"
}

# the packet tunnels' sessions come up after the listeners: wait for them
session_up() {
	local i
	for i in $(seq 100); do
		grep -q "session up" "$T/$1.log" && return 0
		sleep 0.1
	done
	die "$1: no session"
}

vpn_path() {
	local sp pub="" i
	port sp
	echo pw | "$SLUICE" vpn-user add "$T/vpn.users" alice >/dev/null 2>&1
	start vpn-srv "$SLUICE" -L "vpn://127.0.0.1:$sp?users=$T/vpn.users&net=10.10.0.0/24"
	for i in $(seq 50); do
		pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/vpn-srv.log" | head -1)
		[ -n "$pub" ] && break
		sleep 0.1
	done
	sluice_path vpn "" "vpn://alice:pw@127.0.0.1:$sp?pub=$pub" 10.10.0.1
	session_up vpn
}

v2ray_path() {
	local path=v2ray-ws sp
	port sp
	port "UPORT[$path]"
	port "DPORT[$path]"
	cat >"$T/v2ray/srv.json" <<-EOF
		{"log": {"loglevel": "warning", "access": "none"},
		 "inbounds": [{"listen": "127.0.0.1", "port": $sp, "protocol": "vless",
		   "settings": {"clients": [{"id": "$UUID"}], "decryption": "none"},
		   "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}}],
		 "outbounds": [{"protocol": "freedom", "settings": {}}]}
	EOF
	cat >"$T/v2ray/cli.json" <<-EOF
		{"log": {"loglevel": "warning", "access": "none"},
		 "inbounds": [
		  {"listen": "127.0.0.1", "port": ${UPORT[$path]}, "protocol": "dokodemo-door",
		   "settings": {"address": "127.0.0.1", "port": $P_IPERF, "network": "tcp,udp"}},
		  {"listen": "127.0.0.1", "port": ${DPORT[$path]}, "protocol": "dokodemo-door",
		   "settings": {"address": "127.0.0.1", "port": $P_DNS, "network": "udp"}}],
		 "outbounds": [{"protocol": "vless",
		   "settings": {"vnext": [{"address": "127.0.0.1", "port": $sp, "users": [{"id": "$UUID", "encryption": "none"}]}]},
		   "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}}]}
	EOF
	start v2ray-srv v2ray -config "$T/v2ray/srv.json"
	wait_port "$sp"
	start v2ray v2ray -config "$T/v2ray/cli.json"
	wait_port "${UPORT[$path]}"
}

dante_conf() {
	cat >"$T/danted.conf" <<-EOF
		logoutput: stderr
		internal: 127.0.0.1 port = $1
		external: 127.0.0.1
		socksmethod: none
		clientmethod: none
		user.privileged: root
		user.unprivileged: nobody
		client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
		socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: bind connect udpassociate udpreply }
	EOF
}

start_path() {
	local sp
	case $1 in
	direct) UPORT[direct]=$P_IPERF DPORT[direct]=$P_DNS ;;
	fwd) sluice_path fwd "" "" ;;
	ws)
		port sp
		sluice_path ws "ws://127.0.0.1:$sp?host-loopback=1&key=$KEY" "ws://127.0.0.1:$sp?key=$KEY"
		;;
	wss)
		port sp
		sluice_path wss \
			"wss://127.0.0.1:$sp?host-loopback=1&key=$KEY&cert=$T/tls/cert.pem&certkey=$T/tls/key.pem" \
			"wss://127.0.0.1:$sp?key=$KEY&ca=$T/tls/cert.pem"
		;;
	wstan)
		port sp
		sluice_path wstan "wstan://127.0.0.1:$sp?host-loopback=1&key=$WKEY" \
			"wstan://127.0.0.1:$sp?key=$WKEY"
		;;
	sctp)
		port sp
		sluice_path sctp "sctp+udp://127.0.0.1:$sp?host-loopback=1&key=$KEY" \
			"sctp+udp://127.0.0.1:$sp?key=$KEY"
		;;
	socks5)
		port sp
		dante_conf "$sp"
		start danted danted -f "$T/danted.conf" -p "$T/danted.pid"
		wait_port "$sp"
		sluice_path socks5 "" "socks5://127.0.0.1:$sp"
		;;
	vpn) vpn_path ;;
	ppp)
		port sp
		sluice_path ppp "ppp+tcp://127.0.0.1:$sp?auth=none&host-loopback=1" "ppp+tcp://127.0.0.1:$sp" 10.0.2.2
		session_up ppp
		;;
	sstp)
		SE=$T/se
		"$PEERS" softether start "$SE" bench bench-pw >"$T/softether.log" 2>&1 ||
			die "SoftEther did not start: $(cat "$T/softether.log")"
		sluice_path sstp "" "sstp://bench:bench-pw@127.0.0.1?insecure=1" 10.77.0.1
		session_up sstp
		;;
	v2ray-ws) v2ray_path ;;
	esac
}

# loss PATH RATE: the least loss (percent) of TRIES iperf3 -u runs
loss() {
	local best=100 l i
	for ((i = 0; i < TRIES; i++)); do
		timeout $((SECS + 15)) iperf3 -u -c 127.0.0.1 -p "${UPORT[$1]}" -b "${2}M" -l 1200 -w 4M \
			-t "$SECS" -J >"$T/iperf.json" 2>/dev/null || true
		l=$(python3 -c 'import json, sys
try:
    s = json.load(open(sys.argv[1]))["end"]["sum"]
    print("%.2f" % s["lost_percent"] if s.get("packets") else "100")
except Exception:
    print("100")' "$T/iperf.json")
		best=$(python3 -c "print(min($best, $l))")
	done
	echo "$best"
}

# dns_lat PORT: p50 p99 (ms) and failures of QUERIES sequential queries
dns_lat() {
	python3 - "$1" "$QUERIES" <<-'PY'
		import random, socket, struct, sys, time
		port, n = int(sys.argv[1]), int(sys.argv[2])
		q = b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x04test\x00\x00\x01\x00\x01"
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		s.settimeout(1)
		lat, fails = [], 0
		for i in range(n):
		    qid = random.getrandbits(16)
		    t0 = time.perf_counter()
		    s.sendto(struct.pack(">H", qid) + q, ("127.0.0.1", port))
		    try:
		        while True:
		            d = s.recv(512)
		            if d[:2] == struct.pack(">H", qid):
		                break
		        lat.append((time.perf_counter() - t0) * 1000)
		    except socket.timeout:
		        fails += 1
		lat.sort()
		pick = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] if lat else float("nan")
		print("%.3f %.3f %d" % (pick(0.5), pick(0.99), fails))
	PY
}

declare -A BEST LOSSES P50 P99 FAILS
for p in "${PATHS[@]}"; do
	log "path $p"
	start_path "$p"
	sleep 0.5
	read -r P50[$p] P99[$p] FAILS[$p] <<<"$(dns_lat "${DPORT[$p]}")"
	BEST[$p]=0
	LOSSES[$p]=""
	for r in $RATES; do
		l=$(loss "$p" "$r")
		LOSSES[$p]+="$r:$l% "
		log "  $p at $r Mbit/s: $l% lost"
		if python3 -c "import sys; sys.exit(0 if $l < 1 else 1)"; then
			BEST[$p]=$r
		else
			break
		fi
	done
	for pid in "${PIDS[@]}"; do
		case ${PNAME[$pid]} in watchdog | iperf3* | dnsmasq) ;; *) stop "$pid" ;; esac
	done
	[ "$p" = sstp ] && "$PEERS" softether stop "$SE"
done
REPORTED=1

v2=${BEST[v2ray-ws]:-0}
echo "## udp: iperf3 -u and DNS through the tunnels"
echo
echo "$(date -u +%F), $(nproc) cores (shared with other work: compare within the run)," \
	"iperf3 -u -l 1200, ${SECS}s per try, best of $TRIES; $QUERIES DNS queries per path."
echo
echo "| path | highest rate, <1% lost (Mbit/s) | vs v2ray-ws | loss at each rate | DNS p50 (ms) | DNS p99 (ms) | DNS lost |"
echo "|---|---|---|---|---|---|---|"
for p in "${PATHS[@]}"; do
	ratio="-"
	[ "$v2" != 0 ] && ratio=$(python3 -c "print('%.2f' % (${BEST[$p]} / $v2))")
	echo "| $p | ${BEST[$p]} | $ratio | ${LOSSES[$p]% } | ${P50[$p]} | ${P99[$p]} | ${FAILS[$p]} |"
done
