#!/usr/bin/env python3
"""An impaired wire between two network namespaces, in userspace.

    wire.py NS_A DEV_A NS_B DEV_B CONTROL_FILE

Attaches to the TUN device DEV_A in namespace NS_A and DEV_B in NS_B (both
created beforehand with `ip tuntap add DEV mode tun`, addressed and up)
and carries every IP packet from one to the other.  The kernel here has
no netem qdisc, so this does its work: CONTROL_FILE holds one line,
re-read whenever it changes:

    loss=P delay=MS reorder=P down=0|1

loss drops each packet with probability P (0..1); delay holds every packet
MS milliseconds (each direction); reorder sends each packet with
probability P at once, ahead of the delayed ones; down=1 drops everything
(the link is down).  Prints "wire up" once attached, and a line per
setting it applies.
"""
import ctypes
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def tun_in(ns, dev):
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{ns}") as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def read_ctl(path):
    cfg = {"loss": 0.0, "delay": 0.0, "reorder": 0.0, "down": 0.0}
    try:
        for kv in open(path).read().split():
            k, v = kv.split("=", 1)
            if k in cfg:
                cfg[k] = float(v)
    except (OSError, ValueError):
        pass
    return cfg


def main():
    ns_a, dev_a, ns_b, dev_b, ctl = sys.argv[1:6]
    fa = tun_in(ns_a, dev_a)
    fb = tun_in(ns_b, dev_b)
    peer = {fa: fb, fb: fa}
    cfg, mtime = read_ctl(ctl), 0
    queue = []  # (due, seq, fd, packet)
    seq = 0
    print("wire up", flush=True)
    while True:
        try:
            m = os.stat(ctl).st_mtime_ns
        except OSError:
            m = 0
        if m != mtime:
            mtime = m
            cfg = read_ctl(ctl)
            print("wire " + " ".join(f"{k}={v:g}" for k, v in cfg.items()), flush=True)
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(queue)
            try:
                os.write(fd, pkt)
            except OSError:
                pass
        timeout = max(0.0, min(0.05, queue[0][0] - now)) if queue else 0.05
        r, _, _ = select.select([fa, fb], [], [], timeout)
        for fd in r:
            for _ in range(64):
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if cfg["down"] or random.random() < cfg["loss"]:
                    continue
                d = cfg["delay"] / 1000.0
                if d and random.random() < cfg["reorder"]:
                    d = 0
                if not d:
                    os.write(peer[fd], pkt)
                    continue
                seq += 1
                heapq.heappush(queue, (time.monotonic() + d, seq, peer[fd], pkt))


if __name__ == "__main__":
    main()
