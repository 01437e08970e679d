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


def main():
    cmd = sys.argv[1]
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


if __name__ == "__main__":
    main()
