# Guest half of `peers ppp`: pppd dials out on ttyS1, and once IPCP is up
# the extra script (if any) runs and each URL is fetched through the link.
# From the host: PPPD_OPTS, PPP_TIMEOUT, HTTP_URLS, HTTP_EXPECT.
. /etc/peers/lib.sh
vm_ppp_ipup
vm_log "pppd /dev/ttyS1 $PPPD_OPTS"
(vm_prefix pppd pppd /dev/ttyS1 $PPPD_OPTS) &
if ! vm_wait_up /run/ppp-up "$PPP_TIMEOUT" pppd; then
	vm_result FAIL "no IPCP within ${PPP_TIMEOUT}s"
	vm_stop_pppd
	exit 1
fi
vm_prefix ip ip addr show dev "$(cut -d' ' -f1 /run/ppp-up)"
ok=1
if [ -f /peers/extra.sh ]; then
	. /peers/extra.sh || ok=0
fi
for u in $HTTP_URLS; do
	[ "$u" = none ] && continue
	vm_http_get "$u" "$HTTP_EXPECT" || ok=0
done
vm_stop_pppd
if [ $ok = 1 ]; then
	vm_result PASS "IPCP up; fetched: $HTTP_URLS"
else
	vm_result FAIL "a check after IPCP failed"
fi
