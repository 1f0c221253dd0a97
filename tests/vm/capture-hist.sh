#!/bin/bash
# Developer script (not a test): what a real kernel prints for hist triggers,
# synthetic events and their teardown, captured in a VM for the unit tests'
# data. Boots the guest kernel KPE_VM_KERNEL (debian12-amd64 by default;
# debian13-amd64, debian12-arm64, debian11-amd64) the way the VM tests do
# (vmlib.sh), runs the experiments below in the guest with plain shell
# (echo, cat, busybox nc) and writes what the kernel printed to
#   tests/unit/data/hist/<flavor>/
# one file per hist file read (named after the experiment: counter.hist,
# ...), the trigger files as the kernel prints them back, error logs of
# refused writes, and facts.txt: one observation a line, "KEY VALUE...".
#
# Usage (from the repository, after meson setup build):
#   KPE_VM_KERNEL=debian12-arm64 bash tests/vm/capture-hist.sh
# KPE_VM_CACHE (default build/vm-cache) holds the kernels; KPE_HIST_OUT
# (default tests/unit/data/hist) where the flavor's folder goes. The folder
# is replaced only when the guest ran to its end.
#
# No daemon runs here: the image carries a stand-in where mkimage.sh puts
# the daemon (so there is no arm64 cross build either).
#
# Rules the guest keeps (tracefs is shared in real life, so the capture
# does what the daemon will): probe and synthetic definitions are appended
# (>>), never truncated; only group kpe_cap, synthetic events kpe_cap_*,
# instances kpe_cap and kpe_cap2; everything is removed at the end, in an
# order the kernel accepts, and what remains is recorded.
. "$(dirname "$0")/vmlib.sh"

REPO=$(cd "$VM_DIR/../.." && pwd)
# vm_init wants an executable KPE_BIN (and the cache beside it): the
# project's build, else any executable: nothing of it runs.
KPE_BIN=${KPE_BIN:-$REPO/build/kprobe-exporter}
[ -x "$KPE_BIN" ] || KPE_BIN=/bin/true
export KPE_BIN
export KPE_VM_CACHE=${KPE_VM_CACHE:-$REPO/build/vm-cache}
OUT_ROOT=${KPE_HIST_OUT:-$REPO/tests/unit/data/hist}

# No daemon, so no arm64 build of it (vm_init would cross-build one).
vm_cross_daemon() { :; }

vm_init
FLAVOR=$KPE_VM_KERNEL
# The 300 connects of the "dropped" experiment and two rounds of setup take
# minutes under software emulation (arm64 the longest): more than a test's
# boot is given.
VM_TIMEOUT=$((VM_TIMEOUT * 5))

# The stand-in for the daemon in the image: a binary of the guest's
# architecture that mkimage.sh can copy with its libraries (ldd wants a
# dynamic one on x86-64; readelf is fine with the static busybox on arm64,
# which mkimage.sh --kernel fetches into the cache if it is not there).
if [ "$VM_ARCH" = x86_64 ]; then
        VM_DAEMON=/bin/true
else
        bash "$VM_DIR/mkimage.sh" --kernel "$KPE_VM_CACHE" "$KPE_WORK/parts" >>"$KPE_WORK/mkimage.log" 2>&1 ||
                fail "mkimage.sh --kernel: $(tail -n 5 "$KPE_WORK/mkimage.log")"
        # shellcheck disable=SC2034 # vm_boot's
        VM_DAEMON=$KPE_WORK/parts/busybox
fi

# How many connects of each kind (used in the guest: guest_script passes
# them): K to 127.0.0.1:25 (listens), R to 127.0.0.1:26 (refused), V to
# [::1]:25 (IPv6: the event filter family == 2 keeps them out of the
# buffer); DROP_N closed ports from DROP_FIRST on for experiment 9.
# shellcheck disable=SC2034
K=5 R=3 V=2 DROP_FIRST=1000 DROP_N=300

guest_script K R V DROP_FIRST DROP_N VM_ARCH <<'EOF'
T=$TRACEFS
FACTS=/tmp/facts
: >"$FACTS"
mkdir -p /tmp/out /tmp/trig
# Kernel messages from here on are saved at the end (a WARN of the hist
# code would be news).
DMESG0=$(dmesg | wc -l)

fact() { echo "$*" >>"$FACTS"; }
# A file for the host: tests/unit/data/hist/<flavor>/$1.
save() { show "out/$1" "$2"; }
# The instance's clock, the bracketed one of trace_clock.
clock_of() { sed 's/.*\[\([^]]*\)\].*/\1/' "$1/trace_clock" 2>/dev/null; }

# put KEY FILE LINE: appends LINE to FILE (never truncates) in a subshell
# (should the kernel oops on it, only that process dies). Facts:
# "KEY-write ok" or "KEY-write fail <shell's message>"; on failure the
# kernel's words, the error_log of the top level (probe parsing logs there)
# and of the instance (hist parsing logs there), go to KEY.error_log when
# they say anything, and their first "error:" line to "KEY-error" (else
# "(error_log empty)": EBUSY and unknown commands log nothing). Both logs
# are emptied first (an O_TRUNC open clears an error_log) so that what they
# hold is this write's.
put() {
        # (not with ":": a failed redirection of a special builtin ends the
        # shell; the instance's may not be there yet)
        true >"$T/error_log"
        [ ! -d "$INST" ] || true >"$INST/error_log"
        if (echo "$3" >>"$2") 2>/tmp/put.err; then
                fact "$1-write ok"
                return 0
        fi
        fact "$1-write fail $(tr '\n' ' ' </tmp/put.err | sed 's/ *$//')"
        e=$(cat "$T/error_log" "$INST/error_log" 2>/dev/null | grep -m1 'error:' | sed 's/^\[[^]]*\] *//')
        fact "$1-error ${e:-(error_log empty)}"
        [ -n "$(cat "$T/error_log" "$INST/error_log" 2>/dev/null)" ] || return 1
        {
                echo "## write: $3"
                echo "## into: ${2#"$T"/}"
                echo "## shell: $(cat /tmp/put.err)"
                echo "## error_log"
                cat "$T/error_log" 2>/dev/null
                if [ -n "$INST" ]; then
                        echo "## ${INST#"$T"/}/error_log"
                        cat "$INST/error_log" 2>/dev/null
                fi
        } >"/tmp/out/$1.error_log"
        save "$1.error_log" "/tmp/out/$1.error_log"
        return 1
}

# trig KEY FILE LINE [LINE...]: a trigger, the first LINE the kernel takes
# (the others are fallbacks, tried only when it refuses one). Facts per try
# (KEY-write, then KEY-alt1-write, ...), "KEY-line <what worked>" (or
# "none"), and the instance's clock after the write ("KEY-clock"): a hist
# trigger that uses common_timestamp sets the clock (its clock=, else
# global). What worked is kept in /tmp/trig for untrig.
trig() {
        local key=$1 file=$2 n=0 k
        shift 2
        while [ $# -gt 0 ]; do
                k=$key
                [ $n = 0 ] || k=$key-alt$n
                if put "$k" "$file" "$1"; then
                        fact "$key-line $1"
                        fact "$key-clock $(clock_of "$INST")"
                        echo "$file" >"/tmp/trig/$key.file"
                        echo "$1" >"/tmp/trig/$key.line"
                        return 0
                fi
                n=$((n + 1))
                shift
        done
        fact "$key-line none"
        fact "$key-clock $(clock_of "$INST")"
        return 1
}

# untrig NAME: removes the trigger that trig $P$NAME set: '!' and the
# exact line. Fact "${P}rm-NAME-write".
untrig() {
        local key=$P$1
        [ -f "/tmp/trig/$key.line" ] || return 0
        put "${P}rm-$1" "$(cat "/tmp/trig/$key.file")" "!$(cat "/tmp/trig/$key.line")" &&
                rm -f "/tmp/trig/$key.file" "/tmp/trig/$key.line"
}

# One connect with busybox nc, as connect_n makes them; the pid (busybox
# timeout execs nc in its own process: $! is nc's) goes to /tmp/ncpids.
connect1() {
        timeout "${3:-5}" nc "$1" "$2" </dev/null >/dev/null 2>&1 &
        echo "$!" >>/tmp/ncpids
        wait "$!"
}
connects() {
        local i=0
        while [ $i -lt "$3" ]; do
                connect1 "$1" "$2"
                i=$((i + 1))
        done
}

# Saves file $1 (when the kernel has it) as $2.
save_file() {
        if [ -e "$1" ]; then
                cat "$1" >"/tmp/out/$2"
                save "$2" "/tmp/out/$2"
        else
                fact "$2 absent"
        fi
}

# The block(s) of hist file $1 whose "# trigger info:" line holds $2 (an
# event's hist file holds one block per hist trigger, each from
# "# event histogram" on), saved as $3.
split_hist() {
        awk -v pat="$2" '
                function flush() { if (keep) printf "%s", buf; buf = ""; keep = 0 }
                $0 == "# event histogram" { flush() }
                { buf = buf $0 "\n" }
                index($0, "# trigger info:") == 1 && index($0, pat) { keep = 1 }
                END { flush() }' "$1" >"/tmp/out/$3" 2>/dev/null
        if [ -s "/tmp/out/$3" ]; then
                save "$3" "/tmp/out/$3"
        else
                fact "$3 absent"
        fi
}

fact "kernel $(uname -r) $(uname -m)"
grep -E 'hist|synthetic|onmatch|log2|buckets|common_timestamp|clock=' "$T/README" >/tmp/out/readme-hist.txt
save readme-hist.txt /tmp/out/readme-hist.txt
# What the kernel has: a trigger file lists the commands it takes (Debian
# 11's cloud kernel is built without CONFIG_HIST_TRIGGERS and
# CONFIG_SYNTH_EVENTS). Without hist, only the first experiment is tried
# (to record the refusal) and rounds B to D are left out.
grep -q 'hist:' "$T/README" && fact "readme-hist-triggers yes" || fact "readme-hist-triggers no"
fact "available-triggers $(grep -v '^# Available' "$T/events/sched/sched_process_exec/trigger" | tr -d '#' | sed 's/^ *//')"
HIST=no
grep -qw hist "$T/events/sched/sched_process_exec/trigger" && HIST=yes
fact "hist-triggers $HIST"
SYNTH=no
[ -e "$T/synthetic_events" ] && SYNTH=yes
fact "synthetic_events-file $SYNTH"
# $arg<N> where the kernel has it (4.20+ on both architectures), else the
# register of the 2nd argument.
if grep -q '\$arg<N>' "$T/README"; then
        A='$arg2'
elif [ "$VM_ARCH" = arm64 ]; then
        A='%x1'
else
        A='%si'
fi
fact "fetch-arg $A"

nc -ll -p 25 -e /bin/true &

# The whole setup of one round, in instance $1: probes, synthetic events,
# the instance and its clock, conn enabled with its event filter, every
# trigger. Keys of round B's facts start with "b-" ($P).
setup() {
        INST=$T/instances/$1
        EV=$INST/events/kpe_cap
        SY=$INST/events/synthetic
        put ${P}probe-conn "$T/kprobe_events" "p:kpe_cap/conn __sys_connect_file family=+0($A):u16 port=+2($A):u16 addr=+4($A):u32 comm=\$comm:string"
        put ${P}probe-conn_ret "$T/kprobe_events" 'r:kpe_cap/conn_ret __sys_connect_file ret=$retval:s32 comm=$comm:string'
        put ${P}probe-drop "$T/kprobe_events" "p:kpe_cap/drop __sys_connect_file port=+2($A):u16"
        if [ $SYNTH = yes ]; then
                put ${P}synth-lat "$T/synthetic_events" 'kpe_cap_lat u64 lat; s32 ret; u32 addr'
                put ${P}synth-latns "$T/synthetic_events" 'kpe_cap_latns u64 lat; s32 ret; u32 addr'
        fi
        mkdir "$INST" && fact "${P}mkdir ok" || fact "${P}mkdir fail"
        fact "${P}clock-initial $(clock_of "$INST")"
        put ${P}clock-set "$INST/trace_clock" mono
        fact "${P}clock-before $(clock_of "$INST")"
        put ${P}filter "$EV/conn/filter" 'family == 2'
        put ${P}enable "$EV/conn/enable" 1

        # 1: strings (comm), a u32 and a u16 as keys; an explicit size.
        trig ${P}counter "$EV/conn/trigger" 'hist:name=kpe_cap_cnt:keys=comm,addr,port:vals=hitcount:size=2048 if family == 2'
        if [ $HIST = no ]; then
                fact "${P}clock-after $(clock_of "$INST")"
                return 0
        fi
        # 2: no filter of its own: does the event filter apply to it?
        trig ${P}nofilter "$EV/conn/trigger" 'hist:name=kpe_cap_nof:keys=family:vals=hitcount'
        # 3: a field as a value (a sum).
        trig ${P}sum "$EV/conn/trigger" 'hist:name=kpe_cap_sum:keys=port:vals=hitcount,addr:size=2048 if family == 2'
        # 4: a log2 key whose field is a value too.
        trig ${P}log2 "$EV/conn/trigger" 'hist:name=kpe_cap_log2:keys=port.log2:vals=hitcount,port if family == 2'
        # 5: linear buckets.
        trig ${P}buckets "$EV/conn/trigger" 'hist:name=kpe_cap_lin:keys=port.buckets=1000:vals=hitcount,port if family == 2'
        # 6: a signed key, on the trigger-only (never enabled) kretprobe.
        trig ${P}signed "$EV/conn_ret/trigger" 'hist:name=kpe_cap_ret:keys=comm,ret:vals=hitcount if ret < 0'
        # 7: connect() latency into a synthetic event, the entry's addr
        # carried in a variable. Fallbacks: without clock= (the entry), the
        # synthetic event called by name instead of trace() (the return).
        trig ${P}lat-conn "$EV/conn/trigger" \
                'hist:keys=common_pid:kpe_cap_ts=common_timestamp.usecs,kpe_cap_a=addr:clock=mono if family == 2' \
                'hist:keys=common_pid:kpe_cap_ts=common_timestamp.usecs,kpe_cap_a=addr if family == 2'
        trig ${P}lat-ret "$EV/conn_ret/trigger" \
                'hist:keys=common_pid:kpe_cap_l=common_timestamp.usecs-$kpe_cap_ts:onmatch(kpe_cap.conn).trace(kpe_cap_lat,$kpe_cap_l,ret,$kpe_cap_a)' \
                'hist:keys=common_pid:kpe_cap_l=common_timestamp.usecs-$kpe_cap_ts:onmatch(kpe_cap.conn).kpe_cap_lat($kpe_cap_l,ret,$kpe_cap_a)'
        trig ${P}lath "$SY/kpe_cap_lat/trigger" 'hist:name=kpe_cap_lath:keys=ret,addr,lat.log2:vals=hitcount,lat:size=2048'
        # 7ns: the same in nanoseconds (common_timestamp without .usecs), with
        # clock=mono on both sides this time (see lat-ret-clock).
        trig ${P}latns-conn "$EV/conn/trigger" \
                'hist:keys=common_pid:kpe_cap_tsn=common_timestamp,kpe_cap_an=addr:clock=mono if family == 2' \
                'hist:keys=common_pid:kpe_cap_tsn=common_timestamp,kpe_cap_an=addr if family == 2'
        trig ${P}latns-ret "$EV/conn_ret/trigger" \
                'hist:keys=common_pid:kpe_cap_ln=common_timestamp-$kpe_cap_tsn:onmatch(kpe_cap.conn).trace(kpe_cap_latns,$kpe_cap_ln,ret,$kpe_cap_an):clock=mono' \
                'hist:keys=common_pid:kpe_cap_ln=common_timestamp-$kpe_cap_tsn:onmatch(kpe_cap.conn).trace(kpe_cap_latns,$kpe_cap_ln,ret,$kpe_cap_an)'
        trig ${P}latnsh "$SY/kpe_cap_latns/trigger" 'hist:name=kpe_cap_latnsh:keys=ret,addr,lat.log2:vals=hitcount,lat:size=2048'
        # 8: the CPU as a key (common_cpu on new kernels, cpu before).
        trig ${P}cpu "$EV/conn/trigger" \
                'hist:name=kpe_cap_cpu:keys=common_cpu:vals=hitcount' \
                'hist:name=kpe_cap_cpu:keys=cpu:vals=hitcount'
        # 9: the smallest map (128 entries), on a trigger-only probe of its
        # own; 300 distinct ports overflow it.
        trig ${P}drop "$EV/drop/trigger" 'hist:name=kpe_cap_drop:keys=port:vals=hitcount:size=128'
        # 10: the pid as a key.
        trig ${P}pid "$EV/conn/trigger" 'hist:name=kpe_cap_pid:keys=common_pid:vals=hitcount'
        fact "${P}clock-after $(clock_of "$INST")"
}

# Every trigger of the round, removed in the order the kernel needs: the
# onmatch triggers (they use the entry's variables and the synthetic
# events), the synthetic events' hists, then conn's (the variables last of
# its triggers), conn_ret's and drop's.
remove_triggers() {
        for t in lat-ret latns-ret lath latnsh pid cpu latns-conn lat-conn buckets log2 sum nofilter counter signed drop; do
                untrig "$t"
        done
}

# The rest of the round: synthetic events, conn disabled, the probes, the
# instance.
remove_rest() {
        if [ $SYNTH = yes ]; then
                put ${P}rm-synth-lat "$T/synthetic_events" '!kpe_cap_lat'
                put ${P}rm-synth-latns "$T/synthetic_events" '!kpe_cap_latns'
        fi
        if [ -d "$INST" ]; then
                put ${P}disable "$EV/conn/enable" 0
                put ${P}filter-clear "$EV/conn/filter" 0
        fi
        put ${P}rm-probe-conn "$T/kprobe_events" '-:kpe_cap/conn'
        put ${P}rm-probe-conn_ret "$T/kprobe_events" '-:kpe_cap/conn_ret'
        put ${P}rm-probe-drop "$T/kprobe_events" '-:kpe_cap/drop'
        if [ -d "$INST" ]; then
                (rmdir "$INST") 2>/tmp/rmdir.err && fact "${P}rmdir ok" ||
                        fact "${P}rmdir fail $(tr '\n' ' ' </tmp/rmdir.err)"
        fi
}

# ---- Round A: instance kpe_cap.
P=""
setup kpe_cap

: >/tmp/ncpids
connects 127.0.0.1 25 "$K"
connects 127.0.0.1 26 "$R"
connects ::1 25 "$V"
fact "nc-pids $(tr '\n' ' ' </tmp/ncpids | sed 's/ *$//')"

# What the kernel counted: each event's hist file whole, and each
# experiment's block of it.
save_file "$EV/conn/hist" event-conn.hist
save_file "$EV/conn_ret/hist" event-conn_ret.hist
split_hist /tmp/out/event-conn.hist name=kpe_cap_cnt: counter.hist
split_hist /tmp/out/event-conn.hist name=kpe_cap_nof: nofilter.hist
split_hist /tmp/out/event-conn.hist name=kpe_cap_sum: sum.hist
split_hist /tmp/out/event-conn.hist name=kpe_cap_log2: log2.hist
split_hist /tmp/out/event-conn.hist name=kpe_cap_lin: buckets.hist
split_hist /tmp/out/event-conn.hist name=kpe_cap_cpu: cpu.hist
split_hist /tmp/out/event-conn.hist name=kpe_cap_pid: pid.hist
split_hist /tmp/out/event-conn.hist kpe_cap_ts= lat-conn.hist
split_hist /tmp/out/event-conn.hist kpe_cap_tsn= latns-conn.hist
split_hist /tmp/out/event-conn_ret.hist name=kpe_cap_ret: signed.hist
split_hist /tmp/out/event-conn_ret.hist kpe_cap_l= lat-ret.hist
split_hist /tmp/out/event-conn_ret.hist kpe_cap_ln= latns-ret.hist
save_file "$SY/kpe_cap_lat/hist" lath.hist
save_file "$SY/kpe_cap_latns/hist" latns.hist

# The IPv6 connects (family 10) in the trigger without a filter of its own
# say whether the event filter (family == 2) applies to triggers.
if [ $HIST = yes ]; then
        v6=$(awk '/family: *10 }/ { print $NF }' /tmp/out/nofilter.hist)
        fact "nofilter-family10-hitcount ${v6:-0}"
        fact "nofilter-family2-hitcount $(awk '/family: *2 }/ { print $NF }' /tmp/out/nofilter.hist)"
        [ -n "$v6" ] && fact "nofilter-ipv6-counted yes" || fact "nofilter-ipv6-counted no"
fi
fact "buckets-supported $([ -f /tmp/trig/buckets.line ] && echo yes || echo no)"
fact "log2-supported $([ -f /tmp/trig/log2.line ] && echo yes || echo no)"

# Trigger-only events read "0*" (soft-disabled); conn was enabled.
fact "enable-conn $(cat "$EV/conn/enable")"
fact "enable-conn_ret $(cat "$EV/conn_ret/enable")"
fact "enable-drop $(cat "$EV/drop/enable")"
if [ $SYNTH = yes ]; then
        fact "enable-kpe_cap_lat $(cat "$SY/kpe_cap_lat/enable")"
        fact "enable-kpe_cap_latns $(cat "$SY/kpe_cap_latns/enable")"
fi
# How the kernel prints the triggers back.
for e in conn conn_ret drop; do
        save_file "$EV/$e/trigger" "trigger-$e.txt"
done
for e in kpe_cap_lat kpe_cap_latns; do
        save_file "$SY/$e/trigger" "trigger-$e.txt"
done
# conn is enabled with a filter: only the IPv4 connects reach the buffer.
cat "$INST/per_cpu/cpu0/stats" >/tmp/out/stats-cpu0.txt
save stats-cpu0.txt /tmp/out/stats-cpu0.txt
grep -c 'conn:' "$INST/trace" | sed 's/^/trace-conn-records /' >>"$FACTS"
cat "$T/kprobe_profile" >/tmp/out/kprobe_profile.txt
save kprobe_profile.txt /tmp/out/kprobe_profile.txt

# 9: more distinct ports than the map holds (the refused connects return at
# once: 1 s is plenty).
if [ $HIST = yes ]; then
        p=$DROP_FIRST
        while [ $p -lt $((DROP_FIRST + DROP_N)) ]; do
                connect1 127.0.0.1 $p 1
                p=$((p + 1))
        done
        save_file "$EV/drop/hist" drop.hist
        fact "drop-dropped $(awk '/Dropped:/ { print $2 }' /tmp/out/drop.hist)"
        fact "drop-entries $(awk '/Entries:/ { print $2 }' /tmp/out/drop.hist)"
        fact "drop-hits $(awk '/Hits:/ { print $2 }' /tmp/out/drop.hist)"
        # Every event of drop, as kprobe_profile counts them: Hits + Dropped?
        fact "drop-events $(awk '$1 == "drop" { print $2 }' "$T/kprobe_profile")"
        save_file "$T/kprobe_profile" kprobe_profile-after-drop.txt
fi

# Teardown A: the triggers one by one, then the rest.
remove_triggers
cat "$EV/conn/trigger" "$EV/conn_ret/trigger" "$EV/drop/trigger" >/tmp/out/triggers-after-removal.txt 2>&1
save triggers-after-removal.txt /tmp/out/triggers-after-removal.txt
fact "clock-after-removal $(clock_of "$INST")"
remove_rest
cp "$T/kprobe_events" /tmp/out/kprobe_events-after-a.txt
save kprobe_events-after-a.txt /tmp/out/kprobe_events-after-a.txt
save_file "$T/synthetic_events" synthetic_events-after-a.txt

# ---- Round B: the same setup in a fresh instance kpe_cap2, then rmdir with
# every trigger still in place (what a daemon killed by SIGKILL leaves).
round_b() {
        P=b-
        rm -f /tmp/trig/*
        setup kpe_cap2
        connects 127.0.0.1 25 2
        connects 127.0.0.1 26 1
        save_file "$SY/kpe_cap_lat/hist" b-lath.hist
        if (rmdir "$INST") 2>/tmp/rmdir.err; then
                fact "rmdir-with-triggers ok"
        else
                fact "rmdir-with-triggers fail $(tr '\n' ' ' </tmp/rmdir.err)"
        fi
        [ -d "$INST" ] && fact "b-instance-left yes" || fact "b-instance-left no"
        # What the instance's triggers held, once it is gone: can the probes and
        # synthetic events go?
        put b-after-rmdir-rm-probe-conn "$T/kprobe_events" '-:kpe_cap/conn'
        put b-after-rmdir-rm-probe-conn_ret "$T/kprobe_events" '-:kpe_cap/conn_ret'
        put b-after-rmdir-rm-probe-drop "$T/kprobe_events" '-:kpe_cap/drop'
        if [ $SYNTH = yes ]; then
                put b-after-rmdir-rm-synth-lat "$T/synthetic_events" '!kpe_cap_lat'
                put b-after-rmdir-rm-synth-latns "$T/synthetic_events" '!kpe_cap_latns'
        fi
        # Whatever is left goes the long way (when rmdir was refused: triggers
        # first).
        if [ -d "$INST" ]; then
                remove_triggers
                remove_rest
        fi
}

# ---- Rounds C and D: which triggers does rmdir refuse? (In the kernel
# sources a hist trigger with variables takes a reference to its instance,
# save_hist_vars, and rmdir refuses an instance with references.) Each in
# a fresh instance kpe_cap with conn and one trigger, then rmdir, then
# conn's removal; whatever is left goes the long way.
rmdir_with() {
        P=$1-
        INST=$T/instances/kpe_cap
        EV=$INST/events/kpe_cap
        put ${P}probe-conn "$T/kprobe_events" "p:kpe_cap/conn __sys_connect_file family=+0($A):u16 port=+2($A):u16 addr=+4($A):u32 comm=\$comm:string"
        mkdir "$INST"
        trig ${P}trigger "$EV/conn/trigger" "$2"
        connects 127.0.0.1 25 1
        if (rmdir "$INST") 2>/tmp/rmdir.err; then
                fact "rmdir-with-$1 ok"
        else
                fact "rmdir-with-$1 fail $(tr '\n' ' ' </tmp/rmdir.err)"
        fi
        put ${P}after-rmdir-rm-probe-conn "$T/kprobe_events" '-:kpe_cap/conn'
        if [ -d "$INST" ]; then
                untrig trigger
                (rmdir "$INST") 2>/tmp/rmdir.err && fact "${P}rmdir ok" ||
                        fact "${P}rmdir fail $(tr '\n' ' ' </tmp/rmdir.err)"
                put ${P}rm-probe-conn "$T/kprobe_events" '-:kpe_cap/conn'
        fi
}

if [ $HIST = yes ]; then
        round_b
        rmdir_with plain-trigger 'hist:name=kpe_cap_plain:keys=port:vals=hitcount'
        rmdir_with var-trigger 'hist:keys=common_pid:kpe_cap_ts=common_timestamp.usecs'
else
        fact "rounds-b-c-d skipped: no hist triggers"
fi

# ---- The end: nothing of kpe_cap may be left.
cp "$T/kprobe_events" /tmp/out/kprobe_events-final.txt
save kprobe_events-final.txt /tmp/out/kprobe_events-final.txt
save_file "$T/synthetic_events" synthetic_events-final.txt
ls "$T/instances" >/tmp/out/instances-final.txt
save instances-final.txt /tmp/out/instances-final.txt
# (grep -c prints 0 and fails when nothing matches)
fact "final-kprobe_events $(grep -c kpe_cap "$T/kprobe_events") kpe_cap lines"
[ $SYNTH = no ] || fact "final-synthetic_events $(grep -c kpe_cap "$T/synthetic_events") kpe_cap lines"
fact "final-instances $(grep -c kpe_cap /tmp/out/instances-final.txt) kpe_cap"

dmesg | tail -n +$((DMESG0 + 1)) >/tmp/out/dmesg.txt
fact "dmesg-new-lines $(wc -l </tmp/out/dmesg.txt)"
[ -s /tmp/out/dmesg.txt ] && save dmesg.txt /tmp/out/dmesg.txt
save facts.txt "$FACTS"
say "capture-done"
EOF

vm_boot
log "capturing on $FLAVOR (at most $VM_TIMEOUT s)"
rc=0
wait "$VM_PID" || rc=$?
VM_PID=""
[ $rc = 0 ] || fail "boot.sh exited with $rc: $(cat "$KPE_WORK/boot.err")"
serial | grep -qx 'KPE: capture-done' ||
        fail "the guest did not finish (guest-exit '$(guest_fact guest-exit)')"

# The guest's blocks out/NAME become files of the flavor's folder, which
# is replaced whole.
dest=$OUT_ROOT/$FLAVOR
rm -rf "$dest.part"
mkdir -p "$dest.part"
serial | sed -n 's/^KPE-BEGIN out\///p' | while read -r name; do
        guest_block "out/$name" >"$dest.part/$name"
done
[ -s "$dest.part/facts.txt" ] || fail "no facts.txt from the guest"
rm -rf "$dest"
mv "$dest.part" "$dest"
log "$FLAVOR: $(wc -l <"$dest/facts.txt") facts, $(find "$dest" -type f | wc -l) files in $dest"
