#!/bin/sh
# Installs what the project needs from Debian's packages (idempotent), then
# configures and builds into ./build. Run as root from the repository root.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="meson ninja-build gcc pkg-config libsystemd-dev libyaml-dev libmicrohttpd-dev
libtraceevent-dev libelf-dev libgnutls28-dev libcrypt-dev libjansson-dev libcmocka-dev curl python3 python3-prometheus-client prometheus clang libclang-rt-14-dev valgrind qemu-system-x86 busybox-static cpio kmod systemd procps debootstrap debhelper dpkg-dev fakeroot lintian rpm rpm2cpio man-db debian-archive-keyring
xz-utils qemu-system-arm crossbuild-essential-arm64 libsystemd-dev:arm64 libyaml-dev:arm64 libmicrohttpd-dev:arm64 libtraceevent-dev:arm64 libelf-dev:arm64 libgnutls28-dev:arm64 libcrypt-dev:arm64
gnutls-bin apache2-utils"
# The VM tier's arm64 guest (tests/vm/cross-build.sh) runs a daemon built
# with Debian's cross toolchain against the arm64 libraries of multiarch:
# the -dev:arm64 packages above need arm64 in dpkg's architectures, and
# package lists that have it. xz-utils unpacks Debian 13's .ko.xz modules.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
fi

missing=""
for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
        echo "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -f build/build.ninja ]; then
        meson setup build
fi
meson compile -C build
