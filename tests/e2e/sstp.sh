#!/bin/bash
# The SSTP client against a real SSTP server: SoftEther VPN Server (Debian's
# softether-vpnserver, as the peers lab runs it: tests/peers/softether.sh)
# with SecureNAT, in a private network namespace.  The web server listens on
# 10.77.0.1, an address that exists only on this namespace's loopback, so it
# is reachable only through SoftEther's NAT, i.e. through the tunnel.
#
# Checked: MS-CHAPv2 and PAP sessions; curl through a port forward and
# through the proxy (SOCKS5 and HTTP); a name resolved with the DNS server
# the session gives; UDP (dig through v2ray's SOCKS5 UDP and dns://,
# iperf3 -u through a udp:// forward); 100 MiB with sha256; 50 concurrent
# connections; certificate pinning and verification; a wrong password; the
# chain through an HTTP proxy; the server killed and restarted (sluice
# redials and serves again); a clean disconnect on SIGTERM.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd curl openssl tinyproxy
need_peers softether
in_netns --net --mount
ip link set lo up
ip addr add 10.77.0.1/32 dev lo
# SecureNAT's DNS proxy asks the system's resolver: in here, that is a
# name server of the test's own on the VPN side
mount --make-rprivate /
echo "nameserver 10.77.0.1" >"$T/resolv.conf"
mount --bind "$T/resolv.conf" /etc/resolv.conf
start dns /usr/bin/python3 "$SRCDIR/tests/e2e/tools.py" dns-server 10.77.0.1 53 10.77.0.1
BIG=${SLUICE_E2E_SSTP_BIG:-100M}
U=vpnuser
PW='S3cret-pw!'
SE="$T/se"

se_start() { "$PEERS" softether start "$SE" "$U" "$PW" >>"$T/softether.log" 2>&1; }
se_stop() { "$PEERS" softether stop "$SE" >>"$T/softether.log" 2>&1; }
trap 'se_stop; cleanup' EXIT

mkdir -p "$T/www"
TOKEN="through-sstp-$$-$RANDOM"
echo "$TOKEN" >"$T/www/token.txt"
big=$(random_file "$BIG")
mv "$big" "$T/www/big"
small=$(random_file 1M)
mv "$small" "$T/www/small"
start web /usr/bin/python3 -m http.server 8080 --bind 10.77.0.1 --directory "$T/www"
se_start || { echo "FAIL: SoftEther did not start"; cat "$T/softether.log"; exit 1; }

SURL="sstp://$U:$(printf %s "$PW" | sed 's/!/%21/')@127.0.0.1"

# 1. MS-CHAPv2: a port forward and the proxy on one session
f1=$(free_port)
p1=$(free_port)
m1=$(free_port)
d1=$(free_port)
i1=$(free_port)
start cli "$SLUICE" -v --metrics "127.0.0.1:$m1" -L "tcp://127.0.0.1:$f1/10.77.0.1:8080" -L "proxy://127.0.0.1:$p1" \
	-L "dns://127.0.0.1:$d1" -L "tcp://127.0.0.1:$i1/10.77.0.1:5201" -L "udp://127.0.0.1:$i1/10.77.0.1:5201" -F "$SURL?insecure=1&auth=mschapv2"
wait_port "$f1"
check "MS-CHAPv2: a page through the port forward" bash -c \
	"curl -fsS -m 30 http://127.0.0.1:$f1/token.txt | grep -qx '$TOKEN'"
check "the session is MS-CHAPv2 with a crypto binding from its keys" bash -c \
	"grep -q 'MS-CHAPv2' '$T/cli.log' && grep -q 'call connected (crypto binding SHA-256, MS-CHAPv2 keys)' '$T/cli.log'"
check "the session got a SecureNAT address" grep -Eq "session up: address 192\.168\.30\." "$T/cli.log"
check "metrics show the session, its address and DNS" bash -c \
	"curl -fsS -m 5 http://127.0.0.1:$m1/metrics | grep -E 'sluice_tunnel_session_info\{hop=\"sstp://127.0.0.1:443\",address=\"192\.168\.30\.[0-9]+\",dns=\"[0-9.]+' "
check "SOCKS5 through the proxy" bash -c \
	"curl -fsS -m 30 -x socks5h://127.0.0.1:$p1 http://10.77.0.1:8080/token.txt | grep -qx '$TOKEN'"
check "HTTP proxy through the proxy" bash -c \
	"curl -fsS -m 30 -x http://127.0.0.1:$p1 http://10.77.0.1:8080/token.txt | grep -qx '$TOKEN'"
check "a name resolved inside the VPN (the DNS server IPCP gave)" bash -c \
	"curl -fsS -m 30 -x socks5h://127.0.0.1:$p1 http://web.inside.test:8080/token.txt | grep -qx '$TOKEN'"
# UDP through the tunnel: dig behind v2ray (a dokodemo-door UDP inbound
# and a socks outbound: a SOCKS5 UDP client of its own) asks the DNS
# server IPCP gave (SecureNAT's DNS proxy), through the proxy's UDP
# ASSOCIATE and the SSTP hop's lwIP UDP pcb
sdns=$(sed -n 's/.*session up: address [0-9.]*, peer [0-9.]*, DNS \([0-9.]*\),.*/\1/p' "$T/cli.log" | head -1)
if command -v v2ray >/dev/null && command -v dig >/dev/null && [ -n "$sdns" ]; then
	vd=$(free_port)
	cat >"$T/v2.json" <<J
{"log": {"loglevel": "warning"},
 "inbounds": [{"port": $vd, "listen": "127.0.0.1", "protocol": "dokodemo-door",
   "settings": {"address": "$sdns", "port": 53, "network": "udp"}}],
 "outbounds": [{"protocol": "socks", "settings": {"servers": [{"address": "127.0.0.1", "port": $p1}]}}]}
J
	start v2ray v2ray -config "$T/v2.json"
	sleep 1
	check_eq "UDP: dig through v2ray's SOCKS5 UDP and the SSTP hop to SecureNAT's DNS ($sdns)" \
		10.77.0.1 "$(dig +short +time=3 +tries=2 @127.0.0.1 -p "$vd" udp.inside.test A)"
	check "the datagrams went through the SSTP hop's UDP pcbs" bash -c \
		"curl -fsS -m 5 http://127.0.0.1:$m1/metrics | grep -Eq '^sluice_lwip_udp_datagrams_in_total\{[^}]*\} [1-9]'"
	kill "$(pid_of v2ray)"
	check_eq "UDP: dig through -L dns://, which asks the DNS server IPCP gave" \
		10.77.0.1 "$(dig +short +time=3 +tries=2 @127.0.0.1 -p "$d1" dns.inside.test A)"
else
	echo "    (no v2ray or dig: the UDP check is skipped)"
fi
# an iperf3 -u stream through a udp:// forward (its control connection
# through tcp:// on the same port), SecureNAT's UDP NAT to iperf3 -s
if command -v iperf3 >/dev/null; then
	lwip_out() { curl -fsS -m 5 "http://127.0.0.1:$m1/metrics" |
		sed -n 's/^sluice_lwip_udp_datagrams_out_total{[^}]*} \([0-9]*\)$/\1/p' | head -1; }
	start iperf3s iperf3 -s -B 10.77.0.1 -p 5201
	for _ in $(seq 50); do grep -q "Server listening" "$T/iperf3s.log" && break; sleep 0.1; done
	o0=$(lwip_out)
	iperf3 -u -c 127.0.0.1 -p "$i1" -b 5M -t 1 -l 1200 -J >"$T/iperf.json" 2>&1
	got=$(iperf_arrived "$T/iperf.json")
	o1=$(lwip_out)
	check "UDP: iperf3 -u through a udp:// forward and SecureNAT ($got datagrams arrived)" test "${got:-0}" -gt 0
	check "... sent by the SSTP hop's UDP pcbs (${o0:-0} -> ${o1:-0})" test "$((${o1:-0} - ${o0:-0}))" -ge "${got:-1}"
	kill "$(pid_of iperf3s)"
fi
t0=$(date +%s.%N)
got=$(curl -fsS -m 600 "http://127.0.0.1:$f1/big" | sha256sum | cut -d' ' -f1)
t1=$(date +%s.%N)
check_eq "$BIG through the tunnel with sha256" "$(sha "$T/www/big")" "$got"
echo "    $(python3 -c "print(round($(stat -c %s "$T/www/big")*8/1e6/($t1-$t0),1))") Mbit/s"
want=$(sha "$T/www/small")
seq 50 | xargs -P 50 -I{} sh -c \
	"curl -fsS -m 120 http://127.0.0.1:$f1/small | sha256sum | cut -d' ' -f1" >"$T/par.out"
check_eq "50 concurrent connections, each 1 MiB with sha256" 50 "$(grep -cx "$want" "$T/par.out")"

# 2. the server killed and started again: sluice redials, serves again
se_stop
check_fails "while the server is down, a connection fails cleanly" \
	curl -fsS -m 10 "http://127.0.0.1:$f1/token.txt"
check "sluice is still running" alive cli
se_start
check "after the restart sluice redials and serves again" bash -c \
	"for i in \$(seq 30); do curl -fsS -m 10 http://127.0.0.1:$f1/token.txt 2>/dev/null | grep -qx '$TOKEN' && exit 0; sleep 1; done; exit 1"

# 3. a clean disconnect on SIGTERM
kill -TERM "$(pid_of cli)"
for _ in $(seq 50); do alive cli || break; sleep 0.1; done
check "SIGTERM: sluice exits" bash -c "! kill -0 $(pid_of cli) 2>/dev/null"
check "SIGTERM: the call is disconnected, not dropped" grep -q "sstp: call disconnected" "$T/cli.log"

# 4. PAP (the binding then uses a zero HLAK, as the spec says)
f2=$(free_port)
#    (with ipv6=1: SoftEther negotiates IPV6CP too; SecureNAT routes no
#    IPv6, so lwIP has only its link-local address and IPv4 carries on)
start pap "$SLUICE" -v -L "tcp://127.0.0.1:$f2/10.77.0.1:8080" -F "$SURL?insecure=1&auth=pap&ipv6=1"
wait_port "$f2"
# (SecureNAT sometimes takes 9 s to answer IPCP, nearly all of a dial's
# 10 s wait for the session: wait for the session first)
for _ in $(seq 300); do grep -q "session up" "$T/pap.log" && break; sleep 0.1; done
check "PAP: a page through the port forward" bash -c \
	"curl -fsS -m 30 http://127.0.0.1:$f2/token.txt | grep -qx '$TOKEN'"
check "PAP: the binding has no inner keys" grep -q "no inner keys" "$T/pap.log"
check "SoftEther negotiated IPV6CP with sluice" grep -q "network up ipv4 ipv6" "$T/pap.log"
kill "$(pid_of pap)"

# 5. certificate checks: the default verification refuses SoftEther's
#    self-signed certificate; a pin of its SHA-256 accepts it; a wrong pin refuses it
pin=$(openssl s_client -connect 127.0.0.1:443 </dev/null 2>/dev/null |
	openssl x509 -outform DER | sha256sum | cut -d' ' -f1)
f3=$(free_port)
start verify "$SLUICE" -v -L "tcp://127.0.0.1:$f3/10.77.0.1:8080" -F "$SURL"
wait_port "$f3"
check_fails "CA verification (default) refuses a self-signed server" \
	curl -fsS -m 15 "http://127.0.0.1:$f3/token.txt"
check "... and says why" grep -qi "certificate\|TLS" "$T/verify.log"
kill "$(pid_of verify)"
f4=$(free_port)
start pinned "$SLUICE" -v -L "tcp://127.0.0.1:$f4/10.77.0.1:8080" -F "$SURL?pin=$pin"
wait_port "$f4"
check "a pinned certificate hash is accepted" bash -c \
	"curl -fsS -m 30 http://127.0.0.1:$f4/token.txt | grep -qx '$TOKEN'"
kill "$(pid_of pinned)"
f5=$(free_port)
start badpin "$SLUICE" -v -L "tcp://127.0.0.1:$f5/10.77.0.1:8080" \
	-F "$SURL?pin=$(echo x | sha256sum | cut -d' ' -f1)"
wait_port "$f5"
check_fails "a wrong pin is refused" curl -fsS -m 15 "http://127.0.0.1:$f5/token.txt"
kill "$(pid_of badpin)"

# 6. a wrong password: no session, a clear error, the process stays up
f6=$(free_port)
start badpw "$SLUICE" -v -L "tcp://127.0.0.1:$f6/10.77.0.1:8080" \
	-F "sstp://$U:wrong@127.0.0.1?insecure=1"
wait_port "$f6"
check_fails "a wrong password gets no session" curl -fsS -m 15 "http://127.0.0.1:$f6/token.txt"
check "... with a clear error" grep -q "authentication failed\|auth.*fail" "$T/badpw.log"
check "... and sluice stays up" alive badpw
kill "$(pid_of badpw)"

# 7. through an HTTP proxy (tinyproxy): -F http://proxy -F sstp://
tp=$(free_port)
printf 'Port %s\nListen 127.0.0.1\nTimeout 600\nMaxClients 100\nConnectPort 443\nLogLevel Connect\n' "$tp" >"$T/tinyproxy.conf"
start tinyproxy tinyproxy -d -c "$T/tinyproxy.conf"
wait_port "$tp"
f7=$(free_port)
start chain "$SLUICE" -v -L "tcp://127.0.0.1:$f7/10.77.0.1:8080" \
	-F "http://127.0.0.1:$tp" -F "$SURL?insecure=1"
wait_port "$f7"
check "through an HTTP proxy in front of SSTP" bash -c \
	"curl -fsS -m 30 http://127.0.0.1:$f7/token.txt | grep -qx '$TOKEN'"
check "... the proxy carried the CONNECT" grep -q "CONNECT" "$T/tinyproxy.log"

# 8. sluice's own SSTP server (-L sstp://) answers as SoftEther does, byte
# for byte: the head of the 200 (Date's value aside) and the Call Connect
# Ack (the nonce aside; the hash bitmap too: SoftEther offers SHA-256
# only, sluice SHA-256 and SHA-1 unless hash= says otherwise)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/sd-key.pem" -out "$T/sd-cert.pem" -days 2 \
	-subj /CN=sstp.test >/dev/null 2>&1
printf 'u:p\n' >"$T/sd-users"
chmod 600 "$T/sd-users"
sdp=$(free_port)
start sstpd "$SLUICE" -L "sstp://127.0.0.1:$sdp?cert=$T/sd-cert.pem&certkey=$T/sd-key.pem&users=$T/sd-users&hash=sha256"
wait_port "$sdp"
PROBE="python3 $SRCDIR/tests/e2e/sstpd_probe.py"
$PROBE dump 127.0.0.1 443 >"$T/dump-softether" 2>&1
$PROBE dump 127.0.0.1 "$sdp" >"$T/dump-sluice" 2>&1
cat "$T/dump-softether"
check "sluice's SSTP server answers SSTP_DUPLEX_POST and Call Connect Request as SoftEther does" \
	diff "$T/dump-softether" "$T/dump-sluice"

finish
