#!/bin/bash
# SIGHUP reloads the config: an unchanged probe stays registered and keeps
# its counters, a removed one leaves the kernel, a new one is registered; an
# invalid config is reported with file:line:column and changes nothing.
# kprobe_exporter_config_reloads_total{result} and
# kprobe_exporter_config_last_reload_successful say how reloads went.
. "$(dirname "$0")/lib.sh"

kpe_init reload
REG=$(arg2_register)
OFF=$(connector_offset)

write_config() { # $1: extra probes (YAML text)
        cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
$(seed_probe_yaml)
$1
EOF
}

# The reload metrics in the last scrape: $1 successes and $2 failures since
# the start (counted from what the first scrape showed: whether the initial
# load counts is the daemon's choice), $3 the last-reload-successful gauge;
# $4 when.
base_success=0 base_failure=0
reload_metric() { # $1 result; absent before the first reload counts as 0
        local v
        v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_config_reloads_total result="$1")
        echo "$v"
}
check_reload_metrics() {
        local f=$KPE_WORK/metrics.txt v
        v=$(reload_metric success)
        [ "$v" = $((base_success + $1)) ] ||
                fail "$4: kprobe_exporter_config_reloads_total{result=\"success\"} is $v, want $((base_success + $1))"
        v=$(reload_metric failure)
        [ "$v" = $((base_failure + $2)) ] ||
                fail "$4: kprobe_exporter_config_reloads_total{result=\"failure\"} is $v, want $((base_failure + $2))"
        v=$(metric_value "$f" kprobe_exporter_config_last_reload_successful)
        [ "$v" = "$3" ] || fail "$4: kprobe_exporter_config_last_reload_successful is $v, want $3"
}

write_config "  - name: doomed
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16]
    metrics:
      - name: doomed_total
        labels: [port]"
start_daemon "$KPE_WORK/probes.yaml"
fetch_ok /metrics "$KPE_WORK/metrics.txt"
base_success=$(reload_metric success)
base_failure=$(reload_metric failure)
[ "$base_success" = absent ] && base_success=0
[ "$base_failure" = absent ] && base_failure=0
"$KPE_CONNECTOR" call 5 || fail "connector call failed"
v=$(wait_metric 5 connect_total comm=connector addr=127.0.0.1 port=25)
[ "$v" = 5 ] || fail "before reload: connect_total is $v, want 5"
before_line=$(group_probe_lines "$KPE_NAME" | grep "^p:$KPE_NAME/connect ")

# Reload: doomed removed, fresh added (same function, port decoded).
write_config "  - name: fresh
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16]
    decode: {port: ntohs}
    metrics:
      - name: fresh_total
        labels: [port]"
kill -HUP "$KPE_PID"
for ((i = 0; i < 100; i++)); do
        grep -q "Reloaded:" "$KPE_ERR" && break
        sleep 0.1
done
grep -q "Reloaded: 1 probe(s) kept with their counters, 1 removed, 1 registered" "$KPE_ERR" ||
        fail "reload summary missing: $(grep -i reload "$KPE_ERR")"
lines=$(group_probe_lines "$KPE_NAME")
grep -q "^p:$KPE_NAME/doomed " <<<"$lines" && fail "doomed is still in uprobe_events after reload"
grep -q "^p:$KPE_NAME/fresh " <<<"$lines" || fail "fresh is not in uprobe_events after reload"
[ "$(grep "^p:$KPE_NAME/connect " <<<"$lines")" = "$before_line" ] || fail "connect's definition changed"

"$KPE_CONNECTOR" call 3 || fail "connector call failed"
v=$(wait_metric 8 connect_total comm=connector addr=127.0.0.1 port=25)
[ "$v" = 8 ] || fail "after reload: connect_total is $v, want 8 (5 kept + 3 new)"
v=$(wait_metric 3 fresh_total port=25)
[ "$v" = 3 ] || fail "after reload: fresh_total{port=\"25\"} is $v, want 3"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe=connect)
[ "$v" = 8 ] || fail "kprobe_exporter_events_total{probe=\"connect\"} is $v, want 8"
grep -q '^doomed_total' "$KPE_WORK/metrics.txt" && fail "doomed_total still exported"
grep -q 'probe="doomed"' "$KPE_WORK/metrics.txt" && fail "the removed probe still has series"
check_reload_metrics 1 0 1 "after a good reload"

# An invalid config: errors with file:line:column; the running one stays.
printf 'probes:\n  - name: connect\n    type: uprobe\n    colour: blue\n' >"$KPE_WORK/probes.yaml"
kill -HUP "$KPE_PID"
for ((i = 0; i < 100; i++)); do
        grep -q "the running config stays" "$KPE_ERR" && break
        sleep 0.1
done
grep -q "the running config stays" "$KPE_ERR" || fail "no message about the rejected reload"
grep -q "^<3>$KPE_WORK/probes.yaml:4:5: unknown key 'colour'" "$KPE_ERR" ||
        fail "the error does not say file:4:5: $(grep '<3>' "$KPE_ERR")"
"$KPE_CONNECTOR" call 2 || fail "connector call failed"
v=$(wait_metric 10 connect_total comm=connector addr=127.0.0.1 port=25)
[ "$v" = 10 ] || fail "after a rejected reload: connect_total is $v, want 10"
v=$(wait_metric 5 fresh_total port=25)
[ "$v" = 5 ] || fail "after a rejected reload: fresh_total is $v, want 5"
check_reload_metrics 1 1 0 "after a rejected reload"

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
