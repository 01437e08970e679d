# Guest half of `peers sstpc`: sstpc (which runs pppd with its plugin)
# connects to 10.0.2.100:443, which QEMU forwards to the SSTP server on
# the host.  Once IPCP is up: pings and fetches through the tunnel.
# From the host: SSTP_USER, SSTP_PASS, SSTP_TRIES, PPPD_OPTS, PPP_TIMEOUT,
# PPP_ROUTES (routed via the ppp interface), PING_IPS, HTTP_URLS, HTTP_EXPECT.
#
# sstp-client 1.0.18 now and then ends right after "Connected to" with
# "The event loop terminated unsuccessfully" when the server answers very
# fast (a server on loopback), before any SSTP message: hence the tries.
# Against sluice's SSTP server it quits the same way, right after the 200,
# in about half of its first tries; sending no TLS 1.3 session tickets made
# it rarer, not gone.  The cause is in sstpc and is not known.
. /etc/peers/lib.sh
vm_ppp_ipup
# ip-up runs with an empty environment: the routes are written into it
printf '#!/bin/sh\nfor r in %s; do ip route replace "$r" dev "$1"; done\n' "$PPP_ROUTES" >/etc/ppp/ip-up.local
chmod 755 /etc/ppp/ip-up.local
mkdir -p /run/sstpc
opts="logfile /run/pppd.log noauth nodetach debug noipdefault ipcp-accept-local ipcp-accept-remote"
opts="$opts noipv6 nodefaultroute refuse-eap nobsdcomp nodeflate lcp-echo-interval 0 maxfail 1 $PPPD_OPTS"
n=0 up=0
while [ $n -lt "$SSTP_TRIES" ]; do
	n=$((n + 1))
	vm_log "sstpc try $n: 10.0.2.100:443 user $SSTP_USER"
	(vm_prefix sstpc sstpc --cert-warn --log-stderr --log-level 2 --user "$SSTP_USER" \
		--password "$SSTP_PASS" 10.0.2.100:443 $opts) &
	if vm_wait_up /run/ppp-up "$PPP_TIMEOUT" sstpc; then
		up=1
		break
	fi
	sed 's/^/pppd: /' /run/pppd.log 2>/dev/null
	rm -f /run/pppd.log
	vm_stop_pppd
	_p=$(pidof sstpc) && kill $_p
	sleep 0.5
done
if [ $up = 0 ]; then
	vm_result FAIL "no IPCP over SSTP in $SSTP_TRIES tries"
	exit 1
fi
vm_prefix ip ip addr show dev "$(cut -d' ' -f1 /run/ppp-up)"
ok=1
for ip in $PING_IPS; do
	ping -c 2 -W 3 "$ip" >/tmp/ping.out 2>&1 || { vm_log "ping $ip failed"; ok=0; }
	sed 's/^/ping: /' /tmp/ping.out
done
if [ -f /peers/extra.sh ]; then
	. /peers/extra.sh || ok=0
fi
for u in $HTTP_URLS; do vm_http_get "$u" "$HTTP_EXPECT" || ok=0; done
vm_stop_pppd
_p=$(pidof sstpc) && kill $_p
sed 's/^/pppd: /' /run/pppd.log 2>/dev/null
if [ $ok = 1 ]; then
	vm_result PASS "PPP over SSTP up after $n tries; pinged: ${PING_IPS:-none}; fetched: ${HTTP_URLS:-none}"
else
	vm_result FAIL "a check through the tunnel failed"
fi
