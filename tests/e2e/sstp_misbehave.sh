#!/bin/bash
# The SSTP client's timers and error paths, against a scripted server
# (sstp_server.py) that misbehaves on purpose, through the real protocol
# over TLS on loopback.  Each mode gets its own server and its own sluice
# (-L tcp://... -F sstp://...); all run at once and the checks read the
# server's log (one line per SSTP packet) and sluice's.
#
#   http403     HTTP 403: reported, no SSTP sent, retried with backoff
#   nothttp     an answer that is not HTTP: reported, retried
#   nohttp      no HTTP answer: dropped after timeout, retried
#   notls       TCP accepted, TLS never answered: dropped after timeout
#   eof         200, then the server closes: reported, retried
#   silent      no answer to Call Connect Request: Call Abort
#               NEGOTIATION_TIMEOUT after timeout=2s
#   nak         Nak to every request: 3 requests, then Call Abort
#               RETRY_COUNT_EXCEEDED
#   noecho      Ack, then silence: 3 Echo Requests 1 s apart (echo=1s),
#               then Call Abort
#   echo        the server's Echo Requests are answered, and they keep the
#               client's own Hello timer quiet
#   lateack     Ack after 1.5 s with timeout=2s: the negotiation timer
#               starts again at the Ack (MS-SSTP 3.2.2.1)
#   disconnect  Call Disconnect: answered with Call Disconnect Ack
#   sha1only    only SHA-1 offered, hash=sha256: Call Abort VALUE_NOT_SUPPORTED
#   noattr      Ack without a binding request: REQUIRED_ATTRIBUTE_MISSING
#   abort       the server aborts: reported, retried
#   earlydata   data before the Ack: UNACCEPTED_FRAME_RECEIVED
#   unexpected  Call Connected from the server: UNACCEPTED_FRAME_RECEIVED
#   garbage     bad version, bad length, an attribute past the end: Call
#               Abort INVALID_FRAME_RECEIVED each time, with backoff between
#
# Every sluice must stay up, and exit 0 on SIGTERM with no sanitizer report.
# About 13 s
# (16 s with ASan, three runs at once on two cores).
set -u
. "$(dirname "$0")/lib.sh"
need_cmd openssl
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
SRV="$SRCDIR/tests/e2e/sstp_server.py"
START=$(date +%s.%N)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$T/key.pem" -out "$T/cert.pem" -subj /CN=sstp-misbehave -days 2 \
	>"$T/openssl.out" 2>&1 || { cat "$T/openssl.out"; exit 1; }

# mode -> sluice URL options
declare -A OPTS=(
	[http403]="timeout=5s" [nothttp]="timeout=5s" [nohttp]="timeout=2s"
	[notls]="timeout=2s" [eof]="timeout=5s" [silent]="timeout=2s"
	[nak]="timeout=5s" [noecho]="echo=1s&timeout=60s" [echo]="echo=1s&timeout=60s"
	[lateack]="timeout=2s" [disconnect]="timeout=5s" [sha1only]="hash=sha256"
	[noattr]="timeout=5s" [abort]="timeout=5s" [earlydata]="timeout=5s"
	[unexpected]="timeout=5s" [garbage]="timeout=5s"
)
MODES="http403 nothttp nohttp notls eof silent nak noecho echo lateack disconnect
	sha1only noattr abort earlydata unexpected garbage"

# the servers first: each prints LISTEN once it accepts
for m in $MODES; do
	start "srv_$m" "$PY" "$SRV" --mode "$m" --port 0 --cert "$T/cert.pem" --key "$T/key.pem"
done
declare -A SPORT FWD
for m in $MODES; do
	for _ in $(seq 200); do
		grep -q '^LISTEN ' "$T/srv_$m.log" 2>/dev/null && break
		sleep 0.05
	done
	SPORT[$m]=$(sed -n 's/^LISTEN 127\.0\.0\.1://p' "$T/srv_$m.log")
	[ -n "${SPORT[$m]}" ] || { fail "server $m did not start"; cat "$T/srv_$m.log"; exit 1; }
done
for m in $MODES; do
	FWD[$m]=$(free_port)
	start "cli_$m" "$SLUICE" -v -L "tcp://127.0.0.1:${FWD[$m]}/10.0.0.1:80" \
		-F "sstp://u:p@127.0.0.1:${SPORT[$m]}?insecure=1&${OPTS[$m]}"
done
# the session opens at start-up; a connection to each forward waits for it
# too (and gets nothing: no session comes up)
for m in $MODES; do
	wait_port "${FWD[$m]}"
	start "trig_$m" curl -sS -m 4 "http://127.0.0.1:${FWD[$m]}/"
done

S() { echo "$T/srv_$1.log"; }
C() { echo "$T/cli_$1.log"; }
# wait_line FILE REGEX [SECONDS]: until a line of FILE matches
wait_line() {
	local n=$(( ${3:-20} * 10 ))
	while [ $n -gt 0 ]; do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
# val FILE REGEX KEY: KEY=value of the first line matching REGEX
val() { grep -E "$2" "$1" | head -n 1 | grep -o " $3=[^ ]*" | cut -d= -f2; }
# count FILE REGEX
count() { grep -Ec "$2" "$1"; }
# between X LO HI: LO <= X <= HI (decimals)
between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'; }
# backoff FILE: connections 1, 2, 3 came at least 1 s, then 2 s apart
backoff() {
	local a1 a2 a3
	a1=$(val "$1" '^CONN conn=1 ' at)
	a2=$(val "$1" '^CONN conn=2 ' at)
	a3=$(val "$1" '^CONN conn=3 ' at)
	echo "connections at: $a1 $a2 $a3"
	awk -v a="$a1" -v b="$a2" -v c="$a3" \
		'BEGIN { exit !(a != "" && b != "" && c != "" && b - a >= 0.9 && c - b >= 1.9) }'
}
ABORT='^RX CALL_ABORT '
c1=' conn=1 '

# ---- HTTP and TLS ----

m=http403
wait_line "$(S $m)" '^CONN conn=3 ' 15
check "$m: the client is told and says so" grep -q "the server answered HTTP 403" "$(C $m)"
check_eq "$m: no SSTP packet after the 403" 0 "$(count "$(S $m)" '^RX ')"
check "$m: retried after 1 s, then after 2 s (backoff)" backoff "$(S $m)"
check "$m: the request is SSTP_DUPLEX_POST with Host, a correlation id, the long length" \
	grep -q '^HTTP SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1 host=127.0.0.1:'"${SPORT[$m]}"' correlation=yes length=18446744073709551615 ' "$(S $m)"

m=nothttp
wait_line "$(S $m)" '^CONN conn=2 ' 15
check "$m: reported, retried" bash -c "grep -q \"the server's answer is not HTTP\" '$(C $m)' &&
	grep -q '^CONN conn=2 ' '$(S $m)'"

m=nohttp
wait_line "$(S $m)" '^CONN conn=2 ' 15
check "$m: dropped after timeout=2s" between "$(val "$(S $m)" "^(EOF|RESET).*$c1" t)" 1.8 3.5
check "$m: retried" grep -q '^CONN conn=2 ' "$(S $m)"

m=notls
wait_line "$(S $m)" '^CONN conn=2 ' 8
check "$m: a TLS handshake that never ends is dropped after timeout=2s" \
	between "$(val "$(S $m)" "^(EOF|RESET).*$c1" t)" 1.8 3.5
check "$m: ... and retried" grep -q '^CONN conn=2 ' "$(S $m)"

m=eof
wait_line "$(S $m)" '^CONN conn=2 ' 15
check "$m: reported, retried" bash -c "grep -q 'the server closed the connection' '$(C $m)' &&
	grep -q '^CONN conn=2 ' '$(S $m)'"

# ---- negotiation ----

m=silent
wait_line "$(S $m)" "$ABORT.*$c1" 15
check_eq "$m: one Call Connect Request" 1 "$(count "$(S $m)" "^RX CALL_CONNECT_REQUEST proto=1$c1")"
check_eq "$m: Call Abort NEGOTIATION_TIMEOUT" 8 "$(val "$(S $m)" "$ABORT.*$c1" status)"
check "$m: ... after timeout=2s" between "$(val "$(S $m)" "$ABORT.*$c1" t)" 1.8 3.5
check "$m: sluice says why" grep -q "no answer to the call request in time (Call Abort sent: NEGOTIATION_TIMEOUT)" "$(C $m)"
check "$m: a new session after the backoff" wait_line "$(S $m)" '^RX CALL_CONNECT_REQUEST .* conn=2 ' 10

m=nak
wait_line "$(S $m)" "$ABORT.*$c1" 15
check_eq "$m: three Call Connect Requests in all" 3 "$(count "$(S $m)" "^RX CALL_CONNECT_REQUEST proto=1$c1")"
check_eq "$m: then Call Abort RETRY_COUNT_EXCEEDED" 6 "$(val "$(S $m)" "$ABORT.*$c1" status)"
check "$m: sluice says why" grep -q "the server refused the call 3 times (VALUE_NOT_SUPPORTED)" "$(C $m)"
check "$m: a new session after the backoff" wait_line "$(S $m)" '^CONN conn=2 ' 10

m=lateack
wait_line "$(S $m)" "$ABORT.*$c1" 15
check "$m: PPP started after the late Ack" grep -q "^RX DATA proto=c021 .*$c1" "$(S $m)"
check_eq "$m: Call Abort NEGOTIATION_TIMEOUT when PPP does not finish" 8 "$(val "$(S $m)" "$ABORT.*$c1" status)"
check "$m: ... timeout=2s counted again from the Ack (at 1.5 s)" \
	between "$(val "$(S $m)" "$ABORT.*$c1" t)" 3.3 5

m=sha1only
wait_line "$(S $m)" "$ABORT.*$c1" 15
check_eq "$m: Call Abort VALUE_NOT_SUPPORTED" 4 "$(val "$(S $m)" "$ABORT.*$c1" status)"
check_eq "$m: ... naming the Crypto Binding Request attribute" 4 "$(val "$(S $m)" "$ABORT.*$c1" attr)"
check_eq "$m: PPP never started" 0 "$(count "$(S $m)" "^RX DATA.*$c1")"
check "$m: sluice says why" grep -q "no crypto binding hash we accept" "$(C $m)"

m=noattr
wait_line "$(S $m)" "$ABORT.*$c1" 15
check_eq "$m: Call Abort REQUIRED_ATTRIBUTE_MISSING" 10 "$(val "$(S $m)" "$ABORT.*$c1" status)"

m=abort
wait_line "$(S $m)" '^CONN conn=2 ' 15
check "$m: reported, retried" bash -c "grep -q 'the server aborted the call (UNRECOGNIZED_ATTRIBUTE)' '$(C $m)' &&
	grep -q '^CONN conn=2 ' '$(S $m)'"

m=earlydata
wait_line "$(S $m)" "$ABORT.*$c1" 15
check_eq "$m: Call Abort UNACCEPTED_FRAME_RECEIVED" 5 "$(val "$(S $m)" "$ABORT.*$c1" status)"

m=unexpected
wait_line "$(S $m)" "$ABORT.*$c1" 15
check_eq "$m: Call Abort UNACCEPTED_FRAME_RECEIVED" 5 "$(val "$(S $m)" "$ABORT.*$c1" status)"
check "$m: sluice says why" grep -q "unexpected CALL_CONNECTED in state request" "$(C $m)"

m=garbage
wait_line "$(S $m)" "$ABORT.* conn=3 " 15
for n in 1 2 3; do
	check_eq "$m: connection $n: Call Abort INVALID_FRAME_RECEIVED" 7 \
		"$(val "$(S $m)" "$ABORT.* conn=$n " status)"
done
check_eq "$m: sluice names the bad header twice, then the bad message" \
	"malformed SSTP packet header,malformed SSTP packet header,malformed control packet" \
	"$(grep 'session down' "$(C $m)" | head -n 3 | sed 's/.*session down (//; s/ (Call Abort.*//' | paste -sd,)"
check "$m: backoff between the attempts" backoff "$(S $m)"

# ---- after the Ack ----

m=noecho
wait_line "$(S $m)" "$ABORT.*$c1" 15
check "$m: PPP started after the Ack" grep -q "^RX DATA proto=c021 .*$c1" "$(S $m)"
check_eq "$m: three Echo Requests, then Call Abort" 3 "$(count "$(S $m)" "^RX ECHO_REQUEST$c1")"
check "$m: the first after echo=1s of silence" between "$(val "$(S $m)" "^RX ECHO_REQUEST$c1" t)" 0.9 2
check "$m: the abort after the fourth second" between "$(val "$(S $m)" "$ABORT.*$c1" t)" 3.9 6
check "$m: sluice says why" grep -q "the server stopped answering echo requests" "$(C $m)"

m=echo
wait_line "$(S $m)" "^RX ECHO_RESPONSE.*$c1" 15
for _ in $(seq 100); do
	[ "$(count "$(S $m)" "^RX ECHO_RESPONSE$c1")" -ge 6 ] && break
	sleep 0.1
done
check_eq "$m: six Echo Requests, six Echo Responses" "6 6" \
	"$(count "$(S $m)" "^TX ECHO_REQUEST$c1") $(count "$(S $m)" "^RX ECHO_RESPONSE$c1")"
check_eq "$m: the server's traffic kept the client's Hello timer quiet" 0 \
	"$(awk '/^RX ECHO_RESPONSE conn=1 / { n++ } n < 6 && /^RX ECHO_REQUEST conn=1 / { e++ } END { print e + 0 }' "$(S $m)")"
check_eq "$m: no abort" 0 "$(count "$(S $m)" "$ABORT")"

m=disconnect
wait_line "$(S $m)" "^(EOF|RESET).*$c1" 15
check "$m: Call Disconnect answered with Call Disconnect Ack" grep -q "^RX CALL_DISCONNECT_ACK$c1" "$(S $m)"
check_eq "$m: ... and no abort" 0 "$(count "$(S $m)" "$ABORT.*$c1")"
check "$m: sluice says why" grep -q "the server disconnected the call" "$(C $m)"
check "$m: a new session after the backoff" wait_line "$(S $m)" '^CONN conn=2 ' 10

# ---- the processes ----

for m in $MODES; do
	check "$m: sluice is still running" alive "cli_$m"
done
for m in $MODES; do
	check_fails "$m: the triggering connection gets no answer" wait "$(pid_of "trig_$m")"
done
for m in $MODES; do
	kill -TERM "$(pid_of "cli_$m")"
done
for m in $MODES; do
	wait "$(pid_of "cli_$m")"
	check_eq "$m: SIGTERM: sluice exits 0" 0 "$?"
done
check "no sanitizer report" bash -c "! grep -l 'AddressSanitizer\|LeakSanitizer\|runtime error:' $T/cli_*.log"
check_eq "no Python error in the servers" "" "$(grep -l 'Traceback' "$T"/srv_*.log)"
echo "    $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f s", e - s }')"
finish
