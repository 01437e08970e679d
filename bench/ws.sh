#!/usr/bin/env bash
# The WebSocket tunnel (sluice -F ws:// / wss:// to a sluice -L ws:// server)
# against the WebSocket and shadowsocks tunnels a user would otherwise pick,
# all on 127.0.0.1.  Every tunnel is a client and a server process with a
# port forward in front of the client:
#
#   raw        iperf3 -c straight to iperf3 -s: the ceiling of this machine
#   ws         sluice ws://, sealed records (default enc=auto: AES-128-GCM
#              where the CPU has AES instructions, else ChaCha20-Poly1305)
#   ws-chacha  sluice ws:// enc=chacha20-poly1305 (shadowsocks' cipher)
#   wss        sluice wss://, TLS and sealed records
#   wss-none   sluice wss:// enc=none: TLS only
#   *-base     ws, wss and wss-none with SLUICE_BASE, another sluice build
#              (before/after in one run; only when SLUICE_BASE is set)
#   stunnel    stunnel client -> stunnel server, TLS 1.3 TLS_AES_128_GCM_SHA256
#   v2ray-ws   v2ray VLESS over ws:// (dokodemo-door in front of the client)
#   v2ray-wss  v2ray VLESS over wss://
#   ss         shadowsocks-libev ss-tunnel -> ss-server, chacha20-ietf-poly1305
#
# Throughput: one iperf3 stream per run, SECS seconds, both directions,
# ROUNDS rounds; every round runs every path once in the same order, so slow
# drift hits all paths alike.  The ratio to raw in the same round is the
# number to compare.  Relay CPU is the tunnel's client and server processes
# together.
#
# Time to first byte: TTFB_N sequential new connections per path, mode and
# round (at most TTFB_SECS seconds), each timed from connect() to the first
# byte back, against a server that greets on accept (server first: the
# tunnel has nothing to send early) and an echo server that we speak to
# first (client first: a tunnel with 0-RTT carries that line in its open).
# Paths: direct; sluice ws:// with a fresh WebSocket per connection
# (fast-open, the default); with pool=4 (a warm, authenticated WebSocket
# waits); with fast-open=0 (the client waits for the server's OPEN_OK before
# it answers the application); v2ray VLESS over ws://; ss-tunnel.  The
# rounds alternate with the throughput rounds.
#
# New connections per second (RATE=1): wrk, 8 connections, Connection:
# close, RATE_SECS per path and round, to nginx through: nothing (direct),
# sluice -L tcp:// (a plain forward), ws, ws pool=4, v2ray-ws, ss.
#
# System calls per new connection (SYSCALLS_N > 0): SYSCALLS_N sequential
# requests to nginx through ws, ws pool=4, ss and the plain forward (and
# ws-base), with strace -c on each of the path's processes: calls per
# connection for each end, the one measure another tenant of a shared
# machine cannot move.
#
# Memory per idle connection (HOLD_N > 0): HOLD_N connections held through
# ws (a fresh pair, client and server together), ss and the plain forward,
# after 16 bytes each way, to the echo server.
#
# Profiles (PROFILE=1): after the rounds, every throughput path in each
# direction once more while perf records each of its processes for
# PROFILE_SECS; the 10 hottest symbols per process follow the tables.
#
# Knobs: ROUNDS=3 SECS=3 TTFB_N=200 TTFB_SECS=4 RATE=1 RATE_SECS=3 HOLD_N=500
#        SYSCALLS_N=300 PROFILE=0 PROFILE_SECS=2 PATHS="ws ss ..." (throughput paths; raw is
#        always run) SLUICE=./build/sluice SLUICE_BASE= KEEP=1
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-3}
TTFB_N=${TTFB_N:-200}
TTFB_SECS=${TTFB_SECS:-4}
RATE=${RATE:-1}
RATE_SECS=${RATE_SECS:-3}
HOLD_N=${HOLD_N:-500}
SYSCALLS_N=${SYSCALLS_N:-300}
PROFILE=${PROFILE:-0}
PROFILE_SECS=${PROFILE_SECS:-2}
SLUICE_BASE=${SLUICE_BASE:-}
if [ -n "${PATHS:-}" ]; then
	read -r -a TPUT <<<"raw ${PATHS//raw/}"
else
	TPUT=(raw ws ws-chacha wss wss-none stunnel v2ray-ws v2ray-wss ss)
	[ -n "$SLUICE_BASE" ] && TPUT+=(ws-base wss-base wss-none-base)
fi
ORDER=("${TPUT[@]/%/:fwd}" "${TPUT[@]/%/:rev}")
TTFB=(direct ws ws-pool ws-nofo v2ray-ws ss)
RATEP=(direct tcp ws ws-pool v2ray-ws ss)
[ -n "$SLUICE_BASE" ] && RATEP+=(ws-base)
((RATE)) || RATEP=()
MODES=(server client)

declare -A BPORT EPORT HPORT # first-byte/rate path -> its forward to the banner / echo / nginx
declare -A GROUP             # first-byte/rate path -> the path whose processes carry it

pkgs=(iperf3 v2ray shadowsocks-libev stunnel4 openssl procps python3)
((RATE)) && pkgs+=(wrk nginx)
((PROFILE)) && pkgs+=(linux-perf)
((SYSCALLS_N)) && pkgs+=(strace)
need_pkgs "${pkgs[@]}"
check_sluice
[ -z "$SLUICE_BASE" ] || [ -x "$SLUICE_BASE" ] || die "SLUICE_BASE=$SLUICE_BASE is not executable"
# the watchdog: the iperf3 runs, the first-byte runs, two minutes of the rest
bench_init ws $((${#ORDER[@]} * ROUNDS * (SECS + 3) + ${#TTFB[@]} * 2 * ROUNDS * (TTFB_SECS + 1) +
	${#RATEP[@]} * ROUNDS * (RATE_SECS + 2) + PROFILE * ${#ORDER[@]} * (PROFILE_SECS + 8) +
	5 * (SYSCALLS_N / 20 + 5) + 240))
RESULTS=$T/results.jsonl
: >"$RESULTS"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ------------------------------------------------------------- ports, keys
ports_init 80
port P_IPERF
port P_BANNER
port P_ECHO
port P_HTTP

KEY=$("$SLUICE" keygen)
UUID=$(cat /proc/sys/kernel/random/uuid)
SSPW=$(head -c 18 /dev/urandom | base64)
mkdir -p "$T/tls" "$T/v2ray"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" 2>"$T/openssl.log" ||
	die "openssl could not make a certificate: $(cat "$T/openssl.log")"

# ------------------------------------------------------------- the tunnels
# sluice_pair PATH SCHEME CLIENT-OPTIONS [TTFB]: a sluice server on SCHEME and
# a client whose forwards go to iperf3 (if PATH is a throughput path) and,
# with TTFB, to the banner and the echo server.  Ports are taken once, so a
# restarted pair listens where the old one did.
sluice_pair() {
	local path=$1 scheme=$2 copts=$3 ttfb=${4:-} srv sopts="" fwd=() bin=$SLUICE
	[[ $path == *-base ]] && bin=$SLUICE_BASE
	[ -n "${SPORT[$path]:-}" ] || {
		port "SPORT[$path]"
		port "PORT[$path]"
		port "BPORT[$path]"
		port "EPORT[$path]"
		port "HPORT[$path]"
	}
	srv=${SPORT[$path]}
	[ "$scheme" = wss ] && sopts="&cert=$T/tls/cert.pem&certkey=$T/tls/key.pem"
	# a replay mark of now: the server acts on 0-RTT opens from the start,
	# as one does once it has run for the skew window (120 s); without it,
	# the early rounds would measure a freshly restarted server
	printf '%020d\n' "$(date +%s%3N)" >"$T/replay-$path"
	sopts+="&replay-state=$T/replay-$path"
	start "sluice-$path-srv" "$bin" -L "$scheme://127.0.0.1:$srv?host-loopback=1&key=$KEY$sopts"
	local spid=$LAST_PID
	wait_port "$srv"
	[[ " ${TPUT[*]} " == *" $path "* ]] && fwd+=(-L "tcp://127.0.0.1:${PORT[$path]}/127.0.0.1:$P_IPERF")
	[ -n "$ttfb" ] && fwd+=(-L "tcp://127.0.0.1:${BPORT[$path]}/127.0.0.1:$P_BANNER"
		-L "tcp://127.0.0.1:${EPORT[$path]}/127.0.0.1:$P_ECHO"
		-L "tcp://127.0.0.1:${HPORT[$path]}/127.0.0.1:$P_HTTP")
	start "sluice-$path" "$bin" "${fwd[@]}" -F "$scheme://127.0.0.1:$srv?key=$KEY$copts"
	RELAY[$path]="$LAST_PID $spid"
	[[ " ${TPUT[*]} " == *" $path "* ]] && wait_port "${PORT[$path]}"
	[ -z "$ttfb" ] || wait_port "${EPORT[$path]}"
}
declare -A SPORT # path -> its tunnel server's port

# v2ray_pair PATH SECURITY [TTFB]: VLESS over WebSocket (path /ws), security
# none or tls: a dokodemo-door inbound per forward on the client, freedom
# out of the server.
v2ray_pair() {
	local path=$1 sec=$2 ttfb=${3:-} srv tls_s="" tls_c="" ins
	[ -n "${SPORT[$path]:-}" ] || {
		port "SPORT[$path]"
		port "PORT[$path]"
		port "BPORT[$path]"
		port "EPORT[$path]"
		port "HPORT[$path]"
	}
	srv=${SPORT[$path]}
	if [ "$sec" = tls ]; then
		tls_s=',"security":"tls","tlsSettings":{"certificates":[{"certificateFile":"'$T/tls/cert.pem'","keyFile":"'$T/tls/key.pem'"}]}'
		tls_c=',"security":"tls","tlsSettings":{"serverName":"localhost","allowInsecure":true}'
	fi
	cat >"$T/v2ray/$path-srv.json" <<-EOF
		{"log": {"loglevel": "warning", "access": "none"},
		 "inbounds": [{"listen": "127.0.0.1", "port": $srv, "protocol": "vless",
		   "settings": {"clients": [{"id": "$UUID"}], "decryption": "none"},
		   "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}$tls_s}}],
		 "outbounds": [{"protocol": "freedom", "settings": {}}]}
	EOF
	ins=$(dokodemo "${PORT[$path]}" "$P_IPERF" tcp)
	[ -n "$ttfb" ] && ins+=", $(dokodemo "${BPORT[$path]}" "$P_BANNER" tcp), $(dokodemo "${EPORT[$path]}" "$P_ECHO" tcp), $(dokodemo "${HPORT[$path]}" "$P_HTTP" tcp)"
	cat >"$T/v2ray/$path.json" <<-EOF
		{"log": {"loglevel": "warning", "access": "none"},
		 "inbounds": [$ins],
		 "outbounds": [{"protocol": "vless",
		   "settings": {"vnext": [{"address": "127.0.0.1", "port": $srv, "users": [{"id": "$UUID", "encryption": "none"}]}]},
		   "streamSettings": {"network": "ws", "wsSettings": {"path": "/ws"}$tls_c}}]}
	EOF
	start "v2ray-$path-srv" v2ray -config "$T/v2ray/$path-srv.json"
	local spid=$LAST_PID
	wait_port "$srv"
	start "v2ray-$path" v2ray -config "$T/v2ray/$path.json"
	RELAY[$path]="$LAST_PID $spid"
	wait_port "${PORT[$path]}"
	[ -z "$ttfb" ] || wait_port "${EPORT[$path]}"
}

# ss_group: ss-server, and an ss-tunnel per forward (ss-tunnel has one
# target each), with run-all.sh's options.
ss_group() {
	local path=ss o=(-m chacha20-ietf-poly1305 -k "$SSPW" --no-delay -n 16384 -t 300) pids p
	local name lport target
	[ -n "${SPORT[$path]:-}" ] || {
		port "SPORT[$path]"
		port "PORT[$path]"
		port "BPORT[$path]"
		port "EPORT[$path]"
		port "HPORT[$path]"
	}
	start ss-server ss-server -s 127.0.0.1 -p "${SPORT[$path]}" "${o[@]}"
	pids=$LAST_PID
	wait_port "${SPORT[$path]}"
	for p in iperf:"${PORT[$path]}":$P_IPERF banner:"${BPORT[$path]}":$P_BANNER \
		echo:"${EPORT[$path]}":$P_ECHO http:"${HPORT[$path]}":$P_HTTP; do
		IFS=: read -r name lport target <<<"$p"
		start "ss-tunnel-$name" ss-tunnel -s 127.0.0.1 -p "${SPORT[$path]}" -b 127.0.0.1 \
			-l "$lport" -L "127.0.0.1:$target" "${o[@]}"
		pids+=" $LAST_PID"
		wait_port "$lport"
	done
	RELAY[$path]=$pids # the idle tunnels add nothing to the CPU sums
}

# stunnel_pair: a stunnel client and server (TLS 1.3, AES-128-GCM, as
# stunnel users pick for speed), one process each.
stunnel_pair() {
	local path=stunnel
	[ -n "${SPORT[$path]:-}" ] || {
		port "SPORT[$path]"
		port "PORT[$path]"
	}
	cat >"$T/stunnel-srv.conf" <<-EOF
		foreground = yes
		pid =
		syslog = no
		debug = 3
		[tun]
		accept = 127.0.0.1:${SPORT[$path]}
		connect = 127.0.0.1:$P_IPERF
		cert = $T/tls/cert.pem
		key = $T/tls/key.pem
		sslVersionMin = TLSv1.3
		ciphersuites = TLS_AES_128_GCM_SHA256
	EOF
	cat >"$T/stunnel-cli.conf" <<-EOF
		foreground = yes
		pid =
		syslog = no
		debug = 3
		[tun]
		client = yes
		accept = 127.0.0.1:${PORT[$path]}
		connect = 127.0.0.1:${SPORT[$path]}
		sslVersionMin = TLSv1.3
		ciphersuites = TLS_AES_128_GCM_SHA256
	EOF
	start stunnel-srv stunnel4 "$T/stunnel-srv.conf"
	local spid=$LAST_PID
	wait_port "${SPORT[$path]}"
	start stunnel-cli stunnel4 "$T/stunnel-cli.conf"
	RELAY[$path]="$LAST_PID $spid"
	wait_port "${PORT[$path]}"
}

# tcp_fwd: sluice's plain port forward to the far ends, the reference for
# what a new connection costs without a tunnel.
tcp_fwd() {
	[ -n "${EPORT[tcp]:-}" ] || {
		port "EPORT[tcp]"
		port "HPORT[tcp]"
	}
	start sluice-tcp "$SLUICE" -L "tcp://127.0.0.1:${EPORT[tcp]}/127.0.0.1:$P_ECHO" \
		-L "tcp://127.0.0.1:${HPORT[tcp]}/127.0.0.1:$P_HTTP"
	RELAY[tcp]=$LAST_PID
	wait_port "${HPORT[tcp]}"
}

# start_path PATH: start (or restart) the processes of one path.
start_path() {
	case $1 in
	raw) PORT[raw]=$P_IPERF RELAY[raw]="" ;;
	ws) sluice_pair ws ws "" ttfb ;;
	ws-chacha) sluice_pair ws-chacha ws "&enc=chacha20-poly1305" ;;
	ws-base) sluice_pair ws-base ws "" ttfb ;;
	wss-base) sluice_pair wss-base wss "&ca=$T/tls/cert.pem" ;;
	wss-none-base) sluice_pair wss-none-base wss "&ca=$T/tls/cert.pem&enc=none" ;;
	stunnel) stunnel_pair ;;
	tcp) tcp_fwd ;;
	ws-pool) sluice_pair ws-pool ws "&pool=4" ttfb ;;
	ws-nofo) sluice_pair ws-nofo ws "&fast-open=0" ttfb ;;
	wss) sluice_pair wss wss "&ca=$T/tls/cert.pem" ;;
	wss-none) sluice_pair wss-none wss "&ca=$T/tls/cert.pem&enc=none" ;;
	v2ray-ws) v2ray_pair v2ray-ws none ttfb ;;
	v2ray-wss) v2ray_pair v2ray-wss tls ;;
	ss) ss_group ;;
	esac
}

start_targets() {
	if ((RATE)); then
		mkdir -p "$T/nginx"
		cat >"$T/nginx/nginx.conf" <<-EOF
			daemon off;
			worker_processes 1;
			pid $T/nginx/nginx.pid;
			error_log $T/nginx/error.log;
			events { worker_connections 4096; }
			http {
			  access_log off;
			  client_body_temp_path $T/nginx; proxy_temp_path $T/nginx;
			  fastcgi_temp_path $T/nginx; uwsgi_temp_path $T/nginx; scgi_temp_path $T/nginx;
			  server { listen 127.0.0.1:$P_HTTP; location / { return 200 "ok\n"; } }
			}
		EOF
		start nginx nginx -p "$T/nginx" -c "$T/nginx/nginx.conf"
		NGINX_PID=$LAST_PID
		wait_port "$P_HTTP"
	fi
	start banner "${LAB[@]}" holdsrv "$P_BANNER" --banner
	BANNER_PID=$LAST_PID
	start echo "${LAB[@]}" holdsrv "$P_ECHO"
	ECHO_PID=$LAST_PID
	wait_port "$P_BANNER"
	wait_port "$P_ECHO"
	OWN_PIDS="$BANNER_PID $ECHO_PID ${NGINX_PID:-}"
}

setup_paths() {
	local p
	start_iperf_server
	start_targets
	for p in "${TPUT[@]}" ws ws-pool ws-nofo v2ray-ws ss "${RATEP[@]}"; do
		[[ $p == direct || $p == tcp ]] && continue
		[ -n "${RELAY[$p]+set}" ] || start_path "$p"
	done
	((RATE || HOLD_N || SYSCALLS_N)) && start_path tcp
	# the idle test's pair, fresh (no heap left over from the rounds) but
	# started now, while its ports are sure to be free
	((HOLD_N)) && sluice_pair ws-idle ws "" ttfb
	BPORT[direct]=$P_BANNER EPORT[direct]=$P_ECHO HPORT[direct]=$P_HTTP
	GROUP=([direct]=raw [ws]=ws [ws-pool]=ws-pool [ws-nofo]=ws-nofo [v2ray-ws]=v2ray-ws [ss]=ss [tcp]=tcp
		[ws-base]=ws-base)
}

# ------------------------------------------------------------- first byte
# A few connections through every TTFB path before measuring: a path that
# cannot carry one is left out (and says so); the pool gets filled.
check_ttfb() {
	local path mode keep=() line ok
	for path in "${TTFB[@]}"; do
		ok=1
		for mode in "${MODES[@]}"; do
			line=$("${LAB[@]}" ttfb "$path" "$mode" "$(ttfb_port "$path" "$mode")" 5 5 0)
			if ! python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r["us"] and not r["nerr"] else 1)' "$line"; then
				log "first byte through $path ($mode first) does not work: $(progress "$line"); leaving it out"
				ok=0
			fi
		done
		((ok)) && keep+=("$path")
	done
	TTFB=("${keep[@]}")
}

ttfb_port() { # PATH MODE
	if [ "$2" = server ]; then echo "${BPORT[$1]}"; else echo "${EPORT[$1]}"; fi
}

# run_ttfb_round R: TTFB_N connections through every TTFB path in each mode.
run_ttfb_round() {
	local r=$1 path mode line
	died "$BANNER_PID" "round $r first byte" || died "$ECHO_PID" "round $r first byte" && {
		stop "$BANNER_PID"
		stop "$ECHO_PID"
		start_targets
	}
	for path in "${TTFB[@]}"; do
		ensure_up "${GROUP[$path]}" "round $r first byte $path"
		for mode in "${MODES[@]}"; do
			# shellcheck disable=SC2086 # RELAY holds a list of pids
			line=$(LAB_OWN="$IPERF_PID $OWN_PIDS" "${LAB[@]}" ttfb "$path" "$mode" \
				"$(ttfb_port "$path" "$mode")" "$TTFB_N" "$TTFB_SECS" "$r" ${RELAY[${GROUP[$path]}]:-})
			echo "$line" >>"$RESULTS"
			log "round $r/$ROUNDS first byte $path, $mode first: $(progress "$line")"
		done
	done
}

# run_rate_round R: wrk through every rate path.
run_rate_round() {
	local r=$1 path line
	for path in "${RATEP[@]}"; do
		ensure_up "${GROUP[$path]}" "round $r rate $path"
		# shellcheck disable=SC2086 # RELAY holds a list of pids
		line=$(LAB_OWN="$IPERF_PID $OWN_PIDS" "${LAB[@]}" wrk "$path" "${HPORT[$path]}" \
			"$RATE_SECS" "$r" ${RELAY[${GROUP[$path]}]:-})
		echo "$line" >>"$RESULTS"
		log "round $r/$ROUNDS new connections $path: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r.get("error") or "%.0f/s" % r["rps"])' "$line")"
	done
}

# Memory per idle connection: HOLD_N connections through each relay (the
# ws client and server together, as for ss) after 16 bytes each way.
run_idle() {
	local c s
	((HOLD_N)) || return 0
	read -r c s <<<"${RELAY[ws-idle]}"
	"${LAB[@]}" idle "sluice ws client + server" "${EPORT[ws-idle]}" "$P_ECHO" "$HOLD_N" 16 "$c" "$s" >>"$RESULTS"
	# shellcheck disable=SC2086 # RELAY holds a list of pids
	"${LAB[@]}" idle "ss-tunnel + ss-server" "${EPORT[ss]}" "$P_ECHO" "$HOLD_N" 16 ${RELAY[ss]} >>"$RESULTS"
	"${LAB[@]}" idle "sluice -L tcp://" "${EPORT[tcp]}" "$P_ECHO" "$HOLD_N" 16 "${RELAY[tcp]}" >>"$RESULTS"
	log "idle: $HOLD_N connections through ws, ss and the forward: done"
}

# System calls per connection, for each end of ws, ws-pool, ss, the plain
# forward (and ws-base).
run_syscalls() {
	local path c s rest
	((SYSCALLS_N)) || return 0
	for path in ws ws-pool ss tcp ${SLUICE_BASE:+ws-base}; do
		ensure_up "${GROUP[$path]}" "syscalls $path"
		case $path in
		ss) # ss-server, then the tunnels to iperf3, banner, echo, nginx
			read -r s _ _ _ c <<<"${RELAY[ss]}"
			"${LAB[@]}" syscalls ss "${HPORT[ss]}" "$SYSCALLS_N" "ss-tunnel=$c" "ss-server=$s" ;;
		tcp)
			"${LAB[@]}" syscalls tcp "${HPORT[tcp]}" "$SYSCALLS_N" "sluice=${RELAY[tcp]}" ;;
		*)
			read -r c s rest <<<"${RELAY[$path]}"
			"${LAB[@]}" syscalls "$path" "${HPORT[$path]}" "$SYSCALLS_N" "client=$c" "server=$s" ;;
		esac >>"$RESULTS"
		log "syscalls $path: done"
	done
}

# Profiles: each throughput path once more per direction, perf on each of
# its processes.
run_profiles() {
	local p path dir ip c s rest
	((PROFILE)) || return 0
	: >"$T/profile.md"
	for p in "${ORDER[@]}"; do
		path=${p%%:*} dir=${p##*:}
		[ "$path" = raw ] && continue
		ensure_up "$path" "profile $path $dir"
		iperf3 -c 127.0.0.1 -p "${PORT[$path]}" -t $((PROFILE_SECS + 2)) $([ "$dir" = rev ] && echo -R) \
			>/dev/null 2>&1 &
		ip=$!
		sleep 1
		{
			echo "#### $path, $([ "$dir" = fwd ] && echo "client → server" || echo "server → client")"
			echo
			read -r c s rest <<<"${RELAY[$path]}"
			if [ "$path" = ss ]; then # its server, then a tunnel per target
				# shellcheck disable=SC2086 # RELAY holds a list of pids
				"${LAB[@]}" profile "$PROFILE_SECS" "$T/perf-$path-$dir" ${RELAY[$path]}
			else
				# shellcheck disable=SC2086 # the rest of RELAY: more pids
				"${LAB[@]}" profile "$PROFILE_SECS" "$T/perf-$path-$dir" "client=$c" "server=$s" $rest
			fi
		} >>"$T/profile.md"
		wait "$ip" || true
		log "profile $path $dir: done"
	done
}

run_rounds() {
	local r
	for ((r = 1; r <= ROUNDS; r++)); do
		run_iperf_round "$r"
		run_ttfb_round "$r"
		run_rate_round "$r"
	done
}

# Stop every sluice as a user would (SIGTERM, drain, exit 0) and say so if
# one does not: a crash on the way out loses connections and logs.
stop_sluices() {
	local path p
	for path in ws ws-chacha ws-pool ws-nofo wss wss-none ws-base wss-base wss-none-base tcp ws-idle; do
		for p in ${RELAY[$path]:-}; do # the client, then its server
			stop_checked "$p"
		done
	done
}

# ------------------------------------------------------------- report
report() {
	local rc=0
	echo "## ws: WebSocket tunnel"
	echo
	echo "iperf3, one stream, ${SECS}s per run, $ROUNDS rounds (every path once per round, in this order:" \
		"${ORDER[*]}); cells are median (min–max) over the rounds." \
		"*× raw* is the median over rounds of path ÷ raw in the same round and direction." \
		"*Relay CPU s/GB* is user+system CPU of the tunnel's client and server processes" \
		"per 10⁹ bytes delivered." \
		"First byte: per round, up to $TTFB_N sequential new connections per path and mode" \
		"(at most ${TTFB_SECS}s), each timed from connect() to the first byte received," \
		"from a server that greets on accept (*server first*) or an echo server we send a line to" \
		"(*client first*); the rounds alternate with the throughput rounds." \
		"µs median and p90 are over all connections of all rounds;" \
		"*− direct* is the median over rounds of (path − direct) in the same round."
	echo
	"${LAB[@]}" report ws "$RESULTS" || rc=$?
	REPORTED=1
	echo "Tunnels as run (KEY from \`sluice keygen\`, a self-signed P-256 certificate for 127.0.0.1):"
	echo
	echo '```'
	echo "sluice ws   $SLUICE -L 'ws://127.0.0.1:SPORT?key=KEY'"
	echo "            $SLUICE -L tcp://127.0.0.1:PORT/127.0.0.1:$P_IPERF -L ...banner -L ...echo -L ...nginx -F 'ws://127.0.0.1:SPORT?key=KEY'"
	echo "  ws-pool   the same with -F '...?key=KEY&pool=4';  ws-nofo: '&fast-open=0';  ws-chacha: '&enc=chacha20-poly1305'"
	echo "sluice wss  $SLUICE -L 'wss://127.0.0.1:SPORT?key=KEY&cert=cert.pem&certkey=key.pem'"
	echo "            $SLUICE -L tcp://... -F 'wss://127.0.0.1:SPORT?key=KEY&ca=cert.pem'  (wss-none: '&enc=none')"
	[ -z "$SLUICE_BASE" ] || echo "*-base      the same with SLUICE_BASE=$SLUICE_BASE"
	echo "tcp         $SLUICE -L tcp://127.0.0.1:PORT/127.0.0.1:ECHO -L tcp://127.0.0.1:PORT/127.0.0.1:NGINX"
	echo "stunnel     stunnel4 CONF: [tun] accept, connect, cert, key (client = yes on the client), sslVersionMin = TLSv1.3, ciphersuites = TLS_AES_128_GCM_SHA256"
	echo "v2ray       v2ray -config: VLESS inbound, streamSettings ws path /ws [tls]; client: dokodemo-door -> VLESS ws [tls, allowInsecure]"
	echo "ss          ss-server -s 127.0.0.1 -p SPORT -m chacha20-ietf-poly1305 -k PW --no-delay -n 16384 -t 300"
	echo "            ss-tunnel -s 127.0.0.1 -p SPORT -b 127.0.0.1 -l PORT -L 127.0.0.1:$P_IPERF (same -m -k options; one per target)"
	echo "iperf3      iperf3 -c 127.0.0.1 -p PORT -t $SECS -J [-R]"
	echo "first byte  python3 bench/lab.py ttfb: connect(), [send 'ping'], recv(); targets: lab.py holdsrv [--banner]"
	echo "rate        wrk -t1 -c8 -d${RATE_SECS}s -H 'Connection: close' http://127.0.0.1:PORT/ (nginx: return 200)"
	echo "syscalls    python3 bench/lab.py syscalls: $SYSCALLS_N sequential GETs (Connection: close) to nginx, strace -c -f -p on each process"
	echo "memory      python3 bench/lab.py idle: $HOLD_N connections, 16 bytes echoed each, held; RSS/PSS before and while held"
	echo "versions    $(v2ray version 2>/dev/null | head -1); shadowsocks-libev $(dpkg-query -W -f='${Version}' shadowsocks-libev); stunnel $(dpkg-query -W -f='${Version}' stunnel4); $(openssl version)"
	echo '```'
	echo
	return "$rc"
}

log "ws: ROUNDS=$ROUNDS SECS=$SECS TTFB_N=$TTFB_N TTFB_SECS=$TTFB_SECS SLUICE=$SLUICE"
setup_paths
check_paths
check_ttfb
run_rounds
run_idle
run_syscalls
run_profiles
stop_sluices
report || rc=$?
if ((PROFILE)); then
	echo "### Profiles: perf, the 10 hottest symbols (self) per process, ${PROFILE_SECS}s of one iperf3 run"
	echo
	cat "$T/profile.md"
fi
exit "${rc:-0}"
