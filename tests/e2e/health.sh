#!/bin/bash
# Health that means something: a port forward through an SSTP hop to a
# real SoftEther VPN Server (SecureNAT), in a private network namespace.
#
#   - while the session is up: /health 200 "ok", /ready 200, /live 200,
#     /status lists the listener, its limits, the chain and the session
#     (state up, peer, the SecureNAT address, uptime, bytes), and
#     `sluice status` prints it and exits 0;
#   - SoftEther stopped: /health 503 with a reason naming the listener,
#     the chain and the SSTP hop, within one LCP echo interval of the
#     session's loss (here the TCP connection ends at once), /ready 503,
#     /live 200, `sluice status` exits 1;
#   - SoftEther started again: /health 200 once the session is back;
#   - the password is in none of /status, /metrics, /health, the log.
. "$(dirname "$0")/lib.sh"
need_cmd curl
need_peers softether
in_netns --net --mount
ip link set lo up
ip addr add 10.77.0.1/32 dev lo
U=vpnuser
PW='H3alth-pw!'
SE="$T/se"
se_start() { "$PEERS" softether start "$SE" "$U" "$PW" >>"$T/softether.log" 2>&1; }
se_stop() { "$PEERS" softether stop "$SE" >>"$T/softether.log" 2>&1; }
trap 'se_stop; cleanup' EXIT

mkdir -p "$T/www"
echo "healthy" >"$T/www/index.html"
start web /usr/bin/python3 -m http.server 8080 --bind 10.77.0.1 --directory "$T/www"
se_start || { echo "FAIL: SoftEther did not start"; cat "$T/softether.log"; exit 1; }

f=$(free_port)
m=$(free_port)
start cli "$SLUICE" --metrics "127.0.0.1:$m" -L "tcp://127.0.0.1:$f/10.77.0.1:8080" \
	-F "sstp://$U:H3alth-pw%21@127.0.0.1?insecure=1&echo=3s"
wait_port "$m"
code() { curl -s -o "$T/body" -w '%{http_code}' -m 5 "http://127.0.0.1:$m/$1"; }
# wait_for CODE PAGE [SECONDS]: poll until PAGE answers CODE
wait_for() {
	local i
	for i in $(seq $((${3:-30} * 10))); do
		[ "$(code "$2")" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
check "/health 200 once the SSTP session is up" wait_for 200 health 60
check_eq "a page through the tunnel" healthy "$(curl -fsS -m 10 "http://127.0.0.1:$f/")"
check_eq "/ready 200" 200 "$(code ready)"
check_eq "/live 200" 200 "$(code live)"
curl -fsS -m 5 "http://127.0.0.1:$m/status" >"$T/status.json"
check "/status: the listener, its limits, the chain, the session up with its address" \
	/usr/bin/python3 - "$T/status.json" "$f" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "ok", d
l = d["listeners"][0]
assert l["name"] == "tcp://127.0.0.1:" + sys.argv[2] and l["listening"] and l["total"] >= 1, l
assert l["limits"]["max_conns"] == 4096 and l["limits"]["connect_timeout_ms"] == 10000, l
assert d["chains"] == [{"name": "default", "hops": "sstp://127.0.0.1:443"}], d["chains"]
s = d["sessions"][0]
assert s["name"] == "sstp://127.0.0.1:443" and s["state"] == "up" and s["ok"], s
assert s["peer"] == "127.0.0.1:443" and s["address"].startswith("192.168.30."), s
assert s["bytes_in"] > 0 and s["bytes_out"] > 0 and s["uptime_s"] >= 0, s
PY
"$SLUICE" status --metrics "127.0.0.1:$m" >"$T/status.txt"
check_eq "sluice status exits 0 when healthy" 0 $?
check "sluice status names the session, up, and its address" \
	grep -Eq "^  sstp://127.0.0.1:443  up, address 192\.168\.30\." "$T/status.txt"

se_stop
t0=$(date +%s%N)
check "/health 503 once SoftEther is gone" wait_for 503 health 10
ms=$((($(date +%s%N) - t0) / 1000000))
echo "    /health said 503 $ms ms after SoftEther stopped (echo interval 3 s)"
check "... within one echo interval" test "$ms" -le 3000
check "... with a reason naming the listener, the chain and the hop" grep -Eq \
	"\"status\":\"unhealthy\",\"reason\":\"tcp://127.0.0.1:$f: chain default: sstp://127.0.0.1:443 is (down|starting)" "$T/body"
check_eq "/ready 503" 503 "$(code ready)"
check_eq "/live 200 all the same" 200 "$(code live)"
"$SLUICE" status --metrics "127.0.0.1:$m" >"$T/status2.txt"
check_eq "sluice status exits 1 when unhealthy" 1 $?
check "and says why" grep -q "unhealthy: tcp://127.0.0.1:$f: chain default: sstp://127.0.0.1:443" "$T/status2.txt"

se_start || { echo "FAIL: SoftEther did not start again"; exit 1; }
check "/health 200 again once the session is back" wait_for 200 health 60
check_eq "and a page goes through" healthy "$(curl -fsS -m 10 "http://127.0.0.1:$f/")"

for p in status metrics health; do curl -s "http://127.0.0.1:$m/$p"; done >"$T/pages"
check "the password is in no page" test -z "$(grep -F 'H3alth' "$T/pages" "$T/cli.log")"
finish
