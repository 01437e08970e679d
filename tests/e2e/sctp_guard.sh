#!/bin/bash
# A wrong SCTP tunnel key counts in the brute-force guard (core/authguard.h):
# wrong-key clients from one address get it banned; then
# even the right key from that address is refused at once, with one log
# line for the ban; before the ban, each refusal waits for the guard's delay.  SCTP over UDP (usrsctp), a few seconds.
. "$(dirname "$0")/lib.sh"

KEY=$("$SLUICE" keygen)
WRONG=$("$SLUICE" keygen)
mkdir -p "$T/www"
echo "hello" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"
sp=$(free_port)
start server "$SLUICE" -v --auth-guard "free=1,delay=100ms,max-delay=200ms,max-failures=3,window=1m,ban=1m" \
	-L "sctp+udp://127.0.0.1:$sp?host-loopback=1&key=$KEY"
sleep 0.5
# one association per client process (a client backs off after a refusal):
# four wrong-key clients side by side
for i in 1 2 3 4; do
	pw=$(free_port)
	start "wrong$i" "$SLUICE" -L "socks5://127.0.0.1:$pw?connect-timeout=2s" \
		-F "sctp+udp://127.0.0.1:$sp?key=$WRONG"
	wait_port "$pw"
	curl -fsS -m 3 --socks5-hostname "127.0.0.1:$pw" "http://127.0.0.1:$web/" >/dev/null 2>&1 &
	curls="${curls:-} $!"
done
wait $curls
check "wrong keys from 127.0.0.1 get it banned (one log line)" grep -q "auth-guard: 127.0.0.1 banned" "$T/server.log"
pr=$(free_port)
start right "$SLUICE" -L "socks5://127.0.0.1:$pr?connect-timeout=2s" -F "sctp+udp://127.0.0.1:$sp?key=$KEY"
wait_port "$pr"
check_fails "then the right key from the banned address is refused too" \
	curl -fsS -m 4 --socks5-hostname "127.0.0.1:$pr" "http://127.0.0.1:$web/"
check "at association time, before its AUTH is read" grep -q "banned (auth-guard" "$T/server.log"

# below the ban, a wrong key's refusal waits for the guard's delay (a
# lower bound: a loaded machine only makes it later)
sd=$(free_port)
start delayed "$SLUICE" -v --auth-guard "free=0,delay=1500ms,max-delay=1500ms,max-failures=9,window=1m,ban=1m" \
	-L "sctp+udp://127.0.0.1:$sd?host-loopback=1&key=$KEY"
sleep 0.5
pd=$(free_port)
start wrongd "$SLUICE" -L "socks5://127.0.0.1:$pd?connect-timeout=4s" -F "sctp+udp://127.0.0.1:$sd?key=$WRONG"
wait_port "$pd"
curl -fsS -m 6 --socks5-hostname "127.0.0.1:$pd" "http://127.0.0.1:$web/" >/dev/null 2>&1
for _ in $(seq 50); do grep -q "AUTH not authentic" "$T/delayed.log" && break; sleep 0.1; done
held=$(/usr/bin/python3 - "$T/delayed.log" <<'PY'
import datetime, sys
t = {}
for line in open(sys.argv[1]):
    for k in ("the refusal waits", "AUTH not authentic"):
        if k in line and k not in t:
            t[k] = datetime.datetime.fromisoformat(line.split()[0].rstrip("Z"))
print(int((t["AUTH not authentic"] - t["the refusal waits"]).total_seconds() * 1000)
      if len(t) == 2 else -1)
PY
)
check "a wrong key is refused only after the guard's delay (held $held ms)" test "$held" -ge 1400

finish
