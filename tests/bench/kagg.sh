#!/bin/bash
# What kernel aggregation (`aggregate: kernel`, hist triggers) costs and
# saves, against streaming the same metric and against bpftrace, measured in
# one boot of a Debian 13 guest (6.12, x86-64, qemu): this machine's kernel
# has neither kprobes nor hist triggers. A developer benchmark, run by hand;
# not part of any test suite. Needs no root on the host (the guest is root
# in its own kernel; the host's tracefs is never touched).
#
#   bash tests/bench/kagg.sh [--calls N] [--rounds R] [--keys K] [--scrapes S]
#                            [--clock icount|real] [--modes "base kcomm ..."] [--out DIR]
#
# The guest's clock (--clock): icount, the default, has qemu count
# instructions (-icount shift=0: each guest instruction is 1 ns of the
# guest's clock), so every time measured in the guest is an instruction
# count, the same from run to run whatever else the host runs (this
# project's machines run other VMs alongside: with the real clock the
# rounds of one run differed by up to 2x). Instructions are not cycles (a
# cache miss or an atomic weighs as much as an add), so it is a proxy, like
# any figure from emulation. real: qemu's default, the host's clock, as the
# other benchmarks measure. The host's curl is timed by the host's clock in
# both.
#
# 1. N getppid(2) calls in a tight loop (tests/bench/kagg-load.c) with a
#    kprobe on __x64_sys_getppid, in each mode, R rounds interleaved:
#      base      nothing traced
#      kcomm     the daemon, counter by comm, aggregate: kernel, events: false
#      kpid      the same keyed by pid
#      kpidf     kpid with kcomm's $comm fetched but unused (a diagnostic:
#                the fetch's share of kcomm's cost against its key's)
#      stream    the daemon streaming the kcomm metric (aggregate: user, the
#                same probe with its $comm fetch; the binary reader)
#      streamp   the daemon streaming the kpid metric (no fetch)
#      bpftrace  kprobe:__x64_sys_getppid { @[comm] = count(); }
#    The loop's own time (getrusage around the loop) is where the kernel's
#    cost of tracing shows: its system time, as asked, and its user+sys,
#    which is exact (the scheduler's run time; the kernel splits it into
#    user and sys by sampling at its tick, and the loop's user code is the
#    same in every mode). The loop runs at nice 19 (one vCPU: a streaming
#    daemon must run when woken, or its buffer overruns). The tracer's CPU
#    (/proc/PID/stat ticks and schedstat ns, all threads) over the loop, for
#    a streaming daemon until it has read every event.
# 2. K distinct keys (a uprobe on kagg_key(i), v=%di:u32) in one counter,
#    kernel-aggregated and streamed: /metrics timed S times from the host's
#    curl (through qemu's port forward) and inside the guest, the hist
#    file's size and read time (and how many times the kernel prints it for
#    one read), the body's size, the daemon's CPU per scrape.
# Every count is checked in the guest against the calls made (the metric,
# the hist file's totals, bpftrace's map): a run that counts wrong fails.
#
# Defaults: N = 1,000,000, R = 2, K = 10,000, S = 7, icount: about 3
# minutes on the project's 2-core machines (software emulation, no KVM).
# Environment: KPE_BIN (default build/kprobe-exporter), KPE_VM_CACHE
# (build/vm-cache: the kernel is downloaded there once), KPE_VM_KERNEL
# (debian13-amd64; any x86-64 flavor of tests/vm/mkimage.sh with hist
# triggers), KPE_VM_MEM (MiB, default 2048: the initramfs holds bpftrace
# and LLVM, some 200 MB, unpacked in RAM).
#
# bpftrace: the host's /usr/bin/bpftrace and the libraries ldd names are
# copied into the image (/kpe/bt) and run there with LD_LIBRARY_PATH: the
# guest's userland is the host's anyway (the daemon and its libraries come
# from the host the same way), so the binary and its libc match. Without a
# bpftrace on the host, the bpftrace mode is left out (with the reason).
#
# Output: the tables (markdown) on stdout and in DIR/report.md, the guest's
# serial console in DIR/serial.log (DIR: build/kagg-bench).
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

ARGS="$*"
CALLS=1000000
ROUNDS=2
CLOCK=icount
KEYS=10000
SCRAPES=7
MODES="base kcomm kpid kpidf stream streamp bpftrace"
OUT=$repo/build/kagg-bench
while [ $# -gt 0 ]; do
        case $1 in
        --calls) CALLS=$2 && shift 2 ;;
        --rounds) ROUNDS=$2 && shift 2 ;;
        --keys) KEYS=$2 && shift 2 ;;
        --scrapes) SCRAPES=$2 && shift 2 ;;
        --modes) MODES=$2 && shift 2 ;;
        --out) OUT=$2 && shift 2 ;;
        --clock) CLOCK=$2 && shift 2 ;;
        -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d' && exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2 && exit 1 ;;
        esac
done
case $CLOCK in icount | real) ;; *) echo "--clock: icount or real, not '$CLOCK'" >&2 && exit 1 ;; esac
for v in "$CALLS" "$ROUNDS" "$KEYS" "$SCRAPES"; do
        case $v in '' | *[!0-9]*) echo "not a number: '$v'" >&2 && exit 1 ;; esac
done

export KPE_BIN=${KPE_BIN:-$repo/build/kprobe-exporter}
export KPE_VM_CACHE=${KPE_VM_CACHE:-$repo/build/vm-cache}
export KPE_SOURCE_ROOT=$repo
export KPE_VM_KERNEL=${KPE_VM_KERNEL:-debian13-amd64}
export KPE_VM_MEM=${KPE_VM_MEM:-2048}

# shellcheck source=../vm/vmlib.sh
. "$repo/tests/vm/vmlib.sh"
vm_init
# The kprobe target and the uprobe's %di are x86-64's.
[ "$VM_ARCH" = x86_64 ] || fail "KPE_VM_KERNEL=$KPE_VM_KERNEL: this benchmark is for x86-64 guests"
# Everything of the run is in the one boot; boot.sh kills qemu after this.
VM_TIMEOUT=1800

# --clock icount: boot.sh takes no qemu options of ours, so a wrapper of
# the same name, first in PATH, adds -icount (exec: the PID boot.sh holds
# stays qemu's).
if [ "$CLOCK" = icount ]; then
        mkdir "$KPE_WORK/qemu-icount"
        printf '#!/bin/sh\nexec %q -icount shift=0 "$@"\n' "$(command -v qemu-system-x86_64)" \
                >"$KPE_WORK/qemu-icount/qemu-system-x86_64"
        chmod +x "$KPE_WORK/qemu-icount/qemu-system-x86_64"
        PATH=$KPE_WORK/qemu-icount:$PATH
fi
START=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
SECONDS=0

# The workload, static: the guest's loader and libc are the daemon's, but a
# static binary needs none of them.
FILES=$KPE_WORK/files
cc -O2 -std=gnu11 -Wall -Wextra -static -o "$FILES/kagg-load" "$here/kagg-load.c" ||
        fail "cc -static kagg-load.c failed (libc6-dev has the static libc)"
# Its file offset is the same wherever the file is: computed here.
OFFSET=$("$FILES/kagg-load" offset) || fail "kagg-load offset failed"

# bpftrace and what its loader needs, from the host (see above).
HAVE_BT=0
case " $MODES " in *" bpftrace "*)
        if BT_EXE=$(command -v bpftrace); then
                mkdir -p "$FILES/bt/lib"
                cp -L "$BT_EXE" "$FILES/bt/bpftrace"
                for lib in $(ldd "$BT_EXE" | grep -o '/[^ ]*'); do
                        cp -L "$lib" "$FILES/bt/lib/" || fail "copying $lib for bpftrace"
                done
                # shellcheck disable=SC2034 # passed to the guest (guest_script)
                HAVE_BT=1
                log "bpftrace: $("$BT_EXE" --version 2>&1 | head -n 1) with $(du -sh "$FILES/bt" | cut -f1) of libraries"
        else
                log "no bpftrace on this host (Debian package bpftrace): mode bpftrace left out"
        fi
        ;;
esac

# The configs, one per daemon mode. kcomm and stream are one metric on one
# probe, told apart by aggregate (and events) only, and so are kpid and
# streamp. The $comm fetch is written out, but the daemon adds it to any
# probe with a comm label anyway (kernel aggregation keys the fetched
# string: the hist file has no key for the record's comm).
cat >"$FILES/kcomm.yaml" <<'EOF'
probes:
  - name: gp
    type: kprobe
    target: __x64_sys_getppid
    events: false
    fetch: [comm=$comm:string]
    metrics:
      - {name: getppid_total, labels: [comm], aggregate: kernel}
EOF
cat >"$FILES/kpid.yaml" <<'EOF'
probes:
  - name: gp
    type: kprobe
    target: __x64_sys_getppid
    events: false
    metrics:
      - {name: getppid_total, labels: [pid], aggregate: kernel}
EOF
# kpid with kcomm's $comm fetched (and not used): how much of kcomm's cost
# over kpid is the fetch, and how much its string key.
cat >"$FILES/kpidf.yaml" <<'EOF'
probes:
  - name: gp
    type: kprobe
    target: __x64_sys_getppid
    events: false
    fetch: [comm=$comm:string]
    metrics:
      - {name: getppid_total, labels: [pid], aggregate: kernel}
EOF
cat >"$FILES/stream.yaml" <<'EOF'
probes:
  - name: gp
    type: kprobe
    target: __x64_sys_getppid
    fetch: [comm=$comm:string]
    metrics:
      - {name: getppid_total, labels: [comm], aggregate: user}
EOF
cat >"$FILES/streamp.yaml" <<'EOF'
probes:
  - name: gp
    type: kprobe
    target: __x64_sys_getppid
    metrics:
      - {name: getppid_total, labels: [pid], aggregate: user}
EOF
# The uprobe's K keys: the kernel's map must hold them all
# (kernel_max_entries, default 2048; ignored by the streamed twin, set alike).
for kind in k u; do
        {
                echo "kernel_max_entries: 16384"
                echo "probes:"
                echo "  - name: arg"
                echo "    type: uprobe"
                echo "    target: /kpe/kagg-load:$OFFSET"
                [ $kind = u ] || echo "    events: false"
                echo "    fetch: [v=%di:u32]"
                echo "    metrics:"
                echo "      - {name: key_total, labels: [v], aggregate: $([ $kind = k ] && echo kernel || echo user)}"
        } >"$FILES/keys_$kind.yaml"
done

# shellcheck disable=SC2034 # passed to the guest (guest_script)
N=$CALLS
DAEMON_PORT_HOST=$KPE_PORT
guest_script N ROUNDS MODES KEYS SCRAPES HAVE_BT <"$here/kagg-guest.sh"
log "building the image (kernel $KPE_VM_KERNEL), then booting it with $KPE_VM_MEM MiB"
vm_boot

# Prints the guest's new result lines as they come (a long run shows where
# it is).
SHOWN=0
progress() {
        local lines
        lines=$(serial | grep -E '^KPE: (result|scrape|booted) ' || true)
        [ -n "$lines" ] || return 0
        tail -n +$((SHOWN + 1)) <<<"$lines" | sed "s/^KPE: /# [${SECONDS} s] guest: /"
        SHOWN=$(wc -l <<<"$lines")
}

# Waits (at most $2 s) until the guest waits at step $1 (guest_at of
# vmlib.sh waits 60 s; the loops before the first step take minutes).
bench_at() {
        local i
        for ((i = 0; i < $2 * 2; i++)); do
                progress
                serial | grep -xF "KPE: waiting $1" >/dev/null && return 0
                guest_alive "step '$1'"
                sleep 0.5
        done
        fail "the guest did not reach step '$1' within $2 s"
}

# S scrapes of /metrics from the host through the forward, 300 ms apart
# (past the daemon's 200 ms render cache): "SECONDS BYTES CODE" per line.
host_scrapes() {
        local i
        for ((i = 0; i < SCRAPES; i++)); do
                curl -s -o /dev/null --max-time 60 -w '%{time_total} %{size_download} %{http_code}\n' \
                        "http://127.0.0.1:$DAEMON_PORT_HOST/metrics"
                sleep 0.3
        done >"$KPE_WORK/curl.$1"
        awk '$3 != 200 { bad = 1 } END { exit bad }' "$KPE_WORK/curl.$1" ||
                fail "a host scrape ($1) did not answer 200: $(cat "$KPE_WORK/curl.$1")"
}

for kind in k u; do
        bench_at "scrape_$kind" 1500
        host_scrapes "$kind"
        guest_go "scrape_$kind"
done
vm_wait_off
progress
serial | grep -x 'KPE: bench-done' >/dev/null || fail "the guest did not finish"

mkdir -p "$OUT"
serial >"$OUT/serial.log"
for kind in k u; do
        cp "$KPE_WORK/curl.$kind" "$OUT/curl.$kind"
done
python3 "$here/kagg-report.py" --serial "$OUT/serial.log" --curl-k "$OUT/curl.k" --curl-u "$OUT/curl.u" \
        --started "$START" --host "$(nproc) cores, Linux $(uname -r), load average $LOAD_AT_START at the start" \
        --seconds "$SECONDS" --clock "$CLOCK" --command "bash tests/bench/kagg.sh${ARGS:+ $ARGS}" >"$OUT/report.md" ||
        fail "kagg-report.py failed"
cat "$OUT/report.md"
log "report: $OUT/report.md; the guest's console: $OUT/serial.log"
