#!/bin/bash
# Routing: named chains, rules, via=, where DNS happens, datagrams, the
# PAC file and bad rule files, with real peers: curl through sluice's
# proxy, a sluice WebSocket server as the tunnel, dnsmasq as the name
# servers, dig through v2ray for UDP.
#
# In a network and mount namespace, two dnsmasq servers stand for the two
# sides: 127.0.0.53 is this host's resolver (the client's /etc/resolv.conf)
# and 127.0.0.54 the far side's (the tunnel server runs in a mount
# namespace of its own whose /etc/resolv.conf names it).  Each logs the
# names it was asked, so the test sees where every name was resolved:
#   - a name the rules send through the tunnel reaches only the far side's
#     server, even with a CIDR rule above its rule;
#   - a name sent direct with a CIDR rule above it is resolved here (the
#     rule needs the address); one the CIDR rule then sends through the
#     tunnel goes there as the address the rule saw;
#   - an IP literal in a blocked prefix gets SOCKS reply 2 and an HTTP 403
#     page naming the rule's file and line;
#   - via= pins a listener to a chain whatever the rules say;
#   - DOMAIN matches the name only, DOMAIN-GLOB a pattern;
#   - datagrams (dig through v2ray's SOCKS5 UDP, through a udp:// forward
#     and through a dns:// forwarder, over UDP and TCP) follow the same
#     rules;
#   - SRC-IP-CIDR: a client address blocked (curl --interface);
#   - the YAML file's chains:, groups: and rules: (a relative rule file),
#     streams and datagrams through its group;
#   - a 100,000-line rule file loads, and its last rule matches;
#   - rule files with errors stop sluice with FILE:LINE before it listens;
#     a directory is refused as one, a pipe is read to its end.
. "$(dirname "$0")/lib.sh"
need_cmd curl dnsmasq
need_root "namespaces"
in_netns --net --mount
ip link set lo up
mount --make-rprivate /

dns() { # NAME ADDR: a dnsmasq answering every name with 127.0.0.1
	start "dns$1" dnsmasq --no-daemon --user=root --no-resolv --no-hosts --conf-file=/dev/null \
		--listen-address="$2" --bind-interfaces --port 53 --address=/#/127.0.0.1 \
		--log-queries --log-facility=-
}
dns here 127.0.0.53
dns far 127.0.0.54
echo "nameserver 127.0.0.53" >"$T/resolv.here"
echo "nameserver 127.0.0.54" >"$T/resolv.far"
mount --bind "$T/resolv.here" /etc/resolv.conf
asked() { grep -c "query\[A\] $2 from" "$T/dns$1.log"; } # SIDE NAME: how often

mkdir -p "$T/www"
echo routed >"$T/www/t"
web=$(free_port)
http_server "$web" "$T/www"

KEY=$("$SLUICE" keygen)
ts=$(free_port) mt=$(free_port)
start far unshare --mount bash -c "mount --bind '$T/resolv.far' /etc/resolv.conf &&
	exec '$SLUICE' -v --metrics 127.0.0.1:$mt -L 'ws://127.0.0.1:$ts?key=$KEY&host-loopback=1'"
wait_port "$ts"

cat >"$T/rules.txt" <<EOF
# the test's rules
IP-CIDR,127.0.0.9/32,block
IP-CIDR,127.0.0.10/32,block,no-resolve
IP-CIDR,10.0.0.0/8,direct
SRC-IP-CIDR,127.0.0.7/32,block
DOMAIN-SUFFIX,remote.test,tun
DOMAIN-SUFFIX,local.test,direct
ip-cidr,127.0.0.0/8,tun
DST-PORT,1,block
DOMAIN,exact.test,tun
DOMAIN-GLOB,cdn?-*.test,tun
IP-CIDR6,::1/128,block,no-resolve
MATCH,direct
EOF
p=$(free_port) pv=$(free_port) m=$(free_port) uf=$(free_port) df=$(free_port)
start cli "$SLUICE" -v --metrics "127.0.0.1:$m" -L "proxy://127.0.0.1:$p" \
	-L "udp://127.0.0.1:$uf/127.0.0.54:53" -L "dns://127.0.0.1:$df?server=127.0.0.54" \
	-L "proxy://127.0.0.1:$pv?via=tun" --chain "tun=ws://127.0.0.1:$ts?key=$KEY" \
	--rules "$T/rules.txt"
wait_port "$p"
get() { curl -fsS -m 10 -x "$1" "$2"; }
far_dialed() { grep -c -- "-> $1:$web\$" "$T/far.log"; }

check_eq "a name the rules send through the tunnel" routed "$(get "socks5h://127.0.0.1:$p" "http://a.remote.test:$web/t")"
check_eq "... was dialed by the far side by name" 1 "$(far_dialed a.remote.test)"
check_eq "... and resolved there" 1 "$(($(asked far a.remote.test) > 0))"
check_eq "... never here, though a CIDR rule comes first" 0 "$(asked here a.remote.test)"
check_eq "a name sent direct" routed "$(get "socks5h://127.0.0.1:$p" "http://b.local.test:$web/t")"
check_eq "... was resolved here (a CIDR rule above its rule needs the address)" 1 \
	"$(($(asked here b.local.test) > 0))"
check_eq "... and not at the far side" 0 "$(asked far b.local.test)"
check_eq "... nor dialed there" 0 "$(far_dialed b.local.test)"
before=$(far_dialed 127.0.0.1)
check_eq "a name no domain rule names" routed "$(get "http://127.0.0.1:$p" "http://c.other.test:$web/t")"
check_eq "... was resolved here for the CIDR rule" 1 "$(($(asked here c.other.test) > 0))"
check_eq "... which sent its address through the tunnel" $((before + 1)) "$(far_dialed 127.0.0.1)"
check_eq "... so the far side never saw the name" 0 "$(asked far c.other.test)"
check "the log names the rule that decided" grep -q "route c.other.test:$web as 127.0.0.1: tun (.*rules.txt:8 IP-CIDR,127.0.0.0/8,tun)" "$T/cli.log"

check_eq "DOMAIN: the exact name through the tunnel" routed "$(get "socks5h://127.0.0.1:$p" "http://exact.test:$web/t")"
check_eq "... dialed by the far side by name" 1 "$(far_dialed exact.test)"
check_eq "... but not a name under it (resolved here for the CIDR rule)" routed \
	"$(get "socks5h://127.0.0.1:$p" "http://sub.exact.test:$web/t")"
check_eq "... which the far side never saw" 0 "$(far_dialed sub.exact.test)"
check_eq "DOMAIN-GLOB: a name of the pattern through the tunnel" routed "$(get "socks5h://127.0.0.1:$p" "http://cdn7-eu.test:$web/t")"
check_eq "... dialed by the far side by name" 1 "$(far_dialed cdn7-eu.test)"
get "socks5h://127.0.0.1:$p" "http://cdn-eu.test:$web/t" >/dev/null
check_eq "... but not one outside it" 0 "$(far_dialed cdn-eu.test)"

curl -sS -m 10 -x "socks5h://127.0.0.1:$p" "http://127.0.0.9:$web/t" >/dev/null 2>&1
check_eq "a blocked prefix: SOCKS5 reply 2 (curl exit 97)" 97 $?
code=$(curl -sS -m 10 -o "$T/403.html" -w '%{http_code}' -x "http://127.0.0.1:$p" "http://127.0.0.9:$web/t")
check_eq "... HTTP 403" 403 "$code"
check "... whose page names the rule" grep -q "blocked by the rule IP-CIDR,127.0.0.9/32,block" "$T/403.html"
check_fails "... but not the file that holds it" grep -q "rules.txt" "$T/403.html"
# the address as a number (2130706442 = 127.0.0.10; curl would rewrite
# it, so raw requests), or IPv6 with a zone: blocked all the same
raw_http() { # HOST: the HTTP proxy's status line for GET http://HOST:web/t
	exec 3<>"/dev/tcp/127.0.0.1/$p"
	printf 'GET http://%s:%s/t HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "$web" "$1" >&3
	head -n 1 <&3 | tr -d '\r'
	exec 3<&-
}
raw_socks() { # HOST: the SOCKS5 reply code for a CONNECT to HOST:web by name
	local n hi lo
	n=$(printf '\\x%02x' ${#1}) hi=$(printf '\\x%02x' $((web >> 8))) lo=$(printf '\\x%02x' $((web & 255)))
	exec 3<>"/dev/tcp/127.0.0.1/$p"
	# shellcheck disable=SC2059
	printf "\x05\x01\x00\x05\x01\x00\x03$n%s$hi$lo" "$1" >&3
	head -c 4 <&3 | od -An -tu1 | awk '{ print $4 }'
	exec 3<&-
}
check_eq "a blocked address written as a number (no-resolve): HTTP 403" "HTTP/1.1 403 Forbidden" "$(raw_http 2130706442)"
check_eq "... and in other inet_aton forms: SOCKS5 reply 2" "2 2 2" \
	"$(raw_socks 2130706442) $(raw_socks 127.10) $(raw_socks 0x7f.0.0.012)"
check_eq "an IPv6 address with a zone (::1%1) is that address: SOCKS5 reply 2" 2 "$(raw_socks "::1%1")"
check_fails "a blocked port" get "http://127.0.0.1:$p" "http://127.0.0.1:1/"
curl -sS -m 10 --interface 127.0.0.7 -x "socks5h://127.0.0.1:$p" "http://127.0.0.1:$web/t" >/dev/null 2>&1
check_eq "a blocked client (SRC-IP-CIDR): SOCKS5 reply 2" 97 $?
check_eq "... while others pass" routed "$(get "socks5h://127.0.0.1:$p" "http://127.0.0.1:$web/t")"
before=$(far_dialed 127.0.0.1)
check_eq "via=tun: a listener pinned to the chain" routed "$(get "http://127.0.0.1:$pv" "http://127.0.0.1:$web/t")"
check_eq "... went through the tunnel" $((before + 1)) "$(far_dialed 127.0.0.1)"
check "route decisions are counted by route" bash -c \
	"curl -fsS http://127.0.0.1:$m/metrics | grep -Eq '^sluice_route_decisions_total\{route=\"tun\"\} [1-9]'"

# datagrams: dig through v2ray's SOCKS5 UDP to each name server; the rules
# send 127.0.0.54 (127.0.0.0/8) through the tunnel and block 127.0.0.9
if command -v v2ray >/dev/null && command -v dig >/dev/null; then
	v1=$(free_port) v2=$(free_port)
	cat >"$T/v2.json" <<J
{"log": {"loglevel": "warning"},
 "inbounds": [{"port": $v1, "listen": "127.0.0.1", "protocol": "dokodemo-door",
   "settings": {"address": "127.0.0.54", "port": 53, "network": "udp"}},
  {"port": $v2, "listen": "127.0.0.1", "protocol": "dokodemo-door",
   "settings": {"address": "127.0.0.9", "port": 53, "network": "udp"}}],
 "outbounds": [{"protocol": "socks", "settings": {"servers": [{"address": "127.0.0.1", "port": $p}]}}]}
J
	start v2ray v2ray -config "$T/v2.json"
	sleep 1
	flows() { curl -fsS "http://127.0.0.1:$mt/metrics" | sed -n 's/^sluice_udp_flows_total //p'; }
	f0=$(flows)
	check_eq "UDP: dig through v2ray to the far side's name server" 127.0.0.1 \
		"$(dig +short +time=3 +tries=2 @127.0.0.1 -p "$v1" udp.remote.test A)"
	check "... through the tunnel (the far side opened a flow)" test "$(flows)" -gt "${f0:-0}"
	dig +short +time=2 +tries=1 @127.0.0.1 -p "$v2" blocked.test A >/dev/null 2>&1
	check "a datagram to a blocked prefix is dropped and counted" bash -c \
		"curl -fsS http://127.0.0.1:$m/metrics | grep -Eq '^sluice_udp_dropped_total\{reason=\"refused\"\} [1-9]'"
	check "... and logged" grep -q "UDP to 127.0.0.9:53 refused: blocked by the rules" "$T/cli.log"
	kill "$(pid_of v2ray)"
	# a udp:// forward follows the rules too (127.0.0.54: the tunnel)
	f0=$(flows)
	check_eq "a udp:// forward to the far side's name server" 127.0.0.1 \
		"$(dig +short +time=3 +tries=2 @127.0.0.1 -p "$uf" fwd.remote.test A)"
	check "... through the tunnel" test "$(flows)" -gt "${f0:-0}"
	check_eq "... which resolved it" 1 "$(($(asked far fwd.remote.test) > 0))"
	# and a dns:// forwarder to it, over UDP and over TCP
	f0=$(flows)
	check_eq "a dns:// forwarder to the far side's name server (UDP)" 127.0.0.1 \
		"$(dig +short +time=3 +tries=2 @127.0.0.1 -p "$df" dnsfwd.remote.test A)"
	check "... through the tunnel" test "$(flows)" -gt "${f0:-0}"
	before=$(grep -c -- "-> 127.0.0.54:53\$" "$T/far.log")
	check_eq "... and over TCP" 127.0.0.1 \
		"$(dig +tcp +short +time=3 +tries=1 @127.0.0.1 -p "$df" dnstcp.remote.test A)"
	check_eq "... which the far side dialed" $((before + 1)) "$(grep -c -- "-> 127.0.0.54:53\$" "$T/far.log")"
else
	echo "    (no v2ray or dig: the UDP checks are skipped)"
fi

# the PAC file: DIRECT only where the rules surely say direct
pac=$(curl -fsS "http://127.0.0.1:$m/proxy.pac")
check "/proxy.pac names the proxy" grep -q "var P = \"PROXY 127.0.0.1:$p\"" <<<"$pac"
if command -v node >/dev/null; then
	cat >"$T/pac.js" <<'JS'
const fs = require("fs");
function shExpMatch(s, p) {
	return new RegExp("^" + p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$").test(s);
}
eval(fs.readFileSync(process.argv[2], "utf8"));
for (const u of process.argv.slice(3)) console.log(FindProxyForURL(u, new URL(u).hostname));
JS
	echo "$pac" >"$T/proxy.pac"
	got=$(node "$T/pac.js" "$T/proxy.pac" http://x.remote.test/ http://x.local.test/ \
		http://127.0.0.9/ http://10.1.1.1/ http://other.test/ http://127.0.0.5/ | tr '\n' '|')
	check_eq "the PAC file's answers" "PROXY 127.0.0.1:$p|PROXY 127.0.0.1:$p|PROXY 127.0.0.1:$p|DIRECT|PROXY 127.0.0.1:$p|PROXY 127.0.0.1:$p|" "$got"
fi

# the YAML file: chains, groups and rules (a rule file next to it)
mkdir -p "$T/etc"
printf 'DOMAIN-SUFFIX,yaml.test\n' >"$T/etc/list.txt"
py=$(free_port) yu=$(free_port)
cat >"$T/etc/sluice.yaml" <<EOF
listen:
  - proxy://127.0.0.1:$py
  - url: udp://127.0.0.1:$yu/127.0.0.54:53
    via: out
chains:
  out: [group://far]
groups:
  far:
    strategy: failover
    members:
      - url: ws://127.0.0.1:$ts
        key: $KEY
rules:
  - file: list.txt
    action: out
  - MATCH,direct
EOF
check "sluice check reads chains:, groups: and rules:" bash -c \
	"'$SLUICE' check -c '$T/etc/sluice.yaml' | grep -q 'chain   out: group://far'"
check "the split-tunnel example is valid" bash -c \
	"'$SLUICE' check -c '$SRCDIR/examples/split-tunnel.yaml' | grep -q 'chain   corp: sstp://vpn.example.org:443'"
start yaml "$SLUICE" -v -c "$T/etc/sluice.yaml"
wait_port "$py"
check_eq "a name of the YAML file's rule file goes through its group" routed \
	"$(get "socks5h://127.0.0.1:$py" "http://y.yaml.test:$web/t")"
check_eq "... to the far side" 1 "$(far_dialed y.yaml.test)"
if command -v dig >/dev/null; then
	check_eq "datagrams through the group (a udp:// forward with via=out)" 127.0.0.1 \
		"$(dig +short +time=3 +tries=2 @127.0.0.1 -p "$yu" group.remote.test A)"
	check_eq "... resolved at the far side" 1 "$(($(asked far group.remote.test) > 0))"
fi

# 100,000 rules: loads, and the last one before MATCH matches
python3 -c "
import sys
with open(sys.argv[1], 'w') as f:
    for i in range(99998):
        k = i % 10
        if k < 7: f.write('DOMAIN-SUFFIX,n%d.d%d.example,%s\n' % (i, i % 97, 'tun' if i % 2 else 'direct'))
        elif k < 9: f.write('IP-CIDR,%d.%d.%d.0/24,direct,no-resolve\n' % (1 + i % 200, i // 256 % 256, i % 256))
        else: f.write('DOMAIN,w%d.example,block\n' % i)
    f.write('DOMAIN-SUFFIX,needle.test,tun\nMATCH,direct\n')" "$T/big.txt"
t0=$(date +%s%N)
check "sluice check loads 100,000 rules" bash -c "'$SLUICE' check -L proxy://127.0.0.1:1 --chain tun=ws://127.0.0.1:$ts?key=$KEY --rules '$T/big.txt' | grep -q 'rules   100000'"
echo "    sluice check with 100,000 rules: $((($(date +%s%N) - t0) / 1000000)) ms, start to exit (shared machine)"
pb=$(free_port)
start big "$SLUICE" -v -L "proxy://127.0.0.1:$pb" --chain "tun=ws://127.0.0.1:$ts?key=$KEY" --rules "$T/big.txt"
wait_port "$pb"
check_eq "... and its 99,999th rule matches" routed "$(get "socks5h://127.0.0.1:$pb" "http://x.needle.test:$web/t")"
check "... (the log says so)" grep -q "route x.needle.test:$web: tun (.*big.txt:99999 DOMAIN-SUFFIX,needle.test,tun)" "$T/big.log"

# bad rule files: FILE:LINE and the reason, exit 2, nothing listens
sed '73456s/.*/DOMAIN-SUFIX,typo.example,direct/' "$T/big.txt" >"$T/bad.txt"
pbad=$(free_port)
"$SLUICE" -L "proxy://127.0.0.1:$pbad" --chain "tun=ws://127.0.0.1:$ts?key=$KEY" --rules "$T/bad.txt" 2>"$T/bad.err" &
bad=$!
wait $bad
check_eq "a rule file with a typo: exit 2" 2 $?
check "... naming the file and line" grep -q "bad.txt:73456: unknown rule type 'DOMAIN-SUFIX'" "$T/bad.err"
check_fails "... and nothing listened" bash -c "exec 3<>/dev/tcp/127.0.0.1/$pbad"
printf 'DOMAIN,a.test,direct\nDOMAIN,b.test,nowhere\n' >"$T/bad2.txt"
"$SLUICE" -L "proxy://127.0.0.1:$pbad" --rules "$T/bad2.txt" 2>"$T/bad2.err"
check_eq "a rule naming no chain: exit 2" 2 $?
check "... naming the line" grep -q "bad2.txt:2: no chain 'nowhere' (chains: default, direct; or block)" "$T/bad2.err"
printf 'listen: [proxy://127.0.0.1:%s]\nrules:\n  - MATCH,direct\n  - IP-CIDR,10.0.0.0/33,direct\n' "$pbad" >"$T/bad.yaml"
"$SLUICE" -c "$T/bad.yaml" 2>"$T/bad3.err"
check_eq "a bad rule in the YAML file: exit 2" 2 $?
check "... naming the YAML file's line" grep -q "bad.yaml:4: '10.0.0.0/33' is not an address" "$T/bad3.err"
"$SLUICE" -L "proxy://127.0.0.1:$pbad?via=nope" 2>"$T/bad4.err"
check_eq "via= naming no chain: exit 2" 2 $?
check "... and says which chains there are" grep -q "option 'via': no chain 'nope' (chains: default, direct)" "$T/bad4.err"
"$SLUICE" -L "proxy://127.0.0.1:$pbad" -F group://none 2>"$T/bad5.err"
check_eq "a chain naming no group: exit 2" 2 $?
check "... says so" grep -q "no group 'none'" "$T/bad5.err"
# a directory (a plain error, not a size) and a pipe (read to its end)
"$SLUICE" -L "proxy://127.0.0.1:$pbad" --rules "$T" 2>"$T/bad6.err"
check_eq "a directory as the rule file: exit 2" 2 $?
check "... says so" grep -q "$T: Is a directory" "$T/bad6.err"
check "rules from a pipe (--rules <(...))" bash -c \
	"'$SLUICE' check -L proxy://127.0.0.1:1 --rules <(printf 'DOMAIN,a.test,direct\nMATCH,direct\n') | grep -q 'rules   2'"
finish
