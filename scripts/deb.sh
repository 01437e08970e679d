#!/bin/sh
# Build the Debian package from a copy of this tree (the build never
# touches the tree itself) and put sluice_VERSION_ARCH.deb, the .changes
# and the .buildinfo into OUTDIR (default build-deb).
#   scripts/deb.sh [OUTDIR]
#   DEB_BUILD_OPTIONS=nocheck scripts/deb.sh    without the unit tests
# Needs the build dependencies of debian/control, dpkg-dev and debhelper
# (scripts/deps.sh installs them).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "${1:-$src/build-deb}"
out=$(cd "${1:-$src/build-deb}" && pwd)

ver=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
cmake_ver=$(sed -n 's/^project(sluice VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
if [ "$ver" != "$cmake_ver" ]; then
	echo "deb: debian/changelog says $ver, CMakeLists.txt says $cmake_ver" >&2
	exit 1
fi

work=$(mktemp -d /tmp/sluice-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/sluice-$ver"
# the files git knows (as they are now, changes included) or, outside git,
# everything but build directories
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _ |
		xargs -0 cp --parents -t "$work/sluice-$ver")
else
	(cd "$src" && tar --exclude='./build*' --exclude='./obj-*' -cf - .) | tar -xf - -C "$work/sluice-$ver"
fi
cd "$work/sluice-$ver"
dpkg-buildpackage -us -uc -b -j"$(nproc)"
cd "$work"
cp ./*.deb ./*.changes ./*.buildinfo "$out/"
ls -l "$out"/*.deb
