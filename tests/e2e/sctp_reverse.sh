#!/bin/bash
# Reverse forwards (-R) over the SCTP tunnel (sctp+udp://, and sctp:// on a
# raw socket): a client in a network namespace that nobody can connect into
# exposes python's http.server, which curl and wrk reach on the server's
# side.  The same shape as reverse.sh (ws), through the LISTEN, ACCEPT,
# JOIN and REFUSE records of docs/sctp-protocol.md.
#
#   S (server, NET.1)  <-- veth -->  C (client, NET.2: new inbound
#                                       connections dropped by nft)
#
# Checks: the client reaches in only through its own association; a server
# restart is claimed again by the client on its own; a port the server
# does not allow is refused, with the reason in both logs; the per-key cap
# on claims; claim-and-drop churn brings the server's descriptors and RSS
# back; a local target that refuses closes the public connection at once
# with a FIN (curl: empty reply); /metrics and /health on both ends.
# wrk's requests/s through the reverse forward beside a plain tcp://
# forward and the server direct, same run (a report, not a gate).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/reverse.inc"
need_cmd curl wrk nft
netns_pair rv2s rv2c 10.122.0
S=10.122.0.1
KEY=$("$SLUICE" keygen)

rev_wall rv2
rev_web
SP_=8200 # server side: the SCTP tunnel (UDP port)
SM=9200  # server metrics
CM=9201  # client metrics (inside C)
# (under ASan no quarantine, so that the churn's RSS check measures what
# the server keeps, not ASan's freed memory)
srv() {
	start "server$1" ip netns exec rv2s env \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" "$SLUICE" -v \
		-L "sctp+udp://$S:$SP_?key=$KEY&reverse=$S:8280-8299&reverse-claims=8" \
		--metrics "$S:$SM" --drain 1s
}
srv 1
sleep 1
check "C's service is not reachable from S directly (inbound dropped)" \
	bash -c "! ip netns exec rv2s curl -sS -m 2 http://10.122.0.2:8000/"
start client ip netns exec rv2c "$SLUICE" -v --metrics "127.0.0.1:$CM" \
	-R "tcp://$S:8280/127.0.0.1:8000" -R "tcp://$S:8281/127.0.0.1:8999" \
	-F "sctp+udp://$S:$SP_?key=$KEY"
up() { rev_up "$@"; }
rev_serves 8280 8281
rev_wrk 8280 sctp+udp
sm() { inS curl -fsS "http://$S:$SM/metrics"; }
rev_shown "$SM" "$CM" 8280 8281

# the server restarts: the client claims again on its own
kill "$(pid_of server1)"
sleep 0.3
check "the port is gone with the server (it drains, but claims nothing)" \
	bash -c "! ip netns exec rv2s curl -sS -m 2 http://$S:8280/"
for _ in $(seq 50); do kill -0 "$(pid_of server1)" 2>/dev/null || break; sleep 0.1; done
srv 2
check "after the restart the client claimed the port again by itself" up 8280
check "the client said so" grep -q "claiming again" "$T/client.log"

# a port the server does not allow: refused, the reason on both ends
rev_refused "sctp+udp://$S:$SP_?key=$KEY" "$T/server2.log"

# the per-key cap: the client holds 2, so 6 more of these 10 claims fit
rev_capped "sctp+udp://$S:$SP_?key=$KEY" 8282 ""

# claim-and-drop churn: descriptors and memory come back.  Half the
# clients stop (their claims are released at once), half are killed with
# -9: nothing tells the server, so their association, and its claims, go
# when the heartbeats fail (about 5 s: hb=1s, max-rtx=4); those claim
# ports of their own, and the baseline is waited for.
SP=$(pid_of server2)
fds() { ls "/proc/$SP/fd" | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SP/status"; }
nclaims() { sm | grep -c '^sluice_reverse_claimed{side="server".*} 1'; }
for _ in $(seq 100); do [ "$(nclaims)" -le 2 ] && break; sleep 0.1; done
fd0=$(fds)
rss0=$(rss)
for i in $(seq 15); do
	if [ $((i % 2)) = 1 ]; then
		ip netns exec rv2c "$SLUICE" -q -R "tcp://$S:8290/127.0.0.1:8000" \
			-R "tcp://$S:8291/127.0.0.1:8000" -F "sctp+udp://$S:$SP_?key=$KEY" &
	else
		ip netns exec rv2c "$SLUICE" -q -R "tcp://$S:$((8292 + i / 2))/127.0.0.1:8000" \
			-F "sctp+udp://$S:$SP_?key=$KEY" &
	fi
	p=$!
	sleep 0.4
	if [ $((i % 2)) = 1 ]; then kill $p; else kill -9 $p; fi
	wait $p 2>/dev/null
done
for _ in $(seq 100); do [ "$(fds)" -le "$fd0" ] && [ "$(nclaims)" -le 2 ] && break; sleep 0.2; done
fd1=$(fds)
rss1=$(rss)
claims=$(grep -c "reverse $S:829[0-9]: listening for" "$T/server2.log")
echo "    server descriptors $fd0 -> $fd1, RSS $rss0 -> $rss1 kB after 15 claim-and-drop clients ($claims claims)"
check "the churn claimed (at least 15 claims)" test "$claims" -ge 15
check "descriptors back to baseline after the churn" test "$fd1" -le "$fd0"
check "every churned claim released (only the first client's 2 left)" test "$(nclaims)" -eq 2
check "RSS within 4 MB of baseline" test "$rss1" -le $((rss0 + 4096))
check "the forward still works after it all" up 8280

# --- the same over sctp:// (native SCTP; here usrsctp on a raw socket)
start native ip netns exec rv2s "$SLUICE" -L "sctp://$S:8300?key=$KEY&reverse=8295"
start nclient ip netns exec rv2c "$SLUICE" -R "tcp://0.0.0.0:8295/127.0.0.1:8000" \
	-F "sctp://$S:8300?key=$KEY"
check "sctp://: curl on S reaches C's http.server" up 8295
got=$(inS curl -fsS "http://$S:8295/blob" | sha256sum | cut -d' ' -f1)
check_eq "sctp://: 100 kB intact" "$(sha256sum <"$T/www/blob" | cut -d' ' -f1)" "$got"
finish
