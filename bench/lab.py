#!/usr/bin/env python3
"""Measurement helpers for sluice's benchmarks (standard library only).

The shell scripts in bench/ start and stop processes; this file measures
them and formats the results.  Every number comes from /proc or from
iperf3's JSON, so it works the same for sluice and for the peers.

  lab.py ports N                      N distinct free TCP ports on 127.0.0.1
  lab.py iperf PATH DIR PORT SECS ROUND [PID...]
                                      one iperf3 run through 127.0.0.1:PORT;
                                      prints a JSON line with Gbit/s, bytes and
                                      the CPU and syscall counts of the PID trees
  lab.py holdsrv PORT [--banner]      accept and hold connections, echo what
                                      arrives (the far end of the idle test);
                                      --banner: greet each one on accept
  lab.py ttfb PATH MODE PORT N SECS ROUND [PID...]
                                      up to N sequential new connections to
                                      127.0.0.1:PORT (stop after SECS): time from
                                      connect() to the first byte back, MODE
                                      server (a banner) or client (we speak first)
  lab.py idle NAME FWD TARGET N PING PID...
                                      memory of the PID trees before and while N
                                      connections are held through FWD to TARGET
  lab.py wrk PATH PORT SECS ROUND [PID...]
                                      wrk, 8 connections, each request on a new
                                      connection (Connection: close), to the HTTP
                                      server behind 127.0.0.1:PORT: requests/s
  lab.py syscalls PATH PORT N [LABEL=]PID...
                                      N sequential HTTP requests, each on a new
                                      connection, to the server behind
                                      127.0.0.1:PORT while strace -c counts the
                                      system calls of each PID: calls per
                                      connection per process, by call
  lab.py profile SECS OUT [LABEL=]PID...
                                      perf record each PID for SECS seconds (at
                                      the same time), then print its CPU by
                                      object and its top 10 symbols, a markdown
                                      table per process
  lab.py report BENCH FILE            markdown tables from the JSON lines in
                                      FILE (BENCH: tcpfwd or ws)

Both also give the CPU the machine spent outside the benchmark's own
processes (LAB_OWN: more pids of ours), as a percentage of one CPU: other
work on the same CPUs that the numbers should be read against.

CPU is utime+stime+cutime+cstime summed over each PID and its descendants:
children that exited and were reaped (socat forks one per connection) land
in their parent's cutime/cstime, so nothing is lost.  /proc/PID/io is
accumulated the same way by the kernel, which gives bytes per read()/write().
"""
import json
import os
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------- /proc
def proc_table():
    """pid -> (ppid, cpu ticks incl. reaped children)"""
    tab = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # rest[0] is field 3 (state): ppid is field 4, utime..cstime 14..17
        tab[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return tab


def tree(tab, roots):
    kids = {}
    for pid, (ppid, _) in tab.items():
        kids.setdefault(ppid, []).append(pid)
    seen, todo = set(), [p for p in roots if p in tab]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(kids.get(p, []))
    return seen


IO_KEYS = ("rchar", "wchar", "syscr", "syscw")


def snap(roots):
    """CPU ticks and read/write syscall counters summed over the trees."""
    tab = proc_table()
    procs = tree(tab, roots)
    io = dict.fromkeys(IO_KEYS, 0)
    for p in procs:
        try:
            with open("/proc/%d/io" % p) as f:
                for line in f:
                    k, v = line.split(":")
                    if k in io:
                        io[k] += int(v)
        except OSError:
            pass
    return dict(ticks=sum(tab[p][1] for p in procs), procs=len(procs), **io)


def busy_ticks():
    """Ticks the whole machine (all CPUs) spent busy: /proc/stat's first
    line less idle and iowait (guest time is already inside user)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4]


class Other:
    """CPU the machine spent outside the processes of the benchmark: this
    process and its children (iperf3 -c), the relay's trees and the ones
    named in LAB_OWN (iperf3 -s, the first-byte targets).  Another tenant,
    a build or a fuzzer on the same CPUs shows up here."""

    def __init__(self, roots):
        self.roots = list(roots) + [int(p) for p in os.environ.get("LAB_OWN", "").split()]
        self.a = self.sample()

    def sample(self):
        ru = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        mine = sum(r.ru_utime + r.ru_stime for r in ru) * CLK
        return time.monotonic(), busy_ticks(), snap(self.roots)["ticks"] + mine

    def pct(self):
        """Percent of one CPU, averaged over the time since __init__."""
        b = self.sample()
        wall = b[0] - self.a[0]
        other = (b[1] - self.a[1]) - (b[2] - self.a[2])
        return round(max(other, 0) / CLK / wall * 100, 1) if wall > 0 else None


def mem(roots):
    """RSS and PSS (KiB) summed over the trees."""
    procs = tree(proc_table(), roots)
    rss = pss = 0
    for p in procs:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return dict(rss_kb=rss, pss_kb=pss, procs=len(procs))


def estab_on(port):
    """ESTABLISHED sockets whose local port is PORT (accepted or queued)."""
    n = 0
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "01" and int(p[1].rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


# ---------------------------------------------------------------- commands
TTFB_BANNER = b"hello\r\n"  # holdsrv --banner greets with it
TTFB_PING = b"ping\r\n"     # ttfb client-first sends it, holdsrv echoes it

def cmd_ports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))


def run_iperf3(port, secs, reverse):
    cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(secs), "-J",
           "--connect-timeout", "3000"]
    if reverse:
        cmd.append("-R")
    try:
        r = subprocess.run(["timeout", str(int(float(secs)) + 15)] + cmd,
                           capture_output=True, text=True)
        j = json.loads(r.stdout)
    except (OSError, ValueError) as e:
        return dict(error="iperf3: %s" % e)
    if "error" in j:
        return dict(error=j["error"])
    # sum_received: what the receiving end got, whichever end that is (-R)
    rcv = j["end"]["sum_received"]
    return dict(bytes=rcv["bytes"], gbps=rcv["bits_per_second"] / 1e9)


def cmd_iperf(path, direction, port, secs, rnd, *pids):
    roots = [int(p) for p in pids]
    res = None
    for attempt in range(2):  # iperf3 -s can still be busy with the last test
        other = Other(roots)
        a = snap(roots)
        res = run_iperf3(port, secs, direction == "rev")
        time.sleep(0.3)  # let socat's per-connection children exit and be reaped
        b = snap(roots)
        if "error" not in res:
            break
        time.sleep(1.5)
    res.update(kind="iperf", path=path, dir=direction, round=int(rnd), other_pct=other.pct())
    if roots and "error" not in res:
        res["cpu_s"] = (b["ticks"] - a["ticks"]) / CLK
        for k in IO_KEYS:
            res[k] = b[k] - a[k]
    print(json.dumps(res), flush=True)


def cmd_wrk(path, port, secs, rnd, *pids):
    """New connections per second: wrk with Connection: close, so every
    request is a new connection through the tunnel."""
    roots = [int(p) for p in pids]
    other = Other(roots)
    a = snap(roots)
    p = subprocess.run(["wrk", "-t1", "-c8", "-d%ss" % secs, "-H", "Connection: close",
                        "http://127.0.0.1:%s/" % port],
                       capture_output=True, text=True, timeout=float(secs) + 30)
    b = snap(roots)
    res = dict(kind="rate", path=path, round=int(rnd), other_pct=other.pct())
    rps = errs = None
    for line in p.stdout.splitlines():
        w = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(w[1])
        elif line.strip().startswith("Socket errors:"):
            errs = line.strip()
        elif line.strip().startswith("Non-2xx"):
            errs = (errs + "; " if errs else "") + line.strip()
    if rps is None:
        res["error"] = (p.stderr or p.stdout).strip()[-200:] or "wrk printed no rate"
    else:
        res["rps"] = rps
        if errs:
            res["wrk_errors"] = errs
        if roots:
            res["cpu_s"] = (b["ticks"] - a["ticks"]) / CLK
            res["n"] = rps * float(secs)
    print(json.dumps(res), flush=True)


def strace_counts(fn):
    """{syscall: calls} from an strace -c summary."""
    calls = {}
    with open(fn) as f:
        for line in f:
            w = line.split()
            if len(w) >= 5 and w[0][0].isdigit() and w[-1] != "total":
                calls[w[-1]] = int(w[3])
    return calls


def cmd_syscalls(path, port, n, *pids):
    """System calls per new connection, for each process of a path: the
    one number here that another tenant of a shared machine cannot move.
    The requests are sequential (connect, GET with Connection: close, read
    to EOF), so every connection costs its full count; at a higher rate an
    event loop shares some of its calls (epoll_wait) between connections."""
    port, n = int(port), int(n)
    req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    procs, out = [], {}
    for i, arg in enumerate(pids):
        label, _, pid = arg.rpartition("=")
        fn = "/tmp/lab-strace-%d-%d" % (os.getpid(), i)
        procs.append((label or pid, fn, subprocess.Popen(
            ["strace", "-c", "-f", "-o", fn, "-p", pid],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    time.sleep(1.0)  # strace attached to every thread
    ok, err = 0, None
    t0 = time.time()
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(req)
            got = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
            s.close()
            if got.startswith(b"HTTP/1.1 200"):
                ok += 1
        except OSError as e:
            err = str(e)
    secs = time.time() - t0
    time.sleep(0.3)  # the last close reaches both ends
    for label, fn, p in procs:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=10)
        calls = strace_counts(fn)
        os.unlink(fn)
        out[label] = dict(per_conn=round(sum(calls.values()) / max(ok, 1), 1),
                          top={k: round(v / max(ok, 1), 2) for k, v in
                               sorted(calls.items(), key=lambda kv: -kv[1])[:8]})
    print(json.dumps(dict(kind="sys", path=path, n=n, ok=ok, secs=round(secs, 2),
                          error=err, procs=out)), flush=True)


def perf_rows(fn, sort, n):
    rep = subprocess.run(["perf", "report", "-i", fn, "--stdio", "--no-children", "-q",
                          "--sort", sort, "--percent-limit", "0.5"],
                         capture_output=True, text=True)
    return [l.split(None, 3) for l in rep.stdout.splitlines() if l.strip()][:n]


def cmd_profile(secs, out, *pids):
    """perf record every PID (all its threads) for SECS seconds at once,
    then where its CPU went: by object (kernel, libcrypto, the program) and
    its 10 hottest symbols (self time, % of that process's samples).
    Symbols of libraries without debug symbols show as addresses."""
    recs = []
    for arg in pids:
        label, _, p = arg.rpartition("=")
        fn = "%s.%s.data" % (out, p)
        try:
            name = open("/proc/%s/comm" % p).read().strip()
        except OSError:
            continue
        recs.append((p, (label + ", " if label else "") + name, fn, subprocess.Popen(
            ["perf", "record", "-q", "-F", "1999", "-p", str(p), "-o", fn, "--", "sleep", secs],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    for p, name, fn, pr in recs:
        pr.wait()
        objs = ", ".join("%s %s" % (r[1], r[0]) for r in perf_rows(fn, "dso", 5) if len(r) >= 2)
        print("%s (pid %s); by object: %s\n" % (name, p, objs or "no samples"))
        print("| % self | object | symbol |\n|---|---|---|")
        for r in perf_rows(fn, "dso,sym", 10):
            if len(r) == 4:
                sym = r[3].replace("[.] ", "").replace("[k] ", "(kernel) ").strip()
                print("| %s | %s | `%s` |" % (r[0], r[1], sym[:70]))
        print()


def cmd_holdsrv(port, banner=None):
    """Accept everything, keep it open, echo what arrives.  Non-blocking,
    with a per-connection backlog, so one slow reader stalls nobody.
    With --banner, every connection is greeted as soon as it is accepted
    (a server-first protocol such as SMTP or SSH)."""
    banner = TTFB_BANNER if banner == "--banner" else None
    raise_nofile()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(port)))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    pending = {}  # socket -> bytes not yet echoed

    def close(s):
        sel.unregister(s)
        pending.pop(s, None)
        s.close()

    while True:
        for key, ev in sel.select():
            s = key.fileobj
            if s is ls:
                try:
                    c, _ = ls.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(c, selectors.EVENT_READ)
                if banner:
                    try:
                        c.send(banner)  # a few bytes into an empty socket buffer
                    except OSError:
                        close(c)
                continue
            if ev & selectors.EVENT_READ:
                try:
                    d = s.recv(262144)
                except BlockingIOError:
                    d = None
                except OSError:
                    d = b""
                if d == b"":
                    close(s)
                    continue
                if d:
                    pending[s] = pending.get(s, b"") + d
            buf = pending.get(s)
            if buf:
                try:
                    n = s.send(buf)
                except BlockingIOError:
                    n = 0
                except OSError:
                    close(s)
                    continue
                pending[s] = buf[n:]
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending.get(s) else 0)
            if key.events != want:
                sel.modify(s, want)


def cmd_idle(name, fwd, target, n, nbytes, *pids):
    """Hold N connections through the relay at FWD to the holdsrv at TARGET.

    Each connection first sends NBYTES and reads the echo back, then sits
    idle: 0 is a connection that never carried a byte, a few bytes is a
    keep-alive connection between requests, a few hundred KiB is one that
    carried bulk data (full-sized reads) and went quiet."""
    raise_nofile()
    fwd, target, n, nbytes = int(fwd), int(target), int(n), int(nbytes)
    roots = [int(p) for p in pids]
    base = estab_on(target)
    before = mem(roots)
    conns, err = [], None
    payload = b"x" * nbytes
    t0 = time.time()
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", fwd), timeout=10)
            conns.append(s)
            if nbytes:
                s.sendall(payload)
                got = 0
                while got < nbytes:
                    d = s.recv(min(nbytes - got, 1 << 20))
                    if not d:
                        raise RuntimeError("EOF before the echo")
                    got += len(d)
    except (OSError, RuntimeError) as e:
        err = "after %d connections: %s" % (len(conns), e)
    reached, deadline = 0, time.time() + 20
    while time.time() < deadline:
        reached = estab_on(target) - base
        if reached >= len(conns):
            break
        time.sleep(0.2)
    open_s = time.time() - t0
    time.sleep(1.0)  # let the relay settle (socat: children finish starting)
    during = mem(roots)
    for s in conns:
        s.close()
    print(json.dumps(dict(kind="idle", name=name, bytes=nbytes, n=n, opened=len(conns),
                          reached=reached, open_s=round(open_s, 2), error=err,
                          before=before, during=during)), flush=True)


def cmd_ttfb(path, mode, port, n, secs, rnd, *pids):
    """Sequential new connections through 127.0.0.1:PORT, each timed from
    just before connect() to the first byte received: MODE server waits for
    the target's banner, MODE client sends a line first and waits for its
    echo (what 0-RTT shortens).  A connection is closed once it has its
    answer, and the next one starts 1 ms later, so that the tunnel has
    taken the close in (and a pool refilled) before it.  Stops after N
    connections or SECS seconds, whichever comes first."""
    port, n, secs = int(port), int(n), float(secs)
    other = Other([int(p) for p in pids])
    want = TTFB_BANNER if mode == "server" else TTFB_PING
    us, errs = [], []
    end = time.monotonic() + secs
    while len(us) + len(errs) < n and time.monotonic() < end:
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5)
        try:
            t0 = time.perf_counter()
            s.connect(("127.0.0.1", port))
            if mode == "client":
                s.sendall(TTFB_PING)
            got = s.recv(64)
            t1 = time.perf_counter()
            if not got:
                raise OSError("closed before the first byte")
            while len(got) < len(want):  # the rest of the line, untimed
                more = s.recv(64)
                if not more:
                    break
                got += more
            if got != want:
                raise OSError("got %r, expected %r" % (got[:20], want))
            us.append((t1 - t0) * 1e6)
        except OSError as e:
            errs.append(str(e) or type(e).__name__)
        finally:
            s.close()
        time.sleep(0.001)
    print(json.dumps(dict(kind="ttfb", path=path, mode=mode, round=int(rnd),
                          us=[round(x, 1) for x in us], errors=errs[:5], nerr=len(errs),
                          other_pct=other.pct())),
          flush=True)


# ---------------------------------------------------------------- report
# Each benchmark's paths, in table order: key, label, reference key for the ratio.
TCPFWD_PATHS = [
    ("raw", "raw: iperf3 direct, no relay", "raw"),
    ("sluice", "sluice -L tcp://", "raw"),
    ("socat", "socat (default -b 8192)", "raw"),
    ("socat128", "socat -b 131072", "raw"),
    ("ssh", "ssh -N -L, aes128-gcm@openssh.com", "raw"),
]
WS_PATHS = [
    ("raw", "raw: iperf3 direct, no tunnel", "raw"),
    ("ws", "sluice ws:// (sealed: AES-128-GCM with AES-NI, else ChaCha20-Poly1305)", "raw"),
    ("ws-chacha", "sluice ws:// enc=chacha20-poly1305", "raw"),
    ("wss", "sluice wss:// (TLS, and sealed)", "raw"),
    ("wss-none", "sluice wss:// enc=none (TLS only)", "raw"),
    ("ws-base", "SLUICE_BASE ws:// (the build compared against)", "raw"),
    ("wss-base", "SLUICE_BASE wss://", "raw"),
    ("wss-none-base", "SLUICE_BASE wss:// enc=none", "raw"),
    ("stunnel", "stunnel client → stunnel server (TLS 1.3, AES-128-GCM)", "raw"),
    ("v2ray-ws", "v2ray VLESS over ws://", "raw"),
    ("v2ray-wss", "v2ray VLESS over wss:// (TLS)", "raw"),
    ("ss", "shadowsocks-libev ss-tunnel, chacha20-ietf-poly1305", "raw"),
]
WS_RATE_PATHS = [  # key, label; "direct" is the reference
    ("direct", "direct: no tunnel"),
    ("tcp", "sluice -L tcp:// (a plain forward)"),
    ("ws", "sluice ws://, a fresh WebSocket per connection"),
    ("ws-pool", "sluice ws:// pool=4"),
    ("v2ray-ws", "v2ray VLESS over ws://"),
    ("ss", "shadowsocks-libev ss-tunnel"),
    ("ws-base", "SLUICE_BASE ws://, a fresh WebSocket per connection"),
]
WS_TTFB_PATHS = [  # key, label; "direct" is the reference
    ("direct", "direct: no tunnel"),
    ("ws", "sluice ws://, a fresh WebSocket per connection (fast-open)"),
    ("ws-pool", "sluice ws:// pool=4 (a warm WebSocket per connection)"),
    ("ws-nofo", "sluice ws:// fast-open=0 (waits for OPEN_OK)"),
    ("v2ray-ws", "v2ray VLESS over ws://"),
    ("ss", "shadowsocks-libev ss-tunnel"),
]
TTFB_MODES = [("server", "server first (banner)"), ("client", "client first (echo)")]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def pct(xs, q):
    """The q-quantile of xs (nearest rank), None for no data."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))]


def spread(xs, f="%.2f"):
    if not xs:
        return "—"
    return "%s (%s–%s)" % (f % statistics.median(xs), f % min(xs), f % max(xs))


def per_round(rows, path, direction, field="gbps"):
    return {r["round"]: r[field] for r in rows
            if r["path"] == path and r["dir"] == direction and field in r}


def ratios(rows, path, ref, direction):
    a, b = per_round(rows, path, direction), per_round(rows, ref, direction)
    return [a[k] / b[k] for k in a if b.get(k)]


def io_sizes(ok):
    """Bytes per read() and write() of the relay, or why there are none.
    Counts from /proc/PID/io: relays that use recv()/send() (shadowsocks)
    do not show up in them."""
    rd = sum(r.get("rchar", 0) for r in ok), sum(r.get("syscr", 0) for r in ok)
    wr = sum(r.get("wchar", 0) for r in ok), sum(r.get("syscw", 0) for r in ok)
    moved = sum(r["bytes"] for r in ok)
    if not (rd[1] and wr[1]):
        return "—"
    if rd[0] < moved / 2 or wr[0] < moved / 2:
        return "— (recv/send)"
    return "%.1f / %.1f" % (rd[0] / rd[1] / 1024, wr[0] / wr[1] / 1024)


def throughput_table(rows, out, paths):
    out("| Path | Direction | Gbit/s, median (min–max) | × raw, same round | "
        "relay CPU s/GB | relay KiB per read() / write() | failed runs |")
    out("|---|---|---|---|---|---|---|")
    for direction, dlabel in (("fwd", "client → server"), ("rev", "server → client (-R)")):
        for key, label, ref in paths:
            rs = [r for r in rows if r["path"] == key and r["dir"] == direction]
            if not rs:
                continue
            ok = [r for r in rs if "gbps" in r]
            g = [r["gbps"] for r in ok]
            if key == ref:
                ratio = "1 (reference)"
            else:
                x = med(ratios(rows, key, ref, direction))
                ratio = "—" if x is None else "%.2f" % x
            cpu = [r["cpu_s"] / (r["bytes"] / 1e9) for r in ok if "cpu_s" in r and r["bytes"]]
            fails = len(rs) - len(ok)
            errs = sorted({r["error"] for r in rs if "error" in r})
            out("| %s | %s | %s | %s | %s | %s | %s |" % (
                label, dlabel, spread(g) if g else "FAILED", ratio,
                spread(cpu) if cpu else "—", io_sizes(ok),
                ("%d: %s" % (fails, "; ".join(errs))[:120]) if fails else "0"))


def ttfb_stats(trows, path, mode):
    """All samples of a path and mode, and per round: (median, p90)."""
    rs = [r for r in trows if r["path"] == path and r["mode"] == mode]
    alls = [x for r in rs for x in r["us"]]
    rounds = {r["round"]: (med(r["us"]), pct(r["us"], 0.9)) for r in rs if r["us"]}
    return rs, alls, rounds


def ttfb_delta(trows, path, mode, i, ref="direct"):
    """Median over rounds of (path - ref) in the same round; i: 0 median, 1 p90."""
    a = ttfb_stats(trows, path, mode)[2]
    b = ttfb_stats(trows, ref, mode)[2]
    return med([a[k][i] - b[k][i] for k in a if k in b])


def ttfb_table(trows, out, paths):
    out("| Path | First byte from | µs median | µs p90 | median − direct, µs | "
        "p90 − direct, µs | connections (failed) |")
    out("|---|---|---|---|---|---|---|")
    for mode, mlabel in TTFB_MODES:
        for key, label in paths:
            rs, alls, _ = ttfb_stats(trows, key, mode)
            if not rs:
                continue
            nerr = sum(r["nerr"] for r in rs)
            if key == "direct":
                d50 = d90 = "reference"
            else:
                x, y = ttfb_delta(trows, key, mode, 0), ttfb_delta(trows, key, mode, 1)
                d50 = "—" if x is None else "%+.0f" % x
                d90 = "—" if y is None else "%+.0f" % y
            out("| %s | %s | %s | %s | %s | %s | %d (%d) |" % (
                label, mlabel, "%.0f" % pct(alls, 0.5) if alls else "FAILED",
                "%.0f" % pct(alls, 0.9) if alls else "—", d50, d90, len(alls) + nerr, nerr))


def other_line(rs, what, out):
    """How busy the machine was with other work while RS ran."""
    xs = [r["other_pct"] for r in rs if r.get("other_pct") is not None]
    if not xs:
        return
    out("\nOther load during the %s: CPU the machine spent outside this benchmark's "
        "processes, median **%.0f%%** of one CPU (max %.0f%%) on %d CPUs.%s" % (
            what, med(xs), max(xs), os.cpu_count(),
            " Something else was running: absolute numbers are low and noisy; the "
            "same-round ratios and differences hold up better." if med(xs) >= 20 else ""))


def carried(nbytes):
    if not nbytes:
        return "no data yet"
    if nbytes >= 1024:
        return "after %d KiB each way" % (nbytes // 1024)
    return "after %d bytes each way" % nbytes


def idle_table(rows, out):
    out("| Relay | Connections | RSS MiB: idle → holding | RSS KiB/conn | "
        "PSS MiB: idle → holding | PSS KiB/conn | Processes |")
    out("|---|---|---|---|---|---|---|")
    for r in rows:
        b, d = r["before"], r["during"]
        n = max(r["opened"], 1)
        conn = "%d, %s" % (r["opened"], carried(r["bytes"]))
        if r["reached"] < r["opened"] or r["error"]:
            conn += " (only %d reached the target%s)" % (
                r["reached"], "; " + r["error"] if r["error"] else "")
        out("| %s | %s | %.1f → %.1f | %.1f | %.1f → %.1f | %.1f | %d → %d |" % (
            r["name"], conn, b["rss_kb"] / 1024, d["rss_kb"] / 1024,
            (d["rss_kb"] - b["rss_kb"]) / n, b["pss_kb"] / 1024, d["pss_kb"] / 1024,
            (d["pss_kb"] - b["pss_kb"]) / n, b["procs"], d["procs"]))


def aims_tcpfwd(rows, idle, trows, out, rrows=()):
    """The issue's targets: throughput >= socat -b 131072, < 10 KiB/conn."""
    x = med(ratios(rows, "sluice", "socat128", "fwd"))
    if x is not None:
        out("- Throughput, sluice ÷ socat -b 131072 (median of same-round ratios): "
            "**%.2f** — aim ≥ 1: %s" % (x, "met" if x >= 1 else "**not met**"))
    for r in idle:
        if r["name"].startswith("sluice"):
            kib = (r["during"]["rss_kb"] - r["before"]["rss_kb"]) / max(r["opened"], 1)
            out("- Memory, %s, %s: **%.1f KiB RSS per connection** — aim < 10: %s" % (
                r["name"], carried(r["bytes"]),
                kib, "met" if kib < 10 else "**not met**"))


def cpu_per_gb(rows, path, direction):
    """Per round: relay CPU seconds per GB."""
    return {r["round"]: r["cpu_s"] / (r["bytes"] / 1e9) for r in rows
            if r["path"] == path and r["dir"] == direction and "cpu_s" in r and r.get("bytes")}


def rounds_str(xs):
    return ", ".join("%.2f" % x for x in xs)


def rate_rounds(rrows, path):
    return {r["round"]: r["rps"] for r in rrows if r["path"] == path and "rps" in r}


def rate_table(rrows, out, paths):
    out("| Path | new connections/s, median (min–max) | × direct, same round | "
        "relay CPU ms per 1000 connections | failed runs |")
    out("|---|---|---|---|---|")
    for key, label in paths:
        rs = [r for r in rrows if r["path"] == key]
        if not rs:
            continue
        ok = [r for r in rs if "rps" in r]
        a, b = rate_rounds(rrows, key), rate_rounds(rrows, "direct")
        ratio = ("1 (reference)" if key == "direct" else
                 "%.2f" % med([a[k] / b[k] for k in a if b.get(k)]) if a and b else "—")
        cpu = [r["cpu_s"] * 1e6 / r["n"] for r in ok if r.get("n")]
        errs = sorted({r.get("error") or r.get("wrk_errors") for r in rs
                       if r.get("error") or r.get("wrk_errors")})
        out("| %s | %s | %s | %s | %s |" % (
            label, spread([r["rps"] for r in ok], "%.0f") if ok else "FAILED", ratio,
            spread(cpu, "%.0f") if cpu else "—",
            "%d%s" % (len(rs) - len(ok), (": " + "; ".join(errs))[:160] if errs else "")))


def syscalls_table(srows, out):
    out("| Path | process | calls per connection | the most frequent, per connection |")
    out("|---|---|---|---|")
    for r in srows:
        if not r["ok"]:
            out("| %s | — | FAILED: %s | |" % (r["path"], r.get("error")))
            continue
        for label, p in r["procs"].items():
            out("| %s | %s | %.1f | %s |" % (
                r["path"], label, p["per_conn"],
                ", ".join("%s %.1f" % kv for kv in p["top"].items())))
    out("")
    out("%s connections per path, one after another." % ", ".join(
        "%s: %d" % (r["path"], r["ok"]) for r in srows))


def aims_ws(rows, idle, trows, out, rrows=()):
    """The issue's targets (issue 17), each as the median of same-round
    ratios with every round's ratio after it."""
    for a, b, aim in (("ws", "v2ray-ws", 2.0), ("ws", "ss", 1.5), ("ws-chacha", "ss", None),
                      ("wss-none", "stunnel", 1.0), ("wss", "stunnel", 0.8),
                      ("wss", "v2ray-wss", None), ("ws", "ws-base", None),
                      ("wss", "wss-base", None), ("wss-none", "wss-none-base", None)):
        for direction, dlabel in (("fwd", "client → server"), ("rev", "server → client")):
            xs = ratios(rows, a, b, direction)
            if not xs:
                continue
            x = med(xs)
            out("- Throughput, %s ÷ %s, %s: **%.2f** (rounds: %s)%s" % (
                a, b, dlabel, x, rounds_str(xs),
                " — aim ≥ %g: %s" % (aim, "met" if x >= aim else "**not met**") if aim else ""))
    for a, b in (("ws", "v2ray-ws"), ("ws", "ss"), ("wss-none", "stunnel"), ("wss", "stunnel")):
        for direction, dlabel in (("fwd", "client → server"), ("rev", "server → client")):
            ca, cb = cpu_per_gb(rows, a, direction), cpu_per_gb(rows, b, direction)
            xs = [ca[k] / cb[k] for k in ca if cb.get(k)]
            if not xs:
                continue
            x = med(xs)
            out("- CPU per GB, %s ÷ %s, %s: **%.2f** (rounds: %s) — aim < 1: %s" % (
                a, b, dlabel, x, rounds_str(xs), "met" if x < 1 else "**not met**"))
    for a, b, aim in (("ws", "ss", 1.5), ("ws-pool", "ss", 1.5), ("ws", "tcp", None),
                      ("ws", "ws-base", None)):
        ra, rb = rate_rounds(rrows, a), rate_rounds(rrows, b)
        xs = [ra[k] / rb[k] for k in ra if rb.get(k)]
        if not xs:
            continue
        x = med(xs)
        out("- New connections/s, %s ÷ %s: **%.2f** (rounds: %s)%s" % (
            a, b, x, rounds_str(xs),
            " — aim ≥ %g: %s" % (aim, "met" if x >= aim else "**not met**") if aim else ""))
    for mode, mlabel in TTFB_MODES:
        for path in ("ws-pool", "ws"):
            a = ttfb_stats(trows, path, mode)[2]
            b = ttfb_stats(trows, "ss", mode)[2]
            xs = [a[k][0] / b[k][0] for k in a if k in b and b[k][0]]
            if not xs:
                continue
            x = med(xs)
            out("- First byte, %s ÷ ss, %s (medians, same round): **%.2f** (rounds: %s) — "
                "aim ≤ 1.2: %s" % (path, mlabel, x, rounds_str(xs),
                                   "met" if x <= 1.2 else "**not met**"))
    for r in idle:
        kib = (r["during"]["rss_kb"] - r["before"]["rss_kb"]) / max(r["opened"], 1)
        pkib = (r["during"]["pss_kb"] - r["before"]["pss_kb"]) / max(r["opened"], 1)
        out("- Memory per idle connection, %s: **%.1f KiB RSS, %.1f KiB PSS**%s" % (
            r["name"], kib, pkib,
            " — aim ≤ 8 a side, 16 for both: %s" % ("met" if kib <= 16 else "**not met**")
            if r["name"].startswith("sluice ws") else ""))


BENCHES = dict(tcpfwd=(TCPFWD_PATHS, [], aims_tcpfwd), ws=(WS_PATHS, WS_TTFB_PATHS, aims_ws))
RATE_PATHS = dict(ws=WS_RATE_PATHS)

SIGNALS = {129: "SIGHUP", 130: "SIGINT", 134: "SIGABRT", 137: "SIGKILL", 139: "SIGSEGV",
           143: "SIGTERM"}


def warnings(rows, trows, deaths, exits, out):
    """Processes that died during the run or did not stop cleanly at its end,
    and paths without a single result.
    Returns how many of them make the run untrustworthy."""
    bad = 0
    for d in deaths:
        how = SIGNALS.get(d["status"], "exit status %d" % d["status"])
        out("- **%s died** (%s), noticed before %s; restarted.%s" % (
            d["what"], how, d["before"],
            " Nothing in this benchmark sends it that signal: something else on the machine "
            "kills processes by name." if d["status"] in (137, 143) else ""))
        if d["what"].startswith("sluice"):
            bad += 1
    for e in exits:
        how = ("still running 10 s after SIGTERM" if e["status"] < 0 else
               SIGNALS.get(e["status"], "exit status %d" % e["status"]))
        out("- **%s did not exit cleanly on SIGTERM**: %s; its log ends `%s`" % (
            e["what"], how, e["last"][-200:]))
        if e["what"].startswith("sluice"):
            bad += 1
    for key in sorted({(r["path"], r["dir"]) for r in rows}):
        if not [r for r in rows if (r["path"], r["dir"]) == key and "gbps" in r]:
            out("- **%s %s: no successful run**" % key)
            bad += 1
    for key in sorted({(r["path"], r["mode"]) for r in trows}):
        rs = [r for r in trows if (r["path"], r["mode"]) == key]
        nerr = sum(r["nerr"] for r in rs)
        if nerr:
            errs = sorted({e for r in rs for e in r["errors"]})
            out("- first byte, %s %s-first: %d connections failed (%s)" % (
                key + (nerr, "; ".join(errs)[:200])))
        if not [x for r in rs for x in r["us"]]:
            out("- **first byte, %s %s-first: no successful connection**" % key)
            bad += 1
    return bad


def cmd_report(bench, fn):
    paths, ttfb_paths, aims = BENCHES[bench]
    rows, idle, trows, deaths, exits, rrows, srows = [], [], [], [], [], [], []
    with open(fn) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                {"iperf": rows, "idle": idle, "ttfb": trows, "death": deaths,
                 "exit": exits, "rate": rrows, "sys": srows}[r["kind"]].append(r)
    out = print
    if rows:
        out("### Throughput: one iperf3 stream through the forward\n")
        throughput_table(rows, out, paths)
        other_line(rows, "iperf3 runs", out)
        out("")
    if trows:
        out("### Time to first byte of a new connection through the forward\n")
        ttfb_table(trows, out, ttfb_paths)
        other_line(trows, "first-byte runs", out)
        out("")
    if rrows:
        out("### New connections per second (wrk, Connection: close) through the forward\n")
        rate_table(rrows, out, RATE_PATHS.get(bench, []))
        other_line(rrows, "wrk runs", out)
        out("")
    if srows:
        out("### System calls per new connection (strace -c, sequential requests)\n")
        syscalls_table(srows, out)
        out("")
    if idle:
        out("### Memory with idle connections held open through the forward\n")
        idle_table(idle, out)
        out("")
    out("### Against the aims\n")
    aims(rows, idle, trows, out, rrows)
    out("")
    bad = 0
    if (deaths or exits or any("error" in r for r in rows)
            or any(r["nerr"] or not r["us"] for r in trows)):
        out("### Warnings\n")
        bad = warnings(rows, trows, deaths, exits, out)
        out("")
    sys.exit(3 if bad else 0)


def main():
    cmds = dict(ports=cmd_ports, iperf=cmd_iperf, holdsrv=cmd_holdsrv, ttfb=cmd_ttfb,
                idle=cmd_idle, wrk=cmd_wrk, syscalls=cmd_syscalls, profile=cmd_profile,
                report=cmd_report)
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
