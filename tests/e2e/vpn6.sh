#!/bin/bash
# IPv6 and ICMP inside the UDP VPN, with a rootless server (libslirp) and
# both kinds of client, in network namespaces the test creates:
#
#   client ns C  veth 192.168.81.2 ---- 192.168.81.1  server ns S
#     tun://p6tun -F vpn://   (kernel: ping, curl, dig)
#     proxy:// -F vpn://      (lwIP: curl through SOCKS)
#                                        sluice -L vpn://...&net6=fd10::/64
#                                        dnsmasq on S's 127.0.0.1:53 (its
#                                        resolver), web on [::], and the
#                                        far side's addresses 172.31.99.1
#                                        and fd99::1 (on S's loopback)
#
# C has no route to 172.31.99.1 or fd99::/64 but through the tunnel, and
# no IPv6 address but the tunnel's: whatever reaches them went through it.
# Checks: IPv6 addresses assigned (TUN device and lwIP), ping and ping -6
# of the server (answered by libslirp) and of the far side (forwarded by
# libslirp from S's own ICMP sockets: net.ipv4.ping_group_range is set in
# S), HTTP to IPv6 literals and to an AAAA-only name resolved inside the
# tunnel (dnsmasq behind the gateway's DNS alias), through both clients;
# a datagram over IPv6 from the lwIP client (dig through a udp:// forward
# to the DNS alias fd10::fe); a server without net6, whose lwIP client
# refuses IPv6 targets.
# Needs root, /dev/net/tun, dnsmasq, curl, dig and ping (skipped otherwise).
. "$(dirname "$0")/lib.sh"
need_tun
need_cmd ip curl dnsmasq dig ping
S=p6S$$
C=p6C$$
netns_pair "$S" "$C" 192.168.81
ip -n "$S" addr add 172.31.99.1/32 dev lo
ip -n "$S" addr add fd99::1/128 dev lo
ip netns exec "$S" sysctl -qw net.ipv4.ping_group_range="0 2147483647"

# S's resolver: dnsmasq, with a name that has only an AAAA record
mkdir -p "/etc/netns/$S"
# (libslirp forwards the IPv6 DNS alias to an IPv6 name server only)
printf 'nameserver 127.0.0.1\nnameserver ::1\n' >"/etc/netns/$S/resolv.conf"
start dns inS dnsmasq --no-daemon --no-resolv --no-hosts --port=53 --listen-address=127.0.0.1 \
	--listen-address=::1 --local=/test/ --bind-interfaces --user=root --pid-file="$T/dnsmasq.pid" --host-record=v6only.test,fd99::1 \
	--host-record=v4.test,172.31.99.1 --log-queries
TOKEN="vpn6-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
web=8086
start web inS python3 -m http.server "$web" --bind :: --directory "$T/www"

echo 'alice pw' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null
echo 'bob pw' | "$SLUICE" vpn-user add "$T/users.txt" bob 10.10.0.20 2>/dev/null
echo 'carol pw' | "$SLUICE" vpn-user add "$T/users.txt" carol 2>/dev/null
start server inS "$SLUICE" -v --metrics 127.0.0.1:9109 \
	-L "vpn://192.168.81.1:5555?users=$T/users.txt&net=10.10.0.0/24&net6=fd10::/64&host-loopback=1"
for _ in $(seq 50); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)
	[ -n "$pub" ] && break
	sleep 0.1
done
start tunc inC "$SLUICE" -v -L tun://p6tun -F "vpn://alice:alice%20pw@192.168.81.1:5555?pub=$pub"
pp=1080
start lwip inC "$SLUICE" -v -L "proxy://127.0.0.1:$pp" -L "udp://127.0.0.1:5353/[fd10::fe]:53" \
	-F "vpn://bob:bob%20pw@192.168.81.1:5555?pub=$pub"
up6() {
	for _ in $(seq 100); do
		ip -n "$C" -6 addr show p6tun 2>/dev/null | grep -q "inet6 $1" && return 0
		sleep 0.1
	done
	return 1
}
check "the TUN client got fd10::2" up6 fd10::2/64
check "... and 10.10.0.2" grep -q "inet 10.10.0.2/24" <(ip -n "$C" -4 addr show p6tun)
inC ip route add 172.31.99.1/32 dev p6tun
inC ip -6 route add fd99::/64 dev p6tun

check "ping the server's address (libslirp answers)" inC ping -c 2 -i 0.3 -W 3 10.10.0.1
check "ping -6 the server's address (libslirp answers)" inC ping -6 -c 2 -i 0.3 -W 3 fd10::1
check "ping the far side, 172.31.99.1, through the gateway's ICMP socket" \
	inC ping -c 2 -i 0.3 -W 3 172.31.99.1
if inC ping -6 -c 2 -i 0.3 -W 3 fd99::1 >"$T/ping6far.out" 2>&1; then
	pass "ping -6 the far side, fd99::1"
else
	# libslirp 4.7 logs "external icmpv6 not supported yet"
	echo "    note: ping -6 of the far side fails: libslirp answers ICMPv6 echo only for its own addresses"
fi
check_eq "HTTP to the IPv6 literal [fd99::1] from the TUN client" "$TOKEN" \
	"$(inC curl -fsS --max-time 10 "http://[fd99::1]:$web/token.txt")"
check_eq "HTTP to [fd10::1], the server host's ::1" "$TOKEN" \
	"$(inC curl -fsS --max-time 10 "http://[fd10::1]:$web/token.txt")"
check_eq "dig AAAA of an AAAA-only name through the tunnel's DNS alias" "fd99::1" \
	"$(inC dig +short +time=3 +tries=2 @10.10.0.254 v6only.test AAAA)"
check_eq "dig AAAA over IPv6, through the DNS alias fd10::fe" "fd99::1" \
	"$(inC dig +short +time=3 +tries=2 @fd10::fe v6only.test AAAA)"

# the rootless client: lwIP with the IPv6 address ACCEPT gave
wait_port_in() {
	for _ in $(seq 100); do
		inC bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
check "the lwIP client is up" wait_port_in "$pp"
for _ in $(seq 50); do grep -q "up, address" "$T/lwip.log" && break; sleep 0.1; done
check "the lwIP client has its fixed 10.10.0.20 and so fd10::14" \
	grep -q "up, address 10.10.0.20 and fd10::14" "$T/lwip.log"
check_eq "lwIP: HTTP to the IPv6 literal [fd99::1] (SOCKS5)" "$TOKEN" \
	"$(inC curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pp" "http://[fd99::1]:$web/token.txt")"
check_eq "lwIP: HTTP to the AAAA-only name, resolved inside the tunnel" "$TOKEN" \
	"$(inC curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pp" "http://v6only.test:$web/token.txt")"
check_eq "lwIP: HTTP CONNECT to [fd10::1]" "$TOKEN" \
	"$(inC curl -fsS --max-time 10 -p -x "http://127.0.0.1:$pp" "http://[fd10::1]:$web/token.txt")"
check "dnsmasq answered the name inside S" grep -q "v6only.test" "$T/dns.log"
check_eq "lwIP: UDP over IPv6, dig through a udp:// forward to the DNS alias fd10::fe" "fd99::1" \
	"$(inC dig +short +time=3 +tries=2 -p 5353 @127.0.0.1 v6only.test AAAA)"

# a packet too big for the tunnel gets ICMPv6 "packet too big" with the
# tunnel MTU from the server; a packet from an address that is not the
# client's is dropped and counted, and reaches nobody
ip -n "$C" link set p6tun mtu 1500
out=$(inC ping -6 -c 2 -i 0.3 -W 2 -M do -s 1452 fd10::1 2>&1 || true)
ip -n "$C" link set p6tun mtu 1440
check_eq "too big: ICMPv6 packet too big, MTU 1440" 1 "$(echo "$out" | grep -c -m1 -i -E 'mtu ?= ?1440')"
check "a ping that fits still works" inC ping -6 -c 1 -W 3 -s 1392 fd10::1
metric() { inS curl -s "http://127.0.0.1:9109/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" {print $2}' | head -1; }
d0=$(metric sluice_vpn_dropped_total)
start spoofsink inS python3 -c 'import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("fd99::1", 9999))
print("got", s.recvfrom(2048)[1], flush=True)'
inC /usr/bin/python3 - <<'PY'
import socket, struct
def pkt(src, plen=8, claim=None):
    udp = struct.pack("!HHHH", 4444, 9999, plen, 0) + b"x" * (plen - 8)
    hdr = struct.pack("!IHBB", 6 << 28, claim if claim is not None else plen, 17, 64)
    return hdr + socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, "fd99::1") + udp
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
for i in range(20):
    s.sendto(pkt("fd10::99", 16), ("fd99::1", 0))    # another address of net6
    s.sendto(pkt("fd10::14", 16), ("fd99::1", 0))    # the other client's
PY
sleep 0.5
d1=$(metric sluice_vpn_dropped_total)
check "40 spoofed IPv6 packets were dropped and counted ($d0 -> $d1)" test "$((d1 - d0))" -ge 40
check_fails "... and none reached the far side" grep -q got "$T/spoofsink.log"
# malformed and hostile IPv6 packets inside an authenticated session (a
# client of our own: the kernel would not send these): dropped and
# counted, the session goes on (its ping is answered), and one over the
# MTU gets "packet too big"
d0=$(metric sluice_vpn_dropped_total)
out=$(VPN_PEER_SERVER=192.168.81.1 inS /usr/bin/python3 "$SRCDIR/tests/e2e/vpn_peer.py" \
	badv6 5555 "$pub" carol "carol pw" --src 192.168.81.1 2>&1 | tail -1)
d1=$(metric sluice_vpn_dropped_total)
check_eq "hostile IPv6 in a session: packet too big once, the echo after them answered" \
	"sent 141 too-big 1 echo 1" "$out"
check "... and at least 100 of them dropped and counted ($d0 -> $d1)" test "$((d1 - d0))" -ge 100
check_eq "the TUN client still reaches the far side" "$TOKEN" \
	"$(inC curl -fsS --max-time 10 "http://[fd99::1]:$web/token.txt")"
check "the server is alive" alive server

# a server without net6: its rootless client has no IPv6 address, and an
# IPv6 target is refused by the client, never sent anywhere else
start server4 inS "$SLUICE" -L "vpn://192.168.81.1:5556?users=$T/users.txt&net=10.10.0.0/24&host-loopback=1"
for _ in $(seq 50); do
	pub4=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server4.log" | head -1)
	[ -n "$pub4" ] && break
	sleep 0.1
done
p4=1084
start lwip4 inC "$SLUICE" -v -L "socks5://127.0.0.1:$p4" -F "vpn://carol:carol%20pw@192.168.81.1:5556?pub=$pub4"
check "the IPv4-only lwIP client is up" wait_port_in "$p4"
for _ in $(seq 50); do grep -q "session up" "$T/lwip4.log" && break; sleep 0.1; done
seen=$(grep -c "GET /token.txt" "$T/web.log")
check_fails "without net6: the IPv6 literal [fd99::1] is refused" \
	inC curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$p4" "http://[fd99::1]:$web/token.txt"
check "... as unreachable" grep -q "Could not connect to \[fd99::1\]:$web: network unreachable" "$T/lwip4.log"
check_eq "... and the web server saw nothing more" "$seen" "$(grep -c "GET /token.txt" "$T/web.log")"
finish
