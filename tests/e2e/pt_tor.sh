#!/bin/bash
# `sluice pt`, the Tor pluggable transport in managed mode (pt-spec v1):
#  1. the stdout protocol on its own: VERSION / VERSION-ERROR, ENV-ERROR,
#     PROXY DONE / PROXY-ERROR, CMETHOD, SMETHOD with the key in ARGS (from
#     the options, or made once and kept in the state directory), nothing
#     else on stdout; exit when stdin closes and on SIGTERM;
#  2. the data path without tor: a SOCKS5 and a SOCKS4 connection made as
#     tor makes them (bridge arguments in the credentials) through the ws
#     tunnel to a fake ORPort, and to a fake Extended ORPort that runs the
#     real SAFE_COOKIE handshake and checks USERADDR and TRANSPORT;
#  3. real tor (Debian's): a bridge relay with ServerTransportPlugin and
#     ExtORPort registers our SMETHOD; a client with UseBridges and
#     ClientTransportPlugin registers our CMETHOD and reaches the bridge
#     through the tunnel (it learns the bridge's fingerprint and fetches its
#     descriptor: all offline, on loopback).
# sctp is checked the same way when sctp+udp:// is built in.
. "$(dirname "$0")/lib.sh"
FAKE="python3 $SRCDIR/tests/e2e/fake_orport.py"
TOR=${TOR:-/usr/sbin/tor}
[ -x "$TOR" ] || skip "tor is not installed at $TOR (scripts/deps.sh installs it)"

# pt ENVVARS...: run `sluice pt` with stdin closed after 1 s and
# TOR_PT_EXIT_ON_STDIN_CLOSE=1, stdout to $T/pt.out
pt() {
	(sleep 0.3) | env TOR_PT_EXIT_ON_STDIN_CLOSE=1 "$@" timeout 10 "$SLUICE" pt >"$T/pt.out" 2>>"$T/pt.log"
}
only_protocol() {
	! grep -vqE '^(VERSION|VERSION-ERROR|ENV-ERROR|PROXY|PROXY-ERROR|CMETHOD|CMETHOD-ERROR|CMETHODS|SMETHOD|SMETHOD-ERROR|SMETHODS) ' "$T/pt.out"
}

# --- 1. the protocol
pt TOR_PT_MANAGED_TRANSPORT_VER=2,3 TOR_PT_CLIENT_TRANSPORTS=ws
check_eq "no common version: VERSION-ERROR" "VERSION-ERROR no-version" "$(cat "$T/pt.out")"
pt TOR_PT_MANAGED_TRANSPORT_VER=1
check "no transports: ENV-ERROR after VERSION" grep -qx 'ENV-ERROR .*TRANSPORTS.*' "$T/pt.out"
pt TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=ws
check "server without an ORPort: ENV-ERROR" grep -q '^ENV-ERROR .*ORPORT' "$T/pt.out"
pt TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=ws TOR_PT_ORPORT=127.0.0.1:9 \
	TOR_PT_EXTENDED_SERVER_PORT=127.0.0.1:9
check "Extended ORPort without a cookie file: ENV-ERROR" grep -q '^ENV-ERROR .*COOKIE' "$T/pt.out"
pt TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_CLIENT_TRANSPORTS=ws TOR_PT_PROXY=ftp://127.0.0.1:21
check "unsupported upstream proxy: PROXY-ERROR" grep -q '^PROXY-ERROR ' "$T/pt.out"
pt TOR_PT_MANAGED_TRANSPORT_VER=1a,1 TOR_PT_CLIENT_TRANSPORTS=obfs4,ws,sctp \
	TOR_PT_PROXY=socks5://tor:pw@127.0.0.1:1080
check_eq "client: VERSION, PROXY DONE, CMETHOD ws and sctp, CMETHODS DONE" \
	"VERSION 1|PROXY DONE|CMETHOD ws socks5 127.0.0.1:P|CMETHOD sctp socks5 127.0.0.1:P|CMETHODS DONE" \
	"$(sed -E 's/:[0-9]+$/:P/' "$T/pt.out" | paste -sd'|')"
check "client: nothing but protocol lines on stdout" only_protocol

sp=$(free_port)
pt TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=ws TOR_PT_ORPORT=127.0.0.1:9 \
	TOR_PT_STATE_LOCATION="$T/state/" TOR_PT_SERVER_BINDADDR="ws-127.0.0.1:$sp"
check "server: SMETHOD ws on the bind address with ARGS:key" \
	grep -qE "^SMETHOD ws 127.0.0.1:$sp ARGS:key=[A-Za-z0-9+/_-]{43}\$" "$T/pt.out"
check "server: SMETHODS DONE last" bash -c "tail -n1 '$T/pt.out' | grep -qx 'SMETHODS DONE'"
check "server: nothing but protocol lines on stdout" only_protocol
key1=$(sed -n 's/^SMETHOD ws .*ARGS:key=//p' "$T/pt.out")
check "server: the key is kept in TOR_PT_STATE_LOCATION" test -s "$T/state/sluice-ws.key"
pt TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=ws TOR_PT_ORPORT=127.0.0.1:9 \
	TOR_PT_STATE_LOCATION="$T/state/" TOR_PT_SERVER_BINDADDR="ws-127.0.0.1:$sp"
check_eq "server: the same key on the next start" "$key1" \
	"$(sed -n 's/^SMETHOD ws .*ARGS:key=//p' "$T/pt.out")"
optkey=$("$SLUICE" keygen)
optkey=${optkey%%=*}
pt TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS='*' TOR_PT_ORPORT=127.0.0.1:9 \
	TOR_PT_STATE_LOCATION="$T/state/" TOR_PT_SERVER_BINDADDR="ws-127.0.0.1:$sp" \
	TOR_PT_SERVER_TRANSPORT_OPTIONS="ws:key=$optkey;ws:ping=20s;sctp:key=$optkey"
check "server: the key from TOR_PT_SERVER_TRANSPORT_OPTIONS" \
	grep -qx "SMETHOD ws 127.0.0.1:$sp ARGS:key=$optkey" "$T/pt.out"
if grep -q '^SMETHOD sctp ' "$T/pt.out"; then HAVE_SCTP=1; else HAVE_SCTP=0; fi
echo "    sctp+udp:// built in: $HAVE_SCTP ($(grep '^SMETHOD.* sctp' "$T/pt.out"))"
pt TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=ws TOR_PT_ORPORT=127.0.0.1:9 \
	TOR_PT_STATE_LOCATION="$T/state/" TOR_PT_SERVER_TRANSPORT_OPTIONS="ws:key=$optkey;ws:nosuch=1"
check "server: an unknown option is an SMETHOD-ERROR naming it" \
	grep -q '^SMETHOD-ERROR ws .*nosuch' "$T/pt.out"

t0=$(date +%s)
(sleep 1) | TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_CLIENT_TRANSPORTS=ws TOR_PT_EXIT_ON_STDIN_CLOSE=1 \
	timeout 20 "$SLUICE" pt >/dev/null 2>>"$T/pt.log"
rc=$?
check "exits (status 0) when stdin closes" test "$rc" = 0 -a $(( $(date +%s) - t0 )) -le 4
TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_CLIENT_TRANSPORTS=ws "$SLUICE" pt </dev/null >/dev/null 2>>"$T/pt.log" &
spid=$!
sleep 0.5
kill -TERM $spid
t0=$(date +%s)
wait $spid
rc=$?
check "exits (status 0) on SIGTERM" test "$rc" = 0 -a $(( $(date +%s) - t0 )) -le 3

# --- 2. the data path, with fake ORPorts
orp=$(free_port)
start orport $FAKE orport "$orp" "$T/orport.conns"
eorp=$(free_port)
start extorport $FAKE extorport "$eorp" "$T/cookie" "$T/extorport.conns"
denyp=$(free_port)
start extdeny $FAKE extorport "$denyp" "$T/cookie2" "$T/extdeny.conns" deny
wait_port "$orp"
wait_port "$eorp"
wait_port "$denyp"
KEY=$("$SLUICE" keygen)
s1=$(free_port)
s2=$(free_port)
s3=$(free_port)
start ptsrv1 env TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=ws \
	TOR_PT_SERVER_BINDADDR="ws-127.0.0.1:$s1" TOR_PT_ORPORT="127.0.0.1:$orp" \
	TOR_PT_SERVER_TRANSPORT_OPTIONS="ws:key=$KEY" \
	"$SLUICE" pt -v </dev/null
start ptsrv2 env TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=ws \
	TOR_PT_SERVER_BINDADDR="ws-127.0.0.1:$s2" TOR_PT_ORPORT="127.0.0.1:$orp" \
	TOR_PT_EXTENDED_SERVER_PORT="127.0.0.1:$eorp" TOR_PT_AUTH_COOKIE_FILE="$T/cookie" \
	TOR_PT_SERVER_TRANSPORT_OPTIONS="ws:key=$KEY" \
	"$SLUICE" pt -v </dev/null
start ptsrv3 env TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=ws \
	TOR_PT_SERVER_BINDADDR="ws-127.0.0.1:$s3" TOR_PT_ORPORT="127.0.0.1:$orp" \
	TOR_PT_EXTENDED_SERVER_PORT="127.0.0.1:$denyp" TOR_PT_AUTH_COOKIE_FILE="$T/cookie2" \
	TOR_PT_SERVER_TRANSPORT_OPTIONS="ws:key=$KEY" \
	"$SLUICE" pt -v </dev/null
start ptcli env TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_CLIENT_TRANSPORTS=ws "$SLUICE" pt -v </dev/null
wait_port "$s1"
wait_port "$s2"
wait_port "$s3"
for i in $(seq 50); do grep -q '^CMETHODS DONE' "$T/ptcli.log" && break; sleep 0.1; done
cp=$(sed -n 's/^CMETHOD ws socks5 127.0.0.1://p' "$T/ptcli.log")
check "client SOCKS port announced" test -n "$cp"
n0=$(wc -l <"$T/orport.conns") # wait_port's own connection
check "SOCKS5, key in RFC 1929 -> ws -> ORPort" $FAKE socks "$cp" "127.0.0.1:$s1" "key=$KEY"
check "SOCKS4, key in USERID -> ws -> ORPort" $FAKE socks "$cp" "127.0.0.1:$s1" "key=$KEY" 4
check "arguments over 255 bytes (split into the password)" $FAKE socks "$cp" "127.0.0.1:$s1" \
	"key=$KEY;ping=$(printf '%0250d' 30)s"
check_eq "the ORPort saw three connections" $((n0 + 3)) "$(wc -l <"$T/orport.conns")"
uxp=$(free_port)
start upstream "$SLUICE" -v -L "socks5://tor:pw@127.0.0.1:$uxp"
wait_port "$uxp"
start ptcliproxy env TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_CLIENT_TRANSPORTS=ws \
	TOR_PT_PROXY="socks5://tor:pw@127.0.0.1:$uxp" "$SLUICE" pt -v </dev/null
for i in $(seq 50); do grep -q '^CMETHODS DONE' "$T/ptcliproxy.log" && break; sleep 0.1; done
check "TOR_PT_PROXY: PROXY DONE" grep -qx 'PROXY DONE' "$T/ptcliproxy.log"
cpp=$(sed -n 's/^CMETHOD ws socks5 127.0.0.1://p' "$T/ptcliproxy.log")
check "TOR_PT_PROXY: SOCKS5 -> socks5 proxy -> ws -> ORPort" $FAKE socks "$cpp" "127.0.0.1:$s1" "key=$KEY"
check "TOR_PT_PROXY: the upstream proxy carried it" grep -q "127.0.0.1:$s1" "$T/upstream.log"
check_fails "a malformed key is refused" $FAKE socks "$cp" "127.0.0.1:$s1" "key=nonsense"
check_fails "arguments without '=' are refused" $FAKE socks "$cp" "127.0.0.1:$s1" "key"
# a bridge line sets only what the transport defines: not our hop's files,
# TLS checks or resources, and never without its key
echo "$KEY" >"$T/local.key"
for bad in "key=$KEY;insecure=1" "key=$KEY;ca=$T/cookie" "key=$KEY;pool=8" \
	"keyfile=$T/local.key" "ping=20s"; do
	check_fails "bridge arguments '${bad//$KEY/KEY}' are refused" $FAKE socks "$cp" "127.0.0.1:$s1" "$bad"
done
check "... and the client says why" grep -q "'pool' is not an argument of a ws bridge line" "$T/ptcli.log"
check "SOCKS5 -> ws -> Extended ORPort (safe cookie)" $FAKE socks "$cp" "127.0.0.1:$s2" "key=$KEY"
check "SOCKS4 -> ws -> Extended ORPort (safe cookie)" $FAKE socks "$cp" "127.0.0.1:$s2" "key=$KEY" 4
check "Extended ORPort: authenticated, USERADDR and TRANSPORT ws" \
	grep -qE '^ok useraddr=127\.0\.0\.1:[0-9]+ transport=ws$' "$T/extorport.conns"
check_eq "Extended ORPort: both connections" 2 "$(grep -c '^ok ' "$T/extorport.conns")"
check_fails "Extended ORPort DENY: the connection ends" $FAKE socks "$cp" "127.0.0.1:$s3" "key=$KEY"
check "DENY reached the fake" grep -q '^denied .*transport=ws' "$T/extdeny.conns"
check "the server logged the DENY" grep -q 'Extended ORPort: authentication failed or DENY' "$T/ptsrv3.log"

if [ "$HAVE_SCTP" = 1 ]; then
	u1=$(free_port)
	start ptsrvsctp env TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_SERVER_TRANSPORTS=sctp \
		TOR_PT_SERVER_BINDADDR="sctp-127.0.0.1:$u1" TOR_PT_ORPORT="127.0.0.1:$orp" \
		TOR_PT_EXTENDED_SERVER_PORT="127.0.0.1:$eorp" TOR_PT_AUTH_COOKIE_FILE="$T/cookie" \
		TOR_PT_SERVER_TRANSPORT_OPTIONS="sctp:key=$KEY" \
		"$SLUICE" pt -v </dev/null
	start ptclisctp env TOR_PT_MANAGED_TRANSPORT_VER=1 TOR_PT_CLIENT_TRANSPORTS=sctp "$SLUICE" pt -v </dev/null
	for i in $(seq 50); do grep -q '^CMETHODS DONE' "$T/ptclisctp.log" && break; sleep 0.1; done
	for i in $(seq 50); do grep -q '^SMETHODS DONE' "$T/ptsrvsctp.log" && break; sleep 0.1; done
	cps=$(sed -n 's/^CMETHOD sctp socks5 127.0.0.1://p' "$T/ptclisctp.log")
	check "sctp: SOCKS5 -> sctp+udp -> Extended ORPort" $FAKE socks "$cps" "127.0.0.1:$u1" "key=$KEY"
	check "sctp: TRANSPORT sctp" grep -q 'transport=sctp$' "$T/extorport.conns"
fi

# --- 3. real tor
TKEY=$("$SLUICE" keygen)
TKEY=${TKEY%%=*}
orport=$(free_port)
extport=$(free_port)
bws=$(free_port)
bsctp=$(free_port)
socksport=$(free_port)
mkdir -p "$T/relay" "$T/client"
cat >"$T/relay/torrc" <<EOF
DataDirectory $T/relay/data
SocksPort 0
ORPort 127.0.0.1:$orport
ExtORPort 127.0.0.1:$extport
BridgeRelay 1
PublishServerDescriptor 0
AssumeReachable 1
ShutdownWaitLength 0
Nickname sluicepttest
ContactInfo none
ServerTransportPlugin ws,sctp exec $SLUICE pt -v --log-file $T/relay-pt.log
ServerTransportListenAddr ws 127.0.0.1:$bws
ServerTransportListenAddr sctp 127.0.0.1:$bsctp
ServerTransportOptions ws key=$TKEY
ServerTransportOptions sctp key=$TKEY
Log info file $T/relay-tor.log
EOF
cat >"$T/client/torrc" <<EOF
DataDirectory $T/client/data
SocksPort 127.0.0.1:$socksport
UseBridges 1
ShutdownWaitLength 0
ClientTransportPlugin ws,sctp exec $SLUICE pt -v --log-file $T/client-pt.log
Bridge ws 127.0.0.1:$bws key=$TKEY
EOF
[ "$HAVE_SCTP" = 1 ] && echo "Bridge sctp 127.0.0.1:$bsctp key=$TKEY" >>"$T/client/torrc"
echo "Log info file $T/client-tor.log" >>"$T/client/torrc"
start relay "$TOR" -f "$T/relay/torrc"
# wait_log FILE REGEX SECONDS
wait_log() {
	local n=$(( $3 * 10 ))
	while [ $n -gt 0 ]; do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
check "tor relay: Registered server transport 'ws'" \
	wait_log "$T/relay-tor.log" "Registered server transport 'ws' at '127.0.0.1:$bws'" 30
if [ "$HAVE_SCTP" = 1 ]; then
	check "tor relay: Registered server transport 'sctp'" \
		wait_log "$T/relay-tor.log" "Registered server transport 'sctp' at '127.0.0.1:$bsctp'" 5
else
	check "tor relay: read our SMETHOD-ERROR for sctp (sctp+udp:// not built in yet)" \
		wait_log "$T/relay-tor.log" "method error.*sctp" 5
fi
check "tor relay: the SMETHOD line carried ARGS:key" \
	grep -q "(SMETHOD ws 127.0.0.1:$bws ARGS:key=$TKEY)" "$T/relay-tor.log"
start client "$TOR" -f "$T/client/torrc"
check "tor client: Successfully registered transport ws" \
	wait_log "$T/client-tor.log" "Successfully registered transport ws" 30
check "tor client: Successfully registered transport sctp" \
	grep -q "Successfully registered transport sctp" "$T/client-tor.log"
check "tor client reached the bridge through sluice pt (fingerprint learned)" \
	wait_log "$T/client-tor.log" "Learned fingerprint [0-9A-F]{40} for bridge 127.0.0.1:$bws \\(with transport 'ws'\\)" 40
if [ "$HAVE_SCTP" = 1 ]; then
	check "tor client reached the bridge over sctp too (fingerprint learned)" \
		wait_log "$T/client-tor.log" "Learned fingerprint [0-9A-F]{40} for bridge 127.0.0.1:$bsctp \\(with transport 'sctp'\\)" 40
fi
check "tor client fetched the bridge's descriptor through the tunnel" \
	wait_log "$T/client-tor.log" "new bridge descriptor 'sluicepttest'" 20
check "the relay's pt authenticated to tor's Extended ORPort" \
	grep -q "extorport: authenticated, OKAY" "$T/relay-pt.log"
check "nothing but protocol lines reached tor from the relay's pt" bash -c \
	"! grep -E \"Got a line from managed proxy '$SLUICE'\" '$T/relay-tor.log' | grep -vqE ': \\((VERSION|SMETHOD|SMETHOD-ERROR|SMETHODS) '"

ptpids=$(pgrep -P "$(pid_of relay)"; pgrep -P "$(pid_of client)")
check "tor started one pt each" test "$(echo $ptpids | wc -w)" = 2
kill "$(pid_of client)" "$(pid_of relay)" 2>/dev/null
gone() {
	for i in $(seq 50); do
		kill -0 $ptpids 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
check "the pts exit with tor (stdin closed)" gone
finish
