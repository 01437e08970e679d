#!/bin/bash
# The peers lab (tests/peers) against itself, without sluice: the real
# peers the other tests measure sluice against must work with each other,
# so that a failure there is sluice's and not the lab's.
#   a. pppd in the guest dials Debian's slirp (PPP mode, on a pty, with the
#      lab's select() shim) and fetches a page from the host's loopback
#      through slirp's 10.0.2.2.
#   b. sstpc in the guest (SSTP_DUPLEX_POST, then pppd with its plugin and
#      MS-CHAPv2) reaches SoftEther with the lab's SSTP fix, pings
#      SecureNAT's virtual host and fetches a page from 10.77.0.1, an
#      address on this namespace's loopback that only SecureNAT's NAT leads
#      to.
# In a network namespace of its own (loopback only).  Two guest runs, about
# 25 s under TCG.  sluice takes no part, so an ASan build has nothing to
# find here: the label keeps it to the normal build (.ci/run).
# ctest-label: slow
set -u
. "$(dirname "$0")/lib.sh"
need_cmd socat
need_peers image slirp softether
in_netns --net
ip link set lo up
ip addr add 10.77.0.1/32 dev lo

TOKEN="lab-$$-$RANDOM"
mkdir -p "$T/www" "$T/home"
echo "$TOKEN" >"$T/www/token.txt"
start web python3 -m http.server 8080 --bind 127.0.0.1 --directory "$T/www"
start web2 python3 -m http.server 8081 --bind 10.77.0.1 --directory "$T/www"
wait_port 8080

# a. slirp asks its client for an address for itself: pppd offers 10.0.2.2
sock=$T/slirp.sock
start slirp socat UNIX-LISTEN:"$sock" EXEC:"env HOME=$T/home $PEERS slirp ppp",pty,setsid,ctty,raw,echo=0
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
if "$PEERS" ppp --pppd-opts ":10.0.2.2" --url "http://10.0.2.2:8080/token.txt" --expect "$TOKEN" \
	"$sock" >"$T/vm-slirp.log" 2>&1; then
	pass "a: pppd (guest) and slirp: IPCP up, a page from the host's loopback"
else
	fail "a: pppd (guest) and slirp"
	tail -n 20 "$T/vm-slirp.log"
fi

# b. sstpc and SoftEther
PW='lab-Pw!1'
if "$PEERS" softether start "$T/se" labuser "$PW" >"$T/softether.log" 2>&1; then
	if "$PEERS" sstpc --ping 192.168.30.1 --url "http://10.77.0.1:8081/token.txt" --expect "$TOKEN" \
		127.0.0.1:443 labuser "$PW" >"$T/vm-sstpc.log" 2>&1; then
		pass "b: sstpc (guest) and SoftEther: PPP over SSTP, ping through it, a page through SecureNAT"
	else
		fail "b: sstpc (guest) and SoftEther"
		tail -n 20 "$T/vm-sstpc.log"
	fi
	"$PEERS" softether stop "$T/se"
else
	fail "b: SoftEther did not start"
	cat "$T/softether.log"
fi
finish
