#!/bin/bash
# Two reloads in a row with the config unchanged: both keep every probe
# registered with its counters (a uprobe and a tracepoint), each probe stays
# up, the kernel holds the same single probe line, and SIGTERM then leaves
# nothing behind.
. "$(dirname "$0")/lib.sh"

kpe_init rlsame
[ -d "$TRACEFS/events/sock/inet_sock_set_state" ] ||
        skip "no tracepoint sock/inet_sock_set_state in $TRACEFS/events"
REG=$(arg2_register)
OFF=$(connector_offset)
# The tracepoint counts only connects to this range of ports: the scrapes'
# own connects to the daemon must not count.
TP_LO=1200
TP_HI=1300

cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16]
    filter: port != 0
    decode: {port: ntohs}
    metrics:
      - name: connect_total
        labels: [comm, port]
  - name: tcp_connect
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: "newstate == 2 && dport >= $TP_LO && dport < $TP_HI"
    metrics:
      - name: tcp_connect_total
        labels: [dport]
EOF

calls=0 connects=0
# $1 uprobe calls, $2 TCP connects; then waits for and checks both counts.
generate_and_check() {
        local v when=$3
        "$KPE_CONNECTOR" call "$1" 25 || fail "connector call failed"
        "$KPE_CONNECTOR" tcpflood "$2" "$TP_LO" || fail "connector tcpflood failed"
        calls=$((calls + $1))
        connects=$((connects + $2))
        v=$(wait_metric "$calls" connect_total comm=connector port=25)
        [ "$v" = "$calls" ] || fail "$when: connect_total{comm=\"connector\",port=\"25\"} is $v, want $calls"
        v=$(wait_metric_sum "$connects" tcp_connect_total)
        [ "$v" = "$connects" ] || fail "$when: tcp_connect_total sums to $v, want $connects"
        local f=$KPE_WORK/metrics.txt
        v=$(metric_value "$f" kprobe_exporter_events_total probe=connect)
        [ "$v" = "$calls" ] || fail "$when: kprobe_exporter_events_total{probe=\"connect\"} is $v, want $calls"
        v=$(metric_value "$f" kprobe_exporter_events_total probe=tcp_connect)
        [ "$v" = "$connects" ] || fail "$when: kprobe_exporter_events_total{probe=\"tcp_connect\"} is $v, want $connects"
        for p in connect tcp_connect; do
                v=$(metric_value "$f" kprobe_exporter_probe_up probe=$p)
                [ "$v" = 1 ] || fail "$when: kprobe_exporter_probe_up{probe=\"$p\"} is $v, want 1"
        done
        [ "$(lost_events_sum "$f")" = 0 ] || fail "$when: the kernel lost events (test too big for the buffer?)"
}

start_daemon "$KPE_WORK/probes.yaml"
generate_and_check 5 4 "before any reload"
# Whether the initial load counts as a reload is the daemon's choice: the
# two reloads count from what the first scrape shows (absent: 0).
base_success=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_config_reloads_total result=success)
base_failure=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_config_reloads_total result=failure)
[ "$base_success" = absent ] && base_success=0
[ "$base_failure" = absent ] && base_failure=0
line=$(group_probe_lines "$KPE_NAME")
[ "$(wc -l <<<"$line")" = 1 ] || fail "want one probe line of group $KPE_NAME, have: $line"
want_enabled=$(printf '%s\n' "$KPE_NAME/connect" sock/inet_sock_set_state | sort)

for n in 1 2; do
        reload_daemon
        assert_daemon_alive "after unchanged reload $n"
        [ "$KPE_RELOAD_LINE" = "<6>Reloaded: 2 probe(s) kept with their counters, 0 removed, 0 registered" ] ||
                fail "unchanged reload $n logged '$KPE_RELOAD_LINE', want 2 kept, 0 removed, 0 registered;" \
                        "errors: $(grep '^<[0-3]>' "$KPE_ERR" | tail -n 3)"
        generate_and_check $((2 + n)) $((1 + n)) "after unchanged reload $n"
        now=$(group_probe_lines "$KPE_NAME")
        [ "$now" = "$line" ] || fail "after unchanged reload $n the probe lines of $KPE_NAME are '$now', want '$line'"
        enabled=$(instance_enabled_events)
        [ "$enabled" = "$want_enabled" ] ||
                fail "after unchanged reload $n the events enabled in our instance are '$enabled', want '$want_enabled'"
done

f=$KPE_WORK/metrics.txt
v=$(metric_value "$f" kprobe_exporter_config_reloads_total result=success)
[ "$v" = $((base_success + 2)) ] ||
        fail "kprobe_exporter_config_reloads_total{result=\"success\"} is $v, want $((base_success + 2))"
v=$(metric_value "$f" kprobe_exporter_config_reloads_total result=failure)
[ "$v" = "$base_failure" ] ||
        fail "kprobe_exporter_config_reloads_total{result=\"failure\"} is $v, want $base_failure"
v=$(metric_value "$f" kprobe_exporter_config_last_reload_successful)
[ "$v" = 1 ] || fail "kprobe_exporter_config_last_reload_successful is $v, want 1"

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
