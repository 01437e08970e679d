#!/bin/bash
# Listening inside the UDP VPN: two rootless clients (lwIP, no TUN) of one
# sluice VPN server each expose a local web server (python3 http.server)
# with -R on their tunnel address, and each fetches the other's through
# its own SOCKS front end, by the peer's VPN address: the server routes
# between clients.  Checked: both directions byte-exact (sha256); a port
# nobody exposed is refused at once (lwIP's RST: the SOCKS reply says
# connection refused); an exposed port whose local target refuses closes
# cleanly; reverse-allow= refuses a host it does not list; the metrics
# of the listener (sluice_lwip_accepts_*, sluice_reverse_*); a flood of
# SYNs from a third client (vpn_peer.py, a real login) to an exposed
# port is answered for at most the cap of half-open handshakes (64),
# and the client's memory returns to where it was once they expire.
. "$(dirname "$0")/lib.sh"
E2E="$SRCDIR/tests/e2e"
need_cmd curl
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography"

vp=$(free_port); wa=$(free_port); wb=$(free_port); pa=$(free_port); pb=$(free_port)
ma=$(free_port); mb=$(free_port); closed=$(free_port)
mkdir -p "$T/wa" "$T/wb"
head -c 3M /dev/urandom >"$T/wa/a.bin"
head -c 2M /dev/urandom >"$T/wb/b.bin"
http_server "$wa" "$T/wa"
http_server "$wb" "$T/wb"

metric() { # PORT NAME: the first sample of that family
	curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 ~ "^"m"([{]|$)" {print $2; exit}'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$(pid_of "$1")/status"; }

for u in alice:10.10.0.21 bob:10.10.0.22 carol:10.10.0.23; do
	echo "pw-${u%%:*}" | "$SLUICE" vpn-user add "$T/users.txt" "${u%%:*}" "${u#*:}" >>"$T/users.log" 2>&1
done
start server "$SLUICE" -v -L "vpn://127.0.0.1:$vp?users=$T/users.txt&net=10.10.0.0/24"
for _ in $(seq 50); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)
	[ -n "$pub" ] && break
	sleep 0.1
done
# alice lets only bob in on 8082 (reverse-allow): carol's flood below
# comes to 8080
start A "$SLUICE" -v --metrics "127.0.0.1:$ma" -L "proxy://127.0.0.1:$pa" \
	-R "tcp://:8080/127.0.0.1:$wa" -R "tcp://:8081/127.0.0.1:$closed" \
	-F "vpn://alice:pw-alice@127.0.0.1:$vp?pub=$pub"
start B "$SLUICE" -v --metrics "127.0.0.1:$mb" -L "proxy://127.0.0.1:$pb" \
	-R "tcp://:8080/127.0.0.1:$wb" \
	-F "vpn://bob:pw-bob@127.0.0.1:$vp?pub=$pub&reverse-allow=10.10.0.21"
wait_port "$pa"
wait_port "$pb"

fetch() { # PROXY URL OUT
	for _ in $(seq 50); do
		curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$1" -o "$3" "$2" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
check "B fetches A's service at 10.10.0.21:8080 through its SOCKS front end" \
	fetch "$pb" "http://10.10.0.21:8080/a.bin" "$T/got_a"
check_eq "... byte-exact (sha256, 3 MiB)" "$(sha "$T/wa/a.bin")" "$(sha "$T/got_a" 2>/dev/null)"
check "A fetches B's service at 10.10.0.22:8080" \
	fetch "$pa" "http://10.10.0.22:8080/b.bin" "$T/got_b"
check_eq "... byte-exact (sha256, 2 MiB)" "$(sha "$T/wb/b.bin")" "$(sha "$T/got_b" 2>/dev/null)"
# ten at once, both ways
cp=""
for i in $(seq 10); do
	curl -fsS --max-time 30 -x "socks5h://127.0.0.1:$pb" -o "$T/par_a$i" "http://10.10.0.21:8080/a.bin" &
	cp="$cp $!"
	curl -fsS --max-time 30 -x "socks5h://127.0.0.1:$pa" -o "$T/par_b$i" "http://10.10.0.22:8080/b.bin" &
	cp="$cp $!"
done
# shellcheck disable=SC2086
wait $cp
ok=0
for i in $(seq 10); do
	[ "$(sha "$T/par_a$i")" = "$(sha "$T/wa/a.bin")" ] && [ "$(sha "$T/par_b$i")" = "$(sha "$T/wb/b.bin")" ] && ok=$((ok + 1))
done
check_eq "20 concurrent fetches across, all byte-exact" 10 "$ok"

# a port A did not expose: lwIP's RST, so the SOCKS reply is "connection
# refused" (curl: 97) and it comes at once, not after a timeout
t0=$(date +%s%N)
curl -sS --max-time 10 -x "socks5h://127.0.0.1:$pb" "http://10.10.0.21:9999/" >/dev/null 2>"$T/c1.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "a port not exposed: refused (curl exit 97, SOCKS5 reply 5)" 97 "$rc"
check "... at once ($ms ms)" test "$ms" -lt 3000
check "... with reply 5, connection refused" grep -q '(5)' "$T/c1.err"
# an exposed port whose local target refuses: the connection closes at
# once with a FIN, no reply (its request, there already, is read and
# dropped: closing with unread data would reset it)
t0=$(date +%s%N)
curl -sS --max-time 10 -x "socks5h://127.0.0.1:$pb" "http://10.10.0.21:8081/" >/dev/null 2>"$T/c2.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "an exposed port whose target refuses: a clean close, no reply (curl 52)" 52 "$rc"
check "... at once ($ms ms)" test "$ms" -lt 3000
# reverse-allow: B lets only 10.10.0.21 in; carol (a third client) is refused
out=$(/usr/bin/python3 "$E2E/vpn_peer.py" connect "$vp" "$pub" carol pw-carol 10.10.0.22 8080)
check_eq "reverse-allow: a host it does not list is reset after the handshake" "sent 1 synack 1 rst 1" "$out"

check "A's metrics count the accepted connections" test "$(metric "$ma" sluice_lwip_accepts_total)" -ge 11
check "... and the reverse listener's (sluice_reverse_connections_total)" \
	test "$(metric "$ma" sluice_reverse_connections_total)" -ge 11
check "B's metrics count the refusal" test "$(metric "$mb" sluice_lwip_accepts_refused_total)" -ge 1

# a SYN flood from carol at A's exposed port: at most 64 handshakes are
# answered, the rest dropped and counted; memory stays where it was; a
# real fetch works again once the half-open ones expire (lwIP: 20 s)
sleep 1
rss0=$(rss_kb A)
out=$(/usr/bin/python3 "$E2E/vpn_peer.py" synflood "$vp" "$pub" carol pw-carol 10.10.0.21 8080 3000)
echo "    SYN flood: $out"
n=$(echo "$out" | awk '{print $4}')
check "a flood of 3000 SYNs: at most 64 handshakes answered ($n)" test "${n:-999}" -le 64 -a "${n:-0}" -ge 32
check "... the rest dropped and counted" test "$(metric "$ma" sluice_lwip_syns_dropped_total)" -ge 2900
check "A is alive" alive A
rss1=$(rss_kb A)
sleep 21
rss2=$(rss_kb A)
echo "    A's RSS: ${rss0} kB before the flood, ${rss1} kB after it, ${rss2} kB once it expired"
check "A's memory did not grow with the flood (within 2 MiB)" test "$rss1" -le $((rss0 + 2048))
check "... nor once it expired" test "$rss2" -le $((rss0 + 2048))
check "after the half-open handshakes expire, B fetches from A again" \
	fetch "$pb" "http://10.10.0.21:8080/a.bin" "$T/got_a2"
check_eq "... byte-exact" "$(sha "$T/wa/a.bin")" "$(sha "$T/got_a2" 2>/dev/null)"
finish
