#!/bin/bash
# IPv6 through the PPP hop (lwIP endpoint): the hop negotiates IPV6CP
# (ipv6=1) with sluice's PPP gateway, lwIP takes its link-local address
# from the interface identifier and a global one from libslirp's router
# advertisement (SLAAC), and a SOCKS5 client reaches an IPv6 literal of
# this namespace (fd99::1), the host alias fd00::2 (the gateway host's
# ::1) and an AAAA-only name, resolved inside the tunnel by the DNS server
# IPCP gave (the gateway's alias, which asks dnsmasq, this namespace's
# resolver).  Without ipv6=1 the same literal is refused, not sent around
# the tunnel.  Datagrams over IPv6 too: dig through a udp:// forward to a
# name server on [fd99::1], answered with the hop's IPv6 and never without
# it.  Runs in its own network and mount namespace.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd curl dnsmasq dig
in_netns --net --mount
ip link set lo up
ip addr add fd99::1/128 dev lo
ns_resolver v6only.test,fd99::1

TOKEN="ppphop6-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
start web python3 -m http.server 8080 --bind :: --directory "$T/www"
wait_port 8080
# a name server on the IPv6 literal, for datagrams over IPv6
start dns6 dnsmasq --no-daemon --no-resolv --no-hosts --port=53 --listen-address=fd99::1 \
	--bind-interfaces --user=root --pid-file="$T/dns6.pid" --log-queries \
	--host-record=v6udp.test,10.9.9.9

sock="$T/gw.sock"
start gw "$SLUICE" -v -L "ppp+unix://$sock?auth=none&ipv6=1"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
pp=$(free_port)
uf=$(free_port)
start hop "$SLUICE" -v --metrics "127.0.0.1:$(free_port)" -L "socks5://127.0.0.1:$pp" \
	-L "udp://127.0.0.1:$uf/[fd99::1]:53" -F "ppp+unix://$sock?ipv6=1"
wait_port "$pp"
for _ in $(seq 100); do grep -q "autoconfigured" "$T/hop.log" && break; sleep 0.1; done
check "the hop autoconfigured an address of fd00::/64" grep -q "IPv6 address fd00::.*autoconfigured" "$T/hop.log"
get() { curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pp" "$1"; }
check_eq "HTTP to the IPv6 literal [fd99::1] through the PPP hop" "$TOKEN" \
	"$(get "http://[fd99::1]:8080/token.txt")"
check_eq "HTTP to [fd00::2], the gateway host's ::1" "$TOKEN" "$(get "http://[fd00::2]:8080/token.txt")"
check_eq "HTTP to an AAAA-only name, resolved inside the tunnel" "$TOKEN" \
	"$(get "http://v6only.test:8080/token.txt")"
check "dnsmasq was asked through the gateway" grep -q "query\[AAAA\] v6only.test" "$T/dns.log"
check_eq "UDP over IPv6: dig through a udp:// forward to [fd99::1]:53" 10.9.9.9 \
	"$(dig +short +time=3 +tries=2 -p "$uf" @127.0.0.1 v6udp.test A)"
udp6_seen() { grep -c "query\[A\] v6udp.test" "$T/dns6.log"; }
seen=$(udp6_seen)

# without IPV6CP, IPv6 targets are refused (nothing goes around the tunnel)
pp2=$(free_port)
uf2=$(free_port)
start hop4 "$SLUICE" -v -L "socks5://127.0.0.1:$pp2" -L "udp://127.0.0.1:$uf2/[fd99::1]:53" \
	-F "ppp+unix://$sock"
wait_port "$pp2"
check_fails "without ipv6=1 the IPv6 literal is refused" \
	curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pp2" "http://[fd99::1]:8080/token.txt"
check "... as unreachable" grep -q "Could not connect to \[fd99::1\]:8080: network unreachable" "$T/hop4.log"
check_fails "... and so are datagrams to it" dig +short +time=1 +tries=2 -p "$uf2" @127.0.0.1 v6udp.test A
check_eq "... which never reach the name server, reachable from here directly" "$seen" "$(udp6_seen)"
check "the gateway is alive" alive gw
finish
