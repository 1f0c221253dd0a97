#!/bin/bash
# apt-mirror.sh on apt configurations written here: the layout of this
# project's machines (deb822 debian.sources with comments, disabled parts),
# the one-line format with options and comments, deb822 with Enabled: no,
# continuation lines and lowercase fields, third-party archives before
# Debian's, no security source (derived), nothing at all (defaults), and a
# host that is not Debian. Then what this host's own configuration gives.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/kpe_aptmirror.XXXXXX) || { echo "FAIL: mktemp"; exit 1; }
trap 'rm -rf "$WORK"' EXIT
FAILED=0

# case NAME OS-ID CODENAME WANT-MIRROR WANT-SECURITY: the files are written
# into $WORK/NAME/etc/apt beforehand.
check() {
        local name=$1 id=$2 codename=$3 want_m=$4 want_s=$5 got_m got_s
        printf 'ID=%s\nVERSION_CODENAME=%s\n' "$id" "$codename" >"$WORK/$name/os-release"
        got_m=$(APT_ETC="$WORK/$name/etc/apt" APT_OS_RELEASE="$WORK/$name/os-release" \
                bash -c 'set -eu -o pipefail; . "$1"/apt-mirror.sh; apt_mirror' _ "$HERE")
        got_s=$(APT_ETC="$WORK/$name/etc/apt" APT_OS_RELEASE="$WORK/$name/os-release" \
                bash -c 'set -eu -o pipefail; . "$1"/apt-mirror.sh; apt_security_mirror' _ "$HERE")
        if [ "$got_m $got_s" = "$want_m $want_s" ]; then
                echo "ok - $name: $got_m $got_s"
        else
                echo "not ok - $name: got '$got_m' '$got_s', want '$want_m' '$want_s'"
                FAILED=1
        fi
}

etc() {
        mkdir -p "$WORK/$1/etc/apt/sources.list.d"
        echo "$WORK/$1/etc/apt"
}

# This project's machines (Debian 12 image): deb822 only, no sources.list,
# other parts disabled by renaming.
E=$(etc farm)
cat >"$E/sources.list.d/debian.sources" <<'EOF'
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
echo 'deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main' >"$E/sources.list.d/google-cloud-sdk.list.disabled-by-farm"
check farm debian bookworm http://deb.debian.org/debian http://deb.debian.org/debian-security

# One-line format: a third-party archive first, options with and without
# spaces, comments, deb-src, a trailing slash.
E=$(etc oneline)
cat >"$E/sources.list" <<'EOF'
# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/nodesource.gpg] https://deb.nodesource.com/node_20.x nodistro main
deb [ arch=amd64 ] http://mirror.example:3142/deb.debian.org/debian/ bookworm main contrib # proxy
deb http://security.example/debian-security bookworm-security main
EOF
echo 'deb http://later.example/debian bookworm main' >"$E/sources.list.d/later.list"
check oneline debian bookworm http://mirror.example:3142/deb.debian.org/debian http://security.example/debian-security

# deb822: a disabled stanza first, deb-src only, lowercase fields, URIs
# continued on the next line; old-style security suite (buster/updates).
E=$(etc deb822)
cat >"$E/sources.list.d/a-off.sources" <<'EOF'
Types: deb
URIs: http://off.example/debian
Suites: bookworm
Enabled: no
EOF
cat >"$E/sources.list.d/b-debian.sources" <<'EOF'
Types: deb-src
URIs: http://src.example/debian
Suites: buster

types: deb deb-src
uris:
 https://mirror.example/debian
 http://second.example/debian
suites: buster buster-updates
components: main

Types: deb
URIs: https://mirror.example/debian-security/
Suites: buster/updates
EOF
check deb822 debian buster https://mirror.example/debian https://mirror.example/debian-security

# No security source: beside the main archive when it ends in /debian...
E=$(etc nosec)
echo 'deb http://proxy.example:3142/debian trixie main' >"$E/sources.list"
check nosec debian trixie http://proxy.example:3142/debian http://proxy.example:3142/debian-security
# ...else Debian's own.
E=$(etc nosec-other)
echo 'deb http://mirror.example/pub/linux/debian-archive bookworm main' >"$E/sources.list"
check nosec-other debian bookworm http://mirror.example/pub/linux/debian-archive http://deb.debian.org/debian-security

# Nothing usable (a cdrom, a file: archive): the defaults.
E=$(etc none)
printf '%s\n' 'deb cdrom:[Debian 12]/ bookworm main' 'deb file:/srv/debian bookworm main' >"$E/sources.list"
check none debian bookworm http://deb.debian.org/debian http://deb.debian.org/debian-security

# A Debian release newer than the list in apt-mirror.sh: the host's own
# codename counts.
E=$(etc newer)
echo 'deb http://deb.debian.org/debian zanzibar main' >"$E/sources.list"
check newer debian zanzibar http://deb.debian.org/debian http://deb.debian.org/debian-security

# Not Debian: Ubuntu's archive is no Debian mirror.
E=$(etc ubuntu)
printf '%s\n' 'deb http://archive.ubuntu.com/ubuntu jammy main' 'deb http://security.ubuntu.com/ubuntu jammy-security main' >"$E/sources.list"
check ubuntu ubuntu jammy http://deb.debian.org/debian http://deb.debian.org/debian-security

# This host, as the image builders will see it.
# shellcheck source-path=SCRIPTDIR source=apt-mirror.sh
. "$HERE/apt-mirror.sh"
echo "# this host: mirror $(apt_mirror), security $(apt_security_mirror)"
apt_sources | sed 's/^/#   source /'

[ $FAILED = 0 ] || { echo "FAIL: apt-mirror.sh"; exit 1; }
echo "pass"
