#!/bin/bash
# UDP listening inside the UDP VPN: a rootless client (alice, lwIP, no
# TUN) exposes dnsmasq, a real DNS server on its host, with
# -R udp://:5353/127.0.0.1:PORT on its tunnel address; bob, another
# rootless client of the same sluice VPN server, reaches it through a
# udp:// forward of his, and dig asks through that forward.  Checked:
# dig's answers (an A record, a ~1 kB TXT) equal dnsmasq's own;
# reverse-allow= (alice lets bob in, not carol): carol's query gets
# nothing, and alice counts the drop; a port alice did not expose answers
# nothing; reverse-max-conns=5 caps the flows: 20 source ports at once
# through bob's forward, alice holds 5 flows and the rest are dropped;
# her descriptors grow by at most one socket (to dnsmasq) per flow; a new
# source gets nothing at the cap, and is answered once reverse-udp-idle
# (5 s) has ended the flows.
. "$(dirname "$0")/lib.sh"
need_cmd dig dnsmasq
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography"

vp=$(free_port); dp=$(free_port); ub=$(free_port); uc=$(free_port); un=$(free_port)
TXT=()
for i in 1 2 3 4 5; do TXT+=("\"$(head -c 150 /dev/urandom | base64 -w0 | head -c 200)\""); done
start dns dnsmasq --no-daemon --no-resolv --no-hosts --port="$dp" --listen-address=127.0.0.1 \
	--bind-interfaces --user=root --pid-file="$T/dnsmasq.pid" --local=/test/ \
	--host-record=svc.test,10.9.8.7 --txt-record="big.test,$(
		IFS=,
		echo "${TXT[*]}"
	)"
wait_udp_port "$dp"

for u in alice:10.10.0.21 bob:10.10.0.22 carol:10.10.0.23; do
	echo "pw-${u%%:*}" | "$SLUICE" vpn-user add "$T/users.txt" "${u%%:*}" "${u#*:}" >>"$T/users.log" 2>&1
done
start server "$SLUICE" -v -L "vpn://127.0.0.1:$vp?users=$T/users.txt&net=10.10.0.0/24"
for _ in $(seq 50); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)
	[ -n "$pub" ] && break
	sleep 0.1
done
ma=$(free_port)
start A "$SLUICE" -vv --metrics "127.0.0.1:$ma" -R "udp://:5353/127.0.0.1:$dp" \
	-F "vpn://alice:pw-alice@127.0.0.1:$vp?pub=$pub&reverse-allow=10.10.0.22&reverse-max-conns=5&reverse-udp-idle=5s"
start B "$SLUICE" -v -L "udp://127.0.0.1:$ub/10.10.0.21:5353" -L "udp://127.0.0.1:$un/10.10.0.21:5399" \
	-F "vpn://bob:pw-bob@127.0.0.1:$vp?pub=$pub"
start C "$SLUICE" -v -L "udp://127.0.0.1:$uc/10.10.0.21:5353" \
	-F "vpn://carol:pw-carol@127.0.0.1:$vp?pub=$pub"
wait_udp_port "$ub"
wait_udp_port "$uc"

up() {
	for _ in $(seq 100); do
		[ "$(dig +time=1 +tries=1 @127.0.0.1 -p "$ub" +short svc.test A 2>/dev/null)" = 10.9.8.7 ] && return 0
		sleep 0.1
	done
	return 1
}
check "dig through bob's forward gets alice's A record at 10.10.0.21:5353" up
direct=$(dig +short @127.0.0.1 -p "$dp" big.test TXT)
got=$(dig +time=2 +tries=1 +short @127.0.0.1 -p "$ub" big.test TXT)
check "the TXT answer is non-trivial (${#direct} bytes of text)" test "${#direct}" -gt 1000
check_eq "dig's TXT answer through the VPN equals dnsmasq's" "$direct" "$got"

check "reverse-allow: carol (not listed) gets no answer" \
	bash -c "! dig +time=2 +tries=1 @127.0.0.1 -p $uc svc.test A"
check "... alice says why" grep -q "reverse udp :5353: dropped 10.10.0.23:.*reverse-allow" "$T/A.log"
check "a port alice did not expose answers nothing" \
	bash -c "! dig +time=1 +tries=1 @127.0.0.1 -p $un svc.test A"

# the cap: bob's forward makes one flow inside the tunnel per local
# source port (dig's queries above each took a port of their own, and
# their flows are still live); alice keeps 5
AP=$(pid_of A)
fd0=$(ls "/proc/$AP/fd" | wc -l)
n=$(python3 -c '
import socket, sys, select, time
q = bytes.fromhex("0001010000010000000000000373766304746573740000010001")
socks = []
for i in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
    socks.append(s)
got = set()
end = time.time() + 1
while time.time() < end and len(got) < 20:
    r, _, _ = select.select(socks, [], [], 0.2)
    for s in r:
        s.recv(65535)
        got.add(s)
print(len(got))' "$ub")
fd1=$(ls "/proc/$AP/fd" | wc -l)
echo "    20 source ports: $n answered; alice's descriptors $fd0 -> $fd1"
active=$(curl -fsS "http://127.0.0.1:$ma/metrics" | sed -n 's/^sluice_reverse_connections_active{side="client",[^}]*} //p')
check_eq "reverse-max-conns=5: alice holds 5 flows" 5 "$active"
check "... of 20 new source ports at once, some answered until the cap, not all ($n)" \
	test "$n" -ge 1 -a "$n" -le 4
check "... the rest dropped for the cap" grep -q "dropped 10.10.0.22:.*too many flows" "$T/A.log"
check "alice's descriptors: one socket per flow to dnsmasq at most (5)" test "$fd1" -le $((fd0 + 5))
# reverse-udp-idle=5s: once the flows expire, a new source is served again
newsrc() {
	dig +time=1 +tries=1 @127.0.0.1 -p "$ub" +short svc.test A 2>/dev/null | grep -qx 10.9.8.7
}
check "at the cap, a new source port gets nothing" bash -c "! dig +time=1 +tries=1 @127.0.0.1 -p $ub svc.test A"
sleep 6.5
check "after reverse-udp-idle (5 s) the flows expired: a new source is answered" newsrc
finish
