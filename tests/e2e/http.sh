#!/bin/bash
# HTTP proxy (-L http://) and HTTP CONNECT hop (-F http://) end to end, with
# real clients and servers on loopback: curl through sluice to a Python
# origin (GET, HEAD, POST with Content-Length and chunked bodies, chunked and
# close-delimited responses, keep-alive on both sides, a big download with
# bounded memory), CONNECT to an openssl s_server, Basic proxy credentials,
# error pages (502, 503/504 through a silent hop, 403 by ACL), a chain
# through tinyproxy (with and without credentials, a server-first protocol
# behind it), 101 upgrades, and bad input that must get an error reply while
# sluice keeps serving.
. "$(dirname "$0")/lib.sh"
need_cmd tinyproxy openssl
TOOLS="python3 $SRCDIR/tests/e2e/tools.py"
BIG=${SLUICE_E2E_HTTP_BIG:-256M}

# ---- peers --------------------------------------------------------------

# An HTTP/1.1 origin: files from a directory, POST/PUT answer "LEN SHA256"
# of the body (Content-Length or chunked), /chunked answers chunked,
# /eof answers until close, /204 answers 204, POST /early answers 413 without
# reading the body.  An optional third argument is an idle timeout after
# which the server closes kept-alive connections.
cat >"$T/origin.py" <<'EOF'
import hashlib, http.server, socket, socketserver, sys

class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))
    def answer(self, data, extra=()):
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
    def do_POST(self):
        if self.path == "/early":
            self.send_response(413)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            # a lingering close, as real servers do: closing with the body
            # unread would send a RST that can overtake the answer
            self.wfile.flush()
            try:
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(2)
                while self.connection.recv(65536):
                    pass
            except OSError:
                pass
            return
        b = self.body()
        self.answer(("%d %s" % (len(b), hashlib.sha256(b).hexdigest())).encode())
    do_PUT = do_POST
    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/eof":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
        elif self.path == "/204":
            self.send_response(204)
            self.end_headers()
        elif self.path == "/headers":
            self.answer(str(self.headers).encode())
        else:
            super().do_GET()

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

if len(sys.argv) > 3:
    H.timeout = float(sys.argv[3])
S(("127.0.0.1", int(sys.argv[1])), lambda *a: H(*a, directory=sys.argv[2])).serve_forever()
EOF

# Answers any request head with 101 and then echoes (an upgraded protocol);
# or, as "banner", sends a greeting first like SSH.
cat >"$T/misc.py" <<'EOF'
import socket, sys, threading, time

def upgrade(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return
        buf += d
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
    rest = buf.split(b"\r\n\r\n", 1)[1]
    if rest:
        c.sendall(rest)
    while True:
        d = c.recv(4096)
        if not d:
            return
        c.sendall(d)

def banner(c):
    c.sendall(b"SSH-2.0-sluice-test\r\n")
    d = c.recv(100)
    c.sendall(b"you said " + d)

def serve(port, fn):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=lambda: (fn(c), c.close()), daemon=True).start()

# client MODE PORT HOST:PORT: raw client tests
def client(mode, port, target):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if mode == "upgrade":
        s.sendall(("GET http://%s/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                   "Upgrade: echo\r\n\r\n" % target).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        status = buf.split(b"\r\n")[0].decode()
        s.sendall(b"ping through the upgrade")
        got = buf.split(b"\r\n\r\n", 1)[1]
        while len(got) < 24:
            got += s.recv(4096)
        print(status, got.decode())
    elif mode == "twice":
        # two requests on one connection, with a pause between them
        out = []
        for i in range(2):
            s.sendall(("GET http://%s/index.html HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(4096)
            head, body = buf.split(b"\r\n\r\n", 1)
            n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
            while len(body) < n:
                body += s.recv(4096)
            out.append(head.split(b"\r\n")[0].decode().split(" ")[1])
            time.sleep(0.8)
        print(" ".join(out))
    elif mode == "banner":
        got = s.recv(100)
        s.sendall(b"hi")
        got += s.recv(100)
        print(got.decode().replace("\r\n", "|"))

if sys.argv[1] == "client":
    client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
else:
    serve(int(sys.argv[2]), {"upgrade": upgrade, "banner": banner}[sys.argv[1]])
EOF

# send_raw PORT FILE: send FILE's bytes to the proxy, print the status line
# of the answer (or "closed" if the connection closed without one).
send_raw() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
data = open(sys.argv[2], "rb").read()
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR) if data.endswith(b"#EOF") else None
except OSError:
    pass
got = b""
try:
    while b"\r\n" not in got:
        d = s.recv(4096)
        if not d:
            break
        got += d
except OSError:
    pass
print(got.split(b"\r\n")[0].decode(errors="replace") if b"\r\n" in got else "closed")
EOF
}

mkdir -p "$T/www"
echo "hello from the origin" >"$T/www/index.html"
head -c 3000000 /dev/urandom >"$T/www/3m.bin"
head -c 1000000 /dev/urandom >"$T/post.bin"

web=$(free_port)
start origin python3 "$T/origin.py" "$web" "$T/www"
web2=$(free_port)
start origin2 python3 "$T/origin.py" "$web2" "$T/www" 0.3
wait_port "$web"
wait_port "$web2"

px=$(free_port)
start sluice "$SLUICE" -v -L "http://127.0.0.1:$px"
wait_port "$px"
X="-x http://127.0.0.1:$px"

# ---- absolute-form ------------------------------------------------------

check_eq "GET through the proxy" "hello from the origin" \
	"$(curl -sS -m 5 $X "http://127.0.0.1:$web/index.html")"
check_eq "3 MB GET with sha256" "$(sha "$T/www/3m.bin")" \
	"$(curl -sS -m 10 $X "http://127.0.0.1:$web/3m.bin" | sha256sum | cut -d' ' -f1)"
check_eq "HEAD: headers only" "200 0" \
	"$(curl -sS -m 5 -I $X -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$web/3m.bin")"
want_post="1000000 $(sha "$T/post.bin")"
check_eq "POST with Content-Length" "$want_post" \
	"$(curl -sS -m 10 $X --data-binary @"$T/post.bin" "http://127.0.0.1:$web/post")"
check_eq "POST with a chunked body" "$want_post" \
	"$(curl -sS -m 10 $X -H 'Transfer-Encoding: chunked' --data-binary @"$T/post.bin" "http://127.0.0.1:$web/post")"
check_eq "PUT with Expect: 100-continue" "$want_post" \
	"$(curl -sS -m 10 $X -H 'Expect: 100-continue' -T "$T/post.bin" "http://127.0.0.1:$web/put")"
check_eq "chunked response" "hello chunked world" \
	"$(curl -sS -m 5 $X "http://127.0.0.1:$web/chunked")"
check_eq "response delimited by close" "until the end" \
	"$(curl -sS -m 5 $X "http://127.0.0.1:$web/eof")"
check_eq "204" "204" "$(curl -sS -m 5 $X -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web/204")"
hdrs=$(curl -sS -m 5 $X -H 'Proxy-Connection: keep-alive' -H 'Connection: X-Secret' -H 'X-Secret: 1' \
	"http://127.0.0.1:$web/headers")
if echo "$hdrs" | grep -qi "^Host: 127.0.0.1:$web" && ! echo "$hdrs" | grep -qi 'proxy-connection\|x-secret'; then
	pass "hop-by-hop headers dropped, Host set"
else
	fail "hop-by-hop headers dropped, Host set: $hdrs"
fi

# keep-alive: one client connection, the origin connection reused
curl -sS -v -m 10 $X "http://127.0.0.1:$web/index.html" "http://127.0.0.1:$web/chunked" \
	"http://127.0.0.1:$web2/index.html" "http://127.0.0.1:$web/204" "http://127.0.0.1:$web/index.html" \
	>"$T/ka.out" 2>"$T/ka.err"
check_eq "keep-alive: five answers on one connection" \
	"hello from the origin|hello chunked world|hello from the origin|hello from the origin" \
	"$(tr '\n' '|' <"$T/ka.out" | sed 's/world/world|/; s/|$//')"
check_eq "keep-alive: curl re-used its proxy connection 4 times" "4" \
	"$(grep -c 'Re-using existing connection' "$T/ka.err")"
sleep 0.2
check "keep-alive: the origin connection was reused" grep -q "chunked -> 200 (reused)" "$T/sluice.log"

check_eq "the origin closed its idle connection: the next request redials" "200 200" \
	"$(python3 "$T/misc.py" client twice "$px" "127.0.0.1:$web2")"
check_eq "an answer before the whole body was sent" "413" \
	"$(curl -s -m 10 $X --data-binary @"$T/post.bin" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web/early")"

# a big download: full speed, bounded memory
big=$(random_file "$BIG")
ln -sf "$big" "$T/www/big.bin"
t0=$(date +%s.%N)
got=$(curl -sS -m 60 $X "http://127.0.0.1:$web/big.bin" | sha256sum | cut -d' ' -f1)
t1=$(date +%s.%N)
check_eq "$BIG download with sha256" "$(sha "$big")" "$got"
echo "    ($(python3 -c "print(round(($(stat -L -c %s "$big")*8/1e9)/($t1-$t0),2))") Gbit/s)"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$(pid_of sluice)/status")
if [ "$rss" -lt 40000 ]; then pass "peak RSS ${rss} kB (bounded)"; else fail "peak RSS ${rss} kB"; fi

# ---- CONNECT ------------------------------------------------------------

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
	-subj /CN=127.0.0.1 >/dev/null 2>&1
tls=$(free_port)
start tls openssl s_server -quiet -www -accept "$tls" -cert "$T/cert.pem" -key "$T/key.pem"
wait_port "$tls"
check "CONNECT to a TLS server (curl -k https://)" bash -c \
	"curl -sS -m 10 -k $X https://127.0.0.1:$tls/ | grep -q 's_server'"
echo_port=$(free_port)
start echo $TOOLS echo-server "$echo_port"
wait_port "$echo_port"
printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\nearly bytes' "$echo_port" "$echo_port" >"$T/early.req"
check_eq "CONNECT: bytes sent with the request reach the target" \
	"$(printf 'HTTP/1.1 200 Connection established\r\n\r\nearly bytes' | od -An -tx1 | tr -d ' \n')" \
	"$(python3 -c "
import socket, sys, time
s = socket.create_connection(('127.0.0.1', $px), timeout=5)
s.sendall(open('$T/early.req', 'rb').read())
got = b''
end = time.time() + 3
while len(got) < 50 and time.time() < end:
    got += s.recv(4096)
sys.stdout.write(got.hex())")"

up=$(free_port)
start upgrade python3 "$T/misc.py" upgrade "$up"
wait_port "$up"
check_eq "101 Switching Protocols becomes a tunnel" \
	"HTTP/1.1 101 Switching Protocols ping through the upgrade" \
	"$(python3 "$T/misc.py" client upgrade "$px" "127.0.0.1:$up")"

# ---- credentials ----------------------------------------------------------

pa=$(free_port)
start sluice_auth "$SLUICE" -L "http://alice:s3cret@127.0.0.1:$pa"
wait_port "$pa"
check_eq "credentials: right ones" "hello from the origin" \
	"$(curl -sS -m 5 -x "http://127.0.0.1:$pa" -U alice:s3cret "http://127.0.0.1:$web/index.html")"
check_eq "credentials: wrong ones get 407" "407" \
	"$(curl -s -m 5 -x "http://127.0.0.1:$pa" -U alice:nope -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web/")"
check_eq "credentials: none get 407" "407" \
	"$(curl -s -m 5 -x "http://127.0.0.1:$pa" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web/")"
check "407 asks for Basic" bash -c \
	"curl -s -m 5 -i -x http://127.0.0.1:$pa http://127.0.0.1:$web/ | grep -q 'Proxy-Authenticate: Basic realm=\"sluice\"'"
check "credentials: CONNECT with the right ones" bash -c \
	"curl -sS -m 10 -k -x http://127.0.0.1:$pa -U alice:s3cret https://127.0.0.1:$tls/ | grep -q s_server"
check_eq "credentials: CONNECT with wrong ones gets 407" "407" \
	"$(curl -s -m 5 -k -x "http://127.0.0.1:$pa" -U alice:x -o /dev/null -w '%{http_connect}' "https://127.0.0.1:$tls/")"
check "credentials are not logged" bash -c "! grep -q 's3cret\|YWxpY2U6czNjcmV0' '$T/sluice_auth.log'"

# ---- error pages ----------------------------------------------------------

closed=$(free_port)
curl -s -m 5 -i $X "http://127.0.0.1:$closed/" >"$T/502.out"
check_eq "closed port: 502" "HTTP/1.1 502 Bad Gateway" "$(head -n1 "$T/502.out" | tr -d '\r')"
check "502 page says what failed" grep -q "Could not connect to 127.0.0.1:$closed: connection refused" "$T/502.out"
check_eq "CONNECT to a closed port: 502" "502" \
	"$(curl -s -m 5 -k $X -o /dev/null -w '%{http_connect}' "https://127.0.0.1:$closed/")"
curl -s -m 5 -i $X "http://no-such-host.invalid/" >"$T/nx.out"
check "unknown name: 502, name not found" bash -c \
	"head -n1 '$T/nx.out' | grep -q 502 && grep -q 'name not found' '$T/nx.out'"

silent=$(free_port)
start silent $TOOLS silent-server "$silent"
wait_port "$silent"
pt=$(free_port)
start sluice_timeout "$SLUICE" -L "http://127.0.0.1:$pt?connect-timeout=1" -F "http://127.0.0.1:$silent"
wait_port "$pt"
curl -s -m 5 -i -x "http://127.0.0.1:$pt" "http://127.0.0.1:$web/" >"$T/504.out"
check_eq "a hop that never answers: 504" "HTTP/1.1 504 Gateway Timeout" "$(head -n1 "$T/504.out" | tr -d '\r')"
check "504 page says it timed out" grep -q "Could not connect to 127.0.0.1:$web: timed out" "$T/504.out"

pd=$(free_port)
start sluice_acl "$SLUICE" -L "http://127.0.0.1:$pd?deny-target=127.0.0.0/8"
wait_port "$pd"
check_eq "target refused by ACL: 403" "403" \
	"$(curl -s -m 5 -x "http://127.0.0.1:$pd" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web/")"

# ---- a chain through tinyproxy -----------------------------------------------

tp=$(free_port)
cat >"$T/tinyproxy.conf" <<EOF
Port $tp
Listen 127.0.0.1
Timeout 30
MaxClients 50
Allow 127.0.0.1
LogLevel Info
EOF
tpa=$(free_port)
sed "s/^Port .*/Port $tpa/" "$T/tinyproxy.conf" >"$T/tinyproxy-auth.conf"
echo "BasicAuth bob hunter2" >>"$T/tinyproxy-auth.conf"
start tinyproxy tinyproxy -d -c "$T/tinyproxy.conf"
start tinyproxy_auth tinyproxy -d -c "$T/tinyproxy-auth.conf"
wait_port "$tp"
wait_port "$tpa"

pc=$(free_port)
start sluice_chain "$SLUICE" -v -L "http://127.0.0.1:$pc" -F "http://127.0.0.1:$tp"
wait_port "$pc"
check_eq "chain via tinyproxy: GET" "hello from the origin" \
	"$(curl -sS -m 5 -x "http://127.0.0.1:$pc" "http://127.0.0.1:$web/index.html")"
check_eq "chain via tinyproxy: POST" "$want_post" \
	"$(curl -sS -m 10 -x "http://127.0.0.1:$pc" --data-binary @"$T/post.bin" "http://127.0.0.1:$web/post")"
check "chain via tinyproxy: CONNECT to TLS" bash -c \
	"curl -sS -m 10 -k -x http://127.0.0.1:$pc https://127.0.0.1:$tls/ | grep -q s_server"
check "tinyproxy saw the CONNECTs" grep -q "CONNECT" "$T/tinyproxy.log"
check_eq "chain via tinyproxy: closed port is 502" "502" \
	"$(curl -s -m 10 -x "http://127.0.0.1:$pc" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$closed/")"

ban=$(free_port)
start banner python3 "$T/misc.py" banner "$ban"
wait_port "$ban"
fw=$(free_port)
start sluice_fwd "$SLUICE" -L "tcp://127.0.0.1:$fw/127.0.0.1:$ban" -F "http://127.0.0.1:$tp"
wait_port "$fw"
check_eq "server-first protocol behind the hop: banner kept" \
	"SSH-2.0-sluice-test|you said hi" "$(python3 "$T/misc.py" client banner "$fw" x)"

pk=$(free_port)
start sluice_chain_auth "$SLUICE" -L "http://127.0.0.1:$pk" -F "http://bob:hunter2@127.0.0.1:$tpa"
wait_port "$pk"
check_eq "hop credentials accepted by tinyproxy" "hello from the origin" \
	"$(curl -sS -m 5 -x "http://127.0.0.1:$pk" "http://127.0.0.1:$web/index.html")"
pw=$(free_port)
start sluice_chain_bad "$SLUICE" -L "http://127.0.0.1:$pw" -F "http://bob:wrong@127.0.0.1:$tpa"
wait_port "$pw"
check_eq "wrong hop credentials: 403 from sluice" "403" \
	"$(curl -s -m 5 -x "http://127.0.0.1:$pw" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web/")"

# ---- bad input ------------------------------------------------------------------

printf '\x16\x03\x01\x02\x00garbage\r\n\r\n' >"$T/garbage.req"
check_eq "garbage: 400" "HTTP/1.1 400 Bad Request" "$(send_raw "$px" "$T/garbage.req")"
python3 -c "import sys; sys.stdout.write('GET http://127.0.0.1:$web/ HTTP/1.1\r\nX-Big: ' + 'a' * 65536 + '\r\n\r\n')" >"$T/big.req"
check_eq "64 KiB header line: 431" "HTTP/1.1 431 Request Header Fields Too Large" "$(send_raw "$px" "$T/big.req")"
python3 -c "import sys; sys.stdout.write('GET http://127.0.0.1:$web/' + 'a' * 65536 + ' HTTP/1.1\r\n\r\n')" >"$T/uri.req"
check_eq "64 KiB URL: 414" "HTTP/1.1 414 URI Too Long" "$(send_raw "$px" "$T/uri.req")"
printf 'GET http://127.0.0.1:%s/ HTTP/1.1\r\nHost: x\r\n#EOF' "$web" >"$T/trunc.req"
check_eq "truncated request, then EOF: 400" "HTTP/1.1 400 Bad Request" "$(send_raw "$px" "$T/trunc.req")"
printf 'GET http://127.0.0.1:%s/ HTTP/2.0\r\n\r\n' "$web" >"$T/ver.req"
check_eq "HTTP/2.0 request line: 505" "HTTP/1.1 505 HTTP Version Not Supported" "$(send_raw "$px" "$T/ver.req")"
printf 'GET http://127.0.0.1:%s/ HTTP/1.x\r\n\r\n' "$web" >"$T/ver2.req"
check_eq "bad version: 400" "HTTP/1.1 400 Bad Request" "$(send_raw "$px" "$T/ver2.req")"
printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >"$T/origin.req"
check_eq "origin-form to a proxy: 400" "HTTP/1.1 400 Bad Request" "$(send_raw "$px" "$T/origin.req")"
printf 'POST http://127.0.0.1:%s/post HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n' "$web" >"$T/smuggle.req"
check_eq "Content-Length with chunked: 400" "HTTP/1.1 400 Bad Request" "$(send_raw "$px" "$T/smuggle.req")"
printf 'GET https://127.0.0.1:%s/ HTTP/1.1\r\n\r\n' "$tls" >"$T/https.req"
check_eq "https:// in absolute-form: 400" "HTTP/1.1 400 Bad Request" "$(send_raw "$px" "$T/https.req")"
check_eq "still serving after all that" "hello from the origin" \
	"$(curl -sS -m 5 $X "http://127.0.0.1:$web/index.html")"
check "sluice is alive" alive sluice

finish
