#!/bin/bash
# The WebSocket tunnel through what sits in the middle: the client reaches
# the server through a real HTTP CONNECT proxy (tinyproxy), the server sits
# behind nginx (TLS terminated by nginx, path-based, Upgrade headers), and
# trusts X-Forwarded-For for logs and ACLs only when told to.
. "$(dirname "$0")/lib.sh"
need_cmd nginx tinyproxy openssl

KEY=$("$SLUICE" keygen)
mkdir -p "$T/www"
echo "hello from behind nginx" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test CA" \
	-keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
	-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/san.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
	-extfile "$T/san.ext" -out "$T/srv.pem" 2>/dev/null

ws=$(free_port)
ws2=$(free_port)
start server "$SLUICE" -v -L "ws://127.0.0.1:$ws/tun?host-loopback=1&key=$KEY&trust-xff=1" \
	-L "ws://127.0.0.1:$ws2/tun?host-loopback=1&key=$KEY&trust-xff=1&deny=127.0.0.7"
wait_port "$ws" && wait_port "$ws2"

ngx=$(free_port)
start_nginx "$ngx" <<CONF
    map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:$ngx ssl;
        ssl_certificate $T/srv.pem;
        ssl_certificate_key $T/srv.key;
        location /tun {
            proxy_pass http://127.0.0.1:$ws;
            proxy_http_version 1.1;
            # the token is bound to the Host the client sent: pass it on
            proxy_set_header Host \$http_host;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
            proxy_buffering off;
        }
        location /denied {
            proxy_pass http://127.0.0.1:$ws2/tun;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
        location / { return 404; }
    }
CONF

# tinyproxy connects out from 127.0.0.7, so nginx and sluice see that address
tp=$(free_port)
cat >"$T/tinyproxy.conf" <<CONF
Port $tp
Listen 127.0.0.1
Bind 127.0.0.7
Timeout 60
Allow 127.0.0.1
ConnectPort $ngx
LogLevel Info
CONF
start tinyproxy tinyproxy -d -c "$T/tinyproxy.conf"
wait_port "$tp"

px=$(free_port)
start client "$SLUICE" -L "proxy://127.0.0.1:$px" -F "http://127.0.0.1:$tp" \
	-F "wss://localhost:$ngx/tun?key=$KEY&ca=$T/ca.pem"
wait_port "$px"
check "curl -> sluice -> tinyproxy -> nginx (TLS) -> sluice server -> origin" bash -c \
	"curl -fsS --socks5-hostname 127.0.0.1:$px http://127.0.0.1:$web/ | grep -q 'hello from behind nginx'"
check "tinyproxy carried it (CONNECT in its log)" grep -q "CONNECT" "$T/tinyproxy.log"
check "nginx carried the upgrade (101 in its access log)" grep -q '"GET /tun HTTP/1.1" 101' "$T/nginx/access.log"
check "the server logs the real client from X-Forwarded-For" grep -q "client 127.0.0.7 via 127.0.0.1" "$T/server.log"

big=$(random_file 64M)
mv "$big" "$T/www/big"
got=$(curl -fsS --socks5-hostname "127.0.0.1:$px" "http://127.0.0.1:$web/big" | sha256sum | cut -d' ' -f1)
check_eq "64 MiB through the whole path, sha256" "$(sha "$T/www/big")" "$got"

pd=$(free_port)
start denied "$SLUICE" -L "proxy://127.0.0.1:$pd" -F "http://127.0.0.1:$tp" \
	-F "wss://localhost:$ngx/denied?key=$KEY&ca=$T/ca.pem"
wait_port "$pd"
check_fails "deny=127.0.0.7 applies to the X-Forwarded-For address" \
	curl -fsS -m 5 --socks5-hostname "127.0.0.1:$pd" "http://127.0.0.1:$web/"
check "and the server says so" grep -q "X-Forwarded-For not allowed" "$T/server.log"

# without trust-xff the header is ignored: a forged one changes nothing
ws3=$(free_port)
start notrust "$SLUICE" -v -L "ws://127.0.0.1:$ws3/tun?host-loopback=1&key=$KEY&deny=10.9.9.9"
wait_port "$ws3"
tok=$(/usr/bin/python3 "$SRCDIR/tests/e2e/wspeer.py" token "$KEY" 0 "127.0.0.1:$ws3" /tun)
curl -s -m 3 -H 'X-Forwarded-For: 10.9.9.9' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	-H "Cookie: sid=$tok" -o /dev/null "http://127.0.0.1:$ws3/tun"
check "an untrusted X-Forwarded-For is ignored" bash -c "grep -q 'ws tunnel up' '$T/notrust.log' && ! grep -q 10.9.9.9 '$T/notrust.log'"

finish
