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
need_cmd curl wrk nft
netns_pair rv2s rv2c 10.122.0
S=10.122.0.1
KEY=$("$SLUICE" keygen)

inC nft -f - <<'EOF' || skip "nft cannot filter in the namespace"
table inet rv2 {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "vrv2c" ct state new drop
	}
}
EOF
mkdir -p "$T/www"
head -c 100000 /dev/urandom >"$T/www/blob"
echo "hello from behind the wall" >"$T/www/index.html"
start web ip netns exec rv2c python3 -m http.server --bind 0.0.0.0 --directory "$T/www" 8000
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
up() { # until PORT on S answers curl, up to 15 s
	for _ in $(seq 150); do
		inS curl -fsS -m 2 -o /dev/null "http://$S:$1/" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
check "curl on S reaches C's http.server through the sctp reverse forward" up 8280
check "the page is C's" bash -c "ip netns exec rv2s curl -fsS http://$S:8280/ | grep -q 'behind the wall'"
got=$(inS curl -fsS "http://$S:8280/blob" | sha256sum | cut -d' ' -f1)
check_eq "100 kB through it intact" "$(sha256sum <"$T/www/blob" | cut -d' ' -f1)" "$got"

# a local target that refuses: the public side is closed at once, cleanly
t0=$(date +%s%N)
rc=0
inS curl -sS -m 8 "http://$S:8281/" >/dev/null 2>"$T/refuse.err" || rc=$?
t1=$(date +%s%N)
check_eq "a refusing target: curl sees an empty reply (a FIN, exit 52)" 52 "$rc"
check "... at once (under 3 s)" test $(((t1 - t0) / 1000000)) -lt 3000

# wrk: through the reverse forward, a plain forward, the server itself
rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"; }
start fwd ip netns exec rv2c "$SLUICE" -q -L "tcp://127.0.0.1:8001/127.0.0.1:8000"
inS wrk -t1 -c8 -d3s "http://$S:8280/" >"$T/wrk.rev" 2>&1
inC wrk -t1 -c8 -d3s "http://127.0.0.1:8001/" >"$T/wrk.fwd" 2>&1
inC wrk -t1 -c8 -d3s "http://127.0.0.1:8000/" >"$T/wrk.direct" 2>&1
echo "    requests/s: sctp+udp reverse forward $(rps "$T/wrk.rev"), sluice tcp:// forward $(rps "$T/wrk.fwd"), http.server direct $(rps "$T/wrk.direct") (shared machine: a report)"
check "wrk through the reverse forward completed requests" \
	bash -c "[ \"\$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' '$T/wrk.rev')\" -gt 0 ]"
check "wrk saw no socket errors through it" bash -c "! grep -q 'Socket errors' '$T/wrk.rev'"

# metrics and health on both ends
sm() { inS curl -fsS "http://$S:$SM/metrics"; }
check "server /metrics: the claim, its connections and bytes" bash -c \
	"ip netns exec rv2s curl -fsS http://$S:$SM/metrics | grep -E '^sluice_reverse_connections_total\{side=\"server\",reverse=\"$S:8280\"\} [1-9]' &&
	 ip netns exec rv2s curl -fsS http://$S:$SM/metrics | grep -E '^sluice_reverse_bytes_out_total\{side=\"server\",reverse=\"$S:8280\"\} [1-9][0-9]{5}'"
check "client /metrics: claimed, refused" bash -c \
	"ip netns exec rv2c curl -fsS http://127.0.0.1:$CM/metrics | grep -E '^sluice_reverse_claimed\{side=\"client\",reverse=\"$S:8280/127.0.0.1:8000\"\} 1' &&
	 ip netns exec rv2c curl -fsS http://127.0.0.1:$CM/metrics | grep -E '^sluice_reverse_refused_total\{side=\"client\",reverse=\"$S:8281/127.0.0.1:8999\"\} 1'"
check "client /health lists it, claimed" bash -c \
	"ip netns exec rv2c curl -fsS http://127.0.0.1:$CM/health | grep -F '\"side\":\"client\",\"listen\":\"$S:8280/127.0.0.1:8000\",\"state\":\"claimed\"'"
check "server /health lists the claim" bash -c \
	"ip netns exec rv2s curl -fsS http://$S:$SM/health | grep -F '\"side\":\"server\",\"listen\":\"$S:8280\",\"state\":\"claimed\"'"

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
start client2 ip netns exec rv2c "$SLUICE" -R "tcp://$S:7000/127.0.0.1:8000" \
	-F "sctp+udp://$S:$SP_?key=$KEY"
sleep 2
check "client: refused, and why" grep -q "refused by the server: $S:7000 is not among the addresses" "$T/client2.log"
check "server: refused, and to whom" grep -q "reverse listener refused to 10.122.0.2.*$S:7000" "$T/server2.log"
check "nothing listens on the refused port" bash -c "! ip netns exec rv2s curl -sS -m 2 http://$S:7000/"
kill "$(pid_of client2)"

# the per-key cap: the client holds 2, so 6 more of these 10 claims fit
args=()
for p in $(seq 8282 8291); do args+=(-R "tcp://$S:$p/127.0.0.1:8000"); done
start greedy ip netns exec rv2c "$SLUICE" "${args[@]}" -F "sctp+udp://$S:$SP_?key=$KEY"
sleep 2
n=$(sm | grep -c '^sluice_reverse_claimed{side="server".*} 1')
check_eq "claims per key capped at reverse-claims=8" 8 "$n"
check "the claims over the cap were refused with the reason" \
	grep -q "this key holds 8 reverse listeners already" "$T/greedy.log"
kill "$(pid_of greedy)"
sleep 1

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
