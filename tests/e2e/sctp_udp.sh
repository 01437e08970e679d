#!/bin/bash
# Datagrams through the SCTP tunnel (SCTP over UDP, usrsctp) are sent
# unordered and never retransmitted (PR-SCTP, RFC 3758): over a link that
# loses 10% of its packets each way (a lossy UDP relay on the client's
# side of the udplab.inc namespaces, which also reads the SCTP chunks it
# drops), iperf3 -u through a udp:// forward gets its datagrams through,
# and no datagram chunk the link lost is ever sent again, while the stream
# chunks it lost are (a TCP transfer through the same association arrives
# whole, sha256).  Then a
# server whose own chain cannot carry UDP (-F http://) refuses datagrams:
# OPEN_FAIL 7, a log line naming the hop, SOCKS5 reply 7 at the client.
. "$(dirname "$0")/lib.sh"

need_cmd ip iperf3 curl
need_root "network namespaces"
in_netns --net --mount
. "$SRCDIR/tests/e2e/udplab.inc"
lab_up || skip "cannot build the namespaces"
TOOLS="python3 $SRCDIR/tests/e2e/tools.py"
SC="python3 $SRCDIR/tests/e2e/socks_client.py"
KEY=$("$SLUICE" keygen)

start srv ip netns exec dgS "$SLUICE" -L "sctp+udp://$LAB_S:9899?key=$KEY"
start iperf3s ip netns exec dgT iperf3 -s -B $LAB_T
mkdir -p "$T/www"
head -c 4M /dev/urandom >"$T/www/f"
start web ip netns exec dgT python3 -m http.server --bind $LAB_T --directory "$T/www" 8080
# the lossy link: 127.0.0.1:9899 here -> the server's 9899 (SCTP over UDP
# keeps the SCTP port in its UDP port, so the relay keeps the port too)
start lossy $TOOLS lossy-udp-to 9899 $LAB_S 10
px=1080
start cli "$SLUICE" -L "proxy://127.0.0.1:$px" \
	-L "tcp://127.0.0.1:5202/$LAB_T:5201" -L "udp://127.0.0.1:5202/$LAB_T:5201" \
	-F "sctp+udp://127.0.0.1:9899?key=$KEY"
wait_port "$px"
sleep 0.5

# datagrams, then a TCP transfer, through the one association
# (iperf3 opens its UDP stream with one datagram and its answer: over a
# link losing 10% either may be lost, and iperf3 then waits for ever, so
# a run gets 12 s and up to three tries; an interrupted iperf3 still
# writes its JSON, so a try counts only when iperf3 itself exited 0)
ok=1
for _ in 1 2 3; do
	timeout 12 iperf3 -u -c 127.0.0.1 -p 5202 -b 2M -l 1000 -t 3 -J >"$T/iperf.json" 2>&1
	ok=$?
	[ "$ok" = 0 ] && break
done
check "iperf3 -u ran through the forward" test "$ok" = 0
got=$(curl -fsS -m 60 --socks5-hostname "127.0.0.1:$px" "http://$LAB_T:8080/f" | sha256sum | cut -d' ' -f1)
check_eq "4 MiB over TCP through the same lossy association, sha256" "$(sha "$T/www/f")" "$got"
kill "$(pid_of lossy)"
sleep 0.3
# what the relay saw of the SCTP inside: the DATA chunks it dropped, and
# whether the sender sent them again
read -r pu du au do ao <<<"$(sed -n 's/.*passed unordered \([0-9]*\),.*dropped unordered \([0-9]*\) (again \([0-9]*\)), ordered \([0-9]*\) (again \([0-9]*\)).*/\1 \2 \3 \4 \5/p' "$T/lossy.log")"
echo "    the lossy link passed ${pu:-?} datagram chunks, dropped ${du:-?} (sent again: ${au:-?}), and dropped ${do:-?} stream chunks (sent again: ${ao:-?})"
check "datagrams crossed the link as unordered DATA chunks" test "${pu:-0}" -gt 100
check "datagrams were lost on the link" test "${du:-0}" -gt 0
check "a lost datagram is never sent again (PR-SCTP)" test "${au:-1}" -eq 0
check "while lost stream data is (reliable streams, the same association)" test "${ao:-0}" -gt 0

# a server whose chain cannot carry UDP refuses it
start srv2 ip netns exec dgS "$SLUICE" -L "sctp+udp://$LAB_S:9898?key=$KEY" -F "http://$LAB_SO:3128"
px2=1081
start cli2 "$SLUICE" -L "proxy://127.0.0.1:$px2" -F "sctp+udp://$LAB_S:9898?key=$KEY"
wait_port "$px2"
check "the server's chain cannot carry UDP: reply 7 at the client" $SC udp-refused "$px2"
check "the server names the hop" grep -q "the hop http://$LAB_SO:3128 cannot carry UDP" "$T/srv2.log"
finish
