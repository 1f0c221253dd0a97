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
# linux-image-*-cloud-amd64 that linux-image-cloud-amd64 depends on,
# resolved at run time; busybox is busybox-static.
set -eu -o pipefail

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

[ "$(uname -m)" = x86_64 ] || skip "the VM tier boots an x86-64 guest with the host's daemon binary; this host is $(uname -m)"
for tool in apt-get apt-cache dpkg-deb modinfo cpio ldd; do
        command -v "$tool" >/dev/null || skip "missing $tool"
done
[ -z "$DAEMON" ] || [ -x "$DAEMON" ] || fail "daemon '$DAEMON' is not executable"
mkdir -p "$CACHE" "$OUT"
CACHE=$(cd "$CACHE" && pwd)

# One image builder at a time per cache: a second one waits for the first
# download instead of starting its own.
exec 9>"$CACHE/.lock"
flock -w 120 9 || fail "cache $CACHE stayed locked for 120 s"

# apt-get download as root drops to the _apt user, which may not write our
# folder; it would fall back with a warning. Ask for root directly.
apt_download() {
        (cd "$1" && timeout 100 apt-get -q -o APT::Sandbox::User=root download "$2") >"$1/apt.log" 2>&1
}

# The package linux-image-cloud-amd64 depends on now, e.g.
# linux-image-6.1.0-56-cloud-amd64 (empty without package lists).
kernel_package() {
        apt-cache depends linux-image-cloud-amd64 2>/dev/null |
                awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

# A kernel fetched earlier, if any (the newest name).
cached_kernel() {
        find "$CACHE" -mindepth 2 -maxdepth 2 -path '*/linux-image-*/tree' | sort -V | tail -n 1
}

# The kernel: $CACHE/<package>/tree is the extracted package, complete or
# absent (extracted elsewhere, then renamed). Sets TREE. Downloads only when
# the package linux-image-cloud-amd64 names is not cached; when that fails
# (or there are no package lists), refreshes the package lists once (they
# may name a kernel the mirror has dropped), then makes do with a cached
# kernel, else skips.
APT_UPDATED=""
kernel_tree() {
        local pkg dir
        pkg=$(kernel_package)
        dir="$CACHE/$pkg"
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
                if timeout 60 apt-get update -qq >"$CACHE/apt-update.log" 2>&1; then
                        kernel_tree
                        return
                fi
        fi
        TREE=$(cached_kernel)
        [ -n "$TREE" ] && return
        if [ -n "$pkg" ]; then
                skip "apt-get download $pkg failed: $(tail -n 3 "$dir/apt.log")"
        fi
        skip "apt-cache does not resolve linux-image-cloud-amd64 (no package lists?) and no kernel is cached"
}

# busybox-static's binary: the installed one, else the package's. Sets BUSYBOX.
busybox_bin() {
        local bb="$CACHE/busybox" dir="$CACHE/busybox-static" path
        if [ ! -x "$bb" ]; then
                path=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/busybox$' || true)
                if [ -z "$path" ]; then
                        rm -rf "$dir" && mkdir -p "$dir"
                        log "downloading busybox-static"
                        apt_download "$dir" busybox-static || skip "apt-get download busybox-static failed: $(tail -n 3 "$dir/apt.log")"
                        dpkg-deb -x "$dir"/busybox-static_*.deb "$dir/tree" || fail "dpkg-deb -x busybox-static failed"
                        path=$(find "$dir/tree" -name busybox -type f | head -n 1)
                fi
                cp "$path" "$bb.part" && mv "$bb.part" "$bb"
        fi
        BUSYBOX=$bb
}

# The modules $1 needs, dependencies first (from each module's own
# "depends" field, as modprobe would), as paths relative to $MODDIR.
modules_for() {
        local name=$1 file dep
        case " $SEEN " in *" $name "*) return ;; esac
        SEEN="$SEEN $name"
        file=$(find "$MODDIR" -name "$name.ko" | head -n 1)
        [ -n "$file" ] || fail "module $name.ko not in the kernel package"
        for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
                modules_for "$dep"
        done
        echo "${file#"$MODDIR"/}"
}

kernel_tree
KVER=$(basename "$(find "$TREE/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
KERNEL="$TREE/boot/vmlinuz-$KVER"
[ -f "$KERNEL" ] || fail "no $KERNEL in the kernel package"
busybox_bin
flock -u 9

# virtio_net for the user-mode network, virtio_pci for its PCI device.
MODDIR="$TREE/lib/modules/$KVER"
SEEN=""
MODULES=$(modules_for virtio_pci; modules_for virtio_net)

if [ -z "$DAEMON" ]; then
        rm -rf "$OUT/modules" && mkdir -p "$OUT/modules"
        : >"$OUT/modules.list"
        for m in $MODULES; do
                cp "$MODDIR/$m" "$OUT/modules/"
                basename "$m" >>"$OUT/modules.list"
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
for applet in $("$ROOT/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done

: >"$ROOT/etc/modules"
for m in $MODULES; do
        cp "$MODDIR/$m" "$ROOT/lib/modules/"
        basename "$m" >>"$ROOT/etc/modules"
done

# The daemon and what its loader will look for: every library ldd resolves,
# and the loader itself, at the same paths as here.
cp "$DAEMON" "$ROOT/bin/kprobe-exporter"
ldd "$DAEMON" | grep -o '/[^ ]*' | while read -r lib; do
        mkdir -p "$ROOT$(dirname "$lib")"
        cp -L "$lib" "$ROOT$lib"
done

cp "$(dirname "$0")/init" "$ROOT/init"
cp -r "$FILES"/. "$ROOT/kpe/"
chmod +x "$ROOT/init"

(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$OUT/initrd.cpio"
ln -sf "$KERNEL" "$OUT/vmlinuz"
log "image: kernel $KVER, initramfs $(du -k "$OUT/initrd.cpio" | cut -f1) KiB ($(wc -l <"$ROOT/etc/modules") modules)"
