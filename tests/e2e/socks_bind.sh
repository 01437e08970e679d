#!/bin/bash
# SOCKS5 BIND (RFC 1928) on the SOCKS front end: curl in FTP active mode
# (--ftp-port) under Dante's socksify, whose BIND request sluice serves,
# fetches a file from pyftpdlib: the FTP server's data connection comes in
# on the port sluice's first reply named.  Then the refusals: a BIND whose
# peer is not the one it named is not handed over.  Through a socks5 hop
# the BIND goes on to the hop's server (another sluice here), which
# listens; through ws and sctp hops the hop's server claims a port of its
# reverse= allowance for the one connection (core/reverse.h).  The claim
# cap (reverse-claims) refuses a BIND with 2, a BIND whose peer never comes
# is closed after bind-timeout= and its port released; through a hop that
# cannot (http) it is refused (7), since the peer would reach this host
# around the hops.
. "$(dirname "$0")/lib.sh"
need_cmd socksify curl
need_py pyftpdlib
mkdir -p "$T/ftp"
echo "a file over an active-mode data connection" >"$T/ftp/f.txt"
fp=$(free_port)
start ftpd /usr/bin/python3 -c "
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer(); a.add_anonymous('$T/ftp')
FTPHandler.authorizer = a
FTPServer(('127.0.0.1', $fp), FTPHandler).serve_forever()"
sp=$(free_port)
start socks "$SLUICE" -v -L "socks5://127.0.0.1:$sp"
wait_port "$fp"
wait_port "$sp"
cat >"$T/dante.conf" <<DANTE
route {
	from: 0.0.0.0/0 to: 0.0.0.0/0 via: 127.0.0.1 port = $sp
	proxyprotocol: socks_v5
	method: none
	command: bind connect
}
DANTE
got=$(SOCKS_CONF="$T/dante.conf" timeout 20 socksify curl -sS -P 127.0.0.1 "ftp://127.0.0.1:$fp/f.txt")
check_eq "curl --ftp-port under socksify: the file came" "a file over an active-mode data connection" "$got"
check "sluice served the BIND and the FTP server's data connection came to it" \
	grep -q "socks5 BIND: 127.0.0.1:[0-9]* connected" "$T/socks.log"
n=$(wc -c <"$T/ftp/f.txt")
check "the relay carried the file ($n bytes down)" grep -q "0 bytes up, $n down" "$T/socks.log"

# bind PORT DST: a raw BIND naming DST; prints the replies' codes, and
# what happens when someone from 127.0.0.1 connects to the bound port
bind() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import socket, struct, sys
port, dst = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
s.sendall(b"\x05\x02\x00\x01" + socket.inet_aton(dst) + struct.pack(">H", 21))
r = b""
while len(r) < 10:
    c = s.recv(10 - len(r))
    if not c:
        break
    r += c
print("reply", r[1])
if r[1] != 0:
    sys.exit(0)
bport = struct.unpack(">H", r[8:10])[0]
try:
    p = socket.create_connection(("127.0.0.1", bport), timeout=5)
    p.settimeout(2)
    print("peer", "closed" if p.recv(1) == b"" else "data")
except (ConnectionResetError, BrokenPipeError):
    print("peer reset")
except ConnectionRefusedError:
    print("peer refused")
except socket.timeout:
    print("peer waits")
s.settimeout(1)
try:
    print("second", s.recv(10)[1:2].hex() or "none")
except socket.timeout:
    print("second none")
PY
}
check_eq "a BIND for 127.0.0.2: a connection from 127.0.0.1 is reset, no second reply" \
	"reply 0 peer reset second none" "$(echo $(bind "$sp" 127.0.0.2))"
check_eq "a BIND for 127.0.0.1: the peer is taken, the second reply says so" \
	"reply 0 peer waits second 00" "$(echo $(bind "$sp" 127.0.0.1))"
up=$(free_port)
start upstream "$SLUICE" -v -L "socks5://127.0.0.1:$up"
cp=$(free_port)
start chained "$SLUICE" -v -L "socks5://127.0.0.1:$cp" -F "socks5://127.0.0.1:$up"
wait_port "$up"
wait_port "$cp"
sed -i "s/port = $sp/port = $cp/" "$T/dante.conf"
got=$(SOCKS_CONF="$T/dante.conf" timeout 20 socksify curl -sS -P 127.0.0.1 "ftp://127.0.0.1:$fp/f.txt")
check_eq "through a socks5 hop: curl --ftp-port under socksify got the file" \
	"a file over an active-mode data connection" "$got"
check "the hop's server (the upstream sluice) listened and took the data connection" \
	grep -q "socks5 BIND: 127.0.0.1:[0-9]* connected" "$T/upstream.log"
check "the first sluice relayed it, naming the upstream's port" \
	grep -q "connected (through the hop)" "$T/chained.log"
check_eq "through a socks5 hop, a raw BIND for 127.0.0.1 is served the same" \
	"reply 0 peer waits second 00" "$(echo $(bind "$cp" 127.0.0.1))"
# Through ws and sctp hops the hop's server claims a port of its reverse=
# allowance for the one connection (a reverse forward's LISTEN for port
# 0), names it in the first reply, and carries the peer back.
KEY=$("$SLUICE" keygen)
rb=$(free_port)
while ! { ! ss -Hltn "sport = :$((rb + 1))" | grep -q . && ! ss -Hltn "sport = :$((rb + 2))" | grep -q .; }; do
	rb=$(free_port)
done
wp=$(free_port)
start wsserver "$SLUICE" -v -L "ws://127.0.0.1:$wp?key=$KEY&reverse=$rb-$((rb + 2))&reverse-claims=2"
wc=$(free_port)
start wschained "$SLUICE" -v -L "socks5://127.0.0.1:$wc?bind-timeout=3s" -F "ws://127.0.0.1:$wp?key=$KEY"
sctpp=$(free_port)
start sctpserver "$SLUICE" -v -L "sctp+udp://127.0.0.1:$sctpp?key=$KEY&reverse=$rb-$((rb + 2))"
sc=$(free_port)
start sctpchained "$SLUICE" -v -L "socks5://127.0.0.1:$sc" -F "sctp+udp://127.0.0.1:$sctpp?key=$KEY"
wait_port "$wp"
wait_port "$wc"
wait_port "$sc"
sed -i "s/port = $cp/port = $wc/" "$T/dante.conf"
got=$(SOCKS_CONF="$T/dante.conf" timeout 20 socksify curl -sS -P 127.0.0.1 "ftp://127.0.0.1:$fp/f.txt")
check_eq "through a ws hop: curl --ftp-port under socksify got the file" \
	"a file over an active-mode data connection" "$got"
check "the ws server listened on a port of its reverse= range for it" \
	grep -Eq "reverse 0.0.0.0:($rb|$((rb + 1))|$((rb + 2))): listening for" "$T/wsserver.log"
check "... took the FTP server's data connection, then stopped listening" \
	grep -q "took the BIND; no longer listening" "$T/wsserver.log"
check "the first sluice named the ws server's address and port" \
	grep -Eq "the hop's server listens on 127.0.0.1:($rb|$((rb + 1))|$((rb + 2)))" "$T/wschained.log"
sed -i "s/port = $wc/port = $sc/" "$T/dante.conf"
got=$(SOCKS_CONF="$T/dante.conf" timeout 20 socksify curl -sS -P 127.0.0.1 "ftp://127.0.0.1:$fp/f.txt")
check_eq "through an sctp+udp hop: curl --ftp-port under socksify got the file" \
	"a file over an active-mode data connection" "$got"
check "the sctp server took the data connection" \
	grep -q "took the BIND; no longer listening" "$T/sctpserver.log"
check_eq "through a ws hop, a raw BIND for 127.0.0.1 is served the same" \
	"reply 0 peer waits second 00" "$(echo $(bind "$wc" 127.0.0.1))"
check_eq "through an sctp hop too" "reply 0 peer waits second 00" "$(echo $(bind "$sc" 127.0.0.1))"
check_eq "through a ws hop, a BIND for 127.0.0.2: 127.0.0.1 is refused, no second reply" \
	"reply 0 peer closed second none" "$(echo $(bind "$wc" 127.0.0.2))"

# the claim cap: reverse-claims=2, so of three BINDs held at once the third
# is refused with 2 (not allowed by the ruleset)
held=$(/usr/bin/python3 - "$wc" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
codes, keep = [], []
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    s.sendall(b"\x05\x02\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack(">H", 0))
    r = s.recv(10)
    codes.append(str(r[1]) if len(r) > 1 else "closed")
    keep.append(s)
print(" ".join(codes))
PY
)
check_eq "three BINDs at once through ws with reverse-claims=2: the third is refused (2)" "0 0 2" "$held"
check "... and both ends say why" bash -c \
	"grep -q 'this key holds 2 reverse listeners already' '$T/wsserver.log' && grep -q 'this key holds 2 reverse listeners already' '$T/wschained.log'"

# a BIND whose peer never comes: bind-timeout=3s closes the client's
# connection and the server releases the port
t0=$(date +%s)
waited=$(/usr/bin/python3 - "$wc" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"\x05\x01\x00")
s.recv(2)
s.sendall(b"\x05\x02\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack(">H", 0))
r = s.recv(10)
print(struct.unpack(">H", r[8:10])[0], "closed" if s.recv(10) == b"" else "data")
PY
)
t1=$(date +%s)
bp=${waited% *}
check_eq "an unanswered BIND: the client's connection is closed" "closed" "${waited#* }"
check "... after bind-timeout=3s (3 to 10 s)" test $((t1 - t0)) -ge 3 -a $((t1 - t0)) -le 10
sleep 0.5
check "... and the ws server released the port" grep -q "reverse 0.0.0.0:$bp: released" "$T/wsserver.log"
check "nothing listens there any more" bash -c "! ss -Hltn 'sport = :$bp' | grep -q ."

# a hop whose server cannot listen (an HTTP proxy): refused with 7
hp=$(free_port)
start httpup "$SLUICE" -L "http://127.0.0.1:$hp"
hc=$(free_port)
start httpchained "$SLUICE" -L "socks5://127.0.0.1:$hc" -F "http://127.0.0.1:$hp"
wait_port "$hp"
wait_port "$hc"
check_eq "a BIND through an http hop: refused with 7 (command not supported)" "reply 7" "$(bind "$hc" 0.0.0.0)"
check "... saying why" grep -q "BIND through this chain is not supported" "$T/httpchained.log"
finish
