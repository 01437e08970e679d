#!/usr/bin/env python3
"""Silent and slow peers for tests/e2e/idle_limits.sh (standard library only).

  idle_peers.py udp-idle PROXY ECHO N SECS
      N SOCKS5 UDP associations, each carries one datagram to the UDP echo
      server ECHO and back, then the client goes silent (keeping its
      control connection open and sending nothing).  Prints
      "ok=K closed=C after=S": K associations worked, C control
      connections were closed by sluice within SECS.  Then checks that a
      relay port of a closed association no longer relays.
  idle_peers.py metrics-flood PORT N SECS
      N connections to the metrics port that never send a byte, and one
      that sends a request head one byte every 0.5 s; meanwhile a real
      GET /metrics must be answered.  Prints "evicted=E at_once
      closed=C after=S slow=closed|open scrape=ok|failed".
"""
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from socks_client import recv_exact  # noqa: E402


def associate(proxy):
    s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00", "method"
    s.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    ver, rep, _, atyp = recv_exact(s, 4)
    assert rep == 0 and atyp == 1, f"UDP ASSOCIATE reply {rep}"
    host = socket.inet_ntoa(recv_exact(s, 4))
    (port,) = struct.unpack("!H", recv_exact(s, 2))
    return s, ("127.0.0.1" if host == "0.0.0.0" else host, port)


def roundtrip(u, relay, echo, payload):
    u.sendto(b"\x00\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", echo)
             + payload, relay)
    d, _ = u.recvfrom(65535)
    return d[10:] == payload


def wait_closed(socks, secs):
    """Seconds until every socket in socks saw EOF or a reset, or None."""
    t0 = time.time()
    left = set(socks)
    while left and time.time() - t0 < secs:
        r, _, _ = select.select(list(left), [], [], 0.2)
        for s in r:
            try:
                d = s.recv(4096)
            except (ConnectionError, OSError):
                d = b""
            if not d:
                left.discard(s)
    return len(socks) - len(left), time.time() - t0


def udp_idle(proxy, echo, n, secs):
    pairs, ok = [], 0
    for _ in range(n):
        ctl, relay = associate(proxy)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        u.settimeout(3)
        ok += roundtrip(u, relay, echo, b"hello")
        pairs.append((ctl, u, relay))
    closed, after = wait_closed([c for c, _, _ in pairs], secs)
    print(f"ok={ok} closed={closed} after={after:.1f}", flush=True)
    # the relay socket went with its association
    _, u, relay = pairs[0]
    u.settimeout(1)
    try:
        alive = roundtrip(u, relay, echo, b"late")
    except (socket.timeout, ConnectionError, OSError):
        alive = False
    print(f"relay_after={'alive' if alive else 'gone'}", flush=True)
    return 0 if ok == n and closed == n and not alive else 1


def metrics_flood(port, n, secs):
    silent = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        silent.append(s)
    time.sleep(0.5)
    evicted, _ = wait_closed(silent, 0.5)
    slow = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200
    # a real scrape meanwhile
    scrape = "failed"
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
        scrape = "ok" if got.startswith(b"HTTP/1.1 200") and b"sluice_" in got else "failed"
    except OSError:
        pass
    t0 = time.time()
    i, slow_closed = 0, False
    while time.time() - t0 < secs:
        try:
            slow.send(head[i:i + 1])
            i = (i + 1) % len(head)
        except OSError:
            slow_closed = True
            break
        r, _, _ = select.select([slow], [], [], 0.5)
        if r:
            try:
                if not slow.recv(4096):
                    slow_closed = True
                    break
            except OSError:
                slow_closed = True
                break
    closed, after = wait_closed(silent, max(0.1, secs - (time.time() - t0)))
    print(f"evicted={evicted} closed={closed} of={n} after={time.time() - t0:.1f} "
          f"slow={'closed' if slow_closed else 'open'} scrape={scrape}", flush=True)
    return 0 if closed == n and slow_closed and scrape == "ok" else 1


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "udp-idle":
        return udp_idle(int(a[0]), int(a[1]), int(a[2]), float(a[3]))
    if cmd == "metrics-flood":
        return metrics_flood(int(a[0]), int(a[1]), float(a[2]))
    return f"unknown command {cmd}"


if __name__ == "__main__":
    sys.exit(main())
