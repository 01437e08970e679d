#!/bin/bash
# Reverse forwards (-R) over ws:// and wss://: a client in a network
# namespace that nobody can connect into exposes python's http.server,
# which curl and wrk reach on the server's side.
#
#   S (server, NET.1)  <-- veth -->  C (client, NET.2: new inbound
#                                       connections dropped by nft)
#
# Checks: the client reaches in only through its own outbound tunnel; a
# server restart is claimed again by the client on its own; a port the
# server does not allow is refused, with the reason in both logs; the
# per-key cap on claims (one cap over two listeners with the key);
# claim-and-drop churn brings the server's descriptors and RSS back; a
# local target that refuses closes the public
# connection at once with a FIN (curl: empty reply), not a reset or a hang;
# /metrics and /health on both ends show each reverse listener.  wrk's
# requests/s through the reverse forward beside the server direct, same
# run (the machine may be shared: a report, not a gate).
. "$(dirname "$0")/lib.sh"
need_cmd curl wrk nft openssl
netns_pair rev21s rev21c 10.121.0
S=10.121.0.1
KEY=$("$SLUICE" keygen)

# C accepts no connection from outside: only replies to its own
inC nft -f - <<'EOF' || skip "nft cannot filter in the namespace"
table inet rev21 {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "vrev21c" ct state new drop
	}
}
EOF
mkdir -p "$T/www"
head -c 100000 /dev/urandom >"$T/www/blob"
echo "hello from behind the wall" >"$T/www/index.html"
start web ip netns exec rev21c python3 -m http.server --bind 0.0.0.0 --directory "$T/www" 8000
WP=8100 # server side: the ws tunnel
WP2=8102 # a second ws listener with the same key (reverse-claims is per key)
SM=9100 # server metrics
CM=9101 # client metrics (inside C)
srv() {
	start "server$1" ip netns exec rev21s "$SLUICE" -v \
		-L "ws://$S:$WP?key=$KEY&reverse=$S:8080-8099&reverse-claims=8" \
		-L "ws://$S:$WP2?key=$KEY&reverse=$S:8080-8099&reverse-claims=8" \
		--metrics "$S:$SM" --drain 1s
}
srv 1
sleep 1
check "C's service is not reachable from S directly (inbound dropped)" \
	bash -c "! ip netns exec rev21s curl -sS -m 2 http://10.121.0.2:8000/"
start client ip netns exec rev21c "$SLUICE" -v --metrics "127.0.0.1:$CM" \
	-R "tcp://$S:8080/127.0.0.1:8000" -R "tcp://$S:8081/127.0.0.1:8999" \
	-F "ws://$S:$WP?key=$KEY&pool=4"
up() { # until PORT on S answers curl, up to 15 s
	for _ in $(seq 150); do
		inS curl -fsS -m 2 -o /dev/null "http://$S:$1/" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
check "curl on S reaches C's http.server through the reverse forward" up 8080
check "the page is C's" bash -c "ip netns exec rev21s curl -fsS http://$S:8080/ | grep -q 'behind the wall'"
got=$(inS curl -fsS "http://$S:8080/blob" | sha256sum | cut -d' ' -f1)
check_eq "100 kB through it intact" "$(sha256sum <"$T/www/blob" | cut -d' ' -f1)" "$got"

# a local target that refuses: the public side is closed at once, cleanly
t0=$(date +%s%N)
rc=0
inS curl -sS -m 8 "http://$S:8081/" >/dev/null 2>"$T/refuse.err" || rc=$?
t1=$(date +%s%N)
check_eq "a refusing target: curl sees an empty reply (a FIN, exit 52)" 52 "$rc"
check "... at once (under 3 s)" test $(((t1 - t0) / 1000000)) -lt 3000

# wrk: through the reverse forward, and the server itself, in one run
rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"; }
start fwd ip netns exec rev21c "$SLUICE" -q -L "tcp://127.0.0.1:8001/127.0.0.1:8000"
inS wrk -t1 -c8 -d3s "http://$S:8080/" >"$T/wrk.rev" 2>&1
inC wrk -t1 -c8 -d3s "http://127.0.0.1:8001/" >"$T/wrk.fwd" 2>&1
inC wrk -t1 -c8 -d3s "http://127.0.0.1:8000/" >"$T/wrk.direct" 2>&1
echo "    requests/s: ws reverse forward $(rps "$T/wrk.rev"), sluice tcp:// forward $(rps "$T/wrk.fwd"), http.server direct $(rps "$T/wrk.direct") (shared machine: a report)"
check "wrk through the reverse forward completed requests" \
	bash -c "[ \"\$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' '$T/wrk.rev')\" -gt 0 ]"
check "wrk saw no socket errors through it" bash -c "! grep -q 'Socket errors' '$T/wrk.rev'"

# metrics and health on both ends
sm() { inS curl -fsS "http://$S:$SM/metrics"; }
cm() { inC curl -fsS "http://127.0.0.1:$CM/metrics"; }
check "server /metrics: the claim, its connections and bytes" bash -c \
	"ip netns exec rev21s curl -fsS http://$S:$SM/metrics | grep -E '^sluice_reverse_connections_total\{side=\"server\",reverse=\"$S:8080\"\} [1-9]' &&
	 ip netns exec rev21s curl -fsS http://$S:$SM/metrics | grep -E '^sluice_reverse_bytes_out_total\{side=\"server\",reverse=\"$S:8080\"\} [1-9][0-9]{5}'"
check "client /metrics: claimed, connections, refused" bash -c \
	"ip netns exec rev21c curl -fsS http://127.0.0.1:$CM/metrics | grep -E '^sluice_reverse_claimed\{side=\"client\",reverse=\"$S:8080/127.0.0.1:8000\"\} 1' &&
	 ip netns exec rev21c curl -fsS http://127.0.0.1:$CM/metrics | grep -E '^sluice_reverse_refused_total\{side=\"client\",reverse=\"$S:8081/127.0.0.1:8999\"\} 1'"
check "client /health lists both, claimed" bash -c \
	"ip netns exec rev21c curl -fsS http://127.0.0.1:$CM/health | grep -F '\"side\":\"client\",\"listen\":\"$S:8080/127.0.0.1:8000\",\"state\":\"claimed\"'"
check "server /health lists the claim" bash -c \
	"ip netns exec rev21s curl -fsS http://$S:$SM/health | grep -F '\"side\":\"server\",\"listen\":\"$S:8080\",\"state\":\"claimed\"'"

# the server restarts: the client claims again on its own
kill "$(pid_of server1)"
sleep 0.3
check "the port is gone with the server (it drains, but claims nothing)" \
	bash -c "! ip netns exec rev21s curl -sS -m 2 http://$S:8080/"
for _ in $(seq 50); do kill -0 "$(pid_of server1)" 2>/dev/null || break; sleep 0.1; done
srv 2
check "after the restart the client claimed the port again by itself" up 8080
check "the client said so" grep -q "claiming again" "$T/client.log"

# a port the server does not allow: refused, the reason on both ends
start client2 ip netns exec rev21c "$SLUICE" -R "tcp://$S:7000/127.0.0.1:8000" -F "ws://$S:$WP?key=$KEY"
sleep 2
check "client: refused, and why" grep -q "refused by the server: $S:7000 is not among the addresses" "$T/client2.log"
check "server: refused, and to whom" grep -q "reverse listener refused to 10.121.0.2.*$S:7000" "$T/server2.log"
check "nothing listens on the refused port" bash -c "! ip netns exec rev21s curl -sS -m 2 http://$S:7000/"
kill "$(pid_of client2)"

# the per-key cap, over all the server's listeners: the client holds 2
# through the first, so 6 more of these 10 claims through the second fit
args=()
for p in $(seq 8082 8091); do args+=(-R "tcp://$S:$p/127.0.0.1:8000"); done
start greedy ip netns exec rev21c "$SLUICE" "${args[@]}" -F "ws://$S:$WP2?key=$KEY"
sleep 2
n=$(sm | grep -c '^sluice_reverse_claimed{side="server".*} 1')
check_eq "claims per key capped at reverse-claims=8 across two listeners" 8 "$n"
check "the claims over the cap were refused with the reason" \
	grep -q "this key holds 8 reverse listeners already" "$T/greedy.log"
kill "$(pid_of greedy)"
sleep 1

# claim-and-drop churn: descriptors and memory come back
SP=$(pid_of server2)
fds() { ls "/proc/$SP/fd" | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SP/status"; }
fd0=$(fds)
rss0=$(rss)
for i in $(seq 15); do
	ip netns exec rev21c "$SLUICE" -q -R "tcp://$S:8090/127.0.0.1:8000" -R "tcp://$S:8091/127.0.0.1:8000" \
		-F "ws://$S:$WP?key=$KEY&pool=2" &
	p=$!
	sleep 0.4
	kill -9 $p
	wait $p 2>/dev/null
done
# the first client's pool (pool=4) opens and closes WebSockets of its own
# meanwhile: the baseline is within 4 descriptors
for _ in $(seq 50); do [ "$(fds)" -le $((fd0 + 4)) ] && break; sleep 0.2; done
fd1=$(fds)
rss1=$(rss)
claims=$(grep -c "reverse $S:809[01]: listening for" "$T/server2.log")
echo "    server descriptors $fd0 -> $fd1, RSS $rss0 -> $rss1 kB after 15 claim-and-drop clients ($claims claims)"
check "the churn claimed (at least 15 claims)" test "$claims" -ge 15
check "descriptors back to baseline after the churn (within the other client's pool of 4)" \
	test "$fd1" -le $((fd0 + 4))
check "RSS within 4 MB of baseline" test "$rss1" -le $((rss0 + 4096))
check "the forward still works after it all" up 8080

# the public side keeps descriptors to spare as every listener does: a
# server limited to 64 descriptors, 60 connections held on its claimed
# port; the excess is refused (reset, a log line), the server lives, and
# once they close the forward serves again
start lowfd ip netns exec rev21s prlimit --nofile=64:64 "$SLUICE" -v \
	-L "ws://$S:8103?key=$KEY&reverse=$S:8098"
start lowfdc ip netns exec rev21c "$SLUICE" -R "tcp://$S:8098/127.0.0.1:8000" \
	-F "ws://$S:8103?key=$KEY"
check "low-descriptor server: the forward works" up 8098
inS python3 -c '
import socket, sys, time
held = []
for _ in range(60):
    try:
        s = socket.create_connection((sys.argv[1], 8098), timeout=2)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        held.append(s)
    except OSError:
        pass
time.sleep(2)
' "$S"
check "low-descriptor server: the excess refused for want of descriptors" \
	grep -q "reverse $S:8098: refused .*descriptors nearly exhausted" "$T/lowfd.log"
check "low-descriptor server: alive" kill -0 "$(pid_of lowfd)"
check "low-descriptor server: serves again once they closed" up 8098
kill "$(pid_of lowfdc)" "$(pid_of lowfd)"

# --- the same over wss://
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=rev" \
	-addext "subjectAltName=IP:$S" -keyout "$T/k.pem" -out "$T/c.pem" 2>/dev/null
start wss ip netns exec rev21s "$SLUICE" \
	-L "wss://$S:8443?key=$KEY&cert=$T/c.pem&certkey=$T/k.pem&reverse=8095"
start wssclient ip netns exec rev21c "$SLUICE" -R "tcp://0.0.0.0:8095/127.0.0.1:8000" \
	-F "wss://$S:8443?key=$KEY&ca=$T/c.pem&pool=4"
check "wss: curl on S reaches C's http.server" up 8095
got=$(inS curl -fsS "http://$S:8095/blob" | sha256sum | cut -d' ' -f1)
check_eq "wss: 100 kB intact" "$(sha256sum <"$T/www/blob" | cut -d' ' -f1)" "$got"
inS wrk -t1 -c8 -d3s "http://$S:8095/" >"$T/wrk.wss" 2>&1
echo "    requests/s through the wss reverse forward: $(rps "$T/wrk.wss")"
finish
