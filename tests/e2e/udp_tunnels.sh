#!/bin/bash
# UDP through every tunnel, from real SOCKS5 UDP clients, to real UDP
# servers, proving that nothing goes around the tunnel.  The lab
# (udplab.inc): client namespace -> tunnel server namespace -> target
# namespace, the client's default route leading to the target too, so a
# leak would work and show.  Per tunnel:
#   - Knot's kdig under Dante's socksify (dante-client) asks the target's
#     dnsmasq for probe.test (dig itself sends with sendmmsg, which Dante's
#     library does not wrap: its queries would not reach a SOCKS server);
#   - dig through v2ray (a dokodemo-door whose socks outbound is sluice);
#   - iperf3 -u through v2ray, and iperf3 -u under socksify;
#   - dig through sluice's own dns:// (UDP and TCP) and udp:// forward, and
#     iperf3 -u through a udp:// forward (its control through tcp://);
# Tunnels: ws, wss, sctp+udp (PR-SCTP), wstan (DGM), socks5 (Dante's danted:
# UDP ASSOCIATE upstream) and
# socks5 over ws (the socks hop's datagrams inside the WebSocket).
#   - dnsmasq and iperf3 saw only the tunnel server's address, and
#     tcpdump on the client's link saw no UDP (or, for tunnels that are
#     UDP themselves, none but to and from the tunnel server).
# Tunnels: ws, wss, and the packet tunnels vpn:// and ppp+tcp:// (lwIP).
# First a control: udp=direct, on purpose around the tunnel, must show in
# both the target's log and the capture, or the checks prove nothing.
# ctest-label: slow
. "$(dirname "$0")/lib.sh"

need_cmd ip tcpdump dnsmasq iperf3 v2ray socksify kdig dig openssl danted
need_root "network namespaces"
in_netns --net --mount
. "$SRCDIR/tests/e2e/udplab.inc"
lab_up || skip "cannot build the namespaces"
lab_targets

KEY=$("$SLUICE" keygen)
PX=1080 # the client's proxy; v2ray's ports:
VDNS=5300
VIPF=5201
lab_socksify_conf $PX
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-keyout "$T/key.pem" -out "$T/cert.pem" -subj "/CN=tunnel" \
	-addext "subjectAltName=IP:$LAB_S" >/dev/null 2>&1

# one_tunnel NAME EXPECT SERVER-URL HOP-URL [CAPTURE-FILTER-OF-ALLOWED-UDP]
one_tunnel() {
	local name=$1 expect=$2 srv=$3 hop=$4 allowed=${5:-} mark got
	if [ -n "$srv" ]; then
		start "srv_$name" ip netns exec dgS "$SLUICE" -L "$srv"
	fi
	start "cli_$name" "$SLUICE" -L "proxy://127.0.0.1:$PX${hop%%|*}" \
		-L "dns://127.0.0.1:5353?server=$LAB_T" -L "udp://127.0.0.1:5354/$LAB_T:53" \
		-L "tcp://127.0.0.1:5202/$LAB_T:5201" -L "udp://127.0.0.1:5202/$LAB_T:5201" ${hop#*|}
	wait_port $PX
	sleep 0.5
	lab_v2ray $VDNS $VIPF $PX
	mark=$(($(lab_dns_mark) + 1))
	lab_capture_start
	got=$(socksify_run kdig +short +retry=1 +time=3 @$LAB_T probe.test 2>/dev/null | tail -1)
	check_eq "$name: kdig under socksify" 10.9.9.9 "$got"
	got=$(dig +short +tries=2 +time=3 -p $VDNS @127.0.0.1 probe.test | tail -1)
	check_eq "$name: dig through v2ray" 10.9.9.9 "$got"
	iperf3 -u -c 127.0.0.1 -p $VIPF -b 20M -t 1 -l 1200 -J >"$T/iperf_v2_$name.json" 2>&1
	got=$(iperf_arrived "$T/iperf_v2_$name.json")
	check "$name: iperf3 -u through v2ray ($got datagrams arrived)" test "$got" -gt 0
	socksify_run iperf3 -u -c $LAB_T -b 20M -t 1 -l 1200 -J >"$T/iperf_sf_$name.json" 2>/dev/null
	got=$(iperf_arrived "$T/iperf_sf_$name.json")
	check "$name: iperf3 -u under socksify ($got datagrams arrived)" test "$got" -gt 0
	got=$(dig +short +tries=2 +time=3 -p 5353 @127.0.0.1 probe.test | tail -1)
	check_eq "$name: dig through dns://" 10.9.9.9 "$got"
	got=$(dig +short +tcp +tries=2 +time=3 -p 5353 @127.0.0.1 probe.test | tail -1)
	check_eq "$name: dig +tcp through dns://" 10.9.9.9 "$got"
	got=$(dig +short +tries=2 +time=3 -p 5354 @127.0.0.1 probe.test | tail -1)
	check_eq "$name: dig through a udp:// forward" 10.9.9.9 "$got"
	iperf3 -u -c 127.0.0.1 -p 5202 -b 20M -t 1 -l 1200 -J >"$T/iperf_fw_$name.json" 2>&1
	got=$(iperf_arrived "$T/iperf_fw_$name.json")
	check "$name: iperf3 -u through a udp:// forward ($got datagrams arrived)" test "$got" -gt 0
	lab_capture_stop
	got=$(lab_dns_from $mark)
	check_eq "$name: the DNS server saw only" "$expect " "$got"
	got=$(grep "connected to" "$T/iperf3s.log" | tail -n 3 | awk '{print $(NF-2)}' | sort -u | tr '\n' ' ')
	check_eq "$name: iperf3 saw only" "$expect " "$got"
	if [ "$expect" = $LAB_SO ]; then
		got=$(lab_captured "udp${allowed:+ and not ($allowed)}")
		check_eq "$name: UDP leaving the client around the tunnel" 0 "$got"
	else
		got=$(lab_captured "udp and dst host $LAB_T")
		check "control: the capture shows the leak ($got datagrams)" test "$got" -gt 0
	fi
	stop v2ray "cli_$name"
	[ -n "$srv" ] && stop "srv_$name"
}

# stop NAME...: end the processes and wait until they are gone, so the
# next capture sees nothing of theirs (an SCTP server's last heartbeats)
stop() {
	local p n
	for n in "$@"; do kill "$(pid_of "$n")" 2>/dev/null; done
	for n in "$@"; do
		p=$(pid_of "$n")
		for _ in $(seq 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
}

one_tunnel control $LAB_C "" "?udp=direct|"
one_tunnel ws $LAB_SO "ws://$LAB_S:8000?key=$KEY" "|-F ws://$LAB_S:8000?key=$KEY"
one_tunnel sctp+udp $LAB_SO "sctp+udp://$LAB_S:9899?key=$KEY" "|-F sctp+udp://$LAB_S:9899?key=$KEY" \
	"host $LAB_S"
WKEY=$(head -c 16 /dev/urandom | base64)
one_tunnel wstan $LAB_SO "wstan://$LAB_S:8080?key=$WKEY" "|-F wstan://$LAB_S:8080?key=$WKEY"
lab_dante 1081
one_tunnel socks5 $LAB_SO "" "|-F socks5://$LAB_S:1081" "host $LAB_S"
one_tunnel ws+socks5 $LAB_SO "ws://$LAB_S:8000?key=$KEY" \
	"|-F ws://$LAB_S:8000?key=$KEY -F socks5://$LAB_S:1081"
one_tunnel wss $LAB_SO "wss://$LAB_S:8443?key=$KEY&cert=$T/cert.pem&certkey=$T/key.pem" \
	"|-F wss://$LAB_S:8443?key=$KEY&ca=$T/cert.pem"
# the packet tunnels: lwIP UDP pcbs on the client, each session's libslirp
# NAT on the server (the VPN's own datagrams to its port are no leak)
KEYF="$T/vpn.key"
"$SLUICE" keygen >"$KEYF"
VPUB=$(/usr/bin/python3 -c 'import base64, sys
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives import serialization as s
k = X25519PrivateKey.from_private_bytes(base64.b64decode(open(sys.argv[1]).read().strip()))
print(base64.b64encode(k.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)).decode())' "$KEYF")
echo pw | "$SLUICE" vpn-user add "$T/vpn.users" alice >/dev/null 2>&1
one_tunnel vpn $LAB_SO "vpn://$LAB_S:5555?users=$T/vpn.users&net=10.10.0.0/24&key=$KEYF" \
	"|-F vpn://alice:pw@$LAB_S:5555?pub=$VPUB" "host $LAB_S and port 5555"
one_tunnel ppp $LAB_SO "ppp+tcp://$LAB_S:2323?auth=none" "|-F ppp+tcp://$LAB_S:2323"
finish
