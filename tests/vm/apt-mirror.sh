# The Debian mirror this host's apt uses, for the image builders
# (tests/vm/mkimage.sh, tests/pkg/mkimage-systemd.sh): they download from
# the same place apt does, so that a host behind a local mirror or proxy
# needs nothing else. Sourced (bash); defines functions only.
#
#   apt_sources           every enabled "deb" source of the host, one
#                         "URI SUITE" line per URI and suite, in apt's order:
#                         /etc/apt/sources.list, then sources.list.d/*.list
#                         (one-line format) and *.sources (deb822) by name
#   apt_mirror            the URI of the host's Debian archive (a source of
#                         a Debian release's own suite), else
#                         http://deb.debian.org/debian
#   apt_security_mirror   the URI of the host's Debian security archive (a
#                         source of a "-security" or "/updates" suite), else
#                         derived from apt_mirror (see there)
#
# APT_ETC (default /etc/apt) and APT_OS_RELEASE (/etc/os-release) are for
# tests of this file (test-apt-mirror.sh). Safe under set -eu.
#
# Only http:// and https:// URIs count: debootstrap and our private package
# lists fetch with them (cdrom:, file:, mirror+...: and the like are left to
# the host's own apt). A source counts as Debian's when its suite is a
# Debian codename or alias, or this host's own codename, alone or with a
# -updates, -security, -backports or -proposed-updates suffix: third-party
# archives (their own suite names) do not.

# shellcheck shell=bash

APT_ETC=${APT_ETC:-/etc/apt}
APT_OS_RELEASE=${APT_OS_RELEASE:-/etc/os-release}

# The one-line format: "deb [opt=val ...] URI SUITE [COMPONENT ...]", the
# options possibly spaced ("[ arch=amd64 ]"), "#" starting a comment.
_apt_sources_list() {
        awk '{ sub(/#.*/, "") }
             $1 != "deb" { next }
             {
                     line = $0
                     sub(/^[ \t]*deb[ \t]+/, "", line)
                     if (substr(line, 1, 1) == "[") {
                             if (!index(line, "]")) next
                             line = substr(line, index(line, "]") + 1)
                     }
                     n = split(line, w, /[ \t]+/)
                     i = 1
                     while (i <= n && w[i] == "") i++
                     if (i + 1 <= n) print w[i], w[i + 1]
             }' "$@"
}

# deb822: stanzas separated by blank lines; field names are
# case-insensitive; a line starting with a blank continues the field
# before it; "Enabled: no" turns a stanza off; "#" lines are comments.
_apt_sources_deb822() {
        awk 'function flush(   nu, ns, u, s, i, j, t, isdeb) {
                     isdeb = 0
                     nt = split(f["types"], t, /[ \t]+/)
                     for (i = 1; i <= nt; i++) if (t[i] == "deb") isdeb = 1
                     if (isdeb && tolower(f["enabled"]) !~ /^[ \t]*no[ \t]*$/) {
                             nu = split(f["uris"], u, /[ \t]+/)
                             ns = split(f["suites"], s, /[ \t]+/)
                             for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                                     if (u[i] != "" && s[j] != "") print u[i], s[j]
                     }
                     delete f
                     key = ""
             }
             FNR == 1 && NR > 1 { flush() }
             /^#/ { next }
             /^[ \t]*$/ { flush(); next }
             /^[ \t]/ { if (key != "") f[key] = f[key] " " $0; next }
             {
                     key = tolower(substr($0, 1, index($0, ":") - 1))
                     f[key] = substr($0, index($0, ":") + 1)
             }
             END { flush() }' "$@"
}

apt_sources() {
        local f
        if [ -f "$APT_ETC/sources.list" ]; then
                _apt_sources_list "$APT_ETC/sources.list"
        fi
        # apt reads the parts in the order of their names, .list and
        # .sources alike.
        for f in "$APT_ETC"/sources.list.d/*; do
                [ -f "$f" ] || continue
                case $f in
                *.list) _apt_sources_list "$f" ;;
                *.sources) _apt_sources_deb822 "$f" ;;
                esac
        done
        return 0
}

# "URI SUITE" lines of Debian's suites over http(s), URIs without a final
# slash, the suite's kind appended: "main" (the release itself, -updates,
# -backports, -proposed-updates) or "security".
_apt_debian_sources() {
        local codename=""
        # A Debian host's own codename counts too (a release newer than
        # the list below); another distribution's does not.
        if [ -r "$APT_OS_RELEASE" ]; then
                # shellcheck disable=SC1090
                codename=$(. "$APT_OS_RELEASE" && if [ "${ID:-}" = debian ]; then echo "${VERSION_CODENAME:-}"; fi)
        fi
        apt_sources | awk -v host="$codename" '
                BEGIN {
                        n = split("buzz rex bo hamm slink potato woody sarge etch lenny squeeze wheezy " \
                                "jessie stretch buster bullseye bookworm trixie forky duke sid experimental " \
                                "stable testing unstable oldstable oldoldstable", k, " ")
                        for (i = 1; i <= n; i++) known[k[i]] = 1
                        if (host != "") known[host] = 1
                }
                $1 !~ /^https?:\/\// { next }
                {
                        uri = $1
                        sub(/\/+$/, "", uri)
                        suite = $2
                        kind = "main"
                        if (suite ~ /-security$/ || suite ~ /\/updates$/) kind = "security"
                        base = suite
                        sub(/(-security|\/updates|-updates|-backports|-proposed-updates)$/, "", base)
                        if (base in known) print uri, suite, kind
                }'
}

apt_mirror() {
        local uri
        uri=$(_apt_debian_sources | awk '$3 == "main" { print $1; exit }')
        echo "${uri:-http://deb.debian.org/debian}"
}

# Without a security source of the host's, the security archive is taken
# to sit beside the main archive, as on deb.debian.org (.../debian and
# .../debian-security) and on path-preserving proxies of it (apt-cacher-ng,
# a host:port/deb.debian.org/debian prefix); for a mirror whose URI does
# not end in /debian there is no such guess, and Debian's own
# http://deb.debian.org/debian-security is used. Ordinary Debian mirrors do
# not carry the security archive, so this is a guess that can fail: the
# image builders then go on with the main archive's packages alone.
apt_security_mirror() {
        local uri main
        uri=$(_apt_debian_sources | awk '$3 == "security" { print $1; exit }')
        if [ -z "$uri" ]; then
                main=$(apt_mirror)
                case $main in
                */debian) uri=$main-security ;;
                *) uri=http://deb.debian.org/debian-security ;;
                esac
        fi
        echo "$uri"
}
