#!/bin/bash
# Split tunnelling with SSTP: rules send the company's network through an
# SSTP session to SoftEther VPN Server (SecureNAT) and everything else
# direct, in one sluice process, proven by the client address each web
# server sees.
#
#   this test's namespace          veth 10.78.0.1 <-> 10.78.0.2        "corp" namespace
#   curl -> sluice proxy ----- sstp://10.78.0.2 (the chain corp) ---> SoftEther, SecureNAT
#                         `---- direct ------------------------------> web :8081 on 10.78.0.2
#                                                                      web :8080 on 10.77.0.1 (lo)
#                                                                      DNS on 10.77.0.1 (SoftEther's)
#
# 10.77.0.0/16 exists only inside corp (no route to it from here): a page
# from 10.77.0.1 came through the tunnel, and its server saw SecureNAT's
# connection from 10.77.0.1 itself; the page from 10.78.0.2:8081 came
# direct, and its server saw this side's 10.78.0.1.  A name under
# inside.test, routed to corp by a domain rule, resolves only with the
# DNS server inside (this side's resolver answers nothing): it was
# resolved at the far end.  Datagrams follow the same rules: dig through a
# udp:// forward to 10.77.0.1:53 gets the company's DNS, through the tunnel.
. "$(dirname "$0")/lib.sh"
need_cmd curl ip
need_peers softether
in_netns --net --mount
ip link set lo up
mount --make-rprivate /

NS=sl-route-$$
ip netns add "$NS" || skip "ip netns add failed"
ip link add rt0 type veth peer name rt1 || skip "no veth"
ip link set rt1 netns "$NS"
ip addr add 10.78.0.1/24 dev rt0
ip link set rt0 up
ip netns exec "$NS" sh -c 'ip link set lo up && ip addr add 10.77.0.1/32 dev lo &&
	ip addr add 10.78.0.2/24 dev rt1 && ip link set rt1 up'
# this side's resolver answers nothing; corp's answers inside.test
echo "nameserver 127.0.0.1" >"$T/resolv.here"
mount --bind "$T/resolv.here" /etc/resolv.conf
echo "nameserver 10.77.0.1" >"$T/resolv.corp"

U=vpnuser
PW='S3cret-pw'
SE="$T/se"
in_corp() { ip netns exec "$NS" unshare --mount --propagation private sh -c \
	'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$T/resolv.corp" "$@"; }
se_stop() { ip netns exec "$NS" "$PEERS" softether stop "$SE" >>"$T/softether.log" 2>&1; }
trap 'se_stop; ip netns del "$NS" 2>/dev/null; cleanup' EXIT

mkdir -p "$T/www"
echo "corp page" >"$T/www/corp.txt"
echo "outside page" >"$T/www/out.txt"
start dns ip netns exec "$NS" /usr/bin/python3 "$SRCDIR/tests/e2e/tools.py" dns-server 10.77.0.1 53 10.77.0.1
start webcorp ip netns exec "$NS" /usr/bin/python3 -m http.server 8080 --bind 10.77.0.1 --directory "$T/www"
start webout ip netns exec "$NS" /usr/bin/python3 -m http.server 8081 --bind 10.78.0.2 --directory "$T/www"
in_corp "$PEERS" softether start "$SE" "$U" "$PW" >>"$T/softether.log" 2>&1 ||
	{ echo "FAIL: SoftEther did not start"; cat "$T/softether.log"; exit 1; }

cat >"$T/rules.txt" <<EOF
DOMAIN-SUFFIX,inside.test,corp
IP-CIDR,10.77.0.0/16,corp
MATCH,direct
EOF
p=$(free_port) m=$(free_port) u=$(free_port)
start cli "$SLUICE" -v --metrics "127.0.0.1:$m" -L "proxy://127.0.0.1:$p" \
	-L "udp://127.0.0.1:$u/10.77.0.1:53" \
	--chain "corp=sstp://$U:$PW@10.78.0.2?insecure=1" --rules "$T/rules.txt"
wait_port "$p"
seen() { grep -c "^$2 - - .*\"GET /$3 HTTP" "$T/$1.log"; } # LOG CLIENT FILE

check_eq "the company's network through the SSTP session" "corp page" \
	"$(curl -fsS -m 60 -x "socks5h://127.0.0.1:$p" http://10.77.0.1:8080/corp.txt)"
check_eq "... its server saw SecureNAT's connection (10.77.0.1)" 1 "$(seen webcorp 10.77.0.1 corp.txt)"
check_eq "everything else direct" "outside page" \
	"$(curl -fsS -m 30 -x "socks5h://127.0.0.1:$p" http://10.78.0.2:8081/out.txt)"
check_eq "... its server saw this side's address (10.78.0.1)" 1 "$(seen webout 10.78.0.1 out.txt)"
check_eq "and the same through the HTTP proxy" "corp page" \
	"$(curl -fsS -m 30 -x "http://127.0.0.1:$p" http://10.77.0.1:8080/corp.txt)"
check_eq "... (two corp requests, both from SecureNAT)" 2 "$(seen webcorp 10.77.0.1 corp.txt)"
check_eq "a name inside, resolved by the company's DNS through the tunnel" "corp page" \
	"$(curl -fsS -m 30 -x "socks5h://127.0.0.1:$p" http://web.inside.test:8080/corp.txt)"
if command -v dig >/dev/null; then
	check_eq "datagrams by the same rules: dig through a udp:// forward to the company's DNS" 10.77.0.1 \
		"$(dig +short +time=5 +tries=2 @127.0.0.1 -p "$u" anything.inside.test A)"
fi
check "the log shows each route" bash -c \
	"grep -q 'route 10.77.0.1:8080: corp' '$T/cli.log' && grep -q 'route 10.78.0.2:8081: direct' '$T/cli.log' && grep -q 'route web.inside.test:8080: corp' '$T/cli.log'"
check_eq "one SSTP session carried them" 1 "$(grep -c "sstp: call connected" "$T/cli.log")"
finish
