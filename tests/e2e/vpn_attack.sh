#!/bin/bash
# Attacks on the UDP VPN's handshake and logins, made by a Python client
# (vpn_peer.py) from other loopback addresses than the real sluice clients'
# (127.0.0.1), against the real server:
#   - a captured CONFIRM sent again from another port and another address:
#     no ACCEPT goes there (reflection);
#   - a known and an unknown user name probed from outside: the same sizes,
#     a salt stable across tries (and across a lockout), the same silence
#     after a wrong CONFIRM, comparable times;
#   - password guessing against alice from 127.0.0.2, 5 tries per 10 s,
#     while alice logs in and rekeys every second from 127.0.0.1;
#   - an address that keeps failing is banned (core/authguard);
#   - a flood of valid INITs from 127.0.0.3 (cookies used honestly) while a
#     new client logs in and the established one rekeys: both succeed, the
#     half-open state stays bounded; the server's RSS is reported.
. "$(dirname "$0")/lib.sh"
E2E="$SRCDIR/tests/e2e"
if ! /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
	echo "SKIP: the attack client needs python3-cryptography (scripts/deps.sh)"
	exit 77
fi
PEER="/usr/bin/python3 $E2E/vpn_peer.py"

metric() {
	curl -s "http://127.0.0.1:$mp/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" {print $2}' | head -1
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$(pid_of server)/status"; }
page() { # page PROXY_PORT: the token through the tunnel
	curl -fsS --max-time 3 -x "socks5h://127.0.0.1:$1" "http://10.10.0.1:$web/token.txt" 2>/dev/null |
		grep -q "vpn-ok-$$"
}
wait_page() { # wait_page PROXY_PORT SECONDS
	local end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		page "$1" && return 0
		sleep 0.25
	done
	return 1
}
rekeys() { grep -c 'vpn: alice 10.10.0.[0-9]* from 127.0.0.1:[0-9]*: rekeyed' "$T/server.log"; }
# rekeys_in SECONDS FILE: in the background, how many rekeys the next
# SECONDS see, into FILE
rekeys_in() {
	local r0
	r0=$(rekeys)
	(sleep "$1" && echo $(($(rekeys) - r0)) >"$2") &
	RK_PID=$!
}

echo 'correct horse' | "$SLUICE" vpn-user add "$T/users.txt" alice >"$T/vpnuser.log" 2>&1

web=$(free_port); vp=$(free_port); mp=$(free_port)
mkdir -p "$T/www"
echo "vpn-ok-$$" >"$T/www/token.txt"
http_server "$web" "$T/www"
# a small quarantine keeps ASan's freed memory from showing as growth
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16" \
	start server "$SLUICE" -v --metrics "127.0.0.1:$mp" \
	-L "vpn://127.0.0.1:$vp?users=$T/users.txt&net=10.10.0.0/24"
wait_port "$mp"
pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)

# a replayed CONFIRM: the handshake's own socket gets its lost ACCEPT
# again; another port or address gets nothing
out=$($PEER login "$vp" "$pub" alice "correct horse" 127.0.0.5)
check "a real login from Python" grep -q '^accepted 10\.10\.0\.' <<<"$out"
check_eq "a CONFIRM sent again: ACCEPT only to its own address" "same 1 port 0 addr 0" \
	"$(sed 's/^accepted [^ ]* //' <<<"$out")"

same_shape() {
	/usr/bin/python3 - "$@" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
a, u = p["alice"], p["nosuchuser"]
print("alice RESP %s ms, unknown %s ms (median of %d)" % (a["median_ms"], u["median_ms"], a["responses"]))
assert a["sizes"] == u["sizes"] == [80], (a["sizes"], u["sizes"])
assert a["params"] == u["params"] and len(a["params"]) == 1, (a["params"], u["params"])
assert len(a["salts"]) == 1 and len(u["salts"]) == 1, (a["salts"], u["salts"])
assert a["confirm_answers"] == u["confirm_answers"] == 0
assert a["responses"] == u["responses"]
# the server does the same work for both; only a leak the size of a hash
# computation (tens of ms) fails this, never scheduling noise
assert abs(a["median_ms"] - u["median_ms"]) < 25, "times differ"
if len(sys.argv) > 2:
    q = json.load(open(sys.argv[2]))
    assert a["salts"] == q["alice"]["salts"], "alice's salt changed"
    assert u["salts"] == q["nosuchuser"]["salts"], "the unknown name's salt changed"
PY
}
# what anyone can see of a name before any lockout: its salt
$PEER probe "$vp" "$pub" 2 alice nosuchuser --src 127.0.0.4 >"$T/probe0.json"

# password guessing against alice from 127.0.0.2 while alice, from
# 127.0.0.1, keeps a session that rekeys every second and logs in anew
pe=$(free_port)
start established "$SLUICE" -v -L "proxy://127.0.0.1:$pe" \
	-F "vpn://alice:correct%20horse@127.0.0.1:$vp?pub=$pub&rekey=1s"
wait_port "$pe"
check "alice's first session is up" wait_page "$pe" 10
start guess $PEER guess "$vp" "$pub" alice 6 2 --src 127.0.0.2
sleep 9 # five wrong tries made
rekeys_in 4 "$T/rekeys1"
pn=$(free_port)
start newlogin "$SLUICE" -L "proxy://127.0.0.1:$pn" \
	-F "vpn://alice:correct%20horse@127.0.0.1:$vp?pub=$pub"
wait_port "$pn"
check "alice logs in from another address during the guessing" wait_page "$pn" 8
wait "$(pid_of guess)" "$RK_PID"
n=$(cat "$T/rekeys1")
check_eq "the guesser got nowhere" "tries 6 responses 6 accepts 0" "$(cat "$T/guess.log")"
check "alice's session rekeyed during the guessing ($n times in 4 s)" test "$n" -ge 2
check "the guesser's address is refused for alice" \
	grep -q 'alice from 127.0.0.2:[0-9]*: authentication failed; this name is refused' "$T/server.log"
check "alice's session still carries traffic" page "$pe"
kill "$(pid_of newlogin)"

# a known and an unknown name seen from outside, from an address in good
# standing and from the locked-out one: no difference, and the salts are
# those seen before the lockout
$PEER probe "$vp" "$pub" 4 alice nosuchuser --src 127.0.0.6 >"$T/probe1.json"
check "a known and an unknown name look the same" same_shape "$T/probe1.json" "$T/probe0.json"
sed 's/^/    /' "$T/check.out"
$PEER probe "$vp" "$pub" 1 alice nosuchuser --src 127.0.0.2 >"$T/probe2.json"
check "... also from the locked-out address" same_shape "$T/probe2.json" "$T/probe0.json"

# an address that keeps failing is banned by the process's guard
# (core/authguard: the 10th failure within 10 minutes): after that it gets
# no answer at all; alice, elsewhere, goes on
start guess2 $PEER guess "$vp" "$pub" alice 11 0 --src 127.0.0.7
wait "$(pid_of guess2)"
check_eq "the 10th failure bans the address: no RESP after it" \
	"tries 11 responses 10 accepts 0" "$(cat "$T/guess2.log")"
check "the ban is logged" grep -q 'auth-guard: 127.0.0.7 banned .* vpn logins' "$T/server.log"
check "... and counted" bash -c "curl -s http://127.0.0.1:$mp/metrics |
	grep -q 'sluice_auth_bans_total{proto=\"vpn\"} 1'"
check "alice's session still carries traffic" page "$pe"

# a flood of valid INITs from one address while a new client logs in and
# the established session rekeys
rss0=$(rss)
rekeys_in 8 "$T/rekeys2"
start flood $PEER flood "$vp" "$pub" 8 --src 127.0.0.3
sleep 2
half=$(metric sluice_vpn_handshakes_half_open)
pf=$(free_port)
start floodlogin "$SLUICE" -L "proxy://127.0.0.1:$pf" \
	-F "vpn://alice:correct%20horse@127.0.0.1:$vp?pub=$pub"
wait_port "$pf"
check "a new client logs in during the flood" wait_page "$pf" 6
wait "$(pid_of flood)" "$RK_PID"
n=$(cat "$T/rekeys2")
rss1=$(rss)
echo "    flood: $(cat "$T/flood.log"); half-open during it: $half; source-limited:" \
	"$(metric sluice_vpn_source_limited_total), evicted: $(metric sluice_vpn_handshakes_evicted_total)"
echo "    server RSS: ${rss0} kB before the flood, ${rss1} kB after"
check "the flood got responses (its INITs were valid)" \
	awk '{exit !($6 > 0)}' "$T/flood.log"
check "half-open handshakes stayed bounded ($half)" test "$half" -le 12
check "the established session rekeyed during the flood ($n times in 8 s)" test "$n" -ge 3
check "... and still carries traffic" page "$pe"
# the tables are allocated at start; under ASan its allocator's caches and
# quarantine grow with any churn, so the bound is looser there
lim=16
ldd "$SLUICE" 2>/dev/null | grep -q libasan && lim=64
check "the server's RSS grew by less than $lim MiB" test $((rss1 - rss0)) -lt $((lim * 1024))
check_fails "the established client never lost its session" \
	grep -q -e 'timed out' -e 'expired' -e 'went silent' "$T/established.log"
check "the server is alive" alive server
finish
