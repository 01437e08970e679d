#!/bin/bash
# Reload on SIGHUP without dropping a connection.
#
# A port forward F runs from a YAML file, direct.  While wrk hammers F and
# a slow download runs through it, the file changes: F's chain now goes
# through a SOCKS5 proxy (another sluice, whose log shows what it
# carries), and a listener G is added; SIGHUP.  Then:
#   - wrk saw no failed request (no socket error, no non-2xx answer);
#   - the download begun before the reload ends intact (sha256);
#   - new connections through F take the new chain (the proxy carries
#     them), G serves;
#   - a broken file on SIGHUP is refused with the very message `sluice
#     check` gives, and F goes on serving through the chain it had;
#   - a listener taken out of the file stops accepting; one whose -L
#     changed moves to a new listener on its address, one series in
#     /metrics;
#   - a VPN session whose chain did not change is kept across a reload
#     that adds a listener (it came up once), and the new listener uses it;
#   - a key rotated (a new key file on both ends of a ws tunnel, a reload
#     of each): the new key works, the old one is refused.
. "$(dirname "$0")/lib.sh"
need_cmd wrk curl

mkdir -p "$T/www"
echo "reloaded" >"$T/www/index.html"
big=$(random_file 3M)
mv "$big" "$T/www/big"
web=$(free_port)
http_server "$web" "$T/www"

px=$(free_port)
start proxy "$SLUICE" --log-rate 0 -L "socks5://127.0.0.1:$px"
f=$(free_port)
g=$(free_port)
m=$(free_port)
cat >"$T/c.yaml" <<EOF
listen:
  - tcp://127.0.0.1:$f/127.0.0.1:$web
metrics: 127.0.0.1:$m
EOF
start main "$SLUICE" -c "$T/c.yaml"
wait_port "$f"
wait_port "$px"
check_eq "F, direct" reloaded "$(curl -fsS -m 5 "http://127.0.0.1:$f/")"
through_proxy() { grep -c -- "-> 127.0.0.1:$web\$" "$T/proxy.log"; }
check_eq "the proxy has carried nothing yet" 0 "$(through_proxy)"

curl -sS -m 60 --limit-rate 600k -o "$T/slow" "http://127.0.0.1:$f/big" &
slow=$!
wrk -t1 -c4 -d5s "http://127.0.0.1:$f/" >"$T/wrk.out" 2>&1 &
wrkpid=$!
sleep 1.5
cat >"$T/c.yaml" <<EOF
listen:
  - tcp://127.0.0.1:$f/127.0.0.1:$web
  - tcp://127.0.0.1:$g/127.0.0.1:$web
forward:
  - socks5://127.0.0.1:$px
metrics: 127.0.0.1:$m
EOF
kill -HUP "$(pid_of main)"
sleep 1
check "the reload was taken" grep -q "reload: 2 listeners (1 new, 0 gone)" "$T/main.log"
before=$(through_proxy)
check_eq "G, added, serves" reloaded "$(curl -fsS -m 5 "http://127.0.0.1:$g/")"
check_eq "F serves" reloaded "$(curl -fsS -m 5 "http://127.0.0.1:$f/")"
check "new connections take the new chain (the proxy carried $(through_proxy))" \
	test "$(through_proxy)" -ge $((before + 2))
# wrk_done PID: wrk's requests and failed ones (socket errors, a refused
# connection among them, and non-2xx answers) in $total and $failed
wrk_done() {
	wait "$1"
	cat "$T/wrk.out"
	total=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$T/wrk.out")
	errs=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p' "$T/wrk.out")
	non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$T/wrk.out")
	failed=$((${non2xx:-0} + ${errs:-0}))
	echo "    wrk: ${total:-0} requests across the reload, $failed failed"
}
wrk_done $wrkpid
check "wrk made requests" test "${total:-0}" -gt 50
check_eq "none failed" 0 "$failed"
check "some of wrk's went through the proxy, after the reload" test "$(through_proxy)" -gt 10
wait $slow
check_eq "the download begun before the reload is intact" \
	"$(sha256sum <"$T/www/big")" "$(sha256sum <"$T/slow")"

# a broken file: refused with check's words, the old one runs on
cp "$T/c.yaml" "$T/good.yaml"
printf 'listen:\n  - tcp://127.0.0.1:%s/127.0.0.1:%s\nforward:\n  - socks5://127.0.0.1:%s?nonsense=1\n' \
	"$f" "$web" "$px" >"$T/c.yaml"
msg=$("$SLUICE" check -c "$T/c.yaml" 2>&1 | sed 's/^sluice: //')
kill -HUP "$(pid_of main)"
sleep 0.5
check "a broken file is refused with sluice check's message" \
	grep -qF "reload refused: $msg; the running configuration stays" "$T/main.log"
n=$(through_proxy)
check_eq "F serves on" reloaded "$(curl -fsS -m 5 "http://127.0.0.1:$f/")"
check_eq "through the chain it had" $((n + 1)) "$(through_proxy)"
check_eq "G too" reloaded "$(curl -fsS -m 5 "http://127.0.0.1:$g/")"

# the same file again: the chain is kept, G keeps its socket
cp "$T/good.yaml" "$T/c.yaml"
kill -HUP "$(pid_of main)"
sleep 0.5
check "a reload with nothing changed: 0 new, 0 gone" grep -q "reload: 2 listeners (0 new, 0 gone)" "$T/main.log"
check "/status lists both listeners and the proxy chain" bash -c \
	"curl -fsS http://127.0.0.1:$m/status | grep -q '\"chains\":\[{\"name\":\"default\",\"hops\":\"socks5://127.0.0.1:$px\"}\]'"
# G removed: it stops accepting; F changed (a limit): it moves to a new
# listener on the same address, which takes F's socket: wrk, a new
# connection for each request, sees none refused or reset meanwhile, over
# eleven such moves (the limit changed back and forth); a 10 s timeout, as
# the origin (Python's, a backlog of 5) may drop a SYN to retransmit
wrk -t1 -c8 -d5s --timeout 10s -H 'Connection: close' "http://127.0.0.1:$f/" >"$T/wrk.out" 2>&1 &
wrkpid=$!
sleep 1
cat >"$T/c.yaml" <<EOF
listen:
  - tcp://127.0.0.1:$f/127.0.0.1:$web?max-conns=100
forward:
  - socks5://127.0.0.1:$px
metrics: 127.0.0.1:$m
EOF
kill -HUP "$(pid_of main)"
sleep 0.5
check "G removed, F changed: 1 new, 2 gone" grep -q "reload: 1 listener (1 new, 2 gone)" "$T/main.log"
for k in $(seq 10); do
	sed -i "s/max-conns=[0-9]*/max-conns=$((100 + k % 2))/" "$T/c.yaml"
	kill -HUP "$(pid_of main)"
	sleep 0.3
done
wrk_done $wrkpid
check_eq "F moved ten times more" 10 "$(grep -c "reload: 1 listener (1 new, 1 gone)" "$T/main.log")"
check "wrk made requests, each on its own connection" test "${total:-0}" -gt 50
check_eq "none refused or failed while F moved to its new listener" 0 "$failed"
check "G no longer accepts" bash -c "! curl -fsS -m 3 http://127.0.0.1:$g/"
check_eq "F, changed, serves" reloaded "$(curl -fsS -m 5 "http://127.0.0.1:$f/")"
check "with its new limit in /status" bash -c \
	"curl -fsS http://127.0.0.1:$m/status | grep -q '\"max_conns\":100,'"
check_eq "/metrics has one series per listener name" 1 \
	"$(curl -fsS "http://127.0.0.1:$m/metrics" | grep -c "^sluice_connections_total{listener=\"tcp://127.0.0.1:$f\"}")"
# F moves to another port: the new one listens before the old one
# closes, so a client that tries the old port, then the new one, always
# gets in
f2=$(free_port)
sed -i "s|127.0.0.1:$f/|127.0.0.1:$f2/|" "$T/c.yaml"
(
	n=0 bad=0
	while [ $n -lt 150 ]; do
		curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$f/" 2>/dev/null ||
			curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$f2/" || bad=$((bad + 1))
		n=$((n + 1))
	done
	echo "$bad" >"$T/moved.bad"
) &
loop=$!
sleep 0.5
kill -HUP "$(pid_of main)"
wait $loop
check_eq "F moved to another port: 1 new, 1 gone" 11 \
	"$(grep -c "reload: 1 listener (1 new, 1 gone)" "$T/main.log")"
check "the old port no longer accepts" bash -c "! curl -fsS -m 3 http://127.0.0.1:$f/"
check_eq "no request found neither port listening" 0 "$(cat "$T/moved.bad")"
check "the process lived through it all" alive main

# a tunnel session whose chain did not change is kept: a vpn:// hop to a
# sluice VPN server; a reload that adds a listener does not redial it
echo 'alice pw' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null
vs=$(free_port)
start vsrv "$SLUICE" -v -L "vpn://127.0.0.1:$vs?users=$T/users.txt&net=10.10.0.0/24&host-loopback=1"
for _ in $(seq 100); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/vsrv.log" | head -1)
	[ -n "$pub" ] && break
	sleep 0.05
done
h=$(free_port)
h2=$(free_port)
m2=$(free_port)
cat >"$T/v.yaml" <<EOF
listen:
  - tcp://127.0.0.1:$h/10.10.0.1:$web
forward:
  - vpn://alice:alice%20pw@127.0.0.1:$vs?pub=$pub
metrics: 127.0.0.1:$m2
EOF
start vcli "$SLUICE" -c "$T/v.yaml"
wait_port "$h"
check_eq "through the VPN session" reloaded "$(curl -fsS -m 10 "http://127.0.0.1:$h/")"
sed -i "s|^listen:|listen:\\n  - tcp://127.0.0.1:$h2/10.10.0.1:$web|" "$T/v.yaml"
kill -HUP "$(pid_of vcli)"
sleep 0.5
check "the reload added the listener" grep -q "reload: 2 listeners (1 new, 0 gone)" "$T/vcli.log"
check_eq "the new listener uses the session" reloaded "$(curl -fsS -m 10 "http://127.0.0.1:$h2/")"
check_eq "which came up once: kept, not redialed" 1 "$(grep -c "session up" "$T/vcli.log")"

# a key rotated: a new key file on both ends of a ws tunnel, a reload of
# each; the new key works, the old one no longer does
"$SLUICE" keygen >"$T/ks"
cp "$T/ks" "$T/kc"
cp "$T/ks" "$T/kold"
chmod 600 "$T/ks" "$T/kc" "$T/kold"
ws=$(free_port)
wf=$(free_port)
wo=$(free_port)
echo "listen: [\"ws://127.0.0.1:$ws?keyfile=$T/ks&host-loopback=1\"]" >"$T/ws.yaml"
printf 'listen: ["tcp://127.0.0.1:%s/127.0.0.1:%s"]\nforward: ["ws://127.0.0.1:%s?keyfile=%s"]\n' \
	"$wf" "$web" "$ws" "$T/kc" >"$T/wc.yaml"
start wsrv "$SLUICE" -c "$T/ws.yaml"
start wcli "$SLUICE" -c "$T/wc.yaml"
start wold "$SLUICE" -L "tcp://127.0.0.1:$wo/127.0.0.1:$web" -F "ws://127.0.0.1:$ws?keyfile=$T/kold"
wait_port "$ws"
wait_port "$wf"
wait_port "$wo"
check_eq "through the ws tunnel with the first key" reloaded "$(curl -fsS -m 10 "http://127.0.0.1:$wf/")"
"$SLUICE" keygen >"$T/knew"
chmod 600 "$T/knew"
cp "$T/knew" "$T/kc.new" && mv "$T/kc.new" "$T/kc"
cp "$T/knew" "$T/ks.new" && mv "$T/ks.new" "$T/ks"
kill -HUP "$(pid_of wsrv)" "$(pid_of wcli)"
sleep 0.5
check "the server made its listener anew (its key file changed)" grep -q "reload: 1 listener (1 new, 1 gone)" "$T/wsrv.log"
check_eq "the new key on both ends works" reloaded "$(curl -fsS -m 10 "http://127.0.0.1:$wf/")"
check "the old key no longer does" bash -c "! curl -fsS -m 10 http://127.0.0.1:$wo/"
finish
