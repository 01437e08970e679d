#!/bin/bash
# Build the peers guest: a Linux kernel and an initramfs made only of
# Debian packages, small enough to boot in a few seconds under QEMU's TCG.
#
#   tests/peers/image.sh CACHE
#
# Writes CACHE/image-STAMP/ (vmlinux, initramfs.cpio.gz, kver) and keeps
# the downloaded .deb files in CACHE/debs/.  Nothing is installed into /:
# the packages are fetched with `apt-get download` and unpacked with
# `dpkg -x` into a staging tree.
#
#   vmlinux            the uncompressed kernel of linux-image-amd64, cut out
#                      of its bzImage.  QEMU starts an ELF kernel through
#                      its PVH entry point, which skips the real-mode setup
#                      and the XZ decompression (seconds under TCG).
#   initramfs.cpio.gz  busybox (busybox-static), pppd and its plugins (ppp),
#                      sstpc (sstp-client), socat, the shared libraries they
#                      need (resolved from their ELF headers, inside the
#                      staging tree only), OpenSSL's legacy provider (MD4
#                      for MS-CHAP; sstpc will not start without it), the
#                      kernel modules for PPP, virtio-net, TUN, SCTP and 9p,
#                      and guest/init as /init, guest/lib.sh as
#                      /etc/peers/lib.sh.
#
# STAMP is the sha256 of this script and of the guest files (image_stamp),
# so any change to them builds another image; checkouts that differ there
# keep theirs side by side, and one unused for two days is removed.  An
# up-to-date image costs nothing.
# Exit status: 0 built or up to date, 77 a package could not be downloaded
# (no Debian mirror: the caller reports a skip), 1 anything else.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${1:?usage: image.sh CACHE}
log() { echo "peers image: $*" >&2; }

image_stamp() {
	cat "$HERE/image.sh" "$HERE/guest/init" "$HERE/guest/lib.sh" | sha256sum | cut -c1-16
}
STAMP=$(image_stamp)
OUT=$CACHE/image-$STAMP
if [ "${2:-}" = --dir ]; then
	echo "$OUT"
	exit 0
fi
if [ -s "$OUT/vmlinux" ] && [ -s "$OUT/initramfs.cpio.gz" ]; then
	touch "$OUT"
	exit 0
fi
t0=$(date +%s%N)
for tool in cpio depmod modprobe readelf xz gzip; do
	command -v "$tool" >/dev/null || { log "needs $tool (scripts/deps.sh installs it)"; exit 1; }
done

# ---- the packages
# linux-image-amd64 is a metapackage; the kernel is the package it depends on
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
KPKG=$(kernel_pkg)
if [ -z "$KPKG" ]; then
	apt-get update -qq || true
	KPKG=$(kernel_pkg)
fi
[ -n "$KPKG" ] || { log "apt knows no linux-image-amd64"; exit 77; }
# The programs, then the libraries they link (Debian 12).  A library that
# a newer package needs and this list lacks stops the build below, naming
# the missing soname.
PKGS=("$KPKG" busybox-static ppp sstp-client libsstp-api-0 socat
	libc6 libssl3 libcrypt1 libpam0g libsystemd0 libcap2 libgcrypt20
	libgpg-error0 liblz4-1 liblzma5 libzstd1 libpcap0.8 libaudit1 libcap-ng0
	libevent-2.1-7 libwrap0 libdbus-1-3 libnsl2 libtirpc3 libgssapi-krb5-2
	libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1)
DEBS=$CACHE/debs
mkdir -p "$DEBS"
have_deb() { compgen -G "$DEBS/${1}_*.deb" >/dev/null; }
missing=()
for p in "${PKGS[@]}"; do have_deb "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
	log "downloading ${#missing[*]} packages"
	# _apt cannot write into a root-only cache: download as root, quietly
	(cd "$DEBS" && apt-get download -qq "${missing[@]}" 2>&1 | grep '^E:' | head -n 3 >&2) || true
	for p in "${missing[@]}"; do
		have_deb "$p" || { log "could not download $p"; exit 77; }
	done
fi

# ---- unpack into a staging tree; everything is built under CACHE/build
B=$CACHE/build.$$
rm -rf "$B"
trap 'rm -rf "$B"' EXIT
STAGE=$B/stage ROOT=$B/root
mkdir -p "$STAGE" "$ROOT"
for p in "${PKGS[@]}"; do
	for d in "$DEBS/${p}"_*.deb; do dpkg -x "$d" "$STAGE"; done
done
KVER=$(basename "$(ls -d "$STAGE"/lib/modules/*/ | head -n 1)")

# ---- the root tree
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,lib64,lib/x86_64-linux-gnu,dev,proc,sys,tmp,run,mnt,root} \
	"$ROOT"/{etc/ppp/peers,etc/peers,var/log,peers}
ln -s ../lib "$ROOT/usr/lib" # pppd's plugins and OpenSSL's modules live under /usr/lib
ln -s ../run "$ROOT/var/run"
install -m755 "$STAGE/bin/busybox" "$ROOT/bin/busybox"
for app in $("$ROOT/bin/busybox" --list-full); do
	[ -e "$ROOT/$app" ] || ln -s /bin/busybox "$ROOT/$app"
done

# add_elf FILE: copy the shared libraries FILE needs, recursively, from the
# staging tree (never from the host) into /lib/x86_64-linux-gnu
declare -A SEEN=()
LIBDIRS=("$STAGE/lib/x86_64-linux-gnu" "$STAGE/usr/lib/x86_64-linux-gnu")
add_elf() {
	local so d found
	for so in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[ -n "${SEEN[$so]:-}" ] && continue
		SEEN[$so]=1
		found=""
		for d in "${LIBDIRS[@]}"; do
			[ -e "$d/$so" ] && { found=$d/$so; break; }
		done
		[ -n "$found" ] || { log "$1 needs $so, which no package in the list has"; exit 1; }
		cp -L "$found" "$ROOT/lib/x86_64-linux-gnu/$so"
		add_elf "$found"
	done
}
for prog in usr/sbin/pppd usr/sbin/chat usr/sbin/sstpc usr/bin/socat; do
	install -D -m755 "$STAGE/$prog" "$ROOT/$prog"
	add_elf "$STAGE/$prog"
done
cp -L "$STAGE/lib64/ld-linux-x86-64.so.2" "$ROOT/lib64/"
plugins=$(ls -d "$STAGE"/usr/lib/pppd/*/)
mkdir -p "$ROOT/lib/pppd/$(basename "$plugins")"
for so in "$plugins"*.so; do
	cp "$so" "$ROOT/lib/pppd/$(basename "$plugins")/"
	add_elf "$so"
done
mkdir -p "$ROOT/lib/x86_64-linux-gnu/ossl-modules"
cp -L "$STAGE/usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so" "$ROOT/lib/x86_64-linux-gnu/ossl-modules/"
add_elf "$ROOT/lib/x86_64-linux-gnu/ossl-modules/legacy.so"
for so in libnss_files.so.2 libnss_dns.so.2; do
	cp -L "$STAGE/lib/x86_64-linux-gnu/$so" "$ROOT/lib/x86_64-linux-gnu/"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"
printf 'hosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n10.0.2.2 host\n' >"$ROOT/etc/hosts"
: >"$ROOT/etc/ppp/options"

# ---- kernel modules: the ones named, and what they depend on, in order
depmod -b "$STAGE" "$KVER"
MODS=(slhc ppp_generic ppp_async ppp_synctty ppp_deflate bsd_comp ppp_mppe
	virtio_pci virtio_net tun sctp 9pnet_virtio 9p)
: >"$ROOT/etc/peers/modules"
for m in "${MODS[@]}"; do
	modprobe -d "$STAGE" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' |
		while read -r ko; do
			rel=${ko#"$STAGE/lib/modules/"}
			grep -qxF "$rel" "$ROOT/etc/peers/modules" && continue
			install -D -m644 "$ko" "$ROOT/lib/modules/$rel"
			echo "$rel" >>"$ROOT/etc/peers/modules"
		done
done
[ -s "$ROOT/etc/peers/modules" ] || { log "no kernel modules found"; exit 1; }

install -m755 "$HERE/guest/init" "$ROOT/init"
install -m644 "$HERE/guest/lib.sh" "$ROOT/etc/peers/lib.sh"

# ---- the kernel: the ELF image inside the bzImage's XZ payload
bz=$STAGE/boot/vmlinuz-$KVER
off=$(grep -abo $'\xfd7zXZ\x00' "$bz" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || { log "no XZ payload in $bz"; exit 1; }
# xz stops at the end of the stream and complains about what follows it
tail -c +$((off + 1)) "$bz" | xz -dc >"$B/vmlinux" 2>/dev/null || true
readelf -n "$B/vmlinux" 2>/dev/null | grep -q 'Xen' ||
	{ log "the kernel in $KPKG has no PVH entry point"; exit 1; }

(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1) \
	>"$B/initramfs.cpio.gz"
echo "$KVER" >"$B/kver"
mkdir -p "$B/out"
mv "$B/vmlinux" "$B/initramfs.cpio.gz" "$B/kver" "$B/out/"
rm -rf "$OUT"
mv "$B/out" "$OUT"
find "$CACHE" -maxdepth 1 -name 'image-*' -mtime +2 -exec rm -rf {} +
ms=$((($(date +%s%N) - t0) / 1000000))
log "built kernel $KVER and initramfs ($(du -h "$OUT/initramfs.cpio.gz" | cut -f1)) in $((ms / 1000)).$((ms % 1000 / 100)) s"
