#!/bin/sh
# Guest half of bench/sctp-kernel.sh (run by `tests/peers/peers vm`, in a
# VM whose kernel has SCTP; /mnt holds sluice and its libraries).  Busybox
# wget fetches one file from busybox httpd, all on the guest's loopback,
# along each path in turn, ROUNDS times; every fetch prints
#   BENCH <path> <round> <seconds> <bytes>
# (seconds from /proc/uptime: 10 ms steps, so the file is large).
. /etc/peers/lib.sh
S="/mnt/lib/ld-linux-x86-64.so.2 --library-path /mnt/lib /mnt/sluice"
MB=${MB:-32}
ROUNDS=${ROUNDS:-3}
ip link set lo up 2>/dev/null
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/big bs=1M count="$MB" 2>/dev/null
echo up >/tmp/www/index.html
httpd -p 127.0.0.1:8080 -h /tmp/www
K=$($S keygen)
$S -L "sctp://127.0.0.1:9899?key=$K" >/tmp/kern-srv.log 2>&1 &
$S -L "sctp+udp://127.0.0.1:9898?key=$K" >/tmp/udp-srv.log 2>&1 &
$S -L "ws://127.0.0.1:9897?key=$K" >/tmp/ws-srv.log 2>&1 &
sleep 0.5
$S -L tcp://127.0.0.1:8101/127.0.0.1:8080 -F "sctp://127.0.0.1:9899?key=$K" >/tmp/kern.log 2>&1 &
$S -L tcp://127.0.0.1:8102/127.0.0.1:8080 -F "sctp+udp://127.0.0.1:9898?key=$K" >/tmp/udp.log 2>&1 &
$S -L tcp://127.0.0.1:8103/127.0.0.1:8080 -F "ws://127.0.0.1:9897?key=$K" >/tmp/ws.log 2>&1 &
PATHS="direct:8080 sctp-kernel:8101 sctp+udp:8102 ws:8103"
for p in $PATHS; do # until each path answers (listeners starting, associations coming up)
	i=0
	until timeout 10 wget -q -O /dev/null "http://127.0.0.1:${p#*:}/" || [ $i -ge 40 ]; do
		i=$((i + 1))
		sleep 0.25
	done
done
size=$(wc -c </tmp/www/big)
r=1
while [ $r -le "$ROUNDS" ]; do
	for p in $PATHS; do
		t0=$(cut -d' ' -f1 /proc/uptime)
		if timeout 300 wget -q -O /dev/null "http://127.0.0.1:${p#*:}/big"; then
			t1=$(cut -d' ' -f1 /proc/uptime)
			echo "BENCH ${p%:*} $r $(awk "BEGIN { print $t1 - $t0 }") $size"
		else
			echo "BENCH ${p%:*} $r failed"
		fi
	done
	r=$((r + 1))
done
vm_result PASS "bench done"
