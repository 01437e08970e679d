#!/bin/bash
# The UDP VPN, rootless on both sides, on loopback: the server NATs through
# libslirp (10.10.0.1 = the server host's 127.0.0.1), the client is the lwIP
# endpoint behind a SOCKS/HTTP proxy.  A UDP relay (vpn_relay.py) sits
# between them to replay, modify and re-route datagrams.  Checks: 100 MiB
# down and 32 MiB up with sha256, the users file holds no password (and
# vpn-user add follows no link planted at FILE.tmp), a wrong password, a
# wrong pinned key, a replayed handshake, replayed and modified transport
# packets, a client whose address changes mid-transfer, and a flood of
# forged handshakes while a transfer runs (throughput measured).
. "$(dirname "$0")/lib.sh"
E2E="$SRCDIR/tests/e2e"
need_cmd curl socat

web=$(free_port); vp=$(free_port); rp=$(free_port); cp=$(free_port)
pp=$(free_port); mp=$(free_port); bad=$(free_port); bad2=$(free_port)
up=$(free_port); sink=$(free_port)
mkdir -p "$T/www"
big=$(random_file 100M)
ln -s "$big" "$T/www/big"
echo "vpn-ok-$$" >"$T/www/token.txt"
http_server "$web" "$T/www"

ctl() {
	python3 -c 'import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(10)
s.sendto(sys.argv[2].encode(),("127.0.0.1",int(sys.argv[1]))); print(s.recv(999).decode().strip())' "$cp" "$1"
}
metric() {
	curl -s "http://127.0.0.1:$mp/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" {print $2}' | head -1
}

# users file: scrypt verifiers only
echo 'correct horse' | "$SLUICE" vpn-user add "$T/users.txt" alice >"$T/vpnuser.log" 2>&1
printf 'builder\n' | "$SLUICE" vpn-user add "$T/users.txt" bob 10.10.0.20 >>"$T/vpnuser.log" 2>&1
check "vpn-user add wrote two users" test "$(grep -c '^[a-z]*:\$scrypt\$ln=15,r=8,p=1\$' "$T/users.txt")" = 2
check_fails "the users file holds no password" grep -q -e horse -e builder "$T/users.txt"
# vpn-user add never follows a link planted at FILE.tmp, nor reuses a file
# left there
echo keep >"$T/victim"
ln -s "$T/victim" "$T/users.txt.tmp"
check_fails "vpn-user add refuses a symlink at FILE.tmp" \
	sh -c "echo other | '$SLUICE' vpn-user add '$T/users.txt' carol"
check_eq "... and the file it points to is untouched" keep "$(cat "$T/victim")"
check_eq "... and so is the users file" 2 "$(grep -c : "$T/users.txt")"
rm "$T/users.txt.tmp"

start server "$SLUICE" -v --metrics "127.0.0.1:$mp" \
	-L "vpn://127.0.0.1:$vp?users=$T/users.txt&net=10.10.0.0/24"
wait_port "$mp"
pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)
check "the server shows its public key" test -n "$pub"
start relay python3 "$E2E/vpn_relay.py" "$rp" "$vp" "$cp"
sleep 0.3
start client "$SLUICE" -v -L "proxy://127.0.0.1:$pp" -L "tcp://127.0.0.1:$up/10.10.0.1:$sink" \
	-F "vpn://alice:correct%20horse@127.0.0.1:$rp?pub=$pub"
wait_port "$pp"

ok=0
for _ in $(seq 50); do
	curl -fsS --max-time 3 -x "socks5h://127.0.0.1:$pp" "http://10.10.0.1:$web/token.txt" 2>/dev/null |
		grep -q "vpn-ok-$$" && { ok=1; break; }
	sleep 0.2
done
check_eq "a page from the server's loopback through 10.10.0.1" 1 "$ok"
# DATA is AES-128-GCM where the CPU has AES instructions (cipher=auto on
# both ends), ChaCha20-Poly1305 elsewhere; client3 below asks for ChaCha
want=chacha20-poly1305
grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo && want=aes-128-gcm
check "both ends chose DATA $want" sh -c "grep -q 'up, address .*, DATA $want' '$T/client.log' &&
	grep -q 'alice 10.10.0.[0-9]* from .*: up, DATA $want' '$T/server.log'"

# 100 MiB, twice: plain, then through the HTTP proxy side of the same port
t0=$(date +%s.%N)
curl -fsS --max-time 60 -x "socks5h://127.0.0.1:$pp" -o "$T/got1" "http://10.10.0.1:$web/big"
t1=$(date +%s.%N)
check_eq "100 MiB through the VPN (socks5), sha256" "$(sha "$big")" "$(sha "$T/got1")"
base=$(python3 -c "print('%.0f' % (100*8/($t1-$t0)))")
echo "    rootless VPN: 100 MiB in $(python3 -c "print('%.2f' % ($t1-$t0))") s = $base Mbit/s"
rm -f "$T/got1"
curl -fsS --max-time 60 -x "http://127.0.0.1:$pp" -o "$T/got2" "http://10.10.0.1:$web/big"
check_eq "100 MiB through the VPN (http proxy), sha256" "$(sha "$big")" "$(sha "$T/got2")"
rm -f "$T/got2"
# 32 MiB up: lwIP sends, the server's libslirp writes to a socket on its
# loopback (corked for each loop turn's segments)
head -c 32M "$big" >"$T/up.src"
start sink socat -u "TCP-LISTEN:$sink,bind=127.0.0.1,reuseaddr" "CREATE:$T/up.got"
for _ in $(seq 50); do
	ss -ltn | grep -q "127.0.0.1:$sink " && break
	sleep 0.1
done
timeout 60 socat -u "OPEN:$T/up.src" "TCP:127.0.0.1:$up"
for _ in $(seq 100); do
	kill -0 "$(pid_of sink)" 2>/dev/null || break
	sleep 0.1
done
check_eq "32 MiB up through the VPN (tcp forward), sha256" "$(sha "$T/up.src")" "$(sha "$T/up.got")"
rm -f "$T/up.src" "$T/up.got"

# a wrong password, an unknown user, a wrong pinned key
start wrongpw "$SLUICE" -v -L "tcp://127.0.0.1:$bad/10.10.0.1:$web" \
	-F "vpn://alice:wrong@127.0.0.1:$vp?pub=$pub"
wait_port "$bad"
check_fails "a wrong password gets nowhere" \
	curl -fsS --max-time 4 "http://127.0.0.1:$bad/token.txt"
check "the server logged the failed login" grep -q 'alice from .*authentication failed' "$T/server.log"
kill "$(pid_of wrongpw)"
otherkey=$(python3 -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())')
start wrongkey "$SLUICE" -v -L "tcp://127.0.0.1:$bad2/10.10.0.1:$web" \
	-F "vpn://alice:correct%20horse@127.0.0.1:$vp?pub=$otherkey"
wait_port "$bad2"
check_fails "a client pinning another key gets nowhere" \
	curl -fsS --max-time 3 "http://127.0.0.1:$bad2/token.txt"
kill "$(pid_of wrongkey)"

# a replayed handshake: no response, counted
check_eq "a replayed handshake gets no response" "responses 0" "$(ctl replay-init)"
check "the replay was counted" test "$(metric sluice_vpn_replays_total)" -ge 1

# replayed and modified transport packets, and roaming, during a transfer
r0=$(metric sluice_vpn_replays_total); a0=$(metric sluice_vpn_auth_failures_total)
curl -fsS --max-time 60 --limit-rate 25M -x "socks5h://127.0.0.1:$pp" -o "$T/got3" \
	"http://10.10.0.1:$web/big" &
cpid=$!
sleep 0.7
ctl "replay-data 200" >/dev/null
ctl "flip 200" >/dev/null
sleep 0.3
ctl roam >/dev/null
wait "$cpid"
check_eq "transfer with replays, flipped bits and a roaming client, sha256" \
	"$(sha "$big")" "$(sha "$T/got3")"
rm -f "$T/got3"
r1=$(metric sluice_vpn_replays_total); a1=$(metric sluice_vpn_auth_failures_total)
check "200 replayed transport packets were rejected" test $((r1 - r0)) -ge 200
nflip=$(ctl stats | awk '{print $6}')
check_eq "the relay modified 200 packets in flight" 200 "$nflip"
check "200 modified transport packets were rejected" test $((a1 - a0)) -ge 200
# a busy machine may have finished the transfer before the roam: a request
# after it makes the client speak from its new port in any case
curl -fsS --max-time 20 -x "socks5h://127.0.0.1:$pp" "http://10.10.0.1:$web/token.txt" >/dev/null
check "the server followed the roaming client" grep -q 'alice roamed to' "$T/server.log"

# rekeying every second during a transfer, under ChaCha20-Poly1305, with
# the client's DATA opened and sealed on two threads (crypto-workers=2)
pp3=$(free_port)
start client3 "$SLUICE" -v -L "proxy://127.0.0.1:$pp3" \
	-F "vpn://alice:correct%20horse@127.0.0.1:$vp?pub=$pub&rekey=1s&cipher=chacha20-poly1305&crypto-workers=2"
wait_port "$pp3"
curl -fsS --max-time 60 --limit-rate 20M --retry 5 --retry-all-errors --retry-delay 1 \
	-x "socks5h://127.0.0.1:$pp3" -o "$T/got5" "http://10.10.0.1:$web/big"
check_eq "100 MiB while rekeying every second, sha256" "$(sha "$big")" "$(sha "$T/got5")"
rm -f "$T/got5"
check "the server saw rekeys" test "$(grep -c 'alice 10.10.0.[0-9]* from .*: rekeyed' "$T/server.log")" -ge 3
check "client3 asked for ChaCha20-Poly1305 and got it" grep -q 'DATA chacha20-poly1305' "$T/client3.log"
kill "$(pid_of client3)"

# a rekey whose ACCEPT is lost: the server keeps sending under the old keys
# until the client shows it has the new ones, so it sends nothing the client
# cannot open yet (a second relay drops that ACCEPT and counts)
rp2=$(free_port)
cp2=$(free_port)
start relay2 python3 "$E2E/vpn_relay.py" "$rp2" "$vp" "$cp2"
sleep 0.3
pp4=$(free_port)
start client4 "$SLUICE" -v -L "proxy://127.0.0.1:$pp4" \
	-F "vpn://alice:correct%20horse@127.0.0.1:$rp2?pub=$pub&rekey=3s"
wait_port "$pp4"
curl -fsS --max-time 60 --limit-rate 10M -x "socks5h://127.0.0.1:$pp4" -o "$T/got6" \
	"http://10.10.0.1:$web/big" &
dl=$!
sleep 1
cp1=$cp
cp=$cp2
ctl drop-accept >/dev/null
for _ in $(seq 60); do
	early=$(ctl early)
	[[ $early == *"done 1" ]] && break
	sleep 0.25
done
cp=$cp1
wait $dl
check_eq "a rekey's lost ACCEPT: 100 MiB intact, sha256" "$(sha "$big")" "$(sha "$T/got6")"
rm -f "$T/got6"
check_eq "... and nothing sent under keys the client did not have yet" "early 0 done 1" "$early"
kill "$(pid_of client4)" "$(pid_of relay2)"

# a flood of forged handshakes while a real client (straight to the
# server, no python relay in its path) transfers: throughput without and
# with the flood, on the same 2 cores the flood generator uses
pp2=$(free_port)
start client2 "$SLUICE" -L "proxy://127.0.0.1:$pp2" \
	-F "vpn://alice:correct%20horse@127.0.0.1:$vp?pub=$pub"
wait_port "$pp2"
curl -fsS --max-time 10 --retry 5 --retry-all-errors --retry-delay 1 \
	-x "socks5h://127.0.0.1:$pp2" "http://10.10.0.1:$web/token.txt" >/dev/null
t0=$(date +%s.%N)
curl -fsS --max-time 60 -x "socks5h://127.0.0.1:$pp2" -o "$T/got4" "http://10.10.0.1:$web/big"
t1=$(date +%s.%N)
rm -f "$T/got4"
base=$(python3 -c "print('%.0f' % (100*8/($t1-$t0)))")
python3 "$E2E/vpn_flood.py" "$vp" "$pub" 6 >"$T/flood.out" 2>&1 &
fpid=$!
sleep 0.5
t0=$(date +%s.%N)
curl -fsS --max-time 60 -x "socks5h://127.0.0.1:$pp2" -o "$T/got4" "http://10.10.0.1:$web/big"
t1=$(date +%s.%N)
wait "$fpid"
check_eq "100 MiB during a handshake flood, sha256" "$(sha "$big")" "$(sha "$T/got4")"
flood=$(python3 -c "print('%.0f' % (100*8/($t1-$t0)))")
echo "    direct client: $base Mbit/s without a flood, $flood Mbit/s during it; flood: $(cat "$T/flood.out")"
check "the flood got cookie replies, not handshakes" \
	awk '{exit !($4 > 0 && $6 == 0)}' "$T/flood.out"
# the share the real client keeps is reported above, not asserted: on two
# cores the flooder itself takes one, and under ASan the ratio moves (a
# benchmark number, not behaviour); the behaviour is that the transfer
# completes intact within its timeout while the flood gets only cookies
check "the flood established no session (four real clients)" test "$(metric sluice_vpn_sessions_total)" -le 4
check "the server is alive" alive server
check "the client is alive" alive client
finish
