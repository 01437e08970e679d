#!/bin/bash
# The log where operators want it: --log-file rotated by logrotate (rename,
# then SIGUSR1 from its postrotate) loses no line and writes none twice
# while connections keep coming; --log-format json gives one object a
# line with the connection's fields; --log-rate holds a flood of lines from
# one source to its rate and says how many it suppressed; SIGHUP does not
# kill a process that has nothing to reload; levels in any case.
. "$(dirname "$0")/lib.sh"
need_cmd logrotate curl

mkdir -p "$T/www"
echo "logged" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"

check "SLUICE_LOG=DEBUG (any case) is a level" env SLUICE_LOG=DEBUG "$SLUICE" check -L "tcp://127.0.0.1:1/127.0.0.1:2"
check "--log-level Warning is a level" "$SLUICE" check --log-level Warning -L "tcp://127.0.0.1:1/127.0.0.1:2"
check_eq "log: loud is refused with exit 2" 2 "$(SLUICE_LOG=loud "$SLUICE" check -L tcp://127.0.0.1:1/127.0.0.1:2 >/dev/null 2>&1; echo $?)"

# conns PORT N [STOPFILE]: connect, ask, read to the end and close, N
# times (or until STOPFILE exists); prints how many.  The forward logs one
# "A -> B" line for each.
conns() {
	python3 - "$@" <<'EOF'
import os, socket, sys
n = 0
while n < int(sys.argv[2]) and not (len(sys.argv) > 3 and os.path.exists(sys.argv[3])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
    n += 1
print(n)
EOF
}

# ---- rotation: logrotate renames, its postrotate sends SIGUSR1 ----
fwd=$(free_port)
log=$T/sluice.log
start fwd "$SLUICE" -L "tcp://127.0.0.1:$fwd/127.0.0.1:$web" --log-file "$log" --log-rate 0 --log-format json
wait_port "$fwd"
cat >"$T/logrotate.conf" <<EOF
$log {
	rotate 5
	missingok
	nocompress
	postrotate
		kill -USR1 $(pid_of fwd)
	endscript
}
EOF
# wait_port's connection is logged too: count from here
arrow="\"msg\":\"127.0.0.1:[0-9]* -> 127.0.0.1:$web\""
sleep 0.2
before=$(grep -c "$arrow" "$log")
conns "$fwd" 100000 "$T/stop" >"$T/count" &
load=$!
for _ in 1 2 3; do
	sleep 0.3
	logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf"
done
sleep 0.3
touch "$T/stop"
wait $load
n=$(cat "$T/count")
echo "$n connections while logrotate rotated three times"
sleep 0.3
check "three rotations made three files" test -f "$log.3"
lines=$(cat "$log" "$log".[1-5] | grep -c "$arrow")
check_eq "every connection's line is in one of the files, once" "$((before + n))" "$lines"
ids=$(cat "$log" "$log".[1-5] | grep -o "\"conn\":[0-9]*,\"listener\":\"tcp://127.0.0.1:$fwd\",\"peer\":\"127.0.0.1:[0-9]*\",\"target\":\"127.0.0.1:$web\",\"msg\":\"127.0.0.1:[0-9]* -> " | sort -u | wc -l)
check_eq "each line carries its connection, listener, peer and target" "$((before + n))" "$ids"
check "every line of every file is a JSON object" /usr/bin/python3 -c '
import json, sys
for f in sys.argv[1:]:
    for line in open(f):
        d = json.loads(line)
        assert d["level"] and d["time"] and "msg" in d, line' "$log" "$log".[1-3]
check "the reopen is logged in the new file" grep -q "SIGUSR1: log reopened" "$log"
kill -HUP "$(pid_of fwd)"
sleep 0.2
check "SIGHUP with nothing to reload leaves it running" alive fwd
check "and says so" grep -q "SIGHUP" "$log"

# ---- rate: one source, 400 lines at once, 10 a second allowed ----
rl=$(free_port)
start rate "$SLUICE" -L "tcp://127.0.0.1:$rl/127.0.0.1:$web" --log-rate 10
wait_port "$rl"
sleep 0.2
before=$(grep -c "127.0.0.1:[0-9]* -> 127.0.0.1:$web\$" "$T/rate.log")
t0=$(date +%s%N)
conns "$rl" 400 >/dev/null
secs=$((($(date +%s%N) - t0) / 1000000000 + 1))
sleep 2.5 # a quiet second: the count of what was suppressed is said
shown=$(grep -c "127.0.0.1:[0-9]* -> 127.0.0.1:$web\$" "$T/rate.log")
hidden=$(sed -n 's/.*log: \([0-9]*\) lines\? like "%s -> %s" suppressed.*/\1/p' "$T/rate.log" | awk '{ s += $1 } END { print s + 0 }')
echo "rate: $shown lines shown, $hidden suppressed"
# at most the burst, 10 a second for as long as the flood lasted, and a
# slack of a few lines (the machine may be slow: the bound grows with it)
check "the flood was cut to the rate (burst 50 and 10/s for $secs s)" \
	test "$shown" -le $((before + 50 + 10 * secs + 20))
check_eq "what was shown and what was counted add up" "$((before + 400))" "$((shown + hidden))"
check "the first burst was shown" test "$shown" -ge 50
finish
