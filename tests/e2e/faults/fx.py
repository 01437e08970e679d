#!/usr/bin/env python3
"""Peers for sluice's fault tests (standard library only).

  fx.py coalesce-relay LISTEN UPSTREAM HOLD
        a TCP relay to 127.0.0.1:UPSTREAM that passes client bytes at once
        but holds each connection's first HOLD bytes from the upstream (or
        what came within 2 s) and writes them in one piece: a reader that
        was slow to run then finds a WebSocket's 101 and many frames after
        it in a single read, as on a loaded machine
  fx.py churn PROXY HOST PORT N [CONC] [SECONDS]
        N short connections through the SOCKS5 proxy on 127.0.0.1:PROXY to
        HOST:PORT (an echo server), CONC at a time: each sends 32 random
        bytes, reads them back, closes.  Prints "churn ok=K failed=F rate=R/s"
        and the most common errors; exit 0 when none failed.  Stops at
        SECONDS (default 600), counting what did not run as failed.
        (fxc.c does the same much faster.)
  fx.py hold PROXY HOST PORT N SECONDS
        N connections through the SOCKS5 proxy to HOST:PORT (an echo
        server), opened 50 at a time; each must echo 32 bytes.  Prints
        "held=K refused=R" once all were tried, keeps the K open for
        SECONDS, then closes them and prints "closed"
  fx.py prime PROXY HOST PORT N SECONDS
        N connections to the SOCKS5 proxy that greet it and wait, all
        accepted before any asks for HOST:PORT; then all ask at once, so
        that the proxy's dials, not its accepts, use up its descriptors.
        Prints "primed=N connected=K failed=F", keeps them for SECONDS
  fx.py stall PROXY HOST PORT N SECONDS
        N connections through the SOCKS5 proxy to HOST:PORT (a source that
        sends without end) that never read: prints "stalled=K refused=R"
        and keeps them for SECONDS
"""
import asyncio
import os
import socket
import struct
import sys
import time

ERRORS = (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError)


def coalesce_relay(listen, upstream, hold):
    async def pipe(r, w, hold):
        buf = b""
        try:
            while True:
                if len(buf) < hold:
                    try:
                        d = await asyncio.wait_for(r.read(65536), 2)
                    except asyncio.TimeoutError:
                        d = None
                    if not d:
                        break
                    buf += d
                    if len(buf) < hold:
                        continue
                    d, buf, hold = buf, b"", 0
                else:
                    d = await r.read(65536)
                    if not d:
                        break
                w.write(d)
                await w.drain()
            if buf:
                w.write(buf)
                await w.drain()
                await pipe(r, w, 0)
                return
            w.write_eof()
        except (ConnectionError, OSError):
            w.transport.abort()

    async def handle(r, w):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            w.transport.abort()
            return
        await asyncio.gather(pipe(r, uw, 0), pipe(ur, w, hold))
        w.close()
        uw.close()

    async def serve():
        srv = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)
        async with srv:
            await srv.serve_forever()
    asyncio.run(serve())


async def socks_open(proxy, host, port, timeout=10):
    r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", proxy), timeout)
    try:
        w.write(b"\x05\x01\x00")
        if await asyncio.wait_for(r.readexactly(2), timeout) != b"\x05\x00":
            raise ConnectionError("socks: no acceptable method")
        w.write(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port))
        rep = await asyncio.wait_for(r.readexactly(10), timeout)
        if rep[1] != 0:
            raise ConnectionError(f"socks: reply {rep[1]}")
    except BaseException:
        w.transport.abort()
        raise
    return r, w


def churn(proxy, host, port, n, conc, secs):
    errors = {}
    done = [0]

    async def one():
        payload = os.urandom(32)
        r, w = await socks_open(proxy, host, port)
        try:
            w.write(payload)
            got = await asyncio.wait_for(r.readexactly(len(payload)), 10)
            if got != payload:
                raise ValueError("echo differs")
        finally:
            w.close()

    async def worker(left):
        while left[0] > 0:
            left[0] -= 1
            try:
                await one()
                done[0] += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                k = type(e).__name__ + ": " + str(e)[:80]
                errors[k] = errors.get(k, 0) + 1

    async def run():
        left = [n]
        tasks = [asyncio.create_task(worker(left)) for _ in range(min(conc, n))]
        await asyncio.wait(tasks, timeout=secs)
        for t in tasks:
            t.cancel()

    t0 = time.time()
    asyncio.run(run())
    dt = time.time() - t0
    failed = n - done[0]
    print(f"churn ok={done[0]} failed={failed} rate={done[0] / dt:.0f}/s")
    for k, v in sorted(errors.items(), key=lambda x: -x[1])[:5]:
        print(f"  {v} x {k}")
    sys.exit(0 if failed == 0 else 1)


def hold(proxy, host, port, n, secs, echo=True):
    held, refused = [], [0]
    sem = asyncio.Semaphore(50)

    async def one():
        async with sem:
            try:
                r, w = await socks_open(proxy, host, port)
            except ERRORS:
                refused[0] += 1
                return
            if echo:
                try:
                    w.write(b"x" * 32)
                    await asyncio.wait_for(r.readexactly(32), 10)
                except ERRORS:
                    refused[0] += 1
                    w.transport.abort()
                    return
            else:
                w.transport.pause_reading()
            held.append(w)

    async def run():
        await asyncio.gather(*[one() for _ in range(n)])
        print(f"{'held' if echo else 'stalled'}={len(held)} refused={refused[0]}", flush=True)
        await asyncio.sleep(secs)
        for w in held:
            w.transport.abort()
        print("closed", flush=True)
    asyncio.run(run())


def prime(proxy, host, port, n, secs):
    conns = []

    async def greet():
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", proxy), 10)
            w.write(b"\x05\x01\x00")
            if await asyncio.wait_for(r.readexactly(2), 10) == b"\x05\x00":
                conns.append((r, w))
                return
            w.transport.abort()
        except ERRORS:
            pass

    async def ask(r, w):
        try:
            w.write(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port))
            rep = await asyncio.wait_for(r.readexactly(10), 10)
            return rep[1] == 0
        except ERRORS:
            return False

    async def run():
        for _ in range(n):  # one at a time: the accepted descriptors come first
            await greet()
        ok = await asyncio.gather(*[ask(r, w) for r, w in conns])
        print(f"primed={len(conns)} connected={sum(ok)} failed={len(ok) - sum(ok)}", flush=True)
        await asyncio.sleep(secs)
        for _, w in conns:
            w.transport.abort()
    asyncio.run(run())


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    a = sys.argv[2:]
    if cmd == "coalesce-relay":
        coalesce_relay(int(a[0]), int(a[1]), int(a[2]))
    elif cmd == "churn":
        churn(int(a[0]), a[1], int(a[2]), int(a[3]), int(a[4]) if len(a) > 4 else 50,
              float(a[5]) if len(a) > 5 else 600)
    elif cmd == "prime":
        prime(int(a[0]), a[1], int(a[2]), int(a[3]), float(a[4]))
    elif cmd in ("hold", "stall"):
        hold(int(a[0]), a[1], int(a[2]), int(a[3]), float(a[4]), cmd == "hold")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
