#!/bin/bash
# Attacks on the WebSocket tunnel server before and after authentication,
# each against the real binary: a long request target into the decoy
# directory (a heap over-read before the fix: an ASan build aborts), an
# enc=none open on plain ws://, a peer that pings and never reads (memory
# must stay flat), wrong keys until the brute-force guard bans the source
# (another source unaffected), and TLS name checks that a foreign sni= must
# not turn off (unit tests in test_tls cover no SNI at all).
. "$(dirname "$0")/lib.sh"
need_cmd openssl
WSPEER="/usr/bin/python3 $SRCDIR/tests/e2e/wspeer.py"

KEY=$("$SLUICE" keygen)
mkdir -p "$T/www"
echo "hello" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"

ws=$(free_port)
wm=$(free_port)
# under ASan, freed memory waits in a quarantine that would show as RSS:
# this server gives it back at once, so RSS measures what is kept
start server env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
	"$SLUICE" -L "ws://127.0.0.1:$ws/tun?host-loopback=1&key=$KEY&decoy=$T/www" --metrics "127.0.0.1:$wm"
wait_port "$ws"

# --- a request head of 1024 bytes whose target has no '?' or '#'
python3 - "$ws" <<'PY'
import socket, sys
tail = b" HTTP/1.1\r\nHost: x\r\n\r\n"
head = b"GET /" + b"a" * (1024 - 5 - len(tail)) + tail
assert len(head) == 1024
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(head)
print(s.recv(100).split(b"\r\n")[0].decode())
PY
check "a 1024-byte target without '?' or '#' gets a 404 and the server lives" bash -c \
	"curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:$ws/nothing | grep -q 404 && curl -fsS http://127.0.0.1:$ws/index.html | grep -q hello"
check "the server is alive" alive server

# --- enc=none on plain ws:// is refused by the server too
check_eq "enc=none over ws:// sees the decoy (a 404 from its directory)" "HTTP/1.1 404 Not Found" \
	"$($WSPEER plain 127.0.0.1 "$ws" /tun "$KEY")"
check "and it is counted" bash -c \
	"curl -fsS http://127.0.0.1:$wm/metrics | grep -q 'reason=\"enc_none\"} 1'"
ws2=$(free_port)
start anyserver "$SLUICE" -L "ws://127.0.0.1:$ws2/tun?host-loopback=1&key=$KEY&enc=any"
wait_port "$ws2"
check_eq "enc=any (behind a TLS front end) accepts it" "HTTP/1.1 101 Switching Protocols" \
	"$($WSPEER plain 127.0.0.1 "$ws2" /tun "$KEY")"

# --- a peer that pings and never reads: pongs are capped, memory stays flat
rss() { awk '/VmRSS/ {print $2}' "/proc/$(pid_of server)/status"; }
before=$(rss)
sent=$($WSPEER pingflood 127.0.0.1 "$ws" /tun "$KEY" 32)
after=$(rss)
echo "    server RSS ${before} kB -> ${after} kB after $sent bytes of pings never read"
check "32 MiB of pings grow the server by less than 12 MiB" test "${after:-99999999}" -lt $((${before:-0} + 12288))
check "the dropped pongs are counted" bash -c \
	"curl -fsS http://127.0.0.1:$wm/metrics | grep -Eq '^sluice_ws_pongs_dropped_total [1-9]'"

# --- wrong keys count in the brute-force guard, which bans the address;
# every answer is the decoy's all the same (no hold, no silence), the right
# key from the banned address gets it too, and from 127.0.0.2 keeps working
gp=$(free_port)
WRONG=$("$SLUICE" keygen)
start guarded "$SLUICE" -v --auth-guard "free=1,delay=300ms,max-delay=600ms,max-failures=4,window=1m,ban=1m" \
	-L "ws://127.0.0.1:$gp/tun?host-loopback=1&key=$KEY"
wait_port "$gp"
check "wrong keys from one source: the decoy each time, then for the right key too; 127.0.0.2 unaffected" \
	$WSPEER guard "$gp" /tun "$KEY" "$WRONG" 300
check "one log line for the ban" grep -q "auth-guard: 127.0.0.1 banned for" "$T/guarded.log"
check "and one for the right key refused during it" \
	grep -q "127.0.0.1:[0-9]* is banned (auth-guard): a right key, refused" "$T/guarded.log"

# --- TLS: the name checked is always the server's, whatever SNI is sent
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test CA" \
	-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=other.example" \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=DNS:other.example\n' >"$T/san.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/san.ext" -out "$T/srv.pem" 2>/dev/null
wss=$(free_port)
start wss "$SLUICE" -L "wss://127.0.0.1:$wss/t?host-loopback=1&key=$KEY&cert=$T/srv.pem&certkey=$T/srv.key"
wait_port "$wss"
try_client() { # NAME OPTIONS: curl through a client with those options
	local p
	p=$(free_port)
	start "$1" "$SLUICE" -L "tcp://127.0.0.1:$p/127.0.0.1:$web" -F "wss://127.0.0.1:$wss/t?key=$KEY&ca=$T/ca.pem$2"
	wait_port "$p"
	curl -fsS -m 5 "http://127.0.0.1:$p/" | grep -q hello
}
check_fails "a certificate for another name is refused" try_client plain ""
check_fails "and still with sni= naming the certificate's name" try_client othersni "&sni=other.example"
check "host= names the server: that name is verified" try_client hostname "&host=other.example"

finish
