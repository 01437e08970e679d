#!/bin/bash
# An IPv6 literal target and an AAAA-only name through every stream tunnel
# (the packet tunnels have theirs: vpn6.sh, ppp_hop6.sh, ppp_gateway6.sh):
# a SOCKS5 client (curl) reaches http://[fd99::1]:8080/ and
# http://v6only.test:8080/ through ws, wss, wstan, sctp+udp, a socks5 hop
# and an http hop, each to its sluice server on loopback.  fd99::1 is an
# address of this namespace's loopback; v6only.test has only an AAAA
# record, at the namespace's resolver (dnsmasq), which the servers ask.
# A socks4:// hop cannot carry an IPv6 address: refused, and the web
# server, reachable from here directly, sees nothing; socks4a:// carries
# the AAAA-only name.
# Datagrams too, where the hop carries them: dig through udp:// forwards
# to a name server on [fd99::1] and to the AAAA-only name.
# Runs in its own network and mount namespace.  A few seconds.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd curl dnsmasq openssl dig
in_netns --net --mount
ip link set lo up
ip addr add fd99::1/128 dev lo
ns_resolver v6only.test,fd99::1
TOKEN="v6-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
start web python3 -m http.server 8080 --bind fd99::1 --directory "$T/www"
# a name server on the IPv6 literal, for datagrams over IPv6
start dns6 dnsmasq --no-daemon --no-resolv --no-hosts --port=53 --listen-address=fd99::1 \
	--bind-interfaces --user=root --pid-file="$T/dns6.pid" --log-queries \
	--host-record=v6udp.test,10.9.9.9
KEY=$("$SLUICE" keygen)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-keyout "$T/key.pem" -out "$T/cert.pem" -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
for _ in $(seq 50); do ss -ltn | grep -q 'fd99::1\]:8080' && break; sleep 0.1; done

# one NAME SERVER-URL HOP-URL [tcp]: both targets through that tunnel, over
# TCP and (unless tcp) as datagrams: dig through udp:// forwards to
# [fd99::1]:53 and to v6only.test:53
one() {
	local name=$1 srv=$2 hop=$3 pp uf un fw=()
	pp=$(free_port)
	uf=$(free_port)
	un=$(free_port)
	[ -n "${4:-}" ] || fw=(-L "udp://127.0.0.1:$uf/[fd99::1]:53" -L "udp://127.0.0.1:$un/v6only.test:53")
	start "srv_$name" "$SLUICE" -v -L "$srv"
	sleep 0.3
	start "cli_$name" "$SLUICE" -v -L "socks5://127.0.0.1:$pp" "${fw[@]}" -F "$hop"
	wait_port "$pp"
	check_eq "$name: the IPv6 literal [fd99::1]" "$TOKEN" \
		"$(curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pp" "http://[fd99::1]:8080/token.txt")"
	check_eq "$name: the AAAA-only name, resolved by the server" "$TOKEN" \
		"$(curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pp" "http://v6only.test:8080/token.txt")"
	if [ -z "${4:-}" ]; then
		check_eq "$name: a datagram to [fd99::1]:53 (dig through udp://)" 10.9.9.9 \
			"$(dig +short +time=3 +tries=2 -p "$uf" @127.0.0.1 v6udp.test A)"
		check_eq "$name: a datagram to the AAAA-only name" 10.9.9.9 \
			"$(dig +short +time=3 +tries=2 -p "$un" @127.0.0.1 v6udp.test A)"
	fi
	kill "$(pid_of "cli_$name")" "$(pid_of "srv_$name")" 2>/dev/null
}
p() { free_port; }
port=$(p)
one ws "ws://127.0.0.1:$port?key=$KEY" "ws://127.0.0.1:$port?key=$KEY"
port=$(p)
one wss "wss://127.0.0.1:$port?key=$KEY&cert=$T/cert.pem&certkey=$T/key.pem" \
	"wss://127.0.0.1:$port?key=$KEY&ca=$T/cert.pem"
port=$(p)
one wstan "wstan://127.0.0.1:$port?key=$KEY" "wstan://127.0.0.1:$port?key=$KEY"
port=$(p)
one sctp+udp "sctp+udp://127.0.0.1:$port?key=$KEY" "sctp+udp://127.0.0.1:$port?key=$KEY"
port=$(p)
one socks5 "socks5://127.0.0.1:$port" "socks5://127.0.0.1:$port"
port=$(p)
one http "http://127.0.0.1:$port" "http://127.0.0.1:$port" tcp
# socks4:// has no way to send an IPv6 address: the request is refused,
# although fd99::1 is reachable from here directly (nothing goes around
# the hop); socks4a:// sends the name, which its server resolves
port=$(p)
start srv_s4 "$SLUICE" -v -L "socks://127.0.0.1:$port"
pp=$(p)
start cli_s4 "$SLUICE" -v -L "socks5://127.0.0.1:$pp" -F "socks4://127.0.0.1:$port"
pa=$(p)
start cli_s4a "$SLUICE" -v -L "socks5://127.0.0.1:$pa" -F "socks4a://127.0.0.1:$port"
wait_port "$pp"
wait_port "$pa"
seen=$(grep -c "GET /token.txt" "$T/web.log")
check_fails "socks4: the IPv6 literal [fd99::1] is refused" \
	curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pp" "http://[fd99::1]:8080/token.txt"
check "... as an address family socks4 cannot carry" \
	grep -q "\[fd99::1\]:8080: address family not supported" "$T/cli_s4.log"
check_eq "... and the web server saw no request (none went around)" "$seen" \
	"$(grep -c "GET /token.txt" "$T/web.log")"
check_eq "socks4a: the AAAA-only name, resolved by its server" "$TOKEN" \
	"$(curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pa" "http://v6only.test:8080/token.txt")"
check "dnsmasq answered the servers' AAAA queries" grep -q "query\[AAAA\] v6only.test" "$T/dns.log"
finish
