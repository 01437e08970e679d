#!/usr/bin/env bash
# Run every benchmark in bench/ (each NAME.sh but run.sh and lib.sh) and
# print their markdown tables to stdout; progress goes to stderr.
#
#   bench/run.sh                  all of them (make bench builds first)
#   bench/run.sh tcpfwd           only bench/tcpfwd.sh
#   SLUICE=build-x/sluice ROUNDS=3 SECS=2 bench/run.sh
#
# Loopback only.  Installs its tools with apt-get when missing.  Nothing is
# written into the repository: save the output yourself if you want it.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

# The machine and the exact things measured, so a table can be read later.
header() {
	local rev knobs
	rev=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
	echo "# sluice benchmarks, $(date '+%Y-%m-%d %H:%M %Z')"
	echo
	echo "- sluice: $("$SLUICE" -V 2>&1 | head -1) at $rev ($SLUICE)"
	echo "- host: $(nproc) CPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)," \
		"kernel $(uname -r), TCP congestion control $(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo '?')"
	echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- peers: $(socat -V 2>/dev/null | grep -m1 -o 'socat version [^ ]*'), $(ssh -V 2>&1)," \
		"$(iperf3 --version | head -1 | cut -d' ' -f1-2)"
	knobs=$(env | grep -E '^(ROUNDS|SECS|HOLD_N|TTFB_N|TTFB_SECS|PPP_BIG|SLIRP_BIG)=' | sort | xargs echo) || true
	echo "- knobs: ${knobs:-none set}; each benchmark gives the values it ran with"
	echo
}

main() {
	local b name rc=0 ran=0
	need_pkgs iperf3 socat openssh-server openssh-client procps python3
	check_sluice
	export SLUICE
	header
	for b in "$BENCH_DIR"/*.sh; do
		name=$(basename "$b" .sh)
		case $name in run | lib) continue ;; esac
		# the soak runs for minutes and compares nothing: only by name
		if [ "$name" = soak ] && [[ " $* " != *" soak "* ]]; then
			continue
		fi
		if (($#)) && [[ " $* " != *" $name "* ]]; then
			continue
		fi
		ran=$((ran + 1))
		log "bench: $name"
		local brc=0
		bash "$b" || brc=$?
		case $brc in
		0) ;;
		77) log "bench $name skipped" ;; # it printed why
		*)
			rc=$brc
			log "bench $name failed (exit $rc)"
			echo "**$name: failed (exit $rc), see stderr**"
			echo
			;;
		esac
	done
	((ran)) || die "no benchmark matches: $*"
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	return "$rc"
}

main "$@"
