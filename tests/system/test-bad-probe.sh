#!/bin/bash
# A probe the kernel refuses: without strict the daemon runs with the good
# probes and reports the bad one; with strict: true it refuses to start and
# leaves nothing behind.
. "$(dirname "$0")/lib.sh"

kpe_init badprobe
OFFSET=$(connector_offset)

write_config() {
        cat <<EOF
strict: $1
probes:
  - name: good
    type: uprobe
    target: $KPE_CONNECTOR:$OFFSET
    metrics:
      - name: good_total
        labels: [comm]
  - name: missing
    type: uprobe
    target: /nonexistent/bin:0x10
    metrics:
      - name: missing_total
        labels: [comm]
EOF
}

log "strict: false: the daemon runs with the good probe"
write_config false >"$KPE_WORK/lenient.yaml"
start_daemon "$KPE_WORK/lenient.yaml"

fetch_ok /probes "$KPE_WORK/probes.json"
python3 - "$KPE_WORK/probes.json" <<'EOF' || fail "/probes: $(cat "$KPE_WORK/probes.json")"
import json, sys
probes = {p["name"]: p for p in json.load(open(sys.argv[1]))["probes"]}
good, bad = probes["good"], probes["missing"]
if good["state"] != "registered" or good["error"] is not None:
    sys.exit(f"good probe: state {good['state']!r} error {good['error']!r}")
if bad["state"] != "failed":
    sys.exit(f"bad probe: state {bad['state']!r}, want 'failed'")
if not isinstance(bad["error"], str) or not bad["error"].strip():
    sys.exit(f"bad probe: error {bad['error']!r}, want a message")
if "/nonexistent/bin" not in bad["target"] + bad["definition"]:
    sys.exit(f"bad probe: target {bad['target']!r} definition {bad['definition']!r}")
print(f"# bad probe error: {bad['error']!r}")
EOF

"$KPE_CONNECTOR" call 4 || fail "connector call failed"
v=$(wait_metric 4 good_total comm=connector)
[ "$v" = 4 ] || fail "good_total{comm=\"connector\"} is $v, want 4"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_probe_up probe=good)
[ "$v" = 1 ] || fail "kprobe_exporter_probe_up{probe=\"good\"} is $v, want 1"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_probe_up probe=missing)
[ "$v" = 0 ] || fail "kprobe_exporter_probe_up{probe=\"missing\"} is $v, want 0"

# Only the good probe went into the kernel.
lines=$(group_probe_lines "$KPE_NAME")
if [ "$(echo "$lines" | grep -c .)" != 1 ] || ! echo "$lines" | grep -q "^p:$KPE_NAME/good "; then
        fail "probe lines of group $KPE_NAME: '$lines', want only good"
fi

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"

log "strict: true: the daemon refuses to start and cleans up"
write_config true >"$KPE_WORK/strict.yaml"
port=$(free_port)
run_daemon --config.file="$KPE_WORK/strict.yaml" --web.listen-address="127.0.0.1:$port" \
        --tracefs.instance="$KPE_NAME"
rc=$?
[ $rc = 124 ] && fail "strict: the daemon was still running after 10 s"
[ $rc != 0 ] || fail "strict: the daemon exited 0 with a failed probe"
grep -q missing "$KPE_WORK/run.err" ||
        fail "strict: stderr does not name the failed probe: $(cat "$KPE_WORK/run.err")"
assert_no_leftovers "after a strict refusal"

log "pass"
