#!/bin/bash
# Label values a traced process controls are bounded (max_label_bytes): the
# connector hands a string-fetching uprobe long strings; each series value
# is cut at a UTF-8 boundary and ends in "…", long strings that share their
# first bytes count in one series, a string of exactly the bound is not
# cut, each cut is counted once per new value in
# kprobe_exporter_label_values_cut_total, a metric's own bound wins over the
# top level's, both exposition formats parse, and /events keeps the whole
# strings. Binary reader only (the text reader refuses such a probe).
. "$(dirname "$0")/lib.sh"

kpe_init label_cut
[ "${KPE_READER:-binary}" = binary ] || skip "a string label a process controls needs the binary reader"
{
        echo "max_label_bytes: 64"
        echo "probes:"
        note_probe_yaml
        cat <<EOF
    metrics:
      - name: note_total
        labels: [text]
      - name: note_short_total
        max_label_bytes: 16
        labels: [text]
EOF
} >"$KPE_WORK/probes.yaml"
start_daemon "$KPE_WORK/probes.yaml"

a300=$(printf 'A%.0s' $(seq 300))
a61=$(printf 'A%.0s' $(seq 61))
b100=$(printf 'B%.0s' $(seq 100))
c64=$(printf 'C%.0s' $(seq 64))
# 300 A; 300 A and another tail (the same first 64 bytes); 61 A, an e-acute
# across byte 61..62 and more; exactly 64 bytes; the 300 A again.
"$KPE_CONNECTOR" note "$a300" "${a300}-another-tail" "${a61}é${b100}" "$c64" "$a300" ||
        fail "connector note failed"

v=$(wait_metric 5 kprobe_exporter_events_total probe=note)
[ "$v" = 5 ] || fail "note events: $v, want 5"
cut64="${a61}…"
cut16="AAAAAAAAAAAAA…"
for m in "note_total text=$cut64:4" "note_total text=$c64:1" "note_short_total text=$cut16:4" \
        "note_short_total text=CCCCCCCCCCCCC…:1" \
        "kprobe_exporter_label_values_cut_total metric=note_total:2" \
        "kprobe_exporter_label_values_cut_total metric=note_short_total:2" \
        "kprobe_exporter_series metric=note_total:2"; do
        want=${m##*:}
        query=${m%:*}
        # shellcheck disable=SC2086 # metric name and label=value words
        v=$(metric_value "$KPE_WORK/metrics.txt" $query)
        [ "$v" = "$want" ] || fail "${query:0:120} is $v, want $want"
done
[ "$(printf '%s' "$cut64" | wc -c)" = 64 ] || fail "the cut value is not 64 bytes"

# Both formats as a parser other than ours reads them; no value over its bound.
code=$(http_get /metrics "$KPE_WORK/metrics.om" -H 'Accept: application/openmetrics-text; version=1.0.0')
[ "$code" = 200 ] || fail "OpenMetrics /metrics answered $code"
/usr/bin/python3 -c 'import prometheus_client.openmetrics.parser' 2>/dev/null ||
        fail "no parser: /usr/bin/python3 lacks prometheus_client (Debian package python3-prometheus-client)"
/usr/bin/python3 - "$KPE_WORK/metrics.txt" "$KPE_WORK/metrics.om" <<'EOF' || fail "exposition: $(head -c 2000 "$KPE_WORK/metrics.txt")"
import sys
from prometheus_client.parser import text_string_to_metric_families as text_families
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families

bound = {"note": 64, "note_short": 16}
for parse, path in ((text_families, sys.argv[1]), (om_families, sys.argv[2])):
    seen = 0
    for f in parse(open(path, encoding="utf-8").read()):
        name = f.name[:-6] if f.name.endswith("_total") else f.name
        if name not in bound:
            continue
        for s in f.samples:
            t = s.labels["text"].encode()
            if len(t) > bound[name]:
                sys.exit(f"{path}: {name} value of {len(t)} bytes")
            seen += 1
    if seen != 4:
        sys.exit(f"{path}: {seen} samples of note_total and note_short_total, want 4")
print("# both formats parsed, every value within its bound")
EOF

# /events: the strings whole.
fetch_ok "/events?probe=note&limit=10" "$KPE_WORK/events.json"
python3 - "$KPE_WORK/events.json" "$a300" "${a300}-another-tail" "${a61}é${b100}" "$c64" <<'EOF' || fail "the strings in /events are not whole"
import json, sys
texts = [e["fields"]["text"] for e in json.load(open(sys.argv[1], encoding="utf-8"))["events"]]
want = sys.argv[2:] + [sys.argv[2]]
if texts != want:
    sys.exit(f"got {[len(t) for t in texts]} characters, want {[len(t) for t in want]}")
EOF

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass: long labels cut to their bound, counted, whole in /events"
