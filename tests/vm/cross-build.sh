#!/bin/bash
# Builds the daemon for the arm64 VM guest from the same sources as the
# host's: a meson build dir of its own with the cross file cross/arm64.ini
# (Debian's crossbuild-essential-arm64 and the -dev:arm64 libraries of
# multiarch, see .ci/build.sh), configured once, then only the daemon's
# target is built (and the VM tests' helper gai, tests/vm/gai.c),
# incrementally like the main build.
#
# Usage: cross-build.sh SRC BUILDDIR
#   SRC       the source tree (the meson project's root)
#   BUILDDIR  the cross build dir, e.g. build/cross-arm64; gets
#             BUILDDIR/kprobe-exporter and BUILDDIR/tests/vm/gai
# Exit 0, or 77 after "SKIP: <reason>" when the cross toolchain or an
# arm64 library is missing, or 1 after "FAIL: <reason>".
set -eu -o pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ $# -eq 2 ] || fail "usage: cross-build.sh SRC BUILDDIR"
SRC=$(cd "$1" && pwd)
BUILD=$2
CROSS_FILE="$SRC/tests/vm/cross/arm64.ini"
PCDIR=/usr/lib/aarch64-linux-gnu/pkgconfig

command -v meson >/dev/null || skip "missing meson"
command -v aarch64-linux-gnu-gcc >/dev/null ||
        skip "missing aarch64-linux-gnu-gcc (Debian package crossbuild-essential-arm64)"
# What the daemon links (meson.build's dependency() calls), as the
# packages that bring their arm64 .pc files.
for dep in libsystemd:libsystemd-dev yaml-0.1:libyaml-dev libmicrohttpd:libmicrohttpd-dev gnutls:libgnutls28-dev \
        libcrypt:libcrypt-dev; do
        [ -f "$PCDIR/${dep%%:*}.pc" ] || skip "missing $PCDIR/${dep%%:*}.pc (Debian package ${dep#*:}:arm64)"
done

mkdir -p "$(dirname "$BUILD")"
# One builder at a time: a second one waits instead of configuring the
# same folder. The lock is on the folder that holds BUILD, to leave no
# file behind.
exec 9<"$(dirname "$BUILD")"
flock -w 300 9 || fail "$(dirname "$BUILD") stayed locked for 300 s"

# A setup that failed half way leaves no build.ninja: start that folder anew.
if [ ! -f "$BUILD/build.ninja" ]; then
        rm -rf "$BUILD"
        out=$(meson setup --cross-file "$CROSS_FILE" --wrap-mode=nodownload "$BUILD" "$SRC" 2>&1) ||
                fail "meson setup --cross-file $CROSS_FILE failed: $(tail -n 5 <<<"$out")"
fi
out=$(meson compile -C "$BUILD" kprobe-exporter 2>&1) ||
        fail "meson compile -C $BUILD kprobe-exporter failed: $(tail -n 20 <<<"$out")"
# Apart: meson compile finds a target by name in the build dir's
# introspection data, which the first compile brings up to date after a
# change of the meson.build files (a target new since the setup).
out=$(meson compile -C "$BUILD" gai 2>&1) ||
        fail "meson compile -C $BUILD gai failed: $(tail -n 20 <<<"$out")"
[ -x "$BUILD/kprobe-exporter" ] || fail "no $BUILD/kprobe-exporter after the build"
[ -x "$BUILD/tests/vm/gai" ] || fail "no $BUILD/tests/vm/gai after the build"
echo "# arm64 daemon: $BUILD/kprobe-exporter"
