#!/bin/sh
# Install the Debian packages sluice needs to build and test, if any are
# missing.  Idempotent; prints nothing when everything is there.
#   scripts/deps.sh          build + test packages (and what builds and
#                            checks the Debian package)
#   scripts/deps.sh build    only what building sluice needs
set -eu

BUILD_PKGS="build-essential cmake pkg-config clang libuv1-dev libssl-dev libyaml-dev
 libcmocka-dev libhttp-parser-dev libwslay-dev
 liblwip-dev libslirp-dev libglib2.0-dev libpcap-dev libusrsctp-dev libhiredis-dev scdoc"
TEST_PKGS="curl logrotate socat openssl iperf3 tinyproxy microsocks dante-server procps ethtool
 netcat-openbsd python3 python3-websockets nginx slirp iproute2 psmisc tor
 openssh-server openssh-client iputils-ping python3-cryptography
 dnsmasq-base bind9-dnsutils v2ray tcpdump dante-client knot-dnsutils
 man-db groff-base systemd clang-format prometheus chromium wrk nodejs
 debhelper dpkg-dev fakeroot lintian haproxy libnginx-mod-stream redis-server
 python3-pyftpdlib nftables"
# the peers lab (tests/peers): QEMU for its guest, the tools that build the
# guest from Debian packages, SoftEther as the SSTP server
LAB_PKGS="qemu-system-x86 cpio kmod xz-utils binutils util-linux softether-vpnserver"

want="$BUILD_PKGS"
[ "${1:-all}" = build ] || want="$want $TEST_PKGS $LAB_PKGS"

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# no daemon may start as a side effect (tor, nginx, tinyproxy, haproxy,
# redis-server would listen):
# tests start their own
policy=/usr/sbin/policy-rc.d
added=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	added=1
fi
rc=0
$SUDO apt-get update -qq >/dev/null || rc=$?
# shellcheck disable=SC2086
[ $rc -ne 0 ] || $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
[ $added = 0 ] || $SUDO rm -f "$policy"
# the lab runs SoftEther by itself, in a namespace of each test's: the
# package's own service must not start at the next boot either
case " $missing " in
*" softether-vpnserver "*)
	$SUDO systemctl disable softether-vpnserver >/dev/null 2>&1 ||
		$SUDO update-rc.d softether-vpnserver disable >/dev/null 2>&1 || true
	;;
esac
exit $rc
