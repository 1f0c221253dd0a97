#!/bin/bash
# Config errors: the daemon exits 1, names every error as file:line:col,
# and touches nothing in tracefs. --config.check prints what it would write
# and touches nothing either.
. "$(dirname "$0")/lib.sh"

kpe_init badcfg
OFFSET=$(connector_offset)
port=$(free_port)

# Runs the daemon (not in check mode) on config $1; it must exit 1 without
# changing tracefs. Leaves its stderr in $KPE_WORK/run.err.
expect_config_error() {
        local config=$1 rc
        tracefs_snapshot >"$KPE_WORK/before"
        run_daemon --config.file="$config" --web.listen-address="127.0.0.1:$port" --tracefs.instance="$KPE_NAME"
        rc=$?
        tracefs_snapshot >"$KPE_WORK/after"
        [ $rc = 1 ] || fail "$(basename "$config"): exit status $rc, want 1; stderr: $(cat "$KPE_WORK/run.err")"
        assert_snapshot_same "$KPE_WORK/before" "$KPE_WORK/after" "$(basename "$config")"
        assert_no_leftovers "$(basename "$config")"
}

# Fails unless stderr names file:LINE:COL: for config $1 and line $2.
expect_error_at() {
        local config=$1 line=$2
        grep -qE "^$config:$line:[0-9]+: " "$KPE_WORK/run.err" ||
                fail "no '$config:$line:COL: ' error on stderr: $(cat "$KPE_WORK/run.err")"
}

log "a YAML syntax error (line 5)"
cat >"$KPE_WORK/syntax.yaml" <<EOF
recent_events: 100
probes:
  - name: connect
    type: uprobe
    target: a: b
EOF
expect_config_error "$KPE_WORK/syntax.yaml"
expect_error_at "$KPE_WORK/syntax.yaml" 5

log "two semantic errors: an unknown key (line 5), a bad metric name (line 7)"
cat >"$KPE_WORK/semantic.yaml" <<EOF
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$OFFSET
    colour: blue
    metrics:
      - name: bad-name_total
        labels: [comm]
EOF
expect_config_error "$KPE_WORK/semantic.yaml"
expect_error_at "$KPE_WORK/semantic.yaml" 5
expect_error_at "$KPE_WORK/semantic.yaml" 7
n=$(grep -cE "^$KPE_WORK/semantic.yaml:[0-9]+:[0-9]+: " "$KPE_WORK/run.err")
[ "$n" = 2 ] || fail "semantic.yaml: $n errors reported, want 2: $(cat "$KPE_WORK/run.err")"

log "--config.check of a bad config: exit 1, the same errors"
run_daemon --config.check --config.file="$KPE_WORK/semantic.yaml" --tracefs.instance="$KPE_NAME"
rc=$?
[ $rc = 1 ] || fail "--config.check of semantic.yaml: exit status $rc, want 1"
expect_error_at "$KPE_WORK/semantic.yaml" 5
expect_error_at "$KPE_WORK/semantic.yaml" 7

log "--config.check of a good config: prints the definition, exit 0, touches nothing"
cat >"$KPE_WORK/good.yaml" <<EOF
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$OFFSET
    fetch:
      - port=+2($(arg2_register)):u16
    decode:
      port: ntohs
    metrics:
      - name: connect_total
        labels: [comm, port]
EOF
tracefs_snapshot >"$KPE_WORK/before"
run_daemon --config.check --config.file="$KPE_WORK/good.yaml" --tracefs.instance="$KPE_NAME"
rc=$?
tracefs_snapshot >"$KPE_WORK/after"
[ $rc = 0 ] || fail "--config.check of good.yaml: exit status $rc: $(cat "$KPE_WORK/run.err")"
# The offset may be written with leading zeros, as the kernel lists it.
python3 - "$KPE_WORK/run.out" "p:$KPE_NAME/connect $KPE_CONNECTOR:" "$OFFSET" "port=+2($(arg2_register)):u16" <<'EOF' ||
import re, sys
out, head, offset, arg = sys.argv[1:]
want = re.escape(head) + "0x0*" + offset[2:] + " " + re.escape(arg) + r"(\s|$)"
sys.exit(0 if any(re.search(want, line.rstrip("\n")) for line in open(out)) else 1)
EOF
        fail "--config.check output lacks the definition 'p:$KPE_NAME/connect ...': $(cat "$KPE_WORK/run.out")"
assert_snapshot_same "$KPE_WORK/before" "$KPE_WORK/after" "--config.check"
assert_no_leftovers "--config.check"

log "pass"
