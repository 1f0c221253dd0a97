#!/bin/bash
# The RPM package: packaging/rpm/kprobe-exporter.spec built with rpmbuild
# (Debian's rpm package; --nodeps, as Debian has no RPM database of the
# build dependencies) from a tarball of the source tree, and its contents:
# the same files as the .deb (the example web config among them), in
# RPM's places, the config a noreplace config file, libsystemd among the
# requirements, the systemd scriptlets where the macros exist.
#
# How meson runs it:
#   KPE_SOURCE_ROOT=<repo> KPE_PKG_CACHE=<build>/pkg-cache bash tests/pkg/test-rpm.sh
. "$(dirname "$0")/../system/lib.sh"

WORK=""
cleanup() {
        local rc=$?
        trap - EXIT
        [ -n "$WORK" ] && rm -rf "$WORK"
        exit $rc
}

command -v rpmbuild >/dev/null || skip "missing rpmbuild (Debian package rpm)"
SPEC="${KPE_SOURCE_ROOT:-}/packaging/rpm/kprobe-exporter.spec"
[ -f "$SPEC" ] || fail "no $SPEC"
WORK=$(mktemp -d /tmp/kpe_rpm.XXXXXX) || fail "mktemp"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

VERSION=$(sed -n 's/^Version: *//p' "$SPEC")
meson_version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$KPE_SOURCE_ROOT/meson.build" | head -n 1)
[ "$VERSION" = "$meson_version" ] || fail "the spec's Version is $VERSION, meson.build's $meson_version"

# The tarball: the tree without .git and meson build dirs.
TOP="$WORK/rpm"
mkdir -p "$TOP"/{SOURCES,SPECS,BUILD,RPMS,SRPMS} "$WORK/src/kprobe-exporter-$VERSION"
for entry in "$KPE_SOURCE_ROOT"/* "$KPE_SOURCE_ROOT"/.[!.]*; do
        [ -e "$entry" ] || continue
        case "$(basename "$entry")" in .git) continue ;; esac
        [ -d "$entry/meson-private" ] && continue
        cp -a "$entry" "$WORK/src/kprobe-exporter-$VERSION/"
done
tar -C "$WORK/src" -czf "$TOP/SOURCES/kprobe-exporter-$VERSION.tar.gz" "kprobe-exporter-$VERSION"

start=$(date +%s)
rpmbuild -bb --nodeps --define "_topdir $TOP" "$SPEC" >"$WORK/rpmbuild.log" 2>&1 ||
        fail "rpmbuild failed: $(tail -n 30 "$WORK/rpmbuild.log")"
RPM=$(find "$TOP/RPMS" -name "kprobe-exporter-$VERSION-*.rpm" ! -name '*debug*' | head -n 1)
[ -f "$RPM" ] || fail "rpmbuild made no package: $(ls -R "$TOP/RPMS")"
log "rpmbuild: $(basename "$RPM") in $(($(date +%s) - start)) s"
grep -q 'Ok: *[1-9]' "$WORK/rpmbuild.log" || fail "%check ran no unit test: $(grep -A3 'meson test' "$WORK/rpmbuild.log" | head)"

rpm -qlp "$RPM" 2>/dev/null | sort >"$WORK/files"
cat >"$WORK/want" <<'LIST'
/etc/kprobe-exporter
/etc/kprobe-exporter/probes.yaml
/usr/lib/systemd/system/kprobe-exporter.service
/usr/lib/systemd/system/kprobe-exporter.socket
/usr/sbin/kprobe-exporter
/usr/share/doc/kprobe-exporter
/usr/share/doc/kprobe-exporter/README.md
/usr/share/doc/kprobe-exporter/examples
/usr/share/doc/kprobe-exporter/examples/kprobe-exporter.rules.test.yml
/usr/share/doc/kprobe-exporter/examples/kprobe-exporter.rules.yml
/usr/share/doc/kprobe-exporter/examples/prometheus.yml
/usr/share/doc/kprobe-exporter/examples/web-config.yml
/usr/share/kprobe-exporter
/usr/share/kprobe-exporter/probes
/usr/share/kprobe-exporter/probes/block.yaml
/usr/share/kprobe-exporter/probes/dns.yaml
/usr/share/kprobe-exporter/probes/process.yaml
/usr/share/kprobe-exporter/probes/tcp.yaml
LIST
# Man pages may be compressed by the distribution's brp scripts.
grep -qE '^/usr/share/man/man8/kprobe-exporter\.8(\.gz|\.xz|\.bz2)?$' "$WORK/files" || fail "no kprobe-exporter(8) in the rpm"
grep -qE '^/usr/share/man/man5/probes\.yaml\.5(\.gz|\.xz|\.bz2)?$' "$WORK/files" || fail "no probes.yaml(5) in the rpm"
# /usr/lib/.build-id: rpm's own links to the binary's build id.
grep -v -e '^/usr/share/man/' -e '^/usr/lib/.build-id' "$WORK/files" | diff -u "$WORK/want" - >"$WORK/files.diff" ||
        fail "the rpm's files differ from the expected list:
$(cat "$WORK/files.diff")"
[ "$(rpm -qp --configfiles "$RPM" 2>/dev/null)" = /etc/kprobe-exporter/probes.yaml ] ||
        fail "config files: '$(rpm -qp --configfiles "$RPM" 2>/dev/null)'"
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$RPM" 2>/dev/null | grep -qx 'cn /etc/kprobe-exporter/probes.yaml' ||
        fail "probes.yaml is not %config(noreplace): $(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$RPM" 2>/dev/null | grep probes)"
rpm -qp --requires "$RPM" 2>/dev/null >"$WORK/requires"
grep -q '^libsystemd.so.0' "$WORK/requires" || fail "requires no libsystemd.so.0: $(tr '\n' ' ' <"$WORK/requires")"
grep -qx '/usr/bin/kill' "$WORK/requires" || fail "requires no /usr/bin/kill (ExecReload)"
# The units in the rpm are the ones in the tree.
rpm2cpio "$RPM" | (mkdir "$WORK/x" && cd "$WORK/x" && cpio -idm --quiet) || fail "rpm2cpio failed"
cmp -s "$WORK/x/usr/lib/systemd/system/kprobe-exporter.service" "$KPE_SOURCE_ROOT/systemd/kprobe-exporter.service" ||
        fail "the rpm's service unit is not systemd/kprobe-exporter.service"
# The example web config is the one test-deb.sh checks with --config.check.
cmp -s "$WORK/x/usr/share/doc/kprobe-exporter/examples/web-config.yml" "$KPE_SOURCE_ROOT/packaging/web-config.yml" ||
        fail "the rpm's examples/web-config.yml is not packaging/web-config.yml"
"$WORK/x/usr/sbin/kprobe-exporter" --version | grep -qx "kprobe-exporter $VERSION" || fail "the rpm's binary says: $("$WORK/x/usr/sbin/kprobe-exporter" --version)"
log "contents: $(wc -l <"$WORK/files") paths as expected; config(noreplace) probes.yaml; requires $(grep -c . "$WORK/requires") (libsystemd.so.0, /usr/bin/kill, ...)"
if rpm -qp --scripts "$RPM" 2>/dev/null | grep -q systemctl; then
        log "scriptlets: systemd presets (systemd-rpm-macros)"
else
        log "scriptlets: none (this rpmbuild has no systemd-rpm-macros; on Fedora/RHEL/SUSE %systemd_post and co. apply)"
fi
log "pass"
