#!/bin/bash
# The PPP hop (lwIP endpoint) against Linux pppd in the peers lab's QEMU
# guest as its server: pppd gives the hop 10.0.5.2 and negotiates IPV6CP
# with it (ipv6=1; interface identifiers ::1 and ::2).  The guest pings
# the hop's link-local address fe80::2 over the link (lwIP answers), and a
# port forward through the hop reaches a socat server in the guest on
# 10.0.5.1, the address only the link leads to.  pppd offers no router
# advertisement, so the hop has no global IPv6 address here (ppp_hop6.sh
# and sstp6.sh have the ones that do).  Runs in its own network namespace.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd socat
need_peers image
in_netns --net
ip link set lo up

cat >"$T/g.sh" <<'G'
socat TCP-LISTEN:7000,bind=10.0.5.1,reuseaddr SYSTEM:'echo hello-from-pppd' &
n=0
while [ $n -lt 50 ]; do
	ip -6 addr show dev ppp0 | grep -q 'inet6 fe80::1' && break
	sleep 0.2; n=$((n+1))
done
vm_prefix ping6 ping -6 -c 2 -W 3 fe80::2%ppp0 || { vm_result FAIL "ping -6 fe80::2%ppp0"; exit 1; }
vm_log "ping -6 of the hop's link-local address: ok"
n=0 # wait for the host's connection to the socat server (20 s at most)
while [ $n -lt 100 ] && kill -0 $! 2>/dev/null; do sleep 0.2; n=$((n+1)); done
G
run="$T/vmrun"
qs="$T/vm.sock"
"$PEERS" ppp --run "$run" --timeout 120 --pppd-opts "10.0.5.1:10.0.5.2 +ipv6 ipv6 ::1,::2" \
	--url none --guest-script "$T/g.sh" "listen:$qs" >"$T/vm.log" 2>&1 &
vpid=$!
# the guest's ttyS1 echoes until pppd has it in raw mode ("Connect:"): dial after
for _ in $(seq 900); do
	grep -aq "pppd: Connect:" "$run/console.log" 2>/dev/null && break
	kill -0 "$vpid" 2>/dev/null || break
	sleep 0.1
done
fw=$(free_port)
start hop "$SLUICE" -v -L "tcp://127.0.0.1:$fw/10.0.5.1:7000" -F "ppp+unix://$qs?ipv6=1"
for _ in $(seq 300); do grep -q "network up" "$T/hop.log" && break; sleep 0.1; done
check "pppd negotiated IPV6CP with the hop" grep -q "network up ipv4 ipv6" "$T/hop.log"
check "the hop took the address pppd gave" grep -q "up, 10.0.5.2 peer 10.0.5.1" "$T/hop.log"
got=""
for _ in $(seq 20); do
	got=$(socat -T 5 -u TCP:127.0.0.1:"$fw" - 2>/dev/null)
	[ -n "$got" ] && break
	sleep 0.5
done
check_eq "a port forward through the hop reaches the guest's 10.0.5.1" hello-from-pppd "$got"
rc=0
wait "$vpid" || rc=$?
check_eq "the guest pinged the hop's fe80::2 over IPv6 and passed" 0 "$rc"
if [ "$rc" != 0 ]; then
	tail -n 15 "$T/vm.log"
	tr -d '\r' <"$run/console.log" 2>/dev/null | grep -a 'PEERS-\|ping6\|pppd' | tail -n 25
fi
check "the hop is alive" alive hop
finish
