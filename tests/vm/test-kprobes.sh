#!/bin/bash
# Real kprobes and a kretprobe in a VM, on each kernel of the matrix
# (KPE_VM_KERNEL: Debian 11, 12 and 13 cloud kernels on x86-64, Debian 12 on
# arm64): the seed's probe on __sys_connect_file in its portable form
# ($arg2) and in the register form of the guest's architecture,
# tcp_v4_connect, tcp_v6_connect, the errno of connect(), two latency
# histograms (connect() from its kprobe to its kretprobe on one thread; the
# TCP handshake from tcp_v4_connect to tcp_finish_connect of one socket), the
# classic examples' sys_connect (refused with the names that exist) and a
# fetch type the kernel refuses. Beside it the shipped config/probes.yaml runs
# unchanged in a daemon of its own. Busybox nc makes real connects in the
# guest; from the host, curl and a real Prometheus read the daemon through
# a port forwarded to the guest. On success, the kernel's release and
# features and what was proven go to $KPE_VM_RESULTS/<flavor>.json, from
# which the README's "Supported kernels" table is made (kernel-table.py).
. "$(dirname "$0")/vmlib.sh"

K=5 # nc 127.0.0.1 25: port 25 listens in the guest
R=3 # nc 127.0.0.1 26: nothing listens there, the kernel refuses
V=2 # nc ::1 25
# The connects are made one at a time, and on 5.10 the counts are exact
# because of that: there a kretprobe without a maxactive of its own gets as
# many instances as there are CPUs when the kernel is built without
# CONFIG_PREEMPTION (Debian 11's: voluntary preemption only), 1 in the
# guest ("r1:" in kprobe_events), so a second connect() in flight at once
# would be missed (kprobe_profile counts it as a miss, and the comparison
# below fails). Debian 12's and 13's kernels give max(10, 2 * CPUs) ("r10:",
# arm64's too, which is built without preemption: the default no longer
# depends on it).

vm_init
ARCH=${VM_ARCH:-x86_64}
FLAVOR=${KPE_VM_KERNEL:-debian12-amd64}
RESULTS=${KPE_VM_RESULTS:-$(dirname "$KPE_BIN")/kernel-matrix}
rm -f "$RESULTS/$FLAVOR.json" # what an earlier run proved is not this run's
prom_start
cat "$VM_DIR/kprobes.yaml" "$VM_DIR/kprobes-$ARCH.yaml" >"$KPE_WORK/files/kprobes.yaml" ||
        fail "no register form of the seed's probe for $ARCH"
cp "$KPE_SOURCE_ROOT/config/probes.yaml" "$KPE_WORK/files/default.yaml"
cp "$VM_DIR/kagg.yaml" "$KPE_WORK/files/kagg.yaml"
# The same without the metric k_len, for a reload that removes one trigger.
python3 - "$VM_DIR/kagg.yaml" >"$KPE_WORK/files/kagg-less.yaml" <<'EOF'
import sys
out, skip = [], False
for line in open(sys.argv[1]):
    if line.startswith("      - name: "):
        skip = line.strip() == "- name: k_len"
    elif not line.startswith("       "):
        skip = False
    if not skip:
        out.append(line)
sys.stdout.write("".join(out))
EOF
grep -q "name: k_len$" "$KPE_WORK/files/kagg-less.yaml" && fail "kagg-less.yaml still has k_len"

guest_script K R V PROM_PORT <<'EOF'
# qemu's network for the guest is restricted: not even the host, where
# Prometheus listens on 127.0.0.1 (10.0.2.2 is the host, seen from the
# guest), can be reached from here.
timeout 5 nc 10.0.2.2 "$PROM_PORT" </dev/null >/tmp/host.out 2>&1
say "host-connect $?"
show host-connect /tmp/host.out

nc -ll -p 25 -e /bin/true &
daemon_start /kpe/kprobes.yaml
# No connect (the wgets below) until the daemon has registered its probes:
# one in flight meanwhile could be seen returning but not entering, and the
# latency metrics' unmatched counts are asserted exactly. Its log says when,
# read without a connect.
wait_registered /tmp/daemon.1.err 10 || die "the daemon did not say within 10 s that it registered its probes"
# The shipped config, unchanged, in an instance (and group) of its own.
kprobe-exporter --config.file=/kpe/default.yaml --tracefs.instance=kpe_default \
        --web.listen-address=127.0.0.1:9418 2>/tmp/default.err &
DEFAULT_PID=$!
i=0
while [ $i -lt 100 ] && ! wget -q -O /dev/null http://127.0.0.1:9418/healthz; do
        sleep 0.1
        i=$((i + 1))
done
# Kernel aggregation (kagg.yaml): each metric counted by the kernel and
# from events, in an instance and group of its own; started after its
# probes are in (its log says so), so that no connect of the startup's is
# counted by one and not the other.
# Without hist triggers (5.10's Debian config has none) its metrics with
# aggregate: kernel make every probe unavailable: --config.check says so.
KAGG_PID=""
if grep -q "hist trigger" "$TRACEFS/README"; then
        cp /kpe/kagg.yaml /tmp/kagg.yaml
        kprobe-exporter --config.file=/tmp/kagg.yaml --tracefs.instance=kpe_kagg \
                --web.listen-address=127.0.0.1:9420 2>/tmp/kagg.err &
        KAGG_PID=$!
        wait_registered /tmp/kagg.err 10 ||
                { show kagg.err /tmp/kagg.err; die "the kernel-aggregating daemon did not start within 10 s"; }
else
        kprobe-exporter --config.file=/kpe/kagg.yaml --config.check >/dev/null 2>/tmp/kagg.check
        show kagg-check /tmp/kagg.check
fi
host_wait traffic

# A copy of the seed probe's records, for the log: the daemon's own
# instance is read by the daemon. Enabled in an instance of the test's, and
# gone before the daemon stops (an event enabled anywhere cannot be removed).
mkdir "$TRACEFS/instances/kpe_raw"
echo 1 >"$TRACEFS/instances/kpe_raw/events/kprobe_exporter/connect/enable"

connect_n 127.0.0.1 25 "$K"
connect_n 127.0.0.1 26 "$R"
connect_n ::1 25 "$V"

grep -v '^#' "$TRACEFS/instances/kpe_raw/trace" >/tmp/raw
show raw-trace /tmp/raw
echo 0 >"$TRACEFS/instances/kpe_raw/events/kprobe_exporter/connect/enable"
rmdir "$TRACEFS/instances/kpe_raw"
show error_log "$TRACEFS/error_log"

# The kernel-aggregating daemon: its metrics and /probes once the user-space
# twin has counted the K connects (at most 10 s), the kernel's hit counts
# of its probes, then SIGTERM, and what of it the kernel still holds.
i=0
while [ -n "$KAGG_PID" ] && [ $i -lt 50 ]; do
        wget -q -O /tmp/kagg.metrics http://127.0.0.1:9420/metrics
        grep -qx "u_connect_total{comm=\"nc\",addr=\"127.0.0.1\",port=\"25\"} $K" /tmp/kagg.metrics && break
        sleep 0.2
        i=$((i + 1))
done
if [ -n "$KAGG_PID" ]; then
        # kprobe_profile, then /metrics once its 200 ms cache has passed:
        # rendered after this fetch's own connect, which the kernel has
        # counted by then, so one more than the profile's hits.
        cat "$TRACEFS/kprobe_profile" >/tmp/kagg.profile
        sleep 0.3
        wget -q -O /tmp/kagg.metrics http://127.0.0.1:9420/metrics
        wget -q -O /tmp/kagg.probes http://127.0.0.1:9420/probes
        for e in conn conn_ret quiet; do
                printf '%s %s\n' "$e" "$(cat "$TRACEFS/instances/kpe_kagg/events/kpe_kagg/$e/enable")"
        done >/tmp/kagg.enable
        show kagg-metrics /tmp/kagg.metrics
        show kagg-probes /tmp/kagg.probes
        show kagg-profile /tmp/kagg.profile
        show kagg-enable /tmp/kagg.enable
        for e in conn/trigger conn/hist conn_ret/trigger quiet/hist; do
                echo "== $e"
                cat "$TRACEFS/instances/kpe_kagg/events/kpe_kagg/$e"
        done >/tmp/kagg.hist
        show kagg-hist /tmp/kagg.hist
        # Reloads: unchanged (twice), without k_len (its trigger goes, the
        # others keep theirs and their counts), with k_len again (a new
        # trigger, from zero).
        n=0
        for cfg in kagg kagg kagg-less kagg; do
                cp "/kpe/$cfg.yaml" /tmp/kagg.yaml
                n=$((n + 1))
                reload_wait "$KAGG_PID" /tmp/kagg.err $n ||
                        die "reload $n of the kernel-aggregating daemon: no 'Reloaded' within 10 s"
                sleep 0.3 # /metrics' cache
                wget -q -O /tmp/kagg.reload.$n http://127.0.0.1:9420/metrics
                show kagg-reload-$n /tmp/kagg.reload.$n
                cat "$TRACEFS/instances/kpe_kagg/events/kpe_kagg/conn/trigger" >/tmp/kagg.trigger.$n
                show kagg-trigger-$n /tmp/kagg.trigger.$n
        done
fi

# The shipped config's daemon: until it has counted the K connects (at
# most 10 s), then what it shows, then SIGTERM.
i=0
while [ $i -lt 50 ]; do
        wget -q -O /tmp/default.metrics http://127.0.0.1:9418/metrics
        grep -qx "connect_total{comm=\"nc\",addr=\"127.0.0.1\",port=\"25\"} $K" /tmp/default.metrics && break
        sleep 0.2
        i=$((i + 1))
done
wget -q -O /tmp/default.probes http://127.0.0.1:9418/probes
show default-metrics /tmp/default.metrics
show default-probes /tmp/default.probes
kill -TERM "$DEFAULT_PID"
wait "$DEFAULT_PID"
say "default.exit $?"
show default.err /tmp/default.err
# Functions this kernel will not probe, picked from its own lists: one on
# the kprobes blacklist (debugfs) and one ftrace cannot attach to (a text
# symbol of kallsyms that available_filter_functions lacks: notrace).
# --config.check and a daemon of their own say so.
mount -t debugfs debugfs /sys/kernel/debug
# Names that several static functions share are left out (the kernel
# refuses them for that: "The symbol is not unique").
awk 'FILENAME ~ /blacklist$/ { bl[$2] = 1; next }
     FILENAME ~ /available_filter_functions$/ { aff[$1] = 1; next }
     ($2 == "t" || $2 == "T") && NF == 3 && $3 ~ /^[a-z][a-z0-9_]*$/ {
             if (!($3 in seen)) order[++n] = $3
             seen[$3]++
     }
     END {
             for (i = 1; i <= n; i++) {
                     s = order[i]
                     if (seen[s] > 1) continue
                     if (b == "" && (s in bl)) b = s
                     if (t == "" && !(s in bl) && !(s in aff)) t = s
             }
             print (b == "" ? "-" : b), (t == "" ? "-" : t)
     }' /sys/kernel/debug/kprobes/blacklist "$TRACEFS/available_filter_functions" /proc/kallsyms >/tmp/unprobeable
read -r BL NT </tmp/unprobeable
say "unprobeable $BL $NT"
cat >/tmp/unprobeable.yaml <<EOT
probes:
  - name: blacklisted
    type: kprobe
    target: $BL
    metrics: [{name: blacklisted_total, labels: [cpu]}]
  - name: notrace
    type: kprobe
    target: $NT
    metrics: [{name: notrace_total, labels: [cpu]}]
EOT
kprobe-exporter --config.file=/tmp/unprobeable.yaml --config.check >/dev/null 2>/tmp/unprobeable.check
show unprobeable.check /tmp/unprobeable.check
kprobe-exporter --config.file=/tmp/unprobeable.yaml --tracefs.instance=kpe_unprobeable \
        --web.listen-address=127.0.0.1:9419 2>/tmp/unprobeable.err
say "unprobeable.exit $?"
show unprobeable.err /tmp/unprobeable.err
umount /sys/kernel/debug

# The kernel's own verdicts on what the daemon judged without asking it:
# each probe written by hand in a group of the test's own (appended, never
# truncated) and removed again if the kernel took it.
kernel_takes() {
        if echo "$2" >>"$TRACEFS/kprobe_events" 2>/dev/null; then
                echo "-:kpe_chk/$1" >>"$TRACEFS/kprobe_events"
                say "kernel-takes.$1 yes"
        else
                say "kernel-takes.$1 no"
        fi
}
kernel_takes blacklisted "p:kpe_chk/blacklisted $BL"
kernel_takes notrace "p:kpe_chk/notrace $NT"
kernel_takes classic "p:kpe_chk/classic sys_connect"
kernel_takes ret_arg 'r:kpe_chk/ret_arg __sys_connect_file port=+2($arg2):u16'
dmesg | grep -F "notrace" >/tmp/dmesg.notrace
show dmesg.notrace /tmp/dmesg.notrace

# The kernel's hit counts, now that every connect of the guest is made (nc's
# and wget's).
show kprobe_profile "$TRACEFS/kprobe_profile"
host_wait stop

daemon_stop TERM
# The kernel-aggregating daemon, now that the test's daemon no longer
# counts the guest's connects (the host checked it at step stop).
if [ -n "$KAGG_PID" ]; then
        # Two more unchanged reloads while F connects flow, then (once user
        # space has read them) the kernel's counts must still equal the
        # events': a reload loses no count on either side.
        F=12
        cp /kpe/kagg.yaml /tmp/kagg.yaml
        connect_n 127.0.0.1 25 "$F" &
        FLOW=$!
        for n in 5 6; do
                reload_wait "$KAGG_PID" /tmp/kagg.err $n ||
                        die "reload $n of the kernel-aggregating daemon: no 'Reloaded' within 10 s"
                sleep 0.2
        done
        wait "$FLOW"
        i=0
        while [ $i -lt 50 ]; do
                sleep 0.3
                wget -q -O /tmp/kagg.flow http://127.0.0.1:9420/metrics
                grep -qx "u_connect_total{comm=\"nc\",addr=\"127.0.0.1\",port=\"25\"} $((K + F))" /tmp/kagg.flow && break
                i=$((i + 1))
        done
        say "kagg-flow $F $(grep -c '^<6>Reloaded' /tmp/kagg.err)"
        show kagg-flow /tmp/kagg.flow
        kill -TERM "$KAGG_PID"
        wait "$KAGG_PID"
        say "kagg.exit $?"
        show kagg.err /tmp/kagg.err
        say "kagg-leftovers $(cat "$TRACEFS/kprobe_events" "$TRACEFS/synthetic_events" | grep -c kpe_kagg) $(ls "$TRACEFS/instances" | grep -c kpe_kagg)"
        # A run that dies (SIGKILL) leaves its triggers, whose variables
        # keep the instance: --cleanup removes them, then the rest; twice.
        for run in 1 2; do
                # A log of its own per run: the shell truncates it in the
                # child, after the loop below may have read an old one.
                kprobe-exporter --config.file=/kpe/kagg.yaml --tracefs.instance=kpe_kagg \
                        --web.listen-address=127.0.0.1:9420 2>/tmp/kagg.crash.$run.err &
                KAGG_PID=$!
                wait_registered /tmp/kagg.crash.$run.err 10 ||
                        die "the kernel-aggregating daemon did not start again within 10 s"
                kill -KILL "$KAGG_PID"
                wait "$KAGG_PID"
                before="$(grep -c kpe_kagg "$TRACEFS/synthetic_events") $(ls "$TRACEFS/instances" | grep -c kpe_kagg)"
                kprobe-exporter --cleanup --tracefs.instance=kpe_kagg 2>/tmp/kagg.cleanup.err
                say "kagg-crash-$run $before $? $(cat "$TRACEFS/kprobe_events" "$TRACEFS/synthetic_events" | grep -c kpe_kagg) $(ls "$TRACEFS/instances" | grep -c kpe_kagg)"
                show kagg-cleanup-$run /tmp/kagg.cleanup.err
                show kagg-crash-log-$run /tmp/kagg.crash.$run.err
        done
fi
show_tracefs stopped
show_daemon_log
EOF

vm_boot

log "the daemon in the guest starts; the classic sys_connect and a bad type are refused, the others run"
guest_at traffic
wait_healthy
RELEASE=$(guest_fact booted | cut -d' ' -f1)
fetch_ok /probes "$KPE_WORK/probes.json"
# What /probes says, all read at once (json_vars).
error_of() { echo "[p[\"error\"] for p in j[\"probes\"] if p[\"name\"] == \"$1\"][0]"; }
eval "$(json_vars "$KPE_WORK/probes.json" \
        RET_ARGS 'j["kernel"]["features"]["retprobe_arg_n"]' \
        STATES '{p["name"]: p["state"] for p in j["probes"]}' \
        KERNEL 'j["kernel"]["release"] + " " + j["kernel"]["machine"]' \
        FEATURES '" ".join(k for k, on in j["kernel"]["features"].items() if on)' \
        ERROR_RET_PORT "$(error_of connect_ret_port)" \
        ERROR_CLASSIC "$(error_of classic)" \
        ERROR_BADTYPE "$(error_of badtype)")"
# Kernel aggregation (kagg.yaml) runs where the kernel has hist triggers.
KAGG=$([[ " $FEATURES " == *" hist_triggers "* ]] && echo yes || echo no)
# The kernel-aggregating daemon's /metrics ($1) against the workload: K R V
# connects, then F more to port 25 (made while it reloaded).
kagg_compare() {
        python3 - "$@" <<'PYEOF'
import re, sys
path, k, r, v, f = sys.argv[1], *map(int, sys.argv[2:])
sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$')
samples = {}
for line in open(path, encoding="utf-8"):
    m = sample_re.match(line.strip())
    if m and not line.startswith("#"):
        samples[m[1] + (m[2] or "")] = float(m[3])
bad = []
def get(key):
    return samples.get(key)
# Every user-space sample has its kernel twin with the same value; a
# latency's buckets and sum may differ by the kernel's microsecond
# timestamps (an interval within 1 us of a bound).
pairs = 0
# The fetches of /metrics connect to the daemon (wget, port 9420): the kernel
# has counted such a connect when it renders, user space once it reads the
# event, which may be after the response. Those series are left out.
def observer(key):
    return 'comm="wget"' in key or 'port="9420"' in key
# After the reloads that took k_len out and back, its trigger is new: it
# has counted the flow (f) only, while u_len, never taken out, has all.
def restarted(key):
    return f > 0 and key.startswith(("u_len_bucket", "u_len_count", "u_len_sum{"))
for key, uval in samples.items():
    if not key.startswith("u_") or observer(key) or restarted(key):
        continue
    kkey = "k_" + key[2:]
    kval = samples.get(kkey)
    if kval is None:
        bad.append(f"{kkey}: missing (user space has {uval:g})")
        continue
    pairs += 1
    latency = key.startswith("u_connect_seconds")
    if latency and key.startswith("u_connect_seconds_bucket") and abs(kval - uval) <= 1:
        continue
    if latency and key.startswith("u_connect_seconds_sum"):
        n = samples[key.replace("_sum", "_count")]
        if abs(kval - uval) <= n * 2e-6:
            continue
    if kval != uval:
        bad.append(f"{kkey} {kval:g}, {key} {uval:g}")
for key in samples:
    if key.startswith("k_") and "u_" + key[2:] not in samples and not observer(key):
        bad.append(f"{key}: the kernel has a series user space has not")
want = {
    'k_connect_total{comm="nc",addr="127.0.0.1",port="25"}': k + f,
    'k_connect_total{comm="nc",addr="127.0.0.1",port="26"}': r,
    'k_result_total{comm="nc",ret="ECONNREFUSED"}': r,
    'k_connect_seconds_count{ret="ECONNREFUSED",port="26"}': r,
    'k_connect_seconds_count{ret="0",port="25"}': k + v + f,
    'k_len_count{comm="nc"}': k + r + v if f == 0 else f,
    'k_len_bucket{comm="nc",le="16"}': k + r if f == 0 else f,
    'k_len_bucket{comm="nc",le="32"}': k + r + v if f == 0 else f,
    'k_len_lin_bucket{comm="nc",le="19"}': k + r + f,
    'k_len_lin_bucket{comm="nc",le="29"}': k + r + v + f,
    'k_len_sum_total{comm="nc",type="2"}': 16 * (k + r + f),
    'k_len_sum_total{comm="nc",type="10"}': 28 * v,
    'quiet_connect_total{port="25"}': k + v + f,
    'quiet_connect_total{port="26"}': r,
    'kprobe_exporter_events_total{probe="quiet"}': 0,
}
for name in ("k_connect_total", "k_len_sum_total", "k_len", "k_len_lin", "k_result_total", "k_connect_seconds",
             "quiet_connect_total"):
    want[f'kprobe_exporter_metric_in_kernel{{metric="{name}"}}'] = 1
want['kprobe_exporter_metric_in_kernel{metric="u_connect_total"}'] = 0
for key, w in want.items():
    if get(key) != w:
        bad.append(f"{key} is {get(key)}, want {w}")
if pairs < 20:
    bad.append(f"only {pairs} user-space samples had a kernel twin")
if bad:
    sys.exit("\n".join(bad))
print(f"#   {pairs} samples equal in kernel and user space; the events: false probe counted {k + r + v + f} of nc's connects, streamed none")
PYEOF
}
# $arg<N> in a kretprobe: what the daemon detected decides what it did.
ret_state=$([ "$RET_ARGS" = true ] && echo registered || echo unavailable)
v=$STATES
[ "$v" = '{"connect": "registered", "tcp_v4_connect": "registered", "tcp_v6_connect": "registered", "tcp_finish_connect": "registered", "connect_ret": "registered", "connect_ret_port": "'$ret_state'", "classic": "failed", "badtype": "failed", "connect_reg": "registered"}' ] ||
        fail "/probes states: $v"
if [ "$RET_ARGS" != true ]; then
        v=$ERROR_RET_PORT
        [[ $v == "fetch arg 'port=+2(\$arg2):u16' needs \$arg<N> in kretprobes"*"$RELEASE"* ]] ||
                fail "/probes error of connect_ret_port: $v"
        log "connect_ret_port: $v"
fi
# What the daemon detected, against what the guest is.
v=$KERNEL
want_machine=$([ "$ARCH" = arm64 ] && echo aarch64 || echo x86_64)
[ "$v" = "$RELEASE $want_machine" ] || fail "/probes kernel is '$v', the guest runs '$RELEASE $want_machine'"
v=$FEATURES
for f in kprobe_events uprobe_events arg_n error_log; do
        [[ " $v " == *" $f "* ]] || fail "/probes: feature $f not detected on $RELEASE (detected: $v)"
done
log "features detected on $RELEASE: $v"

# sys_connect: refused before it is written, with the names that exist.
v=$ERROR_CLASSIC
wrapper=$([ "$ARCH" = arm64 ] && echo __arm64_sys_connect || echo __x64_sys_connect)
for want in "no function 'sys_connect' in /proc/kallsyms; nearest: __sys_connect, " __sys_connect_file "$wrapper" "$RELEASE"; do
        [[ $v == *"$want"* ]] || fail "/probes error of 'classic' lacks '$want': $v"
done
log "classic: $v"
# The bad type: the kernel's own words, from its error_log.
v=$ERROR_BADTYPE
[[ $v == *"u77"* ]] || fail "/probes error of 'badtype': '$v' (want the kernel's error_log entry)"
badtype_error=${v%%$'\n'*}
log "badtype: $badtype_error"
guest_go traffic

log "the guest connected: $K x 127.0.0.1:25, $R x 127.0.0.1:26 (refused), $V x [::1]:25"
guest_at stop
[ "$(guest_fact host-connect)" != 0 ] || fail "the guest reached the host's 127.0.0.1:$PROM_PORT: $(guest_block host-connect)"
log "guest to host: $(guest_block host-connect)"
guest_block error_log | grep -F "$badtype_error" >/dev/null ||
        fail "the guest's error_log does not say '$badtype_error': $(guest_block error_log)"
guest_block error_log | grep 'sys_connect ' >/dev/null &&
        fail "sys_connect reached the kernel: $(guest_block error_log)"

# Every count exact: each series reaches its value (the daemon reads as the
# kernel writes), then nothing else is there.
want_metric() {
        local want=$1 v
        shift
        v=$(wait_metric "$want" "$@")
        [ "$v" = "$want" ] || fail "$* is $v, want $want"
}
want_metric "$K" connect_total comm=nc addr=127.0.0.1 port=25
want_metric "$R" connect_total comm=nc addr=127.0.0.1 port=26
want_metric "$K" connect_reg_total comm=nc addr=127.0.0.1 port=25
want_metric "$R" connect_reg_total comm=nc addr=127.0.0.1 port=26
want_metric "$K" tcp_v4_connect_total comm=nc addr=127.0.0.1 port=25
want_metric "$R" tcp_v4_connect_total comm=nc addr=127.0.0.1 port=26
want_metric "$V" tcp_v6_connect_total comm=nc addr=::1 port=25
# What connect() returned, as the kernel did (assert what it really does):
# 0 for the ports that listen; for the closed port the loopback's RST makes
# it fail with -111, ECONNREFUSED.
want_metric $((K + V)) connect_result_total comm=nc ret=0
want_metric "$R" connect_result_total comm=nc ret=ECONNREFUSED
fetch_ok /metrics "$KPE_WORK/metrics.txt"
# nc's series and no others (the guest's wget, which reads the shipped
# config's daemon, connects too: counted under comm="wget"). connect_total
# also has the IPv6 connects, read as IPv4 fields (type=10): the seed's
# probe has no filter, so that the kernel's hit counts compare.
want=11
if [ "$RET_ARGS" = true ]; then
        want=13
        want_metric $((K + V)) connect_ret_port_total comm=nc ret=0 port=25
        want_metric "$R" connect_ret_port_total comm=nc ret=ECONNREFUSED port=26
fi
v=$(grep -cE '^(connect|connect_reg|tcp_v4_connect|tcp_v6_connect|connect_result|connect_ret_port|classic|badtype)_total\{comm="nc"' "$KPE_WORK/metrics.txt")
[ "$v" = $want ] || fail "$v series of nc's connects, want $want: $(grep -E '^[a-z0-9_]+_total\{' "$KPE_WORK/metrics.txt")"
for probe in connect connect_reg; do
        v=$(metric_value "$KPE_WORK/metrics.txt" "${probe}_total" comm=nc addr=0.0.0.0 port=25)
        [ "$v" = "$V" ] || fail "${probe}_total of the IPv6 connects (addr 0.0.0.0: sin6_flowinfo) is $v, want $V"
done
for probe in classic badtype; do
        v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_probe_up probe=$probe)
        [ "$v" = 0 ] || fail "kprobe_exporter_probe_up{probe=\"$probe\"} is $v, want 0"
done
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_kernel_feature feature=retprobe_arg_n)
[ "$v" = "$([ "$RET_ARGS" = true ] && echo 1 || echo 0)" ] || fail "kprobe_exporter_kernel_feature{feature=\"retprobe_arg_n\"} is $v"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_kernel_info release="$RELEASE" machine="$want_machine")
[ "$v" = 1 ] || fail "kprobe_exporter_kernel_info{release=\"$RELEASE\"} is $v"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_parse_errors_total)
[ "$v" = 0 ] || fail "kprobe_exporter_parse_errors_total is $v, want 0"
# The default reader, the kernel's binary ring buffer, read all of it.
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_reader_info reader=binary)
[ "$v" = 1 ] || fail "kprobe_exporter_reader_info{reader=\"binary\"} is $v, want 1"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_unknown_records_total)
[ "$v" = 0 ] || fail "kprobe_exporter_unknown_records_total is $v, want 0"

log "latency histograms: connect() by thread, the TCP handshake by socket"
# Each histogram of the given labels (exactly those, besides le) has its
# count, its buckets where the config's exponential layout puts them, each
# bucket counting at least what the one below it does, +Inf equal to the
# count, and a sum of positive latencies. One python3 for all: each argument
# is "NAME COUNT START FACTOR BUCKETS LABEL=VALUE...".
check_histograms() {
        python3 - "$@" <<'EOF'
import re, sys

path, specs = sys.argv[1], sys.argv[2:]
sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')
samples = []
for line in open(path, encoding="utf-8"):
    m = sample_re.match(line)
    if m and not line.startswith("#"):
        samples.append((m[1], dict(label_re.findall(m[2] or "")), m[3]))
bad = []
for spec in specs:
    name, count, start, factor, n, *labels = spec.split()
    want = dict(l.split("=", 1) for l in labels)
    what = name + "{" + ",".join(f'{k}="{v}"' for k, v in want.items()) + "}"
    les = [f"{float(start) * float(factor) ** i:.15g}" for i in range(int(n))] + ["+Inf"]
    buckets = [(l["le"], int(v)) for s, l, v in samples if s == name + "_bucket" and "le" in l and
               {k: x for k, x in l.items() if k != "le"} == want]
    counts = [v for s, l, v in samples if s == name + "_count" and l == want]
    sums = [v for s, l, v in samples if s == name + "_sum" and l == want]
    if [le for le, _ in buckets] != les:
        bad.append(f"{what}: buckets {[le for le, _ in buckets]}, want {les}")
    elif any(above < below for (_, below), (_, above) in zip(buckets, buckets[1:])):
        bad.append(f"{what}: buckets not cumulative: {buckets}")
    elif counts != [count] or buckets[-1][1] != int(count):
        bad.append(f"{what}: count {counts}, +Inf {buckets[-1][1]}, want {count}")
    elif len(sums) != 1 or not float(sums[0]) > 0:
        bad.append(f"{what}: sum {sums}, want one above 0")
    else:
        filled = " ".join(f"{le}:{v}" for (le, v), (_, below) in zip(buckets, [(None, 0)] + buckets) if v != below)
        print(f"#   {what}: count {count}, sum {float(sums[0]):.6f} s, buckets (le:cumulative, where it grows) {filled}")
sys.exit("\n".join(bad) or None)
EOF
}
CONNECT_BUCKETS="0.00001 4 10"
HANDSHAKE_BUCKETS="0.000001 4 12"
# connect(): nc's, each paired with its own entry by thread, by what the
# entry read (IPv6's sin6_flowinfo as addr 0.0.0.0) and what it returned.
check_histograms "$KPE_WORK/metrics.txt" \
        "connect_duration_seconds $K $CONNECT_BUCKETS comm=nc type=2 addr=127.0.0.1 port=25 ret=0" \
        "connect_duration_seconds $R $CONNECT_BUCKETS comm=nc type=2 addr=127.0.0.1 port=26 ret=ECONNREFUSED" \
        "connect_duration_seconds $V $CONNECT_BUCKETS comm=nc type=10 addr=0.0.0.0 port=25 ret=0" \
        "tcp_handshake_seconds $K $HANDSHAKE_BUCKETS addr=127.0.0.1 port=25" ||
        fail "latency histograms (above)"
v=$(metric_sum "$KPE_WORK/metrics.txt" connect_duration_seconds_count comm=nc)
[ "$v" = $((K + R + V)) ] || fail "connect_duration_seconds_count of nc sums to $v, want $((K + R + V))"
# Every return paired: none unmatched, so every connect_ret event is in a
# histogram (nc's and wget's).
for reason in no_entry evicted expired; do
        v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_unmatched_total metric=connect_duration_seconds reason=$reason)
        [ "$v" = 0 ] || fail "kprobe_exporter_unmatched_total{metric=\"connect_duration_seconds\",reason=\"$reason\"} is $v, want 0"
done
events=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe=connect_ret)
v=$(metric_sum "$KPE_WORK/metrics.txt" connect_duration_seconds_count)
[ "$v" = "$events" ] || fail "connect_duration_seconds_count sums to $v, connect_ret has $events events"
# The handshake: tcp_finish_connect of every successful connect, IPv6's
# too, which no tcp_v4_connect started: exactly V no_entry. The refused
# connects' entries wait (the socket never finishes), not yet expired. The
# guest's wget connects to the shipped config's daemon at 127.0.0.1:9418:
# as many handshakes as successful connect() returns of wget's.
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_unmatched_total metric=tcp_handshake_seconds reason=no_entry)
[ "$v" = "$V" ] || fail "kprobe_exporter_unmatched_total{metric=\"tcp_handshake_seconds\",reason=\"no_entry\"} is $v, want $V (the IPv6 connects)"
for reason in evicted expired; do
        v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_unmatched_total metric=tcp_handshake_seconds reason=$reason)
        [ "$v" = 0 ] || fail "kprobe_exporter_unmatched_total{metric=\"tcp_handshake_seconds\",reason=\"$reason\"} is $v, want 0"
done
# wget's connects to the other daemons of the guest: the shipped config's
# at 9418, the kernel-aggregating one's at 9420 (where hist triggers are).
W=0
PORTS="9418 $([ "$KAGG" = yes ] && echo 9420)"
for port in $PORTS; do
        w=$(metric_value "$KPE_WORK/metrics.txt" connect_duration_seconds_count comm=wget type=2 addr=127.0.0.1 port=$port ret=0)
        [ "$w" != absent ] && [ "$w" -ge 1 ] || fail "no successful connect of wget's to 127.0.0.1:$port in connect_duration_seconds: $w"
        check_histograms "$KPE_WORK/metrics.txt" "tcp_handshake_seconds $w $HANDSHAKE_BUCKETS addr=127.0.0.1 port=$port" ||
                fail "tcp_handshake_seconds of wget's connects to $port (above)"
        W=$((W + w))
done
v=$(grep -c '^tcp_handshake_seconds_count{' "$KPE_WORK/metrics.txt")
set -- $PORTS
[ "$v" = $(($# + 1)) ] || fail "$v series of tcp_handshake_seconds, want $(($# + 1)) (ports 25 $PORTS): $(grep '^tcp_handshake_seconds_count' "$KPE_WORK/metrics.txt")"
events=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe=tcp_finish_connect)
[ "$events" = $((K + W + V)) ] || fail "tcp_finish_connect has $events events, want $((K + W + V)): $K + $W paired, $V unmatched"
log "connect_duration_seconds unmatched 0; tcp_handshake_seconds: $K (nc) + $W (wget) paired, $V unmatched (no_entry: IPv6)"

log "the kernel's kprobe_profile agrees with the daemon's event counts"
guest_block kprobe_profile | sed 's/^/#   /'
for probe in connect:connect_total:$((K + R + V)) connect_reg:connect_reg_total:$((K + R + V)) \
        tcp_v4_connect:tcp_v4_connect_total:$((K + R)) tcp_v6_connect:tcp_v6_connect_total:$V \
        connect_ret:connect_result_total:$((K + R + V)) \
        $([ "$RET_ARGS" = true ] && echo connect_ret_port:connect_ret_port_total:$((K + R + V))); do
        IFS=: read -r name metric want <<<"$probe"
        hits=$(guest_block kprobe_profile | awk -v n="$name" '$1 == n { print $2 "/" $3 }')
        events=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe="$name")
        [ "$hits" = "$events/0" ] || fail "$name: kprobe_profile hits/misses $hits, daemon's events $events"
        v=$(metric_sum "$KPE_WORK/metrics.txt" "$metric" comm=nc)
        [ "$v" = "$want" ] || fail "$name: $v events of nc, want $want"
done
hits=$(guest_block kprobe_profile | awk '$1 == "tcp_finish_connect" { print $2 "/" $3 }')
events=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe=tcp_finish_connect)
[ "$hits" = "$events/0" ] || fail "tcp_finish_connect: kprobe_profile hits/misses $hits, daemon's events $events"
guest_block kprobe_profile | grep -wE 'classic|badtype' >/dev/null && fail "kprobe_profile lists a refused probe"

log "/events: the seed's probe, decoded"
python3 - "$KPE_PORT" "$K" "$V" <<'EOF' || fail "/events"
import json, sys, urllib.request

port, k, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def events(probe):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/events?probe={probe}&limit=1000", timeout=5) as r:
        return json.load(r)["events"]

seed = [e for e in events("connect") if e["fields"].get("port") == "25" and e["fields"].get("addr") == "127.0.0.1"]
if len(seed) != k:
    sys.exit(f"{len(seed)} connect events to 127.0.0.1:25, want {k}")
for e in seed:
    if e["comm"] != "nc" or e["fields"].get("type") != "2":
        sys.exit(f"connect event: {e}")
v6 = events("tcp_v6_connect")
if len(v6) != v or any(e["fields"].get("addr") != "::1" or e["fields"].get("port") != "25" for e in v6):
    sys.exit(f"tcp_v6_connect events: {v6}, want {v} to ::1 port 25")
print("# " + json.dumps(seed[0]))
print("# " + json.dumps(v6[0]))
EOF

if [ "$KAGG" = no ]; then
        log "kernel aggregation: this kernel has no hist triggers; --config.check says so for each metric with aggregate: kernel"
        v=$(guest_block kagg-check | grep -c "has aggregate: kernel, which this kernel cannot give it: kernel $RELEASE .* has no hist triggers")
        [ "$v" = 7 ] || fail "--config.check of kagg.yaml: $(guest_block kagg-check)"
else
        log "kernel aggregation: the kernel's hist triggers count what the events count"
        guest_block kagg-metrics >"$KPE_WORK/kagg.metrics"
        guest_block kagg-probes >"$KPE_WORK/kagg.probes"
        v=$(json_get "$KPE_WORK/kagg.probes" '" ".join(p["name"] + ":" + p["state"] + ":" + str(p.get("streamed")) + ":" + ",".join(m["aggregate"] for m in p["metrics"]) for p in j["probes"])')
        [ "$v" = "conn:registered:True:kernel,user,kernel,user,kernel,user,kernel,user conn_ret:registered:True:kernel,user,kernel,user quiet:registered:False:kernel" ] ||
                fail "kpe_kagg /probes: $v; $(guest_block kagg.err)"
        v=$(guest_block kagg-enable | tr '\n' ' ')
        [ "$v" = "conn 1* conn_ret 1* quiet 0* " ] || fail "kpe_kagg enable files: $v (quiet must be trigger-only: 0*)"
        kagg_compare "$KPE_WORK/kagg.metrics" "$K" "$R" "$V" 0 || fail "kernel against user space (above); the hist files: $(guest_block kagg-hist)"
        for probe in conn quiet; do
                hits=$(guest_block kagg-profile | awk -v n="$probe" '$1 == n { print $2 }')
                metric=$([ $probe = conn ] && echo k_connect_total || echo quiet_connect_total)
                v=$(metric_sum "$KPE_WORK/kagg.metrics" "$metric")
                [ "$((hits + 1))" = "$v" ] ||
                fail "kpe_kagg $probe: kprobe_profile hits $hits, then the kernel's $metric sums to $v (want one more: the fetch's connect)"
        done
        log "kprobe_profile hits equal the kernel-counted totals"
        # Reloads: what the kernel counted stays in the triggers a reload keeps.
        for n in 1 2 3 4; do
                guest_block kagg-reload-$n >"$KPE_WORK/kagg.reload.$n"
                v=$(metric_value "$KPE_WORK/kagg.reload.$n" k_connect_total comm=nc addr=127.0.0.1 port=25)
                [ "$v" = "$K" ] || fail "after reload $n, k_connect_total{comm=\"nc\",port=\"25\"} is $v, want $K (kept)"
                v=$(metric_value "$KPE_WORK/kagg.reload.$n" k_result_total comm=nc ret=ECONNREFUSED)
                [ "$v" = "$R" ] || fail "after reload $n, k_result_total{ret=\"ECONNREFUSED\"} is $v, want $R (kept)"
                len=$(metric_value "$KPE_WORK/kagg.reload.$n" k_len_count comm=nc)
                has=$(guest_block kagg-trigger-$n | grep -c "name=kpe_kagg_k_len:")
                case $n in
                1 | 2) want="$((K + R + V)) 1" ;; # unchanged: kept, counts and all
                3) want="absent 0" ;;               # removed
                4) want="absent 1" ;;               # back: a new trigger, from zero
                esac
                [ "$len $has" = "$want" ] || fail "after reload $n: k_len_count{comm=\"nc\"} and its trigger: '$len $has', want '$want'"
                v=$(guest_block kagg-trigger-$n | grep -c "^hist:")
                [ "$v" = $([ $n = 3 ] && echo 4 || echo 5) ] || fail "after reload $n, conn has $v hist triggers: $(guest_block kagg-trigger-$n)"
        done
        log "4 reloads (unchanged twice, one metric out and back): the kernel's counts kept in the triggers kept"
fi

log "Prometheus scraped the guest"
v=$(prom_wait_value 'connect_total{addr="127.0.0.1",port="25"}' "$K")
[[ $v == "$K "* ]] && [ "$(wc -l <<<"$v")" = 1 ] ||
        fail "Prometheus: connect_total{addr=\"127.0.0.1\",port=\"25\"} is '$v', want one series of $K"
log "Prometheus: $v"

log "what the kernel printed for the seed's probe"
# (at +0x0, or +0x4 past the endbr64 of kernels built for IBT, 6.12)
raw=$(guest_block raw-trace | grep -c ': connect: (__sys_connect_file+0x[0-9a-f]*/0x[0-9a-f]*) type=2 port=6400 addr=16777343 comm="nc"$')
[ "$raw" = "$K" ] || fail "$raw raw records 'type=2 port=6400 addr=16777343', want $K: $(guest_block raw-trace)"
guest_block raw-trace | grep -m1 'port=6400' | sed 's/^/#   /'

log "the shipped config/probes.yaml, unchanged, in the same guest"
guest_block default-metrics >"$KPE_WORK/default.metrics"
guest_block default-probes >"$KPE_WORK/default.probes"
v=$(json_get "$KPE_WORK/default.probes" '{p["name"]: p["state"] for p in j["probes"]}')
[ "$v" = '{"connect": "registered", "connect_ret": "registered", "tcp_connect": "registered", "connect_enter": "registered", "connect_exit": "registered"}' ] ||
        fail "shipped config: /probes states: $v: $(guest_block default.err)"
for q in "$K connect_total comm=nc addr=127.0.0.1 port=25" "$R connect_errors_total comm=nc ret=ECONNREFUSED"; do
        set -- $q
        v=$(metric_value "$KPE_WORK/default.metrics" "${@:2}")
        [ "$v" = "$1" ] || fail "shipped config: ${*:2} is $v, want $1"
done
# The tracepoint's comm is the kernel's cached one: count by destination.
v=$(metric_sum "$KPE_WORK/default.metrics" tcp_connect_total family=AF_INET daddr=127.0.0.1 dport=25)
[ "$v" = "$K" ] || fail "shipped config: tcp_connect_total to 127.0.0.1:25 sums to $v, want $K"
[ "$(guest_fact default.exit)" = 0 ] || fail "the shipped config's daemon exited with $(guest_fact default.exit) on SIGTERM"

log "functions this kernel does not probe: blacklisted, notrace"
read -r BL NT <<<"$(guest_fact unprobeable)"
[ -n "$BL" ] && [ -n "$NT" ] || fail "the guest found no blacklisted or notrace function: '$(guest_fact unprobeable)'"
check=$(guest_block unprobeable.check)
for want in "probe 'blacklisted' would fail on this kernel: '$BL' is on the kprobes blacklist" \
        "probe 'notrace' may be refused by this kernel: '$NT' is not in available_filter_functions"; do
        [[ $check == *"$want"* ]] || fail "--config.check does not say \"$want\": $check"
done
err=$(guest_block unprobeable.err)
# The blacklisted one is never written; the notrace one is, and the
# kernel's refusal comes with why.
[ "$(guest_fact unprobeable.exit)" = 1 ] || fail "a daemon with only unprobeable functions exited with $(guest_fact unprobeable.exit): $err"
for want in "probe 'blacklisted' (kprobe $BL) failed: '$BL' is on the kprobes blacklist" \
        "probe 'notrace' (kprobe $NT) failed: " "'$NT' is not in available_filter_functions: it is notrace" \
        "No probe could be registered"; do
        [[ $err == *"$want"* ]] || fail "the daemon does not say \"$want\": $err"
done
log "blacklisted: $BL; notrace: $NT"
# The kernel agrees: it refuses each when written by hand, and says why
# for notrace in its log; and it takes $arg<N> in a kretprobe exactly when
# the daemon detected that it does.
for probe in blacklisted notrace classic; do
        [ "$(guest_fact kernel-takes.$probe)" = no ] || fail "the kernel took the $probe probe the daemon judged unprobeable"
done
want=$([ "$RET_ARGS" = true ] && echo yes || echo no)
[ "$(guest_fact kernel-takes.ret_arg)" = $want ] ||
        fail "the kernel's answer to \$arg2 in a kretprobe is '$(guest_fact kernel-takes.ret_arg)', the daemon detected retprobe_arg_n=$RET_ARGS"
guest_block dmesg.notrace | grep -F "Could not probe notrace function $NT" >/dev/null ||
        fail "the kernel's log does not say that $NT is notrace: $(guest_block dmesg.notrace)"
grep -F "probe 'notrace'" <<<"$err" | sed 's/^/#   /'
guest_go stop

log "SIGTERM: the daemon leaves nothing of its own in tracefs"
vm_wait_off
if [ "$KAGG" = yes ]; then
        log "the kernel-aggregating daemon: reloads while connects flow, SIGTERM, SIGKILL and --cleanup"
        read -r F reloads <<<"$(guest_fact kagg-flow)"
        [ "$reloads" = 6 ] || fail "reloads while connects flowed: $reloads of 6 done"
        guest_block kagg-flow >"$KPE_WORK/kagg.flow"
        kagg_compare "$KPE_WORK/kagg.flow" "$K" "$R" "$V" "$F" ||
                fail "after 2 reloads while $F connects flowed, kernel against user space (above)"
        log "2 reloads while $F connects flowed: kernel and user space still agree"
        for run in 1 2; do
                # synthetic events and instance left by the SIGKILL; --cleanup's status; what is left after it
                [ "$(guest_fact kagg-crash-$run)" = "1 1 0 0 0" ] ||
                        fail "SIGKILL, then --cleanup (run $run): '$(guest_fact kagg-crash-$run)', want '1 1 0 0 0': $(guest_block kagg-cleanup-$run) $(guest_block kagg-crash-log-$run)"
        done
        log "after SIGKILL (twice), --cleanup removed the triggers, the synthetic event, the instance and the probes: $(guest_block kagg-cleanup-1 | tail -1)"
        [ "$(guest_fact kagg.exit)" = 0 ] || fail "the kernel-aggregating daemon exited with $(guest_fact kagg.exit): $(guest_block kagg.err)"
        [ "$(guest_fact kagg-leftovers)" = "0 0" ] ||
                fail "after SIGTERM the kernel holds probes, synthetic events or the instance of kpe_kagg: $(guest_fact kagg-leftovers)"
fi
[ "$(guest_fact daemon.1.exit)" = 0 ] || fail "the daemon exited with $(guest_fact daemon.1.exit) on SIGTERM"
assert_tracefs_clean stopped
v=$(guest_block kprobe_events.stopped)
[ -z "$v" ] || fail "kprobe_events is not empty after both daemons stopped: $v"
v=$(guest_block instances.stopped | grep -xE 'kpe_default|kpe_unprobeable')
[ -z "$v" ] || fail "instances left: $v"

# What this run proved on this kernel, for the README's table.
mkdir -p "$RESULTS"
python3 - "$KPE_WORK/probes.json" "$FLAVOR" "$ARCH" "$KPE_BIN" "$KAGG" >"$RESULTS/$FLAVOR.json.part" <<'EOF' || fail "writing the results"
import hashlib, json, sys
probes, flavor, arch, kagg = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[5] == "yes"
# Which build proved it: the table's check takes only this build's results.
build = hashlib.sha256(open(sys.argv[4], "rb").read()).hexdigest()
reg = "%si" if arch == "x86_64" else "%x1"
print(json.dumps({
    "flavor": flavor,
    "build": build,
    "release": probes["kernel"]["release"],
    "machine": probes["kernel"]["machine"],
    "features": probes["kernel"]["features"],
    "proven": ["kprobe ($arg2)", f"kprobe ({reg})", "kretprobe (errno)",
               "kretprobe with $arg2" if probes["kernel"]["features"]["retprobe_arg_n"]
               else "kretprobe with $arg2 reported unavailable (the kernel refuses it too)",
               "IPv6 decode", "tracepoint", "latency histograms (kprobe to kretprobe by thread; by socket)",
               "kernel aggregation (hist triggers, synthetic-event latency) equal to user space" if kagg
               else "kernel aggregation reported unavailable (no hist triggers)",
               "shipped config", "symbol suggestions", "blacklisted and notrace functions reported", "clean shutdown"],
}, indent=1))
EOF
mv "$RESULTS/$FLAVOR.json.part" "$RESULTS/$FLAVOR.json"
log "pass ($FLAVOR: $RELEASE)"
