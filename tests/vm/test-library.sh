#!/bin/bash
# The probe library, config/probes/{tcp,process,block,dns}.yaml, unchanged,
# on a real kernel (KPE_VM_KERNEL: Debian 12 and 13 on x86-64, Debian 12 on
# arm64): one daemon in the guest whose config is only
# "include: [/kpe/probes/*.yaml]", workloads whose counts are known, and
# exact assertions from the host on its /metrics and /probes. Every probe
# of the library must be registered on these kernels. Then two unchanged
# reloads (SIGHUP) keep every count, and SIGTERM leaves nothing of the
# daemon in kprobe_events or uprobe_events. What each file gave on this
# kernel goes to the log ("# tcp.yaml: ...").
#
# The workloads, in the guest (busybox; one process at a time):
#   tcp.yaml      nc: K connects to 127.0.0.1:25 and V to [::1]:25 (a
#                 listener on [::]:25 that runs /bin/true for each), R to
#                 127.0.0.1:26 (closed: refused); 2 to 127.0.0.1:27, whose
#                 listener is stopped (SIGSTOP) and takes no more than those
#                 2 in its accept queue, then a 3rd whose SYNs the kernel
#                 drops there (retransmitted until timeout kills nc), then
#                 the listener is killed (the 2 queued connections reset);
#                 one to 10.0.2.99:80, an address of qemu's network that
#                 nothing answers ARP for: EHOSTUNREACH after 3 s.
#   process.yaml  E runs of /tmp/true and F of /tmp/false (links to
#                 busybox); a sleep killed by SIGSEGV; a tail of /dev/zero
#                 in a memory cgroup of 16 MiB, killed by the OOM killer.
#   block.yaml    N reads of 4096 bytes with O_DIRECT (dd) from the virtio
#                 disk /dev/vda, a sparse file of the host (boot.sh's
#                 KPE_VM_DISK).
#   dns.yaml      gai (tests/vm/gai.c): G getaddrinfo() calls of a name of
#                 /etc/hosts and M of a name that is nowhere (hosts: files).
. "$(dirname "$0")/vmlib.sh"

K=4  # nc 127.0.0.1 25
R=3  # nc 127.0.0.1 26: refused
V=2  # nc ::1 25
Q=2  # nc 127.0.0.1 27 that the stopped listener's accept queue takes
E=5  # /tmp/true
F=3  # /tmp/false
N=32 # dd bs=4096 count=N iflag=direct
G=3  # gai kpe-lib-host G
M=2  # gai kpe-no-such-host M
W=8  # nc 127.0.0.1 28, one every 0.2 s while the daemon reloads twice
# In the order of the files (the glob's, by name) and of their probes.
PROBES="block_issue block_done getaddrinfo getaddrinfo_ret exec exit oom_kill tcp_state tcp_retransmit tcp_error"
# What a kernel lacks: Debian 11's 5.10 has no sock/inet_sk_error_report
# (5.14+), so tcp.yaml's tcp_error is unavailable there, with the reason,
# and the other probes run: the library degrades, it is not refused.
# O_DIRECT reads are REQ_SYNC since 5.18 or so: rwbs "RS"; on 5.10 "R".
UNAVAILABLE=""
RWBS=RS
case ${KPE_VM_KERNEL:-} in
debian11-amd64) UNAVAILABLE="tcp_error" RWBS=R ;;
esac

vm_init
FLAVOR=$KPE_VM_KERNEL
# gai for the guest's architecture: meson's (KPE_GAI), else the one of the
# build dir; for arm64 cross-built beside the daemon (cross-build.sh).
if [ "$VM_ARCH" = arm64 ]; then
        GAI=$(dirname "$VM_DAEMON")/tests/vm/gai
else
        GAI=${KPE_GAI:-$(dirname "$KPE_BIN")/tests/vm/gai}
fi
[ -x "$GAI" ] || fail "no gai helper at $GAI (meson compile builds tests/vm/gai; KPE_GAI names another)"
cp "$GAI" "$KPE_WORK/files/gai"
SRC=${KPE_SOURCE_ROOT:-$VM_DIR/../..}
mkdir "$KPE_WORK/files/probes"
for f in tcp process block dns; do
        cp "$SRC/config/probes/$f.yaml" "$KPE_WORK/files/probes/" || fail "no config/probes/$f.yaml in $SRC"
done
echo "include: [/kpe/probes/*.yaml]" >"$KPE_WORK/files/library.yaml"
# The disk: 16 MiB that take no room (zeros, read back from qemu's file).
truncate -s 16M "$KPE_WORK/disk.img" || fail "truncate $KPE_WORK/disk.img"
export KPE_VM_DISK=$KPE_WORK/disk.img KPE_VM_MODULES=virtio_blk

guest_script K R V Q E F N G M W <<'EOF'
# Name lookups through /etc/hosts only: a name missing there is EAI_NONAME
# at once (no DNS server to ask).
echo "10.0.2.15 kpe-lib-host" >>/etc/hosts
echo "hosts: files" >/etc/nsswitch.conf
# Binaries by path: busybox's shell runs an applet named without a path in
# its own way (re-executing /proc/self/exe); a path is one plain exec.
for f in true false sleep tail; do
        ln -s /bin/busybox "/tmp/$f"
done
ulimit -c 0
# The OOM killer's room: a memory cgroup of 16 MiB.
mount -t cgroup2 none /sys/fs/cgroup || die "mount cgroup2"
echo +memory >/sys/fs/cgroup/cgroup.subtree_control || die "no memory controller"
mkdir /sys/fs/cgroup/kpe_oom
echo 16M >/sys/fs/cgroup/kpe_oom/memory.max || die "memory.max"
[ -b /dev/vda ] || die "no /dev/vda (virtio_blk)"
say vda-dev "$(cat /sys/block/vda/dev)"
# Reads completed of vda (/sys/block/vda/stat's first field): before the
# daemon, before dd, after dd. Nothing but dd reads it while the daemon
# runs (the partition scan was at insmod): the host checks that.
vda_reads() {
        read -r reads _ </sys/block/vda/stat
        echo "$reads"
}
READS0=$(vda_reads)

nc -ll -p 25 -e /bin/true &
daemon_start /kpe/library.yaml
wait_registered /tmp/daemon.1.err 20 || die "the daemon did not say within 20 s that it registered its probes"
host_wait workload

# tcp.yaml
connect_n 127.0.0.1 25 "$K"
connect_n 127.0.0.1 26 "$R"
connect_n ::1 25 "$V"
nc -l -p 27 </dev/null >/dev/null 2>&1 &
P27=$!
# Until it listens (LISTEN is 0A in /proc/net/tcp6: busybox nc listens on
# [::]), at most 5 s.
i=0
until awk '$2 ~ /:001B$/ && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp6; do
        [ $i -lt 50 ] || die "nc -l -p 27 does not listen"
        sleep 0.1
        i=$((i + 1))
done
kill -STOP "$P27"
# Each of the Q gets through the handshake into the accept queue (nc
# writes nothing and shuts its side at once); timeout ends it after 1 s.
i=0
while [ $i -lt "$Q" ]; do
        timeout 1 nc 127.0.0.1 27 </dev/null >/dev/null 2>&1
        i=$((i + 1))
done
# The accept queue's length (a listener's rx_queue): Q.
say accept-queue-27 "$(awk '$2 ~ /:001B$/ && $4 == "0A" { split($5, q, ":"); print q[2] + 0 }' /proc/net/tcp6)"
# The queue is full: the SYN is dropped, retransmitted after the initial
# RTO (1 s), then timeout (2 s) kills nc before the next (at 3 s).
timeout 2 nc 127.0.0.1 27 </dev/null >/dev/null 2>&1
say dropped-27 $?
kill -KILL "$P27"
wait "$P27"
timeout 10 nc 10.0.2.99 80 </dev/null >/tmp/unreach.out 2>&1
say unreachable $?
show unreachable /tmp/unreach.out

# process.yaml
i=0
while [ $i -lt "$E" ]; do
        /tmp/true
        i=$((i + 1))
done
i=0
while [ $i -lt "$F" ]; do
        /tmp/false
        i=$((i + 1))
done
/tmp/sleep 100 &
SPID=$!
# SIGSEGV once it is sleep (before its exec it is a shell), at most 5 s.
i=0
until [ "$(cat "/proc/$SPID/comm" 2>/dev/null)" = sleep ]; do
        [ $i -lt 50 ] || die "/tmp/sleep did not start"
        sleep 0.1
        i=$((i + 1))
done
kill -SEGV "$SPID"
wait "$SPID"
say segv $?
# tail keeps the last 10 lines of /dev/zero, which has no newline: it grows
# until the cgroup's OOM killer ends it (SIGKILL), in well under a second;
# timeout bounds it.
timeout 30 sh -c 'echo $$ >/sys/fs/cgroup/kpe_oom/cgroup.procs && exec /tmp/tail /dev/zero'
say oom $?
show memory.events /sys/fs/cgroup/kpe_oom/memory.events

# block.yaml
READS1=$(vda_reads)
dd if=/dev/vda of=/dev/null bs=4096 count="$N" iflag=direct 2>/tmp/dd.err
say dd $?
say vda-reads "$READS0 $READS1 $(vda_reads)"

# dns.yaml
/kpe/gai kpe-lib-host "$G" >/tmp/gai.out 2>&1
say gai $?
/kpe/gai kpe-no-such-host "$M" >>/tmp/gai.out 2>&1
say gai-missing $?
show gai /tmp/gai.out
host_wait counted

# Two unchanged reloads while W connects flow to a listener of their own
# (port 28; cat ends each when the client's stdin ends): every probe kept,
# with its counts, and none of the flow's events lost.
nc -ll -p 28 -e /bin/cat &
LISTEN28=$!
sleep 0.5
(
        i=0
        while [ $i -lt "$W" ]; do
                timeout 5 nc 127.0.0.1 28 </dev/null >/dev/null 2>&1
                sleep 0.2
                i=$((i + 1))
        done
) &
FLOW=$!
n=0
while [ $n -lt 2 ]; do
        n=$((n + 1))
        reload_wait "$DPID" /tmp/daemon.1.err $n || die "reload $n: no 'Reloaded' within 10 s"
done
wait "$FLOW"
grep '^<6>Reloaded' /tmp/daemon.1.err >/tmp/reloaded
show reloaded /tmp/reloaded
host_wait reloaded
kill "$LISTEN28" # after the host's checks: its exit (SIGTERM) is not one of theirs

daemon_stop TERM
show_tracefs stopped
show uprobe_events.stopped "$TRACEFS/uprobe_events"
show_daemon_log
EOF

vm_boot
guest_at workload
wait_healthy
RELEASE=$(guest_fact booted | cut -d' ' -f1)
DEV=$(guest_fact vda-dev)
[[ $DEV =~ ^[0-9]+:[0-9]+$ ]] || fail "the guest's /sys/block/vda/dev: '$DEV'"
log "kernel $RELEASE ($FLAVOR); the daemon includes config/probes/{tcp,process,block,dns}.yaml"

# Every probe registered, and no other.
check_probes() {
        fetch_ok /probes "$KPE_WORK/probes.json"
        v=$(json_get "$KPE_WORK/probes.json" '" ".join(p["name"] + ":" + p["state"] for p in j["probes"])')
        local want="" p
        for p in $PROBES; do
                case " $UNAVAILABLE " in
                *" $p "*) want="$want $p:unavailable" ;;
                *) want="$want $p:registered" ;;
                esac
        done
        if [ "$v" != "${want# }" ]; then
                python3 - "$KPE_WORK/probes.json" <<'PYEOF' >&2
import json, sys
for p in json.load(open(sys.argv[1]))["probes"]:
    if p["state"] != "registered":
        print(f"probe {p['name']} ({p.get('config_file')}): {p['state']}: {p.get('error')}")
PYEOF
                fail "$1: /probes states are '$v', want '${want# }'"
        fi
}
check_probes "at start"
if [ -n "$UNAVAILABLE" ]; then
        v=$(json_get "$KPE_WORK/probes.json" '[p["error"] for p in j["probes"] if p["name"] == "tcp_error"][0]')
        [[ $v == "this kernel has no tracepoint sock/inet_sk_error_report"* ]] ||
                fail "the unavailable tcp_error's reason: $v"
        log "unavailable here: $UNAVAILABLE ($v); all others registered"
else
        log "all ${PROBES// /, } registered"
fi
guest_go workload

guest_at counted
for f in dd gai gai-missing; do
        [ "$(guest_fact $f)" = 0 ] || fail "the guest's $f exited with $(guest_fact $f)"
done
# What the workloads did, as the guest saw it.
[ "$(guest_fact accept-queue-27)" = "$Q" ] ||
        fail "the stopped listener's accept queue holds $(guest_fact accept-queue-27), want $Q"
[ "$(guest_fact dropped-27)" = 143 ] || fail "nc to the full accept queue ended with $(guest_fact dropped-27), want 143 (timeout's SIGTERM)"
if [ "$(guest_fact unreachable)" != 1 ] || ! guest_block unreachable | grep 'No route to host' >/dev/null; then
        fail "nc 10.0.2.99 80 ended with $(guest_fact unreachable): $(guest_block unreachable)"
fi
[ "$(guest_fact segv)" = 139 ] || fail "the sleep sent SIGSEGV ended with $(guest_fact segv), want 139"
[ "$(guest_fact oom)" = 137 ] || fail "the tail in the 16 MiB cgroup ended with $(guest_fact oom), want 137 (SIGKILL)"
guest_block memory.events | grep -x 'oom_kill 1' >/dev/null || fail "the cgroup's memory.events: $(guest_block memory.events)"
read -r READS0 READS1 READS2 <<<"$(guest_fact vda-reads)"
[ "$READS1" = "$READS0" ] || fail "vda was read while the daemon ran, before dd: $READS0 reads, then $READS1"
[ "$((READS2 - READS1))" = "$N" ] || fail "dd read vda $((READS2 - READS1)) times, want $N"
v=$(guest_block gai | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')
want="$G kpe-lib-host: 0 1 result(s);$M kpe-no-such-host: -2 Name or service not known;"
[ "$v" = "$want" ] || fail "gai printed '$v', want '$want'"

# Each series reaches its value (the daemon reads as the kernel writes), then
# the whole /metrics is checked once more after the reloads. The list is
# "MODE WANT NAME LABEL=VALUE..." lines: MODE "exact" for the one series of
# exactly those labels, "sum" for the sum over the series that have them.
CHECKS=$(
        # tcp.yaml. Connects, by destination, summed over comm: comm is a
        # tracepoint's, which the daemon reads from /proc/PID (once per pid
        # and second), and busybox's nc (exec'd by timeout, re-exec'd as
        # /proc/self/exe, then renamed) has had three names by its connect
        # ("timeout", "exe", "nc"): the label is one of them, or "<...>".
        # Nothing else in the guest connects to these destinations.
        echo "sum $K tcp_connects_total daddr=127.0.0.1 dport=25"
        echo "sum $V tcp_connects_total daddr=::1 dport=25"
        echo "sum $R tcp_connects_total daddr=127.0.0.1 dport=26"
        echo "sum $((Q + 1)) tcp_connects_total daddr=127.0.0.1 dport=27"
        echo "sum 1 tcp_connects_total daddr=10.0.2.99 dport=80"
        # SYN_SENT to CLOSE: refused (RST), dropped then given up (nc
        # killed), unreachable (ARP unanswered).
        echo "exact $R tcp_connect_failures_total daddr=127.0.0.1 dport=26"
        echo "exact 1 tcp_connect_failures_total daddr=127.0.0.1 dport=27"
        echo "exact 1 tcp_connect_failures_total daddr=10.0.2.99 dport=80"
        if [ -z "$UNAVAILABLE" ]; then
                echo "exact $R tcp_socket_errors_total error=ECONNREFUSED daddr=127.0.0.1"
                echo "exact 1 tcp_socket_errors_total error=EHOSTUNREACH daddr=10.0.2.99"
                # The listener on 27 killed with Q connections in its accept
                # queue: the kernel resets each (tcp_disconnect, ECONNRESET).
                echo "exact $Q tcp_socket_errors_total error=ECONNRESET daddr=127.0.0.1"
        else
                echo "exact absent tcp_socket_errors_total error=ECONNREFUSED daddr=127.0.0.1"
        fi
        # Accepts: the kernel's handshake (SYN_RECV to ESTABLISHED), whether
        # or not the listener calls accept().
        echo "exact $((K + V)) tcp_accepts_total sport=25"
        echo "exact $Q tcp_accepts_total sport=27"
        # Lifetimes, all closed by now: the listener's /bin/true closes its
        # end, nc closes the other; on 27 timeout killed each nc, and the
        # queued ends were reset.
        echo "exact $((K + V)) tcp_outbound_lifetime_seconds_count dport=25"
        echo "exact $((K + V)) tcp_inbound_lifetime_seconds_count sport=25"
        echo "exact $Q tcp_outbound_lifetime_seconds_count dport=27"
        echo "exact $Q tcp_inbound_lifetime_seconds_count sport=27"
        # process.yaml. The listener on 25 runs /bin/true once per
        # connection: those are execs and exits of "true" too. The exits'
        # comm is exact: a kprobe fetches it ($comm) in the record.
        echo "exact $E execs_total filename=/tmp/true"
        echo "exact $F execs_total filename=/tmp/false"
        echo "exact $((K + V)) execs_total filename=/bin/true"
        echo "exact $((E + K + V)) exits_total comm=true exit_code=0 signal= core=0"
        echo "exact $F exits_total comm=false exit_code=1 signal= core=0"
        echo "exact 1 exits_total comm=sleep exit_code=0 signal=SIGSEGV core=0"
        echo "exact 1 exits_total comm=tail exit_code=0 signal=SIGKILL core=0"
        # timeout's SIGTERM: the Q nc on 27 and the one dropped there; the
        # stopped listener's SIGKILL.
        echo "exact $((Q + 1)) exits_total comm=nc exit_code=0 signal=SIGTERM core=0"
        echo "exact 1 exits_total comm=nc exit_code=0 signal=SIGKILL core=0"
        # The victim's name is a field of mark_victim: exact.
        echo "exact 1 oom_kills_total comm=tail"
        # block.yaml. O_DIRECT reads are synchronous: the kernel's rwbs is
        # "RS" (REQ_SYNC), not "R", on 6.1 and later (RWBS above).
        echo "exact $N block_io_seconds_count dev=$DEV rwbs=$RWBS"
        echo "exact $((N * 4096)) block_io_bytes_total dev=$DEV rwbs=$RWBS"
        # dns.yaml: uprobes, comm fetched in the record.
        echo "exact $G dns_lookups_total comm=gai name=kpe-lib-host"
        echo "exact $M dns_lookups_total comm=gai name=kpe-no-such-host"
        echo "exact $G dns_lookup_seconds_count comm=gai name=kpe-lib-host ret=0"
        echo "exact $M dns_lookup_seconds_count comm=gai name=kpe-no-such-host ret=EAI_NONAME"
)
# Checks every line of CHECKS against /metrics; prints what differs. $1
# "wait": each series may take up to 10 s to reach its value (until one
# has not); else the file $2 as it is.
check_all() {
        local mode want name labels v file=${2:-$KPE_WORK/metrics.txt} waiting=$1
        while read -r mode want name labels; do
                if [ "$waiting" = wait ]; then
                        # shellcheck disable=SC2086 # the labels are words
                        v=$(wait_metric_query "$mode" "$want" "$name" $labels </dev/null)
                else
                        # shellcheck disable=SC2086
                        v=$(metric_query "$mode" "$file" "$name" $labels)
                fi
                if [ "$v" != "$want" ]; then
                        echo "$name{$labels} ($mode) is $v, want $want"
                        waiting=no
                fi
        done <<<"$CHECKS"
}
bad=$(check_all wait)
if [ -n "$bad" ]; then
        echo "$bad" >&2
        grep -E '^(tcp_|execs_|exits_|oom_|block_|dns_)' "$KPE_WORK/metrics.txt" | grep -v '_bucket{' >&2
        fail "$(wc -l <<<"$bad") series not as the workloads make them (above, then the library's series)"
fi
fetch_ok /metrics "$KPE_WORK/metrics.txt"
cp "$KPE_WORK/metrics.txt" "$KPE_WORK/counted.txt"

# Exactly these series of the workloads, no other: of vda, of gai, of the
# exits of true/false/sleep/tail that the workloads made.
only_series() {
        local what=$1 want=$2
        [ "$(grep -cE "$what" "$KPE_WORK/metrics.txt")" = "$want" ] ||
                fail "series matching '$what': want $want, /metrics has: $(grep -E "$what" "$KPE_WORK/metrics.txt")"
}
only_series "^block_io_(seconds_count|bytes_total)\{[^}]*dev=\"$DEV\"" 2
only_series '^dns_lookups_total\{comm="gai"' 2
only_series '^dns_lookup_seconds_count\{comm="gai"' 2
only_series '^exits_total\{comm="(true|false)"' 2
only_series '^exits_total\{[^}]*signal="SIG(SEGV|KILL)"' 3
only_series '^oom_kills_total\{' 1
only_series '^tcp_connect_failures_total\{' 3
# The histograms' buckets: every observation of the lifetimes and I/O
# under +Inf, none unmatched but those the kernel makes so (below).
for h in "tcp_outbound_lifetime_seconds dport=25 $((K + V))" "tcp_inbound_lifetime_seconds sport=25 $((K + V))" \
        "block_io_seconds dev=$DEV rwbs=$RWBS $N" "dns_lookup_seconds comm=gai name=kpe-lib-host ret=0 $G"; do
        # shellcheck disable=SC2086 # the words of $h
        set -- $h
        name=$1 count=${*: -1}
        labels=("${@:2:$#-2}")
        v=$(metric_value "$KPE_WORK/metrics.txt" "${name}_bucket" "${labels[@]}" le=+Inf)
        [ "$v" = "$count" ] || fail "${name}_bucket{${labels[*]},le=\"+Inf\"} is $v, want $count"
        v=$(metric_value "$KPE_WORK/metrics.txt" "${name}_sum" "${labels[@]}")
        awk -v s="$v" 'BEGIN { exit !(s + 0 > 0) }' || fail "${name}_sum{${labels[*]}} is $v, want > 0"
done
# Each I/O completion paired with its issue (by device and sector), each
# getaddrinfo() return with its call (by thread).
for m in block_io_seconds dns_lookup_seconds; do
        v=$(metric_sum "$KPE_WORK/metrics.txt" kprobe_exporter_unmatched_total metric=$m)
        [ "$v" = 0 ] || [ "$v" = absent ] || fail "kprobe_exporter_unmatched_total{metric=\"$m\"} sums to $v, want 0"
done
# Retransmits: the SYN dropped at the full accept queue is retransmitted
# after the initial RTO of 1 s, and nc is killed at 2 s, before the second
# (3 s): 1, or 2 if the guest's timers ran late by a second. The SYN to
# 10.0.2.99 waits in the ARP queue (no retransmit while it is there) until
# the neighbour fails at 3 s, when the RTO timer fires too: 0 or 1,
# whichever comes first; not asserted.
RETRANS=$(metric_value "$KPE_WORK/metrics.txt" tcp_retransmits_total daddr=127.0.0.1)
[ "$RETRANS" = 1 ] || [ "$RETRANS" = 2 ] || fail "tcp_retransmits_total{daddr=\"127.0.0.1\"} is $RETRANS, want 1 (or 2)"
# The daemon read everything.
for m in kprobe_exporter_parse_errors_total kprobe_exporter_unknown_records_total kprobe_exporter_lost_events_total; do
        v=$(metric_sum "$KPE_WORK/metrics.txt" $m)
        [ "$v" = 0 ] || [ "$v" = absent ] || fail "$m sums to $v, want 0"
done

# What each file gave on this kernel.
series() {
        grep -E "$1" "$KPE_WORK/metrics.txt" | tr '\n' ' ' | sed 's/ $//'
}
log "tcp.yaml ($RELEASE): $(series '^tcp_(connects|connect_failures)_total\{[^}]*daddr="(127\.0\.0\.1|::1|10\.0\.2\.99)"')"
log "tcp.yaml ($RELEASE): $(series '^tcp_socket_errors_total\{')"
log "tcp.yaml ($RELEASE): $(series '^tcp_(accepts_total\{sport|(outbound|inbound)_lifetime_seconds_count\{[sd]port)="2[57]"')"
log "tcp.yaml ($RELEASE): $(series '^tcp_retransmits_total\{') (10.0.2.99's: timing, not asserted)"
log "process.yaml ($RELEASE): $(series '^execs_total\{filename="/(tmp|bin)/(true|false)"')"
log "process.yaml ($RELEASE): $(series '^exits_total\{comm="(true|false|sleep|tail|nc)"' | grep -oE 'exits_total\{comm="(true|false)"[^ ]* [0-9]+|exits_total\{[^ ]*signal="SIG[^ ]* [0-9]+' | tr '\n' ' ')"
log "process.yaml ($RELEASE): $(series '^oom_kills_total')"
log "block.yaml ($RELEASE): $(series "^block_io_(seconds_count|bytes_total)\\{[^}]*dev=\"$DEV\"")"
log "dns.yaml ($RELEASE): $(series '^dns_(lookups_total|lookup_seconds_count)\{comm="gai"')"
# Socket error reports with no error: the kernel reports one to each
# socket whose connect() failed, when connect() disconnects it
# (tcp_disconnect), and one more before an ICMP error; tcp.yaml's filter
# (error != 0) leaves them out.
v=$(series '^tcp_socket_errors_total\{error="0"')
[ -z "$v" ] || fail "tcp.yaml counts socket reports without an error: $v"
guest_go counted

guest_at reloaded
set -- $UNAVAILABLE
v=$(guest_block reloaded | grep -c "Reloaded: $((10 - $#)) probe(s) kept with their counters")
[ "$v" = 2 ] || fail "the reloads: $(guest_block reloaded)"
check_probes "after 2 reloads"
fetch_ok /metrics "$KPE_WORK/metrics.txt"
bad=$(check_all no)
[ -z "$bad" ] || fail "after 2 reloads (the counts must be kept): $bad"
v=$(metric_value "$KPE_WORK/metrics.txt" tcp_retransmits_total daddr=127.0.0.1)
[ "$v" = "$RETRANS" ] || fail "after 2 reloads, tcp_retransmits_total{daddr=\"127.0.0.1\"} is $v, was $RETRANS"
# The connects made while it reloaded: each counted once, paired once.
for q in "sum $W tcp_connects_total daddr=127.0.0.1 dport=28" "exact $W tcp_accepts_total sport=28" \
        "exact $W tcp_outbound_lifetime_seconds_count dport=28" "exact $W tcp_inbound_lifetime_seconds_count sport=28" \
        "exact $W execs_total filename=/bin/cat"; do
        # shellcheck disable=SC2086 # the words of q
        set -- $q
        v=$(wait_metric_query "$@")
        [ "$v" = "$2" ] || fail "the connects made during the reloads: ${*:3} is $v, want $2"
done
set -- $UNAVAILABLE
log "2 unchanged reloads while $W connects flowed: $((10 - $#)) probes kept, every count kept, the flow's $W connects, accepts and lifetimes counted once"
guest_go reloaded

log "SIGTERM: nothing of the daemon left in kprobe_events, uprobe_events, instances"
vm_wait_off
[ "$(guest_fact daemon.1.exit)" = 0 ] || fail "the daemon exited with $(guest_fact daemon.1.exit) on SIGTERM: $(guest_block daemon.1.err)"
assert_tracefs_clean stopped
v=$(guest_block uprobe_events.stopped | grep -E '^[pr][0-9]*:kprobe_exporter/')
[ -z "$v" ] || fail "probes of ours left in uprobe_events: $v"
v=$(guest_block kprobe_events.stopped)
[ -z "$v" ] || fail "kprobe_events is not empty after the daemon stopped: $v"
log "pass ($FLAVOR: $RELEASE)"
