#!/bin/bash
# Secrets out of argv: passwords and keys from a file, the environment or
# a systemd credential ($CREDENTIALS_DIRECTORY), never from the command
# line, and never shown by ps, /metrics, /status or the log.
#
#   - a SOCKS5 listener whose password is pass-env=, in front of a socks5
#     hop to microsocks (RFC 1929) whose password is pass-file=: curl
#     through both with the right password, refused with a wrong one;
#   - an HTTP proxy listener with pass-cred= (a file in
#     $CREDENTIALS_DIRECTORY), then an http:// hop to it with pass-cred=
#     too, curl through both;
#   - a ws tunnel whose key is key-cred= on both ends;
#   - ps, /proc/PID/cmdline and environ's neighbours: no password; nor
#     /metrics, /status or the logs;
#   - a password file others may read: a warning naming it and chmod;
#     a password both in the URL and in pass-file=, a missing file, an
#     unset variable, a credential without $CREDENTIALS_DIRECTORY: exit 2
#     with a message naming the option.
. "$(dirname "$0")/lib.sh"
need_cmd curl microsocks

mkdir -p "$T/www"
echo "secret-free" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"

HOPPW='h0p-Secret-1'
LPW='l1sten-Secret-2'
CPW='cr3d-Secret-3'
printf '%s\n' "$HOPPW" >"$T/hop.pass"
chmod 600 "$T/hop.pass"
mkdir -m 700 "$T/creds"
printf '%s\n' "$CPW" >"$T/creds/web"
"$SLUICE" keygen >"$T/creds/wskey"
chmod 600 "$T/creds/web" "$T/creds/wskey"

# ---- SOCKS5: pass-env= on the listener, pass-file= on the hop ----
msa=$(free_port)
start msa microsocks -i 127.0.0.1 -p "$msa" -u hopuser -P "$HOPPW"
wait_port "$msa"
p=$(free_port)
m=$(free_port)
start s5 env LISTEN_PW="$LPW" "$SLUICE" --metrics "127.0.0.1:$m" \
	-L "socks5://alice@127.0.0.1:$p?pass-env=LISTEN_PW" \
	-F "socks5://hopuser@127.0.0.1:$msa?pass-file=$T/hop.pass"
wait_port "$p"
check_eq "SOCKS5 listener (pass-env) through microsocks (pass-file)" secret-free \
	"$(curl -fsS -m 10 -x "socks5h://alice:$LPW@127.0.0.1:$p" "http://127.0.0.1:$web/")"
check "a wrong password is refused" bash -c \
	"! curl -fsS -m 10 -x 'socks5h://alice:nope@127.0.0.1:$p' http://127.0.0.1:$web/"

# ---- HTTP: pass-cred= on a listener and on the hop to it ----
h=$(free_port)
start hl env CREDENTIALS_DIRECTORY="$T/creds" "$SLUICE" -L "http://bob@127.0.0.1:$h?pass-cred=web"
wait_port "$h"
f=$(free_port)
start hh env CREDENTIALS_DIRECTORY="$T/creds" "$SLUICE" -L "tcp://127.0.0.1:$f/127.0.0.1:$web" \
	-F "http://bob@127.0.0.1:$h?pass-cred=web"
wait_port "$f"
check_eq "HTTP proxy listener (pass-cred)" secret-free \
	"$(curl -fsS -m 10 -x "http://bob:$CPW@127.0.0.1:$h" "http://127.0.0.1:$web/")"
check_eq "an http:// hop to it (pass-cred)" secret-free \
	"$(curl -fsS -m 10 "http://127.0.0.1:$f/")"

# ---- ws: key-cred= on both ends ----
w=$(free_port)
wf=$(free_port)
start wss env CREDENTIALS_DIRECTORY="$T/creds" "$SLUICE" -L "ws://127.0.0.1:$w?key-cred=wskey&host-loopback=1"
start wsc env CREDENTIALS_DIRECTORY="$T/creds" "$SLUICE" -L "tcp://127.0.0.1:$wf/127.0.0.1:$web" \
	-F "ws://127.0.0.1:$w?key-cred=wskey"
wait_port "$w"
wait_port "$wf"
check_eq "a ws tunnel keyed by key-cred on both ends" secret-free \
	"$(curl -fsS -m 10 "http://127.0.0.1:$wf/")"
KEY=$(cat "$T/creds/wskey")

# ---- nobody shows them ----
ps -eo args >"$T/ps"
for n in s5 hl hh wss wsc; do
	tr '\0' ' ' <"/proc/$(pid_of "$n")/cmdline"
	echo
done >"$T/cmdlines"
curl -fsS "http://127.0.0.1:$m/metrics" >"$T/pages"
curl -fsS "http://127.0.0.1:$m/status" >>"$T/pages"
for s in "$HOPPW" "$LPW" "$CPW" "$KEY"; do
	check "ps shows no secret (${s:0:4}...)" test -z "$(grep -F -- "$s" "$T/ps" "$T/cmdlines")"
	check "nor /metrics, /status or a log (${s:0:4}...)" \
		test -z "$(grep -F -- "$s" "$T/pages" "$T"/*.log)"
done

# ---- loose permissions, mistakes ----
chmod 644 "$T/hop.pass"
out=$("$SLUICE" check -L "tcp://127.0.0.1:1/127.0.0.1:2" -F "socks5://u@127.0.0.1:1?pass-file=$T/hop.pass" 2>&1)
check "a password file others may read: a warning that says chmod" \
	grep -q "the password file $T/hop.pass can be read by others (chmod 600 it)" <<<"$out"
chgrp "$(id -g)" "$T/hop.pass"
chmod 640 "$T/hop.pass"
out=$("$SLUICE" check -L "tcp://127.0.0.1:1/127.0.0.1:2" -F "socks5://u@127.0.0.1:1?pass-file=$T/hop.pass" 2>&1)
check "0640 with this process's group (root:sluice for the service): no warning" \
	test -z "$(grep "can be read by others" <<<"$out")"
expect2() { # NAME NEEDLE ARGS...: exit 2, the message has NEEDLE
	local name=$1 needle=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	check_eq "$name: exit 2" 2 "$rc"
	check "$name: says '$needle'" grep -qF -- "$needle" <<<"$out"
}
expect2 "a password in the URL and pass-file" "a password in the URL and in option 'pass-file'" \
	"$SLUICE" check -L "tcp://127.0.0.1:1/127.0.0.1:2" -F "socks5://u:p@127.0.0.1:1?pass-file=$T/hop.pass"
expect2 "a missing password file" "cannot read the password file $T/nope" \
	"$SLUICE" check -L "tcp://127.0.0.1:1/127.0.0.1:2" -F "sstp://u@127.0.0.1?pass-file=$T/nope"
expect2 "an unset variable" "option 'pass-env': the variable NO_SUCH_PW is not set" \
	"$SLUICE" check -L "socks5://u@127.0.0.1:1?pass-env=NO_SUCH_PW"
expect2 "a credential without \$CREDENTIALS_DIRECTORY" "option 'pass-cred': no \$CREDENTIALS_DIRECTORY" \
	env -u CREDENTIALS_DIRECTORY "$SLUICE" check -L "tcp://127.0.0.1:1/127.0.0.1:2" -F "vpn://u@127.0.0.1:1?pass-cred=x&pub=x"
expect2 "pass-file on a scheme without passwords" "unknown option 'pass-file'" \
	"$SLUICE" check -L "tcp://127.0.0.1:1/127.0.0.1:2?pass-file=$T/hop.pass"
finish
