#!/bin/bash
# A daemon killed with SIGKILL leaves its probes and instance behind; the
# next start removes them and runs. In a VM with real kprobes, with the
# shipped config (config/probes.yaml: a kprobe, a kretprobe, three tracepoints).
. "$(dirname "$0")/vmlib.sh"

K=4 # nc 127.0.0.1 25: port 25 listens in the guest
R=2 # nc 127.0.0.1 26: refused

vm_init
[ -f "${KPE_SOURCE_ROOT:-}/config/probes.yaml" ] || fail "no config/probes.yaml under KPE_SOURCE_ROOT '${KPE_SOURCE_ROOT:-}'"
cp "$KPE_SOURCE_ROOT/config/probes.yaml" "$KPE_WORK/files/"

guest_script K R <<'EOF'
nc -ll -p 25 -e /bin/true &
daemon_start /kpe/probes.yaml
host_wait kill
daemon_stop KILL
show_tracefs killed
# The event's id: a probe removed and defined again gets a new one.
say "connect-id.killed $(cat "$TRACEFS/events/kprobe_exporter/connect/id")"

daemon_start /kpe/probes.yaml
host_wait traffic
show_tracefs restarted
say "connect-id.restarted $(cat "$TRACEFS/events/kprobe_exporter/connect/id")"
connect_n 127.0.0.1 25 "$K"
connect_n 127.0.0.1 26 "$R"
host_wait stop

daemon_stop TERM
show_tracefs stopped
show_daemon_log
EOF

vm_boot

log "first start, then SIGKILL"
guest_at kill
wait_healthy
guest_go kill

log "the killed daemon's probes and instance are still there"
guest_at traffic
[ "$(guest_fact daemon.1.exit)" = 137 ] || fail "the first daemon's status is '$(guest_fact daemon.1.exit)', want 137 (SIGKILL)"
v=$(guest_block kprobe_events.killed | grep -cE '^[pr][0-9]*:kprobe_exporter/(connect|connect_ret) ')
[ "$v" = 2 ] || fail "after SIGKILL: $v of the 2 kprobes of ours left, want both: $(guest_block kprobe_events.killed)"
guest_block instances.killed | grep -x kprobe_exporter >/dev/null || fail "after SIGKILL: no instances/kprobe_exporter left"

log "the second start cleaned up and registered everything once"
wait_healthy
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" '{p["name"]: p["state"] for p in j["probes"]}')
[ "$v" = '{"connect": "registered", "connect_ret": "registered", "tcp_connect": "registered", "connect_enter": "registered", "connect_exit": "registered"}' ] ||
        fail "/probes states after the restart: $v"
guest_go traffic
guest_at stop
v=$(guest_block kprobe_events.restarted | grep -oE '^[pr][0-9]*:kprobe_exporter/[a-z_]+' | sed 's/^r[0-9]*/r/' | sort | tr '\n' ' ')
[ "$v" = "p:kprobe_exporter/connect r:kprobe_exporter/connect_ret " ] ||
        fail "kprobe_events after the restart: '$v', want each probe once"
# Removed and defined anew, not taken over.
before=$(guest_fact connect-id.killed) after=$(guest_fact connect-id.restarted)
[ -n "$before" ] && [ -n "$after" ] && [ "$before" != "$after" ] ||
        fail "the event id of kprobe_exporter/connect was '$before' after SIGKILL and '$after' after the restart"
log "kprobe_exporter/connect: event id $before before, $after after the restart"

log "and it counts: $K connects to 127.0.0.1:25, $R refused at 127.0.0.1:26"
v=$(wait_metric "$K" connect_total comm=nc addr=127.0.0.1 port=25)
[ "$v" = "$K" ] || fail "connect_total{comm=\"nc\",addr=\"127.0.0.1\",port=\"25\"} is $v, want $K"
v=$(wait_metric "$R" connect_total comm=nc addr=127.0.0.1 port=26)
[ "$v" = "$R" ] || fail "connect_total{comm=\"nc\",addr=\"127.0.0.1\",port=\"26\"} is $v, want $R"
# The shipped kretprobe keeps failures only: the refused ones.
v=$(wait_metric "$R" connect_errors_total comm=nc ret=ECONNREFUSED)
[ "$v" = "$R" ] || fail "connect_errors_total{comm=\"nc\",ret=\"ECONNREFUSED\"} is $v, want $R"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe=connect_ret)
[ "$v" = "$R" ] || fail "kprobe_exporter_events_total{probe=\"connect_ret\"} is $v, want $R (its filter keeps failures)"
guest_go stop

log "SIGTERM: nothing of ours left"
vm_wait_off
[ "$(guest_fact daemon.2.exit)" = 0 ] || fail "the second daemon exited with '$(guest_fact daemon.2.exit)' on SIGTERM"
assert_tracefs_clean stopped
log "pass"
