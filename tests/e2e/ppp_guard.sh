#!/bin/bash
# The PPP gateway's guard rails, in one sluice process with three listeners:
#
#   A  ppp+tcp, max-sessions=8       hostile peers and legitimate ones at once
#   B  ppp+tcp, max-sessions=2,      the session limit and the idle timeout
#      idle-timeout=4s
#   S  ppp:///PTY?baud=115200        a serial line: a pty that socat bridges
#                                    to the VM's ttyS1
#
# a. Six raw connections to A misbehave at the same time (tools.py
#    ppp_hostile: bad FCS, runt frames, garbage without flags, Configure-
#    Requests of 370 unknown options, an endless stream of acceptable
#    Configure-Requests, an endless LCP renegotiation).  Each gets a
#    session (the gateway speaks LCP to it) and each is closed within 40 s
#    (LCP's Max-Configure x restart timer is 30 s), while real pppd in the
#    VM brings IPCP up on A and fetches pages, and a sluice PPP hop on A
#    carries 20 MiB with sha256.
# b. With two hops up on B, a third connection is closed at once ("session
#    limit"); after one hop goes, a third hop gets a session and works.
# c. On B, a session without IP traffic is closed after idle-timeout while
#    a busy one (a fetch every 0.5 s) stays up.
# d. pppd in the VM dials through the pty and fetches a page; the pty's
#    termios show what sluice set (115200 baud, raw).
#
# pppd's serial port is joined to the gateway only once pppd runs (see
# vm_dial).  Runs in its own network namespace (loopback only); a VM run
# under TCG takes about 8 s, the whole test about 35 s (the slowest hostile
# peers are closed 30 s after they connect).  GUARD_KEEP=DIR keeps a copy
# of the temp dir (every process's log) there.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd socat curl
need_peers image
in_netns --net
ip link set lo up
T0=$(date +%s)
# the PPP helpers of tools.py (hostile, probe)
ptool() {
	PYTHONPATH="$SRCDIR/tests/e2e" python3 -c \
		'import sys, tools; sys.exit(tools.ppp_main(sys.argv[1:]))' "$@"
}

TOKEN="guard-ok-$$-$RANDOM"
mkdir -p "$T/www"
echo "$TOKEN" >"$T/www/token.txt"
mv "$(random_file 20M)" "$T/www/big20m"
head -c 1M /dev/urandom >"$T/www/big1m"
start web python3 -m http.server 8080 --bind 127.0.0.1 --directory "$T/www"
wait_port 8080

printf 'vm:vmpass\nhopa:hopapass\nalice:wonderland\nbob:builder\ncarol:singer\nserial:line\n' >"$T/users"
chmod 600 "$T/users"

PA=$(free_port)
PB=$(free_port)
MP=$(free_port)
TTY="$T/ttyS"
LA="ppp+tcp://127.0.0.1:$PA"
LB="ppp+tcp://127.0.0.1:$PB"
start gw "$SLUICE" --metrics "127.0.0.1:$MP" \
	-L "$LA?users=$T/users&max-sessions=8" \
	-L "$LB?users=$T/users&max-sessions=2&idle-timeout=4s" \
	-L "ppp://$TTY?users=$T/users&baud=115200"
wait_port "$PA"
wait_port "$PB"
wait_port "$MP"

# wait_log PATTERN SECONDS: until the gateway's log has a line matching PATTERN
wait_log() {
	local n=$(($2 * 10))
	while [ $n -gt 0 ]; do
		grep -aq -- "$1" "$T/gw.log" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
# the gateway's id ("c12") for the last session of USER that came up
cid_of() { grep -a "ppp: up, peer .* user $1," "$T/gw.log" | tail -n 1 | sed -n 's/.*\[\(c[0-9]*\)\].*/\1/p'; }
# a metric's value (first line whose name and labels start with $1)
metric() { curl -fsS -m 5 "http://127.0.0.1:$MP/metrics" | grep -F "$1" | head -n 1 | awk '{print $NF}'; }
# session_gone CID SECONDS: until the session (c12) is gone from /metrics (a
# session that ends because its link closed says so only at debug level)
session_gone() {
	local n=$(($2 * 5))
	while [ $n -gt 0 ]; do
		curl -fsS -m 5 "http://127.0.0.1:$MP/metrics" | grep -q "session=\"${1#c}\"" || return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}
# vm_dial NAME BRIDGE [peers ppp options]: boot the guest with its ttyS1
# on a socket QEMU listens on; once pppd has put the tty in raw mode
# ("Connect:" on the console), socat joins that socket to BRIDGE (a socat
# address: the gateway's TCP port, or a pty).  Until then the guest's ttyS1
# is in cooked mode and echoes what arrives, so a gateway that spoke first
# could hear its own LCP Configure-Request (and its own Reject of it) and
# negotiate with itself.
vm_dial() {
	local name=$1 bridge=$2 run="$T/vmrun-$1" qs="$T/vm-$1.sock" vpid
	shift 2
	"$PEERS" ppp --run "$run" --timeout 60 "$@" "listen:$qs" >"$T/vm-$name.log" 2>&1 &
	vpid=$!
	for _ in $(seq 600); do
		grep -aq "pppd: Connect:" "$run/console.log" 2>/dev/null && break
		kill -0 "$vpid" 2>/dev/null || break
		sleep 0.1
	done
	start "bridge-$name" socat UNIX-CONNECT:"$qs" "$bridge"
	wait "$vpid"
}
# what went wrong in a VM run: its log and pppd's lines
vm_tail() {
	tail -n 15 "$T/vm-$1.log"
	tr -d '\r' <"$T/vmrun-$1/console.log" 2>/dev/null | grep -a '^pppd' | tail -n 25
}

# ---- a. hostile peers next to legitimate ones, on A ----
start hostile ptool hostile "$PA" 40 badfcs runt garbage optflood crflood reneg
for _ in $(seq 50); do [ "$(grep -c ' open port=' "$T/hostile.log")" -ge 6 ] && break; sleep 0.1; done
fa=$(free_port)
start hop-a "$SLUICE" -L "tcp://127.0.0.1:$fa/10.0.2.2:8080" -F "ppp+tcp://hopa:hopapass@127.0.0.1:$PA"
wait_port "$fa"

sha1m=$(sha "$T/www/big1m")
cat >"$T/guest-a.sh" <<G
rm -f /tmp/big
timeout 30 wget -q -O /tmp/big http://10.0.2.2:8080/big1m || { vm_result FAIL "1 MiB fetch failed"; exit 1; }
sha256sum /tmp/big | grep -q $sha1m || { vm_result FAIL "1 MiB fetch: wrong sha256"; exit 1; }
vm_log "1 MiB with the right sha256"
G
if vm_dial a "TCP:127.0.0.1:$PA" --user vm --password vmpass \
	--url "http://10.0.2.2:8080/token.txt" --expect "$TOKEN" --guest-script "$T/guest-a.sh"; then
	pass "a: pppd in the VM: IPCP up and 1 MiB fetched (sha256) next to the hostile peers"
else
	fail "a: pppd in the VM next to the hostile peers"
	vm_tail a
fi
got=$(curl -fsS -m 60 "http://127.0.0.1:$fa/big20m" | sha256sum | cut -d' ' -f1)
check_eq "a: a sluice PPP hop on the same listener carries 20 MiB (sha256)" "$(sha "$T/www/big20m")" "$got"
check "a: the hostile peers were still connected during both transfers" alive hostile

# ---- b. the session limit, on B (max-sessions=2) ----
fal=$(free_port)
fbo=$(free_port)
fca=$(free_port)
start hop-alice "$SLUICE" -L "tcp://127.0.0.1:$fal/10.0.2.2:8080" -F "ppp+tcp://alice:wonderland@127.0.0.1:$PB"
start hop-bob "$SLUICE" -L "tcp://127.0.0.1:$fbo/10.0.2.2:8080" -F "ppp+tcp://bob:builder@127.0.0.1:$PB"
wait_port "$fal"
wait_port "$fbo"
# both busy for now: a fetch every half second
busy() { while :; do curl -fsS -m 3 -o /dev/null "http://127.0.0.1:$1/token.txt"; sleep 0.5; done; }
start busy-alice busy "$fal"
start busy-bob busy "$fbo"
wait_log "user alice," 20 && wait_log "user bob," 20
check_eq "b: two sessions up on B" 2 "$(metric "sluice_ppp_sessions{listener=\"$LB\"}")"
rej0=$(metric "sluice_connections_rejected_total{listener=\"$LB\"}")
out=$(ptool probe "$PB" 3)
echo "    third connection: $out"
case $out in
"closed after=0."*" lcp=0") pass "b: a third connection while two are up is closed at once, without LCP" ;;
*) fail "b: a third connection while two are up: $out" ;;
esac
check "b: the gateway logged the session limit" grep -aq "ppp: session limit (2) reached" "$T/gw.log"
check_eq "b: the refusal is counted" "$((rej0 + 1))" "$(metric "sluice_connections_rejected_total{listener=\"$LB\"}")"
calice=$(cid_of alice)
kill "$(pid_of busy-alice)" "$(pid_of hop-alice)"
if session_gone "$calice" 10; then
	start hop-carol "$SLUICE" -L "tcp://127.0.0.1:$fca/10.0.2.2:8080" -F "ppp+tcp://carol:singer@127.0.0.1:$PB"
	wait_port "$fca"
	if wait_log "user carol," 15 && curl -fsS -m 10 "http://127.0.0.1:$fca/token.txt" | grep -q "$TOKEN"; then
		pass "b: once one session ended, a new one (carol) is accepted and carries a page"
	else
		fail "b: no new session after one ended"
		tail -n 5 "$T/hop-carol.log"
	fi
else
	fail "b: alice's session did not end when her hop went away"
fi

# ---- c. the idle timeout, on B (4 s): carol is idle now, bob is busy ----
ccarol=$(cid_of carol)
cbob=$(cid_of bob)
if wait_log "\[$ccarol\] ppp: idle for" 10; then
	pass "c: the idle session was closed: $(grep -a "\[$ccarol\] ppp: idle for" "$T/gw.log" | sed 's/.*ppp: //')"
else
	fail "c: the idle session (carol, $ccarol) was not closed within 10 s"
fi
check "c: ...and it went down" wait_log "\[$ccarol\] ppp: down" 5
# bob has been up for at least twice the idle timeout before we judge
t_up=$(date -d "$(grep -a "\[$cbob\] ppp: up" "$T/gw.log" | cut -d' ' -f1)" +%s)
while [ $(($(date +%s) - t_up)) -lt 9 ]; do sleep 0.5; done
check_fails "c: the busy session (bob, $cbob, up $(($(date +%s) - t_up)) s) stayed up" \
	grep -aq "\[$cbob\] ppp: down" "$T/gw.log"
check "c: bob's hop still has its first session" bash -c \
	"[ \$(grep -c 'session up' '$T/hop-bob.log') = 1 ] && curl -fsS -m 5 http://127.0.0.1:$fbo/token.txt"
kill "$(pid_of busy-bob)"

# ---- d. a serial line: the pty behind S, bridged to the VM's ttyS1 ----
# socat makes the pty when pppd is ready; the gateway, retrying every 2 s,
# opens it and sets its termios
(wait_log "ppp: $TTY open at" 40 && stty -F "$TTY" -a >"$T/stty.out" 2>&1) &
stty_pid=$!
if vm_dial d "PTY,link=$TTY,raw,echo=0" --user serial --password line \
	--url "http://10.0.2.2:8080/token.txt" --expect "$TOKEN"; then
	pass "d: pppd in the VM over the serial line (a pty): IPCP up, page fetched"
else
	fail "d: pppd over the serial line"
	vm_tail d
fi
wait "$stty_pid"
check "d: the gateway logged the serial session up" grep -aq "user serial," "$T/gw.log"
check "d: the pty ran at 115200 baud, raw (the termios sluice set)" bash -c \
	"grep -q 'speed 115200 baud' '$T/stty.out' && grep -q -- '-icanon' '$T/stty.out' && grep -q -- '-echo ' '$T/stty.out'"

# ---- a, continued: every hostile connection was closed by the gateway ----
wait "$(pid_of hostile)"
rc=$?
sed 's/^/    /' "$T/hostile.log"
check_eq "a: every hostile connection was admitted and then closed by the gateway within 40 s" 0 "$rc"
for k in badfcs runt garbage optflood crflood reneg; do
	port=$(sed -n "s/^$k open port=\([0-9]*\).*/\1/p" "$T/hostile.log")
	cid=$(grep -a "session from 127.0.0.1:$port\$" "$T/gw.log" | sed -n 's/.*\[\(c[0-9]*\)\].*/\1/p')
	why=$(grep -a "\[$cid\] ppp: down:" "$T/gw.log" | sed 's/.*ppp: down: //')
	if [ -n "$cid" ] && [ -n "$why" ]; then
		pass "a: $k ($cid) ended by the gateway: $why"
	else
		fail "a: $k (port $port, session '$cid'): no end in the gateway's log"
	fi
done
check_eq "a: A counts only the hop's session now" 1 "$(metric "sluice_ppp_sessions{listener=\"$LA\"}")"
check "the gateway survived everything" alive gw
check "/health answers" bash -c "curl -fsS -m 5 http://127.0.0.1:$MP/health | grep -q '\"status\":\"ok\"'"
echo "    wall time $(($(date +%s) - T0)) s"

[ -n "${GUARD_KEEP:-}" ] && cp -r "$T" "$GUARD_KEEP"
finish
