#!/bin/bash
# An active prober cannot tell a sluice ws server with decoy=http://... from
# the web server it fronts: prober.py sends the same 50 requests (paths,
# methods, malformed heads, wrong-key, stale, other-path and replayed
# upgrades) to sluice and to nginx directly, and every answer (status,
# headers but Date, body, connection kept or closed) must match, also after
# the prober has failed 20 times in a row and is banned (its right key is
# then refused, with nginx's answer).  Then the tunnel still works through
# the same server, from another address.  And decoy=DIR on nginx's
# root, with nginx's Server header, answers ordinary requests (paths,
# directories, HEAD, methods, If-Modified-Since, keep-alive, a path that
# climbs above the root) as nginx does, and the same to wrong keys and
# replays, also after 20 failures in a row; with byte ranges (206, 416,
# several as multipart/byteranges, the boundary counters made the same),
# request bodies read and dropped (405 for a POST to a file), pipelined
# requests answered in order.  decoy=FILE is a one-page site, compared with
# nginx serving a root that holds only that page; the built-in page is the
# same.  The same prober over TLS: a wss:// server fronting nginx against
# that site served by nginx over TLS with the same certificate (the 20
# failures, the ban and the replay included), and wss:// with decoy=DIR
# (its redirects say https://) against nginx's TLS; and a wstan:// server
# fronting nginx, with failed wstan opens (no request in the path, one that
# does not decode, wrong keys, a recorded open tampered with and replayed),
# against nginx directly.  These run meanwhile.  Loopback only; about 30 s.
. "$(dirname "$0")/lib.sh"
need_cmd nginx openssl

KEY=$("$SLUICE" keygen)
mkdir -p "$T/site/sub"
echo "<html><body>the site</body></html>" >"$T/site/index.html"
echo "a page" >"$T/site/sub/page.html"
echo "User-agent: *" >"$T/site/robots.txt"
mkdir -p "$T/site/noidx"
mkdir -p "$T/one"
echo "<html><body>one page</body></html>" >"$T/one/index.html"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
	-keyout "$T/srv.key" -out "$T/srv.pem" 2>/dev/null
ngx=$(free_port) ngx1=$(free_port) ngxs=$(free_port) ngxb=$(free_port) ngxbs=$(free_port)
start_nginx "$ngx" <<CONF
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$ngx;
        root $T/site;
        # nginx names its own port in a redirect; sluice's differs here,
        # where both listen on loopback side by side (on port 80 neither would)
        port_in_redirect off;
    }
    server {
        listen 127.0.0.1:$ngx1;
        root $T/one;
    }
    # the same site over TLS, with the wss server's certificate: what
    # sluice's wss:// with decoy=DIR must answer as
    server {
        listen 127.0.0.1:$ngxs ssl;
        ssl_certificate $T/srv.pem;
        ssl_certificate_key $T/srv.key;
        root $T/site;
        port_in_redirect off;
    }
    # a site for wss:// to front with decoy=http://: a web server behind a
    # TLS front end does not know its scheme, so it gives relative redirects
    # (else its "Location: http://" under https would tell); the same site
    # served over TLS directly is the reference
    server {
        listen 127.0.0.1:$ngxb;
        root $T/site;
        absolute_redirect off;
    }
    server {
        listen 127.0.0.1:$ngxbs ssl;
        ssl_certificate $T/srv.pem;
        ssl_certificate_key $T/srv.key;
        root $T/site;
        absolute_redirect off;
    }
CONF

web=$(free_port)
mkdir -p "$T/www"
echo "through the tunnel" >"$T/www/index.html"
http_server "$web" "$T/www"

ws=$(free_port) m=$(free_port)
start server "$SLUICE" -v --metrics "127.0.0.1:$m" \
	-L "ws://127.0.0.1:$ws/tun?host-loopback=1&key=$KEY&decoy=http://127.0.0.1:$ngx"
wait_port "$ws"

# probed DESC OUT: prober.py's report OUT (run in the background) found no difference
probed() {
	check "$1" grep -q "^[0-9]* requests, 0 different" "$2"
	grep -A2 "^DIFF" "$2" | sed "s/^/    /"
	tail -n 3 "$2" | sed "s/^/    /"
}
# wss:// fronting nginx, against nginx's own TLS; wstan:// fronting nginx,
# with a real wstan open recorded for its replay: both probed meanwhile
# (and wss:// with decoy=DIR, against nginx's own TLS with absolute redirects)
ngx_server=$(curl -sI "http://127.0.0.1:$ngx/" | sed -n 's/^Server: //p' | tr -d '\r')
lm=$(curl -sI "http://127.0.0.1:$ngx/index.html" | sed -n 's/^Last-Modified: //p' | tr -d '\r')
wss=$(free_port) wssd=$(free_port) wst=$(free_port) rec=$(free_port)
WKEY=$(head -c 16 /dev/urandom | base64)
TLSO="cert=$T/srv.pem&certkey=$T/srv.key"
start wssserver "$SLUICE" -v \
	-L "wss://127.0.0.1:$wss/tun?key=$KEY&$TLSO&decoy=http://127.0.0.1:$ngxb" \
	-L "wss://127.0.0.1:$wssd/tun?key=$KEY&$TLSO&decoy=$T/site&decoy-server=$ngx_server" \
	-L "wstan://127.0.0.1:$wst/t?key=$WKEY&decoy=http://127.0.0.1:$ngx"
wait_port "$wss"
wait_port "$wst"
/usr/bin/python3 "$SRCDIR/tests/e2e/wspeer.py" record "$rec" "$T/wstan.req" &
recpid=$!
sleep 0.3 # (not wait_port: the recorder takes one connection)
rc=$(free_port)
start recclient "$SLUICE" -L "tcp://127.0.0.1:$rc/127.0.0.1:$ngx" -F "wstan://127.0.0.1:$rec/t?key=$WKEY"
wait_port "$rc"
curl -s -m 2 "http://127.0.0.1:$rc/" >/dev/null 2>&1
wait $recpid
python3 "$SRCDIR/tests/e2e/prober.py" "$wss" "$ngxbs" "$KEY" /tun ban tls >"$T/wss.out" 2>&1 &
wsspid=$!
python3 "$SRCDIR/tests/e2e/prober.py" "$wssd" "$ngxs" "$KEY" /tun static "$lm" tls >"$T/wssd.out" 2>&1 &
wssdpid=$!
python3 "$SRCDIR/tests/e2e/prober.py" "$wst" "$ngx" - /t wstan "$T/wstan.req" >"$T/wstan.out" 2>&1 &
wstpid=$!

check "50 probes after 20 failures: sluice answers as nginx does, one for one" \
	python3 "$SRCDIR/tests/e2e/prober.py" "$ws" "$ngx" "$KEY" /tun ban
grep -A2 "^DIFF" "$T/check.out" | sed "s/^/    /"; tail -n 3 "$T/check.out" | sed "s/^/    /"

px=$(free_port)
start client "$SLUICE" -L "proxy://127.0.0.1:$px" -F "ws://127.0.0.1:$ws/tun?key=$KEY"
wait_port "$px"
wait $wsspid
probed "wss://: 50 probes over TLS after 20 failures answered as nginx over TLS answers them" "$T/wss.out"
wait $wstpid
probed "wstan://: probes and failed wstan opens answered as nginx answers them" "$T/wstan.out"
wait $wssdpid
probed "wss:// decoy=DIR: the static site over TLS answered as nginx over TLS (https:// redirects)" "$T/wssd.out"
check "wss: the 20 failures banned the prober" grep -q "auth-guard: 127.0.0.2 banned for" "$T/wssserver.log"
check "wstan: the replay was refused as one" grep -q "replayed request: passed to the decoy" "$T/wssserver.log"
check "wstan: so were the wrong keys" grep -q "request not authentic (wrong key?): passed to the decoy" "$T/wssserver.log"
check "wstan: and the paths without a request" grep -q "no request in the path: passed to the decoy" "$T/wssserver.log"
check "the tunnel works through the same server" bash -c \
	"curl -fsS -m 10 --socks5-hostname 127.0.0.1:$px http://127.0.0.1:$web/ | grep -q 'through the tunnel'"
check "a browser's visit is nginx's page" bash -c \
	"curl -fsS -m 10 http://127.0.0.1:$ws/ | grep -q 'the site'"
check "the failures are logged as passed to the decoy" \
	grep -q "token not authentic.*passed to the decoy web server" "$T/server.log"
check "and the replay" grep -q "replayed token: passed to the decoy web server" "$T/server.log"
check "the 20 failures banned the prober's address" grep -q "auth-guard: 127.0.0.2 banned for" "$T/server.log"
check "and its right key, during the ban, got nginx's answer, not a tunnel" \
	grep -q "127.0.0.2:[0-9]* is banned (auth-guard): a right key, refused" "$T/server.log"
# decoy=DIR: a static web server's answers, as nginx gives them
wd=$(free_port) wf=$(free_port) wb=$(free_port)
start dirserver "$SLUICE" -v -L "ws://127.0.0.1:$wd/tun?key=$KEY&decoy=$T/site&decoy-server=$ngx_server" \
	-L "ws://127.0.0.1:$wf/tun?key=$KEY&decoy=$T/one/index.html&decoy-server=$ngx_server" \
	-L "ws://127.0.0.1:$wb/tun?key=$KEY"
wait_port "$wd"
check "decoy=DIR: 20 failures, then ordinary requests answered as nginx ($ngx_server) answers them" \
	python3 "$SRCDIR/tests/e2e/prober.py" "$wd" "$ngx" "$KEY" /tun static "$lm" ban
grep -A2 "^DIFF" "$T/check.out" | sed "s/^/    /"; tail -n 3 "$T/check.out" | sed "s/^/    /"

check "decoy=DIR: the ban still refuses the right key" \
	grep -q "127.0.0.2:[0-9]* is banned (auth-guard): a right key, refused" "$T/dirserver.log"

# decoy=FILE: a site of that one page, as nginx serves a root holding only it
lm1=$(curl -sI "http://127.0.0.1:$ngx1/index.html" | sed -n 's/^Last-Modified: //p' | tr -d '\r')
check "decoy=FILE: the same requests answered as nginx answers them for a one-page site" \
	python3 "$SRCDIR/tests/e2e/prober.py" "$wf" "$ngx1" "$KEY" /tun static "$lm1"
grep -A2 "^DIFF" "$T/check.out" | sed "s/^/    /"; tail -n 3 "$T/check.out" | sed "s/^/    /"
# the built-in page: the same machinery, its own page at / and /index.html
curl -sv "http://127.0.0.1:$wb/" "http://127.0.0.1:$wb/favicon.ico" -o "$T/b1" -o "$T/b2" 2>"$T/b.err"
check "built-in page: / is it" grep -q "It works" "$T/b1"
check "built-in page: /favicon.ico is nginx's 404 page" grep -q "<h1>404 Not Found</h1>" "$T/b2"
check "built-in page: on one kept connection, with Date and Server" bash -c \
	"grep -q 'Re-using existing connection' '$T/b.err' && grep -q '< Date: ' '$T/b.err' &&
	 grep -q '< Server: nginx' '$T/b.err'"
check "built-in page: HEAD" bash -c \
	"curl -sI http://127.0.0.1:$wb/index.html | grep -q '^HTTP/1.1 200 OK'"

rej=$(curl -fsS "http://127.0.0.1:$m/metrics" | sed -n 's/^sluice_ws_rejected_total{.*reason="auth"} //p')
check "and counted ($rej wrong keys)" test "${rej:-0}" -ge 3
finish
