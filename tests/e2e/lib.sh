# Shared helpers for end-to-end tests (sourced, not run).
#
#   . "$(dirname "$0")/lib.sh"
#   port=$(free_port)
#   start sluice1 "$SLUICE" -L "tcp://127.0.0.1:$port/127.0.0.1:$web"
#   wait_port "$port"
#   check "curl through the forward" curl -fsS "http://127.0.0.1:$port/"
#   finish
#
# Every process started with `start` is killed on exit; logs are kept in
# $T (a temp dir) and printed for the processes of a failed run.
#
# A test that cannot run on this machine says why and exits 77, which
# ctest reports as skipped (never as passed):
#   need_root "a network namespace"     skip unless root
#   need_cmd nginx tinyproxy            skip unless installed (scripts/deps.sh)
#   need_py websockets                  the same for /usr/bin/python3's modules
#   need_tun                            skip unless /dev/net/tun opens
#   in_netns --net --mount              re-run this test in new namespaces
#   netns_pair S C 192.168.81           two namespaces joined by a veth
#   ns_resolver v6only.test,fd99::1     dnsmasq as the namespace's resolver
#   need_peers image softether slirp    the peers lab (tests/peers): $PEERS
#   skip "WHY"                          anything else
set -u

: "${SLUICE:?set SLUICE to the sluice binary}"
# The tests run as root, and a sluice run as root refuses to serve the
# network unless told which user to become, or `root` to stay root
# (core/priv.h).  They say so through the environment, so that the command
# lines stay as users write them; a test of the refusal unsets it.
[ "$(id -u)" = 0 ] && export SLUICE_USER="${SLUICE_USER-root}"
T=$(mktemp -d /tmp/sluice-e2e.XXXXXX)
PIDS=""
NPASS=0
NFAIL=0
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

cleanup() {
	# start() in a subshell ($(...)) cannot add to PIDS: $T/pids has them all
	PIDS="$PIDS $(cat "$T/pids" 2>/dev/null)"
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	# what runs in the test's namespaces goes with them (a command started
	# through inS/inC runs in a subshell that the kills above do not reach)
	for n in $NETNS; do
		# shellcheck disable=SC2046
		kill $(ip netns pids "$n" 2>/dev/null) 2>/dev/null
	done
	[ -n "$NETNS" ] && sleep 0.2
	for n in $NETNS; do
		# shellcheck disable=SC2046
		kill -9 $(ip netns pids "$n" 2>/dev/null) 2>/dev/null
		ip netns del "$n" 2>/dev/null
		rm -rf "/etc/netns/$n"
	done
	if [ "$NFAIL" -ne 0 ] || [ "${KEEP_LOGS:-0}" = 1 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "----- $f (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# skip WHY...: this test cannot run here.  Exit 77: ctest's SKIP_RETURN_CODE.
skip() {
	echo "skipped: $*"
	exit 77
}

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root${1:+ ($1)}"
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || skip "$c is not installed (scripts/deps.sh installs it)"
	done
}

# need_py MODULE...: skip unless Debian's /usr/bin/python3 imports MODULE
need_py() {
	local m
	for m in "$@"; do
		/usr/bin/python3 -c "import $m" 2>/dev/null ||
			skip "python3-$m is not installed (scripts/deps.sh installs it)"
	done
}

need_tun() {
	need_root "/dev/net/tun"
	(exec 3<>/dev/net/tun) 2>/dev/null || skip "/dev/net/tun cannot be opened here"
}

# need_peers image|softether|slirp...: what the test needs of the peers lab
# (tests/peers/README.md), built now or taken from its cache; then run the
# lab as "$PEERS" ppp|sstpc|vm|softether|slirp ...  Call it before in_netns:
# a first build downloads Debian packages.
PEERS=$SRCDIR/tests/peers/peers
need_peers() {
	local out rc=0
	out=$("$PEERS" prepare "$@" 2>&1) || rc=$?
	[ "$rc" = 77 ] && skip "$(sed -n 's/^skipped: //p' <<<"$out")"
	if [ "$rc" != 0 ]; then
		echo "$out"
		echo "FAIL: the peers lab could not prepare: $*"
		exit 1
	fi
}

# in_netns UNSHARE-OPTIONS...: run this test again, from the top, in new
# namespaces (e.g. --net: only a loopback that is down; bring it up).
# Inside, SLUICE_E2E_NS is set and in_netns returns at once.
in_netns() {
	[ -n "${SLUICE_E2E_NS:-}" ] && return 0
	need_root "namespaces"
	unshare "$@" true 2>/dev/null || skip "cannot create namespaces (unshare $*)"
	rm -rf "$T"
	trap - EXIT
	SLUICE_E2E_NS=1 exec unshare "$@" bash "$0"
}

# netns_pair S C NET: two named network namespaces with loopback up and
# a veth pair between them, S at NET.1/24 and C at NET.2/24 (NET: three
# octets, e.g. 192.168.81); inS and inC run a command in them.  Both go on
# exit, with /etc/netns/S and /etc/netns/C (files `ip netns exec` mounts
# over /etc: write a resolv.conf there).  Skips without root or netns.
NETNS=""
netns_pair() {
	local s=$1 c=$2 net=$3
	need_root "network namespaces"
	ip netns add "$s" 2>/dev/null || skip "cannot create network namespaces"
	NETNS="$NETNS $s $c"
	ip netns add "$c"
	ip -n "$s" link set lo up
	ip -n "$c" link set lo up
	ip link add "v$s" type veth peer name "v$c"
	ip link set "v$s" netns "$s"
	ip link set "v$c" netns "$c"
	ip -n "$s" addr add "$net.1/24" dev "v$s"
	ip -n "$s" link set "v$s" up
	ip -n "$c" addr add "$net.2/24" dev "v$c"
	ip -n "$c" link set "v$c" up
	NS_S=$s
	NS_C=$c
}
inS() { ip netns exec "$NS_S" "$@"; }
inC() { ip netns exec "$NS_C" "$@"; }

# ns_resolver RECORD...: after in_netns --net --mount, dnsmasq on
# 127.0.0.1:53 becomes this namespace's resolver (/etc/resolv.conf is
# bound over), authoritative for .test, with --host-record=RECORD each
# (e.g. v6only.test,fd99::1: a name with only an AAAA record); its log is
# $T/dns.log.
ns_resolver() {
	local r args=""
	need_cmd dnsmasq
	for r in "$@"; do args="$args --host-record=$r"; done
	mount --make-rprivate /
	echo "nameserver 127.0.0.1" >"$T/resolv.conf"
	mount --bind "$T/resolv.conf" /etc/resolv.conf
	# shellcheck disable=SC2086
	start dns dnsmasq --no-daemon --no-resolv --no-hosts --port=53 --listen-address=127.0.0.1 \
		--local=/test/ --bind-interfaces --user=root --pid-file="$T/dnsmasq.pid" --log-queries $args
}

# A TCP port nobody listens on right now, and not one this test was given
# before (the kernel may hand the same free port out twice; $T/ports keeps
# what each call returned, as the calls run in subshells).
free_port() {
	python3 -c 'import socket, sys
used = set(open(sys.argv[1]).read().split()) if __import__("os").path.exists(sys.argv[1]) else set()
for _ in range(100):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = str(s.getsockname()[1]); s.close()
    if p not in used:
        break
open(sys.argv[1], "a").write(p + "\n")
print(p)' "$T/ports"
}

# start NAME CMD...: run CMD in the background, log to $T/NAME.log.
start() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	local pid=$!
	PIDS="$PIDS $pid"
	echo "$pid" >>"$T/pids"
	eval "PID_${name//[^a-zA-Z0-9_]/_}=$pid"
}

pid_of() {
	local v="PID_${1//[^a-zA-Z0-9_]/_}"
	echo "${!v}"
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
# wait_udp_port PORT [SECONDS]: a UDP socket is bound to 127.0.0.1:PORT
wait_udp_port() {
	local port=$1 n=$(( ${2:-10} * 20 ))
	while [ $n -gt 0 ]; do
		[ -n "$(ss -Hlun "sport = :$port")" ] && return 0
		sleep 0.05
		n=$((n - 1))
	done
	echo "UDP port $port did not open" >&2
	return 1
}

wait_port() {
	local port=$1 n=$(( ${2:-10} * 20 ))
	while [ $n -gt 0 ]; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
		n=$((n - 1))
	done
	echo "port $port did not open" >&2
	return 1
}

# start_redis PORT: a redis-server (started as "redis") on 127.0.0.1:PORT,
# its files in $T/redis, nothing saved; again after a kill, the same.
start_redis() {
	mkdir -p "$T/redis"
	start redis redis-server --port "$1" --bind 127.0.0.1 --dir "$T/redis" --save "" \
		--appendonly no
	wait_port "$1"
}

# start_nginx PORT: nginx (started as "nginx") with the http{} block's
# contents read from stdin, in a config whose pid, logs and temp files are
# all in $T/nginx (the access log: $T/nginx/access.log); waits for PORT.
start_nginx() {
	mkdir -p "$T/nginx"
	{
		cat <<CONF
daemon off;
user root;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log $T/nginx/access.log;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
CONF
		cat
		echo "}"
	} >"$T/nginx/nginx.conf"
	start nginx nginx -c "$T/nginx/nginx.conf" -p "$T/nginx"
	wait_port "$1"
}

# start_danted PORT [SERVER-LINES [RULE-LINES]]: Dante (started as
# "danted") on 127.0.0.1:PORT for clients on loopback, CONNECT only, no
# authentication, its own log in $T/danted-own.log; SERVER-LINES go into
# its configuration (timeout.connect: 2), RULE-LINES into its socks pass
# rule (log: connect).  Does not wait for the port.
start_danted() {
	cat >"$T/danted.conf" <<EOF
logoutput: $T/danted-own.log
internal: 127.0.0.1 port = $1
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
${2:-}
client pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
}
socks pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
	command: connect
	${3:-}
}
EOF
	start danted danted -f "$T/danted.conf" -p "$T/danted.pid" -N 1
}

# A static HTTP server on 127.0.0.1:PORT serving DIR.
http_server() {
	local port=$1 dir=$2
	start "http$port" python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port"
	wait_port "$port"
}

pass() { NPASS=$((NPASS + 1)); echo "PASS: $1"; }
fail() { NFAIL=$((NFAIL + 1)); echo "FAIL: $1"; }

# check DESC CMD...: CMD must succeed.
check() {
	local desc=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then
		pass "$desc"
	else
		fail "$desc"
		sed 's/^/    /' "$T/check.out" | tail -n 20
	fi
}

# ws_record NAME PORT HOP FILE WHAT: a client (NAME) whose hop is HOP (a URL
# without its address, e.g. "ws:///tun?key=K") reaches 127.0.0.1:PORT
# through a relay that records what the client sends into FILE, and fetches
# /WHAT from the target (whose body is WHAT); then the client stops, which
# ends the recording.  Needs $WSPEER (tests/e2e/wspeer.py) and the target
# web server's port in $web.
ws_record() {
	local name=$1 to=$2 hop=$3 file=$4 what=$5 rec fw relay rc=0
	rec=$(free_port)
	$WSPEER relay "$rec" "$to" "$file" &
	relay=$!
	sleep 0.3
	fw=$(free_port)
	start "$name" "$SLUICE" -L "tcp://127.0.0.1:$fw/127.0.0.1:$web" -F "${hop/:\/\//://127.0.0.1:$rec}"
	# not wait_port: its connection would be the one the relay records
	for _ in $(seq 100); do grep -q "listening on" "$T/$name.log" && break; sleep 0.05; done
	curl -fsS -m 5 "http://127.0.0.1:$fw/$what" | grep -q "$what" || rc=1
	kill "$(pid_of "$name")"
	wait "$relay"
	[ -s "$file" ] || { echo "nothing recorded in $file" >&2; rc=1; }
	return $rc
}

# check_fails DESC CMD...: CMD must fail.
check_fails() {
	local desc=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then
		fail "$desc (it succeeded)"
		sed 's/^/    /' "$T/check.out" | tail -n 20
	else
		pass "$desc"
	fi
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# A file of SIZE (e.g. 1G, 100M) of random bytes in $T; prints its path.
random_file() {
	local size=$1 f="$T/data.$1"
	[ -f "$f" ] || head -c "$size" /dev/urandom >"$f"
	echo "$f"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# The process must still be running.
alive() { kill -0 "$(pid_of "$1")" 2>/dev/null; }

# iperf_arrived FILE: the datagrams an `iperf3 -u -J` run got through
# (its receiver's count less the lost ones), 0 when it did not run
iperf_arrived() {
	python3 -c 'import json, sys
s = json.load(open(sys.argv[1])).get("end", {}).get("sum", {})
print(s.get("packets", 0) - s.get("lost_packets", 0))' "$1" 2>/dev/null || echo 0
}

finish() {
	echo "$NPASS passed, $NFAIL failed"
	[ "$NFAIL" -eq 0 ]
}
