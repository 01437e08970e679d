#!/bin/bash
# wstan:// in TLS mode checks the timestamp and the replay cache too.  The
# server sits behind a TLS front end (socat); a recording relay between the
# two captures a real request in clear, as the front end's access log would
# show its URI.  Sent again at once it meets the replay cache; sent after
# the clock window (skew=1s here), the timestamp check.  Both see the decoy,
# and the target sees the request once.  Then wrong keys until the
# brute-force guard bans the address.
. "$(dirname "$0")/lib.sh"
need_cmd socat openssl
WSPEER="/usr/bin/python3 $SRCDIR/tests/e2e/wspeer.py"

KEY=$(head -c 16 /dev/urandom | base64)
mkdir -p "$T/www"
echo "hello through wstan" >"$T/www/once"
web=$(free_port)
http_server "$web" "$T/www"
seen() { grep -c 'GET /once' "$T/http$web.log"; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
	-addext "subjectAltName=DNS:localhost" -keyout "$T/srv.key" -out "$T/srv.pem" 2>/dev/null

ws=$(free_port)
start srv "$SLUICE" -v -L "wstan://127.0.0.1:$ws/t?host-loopback=1&key=$KEY&tls=1&skew=1s"
wait_port "$ws"
rec=$(free_port)
$WSPEER relay "$rec" "$ws" "$T/captured" &
relay=$!
front=$(free_port)
start front socat "OPENSSL-LISTEN:$front,bind=127.0.0.1,reuseaddr,fork,cert=$T/srv.pem,key=$T/srv.key,verify=0" \
	"TCP:127.0.0.1:$rec"
wait_port "$front"
px=$(free_port)
start cli "$SLUICE" -L "proxy://127.0.0.1:$px" -F "wstan://localhost:$front/t?key=$KEY&tls=1&ca=$T/srv.pem"
wait_port "$px"
check "a request through the TLS front and the recording relay" bash -c \
	"curl -fsS -m 10 --socks5-hostname 127.0.0.1:$px http://127.0.0.1:$web/once | grep -q 'hello through wstan'"
kill "$(pid_of cli)"
wait $relay
check "the request rode in the URI, in clear behind the front end" grep -aq "GET /t/" "$T/captured"

check_eq "sent again at once: the decoy (its 404 for the path)" "HTTP/1.1 404 Not Found" "$($WSPEER resend 127.0.0.1 "$ws" "$T/captured")"
check "as a replay" grep -q "replayed request" "$T/srv.log"
sleep 1.2
check_eq "sent again after the window: the decoy" "HTTP/1.1 404 Not Found" "$($WSPEER resend 127.0.0.1 "$ws" "$T/captured")"
check "as stale" grep -q "request timestamp outside the window" "$T/srv.log"
check_eq "the target saw the request once" 1 "$(seen)"

# wrong keys count in the brute-force guard: after max-failures the address
# gets the decoy, even for the right key
gs=$(free_port)
start guarded "$SLUICE" -v --auth-guard "free=1,delay=100ms,max-delay=200ms,max-failures=3,window=1m,ban=1m" \
	-L "wstan://127.0.0.1:$gs/t?host-loopback=1&key=$KEY"
wait_port "$gs"
WRONG=$(head -c 16 /dev/urandom | base64)
pw=$(free_port)
start wrong "$SLUICE" -L "proxy://127.0.0.1:$pw" -F "wstan://127.0.0.1:$gs/t?key=$WRONG"
wait_port "$pw"
for _ in 1 2 3 4; do
	curl -fsS -m 3 --socks5-hostname "127.0.0.1:$pw" "http://127.0.0.1:$web/once" >/dev/null 2>&1
done
check "wrong wstan keys get 127.0.0.1 banned (one log line)" grep -q "auth-guard: 127.0.0.1 banned" "$T/guarded.log"
pr=$(free_port)
start right "$SLUICE" -L "proxy://127.0.0.1:$pr" -F "wstan://127.0.0.1:$gs/t?key=$KEY"
wait_port "$pr"
check_fails "then the right key from there gets no tunnel" \
	curl -fsS -m 3 --socks5-hostname "127.0.0.1:$pr" "http://127.0.0.1:$web/once"
check "the server says why" grep -q "is banned (auth-guard): a right key, refused" "$T/guarded.log"

finish
