#!/bin/bash
# A wrong SCTP tunnel key counts in the brute-force guard (core/authguard.h):
# wrong-key clients from one address get it banned; then
# even the right key from that address is refused at once, with one log
# line for the ban.  SCTP over UDP (usrsctp), a few seconds.
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

finish
