#!/usr/bin/env bash
# workers=N: what more worker processes buy through the WebSocket tunnel,
# beside v2ray (which uses every core by itself), in the same run.
#
#   ws-w1    sluice -L tcp://...?workers=1 -F ws:// -> sluice -L ws://...?workers=1
#   ws-w2    the same, workers=2 on both ends (client and server)
#   ws-wN    workers=$(nproc) on both ends (left out when nproc is 2)
#   v2ray    v2ray VLESS over ws:// (dokodemo-door in front of the client)
#
# Aggregate throughput: iperf3 -P P (P = 8 and 64 parallel streams), SECS
# seconds, to iperf3 -s through each path, client to server.
# New connections per second: wrk -c P (8 and 64), Connection: close,
# SECS seconds, to nginx (one worker process per core) through each path.
# ROUNDS rounds; each round runs every path once, in the same order, so
# that the machine's other load falls on them alike.  Reported: the median
# over rounds of each figure, and the scaling figure, ws-wK / ws-w1 in the
# same round (per round, and its median).  The machine may be shared:
# say so when quoting the numbers.
#
# Knobs: ROUNDS=3 SECS=3 PAR="8 64" SLUICE=./build/sluice KEEP=1
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-3}
read -r -a PAR <<<"${PAR:-8 64}"
NCPU=$(nproc)
PATHS=(ws-w1 ws-w2)
((NCPU > 2)) && PATHS+=(ws-wN)
PATHS+=(v2ray)

need_pkgs iperf3 wrk nginx v2ray python3
check_sluice
bench_init workers $((ROUNDS * ${#PATHS[@]} * ${#PAR[@]} * 2 * (SECS + 3) + 120))
RESULTS=$T/results.jsonl
: >"$RESULTS"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

ports_init 20
port P_IPERF
port P_HTTP
KEY=$("$SLUICE" keygen)
UUID=$(cat /proc/sys/kernel/random/uuid)
declare -A FWD_I FWD_H # path -> its forward to iperf3 / to nginx

start_iperf_server
mkdir -p "$T/nginx"
head -c 1024 /dev/urandom | base64 >"$T/nginx/index.html"
chmod 755 "$T" "$T/nginx" # nginx's workers run as nobody
chmod 644 "$T/nginx/index.html"
cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $T/nginx; proxy_temp_path $T/nginx;
	fastcgi_temp_path $T/nginx; uwsgi_temp_path $T/nginx; scgi_temp_path $T/nginx;
	server { listen 127.0.0.1:$P_HTTP; root $T/nginx; }
}
EOF
start nginx nginx -c "$T/nginx/nginx.conf"
wait_port "$P_HTTP"

# sluice_pair PATH N: a ws client and server of N workers each, with a
# forward to iperf3 and one to nginx.
sluice_pair() {
	local path=$1 n=$2 srv
	port srv
	port "FWD_I[$path]"
	port "FWD_H[$path]"
	start "$path-srv" "$SLUICE" -q -L "ws://127.0.0.1:$srv/t?host-loopback=1&key=$KEY&workers=$n"
	wait_port "$srv"
	start "$path-cli" "$SLUICE" -q \
		-L "tcp://127.0.0.1:${FWD_I[$path]}/127.0.0.1:$P_IPERF?workers=$n" \
		-L "tcp://127.0.0.1:${FWD_H[$path]}/127.0.0.1:$P_HTTP?workers=$n" \
		-F "ws://127.0.0.1:$srv/t?key=$KEY"
	wait_port "${FWD_I[$path]}"
	wait_port "${FWD_H[$path]}"
}

v2ray_pair() {
	local srv
	port srv
	port "FWD_I[v2ray]"
	port "FWD_H[v2ray]"
	v2ray_vless v2ray "$srv" "$(dokodemo "${FWD_I[v2ray]}" "$P_IPERF" tcp), $(dokodemo "${FWD_H[v2ray]}" "$P_HTTP" tcp)"
	wait_port "${FWD_I[v2ray]}"
	wait_port "${FWD_H[v2ray]}"
}

sluice_pair ws-w1 1
sluice_pair ws-w2 2
((NCPU > 2)) && sluice_pair ws-wN "$NCPU"
v2ray_pair

# one measure into RESULTS: {"round", "path", "what" (tput|cps), "par", "value"}
record() {
	printf '{"round": %d, "path": "%s", "what": "%s", "par": %d, "value": %s}\n' \
		"$1" "$2" "$3" "$4" "${5:-null}" >>"$RESULTS"
	log "round $1 $2 $3 P=$4: ${5:-failed}"
}

tput() { # PATH P: Gbit/s received by iperf3 -s, all streams together
	timeout $((SECS + 20)) iperf3 -c 127.0.0.1 -p "${FWD_I[$1]}" -P "$2" -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys
try: print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception: pass'
}

cps() { # PATH P: requests (= new connections) per second, and the failed ones
	timeout $((SECS + 20)) wrk -t2 -c "$2" -d "${SECS}s" --timeout 5s -H "Connection: close" \
		"http://127.0.0.1:${FWD_H[$1]}/" >"$T/wrk.out" 2>&1
	grep -q "Non-2xx" "$T/wrk.out" && log "$(grep Non-2xx "$T/wrk.out")"
	awk '/^Requests\/sec/ {print $2}' "$T/wrk.out"
}

for p in "${PATHS[@]}"; do # warm up, and prove each path works
	tput "$p" 1 >/dev/null
	curl -fsS -m 5 -o /dev/null "http://127.0.0.1:${FWD_H[$p]}/" || log "WARNING: $p does not carry HTTP"
done
for r in $(seq "$ROUNDS"); do
	for par in "${PAR[@]}"; do
		for p in "${PATHS[@]}"; do record "$r" "$p" tput "$par" "$(tput "$p" "$par")"; done
		for p in "${PATHS[@]}"; do record "$r" "$p" cps "$par" "$(cps "$p" "$par")"; done
	done
done

python3 - "$RESULTS" "$NCPU" "${PATHS[@]}" <<'EOF'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ncpu, paths = sys.argv[2], sys.argv[3:]
val = {(r["round"], r["path"], r["what"], r["par"]): r["value"] for r in rows}
rounds = sorted({r["round"] for r in rows})
print("\nworkers=N through ws, beside v2ray; %s rounds, medians (machine: %s cores, shared)" % (len(rounds), ncpu))
for what, unit in (("tput", "Gbit/s"), ("cps", "conn/s")):
    for par in sorted({r["par"] for r in rows}):
        line = ["%-4s P=%-3d" % (what, par)]
        for p in paths:
            v = [val.get((r, p, what, par)) for r in rounds]
            v = [x for x in v if x is not None]
            line.append("%s %s" % (p, ("%.2f" % st.median(v)) if v else "-"))
        for p in paths:
            if not p.startswith("ws-w") or p == "ws-w1":
                continue
            per = []
            for r in rounds:
                a, b = val.get((r, p, what, par)), val.get((r, "ws-w1", what, par))
                if a is not None and b:
                    per.append(a / b)
            if per:
                line.append("%s/ws-w1 %.2f (rounds: %s)" % (p, st.median(per), " ".join("%.2f" % x for x in per)))
        print("  " + "  ".join(line) + "  [%s]" % unit)
EOF
