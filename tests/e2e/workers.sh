#!/bin/bash
# workers=2 (app/workers.h): one sluice, two worker processes accepting on
# the same addresses (SO_REUSEPORT), the master serving /metrics and the
# control socket for both.  A ws client -> ws server (workers=2) pair and a
# tcp forward (workers=2), on loopback:
#   - many connections land on both workers (per-worker counts non-zero);
#   - a file arrives byte for byte through the ws pair;
#   - the summed /metrics equal the traffic sent through the forward
#     (connections and bytes), and the per-worker counts add up to them;
#   - an open recorded at the server and sent again, eight times, is
#     refused as a replay by whichever worker gets it (both do), the target
#     sees it once: the workers share one replay cache;
#   - a reload (`sluice reload`, then SIGHUP) changes an option in every
#     worker (deny= refuses the client at both, then allows it again);
#   - a worker stopped (SIGSTOP) makes /health 503; its late answer is
#     skipped once it runs again (the next /metrics is right);
#   - a worker killed is started again; the master's descriptors stay as
#     they were; churn returns the workers' descriptors to their baseline;
#   - SIGTERM (to the master and the workers at once, as systemd sends it)
#     drains every worker: a connection open before it is still served,
#     new connections are refused, the master exits after its workers.
. "$(dirname "$0")/lib.sh"
need_cmd curl
need_py websockets
WSPEER="/usr/bin/python3 $SRCDIR/tests/e2e/wspeer.py"

KEY=$("$SLUICE" keygen)
mkdir -p "$T/www"
big=$(random_file 4M)
cp "$big" "$T/www/big"
echo "small" >"$T/www/small"
echo "once" >"$T/www/once"
web=$(free_port)
http_server "$web" "$T/www"

wsp=$(free_port)
fwd=$(free_port)
mp=$(free_port)
conf() { # conf [EXTRA]: the server's configuration, EXTRA on the forward
	cat >"$T/srv.yaml" <<EOF
listen:
  - ws://127.0.0.1:$wsp/t?key=$KEY&host-loopback=1&workers=2
  - tcp://127.0.0.1:$fwd/127.0.0.1:$web?workers=2$1
metrics: 127.0.0.1:$mp
control: $T/ctl
drain: 8s
EOF
}
conf ""
start srv "$SLUICE" -v -c "$T/srv.yaml"
wait_port "$wsp"
wait_port "$fwd"
wait_port "$mp"
cl=$(free_port)
start client "$SLUICE" -L "tcp://127.0.0.1:$cl/127.0.0.1:$web" -F "ws://127.0.0.1:$wsp/t?key=$KEY"
wait_port "$cl"
master=$(pid_of srv)
workers() { pgrep -P "$master" | sort; }
metric() { curl -fsS -m 5 "http://127.0.0.1:$mp/metrics" | awk -v k="$1" '$1 == k {print $2}'; }

check_eq "two worker processes" 2 "$(workers | wc -l)"
check "both listen (one [w0], one [w1] line per listener)" bash -c \
	"for _ in \$(seq 50); do [ \$(grep -c '\\[w[01]\\] listening on' '$T/srv.log') = 4 ] && exit 0; sleep 0.1; done; exit 1"

# ---- many connections through the ws pair land on both workers ----
for _ in $(seq 40); do curl -fsS -m 5 "http://127.0.0.1:$cl/small" >/dev/null || echo fail; done >"$T/many"
check_eq "40 requests through the ws pair" "" "$(cat "$T/many")"
w0=$(metric 'sluice_worker_connections_total{worker="0"}')
w1=$(metric 'sluice_worker_connections_total{worker="1"}')
echo "    per worker: $w0 and $w1 connections"
check "both workers took some" test "${w0:-0}" -gt 0 -a "${w1:-0}" -gt 0
wl="listener=\"ws://127.0.0.1:$wsp\""
fl="listener=\"tcp://127.0.0.1:$fwd\""
fwd0=$(metric "sluice_connections_total{$fl}") # wait_port's
check_eq "the listeners' summed totals are the workers' together" $((w0 + w1)) \
	$(($(metric "sluice_connections_total{$wl}") + fwd0))
check "a file through the ws pair arrives byte for byte" bash -c \
	"curl -fsS -m 20 http://127.0.0.1:$cl/big -o '$T/got' && [ \"\$(sha256sum <'$T/got' | cut -c1-64)\" = '$(sha "$big")' ]"

# ---- the summed metrics are the traffic: 30 requests through the forward ----
bytes=0
for _ in $(seq 30); do
	n=$(curl -fsS -m 5 -o /dev/null -w '%{size_header} %{size_download}' "http://127.0.0.1:$fwd/small")
	bytes=$((bytes + ${n% *} + ${n#* }))
done
sleep 0.3
check_eq "the forward's connections, summed over the workers" $((fwd0 + 30)) \
	"$(metric "sluice_connections_total{$fl}")"
check_eq "the bytes it sent to clients, summed: what curl received" "$bytes" \
	"$(metric "sluice_bytes_sent_total{$fl}")"
check "/health: ok, with both workers" bash -c \
	"curl -fsS http://127.0.0.1:$mp/health | grep '\"status\":\"ok\"' | grep -q '\"worker\":1,'"
check "sluice status shows each worker's counts" bash -c \
	"'$SLUICE' status --control '$T/ctl' | grep -A2 '^workers' | grep -Eq '^  1  pid [0-9]+  up  [0-9]+ active  [1-9][0-9]* accepted'"

# ---- an open recorded, then sent again to the server eight times ----
check "an open through a recording relay" \
	ws_record rclient "$wsp" "ws:///t?key=$KEY" "$T/captured" once
for i in $(seq 8); do
	check_eq "sent again ($i): the decoy (its 404 for the path)" "HTTP/1.1 404 Not Found" \
		"$($WSPEER resend 127.0.0.1 "$wsp" "$T/captured")"
done
check "worker 0 refused it as a replay" grep -q "\[w0\] .*replayed token" "$T/srv.log"
check "worker 1 refused it as a replay" grep -q "\[w1\] .*replayed token" "$T/srv.log"
check_eq "the target saw it once" 1 "$(grep -c 'GET /once ' "$T/http$web.log")"
check_eq "the summed replay refusals: 8" 8 \
	"$(metric "sluice_ws_rejected_total{listener=\"ws://127.0.0.1:$wsp\",reason=\"replay\"}")"

# ---- reload: an option changed in every worker ----
conf "&deny=127.0.0.1/32"
check "sluice reload: ok from both workers" bash -c \
	"'$SLUICE' reload --control '$T/ctl' | tee '$T/reload.out' | grep -q 'worker 1: ok'"
refused=0
for _ in $(seq 12); do curl -fsS -m 3 "http://127.0.0.1:$fwd/small" >/dev/null 2>&1 || refused=$((refused + 1)); done
check_eq "deny= in force: 12 of 12 refused" 12 "$refused"
check "refused by worker 0" grep -q "\[w0\] .*refused 127.0.0.1:[0-9]*: client not allowed" "$T/srv.log"
check "refused by worker 1" grep -q "\[w1\] .*refused 127.0.0.1:[0-9]*: client not allowed" "$T/srv.log"
conf ""
kill -HUP "$master"
sleep 1
check_eq "SIGHUP: deny= gone in both (each worker's second reload)" 4 \
	"$(grep -c 'reload: 2 listeners (1 new, 1 gone)' "$T/srv.log")"
ok=0
for _ in $(seq 12); do curl -fsS -m 3 "http://127.0.0.1:$fwd/small" >/dev/null && ok=$((ok + 1)); done
check_eq "and 12 of 12 go through" 12 "$ok"

# ---- a worker that does not answer (stopped), then answers late ----
total=$(metric "sluice_connections_total{$fl}")
stopped=$(workers | head -1)
kill -STOP "$stopped"
check_eq "/health while a worker does not answer: 503" 503 \
	"$(curl -s -o /dev/null -w '%{http_code}' -m 15 "http://127.0.0.1:$mp/health")"
kill -CONT "$stopped"
check_eq "its late answer is skipped: /metrics as before" "$total" "$(metric "sluice_connections_total{$fl}")"
check_eq "and both workers up" 2 $(($(metric 'sluice_worker_up{worker="0"}') + $(metric 'sluice_worker_up{worker="1"}')))

# ---- descriptors: churn, and a worker killed ----
mfd=$(ls "/proc/$master/fd" | wc -l)
before=$(for p in $(workers); do ls "/proc/$p/fd" | wc -l; done | paste -sd+ | bc)
for _ in $(seq 60); do curl -fsS -m 5 "http://127.0.0.1:$cl/small" >/dev/null; done
sleep 1
after=$(for p in $(workers); do ls "/proc/$p/fd" | wc -l; done | paste -sd+ | bc)
check "60 more connections: the workers' descriptors back to $before (now $after)" test "$after" -le "$before"
victim=$(workers | tail -1)
kill -9 "$victim"
check "the killed worker is started again" bash -c \
	"for _ in \$(seq 50); do [ \$(pgrep -P $master | wc -l) = 2 ] && ! pgrep -P $master | grep -qx $victim && exit 0; sleep 0.1; done; exit 1"
check_eq "and counted" 1 $(($(metric 'sluice_worker_restarts_total{worker="0"}') + $(metric 'sluice_worker_restarts_total{worker="1"}')))
check "the master's descriptors as before ($mfd)" bash -c \
	"for _ in \$(seq 30); do [ \$(ls /proc/$master/fd | wc -l) -eq $mfd ] && exit 0; sleep 0.1; done; ls -l /proc/$master/fd; exit 1"
check "the new worker serves" bash -c \
	"for _ in \$(seq 20); do curl -fsS -m 5 http://127.0.0.1:$fwd/small >/dev/null || exit 1; done"

# ---- SIGTERM drains every worker ----
# a connection open through the forward, its request sent only once the
# drain has begun; SIGTERM to the master and to each worker at once, as a
# service manager stopping the unit's processes sends it: each drains once
wpids=$(workers)
exec 5<>"/dev/tcp/127.0.0.1/$fwd"
sleep 0.3
# shellcheck disable=SC2086
kill -TERM "$master" $wpids
sleep 0.5
check_fails "while draining, a new connection is refused" curl -fsS -m 2 "http://127.0.0.1:$fwd/small"
printf 'GET /small HTTP/1.0\r\n\r\n' >&5
check "the connection open before the signal is still served" bash -c "timeout 5 cat <&5 | grep -q small"
exec 5>&-
check "both workers drained, one of them that connection" bash -c \
	"for _ in \$(seq 100); do [ \$(grep -c 'SIGTERM: no longer accepting' '$T/srv.log') = 2 ] && grep -q 'draining 1 connections' '$T/srv.log' && exit 0; sleep 0.1; done; exit 1"
check "the master exited after them" bash -c \
	"for _ in \$(seq 100); do kill -0 $master 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
left=0
for p in $wpids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
check_eq "no worker left" 0 "$left"
check "the master said all had exited" grep -q "workers: all have exited" "$T/srv.log"
check "no worker took its own signal as a second one" bash -c "! grep -q 'exiting now' '$T/srv.log'"

# ---- a listener whose sessions must be unique stays on one worker ----
"$SLUICE" -L "udp://127.0.0.1:$(free_port)/127.0.0.1:53?workers=2" >"$T/bad.out" 2>&1
rc=$?
check "workers=2 on a udp forward: exit 2 naming the option" bash -c \
	"[ $rc = 2 ] && grep -q \"option 'workers'\" '$T/bad.out'"
timeout 10 "$SLUICE" -L "proxy://127.0.0.1:$(free_port)?workers=2" -F "sstp://u:p@127.0.0.1:1" >"$T/bad2.out" 2>&1
rc=$?
check "workers=2 with an sstp hop in the chain: exit 2, the session must be unique" bash -c \
	"[ $rc = 2 ] && grep -q 'a chain holds a hop whose session must be unique (sstp, ppp, vpn, sctp)' '$T/bad2.out'"
timeout 10 "$SLUICE" --group "g=sstp://u:p@127.0.0.1:1,sstp://u:p@127.0.0.1:2" \
	-L "proxy://127.0.0.1:$(free_port)?workers=2" -F group://g >"$T/bad3.out" 2>&1
rc=$?
check "workers=2 with sstp hops in a group: exit 2" bash -c \
	"[ $rc = 2 ] && grep -q 'a chain holds a hop whose session must be unique' '$T/bad3.out'"
# a group whose members differ: one sstp member is enough
timeout 10 "$SLUICE" --group "g=socks5://127.0.0.1:2,sstp://u:p@127.0.0.1:1" \
	-L "proxy://127.0.0.1:$(free_port)?workers=2" -F group://g >"$T/bad4.out" 2>&1
rc=$?
check "workers=2 with one sstp member in a group: exit 2" bash -c \
	"[ $rc = 2 ] && grep -q 'group g holds a sstp:// hop, whose session must be unique' '$T/bad4.out'"
finish
