# shellcheck shell=sh
# Helpers for the test scripts that run in the peers guest (busybox sh),
# installed as /etc/peers/lib.sh.  Everything goes to the console (ttyS0),
# which the host keeps in the run directory as console.log.
#
#   vm_log TEXT                 "PEERS-LOG [uptime] TEXT"
#   vm_result PASS|FAIL [WHY]   the verdict the host looks for
#   vm_prefix TAG CMD...        run CMD, each line of its output as "TAG: line"
#   vm_wait_up FILE SECS PROC   until FILE exists; gives up once PROC is gone
#   vm_http_get URL [TEXT] [SECS]  fetch URL (busybox wget), body must hold TEXT
#   vm_ppp_ipup                 /etc/ppp/ip-up that reports the link
#   vm_stop_pppd                stop pppd cleanly (LCP Terminate), 5 s at most

vm_uptime() { cut -d' ' -f1 /proc/uptime; }
vm_log() { echo "PEERS-LOG [$(vm_uptime)] $*"; }
vm_result() { echo "PEERS-RESULT $1 [$(vm_uptime)] ${2:-}"; }

vm_prefix() {
	_tag=$1
	shift
	"$@" 2>&1 | while IFS= read -r _line; do echo "$_tag: $_line"; done
}

vm_wait_up() {
	_n=0
	while [ ! -e "$1" ]; do
		_n=$((_n + 1))
		[ $_n -gt $(($2 * 5)) ] && return 1
		if [ $_n -gt 3 ] && ! pidof "$3" >/dev/null; then
			sleep 0.3
			[ -e "$1" ] && return 0
			vm_log "$3 exited before the link came up"
			return 1
		fi
		sleep 0.2
	done
}

# busybox 1.35's wget crashes with -T: the time limit comes from timeout
vm_http_get() {
	rm -f /tmp/http.body
	if ! timeout "${3:-20}" wget -q -O /tmp/http.body "$1"; then
		vm_log "GET $1 failed"
		return 1
	fi
	vm_log "GET $1: $(wc -c </tmp/http.body) bytes: $(head -c 120 /tmp/http.body | tr '\n' ' ')"
	if [ -n "${2:-}" ] && ! grep -qF -- "$2" /tmp/http.body; then
		vm_log "the body lacks '$2'"
		return 1
	fi
}

# pppd runs ip-up with ARGS iface tty speed local remote ipparam; this one
# says so on the console, writes /run/ppp-up and runs ip-up.local if any
vm_ppp_ipup() {
	cat >/etc/ppp/ip-up <<'IPUP'
#!/bin/sh
echo "PEERS-PPP-UP [$(cut -d' ' -f1 /proc/uptime)] iface=$1 local=$4 remote=$5" >/dev/console
echo "$1 $4 $5" >/run/ppp-up
[ -x /etc/ppp/ip-up.local ] && /etc/ppp/ip-up.local "$@"
exit 0
IPUP
	chmod 755 /etc/ppp/ip-up
	rm -f /run/ppp-up
}

vm_stop_pppd() {
	_p=$(pidof pppd) || return 0
	kill $_p 2>/dev/null
	_n=0
	while pidof pppd >/dev/null && [ $_n -lt 25 ]; do
		sleep 0.2
		_n=$((_n + 1))
	done
	_p=$(pidof pppd) && kill -9 $_p 2>/dev/null
	return 0
}
