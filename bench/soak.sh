#!/usr/bin/env bash
# Soak: mixed traffic through every tunnel and the plain proxy at once for
# SOAK_SECS (default 600), and every SAMPLE seconds (default 30) a row of
# errors so far, resident memory and open descriptors per process.
#
#   bench/soak.sh                    # 10 minutes (bench/run.sh soak too)
#   SOAK_SECS=120 SAMPLE=10 bench/soak.sh > soak.md
#   SOAK_TUNNELS="ws vpn" bench/soak.sh
#
# Traffic per tunnel, in a loop until the time is up: a burst of 500 short
# connections (fxc churn, 50 at a time), a 4 MiB download with sha256, and
# 20 connections held open 5 s.  An error is a failed connection or a
# download that was not byte-exact.  Builds fxc (tests/e2e/faults/fxc.c)
# into build/ if missing.  Loopback only; with sstp among the tunnels
# (SoftEther from tests/peers, as root) the whole run moves into network and
# mount namespaces of its own first.  The table goes to stdout.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
export SLUICE=${SLUICE:-$REPO/build/sluice}
SOAK_SECS=${SOAK_SECS:-600}
SAMPLE=${SAMPLE:-30}
FXC=${FXC:-$REPO/build/tests/fxc}
[ -x "$SLUICE" ] || { echo "soak: build sluice first (make)" >&2; exit 1; }
if [ ! -x "$FXC" ]; then
	cmake --build "$(dirname "$SLUICE")" --target fxc >&2 || exit 1
	FXC=$(dirname "$SLUICE")/tests/fxc
fi
# the e2e helpers: temp dir, start/kill, the tunnels' set-ups
. "$REPO/tests/e2e/lib.sh"
. "$REPO/tests/e2e/faults/tunnels.sh"
TUNNELS=${SOAK_TUNNELS:-$TUNNELS_ALL}
# sstp (SoftEther) makes the whole run move into namespaces of its own
tun_netns
ulimit -n 8192 2>/dev/null || true

tun_web f4=4M
want=$(sha "$T/www/f4")
echo_port=$(free_port)
start echo "$FXC" echo "$echo_port" "$TUN_LISTEN"
wait_port "$echo_port"

declare -A PX
for kind in $TUNNELS; do
	sp=$(free_port)
	PX[$kind]=$(free_port)
	tun_server "$kind" "$sp"
	tun_client "$kind" "${PX[$kind]}" "$sp"
	tun_ready "$kind" "${PX[$kind]}" "http://$(tun_target "$kind"):$web/index.html" 30 ||
		echo "soak: $kind did not come up" >&2
done

# traffic KIND: loop until the deadline, errors counted in $T/err-KIND
traffic() {
	local kind=$1 px=${PX[$1]} tgt errs=0 n
	tgt=$(tun_target "$kind")
	while [ "$(date +%s)" -lt "$END" ]; do
		n=$("$FXC" churn "$px" "$tgt" "$echo_port" 500 50 60 | sed -n 's/.*failed=\([0-9]*\).*/\1/p')
		errs=$((errs + ${n:-500}))
		got=$(curl -sS -m 60 --socks5-hostname "127.0.0.1:$px" "http://$tgt:$web/f4" 2>/dev/null |
			sha256sum | cut -d' ' -f1)
		[ "$got" = "$want" ] || errs=$((errs + 1))
		n=$($FX hold "$px" "$tgt" "$echo_port" 20 5 2>/dev/null | sed -n 's/.*refused=\([0-9]*\).*/\1/p')
		errs=$((errs + ${n:-20}))
		echo "$errs" >"$T/err-$kind"
	done
}

START=$(date +%s)
END=$((START + SOAK_SECS))
tpids=""
for kind in $TUNNELS; do
	echo 0 >"$T/err-$kind"
	traffic "$kind" &
	tpids="$tpids $!"
done

echo "# sluice soak: $SOAK_SECS s of mixed traffic, $(date '+%Y-%m-%d %H:%M %Z')"
echo
echo "$(nproc) CPUs (shared), load average at start $(cut -d' ' -f1-3 /proc/loadavg)." \
	"Per tunnel: errors so far, then RSS MiB and open descriptors of client/server" \
	"(sstp: the client only; its server is SoftEther)."
echo
printf '| s |'
for kind in $TUNNELS; do printf ' %s err | RSS MiB | fds |' "$kind"; done
echo
printf '|---|'
for kind in $TUNNELS; do printf -- '---|---|---|'; done
echo
row() {
	printf '| %s |' "$(($(date +%s) - START))"
	for kind in $TUNNELS; do
		local rss="" fd=""
		for p in $(tun_procs "$kind"); do
			rss="$rss${rss:+/}$(($(rss_kb "$p") / 1024))"
			fd="$fd${fd:+/}$(fds "$p")"
		done
		printf ' %s | %s | %s |' "$(cat "$T/err-$kind")" "$rss" "$fd"
	done
	echo
}
row
while [ "$(date +%s)" -lt "$END" ]; do
	sleep "$SAMPLE"
	row
done
for p in $tpids; do wait "$p"; done
sleep 3
row
total=0
for kind in $TUNNELS; do total=$((total + $(cat "$T/err-$kind"))); done
echo
echo "errors in all: $total (the last row is 3 s after the traffic stopped)"
[ "$total" -eq 0 ]
