#!/usr/bin/env bash
# Port forward (sluice -L tcp://) against the relays a user would otherwise
# pick, all on 127.0.0.1:
#
#   raw       iperf3 -c straight to iperf3 -s: the ceiling of this machine
#   sluice    sluice -L tcp://127.0.0.1:P/127.0.0.1:IPERF
#   socat     socat TCP-LISTEN,fork -> TCP (default 8 KiB buffer)
#   socat128  the same with -b 131072 (the issue's bar: sluice >= this)
#   ssh       ssh -N -L with aes128-gcm@openssh.com to a throw-away sshd
#
# Throughput: one iperf3 stream per run, SECS seconds, ROUNDS rounds; every
# round runs every path once in the same order, so slow drift (other
# tenants, CPU boost) hits all paths alike.  Absolute Gbit/s swing between
# runs; the ratio to raw *in the same round* is the number to compare.
# raw and sluice also run with -R (data flows target -> client): a relay
# need not behave the same both ways (which side is read first, whose
# window fills).
#
# CPU per GB: utime+stime (+ reaped children's, for socat's forks) of the
# relay's processes from /proc/PID/stat, after minus before, divided by the
# bytes iperf3 received.  For ssh that is the ssh client plus sshd with its
# session processes, i.e. both ends of the tunnel.  The bytes per read() and
# write() come from /proc/PID/io (rchar/syscr, wchar/syscw; a read that
# returns EAGAIN counts as a read).
#
# Memory: HOLD_N connections held open through a fresh relay to a listener
# that accepts, echoes and keeps them.  sluice: RSS before and while holding
# them; once without data, once after 16 bytes each way (a keep-alive
# connection between requests), once after 256 KiB each way (a connection
# that carried bulk data, whose buffers should not stay with it).  socat
# forks a process per connection whose pages are mostly shared with its
# parent, so RSS counts them HOLD_N times: compare by PSS summed over its
# processes.  Kernel socket buffers are in neither number.
#
# Knobs: ROUNDS=5 SECS=3 HOLD_N=1000 SLUICE=./build/sluice KEEP=1 (keep logs)
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-3}
HOLD_N=${HOLD_N:-1000}
ORDER=(raw:fwd sluice:fwd socat:fwd socat128:fwd ssh:fwd raw:rev sluice:rev)

need_pkgs iperf3 socat openssh-server openssh-client procps python3
check_sluice
# the watchdog's limit: the iperf3 runs plus two minutes of everything else
bench_init tcpfwd $((${#ORDER[@]} * ROUNDS * (SECS + 3) + 120))
RESULTS=$T/results.jsonl
: >"$RESULTS"
read -r P_IPERF P_SLUICE P_SOCAT P_SOCAT128 P_SSH P_SSHD P_HOLD P_M1 P_M2 P_M3 P_M4 \
	<<<"$("${LAB[@]}" ports 11)"

# ------------------------------------------------------------- the relays
start_sluice() { # NAME PORT TARGET
	start "$1" "$SLUICE" -L "tcp://127.0.0.1:$2/127.0.0.1:$3"
	wait_port "$2"
}

start_socat() { # NAME PORT TARGET [SOCAT-OPTION...]
	local name=$1 port=$2 target=$3
	shift 3
	start "$name" socat "$@" \
		"TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=4096,nodelay" \
		"TCP:127.0.0.1:$target,nodelay"
	wait_port "$port"
}

# A throw-away sshd on 127.0.0.1 with its own host key, client key and
# config, which allows nothing but forwarding to the iperf3 port; then
# ssh -N -L through it.  The client trusts exactly that host key.
start_ssh_forward() { # PORT TARGET
	local port=$1 target=$2 d=$T/ssh user sshd
	user=$(id -un)
	sshd=$(command -v sshd || echo /usr/sbin/sshd)
	mkdir -p "$d"
	[ -f "$d/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$d/host_key"
	[ -f "$d/id" ] || ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$d/id"
	cp "$d/id.pub" "$d/authorized_keys"
	echo "[127.0.0.1]:$P_SSHD $(cut -d' ' -f1,2 "$d/host_key.pub")" >"$d/known_hosts"
	cat >"$d/sshd_config" <<-EOF
		ListenAddress 127.0.0.1:$P_SSHD
		HostKey $d/host_key
		PidFile $d/sshd.pid
		AuthorizedKeysFile $d/authorized_keys
		AllowUsers $user
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		UseDNS no
		AllowTcpForwarding local
		PermitOpen 127.0.0.1:$target
		AllowAgentForwarding no
		AllowStreamLocalForwarding no
		X11Forwarding no
		PermitTTY no
		PermitTunnel no
		ForceCommand /bin/false
		Ciphers aes128-gcm@openssh.com
		Compression no
		LogLevel ERROR
	EOF
	# sshd running as root wants its privilege separation directory
	[ "$(id -u)" != 0 ] || mkdir -p /run/sshd
	"$sshd" -t -f "$d/sshd_config" || die "sshd rejects $d/sshd_config"
	start sshd "$sshd" -D -e -f "$d/sshd_config"
	SSHD_PID=$LAST_PID
	wait_port "$P_SSHD"
	start ssh ssh -N -F /dev/null -p "$P_SSHD" -i "$d/id" \
		-o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$d/known_hosts" -o ExitOnForwardFailure=yes \
		-o Compression=no -o LogLevel=ERROR -c aes128-gcm@openssh.com \
		-L "127.0.0.1:$port:127.0.0.1:$target" "$user@127.0.0.1"
	SSH_PID=$LAST_PID
	wait_port "$port" 15
}

# start_path PATH: start (or restart) the relay of one path.
start_path() {
	case $1 in
	raw)
		PORT[raw]=$P_IPERF
		RELAY[raw]=""
		;;
	sluice)
		start_sluice sluice "$P_SLUICE" "$P_IPERF"
		PORT[sluice]=$P_SLUICE
		RELAY[sluice]=$LAST_PID
		;;
	socat)
		start_socat socat "$P_SOCAT" "$P_IPERF"
		PORT[socat]=$P_SOCAT
		RELAY[socat]=$LAST_PID
		;;
	socat128)
		start_socat socat128 "$P_SOCAT128" "$P_IPERF" -b 131072
		PORT[socat128]=$P_SOCAT128
		RELAY[socat128]=$LAST_PID
		;;
	ssh)
		start_ssh_forward "$P_SSH" "$P_IPERF"
		PORT[ssh]=$P_SSH
		RELAY[ssh]="$SSH_PID $SSHD_PID"
		;;
	esac
}

setup_paths() {
	local p
	start_iperf_server
	for p in raw sluice socat socat128 ssh; do start_path "$p"; done
}

# ------------------------------------------------------------- measuring
run_rounds() {
	local r
	for ((r = 1; r <= ROUNDS; r++)); do run_iperf_round "$r"; done
}

# idle NAME BYTES START-FUNCTION ARGS...: a fresh relay, HOLD_N connections
# through it to the holding listener, each first carrying BYTES each way;
# the relay's memory before and while it holds them.
idle() {
	local name=$1 nbytes=$2 fn=$3 port=$5
	shift 3
	"$fn" "$@"
	local pid=$LAST_PID
	sleep 0.5
	"${LAB[@]}" idle "$name" "$port" "$P_HOLD" "$HOLD_N" "$nbytes" "$pid" >>"$RESULTS"
	log "idle: $name, $HOLD_N connections, $nbytes bytes each way: done"
	stop "$pid"
	sleep 1 # let the held connections finish closing
}

# sluice three ways: never a byte; a keep-alive connection between requests
# (16 bytes); one that carried bulk data (256 KiB, so reads fill whole
# chunks) and went quiet.  socat: 16 bytes.
measure_memory() {
	start holdsrv "${LAB[@]}" holdsrv "$P_HOLD"
	wait_port "$P_HOLD"
	idle sluice 0 start_sluice mem-sluice0 "$P_M1" "$P_HOLD"
	idle sluice 16 start_sluice mem-sluice1 "$P_M2" "$P_HOLD"
	idle sluice 262144 start_sluice mem-sluice2 "$P_M3" "$P_HOLD"
	idle "socat (compare PSS)" 16 start_socat mem-socat "$P_M4" "$P_HOLD"
}

# ------------------------------------------------------------- report
# The tables; fails if sluice died or a path has no result at all.
report() {
	local rc=0
	echo "## tcpfwd: port forward"
	echo
	echo "iperf3, one stream, ${SECS}s per run, $ROUNDS rounds (every path once per round, in this order:" \
		"${ORDER[*]}); cells are median (min–max) over the rounds." \
		"*× raw* is the median over rounds of path ÷ raw in the same round and direction." \
		"*Relay CPU s/GB* is user+system CPU of the relay's processes per 10⁹ bytes delivered" \
		"(ssh: client and sshd)." \
		"Memory: $HOLD_N connections held through a fresh relay to a listener that echoes and keeps them;" \
		"sluice is one process, so RSS is its memory; socat forks one process per connection" \
		"sharing most pages, so use its PSS. Kernel socket buffers are in neither."
	echo
	"${LAB[@]}" report tcpfwd "$RESULTS" || rc=$?
	REPORTED=1
	echo "Relays as run:"
	echo
	echo '```'
	echo "sluice    $SLUICE -L tcp://127.0.0.1:$P_SLUICE/127.0.0.1:$P_IPERF"
	echo "socat     socat TCP-LISTEN:$P_SOCAT,bind=127.0.0.1,reuseaddr,fork,backlog=4096,nodelay TCP:127.0.0.1:$P_IPERF,nodelay"
	echo "socat128  socat -b 131072 (same addresses)"
	echo "ssh       ssh -N -c aes128-gcm@openssh.com -L 127.0.0.1:$P_SSH:127.0.0.1:$P_IPERF (sshd on 127.0.0.1:$P_SSHD)"
	echo "iperf3    iperf3 -c 127.0.0.1 -p PORT -t $SECS -J [-R]"
	echo '```'
	echo
	return "$rc"
}

log "tcpfwd: ROUNDS=$ROUNDS SECS=$SECS HOLD_N=$HOLD_N SLUICE=$SLUICE"
setup_paths
check_paths
run_rounds
stop_checked "${RELAY[sluice]}" # as a user stops it: SIGTERM, and a clean exit
measure_memory
report
