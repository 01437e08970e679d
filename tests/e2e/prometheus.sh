#!/bin/bash
# /metrics against the real Prometheus: promtool and a Prometheus server.
#
# One sluice runs a server of every kind (proxy, SOCKS5 with a password,
# ws, wstan, sctp+udp, the rootless UDP VPN, the PPP gateway, the SSTP
# server, a ws server whose shared replay cache (Redis) is down, one on a
# socket path with a quote and a backslash, which a label must escape);
# seven more are clients through each tunnel (ws, wstan, sctp+udp, vpn,
# ppp+tcp, sstp) and one a reverse forward's, one routes through a group
# with rules, a UDP and a DNS forward, one runs two worker processes
# (workers=2: its master's /metrics is the workers' summed), and
# curl fetches a page through every one, with a wrong password and a probe
# of the ws server on the side (the ws client's pool is a session in
# /status), so every metric family the sources declare
# is on some /metrics, with live sessions, pools, caches and refusals.
# promtool check metrics must accept every /metrics (help, type, names,
# one group per family), every family declared in the sources must show
# up, and a Prometheus server (Debian's) started here on 127.0.0.1 scrapes
# all ten and answers sluice_connections_total of the proxy listener with
# the value /metrics shows.
. "$(dirname "$0")/lib.sh"
need_cmd prometheus promtool curl

web=$(free_port)
mkdir -p "$T/www"
echo "metrics page" >"$T/www/index.html"
http_server "$web" "$T/www"

KEY=$("$SLUICE" keygen)
KEY2=$("$SLUICE" keygen)
echo 'vpn pass' | "$SLUICE" vpn-user add "$T/users.vpn" alice >/dev/null 2>&1
printf 'carol:ppp pass\n' >"$T/users.ppp"
chmod 600 "$T/users.ppp"

m_srv=$(free_port) p_proxy=$(free_port) p_socks=$(free_port) p_ws=$(free_port)
p_wstan=$(free_port) p_sctp=$(free_port) p_vpn=$(free_port) p_ppp=$(free_port)
p_sstp=$(free_port) p_ws2=$(free_port) p_noredis=$(free_port) p_rev=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
	-subj /CN=sstp.test >/dev/null 2>&1
start server "$SLUICE" -v --metrics "127.0.0.1:$m_srv" \
	-L "proxy://127.0.0.1:$p_proxy" \
	-L "socks5://u:right@127.0.0.1:$p_socks" \
	-L "ws://127.0.0.1:$p_ws?host-loopback=1&key=$KEY&reverse=127.0.0.1:$p_rev" \
	-L "ws://127.0.0.1:$p_ws2?key=$KEY2&replay=redis://127.0.0.1:$p_noredis/0" \
	-L "wstan://127.0.0.1:$p_wstan?host-loopback=1&key=wstan%20pass" \
	-L "sctp+udp://127.0.0.1:$p_sctp?host-loopback=1&key=$KEY" \
	-L "vpn://127.0.0.1:$p_vpn?users=$T/users.vpn&net=10.77.0.0/24" \
	-L "ppp+tcp://127.0.0.1:$p_ppp?users=$T/users.ppp" \
	-L "sstp://127.0.0.1:$p_sstp?cert=$T/cert.pem&certkey=$T/key.pem&users=$T/users.ppp&net=10.78.0.0/24" \
	-L "ppp+unix://$T/quote%22back%5Cslash.sock?users=$T/users.ppp"
wait_port "$m_srv"
wait_port "$p_ppp"

# name HOP: a client whose proxy goes through HOP, with its own /metrics
declare -A mport pport
client() {
	mport[$1]=$(free_port)
	pport[$1]=$(free_port)
	start "$1" "$SLUICE" -v --metrics "127.0.0.1:${mport[$1]}" -L "proxy://127.0.0.1:${pport[$1]}" -F "$2"
}
client ws "ws://127.0.0.1:$p_ws?key=$KEY&pool=2"
client wstan "wstan://127.0.0.1:$p_wstan?key=wstan%20pass"
client sctp "sctp+udp://127.0.0.1:$p_sctp?key=$KEY"
client vpn "vpn://alice:vpn%20pass@127.0.0.1:$p_vpn"
client ppp "ppp+tcp://carol:ppp%20pass@127.0.0.1:$p_ppp"
client sstp "sstp://carol:ppp%20pass@127.0.0.1:$p_sstp?insecure=1"
# a reverse forward: the ws server listens on p_rev for this client
mport[rev]=$(free_port) pport[rev]=$(free_port)
start rev "$SLUICE" -v --metrics "127.0.0.1:${mport[rev]}" -L "proxy://127.0.0.1:${pport[rev]}" \
	-R "tcp://127.0.0.1:$p_rev/127.0.0.1:$web" -F "ws://127.0.0.1:$p_ws?key=$KEY"
# and one that routes: a group of two ws members, rules, a UDP forward
# and a DNS forwarder through the group
mport[routed]=$(free_port) pport[routed]=$(free_port) p_udp=$(free_port) p_dns=$(free_port)
start routed "$SLUICE" -v --metrics "127.0.0.1:${mport[routed]}" \
	--group "tunnels=ws://127.0.0.1:$p_ws?key=$KEY,ws://127.0.0.1:$p_ws?key=$KEY" \
	--rule "DOMAIN-SUFFIX,blocked.example,block" \
	-L "proxy://127.0.0.1:${pport[routed]}" \
	-L "udp://127.0.0.1:$p_udp/127.0.0.1:9" \
	-L "dns://127.0.0.1:$p_dns?server=127.0.0.1:9" \
	-F group://tunnels
# and one of two worker processes (workers=2): its master's /metrics sums
# the workers' and adds sluice_worker_*
mport[workers]=$(free_port) pport[workers]=$(free_port)
start workers "$SLUICE" -v --metrics "127.0.0.1:${mport[workers]}" \
	-L "proxy://127.0.0.1:${pport[workers]}?workers=2" -F "ws://127.0.0.1:$p_ws?key=$KEY"
for c in ws wstan sctp vpn ppp sstp rev routed workers; do wait_port "${pport[$c]}"; done

fetch() { curl -fsS --max-time 20 -x "$1" "$2"; }
check_eq "direct proxy" "metrics page" "$(fetch "socks5h://127.0.0.1:$p_proxy" "http://127.0.0.1:$web/")"
check_eq "socks5 with the password" "metrics page" \
	"$(fetch "socks5h://u:right@127.0.0.1:$p_socks" "http://127.0.0.1:$web/")"
check_fails "socks5 with a wrong password" fetch "socks5h://u:wrong@127.0.0.1:$p_socks" "http://127.0.0.1:$web/"
check "a browser's GET to the ws server gets the decoy" curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$p_ws/"
for c in ws wstan sctp workers; do
	check_eq "through $c" "metrics page" "$(fetch "socks5h://127.0.0.1:${pport[$c]}" "http://127.0.0.1:$web/")"
done
# inside the VPN the server's address (.1) and inside PPP the host alias
# (10.0.2.2) reach the server host's loopback
check_eq "through vpn" "metrics page" "$(fetch "socks5h://127.0.0.1:${pport[vpn]}" "http://10.77.0.1:$web/")"
check_eq "through ppp" "metrics page" "$(fetch "socks5h://127.0.0.1:${pport[ppp]}" "http://10.0.2.2:$web/")"
check_eq "through sstp" "metrics page" "$(fetch "socks5h://127.0.0.1:${pport[sstp]}" "http://10.78.0.2:$web/")"
# a request that is not SSTP, for the SSTP server's refusals
check_fails "a GET to the SSTP server is not SSTP" curl -fsSk --max-time 5 -o /dev/null "https://127.0.0.1:$p_sstp/"
wait_port "$p_rev" 20
check_eq "through the reverse forward" "metrics page" "$(curl -fsS --max-time 20 "http://127.0.0.1:$p_rev/")"
check_eq "through the group" "metrics page" "$(fetch "socks5h://127.0.0.1:${pport[routed]}" "http://127.0.0.1:$web/")"
check_fails "a blocked domain" fetch "socks5h://127.0.0.1:${pport[routed]}" "http://www.blocked.example/"
# a ws hop's pool is a session in /status: up while it holds idle
# WebSockets (pool=2), counted; never what makes /health fail
wspool() {
	curl -fsS "http://127.0.0.1:${mport[ws]}/status" | python3 -c '
import json, sys
s = [x for x in json.load(sys.stdin)["sessions"] if x["name"] == sys.argv[1]]
print(s[0]["state"], s[0]["ok"], s[0]["why"]) if s else print("none")' "ws://127.0.0.1:$p_ws"
}
for _ in $(seq 50); do case $(wspool) in up*) break ;; esac; sleep 0.1; done
check "the ws pool is a session in /status: $(wspool)" \
	bash -c "[[ '$(wspool)' =~ ^up\ True\ pool:\ 2\ idle\ WebSockets\;\ [0-9]+\ opened ]]"
check "and in sluice status" bash -c "'$SLUICE' status --metrics 127.0.0.1:${mport[ws]} | grep -q 'ws://127.0.0.1:$p_ws  up (pool: 2 idle'"
# a datagram through the UDP forward opens a flow through the group
echo datagram >"/dev/udp/127.0.0.1/$p_udp"
for _ in $(seq 50); do
	curl -fsS "http://127.0.0.1:${mport[routed]}/metrics" | grep -q '^sluice_udp_flows_total [1-9]' && break
	sleep 0.1
done

all="$m_srv ${mport[*]}"
for m in $all; do
	curl -fsS "http://127.0.0.1:$m/metrics" >"$T/metrics.$m"
	check "promtool check metrics accepts /metrics on :$m" bash -c \
		'out=$(promtool check metrics <"$1" 2>&1); rc=$?; [ -z "$out" ] || echo "$out"; [ $rc = 0 ] && [ -z "$out" ]' \
		_ "$T/metrics.$m"
done

check "a socket path's quote and backslash are escaped in its label" \
	grep -q 'listener="ppp+unix://[^"]*/quote%22back%5Cslash.sock"' "$T/metrics.$m_srv"

# every family the sources declare, and the core's in metrics.c
declared=$(grep -rhoE '"sluice_[a-z0-9_]+"' "$SRCDIR/src" | tr -d '"' |
	grep -vE '^sluice_(ws|wstan|slirpgw|lwip|ppp|tunnel|sctp|vpn|auth)_$' | sort -u)
declared+=$'\n'$(sed -n 's/.*EACH([a-z_]*, "\([a-z_]*\)".*/sluice_\1/p' "$SRCDIR/src/core/metrics.c")
seen=$(cat "$T"/metrics.* | sed -n 's/^# TYPE \([a-z0-9_]*\) .*/\1/p' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$declared" | grep . | sort -u) <(printf '%s\n' "$seen"))
check_eq "every declared metric family is on some /metrics" "" "$(echo $missing)"
echo "families seen: $(printf '%s\n' "$seen" | wc -l) on ${#mport[@]}+1 endpoints"

# the proxy listener's count, as /metrics shows it and as Prometheus does
want=$(sed -n "s/^sluice_connections_total{listener=\"proxy:\/\/127.0.0.1:$p_proxy\"} //p" "$T/metrics.$m_srv")
prom=$(free_port)
{
	echo "global: {scrape_interval: 1s, scrape_timeout: 1s}"
	echo "scrape_configs:"
	echo "  - job_name: sluice"
	echo "    static_configs:"
	echo "      - targets: [$(for m in $all; do printf '"127.0.0.1:%s",' "$m"; done | sed 's/,$//')]"
} >"$T/prometheus.yml"
check "promtool check config" promtool check config "$T/prometheus.yml"
start prometheus prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$prom" --log.level=warn
wait_port "$prom" 30
query() {
	curl -fsS --max-time 5 "http://127.0.0.1:$prom/api/v1/query" --data-urlencode "query=$1" |
		/usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(" ".join(sorted(x["value"][1] for x in r)))'
}
got="" ups="" all_up=$(for m in $all; do printf '1 '; done | sed 's/ $//')
for _ in $(seq 60); do
	ups=$(query 'up{job="sluice"}' 2>/dev/null)
	got=$(query "sluice_connections_total{listener=\"proxy://127.0.0.1:$p_proxy\"}" 2>/dev/null)
	[ "$ups" = "$all_up" ] && [ -n "$got" ] && break
	sleep 0.5
done
check_eq "Prometheus scrapes all nine (up)" "$all_up" "$ups"
check_eq "Prometheus answers sluice_connections_total of the proxy listener" "$want" "$got"
check_eq "the proxy listener counted the one curl" "1" "$want"
for m in $all; do
	check_eq "Prometheus took every sample of :$m" "$(grep -vc '^#' "$T/metrics.$m")" \
		"$(query "scrape_samples_scraped{instance=\"127.0.0.1:$m\"}")"
done
finish
