#!/bin/sh
# Guest half of tests/e2e/sctp_native.sh, run by `tests/peers/peers vm` in
# the peers guest, whose kernel has SCTP.  /mnt holds sluice and the libraries it
# links (run through their dynamic loader, as the guest has none of them).
# Every check prints "CHECK PASS: ..." or "CHECK FAIL: ..." on the console;
# the host counts them.  Busybox sh.
. /etc/peers/lib.sh
S="/mnt/lib/ld-linux-x86-64.so.2 --library-path /mnt/lib /mnt/sluice"
BIG_MB=${BIG_MB:-8}
NFAIL=0
pass() { echo "CHECK PASS: $1"; }
fail() { echo "CHECK FAIL: $1"; NFAIL=$((NFAIL + 1)); }
check() { _n=$1; shift; if "$@" >/dev/null 2>&1; then pass "$_n"; else fail "$_n"; fi; }
check_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (want '$2', got '$3')"; fi; }
# get PORT PATH OUT: one fetch through a forward, 30 s at most
get() { timeout 30 wget -q -O "$3" "http://127.0.0.1:$1$2"; }
# until PORT PATH: retry a fetch for up to 15 s (a listener starting, an
# association coming back)
until_get() {
	_i=0
	while [ $_i -lt 60 ]; do
		get "$1" "$2" /tmp/until.out && return 0
		_i=$((_i + 1))
		sleep 0.25
	done
	return 1
}
ip link set lo up 2>/dev/null

KEY=$($S keygen)
WRONG=$($S keygen)
TOKEN="kernel-sctp-$$"
mkdir -p /tmp/www
echo "$TOKEN" >/tmp/www/index.html
dd if=/dev/urandom of=/tmp/www/big bs=1M count="$BIG_MB" 2>/dev/null
dd if=/dev/urandom of=/tmp/www/mid bs=64k count=4 2>/dev/null
want_big=$(sha256sum </tmp/www/big | cut -d' ' -f1)
want_mid=$(sha256sum </tmp/www/mid | cut -d' ' -f1)
httpd -p 127.0.0.1:8080 -h /tmp/www

$S -L "sctp://127.0.0.1:9899?host-loopback=1&key=$KEY" --metrics 127.0.0.1:9100 >/tmp/server.log 2>&1 &
server=$!
$S -L "tcp://127.0.0.1:8081/127.0.0.1:8080" -F "sctp://127.0.0.1:9899?key=$KEY" \
	>/tmp/client.log 2>&1 &
client=$!

check "a page through tcp:// -> sctp:// (kernel) -> server -> httpd" until_get 8081 /
check "... the page is the origin's" grep -qx "$TOKEN" /tmp/until.out
check "the server listens on kernel SCTP by default" grep -q "listening on sctp://127.0.0.1:9899 (kernel SCTP)" /tmp/server.log
check "the server's association runs on kernel SCTP" grep -q "sctp association with 127.0.0.1:[0-9]* up (2048 streams, kernel SCTP)" /tmp/server.log
check "the client's association runs on kernel SCTP" grep -q "sctp association with 127.0.0.1:9899 up (2048 streams, kernel SCTP)" /tmp/client.log
vm_prefix assocs cat /proc/net/sctp/assocs
vm_prefix remaddr cat /proc/net/sctp/remaddr
# /proc/net/sctp/assocs: LPORT is column 12, RPORT 13, MAXRT 20
check "the kernel holds both ends of the association" \
	test "$(awk 'NR > 1 && ($12 == 9899 || $13 == 9899)' /proc/net/sctp/assocs | wc -l)" = 2
check "the heartbeat settings took (4 retransmissions per path)" \
	test "$(awk 'NR > 1 && $5 == 4' /proc/net/sctp/remaddr | wc -l)" = 2

t0=$(cut -d' ' -f1 /proc/uptime)
get 8081 /big /tmp/big.out
t1=$(cut -d' ' -f1 /proc/uptime)
check_eq "$BIG_MB MiB through kernel SCTP with sha256" "$want_big" "$(sha256sum </tmp/big.out | cut -d' ' -f1)"
vm_log "$BIG_MB MiB in $(awk "BEGIN { print $t1 - $t0 }") s (emulated CPU)"
rm -f /tmp/big.out

jobs=""
for i in $(seq 1 20); do
	(get 8081 /mid "/tmp/mid.$i" && sha256sum <"/tmp/mid.$i" | cut -d' ' -f1 >"/tmp/mid.$i.sha") &
	jobs="$jobs $!"
done
for j in $jobs; do wait "$j"; done # not a bare wait: sluice runs in the background too
ok=0
for i in $(seq 1 20); do
	[ "$(cat "/tmp/mid.$i.sha" 2>/dev/null)" = "$want_mid" ] && ok=$((ok + 1))
done
check_eq "20 concurrent fetches of 256 KiB, sha256 checked" 20 "$ok"
check_eq "... all on one association" 1 "$(grep -c 'sctp association with .* up' /tmp/client.log)"
check "metrics count the association" sh -c \
	"timeout 10 wget -q -O - http://127.0.0.1:9100/metrics | grep -q 'sluice_sctp_associations_total{listener=\"sctp://127.0.0.1:9899\"} 1'"

# a wrong key: refused by the server, the dial fails
$S -L "tcp://127.0.0.1:8082/127.0.0.1:8080?connect-timeout=3s" \
	-F "sctp://127.0.0.1:9899?key=$WRONG" >/tmp/wrongkey.log 2>&1 &
wrong=$!
sleep 1
check "a wrong key cannot tunnel" sh -c "! timeout 10 wget -q -O - http://127.0.0.1:8082/"
check "the server says why" grep -q "AUTH not authentic" /tmp/server.log
kill $wrong

# garbage from another SCTP stack (socat on the kernel's SCTP): that
# association is dropped, the tunnel beside it keeps working
before=$(grep -c "association with .* failed" /tmp/server.log)
echo "not an AUTH message" | timeout 5 socat -u - SCTP-CONNECT:127.0.0.1:9899 2>/dev/null
sleep 0.5
check_eq "garbage on stream 0 drops that association only" $((before + 1)) \
	"$(grep -c "association with .* failed" /tmp/server.log)"
check "... and the tunnel beside it still carries a page" until_get 8081 /

# IPv6: a second server and client on ::1
$S -L "sctp://[::1]:9898?host-loopback=1&key=$KEY" >/tmp/server6.log 2>&1 &
server6=$!
$S -L "tcp://127.0.0.1:8083/127.0.0.1:8080" -F "sctp://[::1]:9898?key=$KEY" >/tmp/client6.log 2>&1 &
client6=$!
check "kernel SCTP over IPv6 (::1) carries a page" until_get 8083 /
check "... the server saw [::1]" grep -q "sctp association with \[::1\]:[0-9]* up" /tmp/server6.log
kill $client6 $server6

# the server killed and started again: the client re-associates
kill -9 $server
sleep 0.5
$S -L "sctp://127.0.0.1:9899?host-loopback=1&key=$KEY" >/tmp/server2.log 2>&1 &
server=$!
check "the client re-associates after the server restarted" until_get 8081 /
check "... and fetches the page" grep -qx "$TOKEN" /tmp/until.out
check "the client logged the loss" grep -q "association with .* lost" /tmp/client.log

# SIGTERM: both exit 0
kill -TERM $client $server
wait $client
rc_c=$?
wait $server
rc_s=$?
check_eq "SIGTERM: the client exits 0" 0 "$rc_c"
check_eq "SIGTERM: the server exits 0" 0 "$rc_s"

if [ $NFAIL -ne 0 ]; then
	for f in /tmp/server.log /tmp/server2.log /tmp/client.log /tmp/wrongkey.log /tmp/server6.log /tmp/client6.log; do
		vm_prefix "$(basename $f .log)" tail -n 30 $f
	done
	vm_result FAIL "$NFAIL checks failed"
else
	vm_result PASS "kernel SCTP"
fi
