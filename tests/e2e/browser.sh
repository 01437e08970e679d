#!/bin/bash
# A real browser through sluice: Chromium (headless) loads a page with a
# stylesheet, an image and a script from a local web server, through
# sluice's SOCKS5 and HTTP proxy front ends, directly and through a
# WebSocket tunnel, and visits a ws server's decoy pages.  For a name that
# does not resolve it shows the proxy's 502 page with the same sentence
# directly and through the tunnel (tests/e2e/errors.sh checks every error
# through every tunnel with curl).
#
# What the browser rendered is checked, not only that bytes moved: the
# script runs at the load event and writes into the page the image's size
# as decoded and the colour the stylesheet gave a paragraph, so the DOM
# Chromium dumps names all three only if every resource arrived and was
# used.  That it went through sluice: the proxy's /metrics counts at least
# every byte of the four files sent to the browser, the HTTP front end
# logs each file's GET, and the tunnel's server counts the opens.
# Chromium sends nothing for loopback to a proxy unless told:
# --proxy-bypass-list='<-loopback>'.
. "$(dirname "$0")/lib.sh"
need_cmd chromium
CHROMIUM=$(command -v chromium)

# the site: the script reports what the image and the stylesheet did
site=$T/site
mkdir -p "$site"
cat >"$site/index.html" <<'EOF'
<!DOCTYPE html>
<html><head><title>sluice browser test</title><link rel="stylesheet" href="style.css"></head>
<body><p id="styled">styled</p><img id="pic" src="pic.png" alt=""><p id="result">not run</p>
<script src="app.js"></script></body></html>
EOF
echo '#styled { color: rgb(12, 34, 56); }' >"$site/style.css"
cat >"$site/app.js" <<'EOF'
window.addEventListener('load', function () {
  var img = document.getElementById('pic');
  var color = getComputedStyle(document.getElementById('styled')).color;
  document.getElementById('result').textContent =
    'image ' + img.naturalWidth + 'x' + img.naturalHeight + ', color ' + color + ', script ran';
});
EOF
# a 61x23 PNG, noise so that it does not compress to nothing (some 4 KiB)
python3 -c '
import os, struct, sys, zlib
w, h = 61, 23
raw = b"".join(b"\0" + os.urandom(3 * w) for _ in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))' >"$site/pic.png"
SITE_BYTES=$(cat "$site"/* | wc -c)
WANT="image 61x23, color rgb(12, 34, 56), script ran"

web=$(free_port)
http_server "$web" "$site"

# browse NAME URL [PROXY]: Chromium's DOM of URL after the load event
browse() {
	local name=$1 url=$2 proxy=${3:-}
	"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$T/chromium-$name" ${proxy:+--proxy-server="$proxy" --proxy-bypass-list="<-loopback>"} \
		--virtual-time-budget=10000 --dump-dom "$url" 2>"$T/chromium-$name.log"
}
rendered() { sed -n 's/.*<p id="result">\([^<]*\)<\/p>.*/\1/p' "$T/dom.$1"; }
sent() { curl -fsS "http://127.0.0.1:$1/metrics" | sed -n "s|^sluice_bytes_sent_total{listener=\"$2\"} ||p"; }

m1=$(free_port) socks=$(free_port) http=$(free_port)
start direct "$SLUICE" -v --metrics "127.0.0.1:$m1" -L "socks5://127.0.0.1:$socks" -L "http://127.0.0.1:$http"
wait_port "$m1"

# WebSocket tunnel: a server whose decoy is the site, and a client
KEY=$("$SLUICE" keygen)
m2=$(free_port) m3=$(free_port) wsp=$(free_port) wsd=$(free_port) tun=$(free_port)
start wsserver "$SLUICE" -v --metrics "127.0.0.1:$m2" -L "ws://127.0.0.1:$wsp/t?host-loopback=1&key=$KEY&decoy=$site" \
	-L "ws://127.0.0.1:$wsd?host-loopback=1&key=$KEY"
start wsclient "$SLUICE" -v --metrics "127.0.0.1:$m3" -L "proxy://127.0.0.1:$tun" -F "ws://127.0.0.1:$wsp/t?key=$KEY"
wait_port "$m2"
wait_port "$m3"

page=http://127.0.0.1:$web/index.html
for run in "socks-direct socks5://127.0.0.1:$socks $m1 socks5://127.0.0.1:$socks" \
	"http-direct http://127.0.0.1:$http $m1 http://127.0.0.1:$http" \
	"socks-ws socks5://127.0.0.1:$tun $m3 proxy://127.0.0.1:$tun" \
	"http-ws http://127.0.0.1:$tun $m3 proxy://127.0.0.1:$tun"; do
	set -- $run
	before=$(sent "$3" "$4")
	browse "$1" "$page" "$2" >"$T/dom.$1"
	check_eq "$1: Chromium rendered the page with its image, stylesheet and script" "$WANT" "$(rendered "$1")"
	after=$(sent "$3" "$4")
	check "$1: sluice sent the browser every byte of the site ($((after - before)) >= $SITE_BYTES)" \
		test $((after - before)) -ge "$SITE_BYTES"
done
check "socks-direct: the SOCKS5 front end logged the browser's CONNECTs" \
	grep -q "socks5 CONNECT 127.0.0.1:$web" "$T/direct.log"
check "socks-ws, http-ws: the ws server dialed the site for the tunnel" \
	grep -q -- "-> 127.0.0.1:$web" "$T/wsserver.log"
for f in index.html style.css pic.png app.js; do
	check "http-direct: the HTTP front end logged GET /$f" grep -q "http GET 127.0.0.1:$web/$f -> 200" "$T/direct.log"
done
opens=$(curl -fsS "http://127.0.0.1:$m2/metrics" |
	sed -n "s|^sluice_ws_opens_total{listener=\"ws://127.0.0.1:$wsp\"} ||p")
check "the ws server opened tunnels for the browser ($opens)" test "${opens:-0}" -ge 2

# what a browser shows for a name that does not resolve: the proxy's 502
# page, the same sentence directly and through the tunnel (which names it)
browse nx-direct "http://nx.invalid/" "http://127.0.0.1:$http" >"$T/dom.nx-direct"
check "http-direct: Chromium shows the 502 page for an unknown name" \
	grep -qF "Could not connect to nx.invalid:80: name not found</p>" "$T/dom.nx-direct"
browse nx-ws "http://nx.invalid/" "http://127.0.0.1:$tun" >"$T/dom.nx-ws"
check "http-ws: and through the tunnel, naming it" grep -qF \
	"Could not connect to nx.invalid:80: name not found, reached through ws://127.0.0.1:$wsp/t</p>" \
	"$T/dom.nx-ws"
check "http-ws: the client's log says the same" grep -qF \
	"http: 502 Could not connect to nx.invalid:80: name not found, reached through ws://127.0.0.1:$wsp/t" \
	"$T/wsclient.log"
check "http-ws: the server's log says its own dial failed" grep -qF \
	"Could not connect to nx.invalid:80: name not found" "$T/wsserver.log"

# the decoy: a browser at the tunnel server sees a web site, here ours,
# and at a server without decoy= the built-in page
probes() { curl -fsS "http://127.0.0.1:$m2/metrics" |
	sed -n "s|^sluice_ws_rejected_total{listener=\"ws://127.0.0.1:$wsp\",reason=\"probe\"} ||p"; }
probes0=$(probes)
browse decoy "http://127.0.0.1:$wsp/index.html" >"$T/dom.decoy"
check_eq "decoy=DIR: Chromium rendered the site from the ws server" "$WANT" "$(rendered decoy)"
browse builtin "http://127.0.0.1:$wsd/" >"$T/dom.builtin"
check "the built-in decoy page renders as a web server's welcome page" \
	grep -q '<title>Welcome</title>' "$T/dom.builtin"
check "and says it works" grep -q '<h1>It works!</h1>' "$T/dom.builtin"
check_eq "the ws server opened no tunnel for the browser's visit" "$opens" \
	"$(curl -fsS "http://127.0.0.1:$m2/metrics" | sed -n "s|^sluice_ws_opens_total{listener=\"ws://127.0.0.1:$wsp\"} ||p")"
check "and counted its requests as probes ($probes0 -> $(probes))" test "$(probes)" -ge $((probes0 + 4))
finish
