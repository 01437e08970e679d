#!/bin/bash
# The service manager's notification protocol, as systemd's Type=notify
# with WatchdogSec= sees it: a datagram socket named by $NOTIFY_SOCKET
# (the receiver here records each datagram, and when READY=1 comes,
# whether the listener accepts at that moment):
#   - READY=1 once every listener is bound, with a STATUS line; with a
#     PPP hop whose server is not there yet, only once it is and the
#     session is up (STATUS says what it waits for meanwhile)
#   - SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1
#   - WATCHDOG=1 at half of $WATCHDOG_USEC, from the loop: a stopped
#     process (SIGSTOP, as a loop that is stuck) sends none
#   - STOPPING=1 on SIGTERM
#   - the abstract-namespace form of $NOTIFY_SOCKET ("@name") works too
# Outside systemd (no $NOTIFY_SOCKET) nothing is sent: every other test.
. "$(dirname "$0")/lib.sh"

p=$(free_port)
cat >"$T/recv.py" <<'EOF'
import socket, sys, time
path, port, out = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "w", buffering=1)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
out.write("bound\n")
while True:
    msg = s.recv(4096).decode()
    for line in msg.split("\n"):
        out.write("%.3f %s\n" % (time.monotonic(), line))
    if "READY=1" in msg.split("\n"):
        try:  # the forward's target refuses: a reset too says it listened
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            out.write("listening-at-ready yes\n")
        except ConnectionResetError:
            out.write("listening-at-ready yes\n")
        except OSError as e:
            out.write("listening-at-ready no %s\n" % e)
EOF
start recv python3 "$T/recv.py" "$T/notify.sock" "$p" "$T/notes"
bound() { for _ in $(seq 100); do grep -q bound "$1" 2>/dev/null && break; sleep 0.05; done; }
bound "$T/notes"
start sluice env NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=400000 \
	"$SLUICE" -L "tcp://127.0.0.1:$p/127.0.0.1:1"
for _ in $(seq 100); do grep -q "listening-at-ready" "$T/notes" 2>/dev/null && break; sleep 0.05; done
check "READY=1 was sent" grep -q "READY=1" "$T/notes"
check_eq "when READY=1 came, the listener accepted" yes "$(sed -n 's/^listening-at-ready //p' "$T/notes")"
check "with a STATUS line" grep -q "STATUS=serving" "$T/notes"
sleep 1
n1=$(grep -c "WATCHDOG=1" "$T/notes")
check "WATCHDOG=1 every 200 ms (half of 400 ms): $n1 so far" test "$n1" -ge 4
kill -STOP "$(pid_of sluice)"
sleep 0.2
n2=$(grep -c "WATCHDOG=1" "$T/notes")
sleep 1
check_eq "a stopped loop sends no WATCHDOG=1" "$n2" "$(grep -c "WATCHDOG=1" "$T/notes")"
kill -CONT "$(pid_of sluice)"
sleep 0.5
check "it pings again once running" test "$(grep -c "WATCHDOG=1" "$T/notes")" -gt "$n2"
kill -HUP "$(pid_of sluice)"
sleep 0.3
check "SIGHUP: RELOADING=1" grep -q "RELOADING=1" "$T/notes"
check "with MONOTONIC_USEC" grep -Eq "MONOTONIC_USEC=[0-9]+" "$T/notes"
check_eq "then READY=1 again" 2 "$(grep -c "READY=1" "$T/notes")"
kill -TERM "$(pid_of sluice)"
sleep 0.3
check "STOPPING=1 on SIGTERM" grep -q "STOPPING=1" "$T/notes"

# READY=1 waits for the sessions the listeners depend on: a PPP hop whose
# server is not there yet; STATUS says what it waits for
r=$(free_port)
pp=$(free_port)
start recv3 python3 "$T/recv.py" "$T/notify3.sock" "$r" "$T/notes3"
bound "$T/notes3"
start sluice3 env NOTIFY_SOCKET="$T/notify3.sock" "$SLUICE" -L "tcp://127.0.0.1:$r/127.0.0.1:1" \
	-F "ppp+tcp://127.0.0.1:$pp"
wait_port "$r"
sleep 1
check_eq "no READY=1 while the PPP session is down" 0 "$(grep -c "READY=1" "$T/notes3")"
check "STATUS says what it waits for" grep -q "STATUS=waiting for tcp://127.0.0.1:$r: chain default: ppp://127.0.0.1:$pp is" "$T/notes3"
start pppgw "$SLUICE" -L "ppp+tcp://127.0.0.1:$pp?auth=none"
for _ in $(seq 150); do grep -q "READY=1" "$T/notes3" 2>/dev/null && break; sleep 0.1; done
check "READY=1 once the PPP server is there and the session up" grep -q "READY=1" "$T/notes3"

# the abstract namespace, and no watchdog asked for: none sent
q=$(free_port)
start recv2 python3 "$T/recv.py" "@sluice-e2e-notify-$$" "$q" "$T/notes2"
bound "$T/notes2"
start sluice2 env NOTIFY_SOCKET="@sluice-e2e-notify-$$" "$SLUICE" -L "tcp://127.0.0.1:$q/127.0.0.1:1"
for _ in $(seq 100); do grep -q "listening-at-ready" "$T/notes2" 2>/dev/null && break; sleep 0.05; done
check_eq "READY=1 through an abstract socket, listening" yes "$(sed -n 's/^listening-at-ready //p' "$T/notes2")"
sleep 0.5
check_eq "no WATCHDOG=1 without WATCHDOG_USEC" 0 "$(grep -c "WATCHDOG=1" "$T/notes2")"
finish
