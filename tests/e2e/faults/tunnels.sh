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
#   tun_kill NAME [SIGNAL]               end a server or client (SoftEther too)
#   tun_down KIND                        end KIND's servers and clients
#   tun_netns [--here]                   call first: the namespaces sstp needs
#                                        (--here: the test made its own)
#
# KINDs: proxy (sluice as a plain SOCKS/HTTP proxy: no server; PORT is
# ignored and the client is the whole path), ws, wss, wstan, sctp (SCTP over
# UDP), vpn, ppp (the PPP hop over TCP against sluice's own PPP gateway,
# MS-CHAPv2; Debian's slirp, the other PPP peer, moves 12 KB/s), sstp (the
# SSTP hop against SoftEther VPN Server from the peers lab, MS-CHAPv2, its
# SecureNAT leading to 10.77.0.1 on this namespace's loopback).  The server
# is named srv-KIND and the client cli-KIND unless NAME is given.  Keys,
# certificates and the VPN's users file are made once per test in $T.
# TUN_WRAP, if set, is a command prefix for sluice's processes (taskset,
# prlimit; not for SoftEther, which is not what these tests try);
# TUN_NS a prefix for every server, SoftEther too (ip netns exec NS);
# TUN_VPN_OPTS is appended to the VPN hop's URL ("&keepalive=2s"), TUN_VPN_SRV_OPTS
# to the VPN server's ("&crypto-workers=2"); TUN_HOST
# (default 127.0.0.1) is the address servers listen on.  procs (set by
# tun_up, or tun_procs KIND) names the sluice processes of a path: SoftEther's
# memory and descriptors are not sluice's.
#
# SoftEther listens on 443, 992, 1194 and 5555 of every address, so a test
# with sstp among its $TUNNELS calls tun_netns before it starts anything:
# the test runs again in network and mount namespaces of its own (all its
# tunnels then do), where 10.77.0.1 is on the loopback and the test's own
# servers listen on $TUN_LISTEN = 0.0.0.0 (in there, only the loopback), so
# that SecureNAT reaches them.  Where that cannot be (not root, no
# namespaces, no SoftEther), sstp is left out with a line saying why.
FX="python3 $SRCDIR/tests/e2e/faults/fx.py"
# the targets are on the server's loopback, which a tunnel server (and any
# listener on another address) must be told to reach
TGT="host-loopback=1"
TUN_WRAP=${TUN_WRAP:-}
TUN_NS=${TUN_NS:-}
TUN_HOST=${TUN_HOST:-127.0.0.1}
TUN_LISTEN=127.0.0.1
# the address SecureNAT's connections go to (the test's servers)
TUN_SSTP_TGT=${TUN_SSTP_TGT:-10.77.0.1}
TUN_SSTP_USER=fault
TUN_SSTP_PASS=fault-pw
trap 'tun_sstp_stop TERM; cleanup' EXIT

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
TUNNELS_ALL="proxy ws wss wstan sctp vpn ppp sstp"

tun_netns() {
	local out rc=0 why=""
	case " $TUNNELS " in *" sstp "*) ;; *) return 0 ;; esac
	if [ -n "${SLUICE_E2E_NS:-}" ] && [ "${1:-}" != --here ]; then
		ip link set lo up
		ip addr add "$TUN_SSTP_TGT/32" dev lo
		TUN_LISTEN=0.0.0.0
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		why="SoftEther runs in a network namespace, which needs root"
	elif ! unshare --net --mount true 2>/dev/null; then
		why="cannot create namespaces (unshare --net --mount)"
	else
		out=$("$PEERS" prepare softether 2>&1) || rc=$?
		if [ "$rc" = 77 ]; then
			why=$(sed -n 's/^skipped: //p' <<<"$out")
		elif [ "$rc" != 0 ]; then
			echo "$out"
			echo "FAIL: the peers lab could not prepare SoftEther"
			exit 1
		fi
	fi
	if [ -n "$why" ]; then
		echo "    sstp left out: $why"
		TUNNELS=$(tr ' ' '\n' <<<"$TUNNELS" | grep -vx sstp | paste -sd' ')
		return 0
	fi
	[ "${1:-}" = --here ] || in_netns --net --mount
}

# SoftEther's state directory: one per test, so that a restart finds its
# configuration (and certificate) again
TUN_SE=$T/softether
tun_sstp_stop() {
	[ -s "$TUN_SE/pgid" ] || return 0
	if [ "${1:-TERM}" = KILL ]; then
		"$PEERS" softether stop "$TUN_SE" KILL
	else
		"$PEERS" softether stop "$TUN_SE"
	fi >/dev/null 2>&1
}

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
	ws) start "$name" $TUN_NS $TUN_WRAP "$SLUICE" -L "ws://$TUN_HOST:$port/t?key=$key&$TGT" ;;
	wss) start "$name" $TUN_NS $TUN_WRAP "$SLUICE" \
		-L "wss://$TUN_HOST:$port/t?key=$key&cert=$T/srv.pem&certkey=$T/srv.key&$TGT" ;;
	wstan) start "$name" $TUN_NS $TUN_WRAP "$SLUICE" -L "wstan://$TUN_HOST:$port/t?key=$key&$TGT" ;;
	sctp) start "$name" $TUN_NS $TUN_WRAP "$SLUICE" -L "sctp+udp://$TUN_HOST:$port?key=$key&$TGT" ;;
	vpn) start "$name" $TUN_NS $TUN_WRAP "$SLUICE" \
		-L "vpn://$TUN_HOST:$port?users=$T/vpnusers.txt&net=10.10.0.0/24&key=$T/vpn.key${TUN_VPN_SRV_OPTS:-}&$TGT" ;;
	ppp) start "$name" $TUN_NS $TUN_WRAP "$SLUICE" \
		-L "ppp+tcp://$TUN_HOST:$port?users=$T/pppusers&$TGT" ;;
	sstp)
		# on 443 whatever PORT says; the state in $TUN_SE
		$TUN_NS "$PEERS" softether start "$TUN_SE" "$TUN_SSTP_USER" "$TUN_SSTP_PASS" \
			>>"$T/$name.log" 2>&1 || { cat "$T/$name.log" >&2; return 1; }
		;;
	*) echo "unknown tunnel $kind" >&2; return 1 ;;
	esac
	case $kind in
	proxy | sstp) ;;
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
	sstp) echo "sstp://$TUN_SSTP_USER:$TUN_SSTP_PASS@$TUN_HOST?insecure=1" ;;
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
	start web python3 -m http.server --bind "$TUN_LISTEN" --directory "$T/www" "$web"
	wait_port "$web"
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
	procs=$(tun_procs "$kind")
}

# tun_procs KIND: the names of the sluice processes tun_up started
tun_procs() {
	case $1 in
	proxy | sstp) echo "cli-$1" ;;
	*) echo "cli-$1 srv-$1" ;;
	esac
}

tun_kill() {
	local p
	case $1 in
	srv-sstp*) tun_sstp_stop "${2:-TERM}" ;;
	*) p=$(pid_of "$1" 2>/dev/null) && [ -n "$p" ] && kill "-${2:-TERM}" "$p" 2>/dev/null ;;
	esac
	return 0
}

# tun_down KIND: its servers and clients, restarted ones (NAME-2) too
tun_down() {
	local n
	for n in "srv-$1" "cli-$1" "srv-$1-2" "cli-$1-2"; do tun_kill "$n"; done
}

tun_target() {
	case $1 in
	vpn) echo 10.10.0.1 ;;
	ppp) echo 10.0.2.2 ;; # the gateway host's loopback
	sstp) echo "$TUN_SSTP_TGT" ;;
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
