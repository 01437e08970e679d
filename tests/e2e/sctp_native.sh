#!/bin/bash
# Native SCTP (`sctp://`, IP protocol 132) on both stacks sluice picks from:
#   a. this host: without kernel SCTP, usrsctp on a raw socket (root).  The
#      whole of sctp.sh runs over it, in a network namespace of its own, so
#      no other raw SCTP socket shares its packets; then the errors a user
#      gets for a stack that cannot run here.
#   b. the peers lab's guest, whose kernel has SCTP (tests/peers): sluice from
#      this build, with its libraries over 9p (peers vm --sluice), on the
#      kernel's SCTP sockets
#      (guest/sctp_kernel.sh): a page, a transfer with sha256, concurrent
#      streams on one association, the kernel's own view of the association,
#      a wrong key, a server restart, SIGTERM.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd curl setpriv
need_peers image
in_netns --net
ip link set lo up

# ---- a. this host ----
if python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, 132)' 2>/dev/null; then
	host_stack="kernel SCTP"
else
	host_stack="SCTP on a raw socket, usrsctp"
fi
echo "--- a. sctp.sh over sctp:// on this host ($host_stack)"
# 64 MiB with sha256 (tens of thousands of packets through the raw socket):
# the 256 MiB of e2e_sctp run through the same association code over UDP
if SCTP_SCHEME=sctp SCTP_STACK="$host_stack" SLUICE_E2E_BIG=${SLUICE_E2E_BIG:-64M} \
	bash "$SRCDIR/tests/e2e/sctp.sh"; then
	pass "a: sctp.sh over sctp:// ($host_stack)"
else
	fail "a: sctp.sh over sctp:// ($host_stack)"
fi

KEY=$("$SLUICE" keygen)
# refuse PATTERN NAME ARGS...: sluice must not start, and must say why
refuse() {
	local pat=$1 name=$2 out rc
	shift 2
	out=$(timeout 5 "$@" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "$pat" <<<"$out"; then
		pass "$name"
	else
		fail "$name (got: $(head -c 300 <<<"$out"))"
	fi
}
p=$(free_port)
refuse "'stack'" "stack=bogus is refused" "$SLUICE" -L "sctp://127.0.0.1:$p?key=$KEY&stack=bogus"
refuse "unknown option 'stack'" "stack= is for sctp:// only" \
	"$SLUICE" -L "sctp+udp://127.0.0.1:$p?key=$KEY&stack=kernel"
if [ "$host_stack" != "kernel SCTP" ]; then
	refuse "this kernel has no SCTP" "stack=kernel without kernel SCTP: a clear error" \
		"$SLUICE" -L "sctp://127.0.0.1:$p?key=$KEY&stack=kernel"
	refuse "needs root" "sctp:// without kernel SCTP and without root: a clear error" \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$SLUICE" -F "sctp://127.0.0.1:$p?key=$KEY" -L "socks5://127.0.0.1:$p"
fi

# ---- b. kernel SCTP in the VM ----
echo "--- b. kernel SCTP in the VM"
envs=()
for v in ASAN_OPTIONS UBSAN_OPTIONS; do
	[ -n "${!v:-}" ] && envs+=(--env "$v=${!v}")
done
"$PEERS" vm --run "$T/vmrun" --mem 512 --timeout 300 --sluice "$SLUICE" --env BIG_MB="${SCTP_VM_MB:-8}" "${envs[@]}" \
	"$SRCDIR/tests/e2e/guest/sctp_kernel.sh" >"$T/vm.log" 2>&1
vm_rc=$?
console=$(tr -d '\r' <"$T/vmrun/console.log" 2>/dev/null)
grep -a "^PEERS-LOG\|^assocs\|^remaddr" <<<"$console" | sed 's/^/    vm: /'
while IFS= read -r line; do
	case "$line" in
	"CHECK PASS: "*) pass "b: ${line#CHECK PASS: }" ;;
	"CHECK FAIL: "*) fail "b: ${line#CHECK FAIL: }" ;;
	esac
done < <(grep -a "^CHECK " <<<"$console")
n=$(grep -ac "^CHECK " <<<"$console")
check_eq "b: the guest ran all its checks" 22 "$n"
check_eq "b: the VM run passed" 0 "$vm_rc"
if [ "$vm_rc" -ne 0 ]; then
	tail -n 20 "$T/vm.log"
	grep -a "^server\|^server2\|^client\|^wrongkey" <<<"$console" | tail -n 80
fi
finish
