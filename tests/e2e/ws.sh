#!/bin/bash
# WebSocket tunnel end to end: ws and wss (a CA made here), curl through
# proxy:// -> tunnel -> origin; 256 MiB (SLUICE_E2E_BIG) with sha256; 500 concurrent tunneled
# connections; the server restarted mid-run; interop with python3-websockets
# both ways; replayed open, clock skew, wrong key and probes all refused
# with the decoy.
. "$(dirname "$0")/lib.sh"
need_cmd openssl
need_py websockets
TOOLS="python3 $SRCDIR/tests/e2e/tools.py"
WSPEER="/usr/bin/python3 $SRCDIR/tests/e2e/wspeer.py"
BIG=${SLUICE_E2E_BIG:-256M}

KEY=$("$SLUICE" keygen)
check "keygen prints 32 bytes of base64" bash -c "[ \$(echo '$KEY' | base64 -d | wc -c) -eq 32 ]"

mkdir -p "$T/www"
echo "hello through the tunnel" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"
echo_port=$(free_port)
start echo $TOOLS echo-server "$echo_port"
wait_port "$echo_port"

# --- ws
ws=$(free_port)
wm=$(free_port)
start wsserver "$SLUICE" -L "ws://127.0.0.1:$ws/tun?host-loopback=1&key=$KEY" --metrics "127.0.0.1:$wm"
wait_port "$ws"
px=$(free_port)
start wsclient "$SLUICE" -L "proxy://127.0.0.1:$px" -F "ws://127.0.0.1:$ws/tun?key=$KEY"
wait_port "$px"
check "curl through proxy:// -> ws -> origin" bash -c \
	"curl -fsS --socks5-hostname 127.0.0.1:$px http://127.0.0.1:$web/ | grep -q 'hello through the tunnel'"
check "and as an HTTP proxy" bash -c \
	"curl -fsS -x http://127.0.0.1:$px http://localhost:$web/ | grep -q 'hello through the tunnel'"
fw=$(free_port)
start wsfwd "$SLUICE" -L "tcp://127.0.0.1:$fw/127.0.0.1:$echo_port" -F "ws://127.0.0.1:$ws/tun?key=$KEY"
wait_port "$fw"
hc=$(free_port)
start hc $TOOLS halfclose-server "$hc"
wait_port "$hc"
hf=$(free_port)
start hcfwd "$SLUICE" -L "tcp://127.0.0.1:$hf/127.0.0.1:$hc" -F "ws://127.0.0.1:$ws/tun?key=$KEY"
wait_port "$hf"
check_eq "half-close through the tunnel" \
	"got 5 $(printf 'hello' | sha256sum | cut -d' ' -f1)" "$($TOOLS halfclose-client "$hf" hello)"

check "500 concurrent tunneled connections" $TOOLS concurrent "$fw" 500 2048
check "metrics count the opens" bash -c \
	"curl -fsS http://127.0.0.1:$wm/metrics | grep -Eq 'sluice_ws_opens_total\\{listener=\"ws://127.0.0.1:$ws\"\\} [0-9]{3}'"

big=$(random_file "$BIG")
mv "$big" "$T/www/big"
want=$(sha "$T/www/big")
t0=$(date +%s.%N)
got=$(curl -fsS --socks5-hostname "127.0.0.1:$px" "http://127.0.0.1:$web/big" | sha256sum | cut -d' ' -f1)
t1=$(date +%s.%N)
check_eq "$BIG through ws with sha256" "$want" "$got"
echo "    $(python3 -c "print(round($(stat -c %s "$T/www/big")*8/1e9/($t1-$t0),2))") Gbit/s (incl. sha256)"

# --- probes: all get the decoy page
check "a browser visit sees a web page" bash -c "curl -fsS http://127.0.0.1:$ws/ | grep -q 'It works'"
check "and nothing names sluice" bash -c "! curl -sSi http://127.0.0.1:$ws/tun | grep -qi sluice"
check "random bytes get a 400" bash -c \
	"$TOOLS send $ws 00ff10203040ffffffff0d0a0d0a 1 | grep -q '^485454502f312e3120343030'"
WRONG=$("$SLUICE" keygen)
pw=$(free_port)
start wrongkey "$SLUICE" -L "proxy://127.0.0.1:$pw" -F "ws://127.0.0.1:$ws/tun?key=$WRONG"
wait_port "$pw"
check_fails "a wrong key cannot tunnel" curl -fsS -m 5 --socks5-hostname "127.0.0.1:$pw" "http://127.0.0.1:$web/"
check "the client says why" grep -q "refused the tunnel" "$T/wrongkey.log"
tok=$($WSPEER token "$WRONG" 0 "127.0.0.1:$ws" /tun)
check "a wrong-key upgrade sees the decoy page" bash -c \
	"curl -sS -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Cookie: sid=$tok' http://127.0.0.1:$ws/tun | grep -q '404 Not Found'"
tok=$($WSPEER token "$KEY" -600000 "127.0.0.1:$ws" /tun)
check "a token 10 minutes old sees the decoy page" bash -c \
	"curl -sS -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Cookie: sid=$tok' http://127.0.0.1:$ws/tun | grep -q '404 Not Found'"

# a captured open request, replayed: the first use works, the second is refused
rec=$(free_port)
$WSPEER record "$rec" "$T/captured" &
recpid=$!
sleep 0.3
rc=$(free_port)
start recclient "$SLUICE" -L "tcp://127.0.0.1:$rc/127.0.0.1:$web" -F "ws://127.0.0.1:$rec/tun?key=$KEY"
wait_port "$rc"
curl -s -m 2 "http://127.0.0.1:$rc/" >/dev/null 2>&1
wait $recpid
out=$($WSPEER replay 127.0.0.1 "$ws" "$T/captured")
check_eq "captured open: first use accepted, replay refused" \
	"HTTP/1.1 101 Switching Protocols|HTTP/1.1 404 Not Found" "$(echo "$out" | paste -sd'|')"
check "metrics count rejections by reason" bash -c \
	"curl -fsS http://127.0.0.1:$wm/metrics | grep -q 'sluice_ws_rejected_total{listener=\"ws://127.0.0.1:$ws\",reason=\"replay\"} 1'"

# --- interop with python3-websockets
out=$($WSPEER client "ws://127.0.0.1:$ws/tun" "$KEY" 2>&1)
check_eq "python websockets client: handshake, answer, ping/pong, close" \
	"handshake ok|answer ok|pong ok|closed 1000" "$(echo "$out" | paste -sd'|')"
pyp=$(free_port)
$WSPEER server "$pyp" "$KEY" 6 >"$T/pyserver.log" 2>&1 &
pysrv=$!
sleep 0.5
pc=$(free_port)
start pyclient "$SLUICE" -v -L "tcp://127.0.0.1:$pc/127.0.0.1:$web" \
	-F "ws://127.0.0.1:$pyp/?key=$KEY&pool=1&ping=500ms&dead=2s"
wait_port "$pc"
sleep 4
check "sluice client against a python websockets server: token accepted" grep -q "token ok" "$T/pyserver.log"
check "the pooled websocket stayed up past dead=2s (pongs answered pings)" \
	bash -c "! grep -q 'keepalive' '$T/pyclient.log' && grep -q connection '$T/pyserver.log'"
wait $pysrv
check "the python server closed it cleanly" grep -q "closed 1000" "$T/pyserver.log"

# --- wss with a CA made here
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test CA" \
	-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/san.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/san.ext" -out "$T/srv.pem" 2>/dev/null
wss=$(free_port)
start wssserver "$SLUICE" -L "wss://127.0.0.1:$wss?host-loopback=1&key=$KEY&cert=$T/srv.pem&certkey=$T/srv.key"
wait_port "$wss"
pss=$(free_port)
start wssclient "$SLUICE" -L "proxy://127.0.0.1:$pss" -F "wss://localhost:$wss?key=$KEY&ca=$T/ca.pem"
wait_port "$pss"
check "curl through wss (CA verified)" bash -c \
	"curl -fsS --socks5-hostname 127.0.0.1:$pss http://127.0.0.1:$web/ | grep -q 'hello through the tunnel'"
t0=$(date +%s.%N)
got=$(curl -fsS --socks5-hostname "127.0.0.1:$pss" "http://127.0.0.1:$web/big" | sha256sum | cut -d' ' -f1)
t1=$(date +%s.%N)
check_eq "$BIG through wss with sha256" "$want" "$got"
echo "    $(python3 -c "print(round($(stat -c %s "$T/www/big")*8/1e9/($t1-$t0),2))") Gbit/s (incl. sha256)"
pn=$(free_port)
start wssnoca "$SLUICE" -L "proxy://127.0.0.1:$pn" -F "wss://localhost:$wss?key=$KEY"
wait_port "$pn"
check_fails "wss without the CA refuses the self-signed server" \
	curl -fsS -m 5 --socks5-hostname "127.0.0.1:$pn" "http://127.0.0.1:$web/"
pi=$(free_port)
start wssinsecure "$SLUICE" -L "proxy://127.0.0.1:$pi" -F "wss://127.0.0.1:$wss?key=$KEY&insecure=1&enc=none"
wait_port "$pi"
check "wss with insecure=1 and enc=none" bash -c \
	"curl -fsS --socks5-hostname 127.0.0.1:$pi http://127.0.0.1:$web/ | grep -q 'hello through the tunnel'"
check "curl of the wss server shows the decoy" bash -c \
	"curl -fsS --cacert $T/ca.pem https://localhost:$wss/ | grep -q 'It works'"

# --- the server restarted mid-run
kill "$(pid_of wsserver)"
sleep 0.5
check_fails "while the server is down, connections fail" \
	curl -fsS -m 3 --socks5-hostname "127.0.0.1:$px" "http://127.0.0.1:$web/"
start wsserver2 "$SLUICE" -L "ws://127.0.0.1:$ws/tun?host-loopback=1&key=$KEY"
wait_port "$ws"
check "once it is back, new connections work" bash -c \
	"curl -fsS --socks5-hostname 127.0.0.1:$px http://127.0.0.1:$web/ | grep -q 'hello through the tunnel'"
check "the client survived" alive wsclient

finish
