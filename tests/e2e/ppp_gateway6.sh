#!/bin/bash
# IPv6 and ICMP through the PPP gateway, against Linux pppd in the peers
# lab's QEMU guest (tests/peers): pppd negotiates IPV6CP with sluice
# (ipv6=1), the guest's kernel takes a global address from the router
# advertisements libslirp sends through the link (SLAAC, fd00::/64), pings
# the gateway over IPv6, fetches pages over IPv6 from the host's ::1
# (through the host alias fd00::2) and from an address of this namespace
# (fd99::1, reached from the gateway's own sockets), and pings an IPv4
# address of this namespace (172.31.99.1: libslirp forwards the echo from
# an unprivileged ICMP socket, which net.ipv4.ping_group_range allows).
# Runs in its own network namespace: the guest has no other network.
set -u
. "$(dirname "$0")/lib.sh"
need_peers image
in_netns --net
ip link set lo up
ip addr add 172.31.99.1/32 dev lo
ip addr add fd99::1/128 dev lo
sysctl -qw net.ipv4.ping_group_range="0 2147483647"

TOKEN="ppp6-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
start web python3 -m http.server 8080 --bind :: --directory "$T/www"
for _ in $(seq 100); do ss -ltn | grep -q ':8080 ' && break; sleep 0.1; done

sock="$T/gw.sock"
start gw "$SLUICE" -v -L "ppp+unix://$sock?auth=none&ipv6=1"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done

cat >"$T/v6.sh" <<'G'
n=0
while [ $n -lt 100 ]; do # SLAAC from the gateway's router advertisement
	ip -6 addr show dev ppp0 scope global | grep -q 'inet6 fd00::' && break
	sleep 0.2; n=$((n+1))
done
vm_prefix ip ip -6 addr show dev ppp0
ip -6 addr show dev ppp0 scope global | grep -q 'inet6 fd00::' ||
	{ vm_result FAIL "no global IPv6 address from the gateway's RA"; exit 1; }
vm_log "SLAAC address from the gateway: ok"
vm_prefix ping6 ping -6 -c 2 -W 3 fd00::2 || { vm_result FAIL "ping -6 fd00::2"; exit 1; }
vm_log "ping -6 of the gateway: ok"
vm_http_get "http://[fd00::2]:8080/token.txt" "$HTTP_EXPECT" || { vm_result FAIL "HTTP over IPv6 to the host alias"; exit 1; }
vm_log "HTTP over IPv6 to the host's ::1: ok"
vm_http_get "http://[fd99::1]:8080/token.txt" "$HTTP_EXPECT" || { vm_result FAIL "HTTP to the IPv6 literal fd99::1"; exit 1; }
vm_log "HTTP to [fd99::1]: ok"
vm_prefix ping ping -c 2 -W 3 10.0.2.2 || { vm_result FAIL "ping 10.0.2.2"; exit 1; }
vm_prefix ping ping -c 2 -W 3 172.31.99.1 || { vm_result FAIL "ping 172.31.99.1"; exit 1; }
vm_log "ping of the far side 172.31.99.1: ok"
G
if "$PEERS" ppp --run "$T/vmrun" --timeout 150 --pppd-opts "+ipv6 noauth" \
	--url "http://10.0.2.2:8080/token.txt" --expect "$TOKEN" --guest-script "$T/v6.sh" \
	"$sock" >"$T/vm.log" 2>&1; then
	pass "pppd with IPV6CP: SLAAC address, ping -6, HTTP over IPv6 (host alias and fd99::1), ping of the far side"
else
	fail "pppd with IPV6CP"
	grep -E "PEERS-LOG|PEERS-RESULT|ping|ip:" "$T/vmrun/console.log" 2>/dev/null | tail -n 30
	tail -n 20 "$T/vm.log"
fi
check "sluice negotiated IPv6 with pppd" grep -q "network up ipv4 ipv6" "$T/gw.log"
check "the fetches came over IPv6" grep -q "^::1 .*token.txt" "$T/web.log"
check "... and to fd99::1" grep -q "^fd99::1 .*token.txt" "$T/web.log"
check "the gateway is alive" alive gw
finish
