# The guest half of tests/bench/kagg.sh (busybox sh, sourced by the VM's
# /init after tests/vm/guest-lib.sh; kagg.sh puts N, ROUNDS, MODES, KEYS,
# SCRAPES and HAVE_BT in front of it). Everything is measured here, in the
# one guest; the host only scrapes through the forwarded port (the steps
# scrape_k and scrape_u) and turns the lines below into tables:
#   KPE: result MODE ROUND CALLS UTIME_US STIME_US WALL_US CPU0 CPU1 COUNT
#   (CPU0, CPU1: the tracer's "UTIME STIME NS" before and after the loop,
#   see proc_cpu; zeros without a tracer)
#   KPE: scrape KIND what=value ...
# Every count is checked here against the number of calls (die otherwise),
# so a figure printed is one of a setup that counted right.
# Our names only: probe groups and instances kpe_bench_k (kernel
# aggregation), kpe_bench_u (streaming), kpe_bench_d (show_runs_per_read).

# shellcheck shell=dash

LOAD=/kpe/kagg-load
BT_LIBS=/kpe/bt/lib
DPID=""
RUN=0

# bpftrace checks its kprobe target in available_filter_functions and
# lists what it registered under debugfs' kprobes/list: mount debugfs.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
grep -q "hist trigger" "$TRACEFS/README" || die "this kernel has no hist triggers"
say "cpus $(grep -c ^processor /proc/cpuinfo)"
say "mem-kib $(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"

# What each config writes to tracefs, as the daemon plans it on this kernel
# (the trigger lines are the point): shown, and a plan that is not kernel
# aggregation where it should be fails the run.
for c in kcomm kpid kpidf stream streamp keys_k keys_u; do
        kprobe-exporter --config.file="/kpe/$c.yaml" --config.check --tracefs.instance=kpe_bench_k \
                >"/tmp/check.$c" 2>&1 || { show "check.$c" "/tmp/check.$c"; die "--config.check of $c.yaml failed"; }
        show "check.$c" "/tmp/check.$c"
done
for c in kcomm kpid kpidf keys_k; do
        grep -q "^hist:" "/tmp/check.$c" || die "$c.yaml: no hist trigger in the plan"
        grep -q "/enable\$" "/tmp/check.$c" && die "$c.yaml: events: false, yet an event is enabled"
done

# CPU time of process $1 and all its threads: "UTIME STIME NS", utime and
# stime from /proc/PID/stat (clock ticks, 1/100 s; the kernel splits them by
# sampling at its tick) and the scheduler's run time of each thread
# (/proc/PID/task/*/schedstat, ns: exact, far finer than the ticks).
proc_cpu() {
        local t ns
        t=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }')
        ns=$(cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }')
        echo "$t $ns"
}

# The value of the sample "$2" (name{labels} as printed) in file $1, or
# "absent".
sample() {
        awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? "absent" : v) }' "$1"
}

# Starts the daemon with /kpe/$1.yaml in instance (and group) $2, its HTTP
# on the forwarded port, and waits until it says its probes are registered
# (the kernel's triggers are in by then).
bench_daemon_start() {
        local i=0
        RUN=$((RUN + 1))
        DLOG=/tmp/daemon.$RUN.err
        kprobe-exporter --config.file="/kpe/$1.yaml" --tracefs.instance="$2" \
                --web.listen-address=":$DAEMON_PORT" 2>"$DLOG" &
        DPID=$!
        while ! grep -q 'probes registered in' "$DLOG"; do
                [ $i -lt 300 ] || { show "daemon.$RUN.err" "$DLOG"; die "daemon ($1) did not start within 30 s"; }
                [ -n "$(proc_state "$DPID")" ] || { show "daemon.$RUN.err" "$DLOG"; die "daemon ($1) exited"; }
                sleep 0.1
                i=$((i + 1))
        done
        grep -q ' 1 of 1 probes registered\| 2 of 2 probes registered' "$DLOG" ||
                { show "daemon.$RUN.err" "$DLOG"; die "daemon ($1): a probe did not register"; }
}

# SIGTERM to the daemon; it must leave nothing of group $1 behind.
bench_daemon_stop() {
        kill -TERM "$DPID"
        wait "$DPID"
        local rc=$?
        [ $rc = 0 ] || { show "daemon.$RUN.err" "$DLOG"; die "daemon exited with $rc"; }
        DPID=""
        ! grep -q "$1" "$TRACEFS/kprobe_events" "$TRACEFS/uprobe_events" ||
                die "probes of $1 left after SIGTERM"
        [ ! -d "$TRACEFS/instances/$1" ] || die "instance $1 left after SIGTERM"
}

# Fetches /metrics into $1 (inside the guest: no network in between).
scrape_to() {
        wget -q -O "$1" "http://127.0.0.1:$DAEMON_PORT/metrics" || die "wget /metrics failed"
}

# Waits (at most $2 s) until the instance $1's ring buffer holds no unread
# event: the streaming daemon has read all of them.
wait_drained() {
        local i=0
        while [ "$(cat "$TRACEFS/instances/$1"/per_cpu/cpu*/stats | awk '/^entries:/ { s += $2 } END { print s + 0 }')" != 0 ]; do
                [ $i -lt $(($2 * 10)) ] || die "instance $1 not drained within $2 s"
                sleep 0.1
                i=$((i + 1))
        done
}

# Waits (at most 30 s, scraping every 0.5 s) until sample $1 is $2; prints
# the last value.
wait_sample() {
        local i=0 v
        while :; do
                scrape_to /tmp/m
                v=$(sample /tmp/m "$1")
                [ "$v" = "$2" ] || [ $i -ge 60 ] && break
                sleep 0.5
                i=$((i + 1))
        done
        echo "$v"
}

# bpftrace counting in a map, as its users write it. It is run from the
# host's files with their libraries (LD_LIBRARY_PATH): the image has no
# Debian userland.
BT_PROG='kprobe:__x64_sys_getppid { @[comm] = count(); }'
bt_start() {
        local i=0
        ! grep -q 'sys_getppid' /sys/kernel/debug/kprobes/list 2>/dev/null || die "a kprobe on getppid before bpftrace"
        LD_LIBRARY_PATH=$BT_LIBS /kpe/bt/bpftrace -e "$BT_PROG" >/tmp/bt.out 2>/tmp/bt.err &
        BTPID=$!
        # Attached when the kernel lists its kprobe (LLVM's compile under
        # emulation takes a while first). The list names the probed address
        # by its first symbol: __x64_sys_getppid is an alias of
        # __do_sys_getppid on 6.12 (a SYSCALL_DEFINE0), listed as
        # "__do_sys_getppid+0x4 [FTRACE]". (bpftrace 0.17 warns that
        # __x64_sys_getppid "is not traceable" for the same reason:
        # available_filter_functions has only the other name; it attaches
        # all the same.)
        while ! grep -q 'sys_getppid' /sys/kernel/debug/kprobes/list 2>/dev/null; do
                [ $i -lt 1800 ] || { show bt.err /tmp/bt.err; die "bpftrace did not attach within 180 s"; }
                [ -n "$(proc_state "$BTPID")" ] || { show bt.out /tmp/bt.out; show bt.err /tmp/bt.err; die "bpftrace exited"; }
                sleep 0.1
                i=$((i + 1))
        done
}

# SIGINT: bpftrace prints its map ("@[kagg-load]: N") and exits.
bt_stop() {
        kill -INT "$BTPID"
        wait "$BTPID"
        local rc=$?
        [ $rc = 0 ] || { show bt.err /tmp/bt.err; die "bpftrace exited with $rc"; }
        BTPID=""
        ! grep -q 'sys_getppid' /sys/kernel/debug/kprobes/list 2>/dev/null || die "bpftrace's kprobe left"
}

# One measurement: tracer of mode $1 up, N getppid calls, tracer's CPU over
# the loop (a streaming daemon's until it has read every event), the count
# checked, tracer down.
run_mode() {
        local mode=$1 round=$2 cpu0="0 0 0" cpu1="0 0 0" tpid="" inst="" pid got want
        case $mode in
        base) ;;
        kcomm | kpid | kpidf) inst=kpe_bench_k ;;
        stream | streamp) inst=kpe_bench_u ;;
        bpftrace) ;;
        *) die "unknown mode $mode" ;;
        esac
        if [ -n "$inst" ]; then
                bench_daemon_start "$mode" "$inst"
                tpid=$DPID
        elif [ "$mode" = bpftrace ]; then
                bt_start
                tpid=$BTPID
        fi
        [ -z "$tpid" ] || cpu0=$(proc_cpu "$tpid")
        # At nice 19, in every mode alike: the guest has one vCPU, and a
        # streaming daemon must be let run when its events wake it (at an
        # equal share with the loop it fell behind and its buffer overran:
        # 24,295 of 2,000,000 events lost in a trial). Its CPU time is the
        # loop's all the same; only who runs first changes.
        $LOAD getppid "$N" 19 >/tmp/load.out || die "kagg-load getppid failed"
        [ "$inst" != kpe_bench_u ] || wait_drained "$inst" 120
        if [ -n "$tpid" ]; then
                # A streaming daemon rests a few ms after a wakeup before its
                # last read: let it finish what it does with the last pages.
                [ "$inst" != kpe_bench_u ] || sleep 0.5
                cpu1=$(proc_cpu "$tpid")
        fi
        pid=$(awk '$1 == "pid" { print $2 }' /tmp/load.out)
        want=$(awk '$1 == "calls" { print $2 }' /tmp/load.out)
        [ "$want" = "$N" ] || die "$mode: kagg-load made '$want' calls"
        case $mode in
        base) got=$N ;;
        kcomm | stream) got=$(wait_sample "getppid_total{comm=\"kagg-load\"}" "$N") ;;
        kpid | kpidf | streamp) got=$(wait_sample "getppid_total{pid=\"$pid\"}" "$N") ;;
        bpftrace)
                bt_stop
                got=$(awk '$1 == "@[kagg-load]:" { print $2 }' /tmp/bt.out)
                ;;
        esac
        if [ "$got" != "$N" ]; then
                # Only what tells why: the count and the loss counters.
                [ ! -f /tmp/m ] || grep -E '^(getppid_total|kprobe_exporter_(lost|ring_buffer|events_total|records_total))' \
                        /tmp/m >/tmp/m.short && show "metrics.$mode.$round" /tmp/m.short
                [ "$mode" != bpftrace ] || show bt.out /tmp/bt.out
                die "$mode round $round: counted '$got' of $N calls"
        fi
        if [ "$inst" = kpe_bench_k ]; then
                # The kernel's own totals: every hit in the map, none dropped.
                tail -n 4 "$TRACEFS/instances/$inst/events/$inst/gp/hist" >/tmp/totals
                if ! { grep -q "Hits: $N\$" /tmp/totals && grep -q "Dropped: 0\$" /tmp/totals; }; then
                        show "hist.$mode" "$TRACEFS/instances/$inst/events/$inst/gp/hist"
                        die "$mode: the hist totals are not $N hits, 0 dropped"
                fi
                grep -q '^0\*' "$TRACEFS/instances/$inst/events/$inst/gp/enable" ||
                        die "$mode: the event is enabled for streaming ($(cat "$TRACEFS/instances/$inst/events/$inst/gp/enable"))"
        fi
        if [ "$inst" = kpe_bench_u ]; then
                scrape_to /tmp/m
                [ "$(sample /tmp/m kprobe_exporter_lost_events_total)" = 0 ] || die "$mode: events lost"
        fi
        [ -z "$inst" ] || bench_daemon_stop "$inst"
        say "result $mode $round $(awk '$1 == "calls" { print $2, $4, $6, $8 }' /tmp/load.out) $cpu0 $cpu1 $got"
        rm -f /tmp/m
}

round=1
while [ $round -le "$ROUNDS" ]; do
        for mode in $MODES; do
                [ "$mode" != bpftrace ] || [ "$HAVE_BT" = 1 ] || continue
                run_mode "$mode" "$round"
        done
        round=$((round + 1))
done

# Scrape: KEYS distinct keys of a uprobe argument in one counter, counted by
# the kernel (keys_k: events: false) and, for comparison, from the streamed
# events (keys_u). Timed here (kagg-load get: no network in between) and by
# the host's curl through qemu's forward (step scrape_X); the daemon's CPU
# per scrape from its schedstat.
scrape_bench() {
        local kind=$1 inst=$2 hist series sum c0 c1
        bench_daemon_start "keys_$kind" "$inst"
        $LOAD keys "$KEYS" >/dev/null || die "kagg-load keys failed"
        [ "$kind" != u ] || wait_drained "$inst" 120
        # Every key once: KEYS series, summing to KEYS.
        i=0
        while :; do
                scrape_to /tmp/m
                series=$(grep -c '^key_total{' /tmp/m)
                sum=$(awk '/^key_total\{/ { s += $2 } END { print s + 0 }' /tmp/m)
                [ "$series.$sum" = "$KEYS.$KEYS" ] || [ $i -ge 60 ] && break
                sleep 0.5
                i=$((i + 1))
        done
        [ "$series.$sum" = "$KEYS.$KEYS" ] || die "keys_$kind: $series series summing to $sum, not $KEYS each"
        if [ "$kind" = k ]; then
                hist="$TRACEFS/instances/$inst/events/$inst/arg/hist"
                tail -n 4 "$hist" >/tmp/totals
                if ! { grep -q "Hits: $KEYS\$" /tmp/totals && grep -q "Entries: $KEYS\$" /tmp/totals &&
                        grep -q "Dropped: 0\$" /tmp/totals; }; then
                        show totals /tmp/totals
                        die "keys_k: the hist totals are not $KEYS hits and entries, 0 dropped"
                fi
                head -n 8 "$hist" >/tmp/hist-head
                show "hist-head.$kind" /tmp/hist-head
                # The kernel's share of a scrape: reading the hist file.
                $LOAD read "$hist" "$SCRAPES" >/tmp/read.out || die "reading $hist failed"
                say "scrape $kind hist-bytes $(wc -c <"$hist")"
                say "scrape $kind hist-read-ms $(awk '{ print $2 }' /tmp/read.out | tr '\n' ' ')"
                say "scrape $kind hist-shows-per-read $(show_runs_per_read "$hist")"
        fi
        say "scrape $kind series $series"
        # Renders are cached 200 ms: 300 ms apart (and after the last
        # scrape above), each one is fresh.
        sleep 0.3
        c0=$(proc_cpu "$DPID")
        $LOAD get "$DAEMON_PORT" /metrics "$SCRAPES" 300 >/tmp/get.out || die "kagg-load get failed"
        c1=$(proc_cpu "$DPID")
        awk '$4 != 200 { bad = 1 } END { exit bad }' /tmp/get.out || die "a scrape did not answer 200"
        say "scrape $kind guest-ms $(awk '{ print $2 }' /tmp/get.out | tr '\n' ' ')"
        say "scrape $kind body-bytes $(awk '{ print $3 }' /tmp/get.out | sort -n | tail -n 1)"
        say "scrape $kind guest-daemon-cpu $c0 $c1"
        c0=$(proc_cpu "$DPID")
        host_wait "scrape_$kind"
        c1=$(proc_cpu "$DPID")
        say "scrape $kind host-daemon-cpu $c0 $c1"
        bench_daemon_stop "$inst"
}

# Why a hist file costs so much to read: the kernel prints it whole in one
# seq_file show() (single_open), which seq_read runs again from the start
# each time its buffer (first 4 KiB) proves too small, doubling it; each run
# sorts every entry. The kernel refuses kprobes in its tracing code (the sort,
# hist_show), so the runs are counted by their buffers: for one read of file
# $1, the kvmalloc calls of kagg-load, by a kprobe of ours in an instance of
# ours. Prints "RUNS LARGEST_BUFFER_BYTES", or "- -" when the probe cannot be
# had (another kernel's name for kvmalloc).
show_runs_per_read() {
        local d=$TRACEFS/instances/kpe_bench_d
        # shellcheck disable=SC2016 # $arg1 is the kernel's
        echo 'p:kpe_bench_d/kvm __kvmalloc_node_noprof size=$arg1:u64' >>"$TRACEFS/kprobe_events" 2>/dev/null ||
                { echo "- -" && return; }
        mkdir "$d"
        echo 1 >"$d/events/kpe_bench_d/kvm/enable"
        $LOAD read "$1" 1 >/dev/null
        echo 0 >"$d/events/kpe_bench_d/kvm/enable"
        grep ' kagg-load-' "$d/trace" | sed -n 's/.* size=\([0-9]*\).*/\1/p' |
                awk '$1 >= 4096 { n++; if ($1 > max) max = $1 } END { print n + 0, max + 0 }'
        rmdir "$d"
        echo '-:kpe_bench_d/kvm' >>"$TRACEFS/kprobe_events"
}

scrape_bench k kpe_bench_k
scrape_bench u kpe_bench_u
say "bench-done"
