#!/bin/bash
# The SCTP tunnel server's bounds against a misbehaving key holder
# (tests/helpers/sctp_peer: our own client, on usrsctp's SCTP over UDP, no
# root), with a 4 MiB window per stream and assoc-buffer=4 MiB (the kernel
# takes about 2 MiB of each connection to a target that does not read, the
# rest of a window stays with sluice):
#   - 24 streams opened properly, then a whole window of DATA on each, to a
#     target that never reads: the association keeps at most 4 MiB unread,
#     the streams over it are reset;
#   - DATA right after OPEN, before OPEN_OK, on 16 streams whose target
#     never answers the connect: each stream is reset, nothing is kept;
#   - 40 streams from a target that sends without end, to a peer that never
#     reads;
# the server's RSS stays flat through all three (reported), and a real
# client is served afterwards.
. "$(dirname "$0")/lib.sh"
PEER=${SCTP_PEER:-$(dirname "$SLUICE")/tests/sctp_peer}
[ -x "$PEER" ] || skip "no attack peer at $PEER (cmake --build builds it with the tests)"

cat >"$T/targets.py" <<'PY'
import socket, sys, threading, time
cmd, port = sys.argv[1], int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", port))
if cmd == "deaf":      # a full backlog: connects hang, nothing is ever read
    s.listen(0)
    held = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        held.append(c)
    while True:
        time.sleep(60)
s.listen(128)
conns = []
def source(c):
    blob = bytes(256 * 1024)
    try:
        while True:
            c.sendall(blob)
    except OSError:
        pass
while True:
    c, _ = s.accept()
    conns.append(c)    # sink: accepted, never read
    if cmd == "source":
        threading.Thread(target=source, args=(c,), daemon=True).start()
PY
deaf=$(free_port); sink=$(free_port); src=$(free_port)
start deaf python3 "$T/targets.py" deaf "$deaf"
start sink python3 "$T/targets.py" sink "$sink"
start source python3 "$T/targets.py" source "$src"
wait_port "$sink"
wait_port "$src"

KEY=$("$SLUICE" keygen)
sp=$(free_port); mp=$(free_port)
# a small quarantine keeps ASan's freed memory from showing as growth
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16" \
	start server "$SLUICE" --metrics "127.0.0.1:$mp" \
	-L "sctp+udp://127.0.0.1:$sp?host-loopback=1&key=$KEY&window=4194304&assoc-buffer=4194304"
wait_port "$mp"
metric() {
	curl -s "http://127.0.0.1:$mp/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" {print $2}' | head -1
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$(pid_of server)/status"; }
# rss_flat DESC KB: the growth is under 24 MiB.  Under ASan, whose
# quarantine and caches grow with any churn, it is reported, not checked
# (the buffered-bytes gauge still is).
asan=0
ldd "$SLUICE" 2>/dev/null | grep -q libasan && asan=1
rss_flat() {
	if [ $asan = 1 ]; then
		echo "    (ASan build: RSS +$2 kB not checked)"
	else
		check "$1 (RSS +$2 kB < 24 MiB)" test "$2" -lt $((24 * 1024))
	fi
}
# attack NAME MODE N TARGET SECONDS: run the peer, and sample the server's
# RSS once it has sent everything
attack() {
	start "$1" "$PEER" "$sp" "$KEY" "$2" "$3" "127.0.0.1:$4" "$5"
	for _ in $(seq 600); do
		grep -q '^sent' "$T/$1.log" && break
		alive "$1" || break
		sleep 0.1
	done
	sleep 1
	peak=$(rss)
	held=$(metric sluice_sctp_buffered_bytes)
	sleep 1
	later=$(rss)
	wait "$(pid_of "$1")"
}
rss0=$(rss)

attack stall stall 24 "$sink" 3
echo "    $(head -1 "$T/stall.log") bytes to a target that never reads; RSS ${rss0} kB before, ${peak} kB with them sent"
check "24 streams of unread data: the association keeps at most 4 MiB ($held bytes)" \
	test "$held" -le 4194304
check "... the streams over it are reset ($(tail -1 "$T/stall.log" | awk '{print $6}') of 24)" \
	test "$(tail -1 "$T/stall.log" | awk '{print $6}')" -ge 1
check "... and counted" test "$(metric sluice_sctp_buffer_resets_total)" -ge 1
rss_flat "... and memory stays flat" $((peak - rss0))

rss0=$(rss)
attack early early 16 "$deaf" 3
check_eq "DATA before OPEN_OK: all 16 streams reset, none opened" \
	"open_ok 0 open_fail 0 close 16" "$(tail -1 "$T/early.log")"
echo "    $(head -1 "$T/early.log") bytes early; server RSS ${rss0} kB before, ${peak} kB with them sent"
rss_flat "... nothing of it kept" $((peak - rss0))
check_eq "... counted once a stream" 16 "$(metric sluice_sctp_early_data_total)"

rss0=$(rss)
attack hold hold 40 "$src" 3
check_eq "a peer that never reads: its 40 streams were opened" "open_ok 40 open_fail 0 close 0" \
	"$(tail -1 "$T/hold.log")"
# what it holds is the relays' bounded buffers (256 KiB per connection)
# and usrsctp's send buffer: it does not grow while the peer keeps not reading
echo "    server RSS ${rss0} kB before, ${peak} kB with 40 streams open, ${later} kB a second later"
check "... and RSS stays flat (+$((later - peak)) kB in that second)" test $((later - peak)) -lt 2048

sleep 1
check_eq "nothing stays buffered once the peers are gone" 0 "$(metric sluice_sctp_buffered_bytes)"
mkdir -p "$T/www"
echo "still serving" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"
px=$(free_port)
start client "$SLUICE" -L "socks5://127.0.0.1:$px" -F "sctp+udp://127.0.0.1:$sp?key=$KEY"
wait_port "$px"
check "a real client is served afterwards" bash -c \
	"curl -fsS -m 10 --socks5-hostname 127.0.0.1:$px http://127.0.0.1:$web/ | grep -q 'still serving'"
check "the server is alive" alive server
finish
