#!/bin/bash
# SOCKS end to end, with real clients and servers on loopback:
#   curl --socks4/--socks4a/--socks5/--socks5-hostname against -L socks://,
#   socks5://, socks4:// and proxy://; RFC 1929 credentials (right, wrong,
#   missing); failure reply codes as curl reports them; pipelined data;
#   socks5 hops through microsocks (with and without auth), dante and both
#   in a row; bytes the target sends with the hop's reply (server-first
#   protocols); UDP ASSOCIATE with a python client against a UDP echo
#   server; garbage, truncated, wrong-version and oversized handshakes,
#   after which sluice must still serve.
. "$(dirname "$0")/lib.sh"
need_cmd microsocks danted
TOOLS="python3 $SRCDIR/tests/e2e/tools.py"
SC="python3 $SRCDIR/tests/e2e/socks_client.py"

# curl_reports DESC PATTERN CURL-ARGS...: curl fails and says PATTERN.
curl_reports() {
	local desc=$1 pat=$2
	shift 2
	if curl -sS -m 5 -o /dev/null "$@" >"$T/check.out" 2>&1; then
		fail "$desc (curl succeeded)"
	elif grep -q -- "$pat" "$T/check.out"; then
		pass "$desc"
	else
		fail "$desc: expected '$pat'"
		sed 's/^/    /' "$T/check.out"
	fi
}

# fetch CURL-ARGS...: the page through a proxy must be the page.
fetch() { [ "$(curl -sS -m 5 "$@")" = "$PAGE" ]; }

# sends DESC PORT HEX EXPECTED-HEX [WAIT]: raw bytes in, the bytes sluice
# answers before it closes the connection.
sends() {
	local got
	if ! got=$($TOOLS send "$2" "$3" "${5:-2}" 2>"$T/send.err"); then
		fail "$1: $(tail -n 1 "$T/send.err")"
		return
	fi
	check_eq "$1" "$4" "$got"
}

# hexrep HEX N: HEX repeated N times.
hexrep() { python3 -c "import sys; print(sys.argv[1] * int(sys.argv[2]))" "$1" "$2"; }

# --- peers
mkdir -p "$T/www"
PAGE="sluice socks e2e $$"
echo "$PAGE" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"
echo_port=$(free_port)
start echo $TOOLS echo-server "$echo_port"
wait_port "$echo_port"
uecho=$(free_port)
start uecho $SC udp-echo "$uecho"
closed=$(free_port)

# --- the listeners: one process, several -L
pa=$(free_port) pb=$(free_port) pc=$(free_port) pd=$(free_port) pe=$(free_port) pf=$(free_port)
pg=$(free_port)
start front "$SLUICE" -v -L "socks://127.0.0.1:$pa" -L "socks5://user:s3cret@127.0.0.1:$pb" \
	-L "proxy://127.0.0.1:$pc" -L "socks4://127.0.0.1:$pd" \
	-L "socks5://127.0.0.1:$pe?handshake-timeout=1" -L "socks://user:s3cret@127.0.0.1:$pf" \
	-L "socks4://alice@127.0.0.1:$pg"
for p in $pa $pb $pc $pd $pe $pf $pg; do wait_port "$p"; done

# --- curl, every SOCKS flavour, on socks:// and proxy://
for port in $pa $pc; do
	scheme=socks
	[ "$port" = "$pc" ] && scheme=proxy
	check "$scheme://: curl --socks4" fetch --socks4 "127.0.0.1:$port" "http://127.0.0.1:$web/"
	check "$scheme://: curl --socks4a (name)" fetch --socks4a "127.0.0.1:$port" "http://localhost:$web/"
	check "$scheme://: curl --socks5" fetch --socks5 "127.0.0.1:$port" "http://127.0.0.1:$web/"
	check "$scheme://: curl --socks5-hostname (name)" fetch --socks5-hostname "127.0.0.1:$port" \
		"http://localhost:$web/"
done

# --- credentials
check "socks5 user:pass: right password" fetch -x "socks5h://user:s3cret@127.0.0.1:$pb" \
	"http://localhost:$web/"
curl_reports "socks5 user:pass: wrong password is rejected" "rejected" \
	-x "socks5h://user:wrong@127.0.0.1:$pb" "http://localhost:$web/"
curl_reports "socks5 user:pass: wrong user is rejected" "rejected" \
	-x "socks5h://someone:s3cret@127.0.0.1:$pb" "http://localhost:$web/"
curl_reports "socks5 user:pass: no credentials, no acceptable method" "No authentication method" \
	-x "socks5h://127.0.0.1:$pb" "http://localhost:$web/"
check_fails "socks5:// listener refuses SOCKS4" curl -sS -m 5 --socks4a "127.0.0.1:$pb" \
	"http://localhost:$web/"
check "socks4:// listener: curl --socks4a" fetch --socks4a "127.0.0.1:$pd" "http://localhost:$web/"
check_fails "socks4:// listener refuses SOCKS5" curl -sS -m 5 --socks5 "127.0.0.1:$pd" \
	"http://127.0.0.1:$web/"
# a SOCKS4 USERID is the only credential SOCKS4 has: the right one passes
check "socks4://alice@: curl with USERID alice" fetch -x "socks4://alice@127.0.0.1:$pg" \
	"http://127.0.0.1:$web/"
check "socks4://alice@: curl --socks4a with USERID alice" fetch -x "socks4a://alice@127.0.0.1:$pg" \
	"http://localhost:$web/"
curl_reports "socks4://alice@: USERID bob is rejected" "(91)" \
	-x "socks4://bob@127.0.0.1:$pg" "http://127.0.0.1:$web/"
curl_reports "socks4://alice@: no USERID is rejected" "(91)" \
	-x "socks4://127.0.0.1:$pg" "http://127.0.0.1:$web/"

# --- failure replies, as curl shows them
curl_reports "connection refused -> SOCKS5 reply 5" "(5)" \
	-x "socks5h://127.0.0.1:$pa" "http://127.0.0.1:$closed/"
curl_reports "nonexistent.invalid -> SOCKS5 reply 4" "(4)" \
	-x "socks5h://127.0.0.1:$pa" "http://nonexistent.invalid/"
curl_reports "connection refused -> SOCKS4 reply 91" "(91)" \
	--socks4a "127.0.0.1:$pa" "http://127.0.0.1:$closed/"
curl_reports "proxy://: connection refused -> SOCKS5 reply 5" "(5)" \
	-x "socks5h://127.0.0.1:$pc" "http://127.0.0.1:$closed/"

# --- data sent with the request reaches the target
check "greeting, request and data in one segment" $SC pipeline "$pa" "$echo_port"
check "the same through proxy://" $SC pipeline "$pc" "$echo_port"

# --- hops
if command -v microsocks >/dev/null; then
	ms=$(free_port) msa=$(free_port)
	start ms microsocks -i 127.0.0.1 -p "$ms"
	start msa microsocks -i 127.0.0.1 -p "$msa" -u hopuser -P hoppass
	wait_port "$ms"
	wait_port "$msa"
	h1=$(free_port) h2=$(free_port) h3=$(free_port)
	start hop1 "$SLUICE" -v -L "socks://127.0.0.1:$h1" -F "socks5://127.0.0.1:$ms"
	start hop2 "$SLUICE" -v -L "socks://127.0.0.1:$h2" -F "socks5://hopuser:hoppass@127.0.0.1:$msa"
	start hop3 "$SLUICE" -v -L "socks://127.0.0.1:$h3" -F "socks5://hopuser:nope@127.0.0.1:$msa"
	wait_port "$h1"
	wait_port "$h2"
	wait_port "$h3"
	check "hop: through microsocks" fetch -x "socks5h://127.0.0.1:$h1" "http://localhost:$web/"
	check "hop: through microsocks, SOCKS4 client" fetch --socks4a "127.0.0.1:$h1" \
		"http://localhost:$web/"
	check "hop: through microsocks with RFC 1929" fetch -x "socks5h://127.0.0.1:$h2" \
		"http://localhost:$web/"
	curl_reports "hop: wrong hop password -> reply 2" "(2)" \
		-x "socks5h://127.0.0.1:$h3" "http://localhost:$web/"
	curl_reports "hop: refused behind microsocks -> reply 5" "(5)" \
		-x "socks5h://127.0.0.1:$h1" "http://127.0.0.1:$closed/"
	check "hop: pipelined data through microsocks" $SC pipeline "$h1" "$echo_port"
else
	fail "microsocks is not installed (scripts/deps.sh)"
fi

if command -v danted >/dev/null; then
	dp=$(free_port)
	start_danted "$dp"
	if wait_port "$dp"; then
		h4=$(free_port)
		start hop4 "$SLUICE" -v -L "socks://127.0.0.1:$h4" -F "socks5://127.0.0.1:$dp"
		wait_port "$h4"
		check "hop: through dante" fetch -x "socks5h://127.0.0.1:$h4" "http://localhost:$web/"
		check "hop: through dante, IP literal" fetch --socks5 "127.0.0.1:$h4" \
			"http://127.0.0.1:$web/"
		curl_reports "hop: refused behind dante -> reply 5" "(5)" \
			-x "socks5h://127.0.0.1:$h4" "http://127.0.0.1:$closed/"
		curl_reports "hop: unknown name behind dante -> reply 4" "(4)" \
			-x "socks5h://127.0.0.1:$h4" "http://nonexistent.invalid/"
		if [ -n "${ms:-}" ]; then
			h5=$(free_port)
			start hop5 "$SLUICE" -v -L "socks5://127.0.0.1:$h5" \
				-F "socks5://127.0.0.1:$ms" -F "socks5://127.0.0.1:$dp"
			wait_port "$h5"
			check "hop: microsocks then dante" fetch -x "socks5h://127.0.0.1:$h5" \
				"http://localhost:$web/"
		fi
	else
		fail "danted did not start"
	fi
else
	fail "dante-server is not installed (scripts/deps.sh)"
fi

# The target speaks first and its bytes come in the hop reply's segment.
fk=$(free_port)
start fake $SC fake-server "$fk" "SSH-2.0-banner-with-reply"
wait_port "$fk"
h6=$(free_port)
start hop6 "$SLUICE" -v -L "socks5://127.0.0.1:$h6" -F "socks5://127.0.0.1:$fk"
wait_port "$h6"
check_eq "hop: bytes after the hop's reply reach the client" "SSH-2.0-banner-with-reply" \
	"$($SC banner "$h6" example.invalid 22 2>&1)"

# --- UDP ASSOCIATE
check "UDP ASSOCIATE: echo by IP and by name, 50 KB, fragments dropped, strangers ignored" \
	$SC udp "$pa" "$uecho"
check "UDP ASSOCIATE: the relay ends with its TCP connection" $SC udp-after-close "$pa" "$uecho"
check "UDP ASSOCIATE through proxy://" $SC udp "$pc" "$uecho"

# --- bad input: answered or closed, never a crash
sends "garbage (HTTP on socks://): closed, no reply" "$pa" \
	"$(printf 'GET / HTTP/1.0\r\n\r\n' | od -An -v -tx1 | tr -d ' \n')" ""
sends "wrong version byte 0x06: closed" "$pa" 0601000000 ""
sends "SOCKS5 greeting with no methods: closed" "$pa" 0500 ""
sends "SOCKS5 request with version 4: closed after the method reply" "$pa" \
	050100040100017f0000010050 0500
sends "unknown command: reply 7" "$pa" 050100050900017f0000010050 050005070001000000000000
# BIND is served (tests/e2e/socks_bind.sh): the first reply names a port on 127.0.0.1
got=$($TOOLS send "$pa" 050100050200017f0000010050 2 2>/dev/null)
check "BIND: reply 0, a port on 127.0.0.1" bash -c "[[ '$got' == 0500050000017f000001???? ]]"
sends "unknown address type: reply 8" "$pa" 050100050100027f0000010050 050005080001000000000000
sends "empty domain name: reply 1" "$pa" 05010005010003000050 050005010001000000000000
sends "SOCKS4 BIND: rejected" "$pa" 040200507f00000100 005b000000000000
sends "SOCKS4 to 0.0.0.0: rejected" "$pa" 040100500000000000 005b000000000000
sends "SOCKS4 huge userid: closed" "$pa" "040100507f000001$(hexrep 41 3000)" ""
sends "SOCKS4a huge hostname: closed" "$pa" "0401005000000001$(hexrep 00 1)$(hexrep 68 600)00" ""
sends "SOCKS4 on a password listener: rejected" "$pf" 040100507f0000017573657200 005b000000000000
sends "RFC 1929 with version 5: closed after the method reply" "$pb" 050102050475736572067333637265 0502
t0=$(date +%s.%N)
sends "truncated request: closed by handshake-timeout=1" "$pe" 0501000501 0500 4
t1=$(date +%s.%N)
# well before the default (15 s): handshake-timeout=1 took, however loaded the machine
check "... long before the default handshake timeout" python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 8 else 1)"
check "sluice still serves after all that" fetch --socks5-hostname "127.0.0.1:$pa" \
	"http://localhost:$web/"
check "and it is still running" alive front
check "no sanitizer or assertion report in the log" bash -c \
	"! grep -Eq 'AddressSanitizer|runtime error|Assertion' '$T/front.log'"

finish
