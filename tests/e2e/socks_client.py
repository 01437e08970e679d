#!/usr/bin/env python3
"""SOCKS peers for tests/e2e/socks.sh (standard library only).

  socks_client.py udp-echo PORT                    UDP echo server on 127.0.0.1
  socks_client.py udp PROXY ECHO                   UDP ASSOCIATE through PROXY, datagrams to
                                                   127.0.0.1:ECHO and localhost:ECHO
  socks_client.py udp-after-close PROXY ECHO       the relay stops with its TCP connection
  socks_client.py udp-refused PROXY                UDP ASSOCIATE is answered with reply 7
  socks_client.py udp-acl PROXY ECHO DENIED        a datagram to DENIED:ECHO gets nothing back,
                                                   the next to 127.0.0.1:ECHO its echo
  socks_client.py assoc-flood PROXY N              N UDP ASSOCIATEs at once; print how many
                                                   were granted
  socks_client.py udp-flood PORT N                 one datagram from each of N sockets to
                                                   127.0.0.1:PORT
  socks_client.py udp-blast PORT MB                MB MiB of 1200-byte datagrams to
                                                   127.0.0.1:PORT, as fast as they go
  socks_client.py pipeline PROXY ECHO              greeting, request and data in one segment
  socks_client.py banner PROXY HOST PORT           CONNECT, print the first bytes the target sends
  socks_client.py fake-server PORT BANNER          a SOCKS5 server that sends its CONNECT reply and
                                                   BANNER in one segment, then echoes
Exit status 0 on success; a message on failure.
"""
import socket
import struct
import sys
import threading
import time


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError(f"closed after {len(b)} of {n} bytes")
        b += d
    return b


def read_reply(s):
    """A SOCKS5 reply: (rep, host, port)."""
    ver, rep, _, atyp = recv_exact(s, 4)
    assert ver == 5, f"reply version {ver}"
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, recv_exact(s, 4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, recv_exact(s, 16))
    elif atyp == 3:
        host = recv_exact(s, recv_exact(s, 1)[0]).decode()
    else:
        raise ValueError(f"atyp {atyp}")
    (port,) = struct.unpack("!H", recv_exact(s, 2))
    return rep, host, port


def addr(host, port):
    try:
        return b"\x01" + socket.inet_aton(host) + struct.pack("!H", port)
    except OSError:
        return b"\x03" + bytes([len(host)]) + host.encode() + struct.pack("!H", port)


def connect(proxy, host, port):
    s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00", "method"
    s.sendall(b"\x05\x01\x00" + addr(host, port))
    rep, _, _ = read_reply(s)
    assert rep == 0, f"CONNECT reply {rep}"
    return s


def udp_echo(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    while True:
        d, a = u.recvfrom(65535)
        u.sendto(d, a)


def associate(proxy):
    s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00", "method"
    s.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    rep, host, port = read_reply(s)
    assert rep == 0, f"UDP ASSOCIATE reply {rep}"
    if host == "0.0.0.0":
        host = "127.0.0.1"
    return s, (host, port)


def udp_refused(proxy):
    s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00", "method"
    s.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    rep, _, _ = read_reply(s)
    assert rep == 7, f"UDP ASSOCIATE reply {rep}, not 7 (command not supported)"
    assert s.recv(1) == b"", "the connection stays open after the refusal"
    print("udp-refused: ok")


def udp_acl(proxy, echo, denied):
    ctl, relay = associate(proxy)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(0.7)
    u.sendto(b"\x00\x00\x00" + addr(denied, echo) + b"refused", relay)
    try:
        d, _ = u.recvfrom(65535)
        raise AssertionError(f"a refused target answered: {d!r}")
    except socket.timeout:
        pass
    u.settimeout(3)
    got = udp_roundtrip(u, relay, "127.0.0.1", echo, b"allowed")
    assert got == b"allowed", got
    ctl.close()
    print("udp-acl: ok")


def assoc_flood(proxy, n):
    socks, granted = [], 0
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
            s.sendall(b"\x05\x01\x00\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
            socks.append(s)
        except OSError:
            pass
    for s in socks:
        try:
            if recv_exact(s, 2) == b"\x05\x00" and read_reply(s)[0] == 0:
                granted += 1
        except (OSError, EOFError, AssertionError, ValueError):
            pass
    print(granted, flush=True)
    time.sleep(0.5)
    for s in socks:
        s.close()


def udp_flood(port, n):
    for _ in range(n):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b"flood", ("127.0.0.1", port))
        u.close()


def udp_blast(port, mib):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    d = bytes(1200)
    for _ in range((mib << 20) // len(d)):
        try:
            u.sendto(d, ("127.0.0.1", port))
        except OSError:
            pass


def udp_roundtrip(u, relay, dst_host, dst_port, payload, frag=0):
    u.sendto(b"\x00\x00" + bytes([frag]) + addr(dst_host, dst_port) + payload, relay)
    d, src = u.recvfrom(65535)
    assert src == relay, f"reply from {src}, not the relay {relay}"
    assert d[:4] == b"\x00\x00\x00\x01", f"reply header {d[:4].hex()}"
    ip = socket.inet_ntoa(d[4:8])
    (port,) = struct.unpack("!H", d[8:10])
    assert (ip, port) == ("127.0.0.1", dst_port), f"reply names {ip}:{port}"
    return d[10:]


def udp(proxy, echo):
    ctl, relay = associate(proxy)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(3)
    got = udp_roundtrip(u, relay, "127.0.0.1", echo, b"ping over udp")
    assert got == b"ping over udp", got
    got = udp_roundtrip(u, relay, "localhost", echo, b"by name")
    assert got == b"by name", got
    big = bytes(range(256)) * 200  # 51200 bytes
    got = udp_roundtrip(u, relay, "127.0.0.1", echo, big)
    assert got == big, "big datagram"
    # a fragment is dropped; the next datagram still goes through
    u.sendto(b"\x00\x00\x01" + addr("127.0.0.1", echo) + b"frag", relay)
    got = udp_roundtrip(u, relay, "127.0.0.1", echo, b"after frag")
    assert got == b"after frag", got
    # another socket of the same client is not the client
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(0.5)
    other.sendto(b"\x00\x00\x00" + addr("127.0.0.1", echo) + b"intruder", relay)
    try:
        d, _ = other.recvfrom(65535)
        raise AssertionError(f"a second client port was relayed: {d!r}")
    except socket.timeout:
        pass
    # ... nor a target: nothing reaches the client from it
    u.settimeout(0.5)
    try:
        d, _ = u.recvfrom(65535)
        raise AssertionError(f"an unsolicited datagram reached the client: {d!r}")
    except socket.timeout:
        pass
    ctl.close()
    print("udp: ok")


def udp_after_close(proxy, echo):
    ctl, relay = associate(proxy)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(3)
    assert udp_roundtrip(u, relay, "127.0.0.1", echo, b"one") == b"one"
    ctl.close()
    time.sleep(0.3)
    u.settimeout(0.5)
    try:
        u.sendto(b"\x00\x00\x00" + addr("127.0.0.1", echo) + b"two", relay)
        d, _ = u.recvfrom(65535)
        raise AssertionError(f"relay still alive after its TCP connection closed: {d!r}")
    except (socket.timeout, ConnectionRefusedError):
        pass
    print("udp-after-close: ok")


def pipeline(proxy, echo):
    s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    data = b"early bytes before any reply"
    s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00" + addr("127.0.0.1", echo) + data)
    assert recv_exact(s, 2) == b"\x05\x00", "method"
    rep, _, _ = read_reply(s)
    assert rep == 0, f"reply {rep}"
    got = recv_exact(s, len(data))
    assert got == data, got
    print("pipeline: ok")


def banner(proxy, host, port):
    s = connect(proxy, host, port)
    s.settimeout(3)
    print(s.recv(4096).decode().strip())


def fake_server(port, text):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)

    def serve(c):
        try:
            _, n = recv_exact(c, 2)
            recv_exact(c, n)
            c.sendall(b"\x05\x00")
            hdr = recv_exact(c, 4)
            atyp = hdr[3]
            if atyp == 1:
                recv_exact(c, 4)
            elif atyp == 4:
                recv_exact(c, 16)
            else:
                recv_exact(c, recv_exact(c, 1)[0])
            recv_exact(c, 2)
            # reply and the target's first words in one segment
            c.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00" + text.encode() + b"\n")
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except (OSError, EOFError):
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    try:
        if cmd == "udp-echo":
            udp_echo(int(a[0]))
        elif cmd == "udp":
            udp(int(a[0]), int(a[1]))
        elif cmd == "udp-refused":
            udp_refused(int(a[0]))
        elif cmd == "udp-acl":
            udp_acl(int(a[0]), int(a[1]), a[2])
        elif cmd == "assoc-flood":
            assoc_flood(int(a[0]), int(a[1]))
        elif cmd == "udp-flood":
            udp_flood(int(a[0]), int(a[1]))
        elif cmd == "udp-blast":
            udp_blast(int(a[0]), int(a[1]))
        elif cmd == "udp-after-close":
            udp_after_close(int(a[0]), int(a[1]))
        elif cmd == "pipeline":
            pipeline(int(a[0]), int(a[1]))
        elif cmd == "banner":
            banner(int(a[0]), a[1], int(a[2]))
        elif cmd == "fake-server":
            fake_server(int(a[0]), a[1])
        else:
            sys.exit(__doc__)
    except (AssertionError, OSError, EOFError, ValueError) as e:
        sys.exit(f"{cmd}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
