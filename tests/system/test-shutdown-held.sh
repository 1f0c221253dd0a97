#!/bin/bash
# Shutdown tells the truth: when something of ours cannot be removed (here
# another process, the test shell, holds a file of our instance open, so
# rmdir instances/NAME fails with EBUSY), SIGTERM logs what is left and that
# `kprobe-exporter --cleanup` removes it, and exits 1; once the holder is
# gone, --cleanup removes the leftovers and exits 0.
. "$(dirname "$0")/lib.sh"

kpe_init held
# The fd must be closed before kpe_cleanup removes our instance, however
# the test ends.
KPE_CLEANUP_FIRST='exec 9<&-'

connector_config "$KPE_WORK/probes.yaml"
start_daemon "$KPE_WORK/probes.yaml"
"$KPE_CONNECTOR" call 2 || fail "connector call failed"
v=$(wait_metric 2 connect_total comm=connector)
[ "$v" = 2 ] || fail "connect_total{comm=\"connector\"} is $v, want 2"

INST="$TRACEFS/instances/$KPE_NAME"
exec 9<"$INST/tracing_on" || fail "could not open $INST/tracing_on"

stop_daemon TERM
rc=$?
log "daemon exited with status $rc"
[ -d "$INST" ] || fail "the instance is gone although $INST/tracing_on was held open: this kernel lets rmdir succeed"
[ $rc = 1 ] || fail "SIGTERM with the instance held: exit status $rc, want 1"
grep -qE "^<3>Removing instance $INST failed: Device or resource busy" "$KPE_ERR" ||
        fail "the log does not say the instance could not be removed: $(grep -E '^<[0-4]>' "$KPE_ERR" | tail -n 5)"
grep -q -- "--cleanup" "$KPE_ERR" || fail "the log does not mention --cleanup: $(tail -n 3 "$KPE_ERR")"
grep -q "our probes and instance are removed" "$KPE_ERR" &&
        fail "the log claims everything was removed: $(grep 'removed' "$KPE_ERR")"
# What the log says is left must be what is left: the probe could be
# removed (it was disabled with the instance's events), the instance not.
lines=$(group_probe_lines "$KPE_NAME")
if [ -n "$lines" ]; then
        grep -q "Removing probe $KPE_NAME/connect failed" "$KPE_ERR" ||
                fail "the probe $KPE_NAME/connect is left but the log does not say so: $lines"
fi

log "--cleanup while the fd is still held: must not claim success either"
run_daemon --cleanup --tracefs.instance="$KPE_NAME"
rc=$?
[ $rc != 0 ] || fail "--cleanup with the instance held exited 0: $(cat "$KPE_WORK/run.err")"
[ -d "$INST" ] || fail "--cleanup removed a held instance?"

log "close the fd, then --cleanup removes the leftovers"
exec 9<&-
run_daemon --cleanup --tracefs.instance="$KPE_NAME"
rc=$?
[ $rc = 0 ] || fail "--cleanup exited with status $rc: $(cat "$KPE_WORK/run.err")"
assert_no_leftovers "after --cleanup"
log "pass"
