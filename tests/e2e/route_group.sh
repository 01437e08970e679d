#!/bin/bash
# Server groups: two real sluice WebSocket servers behind one group, wrk
# through the client's port forward, one server killed mid-run and brought
# back.
#
#   - wrk opens a new connection per request (Connection: close), so new
#     connections keep coming while server A is killed (SIGKILL): they must
#     keep succeeding; the requests that fail may be at most the ones in
#     flight (wrk's concurrency), and the test prints how many did;
#   - the client's log shows connections retried on the other member, and
#     A marked down;
#   - A started again is probed back up and takes connections again (its
#     own /metrics counts opens);
#   - a target that refuses fails the request but not the member;
#   - while A is down its member metrics say so (up 0, failures counted);
#   - the strategies, with A behind a relay that holds every chunk 60 ms
#     (a far link): failover sends every connection to the first member
#     (A, far), lowest-latency every one to B, whose handshakes were
#     faster, as each server's own log shows;
#   - datagrams through fo's udp:// forward go to the first member, and
#     once it is gone (the relay killed) to the next;
#   - a group after another hop (Dante): the members reach their servers
#     through it;
#   - both servers down: a new connection fails at once, SOCKS reply 4 and
#     an HTTP 502 page naming the group, and /health says 503 with
#     every member down; a failed connection takes a member down, and it is then
#     probed after 1 s, then 2 s (backoff), not every second.
# ctest-label: slow
. "$(dirname "$0")/lib.sh"
need_cmd wrk nginx curl

mkdir -p "$T/nginx"
web=$(free_port)
cat >"$T/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    server {
        listen 127.0.0.1:$web;
        location / { return 200 "ok\n"; }
    }
}
CONF
start nginx nginx -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log"
wait_port "$web"

KEY=$("$SLUICE" keygen)
a=$(free_port) b=$(free_port) ma=$(free_port) mb=$(free_port)
server() { # NAME PORT METRICS
	start "$1" "$SLUICE" -v --metrics "127.0.0.1:$3" -L "ws://127.0.0.1:$2?key=$KEY&host-loopback=1"
	wait_port "$2"
}
server A "$a" "$ma"
server B "$b" "$mb"
opens() { curl -fsS -m 5 "http://127.0.0.1:$1/metrics" 2>/dev/null |
	sed -n 's/^sluice_ws_opens_total{[^}]*} //p'; }
member() { # METRICS-PORT FAMILY MEMBER-PORT: the member's value
	curl -fsS -m 5 "http://127.0.0.1:$1/metrics" |
		sed -n "s/^sluice_group_member_$2{.*member=\"ws:\/\/127.0.0.1:$3\"} //p"
}

f=$(free_port) s=$(free_port) m=$(free_port)
start cli "$SLUICE" -v --metrics "127.0.0.1:$m" \
	-L "tcp://127.0.0.1:$f/127.0.0.1:$web" -L "proxy://127.0.0.1:$s?connect-timeout=30s" \
	--group "tun?strategy=round-robin&probe-interval=1s=ws://127.0.0.1:$a?key=$KEY,ws://127.0.0.1:$b?key=$KEY" \
	-F group://tun
wait_port "$f"
check_eq "through the group" ok "$(curl -fsS -m 10 "http://127.0.0.1:$f/")"
# a target that refuses is the target's failure, not the member's
closed=$(free_port)
check_eq "a refused target: HTTP 502" 502 \
	"$(curl -sS -m 10 -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$s" "http://127.0.0.1:$closed/")"
curl -sS -m 10 -o /dev/null -x "socks5h://127.0.0.1:$s" "http://127.0.0.1:$closed/" 2>/dev/null
check_eq "... and both members stay up, no failure counted (up up failures failures)" "1 1 0 0" \
	"$(member "$m" up "$a") $(member "$m" up "$b") $(member "$m" failures_total "$a") $(member "$m" failures_total "$b")"

C=8
wrk -t1 -c$C -d8s -H 'Connection: close' "http://127.0.0.1:$f/" >"$T/wrk.out" 2>&1 &
wrkpid=$!
sleep 2.5
kill -9 "$(pid_of A)"
sleep 2.5
check_eq "while A is down: sluice_group_member_up says so" 0 "$(member "$m" up "$a")"
check "... and counts its failures ($(member "$m" failures_total "$a"))" test "$(member "$m" failures_total "$a")" -gt 0
server A "$a" "$ma"
wait $wrkpid
cat "$T/wrk.out"
total=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$T/wrk.out")
errs=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$T/wrk.out")
non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$T/wrk.out")
failed=$((${non2xx:-0} + $(echo "${errs:-0}" | tr ' ' '+')))
echo "    wrk: ${total:-0} requests, $failed failed (at most $C were in flight), A killed at 2.5 s, back at 5 s"
check "wrk completed requests through the group" test "${total:-0}" -gt 100
check "failed requests: $failed, at most the $C in flight" test "$failed" -le $C
check "connections were retried on the other member" grep -q "trying another member" "$T/cli.log"
check "A was taken down" grep -q "group tun: member ws://127.0.0.1:$a is down" "$T/cli.log"
check "A was probed back up" grep -q "group tun: member ws://127.0.0.1:$a is up again" "$T/cli.log"
for _ in $(seq 10); do curl -fsS -m 5 "http://127.0.0.1:$f/" >/dev/null; done
check "A, started again, takes connections again ($(opens "$ma") opens)" test "$(opens "$ma")" -gt 0

# strategies: A behind a relay that holds every chunk 60 ms, B near
r=$(free_port)
start relay /usr/bin/python3 "$SRCDIR/tests/e2e/tools.py" slow-relay "$r" "$a" 60
wait_port "$r"
members="ws://127.0.0.1:$r?key=$KEY,ws://127.0.0.1:$b?key=$KEY"
ffo=$(free_port) fll=$(free_port) mll=$(free_port) fu=$(free_port) dport=$(free_port)
udp=0
if command -v dig >/dev/null && command -v dnsmasq >/dev/null; then
	udp=1 # a name server for datagrams through fo's udp:// forward
	start dns dnsmasq --no-daemon --user=root --no-resolv --no-hosts --conf-file=/dev/null \
		--listen-address=127.0.0.1 --bind-interfaces --port "$dport" --address=/#/127.0.0.7
fi
start fo "$SLUICE" -v -L "tcp://127.0.0.1:$ffo/127.0.0.1:$web" -L "udp://127.0.0.1:$fu/127.0.0.1:$dport" \
	--group "s?strategy=failover&probe-interval=8s=$members" -F group://s
start ll "$SLUICE" -v --metrics "127.0.0.1:$mll" -L "tcp://127.0.0.1:$fll/127.0.0.1:$web" \
	--group "s?strategy=lowest-latency=$members" -F group://s
# (not wait_port: its connection would be forwarded, a dial to count)
listening() { # NAME PORT: NAME's log says it listens on PORT
	for _ in $(seq 200); do
		grep -q "listening on tcp://127.0.0.1:$2\$" "$T/$1.log" && return 0
		sleep 0.05
	done
	return 1
}
listening fo "$ffo"
listening ll "$fll"
for _ in $(seq 50); do # the first probes measured both
	[ "$(member "$mll" probes_ok_total "$r")" = 1 ] && [ "$(member "$mll" probes_ok_total "$b")" = 1 ] && break
	sleep 0.2
done
dialed() { grep -c -- "-> 127.0.0.1:$web\$" "$T/$1.log"; }
a0=$(dialed A) b0=$(dialed B)
for _ in 1 2 3; do curl -fsS -m 10 "http://127.0.0.1:$fll/" >/dev/null; done
check_eq "lowest-latency: all 3 connections to the near member B" "$((b0 + 3)) $a0" "$(dialed B) $(dialed A)"
echo "    handshakes: A (relayed) $(member "$mll" latency_seconds "$r") s, B $(member "$mll" latency_seconds "$b") s"
for _ in 1 2 3; do curl -fsS -m 10 "http://127.0.0.1:$ffo/" >/dev/null; done
check_eq "failover: all 3 to the first member, A (through the relay)" "$((b0 + 3)) $((a0 + 3))" "$(dialed B) $(dialed A)"
if [ "$udp" = 1 ]; then
	udpflows() { # METRICS-PORT: flows the server opened (0 before the first)
		local v
		v=$(curl -fsS -m 5 "http://127.0.0.1:$1/metrics" | sed -n 's/^sluice_udp_flows_total //p')
		echo "${v:-0}"
	}
	fa=$(udpflows "$ma") fb=$(udpflows "$mb")
	check_eq "datagrams through the group (dig through fo's udp:// forward)" 127.0.0.7 \
		"$(dig +short +time=3 +tries=2 @127.0.0.1 -p "$fu" a.test)"
	check_eq "... carried by the first member, A" "$((fa + 1)) $fb" "$(udpflows "$ma") $(udpflows "$mb")"
	kill -9 "$(pid_of relay)"
	check_eq "the first member gone (its relay killed): the next flow still answered" 127.0.0.7 \
		"$(dig +short +time=3 +tries=2 @127.0.0.1 -p "$fu" b.test)"
	check "... by the next member, B" test "$(udpflows "$mb")" -gt "$fb"
	check "... and fo took the first member down" grep -q "group s: member ws://127.0.0.1:$r is down" "$T/fo.log"
fi

# a group after another hop: its members reach their servers through Dante
if command -v danted >/dev/null; then
	dp=$(free_port) fd=$(free_port)
	start_danted "$dp" "" "log: connect"
	wait_port "$dp"
	start viadante "$SLUICE" -v -L "tcp://127.0.0.1:$fd/127.0.0.1:$web" -F "socks5://127.0.0.1:$dp" \
		--group "d=ws://127.0.0.1:$a?key=$KEY,ws://127.0.0.1:$b?key=$KEY" -F group://d
	listening viadante "$fd"
	a0=$(dialed A) b0=$(dialed B)
	check_eq "a group after a SOCKS5 hop (Dante)" ok "$(curl -fsS -m 10 "http://127.0.0.1:$fd/")"
	check "... its member reached its server through Dante" \
		grep -Eq "tcp/connect .* -> 127\.0\.0\.1\.[0-9]+ 127\.0\.0\.1\.$a\$" "$T/danted-own.log"
	# (A may also log a late dial of an earlier client: B's count is the proof)
	a1=$(dialed A) b1=$(dialed B)
	check "... and that server (A, the first) dialed the page, not B ($a0 -> $a1, $b0 -> $b1)" \
		test "$a1" -gt "$a0" -a "$b1" -eq "$b0"
	kill "$(cat "$T/danted.pid")" 2>/dev/null
fi

# every member down: at once, and saying so
kill -9 "$(pid_of A)" "$(pid_of B)"
curl -sS -m 10 "http://127.0.0.1:$ffo/" >/dev/null 2>&1 # takes fo's members down
for _ in $(seq 40); do
	curl -sS -m 2 "http://127.0.0.1:$m/health" | grep -q '"up":0,' && break
	curl -sS -m 5 "http://127.0.0.1:$f/" >/dev/null 2>&1
	sleep 0.25
done
h=$(curl -sS -m 5 -w ' %{http_code}' "http://127.0.0.1:$m/health" | tr -d '\n')
check "/health: 503, the group the listeners depend on has no member up" grep -q \
	'"status":"unhealthy","reason":"[^"]*: chain default: group://tun is down: every member of group tun is down".*"name":"tun".*"up":0,.* 503$' <<<"$h"
check "... and lists each member, down, with its failures" bash -c \
	"grep -Eq '\"name\":\"ws://127.0.0.1:$a\",\"up\":false,\"latency_ms\":[0-9.]+,\"failures\":[1-9]' <<<'$h' &&
	 grep -Eq '\"name\":\"ws://127.0.0.1:$b\",\"up\":false,\"latency_ms\":[0-9.]+,\"failures\":[1-9]' <<<'$h'"
t0=$(date +%s%N)
curl -sS -m 20 -x "socks5h://127.0.0.1:$s" "http://127.0.0.1:$web/" 2>"$T/socks.err"
check "all members down: SOCKS5 reply 4 (host unreachable)" grep -q "(4)" "$T/socks.err"
code=$(curl -sS -m 20 -o "$T/502.html" -w '%{http_code}' -x "http://127.0.0.1:$s" "http://127.0.0.1:$web/")
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "... HTTP 502" 502 "$code"
check "... whose page names the group" grep -q "group tun: all 2 members are down" "$T/502.html"
check "... at once ($ms ms for both; the connect timeout is 30 s)" test "$ms" -lt 10000
check "... counted" bash -c "curl -fsS http://127.0.0.1:$m/metrics | grep -Eq '^sluice_group_refused_total\{group=\"tun\",chain=\"default\"\} [1-9]'"
# fo's B went down by the curl above (probe-interval 8 s): probes after 1 s, then 2 s
for _ in $(seq 60); do
	[ "$(grep -c "group s: probe of ws://127.0.0.1:$b:" "$T/fo.log")" -ge 2 ] && break
	sleep 0.2
done
gaps=$(grep -e "group s: member ws://127.0.0.1:$b is down" -e "group s: probe of ws://127.0.0.1:$b:" "$T/fo.log" |
	head -3 | sed 's/^[^T]*T\([0-9:.]*\)Z.*/\1/' |
	awk -F: '{ t = $1 * 3600 + $2 * 60 + $3; if (NR > 1) printf "%.1f ", t - p; p = t }')
check "fo's B was taken down by real use (its connection failed), not by a probe" \
	grep -Eq "group s: member ws://127.0.0.1:$b is down \((dial|connection): " "$T/fo.log"
echo "    a member down, probed after: $gaps(seconds)"
check "... with backoff: 1 s, then 2 s" awk -v g="$gaps" 'BEGIN { split(g, x, " "); exit !(x[1] >= 0.9 && x[2] >= 1.8) }'
finish
