#!/usr/bin/env python3
"""A password guesser and a legitimate user, for tests/e2e/auth_guard.sh.

  guess.py PROTO PORT DELAY_MS BAN_MS
  guess.py pap-offered PORT    a PPP peer that knows only PAP: "pap" when
                               the gateway on PORT asks for PAP, else
                               "no pap"

PROTO is socks5, socks4, http or ppp (PAP).  The listener takes user
"alice" with password "secret" (SOCKS4: USERID "alice"), and sluice runs
with --auth-guard free=1,delay=DELAY_MS,max-delay=2*DELAY_MS,
max-failures=5,ban=BAN_MS.  The guesser works from 127.0.0.1, the user
from 127.0.0.2:

  1. a wrong guess is refused at once (the free one);
  2. the next ones are held: at least DELAY_MS, then 2*DELAY_MS;
  3. meanwhile the right credentials from 127.0.0.2 work;
  4. the 5th wrong guess bans 127.0.0.1: no answer at all, and then not
     even the right credentials from there get one;
  5. 127.0.0.2 still works;
  6. after BAN_MS, the right credentials from 127.0.0.1 work again.

Each step prints a line; exit status 0 when every step held.
"""
import base64
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from tools import PppDeframer, ppp_frame, ppp_lcp  # noqa: E402

USER, PASS = b"alice", b"secret"
ok_all = True


def report(good, what):
    global ok_all
    ok_all &= good
    print(f"{'ok' if good else 'FAILED'}: {what}", flush=True)


def target():
    """A TCP listener the proxies may connect to; accepts forever."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def loop():
        while True:
            c, _ = srv.accept()
            c.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def dial(src, port):
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def recv_some(s, n):
    """Up to n bytes; b"" when the connection closed without them."""
    b = b""
    try:
        while len(b) < n:
            d = s.recv(n - len(b))
            if not d:
                break
            b += d
    except (ConnectionError, socket.timeout):
        pass
    return b


# Each attempt returns "ok", "refused" or "silent" (closed, no answer).

def socks5(src, port, tport, pw):
    s = dial(src, port)
    s.sendall(b"\x05\x01\x02")
    if recv_some(s, 2) != b"\x05\x02":
        return "silent"
    s.sendall(b"\x01" + bytes([len(USER)]) + USER + bytes([len(pw)]) + pw)
    r = recv_some(s, 2)
    s.close()
    return {b"\x01\x00": "ok", b"\x01\x01": "refused"}.get(r, "silent")


def socks4(src, port, tport, pw):
    # the USERID is the credential: pw stands for it
    s = dial(src, port)
    s.sendall(b"\x04\x01" + struct.pack(">H", tport) + socket.inet_aton("127.0.0.1") + pw + b"\0")
    r = recv_some(s, 8)
    s.close()
    if len(r) < 2:
        return "silent"
    return "ok" if r[1] == 0x5A else "refused"


def http(src, port, tport, pw):
    s = dial(src, port)
    cred = base64.b64encode(USER + b":" + pw).decode()
    s.sendall(f"CONNECT 127.0.0.1:{tport} HTTP/1.1\r\nHost: 127.0.0.1:{tport}\r\n"
              f"Proxy-Authorization: Basic {cred}\r\n\r\n".encode())
    r = recv_some(s, 12)
    s.close()
    if not r.startswith(b"HTTP/1.1 "):
        return "silent"
    return {b"200": "ok", b"407": "refused"}.get(r[9:12], "other " + r.decode())


def ppp_frames(s, secs):
    """The PPP frames the gateway sends on s (LCP Configure-Request of ours
    sent first), as (protocol, frame); None once it closes; ends after secs."""
    s.settimeout(0.2)
    d = PppDeframer()
    s.sendall(ppp_lcp(1, 1, b""))
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        except ConnectionError:
            data = b""
        if not data:
            yield None
            return
        for f in d.feed(data):
            if len(f) >= 8:
                yield struct.unpack(">H", f[2:4])[0], f


def ppp(src, port, tport, pw):
    """LCP to the opened state (ours: no options; theirs: acked as asked),
    then a PAP Authenticate-Request; the answer decides."""
    s = dial(src, port)
    acked = got_ack = False
    r = "timeout"
    for x in ppp_frames(s, 10):
        if x is None:
            r = "silent"
            break
        proto, f = x
        if proto == 0xC021 and f[4] == 1:  # their Configure-Request: ack it
            s.sendall(ppp_frame(0xC021, bytes((2,)) + f[5:]))
            acked = True
        elif proto == 0xC021 and f[4] == 2:
            got_ack = True
        elif proto == 0xC023 and f[4] in (2, 3):
            r = "ok" if f[4] == 2 else "refused"
            break
        if acked and got_ack:
            acked = got_ack = False  # send the request once
            body = bytes([len(USER)]) + USER + bytes([len(pw)]) + pw
            s.sendall(ppp_frame(0xC023, struct.pack(">BBH", 1, 7, 4 + len(body)) + body))
    s.close()
    return r


def pap_offered(port):
    """A peer that knows only PAP: it Naks whatever the gateway asks for,
    suggesting PAP (c023).  "pap" when the gateway comes round to asking
    for it within 6 s, else "no pap" (it gave up, closed, or went on asking
    for CHAP)."""
    s = dial("127.0.0.1", port)
    for x in ppp_frames(s, 6):
        if x is None or (x[0] == 0xC021 and x[1][4] == 5):  # closed, Terminate-Request
            break
        proto, f = x
        if proto != 0xC021 or f[4] != 1:
            continue
        opts, i = f[8:], 0
        while i + 2 <= len(opts) and opts[i + 1] >= 2:
            t, ln = opts[i], opts[i + 1]
            if t == 3:
                if opts[i + 2:i + 4] == b"\xc0\x23":
                    s.close()
                    return "pap"
                nak = b"\x03\x04\xc0\x23"
                s.sendall(ppp_frame(0xC021, struct.pack(">BBH", 3, f[5], 4 + len(nak)) + nak))
            i += ln
    s.close()
    return "no pap"


def attempt(proto, src, port, tport, pw):
    t0 = time.time()
    try:
        r = proto(src, port, tport, pw)
    except (ConnectionError, OSError) as e:
        r = "silent" if isinstance(e, ConnectionError) else f"error {e!r}"
    return r, (time.time() - t0) * 1000


def main():
    if sys.argv[1] == "pap-offered":
        print(pap_offered(int(sys.argv[2])))
        return 0
    name, port, delay, ban = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    proto = {"socks5": socks5, "socks4": socks4, "http": http, "ppp": ppp}[name]
    tport = target()
    bad = b"bob" if name == "socks4" else b"guess"
    good = USER if name == "socks4" else PASS

    def step(src, pw, want, min_ms=None, what=""):
        r, ms = attempt(proto, src, port, tport, pw)
        good_ = r == want and (min_ms is None or ms >= min_ms)
        report(good_, f"{name}: {what} from {src}: {r} after {ms:.0f} ms (want {want}"
               + (f", >= {min_ms} ms" if min_ms is not None else "") + ")")

    step("127.0.0.1", bad, "refused", None, "1st wrong guess (free)")
    step("127.0.0.1", bad, "refused", delay * 0.9, "2nd wrong guess, held")
    step("127.0.0.2", good, "ok", None, "the right credentials meanwhile")
    step("127.0.0.1", bad, "refused", 2 * delay * 0.9, "3rd wrong guess, held longer")
    step("127.0.0.1", bad, "refused", 2 * delay * 0.9, "4th wrong guess, at max-delay")
    t_ban = time.time()
    step("127.0.0.1", bad, "silent", None, "5th wrong guess: banned, no answer")
    step("127.0.0.1", good, "silent", None, "the right credentials while banned")
    step("127.0.0.2", good, "ok", None, "the right credentials from elsewhere")
    time.sleep(max(0.0, ban / 1000 - (time.time() - t_ban)) + 0.3)
    step("127.0.0.1", good, "ok", None, "the right credentials after the ban")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
