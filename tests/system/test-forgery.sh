#!/bin/bash
# What a traced process passes cannot forge records (the binary reader, the
# default). The connector hands a string-fetching uprobe crafted strings:
# a newline followed by a well-formed trace_pipe line of the other probe
# (comm "sshd", pid 1), a fake "[LOST ... EVENTS]" line, quotes and
# backslashes, bytes that are not UTF-8, a string of 3 KiB. Nothing fake is
# counted, each real event counts once with its string intact (escaped) in
# /events, and the lost and parse-error counters stay 0. The same config
# in text mode is refused at load, with the reason.
. "$(dirname "$0")/lib.sh"

kpe_init forgery
[ "${KPE_READER:-binary}" = binary ] || skip "the forgery test is for the binary reader"
REG=$(arg2_register)
{
        echo "probes:"
        seed_probe_yaml
        note_probe_yaml
        printf '    metrics:\n      - name: note_total\n        labels: [comm]\n'
} >"$KPE_WORK/probes.yaml"

# In text mode the note probe is refused before anything is written.
run_daemon --config.file="$KPE_WORK/probes.yaml" --tracefs.instance="$KPE_NAME" --tracefs.reader=text \
        --web.listen-address=127.0.0.1:$(free_port) && fail "text mode accepted a string-fetching probe"
grep -q "probe 'note': field 'text' holds a string a traced process controls" "$KPE_WORK/run.err" ||
        fail "text mode did not say why: $(cat "$KPE_WORK/run.err")"
assert_no_leftovers "after the refused text-mode start"

start_daemon "$KPE_WORK/probes.yaml"

fake_connect="$(printf 'x\n           sshd-1       (      1) [000] .....   999.000001: connect: (0x559f95304220) type=2 port=6400 addr=16777343 comm="sshd"')"
fake_lost="$(printf 'y\nCPU:0 [LOST 18446744073709551615 EVENTS]\nCPU:1 [LOST EVENTS]')"
quotes='a "quoted" \"word\" and a back\slash \\ and text=forged'
invalid="$(printf 'bad \xff\xfe\x80 bytes')"
long="$(head -c 3072 /dev/zero | tr '\0' 'L')"

"$KPE_CONNECTOR" note "$fake_connect" "$fake_lost" "$quotes" "$invalid" "$long" || fail "connector note failed"
"$KPE_CONNECTOR" call 3 || fail "connector call failed"

v=$(wait_metric 5 kprobe_exporter_events_total probe=note)
[ "$v" = 5 ] || fail "note events: $v, want 5 (one per string)"
v=$(wait_metric 3 connect_total comm=connector addr=127.0.0.1 port=25)
[ "$v" = 3 ] || fail "connect_total of the real calls: $v, want 3"
fetch_ok /metrics "$KPE_WORK/metrics.txt"
grep -q 'comm="sshd"' "$KPE_WORK/metrics.txt" && fail "a forged record was counted: $(grep sshd "$KPE_WORK/metrics.txt")"
for m in "kprobe_exporter_events_total probe=connect:3" "note_total comm=connector:5" \
        "kprobe_exporter_lost_events_total:0" "kprobe_exporter_lost_event_reports_total:0" \
        "kprobe_exporter_parse_errors_total:0"; do
        want=${m##*:}
        query=${m%:*}
        # shellcheck disable=SC2086 # metric name and label=value words
        v=$(metric_value "$KPE_WORK/metrics.txt" $query)
        [ "$v" = "$want" ] || fail "$query is $v, want $want"
done

# /events: each string intact (JSON-escaped), the invalid bytes as U+FFFD.
fetch_ok "/events?probe=note&limit=10" "$KPE_WORK/events.json"
python3 - "$KPE_WORK/events.json" "$fake_connect" "$fake_lost" "$quotes" "$long" <<'PY' || fail "the strings in /events are not intact"
import json, sys
events = json.load(open(sys.argv[1]))["events"]
texts = [e["fields"]["text"] for e in events]
want = sys.argv[2:4] + [sys.argv[4], "bad \ufffd\ufffd\ufffd bytes", sys.argv[5]]
if texts != want:
    for got, exp in zip(texts, want):
        if got != exp:
            print(f"got {got[:200]!r}, want {exp[:200]!r}", file=sys.stderr)
    print(f"{len(texts)} texts, want {len(want)}", file=sys.stderr)
    sys.exit(1)
if any(e["comm"] != "connector" for e in events):
    sys.exit(1)
PY

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass: 5 crafted strings, nothing forged"
