#!/usr/bin/env python3
"""Misbehaving SSTP clients against sluice's SSTP server (tests/e2e/sstpd.sh).

    sstpd_probe.py MODE HOST PORT

Each mode connects over TLS (certificate not checked: the attack is not on
TLS), does as much of the call as it needs, misbehaves, and prints what the
server did, one word on the first line, then details:

    silent      SSTP_DUPLEX_POST, Call Connect Request, Ack read, then
                nothing: prints "closed SECONDS" when the server gives up
    data-first  a data packet before any Call Connect Request: expects
                Call Abort, prints "abort" or what came
    garbage     a packet header with version 0x20: expects Call Abort
    not-ppp     Call Connect Request for protocol 2, four times: expects
                Naks then Call Abort, prints "nak N abort"
    get         "GET / HTTP/1.1": prints the status line
    dump        SSTP_DUPLEX_POST and Call Connect Request as Windows sends
                them: prints the answer's head (Date's value and the
                order of its lines aside) and the Call Connect Ack in hex
                with its nonce masked, to compare servers byte by byte
"""
import re
import socket
import ssl
import struct
import sys
import time

URI = b"/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"


def connect(host, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = socket.create_connection((host, port), timeout=30)
    return ctx.wrap_socket(s)


def http(s):
    return http_head(s).split("\r\n")[0]


def http_head(s):
    s.sendall(b"SSTP_DUPLEX_POST " + URI + b" HTTP/1.1\r\nHost: x\r\n"
              b"SSTPCORRELATIONID: {0}\r\nContent-Length: 18446744073709551615\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            raise SystemExit("closed before the HTTP answer")
        head += b
    return head.decode()


def packet(s):
    """one SSTP packet: (control, type or None, bytes), or None at EOF"""
    hdr = b""
    while len(hdr) < 4:
        b = s.recv(4 - len(hdr))
        if not b:
            return None
        hdr += b
    n = struct.unpack(">H", hdr[2:4])[0] & 0x0FFF
    body = b""
    while len(body) < n - 4:
        b = s.recv(n - 4 - len(body))
        if not b:
            return None
        body += b
    ctrl = hdr[1] & 1
    return ctrl, struct.unpack(">H", body[:2])[0] if ctrl else None, hdr + body


def connect_request(proto=1):
    return struct.pack(">BBHHHBBHH", 0x10, 1, 14, 1, 1, 0, 1, 6, proto)


def until_control(s):
    while True:
        p = packet(s)
        if p is None or p[0]:
            return p


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = connect(host, port)
    if mode == "get":
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        print(s.recv(4096).split(b"\r\n")[0].decode())
        return
    if mode == "dump":
        head = http_head(s)
        lines = head.split("\r\n")
        print(lines[0])
        for h in sorted(x for x in lines[1:] if x):
            print(re.sub(r"^(date:).*", r"\1 *", h, flags=re.I))
        s.sendall(connect_request())
        p = until_control(s)
        b = bytearray(p[2]) if p else b""
        if p and p[1] == 2 and len(b) == 48:
            b[16:48] = b"N" * 32
        print(b.hex())
        return
    print("# " + http(s), file=sys.stderr)
    if mode == "silent":
        s.sendall(connect_request())
        p = until_control(s)
        print("# got", p and p[1], file=sys.stderr)
        t0 = time.time()
        s.settimeout(120)
        try:
            while s.recv(4096):
                pass
        except (OSError, ssl.SSLError):
            pass
        print("closed %.1f" % (time.time() - t0))
    elif mode == "data-first":
        s.sendall(struct.pack(">BBH", 0x10, 0, 8) + b"\xff\x03\xc0\x21")
        p = until_control(s)
        print("abort" if p and p[1] == 5 else "got %r" % (p,))
    elif mode == "garbage":
        s.sendall(struct.pack(">BBH", 0x20, 1, 8) + b"\x00\x01\x00\x00")
        p = until_control(s)
        print("abort" if p and p[1] == 5 else "got %r" % (p,))
    elif mode == "dump":
        pass
    elif mode == "not-ppp":
        naks = 0
        for _ in range(4):
            s.sendall(connect_request(2))
            p = until_control(s)
            if p is None:
                break
            if p[1] == 3:
                naks += 1
            elif p[1] == 5:
                print("nak %d abort" % naks)
                return
        print("nak %d no-abort" % naks)


main()
