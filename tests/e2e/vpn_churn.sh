#!/bin/bash
# 25,000 short connections through the UDP VPN's client endpoint (lwIP),
# 200 at a time, to an echo server on the server's loopback: none may fail.
# lwIP kept every closed connection in TIME_WAIT for two minutes without
# limit; past ~16,000 connections each dial's ephemeral-port search walked
# them all, the client stalled for seconds, its peer saw it go silent and
# the session dropped with every connection in it.
. "$(dirname "$0")/lib.sh"
. "$SRCDIR/tests/e2e/faults/tunnels.sh"
: "${FXC:?set FXC to the fxc binary (tests/e2e/faults/fxc.c)}"
ulimit -n 8192 2>/dev/null || true
N=${SLUICE_E2E_VPN_CHURN:-25000}

echo_port=$(free_port)
start echo "$FXC" echo "$echo_port"
wait_port "$echo_port"
sp=$(free_port)
px=$(free_port)
tun_server vpn "$sp"
tun_client vpn "$px" "$sp"
check "a first connection" $FXC churn "$px" 10.10.0.1 "$echo_port" 1 1 30
check "$N connections through the VPN, none failed" $FXC churn "$px" 10.10.0.1 "$echo_port" "$N" 200 120
sed 's/^/    /' "$T/check.out"
check "the session stayed up" bash -c "! grep -q 'session down' '$T/cli-vpn.log'"

finish
