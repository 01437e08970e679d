#!/bin/bash
# A recorded ws:// open replayed where it could do harm (docs/ws-protocol.md,
# "Replay"): a recording relay captures a real open carrying a request in
# its 0-RTT part, then the whole recorded stream is sent again to the same
# listener, to a second listener of the same process with the same key, and
# to the server restarted (with its replay-state file).  The target must see
# the request once.
. "$(dirname "$0")/lib.sh"
WSPEER="/usr/bin/python3 $SRCDIR/tests/e2e/wspeer.py"

KEY=$("$SLUICE" keygen)
mkdir -p "$T/www"
echo "the secret" >"$T/www/once"
web=$(free_port)
http_server "$web" "$T/www"
seen() { grep -c 'GET /once' "$T/http$web.log"; }

# a state file saying nothing was used yet, so the first open is 0-RTT
printf '%020d\n' 0 >"$T/replay.state"
ws=$(free_port)
ws2=$(free_port)
SERVER=("$SLUICE" -v -L "ws://127.0.0.1:$ws/tun?host-loopback=1&key=$KEY&replay-state=$T/replay.state"
	-L "ws://127.0.0.1:$ws2/tun?host-loopback=1&key=$KEY&replay-state=$T/replay.state")
start server "${SERVER[@]}"
wait_port "$ws" && wait_port "$ws2"

rec=$(free_port)
$WSPEER relay "$rec" "$ws" "$T/captured" &
relay=$!
sleep 0.3
fw=$(free_port)
start client "$SLUICE" -L "tcp://127.0.0.1:$fw/127.0.0.1:$web" -F "ws://127.0.0.1:$rec/tun?key=$KEY"
# not wait_port: its connection would be the one the relay records
for _ in $(seq 100); do grep -q "listening on" "$T/client.log" && break; sleep 0.05; done
check "the request goes through the recording relay" bash -c \
	"curl -fsS -m 5 http://127.0.0.1:$fw/once | grep -q 'the secret'"
wait $relay
check_eq "the target saw it once" 1 "$(seen)"
check "it went in the open's 0-RTT part" grep -q "ws tunnel up (sealed, [a-z0-9-]*)" "$T/server.log"

check_eq "replayed to the same listener: the decoy (its 404 for the path)" "HTTP/1.1 404 Not Found" \
	"$($WSPEER resend 127.0.0.1 "$ws" "$T/captured")"
check_eq "replayed to a second listener of the process: the decoy" "HTTP/1.1 404 Not Found" \
	"$($WSPEER resend 127.0.0.1 "$ws2" "$T/captured")"
check "both counted as replays" bash -c "[ \$(grep -c 'replayed token' '$T/server.log') -eq 2 ]"
check_eq "the target saw the request once" 1 "$(seen)"

kill "$(pid_of server)"
sleep 0.3
start server2 "${SERVER[@]}"
wait_port "$ws"
$WSPEER resend 127.0.0.1 "$ws" "$T/captured" >/dev/null
check "after a restart the replayed open is not taken" grep -q "0-RTT open not taken" "$T/server2.log"
sleep 0.5
check_eq "after the restart too, the target saw it once" 1 "$(seen)"

fw2=$(free_port)
start client2 "$SLUICE" -L "tcp://127.0.0.1:$fw2/127.0.0.1:$web" -F "ws://127.0.0.1:$ws/tun?key=$KEY"
wait_port "$fw2"
check "a client after the restart still gets through" bash -c \
	"curl -fsS -m 5 http://127.0.0.1:$fw2/once | grep -q 'the secret'"

finish
