#!/bin/bash
# The control socket: `sluice reload` and `sluice status` ask a running
# sluice on it.
#   - the socket is 0600;
#   - `sluice reload -c FILE` (the file's control:) adds a listener, which
#     serves; exit 0 and what changed;
#   - a broken file: exit 1 and the very message `sluice check` gives, the
#     running configuration stays;
#   - `sluice status --control` prints the status (healthy: exit 0), and
#     --json the document;
#   - under a service manager's RuntimeDirectory=, the socket is
#     $RUNTIME_DIRECTORY/control, where `sluice reload` finds it;
#   - attacks: a request that never ends is refused; clients that connect
#     and say nothing take at most CONTROL_CLIENTS (8) places, for at most
#     5 s; a client of another user is not answered;
#   - a socket left by a killed sluice is replaced at start; one that a
#     running sluice answers on is not taken (start fails);
#   - kill -HUP still reloads;
#   - a vpn:// server whose users file and options change takes them in
#     place: a download through a client's session goes on intact across
#     the reload, the session is not redialed, a user added logs in, a
#     user removed loses the session (logged), the others keep theirs;
#     one whose net= changed is refused, naming it and saying to restart,
#     and the running one stays; an sctp+udp:// server likewise (its
#     max-assocs= changes in place under a download; window= is refused).
. "$(dirname "$0")/lib.sh"
need_cmd curl python3

mkdir -p "$T/www"
echo "controlled" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"
a=$(free_port) b=$(free_port)
printf 'listen:\n  - tcp://127.0.0.1:%s/127.0.0.1:%s\ncontrol: %s\n' "$a" "$web" "$T/ctl" >"$T/c.yaml"
start main "$SLUICE" -c "$T/c.yaml"
wait_port "$a"
check_eq "the socket is 0600" 600 "$(stat -c %a "$T/ctl")"
env -u SLUICE_CONTROL -u RUNTIME_DIRECTORY -u SLUICE_METRICS "$SLUICE" reload 2>"$T/none.err"
check_eq "sluice reload with no socket known: exit 2" 2 $?
check "saying what to give" grep -q "give --control PATH, or -c FILE (with control:)" "$T/none.err"

printf 'listen:\n  - tcp://127.0.0.1:%s/127.0.0.1:%s\n  - tcp://127.0.0.1:%s/127.0.0.1:%s\ncontrol: %s\n' \
	"$a" "$web" "$b" "$web" "$T/ctl" >"$T/c.yaml"
out=$("$SLUICE" reload -c "$T/c.yaml")
check_eq "sluice reload: exit 0, what changed" "0 reloaded: 2 listeners (1 new, 0 gone)" "$? $out"
check_eq "the added listener serves" controlled "$(curl -fsS -m 5 "http://127.0.0.1:$b/")"

cp "$T/c.yaml" "$T/good.yaml"
sed -i "s|127.0.0.1:$web\$|127.0.0.1:$web?max-conns=lots|" "$T/c.yaml"
msg=$("$SLUICE" check -c "$T/c.yaml" 2>&1 | sed 's/^sluice: //')
"$SLUICE" reload --control "$T/ctl" >"$T/out" 2>"$T/err"
check_eq "a broken file: exit 1" 1 $?
check_eq "with sluice check's message" "sluice reload: refused: $msg" "$(cat "$T/err")"
check "which the log has too" grep -qF "reload refused: $msg; the running configuration stays" "$T/main.log"
check_eq "the running configuration serves on" controlled "$(curl -fsS -m 5 "http://127.0.0.1:$b/")"
cp "$T/good.yaml" "$T/c.yaml"

"$SLUICE" status --control "$T/ctl" >"$T/st"
check_eq "sluice status --control: healthy, exit 0" 0 $?
check "it lists both listeners" bash -c "grep -q 'tcp://127.0.0.1:$a  listening' '$T/st' && grep -q 'tcp://127.0.0.1:$b  listening' '$T/st'"
check "and without --control, the file's control: is asked" bash -c "'$SLUICE' status -c '$T/c.yaml' | grep -q ': healthy'"
check "--json: the document" bash -c "'$SLUICE' status --control '$T/ctl' --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"status\"] == \"ok\" and len(d[\"listeners\"]) == 2'"

# attacks
check_eq "a request that never ends is refused" "refused: the request is too long" \
	"$(head -c 200 /dev/zero | tr '\0' x | python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect('$T/ctl'); s.sendall(sys.stdin.buffer.read())
print(s.recv(200).decode().strip())")"
python3 - "$T/ctl" >"$T/idle.out" <<'EOF' &
import socket, sys, time
idle = []
for _ in range(12):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    idle.append(s)
# accepted in order: the last 4 find the 8 places taken and are closed
t0 = time.time()
closed = 0
for s in idle[8:]:
    s.settimeout(4)
    try:
        closed += s.recv(10) == b""
    except socket.timeout:
        pass
print(closed, round(time.time() - t0))
t0 = time.time()
for s in idle[:8]:
    s.settimeout(15)
    s.recv(10)
print(round(time.time() - t0))
EOF
idle=$!
sleep 1
check "while 8 idle clients wait, another is turned away" \
	bash -c "! '$SLUICE' reload --control '$T/ctl' 2>/dev/null"
wait $idle
read -r closed took <<<"$(sed -n 1p "$T/idle.out")"
check_eq "the 4 idle clients past the 8 places are closed" 4 "$closed"
check "at once (${took} s), not after the 5 s to ask" test "$took" -le 2
check "the 8 others within the 5 s to ask ($(sed -n 2p "$T/idle.out") s more)" \
	test "$(sed -n 2p "$T/idle.out")" -le 9
check "then sluice reload is answered again" "$SLUICE" reload --control "$T/ctl"
if command -v setpriv >/dev/null; then
	chmod 711 "$T"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$SLUICE" reload --control "$T/ctl" \
		2>"$T/nobody.err"
	check_eq "another user cannot reach it (exit 2)" 2 $?
	check "refused by the file's mode" grep -q "Permission denied" "$T/nobody.err"
fi

# a second sluice on the same socket: refused; a stale one: replaced
"$SLUICE" -L "tcp://127.0.0.1:$(free_port)/127.0.0.1:$web" --control "$T/ctl" 2>"$T/second.err"
check_eq "a second sluice on the socket exits 1" 1 $?
check "saying another sluice answers on it" grep -q "another sluice answers on it" "$T/second.err"
kill -9 "$(pid_of main)"
sleep 0.2
check "the killed sluice left its socket" test -S "$T/ctl"
start main2 "$SLUICE" -c "$T/c.yaml"
wait_port "$b"
check "a new sluice replaces the stale socket" "$SLUICE" reload -c "$T/c.yaml"
kill -HUP "$(pid_of main2)"
sleep 0.3
check "kill -HUP still reloads" grep -q "SIGHUP: reading the configuration again" "$T/main2.log"
kill "$(pid_of main2)"
sleep 0.5
check "the socket goes with the process" test ! -e "$T/ctl"

# the service manager's runtime directory
mkdir -p "$T/run"
c=$(free_port)
start rd env RUNTIME_DIRECTORY="$T/run" "$SLUICE" -L "tcp://127.0.0.1:$c/127.0.0.1:$web"
wait_port "$c"
check "the socket is \$RUNTIME_DIRECTORY/control" test -S "$T/run/control"
check "where sluice reload finds it" env RUNTIME_DIRECTORY="$T/run" "$SLUICE" reload

# a VPN server whose users file and options change: in place, its
# clients' sessions kept
echo 'alice pw' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null
big=$(random_file 2M)
mv "$big" "$T/www/big"
vs=$(free_port)
vopts="users=$T/users.txt&net=10.10.0.0/24&host-loopback=1"
printf 'listen: ["vpn://127.0.0.1:%s?%s"]\ncontrol: %s/vctl\n' "$vs" "$vopts" "$T" >"$T/v.yaml"
start vsrv "$SLUICE" -c "$T/v.yaml"
for _ in $(seq 200); do
	pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/vsrv.log" | head -1)
	[ -n "$pub" ] && [ -S "$T/vctl" ] && break
	sleep 0.05
done
ca=$(free_port) cb=$(free_port)
start va "$SLUICE" -L "tcp://127.0.0.1:$ca/10.10.0.1:$web" -F "vpn://alice:alice%20pw@127.0.0.1:$vs?pub=$pub"
wait_port "$ca"
check_eq "alice through the VPN" controlled "$(curl -fsS -m 10 "http://127.0.0.1:$ca/")"
# a download in flight across the reload
curl -fsS -m 30 --limit-rate 400k -o "$T/big.got" "http://127.0.0.1:$ca/big" &
dl=$!
sleep 1
echo 'bob pw' | "$SLUICE" vpn-user add "$T/users.txt" bob 2>/dev/null
sed -i 's|host-loopback=1|host-loopback=1\&max-sessions=8\&max-conns=9|' "$T/v.yaml"
out=$("$SLUICE" reload -c "$T/v.yaml")
check_eq "a VPN server's users and options changed: reloaded in place" \
	"0 reloaded: 1 listener (0 new, 0 gone)" "$? $out"
check "its log says what it kept" grep -q "vpn://127.0.0.1:$vs: reloaded in place: 2 users, 1 sessions kept, 0 ended; max-sessions=8" "$T/vsrv.log"
wait "$dl"
check_eq "the download in flight across it ends intact" "$(sha256sum <"$T/www/big")" "$(sha256sum <"$T/big.got")"
check_eq "alice still through the VPN" controlled "$(curl -fsS -m 10 "http://127.0.0.1:$ca/")"
check_eq "on the session she had: it came up once" 1 "$(grep -c "session up" "$T/va.log")"
start vb "$SLUICE" -L "tcp://127.0.0.1:$cb/10.10.0.1:$web" -F "vpn://bob:bob%20pw@127.0.0.1:$vs?pub=$pub"
wait_port "$cb"
check_eq "bob, added, logs in" controlled "$(curl -fsS -m 10 "http://127.0.0.1:$cb/")"
sed -i '/^alice:/d' "$T/users.txt"
check "alice removed: reloaded" "$SLUICE" reload -c "$T/v.yaml"
check "her session ends, logged" grep -q "vpn: alice 10.10.0.2 gone: no longer in the users file (reload)" "$T/vsrv.log"
check "nothing passes for her" bash -c "! curl -fsS -m 3 http://127.0.0.1:$ca/"
check_eq "bob's session goes on" controlled "$(curl -fsS -m 10 "http://127.0.0.1:$cb/")"
sed -i 's|net=10.10.0.0/24|net=10.11.0.0/24|' "$T/v.yaml"
"$SLUICE" reload -c "$T/v.yaml" 2>"$T/verr"
check_eq "a VPN server's net= changed: refused (exit 1)" 1 $?
check "naming the option, saying to restart" grep -q "vpn://127.0.0.1:$vs: net=: changed, and it cannot change while the VPN server runs (its clients' sessions hold it): restart sluice to apply it" "$T/verr"
check_eq "bob's session goes on after the refusal" controlled "$(curl -fsS -m 10 "http://127.0.0.1:$cb/")"
check_eq "on the session he had: it came up once" 1 "$(grep -c "session up" "$T/vb.log")"

# an SCTP server (over UDP) likewise: max-assocs changes in place, the
# association and a download through it go on; window= cannot change
key=$("$SLUICE" keygen)
ss=$(free_port) sc=$(free_port)
sopts="key=$key&host-loopback=1"
printf 'listen: ["sctp+udp://127.0.0.1:%s?%s"]\ncontrol: %s/sctl\n' "$ss" "$sopts" "$T" >"$T/s.yaml"
start ssrv "$SLUICE" -c "$T/s.yaml"
for _ in $(seq 200); do [ -S "$T/sctl" ] && break; sleep 0.05; done
start scli "$SLUICE" -L "tcp://127.0.0.1:$sc/127.0.0.1:$web" -F "sctp+udp://127.0.0.1:$ss?key=$key"
wait_port "$sc"
check_eq "through the SCTP tunnel" controlled "$(curl -fsS -m 10 "http://127.0.0.1:$sc/")"
curl -fsS -m 30 --limit-rate 400k -o "$T/sbig.got" "http://127.0.0.1:$sc/big" &
dl=$!
sleep 1
sed -i 's|host-loopback=1|host-loopback=1\&max-assocs=8|' "$T/s.yaml"
out=$("$SLUICE" reload -c "$T/s.yaml")
check_eq "an SCTP server's options changed: reloaded in place" \
	"0 reloaded: 1 listener (0 new, 0 gone)" "$? $out"
check "its log says so" grep -q "sctp+udp://127.0.0.1:$ss: reloaded in place: max-assocs=8" "$T/ssrv.log"
wait "$dl"
check_eq "the download in flight across it ends intact" "$(sha256sum <"$T/www/big")" "$(sha256sum <"$T/sbig.got")"
check_eq "still through the SCTP tunnel" controlled "$(curl -fsS -m 10 "http://127.0.0.1:$sc/")"
check_eq "on the association it had: it came up once" 1 "$(grep -c "sctp association with .* up" "$T/ssrv.log")"
sed -i 's|max-assocs=8|max-assocs=8\&window=262144|' "$T/s.yaml"
"$SLUICE" reload -c "$T/s.yaml" 2>"$T/serr"
check_eq "an SCTP server's window= changed: refused (exit 1)" 1 $?
check "naming the option, saying to restart" grep -q "sctp+udp://127.0.0.1:$ss: window=: changed, and it cannot change while the SCTP server runs (its socket and associations hold it): restart sluice to apply it" "$T/serr"
check_eq "the tunnel goes on after the refusal" controlled "$(curl -fsS -m 10 "http://127.0.0.1:$sc/")"
finish
