#!/usr/bin/env bash
# ppp: the PPP gateway next to the original slirp, as a dial-up peer sees
# them.  Real pppd runs in the peers lab's QEMU guest (tests/peers,
# `peers ppp`) and downloads a file from a web server on the host's loopback
# through 10.0.2.2, once through sluice's gateway (-L ppp+unix://) and once
# through Debian's slirp 1.0.17 in PPP mode (on a pty, `peers slirp`), in
# the same run.  For each: MB/s, the ratio to slirp, the
# server's CPU seconds per GB (utime+stime from /proc/PID/stat, sampled
# when the guest says the download starts and ends) and how busy QEMU was.
#
#   bench/run.sh ppp              (or: SLUICE=build/sluice bench/ppp.sh)
#   PPP_BIG=8M SLIRP_BIG=1M       the two downloads (slirp is slow)
#
# The VM's ttyS1 is a UNIX socket QEMU listens on; socat joins it to the
# server once pppd has put the tty in raw mode, so that neither server
# hears its own LCP echoed by the guest's tty (and both have one socat on
# the path).  Runs in its own network namespace: only loopback exists.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

PPP_BIG=${PPP_BIG:-8M}
SLIRP_BIG=${SLIRP_BIG:-1M}

if [ -z "${BENCH_PPP_NS:-}" ]; then
	need_pkgs socat slirp procps python3
	check_sluice
	need_peers image slirp
	export SLUICE
	BENCH_PPP_NS=1 exec unshare --net bash "$0" "$@"
fi

ip link set lo up
bench_init ppp 1200
HZ=$(getconf CLK_TCK)
P_WEB=8080

# cpu PID: user+system CPU ticks of PID (0 if it is gone)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# child_named PID NAME: the first process below PID whose command is NAME
child_named() {
	local p
	for p in $(descendants "$1"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && { echo "$p"; return 0; }
	done
	return 1
}

# on_console FILE PATTERN SECONDS VMPID: until the guest printed PATTERN
on_console() {
	local n=$(($3 * 50))
	while ((n-- > 0)); do
		grep -aq -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# measure NAME SIZE PEER-KIND BRIDGE PPPD-OPTS: one download of big$SIZE,
# into $RESULTS as "NAME bytes secs peer_ticks qemu_ticks sha_ok"
measure() {
	local name=$1 size=$2 kind=$3 bridge=$4 opts=$5
	local run=$T/vm-$name qs=$T/vm-$name.sock vm peer qemu bridge_pid
	local t0 t1 p0 p1 q0 q1 bytes sha_ok=0
	bytes=$(stat -c %s "$T/www/big$size")
	cat >"$T/guest-$name.sh" <<-G
		rm -f /tmp/big
		vm_log "BENCH-START"
		timeout 1000 wget -q -O /tmp/big http://10.0.2.2:$P_WEB/big$size
		vm_log "BENCH-END rc=\$?"
		vm_log "BENCH-CHECK \$(wc -c </tmp/big) \$(sha256sum /tmp/big | cut -d' ' -f1)"
	G
	log "ppp: $name: $size through pppd in the VM"
	"$PEERS" ppp --run "$run" --timeout 1100 --url none --pppd-opts "$opts" --guest-script "$T/guest-$name.sh" "listen:$qs" \
		>"$T/vm-$name.log" 2>&1 &
	vm=$!
	on_console "$run/console.log" "pppd: Connect:" 120 "$vm" || { log "ppp: $name: pppd did not start"; wait "$vm" || true; return 1; }
	start "bridge-$name" socat UNIX-CONNECT:"$qs" "$bridge"
	bridge_pid=$LAST_PID
	if ! on_console "$run/console.log" "BENCH-START" 120 "$vm"; then
		log "ppp: $name: PPP did not come up"
		wait "$vm" || true
		stop "$bridge_pid"
		return 1
	fi
	qemu=$(child_named "$vm" qemu-system-x86) || qemu=""
	case $kind in
	sluice) peer=$GW_PID ;;
	slirp) peer=$(child_named "$bridge_pid" slirp) || peer="" ;;
	esac
	t0=$(date +%s.%N) p0=$(cpu "$peer") q0=$(cpu "$qemu")
	on_console "$run/console.log" "BENCH-END" 1100 "$vm" || true
	t1=$(date +%s.%N) p1=$(cpu "$peer") q1=$(cpu "$qemu")
	wait "$vm" || true
	stop "$bridge_pid"
	if tr -d '\r' <"$run/console.log" | grep -aq "BENCH-CHECK $bytes $(sha "$T/www/big$size")"; then
		sha_ok=1
	fi
	grep -aq "BENCH-END rc=0" "$run/console.log" || sha_ok=0
	echo "$name $bytes $(python3 -c "print(f'{$t1 - $t0:.2f}')") $((p1 - p0)) $((q1 - q0)) $sha_ok" >>"$RESULTS"
	log "ppp: $name: $(tail -n 1 "$RESULTS")"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

RESULTS=$T/results
: >"$RESULTS"
mkdir -p "$T/www" "$T/home"
head -c "$PPP_BIG" /dev/urandom >"$T/www/big$PPP_BIG"
[ -f "$T/www/big$SLIRP_BIG" ] || head -c "$SLIRP_BIG" /dev/urandom >"$T/www/big$SLIRP_BIG"
start web python3 -m http.server "$P_WEB" --bind 127.0.0.1 --directory "$T/www"
wait_port "$P_WEB"

# sluice: the gateway on a UNIX socket, no authentication (as slirp)
start gw "$SLUICE" -L "ppp+unix://$T/gw.sock?auth=none"
GW_PID=$LAST_PID
for _ in $(seq 50); do [ -S "$T/gw.sock" ] && break; sleep 0.1; done
measure sluice "$PPP_BIG" sluice "UNIX-CONNECT:$T/gw.sock" "" || log "ppp: the sluice run failed"

# slirp: PPP mode on a pty; no pacing of its own (baudrate), HOME a
# scratch dir; it asks the client for its own address, so give it 10.0.2.2
echo "baudrate 100000000" >"$T/home/.slirprc"
measure slirp "$SLIRP_BIG" slirp \
	"EXEC:env HOME=$T/home $PEERS slirp ppp,pty,setsid,ctty,raw,echo=0" \
	":10.0.2.2" || log "ppp: the slirp run failed"
stop_checked "$GW_PID"

# ------------------------------------------------------------- report
# shellcheck disable=SC2034 # read by on_exit in lib.sh
REPORTED=1
python3 - "$RESULTS" "$HZ" "$SLUICE" "$PPP_BIG" "$SLIRP_BIG" <<'PY'
import sys
path, hz, sluice, big, sbig = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = {}
for line in open(path):
    p = line.split()
    if len(p) == 6 and p[0] in ("sluice", "slirp"):
        rows[p[0]] = dict(bytes=int(p[1]), secs=float(p[2]), peer=int(p[3]) / hz,
                          qemu=int(p[4]) / hz, ok=p[5] == "1")
print("## ppp: PPP gateway, a download seen from pppd in a VM")
print()
print("pppd 2.4.9 in the peers' QEMU VM (Linux 6.1, one vCPU, TCG emulation) dials over its "
      "emulated 16550 serial port; a busybox wget in the guest downloads a file of random bytes "
      "from python3 -m http.server on the host's 127.0.0.1 through the server's host alias "
      "10.0.2.2 (sha256 checked afterwards). Time and CPU are taken on the host between the "
      "guest's start and end marks. *Server CPU s/GB*: utime+stime of the PPP server "
      "process per 10⁹ bytes downloaded; *QEMU CPU*: the VM process's CPU over the same "
      "time, in % of one CPU.")
print()
print("| server | download | seconds | MB/s | × slirp | server CPU s/GB | QEMU CPU |")
print("|---|---|---|---|---|---|---|")
names = {"sluice": "sluice `-L ppp+unix://`", "slirp": "slirp 1.0.17, PPP mode on a pty"}
base = rows.get("slirp")
for k in ("sluice", "slirp"):
    r = rows.get(k)
    if not r:
        print(f"| {names[k]} | failed | | | | | |")
        continue
    mbs = r["bytes"] / 1e6 / r["secs"]
    ratio = f"{mbs / (base['bytes'] / 1e6 / base['secs']):.1f}" if base else "?"
    flag = "" if r["ok"] else " (**download incomplete or wrong sha256**)"
    print(f"| {names[k]} | {r['bytes'] / 2**20:g} MiB{flag} | {r['secs']:.1f} | {mbs:.3f} | "
          f"{ratio} | {r['peer'] / (r['bytes'] / 1e9):.1f} | {100 * r['qemu'] / r['secs']:.0f}% |")
print()
bound = []
s = rows.get("sluice")
if s:
    q = 100 * s["qemu"] / s["secs"]
    if q > 85:
        bound.append(f"through sluice the VM's one emulated CPU is the limit: QEMU ran at {q:.0f}% "
                     "of a host CPU, most of it the guest taking the 16550 UART's bytes one "
                     "register read and interrupt at a time plus pppd's async HDLC, all under "
                     "TCG; sluice itself used "
                     f"{100 * s['peer'] / s['secs']:.1f}% of a CPU. The number is a floor set by "
                     "the emulation, not sluice's ceiling (the loopback benchmarks are that)")
    else:
        bound.append(f"through sluice QEMU ran at only {q:.0f}%, so something else bounded the "
                     "transfer (look at the host's load)")
b = rows.get("slirp")
if b:
    q = 100 * b["qemu"] / b["secs"]
    bound.append(f"through slirp QEMU ran at {q:.0f}% and slirp at "
                 f"{100 * b['peer'] / b['secs']:.1f}% of a CPU: neither side is busy, so slirp's "
                 "own TCP pacing and timers bound it (its `baudrate` is set to 100000000 here; "
                 "tests/e2e/ppp_hop.sh sees about 12 KB/s with sluice's hop as its client). "
                 "slirp's download is smaller, so TCP slow start weighs more in its time")
if bound:
    print("What bounds the numbers: " + "; ".join(bound) + ".")
    print()
print("Servers as run:")
print()
print("```")
print(f"sluice  {sluice} -L 'ppp+unix://TMP/gw.sock?auth=none'  <- socat UNIX-CONNECT:<VM ttyS1> UNIX-CONNECT:TMP/gw.sock")
print("slirp   socat UNIX-CONNECT:<VM ttyS1> EXEC:'slirp ppp',pty,setsid,ctty,raw,echo=0  "
      "(HOME with .slirprc 'baudrate 100000000', preloaded with tests/peers/slirp-select.c)")
print("pppd    115200 noauth local nocrtscts ... (`peers ppp` defaults; ':10.0.2.2' for slirp)")
print(f"sizes   PPP_BIG={big} SLIRP_BIG={sbig}")
print("```")
print()
ok = all(k in rows and rows[k]["ok"] for k in ("sluice", "slirp"))
sys.exit(0 if ok else 1)
PY
