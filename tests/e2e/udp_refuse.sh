#!/bin/bash
# A chain that cannot carry UDP refuses it, never sends it around: SOCKS5
# UDP ASSOCIATE through -F http:// is answered with reply 7 and a log line
# naming the hop, and no relay is made (the process holds no UDP socket,
# where one held open by udp=direct shows); socks5 over http too (its UDP
# would have to cross http); udp=direct on the listener, written on
# purpose, sends it from this host; udp=off refuses;
# a bad udp= value stops the start with exit status 2.  A few seconds.
. "$(dirname "$0")/lib.sh"

SC="python3 $SRCDIR/tests/e2e/socks_client.py"
uecho=$(free_port)
start uecho $SC udp-echo "$uecho"
hp=$(free_port) # nobody listens there: the hop is never dialed for UDP

pr=$(free_port)
start refuse "$SLUICE" -v -L "proxy://127.0.0.1:$pr" -F "http://127.0.0.1:$hp"
wait_port "$pr"
check "UDP ASSOCIATE through http:// is refused with reply 7" $SC udp-refused "$pr"
sleep 0.2
check "the log names the hop that cannot carry UDP" \
	grep -q "the hop http://127.0.0.1:$hp cannot carry UDP" "$T/refuse.log"
# udp_socks PID: how many UDP sockets the process holds
udp_socks() { ss -H -uanp | grep -c "pid=$1,"; }
check_eq "... and it opened no UDP socket (no relay to send around the hop)" 0 \
	"$(udp_socks "$(pid_of refuse)")"

ps=$(free_port)
start refuse2 "$SLUICE" -L "proxy://127.0.0.1:$ps" -F "http://127.0.0.1:$hp" -F "socks5://127.0.0.1:$hp"
wait_port "$ps"
check "socks5 over http: refused too (its UDP would have to cross http)" $SC udp-refused "$ps"
sleep 0.2
check "... naming the http hop" grep -q "the hop http://127.0.0.1:$hp cannot carry UDP" "$T/refuse2.log"

for v in socks4a socks4; do
	p4=$(free_port)
	start "refuse-$v" "$SLUICE" -L "proxy://127.0.0.1:$p4" -F "$v://127.0.0.1:$hp"
	wait_port "$p4"
	check "through $v:// too" $SC udp-refused "$p4"
	sleep 0.2
	check "... naming it" grep -q "the hop $v://127.0.0.1:$hp cannot carry UDP" "$T/refuse-$v.log"
done

pd=$(free_port)
start direct "$SLUICE" -L "proxy://127.0.0.1:$pd?udp=direct" -F "http://127.0.0.1:$hp"
wait_port "$pd"
check "udp=direct: UDP ASSOCIATE from this host, on purpose" $SC udp "$pd" "$uecho"
# the control: an association held open shows in the same count
held=$(/usr/bin/python3 - "$SRCDIR/tests/e2e" "$pd" "$uecho" "$(pid_of direct)" <<'PY'
import socket, subprocess, sys
sys.path.insert(0, sys.argv[1])
import socks_client as sc
ctl, relay = sc.associate(int(sys.argv[2]))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
u.settimeout(3)
assert sc.udp_roundtrip(u, relay, "127.0.0.1", int(sys.argv[3]), b"held") == b"held"
ss = subprocess.run(["ss", "-H", "-uanp"], capture_output=True, text=True).stdout
print(sum(f"pid={sys.argv[4]}," in l for l in ss.splitlines()))
PY
)
check "... while one is open, the count sees its UDP socket ($held)" test "${held:-0}" -gt 0

po=$(free_port)
start off "$SLUICE" -L "socks5://127.0.0.1:$po?udp=off"
wait_port "$po"
check "udp=off: refused with reply 7" $SC udp-refused "$po"

pc=$(free_port)
start plain "$SLUICE" -L "socks5://127.0.0.1:$pc"
wait_port "$pc"
check "no chain: the direct dialer carries UDP" $SC udp "$pc" "$uecho"

rc=0
"$SLUICE" -L "proxy://127.0.0.1:$(free_port)?udp=around" >"$T/bad.out" 2>&1 || rc=$?
check_eq "udp=around: exit status 2" 2 "$rc"
check "... naming the option" grep -q "option 'udp'" "$T/bad.out"
finish
