# shellcheck shell=bash
# Shared helpers for sluice's benchmarks (sourced, not run).
#
#   . "$(dirname "$0")/lib.sh"
#   need_pkgs iperf3 socat
#   bench_init tcpfwd            # temp dir $T, cleanup trap, watchdog
#   start NAME CMD...            # background process, logged to $T/NAME.log
#   wait_port PORT
#
# Everything listens on 127.0.0.1 only.  Every process started with `start`,
# and every process it forked, is stopped when the script exits, however it
# exits.  Progress goes to stderr; tables go to stdout.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SLUICE=${SLUICE:-$REPO/build/sluice}
# shellcheck disable=SC2034 # used by the scripts that source this
LAB=(python3 "$BENCH_DIR/lab.py")
PIDS=()

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# need_pkgs PKG...: apt-get install the Debian packages that are missing.
# No system service may start as a side effect (openssh-server would start
# an sshd on 0.0.0.0:22), so without a policy-rc.d we add one for the
# duration of the install.
need_pkgs() {
	local p missing=() sudo="" policy=/usr/sbin/policy-rc.d added=0
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	log "installing: ${missing[*]}"
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod 755 "$policy"
		added=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	local rc=0 out
	out=$(mktemp /tmp/sluice-bench-apt.XXXXXX)
	{ $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
		>"$out" 2>&1 || rc=$?
	[ "$added" = 0 ] || $sudo rm -f "$policy"
	[ "$rc" = 0 ] || { tail -n 20 "$out" >&2; rm -f "$out"; die "apt-get install ${missing[*]} failed"; }
	rm -f "$out"
}

# The sluice binary, as an absolute path; it must exist.
check_sluice() {
	case $SLUICE in /*) ;; *) SLUICE=$PWD/$SLUICE ;; esac
	[ -x "$SLUICE" ] || die "no sluice binary at $SLUICE (run make, or set SLUICE=...)"
}

# descendants PID: PID and every process below it, parents first.
descendants() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			n = split(root, todo, " ")
			for (i = 1; i <= n; i++) {
				print todo[i]
				m = split(kids[todo[i]], k, " ")
				for (j = 1; j <= m; j++) todo[++n] = k[j]
			}
		}'
}

any_alive() {
	local p
	for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}

# Stop every process we started and whatever it forked (socat's children,
# sshd's sessions): TERM, a moment's grace, then KILL for the stubborn.
stop_all() {
	local p all=()
	for p in "${PIDS[@]}"; do
		mapfile -t -O "${#all[@]}" all < <(descendants "$p")
	done
	((${#all[@]})) || return 0
	kill -TERM "${all[@]}" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		any_alive "${all[@]}" || break
		sleep 0.2
	done
	kill -KILL "${all[@]}" 2>/dev/null || true
	PIDS=()
}

on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	if [ "$rc" -ne 0 ] || [ "${KEEP:-0}" = 1 ]; then
		log "logs kept in $T"
		# a run that ended early: show how each process's log ends
		if [ "$rc" -ne 0 ] && [ -z "${REPORTED:-}" ]; then
			for f in "$T"/*.log; do
				[ -s "$f" ] || continue
				printf -- '----- %s (last 10 lines)\n' "$f" >&2
				tail -n 10 "$f" >&2
			done
		fi
	else
		rm -rf "$T"
	fi
	exit "$rc"
}

# bench_init NAME [MAX_SECONDS]: temp dir, cleanup on any exit, and a
# watchdog that ends the run (with cleanup) if it overstays.
bench_init() {
	T=$(mktemp -d "/tmp/sluice-bench-$1.XXXXXX")
	trap on_exit EXIT
	trap 'log "interrupted"; exit 130' INT TERM
	local max=${2:-600} me=$$
	start watchdog bash -c "sleep $max; echo 'watchdog: over ${max}s, stopping' >&2; kill -TERM $me"
}

# start NAME CMD...: run CMD in the background, output to $T/NAME.log;
# its pid is in $LAST_PID.
start() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# stop PID: stop one process started with `start`, and its children.
stop() {
	local all p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	mapfile -t all < <(descendants "$1")
	kill -TERM "${all[@]}" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		any_alive "${all[@]}" || return 0
		sleep 0.2
	done
	kill -KILL "${all[@]}" 2>/dev/null || true
}

# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT.
# Looks at /proc/net/tcp rather than connecting, so that no stray
# connection reaches iperf3 -s (or opens an ssh channel).
wait_port() {
	local hex n=$((${2:-10} * 20))
	hex=$(printf '%04X' "$1")
	while ((n-- > 0)); do
		grep -q " 0100007F:$hex 00000000:0000 0A " /proc/net/tcp && return 0
		sleep 0.05
	done
	log "nothing listens on 127.0.0.1:$1"
	return 1
}
