#!/bin/bash
# UDP reverse forwards (-R udp://) over the SCTP tunnel (sctp+udp://, and
# sctp:// on a raw socket): a client in a network namespace that nobody
# can send into exposes dnsmasq, a real DNS server, which dig on the
# server's side queries.  The same shape as reverse_udp.sh (ws), through
# LISTEN_UDP and the tunnel's datagram messages (docs/sctp-protocol.md); the
# DNS side is reverse.inc's, shared with reverse_udp.sh.
#
#   S (server, NET.1)  <-- veth -->  C (client, NET.2: new inbound flows
#                                       dropped by nft)
#
# Checks: dig on S gets C's A record, and a TXT answer of about 1 kB equal
# to what dnsmasq gives in C; a raw answer is byte for byte dnsmasq's; a
# port the server does not allow is refused on both ends and nothing
# listens there; 200 source ports at once against a claim capped at 20
# flows: exactly 20 are answered, the rest counted as refused; after
# reverse-udp-idle (3 s) the flows are gone and a new peer is served again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/reverse.inc"
need_cmd dig dnsmasq nft
netns_pair rsu21s rsu21c 10.124.0
S=10.124.0.1
KEY=$("$SLUICE" keygen)

rev_wall rsu21
rev_dns
SM=9200
start server ip netns exec rsu21s "$SLUICE" -v \
	-L "sctp+udp://$S:8200?key=$KEY&reverse=$S:5300-5360&reverse-udp-flows=20&reverse-udp-idle=3s" \
	--metrics "$S:$SM"
sleep 0.5
start client ip netns exec rsu21c "$SLUICE" -v -R "udp://$S:5353/127.0.0.1:53" \
	-R "udp://$S:5399/127.0.0.1:53" -F "sctp+udp://$S:8200?key=$KEY"

q() { rev_dig "$@"; }
up() { rev_dns_up "$@"; }
check "C's dnsmasq is not reachable from S directly (inbound dropped)" \
	bash -c "! ip netns exec rsu21s dig +time=1 +tries=1 @10.124.0.2 svc.test A"
check "dig on S gets C's A record through the UDP reverse forward over sctp+udp" up
direct=$(inC dig +short @127.0.0.1 big.test TXT)
rev=$(q 5353 +short big.test TXT)
check "the TXT answer is non-trivial (${#direct} bytes of text)" test "${#direct}" -gt 1000
check_eq "dig's TXT answer through it equals dnsmasq's in C" "$direct" "$rev"

a=$(inC bash -c "$(declare -f rev_rawq); rev_rawq 127.0.0.1 53")
b=$(inS bash -c "$(declare -f rev_rawq); rev_rawq $S 5353")
check "a raw answer is ${#a} hex digits (over 2 kB of hex)" test "${#a}" -gt 2000
check_eq "the raw answer through the forward is byte-exact" "$a" "$b"

# a port the server does not allow
for _ in $(seq 30); do grep -q "refused by the server" "$T/client.log" && break; sleep 0.1; done
check "client: refused, and why" \
	grep -q "reverse udp://$S:5399/127.0.0.1:53: refused by the server: $S:5399 is not among" "$T/client.log"
check "server: refused, and to whom" grep -q "reverse listener refused to 10.124.0.2.*$S:5399" "$T/server.log"
check "nothing listens on UDP $S:5399" bash -c "[ -z \"\$(ip netns exec rsu21s ss -Hlun 'sport = :5399')\" ]"

# many source ports against the cap of 20 flows
active() { inS curl -fsS "http://$S:$SM/metrics" | sed -n "s/^sluice_reverse_connections_active{side=\"server\",reverse=\"udp:\/\/$S:5353\"} //p"; }
gone() {
	for _ in $(seq 60); do [ "$(active)" = 0 ] && return 0; sleep 0.1; done
	return 1
}
check "the first flows end after reverse-udp-idle (3 s)" gone
n=$(rev_flood 5353 200)
check_eq "200 source ports at once, a cap of 20 flows: 20 answered" 20 "$n"
check_eq "the server holds 20 flows" 20 "$(active)"
check "the refusals are counted" bash -c \
	"ip netns exec rsu21s curl -fsS http://$S:$SM/metrics | grep -E '^sluice_reverse_refused_total\{side=\"server\",reverse=\"udp://$S:5353\"\} (1[89][0-9]|[2-9][0-9][0-9])'"
check "after reverse-udp-idle the server's flows are gone" gone
check "a new peer is served again" up

# --- the same over sctp:// (native SCTP; here usrsctp on a raw socket)
start native ip netns exec rsu21s "$SLUICE" -L "sctp://$S:8300?key=$KEY&reverse=5370"
start nclient ip netns exec rsu21c "$SLUICE" -R "udp://$S:5370/127.0.0.1:53" \
	-F "sctp://$S:8300?key=$KEY"
check "sctp://: dig on S gets C's A record" up 5370
check_eq "sctp://: the TXT answer equals dnsmasq's" "$direct" "$(q 5370 +short big.test TXT)"
finish
