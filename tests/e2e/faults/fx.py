#!/usr/bin/env python3
"""Peers for sluice's fault tests (standard library only).

  fx.py coalesce-relay LISTEN UPSTREAM HOLD
        a TCP relay to 127.0.0.1:UPSTREAM that passes client bytes at once
        but holds each connection's first HOLD bytes from the upstream (or
        what came within 2 s) and writes them in one piece: a reader that
        was slow to run then finds a WebSocket's 101 and many frames after
        it in a single read, as on a loaded machine
"""
import asyncio
import sys


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
                    if d is None or not d:
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
                buf, hold = b"", 0
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

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)
        async with srv:
            await srv.serve_forever()
    asyncio.run(main())


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "coalesce-relay":
        coalesce_relay(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
