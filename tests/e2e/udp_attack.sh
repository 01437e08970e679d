#!/bin/bash
# Bad input on the datagram paths, each against the real binaries; every
# one is dropped and counted, and the association or session lives on:
#   - malformed and oversized DGRAM records in a ws tunnel (wspeer.py, an
#     independent implementation of docs/ws-protocol.md);
#   - datagrams to a target the tunnel server's ACL refuses, through a
#     SOCKS5 association over ws;
#   - a flood of associations against max-conns, then every flow gone;
#   - a flood of client addresses against a udp:// forward's session cap,
#     then the sessions expire and a new client is served;
#   - 64 MiB of datagrams blasted through a udp:// forward over ws: the
#     queues drop instead of growing, RSS stays bounded.
. "$(dirname "$0")/lib.sh"

need_py cryptography
SC="python3 $SRCDIR/tests/e2e/socks_client.py"
WSPEER="/usr/bin/python3 $SRCDIR/tests/e2e/wspeer.py"
KEY=$("$SLUICE" keygen)
NOQ="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

echo_p=$(free_port)
start uecho $SC udp-echo "$echo_p"
ws=$(free_port)
wm=$(free_port)
start server env ASAN_OPTIONS="$NOQ" "$SLUICE" --metrics "127.0.0.1:$wm" \
	-L "ws://127.0.0.1:$ws/t?key=$KEY&host-loopback=1&deny-target=127.0.0.3"
wait_port "$ws"
smetric() { curl -fsS "http://127.0.0.1:$wm/metrics" | awk -v k="$1" '$1 == k {print $2}'; }

# --- malformed and oversized DGRAM records
before=$(smetric 'sluice_udp_dropped_total{reason="malformed"}')
check "bad DGRAM records are dropped, good ones around them carried" \
	$WSPEER udp 127.0.0.1 "$ws" /t "$KEY" "$echo_p"
after=$(smetric 'sluice_udp_dropped_total{reason="malformed"}')
check "... and counted (malformed: ${before:-?} -> ${after:-?})" test "${after:-0}" -ge $((${before:-0} + 6))

# --- a refused target, after resolution, for every datagram
px=$(free_port)
cm=$(free_port)
start client env ASAN_OPTIONS="$NOQ" "$SLUICE" --metrics "127.0.0.1:$cm" \
	-L "proxy://127.0.0.1:$px?max-conns=40" \
	-L "udp://127.0.0.1:$(free_port)/127.0.0.1:9" -F "ws://127.0.0.1:$ws/t?key=$KEY"
wait_port "$px"
cmetric() { curl -fsS "http://127.0.0.1:$cm/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
before=$(smetric 'sluice_udp_dropped_total{reason="refused"}')
check "a datagram to a refused target gets nothing; the association goes on" \
	$SC udp-acl "$px" "$echo_p" 127.0.0.3
after=$(smetric 'sluice_udp_dropped_total{reason="refused"}')
check "... and the server counts it (refused: ${before:-?} -> ${after:-?})" \
	test "${after:-0}" -gt "${before:-0}"

# --- a flood of associations
granted=$($SC assoc-flood "$px" 200)
check "200 associations at once: at most max-conns=40 granted ($granted)" \
	test "${granted:-999}" -le 40 -a "${granted:-0}" -gt 0
sleep 1
check_eq "then no flow is left on the client" 0 "$(cmetric sluice_udp_flows_active)"
check_eq "nor on the server" 0 "$(smetric sluice_udp_flows_active)"
check "and an association still works" $SC udp "$px" "$echo_p"

# --- a flood of client addresses against a udp:// forward
fp=$(free_port)
fm=$(free_port)
start fwd "$SLUICE" --metrics "127.0.0.1:$fm" \
	-L "udp://127.0.0.1:$fp/127.0.0.1:$echo_p?max-conns=50&idle-timeout=1s"
wait_port "$fm"
fmetric() { curl -fsS "http://127.0.0.1:$fm/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
$SC udp-flood "$fp" 500
sleep 0.5
l="{listener=\"udp://127.0.0.1:$fp\"}"
s=$(fmetric "sluice_udp_forward_sessions$l")
r=$(fmetric "sluice_udp_forward_refused_total$l")
# (the kernel may drop some of the burst before sluice reads it)
check "500 client addresses: sessions capped at 50 ($s), the rest refused ($r)" \
	test "${s:-999}" -eq 50 -a "${r:-0}" -gt 0
sleep 2.5
check_eq "idle sessions expire" 0 "$(fmetric "sluice_udp_forward_sessions$l")"
check "a new client is served" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b'hi', ('127.0.0.1', $fp)); assert s.recvfrom(10)[0] == b'hi'"

# --- a blast through a udp:// forward over ws: bounded queues, bounded RSS
bp=$(free_port)
start blastfwd env ASAN_OPTIONS="$NOQ" "$SLUICE" \
	-L "udp://127.0.0.1:$bp/127.0.0.1:9" -F "ws://127.0.0.1:$ws/t?key=$KEY"
sleep 0.5
rss() { awk '/VmRSS/ {print $2}' "/proc/$(pid_of "$1")/status"; }
$SC udp-blast "$bp" 4 # warm up: the session, the WebSocket
sleep 0.5
b_cli=$(rss blastfwd)
b_srv=$(rss server)
$SC udp-blast "$bp" 64
a_cli=$(rss blastfwd)
a_srv=$(rss server)
echo "    RSS after 64 MiB: forward ${b_cli} -> ${a_cli} kB, ws server ${b_srv} -> ${a_srv} kB"
check "the forward grows by less than 16 MiB" test "${a_cli:-999999}" -lt $((${b_cli:-0} + 16384))
check "the server grows by less than 16 MiB" test "${a_srv:-999999}" -lt $((${b_srv:-0} + 16384))
check "both alive" bash -c "kill -0 $(pid_of blastfwd) && kill -0 $(pid_of server)"
finish
