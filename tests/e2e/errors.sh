#!/bin/bash
# Errors, logs and counters that tell the truth, directly and through each
# stream tunnel (ws, wss, wstan, sctp+udp), with curl as the client:
#   - a name that does not resolve, a refused port and a connect that times
#     out give one sentence on the 502/504 page and in the client's log,
#     naming the hop when a tunnel's server failed ("..., reached through
#     ws://..."), and the server's log says the same of its own dial;
#   - the tunnel's server logs an ordinary GET through the client's HTTP
#     front end as `closed (done)`, not as a reset;
#   - the HTTP front end logs a CONNECT's request line and a closing line
#     with byte counts for absolute-form GETs;
#   - with fast-open (ws, wss, wstan), a SOCKS connection to a refused
#     target is logged as the target failing, counted in
#     sluice_connections_failed_late_total;
#   - 0-RTT connections (a tcp:// forward's first bytes ride in the open):
#     the client's and the server's closing lines and /metrics byte
#     counters agree;
#   - the socks5:// and http:// hops name themselves the same way, with
#     real proxies as those hops (Dante; tinyproxy and sluice's own HTTP
#     front end), and a proxy hop that is down is named as unreachable.
# Loopback only; about 30 s.
. "$(dirname "$0")/lib.sh"
need_cmd openssl
TOOLS="python3 $SRCDIR/tests/e2e/tools.py"

KEY=$("$SLUICE" keygen)
WKEY=$(head -c 16 /dev/urandom | base64)
mkdir -p "$T/www"
echo "hello" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"
closed=$(free_port)
bh=$(free_port)
start blackhole $TOOLS blackhole "$bh"
for _ in $(seq 50); do [ -n "$(ss -Hltn "sport = :$bh")" ] && break; sleep 0.1; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
	-keyout "$T/srv.key" -out "$T/srv.pem" 2>/dev/null

# the servers dial with a 2 s connect timeout; the clients wait longer
SO="host-loopback=1&connect-timeout=2s"
ws=$(free_port) wss=$(free_port) wst=$(free_port) sc=$(free_port) ms=$(free_port)
ws0=$(free_port) wst0=$(free_port)
start server "$SLUICE" --metrics "127.0.0.1:$ms" \
	-L "ws://127.0.0.1:$ws/t?$SO&key=$KEY" \
	-L "wss://127.0.0.1:$wss/t?$SO&key=$KEY&cert=$T/srv.pem&certkey=$T/srv.key" \
	-L "wstan://127.0.0.1:$wst/t?$SO&key=$WKEY" \
	-L "sctp+udp://127.0.0.1:$sc?$SO&key=$KEY"
ms0=$(free_port) ms1=$(free_port)
start s0-ws "$SLUICE" --metrics "127.0.0.1:$ms0" -L "ws://127.0.0.1:$ws0/c?host-loopback=1&key=$KEY"
start s0-wstan "$SLUICE" --metrics "127.0.0.1:$ms1" -L "wstan://127.0.0.1:$wst0/c?host-loopback=1&key=$WKEY"
wait_port "$ms"
wait_port "$ws"

# path name, its proxy port, the hop the sentence names ("" for direct)
declare -A HOP PX
for p in direct ws wss wstan sctp; do PX[$p]=$(free_port); done
HOP[direct]=""
HOP[ws]="ws://127.0.0.1:$ws/t"
HOP[wss]="wss://127.0.0.1:$wss/t"
HOP[wstan]="wstan://127.0.0.1:$wst/t"
HOP[sctp]="sctp+udp://127.0.0.1:$sc"
mc=$(free_port)
start c-direct "$SLUICE" -L "proxy://127.0.0.1:${PX[direct]}?connect-timeout=2s"
start c-ws "$SLUICE" --metrics "127.0.0.1:$mc" -L "proxy://127.0.0.1:${PX[ws]}?connect-timeout=8s" -F "ws://127.0.0.1:$ws/t?key=$KEY"
start c-wss "$SLUICE" -L "proxy://127.0.0.1:${PX[wss]}?connect-timeout=8s" \
	-F "wss://127.0.0.1:$wss/t?key=$KEY&insecure=1"
start c-wstan "$SLUICE" -L "proxy://127.0.0.1:${PX[wstan]}?connect-timeout=8s" \
	-F "wstan://127.0.0.1:$wst/t?key=$WKEY"
start c-sctp "$SLUICE" -L "proxy://127.0.0.1:${PX[sctp]}?connect-timeout=8s" \
	-F "sctp+udp://127.0.0.1:$sc?key=$KEY"
for p in direct ws wss wstan sctp; do wait_port "${PX[$p]}"; done

# page P NAME URL: the response of a GET of URL through path P's HTTP front end
page() { curl -s -m 15 -i -x "http://127.0.0.1:${PX[$1]}" "$3" >"$T/$1-$2.out"; }
status() { head -n1 "$T/$1-$2.out" | tr -d '\r' | cut -d' ' -f2; }

for p in direct ws wss wstan sctp; do
	hop=${HOP[$p]}
	via=${hop:+, reached through $hop}
	page "$p" nx "http://nx.invalid/" &
	j1=$!
	page "$p" refused "http://127.0.0.1:$closed/" &
	j2=$!
	page "$p" timeout "http://127.0.0.1:$bh/"
	wait $j1 $j2
	for case in "nx 502 nx.invalid:80: name not found" \
		"refused 502 127.0.0.1:$closed: connection refused" \
		"timeout 504 127.0.0.1:$bh: timed out"; do
		set -- $case
		name=$1 code=$2
		shift 2
		want="Could not connect to $*$via"
		check_eq "$p: $name: status $code" "$code" "$(status "$p" "$name")"
		check "$p: $name: the page says '$want'" grep -qF "<p>$want</p>" "$T/$p-$name.out"
		check "$p: $name: the client's log says it" grep -qF "http: $code $want" "$T/c-$p.log"
		[ "$p" = direct ] ||
			check "$p: $name: the server's log says its dial failed" \
				grep -qF "Could not connect to $*" "$T/server.log"
	done
done

# the hop's own server down: the sentence names it
dead=$(free_port)
pd=$(free_port)
PX[dead]=$pd
start c-dead "$SLUICE" -L "proxy://127.0.0.1:$pd" -F "ws://127.0.0.1:$dead/t?key=$KEY"
wait_port "$pd"
page dead x "http://127.0.0.1:$web/"
check "a tunnel server that is down: the page names it" grep -qF \
	"Could not reach ws://127.0.0.1:$dead/t (on the way to 127.0.0.1:$web): connection refused" \
	"$T/dead-x.out"

# proxy hops name themselves too: Dante as a socks5:// hop, tinyproxy and
# sluice's own HTTP front end as http:// hops (each with a 2 s connect
# timeout of its own), and a hop whose server is down
up=$(free_port) tp=$(free_port) dp=""
start up-http "$SLUICE" -L "http://127.0.0.1:$up?connect-timeout=2s"
HOP[httpup]="http://127.0.0.1:$up"
cat >"$T/tinyproxy.conf" <<CONF
Port $tp
Listen 127.0.0.1
Timeout 10
Allow 127.0.0.1
LogLevel Info
CONF
HOP[tinyproxy]="http://127.0.0.1:$tp"
PROXIES="httpup"
if command -v tinyproxy >/dev/null; then
	start tinyproxy tinyproxy -d -c "$T/tinyproxy.conf"
	PROXIES="$PROXIES tinyproxy"
else
	echo "note: no tinyproxy (scripts/deps.sh installs it): not checked as an http:// hop"
fi
if command -v danted >/dev/null; then
	dp=$(free_port)
	start_danted "$dp" "timeout.connect: 2"
	HOP[dante]="socks5://127.0.0.1:$dp"
	PROXIES="$PROXIES dante"
else
	echo "note: no Dante (scripts/deps.sh installs it): the socks5:// hop is not checked"
fi
for p in $PROXIES deadsocks deadhttp; do PX[$p]=$(free_port); done
HOP[deadsocks]="socks5://127.0.0.1:$dead"
HOP[deadhttp]="http://127.0.0.1:$dead"
for p in $PROXIES deadsocks deadhttp; do
	start "c-$p" "$SLUICE" -L "proxy://127.0.0.1:${PX[$p]}?connect-timeout=8s" -F "${HOP[$p]}"
done
wait_port "$up"
case $PROXIES in *tinyproxy*) wait_port "$tp" ;; esac
[ -n "$dp" ] && wait_port "$dp"
for p in $PROXIES deadsocks deadhttp; do wait_port "${PX[$p]}"; done
for p in $PROXIES; do
	page "$p" refused "http://127.0.0.1:$closed/" &
	j1=$!
	page "$p" nx "http://nx.invalid/" &
	j2=$!
	[ "$p" = tinyproxy ] || page "$p" timeout "http://127.0.0.1:$bh/"
	wait $j1 $j2
done
# what each proxy says decides the error: SOCKS5 has no code for a name not
# found (Dante answers 4, host unreachable), HTTP proxies answer 502 to both
# (sluice adds the proxy's status); tinyproxy's own connect timeout is not
# short, so it is not timed here
check_proxy() { # PATH CASE STATUS SENTENCE-BEFORE-THE-HOP [AFTER]
	local want="$4, reached through ${HOP[$1]}${5:-}"
	check_eq "$1: $2: status $3" "$3" "$(status "$1" "$2")"
	check "$1: $2: the page says '$want'" grep -qF "<p>$want</p>" "$T/$1-$2.out"
	check "$1: $2: the client's log says it" grep -qF "http: $3 $want" "$T/c-$1.log"
}
if [ -n "$dp" ]; then
	check_proxy dante refused 502 "Could not connect to 127.0.0.1:$closed: connection refused"
	check_proxy dante nx 502 "Could not connect to nx.invalid:80: host unreachable"
	check_proxy dante timeout 504 "Could not connect to 127.0.0.1:$bh: timed out"
fi
check_proxy httpup refused 502 "Could not connect to 127.0.0.1:$closed: connection refused" \
	" (the proxy answered 502 Bad Gateway)"
check_proxy httpup timeout 504 "Could not connect to 127.0.0.1:$bh: timed out" \
	" (the proxy answered 504 Gateway Timeout)"
check "httpup: nx: the page names the hop and its answer" \
	grep -qF "Could not connect to nx.invalid:80: connection refused, reached through ${HOP[httpup]} (the proxy answered 502 Bad Gateway)" \
	"$T/httpup-nx.out"
check "the upstream front end itself said why" grep -qF "Could not connect to nx.invalid:80: name not found" \
	"$T/up-http.log"
case $PROXIES in *tinyproxy*)
	tstatus=$(status tinyproxy refused)
	check "tinyproxy: refused: a $tstatus page naming the hop" grep -qF \
		"Could not connect to 127.0.0.1:$closed: connection refused, reached through ${HOP[tinyproxy]} (the proxy answered" \
		"$T/tinyproxy-refused.out"
	;;
esac
for p in deadsocks deadhttp; do
	page "$p" x "http://127.0.0.1:$web/"
	check "$p: a proxy that is down: the page names it" grep -qF \
		"Could not reach ${HOP[$p]} (on the way to 127.0.0.1:$web): connection refused" "$T/$p-x.out"
	check "$p: and the log" grep -qF \
		"Could not reach ${HOP[$p]} (on the way to 127.0.0.1:$web): connection refused" "$T/c-$p.log"
done

# fast-open: SOCKS is told the connection worked; the log and a metric say it did not
for p in ws wss wstan; do
	curl -s -m 10 --socks5-hostname "127.0.0.1:${PX[$p]}" "http://127.0.0.1:$closed/" >/dev/null
done
for p in ws wss wstan; do
	check "$p: a fast-open SOCKS connection to a refused port is logged as the target failing" \
		grep -qF "Could not connect to 127.0.0.1:$closed: connection refused, reached through ${HOP[$p]} (after fast-open)" \
		"$T/c-$p.log"
	check "$p: and its close says so" grep -q "closed (target failed)" "$T/c-$p.log"
done
late=$(curl -fsS "http://127.0.0.1:$mc/metrics" |
	sed -n "s|^sluice_connections_failed_late_total{listener=\"proxy://127.0.0.1:${PX[ws]}\"} ||p")
check_eq "ws: the late failures are counted (the GETs' three and the SOCKS one)" 4 "$late"
check "sctp: no fast-open, the SOCKS client gets the refusal (reply 5)" bash -c \
	"curl -s -m 10 --socks5-hostname 127.0.0.1:${PX[sctp]} http://127.0.0.1:$closed/; test \$? = 97"

# ordinary GETs and CONNECTs through the HTTP front end and a tunnel
for p in ws wss wstan sctp; do
	check "$p: GET through the HTTP front end" bash -c \
		"curl -fsS -m 10 -x http://127.0.0.1:${PX[$p]} http://127.0.0.1:$web/ | grep -q hello"
	check "$p: CONNECT through the HTTP front end" bash -c \
		"curl -fsS -m 10 -p -x http://127.0.0.1:${PX[$p]} http://127.0.0.1:$web/ | grep -q hello"
done
sleep 0.5
check "the tunnel servers logged no reset" bash -c "! grep -q 'closed (reset)' '$T/server.log'"
check "and closed the GETs as done" grep -q "closed (done) after .*: [1-9][0-9]* bytes up, [1-9][0-9]* down" \
	"$T/server.log"
check "the HTTP front end logs a CONNECT's request line" \
	grep -q "http CONNECT 127.0.0.1:$web -> 200" "$T/c-ws.log"
id=$(sed -n "s/.*\[\(c[0-9]*\)\] http GET 127.0.0.1:$web\/ -> 200.*/\1/p" "$T/c-ws.log" | head -n1)
check "and a GET's opening and closing lines, with bytes" bash -c \
	"grep -q '\\[$id\\] 127.0.0.1:[0-9]* -> 127.0.0.1:$web\$' '$T/c-ws.log' &&
	 grep -q '\\[$id\\] closed (.*) after .*: [1-9][0-9]* bytes up, [1-9][0-9]* down' '$T/c-ws.log'"

# 0-RTT: a forward's first bytes ride in the open; both ends count them
for p in "ws ws://127.0.0.1:$ws0/c?key=$KEY ws://127.0.0.1:$ws0 $ms0" \
	"wstan wstan://127.0.0.1:$wst0/c?key=$WKEY wstan://127.0.0.1:$wst0 $ms1"; do
	set -- $p
	fw=$(free_port) mf=$(free_port)
	start "fwd-$1" "$SLUICE" --metrics "127.0.0.1:$mf" -L "tcp://127.0.0.1:$fw/127.0.0.1:$web" -F "$2"
	wait_port "$fw"
	for _ in 1 2 3 4 5; do curl -fsS -m 10 "http://127.0.0.1:$fw/" >/dev/null; done
	sleep 0.5
	ctr() { curl -fsS "http://127.0.0.1:$1/metrics" | sed -n "s|^$2{listener=\"$3\"} ||p"; }
	cin=$(ctr "$mf" sluice_bytes_received_total "tcp://127.0.0.1:$fw")
	cout=$(ctr "$mf" sluice_bytes_sent_total "tcp://127.0.0.1:$fw")
	sin=$(ctr "$4" sluice_bytes_received_total "$3")
	sout=$(ctr "$4" sluice_bytes_sent_total "$3")
	check "$1 0-RTT: the client counted the requests ($cin bytes)" test "${cin:-0}" -gt 0
	check_eq "$1 0-RTT: bytes up, client and server /metrics" "$cin" "$sin"
	check_eq "$1 0-RTT: bytes down, client and server /metrics" "$cout" "$sout"
	# each connection's end, as "N bytes up, M down": a conn's closing line, or
	# a wstan server's line for each request its tunnel carried; not the
	# empty one that wait_port made
	lines() {
		sed -n 's/.*\(closed (done) after [0-9.]* s\|wstan request done (done)\): \(.*\)/\2/p' "$1" |
			grep -v '^0 bytes up, 0 down' | sort
	}
	check "$1 0-RTT: five connections closed" test "$(lines "$T/fwd-$1.log" | wc -l)" -eq 5
	check_eq "$1 0-RTT: the closing lines agree on both ends" "$(lines "$T/fwd-$1.log")" \
		"$(lines "$T/s0-$1.log")"
done
finish
