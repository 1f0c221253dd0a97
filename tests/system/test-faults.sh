#!/bin/bash
# Faults a user runs into: the kernel refusing a fetch arg or a filter, a
# taken port, a second daemon with the same instance name, a log reader that
# goes away. Each gets a clear error and leaves tracefs as it was.
. "$(dirname "$0")/lib.sh"

kpe_init faults
REG=$(arg2_register)
OFF=$(connector_offset)

cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
  - name: good
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16]
    decode: {port: ntohs}
    metrics:
      - name: good_total
        labels: [port]
  - name: badarg
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [x=+0(%nosuchreg):u16]
  - name: badfilter
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16]
    filter: nosuchfield == 1
EOF

log "the kernel refuses a fetch arg and a filter: both reported, in its words; the good probe runs"
start_daemon "$KPE_WORK/probes.yaml"
fetch_ok /probes "$KPE_WORK/probes.json"
for p in badarg badfilter; do
        state=$(json_get "$KPE_WORK/probes.json" "[p['state'] for p in j['probes'] if p['name'] == '$p'][0]")
        err=$(json_get "$KPE_WORK/probes.json" "[p['error'] for p in j['probes'] if p['name'] == '$p'][0]")
        [ "$state" = failed ] || fail "$p is $state, want failed"
        [ -n "$err" ] && [ "$err" != null ] || fail "$p has no error text"
        log "$p: ${err%%$'\n'*}"
done
# A probe whose filter was refused must not linger in the kernel (an
# unfiltered event would count everything).
group_probe_lines "$KPE_NAME" | grep -q "/badfilter " && fail "badfilter is still defined in uprobe_events"
group_probe_lines "$KPE_NAME" | grep -q "/badarg " && fail "badarg is defined in uprobe_events"
"$KPE_CONNECTOR" call 2 || fail "connector call failed"
v=$(wait_metric 2 good_total port=25)
[ "$v" = 2 ] || fail "good_total is $v, want 2"
# The kernel's multi-line error_log text keeps its priority on every line.
grep -n "Command:" "$KPE_ERR" | grep -qv "<3>" && fail "a line of the kernel's error text lost its <3> prefix: $(grep Command: "$KPE_ERR")"

log "a second daemon with the same instance name is refused and changes nothing"
tracefs_snapshot >"$KPE_WORK/before"
first_pid=$KPE_PID
run_daemon --config.file="$KPE_WORK/probes.yaml" --tracefs.instance="$KPE_NAME" \
        --web.listen-address="127.0.0.1:$(free_port)" && fail "a second daemon with instance $KPE_NAME started"
grep -q "is another kprobe-exporter with --tracefs.instance=$KPE_NAME running" "$KPE_WORK/run.err" ||
        fail "second daemon: unclear error: $(cat "$KPE_WORK/run.err")"
tracefs_snapshot >"$KPE_WORK/after"
assert_snapshot_same "$KPE_WORK/before" "$KPE_WORK/after" "a refused second daemon"
pid_alive "$first_pid" || fail "the first daemon died"
"$KPE_CONNECTOR" call 1 || fail "connector call failed"
v=$(wait_metric 3 good_total port=25)
[ "$v" = 3 ] || fail "the first daemon stopped counting: good_total is $v, want 3"

log "a taken port: exit 1 before anything is written to the kernel"
run_daemon --config.file="$KPE_WORK/probes.yaml" --tracefs.instance="${KPE_NAME}_b" \
        --web.listen-address="127.0.0.1:$KPE_PORT" && fail "a daemon started on a taken port"
grep -q "Cannot listen on 127.0.0.1:$KPE_PORT" "$KPE_WORK/run.err" || fail "taken port: $(cat "$KPE_WORK/run.err")"
[ -e "$TRACEFS/instances/${KPE_NAME}_b" ] && fail "a daemon that could not listen created its instance"
[ -z "$(group_probe_lines "${KPE_NAME}_b")" ] || fail "a daemon that could not listen registered probes"
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"

log "stderr to a pipe whose reader is gone: SIGTERM still cleans up"
KPE_PORT=$(free_port)
# The log reader (head) exits after the first line; later log lines hit a
# closed pipe. Without SIGPIPE ignored that would kill the daemon mid-cleanup.
# shellcheck disable=SC2086
${KPE_WRAPPER:-} "$KPE_BIN" --config.file="$KPE_WORK/probes.yaml" --tracefs.instance="$KPE_NAME" \
        --web.listen-address="127.0.0.1:$KPE_PORT" 2>&1 >/dev/null | head -1 >/dev/null &
for ((i = 0; i < 100; i++)); do
        KPE_PID=$(pgrep -f -n -- "--tracefs.instance=$KPE_NAME --web.listen-address=127.0.0.1:$KPE_PORT" || true)
        [ -n "$KPE_PID" ] && curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$KPE_PORT/healthz" 2>/dev/null && break
        sleep 0.1
done
[ -n "$KPE_PID" ] || fail "the daemon with a piped stderr did not start"
kill -TERM "$KPE_PID"
wait_pid_gone 10 "$KPE_PID" || fail "the daemon did not exit after SIGTERM"
KPE_PID=""
wait
assert_no_leftovers "after SIGTERM with a closed log pipe"
log "pass"
