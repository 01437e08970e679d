#!/bin/bash
# The installed Debian package works: run after `apt-get install
# ./sluice_VERSION_ARCH.deb` (.ci/run does).
#
# /usr/bin/sluice, run as the package's system user, is a SOCKS5 and HTTP
# proxy curl reaches a local web server through, and shows it in /metrics;
# the man pages, the completion, the example configuration and the unit
# are where the package puts them; systemd-analyze verifies the unit (with
# and without the TUN drop-in) and reports its exposure; no service is
# enabled or running.
SLUICE=${SLUICE:-/usr/bin/sluice}
. "$(dirname "$0")/../e2e/lib.sh"
need_root "the package is installed system-wide"
[ -x /usr/bin/sluice ] && dpkg-query -W sluice >/dev/null 2>&1 || skip "the sluice package is not installed"
need_cmd curl systemd-analyze setpriv

check "user sluice exists (sysusers)" getent passwd sluice
for f in /usr/share/man/man1/sluice.1.gz /usr/share/man/man5/sluice.yaml.5.gz \
	/usr/share/bash-completion/completions/sluice /lib/systemd/system/sluice@.service \
	/usr/lib/sysusers.d/sluice.conf /etc/sluice/example.yaml \
	/usr/share/doc/sluice/examples/systemd/tun.conf; do
	check "installed: $f" test -f "$f"
done
check "man -w sluice.yaml" man -w sluice.yaml
check "the example configuration checks, as user sluice" \
	setpriv --reuid=sluice --regid=sluice --clear-groups /usr/bin/sluice check -c /etc/sluice/example.yaml
check "/etc/sluice/example.yaml is a conffile" bash -c \
	'dpkg-query -W -f="\${Conffiles}" sluice | grep -q "/etc/sluice/example.yaml"'

mkdir -p "$T/www"
echo "through the installed sluice" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"
px=$(free_port)
mp=$(free_port)
start proxy setpriv --reuid=sluice --regid=sluice --clear-groups /usr/bin/sluice -v -L "proxy://127.0.0.1:$px" --metrics "127.0.0.1:$mp"
wait_port "$px"
total() { curl -fsS "http://127.0.0.1:$mp/metrics" |
	sed -n "s/^sluice_connections_total{listener=\"proxy:\/\/127.0.0.1:$px\"} //p"; }
before=$(total)
check_eq "curl through SOCKS5 (socks5h)" "through the installed sluice" \
	"$(curl -fsS --max-time 10 -x "socks5h://127.0.0.1:$px" "http://127.0.0.1:$web/")"
check_eq "curl through the HTTP proxy" "through the installed sluice" \
	"$(curl -fsS --max-time 10 -x "http://127.0.0.1:$px" "http://127.0.0.1:$web/")"
check_eq "/metrics counts both" "$((before + 2))" "$(total)"
check "the proxy runs as user sluice" pgrep -u sluice -f "sluice -v -L proxy://127.0.0.1:$px"

# systemd-analyze verify exits 0 on an unknown key (a warning): quiet or fail
verify() {
	local out
	out=$(systemd-analyze verify --man=no "$@" 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
}
check "systemd-analyze verify sluice@example.service" \
	verify sluice@example.service
exposure=$(systemd-analyze security --offline=true /lib/systemd/system/sluice@.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security exposure of sluice@.service: $exposure"
mkdir -p "$T/units/sluice@example.service.d"
cp /lib/systemd/system/sluice@.service "$T/units/sluice@example.service"
cp /usr/share/doc/sluice/examples/systemd/tun.conf "$T/units/sluice@example.service.d/"
check "systemd-analyze verify with the TUN drop-in" \
	verify "$T/units/sluice@example.service"
check_eq "no sluice unit is enabled" "" "$(find /etc/systemd/system -name 'sluice*' 2>/dev/null)"
finish
