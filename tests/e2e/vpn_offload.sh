#!/bin/bash
# The UDP VPN's offload paths, with TUN devices on both sides across a veth
# pair between two namespaces the test creates:
#
#   client ns  tun://vofc 10.10.0.2 ~~ veth 192.168.83.2 -- 192.168.83.1 ~~ vofs 10.10.0.1  server ns
#
# With the kernel's offloads (IFF_VNET_HDR, TSO and USO on the devices, UDP
# GSO and GRO on the sockets): 32 MiB each way over TCP, IPv4 up and IPv6
# down, byte for byte, and UDP super-packets (a sender using UDP_SEGMENT,
# which the device hands over whole) arriving as intact datagrams.  Then
# the offloads are turned off with ethtool, on the TUN devices (no TSO, no
# checksum offload: single packets with full checksums) and on the veth
# (no checksum offload: the kernel cuts UDP GSO runs in software; no GRO:
# one datagram per read): the same transfers again.  Last, both ends
# restarted with offload=0, the path of a kernel that has none of them
# (plain TUN, recvmmsg, sendmmsg), which the log must say; then both with
# crypto-workers=2 (DATA sealed and opened on threads, in order), offloads
# back on: the same transfers.
# Needs root, /dev/net/tun, ethtool and socat (skipped otherwise).
. "$(dirname "$0")/lib.sh"
need_tun
need_cmd ip ethtool socat
netns_pair "vofS$$" "vofC$$" 192.168.83
nscleanup() {
	cleanup
	ip netns del "$NS_S" 2>/dev/null
	ip netns del "$NS_C" 2>/dev/null
}
trap nscleanup EXIT

echo 'alice pw' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null
start server ip netns exec "$NS_S" "$SLUICE" -v \
	-L "vpn://192.168.83.1:5555?users=$T/users.txt&net=10.10.0.0/24&net6=fd13::/64&tun=vofs"
for _ in $(seq 50); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)
	[ -n "$pub" ] && break
	sleep 0.1
done
start client ip netns exec "$NS_C" "$SLUICE" -v -L tun://vofc \
	-F "vpn://alice:alice%20pw@192.168.83.1:5555?pub=$pub"
up() {
	for _ in $(seq 100); do
		ip -n "$NS_C" -4 addr show vofc 2>/dev/null | grep -q "inet 10.10.0.2" &&
			ip -n "$NS_C" -6 addr show vofc 2>/dev/null | grep -q "inet6 fd13::2" && return 0
		sleep 0.1
	done
	return 1
}
check "the client's device is up" up
check "the server's device says which offloads it has" grep -q 'vofs up.*offloads [A-Z]' "$T/server.log"
check "the client's device says which offloads it has" grep -q 'tun vofc: offloads [A-Z]' "$T/client.log"
if grep -q 'offloads TSO4' "$T/client.log"; then
	check "the server's UDP socket sends runs with GSO" grep -q 'UDP GSO' "$T/server.log"
	check "the client's UDP socket reads runs with GRO" grep -q 'GRO (one read' "$T/client.log"
fi

big=$(random_file 32M)
port=7000
# xfer NAME DIR(up|down) ADDR: one TCP transfer through the tunnel, sha256
xfer() {
	local name=$1 dir=$2 addr=$3 lns sns rcv
	port=$((port + 1))
	if [ "$dir" = up ]; then lns=$NS_S sns=$NS_C; else lns=$NS_C sns=$NS_S; fi
	rcv="$T/got.$port"
	start "rx$port" ip netns exec "$lns" socat -u "TCP6-LISTEN:$port,ipv6only=0,reuseaddr" "CREATE:$rcv"
	for _ in $(seq 50); do
		ip netns exec "$lns" ss -ltn | grep -q ":$port " && break
		sleep 0.1
	done
	case $addr in
	*:*) ip netns exec "$sns" timeout 120 socat -u "OPEN:$big" "TCP6:[$addr]:$port" ;;
	*) ip netns exec "$sns" timeout 120 socat -u "OPEN:$big" "TCP4:$addr:$port" ;;
	esac
	for _ in $(seq 100); do
		kill -0 "$(pid_of "rx$port")" 2>/dev/null || break
		sleep 0.1
	done
	check_eq "$name: 32 MiB byte for byte" "$(sha "$big")" "$(sha "$rcv")"
	rm -f "$rcv"
}
# udp_gso NAME: 64 KB super-packets of 1000-byte datagrams from the client
# (UDP_SEGMENT), each datagram carrying its number and a pattern: every
# one that arrives must be whole (UDP may lose some, not corrupt any)
udp_gso() {
	local name=$1 out
	start "urx$2" ip netns exec "$NS_S" python3 -c '
import socket, sys, hashlib
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.10.0.1", 7777)); s.settimeout(3)
good = bad = 0
try:
    while True:
        d = s.recv(65535)
        n = int.from_bytes(d[:4], "big")
        ok = len(d) == 1000 and d[4:] == hashlib.sha256(d[:4]).digest() * 31 + d[4:][992:]
        ok = ok and d[4:996] == (hashlib.sha256(d[:4]).digest() * 32)[:992]
        good += ok; bad += not ok
except socket.timeout:
    pass
print(good, bad)'
	# the receiver must be bound before the bursts go (a busy machine may
	# take longer than the bursts last to start Python)
	for _ in $(seq 100); do
		ip netns exec "$NS_S" ss -lun | grep -q '10.10.0.1:7777 ' && break
		sleep 0.1
	done
	ip netns exec "$NS_C" python3 -c '
import socket, hashlib, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 103, 1000)  # UDP_SEGMENT
s.connect(("10.10.0.1", 7777))
n = 0
for burst in range(40):
    buf = b""
    for i in range(32):
        h = n.to_bytes(4, "big")
        buf += h + (hashlib.sha256(h).digest() * 32)[:992] + bytes(4)
        n += 1
    s.send(buf)
    time.sleep(0.01)'
	for _ in $(seq 100); do
		kill -0 "$(pid_of "urx$2")" 2>/dev/null || break
		sleep 0.1
	done
	out=$(cat "$T/urx$2.log")
	check "$name: datagrams arrive (got/bad: $out)" test "${out% *}" -gt 0
	check_eq "$name: none of them damaged" 0 "${out#* }"
}

xfer "upload over IPv4 with offloads" up 10.10.0.1
xfer "download over IPv6 with offloads" down fd13::2
udp_gso "UDP super-packets (USO)" 1

# a kernel without offloads: the devices' and the veth's turned off
ip netns exec "$NS_S" ethtool -K vofs tso off gso off tx off >/dev/null 2>&1
ip netns exec "$NS_C" ethtool -K vofc tso off gso off tx off >/dev/null 2>&1
ip netns exec "$NS_S" ethtool -K "v$NS_S" tx off gro off >/dev/null 2>&1
ip netns exec "$NS_C" ethtool -K "v$NS_C" tx off gro off >/dev/null 2>&1
check "ethtool turned TSO off on the client's device" \
	eval "ip netns exec $NS_C ethtool -k vofc | grep -q 'tcp-segmentation-offload: off'"
xfer "upload over IPv4 without offloads" up 10.10.0.1
xfer "download over IPv4 without offloads" down 10.10.0.2
udp_gso "UDP super-packets without offloads" 2
check "the server is alive" alive server
check "the client is alive" alive client

# offload=0 on both ends: what a kernel without any of them gets
kill "$(pid_of server)" "$(pid_of client)"
sleep 0.5
start server0 ip netns exec "$NS_S" "$SLUICE" -v \
	-L "vpn://192.168.83.1:5555?users=$T/users.txt&net=10.10.0.0/24&tun=vofs&offload=0"
sleep 0.5
start client0 ip netns exec "$NS_C" "$SLUICE" -v -L tun://vofc \
	-F "vpn://alice:alice%20pw@192.168.83.1:5555?pub=$pub&offload=0"
up4() {
	for _ in $(seq 100); do
		ip -n "$NS_C" -4 addr show vofc 2>/dev/null | grep -q "inet 10.10.0.2" && return 0
		sleep 0.1
	done
	return 1
}
check "offload=0: the client's device is up again" up4
check "offload=0: the devices say they have none" \
	eval "grep -q 'offloads none' $T/server0.log && grep -q 'offloads none' $T/client0.log"
check "offload=0: the sockets say one datagram per send and read" \
	grep -q 'without GSO (sendmmsg), without GRO (recvmmsg)' "$T/server0.log"
xfer "upload with offload=0" up 10.10.0.1
xfer "download with offload=0" down 10.10.0.2

# crypto workers on both ends, the veth's offloads back on
kill "$(pid_of server0)" "$(pid_of client0)"
sleep 0.5
ip netns exec "$NS_S" ethtool -K "v$NS_S" tx on gro on >/dev/null 2>&1
ip netns exec "$NS_C" ethtool -K "v$NS_C" tx on gro on >/dev/null 2>&1
start serverw ip netns exec "$NS_S" "$SLUICE" -v \
	-L "vpn://192.168.83.1:5555?users=$T/users.txt&net=10.10.0.0/24&tun=vofs&crypto-workers=2"
sleep 0.5
start clientw ip netns exec "$NS_C" "$SLUICE" -v -L tun://vofc \
	-F "vpn://alice:alice%20pw@192.168.83.1:5555?pub=$pub&crypto-workers=2"
check "crypto-workers=2: the client's device is up again" up4
check "crypto-workers=2: both ends say DATA goes to the worker threads" \
	eval "grep -q 'opened on crypto worker threads' $T/serverw.log && grep -q 'opened on crypto worker threads' $T/clientw.log"
xfer "upload with crypto-workers=2" up 10.10.0.1
xfer "download with crypto-workers=2" down 10.10.0.2
check "crypto-workers=2: the server is alive" alive serverw
check "crypto-workers=2: the client is alive" alive clientw
finish
