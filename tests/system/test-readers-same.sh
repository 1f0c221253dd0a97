#!/bin/bash
# Both readers give the same answers: one workload (the seed's uprobe and
# real TCP connects seen by inet_sock_set_state) read once by the binary
# reader and once by the text reader; the user series in /metrics and the
# fields of the events in /events must be identical.
. "$(dirname "$0")/lib.sh"

kpe_init readers
REG=$(arg2_register)
OFF=$(connector_offset)
[ -d "$TRACEFS/events/sock/inet_sock_set_state" ] || skip "no sock/inet_sock_set_state tracepoint"
cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [type=+0($REG):u16, port=+2($REG):x16, addr=+4($REG):u32]
    decode: {port: ntohs, addr: ipv4, type: {map: {2: AF_INET}}}
    metrics:
      - name: connect_total
        labels: [comm, addr, port, type]
      - name: connect_raw_total
        labels: [port, addr]
  - name: tcp
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: dport == 1 || dport == 2
    metrics:
      - name: tcp_total
        labels: [family, protocol, daddr, dport, daddrv6, oldstate, newstate]
EOF

# The user's series, sorted; the events' probe and fields, in order.
snapshot() { # $1: name
        fetch_ok /metrics "$KPE_WORK/$1.metrics"
        grep -E '^(connect_total|connect_raw_total|tcp_total)\{' "$KPE_WORK/$1.metrics" | sort >"$KPE_WORK/$1.series"
        fetch_ok "/events?limit=1000" "$KPE_WORK/$1.events"
        python3 - "$KPE_WORK/$1.events" >"$KPE_WORK/$1.fields" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1]))["events"]:
    f = e["fields"]
    if "sport" in f:
        f["sport"] = "(ephemeral)"  # the kernel picks a new source port each run
    print(e["probe"], json.dumps(f, sort_keys=True))
PY
}

for reader in binary text; do
        start_daemon "$KPE_WORK/probes.yaml" --tracefs.reader=$reader
        "$KPE_CONNECTOR" call 4 25 || fail "connector call failed"
        "$KPE_CONNECTOR" call 2 8080 || fail "connector call failed"
        "$KPE_CONNECTOR" tcp 3 1 2>/dev/null
        "$KPE_CONNECTOR" tcp 1 2 2>/dev/null
        v=$(wait_metric 4 connect_total comm=connector addr=127.0.0.1 port=25 type=AF_INET)
        [ "$v" = 4 ] || fail "$reader: connect_total{port=25} is $v, want 4"
        v=$(wait_metric_sum 8 tcp_total)
        [ "$v" = 8 ] || fail "$reader: tcp_total sums to $v, want 8 (SYN_SENT and CLOSE of 4 refused connects)"
        v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_reader_info reader=$reader)
        [ "$v" = 1 ] || fail "$reader: kprobe_exporter_reader_info{reader=\"$reader\"} is $v"
        snapshot "$reader"
        stop_daemon TERM || fail "$reader: daemon exited with status $?"
        assert_no_leftovers "after the $reader reader"
done

diff -u "$KPE_WORK/binary.series" "$KPE_WORK/text.series" >&2 || fail "the readers' series differ"
diff -u "$KPE_WORK/binary.fields" "$KPE_WORK/text.fields" >&2 || fail "the readers' event fields differ"
[ "$(wc -l <"$KPE_WORK/binary.fields")" = 14 ] || fail "$(wc -l <"$KPE_WORK/binary.fields") events, want 14"
log "pass: $(wc -l <"$KPE_WORK/binary.series") series and 14 events the same from both readers"
