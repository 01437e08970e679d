#!/bin/bash
# The PAC file with a real browser: Chromium (headless), given only
# --proxy-pac-url pointing at sluice's /proxy.pac, loads one page through
# the proxy and a WebSocket tunnel (a rule sends its address to the tunnel)
# and another page straight from its server (a rule sends its name
# direct), as the rules say.
#
# The two sites live on 10.79.0.1 and 10.79.0.2 in a namespace of the
# test's own (Chromium never sends loopback addresses to a proxy).  What
# proves each path: the tunnel's server dialed 10.79.0.1 and sluice's log
# routed it; the direct site's server saw the browser while sluice saw
# nothing of it.
. "$(dirname "$0")/lib.sh"
need_cmd chromium curl
need_root "a network namespace"
in_netns --net --mount
ip link set lo up
ip addr add 10.79.0.1/32 dev lo
ip addr add 10.79.0.2/32 dev lo

for s in tun direct; do
	mkdir -p "$T/$s"
	printf '<!DOCTYPE html><html><head><title>%s</title></head><body><p id="who">the %s site</p></body></html>\n' \
		"$s" "$s" >"$T/$s/index.html"
done
w1=$(free_port) w2=$(free_port)
start webtun python3 -m http.server "$w1" --bind 10.79.0.1 --directory "$T/tun"
start webdirect python3 -m http.server "$w2" --bind 10.79.0.2 --directory "$T/direct"

KEY=$("$SLUICE" keygen)
ts=$(free_port)
start far "$SLUICE" -v -L "ws://127.0.0.1:$ts?key=$KEY"
p=$(free_port) m=$(free_port)
start cli "$SLUICE" -v --metrics "127.0.0.1:$m" -L "proxy://127.0.0.1:$p" \
	--chain "tun=ws://127.0.0.1:$ts?key=$KEY" \
	--rule "DOMAIN-SUFFIX,direct.test,direct" --rule "IP-CIDR,10.79.0.1/32,tun,no-resolve" \
	--rule "MATCH,tun"
wait_port "$ts"
wait_port "$p"
check "sluice serves /proxy.pac" bash -c "curl -fsS http://127.0.0.1:$m/proxy.pac | grep -q FindProxyForURL"

browse() { # NAME URL
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$T/chromium-$1" --proxy-pac-url="http://127.0.0.1:$m/proxy.pac" \
		--host-resolver-rules="MAP site.direct.test 10.79.0.2" \
		--virtual-time-budget=10000 --dump-dom "$2" 2>"$T/chromium-$1.log"
}
check "Chromium loads the tunnel's page" bash -c \
	"$(declare -f browse); T=$T m=$m; browse tun http://10.79.0.1:$w1/ | grep -q 'the tun site'"
check "... which sluice routed to the tunnel" grep -q "route 10.79.0.1:$w1: tun" "$T/cli.log"
check "... and the tunnel's server dialed" grep -q -- "-> 10.79.0.1:$w1\$" "$T/far.log"
check "Chromium loads the direct page" bash -c \
	"$(declare -f browse); T=$T m=$m; browse direct http://site.direct.test:$w2/ | grep -q 'the direct site'"
check "... from its server" grep -q '"GET / HTTP' "$T/webdirect.log"
check "... and not through sluice" bash -c "! grep -q -e 'site.direct.test' -e ':$w2' '$T/cli.log'"
finish
