#!/bin/bash
# make install and make uninstall, into temporary directories.
#
# PREFIX=/usr DESTDIR=...: every file lands where a Debian system looks for
# it (/usr/bin, /etc/sluice, the man pages, the bash completion, the unit,
# the sysusers file), the installed binary runs, the example configuration
# checks, the completion loads and completes, systemd-sysusers accepts the
# user.  PREFIX=<dir> without DESTDIR: the unit names that prefix's binary
# and configuration and `systemd-analyze verify` accepts it, with and
# without the TUN drop-in; `systemd-analyze security` reports its exposure.
# make uninstall leaves no file behind, only a configuration of the user's.
. "$(dirname "$0")/lib.sh"
need_cmd make systemd-analyze systemd-sysusers man

BUILD=$(cd "$(dirname "$SLUICE")" && pwd)
ROOT=$T/root
PFX=$T/prefix
mk() { make -s -C "$SRCDIR" BUILD="$BUILD" "$@" >"$T/make.log" 2>&1 || { cat "$T/make.log"; return 1; }; }

check "make install PREFIX=/usr DESTDIR=..." mk install PREFIX=/usr DESTDIR="$ROOT"
for f in usr/bin/sluice usr/share/man/man1/sluice.1 usr/share/man/man5/sluice.yaml.5 \
	usr/share/bash-completion/completions/sluice usr/lib/systemd/system/sluice@.service \
	usr/lib/sysusers.d/sluice.conf etc/sluice/example.yaml usr/share/doc/sluice/README.md \
	usr/share/doc/sluice/examples/systemd/tun.conf; do
	[ -f "$ROOT/$f" ] || fail "installed: /$f"
done
check_eq "the installed binary is the one built" "$("$SLUICE" --version)" "$("$ROOT/usr/bin/sluice" --version)"
check "the installed example configuration checks" "$ROOT/usr/bin/sluice" check -c "$ROOT/etc/sluice/example.yaml"
check_eq "the unit runs /usr/bin/sluice on /etc/sluice/NAME.yaml" \
	"ExecStart=/usr/bin/sluice -c /etc/sluice/%i.yaml" "$(grep '^ExecStart=' "$ROOT/usr/lib/systemd/system/sluice@.service")"
check_eq "the installed completion completes" "socks5h://" "$(bash -c '
	source "$1"
	COMP_LINE="sluice -F socks5h"
	COMP_POINT=${#COMP_LINE}
	_sluice sluice socks5h -F
	echo "${COMPREPLY[@]}"' _ "$ROOT/usr/share/bash-completion/completions/sluice")"
check "systemd-sysusers accepts the user" systemd-sysusers --dry-run --root="$T/sysroot" \
	"$ROOT/usr/lib/sysusers.d/sluice.conf"
check "man finds the installed sluice.yaml(5)" bash -c \
	'MANPATH="$1/usr/share/man" man -w sluice.yaml | grep -q "$1/usr/share/man/man5/sluice.yaml.5"' _ "$ROOT"

check "make install PREFIX=<dir>" mk install PREFIX="$PFX"
UNIT=$PFX/lib/systemd/system/sluice@.service
check_eq "the unit names the prefix" "ExecStart=$PFX/bin/sluice -c $PFX/etc/sluice/%i.yaml" "$(grep '^ExecStart=' "$UNIT")"
check_eq "and reloads with its sluice reload (the control socket in its runtime directory)" \
	"ExecReload=$PFX/bin/sluice reload RuntimeDirectory=sluice/%i" \
	"$(grep -E '^(ExecReload|RuntimeDirectory)=' "$UNIT" | tr '\n' ' ' | sed 's/ $//')"
# systemd-analyze verify exits 0 on an unknown key (a warning): quiet or fail
verify() {
	local out
	out=$(systemd-analyze verify --man=no "$@" 2>&1) || { echo "$out"; return 1; }
	[ -z "$out" ] || { echo "$out"; return 1; }
}
mkdir -p "$T/units/sluice@example.service.d"
cp "$UNIT" "$T/units/sluice@example.service"
check "systemd-analyze verify sluice@example.service" verify "$T/units/sluice@example.service"
exposure() { systemd-analyze security --offline=true "$T/units/sluice@example.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'; }
base=$(exposure)
cp "$PFX/share/doc/sluice/examples/systemd/tun.conf" "$T/units/sluice@example.service.d/"
check "systemd-analyze verify sluice@example.service with the TUN drop-in" \
	verify "$T/units/sluice@example.service"
tun=$(exposure)
for d in sctp-raw serial; do
	rm -f "$T/units/sluice@example.service.d/"*
	cp "$PFX/share/doc/sluice/examples/systemd/$d.conf" "$T/units/sluice@example.service.d/"
	check "systemd-analyze verify sluice@example.service with the $d drop-in" \
		verify "$T/units/sluice@example.service"
done
echo "systemd-analyze security exposure: $base (with tun.conf: $tun)"
check "exposure $base is at most 2.0" awk -v e="$base" 'BEGIN { exit !(e != "" && e <= 2.0) }'

touch "$ROOT/etc/sluice/mine.yaml"
check "make uninstall PREFIX=/usr DESTDIR=..." mk uninstall PREFIX=/usr DESTDIR="$ROOT"
check_eq "nothing installed is left but the user's configuration" "$ROOT/etc/sluice/mine.yaml" \
	"$(find "$ROOT" ! -type d)"
check "make uninstall PREFIX=<dir>" mk uninstall PREFIX="$PFX"
check_eq "nothing is left in the prefix" "" "$(find "$PFX" ! -type d)"
finish
