#!/bin/bash
# aggregate on a kernel without hist triggers (this machine's): auto counts
# in user space and says why, per metric, in /probes and --config.check;
# aggregate: kernel makes its probe unavailable with the kernel's lack named
# (fatal under strict: true), while the other probes run; events: false
# keeps a probe's events out of /events while its user-space metrics still
# count them. The kernel side (triggers, synthetic events, same counts in
# both modes) is proven in the VM matrix (tests/vm/test-kprobes.sh).
. "$(dirname "$0")/lib.sh"

kpe_init aggregate
if grep -q "hist trigger" "$TRACEFS/README" 2>/dev/null; then
        skip "this kernel has hist triggers: the VM matrix tests them"
fi
REG=$(arg2_register)
OFF=$(connector_offset)
CALLS=4

write_config() { # $1 strict
        cat <<EOF
strict: $1
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    events: false
    fetch: [type=+0($REG):u16, port=+2($REG):u16, addr=+4($REG):u32]
    decode: {port: ntohs, addr: ipv4}
    metrics:
      - name: connect_total
        labels: [comm, addr, port]
  - name: connect_k
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16]
    metrics:
      - name: connect_k_total
        labels: [port]
        aggregate: kernel
EOF
}
write_config false >"$KPE_WORK/probes.yaml"
write_config true >"$KPE_WORK/strict.yaml"

# --config.check: the plan per metric, the refusal at the metric's line.
"$KPE_BIN" --config.file="$KPE_WORK/probes.yaml" --config.check >"$KPE_WORK/check.out" 2>"$KPE_WORK/check.err" ||
        fail "--config.check failed: $(cat "$KPE_WORK/check.err")"
grep -qx "# metric 'connect_total': user (kernel $(uname -r) ($(uname -m)) has no hist triggers (CONFIG_HIST_TRIGGERS))" \
        "$KPE_WORK/check.out" || fail "--config.check plan of connect_total: $(grep metric "$KPE_WORK/check.out")"
grep -q "^$KPE_WORK/probes.yaml:19: warning: metric 'connect_k_total' has aggregate: kernel, which this kernel cannot give it: kernel .* has no hist triggers" \
        "$KPE_WORK/check.err" || fail "--config.check warning: $(cat "$KPE_WORK/check.err")"
if "$KPE_BIN" --config.file="$KPE_WORK/strict.yaml" --config.check >/dev/null 2>"$KPE_WORK/strict.err"; then
        fail "--config.check of a strict config with an impossible aggregate: kernel passed"
fi
grep -q "strict.yaml:19: error: metric 'connect_k_total'" "$KPE_WORK/strict.err" ||
        fail "strict --config.check: $(cat "$KPE_WORK/strict.err")"

# The daemon under strict: refuses to start, leaves nothing behind.
tracefs_snapshot >"$KPE_WORK/before"
if "$KPE_BIN" --config.file="$KPE_WORK/strict.yaml" --web.listen-address="127.0.0.1:$(free_port)" \
        --tracefs.instance="$KPE_NAME" 2>"$KPE_WORK/strict-daemon.err"; then
        fail "a strict daemon with an impossible aggregate: kernel started"
fi
grep -q "aggregate: kernel" "$KPE_WORK/strict-daemon.err" || fail "strict daemon: $(cat "$KPE_WORK/strict-daemon.err")"
tracefs_snapshot >"$KPE_WORK/after"
assert_snapshot_same "$KPE_WORK/before" "$KPE_WORK/after" "a refused strict start"

# Twice: the second start finds nothing of the first.
for run in 1 2; do
        start_daemon "$KPE_WORK/probes.yaml"
        fetch_ok /probes "$KPE_WORK/probes.json"
        v=$(json_get "$KPE_WORK/probes.json" '[(p["name"], p["state"], p.get("streamed")) for p in j["probes"]]')
        [ "$v" = '[["connect", "registered", true], ["connect_k", "unavailable", false]]' ] || fail "run $run: /probes states: $v"
        v=$(json_get "$KPE_WORK/probes.json" '[(m["name"], m["aggregate"], m["why"]) for p in j["probes"] for m in p["metrics"]]')
        [[ $v == '[["connect_total", "user", "kernel '*' has no hist triggers (CONFIG_HIST_TRIGGERS)"], ["connect_k_total", "user", "kernel '*' has no hist triggers (CONFIG_HIST_TRIGGERS)"]]' ]] ||
                fail "run $run: /probes metrics: $v"
        v=$(json_get "$KPE_WORK/probes.json" '[p["error"] for p in j["probes"] if p["name"] == "connect_k"][0]')
        [[ $v == "metric 'connect_k_total' has aggregate: kernel, which it cannot have here: kernel "*"has no hist triggers"* ]] ||
                fail "run $run: connect_k's error: $v"
        group_probe_lines "$KPE_NAME" | grep -q "/connect_k " && fail "run $run: the unavailable probe was written"

        "$KPE_CONNECTOR" call "$CALLS" || fail "connector call failed"
        v=$(wait_metric "$CALLS" connect_total comm=connector addr=127.0.0.1 port=25)
        [ "$v" = "$CALLS" ] || fail "run $run: connect_total is $v, want $CALLS (counted from events in user space)"
        v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_metric_in_kernel metric=connect_total)
        [ "$v" = 0 ] || fail "run $run: kprobe_exporter_metric_in_kernel{connect_total} is $v"
        # events: false: counted, never kept for /events.
        code=$(http_get "/events?probe=connect" "$KPE_WORK/events.json")
        [ "$code" = 200 ] || fail "run $run: /events answered $code"
        v=$(json_get "$KPE_WORK/events.json" 'len(j["events"])')
        [ "$v" = 0 ] || fail "run $run: /events holds $v events of a probe with events: false"
        stop_daemon TERM || fail "run $run: the daemon exited with an error"
        assert_no_leftovers
done
log "PASS"
