#!/bin/bash
# Several ws:// server instances behind HAProxy (and nginx), sharing their replay cache
# through Redis (docs/deploy.md): HAProxy in front of three sluice
# instances, one redis-server behind them, all on loopback.
#   - a client through HAProxy, and one through nginx, move a file byte for
#     byte (the configurations of docs/deploy.md); the instances
#     take its address from HAProxy's X-Forwarded-For, and from no one
#     else's (trust-xff-from=);
#   - an open recorded at one instance and replayed to each of the three
#     directly is refused by all (and, as a control, taken by an instance
#     that keeps its own cache);
#   - one instance killed (SIGKILL) during a wrk run: HAProxy's health check (on
#     /health) takes it out, later requests all succeed; the failed
#     requests of the run are reported;
#   - Redis frozen (SIGSTOP): an open waits replay-timeout, then is taken
#     one round trip later;
#   - Redis stopped: /health says so, opens are taken one round trip later
#     (their 0-RTT part ignored), a replay is acted on nowhere; Redis back:
#     0-RTT again.
. "$(dirname "$0")/lib.sh"
need_cmd haproxy redis-server wrk curl
need_py websockets
WSPEER="/usr/bin/python3 $SRCDIR/tests/e2e/wspeer.py"

KEY=$("$SLUICE" keygen)
mkdir -p "$T/www"
big=$(random_file 4M)
cp "$big" "$T/www/big"
echo "small" >"$T/www/small"
echo "once" >"$T/www/once"
echo "down" >"$T/www/down"
web=$(free_port)
http_server "$web" "$T/www"
seen() { grep -c "GET /$1 " "$T/http$web.log"; }

rp=$(free_port)
start_redis "$rp"

# three instances (and a fourth, the control, with its own cache); a state
# file saying nothing was used yet, so that opens are 0-RTT from the start
# instances 1 and 3 also serve wstan, sharing its cache the same way
ws=() mp=() wt=()
for i in 1 2 3 4; do
	ws[i]=$(free_port)
	mp[i]=$(free_port)
	wt[i]=$(free_port)
	printf '%020d\n' 0 >"$T/state$i"
	shared="&replay=redis://127.0.0.1:$rp/3&replay-timeout=300ms"
	[ "$i" = 4 ] && shared=""
	wstan=()
	[ "$i" = 1 ] || [ "$i" = 3 ] &&
		wstan=(-L "wstan://127.0.0.1:${wt[i]}/t?host-loopback=1&key=pw-scale$shared")
	# on 3, another key whose checks outwait its handshake-timeout: a
	# connection closed while its check waits
	[ "$i" = 3 ] && wc=$(free_port) &&
		wstan+=(-L "wstan://127.0.0.1:$wc/t?host-loopback=1&key=pw-cancel&handshake-timeout=1s&replay=redis://127.0.0.1:$rp/3&replay-timeout=5s")
	start "ws$i" "$SLUICE" -v --metrics "127.0.0.1:${mp[i]}" \
		-L "ws://127.0.0.1:${ws[i]}/tun?host-loopback=1&key=$KEY&trust-xff-from=127.0.0.2&replay-state=$T/state$i$shared" \
		"${wstan[@]}"
done
for i in 1 2 3 4; do wait_port "${ws[i]}" && wait_port "${mp[i]}"; done
health() { curl -fsS -m 2 "http://127.0.0.1:${mp[$1]}/health"; }
check "/health shows the shared cache up" bash -c \
	"for _ in \$(seq 50); do curl -fsS http://127.0.0.1:${mp[1]}/health | grep -q '\"state\":\"up\"' && exit 0; sleep 0.1; done; exit 1"

for bad in "mysql://127.0.0.1/0" "redis://127.0.0.1:99999/0" "redis://127.0.0.1/x"; do
	"$SLUICE" -L "ws://127.0.0.1:$(free_port)/tun?key=$KEY&replay=$bad" >"$T/bad.out" 2>&1
	rc=$?
	check "replay=$bad: exit 2 naming the option" bash -c "[ $rc = 2 ] && grep -q \"option 'replay'\" '$T/bad.out'"
done

hp=$(free_port)
cat >"$T/haproxy.cfg" <<EOF
global
	maxconn 512
defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	timeout tunnel 1h
	option forwardfor
	option redispatch
	retries 2
frontend ws
	bind 127.0.0.1:$hp
	default_backend sluice
backend sluice
	balance roundrobin
	option httpchk GET /health
	http-check expect status 200
	default-server check inter 200 fall 2 rise 2 source 127.0.0.2
	server s1 127.0.0.1:${ws[1]} port ${mp[1]}
	server s2 127.0.0.1:${ws[2]} port ${mp[2]}
	server s3 127.0.0.1:${ws[3]} port ${mp[3]}
EOF
start haproxy haproxy -db -f "$T/haproxy.cfg"
wait_port "$hp"

fw=$(free_port)
start client "$SLUICE" -L "tcp://127.0.0.1:$fw/127.0.0.1:$web" -F "ws://127.0.0.1:$hp/tun?key=$KEY"
wait_port "$fw"
check "a file through HAProxy arrives byte for byte" bash -c \
	"curl -fsS -m 20 http://127.0.0.1:$fw/big -o '$T/got' && [ \"\$(sha256sum <'$T/got' | cut -c1-64)\" = '$(sha "$big")' ]"
for _ in 1 2 3 4 5 6; do curl -fsS -m 5 "http://127.0.0.1:$fw/small" >/dev/null; done
check "HAProxy spread the opens over all three" bash -c \
	"grep -l 'ws tunnel up' '$T/ws1.log' '$T/ws2.log' '$T/ws3.log' | wc -l | grep -qx 3"
check "the instances took the client's address from HAProxy's X-Forwarded-For" \
	grep -Eq "client 127.0.0.1 via 127.0.0.2:[0-9]+ \(X-Forwarded-For\)" "$T/ws1.log"
curl -s -m 2 -o /dev/null -H "X-Forwarded-For: 203.0.113.9" "http://127.0.0.1:${ws[1]}/tun"
check "an X-Forwarded-For straight from a client (not trust-xff-from) is ignored" bash -c \
	"grep -q 'X-Forwarded-For from 127.0.0.1:[0-9]* ignored' '$T/ws1.log' && ! grep -q 'client 203.0.113.9' '$T/ws1.log'"

# nginx in front of instances 1 and 3, configured as docs/deploy.md says
# (from 127.0.0.2, which trust-xff-from trusts)
if command -v nginx >/dev/null; then
	np=$(free_port)
	start_nginx "$np" <<EOF
	map \$http_upgrade \$connection_upgrade {
		default upgrade;
		''      close;
	}
	upstream sluice {
		least_conn;
		server 127.0.0.1:${ws[1]} max_fails=1 fail_timeout=10s;
		server 127.0.0.1:${ws[3]} max_fails=1 fail_timeout=10s;
	}
	server {
		listen 127.0.0.1:$np;
		location /tun {
			proxy_pass http://sluice;
			proxy_http_version 1.1;
			proxy_set_header Host \$http_host;
			proxy_set_header Upgrade \$http_upgrade;
			proxy_set_header Connection \$connection_upgrade;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_read_timeout 1h;
			proxy_send_timeout 1h;
			proxy_buffering off;
			proxy_next_upstream error timeout;
			proxy_bind 127.0.0.2;
		}
	}
EOF
	fwn=$(free_port)
	start nclient "$SLUICE" -L "tcp://127.0.0.1:$fwn/127.0.0.1:$web" -F "ws://127.0.0.1:$np/tun?key=$KEY"
	wait_port "$fwn"
	check "a file through nginx arrives byte for byte" bash -c \
		"curl -fsS -m 20 http://127.0.0.1:$fwn/big -o '$T/got2' && [ \"\$(sha256sum <'$T/got2' | cut -c1-64)\" = '$(sha "$big")' ]"
	kill "$(pid_of nginx)"
fi

# ---- a recorded open, replayed to every instance ----
check "an open through a recording relay to instance 1" \
	ws_record client1 "${ws[1]}" "ws:///tun?key=$KEY" "$T/captured" once
check "it went in the open's 0-RTT part" bash -c \
	"grep 'ws tunnel up' '$T/ws1.log' | tail -1 | grep -vq 'not taken'"
for i in 1 2 3; do
	check_eq "replayed to instance $i: the decoy (its 404 for the path)" "HTTP/1.1 404 Not Found" \
		"$($WSPEER resend 127.0.0.1 "${ws[i]}" "$T/captured")"
	check "instance $i counts it as a replay" grep -q "replayed token" "$T/ws$i.log"
done
check_eq "the target saw the request once" 1 "$(seen once)"
check "the replays were answered by Redis" bash -c \
	"curl -fsS http://127.0.0.1:${mp[2]}/metrics | grep -q 'sluice_replay_shared_checks_total{kind=\"ws\",result=\"seen\"} 1'"
check_eq "control: an instance with its own cache takes the replay (101)" "HTTP/1.1 101 Switching Protocols" \
	"$($WSPEER resend 127.0.0.1 "${ws[4]}" "$T/captured")"
check "control: and dialed the replayed open's target" grep -q "127.0.0.1:$web: connected" "$T/ws4.log"
kill "$(pid_of ws4)"

# the same for wstan: a request recorded at instance 1, replayed to 3
check "wstan: a request through a recording relay to instance 1" \
	ws_record wclient "${wt[1]}" "wstan:///t?key=pw-scale" "$T/captured-wstan" small
check_eq "wstan: replayed to instance 3: the decoy" "HTTP/1.1 404 Not Found" \
	"$($WSPEER resend 127.0.0.1 "${wt[3]}" "$T/captured-wstan")"
check "wstan: instance 3 counts it as a replay" grep -q "replayed request" "$T/ws3.log"

# ---- one instance killed (SIGKILL: a crash, no drain) during a wrk run ----
wrk -t2 -c16 -d4s --timeout 5s "http://127.0.0.1:$fw/small" >"$T/wrk.out" 2>&1 &
wrkpid=$!
sleep 1.5
kill -9 "$(pid_of ws2)"
wait $wrkpid
reqs=$(awk '/requests in/ {print $1}' "$T/wrk.out")
errs=$(grep -E "Socket errors|Non-2xx" "$T/wrk.out" | tr -s ' ' | tr '\n' ';')
echo "wrk through HAProxy, instance 2 killed at 1.5 s of 4 s: $reqs requests; failed: ${errs:-none}"
check "wrk ran" test "${reqs:-0}" -gt 0
check "HAProxy's health check took instance 2 out" grep -q "Server sluice/s2 is DOWN" "$T/haproxy.log"
ok=0
for _ in $(seq 20); do curl -fsS -m 5 "http://127.0.0.1:$fw/small" >/dev/null && ok=$((ok + 1)); done
check_eq "after it: 20 requests of 20 succeed" 20 "$ok"

# ---- Redis frozen: each check waits replay-timeout, no longer ----
kill -STOP "$(pid_of redis)"
t0=$(date +%s%N)
check "with Redis frozen an open still goes through" curl -fsS -m 5 "http://127.0.0.1:$fw/small"
ms=$((($(date +%s%N) - t0) / 1000000))
fwc=$(free_port)
start cclient "$SLUICE" -L "tcp://127.0.0.1:$fwc/127.0.0.1:$web" -F "wstan://127.0.0.1:$wc/t?key=pw-cancel"
wait_port "$fwc"
check_fails "a wstan request whose check outwaits handshake-timeout fails" \
	curl -fsS -m 3 "http://127.0.0.1:$fwc/small"
check "it was closed by the handshake timeout while its check waited" \
	grep -q "closed: handshake timeout" "$T/ws3.log"
kill -CONT "$(pid_of redis)"
sleep 0.5
check "the instance outlived the answer to the check of a closed connection" alive ws3
echo "an open with Redis frozen took $ms ms (replay-timeout=300ms)"
check "after replay-timeout, not acted on at once" grep -q "replay cache unreachable: the open waits a round trip" \
	"$T/ws1.log" "$T/ws3.log"
check "the timeout was counted" bash -c \
	"for p in ${mp[1]} ${mp[3]}; do curl -fsS http://127.0.0.1:\$p/metrics; done | grep -q 'sluice_replay_shared_timeouts_total{kind=\"ws\"} 1'"
check "Redis answering again: /health says up" bash -c \
	"for _ in \$(seq 50); do curl -fsS http://127.0.0.1:${mp[1]}/health | grep -q '\"state\":\"up\"' && curl -fsS http://127.0.0.1:${mp[3]}/health | grep -q '\"state\":\"up\"' && exit 0; sleep 0.1; done; exit 1"

# ---- Redis stopped ----
kill "$(pid_of redis)"
check "/health says degraded: the shared cache is down" bash -c \
	"for _ in \$(seq 50); do curl -fsS http://127.0.0.1:${mp[1]}/health | grep '\"status\":\"degraded\"' | grep -q '\"state\":\"down\"' && exit 0; sleep 0.1; done; exit 1"
check "the log says so" grep -q "replay redis 127.0.0.1:$rp/3: .* -> down" "$T/ws1.log"
check "with Redis down an open still goes through" \
	ws_record client2 "${ws[1]}" "ws:///tun?key=$KEY" "$T/captured2" down
check "one round trip later: its 0-RTT part not taken" grep -q "replay cache unreachable: the open waits a round trip" "$T/ws1.log"
for i in 1 3; do
	$WSPEER resend 127.0.0.1 "${ws[i]}" "$T/captured2" >/dev/null
done
sleep 0.3
check_eq "replayed to instances 1 and 3 with Redis down: the target saw it once" 1 "$(seen down)"
check "instance 3 did not act on the replayed 0-RTT open" grep -q "0-RTT open not taken" "$T/ws3.log"
fwt2=$(free_port)
start wclient2 "$SLUICE" -L "tcp://127.0.0.1:$fwt2/127.0.0.1:$web" -F "wstan://127.0.0.1:${wt[3]}/t?key=pw-scale"
wait_port "$fwt2"
check_fails "wstan with Redis down: the request is refused" curl -fsS -m 5 "http://127.0.0.1:$fwt2/small"
check "and the log says why" grep -q "replay cache unreachable: request refused" "$T/ws3.log"

start_redis "$rp"
check "Redis back: /health of instances 1 and 3 says ok, every shared cache up" bash -c \
	"for _ in \$(seq 50); do curl -fsS http://127.0.0.1:${mp[1]}/health | grep -q '\"status\":\"ok\"' && curl -fsS http://127.0.0.1:${mp[3]}/health | grep -q '\"status\":\"ok\"' && exit 0; sleep 0.1; done; exit 1"
check "and opens through HAProxy work" curl -fsS -m 5 "http://127.0.0.1:$fw/small"
check "and wstan requests too" curl -fsS -m 5 "http://127.0.0.1:$fwt2/small"

finish
