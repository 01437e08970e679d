#!/bin/bash
# The PPP gateway against a real peer: Linux pppd in the peers lab's QEMU
# guest (tests/peers) dials sluice over the VM's serial port (a UNIX socket),
# authenticates with PAP, CHAP and MS-CHAPv2 (and gets no session over TCP
# with PAP alone, which ppp+tcp offers only when asked), fetches a page from a server on
# the host's loopback through 10.0.2.2, resolves a name through the
# gateway's DNS alias, and in restricted mode reaches only the listed
# services.  Runs in its own network and mount namespace: the only network
# is loopback, and /etc/resolv.conf points at a DNS server of the test's.
set -u
. "$(dirname "$0")/lib.sh"
need_peers image
in_netns --net --mount
ip link set lo up
TOOLS="python3 $SRCDIR/tests/e2e/tools.py"

# DNS: the host resolver is a test server on 127.0.0.1 that answers every
# name with the host alias
echo "nameserver 127.0.0.1" >"$T/resolv.conf"
mount --bind "$T/resolv.conf" /etc/resolv.conf
start dns $TOOLS dns-server 127.0.0.1 53 10.0.2.2

TOKEN="ppp-ok-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
start web python3 -m http.server 8080 --bind 127.0.0.1 --directory "$T/www"
wait_port 8080
mkdir -p "$T/www2"
echo "service-$TOKEN" >"$T/www2/token.txt"
start web2 python3 -m http.server 8081 --bind 127.0.0.1 --directory "$T/www2"
wait_port 8081

printf 'alice:wonderland\nbob:builder\n' >"$T/users"
chmod 600 "$T/users"

# vm NAME SOCK [peers ppp options]: boot the guest against SOCK
vm() {
	local name=$1 sock=$2
	shift 2
	"$PEERS" ppp --run "$T/vmrun-$name" --timeout 120 "$@" "$sock" >"$T/vm-$name.log" 2>&1
}

# dns check and fetch by name inside the guest
cat >"$T/dns.sh" <<'G'
vm_log "resolving through the gateway"
if ! nslookup gateway.test 10.0.2.3 2>&1 | grep -q "Address: 10.0.2.2"; then
	vm_result FAIL "no answer from the gateway's DNS alias"; exit 1
fi
echo "nameserver 10.0.2.3" >/etc/resolv.conf
vm_http_get "http://gateway.test:8080/token.txt" "$HTTP_EXPECT" || { vm_result FAIL "fetch by name failed"; exit 1; }
G

for method in pap chap mschapv2; do
	sock="$T/$method.sock"
	start "gw-$method" "$SLUICE" -v -L "ppp+unix://$sock?users=$T/users&auth=$method&pcap=$T/$method.pcap" \
		--metrics "127.0.0.1:$((9100 + ${#method}))"
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	case $method in
	pap) refuse="refuse-chap refuse-mschap refuse-mschap-v2 refuse-eap" ;;
	chap) refuse="refuse-pap refuse-mschap refuse-mschap-v2 refuse-eap" ;;
	mschapv2) refuse="refuse-pap refuse-chap refuse-mschap refuse-eap" ;;
	esac
	if vm "$method" "$sock" --user alice --password wonderland --pppd-opts "$refuse" \
		--url "http://10.0.2.2:8080/token.txt" --expect "$TOKEN" --guest-script "$T/dns.sh"; then
		pass "pppd with $method: IPCP up, page from host loopback, name resolved through the gateway"
	else
		fail "pppd with $method"
		tail -n 30 "$T/vm-$method.log"
	fi
	check "sluice logged the $method session up" grep -q "ppp: up, peer 10.0.2.15 user alice" "$T/gw-$method.log"
	kill "$(pid_of "gw-$method")"
	sleep 0.3
	check "a pcap of the $method session was written" bash -c "[ \$(stat -c %s '$T/$method.pcap') -gt 100 ]"
done

# a wrong password is refused
sock="$T/wrong.sock"
start gw-wrong "$SLUICE" -v -L "ppp+unix://$sock?users=$T/users"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
if vm wrong "$sock" --user alice --password "not it" --url none --ppp-timeout 20; then
	fail "a wrong password must not bring PPP up"
else
	pass "a wrong password is refused"
fi

# the same gateway on TCP (qemu -serial tcp:...) and on stdin/stdout (like
# slirp, here behind socat), without authentication as asked
tp=$(free_port)
start gw-tcp "$SLUICE" -L "ppp+tcp://127.0.0.1:$tp?auth=none&max-sessions=2"
wait_port "$tp"
if vm tcp "tcp:127.0.0.1:$tp" --url "http://10.0.2.2:8080/token.txt" --expect "$TOKEN"; then
	pass "ppp+tcp: pppd over the VM's serial port as TCP, page from host loopback"
else
	fail "ppp+tcp"
	tail -n 30 "$T/vm-tcp.log"
fi
# on TCP, PAP (the password in clear) is not offered unless auth= names it:
# a pppd that knows only PAP gets no session from the default gateway
tq=$(free_port)
start gw-tcppap "$SLUICE" -v -L "ppp+tcp://127.0.0.1:$tq?users=$T/users"
wait_port "$tq"
if vm tcppap "tcp:127.0.0.1:$tq" --user alice --password wonderland --url none --ppp-timeout 20 \
	--pppd-opts "refuse-chap refuse-mschap refuse-mschap-v2 refuse-eap"; then
	fail "ppp+tcp must not offer PAP by default"
else
	pass "ppp+tcp by default: a PAP-only pppd gets no session"
fi
check_fails "... and was never authenticated with PAP" grep -q "authenticating the peer with PAP" \
	"$T/gw-tcppap.log"
sock="$T/stdio.sock"
printf '#!/bin/sh\nexec "%s" -L "ppp+stdio://?auth=none"\n' "$SLUICE" >"$T/stdio-gw.sh"
chmod +x "$T/stdio-gw.sh"
start gw-stdio socat UNIX-LISTEN:"$sock" EXEC:"$T/stdio-gw.sh"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
if vm stdio "$sock" --url "http://10.0.2.2:8080/token.txt" --expect "$TOKEN"; then
	pass "ppp+stdio: pppd talking to sluice's stdin/stdout"
else
	fail "ppp+stdio"
	tail -n 30 "$T/vm-stdio.log"
fi

# restricted: only the listed service is reachable
sock="$T/restricted.sock"
start gw-restricted "$SLUICE" -v -L "ppp+unix://$sock?auth=none&restricted=1&service=10.0.2.100:80->127.0.0.1:8081"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
cat >"$T/restricted.sh" <<'G'
if timeout 8 wget -q -O /tmp/x http://10.0.2.2:8080/token.txt; then
	vm_result FAIL "restricted mode let an unlisted service through"; exit 1
fi
vm_log "unlisted 10.0.2.2:8080 refused, as it should be"
G
if vm restricted "$sock" --url "http://10.0.2.100/token.txt" --expect "service-$TOKEN" \
	--guest-script "$T/restricted.sh"; then
	pass "restricted mode: the listed service works, anything else does not"
else
	fail "restricted mode"
	tail -n 30 "$T/vm-restricted.log"
fi
check "the gateway survived every session" alive gw-restricted

finish
