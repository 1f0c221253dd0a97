#!/bin/bash
# The seed's example on a uprobe: count calls of connector's
# kpe_connect_target(fd, struct sockaddr *, len) by comm, address and port,
# with the seed's exact fetch arguments, and read the events back.
. "$(dirname "$0")/lib.sh"

kpe_init uprobe
REG=$(arg2_register)
CALLS=50

cat >"$KPE_WORK/probes.yaml" <<EOF
recent_events: 1000
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$(connector_offset)
    fetch:
      - type=+0($REG):u16
      - port=+2($REG):u16
      - addr=+4($REG):u32
    decode:
      port: ntohs
      addr: ipv4
    metrics:
      - name: connect_total
        help: Calls of kpe_connect_target by caller, address and port.
        labels: [comm, addr, port]
EOF

start_daemon "$KPE_WORK/probes.yaml"

# The probe is registered under our group, and enabled in our instance only.
group_probe_lines "$KPE_NAME" | grep -q "^p:$KPE_NAME/connect " ||
        fail "no p:$KPE_NAME/connect line in uprobe_events"
[ -d "$TRACEFS/instances/$KPE_NAME" ] || fail "instance $KPE_NAME was not created"

log "connector call $CALLS"
"$KPE_CONNECTOR" call "$CALLS" || fail "connector call failed"

v=$(wait_metric "$CALLS" connect_total comm=connector addr=127.0.0.1 port=25)
[ "$v" = "$CALLS" ] || {
        grep -E '^(connect_total|kprobe_exporter_)' "$KPE_WORK/metrics.txt" >&2
        fail "connect_total{comm=\"connector\",addr=\"127.0.0.1\",port=\"25\"} is $v, want $CALLS"
}
# Nothing more arrives later (each call is one event, not two).
sleep 0.5
fetch_ok /metrics "$KPE_WORK/metrics.txt"
v=$(metric_value "$KPE_WORK/metrics.txt" connect_total comm=connector addr=127.0.0.1 port=25)
[ "$v" = "$CALLS" ] || fail "connect_total moved on to $v after reaching $CALLS"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe=connect)
[ "$v" = "$CALLS" ] || fail "kprobe_exporter_events_total{probe=\"connect\"} is $v, want $CALLS"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_probe_up probe=connect)
[ "$v" = 1 ] || fail "kprobe_exporter_probe_up{probe=\"connect\"} is $v, want 1"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_parse_errors_total)
[ "$v" = 0 ] || fail "kprobe_exporter_parse_errors_total is $v, want 0"
# Only the decoded values: the raw kernel values must not leak into labels.
if grep -E '^connect_total\{' "$KPE_WORK/metrics.txt" | grep -vq 'addr="127.0.0.1",port="25"'; then
        fail "unexpected connect_total series: $(grep -E '^connect_total\{' "$KPE_WORK/metrics.txt")"
fi

if command -v promtool >/dev/null 2>&1; then
        promtool check metrics <"$KPE_WORK/metrics.txt" >"$KPE_WORK/promtool.out" 2>&1 ||
                fail "promtool check metrics: $(cat "$KPE_WORK/promtool.out")"
        log "promtool check metrics: ok"
else
        log "promtool not installed: exposition format not checked"
fi

# /probes agrees.
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" '[(p["state"], p["events"], p["type"]) for p in j["probes"] if p["name"] == "connect"]')
[ "$v" = "[[\"registered\", $CALLS, \"uprobe\"]]" ] || fail "/probes for connect: $v"

# Paging through /events with since/next yields every event exactly once,
# oldest first, each decoded.
python3 - "$KPE_PORT" "$CALLS" <<'EOF' || fail "/events paging"
import json, sys, urllib.request

port, calls = sys.argv[1], int(sys.argv[2])

def get(query):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/events?{query}", timeout=5) as r:
        return json.load(r)

seqs, since = [], 0
for _ in range(100):
    page = get(f"probe=connect&since={since}&limit=7")
    evs = page["events"]
    if not evs:
        break
    if len(evs) > 7:
        sys.exit(f"page of {len(evs)} events, limit was 7")
    for e in evs:
        want = {"port": "25", "addr": "127.0.0.1", "type": "2"}
        got = {k: e["fields"].get(k) for k in want}
        if got != want:
            sys.exit(f"event {e['seq']}: fields {e['fields']}, want {want}")
        if e["probe"] != "connect" or e["comm"] != "connector":
            sys.exit(f"event {e['seq']}: probe {e['probe']!r} comm {e['comm']!r}: {e}")
        for k in ("pid", "cpu"):
            if not isinstance(e.get(k), int) or e[k] < 0:
                sys.exit(f"event {e['seq']}: {k} = {e.get(k)!r}: {e}")
        # tgid is left out when neither the kernel (which saves it lazily,
        # "(-------)") nor /proc (the process exited) knew it; never wrong.
        if "tgid" in e and e["tgid"] != e["pid"]:
            sys.exit(f"event {e['seq']}: tgid {e['tgid']} of a single-threaded process with pid {e['pid']}")
        if not e["time"]:
            sys.exit(f"event {e['seq']}: no time")
        seqs.append(e["seq"])
    if page["next"] != evs[-1]["seq"]:
        sys.exit(f"next is {page['next']}, last seq of the page {evs[-1]['seq']}")
    if page["missed"] != 0:
        sys.exit(f"missed {page['missed']} with a ring of 1000")
    since = page["next"]
else:
    sys.exit("paging did not end")

if len(seqs) != calls:
    sys.exit(f"{len(seqs)} events paged, want {calls}")
if any(b <= a for a, b in zip(seqs, seqs[1:])):
    sys.exit(f"seqs not strictly increasing: {seqs}")

# Without since: the newest events, oldest first.
page = get("probe=connect&limit=5")
newest = [e["seq"] for e in page["events"]]
if newest != seqs[-5:]:
    sys.exit(f"newest 5 are {newest}, want {seqs[-5:]}")
print(f"# paged {len(seqs)} events, seqs {seqs[0]}..{seqs[-1]}; newest {newest}")
EOF

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
