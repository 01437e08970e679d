# Tunnel set-ups shared by the fault tests (sourced after ../lib.sh).
#
#   tun_server KIND PORT [NAME]          start KIND's server on TUN_HOST:PORT
#   tun_client KIND PROXY PORT [NAME]    a proxy:// (SOCKS and HTTP) listener on
#                                        127.0.0.1:PROXY whose hop is KIND's
#                                        server at TUN_HOST:PORT
#   tun_target KIND                      the address the server's 127.0.0.1 has
#                                        through KIND (10.10.0.1 for the VPN,
#                                        10.0.2.2 for the PPP gateway)
#   tun_ready KIND PROXY URL [SECONDS]   until URL loads through the client
#   tun_web FILE=SIZE...                 files to download, served on $web
#   tun_up KIND [WRAP...]                server and client: sets sp px tgt procs
#
# KINDs: proxy (sluice as a plain SOCKS/HTTP proxy: no server; PORT is
# ignored and the client is the whole path), ws, wss, wstan, sctp (SCTP over
# UDP), vpn, ppp (the PPP hop over TCP against sluice's own PPP gateway,
# MS-CHAPv2; Debian's slirp, the other PPP peer, moves 12 KB/s).  The server is named srv-KIND and the client cli-KIND unless
# NAME is given.  Keys, certificates and the VPN's users file are made once
# per test in $T.  TUN_WRAP, if set, is a command prefix for both (taskset,
# prlimit); TUN_VPN_OPTS is appended to the VPN hop's URL ("&keepalive=2s");
# TUN_HOST (default 127.0.0.1) is the address servers listen on.
FX="python3 $SRCDIR/tests/e2e/faults/fx.py"
# the targets are on the server's loopback, which a tunnel server (and any
# listener on another address) must be told to reach
TGT="host-loopback=1"
TUN_WRAP=${TUN_WRAP:-}
TUN_HOST=${TUN_HOST:-127.0.0.1}

# tun_wait PORT: until the server's TCP port on TUN_HOST accepts
tun_wait() {
	local n=200
	[ "$TUN_HOST" = 127.0.0.1 ] && { wait_port "$1"; return; }
	while [ $n -gt 0 ]; do
		(exec 3<>"/dev/tcp/$TUN_HOST/$1") 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	echo "port $TUN_HOST:$1 did not open" >&2
	return 1
}
TUNNELS_ALL="proxy ws wss wstan sctp vpn ppp"

tun_keys() {
	[ -s "$T/tun.key" ] && return 0
	"$SLUICE" keygen >"$T/tun.key"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=fault CA" -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
		-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:%s\n' "$TUN_HOST" >"$T/san.ext"
	openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
		-days 2 -extfile "$T/san.ext" -out "$T/srv.pem" 2>/dev/null
	echo 'fault pass' | "$SLUICE" vpn-user add "$T/vpnusers.txt" fault >/dev/null 2>&1
	printf 'fault:fault pass\n' >"$T/pppusers"
	chmod 600 "$T/pppusers"
}

tun_server() {
	local kind=$1 port=$2 name=${3:-srv-$1} key
	tun_keys
	key=$(cat "$T/tun.key")
	case $kind in
	proxy) ;;
	ws) start "$name" $TUN_WRAP "$SLUICE" -L "ws://$TUN_HOST:$port/t?key=$key&$TGT" ;;
	wss) start "$name" $TUN_WRAP "$SLUICE" \
		-L "wss://$TUN_HOST:$port/t?key=$key&cert=$T/srv.pem&certkey=$T/srv.key&$TGT" ;;
	wstan) start "$name" $TUN_WRAP "$SLUICE" -L "wstan://$TUN_HOST:$port/t?key=$key&$TGT" ;;
	sctp) start "$name" $TUN_WRAP "$SLUICE" -L "sctp+udp://$TUN_HOST:$port?key=$key&$TGT" ;;
	vpn) start "$name" $TUN_WRAP "$SLUICE" \
		-L "vpn://$TUN_HOST:$port?users=$T/vpnusers.txt&net=10.10.0.0/24&key=$T/vpn.key&$TGT" ;;
	ppp) start "$name" $TUN_WRAP "$SLUICE" \
		-L "ppp+tcp://$TUN_HOST:$port?users=$T/pppusers&$TGT" ;;
	*) echo "unknown tunnel $kind" >&2; return 1 ;;
	esac
	case $kind in
	proxy) ;;
	sctp | vpn) sleep 0.3 ;;
	*) tun_wait "$port" ;;
	esac
}

tun_hop() {
	local kind=$1 port=$2 key pub wh=$TUN_HOST
	key=$(cat "$T/tun.key")
	[ "$wh" = 127.0.0.1 ] && wh=localhost
	case $kind in
	ws) echo "ws://$TUN_HOST:$port/t?key=$key" ;;
	wss) echo "wss://$wh:$port/t?key=$key&ca=$T/ca.pem" ;;
	wstan) echo "wstan://$TUN_HOST:$port/t?key=$key" ;;
	sctp) echo "sctp+udp://$TUN_HOST:$port?key=$key" ;;
	ppp) echo "ppp+tcp://fault:fault%20pass@$TUN_HOST:$port" ;;
	vpn)
		for _ in $(seq 50); do
			pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T"/srv-vpn*.log 2>/dev/null | tail -1)
			[ -n "$pub" ] && break
			sleep 0.1
		done
		echo "vpn://fault:fault%20pass@$TUN_HOST:$port?pub=$pub${TUN_VPN_OPTS:-}"
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

# tun_web FILE=SIZE...: random files (head -c sizes) and an index.html
# ("ok") in $T/www, served on 127.0.0.1:$web
tun_web() {
	local f
	mkdir -p "$T/www"
	for f in "$@"; do head -c "${f#*=}" /dev/urandom >"$T/www/${f%%=*}"; done
	echo ok >"$T/www/index.html"
	web=$(free_port)
	http_server "$web" "$T/www"
}

# tun_up KIND [WRAP...]: KIND's server and client on fresh ports, both run
# under the command prefix WRAP; sets sp (server port), px (the client's
# proxy port), tgt (tun_target) and procs (the sluice processes' names)
tun_up() {
	local kind=$1
	shift
	sp=$(free_port)
	px=$(free_port)
	TUN_WRAP="$*"
	tun_server "$kind" "$sp"
	tun_client "$kind" "$px" "$sp"
	TUN_WRAP=""
	tgt=$(tun_target "$kind")
	procs="cli-$kind"
	[ "$kind" = proxy ] || procs="srv-$kind cli-$kind"
}

tun_target() {
	case $1 in
	vpn) echo 10.10.0.1 ;;
	ppp) echo 10.0.2.2 ;; # the gateway host's loopback
	*) echo 127.0.0.1 ;;
	esac
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
