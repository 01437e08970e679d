#!/usr/bin/env python3
"""Ask the sluice binary which URL options each scheme takes.

    options_probe.py SLUICE SRCDIR TMPDIR

Candidates are every option name the sources look up (url_opt_*(u, "name"),
acl_opt(u, "name")) or declare in an option schema (OPT_BOOL(T, field,
"name", ...), OPT_FUNC("name", ...): src/core/opts.h).  For each listener
and hop scheme the binary knows, `sluice check` must accept a minimal URL;
then each candidate is added with the value 1: the scheme takes it unless
sluice answers "unknown option".  (A bad value, a missing file, "given
twice": the option was looked up, so the scheme takes it.)  Prints one line per scheme:

    L proxy allow allow-target burst ...
    F socks5
    SKIP L sctp why

TMPDIR must hold `key` (a tunnel key), `c.pem`/`k.pem` (a certificate),
`users.vpn` (a VPN users file) and `users.ppp` (name:password lines).
"""
import concurrent.futures
import glob
import os
import re
import subprocess
import sys

sluice, srcdir, tmp = (os.path.abspath(a) for a in sys.argv[1:4])
key = open(os.path.join(tmp, "key")).read().strip()
env = dict(os.environ, SLUICE_KEY_FILE=os.path.join(tmp, "key"))

names = set()
call = re.compile(r'\b(?:url_opt_[a-z]+|acl_opt)\(\s*[^,()]+\s*,\s*"([a-z][a-z0-9-]*)"')
schema = re.compile(r'\bOPT_(?:STR|BOOL|BOOL_DOC|UINT|DURATION|CIDRS)\(\s*[^,()]+,\s*[^,()]+,\s*'
                    r'"([a-z][a-z0-9-]*)"|\bOPT_(?:EACH|FUNC)\(\s*"([a-z][a-z0-9-]*)"')
for f in glob.glob(os.path.join(srcdir, "src", "**", "*.c"), recursive=True):
    text = open(f).read()
    names.update(call.findall(text))
    names.update(a or b for a, b in schema.findall(text))
# and what help --schemas prints and man/options.txt documents
dump = subprocess.run([sluice, "help", "--schemas"], capture_output=True, text=True).stdout
names.update(f[4] for f in (line.split("\t") for line in dump.splitlines()) if f[0] == "option")
for line in open(os.path.join(srcdir, "man", "options.txt")):
    m = re.match(r"([a-z][a-z0-9-]*)=\S* [|] ", line)
    if m:
        names.add(m.group(1))


def known_schemes(flag):
    p = subprocess.run([sluice, "check", "-L", "proxy://127.0.0.1:1", flag, "x-none://h:1"]
                       if flag == "-F" else [sluice, "check", "-L", "x-none://h:1"],
                       capture_output=True, text=True)
    m = re.search(r"\(known: ([^)]*)\)", p.stderr)
    if not m:
        sys.exit("cannot read the known schemes from: " + p.stderr)
    return [s.strip() for s in m.group(1).split(",")]


# a URL of each scheme that `sluice check` accepts as it is
def base(role, scheme):
    tun = {"ws": f"ws://127.0.0.1:1?key={key}", "wss": f"wss://127.0.0.1:1?key={key}",
           "wstan": f"wstan://127.0.0.1:1?key={key}", "sctp+udp": f"sctp+udp://127.0.0.1:1?key={key}",
           "sctp": f"sctp://127.0.0.1:1?key={key}"}
    if role == "L":
        special = {
            "tcp": "tcp://127.0.0.1:1/127.0.0.1:2",
            "udp": "udp://127.0.0.1:1/127.0.0.1:2",
            "dns": "dns://127.0.0.1:1?server=127.0.0.1",
            "wss": f"wss://127.0.0.1:1?key={key}&cert={tmp}/c.pem&certkey={tmp}/k.pem",
            "ppp": f"ppp:///dev/null?users={tmp}/users.ppp",
            "ppp+unix": f"ppp+unix://{tmp}/ppp.sock?users={tmp}/users.ppp",
            "ppp+stdio": f"ppp+stdio://?users={tmp}/users.ppp",
            "ppp+tcp": f"ppp+tcp://127.0.0.1:1?users={tmp}/users.ppp",
            "vpn": f"vpn://127.0.0.1:1?users={tmp}/users.vpn",
            "sstp": f"sstp://127.0.0.1:1?cert={tmp}/c.pem&certkey={tmp}/k.pem&users={tmp}/users.ppp",
            "tun": "tun://sl-opt0",
        }
    else:
        special = {
            "ppp+unix": f"ppp+unix://{tmp}/ppp.sock", "ppp+stdio": "ppp+stdio://",
            "sstp": "sstp://u:p@127.0.0.1:1", "vpn": "vpn://u:p@127.0.0.1:1",
            "group": "group://g",
        }
    return special.get(scheme) or tun.get(scheme) or f"{scheme}://127.0.0.1:1"


def check(role, scheme, url):
    if role == "L":
        args = ["-L", url] + (["-F", "vpn://u:p@127.0.0.1:1"] if scheme == "tun" else [])
    else:
        args = ["-L", "proxy://127.0.0.1:1", "-F", url]
        if scheme == "group":  # a group is declared beside the chain that names it
            args = ["--group", "g=socks5://127.0.0.1:1"] + args
    # cwd: a relative file an option names (pcap=1 makes one) lands in tmp
    p = subprocess.run([sluice, "check"] + args, capture_output=True, text=True, env=env, cwd=tmp)
    return p.returncode, p.stderr.strip()


def probe(role, scheme):
    b = base(role, scheme)
    rc, err = check(role, scheme, b)
    if rc != 0:
        return f"SKIP {role} {scheme} {err}"
    taken = []
    for n in sorted(names):
        _, err = check(role, scheme, b + ("&" if "?" in b else "?") + n + "=1")
        # group://NAME takes none: its options are in its definition
        if f"unknown option '{n}'" not in err and "is named only" not in err:
            taken.append(n)
    return " ".join([role, scheme] + taken)


jobs = [("L", s) for s in known_schemes("-L")] + [("F", s) for s in known_schemes("-F")]
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
    for line in ex.map(lambda j: probe(*j), jobs):
        print(line)
