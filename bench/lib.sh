# shellcheck shell=bash
# Shared helpers for sluice's benchmarks (sourced, not run).
#
#   . "$(dirname "$0")/lib.sh"
#   need_pkgs iperf3 socat
#   bench_init tcpfwd            # temp dir $T, cleanup trap, watchdog
#   start NAME CMD...            # background process, logged to $T/NAME.log
#   wait_port PORT
#
# and, for the iperf3 rounds, with the script's own start_path PATH (start
# or restart the relay of one path, filling PORT[PATH] and RELAY[PATH]):
#   start_iperf_server           # iperf3 -s on $P_IPERF
#   check_paths                  # drop from ORDER the paths that do not work
#   run_iperf_round R            # every PATH:DIR of ORDER once, into $RESULTS
#
# Everything listens on 127.0.0.1 only.  Every process started with `start`,
# and every process it forked, is stopped when the script exits, however it
# exits.  Progress goes to stderr; tables go to stdout.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SLUICE=${SLUICE:-$REPO/build/sluice}
# run as root, a sluice that serves the network must be told to stay root
# (core/priv.h); the benchmarks say so here, their command lines stay as written
[ "$(id -u)" = 0 ] && export SLUICE_USER="${SLUICE_USER-root}"
# shellcheck disable=SC2034 # used by the scripts that source this
LAB=(python3 "$BENCH_DIR/lab.py")
PIDS=()
declare -A PNAME # pid -> the NAME it was started with (its log is $T/NAME.log)
declare -A PORT  # path -> the port iperf3 -c connects to
declare -A RELAY # path -> pids whose process trees are the relay

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

# need_peers image|softether|slirp...: what the benchmark needs of the
# peers lab (tests/peers/README.md), then run as "$PEERS" ppp|vm|softether|
# slirp ...  Where it cannot run (no root, no QEMU, no Debian mirror) the
# benchmark says so in its output and exits 77, which run.sh reports as
# skipped.  Call it before entering a network namespace.
PEERS=$REPO/tests/peers/peers
need_peers() {
	local out rc=0
	out=$("$PEERS" prepare "$@" 2>&1) || rc=$?
	[ "$rc" = 0 ] && return 0
	if [ "$rc" = 77 ]; then
		echo "**$(basename "$0" .sh): $(grep -m 1 '^skipped: ' <<<"$out")**"
		echo
		exit 77
	fi
	printf '%s\n' "$out" >&2
	die "the peers lab could not prepare: $*"
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
	PNAME[$LAST_PID]=$name
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

# stop_checked PID: stop one process started with `start` the way a user
# would (SIGTERM alone, then up to 10 s to drain and exit), and record in
# $RESULTS how it ended unless that was a clean exit 0.
stop_checked() {
	local pid=$1 what=${PNAME[$1]:-pid$1} rc=0 keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		rc=-1
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if ((rc == 0)); then
		wait "$pid" 2>/dev/null || rc=$?
	else
		wait "$pid" 2>/dev/null || true
	fi
	PIDS=("${keep[@]}")
	((rc == 0)) && return 0
	log "WARNING: $what (pid $pid) did not end cleanly on SIGTERM: exit status $rc. Its log ends:"
	tail -n 2 "$T/$what.log" >&2 || true
	python3 -c 'import json,sys; print(json.dumps(dict(kind="exit", what=sys.argv[1],
	    status=int(sys.argv[2]), last=sys.argv[3])))' \
		"$what" "$rc" "$(tail -n 1 "$T/$what.log" 2>/dev/null)" >>"$RESULTS"
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

# ports_init N: N free ports on 127.0.0.1 (lab.py); port VAR: the next of
# them into VAR.
ports_init() {
	FREE=()
	read -r -a FREE <<<"$("${LAB[@]}" ports "$1")"
}
port() {
	printf -v "$1" '%s' "${FREE[0]}"
	FREE=("${FREE[@]:1}")
}

# dokodemo PORT TARGET_PORT NETWORK: a v2ray inbound forwarding
# 127.0.0.1:PORT to 127.0.0.1:TARGET_PORT ("tcp", "udp" or "tcp,udp").
dokodemo() {
	printf '{"listen": "127.0.0.1", "port": %s, "protocol": "dokodemo-door", "settings": {"address": "127.0.0.1", "port": %s, "network": "%s"}}' "$1" "$2" "$3"
}

# v2ray_vless NAME SRVPORT INBOUNDS: v2ray VLESS over WebSocket (path /ws,
# no TLS, user $UUID): a server on SRVPORT, freedom out, started as
# NAME-srv; a client whose inbounds are INBOUNDS (dokodemo lines, comma
# separated), started as NAME (its pid in LAST_PID).  Configurations in
# $T/v2ray.
v2ray_vless() {
	local name=$1 srv=$2 ins=$3
	mkdir -p "$T/v2ray"
	cat >"$T/v2ray/$name-srv.json" <<-EOF
		{"log": {"loglevel": "warning", "access": "none"},
		 "inbounds": [{"listen": "127.0.0.1", "port": $srv, "protocol": "vless",
		   "settings": {"clients": [{"id": "$UUID"}], "decryption": "none"},
		   "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}}],
		 "outbounds": [{"protocol": "freedom", "settings": {}}]}
	EOF
	cat >"$T/v2ray/$name.json" <<-EOF
		{"log": {"loglevel": "warning", "access": "none"},
		 "inbounds": [$ins],
		 "outbounds": [{"protocol": "vless",
		   "settings": {"vnext": [{"address": "127.0.0.1", "port": $srv, "users": [{"id": "$UUID", "encryption": "none"}]}]},
		   "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}}}]}
	EOF
	start "$name-srv" v2ray -config "$T/v2ray/$name-srv.json"
	wait_port "$srv"
	start "$name" v2ray -config "$T/v2ray/$name.json"
}

# ------------------------------------------------------------- iperf3 rounds
# A script that uses these sets P_IPERF, RESULTS (JSON lines for lab.py
# report), SECS, ROUNDS, ORDER (PATH:DIR entries, DIR fwd or rev) and
# defines start_path PATH.  OWN_PIDS: its other long-running processes (so
# that lab.py can tell the machine's other load from ours).

start_iperf_server() {
	start iperf3 iperf3 -s -B 127.0.0.1 -p "$P_IPERF"
	IPERF_PID=$LAST_PID
	wait_port "$P_IPERF"
}

# died PID WHEN: if PID (started with `start`) is gone, say how it ended (its
# exit status, or the signal that killed it) in the log and in the results,
# and succeed.
died() {
	local pid=$1 what=${PNAME[$1]:-pid$1} rc=0
	kill -0 "$pid" 2>/dev/null && return 1
	wait "$pid" 2>/dev/null || rc=$?
	log "WARNING: $what (pid $pid) died, exit status $rc; restarting it. Its log:"
	tail -n 5 "$T/$what.log" >&2 || true
	printf '{"kind": "death", "what": "%s", "status": %d, "before": "%s"}\n' \
		"$what" "$rc" "$2" >>"$RESULTS"
}

# ensure_up PATH WHEN: the iperf3 server and the path's relay must be alive
# before a run.  A crash of the relay is a finding, and something else on a
# shared machine may kill a process by name: either way it is reported, and
# restarted so that the other paths still get measured.
ensure_up() {
	local path=$1 p gone=0
	if died "$IPERF_PID" "$2"; then
		start_iperf_server
	fi
	for p in ${RELAY[$path]:-}; do
		died "$p" "$2" && gone=1
	done
	if ((gone)); then
		for p in ${RELAY[$path]}; do stop "$p"; done
		start_path "$path"
	fi
}

# A short transfer through every path before measuring: it proves the path
# works (a broken one is dropped, and says so) and warms it up.
check_paths() {
	local path keep=() seen=" "
	for path in "${ORDER[@]}"; do
		path=${path%%:*}
		[[ $seen == *" $path "* ]] && continue
		seen+="$path "
		if timeout 20 iperf3 -c 127.0.0.1 -p "${PORT[$path]}" -n 32M >"$T/check-$path.log" 2>&1; then
			continue
		fi
		log "path $path does not work (see below); leaving it out"
		tail -n 5 "$T/check-$path.log" >&2
		unset "PORT[$path]"
		sleep 1
	done
	for path in "${ORDER[@]}"; do
		[ -n "${PORT[${path%%:*}]:-}" ] && keep+=("$path")
	done
	ORDER=("${keep[@]}")
}

# run_iperf_round R: one iperf3 run through every PATH:DIR of ORDER, in order.
run_iperf_round() {
	local r=$1 p path dir line
	for p in "${ORDER[@]}"; do
		path=${p%%:*} dir=${p##*:}
		ensure_up "$path" "round $r $path $dir"
		# shellcheck disable=SC2086 # RELAY holds a list of pids
		line=$(LAB_OWN="$IPERF_PID ${OWN_PIDS:-}" "${LAB[@]}" iperf "$path" "$dir" "${PORT[$path]}" \
			"$SECS" "$r" ${RELAY[$path]})
		echo "$line" >>"$RESULTS"
		log "round $r/$ROUNDS $path $dir: $(progress "$line")"
	done
}

progress() { # one result line (iperf or ttfb), for the log
	python3 -c 'import json,statistics as st,sys; r=json.loads(sys.argv[1])
if r["kind"] == "ttfb":
    print("%d connections, median %s us%s" % (len(r["us"]),
          "%.0f" % st.median(r["us"]) if r["us"] else "-",
          ", %d failed: %s" % (r["nerr"], r["errors"][0]) if r["nerr"] else ""))
else:
    print(r["error"] if "error" in r else "%.2f Gbit/s%s" % (r["gbps"],
          ", relay %.2f CPU s" % r["cpu_s"] if "cpu_s" in r else ""))' "$1"
}
