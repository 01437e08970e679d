#!/bin/bash
# The command-line contract: --help/--version, errors exit 2 naming the bad
# option before anything listens, check -c, YAML/env/CLI precedence.
. "$(dirname "$0")/lib.sh"

out=$("$SLUICE" --version)
check "--version prints the version" grep -Eq '^sluice [0-9]+\.[0-9]+' <<<"$out"
check "--help exits 0 and lists listeners" bash -c "'$SLUICE' --help | grep -q proxy://"
# every listener and hop type the transport table knows is named in --help
help=$("$SLUICE" --help)
missing=""
schemes=$("$SLUICE" help --schemas | awk -F'\t' '$1 == "scheme" { print $3 }' | sort -u)
for scheme in $schemes; do
	grep -q -- "$scheme://" <<<"$help" || missing="$missing $scheme"
done
check "the transport table lists the schemes" grep -qx "sctp+udp" <<<"$schemes"
check_eq "--help names every scheme of the transport table" "" "$missing"

# expect_usage DESC NEEDLE ARGS...: exit status 2 and NEEDLE on stderr
expect_usage() {
	local desc=$1 needle=$2
	shift 2
	"$SLUICE" "$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc -eq 2 ] && grep -qF -- "$needle" "$T/err"; then
		pass "$desc"
	else
		fail "$desc: rc=$rc, stderr: $(cat "$T/err")"
	fi
}

p=$(free_port)
expect_usage "unknown option is named" "'bogus'" -L "tcp://127.0.0.1:$p/127.0.0.1:9?bogus=1"
expect_usage "option without a value" "'max-conns' needs a value" -L "proxy://127.0.0.1:$p?max-conns="
expect_usage "bad number" "'max-conns'" -L "proxy://127.0.0.1:$p?max-conns=lots"
expect_usage "bad port" "bad port '70000'" -L "proxy://127.0.0.1:70000"
expect_usage "missing port" "port is required" -L "proxy://127.0.0.1"
expect_usage "unknown listener type" "unknown listener type" -L "gopher://127.0.0.1:$p"
expect_usage "unknown hop type" "unknown hop type" -L "proxy://127.0.0.1:$p" -F "gopher://h:1"
expect_usage "bad CIDR" "'allow'" -L "proxy://127.0.0.1:$p?allow=10.0.0.0/99"
expect_usage "port forward without target" "target" -L "tcp://127.0.0.1:$p"
expect_usage "not a URL" "not a URL" -L "127.0.0.1:$p"
expect_usage "nothing to do" "-L" 
expect_usage "stray argument" "unexpected argument" -L "proxy://127.0.0.1:$p" extra
# hops that need this host's own sockets ask the hop below what it is
k=$("$SLUICE" keygen)
expect_usage "sctp+udp:// only over the host's sockets" "must be the first hop" \
	-L "proxy://127.0.0.1:$p" -F socks5://127.0.0.1:1 -F "sctp+udp://127.0.0.1:9?key=$k"
expect_usage "vpn:// only over the host's sockets" "must be the first -F hop" \
	-L "proxy://127.0.0.1:$p" -F http://127.0.0.1:1 -F "vpn://a:b@127.0.0.1:9?pubkey=$k"

# an open proxy on the network is refused unless open=1 says so
for scheme in proxy http socks5 socks4 socks; do
	expect_usage "$scheme://0.0.0.0 without credentials or allow=: refused, open=1 named" \
		"add open=1" -L "$scheme://0.0.0.0:$p"
done
expect_usage "proxy://[::] too" "open proxy" -L "proxy://[::]:$p"
expect_usage "deny= is not enough" "open proxy" -L "proxy://0.0.0.0:$p?deny=10.0.0.0/8"
po=$(free_port)
start open "$SLUICE" -L "proxy://0.0.0.0:$po?open=1"
wait_port "$po" && pass "open=1: it listens" || fail "open=1: it listens"
check "open=1: a warning says it is open" grep -q "warn .*open proxy (open=1)" "$T/open.log"
for u in "socks5://u:p@0.0.0.0" "http://u:p@0.0.0.0" "socks4://u@0.0.0.0" \
	"proxy://0.0.0.0:PORT?allow=192.0.2.0/24" "tcp://0.0.0.0:PORT/127.0.0.1:9"; do
	url=${u/PORT/$p}
	[ "$url" = "$u" ] && url="$u:$p"
	check "not open: $url" "$SLUICE" check -L "$url"
done

# a bad second -L: the first must never have listened
"$SLUICE" -L "proxy://127.0.0.1:$p" -L "proxy://127.0.0.1:$p?nope=1" 2>/dev/null &
bad=$!
sleep 0.3
check_fails "nothing listens when a later -L is bad" bash -c "exec 3<>/dev/tcp/127.0.0.1/$p"
wait $bad
check_eq "and it exits 2" 2 $?

# sluice check -c
cat >"$T/ok.yaml" <<YAML
log: info
listen:
  - proxy://127.0.0.1:$p
  - url: socks5://127.0.0.1:$((p + 1))
    allow: [127.0.0.0/8, "::1"]
    max-conns: 10
forward:
  - socks5://127.0.0.1:1081
YAML
check "check accepts a valid file" bash -c "'$SLUICE' check -c '$T/ok.yaml' | grep -q 'configuration ok: 2 listeners, 1 hop'"
printf 'listen:\n  - proxy://127.0.0.1:1080\nlisen: x\n' >"$T/bad.yaml"
expect_usage "check names the bad key and line" "bad.yaml:3: unknown key 'lisen'" check -c "$T/bad.yaml"
printf 'listen:\n  - url: proxy://127.0.0.1:1080\n    max-conn: 3\n' >"$T/bad2.yaml"
expect_usage "check names a bad listener option" "'max-conn'" check -c "$T/bad2.yaml"

check "the example configuration is valid" "$SLUICE" check -c "$SRCDIR/sluice.example.yaml"
printf 'alice:secret\n' >"$T/users.txt"
chmod 600 "$T/users.txt"
check "the PPP gateway example is valid" bash -c "cd '$T' && '$SLUICE' check -c '$SRCDIR/examples/ppp-gateway.yaml'"
check "the SSTP client example is valid" "$SLUICE" check -c "$SRCDIR/examples/sstp-client.yaml"

# precedence: command line > environment > file
web=$(free_port)
mkdir -p "$T/www" && echo hello-precedence >"$T/www/index.html"
http_server "$web" "$T/www"
pf=$(free_port)
pe=$(free_port)
pc=$(free_port)
printf 'listen: [ "tcp://127.0.0.1:%s/127.0.0.1:%s" ]\n' "$pf" "$web" >"$T/p.yaml"
start file "$SLUICE" -c "$T/p.yaml"
wait_port "$pf" && pass "the file's listener runs" || fail "the file's listener runs"
SLUICE_LISTEN="tcp://127.0.0.1:$pe/127.0.0.1:$web" start env "$SLUICE" -c "$T/p.yaml"
wait_port "$pe" && pass "SLUICE_LISTEN overrides the file" || fail "SLUICE_LISTEN overrides the file"
SLUICE_LISTEN="tcp://127.0.0.1:$((pe + 7))/127.0.0.1:$web" start cli "$SLUICE" -c "$T/p.yaml" \
	-L "tcp://127.0.0.1:$pc/127.0.0.1:$web"
wait_port "$pc" && pass "-L overrides SLUICE_LISTEN" || fail "-L overrides SLUICE_LISTEN"
check "and serves" bash -c "curl -fsS http://127.0.0.1:$pc/ | grep -q hello-precedence"

# -q / -v
check "info lines by default" grep -q "info  listening on" "$T/cli.log"
pq=$(free_port)
start quiet "$SLUICE" -q -L "tcp://127.0.0.1:$pq/127.0.0.1:$web"
wait_port "$pq"
curl -fsS "http://127.0.0.1:$pq/" >/dev/null
check_fails "-q silences them" grep -q "info " "$T/quiet.log"
pv=$(free_port)
start verbose "$SLUICE" -v -L "tcp://127.0.0.1:$pv/127.0.0.1:$web"
wait_port "$pv"
curl -fsS "http://127.0.0.1:$pv/" >/dev/null
sleep 0.2
check "-v shows debug lines with connection ids" grep -Eq "debug \[c[0-9]+\]" "$T/verbose.log"

# the SCTP examples of the contract carry no key: a server and a client run
# by one user on one host share the default key file, which the server makes
kh="$T/keyhome"
mkdir -p "$kh"
ks=$(free_port)
kc=$(free_port)
HOME=$kh expect_usage "a keyless client without the default key file: a clear error" \
	"default key file $kh/.config/sluice/key does not exist" \
	-L "socks5://127.0.0.1:$kc" -F "sctp+udp://127.0.0.1:$ks"
HOME=$kh start keysrv "$SLUICE" -L "sctp+udp://127.0.0.1:$ks?host-loopback=1"
for _ in $(seq 50); do grep -q "listening on" "$T/keysrv.log" && break; sleep 0.1; done
check "a keyless server makes the default key file" grep -q "created the key file $kh/.config/sluice/key" "$T/keysrv.log"
check_eq "... private to the user" "600" "$(stat -c %a "$kh/.config/sluice/key")"
HOME=$kh start keycli "$SLUICE" -L "socks5://127.0.0.1:$kc" -F "sctp+udp://127.0.0.1:$ks"
wait_port "$kc"
check "a keyless client reaches the keyless server" bash -c \
	"curl -fsS -m 10 --socks5-hostname 127.0.0.1:$kc http://127.0.0.1:$web/ | grep -q hello-precedence"
# keyfile=: the key stays out of the command line
kf=$(free_port)
start keyfile "$SLUICE" -L "socks5://127.0.0.1:$kf" -F "sctp+udp://127.0.0.1:$ks?keyfile=$kh/.config/sluice/key"
wait_port "$kf"
check "keyfile= names the same key" bash -c \
	"curl -fsS -m 10 --socks5-hostname 127.0.0.1:$kf http://127.0.0.1:$web/ | grep -q hello-precedence"
# the WebSocket tunnel takes the same key options
wsp=$(free_port)
wsc=$(free_port)
HOME=$kh start keyws "$SLUICE" -L "ws://127.0.0.1:$wsp?host-loopback=1"
wait_port "$wsp"
HOME=$kh start keywsc "$SLUICE" -L "socks5://127.0.0.1:$wsc" -F "ws://127.0.0.1:$wsp"
wait_port "$wsc"
check "ws://: a keyless client and server share the default key file" bash -c \
	"curl -fsS -m 10 --socks5-hostname 127.0.0.1:$wsc http://127.0.0.1:$web/ | grep -q hello-precedence"
expect_usage "key= and keyfile= together: refused" "give one of them" \
	-L "sctp+udp://127.0.0.1:$ks?key=$("$SLUICE" keygen)&keyfile=$T/nokey"
expect_usage "a missing keyfile= is named" "$T/nokey" -L "sctp+udp://127.0.0.1:$ks?keyfile=$T/nokey"

finish
