#!/bin/bash
# Builds what the VM tests boot: a Debian cloud kernel and an initramfs of
# busybox, the kernel's virtio network modules, the daemon with the shared
# libraries it links, and a folder of test files.
#
# Usage: mkimage.sh CACHE DAEMON FILES OUT
#   CACHE   where the kernel package, its extracted tree and busybox are kept
#           between runs (the meson build dir's vm-cache); nothing is
#           downloaded again once it is there
#   DAEMON  the freshly built kprobe-exporter
#   FILES   a folder copied to /kpe in the guest (the test's script, configs)
#   OUT     gets vmlinuz and initrd.cpio
# Exit 0, or 77 after "SKIP: <reason>" when a package cannot be had, or 1
# after "FAIL: <reason>".
#
# Usage: mkimage.sh --kernel CACHE OUT
#   only the parts, for images built elsewhere (tests/pkg's systemd image):
#   OUT gets vmlinuz, busybox, kver (the kernel's release), modules/ with
#   the virtio network modules and modules.list, their insmod order.
#
# Everything comes from Debian's packages: the kernel is the
# linux-image-*-cloud-ARCH that linux-image-cloud-ARCH depends on, resolved
# at run time; busybox is busybox-static.
#
# KPE_VM_MODULES (names) adds kernel modules to the virtio network's, see
# below.
#
# KPE_VM_KERNEL picks the guest (the flavor):
#   debian11-amd64  Debian 11's cloud kernel (5.10, long-term), x86-64
#   debian12-amd64  Debian 12's cloud kernel (6.1), x86-64 (the default); from
#                   the host's own package lists, cached in CACHE itself
#   debian13-amd64  Debian 13's cloud kernel (6.12), x86-64
#   debian12-arm64  Debian 12's cloud kernel, arm64 (qemu-system-aarch64);
#                   DAEMON must then be an arm64 build (cross-build.sh)
# The other flavors have a package list of their own in CACHE/<flavor>
# (apt-get update of it only when a kernel is to be downloaded), so that
# the host's lists and architectures stay as they are.
set -eu -o pipefail

# shellcheck source-path=SCRIPTDIR source=apt-mirror.sh
. "$(dirname "$0")/apt-mirror.sh"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "# $*"; }

if [ "${1:-}" = --kernel ]; then
        [ $# -eq 3 ] || fail "usage: mkimage.sh --kernel CACHE OUT"
        CACHE=$2 DAEMON="" FILES="" OUT=$3
else
        [ $# -eq 4 ] || fail "usage: mkimage.sh CACHE DAEMON FILES OUT"
        CACHE=$1 DAEMON=$2 FILES=$3 OUT=$4
fi

FLAVOR=${KPE_VM_KERNEL:-debian12-amd64}
# The security suite is SUITE-security since Debian 11 (bullseye-security;
# Debian 10 had buster/updates).
case $FLAVOR in
debian11-amd64) SUITE=bullseye SECURITY_SUITE=bullseye-security ARCH=amd64 ;;
debian12-amd64) SUITE=bookworm SECURITY_SUITE=bookworm-security ARCH=amd64 ;;
debian13-amd64) SUITE=trixie SECURITY_SUITE=trixie-security ARCH=amd64 ;;
debian12-arm64) SUITE=bookworm SECURITY_SUITE=bookworm-security ARCH=arm64 ;;
*) fail "KPE_VM_KERNEL=$FLAVOR: not one of debian11-amd64 debian12-amd64 debian13-amd64 debian12-arm64" ;;
esac
META=linux-image-cloud-$ARCH

# An x86-64 guest runs the host's own daemon and libraries; an arm64 one a
# cross-built daemon and Debian's arm64 libraries (multiarch).
[ "$(uname -m)" = x86_64 ] || skip "the VM tier runs on an x86-64 host (ldd, multiarch paths); this host is $(uname -m)"
for tool in apt-get apt-cache dpkg-deb modinfo cpio ldd readelf; do
        command -v "$tool" >/dev/null || skip "missing $tool"
done
[ -z "$DAEMON" ] || [ -x "$DAEMON" ] || fail "daemon '$DAEMON' is not executable"
mkdir -p "$CACHE" "$OUT"
CACHE=$(cd "$CACHE" && pwd)

# Where this flavor's packages are kept, and how apt-get and apt-cache are
# told about its own package list: sources, lists, architecture and a
# package cache of its own, nothing of the host's apt state written.
if [ "$FLAVOR" = debian12-amd64 ]; then
        # As before flavors were: the host's lists (it is a Debian 12 amd64).
        FCACHE=$CACHE
        APT_OPTS=()
        LISTS=""
        eval "$(apt-config shell LISTS Dir::State::Lists/d)"
else
        FCACHE=$CACHE/$FLAVOR
        mkdir -p "$FCACHE/lists/partial" "$FCACHE/apt-cache/archives/partial"
        # The suite and its security updates, where a newer kernel of the
        # same release comes first (as in the host's lists), from the
        # mirrors the host's apt uses (apt-mirror.sh).
        # Replaced whole (renamed into place): another builder's apt may be
        # reading it.
        {
                echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(apt_mirror) $SUITE main"
                echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(apt_security_mirror) $SECURITY_SUITE main"
        } >"$FCACHE/sources.list.$$"
        mv "$FCACHE/sources.list.$$" "$FCACHE/sources.list"
        APT_OPTS=(-o "Dir::State::Lists=$FCACHE/lists" -o "Dir::Etc::SourceList=$FCACHE/sources.list"
                -o Dir::Etc::SourceParts=/dev/null -o "Dir::Cache=$FCACHE/apt-cache"
                -o "APT::Architecture=$ARCH" -o "APT::Architectures=$ARCH" -o Acquire::Languages=none)
        LISTS=$FCACHE/lists
fi

# One image builder at a time per cache: a second one waits for the first
# download instead of starting its own.
exec 9>"$CACHE/.lock"
flock -w 120 9 || fail "cache $CACHE stayed locked for 120 s"

# apt-get download as root drops to the _apt user, which may not write our
# folder; it would fall back with a warning. Ask for root directly.
apt_download() {
        (cd "$1" && timeout 100 apt-get -q "${APT_OPTS[@]}" -o APT::Sandbox::User=root download "$2") >"$1/apt.log" 2>&1
}

# The package $META depends on now, e.g. linux-image-6.1.0-56-cloud-amd64
# (empty without package lists). apt-cache reads every package list for
# that, a second or more here (the project's machines keep no binary cache
# of them: Dir::Cache::pkgcache is ""), so the answer is kept in
# FCACHE/kernel-package until a file of the lists (or their folder) is
# newer.
kernel_package() {
        local memo=$FCACHE/kernel-package pkg
        if [ -s "$memo" ] && [ -d "$LISTS" ] && [ -z "$(find "$LISTS" -maxdepth 1 -newer "$memo" -print -quit)" ]; then
                cat "$memo"
                return
        fi
        pkg=$(apt-cache "${APT_OPTS[@]}" depends "$META" 2>/dev/null |
                awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' || true)
        if [ -n "$pkg" ]; then
                echo "$pkg" >"$memo.$$" && mv "$memo.$$" "$memo"
        else
                rm -f "$memo"
        fi
        echo "$pkg"
}

# A kernel fetched earlier, if any (the newest name).
cached_kernel() {
        find "$FCACHE" -mindepth 2 -maxdepth 2 -path '*/linux-image-*/tree' | sort -V | tail -n 1
}

# The kernel: $FCACHE/<package>/tree is the extracted package, complete or
# absent (extracted elsewhere, then renamed). Sets TREE. Downloads only when
# the package $META names is not cached; when that fails
# (or there are no package lists), refreshes the package lists once (they
# may name a kernel the mirror has dropped), then makes do with a cached
# kernel, else skips.
APT_UPDATED=""
kernel_tree() {
        local pkg dir
        pkg=$(kernel_package)
        dir="$FCACHE/$pkg"
        if [ -n "$pkg" ] && [ -d "$dir/tree" ]; then
                TREE="$dir/tree"
                return
        fi
        if [ -n "$pkg" ]; then
                rm -rf "$dir" && mkdir -p "$dir"
                log "downloading $pkg"
                if apt_download "$dir" "$pkg"; then
                        dpkg-deb -x "$dir"/"$pkg"_*.deb "$dir/tree.part" || fail "dpkg-deb -x $pkg failed"
                        mv "$dir/tree.part" "$dir/tree"
                        TREE="$dir/tree"
                        return
                fi
                log "apt-get download $pkg failed: $(tail -n 1 "$dir/apt.log")"
        fi
        if [ -z "$APT_UPDATED" ]; then
                APT_UPDATED=1
                log "apt-get update, then again"
                # A source that failed (a security archive where apt-mirror.sh
                # had to guess it) fails the update, but the lists of the
                # others are there: go on when they name the kernel.
                if timeout 60 apt-get "${APT_OPTS[@]}" -o APT::Sandbox::User=root update -qq >"$FCACHE/apt-update.log" 2>&1 ||
                        { [ -n "$(kernel_package)" ] && log "apt-get update: $(grep -m1 '^E:' "$FCACHE/apt-update.log"); going on without that source"; }; then
                        kernel_tree
                        return
                fi
        fi
        TREE=$(cached_kernel)
        [ -n "$TREE" ] && return
        if [ -n "$pkg" ]; then
                skip "apt-get download $pkg failed: $(tail -n 3 "$dir/apt.log")"
        fi
        skip "apt-cache does not resolve $META (no package lists? $(tail -n 1 "$FCACHE/apt-update.log" 2>/dev/null)) and no kernel is cached"
}

# busybox-static's binary for the guest's architecture: for amd64 the
# installed one, else the package's (one for every amd64 flavor); for
# another architecture the package from the flavor's list. Sets BUSYBOX.
busybox_bin() {
        local bb="$CACHE/busybox" dir="$CACHE/busybox-static" path=""
        if [ "$ARCH" != amd64 ]; then
                bb="$FCACHE/busybox" dir="$FCACHE/busybox-static"
        fi
        if [ ! -x "$bb" ]; then
                [ "$ARCH" != amd64 ] || path=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/busybox$' || true)
                if [ -z "$path" ]; then
                        rm -rf "$dir" && mkdir -p "$dir"
                        log "downloading busybox-static"
                        apt_download "$dir" busybox-static || skip "apt-get download busybox-static failed: $(tail -n 3 "$dir/apt.log")"
                        dpkg-deb -x "$dir"/busybox-static_*.deb "$dir/tree" || fail "dpkg-deb -x busybox-static failed"
                        path=$(find "$dir/tree" -path '*/bin/busybox' -type f | head -n 1)
                fi
                cp "$path" "$bb.part" && mv "$bb.part" "$bb"
        fi
        BUSYBOX=$bb
}

# The modules $1 needs, dependencies first (from each module's own
# "depends" field, as modprobe would), as paths relative to $MODDIR: .ko,
# or .ko.xz/.ko.zst (Debian 13). A module built into this kernel
# (modules.builtin) is skipped: it is there already.
modules_for() {
        local name=$1 file dep
        case " $SEEN " in *" $name "*) return ;; esac
        SEEN="$SEEN $name"
        if grep -qE "/$name\.ko\$" "$MODDIR/modules.builtin" 2>/dev/null; then
                return
        fi
        file=$(find "$MODDIR" \( -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" \) | head -n 1)
        [ -n "$file" ] || fail "module $name.ko not in the kernel package"
        for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
                modules_for "$dep"
        done
        echo "${file#"$MODDIR"/}"
}

kernel_tree
# Debian 13's packages put the modules under /usr (merged /usr).
MODROOT="$TREE/lib/modules"
[ -d "$MODROOT" ] || MODROOT="$TREE/usr/lib/modules"
KVER=$(basename "$(find "$MODROOT" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
KERNEL="$TREE/boot/vmlinuz-$KVER"
[ -f "$KERNEL" ] || fail "no $KERNEL in the kernel package"
busybox_bin
flock -u 9

# virtio_net for the user-mode network, virtio_pci for its PCI device (on
# arm64's virt machine too: virtio-net-pci on its PCIe host bridge, which
# the kernel has built in). KPE_VM_MODULES adds modules (names, separated
# by blanks, e.g. "virtio_blk" for boot.sh's KPE_VM_DISK), after those and
# with their dependencies; /init loads them all in this order.
MODDIR="$MODROOT/$KVER"
SEEN=""
MODULES=$(
        modules_for virtio_pci
        modules_for virtio_net
        for m in ${KPE_VM_MODULES:-}; do
                modules_for "$m"
        done
)

# Copies module $1 (relative to $MODDIR) into folder $2 as plain NAME.ko:
# busybox's insmod loads uncompressed modules only. Prints NAME.ko.
copy_module() {
        local name
        name=$(basename "$1")
        case $name in
        *.ko.xz) name=${name%.xz} && xz -dc "$MODDIR/$1" >"$2/$name" ;;
        *.ko.zst) name=${name%.zst} && zstd -qdc "$MODDIR/$1" >"$2/$name" ;;
        *) cp "$MODDIR/$1" "$2/$name" ;;
        esac
        echo "$name"
}
case $MODULES in *.xz*) command -v xz >/dev/null || skip "missing xz (Debian package xz-utils) for the kernel's .ko.xz modules" ;; esac
case $MODULES in *.zst*) command -v zstd >/dev/null || skip "missing zstd for the kernel's .ko.zst modules" ;; esac

if [ -z "$DAEMON" ]; then
        rm -rf "$OUT/modules" && mkdir -p "$OUT/modules"
        : >"$OUT/modules.list"
        for m in $MODULES; do
                copy_module "$m" "$OUT/modules" >>"$OUT/modules.list"
        done
        cp "$BUSYBOX" "$OUT/busybox"
        echo "$KVER" >"$OUT/kver"
        ln -sf "$KERNEL" "$OUT/vmlinuz"
        log "parts: kernel $KVER, busybox, $(wc -l <"$OUT/modules.list") modules"
        exit 0
fi

ROOT="$OUT/root"
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,dev,proc,sys,tmp,etc,kpe,lib/modules}
cp "$BUSYBOX" "$ROOT/bin/busybox"
# Only the shell: the init links the other applets (busybox --install) in
# the guest, in one process, where a link each here would be some 270
# processes (1.4 s on the project's machines), and where a busybox of
# another architecture than the host's can list them.
ln -s busybox "$ROOT/bin/sh"

: >"$ROOT/etc/modules"
for m in $MODULES; do
        copy_module "$m" "$ROOT/lib/modules" >>"$ROOT/etc/modules"
done

# Copies the file $1 of the host into the image at the same path.
copy_same() {
        mkdir -p "$ROOT$(dirname "$1")"
        cp -L "$1" "$ROOT$1"
}

# The shared libraries that the arm64 ELF file $1 needs, recursively, and
# its loader: ldd cannot run a foreign binary, so the NEEDED entries are
# looked up in the arm64 multiarch folders as the guest's loader will.
# Prints host paths.
SEEN_LIBS=""
foreign_libs() {
        local lib dir path interp
        interp=$(readelf -lW "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
        [ -z "$interp" ] || echo "$interp"
        for lib in $(readelf -dW "$1" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'); do
                case " $SEEN_LIBS " in *" $lib "*) continue ;; esac
                SEEN_LIBS="$SEEN_LIBS $lib"
                path=""
                for dir in /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu; do
                        [ -e "$dir/$lib" ] && { path=$dir/$lib && break; }
                done
                [ -n "$path" ] || skip "the arm64 daemon needs $lib, not installed (the Debian -dev:arm64 package of it, see .ci/build.sh)"
                echo "$path"
                foreign_libs "$path"
        done
}

# The daemon and what its loader will look for: every library it needs,
# and the loader itself, at the same paths as here.
cp "$DAEMON" "$ROOT/bin/kprobe-exporter"
if [ "$ARCH" = amd64 ]; then
        LIBS=$(ldd "$DAEMON" | grep -o '/[^ ]*')
else
        LIBS=$(foreign_libs "$DAEMON" | sort -u)
fi
for lib in $LIBS; do
        copy_same "$lib"
done

cp "$(dirname "$0")/init" "$ROOT/init"
cp -r "$FILES"/. "$ROOT/kpe/"
chmod +x "$ROOT/init"

(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$OUT/initrd.cpio"
ln -sf "$KERNEL" "$OUT/vmlinuz"
log "image: kernel $KVER, initramfs $(du -k "$OUT/initrd.cpio" | cut -f1) KiB ($(wc -l <"$ROOT/etc/modules") modules)"
