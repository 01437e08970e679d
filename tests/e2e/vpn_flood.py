#!/usr/bin/env python3
"""Floods a sluice VPN server with forged handshake INITs.

    vpn_flood.py SERVER_PORT SERVER_PUB_B64 SECONDS

The INITs carry a valid mac1 (the attacker knows the public key, as
anyone may) and random contents, from many source ports.  Prints how many
were sent and how many cookie replies / responses came back.
"""
import base64
import hashlib
import hmac
import os
import socket
import sys
import time

port, pub, secs = int(sys.argv[1]), base64.b64decode(sys.argv[2]), float(sys.argv[3])
mac1_key = hashlib.sha256(b"mac1----" + pub).digest()
socks = []
for _ in range(16):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    socks.append(s)
sent = cookies = resps = 0
end = time.time() + secs
i = 0
while time.time() < end:
    body = bytes([1, 0, 0, 0]) + os.urandom(4) + os.urandom(32) + \
        int(time.time() * 1000).to_bytes(8, "big") + os.urandom(80)
    mac1 = hmac.new(mac1_key, body, hashlib.sha256).digest()[:16]
    pkt = body + mac1 + bytes(16)
    s = socks[i % len(socks)]
    i += 1
    try:
        s.sendto(pkt, ("127.0.0.1", port))
        sent += 1
    except BlockingIOError:
        pass
    for s in socks if i % 64 == 0 else ():
        while True:
            try:
                d = s.recv(2048)
            except BlockingIOError:
                break
            if d[0] == 5:
                cookies += 1
            elif d[0] == 2:
                resps += 1
print("sent %d cookies %d responses %d rate %.0f/s" % (sent, cookies, resps, sent / secs))
