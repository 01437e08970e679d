#!/bin/bash
# sluice's SSTP server against Linux's SSTP client: sstpc (sstp-client
# 1.0.18) with pppd in the peers lab's QEMU guest (tests/peers) connects
# over TLS, authenticates with MS-CHAPv2 (the server's default and only
# method here), binds the call to the server's certificate (the server
# verifies the Compound MAC and refuses the call otherwise), gets an
# address from net=, fetches a page from the host's loopback through the
# gateway's host alias and resolves a name through its DNS alias.  A wrong
# password brings no session up (six tries each: sstpc 1.0.18 often quits
# before its first SSTP message, see tests/peers/guest/sstpc.sh).  Runs in
# its own network and mount namespace: /etc/resolv.conf points at the
# test's DNS server, which answers every name with the host alias.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd openssl
need_peers image
in_netns --net --mount
ip link set lo up
TOOLS="python3 $SRCDIR/tests/e2e/tools.py"

echo "nameserver 127.0.0.1" >"$T/resolv.conf"
mount --bind "$T/resolv.conf" /etc/resolv.conf
start dns $TOOLS dns-server 127.0.0.1 53 10.77.0.2

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
	-subj /CN=sstp.test >/dev/null 2>&1
printf 'alice:wonder land\n' >"$T/users"
chmod 600 "$T/users"
TOKEN="sstpc-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
http_server 8080 "$T/www"

start server "$SLUICE" -v -L "sstp://127.0.0.1:443?cert=$T/cert.pem&certkey=$T/key.pem&users=$T/users&net=10.77.0.0/24&pcap=$T/sstp.pcap"
wait_port 443

cat >"$T/dns.sh" <<'G'
ip route replace 10.77.0.3/32 dev "$(cut -d' ' -f1 /run/ppp-up)"
if ! nslookup gateway.test 10.77.0.3 2>&1 | grep -q "Address: 10.77.0.2"; then
	vm_result FAIL "no answer from the gateway's DNS alias"; exit 1
fi
echo "nameserver 10.77.0.3" >/etc/resolv.conf
vm_http_get "http://gateway.test:8080/token.txt" "$HTTP_EXPECT" || { vm_result FAIL "fetch by name failed"; exit 1; }
G
if "$PEERS" sstpc --run "$T/vmrun" --timeout 150 --tries 6 --url "http://10.77.0.2:8080/token.txt" \
	--expect "$TOKEN" --guest-script "$T/dns.sh" 127.0.0.1:443 alice "wonder land" \
	>"$T/vm.log" 2>&1; then
	pass "sstpc in the guest: call up, page from the host's loopback, a name through the gateway's DNS"
else
	fail "sstpc in the guest"
	tail -n 30 "$T/vm.log"
fi
check "the server verified sstpc's crypto binding (MS-CHAPv2 keys)" \
	grep -q "call connected, user alice (crypto binding SHA-256, MS-CHAPv2 keys)" "$T/server.log"
check "the server gave sstpc an address from net=" grep -q "ppp: up, peer 10.77.0.15 user alice" \
	"$T/server.log"

if "$PEERS" sstpc --run "$T/vmrun-wrong" --timeout 180 --tries 6 --ppp-timeout 15 --url none \
	127.0.0.1:443 alice "not it" >"$T/vm-wrong.log" 2>&1; then
	fail "a wrong password must not bring the call up"
else
	pass "sstpc with a wrong password: no session"
fi
check "the server refused the wrong password" grep -q 'wrong secret for user "alice"' "$T/server.log"
kill "$(pid_of server)"
sleep 0.3
check "a pcap of the sessions was written" bash -c "[ \$(stat -c %s '$T/sstp.pcap') -gt 100 ]"
finish
