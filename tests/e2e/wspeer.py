#!/usr/bin/python3
"""Independent peers for sluice's WebSocket tunnel (docs/ws-protocol.md),
written from the spec with Python's standard library and python3-websockets
(run with Debian's /usr/bin/python3).

  wspeer.py token KEY SKEW_MS HOST PATH    print a pool token (no open) cookie value,
                                           bound to that Host header and path
  wspeer.py client URL KEY                 websockets client: handshake with a token,
                                           ping/pong, clean close (prints steps)
  wspeer.py server PORT KEY SECONDS [STATUS]  websockets server that checks the token and
                                           answers like a sluice server (Set-Cookie), with
                                           that answer status (default 0); prints the
                                           token's flags
  wspeer.py replay HOST PORT FILE          send a captured request twice, print both status lines
  wspeer.py record PORT FILE               accept one connection, save its request head, close
  wspeer.py relay PORT TO_PORT FILE        a recording relay: forward one connection to
                                           127.0.0.1:TO_PORT, save all the client sent
  wspeer.py resend HOST PORT FILE          send a recorded stream as it was, print the
                                           status line of the answer
  wspeer.py guard PORT PATH KEY WRONG DELAY_MS  wrong keys from 127.0.0.1 until banned,
                                           the right key from 127.0.0.2 throughout
  wspeer.py plain HOST PORT PATH KEY       upgrade asking for enc=none, print the status line
  wspeer.py pingflood HOST PORT PATH KEY MB  upgrade, then send MB MiB of pings and never
                                           read; print the bytes sent
  wspeer.py udp HOST PORT PATH KEY ECHO    a datagram association (UDP_OPEN, DGRAM) with
                                           malformed and oversized DGRAM records among good
                                           ones to the UDP echo 127.0.0.1:ECHO; exit 0 if
                                           every good one came back and the association
                                           lived through the bad ones
  wspeer.py revudp HOST PORT PATH KEY BPORT  a UDP reverse forward's client (LISTEN_UDP on
                                           HOST:BPORT): a peer's datagram comes as DGRAM
                                           and the answer reaches it; answers to an address
                                           that never sent (a stranger on HOST) and malformed
                                           DGRAMs reach nobody, and the claim lives; exit 0
                                           if so
"""
import asyncio
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time


def b64any(s):
    s = s.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hkdf(ikm, salt, info, n=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def k_auth(key):
    return hkdf(b64any(key), b"sluice/ws/1", b"auth")


def bind(host, path):
    """What a version 2 token's MAC covers before the token itself."""
    h = host.lower().encode()
    p = path.split("?")[0].encode()
    return bytes([len(h)]) + h + struct.pack(">H", len(p)) + p


def token_mac(key, host, path, body):
    return hmac.new(k_auth(key), bind(host, path) + body, hashlib.sha256).digest()


def token(key, host, path, skew_ms=0, nonce=None, flags=1):
    nonce = nonce or os.urandom(16)
    ts = int(time.time() * 1000) + skew_ms
    body = bytes([2, flags]) + struct.pack(">Q", ts) + nonce  # flags: ENC; no open
    return b64url(body + token_mac(key, host, path, body)), nonce


def answer(key, cn, sn, status=0):
    st = bytes([status])
    return sn + st + hmac.new(k_auth(key), b"answer" + cn + sn + st, hashlib.sha256).digest()


async def client(url, key):
    import urllib.parse
    import websockets
    u = urllib.parse.urlsplit(url)
    tok, nonce = token(key, u.netloc, u.path or "/")
    async with websockets.connect(url, extra_headers={"Cookie": "sid=" + tok},
                                  ping_interval=None) as ws:
        print("handshake ok", flush=True)
        sid = ws.response_headers.get("Set-Cookie", "")
        ans = b64any(sid.split("sid=")[1].split(";")[0])
        mac = hmac.new(k_auth(key), b"answer" + nonce + ans[:17], hashlib.sha256).digest()
        print("answer ok" if hmac.compare_digest(mac, ans[17:]) else "answer BAD", flush=True)
        pong = await ws.ping(b"hello")
        await asyncio.wait_for(pong, 5)
        print("pong ok", flush=True)
        await ws.close(1000, "bye")
        print("closed", ws.close_code, flush=True)


async def server(port, key, secs, status=0):
    import websockets

    async def handler(ws, path=None):
        print("connection", flush=True)
        await asyncio.sleep(secs / 2)
        await ws.close(1000, "done")
        print("closed", ws.close_code, flush=True)

    def extra_headers(path, request_headers):
        ck = request_headers.get("Cookie", "")
        raw = b64any(ck.split("sid=")[1].split(";")[0])
        body, mac = raw[:-32], raw[-32:]
        host = request_headers.get("Host", "")
        ok = raw[0] == 2 and hmac.compare_digest(token_mac(key, host, path, body), mac)
        print("token", "ok" if ok else "BAD", "flags", raw[1], flush=True)
        ans = answer(key, raw[10:26], os.urandom(16), status)
        return [("Set-Cookie", "sid=" + b64url(ans) + "; Path=/")]

    async with websockets.serve(handler, "127.0.0.1", port,
                                extra_headers=extra_headers, ping_interval=None):
        await asyncio.sleep(secs)


def record(port, path):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    c, _ = s.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(65536)
        if not d:
            break
        data += d
    open(path, "wb").write(data[: data.index(b"\r\n\r\n") + 4])
    c.close()


def replay(host, port, path):
    req = open(path, "rb").read()
    for _ in range(2):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(req)
        resp = b""
        try:
            while b"\r\n" not in resp:
                d = s.recv(4096)
                if not d:
                    break
                resp += d
        except socket.timeout:
            pass
        print(resp.split(b"\r\n")[0].decode(errors="replace"), flush=True)
        s.close()


def upgrade(host, port, path, key, flags=1, rcvbuf=0, src=None):
    """A raw socket after the upgrade request; returns (socket, status line)."""
    tok, _ = token(key, "%s:%d" % (host, port), path, flags=flags)
    s = socket.socket()
    if src:
        s.bind((src, 0))
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: sid=%s\r\n\r\n"
               % (path, host, port, tok)).encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        d = s.recv(4096)
        if not d:
            break
        resp += d
    return s, resp.split(b"\r\n")[0].decode(errors="replace")


def guard(port, path, key, wrong, delay_ms):
    """Wrong keys from 127.0.0.1 get the decoy's answer, every one, neither
    held (the times are printed, not judged) nor dropped once the guard
    bans the address; the right key from there then gets the decoy too,
    while from 127.0.0.2 it opens a tunnel throughout."""
    def attempt(k, src):
        t0 = time.monotonic()
        s, status = upgrade("127.0.0.1", port, path, k, src=src)
        s.close()
        return status, (time.monotonic() - t0) * 1000

    ok = True
    for i in range(8):
        status, ms = attempt(wrong, "127.0.0.1")
        print("wrong key %d from 127.0.0.1: %r after %d ms" % (i + 1, status, ms), flush=True)
        if status != "HTTP/1.1 404 Not Found":
            ok = False  # the decoy (a one-page site's 404 for the path), as to anyone
        good, _ = attempt(key, "127.0.0.2")
        if good != "HTTP/1.1 101 Switching Protocols":
            print("the right key from 127.0.0.2 was refused: %r" % good, flush=True)
            ok = False
    status, _ = attempt(key, "127.0.0.1")
    print("right key from the banned 127.0.0.1: %r" % status, flush=True)
    good, _ = attempt(key, "127.0.0.2")
    print("right key from 127.0.0.2: %r" % good, flush=True)
    ok = ok and status == "HTTP/1.1 404 Not Found" and good == "HTTP/1.1 101 Switching Protocols"
    sys.exit(0 if ok else 1)


def pingflood(host, port, path, key, mib):
    s, status = upgrade(host, port, path, key, rcvbuf=4096)
    if not status.startswith("HTTP/1.1 101"):
        sys.exit("upgrade refused: " + status)
    mask = os.urandom(4)
    payload = bytes(125)
    frame = bytes([0x89, 0x80 | 125]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    chunk = frame * 512
    sent = 0
    s.settimeout(30)
    while sent < mib << 20:
        s.sendall(chunk)
        sent += len(chunk)
    print(sent, flush=True)
    time.sleep(0.5)  # let the server take the last of it before we go
    s.close()


def ws_frame(payload, opcode=2):
    """A masked client frame."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack(">Q", n)
    mask = os.urandom(4)
    m = (mask * (n // 4 + 1))[:n]
    return head + mask + bytes(a ^ b for a, b in zip(payload, m))


def ws_read(s, buf):
    """One whole (unmasked, unfragmented) server frame: (opcode, payload, rest)."""
    while True:
        if len(buf) >= 2:
            n, off = buf[1] & 0x7f, 2
            if n == 126 and len(buf) >= 4:
                n, off = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127 and len(buf) >= 10:
                n, off = struct.unpack(">Q", buf[2:10])[0], 10
            if n < 126 or off > 2:
                if len(buf) >= off + n:
                    return buf[0] & 0x0f, buf[off:off + n], buf[off + n:]
        d = s.recv(65536)
        if not d:
            raise EOFError("the server closed the connection")
        buf += d


def udp(host, port, path, key, echo):
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    tok, cn = token(key, "%s:%d" % (host, port), path)
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: sid=%s\r\n\r\n"
               % (path, host, port, tok)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    head, buf = head.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head.split(b"\r\n")[0]
    ck = [l for l in head.split(b"\r\n") if l.lower().startswith(b"set-cookie:")][0].decode()
    sn = b64any(ck.split("sid=")[1].split(";")[0])[:16]
    k = b64any(key)
    tx = ChaCha20Poly1305(hkdf(k, cn + sn, b"c2s"))
    rx = ChaCha20Poly1305(hkdf(k, cn + sn, b"s2c"))
    ctr = {"tx": 0, "rx": 0}

    def send(rtype, body=b""):
        nonce = bytes(4) + struct.pack(">Q", ctr["tx"])
        ctr["tx"] += 1
        s.sendall(ws_frame(tx.encrypt(nonce, bytes([rtype]) + body, None)))

    def recv():
        nonlocal buf
        op, payload, buf = ws_read(s, buf)
        assert op == 2, "opcode %d" % op
        nonce = bytes(4) + struct.pack(">Q", ctr["rx"])
        ctr["rx"] += 1
        p = rx.decrypt(nonce, payload, None)
        return p[0], p[1:]

    def addr(h, p):
        return bytes([len(h)]) + h + struct.pack(">H", p)

    good = addr(b"127.0.0.1", echo)
    send(6)  # UDP_OPEN
    send(7, good + b"first")
    bad = [b"",                                   # no address at all
           b"\x00\x00\x35x",                      # empty host
           addr(b"127.0.0.1", 0) + b"port 0",     # port 0
           addr(b"a/b", 53) + b"slash",          # not a host
           b"\x09127.0.0",                         # cut short
           good + bytes(65508)]                   # one byte over the largest datagram
    for b in bad:
        send(7, b)
    send(7, good + b"second")
    got = []
    while len(got) < 2:
        t, body = recv()
        if t == 2:  # OPEN_OK
            continue
        assert t == 7, "record type %d" % t
        assert body[:len(good)] == good, "source %r" % body[:len(good)]
        got.append(body[len(good):])
    assert got == [b"first", b"second"], got
    print("udp: %d malformed records dropped, the association lived" % len(bad))
    s.sendall(ws_frame(struct.pack(">H", 1000), 8))
    s.close()


def session(host, port, path, key):
    """An upgraded, sealed session: (send(type, body), recv() -> (type, body), socket)."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    tok, cn = token(key, "%s:%d" % (host, port), path)
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: sid=%s\r\n\r\n"
               % (path, host, port, tok)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    head, rest = head.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head.split(b"\r\n")[0]
    ck = [l for l in head.split(b"\r\n") if l.lower().startswith(b"set-cookie:")][0].decode()
    sn = b64any(ck.split("sid=")[1].split(";")[0])[:16]
    k = b64any(key)
    tx = ChaCha20Poly1305(hkdf(k, cn + sn, b"c2s"))
    rx = ChaCha20Poly1305(hkdf(k, cn + sn, b"s2c"))
    st = {"tx": 0, "rx": 0, "buf": rest}

    def send(rtype, body=b""):
        nonce = bytes(4) + struct.pack(">Q", st["tx"])
        st["tx"] += 1
        s.sendall(ws_frame(tx.encrypt(nonce, bytes([rtype]) + body, None)))

    def recv():
        op, payload, st["buf"] = ws_read(s, st["buf"])
        assert op == 2, "opcode %d" % op
        nonce = bytes(4) + struct.pack(">Q", st["rx"])
        st["rx"] += 1
        p = rx.decrypt(nonce, payload, None)
        return p[0], p[1:]
    return send, recv, s


def revudp(host, port, path, key, bport):
    def addr(h, p):
        return bytes([len(h)]) + h + struct.pack(">H", p)
    send, recv, s = session(host, port, path, key)
    send(13, addr(host.encode(), bport))  # LISTEN_UDP
    t, body = recv()
    assert t == 9, "LISTEN_UDP answered with record %d %r" % (t, body)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind((host, 0))
    peer.settimeout(3)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind((host, 0))
    stranger.settimeout(1)
    peer.sendto(b"query", (host, bport))
    t, body = recv()
    src = addr(host.encode(), peer.getsockname()[1])
    assert t == 7 and body == src + b"query", "DGRAM %d %r" % (t, body)
    # to a stranger (never sent to the claim), then malformed, then the peer
    send(7, addr(host.encode(), stranger.getsockname()[1]) + b"spoofed")
    send(7, addr(b"127.0.0.1", peer.getsockname()[1]) + b"other address")
    for bad in [b"", b"\x00\x00\x35x", addr(host.encode(), 0) + b"port 0", b"\x09127.0.0",
                addr(b"a/b", 53) + b"slash"]:
        send(7, bad)
    send(7, src + b"answer")
    got = peer.recv(65535)
    assert got == b"answer", "the peer got %r" % got
    try:
        leaked = stranger.recv(65535)
    except socket.timeout:
        leaked = None
    assert leaked is None, "a stranger got %r" % leaked
    peer.sendto(b"again", (host, bport))
    t, body = recv()
    assert t == 7 and body == src + b"again", "after the bad ones: %d %r" % (t, body)
    print("revudp: the peer got its answer; the stranger nothing; 5 malformed DGRAMs dropped,"
          " the claim lived")
    s.sendall(ws_frame(struct.pack(">H", 1000), 8))
    s.close()


def relay(port, to_port, path):
    import select
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    c, _ = s.accept()
    u = socket.create_connection(("127.0.0.1", to_port))
    rec = b""
    ends = {c: u, u: c}
    while ends:
        r, _, _ = select.select(list(ends), [], [], 10)
        if not r:
            break
        for a in r:
            try:
                d = a.recv(65536)
            except OSError:  # a reset ends that side as a close would
                d = b""
            if not d:
                try:
                    ends[a].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                del ends[a]
                continue
            if a is c:
                rec += d
            try:
                ends[a].sendall(d)
            except OSError:
                pass
    open(path, "wb").write(rec)


def resend(host, port, path):
    """As an attacker would: the recorded head, then, once the server has
    answered (it dials the open's target meanwhile), the recorded rest."""
    data = open(path, "rb").read()
    end = data.index(b"\r\n\r\n") + 4
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(data[:end])
    resp = b""
    s.settimeout(1)
    try:
        while b"\r\n\r\n" not in resp:
            d = s.recv(65536)
            if not d:
                break
            resp += d
        time.sleep(0.3)
        s.sendall(data[end:])
        while s.recv(65536):
            pass
    except (socket.timeout, OSError):
        pass
    s.close()
    print(resp.split(b"\r\n")[0].decode(errors="replace"), flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "token":
        print(token(sys.argv[2], sys.argv[4], sys.argv[5], int(sys.argv[3]))[0])
    elif cmd == "client":
        asyncio.run(client(sys.argv[2], sys.argv[3]))
    elif cmd == "server":
        asyncio.run(server(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]),
                           int(sys.argv[5]) if len(sys.argv) > 5 else 0))
    elif cmd == "record":
        record(int(sys.argv[2]), sys.argv[3])
    elif cmd == "relay":
        relay(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif cmd == "resend":
        resend(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "plain":
        s, status = upgrade(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], flags=0)
        print(status)
        s.close()
    elif cmd == "guard":
        guard(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif cmd == "udp":
        udp(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif cmd == "revudp":
        revudp(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif cmd == "pingflood":
        pingflood(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif cmd == "replay":
        replay(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
