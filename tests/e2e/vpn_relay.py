#!/usr/bin/env python3
"""A UDP relay between a sluice VPN client and server, for attack tests.

    vpn_relay.py LISTEN_PORT SERVER_PORT CONTROL_PORT

Forwards datagrams client <-> server (127.0.0.1) and remembers the last
INIT and the last DATA the client sent.  Commands, one per datagram to
CONTROL_PORT, each answered with one line:

    replay-init   resend the last INIT from a fresh socket; answer how
                  many handshake responses came back within 1 s
    replay-data N resend the last client DATA N times from a fresh socket
    flip N        flip one ciphertext bit in N client DATA packets in
                  flight, one in every 20 (the originals are not sent)
    roam          move the client's side of the relay to a new source port
    drop-accept   drop the next ACCEPT the server sends (a rekey's, once the
                  session is up), and count the server's DATA packets to
                  the keys it announced until a later ACCEPT gets through:
                  the client cannot open those yet
    early         "early N done 0|1": that count, and whether the later
                  ACCEPT went through
    stats         datagrams forwarded each way
"""
import select
import socket
import sys
import time

listen_port, server_port, control_port = (int(a) for a in sys.argv[1:4])
server = ("127.0.0.1", server_port)

down = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
down.bind(("127.0.0.1", listen_port))
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
up.bind(("127.0.0.1", 0))
ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ctl.bind(("127.0.0.1", control_port))


def bufs(s):
    for opt, force in ((socket.SO_RCVBUF, 33), (socket.SO_SNDBUF, 32)):
        try:
            s.setsockopt(socket.SOL_SOCKET, force, 4 << 20)  # root: past rmem_max
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)


for s in (down, up):
    bufs(s)

client = None
last_init = None
last_data = None
flip_next = 0
n_flipped = 0
drop_armed = False
watch_idx = None
n_early = 0
accept_done = False
n_up = n_down = 0


def fresh():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    return s


def command(line):
    global up, last_data, flip_next, drop_armed, n_early, accept_done
    words = line.split()
    if not words:
        return "?"
    if words[0] == "replay-init":
        if not last_init:
            return "no-init"
        s = fresh()
        s.sendto(last_init, server)
        got = 0
        end = time.time() + 1
        while time.time() < end:
            try:
                d, _ = s.recvfrom(65536)
                if d and d[0] == 2:
                    got += 1
            except socket.timeout:
                pass
        s.close()
        return "responses %d" % got
    if words[0] == "flip":
        flip_next = int(words[1]) if len(words) > 1 else 1
        return "flipping %d" % flip_next
    if words[0] == "replay-data":
        if not last_data:
            return "no-data"
        n = int(words[1]) if len(words) > 1 else 1
        s = fresh()
        d = last_data
        for i in range(n):
            s.sendto(d, server)
        s.close()
        return "sent %d" % n
    if words[0] == "roam":
        old = up
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.bind(("127.0.0.1", 0))
        bufs(up)
        old.close()
        return "roamed to %d" % up.getsockname()[1]
    if words[0] == "drop-accept":
        drop_armed, n_early, accept_done = True, 0, False
        return "armed"
    if words[0] == "early":
        return "early %d done %d" % (n_early, int(accept_done))
    if words[0] == "stats":
        return "up %d down %d flipped %d" % (n_up, n_down, n_flipped)
    return "?"


while True:
    r, _, _ = select.select([down, up, ctl], [], [])
    for s in r:
        if s is ctl:
            d, a = ctl.recvfrom(1024)
            ctl.sendto(command(d.decode()).encode() + b"\n", a)
        elif s is down:
            d, client = down.recvfrom(65536)
            if d and d[0] == 1:
                last_init = d
            elif d and d[0] == 6 and len(d) > 32:
                last_data = d
                if flip_next > 0 and n_up % 20 == 0:
                    b = bytearray(d)
                    pos = 16 + (flip_next * 7) % (len(b) - 16)
                    b[pos] ^= 1 << (flip_next % 8)
                    d = bytes(b)
                    flip_next -= 1
                    n_flipped += 1
            try:
                up.sendto(d, server)
                n_up += 1
            except OSError:
                pass
        elif s is up:
            try:
                d, _ = up.recvfrom(65536)
            except OSError:
                continue
            if d and d[0] == 4 and drop_armed:
                drop_armed, watch_idx = False, d[4:8]
                continue
            if d and watch_idx is not None and d[4:8] == watch_idx:
                if d[0] == 4:
                    watch_idx, accept_done = None, True
                elif d[0] == 6:
                    n_early += 1
            if client:
                try:
                    down.sendto(d, client)
                    n_down += 1
                except OSError:
                    pass
