#!/bin/bash
# Builds the Debian package from the source tree, as `dpkg-buildpackage
# -us -uc -b` would in a checkout whose debian/ is packaging/debian: in a
# staged copy of the tree (build dirs and .git left out) with
# packaging/debian placed at its root as debian/.
#
# Usage: build-deb.sh SOURCE_ROOT CACHE
# Prints the path of the .deb on its last line. The package is built once
# per content of the staged tree: CACHE/deb-<sha256>/ keeps it, so the
# tests that need it (pkg, vm-systemd) share one build. Exit 0, 77 after
# "SKIP: <reason>" when a build tool is missing, else 1.
set -eu -o pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "# $*"; }

[ $# -eq 2 ] || fail "usage: build-deb.sh SOURCE_ROOT CACHE"
SRC=$(cd "$1" && pwd)
mkdir -p "$2"
CACHE=$(cd "$2" && pwd)

command -v dpkg-buildpackage >/dev/null || skip "missing dpkg-buildpackage (Debian package dpkg-dev)"
command -v dh >/dev/null || skip "missing dh (Debian package debhelper)"
command -v fakeroot >/dev/null || skip "missing fakeroot"
[ -d "$SRC/packaging/debian" ] || fail "no packaging/debian in $SRC"

exec 9>"$CACHE/.deb.lock"
flock -w 600 9 || fail "$CACHE/.deb.lock stayed locked for 600 s"

# The staged tree: every top-level entry but .git and meson build dirs
# (in the tree or not), then debian/.
VERSION=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$SRC/packaging/debian/changelog")
[ -n "$VERSION" ] || fail "no version in packaging/debian/changelog"
STAGE="$CACHE/stage/kprobe-exporter-$VERSION"
rm -rf "$CACHE/stage"
mkdir -p "$STAGE"
for entry in "$SRC"/* "$SRC"/.[!.]*; do
        [ -e "$entry" ] || continue
        case "$(basename "$entry")" in .git) continue ;; esac
        [ -d "$entry/meson-private" ] && continue
        cp -a "$entry" "$STAGE/"
done
cp -a "$SRC/packaging/debian" "$STAGE/debian"

# What the package is built from, as one hash.
HASH=$(cd "$STAGE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
OUT="$CACHE/deb-$HASH"
if [ -f "$OUT/ok" ]; then
        log "reusing the package built from the same tree ($OUT)"
        ls "$OUT"/kprobe-exporter_*.deb
        exit 0
fi

# Build dependencies: say what is missing rather than fail inside the build.
missing=$(cd "$STAGE" && dpkg-checkbuilddeps 2>&1 | sed -n 's/.*Unmet build dependencies: //p') || true
[ -z "$missing" ] || skip "unmet build dependencies: $missing (sh .ci/build.sh installs them)"

log "dpkg-buildpackage -us -uc -b in $STAGE"
start=$(date +%s)
(cd "$STAGE" && dpkg-buildpackage -us -uc -b) >"$CACHE/dpkg-buildpackage.log" 2>&1 ||
        fail "dpkg-buildpackage failed: $(tail -n 30 "$CACHE/dpkg-buildpackage.log")"
log "built in $(($(date +%s) - start)) s"
rm -rf "$OUT.part" && mkdir -p "$OUT.part"
mv "$CACHE/stage"/*.deb "$CACHE/stage"/*.buildinfo "$CACHE/stage"/*.changes "$OUT.part/"
cp "$CACHE/dpkg-buildpackage.log" "$OUT.part/"
touch "$OUT.part/ok"
# Older builds go: only the newest is ever reused.
find "$CACHE" -maxdepth 1 -name 'deb-*' -type d ! -name "deb-$HASH*" -exec rm -rf {} +
mv "$OUT.part" "$OUT"
rm -rf "$CACHE/stage"
ls "$OUT"/kprobe-exporter_*.deb
