#!/bin/bash
# SIGHUP while events flow, every event a new label set: the daemon stays
# alive, and the probe the reload keeps counts every call exactly once,
# whether its events were read before, during or after the switch.
# Rounds 1 and 2 make sure events are waiting in trace_pipe at the reload:
# the daemon is stopped (SIGSTOP) while the flood is made, then gets SIGHUP
# and SIGCONT. Round 1 adds a probe; round 2 removes one, and the kernel
# empties our instance's buffer when a probe that was enabled in it is
# removed (seen on 6.18), so what is waiting must be read before that.
# Rounds 3 and 4 send SIGHUP in the middle of a flood, with reloads that
# remove nothing from the kernel (an added probe, changed labels).
. "$(dirname "$0")/lib.sh"

kpe_init rlflood
REG=$(arg2_register)
OFF=$(connector_offset)
# Round 2 buffers 2 x 12000 events: more than the daemon reads in one go
# (each read of trace_pipe gives a page or less), but within the kernel's
# buffer of our instance (1.4 MB per CPU by default), so none are lost even
# if the daemon (say under valgrind) does not read at all meanwhile.
FLOOD=12000

# $1: the probe 'extra': none, a, or b (a with other labels: the same in
# the kernel). 'connect' is the same in all.
write_config() {
        local extra_labels="[port, addr]"
        [ "$1" = b ] && extra_labels="[addr]"
        {
                cat <<EOF
max_series: 100000
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16]
    decode: {port: ntohs}
    metrics:
      - name: connect_total
        labels: [port]
EOF
                if [ "$1" != none ]; then
                        cat <<EOF
  - name: extra
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16, addr=+4($REG):u32]
    decode: {addr: ipv4}
    metrics:
      - name: extra_total
        labels: $extra_labels
EOF
                fi
        } >"$KPE_WORK/probes.yaml.tmp"
        mv "$KPE_WORK/probes.yaml.tmp" "$KPE_WORK/probes.yaml"
}

calls=0
# Waits for, and checks, connect's counts after $calls calls, each with a
# port of its own (1 .. $calls).
check_counts() {
        local when=$1 v f=$KPE_WORK/metrics.txt
        v=$(wait_metric "$calls" kprobe_exporter_events_total probe=connect)
        assert_daemon_alive "$when"
        [ "$v" = "$calls" ] || fail "$when: kprobe_exporter_events_total{probe=\"connect\"} is $v, want $calls" \
                "(lost events reported: $(lost_events_sum "$f"))"
        v=$(metric_sum "$f" connect_total)
        [ "$v" = "$calls" ] || fail "$when: connect_total sums to $v, want $calls"
        v=$(metric_value "$f" kprobe_exporter_series metric=connect_total)
        [ "$v" = "$calls" ] || fail "$when: connect_total has $v series, want $calls (one per port)"
        v=$(metric_value "$f" connect_total port=$calls)
        [ "$v" = 1 ] || fail "$when: connect_total{port=\"$calls\"} is $v, want 1"
        v=$(metric_value "$f" kprobe_exporter_probe_up probe=connect)
        [ "$v" = 1 ] || fail "$when: kprobe_exporter_probe_up{probe=\"connect\"} is $v, want 1"
        v=$(lost_events_sum "$f")
        [ "$v" = 0 ] || fail "$when: the kernel reports $v lost events: the flood is too big for this test"
}

write_config none
start_daemon "$KPE_WORK/probes.yaml"

# $1 round, $2 the config of 'extra' to reload to, $3 the reload it is
# (that many "Reloaded:" lines then), $4 the summary it must log.
buffered_round() {
        local round=$1 last
        log "round $round: $FLOOD calls buffered while the daemon is stopped, then SIGHUP (extra: $2)"
        kill -STOP "$KPE_PID" || fail "SIGSTOP"
        "$KPE_CONNECTOR" flood "$FLOOD" $((calls + 1)) || { kill -CONT "$KPE_PID"; fail "connector flood failed"; }
        calls=$((calls + FLOOD))
        write_config "$2"
        kill -HUP "$KPE_PID" || fail "SIGHUP"
        kill -CONT "$KPE_PID" || fail "SIGCONT"
        wait_log_count 'Reloaded: ' "$3" 30 || { assert_daemon_alive "round $round"; fail "round $round: no reload logged"; }
        assert_daemon_alive "round $round, after the reload"
        last=$(grep 'Reloaded:' "$KPE_ERR" | tail -n 1)
        [ "$last" = "<6>Reloaded: $4" ] || fail "round $round: '$last', want '$4'"
        check_counts "round $round"
}

buffered_round 1 a 1 "1 probe(s) kept with their counters, 0 removed, 1 registered"
buffered_round 2 none 2 "1 probe(s) kept with their counters, 1 removed, 0 registered"

round=2
for extra in a b; do
        round=$((round + 1))
        log "round $round: SIGHUP in the middle of a flood of $FLOOD calls (extra: $extra)"
        "$KPE_CONNECTOR" flood "$FLOOD" $((calls + 1)) 10 &
        flood_pid=$!
        KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $flood_pid"
        sleep 0.02
        write_config $extra
        reload_daemon
        wait "$flood_pid" || fail "round $round: connector flood failed"
        calls=$((calls + FLOOD))
        check_counts "round $round"
done

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
