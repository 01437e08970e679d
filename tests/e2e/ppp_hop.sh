#!/bin/bash
# PPP's client role as a hop, against two independent PPP servers: the
# original slirp (Debian's package, in PPP mode on a pty; reached over a
# UNIX socket and over sluice's own stdin/stdout) and sluice's own
# gateway.  A port forward through each reaches a web server on the host's
# loopback (10.0.2.2); 100 MiB with sha256.  Runs in its own network
# namespace (loopback only).
set -u
. "$(dirname "$0")/lib.sh"
need_cmd socat curl
# `peers slirp` is Debian's slirp with the shim it needs on 64-bit hosts
need_peers slirp
in_netns --net
ip link set lo up
BIG=${SLUICE_E2E_PPP_BIG:-100M}
# Debian's slirp 1.0.17 moves about 12 KB/s whatever its baudrate setting,
# so its transfer is small; sluice's own gateway gets the full size.
SLIRP_BIG=${SLUICE_E2E_SLIRP_BIG:-128K}

mkdir -p "$T/www" "$T/home"
for f in "$BIG" "$SLIRP_BIG"; do
	big=$(random_file "$f")
	mv "$big" "$T/www/big$f"
done
echo "hello over ppp" >"$T/www/index.html"
echo "baudrate 100000000" >"$T/home/.slirprc" 
start web python3 -m http.server 8080 --bind 127.0.0.1 --directory "$T/www"
wait_port 8080

# fetch_through NAME PORT SIZE: the page, then a file of SIZE with sha256
fetch_through() {
	local name=$1 port=$2 size=$3 t0 t1 got
	check "$name: a page through the PPP link" bash -c \
		"curl -fsS -m 20 http://127.0.0.1:$port/ | grep -q 'hello over ppp'"
	t0=$(date +%s.%N)
	got=$(curl -fsS -m 300 "http://127.0.0.1:$port/big$size" | sha256sum | cut -d' ' -f1)
	t1=$(date +%s.%N)
	check_eq "$name: $size with sha256" "$(sha "$T/www/big$size")" "$got"
	echo "    $(python3 -c "print(round($(stat -c %s "$T/www/big$size")*8/1e6/($t1-$t0),1))") Mbit/s"
}

# 1. the original slirp as the PPP server
SOCK="$T/slirp.sock"
start slirp socat UNIX-LISTEN:"$SOCK" \
	EXEC:"env HOME=$T/home $PEERS slirp ppp",pty,setsid,ctty,raw,echo=0
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
f1=$(free_port)
start hop-slirp "$SLUICE" -v -L "tcp://127.0.0.1:$f1/10.0.2.2:8080" -F "ppp+unix://$SOCK"
wait_port "$f1"
fetch_through "sluice -> slirp" "$f1" "$SLIRP_BIG"
check "the session came up with slirp's addresses" grep -q "session up: address 10.0.2.15" "$T/hop-slirp.log"

# 1b. slirp again, this time on sluice's stdin/stdout (ppp+stdio hop):
#     socat joins sluice's stdio to slirp's pty
fs=$(free_port)
printf '#!/bin/sh\nexec "%s" -v -L tcp://127.0.0.1:%s/10.0.2.2:8080 -F ppp+stdio://\n' \
	"$SLUICE" "$fs" >"$T/hop-stdio.sh"
chmod +x "$T/hop-stdio.sh"
start hop-stdio socat EXEC:"$T/hop-stdio.sh" \
	EXEC:"env HOME=$T/home $PEERS slirp ppp",pty,setsid,ctty,raw,echo=0
wait_port "$fs"
fetch_through "sluice (stdio) -> slirp" "$fs" "$SLIRP_BIG"
check "the stdio session came up with slirp's addresses" grep -q "session up: address 10.0.2.15" "$T/hop-stdio.log"

# 2. sluice's own gateway as the PPP server, with PAP
printf 'carol:ppp pass\n' >"$T/users"
chmod 600 "$T/users"
SOCK2="$T/gw.sock"
start gw "$SLUICE" -L "ppp+unix://$SOCK2?users=$T/users&auth=pap,chap,mschapv2"
for _ in $(seq 50); do [ -S "$SOCK2" ] && break; sleep 0.1; done
f2=$(free_port)
start hop-gw "$SLUICE" -v -L "tcp://127.0.0.1:$f2/10.0.2.2:8080" -F "ppp+unix://carol:ppp%20pass@$SOCK2"
wait_port "$f2"
fetch_through "sluice -> sluice gateway" "$f2" "$BIG"

# 3. a wrong password: no session, the forward fails, nothing crashes
f3=$(free_port)
start hop-bad "$SLUICE" -L "tcp://127.0.0.1:$f3/10.0.2.2:8080?connect-timeout=3s" \
	-F "ppp+unix://carol:wrong@$SOCK2"
wait_port "$f3"
check_fails "a wrong password gets no session" curl -fsS -m 8 "http://127.0.0.1:$f3/"
check "the gateway is still serving" bash -c "curl -fsS -m 20 http://127.0.0.1:$f2/ | grep -q 'hello over ppp'"

# 4. the gateway killed and restarted: the hop reconnects
kill "$(pid_of gw)"
sleep 0.5
start gw2 "$SLUICE" -L "ppp+unix://$SOCK2?users=$T/users"
for _ in $(seq 50); do [ -S "$SOCK2" ] && break; sleep 0.1; done
ok=0
for _ in $(seq 30); do
	if curl -fsS -m 5 "http://127.0.0.1:$f2/" 2>/dev/null | grep -q 'hello over ppp'; then ok=1; break; fi
	sleep 1
done
check_eq "after a gateway restart the hop reconnects and serves" 1 "$ok"

finish
