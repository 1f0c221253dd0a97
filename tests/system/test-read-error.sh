#!/bin/bash
# trace_pipe (or trace_pipe_raw) read errors: the daemon says so, stops answering /healthz, and
# exits non-zero after removing its probes and instance (under systemd,
# Restart=on-failure brings it back). The error is injected with an
# LD_PRELOAD shim (readfail.so) that fails read() on trace_pipe with EIO once
# a flag file exists.
. "$(dirname "$0")/lib.sh"

kpe_init readerr
[ -r "${KPE_READFAIL_SO:-}" ] || fail "KPE_READFAIL_SO is not set to the shim"
[ -n "${KPE_WRAPPER:-}" ] && skip "the shim does not combine with KPE_WRAPPER (valgrind)"
connector_config "$KPE_WORK/probes.yaml"

export KPE_READFAIL="$KPE_WORK/fail-now"
# Under AddressSanitizer the shim comes after ASan's runtime in the list.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        LD_PRELOAD="$KPE_READFAIL_SO" start_daemon "$KPE_WORK/probes.yaml"
"$KPE_CONNECTOR" call 2 || fail "connector call failed"
v=$(wait_metric 2 connect_total comm=connector)
[ "$v" = 2 ] || fail "before the fault: connect_total is $v, want 2"

touch "$KPE_READFAIL"
"$KPE_CONNECTOR" call 1 || fail "connector call failed" # wakes the reader
wait_pid_gone 10 "$KPE_PID" || fail "the daemon did not exit after trace_pipe read errors"
wait "$KPE_PID"
rc=$?
KPE_PID=""
[ "$rc" -ne 0 ] || fail "the daemon exited 0 after a trace_pipe read error"
grep -Eq "<3>Reading (trace_pipe|per_cpu/cpu[0-9]+/trace_pipe_raw) failed: Input/output error" "$KPE_ERR" ||
        fail "no error message: $(cat "$KPE_ERR")"
assert_no_leftovers "after the read error"
log "exit status $rc, probes and instance removed"
