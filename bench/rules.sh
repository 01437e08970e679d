#!/usr/bin/env bash
# Routing rules at the size of the lists people feed to clash or v2ray.
#
#   in process  bench_rules (bench/rules_bench.c): a 100k-line list loaded
#               as sluice loads it (best of 3), lookups per second through
#               the tries, and the same queries through a plain
#               first-to-last scan for the ratio; each in the process's
#               CPU time (what it costs, however busy a shared machine is)
#               and in wall time
#   processes   the same list (its 100k rules as v2ray routing rules:
#               domain:, full:, keyword:, IP ranges) checked by
#               `sluice check --rules FILE` and by `v2ray -test`, each from
#               start to exit, best of ROUNDS: what loading it costs a user
#
# Knobs: N=100000 LOOKUPS=1000000 ROUNDS=3.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

N=${N:-100000}
LOOKUPS=${LOOKUPS:-1000000}
ROUNDS=${ROUNDS:-3}
need_pkgs v2ray python3
check_sluice
bench_init rules
log "building bench_rules"
cmake --build "$(dirname "$SLUICE")" --target bench_rules >&2
"$(dirname "$SLUICE")/bench_rules" "$N" "$LOOKUPS"

"$(dirname "$SLUICE")/bench_rules" "$N" --write "$T/list.txt"
python3 - "$T/list.txt" "$T/v2ray.json" <<'PY'
import json, sys
proxy_dom, direct_dom, block_dom, ips_direct, ips_proxy = [], [], [], [], []
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    kind = {"DOMAIN-SUFFIX": "domain:", "DOMAIN": "full:", "DOMAIN-KEYWORD": "keyword:"}.get(f[0])
    if kind:
        {"proxy": proxy_dom, "direct": direct_dom, "block": block_dom}[f[2]].append(kind + f[1])
    elif f[0] in ("IP-CIDR", "IP-CIDR6"):
        (ips_direct if f[2] == "direct" else ips_proxy).append(f[1])
rules = [{"type": "field", "domain": d, "outboundTag": t}
         for d, t in ((proxy_dom, "proxy"), (direct_dom, "direct"), (block_dom, "block")) if d]
rules += [{"type": "field", "ip": i, "outboundTag": t}
          for i, t in ((ips_direct, "direct"), (ips_proxy, "proxy")) if i]
json.dump({"log": {"loglevel": "warning"},
           "inbounds": [{"port": 1, "listen": "127.0.0.1", "protocol": "socks"}],
           "outbounds": [{"protocol": "socks", "tag": "proxy",
                          "settings": {"servers": [{"address": "127.0.0.1", "port": 9}]}},
                         {"protocol": "freedom", "tag": "direct"},
                         {"protocol": "blackhole", "tag": "block"}],
           "routing": {"domainStrategy": "AsIs", "rules": rules}}, open(sys.argv[2], "w"))
PY

# best wall time of ROUNDS runs of a command that must succeed, in ms
best_ms() {
	local best="" t0 t1 ms
	for _ in $(seq "$ROUNDS"); do
		t0=$(date +%s%N)
		"$@" >"$T/run.out" 2>&1 || { cat "$T/run.out" >&2; die "failed: $*"; }
		t1=$(date +%s%N)
		ms=$(((t1 - t0) / 1000000))
		if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
	done
	echo "$best"
}
s=$(best_ms "$SLUICE" check -L proxy://127.0.0.1:1 --chain proxy=socks5://127.0.0.1:9 --rules "$T/list.txt")
b=$(best_ms "$SLUICE" check -L proxy://127.0.0.1:1)
v=$(best_ms v2ray -test -config "$T/v2ray.json")
echo "## rules: the list checked, start to exit (best of $ROUNDS)"
echo
echo "| process | ms |"
echo "|---|---|"
echo "| sluice check, no rules | $b |"
echo "| sluice check --rules (the $N-line list) | $s |"
echo "| v2ray -test, the same rules | $v |"
echo "| v2ray / sluice | $(python3 -c "print(round($v / max($s, 1), 1))")x |"
echo
