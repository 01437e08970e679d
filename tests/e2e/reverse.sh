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
. "$(dirname "$0")/reverse.inc"
need_cmd curl wrk nft openssl
netns_pair rev21s rev21c 10.121.0
S=10.121.0.1
KEY=$("$SLUICE" keygen)

# C accepts no connection from outside: only replies to its own
rev_wall rev21
rev_web
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
up() { rev_up "$@"; }
rev_serves 8080 8081
rev_wrk 8080 ws
sm() { inS curl -fsS "http://$S:$SM/metrics"; }
rev_shown "$SM" "$CM" 8080 8081

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
rev_refused "ws://$S:$WP?key=$KEY" "$T/server2.log"

# the per-key cap, over all the server's listeners: the client holds 2
# through the first, so 6 more of these 10 claims through the second fit
rev_capped "ws://$S:$WP2?key=$KEY" 8082 " across two listeners"

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
echo "    requests/s through the wss reverse forward: $(rev_rps "$T/wrk.wss")"
finish
