#!/bin/bash
# The default target policy (SECURITY.md), as its users meet it: a key
# holder of each tunnel server (ws, wstan, sctp+udp: sluice's own clients),
# a PPP peer (sluice's PPP hop) and a VPN peer (sluice's VPN hop) try the
# host's 127.0.0.1 (by address and as "localhost"), the metadata address
# 169.254.169.254 and, for the gateways, the host alias.  Each server runs
# twice: with the defaults, where all of it is refused, and with
# host-loopback=1&link-local=1, where all of it works.  The gateways listen
# on a non-loopback address (10.77.0.1, reachable from the network); a PPP
# gateway on a UNIX socket (local by construction) keeps its host alias by
# default but still refuses link-local.
#
# Runs in a private network namespace, where 169.254.169.254 and 10.77.0.1
# are addresses of lo and one web server answers on all of them.
set -u
if [ -z "${IN_NS:-}" ]; then
	IN_NS=1 exec unshare --net bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
ip link set lo up 2>/dev/null || skip "cannot configure a network namespace here"
ip addr add 169.254.169.254/32 dev lo
ip addr add 10.77.0.1/32 dev lo

web=$(free_port)
mkdir -p "$T/www"
echo "policy-$$" >"$T/www/t"
start web python3 -m http.server --bind 0.0.0.0 --directory "$T/www" "$web"
wait_port "$web"

KEY=$("$SLUICE" keygen)
printf 'alice:secret\n' >"$T/ppp-users"
echo 'pw' | "$SLUICE" vpn-user add "$T/vpn-users" alice >/dev/null 2>&1
ON="host-loopback=1&link-local=1"

# every listener twice: default (d), configured (c); one process, but for
# the second sctp+udp port (usrsctp takes one per process)
declare -A P
for k in wsd wsc wtd wtc scd scc ptd ptc vpd vpc m; do P[$k]=$(free_port); done
start server "$SLUICE" -v --metrics "127.0.0.1:${P[m]}" \
	-L "ws://127.0.0.1:${P[wsd]}?key=$KEY" -L "ws://127.0.0.1:${P[wsc]}?key=$KEY&$ON" \
	-L "wstan://127.0.0.1:${P[wtd]}?key=$KEY" -L "wstan://127.0.0.1:${P[wtc]}?key=$KEY&$ON" \
	-L "sctp+udp://127.0.0.1:${P[scd]}?key=$KEY" \
	-L "ppp+tcp://10.77.0.1:${P[ptd]}?users=$T/ppp-users" \
	-L "ppp+tcp://10.77.0.1:${P[ptc]}?users=$T/ppp-users&$ON" \
	-L "ppp+unix://$T/ppp.sock?users=$T/ppp-users" \
	-L "vpn://10.77.0.1:${P[vpd]}?users=$T/vpn-users&net=10.10.0.0/24" \
	-L "vpn://10.77.0.1:${P[vpc]}?users=$T/vpn-users&net=10.11.0.0/24&$ON"
start server2 "$SLUICE" -v -L "sctp+udp://127.0.0.1:${P[scc]}?key=$KEY&$ON"
wait_port "${P[m]}"
sleep 0.3
alive server && alive server2 || { fail "the servers start"; finish; exit; }
pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)

# a client per server: a SOCKS5 port in front of the hop
declare -A C
hop() {
	C[$1]=$(free_port)
	start "cli-$1" "$SLUICE" -L "socks5://127.0.0.1:${C[$1]}" -F "$2"
}
hop wsd "ws://127.0.0.1:${P[wsd]}?key=$KEY&fast-open=0"
hop wsc "ws://127.0.0.1:${P[wsc]}?key=$KEY&fast-open=0"
hop wtd "wstan://127.0.0.1:${P[wtd]}?key=$KEY"
hop wtc "wstan://127.0.0.1:${P[wtc]}?key=$KEY"
hop scd "sctp+udp://127.0.0.1:${P[scd]}?key=$KEY"
hop scc "sctp+udp://127.0.0.1:${P[scc]}?key=$KEY"
hop ptd "ppp+tcp://alice:secret@10.77.0.1:${P[ptd]}"
hop ptc "ppp+tcp://alice:secret@10.77.0.1:${P[ptc]}"
hop pud "ppp+unix://alice:secret@$T/ppp.sock"
hop vpd "vpn://alice:pw@10.77.0.1:${P[vpd]}?pub=$pub"
hop vpc "vpn://alice:pw@10.77.0.1:${P[vpc]}?pub=$pub"
for k in "${!C[@]}"; do wait_port "${C[$k]}"; done

# get CLIENT HOST: the page through that client, or nothing
get() { curl -sS -m 5 --socks5-hostname "127.0.0.1:${C[$1]}" "http://$2:$web/t" 2>/dev/null; }
# reach DESC CLIENT HOST: must get the page; refused DESC CLIENT HOST: must not
reach() { check_eq "$1" "policy-$$" "$(get "$2" "$3")"; }
refused() { check_eq "$1" "" "$(get "$2" "$3")"; }

# the sessions come up first (PPP and VPN negotiate on the first dial)
for k in ptd ptc pud vpd vpc; do
	for _ in $(seq 20); do get "$k" 10.77.0.1 | grep -q policy && break; sleep 0.25; done
done

for t in "wsd ws" "wtd wstan" "scd sctp+udp"; do
	set -- $t
	refused "$2 key holder, default: 127.0.0.1 refused" "$1" 127.0.0.1
	refused "$2 key holder, default: localhost refused" "$1" localhost
	refused "$2 key holder, default: 169.254.169.254 refused" "$1" 169.254.169.254
	reach "$2 key holder, default: other addresses reached" "$1" 10.77.0.1
done
for t in "wsc ws" "wtc wstan" "scc sctp+udp"; do
	set -- $t
	reach "$2 key holder, $ON: 127.0.0.1 reached" "$1" 127.0.0.1
	reach "$2 key holder, $ON: localhost reached" "$1" localhost
	reach "$2 key holder, $ON: 169.254.169.254 reached" "$1" 169.254.169.254
done

refused "PPP peer (ppp+tcp on 10.77.0.1), default: host alias 10.0.2.2 refused" ptd 10.0.2.2
refused "PPP peer (ppp+tcp on 10.77.0.1), default: 169.254.169.254 refused" ptd 169.254.169.254
refused "PPP peer: 127.0.0.1 is its own loopback, never the host's" ptd 127.0.0.1
reach "PPP peer (ppp+tcp on 10.77.0.1), default: other addresses reached" ptd 10.77.0.1
reach "PPP peer, $ON: host alias 10.0.2.2 reached" ptc 10.0.2.2
reach "PPP peer, $ON: 169.254.169.254 reached" ptc 169.254.169.254
reach "PPP peer on a UNIX socket, default: host alias 10.0.2.2 reached" pud 10.0.2.2
refused "PPP peer on a UNIX socket, default: 169.254.169.254 refused" pud 169.254.169.254

refused "VPN peer (vpn on 10.77.0.1), default: host alias 10.10.0.1 refused" vpd 10.10.0.1
refused "VPN peer (vpn on 10.77.0.1), default: 169.254.169.254 refused" vpd 169.254.169.254
reach "VPN peer (vpn on 10.77.0.1), default: other addresses reached" vpd 10.77.0.1
reach "VPN peer, $ON: host alias 10.11.0.1 reached" vpc 10.11.0.1
reach "VPN peer, $ON: 169.254.169.254 reached" vpc 169.254.169.254
finish
