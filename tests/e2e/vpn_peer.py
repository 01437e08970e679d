#!/usr/bin/python3
"""A sluice VPN client in Python (docs/vpn-protocol.md), for attacks.

    /usr/bin/python3 vpn_peer.py COMMAND SERVER_PORT SERVER_PUB_B64 [ARGS] [--src IP]

Commands (each prints one line of results; --src picks the loopback
address the datagrams come from):

  flood SECONDS        valid INITs (a real X25519 exchange and an encrypted
                       user name; half for alice, half for made-up names) as
                       fast as one process can make them (an ephemeral key
                       serves 1000 INITs with distinct timestamps), from 4
                       ports of one address; COOKIE replies are used
                       honestly (mac2)
                       -> "sent N cookies C responses R"
  guess USER N EVERY   N handshakes with a wrong password proof, one every
                       EVERY seconds -> "tries N responses R accepts A"
  probe TRIES NAME...  TRIES handshakes per name, interleaved, each with a
                       wrong proof -> JSON: per name, the datagram sizes
                       seen, the distinct salts and scrypt parameters, the
                       median INIT -> RESP time, the answers to CONFIRM
  badv6 USER PASSWORD  a real login to a server with net6=, then through
                       the session: malformed and hostile IPv6 packets
                       (short, a payload length past the end, another's
                       source, link-local and unspecified sources, one over
                       the tunnel MTU), then an ICMPv6 echo to the server's
                       address -> "sent N too-big T echo E" (T: packet-too-
                       big answers, E: echo replies; both 1 when well)
  synflood USER PASSWORD DST PORT N
                       a real login, then N TCP SYNs from our tunnel
                       address (N source ports) to DST:PORT inside the
                       tunnel, as fast as we can, then 3 s of listening
                       -> "sent N synack S rst R" (S: distinct source ports
                       answered with SYN-ACK, R: with RST)
  connect USER PASSWORD DST PORT
                       the same with one SYN, whose handshake we complete
                       (the ACK of the SYN-ACK), then 3 s of listening
                       -> "sent 1 synack S rst R"
  login USER PASSWORD [REPLAY_SRC]
                       a real login (scrypt), then the CONFIRM sent again
                       from the same socket, from another port and from
                       REPLAY_SRC -> "accepted ADDR same S port P addr A"
                       (how many datagrams each of the three got back)

Needs the python3-cryptography package (Debian's python3).
"""
import base64
import hashlib
import hmac
import json
import os
import select
import socket
import statistics
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PROTOCOL = b"sluice-vpn-v1 X25519 ChaCha20Poly1305 SHA256 scrypt"
INIT, RESP, CONFIRM, ACCEPT, COOKIE = 1, 2, 3, 4, 5
ZERO = bytes(12)


def sha(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def hkdf(ikm, salt, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)


def raw(pub):
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def mac16(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()[:16]


class Ephemeral:
    """A client ephemeral key and what follows from it before the
    timestamp: a flood reuses one for many INITs (each is still new to the
    server as long as its timestamp differs)."""

    def __init__(self, spub):
        self.e = X25519PrivateKey.generate()
        self.pub = raw(self.e.public_key())
        out = hkdf(self.e.exchange(X25519PublicKey.from_public_bytes(spub)), sha(PROTOCOL),
                   b"sluice-vpn ck", 64)
        self.ck, self.k = out[:32], out[32:]
        self.aead = ChaCha20Poly1305(self.k)
        self.h0 = sha(sha(PROTOCOL), spub)
        self.mac1_key = sha(b"mac1----", spub)


class Handshake:
    """The client side of one handshake."""

    def __init__(self, spub, user, eph=None, ts=None):
        eph = eph or Ephemeral(spub)
        self.e, self.ck, self.k = eph.e, eph.ck, eph.k
        self.idx = int.from_bytes(os.urandom(4), "little")
        ts = ts or int(time.time() * 1000)
        hdr = bytes([INIT, 0, 0, 0]) + self.idx.to_bytes(4, "little") + eph.pub + \
            ts.to_bytes(8, "big")
        self.h = sha(eph.h0, hdr)
        u = user.encode()
        ct = eph.aead.encrypt(ZERO, (bytes([len(u)]) + u).ljust(64, b"\0"), self.h)
        self.h = sha(self.h, ct)
        body = hdr + ct
        self.mac1 = mac16(eph.mac1_key, body)
        self.body = body + self.mac1

    def mix_key(self, ikm):
        out = hkdf(ikm, self.ck, b"sluice-vpn ck", 64)
        self.ck, self.k = out[:32], out[32:]

    def init(self, cookie=None):
        return self.body + (mac16(cookie, self.body) if cookie else bytes(16))

    def resp(self, pkt):
        """(salt, ln, r, p) from a RESP to this INIT, or None."""
        if len(pkt) != 80 or pkt[0] != RESP or int.from_bytes(pkt[8:12], "little") != self.idx:
            return None
        h = sha(self.h, pkt[:44])
        ck, k = self.ck, self.k
        self.mix_key(self.e.exchange(X25519PublicKey.from_public_bytes(pkt[12:44])))
        try:
            body = ChaCha20Poly1305(self.k).decrypt(ZERO, pkt[44:80], h)
        except Exception:
            self.ck, self.k = ck, k
            return None
        self.h = sha(h, pkt[44:80])
        self.remote = int.from_bytes(pkt[4:8], "little")
        return body[:16], body[16], body[17], body[18]

    def confirm(self, client_key=None, prev=0):
        """CONFIRM with the proof of client_key, or a random (wrong) proof."""
        hdr = bytes([CONFIRM, 0, 0, 0]) + self.remote.to_bytes(4, "little")
        self.mix_key(b"")
        self.h = sha(self.h, hdr)
        if client_key is None:
            proof = os.urandom(32)
        else:
            sig = hmac.new(sha(client_key), self.h, hashlib.sha256).digest()
            proof = bytes(a ^ b for a, b in zip(client_key, sig))
        ct = ChaCha20Poly1305(self.k).encrypt(ZERO, proof + prev.to_bytes(4, "little"), self.h)
        self.h = sha(self.h, ct)
        return hdr + ct

    def accept(self, pkt, server_key, want6=False):
        """The tunnel address from an ACCEPT (76 bytes, or 112 with IPv6),
        or None; with want6, (address, IPv6 address or None, DNS6)."""
        if len(pkt) not in (76, 112) or pkt[0] != ACCEPT:
            return None
        k = hkdf(self.h, self.ck, b"sluice-vpn accept", 32)
        h = sha(self.h, pkt[:8])
        try:
            body = ChaCha20Poly1305(k).decrypt(ZERO, pkt[8:], h)
        except Exception:
            return None
        if not hmac.compare_digest(body[18:50], hmac.new(server_key, h, hashlib.sha256).digest()):
            return None
        if not want6:
            return socket.inet_ntoa(body[:4])
        a6 = socket.inet_ntop(socket.AF_INET6, body[52:68]) if len(pkt) == 112 else None
        return socket.inet_ntoa(body[:4]), a6, body[68:84]

    def transport(self):
        """(client->server, server->client) keys once CONFIRM was made."""
        out = hkdf(self.h, self.ck, b"sluice-vpn transport", 64)
        return out[:32], out[32:]


def cookie_of(spub, pkt, mac1):
    if len(pkt) != 52 or pkt[0] != COOKIE:
        return None
    try:
        return ChaCha20Poly1305(sha(b"cookie--", spub)).decrypt(pkt[8:20], pkt[20:52], mac1)
    except Exception:
        return None


def udp(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    return s


def recv(s, timeout):
    """The next datagram within timeout seconds, or None."""
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            return None
        return s.recv(65536)


def exchange(s, server, spub, user, cookie=None, tries=4):
    """INIT -> RESP (using a COOKIE if the server asks): (hs, resp fields,
    seconds from the last INIT to its RESP, sizes of what came back)."""
    sizes = []
    for _ in range(tries):
        hs = Handshake(spub, user)
        t0 = time.time()
        s.sendto(hs.init(cookie), server)
        while True:
            d = recv(s, 1.0)
            if d is None:
                break
            sizes.append(len(d))
            if d[0] == COOKIE:
                cookie = cookie_of(spub, d, hs.mac1) or cookie
                break
            got = hs.resp(d)
            if got:
                return hs, got, time.time() - t0, sizes, cookie
    return None, None, None, sizes, cookie


def flood(server, spub, src, secs):
    socks = [udp(src) for _ in range(4)]
    for s in socks:
        s.setblocking(False)
    cookies = [None] * len(socks)
    pending = {}
    sent = ncookie = nresp = i = 0
    end = time.time() + secs
    while time.time() < end:
        j = i % len(socks)
        if i % 1000 == 0:
            eph = Ephemeral(spub)
            ts0 = int(time.time() * 1000) - 20000
        hs = Handshake(spub, "alice" if i % 2 else "u%08x" % i, eph, ts0 + i % 1000)
        i += 1
        pending[hs.idx] = (j, hs.mac1)
        if len(pending) > 50000:
            pending.clear()
        try:
            socks[j].sendto(hs.init(cookies[j]), server)
            sent += 1
        except BlockingIOError:
            pass
        for k, s in enumerate(socks):
            while True:
                try:
                    d = s.recv(2048)
                except BlockingIOError:
                    break
                if d[0] == RESP:
                    nresp += 1
                elif d[0] == COOKIE and len(d) >= 8:
                    p = pending.get(int.from_bytes(d[4:8], "little"))
                    c = p and cookie_of(spub, d, p[1])
                    if c:
                        cookies[p[0]] = c
                        ncookie += 1
    print("sent %d cookies %d responses %d" % (sent, ncookie, nresp))


def guess(server, spub, src, user, n, every):
    s = udp(src)
    cookie = None
    resps = accepts = 0
    for t in range(n):
        t0 = time.time()
        hs, got, _, _, cookie = exchange(s, server, spub, user, cookie, tries=2)
        if got:
            resps += 1
            s.sendto(hs.confirm(), server)
            d = recv(s, 0.3)
            accepts += d is not None and d[0] == ACCEPT
        if t + 1 < n:
            time.sleep(max(0.0, every - (time.time() - t0)))
    print("tries %d responses %d accepts %d" % (n, resps, accepts))


def probe(server, spub, src, tries, names):
    s = udp(src)
    cookie = None
    out = {n: {"sizes": set(), "salts": set(), "params": set(), "ms": [], "confirm_answers": 0}
           for n in names}
    for _ in range(tries):
        for name in names:
            o = out[name]
            hs, got, dt, sizes, cookie = exchange(s, server, spub, name, cookie)
            o["sizes"].update(sizes)
            if not got:
                continue
            o["salts"].add(got[0].hex())
            o["params"].add("%d,%d,%d" % got[1:])
            o["ms"].append(dt * 1000)
            s.sendto(hs.confirm(), server)
            d = recv(s, 0.3)
            if d is not None:
                o["confirm_answers"] += 1
                o["sizes"].add(len(d))
    for o in out.values():
        o["median_ms"] = round(statistics.median(o["ms"]), 3) if o["ms"] else None
        o["responses"] = len(o.pop("ms"))
        for k in ("sizes", "salts", "params"):
            o[k] = sorted(o[k])
    print(json.dumps(out, sort_keys=True))


def full_login(s, server, spub, user, pw, want6=False):
    """A real login (scrypt): (handshake, CONFIRM, what accept() gave), or
    (None, None, "no-response" | "not-accepted")."""
    hs, got, _, _, _ = exchange(s, server, spub, user)
    if not got:
        return None, None, "no-response"
    salt, ln, r, p = got
    sp = hashlib.scrypt(pw.encode(), salt=salt, n=1 << ln, r=r, p=p, maxmem=1 << 27, dklen=32)
    ck = hmac.new(sp, b"Client Key", hashlib.sha256).digest()
    sk = hmac.new(sp, b"Server Key", hashlib.sha256).digest()
    confirm = hs.confirm(ck)
    for _ in range(4):
        s.sendto(confirm, server)
        d = recv(s, 1.0)
        acc = d is not None and hs.accept(d, sk, want6)
        if acc:
            return hs, confirm, acc
    return None, None, "not-accepted"


def login(server, spub, src, user, pw, replay_src):
    s = udp(src)
    hs, confirm, addr = full_login(s, server, spub, user, pw)
    if not hs:
        print(addr)
        return

    def answers(sock):
        sock.sendto(confirm, server)
        n = 0
        while recv(sock, 0.5) is not None:
            n += 1
        return n

    print("accepted %s same %d port %d addr %d" % (addr, answers(s), answers(udp(src)),
                                                   answers(udp(replay_src))))


def seal(key, receiver, ctr, pkt):
    hdr = bytes([6, 0, 0, 0]) + receiver.to_bytes(4, "little") + ctr.to_bytes(8, "little")
    return hdr + ChaCha20Poly1305(key).encrypt(bytes(4) + ctr.to_bytes(8, "little"), pkt, hdr)


def icmp6(src, dst, typ, body):
    """An ICMPv6 packet with its checksum."""
    a, b = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    msg = bytes([typ, 0, 0, 0]) + body
    ph = a + b + len(msg).to_bytes(4, "big") + bytes(3) + bytes([58])
    data = ph + msg + (b"\0" if len(msg) % 2 else b"")
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    msg = msg[:2] + (~s & 0xffff).to_bytes(2, "big") + msg[4:]
    return bytes([0x60, 0, 0, 0]) + len(msg).to_bytes(2, "big") + bytes([58, 64]) + a + b + msg


def badv6(server, spub, src, user, pw):
    s = udp(src)
    hs, _, acc = full_login(s, server, spub, user, pw, True)
    if not hs or not acc[1]:
        print(acc if not hs else "accepted-without-ipv6")
        return
    me = acc[1]
    net = me.rsplit(":", 1)[0] + ":"
    srv6 = net + "1"
    tx, rx = hs.transport()
    ctr = [0]

    def send(pkt):
        s.sendto(seal(tx, hs.remote, ctr[0], pkt), server)
        ctr[0] += 1

    good = icmp6(me, srv6, 128, b"\x12\x34\x00\x01" + b"ping")
    bad = [
        good[:39],                                    # shorter than a header
        good[:4] + (999).to_bytes(2, "big") + good[6:],  # payload length past the end
        bytes([0x60]) + bytes(3),                     # a version nibble and nothing
        icmp6(net + "99", srv6, 128, b"\x00\x01\x00\x01x"),   # another's address
        icmp6("fe80::1", srv6, 128, b"\x00\x01\x00\x01x"),    # link-local source
        icmp6("::", "ff02::2", 133, bytes(4)),           # a router solicitation from ::
        icmp6(me, "ff02::1", 128, b"\x00\x01\x00\x01x"),      # to all nodes
    ] * 20
    for pkt in bad:
        send(pkt)
    send(icmp6(me, srv6, 128, b"\x00\x02\x00\x01" + bytes(1400)))  # over the tunnel MTU
    too_big = echo = 0
    deadline = time.time() + 3
    sent_echo = False
    while time.time() < deadline and not (too_big and echo):
        if not sent_echo and too_big:
            send(good)
            sent_echo = True
        d = recv(s, 0.5)
        if d is None:
            if not sent_echo:
                send(good)
                sent_echo = True
            continue
        if len(d) < 32 or d[0] != 6:
            continue
        c = int.from_bytes(d[8:16], "little")
        try:
            pkt = ChaCha20Poly1305(rx).decrypt(bytes(4) + d[8:16], d[16:], d[:16])
        except Exception:
            continue
        if len(pkt) > 40 and pkt[0] >> 4 == 6 and pkt[6] == 58:
            too_big += pkt[40] == 2
            echo += pkt[40] == 129 and pkt[44:48] == b"\x12\x34\x00\x01"
        del c
    print("sent %d too-big %d echo %d" % (len(bad) + 1, too_big, echo))


def tcp_seg(src, dst, sport, dport, seq, ack, flags):
    """An IPv4 TCP segment without payload, with both checksums."""
    a, b = socket.inet_aton(src), socket.inet_aton(dst)

    def csum(data):
        if len(data) % 2:
            data += b"\0"
        s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        return (~s & 0xffff).to_bytes(2, "big")

    tcp = (sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + seq.to_bytes(4, "big") +
           ack.to_bytes(4, "big") + bytes([5 << 4, flags]) + (65535).to_bytes(2, "big") + bytes(4))
    tcp = tcp[:16] + csum(a + b + bytes([0, 6]) + len(tcp).to_bytes(2, "big") + tcp) + tcp[18:]
    ip = bytes([0x45, 0]) + (20 + len(tcp)).to_bytes(2, "big") + bytes(4) + bytes([64, 6, 0, 0]) + a + b
    return ip[:10] + csum(ip) + ip[12:] + tcp


def synflood(server, spub, src, user, pw, dst, dport, n, complete=False):
    """N SYNs from N source ports; with complete, each SYN-ACK is
    acknowledged (the handshake completes)."""
    s = udp(src)
    hs, _, me = full_login(s, server, spub, user, pw)
    if not hs:
        print(me)
        return
    tx, rx = hs.transport()
    synack, rst = set(), set()
    ctr = [0]

    def send(pkt):
        s.sendto(seal(tx, hs.remote, ctr[0], pkt), server)
        ctr[0] += 1

    def drain(timeout):
        while True:
            d = recv(s, timeout)
            if d is None:
                return
            if len(d) < 32 or d[0] != 6:
                continue
            try:
                pkt = ChaCha20Poly1305(rx).decrypt(bytes(4) + d[8:16], d[16:], d[:16])
            except Exception:
                continue
            if len(pkt) >= 40 and pkt[0] == 0x45 and pkt[9] == 6:
                port, flags = int.from_bytes(pkt[22:24], "big"), pkt[33]
                if flags & 0x12 == 0x12:
                    if complete and port not in synack:
                        seq = int.from_bytes(pkt[24:28], "big")
                        send(tcp_seg(me, dst, port, dport, 1001, (seq + 1) & 0xffffffff, 0x10))
                    synack.add(port)
                elif flags & 0x04:
                    rst.add(port)

    for i in range(n):
        send(tcp_seg(me, dst, 10000 + i, dport, 1000, 0, 0x02))
        if i % 64 == 63:
            drain(0.001)
    drain(3.0)
    print("sent %d synack %d rst %d" % (n, len(synack), len(rst)))


def main():
    args = sys.argv[1:]
    src = "127.0.0.1"
    if "--src" in args:
        i = args.index("--src")
        src = args[i + 1]
        del args[i:i + 2]
    cmd, port, spub = args[0], int(args[1]), base64.b64decode(args[2])
    server, rest = (os.environ.get("VPN_PEER_SERVER", "127.0.0.1"), port), args[3:]
    if cmd == "flood":
        flood(server, spub, src, float(rest[0]))
    elif cmd == "guess":
        guess(server, spub, src, rest[0], int(rest[1]), float(rest[2]))
    elif cmd == "probe":
        probe(server, spub, src, int(rest[0]), rest[1:])
    elif cmd == "badv6":
        badv6(server, spub, src, rest[0], rest[1])
    elif cmd == "synflood":
        synflood(server, spub, src, rest[0], rest[1], rest[2], int(rest[3]), int(rest[4]))
    elif cmd == "connect":
        synflood(server, spub, src, rest[0], rest[1], rest[2], int(rest[3]), 1, True)
    elif cmd == "login":
        login(server, spub, src, rest[0], rest[1], rest[2] if len(rest) > 2 else "127.0.0.9")
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
