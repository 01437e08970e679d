#!/bin/bash
# Port forward (-L tcp://) end to end, plus what every listener shares:
# 256 MiB (SLUICE_E2E_BIG) with sha256, half-close, 1,000 concurrent connections (and
# no resolver thread for their literal target), guard rails
# (max-conns, client ACL, rate, target ACL and its default), metrics, and a
# graceful drain on SIGTERM.
. "$(dirname "$0")/lib.sh"
need_cmd socat
TOOLS="python3 $SRCDIR/tests/e2e/tools.py"
BIG=${SLUICE_E2E_BIG:-256M}

echo_port=$(free_port)
start echo $TOOLS echo-server "$echo_port"
wait_port "$echo_port"

# --- 256 MiB through the forward, sha256 checked
big=$(random_file "$BIG")
want=$(sha "$big")
src=$(free_port)
start src socat -U "TCP-LISTEN:$src,reuseaddr,fork,bind=127.0.0.1" "OPEN:$big,rdonly"
wait_port "$src"
fwd=$(free_port)
start fwd "$SLUICE" -L "tcp://127.0.0.1:$fwd/127.0.0.1:$src"
wait_port "$fwd"
t0=$(date +%s.%N)
got=$(socat -u "TCP:127.0.0.1:$fwd" - | sha256sum | cut -d' ' -f1)
t1=$(date +%s.%N)
check_eq "$BIG through tcp:// with sha256" "$want" "$got"
echo "    ($(python3 -c "print(round(($(stat -c %s "$big")*8/1e9)/($t1-$t0),2))") Gbit/s)"

# --- half-close: the client shuts its write side, the server still answers
hc=$(free_port)
start hc $TOOLS halfclose-server "$hc"
wait_port "$hc"
fwd2=$(free_port)
m=$(free_port)
start fwd2 "$SLUICE" -L "tcp://127.0.0.1:$fwd2/127.0.0.1:$hc" --metrics "127.0.0.1:$m"
wait_port "$fwd2"
ans=$($TOOLS halfclose-client "$fwd2" "hello half-close")
check_eq "half-close: answer after the client's FIN" \
	"got 16 $(printf 'hello half-close' | sha256sum | cut -d' ' -f1)" "$ans"

# --- 1,000 concurrent connections through one listener
fwd3=$(free_port)
start fwd3 "$SLUICE" -q -L "tcp://127.0.0.1:$fwd3/127.0.0.1:$echo_port"
wait_port "$fwd3"
check "1000 concurrent connections echo" $TOOLS concurrent "$fwd3" 1000 4096
check "the listener survived" alive fwd3
# an IP literal is dialed without the resolver: no thread-pool thread
# was started for those 1000 dials (the process is its one thread)
check_eq "a literal target needs no resolver thread" 1 \
	"$(ls "/proc/$(pid_of fwd3)/task" | wc -l)"

# --- guard rails
g=$(free_port)
gm=$(free_port)
start guard "$SLUICE" -L "tcp://127.0.0.1:$g/127.0.0.1:$echo_port?max-conns=2" \
	--metrics "127.0.0.1:$gm"
wait_port "$g"
$TOOLS hold "$g" 2 3 >"$T/hold.out" &
holder=$!
sleep 0.5
r=$($TOOLS send "$g" 68656c6c6f 1)
check_eq "max-conns=2: the third connection is refused" "" "$r"
wait $holder
sleep 0.2
r=$($TOOLS send "$g" 68656c6c6f 0.5)
check_eq "max-conns: served again once they close" "68656c6c6f" "$r"
check "metrics count the refusal" bash -c \
	"curl -fsS http://127.0.0.1:$gm/metrics | grep -q 'sluice_connections_rejected_total{listener=\"tcp://127.0.0.1:$g\"} 1'"

d=$(free_port)
start deny "$SLUICE" -L "tcp://127.0.0.1:$d/127.0.0.1:$echo_port?deny=127.0.0.0/8"
wait_port "$d"
check_eq "deny=127.0.0.0/8 refuses a loopback client" "" "$($TOOLS send "$d" 6869 0.5)"
a=$(free_port)
start allow "$SLUICE" -L "tcp://127.0.0.1:$a/127.0.0.1:$echo_port?allow=10.0.0.0/8"
wait_port "$a"
check_eq "allow=10.0.0.0/8 refuses a loopback client" "" "$($TOOLS send "$a" 6869 0.5)"

rl=$(free_port)
start rate "$SLUICE" -L "tcp://127.0.0.1:$rl/127.0.0.1:$echo_port?rate=1&burst=2"
# wait without connecting (a probe would take a token), then open three
# connections within milliseconds: the burst admits two, the third is over
until ss -Hltn "sport = :$rl" | grep -q .; do sleep 0.05; done
burst=$(python3 -c 'import socket, sys
port = int(sys.argv[1])
def conn():
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:  # refused and reset before connect() returned
        return None
socks = [conn() for _ in range(3)]
out = []
for s in socks:
    try:
        s.settimeout(0.5)
        s.sendall(b"hi")
        out.append("echo" if s.recv(16) == b"hi" else "closed")
    except (OSError, AttributeError):
        out.append("closed")
print(" ".join(out))' "$rl")
check_eq "rate=1,burst=2: two within the burst, the third over it" "echo echo closed" "$burst"
sleep 1.2
check_eq "rate: a token again after a second" "6869" "$($TOOLS send "$rl" 6869 0.3)"

dt=$(free_port)
start dtarget "$SLUICE" -L "tcp://127.0.0.1:$dt/127.0.0.1:$echo_port?deny-target=127.0.0.0/8"
wait_port "$dt"
check_eq "deny-target=127.0.0.0/8 stops the dial" "" "$($TOOLS send "$dt" 6869 0.5)"
check "and says why" grep -q "refused by ACL" "$T/dtarget.log"

# default target policy: a listener on a non-loopback address may not reach loopback
dflt=$(free_port)
start dflt "$SLUICE" -L "tcp://0.0.0.0:$dflt/localhost:$echo_port"
wait_port "$dflt"
check_eq "0.0.0.0 listener: loopback targets refused by default" "" "$($TOOLS send "$dflt" 6869 0.5)"
check "and says why" grep -q "refused by ACL" "$T/dflt.log"
dflt2=$(free_port)
start dflt2 "$SLUICE" -L "tcp://0.0.0.0:$dflt2/localhost:$echo_port?allow-target=127.0.0.1"
wait_port "$dflt2"
check_eq "allow-target=127.0.0.1 opens it explicitly" "6869" "$($TOOLS send "$dflt2" 6869 0.5)"

# --- metrics and health
check "/metrics counts connections and bytes" bash -c \
	"curl -fsS http://127.0.0.1:$m/metrics | grep -q 'sluice_bytes_received_total{listener=\"tcp://127.0.0.1:$fwd2\"} 16'"
check "/metrics has the dial histogram" bash -c \
	"curl -fsS http://127.0.0.1:$m/metrics | grep -Eq 'sluice_dial_duration_seconds_count\{listener=\"tcp://127.0.0.1:$fwd2\"\} [1-9]'"
check "/health is JSON" bash -c \
	"curl -fsS http://127.0.0.1:$m/health | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"status\"]==\"ok\"'"

# --- graceful shutdown: stop accepting, let live connections finish, exit 0
sd=$(free_port)
start sd "$SLUICE" --drain 5s -L "tcp://127.0.0.1:$sd/127.0.0.1:$echo_port"
wait_port "$sd"
exec 7<>"/dev/tcp/127.0.0.1/$sd"
kill -TERM "$(pid_of sd)"
sleep 0.3
check_fails "after SIGTERM new connections are refused" bash -c "exec 3<>/dev/tcp/127.0.0.1/$sd"
echo "still-here" >&7
read -r -t 2 line <&7
check_eq "a live connection keeps working while draining" "still-here" "$line"
exec 7>&-
wait "$(pid_of sd)"
check_eq "exit status 0 once drained" 0 $?
check "it said it drained" grep -q "no longer accepting" "$T/sd.log"

finish
