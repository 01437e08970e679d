# shellcheck shell=bash
# SoftEther VPN Server as the SSTP server of the tests (sourced by lib.sh).
#
#   softether_prepare             $PEERS_CACHE/softether/vpnserver: a copy of
#                                 Debian's, with SSTP fixed (softether-sstp.S)
#   softether_start DIR USER PASS start it, hub DEFAULT, user USER/PASS,
#                                 SSTP on, SecureNAT on (virtual host
#                                 192.168.30.1, DHCP 192.168.30.10-200)
#   softether_stop DIR [KILL]     (KILL: SIGKILL at once, as a crash would)
#   softether_ns DIR CMD...       CMD with DIR's state in place of SoftEther's
#                                 (`peers softether exec DIR CMD...`)
#
# It listens on 443, 992, 1194 and 5555 of every address: start it in a
# network namespace of the test's own.  Its configuration, logs and locks
# (/var/lib/softether, /var/log/softether, /run/softether in Debian's
# build) are bind mounts of DIR/lib, DIR/log and DIR/run in a mount
# namespace of its own, so nothing of the host's changes (but for those
# three mount points, created empty where missing: the package's own
# service would create them too).  The installed package
# (scripts/deps.sh) is never modified and its service never runs.

SOFTETHER_BIN=/usr/libexec/softether/vpnserver/vpnserver
SOFTETHER_CMD=/usr/libexec/softether/vpncmd/vpncmd
# Debian 12's build, and the same with softether-sstp.S at 0x3a00f
SOFTETHER_SHA=487e51a73f152c9042837975044edd6d11cef4f29eaff2162512f2b897054212
SOFTETHER_FIXED_SHA=5b69b912a84f840a766d38714821c47ef90c8abd6cab7aa375c676af7ddfa458

softether_prepare() {
	local d=$PEERS_CACHE/softether sha stamp b
	sha=$(sha256sum "$SOFTETHER_BIN" | cut -d' ' -f1)
	stamp="$sha $(sha256sum "$PEERS_DIR/softether-sstp.S" | cut -c1-16)"
	[ "$(cat "$d/stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$d/vpnserver" ] && return 0
	b=$(mktemp -d "$PEERS_CACHE/softether.XXXXXX")
	chmod 755 "$b"
	cp "$SOFTETHER_BIN" "$b/vpnserver"
	# vpnserver reads hamcore.se2 (strings, certificates) beside itself
	ln -s "$(readlink -f "$(dirname "$SOFTETHER_BIN")/hamcore.se2")" "$b/hamcore.se2"
	if [ "$sha" = "$SOFTETHER_SHA" ]; then
		if ! as --64 -o "$b/fix.o" "$PEERS_DIR/softether-sstp.S" ||
			! objcopy -O binary -j .text "$b/fix.o" "$b/fix.bin" ||
			[ "$(stat -c %s "$b/fix.bin")" != 65 ]; then
			peers_log "softether-sstp.S did not assemble to 65 bytes"
			rm -rf "$b"
			return 1
		fi
		dd if="$b/fix.bin" of="$b/vpnserver" bs=1 seek=$((0x3a00f)) conv=notrunc status=none
		if [ "$(sha256sum "$b/vpnserver" | cut -d' ' -f1)" != "$SOFTETHER_FIXED_SHA" ]; then
			peers_log "the fixed vpnserver is not the one expected (sha256)"
			rm -rf "$b"
			return 1
		fi
		peers_log "vpnserver: SSTP fixed (softether-sstp.S, upstream 5611156c)"
	else
		# another build (a newer Debian has the upstream fix): as it is
		peers_log "vpnserver $sha is not Debian 12's 5.01 build: used unchanged"
	fi
	rm -f "$b/fix.o" "$b/fix.bin"
	echo "$stamp" >"$b/stamp"
	rm -rf "$d"
	mv "$b" "$d"
}

softether_ns() {
	local dir=$1
	shift
	exec unshare --mount --propagation private sh -c '
		d=$1
		shift
		for s in lib log run; do
			case $s in run) t=/run/softether ;; *) t=/var/$s/softether ;; esac
			mkdir -p "$t" && mount --bind "$d/$s" "$t" || exit 1
		done
		exec "$@"' sh "$dir" "$@"
}

softether_stop() {
	local dir=$1 pg
	[ -s "$dir/pgid" ] || return 0
	pg=$(cat "$dir/pgid")
	if [ "${2:-TERM}" != KILL ]; then
		# vpnserver ignores SIGTERM for seconds while it saves its state
		kill -TERM -- "-$pg" 2>/dev/null
		for _ in $(seq 20); do
			kill -0 -- "-$pg" 2>/dev/null || break
			sleep 0.1
		done
	fi
	kill -KILL -- "-$pg" 2>/dev/null
	for _ in $(seq 30); do
		kill -0 -- "-$pg" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$dir/pgid"
}

softether_start() {
	local dir=$1 user=$2 pass=$3 t0 i bad
	mkdir -p "$dir/lib" "$dir/log" "$dir/run"
	dir=$(cd "$dir" && pwd)
	softether_stop "$dir"
	ip link set lo up
	t0=$(date +%s%N)
	# its own session and process group (`execsvc` forks a watchdog): a
	# background job of a shell without job control is no group leader, so
	# setsid makes no new process and $! is the group
	setsid "$PEERS_DIR/peers" softether exec "$dir" "$PEERS_CACHE/softether/vpnserver" execsvc \
		>"$dir/vpnserver.out" 2>&1 </dev/null &
	echo $! >"$dir/pgid"
	for i in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/5555) 2>/dev/null && break
		sleep 0.1
	done
	if [ "$i" = 100 ]; then
		peers_log "vpnserver did not start: $(tail -n 5 "$dir/vpnserver.out")"
		softether_stop "$dir"
		return 1
	fi
	# No outbound helpers (keep-alive, VPN Azure); SSTP on; the user;
	# SecureNAT, so that the tunnel leads somewhere
	cat >"$dir/setup.txt" <<-EOF
		KeepDisable
		VpnAzureSetEnable no
		ProtoOptionsSet SSTP /NAME:Enabled /VALUE:true
		Hub DEFAULT
		UserCreate $user /GROUP:none /REALNAME:none /NOTE:none
		UserPasswordSet $user /PASSWORD:$pass
		SecureNatEnable
	EOF
	(softether_ns "$dir" "$SOFTETHER_CMD" 127.0.0.1:5555 /SERVER /IN:"$dir/setup.txt") \
		>"$dir/vpncmd.out" 2>&1
	# every command must succeed, but UserCreate when the user is there
	# from an earlier start with the same DIR
	bad=$(awk '/^VPN Server.*>/ { cmd = $0; sub(/^[^>]*>/, "", cmd) }
		/^Error occurred/ && cmd !~ /^UserCreate / { print cmd ": " $0 }' "$dir/vpncmd.out")
	if [ -n "$bad" ] || ! grep -q '^VPN Server/DEFAULT>SecureNatEnable' "$dir/vpncmd.out"; then
		peers_log "vpncmd failed: ${bad:-$(tail -n 5 "$dir/vpncmd.out")}"
		softether_stop "$dir"
		return 1
	fi
	peers_log "softether up in $((($(date +%s%N) - t0) / 1000000)) ms: SSTP on :443, hub DEFAULT, user $user"
}
