#!/bin/bash
# sluice's SSTP server (-L sstp://) with sluice's own sstp:// hop as the
# client, both ends on loopback: a page from the host's loopback through
# the gateway's host alias, 100 MiB (SLUICE_E2E_BIG) byte-exact, the crypto
# binding verified with MS-CHAPv2 keys.  Attacks: a wrong password; a TLS
# man in the middle (socat terminating TLS with its own certificate and
# relaying to the server: the client binds the call to the wrong
# certificate, and the server refuses it); behind a TLS-terminating proxy
# (tls=0, cert= the proxy's certificate: HAProxy in mode http and mode tcp,
# nginx's stream module) the call works, and with cert= naming another
# certificate it is refused; a user's second session past
# max-per-user is refused; a client that never goes past
# Call Connect Request is cut off at handshake-timeout; data before the
# call, a malformed header, a protocol other than PPP, a plain GET.
# sstpc (Linux's client) against the same server: sstpd_sstpc.sh.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd openssl socat curl
BIG=${SLUICE_E2E_BIG:-100M}

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
	-subj /CN=sstp.test >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/mkey.pem" -out "$T/mcert.pem" -days 2 \
	-subj /CN=mitm.test >/dev/null 2>&1
cat "$T/mcert.pem" "$T/mkey.pem" >"$T/mitm.pem"
cat "$T/cert.pem" "$T/key.pem" >"$T/real.pem"
printf 'alice:wonder land\nbob:builder\n' >"$T/users"
chmod 600 "$T/users"

TOKEN="sstpd-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
head -c "$BIG" /dev/urandom >"$T/www/big"
web=$(free_port)
http_server "$web" "$T/www"

sp=$(free_port) metrics=$(free_port)
start server "$SLUICE" -v --metrics "127.0.0.1:$metrics" \
	-L "sstp://127.0.0.1:$sp?cert=$T/cert.pem&certkey=$T/key.pem&users=$T/users&net=10.77.0.0/24&handshake-timeout=3s&max-per-user=1"
wait_port "$sp"

# client NAME SERVER-PORT USER:PASS [hop options]: a SOCKS front end whose
# chain is the sstp:// hop; prints the SOCKS port
client() {
	local name=$1 port=$2 cred=$3 opts=${4:-insecure=1} p
	p=$(free_port)
	start "$name" "$SLUICE" -v -L "socks://127.0.0.1:$p" -F "sstp://$cred@127.0.0.1:$port?$opts"
	wait_port "$p"
	echo "$p"
}
fetch() { curl -fsS --max-time "${2:-20}" -x "socks5h://127.0.0.1:$1" "http://10.77.0.2:$web/${3:-token.txt}"; }
# wait_log NAME PATTERN [SECONDS]
wait_log() {
	local n=$((${3:-10} * 10))
	while [ $n -gt 0 ]; do
		grep -q "$2" "$T/$1.log" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# 1. sluice to sluice
c1=$(client good "$sp" "alice:wonder%20land" "pin=$(openssl x509 -in "$T/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)")
wait_log good "session up" 15
check "a page from the host's loopback through the SSTP server's gateway" \
	bash -c "[ \"\$(curl -fsS --max-time 20 -x socks5h://127.0.0.1:$c1 http://10.77.0.2:$web/token.txt)\" = '$TOKEN' ]"
check "the server verified the crypto binding with MS-CHAPv2 keys" \
	grep -q "call connected, user alice (crypto binding SHA-256, MS-CHAPv2 keys)" "$T/server.log"
t0=$(date +%s.%N)
fetch "$c1" 300 big >"$T/got" 2>"$T/fetch.err"
t1=$(date +%s.%N)
check_eq "$BIG through the SSTP server, byte-exact" "$(sha "$T/www/big")" "$(sha "$T/got")"
echo "    $BIG in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
check "the session shows in /metrics with its user" \
	bash -c "curl -fsS http://127.0.0.1:$metrics/metrics | grep 'sluice_ppp_session_info' | grep -q 'user=\"alice\"'"

# a second session of the same user: max-per-user=1
c6=$(client second "$sp" "alice:wonder%20land")
check "a user's second session is refused (max-per-user=1)" \
	wait_log server "user alice has 1 sessions already (max-per-user)" 15
check "... and the first one still works" \
	bash -c "[ \"\$(curl -fsS --max-time 20 -x socks5h://127.0.0.1:$c1 http://10.77.0.2:$web/token.txt)\" = '$TOKEN' ]"
kill "$(pid_of second)"

# 2. a wrong password: refused by the server, no session
c2=$(client wrongpw "$sp" "alice:nope")
check "a wrong password is refused (server)" wait_log server 'wrong secret for user "alice"' 15
check "a wrong password is refused (client)" wait_log wrongpw "refused\|failed" 15
check_fails "no page with a wrong password" fetch "$c2" 3

# 3. a TLS man in the middle: the client sees the relay's certificate
mp=$(free_port)
start mitm socat "openssl-listen:$mp,reuseaddr,fork,cert=$T/mitm.pem,verify=0" \
	"openssl:127.0.0.1:$sp,verify=0"
wait_port "$mp"
c3=$(client mitmc "$mp" "alice:wonder%20land")
check "the server refuses a call bound to another certificate" \
	wait_log server "crypto binding refused: the client saw another certificate" 15
check_fails "no page through the man in the middle" fetch "$c3" 3

# 4. behind a TLS-terminating proxy: tls=0, cert= the proxy's certificate.
# HAProxy in mode http and in mode tcp, nginx's stream module; a proxy
# whose certificate is not cert= (socat here) gets the calls refused.
bp=$(free_port) bp2=$(free_port) hh=$(free_port) ht=$(free_port) ng=$(free_port) pp2=$(free_port)
start plain "$SLUICE" -v -L "sstp://127.0.0.1:$bp?tls=0&cert=$T/cert.pem&users=$T/users&net=10.78.0.0/24"
start plain2 "$SLUICE" -v -L "sstp://127.0.0.1:$bp2?tls=0&cert=$T/mcert.pem&users=$T/users&net=10.79.0.0/24"
start proxy2 socat "openssl-listen:$pp2,reuseaddr,fork,cert=$T/real.pem,verify=0" "tcp:127.0.0.1:$bp2"
wait_port "$bp"
wait_port "$bp2"
wait_port "$pp2"
# behind NAME PROXY-PORT: a client through that proxy fetches a page
behind() {
	local c
	c=$(client "$1" "$2" "bob:builder")
	wait_log "$1" "session up" 15
	check "behind $1 (tls=0): a page" \
		bash -c "curl -fsS --max-time 20 -x socks5h://127.0.0.1:$c http://10.78.0.2:$web/token.txt | grep -q '$TOKEN'"
	kill "$(pid_of "$1")"
}
if command -v haproxy >/dev/null; then
	cat >"$T/haproxy.cfg" <<H
defaults
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
frontend fh
  bind 127.0.0.1:$hh ssl crt $T/real.pem
  mode http
  default_backend bh
backend bh
  mode http
  server s 127.0.0.1:$bp
frontend ft
  bind 127.0.0.1:$ht ssl crt $T/real.pem
  mode tcp
  default_backend bt
backend bt
  mode tcp
  server s 127.0.0.1:$bp
H
	start haproxy haproxy -db -f "$T/haproxy.cfg"
	wait_port "$hh"
	behind haproxy-http "$hh"
	behind haproxy-tcp "$ht"
else
	echo "(haproxy is not installed: scripts/deps.sh installs it)"
	fail "HAProxy in front"
fi
if [ -f /usr/lib/nginx/modules/ngx_stream_module.so ] && command -v nginx >/dev/null; then
	mkdir -p "$T/nginx"
	cat >"$T/nginx/nginx.conf" <<N
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
stream {
  server { listen 127.0.0.1:$ng ssl; ssl_certificate $T/cert.pem; ssl_certificate_key $T/key.pem; proxy_pass 127.0.0.1:$bp; }
}
N
	start nginx nginx -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log"
	wait_port "$ng"
	behind nginx-stream "$ng"
else
	echo "(nginx's stream module is not installed: scripts/deps.sh installs it)"
	fail "nginx in front"
fi
c5=$(client behind2 "$pp2" "bob:builder")
check "behind a TLS proxy whose certificate is not cert=: refused" \
	wait_log plain2 "crypto binding refused: the client saw another certificate" 15

# 5. misbehaving clients (tests/e2e/sstpd_probe.py)
PROBE="python3 $SRCDIR/tests/e2e/sstpd_probe.py"
out=$($PROBE silent 127.0.0.1 "$sp" 2>/dev/null)
secs=${out#closed }
check "a client that never authenticates is cut off at handshake-timeout (3 s): $out" \
	bash -c "[[ '$out' == closed* ]] && awk -v s='$secs' 'BEGIN { exit !(s >= 2 && s < 15) }'"
check_eq "data before the call: Call Abort" abort "$($PROBE data-first 127.0.0.1 "$sp" 2>/dev/null)"
check_eq "a malformed packet header: Call Abort" abort "$($PROBE garbage 127.0.0.1 "$sp" 2>/dev/null)"
check_eq "a protocol other than PPP: Naks, then Call Abort" "nak 2 abort" \
	"$($PROBE not-ppp 127.0.0.1 "$sp" 2>/dev/null)"
check_eq "a plain GET: 404" "HTTP/1.1 404 Not Found" "$($PROBE get 127.0.0.1 "$sp" 2>/dev/null)"
check "the good session survived all of it" \
	bash -c "[ \"\$(curl -fsS --max-time 20 -x socks5h://127.0.0.1:$c1 http://10.77.0.2:$web/token.txt)\" = '$TOKEN' ]"
check "the server counts refused bindings and aborts in /metrics" \
	bash -c "m=\$(curl -fsS http://127.0.0.1:$metrics/metrics); echo \"\$m\" | grep -q '^sluice_sstp_binding_failed_total{[^}]*} [1-9]' && echo \"\$m\" | grep -q '^sluice_sstp_aborted_total{[^}]*} [1-9]'"
check "the server is still running" alive server
finish
