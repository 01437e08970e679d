#!/bin/bash
# A tun:// listener's chain cannot change while it runs (the device is its
# VPN session's): a reload that changes it is refused, the message naming
# the listener and saying to restart, and the listener keeps its device; a
# reload that leaves its chain alone (adds a listener) is taken.  In a
# network namespace of its own; no VPN server is needed for either.
. "$(dirname "$0")/lib.sh"
need_tun
in_netns --net
ip link set lo up

pub=$("$SLUICE" keygen)
a=$(free_port)
cat >"$T/c.yaml" <<EOF
listen: [tun://rltun0]
forward: ["vpn://alice:pw@127.0.0.1:9?pub=$pub"]
control: $T/ctl
EOF
start main "$SLUICE" -c "$T/c.yaml"
for _ in $(seq 50); do [ -S "$T/ctl" ] && break; sleep 0.1; done
check "the device is there" ip link show rltun0

sed -i 's|?pub=|?keepalive=2s\&pub=|' "$T/c.yaml"
"$SLUICE" reload -c "$T/c.yaml" 2>"$T/err"
check_eq "a changed chain under tun://: refused (exit 1)" 1 $?
check "naming the listener and saying how to apply it" grep -q \
	"refused: tun://rltun0: its chain changed, and its session cannot move to another chain: restart sluice to apply it" "$T/err"
check "the device stays" ip link show rltun0

sed -i 's|?keepalive=2s&pub=|?pub=|' "$T/c.yaml"
sed -i "s|^listen: \[tun://rltun0\]|listen: [tun://rltun0, \"tcp://127.0.0.1:$a/127.0.0.1:9\"]|" "$T/c.yaml"
check_eq "its chain as it was, a listener added: taken" "reloaded: 2 listeners (1 new, 0 gone)" \
	"$("$SLUICE" reload -c "$T/c.yaml")"
check "the added listener listens" wait_port "$a"
check "the device stays" ip link show rltun0
finish
