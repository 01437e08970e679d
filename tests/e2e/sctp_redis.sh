#!/bin/bash
# SCTP tunnel servers sharing their replay cache through Redis
# (replay=redis://, docs/deploy.md): two sctp+udp:// instances with one key
# and one redis-server on loopback.  A client reaches each; the AUTH
# nonces are recorded in Redis; Redis stopped: a new association is
# refused (SCTP has no round trip to fall back on) and the log says why;
# Redis back: associations are taken again.
. "$(dirname "$0")/lib.sh"
need_cmd redis-server curl

KEY=$("$SLUICE" keygen)
mkdir -p "$T/www"
echo "through sctp" >"$T/www/f"
web=$(free_port)
http_server "$web" "$T/www"

rp=$(free_port)
start_redis "$rp"

sp=() mp=()
for i in 1 2; do
	sp[i]=$(free_port)
	mp[i]=$(free_port)
	start "srv$i" "$SLUICE" -v --metrics "127.0.0.1:${mp[i]}" \
		-L "sctp+udp://127.0.0.1:${sp[i]}?host-loopback=1&key=$KEY&replay=redis://127.0.0.1:$rp/0&replay-timeout=300ms"
	wait_port "${mp[i]}"
	wait_udp_port "${sp[i]}"
done
# client NAME I: a forward through instance I, on port $FW (not started
# inside $(...), which would keep it from the cleanup)
client() {
	FW=$(free_port)
	start "$1" "$SLUICE" -L "tcp://127.0.0.1:$FW/127.0.0.1:$web" -F "sctp+udp://127.0.0.1:${sp[$2]}?key=$KEY"
	wait_port "$FW"
}
get() { curl -fsS -m 8 "http://127.0.0.1:$1/f" | grep -q "through sctp"; }
up() { # I: /health of instance I says its shared cache is up
	for _ in $(seq 50); do
		curl -fsS "http://127.0.0.1:${mp[$1]}/health" | grep -q '"status":"ok"' && return 0
		sleep 0.1
	done
	return 1
}
check "instance 1: the shared cache is up" up 1
check "instance 2: the shared cache is up" up 2
client c1 1
f1=$FW
client c2 2
f2=$FW
check "a client through instance 1" get "$f1"
check "a client through instance 2" get "$f2"
check "both AUTHs were recorded in Redis (new)" bash -c \
	"for p in ${mp[1]} ${mp[2]}; do curl -fsS http://127.0.0.1:\$p/metrics; done | grep -c 'sluice_replay_shared_checks_total{kind=\"sctp\",result=\"new\"} 1' | grep -qx 2"

kill "$(pid_of redis)"
check "Redis stopped: /health of instance 2 says degraded" bash -c \
	"for _ in \$(seq 50); do curl -fsS http://127.0.0.1:${mp[2]}/health | grep -q '\"status\":\"degraded\"' && exit 0; sleep 0.1; done; exit 1"
client c3 2
f3=$FW
check_fails "a new association is refused" get "$f3"
check "and the log says why" grep -q "replay cache unreachable: AUTH refused" "$T/srv2.log"

start_redis "$rp"
check "Redis back: instance 2 says ok" up 2
client c4 2
f4=$FW
check "a new association is taken again" get "$f4"

finish
