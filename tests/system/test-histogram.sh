#!/bin/bash
# Histograms and value sums from real uprobes: connector's
# kpe_sleep_target(us) sleeps for us microseconds (at least) and returns us.
# A uprobe at its entry and a uretprobe at its return give
# - a latency histogram (latency_from) whose buckets are exact, because each
#   call's duration is known to lie between us and us + a slack far from
#   every bucket boundary; two processes call it at the same time, so the
#   pairing (by thread) is checked with interleaved entries and returns;
# - a value histogram of the fetched argument, whose values sit exactly on
#   bucket boundaries (le is "less than or equal");
# - a value counter of the same argument, scaled to seconds.
# Then a real Prometheus with exemplar storage scrapes OpenMetrics, and
# every exemplar's seq it returns is an event that /events holds, of the
# probe and the value the series says.
. "$(dirname "$0")/lib.sh"

kpe_init hist
REG1=$(arg1_register)
OFF=$("$KPE_CONNECTOR" offset sleep) || fail "connector offset sleep failed"

# us -> calls: one process makes the short ones, another the long ones, at
# the same time. Each call of us microseconds lasts in [us, us + slack):
# nanosleep never returns early; the slack (timer slack, scheduling) is
# far below the distance to the next boundary.
SHORT=1000   # 12 calls: each in (0.001, 0.01]
MID=20000    # 5 calls:  each in (0.02, 0.05]
LONG=100000  # 2 calls:  each in (0.1, 0.5]
N_SHORT=12 N_MID=5 N_LONG=2

cat >"$KPE_WORK/probes.yaml" <<EOF
recent_events: 1000
probes:
  - name: sleep_entry
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [us=$REG1:u64]
    metrics:
      - name: sleep_requested_seconds_total
        help: Sleep requested, in seconds (a value counter, scaled).
        value: us
        scale: 0.000001
        labels: [comm]
      - name: sleep_argument
        help: The argument of kpe_sleep_target, microseconds to sleep (a value histogram).
        type: histogram
        value: us
        buckets: [$SHORT, $MID, $LONG]
        labels: [comm]
  - name: sleep_return
    type: uretprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [ret=\$retval:u64]
    metrics:
      - name: sleep_duration_seconds
        help: Time kpe_sleep_target took, by what it was asked.
        type: histogram
        latency_from: sleep_entry
        buckets: [0.001, 0.01, 0.02, 0.05, 0.1, 0.5]
        labels: [comm, us]
EOF

start_daemon "$KPE_WORK/probes.yaml"
fetch_ok /probes "$KPE_WORK/probes.json"
clock=$(json_get "$KPE_WORK/probes.json" 'j.get("trace_clock")')
[ "$clock" = mono ] || [ "$clock" = global ] || fail "/probes trace_clock is '$clock', want mono or global"
log "trace clock $clock"

# Twice, with the counts adding up: nothing is lost or paired wrongly
# between rounds.
for round in 1 2; do
        short=() mid=()
        for ((i = 0; i < N_SHORT; i++)); do short+=("$SHORT"); done
        for ((i = 0; i < N_MID; i++)); do mid+=("$MID"); done
        "$KPE_CONNECTOR" sleep "${short[@]}" &
        p1=$!
        "$KPE_CONNECTOR" sleep "${mid[@]}" "$LONG" "$LONG" &
        p2=$!
        wait "$p1" || fail "connector sleep (short) failed"
        wait "$p2" || fail "connector sleep (mid, long) failed"

        v=$(wait_metric_sum $((round * (N_SHORT + N_MID + N_LONG))) sleep_duration_seconds_count comm=connector)
        [ "$v" = $((round * (N_SHORT + N_MID + N_LONG))) ] || {
                grep -E '^(sleep_|kprobe_exporter_(events|unmatched))' "$KPE_WORK/metrics.txt" >&2
                fail "round $round: sleep_duration_seconds_count sums to $v, want $((round * (N_SHORT + N_MID + N_LONG)))"
        }
        cp "$KPE_WORK/metrics.txt" "$KPE_WORK/metrics.$round.txt"
        promtool check metrics <"$KPE_WORK/metrics.txt" >"$KPE_WORK/promtool.out" 2>&1 ||
                fail "promtool check metrics: $(cat "$KPE_WORK/promtool.out")"

        python3 - "$KPE_WORK/metrics.txt" "$round" $SHORT $N_SHORT $MID $N_MID $LONG $N_LONG <<'EOF' || fail "round $round: histograms"
import sys
import promtext

path, r = sys.argv[1], int(sys.argv[2])
calls = {int(sys.argv[i]): int(sys.argv[i + 1]) * r for i in (3, 5, 7)}
samples = promtext.samples(path)

def get(name, **labels):
    v = promtext.value(samples, name, **labels)
    if v is None:
        sys.exit(f"no sample {name}{labels}")
    return v

# Latency: every call in (us, next boundary], le exactly as configured.
les = ["0.001", "0.01", "0.02", "0.05", "0.1", "0.5", "+Inf"]
home = {1000: "0.01", 20000: "0.05", 100000: "0.5"}
for us, n in calls.items():
    got = [int(get("sleep_duration_seconds_bucket", comm="connector", us=str(us), le=le)) for le in les]
    want = [0 if float(le) < float(home[us]) else n for le in les]
    if got != want:
        sys.exit(f"sleep_duration_seconds_bucket{{us={us}}} over le {les}: {got}, want {want}")
    count = int(get("sleep_duration_seconds_count", comm="connector", us=str(us)))
    total = float(get("sleep_duration_seconds_sum", comm="connector", us=str(us)))
    if count != n:
        sys.exit(f"_count{{us={us}}} {count}, want {n}")
    # Each call took at least us, and (far) less than its bucket's bound.
    if not (n * us * 1e-6 <= total < n * float(home[us])):
        sys.exit(f"_sum{{us={us}}} {total}, want in [{n * us * 1e-6}, {n * float(home[us])})")
    print(f"# us={us}: {count} calls, mean {total / count * 1e3:.3f} ms")

# Values on the boundaries: 1000 is in le="1000", 20000 in le="20000".
got = [int(get("sleep_argument_bucket", comm="connector", le=le))
       for le in ("1000", "20000", "100000", "+Inf")]
c = calls
want = [c[1000], c[1000] + c[20000], c[1000] + c[20000] + c[100000], c[1000] + c[20000] + c[100000]]
if got != want:
    sys.exit(f"sleep_argument_bucket: {got}, want {want}")
if int(get("sleep_argument_count", comm="connector")) != want[-1]:
    sys.exit("sleep_argument_count is not +Inf")
vsum = sum(us * n for us, n in c.items())
if float(get("sleep_argument_sum", comm="connector")) != vsum:
    sys.exit(f"sleep_argument_sum {get('sleep_argument_sum', comm='connector')}, want {vsum}")
secs = float(get("sleep_requested_seconds_total", comm="connector"))
if abs(secs - vsum * 1e-6) > 1e-9:
    sys.exit(f"sleep_requested_seconds_total {secs}, want {vsum * 1e-6}")
for reason in ("no_entry", "evicted", "expired"):
    v = get("kprobe_exporter_unmatched_total", metric="sleep_duration_seconds", reason=reason)
    if v != "0":
        sys.exit(f"unmatched {reason}: {v}")
print(f"# value histogram {got}, sum {vsum} us = {secs} s")
EOF
done

# OpenMetrics, as a parser other than ours reads it (Debian's
# python3-prometheus-client, under Debian's python3).
code=$(http_get /metrics "$KPE_WORK/metrics.om" -H 'Accept: application/openmetrics-text; version=1.0.0')
[ "$code" = 200 ] || fail "OpenMetrics /metrics answered $code"
if /usr/bin/python3 -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; then
        /usr/bin/python3 - "$KPE_WORK/metrics.om" <<'EOF' || fail "OpenMetrics: $(head -c 2000 "$KPE_WORK/metrics.om")"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families

families = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
h = families.get("sleep_duration_seconds")
if not h or h.type != "histogram":
    sys.exit("no histogram family sleep_duration_seconds")
ex = [s for s in h.samples if s.name.endswith("_bucket") and s.exemplar]
if not ex:
    sys.exit("no exemplar on any bucket")
c = families.get("sleep_requested_seconds")
if not c or c.type != "counter" or not any(s.exemplar for s in c.samples):
    sys.exit(f"counter sleep_requested_seconds without an exemplar: {c}")
print(f"# OpenMetrics parsed: {len(families)} families, {len(ex)} buckets with exemplars")
EOF
else
        fail "no OpenMetrics parser: /usr/bin/python3 lacks prometheus_client (Debian package python3-prometheus-client)"
fi

# A real Prometheus, exemplar storage on, scrapes us every second.
prom_start --enable-feature=exemplar-storage <<EOF
  - job_name: kpe_hist
    static_configs:
      - targets: ['127.0.0.1:$KPE_PORT']
EOF

python3 - "$PROM_PORT" "$KPE_PORT" <<'EOF' || fail "Prometheus exemplars: $(tail -n 5 "$KPE_WORK/prometheus.log")"
import json, sys, time, urllib.parse, urllib.request

prom, kpe = sys.argv[1], sys.argv[2]

def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)

# Until Prometheus has scraped and stored exemplars (at most 30 s).
found, deadline = [], time.monotonic() + 30
while time.monotonic() < deadline:
    now = time.time()
    q = urllib.parse.urlencode({"query": "sleep_duration_seconds_bucket", "start": now - 600, "end": now + 60})
    try:
        found = get(f"http://127.0.0.1:{prom}/api/v1/query_exemplars?{q}")["data"]
    except OSError:
        found = []
    if found and sum(len(s["exemplars"]) for s in found) >= 3:
        break
    time.sleep(0.5)
else:
    sys.exit(f"no exemplars from Prometheus in 30 s: {found}")

checked = 0
for series in found:
    labels = series["seriesLabels"]
    for ex in series["exemplars"]:
        seq = int(ex["labels"]["seq"])
        page = get(f"http://127.0.0.1:{kpe}/events?since={seq - 1}&limit=1")
        evs = page["events"]
        if not evs or evs[0]["seq"] != seq:
            sys.exit(f"exemplar seq {seq} of {labels}: /events has {evs}")
        e = evs[0]
        # The return event that was observed: its ret is the us it slept,
        # and the exemplar's value is its duration, within the bucket.
        if e["probe"] != "sleep_return" or e["fields"].get("ret") != labels["us"]:
            sys.exit(f"exemplar seq {seq} of {labels} is event {e}")
        v, le = float(ex["value"]), labels["le"]
        if not (int(labels["us"]) * 1e-6 <= v and (le == "+Inf" or v <= float(le))):
            sys.exit(f"exemplar value {v} outside its bucket {labels}")
        checked += 1
print(f"# Prometheus returned {checked} exemplars, each an event /events holds")
EOF

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
