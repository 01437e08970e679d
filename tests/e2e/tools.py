#!/usr/bin/env python3
"""Small TCP peers for sluice's end-to-end tests (standard library only).

  tools.py echo-server PORT                 echo every byte back
  tools.py halfclose-server PORT            read to EOF, then answer "got N <sha256>"
  tools.py halfclose-client PORT DATA       send DATA, shut the write side, print the answer
  tools.py silent-server PORT               accept and never answer
  tools.py concurrent PORT N [SIZE]         N connections open at once, each echoes SIZE bytes
  tools.py hold PORT N SECONDS              hold N idle connections open
  tools.py send PORT HEXBYTES [WAIT]        send raw bytes, print what comes back (hex) until close
  tools.py dns-server ADDR PORT IP          answer every A query with IP (UDP)
  tools.py slow-relay PORT TO MS            a TCP relay 127.0.0.1:PORT -> 127.0.0.1:TO that
                                            holds the connect and every chunk MS ms each way
                                            (a far link; this kernel has no netem)
  tools.py lossy-udp-to PORT HOST PERCENT   a UDP relay 127.0.0.1:PORT -> HOST:PORT for one
                                            client that drops PERCENT % of the datagrams each
                                            way (a lossy link); it reads the SCTP inside and,
                                            on SIGTERM, says how many DATA chunks it dropped
                                            and how many of those were sent again
"""
import asyncio
import hashlib
import os
import socket
import sys
import time


def serve(port, handler):
    async def main():
        srv = await asyncio.start_server(handler, "127.0.0.1", port, backlog=4096)
        async with srv:
            await srv.serve_forever()
    asyncio.run(main())


async def echo(r, w):
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
            await w.drain()
        w.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


async def halfclose(r, w):
    h = hashlib.sha256()
    n = 0
    while True:
        d = await r.read(65536)
        if not d:
            break
        n += len(d)
        h.update(d)
    w.write(f"got {n} {h.hexdigest()}\n".encode())
    await w.drain()
    w.close()


async def silent(r, w):
    await asyncio.sleep(3600)


def halfclose_client(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data.encode())
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    print(out.decode().strip())


def concurrent(port, n, size):
    async def one(i, ready, go):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        ready.append(1)
        await go.wait()
        payload = os.urandom(size)
        w.write(payload)
        await w.drain()
        got = await r.readexactly(size)
        w.close()
        return got == payload

    async def main():
        ready, go = [], asyncio.Event()
        tasks = [asyncio.create_task(one(i, ready, go)) for i in range(n)]
        t0 = time.time()
        while len(ready) < n and time.time() - t0 < 30:
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.05)
        opened = len(ready)
        go.set()
        res = await asyncio.gather(*tasks, return_exceptions=True)
        ok = sum(1 for x in res if x is True)
        print(f"open at once: {opened}, echoed: {ok}/{n}")
        return ok == n and opened == n
    sys.exit(0 if asyncio.run(asyncio.wait_for(main(), 60)) else 1)


def hold(port, n, secs):
    socks = []
    for _ in range(n):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    print(f"holding {len(socks)}", flush=True)
    time.sleep(secs)


def send(port, hexbytes, wait):
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        s.sendall(bytes.fromhex(hexbytes))
    except OSError:
        pass
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ConnectionError):
        pass
    print(out.hex())


def dns_server(addr, port, ip):
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        q, peer = s.recvfrom(2048)
        if len(q) < 12:
            continue
        qid = struct.unpack(">H", q[:2])[0]
        i = 12  # the question ends at the zero label, then type and class
        while i < len(q) and q[i]:
            i += 1 + q[i]
        question = q[12:i + 5]
        qtype = struct.unpack(">H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
        if qtype == 1:
            ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
            hdr = struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0)
        else:
            ans = b""
            hdr = struct.pack(">HHHHHH", qid, 0x8180, 1, 0, 0, 0)
        s.sendto(hdr + question + ans, peer)


def sctp_data_chunks(pkt):
    """(tsn, unordered) of each DATA chunk of an SCTP packet."""
    out, off = [], 12
    while off + 4 <= len(pkt):
        ctype, flags, clen = pkt[off], pkt[off + 1], int.from_bytes(pkt[off + 2:off + 4], "big")
        if clen < 4:
            break
        if ctype == 0 and clen >= 16:
            out.append((int.from_bytes(pkt[off + 4:off + 8], "big"), bool(flags & 4)))
        off += (clen + 3) & ~3
    return out


def lossy_udp(port, host, percent):
    import random
    import select
    import signal
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", port))
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.connect((host, port))
    client, n, dropped = None, 0, 0
    gone = {True: set(), False: set()}  # dropped DATA chunks (direction, TSN), by unordered
    again = {True: 0, False: 0}
    passed = {True: 0, False: 0}  # DATA chunks forwarded

    def bye(*_):
        print("lossy-udp: %d datagrams, %d dropped; DATA passed unordered %d, ordered %d; "
              "DATA dropped unordered %d (again %d), ordered %d (again %d)"
              % (n, dropped, passed[True], passed[False], len(gone[True]) + again[True],
                 again[True], len(gone[False]) + again[False], again[False]), flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    while True:
        for s in select.select([front, back], [], [])[0]:
            d, a = s.recvfrom(65535)
            if s is front:
                client = a
            n += 1
            chunks = sctp_data_chunks(d)
            if random.random() * 100 < percent:
                dropped += 1
                for tsn, unordered in chunks:
                    gone[unordered].add((s is front, tsn))
                continue
            for tsn, unordered in chunks:
                passed[unordered] += 1
                for u in (True, False):
                    if (s is front, tsn) in gone[u]:
                        again[u] += 1
                        gone[u].discard((s is front, tsn))
            if s is front:
                back.send(d)
            elif client:
                front.sendto(d, client)


def slow_relay(port, to, ms):
    delay = ms / 1000.0

    async def pipe(r, w):
        q = asyncio.Queue()

        async def deliver():
            try:
                while True:
                    at, d = await q.get()
                    await asyncio.sleep(max(0.0, at - time.monotonic()))
                    if not d:
                        w.write_eof()
                        return
                    w.write(d)
                    await w.drain()
            except (ConnectionError, OSError):
                pass

        t = asyncio.ensure_future(deliver())
        try:
            while True:
                d = await r.read(65536)
                q.put_nowait((time.monotonic() + delay, d))
                if not d:
                    break
        except (ConnectionError, OSError):
            q.put_nowait((time.monotonic() + delay, b""))
        await t

    async def handler(r, w):
        await asyncio.sleep(delay)
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", to)
        except OSError:
            w.close()
            return
        await asyncio.gather(pipe(r, uw), pipe(ur, w))
        w.close()
        uw.close()

    serve(port, handler)


def blackhole(port):
    """A port whose connects time out: a listener that never accepts, its
    queue full (backlog 0 and a connection in it), so the kernel drops
    every further SYN."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(0)
    held = []
    for _ in range(2):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        held.append(c)
    time.sleep(1e9)


def main():
    cmd = sys.argv[1]
    if cmd == "slow-relay":
        slow_relay(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    if cmd == "lossy-udp-to":
        lossy_udp(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
        return
    if cmd == "dns-server":
        dns_server(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    port = int(sys.argv[2])
    if cmd == "echo-server":
        serve(port, echo)
    elif cmd == "halfclose-server":
        serve(port, halfclose)
    elif cmd == "silent-server":
        serve(port, silent)
    elif cmd == "blackhole":
        blackhole(port)
    elif cmd == "halfclose-client":
        halfclose_client(port, sys.argv[3])
    elif cmd == "concurrent":
        concurrent(port, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1024)
    elif cmd == "hold":
        hold(port, int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "send":
        send(port, sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 2)
    else:
        sys.exit(__doc__)


# ---- PPP peers for ppp_guard.sh (imported, not run through main()):
#
#   PYTHONPATH=tests/e2e python3 -c 'import sys, tools; sys.exit(tools.ppp_main(sys.argv[1:]))' \
#       hostile PORT SECS KIND...    one connection per KIND at once, each
#                                    misbehaving until the gateway closes it
#       probe PORT SECS              connect and wait up to SECS for the close
#
# KINDs: badfcs (LCP frames whose FCS is wrong), runt (frames of 1-3 bytes),
# garbage (bytes without a flag), optflood (Configure-Requests of 370
# options nobody knows), crflood (acceptable Configure-Requests without end,
# ours never acknowledged), reneg (acknowledges ours and asks again, so LCP
# reopens over and over).  hostile prints "KIND open port=P" when
# connected and "KIND closed|open after=S admitted=0|1 sent=N" at the end
# (admitted: the gateway spoke LCP to us, so we had a session and not a
# refusal); it succeeds if the gateway closed every connection within SECS.
# probe prints "closed|open after=S bytes=N lcp=0|1".

def _fcs16_table():
    t = []
    for b in range(256):
        v = b
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        t.append(v)
    return t


_FCS16 = _fcs16_table()


def ppp_fcs16(data):
    fcs = 0xFFFF
    for b in data:
        fcs = (fcs >> 8) ^ _FCS16[(fcs ^ b) & 0xFF]
    return fcs


def ppp_frame(proto, info, bad_fcs=False):
    """An async-HDLC frame (RFC 1662): ff 03, protocol, info, FCS-16,
    every control character escaped."""
    import struct
    body = b"\xff\x03" + struct.pack(">H", proto) + info
    fcs = ppp_fcs16(body) ^ 0xFFFF
    if bad_fcs:
        fcs ^= 0x5A5A
    body += struct.pack("<H", fcs)
    out = bytearray(b"\x7e")
    for b in body:
        if b < 0x20 or b in (0x7E, 0x7D):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    out.append(0x7E)
    return bytes(out)


class PppDeframer:
    """Bytes in, good frames (address .. information, FCS stripped) out."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        frames = []
        while True:
            i = self.buf.find(b"\x7e")
            if i < 0:
                break
            raw, self.buf = bytes(self.buf[:i]), self.buf[i + 1:]
            f, esc = bytearray(), False
            for b in raw:
                if esc:
                    f.append(b ^ 0x20)
                    esc = False
                elif b == 0x7D:
                    esc = True
                elif b >= 0x20:
                    f.append(b)
            if len(f) >= 4 and ppp_fcs16(f) == 0xF0B8:
                frames.append(bytes(f[:-2]))
        return frames


def ppp_lcp(code, ident, data):
    import struct
    return ppp_frame(0xC021, struct.pack(">BBH", code, ident & 0xFF, 4 + len(data)) + data)


def _ppp_hostile_one(port, secs, kind, report):
    import select
    import struct
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    report(f"{kind} open port={s.getsockname()[1]}")
    t0 = time.time()
    deframer = PppDeframer()
    admitted, sent, ident, closed = 0, 0, 0, False
    pending = b""
    next_at = t0
    while time.time() - t0 < secs:
        now = time.time()
        if not pending and now >= next_at:
            ident += 1
            if kind == "badfcs":
                pending = ppp_frame(0xC021, struct.pack(">BBH", 1, ident & 0xFF, 8) +
                                    b"\x01\x04\x05\xdc", bad_fcs=True) * 4
                next_at = now + 0.01
            elif kind == "runt":
                pending = b"\x7e\x01\x7e\xff\x7e\xff\x03\x7e\xff\x03\xc0\x7e\x7e\x7e" * 8
                next_at = now + 0.005
            elif kind == "garbage":
                pending = bytes(b if b != 0x7E else 0x55 for b in os.urandom(16384))
                next_at = now + 0.008  # about 2 MB/s
            elif kind == "optflood":
                opts = b"".join(struct.pack(">BBH", 0x40 + (i % 0x80), 4, i)
                                for i in range(370))
                pending = ppp_lcp(1, ident, opts)
                next_at = now + 0.01
            elif kind in ("crflood", "reneg"):
                # MRU 1500 and a fresh magic number: nothing to refuse
                pending = ppp_lcp(1, ident, b"\x01\x04\x05\xdc\x05\x06" + os.urandom(4))
                next_at = now + (0.005 if kind == "crflood" else 0.02)
        timeout = max(0.0, min(next_at - time.time(), 0.05))
        r, w, _ = select.select([s], [s] if pending else [], [], 0 if pending else timeout)
        if r:
            try:
                d = s.recv(65536)
            except (ConnectionError, OSError):
                d = b""
            if not d:
                closed = True
                break
            for f in deframer.feed(d):
                if f[:4] == b"\xff\x03\xc0\x21" and len(f) >= 8:
                    admitted = 1
                    if kind == "reneg" and f[4] == 1:  # ack the gateway's request
                        pending += ppp_frame(0xC021, bytes((2,)) + f[5:])
        if w and pending:
            try:
                n = s.send(pending)
                sent += n
                pending = pending[n:]
            except BlockingIOError:
                pass
            except (ConnectionError, OSError):
                closed = True
                break
        if not pending and not r:
            time.sleep(max(0.0, min(next_at - time.time(), 0.01)))
    s.close()
    report(f"{kind} {'closed' if closed else 'open'} after={time.time() - t0:.1f} "
           f"admitted={admitted} sent={sent}")
    return closed


def ppp_hostile(port, secs, kinds):
    import threading
    lock = threading.Lock()
    res = {}

    def report(line):
        with lock:
            print(line, flush=True)

    def run(k):
        try:
            res[k] = _ppp_hostile_one(port, secs, k, report)
        except Exception as e:  # noqa: BLE001 (a report, not a crash)
            report(f"{k} error {e!r}")
            res[k] = False

    threads = [threading.Thread(target=run, args=(k,)) for k in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0 if all(res.get(k) for k in kinds) else 1


def ppp_probe(port, secs):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.time()
    got, closed = b"", False
    s.settimeout(0.05)
    while time.time() - t0 < secs:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionError, OSError):
            d = b""
        if not d:
            closed = True
            break
        got += d
    lcp = int(any(f[:4] == b"\xff\x03\xc0\x21" for f in PppDeframer().feed(got)))
    print(f"{'closed' if closed else 'open'} after={time.time() - t0:.1f} "
          f"bytes={len(got)} lcp={lcp}")
    s.close()
    return 0


def ppp_main(argv):
    if argv[0] == "hostile":
        return ppp_hostile(int(argv[1]), float(argv[2]), argv[3:])
    if argv[0] == "probe":
        return ppp_probe(int(argv[1]), float(argv[2]))
    return f"unknown: {argv[0]}"


if __name__ == "__main__":
    main()
