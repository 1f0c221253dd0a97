#!/bin/bash
# The Debian package on this machine, as an admin would meet it: built with
# dpkg-buildpackage, lintian, installed with dpkg -i, its files and
# conffile, its units (systemd-analyze verify and security), the installed
# binary's --config.check on the installed config, the example Prometheus
# config and rules (promtool), the example web config (with certificates
# made here by certtool, as shipped and with its optional settings
# uncommented) through --config.check, then removed and purged: the
# machine is left as it was.
#
# The service must not start here: the package's postinst enables it and
# starts it through deb-systemd-invoke, which does nothing where systemd is
# not PID 1 and asks policy-rc.d first; a policy-rc.d that says 101 (deny)
# is put in place for the install when there is none.
#
# How meson runs it:
#   KPE_SOURCE_ROOT=<repo> KPE_PKG_CACHE=<build>/pkg-cache bash tests/pkg/test-deb.sh
. "$(dirname "$0")/../system/lib.sh"

PKG=kprobe-exporter
POLICY=/usr/sbin/policy-rc.d
OUR_POLICY=""
INSTALLED=""
WORK=""

cleanup() {
        local rc=$?
        trap - EXIT
        if [ -n "$INSTALLED" ]; then
                dpkg --purge "$PKG" >"$WORK/purge-on-exit.log" 2>&1 || echo "# warning: dpkg --purge $PKG failed" >&2
        fi
        [ -n "$OUR_POLICY" ] && rm -f "$POLICY"
        [ -n "$WORK" ] && rm -rf "$WORK"
        exit $rc
}

[ "$(id -u)" = 0 ] || skip "not root (dpkg -i needs root)"
command -v dpkg >/dev/null || skip "not a Debian system (no dpkg)"
command -v systemd-analyze >/dev/null || skip "missing systemd-analyze (Debian package systemd)"
command -v promtool >/dev/null || skip "missing promtool (Debian package prometheus)"
command -v certtool >/dev/null || skip "missing certtool (Debian package gnutls-bin)"
[ -d "${KPE_SOURCE_ROOT:-}/packaging/debian" ] || fail "KPE_SOURCE_ROOT '${KPE_SOURCE_ROOT:-}' has no packaging/debian"
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "ok installed"; then
        skip "$PKG is installed on this machine: the test would replace and purge it"
fi
WORK=$(mktemp -d /tmp/kpe_pkg.XXXXXX) || fail "mktemp"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build --------------------------------------------------------------
rc=0
bash "$(dirname "$0")/build-deb.sh" "$KPE_SOURCE_ROOT" "${KPE_PKG_CACHE:-$WORK/cache}" >"$WORK/build.log" 2>&1 || rc=$?
if [ $rc = 77 ]; then
        grep -m1 '^SKIP: ' "$WORK/build.log"
        exit 77
fi
[ $rc = 0 ] || fail "build-deb.sh failed: $(tail -n 30 "$WORK/build.log")"
grep '^# ' "$WORK/build.log"
DEB=$(tail -n 1 "$WORK/build.log")
[ -f "$DEB" ] || fail "build-deb.sh named no .deb: $DEB"
log "package: $DEB ($(du -k "$DEB" | cut -f1) KiB)"

version=$(dpkg-deb -f "$DEB" Version)
meson_version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$KPE_SOURCE_ROOT/meson.build" | head -n 1)
[ "$version" = "$meson_version" ] || fail "the package's version is $version, meson.build's $meson_version"

# ---- lintian ------------------------------------------------------------
if command -v lintian >/dev/null; then
        lintian --fail-on error,warning "$DEB" >"$WORK/lintian.log" 2>&1 ||
                fail "lintian: $(grep -v 'running with root privileges' "$WORK/lintian.log")"
        n=$(grep -cv 'running with root privileges' "$WORK/lintian.log" || true)
        log "lintian: no errors or warnings ($n info/pedantic lines)"
else
        log "lintian not installed: not run"
fi

# ---- contents -----------------------------------------------------------
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort >"$WORK/files"
cat >"$WORK/want" <<'LIST'
/etc/kprobe-exporter/probes.yaml
/lib/systemd/system/kprobe-exporter.service
/lib/systemd/system/kprobe-exporter.socket
/usr/sbin/kprobe-exporter
/usr/share/doc/kprobe-exporter/README.md.gz
/usr/share/doc/kprobe-exporter/changelog.gz
/usr/share/doc/kprobe-exporter/copyright
/usr/share/doc/kprobe-exporter/examples/kprobe-exporter.rules.test.yml
/usr/share/doc/kprobe-exporter/examples/kprobe-exporter.rules.yml
/usr/share/doc/kprobe-exporter/examples/prometheus.yml
/usr/share/doc/kprobe-exporter/examples/web-config.yml
/usr/share/kprobe-exporter/probes/block.yaml
/usr/share/kprobe-exporter/probes/dns.yaml
/usr/share/kprobe-exporter/probes/process.yaml
/usr/share/kprobe-exporter/probes/tcp.yaml
/usr/share/man/man5/probes.yaml.5.gz
/usr/share/man/man8/kprobe-exporter.8.gz
LIST
diff -u "$WORK/want" "$WORK/files" >"$WORK/files.diff" || fail "the package's files differ from the expected list:
$(cat "$WORK/files.diff")"
[ "$(dpkg-deb -f "$DEB" Architecture)" != all ] || fail "Architecture: all for a binary"
dpkg-deb -f "$DEB" Depends | grep -q "libsystemd0.*procps\|procps.*libsystemd0" || fail "Depends lacks libsystemd0 or procps (/bin/kill for ExecReload): $(dpkg-deb -f "$DEB" Depends)"
log "contents: $(wc -l <"$WORK/files") files as expected; Depends: $(dpkg-deb -f "$DEB" Depends)"

# ---- install ------------------------------------------------------------
if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# kprobe-exporter test-deb.sh: no service starts during the test\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        OUR_POLICY=1
fi
running_daemons() {
        local p
        for p in /proc/[0-9]*; do
                [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/kprobe-exporter ] && echo "${p#/proc/}"
        done
        return 0
}
INSTALLED=1
dpkg -i "$DEB" >"$WORK/install.log" 2>&1 || fail "dpkg -i failed: $(cat "$WORK/install.log")"
log "dpkg -i: installed $(dpkg-query -W -f='${Package} ${Version} ${Status}' "$PKG")"

[ "$(dpkg-query -W -f='${Conffiles}' "$PKG" | awk 'NF { print $1 }')" = /etc/kprobe-exporter/probes.yaml ] ||
        fail "conffiles: '$(dpkg-query -W -f='${Conffiles}' "$PKG")', want /etc/kprobe-exporter/probes.yaml alone"
cmp -s /etc/kprobe-exporter/probes.yaml "$KPE_SOURCE_ROOT/config/probes.yaml" ||
        fail "/etc/kprobe-exporter/probes.yaml is not config/probes.yaml"
for f in $(cat "$WORK/files"); do
        [ -e "$f" ] || fail "installed file $f is missing"
done
[ -x /usr/sbin/kprobe-exporter ] || fail "/usr/sbin/kprobe-exporter is not executable"

# Debian policy for a daemon: the service enabled (multi-user.target wants
# it); the socket, an alternative with the same address, not.
wants=/etc/systemd/system/multi-user.target.wants/kprobe-exporter.service
[ "$(readlink "$wants")" = /lib/systemd/system/kprobe-exporter.service ] ||
        fail "the service is not enabled: $wants -> '$(readlink "$wants")'"
[ ! -e /etc/systemd/system/sockets.target.wants/kprobe-exporter.socket ] || fail "the socket was enabled on install"
[ -z "$(running_daemons)" ] || fail "the install started kprobe-exporter here (pids $(running_daemons))"
log "enabled: kprobe-exporter.service (multi-user.target); not enabled: the socket; not started on this host"

# ---- units ----------------------------------------------------------------
systemd-analyze verify /lib/systemd/system/kprobe-exporter.service /lib/systemd/system/kprobe-exporter.socket \
        >"$WORK/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
[ ! -s "$WORK/verify.log" ] || fail "systemd-analyze verify complained: $(cat "$WORK/verify.log")"
systemd-analyze security --offline=true /lib/systemd/system/kprobe-exporter.service >"$WORK/security.log" 2>&1 ||
        fail "systemd-analyze security: $(tail -n 5 "$WORK/security.log")"
score=$(sed -n 's/.*Overall exposure level for kprobe-exporter.service: \([0-9.]*\).*/\1/p' "$WORK/security.log")
[ -n "$score" ] || fail "no exposure level in: $(tail -n 3 "$WORK/security.log")"
log "systemd-analyze security (offline): exposure $score; what is left:"
grep '✗' "$WORK/security.log" | sed 's/  */ /g; s/^/#   /'
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 2.5 else 1)" "$score" ||
        fail "the unit's exposure level is $score, above 2.5: a hardening line was lost?"

# ---- the installed binary and config -----------------------------------------
v=$(/usr/sbin/kprobe-exporter --version) || fail "--version failed"
[ "$v" = "kprobe-exporter $version" ] || fail "--version says '$v', want 'kprobe-exporter $version'"
/usr/sbin/kprobe-exporter --config.check >"$WORK/check.out" 2>"$WORK/check.err" ||
        fail "--config.check on the installed config failed: $(cat "$WORK/check.err")"
grep -qxF 'p:kprobe_exporter/connect __sys_connect_file family=+0($arg2):u16 port=+2($arg2):u16 addr=+4($arg2):u32 comm=$comm:string >> kprobe_events' "$WORK/check.out" ||
        fail "--config.check printed no line for the connect probe: $(cat "$WORK/check.out")"
log "--config.check on /etc/kprobe-exporter/probes.yaml: $(head -n 1 "$WORK/check.out")"
# The probe library, included as the shipped config's comment shows: every
# file loads (what this kernel lacks is reported, not refused).
printf 'include: /usr/share/kprobe-exporter/probes/*.yaml\n' >"$WORK/library.yaml"
/usr/sbin/kprobe-exporter --config.file="$WORK/library.yaml" --config.check >"$WORK/library.out" 2>"$WORK/library.err" ||
        fail "--config.check of the installed library failed: $(cat "$WORK/library.err")"
for f in block dns process tcp; do
        grep -qF "/usr/share/kprobe-exporter/probes/$f.yaml" "$WORK/library.out" "$WORK/library.err" ||
                fail "--config.check does not list the installed $f.yaml: $(cat "$WORK/library.out" "$WORK/library.err")"
done
log "--config.check of the installed library: $(grep -c "^# probe '" "$WORK/library.out") probes from 4 files"
# A broken config is refused with its line:column, and the conffile is
# what the daemon reads by default.
printf 'probes:\n  - name: x\n    type: kprobe\n    target: f\n    bogus: 1\n' >"$WORK/bad.yaml"
if /usr/sbin/kprobe-exporter --config.file="$WORK/bad.yaml" --config.check >/dev/null 2>"$WORK/bad.err"; then
        fail "--config.check accepted a config with an unknown key"
fi
grep -q "bad.yaml:5:5" "$WORK/bad.err" || fail "the error has no file:line:column: $(cat "$WORK/bad.err")"
if command -v man >/dev/null; then
        for page in kprobe-exporter.8 probes.yaml.5; do
                sect=${page##*.}
                w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "/usr/share/man/man$sect/$page.gz" 2>&1 >/dev/null)
                [ -z "$w" ] || fail "man $page: $w"
        done
        log "man pages render without warnings"
fi

# ---- Prometheus examples --------------------------------------------------
ex=/usr/share/doc/kprobe-exporter/examples
promtool check config "$ex/prometheus.yml" >"$WORK/promtool.log" 2>&1 || fail "promtool check config: $(cat "$WORK/promtool.log")"
promtool check rules "$ex/kprobe-exporter.rules.yml" >>"$WORK/promtool.log" 2>&1 || fail "promtool check rules: $(cat "$WORK/promtool.log")"
(cd "$ex" && promtool test rules kprobe-exporter.rules.test.yml) >>"$WORK/promtool.log" 2>&1 ||
        fail "promtool test rules: $(cat "$WORK/promtool.log")"
log "promtool: the scrape config and the 4 alerting rules check, and their unit tests pass"

# ---- the example web config ---------------------------------------------------
# As an admin would use it: copied next to a key and certificate (its file
# names are relative: resolved against its directory), checked by the
# installed binary. Then with every optional setting uncommented (the
# example's convention: a '#' right before the key), which also needs the
# client CA it names. The Prometheus example's commented HTTPS job, the
# same way, through promtool.
cmp -s "$ex/web-config.yml" "$KPE_SOURCE_ROOT/packaging/web-config.yml" ||
        fail "$ex/web-config.yml is not packaging/web-config.yml"
uncomment() { sed -E 's/^( *)#([A-Za-z_-])/\1\2/' "$1"; }
W="$WORK/web"
mkdir -p "$W"
certtool --generate-privkey --key-type=ecdsa --outfile "$W/ca.key" 2>/dev/null || fail "certtool: CA key"
printf 'cn = "kpe pkg test CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >"$W/ca.tmpl"
certtool --generate-self-signed --load-privkey "$W/ca.key" --template "$W/ca.tmpl" --outfile "$W/client-ca.crt" \
        2>"$W/certtool.log" || fail "certtool: CA: $(cat "$W/certtool.log")"
certtool --generate-privkey --key-type=ecdsa --outfile "$W/server.key" 2>/dev/null || fail "certtool: server key"
printf 'cn = "kpe pkg test"\ndns_name = "localhost"\ntls_www_server\nsigning_key\nexpiration_days = 2\n' >"$W/server.tmpl"
certtool --generate-certificate --load-privkey "$W/server.key" --load-ca-certificate "$W/client-ca.crt" \
        --load-ca-privkey "$W/ca.key" --template "$W/server.tmpl" --outfile "$W/server.crt" 2>"$W/certtool.log" ||
        fail "certtool: server: $(cat "$W/certtool.log")"
cp "$ex/web-config.yml" "$W/web-config.yml"
uncomment "$ex/web-config.yml" >"$W/web-full.yml"
! cmp -s "$W/web-config.yml" "$W/web-full.yml" || fail "the example web config has no optional setting to uncomment"
for f in web-config.yml web-full.yml; do
        /usr/sbin/kprobe-exporter --web.config.file="$W/$f" --config.check >"$WORK/web-check.out" 2>"$WORK/web-check.err" ||
                fail "--config.check with the example web config ($f) failed: $(cat "$WORK/web-check.err")"
        grep -qxF "# web config $W/$f: HTTPS, basic auth" "$WORK/web-check.out" ||
                fail "--config.check with $f printed no '# web config ...: HTTPS, basic auth': $(grep -i web "$WORK/web-check.out")"
done
# The hash command the example gives is the one the daemon names when a
# password is not a bcrypt hash.
sed 's/^\(  prometheus:\) .*/\1 changeme/' "$W/web-config.yml" >"$W/web-plain.yml"
if /usr/sbin/kprobe-exporter --web.config.file="$W/web-plain.yml" --config.check >/dev/null 2>"$WORK/web-plain.err"; then
        fail "--config.check accepted a clear-text password in basic_auth_users"
fi
hint=$(grep -o 'htpasswd -nBC 10 "" | tr -d .:\\n.' "$WORK/web-plain.err" | head -n 1)
[ -n "$hint" ] && grep -qF "$hint" "$ex/web-config.yml" ||
        fail "the daemon's hint for a clear-text password ($(cat "$WORK/web-plain.err")) is not the example's"
uncomment "$ex/prometheus.yml" >"$WORK/prometheus-tls.yml"
cp "$ex/kprobe-exporter.rules.yml" "$WORK/"
grep -q '^  - job_name: kprobe-exporter-tls$' "$WORK/prometheus-tls.yml" || fail "prometheus.yml has no commented HTTPS job"
promtool check config "$WORK/prometheus-tls.yml" >"$WORK/promtool-tls.log" 2>&1 ||
        fail "promtool check config with the HTTPS job uncommented: $(cat "$WORK/promtool-tls.log")"
log "example web config: --config.check says 'HTTPS, basic auth' as shipped and with its optional settings uncommented; a clear-text password is refused with the example's htpasswd command; promtool takes the HTTPS scrape job"

# ---- remove, purge ------------------------------------------------------------
dpkg -r "$PKG" >"$WORK/remove.log" 2>&1 || fail "dpkg -r failed: $(cat "$WORK/remove.log")"
[ ! -e /usr/sbin/kprobe-exporter ] || fail "dpkg -r left /usr/sbin/kprobe-exporter"
[ -f /etc/kprobe-exporter/probes.yaml ] || fail "dpkg -r removed the conffile (only --purge should)"
dpkg --purge "$PKG" >"$WORK/purge.log" 2>&1 || fail "dpkg --purge failed: $(cat "$WORK/purge.log")"
INSTALLED=""
[ ! -e /etc/kprobe-exporter ] || fail "dpkg --purge left /etc/kprobe-exporter"
left=$(find /etc/systemd /var/lib/systemd -name '*kprobe-exporter*' 2>/dev/null)
[ -z "$left" ] || fail "dpkg --purge left: $left"
! dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q installed || fail "dpkg still lists $PKG"
log "dpkg -r kept the conffile; dpkg --purge left nothing of $PKG"
log "pass"
