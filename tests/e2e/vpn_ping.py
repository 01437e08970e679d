#!/usr/bin/env python3
"""ICMP echo with a raw socket (root), for hosts without iputils-ping.

    vpn_ping.py HOST [COUNT] [SIZE]     exit 0 if every echo is answered
"""
import os
import socket
import struct
import sys
import time


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


host = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
size = int(sys.argv[3]) if len(sys.argv) > 3 else 56
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
ident = os.getpid() & 0xFFFF
for seq in range(count):
    payload = bytes((seq + i) & 0xFF for i in range(size))
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload
    s.sendto(pkt, (host, 0))
    end = time.time() + 2
    while True:
        if time.time() > end:
            print("no answer to seq %d" % seq)
            sys.exit(1)
        try:
            d, a = s.recvfrom(70000)
        except socket.timeout:
            continue
        ihl = (d[0] & 15) * 4
        t, _, _, i, q = struct.unpack("!BBHHH", d[ihl:ihl + 8])
        if t == 0 and i == ident and q == seq and d[ihl + 8:] == payload:
            print("%d bytes from %s seq %d" % (len(d) - ihl, a[0], seq))
            break
    time.sleep(0.2)
