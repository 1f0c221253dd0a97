#!/bin/bash
# Memory stays bounded under attack, in bytes: the shipped config (with one
# more probe whose label is a string a traced process chooses) while
# - a process connects to 12,000 ports (more label sets than max_series),
# - a process passes 12,000 different 4,000-byte strings (long labels: cut
#   to max_label_bytes; more than max_series of them),
# - clients ask for /metrics and never read, a new rendering each time
#   (the bodies held are bounded: 503 past the bound),
# the daemon's peak RSS (VmHWM) stays under the bound the README states.
. "$(dirname "$0")/lib.sh"

kpe_init mem
[ "${KPE_READER:-binary}" = binary ] || skip "a string label a process controls needs the binary reader"
# The bound the README states for this config (Memory, worst case).
BOUND_MIB=${KPE_MEMORY_BOUND_MIB:-96}
# Under valgrind or the sanitizers the process is larger by their own
# bookkeeping: the bound is the plain build's.
[ -z "${KPE_WRAPPER:-}" ] || skip "RSS under valgrind is valgrind's"
if ldd "$KPE_BIN" | grep -q libasan; then skip "RSS under AddressSanitizer is its shadow memory's"; fi

{
        cat "$KPE_SOURCE_ROOT/config/probes.yaml"
        note_probe_yaml
        printf '    metrics:\n      - name: note_total\n        labels: [comm, text]\n'
} >"$KPE_WORK/probes.yaml"
start_daemon "$KPE_WORK/probes.yaml"

peak_mib() {
        awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$KPE_PID/status"
}
log "peak RSS at start: $(peak_mib) MiB"

# 12,000 connects, each to its own port (refused ones count: each passes SYN_SENT).
"$KPE_CONNECTOR" tcpflood 12000 20000 || fail "connector tcpflood failed"
# 12,000 different strings of 4,000 bytes, 100 per call.
python3 - "$KPE_CONNECTOR" <<'EOF' || fail "connector note failed"
import subprocess, sys, time
# 100 strings of 4 KB are 400 KB in the kernel's buffer (1.4 MB per CPU):
# paced, so that the test is about memory, not about a full buffer.
for call in range(120):
    notes = [f"{call:03d}-{i:03d}-" + "x" * 3992 for i in range(100)]
    subprocess.run([sys.argv[1], "note", *notes], check=True)
    time.sleep(0.05)
EOF
v=$(wait_metric_query sum 12000 kprobe_exporter_events_total probe=note)
[ "$v" = 12000 ] || fail "note events: $v, want 12000 (lost: $(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_lost_events_total))"
fetch_ok /metrics "$KPE_WORK/metrics.txt"
for m in tcp_connect_total note_total; do
        v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_series metric=$m)
        [ "$v" = 10000 ] || fail "kprobe_exporter_series{metric=$m} is $v, want 10000 (max_series)"
done
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_label_values_cut_total metric=note_total)
[ "$v" = 10000 ] || fail "label values cut: $v, want 10000 (one per new series)"
log "peak RSS with 10,000 series in two metrics: $(peak_mib) MiB; /metrics is $(wc -c <"$KPE_WORK/metrics.txt") bytes"

# Readers that never read: from 127.0.0.2..8, each asks for OpenMetrics
# 250 ms after the one before (a new rendering each time), with a tiny
# receive buffer, and then sleeps.
python3 - "$KPE_PORT" <<'EOF' || fail "slow readers"
import socket, sys, time
port = int(sys.argv[1])
held, answered = [], {}
for i in range(24):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((f"127.0.0.{2 + i % 7}", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nAccept: application/openmetrics-text\r\n\r\n")
    held.append(s)
    time.sleep(0.25)
time.sleep(0.5)
for s in held:
    s.settimeout(0.5)
    try:
        status = s.recv(64).split(b" ")[1].decode()
    except (socket.timeout, IndexError):
        status = "none"
    answered[status] = answered.get(status, 0) + 1
print(f"# 24 readers that do not read: first bytes {answered}")
time.sleep(1)
for s in held:
    s.close()
EOF
sleep 0.3
fetch_ok /metrics "$KPE_WORK/metrics.txt"
busy=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_http_busy_total)
peak=$(peak_mib)
log "peak RSS after the readers that do not read: $peak MiB; 503 busy: $busy"
[ "$busy" != absent ] && [ "$busy" -gt 0 ] || fail "no request was refused as busy: the bound on held response bytes did not act"
python3 -c "import sys; sys.exit(0 if float('$peak') <= $BOUND_MIB else 1)" ||
        fail "peak RSS $peak MiB is above the stated bound of $BOUND_MIB MiB"

# Still serving and counting.
"$KPE_CONNECTOR" note after-the-attack || fail "connector note failed"
v=$(wait_metric_query sum 12001 kprobe_exporter_events_total probe=note)
[ "$v" = 12001 ] || fail "note events after the attack: $v, want 12001"
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
