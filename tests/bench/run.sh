#!/bin/sh
# The side-by-side benchmark: kprobe-exporter against a trivial trace_pipe
# reader, trace-cmd, perf-tools + awk and bpftrace, on the same events.
# Run by hand, as root; not part of the test suites.
#
#   sh tests/bench/run.sh            full run (2M getpid events per run; a few minutes on 2 cores)
#   sh tests/bench/run.sh --quick    200k events, short steps (about a minute)
#   sh tests/bench/run.sh --help     every option (contenders, N, --perf, --json FILE, ...)
#
#   sh tests/bench/run.sh --hist [--quick|--help|...]
#           instead: what histograms and latency pairing cost the daemon
#           (tests/bench/hist.py): CPU per event against a plain counter,
#           RSS with the pending table full, /metrics render time with
#           1,000 histogram series; about 4 minutes, --quick about one.
#
#   sh tests/bench/run.sh --tls [--quick|--help|...]
#           instead: what HTTPS and basic auth (--web.config.file) cost
#           (tests/bench/tls.py): a scrape of 10,000 series over HTTPS with
#           basic auth against plain HTTP (client time, daemon CPU), TLS
#           handshakes per second (a new connection per request), the
#           first request's bcrypt; about 3 minutes, --quick about one.
#
#   sh tests/bench/run.sh --attrib [--quick|--help|...]
#           instead: what the attribution labels (cgroup, unit, user_unit,
#           container_id) cost (tests/bench/attrib.py): CPU per event of a
#           counter labelled [comm, unit] and [comm, unit, container_id,
#           cgroup] against [comm], and the daemon's CPU, task table and RSS
#           while the host forks 20,000 short-lived processes (attribution
#           on and off); about 3 minutes, --quick under one.
#
#   sh tests/bench/run.sh --library [--quick|--help|...]
#           instead: what the probe library's files cost (tests/bench/library.py):
#           daemon CPU per 1,000 TCP connections (tcp.yaml against the
#           shipped tcp_connect), execs, direct reads of a loop device, and
#           getaddrinfo() calls, whose caller pays the uprobe's trap (timed
#           with and without); about 2 minutes, --quick under one.
#
# KPE_BIN=path overrides the daemon (default: build/kprobe-exporter).
# Installs what it needs from Debian's packages (trace-cmd,
# perf-tools-unstable, bpftrace, wrk, curl, file, binutils) when missing; a
# contender that still cannot run is reported as skipped, with the reason.
# Touches only its own tracing instances and probes (kpe_bench_*, kpeb*), and
# the global buffer only while perf-tools' scripts run (they need it; its
# state is restored); everything it created is removed on exit. --hist
# needs only curl (and perf for its --perf) and uses the instance and probe
# group kpe_bench_hist_PID; --tls needs certtool (gnutls-bin) and htpasswd
# (apache2-utils), makes its certificates in a scratch dir, talks to
# 127.0.0.1 only and uses the instance and probe group kpe_bench_tls_PID;
# --attrib uses the instance and probe group kpe_bench_attr_PID and makes
# kpe-bench-PID.slice/demo.service in the cgroup hierarchy the daemon follows
# (name=systemd on a legacy or hybrid host, else the unified one), moves only
# its own generator and forker there, and removes it on exit.
set -eu

harness=bench.py
case "${1:-}" in
--hist) harness=hist.py && shift ;;
--tls) harness=tls.py && shift ;;
--attrib) harness=attrib.py && shift ;;
--library) harness=library.py && shift ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
kpe=${KPE_BIN:-$repo/build/kprobe-exporter}

if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: the benchmark needs root (tracefs)" >&2
        exit 77
fi

# command:package pairs; installed only when missing.
missing=""
pairs="trace-cmd:trace-cmd tpoint-perf:perf-tools-unstable bpftrace:bpftrace wrk:wrk curl:curl file:file objdump:binutils"
[ "$harness" = hist.py ] && pairs="curl:curl"
[ "$harness" = tls.py ] && pairs="certtool:gnutls-bin htpasswd:apache2-utils"
[ "$harness" = attrib.py ] && pairs=""
[ "$harness" = library.py ] && pairs="losetup:mount"
for pair in $pairs cc:gcc python3:python3; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
        echo "# installing:$missing" >&2
        if command -v apt-get >/dev/null 2>&1; then
                apt-get update -qq >/dev/null 2>&1 || true
                # shellcheck disable=SC2086
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1 ||
                        echo "# apt-get install failed for some of:$missing; those contenders will be skipped" >&2
        else
                echo "# no apt-get: contenders needing$missing will be skipped" >&2
        fi
fi

if [ ! -x "$kpe" ]; then
        echo "# $kpe is not built: run 'sh .ci/build.sh' or 'meson compile -C build' first" >&2
        exit 1
fi

build=$(mktemp -d /tmp/kpe-bench-build.XXXXXX)
trap 'rm -rf "$build"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cc -O2 -std=gnu11 -Wall -Wextra -o "$build/kpe-bench-gen" "$here/gen.c"
cc -O2 -std=gnu11 -Wall -Wextra -o "$build/kpe-bench-reader" "$here/reader.c"

# Not exec: the trap above removes the build dir (the uprobe target) after
# the harness has removed its probes. No __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1
if [ "$harness" != bench.py ]; then
        python3 "$here/$harness" --kpe "$kpe" --gen "$build/kpe-bench-gen" "$@"
        exit
fi
python3 "$here/bench.py" --kpe "$kpe" --gen "$build/kpe-bench-gen" --reader "$build/kpe-bench-reader" \
        --repo "$repo" "$@"
