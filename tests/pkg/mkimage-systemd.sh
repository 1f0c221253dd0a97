#!/bin/bash
# Builds what tests/pkg/test-vm-systemd.sh boots: Debian 12 (debootstrap
# --variant=minbase, with systemd) as an initramfs with systemd as PID 1,
# on the cloud kernel that tests/vm's mkimage.sh fetches.
#
# Usage: mkimage-systemd.sh CACHE DEB OUT
#   CACHE  the meson build dir's vm-cache (shared with tests/vm): the kernel
#          and busybox, and debian-bookworm-<key>/ with the debootstrap tree
#          and its cpio, kept between runs
#   DEB    the kprobe-exporter .deb, put at /root/ in the guest: the test
#          installs it there with dpkg -i, as an admin would
#   OUT    gets vmlinuz and initrd.cpio
# Exit 0, 77 after "SKIP: <reason>", else 1 after "FAIL: <reason>".
#
# The initramfs is three cpio archives end to end (the kernel unpacks them
# in order): the cached Debian tree; the test's own files (a network setup
# unit, the command channel, masks of timers that would only slow the
# boot); the .deb.
#
# In the guest, kpe-ctl.service listens on port 7000 (the host forwards a
# port of its 127.0.0.1 there): a connection sends one shell command line,
# gets its output, then "KPE-RC <status>". The guest's network is qemu's
# restricted user-mode network: nothing but the forwarded ports leads in or
# out.
set -eu -o pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "# $*"; }

[ $# -eq 3 ] || fail "usage: mkimage-systemd.sh CACHE DEB OUT"
CACHE=$1 DEB=$2 OUT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
SUITE=bookworm
# systemd, and what the .deb depends on (the guest has no network for apt).
INCLUDE=systemd,procps,libyaml-0-2,libmicrohttpd12,libtraceevent1,libelf1

[ "$(id -u)" = 0 ] || skip "not root (debootstrap needs root)"
command -v debootstrap >/dev/null || skip "missing debootstrap (Debian package debootstrap)"
[ -f "$DEB" ] || fail "no .deb at '$DEB'"
mkdir -p "$CACHE" "$OUT"
CACHE=$(cd "$CACHE" && pwd)
OUT=$(cd "$OUT" && pwd)

# The kernel, its virtio network modules and busybox, from tests/vm.
bash "$HERE/../vm/mkimage.sh" --kernel "$CACHE" "$OUT/parts"

# The Debian mirror apt uses here (tests/vm/apt-mirror.sh, which
# tests/vm/mkimage.sh uses too).
# shellcheck source-path=SCRIPTDIR source=../vm/apt-mirror.sh
. "$HERE/../vm/apt-mirror.sh"
MIRROR=$(apt_mirror)

# ---- the Debian tree, cached ---------------------------------------------
KEY=$(printf '%s\n' "$SUITE" "$INCLUDE" "minbase" "trim1" | sha256sum | cut -c1-12)
BASE="$CACHE/debian-$SUITE-$KEY"
exec 9>"$CACHE/.debootstrap.lock"
flock -w 900 9 || fail "$CACHE/.debootstrap.lock stayed locked for 900 s"
if [ ! -f "$BASE/base.cpio" ]; then
        rm -rf "$BASE" && mkdir -p "$BASE"
        log "debootstrap --variant=minbase --include=$INCLUDE $SUITE from $MIRROR (once; cached in $BASE)"
        start=$(date +%s)
        if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$BASE/root.part" "$MIRROR" \
                >"$BASE/debootstrap.log" 2>&1; then
                # No network to the mirror is a missing dependency, not a bug.
                if grep -qE 'Failed getting release file|Couldn.t download|Temporary failure resolving|unable to resolve' \
                        "$BASE/debootstrap.log"; then
                        skip "debootstrap cannot reach $MIRROR: $(grep -m1 -E '^[EW]:' "$BASE/debootstrap.log")"
                fi
                fail "debootstrap failed: $(tail -n 15 "$BASE/debootstrap.log")"
        fi
        R="$BASE/root.part"
        # What a test VM never reads: downloaded packages, package lists,
        # documentation, translations.
        rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* \
                "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/*
        (cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$BASE/base.cpio.part"
        mv "$BASE/base.cpio.part" "$BASE/base.cpio"
        rm -rf "$R"
        # Trees of other keys are not used again.
        find "$CACHE" -maxdepth 1 -name "debian-$SUITE-*" -type d ! -name "debian-$SUITE-$KEY" -exec rm -rf {} +
        log "debootstrap and cpio: $(($(date +%s) - start)) s, $(du -m "$BASE/base.cpio" | cut -f1) MiB"
else
        log "Debian tree cached: $BASE ($(du -m "$BASE/base.cpio" | cut -f1) MiB)"
fi
flock -u 9

# ---- the test's files ------------------------------------------------------
T="$OUT/test-root"
rm -rf "$T"
mkdir -p "$T"/etc/systemd/system/multi-user.target.wants "$T"/usr/local/bin "$T"/usr/local/sbin \
        "$T"/usr/local/lib/kpe/modules "$T"/root
ln -s /lib/systemd/systemd "$T/init"
echo kpe-vm >"$T/etc/hostname"
# A machine-id of its own: without one, systemd would treat the boot as the
# first and apply presets to every unit.
echo 4b5045766d7465737400000000000001 >"$T/etc/machine-id"
cp "$OUT/parts/busybox" "$T/usr/local/bin/busybox"
# The test's connects run as "nc" (comm="nc" in the counters).
ln -s busybox "$T/usr/local/bin/nc"
cp "$OUT/parts/modules"/*.ko "$T/usr/local/lib/kpe/modules/"
cp "$OUT/parts/modules.list" "$T/usr/local/lib/kpe/modules.list"
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
        systemd-tmpfiles-clean.timer getty@tty1.service serial-getty@ttyS0.service getty-static.service \
        e2scrub_reap.service systemd-firstboot.service; do
        ln -s /dev/null "$T/etc/systemd/system/$unit"
done

cat >"$T/usr/local/sbin/kpe-net" <<'NET'
#!/bin/sh
# eth0 on qemu's user-mode network, as tests/vm's /init does.
set -e
while read -r m; do
        /usr/local/bin/busybox insmod "/usr/local/lib/kpe/modules/$m"
done </usr/local/lib/kpe/modules.list
/usr/local/bin/busybox ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
NET
cat >"$T/etc/systemd/system/kpe-net.service" <<'UNIT'
[Unit]
Description=Test VM: network on qemu's user-mode net
Before=network.target
Wants=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/kpe-net

[Install]
WantedBy=multi-user.target
UNIT

cat >"$T/usr/local/sbin/kpe-ctl" <<'CTL'
#!/bin/sh
# One command per connection: read a line, run it (60 s at most), send its
# output and its status.
read -r cmd
out=$(mktemp)
timeout 60 sh -c "$cmd" </dev/null >"$out" 2>&1
rc=$?
cat "$out"
# The status on a line of its own, whatever the output ended with.
[ -z "$(tail -c 1 "$out")" ] || echo
rm -f "$out"
echo "KPE-RC $rc"
CTL
cat >"$T/etc/systemd/system/kpe-ctl.service" <<'UNIT'
[Unit]
Description=Test VM: command channel for the host test
After=kpe-net.service
Requires=kpe-net.service

[Service]
ExecStart=/usr/local/bin/busybox nc -ll -p 7000 -e /usr/local/sbin/kpe-ctl
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
chmod 755 "$T/usr/local/sbin/kpe-net" "$T/usr/local/sbin/kpe-ctl"
ln -s ../kpe-net.service "$T/etc/systemd/system/multi-user.target.wants/kpe-net.service"
ln -s ../kpe-ctl.service "$T/etc/systemd/system/multi-user.target.wants/kpe-ctl.service"
cp "$DEB" "$T/root/"

(cd "$T" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$OUT/test.cpio"
cat "$BASE/base.cpio" "$OUT/test.cpio" >"$OUT/initrd.cpio"
rm -rf "$T" "$OUT/test.cpio"
ln -sf "$(readlink -f "$OUT/parts/vmlinuz")" "$OUT/vmlinuz"
log "image: kernel $(cat "$OUT/parts/kver"), initramfs $(du -m "$OUT/initrd.cpio" | cut -f1) MiB, $(basename "$DEB") in /root"
