#!/bin/bash
# UDP reverse forwards (-R udp://) over ws://: a client in a network
# namespace that nobody can send into exposes dnsmasq, a real DNS server,
# which dig on the server's side queries.
#
#   S (server, NET.1, and NET.9)  <-- veth -->  C (client, NET.2: new
#                                                 inbound flows dropped)
#
# Checks: dig on S gets C's records through the reverse forward (an A
# record, and a TXT answer of about 1 kB equal to what dnsmasq gives in C);
# a raw query's answer is byte for byte the one dnsmasq gives directly; a
# port the server does not allow is refused on both ends and nothing
# listens there; the listener's deny= holds for the public side (a peer
# at NET.9 gets nothing); 200 source ports at once against a claim capped
# at 20 flows: exactly 20 are answered, the server's descriptors do not
# move and its RSS stays within 2 MB, the client holds at most 20 flow
# sockets; after reverse-udp-idle (3 s) the server's flows are gone and a
# new peer is served again; a key holder's own client (wspeer.py) cannot
# send through its claim to an address that did not send to it first, and
# its malformed DGRAMs are dropped.  Reload (SIGHUP, then the control socket):
# the client's -R list is re-read; a TCP connection held through a kept
# forward (DNS over TCP) answers before and after, the kept claims are not
# claimed again, a removed one's port is released on the server, an added
# one answers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/reverse.inc"
need_cmd dig dnsmasq nft
netns_pair ru21s ru21c 10.122.0
S=10.122.0.1
KEY=$("$SLUICE" keygen)
ip -n ru21s addr add 10.122.0.9/24 dev vru21s

rev_wall ru21
rev_dns
SM=9200
start server ip netns exec ru21s "$SLUICE" -v \
	-L "ws://$S:8200?key=$KEY&reverse=$S:5300-5360&reverse-udp-flows=20&reverse-udp-idle=3s&deny=10.122.0.9" \
	--metrics "$S:$SM"
sleep 0.5
conf() { # the client's configuration: its -R list is "$@"
	{
		echo "forward: [\"ws://$S:8200?key=$KEY&pool=2\"]"
		echo "control: $T/client.sock"
		echo "reverse:"
		for r in "$@"; do echo "  - $r"; done
	} >"$T/client.yaml"
}
conf "udp://$S:5353/127.0.0.1:53" "udp://$S:5399/127.0.0.1:53" "tcp://$S:5354/127.0.0.1:53" \
	"udp://$S:5356/127.0.0.1:53"
start client ip netns exec ru21c "$SLUICE" -v -c "$T/client.yaml"

q() { rev_dig "$@"; }
up() { rev_dns_up "$@"; }
check "C's dnsmasq is not reachable from S directly (inbound dropped)" \
	bash -c "! ip netns exec ru21s dig +time=1 +tries=1 @10.122.0.2 svc.test A"
check "dig on S gets C's A record through the UDP reverse forward" up
direct=$(inC dig +short @127.0.0.1 big.test TXT)
rev=$(q 5353 +short big.test TXT)
check "the TXT answer is non-trivial (${#direct} bytes of text)" test "${#direct}" -gt 1000
check_eq "dig's TXT answer through it equals dnsmasq's in C" "$direct" "$rev"

# byte for byte: one raw query, the same ID, to dnsmasq in C and through
# the forward from S
a=$(inC bash -c "$(declare -f rev_rawq); rev_rawq 127.0.0.1 53")
b=$(inS bash -c "$(declare -f rev_rawq); rev_rawq $S 5353")
check "a raw answer is ${#a} hex digits (over 2 kB of hex)" test "${#a}" -gt 2000
check_eq "the raw answer through the forward is byte-exact" "$a" "$b"

# a port the server does not allow
for _ in $(seq 30); do grep -q "refused by the server" "$T/client.log" && break; sleep 0.1; done
check "client: refused, and why" \
	grep -q "reverse udp://$S:5399/127.0.0.1:53: refused by the server: $S:5399 is not among" "$T/client.log"
check "server: refused, and to whom" grep -q "reverse listener refused to 10.122.0.2.*$S:5399" "$T/server.log"
check "nothing listens on UDP $S:5399" bash -c "[ -z \"\$(ip netns exec ru21s ss -Hlun 'sport = :5399')\" ]"

# the listener's ACL on the public side: deny=10.122.0.9
check "a denied public peer (10.122.0.9) gets no answer" \
	bash -c "! ip netns exec ru21s dig +time=1 +tries=1 -b 10.122.0.9 @$S -p 5353 svc.test A"
check "the server says why" grep -q "reverse udp://$S:5353: refused 10.122.0.9:.*client not allowed" "$T/server.log"

# many source ports against the cap of 20 flows
SP=$(pid_of server)
CP=$(pgrep -P "$(pid_of client)" sluice || pid_of client)
fds() { ls "/proc/$1/fd" | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 4 # the flows so far expire
fd0=$(fds "$SP")
rss0=$(rss "$SP")
cfd0=$(fds "$CP")
n=$(rev_flood 5353 200)
check_eq "200 source ports at once, a cap of 20 flows: 20 answered" 20 "$n"
active() { inS curl -fsS "http://$S:$SM/metrics" | sed -n "s/^sluice_reverse_connections_active{side=\"server\",reverse=\"udp:\/\/$S:5353\"} //p"; }
check_eq "the server holds 20 flows" 20 "$(active)"
fd1=$(fds "$SP")
rss1=$(rss "$SP")
cfd1=$(fds "$CP")
echo "    server descriptors $fd0 -> $fd1, RSS $rss0 -> $rss1 kB; client descriptors $cfd0 -> $cfd1"
check "server descriptors unchanged by 200 peers (flows have none)" test "$fd1" -le "$fd0"
check "server RSS within 2 MB" test "$rss1" -le $((rss0 + 2048))
check "client descriptors: at most one per flow (20) more" test "$cfd1" -le $((cfd0 + 20))
check "the refusals are counted" bash -c \
	"ip netns exec ru21s curl -fsS http://$S:$SM/metrics | grep -E '^sluice_reverse_refused_total\{side=\"server\",reverse=\"udp://$S:5353\"\} (1[89][0-9]|[2-9][0-9][0-9])'"
gone() {
	for _ in $(seq 60); do [ "$(active)" = 0 ] && return 0; sleep 0.1; done
	return 1
}
check "after reverse-udp-idle (3 s) the server's flows are gone" gone
check "a new peer is served again" up
check "the client logged its claim" \
	grep -q "reverse udp://$S:5353/127.0.0.1:53: the server listens on $S:5353" "$T/client.log"

# a key holder's own client (tests/e2e/wspeer.py, from the spec): its
# DGRAMs to an address that never sent to the claim, and malformed ones,
# reach nobody and cost nothing but themselves
if /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
	check "a claim answers only peers that sent to it; malformed DGRAMs are dropped" \
		ip netns exec ru21s /usr/bin/python3 "$SRCDIR/tests/e2e/wspeer.py" revudp "$S" 8200 / "$KEY" 5340
	cat "$T/check.out"
else
	echo "    (python3-cryptography missing: the stranger check is not run)"
fi

# reload: -R re-read.  A TCP connection held through tcp://:5354 (DNS over
# TCP to the same dnsmasq) asks before and after; udp://:5356 goes,
# udp://:5355 comes, the rest stay
udpup() { [ -n "$(ip netns exec ru21s ss -Hlun "sport = :$1")" ]; }
for _ in $(seq 50); do udpup 5356 && break; sleep 0.1; done
check "before the reload the server listens on UDP 5356" udpup 5356
inS python3 -c '
import socket, struct, sys, os, time
q = bytes.fromhex("0002010000010000000000000373766304746573740000010001")
def ask(s):
    s.sendall(struct.pack(">H", len(q)) + q)
    n = struct.unpack(">H", s.recv(2))[0]
    a = b""
    while len(a) < n:
        a += s.recv(n - len(a))
    return a[-4:] == bytes([10, 9, 8, 7])
for _ in range(50):
    try:
        s = socket.create_connection((sys.argv[1], 5354), timeout=5)
        break
    except OSError:
        time.sleep(0.1)
ok1 = ask(s)
open(sys.argv[2] + "/held", "w").close()
while not os.path.exists(sys.argv[2] + "/go"):
    time.sleep(0.05)
ok2 = ask(s)
print("before=%d after=%d" % (ok1, ok2))' "$S" "$T" >"$T/held.out" 2>&1 &
hp=$!
for _ in $(seq 100); do [ -e "$T/held" ] && break; sleep 0.1; done
conf "udp://$S:5353/127.0.0.1:53" "udp://$S:5399/127.0.0.1:53" "tcp://$S:5354/127.0.0.1:53" \
	"udp://$S:5355/127.0.0.1:53"
kill -HUP "$(pid_of client)"
for _ in $(seq 50); do grep -q "reverse forwards:" "$T/client.log" && break; sleep 0.1; done
check "SIGHUP: 3 kept, 1 new, 1 gone" grep -q "reload: reverse forwards: 3 kept, 1 new, 1 gone" "$T/client.log"
touch "$T/go"
wait $hp
check_eq "the TCP connection held through a kept forward answers before and after" \
	"before=1 after=1" "$(cat "$T/held.out")"
gone5356() {
	for _ in $(seq 50); do udpup 5356 || return 0; sleep 0.1; done
	return 1
}
check "the removed forward's UDP port is released on the server" gone5356
check "the added one answers" bash -c "for i in \$(seq 50); do [ \"\$(ip netns exec ru21s dig +time=1 +tries=1 @$S -p 5355 +short svc.test A)\" = 10.9.8.7 ] && exit 0; sleep 0.1; done; exit 1"
check "the kept UDP forward answers" up
check_eq "the kept claims were not claimed again" 1 "$(grep -c "the server listens on $S:5353" "$T/client.log")"
# the control socket: 5355 goes
conf "udp://$S:5353/127.0.0.1:53" "udp://$S:5399/127.0.0.1:53" "tcp://$S:5354/127.0.0.1:53"
check "sluice reload through the control socket" \
	ip netns exec ru21c "$SLUICE" reload --control "$T/client.sock"
check "control reload: 3 kept, 0 new, 1 gone" grep -q "reload: reverse forwards: 3 kept, 0 new, 1 gone" "$T/client.log"
gone5355() {
	for _ in $(seq 50); do udpup 5355 || return 0; sleep 0.1; done
	return 1
}
check "... and UDP 5355 is released" gone5355
finish
