#!/bin/bash
# A tracepoint probe: count outgoing TCP connects (sock/inet_sock_set_state
# entering TCP_SYN_SENT) by comm, destination address and port.
. "$(dirname "$0")/lib.sh"

kpe_init tp
[ -d "$TRACEFS/events/sock/inet_sock_set_state" ] ||
        skip "no tracepoint sock/inet_sock_set_state in $TRACEFS/events"
CONNECTS=20

# A listener with a bounded life: until it has seen every connection, or 30 s.
start_listener 30 "$CONNECTS"
PORT=$LISTEN_PORT

cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
  - name: tcp_connect
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: "newstate == 2"
    metrics:
      - name: tcp_connect_total
        help: Outgoing TCP connects by caller and destination.
        labels: [comm, daddr, dport]
EOF

start_daemon "$KPE_WORK/probes.yaml"

log "connector tcp $CONNECTS $PORT"
"$KPE_CONNECTOR" tcp "$CONNECTS" "$PORT" || fail "connector tcp failed"

v=$(wait_metric_sum "$CONNECTS" tcp_connect_total daddr=127.0.0.1 dport="$PORT")
[ "$v" = "$CONNECTS" ] || {
        grep -E '^(tcp_connect_total|kprobe_exporter_)' "$KPE_WORK/metrics.txt" >&2
        fail "tcp_connect_total{daddr=\"127.0.0.1\",dport=\"$PORT\"} sums to $v, want $CONNECTS"
}
sleep 0.5
fetch_ok /metrics "$KPE_WORK/metrics.txt"
v=$(metric_sum "$KPE_WORK/metrics.txt" tcp_connect_total daddr=127.0.0.1 dport="$PORT")
[ "$v" = "$CONNECTS" ] || fail "tcp_connect_total moved on to $v after reaching $CONNECTS (filter not applied?)"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_probe_up probe=tcp_connect)
[ "$v" = 1 ] || fail "kprobe_exporter_probe_up{probe=\"tcp_connect\"} is $v, want 1"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_parse_errors_total)
[ "$v" = 0 ] || fail "kprobe_exporter_parse_errors_total is $v, want 0"

# The events carry the tracepoint's own fields, and only SYN_SENT ones.
python3 - "$KPE_PORT" "$PORT" "$CONNECTS" <<'EOF' || fail "/events of the tracepoint"
import json, sys, urllib.request
port, dport, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
with urllib.request.urlopen(f"http://127.0.0.1:{port}/events?probe=tcp_connect&since=0&limit=10000",
                            timeout=5) as r:
    evs = json.load(r)["events"]
# By destination, not comm: a tracepoint's comm is the kernel's lazily saved
# one (see metric_sum in lib.sh).
ours = [e for e in evs if e["fields"].get("dport") == dport]
if len(ours) != want:
    sys.exit(f"{len(ours)} events of connector to port {dport}, want {want}")
for e in evs:
    if e["fields"].get("newstate") != "TCP_SYN_SENT":
        sys.exit(f"event past the filter: {e}")
for e in ours:
    f = e["fields"]
    if f.get("daddr") != "127.0.0.1" or f.get("family") != "AF_INET" or f.get("protocol") != "IPPROTO_TCP":
        sys.exit(f"event fields: {f}")
EOF

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
