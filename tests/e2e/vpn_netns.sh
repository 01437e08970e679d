#!/bin/bash
# The UDP VPN with TUN devices on both sides, in network namespaces the
# test creates (veth pairs, only the test's own addresses):
#
#   client1 ns  vc1 192.168.71.2 ---- 192.168.71.1 vs1  server ns
#   client2 ns  vc2 192.168.72.2 ---- 192.168.72.1 vs2  (sluice -L vpn://...&tun=)
#
# ping, an HTTP download with sha256 and an ssh login (Debian's sshd in
# the server namespace) through the tunnel; the two clients reach each
# other; client1's address changes mid-transfer and the transfer goes on.
# Needs root, /dev/net/tun, ssh and sshd (skipped otherwise).
. "$(dirname "$0")/lib.sh"
need_tun
need_cmd ip ssh ssh-keygen /usr/sbin/sshd
ip netns add "vpnprobe$$" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "vpnprobe$$"
S=vpnS$$; C1=vpnC1$$; C2=vpnC2$$
nscleanup() {
	cleanup
	ip netns del "$S" 2>/dev/null
	ip netns del "$C1" 2>/dev/null
	ip netns del "$C2" 2>/dev/null
}
trap nscleanup EXIT
for n in $S $C1 $C2; do
	ip netns add "$n"
	ip -n "$n" link set lo up
done
ip link add vs1$$ type veth peer name vc1$$
ip link add vs2$$ type veth peer name vc2$$
ip link set vs1$$ netns "$S"; ip link set vs2$$ netns "$S"
ip link set vc1$$ netns "$C1"; ip link set vc2$$ netns "$C2"
ip netns exec "$C1" sysctl -qw net.ipv4.conf.all.promote_secondaries=1
ip netns exec "$C1" sysctl -qw net.ipv4.conf.vc1$$.promote_secondaries=1
ip -n "$S" addr add 192.168.71.1/24 dev vs1$$; ip -n "$S" link set vs1$$ up
ip -n "$S" addr add 192.168.72.1/24 dev vs2$$; ip -n "$S" link set vs2$$ up
ip -n "$C1" addr add 192.168.71.2/24 dev vc1$$; ip -n "$C1" link set vc1$$ up
ip -n "$C2" addr add 192.168.72.2/24 dev vc2$$; ip -n "$C2" link set vc2$$ up
inS() { ip netns exec "$S" "$@"; }
inC1() { ip netns exec "$C1" "$@"; }
inC2() { ip netns exec "$C2" "$@"; }

echo 'alice pw' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null
echo 'bob pw' | "$SLUICE" vpn-user add "$T/users.txt" bob 10.10.0.20 2>/dev/null
start server ip netns exec "$S" "$SLUICE" -v \
	-L "vpn://0.0.0.0:5555?users=$T/users.txt&net=10.10.0.0/24&net6=fd11::/64&tun=vpns"
for _ in $(seq 50); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)
	[ -n "$pub" ] && break
	sleep 0.1
done
start client1 ip netns exec "$C1" "$SLUICE" -v -L tun://vpnc \
	-F "vpn://alice:alice%20pw@192.168.71.1:5555?pub=$pub"
start client2 ip netns exec "$C2" "$SLUICE" -v -L tun://vpnc \
	-F "vpn://bob:bob%20pw@192.168.72.1:5555?pub=$pub"
up() {
	for _ in $(seq 100); do
		ip -n "$1" -4 addr show vpnc 2>/dev/null | grep -q "inet $2" && return 0
		sleep 0.1
	done
	return 1
}
check "client1 got 10.10.0.2 on its TUN device" up "$C1" 10.10.0.2
check "client2 got its fixed 10.10.0.20" up "$C2" 10.10.0.20
check_eq "the device MTU is the path's minus the overhead" 1440 \
	"$(ip -n "$C1" link show vpnc | sed -n 's/.* mtu \([0-9]*\).*/\1/p')"
# ping: iputils-ping if present, else the same with a raw socket
ping3() { # NS HOST [SIZE]
	if command -v ping >/dev/null; then
		ip netns exec "$1" ping -c 3 -i 0.2 -W 2 -s "${3:-56}" "$2"
	else
		ip netns exec "$1" python3 "$SRCDIR/tests/e2e/vpn_ping.py" "$2" 3 "${3:-56}"
	fi
}
check "ping the server through the tunnel" ping3 "$C1" 10.10.0.1
check "client1 pings client2" ping3 "$C1" 10.10.0.20
check "client2 pings client1" ping3 "$C2" 10.10.0.2
check "a big ping is fragmented and reassembled" ping3 "$C1" 10.10.0.1 4000
# IPv6: the server's device has fd11::1, each client the address of net6
# with its IPv4 host part (bob: .20, so fd11::14)
up6() {
	for _ in $(seq 50); do
		ip -n "$1" -6 addr show vpnc 2>/dev/null | grep -q "inet6 $2/64" && return 0
		sleep 0.1
	done
	return 1
}
check "client1 got fd11::2, client2 fd11::14" eval 'up6 "$C1" fd11::2 && up6 "$C2" fd11::14'
if command -v ping >/dev/null; then
	check "ping -6 the server's device through the tunnel" inC1 ping -6 -c 2 -i 0.2 -W 2 fd11::1
	check "client1 pings client2 over IPv6" inC1 ping -6 -c 2 -i 0.2 -W 2 fd11::14
fi
if command -v ping >/dev/null; then
	# a device MTU above the tunnel's: a DF packet too big gets ICMP
	# "fragmentation needed" with the tunnel MTU from the server
	ip -n "$C1" link set vpnc mtu 1500
	out=$(inC1 ping -c 2 -i 0.3 -W 2 -M do -s 1472 10.10.0.1 2>&1 || true)
	ip -n "$C1" link set vpnc mtu 1440
	check_eq "too big with DF: fragmentation needed, MTU 1440" 1 \
		"$(echo "$out" | grep -c -m1 -E 'mtu ?= ?1440')"
fi

# HTTP in the server namespace, and on client2
mkdir -p "$T/www"
big=$(random_file 100M)
ln -s "$big" "$T/www/big"
start web ip netns exec "$S" python3 -m http.server 8080 --bind 10.10.0.1 --directory "$T/www"
start web2 ip netns exec "$C2" python3 -m http.server 8081 --bind 10.10.0.20 --directory "$T/www"
for _ in $(seq 100); do # both servers listening (a loaded machine takes its time)
	inS ss -ltn | grep -q 10.10.0.1:8080 && inC2 ss -ltn | grep -q 10.10.0.20:8081 && break
	sleep 0.1
done
t0=$(date +%s.%N)
inC1 curl -fsS --max-time 60 -o "$T/got1" http://10.10.0.1:8080/big
t1=$(date +%s.%N)
check_eq "HTTP download of 100 MiB through the tunnel, sha256" "$(sha "$big")" "$(sha "$T/got1")"
echo "    TUN VPN: $(python3 -c "print('%.0f' % (100*8/($t1-$t0)))") Mbit/s"
rm -f "$T/got1"
inC1 curl -fsS --max-time 60 -o "$T/got2" http://10.10.0.20:8081/big
check_eq "client1 downloads 100 MiB from client2, sha256" "$(sha "$big")" "$(sha "$T/got2")"
rm -f "$T/got2"

# ssh login
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$T/userkey"
cp "$T/userkey.pub" "$T/authorized_keys"
chmod 600 "$T/authorized_keys"
cat >"$T/sshd_config" <<EOF
ListenAddress 10.10.0.1:2222
HostKey $T/hostkey
AuthorizedKeysFile $T/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
PidFile none
EOF
start sshd ip netns exec "$S" /usr/sbin/sshd -D -e -f "$T/sshd_config"
sleep 0.5
out=$(inC1 ssh -i "$T/userkey" -p 2222 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o BatchMode=yes -o ConnectTimeout=5 root@10.10.0.1 'echo ssh-ok-$((6*7))' 2>"$T/ssh.err")
check_eq "ssh login through the tunnel" "ssh-ok-42" "$out"

# roaming: client1's address changes in the middle of a download
inC1 curl -fsS --max-time 60 --limit-rate 25M -o "$T/got3" http://10.10.0.1:8080/big &
cpid=$!
sleep 1.5
ip -n "$C1" addr add 192.168.71.3/24 dev vc1$$
ip -n "$C1" addr del 192.168.71.2/24 dev vc1$$
wait "$cpid"
check_eq "the download goes on when the client's address changes, sha256" \
	"$(sha "$big")" "$(sha "$T/got3")"
check "the server followed the client to 192.168.71.3" grep -q 'alice roamed to 192.168.71.3' "$T/server.log"
check "the server is alive" alive server
finish
