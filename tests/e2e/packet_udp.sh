#!/bin/bash
# UDP through the packet hops (lwIP endpoint): the rootless UDP VPN and the
# PPP hop (over TCP to sluice's PPP gateway), each behind a SOCKS5 front,
# driven by a SOCKS5 UDP client someone else wrote: v2ray (a dokodemo-door
# UDP inbound, a socks outbound) with dig in front of it.
#
#   client ns C  veth 192.168.82.2 ---- 192.168.82.1  server ns S
#     v2ray -> socks5://:1080 -F vpn://        sluice -L vpn://...:5555
#           -> socks5://:1081 -F ppp+tcp://    sluice -L ppp+tcp://...:2323
#                                              dnsmasq (S's resolver),
#                                              UDP echo on 172.31.99.1
#
# Checks: dig A and AAAA (an AAAA-only name) through each hop, answered by
# dnsmasq behind the tunnel's DNS server (the VPN's alias, IPCP's);
# the far side's UDP echo sees the datagram come from S, not from C, also
# through a udp:// forward to a name resolved inside the tunnel; a
# capture on C's side of the veth shows no UDP leaving C but the VPN's
# own; datagrams to refused targets (loopback inside the tunnel, the
# listener's deny-target) are dropped and counted; a flood of 20000
# datagrams through the PPP hop is dropped where it does not fit (the
# link's write queue is capped), the association and the session go on
# and the client's memory stays bounded.  Needs root, dig, dnsmasq,
# v2ray, tcpdump and socat (skipped otherwise).
. "$(dirname "$0")/lib.sh"
need_cmd ip dig dnsmasq v2ray tcpdump socat
S=pkuS$$
C=pkuC$$
netns_pair "$S" "$C" 192.168.82
ip -n "$S" addr add 172.31.99.1/32 dev lo

mkdir -p "/etc/netns/$S"
echo "nameserver 127.0.0.1" >"/etc/netns/$S/resolv.conf"
start dns inS dnsmasq --no-daemon --no-resolv --no-hosts --port=53 --listen-address=127.0.0.1 \
	--local=/test/ --bind-interfaces --user=root --pid-file="$T/dnsmasq.pid" \
	--host-record=a.test,172.31.99.1 --host-record=v6only.test,fd99::1 --log-queries
# the far side: a UDP echo that answers with the address it saw
start echo inS socat UDP4-RECVFROM:7777,bind=172.31.99.1,fork SYSTEM:'echo "from $SOCAT_PEERADDR"'

echo 'pw' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null
start vpnsrv inS "$SLUICE" -v -L "vpn://192.168.82.1:5555?users=$T/users.txt&net=10.10.0.0/24&net6=fd10::/64"
start pppgw inS "$SLUICE" -v -L "ppp+tcp://192.168.82.1:2323?auth=none"
for _ in $(seq 50); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/vpnsrv.log" | head -1)
	[ -n "$pub" ] && break
	sleep 0.1
done

start cap inC tcpdump -i "v$C" -nn -U -w "$T/c.pcap" udp and not port 5555
start vpn inC "$SLUICE" -v --metrics 127.0.0.1:9101 -L "socks5://127.0.0.1:1080?deny-target=172.31.99.0/24" \
	-L dns://127.0.0.1:5453 -L udp://127.0.0.1:5455/10.10.0.254:53 -L udp://127.0.0.1:5457/a.test:7777 \
	-F "vpn://alice:pw@192.168.82.1:5555?pub=$pub"
# (under ASan: no quarantine, so freed memory is reused as it would be and
# the RSS check below measures sluice's queues, not ASan's)
start ppp inC env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
	"$SLUICE" -v --metrics 127.0.0.1:9102 -L "socks5://127.0.0.1:1081" \
	-L dns://127.0.0.1:5454 -L udp://127.0.0.1:5458/a.test:7777 -F "ppp+tcp://192.168.82.1:2323"
cat >"$T/v2.json" <<J
{"log": {"loglevel": "warning"},
 "inbounds": [
  {"tag": "vdns", "port": 5353, "listen": "127.0.0.1", "protocol": "dokodemo-door",
   "settings": {"address": "10.10.0.254", "port": 53, "network": "udp"}},
  {"tag": "pdns", "port": 5354, "listen": "127.0.0.1", "protocol": "dokodemo-door",
   "settings": {"address": "10.0.2.3", "port": 53, "network": "udp"}},
  {"tag": "vecho", "port": 5355, "listen": "127.0.0.1", "protocol": "dokodemo-door",
   "settings": {"address": "172.31.99.1", "port": 7777, "network": "udp"}},
  {"tag": "pecho", "port": 5356, "listen": "127.0.0.1", "protocol": "dokodemo-door",
   "settings": {"address": "172.31.99.1", "port": 7777, "network": "udp"}}],
 "outbounds": [
  {"tag": "vpn", "protocol": "socks", "settings": {"servers": [{"address": "127.0.0.1", "port": 1080}]}},
  {"tag": "ppp", "protocol": "socks", "settings": {"servers": [{"address": "127.0.0.1", "port": 1081}]}}],
 "routing": {"rules": [
  {"type": "field", "inboundTag": ["vdns", "vecho"], "outboundTag": "vpn"},
  {"type": "field", "inboundTag": ["pdns", "pecho"], "outboundTag": "ppp"}]}}
J
start v2ray inC v2ray -config "$T/v2.json"
up() {
	for _ in $(seq 100); do grep -q "session up" "$T/$1.log" && return 0; sleep 0.1; done
	return 1
}
check "the VPN session is up" up vpn
check "the PPP session is up" up ppp
sleep 0.5
d() { inC dig +short +time=3 +tries=2 @127.0.0.1 -p "$@"; }
check_eq "VPN: dig A through v2ray and SOCKS5 UDP, answered inside the tunnel" 172.31.99.1 \
	"$(d 5353 a.test A)"
check_eq "VPN: dig AAAA of an AAAA-only name" fd99::1 "$(d 5353 v6only.test AAAA)"
check_eq "PPP hop: dig A through the DNS server IPCP gave" 172.31.99.1 "$(d 5354 a.test A)"
check_eq "PPP hop: dig AAAA of an AAAA-only name" fd99::1 "$(d 5354 v6only.test AAAA)"
# dns:// asks the servers the session gave (the VPN's ACCEPT, IPCP), over
# UDP and TCP; udp:// forwards to the VPN's DNS alias
check_eq "VPN: dig through -L dns:// (the session's DNS server)" fd99::1 "$(d 5453 v6only.test AAAA)"
check_eq "VPN: dig +tcp through -L dns://" 172.31.99.1 "$(d 5453 +tcp a.test A)"
check_eq "VPN: dig through -L udp:// to the DNS alias" 172.31.99.1 "$(d 5455 a.test A)"
check_eq "PPP hop: dig through -L dns:// (IPCP's DNS server)" fd99::1 "$(d 5454 v6only.test AAAA)"
check "dnsmasq answered those queries in S" grep -q "query\[AAAA\] v6only.test from 127.0.0.1" "$T/dns.log"
# the VPN front denies 172.31.99.0/24 as a target: refused and counted
# for every datagram; the PPP front allows it
udp_metric() {
	inC curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}' | head -1
}
r0=$(udp_metric 9101 'sluice_udp_dropped_total{reason="refused"}')
out=$(echo hello | inC socat -t 2 - UDP4:127.0.0.1:5355 2>&1)
r1=$(udp_metric 9101 'sluice_udp_dropped_total{reason="refused"}')
check_eq "VPN: a datagram to a denied target gets nothing back" "" "$out"
check "... and is dropped and counted as refused ($r0 -> $r1)" test "${r1:-0}" -gt "${r0:-0}"
for _ in 1 2 3; do # UDP: a first datagram may be lost while v2ray associates
	out=$(echo hello | inC socat -t 2 - UDP4:127.0.0.1:5356 2>&1)
	[ -n "$out" ] && break
done
check "PPP hop: the far side saw the datagram come from S ($out)" \
	grep -Eq '^from (172\.31\.99\.1|127\.0\.0\.1|192\.168\.82\.1)(:[0-9]+)?$' <<<"$out"
# a udp:// forward to a name only S's resolver knows: resolved inside the
# tunnel, by the session's DNS server (C's resolver has never heard of it)
for hop in VPN:5457 PPP:5458; do
	n0=$(grep -c "query\[A\] a.test" "$T/dns.log")
	for _ in 1 2 3 4 5; do
		out=$(echo hello | inC socat -t 3 - UDP4:127.0.0.1:"${hop#*:}" 2>&1)
		[ -n "$out" ] && break
	done
	check "${hop%%:*}: a udp:// forward to a.test reaches the far side ($out)" \
		grep -Eq '^from (172\.31\.99\.1|127\.0\.0\.1|192\.168\.82\.1)(:[0-9]+)?$' <<<"$out"
	check "... the name asked inside the tunnel" test "$(grep -c "query\[A\] a.test" "$T/dns.log")" -gt "$n0"
done

# sizes: datagrams above the link MTU are fragmented by lwIP on the way
# out and reassembled on the way back; lwIP reassembles at most 10
# fragments (IP_REASS_MAX_PBUFS), so a reply above about 14 KB is dropped
# inside the tunnel, and a datagram over 65507 bytes is refused at once
start bigecho inS /usr/bin/python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("172.31.99.1", 7778))
while True:
    d, a = s.recvfrom(65535); s.sendto(d, a)'
sleep 0.3
sizes=$(inC /usr/bin/python3 - "$SRCDIR/tests/e2e" <<'PY'
import socket, sys
sys.path.insert(0, sys.argv[1])
from socks_client import associate, addr
got = []
for port in (1081,):
    ctl, relay = associate(port)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    ok = []
    for n in (1400, 8000, 12000, 30000):
        d = bytes(range(256)) * (n // 256) + b"z" * (n % 256)
        for _ in range(3):
            u.sendto(b"\0\0\0" + addr("172.31.99.1", 7778) + d, relay)
            try:
                r, _ = u.recvfrom(65535)
                if r[10:] == d:
                    ok.append(n)
                    break
            except socket.timeout:
                pass
    got.append(",".join(map(str, ok)))
    ctl.close()
print(" ".join(got))
PY
)
check_eq "sizes echoed through the PPP hop: 1400 to 12000 bytes (fragmented), not 30000" \
	"1400,8000,12000" "$sizes"

# attacks through the PPP hop's SOCKS5 relay: loopback inside the tunnel,
# then a flood; the session goes on
# (start ran `ip netns exec` in a subshell: sluice is its child)
rss() { awk '/VmRSS/ {print $2}' "/proc/$(pgrep -n -P "$(pid_of ppp)")/status"; }
rss0=$(rss)
inC /usr/bin/python3 - "$SRCDIR/tests/e2e" <<'PY'
import socket, sys, time
sys.path.insert(0, sys.argv[1])
from socks_client import associate, addr
ctl, relay = associate(1081)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
for _ in range(50):  # loopback inside the tunnel: refused by the endpoint
    u.sendto(b"\0\0\0" + addr("127.0.0.1", 7777) + b"x", relay)
big = b"y" * 8000
t0 = time.time()
for i in range(20000):  # more than the link can take at once
    try:
        u.sendto(b"\0\0\0" + addr("172.31.99.1", 9) + big, relay)
    except BlockingIOError:
        pass
print("flood of 20000 x 8000 bytes sent in %.1f s" % (time.time() - t0))
ctl.close()
PY
rss1=$(rss)
echo "    PPP hop drops: $(inC curl -s http://127.0.0.1:9102/metrics | grep -E '^sluice_udp_dropped_total|^sluice_tunnel_packets_out' | tr '\n' ' ')"
check "the client's RSS stayed bounded after the flood (${rss0} -> ${rss1} kB)" \
	test "$rss1" -lt $((rss0 + 65536))
check "PPP hop: loopback inside the tunnel was refused" grep -q "lwip udp: 127.0.0.1 refused" "$T/ppp.log"
check_eq "PPP hop: still answers after the flood" 172.31.99.1 "$(d 5354 a.test A)"
check_eq "VPN: still answers" fd99::1 "$(d 5353 v6only.test AAAA)"
sleep 0.5
kill "$(pid_of cap)" 2>/dev/null
sleep 0.3
n=$(tcpdump -nn -r "$T/c.pcap" 2>/dev/null | wc -l)
check_eq "no UDP left C but the VPN's own (capture on C's veth)" 0 "$n"
for p in vpnsrv pppgw vpn ppp; do check "$p is alive" alive "$p"; done
finish
