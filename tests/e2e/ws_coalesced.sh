#!/bin/bash
# The WebSocket tunnels when the server's 101 and the first data frames
# reach the client in one read, as on a loaded machine where the client
# ran late: a relay holds the server's first 256 KiB and writes them at
# once.  The client must keep every byte after the 101's head (it once
# kept only what fit its 16 KiB head buffer, tore the tunnel down as a
# protocol error and reset both ends).  ws, wss and wstan; byte-exact.
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/e2e/faults/tunnels.sh"

mkdir -p "$T/www"
head -c 5M /dev/urandom >"$T/www/big"
want=$(sha "$T/www/big")
web=$(free_port)
http_server "$web" "$T/www"

for kind in ws wss wstan; do
	sp=$(free_port)
	rp=$(free_port)
	px=$(free_port)
	tun_server "$kind" "$sp"
	start "relay-$kind" $FX coalesce-relay "$rp" "$sp" 262144
	wait_port "$rp"
	tun_client "$kind" "$px" "$rp"
	ok=0
	for i in 1 2 3; do
		got=$(curl -sS -m 20 --socks5-hostname "127.0.0.1:$px" "http://127.0.0.1:$web/big" 2>>"$T/curl.err" |
			sha256sum | cut -d' ' -f1)
		[ "$got" = "$want" ] && ok=$((ok + 1))
	done
	check_eq "$kind: 3 downloads of 5 MiB whose first 256 KiB arrive with the 101, byte-exact" 3 "$ok"
	check "$kind: no tunnel reset" bash -c "! grep -q 'closed (reset)' '$T/cli-$kind.log' '$T/srv-$kind.log'"
done
check_fails "curl saw no error" grep . "$T/curl.err"

finish
