#!/bin/bash
# Peers that go silent or crawl cost bounded time and memory:
#
#   a. 200 SOCKS5 UDP associations carry a datagram each, then their
#      clients go silent with the control connections open.  With
#      idle-timeout=2s sluice closes every association and its control
#      connection, its relay sockets with them; descriptors come back to
#      where they were, and a second round does not grow RSS.
#   b. The metrics port under 100 silent connections and one that sends its
#      request a byte every 0.5 s: the oldest are closed as new ones come
#      (64 at most), a real scrape is answered meanwhile, and every one of
#      them is closed 10 s after it was accepted (METRICS_TIMEOUT_MS).
#
# a and b run side by side, then a again (about 20 s).
. "$(dirname "$0")/lib.sh"
PEERS="python3 $SRCDIR/tests/e2e/idle_peers.py"
SC="python3 $SRCDIR/tests/e2e/socks_client.py"

uecho=$(free_port)
start uecho $SC udp-echo "$uecho"
px=$(free_port) m=$(free_port)
# (under ASan: no quarantine, so freed memory is reused as it would be)
start sluice env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" \
	"$SLUICE" --metrics "127.0.0.1:$m" -L "socks5://127.0.0.1:$px?idle-timeout=2s"
wait_port "$px"
wait_port "$m"
pid=$(pid_of sluice)
fds() { ls "/proc/$pid/fd" | wc -l; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
# warm up (first allocations of the loop, the resolver, the metrics page)
$PEERS udp-idle "$px" "$uecho" 5 6 >/dev/null
curl -fsS "http://127.0.0.1:$m/metrics" >/dev/null
sleep 0.5
fd0=$(fds) rss0=$(rss)

$PEERS udp-idle "$px" "$uecho" 200 8 >"$T/udp.out" 2>&1 &
u=$!
$PEERS metrics-flood "$m" 100 12 >"$T/metrics.out" 2>&1 &
mf=$!
wait $u
urc=$?
wait $mf
mrc=$?
sed 's/^/    /' "$T/udp.out" "$T/metrics.out"
check_eq "200 silent UDP associations and their control connections closed" 0 "$urc"
check_eq "the metrics port: evictions, a scrape, every silent or slow client closed" 0 "$mrc"
check "the oldest metrics connections went as new ones came" \
	grep -Eq 'evicted=(3[6-9]|[4-9][0-9]|100) ' "$T/metrics.out"
sleep 0.5
fd1=$(fds) rss1=$(rss)
# a second round: what the first left in the allocator serves it
$PEERS udp-idle "$px" "$uecho" 200 8 >"$T/udp2.out" 2>&1
check_eq "a second round of 200: all closed again" 0 $?
sleep 0.5
fd2=$(fds) rss2=$(rss)
echo "    descriptors: $fd0 before, $fd1 after, $fd2 after a second round"
echo "    RSS KiB: $rss0 before, $rss1 after, $rss2 after a second round"
check "descriptors back to where they were" test "$fd1" -le "$fd0" -a "$fd2" -le "$fd0"
check "RSS flat: the second round adds under 1 MiB" test "$rss2" -le $((rss1 + 1024))
check "sluice is alive and serves" alive sluice
finish
