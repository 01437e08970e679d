#!/usr/bin/env bash
# What the shared replay cache costs per open: the time to the first byte of
# a new connection through the WebSocket tunnel, with the server's replay
# cache in its own memory (ws-local) and in Redis as well (ws-redis,
# replay=redis://, docs/deploy.md), beside a direct connection, in the same
# run.  Every connection is a fresh WebSocket whose open carries the
# client's first line (0-RTT, the client speaks first): the server checks
# the token against its cache(s) before it dials, so what Redis adds is on
# this path.  Both servers have a replay-state file saying nothing was used
# yet, so that no open waits the round trip a restart costs.
#
#   direct    lab.py ttfb straight to the echo server
#   ws-local  sluice -F ws:// to a sluice -L ws:// server, its own cache
#   ws-redis  the same with replay=redis://127.0.0.1:PORT/0 (redis-server
#             started here, on loopback, no persistence)
#
# TTFB_N turns per round (at most TTFB_SECS seconds), ROUNDS rounds; each
# turn opens one connection through each path (connect, send a line, time
# to the first byte of its echo), in an order that alternates, so that the
# machine's other load falls on the paths alike.  Reported: p50
# and p99 over every sample of a path, and the median over rounds of
# (ws-redis - ws-local) at p50 and p99 in the same round: the added cost.
#
# Knobs: ROUNDS=5 TTFB_N=300 TTFB_SECS=5 SLUICE=./build/sluice KEEP=1
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
TTFB_N=${TTFB_N:-300}
TTFB_SECS=${TTFB_SECS:-5}
PATHS=(direct ws-local ws-redis)

need_pkgs redis-server redis-tools python3
check_sluice
bench_init replay $((ROUNDS * ${#PATHS[@]} * (TTFB_SECS + 2) + 60))
RESULTS=$T/results.jsonl
: >"$RESULTS"

read -r -a FREE <<<"$("${LAB[@]}" ports 8)"
P_ECHO=${FREE[0]} P_REDIS=${FREE[1]}
declare -A FWD=([direct]=$P_ECHO [ws-local]=${FREE[2]} [ws-redis]=${FREE[3]})
declare -A SRV=([ws-local]=${FREE[4]} [ws-redis]=${FREE[5]})
KEY=$("$SLUICE" keygen)

start echo "${LAB[@]}" holdsrv "$P_ECHO"
mkdir -p "$T/redis"
start redis redis-server --port "$P_REDIS" --bind 127.0.0.1 --dir "$T/redis" --save "" \
	--appendonly no
wait_port "$P_ECHO"
wait_port "$P_REDIS"
for p in ws-local ws-redis; do
	extra=""
	[ "$p" = ws-redis ] && extra="&replay=redis://127.0.0.1:$P_REDIS/0"
	printf '%020d\n' 0 >"$T/$p.state"
	start "$p-server" "$SLUICE" -q \
		-L "ws://127.0.0.1:${SRV[$p]}/t?host-loopback=1&key=$KEY&replay-state=$T/$p.state$extra"
	wait_port "${SRV[$p]}"
	start "$p-client" "$SLUICE" -q -L "tcp://127.0.0.1:${FWD[$p]}/127.0.0.1:$P_ECHO" \
		-F "ws://127.0.0.1:${SRV[$p]}/t?key=$KEY"
	wait_port "${FWD[$p]}"
done

# paired: each turn opens one connection through each path, in an order
# that alternates, so that the machine's other load falls on all alike
for r in $(seq "$ROUNDS"); do
	python3 - "$r" "$TTFB_N" "$TTFB_SECS" direct:"${FWD[direct]}" ws-local:"${FWD[ws-local]}" \
		ws-redis:"${FWD[ws-redis]}" >>"$RESULTS" <<'EOF'
import json, socket, sys, time

rnd, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
paths = [a.split(":") for a in sys.argv[4:]]
us = {p: [] for p, _ in paths}
errs = {p: 0 for p, _ in paths}
end = time.monotonic() + secs
for i in range(n):
    if time.monotonic() > end:
        break
    for p, port in (paths if i % 2 == 0 else paths[::-1]):
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5)
        try:
            t0 = time.perf_counter()
            s.connect(("127.0.0.1", int(port)))
            s.sendall(b"ping\r\n")
            if not s.recv(64):
                raise OSError("closed")
            us[p].append((time.perf_counter() - t0) * 1e6)
        except OSError:
            errs[p] += 1
        finally:
            s.close()
        time.sleep(0.001)
for p, _ in paths:
    print(json.dumps(dict(kind="ttfb", path=p, mode="client", round=rnd,
                          us=[round(x, 1) for x in us[p]], nerr=errs[p])))
EOF
	log "round $r: $(grep -c . "$RESULTS") rows"
done
log "redis: $(redis-cli -p "$P_REDIS" info keyspace | grep '^db0' || echo 'no keys')"
# Redis's own round trip on this machine, for scale (redis-cli --latency:
# min, max, avg ms over about 2 s)
rlat=$(timeout 3 redis-cli -p "$P_REDIS" --latency --raw 2>/dev/null | tail -n 1 || true)
mem=$(redis-cli -p "$P_REDIS" --raw eval \
	"local k = redis.call('keys', 'sluice:replay:*')[1]; if k then return redis.call('memory', 'usage', k) end return 0" 0)

python3 - "$RESULTS" "$mem" "$rlat" <<'EOF'
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


def med(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


print("| Path | connections (failed) | µs p50 | µs p99 |")
print("|---|---|---|---|")
per = {}
for p in ("direct", "ws-local", "ws-redis"):
    rs = [r for r in rows if r["path"] == p]
    us = [x for r in rs for x in r["us"]]
    per[p] = {r["round"]: r["us"] for r in rs}
    nerr = sum(r["nerr"] for r in rs)
    print("| %s | %d (%d) | %s | %s |" % (p, len(us) + nerr, nerr,
          "%.0f" % pct(us, 0.5) if us else "FAILED", "%.0f" % pct(us, 0.99) if us else "—"))
print()
for q, name in ((0.5, "p50"), (0.99, "p99")):
    d = [pct(per["ws-redis"][k], q) - pct(per["ws-local"][k], q)
         for k in per["ws-local"] if k in per["ws-redis"] and per["ws-local"][k] and per["ws-redis"][k]]
    rounds = ", ".join("%+.0f" % x for x in d)
    print("Redis check added at %s: %s µs (median over rounds; rounds: %s)" % (
        name, "%+.0f" % med(d) if d else "—", rounds))
print()
print("Redis memory per remembered open (MEMORY USAGE of one key): %s bytes" % sys.argv[2])
print("redis-cli --latency after the rounds (min max avg in ms, samples; ~2 s): %s" % (sys.argv[3] or "—"))
EOF
REPORTED=1
