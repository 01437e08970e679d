#!/bin/bash
# IPv6 inside SSTP against a real server: SoftEther VPN Server (the peers
# lab's, as in sstp.sh), its hub bridged to a tap device of this
# namespace (a local bridge) on which dnsmasq advertises fd77::/64.
# SecureNAT still gives IPv4; IPv6 comes from the router on the bridge:
#
#   sluice -F sstp://...?ipv6=1 --SSTP--> SoftEther hub DEFAULT --bridge--> tap_sv6
#   (lwIP: IPV6CP with SoftEther,         (SoftEther's PPP server           fd77::1/64, RA
#    then SLAAC from the RA)               speaks for the client on          (dnsmasq)
#                                          the hub)                         web, DNS on fd78::1
#
# The servers listen on fd78::1, off the advertised prefix, so SoftEther
# sends to the router's MAC (its PPP server's own neighbour discovery of
# on-link IPv6 addresses asks for the wrong target: a multicast address;
# and it answers neighbour solicitations for the client's link-local
# address only, so the host reaches the client's global address through a
# route via its link-local one).  Checks: the hop autoconfigures an address
# of fd77::/64; HTTP to [fd78::1] and dig through a udp:// forward to
# [fd78::1]:53 work, and the web server and dnsmasq see that address as the
# source: the traffic came out of the tunnel (this namespace would reach
# fd78::1 directly from fd78::1).  Without ipv6=1 the same target is
# refused and reaches nobody.  About 20 s.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd curl dnsmasq dig ip
need_peers softether
in_netns --net --mount
ip link set lo up
ip addr add fd78::1/128 dev lo
U=vpnuser
PW='S3cret-pw!'
SE="$T/se"
se_stop() { "$PEERS" softether stop "$SE" >>"$T/softether.log" 2>&1; }
trap 'se_stop; cleanup' EXIT
"$PEERS" softether start "$SE" "$U" "$PW" >>"$T/softether.log" 2>&1 ||
	{
		echo "FAIL: SoftEther did not start"
		cat "$T/softether.log"
		exit 1
	}
printf 'BridgeCreate DEFAULT /DEVICE:sv6 /TAP:yes\n' >"$T/bridge.txt"
"$PEERS" softether exec "$SE" /usr/libexec/softether/vpncmd/vpncmd 127.0.0.1:5555 /SERVER \
	/IN:"$T/bridge.txt" >"$T/bridge.out" 2>&1
for _ in $(seq 50); do ip link show tap_sv6 >/dev/null 2>&1 && break; sleep 0.1; done
check "SoftEther made its local bridge's tap device" ip link show tap_sv6
ip link set tap_sv6 up
ip addr add fd77::1/64 dev tap_sv6 nodad
# a router advertisement every 4 s, so the client need not wait for one
start ra dnsmasq --no-daemon --no-resolv --no-hosts --port=0 --interface=tap_sv6 --bind-interfaces \
	--user=root --pid-file="$T/ra.pid" --enable-ra --ra-param=tap_sv6,4 \
	--dhcp-range=fd77::,ra-only,64,1h --log-dhcp
start dns dnsmasq --no-daemon --no-resolv --no-hosts --port=53 --listen-address=fd78::1 \
	--bind-interfaces --user=root --pid-file="$T/dns.pid" --log-queries --host-record=v6.test,10.9.9.9
TOKEN="sstp6-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
start web python3 -m http.server 8080 --bind fd78::1 --directory "$T/www"

pp=$(free_port)
uf=$(free_port)
start cli "$SLUICE" -v -L "socks5://127.0.0.1:$pp" -L "udp://127.0.0.1:$uf/[fd78::1]:53" \
	-F "sstp://$U:$(printf %s "$PW" | sed 's/!/%21/')@127.0.0.1?insecure=1&ipv6=1"
for _ in $(seq 300); do grep -aq "autoconfigured" "$T/cli.log" && break; sleep 0.1; done
check "SoftEther negotiated IPV6CP" grep -aq "network up ipv4 ipv6" "$T/cli.log"
a6=$(grep -a -o 'IPv6 address fd77::[0-9a-f:]*' "$T/cli.log" | head -1 | cut -d' ' -f3)
check "the hop autoconfigured an address of fd77::/64 from the bridge's router ($a6)" test -n "$a6"
[ -n "$a6" ] && ip -6 route add "$a6/128" via "fe80::${a6#fd77::}" dev tap_sv6
check_eq "HTTP to [fd78::1] through SSTP" "$TOKEN" \
	"$(curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pp" "http://[fd78::1]:8080/token.txt")"
check "... which the web server saw come from the tunnel's $a6" \
	grep -q "^$a6 .*GET /token.txt" "$T/web.log"
check_eq "UDP over IPv6: dig through a udp:// forward to [fd78::1]:53" 10.9.9.9 \
	"$(dig +short +time=3 +tries=2 -p "$uf" @127.0.0.1 v6.test A)"
check "... which dnsmasq saw come from $a6" grep -q "query\[A\] v6.test from $a6" "$T/dns.log"
check "sluice is alive" alive cli

# without ipv6=1 the same literal is refused, and nothing reaches the web
# server (which this namespace would reach directly)
p4=$(free_port)
start cli4 "$SLUICE" -v -L "socks5://127.0.0.1:$p4" \
	-F "sstp://$U:$(printf %s "$PW" | sed 's/!/%21/')@127.0.0.1?insecure=1"
for _ in $(seq 300); do grep -aq "session up" "$T/cli4.log" && break; sleep 0.1; done
seen=$(grep -c "GET /token.txt" "$T/web.log")
check_fails "without ipv6=1: HTTP to [fd78::1] is refused" \
	curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$p4" "http://[fd78::1]:8080/token.txt"
check "... as unreachable" grep -aq "Could not connect to \[fd78::1\]:8080: network unreachable" "$T/cli4.log"
check_eq "... and the web server saw nothing more" "$seen" "$(grep -c "GET /token.txt" "$T/web.log")"
finish
