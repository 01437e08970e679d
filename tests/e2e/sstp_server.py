#!/usr/bin/env python3
"""A scripted SSTP server that misbehaves on demand (standard library only).

  sstp_server.py --mode MODE --port PORT --cert CERT --key KEY

It listens with TLS on 127.0.0.1:PORT (PORT 0: any free port), reads the
HTTP SSTP_DUPLEX_POST request, then plays MODE against the client.  Every
event is one line on stdout, flushed at once, so a test can grep them:

  LISTEN 127.0.0.1:PORT
  CONN n                                 a TCP connection was accepted
  HTTP <request line> host=... correlation=yes|no length=...
  TX <MESSAGE> ...                       what the script sent
  RX <MESSAGE> [status=N attr=N]         every SSTP control packet received
  RX DATA proto=c021 len=N               every SSTP data packet (PPP protocol)
  RX MALFORMED <hex>                     a packet that does not parse
  EOF | RESET | TLSERR ...               how the connection ended

Each line after LISTEN ends with "conn=N t=S at=S": the connection number,
seconds since that connection was accepted, seconds since the server
started.  The layouts are those of MS-SSTP 2.2 (src/sstp/sstp_proto.h).

Modes:
  http403     answer the request with HTTP 403
  nothttp     answer the request with bytes that are not HTTP
  nohttp      never answer the request
  notls       plain TCP: accept and say nothing (the TLS handshake stalls)
  eof         answer 200, then close the connection
  silent      answer 200, never answer the Call Connect Request
  nak         answer every Call Connect Request with a Nak
  noecho      Ack (binding request: SHA-1|SHA-256), then nothing at all
  echo        Ack, then 6 Echo Requests 0.5 s apart; answer the client's
  lateack     Ack 1.5 s after the request; answer Echo Requests, no PPP
  disconnect  Ack, then Call Disconnect 0.3 s later
  sha1only    Ack offering only SHA-1
  noattr      Ack without a Crypto Binding Request attribute
  abort       Call Abort (status 2) instead of an answer
  earlydata   a data packet before the Ack
  unexpected  Call Connected (a client's message) instead of an answer
  garbage     connection 1: a packet with version 0x11; 2: a packet whose
              length is 2; 3 and later: a control packet whose attribute
              runs past the end
"""
import argparse
import asyncio
import os
import ssl
import struct
import sys
import time

VERSION = 0x10
MSG = {
    1: "CALL_CONNECT_REQUEST",
    2: "CALL_CONNECT_ACK",
    3: "CALL_CONNECT_NAK",
    4: "CALL_CONNECTED",
    5: "CALL_ABORT",
    6: "CALL_DISCONNECT",
    7: "CALL_DISCONNECT_ACK",
    8: "ECHO_REQUEST",
    9: "ECHO_RESPONSE",
}
NUM = {v: k for k, v in MSG.items()}
ATTR_ENCAP = 1
ATTR_STATUS = 2
ATTR_BINDING_REQ = 4
URI = "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"

T0 = time.monotonic()


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---- encoders (MS-SSTP 2.2) ----

def hdr(control, length):
    return bytes([VERSION, 1 if control else 0]) + struct.pack(">H", length & 0x0FFF)


def attr(aid, value):
    return bytes([0, aid]) + struct.pack(">H", len(value) + 4) + value


def control(msg, attrs=()):
    body = b"".join(attr(a, v) for a, v in attrs)
    return hdr(True, 8 + len(body)) + struct.pack(">HH", NUM[msg], len(attrs)) + body


def status_info(attr_id, status, extra=b""):
    return b"\0\0\0" + bytes([attr_id]) + struct.pack(">I", status) + extra


def binding_req(mask):
    return b"\0\0\0" + bytes([mask]) + os.urandom(32)


def ack(mask=3):
    return control("CALL_CONNECT_ACK", [(ATTR_BINDING_REQ, binding_req(mask))])


def data(ppp):
    return hdr(False, 4 + len(ppp)) + ppp


# ---- one connection ----

class Conn:
    count = 0

    def __init__(self, reader, writer):
        Conn.count += 1
        self.n = Conn.count
        self.t0 = time.monotonic()
        self.r = reader
        self.w = writer
        self.q = asyncio.Queue()  # control messages received: (name, fields)
        self.closed = asyncio.Event()

    def log(self, what):
        now = time.monotonic()
        out(f"{what} conn={self.n} t={now - self.t0:.3f} at={now - T0:.3f}")

    def send(self, pkt, what):
        if self.w.is_closing():
            return
        self.w.write(pkt)
        self.log("TX " + what)

    async def http(self):
        """Reads the request head; logs it; None when there is none."""
        try:
            head = await asyncio.wait_for(self.r.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError) as e:
            self.log(f"HTTP none ({type(e).__name__})")
            return None
        lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                fields[k.strip().lower()] = v.strip()
        self.log(f"HTTP {lines[0]} host={fields.get('host', '-')} "
                 f"correlation={'yes' if fields.get('sstpcorrelationid') else 'no'} "
                 f"length={fields.get('content-length', '-')}")
        return lines[0]

    def parse(self, pkt):
        """Logs one whole packet; returns (name, fields) for a control one."""
        if not pkt[1] & 1:
            ppp = pkt[4:]
            if ppp[:2] == b"\xff\x03":  # address and control, as Windows sends them
                ppp = ppp[2:]
            proto = ppp[:2].hex() if len(ppp) >= 2 else "-"
            self.log(f"RX DATA proto={proto} len={len(pkt) - 4}")
            return None
        if len(pkt) < 8:
            self.log(f"RX MALFORMED {pkt.hex()}")
            return None
        msg, nattr = struct.unpack(">HH", pkt[4:8])
        name = MSG.get(msg, f"TYPE{msg}")
        fields, extra, off = {}, "", 8
        for _ in range(nattr):
            alen = 0
            if off + 4 <= len(pkt):
                alen = struct.unpack(">H", pkt[off + 2:off + 4])[0] & 0x0FFF
            if alen < 4 or off + alen > len(pkt):
                extra = " malformed"
                break
            aid, val = pkt[off + 1], pkt[off + 4:off + alen]
            if aid == ATTR_STATUS and len(val) >= 8:
                fields["attr"] = val[3]
                fields["status"] = struct.unpack(">I", val[4:8])[0]
            elif aid == ATTR_ENCAP and len(val) == 2:
                fields["proto"] = struct.unpack(">H", val)[0]
            else:
                fields[f"a{aid}"] = len(val)
            off += alen
        if not extra and off != len(pkt):
            extra = " malformed"
        if "status" in fields:
            extra = f" status={fields['status']} attr={fields['attr']}" + extra
        elif "proto" in fields:
            extra = f" proto={fields['proto']}" + extra
        self.log(f"RX {name}{extra}")
        return name, fields

    async def rx(self, answer_echo):
        """Reads SSTP packets until the end; queues the control ones."""
        buf = b""
        try:
            while True:
                d = await self.r.read(65536)
                if not d:
                    self.log("EOF")
                    break
                buf += d
                while len(buf) >= 4:
                    if buf[0] != VERSION:
                        self.log(f"RX MALFORMED {buf[:16].hex()}")
                        buf = b""
                        break
                    n = struct.unpack(">H", buf[2:4])[0] & 0x0FFF
                    if n < 4:
                        self.log(f"RX MALFORMED {buf[:16].hex()}")
                        buf = b""
                        break
                    if len(buf) < n:
                        break
                    pkt, buf = buf[:n], buf[n:]
                    c = self.parse(pkt)
                    if c is None:
                        continue
                    if c[0] == "ECHO_REQUEST" and answer_echo:
                        self.send(control("ECHO_RESPONSE"), "ECHO_RESPONSE")
                    await self.q.put(c)
        except (ConnectionResetError, BrokenPipeError):
            self.log("RESET")
        except (ssl.SSLError, OSError) as e:
            self.log(f"RESET ({type(e).__name__}: {e})")
        self.closed.set()

    async def expect(self, name, timeout=30):
        """Waits for a control message NAME; None on timeout or close."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or (self.closed.is_set() and self.q.empty()):
                return None
            get = asyncio.ensure_future(self.q.get())
            closed = asyncio.ensure_future(self.closed.wait())
            done, _ = await asyncio.wait({get, closed}, timeout=left,
                                         return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            if get not in done:
                get.cancel()
                continue
            if get.result()[0] == name:
                return get.result()


# ---- the scripts: each runs once the request head is in ----

OK_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n"
           b"Server: Microsoft-HTTPAPI/2.0\r\n\r\n")


async def play(c, mode):
    if mode == "http403":
        c.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "HTTP 403")
        await asyncio.sleep(0.2)
        return "close"
    if mode == "nothttp":
        c.send(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not HTTP")
        return "wait"
    if mode == "nohttp":
        return "wait"
    c.send(OK_HEAD, "HTTP 200")
    if mode == "eof":
        await asyncio.sleep(0.2)
        return "close"
    if await c.expect("CALL_CONNECT_REQUEST") is None:
        return "wait"
    if mode == "silent":
        return "wait"
    if mode == "nak":
        while True:
            c.send(control("CALL_CONNECT_NAK",
                           [(ATTR_STATUS, status_info(ATTR_ENCAP, 4, b"\x00\x01"))]),
                   "CALL_CONNECT_NAK status=4")
            if await c.expect("CALL_CONNECT_REQUEST") is None:
                return "wait"
    if mode == "lateack":
        await asyncio.sleep(1.5)
        c.send(ack(), "CALL_CONNECT_ACK mask=3")
        return "wait"
    if mode in ("noecho", "echo", "disconnect"):
        c.send(ack(), "CALL_CONNECT_ACK mask=3")
        if mode == "echo":
            for _ in range(6):
                await asyncio.sleep(0.5)
                c.send(control("ECHO_REQUEST"), "ECHO_REQUEST")
        if mode == "disconnect":
            await asyncio.sleep(0.3)
            c.send(control("CALL_DISCONNECT"), "CALL_DISCONNECT")
        return "wait"
    if mode == "sha1only":
        c.send(ack(1), "CALL_CONNECT_ACK mask=1")
        return "wait"
    if mode == "noattr":
        c.send(control("CALL_CONNECT_ACK"), "CALL_CONNECT_ACK no attributes")
        return "wait"
    if mode == "abort":
        c.send(control("CALL_ABORT", [(ATTR_STATUS, status_info(0, 2))]), "CALL_ABORT status=2")
        return "wait"
    if mode == "earlydata":
        c.send(data(b"\xc0\x21\x01\x01\x00\x04"), "DATA before the Ack")
        return "wait"
    if mode == "unexpected":
        c.send(control("CALL_CONNECTED"), "CALL_CONNECTED")
        return "wait"
    if mode == "garbage":
        if c.n == 1:
            c.send(b"\x11\x01\x00\x08\x00\x08\x00\x00", "bad version 0x11")
        elif c.n == 2:
            c.send(b"\x10\x01\x00\x02", "bad length 2")
        else:
            # Echo Request claiming one attribute of 32 bytes in a 16-byte packet
            c.send(b"\x10\x01\x00\x10\x00\x08\x00\x01\x00\x02\x00\x20\x00\x00\x00\x00",
                   "attribute past the end")
        return "wait"
    raise SystemExit(f"unknown mode {mode}")


async def handle(reader, writer, mode):
    c = Conn(reader, writer)
    c.log("CONN")
    try:
        if await c.http() is None:
            return
        rx = asyncio.ensure_future(c.rx(answer_echo=mode in ("echo", "lateack")))
        what = await play(c, mode)
        if what == "wait":
            await c.closed.wait()
        rx.cancel()
    except (ConnectionError, ssl.SSLError, OSError) as e:
        c.log(f"RESET ({type(e).__name__})")
    finally:
        writer.close()


async def handle_plain(reader, writer):
    """notls: accept, read whatever comes, never answer."""
    c = Conn(reader, writer)
    c.log("CONN")
    try:
        while await reader.read(65536):
            pass
        c.log("EOF")
    except (ConnectionError, OSError):
        c.log("RESET")
    writer.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()

    async def run():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(
            lambda _l, ctx: out(f"TLSERR {ctx.get('exception') or ctx.get('message')}"))
        if a.mode == "notls":
            srv = await asyncio.start_server(handle_plain, "127.0.0.1", a.port)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(a.cert, a.key)
            srv = await asyncio.start_server(lambda r, w: handle(r, w, a.mode),
                                             "127.0.0.1", a.port, ssl=ctx,
                                             ssl_handshake_timeout=10)
        out(f"LISTEN 127.0.0.1:{srv.sockets[0].getsockname()[1]}")
        async with srv:
            await srv.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
