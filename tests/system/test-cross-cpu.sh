#!/bin/bash
# Latency pairing across CPUs: connector's kpe_hop_target is called on one
# CPU and returns on another (the thread pins itself to one of two CPUs
# before each call; the call moves it to the other, sleeps 100, 120 or 140
# us there and returns; the calls alternate between both ways). A uprobe at
# its entry and a uretprobe at its return make a latency histogram
# (latency_from) labelled with the entry's argument and the return's value:
# every return must find its own entry, so the reader must hand the records
# of both CPUs over in time order. A return read before its entry counts as
# unmatched no_entry, or takes an older entry of another call (a series
# whose us and ret differ). The binary reader reads each CPU's buffer on
# its own (per_cpu/cpuN/trace_pipe_raw) and merges them by timestamp; the
# text reader's trace_pipe is merged by the kernel. Thousands of calls,
# because a reader that hands one CPU's page over before an older one of
# another CPU may get only some of them wrong. KPE_HOP_N overrides their
# number. The second round adds bursts of another probe's events on one of
# the two CPUs: a reader that reads many pages of that CPU in a row must
# ask the other one again for what it recorded meanwhile. The test enlarges
# that CPU's buffer in its instance so that the bursts (300,000 events in
# all) fit, and nothing is lost even if the daemon is slow (under
# valgrind). The probes are on a copy of the connector of the test's own.
. "$(dirname "$0")/lib.sh"

kpe_init xcpu
case "$(uname -m)" in
x86_64) REG1=%di ;;
aarch64) REG1=%x0 ;;
*) skip "no known register for the 1st argument on $(uname -m)" ;;
esac
cpus=$(nproc 2>/dev/null || echo 1)
[ "$cpus" -ge 2 ] || skip "this test needs 2 CPUs to run on, this machine (or cpuset) has $cpus"
# A uprobe is on a file: on a copy of our own, the test counts no other
# test's connector calls, and they none of ours.
mkdir "$KPE_WORK/bin" && cp "$KPE_CONNECTOR" "$KPE_WORK/bin/connector" || fail "cannot copy the connector"
CONNECTOR=$KPE_WORK/bin/connector
OFF=$("$CONNECTOR" offset hop) || fail "connector offset hop failed"
N=${KPE_HOP_N:-3000}
BURSTS=20 BURST=15000
US="100 120 140" # the calls' durations, in turn
[ $((N % 6)) = 0 ] || fail "KPE_HOP_N must be a multiple of 6 (half the calls go each way, a third sleep each US)"
ROUNDS=2

cat >"$KPE_WORK/probes.yaml" <<EOF
recent_events: 64
probes:
  - name: hop_entry
    type: uprobe
    target: $CONNECTOR:$OFF
    fetch: [us=$REG1:u64]
    metrics:
      - name: hop_entries_total
        labels: [comm, cpu]
  - name: hop_return
    type: uretprobe
    target: $CONNECTOR:$OFF
    fetch: [ret=\$retval:u64]
    metrics:
      - name: hop_returns_total
        labels: [comm, cpu]
      - name: hop_duration_seconds
        help: Time kpe_hop_target took, from its entry on one CPU to its return on another.
        type: histogram
        latency_from: hop_entry
        buckets: [0.0001, 0.001, 0.01, 0.1, 1]
        labels: [comm, us, ret]     # us of the entry, ret of the return: equal when paired right
  - name: burst
    type: uprobe
    target: $CONNECTOR:$("$CONNECTOR" offset)
    metrics:
      - name: burst_total
EOF

command -v taskset >/dev/null 2>&1 || fail "missing taskset (Debian package util-linux)"
start_daemon "$KPE_WORK/probes.yaml"

bursts=0
for ((round = 1; round <= ROUNDS; round++)); do
        burster=""
        if [ "$round" = 2 ]; then
                # on the CPU the hops go to first, while they run; its
                # buffer holds them all (16 MiB; the default is 1.4)
                echo 16384 >"$TRACEFS/instances/$KPE_NAME/per_cpu/cpu$to/buffer_size_kb" ||
                        fail "cannot set per_cpu/cpu$to/buffer_size_kb of our instance"
                (
                        for ((i = 0; i < BURSTS; i++)); do
                                taskset -c "$to" "$CONNECTOR" call $BURST || exit 1
                                sleep 0.02
                        done
                ) &
                burster=$!
                KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $burster"
                bursts=$((BURSTS * BURST))
        fi
        # shellcheck disable=SC2086 # US is a list
        "$CONNECTOR" hop "$N" $US >"$KPE_WORK/hop.out" 2>"$KPE_WORK/hop.err"
        rc=$?
        if [ -n "$burster" ]; then
                wait "$burster" || fail "the bursts of connector call failed"
        fi
        [ $rc = 3 ] && skip "connector hop: $(cat "$KPE_WORK/hop.err")"
        [ $rc = 0 ] || fail "connector hop $N failed ($rc): $(cat "$KPE_WORK/hop.err")"
        read -r from to <"$KPE_WORK/hop.out" || fail "connector hop printed no CPUs"
        [ "$round" = 1 ] && log "$N calls per round, half from CPU $from to CPU $to, half back"
        want=$((round * N))

        # Every event counted, on the CPU it was meant to run on: half the
        # entries and half the returns on each (a call returns on the other).
        v=$(wait_metric_sum "$want" hop_returns_total comm=connector)
        [ "$v" = "$want" ] || fail "round $round: $v returns counted, want $want"
        if [ "$bursts" -gt 0 ]; then
                v=$(wait_metric "$bursts" burst_total)
                [ "$v" = "$bursts" ] || fail "round $round: burst_total is $v, want $bursts"
        fi
        for check in "hop_entries_total $from" "hop_entries_total $to" "hop_returns_total $from" "hop_returns_total $to"; do
                set -- $check
                v=$(metric_value "$KPE_WORK/metrics.txt" "$1" comm=connector cpu="$2")
                [ "$v" = $((want / 2)) ] || {
                        grep -E '^hop_' "$KPE_WORK/metrics.txt" >&2
                        fail "round $round: $1{cpu=\"$2\"} is $v, want $((want / 2)): the calls did not move between CPUs as planned"
                }
        done

        # Each return paired with its own entry: the histogram has them
        # all, each under its own call's us (the entry's) and ret (the
        # return's), nothing unmatched, no entry left waiting.
        # shellcheck disable=SC2086
        python3 - "$KPE_WORK/metrics.txt" "$want" $US <<'EOF' || fail "round $round: pairing across CPUs"
import sys
import promtext

path, want, us = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
all_samples = promtext.samples(path)
samples = {}
for n, l, v in all_samples:
    samples.setdefault(n, []).append((l, v))

def get(name, **labels):
    v = promtext.value(all_samples, name, **labels)
    return "absent" if v is None else v

bad = []
counts = {(l.get("us"), l.get("ret")): int(v) for l, v in samples.get("hop_duration_seconds_count", [])}
total = sum(counts.values())
if total != want:
    bad.append(f"hop_duration_seconds_count sums to {total}, want {want}")
wrong = {k: v for k, v in counts.items() if k[0] != k[1]}
if wrong:
    bad.append(f"returns paired with another call's entry (us, ret): {wrong}")
for u in us:
    if counts.get((u, u), 0) != want // len(us):
        bad.append(f"hop_duration_seconds_count{{us={u},ret={u}}} {counts.get((u, u), 0)}, want {want // len(us)}")
for reason in ("no_entry", "evicted", "expired"):
    v = get("kprobe_exporter_unmatched_total", metric="hop_duration_seconds", reason=reason)
    if v != "0":
        bad.append(f"kprobe_exporter_unmatched_total{{reason={reason}}} {v}, want 0")
lost = sum(float(v) for _, v in samples.get("kprobe_exporter_lost_events_total", []))
if lost:
    bad.append(f"the kernel lost {lost:.0f} events (the test's premise fails)")
# Each call slept 100 us or more: none paired right can be shorter.
short = sum(int(v) for l, v in samples.get("hop_duration_seconds_bucket", []) if l.get("le") == "0.0001")
if short:
    bad.append(f"{short} calls shorter than 100 us")
if bad:
    sys.exit("; ".join(bad))
print(f"# {total} calls paired across CPUs, none unmatched")
EOF
done

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
