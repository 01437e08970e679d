#!/bin/bash
# Privileges: run as root, sluice serves the network only when told which
# user to become (--user), and then becomes it once everything is open.
#
#   - as root without --user, a listener or --metrics on an address other
#     than loopback is refused, exit 2, with a message naming --user;
#     loopback ones run; --user root runs on purpose; --group NAME (without
#     =URL, which would make it a routing group) sets the group
#   - a TUN VPN client (-L tun:// -F vpn://, in a network namespace the
#     test makes, against a VPN server in another) started with
#     --user nobody: runs as nobody with no capability but CAP_NET_ADMIN,
#     no_new_privs set; the device is addressed when the session comes up
#     (after the drop) and again after the server restarts; ping and HTTP
#     go through it; it cannot open a file in a directory root keeps to
#     itself, nor a root-owned 0600 file (the log's reopen on SIGUSR1
#     fails, it says why, runs on)
# Needs root, /dev/net/tun and network namespaces.
. "$(dirname "$0")/lib.sh"
need_tun
need_cmd ip curl
getent passwd nobody >/dev/null || skip "no user nobody"

# ---- the refusal ----
p=$(free_port)
out=$(env -u SLUICE_USER "$SLUICE" -L "proxy://0.0.0.0:$p?open=1" 2>&1)
rc=$?
check_eq "as root, a proxy on 0.0.0.0 without --user: exit 2" 2 "$rc"
check "the message names --user" grep -q -- "--user NAME" <<<"$out"
out=$(env -u SLUICE_USER "$SLUICE" -L "tcp://127.0.0.1:$p/127.0.0.1:1" --metrics "0.0.0.0:$(free_port)" 2>&1)
check "--metrics on 0.0.0.0 as root is refused too" grep -q -- "--metrics 0.0.0.0:.*--user" <<<"$out"
start lo env -u SLUICE_USER "$SLUICE" -L "tcp://127.0.0.1:$p/127.0.0.1:1"
check "a loopback listener runs as root" wait_port "$p"
q=$(free_port)
start asroot env -u SLUICE_USER "$SLUICE" --user root -L "proxy://0.0.0.0:$q?open=1"
check "--user root serves the network as root" wait_port "$q"
check_eq "--user with no such user is a configuration error" 2 \
	"$("$SLUICE" check --user no-such-user-here -L tcp://127.0.0.1:1/127.0.0.1:2 >/dev/null 2>&1; echo $?)"
# --group NAME (no =URL: not a routing group) picks the group to become
if getent group daemon >/dev/null; then
	g=$(free_port)
	start grp "$SLUICE" --user nobody --group daemon -L "tcp://127.0.0.1:$g/127.0.0.1:1"
	wait_port "$g"
	for _ in $(seq 50); do grep -q "running as nobody" "$T/grp.log" && break; sleep 0.1; done
	check_eq "--user nobody --group daemon: runs with daemon's gid" "$(getent group daemon | cut -d: -f3)" \
		"$(sed -n 's/^Gid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(pid_of grp)/status")"
fi

# ---- a TUN VPN client dropped to nobody ----
netns_pair "prS$$" "prC$$" 192.168.83
echo 'alice pw' | "$SLUICE" vpn-user add "$T/users.txt" alice 2>/dev/null
server() {
	start server ip netns exec "$NS_S" "$SLUICE" -v \
		-L "vpn://0.0.0.0:5555?users=$T/users.txt&net=10.10.0.0/24&tun=prvs"
	for _ in $(seq 100); do
		pub=$(sed -n 's/.*server public key \([^ ]*\) .*/\1/p' "$T/server.log" | head -1)
		[ -n "$pub" ] && break
		sleep 0.05
	done
}
server
mkdir -m 700 "$T/rootonly"
start client ip netns exec "$NS_C" "$SLUICE" -v --user nobody --log-file "$T/rootonly/client.log" \
	--metrics 127.0.0.1:9109 \
	-L tun://prvc -F "vpn://alice:alice%20pw@192.168.83.1:5555?pub=$pub&keepalive=1s"
up() {
	for _ in $(seq 100); do
		ip -n "$NS_C" -4 addr show prvc 2>/dev/null | grep -q "inet 10.10.0.2" && return 0
		sleep 0.1
	done
	return 1
}
check "the device is addressed after the drop" up
cpid=$(pgrep -f "tun://prvc" | head -1)
status() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$cpid/status"; }
check_eq "it runs as nobody (real, effective, saved, fs)" \
	"$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" "$(status Uid | tr -s '\t ' ' ')"
check_eq "with nobody's group only" "$(id -g nobody)" "$(status Groups | tr -d ' ')"
check_eq "its only capability is CAP_NET_ADMIN (effective)" 0000000000001000 "$(status CapEff)"
check_eq "... permitted" 0000000000001000 "$(status CapPrm)"
check_eq "... and in its bounding set" 0000000000001000 "$(status CapBnd)"
check_eq "no_new_privs is set" 1 "$(status NoNewPrivs)"

mkdir -p "$T/www"
echo "through the dropped client" >"$T/www/index.html"
start web ip netns exec "$NS_S" python3 -m http.server 8080 --bind 10.10.0.1 --directory "$T/www"
for _ in $(seq 100); do
	ip netns exec "$NS_S" ss -ltn | grep -q 10.10.0.1:8080 && break
	sleep 0.05
done
# the session's bytes in /status, each way: "IN OUT"
sess_bytes() {
	inC curl -fsS http://127.0.0.1:9109/status | python3 -c \
		'import json,sys; s=json.load(sys.stdin)["sessions"][0]; print(s["bytes_in"], s["bytes_out"])'
}
read -r in0 out0 <<<"$(sess_bytes)"
check_eq "HTTP through the TUN device of the dropped client" "through the dropped client" \
	"$(inC curl -fsS --max-time 10 http://10.10.0.1:8080/)"
head -c 1000000 /dev/urandom >"$T/www/big"
check "a download of 1 MB through it" inC curl -fsS --max-time 20 -o /dev/null http://10.10.0.1:8080/big
read -r in1 out1 <<<"$(sess_bytes)"
echo "    /status: the session's bytes in $in0 -> $in1, out $out0 -> $out1"
check "/status: the TUN session's bytes in grew by the download at least" test $((in1 - in0)) -ge 1000000
check "... and its bytes out by the requests" test "$out1" -gt "$out0"

# the server goes and comes back: the device is addressed again (CAP_NET_ADMIN kept)
addressed() { grep -c "tun prvc: 10.10.0.2/24" "$T/rootonly/client.log"; }
kill "$(pid_of server)"
for _ in $(seq 100); do # keepalive=1s: down after three silent seconds
	grep -q "tun prvc: session down" "$T/rootonly/client.log" && break
	sleep 0.1
done
server
for _ in $(seq 100); do
	[ "$(addressed)" -ge 2 ] && break
	sleep 0.1
done
check_eq "after the server's restart, the device is addressed again" 2 "$(addressed)"
check "without an error" test -z "$(grep 'cannot set' "$T/rootonly/client.log")"
check_eq "and HTTP goes through again" "through the dropped client" \
	"$(inC curl -fsS --max-time 10 http://10.10.0.1:8080/)"

# root's files are out of reach: the log cannot be opened again in root's directory
mv "$T/rootonly/client.log" "$T/rootonly/client.log.1"
kill -USR1 "$cpid"
sleep 0.3
check "reopening the log in a root-only directory fails" grep -q "reopening .*Permission denied" "$T/rootonly/client.log.1"
# nor a file root owns with mode 0600 (what logrotate's "create 0600 root root" leaves)
chmod 755 "$T/rootonly"
install -m 600 -o root -g root /dev/null "$T/rootonly/client.log"
kill -USR1 "$cpid"
sleep 0.3
check_eq "a root-owned 0600 file cannot be opened either" 2 \
	"$(grep -c "reopening .*Permission denied" "$T/rootonly/client.log.1")"
check_eq "and nothing was written to it" 0 "$(stat -c %s "$T/rootonly/client.log")"
check "and the client runs on" kill -0 "$cpid"
check_eq "it still moves traffic" "through the dropped client" \
	"$(inC curl -fsS --max-time 10 http://10.10.0.1:8080/)"
finish
