#!/bin/bash
# Listening inside an SSTP session: a host on SoftEther's side connects
# back to a port that sluice's SSTP client exposes with -R on its session
# address.
#
# Who connects.  SoftEther's SecureNAT cannot originate such a connection:
# its virtual host only answers DHCP, DNS and ARP and NATs what sessions
# send out; it has no port mapping into the hub.  What can reach a session
# is another host on the same virtual hub, which SoftEther switches to it
# (an SSTP session is a host on the hub's Ethernet, its PPP turned into
# frames, its address answered in ARP by SoftEther).  So the connecting
# host here is a second SSTP session of SoftEther's, from a second sluice
# behind its proxy: SoftEther carries the SYN, the handshake and the bytes
# from one session to the other.
#
# Checked: the exposed service fetched byte-exact (sha256) by the other
# session through SoftEther; a port not exposed is refused at once (RST);
# the metrics of the listener.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd curl
need_peers softether
in_netns --net --mount
ip link set lo up
U=vpnuser
PW='S3cret-pw!'
SE="$T/se"
se_start() { "$PEERS" softether start "$SE" "$U" "$PW" >>"$T/softether.log" 2>&1; }
se_stop() { "$PEERS" softether stop "$SE" >>"$T/softether.log" 2>&1; }
trap 'se_stop; cleanup' EXIT

w=$(free_port); pb=$(free_port); ma=$(free_port)
mkdir -p "$T/www"
head -c 2M /dev/urandom >"$T/www/a.bin"
http_server "$w" "$T/www"
se_start || { echo "FAIL: SoftEther did not start"; cat "$T/softether.log"; exit 1; }
SURL="sstp://$U:$(printf %s "$PW" | sed 's/!/%21/')@127.0.0.1?insecure=1"

metric() { # PORT NAME: the first sample of that family
	curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 ~ "^"m"([{]|$)" {print $2; exit}'
}

start A "$SLUICE" -v --metrics "127.0.0.1:$ma" -R "tcp://:8080/127.0.0.1:$w" -F "$SURL"
start B "$SLUICE" -v -L "proxy://127.0.0.1:$pb" -F "$SURL"
wait_port "$pb"
addr=""
for _ in $(seq 150); do
	addr=$(sed -n 's/.*session up: address \([0-9.]*\),.*/\1/p' "$T/A.log" | head -1)
	[ -n "$addr" ] && grep -q "session up" "$T/B.log" && break
	sleep 0.2
done
check "A's session has a SecureNAT address ($addr)" test -n "$addr"

fetch() { # URL OUT
	for _ in $(seq 40); do
		curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$pb" -o "$2" "$1" 2>/dev/null && return 0
		sleep 0.25
	done
	return 1
}
check "B's session fetches A's service at $addr:8080 through SoftEther" \
	fetch "http://$addr:8080/a.bin" "$T/got"
check_eq "... byte-exact (sha256, 2 MiB)" "$(sha "$T/www/a.bin")" "$(sha "$T/got" 2>/dev/null)"
t0=$(date +%s%N)
curl -sS --max-time 10 -x "socks5h://127.0.0.1:$pb" "http://$addr:9999/" >/dev/null 2>"$T/c.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "a port A did not expose: refused (curl 97, SOCKS5 reply 5)" 97 "$rc"
check "... at once ($ms ms)" test "$ms" -lt 3000
check "A's metrics count the accepted connection" test "$(metric "$ma" sluice_lwip_accepts_total)" -ge 1
check "... and the reverse listener's bytes" \
	test "$(metric "$ma" sluice_reverse_bytes_out_total)" -ge 2000000
finish
