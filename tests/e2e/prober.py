"""An active prober: the same requests to a sluice tunnel server whose decoy
is a web server (decoy=http://...) and to that web server directly; the
answers must match one for one (status line, headers but Date, body, and
whether the connection stays open after them).

  prober.py SLUICE_PORT WEB_PORT KEY PATH [static LAST_MODIFIED] [ban] [tls]
  prober.py SLUICE_PORT WEB_PORT - PATH wstan CAPTURED [tls]

With `static`, the requests are ordinary ones to a static site (paths,
directories, HEAD, other methods, If-Modified-Since with the index's
LAST_MODIFIED, keep-alive), for a server whose decoy=DIR is the web
server's root, with decoy-server= its Server header.

KEY and PATH are the tunnel's, for the upgrades it sends: wrong keys, a
replayed upgrade (first used once, for real, on the sluice server), a
stale timestamp, another path, a token that does not parse.  Prints one
line per request and the answer times, and exits 1 on any difference.

With `ban`, the prober speaks from 127.0.0.2 (a source of its own for the
server's brute-force guard) and first fails 20 times in a row with wrong
keys, which bans that source; the requests above come after, and last an
upgrade with the right key, which must get what the web server gives it
(the decoy's answer, never a 101).  Each request goes to both servers at
once.

With `tls`, every request goes over TLS (no verification) to both: a wss://
server and a web server serving TLS.  With `wstan`, the server is a wstan://
listener on PATH and CAPTURED a recorded upgrade of a real wstan client:
sent once for real (it must open), then replayed, and tampered with (its
path, its Sec-WebSocket-Key), among wstan opens with no request in the
path, one that does not decode and ones under a wrong key.
"""
import concurrent.futures
import os
import socket
import ssl
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wspeer  # noqa: E402

HOST = "www.example.com"


def upgrade_req(path, tok, extra=""):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Cookie: sid=%s\r\n%s\r\n" % (path, HOST, tok, extra)).encode()


def get(path, method="GET", extra="", ver="1.1", body=b""):
    return ("%s %s HTTP/%s\r\nHost: %s\r\n%s\r\n" % (method, path, ver, HOST, extra)).encode() + body


def requests(key, path):
    wrong = wspeer.b64url(os.urandom(32))
    r = []
    for p in ["/", "/index.html", "/favicon.ico", "/robots.txt", "/missing", "/sub/", "/sub",
              "/sub/page.html", "/a/../index.html", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
              "/index.html?x=1", "/" + "a" * 3000, "/.git/config", "/tun", path, path + "/x"]:
        r.append(("GET " + p[:40], get(p), 1))
    r.append(("HEAD /", get("/", "HEAD"), 1))
    r.append(("HEAD /missing", get("/missing", "HEAD"), 1))
    r.append(("POST /", get("/", "POST", "Content-Length: 5\r\n", body=b"hello"), 1))
    r.append(("PUT /x", get("/x", "PUT", "Content-Length: 0\r\n"), 1))
    r.append(("DELETE /", get("/", "DELETE"), 1))
    r.append(("OPTIONS *", get("*", "OPTIONS"), 1))
    r.append(("TRACE /", get("/", "TRACE"), 1))
    r.append(("BREW /", get("/", "BREW"), 1))
    r.append(("CONNECT", b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", 1))
    r.append(("HTTP/1.0 /", get("/", ver="1.0"), 1))
    r.append(("HTTP/1.0 keep-alive", get("/", ver="1.0", extra="Connection: keep-alive\r\n"), 1))
    r.append(("Connection: close", get("/", extra="Connection: close\r\n"), 1))
    r.append(("If-Modified-Since future",
              get("/index.html", extra="If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n"), 1))
    r.append(("Range", get("/index.html", extra="Range: bytes=0-3\r\n"), 1))
    r.append(("two pipelined", get("/") + get("/missing"), 2))
    r.append(("no Host", b"GET / HTTP/1.1\r\n\r\n", 1))
    r.append(("HTTP/0.9-ish", b"GET /\r\n", 1))
    r.append(("garbage", os.urandom(64).replace(b"\n", b"x") + b"\r\n\r\n", 1))
    r.append(("TLS ClientHello", bytes.fromhex("160301002a0100002603035f") + os.urandom(32) + b"\r\n\r\n", 1))
    r.append(("bad version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 1))
    r.append(("lf only", b"GET / HTTP/1.1\nHost: x\n\n", 1))
    r.append(("huge header", get("/", extra="X-Big: %s\r\n" % ("b" * 9000)), 1))
    r.append(("upgrade without cookie",
              upgrade_req(path, "x").replace(b"Cookie: sid=x\r\n", b""), 1))
    for i in range(3):
        tok, _ = wspeer.token(wrong, HOST, path)
        r.append(("wrong key %d" % i, upgrade_req(path, tok), 1))
    tok, _ = wspeer.token(key, HOST, path, skew_ms=-600000)
    r.append(("stale timestamp", upgrade_req(path, tok), 1))
    tok, _ = wspeer.token(key, HOST, path, skew_ms=600000)
    r.append(("future timestamp", upgrade_req(path, tok), 1))
    tok, _ = wspeer.token(key, HOST, "/other")
    r.append(("token for another path", upgrade_req(path, tok), 1))
    r.append(("token that does not parse", upgrade_req(path, "AAAA"), 1))
    r.append(("v1 token", upgrade_req(path, wspeer.b64url(b"\x01" + os.urandom(60))), 1))
    return r


def requests_static(key, path, lm):
    r = []
    for p in ["/", "/index.html", "/missing", "/favicon.ico", "/sub", "/sub/", "/sub/page.html",
              "/noidx/", "/a/../index.html", "/./index.html", "/%69ndex.html", "/index.html?q=1",
              "/robots.txt", "/../x", "/%2e%2e/x", "/sub/../../x", path]:
        r.append(("GET " + p, get(p), 1))
        r.append(("HEAD " + p, get(p, "HEAD"), 1))
    r.append(("DELETE /", get("/", "DELETE"), 1))
    r.append(("OPTIONS /", get("/", "OPTIONS"), 1))
    r.append(("If-Modified-Since equal", get("/index.html", extra="If-Modified-Since: %s\r\n" % lm), 1))
    r.append(("If-Modified-Since past",
              get("/index.html", extra="If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n"), 1))
    r.append(("HTTP/1.0 /", get("/", ver="1.0"), 1))
    r.append(("HTTP/1.0 keep-alive", get("/", ver="1.0", extra="Connection: keep-alive\r\n"), 1))
    r.append(("Connection: close", get("/", extra="Connection: close\r\n"), 1))
    r.append(("If-Modified-Since future",
              get("/index.html", extra="If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n"), 1))
    r.append(("If-None-Match *", get("/index.html", extra="If-None-Match: *\r\n"), 1))
    r.append(("If-None-Match other", get("/index.html", extra='If-None-Match: "1-2"\r\n'), 1))
    # bodies: read and dropped, the connection kept, as nginx does
    r.append(("POST / with a body", get("/", "POST", "Content-Length: 5\r\n", body=b"hello"), 1))
    r.append(("POST /missing with a body",
              get("/missing", "POST", "Content-Length: 5\r\n", body=b"hello"), 1))
    r.append(("POST /sub", get("/sub", "POST"), 1))
    r.append(("POST chunked, then GET",
              get("/", "POST", "Transfer-Encoding: chunked\r\n", body=b"5\r\nhello\r\n0\r\n\r\n")
              + get("/sub/page.html"), 2))
    r.append(("PUT with a body, then GET",
              get("/x", "PUT", "Content-Length: 3\r\n", body=b"abc") + get("/sub/page.html"), 2))
    r.append(("GET with a body, then GET",
              get("/", extra="Content-Length: 3\r\n", body=b"abc") + get("/sub/page.html"), 2))
    r.append(("DELETE /../x", get("/../x", "DELETE"), 1))
    r.append(("OPTIONS *", get("*", "OPTIONS"), 1))
    # pipelined requests, answered in order
    r.append(("three pipelined", get("/") + get("/missing") + get("/sub/page.html", "HEAD"),
              [False, False, True]))
    r.append(("pipelined after close", get("/", extra="Connection: close\r\n") + get("/missing"), 2))
    r.append(("pipelined, then garbage", get("/robots.txt") + b"\x16\x03\x01garbage\r\n\r\n", 2))
    # byte ranges
    for rg in ["bytes=0-3", "bytes=5-", "bytes=-5", "bytes=0-0", "bytes=3-1000", "bytes=-1000",
               "bytes=100-", "bytes=3-1", "bytes=-0", "bytes=abc", "Bytes=0-3", "items=0-3",
               "bytes=", "bytes= 1 - 2 ", "bytes=0-3,", "bytes=99999999999999999999-",
               # several: a multipart/byteranges body (or one part, or the whole file)
               "bytes=0-1,5-9", "bytes=-3,2-4", "bytes=0-1,0-1", "bytes=0-1,100-200",
               "bytes=100-,0-2", "bytes=0-,0-", "bytes=1-2,3-4,5-6,7-", "bytes=0-1, 3-4"]:
        r.append(("Range: " + rg, get("/index.html", extra="Range: %s\r\n" % rg), 1))
    r.append(("HEAD Range", get("/index.html", "HEAD", "Range: bytes=-5\r\n"), 1))
    r.append(("HEAD two ranges", get("/index.html", "HEAD", "Range: bytes=0-1,4-5\r\n"), 1))
    r.append(("two ranges, If-Range", get("/index.html", extra="Range: bytes=0-1,4-5\r\nIf-Range: %s\r\n" % lm), 1))
    r.append(("Range, missing file", get("/missing", extra="Range: bytes=0-3\r\n"), 1))
    r.append(("If-Range time", get("/index.html", extra="Range: bytes=1-2\r\nIf-Range: %s\r\n" % lm), 1))
    r.append(("If-Range old time",
              get("/index.html", extra="Range: bytes=1-2\r\nIf-Range: Thu, 01 Jan 1998 00:00:00 GMT\r\n"), 1))
    r.append(("If-Range other ETag", get("/index.html", extra='Range: bytes=1-2\r\nIf-Range: "1-2"\r\n'), 1))
    tok, _ = wspeer.token(wspeer.b64url(os.urandom(32)), HOST, path)
    r.append(("wrong key", upgrade_req(path, tok), 1))
    tok, _ = wspeer.token(key, HOST, path, skew_ms=-600000)
    r.append(("stale timestamp", upgrade_req(path, tok), 1))
    return r


def requests_wstan(path, captured):
    """Failed wstan opens: each must get the web server's answer."""
    r = [x for x in requests("", path) if not x[0].startswith(("wrong key", "stale", "future", "token", "v1 "))]
    b64 = wspeer.b64url
    r.append(("wstan: no request in the path", upgrade_req(path, "x"), 1))
    r.append(("wstan: path ends in /", upgrade_req(path + "/", "x"), 1))
    r.append(("wstan: not base64", upgrade_req(path + "/!!~~**", "x"), 1))
    r.append(("wstan: short request", upgrade_req(path + "/" + b64(os.urandom(6)), "x"), 1))
    for i in range(3):
        r.append(("wstan: wrong key %d" % i, upgrade_req(path + "/" + b64(os.urandom(90)), "x"), 1))
    r.append(("wstan: under another path", upgrade_req("/x" + path + "/" + b64(os.urandom(90)), "x"), 1))
    head, _, _ = captured.partition(b"\r\n\r\n")
    line, _, rest = head.partition(b"\r\n")
    meth, target, ver = line.split(b" ")
    i = len(target) // 2
    flip = target[:i] + (b"A" if target[i:i + 1] != b"A" else b"B") + target[i + 1:]
    r.append(("wstan: tampered path", b" ".join([meth, flip, ver]) + b"\r\n" + rest + b"\r\n\r\n", 1))
    lines = rest.split(b"\r\n")
    other = [ln for ln in lines if not ln.lower().startswith(b"sec-websocket-key:")]
    nk = b"Sec-WebSocket-Key: " + __import__("base64").b64encode(os.urandom(16))
    r.append(("wstan: another nonce", b"\r\n".join([line] + other + [nk]) + b"\r\n\r\n", 1))
    lk = b"Sec-WebSocket-Key: " + __import__("base64").b64encode(os.urandom(20))
    r.append(("wstan: key of 20 bytes", b"\r\n".join([line] + other + [lk]) + b"\r\n\r\n", 1))
    nu = [ln for ln in lines if not ln.lower().startswith(b"upgrade:")]
    r.append(("wstan: no Upgrade header", b"\r\n".join([line] + nu) + b"\r\n\r\n", 1))
    return r


def read_response(s, head_only):
    """One response: (status line, headers without Date, body) or None at EOF."""
    buf = s.buf
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            s.buf = b""
            return (b"(no head, then EOF)", (), buf) if buf else None
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    hdrs = [ln for ln in lines[1:] if not ln.lower().startswith(b"date:")]
    status = lines[0]
    code = int(status.split()[1]) if len(status.split()) > 1 and status.split()[1].isdigit() else 0
    n, chunked = None, False
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
        if k.strip().lower() == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if head_only or code in (204, 304) or 100 <= code < 200:
        n = 0
    if chunked:
        while not buf.endswith(b"0\r\n\r\n"):
            d = s.recv(65536)
            if not d:
                break
            buf += d
        body, buf = buf, b""
    elif n is None:
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        body, buf = buf, b""
    else:
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        body, buf = buf[:n], buf[n:]
    s.buf = buf
    # a multipart body's boundary is a counter of each server's own: the
    # same string for both
    for ln in hdrs:
        k, _, v = ln.partition(b":")
        if k.lower() == b"content-type" and b"boundary=" in v:
            bd = v.split(b"boundary=", 1)[1].strip()
            norm = b"B" * len(bd)
            hdrs = [h.replace(bd, norm) for h in hdrs]
            body = body.replace(b"--" + bd, b"--" + norm)
    return (status, tuple(hdrs), body)


class Conn:
    """A connection and what was read past the last answer."""

    def __init__(self, s):
        self.s, self.buf = s, b""

    def recv(self, n):
        return self.s.recv(n)

    def settimeout(self, t):
        self.s.settimeout(t)


SOURCE = ""
TLS = None


def probe(port, data, nresp, head_only):
    """nresp: how many answers to read, or a list saying for each whether it
    answers a HEAD."""
    heads = nresp if isinstance(nresp, list) else [head_only] * nresp
    raw = socket.socket()
    raw.settimeout(5)
    if SOURCE:
        raw.bind((SOURCE, 0))
    t0 = time.monotonic()
    raw.connect(("127.0.0.1", port))
    if TLS:
        raw = TLS.wrap_socket(raw, server_hostname="localhost")
    s = Conn(raw)
    raw.sendall(data)
    out = []
    try:
        for h in heads:
            r = read_response(s, h)
            if r is None:
                break
            out.append(r)
        took = time.monotonic() - t0
        # still open after the answer? (a kept-alive connection, or closed)
        s.settimeout(0.3)
        try:
            state = "closed" if not s.recv(1) else "more bytes"
        except socket.timeout:
            state = "open"
    except (ConnectionResetError, socket.timeout, ssl.SSLError) as e:
        took = time.monotonic() - t0
        state = type(e).__name__
    raw.close()
    return out, state, took


def both(sp, wp, data, nresp):
    """The same request to both servers at once: (sluice's, the web server's)."""
    head_only = data.startswith(b"HEAD")
    web = []
    t = threading.Thread(target=lambda: web.append(probe(wp, data, nresp, head_only)))
    t.start()
    a = probe(sp, data, nresp, head_only)
    t.join()
    return a, web[0]


def main():
    global SOURCE, TLS
    sp, wp, key, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    static = len(sys.argv) > 5 and sys.argv[5] == "static"
    wstan = len(sys.argv) > 5 and sys.argv[5] == "wstan"
    ban = "ban" in sys.argv[5:]
    if ban:
        SOURCE = "127.0.0.2"
    if "tls" in sys.argv[5:]:
        TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        TLS.check_hostname = False
        TLS.verify_mode = ssl.CERT_NONE
    if wstan:
        first = open(sys.argv[6], "rb").read()
        reqs = requests_wstan(path, first)
    else:
        reqs = requests_static(key, path, sys.argv[6]) if static else requests(key, path)
        # a real open, once, so that its replay below is a replay
        tok, _ = wspeer.token(key, HOST, path)
        first = upgrade_req(path, tok)
    out, _, _ = probe(sp, first, 1, False)
    if not out or b" 101 " not in out[0][0]:
        print("the real upgrade was not accepted: %r" % (out,))
        return 1
    reqs.append(("replayed upgrade", first, 1))
    if not static:
        reqs.append(("replayed upgrade again", first, 1))
        assert len(reqs) >= 50, len(reqs)
    if ban:
        wrong = wspeer.b64url(os.urandom(32))
        fails = []
        for i in range(20):
            tok, _ = wspeer.token(wrong, HOST, path)
            fails.append(("failure %d of 20" % (i + 1), upgrade_req(path, tok), 1))
        tok, _ = wspeer.token(key, HOST, path)
        reqs = fails + reqs + [("right key, banned", upgrade_req(path, tok), 1)]
    bad = 0
    times = {"sluice": [], "web": []}
    # the failures in a row, then the rest eight at a time (each on its own
    # connections; answers are printed in order)
    nfirst = 20 if ban else 0
    results = [both(sp, wp, data, nresp) for _, data, nresp in reqs[:nfirst]]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results += list(pool.map(lambda r: both(sp, wp, r[1], r[2]), reqs[nfirst:]))
    for (name, data, nresp), (a, b) in zip(reqs, results):
        times["sluice"].append(a[2])
        times["web"].append(b[2])
        same = a[0] == b[0] and a[1] == b[1]
        status = a[0][0][0].decode(errors="replace") if a[0] else "(no answer)"
        print("%s %-28s %-34s %s" % ("same" if same else "DIFF", name, status, a[1]))
        if not same:
            bad += 1
            print("    sluice: %r %s" % (a[0], a[1]))
            print("    web:    %r %s" % (b[0], b[1]))
    print("%d requests, %d different" % (len(reqs), bad))
    for k, v in times.items():
        print("answer time %s: median %.2f ms, max %.2f ms" %
              (k, statistics.median(v) * 1000, max(v) * 1000))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
