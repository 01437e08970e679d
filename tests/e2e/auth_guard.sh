#!/bin/bash
# Password guessing against the real binary (core/authguard.h wired into
# the SOCKS5, SOCKS4 and HTTP proxy front ends and the PPP gateway's PAP):
# a guesser from 127.0.0.1 is refused at once, then held for growing
# delays, then banned (no answer at all, not even to the right password),
# while the right credentials from 127.0.0.2 keep working; the ban expires
# (tests/e2e/guess.py does the steps).  One sluice per protocol, since the
# guard counts failures per address across the whole process; they run side
# by side (about 5 s).  And ppp+tcp does not offer PAP unless asked.
. "$(dirname "$0")/lib.sh"

DELAY=300 BAN=2500
GUARD="free=1,delay=${DELAY}ms,max-delay=$((2 * DELAY))ms,max-failures=5,window=1m,ban=${BAN}ms"
printf 'alice:secret\n' >"$T/users"

p5=$(free_port) p4=$(free_port) ph=$(free_port) pp=$(free_port) pm=$(free_port)
start s5 "$SLUICE" -v --auth-guard "$GUARD" -L "socks5://alice:secret@127.0.0.1:$p5"
start s4 "$SLUICE" -v --auth-guard "$GUARD" -L "socks4://alice@127.0.0.1:$p4"
start sh "$SLUICE" -v --auth-guard "$GUARD" -L "http://alice:secret@127.0.0.1:$ph"
start sp "$SLUICE" -v --auth-guard "$GUARD" --metrics "127.0.0.1:$pm" \
	-L "ppp+tcp://127.0.0.1:$pp?users=$T/users&auth=pap"
for p in $p5 $p4 $ph $pp $pm; do wait_port "$p"; done

# PAP sends the password in clear: ppp+tcp does not offer it unless asked
pd=$(free_port) pa=$(free_port)
start pdef "$SLUICE" -L "ppp+tcp://127.0.0.1:$pd?users=$T/users"
start pasked "$SLUICE" -L "ppp+tcp://127.0.0.1:$pa?users=$T/users&auth=mschapv2,chap,pap"
wait_port "$pd"
wait_port "$pa"
python3 "$SRCDIR/tests/e2e/guess.py" pap-offered "$pd" >"$T/pap-default.out" 2>&1 &
papd=$!
python3 "$SRCDIR/tests/e2e/guess.py" pap-offered "$pa" >"$T/pap-asked.out" 2>&1 &
papa=$!

pids=""
for x in "socks5 $p5" "socks4 $p4" "http $ph" "ppp $pp"; do
	set -- $x
	python3 "$SRCDIR/tests/e2e/guess.py" "$1" "$2" "$DELAY" "$BAN" >"$T/guess-$1.out" 2>&1 &
	pids="$pids $!:$1"
done
for pp_ in $pids; do
	if wait "${pp_%%:*}"; then pass "${pp_#*:}: slowed, banned, others unaffected, ban expires"
	else fail "${pp_#*:}: guesser"; fi
	sed 's/^/    /' "$T/guess-${pp_#*:}.out"
done

wait $papd $papa
check_eq "ppp+tcp by default: a PAP-only peer is never offered PAP" "no pap" "$(cat "$T/pap-default.out")"
check_eq "ppp+tcp with auth=...,pap: it is" "pap" "$(cat "$T/pap-asked.out")"

for s in s5 s4 sh sp; do
	check "$s: one log line for the ban" grep -q "auth-guard: 127.0.0.1 banned for" "$T/$s.log"
	check "$s: 127.0.0.2 never banned" bash -c "! grep -q '127.0.0.2 banned' '$T/$s.log'"
done
check "metrics: sluice_auth_bans_total{proto=\"ppp\"} 1" \
	bash -c "curl -sS http://127.0.0.1:$pm/metrics | grep -qx 'sluice_auth_bans_total{proto=\"ppp\"} 1'"
finish
