# shellcheck shell=bash
# The peers lab, host side (sourced by tests/peers/peers; see README.md).
#
# What it builds goes to $SLUICE_PEERS_CACHE (default /var/cache/sluice-peers):
#   image-STAMP/  the guest's kernel and initramfs (image.sh)
#   debs/       the Debian packages they were made from
#   accel       kvm or tcg: whether KVM can boot the guest on this host
#   softether/  SoftEther's vpnserver, copied and fixed for SSTP (softether.sh)
#   slirp-select.so  the select() shim Debian's slirp needs (slirp-select.c)
# Every step is idempotent and runs under a lock on the cache, so tests
# that run at the same time build once and share the result.

PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_CACHE=${SLUICE_PEERS_CACHE:-/var/cache/sluice-peers}
# shellcheck source=tests/peers/softether.sh
. "$PEERS_DIR/softether.sh"

peers_log() { echo "peers: $*" >&2; }
# a harness error (not a test verdict): exit 2
peers_die() {
	peers_log "error: $*"
	exit 2
}
# what cannot run here (no root, no QEMU, no Debian mirror): exit 77
peers_skip() {
	echo "skipped: $*"
	exit 77
}

# peers_locked CMD...: CMD with the cache's lock held (10 minutes at most)
peers_locked() {
	mkdir -p "$PEERS_CACHE" || peers_skip "cannot create $PEERS_CACHE"
	(
		flock -w 600 9 || peers_die "$PEERS_CACHE/lock is held by another build"
		"$@"
	) 9>>"$PEERS_CACHE/lock"
}

# ---- preparation: peers_prepare image|softether|slirp ...
peers_prepare() {
	local what rc
	[ "$(id -u)" = 0 ] || peers_skip "the peers lab needs root (network namespaces, $PEERS_CACHE)"
	for what in "$@"; do
		case $what in
		image)
			command -v qemu-system-x86_64 >/dev/null ||
				peers_skip "qemu-system-x86 is not installed (scripts/deps.sh)"
			rc=0
			peers_locked "$PEERS_DIR/image.sh" "$PEERS_CACHE" || rc=$?
			[ $rc = 77 ] && peers_skip "the guest's Debian packages cannot be downloaded"
			[ $rc = 0 ] || peers_die "building the guest image failed"
			PEERS_IMAGE=$("$PEERS_DIR/image.sh" "$PEERS_CACHE" --dir)
			peers_locked peers_probe_accel
			;;
		softether)
			[ -x "$SOFTETHER_BIN" ] || peers_skip "softether-vpnserver is not installed (scripts/deps.sh)"
			peers_locked softether_prepare || peers_die "preparing SoftEther failed"
			;;
		slirp)
			command -v slirp >/dev/null || peers_skip "slirp is not installed (scripts/deps.sh)"
			peers_locked peers_slirp_shim || peers_die "building the slirp shim failed"
			;;
		*) peers_die "nothing called '$what' to prepare" ;;
		esac
	done
}

# The original slirp (1.0.17) keeps "(u_int)-1" as a select() timeout in a
# 64-bit tv_usec; glibc refuses it with EINVAL and slirp exits right after
# "SLiRP Ready".  slirp-select.c, preloaded, turns it into a valid timeout.
peers_slirp_shim() {
	local so=$PEERS_CACHE/slirp-select.so src=$PEERS_DIR/slirp-select.c
	[ -s "$so" ] && [ "$so" -nt "$src" ] && return 0
	cc -O2 -Wall -Werror -shared -fPIC -o "$so.new" "$src" -ldl && mv "$so.new" "$so"
}

# Whether KVM can boot the guest.  /dev/kvm may exist and still be unable
# to (a nested or paravirtual KVM whose CPU model the kernel does not
# survive), so the answer comes from a real boot, once per host kernel and
# QEMU, kept in $PEERS_CACHE/accel.  SLUICE_PEERS_ACCEL=kvm|tcg overrides.
peers_probe_accel() {
	local key verdict=tcg
	key="$(uname -r) $(qemu-system-x86_64 --version | head -n 1)"
	[ "$(sed -n 2p "$PEERS_CACHE/accel" 2>/dev/null)" = "$key" ] && return 0
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		if timeout 10 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -display none \
			-no-reboot -serial stdio -kernel "$PEERS_IMAGE/vmlinux" \
			-initrd "$PEERS_IMAGE/initramfs.cpio.gz" \
			-append "console=ttyS0 panic=-1 quiet peers.net=0" </dev/null 2>&1 |
			grep -q -m 1 PEERS-READY; then
			verdict=kvm
		fi
	fi
	printf '%s\n%s\n' "$verdict" "$key" >"$PEERS_CACHE/accel"
	peers_log "accelerator: $verdict"
}

peers_accel() {
	if [ -n "${SLUICE_PEERS_ACCEL:-}" ]; then
		echo "$SLUICE_PEERS_ACCEL"
	else
		head -n 1 "$PEERS_CACHE/accel" 2>/dev/null || echo tcg
	fi
}

# ---- one guest run
# peers_vm_new [DIR]: a run directory (DIR, or a new one under /tmp), with
# the guest's additions under $PEERS_RUN/guest.  It is removed on exit
# unless the run failed or PEERS_KEEP=1.
peers_vm_new() {
	if [ -n "${1:-}" ]; then
		PEERS_RUN=$1
		mkdir -p "$PEERS_RUN"
		rm -rf "$PEERS_RUN/guest"
		PEERS_KEEP=1
	else
		PEERS_RUN=$(mktemp -d "${TMPDIR:-/tmp}/sluice-peers-run.XXXXXX")
	fi
	PEERS_RUN=$(cd "$PEERS_RUN" && pwd)
	mkdir -p "$PEERS_RUN/guest/peers"
	: >"$PEERS_RUN/guest/peers/env"
	PEERS_QEMU_PID=""
	trap peers_vm_cleanup EXIT
	trap 'exit 130' INT TERM
}

peers_vm_cleanup() {
	local rc=$?
	[ -n "${PEERS_QEMU_PID:-}" ] && kill "$PEERS_QEMU_PID" 2>/dev/null
	if [ "$rc" = 0 ] && [ -z "${PEERS_KEEP:-}" ]; then
		rm -rf "$PEERS_RUN"
	else
		peers_log "run directory kept: $PEERS_RUN"
	fi
	return "$rc"
}

# peers_vm_env NAME VALUE: a variable for the guest's test script
peers_vm_env() {
	printf "%s='%s'\n" "$1" "$(printf %s "$2" | sed "s/'/'\\\\''/g")" >>"$PEERS_RUN/guest/peers/env"
}

# peers_vm_qemu: PEERS_QEMU, the QEMU command line that boots the guest with
# the run's additions (their cpio appended to the image's initramfs).
# PEERS_MEM (MiB) and PEERS_APPEND (more kernel arguments) apply.
peers_vm_qemu() {
	local accel=(-accel tcg -cpu max)
	[ "$(peers_accel)" = kvm ] && accel=(-accel kvm -cpu host)
	(cd "$PEERS_RUN/guest" && find . -mindepth 1 | cpio -o -H newc --quiet | gzip -1) >"$PEERS_RUN/extra.cpio.gz"
	cat "$PEERS_IMAGE/initramfs.cpio.gz" "$PEERS_RUN/extra.cpio.gz" >"$PEERS_RUN/initrd.gz"
	PEERS_QEMU=(qemu-system-x86_64 "${accel[@]}" -m "${PEERS_MEM:-384}" -smp 1 -nodefaults
		-display none -no-reboot -kernel "$PEERS_IMAGE/vmlinux" -initrd "$PEERS_RUN/initrd.gz"
		-append "console=ttyS0 panic=-1 quiet mitigations=off tsc=reliable no_timer_check ${PEERS_APPEND:-}")
}

# peers_vm_boot SECONDS QEMU-ARGS...: boot the guest, wait until it powers
# off (or kill it after SECONDS); its console is $PEERS_RUN/console.log.
# PEERS_VERBOSE=1 copies the console to stderr as it comes.
peers_vm_boot() {
	local tmo=$1 tail_pid="" n=0 t0
	shift
	peers_vm_qemu
	: >"$PEERS_RUN/console.log"
	t0=$(date +%s%N)
	"${PEERS_QEMU[@]}" -serial "file:$PEERS_RUN/console.log" "$@" </dev/null >"$PEERS_RUN/qemu.log" 2>&1 &
	PEERS_QEMU_PID=$!
	if [ -n "${PEERS_VERBOSE:-}" ]; then
		tail -n +1 -f --pid="$PEERS_QEMU_PID" "$PEERS_RUN/console.log" | tr -d '\r' >&2 &
		tail_pid=$!
	fi
	while kill -0 "$PEERS_QEMU_PID" 2>/dev/null; do
		if ((n++ > tmo * 5)); then
			kill "$PEERS_QEMU_PID"
			echo "PEERS-RESULT FAIL [host] no power-off within ${tmo}s" >>"$PEERS_RUN/console.log"
			break
		fi
		sleep 0.2
	done
	wait "$PEERS_QEMU_PID" 2>/dev/null
	PEERS_QEMU_PID=""
	rm -f "$PEERS_RUN/initrd.gz" "$PEERS_RUN/extra.cpio.gz" # QEMU's input only
	[ -n "$tail_pid" ] && wait "$tail_pid" 2>/dev/null
	[ -s "$PEERS_RUN/qemu.log" ] && sed 's/^/qemu: /' "$PEERS_RUN/qemu.log" >&2
	PEERS_WALL_MS=$((($(date +%s%N) - t0) / 1000000))
	return 0
}

# peers_vm_verdict: the guest's lines for the log; 0 if it said PASS and
# never FAIL
peers_vm_verdict() {
	local c
	c=$(tr -d '\r' <"$PEERS_RUN/console.log")
	grep -a -E '^PEERS-(READY|PPP-UP|RESULT|EXIT)' <<<"$c" | sed 's/^/  guest: /' >&2
	peers_log "guest ran $((PEERS_WALL_MS / 1000)).$((PEERS_WALL_MS % 1000 / 100)) s ($(peers_accel))"
	grep -aq '^PEERS-RESULT FAIL' <<<"$c" && return 1
	grep -aq '^PEERS-RESULT PASS' <<<"$c"
}

# peers_serial SPEC: PEERS_SERIAL, the QEMU arguments that wire the guest's
# ttyS1 to SPEC:
#   /path.sock         QEMU connects to a UNIX socket (and retries until it exists)
#   listen:/path.sock  QEMU listens on a UNIX socket
#   tcp:HOST:PORT      QEMU connects to a TCP port (and retries)
peers_serial() {
	local spec=$1 dev
	case $spec in
	listen:*)
		rm -f "${spec#listen:}"
		dev="socket,id=s1,path=${spec#listen:},server=on,wait=off"
		;;
	tcp:*)
		spec=${spec#tcp:}
		dev="socket,id=s1,host=${spec%:*},port=${spec##*:},reconnect=1"
		;;
	*) dev="socket,id=s1,path=$spec,reconnect=1" ;;
	esac
	PEERS_SERIAL=(-chardev "$dev" -serial chardev:s1)
}
