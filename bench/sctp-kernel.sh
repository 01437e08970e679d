#!/usr/bin/env bash
# Kernel SCTP (`sctp://` where the kernel has it) next to SCTP over UDP on
# usrsctp, the WebSocket tunnel and a direct connection, in one run.  This
# host's kernel has no SCTP, so the whole run happens in the peers lab's
# guest (tests/peers, whose kernel has SCTP): this build of sluice and its
# libraries go in over 9p (`peers vm --sluice`), and busybox wget fetches a file from
# busybox httpd on the guest's loopback along each path (bench/guest/).
#
# The VM is emulated (TCG, one vCPU): every path's cost, sluice's crypto
# above all, is many times what it is on the host, and direct is nearly
# free.  Read the ratios between the tunnels of the same run (the table
# gives each against sctp+udp), not the MB/s.
#
# Knobs: ROUNDS=3 MB=32 SLUICE=./build/sluice SLUICE_PEERS_CACHE=DIR
set -euo pipefail
ROUNDS=${ROUNDS:-3}
MB=${MB:-32}
HERE=$(cd "$(dirname "$0")" && pwd)
SLUICE=${SLUICE:-$HERE/../build/sluice}
PEERS=$HERE/../tests/peers/peers
[ -x "$SLUICE" ] || { echo "bench/sctp-kernel.sh: build sluice first (make)" >&2; exit 1; }
rc=0
out=$("$PEERS" prepare image 2>&1) || rc=$?
if [ "$rc" = 77 ]; then
	echo "**sctp-kernel: $(grep -m 1 '^skipped: ' <<<"$out")**"
	exit 77
fi
[ "$rc" = 0 ] || { echo "$out" >&2; exit 1; }
T=$(mktemp -d /tmp/sluice-bench-sctpk.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "booting the VM: $ROUNDS rounds of $MB MiB on 4 paths" >&2
"$PEERS" vm --run "$T/vmrun" --mem 512 --timeout $((120 + ROUNDS * MB * 4)) --sluice "$SLUICE" \
	--env MB="$MB" --env ROUNDS="$ROUNDS" "$HERE/guest/sctp_kernel.sh" >"$T/vm.log" 2>&1 || {
	tail -n 20 "$T/vm.log" >&2
	exit 1
}
tr -d '\r' <"$T/vmrun/console.log" | grep -a '^BENCH ' | tee "$T/bench.txt" | sed 's/^/  /' >&2
echo "## sctp-kernel"
echo
echo "In the peers VM (emulated, one vCPU), $MB MiB by busybox wget, $ROUNDS rounds."
echo
python3 - "$T/bench.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5:
        runs.setdefault(f[1], []).append(int(f[4]) / float(f[3]) / 1e6)
    else:
        runs.setdefault(f[1], [])
med = {p: statistics.median(v) for p, v in runs.items() if v}
print("| path (in the VM) | MB/s (median) | runs | vs direct | vs sctp+udp |")
print("|---|---|---|---|---|")
for p in ["direct", "sctp-kernel", "sctp+udp", "ws"]:
    v = runs.get(p, [])
    if not v:
        print(f"| {p} | failed | | | |")
        continue
    m = med[p]
    vs = lambda q: f"{m / med[q]:.2f}" if q in med else ""
    print(f"| {p} | {m:.1f} | {' / '.join(f'{x:.1f}' for x in v)} | {vs('direct')} | {vs('sctp+udp')} |")
PY
