# Tunnel set-ups shared by the fault tests (sourced after ../lib.sh).
#
#   tun_server KIND PORT [NAME]          start KIND's server on 127.0.0.1:PORT
#   tun_client KIND PROXY PORT [NAME]    a proxy:// (SOCKS and HTTP) listener on
#                                        127.0.0.1:PROXY whose hop is KIND's
#                                        server at 127.0.0.1:PORT
#   tun_target KIND                      the address the server's 127.0.0.1 has
#                                        through KIND (10.10.0.1 for the VPN)
#   tun_ready KIND PROXY URL [SECONDS]   until URL loads through the client
#
# KINDs: proxy (sluice as a plain SOCKS/HTTP proxy: no server; PORT is
# ignored and the client is the whole path), ws, wss, wstan, sctp (SCTP over
# UDP), vpn.  The server is named srv-KIND and the client cli-KIND unless
# NAME is given.  Keys, certificates and the VPN's users file are made once
# per test in $T.  TUN_WRAP, if set, is a command prefix for both (taskset,
# prlimit); TUN_VPN_OPTS is appended to the VPN hop's URL ("&keepalive=2s").
FX="python3 $SRCDIR/tests/e2e/faults/fx.py"
TUN_WRAP=${TUN_WRAP:-}
TUNNELS_ALL="proxy ws wss wstan sctp vpn"

tun_keys() {
	[ -s "$T/tun.key" ] && return 0
	"$SLUICE" keygen >"$T/tun.key"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=fault CA" -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
		-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/san.ext"
	openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
		-days 2 -extfile "$T/san.ext" -out "$T/srv.pem" 2>/dev/null
	echo 'fault pass' | "$SLUICE" vpn-user add "$T/vpnusers.txt" fault >/dev/null 2>&1
}

tun_server() {
	local kind=$1 port=$2 name=${3:-srv-$1} key
	tun_keys
	key=$(cat "$T/tun.key")
	case $kind in
	proxy) ;;
	ws) start "$name" $TUN_WRAP "$SLUICE" -L "ws://127.0.0.1:$port/t?host-loopback=1&key=$key" ;;
	wss) start "$name" $TUN_WRAP "$SLUICE" \
		-L "wss://127.0.0.1:$port/t?host-loopback=1&key=$key&cert=$T/srv.pem&certkey=$T/srv.key" ;;
	wstan) start "$name" $TUN_WRAP "$SLUICE" -L "wstan://127.0.0.1:$port/t?host-loopback=1&key=$key" ;;
	sctp) start "$name" $TUN_WRAP "$SLUICE" -L "sctp+udp://127.0.0.1:$port?host-loopback=1&key=$key" ;;
	vpn) start "$name" $TUN_WRAP "$SLUICE" \
		-L "vpn://127.0.0.1:$port?users=$T/vpnusers.txt&net=10.10.0.0/24&key=$T/vpn.key" ;;
	*) echo "unknown tunnel $kind" >&2; return 1 ;;
	esac
	case $kind in
	proxy) ;;
	sctp | vpn) sleep 0.3 ;;
	*) wait_port "$port" ;;
	esac
}

tun_hop() {
	local kind=$1 port=$2 key pub
	key=$(cat "$T/tun.key")
	case $kind in
	ws) echo "ws://127.0.0.1:$port/t?key=$key" ;;
	wss) echo "wss://localhost:$port/t?key=$key&ca=$T/ca.pem" ;;
	wstan) echo "wstan://127.0.0.1:$port/t?key=$key" ;;
	sctp) echo "sctp+udp://127.0.0.1:$port?key=$key" ;;
	vpn)
		for _ in $(seq 50); do
			pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T"/srv-vpn*.log 2>/dev/null | tail -1)
			[ -n "$pub" ] && break
			sleep 0.1
		done
		echo "vpn://fault:fault%20pass@127.0.0.1:$port?pub=$pub${TUN_VPN_OPTS:-}"
		;;
	esac
}

tun_client() {
	local kind=$1 proxy=$2 port=$3 name=${4:-cli-$1}
	if [ "$kind" = proxy ]; then
		start "$name" $TUN_WRAP "$SLUICE" -L "proxy://127.0.0.1:$proxy"
	else
		start "$name" $TUN_WRAP "$SLUICE" -L "proxy://127.0.0.1:$proxy" -F "$(tun_hop "$kind" "$port")"
	fi
	wait_port "$proxy"
}

tun_target() {
	if [ "$1" = vpn ]; then echo 10.10.0.1; else echo 127.0.0.1; fi
}

tun_ready() {
	local kind=$1 proxy=$2 url=$3 n=$((${4:-15} * 5))
	while [ $n -gt 0 ]; do
		curl -fsS -m 3 -o /dev/null --socks5-hostname "127.0.0.1:$proxy" "$url" 2>/dev/null && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

# rss_kb NAME / fds NAME: resident KiB and open descriptors of a process
# started with `start`.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$(pid_of "$1")/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$(pid_of "$1")/status"; }
# cpu_ticks NAME: user + system time so far, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$(pid_of "$1")/stat"; }
fds() { ls "/proc/$(pid_of "$1")/fd" | wc -l; }

# Under AddressSanitizer resident memory says nothing about sluice's own
# (the quarantine holds freed memory on purpose): memory checks skip.
skip_if_asan() {
	if ldd "$SLUICE" 2>/dev/null | grep -q libasan; then
		skip "resident memory is not sluice's own under AddressSanitizer"
	fi
}
