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
#   - a changed vpn:// listener, which cannot take its predecessor's UDP
#     socket: refused, saying to restart.
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

echo 'alice pw' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null
vs=$(free_port)
printf 'listen: ["vpn://127.0.0.1:%s?users=%s&net=10.10.0.0/24"]\ncontrol: %s/vctl\n' \
	"$vs" "$T/users.txt" "$T" >"$T/v.yaml"
start vsrv "$SLUICE" -c "$T/v.yaml"
for _ in $(seq 200); do [ -S "$T/vctl" ] && break; sleep 0.1; done
sed -i 's|/24"|/24\&max-conns=9"|' "$T/v.yaml"
"$SLUICE" reload -c "$T/v.yaml" 2>"$T/verr"
check_eq "a changed vpn:// listener: refused (exit 1)" 1 $?
check "saying to restart" grep -q "vpn://127.0.0.1:$vs: changed, and it cannot take the running one's socket: restart sluice to apply it" "$T/verr"
finish
