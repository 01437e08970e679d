#!/bin/bash
# Reload under continuous traffic, with listeners of every socket kind.
#
# sluice runs a udp:// forward and a dns:// forwarder to dnsmasq, and a
# tcp:// forward to a web server.  While dig asks through the udp://
# forward, through dns:// over UDP and over TCP, and wrk fetches through
# the tcp:// forward (a new connection each request), eight SIGHUPs change
# an option of each of the three listeners: each is made anew on its
# address and takes the old one's sockets (TCP and UDP), so no query goes
# unanswered and no request fails.  Then:
#   - a chain that now goes through a SOCKS5 proxy: the kept udp:// and
#     dns:// listeners are made anew on it (re-checked), and their queries
#     go through the proxy;
#   - a chain that cannot carry datagrams (an HTTP proxy): the reload is
#     refused with what a udp:// listener needs, and the old chain serves;
#   - drain: applies to the next SIGTERM; a changed group or metrics
#     address is logged as needing a restart.
. "$(dirname "$0")/lib.sh"
need_cmd dig dnsmasq wrk curl

dp=$(free_port)
start dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --port="$dp" \
	--listen-address=127.0.0.1 --bind-interfaces --user=root --pid-file="$T/dnsmasq.pid" \
	--address=/r.test/10.9.8.7 --cache-size=0
mkdir -p "$T/www"
echo "reloaded" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"
uf=$(free_port) df=$(free_port) tf=$(free_port) m=$(free_port)
mp=$m
conf() { # the file, with OPT=N on each listener
	cat >"$T/c.yaml" <<EOF
listen:
  - udp://127.0.0.1:$uf/127.0.0.1:$dp?$1
  - dns://127.0.0.1:$df?server=127.0.0.1:$dp&$1
  - tcp://127.0.0.1:$tf/127.0.0.1:$web?$1
metrics: 127.0.0.1:$mp
${2:-}
EOF
}
conf max-conns=1000
start main "$SLUICE" -c "$T/c.yaml"
wait_port "$tf"
wait_port "$df"
check_eq "udp:// answers" 10.9.8.7 "$(dig +short +tries=1 +time=3 @127.0.0.1 -p "$uf" a.r.test A)"
check_eq "dns:// answers" 10.9.8.7 "$(dig +short +tries=1 +time=3 @127.0.0.1 -p "$df" a.r.test A)"

# batch FILE PORT N [+tcp]: N queries for dig -f, one at a time, each
# tried once, 3 s to answer
batch() {
	for i in $(seq "$3"); do echo "@127.0.0.1 -p $2 +short +tries=1 +time=3 ${4:-} q$i.r.test A"; done >"$1"
}
batch "$T/qu" "$uf" 600
batch "$T/qd" "$df" 600
batch "$T/qt" "$df" 300 +tcp
dig -f "$T/qu" >"$T/au" 2>&1 &
du=$!
dig -f "$T/qd" >"$T/ad" 2>&1 &
dd=$!
dig -f "$T/qt" >"$T/at" 2>&1 &
dt=$!
wrk -t1 -c4 -d5s --timeout 10s -H 'Connection: close' "http://127.0.0.1:$tf/" >"$T/wrk.out" 2>&1 &
wrkpid=$!
sleep 0.5
for k in $(seq 8); do
	conf "max-conns=$((1000 + k % 2))"
	kill -HUP "$(pid_of main)"
	sleep 0.4
done
wait $du $dd $dt $wrkpid
check_eq "eight reloads, each made the three listeners anew" 8 \
	"$(grep -c "reload: 3 listeners (3 new, 3 gone)" "$T/main.log")"
answers() { grep -c '^10\.9\.8\.7$' "$1"; }
failures() { grep -vc '^10\.9\.8\.7$' "$1"; }
echo "    udp:// $(answers "$T/au") answers, dns:// UDP $(answers "$T/ad"), TCP $(answers "$T/at")"
check_eq "every query through udp:// answered (600)" 600 "$(answers "$T/au")"
check_eq "every query through dns:// over UDP answered (600)" 600 "$(answers "$T/ad")"
check_eq "every query through dns:// over TCP answered (300)" 300 "$(answers "$T/at")"
check_eq "no failure, no timeout" 0 "$(($(failures "$T/au") + $(failures "$T/ad") + $(failures "$T/at")))"
cat "$T/wrk.out"
total=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$T/wrk.out")
errs=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p' "$T/wrk.out")
non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: \([0-9]*\).*/\1/p' "$T/wrk.out")
echo "    wrk: ${total:-0} requests across the reloads, $((${non2xx:-0} + ${errs:-0})) failed"
check "wrk made requests" test "${total:-0}" -gt 50
check_eq "none failed" 0 "$((${non2xx:-0} + ${errs:-0}))"

# the chain changes under kept udp:// and dns:// listeners: made anew on it
px=$(free_port)
start proxy "$SLUICE" -v --log-rate 0 -L "socks5://127.0.0.1:$px"
wait_port "$px"
conf max-conns=1000 "forward: [socks5://127.0.0.1:$px]"
kill -HUP "$(pid_of main)"
sleep 0.5
check "the chain changed: udp:// and dns:// made anew, tcp:// kept" \
	grep -q "reload: 3 listeners (2 new, 2 gone)" "$T/main.log"
check_eq "udp:// answers through the proxy" 10.9.8.7 \
	"$(dig +short +tries=1 +time=3 @127.0.0.1 -p "$uf" b.r.test A)"
check_eq "dns:// answers through the proxy" 10.9.8.7 \
	"$(dig +short +tries=1 +time=3 @127.0.0.1 -p "$df" c.r.test A)"
check "the proxy carried their datagrams (UDP ASSOCIATE)" test "$(grep -c "socks5 UDP ASSOCIATE" "$T/proxy.log")" -ge 2

# a chain that carries no datagrams: refused, with what udp:// needs
hp=$(free_port)
start hproxy "$SLUICE" -L "http://127.0.0.1:$hp"
wait_port "$hp"
conf max-conns=1000 "forward: [http://127.0.0.1:$hp]"
msg=$("$SLUICE" check -c "$T/c.yaml" 2>&1 | sed 's/^sluice: //')
echo "    sluice check: $msg"
kill -HUP "$(pid_of main)"
sleep 0.5
check "refused with sluice check's message" \
	grep -qF "reload refused: $msg; the running configuration stays" "$T/main.log"
check "which says what the udp:// forward needs" grep -q "reload refused: .*cannot carry UDP: a udp:// forward needs" "$T/main.log"
check_eq "udp:// answers on, through the SOCKS5 proxy" 10.9.8.7 \
	"$(dig +short +tries=1 +time=3 @127.0.0.1 -p "$uf" d.r.test A)"

# drain applies; a changed group or metrics address needs a restart
mp=$(free_port)
conf max-conns=1000 "$(printf 'forward: [socks5://127.0.0.1:%s]\ndrain: 300ms\ngroup: nogroup' "$px")"
kill -HUP "$(pid_of main)"
sleep 0.5
check "drain applied" grep -q "reload: drain: 300 ms from now on" "$T/main.log"
check "the group needs a restart, and the log says so" \
	grep -q "reload: user/group: unchanged until a restart" "$T/main.log"
check "so does the metrics address" grep -q "reload: metrics: stays 127.0.0.1:$m until a restart" "$T/main.log"
kill -TERM "$(pid_of main)"
sleep 0.5
check "SIGTERM drains for the reloaded 300 ms" grep -q "draining .*(up to 300 ms)" "$T/main.log"
finish
