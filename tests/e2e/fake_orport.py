#!/usr/bin/env python3
"""Peers for tests/e2e/pt_tor.sh: what tor would be on either side of
`sluice pt`, without tor.

  fake_orport.py orport PORT LOG
      an ORPort stand-in: echoes every connection; one line per connection
      in LOG.
  fake_orport.py extorport PORT COOKIEFILE LOG [deny]
      an Extended ORPort: writes a fresh cookie file as tor does, then for
      every connection runs the server side of the SAFE_COOKIE handshake
      (ext-orport-spec section 2), reads USERADDR / TRANSPORT / DONE,
      answers OKAY (or DENY) and echoes.  Logs "ok useraddr=.. transport=.."
      or "fail <why>" per connection.
  fake_orport.py socks PORT HOST:PORT ARGS [4]
      a SOCKS client as tor makes it for a bridge: the arguments in RFC 1929
      user name and password (password a lone NUL when they fit), or in the
      SOCKS4 USERID; sends a line, prints what came back.
"""
import hashlib
import hmac
import os
import socket
import struct
import sys
import threading

HEADER = b"! Extended ORPort Auth Cookie !\n"
S2C = b"ExtORPort authentication server-to-client hash"
C2S = b"ExtORPort authentication client-to-server hash"


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def log(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)


def serve(port, handler):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def orport(port, logf):
    def handle(c):
        log(logf, "conn")
        try:
            echo(c)
        finally:
            c.close()
    serve(port, handle)


def extorport(port, cookiefile, logf, deny):
    cookie = os.urandom(32)
    with open(cookiefile, "wb") as f:
        f.write(HEADER + cookie)

    def handle(c):
        try:
            c.sendall(bytes([1, 0]))  # SAFE_COOKIE, end of list
            if recv_exact(c, 1) != b"\x01":
                raise ValueError("auth type")
            cn = recv_exact(c, 32)
            sn = os.urandom(32)
            c.sendall(hmac.new(cookie, S2C + cn + sn, hashlib.sha256).digest() + sn)
            want = hmac.new(cookie, C2S + cn + sn, hashlib.sha256).digest()
            got = recv_exact(c, 32)
            if not hmac.compare_digest(want, got):
                c.sendall(b"\x00")
                raise ValueError("client hash")
            c.sendall(b"\x01")
            info = {}
            while True:
                cmd, n = struct.unpack(">HH", recv_exact(c, 4))
                body = recv_exact(c, n)
                if cmd == 0:
                    break
                if cmd == 1:
                    info["useraddr"] = body.decode()
                elif cmd == 2:
                    info["transport"] = body.decode()
            if deny:
                c.sendall(struct.pack(">HH", 0x1001, 0))
                log(logf, "denied useraddr=%s transport=%s" % (
                    info.get("useraddr"), info.get("transport")))
                return
            c.sendall(struct.pack(">HH", 0x1000, 0))
            log(logf, "ok useraddr=%s transport=%s" % (
                info.get("useraddr"), info.get("transport")))
            echo(c)
        except Exception as e:  # noqa: BLE001 - reported in the log
            log(logf, "fail %s" % e)
        finally:
            c.close()
    serve(port, handle)


def pt_escape(s):
    return s.replace("\\", "\\\\").replace(";", "\\;").replace("=", "\\=")


def socks(port, target, args, ver):
    host, tport = target.rsplit(":", 1)
    tport = int(tport)
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    if ver == 4:
        ip = socket.inet_aton(host)
        s.sendall(struct.pack(">BBH", 4, 1, tport) + ip + args.encode() + b"\0")
        rep = recv_exact(s, 8)
        if rep[1] != 0x5A:
            print("refused %#x" % rep[1])
            return 1
    else:
        a = args.encode()
        if a:
            s.sendall(b"\x05\x01\x02")
            if recv_exact(s, 2) != b"\x05\x02":
                print("no user/pass method")
                return 1
            user, pw = (a, b"\0") if len(a) <= 255 else (a[:255], a[255:])
            s.sendall(bytes([1, len(user)]) + user + bytes([len(pw)]) + pw)
            if recv_exact(s, 2) != b"\x01\x00":
                print("auth refused")
                return 1
        else:
            s.sendall(b"\x05\x01\x00")
            if recv_exact(s, 2) != b"\x05\x00":
                print("no method")
                return 1
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", tport))
        rep = recv_exact(s, 10)
        if rep[1] != 0:
            print("refused %d" % rep[1])
            return 1
    msg = b"hello tor %d\n" % os.getpid()
    s.sendall(msg)
    got = recv_exact(s, len(msg))
    print("echo ok" if got == msg else "echo mismatch %r" % got)
    s.close()
    return 0 if got == msg else 1


def main():
    mode = sys.argv[1]
    if mode == "orport":
        orport(int(sys.argv[2]), sys.argv[3])
    elif mode == "extorport":
        extorport(int(sys.argv[2]), sys.argv[3], sys.argv[4],
                  len(sys.argv) > 5 and sys.argv[5] == "deny")
    elif mode == "socks":
        ver = 4 if len(sys.argv) > 5 and sys.argv[5] == "4" else 5
        sys.exit(socks(int(sys.argv[2]), sys.argv[3], sys.argv[4], ver))
    elif mode == "escape":
        print(pt_escape(sys.argv[2]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
