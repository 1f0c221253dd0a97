#!/bin/bash
# The daemon owns its group and instance and nothing else: SIGTERM removes
# them; after a kill -9 the next start, or --cleanup, removes the leftovers;
# another group's probe on the same function survives all of it.
. "$(dirname "$0")/lib.sh"

kpe_init shut
OTHER="kpe_other_$$"
OFFSET=$(connector_offset)

cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$OFFSET
    metrics:
      - name: connect_total
        labels: [comm]
EOF

add_foreign_probe "$OTHER" sentinel
assert_foreign_probe "$OTHER" sentinel "after registering it"

# Leftovers of a daemon that died without cleaning up.
assert_leftovers() {
        [ -d "$TRACEFS/instances/$KPE_NAME" ] || fail "$1: instance $KPE_NAME is gone, expected a leftover"
        group_probe_lines "$KPE_NAME" | grep -q "^p:$KPE_NAME/connect " ||
                fail "$1: probe $KPE_NAME/connect is gone, expected a leftover"
}

# A running daemon counts (so it really registered and enabled its probe).
assert_counts() {
        local v
        "$KPE_CONNECTOR" call 3 || fail "connector call failed"
        v=$(wait_metric 3 connect_total comm=connector)
        [ "$v" = 3 ] || fail "$1: connect_total{comm=\"connector\"} is $v, want 3"
}

log "1. start, SIGTERM: exits 0 and removes its group and instance"
start_daemon "$KPE_WORK/probes.yaml"
assert_leftovers "while running"
assert_counts "first run"
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM, want 0"
assert_no_leftovers "after SIGTERM"
assert_foreign_probe "$OTHER" sentinel "after SIGTERM"

log "2. start, SIGINT: the same"
start_daemon "$KPE_WORK/probes.yaml"
stop_daemon INT || fail "daemon exited with status $? on SIGINT, want 0"
assert_no_leftovers "after SIGINT"

log "3. start, kill -9: leftovers stay"
start_daemon "$KPE_WORK/probes.yaml"
stop_daemon KILL
assert_leftovers "after kill -9"
assert_foreign_probe "$OTHER" sentinel "after kill -9"

log "4. start over the leftovers: it cleans up and runs"
start_daemon "$KPE_WORK/probes.yaml"
assert_counts "start over leftovers"
n=$(group_probe_lines "$KPE_NAME" | wc -l)
[ "$n" = 1 ] || fail "start over leftovers: $n probe lines of group $KPE_NAME, want 1"
assert_foreign_probe "$OTHER" sentinel "after a start over leftovers"

log "5. kill -9, then --cleanup removes everything of ours"
stop_daemon KILL
assert_leftovers "after the second kill -9"
run_daemon --cleanup --tracefs.instance="$KPE_NAME"
rc=$?
[ $rc = 0 ] || fail "--cleanup exited with status $rc: $(cat "$KPE_WORK/run.err")"
assert_no_leftovers "after --cleanup"
assert_foreign_probe "$OTHER" sentinel "after --cleanup"

log "6. --cleanup with nothing to clean: still exit 0"
run_daemon --cleanup --tracefs.instance="$KPE_NAME"
rc=$?
[ $rc = 0 ] || fail "--cleanup of nothing exited with status $rc: $(cat "$KPE_WORK/run.err")"
assert_foreign_probe "$OTHER" sentinel "at the end"

log "pass"
